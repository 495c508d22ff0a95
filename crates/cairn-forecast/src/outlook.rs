//! A pool's whole capacity outlook in one call: the sales forecast, the releases
//! forecast, net consumption paths, the stock-out dates and the restock advice; and the
//! what-if of a planned promotion, which compares two outlooks.

use time::Duration;

use cairn_domain::{PoolId, PromotionId};

use crate::demand::{
    forecast_demand, DailySeries, DemandConfig, DemandForecast, PromotionEffect, PromotionEvent,
    SamplePaths,
};
use crate::stats;
use crate::stock::{restock, stock_out, RestockAdvice, RestockPolicy, StockOut, StockPosition};
use crate::ForecastError;

/// What is known about one pool.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolCase {
    pub pool_id: PoolId,
    /// Units sold (allocated) per day, ending on `stock.today`.
    pub sales: DailySeries,
    /// Units released per day over the same days, when known; net consumption is sales
    /// less releases.
    pub releases: Option<DailySeries>,
    /// The calendar as it reaches this pool.
    pub promotions: Vec<PromotionEvent>,
    pub stock: StockPosition,
    pub policy: RestockPolicy,
}

/// A pool's outlook.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolOutlook {
    pub pool_id: PoolId,
    pub sales: DemandForecast,
    pub releases: Option<DemandForecast>,
    /// Sales less releases, path by path.
    pub net: SamplePaths,
    pub stock_out: StockOut,
    pub advice: RestockAdvice,
}

/// Forecasts a pool's sales and releases, and reads stock-out and restock advice from
/// their difference. Releases use the same calendar: merchants hand back capacity after
/// a promotion, which the model learns as the promotion's ramp after.
pub fn pool_outlook(case: &PoolCase, cfg: &DemandConfig) -> Result<PoolOutlook, ForecastError> {
    let sales = forecast_demand(&case.sales, &case.promotions, cfg)?;
    let releases = match &case.releases {
        Some(r) => Some(forecast_demand(
            r,
            &case.promotions,
            &DemandConfig {
                seed: cfg.seed ^ 0x0E1E_A5E5,
                ..cfg.clone()
            },
        )?),
        None => None,
    };
    let net = match &releases {
        Some(r) => sales.paths.minus(&r.paths),
        None => sales.paths.clone(),
    };
    Ok(PoolOutlook {
        pool_id: case.pool_id.clone(),
        stock_out: stock_out(&net, &case.stock),
        advice: restock(&net, &case.stock, &case.policy),
        sales,
        releases,
        net,
    })
}

/// A promotion being considered, before it is on the calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPromotion {
    pub event: PromotionEvent,
}

/// What a planned promotion would do to one pool.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PoolImpact {
    pub pool_id: PoolId,
    pub promotion_id: PromotionId,
    /// Mean units sold over the promotion's days and ramps, without and with it.
    pub demand_without: f64,
    pub demand_with: f64,
    /// The extra units the promotion brings (with − without).
    pub extra_demand: f64,
    /// Units to reserve so that the promotion's days (and ramps) are served with the
    /// service level's probability: that quantile of their total sales.
    pub reservation_units: f64,
    /// Units missing by the promotion's end at the service level: the quantile of the
    /// largest shortfall of net consumption against stock up to then (0: none).
    pub shortfall_units: f64,
    pub stock_out_without: StockOut,
    pub stock_out_with: StockOut,
    /// How the promotion was applied to this pool (uplift, prior, ramps).
    pub effect: Option<PromotionEffect>,
}

