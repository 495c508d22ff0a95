//! Prometheus remote write 1.0.
//!
//! A remote write request body is a `prometheus.WriteRequest` protobuf
//! (`prompb/remote.proto`, `prompb/types.proto`) compressed with snappy's
//! *block* format. The messages below are written by hand with
//! `#[derive(prost::Message)]` so the crate needs no build script or `protoc`;
//! their field numbers are those of the upstream `.proto` files, and a golden
//! byte test pins them.
//!
//! Native histograms (`TimeSeries.histograms`, field 4) are **not supported**:
//! they are kept as opaque encoded messages so that they can be counted
//! ([`WriteRequest::native_histogram_count`]) and forwarded unchanged by
//! [`encode_write_request`], but [`into_series`] ignores them. Exemplars are
//! decoded but likewise ignored by [`into_series`].

use prost::Message;

use crate::exposition::{Metadata, MetricType};
use crate::names::{is_valid_label_name, is_valid_metric_name, METRIC_NAME_LABEL};
use crate::WireError;

/// The default limit on a decompressed request body: 64 MiB.
pub const MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;

/// `prometheus.WriteRequest`. Field 2 is reserved upstream.
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    /// The series in this request, each with its samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    /// Metric family metadata (type, help, unit), sent separately from series.
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    /// Labels, which senders should sort by name without duplicates;
    /// [`into_series`] checks rather than trusts that.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Float samples.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Exemplars, decoded but not used by [`into_series`].
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
    /// Native histograms as the raw bytes of each encoded
    /// `prometheus.Histogram` message. They are not interpreted (native
    /// histograms are not supported), only counted and passed through.
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub histograms: Vec<Vec<u8>>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, Hash, Message)]
pub struct Label {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    /// The sample value. Prometheus' stale marker is a NaN with a special bit
    /// pattern; the bits are preserved.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.Exemplar`.
#[derive(Clone, PartialEq, Message)]
pub struct Exemplar {
    /// Exemplar labels, such as a trace id; may be empty.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// The exemplar's value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// `prometheus.MetricMetadata`.
#[derive(Clone, PartialEq, Message)]
pub struct MetricMetadata {
    /// A [`MetadataType`] as its protobuf number; read it with
    /// the generated `r#type()` getter or [`MetricMetadata::kind`].
    #[prost(enumeration = "MetadataType", tag = "1")]
    pub r#type: i32,
    /// The family name, e.g. `http_requests` for `http_requests_total`.
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// Help text.
    #[prost(string, tag = "4")]
    pub help: String,
    /// Unit, e.g. `seconds`; empty when unknown.
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// `prometheus.MetricMetadata.MetricType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetadataType {
    /// Unknown or untyped.
    Unknown = 0,
    /// A monotonically increasing counter.
    Counter = 1,
    /// A value that can go up and down.
    Gauge = 2,
    /// A classic (bucketed) histogram.
    Histogram = 3,
    /// A histogram whose buckets may go down.
    GaugeHistogram = 4,
    /// A summary with quantiles.
    Summary = 5,
    /// An info metric (constant 1 with informational labels).
    Info = 6,
    /// A set of boolean states.
    StateSet = 7,
}

impl WriteRequest {
    /// Number of float samples across all series.
    pub fn sample_count(&self) -> usize {
        self.timeseries.iter().map(|ts| ts.samples.len()).sum()
    }

    /// Number of native histogram samples across all series. These are not
    /// supported and are dropped by [`into_series`]; callers should count and
    /// report them.
    pub fn native_histogram_count(&self) -> usize {
        self.timeseries.iter().map(|ts| ts.histograms.len()).sum()
    }

