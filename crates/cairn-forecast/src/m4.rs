//! The M4 competition's data format, accuracy measures and statistical benchmarks,
//! implemented exactly as the organisers' `Benchmarks and Evaluation.R` defines them, so
//! that cairn's figures sit on the same scale as the published ones.
//!
//! The scorer's acceptance test is that [`naive2`] and [`snaive`] reproduce the published
//! Naive2 and sNaive figures on the real files to the printed precision.
//!
//! Everything here works on plain slices: reading the files is the caller's business.

use crate::ForecastError;

/// One M4 series: its id (`H1`, `W42`) and its values in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub id: String,
    pub values: Vec<f64>,
}

/// The M4 frequencies this crate benchmarks, with their horizon and seasonal period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Frequency {
    Hourly,
    Weekly,
}

impl Frequency {
    /// The forecast horizon the competition asked for.
    pub fn horizon(self) -> usize {
        match self {
            Frequency::Hourly => 48,
            Frequency::Weekly => 13,
        }
    }

    /// The seasonal period `m` of MASE and of the seasonal benchmarks. Weekly data has
    /// `m = 1` in M4: a year is not a whole number of weeks, so the organisers did not
    /// treat weekly series as seasonal.
    pub fn period(self) -> usize {
        match self {
            Frequency::Hourly => 24,
            Frequency::Weekly => 1,
        }
    }

    /// The name used in the published tables' column headers.
    pub fn name(self) -> &'static str {
        match self {
            Frequency::Hourly => "Hourly",
            Frequency::Weekly => "Weekly",
        }
    }
}

/// Parses an M4 train or test file: a header row (`"V1","V2",…`), then one row per
/// series, its id first, padded at the end with empty cells.
pub fn parse_csv(text: &str) -> Result<Vec<Series>, ForecastError> {
    let mut out = Vec::new();
    for (line_no, line) in text.lines().enumerate().skip(1) {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let mut cells = line.split(',').map(|c| c.trim().trim_matches('"'));
        let id = cells.next().unwrap_or_default().to_owned();
        let mut values = Vec::new();
        for cell in cells.filter(|c| !c.is_empty()) {
            let v: f64 = cell.parse().map_err(|_| ForecastError::Parse {
                line: line_no + 1,
                message: format!("series {id}: {cell:?} is not a number"),
            })?;
            values.push(v);
        }
        out.push(Series { id, values });
    }
    Ok(out)
}

/// The symmetric MAPE of one forecast, in percent (0 to 200), averaged over the horizon.
/// A step where both the actual and the forecast are 0 counts as a perfect forecast
/// rather than 0/0; M4's data has no such step, so this does not move its figures.
pub fn smape(actual: &[f64], forecast: &[f64]) -> f64 {
    let h = actual.len().min(forecast.len());
    if h == 0 {
        return 0.0;
    }
    let sum: f64 = actual
        .iter()
        .zip(forecast)
        .map(|(&y, &f)| {
            let d = y.abs() + f.abs();
            if d == 0.0 {
                0.0
            } else {
                200.0 * (y - f).abs() / d
            }
        })
        .sum();
    sum / h as f64
}

/// The in-sample mean absolute error of the seasonal naive forecast with period `m`:
/// MASE's scale.
pub fn seasonal_naive_mae(insample: &[f64], m: usize) -> f64 {
    let m = m.max(1);
    if insample.len() <= m {
        return f64::NAN;
    }
    let n = insample.len();
    let sum: f64 = (m..n).map(|j| (insample[j] - insample[j - m]).abs()).sum();
    sum / (n - m) as f64
}

/// The mean absolute scaled error of one forecast: its MAE over the horizon divided by
/// the in-sample seasonal naive MAE with period `m`.
pub fn mase(insample: &[f64], actual: &[f64], forecast: &[f64], m: usize) -> f64 {
    let h = actual.len().min(forecast.len());
    if h == 0 {
        return 0.0;
    }
    let mae: f64 = actual
        .iter()
        .zip(forecast)
        .map(|(y, f)| (y - f).abs())
        .sum::<f64>()
        / h as f64;
    mae / seasonal_naive_mae(insample, m)
}

