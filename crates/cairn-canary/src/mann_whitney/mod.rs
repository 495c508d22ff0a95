//! The two-sample Mann–Whitney U test (Wilcoxon rank-sum test) with the
//! Hodges–Lehmann estimate of the shift and its distribution-free confidence interval.
//!
//! It follows R's `wilcox.test(x, y, conf.int = TRUE)` so that results can be checked
//! against it:
//!
//! - `u` is R's `W`: the number of pairs with `x > y`, ties counting one half, which
//!   equals the rank sum of `x` (average ranks for ties) minus `m(m+1)/2`.
//! - Without ties and with both samples smaller than 50, p-values come from the
//!   exact null distribution of `U` and the interval from its quantiles, exactly as R
//!   does. Otherwise the normal approximation is used, with the tie correction of the
//!   variance and a continuity correction of 1/2.
//! - The estimate is the median of the `m·n` differences `x_i - y_j`, and the interval
//!   is `[d(k), d(mn - k + 1)]` of the sorted differences, where `k` is the lower
//!   `α/2` quantile of `U` (at least 1). In the normal case `k` is taken from the
//!   normal approximation of `U` without ties, the classical distribution-free
//!   interval (Hollander & Wolfe). Here this crate differs from R: with ties or large
//!   samples R (and Kayenta's port of it) finds the interval's ends by root-finding
//!   on the tie-corrected statistic instead. Both are approximations of the same
//!   thing; this one stays an actual difference of two observations, needs no
//!   root-finder and is conservative when there are ties.

mod exact;
mod select;

use serde::{Deserialize, Serialize};

use crate::normal::{normal_cdf, normal_quantile, normal_sf};
use crate::CanaryError;

pub(crate) use select::Differences;

/// Exact p-values and intervals are used when there are no ties and both samples are
/// smaller than this, as R does.
pub const EXACT_LIMIT: usize = 50;

/// How the p-values and the interval were computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// From the exact null distribution of `U` (no ties, both samples below
    /// [`EXACT_LIMIT`]).
    Exact,
    /// From the normal approximation with tie and continuity corrections.
    Normal,
}

/// The outcome of [`mann_whitney`]: `x` compared with `y`, where a positive shift
/// means `x` tends to be larger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MannWhitney {
    /// The number of values in `x`.
    pub x_len: usize,
    /// The number of values in `y`.
    pub y_len: usize,
    /// The statistic: pairs with `x > y`, ties counting one half (R's `W`).
    pub u: f64,
    /// How p-values and interval were computed.
    pub method: Method,
    /// The p-value against "the two locations differ".
    pub p_two_sided: f64,
    /// The p-value against "`x` is shifted upwards from `y`".
    pub p_greater: f64,
    /// The p-value against "`x` is shifted downwards from `y`".
    pub p_less: f64,
    /// The Hodges–Lehmann estimate of the shift: the median of all `x_i - y_j`.
    pub estimate: f64,
    /// The lower end of the confidence interval of the shift.
    pub ci_low: f64,
    /// The upper end of the confidence interval of the shift.
    pub ci_high: f64,
    /// The confidence level asked for.
    pub confidence: f64,
    /// The confidence level the interval actually has (exactly or approximately):
    /// order statistics come in steps, so this is at least `confidence` except for
    /// samples too small to reach it, where the interval is the whole range.
    pub achieved_confidence: f64,
}

/// Runs the Mann–Whitney U test of `x` against `y` and estimates the shift of `x`
/// relative to `y` with a two-sided interval at `confidence` (for instance 0.95).
///
/// Both samples must be non-empty and finite; callers that want to drop NaN first
/// (as the [`judge`](crate::judge) does) do so themselves.
pub fn mann_whitney(x: &[f64], y: &[f64], confidence: f64) -> Result<MannWhitney, CanaryError> {
    run(x, y, confidence, true)
}

