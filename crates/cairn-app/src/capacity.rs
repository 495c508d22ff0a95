//! The capacity loop: the stock ledger of every pool and what the forecasts say of it.
//!
//! - **Ledger.** Sales and releases are appended (`POST /api/v1/ledger`, bulk, the demo)
//!   and written with every instance write in the same transaction, so that the ledger's
//!   net per pool always equals the units of the pool's live instances. Capacity
//!   changes and reservations are records of the model; marking a change done adds its
//!   units to the pool's capacity in the same write.
//! - **Outlook.** For every pool the store's history (sales and releases by day), the
//!   promotion calendar as it reaches the pool, the stock position and the product's
//!   lead time become a [`cairn_forecast::outlook::PoolCase`]; the forecasts, stock-out
//!   dates, restock advice and coherent roll-ups are computed off the async threads and
//!   kept until something that feeds them changes (a version counter every capacity
//!   write bumps) or the day turns.
//!
//! Capacity is the platform's infrastructure: merchants may read none of it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cairn_domain::capacity::{self as cap, date_format};
use cairn_domain::{
    CapacityChange, ChangeStatus, DailyLedger, Entity, Instance, Kind, LedgerEntry, LedgerSource,
    Pool, Principal, Product, Promotion, Reservation, StockDay, Zone,
};
use cairn_forecast::backtest::{backtest, BacktestConfig};
use cairn_forecast::calendar;
use cairn_forecast::demand::{DailySeries, DayForecast, DemandConfig, FitSummary, SamplePaths};
use cairn_forecast::hierarchy::{bands, roll_up, Band, Level, PoolPlace};
use cairn_forecast::outlook::{pool_outlook, what_if, PlannedPromotion, PoolCase, PoolImpact};
use cairn_forecast::stock::{DatedUnits, RestockAdvice, RestockPolicy, StockOut, StockPosition};
use cairn_store::{NewAudit, OwnerFilter, Tx};
use serde::Serialize;
use serde_json::Value;
use time::{Date, Duration};

use crate::records::read_filter;

use crate::{App, AppError, Result};
pub use cairn_forecast::backtest::Backtest;
pub use cairn_forecast::calendar::CALENDAR_OFFSET;
pub use cairn_forecast::demand::{PromotionEffect, Timing};

/// Days of history the forecasts read.
pub const HISTORY_DAYS: i64 = 730;
/// The horizon of the capacity overview: past the longest lead time plus a review.
pub const DEFAULT_HORIZON: usize = 120;
/// The longest horizon a forecast may be asked for.
pub const MAX_HORIZON: usize = 730;
/// Days between orders that restock advice covers beyond the lead time.
pub const REVIEW_DAYS: u32 = 14;
/// The probability of not running out that restock advice aims for.
pub const SERVICE_LEVEL: f64 = 0.95;
/// Sample paths per forecast: enough for stable 95% intervals.
const PATHS: usize = 300;

/// The overview's cache and the version of the data it was computed from.
#[derive(Default)]
pub struct CapacityState {
    version: AtomicU64,
    report: tokio::sync::Mutex<Option<Arc<CapacityReport>>>,
    backtests: std::sync::Mutex<HashMap<String, CachedBacktest>>,
}

/// A pool's backtest with the data version and the day it was computed for.
type CachedBacktest = (u64, Date, Arc<Backtest>);

impl CapacityState {
    /// Marks every computed outlook stale.
    pub fn touch(&self) {
        self.version.fetch_add(1, Ordering::Relaxed);
    }

    fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }
}

/// Where a pool stands today.
#[derive(Debug, Clone, Serialize)]
pub struct PoolPosition {
    pub pool_id: String,
    pub product_id: String,
    pub zone_id: String,
    pub region_id: String,
    pub unit: String,
    pub lead_time_days: u32,
    pub capacity: f64,
    /// Net units sold, from the ledger.
    pub sold: f64,
    pub reserved: f64,
    pub stock_left: f64,
    /// (sold + reserved) / capacity.
    pub utilisation: f64,
}

/// One pool in the overview: position, outlook summary and advice.
#[derive(Debug, Clone, Serialize)]
pub struct PoolSummary {
    #[serde(flatten)]
    pub position: PoolPosition,
    pub stock_out: Option<StockOut>,
    /// Days from today to the stock-out at 80%, if within the horizon.
    pub days_to_stock_out_p80: Option<i64>,
    pub restock: Option<RestockAdvice>,
    /// Why there is no outlook (too little history), when there is none.
    pub note: Option<String>,
}

/// A roll-up of pools to a product, zone, region or the whole cloud.
#[derive(Debug, Clone, Serialize)]
pub struct GroupSummary {
    pub level: &'static str,
    pub key: String,
    pub pools: Vec<String>,
    pub capacity: f64,
    pub sold: f64,
    pub reserved: f64,
    pub stock_left: f64,
    pub utilisation: f64,
    pub pools_at_risk: usize,
    pub order_units: f64,
    /// The earliest stock-out at 80% among its pools.
    pub earliest_stock_out_p80: Option<Date>,
    /// Net consumption (sales less releases) forecast by day, summed path by path.
    pub net_forecast: Vec<Band>,
    /// Sales forecast by day, summed path by path.
    pub sales_forecast: Vec<Band>,
}

