//! The demo cloud's sales history: two years of daily units sold (allocated) and
//! released per pool, ending on `today`, for the capacity loop to forecast from.
//!
//! [`generate`] shapes each pool's sales from
//! - growth (each pool its own rate, the busiest pools growing fastest),
//! - a working-week pattern (weekends at about two thirds) and a yearly swing that
//!   peaks in the autumn,
//! - the promotion calendar: Double 11 and 618 (a presale window building up to the
//!   festival day, with a ramp before and after), the regional fairs and the VIP
//!   merchants' own sales (reaching only that merchant's share of a pool). Realised
//!   uplifts differ from the business's `expected_uplift` on purpose, as they do in
//!   life: the festivals fall short of the expectation and the merchants' own sales
//!   exceed it, so a forecast that learns from history beats one that trusts the
//!   calendar. Products differ in how much a promotion moves them (ECS most, OSS least).
//! - releases: merchants hand back part of what they bought over the following weeks,
//!   promotion capacity included.
//!
//! The history covers more promotions than the demo calendar holds (it keeps only the
//! latest and the next of each), so the earlier occurrences it needs are returned in
//! [`DemoSales::past_promotions`], in the calendar's id scheme, for loading alongside.
//!
//! Invariant: for every pool, Σ sold − Σ released equals the units of its live (not
//! released) instances, so a ledger built from this history agrees with the instances.
//! The cumulative net never goes below zero or above the pool's capacity.
//!
//! The hot pools of the demo are close to full; with their growth some will run out
//! within their product's lead time. [`DemoSales::planned_capacity_changes`] lists the
//! hardware already on order for two of them, so that the capacity screens show both a
//! pool whose order will arrive in time and pools that still need one.
//!
//! Pure and deterministic: a private splitmix64 stream with a fixed seed, no I/O.

use std::collections::{BTreeSet, HashMap};

use time::{Date, Duration, UtcOffset};

use crate::demo::DemoCloud;
use crate::{InstanceState, MerchantId, PoolId, Promotion, PromotionId, PromotionScope};

/// Days of history generated, ending on `today` inclusive.
pub const HISTORY_DAYS: usize = 730;

/// One pool's history: `sold[i]` and `released[i]` are the units of day `start + i`.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSales {
    pub pool_id: PoolId,
    pub sold: Vec<f64>,
    pub released: Vec<f64>,
}

/// Whether a capacity change has happened or is on order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeStatus {
    Planned,
    Done,
}

/// A dated change of a pool's capacity: hardware arriving (+) or retired (−).
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityChange {
    pub pool_id: PoolId,
    pub date: Date,
    pub delta: f64,
    pub status: ChangeStatus,
    pub note: String,
}

/// The generated history.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoSales {
    /// The first day of history; the last is `today`.
    pub start: Date,
    pub today: Date,
    pub pools: Vec<PoolSales>,
    /// Promotions inside the history that the demo calendar lacks (earlier occurrences
    /// of its festivals and brand days).
    pub past_promotions: Vec<Promotion>,
    /// Hardware on order for some hot pools, arriving after `today`.
    pub planned_capacity_changes: Vec<CapacityChange>,
}

impl DemoSales {
    /// The date of day index `i`.
    pub fn date(&self, i: usize) -> Date {
        self.start + Duration::days(i as i64)
    }
}

/// China Standard Time, in which the calendar's days are counted.
const CST: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

/// The fixed seed of the sales stream.
const SEED: u64 = 0x5A1E_5D0C_2026_0618;

/// How strongly a product's sales follow a promotion (share of the promotion's excess).
fn sensitivity(product: &str) -> f64 {
    match product {
        "ecs" => 1.0,
        "slb" => 0.9,
        "rds" => 0.7,
        "ots" => 0.5,
        "odps" => 0.4,
        "oss" => 0.25,
        _ => 0.5,
    }
}

/// Realised excess ÷ the business's expected excess, by scope: festivals are
/// over-expected, merchants' own sales under-expected.
fn realisation(scope: PromotionScope) -> f64 {
    match scope {
        PromotionScope::Global => 0.6,
        PromotionScope::Region => 0.85,
        PromotionScope::Merchant => 1.25,
    }
}

