//! Anomaly rules: a `cairn-anomaly` detector per series of each rule's expression,
//! fed every new point of the series at the rule's step. A series whose detector
//! flags a point fires an alert that says why ("value 4,210 vs expected 1,100–1,500
//! (spike, score 0.74)"); it resolves once the series has behaved for [`HOLD`].
//!
//! Detectors are not persisted: at start, and for a new rule, each learns from the
//! last [`WARM_UP`] of the store before it judges anything new, which costs one range
//! query and keeps the saved state small.

use std::collections::BTreeMap;

use cairn_alert::alert::Alert;
use cairn_alert::LabelSet;
use cairn_anomaly::{Assessment, Config, Detector};
use cairn_domain::AnomalyRule;
use serde::Serialize;

/// The step series are evaluated at.
pub const STEP: time::Duration = time::Duration::seconds(15);
/// History a new detector learns from before judging.
pub const WARM_UP: time::Duration = time::Duration::hours(2);
/// How long a series must behave before its anomaly resolves.
pub const HOLD: time::Duration = time::Duration::minutes(10);

struct SeriesState {
    rule: String,
    labels: LabelSet,
    detector: Detector,
    last_t: i64,
    last: Option<Assessment>,
    /// Since when, and the point that last alerted, while anomalous.
    active: Option<(cairn_alert::Timestamp, Assessment)>,
    last_alert_at: Option<cairn_alert::Timestamp>,
}

/// What a detector says of its series now, for the UI.
#[derive(Debug, Clone, Serialize)]
pub struct AnomalyStatus {
    pub rule: String,
    pub labels: LabelSet,
    pub value: Option<f64>,
    pub expected: Option<f64>,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    pub score: Option<f64>,
    pub anomalous: bool,
    pub explanation: Option<String>,
}

/// Every detector, by rule id and series.
#[derive(Default)]
pub struct AnomalyEngine {
    series: BTreeMap<(String, String), SeriesState>,
    /// A rule's settings when its detectors were made; a change starts them afresh.
    versions: BTreeMap<String, String>,
    last_eval: BTreeMap<String, cairn_alert::Timestamp>,
}

