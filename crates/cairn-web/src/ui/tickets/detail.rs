//! One ticket: what was asked, its SLA clocks, the conversation (internal comments
//! only for staff — the use case leaves them out for merchants), attachments, links
//! into the model, and for staff the workflow (status, assignment, escalation with a
//! reason, a draft article from a resolved ticket) and the ticket's context: the
//! merchant's resources and the alerts and incidents that touch them.

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Form;
use cairn_app::tickets::{TicketContext, TicketDetail};
use cairn_domain::tickets::{TicketStatus, TicketTier};
use cairn_domain::{Principal, Timestamp};
use cairn_store::tickets::{Attachment, TicketEvent};
use maud::{html, Markup};
use serde::Deserialize;

use super::{
    after_form, bad, flash, form, is_staff, params, priority_badge, sla_clock, status_badge, tabs,
    tier_label, when, SECTION,
};
use crate::auth::Viewer;
use crate::ui::layout::respond;
use crate::ui::{Page, UiError};
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoneParams {
    #[serde(default)]
    done: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct CommentForm {
    #[serde(default)]
    body: String,
    /// `internal` or `merchant`; merchants' comments are always `merchant`.
    #[serde(default)]
    visibility: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct AssignForm {
    /// A staff user's name; empty hands the ticket back to its tier's queue.
    #[serde(default)]
    assignee: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct EscalateForm {
    #[serde(default)]
    reason: String,
    /// A tier; empty: the next (or previous) one.
    #[serde(default)]
    to: String,
}

fn back(id: &str, done: &str) -> String {
    format!("/ui/tickets/{id}?done={done}")
}

/// `GET /ui/tickets/{id}`
pub async fn show(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    q: Result<Query<DoneParams>, QueryRejection>,
) -> Response {
    let page = async {
        let q = params(q)?;
        let d = s.app.ticket_detail(&p, &id).await?;
        Ok(ticket_page(&p, s.app.now(), &d, q.done.as_deref()))
    };
    respond(&p, page.await)
}

/// `POST /ui/tickets/{id}/comments`
pub async fn comment(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    f: Result<Form<CommentForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        let internal = match f.visibility.as_str() {
            "" | "merchant" => false,
            "internal" => true,
            other => {
                return Err(bad(
                    "visibility",
                    format!("must be internal or merchant, got {other:?}"),
                ))
            }
        };
        s.app.comment_ticket(&p, &id, &f.body, internal).await?;
        Ok(back(&id, "commented"))
    };
    after_form(&p, to.await)
}

/// `POST /ui/tickets/{id}/status`
pub async fn status(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    f: Result<Form<StatusForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        if TicketStatus::parse(&f.status).is_none() {
            return Err(bad("status", format!("unknown status {:?}", f.status)));
        }
        let reason = Some(f.reason.as_str()).filter(|r| !r.trim().is_empty());
        s.app.set_ticket_status(&p, &id, &f.status, reason).await?;
        Ok(back(&id, "status"))
    };
    after_form(&p, to.await)
}

/// `POST /ui/tickets/{id}/assign`
pub async fn assign(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    f: Result<Form<AssignForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        let who = Some(f.assignee.trim()).filter(|a| !a.is_empty());
        s.app.assign_ticket(&p, &id, who).await?;
        Ok(back(&id, "assigned"))
    };
    after_form(&p, to.await)
}

async fn move_tier(
    s: AppState,
    p: &Principal,
    id: &str,
    f: Result<Form<EscalateForm>, FormRejection>,
    down: bool,
) -> Result<String, UiError> {
    let f = form(f)?;
    if f.reason.trim().is_empty() {
        return Err(bad("reason", "say why the ticket changes tier"));
    }
    let to = Some(f.to.as_str()).filter(|t| !t.is_empty());
    if let Some(t) = to {
        if TicketTier::parse(t).is_none() {
            return Err(bad(
                "to",
                format!("must be support, app-ops, base-ops or developers, got {t:?}"),
            ));
        }
    }
    s.app.escalate_ticket(p, id, &f.reason, to, down).await?;
    Ok(back(id, if down { "de-escalated" } else { "escalated" }))
}

/// `POST /ui/tickets/{id}/escalate`
pub async fn escalate(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    f: Result<Form<EscalateForm>, FormRejection>,
) -> Response {
    let to = move_tier(s, &p, &id, f, false).await;
    after_form(&p, to)
}

