//! General univariate point forecasting for regularly spaced series: a set of fast,
//! classical [`Method`]s and their [`Combination`]s.
//!
//! Why a combination: on M4 the simple average or median of a few diverse methods beats
//! each of its members (and most sophisticated single models), because members err in
//! different directions. The two presets were chosen on a *validation split*: the last
//! horizon of every M4 training series held out, every mean and median of 2 to 5
//! members scored, the best kept; the test files were not used to choose (see
//! `examples/select.rs`, which repeats the selection).
//!
//! - [`Combination::hourly`]: the median of seasonal naive (24 and 168) and MSTL
//!   [24, 168] followed by augurs' AutoETS on the adjusted series, on the raw values and
//!   on their logarithms (multiplicative seasonality is common in hourly load).
//! - [`Combination::weekly`]: on the last five years, the mean of augurs' AutoETS and an
//!   ARIMA(p,1,0) after M4's classical yearly (52-week) adjustment, and Theta after an
//!   MSTL yearly adjustment. Weekly M4 treats series as non-seasonal (m = 1); a yearly
//!   cycle in weekly sales is still real, and removing it is what gains most.
//!
//! augurs supplies MSTL (through `stlrs`) and ETS; what it lacks here (Theta, the
//! classical adjustment, the ARIMA(p,1,0), seasonal naive and the combination) is added.

use augurs::ets::AutoETS;
use augurs::mstl::stlrs;
use augurs::{Fit, Predict};

use crate::stats::{linear_fit, Ses};

/// A single forecasting method, one member of a combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// The last value repeated.
    Naive,
    /// The last season of the first period, repeated.
    SeasonalNaive,
    /// The last season of the longest period, repeated.
    SeasonalNaiveLong,
    /// MSTL with every period, then augurs' AutoETS (ZZN) on the seasonally adjusted
    /// series: statsforecast's "MSTL + AutoETS trend".
    MstlEts,
    /// MSTL, then a damped additive trend (augurs ETS AAdN) on the adjusted series.
    MstlDamped,
    /// MSTL, then the classic Theta method on the adjusted series.
    MstlTheta,
    /// MSTL, then SES on the adjusted series.
    MstlSes,
    /// MSTL on the logarithms, then AutoETS; back-transformed. Multiplicative seasonality.
    LogMstlEts,
    /// MSTL on the logarithms, then Theta.
    LogMstlTheta,
    /// Simple exponential smoothing.
    Ses,
    /// Additive damped trend ETS (augurs, AAdN).
    Damped,
    /// augurs AutoETS over non-seasonal models.
    AutoEts,
    /// Classic Theta.
    Theta,
    /// Naive plus the average historical change.
    Drift,
    /// M4's classical multiplicative adjustment (first period, when the seasonality test
    /// passes), then Theta.
    ClassicTheta,
    /// Classical adjustment, then a damped additive trend.
    ClassicDamped,
    /// Classical adjustment, then SES.
    ClassicSes,
    /// Classical adjustment, then AutoETS.
    ClassicAutoEts,
    /// An autoregression on first differences (order by AIC, up to 8) with drift:
    /// an ARIMA(p,1,0) fitted by least squares.
    ArDiff,
    /// Classical adjustment, then ArDiff.
    ClassicArDiff,
}

/// The series' periods and what to forecast.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// Seasonal periods, shortest first; empty for none.
    pub periods: &'a [usize],
    pub horizon: usize,
}

/// Forecasts `x` with one method. Falls back to the seasonal naive or naive forecast when
/// a model cannot be fitted (too short, constant), so a combination always has all
/// members.
pub fn method_forecast(method: Method, x: &[f64], spec: &Spec<'_>) -> Vec<f64> {
    let h = spec.horizon;
    let fallback = || seasonal_naive(x, h, spec.periods.first().copied().unwrap_or(1));
    let out = match method {
        Method::Naive => Some(seasonal_naive(x, h, 1)),
        Method::SeasonalNaive => Some(fallback()),
        Method::SeasonalNaiveLong => Some(seasonal_naive(
            x,
            h,
            spec.periods.last().copied().unwrap_or(1),
        )),
        Method::MstlEts => mstl_then(x, spec, false, |a, h| auto_ets(a, h, "ZZN", None)),
        Method::MstlDamped => mstl_then(x, spec, false, |a, h| auto_ets(a, h, "AAN", Some(true))),
        Method::MstlTheta => mstl_then(x, spec, false, |a, h| Some(theta(a, h))),
        Method::MstlSes => mstl_then(x, spec, false, |a, h| Some(vec![Ses::fit(a).level; h])),
        Method::LogMstlEts => mstl_then(x, spec, true, |a, h| auto_ets(a, h, "ZZN", None)),
        Method::LogMstlTheta => mstl_then(x, spec, true, |a, h| Some(theta(a, h))),
        Method::Ses => Some(vec![Ses::fit(x).level; h]),
        Method::Damped => auto_ets(x, h, "AAN", Some(true)),
        Method::AutoEts => auto_ets(x, h, "ZZN", None),
        Method::Theta => Some(theta(x, h)),
        Method::ClassicTheta => classic_then(x, spec, |a, h| Some(theta(a, h))),
        Method::ClassicDamped => classic_then(x, spec, |a, h| auto_ets(a, h, "AAN", Some(true))),
        Method::ClassicSes => classic_then(x, spec, |a, h| Some(vec![Ses::fit(a).level; h])),
        Method::ClassicAutoEts => classic_then(x, spec, |a, h| auto_ets(a, h, "ZZN", None)),
        Method::ArDiff => ar_diff(x, h, 8),
        Method::ClassicArDiff => classic_then(x, spec, |a, h| ar_diff(a, h, 8)),
        Method::Drift => {
            let n = x.len();
            let slope = if n > 1 {
                (x[n - 1] - x[0]) / (n - 1) as f64
            } else {
                0.0
            };
            Some((1..=h).map(|k| x[n - 1] + slope * k as f64).collect())
        }
    };
    match out {
        Some(f) if f.len() == h && f.iter().all(|v| v.is_finite()) => f,
        _ => fallback(),
    }
}

