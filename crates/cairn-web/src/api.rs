//! The JSON API under `/api/v1`. Every model kind gets the same five routes plus bulk
//! import, generated from the entity catalogue; the OpenAPI document
//! ([`crate::openapi`]) is generated from the same catalogue and [`fixed_routes`].

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cairn_app::import::Format;
use cairn_app::records::parse_value;
use cairn_domain::{with_entity, Entity, Kind, MerchantId, Role};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::AppState;

type ApiResult<T> = Result<T, ApiError>;

/// A documented route that is not generated per kind: method, path, summary.
pub fn fixed_routes() -> &'static [(&'static str, &'static str, &'static str)] {
    &[
        ("get", "/api/v1/me", "The caller's role and merchant."),
        (
            "get",
            "/api/v1/overview",
            "Counts and the regions → zones → pools tree with usage.",
        ),
        (
            "post",
            "/api/v1/tokens",
            "Create an API token (admin); the secret is shown once.",
        ),
        ("post", "/api/v1/users", "Create a web UI user (admin)."),
        (
            "get",
            "/api/v1/audit",
            "The audit log of writes, newest first (admin).",
        ),
    ]
}

pub fn router() -> Router<AppState> {
    let mut r = Router::new()
        .route("/me", get(me))
        .route("/overview", get(overview))
        .route("/tokens", post(create_token))
        .route("/users", post(create_user))
        .route("/audit", get(audit));
    for kind in Kind::ALL {
        r = with_entity!(kind, E => r.merge(entity_routes::<E>()));
    }
    r
}

fn entity_routes<E: Entity>() -> Router<AppState> {
    let base = format!("/{}", E::KIND.plural());
    Router::new()
        .route(&base, get(list::<E>).post(create::<E>))
        .route(&format!("{base}/import"), post(import::<E>))
        .route(
            &format!("{base}/{{id}}"),
            get(get_one::<E>).put(update::<E>).delete(delete::<E>),
        )
}

/// The request body as JSON, with the limit and syntax errors said plainly.
pub fn json_body(body: Result<Bytes, BytesRejection>) -> ApiResult<Value> {
    let bytes = body_bytes(body)?;
    if bytes.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "the request needs a JSON body",
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {e}"),
        )
    })
}

pub fn body_bytes(body: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    body.map_err(|e| {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "body_too_large",
                "the request body is larger than the server's limit (--body-limit)",
            )
        } else {
            ApiError::new(status, "bad_body", e.body_text())
        }
    })
}

fn params(
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Vec<(String, String)>> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))
}

async fn list<E: Entity>(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Response> {
    let page = s.app.list_records::<E>(&p, &params(q)?).await?;
    Ok(Json(page).into_response())
}

async fn get_one<E: Entity>(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<E>> {
    Ok(Json(s.app.get_record::<E>(&p, &id).await?))
}

async fn create<E: Entity>(
    State(s): State<AppState>,
    Caller(p): Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let e = s.app.create_record::<E>(&p, json_body(body)?).await?;
    Ok((StatusCode::CREATED, Json(e)).into_response())
}

async fn update<E: Entity>(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<E>> {
    Ok(Json(
        s.app.update_record::<E>(&p, &id, json_body(body)?).await?,
    ))
}

async fn delete<E: Entity>(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.app.delete_record::<E>(&p, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn import<E: Entity>(
    State(s): State<AppState>,
    Caller(p): Caller,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let params = params(q)?;
    let format = match params.iter().find(|(k, _)| k == "format") {
        Some((_, f)) => Format::guess(&format!(".{f}")).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "format must be csv or json",
            )
            .field("format")
        })?,
        None => headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(Format::guess)
            .unwrap_or(Format::Json),
    };
    if let Some((k, _)) = params.iter().find(|(k, _)| k != "format") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "unknown parameter; import takes only format",
        )
        .field(k.clone()));
    }
    let bytes = body_bytes(body)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the file is not UTF-8 text: {e}"),
        )
    })?;
    let report = s.app.import(&p, E::KIND, format, text).await?;
    Ok(Json(report).into_response())
}

async fn me(Caller(p): Caller) -> Json<Value> {
    Json(json!({ "actor": p.actor, "role": p.role, "merchant_id": p.merchant_id }))
}

async fn overview(State(s): State<AppState>, Caller(p): Caller) -> ApiResult<Response> {
    Ok(Json(s.app.overview(&p).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    role: Role,
    #[serde(default)]
    merchant_id: Option<MerchantId>,
    #[serde(default)]
    name: Option<String>,
}

async fn create_token(
    State(s): State<AppState>,
    Caller(p): Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: NewToken = parse_value("token request", json_body(body)?)?;
    let (record, secret) = s
        .app
        .create_token(&p, req.name, req.role, req.merchant_id)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "token": secret,
            "id": record.id,
            "name": record.name,
            "role": record.role,
            "merchant_id": record.merchant_id,
        })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    password: String,
    role: Role,
    #[serde(default)]
    merchant_id: Option<MerchantId>,
}

async fn create_user(
    State(s): State<AppState>,
    Caller(p): Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: NewUser = parse_value("user", json_body(body)?)?;
    let user = s
        .app
        .create_user(&p, &req.name, &req.password, req.role, req.merchant_id)
        .await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

async fn audit(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Response> {
    let mut aq = cairn_store::AuditQuery {
        limit: 100,
        ..Default::default()
    };
    for (k, v) in params(q)? {
        let bad = |msg: &str| {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", msg.to_owned()).field(k.clone())
        };
        match k.as_str() {
            "kind" => aq.kind = Some(v),
            "record_id" => aq.record_id = Some(v),
            "actor" => aq.actor = Some(v),
            "limit" => {
                aq.limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| bad("must be a whole number from 1 to 1000"))?
            }
            "cursor" => {
                aq.before_seq = Some(v.parse().map_err(|_| bad("is not a cursor from this list"))?)
            }
            _ => return Err(bad("unknown parameter; audit filters by kind, record_id, actor, and takes limit and cursor")),
        }
    }
    Ok(Json(s.app.audit_log(&p, &aq).await?).into_response())
}
