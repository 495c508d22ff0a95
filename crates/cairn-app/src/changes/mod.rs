//! Changes: requests submitted online with their test and rollback plans, a risk score
//! from what they touch, approvals by policy, freeze windows from the promotion
//! calendar, and gray releases — batches run by an executor (a command, or a webhook
//! that calls back), with metric gates between batches that compare the new batch with
//! the hosts not yet changed (Mann–Whitney, `cairn-canary`) and roll back on their own
//! when the canary is worse.
//!
//! A change is one JSON document (namespace [`NS_CHANGES`]) holding its request, risk,
//! approvals, batches with their outputs and gate verdicts, and its event log; every
//! step reads, changes and writes it in one transaction. [`App::changes_pass`] moves
//! running changes along; `serve` calls it every few seconds.

pub mod demo;
mod exec;

use std::collections::{BTreeMap, BTreeSet};

use cairn_alert::LabelSet;
use cairn_canary::{Decision, Judgement, MetricSpec, Thresholds};
use cairn_domain::changes::{
    assess, check_submission, freezes_from_promotions, freezes_met, open_steps, plan_batches,
    Approval, ApprovalPolicy, ApprovalStep, ChangeState, ChangeType, Freeze, PlannedBatch,
    RequestText, Risk, RiskFacts, RiskLevel, Strategy, Targets,
};
use cairn_domain::{Host, HostState, Principal, Promotion, Role, Timestamp, Zone};
use cairn_store::OwnerFilter;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::records::parse_value;
use crate::{App, AppError, Result};

/// Documents namespace of change requests.
pub const NS_CHANGES: &str = "changes";
/// Documents namespace of hand-made freeze windows.
pub const NS_FREEZES: &str = "freezes";
/// Documents namespace (and key) of the approval policy.
pub const NS_CHANGE_POLICY: &str = "change-policy";

/// How much of an executor's output is kept.
const OUTPUT_LIMIT: usize = 16 * 1024;

/// How a batch (or the rollback) is carried out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Executor {
    /// Runs `program args… TARGET…` with the batch in the environment
    /// (`CAIRN_CHANGE_ID`, `CAIRN_BATCH`, `CAIRN_ACTION`, `CAIRN_TARGETS`,
    /// `CAIRN_TARGET_ADDRESSES`); exit 0 is success.
    Command {
        program: String,
        #[serde(default)]
        args: Vec<String>,
        #[serde(default = "default_timeout")]
        timeout_s: u64,
    },
    /// POSTs the batch as JSON to `url` and waits for a call to the batch's
    /// `callback` URL saying `succeeded` or `failed`.
    Webhook {
        url: String,
        #[serde(default = "default_timeout")]
        timeout_s: u64,
    },
}

fn default_timeout() -> u64 {
    600
}

/// One metric of a gate: how to judge it and the PromQL that measures it, where
/// `$instances` becomes a regex of the batch's exporter addresses and `$hosts` one
/// of its host ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateMetric {
    #[serde(flatten)]
    pub spec: MetricSpec,
    pub query: String,
}

/// The analysis between batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    pub metrics: Vec<GateMetric>,
    /// How long after a batch its metrics are compared, in seconds.
    #[serde(default = "default_window")]
    pub window_s: u64,
    /// The resolution of the comparison, in seconds.
    #[serde(default = "default_step")]
    pub step_s: u64,
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    #[serde(default)]
    pub thresholds: Thresholds,
}

fn default_window() -> u64 {
    300
}
fn default_step() -> u64 {
    15
}
fn default_confidence() -> f64 {
    0.95
}

/// Where a batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    Pending,
    Executing,
    WaitingCallback,
    /// The executor reported success; the gate, or the next batch, comes next.
    Executed,
    /// Executed; its metrics are being gathered until `gate_at`.
    Analysing,
    Done,
    Failed,
    Skipped,
}

/// One batch as it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRun {
    pub name: String,
    pub targets: Vec<String>,
    pub status: BatchStatus,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started_at: Option<Timestamp>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub finished_at: Option<Timestamp>,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub output: String,
    /// The secret of the callback URL while a webhook executor works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_key: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub deadline: Option<Timestamp>,
    /// When the gate after this batch decides.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub gate_at: Option<Timestamp>,
    #[serde(default)]
    pub judgement: Option<Judgement>,
}

impl BatchRun {
    fn new(name: String, targets: Vec<String>) -> BatchRun {
        BatchRun {
            name,
            targets,
            status: BatchStatus::Pending,
            started_at: None,
            finished_at: None,
            exit_code: None,
            output: String::new(),
            callback_key: None,
            deadline: None,
            gate_at: None,
            judgement: None,
        }
    }
}

/// One line of a change's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEvent {
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    pub actor: String,
    pub kind: String,
    pub text: String,
}

/// A change request and everything that happened to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub id: String,
    pub title: String,
    pub description: String,
    #[serde(rename = "type")]
    pub change_type: ChangeType,
    pub state: ChangeState,
    pub requested_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub submitted_at: Option<Timestamp>,
    pub targets: Targets,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub window_start: Option<Timestamp>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub window_end: Option<Timestamp>,
    pub test_plan: String,
    pub rollback_plan: String,
    pub plan: Strategy,
    pub executor: Option<Executor>,
    pub rollback: Option<Executor>,
    pub gate: Option<Gate>,
    /// Why the change must run inside a freeze, when it must.
    pub freeze_exception: Option<String>,
    pub risk: Option<Risk>,
    pub required: Vec<ApprovalStep>,
    pub approvals: Vec<Approval>,
    /// Emergency changes: when their approvals after the fact are due.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub approval_due: Option<Timestamp>,
    /// The freezes its window meets, by name.
    pub freezes: Vec<String>,
    /// Target hosts with their zones and exporter addresses, resolved at submission.
    pub hosts: Vec<TargetHost>,
    /// Services and merchants it touches, for their pages and incident timelines.
    pub services: Vec<String>,
    pub merchants: Vec<String>,
    pub batches: Vec<BatchRun>,
    /// The batch being worked on.
    pub current: usize,
    pub rollback_run: Option<BatchRun>,
    /// Why the change stopped where it did.
    pub reason: Option<String>,
    pub events: Vec<ChangeEvent>,
}

/// A target host as the executor and the gates need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetHost {
    pub id: String,
    pub zone: String,
    pub address: Option<String>,
}

impl Change {
    fn log(&mut self, at: Timestamp, actor: &str, kind: &str, text: impl Into<String>) {
        self.events.push(ChangeEvent {
            at,
            actor: actor.to_owned(),
            kind: kind.to_owned(),
            text: text.into(),
        });
    }

