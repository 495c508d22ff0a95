//! Changes: what a change request must say by type, how risky it is and why, who must
//! approve it, which freeze windows it meets, and how its gray-release plan splits the
//! targets into batches. Pure: the changes loop in `cairn-app` feeds it the facts
//! (hosts, merchants, dependants, incidents, promotions) and stores the results.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::Duration;

use crate::clock::Timestamp;
use crate::error::DomainError;
use crate::model::{Promotion, PromotionScope};

/// Standard changes are pre-approved routine; normal ones need approval before they
/// run; emergency ones may run at once and are approved after the fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeType {
    Standard,
    Normal,
    Emergency,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Standard => "standard",
            ChangeType::Normal => "normal",
            ChangeType::Emergency => "emergency",
        }
    }
}

/// Where a change is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeState {
    /// Editable; nothing is checked but the shape.
    Draft,
    /// Waiting for its approvals.
    Submitted,
    Approved,
    Rejected,
    /// Batches are being executed.
    Running,
    /// Stopped by a person or by a gate that wants a human; resumable.
    Paused,
    Completed,
    /// A gate failed (or a person asked) and the rollback plan ran.
    RolledBack,
    /// A batch or the rollback itself failed; needs people.
    Failed,
    Aborted,
}

impl ChangeState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeState::Draft => "draft",
            ChangeState::Submitted => "submitted",
            ChangeState::Approved => "approved",
            ChangeState::Rejected => "rejected",
            ChangeState::Running => "running",
            ChangeState::Paused => "paused",
            ChangeState::Completed => "completed",
            ChangeState::RolledBack => "rolled_back",
            ChangeState::Failed => "failed",
            ChangeState::Aborted => "aborted",
        }
    }

    /// Whether the change is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ChangeState::Rejected
                | ChangeState::Completed
                | ChangeState::RolledBack
                | ChangeState::Failed
                | ChangeState::Aborted
        )
    }
}

/// What a change touches, by the model's ids.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub pools: Vec<String>,
    #[serde(default)]
    pub zones: Vec<String>,
    #[serde(default)]
    pub merchants: Vec<String>,
}

impl Targets {
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
            && self.hosts.is_empty()
            && self.pools.is_empty()
            && self.zones.is_empty()
            && self.merchants.is_empty()
    }
}

/// How the plan's batches are made from the targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case", deny_unknown_fields)]
pub enum Strategy {
    /// Steps over the target hosts: `"1"` is one host, `"5%"` the first 5 % of them
    /// (at least one); each step is cumulative, `"100%"` ends with all of them.
    Hosts { steps: Vec<String> },
    /// One batch per zone of the target hosts, in the order given (others last).
    Zones {
        #[serde(default)]
        order: Vec<String>,
    },
    /// Batches given by hand: host or merchant ids (merchant cohorts).
    Explicit { batches: Vec<PlannedBatch> },
}

/// One batch of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedBatch {
    pub name: String,
    pub targets: Vec<String>,
}

