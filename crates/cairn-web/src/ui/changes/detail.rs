//! `/ui/changes/{id}`: one change — what it is, its risk factor by factor with an
//! override, its approvals, the buttons its state allows, the gray release batch by
//! batch with each gate's verdict, the rollback, and the log — and the forms that
//! move it along.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Form;
use cairn_app::changes::{Change, Executor};
use cairn_domain::changes::{ChangeState, ChangeType, Risk, RiskLevel, Strategy};
use cairn_domain::Principal;
use maud::{html, Markup};
use serde::Deserialize;

use super::gate;
use super::{
    after_form, app_error, bad, china_time, flash, form, id_links, may_change, params, progress,
    risk_badge, risk_level_badge, state_badge, when, window, DoneParams, SECTION,
};
use crate::auth::Viewer;
use crate::ui::layout::respond;
use crate::ui::Page;
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct ReviewForm {
    /// `approve` or `reject`.
    #[serde(default)]
    decision: String,
    #[serde(default)]
    comment: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct RiskForm {
    #[serde(default)]
    level: String,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ControlForm {
    /// `pause`, `resume`, `skip` or `abort`.
    #[serde(default)]
    action: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    reason: String,
}

fn back(id: &str, done: &str) -> String {
    format!("/ui/changes/{id}?done={done}")
}

/// `GET /ui/changes/{id}`
pub async fn show(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    q: Result<Query<DoneParams>, QueryRejection>,
) -> Response {
    let page = async {
        let q = params(q)?;
        let c = s.app.change(&p, &id).await.map_err(app_error)?;
        Ok(page(&p, &c, q.done.as_deref()))
    };
    respond(&p, page.await)
}

/// `POST /ui/changes/{id}/submit`
pub async fn submit(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
) -> Response {
    let to = async {
        s.app.submit_change(&p, &id).await.map_err(app_error)?;
        Ok(back(&id, "submitted"))
    };
    after_form(&p, to.await)
}

/// `POST /ui/changes/{id}/review`: approve, or reject with a comment.
pub async fn review(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    f: Result<Form<ReviewForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        let approve = match f.decision.as_str() {
            "approve" => true,
            "reject" => false,
            other => {
                return Err(bad(
                    "decision",
                    format!("must be approve or reject, got {other:?}"),
                ))
            }
        };
        s.app
            .review_change(&p, &id, Some(approve), &f.comment)
            .await
            .map_err(app_error)?;
        Ok(back(&id, if approve { "approved" } else { "rejected" }))
    };
    after_form(&p, to.await)
}

/// `POST /ui/changes/{id}/risk`
pub async fn risk(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    f: Result<Form<RiskForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        s.app
            .override_change_risk(&p, &id, &f.level, &f.reason)
            .await
            .map_err(app_error)?;
        Ok(back(&id, "risk"))
    };
    after_form(&p, to.await)
}

/// `POST /ui/changes/{id}/start`
pub async fn start(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
) -> Response {
    let to = async {
        s.app.start_change(&p, &id).await.map_err(app_error)?;
        Ok(back(&id, "started"))
    };
    after_form(&p, to.await)
}

/// `POST /ui/changes/{id}/control`: pause, resume, skip or abort.
pub async fn control(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    f: Result<Form<ControlForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        let done = match f.action.as_str() {
            a @ ("pause" | "resume" | "skip" | "abort") => a,
            other => {
                return Err(bad(
                    "action",
                    format!("must be pause, resume, skip or abort, got {other:?}"),
                ))
            }
        };
        s.app
            .control_change(&p, &id, done)
            .await
            .map_err(app_error)?;
        Ok(back(&id, done))
    };
    after_form(&p, to.await)
}

/// `POST /ui/changes/{id}/rollback`
pub async fn rollback(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    f: Result<Form<ReasonForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        s.app
            .rollback_change(&p, &id, &f.reason)
            .await
            .map_err(app_error)?;
        Ok(back(&id, "rollback"))
    };
    after_form(&p, to.await)
}

// ---------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------