/// `POST /ui/tickets/{id}/de-escalate`
pub async fn de_escalate(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    f: Result<Form<EscalateForm>, FormRejection>,
) -> Response {
    let to = move_tier(s, &p, &id, f, true).await;
    after_form(&p, to)
}

/// `POST /ui/tickets/{id}/attachments`: a multipart form with `file` and, for staff,
/// `internal`. The use case checks size and content type as it does for the API.
pub async fn attach(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    m: Result<Multipart, MultipartRejection>,
) -> Response {
    let to = async {
        let mut m = m.map_err(|e| bad("file", e.body_text()))?;
        let mut file: Option<(String, String, Vec<u8>)> = None;
        let mut internal = false;
        while let Some(field) = m
            .next_field()
            .await
            .map_err(|e| bad("file", e.body_text()))?
        {
            match field.name().unwrap_or_default() {
                "file" => {
                    let name = field.file_name().unwrap_or_default().to_owned();
                    let ct = field
                        .content_type()
                        .unwrap_or("application/octet-stream")
                        .to_owned();
                    let bytes = field
                        .bytes()
                        .await
                        .map_err(|e| bad("file", e.body_text()))?;
                    file = Some((name, ct, bytes.to_vec()));
                }
                "internal" => {
                    let v = field
                        .text()
                        .await
                        .map_err(|e| bad("internal", e.body_text()))?;
                    internal = match v.as_str() {
                        "true" => true,
                        "false" | "" => false,
                        other => {
                            return Err(bad(
                                "internal",
                                format!("must be true or false, got {other:?}"),
                            ))
                        }
                    };
                }
                other => {
                    return Err(bad(
                        other,
                        "unknown field; the form takes file and internal",
                    ))
                }
            }
        }
        let (name, ct, bytes) = file
            .filter(|(name, _, _)| !name.is_empty())
            .ok_or_else(|| bad("file", "choose a file to attach"))?;
        s.app
            .attach_to_ticket(&p, &id, &name, &ct, &bytes, internal)
            .await?;
        Ok(back(&id, "attached"))
    };
    after_form(&p, to.await)
}

/// `POST /ui/tickets/{id}/article`: a draft article from a resolved ticket.
pub async fn article(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
) -> Response {
    let to = async {
        let a = s.app.draft_from_ticket(&p, &id).await?;
        Ok(format!("/ui/kb/{}/edit?done=drafted", a.id))
    };
    after_form(&p, to.await)
}

// ---------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------

fn ticket_page(p: &Principal, now: Timestamp, d: &TicketDetail, done: Option<&str>) -> Page {
    let t = &d.ticket;
    let staff = is_staff(p);
    let base = format!("/ui/tickets/{}", t.id);
    Page {
        title: format!("{} {}", t.id, t.title),
        section: Some(SECTION),
        body: html! {
            (tabs(p, ""))
            (flash(done))
            h1 #ticket-title { (t.title) }
            p .ticket-meta #ticket-meta {
                (priority_badge(t.priority)) " " (status_badge(t.status))
                " " span .chip { (t.category) }
                " " span .muted #ticket-tier data-tier=(t.tier.as_str()) { (tier_label(t.tier)) }
                @if staff {
                    " · " a #ticket-merchant href=(format!("/ui/merchants/{}", t.merchant_id)) { (t.merchant_id) }
                    " · " span .muted { @if let Some(a) = &t.assignee { "assigned to " (a) } @else { "in the queue" } }
                }
                " · " span .muted { (t.id) ", opened " (when(t.created_at)) " by " (t.created_by) }
            }
            section .panel #sla {
                h2 { "Service level" }
                p { (sla_clock("first response", &d.sla.first_response, now)) }
                p { (sla_clock("resolution", &d.sla.resolution, now)) }
                p .muted { @if d.sla.calendar_always { "Clocks run around the clock." } @else { "Clocks run in business hours and pause while waiting on the merchant." } }
            }
            section .panel #description {
                h2 { "Description" }
                @if t.body.trim().is_empty() { p .muted { "No details given." } }
                @else { p .pre-wrap { (t.body) } }
                (links(t))
            }
            section .panel #conversation {
                h2 { "Conversation" }
                ol .timeline #events {
                    @for e in &d.events { (event(e)) }
                }
                @if t.status != TicketStatus::Closed {
                    form .stack-form method="post" action=(format!("{base}/comments")) #comment-form {
                        label for="comment-body" { "Comment" }
                        textarea #comment-body name="body" rows="4" required {}
                        @if staff {
                            label for="comment-visibility" { "Who sees it" }
                            select #comment-visibility name="visibility" {
                                option value="merchant" { "The merchant too (a reply)" }
                                option value="internal" { "Staff only (internal note)" }
                            }
                        }
                        button type="submit" #comment-submit { "Add comment" }
                    }
                }
            }
            (attachments(p, t.id.as_str(), &d.attachments, &base))
            @if staff {
                (workflow(t, &base))
            } @else if t.status == TicketStatus::Resolved {
                section .panel #merchant-status {
                    h2 { "Is it solved?" }
                    div .alert-actions {
                        form method="post" action=(format!("{base}/status")) {
                            input type="hidden" name="status" value="closed";
                            button type="submit" { "Yes, close it" }
                        }
                        form method="post" action=(format!("{base}/status")) {
                            input type="hidden" name="status" value="reopened";
                            button type="submit" .secondary { "No, reopen it" }
                        }
                    }
                }
            }
            @if let Some(c) = &d.context { (context(c, now)) }
        },
    }
}

