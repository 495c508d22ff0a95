//! Stock-out dates with their uncertainty, and restock advice, from sample paths of net
//! consumption.
//!
//! Why sample paths: the chance that stock lasts to day d depends on the *sum* of demand
//! up to d, and quantiles do not add (the sum of daily 95% quantiles is far above the
//! 95% quantile of the sum). Each path is summed on its own and the stock-out day read
//! from it; the levels are quantiles of those days.
//!
//! A **stock-out date at level L** is the earliest day by which stock is exhausted in
//! more than 1 − L of the paths: with probability L stock lasts at least until the day
//! before it. So the 95% date is the cautious one, and 50% ≥ 80% ≥ 95% in time.

use time::{Date, Duration};

use crate::demand::SamplePaths;
use crate::stats;

/// Units on a date: a capacity change (+ arrival, − retirement) or a reservation.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DatedUnits {
    pub date: Date,
    pub units: f64,
}

/// A pool's stock position as of `today`; forecasts start the day after.
#[derive(Debug, Clone, PartialEq)]
pub struct StockPosition {
    pub today: Date,
    /// Capacity − units held by instances − units reserved, today.
    pub stock_left: f64,
    /// Planned capacity changes after today: arrivals (+) and retirements (−).
    pub capacity_changes: Vec<DatedUnits>,
    /// Reservations that will take units on their date (positive units).
    pub reservations: Vec<DatedUnits>,
}

impl StockPosition {
    /// Stock available on each forecast day before that day's demand: stock left plus
    /// capacity changes minus reservations up to and including the day.
    fn supply(&self, start: Date, horizon: usize) -> Vec<f64> {
        let mut delta = vec![0.0; horizon];
        let mut add = |d: Date, u: f64| {
            let i = (d - start).whole_days();
            if i < 0 {
                // Already past the forecast's start: it counts from the first day.
                delta[0] += u;
            } else if (i as usize) < horizon {
                delta[i as usize] += u;
            }
        };
        for c in self.capacity_changes.iter().filter(|c| c.date > self.today) {
            add(c.date, c.units);
        }
        for r in self.reservations.iter().filter(|r| r.date > self.today) {
            add(r.date, -r.units);
        }
        let mut level = self.stock_left;
        delta
            .iter()
            .map(|d| {
                level += d;
                level
            })
            .collect()
    }
}

/// When stock runs out, at three levels.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StockOut {
    pub p50: Option<Date>,
    pub p80: Option<Date>,
    pub p95: Option<Date>,
    /// The share of paths that run out within the horizon.
    pub probability_within_horizon: f64,
    pub horizon_end: Date,
}

/// Each path's first stock-out day index (usize::MAX when it never runs out).
fn first_out_days(net: &SamplePaths, pos: &StockPosition) -> Vec<usize> {
    let h = net.horizon();
    let supply = pos.supply(net.start, h);
    net.paths
        .iter()
        .map(|p| {
            let mut cum = 0.0;
            for d in 0..h {
                cum += p[d];
                if cum > supply[d] {
                    return d;
                }
            }
            usize::MAX
        })
        .collect()
}

/// The stock-out date at `level` (see the module doc), or `None` within the horizon.
pub fn stock_out_date(net: &SamplePaths, pos: &StockPosition, level: f64) -> Option<Date> {
    let mut days = first_out_days(net, pos);
    level_date(net, &mut days, level)
}

fn level_date(net: &SamplePaths, days: &mut [usize], level: f64) -> Option<Date> {
    if days.is_empty() {
        return None;
    }
    days.sort_unstable();
    let k = (((1.0 - level) * days.len() as f64).ceil() as usize).clamp(1, days.len());
    let d = days[k - 1];
    (d != usize::MAX).then(|| net.date(d))
}

/// Stock-out dates at 50%, 80% and 95%.
pub fn stock_out(net: &SamplePaths, pos: &StockPosition) -> StockOut {
    let mut days = first_out_days(net, pos);
    let out = days.iter().filter(|&&d| d != usize::MAX).count();
    StockOut {
        p50: level_date(net, &mut days, 0.5),
        p80: level_date(net, &mut days, 0.8),
        p95: level_date(net, &mut days, 0.95),
        probability_within_horizon: out as f64 / days.len().max(1) as f64,
        horizon_end: net.date(net.horizon().saturating_sub(1)),
    }
}

/// How a pool is restocked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestockPolicy {
    /// Days from ordering hardware to sellable capacity (the product's lead time).
    pub lead_time_days: u32,
    /// Days an order must last beyond its arrival, until the next order can arrive.
    pub review_days: u32,
    /// The probability of not running out that the advice aims for (e.g. 0.95).
    pub service_level: f64,
}

/// What to order for one pool.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RestockAdvice {
    /// Units to order now so that, with the service level's probability, stock lasts
    /// through lead time + review period (0 when it already does).
    pub order_units: f64,
    /// The latest day to order so the capacity arrives before the stock-out at the
    /// service level; `None` when stock lasts the whole horizon at that level.
    pub order_by: Option<Date>,
    /// The stock-out date at the service level.
    pub stock_out: Option<Date>,
    /// Whether stock may run out (at the service level) before an order placed today
    /// arrives.
    pub at_risk: bool,
    /// Days between an order placed today arriving and the stock-out at the service
    /// level (negative: at risk); `None` without a stock-out in the horizon.
    pub slack_days: Option<i64>,
    /// The last day the advised order is meant to cover.
    pub covered_until: Date,
}