    /// Number of exemplars across all series; [`into_series`] drops them.
    pub fn exemplar_count(&self) -> usize {
        self.timeseries.iter().map(|ts| ts.exemplars.len()).sum()
    }
}

impl MetricMetadata {
    /// The metric type as the exposition module names it. Numbers outside
    /// the enum (from newer senders) read as [`MetricType::Unknown`].
    pub fn kind(&self) -> MetricType {
        match MetadataType::try_from(self.r#type) {
            Ok(MetadataType::Counter) => MetricType::Counter,
            Ok(MetadataType::Gauge) => MetricType::Gauge,
            Ok(MetadataType::Histogram) => MetricType::Histogram,
            Ok(MetadataType::GaugeHistogram) => MetricType::GaugeHistogram,
            Ok(MetadataType::Summary) => MetricType::Summary,
            Ok(MetadataType::Info) => MetricType::Info,
            Ok(MetadataType::StateSet) => MetricType::StateSet,
            Ok(MetadataType::Unknown) | Err(_) => MetricType::Unknown,
        }
    }
}

/// The Prometheus name of a `MetricMetadata.type` number as the metadata API
/// spells it (`counter`, `gaugehistogram`, ...); `unknown` for 0 and for
/// numbers this crate does not know.
pub fn metric_type_name(number: i32) -> &'static str {
    let metadata = MetricMetadata {
        r#type: number,
        ..Default::default()
    };
    metadata.kind().as_str()
}

impl From<MetricType> for MetadataType {
    /// Remote write has no "untyped"; like Prometheus, it becomes `Unknown`.
    fn from(kind: MetricType) -> Self {
        match kind {
            MetricType::Counter => MetadataType::Counter,
            MetricType::Gauge => MetadataType::Gauge,
            MetricType::Histogram => MetadataType::Histogram,
            MetricType::GaugeHistogram => MetadataType::GaugeHistogram,
            MetricType::Summary => MetadataType::Summary,
            MetricType::Info => MetadataType::Info,
            MetricType::StateSet => MetadataType::StateSet,
            MetricType::Untyped | MetricType::Unknown => MetadataType::Unknown,
        }
    }
}

impl From<&Metadata> for MetricMetadata {
    fn from(metadata: &Metadata) -> Self {
        MetricMetadata {
            r#type: MetadataType::from(metadata.kind).into(),
            metric_family_name: metadata.family.clone(),
            help: metadata.help.clone().unwrap_or_default(),
            unit: metadata.unit.clone().unwrap_or_default(),
        }
    }
}

/// Decodes a remote write request body with the default
/// [`MAX_DECOMPRESSED_BYTES`] limit.
pub fn decode_write_request(body: &[u8]) -> Result<WriteRequest, WireError> {
    decode_write_request_with_limit(body, MAX_DECOMPRESSED_BYTES)
}

/// Decodes a remote write request body: snappy block decompression, then
/// protobuf.
///
/// The decompressed length announced in the snappy header is checked against
/// `max_decompressed` before anything is allocated for it, so a small body
/// cannot make the decoder allocate gigabytes.
pub fn decode_write_request_with_limit(
    body: &[u8],
    max_decompressed: usize,
) -> Result<WriteRequest, WireError> {
    let snappy_error = |e: snap::Error| WireError::Snappy {
        reason: e.to_string(),
    };
    let size = snap::raw::decompress_len(body).map_err(snappy_error)?;
    if size > max_decompressed {
        return Err(WireError::TooLarge {
            size: size as u64,
            limit: max_decompressed as u64,
        });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(snappy_error)?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| WireError::Protobuf {
        reason: e.to_string(),
    })
}

/// Encodes a request as a remote write body: protobuf, then snappy block
/// compression.
///
/// # Panics
///
/// Panics if the encoded protobuf exceeds snappy's block limit of
/// 4 GiB − 1 bytes, far beyond anything a remote write receiver accepts.
pub fn encode_write_request(req: &WriteRequest) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .expect("a remote write request must encode to less than 4 GiB")
}

/// Encodes a request as bare protobuf, without compression. Two such encodings
/// concatenated decode as one request holding the series of both (protobuf merges
/// repeated fields), which lets a sender batch queued requests without decoding them.
pub fn encode_protobuf(req: &WriteRequest) -> Vec<u8> {
    req.encode_to_vec()
}

/// Snappy block compression of a remote write body (see [`encode_protobuf`]).
///
/// # Panics
///
/// Panics if `raw` exceeds snappy's block limit of 4 GiB − 1 bytes.
pub fn compress(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .expect("a remote write request must encode to less than 4 GiB")
}

/// One validated series from a remote write request.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedSeries {
    /// Labels sorted by name, including `__name__`, without empty values.
    pub labels: Vec<(String, String)>,
    /// `(timestamp_ms, value)` pairs in the order they were sent.
    pub samples: Vec<(i64, f64)>,
}