/// Splits `hosts` (with their zones) into the strategy's batches. Every host lands in
/// exactly one batch, in order; a step that adds no host is dropped.
pub fn plan_batches(
    strategy: &Strategy,
    hosts: &[(String, String)],
) -> Result<Vec<PlannedBatch>, DomainError> {
    match strategy {
        Strategy::Explicit { batches } => {
            if batches.is_empty() {
                return Err(DomainError::invalid(
                    "plan.batches",
                    "must hold at least one batch",
                ));
            }
            let mut seen = BTreeSet::new();
            for (n, b) in batches.iter().enumerate() {
                if b.targets.is_empty() {
                    return Err(DomainError::invalid(
                        format!("plan.batches[{n}].targets"),
                        "must name at least one target",
                    ));
                }
                for t in &b.targets {
                    if !seen.insert(t.clone()) {
                        return Err(DomainError::invalid(
                            format!("plan.batches[{n}].targets"),
                            format!("{t:?} is already in an earlier batch"),
                        ));
                    }
                }
            }
            Ok(batches.clone())
        }
        Strategy::Hosts { steps } => {
            if hosts.is_empty() {
                return Err(DomainError::invalid(
                    "plan",
                    "a plan by hosts needs target hosts (hosts, pools or zones)",
                ));
            }
            if steps.is_empty() {
                return Err(DomainError::invalid(
                    "plan.steps",
                    "must hold at least one step such as \"1\", \"5%\", \"100%\"",
                ));
            }
            let total = hosts.len();
            let mut out = Vec::new();
            let mut done = 0usize;
            for (n, step) in steps.iter().enumerate() {
                let upto = if let Some(p) = step.strip_suffix('%') {
                    let p: f64 = p.trim().parse().ok().filter(|p| (0.0..=100.0).contains(p) && *p > 0.0).ok_or_else(|| {
                        DomainError::invalid(
                            format!("plan.steps[{n}]"),
                            format!("{step:?} is not a share such as \"25%\" (above 0, at most 100)"),
                        )
                    })?;
                    ((total as f64 * p / 100.0).ceil() as usize).max(1)
                } else {
                    step.trim().parse::<usize>().ok().filter(|k| *k > 0).ok_or_else(|| {
                        DomainError::invalid(
                            format!("plan.steps[{n}]"),
                            format!("{step:?} is neither a host count such as \"1\" nor a share such as \"5%\""),
                        )
                    })?
                };
                let upto = upto.min(total);
                if upto > done {
                    out.push(PlannedBatch {
                        name: format!("batch {} ({step})", out.len() + 1),
                        targets: hosts[done..upto].iter().map(|(h, _)| h.clone()).collect(),
                    });
                    done = upto;
                }
            }
            if done < total {
                out.push(PlannedBatch {
                    name: format!("batch {} (rest)", out.len() + 1),
                    targets: hosts[done..].iter().map(|(h, _)| h.clone()).collect(),
                });
            }
            Ok(out)
        }
        Strategy::Zones { order } => {
            if hosts.is_empty() {
                return Err(DomainError::invalid(
                    "plan",
                    "a plan by zones needs target hosts (hosts, pools or zones)",
                ));
            }
            let mut zones: Vec<String> = order.clone();
            for (_, z) in hosts {
                if !zones.contains(z) {
                    zones.push(z.clone());
                }
            }
            Ok(zones
                .into_iter()
                .filter_map(|z| {
                    let t: Vec<String> = hosts
                        .iter()
                        .filter(|(_, hz)| *hz == z)
                        .map(|(h, _)| h.clone())
                        .collect();
                    (!t.is_empty()).then(|| PlannedBatch {
                        name: format!("zone {z}"),
                        targets: t,
                    })
                })
                .collect())
        }
    }
}

/// The parts of a request that its type makes required, checked at submission.
pub struct RequestText<'a> {
    pub title: &'a str,
    pub description: &'a str,
    pub test_plan: &'a str,
    pub rollback_plan: &'a str,
    pub window: Option<(Timestamp, Timestamp)>,
    pub targets: &'a Targets,
}