pub(super) fn page(p: &Principal, c: &Change, done: Option<&str>) -> Page {
    Page {
        title: format!("{} · change", c.title),
        section: Some(SECTION),
        body: html! {
            p { a href="/ui/changes" { "← Changes" } }
            h1 #change-title { (c.title) }
            (flash(done))
            p #change-state {
                (state_badge(c.state)) " "
                span .badge .muted data-type=(c.change_type.as_str()) { (c.change_type.as_str()) } " "
                (risk_badge(c))
            }
            @if let Some(r) = &c.reason { p #change-reason .reason { (r) } }
            (actions(p, c))
            (request(c))
            (risk_section(p, c))
            (approvals(p, c))
            (batches(c))
            section .panel #events {
                h2 { "Log" }
                ol .timeline #change-events {
                    @for e in c.events.iter().rev() {
                        li data-kind=(e.kind) {
                            (when(e.at)) " " span .badge .muted { (e.kind) } " " (e.text)
                            " " span .muted { "— " (e.actor) }
                        }
                    }
                }
            }
        },
    }
}

/// The buttons the change's state allows, for those who may run changes.
fn actions(p: &Principal, c: &Change) -> Markup {
    if !may_change(p) || (c.state.is_final() && c.state != ChangeState::Completed) {
        return html! {};
    }
    let base = format!("/ui/changes/{}", c.id);
    let control = |action: &str, label: &str, primary: bool| {
        html! {
            form method="post" action=(format!("{base}/control")) {
                input type="hidden" name="action" value=(action);
                button type="submit" .secondary[!primary] id=(format!("change-{action}")) { (label) }
            }
        }
    };
    let running = matches!(c.state, ChangeState::Running | ChangeState::Paused);
    html! {
        div .alert-actions .change-actions #change-actions {
            @match c.state {
                ChangeState::Draft => {
                    form method="post" action=(format!("{base}/submit")) {
                        button type="submit" #change-submit { "Submit for approval" }
                    }
                }
                ChangeState::Approved => {
                    form method="post" action=(format!("{base}/start")) {
                        button type="submit" #change-start { "Start the gray release" }
                    }
                }
                ChangeState::Running => (control("pause", "Pause", true)),
                ChangeState::Paused => (control("resume", "Resume", true)),
                _ => {}
            }
            @if running {
                (control("skip", "Skip the current batch", false))
            }
            @if !c.state.is_final() && c.state != ChangeState::Draft {
                (control("abort", "Abort", false))
            }
        }
        @if running || c.state == ChangeState::Completed {
            details .panel #rollback-form {
                summary { strong { "Roll back" } }
                form .stack-form method="post" action=(format!("{base}/rollback")) {
                    label for="rollback-reason" { "Why (required)" }
                    input #rollback-reason type="text" name="reason" required;
                    p .muted { "Runs the rollback executor over every batch touched so far." }
                    button type="submit" #change-rollback { "Roll back now" }
                }
            }
        }
    }
}

fn executor(e: Option<&Executor>) -> Markup {
    match e {
        Some(Executor::Webhook { url, timeout_s }) => html! {
            "webhook " code { (url) } " " span .muted { "(timeout " (timeout_s) " s)" }
        },
        Some(Executor::Command {
            program,
            args,
            timeout_s,
        }) => html! {
            "command " code { (program) @for a in args { " " (a) } } " " span .muted { "(timeout " (timeout_s) " s)" }
        },
        None => html! { span .muted { "none" } },
    }
}

fn plan(s: &Strategy) -> String {
    match s {
        Strategy::Hosts { steps } => format!("by hosts: {}", steps.join(" → ")),
        Strategy::Zones { order } if order.is_empty() => "one batch per zone".into(),
        Strategy::Zones { order } => format!("one batch per zone, {} first", order.join(", ")),
        Strategy::Explicit { batches } => format!("{} batches given by hand", batches.len()),
    }
}

fn text_block(s: &str) -> Markup {
    html! {
        @if s.trim().is_empty() { span .muted { "—" } } @else { div .pre-wrap { (s) } }
    }
}

