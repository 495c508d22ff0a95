//! The list: problems along the service topology first, then firing alerts, then
//! those resolved and still kept, collapsed.

use cairn_alert::Timestamp;
use cairn_app::alerting::{AlertView, ProblemView};
use cairn_domain::AnomalyRule;
use maud::{html, Markup};

use super::{ago, merchant_count, muted_marks, plural, severity_badge, since, tabs, SECTION};
use crate::ui::format::query;
use crate::ui::Page;

pub(super) fn list_page(
    now: Timestamp,
    alerts: &[AlertView],
    problems: &[ProblemView],
    severity: Option<&str>,
    rule: Option<&AnomalyRule>,
) -> Page {
    let wanted = |a: &AlertView| {
        severity.is_none_or(|s| a.labels.get("severity").map(String::as_str) == Some(s))
            && rule.is_none_or(|r| a.name == r.name)
    };
    let firing: Vec<&AlertView> = alerts
        .iter()
        .filter(|a| a.status == "firing" && wanted(a))
        .collect();
    let resolved: Vec<&AlertView> = alerts
        .iter()
        .filter(|a| a.status != "firing" && wanted(a))
        .collect();
    let problems: Vec<&ProblemView> = problems
        .iter()
        .filter(|pr| pr.alerts.iter().any(wanted))
        .collect();
    let mut severities: Vec<&str> = alerts
        .iter()
        .filter_map(|a| a.labels.get("severity").map(String::as_str))
        .chain(severity)
        .collect();
    severities.sort_unstable();
    severities.dedup();
    let filter_link = |s: Option<&str>| {
        let mut pairs = Vec::new();
        if let Some(s) = s {
            pairs.push(("severity".to_owned(), s.to_owned()));
        }
        if let Some(r) = rule {
            pairs.push(("rule".to_owned(), r.id.to_string()));
        }
        if pairs.is_empty() {
            "/ui/alerts".to_owned()
        } else {
            format!("/ui/alerts?{}", query(&pairs))
        }
    };
    Page {
        title: "Alerts".into(),
        section: Some(SECTION),
        body: html! {
            h1 { "Alerts" }
            (tabs("/ui/alerts"))
            @if let Some(r) = rule {
                p #rule-filter {
                    "Alerts of the anomaly rule "
                    a href=(format!("/ui/anomaly-rules/{}", r.id)) { (r.name) }
                    ". " a href="/ui/alerts" { "All alerts" }
                }
            }
            nav .filter-links #severity-filter aria-label="Severity" {
                span .muted { "Severity: " }
                a href=(filter_link(None)) aria-current=[severity.is_none().then_some("page")] { "all" }
                @for s in &severities {
                    " · "
                    a href=(filter_link(Some(s))) aria-current=[(severity == Some(*s)).then_some("page")] { (s) }
                }
            }
            p #alert-summary .summary {
                strong { (firing.len()) } " firing, " (plural(problems.len(), "problem")) ", "
                (resolved.len()) " resolved and still kept."
            }
            (problems_section(now, &problems))
            section .related #firing aria-labelledby="firing-title" {
                h2 #firing-title { "Firing alerts" }
                @if firing.is_empty() {
                    p .muted #no-firing { "Nothing is firing." }
                } @else {
                    (alerts_table(now, &firing, "firing-alerts"))
                }
            }
            @if !resolved.is_empty() {
                details .related #resolved {
                    summary { "Resolved, kept for a while (" (resolved.len()) ")" }
                    (alerts_table(now, &resolved, "resolved-alerts"))
                }
            }
        },
    }
}

fn service_link(id: &str, name: Option<&str>) -> Markup {
    html! { a href=(format!("/ui/services/{id}")) { (name.unwrap_or(id)) } }
}

