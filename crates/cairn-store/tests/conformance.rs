//! The store conformance suite: one story per behaviour, run against SQLite always and
//! against PostgreSQL when `CAIRN_TEST_POSTGRES_URL` is set (`.ci/run` sets it).

use cairn_domain::*;
use cairn_store::{
    AuditQuery, ListQuery, NewAudit, OwnerFilter, Store, StoreError, TokenRecord, UserRecord,
};

fn now() -> Timestamp {
    time::macros::datetime!(2026-11-25 04:00 UTC)
}

/// A small cloud: one region, zone, product, pool, host, two merchants with instances.
fn fixture() -> (
    Region,
    Zone,
    Product,
    Pool,
    Host,
    Vec<Merchant>,
    Vec<Instance>,
) {
    let region = Region {
        id: "cn-hz".into(),
        name: "华东1 杭州".into(),
    };
    let zone = Zone {
        id: "cn-hz-g".into(),
        region_id: region.id.clone(),
        name: "杭州 G".into(),
    };
    let product = Product {
        id: "ecs".into(),
        name: "ECS".into(),
        unit: "vCPU".into(),
        lead_time_days: 45,
        description: None,
    };
    let pool = Pool {
        id: "ecs-hz-g".into(),
        product_id: product.id.clone(),
        zone_id: zone.id.clone(),
        capacity: 1000.0,
    };
    let host = Host {
        id: "h-1".into(),
        zone_id: zone.id.clone(),
        rack: "r01".into(),
        pool_id: Some(pool.id.clone()),
        state: HostState::Up,
        cpu_cores: 96,
        memory_gib: 384,
        exporter: Some("10.0.0.1:9100".into()),
    };
    let merchants: Vec<Merchant> = (1..=2)
        .map(|i| Merchant {
            id: MerchantId::new(format!("m-{i}")),
            name: format!("店铺{i}"),
            tier: if i == 1 { Tier::Vip } else { Tier::Standard },
            contact_email: None,
        })
        .collect();
    let instances = (0..5)
        .map(|i| Instance {
            id: InstanceId::new(format!("i-{i}")),
            merchant_id: merchants[i % 2].id.clone(),
            product_id: product.id.clone(),
            pool_id: pool.id.clone(),
            host_id: Some(host.id.clone()),
            spec: "ecs.g6.large".into(),
            units: 2.0 + i as f64,
            state: if i == 4 {
                InstanceState::Released
            } else {
                InstanceState::Running
            },
        })
        .collect();
    (region, zone, product, pool, host, merchants, instances)
}

async fn load_fixture(store: &Store) {
    let (region, zone, product, pool, host, merchants, instances) = fixture();
    let mut tx = store.begin().await.unwrap();
    tx.insert(&region).await.unwrap();
    tx.insert(&zone).await.unwrap();
    tx.insert(&product).await.unwrap();
    tx.insert(&pool).await.unwrap();
    tx.insert(&host).await.unwrap();
    tx.insert_many(&merchants).await.unwrap();
    tx.insert_many(&instances).await.unwrap();
    tx.commit().await.unwrap();
}

/// Runs `story` against every configured backend.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                let dir = tempfile::tempdir().unwrap();
                let store = cairn_store::testing::sqlite_in(dir.path()).await.unwrap();
                super::$name(store).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                let Some(url) = cairn_store::testing::postgres_url() else {
                    eprintln!("skipped: {} is not set", cairn_store::testing::POSTGRES_ENV);
                    return;
                };
                let store = cairn_store::testing::postgres(&url).await.unwrap();
                super::$name(store).await;
            })*
        }
    };
}

conformance!(
    records_round_trip_and_list_in_pages,
    owner_filters_keep_tenants_apart,
    writes_that_collide_are_conflicts,
    a_dropped_transaction_leaves_nothing,
    updates_replace_and_deletes_check_references,
    usage_counts_and_audit,
    users_tokens_and_sessions,
);

