//! The incident pages, made for the on-call engineer's phone first: the list with a
//! declare form, one incident with big buttons to acknowledge and move it along, forms
//! for updates, notes, severity, roles and the impact estimate, the timeline, and the
//! review with its action items; and the numbers (MTTA, MTTR, incidents by severity,
//! service, team and cause, repeats, overdue action items) by week or month.
//!
//! A merchant sees the incidents that hurt it, with the updates written for merchants
//! and nothing else; the use cases decide that, as they do for `/api/v1/incidents`.
//! Forms post to this module's routes and redirect back with `?done=…`
//! (post/redirect/get), like the alerting pages; see `alerts.rs` on why they need no
//! token of their own.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use cairn_app::incidents::{
    IncidentDetail, IncidentNumbers, IncidentNumbersRow, IncidentPage, IncidentView,
    MerchantIncident,
};
use cairn_domain::incidents::{Incident, IncidentStatus, Severity, SeverityDefinitions};
use cairn_domain::{Principal, Role, Timestamp};
use cairn_store::incidents::TimelineEntry;
use maud::{html, Markup};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use super::chart::{breakdown, minutes};
use super::format::{moment, span};
use super::layout::{error_response, respond};
use super::{Page, UiError};
use crate::auth::Viewer;
use crate::AppState;

/// The navigation section of every incident page.
pub const SECTION: &str = "/ui/incidents";

const TABS: &[(&str, &str)] = &[
    ("Incidents", "/ui/incidents"),
    ("Numbers", "/ui/incidents/numbers"),
];

