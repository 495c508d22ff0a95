//! The change pages: the list of change requests with a form for a new draft, one
//! change with its risk factors, approvals, the buttons its state allows, the progress
//! of its gray release batch by batch with every gate's verdict, and its log; the
//! freeze windows; and the "Changes" section of service and merchant pages ("what
//! changed here?").
//!
//! Every page calls the same use cases as `/api/v1/changes` and `/api/v1/freezes`,
//! which decide who may do what: merchants may read none of it (403), viewers and
//! support read, engineers request, approve and run changes, and only admin and
//! base-ops declare freezes. Command executors run on cairn's own machine, so only an
//! admin may name one, through the API; the form offers webhooks only. Forms post and
//! redirect back with `?done=…` (post/redirect/get), like the incident pages.
//!
//! Windows are entered and shown in China time (UTC+8,
//! [`cairn_forecast::calendar::CALENDAR_OFFSET`]): the calendar the promotions, the
//! evening peak and the people who plan changes live by.
//!
//! - [`list`]: `/ui/changes` and the new-change form;
//! - [`detail`]: `/ui/changes/{id}` and its forms;
//! - [`gate`]: a batch and its gate verdict, shared by the detail page and tests;
//! - [`freezes`]: `/ui/changes/freezes`, the freeze windows and their forms;
//! - this file: the routes, the helpers the pages share and the section that service
//!   and merchant pages show.

mod detail;
mod freezes;
mod gate;
mod list;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use cairn_app::changes::{BatchStatus, Change};
use cairn_app::{App, AppError};
use cairn_domain::changes::{ChangeState, RiskLevel};
use cairn_domain::{Principal, Role, Timestamp};
use maud::{html, Markup};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{PrimitiveDateTime, UtcOffset};

use super::format::moment;
use super::layout::error_response;
use super::UiError;
use crate::error::ApiError;
use crate::AppState;

/// The navigation section of the change pages.
pub const SECTION: &str = "/ui/changes";

/// The offset windows are entered and shown in: China time.
const CHINA: UtcOffset = cairn_forecast::calendar::CALENDAR_OFFSET;

const TABS: &[(&str, &str)] = &[
    ("Changes", "/ui/changes"),
    ("Freezes", "/ui/changes/freezes"),
];

/// The routes of the change pages. Fixed segments (`freezes`) win over `{id}` in
/// axum's router, and all of these over the records' `/ui/{kind}`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/changes", get(list::list).post(list::create))
        .route("/ui/changes/freezes", get(freezes::list).post(freezes::add))
        .route("/ui/changes/freezes/{id}/lift", post(freezes::lift))
        .route("/ui/changes/{id}", get(detail::show))
        .route("/ui/changes/{id}/submit", post(detail::submit))
        .route("/ui/changes/{id}/review", post(detail::review))
        .route("/ui/changes/{id}/risk", post(detail::risk))
        .route("/ui/changes/{id}/start", post(detail::start))
        .route("/ui/changes/{id}/control", post(detail::control))
        .route("/ui/changes/{id}/rollback", post(detail::rollback))
}

// ---------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoneParams {
    #[serde(default)]
    done: Option<String>,
}

fn params<T: DeserializeOwned>(q: Result<Query<T>, QueryRejection>) -> Result<T, UiError> {
    q.map(|Query(t)| t)
        .map_err(|e| UiError::new(StatusCode::BAD_REQUEST, e.body_text()))
}

fn form<T>(f: Result<Form<T>, FormRejection>) -> Result<T, UiError> {
    f.map(|Form(t)| t)
        .map_err(|e| UiError::new(e.status(), e.body_text()))
}

fn bad(field: &str, message: impl std::fmt::Display) -> UiError {
    UiError::new(StatusCode::BAD_REQUEST, format!("{field}: {message}"))
}

/// A use case's error as a page error that names the field it is about. The API
/// carries the field separately; a page has only its message to say it.
fn app_error(e: AppError) -> UiError {
    let api = ApiError::from(e);
    let message = match &api.field {
        Some(f) if !api.message.starts_with(f.as_str()) => format!("{f}: {}", api.message),
        _ => api.message,
    };
    UiError::new(api.status, message)
}

/// Redirects after a form, or shows why it did not work.
fn after_form(p: &Principal, to: Result<String, UiError>) -> Response {
    match to {
        Ok(to) => Redirect::to(&to).into_response(),
        Err(e) => error_response(Some(p), e),
    }
}

/// Whether `p` may request, approve and run changes; the use cases decide, this only
/// hides forms that would be refused.
fn may_change(p: &Principal) -> bool {
    matches!(
        p.role,
        Role::Admin | Role::BaseOps | Role::AppOps | Role::Developer
    )
}

