//! Rule evaluation as Prometheus does it (`rules/alerting.go`,
//! `rules/recording.go`, `rules/group.go`), as a pure state machine.
//!
//! The app owns the schedule and the store: it calls [`RuleGroup::eval`]
//! at each evaluation time with a [`RuleEnv`] that runs queries and appends
//! recorded series, persists the [`GroupState`] it gets back (plain serde),
//! and hands the returned alerts to the dispatcher. Nothing here reads a
//! clock: `now` is always an argument.
//!
//! The alert life cycle, exactly as in Prometheus:
//! - a series the expression returns becomes a *pending* alert whose labels
//!   are the series' labels without `__name__`, plus the group's and the
//!   rule's labels (templates expanded; an empty value removes the label),
//!   plus `alertname`;
//! - it *fires* at the first evaluation at least `for` after it became
//!   active (at once when `for` is 0);
//! - when its series is gone, a pending alert is dropped; a firing one keeps
//!   firing while `keep_firing_for` has not passed since the series went
//!   away, then *resolves*;
//! - a resolved alert stays in the state for 15 minutes so that its
//!   resolution is re-sent, then is dropped; a series that comes back
//!   starts a new pending alert;
//! - value and annotations follow the latest evaluation;
//! - firing and resolved alerts are (re)sent when they changed or when
//!   `resend_delay` has passed since the last send, with `ends_at` set to
//!   four evaluation intervals ahead so a receiver resolves them by itself
//!   if Prometheus (here: cairn's evaluator) stops.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{AlertingRule, RecordingRule, Rule, RuleGroup};
use crate::alert::Alert;
use crate::history::{HistoryEntry, HistoryEvent};
use crate::labels::{fingerprint, LabelSet, ALERT_NAME, METRIC_NAME};
use crate::template::{expand_alert_template, QueryFn};
use crate::Timestamp;

/// How long a resolved alert is kept (and re-sent) before it is dropped.
pub const RESOLVED_RETENTION: time::Duration = time::Duration::minutes(15);

/// One element of an expression's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub labels: LabelSet,
    #[serde(with = "crate::float_text")]
    pub value: f64,
}

/// Turns a `cairn-promql` result into rule input: a vector as is, a scalar
/// as one sample without labels (as Prometheus' `EngineQueryFunc` does).
pub fn samples_from_value(v: cairn_promql::Value) -> Result<Vec<Sample>, String> {
    match v {
        cairn_promql::Value::Vector(items) => Ok(items
            .into_iter()
            .map(|s| Sample {
                labels: s.labels.into_iter().collect(),
                value: s.v,
            })
            .collect()),
        cairn_promql::Value::Scalar { v, .. } => Ok(vec![Sample {
            labels: LabelSet::new(),
            value: v,
        }]),
        other => Err(format!(
            "rule result is not a vector or scalar: {}",
            other.result_type()
        )),
    }
}

/// The state of one alert of an alerting rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Resolved, kept for re-sending.
    Inactive,
    Pending,
    Firing,
}

/// An alert an alerting rule holds between evaluations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveAlert {
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub state: AlertState,
    #[serde(with = "crate::float_text")]
    pub value: f64,
    #[serde(with = "time::serde::rfc3339")]
    pub active_at: Timestamp,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub fired_at: Option<Timestamp>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<Timestamp>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_sent_at: Option<Timestamp>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub valid_until: Option<Timestamp>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub keep_firing_since: Option<Timestamp>,
}

impl ActiveAlert {
    /// Prometheus' `needsSending`.
    fn needs_sending(&self, ts: Timestamp, resend_delay: time::Duration) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        if let Some(r) = self.resolved_at {
            if self.last_sent_at.is_none_or(|l| r > l) {
                return true;
            }
        }
        match self.last_sent_at {
            None => true,
            Some(l) => l + resend_delay < ts,
        }
    }
}

/// The alerts of one alerting rule.
pub type AlertRuleState = Vec<ActiveAlert>;

/// Whether a rule's last evaluation worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    #[default]
    Unknown,
    Ok,
    Err,
}

/// A rule's health, as Prometheus shows it on `/rules`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RuleHealth {
    pub health: Health,
    pub last_error: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_evaluation: Option<Timestamp>,
    /// How long the last evaluation took, as measured by the app.
    #[serde(default)]
    pub evaluation_duration_ms: Option<f64>,
}

/// What a group keeps per rule between evaluations.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RuleState {
    pub health: RuleHealth,
    /// The rule's alerts (alerting rules only), sorted by labels.
    #[serde(default)]
    pub alerts: AlertRuleState,
}

/// What a group keeps between evaluations; persist it to survive restarts
/// (it is what Prometheus restores from `ALERTS_FOR_STATE`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GroupState {
    pub rules: Vec<RuleState>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_evaluation: Option<Timestamp>,
}

