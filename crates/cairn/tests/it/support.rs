//! Fixture builders for the integration tests: a real cairn server on a loopback port,
//! on SQLite in a temporary directory or on a fresh PostgreSQL database.

#![allow(dead_code)]

use std::sync::Arc;

use cairn_app::App;
use cairn_domain::{Clock, FixedClock, Timestamp};
use cairn_store::testing;
use serde_json::Value;

/// The admin token every test server is bootstrapped with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// The fixed "now" of test servers: the demo cloud and audit times depend on it.
pub fn test_now() -> Timestamp {
    time::macros::datetime!(2026-11-25 04:00 UTC)
}

/// A running server and a client for it.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub app: App,
    pub clock: Arc<FixedClock>,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

pub struct Builder {
    demo: bool,
    postgres: bool,
    metrics: bool,
    body_limit: Option<usize>,
    forward: Option<(String, u64)>,
    query_from: Option<String>,
    alerting: bool,
    tickets: bool,
}

impl TestServer {
    pub fn builder() -> Builder {
        Builder {
            demo: false,
            postgres: false,
            metrics: false,
            body_limit: None,
            forward: None,
            query_from: None,
            alerting: false,
            tickets: false,
        }
    }

    /// An empty cloud on SQLite.
    pub async fn start() -> TestServer {
        Self::builder().build().await
    }

    /// The demo cloud and a metrics store, on SQLite.
    pub async fn start_with_demo_and_metrics() -> TestServer {
        Self::builder().demo().metrics().build().await
    }

