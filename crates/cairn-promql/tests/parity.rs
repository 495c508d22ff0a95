//! Parity with a real Prometheus 2.42: the same generated data is backfilled
//! into Prometheus with `promtool` and loaded into [`MemStorage`]; every query
//! below then runs as instant queries at several times and as range queries,
//! through Prometheus' HTTP API and through [`Engine`], and the results must
//! agree: same series, same timestamps, values equal within a relative 1e-9
//! (NaN equal to NaN). All mismatches are reported together.
//!
//! Skipped, with a message, when Prometheus is not installed. Set
//! `PARITY_DEBUG=1` to print the size of every Prometheus answer, which shows
//! whether a query actually exercises data.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_promql::testing::MemStorage;
use cairn_promql::{Engine, Labels, QueryError, Value};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";

/// The data starts on a 2h boundary so that it fits in one TSDB block.
const T0: i64 = 1_699_999_200_000;
const SCRAPE: i64 = 15_000;
const SAMPLES: i64 = 480;
const MINUTE: i64 = 60_000;

/// The queries, with `{t0}`-style placeholders for absolute times.
fn queries() -> Vec<String> {
    let at_1h = (T0 + 60 * MINUTE) / 1000;
    let q = [
        // Selectors and matchers.
        r#"http_requests_total"#,
        r#"http_requests_total{code=~"5.."}"#,
        r#"http_requests_total{job!="api", code!~"2.."}"#,
        r#"temperature{room="r2"}"#,
        r#"http_requests_total offset 10m"#,
        r#"temperature offset -3m"#,
        // Counters with resets, and a series starting late.
        r#"rate(http_requests_total[5m])"#,
        r#"irate(http_requests_total[2m])"#,
        r#"increase(http_requests_total[10m])"#,
        r#"resets(http_requests_total[30m])"#,
        r#"rate(http_requests_total[1m])"#,
        // Aggregations.
        r#"sum by (job) (rate(http_requests_total[5m]))"#,
        r#"sum without (instance) (rate(http_requests_total[5m]))"#,
        r#"avg by (job) (http_requests_total)"#,
        r#"max by (code) (http_requests_total) - min by (code) (http_requests_total)"#,
        r#"count by (job) (http_requests_total) > 3"#,
        r#"group by (job, instance) (http_requests_total)"#,
        r#"topk(3, rate(http_requests_total[5m]))"#,
        r#"bottomk by (job) (1, http_requests_total)"#,
        r#"topk(2, temperature{room="r3"})"#,
        r#"quantile(0.75, temperature)"#,
        r#"quantile by (job) (0.9, rate(http_requests_total[5m]))"#,
        r#"count_values("celsius", round(temperature))"#,
        r#"stddev(temperature)"#,
        r#"stdvar by (job) (http_requests_total)"#,
        // Histograms, including a bucket that goes non-monotonic.
        r#"histogram_quantile(0.9, sum by (le, job) (rate(req_duration_seconds_bucket[5m])))"#,
        r#"histogram_quantile(0.5, rate(req_duration_seconds_bucket[10m]))"#,
        r#"histogram_quantile(0.99, req_duration_seconds_bucket)"#,
        r#"sum by (job) (rate(req_duration_seconds_sum[10m])) / sum by (job) (rate(req_duration_seconds_count[10m]))"#,
        // Subqueries.
        r#"max_over_time(rate(http_requests_total[2m])[30m:1m])"#,
        r#"avg_over_time(temperature[10m:30s] offset 5m)"#,
        r#"min_over_time(temperature[7m:])"#,
        r#"rate(sum by (job) (http_requests_total)[10m:2m])"#,
        // Vector matching.
        r#"rate(http_requests_total[5m]) * on(job) group_left(version) build_info"#,
        r#"build_info * on(job) group_right(version) http_requests_total"#,
        r#"http_requests_total{code="500"} / ignoring(code) http_requests_total{code="200"}"#,
        r#"http_requests_total + on(job) build_info"#,
        // Comparisons and set operators.
        r#"http_requests_total > 500"#,
        r#"http_requests_total > bool 500"#,
        r#"600 < http_requests_total"#,
        r#"http_requests_total{code="200"} and on(job, instance) http_requests_total{code="500"} > 20"#,
        r#"temperature{room="r1"} > 22 or temperature{room="r2"}"#,
        r#"http_requests_total unless on(job, code) http_requests_total{instance="a", code="500"}"#,
        // Labels.
        r#"label_replace(http_requests_total, "svc", "$1-svc", "job", "(a.*)")"#,
        r#"label_join(build_info, "id", "/", "job", "version")"#,
        // absent.
        r#"absent(nonexistent{job="x", code=~"5.."})"#,
        r#"absent(temperature{room="r2"})"#,
        r#"absent_over_time(temperature{room="r2"}[3m])"#,
        // Math.
        r#"clamp(temperature, 19.5, 22.5)"#,
        r#"clamp_min(temperature, 21) + clamp_max(temperature, 21)"#,
        r#"round(temperature, 0.5) - ceil(temperature) + floor(temperature)"#,
        r#"abs(delta(temperature[10m]))"#,
        r#"sqrt(http_requests_total) + ln(http_requests_total + 1) + log2(http_requests_total + 1) + log10(http_requests_total + 1)"#,
        r#"exp(temperature / 10) + sgn(deriv(temperature[15m]))"#,
        r#"-temperature % 3 + (temperature - 20) ^ 2"#,
        r#"temperature atan2 20"#,
        r#"1 - 2 * 3 ^ 2 % 5"#,
        r#"nan_gauge"#,
        r#"sum(nan_gauge) + max(nan_gauge) + min(nan_gauge)"#,
        // Time.
        r#"time()"#,
        r#"time() - timestamp(temperature)"#,
        r#"timestamp(http_requests_total)"#,
        r#"hour() + minute() + day_of_week() + day_of_month() + days_in_month() + month() + year()"#,
        r#"minute(timestamp(temperature{room="r1"}))"#,
        r#"scalar(sum(build_info))"#,
        r#"http_requests_total / scalar(count(http_requests_total))"#,
        r#"vector(time() / 60)"#,
        // Range-vector functions.
        r#"predict_linear(temperature[30m], 3600)"#,
        r#"deriv(temperature[15m])"#,
        r#"idelta(temperature[5m])"#,
        r#"changes(temperature[10m])"#,
        r#"sum_over_time(temperature[10m]) + count_over_time(temperature[10m])"#,
        r#"min_over_time(temperature[10m]) + max_over_time(temperature[10m])"#,
        r#"quantile_over_time(0.9, temperature[20m])"#,
        r#"stddev_over_time(temperature[20m]) + stdvar_over_time(temperature[20m])"#,
        r#"last_over_time(temperature[10m])"#,
        r#"present_over_time(temperature[2m])"#,
        r#"holt_winters(temperature[20m], 0.3, 0.6)"#,
        // Sorting.
        r#"sort(temperature)"#,
        r#"sort_desc(rate(http_requests_total[5m]))"#,
    ];
    let mut out: Vec<String> = q.iter().map(|s| s.to_string()).collect();
    // The @ modifier.
    out.push(format!("sum(http_requests_total @ {at_1h})"));
    out.push("http_requests_total @ end()".into());
    out.push("rate(http_requests_total[5m] @ start())".into());
    out.push(format!("temperature @ {at_1h} offset 5m"));
    out.push(format!(
        r#"max_over_time(temperature{{room="r1"}} @ {at_1h} [10m:1m])"#
    ));
    out.push(format!(
        r#"max_over_time(temperature{{room="r1"}}[10m:1m] @ {at_1h})"#
    ));
    out.push(format!(
        r#"sum_over_time(temperature{{room="r1"}}[10m:1m] @ {at_1h} offset 5m)"#
    ));
    out.push(format!(
        r#"count_over_time(temperature @ {at_1h} [10m:1m] offset 5m)"#
    ));
    out.push(format!(
        r#"timestamp(temperature{{room="r1"}} @ {at_1h} offset 5m)"#
    ));
    out.push(format!(
        r#"-temperature{{room="r1"}} @ {at_1h} + temperature"#
    ));
    // Left out: `predict_linear(x[10m] @ t, 60)` in a range query. Prometheus
    // 2.42 pins such a window only at the first step and slides it with the
    // step afterwards (predict_linear is "@-unsafe", so the selector is not
    // evaluated as step-invariant, while its offset was adjusted for the
    // start time), and the samples it sees are further clipped to what was
    // fetched for `[t - 10m, t]`. The engine keeps the documented meaning of
    // `@` (the window is pinned at every step); instant queries agree.
    out.push(format!(
        r#"hour(timestamp(temperature{{room="r1"}} @ {at_1h}))"#
    ));
    out.extend(
        [
            // Ties: which series topk/bottomk keep, and sort order.
            r#"topk(1, temperature{room=~"r3|r4"})"#,
            r#"bottomk(1, temperature{room=~"r3|r4"})"#,
            r#"topk(3, temperature)"#,
            r#"sort(temperature{room=~"r3|r4"})"#,
            // NaN.
            r#"quantile(0.5, nan_gauge)"#,
            r#"round(nan_gauge) + changes(nan_gauge[10m])"#,
            r#"count_values("v", nan_gauge)"#,
            r#"deriv(nan_gauge[10m])"#,
            r#"max_over_time(nan_gauge[2m])"#,
            // Metric names dropped into duplicates are errors.
            r#"{__name__=~"req_duration_seconds_(sum|count)"} * 1"#,
            r#"rate({__name__=~"req_duration_seconds_(sum|count)"}[5m])"#,
            r#"last_over_time({__name__=~"req_duration_seconds_(sum|count)"}[5m])"#,
            r#"topk(1e30, temperature)"#,
            // More shapes.
            r#"count_values without (room) ("v", temperature)"#,
            r#"stddev by (room) (temperature)"#,
            r#"sum by (le) (req_duration_seconds_bucket)"#,
            r#"resets(req_duration_seconds_bucket[30m])"#,
            r#"increase(req_duration_seconds_count[1h])"#,
            r#"rate(http_requests_total[5m:30s])"#,
            r#"sum(rate(http_requests_total[5m])) by (job) > bool 1"#,
            r#"1 + time()"#,
            r#"scalar(temperature)"#,
            r#"absent(nonexistent)"#,
            r#"day_of_year()"#,
            r#"vector(1) atan2 vector(2)"#,
            r#""a string""#,
            r#"temperature[5m]"#,
            r#"temperature{room="r2"}[10m:2m]"#,
        ]
        .map(String::from),
    );
    out
}