/// The last season of period `m`, repeated (the last value when `m` is 1 or the series is
/// shorter than a season).
pub fn seasonal_naive(x: &[f64], h: usize, m: usize) -> Vec<f64> {
    let n = x.len();
    if n == 0 {
        return vec![0.0; h];
    }
    if m <= 1 || n < m {
        return vec![x[n - 1]; h];
    }
    (0..h).map(|k| x[n - m + k % m]).collect()
}

/// The classic Theta forecast of an (already adjusted) series: the mean of the
/// extrapolated regression line and SES on the theta = 2 line.
pub fn theta(x: &[f64], h: usize) -> Vec<f64> {
    let (a, b) = linear_fit(x);
    let n = x.len();
    let line2: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(t, v)| 2.0 * v - (a + b * t as f64))
        .collect();
    let ses = Ses::fit(&line2);
    (0..h)
        .map(|k| 0.5 * ses.level + 0.5 * (a + b * (n + k) as f64))
        .collect()
}

/// augurs' AutoETS over the models of `spec` (e.g. "ZZN"), optionally forcing the damping.
fn auto_ets(x: &[f64], h: usize, spec: &str, damped: Option<bool>) -> Option<Vec<f64>> {
    let mut model = AutoETS::new(1, spec).ok()?;
    if let Some(d) = damped {
        model = model.damped(d).ok()?;
    }
    let fitted = model.fit(x).ok()?;
    let f = fitted.predict(h, None).ok()?;
    Some(f.point)
}

/// MSTL, then `trend` on the adjusted series, then each seasonal component's last cycle
/// added back. With `log`, all of it on ln(x) (only when every value is positive).
fn mstl_then(
    x: &[f64],
    spec: &Spec<'_>,
    log: bool,
    trend: impl Fn(&[f64], usize) -> Option<Vec<f64>>,
) -> Option<Vec<f64>> {
    let h = spec.horizon;
    if log && x.iter().any(|&v| v <= 0.0) {
        return None;
    }
    let z: Vec<f64> = if log {
        x.iter().map(|v| v.ln()).collect()
    } else {
        x.to_vec()
    };
    let usable: Vec<usize> = spec
        .periods
        .iter()
        .copied()
        .filter(|&p| p > 1 && z.len() > 2 * p)
        .collect();
    if usable.is_empty() {
        return None;
    }
    let y: Vec<f32> = z.iter().map(|&v| v as f32).collect();
    let fit = stlrs::MstlParams::new().fit(&y, &usable).ok()?;
    let n = z.len();
    let mut seasonal_sum = vec![0.0; n];
    let mut future = vec![0.0; h];
    for (p, comp) in usable.iter().zip(fit.seasonal()) {
        for (s, c) in seasonal_sum.iter_mut().zip(comp) {
            *s += f64::from(*c);
        }
        for (k, f) in future.iter_mut().enumerate() {
            *f += f64::from(comp[n - p + k % p]);
        }
    }
    let adjusted: Vec<f64> = z.iter().zip(&seasonal_sum).map(|(v, s)| v - s).collect();
    let t = trend(&adjusted, h)?;
    let out = t
        .iter()
        .zip(&future)
        .map(|(a, b)| if log { (a + b).exp() } else { a + b })
        .collect();
    Some(out)
}

