//! The demo's alerting: a rule set over the demo telemetry (error ratio, latency, host
//! load), an anomaly rule on every service's traffic, a routing configuration, an
//! on-call schedule and an escalation policy — installed once, on a store that has no
//! rule files yet, so a new user of `serve --demo` sees alerts and problems within
//! minutes.

use cairn_domain::{Principal, Role};
use serde_json::json;

use crate::{App, Result};

/// The demo's rule file, in Prometheus' format.
pub const RULES: &str = r#"groups:
  - name: demo-services
    interval: 15s
    rules:
      - record: service:http_requests:rate5m
        expr: sum by (service) (rate(http_requests_total{job="demo"}[5m]))
      - record: service:http_errors:ratio5m
        expr: |
          sum by (service) (rate(http_requests_total{job="demo", code="500"}[5m]))
            / sum by (service) (rate(http_requests_total{job="demo"}[5m]))
      - alert: ServiceHighErrorRate
        expr: service:http_errors:ratio5m > 0.05
        for: 1m
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.service }} fails {{ $value | humanizePercentage }} of its requests"
          description: "More than 5% of the requests to {{ $labels.service }} failed over five minutes."
      - alert: ServiceSlow
        expr: http_request_duration_seconds{job="demo", quantile="0.99"} > 1
        for: 1m
        labels:
          severity: warning
        annotations:
          summary: "{{ $labels.service }} answers in {{ $value | humanizeDuration }} at p99"
  - name: demo-hosts
    interval: 30s
    rules:
      - alert: HostOverloaded
        expr: node_load1{job="node"} > 160
        for: 2m
        labels:
          severity: warning
        annotations:
          summary: "{{ $labels.instance }} has a load of {{ $value | printf \"%.0f\" }}"
"#;

/// The demo's routing: critical alerts to the on-call SRE receiver, the rest to the
/// default; grouped by alert and service.
pub const CONFIG: &str = r#"route:
  receiver: default
  group_by: [alertname, service]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ['severity="critical"']
      receiver: sre-oncall
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [service]
receivers:
  - name: default
  - name: sre-oncall
  # On-call people are paged through the receiver named after them; give these
  # webhook_configs or email_configs to reach them.
  - name: wang.lei
  - name: li.na
  - name: zhang.wei
  - name: chen.jing
  - name: ops-lead
"#;

fn installer() -> Principal {
    Principal {
        actor: "demo".into(),
        role: Role::Admin,
        merchant_id: None,
    }
}

/// Installs the demo's alerting unless rules are already stored.
pub async fn install(app: &App) -> Result<()> {
    if !app.store.documents(super::NS_RULES).await?.is_empty() {
        return Ok(());
    }
    let p = installer();
    app.import_rules(&p, Some("demo.yml"), RULES).await?;
    app.set_alerting_config(&p, CONFIG).await?;
    let today = app.today().to_string();
    app.put_schedule(
        &p,
        json!({
            "id": "sre-primary",
            "name": "SRE primary",
            "time_zone": "Asia/Shanghai",
            "layers": [{
                "name": "weekly",
                "users": ["wang.lei", "li.na", "zhang.wei", "chen.jing"],
                "rotation": "weekly",
                "start_date": today,
                "handoff": "10:00"
            }]
        }),
    )
    .await?;
    app.put_policy(
        &p,
        json!({
            "id": "critical-services",
            "name": "Critical service alerts",
            "matchers": ["severity=\"critical\""],
            "levels": [
                {"targets": [{"kind": "schedule", "id": "sre-primary"}], "escalate_after": "10m"},
                {"targets": [{"kind": "user", "id": "ops-lead"}], "escalate_after": "15m"}
            ],
            "repeat": 1
        }),
    )
    .await?;
    if app
        .store
        .count(
            cairn_domain::Kind::AnomalyRule,
            &cairn_store::OwnerFilter::Any,
        )
        .await?
        == 0
    {
        app.create_record::<cairn_domain::AnomalyRule>(
            &p,
            json!({
                "id": "anomaly-service-traffic",
                "name": "ServiceTrafficAnomaly",
                "expr": "sum by (service) (rate(http_requests_total{job=\"demo\"}[5m]))",
                "sensitivity": 0.7,
                "severity": "warning",
                "summary": "Traffic left its usual pattern"
            }),
        )
        .await?;
    }
    tracing::info!("demo alerting installed: rules, routes, an on-call schedule, an escalation policy, an anomaly rule");
    Ok(())
}
