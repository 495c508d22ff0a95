//! cairn's own metrics in the Prometheus text format: requests by route and status,
//! request latency histograms by route, and the store's connection pool.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Latency buckets in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

/// Request counters and latency histograms.
#[derive(Default)]
pub struct Metrics(Mutex<Inner>);

impl Metrics {
    fn observe(&self, method: &str, route: &str, status: u16, secs: f64) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *m.requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        let h = m.latency.entry(route.to_owned()).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    fn text(&self) -> String {
        use std::fmt::Write;
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        out.push_str(
            "# HELP cairn_http_requests_total HTTP requests answered, by route and status.\n",
        );
        out.push_str("# TYPE cairn_http_requests_total counter\n");
        for ((method, route, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "cairn_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str(
            "# HELP cairn_http_request_duration_seconds Time to answer HTTP requests, by route.\n",
        );
        out.push_str("# TYPE cairn_http_request_duration_seconds histogram\n");
        for (route, h) in &m.latency {
            let r = escape(route);
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "cairn_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "cairn_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "cairn_http_request_duration_seconds_sum{{route=\"{r}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "cairn_http_request_duration_seconds_count{{route=\"{r}\"}} {}",
                h.count
            );
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware that records every request under its route pattern (never the raw path,
/// which would make one series per id).
pub async fn track(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let start = Instant::now();
    let res = next.run(req).await;
    let secs = start.elapsed().as_secs_f64();
    let status = res.status().as_u16();
    s.metrics.observe(&method, &route, status, secs);
    tracing::debug!(%method, %route, status, ms = secs * 1000.0, "request");
    res
}

pub async fn render(State(s): State<AppState>) -> impl IntoResponse {
    use std::fmt::Write;
    let mut out = s.metrics.text();
    let pool = s.app.store.pool_stats();
    let backend = match s.app.store.backend() {
        cairn_store::Backend::Sqlite => "sqlite",
        cairn_store::Backend::Postgres => "postgres",
    };
    out.push_str("# HELP cairn_store_connections Connections of the store's pool, by state.\n");
    out.push_str("# TYPE cairn_store_connections gauge\n");
    let _ = writeln!(
        out,
        "cairn_store_connections{{backend=\"{backend}\",state=\"idle\"}} {}",
        pool.idle
    );
    let _ = writeln!(
        out,
        "cairn_store_connections{{backend=\"{backend}\",state=\"in_use\"}} {}",
        pool.size.saturating_sub(pool.idle)
    );
    let _ = writeln!(
        out,
        "cairn_store_connections{{backend=\"{backend}\",state=\"max\"}} {}",
        pool.max
    );
    if let Some(m) = &s.app.metrics {
        let m = m.clone();
        if let Ok(text) = tokio::task::spawn_blocking(move || metrics_store_text(&m)).await {
            out.push_str(&text);
        }
    }
    out.push_str("# HELP cairn_build_info cairn's version.\n# TYPE cairn_build_info gauge\n");
    let _ = writeln!(
        out,
        "cairn_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

/// The metrics store's sizes, memory and counters, and the forwarder's, in the text
/// format. Blocking: it walks the series of the head and the blocks.
fn metrics_store_text(m: &cairn_app::metrics::Metrics) -> String {
    use std::fmt::Write;
    let st = m.tsdb().stats();
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(&str, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    family(
        "cairn_tsdb_series",
        "gauge",
        "Distinct series in the head and all blocks.",
        &[("", st.series as f64)],
    );
    family(
        "cairn_tsdb_head_series",
        "gauge",
        "Series in the in-memory head.",
        &[("", st.head_series as f64)],
    );
    family(
        "cairn_tsdb_head_samples",
        "gauge",
        "Samples in the in-memory head.",
        &[("", st.head_samples as f64)],
    );
    family(
        "cairn_tsdb_head_memory_bytes",
        "gauge",
        "Estimated memory held by the head's chunks, series and index.",
        &[("", st.head_bytes as f64)],
    );
    family(
        "cairn_tsdb_blocks",
        "gauge",
        "Immutable blocks on disk.",
        &[("", st.blocks as f64)],
    );
    family(
        "cairn_tsdb_storage_bytes",
        "gauge",
        "Bytes on disk, by part.",
        &[
            ("{part=\"blocks\"}", st.block_bytes as f64),
            ("{part=\"wal\"}", st.wal_bytes as f64),
        ],
    );
    family(
        "cairn_tsdb_samples_appended_total",
        "counter",
        "Samples accepted since start.",
        &[("", st.samples_total as f64)],
    );
    family(
        "cairn_tsdb_samples_rejected_total",
        "counter",
        "Samples not stored since start, by reason.",
        &[
            (
                "{reason=\"out_of_order\"}",
                st.out_of_order_rejected_total as f64,
            ),
            ("{reason=\"duplicate\"}", st.duplicates_total as f64),
            ("{reason=\"too_old\"}", st.too_old_rejected_total as f64),
        ],
    );
    if let Some(f) = m.forwarder() {
        let fs = f.stats();
        family(
            "cairn_forward_queue_bytes",
            "gauge",
            "Bytes waiting in the forwarding queue, and its limit.",
            &[
                ("{state=\"pending\"}", fs.pending_bytes as f64),
                ("{state=\"max\"}", fs.max_queue_bytes as f64),
            ],
        );
        family(
            "cairn_forward_samples_queued_total",
            "counter",
            "Samples put on the forwarding queue since start.",
            &[("", fs.queued_samples as f64)],
        );
        family(
            "cairn_forward_requests_total",
            "counter",
            "Remote write requests to the external store since start, by outcome.",
            &[
                ("{outcome=\"sent\"}", fs.sent_requests as f64),
                ("{outcome=\"failed_retried\"}", fs.failed_attempts as f64),
                ("{outcome=\"dropped\"}", fs.dropped_requests as f64),
            ],
        );
        family(
            "cairn_forward_sent_bytes_total",
            "counter",
            "Compressed bytes sent to the external store since start.",
            &[("", fs.sent_bytes as f64)],
        );
        family(
            "cairn_forward_refused_full_total",
            "counter",
            "Ingest requests refused because the forwarding queue was full.",
            &[("", fs.refused_full as f64)],
        );
    }
    out
}
