//! The queues and filing a ticket. Staff see a tab per tier and their own; a merchant
//! sees its own tickets (the use case restricts the list) and files one in two steps
//! without JavaScript: "Check the knowledge base first" shows the articles that match
//! what it wrote, each with "This solved it" (a deflection, nothing is filed), and
//! "File the ticket anyway" files it as written.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Form;
use cairn_app::tickets::QueueItem;
use cairn_domain::tickets::{Priority, TicketStatus, TicketTier};
use cairn_domain::{Principal, Timestamp};
use cairn_search::Suggestion;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

use super::{
    after_form, bad, flash, form, is_staff, params, priority_badge, sla_clock, status_badge, tabs,
    tier_label, user_name, when, SECTION,
};
use crate::auth::Viewer;
use crate::ui::layout::respond;
use crate::ui::{Page, UiError};
use crate::AppState;

/// Categories offered while filing; any other word is accepted too.
const CATEGORIES: &[&str] = &[
    "general",
    "account",
    "billing",
    "database",
    "network",
    "compute",
    "storage",
    "capacity",
    "architecture",
    "security",
    "promotion",
];

/// The new-ticket form as posted (and as carried between the two steps).
#[derive(Debug, Default, Deserialize)]
pub struct TicketForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    priority: String,
    /// Staff only: whom the ticket is for.
    #[serde(default)]
    merchant_id: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct DeflectForm {
    #[serde(default)]
    article_id: String,
    #[serde(default)]
    draft: String,
}

/// What the queue page was asked: the tab, the filters the use case takes, and what a
/// form did.
#[derive(Debug)]
struct QueueQuery {
    tab: String,
    filters: Vec<(String, String)>,
    done: Option<String>,
}

fn queue_query(p: &Principal, raw: Vec<(String, String)>) -> Result<QueueQuery, UiError> {
    let mut q = QueueQuery {
        tab: String::new(),
        filters: Vec::new(),
        done: None,
    };
    for (k, v) in raw {
        match k.as_str() {
            "tab" => q.tab = v,
            "done" => q.done = Some(v),
            // An empty select ("any") filters nothing.
            "status" | "priority" | "category" if v.is_empty() => {}
            "status" | "priority" | "category" => q.filters.push((k, v)),
            other => {
                return Err(bad(
                    other,
                    "unknown parameter; the queue takes tab, status, priority and category",
                ))
            }
        }
    }
    match q.tab.as_str() {
        "" => {
            // Staff's first tab holds what is still open; a merchant sees all its own.
            if is_staff(p) && !q.filters.iter().any(|(k, _)| k == "status") {
                q.filters.push(("open".into(), "true".into()));
            }
        }
        "mine" => q.filters.push(("assignee".into(), user_name(p).to_owned())),
        t if TicketTier::parse(t).is_some() => q.filters.push(("tier".into(), t.to_owned())),
        other => {
            return Err(bad(
                "tab",
                format!("must be mine, support, app-ops, base-ops or developers, got {other:?}"),
            ))
        }
    }
    Ok(q)
}

/// `GET /ui/tickets`
pub async fn list(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let page = async {
        let q = queue_query(&p, params(q)?)?;
        let items = s.app.ticket_queue(&p, &q.filters).await?;
        Ok(list_page(&p, s.app.now(), &q, &items))
    };
    respond(&p, page.await)
}

/// `GET /ui/tickets/new`: the form, and with a title the articles that may answer it.
pub async fn new(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    q: Result<Query<TicketForm>, QueryRejection>,
) -> Response {
    let page = async {
        let f = params(q)?;
        let draft = format!("{}\n{}", f.title, f.body);
        let suggestions = if draft.trim().is_empty() {
            None
        } else {
            Some(s.app.suggest_articles(&p, &draft).await?)
        };
        Ok(new_page(&p, &f, suggestions.as_deref()))
    };
    respond(&p, page.await)
}

/// `POST /ui/tickets`: files a ticket.
pub async fn create(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    f: Result<Form<TicketForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        let priority = if f.priority.is_empty() {
            "p3"
        } else {
            &f.priority
        };
        if Priority::parse(priority).is_none() {
            return Err(bad(
                "priority",
                format!("must be p1, p2, p3 or p4, got {priority:?}"),
            ));
        }
        let mut body = json!({
            "title": f.title,
            "body": f.body,
            "category": if f.category.trim().is_empty() { "general" } else { f.category.trim() },
            "priority": priority,
        });
        if !f.merchant_id.trim().is_empty() {
            body["merchant_id"] = json!(f.merchant_id.trim());
        }
        let t = s.app.create_ticket(&p, body).await?;
        Ok(format!("/ui/tickets/{}?done=filed", t.id))
    };
    after_form(&p, to.await)
}