/// Instant query times, relative to T0: a sample-aligned time, one between
/// samples, one just after r2 ends (lookback), one after all data ended.
fn instant_times() -> Vec<i64> {
    vec![
        T0 + 30 * MINUTE,
        T0 + 61 * MINUTE + 500,
        T0 + 93 * MINUTE,
        T0 + 123 * MINUTE,
    ]
}

/// Range queries `(start, end)`, step 60s, one hour each.
fn ranges() -> Vec<(i64, i64)> {
    vec![
        (T0 + 45 * MINUTE, T0 + 105 * MINUTE),
        (T0 + 85 * MINUTE, T0 + 145 * MINUTE),
    ]
}

/// A deterministic pseudo-random generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `(seconds, value)` points; the seconds are what the OpenMetrics file says.
type Points = Vec<(f64, f64)>;

struct Dataset {
    /// Metric name to its series.
    families: BTreeMap<String, Vec<(Labels, Points)>>,
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    let mut l: Labels = pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    l.sort();
    l
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

impl Dataset {
    fn add(&mut self, name: &str, extra: &[(&str, &str)], points: Points) {
        let mut pairs = vec![("__name__", name)];
        pairs.extend_from_slice(extra);
        self.families
            .entry(name.to_string())
            .or_default()
            .push((labels(&pairs), points));
    }