/// A pool's whole outlook, as the API and the pool page show it.
#[derive(Debug, Clone, Serialize)]
pub struct PoolForecast {
    pub today: Date,
    pub horizon: usize,
    pub position: PoolPosition,
    /// The last `history_days` days of the ledger.
    pub history: Vec<StockDay>,
    /// The sales forecast, day by day, with intervals and components.
    pub points: Vec<DayForecast>,
    /// Net consumption (sales less releases), day by day.
    pub net: Vec<Band>,
    /// Stock left each day at the mean, 80% and 95% levels of consumption.
    pub stock: Vec<StockBand>,
    /// Each promotion read from history or applied ahead: the explanation.
    pub promotions: Vec<PromotionEffect>,
    pub fit: FitSummary,
    pub stock_out: StockOut,
    pub restock: RestockAdvice,
    pub capacity_changes: Vec<CapacityChange>,
    pub reservations: Vec<Reservation>,
}

/// Projected stock on one day.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StockBand {
    pub date: Date,
    /// With mean consumption.
    pub mean: f64,
    /// With consumption at its 80% and 95% quantiles (lower stock).
    pub p80: f64,
    pub p95: f64,
}

/// The capacity overview.
#[derive(Debug, Clone, Serialize)]
pub struct CapacityReport {
    pub today: Date,
    pub horizon: usize,
    pub service_level: f64,
    /// Pools at risk first, then by slack, then the rest.
    pub pools: Vec<PoolSummary>,
    pub groups: Vec<GroupSummary>,
    #[serde(skip)]
    version: u64,
}

impl CapacityReport {
    pub fn pool(&self, id: &str) -> Option<&PoolSummary> {
        self.pools.iter().find(|p| p.position.pool_id == id)
    }

    pub fn group(&self, level: &str, key: &str) -> Option<&GroupSummary> {
        self.groups
            .iter()
            .find(|g| g.level == level && g.key == key)
    }
}

/// What `POST /api/v1/ledger` did.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerReceipt {
    pub entries: usize,
    pub pools: Vec<String>,
}

/// A planned promotion's projection over the pools it reaches.
#[derive(Debug, Clone, Serialize)]
pub struct WhatIfReport {
    pub promotion: Promotion,
    pub pools: Vec<PoolImpact>,
    pub total_extra_demand: f64,
    pub total_reservation_units: f64,
    pub total_shortfall_units: f64,
    pub pools_short: usize,
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Product => "product",
        Level::Zone => "zone",
        Level::Region => "region",
        Level::RegionProduct => "region-product",
        Level::Total => "total",
    }
}

/// Everything the outlook reads, loaded in one go.
struct Inputs {
    today: Date,
    pools: Vec<Pool>,
    products: HashMap<String, Product>,
    region_of_zone: HashMap<String, String>,
    promotions: Vec<Promotion>,
    changes: Vec<CapacityChange>,
    reservations: Vec<Reservation>,
    /// pool → days of history in order.
    daily: HashMap<String, Vec<DailyLedger>>,
    /// pool → net sold before the history window.
    sold_before: HashMap<String, f64>,
    /// (pool, merchant) → units of live instances.
    merchant_units: HashMap<(String, String), f64>,
    pool_units: HashMap<String, f64>,
}

impl Inputs {
    fn position(&self, pool: &Pool) -> PoolPosition {
        let id = pool.id.as_str();
        let changes: Vec<CapacityChange> = self
            .changes
            .iter()
            .filter(|c| c.pool_id == pool.id)
            .cloned()
            .collect();
        let reservations: Vec<Reservation> = self
            .reservations
            .iter()
            .filter(|r| r.pool_id == pool.id)
            .cloned()
            .collect();
        let sold = self.sold_before.get(id).copied().unwrap_or(0.0)
            + self
                .daily
                .get(id)
                .map(|d| d.iter().map(|x| x.sold - x.released).sum::<f64>())
                .unwrap_or(0.0);
        let capacity = cap::capacity_on(pool.capacity, &changes, self.today);
        let reserved = cap::reserved_on(&reservations, self.today);
        let product = self.products.get(pool.product_id.as_str());
        PoolPosition {
            pool_id: id.to_owned(),
            product_id: pool.product_id.to_string(),
            zone_id: pool.zone_id.to_string(),
            region_id: self
                .region_of_zone
                .get(pool.zone_id.as_str())
                .cloned()
                .unwrap_or_default(),
            unit: product.map(|p| p.unit.clone()).unwrap_or_default(),
            lead_time_days: product.map_or(30, |p| p.lead_time_days),
            capacity,
            sold,
            reserved,
            stock_left: capacity - sold - reserved,
            utilisation: if capacity > 0.0 {
                (sold + reserved) / capacity
            } else {
                0.0
            },
        }
    }

