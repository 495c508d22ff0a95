//! `/ui/changes`: the changes at work first, then those waiting for approval, then the
//! rest; and the form for a new draft.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Form;
use cairn_app::changes::Change;
use cairn_domain::changes::{plan_batches, ChangeState, ChangeType, Strategy};
use cairn_domain::Principal;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    after_form, app_error, bad, form, params, progress, rfc3339, risk_badge, state_badge, tabs,
    window, window_input, words, DoneParams, SECTION,
};
use super::{flash, may_change};
use crate::auth::Viewer;
use crate::ui::layout::respond;
use crate::ui::{Page, UiError};
use crate::AppState;

/// The new-change form. Every field is text, so a half-filled form still arrives and
/// is answered with what is wrong.
#[derive(Debug, Default, Deserialize)]
pub struct NewChangeForm {
    #[serde(default)]
    title: String,
    #[serde(default, rename = "type")]
    change_type: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    services: String,
    #[serde(default)]
    hosts: String,
    #[serde(default)]
    pools: String,
    #[serde(default)]
    zones: String,
    #[serde(default)]
    merchants: String,
    /// `datetime-local`, China time.
    #[serde(default)]
    window_start: String,
    #[serde(default)]
    window_end: String,
    #[serde(default)]
    test_plan: String,
    #[serde(default)]
    rollback_plan: String,
    /// Steps such as `1, 25%, 100%`, or `zones`.
    #[serde(default)]
    steps: String,
    #[serde(default)]
    webhook: String,
    #[serde(default)]
    rollback_webhook: String,
    #[serde(default)]
    freeze_exception: String,
}

/// `GET /ui/changes`
pub async fn list(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    q: Result<Query<DoneParams>, QueryRejection>,
) -> Response {
    let page = async {
        let q = params(q)?;
        let list = s.app.changes(&p).await.map_err(app_error)?;
        Ok(list_page(&p, &list, q.done.as_deref()))
    };
    respond(&p, page.await)
}

/// `POST /ui/changes`: creates a draft and shows it.
pub async fn create(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    f: Result<Form<NewChangeForm>, FormRejection>,
) -> Response {
    let to = async {
        let body = request_body(&form(f)?)?;
        let c = s.app.create_change(&p, body).await.map_err(app_error)?;
        Ok(format!("/ui/changes/{}?done=created", c.id))
    };
    after_form(&p, to.await)
}

/// The API's request body from the form; what the form alone can tell is wrong is
/// refused here, naming the field, and everything else is the use case's to judge.
fn request_body(f: &NewChangeForm) -> Result<Value, UiError> {
    let change_type = match f.change_type.trim() {
        "standard" => ChangeType::Standard,
        "normal" | "" => ChangeType::Normal,
        "emergency" => ChangeType::Emergency,
        other => {
            return Err(bad(
                "type",
                format!("must be standard, normal or emergency, got {other:?}"),
            ))
        }
    };
    let mut body = json!({
        "title": f.title,
        "type": change_type,
        "description": f.description,
        "targets": {
            "services": words(&f.services),
            "hosts": words(&f.hosts),
            "pools": words(&f.pools),
            "zones": words(&f.zones),
            "merchants": words(&f.merchants),
        },
        "test_plan": f.test_plan,
        "rollback_plan": f.rollback_plan,
    });
    if let Some((a, b)) = window_input(
        &f.window_start,
        &f.window_end,
        ("window_start", "window_end"),
    )? {
        body["window_start"] = json!(rfc3339(a));
        body["window_end"] = json!(rfc3339(b));
    }
    let steps = words(&f.steps);
    if !steps.is_empty() {
        let plan = if steps == ["zones"] {
            Strategy::Zones { order: Vec::new() }
        } else {
            Strategy::Hosts { steps }
        };
        // The steps' shape does not depend on the hosts, so one stand-in host checks
        // it now rather than at submission.
        plan_batches(&plan, &[("h".into(), "z".into())])
            .map_err(|e| bad("steps", e.to_string()))?;
        body["plan"] = json!(plan);
    }
    for (field, url) in [("executor", &f.webhook), ("rollback", &f.rollback_webhook)] {
        if !url.trim().is_empty() {
            body[field] = json!({"kind": "webhook", "url": url.trim()});
        }
    }
    if !f.freeze_exception.trim().is_empty() {
        body["freeze_exception"] = json!(f.freeze_exception.trim());
    }
    Ok(body)
}

