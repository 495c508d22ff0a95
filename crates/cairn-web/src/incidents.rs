//! The incidents API. Thin: parse, call the use case, answer JSON.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use crate::api::json_body;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::*;
use crate::AppState;

/// Routes for the OpenAPI document.
pub const ROUTES: &[(&str, &str, &str)] = &[
    ("get", "/api/v1/incidents", "Incidents, newest first; a merchant sees those that hurt it, with the updates written for merchants."),
    ("post", "/api/v1/incidents", "Declare an incident ({title, summary, severity?, alerts[], problem?, services[]}); the severity is suggested from the impact when left out; the on-call is paged."),
    ("get", "/api/v1/incidents/{id}", "An incident with its timeline, severity definition, suggested severity, attached alerts and what its review lacks."),
    ("post", "/api/v1/incidents/{id}/status", "Move it along ({status, note}): investigating, identified, mitigated, resolved, reviewed."),
    ("post", "/api/v1/incidents/{id}/severity", "Change the severity ({severity, reason}); raising it pages again."),
    ("post", "/api/v1/incidents/{id}/roles", "Hand a role to a person ({role: commander|communications|scribe, person})."),
    ("post", "/api/v1/incidents/{id}/notes", "A note or decision in the timeline ({kind, body})."),
    ("post", "/api/v1/incidents/{id}/updates", "A status update ({body, audience: internal|merchants})."),
    ("post", "/api/v1/incidents/{id}/alerts", "Attach alerts ({alerts: [fingerprint]})."),
    ("post", "/api/v1/incidents/{id}/impact", "Override the merchants-hurt estimate ({merchants, reason})."),
    ("post", "/api/v1/incidents/{id}/ack", "Acknowledge the incident's pages."),
    ("put", "/api/v1/incidents/{id}/review", "Write the review (summary, impact, root_cause, cause_category, contributing_factors, went_well, went_badly, responsible_team)."),
    ("post", "/api/v1/incidents/{id}/actions", "Add an action item ({title, owner, due: YYYY-MM-DD, links})."),
    ("post", "/api/v1/incidents/{id}/actions/{action}/done", "Mark an action item done."),
    ("get", "/api/v1/incident-numbers", "MTTA, MTTR, incidents by severity, service, team and cause, repeats, overdue action items (?by=week|month, from, to)."),
    ("get", "/api/v1/severity-definitions", "The written definitions of P1–P4 and the impact thresholds that suggest them."),
    ("put", "/api/v1/severity-definitions", "Replace the severity definitions."),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/incidents", get(list).post(declare))
        .route("/incidents/{id}", get(detail))
        .route("/incidents/{id}/status", post(status))
        .route("/incidents/{id}/severity", post(severity))
        .route("/incidents/{id}/roles", post(role))
        .route("/incidents/{id}/notes", post(note))
        .route("/incidents/{id}/updates", post(update))
        .route("/incidents/{id}/alerts", post(attach))
        .route("/incidents/{id}/impact", post(impact))
        .route("/incidents/{id}/ack", post(ack))
        .route("/incidents/{id}/review", axum::routing::put(review))
        .route("/incidents/{id}/actions", post(action))
        .route("/incidents/{id}/actions/{action}/done", post(action_done))
        .route("/incident-numbers", get(numbers))
        .route(
            "/severity-definitions",
            get(definitions).put(set_definitions),
        )
}

async fn list(State(s): State<AppState>, Caller(p): Caller) -> ApiResult<Response> {
    Ok(Json(s.app.incidents_for(&p).await?).into_response())
}

async fn declare(
    State(s): State<AppState>,
    Caller(p): Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let i = s.app.declare_incident(&p, json_body(body)?).await?;
    Ok((StatusCode::CREATED, Json(i)).into_response())
}

async fn detail(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(s.app.incident_detail(&p, &id).await?).into_response())
}