    /// The forecasting case of a pool, or why there is none.
    fn case(&self, pool: &Pool, pos: &PoolPosition) -> std::result::Result<PoolCase, String> {
        let id = pool.id.as_str();
        let days = self.daily.get(id).map(Vec::as_slice).unwrap_or(&[]);
        let Some(first) = days.first().map(|d| d.day) else {
            return Err("no sales in the ledger yet".into());
        };
        let n = (self.today - first).whole_days() + 1;
        if n < 28 {
            return Err(format!(
                "only {n} days of sales history; forecasts need four weeks"
            ));
        }
        let mut sold = vec![0.0; n as usize];
        let mut released = vec![0.0; n as usize];
        for d in days {
            let i = (d.day - first).whole_days();
            if (0..n).contains(&i) {
                sold[i as usize] += d.sold;
                released[i as usize] += d.released;
            }
        }
        let region = cairn_domain::RegionId::new(pos.region_id.clone());
        let total = self.pool_units.get(id).copied().unwrap_or(0.0).max(1e-9);
        let promotions = self
            .promotions
            .iter()
            .filter_map(|p| {
                let r = calendar::reach(p, &region, |m| {
                    self.merchant_units
                        .get(&(id.to_owned(), m.to_string()))
                        .copied()
                        .unwrap_or(0.0)
                        / total
                });
                calendar::event(p, r)
            })
            .collect();
        let capacity_changes = self
            .changes
            .iter()
            .filter(|c| {
                c.pool_id == pool.id && c.status == ChangeStatus::Planned && c.date > self.today
            })
            .map(|c| DatedUnits {
                date: c.date,
                units: c.units,
            })
            .collect();
        // A reservation takes its units on its first day and hands them back the day
        // after its last; one that holds today is already out of `stock_left`.
        let mut reservations = Vec::new();
        for r in self.reservations.iter().filter(|r| r.pool_id == pool.id) {
            if r.starts_on > self.today {
                reservations.push(DatedUnits {
                    date: r.starts_on,
                    units: r.units,
                });
            }
            if r.ends_on >= self.today {
                reservations.push(DatedUnits {
                    date: r.ends_on + Duration::days(1),
                    units: -r.units,
                });
            }
        }
        Ok(PoolCase {
            pool_id: pool.id.clone(),
            sales: DailySeries::new(first, sold),
            releases: Some(DailySeries::new(first, released)),
            promotions,
            stock: StockPosition {
                today: self.today,
                stock_left: pos.stock_left,
                capacity_changes,
                reservations,
            },
            policy: RestockPolicy {
                lead_time_days: pos.lead_time_days,
                review_days: REVIEW_DAYS,
                service_level: SERVICE_LEVEL,
            },
        })
    }

    fn place(&self, pool: &Pool, pos: &PoolPosition) -> PoolPlace {
        PoolPlace {
            pool_id: pool.id.clone(),
            product_id: pool.product_id.clone(),
            zone_id: pool.zone_id.clone(),
            region_id: cairn_domain::RegionId::new(pos.region_id.clone()),
        }
    }
}

fn demand_config(horizon: usize) -> DemandConfig {
    DemandConfig {
        horizon,
        paths: PATHS,
        ..DemandConfig::default()
    }
}

/// Stock left day by day at the mean and the 80%/95% quantiles of consumption.
fn stock_bands(net: &SamplePaths, stock: &StockPosition) -> Vec<StockBand> {
    let h = net.horizon();
    // Stock available on each day before that day's consumption, as in the stock-out
    // computation: changes arrive on their date, reservations take theirs.
    let mut delta = vec![0.0; h];
    let mut add = |date: Date, units: f64| {
        let i = (date - net.start).whole_days().max(0) as usize;
        if i < h {
            delta[i] += units;
        }
    };
    for c in &stock.capacity_changes {
        add(c.date, c.units);
    }
    for r in &stock.reservations {
        add(r.date, -r.units);
    }
    let supply: Vec<f64> = delta
        .iter()
        .scan(stock.stock_left, |level, d| {
            *level += d;
            Some(*level)
        })
        .collect();
    let cumulative: Vec<Vec<f64>> = net
        .paths
        .iter()
        .map(|p| {
            p.iter()
                .scan(0.0, |acc, x| {
                    *acc += x;
                    Some(*acc)
                })
                .collect()
        })
        .collect();
    let cum_paths = SamplePaths {
        start: net.start,
        paths: cumulative,
    };
    let mean = cum_paths.mean();
    let q80 = cum_paths.quantiles(0.8);
    let q95 = cum_paths.quantiles(0.95);
    (0..h)
        .map(|d| StockBand {
            date: net.date(d),
            mean: supply[d] - mean[d],
            p80: supply[d] - q80[d],
            p95: supply[d] - q95[d],
        })
        .collect()
}

impl App {
    /// The business day now, in the promotion calendar's time zone (China Standard
    /// Time), in which ledger days and promotion windows are counted.
    pub fn today(&self) -> Date {
        self.now().to_offset(calendar::CALENDAR_OFFSET).date()
    }

    /// Whether `p` may read capacity (pools are infrastructure).
    fn may_read_capacity(p: &Principal) -> Result<()> {
        read_filter(p, Kind::Pool).map(|_| ())
    }