// ---------------------------------------------------------------------------------
// Forms and queries
// ---------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoneParams {
    #[serde(default)]
    done: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumbersParams {
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

/// The declare form; the alert and problem pages post it too, with `alerts` or
/// `problem` set.
#[derive(Debug, Default, Deserialize)]
pub struct DeclareForm {
    #[serde(default)]
    title: String,
    /// Empty: the severity suggested by the impact.
    #[serde(default)]
    severity: String,
    /// Service ids, separated by commas or spaces.
    #[serde(default)]
    services: String,
    #[serde(default)]
    summary: String,
    /// One alert fingerprint.
    #[serde(default)]
    alert: String,
    #[serde(default)]
    problem: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    note: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct SeverityForm {
    #[serde(default)]
    severity: String,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
    #[serde(default)]
    person: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct TextForm {
    #[serde(default)]
    body: String,
    /// `note` or `decision` for notes; `internal` or `merchants` for updates.
    #[serde(default)]
    kind: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ImpactForm {
    #[serde(default)]
    merchants: String,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ReviewForm {
    #[serde(default)]
    summary: String,
    #[serde(default)]
    impact: String,
    #[serde(default)]
    root_cause: String,
    #[serde(default)]
    cause_category: String,
    /// One factor a line.
    #[serde(default)]
    contributing_factors: String,
    #[serde(default)]
    went_well: String,
    #[serde(default)]
    went_badly: String,
    #[serde(default)]
    responsible_team: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    owner: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    due: String,
    /// Ticket or change ids, separated by commas or spaces.
    #[serde(default)]
    links: String,
}

fn params<T: DeserializeOwned>(q: Result<Query<T>, QueryRejection>) -> Result<T, UiError> {
    q.map(|Query(t)| t)
        .map_err(|e| UiError::new(StatusCode::BAD_REQUEST, e.body_text()))
}

fn form<T>(f: Result<Form<T>, FormRejection>) -> Result<T, UiError> {
    f.map(|Form(t)| t)
        .map_err(|e| UiError::new(e.status(), e.body_text()))
}

fn after_form(p: &Principal, to: Result<String, UiError>) -> Response {
    match to {
        Ok(to) => Redirect::to(&to).into_response(),
        Err(e) => error_response(Some(p), e),
    }
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn back(id: &str, done: &str) -> String {
    format!("/ui/incidents/{id}?done={done}")
}

// ---------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------

/// `GET /ui/incidents`
pub async fn list(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    q: Result<Query<DoneParams>, QueryRejection>,
) -> Response {
    let page = async {
        let q = params(q)?;
        let list = s.app.incident_list(&p).await?;
        let defs = s.app.severity_definitions().await?;
        Ok(list_page(&p, s.app.now(), &list, &defs, q.done.as_deref()))
    };
    respond(&p, page.await)
}

/// `POST /ui/incidents`: declares one, by hand or from an alert or a problem.
pub async fn declare(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    f: Result<Form<DeclareForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        let mut body = json!({
            "title": f.title,
            "summary": f.summary,
            "services": words(&f.services),
        });
        if !f.severity.is_empty() {
            body["severity"] = json!(f.severity);
        }
        if !f.alert.is_empty() {
            body["alerts"] = json!([f.alert]);
        }
        if !f.problem.is_empty() {
            body["problem"] = json!(f.problem);
        }
        let i = s.app.declare_incident(&p, body).await?;
        Ok(back(&i.id, "declared"))
    };
    after_form(&p, to.await)
}

/// `GET /ui/incidents/{id}`
pub async fn detail(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    q: Result<Query<DoneParams>, QueryRejection>,
) -> Response {
    let page = async {
        let q = params(q)?;
        Ok(match s.app.incident(&p, &id).await? {
            IncidentPage::Staff(d) => {
                let defs = s.app.severity_definitions().await?;
                staff_page(s.app.now(), &d, &defs, q.done.as_deref())
            }
            IncidentPage::Merchant(m) => merchant_page(&m),
        })
    };
    respond(&p, page.await)
}

/// `POST /ui/incidents/{id}/ack`
pub async fn acknowledge(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
) -> Response {
    let to = async {
        s.app.acknowledge_incident(&p, &id).await?;
        Ok(back(&id, "acknowledged"))
    };
    after_form(&p, to.await)
}

/// `POST /ui/incidents/{id}/status`
pub async fn status(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    f: Result<Form<StatusForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        s.app
            .set_incident_status(&p, &id, &f.status, Some(&f.note))
            .await?;
        Ok(back(&id, "status"))
    };
    after_form(&p, to.await)
}

/// `POST /ui/incidents/{id}/severity`
pub async fn severity(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    f: Result<Form<SeverityForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        s.app
            .set_incident_severity(&p, &id, &f.severity, &f.reason)
            .await?;
        Ok(back(&id, "severity"))
    };
    after_form(&p, to.await)
}

/// `POST /ui/incidents/{id}/roles`
pub async fn role(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    f: Result<Form<RoleForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        s.app.set_incident_role(&p, &id, &f.role, &f.person).await?;
        Ok(back(&id, "role"))
    };
    after_form(&p, to.await)
}

/// `POST /ui/incidents/{id}/notes`
pub async fn note(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    f: Result<Form<TextForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        let kind = if f.kind.is_empty() { "note" } else { &f.kind };
        s.app.incident_note(&p, &id, kind, &f.body).await?;
        Ok(back(&id, "noted"))
    };
    after_form(&p, to.await)
}

/// `POST /ui/incidents/{id}/updates`
pub async fn update(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    f: Result<Form<TextForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        let audience = if f.kind.is_empty() {
            "internal"
        } else {
            &f.kind
        };
        s.app.incident_update(&p, &id, &f.body, audience).await?;
        Ok(back(&id, "updated"))
    };
    after_form(&p, to.await)
}

/// `POST /ui/incidents/{id}/impact`
pub async fn impact(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    f: Result<Form<ImpactForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        let n: usize = f.merchants.trim().parse().map_err(|_| {
            UiError::new(
                StatusCode::BAD_REQUEST,
                format!("merchants: must be a whole number, got {:?}", f.merchants),
            )
        })?;
        s.app
            .override_incident_impact(&p, &id, n, &f.reason)
            .await?;
        Ok(back(&id, "impact"))
    };
    after_form(&p, to.await)
}

