//! Label sets, label-name rules and the alert fingerprint.

use std::collections::BTreeMap;

/// A set of labels (or annotations), sorted by name. Sorting is what makes
/// fingerprints, group keys and rendered payloads deterministic.
pub type LabelSet = BTreeMap<String, String>;

/// The label every alert carries with its rule's name.
pub const ALERT_NAME: &str = "alertname";
/// The label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// Builds a [`LabelSet`] from pairs; a convenience for callers and tests.
pub fn label_set<K: Into<String>, V: Into<String>>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> LabelSet {
    pairs
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}

/// Whether `name` is a valid label name in Prometheus' classic rules:
/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `name` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A stable 64-bit identity of a label set, identical to the fingerprint
/// Prometheus and Alertmanager compute (`model.LabelSet.Fingerprint`), so an
/// alert has the same fingerprint in cairn as in an Alertmanager it is
/// compared with.
///
/// The hash is 64-bit FNV-1a over the labels sorted by name, each written as
/// its name, the byte `0xff`, its value and the byte `0xff`. The empty set
/// hashes to FNV's offset basis. It is not cryptographic; it identifies, it
/// does not protect.
pub fn fingerprint(labels: &LabelSet) -> Fingerprint {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    let mut h = OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for (name, value) in labels {
        add(name.as_bytes());
        add(&[0xff]);
        add(value.as_bytes());
        add(&[0xff]);
    }
    Fingerprint(h)
}

/// The fingerprint of a label set; shown as 16 lowercase hex digits, as
/// Alertmanager shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub u64);

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        u64::from_str_radix(&s, 16)
            .map(Fingerprint)
            .map_err(|_| serde::de::Error::custom(format!("invalid fingerprint {s:?}")))
    }
}

/// Renders a label set as Alertmanager does in group keys:
/// `{a="1", b="2"}` (Go-quoted values, `", "` between pairs).
pub fn format_label_set(labels: &LabelSet) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(k);
        out.push('=');
        out.push_str(&go_quote(v));
    }
    out.push('}');
    out
}

/// Quotes a string as Go's `%q` / `strconv.Quote` does for printable text.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_alertmanager() {
        // The reference values of prometheus/common's signature tests
        // (`TestLabelsToSignature`, `TestMetricToFingerprint`).
        assert_eq!(
            fingerprint(&LabelSet::new()).to_string(),
            "cbf29ce484222325"
        );
        let garland = label_set([("name", "garland, briggs"), ("fear", "love is not enough")]);
        assert_eq!(fingerprint(&garland).0, 5_799_056_148_416_392_346);
        let ls = label_set([("alertname", "InstanceDown"), ("instance", "a:9100")]);
        let again = label_set([("instance", "a:9100"), ("alertname", "InstanceDown")]);
        assert_eq!(fingerprint(&ls), fingerprint(&again));
        assert_ne!(
            fingerprint(&ls),
            fingerprint(&label_set([("alertname", "InstanceDown")]))
        );
        // The separator keeps "ab"+"c" apart from "a"+"bc".
        assert_ne!(
            fingerprint(&label_set([("ab", "c")])),
            fingerprint(&label_set([("a", "bc")]))
        );
    }

    #[test]
    fn names() {
        assert!(is_valid_label_name("severity"));
        assert!(is_valid_label_name("_x1"));
        assert!(!is_valid_label_name("1x"));
        assert!(!is_valid_label_name("a-b"));
        assert!(is_valid_metric_name("job:up:avg"));
        assert!(!is_valid_label_name("job:up"));
        assert_eq!(
            format_label_set(&label_set([("b", "x\"y"), ("a", "1")])),
            r#"{a="1", b="x\"y"}"#
        );
    }
}
