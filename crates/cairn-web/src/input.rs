//! Reading request input the same way on every API route: query parameters checked
//! against the route's list, JSON object bodies, string fields; every refusal a 400
//! that names the parameter or field.

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::StatusCode;
use serde_json::Value;

use crate::error::ApiError;

pub type ApiResult<T> = Result<T, ApiError>;

/// A route's query string as name-value pairs, in order.
pub type Params = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// A 400 about one field.
pub fn bad(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message).field(field)
}

/// The query's pairs, refusing any parameter the route does not take.
pub fn params(q: Params, allowed: &[&str]) -> ApiResult<Vec<(String, String)>> {
    let Query(v) =
        q.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    if let Some((k, _)) = v.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("unknown parameter; this route takes {}", allowed.join(", ")),
        )
        .field(k.clone()));
    }
    Ok(v)
}

/// The first value of parameter `name`.
pub fn one<'a>(ps: &'a [(String, String)], name: &str) -> Option<&'a str> {
    ps.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A body that must be a JSON object.
pub fn object(body: Value) -> ApiResult<Value> {
    if body.is_object() {
        Ok(body)
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the body must be a JSON object",
        ))
    }
}

/// A string field of an object body: absent or null is `None`.
pub fn field<'a>(body: &'a Value, name: &str) -> ApiResult<Option<&'a str>> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(name, "must be a string")),
    }
}

/// A string field of an object body, empty when absent.
pub fn text<'a>(body: &'a Value, name: &str) -> ApiResult<&'a str> {
    Ok(field(body, name)?.unwrap_or(""))
}
