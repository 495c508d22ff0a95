//! The Prometheus-compatible edge under `/prometheus`: remote write and text import in,
//! Prometheus' HTTP query API out, with its exact JSON shapes, so that agents, Grafana's
//! Prometheus data source and `promtool query` work against cairn unchanged.

use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use cairn_app::metrics::{IncomingSeries, MetricMeta};
use cairn_app::AppError;
use cairn_promql::Value;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::AppState;

/// Every route of this edge, for the OpenAPI document: method, path, summary.
pub const ROUTES: &[(&str, &str, &str)] = &[
    (
        "post",
        "/prometheus/api/v1/write",
        "Prometheus remote write 1.0 (snappy-compressed protobuf).",
    ),
    (
        "post",
        "/prometheus/api/v1/import/prometheus",
        "Push samples in the text exposition format; extra_label=name=value adds labels.",
    ),
    (
        "get",
        "/prometheus/api/v1/query",
        "PromQL instant query (Prometheus' API; POST with a form too).",
    ),
    (
        "get",
        "/prometheus/api/v1/query_range",
        "PromQL range query (Prometheus' API; POST with a form too).",
    ),
    (
        "get",
        "/prometheus/api/v1/series",
        "Series matching match[] selectors.",
    ),
    ("get", "/prometheus/api/v1/labels", "Label names."),
    (
        "get",
        "/prometheus/api/v1/label/{name}/values",
        "Values of one label.",
    ),
    (
        "get",
        "/prometheus/api/v1/metadata",
        "Metric metadata (type, help, unit) by family.",
    ),
    (
        "get",
        "/prometheus/api/v1/targets",
        "Scrape targets and their health (Prometheus' shape).",
    ),
    (
        "get",
        "/prometheus/api/v1/status/buildinfo",
        "Build information, for Grafana's data source.",
    ),
    (
        "post",
        "/prometheus/api/v1/admin/tsdb/flush",
        "Write the in-memory head out as a block now (admin).",
    ),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/write", post(remote_write))
        .route("/api/v1/import/prometheus", post(import_text))
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/targets", get(targets))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route("/api/v1/admin/tsdb/flush", post(flush))
}

/// An answer in Prometheus' envelope.
struct PromError {
    status: StatusCode,
    error_type: &'static str,
    message: String,
}

impl PromError {
    fn bad_data(message: impl Into<String>) -> PromError {
        PromError {
            status: StatusCode::BAD_REQUEST,
            error_type: "bad_data",
            message: message.into(),
        }
    }
}

impl From<AppError> for PromError {
    fn from(e: AppError) -> Self {
        match &e {
            AppError::Query {
                error_type,
                message,
            } => PromError {
                status: if *error_type == "bad_data" {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                },
                error_type,
                message: message.clone(),
            },
            _ => {
                // Every other error keeps the status the API gives it.
                let api = ApiError::from(e);
                let error_type = match api.status {
                    StatusCode::BAD_REQUEST => "bad_data",
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "unauthorized",
                    StatusCode::SERVICE_UNAVAILABLE => "unavailable",
                    s if s.is_server_error() => "internal",
                    _ => "bad_data",
                };
                PromError {
                    status: api.status,
                    error_type,
                    message: api.message,
                }
            }
        }
    }
}

impl From<ApiError> for PromError {
    fn from(e: ApiError) -> Self {
        PromError {
            status: e.status,
            error_type: if e.status == StatusCode::UNAUTHORIZED {
                "unauthorized"
            } else {
                "bad_data"
            },
            message: e.message,
        }
    }
}

impl IntoResponse for PromError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"status": "error", "errorType": self.error_type, "error": self.message});
        (self.status, axum::Json(body)).into_response()
    }
}