/// The window's day-by-day weights of a promotion's excess (averaging 1): festivals build
/// up through their presale to the festival day; other promotions are flat.
fn window_weights(p: &Promotion, days: usize) -> Vec<f64> {
    if p.scope != PromotionScope::Global || days < 2 {
        return vec![1.0; days];
    }
    let raw: Vec<f64> = (0..days)
        .map(|i| {
            let x = i as f64 / (days - 1) as f64;
            0.4 + 3.0 * x.powi(4)
        })
        .collect();
    let mean = raw.iter().sum::<f64>() / days as f64;
    raw.iter().map(|w| w / mean).collect()
}

/// Ramp days before (nearest first) and after the window, as shares of the excess.
const RAMP_BEFORE: [f64; 2] = [0.3, 0.12];
const RAMP_AFTER: [f64; 2] = [0.45, 0.15];

/// The promotion's local first and last day.
fn days_of(p: &Promotion) -> (Date, Date) {
    (
        p.starts_at.to_offset(CST).date(),
        p.ends_at.to_offset(CST).date(),
    )
}

/// Every promotion the history and the demo calendar hold, the demo's own first: the
/// calendar of `cloud` plus its festivals and brand days moved back one and two years
/// while they still touch the history.
pub fn calendar(cloud: &DemoCloud, today: Date) -> Vec<Promotion> {
    let mut all = cloud.promotions.clone();
    all.extend(past_promotions(cloud, today));
    all
}

/// The earlier occurrences the history needs and the demo calendar lacks.
pub fn past_promotions(cloud: &DemoCloud, today: Date) -> Vec<Promotion> {
    let start = today - Duration::days(HISTORY_DAYS as i64 - 1);
    let known: BTreeSet<&str> = cloud.promotions.iter().map(|p| p.id.as_str()).collect();
    let mut out: Vec<Promotion> = Vec::new();
    for p in &cloud.promotions {
        for years in 1..=3 {
            let Some(moved) = moved_back(p, years) else {
                continue;
            };
            let (first, last) = days_of(&moved);
            if last < start || first > today {
                continue;
            }
            if known.contains(moved.id.as_str()) || out.iter().any(|q| q.id == moved.id) {
                continue;
            }
            out.push(moved);
        }
    }
    out.sort_by(|a, b| a.starts_at.cmp(&b.starts_at).then(a.id.cmp(&b.id)));
    out
}

/// The same promotion `years` earlier, its id re-dated and its expectation a little
/// lower (each year's is planned a little bigger). `None` for a 29 February.
fn moved_back(p: &Promotion, years: i32) -> Option<Promotion> {
    let shift = |t: time::OffsetDateTime| -> Option<time::OffsetDateTime> {
        let local = t.to_offset(CST);
        let d = local.date();
        let moved = Date::from_calendar_date(d.year() - years, d.month(), d.day()).ok()?;
        Some(local.replace_date(moved).to_offset(UtcOffset::UTC))
    };
    let starts_at = shift(p.starts_at)?;
    let ends_at = shift(p.ends_at)?;
    let first = starts_at.to_offset(CST).date();
    let id = redate(p.id.as_str(), first, years)?;
    let expected = (p.expected_uplift * 0.93f64.powi(years) * 10.0).round() / 10.0;
    let name = match p.name.split_once(' ') {
        Some((y, rest)) if y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{} {rest}", first.year())
        }
        _ => p.name.clone(),
    };
    Some(Promotion {
        id: PromotionId::new(id),
        name,
        starts_at,
        ends_at,
        expected_uplift: expected.max(1.1),
        ..p.clone()
    })
}

/// `promo-x-2026` → `promo-x-2025`; `promo-m-1-20261216` → `promo-m-1-20251216`.
fn redate(id: &str, first: Date, years: i32) -> Option<String> {
    let (stem, tail) = id.rsplit_once('-')?;
    if !tail.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match tail.len() {
        4 => Some(format!("{stem}-{}", tail.parse::<i32>().ok()? - years)),
        8 => Some(format!(
            "{stem}-{:04}{:02}{:02}",
            first.year(),
            u8::from(first.month()),
            first.day()
        )),
        _ => None,
    }
}

