//! A real gray release: four small web services on loopback stand for the hosts of
//! an application, each serving request and error counters on `/metrics` that cairn
//! scrapes; the deploy command (a real `sh` process) writes the version each host
//! runs, and a bad version fails a fifth of its requests. The gate after the first
//! batch compares that host with the three not yet changed (Mann–Whitney on the error
//! ratio), fails, and the rollback command puts the old version back — the other
//! hosts never see the bad one. A good version goes through every batch. Around it:
//! required fields by type, risk, approvals, freeze windows, and a webhook executor
//! that calls back.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{TestServer, Webhook, ADMIN_TOKEN};

/// One host of the application: `/metrics` with counters that grow by 100 requests
/// a scrape, and errors by the version's rate, read from `DIR/HOST.version`.
struct AppHost {
    id: String,
    addr: String,
}

async fn start_app_host(dir: &Path, id: &str) -> AppHost {
    let file = dir.join(format!("{id}.version"));
    std::fs::write(&file, "good\n").unwrap();
    let scrapes = Arc::new(AtomicU64::new(0));
    let totals = Arc::new(std::sync::Mutex::new((0u64, 0u64)));
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let file = file.clone();
            let scrapes = scrapes.clone();
            let totals = totals.clone();
            async move {
                let n = scrapes.fetch_add(1, Ordering::SeqCst);
                let version = std::fs::read_to_string(&file).unwrap_or_default();
                // Good versions fail 0–3 requests in 100 (noise, so the two sides
                // are not all ties); the bad one 18–24.
                let errors = match version.trim() {
                    "bad" => 18 + (n * 7 % 7),
                    _ => n * 5 % 4,
                };
                let mut t = totals.lock().unwrap();
                t.0 += 100;
                t.1 += errors;
                format!(
                    "# TYPE app_requests_total counter\napp_requests_total {}\n# TYPE app_errors_total counter\napp_errors_total {}\n",
                    t.0, t.1
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    AppHost {
        id: id.to_owned(),
        addr,
    }
}

async fn post(s: &TestServer, path: &str, token: &str, body: Value) -> (u16, Value) {
    s.send_json(Method::POST, path, token, &body).await
}

/// A zone, a pool and four hosts whose exporters are the app hosts.
async fn cloud(s: &TestServer, dir: &Path) -> Vec<AppHost> {
    for (path, body) in [
        (
            "/api/v1/regions",
            json!({"id": "cn-hz", "name": "华东1 杭州"}),
        ),
        (
            "/api/v1/zones",
            json!({"id": "cn-hz-g", "region_id": "cn-hz", "name": "杭州 G"}),
        ),
        (
            "/api/v1/products",
            json!({"id": "ecs", "name": "ECS", "unit": "vCPU", "lead_time_days": 45}),
        ),
        (
            "/api/v1/pools",
            json!({"id": "ecs-hz-g", "product_id": "ecs", "zone_id": "cn-hz-g", "capacity": 960.0}),
        ),
    ] {
        let (status, got) = post(s, path, ADMIN_TOKEN, body).await;
        assert_eq!(status, 201, "{path}: {got}");
    }
    let mut hosts = Vec::new();
    for n in 1..=4 {
        let h = start_app_host(dir, &format!("h-{n}")).await;
        let (status, got) = post(
            s,
            "/api/v1/hosts",
            ADMIN_TOKEN,
            json!({"id": h.id, "zone_id": "cn-hz-g", "rack": "r01", "pool_id": "ecs-hz-g", "state": "up",
                   "cpu_cores": 96, "memory_gib": 384, "exporter": h.addr}),
        )
        .await;
        assert_eq!(status, 201, "{got}");
        hosts.push(h);
    }
    hosts
}

/// Ten seconds pass: every host is scraped, and running changes move on.
async fn tick(s: &TestServer, hosts: &[AppHost]) {
    s.clock.advance(time::Duration::seconds(10));
    let client = reqwest::Client::new();
    for h in hosts {
        let job = cairn_app::scrape::ScrapeJob::new("app", vec![h.addr.clone()]);
        let r = cairn_app::scrape::scrape_once(&s.app, &client, &job, &h.addr).await;
        assert!(r.up, "{:?}", r.error);
    }
    s.app.changes_pass().await.unwrap();
}

fn version(dir: &Path, host: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{host}.version")))
        .unwrap()
        .trim()
        .to_owned()
}

/// A change releasing `version` to every host, one host first, then the rest.
fn release(dir: &Path, version: &str, s: &TestServer) -> Value {
    let write = |v: &str| {
        json!({"kind": "command", "program": "/bin/sh",
               "args": ["-c", format!("for h in \"$@\"; do echo {v} > {}/$h.version; echo \"$CAIRN_ACTION $h\"; done", dir.display()), "release"],
               "timeout_s": 30})
    };
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    json!({
        "title": format!("Release shop-api {version}"),
        "type": "normal",
        "description": "new checkout flow",
        "targets": {"pools": ["ecs-hz-g"]},
        "window_start": rfc(s.app.now() - time::Duration::minutes(5)),
        "window_end": rfc(s.app.now() + time::Duration::hours(3)),
        "test_plan": "staging soak for a day",
        "rollback_plan": "put the previous version back",
        "plan": {"by": "hosts", "steps": ["1", "100%"]},
        "executor": write(version),
        "rollback": write("good"),
        "gate": {"metrics": [{"name": "error_ratio", "direction": "increase", "allowed_increase": 0.5,
                              "critical": true, "min_samples": 5,
                              "query": "sum(increase(app_errors_total{instance=~\"$instances\"}[30s])) / sum(increase(app_requests_total{instance=~\"$instances\"}[30s]))"}],
                 "window_s": 120, "step_s": 10}
    })
}

async fn approved_change(s: &TestServer, body: Value) -> String {
    let (status, c) = post(s, "/api/v1/changes", ADMIN_TOKEN, body).await;
    assert_eq!(status, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_owned();
    let (status, c) = post(
        s,
        &format!("/api/v1/changes/{id}/submit"),
        ADMIN_TOKEN,
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["state"], "submitted");
    assert_eq!(c["risk"]["level"], "low", "{}", c["risk"]);
    assert_eq!(c["batches"].as_array().unwrap().len(), 2);
    let peer = s.token("base-ops", None).await;
    let (status, c) = post(
        s,
        &format!("/api/v1/changes/{id}/approve"),
        &peer,
        json!({"approve": true, "comment": "lgtm"}),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["state"], "approved");
    id
}

#[tokio::test]
async fn a_bad_release_is_caught_by_the_gate_after_the_first_batch_and_rolled_back() {
    let s = TestServer::builder().metrics().alerting().build().await;
    let dir = tempfile::tempdir().unwrap();
    let hosts = cloud(&s, dir.path()).await;
    for _ in 0..6 {
        tick(&s, &hosts).await;
    }
    let id = approved_change(&s, release(dir.path(), "bad", &s)).await;
    let (status, c) = post(
        &s,
        &format!("/api/v1/changes/{id}/start"),
        ADMIN_TOKEN,
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{c}");

    // The first pass deploys to h-1 only; the gate then gathers two minutes.
    tick(&s, &hosts).await;
    assert_eq!(version(dir.path(), "h-1"), "bad");
    assert_eq!(version(dir.path(), "h-2"), "good");
    let (_, c) = s
        .get_json(&format!("/api/v1/changes/{id}"), ADMIN_TOKEN)
        .await;
    assert_eq!(c["batches"][0]["status"], "analysing", "{c}");
    assert_eq!(c["batches"][0]["targets"], json!(["h-1"]));
    assert!(c["batches"][0]["output"]
        .as_str()
        .unwrap()
        .contains("deploy h-1"));
    for _ in 0..14 {
        tick(&s, &hosts).await;
    }
    let (_, c) = s
        .get_json(&format!("/api/v1/changes/{id}"), ADMIN_TOKEN)
        .await;
    assert_eq!(c["state"], "rolled_back", "{}", c["events"]);
    let j = &c["batches"][0]["judgement"];
    assert_eq!(j["decision"], "fail", "{j}");
    assert_eq!(j["verdicts"][0]["class"], "high", "{j}");
    assert!(
        j["verdicts"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("error_ratio"),
        "{j}"
    );
    assert_eq!(
        c["batches"][1]["status"], "pending",
        "the rest never got it"
    );
    assert_eq!(c["rollback_run"]["status"], "done");
    assert_eq!(c["rollback_run"]["targets"], json!(["h-1"]));
    assert!(
        c["reason"].as_str().unwrap().contains("gate failed"),
        "{}",
        c["reason"]
    );
    for h in ["h-1", "h-2", "h-3", "h-4"] {
        assert_eq!(version(dir.path(), h), "good", "{h}");
    }
}

#[tokio::test]
async fn a_good_release_passes_every_gate_and_completes() {
    let s = TestServer::builder().metrics().alerting().build().await;
    let dir = tempfile::tempdir().unwrap();
    let hosts = cloud(&s, dir.path()).await;
    for _ in 0..6 {
        tick(&s, &hosts).await;
    }
    let id = approved_change(&s, release(dir.path(), "v2", &s)).await;
    let (status, _) = post(
        &s,
        &format!("/api/v1/changes/{id}/start"),
        ADMIN_TOKEN,
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    for _ in 0..16 {
        tick(&s, &hosts).await;
    }
    let (_, c) = s
        .get_json(&format!("/api/v1/changes/{id}"), ADMIN_TOKEN)
        .await;
    assert_eq!(c["state"], "completed", "{}", c["events"]);
    assert_eq!(
        c["batches"][0]["judgement"]["decision"], "continue",
        "{}",
        c["batches"][0]["judgement"]
    );
    for h in ["h-1", "h-2", "h-3", "h-4"] {
        assert_eq!(version(dir.path(), h), "v2", "{h}");
    }

    // An incident on one of those hosts soon after asks "what changed?" and finds it.
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let (status, got) = post(
        &s,
        "/alertmanager/api/v2/alerts",
        ADMIN_TOKEN,
        json!([{"labels": {"alertname": "ShopApiErrors", "instance": hosts[1].addr, "severity": "critical"},
                "annotations": {"summary": "shop-api fails"}, "startsAt": rfc(s.app.now())}]),
    )
    .await;
    assert_eq!(status, 200, "{got}");
    let (_, alerts) = s.get_json("/api/v1/alerts", ADMIN_TOKEN).await;
    let fp = alerts[0]["fingerprint"].as_str().unwrap().to_owned();
    let (status, inc) = post(
        &s,
        "/api/v1/incidents",
        ADMIN_TOKEN,
        json!({"title": "shop-api fails", "alerts": [fp]}),
    )
    .await;
    assert_eq!(status, 201, "{inc}");
    let (_, detail) = s
        .get_json(
            &format!("/api/v1/incidents/{}", inc["id"].as_str().unwrap()),
            ADMIN_TOKEN,
        )
        .await;
    let changed: Vec<&Value> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "change")
        .collect();
    assert_eq!(changed.len(), 1, "{}", detail["timeline"]);
    assert_eq!(changed[0]["data"]["change"], json!(id));
    assert!(changed[0]["body"]
        .as_str()
        .unwrap()
        .contains("what changed?"));
}

#[tokio::test]
async fn requests_are_checked_by_type_refused_in_freezes_and_approved_by_others() {
    let s = TestServer::builder().metrics().alerting().build().await;
    let dir = tempfile::tempdir().unwrap();
    let _hosts = cloud(&s, dir.path()).await;
    let ops = s.token("app-ops", None).await;

    // A normal change without a test plan is a draft, but cannot be submitted.
    let mut body = release(dir.path(), "v3", &s);
    body["executor"] = json!({"kind": "webhook", "url": "http://127.0.0.1:9/deploy"});
    body["rollback"] = Value::Null;
    body["test_plan"] = json!("");
    let (status, c) = post(&s, "/api/v1/changes", &ops, body.clone()).await;
    assert_eq!(status, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_owned();
    let (status, e) = post(&s, &format!("/api/v1/changes/{id}/submit"), &ops, json!({})).await;
    assert_eq!(status, 422, "{e}");
    assert_eq!(e["error"]["field"], "test_plan", "{e}");
    // Commands run on cairn's machine: only admins name them.
    let (status, e) = post(&s, "/api/v1/changes", &ops, release(dir.path(), "v3", &s)).await;
    assert_eq!(status, 403, "{e}");
    // A bad step names itself.
    let mut bad = body.clone();
    bad["test_plan"] = json!("soak");
    bad["plan"] = json!({"by": "hosts", "steps": ["1", "half"]});
    let (_, c) = post(&s, "/api/v1/changes", &ops, bad).await;
    let (status, e) = post(
        &s,
        &format!("/api/v1/changes/{}/submit", c["id"].as_str().unwrap()),
        &ops,
        json!({}),
    )
    .await;
    assert_eq!(status, 422, "{e}");
    assert_eq!(e["error"]["field"], "plan.steps[1]", "{e}");

    // Edit the draft; a freeze over the window refuses it unless it asks for an
    // exception, which then needs an admin's approval too.
    body["test_plan"] = json!("soak in staging");
    let (status, _) = s
        .send_json(Method::PUT, &format!("/api/v1/changes/{id}"), &ops, &body)
        .await;
    assert_eq!(status, 200);
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let (status, f) = post(&s, "/api/v1/freezes", ADMIN_TOKEN, json!({"id": "", "name": "Year-end freeze",
        "starts_at": rfc(s.app.now() - time::Duration::hours(1)), "ends_at": rfc(s.app.now() + time::Duration::days(1))})).await;
    assert_eq!(status, 201, "{f}");
    let (status, e) = post(&s, &format!("/api/v1/changes/{id}/submit"), &ops, json!({})).await;
    assert_eq!(status, 409, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Year-end freeze"),
        "{e}"
    );
    body["freeze_exception"] = json!("security fix that cannot wait");
    let (status, _) = s
        .send_json(Method::PUT, &format!("/api/v1/changes/{id}"), &ops, &body)
        .await;
    assert_eq!(status, 200);
    let (status, c) = post(&s, &format!("/api/v1/changes/{id}/submit"), &ops, json!({})).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["freezes"], json!(["Year-end freeze"]));
    let factors: Vec<&str> = c["risk"]["factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["factor"].as_str().unwrap())
        .collect();
    assert!(factors.contains(&"hosts"), "{factors:?}");

    // The requester may not approve; a peer fills the peer step, the exception
    // still waits for an admin.
    let (status, _) = post(
        &s,
        &format!("/api/v1/changes/{id}/approve"),
        &ops,
        json!({"approve": true}),
    )
    .await;
    assert_eq!(status, 403);
    let peer = s.token("developer", None).await;
    let (_, c) = post(
        &s,
        &format!("/api/v1/changes/{id}/approve"),
        &peer,
        json!({"approve": true, "comment": ""}),
    )
    .await;
    assert_eq!(c["state"], "submitted", "{c}");
    let (_, c) = post(
        &s,
        &format!("/api/v1/changes/{id}/approve"),
        ADMIN_TOKEN,
        json!({"approve": true, "comment": "ok, exception"}),
    )
    .await;
    assert_eq!(c["state"], "approved", "{c}");

    // Rejecting needs a reason; merchants may not even read changes.
    let merchant_token = {
        let (status, _) = post(
            &s,
            "/api/v1/merchants",
            ADMIN_TOKEN,
            json!({"id": "m-1", "name": "店", "tier": "vip"}),
        )
        .await;
        assert_eq!(status, 201);
        s.token("merchant", Some("m-1")).await
    };
    let (status, _) = s.get_json("/api/v1/changes", &merchant_token).await;
    assert_eq!(status, 403);
    let (status, _) = s.get_json("/api/v1/freezes", &merchant_token).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_webhook_executor_is_told_the_batch_and_its_callback_moves_the_change_on() {
    let s = TestServer::builder().metrics().alerting().build().await;
    let dir = tempfile::tempdir().unwrap();
    let _hosts = cloud(&s, dir.path()).await;
    let hook = Webhook::start(202).await;
    let mut body = release(dir.path(), "v4", &s);
    body["type"] = json!("emergency");
    body["executor"] = json!({"kind": "webhook", "url": hook.url, "timeout_s": 600});
    body["rollback"] = Value::Null;
    body["gate"] = Value::Null;
    body["plan"] = json!({"by": "zones"});
    let (status, c) = post(&s, "/api/v1/changes", ADMIN_TOKEN, body).await;
    assert_eq!(status, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_owned();
    let (_, c) = post(
        &s,
        &format!("/api/v1/changes/{id}/submit"),
        ADMIN_TOKEN,
        json!({}),
    )
    .await;
    // Emergency: it may run now, approvals come after the fact.
    assert_eq!(c["state"], "approved", "{c}");
    assert!(c["approval_due"].is_string());
    let (status, _) = post(
        &s,
        &format!("/api/v1/changes/{id}/start"),
        ADMIN_TOKEN,
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    s.app.changes_pass().await.unwrap();
    let got = hook.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["targets"], json!(["h-1", "h-2", "h-3", "h-4"]));
    assert_eq!(got[0]["action"], "deploy");
    let callback = got[0]["callback"].as_str().unwrap().to_owned();
    let path = callback.strip_prefix(&s.base).unwrap().to_owned();

    // A wrong key is refused; the right one finishes the batch and the change.
    let wrong = path.split("key=").next().unwrap().to_owned() + "key=cb-wrong";
    let (status, _) = post(&s, &wrong, "", json!({"status": "succeeded"})).await;
    assert_eq!(status, 403);
    let (status, e) = post(&s, &path, "", json!({"status": "maybe"})).await;
    assert_eq!(status, 400, "{e}");
    let (status, r) = post(
        &s,
        &path,
        "",
        json!({"status": "succeeded", "output": "deployed"}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["state"], "completed", "{r}");
    let (_, c) = s
        .get_json(&format!("/api/v1/changes/{id}"), ADMIN_TOKEN)
        .await;
    assert_eq!(c["batches"][0]["output"], "deployed");
    // Approved after the fact by someone else.
    let peer = s.token("base-ops", None).await;
    let (_, c) = post(
        &s,
        &format!("/api/v1/changes/{id}/approve"),
        &peer,
        json!({"approve": true, "comment": "seen"}),
    )
    .await;
    assert!(c["approval_due"].is_null(), "{c}");
}

#[tokio::test]
async fn the_demo_has_a_change_history_with_a_rolled_back_release_and_a_double_11_freeze() {
    let s = TestServer::builder().demo().build().await;
    let (status, changes) = s.get_json("/api/v1/changes", ADMIN_TOKEN).await;
    assert_eq!(status, 200);
    let changes = changes.as_array().unwrap();
    assert!(changes.len() >= 5);
    let rolled_back = changes
        .iter()
        .find(|c| c["state"] == "rolled_back")
        .expect("a rolled-back release");
    let j = &rolled_back["batches"][0]["judgement"];
    assert_eq!(j["decision"], "fail", "{j}");
    assert!(rolled_back["rollback_run"]["status"] == "done");
    let passed = changes.iter().filter(|c| c["state"] == "completed").count();
    assert!(passed >= 2);
    let (_, freezes) = s.get_json("/api/v1/freezes", ADMIN_TOKEN).await;
    let now = s.app.now();
    let next_d11 = freezes
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["name"].as_str().unwrap().contains("Double 11")
                && time::OffsetDateTime::parse(
                    f["ends_at"].as_str().unwrap(),
                    &time::format_description::well_known::Rfc3339,
                )
                .unwrap()
                    > now
        })
        .expect("a freeze before the next Double 11");
    assert_eq!(next_d11["source"], "promotion");
    // The services' changes are found by what they touch.
    let svc = rolled_back["services"][0].as_str().unwrap();
    let touching = s
        .app
        .changes_touching(
            &cairn_domain::Principal {
                actor: "t".into(),
                role: cairn_domain::Role::Admin,
                merchant_id: None,
            },
            svc,
        )
        .await
        .unwrap();
    assert!(touching
        .iter()
        .any(|c| c.id == rolled_back["id"].as_str().unwrap()));
}