    /// Writes that follow from a record write, in the same transaction: ledger entries
    /// for instances, pool capacity for capacity changes. Refuses edits of done
    /// capacity changes.
    pub(crate) async fn capacity_effects<E: Entity>(
        &self,
        tx: &mut Tx<'_>,
        p: &Principal,
        before: Option<&E>,
        after: Option<&E>,
    ) -> Result<()> {
        match E::KIND {
            Kind::Instance => {
                let entries = cap::instance_ledger(
                    downcast::<E, Instance>(before),
                    downcast::<E, Instance>(after),
                    self.today(),
                );
                if !entries.is_empty() {
                    tx.append_ledger(&entries, self.now(), &p.actor).await?;
                }
                self.capacity.touch();
            }
            Kind::CapacityChange => {
                let (b, a) = (
                    downcast::<E, CapacityChange>(before),
                    downcast::<E, CapacityChange>(after),
                );
                if let Some(b) = b.filter(|b| b.status == ChangeStatus::Done) {
                    if a != Some(b) {
                        return Err(cairn_domain::DomainError::invalid(
                            "status",
                            format!(
                                "capacity change {} is done and part of the pool's capacity; \
                                 record another change to correct it",
                                b.id
                            ),
                        )
                        .into());
                    }
                }
                if let Some(a) = a.filter(|a| a.status == ChangeStatus::Done) {
                    let newly_done = b.is_none_or(|b| b.status != ChangeStatus::Done);
                    if newly_done {
                        let mut pool = tx
                            .get::<Pool>(a.pool_id.as_str())
                            .await?
                            .ok_or_else(|| AppError::not_found("pool", a.pool_id.as_str()))?;
                        let before_pool = pool.clone();
                        pool.capacity += a.units;
                        if pool.capacity < 0.0 {
                            return Err(cairn_domain::DomainError::invalid(
                                "units",
                                format!(
                                    "retiring {} units would leave pool {} with {} capacity",
                                    -a.units, pool.id, pool.capacity
                                ),
                            )
                            .into());
                        }
                        tx.update(&pool).await?;
                        self.audit(
                            tx,
                            p,
                            "update",
                            pool.id.as_str(),
                            Some(&before_pool),
                            Some(&pool),
                        )
                        .await?;
                    }
                }
                self.capacity.touch();
            }
            Kind::Reservation | Kind::Pool | Kind::Promotion | Kind::Product | Kind::Zone => {
                self.capacity.touch();
            }
            _ => {}
        }
        Ok(())
    }

