//! One alert: its state, the actions on it, labels and annotations, a chart of the
//! metric behind it, what it touches in the model, and its history.

use cairn_alert::labels::go_quote;
use cairn_alert::{LabelSet, Timestamp};
use cairn_app::alerting::AlertView;
use cairn_app::App;
use cairn_domain::{AnomalyRule, Principal, Tier};
use cairn_store::HistoryRow;
use maud::{html, Markup};

use super::{
    flash, labels_chips, merchant_count, muted_marks, severity_badge, since, status_badge, SECTION,
};
use crate::ui::chart::{line_chart, Line};
use crate::ui::format::{moment, moment_text, query, reading};
use crate::ui::metrics::series_name;
use crate::ui::Page;

/// Labels that name an alert rather than the series it is about.
const ALERT_ONLY_LABELS: &[&str] = &["alertname", "severity"];

/// What an alert's chart shows, decided from the alert alone.
#[derive(Debug, Clone, PartialEq)]
enum ChartPlan {
    /// The series of an anomaly rule (found by name) that has these labels, with the
    /// band the detector expected when it flagged the point.
    Anomaly {
        rule: String,
        series: LabelSet,
        band: Option<(f64, f64)>,
    },
    /// A rule's expression (its left-hand side when it compares with a number, the
    /// number then drawn as the threshold); only series whose labels the alert
    /// carries are drawn.
    Expr {
        query: String,
        threshold: Option<(String, f64)>,
        series: LabelSet,
    },
    /// A selector made of the alert's own labels, for alerts without an expression.
    Selector { query: String },
    /// Why there is nothing to chart.
    Nothing(&'static str),
}

fn chart_plan(a: &AlertView) -> ChartPlan {
    if a.labels.get("detector").map(String::as_str) == Some("anomaly") {
        let series = a
            .labels
            .iter()
            .filter(|(k, _)| !ALERT_ONLY_LABELS.contains(&k.as_str()) && *k != "detector")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let band = a
            .annotations
            .get("expected_range")
            .and_then(|r| r.split_once('–'))
            .and_then(|(lo, hi)| Some((lo.trim().parse().ok()?, hi.trim().parse().ok()?)));
        return ChartPlan::Anomaly {
            rule: a.name.clone(),
            series,
            band,
        };
    }
    if let Some(expr) = generator_expr(&a.generator_url) {
        let (query, threshold) = split_threshold(&expr);
        return ChartPlan::Expr {
            query,
            threshold,
            series: a.labels.clone(),
        };
    }
    let matchers: Vec<String> = a
        .labels
        .iter()
        .filter(|(k, _)| {
            !ALERT_ONLY_LABELS.contains(&k.as_str()) && cairn_alert::labels::is_valid_label_name(k)
        })
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    if matchers.is_empty() {
        return ChartPlan::Nothing(
            "The alert came without an expression and carries no labels but its name and \
             severity, so no series can be found for it.",
        );
    }
    ChartPlan::Selector {
        query: format!("{{{}}}", matchers.join(", ")),
    }
}

/// The expression of a Prometheus generator URL (`…/graph?g0.expr=…`), as cairn's
/// rules and Prometheus' both write them.
fn generator_expr(url: &str) -> Option<String> {
    let (_, q) = url.split_once('?')?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).ok()?;
    pairs
        .into_iter()
        .find(|(k, _)| k == "g0.expr")
        .map(|(_, v)| v)
        .filter(|v| !v.trim().is_empty())
}

/// Splits `lhs > 0.05` into the side to chart and the threshold; other expressions
/// are charted as they are. A comparison only returns series while it holds, so
/// charting it whole would show nothing of how the value got there.
fn split_threshold(expr: &str) -> (String, Option<(String, f64)>) {
    use promql_parser::parser::{parse, Expr};
    let Ok(mut e) = parse(expr) else {
        return (expr.to_owned(), None);
    };
    while let Expr::Paren(p) = e {
        e = *p.expr;
    }
    if let Expr::Binary(b) = &e {
        if b.op.is_comparison_operator() && !b.return_bool() {
            let op = b.op.to_string();
            match (&*b.lhs, &*b.rhs) {
                (side, Expr::NumberLiteral(n)) if !matches!(side, Expr::NumberLiteral(_)) => {
                    return (
                        side.to_string(),
                        Some((format!("threshold {op} {}", n.val), n.val)),
                    );
                }
                (Expr::NumberLiteral(n), side) => {
                    // `5 < x` reads as `x > 5`.
                    let flipped = match op.as_str() {
                        "<" => ">",
                        ">" => "<",
                        "<=" => ">=",
                        ">=" => "<=",
                        other => other,
                    };
                    return (
                        side.to_string(),
                        Some((format!("threshold {flipped} {}", n.val), n.val)),
                    );
                }
                _ => {}
            }
        }
    }
    (expr.to_owned(), None)
}

