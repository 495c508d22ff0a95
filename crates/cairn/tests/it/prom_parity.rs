//! Result parity with a real Prometheus: the same samples are remote-written to a
//! Prometheus server (Debian's `prometheus`) and to cairn, and the same queries are
//! asked of both HTTP APIs; the answers must agree, shapes and values.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cairn_wire::remote_write::{encode_write_request, Label, Sample, TimeSeries, WriteRequest};
use serde_json::Value;

use crate::support::{test_now, TestServer, ADMIN_TOKEN};

const PROMETHEUS: &str = "/usr/bin/prometheus";

struct Prometheus {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_prometheus() -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 15s\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let p = Prometheus {
        child,
        base,
        _dir: dir,
    };
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{}/-/ready", p.base)).send().await {
            if r.status().is_success() {
                return p;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("prometheus did not become ready");
}

/// An hour of node_exporter-like data at 15 s: counters with a reset, gauges, a
/// histogram; written time-major, as scrapes arrive.
fn dataset(t0: i64) -> Vec<WriteRequest> {
    let mut reqs = Vec::new();
    for step in 0..=240_i64 {
        let t = t0 + step * 15_000;
        let mut ts = Vec::new();
        let mut push = |name: &str, labels: &[(&str, String)], v: f64| {
            let mut ls = vec![Label {
                name: "__name__".into(),
                value: name.into(),
            }];
            ls.extend(labels.iter().map(|(k, v)| Label {
                name: (*k).into(),
                value: v.clone(),
            }));
            ls.sort_by(|a, b| a.name.cmp(&b.name));
            ts.push(TimeSeries {
                labels: ls,
                samples: vec![Sample {
                    timestamp: t,
                    value: v,
                }],
                ..Default::default()
            });
        };
        for host in 0..3 {
            let inst = format!("h{host}:9100");
            for (mode, rate) in [("idle", 0.7), ("user", 0.2), ("system", 0.1)] {
                // host 1's counters reset halfway, as after a reboot.
                let s = if host == 1 && step >= 120 {
                    step - 120
                } else {
                    step
                };
                let v = rate * 15.0 * s as f64 * (1.0 + host as f64 / 10.0);
                push(
                    "node_cpu_seconds_total",
                    &[
                        ("instance", inst.clone()),
                        ("job", "node".into()),
                        ("mode", mode.into()),
                    ],
                    v,
                );
            }
            let load = 1.0 + ((step as f64 / 10.0) + host as f64).sin();
            push(
                "node_load1",
                &[("instance", inst.clone()), ("job", "node".into())],
                (load * 1000.0).round() / 1000.0,
            );
            let mut cum = 0.0;
            for (i, le) in ["0.1", "0.5", "1", "+Inf"].iter().enumerate() {
                cum += (step * (4 - i as i64) * (host + 1)) as f64;
                push(
                    "http_request_duration_seconds_bucket",
                    &[
                        ("instance", inst.clone()),
                        ("job", "api".into()),
                        ("le", (*le).into()),
                    ],
                    cum,
                );
            }
        }
        reqs.push(WriteRequest {
            timeseries: ts,
            ..Default::default()
        });
    }
    reqs
}

const QUERIES: &[&str] = &[
    "node_load1",
    r#"node_cpu_seconds_total{mode!="idle"}"#,
    r#"sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))"#,
    "irate(node_cpu_seconds_total[5m])",
    "increase(node_cpu_seconds_total[10m])",
    "topk(2, node_load1)",
    "bottomk(1, rate(node_cpu_seconds_total[5m]))",
    "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    "avg without (mode) (rate(node_cpu_seconds_total[5m]))",
    "max_over_time(node_load1[10m])",
    "avg_over_time(node_load1[10m]) > 1",
    "node_load1 > bool 1",
    "node_load1 offset 10m",
    "count(node_load1) by (job)",
    "quantile(0.5, node_load1)",
    "stddev(node_load1)",
    "deriv(node_load1[10m])",
    "predict_linear(node_load1[10m], 600)",
    "resets(node_cpu_seconds_total[1h])",
    "rate(node_cpu_seconds_total[5m]) / on (instance) group_left sum by (instance) (rate(node_cpu_seconds_total[5m]))",
    r#"label_replace(node_load1, "host", "$1", "instance", "(h[0-9]+):.*")"#,
    "node_load1 and on (instance) node_load1 > 1",
    "node_load1 unless node_load1 > 1.5",
    "absent(nonexistent_metric)",
    "clamp(node_load1, 0.5, 1.5)",
    "max_over_time(rate(node_cpu_seconds_total[5m])[10m:1m])",
    "time() - timestamp(node_load1)",
    "sum(rate(node_cpu_seconds_total[5m])) * 100",
];

/// A result as comparable text: series sorted, values rounded to 9 significant digits.
fn normalise(v: &Value) -> Vec<String> {
    let fmt = |x: &Value| -> String {
        let s = x.as_str().unwrap_or_default();
        match s.parse::<f64>() {
            Ok(f) if f.is_finite() && f != 0.0 => format!("{:.9e}", f),
            _ => s.to_owned(),
        }
    };
    let mut out: Vec<String> = match v["resultType"].as_str() {
        Some("vector") => v["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{} @{} {}", r["metric"], r["value"][0], fmt(&r["value"][1])))
            .collect(),
        Some("matrix") => v["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let pts: Vec<String> = r["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| format!("{}={}", p[0], fmt(&p[1])))
                    .collect();
                format!("{} {}", r["metric"], pts.join(" "))
            })
            .collect(),
        _ => vec![v["result"].to_string()],
    };
    out.sort();
    out
}