    /// Appends sales and releases posted through the API: one entry or a list, all or
    /// nothing, each naming its pool (which must exist) and day.
    pub async fn append_ledger(&self, p: &Principal, body: Value) -> Result<LedgerReceipt> {
        if p.write_scope(Kind::Pool) == cairn_domain::access::Scope::Denied {
            return Err(AppError::Forbidden(format!(
                "role {} may not write the capacity ledger",
                p.role
            )));
        }
        let items = match body {
            Value::Array(items) => items,
            obj @ Value::Object(_) => vec![obj],
            _ => {
                return Err(AppError::bad_input(
                    None,
                    "the body must be a ledger entry or a list of them",
                ))
            }
        };
        if items.is_empty() {
            return Err(AppError::bad_input(None, "the list of entries is empty"));
        }
        if items.len() > 100_000 {
            return Err(AppError::bad_input(
                None,
                format!("at most 100000 entries at once, got {}", items.len()),
            ));
        }
        let mut entries = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let e: LedgerEntry =
                crate::records::parse_value("ledger entry", item).map_err(|e| prefix_row(e, i))?;
            if e.source != LedgerSource::Api {
                return Err(prefix_row(
                    AppError::bad_input(Some("source".into()), "must be api (or left out)"),
                    i,
                ));
            }
            e.validate().map_err(|d| prefix_row(d.into(), i))?;
            entries.push(e);
        }
        let mut tx = self.store.begin().await?;
        let mut pools: Vec<String> = entries.iter().map(|e| e.pool_id.to_string()).collect();
        pools.sort();
        pools.dedup();
        for pool in &pools {
            if !tx.exists(Kind::Pool, pool).await? {
                let row = entries
                    .iter()
                    .position(|e| e.pool_id.as_str() == pool)
                    .unwrap_or(0);
                return Err(prefix_row(
                    cairn_domain::DomainError::DanglingReference {
                        field: "pool_id".into(),
                        kind: "pool",
                        id: pool.clone(),
                    }
                    .into(),
                    row,
                ));
            }
        }
        for (i, e) in entries.iter().enumerate() {
            if let Some(m) = &e.merchant_id {
                if !tx.exists(Kind::Merchant, m.as_str()).await? {
                    return Err(prefix_row(
                        cairn_domain::DomainError::DanglingReference {
                            field: "merchant_id".into(),
                            kind: "merchant",
                            id: m.to_string(),
                        }
                        .into(),
                        i,
                    ));
                }
            }
        }
        tx.append_ledger(&entries, self.now(), &p.actor).await?;
        let receipt = LedgerReceipt {
            entries: entries.len(),
            pools,
        };
        tx.audit(NewAudit {
            at: self.now(),
            actor: &p.actor,
            action: "append",
            kind: "ledger",
            record_id: "ledger",
            before: None,
            after: Some(serde_json::to_value(&receipt).unwrap_or_default()),
        })
        .await?;
        tx.commit().await?;
        self.capacity.touch();
        Ok(receipt)
    }

    /// Appends entries given as CSV with a header row (`pool_id,day,kind,units` and
    /// optionally `merchant_id,instance_id`); empty cells are absent.
    pub async fn append_ledger_csv(&self, p: &Principal, text: &str) -> Result<LedgerReceipt> {
        self.append_ledger(p, ledger_csv_rows(text)?).await
    }

    /// A page of a pool's raw ledger entries, newest first.
    pub async fn ledger_entries(
        &self,
        p: &Principal,
        pool_id: &str,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<cairn_store::LedgerRow>> {
        let _: Pool = self.get_record(p, pool_id).await?;
        Ok(self
            .store
            .ledger_entries(pool_id, before_seq, limit)
            .await?)
    }

    /// A pool's stock day by day between two dates (at most two years).
    pub async fn pool_stock(
        &self,
        p: &Principal,
        pool_id: &str,
        from: Date,
        to: Date,
    ) -> Result<Vec<StockDay>> {
        let pool: Pool = self.get_record(p, pool_id).await?;
        if to < from {
            return Err(AppError::bad_input(
                Some("to".into()),
                format!("must not be before from ({})", date_format::format(from)),
            ));
        }
        if (to - from).whole_days() > 2 * 366 {
            return Err(AppError::bad_input(
                Some("to".into()),
                "the range may span at most two years",
            ));
        }
        let changes = self.store.all::<CapacityChange>(&OwnerFilter::Any).await?;
        let changes: Vec<_> = changes
            .into_iter()
            .filter(|c| c.pool_id == pool.id)
            .collect();
        let reservations = self.store.all::<Reservation>(&OwnerFilter::Any).await?;
        let reservations: Vec<_> = reservations
            .into_iter()
            .filter(|r| r.pool_id == pool.id)
            .collect();
        let before = self
            .store
            .ledger_net(Some(from))
            .await?
            .into_iter()
            .find(|(p, _)| p == pool_id)
            .map_or(0.0, |(_, v)| v);
        let daily: Vec<DailyLedger> = self
            .store
            .ledger_daily(Some(pool_id), Some(from))
            .await?
            .into_iter()
            .map(|(_, d)| d)
            .filter(|d| d.day <= to)
            .collect();
        Ok(cap::stock_days(
            pool.capacity,
            &changes,
            &reservations,
            before,
            &daily,
            from,
            to,
        ))
    }

    async fn capacity_inputs(&self) -> Result<Inputs> {
        let today = self.today();
        let from = today - Duration::days(HISTORY_DAYS - 1);
        let pools = self.store.all::<Pool>(&OwnerFilter::Any).await?;
        let products = self
            .store
            .all::<Product>(&OwnerFilter::Any)
            .await?
            .into_iter()
            .map(|p| (p.id.to_string(), p))
            .collect();
        let region_of_zone = self
            .store
            .all::<Zone>(&OwnerFilter::Any)
            .await?
            .into_iter()
            .map(|z| (z.id.to_string(), z.region_id.to_string()))
            .collect();
        let mut daily: HashMap<String, Vec<DailyLedger>> = HashMap::new();
        for (pool, d) in self.store.ledger_daily(None, Some(from)).await? {
            if d.day <= today {
                daily.entry(pool).or_default().push(d);
            }
        }
        let sold_before = self
            .store
            .ledger_net(Some(from))
            .await?
            .into_iter()
            .collect();
        let mut merchant_units = HashMap::new();
        let mut pool_units: HashMap<String, f64> = HashMap::new();
        for (pool, merchant, units) in self.store.pool_merchant_units().await? {
            *pool_units.entry(pool.clone()).or_default() += units;
            merchant_units.insert((pool, merchant), units);
        }
        Ok(Inputs {
            today,
            pools,
            products,
            region_of_zone,
            promotions: self.store.all::<Promotion>(&OwnerFilter::Any).await?,
            changes: self.store.all::<CapacityChange>(&OwnerFilter::Any).await?,
            reservations: self.store.all::<Reservation>(&OwnerFilter::Any).await?,
            daily,
            sold_before,
            merchant_units,
            pool_units,
        })
    }

    /// The capacity overview at the default horizon, computed at most once per
    /// change of its inputs (and per day).
    pub async fn capacity_report(&self, p: &Principal) -> Result<Arc<CapacityReport>> {
        Self::may_read_capacity(p)?;
        let mut slot = self.capacity.report.lock().await;
        let version = self.capacity.version();
        let today = self.today();
        if let Some(r) = slot.as_ref() {
            if r.version == version && r.today == today {
                return Ok(r.clone());
            }
        }
        let inputs = self.capacity_inputs().await?;
        let report = tokio::task::spawn_blocking(move || build_report(&inputs, version))
            .await
            .map_err(|e| AppError::Internal(format!("the capacity outlook failed: {e}")))??;
        let report = Arc::new(report);
        *slot = Some(report.clone());
        Ok(report)
    }

    /// One pool's full outlook over `horizon` days.
    pub async fn pool_forecast(
        &self,
        p: &Principal,
        pool_id: &str,
        horizon: usize,
        history_days: usize,
    ) -> Result<PoolForecast> {
        Self::may_read_capacity(p)?;
        check_horizon(horizon)?;
        let _: Pool = self.get_record(p, pool_id).await?;
        let inputs = self.capacity_inputs().await?;
        let pool_id = pool_id.to_owned();
        tokio::task::spawn_blocking(move || pool_forecast(&inputs, &pool_id, horizon, history_days))
            .await
            .map_err(|e| AppError::Internal(format!("the forecast failed: {e}")))?
    }

    /// The roll-up of a product, zone or region (`level`) over `horizon` days, with its
    /// pools' summaries.
    pub async fn group_forecast(
        &self,
        p: &Principal,
        level: Kind,
        id: &str,
        horizon: usize,
    ) -> Result<(GroupSummary, Vec<PoolSummary>)> {
        Self::may_read_capacity(p)?;
        check_horizon(horizon)?;
        let level_name = match level {
            Kind::Product => {
                let _: Product = self.get_record(p, id).await?;
                "product"
            }
            Kind::Zone => {
                let _: Zone = self.get_record(p, id).await?;
                "zone"
            }
            Kind::Region => {
                let _: cairn_domain::Region = self.get_record(p, id).await?;
                "region"
            }
            other => {
                return Err(AppError::bad_input(
                    None,
                    format!("{} have no capacity roll-up", other.plural()),
                ))
            }
        };
        let report = if horizon == DEFAULT_HORIZON {
            self.capacity_report(p).await?
        } else {
            let inputs = self.capacity_inputs().await?;
            let v = self.capacity.version();
            Arc::new(
                tokio::task::spawn_blocking(move || build_report_at(&inputs, v, horizon))
                    .await
                    .map_err(|e| AppError::Internal(format!("the forecast failed: {e}")))??,
            )
        };
        let group = report.group(level_name, id).cloned().ok_or_else(|| {
            AppError::not_found(
                format!("capacity roll-up of {level_name}"),
                format!("{id} (it has no pools)"),
            )
        })?;
        let pools = report
            .pools
            .iter()
            .filter(|s| group.pools.contains(&s.position.pool_id))
            .cloned()
            .collect();
        Ok((group, pools))
    }

    /// Rolling-origin backtests of a pool's sales forecast (sMAPE and MASE).
    pub async fn pool_backtest(&self, p: &Principal, pool_id: &str) -> Result<Arc<Backtest>> {
        Self::may_read_capacity(p)?;
        let _: Pool = self.get_record(p, pool_id).await?;
        let version = self.capacity.version();
        let today = self.today();
        if let Some((v, d, b)) = self
            .capacity
            .backtests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(pool_id)
        {
            if *v == version && *d == today {
                return Ok(b.clone());
            }
        }
        let inputs = self.capacity_inputs().await?;
        let id = pool_id.to_owned();
        let b = tokio::task::spawn_blocking(move || -> Result<Backtest> {
            let pool = inputs
                .pools
                .iter()
                .find(|p| p.id.as_str() == id)
                .ok_or_else(|| AppError::not_found("pool", &id))?;
            let pos = inputs.position(pool);
            let case = inputs
                .case(pool, &pos)
                .map_err(|m| AppError::Conflict(format!("pool {id}: {m}")))?;
            backtest(&case.sales, &case.promotions, &BacktestConfig::default())
                .map_err(|e| AppError::Conflict(format!("pool {id}: {e}")))
        })
        .await
        .map_err(|e| AppError::Internal(format!("the backtest failed: {e}")))??;
        let b = Arc::new(b);
        self.capacity
            .backtests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pool_id.to_owned(), (version, today, b.clone()));
        Ok(b)
    }

    /// What a planned promotion would need: `body` is a promotion as the calendar
    /// takes it (it is checked, not stored).
    pub async fn capacity_what_if(&self, p: &Principal, body: Value) -> Result<WhatIfReport> {
        Self::may_read_capacity(p)?;
        let mut map = match body {
            Value::Object(m) => m,
            _ => {
                return Err(AppError::bad_input(
                    None,
                    "the body must be a promotion as a JSON object",
                ))
            }
        };
        map.entry("id")
            .or_insert_with(|| Value::String("promo-what-if".into()));
        let promo: Promotion = crate::records::parse_entity(Value::Object(map))?;
        promo.validate()?;
        for r in promo.references() {
            if !self.store.exists(r.kind, &r.id).await? {
                return Err(cairn_domain::DomainError::DanglingReference {
                    field: r.field.into(),
                    kind: r.kind.singular(),
                    id: r.id,
                }
                .into());
            }
        }
        let inputs = self.capacity_inputs().await?;
        let (first, _) = calendar::local_days(&promo, calendar::CALENDAR_OFFSET);
        if first <= inputs.today {
            return Err(AppError::bad_input(
                Some("starts_at".into()),
                "a what-if promotion must start after today",
            ));
        }
        tokio::task::spawn_blocking(move || what_if_report(&inputs, promo))
            .await
            .map_err(|e| AppError::Internal(format!("the what-if failed: {e}")))?
    }
}

