//! Daily demand of one pool: trend, weekly and yearly seasonality and promotion effects
//! learned from the calendar, with sample paths for intervals and stock-out dates.
//!
//! # The model
//! On z = ln(y + c) (c keeps zero days finite), in three stages:
//! 1. **Baseline.** Weighted least squares on the days no promotion touches (each
//!    promotion's days widened by `max_ramp_days` on both sides): intercept, a linear
//!    trend (constant growth rate), day-of-week effects and, with a year and a half of
//!    history or more, a yearly Fourier series (shrunk toward none below two years). Recent days weigh more (half-life one year), so the
//!    trend follows the current growth. The residuals follow an AR(1).
//! 2. **Promotion effects.** For every past promotion the ratio of actual demand to the
//!    baseline is read day by day, from `max_ramp_days` before to `max_ramp_days` after
//!    its window. Scaled to full reach, its mean over the window is the promotion's
//!    *realised uplift*; the days next to the window whose mean log ratio over the
//!    key's occurrences exceeds 3σ/√n (σ the residual sd) are its *ramp* before and after; the day-by-day ratios, divided by the
//!    uplift, are its *shape*. Recurrences of one promotion share a key ("double11").
//! 3. **Business prior, corrected by history.** A coming promotion's uplift starts from
//!    the business's `expected_uplift` E and is corrected by how the realised *excess*
//!    (uplift − 1) of earlier occurrences compared with the excess the business expected
//!    for them: ρ = (U − 1)/(E − 1), so posterior = 1 + (E − 1)·ρ̂. Working on the excess
//!    lets a pool that follows promotions weakly (storage, say) learn one ratio that
//!    holds for small and big promotions alike. ρ̂ is a precision-weighted (normal-normal)
//!    blend on the log scale: the prior says the business is right (ln ρ = 0, sd
//!    `prior_log_sd`); each past occurrence says ln ρᵢ with the variance of its
//!    estimate (larger for short windows, small reach and noisy pools) plus
//!    `recurrence_log_sd`² for the year-to-year change of a promotion. So a key with
//!    more and cleaner history weighs more, and a merchant's sale that reaches 2% of a
//!    pool barely moves it. A key never seen before borrows from all past promotions of
//!    the pool, each with an extra between-promotion variance, with a flat shape and no
//!    ramp. The posterior sd of ln ρ enters the sample paths, drawn from a stream seeded
//!    by the promotion's id so that every pool sees the same draw of a promotion in a
//!    given path (their roll-ups then carry the promotion's shared uncertainty).
//!
//! Sample paths simulate the AR(1) residual, the uncertainty of the growth rate and of
//! each uplift; means and the 80% and 95% intervals are taken from them.

use time::{Date, Duration};

use cairn_domain::PromotionId;

use crate::stats::{self, Rng};
use crate::ForecastError;

/// A daily series: `values[i]` is the demand on `start + i` days. `NaN` marks a missing
/// day.
#[derive(Debug, Clone, PartialEq)]
pub struct DailySeries {
    pub start: Date,
    pub values: Vec<f64>,
}

impl DailySeries {
    pub fn new(start: Date, values: Vec<f64>) -> DailySeries {
        DailySeries { start, values }
    }

    /// The date of index `i`.
    pub fn date(&self, i: usize) -> Date {
        self.start + Duration::days(i as i64)
    }

    /// The last day, or the day before `start` when empty.
    pub fn end(&self) -> Date {
        self.start + Duration::days(self.values.len() as i64 - 1)
    }

    /// The days before `date` (exclusive), as a new series.
    pub fn before(&self, date: Date) -> DailySeries {
        let n = (date - self.start)
            .whole_days()
            .clamp(0, self.values.len() as i64) as usize;
        DailySeries::new(self.start, self.values[..n].to_vec())
    }

    /// The values from `from` for `days` days (NaN where the series has none).
    pub fn window(&self, from: Date, days: usize) -> Vec<f64> {
        let off = (from - self.start).whole_days();
        (0..days as i64)
            .map(|k| {
                let i = off + k;
                if i >= 0 && (i as usize) < self.values.len() {
                    self.values[i as usize]
                } else {
                    f64::NAN
                }
            })
            .collect()
    }
}

/// One occurrence of a promotion as it applies to one pool.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotionEvent {
    pub id: PromotionId,
    /// What recurrences share: every year's Double 11 has the key `promo-double11`.
    pub key: String,
    pub name: String,
    /// The first and last day of its window, inclusive, in the calendar's local time.
    pub first_day: Date,
    pub last_day: Date,
    /// The business's expectation, as in [`cairn_domain::Promotion`]: demand during the
    /// promotion as a multiple of normal demand, averaged over its days (3.0 = 3×, 1.0 =
    /// no effect). It refers to the demand the promotion reaches.
    pub expected_uplift: f64,
    /// The share of this pool's demand the promotion reaches, in (0, 1]: 1 for a global
    /// promotion, a merchant's share of the pool for a merchant's own sale. A pool's
    /// multiplier is 1 + reach · (uplift − 1).
    pub reach: f64,
}

impl PromotionEvent {
    fn days(&self) -> usize {
        ((self.last_day - self.first_day).whole_days() + 1).max(1) as usize
    }
}

/// How to fit and simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct DemandConfig {
    /// Days to forecast after the last day of history.
    pub horizon: usize,
    /// Sample paths to simulate (at least 20).
    pub paths: usize,
    pub seed: u64,
    /// The widest ramp looked for before and after a promotion's window.
    pub max_ramp_days: usize,
    /// How far (log-sd) the business's expected excess may be from the realised one
    /// before any history: 0.5 allows a factor of about 1.6 either way.
    pub prior_log_sd: f64,
    /// How much (log-sd) a promotion's realised-to-expected ratio changes from one
    /// occurrence to the next.
    pub recurrence_log_sd: f64,
    /// Whether to use the promotion calendar at all (off: the same model without
    /// promotions, for comparisons).
    pub promotions: bool,
}

impl Default for DemandConfig {
    fn default() -> Self {
        DemandConfig {
            horizon: 90,
            paths: 500,
            seed: 0x5EED,
            max_ramp_days: 7,
            prior_log_sd: 0.5,
            recurrence_log_sd: 0.15,
            promotions: true,
        }
    }
}