    /// Open approval steps.
    pub fn open_steps(&self) -> Vec<ApprovalStep> {
        open_steps(&self.required, &self.approvals, &self.requested_by)
    }

    /// When its first batch started, if one did.
    pub fn started_at(&self) -> Option<Timestamp> {
        self.batches.iter().filter_map(|b| b.started_at).min()
    }

    /// Whether it touches the service, host or merchant `id`.
    pub fn touches(&self, id: &str) -> bool {
        self.services.iter().any(|s| s == id)
            || self.merchants.iter().any(|m| m == id)
            || self.hosts.iter().any(|h| h.id == id)
            || self.targets.pools.iter().any(|p| p == id)
            || self.targets.zones.iter().any(|z| z == id)
    }
}

/// The request as it is posted: a draft's fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    title: String,
    #[serde(default)]
    description: String,
    #[serde(rename = "type")]
    change_type: ChangeType,
    #[serde(default)]
    targets: Targets,
    #[serde(default, with = "time::serde::rfc3339::option")]
    window_start: Option<Timestamp>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    window_end: Option<Timestamp>,
    #[serde(default)]
    test_plan: String,
    #[serde(default)]
    rollback_plan: String,
    #[serde(default = "default_plan")]
    plan: Strategy,
    #[serde(default)]
    executor: Option<Executor>,
    #[serde(default)]
    rollback: Option<Executor>,
    #[serde(default)]
    gate: Option<Gate>,
    #[serde(default)]
    freeze_exception: Option<String>,
}

fn default_plan() -> Strategy {
    Strategy::Hosts {
        steps: vec!["1".into(), "25%".into(), "100%".into()],
    }
}

fn may_read(p: &Principal) -> Result<()> {
    match p.role {
        Role::Merchant => Err(AppError::Forbidden(
            "role merchant may not read changes".into(),
        )),
        _ => Ok(()),
    }
}

fn may_change(p: &Principal) -> Result<()> {
    match p.role {
        Role::Admin | Role::BaseOps | Role::AppOps | Role::Developer => Ok(()),
        r => Err(AppError::Forbidden(format!(
            "role {r} may not request or run changes"
        ))),
    }
}

fn bad(field: &str, message: impl Into<String>) -> AppError {
    AppError::bad_input(Some(field.into()), message)
}

fn check_request(p: &Principal, r: &Request) -> Result<()> {
    if r.title.trim().is_empty() || r.title.chars().count() > 200 {
        return Err(bad("title", "must be 1 to 200 characters"));
    }
    // A command runs on cairn's own machine: only administrators may name one.
    let commands = [&r.executor, &r.rollback]
        .into_iter()
        .any(|e| matches!(e, Some(Executor::Command { .. })));
    if commands && p.role != Role::Admin {
        return Err(AppError::Forbidden(
            "only an admin may give a command executor: it runs on cairn's machine".into(),
        ));
    }
    for (field, e) in [("executor", &r.executor), ("rollback", &r.rollback)] {
        match e {
            Some(Executor::Command { program, .. }) if program.trim().is_empty() => {
                return Err(bad(field, "program must not be empty"))
            }
            Some(Executor::Webhook { url, .. })
                if !(url.starts_with("http://") || url.starts_with("https://")) =>
            {
                return Err(bad(field, format!("url must be http(s), got {url:?}")))
            }
            _ => {}
        }
    }
    if let Some(g) = &r.gate {
        if g.metrics.is_empty() {
            return Err(bad("gate.metrics", "must hold at least one metric"));
        }
        if g.window_s == 0 || g.step_s == 0 || g.step_s > g.window_s {
            return Err(bad(
                "gate.window_s",
                "window_s and step_s must be positive and step_s at most window_s",
            ));
        }
        let cfg = cairn_canary::CanaryConfig {
            metrics: g.metrics.iter().map(|m| m.spec.clone()).collect(),
            confidence: g.confidence,
            thresholds: g.thresholds,
        };
        cfg.validate().map_err(|e| bad("gate", e.to_string()))?;
        for (n, m) in g.metrics.iter().enumerate() {
            promql_parser::parser::parse(&expand(&m.query, &[], &[])).map_err(|e| {
                bad(
                    &format!("gate.metrics[{n}].query"),
                    format!("not PromQL: {e}"),
                )
            })?;
        }
    }
    Ok(())
}

/// `$instances` and `$hosts` of a gate query, as anchored regex alternations.
fn expand(query: &str, instances: &[String], hosts: &[String]) -> String {
    let alt = |xs: &[String]| {
        if xs.is_empty() {
            // Matches nothing, so an empty side reads as no data.
            "^$".to_owned()
        } else {
            xs.iter()
                .map(|x| regex_escape(x))
                .collect::<Vec<_>>()
                .join("|")
        }
    };
    query
        .replace("$instances", &alt(instances))
        .replace("$hosts", &alt(hosts))
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            // Inside a PromQL string a backslash is itself escaped.
            out.push_str("\\\\");
        }
        out.push(c);
    }
    out
}

impl App {
    /// The approval policy in force.
    pub async fn change_policy(&self) -> Result<ApprovalPolicy> {
        Ok(
            match self
                .store
                .document(NS_CHANGE_POLICY, NS_CHANGE_POLICY)
                .await?
            {
                Some(d) => serde_json::from_str(&d.value).unwrap_or_default(),
                None => ApprovalPolicy::default(),
            },
        )
    }

    pub async fn set_change_policy(&self, p: &Principal, body: Value) -> Result<ApprovalPolicy> {
        if p.role != Role::Admin {
            return Err(AppError::Forbidden(
                "only an admin may set the approval policy".into(),
            ));
        }
        let policy: ApprovalPolicy = parse_value("approval policy", body)?;
        policy.validate()?;
        self.store
            .put_document(
                NS_CHANGE_POLICY,
                NS_CHANGE_POLICY,
                &serde_json::to_string(&policy).unwrap_or_default(),
                self.now(),
                &p.actor,
            )
            .await?;
        Ok(policy)
    }

    /// Every freeze: those the promotion calendar implies and those made by hand.
    pub async fn freezes(&self) -> Result<Vec<Freeze>> {
        let any = OwnerFilter::Any;
        let promotions = self.store.all::<Promotion>(&any).await?;
        let zones = self.store.all::<Zone>(&any).await?;
        let region_zones = |r: &str| -> Vec<String> {
            zones
                .iter()
                .filter(|z| z.region_id.as_str() == r)
                .map(|z| z.id.to_string())
                .collect()
        };
        let mut out = freezes_from_promotions(&promotions, &region_zones);
        for d in self.store.documents(NS_FREEZES).await? {
            if let Ok(f) = serde_json::from_str::<Freeze>(&d.value) {
                out.push(f);
            }
        }
        out.sort_by_key(|f| f.starts_at);
        Ok(out)
    }