/// [`mann_whitney`], with the exact method allowed or not (tests force the normal one
/// on small samples to compare it with R's `exact = FALSE`).
fn run(
    x: &[f64],
    y: &[f64],
    confidence: f64,
    allow_exact: bool,
) -> Result<MannWhitney, CanaryError> {
    check_sample("x", x)?;
    check_sample("y", y)?;
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(CanaryError::Confidence(confidence));
    }
    let (m, n) = (x.len(), y.len());
    let mn = (m * n) as f64;
    let ranks = rank(x, y);
    let u = ranks.x_rank_sum - (m * (m + 1)) as f64 / 2.0;
    let differences = Differences::new(x, y);
    let alpha = 1.0 - confidence;

    let exact = allow_exact && !ranks.has_ties && m < EXACT_LIMIT && n < EXACT_LIMIT;
    let (method, p_two_sided, p_greater, p_less, k, achieved_confidence) = if exact {
        let distribution = exact::distribution(m, n);
        // Without ties `u` is a whole number.
        let q = u.round() as i64;
        let p_less = exact::cdf(&distribution, q);
        let p_greater = distribution.iter().skip(q as usize).sum::<f64>().min(1.0);
        let tail = if u > mn / 2.0 { p_greater } else { p_less };
        let k = exact::quantile(&distribution, alpha / 2.0).max(1);
        let achieved = 1.0 - 2.0 * exact::cdf(&distribution, k as i64 - 1);
        (
            Method::Exact,
            (2.0 * tail).min(1.0),
            p_greater,
            p_less,
            k,
            achieved,
        )
    } else {
        let total = (m + n) as f64;
        let variance = mn / 12.0 * ((total + 1.0) - ranks.tie_sum / (total * (total - 1.0)));
        let sigma = variance.max(0.0).sqrt();
        let d = u - mn / 2.0;
        let (p_two_sided, p_greater, p_less) = if sigma > 0.0 {
            let correction = 0.5 * d.signum() * f64::from(u8::from(d != 0.0));
            let z = (d - correction) / sigma;
            let two = 2.0 * normal_cdf(z).min(normal_sf(z));
            (
                two.min(1.0),
                normal_sf((d - 0.5) / sigma),
                normal_cdf((d + 0.5) / sigma),
            )
        } else {
            // Every observation is the same value: nothing speaks for a shift.
            (1.0, 1.0, 1.0)
        };
        // The interval's order statistic from U's normal approximation without ties:
        // the smallest k with P(U <= k - 1) < α/2 <= P(U <= k), continuity-corrected.
        let sigma_untied = (mn * (total + 1.0) / 12.0).sqrt();
        let k = (mn / 2.0 - 0.5 + normal_quantile(alpha / 2.0) * sigma_untied).ceil();
        let k = if k.is_finite() && k >= 1.0 {
            k as usize
        } else {
            1
        };
        let achieved = 1.0 - 2.0 * normal_cdf((k as f64 - 0.5 - mn / 2.0) / sigma_untied);
        (Method::Normal, p_two_sided, p_greater, p_less, k, achieved)
    };
    let k = k.min((m * n).div_ceil(2));

    Ok(MannWhitney {
        x_len: m,
        y_len: n,
        u,
        method,
        p_two_sided,
        p_greater,
        p_less,
        estimate: differences.median(),
        ci_low: differences.kth(k),
        ci_high: differences.kth(m * n - k + 1),
        confidence,
        achieved_confidence: achieved_confidence.clamp(0.0, 1.0),
    })
}

