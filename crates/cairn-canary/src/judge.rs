//! One metric: is the canary's distribution above, below or within the tolerated band
//! around the baseline's?
//!
//! This is Kayenta's Mann–Whitney classifier with tolerances. To ask "is the canary
//! more than 10 % higher?", the baseline's values are scaled by 1.10 and the
//! Hodges–Lehmann interval of the shift from the scaled baseline to the canary is
//! computed: if it lies wholly above zero, the metric is [`Class::High`]. Likewise
//! the baseline scaled by `1 - allowed_decrease` and an interval wholly below zero
//! give [`Class::Low`]. Anything else is [`Class::Pass`]: either no shift, or one the
//! data cannot tell from the tolerance. Scaling assumes non-negative metrics (ratios,
//! rates, latencies, counts), which is what canaries compare.
//!
//! # Direction
//!
//! The class says what the data show, in both directions, whatever the metric's
//! [`Direction`]; [`MetricVerdict::failed`] says whether that is bad. A latency that
//! went *down* on a metric where higher is worse is classified `Low` and does not
//! fail, and the score counts it as passing. So a verdict never hides a real shift,
//! and the score never punishes an improvement.

use serde::{Deserialize, Serialize};

use crate::format::{level, number, percent, signed};
use crate::mann_whitney::mann_whitney;
use crate::CanaryError;

/// Which way a change of the metric is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Higher is worse: error ratios, latencies, saturation.
    Increase,
    /// Lower is worse: success ratios, throughput, conversions.
    Decrease,
    /// Any change beyond the tolerance is bad.
    Either,
}

impl Direction {
    fn high_is_bad(self) -> bool {
        matches!(self, Direction::Increase | Direction::Either)
    }

    fn low_is_bad(self) -> bool {
        matches!(self, Direction::Decrease | Direction::Either)
    }
}

/// What the data show about one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// No shift beyond the tolerance that the data can tell.
    Pass,
    /// The canary is higher than the baseline by more than `allowed_increase`.
    High,
    /// The canary is lower than the baseline by more than `allowed_decrease`.
    Low,
    /// Too few samples on either side to judge.
    NoData,
}

/// How one metric is judged. Deserialised from configuration, where everything but
/// `name` and `direction` may be left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSpec {
    /// The metric's name, as reasons print it ("error_ratio", "latency_p99").
    pub name: String,
    /// Which way a change is bad.
    pub direction: Direction,
    /// The relative increase that is tolerated: 0.10 means the canary may be up to
    /// 10 % higher than the baseline before it counts as `High`. Default 0.10.
    #[serde(default = "default_tolerance")]
    pub allowed_increase: f64,
    /// The relative decrease that is tolerated, below 1. Default 0.10.
    #[serde(default = "default_tolerance")]
    pub allowed_decrease: f64,
    /// The metric's share of the score. 0 makes it report-only: judged and shown,
    /// never counted. Default 1.
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// A critical metric that fails fails the whole judgement whatever the score,
    /// and one without data holds it at pause at best. Default false.
    #[serde(default)]
    pub critical: bool,
    /// The finite values needed on each side to judge; fewer give `NoData`.
    /// Default 10.
    #[serde(default = "default_min_samples")]
    pub min_samples: usize,
}

fn default_tolerance() -> f64 {
    0.10
}

fn default_weight() -> f64 {
    1.0
}

fn default_min_samples() -> usize {
    10
}

impl MetricSpec {
    /// A metric with the defaults: 10 % tolerance both ways, weight 1, not critical,
    /// at least 10 samples per side.
    pub fn new(name: impl Into<String>, direction: Direction) -> Self {
        MetricSpec {
            name: name.into(),
            direction,
            allowed_increase: default_tolerance(),
            allowed_decrease: default_tolerance(),
            weight: default_weight(),
            critical: false,
            min_samples: default_min_samples(),
        }
    }

    /// Sets the tolerated relative increase.
    pub fn allow_increase(mut self, fraction: f64) -> Self {
        self.allowed_increase = fraction;
        self
    }

    /// Sets the tolerated relative decrease.
    pub fn allow_decrease(mut self, fraction: f64) -> Self {
        self.allowed_decrease = fraction;
        self
    }

    /// Sets the weight.
    pub fn with_weight(mut self, weight: f64) -> Self {
        self.weight = weight;
        self
    }

    /// Makes the metric critical.
    pub fn critical(mut self) -> Self {
        self.critical = true;
        self
    }

