//! The tickets and knowledge-base pages: the tier queues with their SLA clocks and a
//! form to file a ticket (for merchants, in two steps: the knowledge base is searched
//! first, and "this solved it" counts as a deflection); one ticket with its comments,
//! workflow forms, attachments and its context in the model; the knowledge base with
//! search, articles rendered from Markdown, versions and the editor; the backlog of
//! repeated requests; the numbers; and the signed-in user's inbox.
//!
//! Every page calls the same use cases as `/api/v1/tickets` and `/api/v1/kb`, which
//! decide who sees what: a merchant gets its own tickets, the comments marked for it
//! and published public articles, and another merchant's ticket answers 404. Forms post
//! and redirect back with `?done=…` (post/redirect/get), like the alerting and incident
//! pages.
//!
//! - [`queue`]: `/ui/tickets`, `/ui/tickets/new` (the knowledge-base check), filing
//!   and deflecting;
//! - [`detail`]: `/ui/tickets/{id}` and its forms;
//! - [`kb`]: `/ui/kb` and `/ui/kb/{id}`;
//! - [`insight`]: `/ui/tickets/backlog` and `/ui/tickets/numbers`;
//! - this file: the routes, the helpers the pages share and `/ui/inbox`.

mod detail;
mod insight;
mod kb;
mod queue;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use cairn_domain::sla::{Clock, ClockState};
use cairn_domain::tickets::{Priority, TicketStatus, TicketTier};
use cairn_domain::{Principal, Role, Timestamp};
use cairn_store::tickets::InboxItem;
use maud::{html, Markup};
use serde::de::DeserializeOwned;

use super::format::{moment, moment_text, span};
use super::layout::{error_response, respond};
use super::{Page, UiError};
use crate::auth::Viewer;
use crate::AppState;

/// The navigation section of the ticket pages.
pub const SECTION: &str = "/ui/tickets";
/// The navigation section of the knowledge-base pages.
pub const KB_SECTION: &str = "/ui/kb";

/// The routes of the ticket, knowledge-base and inbox pages. Fixed segments
/// (`backlog`, `numbers`, `new`) win over `{id}` in axum's router, and all of these
/// over the records' `/ui/{kind}`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/tickets", get(queue::list).post(queue::create))
        .route("/ui/tickets/new", get(queue::new))
        .route("/ui/tickets/deflect", post(queue::deflect))
        .route("/ui/tickets/backlog", get(insight::backlog))
        .route(
            "/ui/tickets/backlog/{cluster}/mark",
            post(insight::mark_cluster),
        )
        .route("/ui/tickets/numbers", get(insight::numbers))
        .route("/ui/tickets/{id}", get(detail::show))
        .route("/ui/tickets/{id}/comments", post(detail::comment))
        .route("/ui/tickets/{id}/status", post(detail::status))
        .route("/ui/tickets/{id}/assign", post(detail::assign))
        .route("/ui/tickets/{id}/escalate", post(detail::escalate))
        .route("/ui/tickets/{id}/de-escalate", post(detail::de_escalate))
        .route("/ui/tickets/{id}/attachments", post(detail::attach))
        .route("/ui/tickets/{id}/article", post(detail::article))
        .route("/ui/kb", get(kb::list).post(kb::create))
        .route("/ui/kb/new", get(kb::new))
        .route("/ui/kb/{id}", get(kb::show).post(kb::update))
        .route("/ui/kb/{id}/edit", get(kb::edit))
        .route("/ui/inbox", get(inbox))
}

// ---------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------

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

/// Redirects after a form, or shows why it did not work.
fn after_form(p: &Principal, to: Result<String, UiError>) -> Response {
    match to {
        Ok(to) => Redirect::to(&to).into_response(),
        Err(e) => error_response(Some(p), e),
    }
}

/// Whether `p` works tickets (and so sees queues, internal comments and the editor).
fn is_staff(p: &Principal) -> bool {
    !matches!(p.role, Role::Merchant | Role::Viewer)
}

/// The user name of a signed-in person (`user:zhang.wei` → `zhang.wei`), which is what
/// tickets are assigned to.
fn user_name(p: &Principal) -> &str {
    p.actor.strip_prefix("user:").unwrap_or(&p.actor)
}

/// What a form did; other values show nothing, so a link cannot make a page claim
/// something happened.
fn flash(done: Option<&str>) -> Markup {
    let text = match done {
        Some("filed") => {
            "Ticket filed. Support will answer here; you will find it in your inbox too."
        }
        Some("commented") => "Comment added.",
        Some("status") => "Status changed.",
        Some("assigned") => "Assignment changed.",
        Some("escalated") => "Escalated to the next tier.",
        Some("de-escalated") => "Handed back to the previous tier.",
        Some("attached") => "File attached.",
        Some("deflected") => "Glad it helped. Nothing was filed.",
        Some("saved") => "Article saved as a new version.",
        Some("created") => "Article created.",
        Some("drafted") => "Draft article made from the ticket; edit it before publishing.",
        Some("marked") => "Cluster marked.",
        _ => return html! {},
    };
    html! { p .notice #flash role="status" data-done=(done.unwrap_or_default()) { (text) } }
}

fn when(t: Timestamp) -> Markup {
    html! {
        time datetime=(t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()) { (moment(t)) }
    }
}

fn tier_label(t: TicketTier) -> &'static str {
    match t {
        TicketTier::Support => "Support",
        TicketTier::AppOps => "Application ops",
        TicketTier::BaseOps => "Base product ops",
        TicketTier::Developers => "Developers",
    }
}