/// M4's classical multiplicative adjustment with the first period, then `f`, then the
/// indices multiplied back.
fn classic_then(
    x: &[f64],
    spec: &Spec<'_>,
    f: impl Fn(&[f64], usize) -> Option<Vec<f64>>,
) -> Option<Vec<f64>> {
    let m = spec.periods.first().copied().unwrap_or(1);
    if x.iter().any(|&v| v <= 0.0) {
        return f(x, spec.horizon);
    }
    let (adj, si) = crate::m4::deseasonalise(x, m, spec.horizon);
    let out = f(&adj, spec.horizon)?;
    Some(out.iter().zip(&si).map(|(a, b)| a * b).collect())
}

/// ARIMA(p,1,0) with drift by least squares on the differences, p in 0..=max_p chosen
/// by AIC on a common sample.
pub fn ar_diff(x: &[f64], h: usize, max_p: usize) -> Option<Vec<f64>> {
    let n = x.len();
    if n < 3 {
        return None;
    }
    let d: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
    let max_p = max_p.min(d.len() / 4);
    let start = max_p;
    let m = d.len() - start;
    if m < 5 {
        return None;
    }
    let mut best: Option<(f64, Vec<f64>)> = None;
    for p in 0..=max_p {
        // Regress d_t on 1, d_{t-1..t-p} for t in start..len.
        let k = p + 1;
        let mut xtx = vec![0.0; k * k];
        let mut xty = vec![0.0; k];
        let row = |t: usize, j: usize| if j == 0 { 1.0 } else { d[t - j] };
        #[allow(clippy::needless_range_loop)] // `row` reads d at lags of t
        for t in start..d.len() {
            for a in 0..k {
                xty[a] += row(t, a) * d[t];
                for b in 0..k {
                    xtx[a * k + b] += row(t, a) * row(t, b);
                }
            }
        }
        let beta = crate::stats::solve(&mut xtx, &mut xty, k)?;
        let sse: f64 = (start..d.len())
            .map(|t| {
                let fit: f64 = (0..k).map(|j| beta[j] * row(t, j)).sum();
                (d[t] - fit).powi(2)
            })
            .sum();
        let aic = m as f64 * (sse / m as f64).max(1e-300).ln() + 2.0 * (k as f64 + 1.0);
        if best.as_ref().is_none_or(|(b, _)| aic < *b) {
            best = Some((aic, beta));
        }
    }
    let (_, beta) = best?;
    let p = beta.len() - 1;
    let mut hist = d.clone();
    let mut level = x[n - 1];
    let mut out = Vec::with_capacity(h);
    for _ in 0..h {
        let t = hist.len();
        let next: f64 = beta[0] + (1..=p).map(|j| beta[j] * hist[t - j]).sum::<f64>();
        hist.push(next);
        level += next;
        out.push(level);
    }
    Some(out)
}

/// How a combination merges its members' forecasts, step by step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Mean,
    Median,
}

/// A combination of methods, with the seasonal periods they use and how much history
/// they see.
#[derive(Debug, Clone, PartialEq)]
pub struct Combination {
    pub members: Vec<Method>,
    pub rule: Rule,
    pub periods: Vec<usize>,
    /// Only the last `history` observations are used, when set: old data of a changing
    /// series misleads more than it informs.
    pub history: Option<usize>,
}

impl Combination {
    /// cairn's combination for hourly series (periods of a day and a week).
    pub fn hourly() -> Combination {
        Combination {
            members: vec![
                Method::SeasonalNaive,
                Method::SeasonalNaiveLong,
                Method::MstlEts,
                Method::LogMstlEts,
            ],
            rule: Rule::Median,
            periods: vec![24, 168],
            history: None,
        }
    }

    /// cairn's combination for weekly series (a yearly period of 52 weeks).
    pub fn weekly() -> Combination {
        Combination {
            members: vec![
                Method::ClassicAutoEts,
                Method::ClassicArDiff,
                Method::MstlTheta,
            ],
            rule: Rule::Mean,
            periods: vec![52],
            history: Some(260),
        }
    }

    /// The combined forecast of `x` for `h` steps.
    pub fn forecast(&self, x: &[f64], h: usize) -> Vec<f64> {
        self.forecast_with_members(x, h).0
    }

    /// The combined forecast and each member's, in the order of `members`.
    pub fn forecast_with_members(&self, x: &[f64], h: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
        let x = match self.history {
            Some(n) if x.len() > n => &x[x.len() - n..],
            _ => x,
        };
        let spec = Spec {
            periods: &self.periods,
            horizon: h,
        };
        let members: Vec<Vec<f64>> = self
            .members
            .iter()
            .map(|&m| method_forecast(m, x, &spec))
            .collect();
        let combined = (0..h)
            .map(|t| {
                let vals: Vec<f64> = members.iter().map(|f| f[t]).collect();
                match self.rule {
                    Rule::Mean => vals.iter().sum::<f64>() / vals.len() as f64,
                    Rule::Median => crate::stats::median(&vals),
                }
            })
            .collect();
        (combined, members)
    }
}
