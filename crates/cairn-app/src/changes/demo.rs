//! The demo cloud's change history: releases that went through their gates, a bad
//! release the gate caught after its first host and rolled back, a kernel patch on
//! ECS hosts, an emergency fix, and a rejected upgrade. The gate verdicts are computed
//! by `cairn-canary` from generated samples, as a real run computes them from the
//! metrics store; the freeze before the next Double 11 comes from the promotion
//! calendar by itself.

use std::collections::{BTreeMap, BTreeSet};

use cairn_canary::{CanaryConfig, Direction, Judgement, MetricSpec, Samples};
use cairn_domain::changes::{
    assess, Approval, ApprovalPolicy, ChangeState, ChangeType, RiskFacts, Strategy, Targets,
};
use cairn_domain::demo::DemoCloud;
use cairn_domain::Timestamp;
use cairn_store::Tx;
use time::Duration;

use super::{
    BatchRun, BatchStatus, Change, ChangeEvent, Executor, Gate, GateMetric, TargetHost, NS_CHANGES,
};
use crate::Result;

/// One change of the history.
struct Past {
    title: &'static str,
    kind: ChangeType,
    state: ChangeState,
    service: &'static str,
    days_ago: i64,
    hosts: usize,
    /// The canary's error ratio against the baseline's ~0.4 %.
    canary_error: f64,
    reason: &'static str,
}

const PAST: &[Past] = &[
    Past {
        title: "Kernel patch 5.10.134-16 on ECS hosts",
        kind: ChangeType::Standard,
        state: ChangeState::Completed,
        service: "svc-trade-api",
        days_ago: 33,
        hosts: 12,
        canary_error: 0.004,
        reason: "",
    },
    Past {
        title: "订单中心 svc-order 3.12: 拆单逻辑重构",
        kind: ChangeType::Normal,
        state: ChangeState::Completed,
        service: "svc-order",
        days_ago: 21,
        hosts: 8,
        canary_error: 0.0042,
        reason: "",
    },
    Past {
        title: "MySQL 8.0.40 minor upgrade of the order database",
        kind: ChangeType::Normal,
        state: ChangeState::Rejected,
        service: "svc-order-db",
        days_ago: 14,
        hosts: 6,
        canary_error: 0.004,
        reason: "rejected by user:li.na: too close to the Double 12 freeze; plan it for January",
    },
    Past {
        title: "支付接入 svc-payment 5.4: new refund flow",
        kind: ChangeType::Normal,
        state: ChangeState::RolledBack,
        service: "svc-payment",
        days_ago: 9,
        hosts: 8,
        canary_error: 0.031,
        reason: "batch 1 (1): the gate failed; rolled back",
    },
    Past {
        title: "Emergency: renew the expired TLS certificate of the open platform gateway",
        kind: ChangeType::Emergency,
        state: ChangeState::Completed,
        service: "svc-top-gateway",
        days_ago: 3,
        hosts: 4,
        canary_error: 0.004,
        reason: "",
    },
];

