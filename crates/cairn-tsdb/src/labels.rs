//! Series identity ([`Labels`]) and label matchers ([`Matcher`]) with Prometheus'
//! semantics.

use crate::Error;
use regex::Regex;
use std::fmt;

/// The label set that identifies a series: sorted by name, names unique, no empty
/// values (an empty value means "no such label", as in Prometheus). The metric name,
/// when there is one, is the `__name__` label.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels(Vec<(String, String)>);

/// The label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

impl Labels {
    /// Validates names (`[a-zA-Z_][a-zA-Z0-9_]*`), rejects a name given twice, drops
    /// pairs whose value is empty and sorts by name.
    pub fn new(mut pairs: Vec<(String, String)>) -> Result<Labels, Error> {
        for (name, _) in &pairs {
            validate_name(name)?;
        }
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::InvalidLabel {
                name: w[0].0.clone(),
                reason: "label name given more than once".into(),
            });
        }
        pairs.retain(|(_, v)| !v.is_empty());
        Ok(Labels(pairs))
    }

    /// Shorthand for [`Labels::new`] from string slices.
    pub fn from_strs(pairs: &[(&str, &str)]) -> Result<Labels, Error> {
        Labels::new(
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// Wraps pairs that are already valid, sorted and free of empty values (they come
    /// from the store's own files or memory).
    pub(crate) fn from_sorted_unchecked(pairs: Vec<(String, String)>) -> Labels {
        debug_assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0));
        Labels(pairs)
    }

    /// The value of a label, if the series has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// The metric name (`__name__`), if any.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<(String, String)> {
        self.0
    }

    /// The stable 64-bit hash the head indexes series by.
    pub(crate) fn hash64(&self) -> u64 {
        hash_pairs(self.iter())
    }
}

impl fmt::Display for Labels {
    /// Prometheus notation: `name{a="b", c="d"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for (n, v) in self.iter().filter(|(n, _)| *n != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{n}={v:?}")?;
        }
        f.write_str("}")
    }
}

fn validate_name(name: &str) -> Result<(), Error> {
    let mut chars = name.chars();
    let ok = match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidLabel {
            name: name.to_string(),
            reason: "label names must match [a-zA-Z_][a-zA-Z0-9_]*".into(),
        })
    }
}

/// A fast, stable hash of label pairs (FxHash-style word mixing with a final
/// avalanche), used for the head's series lookup. Collisions are handled by comparing
/// the labels themselves.
pub(crate) fn hash_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    let mut h = Hasher64(0);
    for (n, v) in pairs {
        h.write(n.as_bytes());
        h.write(v.as_bytes());
    }
    fmix64(h.0)
}

struct Hasher64(u64);

impl Hasher64 {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in chunks.by_ref() {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        // The length goes into the last word so that ("ab","c") and ("a","bc") differ.
        self.add(u64::from_le_bytes(w) ^ ((bytes.len() as u64) << 56));
    }
}

#[inline]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// How a [`Matcher`] compares a label's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`, a fully anchored regular expression.
    RegexMatch,
    /// `!~`, a fully anchored regular expression.
    RegexNoMatch,
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        })
    }
}

/// A condition on one label, as in a PromQL selector. A series without the label is
/// treated as having the empty value, so `{foo=""}` selects series without `foo` and
/// `{foo!=""}` those with it. Regular expressions are anchored at both ends, and `.`
/// matches newlines, exactly as in Prometheus.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    /// Builds a matcher, compiling the regular expression for `=~` and `!~`.
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Matcher, Error> {
        let name = name.into();
        let value = value.into();
        let re = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => Some(
                Regex::new(&format!("^(?s:{value})$")).map_err(|e| Error::InvalidMatcher {
                    name: name.clone(),
                    value: value.clone(),
                    reason: e.to_string(),
                })?,
            ),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher {
            name,
            op,
            value,
            re,
        })
    }

    /// Whether a label value (`""` for an absent label) satisfies the matcher.
    pub fn matches(&self, v: &str) -> bool {
        match (self.op, &self.re) {
            (MatchOp::Equal, _) => v == self.value,
            (MatchOp::NotEqual, _) => v != self.value,
            (MatchOp::RegexMatch, Some(re)) => re.is_match(v),
            (MatchOp::RegexNoMatch, Some(re)) => !re.is_match(v),
            // `new` always compiles a regex for the regex operators.
            (MatchOp::RegexMatch | MatchOp::RegexNoMatch, None) => false,
        }
    }

    /// Whether the matcher selects series that lack the label.
    pub(crate) fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_sorted_validated_and_drop_empty_values() {
        let l = Labels::from_strs(&[("job", "node"), ("__name__", "up"), ("empty", "")]).unwrap();
        assert_eq!(
            l.iter().collect::<Vec<_>>(),
            vec![("__name__", "up"), ("job", "node")]
        );
        assert_eq!(l.get("job"), Some("node"));
        assert_eq!(l.get("empty"), None);
        assert_eq!(l.to_string(), "up{job=\"node\"}");
        for bad in ["", "1abc", "a-b", "é"] {
            let err = Labels::from_strs(&[(bad, "x")]).unwrap_err();
            assert!(err.to_string().contains("invalid label"), "{err}");
        }
        let err = Labels::from_strs(&[("a", "1"), ("a", "2")]).unwrap_err();
        assert!(err.to_string().contains("more than once"), "{err}");
    }

    #[test]
    fn the_hash_separates_names_from_values() {
        let a = Labels::from_strs(&[("ab", "c")]).unwrap();
        let b = Labels::from_strs(&[("a", "bc")]).unwrap();
        assert_ne!(a.hash64(), b.hash64());
        assert_eq!(
            a.hash64(),
            Labels::from_strs(&[("ab", "c")]).unwrap().hash64()
        );
    }

    #[test]
    fn regex_matchers_are_fully_anchored() {
        let m = Matcher::new("job", MatchOp::RegexMatch, "node|api").unwrap();
        assert!(m.matches("node") && m.matches("api"));
        assert!(!m.matches("node2") && !m.matches("xapi") && !m.matches(""));
        let m = Matcher::new("x", MatchOp::RegexMatch, "a.c").unwrap();
        assert!(m.matches("a\nc"));
        let m = Matcher::new("job", MatchOp::RegexNoMatch, "no.*").unwrap();
        assert!(!m.matches("node") && m.matches("api") && m.matches(""));
        let err = Matcher::new("job", MatchOp::RegexMatch, "(").unwrap_err();
        assert!(err.to_string().contains("\"job\""), "{err}");
    }
}
