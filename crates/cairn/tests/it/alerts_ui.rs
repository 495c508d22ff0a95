//! The alerting pages of the web UI over HTTP: an operator sees the problem two
//! alerts on dependent services make, the alerts with the merchants they hurt, one
//! alert's labels, impact, chart and history; acknowledges, resolves and silences
//! through the forms; creates and expires silences; reads the rules, who is on call
//! and the notification log. A merchant gets 403 on every page and every form.

use reqwest::header::LOCATION;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{page, post_form, sign_in, TestServer, Webhook, ADMIN_TOKEN};

const OPS: (&str, &str) = ("ops-alerts", "ops-password-1");

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn now_ms(s: &TestServer) -> i64 {
    (s.app.now().unix_timestamp_nanos() / 1_000_000) as i64
}

/// One pass of the loop, delivering what it produced before returning.
async fn pass(s: &TestServer) {
    for n in s.app.alerting_pass().await.unwrap() {
        cairn_app::alerting::deliver::deliver(&s.app, n).await;
    }
}

async fn post_alerts(s: &TestServer, alerts: Value) {
    let (status, got) = s
        .send_json(
            Method::POST,
            "/alertmanager/api/v2/alerts",
            ADMIN_TOKEN,
            &alerts,
        )
        .await;
    assert_eq!(status, 200, "{got}");
}

/// The fingerprint of the alert called `name`, from the API.
async fn fingerprint(s: &TestServer, name: &str) -> String {
    let (_, alerts) = s.get_json("/api/v1/alerts?all=true", ADMIN_TOKEN).await;
    alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no alert {name}: {alerts}"))["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn silences(s: &TestServer) -> Vec<Value> {
    let (status, got) = s.get_json("/api/v1/silences", ADMIN_TOKEN).await;
    assert_eq!(status, 200);
    got.as_array().unwrap().clone()
}

/// Posts a form as the signed-in user and returns the status and where it redirects.
async fn submit(s: &TestServer, cookie: &str, path: &str, body: &str) -> (u16, String) {
    let res = post_form(s, path, body, Some(cookie)).await;
    let status = res.status().as_u16();
    let to = res
        .headers()
        .get(LOCATION)
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, to)
}