/// Running and paused changes, then those waiting for approval (emergency changes
/// still owing theirs included), then the rest, each group newest first.
fn group(c: &Change) -> u8 {
    match c.state {
        ChangeState::Running | ChangeState::Paused => 0,
        ChangeState::Submitted => 1,
        _ if c.approval_due.is_some() && !c.state.is_final() => 1,
        _ => 2,
    }
}

pub(super) fn list_page(p: &Principal, list: &[Change], done: Option<&str>) -> Page {
    let mut sorted: Vec<&Change> = list.iter().collect();
    // Stable: the use case gives them newest first.
    sorted.sort_by_key(|c| group(c));
    let active: Vec<&Change> = sorted.iter().copied().filter(|c| group(c) == 0).collect();
    let waiting: Vec<&Change> = sorted.iter().copied().filter(|c| group(c) == 1).collect();
    let rest: Vec<&Change> = sorted.iter().copied().filter(|c| group(c) == 2).collect();
    Page {
        title: "Changes".into(),
        section: Some(SECTION),
        body: html! {
            h1 { "Changes" }
            (tabs(SECTION))
            (flash(done))
            @if may_change(p) { (new_change_form()) }
            section #active-changes {
                h2 { "In progress (" (active.len()) ")" }
                @if active.is_empty() { p .muted { "No change is running." } }
                @for c in &active { (change_card(c)) }
            }
            section #waiting-changes {
                h2 { "Waiting for approval (" (waiting.len()) ")" }
                @if waiting.is_empty() { p .muted { "Nothing waits for approval." } }
                @for c in &waiting { (change_card(c)) }
            }
            section #other-changes {
                h2 { "All other changes (" (rest.len()) ")" }
                @if rest.is_empty() { p .muted { "None yet." } }
                @for c in &rest { (change_card(c)) }
            }
        },
    }
}

fn change_card(c: &Change) -> Markup {
    html! {
        article .change-card data-change=(c.id) data-state=(c.state.as_str()) {
            h3 { a href=(format!("/ui/changes/{}", c.id)) { (c.title) } }
            p .change-meta {
                (state_badge(c.state)) " "
                span .badge .muted data-type=(c.change_type.as_str()) { (c.change_type.as_str()) } " "
                (risk_badge(c))
            }
            p .change-window { (window(c)) }
            (progress(c))
            @if let Some(r) = &c.reason { p .muted .reason { (r) } }
        }
    }
}