/// `POST /ui/incidents/{id}/review`
pub async fn review(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    f: Result<Form<ReviewForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        let factors: Vec<&str> = f
            .contributing_factors
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let body = json!({
            "summary": f.summary,
            "impact": f.impact,
            "root_cause": f.root_cause,
            "cause_category": f.cause_category,
            "contributing_factors": factors,
            "went_well": f.went_well,
            "went_badly": f.went_badly,
            "responsible_team": f.responsible_team,
        });
        s.app.put_incident_review(&p, &id, body).await?;
        Ok(back(&id, "review"))
    };
    after_form(&p, to.await)
}

/// `POST /ui/incidents/{id}/actions`
pub async fn action(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    f: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        let body = json!({
            "title": f.title,
            "owner": f.owner,
            "due": f.due.trim(),
            "links": words(&f.links),
        });
        s.app.add_incident_action(&p, &id, body).await?;
        Ok(back(&id, "action"))
    };
    after_form(&p, to.await)
}

/// `POST /ui/incidents/{id}/actions/{action}/done`
pub async fn action_done(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let to = async {
        s.app.complete_incident_action(&p, &id, &action).await?;
        Ok(back(&id, "action-done"))
    };
    after_form(&p, to.await)
}

/// `GET /ui/incidents/numbers`
pub async fn numbers(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    q: Result<Query<NumbersParams>, QueryRejection>,
) -> Response {
    let page = async {
        let q = params(q)?;
        let monthly = match q.by.as_deref().unwrap_or("week") {
            "week" | "" => false,
            "month" => true,
            other => {
                return Err(UiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("by: must be week or month, got {other:?}"),
                ))
            }
        };
        let today = s.app.now().date();
        let date =
            |name: &str, v: Option<&str>, default: time::Date| match v.filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => time::Date::parse(
                    v,
                    &time::macros::format_description!("[year]-[month]-[day]"),
                )
                .map_err(|_| {
                    UiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("{name}: must be a date such as 2026-11-01, got {v:?}"),
                    )
                }),
            };
        let span_days = if monthly { 365 } else { 91 };
        let to = date("to", q.to.as_deref(), today)?;
        let from = date(
            "from",
            q.from.as_deref(),
            to - time::Duration::days(span_days),
        )?;
        let n = s.app.incident_numbers(&p, monthly, from, to).await?;
        Ok(numbers_page(&n, from, to))
    };
    respond(&p, page.await)
}

// ---------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------

