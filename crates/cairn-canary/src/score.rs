//! From verdicts to a decision: continue the rollout, pause for a human, or fail.
//!
//! The score is Kayenta's weighted sum without groups: the weighted share of the
//! counted metrics that did not fail, 0 to 100. Metrics without data and report-only
//! metrics (weight 0) are not counted, so missing data neither passes nor fails a
//! canary by itself. Then, in this order:
//!
//! 1. No counted metric at all (no data anywhere): **pause**, "no data". Rolling back
//!    on missing telemetry would punish the telemetry, continuing would trust nothing.
//! 2. A critical metric that failed: **fail**, whatever the score.
//! 3. Score at or above `pass`: **continue**; at or above `marginal`: **pause**;
//!    below: **fail**.
//! 4. A critical metric without data turns a continue into a pause. (Kayenta fails
//!    it; here a human decides, since the changes loop can still roll back then.)
//!
//! The score stays the computed share even when a critical failure decides, so a
//! stored judgement shows both.

use serde::{Deserialize, Serialize};

use crate::format::number;
use crate::judge::{Class, MetricVerdict};
use crate::CanaryError;

/// Score thresholds, in points of 0 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// At or above this, the rollout continues. Default 75.
    pub pass: f64,
    /// At or above this (and below `pass`), the rollout pauses for a human; below,
    /// it fails. Default 50.
    pub marginal: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            pass: 75.0,
            marginal: 50.0,
        }
    }
}

impl Thresholds {
    /// Checks `0 <= marginal <= pass <= 100`.
    pub fn validate(&self) -> Result<(), CanaryError> {
        if (0.0..=self.pass).contains(&self.marginal) && self.pass <= 100.0 {
            Ok(())
        } else {
            Err(CanaryError::Thresholds {
                pass: self.pass,
                marginal: self.marginal,
            })
        }
    }
}

/// What the changes loop does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Promote the next batch.
    Continue,
    /// Hold the rollout until a human continues or rolls back.
    Pause,
    /// Roll back.
    Fail,
}

/// The judgement of one analysis window, ready to be stored as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// The weighted share of counted metrics that did not fail, 0 to 100 (0 when
    /// nothing counted).
    pub score: f64,
    /// What to do next.
    pub decision: Decision,
    /// Every metric's verdict, in the order given.
    pub verdicts: Vec<MetricVerdict>,
    /// Sentences for a human: first why this decision, then the failed metrics, the
    /// metrics without data and the harmless shifts, each with its verdict's reason.
    pub reasons: Vec<String>,
}

/// Scores verdicts and decides. Errors only for invalid thresholds.
pub fn score(
    verdicts: Vec<MetricVerdict>,
    thresholds: &Thresholds,
) -> Result<Judgement, CanaryError> {
    thresholds.validate()?;
    let counted = || verdicts.iter().filter(|v| v.counts());
    let total: f64 = counted().map(|v| v.weight).sum();
    let passing: f64 = counted().filter(|v| !v.failed).map(|v| v.weight).sum();
    let score = if total > 0.0 {
        100.0 * passing / total
    } else {
        0.0
    };
    let names = |pick: &dyn Fn(&MetricVerdict) -> bool| -> Vec<&str> {
        verdicts
            .iter()
            .filter(|v| pick(v))
            .map(|v| v.metric.as_str())
            .collect()
    };
    let critical_failed = names(&|v| v.critical && v.failed);
    let critical_without_data = names(&|v| v.critical && v.class == Class::NoData);
    let weights = format!(
        "score {} (passing weight {} of {})",
        number(score),
        number(passing),
        number(total)
    );

    let weighted = verdicts.iter().filter(|v| v.weight > 0.0).count();
    let (decision, why) = if total == 0.0 {
        let why = if weighted == 0 {
            "no data: there is no weighted metric to judge; pause for a human".to_owned()
        } else if weighted == 1 {
            "no data: the only weighted metric had too few samples to judge; pause for a human"
                .to_owned()
        } else {
            format!(
                "no data: none of the {weighted} weighted metrics had enough samples to judge; pause for a human"
            )
        };
        (Decision::Pause, why)
    } else if !critical_failed.is_empty() {
        (
            Decision::Fail,
            format!(
                "critical {} {} failed: fail, whatever the score ({})",
                plural("metric", critical_failed.len()),
                critical_failed.join(", "),
                number(score)
            ),
        )
    } else if score >= thresholds.pass && !critical_without_data.is_empty() {
        (
            Decision::Pause,
            format!(
                "{weights} reaches the pass threshold {}, but critical {} {} had no data: pause for a human",
                number(thresholds.pass),
                plural("metric", critical_without_data.len()),
                critical_without_data.join(", ")
            ),
        )
    } else if score >= thresholds.pass {
        (
            Decision::Continue,
            format!(
                "{weights} reaches the pass threshold {}: continue",
                number(thresholds.pass)
            ),
        )
    } else if score >= thresholds.marginal {
        (
            Decision::Pause,
            format!(
                "{weights} is below the pass threshold {} but reaches the marginal threshold {}: pause for a human",
                number(thresholds.pass),
                number(thresholds.marginal)
            ),
        )
    } else {
        (
            Decision::Fail,
            format!(
                "{weights} is below the marginal threshold {}: fail",
                number(thresholds.marginal)
            ),
        )
    };

    let mut reasons = vec![why];
    let failed = verdicts.iter().filter(|v| v.failed);
    let no_data = verdicts.iter().filter(|v| v.class == Class::NoData);
    let harmless = verdicts
        .iter()
        .filter(|v| matches!(v.class, Class::High | Class::Low) && !v.failed);
    reasons.extend(
        failed
            .chain(no_data)
            .chain(harmless)
            .map(|v| v.reason.clone()),
    );

    Ok(Judgement {
        score,
        decision,
        verdicts,
        reasons,
    })
}

