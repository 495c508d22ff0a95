//! Merchants are isolated: walking every route of the OpenAPI document with one
//! merchant's token, nothing of another merchant is ever answered or changed.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{page, post_form, sign_in, TestServer, ADMIN_TOKEN};

/// Two merchants of the demo cloud that both own services, instances and dependencies.
async fn two_merchants(s: &TestServer) -> (String, String) {
    let (_, deps) = s
        .get_json("/api/v1/dependencies?limit=1000", ADMIN_TOKEN)
        .await;
    let owners: BTreeSet<String> = deps["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["merchant_id"].as_str().map(str::to_owned))
        .collect();
    let mut it = owners.into_iter();
    (
        it.next().expect("a merchant with services"),
        it.next().expect("a second one"),
    )
}

/// Adds a record of each platform kind the demo cloud has none of, so every `{id}`
/// route has a record to try.
async fn fill_kinds_the_demo_lacks(s: &TestServer) {
    let (status, body) = s
        .send_json(
            Method::POST,
            "/api/v1/scrape-targets",
            ADMIN_TOKEN,
            &json!({"job": "shop", "address": "127.0.0.1:9", "interval_s": 30}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, pools) = s.get_json("/api/v1/pools?limit=1", ADMIN_TOKEN).await;
    let (status, body) = s
        .send_json(
            Method::POST,
            "/api/v1/reservations",
            ADMIN_TOKEN,
            &json!({"pool_id": pools["items"][0]["id"], "starts_on": "2026-12-10",
                    "ends_on": "2026-12-12", "units": 10.0}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = s
        .send_json(
            Method::POST,
            "/api/v1/anomaly-rules",
            ADMIN_TOKEN,
            &json!({"name": "ShopTraffic", "expr": "sum(rate(http_requests_total[5m]))"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// One record of `plural` owned by `merchant`, as the admin sees it.
async fn record_of(s: &TestServer, plural: &str, merchant: &str) -> Value {
    let filter = if plural == "merchants" {
        "id"
    } else {
        "merchant_id"
    };
    let path = if plural == "merchants" {
        format!("/api/v1/merchants/{merchant}")
    } else {
        format!("/api/v1/{plural}?{filter}={merchant}&limit=1")
    };
    let (status, body) = s.get_json(&path, ADMIN_TOKEN).await;
    assert_eq!(status, 200, "{body}");
    if plural == "merchants" {
        body
    } else {
        body["items"][0].clone()
    }
}

#[tokio::test]
async fn a_merchant_token_reaches_its_own_tenant_only_on_every_route() {
    let s = TestServer::builder()
        .demo()
        .alerting()
        .tickets()
        .build()
        .await;
    let (me, other) = two_merchants(&s).await;
    fill_kinds_the_demo_lacks(&s).await;
    // The other tenant's ticket, for the ticket routes that take an id.
    let (status, their_ticket) = s
        .send_json(
            Method::POST,
            "/api/v1/tickets",
            ADMIN_TOKEN,
            &json!({"merchant_id": other, "title": "their private trouble", "category": "general"}),
        )
        .await;
    assert_eq!(status, 201, "{their_ticket}");
    let their_ticket = their_ticket["id"].as_str().unwrap().to_owned();
    // The other tenant gets a merchant-scoped promotion so that kind has one too.
    let (status, promo) = s
        .send_json(
            Method::POST,
            "/api/v1/promotions",
            ADMIN_TOKEN,
            &json!({
            "name": "店庆", "starts_at": "2026-12-01T00:00:00Z", "ends_at": "2026-12-03T00:00:00Z",
            "scope": "merchant", "merchant_id": other, "expected_uplift": 3.0}),
        )
        .await;
    assert_eq!(status, 201, "{promo}");
    let token = s.token("merchant", Some(&me)).await;

    let doc: Value = s
        .http
        .get(s.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut walked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let kind = path
            .strip_prefix("/api/v1/")
            .and_then(|p| p.split('/').next())
            .unwrap_or("");
        let visibility = cairn_domain::Kind::from_plural(kind).map(|k| k.visibility());
        use cairn_domain::Visibility as V;
        let owned = matches!(visibility, Some(V::Owned | V::OwnedOrShared));
        let catalog = visibility == Some(V::Catalog);
        let infra = visibility == Some(V::Infrastructure);
        // The other tenant's record, for routes that take an id.
        let theirs = if owned {
            Some(record_of(&s, kind, &other).await)
        } else {
            None
        };
        for method in item
            .as_object()
            .unwrap()
            .keys()
            .filter(|m| *m != "parameters")
        {
            walked += 1;
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let concrete = match (&theirs, path.contains("{id}")) {
                _ if path.starts_with("/api/v1/tickets/{id}") => path
                    .replace("{id}", &their_ticket)
                    .replace("{att}", "not-a-record"),
                (Some(r), true) => path.replace("{id}", r["id"].as_str().unwrap()),
                (None, true) if visibility.is_none() => {
                    // Not a kind of the model (alerts, schedules, silences): an id that
                    // names nothing; the merchant is turned away before it matters.
                    path.replace("{id}", "not-a-record")
                }
                (None, true) => {
                    // Any record of a catalogue or infrastructure kind.
                    let (_, page) = s
                        .get_json(&format!("/api/v1/{kind}?limit=1"), ADMIN_TOKEN)
                        .await;
                    path.replace("{id}", page["items"][0]["id"].as_str().unwrap())
                }
                _ => path.clone(),
            };
            // A write tries to land in the other tenant.
            let mut body = theirs.clone().unwrap_or_else(|| json!({"name": "x"}));
            if body.get("merchant_id").is_some() {
                body["merchant_id"] = json!(other);
            }
            if path.ends_with("/import") {
                body = json!([body]);
            }
            let res = s
                .req(m.clone(), &concrete, &token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let text = res.text().await.unwrap();
            let short: String = text.chars().take(300).collect();
            let what = format!("{method} {concrete} -> {status} {short}");
            assert!(status < 500, "{what}");
            assert!(
                !text.contains(&format!("\"{other}\"")),
                "leaked the other tenant: {what}"
            );
            match (method.as_str(), path.as_str()) {
                // Tickets: a merchant's own, public articles, its own search results.
                ("get", "/api/v1/tickets") => {
                    assert_eq!(status, 200, "{what}");
                    let list: Value = serde_json::from_str(&text).unwrap();
                    for t in list.as_array().unwrap() {
                        assert_eq!(t["merchant_id"], json!(me), "{what}");
                    }
                }
                (_, p) if p.starts_with("/api/v1/tickets/{id}") => {
                    assert!(matches!(status, 400 | 403 | 404), "{what}")
                }
                ("get", "/api/v1/search") => {
                    assert_eq!(status, 200, "{what}");
                    let r: Value = serde_json::from_str(&text).unwrap();
                    for h in r["hits"].as_array().unwrap() {
                        assert!(
                            h["merchant_id"].is_null() || h["merchant_id"] == json!(me),
                            "{what}"
                        );
                    }
                }
                ("get", "/api/v1/kb/articles") => {
                    assert_eq!(status, 200, "{what}");
                    let list: Value = serde_json::from_str(&text).unwrap();
                    for a in list.as_array().unwrap() {
                        assert_eq!(a["audience"], "public", "{what}");
                        assert_eq!(a["status"], "published", "{what}");
                    }
                }
                ("get", "/api/v1/kb/articles/{id}") => assert_eq!(status, 404, "{what}"),
                (_, p) if p.starts_with("/api/v1/kb/") => assert_eq!(status, 403, "{what}"),
                (_, p) if p.starts_with("/api/v1/ticket-") => assert_eq!(status, 403, "{what}"),
                ("post", "/api/v1/tickets") => assert_eq!(status, 400, "{what}"),
                ("post", "/api/v1/tickets/suggestions") => assert_eq!(status, 200, "{what}"),
                ("post", "/api/v1/tickets/deflections") => assert_eq!(status, 201, "{what}"),
                ("get", "/api/v1/sla-policy" | "/api/v1/inbox") => {
                    assert_eq!(status, 200, "{what}")
                }
                // Incidents: the ones that hurt the merchant, with their merchant updates.
                ("get", "/api/v1/incidents") => {
                    assert_eq!(status, 200, "{what}");
                    let list: Value = serde_json::from_str(&text).unwrap();
                    for i in list.as_array().unwrap() {
                        assert!(
                            i.get("timeline").is_none() && i.get("impact").is_none(),
                            "{what}"
                        );
                    }
                }
                (_, p) if p.starts_with("/api/v1/incidents/{id}") => {
                    assert!(matches!(status, 400 | 403 | 404), "{what}")
                }
                ("post", "/api/v1/incidents") => assert_eq!(status, 403, "{what}"),
                ("get", "/api/v1/severity-definitions") => assert_eq!(status, 200, "{what}"),
                (_, "/api/v1/severity-definitions" | "/api/v1/incident-numbers") => {
                    assert_eq!(status, 403, "{what}")
                }
                // Changes are the platform's: a merchant reads none of them. The
                // executor's callback takes no token, only its key, and a made-up
                // change has none.
                (_, "/api/v1/changes/{id}/batches/{batch}/callback") => {
                    assert!(matches!(status, 400 | 403 | 404), "{what}")
                }
                (_, p)
                    if p.starts_with("/api/v1/changes")
                        || p.starts_with("/api/v1/change-policy")
                        || p.starts_with("/api/v1/freezes") =>
                {
                    assert_eq!(status, 403, "{what}")
                }
                // Capacity is the platform's infrastructure, even for catalogue kinds.
                (_, p)
                    if p.ends_with("/forecast")
                        || p.starts_with("/api/v1/capacity")
                        || p.starts_with("/api/v1/ledger") =>
                {
                    assert_eq!(status, 403, "{what}")
                }
                // The platform's alerting neither (alerts that hurt a merchant reach it
                // through incidents' merchant-facing updates, not here).
                (_, p)
                    if p.starts_with("/alertmanager/")
                        || [
                            "/api/v1/alerts",
                            "/api/v1/alert-history",
                            "/api/v1/problems",
                            "/api/v1/rules",
                            "/api/v1/alerting/",
                            "/api/v1/notifications",
                            "/api/v1/silences",
                            "/api/v1/oncall",
                            "/api/v1/escalation-policies",
                            "/api/v1/anomalies",
                        ]
                        .iter()
                        .any(|prefix| p.starts_with(prefix)) =>
                {
                    assert_eq!(status, 403, "{what}")
                }
                // The platform's metrics are not a merchant's to read or write.
                (_, "/prometheus/api/v1/status/buildinfo") => assert_eq!(status, 200, "{what}"),
                (_, p) if p.starts_with("/prometheus/") => assert_eq!(status, 403, "{what}"),
                ("get", "/api/v1/me") => assert!(text.contains(&me), "{what}"),
                ("get", "/api/v1/overview") => assert_eq!(status, 200, "{what}"),
                (_, p)
                    if p.starts_with("/api/v1/tokens")
                        || p.starts_with("/api/v1/users")
                        || p.starts_with("/api/v1/audit") =>
                {
                    assert!(matches!(status, 400 | 403), "{what}")
                }
                ("get", _) if infra => assert_eq!(status, 403, "{what}"),
                ("get", _) if catalog => assert_eq!(status, 200, "{what}"),
                ("get", p) if p.contains("{id}") => assert_eq!(status, 404, "{what}"),
                ("get", _) => {
                    assert_eq!(status, 200, "{what}");
                    let page: Value = serde_json::from_str(&text).unwrap();
                    let items = page["items"].as_array().unwrap();
                    let key = if kind == "merchants" {
                        "id"
                    } else {
                        "merchant_id"
                    };
                    for i in items {
                        let owner = i[key].as_str();
                        assert!(
                            owner == Some(me.as_str()) || (kind == "promotions" && owner.is_none()),
                            "{what}"
                        );
                    }
                    if matches!(kind, "merchants" | "instances" | "services") {
                        assert!(!items.is_empty(), "a merchant sees its own {kind}: {what}");
                    }
                }
                // Writes into the other tenant: refused, or the record is not there.
                _ => assert!(matches!(status, 403 | 404 | 422), "{what}"),
            }
        }
    }
    assert!(walked >= 50, "walked only {walked} routes");

    // Nothing of the other tenant changed: its records are as they were.
    for kind in [
        "merchants",
        "instances",
        "services",
        "dependencies",
        "promotions",
    ] {
        let r = record_of(&s, kind, &other).await;
        assert!(r.is_object(), "{kind} of {other} is gone");
    }
    let (_, who) = s.get_json("/api/v1/me", &token).await;
    let actor = who["actor"].as_str().unwrap();
    let (_, log) = s
        .get_json(&format!("/api/v1/audit?actor={actor}"), ADMIN_TOKEN)
        .await;
    assert_eq!(
        log["items"],
        json!([]),
        "the merchant's token wrote something: {log}"
    );

    // And its own services it may change.
    let (status, created) = s
        .send_json(
            Method::POST,
            "/api/v1/services",
            &token,
            &json!({"name": "my-new-api"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["merchant_id"], json!(me));
}

#[tokio::test]
async fn a_merchant_signed_in_to_the_ui_sees_its_own_tenant_only_on_every_page() {
    let s = TestServer::builder().demo().tickets().build().await;
    let (me, other) = two_merchants(&s).await;
    fill_kinds_the_demo_lacks(&s).await;
    s.user("shop", "shop-password-1", "merchant", Some(&me))
        .await;
    let cookie = sign_in(&s, ("shop", "shop-password-1")).await;
    let (_, theirs) = s
        .get_json(&format!("/api/v1/merchants/{other}"), ADMIN_TOKEN)
        .await;
    let their_name = theirs["name"].as_str().unwrap().to_owned();

    let mut paths = vec![
        "/".to_owned(),
        "/ui/topology".to_owned(),
        "/ui/capacity".to_owned(),
        "/ui/metrics".to_owned(),
        // The alerting pages (this server runs no alerting loop: the role check
        // comes first, so a merchant is refused either way).
        "/ui/alerts".to_owned(),
        "/ui/alerts/0123456789abcdef".to_owned(),
        "/ui/alerts/silences".to_owned(),
        "/ui/alerts/rules".to_owned(),
        "/ui/alerts/oncall".to_owned(),
        "/ui/alerts/notifications".to_owned(),
        // The change pages: merchants may read no change at all.
        "/ui/changes".to_owned(),
        "/ui/changes/freezes".to_owned(),
        "/ui/changes/chg-0123456789".to_owned(),
    ];
    for kind in cairn_domain::Kind::ALL {
        let plural = kind.plural();
        paths.push(format!("/ui/{plural}"));
        let id = match kind.visibility() {
            cairn_domain::Visibility::Owned | cairn_domain::Visibility::OwnedOrShared
                if plural != "promotions" =>
            {
                record_of(&s, plural, &other).await["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
            _ => {
                let (_, p) = s
                    .get_json(&format!("/api/v1/{plural}?limit=1"), ADMIN_TOKEN)
                    .await;
                p["items"][0]["id"].as_str().unwrap().to_owned()
            }
        };
        paths.push(format!("/ui/{plural}/{id}"));
    }
    for path in &paths {
        let (status, html) = page(&s, &cookie, path).await;
        assert!(status < 500, "{path}: {status}");
        // A "not found" page may repeat the id the visitor typed, nothing more.
        if !path.contains(&other) {
            assert!(!html.contains(&other), "{path} shows the other tenant's id");
        }
        assert!(
            !html.contains(&their_name),
            "{path} shows the other tenant's name"
        );
        let infra = path == "/ui/capacity"
            || path == "/ui/metrics"
            || path.starts_with("/ui/alerts")
            || path.starts_with("/ui/changes")
            || cairn_domain::Kind::ALL.iter().any(|k| {
                k.visibility() == cairn_domain::Visibility::Infrastructure
                    && path.starts_with(&format!("/ui/{}", k.plural()))
            });
        let theirs = ["merchants", "instances", "services", "dependencies"]
            .iter()
            .any(|k| path.starts_with(&format!("/ui/{k}/")));
        let expected = if infra {
            403
        } else if theirs {
            404
        } else {
            200
        };
        assert_eq!(status, expected, "{path}");
    }
    let (status, html) = page(&s, &cookie, &format!("/ui/merchants/{me}")).await;
    assert_eq!(status, 200);
    assert!(html.contains(&me));

    // The ticket pages: its own queue, the knowledge base and its inbox; not the
    // staff's aggregates, the editor, nor the other tenant's ticket.
    let (status, theirs_ticket) = s
        .send_json(
            Method::POST,
            "/api/v1/tickets",
            ADMIN_TOKEN,
            &json!({"merchant_id": other, "title": "a ticket of the other tenant"}),
        )
        .await;
    assert_eq!(status, 201, "{theirs_ticket}");
    let ticket_id = theirs_ticket["id"].as_str().unwrap();
    for (path, expected) in [
        ("/ui/tickets".to_owned(), 200),
        ("/ui/tickets/new".to_owned(), 200),
        ("/ui/kb".to_owned(), 200),
        ("/ui/inbox".to_owned(), 200),
        ("/ui/tickets/backlog".to_owned(), 403),
        ("/ui/tickets/numbers".to_owned(), 403),
        ("/ui/kb/new".to_owned(), 403),
        (format!("/ui/tickets/{ticket_id}"), 404),
    ] {
        let (status, html) = page(&s, &cookie, &path).await;
        assert_eq!(status, expected, "{path}");
        assert!(!html.contains(&other), "{path} shows the other tenant's id");
        assert!(!html.contains("a ticket of the other tenant"), "{path}");
    }
    let _ = post_form(&s, "/logout", "", Some(&cookie)).await;
}