fn links(t: &cairn_domain::tickets::Ticket) -> Markup {
    let l = &t.links;
    let groups: [(&str, &str, Vec<String>); 5] = [
        (
            "Instances",
            "/ui/instances",
            l.instances.iter().map(|i| i.to_string()).collect(),
        ),
        (
            "Hosts",
            "/ui/hosts",
            l.hosts.iter().map(|h| h.to_string()).collect(),
        ),
        (
            "Services",
            "/ui/services",
            l.services.iter().map(|s| s.to_string()).collect(),
        ),
        ("Alerts", "/ui/alerts", l.alerts.clone()),
        ("Incidents", "/ui/incidents", l.incidents.clone()),
    ];
    html! {
        @if !l.is_empty() {
            dl .fields #ticket-links {
                @for (label, base, ids) in &groups {
                    @if !ids.is_empty() {
                        div { dt { (label) } dd {
                            @for (n, id) in ids.iter().enumerate() {
                                @if n > 0 { ", " }
                                a href=(format!("{base}/{id}")) { (id) }
                            }
                        } }
                    }
                }
            }
        }
    }
}

fn event(e: &TicketEvent) -> Markup {
    let comment = e.kind == "comment";
    html! {
        li .event .comment[comment] .internal[e.internal] data-kind=(e.kind) data-internal=(e.internal) {
            (when(e.at)) " "
            @if !comment { span .badge .muted { (e.kind) } " " }
            @if e.internal { span .badge .warn { "internal" } " " }
            span .muted { (e.actor) }
            @if comment { p .pre-wrap { (e.body) } } @else { " — " (e.body) }
        }
    }
}

fn attachments(p: &Principal, id: &str, list: &[Attachment], base: &str) -> Markup {
    html! {
        section .panel #attachments {
            h2 { "Attachments" }
            @if list.is_empty() { p .muted { "None." } }
            ul .link-list {
                @for a in list {
                    li data-attachment=(a.id) {
                        a href=(format!("/api/v1/tickets/{id}/attachments/{}", a.id)) { (a.name) }
                        " " span .muted { (a.content_type) ", " (a.size) " bytes" }
                        @if a.internal { " " span .badge .warn { "internal" } }
                    }
                }
            }
            details {
                summary { "Attach a file" }
                form .stack-form method="post" enctype="multipart/form-data" action=(format!("{base}/attachments")) #attach-form {
                    label for="attach-file" { "File (text, CSV, JSON, PDF, PNG, JPEG or ZIP; 10 MiB at most)" }
                    input #attach-file type="file" name="file" required;
                    @if is_staff(p) {
                        label { input type="checkbox" name="internal" value="true"; " Staff only" }
                    }
                    button type="submit" .secondary { "Attach" }
                }
            }
        }
    }
}

fn tier_options(current: TicketTier) -> Markup {
    html! {
        option value="" selected { "the next one" }
        @for t in TicketTier::ALL {
            @if t != current { option value=(t.as_str()) { (tier_label(t)) } }
        }
    }
}

