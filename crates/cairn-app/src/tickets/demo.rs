//! The demo's tickets and knowledge base: two years of tickets with repeated themes
//! (password resets, scale-out requests, multi-zone deployments, slow databases, …)
//! from `cairn-search`'s generator, each with its timeline, and a starter knowledge
//! base in Chinese and English.

use cairn_domain::tickets::{Priority, Ticket, TicketLinks, TicketStatus, TicketTier};
use cairn_search::demo as d;
use cairn_store::tickets::TicketEvent;
use cairn_store::Tx;
use serde_json::json;

use super::kb::Article;
use crate::Result;

fn tier(t: d::Tier) -> TicketTier {
    match t {
        d::Tier::Support => TicketTier::Support,
        d::Tier::AppOps => TicketTier::AppOps,
        d::Tier::BaseOps => TicketTier::BaseOps,
        d::Tier::Developers => TicketTier::Developers,
    }
}

fn priority(p: d::Priority) -> Priority {
    match p {
        d::Priority::Urgent => Priority::P1,
        d::Priority::High => Priority::P2,
        d::Priority::Normal => Priority::P3,
        d::Priority::Low => Priority::P4,
    }
}

/// What the demo's tickets came to.
pub struct Loaded {
    pub tickets: Vec<Ticket>,
    pub articles: Vec<Article>,
}

/// Writes the demo's tickets, their events and the articles inside the demo's
/// transaction.
pub async fn load(tx: &mut Tx<'_>, today: time::Date) -> Result<Loaded> {
    let demo = d::generate_for_demo_cloud(today);
    let mut tickets = Vec::with_capacity(demo.tickets.len());
    let mut events = Vec::new();
    for t in &demo.tickets {
        let status = match t.status {
            d::TicketStatus::Open if t.first_response_at.is_none() => TicketStatus::New,
            d::TicketStatus::Open => TicketStatus::Open,
            d::TicketStatus::InProgress if !t.escalations.is_empty() => TicketStatus::Escalated,
            d::TicketStatus::InProgress => TicketStatus::Open,
            d::TicketStatus::Resolved => TicketStatus::Resolved,
            d::TicketStatus::Closed => TicketStatus::Closed,
        };
        let ticket = Ticket {
            id: t.id.0.clone(),
            merchant_id: t.merchant_id.clone(),
            title: t.title.clone(),
            body: t.body.clone(),
            category: t.category.clone(),
            priority: priority(t.priority),
            tier: tier(t.tier),
            status,
            assignee: None,
            created_by: format!("merchant:{}", t.merchant_id),
            created_at: t.created_at,
            updated_at: t
                .resolved_at
                .or(t.first_response_at)
                .unwrap_or(t.created_at),
            first_response_at: t.first_response_at,
            resolved_at: t.resolved_at,
            links: TicketLinks::default(),
            time_spent_minutes: t.time_spent_minutes,
            pauses: Vec::new(),
            // Demo history is past: its SLA events are not raised again.
            sla_marks: vec![
                "fr-warning".into(),
                "fr-breach".into(),
                "res-warning".into(),
                "res-breach".into(),
            ],
        };
        let ev = |at, actor: &str, kind: &str, internal, body: String, data| TicketEvent {
            seq: 0,
            ticket_id: ticket.id.clone(),
            at,
            actor: actor.to_owned(),
            kind: kind.to_owned(),
            internal,
            body,
            data,
        };
        events.push(ev(
            t.created_at,
            &ticket.created_by,
            "created",
            false,
            t.title.clone(),
            json!({"priority": ticket.priority}),
        ));
        if let Some(at) = t.first_response_at {
            events.push(ev(
                at,
                "support",
                "comment",
                false,
                "我们已收到您的问题，正在处理。 / We have your request and are on it.".into(),
                serde_json::Value::Null,
            ));
        }
        let mut from = TicketTier::Support;
        for e in &t.escalations {
            let to = tier(e.to);
            events.push(ev(
                e.at,
                "support",
                "escalated",
                true,
                format!("{} → {}: needs {}", from.as_str(), to.as_str(), to.as_str()),
                json!({"from": from, "to": to}),
            ));
            from = to;
        }
        if let (Some(at), Some(r)) = (t.resolved_at, &t.resolution) {
            events.push(ev(
                at,
                "support",
                "comment",
                false,
                r.clone(),
                serde_json::Value::Null,
            ));
            events.push(ev(
                at,
                "support",
                "status",
                false,
                "→ resolved".into(),
                json!({"to": "resolved"}),
            ));
        }
        tickets.push(ticket);
    }
    tx.insert_tickets(&tickets).await?;
    tx.append_ticket_events(&events).await?;
    let mut articles = Vec::with_capacity(demo.articles.len());
    for a in &demo.articles {
        let article = Article {
            id: a.id.0.clone(),
            title: a.title.clone(),
            body_markdown: a.body_markdown.clone(),
            category: a.category.clone(),
            tags: a.tags.clone(),
            audience: match a.audience {
                cairn_search::Audience::Public => "public".into(),
                cairn_search::Audience::Internal => "internal".into(),
            },
            status: "published".into(),
            version: a.version,
            author: "demo".into(),
            updated_at: a.updated_at,
            source_ticket: None,
        };
        let doc = serde_json::to_value(&article).unwrap_or_default();
        tx.put_article(&cairn_store::tickets::ArticleRow {
            id: &article.id,
            audience: &article.audience,
            status: &article.status,
            category: &article.category,
            version: i64::from(article.version),
            at: article.updated_at,
            author: "demo",
            doc: &doc,
            insert: true,
        })
        .await?;
        articles.push(article);
    }
    Ok(Loaded { tickets, articles })
}