    fn generate() -> Dataset {
        let mut d = Dataset {
            families: BTreeMap::new(),
        };
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let grid = |i: i64| seconds(T0 + i * SCRAPE);

        // Counters, scraped with a little jitter; two reset, one starts late.
        for (job, instance, code) in [
            ("api", "a", "200"),
            ("api", "a", "500"),
            ("api", "b", "200"),
            ("api", "b", "500"),
            ("web", "a", "200"),
            ("web", "a", "500"),
            ("web", "b", "200"),
            ("web", "b", "500"),
        ] {
            let weight = if code == "500" { 1.0 } else { 6.0 };
            let mut value = 0.0f64;
            let mut points = Vec::new();
            for i in 0..SAMPLES {
                if job == "web" && instance == "a" && code == "500" && i < 100 {
                    continue;
                }
                value += (rng.next() * 4.0).floor() * weight;
                if (job, instance, code) == ("api", "a", "200") && i == 200 {
                    value = 3.0;
                }
                if (job, instance, code) == ("web", "b", "500") && i == 350 {
                    value = 0.0;
                }
                let jitter = (rng.next() * 400.0).floor() as i64;
                points.push((seconds(T0 + i * SCRAPE + jitter), value));
            }
            d.add(
                "http_requests_total",
                &[("job", job), ("instance", instance), ("code", code)],
                points,
            );
        }

        for (job, version) in [("api", "1.2.3"), ("web", "2.0")] {
            let points = (0..SAMPLES).map(|i| (grid(i), 1.0)).collect();
            d.add("build_info", &[("job", job), ("version", version)], points);
        }

        // Gauges: a smooth one, one with a 10 minute gap that ends at 1h30m
        // without a staleness marker, and one with many ties.
        let r1 = (0..SAMPLES)
            .map(|i| {
                let v = 21.0 + 3.0 * (i as f64 / 40.0).sin() + rng.next() * 0.5;
                (grid(i), (v * 1000.0).round() / 1000.0)
            })
            .collect();
        d.add("temperature", &[("room", "r1")], r1);
        let r2 = (0..=360)
            .filter(|i| !(160..200).contains(i))
            .map(|i| (grid(i), 19.0 + i as f64 * 0.01))
            .collect();
        d.add("temperature", &[("room", "r2")], r2);
        for room in ["r3", "r4"] {
            let points = (0..SAMPLES)
                .map(|i| (grid(i), 20.0 + ((i / 20) % 4) as f64 * 0.5))
                .collect();
            d.add("temperature", &[("room", room)], points);
        }

        let nan = (0..SAMPLES)
            .map(|i| {
                (
                    grid(i),
                    if i % 50 == 0 {
                        f64::NAN
                    } else {
                        (i % 7) as f64
                    },
                )
            })
            .collect();
        d.add("nan_gauge", &[("id", "1")], nan);

        // A classic histogram per job; web's 0.5 bucket lags behind its 0.25
        // bucket for a few scrapes, as happens with non-atomic scrapes.
        let bounds = ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"];
        for (job, scale) in [("api", 1.0), ("web", 3.0)] {
            let mut cumulative = [0.0f64; 6];
            let mut sum = 0.0;
            let mut series: Vec<Points> = vec![Vec::new(); 6];
            let mut sums = Vec::new();
            let mut counts = Vec::new();
            for i in 0..SAMPLES {
                let mut running = 0.0;
                for (b, c) in cumulative.iter_mut().enumerate() {
                    running += (rng.next() * 3.0 * scale).floor() + b as f64;
                    *c += running;
                }
                sum += running * 0.3;
                for (b, s) in series.iter_mut().enumerate() {
                    let glitch = job == "web" && b == 3 && (300..303).contains(&i);
                    let v = if glitch {
                        cumulative[2] - 5.0
                    } else {
                        cumulative[b]
                    };
                    s.push((grid(i), v));
                }
                sums.push((grid(i), (sum * 1000.0).round() / 1000.0));
                counts.push((grid(i), cumulative[5]));
            }
            for (b, points) in series.into_iter().enumerate() {
                d.add(
                    "req_duration_seconds_bucket",
                    &[("job", job), ("le", bounds[b])],
                    points,
                );
            }
            d.add("req_duration_seconds_sum", &[("job", job)], sums);
            d.add("req_duration_seconds_count", &[("job", job)], counts);
        }
        d
    }