/// What was asked for: who, when, where, how.
fn request(c: &Change) -> Markup {
    let t = &c.targets;
    html! {
        section .panel #request {
            h2 { "Request" }
            dl .fields {
                div { dt { "Requested by" } dd #requested-by { (c.requested_by) " at " (when(c.created_at)) } }
                @if let Some(at) = c.submitted_at { div { dt { "Submitted" } dd { (when(at)) } } }
                div { dt { "Window" } dd #change-window { (window(c)) } }
                @if let Some(due) = c.approval_due {
                    div { dt { "Approvals due" } dd { (china_time(due)) " " span .muted { "China time (emergency: approved after the fact)" } } }
                }
                div { dt { "Services" } dd { (id_links("services", &t.services, 30)) } }
                @if !t.hosts.is_empty() { div { dt { "Hosts" } dd { (id_links("hosts", &t.hosts, 30)) } } }
                @if !t.pools.is_empty() { div { dt { "Pools" } dd { (id_links("pools", &t.pools, 30)) } } }
                @if !t.zones.is_empty() { div { dt { "Zones" } dd { (id_links("zones", &t.zones, 30)) } } }
                @if !t.merchants.is_empty() { div { dt { "Merchant cohort" } dd { (id_links("merchants", &t.merchants, 30)) } } }
                @if c.submitted_at.is_some() {
                    div { dt { "Hosts resolved" } dd { (c.hosts.len()) } }
                    div { dt { "Services touched" } dd { (id_links("services", &c.services, 30)) } }
                    div { dt { "Merchants touched" } dd { (c.merchants.len()) " " (id_links("merchants", &c.merchants, 10)) } }
                }
                div { dt { "Freezes met" } dd #freezes-met {
                    @if c.freezes.is_empty() { span .muted { "none" } }
                    @for f in &c.freezes { span .badge .warn { (f) } " " }
                } }
                @if let Some(e) = &c.freeze_exception { div { dt { "Freeze exception" } dd { (e) } } }
                div { dt { "Description" } dd { (text_block(&c.description)) } }
                div { dt { "Test plan" } dd { (text_block(&c.test_plan)) } }
                div { dt { "Rollback plan" } dd { (text_block(&c.rollback_plan)) } }
                div { dt { "Plan" } dd { (plan(&c.plan)) } }
                div { dt { "Executor" } dd #executor { (executor(c.executor.as_ref())) } }
                div { dt { "Rollback executor" } dd { (executor(c.rollback.as_ref())) } }
                div { dt { "Gate" } dd {
                    @match &c.gate {
                        Some(g) => {
                            (g.metrics.len()) " metrics over " (g.window_s) " s: "
                            @for (n, m) in g.metrics.iter().enumerate() { @if n > 0 { ", " } code { (m.spec.name) } }
                        }
                        None => span .muted { "none: batches follow each other without analysis" },
                    }
                } }
            }
        }
    }
}

/// The risk factor by factor, each with a small bar, and the override form while the
/// change waits for approval.
fn risk_section(p: &Principal, c: &Change) -> Markup {
    let Some(r) = &c.risk else {
        return html! {
            section .panel #risk {
                h2 { "Risk" }
                p .muted { "Assessed when the change is submitted, from what it touches, its type, its window and recent incidents." }
            }
        };
    };
    let biggest = r.factors.iter().map(|f| f.points).max().unwrap_or(1).max(1);
    html! {
        section .panel #risk {
            h2 { "Risk" }
            p #risk-summary {
                (risk_level_badge(r.effective())) " "
                strong { "score " (r.score) } span .muted { " of 100, computed " (r.level.as_str()) }
            }
            (override_note(r))
            div .table-wrap {
                table #risk-factors {
                    thead { tr { th { "Factor" } th .num { "Points" } th { span .visually-hidden { "Share" } } th { "Why" } } }
                    tbody {
                        @for f in &r.factors {
                            tr data-factor=(f.factor) {
                                td .nowrap { (f.factor.replace('_', " ")) }
                                td .num { (f.points) }
                                td .factor-bar { div .bar { span .fill .warn style=(format!("width:{}%", f.points * 100 / biggest)) {} } }
                                td .wrap { (f.detail) }
                            }
                        }
                    }
                }
            }
            @if may_change(p) && c.state == ChangeState::Submitted {
                details #risk-override {
                    summary { "Override the risk level" }
                    form .stack-form method="post" action=(format!("/ui/changes/{}/risk", c.id)) {
                        label for="risk-level" { "Level" }
                        select #risk-level name="level" {
                            @for l in [RiskLevel::Low, RiskLevel::Medium, RiskLevel::High] {
                                option value=(l.as_str()) selected[l == r.effective()] { (l.as_str()) }
                            }
                        }
                        label for="risk-reason" { "Why (required)" }
                        input #risk-reason type="text" name="reason" required;
                        p .muted { "The approvals the change needs follow the level." }
                        button type="submit" .secondary { "Override" }
                    }
                }
            }
        }
    }
}

