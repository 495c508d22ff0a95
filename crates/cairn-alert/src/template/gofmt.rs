//! Go's number, string and time formatting, as far as templates reach it:
//! `%v` of a float (`1e+06`), `printf` verbs, `%.4g` in `humanize`, and
//! `time.Time` layouts. Operators compare cairn's rendered annotations with
//! what Prometheus printed for years, so the digits must agree.

use super::Value;

/// Decimal digits of a finite float: `0.d1d2d3… × 10^dp`.
struct Digits {
    neg: bool,
    d: Vec<u8>,
    dp: i32,
}

/// Parses Rust's `{:e}` output (`-1.2345e-7`) into digits.
fn digits_from_sci(s: &str) -> Digits {
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    if d.iter().all(|&c| c == b'0') {
        d = vec![b'0'];
        return Digits { neg, d, dp: 1 };
    }
    Digits {
        neg,
        d,
        dp: exp + 1,
    }
}

fn trim_zeros(d: &mut Digits) {
    while d.d.len() > 1 && d.d.last() == Some(&b'0') {
        d.d.pop();
    }
}

fn fmt_e(d: &Digits, prec: usize, upper: bool) -> String {
    let mut out = String::new();
    if d.neg {
        out.push('-');
    }
    out.push(d.d[0] as char);
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(*d.d.get(i).unwrap_or(&b'0') as char);
        }
    }
    let exp = if d.d == [b'0'] { 0 } else { d.dp - 1 };
    out.push(if upper { 'E' } else { 'e' });
    out.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        out.push('0');
    }
    out.push_str(&a.to_string());
    out
}

fn fmt_f(d: &Digits, decimals: usize) -> String {
    let mut out = String::new();
    if d.neg {
        out.push('-');
    }
    if d.dp > 0 {
        for i in 0..d.dp as usize {
            out.push(*d.d.get(i).unwrap_or(&b'0') as char);
        }
    } else {
        out.push('0');
    }
    if decimals > 0 {
        out.push('.');
        for i in 0..decimals as i32 {
            let idx = d.dp + i;
            let c = if idx >= 0 {
                *d.d.get(idx as usize).unwrap_or(&b'0')
            } else {
                b'0'
            };
            out.push(c as char);
        }
    }
    out
}

fn special(v: f64, plus_inf: bool) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v.is_infinite() {
        Some(if v > 0.0 {
            if plus_inf { "+Inf" } else { "Inf" }.into()
        } else {
            "-Inf".into()
        })
    } else {
        None
    }
}

/// `strconv.FormatFloat(v, 'g', prec, 64)` with Go's `%v`/`%g` rules;
/// `prec < 0` means the shortest representation that round-trips.
pub fn format_g(v: f64, prec: i32, upper: bool) -> String {
    if let Some(s) = special(v, true) {
        return s;
    }
    let shortest = prec < 0;
    let mut d = if shortest {
        digits_from_sci(&format!("{v:e}"))
    } else {
        let p = prec.max(1) as usize;
        digits_from_sci(&format!("{:.*e}", p - 1, v))
    };
    trim_zeros(&mut d);
    let nd = d.d.len() as i32;
    let mut prec = if shortest { nd } else { prec.max(1) };
    let mut eprec = prec;
    if eprec > nd && nd >= d.dp {
        eprec = nd;
    }
    if shortest {
        eprec = 6;
    }
    let exp = d.dp - 1;
    if exp < -4 || exp >= eprec {
        if prec > nd {
            prec = nd;
        }
        return fmt_e(&d, (prec - 1).max(0) as usize, upper);
    }
    if prec > d.dp {
        prec = nd;
    }
    fmt_f(&d, (prec - d.dp).max(0) as usize)
}

/// `%.Nf` (or `%f` with the default precision 6).
pub fn format_f(v: f64, prec: usize) -> String {
    special(v, true).unwrap_or_else(|| format!("{v:.prec$}"))
}

/// `%.Ne`.
pub fn format_e(v: f64, prec: usize, upper: bool) -> String {
    if let Some(s) = special(v, true) {
        return s;
    }
    let d = digits_from_sci(&format!("{v:.prec$e}"));
    fmt_e(&d, prec, upper)
}

/// How `{{ x }}` and `%v` print a value.
pub fn format_value(v: &Value) -> String {
    match v {
        Value::Nil => "<no value>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format_g(*f, -1, false),
        Value::Str(s) => s.clone(),
        Value::List(items) => {
            let parts: Vec<String> = items.iter().map(format_value).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Map(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}:{}", format_value(v)))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
        Value::Time(t) => format_time(*t, "2006-01-02 15:04:05.999999999 -0700 MST"),
    }
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        Value::List(_) => "[]interface {}",
        Value::Map(_) => "map[string]interface {}",
        Value::Time(_) => "time.Time",
    }
}