impl GroupState {
    /// The state for a reloaded group: each rule takes the state of the old
    /// rule with the same name and labels (the n-th such rule the n-th
    /// one), as Prometheus' `CopyState` does, so a reload neither resets
    /// `for` timers nor drops firing alerts.
    pub fn carry_over(
        old_group: &RuleGroup,
        old: &GroupState,
        new_group: &RuleGroup,
    ) -> GroupState {
        let mut pool: HashMap<(&str, &LabelSet), Vec<&RuleState>> = HashMap::new();
        for (r, s) in old_group.rules.iter().zip(&old.rules) {
            pool.entry((r.name(), r.labels())).or_default().push(s);
        }
        for v in pool.values_mut() {
            v.reverse();
        }
        let rules = new_group
            .rules
            .iter()
            .map(|r| {
                pool.get_mut(&(r.name(), r.labels()))
                    .and_then(Vec::pop)
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        GroupState {
            rules,
            last_evaluation: old.last_evaluation,
        }
    }
}

/// Settings that come from the server rather than the rule file.
#[derive(Debug, Clone)]
pub struct EvalContext {
    /// Added to every sent alert that lacks them (`global.external_labels`).
    pub external_labels: LabelSet,
    /// cairn's external URL, for `generatorURL` and `$externalURL`.
    pub external_url: String,
    /// The interval of groups that set none (`global.evaluation_interval`).
    pub default_interval: time::Duration,
    /// `--rules.alert.resend-delay`, default 1m.
    pub resend_delay: time::Duration,
}

impl Default for EvalContext {
    fn default() -> Self {
        EvalContext {
            external_labels: LabelSet::new(),
            external_url: String::new(),
            default_interval: time::Duration::minutes(1),
            resend_delay: time::Duration::minutes(1),
        }
    }
}

/// What rule evaluation needs from the app.
pub trait RuleEnv {
    /// Runs an instant query at `at`.
    fn query(&self, expr: &str, at: Timestamp) -> Result<Vec<Sample>, String>;

    /// Receives the series a rule produced (recorded series, or `ALERTS`
    /// and `ALERTS_FOR_STATE`) before the next rule of the group runs, so
    /// that the app can append them and later rules see them.
    fn output(&mut self, _rule: &Rule, _series: &[Sample], _at: Timestamp) {}

    /// How long the last `query` took, if the app measured it.
    fn last_query_duration(&self) -> Option<time::Duration> {
        None
    }
}

/// What one group evaluation produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EvalOutput {
    /// Recorded series and `ALERTS`/`ALERTS_FOR_STATE`, in rule order; all
    /// stamped at the query time (evaluation time minus `query_offset`).
    pub series: Vec<Sample>,
    /// Alerts to hand to the dispatcher now.
    pub alerts: Vec<Alert>,
    /// State changes of alerts, for the alert history.
    pub history: Vec<HistoryEntry>,
}

fn effective_labels<'a>(group: &'a LabelSet, rule: &'a LabelSet) -> Vec<(&'a String, &'a String)> {
    let mut m: BTreeMap<&String, &String> = group.iter().collect();
    m.extend(rule.iter());
    m.into_iter().collect()
}

impl RuleGroup {
    /// The interval this group runs at.
    pub fn interval_or(&self, default: time::Duration) -> time::Duration {
        self.interval.filter(|d| d.is_positive()).unwrap_or(default)
    }

    /// Evaluates every rule of the group, in order, at `now`.
    pub fn eval(
        &self,
        state: &mut GroupState,
        now: Timestamp,
        env: &mut dyn RuleEnv,
        ctx: &EvalContext,
    ) -> EvalOutput {
        state
            .rules
            .resize_with(self.rules.len(), RuleState::default);
        let offset = self.query_offset.unwrap_or(time::Duration::ZERO);
        let at = now - offset;
        let interval = self.interval_or(ctx.default_interval);
        let mut out = EvalOutput::default();
        for (rule, rs) in self.rules.iter().zip(state.rules.iter_mut()) {
            let result = env.query(rule.expr(), at).and_then(|samples| {
                let env_ref: &dyn RuleEnv = &*env;
                let query = |q: &str| -> Result<Vec<(LabelSet, f64)>, String> {
                    env_ref
                        .query(q, now)
                        .map(|v| v.into_iter().map(|s| (s.labels, s.value)).collect())
                };
                match rule {
                    Rule::Recording(r) => r.eval(&self.labels, &samples, self.limit),
                    Rule::Alerting(r) => r.eval(
                        &self.labels,
                        &mut rs.alerts,
                        now,
                        &samples,
                        ctx,
                        Some(&query),
                        self.limit,
                        &mut out.history,
                    ),
                }
            });
            rs.health.last_evaluation = Some(now);
            rs.health.evaluation_duration_ms = env
                .last_query_duration()
                .map(|d| d.as_seconds_f64() * 1000.0);
            match result {
                Ok(series) => {
                    rs.health.health = crate::rules::Health::Ok;
                    rs.health.last_error = None;
                    env.output(rule, &series, at);
                    out.series.extend(series);
                    if let Rule::Alerting(r) = rule {
                        out.alerts.extend(r.alerts_to_send(
                            &mut rs.alerts,
                            now,
                            ctx.resend_delay,
                            interval,
                            ctx,
                        ));
                    }
                }
                Err(e) => {
                    rs.health.health = crate::rules::Health::Err;
                    rs.health.last_error = Some(e);
                }
            }
        }
        state.last_evaluation = Some(now);
        out
    }
}

