//! Who is calling. The API takes `Authorization: Bearer <token>` or the web session
//! cookie; UI pages take the session cookie and send strangers to the sign-in page.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_domain::Principal;

use crate::error::ApiError;
use crate::AppState;

/// The name of the web session cookie.
pub const SESSION_COOKIE: &str = "cairn_session";

/// The value of a cookie in the request, if present.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// An authenticated API caller.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(token) = bearer(parts) {
            return Ok(Caller(s.app.authenticate_token(token).await?));
        }
        if let Some(session) = cookie(parts, SESSION_COOKIE) {
            return Ok(Caller(s.app.authenticate_session(session).await?));
        }
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send an API token as 'Authorization: Bearer <token>'",
        ))
    }
}

/// A signed-in user of the web UI.
pub struct Viewer(pub Principal);

/// Where a stranger to the UI is sent.
pub struct SignInFirst;

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        Redirect::to("/login").into_response()
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = SignInFirst;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let secret = cookie(parts, SESSION_COOKIE).ok_or(SignInFirst)?;
        s.app
            .authenticate_session(secret)
            .await
            .map(Viewer)
            .map_err(|_| SignInFirst)
    }
}
