//! cairn's HTTP edge: the JSON API under `/api/v1`, its OpenAPI document, the
//! server-rendered web UI, health and readiness probes, and `/metrics`.
//!
//! Handlers are thin: they extract and frame input, call a use case of `cairn_app`,
//! and map the result to a response. Errors map to status codes in one place
//! ([`error`]). No SQL and no business rule lives here.

pub mod alerting;
pub mod api;
pub mod auth;
mod capacity;
mod changes;
pub mod error;
mod incidents;
mod input;
pub mod metrics;
pub mod openapi;
pub mod prom;
mod tickets;
pub mod ui;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use cairn_app::App;

/// Settings of the HTTP edge.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Whether session cookies are marked `Secure` (set when served over HTTPS).
    pub secure_cookies: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            body_limit: 16 * 1024 * 1024,
            secure_cookies: false,
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub config: WebConfig,
    pub metrics: Arc<metrics::Metrics>,
}

/// The whole HTTP surface of cairn.
pub fn router(app: App, config: WebConfig) -> Router {
    let state = AppState {
        app,
        config: config.clone(),
        metrics: Arc::new(metrics::Metrics::default()),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::render))
        .route("/api/openapi.json", get(openapi::serve))
        .nest(
            "/api/v1",
            api::router()
                .merge(capacity::router())
                .merge(alerting::api_router())
                .merge(tickets::router())
                .merge(incidents::router())
                .merge(changes::router()),
        )
        .nest("/alertmanager", alerting::alertmanager_router())
        .merge(alerting::link_router())
        .nest("/prometheus", prom::router())
        .merge(ui::router())
        .fallback(error::fallback)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            error::panic_response,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(120),
        ))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    match s.app.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unreachable: {e}\n"),
        ),
    }
}
