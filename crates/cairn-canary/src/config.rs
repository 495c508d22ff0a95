//! A canary analysis as the changes loop configures and runs it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::judge::{classify, MetricSpec};
use crate::score::{score, Judgement, Thresholds};
use crate::CanaryError;

/// The metrics to compare between canary and baseline and how to decide, one per
/// rollout (stored with it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryConfig {
    /// The metrics, each judged on its own.
    pub metrics: Vec<MetricSpec>,
    /// The confidence level of the intervals. Default 0.95.
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Score thresholds. Default 75 and 50.
    #[serde(default)]
    pub thresholds: Thresholds,
}

fn default_confidence() -> f64 {
    0.95
}

/// One metric's values over the analysis window: one value per scrape or per
/// interval, from the baseline's instances and from the canary's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    /// The baseline's values.
    pub baseline: Vec<f64>,
    /// The canary's values.
    pub canary: Vec<f64>,
}

impl CanaryConfig {
    /// A configuration with confidence 0.95 and the default thresholds.
    pub fn new(metrics: Vec<MetricSpec>) -> Self {
        CanaryConfig {
            metrics,
            confidence: default_confidence(),
            thresholds: Thresholds::default(),
        }
    }

    /// Checks every metric, that names are unique, the confidence and the thresholds.
    pub fn validate(&self) -> Result<(), CanaryError> {
        let mut seen = BTreeSet::new();
        for spec in &self.metrics {
            spec.validate()?;
            if !seen.insert(spec.name.as_str()) {
                return Err(CanaryError::DuplicateMetric(spec.name.clone()));
            }
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(CanaryError::Confidence(self.confidence));
        }
        self.thresholds.validate()
    }