/// `POST /ui/tickets/deflect`: a merchant's "This solved it".
pub async fn deflect(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    f: Result<Form<DeflectForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        if f.article_id.is_empty() {
            return Err(bad("article_id", "say which article solved it"));
        }
        s.app.deflect(&p, &f.draft, Some(&f.article_id)).await?;
        Ok(format!("/ui/kb/{}?done=deflected", f.article_id))
    };
    after_form(&p, to.await)
}

// ---------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------

fn current_tab(q: &QueueQuery) -> String {
    if q.tab.is_empty() {
        "/ui/tickets".into()
    } else {
        format!("/ui/tickets?tab={}", q.tab)
    }
}

fn filter_value<'a>(q: &'a QueueQuery, name: &str) -> &'a str {
    q.filters
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn list_page(p: &Principal, now: Timestamp, q: &QueueQuery, items: &[QueueItem]) -> Page {
    let staff = is_staff(p);
    let heading = match q.tab.as_str() {
        "" if staff => "Open tickets".to_owned(),
        "" => "My tickets".to_owned(),
        "mine" => "Assigned to me".to_owned(),
        t => TicketTier::parse(t).map_or(t.to_owned(), |t| format!("{} queue", tier_label(t))),
    };
    let breached = items
        .iter()
        .filter(|i| {
            i.sla.first_response.state == cairn_domain::sla::ClockState::Breached
                || i.sla.resolution.state == cairn_domain::sla::ClockState::Breached
        })
        .count();
    Page {
        title: heading.clone(),
        section: Some(SECTION),
        body: html! {
            h1 { (heading) }
            (tabs(p, &current_tab(q)))
            (flash(q.done.as_deref()))
            form .filters #ticket-filters method="get" action="/ui/tickets" {
                @if !q.tab.is_empty() { input type="hidden" name="tab" value=(q.tab); }
                label { "Status " select name="status" {
                    option value="" { "any" }
                    @for st in TicketStatus::ALL {
                        option value=(st.as_str()) selected[filter_value(q, "status") == st.as_str()] { (st.as_str()) }
                    }
                } }
                " "
                label { "Priority " select name="priority" {
                    option value="" { "any" }
                    @for pr in Priority::ALL {
                        option value=(pr.as_str()) selected[filter_value(q, "priority") == pr.as_str()] { (pr.as_str().to_uppercase()) }
                    }
                } }
                " "
                label { "Category " input type="text" name="category" size="10" list="ticket-categories" value=(filter_value(q, "category")); }
                " " button type="submit" .secondary { "Filter" }
            }
            (category_list())
            p .muted #queue-summary {
                (items.len()) " tickets"
                @if breached > 0 { ", " span .badge .crit #breached-count { (breached) " past their SLA" } }
            }
            @if items.is_empty() { p .muted #no-tickets { "No tickets here." } }
            ul .ticket-list #tickets {
                @for i in items { (queue_row(p, now, i)) }
            }
            @if !staff {
                section .panel #file {
                    h2 { "Open a ticket" }
                    (ticket_form(p, &TicketForm::default(), true))
                }
            } @else {
                details .panel #file {
                    summary { "File a ticket for a merchant" }
                    (ticket_form(p, &TicketForm::default(), false))
                }
            }
        },
    }
}

fn queue_row(p: &Principal, now: Timestamp, i: &QueueItem) -> Markup {
    let t = &i.ticket;
    html! {
        li .ticket data-ticket=(t.id) data-tier=(t.tier.as_str()) {
            div .ticket-head {
                (priority_badge(t.priority)) " "
                a .ticket-title href=(format!("/ui/tickets/{}", t.id)) { (t.title) }
            }
            div .ticket-meta {
                (status_badge(t.status))
                " " span .chip { (t.category) }
                @if is_staff(p) {
                    " " span .muted { (tier_label(t.tier)) }
                    " · " a href=(format!("/ui/merchants/{}", t.merchant_id)) { (t.merchant_id) }
                    @if let Some(a) = &t.assignee { " · " span .muted { "assigned to " (a) } }
                }
                " · " span .muted { "opened " (when(t.created_at)) }
            }
            @if !t.status.is_done() {
                div .ticket-sla {
                    (sla_clock("first response", &i.sla.first_response, now))
                    " "
                    (sla_clock("resolution", &i.sla.resolution, now))
                }
            }
        }
    }
}

