//! The alerting loop end to end: a metric is ingested, a rule imported from a
//! Prometheus rule file fires after its `for`, the alert is grouped and delivered to
//! a real webhook receiver and a real SMTP server started by the test, acknowledged
//! through the signed link in the message, and resolved — with every step in the
//! history. Also: Alertmanager's API for external Prometheus servers, silences,
//! escalation to whoever is on call, problems along the topology, and bad input.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{SmtpSink, TestServer, Webhook, ADMIN_TOKEN};

fn now_ms(s: &TestServer) -> i64 {
    (s.app.now().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Writes one sample of `shop_checkout_errors` for `instance` at the clock's now.
async fn ingest(s: &TestServer, instance: &str, value: f64) {
    let body = format!(
        "# TYPE shop_checkout_errors gauge\nshop_checkout_errors{{service=\"svc-order\",instance=\"{instance}\"}} {value} {}\n",
        now_ms(s)
    );
    let res = s
        .req(
            Method::POST,
            "/prometheus/api/v1/import/prometheus",
            ADMIN_TOKEN,
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
}

/// One pass of the loop, delivering what it produced before returning.
async fn pass(s: &TestServer) {
    let notifications = s.app.alerting_pass().await.unwrap();
    for n in notifications {
        cairn_app::alerting::deliver::deliver(&s.app, n).await;
    }
}

async fn advance(s: &TestServer, secs: i64) {
    s.clock.advance(time::Duration::seconds(secs));
}

const RULES: &str = r#"groups:
  - name: shop
    interval: 15s
    rules:
      - alert: CheckoutErrors
        expr: shop_checkout_errors > 5
        for: 1m
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.service }} has {{ $value }} checkout errors"
"#;

fn config(hook: &str, smtp: &str) -> String {
    format!(
        r#"route:
  receiver: quiet
  group_by: [alertname]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 4h
  routes:
    - matchers: ['alertname="CheckoutErrors"']
      receiver: sre
receivers:
  - name: quiet
  - name: sre
    webhook_configs:
      - url: {hook}
    email_configs:
      - to: oncall@shop.example
        from: cairn@ops.example
        smarthost: {smtp}
        require_tls: false
"#
    )
}

async fn history_events(s: &TestServer, fingerprint: &str) -> Vec<String> {
    let (status, got) = s
        .get_json(
            &format!("/api/v1/alert-history?fingerprint={fingerprint}&limit=100"),
            ADMIN_TOKEN,
        )
        .await;
    assert_eq!(status, 200, "{got}");
    let mut events: Vec<String> = got["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"].as_str().unwrap().to_owned())
        .collect();
    events.reverse();
    events
}