impl RecordingRule {
    /// The recorded series: the result renamed to `record`, with the
    /// group's and the rule's labels applied (an empty value removes one).
    pub fn eval(
        &self,
        group_labels: &LabelSet,
        samples: &[Sample],
        limit: usize,
    ) -> Result<Vec<Sample>, String> {
        let mut out = Vec::with_capacity(samples.len());
        let mut seen = std::collections::HashSet::new();
        for s in samples {
            let mut labels = s.labels.clone();
            labels.insert(METRIC_NAME.into(), self.record.clone());
            for (k, v) in effective_labels(group_labels, &self.labels) {
                if v.is_empty() {
                    labels.remove(k);
                } else {
                    labels.insert(k.clone(), v.clone());
                }
            }
            if !seen.insert(fingerprint(&labels)) {
                return Err(
                    "vector contains metrics with the same labelset after applying rule labels"
                        .into(),
                );
            }
            out.push(Sample {
                labels,
                value: s.value,
            });
        }
        if limit > 0 && out.len() > limit {
            return Err(format!(
                "exceeded limit of {limit} with {} series",
                out.len()
            ));
        }
        Ok(out)
    }
}

fn entry(at: Timestamp, labels: &LabelSet, event: HistoryEvent) -> HistoryEntry {
    HistoryEntry {
        at,
        fingerprint: fingerprint(labels),
        labels: labels.clone(),
        event,
    }
}

