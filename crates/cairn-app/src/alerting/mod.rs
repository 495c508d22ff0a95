//! The alerting loop, on top of the pure core in `cairn-alert`: rules evaluated on
//! their schedules against the metrics store, anomaly rules, alerts posted by external
//! Prometheus servers on Alertmanager's API, routing, grouping, silences and
//! inhibition, notifications delivered with retries and every attempt logged, on-call
//! escalation, acknowledgements, an alert history, and problems that join concurrent
//! alerts along the service topology.
//!
//! - **State.** One [`Engine`] behind a mutex: the parsed rule files and routing
//!   configuration (stored as documents, the text as the user gave it), and
//!   [`EngineState`] (rule groups' timers and alerts, the dispatcher, silences, acks,
//!   escalations), saved as a document after every change and loaded at start, so a
//!   restart neither forgets a `for` timer nor re-sends what was sent.
//! - **Loop.** [`run`] wakes every second: due rule groups and anomaly rules are
//!   evaluated off the async threads, their alerts enter the dispatcher, the
//!   dispatcher's tick yields notifications, and each is delivered on its own task
//!   ([`deliver`]). Escalation policies page on-call people for firing alerts nobody
//!   has acknowledged.
//! - **History.** Every state change the core reports is appended to the store.

mod anomaly;
pub mod deliver;
pub mod demo;
pub mod model;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use cairn_alert::alert::{Alert, AlertStatus};
use cairn_alert::config::{parse_config, Config};
use cairn_alert::dispatch::Dispatcher;
use cairn_alert::history::{HistoryEntry, HistoryEvent};
use cairn_alert::notify::ack::{verify_ack_link, AckAction};
use cairn_alert::oncall::{escalation_plan, EscalationPolicy, Schedule};
use cairn_alert::rules::{parse_rule_file, EvalContext, GroupState, RuleEnv, RuleFile, Sample};
use cairn_alert::silence::Silence;
use cairn_alert::{Fingerprint, LabelSet};
use cairn_domain::{Principal, Role};
use cairn_store::NewHistory;
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Mutex, Notify};

use crate::{App, AppError, Result};

pub use anomaly::AnomalyStatus;

/// Document namespaces.
pub const NS_RULES: &str = "rules";
pub const NS_ALERTING: &str = "alerting";
pub const NS_SCHEDULES: &str = "oncall-schedules";
pub const NS_POLICIES: &str = "escalation-policies";

/// The routing configuration a fresh cairn starts with: every alert to one receiver
/// with no integrations, so alerts are grouped, listed and kept in history until an
/// operator configures where they go.
pub const DEFAULT_CONFIG: &str = r#"route:
  receiver: default
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: default
"#;

/// Server settings of the loop.
#[derive(Debug, Clone)]
pub struct AlertingOptions {
    /// cairn's external URL, for links in notifications.
    pub external_url: String,
    /// The key acknowledge links are signed with.
    pub ack_secret: Vec<u8>,
    /// How long an acknowledge link stays valid.
    pub ack_ttl: time::Duration,
    /// How often the loop wakes.
    pub tick: std::time::Duration,
    pub retry: cairn_alert::notify::RetryPolicy,
}

impl Default for AlertingOptions {
    fn default() -> Self {
        AlertingOptions {
            external_url: "http://127.0.0.1:8080".into(),
            ack_secret: Vec::new(),
            ack_ttl: time::Duration::hours(24),
            tick: std::time::Duration::from_secs(1),
            retry: cairn_alert::notify::RetryPolicy::default(),
        }
    }
}

/// Who acknowledged an alert, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: cairn_alert::Timestamp,
}

/// An escalation under way for one firing alert.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Escalation {
    pub policy_id: String,
    /// Keys of the steps already paged.
    pub sent: BTreeSet<String>,
}

/// An escalation policy and the alerts it pages for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyDoc {
    #[serde(flatten)]
    pub policy: EscalationPolicy,
    /// Alertmanager-style matchers (`severity="critical"`); all must match. Empty
    /// matches every alert.
    #[serde(default)]
    pub matchers: Vec<String>,
}

/// What the engine persists.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EngineState {
    /// Per rule group (`file/group`).
    pub groups: BTreeMap<String, GroupState>,
    pub dispatcher: Dispatcher,
    pub silences: Vec<Silence>,
    pub acks: BTreeMap<String, Ack>,
    pub escalations: BTreeMap<String, Escalation>,
    /// Silence ids issued so far, for fresh ones.
    #[serde(default)]
    pub silence_seq: u64,
}

/// The loop's state. See the module documentation.
pub struct Engine {
    pub files: BTreeMap<String, RuleFile>,
    pub config: Config,
    pub config_text: String,
    pub schedules: BTreeMap<String, Schedule>,
    pub policies: Vec<PolicyDoc>,
    pub state: EngineState,
    pub anomaly: anomaly::AnomalyEngine,
    /// When each group evaluates next.
    next_eval: BTreeMap<String, cairn_alert::Timestamp>,
    loaded: bool,
}

/// The alerting loop's shared state.
pub struct Alerting {
    pub(crate) engine: Mutex<Engine>,
    pub(crate) wake: Notify,
    pub options: AlertingOptions,
}

impl Alerting {
    pub fn new(options: AlertingOptions) -> Alerting {
        Alerting {
            engine: Mutex::new(Engine {
                files: BTreeMap::new(),
                config: parse_config("default", DEFAULT_CONFIG).expect("the default parses"),
                config_text: DEFAULT_CONFIG.into(),
                schedules: BTreeMap::new(),
                policies: Vec::new(),
                state: EngineState::default(),
                anomaly: anomaly::AnomalyEngine::default(),
                next_eval: BTreeMap::new(),
                loaded: false,
            }),
            wake: Notify::new(),
            options,
        }
    }
}

