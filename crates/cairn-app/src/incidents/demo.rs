//! The demo's incident history: a year of incidents on the demo's services, each
//! with its timeline, merchants hurt (those whose services depend on the failing one),
//! and — for most — a complete review with action items, a few of them overdue.

use std::collections::{BTreeSet, HashMap};

use cairn_domain::demo::DemoCloud;
use cairn_domain::incidents::{
    ActionItem, Incident, IncidentImpact, IncidentStatus, Review, Severity,
};
use cairn_store::incidents::TimelineEntry;
use cairn_store::Tx;
use serde_json::{json, Value};
use time::Duration;

use crate::Result;

struct Past {
    days_ago: i64,
    service: &'static str,
    severity: Severity,
    title: &'static str,
    minutes_to_ack: i64,
    minutes_to_resolve: i64,
    cause: &'static str,
    team: &'static str,
    root_cause: &'static str,
    action: &'static str,
    reviewed: bool,
}

#[rustfmt::skip]
const PAST: &[Past] = &[
    Past { days_ago: 340, service: "svc-order-db", severity: Severity::P1, title: "订单库主从切换失败 Order DB failover stuck", minutes_to_ack: 4, minutes_to_resolve: 95, cause: "hardware", team: "dba", root_cause: "A disk controller failed on the primary; the failover script waited on a replica that lagged.", action: "Alert on replica lag above 30 s", reviewed: true },
    Past { days_ago: 300, service: "svc-payment", severity: Severity::P2, title: "支付回调超时 Payment callbacks time out", minutes_to_ack: 9, minutes_to_resolve: 70, cause: "dependency", team: "payment", root_cause: "The payment gateway's certificate rotated and our pinned chain was stale.", action: "Pin the CA, not the leaf certificate", reviewed: true },
    Past { days_ago: 255, service: "svc-search", severity: Severity::P3, title: "商品搜索结果陈旧 Stale search results", minutes_to_ack: 22, minutes_to_resolve: 240, cause: "change", team: "search", root_cause: "An index rebuild job was disabled by a configuration change.", action: "Gate index config changes on a canary", reviewed: true },
    Past { days_ago: 210, service: "svc-tair-cache", severity: Severity::P2, title: "缓存集群内存打满 Cache cluster out of memory", minutes_to_ack: 6, minutes_to_resolve: 55, cause: "capacity", team: "middleware", root_cause: "A campaign's hot keys outgrew the cluster; no capacity alert existed for cache memory.", action: "Add cache memory to the capacity forecasts", reviewed: true },
    Past { days_ago: 170, service: "svc-slb-public", severity: Severity::P1, title: "618 大促公网入口丢包 Packet loss at the public SLB during 618", minutes_to_ack: 3, minutes_to_resolve: 48, cause: "capacity", team: "network", root_cause: "New connections per second exceeded the SLB cluster's limit at the 618 peak.", action: "Reserve SLB capacity before every festival", reviewed: true },
    Past { days_ago: 150, service: "svc-rocketmq", severity: Severity::P3, title: "消息堆积 Message backlog in RocketMQ", minutes_to_ack: 15, minutes_to_resolve: 180, cause: "dependency", team: "middleware", root_cause: "A consumer group stalled on a poison message.", action: "Dead-letter poison messages after 16 retries", reviewed: true },
    Past { days_ago: 120, service: "svc-inventory-db", severity: Severity::P2, title: "库存库慢查询 Slow queries on the inventory DB", minutes_to_ack: 11, minutes_to_resolve: 130, cause: "change", team: "dba", root_cause: "A release dropped an index that a stock query relied on.", action: "Review schema changes against the slow-query log", reviewed: true },
    Past { days_ago: 90, service: "svc-auth", severity: Severity::P2, title: "登录失败率升高 Login failures rise", minutes_to_ack: 7, minutes_to_resolve: 65, cause: "config", team: "security", root_cause: "A rate-limit rule in Sentinel was set per host instead of per user.", action: "Test rate-limit rules in the staging traffic replay", reviewed: true },
    Past { days_ago: 60, service: "svc-order", severity: Severity::P2, title: "订单中心超时 Order center timeouts", minutes_to_ack: 5, minutes_to_resolve: 75, cause: "change", team: "trade", root_cause: "A gray release went from 5% to 100% without waiting for the error-rate gate.", action: "Make metric gates mandatory between batches", reviewed: true },
    Past { days_ago: 40, service: "svc-logistics-store", severity: Severity::P3, title: "物流轨迹写入延迟 Tracking writes delayed", minutes_to_ack: 30, minutes_to_resolve: 210, cause: "capacity", team: "logistics", root_cause: "Tablestore write capacity units were exhausted by a carrier's bulk resend.", action: "Rate-limit carrier bulk imports", reviewed: true },
    Past { days_ago: 25, service: "svc-order-db", severity: Severity::P2, title: "订单库连接数打满 Order DB connections exhausted", minutes_to_ack: 6, minutes_to_resolve: 50, cause: "capacity", team: "dba", root_cause: "Connection pools grew with the pre-Double 11 scale-out; max_connections did not.", action: "Size max_connections with the application fleet", reviewed: false },
    Past { days_ago: 12, service: "svc-tmc", severity: Severity::P3, title: "消息推送延迟 TMC pushes delayed for ISVs", minutes_to_ack: 18, minutes_to_resolve: 95, cause: "dependency", team: "open-platform", root_cause: "", action: "", reviewed: false },
];