/// The time the chart covers: from half an hour before the alert started (at most a
/// week) to its end or now, in milliseconds, with a step of about 240 points.
fn chart_window(a: &AlertView, now: Timestamp) -> (i64, i64, i64) {
    let ms = |t: Timestamp| (t.unix_timestamp_nanos() / 1_000_000) as i64;
    let end = a.ends_at.filter(|e| *e < now).unwrap_or(now);
    let start = (a.starts_at - time::Duration::minutes(30))
        .max(end - time::Duration::days(7))
        .min(end - time::Duration::minutes(15));
    let (start, end) = (ms(start), ms(end));
    (start, end, ((end - start) / 240).max(15_000))
}

/// The explorer's range that covers a span of milliseconds.
fn explorer_range(span_ms: i64) -> &'static str {
    match span_ms {
        s if s <= 3_600_000 => "1h",
        s if s <= 21_600_000 => "6h",
        s if s <= 86_400_000 => "24h",
        _ => "7d",
    }
}

/// The chart section's content: the chart, or a plain sentence saying why there is
/// none.
pub(super) struct AlertChart {
    query: Option<String>,
    lines: Vec<Line>,
    note: Option<String>,
    explore: Option<String>,
}

impl AlertChart {
    /// No chart, and why.
    fn note(why: String) -> AlertChart {
        AlertChart {
            query: None,
            lines: Vec::new(),
            note: Some(why),
            explore: None,
        }
    }
}

/// Which series of the query's result belong to the alert.
enum Keep {
    /// Exactly these labels: an anomaly detector's series.
    Exactly(LabelSet),
    /// Labels the alert carries: a rule's alert has its series' labels and its own.
    Within(LabelSet),
    /// Every series: the query was made of the alert's labels.
    All,
}

impl Keep {
    fn admits(&self, labels: &LabelSet) -> bool {
        match self {
            Keep::Exactly(want) => labels == want,
            Keep::Within(alert) => labels.iter().all(|(k, v)| alert.get(k) == Some(v)),
            Keep::All => true,
        }
    }
}

/// The expression of the anomaly rule called `name`, or why it cannot be had.
async fn anomaly_expr(app: &App, p: &Principal, name: &str) -> Result<String, String> {
    let pairs = [(
        "limit".to_owned(),
        cairn_app::records::MAX_LIMIT.to_string(),
    )];
    let rules = app
        .list_records::<AnomalyRule>(p, &pairs)
        .await
        .map_err(|e| format!("The anomaly rule could not be read: {e}"))?;
    rules
        .items
        .into_iter()
        .find(|r| r.name == name)
        .map(|r| r.expr)
        .ok_or_else(|| {
            format!("No anomaly rule is called {name} any more, so its expression is unknown.")
        })
}