fn category_list() -> Markup {
    html! {
        datalist #ticket-categories {
            @for c in CATEGORIES { option value=(c) {} }
        }
    }
}

/// The new-ticket form. For a merchant its main button checks the knowledge base
/// first (a GET to `/ui/tickets/new`); the second files at once.
fn ticket_form(p: &Principal, f: &TicketForm, check_first: bool) -> Markup {
    let priority = if f.priority.is_empty() {
        "p3"
    } else {
        f.priority.as_str()
    };
    html! {
        form .stack-form #ticket-form method=(if check_first { "get" } else { "post" })
            action=(if check_first { "/ui/tickets/new" } else { "/ui/tickets" }) {
            @if is_staff(p) {
                label for="ticket-merchant" { "Merchant id" }
                input #ticket-merchant type="text" name="merchant_id" required value=(f.merchant_id) placeholder="m-…";
            }
            label for="ticket-title" { "What is wrong, in one line" }
            input #ticket-title type="text" name="title" required maxlength="200" value=(f.title);
            label for="ticket-body" { "Details" }
            textarea #ticket-body name="body" rows="5" placeholder="What you did, what you expected, what happened; instance ids help" { (f.body) }
            label for="ticket-category" { "Category" }
            input #ticket-category type="text" name="category" list="ticket-categories" value=(if f.category.is_empty() { "general" } else { f.category.as_str() });
            label for="ticket-priority" { "Priority" }
            select #ticket-priority name="priority" {
                option value="p1" selected[priority == "p1"] { "P1 — my shop is down" }
                option value="p2" selected[priority == "p2"] { "P2 — a major part does not work" }
                option value="p3" selected[priority == "p3"] { "P3 — something is wrong" }
                option value="p4" selected[priority == "p4"] { "P4 — a question" }
            }
            @if check_first {
                button type="submit" #check-kb { "Check the knowledge base first" }
                button type="submit" .secondary #file-now formmethod="post" formaction="/ui/tickets" { "File the ticket now" }
            } @else {
                button type="submit" #file-ticket { "File the ticket" }
            }
        }
        (category_list())
    }
}

