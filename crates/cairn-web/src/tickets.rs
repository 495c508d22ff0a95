//! The tickets API: tickets and their workflow, attachments, the knowledge base,
//! search and suggestions, deflections, repeated-request clusters, numbers and the
//! inbox. Thin: parse, call the use case, answer JSON.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::api::{body_bytes, json_body};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::*;
use crate::AppState;

/// Routes for the OpenAPI document.
pub const ROUTES: &[(&str, &str, &str)] = &[
    ("get", "/api/v1/tickets", "Tickets the caller may see, newest first (?status, tier, priority, assignee, category, merchant_id, open=true, limit, before=ID). A merchant sees its own."),
    ("post", "/api/v1/tickets", "File a ticket (title, body, category, priority p1–p4, links); a merchant for itself, staff with merchant_id."),
    ("get", "/api/v1/tickets/{id}", "A ticket with its events and attachments as the caller may see them, its SLA clocks, and (staff) its context in the model."),
    ("post", "/api/v1/tickets/{id}/comments", "Comment ({body, internal}); merchants' comments are visible to them, staff choose."),
    ("post", "/api/v1/tickets/{id}/status", "Change status ({status, reason}); merchants may reopen or close a resolved ticket."),
    ("post", "/api/v1/tickets/{id}/escalate", "Escalate to the next tier (or {to}) with a required {reason}."),
    ("post", "/api/v1/tickets/{id}/de-escalate", "Hand back to the previous tier (or {to}) with a required {reason}."),
    ("post", "/api/v1/tickets/{id}/assign", "Assign to a person ({assignee}) or back to the tier's queue ({assignee: null})."),
    ("post", "/api/v1/tickets/{id}/time", "Record handling time ({minutes})."),
    ("post", "/api/v1/tickets/{id}/links", "Link instances, hosts, services, alerts, incidents."),
    ("post", "/api/v1/tickets/{id}/attachments", "Attach a file: the body, its Content-Type, ?name=FILE&internal=true|false; 10 MiB at most."),
    ("get", "/api/v1/tickets/{id}/attachments/{att}", "Download an attachment."),
    ("post", "/api/v1/tickets/{id}/article", "Turn a resolved ticket into a draft internal article."),
    ("post", "/api/v1/tickets/suggestions", "Articles that may answer a ticket being written ({draft})."),
    ("post", "/api/v1/tickets/deflections", "A merchant read a suggestion and did not file ({draft, article_id})."),
    ("get", "/api/v1/kb/articles", "Knowledge-base articles the caller may read."),
    ("post", "/api/v1/kb/articles", "Write an article (Markdown, category, tags, audience public|internal, status draft|published)."),
    ("get", "/api/v1/kb/articles/{id}", "An article, with its versions for staff."),
    ("put", "/api/v1/kb/articles/{id}", "Replace an article's content: a new version."),
    ("get", "/api/v1/search", "Full-text search over articles and tickets, Chinese and English (?q, kind=article|ticket, category, offset, limit); ranked, highlighted."),
    ("get", "/api/v1/ticket-clusters", "Repeated requests: tickets clustered by text and category (?window_days, by=volume|time)."),
    ("post", "/api/v1/ticket-clusters/{id}/mark", "Mark a cluster as product work ({status: to-build|in-progress|shipped|declined, note})."),
    ("get", "/api/v1/ticket-numbers", "Volume by tier and category, response and resolution times, SLA compliance, escalation and deflection rates (?by=day|week, from, to)."),
    ("get", "/api/v1/sla-policy", "The SLA targets and business calendar in force."),
    ("get", "/api/v1/inbox", "The caller's inbox of ticket notifications (reading marks them seen)."),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tickets", get(list).post(create))
        .route("/tickets/suggestions", post(suggest))
        .route("/tickets/deflections", post(deflect))
        .route("/tickets/{id}", get(detail))
        .route("/tickets/{id}/comments", post(comment))
        .route("/tickets/{id}/status", post(status))
        .route("/tickets/{id}/escalate", post(escalate))
        .route("/tickets/{id}/de-escalate", post(de_escalate))
        .route("/tickets/{id}/assign", post(assign))
        .route("/tickets/{id}/time", post(log_time))
        .route("/tickets/{id}/links", post(links))
        .route("/tickets/{id}/attachments", post(attach))
        .route("/tickets/{id}/attachments/{att}", get(download))
        .route("/tickets/{id}/article", post(article_from_ticket))
        .route("/kb/articles", get(articles).post(create_article))
        .route("/kb/articles/{id}", get(article).put(update_article))
        .route("/search", get(search))
        .route("/ticket-clusters", get(clusters))
        .route("/ticket-clusters/{id}/mark", post(mark_cluster))
        .route("/ticket-numbers", get(numbers))
        .route("/sla-policy", get(sla_policy))
        .route("/inbox", get(inbox))
}