    pub async fn freezes_for(&self, p: &Principal) -> Result<Vec<Freeze>> {
        may_read(p)?;
        self.freezes().await
    }

    /// Adds a freeze by hand.
    pub async fn add_freeze(&self, p: &Principal, body: Value) -> Result<Freeze> {
        if !matches!(p.role, Role::Admin | Role::BaseOps) {
            return Err(AppError::Forbidden(
                "only admin and base-ops may declare freezes".into(),
            ));
        }
        let mut f: Freeze = parse_value("freeze", body)?;
        if f.name.trim().is_empty() {
            return Err(bad("name", "must not be empty"));
        }
        if f.ends_at <= f.starts_at {
            return Err(bad("ends_at", "must be after starts_at"));
        }
        f.source = "manual".into();
        if f.id.trim().is_empty() {
            f.id = crate::auth::new_id("frz");
        }
        self.store
            .put_document(
                NS_FREEZES,
                &f.id,
                &serde_json::to_string(&f).unwrap_or_default(),
                self.now(),
                &p.actor,
            )
            .await?;
        Ok(f)
    }

    pub async fn delete_freeze(&self, p: &Principal, id: &str) -> Result<()> {
        if !matches!(p.role, Role::Admin | Role::BaseOps) {
            return Err(AppError::Forbidden(
                "only admin and base-ops may lift freezes".into(),
            ));
        }
        if !self.store.delete_document(NS_FREEZES, id).await? {
            return Err(AppError::not_found("freeze", id));
        }
        Ok(())
    }

    async fn load_change(&self, id: &str) -> Result<Change> {
        let d = self
            .store
            .document(NS_CHANGES, id)
            .await?
            .ok_or_else(|| AppError::not_found("change", id))?;
        serde_json::from_str(&d.value)
            .map_err(|e| AppError::Conflict(format!("change {id} is unreadable: {e}")))
    }

    async fn save_change(&self, c: &Change, by: &str) -> Result<()> {
        self.store
            .put_document(
                NS_CHANGES,
                &c.id,
                &serde_json::to_string(c).unwrap_or_default(),
                self.now(),
                by,
            )
            .await?;
        Ok(())
    }

    /// Every change, newest first.
    pub async fn all_changes(&self) -> Result<Vec<Change>> {
        let mut out: Vec<Change> = self
            .store
            .documents(NS_CHANGES)
            .await?
            .into_iter()
            .filter_map(|d| serde_json::from_str(&d.value).ok())
            .collect();
        out.sort_by_key(|c: &Change| std::cmp::Reverse(c.created_at));
        Ok(out)
    }

    pub async fn changes(&self, p: &Principal) -> Result<Vec<Change>> {
        may_read(p)?;
        self.all_changes().await
    }

    pub async fn change(&self, p: &Principal, id: &str) -> Result<Change> {
        may_read(p)?;
        self.load_change(id).await
    }

    /// Changes touching a service, host, pool, zone or merchant, newest first.
    pub async fn changes_touching(&self, p: &Principal, id: &str) -> Result<Vec<Change>> {
        may_read(p)?;
        Ok(self
            .all_changes()
            .await?
            .into_iter()
            .filter(|c| c.touches(id))
            .collect())
    }

    /// Serialises read-modify-write of one change within this process.
    async fn with_change<F>(&self, p: &Principal, id: &str, f: F) -> Result<Change>
    where
        F: FnOnce(&mut Change, Timestamp) -> Result<()>,
    {
        let lock = self.change_lock.clone();
        let _guard = lock.lock().await;
        let mut c = self.load_change(id).await?;
        f(&mut c, self.now())?;
        self.save_change(&c, &p.actor).await?;
        Ok(c)
    }

    /// Creates a draft.
    pub async fn create_change(&self, p: &Principal, body: Value) -> Result<Change> {
        may_change(p)?;
        let r: Request = parse_value("change", body)?;
        check_request(p, &r)?;
        let now = self.now();
        let mut c = Change {
            id: crate::auth::new_id("chg"),
            title: r.title.trim().to_owned(),
            description: r.description,
            change_type: r.change_type,
            state: ChangeState::Draft,
            requested_by: p.actor.clone(),
            created_at: now,
            submitted_at: None,
            targets: r.targets,
            window_start: r.window_start,
            window_end: r.window_end,
            test_plan: r.test_plan,
            rollback_plan: r.rollback_plan,
            plan: r.plan,
            executor: r.executor,
            rollback: r.rollback,
            gate: r.gate,
            freeze_exception: r.freeze_exception.filter(|s| !s.trim().is_empty()),
            risk: None,
            required: Vec::new(),
            approvals: Vec::new(),
            approval_due: None,
            freezes: Vec::new(),
            hosts: Vec::new(),
            services: Vec::new(),
            merchants: Vec::new(),
            batches: Vec::new(),
            current: 0,
            rollback_run: None,
            reason: None,
            events: Vec::new(),
        };
        c.log(now, &p.actor, "created", "draft created");
        self.save_change(&c, &p.actor).await?;
        Ok(c)
    }

    /// Replaces a draft's request.
    pub async fn update_change(&self, p: &Principal, id: &str, body: Value) -> Result<Change> {
        may_change(p)?;
        let r: Request = parse_value("change", body)?;
        check_request(p, &r)?;
        let actor = p.actor.clone();
        self.with_change(p, id, |c, now| {
            if c.state != ChangeState::Draft {
                return Err(AppError::Conflict(format!(
                    "change {} is {}; only drafts may be edited",
                    c.id,
                    c.state.as_str()
                )));
            }
            c.title = r.title.trim().to_owned();
            c.description = r.description;
            c.change_type = r.change_type;
            c.targets = r.targets;
            c.window_start = r.window_start;
            c.window_end = r.window_end;
            c.test_plan = r.test_plan;
            c.rollback_plan = r.rollback_plan;
            c.plan = r.plan;
            c.executor = r.executor;
            c.rollback = r.rollback;
            c.gate = r.gate;
            c.freeze_exception = r.freeze_exception.filter(|s| !s.trim().is_empty());
            c.log(now, &actor, "edited", "draft edited");
            Ok(())
        })
        .await
    }

