//! Metrics through the Prometheus-compatible edge: remote write and text import in,
//! Prometheus' query API out, scraping, and who may do what.

use cairn_wire::remote_write::{encode_write_request, Label, Sample, TimeSeries, WriteRequest};
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{test_now, TestServer, ADMIN_TOKEN};

fn now_ms() -> i64 {
    test_now().unix_timestamp() * 1000
}

fn series(name: &str, labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    let mut ls = vec![Label {
        name: "__name__".into(),
        value: name.into(),
    }];
    ls.extend(labels.iter().map(|(k, v)| Label {
        name: (*k).into(),
        value: (*v).into(),
    }));
    TimeSeries {
        labels: ls,
        samples: samples
            .iter()
            .map(|(t, v)| Sample {
                timestamp: *t,
                value: *v,
            })
            .collect(),
        ..Default::default()
    }
}

async fn remote_write(s: &TestServer, token: &str, ts: Vec<TimeSeries>) -> (u16, String) {
    let body = encode_write_request(&WriteRequest {
        timeseries: ts,
        ..Default::default()
    });
    let res = s
        .req(Method::POST, "/prometheus/api/v1/write", token)
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "snappy")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

async fn prom(s: &TestServer, token: &str, path: &str, params: &[(&str, String)]) -> (u16, Value) {
    let res = s
        .req(Method::GET, path, token)
        .query(params)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn samples_written_by_remote_write_are_queried_with_prometheus_api_shapes() {
    let s = TestServer::builder().metrics().build().await;
    let t0 = now_ms() - 10 * 60_000;
    let cpu = |mode: &str, rate: f64| {
        let samples: Vec<(i64, f64)> = (0..41)
            .map(|i| (t0 + i * 15_000, rate * 15.0 * i as f64))
            .collect();
        series(
            "node_cpu_seconds_total",
            &[("instance", "h1:9100"), ("job", "node"), ("mode", mode)],
            &samples,
        )
    };
    let (status, body) = remote_write(
        &s,
        ADMIN_TOKEN,
        vec![cpu("idle", 0.8), cpu("user", 0.15), cpu("system", 0.05)],
    )
    .await;
    assert_eq!(status, 204, "{body}");

    let at = (t0 + 600_000) as f64 / 1000.0;
    let (status, got) = prom(
        &s,
        ADMIN_TOKEN,
        "/prometheus/api/v1/query",
        &[
            (
                "query",
                r#"sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))"#.into(),
            ),
            ("time", at.to_string()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["status"], "success");
    assert_eq!(got["data"]["resultType"], "vector");
    let result = &got["data"]["result"][0];
    assert_eq!(result["metric"], json!({"instance": "h1:9100"}));
    let v: f64 = result["value"][1].as_str().unwrap().parse().unwrap();
    assert!((v - 0.2).abs() < 1e-9, "{got}");
    assert_eq!(result["value"][0].as_f64(), Some(at));

    let (status, got) = prom(
        &s,
        ADMIN_TOKEN,
        "/prometheus/api/v1/query_range",
        &[
            ("query", "node_cpu_seconds_total".into()),
            ("start", (t0 as f64 / 1000.0).to_string()),
            ("end", at.to_string()),
            ("step", "60s".into()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["data"]["resultType"], "matrix");
    let m = got["data"]["result"].as_array().unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(m[0]["values"].as_array().unwrap().len(), 11);

    let (_, got) = prom(
        &s,
        ADMIN_TOKEN,
        "/prometheus/api/v1/series",
        &[("match[]", r#"{mode="user"}"#.into())],
    )
    .await;
    assert_eq!(
        got["data"],
        json!([{"__name__": "node_cpu_seconds_total", "instance": "h1:9100", "job": "node", "mode": "user"}])
    );
    let (_, got) = prom(&s, ADMIN_TOKEN, "/prometheus/api/v1/labels", &[]).await;
    assert_eq!(got["data"], json!(["__name__", "instance", "job", "mode"]));
    let (_, got) = prom(&s, ADMIN_TOKEN, "/prometheus/api/v1/label/mode/values", &[]).await;
    assert_eq!(got["data"], json!(["idle", "system", "user"]));

    // Errors come in Prometheus' envelope.
    let (status, got) = prom(
        &s,
        ADMIN_TOKEN,
        "/prometheus/api/v1/query",
        &[("query", "sum(".into())],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(got["status"], "error");
    assert_eq!(got["errorType"], "bad_data");
    let (status, got) = prom(
        &s,
        ADMIN_TOKEN,
        "/prometheus/api/v1/query_range",
        &[
            ("query", "up".into()),
            ("start", "1".into()),
            ("end", "2".into()),
        ],
    )
    .await;
    assert_eq!(status, 400, "{got}");
    assert!(got["error"].as_str().unwrap().contains("step"), "{got}");
    let (status, body) =
        remote_write(&s, ADMIN_TOKEN, vec![series("bad name", &[], &[(t0, 1.0)])]).await;
    assert_eq!(status, 400, "{body}");
    let res = s
        .req(Method::POST, "/prometheus/api/v1/write", ADMIN_TOKEN)
        .body("not snappy")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn text_exposition_can_be_pushed_and_merchants_neither_write_nor_read_metrics() {
    let s = TestServer::start_with_demo_and_metrics().await;
    let t = now_ms();
    let text = format!(
        "# HELP shop_orders_total Orders taken.\n# TYPE shop_orders_total counter\n\
         shop_orders_total{{shop=\"a\"}} 10 {}\nshop_orders_total{{shop=\"b\"}} 32 {}\n",
        t - 1000,
        t - 1000
    );
    let res = s
        .req(
            Method::POST,
            "/prometheus/api/v1/import/prometheus?extra_label=job=push",
            ADMIN_TOKEN,
        )
        .body(text.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
    let (_, got) = prom(
        &s,
        ADMIN_TOKEN,
        "/prometheus/api/v1/query",
        &[("query", r#"sum(shop_orders_total{job="push"})"#.into())],
    )
    .await;
    assert_eq!(got["data"]["result"][0]["value"][1], "42", "{got}");
    let (_, got) = prom(&s, ADMIN_TOKEN, "/prometheus/api/v1/metadata", &[]).await;
    assert_eq!(
        got["data"]["shop_orders_total"][0]["type"], "counter",
        "{got}"
    );
    assert_eq!(got["data"]["shop_orders_total"][0]["help"], "Orders taken.");

    let (_, merchants) = s.get_json("/api/v1/merchants?limit=1", ADMIN_TOKEN).await;
    let m = merchants["items"][0]["id"].as_str().unwrap().to_owned();
    let merchant = s.token("merchant", Some(&m)).await;
    let viewer = s.token("viewer", None).await;
    let res = s
        .req(
            Method::POST,
            "/prometheus/api/v1/import/prometheus",
            &merchant,
        )
        .body(text.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = s
        .req(
            Method::POST,
            "/prometheus/api/v1/import/prometheus",
            &viewer,
        )
        .body(text)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let (status, got) = prom(
        &s,
        &merchant,
        "/prometheus/api/v1/query",
        &[("query", "shop_orders_total".into())],
    )
    .await;
    assert_eq!(status, 403, "{got}");
    assert_eq!(got["status"], "error");
    let (status, _) = prom(
        &s,
        &viewer,
        "/prometheus/api/v1/query",
        &[("query", "shop_orders_total".into())],
    )
    .await;
    assert_eq!(status, 200);
    let res = s
        .http
        .get(s.url("/prometheus/api/v1/query?query=up"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn scraping_an_exporter_stores_its_samples_with_job_instance_and_up() {
    let s = TestServer::builder().metrics().build().await;
    // A real exporter on loopback.
    let exporter = axum::Router::new().route(
        "/metrics",
        axum::routing::get(|| async {
            "# TYPE node_load1 gauge\nnode_load1 0.42\n# TYPE odd gauge\nodd{job=\"inner\"} 7\n"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, exporter).await.unwrap() });
    let client = reqwest::Client::new();
    let job = cairn_app::scrape::ScrapeJob::new("node", vec![target.clone()]);
    let r = cairn_app::scrape::scrape_once(&s.app, &client, &job, &target).await;
    assert!(r.up, "{r:?}");
    assert_eq!(r.samples, 2);
    let (_, got) = prom(
        &s,
        ADMIN_TOKEN,
        "/prometheus/api/v1/query",
        &[("query", "node_load1".into())],
    )
    .await;
    assert_eq!(
        got["data"]["result"][0]["metric"],
        json!({"__name__": "node_load1", "instance": target, "job": "node"})
    );
    assert_eq!(got["data"]["result"][0]["value"][1], "0.42");
    let (_, got) = prom(
        &s,
        ADMIN_TOKEN,
        "/prometheus/api/v1/query",
        &[("query", "odd".into())],
    )
    .await;
    assert_eq!(
        got["data"]["result"][0]["metric"]["exported_job"], "inner",
        "{got}"
    );
    let (_, got) = prom(
        &s,
        ADMIN_TOKEN,
        "/prometheus/api/v1/query",
        &[("query", "up".into())],
    )
    .await;
    assert_eq!(got["data"]["result"][0]["value"][1], "1");

    // A target that does not answer is down, and says so.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let down = cairn_app::scrape::ScrapeJob::new("gone", vec![closed.clone()]);
    s.clock.advance(time::Duration::seconds(15));
    let r = cairn_app::scrape::scrape_once(&s.app, &client, &down, &closed).await;
    assert!(!r.up && r.error.is_some());
    let (_, got) = prom(
        &s,
        ADMIN_TOKEN,
        "/prometheus/api/v1/query",
        &[("query", r#"up{job="gone"}"#.into())],
    )
    .await;
    assert_eq!(got["data"]["result"][0]["value"][1], "0", "{got}");
}

#[tokio::test]
async fn the_ui_charts_metrics_in_the_explorer_and_on_host_and_pool_pages() {
    let s = TestServer::start_with_demo_and_metrics().await;
    let (_, hosts) = s
        .get_json("/api/v1/hosts?state=up&limit=50", ADMIN_TOKEN)
        .await;
    let host = hosts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["exporter"].is_string())
        .unwrap()
        .clone();
    let exporter = host["exporter"].as_str().unwrap();
    let t = now_ms();
    let samples: Vec<(i64, f64)> = (0..20)
        .map(|i| (t - 600_000 + i * 30_000, 0.5 + i as f64 / 10.0))
        .collect();
    let (status, body) = remote_write(
        &s,
        ADMIN_TOKEN,
        vec![series(
            "node_load1",
            &[("instance", exporter), ("job", "node")],
            &samples,
        )],
    )
    .await;
    assert_eq!(status, 204, "{body}");
    s.user("ops", "ops-password-1", "app-ops", None).await;
    let cookie = crate::support::sign_in(&s, ("ops", "ops-password-1")).await;
    let (status, html) = crate::support::page(
        &s,
        &cookie,
        &format!("/ui/hosts/{}", host["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"id="host-load""#) && html.contains("<path"),
        "no load chart on the host page"
    );
    // The pool the host serves charts its hosts' load, found through the model.
    let pool = host["pool_id"]
        .as_str()
        .expect("the demo host serves a pool");
    let (status, html) = crate::support::page(&s, &cookie, &format!("/ui/pools/{pool}")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"id="pool-load""#)
            && html.contains("<path")
            && html.contains("busiest host"),
        "no load chart on the pool page"
    );
    let (status, html) =
        crate::support::page(&s, &cookie, "/ui/metrics?query=node_load1&range=1h").await;
    assert_eq!(status, 200);
    assert!(html.contains("<svg") && html.contains(exporter), "{html}");
    let (status, html) = crate::support::page(&s, &cookie, "/ui/metrics?query=sum(&range=1h").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="query-error""#));
}

#[tokio::test]
async fn a_scrape_target_added_through_the_api_is_scraped_and_reported_until_removed() {
    let s = TestServer::builder().metrics().build().await;
    let exporter = axum::Router::new().route(
        "/custom/metrics",
        axum::routing::get(|| async { "# TYPE shop_orders_total counter\nshop_orders_total 12\n" }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, exporter).await.unwrap() });

    // Bad input names the field.
    let (status, body) = s
        .send_json(
            reqwest::Method::POST,
            "/api/v1/scrape-targets",
            ADMIN_TOKEN,
            &json!({"id": "scrape-shop", "job": "shop", "address": address, "interval_s": 5, "timeout_s": 9}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "timeout_s", "{body}");

    let (status, body) = s
        .send_json(
            reqwest::Method::POST,
            "/api/v1/scrape-targets",
            ADMIN_TOKEN,
            &json!({"id": "scrape-shop", "job": "shop", "address": address,
                    "metrics_path": "/custom/metrics", "interval_s": 1, "timeout_s": 1}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["enabled"], true);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let scraper = tokio::spawn(cairn_app::scrape::run_reloading_every(
        s.app.clone(),
        Vec::new(),
        false,
        std::time::Duration::from_millis(200),
        stop_rx,
    ));
    let target_health = |s: &TestServer| {
        let s_base = s.url("/prometheus/api/v1/targets");
        let http = s.http.clone();
        async move {
            let got: serde_json::Value = http
                .get(s_base)
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            got["data"]["activeTargets"].as_array().unwrap().clone()
        }
    };
    let mut up = false;
    for _ in 0..100 {
        let targets = target_health(&s).await;
        if targets.len() == 1 && targets[0]["health"] == "up" {
            assert_eq!(targets[0]["scrapePool"], "shop");
            assert_eq!(
                targets[0]["scrapeUrl"],
                format!("http://{address}/custom/metrics")
            );
            assert_eq!(targets[0]["scrapeInterval"], "1s");
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        up,
        "the target never came up: {:?}",
        target_health(&s).await
    );
    let (_, got) = prom(
        &s,
        ADMIN_TOKEN,
        "/prometheus/api/v1/query",
        &[("query", r#"shop_orders_total{job="shop"}"#.into())],
    )
    .await;
    assert_eq!(got["data"]["result"][0]["value"][1], "12", "{got}");

    // Removed through the API, the target leaves the board.
    let res = s
        .req(
            reqwest::Method::DELETE,
            "/api/v1/scrape-targets/scrape-shop",
            ADMIN_TOKEN,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let mut gone = false;
    for _ in 0..50 {
        if target_health(&s).await.is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(gone, "the removed target is still scraped");
    let _ = stop_tx.send(true);
    scraper.await.unwrap();
}