/// The autocorrelations r_1..=r_max_lag of `x` (demeaned, denominator Σ(x − x̄)²), as R's
/// `acf` computes them.
pub fn acf(x: &[f64], max_lag: usize) -> Vec<f64> {
    let n = x.len();
    let mean = x.iter().sum::<f64>() / n as f64;
    let d: Vec<f64> = x.iter().map(|v| v - mean).collect();
    let denom: f64 = d.iter().map(|v| v * v).sum();
    (1..=max_lag)
        .map(|k| {
            if k >= n || denom == 0.0 {
                0.0
            } else {
                d[k..]
                    .iter()
                    .zip(&d[..n - k])
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
                    / denom
            }
        })
        .collect()
}

/// M4's seasonality test: a series is seasonal with period `m` if `m > 1`, it has at least
/// three seasons, and |r_m| exceeds the 90% one-sided limit 1.645·√((1 + 2Σ_{k<m} r_k²)/n).
pub fn is_seasonal(x: &[f64], m: usize) -> bool {
    if m <= 1 || x.len() < 3 * m {
        return false;
    }
    let r = acf(x, m);
    let sum_sq: f64 = r[..m - 1].iter().map(|v| v * v).sum();
    let limit = 1.645 * ((1.0 + 2.0 * sum_sq) / x.len() as f64).sqrt();
    r[m - 1].abs() > limit
}

/// The centred moving average of R's `decompose`: a 2×m MA for even `m`, an m-MA for odd
/// `m`; `None` where the window runs off either end.
pub fn centred_moving_average(x: &[f64], m: usize) -> Vec<Option<f64>> {
    let n = x.len();
    let half = m / 2;
    let mut out = vec![None; n];
    if n < m + 1 {
        return out;
    }
    for (t, slot) in out.iter_mut().enumerate() {
        if t < half || t + half >= n {
            continue;
        }
        let v = if m & 1 == 0 {
            let inner: f64 = x[t + 1 - half..t + half].iter().sum();
            (0.5 * x[t - half] + inner + 0.5 * x[t + half]) / m as f64
        } else {
            x[t - half..=t + half].iter().sum::<f64>() / m as f64
        };
        *slot = Some(v);
    }
    out
}

/// The m seasonal indices of R's classical multiplicative `decompose`, by position
/// `t mod m` counted from the first observation, rescaled to average 1.
pub fn multiplicative_indices(x: &[f64], m: usize) -> Vec<f64> {
    let trend = centred_moving_average(x, m);
    let mut sums = vec![0.0; m];
    let mut counts = vec![0usize; m];
    for (t, tr) in trend.iter().enumerate() {
        if let Some(tr) = tr {
            sums[t % m] += x[t] / tr;
            counts[t % m] += 1;
        }
    }
    let raw: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| if c == 0 { 1.0 } else { s / c as f64 })
        .collect();
    let mean = raw.iter().sum::<f64>() / m as f64;
    raw.iter().map(|v| v / mean).collect()
}

/// The seasonal adjustment every M4 benchmark shares: when [`is_seasonal`] says so, the
/// series divided by its multiplicative indices and the indices to multiply `h` forecasts
/// by (the last `m` indices of the series, repeated); otherwise the series itself and ones.
pub fn deseasonalise(x: &[f64], m: usize, h: usize) -> (Vec<f64>, Vec<f64>) {
    if !is_seasonal(x, m) {
        return (x.to_vec(), vec![1.0; h]);
    }
    let idx = multiplicative_indices(x, m);
    let n = x.len();
    let adjusted = x.iter().enumerate().map(|(t, v)| v / idx[t % m]).collect();
    let out = (0..h).map(|k| idx[(n - m + k % m) % m]).collect();
    (adjusted, out)
}

/// The Naive benchmark: the last value, repeated.
pub fn naive(x: &[f64], h: usize) -> Vec<f64> {
    vec![*x.last().unwrap_or(&0.0); h]
}

/// The seasonal naive benchmark: the last season, repeated.
pub fn snaive(x: &[f64], h: usize, m: usize) -> Vec<f64> {
    let n = x.len();
    if m <= 1 || n < m {
        return naive(x, h);
    }
    (0..h).map(|k| x[n - m + k % m]).collect()
}

/// The Naive2 benchmark, OWA's yardstick: Naive on the seasonally adjusted series,
/// reseasonalised.
pub fn naive2(x: &[f64], h: usize, m: usize) -> Vec<f64> {
    let (adjusted, si) = deseasonalise(x, m, h);
    let last = *adjusted.last().unwrap_or(&0.0);
    si.iter().map(|s| last * s).collect()
}