    /// Judges one analysis window. `samples` is keyed by metric name; a configured
    /// metric missing from it has no data, and samples of unconfigured metrics are
    /// ignored.
    pub fn judge(&self, samples: &BTreeMap<String, Samples>) -> Result<Judgement, CanaryError> {
        self.validate()?;
        let empty = Samples::default();
        let verdicts = self
            .metrics
            .iter()
            .map(|spec| {
                let data = samples.get(&spec.name).unwrap_or(&empty);
                classify(spec, &data.baseline, &data.canary, self.confidence)
            })
            .collect::<Result<Vec<_>, _>>()?;
        score(verdicts, &self.thresholds)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::judge::Direction;
    use crate::score::Decision;
    use crate::testkit::Xorshift;

    fn config() -> CanaryConfig {
        CanaryConfig::new(vec![
            MetricSpec::new("error_ratio", Direction::Increase)
                .critical()
                .with_weight(3.0),
            MetricSpec::new("latency_p99_ms", Direction::Increase).allow_increase(0.2),
            MetricSpec::new("success_ratio", Direction::Decrease).allow_decrease(0.02),
            MetricSpec::new("cpu_cores", Direction::Either).with_weight(0.0),
        ])
    }

    /// Thirty 10-second intervals of each metric; the canary's error ratio as given.
    fn window(canary_error_ratio: f64) -> BTreeMap<String, Samples> {
        let mut rng = Xorshift::new(42);
        let mut samples = BTreeMap::new();
        let mut add = |name: &str, base: f64, canary: f64, spread: f64| {
            let baseline = rng.series(30, |r| r.normal(base, base * spread).max(0.0));
            let canary = rng.series(30, |r| r.normal(canary, canary * spread).max(0.0));
            samples.insert(name.to_owned(), Samples { baseline, canary });
        };
        add("error_ratio", 0.01, canary_error_ratio, 0.2);
        add("latency_p99_ms", 240.0, 150.0, 0.1);
        add("success_ratio", 0.99, 0.99, 0.002);
        add("cpu_cores", 2.0, 2.6, 0.05);
        samples
    }

    #[test]
    fn a_healthy_canary_continues() {
        let judgement = config().judge(&window(0.0102)).unwrap();
        assert_eq!(judgement.decision, Decision::Continue);
        expect![[r#"
            [
                "score 100 (passing weight 5 of 5) reaches the pass threshold 75: continue",
                "cpu_cores 2.61 vs baseline 1.987: +31%, above the allowed +10% (95% CI +28%..+33%)",
                "latency_p99_ms 149 vs baseline 238.7: -38%, below the allowed -10% (95% CI -41%..-33%), but only an increase is bad for this metric",
            ]
        "#]].assert_debug_eq(&judgement.reasons);
    }

    #[test]
    fn a_canary_with_five_times_the_errors_fails_and_says_why() {
        let judgement = config().judge(&window(0.05)).unwrap();
        assert_eq!(judgement.decision, Decision::Fail);
        expect![[r#"
            [
                "critical metric error_ratio failed: fail, whatever the score (40)",
                "error_ratio 0.05407 vs baseline 0.009387: +476%, above the allowed +10% (95% CI +425%..+500%)",
                "cpu_cores 2.61 vs baseline 1.987: +31%, above the allowed +10% (95% CI +28%..+33%)",
                "latency_p99_ms 149 vs baseline 238.7: -38%, below the allowed -10% (95% CI -41%..-33%), but only an increase is bad for this metric",
            ]
        "#]].assert_debug_eq(&judgement.reasons);
    }

    #[test]
    fn a_window_without_samples_pauses_and_stores_as_json() {
        let config = CanaryConfig::new(vec![
            MetricSpec::new("error_ratio", Direction::Increase).critical()
        ]);
        let judgement = config.judge(&BTreeMap::new()).unwrap();
        let json = serde_json::to_string_pretty(&judgement).unwrap();
        expect![[r#"
            {
              "score": 0.0,
              "decision": "pause",
              "verdicts": [
                {
                  "metric": "error_ratio",
                  "direction": "increase",
                  "critical": true,
                  "weight": 1.0,
                  "class": "no_data",
                  "failed": false,
                  "baseline_samples": 0,
                  "canary_samples": 0,
                  "non_finite_dropped": 0,
                  "baseline_median": null,
                  "canary_median": null,
                  "relative_change": null,
                  "estimate": null,
                  "ci_low": null,
                  "ci_high": null,
                  "p_value": null,
                  "confidence": 0.95,
                  "reason": "error_ratio: 0 canary and 0 baseline samples, fewer than the 10 needed on each side to judge"
                }
              ],
              "reasons": [
                "no data: the only weighted metric had too few samples to judge; pause for a human",
                "error_ratio: 0 canary and 0 baseline samples, fewer than the 10 needed on each side to judge"
              ]
            }"#]].assert_eq(&json);
        let back: Judgement = serde_json::from_str(&json).unwrap();
        assert_eq!(back, judgement);
    }

    /// One verdict as stored: the numbers behind the sentence.
    #[test]
    fn a_verdict_stores_as_json() {
        let judgement = config().judge(&window(0.05)).unwrap();
        let json = serde_json::to_string_pretty(&judgement.verdicts[0]).unwrap();
        expect![[r#"
            {
              "metric": "error_ratio",
              "direction": "increase",
              "critical": true,
              "weight": 3.0,
              "class": "high",
              "failed": true,
              "baseline_samples": 30,
              "canary_samples": 30,
              "non_finite_dropped": 0,
              "baseline_median": 0.009387433778209681,
              "canary_median": 0.05407351882715752,
              "relative_change": 4.760202426426076,
              "estimate": 0.043938265422713126,
              "ci_low": 0.03986461706389537,
              "ci_high": 0.04693188948550178,
              "p_value": 1.6911233892144732e-17,
              "confidence": 0.95,
              "reason": "error_ratio 0.05407 vs baseline 0.009387: +476%, above the allowed +10% (95% CI +425%..+500%)"
            }"#]].assert_eq(&json);
        let back: Judgement =
            serde_json::from_str(&serde_json::to_string(&judgement).unwrap()).unwrap();
        assert_eq!(back.decision, judgement.decision);
        assert_eq!(back.reasons, judgement.reasons);
    }

    #[test]
    fn configuration_reads_from_json_with_defaults_and_is_checked() {
        let config: CanaryConfig = serde_json::from_str(
            r#"{"metrics": [{"name": "error_ratio", "direction": "increase", "critical": true}]}"#,
        )
        .unwrap();
        assert_eq!(
            (config.confidence, config.thresholds),
            (0.95, Thresholds::default())
        );
        let twice = CanaryConfig::new(vec![
            MetricSpec::new("error_ratio", Direction::Increase),
            MetricSpec::new("error_ratio", Direction::Either),
        ]);
        assert_eq!(
            twice.judge(&BTreeMap::new()).unwrap_err(),
            CanaryError::DuplicateMetric("error_ratio".to_owned())
        );
    }
}
