//! The one error type of this crate and its mapping to Prometheus' API error
//! types, kept in a single place so the HTTP edge never has to guess.

/// Why a query could not be answered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// The query text is not valid PromQL.
    #[error("{}", parse_message(message, *position))]
    Parse {
        message: String,
        /// Byte offset in the query, when the parser reports one.
        position: Option<usize>,
    },
    /// Valid PromQL in a later Prometheus, but not in 2.42 (whose semantics
    /// this engine follows), or a feature this engine does not implement.
    #[error("{0}")]
    Unsupported(String),
    /// The query is valid but cannot be run as asked, such as a range query
    /// over a range vector or a zero step.
    #[error("{0}")]
    InvalidQuery(String),
    /// Evaluation failed, with Prometheus' message for the same failure.
    #[error("{0}")]
    Execution(String),
    /// The storage failed to return series.
    #[error("expanding series: {0}")]
    Storage(String),
    /// The query would hold more samples in memory than the engine allows.
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
}

fn parse_message(message: &str, position: Option<usize>) -> String {
    match position {
        Some(p) => format!("{p}: parse error: {message}"),
        None => format!("parse error: {message}"),
    }
}

impl QueryError {
    /// The `errorType` Prometheus' HTTP API reports for this error:
    /// `bad_data` when the request itself is wrong, `execution` otherwise.
    pub fn error_type(&self) -> &'static str {
        match self {
            QueryError::Parse { .. } | QueryError::Unsupported(_) | QueryError::InvalidQuery(_) => {
                "bad_data"
            }
            QueryError::Execution(_) | QueryError::Storage(_) | QueryError::TooManySamples => {
                "execution"
            }
        }
    }

    pub(crate) fn exec(message: impl Into<String>) -> Self {
        QueryError::Execution(message.into())
    }
}