/// Ids separated by commas or spaces.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A `datetime-local` value (`2026-11-26T10:00`, seconds optional) read as China
/// time, as RFC 3339; `None` when empty.
fn china_input(field: &str, v: &str) -> Result<Option<Timestamp>, UiError> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let minutes = format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let seconds = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    PrimitiveDateTime::parse(v, &minutes)
        .or_else(|_| PrimitiveDateTime::parse(v, &seconds))
        .map(|t| Some(t.assume_offset(CHINA)))
        .map_err(|_| {
            bad(
                field,
                format!("must be a date and time such as 2026-11-26T10:00 (China time), got {v:?}"),
            )
        })
}

/// A window's two ends from a form: both or neither, the end after the start.
fn window_input(
    start: &str,
    end: &str,
    names: (&str, &str),
) -> Result<Option<(Timestamp, Timestamp)>, UiError> {
    match (china_input(names.0, start)?, china_input(names.1, end)?) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(bad(names.1, "give both ends of the window, or neither")),
        (None, Some(_)) => Err(bad(names.0, "give both ends of the window, or neither")),
        (Some(a), Some(b)) if b <= a => Err(bad(names.1, "must be after the window's start")),
        (Some(a), Some(b)) => Ok(Some((a, b))),
    }
}

fn rfc3339(t: Timestamp) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// An instant in China time to the minute: `2026-11-26 10:00`.
fn china(t: Timestamp) -> String {
    let t = t.to_offset(CHINA);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// An instant in China time, with UTC on hover for those who think in it.
fn china_time(t: Timestamp) -> Markup {
    html! { time datetime=(rfc3339(t)) title=(moment(t)) { (china(t)) } }
}

/// An instant as the other pages show it, in UTC.
fn when(t: Timestamp) -> Markup {
    html! { time datetime=(rfc3339(t)) { (moment(t)) } }
}

/// A change's planned window in China time, or a dash.
fn window(c: &Change) -> Markup {
    match (c.window_start, c.window_end) {
        (Some(a), Some(b)) => html! {
            span .window { (china_time(a)) " – " (china_time(b)) " " span .muted { "China time" } }
        },
        _ => html! { span .muted { "no window" } },
    }
}

fn tabs(current: &str) -> Markup {
    html! {
        nav aria-label="Changes" {
            ul .tabs #change-tabs {
                @for (label, href) in TABS {
                    li { a href=(href) aria-current=[(*href == current).then_some("page")] { (label) } }
                }
            }
        }
    }
}

