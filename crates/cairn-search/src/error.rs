//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in `cairn-search`.
///
/// Callers map [`SearchError::Invalid`] to a 4xx naming `field`; the others are the
/// server's problem (a broken or foreign index directory, a full disk).
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// An argument was out of range or malformed; `field` names it.
    #[error("invalid {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The index directory could not be created or opened: missing permissions, or it
    /// holds an index with another schema (delete it and reindex).
    #[error("cannot open the search index at {}: {message}", path.display())]
    Open { path: PathBuf, message: String },
    /// tantivy failed while writing, committing or searching.
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
}

impl SearchError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        SearchError::Invalid {
            field,
            message: message.into(),
        }
    }
}