/// The key acknowledge links are signed with: made once, kept in the store, so links
/// stay valid across restarts and replicas.
pub async fn ack_secret(
    store: &cairn_store::Store,
    now: cairn_alert::Timestamp,
) -> Result<Vec<u8>> {
    if let Some(doc) = store.document(NS_ALERTING, "ack-secret").await? {
        if let Ok(bytes) = hex::decode(doc.value.trim()) {
            if bytes.len() >= 32 {
                return Ok(bytes);
            }
        }
    }
    let bytes: [u8; 32] = rand::random();
    store
        .put_document(
            NS_ALERTING,
            "ack-secret",
            &hex::encode(bytes),
            now,
            "alerting",
        )
        .await?;
    Ok(bytes.to_vec())
}

fn group_key(file: &str, group: &str) -> String {
    format!("{file}/{group}")
}

/// The principal the loop writes recorded series as.
fn evaluator() -> Principal {
    Principal {
        actor: "rules".into(),
        role: Role::AppOps,
        merchant_id: None,
    }
}

pub(crate) fn history_rows(entries: &[HistoryEntry]) -> Vec<NewHistory> {
    entries
        .iter()
        .map(|h| {
            let detail = serde_json::to_value(&h.event).unwrap_or_default();
            let event = detail
                .get("kind")
                .and_then(|k| k.as_str())
                .unwrap_or("event")
                .to_owned();
            NewHistory {
                at: h.at,
                fingerprint: h.fingerprint.to_string(),
                alertname: h.labels.get("alertname").cloned().unwrap_or_default(),
                labels: serde_json::to_value(&h.labels).unwrap_or_default(),
                event,
                detail,
            }
        })
        .collect()
}

/// Rule evaluation's view of the metrics store, on a blocking thread.
struct StoreEnv<'a> {
    metrics: &'a crate::metrics::Metrics,
    recorded: Vec<(Sample, i64)>,
    last: Option<time::Duration>,
}

impl RuleEnv for StoreEnv<'_> {
    fn query(
        &self,
        expr: &str,
        at: cairn_alert::Timestamp,
    ) -> std::result::Result<Vec<Sample>, String> {
        let t = (at.unix_timestamp_nanos() / 1_000_000) as i64;
        let v = self
            .metrics
            .instant_blocking(expr, t)
            .map_err(|e| e.to_string())?;
        cairn_alert::rules::samples_from_value(v)
    }

    fn output(
        &mut self,
        rule: &cairn_alert::rules::Rule,
        series: &[Sample],
        at: cairn_alert::Timestamp,
    ) {
        // Recorded series go back into the store; ALERTS series too, as Prometheus
        // writes them, so dashboards can chart alert state.
        let _ = rule;
        let t = (at.unix_timestamp_nanos() / 1_000_000) as i64;
        self.recorded.extend(series.iter().map(|s| (s.clone(), t)));
    }

    fn last_query_duration(&self) -> Option<time::Duration> {
        self.last
    }
}

/// The health of every rule, for the API and the rules page.
#[derive(Debug, Clone, Serialize)]
pub struct RuleView {
    pub file: String,
    pub group: String,
    pub interval_s: f64,
    pub name: String,
    /// `alerting` or `recording`.
    pub kind: &'static str,
    pub expr: String,
    pub health: cairn_alert::rules::RuleHealth,
    /// Alerts of an alerting rule now: pending and firing counts.
    pub pending: usize,
    pub firing: usize,
}

/// An alert with what the model says it touches, for the API and the UI.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    pub fingerprint: String,
    pub name: String,
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub status: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: cairn_alert::Timestamp,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ends_at: Option<cairn_alert::Timestamp>,
    pub generator_url: String,
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<String>,
    pub acknowledged: Option<Ack>,
    pub impact: cairn_alert::problems::Impact,
}

/// A problem: alerts on services that depend on one another, with a probable root.
#[derive(Debug, Clone, Serialize)]
pub struct ProblemView {
    pub id: String,
    pub root: Option<String>,
    pub root_name: Option<String>,
    pub explanation: String,
    pub path: Vec<String>,
    pub services: Vec<String>,
    pub alerts: Vec<AlertView>,
    pub merchant_count: usize,
    pub vip_count: usize,
    #[serde(with = "time::serde::rfc3339")]
    pub since: cairn_alert::Timestamp,
}

fn may_read(p: &Principal) -> Result<()> {
    match p.role {
        Role::Merchant => Err(AppError::Forbidden(
            "role merchant may not read the platform's alerts".into(),
        )),
        _ => Ok(()),
    }
}

fn may_configure(p: &Principal) -> Result<()> {
    match p.role {
        Role::Admin | Role::BaseOps | Role::AppOps => Ok(()),
        r => Err(AppError::Forbidden(format!(
            "role {r} may not change alerting rules, routes, silences or schedules"
        ))),
    }
}

fn may_respond(p: &Principal) -> Result<()> {
    match p.role {
        Role::Admin | Role::BaseOps | Role::AppOps | Role::Developer | Role::Support => Ok(()),
        r => Err(AppError::Forbidden(format!(
            "role {r} may not acknowledge or resolve alerts"
        ))),
    }
}

impl App {
    /// The alerting loop, when this server runs one.
    pub fn alerting(&self) -> Result<&Arc<Alerting>> {
        self.alerting
            .as_ref()
            .ok_or_else(|| AppError::Unavailable("this server runs no alerting loop".into()))
    }

