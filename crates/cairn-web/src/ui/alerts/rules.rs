//! Rule files → groups → rules with their health, and the anomaly rules with what
//! each detector says of its series now.

use cairn_alert::rules::Health;
use cairn_app::alerting::{AnomalyStatus, RuleView};
use cairn_domain::AnomalyRule;
use maud::{html, Markup};

use super::{labels_chips, severity_badge, tabs, SECTION};
use crate::ui::format::{moment, number, reading};
use crate::ui::Page;

fn health_badge(h: Health) -> Markup {
    let (class, text) = match h {
        Health::Ok => ("badge ok", "ok"),
        Health::Err => ("badge crit", "err"),
        Health::Unknown => ("badge muted", "unknown"),
    };
    html! { span class=(class) data-health=(text) { (text) } }
}

fn optional(v: Option<f64>) -> String {
    v.map(reading).unwrap_or_else(|| "—".into())
}

/// A rule file as the page shows it.
struct RuleFile<'a> {
    name: &'a str,
    groups: Vec<RuleGroup<'a>>,
}

struct RuleGroup<'a> {
    name: &'a str,
    interval_s: f64,
    rules: Vec<&'a RuleView>,
}

pub(super) fn rules_page(
    rules: &[RuleView],
    anomaly: &[AnomalyRule],
    status: &[AnomalyStatus],
) -> Page {
    // file → group → rules, in the use case's order.
    let mut files: Vec<RuleFile> = Vec::new();
    for r in rules {
        if files.last().is_none_or(|f| f.name != r.file) {
            files.push(RuleFile {
                name: &r.file,
                groups: Vec::new(),
            });
        }
        let groups = &mut files.last_mut().expect("pushed above").groups;
        if groups.last().is_none_or(|g| g.name != r.group) {
            groups.push(RuleGroup {
                name: &r.group,
                interval_s: r.interval_s,
                rules: Vec::new(),
            });
        }
        groups.last_mut().expect("pushed above").rules.push(r);
    }
    Page {
        title: "Rules".into(),
        section: Some(SECTION),
        body: html! {
            h1 { "Rules" }
            (tabs("/ui/alerts/rules"))
            section #rule-files {
                @if files.is_empty() {
                    p .muted #no-rules { "No rule files. Import a Prometheus rule file with POST /api/v1/rules?name=FILE." }
                }
                @for file in &files {
                    section .related .rule-file data-file=(file.name) {
                        h2 { "File " code { (file.name) } }
                        @for group in &file.groups {
                            h3 { "Group " (group.name) span .muted { " · every " (number(group.interval_s)) "s" } }
                            div .table-wrap {
                                table .rules {
                                    thead { tr {
                                        th { "Rule" } th { "Health" } th { "Last evaluation" } th .num { "Took (ms)" }
                                        th .num { "Pending" } th .num { "Firing" } th { "Error" }
                                    } }
                                    tbody {
                                        @for r in &group.rules {
                                            tr data-rule=(r.name) {
                                                td .wrap {
                                                    strong { (r.name) } " " span .muted { (r.kind) }
                                                    br; code .expr { (r.expr) }
                                                }
                                                td { (health_badge(r.health.health)) }
                                                td { (r.health.last_evaluation.map(moment).unwrap_or_else(|| "never".into())) }
                                                td .num { (r.health.evaluation_duration_ms.map(|d| format!("{d:.2}")).unwrap_or_else(|| "—".into())) }
                                                td .num { (r.pending) }
                                                td .num { (r.firing) }
                                                td .wrap { (r.health.last_error.clone().unwrap_or_default()) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section .related #anomaly-rules aria-labelledby="anomaly-title" {
                h2 #anomaly-title { "Anomaly rules" }
                p .muted { "No threshold: each series of the expression has a detector that learns its usual values and fires when it leaves them." }
                @if anomaly.is_empty() {
                    p .muted { "None. Add one under " a href="/ui/anomaly-rules" { "anomaly rules" } "." }
                }
                @for r in anomaly {
                    @let detectors: Vec<&AnomalyStatus> = status.iter().filter(|s| s.rule == r.name).collect();
                    article .anomaly-rule id=(format!("anomaly-{}", r.id)) {
                        h3 {
                            a href=(format!("/ui/anomaly-rules/{}", r.id)) { (r.name) } " "
                            (severity_badge(Some(&r.severity)))
                            @if !r.enabled { " " span .badge .muted { "disabled" } }
                        }
                        p { code .expr { (r.expr) } span .muted { " · sensitivity " (r.sensitivity) } }
                        @if detectors.is_empty() {
                            p .muted { "No series judged yet." }
                        } @else {
                            div .table-wrap {
                                table .detectors {
                                    thead { tr {
                                        th { "Series" } th .num { "Value" } th .num { "Expected" } th { "Band" }
                                        th .num { "Score" } th { "State" }
                                    } }
                                    tbody {
                                        @for d in detectors {
                                            tr .anomalous[d.anomalous] {
                                                td { (labels_chips(&d.labels, &[])) }
                                                td .num { (optional(d.value)) }
                                                td .num { (optional(d.expected)) }
                                                td { (optional(d.lo)) " – " (optional(d.hi)) }
                                                td .num { (d.score.map(|s| format!("{s:.2}")).unwrap_or_else(|| "—".into())) }
                                                td .wrap {
                                                    @if d.anomalous {
                                                        span .badge .crit { "anomalous" } " " (d.explanation.clone().unwrap_or_default())
                                                    } @else {
                                                        span .badge .ok { "usual" }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use cairn_alert::rules::RuleHealth;

    use super::*;

    fn rule(group: &str, name: &str, health: RuleHealth) -> RuleView {
        RuleView {
            file: "shop.yml".into(),
            group: group.into(),
            interval_s: 15.0,
            name: name.into(),
            kind: "alerting",
            expr: "up == 0".into(),
            health,
            pending: 0,
            firing: 1,
        }
    }

    #[test]
    fn rules_are_grouped_under_their_file_and_detectors_show_their_band() {
        let broken = RuleHealth {
            health: Health::Err,
            last_error: Some("vector cannot contain metrics with the same labelset".into()),
            ..RuleHealth::default()
        };
        let rules = [
            rule("shop", "A", RuleHealth::default()),
            rule("shop", "B", broken),
            rule("hosts", "C", RuleHealth::default()),
        ];
        let anomaly: AnomalyRule = serde_json::from_value(serde_json::json!({
            "id": "anomaly-traffic", "name": "TrafficAnomaly", "expr": "sum(rate(x[5m]))"
        }))
        .unwrap();
        let status = [AnomalyStatus {
            rule: "TrafficAnomaly".into(),
            labels: [("service".to_owned(), "svc-cart".to_owned())].into(),
            value: Some(97.0),
            expected: Some(15.0),
            lo: Some(10.5),
            hi: Some(20.25),
            score: Some(0.91),
            anomalous: true,
            explanation: Some("spike".into()),
        }];
        let html = rules_page(&rules, &[anomaly], &status).body.into_string();
        assert_eq!(html.matches(r#"data-file="shop.yml""#).count(), 1);
        assert_eq!(html.matches("<h3>Group ").count(), 2);
        assert!(html.contains(r#"data-health="err""#) && html.contains("same labelset"));
        assert_eq!(html.matches(r#"data-health="unknown""#).count(), 2);
        assert!(html.contains(r#"href="/ui/anomaly-rules/anomaly-traffic""#));
        assert!(
            html.contains("10.5 – 20.25") && html.contains("anomalous"),
            "{html}"
        );
    }
}
