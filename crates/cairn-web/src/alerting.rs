//! The alerting edge: Alertmanager's API v2 under `/alertmanager` (so an existing
//! Prometheus can use cairn as its Alertmanager), cairn's own alerting API under
//! `/api/v1`, and the signed acknowledge links of notifications (`/alerts/ack`).

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::api::{body_bytes, json_body};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::*;
use crate::AppState;

/// Routes for the OpenAPI document: method, path, summary.
pub const ROUTES: &[(&str, &str, &str)] = &[
    ("get", "/api/v1/alerts", "Alerts not yet resolved (?all=true: also those resolved and still kept), each with the hosts, pools, services and merchants it touches, VIPs first."),
    ("get", "/api/v1/alerts/{id}", "One alert by fingerprint, with its history."),
    ("post", "/api/v1/alerts/{id}/ack", "Acknowledge an alert (or a notification group by its key): escalation stops."),
    ("post", "/api/v1/alerts/{id}/resolve", "Resolve an alert by hand."),
    ("get", "/api/v1/alert-history", "The alert history, newest first (?fingerprint, ?alertname, ?before=SEQ, ?limit)."),
    ("get", "/api/v1/problems", "Firing alerts grouped along the service topology, each problem with its probable root."),
    ("get", "/api/v1/rules", "Every alerting and recording rule with its health (last evaluation, duration, error)."),
    ("post", "/api/v1/rules", "Import a Prometheus rule file unchanged (YAML body, ?name=FILE); checked first, every error named."),
    ("delete", "/api/v1/rules/{name}", "Remove a rule file."),
    ("get", "/api/v1/alerting/config", "The routing configuration (Alertmanager's YAML)."),
    ("put", "/api/v1/alerting/config", "Replace the routing configuration (YAML body), checked first."),
    ("get", "/api/v1/notifications", "Every notification delivery attempt, newest first (?before=SEQ, ?limit)."),
    ("get", "/api/v1/silences", "Silences, Alertmanager's shape."),
    ("post", "/api/v1/silences", "Create or update a silence (Alertmanager's postableSilence)."),
    ("delete", "/api/v1/silences/{id}", "Expire a silence."),
    ("get", "/api/v1/oncall", "Schedules with who is on call now and the next week's shifts (?days)."),
    ("post", "/api/v1/oncall/schedules", "Create or replace an on-call schedule."),
    ("delete", "/api/v1/oncall/schedules/{id}", "Delete an on-call schedule."),
    ("get", "/api/v1/escalation-policies", "Escalation policies."),
    ("post", "/api/v1/escalation-policies", "Create or replace an escalation policy (levels, delays, repeats, matchers)."),
    ("delete", "/api/v1/escalation-policies/{id}", "Delete an escalation policy."),
    ("get", "/api/v1/anomalies", "What each anomaly detector says of its series now."),
    ("post", "/alertmanager/api/v2/alerts", "Alertmanager API v2: post alerts (Prometheus' alerting target)."),
    ("get", "/alertmanager/api/v2/alerts", "Alertmanager API v2: alerts (?filter, ?active, ?silenced, ?inhibited, ?receiver)."),
    ("get", "/alertmanager/api/v2/alerts/groups", "Alertmanager API v2: alert groups."),
    ("get", "/alertmanager/api/v2/silences", "Alertmanager API v2: silences."),
    ("post", "/alertmanager/api/v2/silences", "Alertmanager API v2: create or update a silence."),
    ("get", "/alertmanager/api/v2/silence/{id}", "Alertmanager API v2: one silence."),
    ("delete", "/alertmanager/api/v2/silence/{id}", "Alertmanager API v2: expire a silence."),
    ("get", "/alertmanager/api/v2/status", "Alertmanager API v2: status and configuration."),
];