    /// OpenMetrics text with timestamps in seconds, one family at a time.
    fn openmetrics(&self) -> String {
        let mut out = String::new();
        for (name, series) in &self.families {
            for (labels, points) in series {
                let pairs: Vec<String> = labels
                    .iter()
                    .filter(|(n, _)| n != "__name__")
                    .map(|(n, v)| format!("{n}=\"{v}\""))
                    .collect();
                for &(t, v) in points {
                    out.push_str(&format!(
                        "{name}{{{}}} {} {t}\n",
                        pairs.join(","),
                        cairn_promql::format_value(v)
                    ));
                }
            }
        }
        out.push_str("# EOF\n");
        out
    }

    /// The same data in memory, with timestamps converted as Prometheus'
    /// OpenMetrics parser does (`int64(seconds * 1000)`).
    fn storage(&self) -> MemStorage {
        let mut storage = MemStorage::new();
        for series in self.families.values() {
            for (labels, points) in series {
                storage.add(
                    labels.clone(),
                    points.iter().map(|&(t, v)| ((t * 1000.0) as i64, v)),
                );
            }
        }
        storage
    }
}

/// Kills the Prometheus server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

fn start_prometheus(dir: &Path, data: &Dataset) -> (Server, String) {
    let input = dir.join("data.om");
    std::fs::write(&input, data.openmetrics()).unwrap();
    let tsdb = dir.join("tsdb");
    let out = Command::new(PROMTOOL)
        .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
        .arg(&input)
        .arg(&tsdb)
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 15s\n").unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", tsdb.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.retention.time=100y")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("prometheus starts");
    (Server(child), format!("http://127.0.0.1:{port}"))
}

async fn wait_ready(client: &reqwest::Client, base: &str, server: &mut Server, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{base}/-/ready")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        let log = || std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default();
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("prometheus exited with {status}:\n{}", log());
        }
        assert!(
            Instant::now() < deadline,
            "prometheus not ready:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A result in a shape both sides can be compared in.
#[derive(Debug)]
enum Outcome {
    Error(String),
    Scalar(i64, f64),
    Str(String),
    Vector(Vec<(Labels, f64)>),
    Matrix(Vec<(Labels, Vec<(i64, f64)>)>),
}

fn parse_number(v: &serde_json::Value) -> f64 {
    let s = v.as_str().expect("sample values are strings");
    match s {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        _ => s.parse().expect("a number"),
    }
}

fn parse_time(v: &serde_json::Value) -> i64 {
    (v.as_f64().expect("timestamps are numbers") * 1000.0).round() as i64
}

fn parse_metric(v: &serde_json::Value) -> Labels {
    let mut l: Labels = v
        .as_object()
        .expect("metric is an object")
        .iter()
        .map(|(n, v)| (n.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    l.sort();
    l
}

fn from_prometheus(body: &serde_json::Value) -> Outcome {
    if body["status"] != "success" {
        return Outcome::Error(body["errorType"].as_str().unwrap_or("?").to_string());
    }
    let result = &body["data"]["result"];
    match body["data"]["resultType"].as_str() {
        Some("scalar") => Outcome::Scalar(parse_time(&result[0]), parse_number(&result[1])),
        Some("string") => Outcome::Str(result[1].as_str().unwrap_or_default().to_string()),
        Some("vector") => Outcome::Vector(
            result
                .as_array()
                .unwrap()
                .iter()
                .map(|s| (parse_metric(&s["metric"]), parse_number(&s["value"][1])))
                .collect(),
        ),
        Some("matrix") => Outcome::Matrix(
            result
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    let points = s["values"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| (parse_time(&p[0]), parse_number(&p[1])))
                        .collect();
                    (parse_metric(&s["metric"]), points)
                })
                .collect(),
        ),
        other => panic!("unexpected result type {other:?}"),
    }
}

fn from_engine(r: Result<Value, QueryError>) -> Outcome {
    match r {
        Err(e) => Outcome::Error(e.error_type().to_string()),
        Ok(Value::Scalar { t, v }) => Outcome::Scalar(t, v),
        Ok(Value::String { v, .. }) => Outcome::Str(v),
        Ok(Value::Vector(samples)) => {
            Outcome::Vector(samples.into_iter().map(|s| (s.labels, s.v)).collect())
        }
        Ok(Value::Matrix(series)) => {
            Outcome::Matrix(series.into_iter().map(|s| (s.labels, s.samples)).collect())
        }
    }
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Describes how `ours` differs from Prometheus' `theirs`, if it does.
fn compare(theirs: &Outcome, ours: &Outcome, ordered: bool) -> Option<String> {
    let differs = |what: String| {
        Some(format!(
            "{what}\n    prometheus: {theirs:?}\n    engine:     {ours:?}"
        ))
    };
    match (theirs, ours) {
        (Outcome::Error(a), Outcome::Error(b)) if a == b => None,
        (Outcome::Scalar(ta, a), Outcome::Scalar(tb, b)) if ta == tb && close(*a, *b) => None,
        (Outcome::Str(a), Outcome::Str(b)) if a == b => None,
        (Outcome::Vector(a), Outcome::Vector(b)) => {
            if ordered {
                let va: Vec<f64> = a.iter().map(|s| s.1).collect();
                let vb: Vec<f64> = b.iter().map(|s| s.1).collect();
                if va.len() != vb.len() || !va.iter().zip(&vb).all(|(x, y)| close(*x, *y)) {
                    return differs("different order".into());
                }
            }
            let ma: BTreeMap<&Labels, f64> = a.iter().map(|(l, v)| (l, *v)).collect();
            let mb: BTreeMap<&Labels, f64> = b.iter().map(|(l, v)| (l, *v)).collect();
            let same = ma.len() == a.len()
                && mb.len() == b.len()
                && ma.len() == mb.len()
                && ma
                    .iter()
                    .zip(&mb)
                    .all(|((la, va), (lb, vb))| la == lb && close(*va, *vb));
            (!same)
                .then(|| differs("different samples".into()))
                .flatten()
        }
        (Outcome::Matrix(a), Outcome::Matrix(b)) => {
            let ma: BTreeMap<&Labels, &Vec<(i64, f64)>> = a.iter().map(|(l, p)| (l, p)).collect();
            let mb: BTreeMap<&Labels, &Vec<(i64, f64)>> = b.iter().map(|(l, p)| (l, p)).collect();
            if ma.len() != mb.len() || ma.keys().ne(mb.keys()) {
                return differs("different series".into());
            }
            for ((labels, pa), pb) in ma.iter().zip(mb.values()) {
                let same = pa.len() == pb.len()
                    && pa
                        .iter()
                        .zip(pb.iter())
                        .all(|(x, y)| x.0 == y.0 && close(x.1, y.1));
                if !same {
                    return Some(format!(
                        "series {labels:?} differs\n    prometheus: {pa:?}\n    engine:     {pb:?}"
                    ));
                }
            }
            None
        }
        _ => differs("different results".into()),
    }
}

fn summary(o: &Outcome) -> String {
    match o {
        Outcome::Vector(v) => format!("{} samples", v.len()),
        Outcome::Matrix(m) => format!(
            "{} series, {} points",
            m.len(),
            m.iter().map(|s| s.1.len()).sum::<usize>()
        ),
        other => format!("{other:?}"),
    }
}

fn millis_param(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

#[tokio::test(flavor = "multi_thread")]
async fn engine_matches_prometheus() {
    if !Path::new(PROMETHEUS).exists() || !Path::new(PROMTOOL).exists() {
        println!(
            "skipped: prometheus not installed (Debian package prometheus; .ci/run installs it)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = Dataset::generate();
    let storage = data.storage();
    let (mut server, base) = start_prometheus(dir.path(), &data);
    let client = reqwest::Client::new();
    wait_ready(&client, &base, &mut server, dir.path()).await;

    let engine = Engine::default();
    let mut mismatches = Vec::new();
    let mut evaluations = 0;
    let queries = queries();
    for query in &queries {
        let ordered = query.starts_with("sort");
        for &t in &instant_times() {
            let body: serde_json::Value = client
                .get(format!("{base}/api/v1/query"))
                .query(&[("query", query.as_str()), ("time", &millis_param(t))])
                .send()
                .await
                .expect("prometheus answers")
                .json()
                .await
                .expect("a JSON body");
            let theirs = from_prometheus(&body);
            let ours = from_engine(engine.instant(&storage, query, t));
            evaluations += 1;
            if std::env::var("PARITY_DEBUG").is_ok() {
                println!("instant {query} @{t}: {}", summary(&theirs));
            }
            if let Some(diff) = compare(&theirs, &ours, ordered) {
                mismatches.push(format!("instant {query}  @ T0{:+}ms\n  {diff}", t - T0));
            }
        }
        for &(start, end) in &ranges() {
            let body: serde_json::Value = client
                .get(format!("{base}/api/v1/query_range"))
                .query(&[
                    ("query", query.as_str()),
                    ("start", &millis_param(start)),
                    ("end", &millis_param(end)),
                    ("step", "60"),
                ])
                .send()
                .await
                .expect("prometheus answers")
                .json()
                .await
                .expect("a JSON body");
            let theirs = from_prometheus(&body);
            let ours = from_engine(engine.range(&storage, query, start, end, MINUTE));
            evaluations += 1;
            if std::env::var("PARITY_DEBUG").is_ok() {
                println!("range {query}: {}", summary(&theirs));
            }
            if let Some(diff) = compare(&theirs, &ours, false) {
                mismatches.push(format!(
                    "range {query}  T0{:+}ms..T0{:+}ms\n  {diff}",
                    start - T0,
                    end - T0
                ));
            }
        }
    }
    println!(
        "parity: {} queries, {evaluations} evaluations, {} mismatches",
        queries.len(),
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {evaluations} evaluations differ from Prometheus:\n\n{}",
        mismatches.len(),
        mismatches.join("\n\n")
    );
}