/// Sample paths of daily demand: `paths[p][d]` is path p's demand on `start + d`.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplePaths {
    pub start: Date,
    pub paths: Vec<Vec<f64>>,
}

impl SamplePaths {
    pub fn horizon(&self) -> usize {
        self.paths.first().map_or(0, Vec::len)
    }

    pub fn date(&self, d: usize) -> Date {
        self.start + Duration::days(d as i64)
    }

    /// The mean over paths, day by day.
    pub fn mean(&self) -> Vec<f64> {
        let n = self.paths.len().max(1) as f64;
        (0..self.horizon())
            .map(|d| self.paths.iter().map(|p| p[d]).sum::<f64>() / n)
            .collect()
    }

    /// The `q`-quantile over paths of each day.
    pub fn quantiles(&self, q: f64) -> Vec<f64> {
        (0..self.horizon())
            .map(|d| {
                let mut v: Vec<f64> = self.paths.iter().map(|p| p[d]).collect();
                stats::quantile_mut(&mut v, q)
            })
            .collect()
    }

    /// Path-wise `self − other` (e.g. sales minus releases: net consumption). Both must
    /// start on the same day; the shorter horizon and path count win.
    pub fn minus(&self, other: &SamplePaths) -> SamplePaths {
        let paths = self
            .paths
            .iter()
            .zip(&other.paths)
            .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x - y).collect())
            .collect();
        SamplePaths {
            start: self.start,
            paths,
        }
    }

    /// Path-wise sum of several path sets (all starting on one day, with equal counts):
    /// the bottom-up roll-up.
    pub fn sum<'a>(
        start: Date,
        horizon: usize,
        parts: impl IntoIterator<Item = &'a SamplePaths>,
    ) -> SamplePaths {
        let mut acc: Vec<Vec<f64>> = Vec::new();
        for part in parts {
            if acc.is_empty() {
                acc = vec![vec![0.0; horizon]; part.paths.len()];
            }
            for (a, p) in acc.iter_mut().zip(&part.paths) {
                for (x, y) in a.iter_mut().zip(p) {
                    *x += y;
                }
            }
        }
        SamplePaths { start, paths: acc }
    }
}

/// One forecast day: the mean, the median, the intervals and the components.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DayForecast {
    pub date: Date,
    pub mean: f64,
    pub median: f64,
    pub lo80: f64,
    pub hi80: f64,
    pub lo95: f64,
    pub hi95: f64,
    pub components: Components,
}

/// What a day's forecast is made of: median demand ≈ trend · weekly · yearly ·
/// promotion (less the small offset that keeps zero days finite).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Components {
    /// The deseasonalised level in demand units, including the carry-over of recent
    /// deviations.
    pub trend: f64,
    /// The day-of-week factor (the week's factors average 1 on the log scale).
    pub weekly: f64,
    /// The time-of-year factor (1 without a year of history).
    pub yearly: f64,
    /// The promotions' combined factor for this pool (1 on ordinary days).
    pub promotion: f64,
}

/// Whether a promotion is in the history (learned from) or ahead (applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Timing {
    Past,
    Coming,
}

/// How one promotion was read from history or will be applied: the explanation table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PromotionEffect {
    pub id: PromotionId,
    pub name: String,
    pub key: String,
    pub first_day: Date,
    pub last_day: Date,
    pub timing: Timing,
    pub reach: f64,
    /// The business's expected uplift (the prior).
    pub expected_uplift: f64,
    /// Past: the uplift realised in history. Coming: the mean realised uplift of earlier
    /// occurrences of the same key, if any.
    pub learned_uplift: Option<f64>,
    /// Past occurrences of the key that history holds.
    pub past_occurrences: usize,
    /// Realised ÷ expected, as learned (1 when nothing was learned).
    pub correction: f64,
    /// The uplift applied to a coming promotion (the realised one for a past promotion).
    pub posterior_uplift: f64,
    /// Days before and after the window with an effect.
    pub ramp_before_days: usize,
    pub ramp_after_days: usize,
    /// The pool-level multiplier by day, from the first ramp day to the last.
    pub daily_multipliers: Vec<(Date, f64)>,
}

/// A summary of the fitted model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FitSummary {
    pub days_used: usize,
    pub weekly: bool,
    pub yearly: bool,
    /// Growth of the baseline per year (0.2 = +20%/year).
    pub growth_per_year: f64,
    /// The residual AR(1) coefficient and innovation sd on the log scale.
    pub ar_phi: f64,
    pub noise_sd: f64,
}

/// A pool's demand forecast, with its explanation and sample paths.
#[derive(Debug, Clone, PartialEq)]
pub struct DemandForecast {
    pub days: Vec<DayForecast>,
    pub promotions: Vec<PromotionEffect>,
    pub fit: FitSummary,
    pub paths: SamplePaths,
}

const YEAR: f64 = 365.25;

/// Regressor layout of the baseline.
struct Design {
    weekly: bool,
    harmonics: usize,
    /// The day index (from the Unix epoch) of the history's last day: trend origin.
    origin: i64,
}

impl Design {
    fn width(&self) -> usize {
        2 + if self.weekly { 6 } else { 0 } + 2 * self.harmonics
    }

    /// The regressors of calendar day `epoch_day`.
    fn row(&self, epoch_day: i64, out: &mut Vec<f64>) {
        out.clear();
        out.push(1.0);
        out.push((epoch_day - self.origin) as f64 / YEAR);
        if self.weekly {
            // 1970-01-01 was a Thursday; index 0 = Monday.
            let dow = (epoch_day + 3).rem_euclid(7) as usize;
            for k in 1..7 {
                out.push(if dow == k { 1.0 } else { 0.0 });
            }
        }
        for k in 1..=self.harmonics {
            let a = std::f64::consts::TAU * k as f64 * epoch_day as f64 / YEAR;
            out.push(a.sin());
            out.push(a.cos());
        }
    }
}

fn epoch_day(d: Date) -> i64 {
    (d - Date::from_calendar_date(1970, time::Month::January, 1).expect("valid date")).whole_days()
}

/// The fitted baseline: coefficients and how to split them into components.
struct Baseline {
    design: Design,
    beta: Vec<f64>,
    slope_se: f64,
}

