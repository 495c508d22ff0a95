//! Prometheus' rules for metric and label names.
//!
//! These are the classic (pre-UTF-8) rules that every Prometheus version
//! accepts; both wire formats in this crate enforce them, so anything that
//! leaves this crate has names a PromQL selector can spell without quoting.

/// The label that carries a series' metric name.
pub const METRIC_NAME_LABEL: &str = "__name__";

/// Returns `true` if `name` matches `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphabetic() || first == b'_' || first == b':' => {
            bytes.all(is_metric_name_byte)
        }
        _ => false,
    }
}

/// Returns `true` if `name` matches `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphabetic() || first == b'_' => {
            bytes.all(is_label_name_byte)
        }
        _ => false,
    }
}

/// Bytes that may appear after the first one in a metric name.
pub(crate) fn is_metric_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// Bytes that may appear after the first one in a label name.
pub(crate) fn is_label_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_allow_colons_but_label_names_do_not() {
        for ok in ["up", "_x", ":rule:rate5m", "node_cpu_seconds_total", "A9"] {
            assert!(
                is_valid_metric_name(ok),
                "{ok:?} should be a valid metric name"
            );
        }
        for bad in ["", "9up", "up-time", "up time", "é", "up.x"] {
            assert!(!is_valid_metric_name(bad), "{bad:?} should be rejected");
        }
        for ok in ["job", "_", "__name__", "le", "a1"] {
            assert!(
                is_valid_label_name(ok),
                "{ok:?} should be a valid label name"
            );
        }
        for bad in ["", "1a", "a:b", "a-b", "ä"] {
            assert!(!is_valid_label_name(bad), "{bad:?} should be rejected");
        }
    }
}
