//! The web UI (placeholder while it is written).
use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