/// Generates the history ending on `today` for `cloud` (normally `demo::generate(today)`).
pub fn generate(cloud: &DemoCloud, today: Date) -> DemoSales {
    let start = today - Duration::days(HISTORY_DAYS as i64 - 1);
    let promotions = calendar(cloud, today);
    let region_of_zone: HashMap<_, _> = cloud.zones.iter().map(|z| (&z.id, &z.region_id)).collect();
    // Live units per pool and per (pool, merchant), for the totals and the reach of
    // merchants' sales.
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

    let mut rng = Rng(SEED);
    let mut pools = Vec::with_capacity(cloud.pools.len());
    for pool in &cloud.pools {
        let total = used.get(&pool.id).copied().unwrap_or(0.0);
        let utilisation = if pool.capacity > 0.0 {
            total / pool.capacity
        } else {
            0.0
        };
        // Busy pools are busy because they grow fast.
        let growth = 0.25 + 0.35 * utilisation + 0.15 * rng.unit();
        let release_share = 0.25 + 0.2 * rng.unit();
        let sens = sensitivity(pool.product_id.as_str());
        let region = region_of_zone.get(&pool.zone_id).copied();
        let mut multiplier = vec![1.0; HISTORY_DAYS];
        for p in &promotions {
            let reach = match p.scope {
                PromotionScope::Global => 1.0,
                PromotionScope::Region => {
                    if p.region_id.as_ref() == region {
                        1.0
                    } else {
                        0.0
                    }
                }
                PromotionScope::Merchant => p.merchant_id.as_ref().map_or(0.0, |m| {
                    by_merchant.get(&(&pool.id, m)).copied().unwrap_or(0.0) / total.max(1e-9)
                }),
            };
            if reach <= 0.0 {
                continue;
            }
            let excess = realisation(p.scope) * sens * (p.expected_uplift - 1.0) * reach;
            let (first, last) = days_of(p);
            let len = ((last - first).whole_days() + 1).max(1) as usize;
            let mut apply = |d: Date, share: f64| {
                let i = (d - start).whole_days();
                if i >= 0 && (i as usize) < HISTORY_DAYS {
                    multiplier[i as usize] *= 1.0 + excess * share;
                }
            };
            for (k, w) in window_weights(p, len).iter().enumerate() {
                apply(first + Duration::days(k as i64), *w);
            }
            for (k, w) in RAMP_BEFORE.iter().enumerate() {
                apply(first - Duration::days(k as i64 + 1), *w);
            }
            for (k, w) in RAMP_AFTER.iter().enumerate() {
                apply(last + Duration::days(k as i64 + 1), *w);
            }
        }
        let mut sold: Vec<f64> = (0..HISTORY_DAYS)
            .map(|i| {
                let d = start + Duration::days(i as i64);
                let t = i as f64 / 365.25;
                let weekly = match d.weekday() {
                    time::Weekday::Saturday => 0.68,
                    time::Weekday::Sunday => 0.62,
                    time::Weekday::Monday => 1.08,
                    _ => 1.0,
                };
                let yearly = 1.0
                    + 0.08
                        * (std::f64::consts::TAU * (f64::from(d.ordinal()) - 290.0) / 365.25).cos();
                let noise = (0.12 * rng.normal()).exp();
                (1.0 + growth).powf(t) * weekly * yearly * multiplier[i] * noise
            })
            .collect();
        // Releases: a share of what was bought 15 to 44 days earlier, spread evenly, so
        // promotion capacity comes back in the weeks after a promotion.
        let mut released: Vec<f64> = (0..HISTORY_DAYS)
            .map(|i| {
                let lo = i.saturating_sub(44);
                let hi = i.saturating_sub(15);
                let window = &sold[lo..hi];
                let bought = if window.is_empty() {
                    0.0
                } else {
                    window.iter().sum::<f64>() / 30.0
                };
                release_share * bought * (0.15 * rng.normal()).exp()
            })
            .collect();
        // Scale both so the net is exactly the pool's live units.
        let net: f64 = sold.iter().sum::<f64>() - released.iter().sum::<f64>();
        let k = if net > 0.0 { total / net } else { 0.0 };
        sold.iter_mut().for_each(|v| *v *= k);
        released.iter_mut().for_each(|v| *v *= k);
        pools.push(PoolSales {
            pool_id: pool.id.clone(),
            sold,
            released,
        });
    }
    DemoSales {
        start,
        today,
        pools,
        past_promotions: past_promotions(cloud, today),
        planned_capacity_changes: planned_capacity_changes(cloud, today),
    }
}