/// Validates a decoded request and turns it into series.
///
/// For each series, every label name must match `[a-zA-Z_][a-zA-Z0-9_]*` and
/// appear once; labels with empty values are then dropped (Prometheus treats
/// an empty value as an absent label) and the rest sorted by name. The series
/// must have a `__name__` whose value matches `[a-zA-Z_:][a-zA-Z0-9_:]*`.
/// The first invalid series fails the whole request, with an error naming the
/// series and the label.
///
/// Series that carry no float samples (for example only native histograms)
/// are validated and then left out. Exemplars, native histograms and
/// `metadata` are not part of the result.
pub fn into_series(req: WriteRequest) -> Result<Vec<DecodedSeries>, WireError> {
    let mut out = Vec::with_capacity(req.timeseries.len());
    for ts in req.timeseries {
        let labels = validate_labels(ts.labels)?;
        if ts.samples.is_empty() {
            continue;
        }
        let samples = ts
            .samples
            .into_iter()
            .map(|s| (s.timestamp, s.value))
            .collect();
        out.push(DecodedSeries { labels, samples });
    }
    Ok(out)
}

fn validate_labels(labels: Vec<Label>) -> Result<Vec<(String, String)>, WireError> {
    let mut pairs: Vec<(String, String)> = labels.into_iter().map(|l| (l.name, l.value)).collect();
    if let Some((name, _)) = pairs.iter().find(|(name, _)| !is_valid_label_name(name)) {
        return Err(WireError::InvalidLabelName {
            series: describe_series(&pairs),
            name: name.clone(),
        });
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(pair) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(WireError::DuplicateLabel {
            series: describe_series(&pairs),
            name: pair[0].0.clone(),
        });
    }
    pairs.retain(|(_, value)| !value.is_empty());
    match pairs.iter().find(|(name, _)| name == METRIC_NAME_LABEL) {
        None => Err(WireError::MissingMetricName {
            series: describe_series(&pairs),
        }),
        Some((_, metric)) if !is_valid_metric_name(metric) => Err(WireError::InvalidMetricName {
            series: describe_series(&pairs),
            name: metric.clone(),
        }),
        Some(_) => Ok(pairs),
    }
}

/// Longest series description put into an error message, in bytes.
const MAX_SERIES_DESCRIPTION: usize = 256;

/// Renders labels as `{name="value", ...}` for error messages, cut short for
/// pathological series so that errors stay readable.
fn describe_series(labels: &[(String, String)]) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
        out.push('=');
        out.push_str(&format!("{value:?}"));
        if out.len() > MAX_SERIES_DESCRIPTION {
            let mut cut = MAX_SERIES_DESCRIPTION;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push_str("...");
            break;
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_series_descriptions_are_cut_at_a_char_boundary() {
        let labels = vec![("__name__".to_string(), format!("x{}", "é".repeat(400)))];
        let text = describe_series(&labels);
        assert!(text.len() < MAX_SERIES_DESCRIPTION + 8, "{}", text.len());
        assert!(text.ends_with("...}"), "{text}");
        assert!(text.starts_with("{__name__=\"xé"), "{text}");
    }

    #[test]
    fn metadata_types_map_both_ways() {
        for kind in [
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Histogram,
            MetricType::GaugeHistogram,
            MetricType::Summary,
            MetricType::Info,
            MetricType::StateSet,
            MetricType::Unknown,
        ] {
            let proto = MetricMetadata {
                r#type: MetadataType::from(kind).into(),
                ..Default::default()
            };
            assert_eq!(proto.kind(), kind);
        }
        let untyped = MetricMetadata::from(&Metadata {
            family: "x".into(),
            kind: MetricType::Untyped,
            help: None,
            unit: None,
        });
        assert_eq!(untyped.kind(), MetricType::Unknown);
        let future = MetricMetadata {
            r#type: 42,
            ..Default::default()
        };
        assert_eq!(future.kind(), MetricType::Unknown);
        assert_eq!(metric_type_name(42), "unknown");
        assert_eq!(metric_type_name(1), "counter");
        assert_eq!(metric_type_name(4), "gaugehistogram");
        assert_eq!(metric_type_name(7), "stateset");
    }
}