fn rng(seed: u64) -> impl FnMut() -> f64 {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The gate's verdict on `canary_error` against a healthy baseline, from 20 noisy
/// samples a side.
fn verdict(gate: &Gate, canary_error: f64, seed: u64) -> Option<Judgement> {
    let mut r = rng(seed);
    let mut samples = BTreeMap::new();
    let base: Vec<f64> = (0..20).map(|_| 0.004 * (0.6 + 0.8 * r())).collect();
    let canary: Vec<f64> = (0..20).map(|_| canary_error * (0.6 + 0.8 * r())).collect();
    samples.insert(
        "error_ratio".to_owned(),
        Samples {
            baseline: base,
            canary,
        },
    );
    let lat_b: Vec<f64> = (0..20).map(|_| 180.0 + 40.0 * r()).collect();
    let lat_c: Vec<f64> = (0..20).map(|_| 182.0 + 40.0 * r()).collect();
    samples.insert(
        "latency_p99_ms".to_owned(),
        Samples {
            baseline: lat_b,
            canary: lat_c,
        },
    );
    let cfg = CanaryConfig {
        metrics: gate.metrics.iter().map(|m| m.spec.clone()).collect(),
        confidence: gate.confidence,
        thresholds: gate.thresholds,
    };
    cfg.judge(&samples).ok()
}

fn demo_gate() -> Gate {
    let mut errors = MetricSpec::new("error_ratio", Direction::Increase);
    errors.allowed_increase = 0.25;
    errors.critical = true;
    let mut latency = MetricSpec::new("latency_p99_ms", Direction::Increase);
    latency.allowed_increase = 0.2;
    Gate {
        metrics: vec![
            GateMetric {
                spec: errors,
                query: "sum(rate(http_requests_total{code=~\"5..\",instance=~\"$instances\"}[1m])) / sum(rate(http_requests_total{instance=~\"$instances\"}[1m]))".into(),
            },
            GateMetric {
                spec: latency,
                query: "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{instance=~\"$instances\"}[1m]))) * 1000".into(),
            },
        ],
        window_s: 600,
        step_s: 30,
        confidence: 0.95,
        thresholds: Default::default(),
    }
}

/// Writes the demo's change history inside the demo's transaction.
pub async fn load(tx: &mut Tx<'_>, cloud: &DemoCloud, now: Timestamp) -> Result<usize> {
    let policy = ApprovalPolicy::default();
    let vips: BTreeSet<&str> = cloud
        .merchants
        .iter()
        .filter(|m| m.tier == cairn_domain::Tier::Vip)
        .map(|m| m.id.as_str())
        .collect();
    let up: Vec<&cairn_domain::Host> = cloud
        .hosts
        .iter()
        .filter(|h| h.state == cairn_domain::HostState::Up && h.pool_id.is_some())
        .collect();
    let mut written = 0;
    for (n, p) in PAST.iter().enumerate() {
        let id = format!("chg-demo-{:02}", n + 1);
        let created = now - Duration::days(p.days_ago) - Duration::hours(30);
        let started =
            now - Duration::days(p.days_ago) + Duration::hours(if n % 2 == 0 { 2 } else { 3 });
        let hosts: Vec<TargetHost> = up
            .iter()
            .skip(n * 13 % up.len().max(1))
            .take(p.hosts)
            .map(|h| TargetHost {
                id: h.id.to_string(),
                zone: h.zone_id.to_string(),
                address: h.exporter.clone(),
            })
            .collect();
        let host_ids: BTreeSet<&str> = hosts.iter().map(|h| h.id.as_str()).collect();
        let merchants: BTreeSet<String> = cloud
            .instances
            .iter()
            .filter(|i| {
                i.host_id
                    .as_ref()
                    .is_some_and(|h| host_ids.contains(h.as_str()))
            })
            .map(|i| i.merchant_id.to_string())
            .collect();
        let dependants = cloud
            .dependencies
            .iter()
            .filter(|d| d.to_service_id.as_str() == p.service)
            .count();
        let risk = assess(&RiskFacts {
            hosts: hosts.len(),
            merchants: merchants.len(),
            vip_merchants: merchants
                .iter()
                .filter(|m| vips.contains(m.as_str()))
                .count(),
            single_points: Vec::new(),
            most_depended: (dependants > 0).then(|| (p.service.to_owned(), dependants)),
            change_type: Some(p.kind),
            peak_hours: false,
            promotions: Vec::new(),
            recent_incidents: Vec::new(),
        });
        let gate = demo_gate();
        let steps = vec!["1".to_owned(), "25%".into(), "100%".into()];
        let mut batches: Vec<BatchRun> = Vec::new();
        let mut done = 0usize;
        for (k, upto) in [1usize, hosts.len().div_ceil(4).max(2), hosts.len()]
            .into_iter()
            .enumerate()
        {
            let upto = upto.min(hosts.len());
            if upto <= done {
                continue;
            }
            let mut b = BatchRun::new(
                format!("batch {} ({})", batches.len() + 1, steps[k]),
                hosts[done..upto].iter().map(|h| h.id.clone()).collect(),
            );
            done = upto;
            let ran = matches!(p.state, ChangeState::Completed | ChangeState::RolledBack)
                && !(p.state == ChangeState::RolledBack && k > 0);
            if ran {
                let at = started + Duration::minutes(15 * k as i64);
                b.started_at = Some(at);
                b.finished_at = Some(at + Duration::minutes(2));
                b.exit_code = Some(0);
                b.output = format!("deployed to {}", b.targets.join(" "));
                b.status = BatchStatus::Done;
                if k + 1 < 3 && upto < hosts.len() {
                    b.gate_at = Some(at + Duration::minutes(12));
                    let canary = if p.state == ChangeState::RolledBack {
                        p.canary_error
                    } else {
                        0.004
                    };
                    b.judgement = verdict(&gate, canary, (n * 10 + k) as u64 + 7);
                }
            }
            batches.push(b);
        }
        let rolled_back = p.state == ChangeState::RolledBack;
        if rolled_back {
            batches[0].status = BatchStatus::Done;
        }
        let rollback_run = rolled_back.then(|| {
            let mut r = BatchRun::new("rollback".into(), batches[0].targets.clone());
            r.started_at = batches[0].gate_at;
            r.finished_at = batches[0].gate_at.map(|t| t + Duration::minutes(1));
            r.exit_code = Some(0);
            r.output = format!("restored 5.3.9 on {}", r.targets.join(" "));
            r.status = BatchStatus::Done;
            r
        });
        let requester = ["user:zhang.wei", "user:wang.lei", "user:chen.jing"][n % 3];
        let approver = ["user:li.na", "user:zhao.min"][n % 2];
        let mut events = vec![
            ChangeEvent {
                at: created,
                actor: requester.into(),
                kind: "created".into(),
                text: "draft created".into(),
            },
            ChangeEvent {
                at: created + Duration::hours(1),
                actor: requester.into(),
                kind: "submitted".into(),
                text: format!(
                    "submitted: risk {} ({}), {} batches over {} hosts",
                    risk.level.as_str(),
                    risk.score,
                    batches.len(),
                    hosts.len()
                ),
            },
        ];
        let mut approvals = Vec::new();
        if p.state != ChangeState::Rejected {
            approvals.push(Approval {
                by: approver.into(),
                role: "base-ops".into(),
                approve: true,
                comment: "plan and rollback look right".into(),
                at: created + Duration::hours(4),
            });
            events.push(ChangeEvent {
                at: created + Duration::hours(4),
                actor: approver.into(),
                kind: "approved".into(),
                text: "approved as base-ops".into(),
            });
        } else {
            approvals.push(Approval {
                by: "user:li.na".into(),
                role: "admin".into(),
                approve: false,
                comment: "too close to the Double 12 freeze; plan it for January".into(),
                at: created + Duration::hours(5),
            });
            events.push(ChangeEvent {
                at: created + Duration::hours(5),
                actor: "user:li.na".into(),
                kind: "rejected".into(),
                text: "rejected: too close to the Double 12 freeze; plan it for January".into(),
            });
        }
        for b in &batches {
            if let Some(j) = &b.judgement {
                events.push(ChangeEvent {
                    at: b.gate_at.unwrap_or(started),
                    actor: "cairn".into(),
                    kind: "gate".into(),
                    text: format!(
                        "gate after {}: {:?} (score {:.0}); {}",
                        b.name,
                        j.decision,
                        j.score,
                        j.reasons.join("; ")
                    ),
                });
            }
        }
        if !p.reason.is_empty() || p.state == ChangeState::Completed {
            events.push(ChangeEvent {
                at: started + Duration::minutes(50),
                actor: "cairn".into(),
                kind: p.state.as_str().into(),
                text: if p.reason.is_empty() {
                    "change completed".into()
                } else {
                    p.reason.into()
                },
            });
        }
        let c = Change {
            id: id.clone(),
            title: p.title.into(),
            description: format!("Release on the hosts behind {}.", p.service),
            change_type: p.kind,
            state: p.state,
            requested_by: requester.into(),
            created_at: created,
            submitted_at: Some(created + Duration::hours(1)),
            targets: Targets {
                services: vec![p.service.into()],
                hosts: host_ids.iter().map(|h| h.to_string()).collect(),
                ..Targets::default()
            },
            window_start: Some(started - Duration::minutes(30)),
            window_end: Some(started + Duration::hours(3)),
            test_plan: "Passed the staging suite and a 24-hour soak in pre-production.".into(),
            rollback_plan:
                "Redeploy the previous version with the same pipeline; no schema change.".into(),
            plan: Strategy::Hosts { steps },
            executor: Some(Executor::Webhook {
                url: "http://deploy.internal/cairn/batches".into(),
                timeout_s: 900,
            }),
            rollback: Some(Executor::Webhook {
                url: "http://deploy.internal/cairn/rollback".into(),
                timeout_s: 900,
            }),
            gate: Some(gate),
            freeze_exception: None,
            required: policy.steps(risk.effective(), false, &[p.service]),
            risk: Some(risk),
            approvals,
            approval_due: None,
            freezes: Vec::new(),
            hosts,
            services: vec![p.service.into()],
            merchants: merchants.into_iter().take(200).collect(),
            current: if rolled_back { 0 } else { batches.len() },
            batches,
            rollback_run,
            reason: (!p.reason.is_empty()).then(|| p.reason.to_owned()),
            events,
        };
        tx.put_document(
            NS_CHANGES,
            &id,
            &serde_json::to_string(&c).unwrap_or_default(),
            now,
            "demo",
        )
        .await?;
        written += 1;
    }
    Ok(written)
}