async fn records_round_trip_and_list_in_pages(store: Store) {
    load_fixture(&store).await;
    let (.., host, _, instances) = fixture();
    let got: Host = store.get("h-1", &OwnerFilter::Any).await.unwrap().unwrap();
    assert_eq!(got, host);
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list::<Instance>(&ListQuery {
                limit: 2,
                cursor,
                ..ListQuery::default()
            })
            .await
            .unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, instances);
    let released = store
        .list::<Instance>(&ListQuery {
            filters: vec![("state", "released".into())],
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(released.items.len(), 1);
    assert_eq!(released.items[0].id.as_str(), "i-4");
    assert!(store
        .get::<Host>("nope", &OwnerFilter::Any)
        .await
        .unwrap()
        .is_none());
}

async fn owner_filters_keep_tenants_apart(store: Store) {
    load_fixture(&store).await;
    let m1 = OwnerFilter::Merchant(MerchantId::new("m-1"));
    let mine = store
        .list::<Instance>(&ListQuery {
            owner: m1.clone(),
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert!(!mine.items.is_empty());
    assert!(mine.items.iter().all(|i| i.merchant_id.as_str() == "m-1"));
    // Another merchant's record is simply not there.
    assert!(store.get::<Instance>("i-1", &m1).await.unwrap().is_none());
    assert!(store.get::<Instance>("i-0", &m1).await.unwrap().is_some());
    assert!(store.get::<Merchant>("m-2", &m1).await.unwrap().is_none());
    // A kind without owners holds nothing of a merchant's: fail closed.
    assert_eq!(store.count(Kind::Host, &m1).await.unwrap(), 0);
    // Shared promotions are visible beside the merchant's own.
    let mut tx = store.begin().await.unwrap();
    for (id, scope, m) in [
        ("p-global", PromotionScope::Global, None),
        ("p-m1", PromotionScope::Merchant, Some("m-1")),
        ("p-m2", PromotionScope::Merchant, Some("m-2")),
    ] {
        tx.insert(&Promotion {
            id: id.into(),
            name: id.into(),
            starts_at: now(),
            ends_at: now() + time::Duration::days(1),
            scope,
            region_id: None,
            merchant_id: m.map(MerchantId::new),
            expected_uplift: 2.0,
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let seen = store
        .all::<Promotion>(&OwnerFilter::MerchantOrShared(MerchantId::new("m-1")))
        .await
        .unwrap();
    let ids: Vec<&str> = seen.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["p-global", "p-m1"]);
}

async fn writes_that_collide_are_conflicts(store: Store) {
    load_fixture(&store).await;
    let (region, ..) = fixture();
    let mut tx = store.begin().await.unwrap();
    let err = tx.insert(&region).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    let dangling = Zone {
        id: "z-x".into(),
        region_id: "no-such".into(),
        name: "x".into(),
    };
    let err = tx.insert(&dangling).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

async fn a_dropped_transaction_leaves_nothing(store: Store) {
    let (region, zone, ..) = fixture();
    {
        let mut tx = store.begin().await.unwrap();
        tx.insert(&region).await.unwrap();
        tx.insert(&zone).await.unwrap();
        assert!(tx.exists(Kind::Zone, "cn-hz-g").await.unwrap());
    }
    assert_eq!(
        store.count(Kind::Region, &OwnerFilter::Any).await.unwrap(),
        0
    );
    assert_eq!(store.count(Kind::Zone, &OwnerFilter::Any).await.unwrap(), 0);
}

async fn updates_replace_and_deletes_check_references(store: Store) {
    load_fixture(&store).await;
    let (.., mut pool, _, _, _) = fixture();
    pool.capacity = 2000.0;
    let mut tx = store.begin().await.unwrap();
    tx.update(&pool).await.unwrap();
    let err = tx.delete(Kind::Pool, "ecs-hz-g").await.unwrap_err();
    match err {
        StoreError::Conflict(m) => assert!(m.contains("referenced by"), "{m}"),
        other => panic!("{other:?}"),
    }
    tx.delete(Kind::Instance, "i-4").await.unwrap();
    let err = tx.delete(Kind::Instance, "i-4").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }));
    tx.commit().await.unwrap();
    let got: Pool = store
        .get("ecs-hz-g", &OwnerFilter::Any)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.capacity, 2000.0);
    assert_eq!(
        store
            .count(Kind::Instance, &OwnerFilter::Any)
            .await
            .unwrap(),
        4
    );
}

async fn usage_counts_and_audit(store: Store) {
    load_fixture(&store).await;
    // Released instances free their units: 2 + 3 + 4 + 5.
    assert_eq!(
        store.pool_usage().await.unwrap(),
        vec![("ecs-hz-g".to_owned(), 14.0)]
    );
    assert_eq!(
        store
            .count(Kind::Merchant, &OwnerFilter::Any)
            .await
            .unwrap(),
        2
    );
    let mut tx = store.begin().await.unwrap();
    for i in 0..3 {
        tx.audit(NewAudit {
            at: now(),
            actor: "user:alice",
            action: "update",
            kind: "pools",
            record_id: "ecs-hz-g",
            before: Some(serde_json::json!({"capacity": i})),
            after: Some(serde_json::json!({"capacity": i + 1})),
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let page = store
        .audit(&AuditQuery {
            kind: Some("pools".into()),
            limit: 2,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(
        page.items[0].after,
        Some(serde_json::json!({"capacity": 3}))
    );
    let rest = store
        .audit(&AuditQuery {
            limit: 2,
            before_seq: page.next_cursor.map(|c| c.parse().unwrap()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.next_cursor, None);
}

async fn users_tokens_and_sessions(store: Store) {
    load_fixture(&store).await;
    let user = UserRecord {
        id: "u-1".into(),
        name: "alice".into(),
        password_hash: "$argon2id$...".into(),
        role: Role::Merchant,
        merchant_id: Some(MerchantId::new("m-1")),
        created_at: now(),
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_user(&user).await.unwrap();
    let dup = tx
        .insert_user(&UserRecord {
            id: "u-2".into(),
            ..user.clone()
        })
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(m)) if m.contains("alice")));
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    tx.insert_user(&user).await.unwrap();
    tx.insert_token(&TokenRecord {
        id: "t-1".into(),
        secret_hash: "abc".into(),
        name: "ci".into(),
        role: Role::Admin,
        merchant_id: None,
        created_by: "bootstrap".into(),
        created_at: now(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.user_by_name("alice").await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(
        store.token_by_hash("abc").await.unwrap().unwrap().role,
        Role::Admin
    );
    assert_eq!(store.count_tokens().await.unwrap(), 1);
    store
        .insert_session("s1", "u-1", now() + time::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(store.session_user("s1", now()).await.unwrap(), Some(user));
    assert_eq!(
        store
            .session_user("s1", now() + time::Duration::hours(2))
            .await
            .unwrap(),
        None
    );
    store.delete_session("s1").await.unwrap();
    assert_eq!(store.session_user("s1", now()).await.unwrap(), None);
}