fn check_sample(sample: &'static str, values: &[f64]) -> Result<(), CanaryError> {
    if values.is_empty() {
        return Err(CanaryError::EmptySample { sample });
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(CanaryError::NonFinite {
            sample,
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

struct Ranks {
    /// The sum of the (average) ranks of `x` in the pooled sample.
    x_rank_sum: f64,
    /// `Σ (t³ - t)` over groups of `t` tied values, for the variance.
    tie_sum: f64,
    has_ties: bool,
}

fn rank(x: &[f64], y: &[f64]) -> Ranks {
    let mut pooled: Vec<(f64, bool)> = x
        .iter()
        .map(|&v| (v, true))
        .chain(y.iter().map(|&v| (v, false)))
        .collect();
    pooled.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut ranks = Ranks {
        x_rank_sum: 0.0,
        tie_sum: 0.0,
        has_ties: false,
    };
    let mut start = 0;
    while start < pooled.len() {
        // `==` rather than `total_cmp`, so that -0.0 and 0.0 tie.
        let end = start
            + pooled[start..]
                .iter()
                .take_while(|(v, _)| *v == pooled[start].0)
                .count();
        let t = (end - start) as f64;
        // Positions start..end hold ranks start+1..=end; each gets their mean.
        let average = (start + 1 + end) as f64 / 2.0;
        let in_x = pooled[start..end].iter().filter(|(_, is_x)| *is_x).count();
        ranks.x_rank_sum += average * in_x as f64;
        if end - start > 1 {
            ranks.has_ties = true;
            ranks.tie_sum += t * t * t - t;
        }
        start = end;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Xorshift;

    fn assert_close(actual: f64, expected: f64, tolerance: f64, what: &str) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{what}: got {actual}, expected {expected}"
        );
    }

    /// R's own example in `?wilcox.test` (Hollander & Wolfe 1973, p. 69: permeability
    /// of the chorioamnion at term, x, and at 12–26 weeks, y). The help page prints
    /// `W = 35, p-value = 0.1272` for `alternative = "greater"` (exact). The other
    /// figures were computed independently in Python by enumerating all 3003 ways to
    /// place the five y's among the 15 ranks, and sorting all 50 differences:
    /// two-sided p 0.25441…, `qwilcox(0.025, 10, 5) = 9`, interval `[d(9), d(42)]`.
    #[test]
    fn r_help_page_example_exact() {
        let x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
        let y = [1.15, 0.88, 0.90, 0.74, 1.21];
        let result = mann_whitney(&x, &y, 0.95).unwrap();
        assert_eq!(result.method, Method::Exact);
        assert_eq!(result.u, 35.0);
        assert_close(result.p_greater, 0.12720612720612734, 1e-14, "p greater");
        assert_close(result.p_less, 0.8967698967698966, 1e-14, "p less");
        assert_close(result.p_two_sided, 0.2544122544122547, 1e-14, "p two-sided");
        assert_close(result.estimate, 0.305, 1e-12, "estimate");
        assert_close(result.ci_low, -0.15, 1e-12, "ci low");
        assert_close(result.ci_high, 0.76, 1e-12, "ci high");
        assert_close(
            result.achieved_confidence,
            0.9600399600399601,
            1e-14,
            "achieved",
        );

        let ninety = mann_whitney(&x, &y, 0.90).unwrap();
        assert_close(ninety.ci_low, -0.08, 1e-12, "90% ci low");
        assert_close(ninety.ci_high, 0.72, 1e-12, "90% ci high");
        assert_close(
            ninety.achieved_confidence,
            0.9007659007659008,
            1e-14,
            "90% achieved",
        );

        // Swapping the samples mirrors everything.
        let swapped = mann_whitney(&y, &x, 0.95).unwrap();
        assert_eq!(swapped.u, 15.0);
        assert_close(swapped.p_less, result.p_greater, 1e-14, "mirrored p");
        assert_close(swapped.ci_low, -0.76, 1e-12, "mirrored ci low");
        assert_close(swapped.estimate, -0.305, 1e-12, "mirrored estimate");
    }

    /// The same data through the normal approximation. The help page prints
    /// `p-value = 0.1103` for `exact = FALSE, correct = FALSE`, the uncorrected
    /// `1 - Φ((35 - 25) / σ)` with `σ² = 10·5·16/12`. With R's default continuity
    /// correction the same formula gives the values below (computed in Python with
    /// `statistics.NormalDist`). The interval's order statistic comes from the normal
    /// approximation, here the same k = 9 as the exact one.
    #[test]
    fn r_help_page_example_normal() {
        let x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
        let y = [1.15, 0.88, 0.90, 0.74, 1.21];
        let result = run(&x, &y, 0.95, false).unwrap();
        assert_eq!(result.method, Method::Normal);
        assert_close(result.p_greater, 0.12231180256349172, 1e-14, "p greater");
        assert_close(result.p_less, 0.9007753482039937, 1e-14, "p less");
        assert_close(
            result.p_two_sided,
            0.24462360512698345,
            1e-14,
            "p two-sided",
        );
        let sigma: f64 = (10.0 * 5.0 * 16.0 / 12.0_f64).sqrt();
        assert_close(
            normal_sf(10.0 / sigma),
            0.1103,
            5e-5,
            "uncorrected, as printed",
        );
        assert_close(result.ci_low, -0.15, 1e-12, "ci low");
        assert_close(result.ci_high, 0.76, 1e-12, "ci high");
    }

    /// Published on endmemo.com/r/wilcoxon.php (R output): with ties R falls back to
    /// the normal approximation, `W = 51.5, p-value = 0.5966`, and for the second y
    /// `W = 0, p-value = 0.001364`. Full-precision values from the same formula in
    /// Python: 0.5965969026279817 and 0.0013643929543816213.
    #[test]
    fn r_output_with_ties() {
        let x = [1.0, 5.0, 9.0, 24.0, 56.0, 21.0, 3.0, 7.0, 21.0, 4.0];
        let y = [
            12.0, 15.0, 5.0, 9.0, 9.0, 14.0, 56.0, 22.0, 3.0, 7.0, 32.0, 5.0,
        ];
        let result = mann_whitney(&x, &y, 0.95).unwrap();
        assert_eq!(result.method, Method::Normal);
        assert_eq!(result.u, 51.5);
        assert_close(result.p_two_sided, 0.5965969026279817, 1e-13, "p");
        assert_close(result.p_greater, 0.7242330662159162, 1e-13, "p greater");
        assert_close(result.p_less, 0.29829845131399085, 1e-13, "p less");

        let y = [1233.0, 4356.0, 987.0, 39999.0, 1111.0, 200000.0];
        let result = mann_whitney(&x, &y, 0.95).unwrap();
        assert_eq!(result.u, 0.0);
        assert_close(result.p_two_sided, 0.0013643929543816213, 1e-15, "p");
    }

    /// ClickHouse's `mannWhitneyUTest` test (tests/queries/0_stateless/
    /// 01560_mann_whitney.sql) expects U = 223 and a two-sided p of
    /// 0.5426959774289482 for these 20 + 20 values with ties.
    #[test]
    fn clickhouse_reference() {
        let x = [
            310.0, 195.0, 530.0, 155.0, 530.0, 245.0, 385.0, 450.0, 465.0, 545.0, 170.0, 180.0,
            125.0, 180.0, 230.0, 75.0, 430.0, 480.0, 495.0, 295.0,
        ];
        let y = [
            116.0, 171.0, 176.0, 421.0, 111.0, 326.0, 481.0, 111.0, 346.0, 441.0, 261.0, 411.0,
            206.0, 521.0, 456.0, 446.0, 296.0, 51.0, 426.0, 261.0,
        ];
        let result = mann_whitney(&x, &y, 0.95).unwrap();
        assert_eq!(result.u, 223.0);
        assert_close(result.p_two_sided, 0.5426959774289482, 1e-13, "p");
    }

    /// Over a range of tie-free sizes the normal interval's order statistic is the
    /// exact one or off by one step, and the achieved confidence is close.
    #[test]
    fn normal_interval_tracks_the_exact_one() {
        for (m, n) in [(10, 10), (20, 30), (45, 49)] {
            let d = exact::distribution(m, n);
            let exact_k = exact::quantile(&d, 0.025);
            let mn = (m * n) as f64;
            let sigma = (mn * (m + n + 1) as f64 / 12.0).sqrt();
            let normal_k = (mn / 2.0 - 0.5 + normal_quantile(0.025) * sigma).ceil() as usize;
            assert!(
                exact_k.abs_diff(normal_k) <= 1,
                "{m}x{n}: {exact_k} vs {normal_k}"
            );
        }
    }

    #[test]
    fn a_clear_shift_is_found_and_estimated() {
        let mut rng = Xorshift::new(11);
        let y: Vec<f64> = (0..200).map(|_| rng.normal(100.0, 10.0)).collect();
        let x: Vec<f64> = (0..200).map(|_| rng.normal(120.0, 10.0)).collect();
        let result = mann_whitney(&x, &y, 0.95).unwrap();
        assert_eq!(result.method, Method::Normal);
        assert!(result.p_greater < 1e-20, "{result:?}");
        assert!(result.ci_low > 15.0 && result.ci_high < 25.0, "{result:?}");
        assert!(
            (result.achieved_confidence - 0.95).abs() < 0.001,
            "{result:?}"
        );
    }

    #[test]
    fn all_tied_means_no_evidence() {
        let result = mann_whitney(&[0.0; 60], &[0.0; 60], 0.95).unwrap();
        assert_eq!(
            (result.p_two_sided, result.p_greater, result.p_less),
            (1.0, 1.0, 1.0)
        );
        assert_eq!(
            (result.estimate, result.ci_low, result.ci_high),
            (0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn tiny_samples_give_the_whole_range() {
        // m = n = 2: P(U = 0) = 1/6 > 0.025, so k = 1 and the interval spans all.
        let result = mann_whitney(&[3.0, 4.0], &[1.0, 2.0], 0.95).unwrap();
        assert_eq!((result.ci_low, result.ci_high), (1.0, 3.0));
        assert_close(
            result.achieved_confidence,
            1.0 - 2.0 / 6.0,
            1e-15,
            "achieved",
        );
    }

    #[test]
    fn invalid_input_is_refused() {
        assert_eq!(
            mann_whitney(&[], &[1.0], 0.95),
            Err(CanaryError::EmptySample { sample: "x" })
        );
        assert_eq!(
            mann_whitney(&[1.0], &[2.0, f64::INFINITY], 0.95),
            Err(CanaryError::NonFinite {
                sample: "y",
                index: 1,
                value: f64::INFINITY
            })
        );
        assert_eq!(
            mann_whitney(&[1.0], &[2.0], 1.0),
            Err(CanaryError::Confidence(1.0))
        );
    }
}
