//! The change pages as people use them: an engineer drafts a change through the form
//! (and is told which field is wrong when it is), submits it, a colleague approves it
//! through the form, the page shows the risk factor by factor and the approvals still
//! open; the freeze windows come from the promotion calendar and by hand; merchants
//! see none of it.

use reqwest::header::LOCATION;
use serde_json::Value;

use crate::support::{page, post_form, sign_in, TestServer, ADMIN_TOKEN};

/// Posts a form; the status and where it redirects to, or the page's HTML.
async fn submit(s: &TestServer, cookie: &str, path: &str, body: &str) -> (u16, String) {
    let res = post_form(s, path, body, Some(cookie)).await;
    let status = res.status().as_u16();
    if status == 303 {
        let to = res.headers()[LOCATION].to_str().unwrap().to_owned();
        (status, to)
    } else {
        (status, res.text().await.unwrap())
    }
}

/// The error message of an error page.
fn message(html: &str) -> &str {
    html.split(r#"<p id="error-message">"#)
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .unwrap_or(html)
}

#[tokio::test]
async fn the_change_pages_take_a_draft_through_forms_to_approval_and_show_merchants_nothing() {
    let s = TestServer::builder().demo().alerting().build().await;
    s.user("ops-chg", "ops-password-1", "app-ops", None).await;
    s.user("peer-chg", "peer-password-1", "base-ops", None)
        .await;
    let ops = sign_in(&s, ("ops-chg", "ops-password-1")).await;
    let peer = sign_in(&s, ("peer-chg", "peer-password-1")).await;

    let (status, html) = page(&s, &ops, "/ui/changes").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(r#"<a href="/ui/changes" aria-current="page">Changes</a>"#));
    assert!(html.contains(r#"id="new-change-form""#));
    assert!(html.contains("China time (UTC+8)"));

    // Two hosts of the demo are the targets, with the service they run.
    let (_, hosts) = s.get_json("/api/v1/hosts?limit=2", ADMIN_TOKEN).await;
    let hosts: Vec<String> = hosts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(hosts.len(), 2);
    // Tomorrow 10:00 to 12:00 China time: outside the evening peak and any freeze.
    let good = format!(
        "title=Upgrade+svc-order+to+v2+%3Cbeta%3E&type=normal&description=New+checkout\
         &services=svc-order&hosts={}\
         &window_start=2026-11-26T10%3A00&window_end=2026-11-26T12%3A00\
         &test_plan=Soak+in+staging&rollback_plan=Redeploy+v1\
         &steps=1%2C+100%25&webhook=http%3A%2F%2F127.0.0.1%3A9%2Fdeploy",
        hosts.join("%2C+")
    );

    // The demo has a change history of its own.
    let (_, before) = s.get_json("/api/v1/changes", ADMIN_TOKEN).await;
    let before = before.as_array().unwrap().len();

    // Bad forms are answered with a 4xx page that names the field.
    for (body, field) in [
        (good.replace("title=Upgrade", "title=&x="), "title"),
        (
            good.replace("window_end=2026-11-26T12", "window_end=2026-11-26T08"),
            "window_end",
        ),
        (
            good.replace("window_start=2026-11-26T10%3A00", "window_start=tomorrow"),
            "window_start",
        ),
        (good.replace("&steps=1%2C+100%25", "&steps=lots"), "steps"),
        (good.replace("type=normal", "type=whenever"), "type"),
        (
            good.replace("webhook=http%3A%2F%2F", "webhook=ftp%3A%2F%2F"),
            "executor",
        ),
    ] {
        let (status, html) = submit(&s, &ops, "/ui/changes", &body).await;
        assert!((400..500).contains(&status), "{field}: {status} {html}");
        assert!(
            message(&html).starts_with(&format!("{field}:")),
            "{field}: {}",
            message(&html)
        );
    }
    let (_, list) = s.get_json("/api/v1/changes", ADMIN_TOKEN).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        before,
        "nothing bad was created"
    );

    // The good form makes a draft and shows it.
    let (status, to) = submit(&s, &ops, "/ui/changes", &good).await;
    assert_eq!(status, 303, "{to}");
    assert!(
        to.starts_with("/ui/changes/chg-") && to.ends_with("?done=created"),
        "{to}"
    );
    let base = to.split('?').next().unwrap().to_owned();
    let id = base.rsplit('/').next().unwrap().to_owned();
    let (status, html) = page(&s, &ops, &to).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Upgrade svc-order to v2 &lt;beta&gt;"),
        "escaped"
    );
    assert!(html.contains(r#"data-state="draft""#) && html.contains(r#"id="change-submit""#));
    assert!(html.contains("2026-11-26 10:00") && html.contains("China time"));
    assert!(html.contains("webhook <code>http://127.0.0.1:9/deploy</code>"));
    let (_, c) = s
        .get_json(&format!("/api/v1/changes/{id}"), ADMIN_TOKEN)
        .await;
    assert_eq!(
        c["window_start"], "2026-11-26T10:00:00+08:00",
        "read as China time"
    );
    assert_eq!(c["plan"]["steps"], serde_json::json!(["1", "100%"]));

    // Submitted through its button: risk scored, batches planned, approvals asked.
    let (status, to) = submit(&s, &ops, &format!("{base}/submit"), "").await;
    assert_eq!(status, 303, "{to}");
    let (_, c) = s
        .get_json(&format!("/api/v1/changes/{id}"), ADMIN_TOKEN)
        .await;
    assert_eq!(c["state"], "submitted", "{c}");
    let (status, html) = page(&s, &ops, &base).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="risk-factors""#), "{html}");
    for f in c["risk"]["factors"].as_array().unwrap() {
        let factor = f["factor"].as_str().unwrap();
        assert!(
            html.contains(&format!(r#"<tr data-factor="{factor}">"#)),
            "{factor}"
        );
        assert!(html.contains(&format!(
            r#"<td class="num">{}</td>"#,
            f["points"].as_u64().unwrap()
        )));
    }
    assert!(html.contains(&format!("score {}", c["risk"]["score"])));
    assert!(html.contains(r#"id="open-steps""#), "{html}");
    let open: Vec<String> = c["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(!open.is_empty());
    for step in &open {
        assert!(html.contains(&format!(r#"data-step="{step}""#)), "{step}");
    }
    assert!(html.contains("2 batches") || html.contains("of 2 batches done"));
    // The requester is told someone else must approve, and is refused if they try.
    assert!(html.contains(r#"id="own-change""#) && !html.contains(r#"id="approve-form""#));
    let (status, _) = submit(&s, &ops, &format!("{base}/review"), "decision=approve").await;
    assert_eq!(status, 403);

    // A colleague: a rejection needs a comment; the approval goes through the form.
    let (_, html) = page(&s, &peer, &base).await;
    assert!(html.contains(r#"id="approve-form""#) && html.contains(r#"id="reject-form""#));
    let (status, html) = submit(
        &s,
        &peer,
        &format!("{base}/review"),
        "decision=reject&comment=",
    )
    .await;
    assert_eq!(status, 400);
    assert!(message(&html).starts_with("comment:"), "{}", message(&html));
    let (status, to) = submit(
        &s,
        &peer,
        &format!("{base}/review"),
        "decision=approve&comment=Staging+looks+good",
    )
    .await;
    assert_eq!(status, 303, "{to}");
    assert!(to.ends_with("?done=approved"));
    let (_, html) = page(&s, &peer, &to).await;
    assert!(html.contains(r#"id="flash""#));
    assert!(html.contains(r#"data-by="user:peer-chg""#) && html.contains("Staging looks good"));
    let (_, c) = s
        .get_json(&format!("/api/v1/changes/{id}"), ADMIN_TOKEN)
        .await;
    let still_open = !c["state"].as_str().unwrap().eq("approved");
    // Base-ops fills one step; a high risk still needs the ops lead (an admin).
    assert_eq!(
        html.contains(r#"id="open-steps""#),
        still_open,
        "{}",
        c["state"]
    );
    if !still_open {
        assert!(html.contains(r#"id="change-start""#));
    }

    // The service the change touches lists it, with its state.
    let (status, html) = page(&s, &ops, "/ui/services/svc-order").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="changes-title""#), "{html}");
    assert!(html.contains(&format!(r#"<a href="/ui/changes/{id}">"#)));

    // Freezes: the promotion calendar's Double 11 and one by hand (base-ops only).
    let (status, html) = page(&s, &ops, "/ui/changes/freezes").await;
    assert_eq!(status, 200);
    assert!(html.contains("Double 11") && html.contains(r#"data-source="promotion""#));
    assert!(
        !html.contains(r#"id="freeze-form""#),
        "app-ops may not declare"
    );
    let freeze =
        "name=Year-end+DB+migration&starts_at=2026-12-30T00%3A00&ends_at=2027-01-02T00%3A00&zones=";
    assert_eq!(submit(&s, &ops, "/ui/changes/freezes", freeze).await.0, 403);
    let (status, html) = submit(
        &s,
        &peer,
        "/ui/changes/freezes",
        "name=X&starts_at=2026-12-30T00%3A00&ends_at=",
    )
    .await;
    assert_eq!(status, 400);
    assert!(message(&html).starts_with("ends_at:"), "{}", message(&html));
    let (status, to) = submit(&s, &peer, "/ui/changes/freezes", freeze).await;
    assert_eq!(status, 303, "{to}");
    let (_, html) = page(&s, &peer, &to).await;
    assert!(html.contains("Year-end DB migration") && html.contains("2026-12-30 00:00"));
    let (_, freezes) = s.get_json("/api/v1/freezes", ADMIN_TOKEN).await;
    let manual: Vec<&Value> = freezes
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["source"] == "manual")
        .collect();
    assert_eq!(manual.len(), 1);
    assert_eq!(manual[0]["starts_at"], "2026-12-30T00:00:00+08:00");
    let lift = format!(
        "/ui/changes/freezes/{}/lift",
        manual[0]["id"].as_str().unwrap()
    );
    assert!(html.contains(&format!(r#"action="{lift}""#)));
    assert_eq!(submit(&s, &peer, &lift, "").await.0, 303);
    let (_, freezes) = s.get_json("/api/v1/freezes", ADMIN_TOKEN).await;
    assert!(freezes
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["source"] != "manual"));

    // A merchant sees no link and gets 403 on every change page and form.
    let (_, merchants) = s.get_json("/api/v1/merchants?limit=1", ADMIN_TOKEN).await;
    let me = merchants["items"][0]["id"].as_str().unwrap().to_owned();
    s.user("shop-chg", "shop-password-1", "merchant", Some(&me))
        .await;
    let shop = sign_in(&s, ("shop-chg", "shop-password-1")).await;
    let (status, html) = page(&s, &shop, &format!("/ui/merchants/{me}")).await;
    assert_eq!(status, 200);
    assert!(!html.contains(r#"href="/ui/changes""#), "no NAV link");
    assert!(!html.contains("changes-title"), "no Changes section");
    for path in [
        "/ui/changes".to_owned(),
        "/ui/changes/freezes".to_owned(),
        base.clone(),
        "/ui/changes/chg-nope".to_owned(),
    ] {
        let (status, html) = page(&s, &shop, &path).await;
        assert_eq!(status, 403, "{path}");
        assert!(!html.contains("svc-order to v2"), "{path}");
    }
    for path in [
        "/ui/changes".to_owned(),
        format!("{base}/review"),
        format!("{base}/submit"),
        format!("{base}/control"),
        "/ui/changes/freezes".to_owned(),
    ] {
        let body = if path == "/ui/changes" {
            good.as_str()
        } else if path.ends_with("/control") {
            "action=abort"
        } else if path.ends_with("/freezes") {
            freeze
        } else {
            "decision=approve"
        };
        assert_eq!(submit(&s, &shop, &path, body).await.0, 403, "{path}");
    }
}