    /// Loads rule files, the routing configuration, schedules, policies and the saved
    /// state from the store (once; later calls do nothing).
    pub async fn load_alerting(&self) -> Result<()> {
        let a = self.alerting()?.clone();
        let mut e = a.engine.lock().await;
        if e.loaded {
            return Ok(());
        }
        for doc in self.store.documents(NS_RULES).await? {
            match parse_rule_file(&doc.key, &doc.value) {
                Ok(f) => {
                    e.files.insert(doc.key.clone(), f);
                }
                Err(errs) => {
                    tracing::error!(file = %doc.key, error = %errs, "a stored rule file no longer parses; skipped")
                }
            }
        }
        if let Some(doc) = self.store.document(NS_ALERTING, "config").await? {
            match parse_config("alerting.yml", &doc.value) {
                Ok(c) => {
                    e.config = c;
                    e.config_text = doc.value;
                }
                Err(err) => {
                    tracing::error!(error = %err, "the stored alerting configuration no longer parses; using the default")
                }
            }
        }
        for doc in self.store.documents(NS_SCHEDULES).await? {
            if let Ok(s) = serde_json::from_str::<Schedule>(&doc.value) {
                e.schedules.insert(doc.key, s);
            }
        }
        for doc in self.store.documents(NS_POLICIES).await? {
            if let Ok(p) = serde_json::from_str::<PolicyDoc>(&doc.value) {
                e.policies.push(p);
            }
        }
        if let Some(doc) = self.store.document(NS_ALERTING, "state").await? {
            match serde_json::from_str::<EngineState>(&doc.value) {
                Ok(s) => e.state = s,
                Err(err) => {
                    tracing::warn!(error = %err, "the saved alerting state does not read; starting fresh")
                }
            }
        }
        e.loaded = true;
        Ok(())
    }

    pub(crate) async fn save_alerting_state(&self, e: &Engine) -> Result<()> {
        let text = serde_json::to_string(&e.state)
            .map_err(|err| AppError::Internal(format!("alerting state: {err}")))?;
        self.store
            .put_document(NS_ALERTING, "state", &text, self.now(), "alerting")
            .await?;
        Ok(())
    }

    /// One pass of the loop at the clock's now: due rule groups, anomaly rules,
    /// escalations and the dispatcher's tick. Returns the notifications to deliver.
    pub async fn alerting_pass(&self) -> Result<Vec<cairn_alert::dispatch::Notification>> {
        self.load_alerting().await?;
        let a = self.alerting()?.clone();
        let now = self.now();
        let capacity_alerts = self.capacity_alerts(now).await;
        let mut history: Vec<HistoryEntry> = Vec::new();
        let mut recorded: Vec<(Sample, i64)> = Vec::new();
        let mut e = a.engine.lock().await;
        let ctx = EvalContext {
            external_url: a.options.external_url.clone(),
            ..EvalContext::default()
        };
        // Rule groups that are due.
        let mut due = Vec::new();
        for f in e.files.values() {
            for g in &f.groups {
                let key = group_key(&f.file, &g.name);
                let next = e.next_eval.get(&key).copied();
                if next.is_none_or(|n| n <= now) {
                    due.push((key, g.clone()));
                }
            }
        }
        if let Ok(metrics) = self.metrics() {
            for (key, group) in due {
                let state = e.state.groups.remove(&key).unwrap_or_default();
                let m = metrics.clone();
                let eval_ctx = ctx.clone();
                let g = group.clone();
                let (state, out, rec) = tokio::task::spawn_blocking(move || {
                    let mut state = state;
                    let mut env = StoreEnv {
                        metrics: &m,
                        recorded: Vec::new(),
                        last: None,
                    };
                    let began = std::time::Instant::now();
                    let out = g.eval(&mut state, now, &mut env, &eval_ctx);
                    let took = began.elapsed();
                    for r in &mut state.rules {
                        if r.health.evaluation_duration_ms.is_none() {
                            r.health.evaluation_duration_ms =
                                Some(took.as_secs_f64() * 1000.0 / g.rules.len().max(1) as f64);
                        }
                    }
                    (state, out, env.recorded)
                })
                .await
                .map_err(|err| AppError::Internal(format!("rule evaluation failed: {err}")))?;
                e.state.groups.insert(key.clone(), state);
                let interval = group.interval_or(ctx.default_interval);
                e.next_eval.insert(key, now + interval);
                recorded.extend(rec);
                history.extend(out.history);
                let cfg = e.config.clone();
                history.extend(e.state.dispatcher.ingest(&cfg, out.alerts, now));
            }
            // Anomaly rules.
            let rules = self
                .store
                .all::<cairn_domain::AnomalyRule>(&cairn_store::OwnerFilter::Any)
                .await?;
            let anomaly_alerts = e.anomaly.evaluate(metrics, &rules, now).await;
            if !anomaly_alerts.is_empty() {
                let cfg = e.config.clone();
                history.extend(e.state.dispatcher.ingest(&cfg, anomaly_alerts, now));
            }
        }
        if !capacity_alerts.is_empty() {
            let cfg = e.config.clone();
            history.extend(e.state.dispatcher.ingest(&cfg, capacity_alerts, now));
        }
        // Escalations of firing alerts nobody has acknowledged.
        let pages = self.escalation_pages(&mut e, now);
        // The dispatcher's tick.
        let cfg = e.config.clone();
        let silences = e.state.silences.clone();
        let tick = e.state.dispatcher.tick(&cfg, &silences, now);
        history.extend(tick.history);
        cairn_alert::silence::gc_silences(&mut e.state.silences, now, time::Duration::days(5));
        let mut notifications = tick.notifications;
        notifications.extend(pages);
        self.save_alerting_state(&e).await?;
        drop(e);
        self.store.append_history(&history_rows(&history)).await?;
        if !recorded.is_empty() {
            let series = recorded
                .into_iter()
                .map(|(s, t)| crate::metrics::IncomingSeries {
                    labels: s.labels.into_iter().collect(),
                    samples: vec![(t, s.value)],
                })
                .collect();
            if let Err(err) = self.ingest(&evaluator(), series, Vec::new()).await {
                tracing::warn!(error = %err, "storing recorded series failed");
            }
        }
        Ok(notifications)
    }