/// Charts the metric behind an alert (see [`ChartPlan`]).
pub(super) async fn chart(app: &App, p: &Principal, a: &AlertView) -> AlertChart {
    let (start, end, step) = chart_window(a, app.now());
    let constant = |label: String, v: f64| Line {
        label,
        points: vec![(start, v), (end, v)],
    };
    let (query, keep, extra) = match chart_plan(a) {
        ChartPlan::Nothing(why) => return AlertChart::note(why.to_owned()),
        ChartPlan::Anomaly { rule, series, band } => {
            let expr = match anomaly_expr(app, p, &rule).await {
                Ok(expr) => expr,
                Err(why) => return AlertChart::note(why),
            };
            let band = band
                .map(|(lo, hi)| {
                    vec![
                        constant("expected low (when flagged)".into(), lo),
                        constant("expected high (when flagged)".into(), hi),
                    ]
                })
                .unwrap_or_default();
            (expr, Keep::Exactly(series), band)
        }
        ChartPlan::Expr {
            query,
            threshold,
            series,
        } => {
            let threshold = threshold
                .map(|(label, v)| vec![constant(label, v)])
                .unwrap_or_default();
            (query, Keep::Within(series), threshold)
        }
        ChartPlan::Selector { query } => (query, Keep::All, Vec::new()),
    };
    let explore = Some(format!(
        "/ui/metrics?{}",
        query_pairs(&query, explorer_range(end - start))
    ));
    match app.query_range(p, query.clone(), start, end, step).await {
        Err(e) => AlertChart {
            query: Some(query),
            lines: Vec::new(),
            note: Some(format!("The metrics store could not answer: {e}")),
            explore,
        },
        Ok(cairn_promql::Value::Matrix(series)) => {
            let mut lines: Vec<Line> = series
                .into_iter()
                .filter(|s| {
                    let labels: LabelSet = s
                        .labels
                        .iter()
                        .filter(|(k, _)| k != "__name__")
                        .cloned()
                        .collect();
                    keep.admits(&labels)
                })
                .map(|s| Line {
                    label: series_name(&s.labels),
                    points: s.samples,
                })
                .collect();
            let note = lines.is_empty().then(|| {
                "The metrics store has no samples of this alert's series in the window, so \
                 there is nothing to chart."
                    .to_owned()
            });
            if !lines.is_empty() {
                lines.extend(extra);
            }
            AlertChart {
                query: Some(query),
                lines,
                note,
                explore,
            }
        }
        Ok(_) => AlertChart {
            query: Some(query),
            lines: Vec::new(),
            note: Some("The expression does not give series over time.".into()),
            explore,
        },
    }
}

fn query_pairs(q: &str, range: &str) -> String {
    query(&[
        ("query".to_owned(), q.to_owned()),
        ("range".to_owned(), range.to_owned()),
    ])
}

pub(super) fn detail_page(
    now: Timestamp,
    a: &AlertView,
    history: &[HistoryRow],
    chart: AlertChart,
    done: Option<&str>,
) -> Page {
    let severity = a.labels.get("severity").map(String::as_str);
    let prefill: String = a
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={}\n", go_quote(v)))
        .collect();
    let silence_link = format!(
        "/ui/alerts/silences?{}#new-silence",
        query(&[("matchers".to_owned(), prefill)])
    );
    let main_annotations = ["summary", "description"];
    Page {
        title: format!("{} · alert", a.name),
        section: Some(SECTION),
        body: html! {
            p .kind-label {
                a href="/ui/alerts" { "Alerts" } " › alert " code { (a.fingerprint) }
            }
            h1 #alert-name { (a.name) }
            (flash(done))
            p #alert-state {
                (status_badge(a.status)) " " (severity_badge(severity)) " " (muted_marks(a))
                " started " (since(now, a.starts_at))
                @if let Some(end) = a.ends_at.filter(|_| a.status != "firing") {
                    ", ended " (since(now, end))
                }
                "."
            }
            @if let Some(ack) = &a.acknowledged {
                p #acknowledged { "Acknowledged by " strong { (ack.by) } " at " (moment(ack.at)) "." }
            }
            @if !a.silenced_by.is_empty() {
                p #silenced-by { "Silenced by "
                    @for (i, id) in a.silenced_by.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href=(format!("/ui/alerts/silences#silence-{id}")) { code { (id) } }
                    }
                    "."
                }
            }
            @if !a.inhibited_by.is_empty() {
                p #inhibited-by { "Inhibited by "
                    @for (i, fp) in a.inhibited_by.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href=(format!("/ui/alerts/{fp}")) { code { (fp) } }
                    }
                    "."
                }
            }
            @for key in main_annotations {
                @if let Some(text) = a.annotations.get(key) {
                    p class=(format!("annotation-{key}")) { (text) }
                }
            }
            div .alert-actions #alert-actions {
                @if a.acknowledged.is_none() && a.status == "firing" {
                    form method="post" action=(format!("/ui/alerts/{}/ack", a.fingerprint)) {
                        button #ack-button type="submit" { "Acknowledge" }
                    }
                }
                @if a.status == "firing" {
                    form method="post" action=(format!("/ui/alerts/{}/resolve", a.fingerprint)) {
                        button #resolve-button .secondary type="submit" { "Resolve" }
                    }
                }
                form .quick-silence method="post" action=(format!("/ui/alerts/{}/silence", a.fingerprint)) {
                    label for="silence-comment" .visually-hidden { "Why silence it" }
                    input #silence-comment type="text" name="comment" required
                        value="Being worked on" aria-label="Why silence it";
                    button #silence-button .secondary type="submit" { "Silence for 2h" }
                }
                a href=(silence_link) #silence-other { "Silence with other matchers…" }
                @if a.status == "firing" {
                    form method="post" action="/ui/incidents" #declare-from-alert {
                        input type="hidden" name="alert" value=(a.fingerprint);
                        input type="hidden" name="title" value=(a.annotations.get("summary").cloned().unwrap_or_else(|| a.name.clone()));
                        button .secondary type="submit" { "Declare incident" }
                    }
                }
            }
            section .related #alert-labels aria-labelledby="labels-title" {
                h2 #labels-title { "Labels" }
                (labels_chips(&a.labels, &[]))
                @let others: Vec<(&String, &String)> = a.annotations.iter()
                    .filter(|(k, _)| !main_annotations.contains(&k.as_str())).collect();
                @if !others.is_empty() {
                    h3 { "Annotations" }
                    dl .fields #alert-annotations {
                        @for (k, v) in others {
                            div { dt { (k) } dd { (v) } }
                        }
                    }
                }
                @if !a.generator_url.is_empty() {
                    p .muted { "Sent by " code { (a.generator_url) } }
                }
            }
            section .related #alert-chart aria-labelledby="chart-title" {
                h2 #chart-title { "Chart" }
                @if let Some(q) = &chart.query {
                    p .muted { "Series of " code { (q) } }
                }
                @if !chart.lines.is_empty() {
                    (line_chart(&chart.lines, chart.query.as_deref().unwrap_or("the alert")))
                }
                @if let Some(note) = &chart.note {
                    p .muted #chart-note { (note) }
                }
                @if let Some(href) = &chart.explore {
                    p { a href=(href) { "Open in the metrics explorer" } }
                }
            }
            (impact_section(a))
            (history_section(history))
        },
    }
}

