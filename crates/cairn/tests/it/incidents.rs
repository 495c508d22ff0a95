//! Incidents end to end: a problem along the chain is declared as an incident with its
//! impact on merchants and a suggested severity; the on-call is paged through the
//! alerting loop's escalation policy (a real webhook receives the page) and
//! acknowledges; roles hand over; merchants hurt read the updates meant for them and
//! nothing else; raising the severity pages again; resolving ends the pages; the review
//! is complete only with its sections and action items; overdue items remind their
//! owners; and the numbers count MTTA, MTTR and repeats.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{TestServer, Webhook, ADMIN_TOKEN};

fn rfc(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

async fn post(s: &TestServer, path: &str, body: Value) -> (u16, Value) {
    s.send_json(Method::POST, path, ADMIN_TOKEN, &body).await
}

/// Alerts on the order database and the services above it, as an external
/// Prometheus would post them.
async fn order_chain_fails(s: &TestServer) {
    let start = rfc(s.app.now());
    let end = rfc(s.app.now() + time::Duration::hours(1));
    let alerts: Vec<Value> = ["svc-order-db", "svc-order", "svc-trade-api"]
        .iter()
        .map(|svc| json!({"labels": {"alertname": "ServiceHighErrorRate", "service": svc, "severity": "critical"},
                          "annotations": {"summary": format!("{svc} fails")}, "startsAt": start, "endsAt": end}))
        .collect();
    let (status, got) = post(s, "/alertmanager/api/v2/alerts", json!(alerts)).await;
    assert_eq!(status, 200, "{got}");
}

#[tokio::test]
async fn a_problem_becomes_an_incident_that_pages_is_acknowledged_updated_resolved_and_reviewed() {
    let s = TestServer::builder()
        .demo()
        .alerting()
        .tickets()
        .build()
        .await;
    let pager = Webhook::start(200).await;
    let cfg = format!(
        "route:\n  receiver: quiet\n  group_wait: 1h\nreceivers:\n  - name: quiet\n  - name: wang.lei\n    webhook_configs:\n      - url: {}\n",
        pager.url
    );
    let res = s
        .req(Method::PUT, "/api/v1/alerting/config", ADMIN_TOKEN)
        .body(cfg)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (status, _) = post(&s, "/api/v1/oncall/schedules", json!({"id": "sre", "name": "SRE", "time_zone": "Asia/Shanghai",
        "layers": [{"name": "w", "users": ["wang.lei"], "rotation": "weekly", "start_date": s.app.today().to_string(), "handoff": "00:00"}]})).await;
    assert_eq!(status, 201);
    let (status, _) = post(
        &s,
        "/api/v1/escalation-policies",
        json!({"id": "incidents", "name": "Incidents",
        "matchers": ["alertname=\"IncidentDeclared\"", "severity=\"critical\""],
        "levels": [{"targets": [{"kind": "schedule", "id": "sre"}], "escalate_after": "15m"}]}),
    )
    .await;
    assert_eq!(status, 201);

    order_chain_fails(&s).await;
    s.app.alerting_pass().await.unwrap();
    let (_, problems) = s.get_json("/api/v1/problems", ADMIN_TOKEN).await;
    let problem = problems
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["root"] == "svc-order-db")
        .expect("a problem rooted at the order db")
        .clone();

    // Declared from the problem in one call: alerts attached, impact computed, severity suggested.
    let (status, inc) = post(
        &s,
        "/api/v1/incidents",
        json!({"title": "订单库故障 Order DB failing", "problem": problem["id"]}),
    )
    .await;
    assert_eq!(status, 201, "{inc}");
    let id = inc["id"].as_str().unwrap().to_owned();
    assert_eq!(inc["alerts"].as_array().unwrap().len(), 3);
    assert_eq!(
        inc["impact"]["services"][0], "svc-order-db",
        "the root leads"
    );
    let hurt = inc["impact"]["merchant_count"].as_u64().unwrap();
    assert!(
        hurt >= 1,
        "merchants behind the order chain are hurt: {hurt}"
    );
    assert!(
        matches!(inc["severity"].as_str().unwrap(), "p1" | "p2"),
        "{inc}"
    );
    assert_eq!(inc["roles"]["commander"], inc["declared_by"]);

    // The page goes out through the escalation policy to whoever is on call.
    let notes = s.app.alerting_pass().await.unwrap();
    for n in notes {
        cairn_app::alerting::deliver::deliver(&s.app, n).await;
    }
    let pages = pager.received();
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert_eq!(pages[0]["alerts"][0]["labels"]["incident"], json!(id));
    let (status, inc) = post(&s, &format!("/api/v1/incidents/{id}/ack"), json!({})).await;
    assert_eq!(status, 200, "{inc}");
    assert!(inc["acknowledged_at"].is_string());

    // Roles hand over; a decision is written down.
    let (status, _) = post(
        &s,
        &format!("/api/v1/incidents/{id}/roles"),
        json!({"role": "commander", "person": "li.na"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(
        &s,
        &format!("/api/v1/incidents/{id}/notes"),
        json!({"kind": "decision", "body": "fail over to the standby"}),
    )
    .await;
    assert_eq!(status, 201);

    // Merchants hurt see the updates meant for them and nothing internal.
    let (status, _) = post(
        &s,
        &format!("/api/v1/incidents/{id}/updates"),
        json!({"body": "internal: standby is warming up", "audience": "internal"}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = post(&s, &format!("/api/v1/incidents/{id}/updates"), json!({"body": "部分订单写入失败，正在恢复 Some orders fail; recovering", "audience": "merchants"})).await;
    assert_eq!(status, 201);
    let (_, full) = s
        .get_json(&format!("/api/v1/incidents/{id}"), ADMIN_TOKEN)
        .await;
    let hurt_merchant = full["incident"]["impact"]["merchants"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, merchants) = s
        .get_json("/api/v1/merchants?limit=1000", ADMIN_TOKEN)
        .await;
    let unhurt = merchants["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .find(|m| {
            !full["incident"]["impact"]["merchants"]
                .as_array()
                .unwrap()
                .contains(&json!(m))
        })
        .expect("a merchant the incident does not touch");
    let theirs = s.token("merchant", Some(&hurt_merchant)).await;
    let (status, view) = s
        .get_json(&format!("/api/v1/incidents/{id}"), &theirs)
        .await;
    assert_eq!(status, 200, "{view}");
    let updates: Vec<&str> = view["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        updates,
        ["部分订单写入失败，正在恢复 Some orders fail; recovering"]
    );
    assert!(
        view.get("timeline").is_none() && view.get("impact").is_none(),
        "{view}"
    );
    let stranger = s.token("merchant", Some(&unhurt)).await;
    let (status, _) = s
        .get_json(&format!("/api/v1/incidents/{id}"), &stranger)
        .await;
    assert_eq!(status, 404);
    let (_, list) = s.get_json("/api/v1/incidents", &stranger).await;
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["id"] != json!(id)));

    // An estimate overrides the computed impact, with its reason.
    let (status, inc) = post(
        &s,
        &format!("/api/v1/incidents/{id}/impact"),
        json!({"merchants": 40, "reason": "only shops with orders in flight"}),
    )
    .await;
    assert_eq!(status, 200, "{inc}");
    assert_eq!(inc["impact"]["override_merchants"], 40);
    let (status, got) = post(
        &s,
        &format!("/api/v1/incidents/{id}/impact"),
        json!({"merchants": 40}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(got["error"]["field"], "reason");

    // Mitigated, resolved: the pages end.
    for to in ["identified", "mitigated", "resolved"] {
        let (status, got) = post(
            &s,
            &format!("/api/v1/incidents/{id}/status"),
            json!({"status": to}),
        )
        .await;
        assert_eq!(status, 200, "{to}: {got}");
    }
    let (_, alerts) = s.get_json("/api/v1/alerts", ADMIN_TOKEN).await;
    assert!(
        alerts
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["labels"]["incident"] != json!(id)),
        "the page ended"
    );

    // The review: reviewed only when complete.
    let (status, got) = post(
        &s,
        &format!("/api/v1/incidents/{id}/status"),
        json!({"status": "reviewed"}),
    )
    .await;
    assert_eq!(status, 422, "{got}");
    assert!(
        got["error"]["message"]
            .as_str()
            .unwrap()
            .contains("root_cause"),
        "{got}"
    );
    let review = json!({"summary": "Order DB saturated", "impact": "orders failed for 40 minutes", "root_cause": "connection storm after a deploy",
        "cause_category": "change", "contributing_factors": ["no connection limit per app"], "went_well": "fast failover",
        "went_badly": "late merchant update", "responsible_team": "dba"});
    let res = s
        .req(
            Method::PUT,
            &format!("/api/v1/incidents/{id}/review"),
            ADMIN_TOKEN,
        )
        .json(&review)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let due = (s.app.today() + time::Duration::days(7)).to_string();
    let (status, inc) = post(
        &s,
        &format!("/api/v1/incidents/{id}/actions"),
        json!({"title": "Per-app connection limits", "owner": "dba-lead", "due": due}),
    )
    .await;
    assert_eq!(status, 201, "{inc}");
    let (status, got) = post(
        &s,
        &format!("/api/v1/incidents/{id}/status"),
        json!({"status": "reviewed"}),
    )
    .await;
    assert_eq!(status, 200, "{got}");

    // Overdue: its owner is reminded once a day.
    s.clock.advance(time::Duration::days(10));
    s.app.incidents_pass(false).await.unwrap();
    s.app.incidents_pass(false).await.unwrap();
    let (_, full) = s
        .get_json(&format!("/api/v1/incidents/{id}"), ADMIN_TOKEN)
        .await;
    let reminders = full["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "reminder")
        .count();
    assert_eq!(reminders, 1, "{}", full["timeline"]);
    let kinds: Vec<&str> = full["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for k in [
        "declared",
        "alert-joined",
        "paged",
        "acknowledged",
        "role",
        "decision",
        "update",
        "impact",
        "status",
        "review",
        "action",
        "change",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }

    // Numbers: this one and the demo's history, with MTTA and MTTR, and a repeat (the
    // order database failed 25 days before in the demo's history).
    let (status, n) = s
        .get_json("/api/v1/incident-numbers?by=month", ADMIN_TOKEN)
        .await;
    assert_eq!(status, 200, "{n}");
    assert!(n["totals"]["incidents"].as_u64().unwrap() >= 13);
    assert!(n["totals"]["mtta_minutes"].as_f64().unwrap() > 0.0);
    assert!(n["totals"]["mttr_minutes"].as_f64().unwrap() > 0.0);
    assert!(
        n["totals"]["repeats"].as_u64().unwrap() >= 1,
        "{}",
        n["totals"]
    );
    assert!(n["totals"]["by_cause"]["capacity"].as_u64().unwrap() >= 1);
    assert!(!n["overdue_actions"].as_array().unwrap().is_empty());
    let (status, _) = s.get_json("/api/v1/incident-numbers", &theirs).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_problem_of_several_alerts_declares_an_incident_on_its_own_when_asked() {
    let s = TestServer::builder().demo().alerting().build().await;
    order_chain_fails(&s).await;
    s.app.alerting_pass().await.unwrap();
    s.app.incidents_pass(true).await.unwrap();
    s.app.incidents_pass(true).await.unwrap();
    let (_, list) = s.get_json("/api/v1/incidents", ADMIN_TOKEN).await;
    let live: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] == "investigating")
        .collect();
    assert_eq!(live.len(), 1, "one incident for one problem: {list}");
    assert_eq!(live[0]["impact"]["services"][0], "svc-order-db");
    assert_eq!(live[0]["declared_by"], "cairn");
    // Bad declarations name the field.
    let (status, got) = post(
        &s,
        "/api/v1/incidents",
        json!({"title": "", "severity": "p9"}),
    )
    .await;
    assert_eq!(status, 400, "{got}");
    assert_eq!(got["error"]["field"], "severity");
    let (status, got) = post(
        &s,
        "/api/v1/incidents",
        json!({"title": "x", "alerts": ["nope"]}),
    )
    .await;
    assert_eq!(status, 400, "{got}");
    assert_eq!(got["error"]["field"], "alerts");
}

/// Posts a form as the signed-in user: the status and where it redirects.
async fn submit(s: &TestServer, cookie: &str, path: &str, body: &str) -> (u16, String) {
    let res = crate::support::post_form(s, path, body, Some(cookie)).await;
    let status = res.status().as_u16();
    let to = res
        .headers()
        .get(reqwest::header::LOCATION)
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, to)
}

#[tokio::test]
async fn the_incident_pages_run_an_incident_through_forms_and_show_merchants_their_own_only() {
    use crate::support::{page, sign_in};
    let s = TestServer::builder().demo().alerting().build().await;
    s.user("ops-inc", "ops-password-1", "base-ops", None).await;
    let ops = sign_in(&s, ("ops-inc", "ops-password-1")).await;
    order_chain_fails(&s).await;

    // The problem on the alerts page offers to declare it in one click.
    let (status, html) = page(&s, &ops, "/ui/alerts").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"action="/ui/incidents""#), "{html}");
    let (_, problems) = s.get_json("/api/v1/problems", ADMIN_TOKEN).await;
    let problem = problems[0]["id"].as_str().unwrap().to_owned();

    // A form without a title is refused and says which field is wrong.
    let (status, html) = {
        let res =
            crate::support::post_form(&s, "/ui/incidents", "title=&severity=", Some(&ops)).await;
        (res.status().as_u16(), res.text().await.unwrap())
    };
    assert_eq!(status, 422);
    assert!(html.contains("title"), "{html}");

    let (status, to) = submit(
        &s,
        &ops,
        "/ui/incidents",
        &format!("problem={problem}&title=Orders+fail&severity="),
    )
    .await;
    assert_eq!(status, 303, "{to}");
    assert!(
        to.starts_with("/ui/incidents/inc-") && to.ends_with("?done=declared"),
        "{to}"
    );
    let base = to.split('?').next().unwrap().to_owned();
    let id = base.rsplit('/').next().unwrap().to_owned();
    let (status, html) = page(&s, &ops, &to).await;
    assert_eq!(status, 200);
    assert!(html.contains("Orders fail") && html.contains(r#"id="ack""#));
    assert!(
        html.contains("svc-order-db"),
        "the problem's root is among the services"
    );

    // Acknowledge, a merchant update, a decision, a severity change with its reason.
    assert_eq!(submit(&s, &ops, &format!("{base}/ack"), "").await.0, 303);
    assert_eq!(
        submit(
            &s,
            &ops,
            &format!("{base}/updates"),
            "body=Orders+are+slow%3B+we+are+on+it&kind=merchants"
        )
        .await
        .0,
        303
    );
    assert_eq!(
        submit(
            &s,
            &ops,
            &format!("{base}/notes"),
            "body=Fail+over+the+order+database&kind=decision"
        )
        .await
        .0,
        303
    );
    assert_eq!(
        submit(&s, &ops, &format!("{base}/severity"), "severity=p1&reason=")
            .await
            .0,
        400
    );
    assert_eq!(
        submit(
            &s,
            &ops,
            &format!("{base}/severity"),
            "severity=p1&reason=VIPs+hit"
        )
        .await
        .0,
        303
    );
    assert_eq!(
        submit(
            &s,
            &ops,
            &format!("{base}/impact"),
            "merchants=many&reason=x"
        )
        .await
        .0,
        400
    );
    let (_, html) = page(&s, &ops, &base).await;
    assert!(html.contains(r#"id="acked""#) && html.contains("Fail over the order database"));
    assert!(html.contains(r#"data-severity="p1""#));

    // A merchant hurt by it sees the merchant update and nothing internal; another
    // merchant gets a 404 for the same page.
    let (_, detail) = s
        .get_json(&format!("/api/v1/incidents/{id}"), ADMIN_TOKEN)
        .await;
    let hurt = detail["incident"]["impact"]["merchants"][0]
        .as_str()
        .unwrap()
        .to_owned();
    s.user("shop-hurt", "shop-password-1", "merchant", Some(&hurt))
        .await;
    let shop = sign_in(&s, ("shop-hurt", "shop-password-1")).await;
    let (status, html) = page(&s, &shop, &base).await;
    assert_eq!(status, 200);
    assert!(html.contains("Orders are slow") && !html.contains("Fail over the order database"));
    let (_, list) = page(&s, &shop, "/ui/incidents").await;
    assert!(list.contains(&id) && !list.contains("Declare an incident"));
    assert_eq!(submit(&s, &shop, &format!("{base}/ack"), "").await.0, 403);
    assert_eq!(page(&s, &shop, "/ui/incidents/numbers").await.0, 403);
    let (_, merchants) = s
        .get_json("/api/v1/merchants?limit=1000", ADMIN_TOKEN)
        .await;
    let other = merchants["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .find(|m| {
            !detail["incident"]["impact"]["merchants"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == m)
        })
        .unwrap();
    s.user("shop-other", "shop-password-2", "merchant", Some(&other))
        .await;
    let stranger = sign_in(&s, ("shop-other", "shop-password-2")).await;
    let (status, html) = page(&s, &stranger, &base).await;
    assert_eq!(status, 404);
    assert!(!html.contains("Orders fail"));

    // Resolve, write the review, add an action item and finish it: the review is
    // complete and the incident may be marked reviewed.
    assert_eq!(
        submit(&s, &ops, &format!("{base}/status"), "status=resolved&note=")
            .await
            .0,
        303
    );
    assert_eq!(
        submit(&s, &ops, &format!("{base}/status"), "status=reviewed&note=")
            .await
            .0,
        422
    );
    let review = "summary=Orders+failed&impact=40+minutes&root_cause=Disk+full&cause_category=capacity\
        &contributing_factors=No+disk+alert%0D%0ANo+runbook&went_well=Fast+page&went_badly=Slow+failover&responsible_team=dba";
    assert_eq!(
        submit(&s, &ops, &format!("{base}/review"), review).await.0,
        303
    );
    assert_eq!(
        submit(
            &s,
            &ops,
            &format!("{base}/actions"),
            "title=Disk+alert&owner=li.na&due=2026-12-01&links=T-1"
        )
        .await
        .0,
        303
    );
    assert_eq!(
        submit(
            &s,
            &ops,
            &format!("{base}/actions"),
            "title=x&owner=y&due=tomorrow"
        )
        .await
        .0,
        400
    );
    let (_, html) = page(&s, &ops, &base).await;
    assert!(html.contains(r#"id="review-complete""#), "{html}");
    let (_, detail) = s
        .get_json(&format!("/api/v1/incidents/{id}"), ADMIN_TOKEN)
        .await;
    assert_eq!(
        detail["incident"]["review"]["contributing_factors"],
        json!(["No disk alert", "No runbook"])
    );
    let action = detail["incident"]["actions"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        submit(&s, &ops, &format!("{base}/actions/{action}/done"), "")
            .await
            .0,
        303
    );
    assert_eq!(
        submit(&s, &ops, &format!("{base}/status"), "status=reviewed&note=")
            .await
            .0,
        303
    );

    // The numbers page, by week and by month; a bad period is a 400 naming it.
    let (status, html) = page(&s, &ops, "/ui/incidents/numbers").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="total-mtta""#) && html.contains("dba"));
    assert_eq!(
        page(&s, &ops, "/ui/incidents/numbers?by=month").await.0,
        200
    );
    let (status, html) = page(&s, &ops, "/ui/incidents/numbers?by=year").await;
    assert_eq!(status, 400);
    assert!(html.contains("by: must be week or month"));
}