/// Hardware on order: Shanghai E's nearly full SLB pool and the MaxCompute pools of
/// Hangzhou G and Beijing G get an arrival inside their lead time, so they are covered;
/// the hot ECS and RDS pools in Hangzhou have none and are the ones at risk.
pub fn planned_capacity_changes(cloud: &DemoCloud, today: Date) -> Vec<CapacityChange> {
    let plans: [(&str, i64, f64, &str); 3] = [
        (
            "pool-slb-cn-shanghai-e",
            12,
            0.25,
            "two SLB clusters ordered in October",
        ),
        (
            "pool-odps-cn-hangzhou-g",
            20,
            0.3,
            "MaxCompute expansion batch 2",
        ),
        (
            "pool-odps-cn-beijing-g",
            30,
            0.3,
            "MaxCompute expansion batch 3",
        ),
    ];
    plans
        .iter()
        .filter_map(|&(id, days, share, note)| {
            let pool = cloud.pools.iter().find(|p| p.id.as_str() == id)?;
            Some(CapacityChange {
                pool_id: pool.id.clone(),
                date: today + Duration::days(days),
                delta: (pool.capacity * share).round(),
                status: ChangeStatus::Planned,
                note: note.to_owned(),
            })
        })
        .collect()
}

/// splitmix64, as the demo's generator uses; a separate stream so that the fleet does
/// not change when the sales do.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A standard normal draw (Box–Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use time::macros::date;
    use time::Month;

    use super::*;
    use crate::demo;

    const TODAY: Date = date!(2026 - 11 - 25);

    fn fixture() -> &'static (DemoCloud, DemoSales) {
        static F: OnceLock<(DemoCloud, DemoSales)> = OnceLock::new();
        F.get_or_init(|| {
            let cloud = demo::generate(TODAY);
            let sales = generate(&cloud, TODAY);
            (cloud, sales)
        })
    }

    #[test]
    fn every_pool_nets_out_to_its_live_instances_and_never_overflows() {
        let (cloud, sales) = fixture();
        assert_eq!(sales.pools.len(), cloud.pools.len());
        assert_eq!(sales.start, date!(2024 - 11 - 26));
        for (pool, s) in cloud.pools.iter().zip(&sales.pools) {
            assert_eq!(pool.id, s.pool_id);
            assert_eq!(s.sold.len(), HISTORY_DAYS);
            let live: f64 = cloud
                .instances
                .iter()
                .filter(|i| i.pool_id == pool.id && i.state != InstanceState::Released)
                .map(|i| i.units)
                .sum();
            let net: f64 = s.sold.iter().sum::<f64>() - s.released.iter().sum::<f64>();
            assert!(
                (net - live).abs() <= 1e-6 * live.max(1.0),
                "{}: {net} vs {live}",
                pool.id
            );
            let mut cum = 0.0;
            for (a, b) in s.sold.iter().zip(&s.released) {
                assert!(*a >= 0.0 && *b >= 0.0);
                cum += a - b;
                assert!(cum >= -1e-9, "{} goes below zero", pool.id);
                assert!(cum <= pool.capacity * (1.0 + 1e-9), "{} overflows", pool.id);
            }
        }
    }

    #[test]
    fn the_same_day_gives_the_same_history() {
        let (cloud, sales) = fixture();
        assert_eq!(&generate(cloud, TODAY), sales);
    }

    #[test]
    fn double_11_towers_over_ordinary_days_and_the_history_has_its_past_occurrences() {
        let (_, sales) = fixture();
        let ids: Vec<&str> = sales
            .past_promotions
            .iter()
            .map(|p| p.id.as_str())
            .collect();
        assert!(ids.contains(&"promo-double11-2025"), "{ids:?}");
        assert!(ids.contains(&"promo-618-2025"), "{ids:?}");
        assert!(
            !ids.contains(&"promo-double11-2026"),
            "already in the demo calendar"
        );
        for p in &sales.past_promotions {
            assert!(p.expected_uplift > 1.0);
            if p.id.as_str().starts_with("promo-double11") {
                assert_eq!(days_of(p).1.month(), Month::November);
            }
        }
        let ecs = sales
            .pools
            .iter()
            .find(|p| p.pool_id.as_str() == "pool-ecs-cn-hangzhou-h")
            .unwrap();
        let at = |d: Date| ecs.sold[(d - sales.start).whole_days() as usize];
        let festival = at(date!(2026 - 11 - 11));
        let ordinary = (1..=7)
            .map(|k| at(date!(2026 - 10 - 14) + Duration::days(k)))
            .sum::<f64>()
            / 7.0;
        assert!(festival > 8.0 * ordinary, "{festival} vs {ordinary}");
    }
}