fn override_note(r: &Risk) -> Markup {
    html! {
        @if let Some(l) = r.override_level {
            p #risk-overridden {
                "Set to " strong { (l.as_str()) } " by " (r.override_by.as_deref().unwrap_or("someone"))
                @if let Some(why) = &r.override_reason { ": " (why) }
            }
        }
    }
}

/// The steps the policy asks for, those still open, the approvals and rejections
/// given, and the forms to give one.
fn approvals(p: &Principal, c: &Change) -> Markup {
    let open = c.open_steps();
    let after_the_fact = c.change_type == ChangeType::Emergency && c.approval_due.is_some();
    let waiting = c.state == ChangeState::Submitted || after_the_fact;
    let own = c.requested_by == p.actor;
    html! {
        section .panel #approvals {
            h2 { "Approvals" }
            @if c.required.is_empty() {
                p .muted {
                    @if c.state == ChangeState::Draft { "Set when the change is submitted, by its risk." }
                    @else { "None needed." }
                }
            } @else {
                h3 { "Required" }
                ul .link-list #required-steps {
                    @for s in &c.required {
                        @let left = open.iter().find(|o| o.name == s.name).map(|o| o.count).unwrap_or(0);
                        li data-step=(s.name) .open[left > 0] {
                            strong { (s.name) } " "
                            @if s.count > 1 { "(" (s.count) ") " }
                            span .muted { "— one of " (s.roles.join(", ")) } " "
                            @if left > 0 { span .badge .warn { (left) " open" } } @else { span .badge .ok { "given" } }
                        }
                    }
                }
                @if !open.is_empty() && waiting {
                    p #open-steps { "Still needed: " (open.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")) }
                }
            }
            @if !c.approvals.is_empty() {
                h3 { "Given" }
                ul .link-list #approvals-given {
                    @for a in &c.approvals {
                        li data-by=(a.by) {
                            @if a.approve { span .badge .ok { "approved" } } @else { span .badge .crit { "rejected" } }
                            " " (a.by) " " span .muted { "(" (a.role) ") " (when(a.at)) }
                            @if !a.comment.is_empty() { ": " (a.comment) }
                        }
                    }
                }
            }
            @if waiting && may_change(p) {
                @if own {
                    p .muted #own-change { "You requested this change; someone else must approve it." }
                } @else {
                    div .columns #review-forms {
                        form .stack-form method="post" action=(format!("/ui/changes/{}/review", c.id)) #approve-form {
                            input type="hidden" name="decision" value="approve";
                            label for="approve-comment" { "Comment (optional)" }
                            input #approve-comment type="text" name="comment";
                            button type="submit" #change-approve { "Approve" }
                        }
                        form .stack-form method="post" action=(format!("/ui/changes/{}/review", c.id)) #reject-form {
                            input type="hidden" name="decision" value="reject";
                            label for="reject-comment" { "Why reject (required)" }
                            input #reject-comment type="text" name="comment" required;
                            button type="submit" .secondary #change-reject { "Reject" }
                        }
                    }
                }
            }
        }
    }
}