fn tabs(current: &str) -> Markup {
    html! {
        nav aria-label="Incidents" {
            ul .tabs #incident-tabs {
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
        Some("declared") => "Incident declared; the on-call of its services is being paged.",
        Some("acknowledged") => "Acknowledged: paging stops, you are responding.",
        Some("status") => "Status changed.",
        Some("severity") => "Severity changed.",
        Some("role") => "Role handed over.",
        Some("noted") => "Added to the timeline.",
        Some("updated") => "Update posted.",
        Some("impact") => "Impact estimate recorded.",
        Some("review") => "Review saved.",
        Some("action") => "Action item added.",
        Some("action-done") => "Action item done.",
        _ => return html! {},
    };
    html! { p .notice #flash role="status" data-done=(done.unwrap_or_default()) { (text) } }
}

fn severity_badge(s: Severity) -> Markup {
    let class = match s {
        Severity::P1 | Severity::P2 => "badge crit",
        Severity::P3 => "badge warn",
        Severity::P4 => "badge info",
    };
    html! { span class=(class) data-severity=(s.as_str()) { (s.as_str().to_uppercase()) } }
}

fn status_badge(s: IncidentStatus) -> Markup {
    let class = if s.is_open() {
        "badge warn"
    } else {
        "badge ok"
    };
    html! { span class=(class) data-status=(s.as_str()) { (s.as_str()) } }
}

fn when(t: Timestamp) -> Markup {
    html! {
        time datetime=(t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()) { (moment(t)) }
    }
}

fn ago(now: Timestamp, t: Timestamp) -> Markup {
    html! {
        time datetime=(t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()) title=(moment(t)) {
            @if now > t { (span(now - t)) " ago" } @else { (moment(t)) }
        }
    }
}

fn severity_options(selected: Option<Severity>, defs: &SeverityDefinitions) -> Markup {
    html! {
        @for s in Severity::ALL {
            option value=(s.as_str()) selected[selected == Some(s)] title=(defs.text(s)) {
                (s.as_str().to_uppercase()) " — " (defs.text(s))
            }
        }
    }
}

fn list_page(
    p: &Principal,
    now: Timestamp,
    list: &[IncidentView],
    defs: &SeverityDefinitions,
    done: Option<&str>,
) -> Page {
    if p.role == Role::Merchant {
        return merchant_list(now, list);
    }
    let staff: Vec<&Incident> = list
        .iter()
        .filter_map(|v| match v {
            IncidentView::Staff(i) => Some(i.as_ref()),
            IncidentView::Merchant(_) => None,
        })
        .collect();
    let (open, closed): (Vec<&Incident>, Vec<&Incident>) =
        staff.into_iter().partition(|i| i.status.is_open());
    let may_declare = p.role != Role::Viewer;
    Page {
        title: "Incidents".into(),
        section: Some(SECTION),
        body: html! {
            h1 { "Incidents" }
            (tabs("/ui/incidents"))
            (flash(done))
            @if may_declare {
                details .panel #declare open[open.is_empty()] {
                    summary { strong { "Declare an incident" } }
                    form .stack-form method="post" action="/ui/incidents" #declare-form {
                        label for="declare-title" { "What is wrong" }
                        input #declare-title type="text" name="title" required maxlength="200" placeholder="支付超时 / payments time out in cn-hz-a";
                        label for="declare-severity" { "Severity" }
                        select #declare-severity name="severity" {
                            option value="" selected { "Suggest from the impact" }
                            (severity_options(None, defs))
                        }
                        label for="declare-services" { "Services affected (ids, optional)" }
                        input #declare-services type="text" name="services" placeholder="svc-payment, svc-order";
                        label for="declare-summary" { "Summary (optional)" }
                        textarea #declare-summary name="summary" rows="3" {}
                        button type="submit" #declare-submit { "Declare and page" }
                    }
                    p .muted { "From an alert or a problem, use its page's “Declare incident” button: its alerts are attached and their impact computed." }
                }
            }
            section #open-incidents {
                h2 { "Open (" (open.len()) ")" }
                @if open.is_empty() { p .muted { "No open incidents." } }
                @for i in &open { (incident_card(now, i)) }
            }
            section #closed-incidents {
                h2 { "Resolved and reviewed" }
                @if closed.is_empty() { p .muted { "None yet." } }
                @else {
                    div .table-wrap {
                        table {
                            thead { tr { th { "Severity" } th { "Incident" } th { "Status" } th { "Declared" } th .num { "Time to resolve" } th { "Review" } } }
                            tbody {
                                @for i in &closed {
                                    tr data-incident=(i.id) {
                                        td { (severity_badge(i.severity)) }
                                        td .wrap { a href=(format!("/ui/incidents/{}", i.id)) { (i.title) } }
                                        td { (status_badge(i.status)) }
                                        td .nowrap { (ago(now, i.declared_at)) }
                                        td .num { @if let Some(r) = i.resolved_at { (span(r - i.declared_at)) } }
                                        td {
                                            @let missing = i.review.missing(&i.actions);
                                            @if missing.is_empty() { span .badge .ok { "complete" } }
                                            @else { span .badge .muted title=(missing.join(", ")) { (missing.len()) " missing" } }
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

/// An open incident as a card: what a phone shows first.
fn incident_card(now: Timestamp, i: &Incident) -> Markup {
    html! {
        article .problem .incident-card data-incident=(i.id) {
            h3 {
                (severity_badge(i.severity)) " "
                a href=(format!("/ui/incidents/{}", i.id)) { (i.title) }
            }
            p {
                (status_badge(i.status)) " "
                @if i.acknowledged_at.is_none() { span .badge .crit .unacked { "not acknowledged" } " " }
                "declared " (ago(now, i.declared_at))
            }
            p .muted {
                (i.impact.merchants_hurt()) " merchants"
                @if i.impact.vip_count > 0 { " (" (i.impact.vip_count) " VIP)" }
                @if !i.impact.services.is_empty() { " · " (i.impact.services.join(", ")) }
            }
        }
    }
}

fn merchant_list(now: Timestamp, list: &[IncidentView]) -> Page {
    let mine: Vec<&MerchantIncident> = list
        .iter()
        .filter_map(|v| match v {
            IncidentView::Merchant(m) => Some(m),
            IncidentView::Staff(_) => None,
        })
        .collect();
    Page {
        title: "Incidents".into(),
        section: Some(SECTION),
        body: html! {
            h1 { "Incidents affecting your shop" }
            @if mine.is_empty() { p .muted #no-incidents { "No incidents have affected your resources." } }
            @for m in &mine {
                article .problem .incident-card data-incident=(m.id) {
                    h3 { a href=(format!("/ui/incidents/{}", m.id)) { (m.title) } }
                    p { (status_badge(m.status)) " since " (ago(now, m.declared_at)) }
                    @if let Some(u) = m.updates.last() { p { (u.body) } }
                }
            }
        },
    }
}

fn merchant_page(m: &MerchantIncident) -> Page {
    Page {
        title: m.title.clone(),
        section: Some(SECTION),
        body: html! {
            h1 { (m.title) }
            p { (status_badge(m.status)) " declared " (when(m.declared_at))
                @if let Some(r) = m.resolved_at { ", resolved " (when(r)) } }
            section .panel #updates {
                h2 { "Updates" }
                @if m.updates.is_empty() { p .muted { "No updates yet; we are working on it." } }
                ol .timeline {
                    @for u in m.updates.iter().rev() {
                        li { (when(u.at)) " " (u.body) }
                    }
                }
            }
        },
    }
}

fn staff_page(
    now: Timestamp,
    d: &IncidentDetail,
    defs: &SeverityDefinitions,
    done: Option<&str>,
) -> Page {
    let i = &d.incident;
    let base = format!("/ui/incidents/{}", i.id);
    let next: Vec<IncidentStatus> = IncidentStatus::ALL
        .into_iter()
        .filter(|s| *s != i.status && i.status.may_become(*s))
        .collect();
    Page {
        title: format!("{} {}", i.severity.as_str().to_uppercase(), i.title),
        section: Some(SECTION),
        body: html! {
            p { a href="/ui/incidents" { "← Incidents" } }
            h1 #incident-title { (severity_badge(i.severity)) " " (i.title) }
            (flash(done))
            p #incident-state {
                (status_badge(i.status)) " "
                @match i.acknowledged_at {
                    Some(t) => { span .badge .ok #acked { "acknowledged" } " " span .muted { (span(t - i.declared_at)) " after declaring" } }
                    None => { span .badge .crit .unacked { "not acknowledged" } }
                }
            }
            p .muted { (d.severity_definition) }
            @if !i.summary.is_empty() { p { (i.summary) } }
            // The buttons a responder needs at 3 a.m., first and large.
            div .alert-actions .incident-actions #incident-actions {
                @if i.acknowledged_at.is_none() {
                    form method="post" action=(format!("{base}/ack")) {
                        button type="submit" #ack { "Acknowledge" }
                    }
                }
                @for s in &next {
                    form method="post" action=(format!("{base}/status")) {
                        input type="hidden" name="status" value=(s.as_str());
                        button type="submit" .secondary[*s != IncidentStatus::Resolved] data-to=(s.as_str()) id=(format!("to-{}", s.as_str())) {
                            "Mark " (s.as_str())
                        }
                    }
                }
            }
            section .panel #update {
                h2 { "Post an update" }
                form .stack-form method="post" action=(format!("{base}/updates")) #update-form {
                    label for="update-body" .visually-hidden { "Update" }
                    textarea #update-body name="body" rows="3" required placeholder="What we know, what we do, when the next update comes" {}
                    label for="update-audience" { "For" }
                    select #update-audience name="kind" {
                        option value="internal" selected { "Staff only" }
                        option value="merchants" { "Merchants affected (" (i.impact.merchant_count) ")" }
                    }
                    button type="submit" #update-submit { "Post update" }
                }
            }
            section .panel #impact {
                h2 { "Impact" }
                dl .fields {
                    div { dt { "Merchants" } dd #impact-merchants {
                        (i.impact.merchants_hurt())
                        @if i.impact.vip_count > 0 { " " span .badge .warn .vip { (i.impact.vip_count) " VIP" } }
                        @if let (Some(n), Some(r)) = (i.impact.override_merchants, &i.impact.override_reason) {
                            br; span .muted { "estimated " (n) " by a responder (computed " (i.impact.merchant_count) "): " (r) }
                        }
                    } }
                    div { dt { "Suggested severity" } dd { (severity_badge(d.suggested_severity)) } }
                    div { dt { "Services" } dd { (links("services", &i.impact.services)) } }
                    div { dt { "Zones" } dd { (links("zones", &i.impact.zones)) } }
                    div { dt { "Pools" } dd { (links("pools", &i.impact.pools)) } }
                    div { dt { "Hosts" } dd { (links("hosts", &i.impact.hosts)) } }
                    div { dt { "Merchants (VIPs first)" } dd { (links("merchants", &i.impact.merchants[..i.impact.merchants.len().min(30)])) } }
                }
                details {
                    summary { "Override the estimate" }
                    form .stack-form method="post" action=(format!("{base}/impact")) {
                        label for="impact-n" { "Merchants hurt" }
                        input #impact-n type="number" min="0" name="merchants" required;
                        label for="impact-reason" { "Why" }
                        input #impact-reason type="text" name="reason" required;
                        button type="submit" .secondary { "Record estimate" }
                    }
                }
            }
            section .panel #people {
                h2 { "People" }
                dl .fields {
                    div { dt { "Declared by" } dd { (i.declared_by) " at " (when(i.declared_at)) } }
                    @for (role, who) in &i.roles { div { dt { (role) } dd data-role=(role) { (who) } } }
                }
                details {
                    summary { "Hand over a role" }
                    form .stack-form method="post" action=(format!("{base}/roles")) {
                        label for="role-role" { "Role" }
                        select #role-role name="role" { option value="commander" { "commander" } option value="communications" { "communications" } option value="scribe" { "scribe" } }
                        label for="role-person" { "To" }
                        input #role-person type="text" name="person" required placeholder="user:zhang.wei";
                        button type="submit" .secondary { "Hand over" }
                    }
                }
                details {
                    summary { "Change severity" }
                    form .stack-form method="post" action=(format!("{base}/severity")) {
                        label for="severity-to" { "Severity" }
                        select #severity-to name="severity" { (severity_options(Some(i.severity), defs)) }
                        label for="severity-reason" { "Why" }
                        input #severity-reason type="text" name="reason" required;
                        button type="submit" .secondary { "Change severity" }
                    }
                }
            }
            section .panel #timeline {
                h2 { "Timeline" }
                form .stack-form method="post" action=(format!("{base}/notes")) #note-form {
                    label for="note-body" .visually-hidden { "Note" }
                    textarea #note-body name="body" rows="2" required placeholder="A note or a decision for the timeline" {}
                    select name="kind" aria-label="Kind" { option value="note" { "note" } option value="decision" { "decision" } }
                    button type="submit" .secondary { "Add to timeline" }
                }
                ol .timeline #timeline-entries {
                    @for e in d.timeline.iter().rev() { (timeline_entry(e)) }
                }
            }
            @if !d.alerts.is_empty() {
                section .panel #alerts {
                    h2 { "Alerts" }
                    ul .link-list {
                        @for a in &d.alerts {
                            li { a href=(format!("/ui/alerts/{}", a.fingerprint)) { (a.name) } " " span .muted { (a.status) " since " (ago(now, a.starts_at)) } }
                        }
                    }
                }
            }
            (review_section(i, &d.review_missing, &base, now))
        },
    }
}