fn workflow(t: &cairn_domain::tickets::Ticket, base: &str) -> Markup {
    let next: Vec<TicketStatus> = TicketStatus::ALL
        .into_iter()
        .filter(|s| t.status.may_become(*s))
        .collect();
    html! {
        section .panel #workflow {
            h2 { "Work on it" }
            @if !next.is_empty() {
                form .stack-form method="post" action=(format!("{base}/status")) #status-form {
                    label for="status-to" { "Status" }
                    select #status-to name="status" {
                        @for s in &next { option value=(s.as_str()) { (s.as_str()) } }
                    }
                    label for="status-reason" { "Note (optional)" }
                    input #status-reason type="text" name="reason";
                    button type="submit" .secondary { "Change status" }
                }
            }
            form .stack-form method="post" action=(format!("{base}/assign")) #assign-form {
                label for="assignee" { "Assign to (a staff user name; empty: back to the queue)" }
                input #assignee type="text" name="assignee" value=(t.assignee.clone().unwrap_or_default());
                button type="submit" .secondary { "Assign" }
            }
            @if !t.status.is_done() {
                @if t.tier.next().is_some() {
                    form .stack-form method="post" action=(format!("{base}/escalate")) #escalate-form {
                        label for="escalate-reason" { "Escalate: why (required)" }
                        input #escalate-reason type="text" name="reason" required;
                        label for="escalate-to" { "To" }
                        select #escalate-to name="to" { (tier_options(t.tier)) }
                        button type="submit" { "Escalate" }
                    }
                }
                @if t.tier.previous().is_some() {
                    form .stack-form method="post" action=(format!("{base}/de-escalate")) #de-escalate-form {
                        label for="de-escalate-reason" { "Hand back: why (required)" }
                        input #de-escalate-reason type="text" name="reason" required;
                        button type="submit" .secondary { "Hand back to " (t.tier.previous().map_or("", tier_label)) }
                    }
                }
            }
            @if t.status.is_done() {
                form method="post" action=(format!("{base}/article")) #draft-form {
                    button type="submit" .secondary { "Turn into a KB draft" }
                }
            }
        }
    }
}