fn bad_verb(verb: char, v: &Value) -> String {
    format!("%!{verb}({}={})", go_type(v), format_value(v))
}

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(s: String, spec: &Spec, numeric: bool) -> String {
    let Some(w) = spec.width else { return s };
    let len = s.chars().count();
    if len >= w {
        return s;
    }
    let fill = w - len;
    if spec.minus {
        format!("{s}{}", " ".repeat(fill))
    } else if spec.zero && numeric {
        let (sign, digits) = match s.strip_prefix(['-', '+']) {
            Some(rest) => (&s[..1], rest),
            None => ("", s.as_str()),
        };
        format!("{sign}{}{digits}", "0".repeat(fill))
    } else {
        format!("{}{s}", " ".repeat(fill))
    }
}

fn signed(s: String, spec: &Spec) -> String {
    if !s.starts_with('-') {
        if spec.plus {
            return format!("+{s}");
        }
        if spec.space {
            return format!(" {s}");
        }
    }
    s
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %q %d %f %F %e
/// %E %g %G %x %X %t %c %%`, with flags `- + 0 space`, width and precision.
/// A verb that does not fit its argument prints Go's `%!d(string=x)`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut next_arg = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut num = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            num.push(d);
            chars.next();
        }
        spec.width = num.parse().ok();
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            spec.prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next_arg) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next_arg += 1;
        out.push_str(&format_one(verb, arg, &spec));
    }
    if next_arg < args.len() {
        let extra: Vec<String> = args[next_arg..]
            .iter()
            .map(|a| format!("{}={}", go_type(a), format_value(a)))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn format_one(verb: char, arg: &Value, spec: &Spec) -> String {
    let numeric;
    let s = match (verb, arg) {
        ('v', Value::Float(f)) | ('g', Value::Float(f)) | ('G', Value::Float(f)) => {
            numeric = true;
            let p = spec.prec.map(|p| p as i32).unwrap_or(-1);
            signed(format_g(*f, p, verb == 'G'), spec)
        }
        ('v' | 'd', Value::Int(i)) => {
            numeric = true;
            signed(i.to_string(), spec)
        }
        ('f' | 'F', Value::Float(f)) => {
            numeric = true;
            signed(format_f(*f, spec.prec.unwrap_or(6)), spec)
        }
        ('f' | 'F', Value::Int(i)) => {
            return bad_verb(verb, &Value::Int(*i));
        }
        ('e' | 'E', Value::Float(f)) => {
            numeric = true;
            signed(format_e(*f, spec.prec.unwrap_or(6), verb == 'E'), spec)
        }
        ('x', Value::Int(i)) => {
            numeric = true;
            format!("{i:x}")
        }
        ('X', Value::Int(i)) => {
            numeric = true;
            format!("{i:X}")
        }
        ('x', Value::Str(s)) => {
            numeric = false;
            s.bytes().map(|b| format!("{b:02x}")).collect()
        }
        ('s' | 'v', Value::Str(s)) => {
            numeric = false;
            match spec.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            }
        }
        ('q', Value::Str(s)) => {
            numeric = false;
            crate::labels::go_quote(s)
        }
        ('t' | 'v', Value::Bool(b)) => {
            numeric = false;
            b.to_string()
        }
        ('c', Value::Int(i)) => {
            numeric = false;
            char::from_u32(*i as u32)
                .map(String::from)
                .unwrap_or_default()
        }
        ('v', other) => {
            numeric = false;
            format_value(other)
        }
        ('s', v @ (Value::List(_) | Value::Map(_) | Value::Time(_) | Value::Nil)) => {
            numeric = false;
            format_value(v)
        }
        (verb, other) => return bad_verb(verb, other),
    };
    pad(s, spec, numeric)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Formats a time with a Go layout (`2006-01-02 15:04:05`, `Jan 2`,
/// `Z07:00`, `.000`…). Times here are UTC, so the zone name is `UTC`.
pub fn format_time(t: time::OffsetDateTime, layout: &str) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    // Tokens longest first so `2006` wins over `2`, `January` over `Jan`.
    const TOKENS: [&str; 33] = [
        "January",
        "Monday",
        "Z07:00",
        "-07:00",
        "-0700",
        "Z0700",
        "2006",
        ".000000000",
        ".999999999",
        ".000000",
        ".999999",
        ".000",
        ".999",
        "Jan",
        "Mon",
        "MST",
        "002",
        "_2",
        "01",
        "02",
        "03",
        "04",
        "05",
        "06",
        "15",
        "PM",
        "pm",
        "-07",
        "1",
        "2",
        "3",
        "4",
        "5",
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for tok in TOKENS {
            if let Some(after) = rest.strip_prefix(tok) {
                let nanos = t.nanosecond();
                let h12 = match t.hour() % 12 {
                    0 => 12,
                    h => h,
                };
                let s = match tok {
                    "January" => MONTHS[usize::from(u8::from(t.month())) - 1].to_string(),
                    "Jan" => MONTHS[usize::from(u8::from(t.month())) - 1][..3].to_string(),
                    "Monday" => DAYS[usize::from(t.weekday().number_days_from_monday())].into(),
                    "Mon" => DAYS[usize::from(t.weekday().number_days_from_monday())][..3].into(),
                    "2006" => format!("{:04}", t.year()),
                    "06" => format!("{:02}", t.year() % 100),
                    "01" => format!("{:02}", u8::from(t.month())),
                    "1" => u8::from(t.month()).to_string(),
                    "02" => format!("{:02}", t.day()),
                    "_2" => format!("{:>2}", t.day()),
                    "2" => t.day().to_string(),
                    "002" => format!("{:03}", t.ordinal()),
                    "15" => format!("{:02}", t.hour()),
                    "03" => format!("{h12:02}"),
                    "3" => h12.to_string(),
                    "04" => format!("{:02}", t.minute()),
                    "4" => t.minute().to_string(),
                    "05" => format!("{:02}", t.second()),
                    "5" => t.second().to_string(),
                    "PM" => if t.hour() >= 12 { "PM" } else { "AM" }.into(),
                    "pm" => if t.hour() >= 12 { "pm" } else { "am" }.into(),
                    "MST" => "UTC".into(),
                    "Z07:00" | "Z0700" => "Z".into(),
                    "-07:00" => "+00:00".into(),
                    "-0700" => "+0000".into(),
                    "-07" => "+00".into(),
                    frac => {
                        let n = frac.len() - 1;
                        let digits = format!("{nanos:09}");
                        let digits = &digits[..n];
                        if frac.as_bytes()[1] == b'9' {
                            let trimmed = digits.trim_end_matches('0');
                            if trimmed.is_empty() {
                                String::new()
                            } else {
                                format!(".{trimmed}")
                            }
                        } else {
                            format!(".{digits}")
                        }
                    }
                };
                out.push_str(&s);
                rest = after;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_prints_them() {
        assert_eq!(format_g(1_000_000.0, -1, false), "1e+06");
        assert_eq!(format_g(123_456.0, -1, false), "123456");
        assert_eq!(format_g(1_234_567.0, -1, false), "1.234567e+06");
        assert_eq!(format_g(0.0001, -1, false), "0.0001");
        assert_eq!(format_g(0.00001, -1, false), "1e-05");
        assert_eq!(format_g(0.5, -1, false), "0.5");
        assert_eq!(format_g(0.0, -1, false), "0");
        assert_eq!(format_g(-3.25, -1, false), "-3.25");
        assert_eq!(format_g(12.5, 4, false), "12.5");
        assert_eq!(format_g(1234.5678, 4, false), "1235");
        assert_eq!(format_g(100_000.0, 4, false), "1e+05");
        assert_eq!(format_g(f64::INFINITY, 4, false), "+Inf");
        assert_eq!(format_g(f64::NAN, -1, false), "NaN");
    }

    #[test]
    fn printf_verbs() {
        let f = Value::Float(2.71838);
        assert_eq!(sprintf("%.2f", std::slice::from_ref(&f)), "2.72");
        assert_eq!(sprintf("%d%%", &[Value::Int(42)]), "42%");
        assert_eq!(
            sprintf("%d", std::slice::from_ref(&f)),
            "%!d(float64=2.71838)"
        );
        assert_eq!(
            sprintf("%5.1f|%-4s|", &[f, Value::Str("ab".into())]),
            "  2.7|ab  |"
        );
        assert_eq!(
            sprintf("%q %v", &[Value::Str("x".into()), Value::Bool(true)]),
            "\"x\" true"
        );
        assert_eq!(sprintf("%s", &[]), "%!s(MISSING)");
        assert_eq!(sprintf("%e", &[Value::Float(1234.5)]), "1.234500e+03");
    }

    #[test]
    fn go_time_layouts() {
        let t = time::macros::datetime!(2024-03-05 14:07:09.120 UTC);
        assert_eq!(format_time(t, "2006-01-02 15:04:05"), "2024-03-05 14:07:09");
        assert_eq!(format_time(t, "Jan 2, 3:04PM MST"), "Mar 5, 2:07PM UTC");
        assert_eq!(
            format_time(t, "2006-01-02T15:04:05.000Z07:00"),
            "2024-03-05T14:07:09.120Z"
        );
        assert_eq!(
            format_value(&Value::Time(t)),
            "2024-03-05 14:07:09.12 +0000 UTC"
        );
    }
}
