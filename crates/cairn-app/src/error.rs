//! The use-case layer's one error type. The HTTP edge maps each variant to a status
//! code and a stable `code` string in one place (`cairn_web::error`).

use cairn_domain::DomainError;
use cairn_store::StoreError;

pub type Result<T, E = AppError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input is malformed: not JSON, wrong type, unknown or missing field.
    #[error("{message}")]
    BadInput {
        field: Option<String>,
        message: String,
    },
    /// The input is well-formed but breaks a rule of the model.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// No credentials, or credentials that are not valid.
    #[error("{0}")]
    Unauthenticated(String),
    /// The principal may not do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("no {kind} with id {id:?}")]
    NotFound { kind: String, id: String },
    #[error("{0}")]
    Conflict(String),
    /// A bulk import with bad rows; nothing was written.
    #[error("{} of {} rows are invalid; nothing was imported", .0.bad_rows, .0.rows)]
    Import(crate::import::ImportReport),
    #[error(transparent)]
    Store(StoreError),
    /// A PromQL query failed; `error_type` is Prometheus' (`bad_data`, `execution`, ...).
    #[error("{message}")]
    Query {
        error_type: &'static str,
        message: String,
    },
    /// A part of the platform this server does not run, or that is down.
    #[error("{0}")]
    Unavailable(String),
    /// A failure that is the server's, not the request's; logged, not shown.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn bad_input(field: impl Into<Option<String>>, message: impl Into<String>) -> AppError {
        AppError::BadInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(kind: impl Into<String>, id: impl Into<String>) -> AppError {
        AppError::NotFound {
            kind: kind.into(),
            id: id.into(),
        }
    }

    /// The field the error is about, if one is known.
    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::BadInput { field, .. } => field.as_deref(),
            AppError::Domain(d) => Some(d.field()),
            _ => None,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { kind, id } => AppError::NotFound {
                kind: kind.singular().to_owned(),
                id,
            },
            StoreError::Conflict(m) => AppError::Conflict(m),
            other => AppError::Store(other),
        }
    }
}