/// What a form did; other values show nothing, so a link cannot make a page claim
/// something happened.
fn flash(done: Option<&str>) -> Markup {
    let text = match done {
        Some("created") => "Draft created. Submit it when it is complete.",
        Some("submitted") => "Submitted: risk assessed, batches planned, approvals requested.",
        Some("approved") => "Your approval is recorded.",
        Some("rejected") => "Your rejection is recorded.",
        Some("risk") => "Risk level overridden; the approvals follow it.",
        Some("started") => "Gray release started.",
        Some("pause") => "Paused.",
        Some("resume") => "Resumed.",
        Some("skip") => "Batch skipped.",
        Some("abort") => "Aborted.",
        Some("rollback") => "Rollback run.",
        Some("freeze") => "Freeze declared.",
        Some("lifted") => "Freeze lifted.",
        _ => return html! {},
    };
    html! { p .notice #flash role="status" data-done=(done.unwrap_or_default()) { (text) } }
}

fn state_badge(s: ChangeState) -> Markup {
    let class = match s {
        ChangeState::Draft => "badge muted",
        ChangeState::Submitted | ChangeState::Paused => "badge warn",
        ChangeState::Approved | ChangeState::Running => "badge info",
        ChangeState::Completed => "badge ok",
        ChangeState::Rejected
        | ChangeState::RolledBack
        | ChangeState::Failed
        | ChangeState::Aborted => "badge crit",
    };
    html! { span class=(class) data-state=(s.as_str()) { (s.as_str().replace('_', " ")) } }
}

fn risk_level_badge(level: RiskLevel) -> Markup {
    let class = match level {
        RiskLevel::Low => "badge ok",
        RiskLevel::Medium => "badge warn",
        RiskLevel::High => "badge crit",
    };
    html! { span class=(class) data-risk=(level.as_str()) { (level.as_str()) " risk" } }
}

/// The risk in force with its score, or that it is not assessed yet.
fn risk_badge(c: &Change) -> Markup {
    match &c.risk {
        Some(r) => html! {
            (risk_level_badge(r.effective())) " "
            span .muted .risk-score {
                "score " (r.score)
                @if r.override_level.is_some() { ", set by hand" }
            }
        },
        None => html! { span .muted { "risk not assessed yet" } },
    }
}

fn batch_status_badge(s: BatchStatus) -> Markup {
    let (class, word) = match s {
        BatchStatus::Pending => ("badge muted", "pending"),
        BatchStatus::Executing => ("badge info", "executing"),
        BatchStatus::Executed => ("badge info", "executed"),
        BatchStatus::WaitingCallback => ("badge info", "waiting for callback"),
        BatchStatus::Analysing => ("badge warn", "analysing"),
        BatchStatus::Done => ("badge ok", "done"),
        BatchStatus::Failed => ("badge crit", "failed"),
        BatchStatus::Skipped => ("badge muted", "skipped"),
    };
    html! { span class=(class) data-batch-status=(word) { (word) } }
}

/// Batches finished (done or skipped) and planned.
fn progress_counts(c: &Change) -> (usize, usize) {
    let done = c
        .batches
        .iter()
        .filter(|b| matches!(b.status, BatchStatus::Done | BatchStatus::Skipped))
        .count();
    (done, c.batches.len())
}

/// The batch being worked on, while the change runs or waits.
fn current_batch(c: &Change) -> Option<&cairn_app::changes::BatchRun> {
    matches!(c.state, ChangeState::Running | ChangeState::Paused)
        .then(|| c.batches.get(c.current))
        .flatten()
}

/// A bar of batches done out of planned, with the numbers and the current batch.
fn progress(c: &Change) -> Markup {
    let (done, total) = progress_counts(c);
    if total == 0 {
        return html! { span .muted { "no batches planned yet" } };
    }
    let class = match c.state {
        ChangeState::RolledBack | ChangeState::Failed | ChangeState::Aborted => "fill crit",
        ChangeState::Paused => "fill warn",
        _ => "fill ok",
    };
    html! {
        div .progress data-done=(done) data-total=(total) {
            div .bar role="img" aria-label=(format!("{done} of {total} batches done")) {
                span class=(class) style=(format!("width:{}%", done * 100 / total)) {}
            }
            span .muted { (done) " of " (total) " batches done" }
            @if let Some(b) = current_batch(c) {
                span .current-batch { " · now: " (b.name) " " (batch_status_badge(b.status)) }
            }
        }
    }
}

fn id_links(kind: &str, ids: &[String], limit: usize) -> Markup {
    html! {
        @if ids.is_empty() { span .muted { "none" } }
        @for (n, id) in ids.iter().take(limit).enumerate() {
            @if n > 0 { ", " }
            a href=(format!("/ui/{kind}/{id}")) { (id) }
        }
        @if ids.len() > limit { " " span .muted { "and " (ids.len() - limit) " more" } }
    }
}

/// The "Changes" section of a service's or a merchant's page: the changes that touch
/// it, newest first, with their gate verdicts. Nothing for those who may not read
/// changes (merchants), so their pages look as they did.
pub(crate) async fn touching(app: &App, p: &Principal, id: &str) -> Markup {
    match app.changes_touching(p, id).await {
        Ok(list) => touching_section(&list),
        Err(AppError::Forbidden(_)) => html! {},
        Err(e) => {
            let e = app_error(e);
            html! {
                section .related #changes aria-labelledby="changes-title" {
                    h2 #changes-title { "Changes" }
                    p .muted { (e.message) }
                }
            }
        }
    }
}

/// How many changes the section lists before it links to the rest.
const TOUCHING_LIMIT: usize = 10;

fn touching_section(list: &[Change]) -> Markup {
    html! {
        section .related #changes aria-labelledby="changes-title" {
            h2 #changes-title { "Changes" }
            @if list.is_empty() {
                p .muted { "No changes have touched it." }
            } @else {
                div .table-wrap {
                    table #changes-touching {
                        thead { tr { th { "Change" } th { "State" } th { "Started" } th { "Gates" } } }
                        tbody {
                            @for c in list.iter().take(TOUCHING_LIMIT) {
                                tr data-change=(c.id) {
                                    td .wrap { a href=(format!("/ui/changes/{}", c.id)) { (c.title) } }
                                    td { (state_badge(c.state)) }
                                    td .nowrap {
                                        @match c.started_at() {
                                            Some(t) => (china_time(t)),
                                            None => span .muted { "not started" },
                                        }
                                    }
                                    td { (gate::summary(c)) }
                                }
                            }
                        }
                    }
                }
                @if list.len() > TOUCHING_LIMIT {
                    p { a href="/ui/changes" { "All " (list.len()) " changes →" } }
                }
            }
        }
    }
}