/// Owners of services that call `root`, however far up the chain.
fn merchants_behind(cloud: &DemoCloud, root: &str) -> Vec<String> {
    let mut callers: HashMap<&str, Vec<&str>> = HashMap::new();
    for d in &cloud.dependencies {
        callers
            .entry(d.to_service_id.as_str())
            .or_default()
            .push(d.from_service_id.as_str());
    }
    let mut seen = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(s) = stack.pop() {
        for c in callers.get(s).into_iter().flatten() {
            if seen.insert(*c) {
                stack.push(c);
            }
        }
    }
    let owners: BTreeSet<String> = cloud
        .services
        .iter()
        .filter(|s| seen.contains(s.id.as_str()))
        .filter_map(|s| s.merchant_id.as_ref().map(|m| m.to_string()))
        .collect();
    owners.into_iter().collect()
}

/// Writes the demo's incident history inside the demo's transaction.
pub async fn load(
    tx: &mut Tx<'_>,
    cloud: &DemoCloud,
    now: cairn_domain::Timestamp,
) -> Result<usize> {
    let vips: BTreeSet<String> = cloud
        .merchants
        .iter()
        .filter(|m| m.tier == cairn_domain::Tier::Vip)
        .map(|m| m.id.to_string())
        .collect();
    let local = |t: cairn_domain::Timestamp| {
        t.to_offset(cairn_forecast::calendar::CALENDAR_OFFSET)
            .date()
    };
    let today = local(now);
    for (n, p) in PAST.iter().enumerate() {
        let id = format!("inc-demo-{:02}", n + 1);
        let declared = now - Duration::days(p.days_ago) - Duration::hours((n as i64 * 5) % 13);
        let acked = declared + Duration::minutes(p.minutes_to_ack);
        let mitigated = declared + Duration::minutes(p.minutes_to_resolve * 2 / 3);
        let resolved = declared + Duration::minutes(p.minutes_to_resolve);
        let mut merchants = merchants_behind(cloud, p.service);
        merchants.sort_by_key(|m| (!vips.contains(m), m.clone()));
        let vip_count = merchants.iter().filter(|m| vips.contains(*m)).count();
        let review = if p.root_cause.is_empty() {
            Review::default()
        } else {
            Review {
                summary: format!(
                    "{}: {} minutes from declaration to resolution.",
                    p.title, p.minutes_to_resolve
                ),
                impact: format!(
                    "{} merchants' systems depend on {}.",
                    merchants.len(),
                    p.service
                ),
                root_cause: p.root_cause.into(),
                cause_category: p.cause.into(),
                contributing_factors: vec!["No alert fired before merchants noticed".into()],
                went_well: "The on-call acknowledged within minutes and the rollback was quick."
                    .into(),
                went_badly: "Merchant-facing updates went out late.".into(),
                responsible_team: p.team.into(),
            }
        };
        let actions = if p.action.is_empty() {
            Vec::new()
        } else {
            let due = local(declared) + Duration::days(21);
            // Older items are done; the most recent ones are still open, and those past
            // their due date are overdue.
            let done = (p.days_ago > 60).then_some(declared + Duration::days(14));
            vec![ActionItem {
                id: format!("act-demo-{:02}", n + 1),
                title: p.action.into(),
                owner: format!("{}-lead", p.team),
                due: if done.is_some() {
                    due
                } else {
                    due.min(today - Duration::days(1))
                },
                links: Vec::new(),
                done_at: done,
                reminded_on: None,
            }]
        };
        let incident = Incident {
            id: id.clone(),
            title: p.title.into(),
            summary: p.root_cause.into(),
            severity: p.severity,
            status: if p.reviewed {
                IncidentStatus::Reviewed
            } else {
                IncidentStatus::Resolved
            },
            declared_at: declared,
            declared_by: "user:oncall-sre".into(),
            acknowledged_at: Some(acked),
            mitigated_at: Some(mitigated),
            resolved_at: Some(resolved),
            roles: [
                ("commander".to_owned(), "oncall-sre".to_owned()),
                ("communications".to_owned(), "support-lead".to_owned()),
            ]
            .into_iter()
            .collect(),
            alerts: Vec::new(),
            pages: Vec::new(),
            problem: None,
            impact: IncidentImpact {
                services: vec![p.service.into()],
                merchant_count: merchants.len(),
                vip_count,
                merchants,
                ..IncidentImpact::default()
            },
            review,
            actions,
        };
        let e = |at, actor: &str, kind: &str, internal: bool, body: String, data: Value| {
            TimelineEntry {
                seq: 0,
                incident_id: id.clone(),
                at,
                actor: actor.into(),
                kind: kind.into(),
                internal,
                body,
                data,
            }
        };
        let timeline = vec![
            e(declared, "user:oncall-sre", "declared", true, format!("declared {}: {}", p.severity.as_str().to_uppercase(), p.title), json!({"severity": p.severity})),
            e(declared, "alerting", "paged", true, "paging the on-call through escalation policies".into(), Value::Null),
            e(acked, "user:oncall-sre", "acknowledged", true, "acknowledged by user:oncall-sre".into(), Value::Null),
            e(acked + Duration::minutes(5), "user:support-lead", "update", false, "我们正在处理一个影响部分商家的问题。 We are working on an issue affecting some merchants.".into(), json!({"audience": "merchants"})),
            e(mitigated, "user:oncall-sre", "status", true, "investigating → mitigated".into(), json!({"to": "mitigated"})),
            e(resolved, "user:oncall-sre", "status", true, "mitigated → resolved".into(), json!({"to": "resolved"})),
            e(resolved, "user:support-lead", "update", false, "问题已解决。 The issue is resolved.".into(), json!({"audience": "merchants"})),
        ];
        tx.put_incident(&incident, true).await?;
        tx.append_timeline(&timeline).await?;
    }
    Ok(PAST.len())
}