fn links(kind: &str, ids: &[String]) -> Markup {
    html! {
        @if ids.is_empty() { span .muted { "none" } }
        @for (n, id) in ids.iter().enumerate() {
            @if n > 0 { ", " }
            a href=(format!("/ui/{kind}/{id}")) { (id) }
        }
    }
}

fn timeline_entry(e: &TimelineEntry) -> Markup {
    html! {
        li data-kind=(e.kind) {
            (when(e.at)) " "
            span .badge .muted { (e.kind) }
            @if !e.internal { " " span .badge .info { "merchants" } }
            " " (e.body)
            @if let Some(change) = e.data.get("change").and_then(|c| c.as_str()) {
                " " a href=(format!("/ui/changes/{change}")) .change-link { "see the change" }
            }
            " " span .muted { "— " (e.actor) }
        }
    }
}

fn review_section(i: &Incident, missing: &[&str], base: &str, now: Timestamp) -> Markup {
    let r = &i.review;
    let today = now.date();
    let closed = !i.status.is_open();
    html! {
        section .panel #review {
            h2 { "Review" }
            @if missing.is_empty() { p { span .badge .ok #review-complete { "complete" } } }
            @else { p #review-missing { "Still missing: " (missing.join(", ")) } }
            details open[closed && !missing.is_empty()] {
                summary { "Write the review" }
                form .stack-form method="post" action=(format!("{base}/review")) #review-form {
                    @for (name, label, value) in [
                        ("summary", "Summary", &r.summary),
                        ("impact", "Impact", &r.impact),
                        ("root_cause", "Root cause", &r.root_cause),
                        ("went_well", "What went well", &r.went_well),
                        ("went_badly", "What went badly", &r.went_badly),
                    ] {
                        label for=(format!("review-{name}")) { (label) }
                        textarea id=(format!("review-{name}")) name=(name) rows="3" { (value) }
                    }
                    label for="review-factors" { "Contributing factors (one a line)" }
                    textarea #review-factors name="contributing_factors" rows="3" { (r.contributing_factors.join("\n")) }
                    label for="review-cause" { "Cause category" }
                    input #review-cause type="text" name="cause_category" value=(r.cause_category) placeholder="change, capacity, dependency, hardware";
                    label for="review-team" { "Responsible team" }
                    input #review-team type="text" name="responsible_team" value=(r.responsible_team);
                    button type="submit" .secondary { "Save review" }
                }
            }
            h3 { "Action items" }
            @if i.actions.is_empty() { p .muted { "None yet." } }
            ul .link-list #actions {
                @for a in &i.actions {
                    li data-action=(a.id) {
                        @if a.done_at.is_some() { span .badge .ok { "done" } " " }
                        @else if a.overdue(today) { span .badge .crit { "overdue" } " " }
                        (a.title) " " span .muted { "— " (a.owner) ", due " (a.due.to_string()) }
                        @for l in &a.links { " " span .chip { (l) } }
                        @if a.done_at.is_none() {
                            form method="post" action=(format!("{base}/actions/{}/done", a.id)) {
                                button type="submit" .secondary { "Done" }
                            }
                        }
                    }
                }
            }
            details {
                summary { "Add an action item" }
                form .stack-form method="post" action=(format!("{base}/actions")) #action-form {
                    label for="action-title" { "What" }
                    input #action-title type="text" name="title" required;
                    label for="action-owner" { "Owner" }
                    input #action-owner type="text" name="owner" required;
                    label for="action-due" { "Due" }
                    input #action-due type="date" name="due" required;
                    label for="action-links" { "Tickets or changes (ids)" }
                    input #action-links type="text" name="links";
                    button type="submit" .secondary { "Add" }
                }
            }
        }
    }
}

