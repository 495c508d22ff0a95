//! Writing the text exposition format.

use std::collections::HashMap;
use std::fmt::Write;

use super::{family_of, Metadata, ParsedSample};
use crate::names::METRIC_NAME_LABEL;

/// Renders samples and metadata as a text exposition document.
///
/// Samples keep their order, and so does metadata: each family's `# HELP`,
/// `# TYPE` and (if set) `# UNIT` lines are written before its first sample
/// (and after those of the families listed before it), so that
/// [`parse`](super::parse) reads back exactly what was rendered. Family names
/// should be unique, as the format allows one header of each kind per family.
///
/// Names are written as given: the caller is responsible for valid metric and
/// label names. A sample without a `__name__` label cannot be expressed in
/// this format and is left out.
pub fn render(samples: &[ParsedSample], metadata: &[Metadata]) -> String {
    let mut by_family: HashMap<&str, usize> = HashMap::with_capacity(metadata.len());
    for (index, m) in metadata.iter().enumerate() {
        by_family.entry(m.family.as_str()).or_insert(index);
    }
    // Headers go out in metadata order, each no later than its family's
    // first sample, so that parsing the output gives back the metadata in
    // the same order.
    let mut next = 0;
    let mut out = String::new();
    for sample in samples {
        let Some(name) = sample.metric_name() else {
            continue;
        };
        let family = family_of(name, |family| {
            by_family.get(family).map(|&index| &metadata[index])
        });
        if let Some(family) = family {
            let index = by_family[family.family.as_str()];
            while next <= index {
                write_metadata(&mut out, &metadata[next]);
                next += 1;
            }
        }
        write_sample(&mut out, name, sample);
    }
    for m in &metadata[next..] {
        write_metadata(&mut out, m);
    }
    out
}

fn write_metadata(out: &mut String, m: &Metadata) {
    if let Some(help) = &m.help {
        out.push_str("# HELP ");
        out.push_str(&m.family);
        out.push(' ');
        for c in help.chars() {
            match c {
                '\\' => out.push_str(r"\\"),
                '\n' => out.push_str(r"\n"),
                c => out.push(c),
            }
        }
        out.push('\n');
    }
    out.push_str("# TYPE ");
    out.push_str(&m.family);
    out.push(' ');
    out.push_str(m.kind.as_str());
    out.push('\n');
    if let Some(unit) = &m.unit {
        out.push_str("# UNIT ");
        out.push_str(&m.family);
        out.push(' ');
        out.push_str(unit);
        out.push('\n');
    }
}

fn write_sample(out: &mut String, name: &str, sample: &ParsedSample) {
    out.push_str(name);
    let mut labels = sample
        .labels
        .iter()
        .filter(|(label, _)| label != METRIC_NAME_LABEL)
        .peekable();
    if labels.peek().is_some() {
        out.push('{');
        for (i, (label, value)) in labels.enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            for c in value.chars() {
                match c {
                    '\\' => out.push_str(r"\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str(r"\n"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    write_value(out, sample.value);
    if let Some(ts) = sample.timestamp {
        // Writing to a String cannot fail.
        let _ = write!(out, " {ts}");
    }
    out.push('\n');
}

/// Writes a value so that parsing it gives back the same `f64` (NaN payloads
/// aside): integers without a fraction, other values in Rust's shortest
/// round-trip form, and Prometheus' spellings of the special values.
fn write_value(out: &mut String, value: f64) {
    // Below 2^53 every integer is exact; larger ones read better in
    // scientific notation.
    const PLAIN_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;
    if value.is_nan() {
        out.push_str("NaN");
    } else if value == f64::INFINITY {
        out.push_str("+Inf");
    } else if value == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else if value.fract() == 0.0 && value.abs() < PLAIN_INTEGER_LIMIT {
        let _ = write!(out, "{value}");
    } else {
        let _ = write!(out, "{value:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_render_in_prometheus_spelling_and_read_back_exactly() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (-0.0, "-0"),
            (0.1, "0.1"),
            (1e300, "1e300"),
            (1.5e-7, "1.5e-7"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (123456789.0, "123456789"),
        ];
        for &(value, text) in cases {
            let mut out = String::new();
            write_value(&mut out, value);
            assert_eq!(out, text);
            let back = super::super::float::parse_value(&out).expect(text);
            assert!(
                back.to_bits() == value.to_bits() || (back.is_nan() && value.is_nan()),
                "{text} read back as {back}"
            );
        }
    }
}