/// Test fixtures: changes in every state the pages care about.
#[cfg(test)]
pub(crate) mod fixtures {
    use cairn_app::changes::{BatchRun, BatchStatus, Change, ChangeEvent, Executor};
    use cairn_canary::{Class, Decision, Direction, Judgement, MetricVerdict};
    use cairn_domain::changes::{
        Approval, ApprovalStep, ChangeState, ChangeType, Risk, RiskFactor, RiskLevel, Strategy,
        Targets,
    };
    use time::macros::datetime;

    pub fn batch_run(name: &str, status: BatchStatus) -> BatchRun {
        BatchRun {
            name: name.into(),
            targets: vec!["h-1".into()],
            status,
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

    pub fn verdict(metric: &str, class: Class, failed: bool) -> MetricVerdict {
        MetricVerdict {
            metric: metric.into(),
            direction: Direction::Increase,
            critical: false,
            weight: 1.0,
            class,
            failed,
            baseline_samples: 20,
            canary_samples: 20,
            non_finite_dropped: 0,
            baseline_median: Some(0.01),
            canary_median: Some(0.052),
            relative_change: Some(4.2),
            estimate: Some(0.042),
            ci_low: Some(0.031),
            ci_high: Some(0.052),
            p_value: Some(0.0001),
            confidence: 0.95,
            reason: format!(
                "{metric} 0.052 vs baseline 0.01: +420%, above the allowed +10% (95% CI +310%..+520%)"
            ),
        }
    }

    /// A normal change that ran one batch, failed its gate and was rolled back.
    pub fn rolled_back() -> Change {
        let at = datetime!(2026-11-20 02:00 UTC);
        let mut first = batch_run("batch 1 (1)", BatchStatus::Done);
        first.started_at = Some(at);
        first.finished_at = Some(at + time::Duration::minutes(1));
        first.exit_code = Some(0);
        first.output = "deployed v2 to h-1 <ok>".into();
        first.judgement = Some(Judgement {
            score: 0.0,
            decision: Decision::Fail,
            verdicts: vec![
                verdict("error_ratio", Class::High, true),
                MetricVerdict {
                    baseline_median: None,
                    canary_median: None,
                    relative_change: None,
                    estimate: None,
                    ci_low: None,
                    ci_high: None,
                    p_value: None,
                    reason: "latency_p99: no data (0 baseline, 0 canary values; 10 needed)".into(),
                    ..verdict("latency_p99", Class::NoData, false)
                },
            ],
            reasons: vec!["score 0 is below the marginal threshold 50".into()],
        });
        let mut rollback = batch_run("rollback", BatchStatus::Done);
        rollback.exit_code = Some(0);
        rollback.output = "rolled back h-1".into();
        Change {
            id: "chg-1".into(),
            title: "Upgrade <order> service to v2".into(),
            description: "New checkout flow".into(),
            change_type: ChangeType::Normal,
            state: ChangeState::RolledBack,
            requested_by: "user:li.na".into(),
            created_at: at - time::Duration::days(2),
            submitted_at: Some(at - time::Duration::days(1)),
            targets: Targets {
                services: vec!["svc-order".into()],
                ..Targets::default()
            },
            window_start: Some(at - time::Duration::hours(1)),
            window_end: Some(at + time::Duration::hours(2)),
            test_plan: "staging soak".into(),
            rollback_plan: "redeploy v1".into(),
            plan: Strategy::Hosts {
                steps: vec!["1".into(), "100%".into()],
            },
            executor: Some(Executor::Webhook {
                url: "https://deploy.example/hook".into(),
                timeout_s: 600,
            }),
            rollback: None,
            gate: None,
            freeze_exception: None,
            risk: Some(Risk {
                score: 38,
                level: RiskLevel::Medium,
                factors: vec![
                    RiskFactor {
                        factor: "hosts".into(),
                        points: 8,
                        detail: "2 hosts touched".into(),
                    },
                    RiskFactor {
                        factor: "promotion".into(),
                        points: 15,
                        detail: "near a promotion: <Double 11>".into(),
                    },
                ],
                override_level: None,
                override_reason: None,
                override_by: None,
            }),
            required: vec![ApprovalStep {
                name: "peer".into(),
                roles: vec!["app-ops".into()],
                count: 1,
            }],
            approvals: vec![Approval {
                by: "user:wang.fang".into(),
                role: "app-ops".into(),
                approve: true,
                comment: "looks fine".into(),
                at: at - time::Duration::hours(3),
            }],
            approval_due: None,
            freezes: Vec::new(),
            hosts: Vec::new(),
            services: vec!["svc-order".into()],
            merchants: vec!["m-1".into()],
            batches: vec![first, batch_run("batch 2 (100%)", BatchStatus::Pending)],
            current: 0,
            rollback_run: Some(rollback),
            reason: Some("gate failed after batch 1; rolled back".into()),
            events: vec![ChangeEvent {
                at,
                actor: "cairn".into(),
                kind: "gate".into(),
                text: "gate after batch 1: fail".into(),
            }],
        }
    }

    /// A change waiting for its approvals.
    pub fn submitted() -> Change {
        let mut c = rolled_back();
        c.id = "chg-2".into();
        c.state = ChangeState::Submitted;
        c.approvals.clear();
        c.batches = vec![
            batch_run("batch 1 (1)", BatchStatus::Pending),
            batch_run("batch 2 (100%)", BatchStatus::Pending),
        ];
        c.rollback_run = None;
        c.reason = None;
        c
    }

    /// A change running its second of three batches.
    pub fn running() -> Change {
        let mut c = rolled_back();
        c.id = "chg-3".into();
        c.state = ChangeState::Running;
        c.batches[0].judgement.as_mut().unwrap().decision = Decision::Continue;
        c.batches[1].status = BatchStatus::Executing;
        c.batches
            .push(batch_run("batch 3 (rest)", BatchStatus::Pending));
        c.current = 1;
        c.rollback_run = None;
        c.reason = None;
        c
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn windows_are_read_as_china_time_both_ends_or_neither() {
        let w = window_input("2026-11-26T10:00", "2026-11-26T12:30:00", ("a", "b"))
            .unwrap()
            .unwrap();
        assert_eq!(rfc3339(w.0), "2026-11-26T10:00:00+08:00");
        assert_eq!(w.0, time::macros::datetime!(2026-11-26 02:00 UTC));
        assert_eq!(china(w.1), "2026-11-26 12:30");
        assert!(window_input("", " ", ("a", "b")).unwrap().is_none());
        let e = window_input("2026-11-26T10:00", "", ("window_start", "window_end")).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.starts_with("window_end:"), "{}", e.message);
        let e = window_input("tomorrow", "", ("window_start", "window_end")).unwrap_err();
        assert!(e.message.starts_with("window_start:"), "{}", e.message);
        let e = window_input(
            "2026-11-26T10:00",
            "2026-11-26T09:00",
            ("window_start", "window_end"),
        )
        .unwrap_err();
        assert!(
            e.message.contains("after the window's start"),
            "{}",
            e.message
        );
    }

    #[test]
    fn use_case_errors_name_their_field() {
        let e = app_error(AppError::bad_input(
            Some("title".into()),
            "must be 1 to 200 characters",
        ));
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.message, "title: must be 1 to 200 characters");
        let e = app_error(AppError::Domain(cairn_domain::DomainError::invalid(
            "window",
            "is required",
        )));
        assert_eq!(e.message, "window: is required", "not named twice");
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn progress_counts_done_and_skipped_batches_and_names_the_current_one() {
        let c = running();
        assert_eq!(progress_counts(&c), (1, 3));
        let html = progress(&c).into_string();
        assert!(html.contains(r#"data-done="1" data-total="3""#), "{html}");
        assert!(html.contains("width:33%"), "{html}");
        assert!(html.contains("now: batch 2 (100%)"), "{html}");
        let html = progress(&rolled_back()).into_string();
        assert!(
            html.contains("fill crit") && !html.contains("now:"),
            "{html}"
        );
    }

    #[test]
    fn the_section_on_service_pages_links_changes_with_their_gates() {
        let html = touching_section(&[rolled_back(), running()]).into_string();
        assert!(
            html.contains(r#"<a href="/ui/changes/chg-1">Upgrade &lt;order&gt; service to v2</a>"#),
            "{html}"
        );
        assert!(html.contains(r#"data-state="rolled_back""#));
        assert!(html.contains(r#"data-decision="fail""#), "{html}");
        assert!(html.contains(r#"data-decision="continue""#), "{html}");
        assert!(
            html.contains("2026-11-20 10:00"),
            "started, in China time: {html}"
        );
        let none = touching_section(&[]).into_string();
        assert!(none.contains("No changes have touched it."));
    }

    #[test]
    fn only_known_form_outcomes_are_announced() {
        assert!(flash(Some("submitted")).into_string().contains("approvals"));
        assert_eq!(flash(Some("<script>")).into_string(), "");
    }
}
