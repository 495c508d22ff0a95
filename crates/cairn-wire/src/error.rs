//! The one error type of this crate.

/// Everything that can be wrong with a remote write body or an exposition
/// document.
///
/// Messages are written for the person who sent the data: they name the
/// series and label, or the line, and what was expected. [`WireError::code`]
/// gives a stable machine-readable code for each variant so that the HTTP edge
/// can map errors to statuses in one place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The body is not a valid snappy block (remote write uses the block
    /// format, not the framed/streaming one).
    #[error("body is not a valid snappy block: {reason}")]
    Snappy {
        /// What the snappy decoder reported.
        reason: String,
    },
    /// The body would decompress to more bytes than allowed.
    #[error("body decompresses to {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Decompressed size announced in the snappy header.
        size: u64,
        /// The limit in force.
        limit: u64,
    },
    /// The decompressed body is not a valid `prometheus.WriteRequest`.
    #[error("body is not a valid remote write protobuf message: {reason}")]
    Protobuf {
        /// What the protobuf decoder reported.
        reason: String,
    },
    /// A label name does not match `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("series {series}: invalid label name {name:?} (label names must match [a-zA-Z_][a-zA-Z0-9_]*)")]
    InvalidLabelName {
        /// The series' labels as sent, shortened if very long.
        series: String,
        /// The offending label name.
        name: String,
    },
    /// The `__name__` label's value does not match `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    #[error("series {series}: invalid metric name {name:?} in label \"__name__\" (metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*)")]
    InvalidMetricName {
        /// The series' labels as sent, shortened if very long.
        series: String,
        /// The offending metric name.
        name: String,
    },
    /// The series has no (non-empty) `__name__` label.
    #[error("series {series}: missing metric name (no non-empty label \"__name__\")")]
    MissingMetricName {
        /// The series' labels as sent, shortened if very long.
        series: String,
    },
    /// The same label name appears twice in one series.
    #[error("series {series}: label {name:?} appears more than once")]
    DuplicateLabel {
        /// The series' labels as sent, shortened if very long.
        series: String,
        /// The repeated label name.
        name: String,
    },
    /// A text exposition document is malformed.
    #[error("line {line}: {reason}")]
    Exposition {
        /// 1-based line number.
        line: usize,
        /// What is wrong on that line.
        reason: String,
    },
}

impl WireError {
    /// A stable, machine-readable code for this kind of error.
    ///
    /// Codes never change once published; the HTTP edge maps them to
    /// statuses and may return them to clients.
    pub fn code(&self) -> &'static str {
        match self {
            WireError::Snappy { .. } => "wire.snappy_invalid",
            WireError::TooLarge { .. } => "wire.body_too_large",
            WireError::Protobuf { .. } => "wire.protobuf_invalid",
            WireError::InvalidLabelName { .. } => "wire.label_name_invalid",
            WireError::InvalidMetricName { .. } => "wire.metric_name_invalid",
            WireError::MissingMetricName { .. } => "wire.metric_name_missing",
            WireError::DuplicateLabel { .. } => "wire.label_duplicate",
            WireError::Exposition { .. } => "wire.exposition_invalid",
        }
    }
}