    /// Sets the samples needed per side.
    pub fn with_min_samples(mut self, min_samples: usize) -> Self {
        self.min_samples = min_samples;
        self
    }

    /// Checks the name, tolerances and weight.
    pub fn validate(&self) -> Result<(), CanaryError> {
        if self.name.trim().is_empty() {
            return Err(CanaryError::EmptyName);
        }
        let tolerance = |field, value: f64, limit| {
            Err(CanaryError::Tolerance {
                metric: self.name.clone(),
                field,
                value,
                limit,
            })
        };
        if !(self.allowed_increase.is_finite() && self.allowed_increase >= 0.0) {
            return tolerance("allowed_increase", self.allowed_increase, "");
        }
        if !(self.allowed_decrease >= 0.0 && self.allowed_decrease < 1.0) {
            return tolerance("allowed_decrease", self.allowed_decrease, " and below 1");
        }
        if !(self.weight.is_finite() && self.weight >= 0.0) {
            return Err(CanaryError::Weight {
                metric: self.name.clone(),
                value: self.weight,
            });
        }
        Ok(())
    }
}

/// The judgement of one metric, ready to be stored as JSON and read by a human.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricVerdict {
    /// The metric's name.
    pub metric: String,
    /// Which way a change is bad, from the spec.
    pub direction: Direction,
    /// Whether the metric is critical, from the spec.
    pub critical: bool,
    /// The metric's weight, from the spec.
    pub weight: f64,
    /// What the data show.
    pub class: Class,
    /// Whether the class is bad for this metric's direction: `High` on `Increase` or
    /// `Either`, `Low` on `Decrease` or `Either`. `Pass` and `NoData` never fail.
    pub failed: bool,
    /// Finite baseline values used.
    pub baseline_samples: usize,
    /// Finite canary values used.
    pub canary_samples: usize,
    /// NaN and infinite values dropped from both sides.
    pub non_finite_dropped: usize,
    /// The baseline's median, if it has values.
    pub baseline_median: Option<f64>,
    /// The canary's median, if it has values.
    pub canary_median: Option<f64>,
    /// `(canary_median - baseline_median) / |baseline_median|`; none when the
    /// baseline's median is 0 or a side has no values.
    pub relative_change: Option<f64>,
    /// The Hodges–Lehmann estimate of the shift from baseline to canary, in the
    /// metric's unit, without tolerance. None for `NoData`.
    pub estimate: Option<f64>,
    /// The lower end of the shift's confidence interval. None for `NoData`.
    pub ci_low: Option<f64>,
    /// The upper end of the shift's confidence interval. None for `NoData`.
    pub ci_high: Option<f64>,
    /// The two-sided Mann–Whitney p-value of "any shift at all", tolerance aside: a
    /// small p-value with `Pass` means a real shift inside the tolerance.
    pub p_value: Option<f64>,
    /// The confidence level of the intervals.
    pub confidence: f64,
    /// One sentence for a human, e.g. "error_ratio 0.052 vs baseline 0.01: +420%,
    /// above the allowed +10% (95% CI +310%..+520%)". Relative intervals in reasons
    /// are the decisive test's interval divided by the baseline's median, shifted by
    /// the tolerance it was tested against, so "above the allowed +10%" and the
    /// interval's lower end agree.
    pub reason: String,
}

impl MetricVerdict {
    /// Whether the metric counts for the score: it has data and a weight.
    pub fn counts(&self) -> bool {
        self.class != Class::NoData && self.weight > 0.0
    }
}