/// The gray release: progress, every batch with its gate, and the rollback run.
fn batches(c: &Change) -> Markup {
    let current = matches!(c.state, ChangeState::Running | ChangeState::Paused);
    html! {
        section .panel #batches {
            h2 { "Gray release" }
            (progress(c))
            @if c.batches.is_empty() {
                p .muted { "Batches are planned when the change is submitted: " (plan(&c.plan)) "." }
            }
            @for (n, b) in c.batches.iter().enumerate() {
                (gate::batch(b, current && n == c.current, &format!("batch-{n}")))
            }
            @if let Some(r) = &c.rollback_run {
                h3 #rollback-run-title { "Rollback" }
                (gate::batch(r, false, "rollback-run"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cairn_domain::Role;

    use super::super::fixtures::*;
    use super::*;
    use crate::ui::tests::principal;

    fn render(role: Role, c: &Change) -> String {
        page(&principal(role), c, None).body.into_string()
    }

    #[test]
    fn a_rolled_back_change_shows_its_risk_gate_rollback_and_log() {
        let html = render(Role::AppOps, &rolled_back());
        assert!(html.contains("<h1 id=\"change-title\">Upgrade &lt;order&gt; service to v2</h1>"));
        assert!(html.contains(r#"data-state="rolled_back""#));
        assert!(html.contains("gate failed after batch 1; rolled back"));
        // Risk: every factor with its points, a bar relative to the largest, escaped.
        assert!(html.contains(r#"<tr data-factor="promotion"><td class="nowrap">promotion</td><td class="num">15</td>"#), "{html}");
        assert!(html.contains("width:53%"), "8 of 15 points: {html}");
        assert!(html.contains("near a promotion: &lt;Double 11&gt;"));
        // The batch with its gate, the rollback run, the log.
        assert!(html.contains(r#"data-metric="error_ratio""#));
        assert!(html.contains(r#"id="rollback-run""#) && html.contains("rolled back h-1"));
        assert!(html.contains("gate after batch 1: fail"));
        assert!(html.contains("1 of 2 batches done"));
        // Over: no buttons but none to roll back either; no review forms.
        assert!(!html.contains("change-rollback") && !html.contains("approve-form"));
        assert!(
            html.contains("2026-11-20 09:00"),
            "window in China time: {html}"
        );
    }

    #[test]
    fn a_submitted_change_offers_review_and_override_to_others_only() {
        let c = submitted();
        let html = render(Role::AppOps, &c);
        assert!(
            html.contains(r#"id="open-steps">Still needed: peer"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<li class="open" data-step="peer">"#),
            "{html}"
        );
        assert!(html.contains(r#"id="approve-form""#) && html.contains(r#"id="reject-form""#));
        assert!(
            html.contains(r#"name="comment" required"#),
            "a rejection needs a comment"
        );
        assert!(html.contains(r#"id="risk-override""#));
        assert!(html.contains(r#"id="change-abort""#) && !html.contains("change-start"));
        let mut own = c.clone();
        own.requested_by = "user:test".into();
        let html = render(Role::AppOps, &own);
        assert!(html.contains(r#"id="own-change""#) && !html.contains("approve-form"));
        let html = render(Role::Viewer, &c);
        assert!(!html.contains("<form"), "viewers read only: {html}");
    }

    #[test]
    fn the_buttons_follow_the_state() {
        let mut c = submitted();
        c.state = ChangeState::Draft;
        c.risk = None;
        let html = render(Role::Developer, &c);
        assert!(html.contains(r#"id="change-submit""#) && !html.contains("change-abort"));
        assert!(html.contains("Assessed when the change is submitted"));
        c.state = ChangeState::Approved;
        assert!(render(Role::Developer, &c).contains(r#"id="change-start""#));
        let running = running();
        let html = render(Role::Developer, &running);
        for id in [
            "change-pause",
            "change-skip",
            "change-abort",
            "change-rollback",
        ] {
            assert!(html.contains(&format!(r#"id="{id}""#)), "{id}");
        }
        assert!(
            html.contains(r#"<article class="batch current" id="batch-1""#),
            "{html}"
        );
        let mut paused = running;
        paused.state = ChangeState::Paused;
        let html = render(Role::Developer, &paused);
        assert!(html.contains(r#"id="change-resume""#) && !html.contains("change-pause"));
    }

    #[test]
    fn executor_text_is_escaped() {
        let mut c = submitted();
        c.executor = Some(Executor::Webhook {
            url: "https://x.example/?a=<b>".into(),
            timeout_s: 60,
        });
        let html = render(Role::Viewer, &c);
        assert!(html.contains("https://x.example/?a=&lt;b&gt;"));
    }
}