/// The record as its concrete type, when `E` is `T`.
fn downcast<E: Entity, T: 'static>(e: Option<&E>) -> Option<&T> {
    e.and_then(|e| (e as &dyn std::any::Any).downcast_ref::<T>())
}

/// CSV rows as the JSON entries [`App::append_ledger`] takes.
fn ledger_csv_rows(text: &str) -> Result<Value> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| AppError::bad_input(None, format!("the CSV header row: {e}")))?
        .clone();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| AppError::bad_input(None, format!("entry {i}: {e}")))?;
        let mut map = serde_json::Map::new();
        for (h, v) in headers.iter().zip(record.iter()) {
            if v.is_empty() {
                continue;
            }
            let value = if h == "units" {
                match v.parse::<f64>() {
                    Ok(n) => serde_json::json!(n),
                    Err(_) => {
                        return Err(AppError::bad_input(
                            Some(format!("[{i}].units")),
                            format!("entry {i}: units must be a number, got {v:?}"),
                        ))
                    }
                }
            } else {
                Value::String(v.to_owned())
            };
            map.insert(h.to_owned(), value);
        }
        rows.push(Value::Object(map));
    }
    Ok(Value::Array(rows))
}

fn check_horizon(horizon: usize) -> Result<()> {
    if !(1..=MAX_HORIZON).contains(&horizon) {
        return Err(AppError::bad_input(
            Some("horizon".into()),
            format!("must be a number of days from 1 to {MAX_HORIZON}, got {horizon}"),
        ));
    }
    Ok(())
}