async fn list(State(s): State<AppState>, Caller(p): Caller, q: Params) -> ApiResult<Response> {
    let Query(ps) =
        q.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    Ok(Json(s.app.list_tickets(&p, &ps).await?).into_response())
}

async fn create(
    State(s): State<AppState>,
    Caller(p): Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let t = s.app.create_ticket(&p, json_body(body)?).await?;
    Ok((StatusCode::CREATED, Json(t)).into_response())
}

async fn detail(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(s.app.ticket_detail(&p, &id).await?).into_response())
}

async fn comment(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let b = object(json_body(body)?)?;
    let text = field(&b, "body")?.ok_or_else(|| bad("body", "is required"))?;
    let internal = match b.get("internal") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(v)) => *v,
        Some(_) => return Err(bad("internal", "must be true or false")),
    };
    let t = s.app.comment_ticket(&p, &id, text, internal).await?;
    Ok((StatusCode::CREATED, Json(t)).into_response())
}

async fn status(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let b = object(json_body(body)?)?;
    let to = field(&b, "status")?.ok_or_else(|| bad("status", "is required"))?;
    let t = s
        .app
        .set_ticket_status(&p, &id, to, field(&b, "reason")?)
        .await?;
    Ok(Json(t).into_response())
}

async fn escalate(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let b = object(json_body(body)?)?;
    let reason = field(&b, "reason")?.unwrap_or("");
    let t = s
        .app
        .escalate_ticket(&p, &id, reason, field(&b, "to")?, false)
        .await?;
    Ok(Json(t).into_response())
}

async fn de_escalate(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let b = object(json_body(body)?)?;
    let reason = field(&b, "reason")?.unwrap_or("");
    let t = s
        .app
        .escalate_ticket(&p, &id, reason, field(&b, "to")?, true)
        .await?;
    Ok(Json(t).into_response())
}

async fn assign(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let b = object(json_body(body)?)?;
    let t = s.app.assign_ticket(&p, &id, field(&b, "assignee")?).await?;
    Ok(Json(t).into_response())
}

async fn log_time(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let b = object(json_body(body)?)?;
    let minutes = b
        .get("minutes")
        .and_then(Value::as_u64)
        .and_then(|m| u32::try_from(m).ok())
        .ok_or_else(|| bad("minutes", "must be a whole number of minutes"))?;
    let t = s.app.log_ticket_time(&p, &id, minutes).await?;
    Ok(Json(t).into_response())
}

async fn links(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let t = s.app.link_ticket(&p, &id, json_body(body)?).await?;
    Ok(Json(t).into_response())
}

async fn attach(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    q: Params,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let ps = params(q, &["name", "internal"])?;
    let name = one(&ps, "name").ok_or_else(|| bad("name", "give the file's name: ?name=FILE"))?;
    let internal = match one(&ps, "internal") {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => return Err(bad("internal", format!("must be true or false, got {v:?}"))),
    };
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| bad("content_type", "the request needs a Content-Type"))?
        .to_owned();
    let bytes = body_bytes(body)?;
    let a = s
        .app
        .attach_to_ticket(&p, &id, name, &ct, &bytes, internal)
        .await?;
    Ok((StatusCode::CREATED, Json(a)).into_response())
}

