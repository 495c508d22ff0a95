//! The capacity API: the overview, forecasts per pool and per product, zone and region,
//! the ledger, stock by day, backtests and promotion what-ifs. Thin: parse, call the
//! use case, answer JSON.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cairn_app::capacity::{DEFAULT_HORIZON, HISTORY_DAYS};
use cairn_domain::capacity::date_format;
use cairn_domain::Kind;
use serde_json::json;

use crate::api::json_body;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::*;
use crate::AppState;

/// The capacity routes, for the OpenAPI document: method, path, summary.
pub const ROUTES: &[(&str, &str, &str)] = &[
    (
        "get",
        "/api/v1/capacity",
        "Every pool's stock, stock-out dates (50/80/95%) and restock advice, at-risk pools first, and the roll-ups per product, zone, region and the cloud.",
    ),
    (
        "get",
        "/api/v1/pools/{id}/forecast",
        "A pool's demand forecast (?horizon=DAYS, default 120; ?history=DAYS) with 80%/95% intervals, components, promotion effects, stock-out dates and restock advice.",
    ),
    (
        "get",
        "/api/v1/products/{id}/forecast",
        "The product's roll-up over its pools (coherent: the parts add up), with each pool's summary.",
    ),
    (
        "get",
        "/api/v1/zones/{id}/forecast",
        "The zone's roll-up over its pools, with each pool's summary.",
    ),
    (
        "get",
        "/api/v1/regions/{id}/forecast",
        "The region's roll-up over its pools, with each pool's summary.",
    ),
    (
        "get",
        "/api/v1/pools/{id}/stock",
        "The pool's stock by day (?from=YYYY-MM-DD&to=YYYY-MM-DD): sold, capacity, reserved, stock left.",
    ),
    (
        "get",
        "/api/v1/pools/{id}/ledger",
        "The pool's ledger entries, newest first (?limit, ?before=SEQ).",
    ),
    (
        "get",
        "/api/v1/pools/{id}/backtest",
        "Rolling-origin backtests of the pool's forecast: sMAPE and MASE per origin.",
    ),
    (
        "post",
        "/api/v1/ledger",
        "Append sales and releases: one entry, a JSON list, or CSV (content-type text/csv, header pool_id,day,kind,units[,merchant_id,instance_id]); all or nothing.",
    ),
    (
        "post",
        "/api/v1/capacity/what-if",
        "Project a planned promotion (a promotion body, not stored): extra demand, reservations and shortfalls per pool.",
    ),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/capacity", get(overview))
        .route("/capacity/what-if", post(what_if))
        .route("/ledger", post(append))
        .route("/pools/{id}/forecast", get(pool_forecast))
        .route("/pools/{id}/stock", get(stock))
        .route("/pools/{id}/ledger", get(ledger))
        .route("/pools/{id}/backtest", get(backtest))
        .route("/products/{id}/forecast", get(product_forecast))
        .route("/zones/{id}/forecast", get(zone_forecast))
        .route("/regions/{id}/forecast", get(region_forecast))
}

fn number<T: std::str::FromStr>(
    ps: &[(String, String)],
    name: &str,
    default: T,
    what: &str,
) -> ApiResult<T> {
    match one(ps, name) {
        None => Ok(default),
        Some(v) => v.parse::<T>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("must be {what}, got {v:?}"),
            )
            .field(name)
        }),
    }
}

fn date(ps: &[(String, String)], name: &str) -> ApiResult<Option<time::Date>> {
    one(ps, name)
        .map(|v| {
            date_format::parse(v)
                .map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", m).field(name))
        })
        .transpose()
}

async fn overview(State(s): State<AppState>, Caller(p): Caller) -> ApiResult<Response> {
    let report = s.app.capacity_report(&p).await?;
    Ok(Json(&*report).into_response())
}

async fn pool_forecast(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    let ps = params(q, &["horizon", "history"])?;
    let horizon = number(&ps, "horizon", DEFAULT_HORIZON, "a number of days")?;
    let history = number(&ps, "history", 365usize, "a number of days")?;
    if !(1..=HISTORY_DAYS as usize).contains(&history) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("must be a number of days from 1 to {HISTORY_DAYS}, got {history}"),
        )
        .field("history"));
    }
    let f = s.app.pool_forecast(&p, &id, horizon, history).await?;
    Ok(Json(f).into_response())
}

async fn group(
    s: AppState,
    p: cairn_domain::Principal,
    level: Kind,
    id: String,
    q: Params,
) -> ApiResult<Response> {
    let ps = params(q, &["horizon"])?;
    let horizon = number(&ps, "horizon", DEFAULT_HORIZON, "a number of days")?;
    let (group, pools) = s.app.group_forecast(&p, level, &id, horizon).await?;
    Ok(Json(json!({"group": group, "pools": pools, "horizon": horizon})).into_response())
}

async fn product_forecast(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    group(s, p, Kind::Product, id, q).await
}

async fn zone_forecast(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    group(s, p, Kind::Zone, id, q).await
}

async fn region_forecast(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    group(s, p, Kind::Region, id, q).await
}

async fn stock(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    let ps = params(q, &["from", "to"])?;
    let today = s.app.today();
    let to = date(&ps, "to")?.unwrap_or(today);
    let from = date(&ps, "from")?.unwrap_or(to - time::Duration::days(89));
    let days = s.app.pool_stock(&p, &id, from, to).await?;
    Ok(Json(json!({"pool_id": id, "days": days})).into_response())
}

async fn ledger(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    let ps = params(q, &["limit", "before"])?;
    let limit = number(&ps, "limit", 100u32, "a whole number from 1 to 1000")?;
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("must be a whole number from 1 to 1000, got {limit}"),
        )
        .field("limit"));
    }
    let before = one(&ps, "before")
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("must be a ledger sequence number, got {v:?}"),
                )
                .field("before")
            })
        })
        .transpose()?;
    let rows = s.app.ledger_entries(&p, &id, before, limit).await?;
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    Ok(Json(json!({"items": rows, "next_before": next})).into_response())
}

async fn backtest(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let b = s.app.pool_backtest(&p, &id).await?;
    Ok(Json(&*b).into_response())
}

async fn append(
    State(s): State<AppState>,
    Caller(p): Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/csv"));
    let receipt = if csv {
        let bytes = crate::api::body_bytes(body)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_body", "the CSV is not UTF-8")
        })?;
        s.app.append_ledger_csv(&p, text).await?
    } else {
        s.app.append_ledger(&p, json_body(body)?).await?
    };
    Ok((StatusCode::CREATED, Json(receipt)).into_response())
}

async fn what_if(
    State(s): State<AppState>,
    Caller(p): Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let report = s.app.capacity_what_if(&p, json_body(body)?).await?;
    Ok(Json(report).into_response())
}