    /// The target hosts: named hosts, and the active hosts of named pools, zones and
    /// merchants' instances; in a stable order (zone, then id).
    async fn resolve_hosts(&self, t: &Targets) -> Result<Vec<TargetHost>> {
        let any = OwnerFilter::Any;
        let hosts = self.store.all::<Host>(&any).await?;
        for h in &t.hosts {
            if !hosts.iter().any(|x| x.id.as_str() == h) {
                return Err(bad("targets.hosts", format!("no host {h:?}")));
            }
        }
        let mut on_merchants: BTreeSet<String> = BTreeSet::new();
        if !t.merchants.is_empty() {
            for i in self.store.all::<cairn_domain::Instance>(&any).await? {
                if t.merchants.iter().any(|m| m == i.merchant_id.as_str()) {
                    if let Some(h) = i.host_id {
                        on_merchants.insert(h.to_string());
                    }
                }
            }
        }
        let mut out: Vec<TargetHost> = hosts
            .iter()
            .filter(|h| {
                t.hosts.iter().any(|x| x == h.id.as_str())
                    || (h.state == HostState::Up
                        && (h
                            .pool_id
                            .as_ref()
                            .is_some_and(|p| t.pools.iter().any(|x| x == p.as_str()))
                            || t.zones.iter().any(|z| z == h.zone_id.as_str())
                            || on_merchants.contains(h.id.as_str())))
            })
            .map(|h| TargetHost {
                id: h.id.to_string(),
                zone: h.zone_id.to_string(),
                address: h.exporter.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.zone.cmp(&b.zone).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// The facts risk is computed from.
    async fn risk_facts(
        &self,
        c: &Change,
        hosts: &[TargetHost],
    ) -> Result<(RiskFacts, Vec<String>, Vec<String>)> {
        let any = OwnerFilter::Any;
        let model = self.alert_model().await?;
        let mut merchants: BTreeMap<String, bool> = BTreeMap::new();
        let mut services: BTreeSet<String> = c.targets.services.iter().cloned().collect();
        let mut labelsets: Vec<LabelSet> = Vec::new();
        for h in hosts {
            let mut l = LabelSet::new();
            l.insert("host".into(), h.id.clone());
            labelsets.push(l);
        }
        for s in &c.targets.services {
            if model.service_name(s).is_none() {
                return Err(bad("targets.services", format!("no service {s:?}")));
            }
            let mut l = LabelSet::new();
            l.insert("service".into(), s.clone());
            labelsets.push(l);
        }
        for m in &c.targets.merchants {
            let mut l = LabelSet::new();
            l.insert("merchant".into(), m.clone());
            labelsets.push(l);
        }
        for l in &labelsets {
            let i = cairn_alert::problems::impact(l, &*model);
            for m in i.merchants {
                let e = merchants.entry(m.id.to_string()).or_default();
                *e = *e || m.tier == cairn_domain::Tier::Vip;
            }
            services.extend(i.services.iter().map(|s| s.to_string()));
        }
        let all_hosts = self.store.all::<Host>(&any).await?;
        let single_points = hosts
            .iter()
            .filter(|t| {
                let pool = all_hosts
                    .iter()
                    .find(|h| h.id.as_str() == t.id)
                    .and_then(|h| h.pool_id.clone());
                pool.is_some_and(|p| {
                    all_hosts
                        .iter()
                        .filter(|h| h.pool_id.as_ref() == Some(&p) && h.state == HostState::Up)
                        .count()
                        <= 1
                })
            })
            .map(|t| t.id.clone())
            .collect();
        let most_depended = c
            .targets
            .services
            .iter()
            .map(|s| (s.clone(), model.dependants(s)))
            .max_by_key(|(_, n)| *n)
            .filter(|(_, n)| *n > 0);
        let window = (
            c.window_start.unwrap_or_else(|| self.now()),
            c.window_end
                .unwrap_or_else(|| self.now() + time::Duration::hours(2)),
        );
        let china = cairn_forecast::calendar::CALENDAR_OFFSET;
        let mut peak = false;
        let mut t = window.0;
        while t < window.1 && !peak {
            peak = t.to_offset(china).hour() >= 20;
            t += time::Duration::minutes(30);
        }
        let promotions = self
            .store
            .all::<Promotion>(&any)
            .await?
            .into_iter()
            .filter(|p| p.scope != cairn_domain::PromotionScope::Merchant)
            .filter(|p| {
                p.starts_at - time::Duration::days(1) < window.1
                    && window.0 < p.ends_at + time::Duration::days(1)
            })
            .map(|p| p.name)
            .collect();
        let host_ids: Vec<&str> = hosts.iter().map(|h| h.id.as_str()).collect();
        let recent_incidents = self
            .store
            .incidents()
            .await?
            .into_iter()
            .filter(|i| i.declared_at > self.now() - time::Duration::days(30))
            .filter(|i| {
                i.impact.services.iter().any(|s| services.contains(s))
                    || i.impact
                        .hosts
                        .iter()
                        .any(|h| host_ids.contains(&h.as_str()))
            })
            .map(|i| i.id)
            .collect();
        let mut merchant_list: Vec<(String, bool)> = merchants.into_iter().collect();
        merchant_list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let facts = RiskFacts {
            hosts: hosts.len(),
            merchants: merchant_list.len(),
            vip_merchants: merchant_list.iter().filter(|(_, v)| *v).count(),
            single_points,
            most_depended,
            change_type: Some(c.change_type),
            peak_hours: peak,
            promotions,
            recent_incidents,
        };
        Ok((
            facts,
            services.into_iter().collect(),
            merchant_list.into_iter().map(|(m, _)| m).collect(),
        ))
    }

    /// Submits a draft: checks what its type requires, resolves its targets and
    /// batches, scores its risk, checks freezes and sets the approvals it needs.
    pub async fn submit_change(&self, p: &Principal, id: &str) -> Result<Change> {
        may_change(p)?;
        let c = self.load_change(id).await?;
        if c.state != ChangeState::Draft {
            return Err(AppError::Conflict(format!(
                "change {id} is {}; only drafts may be submitted",
                c.state.as_str()
            )));
        }
        let window = c.window_start.zip(c.window_end);
        check_submission(
            c.change_type,
            &RequestText {
                title: &c.title,
                description: &c.description,
                test_plan: &c.test_plan,
                rollback_plan: &c.rollback_plan,
                window,
                targets: &c.targets,
            },
        )?;
        let hosts = self.resolve_hosts(&c.targets).await?;
        let pairs: Vec<(String, String)> = hosts
            .iter()
            .map(|h| (h.id.clone(), h.zone.clone()))
            .collect();
        let planned: Vec<PlannedBatch> = plan_batches(&c.plan, &pairs)?;
        if c.executor.is_none() {
            return Err(bad(
                "executor",
                "is required to submit: how each batch is carried out (command or webhook)",
            ));
        }
        let (facts, services, merchants) = self.risk_facts(&c, &hosts).await?;
        let risk = assess(&facts);
        let now = self.now();
        let window = window.unwrap_or((now, now + time::Duration::hours(2)));
        let zones: Vec<String> = hosts
            .iter()
            .map(|h| h.zone.clone())
            .chain(c.targets.zones.iter().cloned())
            .collect();
        let all_freezes = self.freezes().await?;
        let met: Vec<String> = freezes_met(&all_freezes, window, &zones)
            .into_iter()
            .map(|f| f.name.clone())
            .collect();
        if !met.is_empty() && c.freeze_exception.is_none() {
            return Err(AppError::Conflict(format!(
                "the window meets the freeze {}: move the window, or give freeze_exception with a reason (it then needs the exception's approval)",
                met.join(", ")
            )));
        }
        let policy = self.change_policy().await?;
        let actor = p.actor.clone();
        self.with_change(p, id, move |c, now| {
            if c.state != ChangeState::Draft {
                return Err(AppError::Conflict("submitted meanwhile".into()));
            }
            let touched = touched_ids(&c.targets, &hosts, &services);
            let touched: Vec<&str> = touched.iter().map(String::as_str).collect();
            c.required = policy.steps(risk.effective(), !met.is_empty(), &touched);
            c.hosts = hosts;
            c.services = services;
            c.merchants = merchants;
            c.batches = planned
                .into_iter()
                .map(|b| BatchRun::new(b.name, b.targets))
                .collect();
            c.current = 0;
            c.freezes = met;
            c.submitted_at = Some(now);
            c.log(
                now,
                &actor,
                "submitted",
                format!(
                    "submitted: risk {} ({}), {} batches over {} hosts",
                    risk.level.as_str(),
                    risk.score,
                    c.batches.len(),
                    c.hosts.len()
                ),
            );
            c.risk = Some(risk);
            c.state = match c.change_type {
                // Standard changes are pre-approved, unless they need a freeze exception.
                ChangeType::Standard if c.freezes.is_empty() => {
                    c.required.clear();
                    ChangeState::Approved
                }
                ChangeType::Emergency => {
                    c.approval_due =
                        Some(now + time::Duration::hours(policy.emergency_deadline_hours));
                    c.log(
                        now,
                        "cairn",
                        "approval",
                        format!(
                            "emergency: may run now; approvals due within {} hours",
                            policy.emergency_deadline_hours
                        ),
                    );
                    ChangeState::Approved
                }
                _ => ChangeState::Submitted,
            };
            Ok(())
        })
        .await
    }

    /// A human's risk level instead of the computed one, with a reason; the approvals
    /// needed follow it.
    pub async fn override_change_risk(
        &self,
        p: &Principal,
        id: &str,
        level: &str,
        reason: &str,
    ) -> Result<Change> {
        may_change(p)?;
        let level = RiskLevel::parse(level).ok_or_else(|| {
            bad(
                "level",
                format!("must be low, medium or high, got {level:?}"),
            )
        })?;
        if reason.trim().is_empty() {
            return Err(bad("reason", "is required to override the risk"));
        }
        let policy = self.change_policy().await?;
        let actor = p.actor.clone();
        let reason = reason.to_owned();
        self.with_change(p, id, move |c, now| {
            if c.state != ChangeState::Submitted {
                return Err(AppError::Conflict(
                    "the risk may be overridden only while a change waits for approval".into(),
                ));
            }
            let risk = c
                .risk
                .as_mut()
                .ok_or_else(|| AppError::Conflict("no risk yet".into()))?;
            risk.override_level = Some(level);
            risk.override_reason = Some(reason.clone());
            risk.override_by = Some(actor.clone());
            let touched = touched_ids(&c.targets, &c.hosts, &c.services);
            let touched: Vec<&str> = touched.iter().map(String::as_str).collect();
            c.required = policy.steps(level, !c.freezes.is_empty(), &touched);
            c.log(
                now,
                &actor,
                "risk",
                format!("risk set to {} by hand: {reason}", level.as_str()),
            );
            if c.open_steps().is_empty() {
                c.state = ChangeState::Approved;
            }
            Ok(())
        })
        .await
    }

    /// An approval or a rejection, with a comment.
    pub async fn review_change(
        &self,
        p: &Principal,
        id: &str,
        approve: Option<bool>,
        comment: &str,
    ) -> Result<Change> {
        may_change(p)?;
        let approve = approve.ok_or_else(|| bad("approve", "must be true or false"))?;
        let actor = p.actor.clone();
        let role = p.role.as_str().to_owned();
        let comment = comment.trim().to_owned();
        if !approve && comment.is_empty() {
            return Err(bad("comment", "is required to reject a change"));
        }
        self.with_change(p, id, move |c, now| {
            if c.requested_by == actor {
                return Err(AppError::Forbidden(
                    "the requester may not approve or reject their own change".into(),
                ));
            }
            let after_the_fact = c.change_type == ChangeType::Emergency && c.approval_due.is_some();
            if !(c.state == ChangeState::Submitted || after_the_fact) {
                return Err(AppError::Conflict(format!(
                    "change {} is {}; it is not waiting for approval",
                    c.id,
                    c.state.as_str()
                )));
            }
            c.approvals.push(Approval {
                by: actor.clone(),
                role: role.clone(),
                approve,
                comment: comment.clone(),
                at: now,
            });
            if !approve {
                c.log(now, &actor, "rejected", format!("rejected: {comment}"));
                if c.state == ChangeState::Submitted {
                    c.state = ChangeState::Rejected;
                    c.reason = Some(format!("rejected by {actor}: {comment}"));
                }
                return Ok(());
            }
            c.log(
                now,
                &actor,
                "approved",
                format!(
                    "approved as {role}{}",
                    if comment.is_empty() {
                        String::new()
                    } else {
                        format!(": {comment}")
                    }
                ),
            );
            if c.open_steps().is_empty() {
                if c.state == ChangeState::Submitted {
                    c.state = ChangeState::Approved;
                }
                if after_the_fact {
                    c.approval_due = None;
                    c.log(now, "cairn", "approval", "approved after the fact");
                }
            }
            Ok(())
        })
        .await
    }

    /// Starts an approved change inside its window.
    pub async fn start_change(&self, p: &Principal, id: &str) -> Result<Change> {
        may_change(p)?;
        let actor = p.actor.clone();
        let freezes = self.freezes().await?;
        self.with_change(p, id, move |c, now| {
            if c.state != ChangeState::Approved {
                return Err(AppError::Conflict(format!(
                    "change {} is {}; only approved changes start",
                    c.id,
                    c.state.as_str()
                )));
            }
            if let (Some(a), Some(b)) = (c.window_start, c.window_end) {
                if now < a || now > b {
                    return Err(AppError::Conflict(format!(
                        "now is outside the change's window ({a} .. {b})"
                    )));
                }
            }
            let zones: Vec<String> = c.hosts.iter().map(|h| h.zone.clone()).collect();
            let met = freezes_met(&freezes, (now, now + time::Duration::minutes(1)), &zones);
            if !met.is_empty() && c.freeze_exception.is_none() {
                return Err(AppError::Conflict(format!(
                    "a freeze is on: {}",
                    met.iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            c.state = ChangeState::Running;
            c.log(now, &actor, "started", "gray release started");
            Ok(())
        })
        .await
    }

    /// Pause, resume, abort, or skip the current batch.
    pub async fn control_change(&self, p: &Principal, id: &str, action: &str) -> Result<Change> {
        may_change(p)?;
        let actor = p.actor.clone();
        let action = action.to_owned();
        self.with_change(p, id, move |c, now| {
            match action.as_str() {
                "pause" if c.state == ChangeState::Running => {
                    c.state = ChangeState::Paused;
                    c.reason = Some(format!("paused by {actor}"));
                }
                "resume" if c.state == ChangeState::Paused => {
                    // A gate that asked for a human: resuming accepts its batch.
                    if let Some(b) = c.batches.get_mut(c.current) {
                        if b.status == BatchStatus::Analysing && b.judgement.is_some() {
                            b.status = BatchStatus::Done;
                            c.current += 1;
                        }
                    }
                    c.state = ChangeState::Running;
                    c.reason = None;
                }
                "skip" if matches!(c.state, ChangeState::Running | ChangeState::Paused) => {
                    let b = c
                        .batches
                        .get_mut(c.current)
                        .ok_or_else(|| AppError::Conflict("no batch left to skip".into()))?;
                    if !matches!(b.status, BatchStatus::Pending | BatchStatus::Analysing) {
                        return Err(AppError::Conflict(
                            "only a pending batch, or one being analysed, may be skipped".into(),
                        ));
                    }
                    b.status = BatchStatus::Skipped;
                    c.current += 1;
                }
                "abort" if !c.state.is_final() => {
                    c.state = ChangeState::Aborted;
                    c.reason = Some(format!("aborted by {actor}"));
                }
                "pause" | "resume" | "skip" | "abort" => {
                    return Err(AppError::Conflict(format!(
                        "cannot {action} a change that is {}",
                        c.state.as_str()
                    )))
                }
                other => {
                    return Err(bad(
                        "action",
                        format!("unknown action {other:?}; one of pause, resume, skip, abort"),
                    ))
                }
            }
            c.log(now, &actor, &action, format!("{action} by {actor}"));
            Ok(())
        })
        .await
    }

    /// Rolls back by hand (running, paused or completed changes).
    pub async fn rollback_change(&self, p: &Principal, id: &str, reason: &str) -> Result<Change> {
        may_change(p)?;
        if reason.trim().is_empty() {
            return Err(bad("reason", "is required to roll back"));
        }
        let c = self.load_change(id).await?;
        if !matches!(
            c.state,
            ChangeState::Running | ChangeState::Paused | ChangeState::Completed
        ) {
            return Err(AppError::Conflict(format!(
                "change {id} is {}; nothing to roll back",
                c.state.as_str()
            )));
        }
        self.roll_back(
            id,
            &p.actor,
            &format!("rolled back by {}: {reason}", p.actor),
        )
        .await
    }

    /// A webhook executor's callback.
    pub async fn change_callback(
        &self,
        id: &str,
        batch: usize,
        key: &str,
        body: Value,
    ) -> Result<Change> {
        let status = body.get("status").and_then(Value::as_str).unwrap_or("");
        let ok = match status {
            "succeeded" => true,
            "failed" => false,
            other => {
                return Err(bad(
                    "status",
                    format!("must be succeeded or failed, got {other:?}"),
                ))
            }
        };
        let output: String = body
            .get("output")
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .take(OUTPUT_LIMIT)
            .collect();
        let system = Principal {
            actor: "executor".into(),
            role: Role::Admin,
            merchant_id: None,
        };
        let key = key.to_owned();
        let c = self
            .with_change(&system, id, move |c, now| {
                let b = c
                    .batches
                    .get_mut(batch)
                    .ok_or_else(|| AppError::not_found("batch", batch.to_string()))?;
                let valid = b
                    .callback_key
                    .as_deref()
                    .is_some_and(|k| same(k.as_bytes(), key.as_bytes()));
                if !valid || b.status != BatchStatus::WaitingCallback {
                    return Err(AppError::Forbidden(
                        "this callback is not expected (wrong key, or the batch is not waiting)"
                            .into(),
                    ));
                }
                b.callback_key = None;
                b.output = output.clone();
                b.finished_at = Some(now);
                b.status = if ok {
                    BatchStatus::Executed
                } else {
                    BatchStatus::Failed
                };
                c.log(
                    now,
                    "executor",
                    "batch",
                    format!("{}: webhook reported {status}", c.batches[batch].name),
                );
                Ok(())
            })
            .await?;
        // Move on at once rather than at the next pass.
        self.changes_pass().await?;
        self.load_change(&c.id).await
    }

    /// One pass over the running changes: executes, waits, analyses, advances.
    pub async fn changes_pass(&self) -> Result<()> {
        let ids: Vec<String> = self
            .all_changes()
            .await?
            .into_iter()
            .filter(|c| c.state == ChangeState::Running)
            .map(|c| c.id)
            .collect();
        for id in ids {
            // Each change runs until it has to wait, so a pass finishes what it can.
            for _ in 0..64 {
                if !self.step_change(&id).await? {
                    break;
                }
            }
        }
        Ok(())
    }

    /// One step of a running change; whether another may follow at once.
    async fn step_change(&self, id: &str) -> Result<bool> {
        let c = self.load_change(id).await?;
        if c.state != ChangeState::Running {
            return Ok(false);
        }
        let now = self.now();
        let Some(b) = c.batches.get(c.current).cloned() else {
            self.finish_change(id, ChangeState::Completed, None).await?;
            return Ok(false);
        };
        match b.status {
            BatchStatus::Pending => {
                let executor = c
                    .executor
                    .clone()
                    .ok_or_else(|| AppError::Conflict("the change has no executor".into()))?;
                self.run_batch(&c, c.current, &executor).await?;
                Ok(true)
            }
            // A command still running in another pass, or one cut off by a restart,
            // is left for people (pause, skip or roll back).
            BatchStatus::Executing => Ok(false),
            BatchStatus::Executed => {
                // On to the gate, or done.
                let has_next = c.current + 1 < c.batches.len();
                let gate = c.gate.clone().filter(|_| has_next);
                let n = c.current;
                self.with_change(&system(), id, move |c, now| {
                    let b = &mut c.batches[n];
                    match gate {
                        Some(g) => {
                            b.status = BatchStatus::Analysing;
                            b.gate_at = Some(now + time::Duration::seconds(g.window_s as i64));
                            let text = format!(
                                "{} done; comparing its metrics with the baseline for {}s",
                                b.name, g.window_s
                            );
                            c.log(now, "cairn", "gate", text);
                        }
                        None => {
                            b.status = BatchStatus::Done;
                            c.current += 1;
                        }
                    }
                    Ok(())
                })
                .await?;
                Ok(true)
            }
            BatchStatus::WaitingCallback => {
                if b.deadline.is_some_and(|d| now > d) {
                    let n = c.current;
                    self.with_change(&system(), id, move |c, now| {
                        c.batches[n].status = BatchStatus::Failed;
                        c.batches[n].callback_key = None;
                        c.batches[n].finished_at = Some(now);
                        c.batches[n].output = "no callback before the timeout".into();
                        Ok(())
                    })
                    .await?;
                    return Ok(true);
                }
                Ok(false)
            }
            BatchStatus::Analysing => {
                let Some(at) = b.gate_at else {
                    return Ok(false);
                };
                if now < at {
                    return Ok(false);
                }
                let gate = c
                    .gate
                    .clone()
                    .ok_or_else(|| AppError::Conflict("no gate".into()))?;
                let judgement = self.judge_batch(&c, c.current, &gate, at).await?;
                let n = c.current;
                let decision = judgement.decision;
                let summary = format!(
                    "gate after {}: {} (score {:.0}); {}",
                    b.name,
                    match decision {
                        Decision::Continue => "continue",
                        Decision::Pause => "pause for a human",
                        Decision::Fail => "fail",
                    },
                    judgement.score,
                    judgement.reasons.join("; ")
                );
                let text = summary.clone();
                self.with_change(&system(), id, move |c, now| {
                    c.batches[n].judgement = Some(judgement);
                    c.log(now, "cairn", "gate", text);
                    match decision {
                        Decision::Continue => {
                            c.batches[n].status = BatchStatus::Done;
                            c.current += 1;
                        }
                        Decision::Pause => {
                            c.state = ChangeState::Paused;
                            c.reason = Some(summary);
                        }
                        Decision::Fail => {}
                    }
                    Ok(())
                })
                .await?;
                if decision == Decision::Fail {
                    let why = format!("{}: the gate failed", c.batches[n].name);
                    self.roll_back(id, "cairn", &why).await?;
                    return Ok(false);
                }
                Ok(decision == Decision::Continue)
            }
            BatchStatus::Done | BatchStatus::Skipped => {
                self.with_change(&system(), id, |c, _| {
                    c.current += 1;
                    Ok(())
                })
                .await?;
                Ok(true)
            }
            BatchStatus::Failed => {
                let why = format!("{} failed to execute", b.name);
                self.roll_back(id, "cairn", &why).await?;
                Ok(false)
            }
        }
    }

    async fn finish_change(
        &self,
        id: &str,
        state: ChangeState,
        reason: Option<String>,
    ) -> Result<Change> {
        self.with_change(&system(), id, move |c, now| {
            c.state = state;
            c.reason = reason.clone();
            c.log(
                now,
                "cairn",
                state.as_str(),
                reason.unwrap_or_else(|| format!("change {}", state.as_str())),
            );
            Ok(())
        })
        .await
    }

    /// Runs the rollback plan's executor over every host a batch has touched.
    async fn roll_back(&self, id: &str, actor: &str, why: &str) -> Result<Change> {
        let c = self.load_change(id).await?;
        let touched: Vec<String> = c
            .batches
            .iter()
            .filter(|b| {
                matches!(
                    b.status,
                    BatchStatus::Executing
                        | BatchStatus::Executed
                        | BatchStatus::WaitingCallback
                        | BatchStatus::Analysing
                        | BatchStatus::Done
                        | BatchStatus::Failed
                )
            })
            .flat_map(|b| b.targets.clone())
            .collect();
        let Some(executor) = c.rollback.clone() else {
            return self
                .finish_change(
                    id,
                    ChangeState::Failed,
                    Some(format!(
                        "{why}; no rollback executor: carry out the rollback plan by hand ({})",
                        c.rollback_plan
                    )),
                )
                .await;
        };
        let mut run = BatchRun::new("rollback".into(), touched);
        run.started_at = Some(self.now());
        let outcome = exec::run(self, &c, &run, &executor, "rollback").await;
        run.finished_at = Some(self.now());
        let (ok, code, output) = match outcome {
            exec::Outcome::Finished { ok, code, output } => (ok, code, output),
            exec::Outcome::Accepted { .. } => {
                (true, None, "rollback requested from the webhook".into())
            }
            exec::Outcome::Error(e) => (false, None, e),
        };
        run.exit_code = code;
        run.output = output;
        run.status = if ok {
            BatchStatus::Done
        } else {
            BatchStatus::Failed
        };
        let actor = actor.to_owned();
        let why = why.to_owned();
        self.with_change(&system(), id, move |c, now| {
            c.rollback_run = Some(run);
            if ok {
                c.state = ChangeState::RolledBack;
                c.reason = Some(format!("{why}; rolled back"));
            } else {
                c.state = ChangeState::Failed;
                c.reason = Some(format!("{why}; the rollback failed too: people needed"));
            }
            c.log(
                now,
                &actor,
                "rollback",
                c.reason.clone().unwrap_or_default(),
            );
            Ok(())
        })
        .await
    }

    async fn run_batch(&self, c: &Change, n: usize, executor: &Executor) -> Result<()> {
        let id = c.id.clone();
        let key = crate::auth::new_id("cb");
        let deadline_s = match executor {
            Executor::Command { timeout_s, .. } | Executor::Webhook { timeout_s, .. } => *timeout_s,
        };
        let is_webhook = matches!(executor, Executor::Webhook { .. });
        let key2 = key.clone();
        let c = self
            .with_change(&system(), &id, move |c, now| {
                let b = &mut c.batches[n];
                b.status = BatchStatus::Executing;
                b.started_at = Some(now);
                if is_webhook {
                    b.callback_key = Some(key2);
                    b.deadline = Some(now + time::Duration::seconds(deadline_s as i64));
                }
                let text = format!("{} started on {}", b.name, b.targets.join(", "));
                c.log(now, "cairn", "batch", text);
                Ok(())
            })
            .await?;
        let run = c.batches[n].clone();
        let outcome = exec::run(self, &c, &run, executor, "deploy").await;
        self.with_change(&system(), &id, move |c, now| {
            let b = &mut c.batches[n];
            match outcome {
                exec::Outcome::Finished { ok, code, output } => {
                    b.exit_code = code;
                    b.output = output;
                    b.finished_at = Some(now);
                    b.status = if ok {
                        BatchStatus::Executed
                    } else {
                        BatchStatus::Failed
                    };
                }
                exec::Outcome::Accepted { output } => {
                    b.output = output;
                    b.status = BatchStatus::WaitingCallback;
                }
                exec::Outcome::Error(e) => {
                    b.output = e;
                    b.finished_at = Some(now);
                    b.status = BatchStatus::Failed;
                }
            }
            let text = format!("{}: {:?}", b.name, b.status);
            c.log(now, "cairn", "batch", text);
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Compares batch `n` (canary) with the hosts no batch has touched (baseline)
    /// over the window before `at`.
    async fn judge_batch(
        &self,
        c: &Change,
        n: usize,
        gate: &Gate,
        at: Timestamp,
    ) -> Result<Judgement> {
        let canary: Vec<&TargetHost> = c
            .hosts
            .iter()
            .filter(|h| c.batches[n].targets.contains(&h.id))
            .collect();
        let changed: BTreeSet<&String> = c.batches[..=n]
            .iter()
            .filter(|b| b.status != BatchStatus::Skipped)
            .flat_map(|b| b.targets.iter())
            .collect();
        let baseline: Vec<&TargetHost> = c
            .hosts
            .iter()
            .filter(|h| !changed.contains(&h.id))
            .collect();
        let sides = |hs: &[&TargetHost]| -> (Vec<String>, Vec<String>) {
            (
                hs.iter().filter_map(|h| h.address.clone()).collect(),
                hs.iter().map(|h| h.id.clone()).collect(),
            )
        };
        let (ci, ch) = sides(&canary);
        let (bi, bh) = sides(&baseline);
        let end = at.unix_timestamp() * 1000;
        let start = end - gate.window_s as i64 * 1000;
        let step = gate.step_s as i64 * 1000;
        let metrics = self.metrics()?.clone();
        let mut samples = BTreeMap::new();
        for m in &gate.metrics {
            let qc = expand(&m.query, &ci, &ch);
            let qb = expand(&m.query, &bi, &bh);
            let mm = metrics.clone();
            let (vc, vb) = tokio::task::spawn_blocking(move || {
                (
                    mm.range_blocking(&qc, start, end, step).map(|v| values(&v)),
                    mm.range_blocking(&qb, start, end, step).map(|v| values(&v)),
                )
            })
            .await
            .map_err(|e| AppError::Conflict(format!("gate query: {e}")))?;
            samples.insert(
                m.spec.name.clone(),
                cairn_canary::Samples {
                    baseline: vb.unwrap_or_default(),
                    canary: vc.unwrap_or_default(),
                },
            );
        }
        let cfg = cairn_canary::CanaryConfig {
            metrics: gate.metrics.iter().map(|m| m.spec.clone()).collect(),
            confidence: gate.confidence,
            thresholds: gate.thresholds,
        };
        cfg.judge(&samples).map_err(|e| bad("gate", e.to_string()))
    }

    /// Changes deployed to `services` or `hosts` between `from` and `to`: for an
    /// incident's "what changed?".
    pub async fn changes_between(
        &self,
        services: &[String],
        hosts: &[String],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Change>> {
        Ok(self
            .all_changes()
            .await?
            .into_iter()
            .filter(|c| c.started_at().is_some_and(|t| t >= from && t <= to))
            .filter(|c| {
                c.services.iter().any(|s| services.contains(s))
                    || c.hosts.iter().any(|h| hosts.contains(&h.id))
            })
            .collect())
    }
}

/// Every id a change touches, for the policy's target rules.
fn touched_ids(t: &Targets, hosts: &[TargetHost], services: &[String]) -> Vec<String> {
    t.services
        .iter()
        .chain(&t.hosts)
        .chain(&t.pools)
        .chain(&t.zones)
        .chain(&t.merchants)
        .chain(services)
        .cloned()
        .chain(hosts.iter().map(|h| h.id.clone()))
        .chain(hosts.iter().map(|h| h.zone.clone()))
        .collect()
}

/// Compares secrets in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn system() -> Principal {
    Principal {
        actor: "cairn".into(),
        role: Role::Admin,
        merchant_id: None,
    }
}

/// Every value of a query's answer, series after series.
fn values(v: &cairn_promql::Value) -> Vec<f64> {
    match v {
        cairn_promql::Value::Matrix(series) => series
            .iter()
            .flat_map(|s| s.samples.iter().map(|(_, x)| *x))
            .collect(),
        cairn_promql::Value::Vector(samples) => samples.iter().map(|s| s.v).collect(),
        cairn_promql::Value::Scalar { v, .. } => vec![*v],
        cairn_promql::Value::String { .. } => Vec::new(),
    }
}

/// Runs [`App::changes_pass`] every `every` until `shutdown`.
pub async fn run(
    app: App,
    every: std::time::Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = app.changes_pass().await {
            tracing::warn!(error = %e, "changes pass failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_queries_name_each_side_by_anchored_alternations() {
        let q = expand(
            r#"rate(errors_total{instance=~"$instances"}[1m])"#,
            &["10.0.0.1:9100".into(), "10.0.0.2:9100".into()],
            &[],
        );
        assert_eq!(
            q,
            r#"rate(errors_total{instance=~"10\\.0\\.0\\.1:9100|10\\.0\\.0\\.2:9100"}[1m])"#
        );
        assert!(expand("x{host=~\"$hosts\"}", &[], &[]).contains("^$"));
    }
}