async fn status(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let b = object(json_body(body)?)?;
    let note = text(&b, "note")?;
    Ok(Json(
        s.app
            .set_incident_status(&p, &id, text(&b, "status")?, Some(note))
            .await?,
    )
    .into_response())
}

async fn severity(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let b = object(json_body(body)?)?;
    Ok(Json(
        s.app
            .set_incident_severity(&p, &id, text(&b, "severity")?, text(&b, "reason")?)
            .await?,
    )
    .into_response())
}

async fn role(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let b = object(json_body(body)?)?;
    Ok(Json(
        s.app
            .set_incident_role(&p, &id, text(&b, "role")?, text(&b, "person")?)
            .await?,
    )
    .into_response())
}

async fn note(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let b = object(json_body(body)?)?;
    let kind = match text(&b, "kind")? {
        "" => "note",
        k => k,
    };
    let i = s
        .app
        .incident_note(&p, &id, kind, text(&b, "body")?)
        .await?;
    Ok((StatusCode::CREATED, Json(i)).into_response())
}

async fn update(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let b = object(json_body(body)?)?;
    let audience = match text(&b, "audience")? {
        "" => "internal",
        a => a,
    };
    let i = s
        .app
        .incident_update(&p, &id, text(&b, "body")?, audience)
        .await?;
    Ok((StatusCode::CREATED, Json(i)).into_response())
}

async fn attach(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let b = object(json_body(body)?)?;
    let fps: Vec<String> = b
        .get("alerts")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("alerts", "must be a list of alert fingerprints"))?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad("alerts", "must be a list of strings"))
        })
        .collect::<ApiResult<_>>()?;
    Ok(Json(s.app.attach_incident_alerts(&p, &id, &fps).await?).into_response())
}

async fn impact(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let b = object(json_body(body)?)?;
    let n = b
        .get("merchants")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("merchants", "must be a whole number"))?;
    Ok(Json(
        s.app
            .override_incident_impact(&p, &id, n as usize, text(&b, "reason")?)
            .await?,
    )
    .into_response())
}

async fn ack(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(s.app.acknowledge_incident(&p, &id).await?).into_response())
}

async fn review(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    Ok(Json(s.app.put_incident_review(&p, &id, json_body(body)?).await?).into_response())
}

async fn action(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let i = s.app.add_incident_action(&p, &id, json_body(body)?).await?;
    Ok((StatusCode::CREATED, Json(i)).into_response())
}

async fn action_done(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path((id, action)): Path<(String, String)>,
) -> ApiResult<Response> {
    Ok(Json(s.app.complete_incident_action(&p, &id, &action).await?).into_response())
}

async fn numbers(State(s): State<AppState>, Caller(p): Caller, q: Params) -> ApiResult<Response> {
    let Query(ps) =
        q.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let one = |name: &str| ps.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if let Some((k, _)) = ps
        .iter()
        .find(|(k, _)| !matches!(k.as_str(), "by" | "from" | "to"))
    {
        return Err(bad(k, "unknown parameter; this route takes by, from, to"));
    }
    let monthly = match one("by") {
        None | Some("week") => false,
        Some("month") => true,
        Some(v) => return Err(bad("by", format!("must be week or month, got {v:?}"))),
    };
    let date = |name: &str| -> ApiResult<Option<time::Date>> {
        one(name)
            .map(|v| cairn_domain::capacity::date_format::parse(v).map_err(|m| bad(name, m)))
            .transpose()
    };
    let to = date("to")?.unwrap_or_else(|| s.app.today());
    let from = date("from")?.unwrap_or(to - time::Duration::days(365));
    Ok(Json(s.app.incident_numbers(&p, monthly, from, to).await?).into_response())
}

async fn definitions(State(s): State<AppState>, Caller(_p): Caller) -> ApiResult<Response> {
    Ok(Json(s.app.severity_definitions().await?).into_response())
}

async fn set_definitions(
    State(s): State<AppState>,
    Caller(p): Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    Ok(Json(s.app.set_severity_definitions(&p, json_body(body)?).await?).into_response())
}