async fn download(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path((id, att)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (a, bytes) = s.app.attachment(&p, &id, &att).await?;
    let disposition = format!("attachment; filename=\"{}\"", a.name.replace('"', "'"));
    Ok((
        [
            (header::CONTENT_TYPE, a.content_type.clone()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

async fn article_from_ticket(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let a = s.app.draft_from_ticket(&p, &id).await?;
    Ok((StatusCode::CREATED, Json(a)).into_response())
}

async fn suggest(
    State(s): State<AppState>,
    Caller(p): Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let b = object(json_body(body)?)?;
    let draft = field(&b, "draft")?.unwrap_or("");
    Ok(Json(s.app.suggest_articles(&p, draft).await?).into_response())
}

async fn deflect(
    State(s): State<AppState>,
    Caller(p): Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let b = object(json_body(body)?)?;
    s.app
        .deflect(
            &p,
            field(&b, "draft")?.unwrap_or(""),
            field(&b, "article_id")?,
        )
        .await?;
    Ok(StatusCode::CREATED.into_response())
}

async fn articles(State(s): State<AppState>, Caller(p): Caller) -> ApiResult<Response> {
    Ok(Json(s.app.articles(&p).await?).into_response())
}

async fn create_article(
    State(s): State<AppState>,
    Caller(p): Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let a = s.app.create_article(&p, json_body(body)?).await?;
    Ok((StatusCode::CREATED, Json(a)).into_response())
}

async fn article(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (a, versions) = s.app.article(&p, &id).await?;
    Ok(Json(json!({"article": a, "versions": versions})).into_response())
}

async fn update_article(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    Ok(Json(s.app.update_article(&p, &id, json_body(body)?).await?).into_response())
}

async fn search(State(s): State<AppState>, Caller(p): Caller, q: Params) -> ApiResult<Response> {
    let ps = params(q, &["q", "kind", "category", "offset", "limit"])?;
    let num = |name: &str, default: usize| -> ApiResult<usize> {
        match one(&ps, name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| bad(name, format!("must be a whole number, got {v:?}"))),
        }
    };
    let r = s
        .app
        .search(
            &p,
            one(&ps, "q").unwrap_or(""),
            one(&ps, "kind"),
            one(&ps, "category"),
            num("offset", 0)?,
            num("limit", 10)?,
        )
        .await?;
    Ok(Json(r).into_response())
}

async fn clusters(State(s): State<AppState>, Caller(p): Caller, q: Params) -> ApiResult<Response> {
    let ps = params(q, &["window_days", "by"])?;
    let window = match one(&ps, "window_days") {
        None => 90,
        Some(v) => v
            .parse()
            .map_err(|_| bad("window_days", format!("must be a whole number, got {v:?}")))?,
    };
    let by_time = match one(&ps, "by") {
        None | Some("volume") => false,
        Some("time") => true,
        Some(v) => return Err(bad("by", format!("must be volume or time, got {v:?}"))),
    };
    Ok(Json(s.app.ticket_clusters(&p, window, by_time).await?).into_response())
}

async fn mark_cluster(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let b = object(json_body(body)?)?;
    // The use case checks the role before the input, so a merchant learns nothing.
    let status = field(&b, "status")?.unwrap_or("");
    let m = s
        .app
        .mark_cluster(&p, &id, status, field(&b, "note")?.unwrap_or(""))
        .await?;
    Ok(Json(m).into_response())
}

async fn numbers(State(s): State<AppState>, Caller(p): Caller, q: Params) -> ApiResult<Response> {
    let ps = params(q, &["by", "from", "to"])?;
    let weekly = match one(&ps, "by") {
        None | Some("day") => false,
        Some("week") => true,
        Some(v) => return Err(bad("by", format!("must be day or week, got {v:?}"))),
    };
    let date = |name: &str| -> ApiResult<Option<time::Date>> {
        one(&ps, name)
            .map(|v| cairn_domain::capacity::date_format::parse(v).map_err(|m| bad(name, m)))
            .transpose()
    };
    let to = date("to")?.unwrap_or_else(|| s.app.today());
    let from = date("from")?.unwrap_or(to - time::Duration::days(if weekly { 7 * 12 } else { 30 }));
    Ok(Json(s.app.ticket_numbers(&p, weekly, from, to).await?).into_response())
}

async fn sla_policy(State(s): State<AppState>, Caller(_p): Caller) -> ApiResult<Response> {
    let policy = s.app.sla_policy()?;
    let targets: Vec<Value> = cairn_domain::tickets::Priority::ALL
        .iter()
        .flat_map(|pr| {
            [cairn_domain::Tier::Standard, cairn_domain::Tier::Vip].map(|tier| {
                let t = policy.target(*pr, tier);
                json!({"priority": pr, "merchant_tier": tier, "first_response_minutes": t.first_response_minutes, "resolution_minutes": t.resolution_minutes, "around_the_clock": t.calendar.always})
            })
        })
        .collect();
    Ok(Json(json!({"business_calendar": policy.business, "warn_at": policy.warn_at, "targets": targets})).into_response())
}

async fn inbox(State(s): State<AppState>, Caller(p): Caller) -> ApiResult<Response> {
    Ok(Json(s.app.inbox(&p).await?).into_response())
}