impl Baseline {
    fn value(&self, epoch_day: i64, row: &mut Vec<f64>) -> f64 {
        self.design.row(epoch_day, row);
        row.iter().zip(&self.beta).map(|(x, b)| x * b).sum()
    }

    /// (level incl. the week's mean effect, weekly deviation, yearly part) on the log scale.
    fn parts(&self, epoch_day: i64) -> (f64, f64, f64) {
        let b = &self.beta;
        let mut level = b[0] + b[1] * (epoch_day - self.design.origin) as f64 / YEAR;
        let mut weekly = 0.0;
        let mut i = 2;
        if self.design.weekly {
            let effects: Vec<f64> = std::iter::once(0.0)
                .chain(b[2..8].iter().copied())
                .collect();
            let mean = effects.iter().sum::<f64>() / 7.0;
            let dow = (epoch_day + 3).rem_euclid(7) as usize;
            level += mean;
            weekly = effects[dow] - mean;
            i = 8;
        }
        let mut yearly = 0.0;
        for k in 1..=self.design.harmonics {
            let a = std::f64::consts::TAU * k as f64 * epoch_day as f64 / YEAR;
            yearly += b[i] * a.sin() + b[i + 1] * a.cos();
            i += 2;
        }
        (level, weekly, yearly)
    }
}

/// What history says about one key.
#[derive(Debug, Clone, Default)]
struct KeyHistory {
    occurrences: usize,
    /// Per occurrence: ln((U − 1)/(E − 1)) and the variance of that estimate.
    observations: Vec<(f64, f64)>,
    mean_uplift: f64,
    /// Shape of the excess by window fraction: (fraction, shape) samples of all
    /// occurrences, later averaged by interpolation.
    window_shapes: Vec<Vec<f64>>,
    /// Sums of pool-level log ratios on ramp days (index 0 = one day outside the
    /// window), for the noise test.
    before_log: Vec<f64>,
    after_log: Vec<f64>,
    /// Sums, then means, of the full-reach excess (ratio − 1) on ramp days.
    before: Vec<f64>,
    after: Vec<f64>,
    ramp_before: usize,
    ramp_after: usize,
}