fn plural(word: &str, count: usize) -> String {
    if count == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{expect, Expect};

    use super::*;
    use crate::judge::Direction;

    /// A verdict as `classify` would give it, with only what scoring reads.
    fn verdict(metric: &str, class: Class, direction: Direction) -> MetricVerdict {
        let failed = match class {
            Class::High => direction != Direction::Decrease,
            Class::Low => direction != Direction::Increase,
            Class::Pass | Class::NoData => false,
        };
        MetricVerdict {
            metric: metric.to_owned(),
            direction,
            critical: false,
            weight: 1.0,
            class,
            failed,
            baseline_samples: 30,
            canary_samples: 30,
            non_finite_dropped: 0,
            baseline_median: None,
            canary_median: None,
            relative_change: None,
            estimate: None,
            ci_low: None,
            ci_high: None,
            p_value: None,
            confidence: 0.95,
            reason: format!("{metric} is {class:?}"),
        }
    }

    fn weighted(mut v: MetricVerdict, weight: f64) -> MetricVerdict {
        v.weight = weight;
        v
    }

    fn critical(mut v: MetricVerdict) -> MetricVerdict {
        v.critical = true;
        v
    }

    /// Scores with the default thresholds and shows decision, score and reasons.
    fn check(verdicts: Vec<MetricVerdict>, expected: Expect) {
        let judgement = score(verdicts, &Thresholds::default()).unwrap();
        let mut report = format!("{:?} {}\n", judgement.decision, number(judgement.score));
        for reason in &judgement.reasons {
            report.push_str(&format!("- {reason}\n"));
        }
        expected.assert_eq(&report);
    }

    use Class::{High, Low, NoData, Pass};
    use Direction::{Decrease, Either, Increase};

    #[test]
    fn everything_passes() {
        check(
            vec![
                verdict("error_ratio", Pass, Increase),
                verdict("latency", Pass, Increase),
            ],
            expect![[r#"
                Continue 100
                - score 100 (passing weight 2 of 2) reaches the pass threshold 75: continue
            "#]],
        );
    }

    #[test]
    fn weights_decide_between_continue_pause_and_fail() {
        let pass = |w| weighted(verdict("latency", Pass, Increase), w);
        let fail = |w| weighted(verdict("error_ratio", High, Increase), w);
        check(
            vec![pass(3.0), fail(1.0)],
            expect![[r#"
            Continue 75
            - score 75 (passing weight 3 of 4) reaches the pass threshold 75: continue
            - error_ratio is High
        "#]],
        );
        check(
            vec![pass(1.0), fail(1.0)],
            expect![[r#"
            Pause 50
            - score 50 (passing weight 1 of 2) is below the pass threshold 75 but reaches the marginal threshold 50: pause for a human
            - error_ratio is High
        "#]],
        );
        check(
            vec![pass(1.0), fail(3.0)],
            expect![[r#"
            Fail 25
            - score 25 (passing weight 1 of 4) is below the marginal threshold 50: fail
            - error_ratio is High
        "#]],
        );
    }

    #[test]
    fn an_improvement_counts_as_passing() {
        check(
            vec![
                verdict("latency", Low, Increase),
                verdict("success_ratio", High, Decrease),
            ],
            expect![[r#"
                Continue 100
                - score 100 (passing weight 2 of 2) reaches the pass threshold 75: continue
                - latency is Low
                - success_ratio is High
            "#]],
        );
    }

    #[test]
    fn a_failing_critical_metric_fails_whatever_the_score() {
        let mut verdicts: Vec<_> = (0..9)
            .map(|i| verdict(&format!("m{i}"), Pass, Either))
            .collect();
        verdicts.push(critical(verdict("error_ratio", High, Increase)));
        check(
            verdicts,
            expect![[r#"
                Fail 90
                - critical metric error_ratio failed: fail, whatever the score (90)
                - error_ratio is High
            "#]],
        );
    }

    #[test]
    fn a_critical_metric_without_data_pauses() {
        check(
            vec![
                verdict("latency", Pass, Increase),
                critical(verdict("error_ratio", NoData, Increase)),
            ],
            expect![[r#"
                Pause 100
                - score 100 (passing weight 1 of 1) reaches the pass threshold 75, but critical metric error_ratio had no data: pause for a human
                - error_ratio is NoData
            "#]],
        );
    }

    #[test]
    fn no_data_anywhere_pauses() {
        check(
            vec![
                verdict("latency", NoData, Increase),
                verdict("error_ratio", NoData, Increase),
            ],
            expect![[r#"
                Pause 0
                - no data: none of the 2 weighted metrics had enough samples to judge; pause for a human
                - latency is NoData
                - error_ratio is NoData
            "#]],
        );
        check(
            vec![],
            expect![[r#"
                Pause 0
                - no data: there is no weighted metric to judge; pause for a human
            "#]],
        );
    }

    #[test]
    fn report_only_metrics_are_shown_not_counted() {
        check(
            vec![
                verdict("latency", Pass, Increase),
                weighted(verdict("cpu", High, Increase), 0.0),
            ],
            expect![[r#"
                Continue 100
                - score 100 (passing weight 1 of 1) reaches the pass threshold 75: continue
                - cpu is High
            "#]],
        );
    }

    #[test]
    fn thresholds_are_checked() {
        let bad = Thresholds {
            pass: 40.0,
            marginal: 60.0,
        };
        assert_eq!(
            score(vec![], &bad).unwrap_err().to_string(),
            "thresholds pass 40 and marginal 60 must satisfy 0 <= marginal <= pass <= 100"
        );
    }
}