fn numbers_page(n: &IncidentNumbers, from: time::Date, to: time::Date) -> Page {
    let t: &IncidentNumbersRow = &n.totals;
    let max = n.rows.iter().map(|r| r.incidents).max().unwrap_or(1).max(1);
    Page {
        title: "Incident numbers".into(),
        section: Some(SECTION),
        body: html! {
            h1 { "Incident numbers" }
            (tabs("/ui/incidents/numbers"))
            form .filters method="get" action="/ui/incidents/numbers" {
                label { "By " select name="by" {
                    option value="week" selected[n.by == "week"] { "week" }
                    option value="month" selected[n.by == "month"] { "month" }
                } }
                label { " from " input type="date" name="from" value=(from.to_string()); }
                label { " to " input type="date" name="to" value=(to.to_string()); }
                " " button type="submit" .secondary { "Show" }
            }
            div .cards #incident-totals {
                div .card { span .value #total-incidents { (t.incidents) } span .label { "incidents" } }
                div .card { span .value #total-mtta { (minutes(t.mtta_minutes)) } span .label { "MTTA" } }
                div .card { span .value #total-mttr { (minutes(t.mttr_minutes)) } span .label { "MTTR" } }
                div .card { span .value { (t.repeats) } span .label { "repeats (same root within 30 days)" } }
                div .card { span .value #overdue-count { (n.overdue_actions.len()) } span .label { "action items overdue" } }
            }
            section .panel #by-period {
                h2 { "By " (n.by) }
                div .table-wrap {
                    table {
                        thead { tr { th { (n.by) } th .num { "Incidents" } th {} th .num { "MTTA" } th .num { "MTTR" } th .num { "P1" } th .num { "P2" } th .num { "Repeats" } } }
                        tbody {
                            @for r in &n.rows {
                                tr {
                                    td .nowrap { (r.period) }
                                    td .num { (r.incidents) }
                                    td { div .bar { div .fill .crit style=(format!("width:{}%", r.incidents * 100 / max)) {} } }
                                    td .num { (minutes(r.mtta_minutes)) }
                                    td .num { (minutes(r.mttr_minutes)) }
                                    td .num { (r.by_severity.get("p1").copied().unwrap_or(0)) }
                                    td .num { (r.by_severity.get("p2").copied().unwrap_or(0)) }
                                    td .num { (r.repeats) }
                                }
                            }
                        }
                    }
                }
            }
            div .columns {
                (breakdown("By severity", "by-severity", &t.by_severity))
                (breakdown("By root service", "by-service", &t.by_service))
                (breakdown("By responsible team", "by-team", &t.by_team))
                (breakdown("By cause", "by-cause", &t.by_cause))
            }
            section .panel #overdue {
                h2 { "Overdue action items" }
                @if n.overdue_actions.is_empty() { p .muted { "None overdue." } }
                ul .link-list {
                    @for (inc, a) in &n.overdue_actions {
                        li { a href=(format!("/ui/incidents/{inc}")) { (a.title) } " " span .muted { "— " (a.owner) ", due " (a.due.to_string()) } }
                    }
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_form_outcomes_are_announced() {
        assert!(flash(Some("declared")).into_string().contains("paged"));
        assert_eq!(flash(Some("<b>")).into_string(), "");
    }

    #[test]
    fn service_lists_split_on_commas_and_spaces() {
        assert_eq!(words("svc-a, svc-b  svc-c,"), ["svc-a", "svc-b", "svc-c"]);
        assert!(words(" , ").is_empty());
    }
}
