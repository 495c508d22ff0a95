//! The ticket and knowledge-base pages over HTTP: a merchant checks the knowledge base
//! before filing (and one suggestion solves it: a deflection), then files a ticket
//! through the form and follows it, seeing neither another merchant's ticket nor the
//! internal notes; support answers, notes internally, escalates with a reason and
//! attaches a file; the knowledge base finds a Chinese article by a Chinese word with
//! highlights; the backlog groups repeated requests and one is marked to be built into
//! the product; the numbers count the deflection; the inbox tells support of new work.

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION};
use reqwest::Method;
use serde_json::json;

use crate::support::{page, post_form, sign_in, TestServer, ADMIN_TOKEN};

const SHOP: (&str, &str) = ("shop-ui", "shop-password-1");
const OTHER: (&str, &str) = ("other-ui", "other-password-1");
const SUPPORT: (&str, &str) = ("li-support", "support-password-1");

/// Posts a form and returns the status and where it redirects (or the page).
async fn submit(s: &TestServer, cookie: &str, path: &str, body: &str) -> (u16, String) {
    let res = post_form(s, path, body, Some(cookie)).await;
    let status = res.status().as_u16();
    let to = res
        .headers()
        .get(LOCATION)
        .map(|l| l.to_str().unwrap().to_owned());
    match to {
        Some(to) => (status, to),
        None => (status, res.text().await.unwrap()),
    }
}

/// An `application/x-www-form-urlencoded` body (or query) of `pairs`.
fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                b => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

async fn world(s: &TestServer) {
    for body in [
        json!({"id": "m-shop", "name": "小米粒鞋包", "tier": "standard"}),
        json!({"id": "m-other", "name": "Other Shop Ltd", "tier": "vip"}),
    ] {
        let (status, got) = s
            .send_json(Method::POST, "/api/v1/merchants", ADMIN_TOKEN, &body)
            .await;
        assert_eq!(status, 201, "{got}");
    }
    s.user(SHOP.0, SHOP.1, "merchant", Some("m-shop")).await;
    s.user(OTHER.0, OTHER.1, "merchant", Some("m-other")).await;
    s.user(SUPPORT.0, SUPPORT.1, "support", None).await;
}

