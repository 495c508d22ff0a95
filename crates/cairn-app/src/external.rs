//! Outgrowing one machine: an external Prometheus-compatible long-term store
//! (VictoriaMetrics, Mimir, Thanos receive) beside cairn's own.
//!
//! - **Forwarding** ([`Forwarder`]): everything ingested is also put, as bare remote
//!   write protobuf, on a durable on-disk queue (`<data-dir>/forward`), and a sender
//!   task drains it to the store's remote write URL. Queued requests are concatenated
//!   into batches (protobuf merges them), snappy-compressed and sent; a batch is
//!   acknowledged on a 2xx, retried with exponential backoff and jitter on a 5xx, a 429
//!   or a network error, and dropped (counted, logged) on any other 4xx, which would
//!   fail forever. **Backpressure:** when more than the queue's limit waits, ingest is
//!   refused with 503 so that senders (Prometheus, vmagent, exporters pushing) keep
//!   their data and retry, rather than cairn filling its disk.
//! - **Query mode** ([`RemoteQuery`]): PromQL queries, series and label lookups go to
//!   the store's Prometheus HTTP API and come back as cairn's own values, so the
//!   Prometheus edge, the UI's charts and every loop that reads metrics work the same
//!   against either store.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_promql::{InstantSample, Series, Value};
use cairn_tsdb::queue::{DiskQueue, QueueOptions};
use cairn_tsdb::FsyncPolicy;
use cairn_wire::remote_write::{Label, MetricMetadata, Sample, TimeSeries, WriteRequest};
use serde::Serialize;
use tokio::sync::{watch, Notify};

use crate::metrics::{IncomingSeries, MetricMeta};
use crate::{AppError, Result};

