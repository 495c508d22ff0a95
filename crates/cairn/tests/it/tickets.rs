//! The tickets loop: a merchant files a ticket (after the knowledge base suggested
//! articles), support answers, escalates with a reason to application ops, waits on the
//! merchant (the SLA clock pauses), resolves; the merchant reopens; attachments are
//! checked; another merchant sees nothing of it; SLA breaches escalate on their own;
//! and the demo's two years of tickets cluster into repeated requests with numbers.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{TestServer, ADMIN_TOKEN};

async fn small_world(s: &TestServer) -> (String, String) {
    for (path, body) in [
        (
            "/api/v1/merchants",
            json!({"id": "m-shop", "name": "小米粒鞋包", "tier": "standard", "contact_email": "owner@shop.example"}),
        ),
        (
            "/api/v1/merchants",
            json!({"id": "m-other", "name": "Other shop", "tier": "vip"}),
        ),
    ] {
        let (status, got) = s.send_json(Method::POST, path, ADMIN_TOKEN, &body).await;
        assert_eq!(status, 201, "{got}");
    }
    s.user("support-li", "support-password-1", "support", None)
        .await;
    (
        s.token("merchant", Some("m-shop")).await,
        s.token("merchant", Some("m-other")).await,
    )
}

async fn post(s: &TestServer, path: &str, token: &str, body: Value) -> (u16, Value) {
    s.send_json(Method::POST, path, token, &body).await
}

