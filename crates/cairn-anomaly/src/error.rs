/// Everything that can go wrong in this crate: only parsing of benchmark text and
/// label-to-row mapping can fail; detectors accept any input.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AnomalyError {
    /// A timestamp that is not `YYYY-MM-DD HH:MM:SS[.ffffff]`.
    #[error("timestamp {0:?} is not YYYY-MM-DD HH:MM:SS[.ffffff]")]
    Timestamp(String),
    /// A CSV line that could not be read.
    #[error("CSV line {line}: {message}")]
    Csv {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// A label file that is not NAB's `{file: [[start, end], ...]}` JSON.
    #[error("labels: {0}")]
    Labels(String),
    /// A window boundary whose timestamp occurs in no row of the file.
    #[error("window boundary {timestamp_ms} ms matches no row of the file")]
    WindowBoundary {
        /// The boundary, in milliseconds since the epoch.
        timestamp_ms: i64,
    },
}