/// Where and how to forward.
#[derive(Debug, Clone)]
pub struct ForwardConfig {
    /// The remote write URL, e.g. `http://victoria:8428/api/v1/write`.
    pub url: String,
    /// Sent as `Authorization: Bearer ...` when set.
    pub bearer_token: Option<String>,
    /// The queue's directory.
    pub queue_dir: PathBuf,
    /// Ingest is refused while more than this many bytes wait to be sent.
    pub max_queue_bytes: u64,
    pub fsync: FsyncPolicy,
    /// The most bare protobuf bytes in one request.
    pub batch_bytes: usize,
    pub timeout: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

impl ForwardConfig {
    pub fn new(url: impl Into<String>, queue_dir: impl Into<PathBuf>) -> ForwardConfig {
        ForwardConfig {
            url: url.into(),
            bearer_token: None,
            queue_dir: queue_dir.into(),
            max_queue_bytes: 1 << 30,
            fsync: FsyncPolicy::Always,
            batch_bytes: 4 << 20,
            timeout: Duration::from_secs(30),
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// What the forwarder has done, for `/metrics` and the UI.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ForwardStats {
    pub url: String,
    pub queued_samples: u64,
    pub pending_bytes: u64,
    pub max_queue_bytes: u64,
    pub sent_requests: u64,
    pub sent_bytes: u64,
    pub failed_attempts: u64,
    pub dropped_requests: u64,
    pub refused_full: u64,
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Counters {
    queued_samples: AtomicU64,
    sent_requests: AtomicU64,
    sent_bytes: AtomicU64,
    failed_attempts: AtomicU64,
    dropped_requests: AtomicU64,
    refused_full: AtomicU64,
}

/// Forwards ingested samples to an external store. See the module documentation.
pub struct Forwarder {
    config: ForwardConfig,
    queue: DiskQueue,
    counters: Counters,
    last_error: Mutex<Option<String>>,
    wake: Notify,
}

fn wire_series(series: &[IncomingSeries], metadata: &[(String, MetricMeta)]) -> WriteRequest {
    WriteRequest {
        timeseries: series
            .iter()
            .map(|s| TimeSeries {
                labels: s
                    .labels
                    .iter()
                    .map(|(n, v)| Label {
                        name: n.clone(),
                        value: v.clone(),
                    })
                    .collect(),
                samples: s
                    .samples
                    .iter()
                    .map(|&(timestamp, value)| Sample { value, timestamp })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        metadata: metadata
            .iter()
            .map(|(family, m)| {
                let kind = match m.kind.as_str() {
                    "counter" => cairn_wire::remote_write::MetadataType::Counter,
                    "gauge" => cairn_wire::remote_write::MetadataType::Gauge,
                    "histogram" => cairn_wire::remote_write::MetadataType::Histogram,
                    "summary" => cairn_wire::remote_write::MetadataType::Summary,
                    "info" => cairn_wire::remote_write::MetadataType::Info,
                    "stateset" => cairn_wire::remote_write::MetadataType::StateSet,
                    "gaugehistogram" => cairn_wire::remote_write::MetadataType::GaugeHistogram,
                    _ => cairn_wire::remote_write::MetadataType::Unknown,
                };
                MetricMetadata {
                    r#type: kind as i32,
                    metric_family_name: family.clone(),
                    help: m.help.clone(),
                    unit: m.unit.clone(),
                }
            })
            .collect(),
    }
}

impl Forwarder {
    /// Opens the queue (resuming what a previous run left unsent).
    pub fn open(config: ForwardConfig) -> Result<Arc<Forwarder>> {
        let queue = DiskQueue::open(QueueOptions {
            max_bytes: config.max_queue_bytes,
            fsync: config.fsync,
            ..QueueOptions::new(&config.queue_dir)
        })
        .map_err(|e| AppError::Internal(format!("cannot open the forwarding queue: {e}")))?;
        Ok(Arc::new(Forwarder {
            config,
            queue,
            counters: Counters::default(),
            last_error: Mutex::new(None),
            wake: Notify::new(),
        }))
    }

    /// Puts a batch on the queue; blocking (it may fsync). Refuses with
    /// [`AppError::Unavailable`] while the queue is full.
    pub fn enqueue(
        &self,
        series: &[IncomingSeries],
        metadata: &[(String, MetricMeta)],
    ) -> Result<()> {
        let raw = cairn_wire::remote_write::encode_protobuf(&wire_series(series, metadata));
        match self.queue.push(&raw) {
            Ok(()) => {
                let n: usize = series.iter().map(|s| s.samples.len()).sum();
                self.counters
                    .queued_samples
                    .fetch_add(n as u64, Ordering::Relaxed);
                self.wake.notify_one();
                Ok(())
            }
            Err(cairn_tsdb::Error::QueueFull { pending, limit }) => {
                self.counters.refused_full.fetch_add(1, Ordering::Relaxed);
                Err(AppError::Unavailable(format!(
                    "the queue forwarding to {} is full ({pending} bytes wait, the limit is \
                     {limit}); retry later: ingest resumes as the external store catches up",
                    self.config.url
                )))
            }
            Err(e) => Err(AppError::Internal(format!("forwarding queue: {e}"))),
        }
    }

    pub fn stats(&self) -> ForwardStats {
        let c = &self.counters;
        ForwardStats {
            url: self.config.url.clone(),
            queued_samples: c.queued_samples.load(Ordering::Relaxed),
            pending_bytes: self.queue.stats().pending_bytes,
            max_queue_bytes: self.queue.max_bytes(),
            sent_requests: c.sent_requests.load(Ordering::Relaxed),
            sent_bytes: c.sent_bytes.load(Ordering::Relaxed),
            failed_attempts: c.failed_attempts.load(Ordering::Relaxed),
            dropped_requests: c.dropped_requests.load(Ordering::Relaxed),
            refused_full: c.refused_full.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    fn note_error(&self, e: String) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
    }

    /// Drains the queue to the external store until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let client = match reqwest::Client::builder()
            .timeout(self.config.timeout)
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the forwarding client");
                return;
            }
        };
        let mut backoff = self.config.min_backoff;
        let mut last_sync = std::time::Instant::now();
        loop {
            if *shutdown.borrow() {
                return;
            }
            if matches!(self.config.fsync, FsyncPolicy::Interval(_))
                && last_sync.elapsed() >= Duration::from_secs(1)
            {
                let me = self.clone();
                let _ = tokio::task::spawn_blocking(move || me.queue.sync()).await;
                last_sync = std::time::Instant::now();
            }
            let me = self.clone();
            let batch =
                tokio::task::spawn_blocking(move || me.queue.read_batch(me.config.batch_bytes))
                    .await;
            let (records, pos) = match batch {
                Ok(Ok(Some(b))) => b,
                Ok(Ok(None)) => {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.changed() => return,
                    }
                    continue;
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "cannot read the forwarding queue");
                    self.note_error(e.to_string());
                    tokio::select! {
                        _ = tokio::time::sleep(self.config.max_backoff) => {}
                        _ = shutdown.changed() => return,
                    }
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "the forwarding queue reader failed");
                    return;
                }
            };
            let raw: Vec<u8> = records.concat();
            let body = cairn_wire::remote_write::compress(&raw);
            let mut req = client
                .post(&self.config.url)
                .header("content-type", "application/x-protobuf")
                .header("content-encoding", "snappy")
                .header("x-prometheus-remote-write-version", "0.1.0")
                .header("user-agent", concat!("cairn/", env!("CARGO_PKG_VERSION")))
                .body(body.clone());
            if let Some(t) = &self.config.bearer_token {
                req = req.bearer_auth(t);
            }
            let outcome = match req.send().await {
                Ok(res) if res.status().is_success() => Ok(()),
                Ok(res) => {
                    let status = res.status();
                    let text: String = res
                        .text()
                        .await
                        .unwrap_or_default()
                        .chars()
                        .take(300)
                        .collect();
                    let msg = format!("{} answered {status}: {text}", self.config.url);
                    if status.is_client_error() && status.as_u16() != 429 {
                        Err((msg, false))
                    } else {
                        Err((msg, true))
                    }
                }
                Err(e) => Err((format!("cannot reach {}: {e}", self.config.url), true)),
            };
            match outcome {
                Ok(()) => {
                    self.counters.sent_requests.fetch_add(1, Ordering::Relaxed);
                    self.counters
                        .sent_bytes
                        .fetch_add(body.len() as u64, Ordering::Relaxed);
                    backoff = self.config.min_backoff;
                }
                Err((msg, true)) => {
                    self.counters
                        .failed_attempts
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %msg, retry_in = ?backoff, "forwarding failed; will retry");
                    self.note_error(msg);
                    let jitter = rand::random::<f64>() * 0.2 + 0.9;
                    tokio::select! {
                        _ = tokio::time::sleep(backoff.mul_f64(jitter)) => {}
                        _ = shutdown.changed() => return,
                    }
                    backoff = (backoff * 2).min(self.config.max_backoff);
                    continue;
                }
                Err((msg, false)) => {
                    self.counters
                        .dropped_requests
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %msg, "the external store refused a batch; dropping it");
                    self.note_error(msg);
                }
            }
            let me = self.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || me.queue.ack(pos)).await {
                tracing::error!(error = %e, "cannot acknowledge in the forwarding queue");
                self.note_error(e.to_string());
            }
        }
    }
}