fn success(data: &str) -> Response {
    let mut out = String::with_capacity(data.len() + 32);
    out.push_str(r#"{"status":"success","data":"#);
    out.push_str(data);
    out.push('}');
    ([(header::CONTENT_TYPE, "application/json")], out).into_response()
}

type PromResult = Result<Response, PromError>;

/// Query-string and form parameters together, as Prometheus reads them.
fn params(
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<(String, String)>, PromError> {
    let mut out = q
        .map(|Query(v)| v)
        .map_err(|e| PromError::bad_data(e.body_text()))?;
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let body = body.map_err(|e| PromError::bad_data(e.body_text()))?;
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
            .map_err(|e| PromError::bad_data(format!("the form body is malformed: {e}")))?;
        out.extend(form);
    }
    Ok(out)
}

/// The prologue of every query handler: who asks, whether they may read metrics, and
/// the parameters from the query string and a form body.
fn reader(
    caller: Result<Caller, ApiError>,
    headers: &HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(cairn_domain::Principal, Vec<(String, String)>), PromError> {
    let Caller(p) = caller?;
    cairn_app::App::may_read_metrics(&p)?;
    Ok((p, params(q, headers, body)?))
}

fn one<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn all(params: &[(String, String)], name: &str) -> Vec<String> {
    params
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .collect()
}

/// Prometheus' time parameter: Unix seconds (with fraction) or RFC 3339.
fn parse_time(name: &str, s: &str) -> Result<i64, PromError> {
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() {
            return Ok((f * 1000.0).round() as i64);
        }
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| {
            PromError::bad_data(format!(
                "invalid parameter \"{name}\": cannot parse \"{s}\" to a valid timestamp"
            ))
        })
}

/// Prometheus' duration parameter: seconds (with fraction) or `1h30m`, `15s`, `500ms`.
fn parse_duration(name: &str, s: &str) -> Result<i64, PromError> {
    let bad = || {
        PromError::bad_data(format!(
            "invalid parameter \"{name}\": cannot parse \"{s}\" to a valid duration"
        ))
    };
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() {
            return Err(bad());
        }
        return Ok((f * 1000.0).round() as i64);
    }
    cairn_domain::duration::parse_duration_ms(s).ok_or_else(bad)
}

fn now_ms(s: &AppState) -> i64 {
    (s.app.now().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A timestamp as Prometheus writes it: seconds, with a three-digit fraction when any.
fn write_ts(out: &mut String, t: i64) {
    let (sign, t) = if t < 0 { ("-", -t) } else { ("", t) };
    let _ = write!(out, "{sign}{}", t / 1000);
    let frac = t % 1000;
    if frac != 0 {
        let _ = write!(out, ".{frac:03}");
    }
}

/// A value as Prometheus writes it: a JSON string of Go's shortest `'f'` format.
fn write_value(out: &mut String, v: f64) {
    out.push('"');
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
    out.push('"');
}

fn write_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

fn write_metric(out: &mut String, labels: &[(String, String)]) {
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, k);
        out.push(':');
        write_str(out, v);
    }
    out.push('}');
}

fn write_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    write_ts(out, t);
    out.push(',');
    write_value(out, v);
    out.push(']');
}

/// A JSON array of `items`, each written by `item`.
fn write_list<T>(out: &mut String, items: &[T], mut item: impl FnMut(&mut String, &T)) {
    out.push('[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        item(out, x);
    }
    out.push(']');
}

