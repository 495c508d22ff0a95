//! Alerts joined to the model, and correlated into problems.

use cairn_alert::labels::fingerprint;
use cairn_alert::problems::{correlate, impact, AffectedMerchant, AlertOnServices, Edge, Model};
use cairn_alert::Fingerprint;
use cairn_domain::{HostId, PoolId, ServiceId, Tier, ZoneId};

use crate::support::ls;

fn fp(name: &str) -> Fingerprint {
    fingerprint(&ls(&[("alertname", name)]))
}

fn on(name: &str, services: &[&str]) -> AlertOnServices {
    AlertOnServices {
        fingerprint: fp(name),
        services: services.iter().map(|s| ServiceId::from(*s)).collect(),
    }
}

fn edges(pairs: &[(&str, &str)]) -> Vec<Edge> {
    pairs
        .iter()
        .map(|(a, b)| Edge {
            caller: ServiceId::from(*a),
            callee: ServiceId::from(*b),
        })
        .collect()
}

fn shop_topology() -> Vec<Edge> {
    edges(&[
        ("shop-web", "checkout"),
        ("checkout", "payment"),
        ("checkout", "inventory"),
        ("payment", "mysql-primary"),
        ("inventory", "redis"),
        ("search", "elasticsearch"),
    ])
}

#[test]
fn the_most_upstream_failing_dependency_is_the_root() {
    let alerts = vec![
        on("CheckoutErrors", &["checkout"]),
        on("CheckoutLatency", &["checkout"]),
        on("PaymentTimeouts", &["payment"]),
        on("MysqlConnections", &["mysql-primary"]),
        on("SearchSlow", &["search"]),
    ];
    let problems = correlate(&alerts, &shop_topology());
    assert_eq!(problems.len(), 2);
    let shop = problems.iter().find(|p| p.services.len() == 3).unwrap();
    assert_eq!(shop.root, Some(ServiceId::from("mysql-primary")));
    assert_eq!(shop.explanation, "checkout → payment → mysql-primary");
    assert_eq!(shop.alerts.len(), 4);
    let search = problems.iter().find(|p| p.services.len() == 1).unwrap();
    assert_eq!(search.explanation, "search");

    // The answer does not depend on the order alerts arrive in.
    let mut reversed = alerts.clone();
    reversed.reverse();
    assert_eq!(correlate(&reversed, &shop_topology()), problems);
}

#[test]
fn dependencies_through_healthy_services_still_join_and_are_named() {
    let alerts = vec![on("ShopDown", &["shop-web"]), on("RedisOOM", &["redis"])];
    let problems = correlate(&alerts, &shop_topology());
    assert_eq!(problems.len(), 1);
    assert_eq!(
        problems[0].explanation,
        "shop-web → checkout (healthy) → inventory (healthy) → redis"
    );
}

#[test]
fn among_independent_failing_dependencies_the_one_with_more_evidence_wins() {
    let e = edges(&[("api", "db"), ("api", "cache")]);
    let alerts = vec![
        on("ApiErrors", &["api"]),
        on("CacheMiss", &["cache"]),
        on("DbSlow", &["db"]),
        on("DbDisk", &["db"]),
    ];
    let p = &correlate(&alerts, &e)[0];
    assert_eq!(p.root, Some(ServiceId::from("db")));
    assert_eq!(p.other_candidates, [ServiceId::from("cache")]);
    assert_eq!(p.explanation, "api → db");
}

#[test]
fn cycles_and_serviceless_alerts_do_not_break_it() {
    let e = edges(&[("x", "y"), ("y", "x")]);
    let problems = correlate(&[on("X", &["x"]), on("Y", &["y"]), on("Lonely", &[])], &e);
    assert_eq!(problems.len(), 2);
    let cyc = problems.iter().find(|p| p.root.is_some()).unwrap();
    assert_eq!(cyc.root, Some(ServiceId::from("x")), "smallest id on a tie");
    let lonely = problems.iter().find(|p| p.root.is_none()).unwrap();
    assert_eq!(lonely.alerts, [fp("Lonely")]);
}

/// A small cloud: two hosts in pool ecs-hz-a of zone hz-a, merchants on them.
struct Cloud;

impl Model for Cloud {
    fn host(&self, name: &str) -> Option<HostId> {
        ["db-1.hz", "web-1.hz"]
            .contains(&name)
            .then(|| HostId::from(name))
    }
    fn host_pool(&self, _: &HostId) -> Option<PoolId> {
        Some(PoolId::from("ecs-hz-a"))
    }
    fn host_zone(&self, _: &HostId) -> Option<ZoneId> {
        Some(ZoneId::from("hz-a"))
    }
    fn service(&self, id: &str) -> Option<ServiceId> {
        (id == "checkout").then(|| ServiceId::from(id))
    }
    fn pool(&self, id: &str) -> Option<PoolId> {
        id.starts_with("ecs-").then(|| PoolId::from(id))
    }
    fn pool_zone(&self, _: &PoolId) -> Option<ZoneId> {
        Some(ZoneId::from("hz-a"))
    }
    fn zone(&self, id: &str) -> Option<ZoneId> {
        Some(ZoneId::from(id))
    }
    fn merchant(&self, id: &str) -> Option<AffectedMerchant> {
        Some(m(id, Tier::Standard, 0))
    }
    fn merchants_on(
        &self,
        hosts: &[HostId],
        pools: &[PoolId],
        _: &[ServiceId],
    ) -> Vec<AffectedMerchant> {
        let mut out = Vec::new();
        if hosts.iter().any(|h| h.as_str() == "db-1.hz") {
            out.extend([
                m("m-small", Tier::Standard, 5),
                m("m-tmall-vip", Tier::Vip, 1),
                m("m-big", Tier::Standard, 9),
            ]);
        }
        if !pools.is_empty() {
            out.push(m("m-pool", Tier::Vip, 40));
        }
        out
    }
}

fn m(id: &str, tier: Tier, instances: usize) -> AffectedMerchant {
    AffectedMerchant {
        id: id.into(),
        name: id.to_uppercase(),
        tier,
        instances,
    }
}

#[test]
fn an_alert_knows_its_hosts_pools_and_merchants_vips_first() {
    let i = impact(
        &ls(&[("alertname", "DiskFull"), ("instance", "db-1.hz:9100")]),
        &Cloud,
    );
    assert_eq!(i.hosts, [HostId::from("db-1.hz")]);
    assert_eq!(i.pools, [PoolId::from("ecs-hz-a")]);
    assert_eq!(i.zones, [ZoneId::from("hz-a")]);
    let ids: Vec<&str> = i.merchants.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["m-tmall-vip", "m-big", "m-small"]);
    assert_eq!((i.merchant_count, i.vip_count), (3, 1));

    // A pool-wide alert names the pool's merchants.
    let i = impact(
        &ls(&[("alertname", "PoolStockLow"), ("pool", "ecs-hz-a")]),
        &Cloud,
    );
    assert_eq!(i.merchants[0].id.as_str(), "m-pool");
    // Unknown things are simply not found.
    let i = impact(
        &ls(&[("alertname", "X"), ("instance", "10.9.9.9:9100")]),
        &Cloud,
    );
    assert!(i.hosts.is_empty() && i.merchants.is_empty());
}
