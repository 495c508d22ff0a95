//! Rolling-origin backtests of the demand model on one daily series: the model is fitted
//! on the days before each origin only and scored on the `horizon` days after it, with
//! M4's sMAPE and MASE (seasonal period 7, the week, for daily data).

use time::{Date, Duration};

use crate::demand::{forecast_demand, DailySeries, DemandConfig, PromotionEvent};
use crate::m4;
use crate::ForecastError;

/// Where the origins fall and what is forecast from each.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestConfig {
    /// Days forecast from each origin.
    pub horizon: usize,
    /// Number of origins; the last is `horizon` days before the end of the series.
    pub origins: usize,
    /// Days between consecutive origins.
    pub step: usize,
    /// The model's settings (its horizon is replaced by `horizon`).
    pub demand: DemandConfig,
}

impl Default for BacktestConfig {
    fn default() -> Self {
        BacktestConfig {
            horizon: 28,
            origins: 4,
            step: 28,
            demand: DemandConfig {
                paths: 100,
                ..DemandConfig::default()
            },
        }
    }
}

/// The score of one origin.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OriginScore {
    /// The first forecast day.
    pub origin: Date,
    pub smape: f64,
    pub mase: f64,
}

/// All origins and their means.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Backtest {
    pub origins: Vec<OriginScore>,
    pub smape: f64,
    pub mase: f64,
}

/// The seasonal period of MASE for daily data.
pub const DAILY_PERIOD: usize = 7;

/// Runs the backtest. Origins whose training part is shorter than four weeks, or whose
/// scale (in-sample weekly-naive error) is zero, are skipped.
pub fn backtest(
    series: &DailySeries,
    promotions: &[PromotionEvent],
    cfg: &BacktestConfig,
) -> Result<Backtest, ForecastError> {
    let n = series.values.len();
    let mut origins = Vec::new();
    for k in (0..cfg.origins).rev() {
        let Some(cut) = n.checked_sub(cfg.horizon + k * cfg.step) else {
            continue;
        };
        if cut < 28 {
            continue;
        }
        let origin = series.start + Duration::days(cut as i64);
        let train = series.before(origin);
        let actual = series.window(origin, cfg.horizon);
        let demand = DemandConfig {
            horizon: cfg.horizon,
            ..cfg.demand.clone()
        };
        let f = forecast_demand(&train, promotions, &demand)?;
        // Missing days are left out of both the errors and the scale.
        let (ys, fs): (Vec<f64>, Vec<f64>) = actual
            .iter()
            .zip(&f.days)
            .filter(|(y, _)| y.is_finite())
            .map(|(y, d)| (*y, d.mean))
            .unzip();
        let insample: Vec<f64> = train
            .values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        let scale = m4::seasonal_naive_mae(&insample, DAILY_PERIOD);
        if ys.is_empty() || scale.is_nan() || scale <= 0.0 {
            continue;
        }
        origins.push(OriginScore {
            origin,
            smape: m4::smape(&ys, &fs),
            mase: m4::mase(&insample, &ys, &fs, DAILY_PERIOD),
        });
    }
    let k = origins.len().max(1) as f64;
    Ok(Backtest {
        smape: origins.iter().map(|o| o.smape).sum::<f64>() / k,
        mase: origins.iter().map(|o| o.mase).sum::<f64>() / k,
        origins,
    })
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::stats::Rng;

    #[test]
    fn a_regular_weekly_series_backtests_well_and_origins_step_back_from_the_end() {
        let mut rng = Rng::new(2);
        let values: Vec<f64> = (0..400)
            .map(|i| {
                (50.0 + 0.05 * i as f64)
                    * [1.0, 1.1, 1.1, 1.0, 1.2, 0.6, 0.5][i % 7]
                    * (0.05 * rng.normal()).exp()
            })
            .collect();
        let series = DailySeries::new(date!(2025 - 01 - 01), values);
        let b = backtest(&series, &[], &BacktestConfig::default()).unwrap();
        assert_eq!(b.origins.len(), 4);
        assert_eq!(b.origins[3].origin, series.date(400 - 28));
        assert_eq!(b.origins[0].origin, series.date(400 - 28 - 3 * 28));
        // Better than the weekly naive forecast (MASE 1), and sMAPE near the 5% noise.
        assert!(b.mase < 0.95 && b.smape < 6.0, "{b:?}");
    }
}