fn context(c: &TicketContext, now: Timestamp) -> Markup {
    let m = &c.merchant;
    html! {
        section .panel #context {
            h2 { "Context" }
            dl .fields {
                div { dt { "Merchant" } dd { a href=(format!("/ui/merchants/{}", m.id)) { (m.name) } " "
                    @if m.tier == cairn_domain::Tier::Vip { span .badge .warn { "VIP" } } } }
                div { dt { "Instances" } dd #context-instances { (c.instances)
                    @for (product, n) in &c.instances_by_product { " " span .chip { (product) " × " (n) } } } }
                div { dt { "Services" } dd {
                    @if c.services.is_empty() { span .muted { "none" } }
                    @for (n, (id, name)) in c.services.iter().enumerate() {
                        @if n > 0 { ", " }
                        a href=(format!("/ui/services/{id}")) { (name) }
                    }
                } }
            }
            h3 { "Alerts firing on its resources" }
            @if c.alerts.is_empty() { p .muted #context-no-alerts { "None." } }
            ul .link-list #context-alerts {
                @for a in &c.alerts {
                    li { a href=(format!("/ui/alerts/{}", a.fingerprint)) { (a.name) } " " span .muted { (a.status) " since " (super::span(now - a.starts_at)) } }
                }
            }
            h3 { "Incidents" }
            @if c.incidents.is_empty() { p .muted #context-no-incidents { "None in the last " (cairn_app::tickets::CONTEXT_INCIDENT_DAYS) " days." } }
            ul .link-list #context-incidents {
                @for i in &c.incidents {
                    li { a href=(format!("/ui/incidents/{}", i.id)) { (i.title) } " " span .badge .warn { (i.severity.as_str().to_uppercase()) } " " span .muted { (i.status.as_str()) ", declared " (when(i.declared_at)) } }
                }
            }
            @for n in &c.notes { p .muted { (n) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use cairn_domain::sla::{Clock, ClockState, Status};
    use cairn_domain::Role;

    use super::*;
    use crate::ui::tests::principal;

    fn now() -> Timestamp {
        time::macros::datetime!(2026-11-25 04:00 UTC)
    }

    fn detail(status: TicketStatus, context: Option<TicketContext>) -> TicketDetail {
        let mut t = super::super::queue::tests::ticket("t-9", "支付回调超时");
        t.status = status;
        t.links.incidents = vec!["inc-1".into()];
        let clock = Clock {
            state: ClockState::Met,
            target_minutes: 60,
            elapsed_minutes: 20,
            due_at: None,
        };
        let ev = |kind: &str, internal: bool, body: &str| TicketEvent {
            seq: 0,
            ticket_id: "t-9".into(),
            at: now(),
            actor: "user:li".into(),
            kind: kind.into(),
            internal,
            body: body.into(),
            data: serde_json::Value::Null,
        };
        TicketDetail {
            ticket: t,
            events: vec![
                ev("created", false, "支付回调超时"),
                ev("comment", false, "我们在查 <b>"),
                ev("escalated", true, "to app-ops: needs ops"),
            ],
            attachments: Vec::new(),
            sla: Status {
                first_response: clock.clone(),
                resolution: clock,
                calendar_always: false,
            },
            context,
        }
    }

    #[test]
    fn staff_get_the_workflow_forms_with_a_required_reason() {
        let page = ticket_page(
            &principal(Role::Support),
            now(),
            &detail(TicketStatus::Escalated, None),
            Some("escalated"),
        )
        .body
        .into_string();
        assert!(page.contains(r#"id="flash""#));
        assert!(page.contains(r#"action="/ui/tickets/t-9/escalate""#));
        assert!(page.contains(r#"id="escalate-reason" type="text" name="reason" required"#));
        assert!(page.contains(r#"action="/ui/tickets/t-9/de-escalate""#));
        assert!(page.contains(r#"name="visibility""#));
        assert!(page.contains(r#"enctype="multipart/form-data""#));
        assert!(page.contains(r#"href="/ui/incidents/inc-1""#));
        assert!(page.contains("我们在查 &lt;b&gt;"));
        assert!(
            !page.contains("Turn into a KB draft"),
            "only resolved tickets"
        );
        let resolved = ticket_page(
            &principal(Role::Support),
            now(),
            &detail(TicketStatus::Resolved, None),
            None,
        )
        .body
        .into_string();
        assert!(resolved.contains("Turn into a KB draft"));
    }

    #[test]
    fn merchants_get_no_workflow_and_may_close_or_reopen_a_resolved_ticket() {
        let p = principal(Role::Merchant);
        let page = ticket_page(&p, now(), &detail(TicketStatus::Resolved, None), None)
            .body
            .into_string();
        assert!(!page.contains("escalate-form") && !page.contains("assign-form"));
        assert!(!page.contains(r#"name="visibility""#));
        assert!(!page.contains("Turn into a KB draft"));
        assert!(page.contains(r#"value="reopened""#) && page.contains(r#"value="closed""#));
        assert!(!page.contains(r#"href="/ui/merchants/"#));
    }

    #[test]
    fn the_context_shows_resources_alerts_and_incidents() {
        let c = TicketContext {
            merchant: cairn_domain::Merchant {
                id: cairn_domain::MerchantId::new("m-1"),
                name: "小米粒鞋包".into(),
                tier: cairn_domain::Tier::Vip,
                contact_email: None,
            },
            instances_by_product: vec![("rds-mysql".into(), 2)],
            instances: 2,
            services: vec![("svc-1".into(), "order-api".into())],
            alerts: Vec::new(),
            incidents: vec![cairn_app::tickets::ContextIncident {
                id: "inc-7".into(),
                title: "杭州 RDS 故障".into(),
                severity: cairn_domain::incidents::Severity::P1,
                status: cairn_domain::incidents::IncidentStatus::Investigating,
                declared_at: now(),
            }],
            notes: vec!["health findings: none yet".into()],
        };
        let page = ticket_page(
            &principal(Role::AppOps),
            now(),
            &detail(TicketStatus::Open, Some(c)),
            None,
        )
        .body
        .into_string();
        assert!(page.contains(r#"<a href="/ui/merchants/m-1">小米粒鞋包</a>"#));
        assert!(page.contains("rds-mysql × 2"));
        assert!(page.contains(r#"href="/ui/services/svc-1""#));
        assert!(page.contains(r#"href="/ui/incidents/inc-7""#));
        assert!(page.contains("context-no-alerts"));
    }
}
