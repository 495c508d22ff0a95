//! Stories for cairn-wire: what a scraper and a remote write receiver see,
//! and what they must survive.

mod exposition;
mod remote_write;
mod robustness;

use cairn_wire::exposition::{Exposition, ParsedSample};

/// A compact, readable dump of parsed samples, one per line:
/// `{__name__="up", job="node"} 1 @1000`. Values use Rust's `Debug` form so
/// that `NaN`, `inf` and `-0.0` are visible.
pub fn dump(samples: &[ParsedSample]) -> String {
    let mut out = String::new();
    for sample in samples {
        let labels: Vec<String> = sample
            .labels
            .iter()
            .map(|(name, value)| format!("{name}={value:?}"))
            .collect();
        out.push_str(&format!("{{{}}} {:?}", labels.join(", "), sample.value));
        if let Some(ts) = sample.timestamp {
            out.push_str(&format!(" @{ts}"));
        }
        out.push('\n');
    }
    out
}

/// Equality of parsed documents where NaN equals NaN.
pub fn assert_same_exposition(left: &Exposition, right: &Exposition) {
    assert_eq!(left.metadata, right.metadata);
    assert_eq!(dump(&left.samples), dump(&right.samples));
}
