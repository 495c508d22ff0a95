//! The capacity loop: the ledger agrees with the instances through every kind of
//! write, capacity changes and reservations move stock, and the demo cloud's forecasts,
//! stock-out dates, roll-ups, backtests and what-ifs answer as planners need them.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{TestServer, ADMIN_TOKEN};

/// A small cloud: one region, one zone, one product with two pools, one merchant.
async fn small_cloud(s: &TestServer) {
    for (path, body) in [
        ("/api/v1/regions", json!({"id": "cn-test", "name": "Test"})),
        (
            "/api/v1/zones",
            json!({"id": "cn-test-a", "region_id": "cn-test", "name": "Test A"}),
        ),
        (
            "/api/v1/products",
            json!({"id": "ecs", "name": "ECS", "unit": "vCPU", "lead_time_days": 30}),
        ),
        (
            "/api/v1/pools",
            json!({"id": "pool-a", "product_id": "ecs", "zone_id": "cn-test-a", "capacity": 1000.0}),
        ),
        (
            "/api/v1/pools",
            json!({"id": "pool-b", "product_id": "ecs", "zone_id": "cn-test-a", "capacity": 500.0}),
        ),
        (
            "/api/v1/merchants",
            json!({"id": "m-shop", "name": "Shop", "tier": "standard"}),
        ),
    ] {
        let (status, got) = s.send_json(Method::POST, path, ADMIN_TOKEN, &body).await;
        assert_eq!(status, 201, "{path}: {got}");
    }
}

