//! The alerting pages: what is wrong now (problems along the service topology, then
//! firing alerts, then those resolved but still kept), one alert with its labels,
//! impact, chart and history, silences, rules with their health, who is on call with
//! the escalation policies, and the notification log.
//!
//! Every page reads through the use cases `/api/v1` uses, so a merchant gets the use
//! case's 403 here too. Acting on an alert or a silence is a plain HTML form posting
//! to a route of this module, which calls the use case and redirects back with
//! `?done=…` (post/redirect/get: reloading the page does not act twice). The forms
//! carry no token of their own, like the sign-out form: the session cookie is
//! `SameSite=Lax`, so a page on another site cannot post them with it (`login.rs`),
//! and the pages' CSP lets forms post to cairn only.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use cairn_alert::api::{ApiMatcher, GettableSilence, PostableSilence};
use cairn_alert::labels::go_quote;
use cairn_alert::matchers::{MatchType, Matcher};
use cairn_alert::oncall::{OnCall, Schedule, Shift, Source, Target};
use cairn_alert::rules::Health;
use cairn_alert::silence::SilenceState;
use cairn_alert::{LabelSet, Timestamp};
use cairn_app::alerting::{AlertView, AnomalyStatus, PolicyDoc, ProblemView, RuleView};
use cairn_app::App;
use cairn_domain::{AnomalyRule, Principal, Tier};
use cairn_store::{DeliveryRow, HistoryRow};
use maud::{html, Markup};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::chart::{line_chart, Line};
use super::format::{moment, moment_text, number, query, span};
use super::layout::{error_response, html_response, respond, shell};
use super::metrics::series_name;
use super::{Page, UiError};
use crate::auth::Viewer;
use crate::AppState;

/// The navigation section every alerting page belongs to.
const SECTION: &str = "/ui/alerts";

/// The pages of the section, shown as tabs on each: label and path.
const TABS: &[(&str, &str)] = &[
    ("Alerts", "/ui/alerts"),
    ("Silences", "/ui/alerts/silences"),
    ("Rules", "/ui/alerts/rules"),
    ("On call", "/ui/alerts/oncall"),
    ("Notifications", "/ui/alerts/notifications"),
];

/// How long the alert page's one-click silence lasts.
const QUICK_SILENCE: time::Duration = time::Duration::hours(2);

/// Delivery attempts per page of the notification log.
const LOG_PAGE: u32 = 50;

/// Days of shifts the on-call page shows.
const ONCALL_DAYS: i64 = 7;

// ---------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------

/// The query of `/ui/alerts`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only alerts of this severity (and problems with one).
    #[serde(default)]
    severity: Option<String>,
    /// Only the alerts of this anomaly rule (the rule's alerts link here).
    #[serde(default)]
    rule: Option<String>,
}

/// The query of pages that only report what a form did.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoneParams {
    #[serde(default)]
    done: Option<String>,
}

/// The query of `/ui/alerts/silences`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilencesParams {
    #[serde(default)]
    done: Option<String>,
    /// Matcher lines to start the new-silence form with (the alert page links here).
    #[serde(default)]
    matchers: Option<String>,
}

/// The query of `/ui/alerts/notifications`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    /// Only attempts older than this sequence number (the next page).
    #[serde(default)]
    before: Option<String>,
}

/// The new-silence form.
#[derive(Debug, Default, Deserialize)]
pub struct SilenceForm {
    /// One matcher a line: `name="value"`, `name=~"regex"`, `name!="value"`.
    #[serde(default)]
    matchers: String,
    /// A Prometheus duration such as `2h` or `1d`.
    #[serde(default)]
    duration: String,
    #[serde(default)]
    comment: String,
}

/// The alert page's silence form.
#[derive(Debug, Default, Deserialize)]
pub struct QuickSilenceForm {
    #[serde(default)]
    comment: String,
}

fn params<T: DeserializeOwned>(q: Result<Query<T>, QueryRejection>) -> Result<T, UiError> {
    q.map(|Query(t)| t)
        .map_err(|e| UiError::new(StatusCode::BAD_REQUEST, e.body_text()))
}

/// A form's redirect, or the error page of what went wrong.
fn after_form(p: &Principal, to: Result<String, UiError>) -> Response {
    match to {
        Ok(to) => Redirect::to(&to).into_response(),
        Err(e) => error_response(Some(p), e),
    }
}

/// `GET /ui/alerts`
pub async fn list(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    q: Result<Query<ListParams>, QueryRejection>,
) -> Response {
    let page = async {
        let q = params(q)?;
        let alerts = s.app.alerts(&p, true).await?;
        let problems = s.app.problems(&p).await?;
        // The anomaly engine's alerts link to their rule by id; the alerts carry the
        // rule's name.
        let rule = match q.rule.as_deref().filter(|r| !r.is_empty()) {
            Some(id) => Some(s.app.get_record::<AnomalyRule>(&p, id).await?),
            None => None,
        };
        let severity = q.severity.filter(|v| !v.is_empty());
        Ok(list_page(
            s.app.now(),
            &alerts,
            &problems,
            severity.as_deref(),
            rule.as_ref(),
        ))
    };
    respond(&p, page.await)
}

