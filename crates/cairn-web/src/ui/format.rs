//! Small text helpers shared by the pages: numbers, instants and durations for people,
//! labels from column names, and query strings for links.

use serde_json::Value;

/// Groups the digits of a whole number in threes: `18523` → `18,523`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    // The leading group has one to three digits; every later group has three.
    let lead = match digits.len() % 3 {
        0 => 3.min(digits.len()),
        r => r,
    };
    let mut out = digits[..lead].to_owned();
    for group in digits.as_bytes()[lead..].chunks(3) {
        out.push(',');
        out.extend(group.iter().map(|&b| char::from(b)));
    }
    out
}

/// A quantity for people: grouped digits, at most one decimal, none when it is whole
/// (`1234.0` → `1,234`, `0.5` → `0.5`). Not-a-number and infinities print as they are.
pub fn number(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let tenths = (x.abs() * 10.0).round() as u64;
    let sign = if x < 0.0 && tenths > 0 { "-" } else { "" };
    let whole = count(tenths / 10);
    match tenths % 10 {
        0 => format!("{sign}{whole}"),
        d => format!("{sign}{whole}.{d}"),
    }
}

/// A measured value (a metric, a detector's band) for people: four significant digits
/// below a thousand, so an error ratio of `0.01234` does not read as `0`; grouped
/// digits from a thousand up, as [`number`] gives them.
pub fn reading(x: f64) -> String {
    if !x.is_finite() || x.abs() >= 1000.0 {
        return number(x);
    }
    if x == 0.0 {
        return "0".into();
    }
    let decimals = (3 - x.abs().log10().floor() as i32).clamp(0, 9) as usize;
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    s.to_owned()
}

/// A share as a whole percentage: `0.734` → `73`.
pub fn percent(ratio: f64) -> u32 {
    if ratio.is_finite() && ratio > 0.0 {
        (ratio * 100.0).round().min(f64::from(u32::MAX)) as u32
    } else {
        0
    }
}

/// An instant for people, in UTC to the second: `2026-11-25 04:00:15 UTC`. The
/// server renders pages without knowing the reader's zone, so it names the zone.
pub fn moment(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// An RFC 3339 instant (as the store keeps them) for people, or the text as it
/// is when it does not parse.
pub fn moment_text(rfc3339: &str) -> String {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map(moment)
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// A length of time for people, to its two largest units: `3d 4h`, `5m 20s`, `40s`.
pub fn span(d: time::Duration) -> String {
    let total = d.whole_seconds().max(0);
    let parts = [
        (total / 86_400, "d"),
        (total % 86_400 / 3_600, "h"),
        (total % 3_600 / 60, "m"),
        (total % 60, "s"),
    ];
    let shown: Vec<String> = parts
        .iter()
        .skip_while(|(n, _)| *n == 0)
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if shown.is_empty() {
        "0s".into()
    } else {
        shown.join(" ")
    }
}

/// A column name as a label: references lose their `_id` (`merchant_id` → `merchant`),
/// and underscores become spaces (`lead_time_days` → `lead time days`).
pub fn label(column: &str) -> String {
    column
        .strip_suffix("_id")
        .unwrap_or(column)
        .replace('_', " ")
}

/// A word with its first letter in upper case: `merchants` → `Merchants`.
pub fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A field value of a record as text, or `None` when it is absent.
pub fn value(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "yes" } else { "no" }.to_owned()),
        Value::Number(n) => Some(match n.as_u64() {
            Some(u) => count(u),
            None => number(n.as_f64().unwrap_or(f64::NAN)),
        }),
        other => Some(other.to_string()),
    }
}

/// A query string (without the `?`) from name–value pairs, percent-encoding
/// everything but the characters that never need it.
pub fn query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes a query component (RFC 3986 unreserved characters stay as they are).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_like_numbers() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(18_523), "18,523");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(number(1234.0), "1,234");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(-2.5), "-2.5");
        assert_eq!(number(-0.01), "0");
        assert_eq!(reading(0.012345), "0.01235");
        assert_eq!(reading(97.0), "97");
        assert_eq!(reading(20.25), "20.25");
        assert_eq!(reading(-2.71234), "-2.712");
        assert_eq!(reading(12_345.6), "12,345.6");
        assert_eq!(reading(0.0), "0");
        assert_eq!(percent(0.734), 73);
        assert_eq!(percent(1.2), 120);
        assert_eq!(percent(f64::NAN), 0);
    }

    #[test]
    fn instants_and_spans_read_like_clocks() {
        let t = time::macros::datetime!(2026-11-25 12:00:05 +08:00);
        assert_eq!(moment(t), "2026-11-25 04:00:05 UTC");
        assert_eq!(
            moment_text("2026-11-25T04:00:05Z"),
            "2026-11-25 04:00:05 UTC"
        );
        assert_eq!(moment_text("yesterday"), "yesterday");
        assert_eq!(span(time::Duration::seconds(40)), "40s");
        assert_eq!(span(time::Duration::seconds(320)), "5m 20s");
        assert_eq!(span(time::Duration::hours(76)), "3d 4h");
        assert_eq!(span(time::Duration::hours(2)), "2h");
        assert_eq!(span(time::Duration::seconds(-5)), "0s");
    }

    #[test]
    fn labels_come_from_column_names() {
        assert_eq!(label("merchant_id"), "merchant");
        assert_eq!(label("from_service_id"), "from service");
        assert_eq!(label("lead_time_days"), "lead time days");
        assert_eq!(label("id"), "id");
        assert_eq!(capitalised("merchants"), "Merchants");
    }

    #[test]
    fn query_strings_are_percent_encoded() {
        let pairs = vec![
            ("name".to_owned(), "小米 旗舰店&x=1".to_owned()),
            ("cursor".to_owned(), "m-10001".to_owned()),
        ];
        assert_eq!(
            query(&pairs),
            "name=%E5%B0%8F%E7%B1%B3%20%E6%97%97%E8%88%B0%E5%BA%97%26x%3D1&cursor=m-10001"
        );
    }
}