/// Units of live instances per pool, as the model's instances say.
async fn instance_units(s: &TestServer) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/instances?limit=1000&cursor={c}"),
            None => "/api/v1/instances?limit=1000".into(),
        };
        let (_, page) = s.get_json(&path, ADMIN_TOKEN).await;
        for i in page["items"].as_array().unwrap() {
            if i["state"] != "released" {
                *out.entry(i["pool_id"].as_str().unwrap().to_owned())
                    .or_default() += i["units"].as_f64().unwrap();
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    out
}

/// Net units sold per pool, as the ledger says (through each pool's stock today).
async fn ledger_units(s: &TestServer, pools: &[&str]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for pool in pools {
        let (status, got) = s
            .get_json(&format!("/api/v1/pools/{pool}/stock"), ADMIN_TOKEN)
            .await;
        assert_eq!(status, 200, "{got}");
        let sold = got["days"].as_array().unwrap().last().unwrap()["sold"]
            .as_f64()
            .unwrap();
        if sold.abs() > 1e-9 {
            out.insert((*pool).to_owned(), sold);
        }
    }
    out
}

async fn assert_ledger_agrees(s: &TestServer, step: &str) {
    let by_instances = instance_units(s).await;
    let by_ledger = ledger_units(s, &["pool-a", "pool-b"]).await;
    assert_eq!(by_ledger, by_instances, "after {step}");
}

async fn ledger_agrees_with_instances_through_every_write(s: TestServer) {
    small_cloud(&s).await;
    let instance = |id: &str, pool: &str, units: f64, state: &str| {
        json!({"id": id, "merchant_id": "m-shop", "product_id": "ecs", "pool_id": pool,
               "spec": "ecs.g7.large", "units": units, "state": state})
    };
    let (status, got) = s
        .send_json(
            Method::POST,
            "/api/v1/instances",
            ADMIN_TOKEN,
            &instance("i-1", "pool-a", 8.0, "running"),
        )
        .await;
    assert_eq!(status, 201, "{got}");
    assert_ledger_agrees(&s, "a create").await;

    for (body, step) in [
        (instance("i-1", "pool-a", 12.0, "running"), "growing it"),
        (instance("i-1", "pool-b", 12.0, "running"), "moving it"),
        (instance("i-1", "pool-b", 12.0, "released"), "releasing it"),
        (instance("i-1", "pool-a", 4.0, "stopped"), "reviving it"),
    ] {
        let (status, got) = s
            .send_json(Method::PUT, "/api/v1/instances/i-1", ADMIN_TOKEN, &body)
            .await;
        assert_eq!(status, 200, "{got}");
        assert_ledger_agrees(&s, step).await;
    }

    let csv = "id,merchant_id,product_id,pool_id,spec,units,state\n\
               i-2,m-shop,ecs,pool-b,ecs.c7.xlarge,16,running\n\
               i-3,m-shop,ecs,pool-b,ecs.c7.xlarge,4,creating\n";
    let res = s
        .req(Method::POST, "/api/v1/instances/import", ADMIN_TOKEN)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_ledger_agrees(&s, "an import").await;

    let res = s
        .req(Method::DELETE, "/api/v1/instances/i-2", ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_ledger_agrees(&s, "a delete").await;

    // Every entry says where it came from and which instance it follows.
    let (_, got) = s.get_json("/api/v1/pools/pool-b/ledger", ADMIN_TOKEN).await;
    let newest = &got["items"][0];
    assert_eq!(newest["kind"], "release");
    assert_eq!(newest["instance_id"], "i-2");
    assert_eq!(newest["source"], "instance");
    assert!(
        newest["actor"].as_str().unwrap().starts_with("token:"),
        "{newest}"
    );
}

#[tokio::test]
async fn the_ledger_agrees_with_the_instances_through_every_write_on_sqlite() {
    ledger_agrees_with_instances_through_every_write(TestServer::start().await).await;
}

#[tokio::test]
async fn the_ledger_agrees_with_the_instances_through_every_write_on_postgres() {
    if cairn_store::testing::postgres_url().is_none() {
        eprintln!("skipped: CAIRN_TEST_POSTGRES_URL is not set");
        return;
    }
    ledger_agrees_with_instances_through_every_write(
        TestServer::builder().postgres().build().await,
    )
    .await;
}

/// Stock left in pool-a day by day.
async fn stock_left(s: &TestServer, from: &str, to: &str) -> Vec<f64> {
    let (status, got) = s
        .get_json(
            &format!("/api/v1/pools/pool-a/stock?from={from}&to={to}"),
            ADMIN_TOKEN,
        )
        .await;
    assert_eq!(status, 200, "{got}");
    got["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["stock_left"].as_f64().unwrap())
        .collect()
}

#[tokio::test]
async fn capacity_changes_and_reservations_move_stock_and_done_changes_are_history() {
    let s = TestServer::start().await;
    small_cloud(&s).await;
    let today = s.app.today();
    let day = |d: i64| cairn_domain::capacity::date_format::format(today + time::Duration::days(d));
    // Sales posted through the API: 300 sold yesterday, 50 handed back today.
    let (status, got) = s
        .send_json(
            Method::POST,
            "/api/v1/ledger",
            ADMIN_TOKEN,
            &json!([
                {"pool_id": "pool-a", "day": day(-1), "kind": "sale", "units": 300.0},
                {"pool_id": "pool-a", "day": day(0), "kind": "release", "units": 50.0},
            ]),
        )
        .await;
    assert_eq!(status, 201, "{got}");
    assert_eq!(got["entries"], 2);

    // Bulk as CSV too.
    let csv = format!(
        "pool_id,day,kind,units,merchant_id\npool-b,{},sale,20,m-shop\npool-b,{},release,5,\n",
        day(-1),
        day(0)
    );
    let res = s
        .req(Method::POST, "/api/v1/ledger", ADMIN_TOKEN)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let res = s
        .req(Method::POST, "/api/v1/ledger", ADMIN_TOKEN)
        .header("content-type", "text/csv")
        .body(format!(
            "pool_id,day,kind,units\npool-b,{},sale,many\n",
            day(0)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let got: Value = res.json().await.unwrap();
    assert_eq!(got["error"]["field"], "[0].units", "{got}");

    // Bad entries name the entry and the field, and write nothing.
    for (body, field) in [
        (
            json!([{"pool_id": "pool-a", "day": day(0), "kind": "sale", "units": 1.0},
                   {"pool_id": "pool-a", "day": day(0), "kind": "sale", "units": -3.0}]),
            "[1].units",
        ),
        (
            json!({"pool_id": "pool-zz", "day": day(0), "kind": "sale", "units": 1.0}),
            "[0].pool_id",
        ),
        (
            json!({"pool_id": "pool-a", "day": "yesterday", "kind": "sale", "units": 1.0}),
            "[0].day",
        ),
        (
            json!({"pool_id": "pool-a", "day": day(0), "kind": "gift", "units": 1.0}),
            "[0].kind",
        ),
    ] {
        let (status, got) = s
            .send_json(Method::POST, "/api/v1/ledger", ADMIN_TOKEN, &body)
            .await;
        assert!(matches!(status, 400 | 422), "{body}: {status} {got}");
        assert_eq!(got["error"]["field"], field, "{got}");
    }
    assert_eq!(
        stock_left(&s, &day(-2), &day(0)).await,
        [1000.0, 700.0, 750.0]
    );

    // Hardware on order counts from its date; reserved units are held on their days.
    let (status, got) = s
        .send_json(
            Method::POST,
            "/api/v1/capacity-changes",
            ADMIN_TOKEN,
            &json!({"id": "cap-1", "pool_id": "pool-a", "date": day(10), "units": 200.0, "status": "planned"}),
        )
        .await;
    assert_eq!(status, 201, "{got}");
    let (status, got) = s
        .send_json(
            Method::POST,
            "/api/v1/reservations",
            ADMIN_TOKEN,
            &json!({"id": "resv-1", "pool_id": "pool-a", "starts_on": day(5), "ends_on": day(6), "units": 100.0}),
        )
        .await;
    assert_eq!(status, 201, "{got}");
    assert_eq!(
        stock_left(&s, &day(4), &day(11)).await,
        [750.0, 650.0, 650.0, 750.0, 750.0, 750.0, 950.0, 950.0]
    );

    // The hardware arrives: the change is done and the pool's capacity grows with it.
    let (status, got) = s
        .send_json(
            Method::PUT,
            "/api/v1/capacity-changes/cap-1",
            ADMIN_TOKEN,
            &json!({"pool_id": "pool-a", "date": day(0), "units": 200.0, "status": "done"}),
        )
        .await;
    assert_eq!(status, 200, "{got}");
    let (_, pool) = s.get_json("/api/v1/pools/pool-a", ADMIN_TOKEN).await;
    assert_eq!(pool["capacity"], 1200.0);
    // Done is history: no edit, no delete.
    let (status, got) = s
        .send_json(
            Method::PUT,
            "/api/v1/capacity-changes/cap-1",
            ADMIN_TOKEN,
            &json!({"pool_id": "pool-a", "date": day(0), "units": 500.0, "status": "done"}),
        )
        .await;
    assert_eq!(status, 422, "{got}");
    assert_eq!(got["error"]["field"], "status");
    let res = s
        .req(
            Method::DELETE,
            "/api/v1/capacity-changes/cap-1",
            ADMIN_TOKEN,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let (_, pool) = s.get_json("/api/v1/pools/pool-a", ADMIN_TOKEN).await;
    assert_eq!(pool["capacity"], 1200.0, "a refused write changes nothing");
    // Retiring more than the pool has is refused by name.
    let (status, got) = s
        .send_json(
            Method::POST,
            "/api/v1/capacity-changes",
            ADMIN_TOKEN,
            &json!({"pool_id": "pool-b", "date": day(0), "units": -900.0, "status": "done"}),
        )
        .await;
    assert_eq!(status, 422, "{got}");
    assert_eq!(got["error"]["field"], "units");
    // A pool with days of history only has no forecast yet, and says why.
    let (status, got) = s
        .get_json("/api/v1/pools/pool-a/forecast", ADMIN_TOKEN)
        .await;
    assert_eq!(status, 409, "{got}");
    assert!(
        got["error"]["message"]
            .as_str()
            .unwrap()
            .contains("four weeks"),
        "{got}"
    );
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[tokio::test]
async fn the_demo_clouds_forecasts_show_the_pools_at_risk_first_and_roll_up_coherently() {
    let s = TestServer::start_demo().await;
    let (status, report) = s.get_json("/api/v1/capacity", ADMIN_TOKEN).await;
    assert_eq!(status, 200, "{report}");
    let pools = report["pools"].as_array().unwrap();
    assert_eq!(pools.len(), 42);
    let at_risk: Vec<&str> = pools
        .iter()
        .filter(|p| p["restock"]["at_risk"] == true)
        .map(|p| p["pool_id"].as_str().unwrap())
        .collect();
    assert!(
        !at_risk.is_empty(),
        "the demo has a pool or two at risk before the next Double 11"
    );
    assert_eq!(
        pools[0]["restock"]["at_risk"], true,
        "pools at risk are listed first"
    );
    for p in pools {
        assert!(p["note"].is_null(), "every demo pool has a forecast: {p}");
        let so = &p["stock_out"];
        // The cautious date comes first: 95% ≤ 80% ≤ 50% when they exist.
        let dates: Vec<Option<&str>> = ["p95", "p80", "p50"]
            .iter()
            .map(|k| so[k].as_str())
            .collect();
        for w in dates.windows(2) {
            if let (Some(a), Some(b)) = (w[0], w[1]) {
                assert!(a <= b, "{so}");
            }
            if w[0].is_none() {
                assert!(w[1].is_none(), "{so}");
            }
        }
    }
    // The ledger's sold equals the instances' units for every pool (the overview's
    // usage comes from the instances).
    let (_, overview) = s.get_json("/api/v1/overview", ADMIN_TOKEN).await;
    let mut from_instances = BTreeMap::new();
    for r in overview["regions"].as_array().unwrap() {
        for z in r["zones"].as_array().unwrap() {
            for p in z["pools"].as_array().unwrap() {
                from_instances.insert(p["pool"]["id"].as_str().unwrap().to_owned(), f(&p["used"]));
            }
        }
    }
    for p in pools {
        let id = p["pool_id"].as_str().unwrap();
        let by_ledger = f(&p["sold"]);
        let by_instances = from_instances[id];
        assert!(
            (by_ledger - by_instances).abs() < 1e-6 * by_instances.max(1.0),
            "{id}: ledger {by_ledger} vs instances {by_instances}"
        );
    }
    // Coherent roll-ups: a region's forecast is the sum of its zones', day by day.
    let groups = report["groups"].as_array().unwrap();
    let region = groups.iter().find(|g| g["level"] == "region").unwrap();
    let zones: Vec<&Value> = groups
        .iter()
        .filter(|g| {
            g["level"] == "zone"
                && g["pools"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|p| region["pools"].as_array().unwrap().contains(p))
        })
        .collect();
    assert!(zones.len() > 1);
    for d in [0usize, 30, 119] {
        let whole = f(&region["net_forecast"][d]["mean"]);
        let parts: f64 = zones.iter().map(|z| f(&z["net_forecast"][d]["mean"])).sum();
        assert!(
            (whole - parts).abs() < 1e-6 * whole.abs().max(1.0),
            "day {d}: {whole} vs {parts}"
        );
    }

    // A pool's forecast: intervals nest, components explain, promotions are told.
    let pool = at_risk[0];
    let (status, fc) = s
        .get_json(
            &format!("/api/v1/pools/{pool}/forecast?horizon=60&history=90"),
            ADMIN_TOKEN,
        )
        .await;
    assert_eq!(status, 200, "{fc}");
    assert_eq!(fc["points"].as_array().unwrap().len(), 60);
    assert_eq!(fc["history"].as_array().unwrap().len(), 90);
    for pt in fc["points"].as_array().unwrap() {
        let (lo95, lo80, mean, hi80, hi95) = (
            f(&pt["lo95"]),
            f(&pt["lo80"]),
            f(&pt["median"]),
            f(&pt["hi80"]),
            f(&pt["hi95"]),
        );
        assert!(
            lo95 <= lo80 && lo80 <= mean && mean <= hi80 && hi80 <= hi95,
            "{pt}"
        );
        assert!(pt["components"]["trend"].as_f64().unwrap() > 0.0);
    }
    let promos = fc["promotions"].as_array().unwrap();
    assert!(
        promos
            .iter()
            .any(|p| p["timing"] == "Past" && p["learned_uplift"].is_number()),
        "past promotions are learned from"
    );
    assert_eq!(fc["restock"]["at_risk"], true);
    assert!(f(&fc["restock"]["order_units"]) > 0.0);

    // Per product, zone and region, through the API; bad horizons are refused.
    let product = fc["position"]["product_id"].as_str().unwrap().to_owned();
    let zone = fc["position"]["zone_id"].as_str().unwrap().to_owned();
    let region_id = fc["position"]["region_id"].as_str().unwrap().to_owned();
    for path in [
        format!("/api/v1/products/{product}/forecast"),
        format!("/api/v1/zones/{zone}/forecast"),
        format!("/api/v1/regions/{region_id}/forecast"),
    ] {
        let (status, got) = s.get_json(&path, ADMIN_TOKEN).await;
        assert_eq!(status, 200, "{path}: {got}");
        assert!(got["group"]["pools"]
            .as_array()
            .unwrap()
            .contains(&json!(pool)));
        assert!(
            got["group"]["pools_at_risk"].as_u64().unwrap() >= 1,
            "{path}"
        );
    }
    let (status, got) = s
        .get_json(
            &format!("/api/v1/pools/{pool}/forecast?horizon=0"),
            ADMIN_TOKEN,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(got["error"]["field"], "horizon");
    let (status, got) = s
        .get_json(
            &format!("/api/v1/pools/{pool}/forecast?days=3"),
            ADMIN_TOKEN,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(got["error"]["field"], "days");

    // Backtests say how far to trust it.
    let (status, bt) = s
        .get_json(&format!("/api/v1/pools/{pool}/backtest"), ADMIN_TOKEN)
        .await;
    assert_eq!(status, 200, "{bt}");
    assert!(bt["origins"].as_array().unwrap().len() >= 2);
    assert!(f(&bt["smape"]) > 0.0 && f(&bt["smape"]) < 100.0, "{bt}");
    assert!(f(&bt["mase"]) > 0.0, "{bt}");
}

#[tokio::test]
async fn a_planned_promotion_shows_its_demand_and_shortfalls_per_pool_before_it_is_on_the_calendar()
{
    let s = TestServer::start_demo().await;
    let (_, pools) = s.get_json("/api/v1/pools?limit=1", ADMIN_TOKEN).await;
    let zone = pools["items"][0]["zone_id"].as_str().unwrap().to_owned();
    let (_, z) = s
        .get_json(&format!("/api/v1/zones/{zone}"), ADMIN_TOKEN)
        .await;
    let region = z["region_id"].as_str().unwrap().to_owned();
    let start = s.app.now() + time::Duration::days(20);
    let end = start + time::Duration::days(3);
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let body = json!({"name": "Spring fair", "starts_at": rfc(start), "ends_at": rfc(end),
                      "scope": "region", "region_id": region, "expected_uplift": 4.0});
    let (status, got) = s
        .send_json(Method::POST, "/api/v1/capacity/what-if", ADMIN_TOKEN, &body)
        .await;
    assert_eq!(status, 200, "{got}");
    let impacts = got["pools"].as_array().unwrap();
    assert!(!impacts.is_empty());
    for i in impacts {
        assert!(f(&i["extra_demand"]) > 0.0, "{i}");
        assert!(
            f(&i["reservation_units"]) >= f(&i["demand_with"]) * 0.5,
            "{i}"
        );
    }
    let (_, all_pools) = s.get_json("/api/v1/pools?limit=1000", ADMIN_TOKEN).await;
    let total = all_pools["items"].as_array().unwrap().len();
    assert!(
        impacts.len() < total,
        "pools outside the region are not touched"
    );
    // It was not put on the calendar.
    let (_, promos) = s
        .get_json("/api/v1/promotions?name=Spring%20fair", ADMIN_TOKEN)
        .await;
    assert_eq!(promos["items"].as_array().unwrap().len(), 0);
    // A what-if in the past, or with a bad field, says which field.
    let mut past = body.clone();
    past["starts_at"] = json!(rfc(s.app.now() - time::Duration::days(3)));
    let (status, got) = s
        .send_json(Method::POST, "/api/v1/capacity/what-if", ADMIN_TOKEN, &past)
        .await;
    assert_eq!(status, 400, "{got}");
    assert_eq!(got["error"]["field"], "starts_at");
    let mut bad = body.clone();
    bad["expected_uplift"] = json!(-1);
    let (status, got) = s
        .send_json(Method::POST, "/api/v1/capacity/what-if", ADMIN_TOKEN, &bad)
        .await;
    assert_eq!(status, 422, "{got}");
    assert_eq!(got["error"]["field"], "expected_uplift");
}
