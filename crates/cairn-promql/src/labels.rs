//! Label-set helpers. Label sets are `Vec<(name, value)>` sorted by name, so
//! lookups are binary searches and ordering is Prometheus' `labels.Compare`.

use crate::Labels;

pub(crate) const METRIC_NAME: &str = "__name__";

/// The value of label `name`, or `""` when the label is absent (PromQL treats
/// the two the same).
pub(crate) fn value_of<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
    match labels.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
        Ok(i) => &labels[i].1,
        Err(_) => "",
    }
}

/// Sets a label, keeping the set sorted; an empty value deletes the label, as
/// Prometheus' label builder does.
pub(crate) fn set(labels: &mut Labels, name: &str, value: &str) {
    match labels.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            labels.remove(i);
        }
        Ok(i) => labels[i].1 = value.to_string(),
        Err(_) if value.is_empty() => {}
        Err(i) => labels.insert(i, (name.to_string(), value.to_string())),
    }
}

pub(crate) fn del(labels: &mut Labels, name: &str) {
    if let Ok(i) = labels.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
        labels.remove(i);
    }
}

pub(crate) fn drop_metric_name(labels: &Labels) -> Labels {
    labels
        .iter()
        .filter(|(n, _)| n != METRIC_NAME)
        .cloned()
        .collect()
}

/// Keeps only the labels whose names are in `names` (sorted).
pub(crate) fn keep(labels: &Labels, names: &[String]) -> Labels {
    labels
        .iter()
        .filter(|(n, _)| names.binary_search(n).is_ok())
        .cloned()
        .collect()
}

/// Removes the labels whose names are in `names` (sorted), and `__name__`.
pub(crate) fn without(labels: &Labels, names: &[String]) -> Labels {
    labels
        .iter()
        .filter(|(n, _)| n != METRIC_NAME && names.binary_search(n).is_err())
        .cloned()
        .collect()
}

/// The key binary operators match series on: with `on`, the listed labels;
/// otherwise every label except the listed ones and `__name__`. `names` must
/// be sorted. Lengths are written out so that no two label sets share a key.
pub(crate) fn signature(labels: &Labels, on: bool, names: &[String]) -> String {
    let mut key = String::new();
    for (n, v) in labels {
        let listed = names.binary_search(n).is_ok();
        let include = if on {
            listed
        } else {
            !listed && n != METRIC_NAME
        };
        if include {
            key.push_str(&format!("{}:{}{}:{}", n.len(), n, v.len(), v));
        }
    }
    key
}

/// Formats a label set as Prometheus does in error messages: `{a="b", c="d"}`.
pub(crate) fn format(labels: &Labels) -> String {
    let inner: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// Prometheus' label name syntax: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)` with Prometheus' spelling of
/// the special values.
pub(crate) fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// Compiles a PromQL regex: anchored at both ends. Go's RE2 accepts a `{`
/// that does not start a repetition (such as `a{b}`) as a literal, which the
/// Rust crate rejects, so such braces are escaped on a second attempt.
pub(crate) fn anchored_regex(re: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?:{re})$"))
        .or_else(|_| regex::Regex::new(&format!("^(?:{})$", escape_literal_braces(re))))
}

fn escape_literal_braces(re: &str) -> String {
    let chars: Vec<char> = re.chars().collect();
    let mut out = String::with_capacity(re.len() + 4);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            out.push(c);
            out.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if c == '{' && !starts_repetition(&chars[i + 1..]) {
            out.push('\\');
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Whether the text after a `{` is a repetition such as `3}`, `3,}` or `3,5}`.
fn starts_repetition(rest: &[char]) -> bool {
    let Some(close) = rest.iter().position(|&c| c == '}') else {
        return false;
    };
    let body: String = rest[..close].iter().collect();
    let mut parts = body.splitn(2, ',');
    let min = parts.next().unwrap_or("");
    let max = parts.next();
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    !min.is_empty() && digits(min) && max.is_none_or(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn set_keeps_order_and_empty_value_deletes() {
        let mut l = ls(&[("a", "1"), ("c", "3")]);
        set(&mut l, "b", "2");
        assert_eq!(l, ls(&[("a", "1"), ("b", "2"), ("c", "3")]));
        set(&mut l, "a", "");
        assert_eq!(l, ls(&[("b", "2"), ("c", "3")]));
    }

    #[test]
    fn signature_ignores_metric_name_unless_on_lists_it() {
        let a = ls(&[("__name__", "x"), ("job", "j")]);
        let b = ls(&[("__name__", "y"), ("job", "j")]);
        assert_eq!(signature(&a, false, &[]), signature(&b, false, &[]));
        let on = vec!["__name__".to_string()];
        assert_ne!(signature(&a, true, &on), signature(&b, true, &on));
    }

    #[test]
    fn floats_format_like_go() {
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(-2.0), "-2");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NAN), "NaN");
    }

    #[test]
    fn regexes_are_anchored_and_accept_literal_braces() {
        let re = anchored_regex("a|b").unwrap();
        assert!(re.is_match("a") && !re.is_match("ab"));
        let re = anchored_regex("x{y}").unwrap();
        assert!(re.is_match("x{y}"));
        let re = anchored_regex("x{2}").unwrap();
        assert!(re.is_match("xx"));
    }
}