/// Forecasts `horizon` days after the last day of `history`.
pub fn forecast_demand(
    history: &DailySeries,
    promotions: &[PromotionEvent],
    cfg: &DemandConfig,
) -> Result<DemandForecast, ForecastError> {
    let n = history.values.len();
    let observed = history.values.iter().filter(|v| v.is_finite()).count();
    if observed == 0 {
        return Err(ForecastError::Invalid {
            field: "history",
            message: "has no observed day".into(),
        });
    }
    if history.values.iter().any(|v| v.is_finite() && *v < 0.0) {
        return Err(ForecastError::Invalid {
            field: "history",
            message: "demand must not be negative".into(),
        });
    }
    for p in promotions {
        if p.last_day < p.first_day {
            return Err(ForecastError::Invalid {
                field: "promotions",
                message: format!("{}: last_day is before first_day", p.id),
            });
        }
        if !(p.expected_uplift.is_finite() && p.expected_uplift > 0.0) {
            return Err(ForecastError::Invalid {
                field: "promotions",
                message: format!("{}: expected_uplift must be > 0", p.id),
            });
        }
    }
    let promotions: &[PromotionEvent] = if cfg.promotions { promotions } else { &[] };
    let r = cfg.max_ramp_days as i64;
    let h = cfg.horizon;
    let end = history.end();

    let mean_y = history.values.iter().filter(|v| v.is_finite()).sum::<f64>() / observed as f64;
    let c = (0.05 * mean_y).clamp(0.1, 1.0);
    let z: Vec<f64> = history
        .values
        .iter()
        .map(|v| {
            if v.is_finite() {
                (v + c).ln()
            } else {
                f64::NAN
            }
        })
        .collect();

    // Days any promotion may touch are kept out of the baseline fit.
    let mut touched = vec![false; n];
    for p in promotions {
        let a = (p.first_day - history.start).whole_days() - r;
        let b = (p.last_day - history.start).whole_days() + r;
        for i in a.max(0)..=b.min(n as i64 - 1) {
            touched[i as usize] = true;
        }
    }
    let clean: Vec<usize> = (0..n)
        .filter(|&i| z[i].is_finite() && !touched[i])
        .collect();
    let fit_days: Vec<usize> = if clean.len() >= 14 {
        clean
    } else {
        (0..n).filter(|&i| z[i].is_finite()).collect()
    };
    let span = fit_days.last().copied().unwrap_or(0) - fit_days.first().copied().unwrap_or(0) + 1;
    let design = Design {
        weekly: span >= 21,
        // A yearly cycle needs well over a year to be told apart from the trend.
        harmonics: if span >= 730 {
            6
        } else if span >= 540 {
            3
        } else {
            0
        },
        origin: epoch_day(end),
    };
    let baseline = fit_baseline(history, &z, &fit_days, design);

    let mut row = Vec::new();
    let base: Vec<f64> = (0..n)
        .map(|i| baseline.value(epoch_day(history.date(i)), &mut row))
        .collect();
    let resid: Vec<f64> = (0..n)
        .map(|i| {
            if fit_days.binary_search(&i).is_ok() {
                z[i] - base[i]
            } else {
                f64::NAN
            }
        })
        .collect();
    let (phi, sigma) = ar1(&resid);
    let resid_sd = (sigma * sigma / (1.0 - phi * phi).max(1e-3)).sqrt();
    // The mean of exp(residual): converts baseline medians into means.
    let smear = {
        let xs: Vec<f64> = resid
            .iter()
            .filter(|v| v.is_finite())
            .map(|v| v.exp())
            .collect();
        if xs.is_empty() {
            1.0
        } else {
            xs.iter().sum::<f64>() / xs.len() as f64
        }
    };

    // Stage 2: read past promotions.
    let is_past = |p: &PromotionEvent| p.last_day + Duration::days(r) <= end;
    let mut keys: std::collections::BTreeMap<&str, KeyHistory> = Default::default();
    // Per past promotion: its realised uplift and its pool-level ratio by day.
    let mut realised: std::collections::HashMap<&PromotionId, Realised> = Default::default();
    let mut all_observations: Vec<(f64, f64)> = Vec::new();
    for p in promotions.iter().filter(|p| is_past(p)) {
        let len = p.days();
        let reach = p.reach.clamp(0.05, 1.0);
        let from = p.first_day - Duration::days(r);
        let days = len + 2 * r as usize;
        let mut full = Vec::with_capacity(days);
        let mut pool_level = Vec::with_capacity(days);
        for k in 0..days {
            let d = from + Duration::days(k as i64);
            let i = (d - history.start).whole_days();
            let ratio = if i >= 0 && (i as usize) < n && z[i as usize].is_finite() {
                (z[i as usize] - base[i as usize]).exp() / smear
            } else {
                f64::NAN
            };
            pool_level.push((d, ratio));
            full.push(1.0 + (ratio - 1.0) / reach);
        }
        let window: Vec<f64> = full[r as usize..r as usize + len]
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        if window.is_empty() {
            continue;
        }
        let uplift = (window.iter().sum::<f64>() / window.len() as f64).max(0.05);
        realised.insert(&p.id, (uplift, pool_level.clone()));
        let e = keys.entry(p.key.as_str()).or_default();
        if p.expected_uplift > 1.02 {
            // The pool-level mean ratio has variance ≈ σ²·R̄²/L; scaled to full reach and
            // taken to the log of the excess by the delta method.
            let pool_ratios: Vec<f64> = pool_level[r as usize..r as usize + len]
                .iter()
                .map(|x| x.1)
                .filter(|v| v.is_finite())
                .collect();
            let rbar = pool_ratios.iter().sum::<f64>() / pool_ratios.len().max(1) as f64;
            let ex = (uplift - 1.0).max(0.02);
            let var = resid_sd * resid_sd * rbar * rbar
                / (pool_ratios.len().max(1) as f64 * reach * reach * ex.max(0.05).powi(2));
            let obs = ((ex / (p.expected_uplift - 1.0)).ln(), var);
            e.observations.push(obs);
            all_observations.push(obs);
        }
        e.occurrences += 1;
        e.mean_uplift += uplift;
        let excess = uplift - 1.0;
        let shape_of = |v: f64| {
            if excess.abs() > 0.05 && v.is_finite() {
                (v - 1.0) / excess
            } else {
                f64::NAN
            }
        };
        e.window_shapes.push(
            full[r as usize..r as usize + len]
                .iter()
                .map(|&v| shape_of(v))
                .collect(),
        );
        // Ramp days, nearest the window first.
        let before_idx: Vec<usize> = (0..r as usize).map(|k| r as usize - 1 - k).collect();
        let after_idx: Vec<usize> = (0..r as usize).map(|k| r as usize + len + k).collect();
        let logs =
            |idx: &[usize]| -> Vec<f64> { idx.iter().map(|&i| pool_level[i].1.ln()).collect() };
        let excesses = |idx: &[usize]| -> Vec<f64> { idx.iter().map(|&i| full[i] - 1.0).collect() };
        accumulate(&mut e.before_log, &logs(&before_idx));
        accumulate(&mut e.after_log, &logs(&after_idx));
        accumulate(&mut e.before, &excesses(&before_idx));
        accumulate(&mut e.after, &excesses(&after_idx));
    }
    for e in keys.values_mut() {
        let k = e.occurrences as f64;
        e.mean_uplift /= k;
        // A ramp day counts when its mean log ratio stands out of the noise.
        let limit = 3.0 * resid_sd / k.sqrt();
        e.ramp_before = e
            .before_log
            .iter()
            .take_while(|v| (*v / k).abs() > limit)
            .count();
        e.ramp_after = e
            .after_log
            .iter()
            .take_while(|v| (*v / k).abs() > limit)
            .count();
        e.before = e.before.iter().map(|v| v / k).collect();
        e.after = e.after.iter().map(|v| v / k).collect();
    }

    // Stage 3: every promotion's effect, and the coming ones' multipliers.
    let first_future = end + Duration::days(1);
    let mut effects = Vec::new();
    let mut coming: Vec<Coming> = Vec::new();
    for p in promotions {
        let kh = keys.get(p.key.as_str());
        let past_occ = kh.map_or(0, |k| k.occurrences);
        if is_past(p) {
            if let Some((uplift, days)) = realised.get(&p.id) {
                effects.push(PromotionEffect {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    key: p.key.clone(),
                    first_day: p.first_day,
                    last_day: p.last_day,
                    timing: Timing::Past,
                    reach: p.reach,
                    expected_uplift: p.expected_uplift,
                    learned_uplift: Some(*uplift),
                    past_occurrences: past_occ,
                    correction: if p.expected_uplift > 1.02 {
                        (uplift - 1.0) / (p.expected_uplift - 1.0)
                    } else {
                        1.0
                    },
                    posterior_uplift: *uplift,
                    ramp_before_days: kh.map_or(0, |k| k.ramp_before),
                    ramp_after_days: kh.map_or(0, |k| k.ramp_after),
                    daily_multipliers: days
                        .iter()
                        .filter(|(_, v)| v.is_finite())
                        .copied()
                        .collect(),
                });
            }
            continue;
        }
        if p.last_day + Duration::days(r) < first_future {
            continue;
        }
        let recur = cfg.recurrence_log_sd.powi(2);
        let (log_rho, log_sd) = if p.expected_uplift <= 1.02 {
            // Nothing promoted to scale: the business's figure stands.
            (0.0, 0.0)
        } else {
            match kh.filter(|k| !k.observations.is_empty()) {
                Some(k) => blend(&k.observations, recur, cfg.prior_log_sd),
                None => blend(
                    &all_observations,
                    recur + BETWEEN_PROMOTIONS_LOG_SD.powi(2),
                    cfg.prior_log_sd,
                ),
            }
        };
        let correction = log_rho.exp();
        let posterior = if p.expected_uplift <= 1.02 {
            p.expected_uplift
        } else {
            1.0 + (p.expected_uplift - 1.0) * correction
        };
        let shape = ShapeTable::new(kh, p.days());
        let reach = p.reach.clamp(0.0, 1.0);
        let daily: Vec<(Date, f64)> = shape
            .offsets()
            .map(|(off, s)| {
                let d = p.first_day + Duration::days(off);
                (d, (1.0 + reach * (posterior - 1.0) * s).max(0.0))
            })
            .collect();
        effects.push(PromotionEffect {
            id: p.id.clone(),
            name: p.name.clone(),
            key: p.key.clone(),
            first_day: p.first_day,
            last_day: p.last_day,
            timing: Timing::Coming,
            reach: p.reach,
            expected_uplift: p.expected_uplift,
            learned_uplift: kh.map(|k| k.mean_uplift),
            past_occurrences: past_occ,
            correction,
            posterior_uplift: posterior,
            ramp_before_days: shape.ramp_before,
            ramp_after_days: shape.ramp_after,
            daily_multipliers: daily,
        });
        coming.push(Coming {
            seed: fnv(p.id.as_str()),
            expected: p.expected_uplift,
            posterior,
            log_rho,
            log_sd,
            reach,
            first_day: p.first_day,
            shape,
        });
    }

    // Stage 4: simulate.
    let future_days: Vec<i64> = (0..h)
        .map(|d| epoch_day(first_future + Duration::days(d as i64)))
        .collect();
    let base_future: Vec<f64> = future_days
        .iter()
        .map(|&e| baseline.value(e, &mut row))
        .collect();
    // The last observed residual, decayed over any gap since (promotion days have none).
    let (last_resid, gap) = resid
        .iter()
        .rev()
        .enumerate()
        .find(|(_, v)| v.is_finite())
        .map_or((0.0, 0), |(k, v)| (*v, k));
    let carry = last_resid * phi.powi(gap as i32);
    // The pools' combined promotion multiplier on future day `d`, given each coming
    // promotion's uplift.
    let promo_mult = |d: usize, uplifts: &[f64]| -> f64 {
        let date = first_future + Duration::days(d as i64);
        coming
            .iter()
            .zip(uplifts)
            .map(|(cm, u)| {
                let s = cm.shape.at((date - cm.first_day).whole_days());
                (1.0 + cm.reach * (u - 1.0) * s).max(0.0)
            })
            .product()
    };
    let npaths = cfg.paths.max(20);
    let mut rng = Rng::new(cfg.seed ^ 0xD1CE_5EED);
    let mut paths = Vec::with_capacity(npaths);
    for pi in 0..npaths {
        let slope_dev = baseline.slope_se * rng.normal();
        let uplifts: Vec<f64> = coming
            .iter()
            .map(|cm| {
                let mut r = Rng::new(cm.seed ^ (pi as u64).wrapping_mul(0x9E37_79B9));
                if cm.expected <= 1.02 {
                    cm.expected
                } else {
                    1.0 + (cm.expected - 1.0) * (cm.log_rho + cm.log_sd * r.normal()).exp()
                }
            })
            .collect();
        let mut e = carry;
        let path: Vec<f64> = (0..h)
            .map(|d| {
                e = phi * e + sigma * rng.normal();
                let years = (d + 1) as f64 / YEAR;
                let zv = base_future[d] + slope_dev * years + e;
                ((zv.exp() - c).max(0.0) * promo_mult(d, &uplifts)).max(0.0)
            })
            .collect();
        paths.push(path);
    }
    let paths = SamplePaths {
        start: first_future,
        paths,
    };
    let mean = paths.mean();
    let qs: Vec<Vec<f64>> = [0.5, 0.1, 0.9, 0.025, 0.975]
        .iter()
        .map(|&q| paths.quantiles(q))
        .collect();
    let point_uplifts: Vec<f64> = coming.iter().map(|cm| cm.posterior).collect();
    let days = (0..h)
        .map(|d| {
            let (level, weekly, yearly) = baseline.parts(future_days[d]);
            let carried = carry * phi.powi(d as i32 + 1);
            DayForecast {
                date: first_future + Duration::days(d as i64),
                mean: mean[d],
                median: qs[0][d],
                lo80: qs[1][d],
                hi80: qs[2][d],
                lo95: qs[3][d],
                hi95: qs[4][d],
                components: Components {
                    trend: (level + carried).exp(),
                    weekly: weekly.exp(),
                    yearly: yearly.exp(),
                    promotion: promo_mult(d, &point_uplifts),
                },
            }
        })
        .collect();
    Ok(DemandForecast {
        days,
        promotions: effects,
        fit: FitSummary {
            days_used: fit_days.len(),
            weekly: baseline.design.weekly,
            yearly: baseline.design.harmonics > 0,
            growth_per_year: baseline.beta[1].exp() - 1.0,
            ar_phi: phi,
            noise_sd: sigma,
        },
        paths,
    })
}

