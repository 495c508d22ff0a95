//! Outgrowing one machine: everything ingested is forwarded through the durable queue
//! to a real VictoriaMetrics (Debian's `victoria-metrics`), rides out the store's
//! outage, pushes back on senders when the queue is full, and queries can be answered
//! from the external store.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cairn_wire::remote_write::{encode_write_request, Label, Sample, TimeSeries, WriteRequest};
use serde_json::Value;

use crate::support::{test_now, TestServer, ADMIN_TOKEN};

const VICTORIA: &str = "/usr/bin/victoria-metrics";

/// A VictoriaMetrics single-node server on a loopback port, restartable on the same
/// port and data.
struct Victoria {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Drop for Victoria {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Victoria {
    /// None (and a note that the test is skipped) when the package is missing.
    async fn start() -> Option<Victoria> {
        if !std::path::Path::new(VICTORIA).exists() {
            eprintln!(
                "skipped: victoria-metrics not installed (Debian package victoria-metrics; \
                 .ci/run installs it)"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut v = Victoria {
            child: None,
            port,
            dir: tempfile::tempdir().unwrap(),
            http: reqwest::Client::new(),
        };
        v.run().await;
        Some(v)
    }

    async fn run(&mut self) {
        let child = Command::new(VICTORIA)
            .arg(format!("-storageDataPath={}", self.dir.path().display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{}", self.port))
            .arg("-retentionPeriod=100y")
            .arg("-search.latencyOffset=0s")
            .arg("-search.disableCache")
            .arg("-loggerLevel=ERROR")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..200 {
            if let Ok(r) = self.http.get(self.url("/health")).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("victoria-metrics did not become healthy");
    }

    /// Stops the server as an operator would (SIGTERM), so it writes out what it
    /// holds in memory; a SIGKILL would lose its last seconds of data, which is the
    /// store's business, not cairn's.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            for _ in 0..100 {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every stored `(timestamp_ms, value)` of series matching `selector`, flushed first.
    async fn export(&self, selector: &str) -> Vec<(i64, f64)> {
        let _ = self
            .http
            .get(self.url("/internal/force_flush"))
            .send()
            .await;
        let text = self
            .http
            .get(self.url("/api/v1/export"))
            .query(&[("match[]", selector)])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let mut out = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let row: Value = serde_json::from_str(line).unwrap();
            let ts = row["timestamps"].as_array().unwrap();
            let vs = row["values"].as_array().unwrap();
            for (t, v) in ts.iter().zip(vs) {
                out.push((t.as_i64().unwrap(), v.as_f64().unwrap()));
            }
        }
        out.sort_by_key(|p| p.0);
        out
    }

    /// Waits until `selector` holds exactly `want`.
    async fn expect_samples(&self, selector: &str, want: &[(i64, f64)]) {
        let mut got = Vec::new();
        for _ in 0..150 {
            got = self.export(selector).await;
            if got == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("victoria-metrics holds {got:?}, expected {want:?}");
    }
}

fn batch(name: &str, from: i64, n: i64) -> (Vec<(i64, f64)>, Vec<u8>) {
    let t0 = test_now().unix_timestamp() * 1000;
    let samples: Vec<(i64, f64)> = (from..from + n)
        .map(|i| (t0 + i * 15_000, i as f64 * 1.5))
        .collect();
    let body = encode_write_request(&WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![
                Label {
                    name: "__name__".into(),
                    value: name.into(),
                },
                Label {
                    name: "shop".into(),
                    value: "m-1".into(),
                },
            ],
            samples: samples
                .iter()
                .map(|&(timestamp, value)| Sample { value, timestamp })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    });
    (samples, body)
}

async fn write(s: &TestServer, body: Vec<u8>) -> (u16, String) {
    let res = s
        .req(
            reqwest::Method::POST,
            "/prometheus/api/v1/write",
            ADMIN_TOKEN,
        )
        .header("content-encoding", "snappy")
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

/// One sample of cairn's own `/metrics`.
async fn own_metric(s: &TestServer, line_start: &str) -> f64 {
    let text = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .unwrap_or_else(|| panic!("no {line_start} in /metrics"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn samples_reach_victoria_metrics_and_survive_its_outage_through_the_queue() {
    let Some(mut vm) = Victoria::start().await else {
        return;
    };
    let s = TestServer::builder()
        .forward_to(&vm.url("/api/v1/write"), 64 << 20)
        .build()
        .await;
    let (first, body) = batch("shop_orders_total", 0, 20);
    let (status, text) = write(&s, body).await;
    assert_eq!(status, 204, "{text}");
    vm.expect_samples("shop_orders_total", &first).await;

    // The store goes away; cairn keeps acknowledging, and queues.
    vm.stop();
    let (second, body) = batch("shop_orders_total", 20, 20);
    let (status, text) = write(&s, body).await;
    assert_eq!(status, 204, "{text}");
    let mut retried = false;
    for _ in 0..100 {
        if own_metric(
            &s,
            "cairn_forward_requests_total{outcome=\"failed_retried\"}",
        )
        .await
            > 0.0
        {
            retried = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(retried, "the forwarder never tried the absent store");
    assert!(own_metric(&s, "cairn_forward_queue_bytes{state=\"pending\"}").await > 0.0);

    // Back again: the queue drains, nothing is lost, nothing is doubled.
    vm.run().await;
    let mut all = first.clone();
    all.extend(second);
    vm.expect_samples("shop_orders_total", &all).await;
    let mut drained = false;
    for _ in 0..100 {
        if own_metric(&s, "cairn_forward_queue_bytes{state=\"pending\"}").await == 0.0 {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(drained, "the queue did not drain");
    // The local store has them too.
    let got = s
        .req(
            reqwest::Method::GET,
            "/prometheus/api/v1/query",
            ADMIN_TOKEN,
        )
        .query(&[
            ("query", "count_over_time(shop_orders_total[1h])".to_owned()),
            ("time", (all.last().unwrap().0 / 1000).to_string()),
        ])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(got["data"]["result"][0]["value"][1], "40", "{got}");
}

#[tokio::test]
async fn a_full_queue_pushes_back_on_senders_and_stores_nothing_of_what_it_refuses() {
    // A store that is never there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let s = TestServer::builder()
        .forward_to(&format!("http://{closed}/api/v1/write"), 2048)
        .build()
        .await;
    let mut accepted = 0;
    let refusal = loop {
        let (_, body) = batch("queued_total", accepted * 10, 10);
        let (status, text) = write(&s, body).await;
        if status != 204 {
            break (status, text, accepted);
        }
        accepted += 1;
        assert!(accepted < 1000, "the queue never filled");
    };
    let (status, text, n) = refusal;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("queue") && text.contains("full"), "{text}");
    assert!(n > 0);
    // What was refused is not half-stored locally either.
    let refused_t = (test_now().unix_timestamp() * 1000 + n * 10 * 15_000) / 1000;
    let got = s
        .req(
            reqwest::Method::GET,
            "/prometheus/api/v1/query",
            ADMIN_TOKEN,
        )
        .query(&[
            ("query", "timestamp(queued_total)".to_owned()),
            ("time", (refused_t + 60).to_string()),
        ])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let newest: f64 = got["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((newest as i64) < refused_t, "{got}");
    assert!(own_metric(&s, "cairn_forward_refused_full_total").await >= 1.0);
}

#[tokio::test]
async fn queries_can_be_answered_by_victoria_metrics_through_cairns_api() {
    let Some(vm) = Victoria::start().await else {
        return;
    };
    // Data written straight into the external store, not into cairn.
    let (samples, body) = batch("external_only_total", 0, 8);
    let res = reqwest::Client::new()
        .post(vm.url("/api/v1/write"))
        .header("content-encoding", "snappy")
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    vm.expect_samples("external_only_total", &samples).await;

    let s = TestServer::builder().query_from(&vm.url("")).build().await;
    let last = samples.last().unwrap();
    let ask = |path: &str, params: Vec<(&str, String)>| {
        let req = s
            .req(reqwest::Method::GET, path, ADMIN_TOKEN)
            .query(&params);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let got = ask(
        "/prometheus/api/v1/query",
        vec![
            ("query", "external_only_total * 2".into()),
            ("time", (last.0 / 1000).to_string()),
        ],
    )
    .await;
    assert_eq!(got["status"], "success", "{got}");
    assert_eq!(got["data"]["resultType"], "vector");
    assert_eq!(got["data"]["result"][0]["metric"]["shop"], "m-1");
    assert_eq!(
        got["data"]["result"][0]["value"][1],
        (last.1 * 2.0).to_string(),
        "{got}"
    );
    let got = ask(
        "/prometheus/api/v1/query_range",
        vec![
            ("query", "external_only_total".into()),
            ("start", (samples[0].0 / 1000).to_string()),
            ("end", (last.0 / 1000).to_string()),
            ("step", "15".into()),
        ],
    )
    .await;
    assert_eq!(
        got["data"]["result"][0]["values"].as_array().unwrap().len(),
        samples.len(),
        "{got}"
    );
    let window = [
        ("start", (samples[0].0 / 1000 - 60).to_string()),
        ("end", (last.0 / 1000 + 60).to_string()),
    ];
    let mut params = vec![("match[]", "external_only_total".to_owned())];
    params.extend(window.iter().cloned());
    let got = ask("/prometheus/api/v1/series", params).await;
    assert_eq!(
        got["data"],
        serde_json::json!([{"__name__": "external_only_total", "shop": "m-1"}]),
        "{got}"
    );
    let got = ask("/prometheus/api/v1/label/shop/values", window.to_vec()).await;
    assert_eq!(got["data"], serde_json::json!(["m-1"]), "{got}");
    // A bad query comes back as Prometheus' error, from the external store.
    let got = ask("/prometheus/api/v1/query", vec![("query", "sum(".into())]).await;
    assert_eq!(got["status"], "error", "{got}");
    assert_eq!(got["errorType"], "bad_data", "{got}");
}