fn impact_section(a: &AlertView) -> Markup {
    let i = &a.impact;
    let places: [(&str, &str, Vec<&str>); 4] = [
        (
            "Hosts",
            "hosts",
            i.hosts.iter().map(|x| x.as_str()).collect(),
        ),
        (
            "Pools",
            "pools",
            i.pools.iter().map(|x| x.as_str()).collect(),
        ),
        (
            "Zones",
            "zones",
            i.zones.iter().map(|x| x.as_str()).collect(),
        ),
        (
            "Services",
            "services",
            i.services.iter().map(|x| x.as_str()).collect(),
        ),
    ];
    html! {
        section .related #alert-impact aria-labelledby="impact-title" {
            h2 #impact-title { "Impact" }
            @if places.iter().all(|(_, _, ids)| ids.is_empty()) && i.merchants.is_empty() {
                p .muted { "The alert's labels name nothing cairn knows: no host, pool, zone, service or merchant." }
            }
            dl .fields {
                @for (label, plural, ids) in &places {
                    @if !ids.is_empty() {
                        div {
                            dt { (label) }
                            dd { ul .link-list .inline {
                                @for id in ids { li { a href=(format!("/ui/{plural}/{id}")) { (id) } } }
                            } }
                        }
                    }
                }
            }
            @if !i.merchants.is_empty() {
                h3 { "Merchants affected: " (merchant_count(i.merchant_count, i.vip_count)) }
                div .table-wrap {
                    table #affected-merchants {
                        thead { tr { th { "Merchant" } th { "Tier" } th .num { "Instances" } } }
                        tbody {
                            @for m in i.merchants.iter().take(MERCHANTS_SHOWN) {
                                tr .vip[m.tier == Tier::Vip] {
                                    td { a href=(format!("/ui/merchants/{}", m.id)) { (m.name) } }
                                    td { @if m.tier == Tier::Vip { span .badge .warn { "VIP" } } @else { "standard" } }
                                    td .num { (m.instances) }
                                }
                            }
                        }
                    }
                }
                @if i.merchants.len() > MERCHANTS_SHOWN {
                    p .muted #more-merchants { "and " (i.merchants.len() - MERCHANTS_SHOWN) " more; VIPs come first in the list." }
                }
            }
        }
    }
}