/// Projects a planned promotion onto each pool it reaches (`reach` per pool, in the
/// order of `cases`; 0 skips the pool). The horizon is stretched to cover the promotion.
pub fn what_if(
    cases: &[PoolCase],
    reach: &[f64],
    planned: &PlannedPromotion,
    cfg: &DemandConfig,
) -> Result<Vec<PoolImpact>, ForecastError> {
    let mut out = Vec::new();
    for (case, &r) in cases.iter().zip(reach) {
        if r <= 0.0 {
            continue;
        }
        let start = case.stock.today + Duration::days(1);
        let ramp = cfg.max_ramp_days as i64;
        let last = planned.event.last_day + Duration::days(ramp);
        let needed = (last - start).whole_days() + 1;
        if needed <= 0 {
            return Err(ForecastError::Invalid {
                field: "planned",
                message: format!("{} ends before {start}", planned.event.id),
            });
        }
        let cfg = DemandConfig {
            horizon: cfg.horizon.max(needed as usize),
            ..cfg.clone()
        };
        let without = pool_outlook(case, &cfg)?;
        let mut with_case = case.clone();
        with_case.promotions.push(PromotionEvent {
            reach: r,
            ..planned.event.clone()
        });
        let with = pool_outlook(&with_case, &cfg)?;
        let from = ((planned.event.first_day - Duration::days(ramp)) - start)
            .whole_days()
            .max(0) as usize;
        let to = (needed as usize).min(with.sales.paths.horizon());
        let window_sum = |p: &SamplePaths| -> Vec<f64> {
            p.paths.iter().map(|x| x[from..to].iter().sum()).collect()
        };
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let (w0, mut w1) = (
            window_sum(&without.sales.paths),
            window_sum(&with.sales.paths),
        );
        let level = case.policy.service_level;
        let shortfall = {
            let supply_paths = SamplePaths {
                start,
                paths: with.net.paths.iter().map(|p| p[..to].to_vec()).collect(),
            };
            let probe = RestockPolicy {
                lead_time_days: 0,
                review_days: to as u32,
                service_level: level,
            };
            restock(&supply_paths, &case.stock, &probe).order_units
        };
        out.push(PoolImpact {
            pool_id: case.pool_id.clone(),
            promotion_id: planned.event.id.clone(),
            demand_without: mean(&w0),
            demand_with: mean(&w1),
            extra_demand: mean(&w1) - mean(&w0),
            reservation_units: stats::quantile_mut(&mut w1, level),
            shortfall_units: shortfall,
            stock_out_without: without.stock_out,
            stock_out_with: with.stock_out,
            effect: with
                .sales
                .promotions
                .into_iter()
                .find(|e| e.id == planned.event.id),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use time::macros::date;
    use time::Date;

    use super::*;
    use crate::stats::Rng;

    fn case(stock: f64) -> PoolCase {
        let start = date!(2025 - 01 - 01);
        let mut rng = Rng::new(9);
        let sales: Vec<f64> = (0..500)
            .map(|_| 20.0 * (0.1 * rng.normal()).exp())
            .collect();
        let releases: Vec<f64> = (0..500).map(|_| 8.0 * (0.1 * rng.normal()).exp()).collect();
        let today = start + Duration::days(499);
        PoolCase {
            pool_id: "ecs-hz-h".into(),
            sales: DailySeries::new(start, sales),
            releases: Some(DailySeries::new(start, releases)),
            promotions: vec![],
            stock: StockPosition {
                today,
                stock_left: stock,
                capacity_changes: vec![],
                reservations: vec![],
            },
            policy: RestockPolicy {
                lead_time_days: 30,
                review_days: 14,
                service_level: 0.95,
            },
        }
    }

    fn planned(first: Date, last: Date, uplift: f64) -> PlannedPromotion {
        PlannedPromotion {
            event: PromotionEvent {
                id: "promo-flash-20250601".into(),
                key: "promo-flash".into(),
                name: "flash sale".into(),
                first_day: first,
                last_day: last,
                expected_uplift: uplift,
                reach: 1.0,
            },
        }
    }

    #[test]
    fn the_outlook_nets_releases_out_of_sales() {
        let o = pool_outlook(&case(10_000.0), &DemandConfig::default()).unwrap();
        let net = o.net.mean();
        // About 20 sold and 8 released a day.
        assert!((net[10] - 12.0).abs() < 2.0, "{}", net[10]);
        assert_eq!(o.stock_out.p95, None);
        assert!(!o.advice.at_risk);
    }

    #[test]
    fn a_planned_sale_shows_its_extra_demand_reservation_and_shortfall() {
        let c = case(400.0);
        let today = c.stock.today;
        let p = planned(today + Duration::days(20), today + Duration::days(22), 5.0);
        let impacts = what_if(&[c.clone(), c], &[1.0, 0.0], &p, &DemandConfig::default()).unwrap();
        assert_eq!(impacts.len(), 1, "the pool out of reach is skipped");
        let i = &impacts[0];
        // Three days at 5× of ~20: about 240 extra units, no history to correct the
        // business's figure (only the pooled correction, and there is none).
        assert!((i.extra_demand - 240.0).abs() < 50.0, "{i:?}");
        assert!(i.reservation_units > i.demand_with);
        // 400 in stock against ~12 net a day for 29 days plus the sale's extra ~240.
        assert!(i.shortfall_units > 100.0, "{i:?}");
        assert!(
            i.stock_out_with.p50 <= i.stock_out_without.p50 || i.stock_out_without.p50.is_none()
        );
        assert!(i.stock_out_with.p95.is_some());
        assert_eq!(i.effect.as_ref().unwrap().posterior_uplift, 5.0);
    }
}