/// `/api/v1` routes.
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/alerts", get(alerts))
        .route("/alerts/{id}", get(alert))
        .route("/alerts/{id}/ack", post(ack))
        .route("/alerts/{id}/resolve", post(resolve))
        .route("/alert-history", get(history))
        .route("/problems", get(problems))
        .route("/rules", get(rules).post(import_rules))
        .route("/rules/{name}", delete(delete_rules))
        .route("/alerting/config", get(get_config).put(put_config))
        .route("/notifications", get(notifications))
        .route("/silences", get(silences).post(post_silence))
        .route("/silences/{id}", delete(expire_silence))
        .route("/oncall", get(oncall))
        .route("/oncall/schedules", post(put_schedule))
        .route("/oncall/schedules/{id}", delete(delete_schedule))
        .route("/escalation-policies", get(policies).post(put_policy))
        .route("/escalation-policies/{id}", delete(delete_policy))
        .route("/anomalies", get(anomalies))
}

/// `/alertmanager` routes.
pub fn alertmanager_router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/alerts", get(am_alerts).post(am_post_alerts))
        .route("/api/v2/alerts/groups", get(am_groups))
        .route("/api/v2/silences", get(silences).post(am_post_silence))
        .route(
            "/api/v2/silence/{id}",
            get(am_silence).delete(expire_silence),
        )
        .route("/api/v2/status", get(am_status))
        .route("/-/healthy", get(|| async { "OK" }))
        .route("/-/ready", get(|| async { "OK" }))
}

/// `/alerts/ack`: the signed links of notifications.
pub fn link_router() -> Router<AppState> {
    Router::new().route("/alerts/ack", get(link_page).post(link_act))
}

fn int(ps: &[(String, String)], name: &str) -> ApiResult<Option<i64>> {
    one(ps, name)
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("must be a whole number, got {v:?}"),
                )
                .field(name)
            })
        })
        .transpose()
}

fn limit(ps: &[(String, String)]) -> ApiResult<u32> {
    match int(ps, "limit")? {
        None => Ok(100),
        Some(n) if (1..=1000).contains(&n) => Ok(n as u32),
        Some(n) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("must be from 1 to 1000, got {n}"),
        )
        .field("limit")),
    }
}

fn flag(ps: &[(String, String)], name: &str, default: bool) -> ApiResult<bool> {
    match one(ps, name) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(v) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("must be true or false, got {v:?}"),
        )
        .field(name)),
    }
}

fn text_body(body: Result<Bytes, BytesRejection>) -> ApiResult<String> {
    let bytes = body_bytes(body)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_body",
            "the body is not UTF-8 text",
        )
    })
}

async fn alerts(State(s): State<AppState>, Caller(p): Caller, q: Params) -> ApiResult<Response> {
    let ps = params(q, &["all"])?;
    let all = flag(&ps, "all", false)?;
    Ok(Json(s.app.alerts(&p, all).await?).into_response())
}

async fn alert(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (alert, history) = s.app.alert(&p, &id).await?;
    Ok(Json(json!({"alert": alert, "history": history})).into_response())
}

async fn ack(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let n = s.app.acknowledge(&p, &id).await?;
    Ok(Json(json!({"acknowledged": n})).into_response())
}

async fn resolve(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let n = s.app.resolve_alert(&p, &id).await?;
    Ok(Json(json!({"resolved": n})).into_response())
}

async fn history(State(s): State<AppState>, Caller(p): Caller, q: Params) -> ApiResult<Response> {
    let ps = params(q, &["fingerprint", "alertname", "before", "limit"])?;
    let rows = s
        .app
        .alert_history(
            &p,
            cairn_store::HistoryQuery {
                fingerprint: one(&ps, "fingerprint").map(str::to_owned),
                alertname: one(&ps, "alertname").map(str::to_owned),
                before_seq: int(&ps, "before")?,
                limit: limit(&ps)?,
            },
        )
        .await?;
    let next = rows.last().map(|r| r.seq);
    Ok(Json(json!({"items": rows, "next_before": next})).into_response())
}

async fn problems(State(s): State<AppState>, Caller(p): Caller) -> ApiResult<Response> {
    Ok(Json(s.app.problems(&p).await?).into_response())
}

async fn rules(State(s): State<AppState>, Caller(p): Caller) -> ApiResult<Response> {
    Ok(Json(s.app.rules(&p).await?).into_response())
}