/// A past promotion's realised uplift and its pool-level ratio by day.
type Realised = (f64, Vec<(Date, f64)>);

/// A coming promotion, ready to apply.
struct Coming {
    seed: u64,
    expected: f64,
    posterior: f64,
    /// The posterior mean and sd of ln((U − 1)/(E − 1)).
    log_rho: f64,
    log_sd: f64,
    reach: f64,
    first_day: Date,
    shape: ShapeTable,
}

/// The shape of a coming promotion by day offset from its first day: the excess over
/// normal demand as a share of the uplift's excess (window days average 1).
#[derive(Debug, Clone)]
struct ShapeTable {
    len: usize,
    window: Vec<f64>,
    before: Vec<f64>,
    after: Vec<f64>,
    ramp_before: usize,
    ramp_after: usize,
}

impl ShapeTable {
    fn new(kh: Option<&KeyHistory>, len: usize) -> ShapeTable {
        let Some(k) = kh else {
            return ShapeTable {
                len,
                window: vec![1.0; len],
                before: Vec::new(),
                after: Vec::new(),
                ramp_before: 0,
                ramp_after: 0,
            };
        };
        // Average the occurrences' window shapes, each resampled to this length by the
        // position of a day's centre within its window.
        let mut window = vec![0.0; len];
        let mut counts = vec![0usize; len];
        for s in &k.window_shapes {
            for (j, w) in window.iter_mut().enumerate() {
                let v = resample(s, (j as f64 + 0.5) / len as f64);
                if v.is_finite() {
                    *w += v;
                    counts[j] += 1;
                }
            }
        }
        for (w, &c) in window.iter_mut().zip(&counts) {
            *w = if c == 0 { 1.0 } else { *w / c as f64 };
        }
        // Renormalise so the window's mean is exactly 1: the uplift is its mean.
        let mean = window.iter().sum::<f64>() / len as f64;
        if mean.abs() > 1e-6 {
            window.iter_mut().for_each(|w| *w /= mean);
        } else {
            window = vec![1.0; len];
        }
        // Ramp days as shares of the key's mean excess.
        let excess = k.mean_uplift - 1.0;
        let ramp = |v: &[f64], days: usize| -> Vec<f64> {
            v.iter()
                .take(days)
                .map(|x| if excess.abs() > 0.05 { x / excess } else { 0.0 })
                .collect()
        };
        ShapeTable {
            len,
            window,
            before: ramp(&k.before, k.ramp_before),
            after: ramp(&k.after, k.ramp_after),
            ramp_before: k.ramp_before,
            ramp_after: k.ramp_after,
        }
    }