/// Reads queries from an external store's Prometheus HTTP API.
pub struct RemoteQuery {
    /// The API root, to which `/api/v1/query` etc. are appended.
    pub base_url: String,
    pub bearer_token: Option<String>,
    client: reqwest::Client,
}

/// The `data` of a successful answer, or the error as cairn reports query errors.
fn envelope(status: reqwest::StatusCode, body: &serde_json::Value) -> Result<&serde_json::Value> {
    if body["status"] == "success" {
        return Ok(&body["data"]);
    }
    let message = body["error"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("the external store answered {status}: {body}"));
    let error_type = match body["errorType"].as_str() {
        Some("bad_data") => "bad_data",
        Some("timeout") => "timeout",
        Some("canceled") => "canceled",
        Some("execution") => "execution",
        Some("not_found") => "not_found",
        _ if status.is_client_error() => "bad_data",
        _ => "unavailable",
    };
    Err(AppError::Query {
        error_type,
        message,
    })
}

fn bad_answer(what: &str) -> AppError {
    AppError::Unavailable(format!("the external store's answer has no valid {what}"))
}

fn labels_of(v: &serde_json::Value) -> Result<Vec<(String, String)>> {
    let obj = v.as_object().ok_or_else(|| bad_answer("metric labels"))?;
    let mut labels: Vec<(String, String)> = obj
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    labels.sort();
    Ok(labels)
}