/// Checks what a request must say before it is submitted: every type a title and
/// targets; normal changes a description, test plan, rollback plan and window;
/// emergency changes a description and a rollback plan (the window is "now").
pub fn check_submission(t: ChangeType, r: &RequestText<'_>) -> Result<(), DomainError> {
    let need = |field: &str, v: &str| {
        if v.trim().is_empty() {
            Err(DomainError::invalid(
                field,
                format!("is required for a {} change", t.as_str()),
            ))
        } else {
            Ok(())
        }
    };
    need("title", r.title)?;
    if r.targets.is_empty() {
        return Err(DomainError::invalid(
            "targets",
            "must name at least one service, host, pool, zone or merchant",
        ));
    }
    match t {
        ChangeType::Standard => {
            need("rollback_plan", r.rollback_plan)?;
        }
        ChangeType::Normal => {
            need("description", r.description)?;
            need("test_plan", r.test_plan)?;
            need("rollback_plan", r.rollback_plan)?;
        }
        ChangeType::Emergency => {
            need("description", r.description)?;
            need("rollback_plan", r.rollback_plan)?;
        }
    }
    if t != ChangeType::Emergency && r.window.is_none() {
        return Err(DomainError::invalid(
            "window",
            format!(
                "is required for a {} change: give window_start and window_end",
                t.as_str()
            ),
        ));
    }
    if let Some((a, b)) = r.window {
        if b <= a {
            return Err(DomainError::invalid(
                "window_end",
                "must be after window_start",
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Risk
// ---------------------------------------------------------------------------------

/// Low, medium or high, from the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

impl RiskLevel {
    pub fn of(score: u32) -> RiskLevel {
        match score {
            0..=29 => RiskLevel::Low,
            30..=59 => RiskLevel::Medium,
            _ => RiskLevel::High,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<RiskLevel> {
        match s {
            "low" => Some(RiskLevel::Low),
            "medium" => Some(RiskLevel::Medium),
            "high" => Some(RiskLevel::High),
            _ => None,
        }
    }
}

/// What the risk is computed from; the app gathers it from the model.
#[derive(Debug, Clone, Default)]
pub struct RiskFacts {
    pub hosts: usize,
    pub merchants: usize,
    pub vip_merchants: usize,
    /// Target hosts that are the only active host of their pool.
    pub single_points: Vec<String>,
    /// Target services with the most dependants (callers, transitively): id, count.
    pub most_depended: Option<(String, usize)>,
    pub change_type: Option<ChangeType>,
    /// The window touches the evening peak (20:00–24:00 China time).
    pub peak_hours: bool,
    /// Promotions within a day of the window.
    pub promotions: Vec<String>,
    /// Incidents on the targets in the 30 days before.
    pub recent_incidents: Vec<String>,
}

/// One factor of the score, as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskFactor {
    pub factor: String,
    pub points: u32,
    pub detail: String,
}

/// The computed risk, and a human's override.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Risk {
    pub score: u32,
    pub level: RiskLevel,
    pub factors: Vec<RiskFactor>,
    #[serde(default)]
    pub override_level: Option<RiskLevel>,
    #[serde(default)]
    pub override_reason: Option<String>,
    #[serde(default)]
    pub override_by: Option<String>,
}

impl Risk {
    /// The level in force: the override when one was given.
    pub fn effective(&self) -> RiskLevel {
        self.override_level.unwrap_or(self.level)
    }
}

/// Scores a change from 0 to 100, each factor with its points and why.
pub fn assess(f: &RiskFacts) -> Risk {
    let mut factors = Vec::new();
    let mut add = |factor: &str, points: u32, detail: String| {
        if points > 0 {
            factors.push(RiskFactor {
                factor: factor.into(),
                points,
                detail,
            });
        }
    };
    // Breadth: grows with the logarithm, so 1 → 10 → 100 hosts add evenly.
    let log_points = |n: usize, per_decade: f64, cap: u32| -> u32 {
        ((((n as f64) + 1.0).log10() * per_decade).round() as u32).min(cap)
    };
    add(
        "hosts",
        log_points(f.hosts, 8.0, 15),
        format!("{} hosts touched", f.hosts),
    );
    add(
        "merchants",
        log_points(f.merchants, 6.0, 15),
        format!("{} merchants have instances or services there", f.merchants),
    );
    add(
        "vip_merchants",
        (f.vip_merchants as u32 * 3).min(10),
        format!("{} VIP merchants among them", f.vip_merchants),
    );
    add(
        "single_points",
        (f.single_points.len() as u32 * 8).min(15),
        format!(
            "only host of its pool: {}",
            f.single_points
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    if let Some((s, n)) = &f.most_depended {
        add(
            "dependants",
            (*n as u32 * 2).min(15),
            format!("{n} services depend on {s}"),
        );
    }
    match f.change_type {
        Some(ChangeType::Emergency) => {
            add("type", 10, "emergency: less time to test and review".into())
        }
        Some(ChangeType::Normal) => add("type", 3, "normal change".into()),
        _ => {}
    }
    if f.peak_hours {
        add(
            "peak_hours",
            10,
            "the window touches the evening peak (20:00–24:00 China time)".into(),
        );
    }
    if !f.promotions.is_empty() {
        add(
            "promotion",
            15,
            format!("near a promotion: {}", f.promotions.join(", ")),
        );
    }
    add(
        "recent_incidents",
        (f.recent_incidents.len() as u32 * 5).min(15),
        format!(
            "incidents on the targets in the last 30 days: {}",
            f.recent_incidents.join(", ")
        ),
    );
    let score = factors.iter().map(|x| x.points).sum::<u32>().min(100);
    Risk {
        score,
        level: RiskLevel::of(score),
        factors,
        override_level: None,
        override_reason: None,
        override_by: None,
    }
}

// ---------------------------------------------------------------------------------
// Approval
// ---------------------------------------------------------------------------------

/// One approval a policy asks for: `count` approvals by people holding one of
/// `roles`, none of them the requester.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalStep {
    /// What the step is called on the page ("peer", "ops lead", "service owner").
    pub name: String,
    pub roles: Vec<String>,
    #[serde(default = "one")]
    pub count: usize,
}

fn one() -> usize {
    1
}

/// Which approvals each risk level needs, and how long an emergency change has to
/// be approved after the fact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicy {
    pub low: Vec<ApprovalStep>,
    pub medium: Vec<ApprovalStep>,
    pub high: Vec<ApprovalStep>,
    /// An exception to a freeze window needs these in addition.
    pub freeze_exception: Vec<ApprovalStep>,
    /// Hours an emergency change has to collect its approvals after it started.
    pub emergency_deadline_hours: i64,
    /// Approvals that touching certain targets adds, whatever the risk: the order
    /// database's DBA team for any change on it, say.
    #[serde(default)]
    pub targets: Vec<TargetRule>,
}

/// Steps a change needs when it touches one of `ids` (services, hosts, pools, zones
/// or merchants).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetRule {
    pub ids: Vec<String>,
    pub steps: Vec<ApprovalStep>,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        let staff = || {
            vec![
                "app-ops".to_owned(),
                "base-ops".into(),
                "developer".into(),
                "admin".into(),
            ]
        };
        let ops = || vec!["app-ops".to_owned(), "base-ops".into(), "admin".into()];
        ApprovalPolicy {
            low: vec![ApprovalStep {
                name: "peer".into(),
                roles: staff(),
                count: 1,
            }],
            medium: vec![
                ApprovalStep {
                    name: "peer".into(),
                    roles: staff(),
                    count: 1,
                },
                ApprovalStep {
                    name: "ops".into(),
                    roles: ops(),
                    count: 1,
                },
            ],
            high: vec![
                ApprovalStep {
                    name: "ops lead".into(),
                    roles: vec!["admin".into()],
                    count: 1,
                },
                ApprovalStep {
                    name: "service owner".into(),
                    roles: vec!["app-ops".into(), "base-ops".into(), "developer".into()],
                    count: 1,
                },
            ],
            freeze_exception: vec![ApprovalStep {
                name: "freeze exception".into(),
                roles: vec!["admin".into()],
                count: 1,
            }],
            emergency_deadline_hours: 24,
            targets: Vec::new(),
        }
    }
}

/// One approval or rejection given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub by: String,
    pub role: String,
    pub approve: bool,
    pub comment: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
}

impl ApprovalPolicy {
    /// The steps a change of `level` needs, plus the freeze exception's if it has one
    /// and those of the target rules matching any of `touched`.
    pub fn steps(
        &self,
        level: RiskLevel,
        freeze_exception: bool,
        touched: &[&str],
    ) -> Vec<ApprovalStep> {
        let mut s = match level {
            RiskLevel::Low => self.low.clone(),
            RiskLevel::Medium => self.medium.clone(),
            RiskLevel::High => self.high.clone(),
        };
        if freeze_exception {
            s.extend(self.freeze_exception.iter().cloned());
        }
        for r in &self.targets {
            if r.ids.iter().any(|id| touched.contains(&id.as_str())) {
                s.extend(r.steps.iter().cloned());
            }
        }
        s
    }

    pub fn validate(&self) -> Result<(), DomainError> {
        let mut all: Vec<(String, &Vec<ApprovalStep>)> = vec![
            ("low".into(), &self.low),
            ("medium".into(), &self.medium),
            ("high".into(), &self.high),
            ("freeze_exception".into(), &self.freeze_exception),
        ];
        for (n, r) in self.targets.iter().enumerate() {
            if r.ids.is_empty() {
                return Err(DomainError::invalid(
                    format!("targets[{n}].ids"),
                    "must name at least one id",
                ));
            }
            all.push((format!("targets[{n}].steps"), &r.steps));
        }
        for (name, steps) in all {
            for (n, s) in steps.iter().enumerate() {
                if s.roles.is_empty() || s.count == 0 {
                    return Err(DomainError::invalid(
                        format!("{name}[{n}]"),
                        "a step needs at least one role and a count of at least 1",
                    ));
                }
                for r in &s.roles {
                    if crate::Role::parse(r).is_none() {
                        return Err(DomainError::invalid(
                            format!("{name}[{n}].roles"),
                            format!("unknown role {r:?}"),
                        ));
                    }
                }
            }
        }
        if self.emergency_deadline_hours <= 0 {
            return Err(DomainError::invalid(
                "emergency_deadline_hours",
                "must be positive",
            ));
        }
        Ok(())
    }
}

/// Which steps the approvals given so far leave open. Each approver counts once, for
/// the first open step their role fits, and never for their own change.
pub fn open_steps(
    steps: &[ApprovalStep],
    approvals: &[Approval],
    requester: &str,
) -> Vec<ApprovalStep> {
    let mut need: Vec<(ApprovalStep, usize)> = steps.iter().map(|s| (s.clone(), s.count)).collect();
    let mut used = BTreeSet::new();
    for a in approvals.iter().filter(|a| a.approve && a.by != requester) {
        if !used.insert(a.by.clone()) {
            continue;
        }
        if let Some(slot) = need
            .iter_mut()
            .find(|(s, left)| *left > 0 && s.roles.contains(&a.role))
        {
            slot.1 -= 1;
        }
    }
    need.into_iter()
        .filter(|(_, left)| *left > 0)
        .map(|(mut s, left)| {
            s.count = left;
            s
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// Freeze windows
// ---------------------------------------------------------------------------------

/// A time when changes are refused unless they carry an approved exception.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    pub id: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: Timestamp,
    /// `promotion` when derived from the calendar, `manual` otherwise.
    #[serde(default = "manual")]
    pub source: String,
    /// Zones it is limited to; empty for everywhere.
    #[serde(default)]
    pub zones: Vec<String>,
}

fn manual() -> String {
    "manual".into()
}

/// How far around a promotion changes freeze.
pub const FREEZE_BEFORE: Duration = Duration::days(3);
pub const FREEZE_AFTER: Duration = Duration::days(1);

/// The freezes the promotion calendar implies: every platform-wide promotion and
/// every regional one (whose region's zones are given) from three days before it
/// starts to a day after it ends. Merchants' own promotions freeze nothing.
pub fn freezes_from_promotions(
    promotions: &[Promotion],
    region_zones: &dyn Fn(&str) -> Vec<String>,
) -> Vec<Freeze> {
    promotions
        .iter()
        .filter_map(|p| {
            let zones = match p.scope {
                PromotionScope::Global => Vec::new(),
                PromotionScope::Region => region_zones(p.region_id.as_ref()?.as_str()),
                PromotionScope::Merchant => return None,
            };
            Some(Freeze {
                id: format!("freeze-{}", p.id),
                name: format!("{} freeze", p.name),
                starts_at: p.starts_at - FREEZE_BEFORE,
                ends_at: p.ends_at + FREEZE_AFTER,
                source: "promotion".into(),
                zones,
            })
        })
        .collect()
}

/// The freezes a window over `zones` meets.
pub fn freezes_met<'a>(
    freezes: &'a [Freeze],
    window: (Timestamp, Timestamp),
    zones: &[String],
) -> Vec<&'a Freeze> {
    freezes
        .iter()
        .filter(|f| f.starts_at < window.1 && window.0 < f.ends_at)
        .filter(|f| f.zones.is_empty() || f.zones.iter().any(|z| zones.contains(z)))
        .collect()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn hosts(n: usize) -> Vec<(String, String)> {
        (1..=n)
            .map(|i| {
                (
                    format!("h{i}"),
                    if i % 2 == 0 { "b" } else { "a" }.to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn steps_split_hosts_cumulatively_and_the_rest_goes_last() {
        let s = Strategy::Hosts {
            steps: vec!["1".into(), "5%".into(), "25%".into(), "100%".into()],
        };
        let b = plan_batches(&s, &hosts(40)).unwrap();
        let sizes: Vec<usize> = b.iter().map(|b| b.targets.len()).collect();
        assert_eq!(sizes, [1, 1, 8, 30]);
        assert_eq!(b[0].targets, ["h1"]);
        let s = Strategy::Hosts {
            steps: vec!["1".into(), "50%".into()],
        };
        let b = plan_batches(&s, &hosts(4)).unwrap();
        let sizes: Vec<usize> = b.iter().map(|b| b.targets.len()).collect();
        assert_eq!(sizes, [1, 1, 2], "{b:?}");
        let bad = Strategy::Hosts {
            steps: vec!["150%".into()],
        };
        let e = plan_batches(&bad, &hosts(4)).unwrap_err();
        assert_eq!(e.field(), "plan.steps[0]");
    }

    #[test]
    fn zones_make_one_batch_each_in_the_given_order() {
        let s = Strategy::Zones {
            order: vec!["b".into()],
        };
        let b = plan_batches(&s, &hosts(5)).unwrap();
        assert_eq!(b[0].name, "zone b");
        assert_eq!(b[0].targets, ["h2", "h4"]);
        assert_eq!(b[1].targets, ["h1", "h3", "h5"]);
    }

    #[test]
    fn the_type_decides_what_a_request_must_say() {
        let t = Targets {
            services: vec!["svc-a".into()],
            ..Targets::default()
        };
        let mut r = RequestText {
            title: "Upgrade",
            description: "",
            test_plan: "",
            rollback_plan: "redeploy v1",
            window: None,
            targets: &t,
        };
        assert_eq!(
            check_submission(ChangeType::Normal, &r)
                .unwrap_err()
                .field(),
            "description"
        );
        assert!(check_submission(ChangeType::Emergency, &r).is_err());
        r.description = "why";
        assert!(check_submission(ChangeType::Emergency, &r).is_ok());
        assert_eq!(
            check_submission(ChangeType::Standard, &r)
                .unwrap_err()
                .field(),
            "window"
        );
        r.test_plan = "staging";
        r.window = Some((
            datetime!(2026-11-26 02:00 UTC),
            datetime!(2026-11-26 04:00 UTC),
        ));
        assert!(check_submission(ChangeType::Normal, &r).is_ok());
    }

    #[test]
    fn risk_adds_up_its_factors_and_names_each() {
        let small = assess(&RiskFacts {
            hosts: 1,
            change_type: Some(ChangeType::Standard),
            ..RiskFacts::default()
        });
        assert_eq!(small.level, RiskLevel::Low);
        let big = assess(&RiskFacts {
            hosts: 120,
            merchants: 800,
            vip_merchants: 12,
            single_points: vec!["db-1".into()],
            most_depended: Some(("svc-mysql".into(), 9)),
            change_type: Some(ChangeType::Emergency),
            peak_hours: true,
            promotions: vec!["Double 11".into()],
            recent_incidents: vec!["inc-1".into()],
        });
        assert_eq!(big.level, RiskLevel::High);
        assert_eq!(
            big.score,
            big.factors.iter().map(|f| f.points).sum::<u32>().min(100)
        );
        assert!(big
            .factors
            .iter()
            .any(|f| f.factor == "promotion" && f.detail.contains("Double 11")));
    }

    #[test]
    fn approvals_fill_steps_once_per_person_and_never_by_the_requester() {
        let p = ApprovalPolicy::default();
        let steps = p.steps(RiskLevel::High, true, &["svc-order-db"]);
        assert_eq!(steps.len(), 3);
        let mut with_dba = p.clone();
        with_dba.targets.push(TargetRule {
            ids: vec!["svc-order-db".into()],
            steps: vec![ApprovalStep {
                name: "DBA".into(),
                roles: vec!["base-ops".into()],
                count: 1,
            }],
        });
        assert_eq!(
            with_dba
                .steps(RiskLevel::Low, false, &["svc-order-db"])
                .len(),
            2
        );
        assert_eq!(
            with_dba.steps(RiskLevel::Low, false, &["svc-order"]).len(),
            1
        );
        let at = datetime!(2026-11-26 02:00 UTC);
        let a = |by: &str, role: &str| Approval {
            by: by.into(),
            role: role.into(),
            approve: true,
            comment: String::new(),
            at,
        };
        let open = open_steps(&steps, &[a("me", "admin")], "me");
        assert_eq!(open.len(), 3, "the requester's own approval does not count");
        let open = open_steps(&steps, &[a("boss", "admin"), a("boss", "admin")], "me");
        assert_eq!(
            open.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["service owner", "freeze exception"]
        );
        let open = open_steps(
            &steps,
            &[a("boss", "admin"), a("dev", "developer"), a("cto", "admin")],
            "me",
        );
        assert!(open.is_empty(), "{open:?}");
    }

    #[test]
    fn promotions_freeze_three_days_before_to_one_after() {
        let p = Promotion {
            id: crate::PromotionId::new("d11"),
            name: "Double 11".into(),
            starts_at: datetime!(2026-11-10 16:00 UTC),
            ends_at: datetime!(2026-11-11 16:00 UTC),
            scope: PromotionScope::Global,
            region_id: None,
            merchant_id: None,
            expected_uplift: 5.0,
        };
        let f = freezes_from_promotions(&[p], &|_| Vec::new());
        assert_eq!(f[0].starts_at, datetime!(2026-11-07 16:00 UTC));
        assert_eq!(f[0].ends_at, datetime!(2026-11-12 16:00 UTC));
        let met = freezes_met(
            &f,
            (
                datetime!(2026-11-08 02:00 UTC),
                datetime!(2026-11-08 03:00 UTC),
            ),
            &[],
        );
        assert_eq!(met.len(), 1);
        let met = freezes_met(
            &f,
            (
                datetime!(2026-11-13 02:00 UTC),
                datetime!(2026-11-13 03:00 UTC),
            ),
            &[],
        );
        assert!(met.is_empty());
    }
}