/// `GET /ui/alerts/{fingerprint}`
pub async fn detail(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(fp): Path<String>,
    q: Result<Query<DoneParams>, QueryRejection>,
) -> Response {
    let page = async {
        let q = params(q)?;
        let (alert, history) = s.app.alert(&p, &fp).await?;
        let chart = chart(&s.app, &p, &alert).await;
        Ok(detail_page(
            s.app.now(),
            &alert,
            &history,
            chart,
            q.done.as_deref(),
        ))
    };
    respond(&p, page.await)
}

/// `POST /ui/alerts/{fingerprint}/ack`
pub async fn acknowledge(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(fp): Path<String>,
) -> Response {
    let to = async {
        // Read the alert first: only a fingerprint names one here (the use case also
        // takes group keys), and the redirect uses the fingerprint it gives back.
        let (alert, _) = s.app.alert(&p, &fp).await?;
        s.app.acknowledge(&p, &alert.fingerprint).await?;
        Ok(format!("/ui/alerts/{}?done=acknowledged", alert.fingerprint))
    };
    after_form(&p, to.await)
}

/// `POST /ui/alerts/{fingerprint}/resolve`
pub async fn resolve(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(fp): Path<String>,
) -> Response {
    let to = async {
        let (alert, _) = s.app.alert(&p, &fp).await?;
        s.app.resolve_alert(&p, &alert.fingerprint).await?;
        Ok(format!("/ui/alerts/{}?done=resolved", alert.fingerprint))
    };
    after_form(&p, to.await)
}

/// `POST /ui/alerts/{fingerprint}/silence`: silences exactly this alert (every one of
/// its labels) for [`QUICK_SILENCE`].
pub async fn silence_alert(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(fp): Path<String>,
    form: Result<Form<QuickSilenceForm>, FormRejection>,
) -> Response {
    let to = async {
        let Form(form) = form.map_err(|e| UiError::new(e.status(), e.body_text()))?;
        let (alert, _) = s.app.alert(&p, &fp).await?;
        let matchers: Vec<ApiMatcher> = alert
            .labels
            .iter()
            .map(|(k, v)| ApiMatcher {
                name: k.clone(),
                value: v.clone(),
                is_regex: false,
                is_equal: true,
            })
            .collect();
        let body = silence_body(matchers, s.app.now(), QUICK_SILENCE, &form.comment);
        s.app.set_silence(&p, body).await?;
        Ok(format!("/ui/alerts/{}?done=silenced", alert.fingerprint))
    };
    after_form(&p, to.await)
}

/// `GET /ui/alerts/silences`
pub async fn silences(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    q: Result<Query<SilencesParams>, QueryRejection>,
) -> Response {
    let page = async {
        let q = params(q)?;
        let list = s.app.silences(&p).await?;
        let form = SilenceForm {
            matchers: q.matchers.unwrap_or_default(),
            duration: "2h".into(),
            comment: String::new(),
        };
        Ok(silences_page(&list, &form, None, q.done.as_deref()))
    };
    respond(&p, page.await)
}

/// `POST /ui/alerts/silences`: creates a silence from the form. A mistake in the
/// form shows the page again with what was typed and what is wrong.
pub async fn create_silence(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    form: Result<Form<SilenceForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return error_response(Some(&p), UiError::new(e.status(), e.body_text())),
    };
    let attempt = async {
        let matchers = parse_matcher_lines(&form.matchers)
            .map_err(|m| UiError::new(StatusCode::BAD_REQUEST, format!("matchers: {m}")))?;
        let length = cairn_alert::duration::parse_duration(form.duration.trim())
            .ok()
            .filter(|d| d.is_positive())
            .ok_or_else(|| {
                UiError::new(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "duration: {:?} is not a duration such as 30m, 2h or 1d",
                        form.duration
                    ),
                )
            })?;
        let body = silence_body(matchers, s.app.now(), length, &form.comment);
        s.app.set_silence(&p, body).await?;
        Ok::<_, UiError>(())
    };
    match attempt.await {
        Ok(()) => Redirect::to("/ui/alerts/silences?done=created").into_response(),
        Err(e) if e.status == StatusCode::BAD_REQUEST => match s.app.silences(&p).await {
            Ok(list) => html_response(
                e.status,
                shell(Some(&p), &silences_page(&list, &form, Some(&e.message), None)),
            ),
            Err(other) => error_response(Some(&p), other.into()),
        },
        Err(e) => error_response(Some(&p), e),
    }
}