#[tokio::test]
async fn a_metric_fires_a_rule_whose_alert_is_grouped_delivered_acknowledged_and_resolved() {
    let s = TestServer::builder().demo().alerting().build().await;
    let hook = Webhook::start(200).await;
    let smtp = SmtpSink::start().await;
    let (_, hosts) = s
        .get_json(
            "/api/v1/hosts?state=up&pool_id=pool-ecs-cn-hangzhou-h&limit=50",
            ADMIN_TOKEN,
        )
        .await;
    let host = hosts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["exporter"].is_string())
        .unwrap()
        .clone();
    let instance = host["exporter"].as_str().unwrap().to_owned();

    // The rule file goes in unchanged; the routes send to the test's receivers.
    let res = s
        .req(Method::POST, "/api/v1/rules?name=shop.yml", ADMIN_TOKEN)
        .header("content-type", "application/yaml")
        .body(RULES)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let res = s
        .req(Method::PUT, "/api/v1/alerting/config", ADMIN_TOKEN)
        .body(config(&hook.url, &smtp.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());

    // The metric crosses the threshold: pending first, firing once `for` has passed.
    ingest(&s, &instance, 12.0).await;
    pass(&s).await;
    let (_, rules) = s.get_json("/api/v1/rules", ADMIN_TOKEN).await;
    assert_eq!(rules[0]["pending"], 1, "{rules}");
    assert_eq!(rules[0]["health"]["health"], "ok");
    for _ in 0..4 {
        advance(&s, 15).await;
        ingest(&s, &instance, 12.0).await;
        pass(&s).await;
    }
    let (_, rules) = s.get_json("/api/v1/rules", ADMIN_TOKEN).await;
    assert_eq!(rules[0]["firing"], 1, "{rules}");
    // Grouped: nothing is sent before group_wait has passed.
    assert!(hook.received().is_empty());
    advance(&s, 11).await;
    ingest(&s, &instance, 12.0).await;
    pass(&s).await;
    let got = hook.received();
    assert_eq!(got.len(), 1, "one notification for the group: {got:?}");
    let n = &got[0];
    assert_eq!(n["status"], "firing");
    assert_eq!(n["receiver"], "sre");
    assert_eq!(n["version"], "4");
    assert_eq!(n["groupLabels"], json!({"alertname": "CheckoutErrors"}));
    assert_eq!(
        n["alerts"][0]["annotations"]["summary"],
        "svc-order has 12 checkout errors"
    );
    let mail = smtp.received();
    assert_eq!(mail.len(), 1, "one email");
    assert!(mail[0].contains("CheckoutErrors"), "{}", mail[0]);

    // The alert knows which merchants it hurts: those with instances on the host.
    let (_, alerts) = s.get_json("/api/v1/alerts", ADMIN_TOKEN).await;
    let mine = |alerts: &Value| -> Vec<Value> {
        alerts
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["name"] == "CheckoutErrors")
            .cloned()
            .collect()
    };
    let alert = &mine(&alerts)[0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["impact"]["hosts"], json!([host["id"]]));
    assert_eq!(alert["impact"]["services"], json!(["svc-order"]));
    let fingerprint = alert["fingerprint"].as_str().unwrap().to_owned();
    let (_, log) = s.get_json("/api/v1/notifications", ADMIN_TOKEN).await;
    let outcomes: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["delivered", "delivered"], "{log}");

    // Acknowledged through the signed link in the message: the link shows a button,
    // the button acknowledges; a forged link is refused.
    // The webhook keeps Alertmanager's exact shape; the email carries the link
    // (quoted-printable, as mail is sent: soft line breaks and `=3D` undone here).
    let text = mail[0].replace("=\n", "").replace("=3D", "=");
    let at = text
        .find("/alerts/ack?token=")
        .expect("an acknowledge link");
    let start = text[..at].rfind("http").unwrap();
    let link = text[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .next()
        .unwrap()
        .to_owned();
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let res = s.http.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains(r#"id="ack-form""#));
    let res = s
        .http
        .post(s.url("/alerts/ack"))
        .form(&[("token", format!("{token}x"))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "a tampered link is refused");
    let res = s
        .http
        .post(s.url("/alerts/ack"))
        .form(&[("token", token.clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("acknowledged"));
    let (_, alerts) = s.get_json("/api/v1/alerts", ADMIN_TOKEN).await;
    assert_eq!(mine(&alerts)[0]["acknowledged"]["by"], "signed link");

    // The metric recovers: the rule resolves the alert, and after group_interval the
    // resolution is delivered.
    advance(&s, 15).await;
    ingest(&s, &instance, 0.0).await;
    pass(&s).await;
    advance(&s, 61).await;
    ingest(&s, &instance, 0.0).await;
    pass(&s).await;
    let got = hook.received();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1]["status"], "resolved");
    let events = history_events(&s, &fingerprint).await;
    for e in ["pending", "firing", "notified", "acknowledged", "resolved"] {
        assert!(events.iter().any(|x| x == e), "{e} missing from {events:?}");
    }
    let (_, alerts) = s.get_json("/api/v1/alerts", ADMIN_TOKEN).await;
    assert!(mine(&alerts).is_empty(), "{alerts}");
}

#[tokio::test]
async fn an_external_prometheus_posts_alerts_on_alertmanagers_api_and_silences_mute_them() {
    let s = TestServer::builder().alerting().build().await;
    let start = s
        .app
        .now()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let posted = json!([
        {"labels": {"alertname": "DiskFull", "instance": "db-1:9100", "severity": "warning"},
         "annotations": {"summary": "disk 97% full"}, "startsAt": start,
         "generatorURL": "http://prometheus:9090/graph"},
    ]);
    let (status, got) = s
        .send_json(
            Method::POST,
            "/alertmanager/api/v2/alerts",
            ADMIN_TOKEN,
            &posted,
        )
        .await;
    assert_eq!(status, 200, "{got}");
    let (status, got) = s.get_json("/alertmanager/api/v2/alerts", ADMIN_TOKEN).await;
    assert_eq!(status, 200);
    assert_eq!(got[0]["labels"]["alertname"], "DiskFull");
    assert_eq!(got[0]["status"]["state"], "active");
    // An invalid alert is refused by position (the valid ones are kept).
    let (status, got) = s
        .send_json(
            Method::POST,
            "/alertmanager/api/v2/alerts",
            ADMIN_TOKEN,
            &json!([{"labels": {}}]),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        got["error"]["message"]
            .as_str()
            .unwrap()
            .contains("alert 1"),
        "{got}"
    );

    // A silence mutes it, with expiry; expiring it unmutes.
    let end = (s.app.now() + time::Duration::hours(2))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, got) = s
        .send_json(
            Method::POST,
            "/alertmanager/api/v2/silences",
            ADMIN_TOKEN,
            &json!({"matchers": [{"name": "alertname", "value": "DiskFull", "isRegex": false}],
                    "startsAt": start, "endsAt": end, "createdBy": "ops", "comment": "disk swap tonight"}),
        )
        .await;
    assert_eq!(status, 200, "{got}");
    let id = got["silenceID"].as_str().unwrap().to_owned();
    s.app.alerting_pass().await.unwrap();
    let (_, got) = s.get_json("/alertmanager/api/v2/alerts", ADMIN_TOKEN).await;
    assert_eq!(got[0]["status"]["state"], "suppressed", "{got}");
    assert_eq!(got[0]["status"]["silencedBy"], json!([id]));
    let res = s
        .req(
            Method::DELETE,
            &format!("/alertmanager/api/v2/silence/{id}"),
            ADMIN_TOKEN,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (_, got) = s
        .get_json(&format!("/alertmanager/api/v2/silence/{id}"), ADMIN_TOKEN)
        .await;
    assert_eq!(got["status"]["state"], "expired", "{got}");

    // Merchants read and write none of it.
    let merchant = {
        let (status, _) = s
            .send_json(
                Method::POST,
                "/api/v1/merchants",
                ADMIN_TOKEN,
                &json!({"id": "m-a", "name": "A", "tier": "standard"}),
            )
            .await;
        assert_eq!(status, 201);
        s.token("merchant", Some("m-a")).await
    };
    let (status, _) = s.get_json("/alertmanager/api/v2/alerts", &merchant).await;
    assert_eq!(status, 403);
    let (status, _) = s
        .send_json(
            Method::POST,
            "/alertmanager/api/v2/alerts",
            &merchant,
            &posted,
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn rule_files_and_routes_with_mistakes_are_refused_with_their_place() {
    let s = TestServer::builder().alerting().build().await;
    let bad = "groups:\n  - name: shop\n    rules:\n      - alert: X\n        expr: sum(rate(x[5m])\n        for: 1m\n";
    let res = s
        .req(Method::POST, "/api/v1/rules?name=bad.yml", ADMIN_TOKEN)
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let got: Value = res.json().await.unwrap();
    let msg = got["error"]["message"].as_str().unwrap();
    assert!(msg.contains("bad.yml") && msg.contains("expr"), "{msg}");
    let res = s
        .req(Method::PUT, "/api/v1/alerting/config", ADMIN_TOKEN)
        .body("route:\n  receiver: nobody\nreceivers: []\n")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let got: Value = res.json().await.unwrap();
    assert!(
        got["error"]["message"].as_str().unwrap().contains("nobody"),
        "{got}"
    );
    let (status, got) = s.get_json("/api/v1/rules", ADMIN_TOKEN).await;
    assert_eq!(status, 200);
    assert_eq!(got, json!([]), "nothing half-imported");
}

#[tokio::test]
async fn an_unacknowledged_critical_alert_pages_whoever_is_on_call_then_escalates() {
    let s = TestServer::builder().alerting().build().await;
    let primary = Webhook::start(200).await;
    let lead = Webhook::start(200).await;
    let cfg = format!(
        "route:\n  receiver: quiet\n  group_wait: 1h\nreceivers:\n  - name: quiet\n  - name: wang.lei\n    webhook_configs:\n      - url: {}\n  - name: ops-lead\n    webhook_configs:\n      - url: {}\n",
        primary.url, lead.url
    );
    let res = s
        .req(Method::PUT, "/api/v1/alerting/config", ADMIN_TOKEN)
        .body(cfg)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
    let today = s.app.today().to_string();
    let (status, got) = s
        .send_json(
            Method::POST,
            "/api/v1/oncall/schedules",
            ADMIN_TOKEN,
            &json!({"id": "sre", "name": "SRE", "time_zone": "Asia/Shanghai",
                    "layers": [{"name": "weekly", "users": ["wang.lei", "li.na"],
                                "rotation": "weekly", "start_date": today, "handoff": "00:00"}]}),
        )
        .await;
    assert_eq!(status, 201, "{got}");
    let (status, got) = s
        .send_json(
            Method::POST,
            "/api/v1/escalation-policies",
            ADMIN_TOKEN,
            &json!({"id": "crit", "name": "Critical", "matchers": ["severity=\"critical\""],
            "levels": [
                {"targets": [{"kind": "schedule", "id": "sre"}], "escalate_after": "10m"},
                {"targets": [{"kind": "user", "id": "ops-lead"}], "escalate_after": "10m"}
            ]}),
        )
        .await;
    assert_eq!(status, 201, "{got}");
    let (status, oncall) = s.get_json("/api/v1/oncall", ADMIN_TOKEN).await;
    assert_eq!(status, 200);
    assert_eq!(oncall[0]["on_call"]["user"], "wang.lei", "{oncall}");

    let start = s
        .app
        .now()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, _) = s
        .send_json(
            Method::POST,
            "/alertmanager/api/v2/alerts",
            ADMIN_TOKEN,
            &json!([{"labels": {"alertname": "PaymentDown", "severity": "critical"}, "startsAt": start}]),
        )
        .await;
    assert_eq!(status, 200);
    pass(&s).await;
    assert_eq!(primary.received().len(), 1, "level 1 pages the one on call");
    assert!(lead.received().is_empty());
    // Prometheus re-sends a firing alert on every evaluation.
    advance(&s, 11 * 60).await;
    let again = s
        .app
        .now()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, _) = s
        .send_json(
            Method::POST,
            "/alertmanager/api/v2/alerts",
            ADMIN_TOKEN,
            &json!([{"labels": {"alertname": "PaymentDown", "severity": "critical"}, "startsAt": start, "endsAt": (s.app.now() + time::Duration::minutes(5)).format(&time::format_description::well_known::Rfc3339).unwrap(), "generatorURL": again}]),
        )
        .await;
    assert_eq!(status, 200);
    pass(&s).await;
    assert_eq!(lead.received().len(), 1, "unacknowledged: level 2 is paged");
    assert_eq!(primary.received().len(), 1, "level 1 is not paged twice");

    // Acknowledged: nothing more.
    let (_, alerts) = s.get_json("/api/v1/alerts", ADMIN_TOKEN).await;
    let fp = alerts[0]["fingerprint"].as_str().unwrap().to_owned();
    let (status, _) = s
        .send_json(
            Method::POST,
            &format!("/api/v1/alerts/{fp}/ack"),
            ADMIN_TOKEN,
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    advance(&s, 3600).await;
    pass(&s).await;
    assert_eq!(primary.received().len() + lead.received().len(), 2);
}

#[tokio::test]
async fn pools_at_risk_of_running_out_raise_alerts_that_name_the_merchants_in_them() {
    let s = TestServer::builder().demo().alerting().build().await;
    s.app.alerting_pass().await.unwrap();
    let (_, capacity) = s.get_json("/api/v1/capacity", ADMIN_TOKEN).await;
    let at_risk: Vec<&str> = capacity["pools"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["restock"]["at_risk"] == true)
        .map(|p| p["pool_id"].as_str().unwrap())
        .collect();
    assert!(!at_risk.is_empty());
    let (_, alerts) = s.get_json("/api/v1/alerts", ADMIN_TOKEN).await;
    let risky: Vec<&Value> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["name"] == "PoolStockOutRisk")
        .collect();
    assert_eq!(risky.len(), at_risk.len(), "{alerts}");
    for a in risky {
        let pool = a["labels"]["pool"].as_str().unwrap();
        assert!(at_risk.contains(&pool));
        assert!(a["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("lead time"));
        assert_eq!(a["impact"]["pools"], json!([pool]));
        assert!(a["impact"]["merchant_count"].as_u64().unwrap() > 0, "{a}");
    }
}