fn problems_section(now: Timestamp, problems: &[&ProblemView]) -> Markup {
    html! {
        section .related #problems aria-labelledby="problems-title" {
            h2 #problems-title { "Problems" }
            @if problems.is_empty() {
                p .muted #no-problems { "No firing alert is on a service of the topology." }
            }
            @for pr in problems {
                article .problem id=(pr.id) {
                    h3 {
                        @match &pr.root {
                            Some(root) => { "Probable root: " (service_link(root, pr.root_name.as_deref())) },
                            None => "Alerts on no known service",
                        }
                    }
                    // The explanation walks the path from the farthest failing caller
                    // to the root, healthy services on the way named as such.
                    @if pr.path.len() > 1 && !pr.explanation.is_empty() {
                        p .explanation { (pr.explanation) }
                    }
                    p .services {
                        "Failing: "
                        @for (i, svc) in pr.services.iter().enumerate() {
                            @if i > 0 { ", " }
                            (service_link(svc, None))
                        }
                    }
                    p .counts {
                        strong { (plural(pr.alerts.len(), "alert")) } " on " (plural(pr.services.len(), "service")) " · "
                        "merchants affected: " (merchant_count(pr.merchant_count, pr.vip_count))
                        " · since " (since(now, pr.since))
                    }
                    ul .link-list .inline {
                        @for a in &pr.alerts {
                            li {
                                a href=(format!("/ui/alerts/{}", a.fingerprint)) { (a.name) }
                                " " (severity_badge(a.labels.get("severity").map(String::as_str)))
                            }
                        }
                    }
                    // One click: the problem's alerts attached, its root first among
                    // the services, the severity suggested from its impact.
                    form method="post" action="/ui/incidents" .declare-from {
                        input type="hidden" name="problem" value=(pr.id);
                        input type="hidden" name="title" value=(match &pr.root {
                            Some(root) => format!("{} failing ({})", pr.root_name.as_deref().unwrap_or(root.as_str()), plural(pr.alerts.len(), "alert")),
                            None => format!("{} on no known service", plural(pr.alerts.len(), "alert")),
                        });
                        button type="submit" .secondary { "Declare incident" }
                    }
                }
            }
        }
    }
}

fn alerts_table(now: Timestamp, alerts: &[&AlertView], id: &str) -> Markup {
    html! {
        div .table-wrap {
            table id=(id) {
                thead { tr {
                    th { "Alert" } th { "Severity" } th { "Summary" } th { "Service / instance" }
                    th { "Started" } th { "Acknowledged" } th { "Muted" } th .num { "Merchants" }
                } }
                tbody {
                    @for a in alerts {
                        tr data-fingerprint=(a.fingerprint) {
                            td { a href=(format!("/ui/alerts/{}", a.fingerprint)) { (a.name) } }
                            td { (severity_badge(a.labels.get("severity").map(String::as_str))) }
                            td .wrap { (a.annotations.get("summary").cloned().unwrap_or_default()) }
                            td {
                                @if let Some(svc) = a.labels.get("service") {
                                    @if a.impact.services.iter().any(|s| s.as_str() == svc) {
                                        (service_link(svc, None))
                                    } @else { (svc) }
                                }
                                @if let Some(instance) = a.labels.get("instance") {
                                    @if a.labels.contains_key("service") { " · " }
                                    code { (instance) }
                                }
                            }
                            td { (ago(now, a.starts_at)) }
                            td { (a.acknowledged.as_ref().map(|ack| ack.by.clone()).unwrap_or_default()) }
                            td { (muted_marks(a)) }
                            td .num { (merchant_count(a.impact.merchant_count, a.impact.vip_count)) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::alert;
    use super::*;

    #[test]
    fn the_list_filters_by_severity_and_keeps_resolved_alerts_apart() {
        let now = time::macros::datetime!(2026-11-25 04:00 UTC);
        let crit = alert(
            &[("alertname", "A"), ("severity", "critical")],
            &[("summary", "a is down")],
            "",
        );
        let warn = alert(&[("alertname", "B"), ("severity", "warning")], &[], "");
        let mut gone = alert(&[("alertname", "C"), ("severity", "critical")], &[], "");
        gone.status = "resolved";
        let all = [crit.clone(), warn.clone(), gone];
        let html = list_page(now, &all, &[], None, None).body.into_string();
        assert!(html.contains(r#"id="firing-alerts""#) && html.contains(r#"id="resolved-alerts""#));
        assert!(
            html.contains("a is down")
                && html.contains(&format!("/ui/alerts/{}", warn.fingerprint))
        );
        let html = list_page(now, &all, &[], Some("critical"), None)
            .body
            .into_string();
        assert!(html.contains(&format!("/ui/alerts/{}", crit.fingerprint)));
        assert!(!html.contains(&format!("/ui/alerts/{}", warn.fingerprint)));
        assert!(
            html.contains(r#"href="/ui/alerts?severity=warning""#),
            "the other severities stay offered"
        );
    }
}