fn new_page(p: &Principal, f: &TicketForm, suggestions: Option<&[Suggestion]>) -> Page {
    let draft = format!("{}\n{}", f.title, f.body);
    Page {
        title: "New ticket".into(),
        section: Some(SECTION),
        body: html! {
            h1 { "New ticket" }
            (tabs(p, "/ui/tickets/new"))
            @match suggestions {
                None => {
                    p .muted { "Say what is wrong; we look in the knowledge base before you file." }
                    (ticket_form(p, f, true))
                }
                Some(list) => {
                    section .panel #suggestions {
                        h2 { "These articles may answer it" }
                        @if list.is_empty() {
                            p .muted #no-suggestions { "The knowledge base has nothing on this yet." }
                        }
                        ul .suggestion-list {
                            @for a in list {
                                li .suggestion data-article=(a.id.0) {
                                    a href=(format!("/ui/kb/{}", a.id.0)) target="_blank" { (a.title) }
                                    " " span .chip { (a.category) }
                                    @if !is_staff(p) {
                                        form .inline-form method="post" action="/ui/tickets/deflect" {
                                            input type="hidden" name="article_id" value=(a.id.0);
                                            input type="hidden" name="draft" value=(draft);
                                            button type="submit" .secondary .solved { "This solved it" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    section .panel #file-anyway {
                        h2 { "Still need help?" }
                        form .stack-form method="post" action="/ui/tickets" #file-form {
                            @if is_staff(p) {
                                label for="ticket-merchant" { "Merchant id" }
                                input #ticket-merchant type="text" name="merchant_id" required value=(f.merchant_id);
                            }
                            label for="ticket-title" { "Title" }
                            input #ticket-title type="text" name="title" required maxlength="200" value=(f.title);
                            label for="ticket-body" { "Details" }
                            textarea #ticket-body name="body" rows="5" { (f.body) }
                            input type="hidden" name="category" value=(f.category);
                            input type="hidden" name="priority" value=(f.priority);
                            button type="submit" #file-anyway-submit { "File the ticket anyway" }
                        }
                    }
                }
            }
        },
    }
}

#[cfg(test)]
pub(super) mod tests {
    use cairn_domain::sla::{Clock, ClockState, Status};
    use cairn_domain::tickets::{Ticket, TicketLinks};
    use cairn_domain::{MerchantId, Role};

    use super::*;
    use crate::ui::tests::principal;

    fn now() -> Timestamp {
        time::macros::datetime!(2026-11-25 04:00 UTC)
    }

    pub(crate) fn ticket(id: &str, title: &str) -> Ticket {
        Ticket {
            id: id.into(),
            merchant_id: MerchantId::new("m-1"),
            title: title.into(),
            body: "订单库连不上".into(),
            category: "database".into(),
            priority: Priority::P2,
            tier: TicketTier::AppOps,
            status: TicketStatus::Escalated,
            assignee: Some("li".into()),
            created_by: "user:shop".into(),
            created_at: now() - time::Duration::hours(3),
            updated_at: now(),
            first_response_at: None,
            resolved_at: None,
            links: TicketLinks::default(),
            time_spent_minutes: 0,
            pauses: Vec::new(),
            sla_marks: Vec::new(),
        }
    }

    fn item(state: ClockState) -> QueueItem {
        let clock = Clock {
            state,
            target_minutes: 120,
            elapsed_minutes: 180,
            due_at: Some(now()),
        };
        QueueItem {
            ticket: ticket("t-1", "RDS 连接数满了 <too many>"),
            sla: Status {
                first_response: clock.clone(),
                resolution: clock,
                calendar_always: true,
            },
        }
    }

    #[test]
    fn staff_queues_show_tier_merchant_and_breached_clocks() {
        let p = principal(Role::Support);
        let q = queue_query(&p, vec![("tab".into(), "app-ops".into())]).unwrap();
        assert_eq!(q.filters, [("tier".to_owned(), "app-ops".to_owned())]);
        let page = list_page(&p, now(), &q, &[item(ClockState::Breached)])
            .body
            .into_string();
        assert!(page.contains("Application ops queue"));
        assert!(page.contains(r#"href="/ui/tickets/t-1""#));
        assert!(page.contains("RDS 连接数满了 &lt;too many&gt;"));
        assert!(page.contains(r#"href="/ui/merchants/m-1""#));
        assert!(page.contains(r#"id="breached-count""#));
        assert!(page.contains(r#"data-clock="first response" data-state="breached""#));
    }

    #[test]
    fn merchants_see_their_list_and_a_form_that_checks_the_knowledge_base_first() {
        let p = principal(Role::Merchant);
        let q = queue_query(&p, vec![("status".into(), String::new())]).unwrap();
        assert!(q.filters.is_empty(), "an empty select filters nothing");
        let page = list_page(&p, now(), &q, &[item(ClockState::Running)])
            .body
            .into_string();
        assert!(page.contains("My tickets"));
        assert!(!page.contains(r#"href="/ui/merchants/m-1""#));
        assert!(!page.contains(r#"name="merchant_id""#));
        assert!(page.contains(r#"action="/ui/tickets/new""#));
        assert!(page.contains("Check the knowledge base first"));
        assert!(page.contains(r#"formaction="/ui/tickets""#));
    }

    #[test]
    fn bad_queue_parameters_name_the_parameter() {
        let p = principal(Role::Support);
        let e = queue_query(&p, vec![("tab".into(), "ceo".into())]).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.starts_with("tab:"), "{}", e.message);
        let e = queue_query(&p, vec![("colour".into(), "red".into())]).unwrap_err();
        assert!(e.message.starts_with("colour:"), "{}", e.message);
        let mine = queue_query(&p, vec![("tab".into(), "mine".into())]).unwrap();
        assert_eq!(mine.filters, [("assignee".to_owned(), "test".to_owned())]);
    }

    #[test]
    fn suggestions_offer_this_solved_it_and_filing_anyway() {
        let p = principal(Role::Merchant);
        let f = TicketForm {
            title: "忘记 RDS 密码".into(),
            body: "怎么重置".into(),
            category: "database".into(),
            priority: "p3".into(),
            merchant_id: String::new(),
        };
        let s = vec![Suggestion {
            id: cairn_search::ArticleId("kb-1".into()),
            title: "如何重置 RDS 数据库密码".into(),
            category: "database".into(),
            score: 3.0,
        }];
        let page = new_page(&p, &f, Some(&s)).body.into_string();
        assert!(page.contains(r#"action="/ui/tickets/deflect""#));
        assert!(page.contains(r#"name="article_id" value="kb-1""#));
        assert!(page.contains("This solved it"));
        assert!(page.contains("File the ticket anyway"));
        assert!(page.contains(r#"value="忘记 RDS 密码""#));
        let none = new_page(&p, &f, Some(&[])).body.into_string();
        assert!(none.contains("no-suggestions") && none.contains("File the ticket anyway"));
    }
}
