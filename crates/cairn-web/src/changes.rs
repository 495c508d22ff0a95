//! The changes API. Thin: parse, call the use case, answer JSON.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::Value;

use crate::api::json_body;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::*;
use crate::AppState;

/// Routes for the OpenAPI document.
pub const ROUTES: &[(&str, &str, &str)] = &[
    ("get", "/api/v1/changes", "Change requests, newest first (staff only)."),
    ("post", "/api/v1/changes", "Create a draft ({title, type: standard|normal|emergency, description, targets: {services, hosts, pools, zones, merchants}, window_start, window_end, test_plan, rollback_plan, plan: {by: hosts, steps} | {by: zones, order} | {by: explicit, batches}, executor, rollback, gate, freeze_exception}). Command executors are for admins only."),
    ("get", "/api/v1/changes/{id}", "A change with its risk factors, approvals, batches, outputs, gate verdicts and log."),
    ("put", "/api/v1/changes/{id}", "Replace a draft's request."),
    ("post", "/api/v1/changes/{id}/submit", "Submit a draft: required fields by type, targets resolved into batches, risk scored, freezes checked, approvals set."),
    ("post", "/api/v1/changes/{id}/approve", "Approve or reject ({approve: bool, comment}); emergency changes are approved after the fact."),
    ("post", "/api/v1/changes/{id}/risk", "Override the risk level ({level: low|medium|high, reason})."),
    ("post", "/api/v1/changes/{id}/start", "Start the gray release of an approved change inside its window."),
    ("post", "/api/v1/changes/{id}/{action}", "pause, resume, skip (the current batch) or abort."),
    ("post", "/api/v1/changes/{id}/rollback", "Run the rollback plan now ({reason})."),
    ("post", "/api/v1/changes/{id}/batches/{batch}/callback", "A webhook executor reports a batch ({status: succeeded|failed, output}); authorised by the key in the callback URL."),
    ("get", "/api/v1/change-policy", "Which approvals each risk level needs."),
    ("put", "/api/v1/change-policy", "Replace the approval policy (admin)."),
    ("get", "/api/v1/freezes", "Freeze windows: derived from the promotion calendar and made by hand."),
    ("post", "/api/v1/freezes", "Declare a freeze ({name, starts_at, ends_at, zones})."),
    ("delete", "/api/v1/freezes/{id}", "Lift a hand-made freeze."),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/changes", get(list).post(create))
        .route("/changes/{id}", get(detail).put(update))
        .route("/changes/{id}/submit", post(submit))
        .route("/changes/{id}/approve", post(approve))
        .route("/changes/{id}/risk", post(risk))
        .route("/changes/{id}/start", post(start))
        .route("/changes/{id}/rollback", post(rollback))
        .route("/changes/{id}/{action}", post(control))
        .route("/changes/{id}/batches/{batch}/callback", post(callback))
        .route("/change-policy", get(policy).put(set_policy))
        .route("/freezes", get(freezes).post(add_freeze))
        .route("/freezes/{id}", delete(delete_freeze))
}

async fn list(State(s): State<AppState>, Caller(p): Caller) -> ApiResult<Response> {
    Ok(Json(s.app.changes(&p).await?).into_response())
}

async fn create(
    State(s): State<AppState>,
    Caller(p): Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let c = s.app.create_change(&p, json_body(body)?).await?;
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

async fn detail(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(s.app.change(&p, &id).await?).into_response())
}

async fn update(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    Ok(Json(s.app.update_change(&p, &id, json_body(body)?).await?).into_response())
}

async fn submit(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(s.app.submit_change(&p, &id).await?).into_response())
}

async fn approve(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let b = object(json_body(body)?)?;
    // The use case checks the role before it reads the answer.
    let yes = b.get("approve").and_then(Value::as_bool);
    Ok(Json(
        s.app
            .review_change(&p, &id, yes, text(&b, "comment")?)
            .await?,
    )
    .into_response())
}

async fn risk(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let b = object(json_body(body)?)?;
    Ok(Json(
        s.app
            .override_change_risk(&p, &id, text(&b, "level")?, text(&b, "reason")?)
            .await?,
    )
    .into_response())
}

async fn start(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(s.app.start_change(&p, &id).await?).into_response())
}

async fn rollback(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let b = object(json_body(body)?)?;
    Ok(Json(s.app.rollback_change(&p, &id, text(&b, "reason")?).await?).into_response())
}

async fn control(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path((id, action)): Path<(String, String)>,
) -> ApiResult<Response> {
    Ok(Json(s.app.control_change(&p, &id, &action).await?).into_response())
}

async fn callback(
    State(s): State<AppState>,
    Path((id, batch)): Path<(String, String)>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let Query(ps) =
        q.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let key = ps
        .iter()
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| bad("key", "the callback URL's key is missing"))?;
    let n: usize = batch
        .parse()
        .map_err(|_| bad("batch", format!("must be a batch number, got {batch:?}")))?;
    let c = s
        .app
        .change_callback(&id, n, &key, object(json_body(body)?)?)
        .await?;
    Ok(Json(serde_json::json!({"id": c.id, "state": c.state})).into_response())
}

async fn policy(State(s): State<AppState>, Caller(p): Caller) -> ApiResult<Response> {
    if p.role == cairn_domain::Role::Merchant {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "role merchant may not read the approval policy",
        ));
    }
    Ok(Json(s.app.change_policy().await?).into_response())
}

async fn set_policy(
    State(s): State<AppState>,
    Caller(p): Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    Ok(Json(s.app.set_change_policy(&p, json_body(body)?).await?).into_response())
}

async fn freezes(State(s): State<AppState>, Caller(p): Caller) -> ApiResult<Response> {
    Ok(Json(s.app.freezes_for(&p).await?).into_response())
}

async fn add_freeze(
    State(s): State<AppState>,
    Caller(p): Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let f = s.app.add_freeze(&p, json_body(body)?).await?;
    Ok((StatusCode::CREATED, Json(f)).into_response())
}

async fn delete_freeze(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    s.app.delete_freeze(&p, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
