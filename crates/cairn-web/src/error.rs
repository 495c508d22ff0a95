//! The one place where errors become HTTP statuses. Every error answers
//! `{"error": {"code": "...", "message": "...", "field": "..."}}`.

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cairn_app::AppError;
use cairn_domain::DomainError;
use serde_json::json;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Extra members of the response object (an import report).
    pub extra: Option<(&'static str, serde_json::Value)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            extra: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let field = e.field().map(str::to_owned);
        let (status, code) = match &e {
            AppError::BadInput { .. } => (StatusCode::BAD_REQUEST, "bad_request"),
            AppError::Domain(DomainError::Invalid { .. }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
            }
            AppError::Domain(DomainError::DanglingReference { .. }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "dangling_reference")
            }
            AppError::Domain(DomainError::Cycle { .. }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "cycle")
            }
            AppError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::Import(_) => (StatusCode::UNPROCESSABLE_ENTITY, "import_rejected"),
            AppError::Store(s) if s.is_unavailable() => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            AppError::Store(_) | AppError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
            AppError::Query { error_type, .. } if *error_type == "bad_data" => {
                (StatusCode::BAD_REQUEST, "bad_query")
            }
            AppError::Query { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "query_failed"),
            AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        };
        let message = match &e {
            // Written for the caller: what is down and when to retry.
            AppError::Unavailable(m) => {
                tracing::warn!(error = %m, "request refused: unavailable");
                m.clone()
            }
            _ if status.is_server_error() => {
                tracing::error!(error = %e, "request failed");
                "the server failed to handle the request; see its log".to_owned()
            }
            _ => e.to_string(),
        };
        let extra = match &e {
            AppError::Import(report) => {
                Some(("report", serde_json::to_value(report).unwrap_or_default()))
            }
            _ => None,
        };
        ApiError {
            status,
            code,
            message,
            field,
            extra,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "error": { "code": self.code, "message": self.message, "field": self.field }
        });
        if let Some((k, v)) = self.extra {
            body[k] = v;
        }
        (self.status, Json(body)).into_response()
    }
}

pub async fn fallback(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        format!("no route for {}", uri.path()),
    )
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

/// A panic is a bug; the client gets a JSON 500 and the log gets the message.
pub fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let msg = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = msg, "handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the server failed to handle the request; see its log",
    )
    .into_response()
}