#[tokio::test]
async fn a_ticket_flows_from_the_merchant_through_the_tiers_and_back_with_its_sla() {
    let s = TestServer::builder().tickets().build().await;
    let (shop, other) = small_world(&s).await;
    let support = s.token("support", None).await;
    // A public article the merchant's draft should find, and an internal one it must not.
    for (title, audience) in [
        ("如何重置 RDS 数据库密码 / Reset an RDS password", "public"),
        ("RDS password internals for ops", "internal"),
    ] {
        let (status, got) = post(&s, "/api/v1/kb/articles", ADMIN_TOKEN, json!({
            "title": title, "body_markdown": "在控制台选择实例，点击**重置密码**。 Open the console and reset the password.",
            "category": "database", "tags": ["rds", "password"], "audience": audience, "status": "published"
        })).await;
        assert_eq!(status, 201, "{got}");
    }
    let (status, sugg) = post(
        &s,
        "/api/v1/tickets/suggestions",
        &shop,
        json!({"draft": "忘记了 RDS 密码，怎么重置"}),
    )
    .await;
    assert_eq!(status, 200, "{sugg}");
    let titles: Vec<&str> = sugg
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert!(titles.iter().any(|t| t.contains("重置")), "{titles:?}");
    assert!(
        titles.iter().all(|t| !t.contains("internals")),
        "internal articles are not suggested to merchants"
    );

    // The merchant files anyway.
    let (status, t) = post(&s, "/api/v1/tickets", &shop, json!({
        "title": "RDS 连接数满了 too many connections", "body": "订单库连不上", "category": "database", "priority": "p2"
    })).await;
    assert_eq!(status, 201, "{t}");
    let id = t["id"].as_str().unwrap().to_owned();
    assert_eq!(t["status"], "new");
    assert_eq!(t["tier"], "support");
    assert_eq!(t["merchant_id"], "m-shop");
    // Support's people hear of it.
    let cookie = crate::support::sign_in(&s, ("support-li", "support-password-1")).await;
    let inbox: Value = s
        .http
        .get(s.url("/api/v1/inbox"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(inbox[0]["text"].as_str().unwrap().contains(&id), "{inbox}");

    // An internal note the merchant never sees; a reply it does, which is the first response.
    let (status, _) = post(
        &s,
        &format!("/api/v1/tickets/{id}/comments"),
        &support,
        json!({"body": "客户在大促前扩容过", "internal": true}),
    )
    .await;
    assert_eq!(status, 201);
    s.clock.advance(time::Duration::minutes(20));
    let (status, t) = post(
        &s,
        &format!("/api/v1/tickets/{id}/comments"),
        &support,
        json!({"body": "我们正在排查 / we are looking into it"}),
    )
    .await;
    assert_eq!(status, 201, "{t}");
    assert_eq!(t["status"], "open");
    assert!(t["first_response_at"].is_string());
    let (_, mine) = s.get_json(&format!("/api/v1/tickets/{id}"), &shop).await;
    let bodies: Vec<&str> = mine["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["body"].as_str().unwrap())
        .collect();
    assert!(
        bodies.iter().all(|b| !b.contains("大促前扩容")),
        "{bodies:?}"
    );
    assert!(
        mine["context"].is_null(),
        "merchants do not get the staff context"
    );
    assert_eq!(mine["sla"]["first_response"]["state"], "met");

    // Escalation needs a reason, and moves the ticket up a tier.
    let (status, got) = post(
        &s,
        &format!("/api/v1/tickets/{id}/escalate"),
        &support,
        json!({}),
    )
    .await;
    assert_eq!(status, 400, "{got}");
    assert_eq!(got["error"]["field"], "reason");
    let (status, t) = post(
        &s,
        &format!("/api/v1/tickets/{id}/escalate"),
        &support,
        json!({"reason": "需要查看 RDS 参数"}),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["tier"], "app-ops");
    assert_eq!(t["status"], "escalated");
    let (status, t) = post(
        &s,
        &format!("/api/v1/tickets/{id}/de-escalate"),
        &support,
        json!({"reason": "参数已调整，请支持回复客户"}),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["tier"], "support");

    // Waiting on the merchant pauses the clock; the merchant's reply resumes it.
    let (status, t) = post(
        &s,
        &format!("/api/v1/tickets/{id}/status"),
        &support,
        json!({"status": "waiting-on-merchant"}),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    s.clock.advance(time::Duration::hours(3));
    let (_, d) = s
        .get_json(&format!("/api/v1/tickets/{id}"), ADMIN_TOKEN)
        .await;
    assert_eq!(d["sla"]["resolution"]["state"], "paused", "{}", d["sla"]);
    let (status, t) = post(
        &s,
        &format!("/api/v1/tickets/{id}/comments"),
        &shop,
        json!({"body": "重启后好了"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(t["status"], "open");
    assert_eq!(t["pauses"].as_array().unwrap().len(), 1);
    assert!(t["pauses"][0]["end"].is_string());

    // Attachments: types and sizes are checked; internal ones stay internal.
    let png_lie = s
        .req(
            Method::POST,
            &format!("/api/v1/tickets/{id}/attachments?name=screen.png"),
            &shop,
        )
        .header("content-type", "image/png")
        .body("not a png")
        .send()
        .await
        .unwrap();
    assert_eq!(png_lie.status(), 400);
    let exe = s
        .req(
            Method::POST,
            &format!("/api/v1/tickets/{id}/attachments?name=x.exe"),
            &shop,
        )
        .header("content-type", "application/x-msdownload")
        .body("MZ")
        .send()
        .await
        .unwrap();
    assert_eq!(exe.status(), 400);
    let log = s
        .req(
            Method::POST,
            &format!("/api/v1/tickets/{id}/attachments?name=error.log"),
            &shop,
        )
        .header("content-type", "text/plain")
        .body("ERROR 1040: Too many connections\n")
        .send()
        .await
        .unwrap();
    assert_eq!(log.status(), 201);
    let log: Value = log.json().await.unwrap();
    let secret = s
        .req(
            Method::POST,
            &format!("/api/v1/tickets/{id}/attachments?name=params.json&internal=true"),
            &support,
        )
        .header("content-type", "application/json")
        .body(r#"{"max_connections": 2000}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(secret.status(), 201);
    let secret: Value = secret.json().await.unwrap();
    let got = s
        .req(
            Method::GET,
            &format!(
                "/api/v1/tickets/{id}/attachments/{}",
                log["id"].as_str().unwrap()
            ),
            &shop,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(
        got.text().await.unwrap(),
        "ERROR 1040: Too many connections\n"
    );
    let got = s
        .req(
            Method::GET,
            &format!(
                "/api/v1/tickets/{id}/attachments/{}",
                secret["id"].as_str().unwrap()
            ),
            &shop,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.status(),
        404,
        "an internal attachment is not the merchant's"
    );

    // Another merchant sees nothing of it, anywhere.
    let (status, _) = s.get_json(&format!("/api/v1/tickets/{id}"), &other).await;
    assert_eq!(status, 404);
    let (_, theirs) = s.get_json("/api/v1/tickets", &other).await;
    assert_eq!(theirs, json!([]));
    let (_, found) = s
        .get_json("/api/v1/search?q=too%20many%20connections", &other)
        .await;
    assert_eq!(found["total"], 0, "{found}");
    let (_, found) = s
        .get_json("/api/v1/search?q=too%20many%20connections", &shop)
        .await;
    assert_eq!(found["hits"][0]["doc"]["id"], json!(id), "{found}");
    assert!(found["hits"][0]["title_html"]
        .as_str()
        .unwrap()
        .contains("<mark>"));

    // Resolved; the merchant reopens; a resolved ticket becomes a draft article.
    let (status, t) = post(
        &s,
        &format!("/api/v1/tickets/{id}/status"),
        &support,
        json!({"status": "resolved", "reason": "max_connections raised"}),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    let (status, a) = post(
        &s,
        &format!("/api/v1/tickets/{id}/article"),
        &support,
        json!({}),
    )
    .await;
    assert_eq!(status, 201, "{a}");
    assert_eq!(a["status"], "draft");
    assert_eq!(a["audience"], "internal");
    assert_eq!(a["source_ticket"], json!(id));
    let (status, t) = post(
        &s,
        &format!("/api/v1/tickets/{id}/status"),
        &shop,
        json!({"status": "reopened"}),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert!(t["resolved_at"].is_null());
    let (status, got) = post(
        &s,
        &format!("/api/v1/tickets/{id}/status"),
        &shop,
        json!({"status": "open"}),
    )
    .await;
    assert_eq!(status, 403, "{got}");
    let (status, got) = post(
        &s,
        &format!("/api/v1/tickets/{id}/status"),
        &support,
        json!({"status": "new"}),
    )
    .await;
    assert_eq!(status, 422, "{got}");
    assert_eq!(got["error"]["field"], "status");

    // A merchant read a suggestion and left: a deflection, in the numbers.
    let (status, _) = post(
        &s,
        "/api/v1/tickets/deflections",
        &shop,
        json!({"draft": "怎么重置密码"}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, n) = s
        .get_json("/api/v1/ticket-numbers?by=day", ADMIN_TOKEN)
        .await;
    assert_eq!(status, 200, "{n}");
    assert_eq!(n["totals"]["created"], 1);
    assert_eq!(n["totals"]["deflections"], 1);
    assert_eq!(n["totals"]["deflection_rate"], 0.5);
    let (status, _) = s.get_json("/api/v1/ticket-numbers", &shop).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn an_unanswered_ticket_warns_then_breaches_its_sla_and_escalates_itself() {
    let s = TestServer::builder().tickets().build().await;
    let (shop, _) = small_world(&s).await;
    // P1: 30 minutes to the first response, around the clock.
    let (status, t) = post(
        &s,
        "/api/v1/tickets",
        &shop,
        json!({"title": "店铺打不开 shop is down", "priority": "p1", "category": "outage"}),
    )
    .await;
    assert_eq!(status, 201, "{t}");
    let id = t["id"].as_str().unwrap().to_owned();
    s.clock.advance(time::Duration::minutes(25));
    s.app.tickets_pass().await.unwrap();
    s.clock.advance(time::Duration::minutes(10));
    s.app.tickets_pass().await.unwrap();
    s.app.tickets_pass().await.unwrap();
    let (_, d) = s
        .get_json(&format!("/api/v1/tickets/{id}"), ADMIN_TOKEN)
        .await;
    let kinds: Vec<&str> = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "sla-warning").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "sla-breach").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(d["ticket"]["tier"], "app-ops", "a breach escalates");
    assert_eq!(d["sla"]["first_response"]["state"], "breached");
}

#[tokio::test]
async fn the_demo_tickets_cluster_into_repeated_requests_that_can_become_product_work() {
    let s = TestServer::builder().demo().tickets().build().await;
    let (_, tickets) = s.get_json("/api/v1/tickets?limit=1000", ADMIN_TOKEN).await;
    assert_eq!(
        tickets.as_array().unwrap().len(),
        1000,
        "thousands of demo tickets"
    );
    let (status, clusters) = s
        .get_json("/api/v1/ticket-clusters?window_days=365", ADMIN_TOKEN)
        .await;
    assert_eq!(status, 200, "{clusters}");
    let list = clusters.as_array().unwrap();
    assert!(list.len() >= 5, "{}", list.len());
    assert!(list[0]["size"].as_u64().unwrap() >= list[1]["size"].as_u64().unwrap());
    let id = list[0]["id"].as_str().unwrap().to_owned();
    assert!(!list[0]["example_titles"].as_array().unwrap().is_empty());
    let (status, m) = post(
        &s,
        &format!("/api/v1/ticket-clusters/{id}/mark"),
        ADMIN_TOKEN,
        json!({"status": "to-build", "note": "self-service in the console"}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    let (_, again) = s
        .get_json("/api/v1/ticket-clusters?window_days=365", ADMIN_TOKEN)
        .await;
    let marked = again
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == json!(id))
        .unwrap();
    assert_eq!(marked["mark"]["status"], "to-build");
    let (_, by_time) = s
        .get_json(
            "/api/v1/ticket-clusters?window_days=365&by=time",
            ADMIN_TOKEN,
        )
        .await;
    let first = by_time[0]["time_spent_minutes"].as_u64().unwrap();
    assert!(by_time
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["time_spent_minutes"].as_u64().unwrap() <= first));
    // Numbers by week over the year, and Chinese search over the starter knowledge base.
    let to = s.app.today();
    let from = to - time::Duration::days(364);
    let (status, n) = s
        .get_json(
            &format!("/api/v1/ticket-numbers?by=week&from={from}&to={to}"),
            ADMIN_TOKEN,
        )
        .await;
    assert_eq!(status, 200, "{n}");
    assert!(n["rows"].as_array().unwrap().len() >= 50);
    assert!(n["totals"]["first_response_sla_met"].as_f64().unwrap() > 0.0);
    let (_, found) = s
        .get_json(
            "/api/v1/search?q=%E6%89%A9%E5%AE%B9&kind=article",
            ADMIN_TOKEN,
        )
        .await;
    assert!(
        found["total"].as_u64().unwrap() > 0,
        "扩容 finds articles: {found}"
    );
}
