//! Label matchers with Alertmanager's syntax and semantics.
//!
//! Accepted forms: `{a="b", c=~"d.*"}`, the same without braces, and the
//! older unquoted `a=b` that many existing configurations still use.
//! Regexes are anchored at both ends, and a label the alert does not have
//! matches as the empty string, as everywhere in Prometheus.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::labels::{go_quote, LabelSet};

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MatchType {
    #[serde(rename = "=")]
    Equal,
    #[serde(rename = "!=")]
    NotEqual,
    #[serde(rename = "=~")]
    Regex,
    #[serde(rename = "!~")]
    NotRegex,
}

impl MatchType {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regex => "=~",
            MatchType::NotRegex => "!~",
        }
    }
}

/// One label matcher, with its regex compiled.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchType,
    pub value: String,
    re: Option<regex::Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}
impl Eq for Matcher {}

impl Matcher {
    pub fn new(
        name: impl Into<String>,
        op: MatchType,
        value: impl Into<String>,
    ) -> Result<Matcher, String> {
        let value = value.into();
        let re = match op {
            MatchType::Regex | MatchType::NotRegex => Some(
                regex::Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("invalid regular expression {value:?}: {e}"))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name: name.into(),
            op,
            value,
            re,
        })
    }

    /// Tests one value; pass `""` for a missing label.
    pub fn matches_value(&self, v: &str) -> bool {
        match (self.op, &self.re) {
            (MatchType::Equal, _) => v == self.value,
            (MatchType::NotEqual, _) => v != self.value,
            (MatchType::Regex, Some(re)) => re.is_match(v),
            (MatchType::NotRegex, Some(re)) => !re.is_match(v),
            _ => false,
        }
    }

    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matches_value(labels.get(&self.name).map(String::as_str).unwrap_or(""))
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.name,
            self.op.as_str(),
            go_quote(&self.value)
        )
    }
}

impl Serialize for Matcher {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let mut ms = parse_matchers(&s).map_err(serde::de::Error::custom)?;
        if ms.len() != 1 {
            return Err(serde::de::Error::custom(format!(
                "expected one matcher, got {s:?}"
            )));
        }
        Ok(ms.remove(0))
    }
}

/// A conjunction of matchers: all must match.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.0.iter().all(|m| m.matches(labels))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Matchers {
    /// Alertmanager's `Matchers.String()`: `{a="b",c=~"d"}`; used in route
    /// keys, so group keys match Alertmanager's.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

fn unquote(s: &str) -> Result<String, String> {
    let inner = &s[1..s.len() - 1];
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some(o) => {
                    // Alertmanager keeps unknown escapes as written, which
                    // matters for regexes such as "\d+".
                    out.push('\\');
                    out.push(o);
                }
                None => return Err(format!("unterminated escape in {s}")),
            },
            '"' => return Err(format!("unexpected quote in {s}")),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Splits on commas outside double quotes.
fn split_top(s: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quote = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            ',' if !in_quote => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if in_quote {
        return Err(format!("unterminated quoted string in {s:?}"));
    }
    parts.push(&s[start..]);
    Ok(parts)
}

/// Parses one matcher such as `severity="critical"`, `job=~"api|web"` or
/// `env=prod`.
pub fn parse_matcher(s: &str) -> Result<Matcher, String> {
    let t = s.trim();
    let name_end = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(t.len());
    let name = &t[..name_end];
    let valid_name = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    let (name, rest) = if valid_name {
        (name.to_string(), t[name_end..].trim_start())
    } else if let Some(quoted) = t.strip_prefix('"') {
        // A quoted (UTF-8) label name, as newer Alertmanagers allow.
        let end = quoted
            .find('"')
            .ok_or_else(|| format!("bad matcher format: {s}"))?
            + 2;
        (unquote(&t[..end])?, t[end..].trim_start())
    } else {
        return Err(format!("bad matcher format: {s}"));
    };
    let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
        (MatchType::Regex, v)
    } else if let Some(v) = rest.strip_prefix("!~") {
        (MatchType::NotRegex, v)
    } else if let Some(v) = rest.strip_prefix("!=") {
        (MatchType::NotEqual, v)
    } else if let Some(v) = rest.strip_prefix('=') {
        (MatchType::Equal, v)
    } else {
        return Err(format!("bad matcher format: {s}"));
    };
    let value = value.trim();
    let value = if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
        unquote(value)?
    } else if value.starts_with('"') {
        return Err(format!("unterminated quoted string in matcher {s:?}"));
    } else {
        value.to_string()
    };
    Matcher::new(name, op, value)
}

/// Parses a list of matchers, with or without braces: `{a="b", c=~"d"}`.
pub fn parse_matchers(s: &str) -> Result<Vec<Matcher>, String> {
    let t = s.trim();
    let inner = match (t.strip_prefix('{'), t.ends_with('}')) {
        (Some(rest), true) => &rest[..rest.len() - 1],
        (Some(_), false) => return Err(format!("missing closing brace in {s:?}")),
        (None, _) => t,
    };
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    let parts = split_top(inner)?;
    let mut out = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        // A trailing comma is allowed, as in PromQL selectors.
        if p.trim().is_empty() && i == parts.len() - 1 && i > 0 {
            continue;
        }
        out.push(parse_matcher(p)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::label_set;

    #[test]
    fn both_syntaxes() {
        let ms = parse_matchers(r#"{severity="critical", job=~"api|web",env!=dev}"#).unwrap();
        assert_eq!(
            Matchers(ms.clone()).to_string(),
            r#"{severity="critical",job=~"api|web",env!="dev"}"#
        );
        let l = label_set([("severity", "critical"), ("job", "api")]);
        assert!(Matchers(ms).matches(&l));
        let old = parse_matchers("severity=critical").unwrap();
        assert_eq!(old[0].value, "critical");
        assert!(parse_matchers(r#"a=~"x.*", b="1,2""#).unwrap()[1].matches_value("1,2"));
        assert!(parse_matchers("{}").unwrap().is_empty());
        assert!(parse_matchers("a").is_err());
        assert!(parse_matchers(r#"a=~"(""#).is_err());
    }

    #[test]
    fn regexes_are_anchored_and_missing_labels_are_empty() {
        let m = parse_matcher(r#"job=~"api""#).unwrap();
        assert!(!m.matches_value("api-gateway"));
        let m = parse_matcher(r#"team="""#).unwrap();
        assert!(m.matches(&LabelSet::new()));
        let m = parse_matcher(r#"code=~"5\d\d""#).unwrap();
        assert!(m.matches_value("503"));
    }
}
