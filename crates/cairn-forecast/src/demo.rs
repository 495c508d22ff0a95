//! The demo cloud's pools as forecasting cases: their sales history, the calendar as it
//! reaches each pool, the stock position and the product's restock policy. Used by the
//! benchmark and the tests, and a template for building cases from a store.

use std::collections::HashMap;

use time::Date;

use cairn_domain::demo::DemoCloud;
use cairn_domain::demo_sales::{self, DemoSales};
use cairn_domain::{InstanceState, MerchantId, PoolId};

use crate::calendar;
use crate::demand::DailySeries;
use crate::hierarchy::PoolPlace;
use crate::outlook::PoolCase;
use crate::stock::{DatedUnits, RestockPolicy, StockPosition};

/// The review period of the demo's restock advice: a fortnight between orders.
pub const REVIEW_DAYS: u32 = 14;
/// The service level the demo plans for.
pub const SERVICE_LEVEL: f64 = 0.95;

/// One case per pool of `cloud`, in its order, with where each pool sits.
pub fn pool_cases(cloud: &DemoCloud, sales: &DemoSales) -> Vec<(PoolPlace, PoolCase)> {
    let promotions = demo_sales::calendar(cloud, sales.today);
    let region_of: HashMap<_, _> = cloud.zones.iter().map(|z| (&z.id, &z.region_id)).collect();
    let lead: HashMap<_, _> = cloud
        .products
        .iter()
        .map(|p| (&p.id, p.lead_time_days))
        .collect();
    let mut used: HashMap<&PoolId, f64> = HashMap::new();
    let mut by_merchant: HashMap<(&PoolId, &MerchantId), f64> = HashMap::new();
    for i in cloud
        .instances
        .iter()
        .filter(|i| i.state != InstanceState::Released)
    {
        *used.entry(&i.pool_id).or_default() += i.units;
        *by_merchant.entry((&i.pool_id, &i.merchant_id)).or_default() += i.units;
    }
    cloud
        .pools
        .iter()
        .zip(&sales.pools)
        .map(|(pool, s)| {
            let region = region_of[&pool.zone_id].clone();
            let total = used.get(&pool.id).copied().unwrap_or(0.0);
            let events = promotions
                .iter()
                .filter_map(|p| {
                    let r = calendar::reach(p, &region, |m| {
                        by_merchant.get(&(&pool.id, m)).copied().unwrap_or(0.0) / total.max(1e-9)
                    });
                    calendar::event(p, r)
                })
                .collect();
            let changes = sales
                .planned_capacity_changes
                .iter()
                .filter(|c| c.pool_id == pool.id)
                .map(|c| DatedUnits {
                    date: c.date,
                    units: c.delta,
                })
                .collect();
            let place = PoolPlace {
                pool_id: pool.id.clone(),
                product_id: pool.product_id.clone(),
                zone_id: pool.zone_id.clone(),
                region_id: region,
            };
            let case = PoolCase {
                pool_id: pool.id.clone(),
                sales: DailySeries::new(sales.start, s.sold.clone()),
                releases: Some(DailySeries::new(sales.start, s.released.clone())),
                promotions: events,
                stock: StockPosition {
                    today: sales.today,
                    stock_left: pool.capacity - total,
                    capacity_changes: changes,
                    reservations: Vec::new(),
                },
                policy: RestockPolicy {
                    lead_time_days: lead.get(&pool.product_id).copied().unwrap_or(45),
                    review_days: REVIEW_DAYS,
                    service_level: SERVICE_LEVEL,
                },
            };
            (place, case)
        })
        .collect()
}

/// The date the benchmark and the tests generate the demo for: a fixed day, so their
/// figures do not move with the calendar.
pub fn bench_today() -> Date {
    Date::from_calendar_date(2026, time::Month::November, 25).expect("a valid date")
}