fn prefix_row(e: AppError, row: usize) -> AppError {
    let field = e.field().map(|f| format!("[{row}].{f}"));
    AppError::bad_input(field, format!("entry {row}: {e}"))
}

fn build_report(inputs: &Inputs, version: u64) -> Result<CapacityReport> {
    build_report_at(inputs, version, DEFAULT_HORIZON)
}

fn build_report_at(inputs: &Inputs, version: u64, horizon: usize) -> Result<CapacityReport> {
    let cfg = demand_config(horizon);
    let mut summaries = Vec::new();
    let mut places = Vec::new();
    let mut nets: Vec<SamplePaths> = Vec::new();
    let mut sales: Vec<SamplePaths> = Vec::new();
    for pool in &inputs.pools {
        let pos = inputs.position(pool);
        let outlook = inputs
            .case(pool, &pos)
            .and_then(|case| pool_outlook(&case, &cfg).map_err(|e| e.to_string()));
        match outlook {
            Ok(o) => {
                places.push(inputs.place(pool, &pos));
                let days = o.stock_out.p80.map(|d| (d - inputs.today).whole_days());
                nets.push(o.net);
                sales.push(o.sales.paths);
                summaries.push(PoolSummary {
                    position: pos,
                    stock_out: Some(o.stock_out),
                    days_to_stock_out_p80: days,
                    restock: Some(o.advice),
                    note: None,
                });
            }
            Err(note) => summaries.push(PoolSummary {
                position: pos,
                stock_out: None,
                days_to_stock_out_p80: None,
                restock: None,
                note: Some(note),
            }),
        }
    }
    // Bottom-up roll-ups of the pools with an outlook: the parts add up path by path.
    let net_rollups = roll_up(&places.iter().cloned().zip(nets.iter()).collect::<Vec<_>>());
    let sales_rollups: BTreeMap<(Level, String), Vec<Band>> =
        roll_up(&places.iter().cloned().zip(sales.iter()).collect::<Vec<_>>())
            .into_iter()
            .map(|r| ((r.level, r.key), r.days))
            .collect();
    let by_id: HashMap<&str, &PoolSummary> = summaries
        .iter()
        .map(|s| (s.position.pool_id.as_str(), s))
        .collect();
    let mut groups = Vec::new();
    for r in net_rollups {
        if r.level == Level::RegionProduct {
            continue;
        }
        // Positions count every pool of the group, outlook or not.
        let members: Vec<&PoolSummary> = summaries
            .iter()
            .filter(|s| {
                let pos = &s.position;
                match r.level {
                    Level::Product => pos.product_id == r.key,
                    Level::Zone => pos.zone_id == r.key,
                    Level::Region => pos.region_id == r.key,
                    _ => true,
                }
            })
            .collect();
        let sum = |f: fn(&PoolPosition) -> f64| members.iter().map(|s| f(&s.position)).sum::<f64>();
        let capacity = sum(|p| p.capacity);
        let sold = sum(|p| p.sold);
        let reserved = sum(|p| p.reserved);
        groups.push(GroupSummary {
            level: level_name(r.level),
            key: r.key.clone(),
            pools: members.iter().map(|s| s.position.pool_id.clone()).collect(),
            capacity,
            sold,
            reserved,
            stock_left: capacity - sold - reserved,
            utilisation: if capacity > 0.0 {
                (sold + reserved) / capacity
            } else {
                0.0
            },
            pools_at_risk: r
                .pools
                .iter()
                .filter(|p| {
                    by_id
                        .get(p.as_str())
                        .and_then(|s| s.restock.as_ref())
                        .is_some_and(|a| a.at_risk)
                })
                .count(),
            order_units: r
                .pools
                .iter()
                .filter_map(|p| by_id.get(p.as_str()).and_then(|s| s.restock.as_ref()))
                .map(|a| a.order_units)
                .sum(),
            earliest_stock_out_p80: r
                .pools
                .iter()
                .filter_map(|p| {
                    by_id
                        .get(p.as_str())
                        .and_then(|s| s.stock_out.as_ref())
                        .and_then(|o| o.p80)
                })
                .min(),
            sales_forecast: sales_rollups
                .get(&(r.level, r.key.clone()))
                .cloned()
                .unwrap_or_default(),
            net_forecast: r.days,
        });
    }
    summaries.sort_by(|a, b| {
        let key = |s: &PoolSummary| {
            s.restock
                .as_ref()
                .map_or((3, 0), cairn_forecast::stock::RestockAdvice::urgency)
        };
        key(a)
            .cmp(&key(b))
            .then(b.position.utilisation.total_cmp(&a.position.utilisation))
    });
    Ok(CapacityReport {
        today: inputs.today,
        horizon,
        service_level: SERVICE_LEVEL,
        pools: summaries,
        groups,
        version,
    })
}

