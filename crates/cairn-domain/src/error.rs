//! The domain's one error type.

/// What is wrong with a value of the model. Each variant names the field at fault so the
/// HTTP edge can answer with `{"error": {"code", "message", "field"}}` without guessing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    /// A field holds a value outside what the model accepts.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A field names a record that does not exist.
    #[error("{field}: no {kind} with id {id:?}")]
    DanglingReference {
        field: String,
        kind: &'static str,
        id: String,
    },
    /// Adding a service dependency would close a cycle in the topology.
    #[error("{field}: dependency would create a cycle: {path}")]
    Cycle { field: String, path: String },
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        DomainError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The field this error is about.
    pub fn field(&self) -> &str {
        match self {
            DomainError::Invalid { field, .. }
            | DomainError::DanglingReference { field, .. }
            | DomainError::Cycle { field, .. } => field,
        }
    }
}