    /// The capacity loop's warnings as alerts: one `PoolStockOutRisk` per pool whose
    /// stock may run out (at the service level) before hardware ordered today could
    /// arrive. They are re-sent every pass with a short end, so they resolve on their
    /// own once the pool is no longer at risk.
    async fn capacity_alerts(&self, now: cairn_alert::Timestamp) -> Vec<Alert> {
        let system = Principal {
            actor: "capacity".into(),
            role: Role::Admin,
            merchant_id: None,
        };
        match self
            .store
            .count(cairn_domain::Kind::Pool, &cairn_store::OwnerFilter::Any)
            .await
        {
            Ok(0) | Err(_) => return Vec::new(),
            Ok(_) => {}
        }
        let report = match self.capacity_report(&system).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "capacity outlook unavailable for alerting");
                return Vec::new();
            }
        };
        report
            .pools
            .iter()
            .filter_map(|s| {
                let advice = s.restock.as_ref().filter(|a| a.at_risk)?;
                let pos = &s.position;
                let day = |d: Option<time::Date>| {
                    d.map(cairn_domain::capacity::date_format::format)
                        .unwrap_or_else(|| "—".into())
                };
                let labels: LabelSet = [
                    ("alertname", "PoolStockOutRisk"),
                    ("pool", pos.pool_id.as_str()),
                    ("product", pos.product_id.as_str()),
                    ("zone", pos.zone_id.as_str()),
                    ("region", pos.region_id.as_str()),
                    ("severity", "warning"),
                ]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
                let mut annotations = LabelSet::new();
                annotations.insert(
                    "summary".into(),
                    format!(
                        "{} may run out by {} ({}% service level), inside its {}-day lead time; order {:.0} {} by {}",
                        pos.pool_id,
                        day(advice.stock_out),
                        (report.service_level * 100.0).round(),
                        pos.lead_time_days,
                        advice.order_units.ceil(),
                        pos.unit,
                        day(advice.order_by),
                    ),
                );
                Some(Alert {
                    labels,
                    annotations,
                    starts_at: now,
                    ends_at: Some(now + time::Duration::minutes(15)),
                    generator_url: format!("/ui/pools/{}", pos.pool_id),
                    updated_at: now,
                    timeout: false,
                })
            })
            .collect()
    }

    /// The pages escalation policies call for now, as notifications to the receivers
    /// named after the people on call.
    fn escalation_pages(
        &self,
        e: &mut Engine,
        now: cairn_alert::Timestamp,
    ) -> Vec<cairn_alert::dispatch::Notification> {
        let mut out = Vec::new();
        let firing: Vec<Alert> = e
            .state
            .dispatcher
            .alerts
            .values()
            .filter(|a| !a.resolved_at(now))
            .cloned()
            .collect();
        let live: BTreeSet<String> = firing.iter().map(|a| a.fingerprint().to_string()).collect();
        e.state.escalations.retain(|fp, _| live.contains(fp));
        for alert in firing {
            let fp = alert.fingerprint().to_string();
            let Some(doc) = e.policies.iter().find(|d| {
                d.matchers.iter().all(|m| {
                    cairn_alert::matchers::parse_matchers(m)
                        .map(|ms| ms.iter().all(|m| m.matches(&alert.labels)))
                        .unwrap_or(false)
                })
            }) else {
                continue;
            };
            let acked = e.state.acks.get(&fp).map(|a| a.at);
            let plan = escalation_plan(&doc.policy, alert.starts_at, acked, now);
            let esc = e
                .state
                .escalations
                .entry(fp.clone())
                .or_insert_with(|| Escalation {
                    policy_id: doc.policy.id.clone(),
                    sent: BTreeSet::new(),
                });
            for step in plan.due {
                if !esc.sent.insert(step.key()) {
                    continue;
                }
                let users = cairn_alert::oncall::resolve_targets(&step, |id| e.schedules.get(id));
                for user in users {
                    let Some(receiver) = e.config.receiver(&user) else {
                        tracing::warn!(%user, "escalation: no receiver named after this user; page not sent");
                        continue;
                    };
                    if receiver.integrations.is_empty() {
                        tracing::info!(%user, level = step.level, "escalation: paging (the user's receiver has no integrations)");
                    }
                    for (i, integration) in receiver.integrations.iter().enumerate() {
                        out.push(cairn_alert::dispatch::Notification {
                            id: format!("page-{fp}-{}-{user}-{i}", step.key()),
                            receiver: user.clone(),
                            integration_index: i,
                            integration: integration.clone(),
                            group_key: format!("escalation/{}/{fp}/{}", doc.policy.id, step.key()),
                            group_labels: alert.labels.clone(),
                            route_id: "escalation".into(),
                            alerts: vec![Alert {
                                ends_at: None,
                                ..alert.clone()
                            }],
                            status: AlertStatus::Firing,
                            firing: vec![alert.fingerprint()],
                            resolved: Vec::new(),
                            flushed_at: now,
                            repeat_interval: time::Duration::hours(4),
                        });
                    }
                }
            }
        }
        out
    }

    /// Alerts posted on Alertmanager's API by an external Prometheus.
    pub async fn post_alerts(
        &self,
        p: &Principal,
        posted: serde_json::Value,
    ) -> Result<(usize, Vec<String>)> {
        if !matches!(p.role, Role::Admin | Role::BaseOps | Role::AppOps) {
            return Err(AppError::Forbidden(format!(
                "role {} may not post alerts",
                p.role
            )));
        }
        let list: Vec<cairn_alert::api::PostableAlert> =
            serde_json::from_value(posted).map_err(|err| {
                AppError::bad_input(None, format!("the body must be a list of alerts: {err}"))
            })?;
        self.load_alerting().await?;
        let a = self.alerting()?.clone();
        let now = self.now();
        let mut e = a.engine.lock().await;
        let (alerts, errors) =
            cairn_alert::api::postable_to_alerts(list, now, e.config.global.resolve_timeout);
        let n = alerts.len();
        let cfg = e.config.clone();
        let history = e.state.dispatcher.ingest(&cfg, alerts, now);
        self.save_alerting_state(&e).await?;
        drop(e);
        self.store.append_history(&history_rows(&history)).await?;
        a.wake.notify_one();
        Ok((n, errors))
    }

    /// Imports a Prometheus rule file as `name`, replacing one of that name; checked
    /// first, with every error named.
    pub async fn import_rules(
        &self,
        p: &Principal,
        name: Option<&str>,
        text: &str,
    ) -> Result<RuleFile> {
        may_configure(p)?;
        let name = name.ok_or_else(|| {
            AppError::bad_input(Some("name".into()), "name the rule file: ?name=FILE")
        })?;
        let ok_name = !name.is_empty()
            && name.len() <= 100
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !ok_name {
            return Err(AppError::bad_input(
                Some("name".into()),
                format!("a rule file name is letters, digits, '.', '_' and '-', got {name:?}"),
            ));
        }
        let file = parse_rule_file(name, text).map_err(|errs| {
            let first = errs.0.first();
            AppError::bad_input(
                first
                    .and_then(|e| e.field.clone())
                    .filter(|f| !f.is_empty()),
                errs.to_string(),
            )
        })?;
        self.load_alerting().await?;
        let a = self.alerting()?.clone();
        let mut e = a.engine.lock().await;
        // Keep timers and firing alerts of groups that survive the reload.
        if let Some(old) = e.files.get(name).cloned() {
            for g in &file.groups {
                if let Some(og) = old.groups.iter().find(|o| o.name == g.name) {
                    let key = group_key(name, &g.name);
                    if let Some(st) = e.state.groups.get(&key).cloned() {
                        e.state
                            .groups
                            .insert(key, GroupState::carry_over(og, &st, g));
                    }
                }
            }
        }
        self.store
            .put_document(NS_RULES, name, text, self.now(), &p.actor)
            .await?;
        e.files.insert(name.to_owned(), file.clone());
        e.next_eval
            .retain(|k, _| !k.starts_with(&format!("{name}/")));
        drop(e);
        a.wake.notify_one();
        Ok(file)
    }

    /// Removes a rule file.
    pub async fn delete_rules(&self, p: &Principal, name: &str) -> Result<()> {
        may_configure(p)?;
        self.load_alerting().await?;
        let a = self.alerting()?.clone();
        let mut e = a.engine.lock().await;
        if e.files.remove(name).is_none() {
            return Err(AppError::not_found("rule file", name));
        }
        self.store.delete_document(NS_RULES, name).await?;
        let prefix = format!("{name}/");
        e.state.groups.retain(|k, _| !k.starts_with(&prefix));
        e.next_eval.retain(|k, _| !k.starts_with(&prefix));
        Ok(())
    }

    /// Every rule with its health.
    pub async fn rules(&self, p: &Principal) -> Result<Vec<RuleView>> {
        may_read(p)?;
        self.load_alerting().await?;
        let a = self.alerting()?.clone();
        let e = a.engine.lock().await;
        let mut out = Vec::new();
        for f in e.files.values() {
            for g in &f.groups {
                let st = e.state.groups.get(&group_key(&f.file, &g.name));
                for (i, r) in g.rules.iter().enumerate() {
                    let rs = st.and_then(|s| s.rules.get(i));
                    let (pending, firing) = rs.map_or((0, 0), |rs| {
                        let p = rs
                            .alerts
                            .iter()
                            .filter(|a| a.state == cairn_alert::rules::AlertState::Pending)
                            .count();
                        let f = rs
                            .alerts
                            .iter()
                            .filter(|a| a.state == cairn_alert::rules::AlertState::Firing)
                            .count();
                        (p, f)
                    });
                    out.push(RuleView {
                        file: f.file.clone(),
                        group: g.name.clone(),
                        interval_s: g.interval_or(time::Duration::minutes(1)).as_seconds_f64(),
                        name: r.name().to_owned(),
                        kind: match r {
                            cairn_alert::rules::Rule::Alerting(_) => "alerting",
                            cairn_alert::rules::Rule::Recording(_) => "recording",
                        },
                        expr: r.expr().to_owned(),
                        health: rs.map(|s| s.health.clone()).unwrap_or_default(),
                        pending,
                        firing,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The routing configuration as text.
    pub async fn alerting_config(&self, p: &Principal) -> Result<String> {
        may_read(p)?;
        self.load_alerting().await?;
        Ok(self.alerting()?.engine.lock().await.config_text.clone())
    }

    /// Replaces the routing configuration (Alertmanager's YAML), checked first.
    pub async fn set_alerting_config(&self, p: &Principal, text: &str) -> Result<()> {
        may_configure(p)?;
        let cfg = parse_config("alerting.yml", text)
            .map_err(|err| AppError::bad_input(Some("config".into()), err.to_string()))?;
        self.load_alerting().await?;
        let a = self.alerting()?.clone();
        let mut e = a.engine.lock().await;
        self.store
            .put_document(NS_ALERTING, "config", text, self.now(), &p.actor)
            .await?;
        let now = self.now();
        e.state.dispatcher.reload(&cfg, now);
        e.config = cfg;
        e.config_text = text.to_owned();
        self.save_alerting_state(&e).await?;
        Ok(())
    }

    /// The alerts not yet resolved (and, with `all`, those resolved but still
    /// kept), each joined to the model.
    pub async fn alerts(&self, p: &Principal, all: bool) -> Result<Vec<AlertView>> {
        may_read(p)?;
        self.load_alerting().await?;
        let model = self.alert_model().await?;
        let a = self.alerting()?.clone();
        let e = a.engine.lock().await;
        let now = self.now();
        let mut out: Vec<AlertView> = e
            .state
            .dispatcher
            .alerts
            .values()
            .filter(|al| all || !al.resolved_at(now))
            .map(|al| view(&e, al, now, &model))
            .collect();
        out.sort_by(|x, y| {
            (x.status != "firing")
                .cmp(&(y.status != "firing"))
                .then(y.impact.vip_count.cmp(&x.impact.vip_count))
                .then(y.starts_at.cmp(&x.starts_at))
        });
        Ok(out)
    }

    /// One alert, with its history.
    pub async fn alert(
        &self,
        p: &Principal,
        fingerprint: &str,
    ) -> Result<(AlertView, Vec<cairn_store::HistoryRow>)> {
        may_read(p)?;
        self.load_alerting().await?;
        let model = self.alert_model().await?;
        let a = self.alerting()?.clone();
        let e = a.engine.lock().await;
        let now = self.now();
        let al = e
            .state
            .dispatcher
            .alerts
            .values()
            .find(|al| al.fingerprint().to_string() == fingerprint)
            .ok_or_else(|| AppError::not_found("alert", fingerprint))?;
        let v = view(&e, al, now, &model);
        drop(e);
        let history = self
            .store
            .history(&cairn_store::HistoryQuery {
                fingerprint: Some(fingerprint.to_owned()),
                limit: 200,
                ..Default::default()
            })
            .await?;
        Ok((v, history))
    }

    /// Acknowledges an alert (or every alert of a notification group), stopping its
    /// escalation.
    pub async fn acknowledge(&self, p: &Principal, key: &str) -> Result<usize> {
        may_respond(p)?;
        self.respond(&p.actor, key, AckAction::Acknowledge).await
    }

    /// Resolves an alert by hand: it ends now (a rule that still matches fires it
    /// again at its next evaluation).
    pub async fn resolve_alert(&self, p: &Principal, key: &str) -> Result<usize> {
        may_respond(p)?;
        self.respond(&p.actor, key, AckAction::Resolve).await
    }

    /// Acts on a signed link from a notification.
    pub async fn act_on_link(&self, token: &str) -> Result<(AckAction, usize)> {
        let a = self.alerting()?.clone();
        let claim = verify_ack_link(&a.options.ack_secret, token, self.now())
            .map_err(|e| AppError::Forbidden(format!("the link is not valid: {e}")))?;
        let n = self
            .respond("signed link", &claim.key, claim.action)
            .await?;
        Ok((claim.action, n))
    }

    async fn respond(&self, by: &str, key: &str, action: AckAction) -> Result<usize> {
        self.load_alerting().await?;
        let a = self.alerting()?.clone();
        let now = self.now();
        let mut e = a.engine.lock().await;
        let fps: Vec<Fingerprint> = {
            let d = &e.state.dispatcher;
            let direct: Vec<Fingerprint> = d
                .alerts
                .keys()
                .filter(|fp| fp.to_string() == key)
                .copied()
                .collect();
            if !direct.is_empty() {
                direct
            } else {
                d.groups
                    .iter()
                    .filter(|g| g.group_key == key)
                    .flat_map(|g| g.alerts.keys().copied())
                    .collect()
            }
        };
        if fps.is_empty() {
            return Err(AppError::not_found("alert or alert group", key));
        }
        let mut history = Vec::new();
        for fp in &fps {
            let Some(alert) = e.state.dispatcher.alerts.get(fp).cloned() else {
                continue;
            };
            match action {
                AckAction::Acknowledge => {
                    e.state.acks.insert(
                        fp.to_string(),
                        Ack {
                            by: by.to_owned(),
                            at: now,
                        },
                    );
                    history.push(HistoryEntry {
                        at: now,
                        fingerprint: *fp,
                        labels: alert.labels.clone(),
                        event: HistoryEvent::Acknowledged { by: by.to_owned() },
                    });
                }
                AckAction::Resolve => {
                    let ended = Alert {
                        ends_at: Some(now),
                        updated_at: now,
                        timeout: false,
                        ..alert.clone()
                    };
                    let cfg = e.config.clone();
                    history.extend(e.state.dispatcher.ingest(&cfg, vec![ended], now));
                }
            }
        }
        self.save_alerting_state(&e).await?;
        drop(e);
        self.store.append_history(&history_rows(&history)).await?;
        a.wake.notify_one();
        Ok(fps.len())
    }

    /// The alert history, newest first.
    pub async fn alert_history(
        &self,
        p: &Principal,
        q: cairn_store::HistoryQuery,
    ) -> Result<Vec<cairn_store::HistoryRow>> {
        may_read(p)?;
        Ok(self.store.history(&q).await?)
    }

    /// Every delivery attempt, newest first.
    pub async fn notification_log(
        &self,
        p: &Principal,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<cairn_store::DeliveryRow>> {
        may_read(p)?;
        Ok(self.store.deliveries(before, limit).await?)
    }

    /// Silences as Alertmanager's API shows them.
    pub async fn silences(&self, p: &Principal) -> Result<Vec<cairn_alert::api::GettableSilence>> {
        may_read(p)?;
        self.load_alerting().await?;
        let a = self.alerting()?.clone();
        let e = a.engine.lock().await;
        Ok(cairn_alert::api::list_silences(
            &e.state.silences,
            self.now(),
            &cairn_alert::matchers::Matchers::default(),
        ))
    }

    /// Creates or updates a silence (Alertmanager's `postableSilence`); its id.
    pub async fn set_silence(&self, p: &Principal, body: serde_json::Value) -> Result<String> {
        may_respond(p)?;
        let posted: cairn_alert::api::PostableSilence = serde_json::from_value(body)
            .map_err(|err| AppError::bad_input(None, format!("not a silence: {err}")))?;
        self.load_alerting().await?;
        let a = self.alerting()?.clone();
        let now = self.now();
        let mut silence = posted
            .to_silence(now)
            .map_err(|m| AppError::bad_input(Some("matchers".into()), m))?;
        if silence.created_by.trim().is_empty() {
            silence.created_by = p.actor.clone();
        }
        let mut e = a.engine.lock().await;
        e.state.silence_seq += 1;
        let fresh = format!("sil-{:08x}-{}", now.unix_timestamp(), e.state.silence_seq);
        let id = cairn_alert::silence::set_silence(&mut e.state.silences, silence, now, &fresh)
            .map_err(|err| match err {
                cairn_alert::silence::SilenceError::NotFound(id) => {
                    AppError::not_found("silence", id)
                }
                other => AppError::bad_input(None, other.to_string()),
            })?;
        self.save_alerting_state(&e).await?;
        drop(e);
        a.wake.notify_one();
        Ok(id)
    }

    /// Expires a silence now.
    pub async fn expire_silence(&self, p: &Principal, id: &str) -> Result<()> {
        may_respond(p)?;
        self.load_alerting().await?;
        let a = self.alerting()?.clone();
        let now = self.now();
        let mut e = a.engine.lock().await;
        cairn_alert::silence::expire_silence(&mut e.state.silences, id, now).map_err(|err| {
            match err {
                cairn_alert::silence::SilenceError::NotFound(id) => {
                    AppError::not_found("silence", id)
                }
                other => AppError::Conflict(other.to_string()),
            }
        })?;
        self.save_alerting_state(&e).await
    }

    /// Alertmanager's `GET /api/v2/alerts`.
    pub async fn alerts_v2(
        &self,
        p: &Principal,
        filter: &cairn_alert::api::AlertFilter,
    ) -> Result<Vec<cairn_alert::api::GettableAlert>> {
        may_read(p)?;
        self.load_alerting().await?;
        let a = self.alerting()?.clone();
        let e = a.engine.lock().await;
        Ok(cairn_alert::api::list_alerts(
            &e.state.dispatcher,
            &e.config,
            &e.state.silences,
            self.now(),
            filter,
        ))
    }

    /// Alertmanager's `GET /api/v2/alerts/groups`.
    pub async fn alert_groups_v2(
        &self,
        p: &Principal,
    ) -> Result<Vec<cairn_alert::api::AlertGroup>> {
        may_read(p)?;
        self.load_alerting().await?;
        let a = self.alerting()?.clone();
        let e = a.engine.lock().await;
        Ok(cairn_alert::api::list_groups(
            &e.state.dispatcher,
            &e.config,
            &e.state.silences,
            self.now(),
        ))
    }

    /// Firing alerts grouped into problems along the service topology, with each
    /// problem's probable root.
    pub async fn problems(&self, p: &Principal) -> Result<Vec<ProblemView>> {
        let alerts = self.alerts(p, false).await?;
        let model = self.alert_model().await?;
        let firing: Vec<&AlertView> = alerts.iter().filter(|a| a.status == "firing").collect();
        let on: Vec<cairn_alert::problems::AlertOnServices> = firing
            .iter()
            .filter(|a| !a.impact.services.is_empty())
            .map(|a| cairn_alert::problems::AlertOnServices {
                fingerprint: Fingerprint(u64::from_str_radix(&a.fingerprint, 16).unwrap_or(0)),
                services: a.impact.services.clone(),
            })
            .collect();
        let problems = cairn_alert::problems::correlate(&on, &model.edges);
        Ok(problems
            .into_iter()
            .map(|pr| {
                let members: Vec<AlertView> = firing
                    .iter()
                    .filter(|a| pr.alerts.iter().any(|f| f.to_string() == a.fingerprint))
                    .map(|a| (*a).clone())
                    .collect();
                let mut merchants = BTreeSet::new();
                let mut vips = BTreeSet::new();
                for a in &members {
                    for m in &a.impact.merchants {
                        merchants.insert(m.id.clone());
                        if m.tier == cairn_domain::Tier::Vip {
                            vips.insert(m.id.clone());
                        }
                    }
                }
                let since = members
                    .iter()
                    .map(|a| a.starts_at)
                    .min()
                    .unwrap_or_else(|| self.now());
                let root = pr.root.as_ref().map(|r| r.to_string());
                ProblemView {
                    id: format!(
                        "problem-{}",
                        root.clone().unwrap_or_else(|| pr
                            .alerts
                            .first()
                            .map(|f| f.to_string())
                            .unwrap_or_default())
                    ),
                    root_name: root.as_ref().and_then(|r| model.service_name(r)),
                    root,
                    explanation: pr.explanation.clone(),
                    path: pr.path.iter().map(|s| s.to_string()).collect(),
                    services: pr.services.iter().map(|s| s.to_string()).collect(),
                    merchant_count: merchants.len(),
                    vip_count: vips.len(),
                    alerts: members,
                    since,
                }
            })
            .collect())
    }

    /// On-call schedules.
    pub async fn schedules(&self, p: &Principal) -> Result<Vec<Schedule>> {
        may_read(p)?;
        self.load_alerting().await?;
        Ok(self
            .alerting()?
            .engine
            .lock()
            .await
            .schedules
            .values()
            .cloned()
            .collect())
    }

    /// Creates or replaces a schedule (validated).
    pub async fn put_schedule(&self, p: &Principal, body: serde_json::Value) -> Result<Schedule> {
        may_configure(p)?;
        let s: Schedule = crate::records::parse_value("schedule", body)?;
        s.validate()
            .map_err(|err| AppError::bad_input(None, err.to_string()))?;
        if s.id.trim().is_empty() {
            return Err(AppError::bad_input(Some("id".into()), "must not be empty"));
        }
        self.load_alerting().await?;
        let a = self.alerting()?.clone();
        let mut e = a.engine.lock().await;
        let text = serde_json::to_string(&s).unwrap_or_default();
        self.store
            .put_document(NS_SCHEDULES, &s.id, &text, self.now(), &p.actor)
            .await?;
        e.schedules.insert(s.id.clone(), s.clone());
        Ok(s)
    }

    pub async fn delete_schedule(&self, p: &Principal, id: &str) -> Result<()> {
        may_configure(p)?;
        self.load_alerting().await?;
        let a = self.alerting()?.clone();
        let mut e = a.engine.lock().await;
        if e.schedules.remove(id).is_none() {
            return Err(AppError::not_found("schedule", id));
        }
        self.store.delete_document(NS_SCHEDULES, id).await?;
        Ok(())
    }

    /// Who is on call now for every schedule, and the shifts of the next `days`.
    pub async fn on_call(
        &self,
        p: &Principal,
        days: i64,
    ) -> Result<
        Vec<(
            Schedule,
            Option<cairn_alert::oncall::OnCall>,
            Vec<cairn_alert::oncall::Shift>,
        )>,
    > {
        let now = self.now();
        Ok(self
            .schedules(p)
            .await?
            .into_iter()
            .map(|s| {
                let who = s.who_is_on_call(now);
                let shifts = s.shifts(now, now + time::Duration::days(days));
                (s, who, shifts)
            })
            .collect())
    }

    /// Escalation policies.
    pub async fn policies(&self, p: &Principal) -> Result<Vec<PolicyDoc>> {
        may_read(p)?;
        self.load_alerting().await?;
        Ok(self.alerting()?.engine.lock().await.policies.clone())
    }

    /// Creates or replaces an escalation policy (validated).
    pub async fn put_policy(&self, p: &Principal, body: serde_json::Value) -> Result<PolicyDoc> {
        may_configure(p)?;
        let d: PolicyDoc = crate::records::parse_value("escalation policy", body)?;
        d.policy
            .validate()
            .map_err(|err| AppError::bad_input(None, err.to_string()))?;
        for m in &d.matchers {
            cairn_alert::matchers::parse_matchers(m)
                .map_err(|err| AppError::bad_input(Some("matchers".into()), err.to_string()))?;
        }
        self.load_alerting().await?;
        let a = self.alerting()?.clone();
        let mut e = a.engine.lock().await;
        let text = serde_json::to_string(&d).unwrap_or_default();
        self.store
            .put_document(NS_POLICIES, &d.policy.id, &text, self.now(), &p.actor)
            .await?;
        e.policies.retain(|x| x.policy.id != d.policy.id);
        e.policies.push(d.clone());
        Ok(d)
    }

    pub async fn delete_policy(&self, p: &Principal, id: &str) -> Result<()> {
        may_configure(p)?;
        self.load_alerting().await?;
        let a = self.alerting()?.clone();
        let mut e = a.engine.lock().await;
        let before = e.policies.len();
        e.policies.retain(|x| x.policy.id != id);
        if e.policies.len() == before {
            return Err(AppError::not_found("escalation policy", id));
        }
        self.store.delete_document(NS_POLICIES, id).await?;
        Ok(())
    }

    /// The anomaly detectors' state per series, for the UI.
    pub async fn anomaly_status(&self, p: &Principal) -> Result<Vec<AnomalyStatus>> {
        may_read(p)?;
        let a = self.alerting()?.clone();
        let e = a.engine.lock().await;
        Ok(e.anomaly.status())
    }
}

fn view(
    e: &Engine,
    al: &Alert,
    now: cairn_alert::Timestamp,
    model: &model::ModelSnapshot,
) -> AlertView {
    let fp = al.fingerprint().to_string();
    let mark = e.state.dispatcher.marks.get(&al.fingerprint());
    let silenced_by = cairn_alert::silence::silenced_by(&e.state.silences, &al.labels, now);
    AlertView {
        name: al.name().to_owned(),
        labels: al.labels.clone(),
        annotations: al.annotations.clone(),
        status: al.status_at(now).as_str(),
        starts_at: al.starts_at,
        ends_at: al.ends_at,
        generator_url: al.generator_url.clone(),
        silenced_by,
        inhibited_by: mark
            .map(|m| m.inhibited_by.iter().map(|f| f.to_string()).collect())
            .unwrap_or_default(),
        acknowledged: e.state.acks.get(&fp).cloned(),
        impact: cairn_alert::problems::impact(&al.labels, model),
        fingerprint: fp,
    }
}

/// Runs the loop until `shutdown`: passes every tick (or sooner when woken), each
/// notification delivered on its own task.
pub async fn run(app: App, mut shutdown: watch::Receiver<bool>) {
    let Ok(a) = app.alerting().cloned() else {
        return;
    };
    if let Err(e) = app.load_alerting().await {
        tracing::error!(error = %e, "cannot load the alerting state");
    }
    let mut deliveries = tokio::task::JoinSet::new();
    loop {
        match app.alerting_pass().await {
            Ok(notifications) => {
                for n in notifications {
                    let app = app.clone();
                    deliveries.spawn(async move { deliver::deliver(&app, n).await });
                }
            }
            Err(e) => tracing::error!(error = %e, "an alerting pass failed"),
        }
        while deliveries.try_join_next().is_some() {}
        tokio::select! {
            _ = tokio::time::sleep(a.options.tick) => {}
            _ = a.wake.notified() => {}
            _ = shutdown.changed() => break,
        }
    }
    deliveries.abort_all();
}