/// The `data` object of a query answer.
pub fn render_value(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Scalar { t, v } => {
            out.push_str(r#"{"resultType":"scalar","result":"#);
            write_point(&mut out, *t, *v);
        }
        Value::String { t, v } => {
            out.push_str(r#"{"resultType":"string","result":["#);
            write_ts(&mut out, *t);
            out.push(',');
            write_str(&mut out, v);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push_str(r#"{"resultType":"vector","result":"#);
            write_list(&mut out, samples, |out, s| {
                out.push_str(r#"{"metric":"#);
                write_metric(out, &s.labels);
                out.push_str(r#","value":"#);
                write_point(out, s.t, s.v);
                out.push('}');
            });
        }
        Value::Matrix(series) => {
            out.push_str(r#"{"resultType":"matrix","result":"#);
            write_list(&mut out, series, |out, s| {
                out.push_str(r#"{"metric":"#);
                write_metric(out, &s.labels);
                out.push_str(r#","values":"#);
                write_list(out, &s.samples, |out, (t, v)| write_point(out, *t, *v));
                out.push('}');
            });
        }
    }
    out.push('}');
    out
}

async fn query(
    State(s): State<AppState>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> PromResult {
    let (p, ps) = reader(caller, &headers, q, body)?;
    let expr = one(&ps, "query").ok_or_else(|| {
        PromError::bad_data("invalid parameter \"query\": query must not be empty")
    })?;
    let t = match one(&ps, "time") {
        Some(t) => parse_time("time", t)?,
        None => now_ms(&s),
    };
    let v = s.app.query_instant(&p, expr.to_owned(), t).await?;
    Ok(success(&render_value(&v)))
}

async fn query_range(
    State(s): State<AppState>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> PromResult {
    let (p, ps) = reader(caller, &headers, q, body)?;
    let expr = one(&ps, "query").ok_or_else(|| {
        PromError::bad_data("invalid parameter \"query\": query must not be empty")
    })?;
    let need = |n: &str| {
        one(&ps, n)
            .ok_or_else(|| PromError::bad_data(format!("invalid parameter \"{n}\": missing")))
    };
    let start = parse_time("start", need("start")?)?;
    let end = parse_time("end", need("end")?)?;
    let step = parse_duration("step", need("step")?)?;
    let v = s
        .app
        .query_range(&p, expr.to_owned(), start, end, step)
        .await?;
    Ok(success(&render_value(&v)))
}

/// `start` and `end` of a metadata request, defaulting to all time.
fn range_of(ps: &[(String, String)]) -> Result<(i64, i64), PromError> {
    let start = one(ps, "start")
        .map(|v| parse_time("start", v))
        .transpose()?
        .unwrap_or(i64::MIN / 2);
    let end = one(ps, "end")
        .map(|v| parse_time("end", v))
        .transpose()?
        .unwrap_or(i64::MAX / 2);
    Ok((start, end))
}

async fn series(
    State(s): State<AppState>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> PromResult {
    let (p, ps) = reader(caller, &headers, q, body)?;
    let (start, end) = range_of(&ps)?;
    let found = s.app.series(&p, all(&ps, "match[]"), start, end).await?;
    let mut out = String::new();
    write_list(&mut out, &found, |out, labels| write_metric(out, labels));
    Ok(success(&out))
}

fn string_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

async fn labels(
    State(s): State<AppState>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> PromResult {
    let (p, ps) = reader(caller, &headers, q, body)?;
    let (start, end) = range_of(&ps)?;
    let names = s
        .app
        .labels(&p, None, all(&ps, "match[]"), start, end)
        .await?;
    Ok(success(&string_list(&names)))
}

async fn label_values(
    State(s): State<AppState>,
    caller: Result<Caller, ApiError>,
    Path(name): Path<String>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> PromResult {
    let (p, ps) = reader(caller, &HeaderMap::new(), q, Ok(Bytes::new()))?;
    let (start, end) = range_of(&ps)?;
    let values = s
        .app
        .labels(&p, Some(name), all(&ps, "match[]"), start, end)
        .await?;
    Ok(success(&string_list(&values)))
}

async fn metadata(
    State(s): State<AppState>,
    caller: Result<Caller, ApiError>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> PromResult {
    let (p, ps) = reader(caller, &HeaderMap::new(), q, Ok(Bytes::new()))?;
    let limit = one(&ps, "limit")
        .map(|l| {
            l.parse::<i64>()
                .map_err(|_| PromError::bad_data("invalid parameter \"limit\""))
        })
        .transpose()?
        .filter(|l| *l >= 0)
        .map(|l| l as usize);
    let meta = s.app.metric_metadata(&p, one(&ps, "metric"), limit)?;
    Ok(success(
        &serde_json::to_string(&meta).unwrap_or_else(|_| "{}".into()),
    ))
}

/// Prometheus' duration notation for a whole number of milliseconds (`15s`, `1m`).
fn prom_duration(ms: u64) -> String {
    match ms {
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1_000 == 0 => format!("{}s", ms / 1_000),
        ms => format!("{ms}ms"),
    }
}

async fn targets(State(s): State<AppState>, caller: Result<Caller, ApiError>) -> PromResult {
    let Caller(p) = caller?;
    let list = s.app.scrape_targets(&p)?;
    let active: Vec<serde_json::Value> = list
        .iter()
        .map(|h| {
            let t = &h.target;
            let url = format!("http://{}{}", t.address, t.metrics_path);
            let labels = serde_json::json!({"instance": t.address, "job": t.job});
            serde_json::json!({
                "discoveredLabels": {"__address__": t.address, "__metrics_path__": t.metrics_path, "__scheme__": "http", "job": t.job},
                "labels": labels,
                "scrapePool": t.job,
                "scrapeUrl": url,
                "globalUrl": url,
                "lastError": h.last_error.clone().unwrap_or_default(),
                "lastScrape": h.last_scrape.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
                "lastScrapeDuration": h.last_scrape_duration_s,
                "health": h.health,
                "scrapeInterval": prom_duration(t.interval_ms),
                "scrapeTimeout": prom_duration(t.timeout_ms),
                "source": t.source,
            })
        })
        .collect();
    let data = serde_json::json!({"activeTargets": active, "droppedTargets": []});
    Ok(success(&data.to_string()))
}

async fn buildinfo() -> Response {
    success(&format!(
        r#"{{"version":"2.42.0","revision":"cairn-{}","branch":"cairn","buildUser":"cairn","buildDate":"","goVersion":"n/a"}}"#,
        env!("CARGO_PKG_VERSION")
    ))
}

async fn flush(State(s): State<AppState>, caller: Result<Caller, ApiError>) -> PromResult {
    let Caller(p) = caller?;
    s.app.flush_metrics(&p).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn remote_write(
    State(s): State<AppState>,
    caller: Result<Caller, ApiError>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Caller(p) = caller?;
    cairn_app::App::may_write_metrics(&p)?;
    let body = crate::api::body_bytes(body)?;
    let req = cairn_wire::remote_write::decode_write_request(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_remote_write", e.to_string()))?;
    let metadata = req
        .metadata
        .iter()
        .map(|m| {
            (
                m.metric_family_name.clone(),
                MetricMeta {
                    kind: cairn_wire::remote_write::metric_type_name(m.r#type).to_owned(),
                    help: m.help.clone(),
                    unit: m.unit.clone(),
                },
            )
        })
        .collect();
    let series = cairn_wire::remote_write::into_series(req)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_remote_write", e.to_string()))?
        .into_iter()
        .map(|d| IncomingSeries {
            labels: d.labels,
            samples: d.samples,
        })
        .collect();
    s.app.ingest(&p, series, metadata).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Text exposition pushed by a client. Samples without a timestamp take the time of
/// arrival; `extra_label=name=value` parameters are added to every series.
async fn import_text(
    State(s): State<AppState>,
    caller: Result<Caller, ApiError>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Caller(p) = caller?;
    cairn_app::App::may_write_metrics(&p)?;
    let ps = q
        .map(|Query(v)| v)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let mut extra = Vec::new();
    for (k, v) in &ps {
        match k.as_str() {
            "extra_label" => {
                let (name, value) = v.split_once('=').ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "bad_request",
                        "extra_label takes name=value",
                    )
                    .field("extra_label")
                })?;
                extra.push((name.to_owned(), value.to_owned()));
            }
            other => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "unknown parameter; import takes extra_label",
                )
                .field(other.to_owned()))
            }
        }
    }
    let body = crate::api::body_bytes(body)?;
    let text = std::str::from_utf8(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the body is not UTF-8 text: {e}"),
        )
    })?;
    let exp = cairn_wire::exposition::parse(text)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_exposition", e.to_string()))?;
    let now = now_ms(&s);
    let series = exp
        .samples
        .into_iter()
        .map(|smp| {
            let mut labels: Vec<(String, String)> = smp
                .labels
                .into_iter()
                .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
                .collect();
            labels.extend(extra.iter().cloned());
            IncomingSeries {
                labels,
                samples: vec![(smp.timestamp.unwrap_or(now), smp.value)],
            }
        })
        .collect();
    let metadata = exp
        .metadata
        .into_iter()
        .map(|m| {
            (
                m.family,
                MetricMeta {
                    kind: m.kind.as_str().to_owned(),
                    help: m.help.unwrap_or_default(),
                    unit: m.unit.unwrap_or_default(),
                },
            )
        })
        .collect();
    s.app.ingest(&p, series, metadata).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_read_as_prometheus_reads_them() {
        assert_eq!(
            parse_time("t", "1435781451.781").ok(),
            Some(1_435_781_451_781)
        );
        assert_eq!(
            parse_time("t", "2015-07-01T20:10:51.781Z").ok(),
            Some(1_435_781_451_781)
        );
        assert!(parse_time("t", "yesterday").is_err());
        assert_eq!(parse_duration("step", "15").ok(), Some(15_000));
        assert_eq!(parse_duration("step", "1m30s").ok(), Some(90_000));
        assert_eq!(parse_duration("step", "250ms").ok(), Some(250));
        assert!(parse_duration("step", "5 minutes").is_err());
        assert!(parse_duration("step", "").is_err());
    }

    #[test]
    fn values_render_in_prometheus_json_shapes() {
        let v = Value::Vector(vec![cairn_promql::InstantSample {
            labels: vec![
                ("__name__".into(), "up".into()),
                ("job".into(), "n\"ode".into()),
            ],
            t: 1_435_781_451_500,
            v: 0.1,
        }]);
        assert_eq!(
            render_value(&v),
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"n\"ode"},"value":[1435781451.500,"0.1"]}]}"#
        );
        let m = Value::Matrix(vec![cairn_promql::Series {
            labels: vec![],
            samples: vec![(1000, f64::INFINITY), (2000, f64::NAN), (3000, 1e21)],
        }]);
        assert_eq!(
            render_value(&m),
            r#"{"resultType":"matrix","result":[{"metric":{},"values":[[1,"+Inf"],[2,"NaN"],[3,"1000000000000000000000"]]}]}"#
        );
        assert_eq!(
            render_value(&Value::Scalar { t: -1500, v: -2.0 }),
            r#"{"resultType":"scalar","result":[-1.500,"-2"]}"#
        );
    }
}