    /// The demo cloud on SQLite.
    pub async fn start_demo() -> TestServer {
        Self::builder().demo().build().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request with a bearer token.
    pub fn req(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(token)
    }

    pub async fn get_json(&self, path: &str, token: &str) -> (u16, Value) {
        let res = self
            .req(reqwest::Method::GET, path, token)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: &Value,
    ) -> (u16, Value) {
        let res = self
            .req(method, path, token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Creates an API token with `role` (bound to `merchant` for merchants).
    pub async fn token(&self, role: &str, merchant: Option<&str>) -> String {
        let (status, body) = self
            .send_json(
                reqwest::Method::POST,
                "/api/v1/tokens",
                ADMIN_TOKEN,
                &serde_json::json!({"role": role, "merchant_id": merchant}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Creates a web UI user.
    pub async fn user(&self, name: &str, password: &str, role: &str, merchant: Option<&str>) {
        let (status, body) = self
            .send_json(
                reqwest::Method::POST,
                "/api/v1/users",
                ADMIN_TOKEN,
                &serde_json::json!({"name": name, "password": password, "role": role, "merchant_id": merchant}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
}

impl Builder {
    pub fn demo(mut self) -> Self {
        self.demo = true;
        self
    }

    /// Runs on a fresh PostgreSQL database; the test must first check
    /// `testing::postgres_url()` and skip when it is `None`.
    pub fn postgres(mut self) -> Self {
        self.postgres = true;
        self
    }

    /// Runs a metrics store in the temporary directory.
    pub fn metrics(mut self) -> Self {
        self.metrics = true;
        self
    }

    /// Forwards everything ingested to `url` through a queue of at most `max_bytes`.
    pub fn forward_to(mut self, url: &str, max_bytes: u64) -> Self {
        self.metrics = true;
        self.forward = Some((url.to_owned(), max_bytes));
        self
    }

    /// Runs an alerting engine (the test drives its passes) with a metrics store.
    pub fn alerting(mut self) -> Self {
        self.metrics = true;
        self.alerting = true;
        self
    }

    /// Runs the tickets loop (search index and attachments in the temporary directory).
    pub fn tickets(mut self) -> Self {
        self.tickets = true;
        self
    }

    /// Answers metric queries from the Prometheus API at `url`.
    pub fn query_from(mut self, url: &str) -> Self {
        self.metrics = true;
        self.query_from = Some(url.to_owned());
        self
    }

    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = Some(bytes);
        self
    }

    pub async fn build(self) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let store = if self.postgres {
            let url = testing::postgres_url().expect("postgres() needs CAIRN_TEST_POSTGRES_URL");
            testing::postgres(&url).await.unwrap()
        } else {
            testing::sqlite_in(dir.path()).await.unwrap()
        };
        let clock = Arc::new(FixedClock::new(test_now()));
        let mut app = App::new(store, clock.clone() as Arc<dyn Clock>);
        let mut forwarder = None;
        if self.metrics {
            let data = dir.path().to_owned();
            let tsdb = cairn_tsdb::Tsdb::open(cairn_tsdb::Options {
                dir: data.join("tsdb"),
                fsync: cairn_tsdb::FsyncPolicy::Never,
                ..cairn_tsdb::Options::default()
            })
            .unwrap();
            let mut metrics = cairn_app::metrics::Metrics::new(tsdb);
            if let Some((url, max_bytes)) = &self.forward {
                let mut config =
                    cairn_app::external::ForwardConfig::new(url.clone(), data.join("forward"));
                config.max_queue_bytes = *max_bytes;
                config.fsync = cairn_tsdb::FsyncPolicy::Never;
                config.max_backoff = std::time::Duration::from_millis(500);
                let f = cairn_app::external::Forwarder::open(config).unwrap();
                metrics = metrics.with_forwarder(f.clone());
                forwarder = Some(f);
            }
            if let Some(url) = &self.query_from {
                metrics = metrics
                    .with_remote_query(cairn_app::external::RemoteQuery::new(url, None).unwrap());
            }
            app = app.with_metrics(Arc::new(metrics));
        }
        if self.alerting {
            app = app.with_alerting(cairn_app::alerting::AlertingOptions {
                external_url: base.clone(),
                ack_secret: b"test-ack-secret-0123456789abcdef".to_vec(),
                retry: cairn_alert::notify::RetryPolicy {
                    initial: time::Duration::milliseconds(20),
                    max_interval: time::Duration::milliseconds(100),
                    max_attempts: 3,
                    ..Default::default()
                },
                ..Default::default()
            });
        }
        if self.tickets {
            app = app.with_tickets(cairn_app::tickets::Tickets::open(dir.path()).unwrap());
        }
        app.bootstrap(Some(ADMIN_TOKEN)).await.unwrap();
        if self.demo {
            app.load_demo(&[], &|_| {}).await.unwrap();
        }
        let mut config = cairn_web::WebConfig::default();
        if let Some(l) = self.body_limit {
            config.body_limit = l;
        }
        let router = cairn_web::router(app.clone(), config);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let forwarding = forwarder.map(|f| tokio::spawn(f.run(stop_rx)));
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
            let _ = stop_tx.send(true);
            if let Some(f) = forwarding {
                let _ = f.await;
            }
        });
        TestServer {
            base,
            app,
            clock,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            _dir: dir,
            shutdown: Some(tx),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

// Web UI helpers: the session comes from the sign-in form, as in a browser.

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};

/// Signs in through the form and returns the `Cookie` header value of the session.
pub async fn sign_in(server: &TestServer, (name, password): (&str, &str)) -> String {
    let res = post_form(
        server,
        "/login",
        &format!("name={name}&password={password}"),
        None,
    )
    .await;
    assert_eq!(res.status(), 303, "signing in as {name}");
    assert_eq!(res.headers()[LOCATION], "/");
    let set = res.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for part in ["cairn_session=sess_", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set.contains(part), "{set:?} lacks {part}");
    }
    set.split(';').next().unwrap().to_owned()
}

pub async fn post_form(
    server: &TestServer,
    path: &str,
    body: &str,
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut req = server
        .http
        .post(server.url(path))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    req.send().await.unwrap()
}

/// A page as a signed-in user: the status and the HTML.
pub async fn page(server: &TestServer, cookie: &str, path: &str) -> (u16, String) {
    let res = server
        .http
        .get(server.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    if status == 200 {
        let ct = res.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
        assert_eq!(ct, "text/html; charset=utf-8", "{path}");
        assert!(
            res.headers().contains_key("content-security-policy"),
            "{path}"
        );
    }
    (status, res.text().await.unwrap())
}

/// A webhook receiver on loopback: every request body it gets, in order.
pub struct Webhook {
    pub url: String,
    pub bodies: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl Webhook {
    /// Starts one that answers `status` to everything.
    pub async fn start(status: u16) -> Webhook {
        let bodies: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = Default::default();
        let b = bodies.clone();
        let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let b = b.clone();
            async move {
                let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
                b.lock().unwrap().push(v);
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Webhook { url, bodies }
    }

    pub fn received(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

/// A minimal SMTP server on loopback that accepts every message and keeps its text.
pub struct SmtpSink {
    pub address: String,
    pub messages: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let messages: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
        let m = messages.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let m = m.clone();
                tokio::spawn(async move {
                    let (r, mut w) = sock.into_split();
                    let mut lines = BufReader::new(r).lines();
                    let _ = w.write_all(b"220 sink ESMTP\r\n").await;
                    let mut data = false;
                    let mut message = String::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        if data {
                            if line == "." {
                                data = false;
                                m.lock().unwrap().push(std::mem::take(&mut message));
                                let _ = w.write_all(b"250 OK queued\r\n").await;
                            } else {
                                message.push_str(&line);
                                message.push('\n');
                            }
                            continue;
                        }
                        let verb = line
                            .split_whitespace()
                            .next()
                            .unwrap_or("")
                            .to_ascii_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                            "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
                            "DATA" => {
                                data = true;
                                b"354 go ahead\r\n"
                            }
                            "QUIT" => {
                                let _ = w.write_all(b"221 bye\r\n").await;
                                break;
                            }
                            _ => b"502 not implemented\r\n",
                        };
                        let _ = w.write_all(reply).await;
                    }
                });
            }
        });
        SmtpSink { address, messages }
    }

    pub fn received(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }
}
