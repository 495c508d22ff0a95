//! The model's API as an ops engineer uses it: build a small cloud, page through it,
//! import in bulk, keep the topology acyclic, and find every write in the audit log.
//! The same story runs on SQLite and, when configured, on PostgreSQL.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{TestServer, ADMIN_TOKEN};

async fn post(s: &TestServer, path: &str, body: Value) -> Value {
    let (status, got) = s.send_json(Method::POST, path, ADMIN_TOKEN, &body).await;
    assert_eq!(status, 201, "POST {path}: {got}");
    got
}

async fn small_cloud(s: &TestServer) {
    post(
        s,
        "/api/v1/regions",
        json!({"id": "cn-hz", "name": "华东1 杭州"}),
    )
    .await;
    post(
        s,
        "/api/v1/zones",
        json!({"id": "cn-hz-g", "region_id": "cn-hz", "name": "杭州 G"}),
    )
    .await;
    post(
        s,
        "/api/v1/products",
        json!({"id": "ecs", "name": "ECS", "unit": "vCPU", "lead_time_days": 45}),
    )
    .await;
    post(
        s,
        "/api/v1/pools",
        json!({"id": "ecs-hz-g", "product_id": "ecs", "zone_id": "cn-hz-g", "capacity": 960.0}),
    )
    .await;
    post(s, "/api/v1/hosts", json!({"id": "h-1", "zone_id": "cn-hz-g", "rack": "r01", "pool_id": "ecs-hz-g", "state": "up", "cpu_cores": 96, "memory_gib": 384})).await;
    post(
        s,
        "/api/v1/merchants",
        json!({"id": "m-1", "name": "江南茶叶旗舰店", "tier": "vip"}),
    )
    .await;
}