/// `[1700000000.123, "4.2"]` as milliseconds and a value.
fn point(v: &serde_json::Value) -> Result<(i64, f64)> {
    let t = v[0].as_f64().ok_or_else(|| bad_answer("timestamp"))?;
    let s = v[1].as_str().ok_or_else(|| bad_answer("sample value"))?;
    let value = s.parse::<f64>().map_err(|_| bad_answer("sample value"))?;
    Ok(((t * 1000.0).round() as i64, value))
}

/// A query result in Prometheus' JSON as a [`Value`].
pub fn parse_value(data: &serde_json::Value) -> Result<Value> {
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("scalar") => {
            let (t, v) = point(result)?;
            Ok(Value::Scalar { t, v })
        }
        Some("string") => Ok(Value::String {
            t: (result[0].as_f64().ok_or_else(|| bad_answer("timestamp"))? * 1000.0).round() as i64,
            v: result[1].as_str().unwrap_or_default().to_owned(),
        }),
        Some("vector") => {
            let items = result.as_array().ok_or_else(|| bad_answer("vector"))?;
            items
                .iter()
                .map(|i| {
                    let (t, v) = point(&i["value"])?;
                    Ok(InstantSample {
                        labels: labels_of(&i["metric"])?,
                        t,
                        v,
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map(Value::Vector)
        }
        Some("matrix") => {
            let items = result.as_array().ok_or_else(|| bad_answer("matrix"))?;
            items
                .iter()
                .map(|i| {
                    Ok(Series {
                        labels: labels_of(&i["metric"])?,
                        samples: i["values"]
                            .as_array()
                            .ok_or_else(|| bad_answer("matrix values"))?
                            .iter()
                            .map(point)
                            .collect::<Result<Vec<_>>>()?,
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map(Value::Matrix)
        }
        _ => Err(bad_answer("resultType")),
    }
}

/// Milliseconds as the decimal seconds Prometheus' API takes; the shortest decimal
/// that round-trips, so whole milliseconds stay exact.
fn secs(ms: i64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

impl RemoteQuery {
    pub fn new(base_url: impl Into<String>, bearer_token: Option<String>) -> Result<RemoteQuery> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| AppError::Internal(format!("cannot build the query client: {e}")))?;
        Ok(RemoteQuery {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            bearer_token,
            client,
        })
    }

    async fn call(&self, path: &str, form: &[(&str, String)]) -> Result<serde_json::Value> {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base_url))
            .form(form);
        if let Some(t) = &self.bearer_token {
            req = req.bearer_auth(t);
        }
        let res = req
            .send()
            .await
            .map_err(|e| AppError::Unavailable(format!("cannot reach the external store: {e}")))?;
        let status = res.status();
        let body: serde_json::Value = res.json().await.map_err(|e| {
            AppError::Unavailable(format!(
                "the external store answered {status} without JSON: {e}"
            ))
        })?;
        envelope(status, &body).cloned()
    }

    pub async fn instant(&self, query: &str, time: i64) -> Result<Value> {
        let data = self
            .call(
                "/api/v1/query",
                &[("query", query.to_owned()), ("time", secs(time))],
            )
            .await?;
        parse_value(&data)
    }

    pub async fn range(&self, query: &str, start: i64, end: i64, step: i64) -> Result<Value> {
        let data = self
            .call(
                "/api/v1/query_range",
                &[
                    ("query", query.to_owned()),
                    ("start", secs(start)),
                    ("end", secs(end)),
                    ("step", secs(step)),
                ],
            )
            .await?;
        parse_value(&data)
    }

    pub async fn series(
        &self,
        selectors: &[String],
        start: i64,
        end: i64,
    ) -> Result<Vec<Vec<(String, String)>>> {
        let mut form: Vec<(&str, String)> =
            selectors.iter().map(|s| ("match[]", s.clone())).collect();
        form.push(("start", secs(start)));
        form.push(("end", secs(end)));
        let data = self.call("/api/v1/series", &form).await?;
        let mut all: Vec<Vec<(String, String)>> = data
            .as_array()
            .ok_or_else(|| bad_answer("series list"))?
            .iter()
            .map(labels_of)
            .collect::<Result<_>>()?;
        all.sort();
        Ok(all)
    }

    /// Label names (`name: None`) or one label's values.
    pub async fn labels(
        &self,
        name: Option<&str>,
        selectors: &[String],
        start: i64,
        end: i64,
    ) -> Result<Vec<String>> {
        let mut form: Vec<(&str, String)> =
            selectors.iter().map(|s| ("match[]", s.clone())).collect();
        form.push(("start", secs(start)));
        form.push(("end", secs(end)));
        let data = match name {
            // The values endpoint takes GET only on some stores; a query string works
            // on all of them.
            Some(n) => {
                let mut req = self
                    .client
                    .get(format!("{}/api/v1/label/{n}/values", self.base_url))
                    .query(&form);
                if let Some(t) = &self.bearer_token {
                    req = req.bearer_auth(t);
                }
                let res = req.send().await.map_err(|e| {
                    AppError::Unavailable(format!("cannot reach the external store: {e}"))
                })?;
                let status = res.status();
                let body: serde_json::Value = res.json().await.map_err(|e| {
                    AppError::Unavailable(format!(
                        "the external store answered {status} without JSON: {e}"
                    ))
                })?;
                envelope(status, &body)?.clone()
            }
            None => self.call("/api/v1/labels", &form).await?,
        };
        let mut out: Vec<String> = data
            .as_array()
            .ok_or_else(|| bad_answer("label list"))?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prometheus_json_results_become_values() {
        let v = parse_value(&json!({"resultType": "vector", "result": [
            {"metric": {"job": "node", "__name__": "up"}, "value": [1700000000.5, "1"]}
        ]}))
        .unwrap();
        assert_eq!(
            v,
            Value::Vector(vec![InstantSample {
                labels: vec![
                    ("__name__".into(), "up".into()),
                    ("job".into(), "node".into())
                ],
                t: 1_700_000_000_500,
                v: 1.0
            }])
        );
        let m = parse_value(&json!({"resultType": "matrix", "result": [
            {"metric": {}, "values": [[1, "+Inf"], [2, "NaN"]]}
        ]}))
        .unwrap();
        let Value::Matrix(m) = m else { panic!() };
        assert_eq!(m[0].samples[0], (1000, f64::INFINITY));
        assert!(m[0].samples[1].1.is_nan());
        assert_eq!(
            parse_value(&json!({"resultType": "scalar", "result": [3, "2.5"]})).unwrap(),
            Value::Scalar { t: 3000, v: 2.5 }
        );
        assert!(parse_value(&json!({"resultType": "vector", "result": [{"metric": {}}]})).is_err());
    }

    #[test]
    fn an_error_answer_keeps_prometheus_error_type() {
        let body = json!({"status": "error", "errorType": "bad_data", "error": "parse error"});
        let e = envelope(reqwest::StatusCode::BAD_REQUEST, &body).unwrap_err();
        assert!(
            matches!(e, AppError::Query { error_type: "bad_data", ref message } if message == "parse error")
        );
    }

    #[test]
    fn milliseconds_are_sent_as_decimal_seconds() {
        assert_eq!(secs(1_700_000_000_123), "1700000000.123");
        assert_eq!(secs(-1), "-0.001");
        assert_eq!(secs(60_000), "60");
        assert_eq!(secs(5), "0.005");
    }
}