/// The most affected merchants the alert page lists; the count covers them all.
const MERCHANTS_SHOWN: usize = 100;

/// One history event in words.
fn describe(row: &HistoryRow) -> String {
    let d = &row.detail;
    let text = |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let list = |k: &str| {
        d.get(k)
            .and_then(|v| v.as_array())
            .map(|xs| {
                xs.iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let value = || {
        d.get("value")
            .and_then(|v| {
                v.as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .map(|v| format!(" at value {}", reading(v)))
            .unwrap_or_default()
    };
    match row.event.as_str() {
        "pending" => format!("Pending{}, waiting out the rule's for", value()),
        "firing" => format!("Firing{}", value()),
        "cancelled" => "Cancelled: the series went away before for passed".into(),
        "resolved" => "Resolved".into(),
        "silenced" => format!("Silenced by {}", list("silence_ids")),
        "inhibited" => format!("Inhibited by {}", list("by")),
        "unmuted" => "No longer muted".into(),
        "notified" => format!(
            "Notified {} by {} ({}, group {})",
            text("receiver"),
            text("integration"),
            text("status"),
            text("group_key")
        ),
        "acknowledged" => format!("Acknowledged by {}", text("by")),
        other => other.to_owned(),
    }
}

fn history_section(history: &[HistoryRow]) -> Markup {
    html! {
        section .related #alert-history aria-labelledby="history-title" {
            h2 #history-title { "History" }
            @if history.is_empty() {
                p .muted { "No events recorded yet." }
            } @else {
                ol .timeline {
                    // The store gives newest first; a timeline reads oldest first.
                    @for row in history.iter().rev() {
                        li data-event=(row.event) {
                            time datetime=(row.at) { (moment_text(&row.at)) }
                            (describe(row))
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
    fn a_rule_alert_charts_the_left_side_of_its_comparison_with_the_threshold() {
        let a = alert(
            &[
                ("alertname", "ServiceHighErrorRate"),
                ("service", "svc-order"),
                ("severity", "critical"),
            ],
            &[],
            "http://cairn:8080/graph?g0.expr=service%3Ahttp_errors%3Aratio5m+%3E+0.05&g0.tab=1",
        );
        match chart_plan(&a) {
            ChartPlan::Expr {
                query,
                threshold,
                series,
            } => {
                assert_eq!(query, "service:http_errors:ratio5m");
                assert_eq!(threshold, Some(("threshold > 0.05".into(), 0.05)));
                assert_eq!(series, a.labels);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            split_threshold("(0.9 <= rate(x[5m]))"),
            ("rate(x[5m])".into(), Some(("threshold >= 0.9".into(), 0.9)))
        );
        assert_eq!(
            split_threshold("up == bool 0"),
            ("up == bool 0".into(), None)
        );
        assert_eq!(split_threshold("absent(up)"), ("absent(up)".into(), None));
    }

    #[test]
    fn an_alert_without_an_expression_charts_the_series_its_labels_select() {
        let a = alert(
            &[
                ("alertname", "DiskFull"),
                ("instance", "db-1:9100"),
                ("severity", "warning"),
                ("job", "no\"de"),
            ],
            &[],
            "http://prometheus:9090/graph",
        );
        assert_eq!(
            chart_plan(&a),
            ChartPlan::Selector {
                query: r#"{instance="db-1:9100", job="no\"de"}"#.into()
            }
        );
        let bare = alert(
            &[("alertname", "PaymentDown"), ("severity", "critical")],
            &[],
            "",
        );
        assert!(matches!(chart_plan(&bare), ChartPlan::Nothing(_)));
    }

    #[test]
    fn an_anomaly_alert_charts_its_series_against_the_expected_band() {
        let a = alert(
            &[
                ("alertname", "ServiceTrafficAnomaly"),
                ("detector", "anomaly"),
                ("service", "svc-cart"),
                ("severity", "warning"),
            ],
            &[("expected_range", "10.5000–20.2500"), ("value", "97.0000")],
            "/ui/alerts?rule=anomaly-service-traffic",
        );
        assert_eq!(
            chart_plan(&a),
            ChartPlan::Anomaly {
                rule: "ServiceTrafficAnomaly".into(),
                series: [("service".to_owned(), "svc-cart".to_owned())].into(),
                band: Some((10.5, 20.25)),
            }
        );
    }
}