impl AlertingRule {
    /// One evaluation at `ts` with the expression's result; updates
    /// `alerts` and returns the `ALERTS`/`ALERTS_FOR_STATE` series. On an
    /// error the alerts are left as they were (as in Prometheus), except
    /// when the limit is exceeded, which clears them.
    #[allow(clippy::too_many_arguments)]
    pub fn eval(
        &self,
        group_labels: &LabelSet,
        alerts: &mut AlertRuleState,
        ts: Timestamp,
        samples: &[Sample],
        ctx: &EvalContext,
        query: Option<QueryFn<'_>>,
        limit: usize,
        history: &mut Vec<HistoryEntry>,
    ) -> Result<Vec<Sample>, String> {
        let tmpl_name = format!("__alert_{}", self.alert);
        let rule_labels = effective_labels(group_labels, &self.labels);
        // The alerts this evaluation returns, by identity.
        let mut fresh: BTreeMap<LabelSet, (LabelSet, f64)> = BTreeMap::new();
        for s in samples {
            let expand = |text: &str| {
                expand_alert_template(
                    &tmpl_name,
                    text,
                    &s.labels,
                    s.value,
                    &ctx.external_labels,
                    &ctx.external_url,
                    query,
                )
                .unwrap_or_else(|e| format!("<error expanding template: {e}>"))
            };
            let mut labels = s.labels.clone();
            labels.remove(METRIC_NAME);
            for (k, v) in &rule_labels {
                let x = expand(v);
                if x.is_empty() {
                    labels.remove(*k);
                } else {
                    labels.insert((*k).clone(), x);
                }
            }
            labels.insert(ALERT_NAME.into(), self.alert.clone());
            let annotations: LabelSet = self
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), expand(v)))
                .collect();
            if fresh.insert(labels, (annotations, s.value)).is_some() {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .into(),
                );
            }
        }

        let mut index: HashMap<LabelSet, usize> = alerts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.labels.clone(), i))
            .collect();
        for (labels, (annotations, value)) in &fresh {
            if let Some(&i) = index.get(labels) {
                let a = &mut alerts[i];
                if a.state != AlertState::Inactive {
                    a.value = *value;
                    a.annotations = annotations.clone();
                    continue;
                }
            }
            let a = ActiveAlert {
                labels: labels.clone(),
                annotations: annotations.clone(),
                state: AlertState::Pending,
                value: *value,
                active_at: ts,
                fired_at: None,
                resolved_at: None,
                last_sent_at: None,
                valid_until: None,
                keep_firing_since: None,
            };
            history.push(entry(ts, labels, HistoryEvent::Pending { value: *value }));
            match index.get(labels) {
                Some(&i) => alerts[i] = a,
                None => {
                    index.insert(labels.clone(), alerts.len());
                    alerts.push(a);
                }
            }
        }

        alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
        let mut series = Vec::new();
        let mut active = 0usize;
        let sample_at = |a: &ActiveAlert, name: &str, state: Option<&str>, v: f64| {
            let mut l = a.labels.clone();
            l.insert(METRIC_NAME.into(), name.into());
            if let Some(s) = state {
                l.insert("alertstate".into(), s.into());
            }
            Sample {
                labels: l,
                value: v,
            }
        };
        alerts.retain_mut(|a| {
            if !fresh.contains_key(&a.labels) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && self.keep_firing_for.is_positive() {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    if ts - since < self.keep_firing_for {
                        keep_firing = true;
                    }
                }
                let delete = a.state == AlertState::Pending
                    || a.resolved_at.is_some_and(|r| ts - r > RESOLVED_RETENTION);
                if a.state != AlertState::Inactive && !keep_firing {
                    history.push(entry(
                        ts,
                        &a.labels,
                        if a.state == AlertState::Pending {
                            HistoryEvent::Cancelled
                        } else {
                            HistoryEvent::Resolved
                        },
                    ));
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(ts);
                }
                if delete {
                    return false;
                }
                if !keep_firing {
                    return true;
                }
            } else {
                a.keep_firing_since = None;
            }
            active += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= self.r#for {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
                history.push(entry(
                    ts,
                    &a.labels,
                    HistoryEvent::Firing {
                        value: Some(a.value),
                    },
                ));
            }
            let state = if a.state == AlertState::Firing {
                "firing"
            } else {
                "pending"
            };
            series.push(sample_at(a, "ALERTS", Some(state), 1.0));
            series.push(sample_at(
                a,
                "ALERTS_FOR_STATE",
                None,
                a.active_at.unix_timestamp() as f64,
            ));
            true
        });
        if limit > 0 && active > limit {
            alerts.clear();
            return Err(format!("exceeded limit of {limit} with {active} alerts"));
        }
        Ok(series)
    }

    /// The alerts to send after an evaluation at `ts` (Prometheus'
    /// `sendAlerts`): firing and resolved alerts that changed since they
    /// were last sent or were last sent more than `resend_delay` ago.
    pub fn alerts_to_send(
        &self,
        alerts: &mut AlertRuleState,
        ts: Timestamp,
        resend_delay: time::Duration,
        interval: time::Duration,
        ctx: &EvalContext,
    ) -> Vec<Alert> {
        let delta = if interval > resend_delay {
            interval
        } else {
            resend_delay
        };
        let generator_url = format!(
            "{}/graph?g0.expr={}&g0.tab=1",
            ctx.external_url,
            crate::template::query_escape(&self.expr)
        );
        let mut out = Vec::new();
        for a in alerts.iter_mut() {
            if !a.needs_sending(ts, resend_delay) {
                continue;
            }
            a.last_sent_at = Some(ts);
            a.valid_until = Some(ts + delta * 4);
            let mut labels = a.labels.clone();
            for (k, v) in &ctx.external_labels {
                labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            out.push(Alert {
                labels,
                annotations: a.annotations.clone(),
                starts_at: a.fired_at.unwrap_or(a.active_at),
                ends_at: Some(a.resolved_at.or(a.valid_until).unwrap_or(ts)),
                generator_url: generator_url.clone(),
                updated_at: ts,
                timeout: false,
            });
        }
        out
    }
}

/// Where in each interval a group runs: a stable offset from a hash of its
/// file and name, so that many groups with the same interval do not all
/// query at once (Prometheus does the same with a different hash).
pub fn group_eval_offset(group: &RuleGroup, interval: time::Duration) -> time::Duration {
    let ms = interval.whole_milliseconds().max(1) as u64;
    let key =
        crate::labels::label_set([("file", group.file.as_str()), ("name", group.name.as_str())]);
    time::Duration::milliseconds((fingerprint(&key).0 % ms) as i64)
}

/// The first evaluation time of `group` strictly after `after`.
pub fn next_evaluation(group: &RuleGroup, interval: time::Duration, after: Timestamp) -> Timestamp {
    let ms = interval.whole_milliseconds().max(1);
    let offset = group_eval_offset(group, interval).whole_milliseconds();
    let t = after.unix_timestamp_nanos() / 1_000_000;
    let base = (t - offset).div_euclid(ms) * ms + offset;
    let next = if base <= t { base + ms } else { base };
    Timestamp::from_unix_timestamp_nanos(next * 1_000_000).unwrap_or(after)
}