fn new_change_form() -> Markup {
    html! {
        details .panel #new-change {
            summary { strong { "New change" } }
            form .stack-form .wide method="post" action="/ui/changes" #new-change-form {
                label for="change-title" { "Title" }
                input #change-title type="text" name="title" required maxlength="200" placeholder="订单服务升级 / upgrade svc-order to v2.3";
                label for="change-type" { "Type" }
                select #change-type name="type" {
                    option value="normal" selected { "normal — approved before it runs" }
                    option value="standard" { "standard — pre-approved routine" }
                    option value="emergency" { "emergency — runs now, approved after the fact" }
                }
                label for="change-description" { "Description" }
                textarea #change-description name="description" rows="3" {}
                fieldset .targets {
                    legend { "Targets (ids, separated by commas)" }
                    label for="change-services" { "Services" }
                    input #change-services type="text" name="services" placeholder="svc-order, svc-payment";
                    label for="change-hosts" { "Hosts" }
                    input #change-hosts type="text" name="hosts";
                    label for="change-pools" { "Pools" }
                    input #change-pools type="text" name="pools";
                    label for="change-zones" { "Zones" }
                    input #change-zones type="text" name="zones";
                    label for="change-merchants" { "Merchants (a cohort)" }
                    input #change-merchants type="text" name="merchants";
                }
                fieldset .window-fields {
                    legend { "Window, in China time (UTC+8)" }
                    label for="change-start" { "Starts" }
                    input #change-start type="datetime-local" name="window_start";
                    label for="change-end" { "Ends" }
                    input #change-end type="datetime-local" name="window_end";
                    p .muted { "Required for standard and normal changes. Both times are read as China time, whatever your device's zone." }
                }
                label for="change-test" { "Test plan" }
                textarea #change-test name="test_plan" rows="2" {}
                label for="change-rollback" { "Rollback plan" }
                textarea #change-rollback name="rollback_plan" rows="2" {}
                label for="change-steps" { "Batches: steps over the target hosts" }
                input #change-steps type="text" name="steps" placeholder="1, 25%, 100%";
                p .muted { "Each step is cumulative: a host count or a share. Write zones for one batch per zone. Empty: 1, 25%, 100%." }
                label for="change-webhook" { "Executor: webhook URL" }
                input #change-webhook type="url" name="webhook" placeholder="https://deploy.example.com/hooks/cairn";
                label for="change-rollback-webhook" { "Rollback executor: webhook URL (optional)" }
                input #change-rollback-webhook type="url" name="rollback_webhook";
                p .muted { "Each batch is POSTed to the webhook, which calls back when done. Command executors run on cairn's own machine: only an admin may set one, through the API (PUT /api/v1/changes/{id})." }
                label for="change-freeze" { "Freeze exception (only if the window meets a freeze: why it cannot wait)" }
                input #change-freeze type="text" name="freeze_exception";
                button type="submit" #new-change-submit { "Create draft" }
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

    fn filled() -> NewChangeForm {
        NewChangeForm {
            title: "Upgrade".into(),
            change_type: "normal".into(),
            services: "svc-order, svc-pay".into(),
            window_start: "2026-11-26T10:00".into(),
            window_end: "2026-11-26T12:00".into(),
            steps: "1, 25%, 100%".into(),
            webhook: "https://deploy.example/hook".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_form_becomes_the_api_body_with_china_time_and_a_webhook() {
        let body = request_body(&filled()).unwrap();
        assert_eq!(body["type"], "normal");
        assert_eq!(body["targets"]["services"], json!(["svc-order", "svc-pay"]));
        assert_eq!(body["window_start"], "2026-11-26T10:00:00+08:00");
        assert_eq!(
            body["plan"],
            json!({"by": "hosts", "steps": ["1", "25%", "100%"]})
        );
        assert_eq!(
            body["executor"],
            json!({"kind": "webhook", "url": "https://deploy.example/hook"})
        );
        assert!(body.get("rollback").is_none() && body.get("freeze_exception").is_none());
        let zones = request_body(&NewChangeForm {
            steps: "zones".into(),
            ..filled()
        })
        .unwrap();
        assert_eq!(zones["plan"], json!({"by": "zones", "order": []}));
    }

    #[test]
    fn bad_fields_are_named() {
        for (form, field) in [
            (
                NewChangeForm {
                    change_type: "yolo".into(),
                    ..filled()
                },
                "type:",
            ),
            (
                NewChangeForm {
                    steps: "1, lots".into(),
                    ..filled()
                },
                "steps:",
            ),
            (
                NewChangeForm {
                    window_end: "2026-11-26T09:00".into(),
                    ..filled()
                },
                "window_end:",
            ),
        ] {
            let e = request_body(&form).unwrap_err();
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
            assert!(e.message.starts_with(field), "{field} {}", e.message);
        }
    }

    #[test]
    fn the_list_puts_running_changes_first_then_those_waiting() {
        let list = [rolled_back(), submitted(), running()];
        let html = list_page(&principal(Role::AppOps), &list, None)
            .body
            .into_string();
        let at = |id: &str| html.find(&format!(r#"data-change="{id}""#)).unwrap();
        assert!(
            at("chg-3") < at("chg-2") && at("chg-2") < at("chg-1"),
            "{html}"
        );
        assert!(html.contains("In progress (1)") && html.contains("Waiting for approval (1)"));
        assert!(html.contains(r#"data-risk="medium""#) && html.contains("score 38"));
        assert!(html.contains("Upgrade &lt;order&gt; service to v2"));
        assert!(html.contains("China time (UTC+8)"));
        assert!(html.contains("only an admin may set one"));
        assert!(html.contains(r#"type="datetime-local" name="window_start""#));
        let viewer = list_page(&principal(Role::Viewer), &list, None)
            .body
            .into_string();
        assert!(!viewer.contains("new-change-form"), "viewers read only");
    }
}
