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
