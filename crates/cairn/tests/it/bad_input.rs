//! Bad input gets a clear 4xx that names the field and the problem, never a 500 or a
//! panic, and writes nothing. One table of cases, one `check` per case.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{TestServer, ADMIN_TOKEN};

struct Case {
    what: &'static str,
    method: Method,
    path: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    token: Option<&'static str>,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
}

fn case(what: &'static str, method: Method, path: &'static str, body: impl Into<Vec<u8>>) -> Case {
    Case {
        what,
        method,
        path,
        content_type: "application/json",
        body: body.into(),
        token: Some(ADMIN_TOKEN),
        status: 400,
        code: "bad_request",
        field: None,
    }
}

impl Case {
    fn expect(mut self, status: u16, code: &'static str, field: Option<&'static str>) -> Self {
        self.status = status;
        self.code = code;
        self.field = field;
        self
    }
    fn content_type(mut self, ct: &'static str) -> Self {
        self.content_type = ct;
        self
    }
    fn token(mut self, t: Option<&'static str>) -> Self {
        self.token = t;
        self
    }
}

async fn check(s: &TestServer, c: Case) {
    let mut req = s.http.request(c.method.clone(), s.url(c.path));
    if let Some(t) = c.token {
        req = req.bearer_auth(t);
    }
    if !c.body.is_empty() {
        req = req
            .header("content-type", c.content_type)
            .body(c.body.clone());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{}: the error is not JSON: {text}", c.what));
    assert_eq!(status, c.status, "{}: {body}", c.what);
    assert_eq!(body["error"]["code"], c.code, "{}: {body}", c.what);
    assert_eq!(
        body["error"]["field"].as_str(),
        c.field,
        "{}: {body}",
        c.what
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.len() > 10,
        "{}: the message says too little: {body}",
        c.what
    );
}

async fn audit_count(s: &TestServer) -> usize {
    let (_, log) = s.get_json("/api/v1/audit?limit=1000", ADMIN_TOKEN).await;
    log["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn every_kind_of_bad_input_gets_a_clear_4xx_and_writes_nothing() {
    let s = TestServer::builder().body_limit(8 * 1024).build().await;
    for (path, body) in [
        ("/api/v1/regions", json!({"id": "cn-hz", "name": "杭州"})),
        (
            "/api/v1/zones",
            json!({"id": "cn-hz-g", "region_id": "cn-hz", "name": "G"}),
        ),
        (
            "/api/v1/products",
            json!({"id": "ecs", "name": "ECS", "unit": "vCPU", "lead_time_days": 45}),
        ),
        (
            "/api/v1/products",
            json!({"id": "rds", "name": "RDS", "unit": "GiB", "lead_time_days": 30}),
        ),
        (
            "/api/v1/pools",
            json!({"id": "p1", "product_id": "ecs", "zone_id": "cn-hz-g", "capacity": 100}),
        ),
        (
            "/api/v1/merchants",
            json!({"id": "m-1", "name": "店", "tier": "standard"}),
        ),
    ] {
        let (status, got) = s.send_json(Method::POST, path, ADMIN_TOKEN, &body).await;
        assert_eq!(status, 201, "{got}");
    }
    let before = audit_count(&s).await;
    let deep = "[".repeat(1000) + &"]".repeat(1000);
    let cases = vec![
        case("truncated JSON", Method::POST, "/api/v1/regions", r#"{"id": "x", "name": "#)
            .expect(400, "malformed_json", None),
        case("empty body", Method::POST, "/api/v1/regions", "").expect(400, "malformed_json", None),
        case("JSON nested past the limit", Method::POST, "/api/v1/regions", deep)
            .expect(400, "malformed_json", None),
        case("a number too large", Method::POST, "/api/v1/pools",
            r#"{"product_id": "ecs", "zone_id": "cn-hz-g", "capacity": 1e400}"#)
            .expect(400, "malformed_json", None),
        case("an array instead of an object", Method::POST, "/api/v1/regions", "[1, 2]"),
        case("a string where a number belongs", Method::POST, "/api/v1/pools",
            r#"{"product_id": "ecs", "zone_id": "cn-hz-g", "capacity": "lots"}"#)
            .expect(400, "bad_request", Some("capacity")),
        case("an unknown field", Method::POST, "/api/v1/regions", r#"{"name": "x", "colour": "red"}"#)
            .expect(400, "bad_request", Some("colour")),
        case("a missing field", Method::POST, "/api/v1/zones", r#"{"name": "x"}"#)
            .expect(400, "bad_request", Some("region_id")),
        case("an unknown enum value", Method::POST, "/api/v1/hosts",
            r#"{"zone_id": "cn-hz-g", "rack": "r1", "state": "exploded", "cpu_cores": 8, "memory_gib": 32}"#)
            .expect(400, "bad_request", Some("state")),
        case("a timestamp that is not RFC 3339", Method::POST, "/api/v1/promotions",
            r#"{"name": "双11", "starts_at": "tomorrow", "ends_at": "2027-11-12T00:00:00Z", "scope": "global", "expected_uplift": 8}"#)
            .expect(400, "bad_request", Some("starts_at")),
        case("a negative capacity", Method::POST, "/api/v1/pools",
            r#"{"product_id": "ecs", "zone_id": "cn-hz-g", "capacity": -5}"#)
            .expect(422, "invalid", Some("capacity")),
        case("an id with spaces", Method::POST, "/api/v1/regions", r#"{"id": "has space", "name": "x"}"#)
            .expect(422, "invalid", Some("id")),
        case("an empty name", Method::POST, "/api/v1/regions", r#"{"name": "  "}"#)
            .expect(422, "invalid", Some("name")),
        case("a lead time out of range", Method::POST, "/api/v1/products",
            r#"{"name": "X", "unit": "GiB", "lead_time_days": 99999}"#)
            .expect(422, "invalid", Some("lead_time_days")),
        case("a promotion that ends before it starts", Method::POST, "/api/v1/promotions",
            r#"{"name": "双11", "starts_at": "2027-11-12T00:00:00Z", "ends_at": "2027-11-01T00:00:00Z", "scope": "global", "expected_uplift": 8}"#)
            .expect(422, "invalid", Some("ends_at")),
        case("a regional promotion without its region", Method::POST, "/api/v1/promotions",
            r#"{"name": "五五购物节", "starts_at": "2027-05-01T00:00:00Z", "ends_at": "2027-05-05T00:00:00Z", "scope": "region", "expected_uplift": 2}"#)
            .expect(422, "invalid", Some("region_id")),
        case("a reference to nothing", Method::POST, "/api/v1/zones", r#"{"region_id": "nope", "name": "x"}"#)
            .expect(422, "dangling_reference", Some("region_id")),
        case("an instance of another product than its pool's", Method::POST, "/api/v1/instances",
            r#"{"merchant_id": "m-1", "product_id": "rds", "pool_id": "p1", "spec": "s", "units": 1, "state": "running"}"#)
            .expect(422, "invalid", Some("product_id")),
        case("a duplicate id", Method::POST, "/api/v1/regions", r#"{"id": "cn-hz", "name": "again"}"#)
            .expect(409, "conflict", None),
        case("an id in the body that differs from the path", Method::PUT, "/api/v1/regions/cn-hz",
            r#"{"id": "cn-sh", "name": "x"}"#)
            .expect(400, "bad_request", Some("id")),
        case("a body over the limit", Method::POST, "/api/v1/regions",
            format!(r#"{{"name": "{}"}}"#, "x".repeat(20_000)))
            .expect(413, "body_too_large", None),
        case("a page size of zero", Method::GET, "/api/v1/hosts?limit=0", "")
            .expect(400, "bad_request", Some("limit")),
        case("an unknown filter", Method::GET, "/api/v1/hosts?colour=red", "")
            .expect(400, "bad_request", Some("colour")),
        case("no token", Method::GET, "/api/v1/hosts", "").token(None)
            .expect(401, "unauthenticated", None),
        case("a wrong token", Method::GET, "/api/v1/hosts", "").token(Some("cairn_not-a-token"))
            .expect(401, "unauthenticated", None),
        case("a token with an unknown role", Method::POST, "/api/v1/tokens", r#"{"role": "emperor"}"#)
            .expect(400, "bad_request", Some("role")),
        case("a merchant token without its merchant", Method::POST, "/api/v1/tokens", r#"{"role": "merchant"}"#)
            .expect(400, "bad_request", Some("merchant_id")),
        case("a merchant token for no merchant", Method::POST, "/api/v1/tokens",
            r#"{"role": "merchant", "merchant_id": "m-404"}"#)
            .expect(422, "dangling_reference", Some("merchant_id")),
        case("a user with a short password", Method::POST, "/api/v1/users",
            r#"{"name": "bob", "password": "short", "role": "viewer"}"#)
            .expect(400, "bad_request", Some("password")),
        case("an import that is not JSON", Method::POST, "/api/v1/regions/import", "not json")
            .expect(400, "bad_request", None),
        case("an import object without items", Method::POST, "/api/v1/regions/import", r#"{"rows": []}"#)
            .expect(400, "bad_request", Some("items")),
        case("an import that is not UTF-8", Method::POST, "/api/v1/regions/import", vec![0xff, 0xfe, 0x00])
            .content_type("text/csv"),
        case("an import with a bad row", Method::POST, "/api/v1/regions/import",
            r#"[{"id": "r-ok", "name": "fine"}, {"id": "r-bad", "name": ""}]"#)
            .expect(422, "import_rejected", None),
        case("an import in an unknown format", Method::POST, "/api/v1/regions/import?format=xml", "<x/>")
            .expect(400, "bad_request", Some("format")),
        case("an unknown route", Method::GET, "/api/v1/galaxies", "").expect(404, "no_route", None),
        case("a method a route does not take", Method::PATCH, "/api/v1/regions", "{}")
            .expect(405, "method_not_allowed", None),
    ];
    for c in cases {
        check(&s, c).await;
    }
    assert_eq!(
        audit_count(&s).await,
        before,
        "no bad request may write anything"
    );
    let (_, regions) = s.get_json("/api/v1/regions", ADMIN_TOKEN).await;
    assert_eq!(regions["items"].as_array().unwrap().len(), 1);
}