/// The mean sMAPE and MASE over a set of series, each series weighted equally.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Accuracy {
    pub smape: f64,
    pub mase: f64,
}

impl Accuracy {
    /// The overall weighted average relative to Naive2: ½(sMAPE/sMAPE₂ + MASE/MASE₂), from
    /// the set-level means as the organisers compute it.
    pub fn owa(&self, naive2: &Accuracy) -> f64 {
        0.5 * (self.smape / naive2.smape + self.mase / naive2.mase)
    }
}

/// Scores forecasts of a set of series: `train[i]`, `test[i]` and `forecasts[i]` belong to
/// one series.
pub fn score(train: &[Series], test: &[Series], forecasts: &[Vec<f64>], m: usize) -> Accuracy {
    let n = train.len().min(test.len()).min(forecasts.len());
    let (mut s, mut a) = (0.0, 0.0);
    for i in 0..n {
        s += smape(&test[i].values, &forecasts[i]);
        a += mase(&train[i].values, &test[i].values, &forecasts[i], m);
    }
    Accuracy {
        smape: s / n as f64,
        mase: a / n as f64,
    }
}

/// The classic Theta method of the M4 benchmarks (Assimakopoulos & Nikolopoulos): on the
/// seasonally adjusted series, the mean of the linear trend line and SES on the theta=2
/// line, floored at 0 and reseasonalised.
pub fn theta_classic(x: &[f64], h: usize, m: usize) -> Vec<f64> {
    let (adj, si) = deseasonalise(x, m, h);
    let (a, b) = crate::stats::linear_fit(&adj);
    let n = adj.len();
    let line2: Vec<f64> = adj
        .iter()
        .enumerate()
        .map(|(t, v)| 2.0 * v - (a + b * t as f64))
        .collect();
    let ses = crate::stats::Ses::fit(&line2);
    (0..h)
        .map(|k| {
            let line0 = a + b * (n + k) as f64;
            (0.5 * ses.level + 0.5 * line0).max(0.0) * si[k]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smape_and_mase_follow_the_organisers_formulas() {
        // Two steps: errors of 10 on 100 vs 90 (200·10/190) and 0.
        let s = smape(&[100.0, 50.0], &[90.0, 50.0]);
        assert!((s - 0.5 * 2000.0 / 190.0).abs() < 1e-12, "{s}");
        // The in-sample seasonal naive MAE with m = 2 on 1,2,4,8 is (3 + 6)/2 = 4.5.
        let m = mase(&[1.0, 2.0, 4.0, 8.0], &[10.0], &[1.0], 2);
        assert!((m - 9.0 / 4.5).abs() < 1e-12, "{m}");
    }

    #[test]
    fn a_strongly_periodic_series_is_seasonal_and_white_noise_is_not() {
        let periodic: Vec<f64> = (0..96)
            .map(|t| 10.0 + [1.0, 5.0, 9.0, 2.0][t % 4])
            .collect();
        assert!(is_seasonal(&periodic, 4));
        assert!(!is_seasonal(&periodic[..11], 4), "fewer than three seasons");
        let mut rng = crate::stats::Rng::new(3);
        let noise: Vec<f64> = (0..96).map(|_| 10.0 + rng.normal()).collect();
        assert!(!is_seasonal(&noise, 4));
    }

    #[test]
    fn decompose_recovers_multiplicative_indices_of_a_clean_series() {
        let pattern = [0.5, 1.0, 1.5, 1.0];
        let x: Vec<f64> = (0..40).map(|t| 100.0 * pattern[t % 4]).collect();
        let idx = multiplicative_indices(&x, 4);
        for (got, want) in idx.iter().zip(pattern) {
            assert!((got - want).abs() < 1e-12, "{idx:?}");
        }
        // Naive2 on it repeats the last season exactly.
        assert_eq!(naive2(&x, 6, 4), snaive(&x, 6, 4));
    }

    #[test]
    fn parse_reads_padded_rows() {
        let text = "\"V1\",\"V2\",\"V3\"\n\"H1\",\"1.5\",\"2\"\n\"H2\",\"3\",\"\"\n";
        let s = parse_csv(text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].values, vec![1.5, 2.0]);
        assert_eq!(s[1].values, vec![3.0]);
        assert!(parse_csv("h\n\"H1\",\"x\"\n").is_err());
    }
}