#[tokio::test]
async fn queries_answer_as_prometheus_answers_them() {
    if !std::path::Path::new(PROMETHEUS).exists() {
        eprintln!(
            "skipped: prometheus not installed (Debian package prometheus; .ci/run installs it)"
        );
        return;
    }
    let prom = start_prometheus().await;
    let cairn = TestServer::builder().metrics().build().await;
    let http = reqwest::Client::new();
    let t0 = test_now().unix_timestamp() * 1000 - 3_600_000;
    for req in dataset(t0) {
        let body = encode_write_request(&req);
        for (url, token) in [
            (format!("{}/api/v1/write", prom.base), None),
            (cairn.url("/prometheus/api/v1/write"), Some(ADMIN_TOKEN)),
        ] {
            let mut r = http
                .post(&url)
                .header("content-encoding", "snappy")
                .header("content-type", "application/x-protobuf")
                .body(body.clone());
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            let res = r.send().await.unwrap();
            assert!(
                res.status().is_success(),
                "{url}: {}",
                res.text().await.unwrap()
            );
        }
    }
    let mut failures = Vec::new();
    let ask = |base: String,
               token: Option<&'static str>,
               path: &'static str,
               params: Vec<(&'static str, String)>| {
        let http = http.clone();
        async move {
            let mut r = http.get(format!("{base}{path}")).query(&params);
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            let res = r.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for q in QUERIES {
        let instant = |t: i64| vec![("query", q.to_string()), ("time", format!("{}", t / 1000))];
        let range = vec![
            ("query", q.to_string()),
            ("start", format!("{}", (t0 + 600_000) / 1000)),
            ("end", format!("{}", (t0 + 3_600_000) / 1000)),
            ("step", "60".to_owned()),
        ];
        let mut asks = vec![("/api/v1/query_range", range)];
        for t in [t0 + 900_000, t0 + 1_815_000, t0 + 3_600_000] {
            asks.push(("/api/v1/query", instant(t)));
        }
        for (path, params) in asks {
            let (ps, pv) = ask(prom.base.clone(), None, path, params.clone()).await;
            let (cs, cv) = ask(
                cairn.url("/prometheus"),
                Some(ADMIN_TOKEN),
                path,
                params.clone(),
            )
            .await;
            let want = normalise(&pv["data"]);
            let got = normalise(&cv["data"]);
            if ps != cs || pv["data"]["resultType"] != cv["data"]["resultType"] || want != got {
                failures.push(format!(
                    "{path} {q} {:?}\n  prometheus {ps}: {}\n  cairn      {cs}: {}",
                    params.iter().skip(1).collect::<Vec<_>>(),
                    want.join("\n              "),
                    if cv["status"] == "error" {
                        cv["error"].to_string()
                    } else {
                        got.join("\n              ")
                    }
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} answers differ:\n{}",
        failures.len(),
        QUERIES.len() * 4,
        failures.join("\n")
    );
}