/// Judges one metric: the canary's values against the baseline's over the same
/// window, with two-sided intervals at `confidence` (0.95 is usual). NaN and
/// infinite values are dropped first; fewer than `spec.min_samples` (at least 1) on
/// either side give `NoData`. Errors only for an invalid spec or confidence.
pub fn classify(
    spec: &MetricSpec,
    baseline: &[f64],
    canary: &[f64],
    confidence: f64,
) -> Result<MetricVerdict, CanaryError> {
    spec.validate()?;
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(CanaryError::Confidence(confidence));
    }
    let finite =
        |values: &[f64]| -> Vec<f64> { values.iter().copied().filter(|v| v.is_finite()).collect() };
    let (kept_baseline, kept_canary) = (finite(baseline), finite(canary));
    let dropped = baseline.len() - kept_baseline.len() + canary.len() - kept_canary.len();
    let (baseline, canary) = (kept_baseline, kept_canary);

    let baseline_median = median(&baseline);
    let canary_median = median(&canary);
    let relative_change = match (baseline_median, canary_median) {
        (Some(b), Some(c)) if b != 0.0 => Some((c - b) / b.abs()),
        _ => None,
    };
    let mut verdict = MetricVerdict {
        metric: spec.name.clone(),
        direction: spec.direction,
        critical: spec.critical,
        weight: spec.weight,
        class: Class::NoData,
        failed: false,
        baseline_samples: baseline.len(),
        canary_samples: canary.len(),
        non_finite_dropped: dropped,
        baseline_median,
        canary_median,
        relative_change,
        estimate: None,
        ci_low: None,
        ci_high: None,
        p_value: None,
        confidence,
        reason: String::new(),
    };

    let needed = spec.min_samples.max(1);
    let (Some(b), Some(c)) = (baseline_median, canary_median) else {
        verdict.reason = no_data_reason(spec, &verdict, needed);
        return Ok(verdict);
    };
    if baseline.len() < needed || canary.len() < needed {
        verdict.reason = no_data_reason(spec, &verdict, needed);
        return Ok(verdict);
    }

    let scaled = |factor: f64| -> Vec<f64> { baseline.iter().map(|v| v * factor).collect() };
    let plain = mann_whitney(&canary, &baseline, confidence)?;
    let high = mann_whitney(&canary, &scaled(1.0 + spec.allowed_increase), confidence)?;
    let low = mann_whitney(&canary, &scaled(1.0 - spec.allowed_decrease), confidence)?;

    let (class, decisive, tolerance) = if high.ci_low > 0.0 {
        (Class::High, &high, spec.allowed_increase)
    } else if low.ci_high < 0.0 {
        (Class::Low, &low, -spec.allowed_decrease)
    } else {
        (Class::Pass, &plain, 0.0)
    };
    verdict.class = class;
    verdict.failed = match class {
        Class::High => spec.direction.high_is_bad(),
        Class::Low => spec.direction.low_is_bad(),
        Class::Pass | Class::NoData => false,
    };
    verdict.estimate = Some(plain.estimate);
    verdict.ci_low = Some(plain.ci_low);
    verdict.ci_high = Some(plain.ci_high);
    verdict.p_value = Some(plain.p_two_sided);

    // The sentence: values, change, the comparison with the tolerance, the interval.
    let change = match relative_change {
        Some(r) => percent(r),
        None => format!("{} absolute", signed(c - b)),
    };
    let interval = if b != 0.0 {
        format!(
            "{} CI {}..{}",
            level(confidence),
            percent(tolerance + decisive.ci_low / b.abs()),
            percent(tolerance + decisive.ci_high / b.abs()),
        )
    } else {
        format!(
            "{} CI of the shift {}..{}",
            level(confidence),
            signed(decisive.ci_low),
            signed(decisive.ci_high),
        )
    };
    let judged = match class {
        Class::High => format!(
            "above the allowed {} ({interval}){}",
            percent(spec.allowed_increase),
            if verdict.failed {
                ""
            } else {
                ", but only a decrease is bad for this metric"
            }
        ),
        Class::Low => format!(
            "below the allowed {} ({interval}){}",
            percent(-spec.allowed_decrease),
            if verdict.failed {
                ""
            } else {
                ", but only an increase is bad for this metric"
            }
        ),
        Class::Pass | Class::NoData => format!(
            "within the allowed {}..{} ({interval})",
            percent(-spec.allowed_decrease),
            percent(spec.allowed_increase),
        ),
    };
    verdict.reason = format!(
        "{} {} vs baseline {}: {change}, {judged}{}",
        spec.name,
        number(c),
        number(b),
        dropped_note(dropped)
    );
    Ok(verdict)
}

fn no_data_reason(spec: &MetricSpec, verdict: &MetricVerdict, needed: usize) -> String {
    format!(
        "{}: {} canary and {} baseline samples, fewer than the {needed} needed on each side to judge{}",
        spec.name,
        verdict.canary_samples,
        verdict.baseline_samples,
        dropped_note(verdict.non_finite_dropped),
    )
}

fn dropped_note(dropped: usize) -> String {
    match dropped {
        0 => String::new(),
        1 => " (1 non-finite value dropped)".to_owned(),
        n => format!(" ({n} non-finite values dropped)"),
    }
}

fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        sorted[middle - 1] + (sorted[middle] - sorted[middle - 1]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use expect_test::{expect, Expect};

    use super::*;
    use crate::testkit::Xorshift;

    /// Error ratios per 10-second interval around `mean`, never negative.
    fn error_ratios(seed: u64, n: usize, mean: f64) -> Vec<f64> {
        let mut rng = Xorshift::new(seed);
        rng.series(n, |r| r.normal(mean, mean * 0.25).max(0.0))
    }

    /// Latencies in milliseconds, log-normal around `median`.
    fn latencies(seed: u64, n: usize, median: f64) -> Vec<f64> {
        let mut rng = Xorshift::new(seed);
        rng.series(n, |r| r.log_normal(median.ln(), 0.4))
    }

    /// Classifies at 95 % and checks class, failure and reason.
    fn check(
        spec: &MetricSpec,
        baseline: &[f64],
        canary: &[f64],
        class: Class,
        failed: bool,
        reason: Expect,
    ) {
        let verdict = classify(spec, baseline, canary, 0.95).unwrap();
        assert_eq!(
            (verdict.class, verdict.failed),
            (class, failed),
            "{verdict:#?}"
        );
        reason.assert_eq(&verdict.reason);
    }

    #[test]
    fn a_canary_whose_error_ratio_rose_five_times_fails() {
        check(
            &MetricSpec::new("error_ratio", Direction::Increase),
            &error_ratios(1, 30, 0.01),
            &error_ratios(2, 30, 0.05),
            Class::High,
            true,
            expect!["error_ratio 0.05074 vs baseline 0.01084: +368%, above the allowed +10% (95% CI +333%..+399%)"],
        );
    }

    #[test]
    fn a_canary_within_tolerance_passes() {
        // 3 % more errors, 10 % allowed.
        check(
            &MetricSpec::new("error_ratio", Direction::Increase),
            &error_ratios(3, 120, 0.010),
            &error_ratios(4, 120, 0.0103),
            Class::Pass,
            false,
            expect!["error_ratio 0.01041 vs baseline 0.009727: +7.1%, within the allowed -10%..+10% (95% CI -2.9%..+11%)"],
        );
    }

    #[test]
    fn lower_latency_on_a_higher_is_worse_metric_passes() {
        check(
            &MetricSpec::new("latency_p99_ms", Direction::Increase),
            &latencies(5, 60, 240.0),
            &latencies(6, 60, 150.0),
            Class::Low,
            false,
            expect!["latency_p99_ms 138.2 vs baseline 255.2: -46%, below the allowed -10% (95% CI -53%..-30%), but only an increase is bad for this metric"],
        );
    }

    #[test]
    fn higher_success_on_a_lower_is_worse_metric_passes() {
        let mut rng = Xorshift::new(7);
        let baseline = rng.series(40, |r| r.normal(0.90, 0.01));
        let canary = rng.series(40, |r| r.normal(0.99, 0.005));
        let spec = MetricSpec::new("success_ratio", Direction::Decrease).allow_increase(0.01);
        check(&spec, &baseline, &canary, Class::High, false, expect!["success_ratio 0.9901 vs baseline 0.8997: +10%, above the allowed +1% (95% CI +9.6%..+10%), but only a decrease is bad for this metric"]);
    }

    #[test]
    fn either_direction_fails_both_ways() {
        let spec = MetricSpec::new("requests_per_s", Direction::Either);
        let mut rng = Xorshift::new(8);
        let baseline = rng.series(40, |r| r.normal(1000.0, 30.0));
        let fewer = rng.series(40, |r| r.normal(600.0, 30.0));
        let more = rng.series(40, |r| r.normal(1400.0, 30.0));
        assert!(classify(&spec, &baseline, &fewer, 0.95).unwrap().failed);
        assert!(classify(&spec, &baseline, &more, 0.95).unwrap().failed);
    }

    /// Same distribution, different draws: at the default 10 % tolerance none of
    /// twenty seeds may fail.
    #[test]
    fn noisy_identical_distributions_pass() {
        for seed in 0..20 {
            let baseline = latencies(100 + seed, 200, 180.0);
            let canary = latencies(200 + seed, 200, 180.0);
            let spec = MetricSpec::new("latency_ms", Direction::Either);
            let verdict = classify(&spec, &baseline, &canary, 0.95).unwrap();
            assert_eq!(
                verdict.class,
                Class::Pass,
                "seed {seed}: {}",
                verdict.reason
            );
        }
    }

    /// Calibration: with no tolerance, identical distributions are classified High
    /// or Low about as often as a 95 % interval misses, 5 %.
    #[test]
    fn false_alarms_match_the_confidence_level() {
        let spec = MetricSpec::new("latency_ms", Direction::Either)
            .allow_increase(0.0)
            .allow_decrease(0.0);
        let runs = 400;
        let alarms = (0..runs)
            .filter(|&seed| {
                let baseline = latencies(1000 + seed, 60, 180.0);
                let canary = latencies(5000 + seed, 60, 180.0);
                classify(&spec, &baseline, &canary, 0.95).unwrap().class != Class::Pass
            })
            .count();
        let rate = alarms as f64 / runs as f64;
        assert!((0.02..=0.08).contains(&rate), "false alarm rate {rate}");
    }

    #[test]
    fn too_few_samples_is_no_data() {
        let mut canary = error_ratios(9, 4, 0.2);
        canary.push(f64::NAN);
        check(
            &MetricSpec::new("error_ratio", Direction::Increase),
            &error_ratios(10, 40, 0.01),
            &canary,
            Class::NoData,
            false,
            expect!["error_ratio: 4 canary and 40 baseline samples, fewer than the 10 needed on each side to judge (1 non-finite value dropped)"],
        );
        let verdict = classify(&MetricSpec::new("x", Direction::Increase), &[], &[], 0.95).unwrap();
        assert_eq!(
            (verdict.class, verdict.baseline_median),
            (Class::NoData, None)
        );
    }

    #[test]
    fn non_finite_values_are_dropped() {
        let mut baseline = error_ratios(11, 30, 0.01);
        baseline.extend([f64::NAN, f64::INFINITY]);
        let verdict = classify(
            &MetricSpec::new("error_ratio", Direction::Increase),
            &baseline,
            &error_ratios(12, 30, 0.01),
            0.95,
        )
        .unwrap();
        assert_eq!(
            (verdict.baseline_samples, verdict.non_finite_dropped),
            (30, 2)
        );
        assert_eq!(verdict.class, Class::Pass, "{}", verdict.reason);
    }

    #[test]
    fn errors_from_a_clean_baseline_are_high() {
        // A baseline without a single error: no relative change exists.
        check(
            &MetricSpec::new("error_ratio", Direction::Increase),
            &[0.0; 30],
            &error_ratios(13, 30, 0.02),
            Class::High,
            true,
            expect!["error_ratio 0.02002 vs baseline 0: +0.02002 absolute, above the allowed +10% (95% CI of the shift +0.01763..+0.02247)"],
        );
        // Both clean: identical, pass.
        let verdict = classify(
            &MetricSpec::new("error_ratio", Direction::Increase),
            &[0.0; 30],
            &[0.0; 30],
            0.95,
        )
        .unwrap();
        assert_eq!(verdict.class, Class::Pass);
    }

    #[test]
    fn invalid_specs_are_refused() {
        let spec = MetricSpec::new("error_ratio", Direction::Increase);
        let data = [1.0; 10];
        let refused =
            |spec: &MetricSpec| classify(spec, &data, &data, 0.95).unwrap_err().to_string();
        assert_eq!(
            refused(&spec.clone().allow_decrease(1.0)),
            "metric \"error_ratio\": allowed_decrease 1 must be finite, at least 0 and below 1"
        );
        assert_eq!(
            refused(&spec.clone().allow_increase(-0.1)),
            "metric \"error_ratio\": allowed_increase -0.1 must be finite, at least 0"
        );
        assert_eq!(
            refused(&spec.clone().with_weight(f64::NAN)),
            "metric \"error_ratio\": weight NaN must be finite and at least 0"
        );
        assert_eq!(
            refused(&MetricSpec::new(" ", Direction::Either)),
            "a metric has an empty name"
        );
        assert_eq!(
            classify(&spec, &data, &data, 0.0).unwrap_err(),
            CanaryError::Confidence(0.0)
        );
    }

    #[test]
    fn specs_deserialise_with_defaults() {
        let spec: MetricSpec = serde_json::from_str(
            r#"{"name": "latency_p99_ms", "direction": "increase", "critical": true}"#,
        )
        .unwrap();
        assert_eq!(
            spec,
            MetricSpec::new("latency_p99_ms", Direction::Increase).critical()
        );
    }
}