async fn import_rules(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Params,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let ps = params(q, &["name"])?;
    let text = text_body(body)?;
    let file = s.app.import_rules(&p, one(&ps, "name"), &text).await?;
    let rules: usize = file.groups.iter().map(|g| g.rules.len()).sum();
    Ok((
        StatusCode::CREATED,
        Json(json!({"file": file.file, "groups": file.groups.len(), "rules": rules})),
    )
        .into_response())
}

async fn delete_rules(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    s.app.delete_rules(&p, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_config(State(s): State<AppState>, Caller(p): Caller) -> ApiResult<Response> {
    let text = s.app.alerting_config(&p).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/yaml; charset=utf-8")],
        text,
    )
        .into_response())
}

async fn put_config(
    State(s): State<AppState>,
    Caller(p): Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let text = text_body(body)?;
    s.app.set_alerting_config(&p, &text).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn notifications(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Params,
) -> ApiResult<Response> {
    let ps = params(q, &["before", "limit"])?;
    let rows = s
        .app
        .notification_log(&p, int(&ps, "before")?, limit(&ps)?)
        .await?;
    let next = rows.last().map(|r| r.seq);
    Ok(Json(json!({"items": rows, "next_before": next})).into_response())
}

async fn silences(State(s): State<AppState>, Caller(p): Caller) -> ApiResult<Response> {
    Ok(Json(s.app.silences(&p).await?).into_response())
}

async fn post_silence(
    State(s): State<AppState>,
    Caller(p): Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let id = s.app.set_silence(&p, json_body(body)?).await?;
    Ok((StatusCode::CREATED, Json(json!({"silenceID": id}))).into_response())
}

async fn am_post_silence(
    State(s): State<AppState>,
    Caller(p): Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let id = s.app.set_silence(&p, json_body(body)?).await?;
    Ok(Json(json!({"silenceID": id})).into_response())
}

async fn expire_silence(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    s.app.expire_silence(&p, &id).await?;
    Ok(StatusCode::OK.into_response())
}

async fn am_silence(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let all = s.app.silences(&p).await?;
    let one = all.into_iter().find(|x| x.id == id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no silence with id {id:?}"),
        )
    })?;
    Ok(Json(one).into_response())
}

async fn oncall(State(s): State<AppState>, Caller(p): Caller, q: Params) -> ApiResult<Response> {
    let ps = params(q, &["days"])?;
    let days = int(&ps, "days")?.unwrap_or(7);
    if !(1..=92).contains(&days) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("must be from 1 to 92, got {days}"),
        )
        .field("days"));
    }
    let list = s.app.on_call(&p, days).await?;
    let items: Vec<serde_json::Value> = list
        .into_iter()
        .map(|(schedule, now, shifts)| json!({"schedule": schedule, "on_call": now, "shifts": shifts}))
        .collect();
    Ok(Json(items).into_response())
}

async fn put_schedule(
    State(s): State<AppState>,
    Caller(p): Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let sch = s.app.put_schedule(&p, json_body(body)?).await?;
    Ok((StatusCode::CREATED, Json(sch)).into_response())
}