fn pool_forecast(
    inputs: &Inputs,
    pool_id: &str,
    horizon: usize,
    history_days: usize,
) -> Result<PoolForecast> {
    let pool = inputs
        .pools
        .iter()
        .find(|p| p.id.as_str() == pool_id)
        .ok_or_else(|| AppError::not_found("pool", pool_id))?;
    let pos = inputs.position(pool);
    let case = inputs
        .case(pool, &pos)
        .map_err(|m| AppError::Conflict(format!("pool {pool_id} has no forecast: {m}")))?;
    let o = pool_outlook(&case, &demand_config(horizon))
        .map_err(|e| AppError::Conflict(format!("pool {pool_id} has no forecast: {e}")))?;
    let changes: Vec<CapacityChange> = inputs
        .changes
        .iter()
        .filter(|c| c.pool_id == pool.id)
        .cloned()
        .collect();
    let reservations: Vec<Reservation> = inputs
        .reservations
        .iter()
        .filter(|r| r.pool_id == pool.id)
        .cloned()
        .collect();
    let from = inputs.today - Duration::days(history_days.saturating_sub(1) as i64);
    let daily = inputs.daily.get(pool_id).map(Vec::as_slice).unwrap_or(&[]);
    let sold_before = inputs.sold_before.get(pool_id).copied().unwrap_or(0.0)
        + daily
            .iter()
            .filter(|d| d.day < from)
            .map(|d| d.sold - d.released)
            .sum::<f64>();
    let history = cap::stock_days(
        pool.capacity,
        &changes,
        &reservations,
        sold_before,
        daily,
        from,
        inputs.today,
    );
    Ok(PoolForecast {
        today: inputs.today,
        horizon,
        position: pos,
        history,
        points: o.sales.days,
        net: bands(&o.net),
        stock: stock_bands(&o.net, &case.stock),
        promotions: o.sales.promotions,
        fit: o.sales.fit,
        stock_out: o.stock_out,
        restock: o.advice,
        capacity_changes: changes,
        reservations,
    })
}

fn what_if_report(inputs: &Inputs, promo: Promotion) -> Result<WhatIfReport> {
    let mut cases = Vec::new();
    let mut reach = Vec::new();
    for pool in &inputs.pools {
        let pos = inputs.position(pool);
        let Ok(case) = inputs.case(pool, &pos) else {
            continue;
        };
        let region = cairn_domain::RegionId::new(pos.region_id.clone());
        let total = inputs
            .pool_units
            .get(pool.id.as_str())
            .copied()
            .unwrap_or(0.0)
            .max(1e-9);
        reach.push(calendar::reach(&promo, &region, |m| {
            inputs
                .merchant_units
                .get(&(pool.id.to_string(), m.to_string()))
                .copied()
                .unwrap_or(0.0)
                / total
        }));
        cases.push(case);
    }
    let Some(event) = calendar::event(&promo, 1.0) else {
        return Err(AppError::bad_input(None, "the promotion reaches no pool"));
    };
    let impacts = what_if(
        &cases,
        &reach,
        &PlannedPromotion { event },
        &demand_config(DEFAULT_HORIZON),
    )
    .map_err(|e| AppError::bad_input(None, e.to_string()))?;
    let mut pools = impacts;
    pools.sort_by(|a, b| {
        b.shortfall_units
            .total_cmp(&a.shortfall_units)
            .then(b.extra_demand.total_cmp(&a.extra_demand))
    });
    Ok(WhatIfReport {
        total_extra_demand: pools.iter().map(|i| i.extra_demand).sum(),
        total_reservation_units: pools.iter().map(|i| i.reservation_units).sum(),
        total_shortfall_units: pools.iter().map(|i| i.shortfall_units).sum(),
        pools_short: pools.iter().filter(|i| i.shortfall_units > 0.0).count(),
        promotion: promo,
        pools,
    })
}