fn priority_badge(p: Priority) -> Markup {
    let class = match p {
        Priority::P1 | Priority::P2 => "badge crit",
        Priority::P3 => "badge warn",
        Priority::P4 => "badge info",
    };
    html! { span class=(class) data-priority=(p.as_str()) { (p.as_str().to_uppercase()) } }
}

fn status_badge(s: TicketStatus) -> Markup {
    let class = match s {
        TicketStatus::Resolved | TicketStatus::Closed => "badge ok",
        TicketStatus::WaitingOnMerchant => "badge muted",
        TicketStatus::Escalated => "badge warn",
        _ => "badge info",
    };
    html! { span class=(class) data-status=(s.as_str()) { (s.as_str()) } }
}

/// One SLA clock: its state, and the time left or by how much it is over.
fn sla_clock(name: &str, c: &Clock, now: Timestamp) -> Markup {
    let (class, word) = match c.state {
        ClockState::Met => ("badge ok", "met"),
        ClockState::MetLate => ("badge warn", "met late"),
        ClockState::Running => ("badge info", "running"),
        ClockState::Paused => ("badge muted", "paused"),
        ClockState::Warning => ("badge warn", "warning"),
        ClockState::Breached => ("badge crit", "breached"),
    };
    let detail = match c.state {
        ClockState::Breached => format!(
            "{} over",
            span(time::Duration::minutes(
                c.elapsed_minutes - c.target_minutes
            ))
        ),
        ClockState::Running | ClockState::Warning | ClockState::Paused => match c.due_at {
            Some(due) if due > now => format!("{} left", span(due - now)),
            Some(_) => "due now".into(),
            None => String::new(),
        },
        ClockState::Met | ClockState::MetLate => format!(
            "in {} of {}",
            span(time::Duration::minutes(c.elapsed_minutes)),
            span(time::Duration::minutes(c.target_minutes))
        ),
    };
    let state = serde_json::to_value(c.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    html! {
        span .sla-clock data-clock=(name) data-state=(state) {
            span .muted { (name) " " }
            span class=(class) { (word) }
            @if !detail.is_empty() { " " span .sla-detail { (detail) } }
        }
    }
}

/// Text with the search engine's `<mark>` highlights. The engine hands back escaped
/// HTML; rather than trust it, the markers are split out, the rest is unescaped to
/// plain text, and maud escapes it again, so only `<mark>` can ever reach the page.
fn highlighted(html_text: &str) -> Markup {
    let mut parts: Vec<(bool, String)> = Vec::new();
    for (i, open) in html_text.split("<mark>").enumerate() {
        if i == 0 {
            parts.push((false, unescape(open)));
            continue;
        }
        match open.split_once("</mark>") {
            Some((marked, rest)) => {
                parts.push((true, unescape(marked)));
                parts.push((false, unescape(rest)));
            }
            None => parts.push((true, unescape(open))),
        }
    }
    html! {
        @for (marked, text) in &parts {
            @if *marked { mark { (text) } } @else { (text) }
        }
    }
}

/// Undoes the five escapes of `cairn_search::markdown::escape_html`.
fn unescape(s: &str) -> String {
    s.replace("</mark>", "")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn tabs(p: &Principal, current: &str) -> Markup {
    let mut links: Vec<(&str, String)> = Vec::new();
    if is_staff(p) {
        links.push(("All open", "/ui/tickets".into()));
        for t in TicketTier::ALL {
            links.push((tier_label(t), format!("/ui/tickets?tab={}", t.as_str())));
        }
        links.push(("Mine", "/ui/tickets?tab=mine".into()));
        links.push(("Backlog", "/ui/tickets/backlog".into()));
        links.push(("Numbers", "/ui/tickets/numbers".into()));
    } else {
        links.push(("My tickets", "/ui/tickets".into()));
        links.push(("New ticket", "/ui/tickets/new".into()));
    }
    links.push(("Knowledge base", "/ui/kb".into()));
    links.push(("Inbox", "/ui/inbox".into()));
    html! {
        nav aria-label="Tickets" {
            ul .tabs #ticket-tabs {
                @for (label, href) in &links {
                    li { a href=(href) aria-current=[(href == current).then_some("page")] { (label) } }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// The inbox
// ---------------------------------------------------------------------------------

/// `GET /ui/inbox`: the signed-in user's notifications. Reading the inbox marks its
/// messages seen (the use case does), so the page shows which ones were new.
pub async fn inbox(State(s): State<AppState>, Viewer(p): Viewer) -> Response {
    let page = async {
        let items = s.app.inbox(&p).await?;
        Ok(inbox_page(&p, &items))
    };
    respond(&p, page.await)
}

fn inbox_page(p: &Principal, items: &[InboxItem]) -> Page {
    let new = items.iter().filter(|i| !i.seen).count();
    Page {
        title: "Inbox".into(),
        section: Some(SECTION),
        body: html! {
            h1 { "Inbox" }
            (tabs(p, "/ui/inbox"))
            p .muted #inbox-summary {
                @if new == 0 { "Nothing new." } @else { (new) " new since you last looked; they are marked read now." }
            }
            @if items.is_empty() { p .muted #inbox-empty { "No messages yet." } }
            ul .inbox #inbox {
                @for i in items {
                    li data-seen=(i.seen) .unseen[!i.seen] {
                        @if !i.seen { span .badge .info { "new" } " " }
                        span .muted { (moment_text(&i.at)) } " "
                        @match &i.ticket_id {
                            Some(t) => a href=(format!("/ui/tickets/{t}")) { (i.text) },
                            None => (i.text),
                        }
                    }
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use cairn_domain::sla::ClockState;

    use super::*;
    use crate::ui::tests::principal;

    #[test]
    fn highlights_become_marks_and_nothing_else_becomes_markup() {
        let got = highlighted("重置 <mark>密码</mark> &lt;script&gt;x&lt;/script&gt; &amp; <b>")
            .into_string();
        assert_eq!(
            got,
            "重置 <mark>密码</mark> &lt;script&gt;x&lt;/script&gt; &amp; &lt;b&gt;"
        );
        // An unclosed mark still closes, and a stray closing one disappears.
        assert_eq!(highlighted("a <mark>b").into_string(), "a <mark>b</mark>");
        assert_eq!(highlighted("a</mark> b").into_string(), "a b");
        assert_eq!(
            highlighted("<mark>&lt;img&gt;</mark>").into_string(),
            "<mark>&lt;img&gt;</mark>"
        );
    }

    #[test]
    fn sla_clocks_say_how_much_is_left_or_over() {
        let now = time::macros::datetime!(2026-11-25 04:00 UTC);
        let running = Clock {
            state: ClockState::Warning,
            target_minutes: 60,
            elapsed_minutes: 50,
            due_at: Some(now + time::Duration::minutes(10)),
        };
        let got = sla_clock("first response", &running, now).into_string();
        assert!(got.contains(r#"data-state="warning""#), "{got}");
        assert!(got.contains("10m left"), "{got}");
        let breached = Clock {
            state: ClockState::Breached,
            target_minutes: 60,
            elapsed_minutes: 150,
            due_at: Some(now),
        };
        let got = sla_clock("resolution", &breached, now).into_string();
        assert!(
            got.contains("badge crit") && got.contains("1h 30m over"),
            "{got}"
        );
    }

    #[test]
    fn merchants_get_their_own_tabs_and_staff_the_tiers() {
        let m = tabs(&principal(Role::Merchant), "/ui/tickets").into_string();
        assert!(m.contains("/ui/tickets/new") && !m.contains("tab=app-ops"));
        assert!(!m.contains("/ui/tickets/backlog"));
        let s = tabs(&principal(Role::Support), "/ui/tickets?tab=mine").into_string();
        for t in [
            "tab=support",
            "tab=app-ops",
            "tab=base-ops",
            "tab=developers",
        ] {
            assert!(s.contains(t), "{t}");
        }
        assert!(s.contains(r#"<a href="/ui/tickets?tab=mine" aria-current="page">"#));
    }

    #[test]
    fn the_inbox_marks_new_messages_and_links_tickets() {
        let items = vec![
            InboxItem {
                seq: 2,
                user: "user:li".into(),
                at: "2026-11-25T04:00:00Z".into(),
                ticket_id: Some("t-1".into()),
                text: "New ticket t-1: <RDS> 密码".into(),
                seen: false,
            },
            InboxItem {
                seq: 1,
                user: "user:li".into(),
                at: "2026-11-24T04:00:00Z".into(),
                ticket_id: None,
                text: "older".into(),
                seen: true,
            },
        ];
        let page = inbox_page(&principal(Role::Support), &items)
            .body
            .into_string();
        assert!(page.contains(r#"<a href="/ui/tickets/t-1">New ticket t-1: &lt;RDS&gt; 密码</a>"#));
        assert!(page.contains("1 new since you last looked"));
        assert_eq!(page.matches(r#"data-seen="false""#).count(), 1);
    }

    #[test]
    fn only_known_form_outcomes_are_announced() {
        assert!(flash(Some("deflected"))
            .into_string()
            .contains("Nothing was filed"));
        assert_eq!(flash(Some("<script>")).into_string(), "");
    }
}