/// `POST /ui/alerts/silences/{id}/expire`
pub async fn expire_silence(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
) -> Response {
    let to = async {
        s.app.expire_silence(&p, &id).await?;
        Ok("/ui/alerts/silences?done=expired".to_owned())
    };
    after_form(&p, to.await)
}

/// `GET /ui/alerts/rules`
pub async fn rules(State(s): State<AppState>, Viewer(p): Viewer) -> Response {
    let page = async {
        let rules = s.app.rules(&p).await?;
        let pairs = [("limit".to_owned(), cairn_app::records::MAX_LIMIT.to_string())];
        let anomaly_rules = s.app.list_records::<AnomalyRule>(&p, &pairs).await?.items;
        let status = s.app.anomaly_status(&p).await?;
        Ok(rules_page(&rules, &anomaly_rules, &status))
    };
    respond(&p, page.await)
}

/// `GET /ui/alerts/oncall`
pub async fn oncall(State(s): State<AppState>, Viewer(p): Viewer) -> Response {
    let page = async {
        let schedules = s.app.on_call(&p, ONCALL_DAYS).await?;
        let policies = s.app.policies(&p).await?;
        Ok(oncall_page(s.app.now(), &schedules, &policies))
    };
    respond(&p, page.await)
}

/// `GET /ui/alerts/notifications`
pub async fn notifications(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    q: Result<Query<LogParams>, QueryRejection>,
) -> Response {
    let page = async {
        let q = params(q)?;
        let before = match q.before.as_deref().filter(|b| !b.is_empty()) {
            None => None,
            Some(b) => Some(b.parse::<i64>().map_err(|_| {
                UiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("before: must be a whole number, got {b:?}"),
                )
            })?),
        };
        let rows = s.app.notification_log(&p, before, LOG_PAGE).await?;
        Ok(log_page(&rows, before.is_some()))
    };
    respond(&p, page.await)
}

// ---------------------------------------------------------------------------------
// Pieces every page shares
// ---------------------------------------------------------------------------------

fn tabs(current: &str) -> Markup {
    html! {
        nav aria-label="Alerting" {
            ul .tabs #alert-tabs {
                @for (label, href) in TABS {
                    li { a href=(href) aria-current=[(*href == current).then_some("page")] { (label) } }
                }
            }
        }
    }
}