async fn article(s: &TestServer, title: &str, audience: &str) -> String {
    let (status, got) = s
        .send_json(
            Method::POST,
            "/api/v1/kb/articles",
            ADMIN_TOKEN,
            &json!({
                "title": title,
                "body_markdown": "在控制台选择实例，点击**重置密码**。<script>alert(1)</script>",
                "category": "database", "tags": ["rds", "密码"],
                "audience": audience, "status": "published"
            }),
        )
        .await;
    assert_eq!(status, 201, "{got}");
    got["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn merchants_and_support_work_tickets_and_the_knowledge_base_through_the_pages() {
    let s = TestServer::builder().tickets().build().await;
    world(&s).await;
    let public = article(&s, "如何重置 RDS 数据库密码", "public").await;
    let internal = article(&s, "RDS 密码 internals runbook", "internal").await;
    let shop = sign_in(&s, SHOP).await;
    let other = sign_in(&s, OTHER).await;
    let support = sign_in(&s, SUPPORT).await;

    // Everyone has the two new links; merchants get the queue with a form.
    let (status, html) = page(&s, &shop, "/ui/tickets").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(r#"href="/ui/tickets""#) && html.contains(r#"href="/ui/kb""#));
    assert!(html.contains("Check the knowledge base first"));

    // Step one: the knowledge base is checked; the internal article is not offered.
    let (status, html) = page(
        &s,
        &shop,
        &format!(
            "/ui/tickets/new?{}",
            form(&[
                ("title", "忘记了 RDS 密码"),
                ("body", "怎么重置"),
                ("category", "database"),
                ("priority", "p3")
            ])
        ),
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("如何重置 RDS 数据库密码"), "{html}");
    assert!(!html.contains("internals runbook"));
    assert!(html.contains("This solved it") && html.contains("File the ticket anyway"));
    // "This solved it": counted, nothing filed, and the article is shown.
    let (status, to) = submit(
        &s,
        &shop,
        "/ui/tickets/deflect",
        &form(&[("article_id", &public), ("draft", "忘记了 RDS 密码")]),
    )
    .await;
    assert_eq!(
        (status, to.as_str()),
        (303, format!("/ui/kb/{public}?done=deflected").as_str())
    );
    let (status, html) = page(&s, &shop, &format!("/ui/kb/{public}?done=deflected")).await;
    assert_eq!(status, 200);
    assert!(html.contains("<strong>重置密码</strong>") && !html.contains("<script>alert"));
    // A merchant may not read, nor be told of, the internal article.
    assert_eq!(page(&s, &shop, &format!("/ui/kb/{internal}")).await.0, 404);

    // The merchant files a ticket through the form and lands on it.
    let (status, to) = submit(
        &s,
        &shop,
        "/ui/tickets",
        &form(&[
            ("title", "RDS 连接数满了 too many connections"),
            ("body", "订单库连不上"),
            ("category", "database"),
            ("priority", "p2"),
        ]),
    )
    .await;
    assert_eq!(status, 303, "{to}");
    assert!(
        to.starts_with("/ui/tickets/t-") && to.ends_with("?done=filed"),
        "{to}"
    );
    let ticket = to.trim_end_matches("?done=filed").to_owned();
    let (status, html) = page(&s, &shop, &to).await;
    assert_eq!(status, 200);
    assert!(html.contains("RDS 连接数满了") && html.contains(r#"id="flash""#));
    assert!(html.contains(r#"data-clock="first response""#));
    assert!(
        !html.contains("escalate-form"),
        "merchants do not work tickets"
    );
    let (_, list) = page(&s, &shop, "/ui/tickets").await;
    assert!(list.contains(&ticket));

    // Bad input is a 4xx naming the field, and files nothing.
    for (body, field) in [
        (form(&[("title", "x"), ("priority", "p9")]), "priority"),
        (form(&[("title", ""), ("priority", "p3")]), "title"),
    ] {
        let (status, html) = submit(&s, &shop, "/ui/tickets", &body).await;
        // 400 for what the page checks, 422 for what the domain validates.
        assert!(matches!(status, 400 | 422), "{status}: {html}");
        assert!(html.contains(field), "{field}: {html}");
    }
    assert_eq!(page(&s, &shop, "/ui/tickets?tab=ceo").await.0, 400);

    // Another merchant's ticket: not in the list, and its page is not found.
    let (status, to) = submit(
        &s,
        &other,
        "/ui/tickets",
        &form(&[("title", "Other Shop Ltd cannot scale"), ("priority", "p3")]),
    )
    .await;
    assert_eq!(status, 303);
    let theirs = to.trim_end_matches("?done=filed").to_owned();
    let (_, list) = page(&s, &shop, "/ui/tickets").await;
    assert!(!list.contains(&theirs) && !list.contains("Other Shop Ltd"));
    let (status, html) = page(&s, &shop, &theirs).await;
    assert_eq!(status, 404);
    assert!(!html.contains("cannot scale"));
    let (status, _) = submit(
        &s,
        &shop,
        &format!("{theirs}/comments"),
        &form(&[("body", "hi")]),
    )
    .await;
    assert_eq!(status, 404);

    // Support sees the ticket in its queue and its inbox, answers, notes internally.
    let (status, html) = page(&s, &support, "/ui/tickets?tab=support").await;
    assert_eq!(status, 200);
    assert!(html.contains(&ticket) && html.contains(&theirs));
    let (status, html) = page(&s, &support, "/ui/inbox").await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!(r#"href="{ticket}""#)), "{html}");
    assert!(html.contains("new since you last looked"));
    let (_, again) = page(&s, &support, "/ui/inbox").await;
    assert!(again.contains("Nothing new."), "reading marks them read");
    for (body, visibility) in [
        ("请重启实例后再试", "merchant"),
        ("内部备注 secret db note", "internal"),
    ] {
        let (status, to) = submit(
            &s,
            &support,
            &format!("{ticket}/comments"),
            &form(&[("body", body), ("visibility", visibility)]),
        )
        .await;
        assert_eq!((status, to), (303, format!("{ticket}?done=commented")));
    }
    let (status, html) = submit(
        &s,
        &support,
        &format!("{ticket}/comments"),
        &form(&[("body", "x"), ("visibility", "everyone")]),
    )
    .await;
    assert_eq!(status, 400);
    assert!(html.contains("visibility"));

    // Escalation needs a reason.
    let (status, html) = submit(
        &s,
        &support,
        &format!("{ticket}/escalate"),
        &form(&[("reason", " ")]),
    )
    .await;
    assert_eq!(status, 400);
    assert!(html.contains("reason"), "{html}");
    let (status, to) = submit(
        &s,
        &support,
        &format!("{ticket}/escalate"),
        &form(&[
            ("reason", "connection limit needs an ops change"),
            ("to", ""),
        ]),
    )
    .await;
    assert_eq!((status, to), (303, format!("{ticket}?done=escalated")));
    let (_, html) = page(&s, &support, &ticket).await;
    assert!(html.contains(r#"data-tier="app-ops""#), "{html}");
    assert!(html.contains("connection limit needs an ops change"));
    assert!(html.contains("secret db note"));
    assert!(html.contains(r#"id="context""#) && html.contains("小米粒鞋包"));
    let (_, html) = page(&s, &support, "/ui/tickets?tab=app-ops").await;
    assert!(html.contains(&ticket));

    // An attachment through the multipart form.
    let boundary = "cairn-test-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow-query.log\"\r\nContent-Type: text/plain\r\n\r\nSELECT 1; -- 3.2 s\r\n--{boundary}--\r\n"
    );
    let res = s
        .http
        .post(s.url(&format!("{ticket}/attachments")))
        .header(COOKIE, &support)
        .header(
            CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let (_, html) = page(&s, &shop, &ticket).await;
    assert!(html.contains("slow-query.log"));
    // A form without a file names the field.
    let res = s
        .http
        .post(s.url(&format!("{ticket}/attachments")))
        .header(COOKIE, &support)
        .header(
            CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(format!("--{boundary}--\r\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("file"));

    // The merchant sees the reply and the escalation, never the internal note.
    let (_, html) = page(&s, &shop, &ticket).await;
    assert!(html.contains("请重启实例后再试"));
    assert!(!html.contains("secret db note"), "{html}");
    assert!(!html.contains(r#"id="context""#));

    // Resolved, it becomes a draft article (staff only).
    let (status, _) = submit(
        &s,
        &support,
        &format!("{ticket}/status"),
        &form(&[("status", "resolved")]),
    )
    .await;
    assert_eq!(status, 303);
    let (status, _) = submit(&s, &shop, &format!("{ticket}/article"), "").await;
    assert_eq!(status, 403);
    let (status, to) = submit(&s, &support, &format!("{ticket}/article"), "").await;
    assert_eq!(status, 303);
    assert!(
        to.starts_with("/ui/kb/kb-") && to.ends_with("/edit?done=drafted"),
        "{to}"
    );
    let (status, html) = page(&s, &support, &to).await;
    assert_eq!(status, 200);
    assert!(html.contains("RDS 连接数满了"));

    // The knowledge base finds the Chinese article by a Chinese word, highlighted.
    let (status, html) = page(&s, &shop, &format!("/ui/kb?{}", form(&[("q", "密码")]))).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!(r#"href="/ui/kb/{public}""#)),
        "{html}"
    );
    assert!(html.contains("<mark>密码</mark>"), "{html}");
    assert!(!html.contains("internals runbook"));
    let (_, html) = page(&s, &support, &format!("/ui/kb?{}", form(&[("q", "密码")]))).await;
    assert!(
        html.contains("internals runbook"),
        "staff find internal articles"
    );
    assert_eq!(page(&s, &shop, "/ui/kb?kind=everything&q=x").await.0, 400);

    // Numbers: staff only, and the deflection is counted.
    assert_eq!(page(&s, &shop, "/ui/tickets/numbers").await.0, 403);
    let (status, html) = page(&s, &support, "/ui/tickets/numbers").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(r#"id="total-deflections" data-count="1""#),
        "{html}"
    );
    let (status, html) = page(&s, &support, "/ui/tickets/numbers?by=week&from=2026-09-01").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"<option value="week" selected>"#));
    let (status, html) = page(&s, &support, "/ui/tickets/numbers?from=yesterday").await;
    assert_eq!(status, 400);
    assert!(html.contains("from"));
}

#[tokio::test]
async fn repeated_requests_are_grouped_and_one_is_marked_to_be_built() {
    let s = TestServer::builder().tickets().build().await;
    world(&s).await;
    let support = sign_in(&s, SUPPORT).await;
    let shop = sign_in(&s, SHOP).await;
    for n in 0..4 {
        let (status, _) = submit(
            &s,
            &shop,
            "/ui/tickets",
            &form(&[
                ("title", &format!("忘记控制台登录密码，无法重置 {n}")),
                ("body", "登录控制台时提示密码错误，重置密码的邮件收不到"),
                ("category", "account"),
            ]),
        )
        .await;
        assert_eq!(status, 303);
    }
    assert_eq!(page(&s, &shop, "/ui/tickets/backlog").await.0, 403);
    let (status, html) = page(&s, &support, "/ui/tickets/backlog").await;
    assert_eq!(status, 200, "{html}");
    let cluster = html
        .split(r#"data-cluster=""#)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no cluster: {html}"))
        .to_owned();
    assert!(html.contains("忘记控制台登录密码"));
    let (status, to) = submit(
        &s,
        &support,
        &format!("/ui/tickets/backlog/{cluster}/mark"),
        &form(&[
            ("status", "to-build"),
            ("note", "self-service password reset"),
        ]),
    )
    .await;
    assert_eq!(status, 303, "{to}");
    let (_, html) = page(&s, &support, "/ui/tickets/backlog?by=time").await;
    assert!(html.contains(r#"data-mark="to-build""#), "{html}");
    assert!(html.contains("self-service password reset"));
    let (status, _) = submit(
        &s,
        &support,
        &format!("/ui/tickets/backlog/{cluster}/mark"),
        &form(&[("status", "someday")]),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        page(&s, &support, "/ui/tickets/backlog?window_days=lots")
            .await
            .0,
        400
    );
}
