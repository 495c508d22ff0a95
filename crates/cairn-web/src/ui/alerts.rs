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
//!
//! The handlers and the pieces every page shares are here; each page's view is in a
//! submodule: [`list`], [`detail`] (with the chart of the metric behind an alert),
//! [`silences`], [`rules`], [`oncall`] and [`log`].

mod detail;
mod list;
mod log;
mod oncall;
mod rules;
mod silences;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use cairn_alert::api::ApiMatcher;
use cairn_alert::labels::go_quote;
use cairn_alert::{LabelSet, Timestamp};
use cairn_app::alerting::AlertView;
use cairn_domain::{AnomalyRule, Principal};
use maud::{html, Markup};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::format::{moment, span};
use super::layout::{error_response, html_response, respond, shell};
use super::UiError;
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
        Ok(list::list_page(
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
        let chart = detail::chart(&s.app, &p, &alert).await;
        Ok(detail::detail_page(
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
        Ok(format!(
            "/ui/alerts/{}?done=acknowledged",
            alert.fingerprint
        ))
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
        let body = silences::silence_body(matchers, s.app.now(), QUICK_SILENCE, &form.comment);
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
        Ok(silences::silences_page(
            &list,
            &form,
            None,
            q.done.as_deref(),
        ))
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
    // Silences are read first: a role that may not read them is refused whatever it
    // typed, and a mistake shows the page again with them.
    let list = match s.app.silences(&p).await {
        Ok(list) => list,
        Err(e) => return error_response(Some(&p), e.into()),
    };
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return error_response(Some(&p), UiError::new(e.status(), e.body_text())),
    };
    let attempt = async {
        let matchers = silences::parse_matcher_lines(&form.matchers)
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
        let body = silences::silence_body(matchers, s.app.now(), length, &form.comment);
        s.app.set_silence(&p, body).await?;
        Ok::<_, UiError>(())
    };
    match attempt.await {
        Ok(()) => Redirect::to("/ui/alerts/silences?done=created").into_response(),
        Err(e) if e.status == StatusCode::BAD_REQUEST => html_response(
            e.status,
            shell(
                Some(&p),
                &silences::silences_page(&list, &form, Some(&e.message), None),
            ),
        ),
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
        let pairs = [(
            "limit".to_owned(),
            cairn_app::records::MAX_LIMIT.to_string(),
        )];
        let anomaly_rules = s.app.list_records::<AnomalyRule>(&p, &pairs).await?.items;
        let status = s.app.anomaly_status(&p).await?;
        Ok(rules::rules_page(&rules, &anomaly_rules, &status))
    };
    respond(&p, page.await)
}

/// `GET /ui/alerts/oncall`
pub async fn oncall(State(s): State<AppState>, Viewer(p): Viewer) -> Response {
    let page = async {
        let schedules = s.app.on_call(&p, ONCALL_DAYS).await?;
        let policies = s.app.policies(&p).await?;
        Ok(oncall::oncall_page(s.app.now(), &schedules, &policies))
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
        Ok(log::log_page(&rows, before.is_some()))
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

/// How long ago, for table cells; the instant itself is in the tooltip.
fn ago(now: Timestamp, t: Timestamp) -> Markup {
    html! {
        time datetime=(t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()) title=(moment(t)) {
            @if now > t { (span(now - t)) " ago" } @else { (moment(t)) }
        }
    }
}

/// `1 alert`, `2 alerts`.
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
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

#[cfg(test)]
mod tests {
    use cairn_alert::problems::Impact;

    use super::*;

    /// An alert firing since 03:00, as the use cases give it, for page tests.
    pub(super) fn alert(
        labels: &[(&str, &str)],
        annotations: &[(&str, &str)],
        url: &str,
    ) -> AlertView {
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
    fn only_known_form_outcomes_are_announced() {
        assert!(flash(Some("silenced"))
            .into_string()
            .contains("Silenced for two hours"));
        assert_eq!(flash(Some("<script>")).into_string(), "");
        assert_eq!(flash(None).into_string(), "");
    }
}
