//! The Prometheus text exposition format, version 0.0.4.
//!
//! [`parse`] reads what a `/metrics` endpoint serves: `# HELP`, `# TYPE`
//! and sample lines, plus what OpenMetrics adds that a scraper meets in
//! practice (`# UNIT`, a final `# EOF`, `_created` samples, exemplars after a
//! sample, which are skipped). [`render`] writes the same format.
//!
//! Parsing follows the Prometheus server's own text parser where the format
//! leaves room:
//!
//! - Tokens are separated by spaces or tabs; blank lines and comments (`#`
//!   lines that are not `HELP`, `TYPE`, `UNIT` or `EOF`) are ignored; trailing
//!   `\r`s are dropped from each line.
//! - In label values `\\`, `\"` and `\n` are escapes; in help text `\\` and
//!   `\n`. A backslash before any other character is kept as it is.
//! - Values are read like Go's `strconv.ParseFloat`: decimal and scientific
//!   notation, `Inf`/`Infinity`/`NaN` in any case with an optional sign, and
//!   hexadecimal floats such as `0x1p-3`.
//! - Timestamps are integer milliseconds.
//! - A label set may end with a comma. Labels with empty values are dropped,
//!   as Prometheus treats them as absent; a label name used twice is an error.
//! - At most one `HELP`, `TYPE` and `UNIT` line per family. A family with
//!   only `HELP` is [`MetricType::Untyped`].
//! - Quoted (UTF-8) metric and label names from Prometheus 3 are not
//!   supported and are reported as errors.
//!
//! Parsing is a single pass over lines without recursion; its cost is linear
//! in the input apart from sorting each sample's labels.

mod float;
mod parse;
mod render;

pub use parse::parse;
pub use render::render;

use crate::names::METRIC_NAME_LABEL;

/// The type of a metric family, from a `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// `counter`
    Counter,
    /// `gauge`
    Gauge,
    /// `histogram`
    Histogram,
    /// `summary`
    Summary,
    /// `untyped`, and the type of a family with no `# TYPE` line.
    Untyped,
    /// `info` (OpenMetrics)
    Info,
    /// `stateset` (OpenMetrics)
    StateSet,
    /// `gaugehistogram` (OpenMetrics)
    GaugeHistogram,
    /// `unknown` (OpenMetrics)
    Unknown,
}

impl MetricType {
    /// The keyword used for this type on a `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::Untyped => "untyped",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Unknown => "unknown",
        }
    }

    /// Reads a `# TYPE` keyword, ignoring ASCII case.
    pub fn from_keyword(keyword: &str) -> Option<MetricType> {
        const ALL: [MetricType; 9] = [
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Histogram,
            MetricType::Summary,
            MetricType::Untyped,
            MetricType::Info,
            MetricType::StateSet,
            MetricType::GaugeHistogram,
            MetricType::Unknown,
        ];
        ALL.into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(keyword))
    }

    /// Sample name suffixes that belong to a family of this type, e.g.
    /// `_bucket` for histograms or `_total` for counters.
    fn sample_suffixes(self) -> &'static [&'static str] {
        match self {
            MetricType::Counter => &["_total", "_created"],
            MetricType::Histogram => &["_bucket", "_sum", "_count", "_created"],
            MetricType::GaugeHistogram => &["_bucket", "_gsum", "_gcount"],
            MetricType::Summary => &["_sum", "_count", "_created"],
            MetricType::Info => &["_info"],
            MetricType::Gauge
            | MetricType::Untyped
            | MetricType::StateSet
            | MetricType::Unknown => &[],
        }
    }
}

/// What `# HELP`, `# TYPE` and `# UNIT` lines say about one metric family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The family name, e.g. `http_request_duration_seconds` for a histogram
    /// whose samples are `http_request_duration_seconds_bucket` and so on.
    pub family: String,
    /// The family's type.
    pub kind: MetricType,
    /// Help text, unescaped.
    pub help: Option<String>,
    /// Unit, from an OpenMetrics `# UNIT` line.
    pub unit: Option<String>,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    /// All labels including `__name__`, sorted by name, without empty values.
    pub labels: Vec<(String, String)>,
    /// The sample value.
    pub value: f64,
    /// Milliseconds since the Unix epoch, when the line gives one.
    pub timestamp: Option<i64>,
}

impl ParsedSample {
    /// The value of the `__name__` label, if any.
    pub fn metric_name(&self) -> Option<&str> {
        self.labels
            .iter()
            .find(|(name, _)| name == METRIC_NAME_LABEL)
            .map(|(_, value)| value.as_str())
    }
}

/// A parsed exposition document.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Exposition {
    /// Samples in document order.
    pub samples: Vec<ParsedSample>,
    /// One entry per family with a `HELP`, `TYPE` or `UNIT` line, in order of
    /// first mention.
    pub metadata: Vec<Metadata>,
}

impl Exposition {
    /// The metadata of the family a sample name belongs to: the family of the
    /// same name, or else one whose type owns the name's suffix (for example
    /// `foo_bucket` belongs to histogram `foo`, `foo_total` to counter `foo`).
    pub fn metadata_for(&self, metric_name: &str) -> Option<&Metadata> {
        family_of(metric_name, |family| {
            self.metadata.iter().find(|m| m.family == family)
        })
    }
}

/// Resolves the family of a sample name, given a lookup from family name to
/// metadata. An exact match wins; otherwise a suffix is stripped if the
/// family so named has a type that owns the suffix.
fn family_of<'m>(
    metric_name: &str,
    lookup: impl Fn(&str) -> Option<&'m Metadata>,
) -> Option<&'m Metadata> {
    if let Some(found) = lookup(metric_name) {
        return Some(found);
    }
    let (stem, suffix) = metric_name.split_at(metric_name.rfind('_')?);
    lookup(stem).filter(|m| m.kind.sample_suffixes().contains(&suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(family: &str, kind: MetricType) -> Metadata {
        Metadata {
            family: family.into(),
            kind,
            help: None,
            unit: None,
        }
    }

    #[test]
    fn suffixed_sample_names_resolve_to_their_family_only_for_matching_types() {
        let doc = Exposition {
            samples: vec![],
            metadata: vec![
                meta("req", MetricType::Histogram),
                meta("lat", MetricType::Summary),
                meta("jobs", MetricType::Counter),
                meta("temp", MetricType::Gauge),
                meta("temp_sum", MetricType::Gauge),
            ],
        };
        let family = |name: &str| doc.metadata_for(name).map(|m| m.family.as_str());
        assert_eq!(family("req_bucket"), Some("req"));
        assert_eq!(family("req_count"), Some("req"));
        assert_eq!(family("req_created"), Some("req"));
        assert_eq!(family("lat_sum"), Some("lat"));
        assert_eq!(family("lat_bucket"), None);
        assert_eq!(family("jobs_total"), Some("jobs"));
        assert_eq!(family("temp"), Some("temp"));
        assert_eq!(family("temp_sum"), Some("temp_sum"));
        assert_eq!(family("temp_count"), None);
        assert_eq!(family("nothing"), None);
    }

    #[test]
    fn type_keywords_round_trip_and_ignore_case() {
        for keyword in [
            "counter",
            "gauge",
            "histogram",
            "summary",
            "untyped",
            "info",
            "stateset",
            "gaugehistogram",
            "unknown",
        ] {
            let kind = MetricType::from_keyword(keyword).expect(keyword);
            assert_eq!(kind.as_str(), keyword);
            assert_eq!(
                MetricType::from_keyword(&keyword.to_ascii_uppercase()),
                Some(kind)
            );
        }
        assert_eq!(MetricType::from_keyword("count"), None);
    }
}