fn ms(t: cairn_alert::Timestamp) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn at(ms: i64) -> cairn_alert::Timestamp {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

impl AnomalyEngine {
    /// Feeds each enabled rule's new points to its detectors (rules are evaluated at
    /// most every [`STEP`]) and returns the alerts to hand to the dispatcher.
    pub async fn evaluate(
        &mut self,
        metrics: &std::sync::Arc<crate::metrics::Metrics>,
        rules: &[AnomalyRule],
        now: cairn_alert::Timestamp,
    ) -> Vec<Alert> {
        // Forget rules that are gone or changed.
        let live: BTreeMap<String, String> = rules
            .iter()
            .filter(|r| r.enabled)
            .map(|r| {
                (
                    r.id.to_string(),
                    format!("{}|{}|{}", r.expr, r.sensitivity, r.name),
                )
            })
            .collect();
        self.series.retain(|(rule, _), _| live.contains_key(rule));
        for (id, v) in &live {
            if self.versions.get(id) != Some(v) {
                self.series.retain(|(rule, _), _| rule != id);
                self.versions.insert(id.clone(), v.clone());
                self.last_eval.remove(id);
            }
        }
        self.versions.retain(|id, _| live.contains_key(id));
        let mut out = Vec::new();
        for rule in rules.iter().filter(|r| r.enabled) {
            let id = rule.id.to_string();
            let due = self.last_eval.get(&id).is_none_or(|t| now - *t >= STEP);
            if due {
                self.last_eval.insert(id.clone(), now);
                let known: Vec<i64> = self
                    .series
                    .iter()
                    .filter(|((r, _), _)| *r == id)
                    .map(|(_, s)| s.last_t)
                    .collect();
                let end = ms(now) - ms(now).rem_euclid(STEP.whole_milliseconds() as i64);
                let start = known
                    .iter()
                    .copied()
                    .min()
                    .map(|t| t + STEP.whole_milliseconds() as i64)
                    .unwrap_or(end - WARM_UP.whole_milliseconds() as i64);
                if start <= end {
                    let m = metrics.clone();
                    let expr = rule.expr.clone();
                    let step = STEP.whole_milliseconds() as i64;
                    let result = tokio::task::spawn_blocking(move || {
                        m.range_blocking(&expr, start, end, step)
                    })
                    .await;
                    match result {
                        Ok(Ok(cairn_promql::Value::Matrix(series))) => {
                            self.feed(rule, series);
                        }
                        Ok(Ok(_)) => {
                            tracing::warn!(rule = %rule.name, "an anomaly rule's expression must give an instant vector")
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(rule = %rule.name, error = %e, "an anomaly rule's query failed")
                        }
                        Err(e) => {
                            tracing::warn!(rule = %rule.name, error = %e, "an anomaly rule's query panicked")
                        }
                    }
                }
            }
            out.extend(self.alerts(rule, now));
        }
        out
    }

    fn feed(&mut self, rule: &AnomalyRule, series: Vec<cairn_promql::Series>) {
        let id = rule.id.to_string();
        for s in series {
            let labels: LabelSet = s
                .labels
                .into_iter()
                .filter(|(k, _)| k != "__name__")
                .collect();
            let key = (id.clone(), cairn_alert::fingerprint(&labels).to_string());
            let st = self.series.entry(key).or_insert_with(|| SeriesState {
                rule: rule.name.clone(),
                labels: labels.clone(),
                detector: Detector::new(Config::with_sensitivity(rule.sensitivity)),
                last_t: i64::MIN,
                last: None,
                active: None,
                last_alert_at: None,
            });
            for (t, v) in s.samples {
                if t <= st.last_t || !v.is_finite() {
                    continue;
                }
                st.last_t = t;
                let a = st.detector.update(t, v);
                if a.alert {
                    let when = at(t);
                    st.last_alert_at = Some(when);
                    match &mut st.active {
                        Some((_, last)) => *last = a,
                        None => st.active = Some((when, a)),
                    }
                }
                st.last = Some(a);
            }
        }
    }

    fn alerts(&mut self, rule: &AnomalyRule, now: cairn_alert::Timestamp) -> Vec<Alert> {
        let id = rule.id.to_string();
        let mut out = Vec::new();
        for ((r, _), st) in self.series.iter_mut() {
            if *r != id {
                continue;
            }
            let Some((since, flagged)) = st.active else {
                continue;
            };
            let mut labels = st.labels.clone();
            labels.insert("alertname".into(), rule.name.clone());
            labels.insert("severity".into(), rule.severity.clone());
            labels.insert("detector".into(), "anomaly".into());
            let mut annotations = LabelSet::new();
            let why = flagged.to_string();
            annotations.insert(
                "summary".into(),
                match &rule.summary {
                    Some(s) => format!("{s}: {why}"),
                    None => format!("{} is anomalous: {why}", rule.name),
                },
            );
            if let Some(b) = flagged.band {
                annotations.insert("expected".into(), format!("{:.4}", b.expected));
                annotations.insert("expected_range".into(), format!("{:.4}–{:.4}", b.lo, b.hi));
            }
            annotations.insert("value".into(), format!("{:.4}", flagged.value));
            let calm = st.last_alert_at.is_none_or(|t| now - t >= HOLD);
            let ends_at = if calm {
                st.active = None;
                Some(now)
            } else {
                Some(now + time::Duration::minutes(3))
            };
            out.push(Alert {
                labels,
                annotations,
                starts_at: since,
                ends_at,
                generator_url: format!("/ui/alerts?rule={}", rule.id),
                updated_at: now,
                timeout: false,
            });
        }
        out
    }

    /// Every detector's latest judgement.
    pub fn status(&self) -> Vec<AnomalyStatus> {
        self.series
            .values()
            .map(|s| AnomalyStatus {
                rule: s.rule.clone(),
                labels: s.labels.clone(),
                value: s.last.as_ref().map(|a| a.value),
                expected: s.last.as_ref().and_then(|a| a.band.map(|b| b.expected)),
                lo: s.last.as_ref().and_then(|a| a.band.map(|b| b.lo)),
                hi: s.last.as_ref().and_then(|a| a.band.map(|b| b.hi)),
                score: s.last.as_ref().map(|a| a.score),
                anomalous: s.active.is_some(),
                explanation: s.active.as_ref().map(|(_, a)| a.to_string()),
            })
            .collect()
    }
}