/// What a form did, from the `done` of the redirect; other values show nothing, so
/// a link cannot make a page claim something happened.
fn flash(done: Option<&str>) -> Markup {
    let text = match done {
        Some("acknowledged") => "Acknowledged: escalation stops for this alert.",
        Some("resolved") => "Resolved by hand. A rule that still matches fires it again.",
        Some("silenced") => "Silenced for two hours.",
        Some("created") => "Silence created.",
        Some("expired") => "Silence expired.",
        _ => return html! {},
    };
    html! { p .notice #flash role="status" data-done=(done.unwrap_or_default()) { (text) } }
}

fn severity_badge(severity: Option<&str>) -> Markup {
    let class = match severity {
        Some("critical" | "page" | "error") => "badge crit",
        Some("warning" | "warn") => "badge warn",
        _ => "badge info",
    };
    let text = severity.unwrap_or("none");
    html! { span class=(class) data-severity=(text) { (text) } }
}

fn status_badge(status: &str) -> Markup {
    let class = if status == "firing" {
        "badge crit"
    } else {
        "badge ok"
    };
    html! { span class=(class) data-status=(status) { (status) } }
}

/// Silenced and inhibited marks of an alert.
fn muted_marks(a: &AlertView) -> Markup {
    html! {
        @if !a.silenced_by.is_empty() {
            span .badge .muted .silenced title=(format!("silenced by {}", a.silenced_by.join(", "))) { "silenced" } " "
        }
        @if !a.inhibited_by.is_empty() {
            span .badge .muted .inhibited title=(format!("inhibited by {}", a.inhibited_by.join(", "))) { "inhibited" }
        }
    }
}

/// The merchants an alert or a problem hurts, VIPs called out.
fn merchant_count(merchants: usize, vips: usize) -> Markup {
    html! {
        (merchants)
        @if vips > 0 { " " span .badge .warn .vip { (vips) " VIP" } }
    }
}

/// An instant with how long ago it was.
fn since(now: Timestamp, t: Timestamp) -> Markup {
    html! {
        time datetime=(t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()) {
            (moment(t))
        }
        @if now > t { span .muted { " (" (span(now - t)) " ago)" } }
    }
}

fn labels_chips(labels: &LabelSet, skip: &[&str]) -> Markup {
    html! {
        ul .chips {
            @for (k, v) in labels.iter().filter(|(k, _)| !skip.contains(&k.as_str())) {
                li .chip { (k) "=" (v) }
            }
        }
    }
}

fn api_matcher_text(m: &ApiMatcher) -> String {
    let op = match (m.is_regex, m.is_equal) {
        (false, true) => "=",
        (false, false) => "!=",
        (true, true) => "=~",
        (true, false) => "!~",
    };
    format!("{}{op}{}", m.name, go_quote(&m.value))
}

// ---------------------------------------------------------------------------------
// The list: problems, firing alerts, resolved ones
// ---------------------------------------------------------------------------------

fn list_page(
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
                strong { (firing.len()) } " firing, " (problems.len()) " problems, "
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
                    @if !pr.path.is_empty() {
                        p .path {
                            @for (i, svc) in pr.path.iter().enumerate() {
                                @if i > 0 { " → " }
                                (service_link(svc, None))
                            }
                        }
                    }
                    @if !pr.explanation.is_empty() {
                        p .explanation { (pr.explanation) }
                    }
                    p .counts {
                        strong { (pr.alerts.len()) } " alerts on " (pr.services.len()) " services · "
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
                            td { (since(now, a.starts_at)) }
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

// ---------------------------------------------------------------------------------
// One alert
// ---------------------------------------------------------------------------------

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
struct AlertChart {
    query: Option<String>,
    lines: Vec<Line>,
    note: Option<String>,
    explore: Option<String>,
}

/// Charts the metric behind an alert (see [`ChartPlan`]).
async fn chart(app: &App, p: &Principal, a: &AlertView) -> AlertChart {
    let plan = chart_plan(a);
    let (start, end, step) = chart_window(a, app.now());
    let constant = |label: String, v: f64| Line {
        label,
        points: vec![(start, v), (end, v)],
    };
    let (query, keep, extra): (String, Box<dyn Fn(&LabelSet) -> bool + Send>, Vec<Line>) =
        match plan {
            ChartPlan::Nothing(why) => {
                return AlertChart {
                    query: None,
                    lines: Vec::new(),
                    note: Some(why.to_owned()),
                    explore: None,
                }
            }
            ChartPlan::Anomaly { rule, series, band } => {
                let pairs = [("limit".to_owned(), cairn_app::records::MAX_LIMIT.to_string())];
                let expr = match app.list_records::<AnomalyRule>(p, &pairs).await {
                    Ok(page) => page.items.into_iter().find(|r| r.name == rule).map(|r| r.expr),
                    Err(e) => {
                        return AlertChart {
                            query: None,
                            lines: Vec::new(),
                            note: Some(format!("The anomaly rule could not be read: {e}")),
                            explore: None,
                        }
                    }
                };
                let Some(expr) = expr else {
                    return AlertChart {
                        query: None,
                        lines: Vec::new(),
                        note: Some(format!(
                            "No anomaly rule is called {rule} any more, so its expression is unknown."
                        )),
                        explore: None,
                    };
                };
                let extra = band
                    .map(|(lo, hi)| {
                        vec![
                            constant("expected low (when flagged)".into(), lo),
                            constant("expected high (when flagged)".into(), hi),
                        ]
                    })
                    .unwrap_or_default();
                (expr, Box::new(move |l: &LabelSet| *l == series), extra)
            }
            ChartPlan::Expr {
                query,
                threshold,
                series,
            } => {
                let extra = threshold
                    .map(|(label, v)| vec![constant(label, v)])
                    .unwrap_or_default();
                let keep = move |l: &LabelSet| l.iter().all(|(k, v)| series.get(k) == Some(v));
                (query, Box::new(keep), extra)
            }
            ChartPlan::Selector { query } => (query, Box::new(|_: &LabelSet| true), Vec::new()),
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
                    keep(&labels)
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

fn detail_page(
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
            (impact_section(a))
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
            (history_section(history))
        },
    }
}

fn impact_section(a: &AlertView) -> Markup {
    let i = &a.impact;
    let places: [(&str, &str, Vec<&str>); 4] = [
        ("Hosts", "hosts", i.hosts.iter().map(|x| x.as_str()).collect()),
        ("Pools", "pools", i.pools.iter().map(|x| x.as_str()).collect()),
        ("Zones", "zones", i.zones.iter().map(|x| x.as_str()).collect()),
        ("Services", "services", i.services.iter().map(|x| x.as_str()).collect()),
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
                            @for m in &i.merchants {
                                tr .vip[m.tier == Tier::Vip] {
                                    td { a href=(format!("/ui/merchants/{}", m.id)) { (m.name) } }
                                    td { @if m.tier == Tier::Vip { span .badge .warn { "VIP" } } @else { "standard" } }
                                    td .num { (m.instances) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

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
            .map(|v| format!(" at value {}", number(v)))
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

// ---------------------------------------------------------------------------------
// Silences
// ---------------------------------------------------------------------------------

/// Parses the form's matcher lines (`name="value"`, or several on a line as
/// `{a="1", b="2"}`) with Alertmanager's matcher syntax.
fn parse_matcher_lines(text: &str) -> Result<Vec<ApiMatcher>, String> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let ms: Vec<Matcher> = cairn_alert::matchers::parse_matchers(line)?;
        out.extend(ms.into_iter().map(|m| ApiMatcher {
            is_regex: matches!(m.op, MatchType::Regex | MatchType::NotRegex),
            is_equal: matches!(m.op, MatchType::Equal | MatchType::Regex),
            name: m.name,
            value: m.value,
        }));
    }
    if out.is_empty() {
        return Err("write at least one matcher, such as alertname=\"DiskFull\"".into());
    }
    Ok(out)
}

/// A silence as the silence use case takes it (Alertmanager's `postableSilence`),
/// from now for `length`; the use case names the creator after the signed-in user.
fn silence_body(
    matchers: Vec<ApiMatcher>,
    now: Timestamp,
    length: time::Duration,
    comment: &str,
) -> serde_json::Value {
    serde_json::to_value(PostableSilence {
        id: None,
        matchers,
        starts_at: now,
        ends_at: now + length,
        created_by: String::new(),
        comment: comment.trim().to_owned(),
    })
    .unwrap_or_default()
}

fn silences_page(
    list: &[GettableSilence],
    form: &SilenceForm,
    error: Option<&str>,
    done: Option<&str>,
) -> Page {
    let states = [
        (SilenceState::Active, "Active"),
        (SilenceState::Pending, "Pending"),
        (SilenceState::Expired, "Expired"),
    ];
    Page {
        title: "Silences".into(),
        section: Some(SECTION),
        body: html! {
            h1 { "Silences" }
            (tabs("/ui/alerts/silences"))
            (flash(done))
            @for (state, title) in states {
                @let these: Vec<&GettableSilence> = list.iter().filter(|s| s.status.state == state).collect();
                section .related id=(format!("silences-{}", state.as_str())) {
                    h2 { (title) " (" (these.len()) ")" }
                    @if these.is_empty() {
                        p .muted { "None." }
                    } @else {
                        div .table-wrap {
                            table {
                                thead { tr {
                                    th { "Matchers" } th { "Created by" } th { "Comment" }
                                    th { "Starts" } th { "Ends" } th { "" }
                                } }
                                tbody {
                                    @for s in these {
                                        tr id=(format!("silence-{}", s.id)) data-state=(state.as_str()) {
                                            td { ul .chips { @for m in &s.matchers { li .chip { (api_matcher_text(m)) } } } }
                                            td { (s.created_by) }
                                            td .wrap { (s.comment) }
                                            td { (moment(s.starts_at)) }
                                            td { (moment(s.ends_at)) }
                                            td {
                                                @if state != SilenceState::Expired {
                                                    form method="post" action=(format!("/ui/alerts/silences/{}/expire", s.id)) {
                                                        button .secondary .expire type="submit" { "Expire" }
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
            section .related #new-silence aria-labelledby="new-silence-title" {
                h2 #new-silence-title { "New silence" }
                @if let Some(e) = error {
                    p .alert #silence-error role="alert" { (e) }
                }
                form .silence-form #silence-form method="post" action="/ui/alerts/silences" {
                    label for="matchers" { "Matchers, one a line: " code { "name=\"value\"" } ", " code { "name=~\"regex\"" } ", " code { "name!=\"value\"" } }
                    textarea #matchers name="matchers" rows="4" spellcheck="false" required
                        placeholder="alertname=\"DiskFull\"\ninstance=\"db-1:9100\"" { (form.matchers) }
                    label for="duration" { "For (30m, 2h, 1d…)" }
                    input #duration type="text" name="duration" value=(form.duration) required;
                    label for="comment" { "Why" }
                    input #comment type="text" name="comment" value=(form.comment) required;
                    button type="submit" { "Create silence" }
                }
            }
        },
    }
}

// ---------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------

fn health_badge(h: Health) -> Markup {
    let (class, text) = match h {
        Health::Ok => ("badge ok", "ok"),
        Health::Err => ("badge crit", "err"),
        Health::Unknown => ("badge muted", "unknown"),
    };
    html! { span class=(class) data-health=(text) { (text) } }
}

fn optional(v: Option<f64>) -> String {
    v.map(number).unwrap_or_else(|| "—".into())
}

fn rules_page(rules: &[RuleView], anomaly: &[AnomalyRule], status: &[AnomalyStatus]) -> Page {
    // file → group → rules, in the use case's order.
    let mut files: Vec<(&str, Vec<(&str, f64, Vec<&RuleView>)>)> = Vec::new();
    for r in rules {
        if files.last().is_none_or(|(f, _)| *f != r.file) {
            files.push((&r.file, Vec::new()));
        }
        let groups = &mut files.last_mut().expect("pushed above").1;
        if groups.last().is_none_or(|(g, _, _)| *g != r.group) {
            groups.push((&r.group, r.interval_s, Vec::new()));
        }
        groups.last_mut().expect("pushed above").2.push(r);
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
                @for (file, groups) in &files {
                    section .related .rule-file data-file=(file) {
                        h2 { "File " code { (file) } }
                        @for (group, interval, rs) in groups {
                            h3 { "Group " (group) span .muted { " · every " (number(*interval)) "s" } }
                            div .table-wrap {
                                table .rules {
                                    thead { tr {
                                        th { "Rule" } th { "Health" } th { "Last evaluation" } th .num { "Took (ms)" }
                                        th .num { "Pending" } th .num { "Firing" } th { "Error" }
                                    } }
                                    tbody {
                                        @for r in rs {
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

// ---------------------------------------------------------------------------------
// On call
// ---------------------------------------------------------------------------------

fn source_text(s: &Source) -> String {
    match s {
        Source::Layer { layer } => format!("layer {layer}"),
        Source::Swap { layer } => format!("swap in layer {layer}"),
        Source::Override => "override".into(),
    }
}

/// One local day of a schedule and who is on call during it: (user, from, to) in
/// local `HH:MM`, clipped to the day.
struct Day {
    label: String,
    shifts: Vec<(String, String, String)>,
}

/// The local days from today on, in the schedule's zone, each with its shifts. The
/// calendar follows the schedule's wall clock, as its handoffs do.
fn days(time_zone: &str, now: Timestamp, shifts: &[Shift], n: i64) -> Vec<Day> {
    use cairn_alert::timeinterval::{local, zone};
    let Ok(tz) = zone(time_zone) else {
        return Vec::new();
    };
    let Ok(mut day) = local(now, &tz).start_of_day() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for _ in 0..n {
        let Ok(next) = day.tomorrow().and_then(|t| t.start_of_day()) else {
            break;
        };
        // Instants of the day's local midnights, as the `time` crate's timestamps.
        let instant = |nanos: i128| {
            Timestamp::from_unix_timestamp_nanos(nanos).unwrap_or(Timestamp::UNIX_EPOCH)
        };
        let from = instant(day.timestamp().as_nanosecond());
        let to = instant(next.timestamp().as_nanosecond());
        let hm = |t: Timestamp| local(t, &tz).strftime("%H:%M").to_string();
        let shifts = shifts
            .iter()
            .filter(|s| s.start < to && s.end > from)
            .map(|s| {
                let end = if s.end >= to {
                    "24:00".to_owned()
                } else {
                    hm(s.end)
                };
                (s.user.clone(), hm(s.start.max(from)), end)
            })
            .collect();
        out.push(Day {
            label: day.strftime("%a %Y-%m-%d").to_string(),
            shifts,
        });
        day = next;
    }
    out
}

fn target_link(t: &Target) -> Markup {
    match t {
        Target::User(u) => html! { "user " strong { (u) } },
        Target::Schedule(id) => html! { "whoever is on call in " a href=(format!("#schedule-{id}")) { (id) } },
    }
}

fn oncall_page(
    now: Timestamp,
    schedules: &[(Schedule, Option<OnCall>, Vec<Shift>)],
    policies: &[PolicyDoc],
) -> Page {
    Page {
        title: "On call".into(),
        section: Some(SECTION),
        body: html! {
            h1 { "On call" }
            (tabs("/ui/alerts/oncall"))
            @if schedules.is_empty() {
                p .muted #no-schedules { "No schedules. Add one with POST /api/v1/oncall/schedules." }
            }
            @for (s, who, shifts) in schedules {
                section .related .schedule id=(format!("schedule-{}", s.id)) {
                    h2 { (s.name) span .muted { " · " (s.time_zone) } }
                    p .on-call-now {
                        @match who {
                            Some(w) => { "On call now: " strong .user { (w.user) } span .muted { " (" (source_text(&w.source)) ")" } },
                            None => span .badge .warn { "Nobody is on call now" },
                        }
                    }
                    h3 { "The next " (ONCALL_DAYS) " days, " (s.time_zone) " time" }
                    div .table-wrap {
                        table .shifts {
                            thead { tr { th { "Day" } th { "On call" } } }
                            tbody {
                                @for d in days(&s.time_zone, now, shifts, ONCALL_DAYS) {
                                    tr {
                                        td { (d.label) }
                                        td .wrap {
                                            @if d.shifts.is_empty() { span .muted { "nobody" } }
                                            @for (i, (user, from, to)) in d.shifts.iter().enumerate() {
                                                @if i > 0 { ", " }
                                                strong { (user) } " " span .muted { (from) "–" (to) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    details {
                        summary { (s.layers.len()) " layers, " (s.overrides.len()) " overrides, " (s.swaps.len()) " swaps" }
                        ul {
                            @for l in &s.layers {
                                li {
                                    strong { (l.name) } ": " (l.users.join(" → "))
                                    span .muted { " · " (format!("{:?}", l.rotation).to_lowercase()) " from " (l.start_date) ", handoff " (l.handoff) }
                                }
                            }
                            @for o in &s.overrides {
                                li { "Override: " strong { (o.user) } " " (moment(o.start)) " – " (moment(o.end)) }
                            }
                            @for w in &s.swaps {
                                li { "Swap: " (w.user_a) " ⇄ " (w.user_b) " " (moment(w.start)) " – " (moment(w.end)) }
                            }
                        }
                    }
                }
            }
            section .related #policies aria-labelledby="policies-title" {
                h2 #policies-title { "Escalation policies" }
                @if policies.is_empty() {
                    p .muted { "None. Add one with POST /api/v1/escalation-policies." }
                }
                @for d in policies {
                    article .policy id=(format!("policy-{}", d.policy.id)) {
                        h3 { (d.policy.name) }
                        p {
                            "For "
                            @if d.matchers.is_empty() { "every alert" }
                            @else {
                                "alerts matching "
                                @for (i, m) in d.matchers.iter().enumerate() {
                                    @if i > 0 { ", " }
                                    code { (m) }
                                }
                            }
                            " nobody has acknowledged"
                            @if d.policy.repeat > 0 { "; the levels run " (d.policy.repeat + 1) " times" }
                            "."
                        }
                        ol .levels {
                            @for l in &d.policy.levels {
                                li {
                                    "Page "
                                    @for (i, t) in l.targets.iter().enumerate() {
                                        @if i > 0 { " and " }
                                        (target_link(t))
                                    }
                                    "; next level after "
                                    (cairn_alert::duration::format_duration(l.escalate_after))
                                    " without an acknowledgement."
                                }
                            }
                        }
                    }
                }
            }
        },
    }
}

// ---------------------------------------------------------------------------------
// The notification log
// ---------------------------------------------------------------------------------

fn outcome_badge(outcome: &str) -> Markup {
    let class = match outcome {
        "delivered" => "badge ok",
        "retry" => "badge warn",
        "failed" => "badge crit",
        _ => "badge muted",
    };
    html! { span class=(class) data-outcome=(outcome) { (outcome) } }
}

fn log_page(rows: &[DeliveryRow], continued: bool) -> Page {
    let next = (rows.len() == LOG_PAGE as usize)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    Page {
        title: "Notifications".into(),
        section: Some(SECTION),
        body: html! {
            h1 { "Notifications" }
            (tabs("/ui/alerts/notifications"))
            p .muted { "Every attempt to deliver a notification, newest first." }
            @if rows.is_empty() {
                p .muted #no-notifications { "No delivery attempts" @if continued { " before these" } "." }
            } @else {
                div .table-wrap {
                    table #notification-log {
                        thead { tr {
                            th { "Time" } th { "Receiver" } th { "Integration" } th { "Group" }
                            th { "Status" } th .num { "Alerts" } th .num { "Attempt" } th { "Outcome" } th { "Detail" }
                        } }
                        tbody {
                            @for r in rows {
                                tr data-seq=(r.seq) {
                                    td { (moment_text(&r.at)) }
                                    td { (r.receiver) }
                                    td { (r.integration) }
                                    td { code { (r.group_key) } }
                                    td { (status_badge(&r.status)) }
                                    td .num { (r.alerts) }
                                    td .num { (r.attempt) }
                                    td { (outcome_badge(&r.outcome)) }
                                    td .wrap { (r.detail) }
                                }
                            }
                        }
                    }
                }
            }
            nav .pager aria-label="Pages" {
                @if continued { a href="/ui/alerts/notifications" { "Newest" } }
                @if let Some(seq) = next {
                    a #older rel="next" href=(format!("/ui/alerts/notifications?before={seq}")) { "Older →" }
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use cairn_alert::problems::Impact;

    use super::*;

    fn alert(labels: &[(&str, &str)], annotations: &[(&str, &str)], url: &str) -> AlertView {
        let set = |xs: &[(&str, &str)]| -> LabelSet {
            xs.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let labels = set(labels);
        AlertView {
            fingerprint: cairn_alert::fingerprint(&labels).to_string(),
            name: labels.get("alertname").cloned().unwrap_or_default(),
            labels,
            annotations: set(annotations),
            status: "firing",
            starts_at: time::macros::datetime!(2026-11-25 03:00 UTC),
            ends_at: None,
            generator_url: url.into(),
            silenced_by: Vec::new(),
            inhibited_by: Vec::new(),
            acknowledged: None,
            impact: Impact::default(),
        }
    }

    #[test]
    fn a_rule_alert_charts_the_left_side_of_its_comparison_with_the_threshold() {
        let a = alert(
            &[("alertname", "ServiceHighErrorRate"), ("service", "svc-order"), ("severity", "critical")],
            &[],
            "http://cairn:8080/graph?g0.expr=service%3Ahttp_errors%3Aratio5m+%3E+0.05&g0.tab=1",
        );
        match chart_plan(&a) {
            ChartPlan::Expr { query, threshold, series } => {
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
        assert_eq!(split_threshold("up == bool 0"), ("up == bool 0".into(), None));
        assert_eq!(split_threshold("absent(up)"), ("absent(up)".into(), None));
    }

    #[test]
    fn an_alert_without_an_expression_charts_the_series_its_labels_select() {
        let a = alert(
            &[("alertname", "DiskFull"), ("instance", "db-1:9100"), ("severity", "warning"), ("job", "no\"de")],
            &[],
            "http://prometheus:9090/graph",
        );
        assert_eq!(
            chart_plan(&a),
            ChartPlan::Selector {
                query: r#"{instance="db-1:9100", job="no\"de"}"#.into()
            }
        );
        let bare = alert(&[("alertname", "PaymentDown"), ("severity", "critical")], &[], "");
        assert!(matches!(chart_plan(&bare), ChartPlan::Nothing(_)));
    }

    #[test]
    fn an_anomaly_alert_charts_its_series_against_the_expected_band() {
        let a = alert(
            &[("alertname", "ServiceTrafficAnomaly"), ("detector", "anomaly"), ("service", "svc-cart"), ("severity", "warning")],
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

    #[test]
    fn matcher_lines_become_api_matchers_and_mistakes_are_named() {
        let ms = parse_matcher_lines("alertname=\"DiskFull\"\n\n  {job=~\"api|web\", env!=\"dev\"}\n").unwrap();
        let text: Vec<String> = ms.iter().map(api_matcher_text).collect();
        assert_eq!(text, [r#"alertname="DiskFull""#, r#"job=~"api|web""#, r#"env!="dev""#]);
        assert!(parse_matcher_lines("   \n").unwrap_err().contains("at least one"));
        assert!(parse_matcher_lines("alertname=\"open").is_err());
    }

    #[test]
    fn the_on_call_calendar_follows_the_schedules_wall_clock() {
        let now = time::macros::datetime!(2026-11-25 04:00 UTC); // 12:00 in Shanghai
        let at = |h: i64| now + time::Duration::hours(h);
        let shifts = vec![
            Shift { user: "wang.lei".into(), source: Source::Override, start: now, end: at(2) },
            Shift { user: "li.na".into(), source: Source::Override, start: at(2), end: at(30) },
        ];
        let d = days("Asia/Shanghai", now, &shifts, 3);
        assert_eq!(d.len(), 3);
        assert_eq!(d[0].label, "Wed 2026-11-25");
        assert_eq!(
            d[0].shifts,
            [
                ("wang.lei".to_owned(), "12:00".to_owned(), "14:00".to_owned()),
                ("li.na".to_owned(), "14:00".to_owned(), "24:00".to_owned())
            ]
        );
        assert_eq!(d[1].shifts, [("li.na".to_owned(), "00:00".to_owned(), "18:00".to_owned())]);
        assert!(d[2].shifts.is_empty());
        assert!(days("Mars/Olympus", now, &shifts, 3).is_empty());
    }

    #[test]
    fn only_known_form_outcomes_are_announced() {
        assert!(flash(Some("silenced")).into_string().contains("Silenced for two hours"));
        assert_eq!(flash(Some("<script>")).into_string(), "");
        assert_eq!(flash(None).into_string(), "");
    }

    #[test]
    fn the_list_filters_by_severity_and_keeps_resolved_alerts_apart() {
        let now = time::macros::datetime!(2026-11-25 04:00 UTC);
        let crit = alert(&[("alertname", "A"), ("severity", "critical")], &[("summary", "a is down")], "");
        let warn = alert(&[("alertname", "B"), ("severity", "warning")], &[], "");
        let mut gone = alert(&[("alertname", "C"), ("severity", "critical")], &[], "");
        gone.status = "resolved";
        let all = [crit.clone(), warn.clone(), gone];
        let html = list_page(now, &all, &[], None, None).body.into_string();
        assert!(html.contains(r#"id="firing-alerts""#) && html.contains(r#"id="resolved-alerts""#));
        assert!(html.contains("a is down") && html.contains(&format!("/ui/alerts/{}", warn.fingerprint)));
        let html = list_page(now, &all, &[], Some("critical"), None).body.into_string();
        assert!(html.contains(&format!("/ui/alerts/{}", crit.fingerprint)));
        assert!(!html.contains(&format!("/ui/alerts/{}", warn.fingerprint)));
        assert!(html.contains(r#"href="/ui/alerts?severity=warning""#), "the other severities stay offered");
    }
}