async fn story(s: TestServer) {
    small_cloud(&s).await;

    // A record created without an id gets one.
    let m = post(
        &s,
        "/api/v1/merchants",
        json!({"name": "西湖丝绸", "tier": "standard"}),
    )
    .await;
    let generated = m["id"].as_str().unwrap().to_owned();
    assert!(generated.starts_with("m-"), "{generated}");

    // Bulk import of instances from CSV: all rows or none.
    let mut csv = String::from("id,merchant_id,product_id,pool_id,host_id,spec,units,state\n");
    for i in 0..25 {
        csv += &format!("i-{i:03},m-1,ecs,ecs-hz-g,h-1,ecs.g6.large,2,running\n");
    }
    let bad_csv = format!("{csv}i-bad,m-404,ecs,ecs-hz-g,,ecs.g6.large,two,running\n");
    let res = s
        .req(Method::POST, "/api/v1/instances/import", ADMIN_TOKEN)
        .header("content-type", "text/csv")
        .body(bad_csv)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "import_rejected");
    assert_eq!(body["report"]["bad_rows"], 1);
    assert_eq!(body["report"]["errors"][0]["row"], 26);
    assert_eq!(body["report"]["errors"][0]["field"], "units");
    let (_, page) = s.get_json("/api/v1/instances", ADMIN_TOKEN).await;
    assert_eq!(page["items"], json!([]), "a rejected import writes nothing");

    let res = s
        .req(Method::POST, "/api/v1/instances/import", ADMIN_TOKEN)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["imported"], 25);

    // Pages of ten, in id order, until next_cursor runs out.
    let mut ids = Vec::new();
    let mut path = "/api/v1/instances?limit=10".to_owned();
    loop {
        let (status, page) = s.get_json(&path, ADMIN_TOKEN).await;
        assert_eq!(status, 200, "{page}");
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/instances?limit=10&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(ids.len(), 25);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    // Filters.
    let (_, vips) = s.get_json("/api/v1/merchants?tier=vip", ADMIN_TOKEN).await;
    assert_eq!(vips["items"].as_array().unwrap().len(), 1);
    assert_eq!(vips["items"][0]["name"], "江南茶叶旗舰店");

    // The overview sums instance units into pool usage.
    let (_, ov) = s.get_json("/api/v1/overview", ADMIN_TOKEN).await;
    assert_eq!(ov["regions"][0]["zones"][0]["pools"][0]["used"], 50.0);

    // Replace and delete.
    let (status, pool) = s
        .send_json(
            Method::PUT,
            "/api/v1/pools/ecs-hz-g",
            ADMIN_TOKEN,
            &json!({"product_id": "ecs", "zone_id": "cn-hz-g", "capacity": 1920.0}),
        )
        .await;
    assert_eq!(status, 200, "{pool}");
    assert_eq!(pool["capacity"], 1920.0);
    let (status, err) = s
        .send_json(
            Method::DELETE,
            "/api/v1/pools/ecs-hz-g",
            ADMIN_TOKEN,
            &json!({}),
        )
        .await;
    assert_eq!(status, 409, "a pool with hosts and instances stays: {err}");
    let res = s
        .req(
            Method::DELETE,
            &format!("/api/v1/merchants/{generated}"),
            ADMIN_TOKEN,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (status, _) = s
        .get_json(&format!("/api/v1/merchants/{generated}"), ADMIN_TOKEN)
        .await;
    assert_eq!(status, 404);

    // The topology stays acyclic.
    for (id, name) in [
        ("web", "storefront"),
        ("api", "order-api"),
        ("db", "orders-rds"),
    ] {
        post(
            &s,
            "/api/v1/services",
            json!({"id": id, "name": name, "merchant_id": "m-1"}),
        )
        .await;
    }
    post(
        &s,
        "/api/v1/dependencies",
        json!({"id": "d1", "from_service_id": "web", "to_service_id": "api"}),
    )
    .await;
    let d2 = post(
        &s,
        "/api/v1/dependencies",
        json!({"id": "d2", "from_service_id": "api", "to_service_id": "db"}),
    )
    .await;
    assert_eq!(
        d2["merchant_id"], "m-1",
        "a dependency belongs to its caller's merchant"
    );
    let (status, err) = s
        .send_json(
            Method::POST,
            "/api/v1/dependencies",
            ADMIN_TOKEN,
            &json!({"from_service_id": "db", "to_service_id": "web"}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(err["error"]["code"], "cycle");
    assert_eq!(err["error"]["field"], "to_service_id");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("web -> api -> db -> web"),
        "{err}"
    );

    // Every write is in the audit log with before and after.
    let (status, log) = s
        .get_json("/api/v1/audit?kind=pools&record_id=ecs-hz-g", ADMIN_TOKEN)
        .await;
    assert_eq!(status, 200);
    let entries = log["items"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{log}");
    assert_eq!(entries[0]["action"], "update");
    assert_eq!(
        entries[0]["actor"].as_str().unwrap().split(':').next(),
        Some("token")
    );
    assert_eq!(entries[0]["before"]["capacity"], 960.0);
    assert_eq!(entries[0]["after"]["capacity"], 1920.0);
    let (_, imports) = s
        .get_json("/api/v1/audit?kind=instances&limit=1000", ADMIN_TOKEN)
        .await;
    assert_eq!(imports["items"].as_array().unwrap().len(), 25);

    // The audit log is for admins only.
    let viewer = s.token("viewer", None).await;
    let (status, _) = s.get_json("/api/v1/audit", &viewer).await;
    assert_eq!(status, 403);
    // Viewers read but do not write.
    let (status, _) = s.get_json("/api/v1/hosts", &viewer).await;
    assert_eq!(status, 200);
    let (status, err) = s
        .send_json(
            Method::POST,
            "/api/v1/regions",
            &viewer,
            &json!({"name": "x"}),
        )
        .await;
    assert_eq!(status, 403, "{err}");
}

#[tokio::test]
async fn an_ops_engineer_builds_and_maintains_the_model_on_sqlite() {
    story(TestServer::start().await).await;
}

#[tokio::test]
async fn an_ops_engineer_builds_and_maintains_the_model_on_postgres() {
    if cairn_store::testing::postgres_url().is_none() {
        eprintln!("skipped: CAIRN_TEST_POSTGRES_URL is not set");
        return;
    }
    story(TestServer::builder().postgres().build().await).await;
}

#[tokio::test]
async fn the_demo_cloud_is_served_and_documented() {
    let s = TestServer::start_demo().await;
    let (_, ov) = s.get_json("/api/v1/overview", ADMIN_TOKEN).await;
    let counts: std::collections::HashMap<String, u64> = ov["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c[0].as_str().unwrap().to_owned(), c[1].as_u64().unwrap()))
        .collect();
    assert_eq!(ov["regions"].as_array().unwrap().len(), 3);
    assert!(counts["zones"] >= 8);
    assert!(counts["products"] >= 6);
    assert!(counts["pools"] >= 30);
    assert!(counts["merchants"] >= 500);
    assert!(counts["hosts"] >= 2000);
    assert!(counts["instances"] >= 10_000);
    assert!(counts["services"] >= 30);
    let (_, promos) = s
        .get_json("/api/v1/promotions?scope=global", ADMIN_TOKEN)
        .await;
    let names: Vec<&str> = promos["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.iter().filter(|n| n.contains("11")).count() >= 2,
        "{names:?}"
    );
    assert!(
        names.iter().filter(|n| n.contains("618")).count() >= 2,
        "{names:?}"
    );

    // The OpenAPI document names every kind's routes and the fixed ones.
    let doc: Value = s
        .http
        .get(s.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    for kind in cairn_domain::Kind::ALL {
        for suffix in ["", "/{id}", "/import"] {
            let path = format!("/api/v1/{}{suffix}", kind.plural());
            assert!(doc["paths"].get(&path).is_some(), "{path} missing");
        }
    }
    assert!(doc["components"]["schemas"]["Merchant"].is_object());

    // Health, readiness and cairn's own metrics.
    assert_eq!(
        s.http.get(s.url("/healthz")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        s.http.get(s.url("/readyz")).send().await.unwrap().status(),
        200
    );
    let metrics = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"cairn_http_requests_total{method="GET",route="/api/v1/overview",status="200"} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(
        r#"cairn_http_request_duration_seconds_bucket{route="/api/v1/promotions",le="+Inf"} 1"#
    ));
    assert!(metrics.contains("cairn_store_connections{backend=\"sqlite\",state=\"max\"} 4"));
}