    /// The shape at `off` days from the first day (0 outside the ramps).
    fn at(&self, off: i64) -> f64 {
        if off < 0 {
            let k = (-off - 1) as usize;
            self.before.get(k).copied().unwrap_or(0.0)
        } else if (off as usize) < self.len {
            self.window[off as usize]
        } else {
            let k = off as usize - self.len;
            self.after.get(k).copied().unwrap_or(0.0)
        }
    }

    /// Every offset with an effect, in order, with its shape.
    fn offsets(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        let from = -(self.ramp_before as i64);
        let to = (self.len + self.ramp_after) as i64;
        (from..to).map(move |o| (o, self.at(o)))
    }
}

/// Linear interpolation of `s` (values at day centres) at window fraction `f`.
fn resample(s: &[f64], f: f64) -> f64 {
    let n = s.len();
    if n == 0 {
        return f64::NAN;
    }
    let x = f * n as f64 - 0.5;
    if x <= 0.0 {
        return s[0];
    }
    if x >= (n - 1) as f64 {
        return s[n - 1];
    }
    let i = x.floor() as usize;
    let t = x - i as f64;
    let (a, b) = (s[i], s[i + 1]);
    match (a.is_finite(), b.is_finite()) {
        (true, true) => a + (b - a) * t,
        (true, false) => a,
        (false, true) => b,
        _ => f64::NAN,
    }
}

/// Adds `v` element-wise into `acc` (missing values count as no effect).
fn accumulate(acc: &mut Vec<f64>, v: &[f64]) {
    if acc.len() < v.len() {
        acc.resize(v.len(), 0.0);
    }
    for (a, x) in acc.iter_mut().zip(v.iter()) {
        if x.is_finite() {
            *a += *x;
        }
    }
}

/// Weighted least squares of the baseline on `days`, with recency weights.
fn fit_baseline(history: &DailySeries, z: &[f64], days: &[usize], design: Design) -> Baseline {
    let k = design.width();
    let n = z.len();
    let half_life = 365.0;
    let mut xtx = vec![0.0; k * k];
    let mut xty = vec![0.0; k];
    let mut row = Vec::with_capacity(k);
    let mut wsum = 0.0;
    for &i in days {
        let w = 0.5f64.powf((n - 1 - i) as f64 / half_life);
        wsum += w;
        design.row(epoch_day(history.date(i)), &mut row);
        for a in 0..k {
            xty[a] += w * row[a] * z[i];
            for b in 0..k {
                xtx[a * k + b] += w * row[a] * row[b];
            }
        }
    }
    // A whisper of ridge keeps short or gappy histories solvable. The yearly terms get
    // more: with under two years they are barely told apart from the trend, and an
    // unshrunk fit extrapolates a spurious season.
    let first_fourier = k - 2 * design.harmonics;
    let span = days.last().map_or(0, |l| l - days[0] + 1) as f64;
    let yearly_ridge = if span < 730.0 { 0.05 } else { 0.002 };
    for a in 1..k {
        let lambda = if a >= first_fourier {
            yearly_ridge
        } else {
            1e-6
        };
        xtx[a * k + a] += lambda * wsum;
    }
    let xtx_copy = xtx.clone();
    let beta = stats::solve(&mut xtx, &mut xty, k).unwrap_or_else(|| {
        let mean = days.iter().map(|&i| z[i]).sum::<f64>() / days.len().max(1) as f64;
        let mut b = vec![0.0; k];
        b[0] = mean;
        b
    });
    // Residual variance and the slope's standard error, (X'WX)^-1 scaled by σ².
    let mut sse = 0.0;
    let mut w_total = 0.0;
    for &i in days {
        let w = 0.5f64.powf((n - 1 - i) as f64 / half_life);
        design.row(epoch_day(history.date(i)), &mut row);
        let fit: f64 = row.iter().zip(&beta).map(|(x, b)| x * b).sum();
        sse += w * (z[i] - fit).powi(2);
        w_total += w;
    }
    let sigma2 = sse / (w_total - k as f64).max(1.0);
    let mut unit = vec![0.0; k];
    unit[1] = 1.0;
    let mut m = xtx_copy;
    let slope_var = stats::solve(&mut m, &mut unit, k).map_or(0.0, |inv| inv[1] * sigma2);
    // Residuals are autocorrelated, so the OLS standard error is too small; doubling it
    // is a plain, conservative correction.
    let slope_se = 2.0 * slope_var.max(0.0).sqrt();
    Baseline {
        design,
        beta,
        slope_se,
    }
}

/// AR(1) of a residual series with gaps: (phi, innovation sd).
fn ar1(resid: &[f64]) -> (f64, f64) {
    let (mut num, mut den) = (0.0, 0.0);
    for w in resid.windows(2) {
        if w[0].is_finite() && w[1].is_finite() {
            num += w[0] * w[1];
            den += w[0] * w[0];
        }
    }
    let phi = if den > 0.0 {
        (num / den).clamp(0.0, 0.98)
    } else {
        0.0
    };
    let mut sse = 0.0;
    let mut cnt = 0usize;
    for w in resid.windows(2) {
        if w[0].is_finite() && w[1].is_finite() {
            sse += (w[1] - phi * w[0]).powi(2);
            cnt += 1;
        }
    }
    let sigma = if cnt > 1 {
        (sse / (cnt - 1) as f64).sqrt()
    } else {
        let xs: Vec<f64> = resid.iter().copied().filter(|v| v.is_finite()).collect();
        let m = xs.iter().sum::<f64>() / xs.len().max(1) as f64;
        (xs.iter().map(|v| (v - m).powi(2)).sum::<f64>() / xs.len().max(1) as f64).sqrt()
    };
    (phi, sigma.max(1e-6))
}