async fn delete_schedule(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    s.app.delete_schedule(&p, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn policies(State(s): State<AppState>, Caller(p): Caller) -> ApiResult<Response> {
    Ok(Json(s.app.policies(&p).await?).into_response())
}

async fn put_policy(
    State(s): State<AppState>,
    Caller(p): Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let d = s.app.put_policy(&p, json_body(body)?).await?;
    Ok((StatusCode::CREATED, Json(d)).into_response())
}

async fn delete_policy(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    s.app.delete_policy(&p, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn anomalies(State(s): State<AppState>, Caller(p): Caller) -> ApiResult<Response> {
    Ok(Json(s.app.anomaly_status(&p).await?).into_response())
}

async fn am_post_alerts(
    State(s): State<AppState>,
    Caller(p): Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let (_, errors) = s.app.post_alerts(&p, json_body(body)?).await?;
    if errors.is_empty() {
        Ok(StatusCode::OK.into_response())
    } else {
        // As Alertmanager does: the valid alerts are kept, the answer is 400.
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            errors.join("; "),
        ))
    }
}

async fn am_alerts(State(s): State<AppState>, Caller(p): Caller, q: Params) -> ApiResult<Response> {
    let ps = params(
        q,
        &[
            "filter",
            "active",
            "silenced",
            "inhibited",
            "unprocessed",
            "receiver",
        ],
    )?;
    let mut f = cairn_alert::api::AlertFilter {
        active: flag(&ps, "active", true)?,
        silenced: flag(&ps, "silenced", true)?,
        inhibited: flag(&ps, "inhibited", true)?,
        ..Default::default()
    };
    for (k, v) in &ps {
        if k == "filter" {
            let ms = cairn_alert::matchers::parse_matchers(v).map_err(|e| {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e).field("filter")
            })?;
            f.matchers.0.extend(ms);
        }
    }
    if let Some(r) = one(&ps, "receiver") {
        f.receiver = Some(regex::Regex::new(r).map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string()).field("receiver")
        })?);
    }
    Ok(Json(s.app.alerts_v2(&p, &f).await?).into_response())
}

async fn am_groups(State(s): State<AppState>, Caller(p): Caller) -> ApiResult<Response> {
    Ok(Json(s.app.alert_groups_v2(&p).await?).into_response())
}

async fn am_status(State(s): State<AppState>, Caller(p): Caller) -> ApiResult<Response> {
    let config = s.app.alerting_config(&p).await?;
    Ok(Json(json!({
        "cluster": {"status": "disabled", "peers": []},
        "config": {"original": config},
        "versionInfo": {"version": env!("CARGO_PKG_VERSION"), "branch": "cairn", "revision": "cairn", "buildUser": "cairn", "buildDate": "", "goVersion": "n/a"},
        "uptime": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
    }))
    .into_response())
}

#[derive(Deserialize)]
struct LinkQuery {
    token: String,
}

fn page(title: &str, body: maud::Markup) -> Response {
    let markup = maud::html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · cairn" }
                link rel="stylesheet" href="/ui/app.css";
            }
            body { main .narrow { (body) } }
        }
    };
    crate::ui::html_response(StatusCode::OK, markup)
}

/// `GET /alerts/ack?token=…`: shows what the link does; the button acts (a link
/// preview or a mail scanner must not acknowledge anything by fetching it).
async fn link_page(
    State(s): State<AppState>,
    q: Result<Query<LinkQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return (StatusCode::BAD_REQUEST, "the link has no token").into_response();
    };
    let Ok(a) = s.app.alerting() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no alerting here").into_response();
    };
    match cairn_alert::notify::ack::verify_ack_link(&a.options.ack_secret, &q.token, s.app.now()) {
        Err(e) => (
            StatusCode::FORBIDDEN,
            format!("this link is not valid: {e}"),
        )
            .into_response(),
        Ok(claim) => {
            let verb = match claim.action {
                cairn_alert::notify::ack::AckAction::Acknowledge => "Acknowledge",
                cairn_alert::notify::ack::AckAction::Resolve => "Resolve",
            };
            page(
                verb,
                maud::html! {
                    h1 { (verb) }
                    p { "Alert or group " code { (claim.key) } "." }
                    form #ack-form method="post" action="/alerts/ack" {
                        input type="hidden" name="token" value=(q.token);
                        button #ack-button type="submit" { (verb) }
                    }
                },
            )
        }
    }
}

async fn link_act(State(s): State<AppState>, Form(q): Form<LinkQuery>) -> Response {
    match s.app.act_on_link(&q.token).await {
        Ok((action, n)) => {
            let done = match action {
                cairn_alert::notify::ack::AckAction::Acknowledge => "acknowledged",
                cairn_alert::notify::ack::AckAction::Resolve => "resolved",
            };
            page(
                done,
                maud::html! { h1 #ack-done { (n) " alert(s) " (done) "." } p { a href="/ui/alerts" { "Alerts →" } } },
            )
        }
        Err(e) => {
            let api = ApiError::from(e);
            (api.status, api.message).into_response()
        }
    }
}