#[tokio::test]
async fn operators_see_problems_and_alerts_and_act_on_them_through_the_forms() {
    let s = TestServer::builder().demo().alerting().build().await;
    cairn_app::alerting::demo::install(&s.app).await.unwrap();
    s.user(OPS.0, OPS.1, "app-ops", None).await;
    let ops = sign_in(&s, OPS).await;
    let hook = Webhook::start(200).await;
    let res = s
        .req(Method::PUT, "/api/v1/alerting/config", ADMIN_TOKEN)
        .body(format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 10s\n  group_interval: 1m\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {}\n",
            hook.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());

    // A host with merchants' instances, and a service svc-order depends on.
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
    let host_id = host["id"].as_str().unwrap().to_owned();
    let instance = host["exporter"].as_str().unwrap().to_owned();
    let (_, deps) = s
        .get_json(
            "/api/v1/dependencies?from_service_id=svc-order&limit=1",
            ADMIN_TOKEN,
        )
        .await;
    let callee = deps["items"][0]["to_service_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The metric behind the checkout alert, over the last twenty minutes.
    let t = now_ms(&s);
    let text: String = (0..=20)
        .map(|i| {
            format!(
                "shop_checkout_errors{{service=\"svc-order\",instance=\"{instance}\"}} {} {}\n",
                if i > 12 { 9 } else { 1 },
                t - (20 - i) * 60_000
            )
        })
        .collect();
    let res = s
        .req(
            Method::POST,
            "/prometheus/api/v1/import/prometheus",
            ADMIN_TOKEN,
        )
        .body(text)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);

    let started = rfc3339(s.app.now() - time::Duration::minutes(7));
    post_alerts(
        &s,
        json!([
            {"labels": {"alertname": "CheckoutErrors", "severity": "critical", "service": "svc-order", "instance": instance},
             "annotations": {"summary": "checkout fails for shoppers", "runbook": "restart the order service"},
             "startsAt": started,
             "generatorURL": format!("{}/graph?g0.expr=shop_checkout_errors+%3E+5&g0.tab=1", s.base)},
            {"labels": {"alertname": "DependencyDown", "severity": "critical", "service": callee},
             "annotations": {"summary": "the dependency is down"}, "startsAt": started},
            {"labels": {"alertname": "DiskFull", "severity": "warning", "instance": "db-9:9100"},
             "annotations": {"summary": "disk 97% full"}, "startsAt": started},
        ]),
    )
    .await;
    pass(&s).await;
    s.clock.advance(time::Duration::seconds(11));
    pass(&s).await;
    assert!(!hook.received().is_empty(), "the notification went out");
    let checkout = fingerprint(&s, "CheckoutErrors").await;
    let dependency = fingerprint(&s, "DependencyDown").await;
    let disk = fingerprint(&s, "DiskFull").await;

    // The list: the problem first, rooted at the dependency, then the alerts.
    let (status, html) = page(&s, &ops, "/ui/alerts").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(r#"<a href="/ui/alerts" aria-current="page">Alerts</a>"#));
    let problems = html.split(r#"id="problems""#).nth(1).unwrap();
    let problems = problems.split(r#"id="firing""#).next().unwrap();
    assert!(
        problems.contains("Probable root: ")
            && problems.contains(&format!(r#"href="/ui/services/{callee}""#)),
        "{problems}"
    );
    assert!(problems.contains(&format!(r#"href="/ui/alerts/{checkout}""#)));
    let firing = html.split(r#"id="firing-alerts""#).nth(1).unwrap();
    for fp in [&checkout, &dependency, &disk] {
        assert!(
            firing.contains(&format!(r#"data-fingerprint="{fp}""#)),
            "{fp}"
        );
    }
    assert!(firing.contains("checkout fails for shoppers"));
    assert!(firing.contains(r#"data-severity="warning""#));
    let (_, html) = page(&s, &ops, "/ui/alerts?severity=warning").await;
    assert!(html.contains(&format!(r#"data-fingerprint="{disk}""#)));
    assert!(!html.contains(&format!(r#"data-fingerprint="{checkout}""#)));
    assert_eq!(page(&s, &ops, "/ui/alerts?colour=red").await.0, 400);
    // The anomaly engine's alerts link to their rule's alerts.
    let (status, html) = page(&s, &ops, "/ui/alerts?rule=anomaly-service-traffic").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="rule-filter""#) && html.contains(r#"id="no-firing""#));
    assert_eq!(page(&s, &ops, "/ui/alerts?rule=anomaly-nope").await.0, 404);

    // One alert: labels, impact with links, the chart with its threshold, history.
    let (status, html) = page(&s, &ops, &format!("/ui/alerts/{checkout}")).await;
    assert_eq!(status, 200, "{html}");
    for id in [
        "alert-name",
        "alert-labels",
        "alert-annotations",
        "alert-impact",
        "affected-merchants",
        "alert-chart",
        "alert-history",
        "ack-button",
        "resolve-button",
        "silence-button",
    ] {
        assert!(html.contains(&format!(r#"id="{id}""#)), "{id} missing");
    }
    assert!(html.contains(&format!("instance={instance}")));
    assert!(html.contains("restart the order service"));
    assert!(html.contains(&format!(r#"href="/ui/hosts/{host_id}""#)));
    assert!(html.contains(r#"href="/ui/services/svc-order""#));
    assert!(html.contains(r#"href="/ui/merchants/"#));
    let chart = html.split(r#"id="alert-chart""#).nth(1).unwrap();
    let chart = chart.split("</section>").next().unwrap();
    assert!(
        chart.contains("<svg") && chart.contains("threshold &gt; 5"),
        "{chart}"
    );
    assert!(
        chart.contains("<code>shop_checkout_errors</code>"),
        "{chart}"
    );
    assert!(html.contains(r#"data-event="firing""#));
    assert!(html.contains(r#"data-event="notified""#));
    assert_eq!(
        page(&s, &ops, "/ui/alerts/ffffffffffffffff").await.0,
        404,
        "no such alert"
    );
    // An alert with nothing behind it says so.
    let (_, html) = page(&s, &ops, &format!("/ui/alerts/{disk}")).await;
    assert!(html.contains(r#"id="chart-note""#), "{html}");

    // Acknowledge through the form: a redirect back, and the use case knows who.
    let (status, to) = submit(&s, &ops, &format!("/ui/alerts/{checkout}/ack"), "").await;
    assert_eq!(status, 303);
    assert_eq!(to, format!("/ui/alerts/{checkout}?done=acknowledged"));
    let (_, got) = s
        .get_json(&format!("/api/v1/alerts/{checkout}"), ADMIN_TOKEN)
        .await;
    assert_eq!(
        got["alert"]["acknowledged"]["by"], "user:ops-alerts",
        "{got}"
    );
    let (_, html) = page(&s, &ops, &to).await;
    assert!(html.contains(r#"id="flash""#) && html.contains(r#"id="acknowledged""#));
    assert!(!html.contains(r#"id="ack-button""#));
    assert!(html.contains(r#"data-event="acknowledged""#));

    // Silence for two hours: a silence of exactly the alert's labels.
    let (status, to) = submit(
        &s,
        &ops,
        &format!("/ui/alerts/{disk}/silence"),
        "comment=disk+swap+tonight",
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(to, format!("/ui/alerts/{disk}?done=silenced"));
    let list = silences(&s).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let silence = &list[0];
    assert_eq!(silence["status"]["state"], "active");
    assert_eq!(silence["createdBy"], "user:ops-alerts");
    assert_eq!(silence["comment"], "disk swap tonight");
    assert_eq!(silence["matchers"].as_array().unwrap().len(), 3);
    let ends = time::OffsetDateTime::parse(
        silence["endsAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(ends - s.app.now(), time::Duration::hours(2));
    let silence_id = silence["id"].as_str().unwrap().to_owned();
    let (_, html) = page(&s, &ops, &to).await;
    assert!(html.contains(r#"id="silenced-by""#) && html.contains(&silence_id));
    let (_, html) = page(&s, &ops, "/ui/alerts").await;
    let row = html
        .split(&format!(r#"data-fingerprint="{disk}""#))
        .nth(1)
        .unwrap();
    let row = row.split("</tr>").next().unwrap();
    assert!(row.contains("silenced"), "{row}");

    // Resolve by hand: the alert moves to the resolved ones.
    let (status, to) = submit(&s, &ops, &format!("/ui/alerts/{dependency}/resolve"), "").await;
    assert_eq!(status, 303);
    assert_eq!(to, format!("/ui/alerts/{dependency}?done=resolved"));
    let (_, html) = page(&s, &ops, "/ui/alerts").await;
    let resolved = html.split(r#"id="resolved-alerts""#).nth(1).unwrap();
    assert!(resolved.contains(&format!(r#"data-fingerprint="{dependency}""#)));
    let (_, html) = page(&s, &ops, &to).await;
    assert!(html.contains(r#"data-status="resolved""#));
    assert!(!html.contains(r#"id="resolve-button""#));

    // Silences: listed by state; created from matcher lines; mistakes shown with
    // what was typed; expired.
    let (status, html) = page(&s, &ops, "/ui/alerts/silences").await;
    assert_eq!(status, 200);
    let active = html.split(r#"id="silences-active""#).nth(1).unwrap();
    let active = active.split("</section>").next().unwrap();
    assert!(active.contains(&format!(r#"id="silence-{silence_id}""#)));
    assert!(active.contains("disk swap tonight") && active.contains("user:ops-alerts"));
    assert!(html.contains(r#"id="silence-form""#));
    let (status, to) = submit(
        &s,
        &ops,
        "/ui/alerts/silences",
        "matchers=alertname%3D%22CheckoutErrors%22%0Aservice%3D~%22svc-.*%22&duration=1h&comment=deploy",
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(to, "/ui/alerts/silences?done=created");
    let list = silences(&s).await;
    assert_eq!(list.len(), 2);
    let created = list
        .iter()
        .find(|x| x["comment"] == "deploy")
        .expect("the new silence");
    assert_eq!(
        created["matchers"],
        json!([
            {"name": "alertname", "value": "CheckoutErrors", "isRegex": false, "isEqual": true},
            {"name": "service", "value": "svc-.*", "isRegex": true, "isEqual": true},
        ])
    );
    for (body, says) in [
        (
            "matchers=alertname%3D%22open&duration=1h&comment=x",
            "matchers:",
        ),
        (
            "matchers=job%3D%22api%22&duration=soon&comment=x",
            "duration:",
        ),
        (
            "matchers=job%3D%22api%22&duration=1h&comment=",
            "comment must not be empty",
        ),
    ] {
        let res = post_form(&s, "/ui/alerts/silences", body, Some(&ops)).await;
        assert_eq!(res.status(), 400, "{body}");
        let html = res.text().await.unwrap();
        assert!(
            html.contains(r#"id="silence-error""#) && html.contains(says),
            "{body}: {html}"
        );
        assert!(html.contains(r#"id="silence-form""#));
    }
    let (_, html) = page(
        &s,
        &ops,
        "/ui/alerts/silences?matchers=alertname%3D%22DiskFull%22",
    )
    .await;
    assert!(
        html.contains("alertname=&quot;DiskFull&quot;</textarea>"),
        "prefilled"
    );
    assert_eq!(silences(&s).await.len(), 2, "nothing made of mistakes");
    let (status, to) = submit(
        &s,
        &ops,
        &format!("/ui/alerts/silences/{silence_id}/expire"),
        "",
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(to, "/ui/alerts/silences?done=expired");
    let (_, html) = page(&s, &ops, &to).await;
    let expired = html.split(r#"id="silences-expired""#).nth(1).unwrap();
    assert!(expired.contains(&format!(r#"id="silence-{silence_id}""#)));
    assert_eq!(
        submit(&s, &ops, "/ui/alerts/silences/sil-nope/expire", "")
            .await
            .0,
        404
    );

    // Rules with their health, and the anomaly rules.
    let (status, html) = page(&s, &ops, "/ui/alerts/rules").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"data-file="demo.yml""#));
    let rule = html
        .split(r#"data-rule="ServiceHighErrorRate""#)
        .nth(1)
        .unwrap();
    let rule = rule.split("</tr>").next().unwrap();
    assert!(rule.contains(r#"data-health="ok""#), "{rule}");
    assert!(html.contains(r#"id="anomaly-rules""#));
    assert!(html.contains(r#"href="/ui/anomaly-rules/anomaly-service-traffic""#));

    // Who is on call and the next week, then the escalation policy.
    let (status, html) = page(&s, &ops, "/ui/alerts/oncall").await;
    assert_eq!(status, 200);
    let schedule = html.split(r#"id="schedule-sre-primary""#).nth(1).unwrap();
    let schedule = schedule.split("</section>").next().unwrap();
    assert!(schedule.contains("On call now: "), "{schedule}");
    let week = schedule.split("<tbody>").nth(1).unwrap();
    assert_eq!(
        week.split("</tbody>")
            .next()
            .unwrap()
            .matches("<tr>")
            .count(),
        7
    );
    let policy = html
        .split(r#"id="policy-critical-services""#)
        .nth(1)
        .unwrap();
    assert!(policy.contains(r##"href="#schedule-sre-primary""##) && policy.contains("ops-lead"));
    assert!(policy.contains("10m"));

    // The delivery log, paged with `before`.
    let (status, html) = page(&s, &ops, "/ui/alerts/notifications").await;
    assert_eq!(status, 200);
    let log = html.split(r#"id="notification-log""#).nth(1).unwrap();
    assert!(log.contains(r#"data-outcome="delivered""#) && log.contains(">hook<"));
    let (status, html) = page(&s, &ops, "/ui/alerts/notifications?before=1").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="no-notifications""#));
    assert_eq!(
        page(&s, &ops, "/ui/alerts/notifications?before=soon")
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn merchants_get_403_on_every_alerting_page_and_form() {
    let s = TestServer::builder().alerting().build().await;
    let (status, got) = s
        .send_json(
            Method::POST,
            "/api/v1/merchants",
            ADMIN_TOKEN,
            &json!({"id": "m-a", "name": "A", "tier": "standard"}),
        )
        .await;
    assert_eq!(status, 201, "{got}");
    s.user("shop-a", "shop-password-1", "merchant", Some("m-a"))
        .await;
    let shop = sign_in(&s, ("shop-a", "shop-password-1")).await;
    post_alerts(
        &s,
        json!([{"labels": {"alertname": "DiskFull", "severity": "warning", "instance": "db-1:9100"},
                "startsAt": rfc3339(s.app.now())}]),
    )
    .await;
    let fp = fingerprint(&s, "DiskFull").await;
    for path in [
        "/ui/alerts".to_owned(),
        format!("/ui/alerts/{fp}"),
        "/ui/alerts/silences".into(),
        "/ui/alerts/rules".into(),
        "/ui/alerts/oncall".into(),
        "/ui/alerts/notifications".into(),
    ] {
        let (status, html) = page(&s, &shop, &path).await;
        assert_eq!(status, 403, "{path}");
        assert!(!html.contains("DiskFull"), "{path}");
    }
    let (_, html) = page(&s, &shop, "/").await;
    assert!(
        !html.contains(r#"href="/ui/alerts""#),
        "no Alerts in the nav"
    );
    for (path, body) in [
        (format!("/ui/alerts/{fp}/ack"), ""),
        (format!("/ui/alerts/{fp}/resolve"), ""),
        (format!("/ui/alerts/{fp}/silence"), "comment=mine"),
        (
            "/ui/alerts/silences".to_owned(),
            "matchers=alertname%3D%22DiskFull%22&duration=2h&comment=mine",
        ),
        (
            "/ui/alerts/silences".to_owned(),
            "matchers=%7Bbroken&duration=soon",
        ),
        ("/ui/alerts/silences/sil-1/expire".to_owned(), ""),
    ] {
        assert_eq!(submit(&s, &shop, &path, body).await.0, 403, "{path}");
    }
    assert!(silences(&s).await.is_empty());
    let (_, got) = s
        .get_json(&format!("/api/v1/alerts/{fp}"), ADMIN_TOKEN)
        .await;
    assert_eq!(got["alert"]["acknowledged"], Value::Null);
    assert_eq!(got["alert"]["status"], "firing");
}