/// The log-sd between different promotions' realised-to-expected ratios, used when a
/// promotion borrows from the others.
const BETWEEN_PROMOTIONS_LOG_SD: f64 = 0.3;

/// The normal-normal posterior (mean, sd) of a log ratio whose prior is N(0, prior_sd²),
/// from observations (value, variance), each with `extra` variance added.
fn blend(obs: &[(f64, f64)], extra: f64, prior_sd: f64) -> (f64, f64) {
    let mut precision = 1.0 / prior_sd.max(1e-6).powi(2);
    let mut weighted = 0.0;
    for &(x, v) in obs {
        let w = 1.0 / (v + extra).max(1e-9);
        precision += w;
        weighted += w * x;
    }
    (weighted / precision, precision.sqrt().recip())
}

/// FNV-1a of a string: a stable seed per promotion id.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use time::macros::date;
    use time::Weekday;

    use super::*;

    /// A synthetic pool: 100 units a day growing 30% a year, weekends at 70%, a yearly
    /// swing of ±10% and a yearly sale on 1–3 March whose realised uplift is 2.5×
    /// (flat), with two ramp days before it at 1.5× and one after at 1.3×; lognormal
    /// noise of 5%.
    struct Synthetic {
        start: Date,
        days: usize,
        noise: f64,
        uplift: f64,
    }

    impl Synthetic {
        fn new() -> Self {
            Synthetic {
                start: date!(2024 - 01 - 01),
                days: 900,
                noise: 0.05,
                uplift: 2.5,
            }
        }

        fn sale(&self, year: i32, expected: f64) -> PromotionEvent {
            PromotionEvent {
                id: PromotionId::new(format!("promo-spring-{year}")),
                key: "promo-spring".into(),
                name: format!("{year} spring sale"),
                first_day: Date::from_calendar_date(year, time::Month::March, 1).unwrap(),
                last_day: Date::from_calendar_date(year, time::Month::March, 3).unwrap(),
                expected_uplift: expected,
                reach: 1.0,
            }
        }

        fn baseline(&self, d: Date) -> f64 {
            let t = (d - self.start).whole_days() as f64 / YEAR;
            let weekly = match d.weekday() {
                Weekday::Saturday | Weekday::Sunday => 0.7,
                _ => 1.0,
            };
            let yearly = 1.0 + 0.1 * (std::f64::consts::TAU * d.ordinal() as f64 / YEAR).sin();
            100.0 * 1.3f64.powf(t) * weekly * yearly
        }

        fn multiplier(&self, d: Date) -> f64 {
            let first = Date::from_calendar_date(d.year(), time::Month::March, 1).unwrap();
            match (d - first).whole_days() {
                -2 | -1 => 1.5,
                0..=2 => self.uplift,
                3 => 1.3,
                _ => 1.0,
            }
        }

        fn series(&self) -> DailySeries {
            let mut rng = Rng::new(11);
            let values = (0..self.days)
                .map(|i| {
                    let d = self.start + Duration::days(i as i64);
                    self.baseline(d) * self.multiplier(d) * (self.noise * rng.normal()).exp()
                })
                .collect();
            DailySeries::new(self.start, values)
        }
    }

    fn cfg(horizon: usize) -> DemandConfig {
        DemandConfig {
            horizon,
            paths: 300,
            ..DemandConfig::default()
        }
    }

    #[test]
    fn a_recurring_sale_is_learned_and_the_business_prior_is_corrected() {
        let s = Synthetic::new();
        let history = s.series(); // 2024-01-01 .. 2026-06-18
                                  // The business expected 4× every year and expects 4× again for 2027.
        let promos: Vec<_> = (2024..=2027).map(|y| s.sale(y, 4.0)).collect();
        let f = forecast_demand(&history, &promos, &cfg(365)).unwrap();

        let past: Vec<&PromotionEffect> = f
            .promotions
            .iter()
            .filter(|e| e.timing == Timing::Past)
            .collect();
        assert_eq!(past.len(), 3);
        for e in &past {
            let u = e.learned_uplift.unwrap();
            assert!((u - 2.5).abs() < 0.2, "{}: learned {u}", e.id);
        }
        let coming = f
            .promotions
            .iter()
            .find(|e| e.id.as_str() == "promo-spring-2027")
            .unwrap();
        assert_eq!(coming.timing, Timing::Coming);
        assert_eq!(coming.past_occurrences, 3);
        assert_eq!((coming.ramp_before_days, coming.ramp_after_days), (2, 1));
        // History pulls the business's 4× most of the way down to the realised 2.5×.
        assert!(
            (2.5..3.0).contains(&coming.posterior_uplift),
            "posterior {}",
            coming.posterior_uplift
        );
        let on = |d: Date| {
            coming
                .daily_multipliers
                .iter()
                .find(|(x, _)| *x == d)
                .unwrap()
                .1
        };
        assert!((on(date!(2027 - 02 - 27)) - 1.5).abs() < 0.25);
        assert!((on(date!(2027 - 03 - 02)) - coming.posterior_uplift).abs() < 0.3);
        assert!((on(date!(2027 - 03 - 04)) - 1.3).abs() < 0.25);

        assert!((f.fit.growth_per_year - 0.3).abs() < 0.05, "{:?}", f.fit);
        assert!(f.fit.weekly && f.fit.yearly);
        // The explanation multiplies back to the forecast's median on an ordinary day
        // and on the sale's main day.
        for d in [date!(2026 - 07 - 04), date!(2027 - 03 - 02)] {
            let day = f.days.iter().find(|x| x.date == d).unwrap();
            let c = day.components;
            let product = c.trend * c.weekly * c.yearly * c.promotion;
            assert!(
                (product / day.median - 1.0).abs() < 0.06,
                "{d}: {c:?} vs {}",
                day.median
            );
            let truth = s.baseline(d) * s.multiplier(d);
            assert!(
                (day.mean / truth - 1.0).abs() < 0.12,
                "{d}: {} vs {truth}",
                day.mean
            );
        }
        let saturday = f
            .days
            .iter()
            .find(|x| x.date == date!(2026 - 07 - 04))
            .unwrap();
        let monday = f
            .days
            .iter()
            .find(|x| x.date == date!(2026 - 07 - 06))
            .unwrap();
        let ratio = saturday.components.weekly / monday.components.weekly;
        assert!((ratio - 0.7).abs() < 0.05, "{ratio}");
    }

    /// The explanation table a page shows for the coming sale, as text.
    fn render(e: &PromotionEffect) -> String {
        let mut out = format!(
            "{} {:?} expected {:.2} learned {} posterior {:.2} correction {:.2} past {} ramps {}/{}\n",
            e.id,
            e.timing,
            e.expected_uplift,
            e.learned_uplift.map_or("-".into(), |u| format!("{u:.2}")),
            e.posterior_uplift,
            e.correction,
            e.past_occurrences,
            e.ramp_before_days,
            e.ramp_after_days
        );
        for (d, m) in &e.daily_multipliers {
            out.push_str(&format!("  {d} ×{m:.1}\n"));
        }
        out
    }

    #[test]
    fn the_coming_sale_explains_itself() {
        let s = Synthetic::new();
        let promos: Vec<_> = (2024..=2027).map(|y| s.sale(y, 4.0)).collect();
        let f = forecast_demand(&s.series(), &promos, &cfg(300)).unwrap();
        let coming = f
            .promotions
            .iter()
            .find(|e| e.timing == Timing::Coming)
            .unwrap();
        expect_test::expect![[r#"
            promo-spring-2027 Coming expected 4.00 learned 2.54 posterior 2.58 correction 0.53 past 3 ramps 2/1
              2027-02-27 ×1.5
              2027-02-28 ×1.5
              2027-03-01 ×2.6
              2027-03-02 ×2.5
              2027-03-03 ×2.6
              2027-03-04 ×1.3
        "#]].assert_eq(&render(coming));
    }

    #[test]
    fn intervals_cover_about_their_share_of_what_happens_next() {
        let s = Synthetic {
            noise: 0.15,
            days: 900 + 120,
            ..Synthetic::new()
        };
        let full = s.series();
        let cut = s.start + Duration::days(900);
        let history = full.before(cut);
        let actual = full.window(cut, 120);
        let (mut in80, mut in95, mut total) = (0, 0, 0);
        for seed in 0..4u64 {
            let f = forecast_demand(&history, &[], &DemandConfig { seed, ..cfg(120) }).unwrap();
            for (d, y) in f.days.iter().zip(&actual) {
                in80 += usize::from(d.lo80 <= *y && *y <= d.hi80);
                in95 += usize::from(d.lo95 <= *y && *y <= d.hi95);
                total += 1;
            }
        }
        let (c80, c95) = (in80 as f64 / total as f64, in95 as f64 / total as f64);
        assert!((0.70..=0.92).contains(&c80), "80% interval covers {c80}");
        assert!((0.88..=0.995).contains(&c95), "95% interval covers {c95}");
    }

    #[test]
    fn short_gappy_histories_with_zeros_still_forecast() {
        let start = date!(2026 - 01 - 01);
        let values: Vec<f64> = (0..120)
            .map(|i| match i % 10 {
                3 => f64::NAN,
                7 => 0.0,
                _ => 5.0 + (i % 7) as f64,
            })
            .collect();
        let f = forecast_demand(&DailySeries::new(start, values), &[], &cfg(30)).unwrap();
        assert!(!f.fit.yearly, "no yearly seasonality from four months");
        assert!(f.fit.weekly);
        assert_eq!(f.days.len(), 30);
        assert_eq!(f.days[0].date, date!(2026 - 05 - 01));
        for d in &f.days {
            assert!(
                d.mean.is_finite() && d.lo95 >= 0.0 && d.lo95 <= d.median && d.median <= d.hi95
            );
        }
        let empty = DailySeries::new(start, vec![f64::NAN; 5]);
        assert!(forecast_demand(&empty, &[], &cfg(3)).is_err());
    }

    #[test]
    fn without_the_calendar_the_sale_is_not_forecast() {
        let s = Synthetic::new();
        let promos: Vec<_> = (2024..=2027).map(|y| s.sale(y, 4.0)).collect();
        let off = DemandConfig {
            promotions: false,
            ..cfg(300)
        };
        let f = forecast_demand(&s.series(), &promos, &off).unwrap();
        assert!(f.promotions.is_empty());
        let day = f
            .days
            .iter()
            .find(|x| x.date == date!(2027 - 03 - 02))
            .unwrap();
        assert_eq!(day.components.promotion, 1.0);
    }

    #[test]
    fn a_never_seen_promotion_takes_the_business_figure_with_a_flat_shape() {
        let s = Synthetic::new();
        let mut promos: Vec<_> = (2024..=2026).map(|y| s.sale(y, 4.0)).collect();
        promos.push(PromotionEvent {
            id: PromotionId::new("promo-new-2026"),
            key: "promo-new".into(),
            name: "a first-ever sale".into(),
            first_day: date!(2026 - 08 - 01),
            last_day: date!(2026 - 08 - 02),
            expected_uplift: 3.0,
            reach: 0.5,
        });
        let f = forecast_demand(&s.series(), &promos, &cfg(60)).unwrap();
        let e = f.promotions.iter().find(|e| e.key == "promo-new").unwrap();
        assert_eq!(e.past_occurrences, 0);
        assert_eq!(e.learned_uplift, None);
        // Borrowed from the spring sale, whose realised excess was half the expected
        // one, and held back toward the business's figure by the prior.
        assert!(e.correction > 0.5 && e.correction < 0.9, "{}", e.correction);
        assert_eq!(e.daily_multipliers.len(), 2);
        let m = e.daily_multipliers[0].1;
        assert!((m - (1.0 + 0.5 * (e.posterior_uplift - 1.0))).abs() < 1e-9);
    }
}
