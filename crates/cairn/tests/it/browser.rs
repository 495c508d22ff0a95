//! The web UI, end to end: first over plain HTTP (statuses, cookies, every page of
//! every kind), then in a real headless Chromium driven through WebDriver, as an
//! operator and as a merchant, on a desktop-sized window and on a 360 px phone.
//!
//! The browser story needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian
//! packages `chromium` and `chromium-driver`) and skips itself when they are missing.
//! It leaves screenshots in the workspace's `target/` for people to look at.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use serde_json::{json, Value};

use crate::support::{page, post_form, sign_in, TestServer, ADMIN_TOKEN};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

const OPS: (&str, &str) = ("ops-ui", "ops-password-1");
const SHOP: (&str, &str) = ("shop-ui", "shop-password-1");

/// What the API says about the demo cloud, to compare the pages with.
struct Facts {
    /// Record counts by kind, as the overview use case gives them to an operator.
    counts: Vec<(String, u64)>,
    pools: usize,
    /// The first merchant: (id, name).
    merchant: (String, String),
    /// The second merchant: (id, name).
    other_merchant: (String, String),
    /// How many instances the first merchant has, up to the UI's page size of 100.
    merchant_instances: usize,
}

impl Facts {
    async fn of(server: &TestServer) -> Facts {
        let (status, overview) = server.get_json("/api/v1/overview", ADMIN_TOKEN).await;
        assert_eq!(status, 200, "{overview}");
        let counts = overview["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c[0].as_str().unwrap().to_owned(), c[1].as_u64().unwrap()))
            .collect();
        let pools = overview["regions"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["zones"].as_array().unwrap())
            .map(|z| z["pools"].as_array().unwrap().len())
            .sum();
        let (_, merchants) = server
            .get_json("/api/v1/merchants?limit=2", ADMIN_TOKEN)
            .await;
        let id_and_name = |m: &Value| {
            (
                m["id"].as_str().unwrap().to_owned(),
                m["name"].as_str().unwrap().to_owned(),
            )
        };
        let merchant = id_and_name(&merchants["items"][0]);
        let other_merchant = id_and_name(&merchants["items"][1]);
        let (_, instances) = server
            .get_json(
                &format!("/api/v1/instances?merchant_id={}&limit=100", merchant.0),
                ADMIN_TOKEN,
            )
            .await;
        Facts {
            counts,
            pools,
            merchant,
            other_merchant,
            merchant_instances: instances["items"].as_array().unwrap().len(),
        }
    }

    fn count(&self, plural: &str) -> u64 {
        self.counts
            .iter()
            .find(|(k, _)| k == plural)
            .map(|(_, n)| *n)
            .unwrap_or_else(|| panic!("the overview has no count of {plural}"))
    }
}

/// A demo server with an operator and a merchant who can sign in to the UI; it runs
/// an alerting loop so that the alerting pages answer too.
async fn server_with_users() -> (TestServer, Facts) {
    let server = TestServer::builder()
        .demo()
        .alerting()
        .tickets()
        .build()
        .await;
    let facts = Facts::of(&server).await;
    server.user(OPS.0, OPS.1, "app-ops", None).await;
    server
        .user(SHOP.0, SHOP.1, "merchant", Some(&facts.merchant.0))
        .await;
    (server, facts)
}

// ---------------------------------------------------------------------------------
// Over plain HTTP
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn ui_pages_answer_with_html_and_the_right_statuses() {
    let (server, facts) = server_with_users().await;

    // Strangers get the sign-in form, and every other page sends them to it.
    let (status, html) = page(&server, "", "/login").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#)
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external resources"
    );
    let res = server.http.get(server.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/login");
    let css = server
        .http
        .get(server.url("/ui/app.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(css.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/css"));

    // Wrong passwords and malformed forms are refused without a session.
    let res = post_form(
        &server,
        "/login",
        "name=ops-ui&password=nope-nope-nope",
        None,
    )
    .await;
    assert_eq!(res.status(), 401);
    assert!(res.headers().get(SET_COOKIE).is_none());
    assert!(res.text().await.unwrap().contains("wrong password"));
    for body in ["name=ops-ui", "%zz=%%", ""] {
        let res = post_form(&server, "/login", body, None).await;
        assert!(res.status().is_client_error(), "{body:?}: {}", res.status());
    }
    let res = server
        .http
        .post(server.url("/login"))
        .json(&json!({"name": OPS.0, "password": OPS.1}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "a JSON body is not a form");

    // An operator sees the overview and a list and a detail page of every kind.
    let ops = sign_in(&server, OPS).await;
    let (status, html) = page(&server, &ops, "/").await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!(
        r#"data-kind="merchants"><a href="/ui/merchants"><span class="value" data-count="{}""#,
        facts.count("merchants")
    )));
    assert_eq!(html.matches(r#"class="pool-usage""#).count(), facts.pools);
    for plural in [
        "regions",
        "zones",
        "products",
        "pools",
        "hosts",
        "merchants",
        "instances",
        "services",
        "dependencies",
        "promotions",
    ] {
        let (status, html) = page(&server, &ops, &format!("/ui/{plural}?limit=2")).await;
        assert_eq!(status, 200, "/ui/{plural}");
        assert!(
            html.contains(r#"id="next-page""#),
            "/ui/{plural} has more pages"
        );
        let (_, list) = server
            .get_json(&format!("/api/v1/{plural}?limit=1"), ADMIN_TOKEN)
            .await;
        let id = list["items"][0]["id"].as_str().unwrap();
        let (status, html) = page(&server, &ops, &format!("/ui/{plural}/{id}")).await;
        assert_eq!(status, 200, "/ui/{plural}/{id}: {html}");
        assert!(html.contains(r#"data-testid="record-title""#));
    }
    // Capacity: the heat map, the pools at risk first, a pool's outlook, a what-if.
    let (status, html) = page(&server, &ops, "/ui/capacity").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(
        html.matches(r#"<td class="cell""#).count(),
        facts.pools,
        "one heat-map cell per pool"
    );
    let first_row = html
        .split(r#"id="risk-list""#)
        .nth(1)
        .and_then(|t| t.split("<tbody>").nth(1))
        .and_then(|t| t.split("</tr>").next())
        .unwrap();
    assert!(first_row.contains("at risk"), "{first_row}");
    let pool = first_row
        .split(r#"href="/ui/pools/"#)
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap()
        .to_owned();
    let (status, html) = page(&server, &ops, &format!("/ui/pools/{pool}")).await;
    assert_eq!(status, 200);
    for id in [
        "capacity-title",
        "stock-out",
        "restock",
        "promotion-effects",
        "components",
    ] {
        assert!(
            html.contains(&format!(r#"id="{id}""#)),
            "{id} on the pool page"
        );
    }
    assert!(html.contains(r#"class="band95""#) && html.contains(r#"class="mark""#));
    let soon = (server.app.today() + time::Duration::days(30)).to_string();
    let later = (server.app.today() + time::Duration::days(32)).to_string();
    let (status, html) = page(
        &server,
        &ops,
        &format!("/ui/capacity?name=Flash&starts_on={soon}&ends_on={later}&scope=global&expected_uplift=5"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="whatif-pools""#), "{html}");
    let (_, html) = page(
        &server,
        &ops,
        &format!("/ui/capacity?starts_on={soon}&ends_on={later}&scope=global&expected_uplift=lots"),
    )
    .await;
    assert!(
        html.contains(r#"id="whatif-error""#) && html.contains("expected_uplift"),
        "{html}"
    );

    // The alerting pages answer for staff (`alerts_ui.rs` tells their story).
    for path in [
        "/ui/alerts",
        "/ui/alerts/silences",
        "/ui/alerts/rules",
        "/ui/alerts/oncall",
        "/ui/alerts/notifications",
    ] {
        let (status, html) = page(&server, &ops, path).await;
        assert_eq!(status, 200, "{path}: {html}");
        assert!(html.contains(r#"id="alert-tabs""#), "{path}");
    }

    let (status, html) = page(&server, &ops, "/ui/topology").await;
    assert_eq!(status, 200);
    let services = facts.count("services") as usize;
    assert_eq!(html.matches(r#"<g class="node "#).count(), services);
    let (status, html) = page(
        &server,
        &ops,
        &format!("/ui/merchants/{}", facts.merchant.0),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&facts.merchant.1),
        "the merchant's name renders as UTF-8"
    );

    // Mistakes get HTML error pages with the right status.
    for (path, want) in [
        ("/ui/no-such-kind", 404),
        ("/ui/merchants/m-nope", 404),
        ("/ui/instances?colour=red", 400),
        ("/ui/instances?limit=0", 400),
    ] {
        let (status, html) = page(&server, &ops, path).await;
        assert_eq!(status, want, "{path}");
        assert!(
            html.contains(&format!(r#"data-status="{want}""#)),
            "{path}: {html}"
        );
    }

    // A merchant sees its own records only.
    let shop = sign_in(&server, SHOP).await;
    let own = format!("/ui/merchants/{}", facts.merchant.0);
    assert_eq!(page(&server, &shop, &own).await.0, 200);
    let other = format!("/ui/merchants/{}", facts.other_merchant.0);
    assert_eq!(page(&server, &shop, &other).await.0, 404);
    assert_eq!(page(&server, &shop, "/ui/hosts").await.0, 403);
    assert_eq!(page(&server, &shop, "/ui/pools").await.0, 403);
    assert_eq!(page(&server, &shop, "/ui/capacity").await.0, 403);
    assert_eq!(page(&server, &shop, "/ui/alerts").await.0, 403);
    let (_, html) = page(&server, &shop, "/").await;
    assert!(!html.contains("pool-usage") && !html.contains(r#"href="/ui/hosts""#));

    // Signing out ends the session on the server, not only in the browser.
    let res = post_form(&server, "/logout", "", Some(&shop)).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/login");
    assert!(res.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(page(&server, &shop, "/").await.0, 303);
}

// ---------------------------------------------------------------------------------
// In a browser
// ---------------------------------------------------------------------------------

/// A chromedriver process, killed when dropped, so that a failing test leaves no
/// driver behind.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = match http.get(format!("{}/status", driver.url)).send().await {
                Ok(res) => res
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                return driver;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new headless Chromium session with its own throwaway profile.
    async fn browser(&self, profile: &std::path::Path) -> Client {
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        // The test build links both of rustls' crypto providers (fantoccini brings one,
        // cairn's HTTP client the other): pick one for the process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        ClientBuilder::rustls()
            .expect("a WebDriver client")
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where screenshots go: the workspace's `target/`.
fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn the_ui_works_in_a_browser_on_desk_and_phone() {
    if !(std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists()) {
        println!(
            "skipped: chromium/chromedriver not installed \
             (Debian packages chromium, chromium-driver; .ci/run installs them)"
        );
        return;
    }
    let (server, facts) = server_with_users().await;
    let driver = Driver::start().await;
    let profile = tempfile::tempdir().unwrap();
    let client = driver.browser(profile.path()).await;
    // The story runs in its own task so that a failed assertion still lets the
    // browser session close before the driver is killed.
    let story = tokio::spawn(story(client.clone(), Arc::new(server), facts));
    let outcome = story.await;
    let _ = client.close().await;
    drop(driver);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// A tiny vocabulary for the story.
struct Browser {
    c: Client,
    base: String,
}

impl Browser {
    async fn open(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    async fn attr(&self, css: &str, name: &str) -> String {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .attr(name)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{css} has no {name}"))
    }

    async fn count(&self, css: &str) -> usize {
        self.c.find_all(Locator::Css(css)).await.unwrap().len()
    }

    async fn js(&self, script: &str) -> Value {
        self.c.execute(script, vec![]).await.unwrap()
    }

    async fn sign_in(&self, (name, password): (&str, &str)) {
        self.open("/login").await;
        self.c
            .find(Locator::Css("#name"))
            .await
            .unwrap()
            .send_keys(name)
            .await
            .unwrap();
        self.c
            .find(Locator::Css("#password"))
            .await
            .unwrap()
            .send_keys(password)
            .await
            .unwrap();
        self.c
            .find(Locator::Css("#login-form button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        self.c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("#counts"))
            .await
            .expect("signing in lands on the overview");
    }

    /// The status an error page reports, or 200 for any other page.
    async fn status(&self) -> u16 {
        match self.c.find(Locator::Css("#error")).await {
            Ok(e) => e
                .attr("data-status")
                .await
                .unwrap()
                .unwrap()
                .parse()
                .unwrap(),
            Err(_) => 200,
        }
    }

    async fn click(&self, css: &str) {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("{css} cannot be clicked: {e}"));
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .send_keys(text)
            .await
            .unwrap();
    }

    async fn wait_for(&self, css: &str) {
        self.c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} did not appear: {e}"));
    }

    async fn resize(&self, width: u32, height: u32) {
        self.c.set_window_size(width, height).await.unwrap();
    }

    /// Checks that the page is no wider than the window.
    async fn assert_no_horizontal_overflow(&self, what: &str) {
        let fits = self
            .js("return document.documentElement.scrollWidth <= window.innerWidth")
            .await;
        let widths = self
            .js("return [document.documentElement.scrollWidth, window.innerWidth]")
            .await;
        assert_eq!(
            fits,
            Value::Bool(true),
            "{what} overflows sideways: {widths}"
        );
    }

    async fn screenshot(&self, name: &str) {
        let png = self.c.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        std::fs::write(screenshot_dir().join(name), png).unwrap();
    }
}

async fn story(c: Client, server: Arc<TestServer>, facts: Facts) {
    let b = Browser {
        c,
        base: server.base.clone(),
    };

    // An operator signs in on a desktop-sized window and lands on the overview.
    b.resize(1280, 900).await;
    b.sign_in(OPS).await;
    assert_eq!(b.text("#role").await, "app-ops");
    for (plural, n) in &facts.counts {
        let card = format!("#counts [data-testid=count-{plural}] .value");
        assert_eq!(b.attr(&card, "data-count").await, n.to_string(), "{plural}");
        assert_eq!(
            b.text(&card).await.replace(',', ""),
            n.to_string(),
            "{plural}"
        );
    }
    assert!(facts.count("merchants") > 500);
    assert_eq!(b.count(".pool-usage").await, facts.pools);
    assert!(facts.pools > 0);
    let width = b.attr(".pool-usage .bar .fill", "style").await;
    assert!(
        width.starts_with("width:") && width.ends_with('%'),
        "{width}"
    );
    assert_eq!(b.count("nav a[href='/ui/hosts']").await, 1);
    b.screenshot("ui-desktop.png").await;

    // The merchant's page shows its name, in Chinese, and its instances.
    let (merchant, name) = &facts.merchant;
    b.open(&format!("/ui/merchants/{merchant}")).await;
    assert_eq!(b.text("#merchant-name").await, *name);
    assert_eq!(
        b.count("#instances tbody tr").await,
        facts.merchant_instances
    );
    assert!(facts.merchant_instances > 0);
    b.screenshot("ui-desktop-merchant.png").await;
    let first = b.attr("#instances tbody tr td a", "href").await;
    assert!(first.starts_with("/ui/instances/"), "{first}");

    // The topology draws every service, each linking to its page.
    b.open("/ui/topology").await;
    assert_eq!(
        b.count("svg#topology g.node").await as u64,
        facts.count("services")
    );
    assert!(b.count("svg#topology path.edge").await as u64 >= facts.count("dependencies"));
    b.screenshot("ui-topology.png").await;

    // An alert on a service, so the alerting pages have a problem and a table to fit.
    let started = server
        .app
        .now()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, got) = server
        .send_json(
            reqwest::Method::POST,
            "/alertmanager/api/v2/alerts",
            ADMIN_TOKEN,
            &json!([{"labels": {"alertname": "CheckoutErrors", "severity": "critical", "service": "svc-order"},
                     "annotations": {"summary": "svc-order fails 12% of its checkouts"}, "startsAt": started}]),
        )
        .await;
    assert_eq!(status, 200, "{got}");
    let (_, alerts) = server.get_json("/api/v1/alerts", ADMIN_TOKEN).await;
    let alert_page = format!("/ui/alerts/{}", alerts[0]["fingerprint"].as_str().unwrap());

    // On a phone the pages fit the screen; wide tables and the graph scroll inside.
    b.resize(360, 800).await;
    b.open("/").await;
    let inner = b.js("return window.innerWidth").await;
    assert!(
        inner.as_u64().is_some_and(|w| w <= 400),
        "a phone-sized window: {inner}"
    );
    b.assert_no_horizontal_overflow("the overview").await;
    b.screenshot("ui-phone.png").await;
    b.js("document.getElementById('capacity').scrollIntoView(); return true")
        .await;
    b.screenshot("ui-phone-capacity.png").await;
    for path in [
        format!("/ui/merchants/{merchant}"),
        "/ui/instances".into(),
        "/ui/hosts".into(),
        "/ui/pools".into(),
        "/ui/services/svc-order".into(),
        "/ui/topology".into(),
        "/ui/promotions".into(),
        "/ui/capacity".into(),
        "/ui/alerts".into(),
        "/ui/incidents".into(),
        alert_page.clone(),
        "/ui/tickets".into(),
        "/ui/kb".into(),
        "/ui/changes".into(),
        "/ui/changes/freezes".into(),
    ] {
        b.open(&path).await;
        assert_eq!(b.status().await, 200, "{path}");
        b.assert_no_horizontal_overflow(&path).await;
        match path.as_str() {
            "/ui/instances" => b.screenshot("ui-phone-list.png").await,
            "/ui/services/svc-order" => b.screenshot("ui-phone-service.png").await,
            "/ui/capacity" => b.screenshot("ui-phone-capacity-page.png").await,
            "/ui/alerts" => b.screenshot("ui-phone-alerts.png").await,
            "/ui/tickets" => b.screenshot("ui-phone-tickets.png").await,
            _ => {}
        }
    }

    // The on-call runs an incident from the phone: declares it from the alert in one
    // tap, acknowledges the page, posts an update for the merchants hurt, resolves.
    b.open(&alert_page).await;
    b.click("#declare-from-alert button").await;
    b.wait_for("#incident-title").await;
    b.assert_no_horizontal_overflow("the new incident").await;
    assert_eq!(b.attr("#flash", "data-done").await, "declared");
    assert!(b.text("#incident-title").await.contains("svc-order fails"));
    assert!(b.count("#timeline-entries li[data-kind=paged]").await >= 1);
    b.screenshot("ui-phone-incident.png").await;
    b.click("#ack").await;
    b.wait_for("#acked").await;
    b.type_into(
        "#update-body",
        "结账失败已定位到 svc-order 的一个版本，正在回滚。",
    )
    .await;
    b.c.find(Locator::Css("#update-audience option[value=merchants]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.click("#update-submit").await;
    b.wait_for("#flash[data-done=updated]").await;
    assert!(b.text("#timeline-entries").await.contains("正在回滚"));
    b.click("#to-resolved").await;
    b.wait_for("#incident-state [data-status=resolved]").await;
    b.assert_no_horizontal_overflow("the resolved incident")
        .await;
    b.screenshot("ui-phone-incident-resolved.png").await;
    b.open("/ui/incidents/numbers").await;
    assert_eq!(b.status().await, 200);
    b.assert_no_horizontal_overflow("the incident numbers")
        .await;

    // Signing out ends the session; the overview then asks to sign in.
    b.c.find(Locator::Css("#sign-out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#login-form"))
        .await
        .expect("signing out lands on the sign-in form");
    b.open("/").await;
    assert_eq!(b.count("#login-form").await, 1);

    // A merchant, in a fresh session, sees its own merchant and nothing else.
    b.sign_in(SHOP).await;
    assert_eq!(b.text("#role").await, "merchant");
    assert_eq!(b.count(".pool-usage").await, 0);
    assert_eq!(b.count("nav a[href='/ui/hosts']").await, 0);
    assert_eq!(
        b.attr("#counts [data-testid=count-merchants] .value", "data-count")
            .await,
        "1"
    );
    b.assert_no_horizontal_overflow("the merchant's overview")
        .await;
    b.screenshot("ui-phone-merchant.png").await;
    b.c.find(Locator::Css("#my-merchant"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(b.text("#merchant-name").await, *name);
    assert_eq!(
        b.count("#instances tbody tr").await,
        facts.merchant_instances
    );
    b.assert_no_horizontal_overflow("the merchant's own page")
        .await;

    b.open(&format!("/ui/merchants/{}", facts.other_merchant.0))
        .await;
    assert_eq!(b.status().await, 404);
    assert!(!b
        .c
        .source()
        .await
        .unwrap()
        .contains(&facts.other_merchant.1));
    b.open("/ui/hosts").await;
    assert_eq!(b.status().await, 403);
    b.assert_no_horizontal_overflow("the 403 page").await;

    // The browser's pages and the server agree on the statuses.
    let session = b.c.get_named_cookie("cairn_session").await.unwrap();
    let cookie = format!("cairn_session={}", session.value());
    assert_eq!(page(&server, &cookie, "/ui/hosts").await.0, 403);
    let other = format!("/ui/merchants/{}", facts.other_merchant.0);
    assert_eq!(page(&server, &cookie, &other).await.0, 404);
    assert_eq!(
        page(&server, &cookie, &format!("/ui/merchants/{merchant}"))
            .await
            .0,
        200
    );
}