impl RestockAdvice {
    /// Sort key for listing pools: at risk first, then least slack, then the rest.
    pub fn urgency(&self) -> (u8, i64) {
        match self.slack_days {
            Some(s) if self.at_risk => (0, s),
            Some(s) => (1, s),
            None => (2, 0),
        }
    }
}

/// Restock advice from net consumption paths. Days beyond the paths' horizon are not
/// covered, so the horizon should reach past lead time + review period.
pub fn restock(net: &SamplePaths, pos: &StockPosition, policy: &RestockPolicy) -> RestockAdvice {
    let h = net.horizon();
    let cover = ((policy.lead_time_days + policy.review_days) as usize).min(h);
    let supply = pos.supply(net.start, h);
    // Each path's largest shortfall up to the end of the cover period.
    let mut shortfalls: Vec<f64> = net
        .paths
        .iter()
        .map(|p| {
            let mut cum = 0.0;
            let mut worst: f64 = 0.0;
            for d in 0..cover {
                cum += p[d];
                worst = worst.max(cum - supply[d]);
            }
            worst
        })
        .collect();
    let order_units = stats::quantile_mut(&mut shortfalls, policy.service_level).max(0.0);
    let out = stock_out_date(net, pos, policy.service_level);
    let arrival = pos.today + Duration::days(i64::from(policy.lead_time_days));
    let slack = out.map(|d| (d - arrival).whole_days());
    RestockAdvice {
        order_units,
        order_by: out.map(|d| d - Duration::days(i64::from(policy.lead_time_days))),
        stock_out: out,
        at_risk: slack.is_some_and(|s| s < 0),
        slack_days: slack,
        covered_until: pos.today + Duration::days(cover as i64),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::stats::Rng;

    /// `n` paths of 60 days with demand 10 ± noise a day.
    fn paths(n: usize, noise: f64) -> SamplePaths {
        let mut rng = Rng::new(5);
        SamplePaths {
            start: date!(2026 - 01 - 02),
            paths: (0..n)
                .map(|_| {
                    let level = 10.0 * (noise * rng.normal()).exp();
                    (0..60).map(|_| level).collect()
                })
                .collect(),
        }
    }

    fn position(stock: f64) -> StockPosition {
        StockPosition {
            today: date!(2026 - 01 - 01),
            stock_left: stock,
            capacity_changes: vec![],
            reservations: vec![],
        }
    }

    #[test]
    fn without_uncertainty_stock_runs_out_on_the_day_the_sum_passes_it() {
        let net = paths(50, 0.0);
        // 10 a day against 95: day 10 (index 9) brings the sum to 100.
        let s = stock_out(&net, &position(95.0));
        assert_eq!(s.p50, Some(date!(2026 - 01 - 11)));
        assert_eq!(s.p50, s.p95);
        assert_eq!(s.probability_within_horizon, 1.0);
        assert_eq!(stock_out(&net, &position(1e6)).p95, None);
    }

    #[test]
    fn the_cautious_level_comes_first() {
        let net = paths(400, 0.3);
        let s = stock_out(&net, &position(300.0));
        let (a, b, c) = (s.p50.unwrap(), s.p80.unwrap(), s.p95.unwrap());
        assert!(c <= b && b <= a, "{s:?}");
        assert!(c < a, "uncertain demand spreads the dates: {s:?}");
    }

    #[test]
    fn arrivals_and_reservations_move_the_date() {
        let net = paths(20, 0.0);
        let mut pos = position(95.0);
        pos.capacity_changes.push(DatedUnits {
            date: date!(2026 - 01 - 05),
            units: 100.0,
        });
        assert_eq!(stock_out(&net, &pos).p50, Some(date!(2026 - 01 - 21)));
        pos.reservations.push(DatedUnits {
            date: date!(2026 - 01 - 03),
            units: 50.0,
        });
        assert_eq!(stock_out(&net, &pos).p50, Some(date!(2026 - 01 - 16)));
    }

    #[test]
    fn restock_orders_enough_for_lead_time_and_review_and_flags_risk() {
        let net = paths(50, 0.0);
        let policy = RestockPolicy {
            lead_time_days: 20,
            review_days: 10,
            service_level: 0.95,
        };
        // 300 units of demand over 30 days against 95 in stock.
        let a = restock(&net, &position(95.0), &policy);
        assert!((a.order_units - 205.0).abs() < 1e-9, "{a:?}");
        assert!(a.at_risk);
        assert_eq!(a.stock_out, Some(date!(2026 - 01 - 11)));
        assert_eq!(a.order_by, Some(date!(2025 - 12 - 22)));
        let calm = restock(&net, &position(500.0), &policy);
        assert_eq!(calm.order_units, 0.0);
        assert!(!calm.at_risk);
        assert!(a.urgency() < calm.urgency());
    }
}
