//! The tickets loop: the tiered support flow (support → application ops → base
//! product ops → developers) with SLAs, the merchant portal, attachments, the
//! knowledge base with search and suggestions, deflection, repeated requests turned
//! into product work, ticket context from the model, numbers, and notifications.
//!
//! Who sees what: a merchant principal sees its own tickets, the comments and
//! attachments marked for it (never internal ones), and published public articles;
//! staff see everything. Every write is one transaction that also appends the
//! ticket's events.

pub mod demo;
mod kb;
mod notify;
mod numbers;
mod queue;

use std::path::PathBuf;
use std::sync::Arc;

use cairn_domain::sla::{self, Pause, Policy};
use cairn_domain::tickets::{
    validate_new, Priority, Ticket, TicketLinks, TicketStatus, TicketTier,
};
use cairn_domain::{Instance, Merchant, Principal, Role, Service};
use cairn_search::SearchIndex;
use cairn_store::tickets::{Attachment, TicketEvent, TicketFilter};
use cairn_store::OwnerFilter;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::records::parse_value;
use crate::{App, AppError, Result};

pub use kb::{Article, ArticleInput, ClusterView, SearchAnswer};
pub use numbers::{Numbers, NumbersRow};
pub use queue::{ContextIncident, QueueItem, CONTEXT_INCIDENT_DAYS};

/// Largest attachment accepted.
pub const MAX_ATTACHMENT: usize = 10 << 20;

/// Content types attachments may have; images and PDFs must also look like one.
pub const ATTACHMENT_TYPES: &[&str] = &[
    "text/plain",
    "text/csv",
    "application/json",
    "application/pdf",
    "image/png",
    "image/jpeg",
    "application/zip",
];

/// The loop's shared parts: the search index, where attachments live, SLA policy.
pub struct Tickets {
    pub index: SearchIndex,
    /// Attachments are kept under this directory; `None` keeps none (refused).
    pub attachments: Option<PathBuf>,
    pub policy: Policy,
}

impl Tickets {
    /// With an index in `<data_dir>/search` and attachments in `<data_dir>/attachments`.
    pub fn open(data_dir: &std::path::Path) -> Result<Tickets> {
        let dir = data_dir.join("search");
        std::fs::create_dir_all(&dir)
            .map_err(|e| AppError::Internal(format!("cannot create {}: {e}", dir.display())))?;
        let index = SearchIndex::open(&dir)
            .map_err(|e| AppError::Internal(format!("cannot open the search index: {e}")))?;
        Ok(Tickets {
            index,
            attachments: Some(data_dir.join("attachments")),
            policy: Policy::default(),
        })
    }
}

/// What a new ticket takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    /// Staff file on behalf of a merchant; a merchant's own is implied.
    #[serde(default)]
    pub merchant_id: Option<String>,
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default = "default_category")]
    pub category: String,
    #[serde(default = "default_priority")]
    pub priority: Priority,
    #[serde(default)]
    pub links: TicketLinks,
}

fn default_category() -> String {
    "general".into()
}
fn default_priority() -> Priority {
    Priority::P3
}

/// A ticket as a viewer sees it: its events and attachments filtered for them, its
/// SLA clocks now, and what the model knows around it.
#[derive(Debug, Clone, Serialize)]
pub struct TicketDetail {
    pub ticket: Ticket,
    pub events: Vec<TicketEvent>,
    pub attachments: Vec<Attachment>,
    pub sla: sla::Status,
    pub context: Option<TicketContext>,
}

/// The model around a ticket, for staff: the merchant's resources, alerts on them.
#[derive(Debug, Clone, Serialize)]
pub struct TicketContext {
    pub merchant: Merchant,
    pub instances_by_product: Vec<(String, usize)>,
    pub instances: usize,
    pub services: Vec<(String, String)>,
    /// Firing alerts whose impact names this merchant.
    pub alerts: Vec<crate::alerting::AlertView>,
    /// Open or recent incidents whose impact names this merchant, newest first.
    pub incidents: Vec<ContextIncident>,
    /// Notes on what cairn cannot show yet (health findings).
    pub notes: Vec<String>,
}

fn staff(p: &Principal) -> bool {
    p.role != Role::Merchant
}

fn may_work(p: &Principal) -> Result<()> {
    match p.role {
        Role::Admin | Role::BaseOps | Role::AppOps | Role::Support | Role::Developer => Ok(()),
        r => Err(AppError::Forbidden(format!(
            "role {r} may not work on tickets"
        ))),
    }
}

/// The role whose people work a tier's queue.
pub fn tier_role(t: TicketTier) -> Role {
    match t {
        TicketTier::Support => Role::Support,
        TicketTier::AppOps => Role::AppOps,
        TicketTier::BaseOps => Role::BaseOps,
        TicketTier::Developers => Role::Developer,
    }
}

fn event(
    t: &Ticket,
    at: cairn_domain::Timestamp,
    actor: &str,
    kind: &str,
    internal: bool,
    body: impl Into<String>,
    data: Value,
) -> TicketEvent {
    TicketEvent {
        seq: 0,
        ticket_id: t.id.clone(),
        at,
        actor: actor.to_owned(),
        kind: kind.to_owned(),
        internal,
        body: body.into(),
        data,
    }
}

fn doc(t: &Ticket) -> cairn_search::TicketDoc {
    cairn_search::TicketDoc {
        id: cairn_search::TicketId(t.id.clone()),
        merchant_id: t.merchant_id.clone(),
        title: t.title.clone(),
        body: t.body.clone(),
        category: t.category.clone(),
        status: t.status.as_str().to_owned(),
        created_at: t.created_at,
    }
}

/// Sets a status, keeping the pauses and resolution time in step.
fn set_status(t: &mut Ticket, to: TicketStatus, now: cairn_domain::Timestamp) {
    let from = t.status;
    if from == TicketStatus::WaitingOnMerchant {
        if let Some(p) = t.pauses.iter_mut().rev().find(|p| p.end.is_none()) {
            p.end = Some(now);
        }
    }
    if to == TicketStatus::WaitingOnMerchant {
        t.pauses.push(Pause {
            start: now,
            end: None,
        });
    }
    match to {
        TicketStatus::Resolved => t.resolved_at = Some(now),
        TicketStatus::Reopened => t.resolved_at = None,
        _ => {}
    }
    t.status = to;
    t.updated_at = now;
}

impl App {
    /// The tickets loop, when this server runs one.
    pub fn tickets(&self) -> Result<&Arc<Tickets>> {
        self.tickets
            .as_ref()
            .ok_or_else(|| AppError::Unavailable("this server runs no tickets loop".into()))
    }

    /// A ticket as `p` may see it: a merchant's own only (others are "not found").
    async fn visible_ticket(&self, p: &Principal, id: &str) -> Result<Ticket> {
        let t = self
            .store
            .ticket(id)
            .await?
            .ok_or_else(|| AppError::not_found("ticket", id))?;
        if p.role == Role::Merchant && p.merchant_id.as_ref() != Some(&t.merchant_id) {
            return Err(AppError::not_found("ticket", id));
        }
        if p.role == Role::Viewer || staff(p) || p.merchant_id.is_some() {
            Ok(t)
        } else {
            Err(AppError::not_found("ticket", id))
        }
    }

    /// Checks links: instances and services must be the ticket's merchant's (merchants
    /// may not name hosts), alerts and incidents are free text ids.
    async fn check_links(
        &self,
        p: &Principal,
        merchant: &cairn_domain::MerchantId,
        links: &TicketLinks,
    ) -> Result<()> {
        let any = OwnerFilter::Any;
        for i in &links.instances {
            match self.store.get::<Instance>(i.as_str(), &any).await? {
                Some(inst) if &inst.merchant_id == merchant => {}
                _ => {
                    return Err(AppError::bad_input(
                        Some("links.instances".into()),
                        format!("{i} is not an instance of merchant {merchant}"),
                    ))
                }
            }
        }
        for s in &links.services {
            match self.store.get::<Service>(s.as_str(), &any).await? {
                Some(svc)
                    if svc.merchant_id.is_none() || svc.merchant_id.as_ref() == Some(merchant) => {}
                _ => {
                    return Err(AppError::bad_input(
                        Some("links.services".into()),
                        format!("{s} is not a platform service or one of merchant {merchant}"),
                    ))
                }
            }
        }
        if !links.hosts.is_empty() {
            if !staff(p) {
                return Err(AppError::Forbidden(
                    "links.hosts: merchants may not name hosts".into(),
                ));
            }
            for h in &links.hosts {
                if !self
                    .store
                    .exists(cairn_domain::Kind::Host, h.as_str())
                    .await?
                {
                    return Err(AppError::bad_input(
                        Some("links.hosts".into()),
                        format!("no host {h}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Files a ticket: in support's queue, status new, SLA clocks running.
    pub async fn create_ticket(&self, p: &Principal, body: Value) -> Result<Ticket> {
        let t = self.tickets()?.clone();
        let input: NewTicket = parse_value("ticket", body)?;
        let merchant_id = match (p.role, &p.merchant_id, &input.merchant_id) {
            (Role::Merchant, Some(m), None) => m.clone(),
            (Role::Merchant, Some(m), Some(x)) if x == m.as_str() => m.clone(),
            (Role::Merchant, _, _) => {
                return Err(AppError::Forbidden(
                    "merchant_id: a merchant files tickets for itself only".into(),
                ))
            }
            (_, _, Some(m)) => {
                may_work(p)?;
                cairn_domain::MerchantId::new(m.clone())
            }
            (_, _, None) => {
                return Err(AppError::bad_input(
                    Some("merchant_id".into()),
                    "staff must say which merchant the ticket is for",
                ))
            }
        };
        validate_new(&input.title, &input.body, &input.category)?;
        if self
            .store
            .get::<Merchant>(merchant_id.as_str(), &OwnerFilter::Any)
            .await?
            .is_none()
        {
            return Err(cairn_domain::DomainError::DanglingReference {
                field: "merchant_id".into(),
                kind: "merchant",
                id: merchant_id.to_string(),
            }
            .into());
        }
        self.check_links(p, &merchant_id, &input.links).await?;
        let now = self.now();
        let ticket = Ticket {
            id: crate::auth::new_id("t"),
            merchant_id,
            title: input.title.trim().to_owned(),
            body: input.body,
            category: input.category,
            priority: input.priority,
            tier: TicketTier::Support,
            status: TicketStatus::New,
            assignee: None,
            created_by: p.actor.clone(),
            created_at: now,
            updated_at: now,
            first_response_at: None,
            resolved_at: None,
            links: input.links,
            time_spent_minutes: 0,
            pauses: Vec::new(),
            sla_marks: Vec::new(),
        };
        let mut tx = self.store.begin().await?;
        tx.insert_tickets(std::slice::from_ref(&ticket)).await?;
        tx.append_ticket_events(&[event(
            &ticket,
            now,
            &p.actor,
            "created",
            false,
            ticket.title.clone(),
            json!({"priority": ticket.priority, "category": ticket.category}),
        )])
        .await?;
        self.notify_queue(
            &mut tx,
            &ticket,
            &format!("New ticket {}: {}", ticket.id, ticket.title),
        )
        .await?;
        tx.commit().await?;
        let _ = t
            .index
            .upsert_ticket(&doc(&ticket))
            .and_then(|_| t.index.commit());
        Ok(ticket)
    }

    /// Tickets `p` may see, newest first.
    pub async fn list_tickets(
        &self,
        p: &Principal,
        params: &[(String, String)],
    ) -> Result<Vec<Ticket>> {
        self.tickets()?;
        let mut f = TicketFilter {
            limit: 100,
            ..Default::default()
        };
        for (k, v) in params {
            match k.as_str() {
                "status" => {
                    TicketStatus::parse(v).ok_or_else(|| AppError::bad_input(Some("status".into()), format!("unknown status {v:?}")))?;
                    f.status = Some(v.clone())
                }
                "tier" => {
                    TicketTier::parse(v).ok_or_else(|| AppError::bad_input(Some("tier".into()), format!("unknown tier {v:?}")))?;
                    f.tier = Some(v.clone())
                }
                "priority" => {
                    Priority::parse(v).ok_or_else(|| AppError::bad_input(Some("priority".into()), format!("unknown priority {v:?}")))?;
                    f.priority = Some(v.clone())
                }
                "assignee" => f.assignee = Some(v.clone()),
                "category" => f.category = Some(v.clone()),
                "merchant_id" => f.merchant_id = Some(v.clone()),
                "open" => f.open_only = v == "true",
                "limit" => {
                    f.limit = v
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| AppError::bad_input(Some("limit".into()), format!("must be from 1 to 1000, got {v:?}")))?
                }
                "before" => {
                    let t = self
                        .store
                        .ticket(v)
                        .await?
                        .ok_or_else(|| AppError::bad_input(Some("before".into()), format!("no ticket {v:?}")))?;
                    let at = t
                        .created_at
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default();
                    f.before = Some((at, t.id));
                }
                other => {
                    return Err(AppError::bad_input(
                        Some(other.to_owned()),
                        "unknown parameter; tickets filter by status, tier, priority, assignee, category, merchant_id, open, and take limit and before",
                    ))
                }
            }
        }
        if p.role == Role::Merchant {
            let m = p
                .merchant_id
                .clone()
                .ok_or_else(|| AppError::Forbidden("no merchant".into()))?;
            f.merchant_id = Some(m.to_string());
        }
        Ok(self.store.tickets(&f).await?)
    }

    /// One ticket with what `p` may see of it.
    pub async fn ticket_detail(&self, p: &Principal, id: &str) -> Result<TicketDetail> {
        let t = self.tickets()?.clone();
        let ticket = self.visible_ticket(p, id).await?;
        let internal = staff(p);
        let events = self.store.ticket_events(id, internal).await?;
        let attachments = self
            .store
            .attachments(id)
            .await?
            .into_iter()
            .filter(|a| internal || !a.internal)
            .collect();
        let tier = self
            .store
            .get::<Merchant>(ticket.merchant_id.as_str(), &OwnerFilter::Any)
            .await?
            .map_or(cairn_domain::Tier::Standard, |m| m.tier);
        let status = sla::status(
            &t.policy,
            ticket.priority,
            tier,
            ticket.created_at,
            ticket.first_response_at,
            ticket.resolved_at,
            &ticket.pauses,
            self.now(),
        );
        let context = if internal {
            Some(self.ticket_context(p, &ticket).await?)
        } else {
            None
        };
        Ok(TicketDetail {
            ticket,
            events,
            attachments,
            sla: status,
            context,
        })
    }

    async fn ticket_context(&self, p: &Principal, t: &Ticket) -> Result<TicketContext> {
        let any = OwnerFilter::Any;
        let merchant = self
            .store
            .get::<Merchant>(t.merchant_id.as_str(), &any)
            .await?
            .ok_or_else(|| AppError::not_found("merchant", t.merchant_id.as_str()))?;
        let owner = OwnerFilter::Merchant(t.merchant_id.clone());
        let instances = self.store.all::<Instance>(&owner).await?;
        let mut by_product: std::collections::BTreeMap<String, usize> = Default::default();
        for i in instances
            .iter()
            .filter(|i| i.state != cairn_domain::InstanceState::Released)
        {
            *by_product.entry(i.product_id.to_string()).or_default() += 1;
        }
        let services = self
            .store
            .all::<Service>(&owner)
            .await?
            .into_iter()
            .map(|s| (s.id.to_string(), s.name))
            .collect();
        let alerts = match self.alerting() {
            Ok(_) => self
                .alerts(p, false)
                .await
                .unwrap_or_default()
                .into_iter()
                .filter(|a| a.impact.merchants.iter().any(|m| m.id == t.merchant_id))
                .collect(),
            Err(_) => Vec::new(),
        };
        Ok(TicketContext {
            merchant,
            instances: instances.len(),
            instances_by_product: by_product.into_iter().collect(),
            services,
            alerts,
            incidents: self.incidents_hurting(t.merchant_id.as_str()).await?,
            notes: vec!["health findings: cairn runs no health checks yet".into()],
        })
    }

    /// Comments on a ticket. A merchant's comments are always visible to it and
    /// resume a ticket that waited on it; staff choose. The first comment staff make
    /// where the merchant can see it is the first response.
    pub async fn comment_ticket(
        &self,
        p: &Principal,
        id: &str,
        body: &str,
        internal: bool,
    ) -> Result<Ticket> {
        let t = self.tickets()?.clone();
        let _ = self.visible_ticket(p, id).await?;
        if body.trim().is_empty() {
            return Err(AppError::bad_input(
                Some("body".into()),
                "must not be empty",
            ));
        }
        if body.chars().count() > cairn_domain::tickets::MAX_BODY {
            return Err(AppError::bad_input(Some("body".into()), "is too long"));
        }
        let merchant = !staff(p);
        if merchant && internal {
            return Err(AppError::Forbidden(
                "internal: merchants' comments are visible to them".into(),
            ));
        }
        if !merchant {
            may_work(p)?;
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut ticket = tx
            .ticket(id)
            .await?
            .ok_or_else(|| AppError::not_found("ticket", id))?;
        if ticket.status == TicketStatus::Closed {
            return Err(AppError::Conflict(format!("ticket {id} is closed")));
        }
        let mut events = vec![event(
            &ticket,
            now,
            &p.actor,
            "comment",
            internal,
            body,
            Value::Null,
        )];
        if merchant {
            if matches!(
                ticket.status,
                TicketStatus::WaitingOnMerchant | TicketStatus::Resolved
            ) {
                let to = if ticket.status == TicketStatus::Resolved {
                    TicketStatus::Reopened
                } else {
                    TicketStatus::Open
                };
                let from = ticket.status;
                set_status(&mut ticket, to, now);
                events.push(event(
                    &ticket,
                    now,
                    &p.actor,
                    "status",
                    false,
                    format!("{} → {}", from.as_str(), to.as_str()),
                    json!({"from": from, "to": to}),
                ));
            }
        } else if !internal {
            if ticket.first_response_at.is_none() {
                ticket.first_response_at = Some(now);
            }
            if ticket.status == TicketStatus::New {
                set_status(&mut ticket, TicketStatus::Open, now);
                events.push(event(
                    &ticket,
                    now,
                    &p.actor,
                    "status",
                    false,
                    "new → open",
                    json!({"from": "new", "to": "open"}),
                ));
            }
        }
        ticket.updated_at = now;
        tx.update_ticket(&ticket).await?;
        tx.append_ticket_events(&events).await?;
        if merchant {
            self.notify_workers(
                &mut tx,
                &ticket,
                &format!("{} commented on {}: {}", p.actor, ticket.id, ticket.title),
            )
            .await?;
        } else if !internal {
            self.notify_merchant(
                &mut tx,
                &ticket,
                &format!("New reply on your ticket {}: {}", ticket.id, ticket.title),
            )
            .await?;
        }
        tx.commit().await?;
        if !internal {
            self.email_ticket_update(&ticket, body, merchant).await;
        }
        let _ = t
            .index
            .upsert_ticket(&doc(&ticket))
            .and_then(|_| t.index.commit());
        Ok(ticket)
    }

    /// Changes a ticket's status. Merchants may only reopen what was resolved or
    /// close it; staff anything the rules allow, with a reason when resolving.
    pub async fn set_ticket_status(
        &self,
        p: &Principal,
        id: &str,
        to: &str,
        reason: Option<&str>,
    ) -> Result<Ticket> {
        let t = self.tickets()?.clone();
        let _ = self.visible_ticket(p, id).await?;
        let to = TicketStatus::parse(to).ok_or_else(|| {
            AppError::bad_input(Some("status".into()), format!("unknown status {to:?}; one of new, open, waiting-on-merchant, escalated, resolved, closed, reopened"))
        })?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut ticket = tx
            .ticket(id)
            .await?
            .ok_or_else(|| AppError::not_found("ticket", id))?;
        let merchant_may = ticket.status == TicketStatus::Resolved
            && matches!(to, TicketStatus::Reopened | TicketStatus::Closed);
        if !(staff(p) || merchant_may) {
            return Err(AppError::Forbidden(
                "status: a merchant may reopen or close a resolved ticket only".into(),
            ));
        }
        if staff(p) {
            may_work(p)?;
        }
        if to == TicketStatus::Escalated {
            return Err(AppError::bad_input(
                Some("status".into()),
                "escalate with POST .../escalate, which takes a reason",
            ));
        }
        let from = ticket.status;
        if !from.may_become(to) {
            return Err(cairn_domain::DomainError::invalid(
                "status",
                format!("a {} ticket cannot become {}", from.as_str(), to.as_str()),
            )
            .into());
        }
        set_status(&mut ticket, to, now);
        let body = match reason {
            Some(r) if !r.trim().is_empty() => format!("{} → {}: {r}", from.as_str(), to.as_str()),
            _ => format!("{} → {}", from.as_str(), to.as_str()),
        };
        tx.update_ticket(&ticket).await?;
        tx.append_ticket_events(&[event(
            &ticket,
            now,
            &p.actor,
            "status",
            false,
            body.clone(),
            json!({"from": from, "to": to}),
        )])
        .await?;
        if staff(p) {
            self.notify_merchant(
                &mut tx,
                &ticket,
                &format!("Your ticket {} is now {}", ticket.id, to.as_str()),
            )
            .await?;
        } else {
            self.notify_workers(
                &mut tx,
                &ticket,
                &format!("{} set {} to {}", p.actor, ticket.id, to.as_str()),
            )
            .await?;
        }
        tx.commit().await?;
        if staff(p) {
            self.email_ticket_update(&ticket, &body, false).await;
        }
        let _ = t
            .index
            .upsert_ticket(&doc(&ticket))
            .and_then(|_| t.index.commit());
        Ok(ticket)
    }

    /// Hands a ticket up one tier (or to `to`), with the reason written down.
    pub async fn escalate_ticket(
        &self,
        p: &Principal,
        id: &str,
        reason: &str,
        to: Option<&str>,
        down: bool,
    ) -> Result<Ticket> {
        may_work(p)?;
        let t = self.tickets()?.clone();
        if reason.trim().is_empty() {
            return Err(AppError::bad_input(
                Some("reason".into()),
                "a reason is required",
            ));
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut ticket = tx
            .ticket(id)
            .await?
            .ok_or_else(|| AppError::not_found("ticket", id))?;
        if ticket.status.is_done() {
            return Err(AppError::Conflict(format!(
                "ticket {id} is {}; reopen it first",
                ticket.status.as_str()
            )));
        }
        let target = match to {
            Some(s) => TicketTier::parse(s).ok_or_else(|| {
                AppError::bad_input(
                    Some("to".into()),
                    format!("unknown tier {s:?}; one of support, app-ops, base-ops, developers"),
                )
            })?,
            None if down => ticket.tier.previous().ok_or_else(|| {
                cairn_domain::DomainError::invalid("to", "the ticket is already with support")
            })?,
            None => ticket.tier.next().ok_or_else(|| {
                cairn_domain::DomainError::invalid(
                    "to",
                    "the ticket is already with the developers",
                )
            })?,
        };
        if (down && target >= ticket.tier) || (!down && target <= ticket.tier) {
            return Err(cairn_domain::DomainError::invalid(
                "to",
                format!(
                    "{} is not {} {}",
                    target.as_str(),
                    if down { "below" } else { "above" },
                    ticket.tier.as_str()
                ),
            )
            .into());
        }
        let from = ticket.tier;
        ticket.tier = target;
        ticket.assignee = None;
        if !down && ticket.status != TicketStatus::Escalated {
            set_status(&mut ticket, TicketStatus::Escalated, now);
        } else if down && ticket.status == TicketStatus::Escalated {
            set_status(&mut ticket, TicketStatus::Open, now);
        }
        ticket.updated_at = now;
        let kind = if down { "de-escalated" } else { "escalated" };
        tx.update_ticket(&ticket).await?;
        tx.append_ticket_events(&[event(
            &ticket,
            now,
            &p.actor,
            kind,
            true,
            format!("{} → {}: {reason}", from.as_str(), target.as_str()),
            json!({"from": from, "to": target, "reason": reason}),
        )])
        .await?;
        self.notify_queue(
            &mut tx,
            &ticket,
            &format!(
                "Ticket {} {kind} to {}: {}",
                ticket.id,
                target.as_str(),
                reason
            ),
        )
        .await?;
        tx.commit().await?;
        let _ = t
            .index
            .upsert_ticket(&doc(&ticket))
            .and_then(|_| t.index.commit());
        Ok(ticket)
    }

    /// Assigns a ticket to a person (or back to its tier's queue with `None`).
    pub async fn assign_ticket(
        &self,
        p: &Principal,
        id: &str,
        assignee: Option<&str>,
    ) -> Result<Ticket> {
        may_work(p)?;
        if let Some(a) = assignee {
            if self
                .store
                .user_by_name(a)
                .await?
                .filter(|u| u.role != Role::Merchant)
                .is_none()
            {
                return Err(AppError::bad_input(
                    Some("assignee".into()),
                    format!("no staff user named {a:?}"),
                ));
            }
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut ticket = tx
            .ticket(id)
            .await?
            .ok_or_else(|| AppError::not_found("ticket", id))?;
        ticket.assignee = assignee.map(str::to_owned);
        ticket.updated_at = now;
        tx.update_ticket(&ticket).await?;
        let body = match assignee {
            Some(a) => format!("assigned to {a}"),
            None => format!("back to the {} queue", ticket.tier.as_str()),
        };
        tx.append_ticket_events(&[event(
            &ticket,
            now,
            &p.actor,
            "assigned",
            true,
            body,
            json!({"assignee": assignee}),
        )])
        .await?;
        if let Some(a) = assignee {
            tx.push_inbox(
                &format!("user:{a}"),
                now,
                Some(&ticket.id),
                &format!("{} assigned you {}: {}", p.actor, ticket.id, ticket.title),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(ticket)
    }

    /// Records handling time.
    pub async fn log_ticket_time(&self, p: &Principal, id: &str, minutes: u32) -> Result<Ticket> {
        may_work(p)?;
        if minutes == 0 || minutes > 24 * 60 {
            return Err(AppError::bad_input(
                Some("minutes".into()),
                format!("must be from 1 to 1440, got {minutes}"),
            ));
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut ticket = tx
            .ticket(id)
            .await?
            .ok_or_else(|| AppError::not_found("ticket", id))?;
        ticket.time_spent_minutes += minutes;
        ticket.updated_at = now;
        tx.update_ticket(&ticket).await?;
        tx.append_ticket_events(&[event(
            &ticket,
            now,
            &p.actor,
            "time",
            true,
            format!("{minutes} minutes"),
            json!({"minutes": minutes}),
        )])
        .await?;
        tx.commit().await?;
        Ok(ticket)
    }

    /// Adds links to the model and the other loops.
    pub async fn link_ticket(&self, p: &Principal, id: &str, body: Value) -> Result<Ticket> {
        let current = self.visible_ticket(p, id).await?;
        let add: TicketLinks = parse_value("links", body)?;
        if !add.alerts.is_empty() || !add.incidents.is_empty() || !add.hosts.is_empty() {
            may_work(p)?;
        }
        self.check_links(p, &current.merchant_id, &add).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut ticket = tx
            .ticket(id)
            .await?
            .ok_or_else(|| AppError::not_found("ticket", id))?;
        fn merge<T: PartialEq + Clone>(into: &mut Vec<T>, from: &[T]) {
            for x in from {
                if !into.contains(x) {
                    into.push(x.clone());
                }
            }
        }
        merge(&mut ticket.links.instances, &add.instances);
        merge(&mut ticket.links.hosts, &add.hosts);
        merge(&mut ticket.links.services, &add.services);
        merge(&mut ticket.links.alerts, &add.alerts);
        merge(&mut ticket.links.incidents, &add.incidents);
        ticket.updated_at = now;
        tx.update_ticket(&ticket).await?;
        tx.append_ticket_events(&[event(
            &ticket,
            now,
            &p.actor,
            "linked",
            false,
            "links added",
            serde_json::to_value(&add).unwrap_or_default(),
        )])
        .await?;
        tx.commit().await?;
        Ok(ticket)
    }

    /// Stores an attachment: size limited, content type allowed and matching the
    /// bytes for images and PDFs.
    pub async fn attach_to_ticket(
        &self,
        p: &Principal,
        id: &str,
        name: &str,
        content_type: &str,
        bytes: &[u8],
        internal: bool,
    ) -> Result<Attachment> {
        let t = self.tickets()?.clone();
        let ticket = self.visible_ticket(p, id).await?;
        if internal && !staff(p) {
            return Err(AppError::Forbidden(
                "internal: merchants' attachments are visible to them".into(),
            ));
        }
        let dir = t
            .attachments
            .clone()
            .ok_or_else(|| AppError::Unavailable("this server keeps no attachments".into()))?;
        let ct = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !ATTACHMENT_TYPES.contains(&ct.as_str()) {
            return Err(AppError::bad_input(
                Some("content_type".into()),
                format!(
                    "{ct:?} is not accepted; send one of {}",
                    ATTACHMENT_TYPES.join(", ")
                ),
            ));
        }
        if bytes.is_empty() {
            return Err(AppError::bad_input(
                Some("file".into()),
                "the file is empty",
            ));
        }
        if bytes.len() > MAX_ATTACHMENT {
            return Err(AppError::bad_input(
                Some("file".into()),
                format!(
                    "{} bytes is over the limit of {MAX_ATTACHMENT}",
                    bytes.len()
                ),
            ));
        }
        let looks = match ct.as_str() {
            "image/png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "image/jpeg" => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
            "application/pdf" => bytes.starts_with(b"%PDF-"),
            "application/zip" => bytes.starts_with(b"PK\x03\x04"),
            "application/json" => serde_json::from_slice::<Value>(bytes).is_ok(),
            _ => std::str::from_utf8(bytes).is_ok(),
        };
        if !looks {
            return Err(AppError::bad_input(
                Some("content_type".into()),
                format!("the file is not {ct}"),
            ));
        }
        let clean: String = name
            .chars()
            .filter(|c| !c.is_control() && *c != '/' && *c != '\\')
            .take(120)
            .collect();
        if clean.trim().is_empty() {
            return Err(AppError::bad_input(
                Some("name".into()),
                "the file needs a name",
            ));
        }
        let att = Attachment {
            id: crate::auth::new_id("att"),
            ticket_id: ticket.id.clone(),
            name: clean.clone(),
            content_type: ct,
            size: bytes.len() as i64,
            sha256: {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(bytes))
            },
            internal,
            at: self
                .now()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            actor: p.actor.clone(),
        };
        let folder = dir.join(&ticket.id);
        let path = folder.join(&att.id);
        let data = bytes.to_vec();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::create_dir_all(&folder)?;
            std::fs::write(&path, data)
        })
        .await
        .map_err(|e| AppError::Internal(format!("storing an attachment: {e}")))?
        .map_err(|e| AppError::Internal(format!("storing an attachment: {e}")))?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.insert_attachment(&att).await?;
        tx.append_ticket_events(&[event(
            &ticket,
            now,
            &p.actor,
            "attachment",
            internal,
            clean,
            json!({"id": att.id, "size": att.size}),
        )])
        .await?;
        tx.commit().await?;
        Ok(att)
    }

    /// An attachment's record and bytes, if `p` may see it.
    pub async fn attachment(
        &self,
        p: &Principal,
        ticket_id: &str,
        id: &str,
    ) -> Result<(Attachment, Vec<u8>)> {
        let t = self.tickets()?.clone();
        let _ = self.visible_ticket(p, ticket_id).await?;
        let att = self
            .store
            .attachments(ticket_id)
            .await?
            .into_iter()
            .find(|a| a.id == id && (staff(p) || !a.internal))
            .ok_or_else(|| AppError::not_found("attachment", id))?;
        let dir = t
            .attachments
            .clone()
            .ok_or_else(|| AppError::Unavailable("no attachments here".into()))?;
        let path = dir.join(ticket_id).join(id);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| AppError::Internal(format!("reading attachment {id}: {e}")))?;
        Ok((att, bytes))
    }

    /// SLA pass: warnings before a breach and, at a breach, escalation to the next
    /// tier (a resolution breach) with notes and notifications. Idempotent: each mark
    /// is recorded once per ticket.
    pub async fn tickets_pass(&self) -> Result<usize> {
        let t = self.tickets()?.clone();
        let now = self.now();
        let open = self
            .store
            .tickets(&TicketFilter {
                open_only: true,
                limit: 100_000,
                ..Default::default()
            })
            .await?;
        let tiers: std::collections::HashMap<String, cairn_domain::Tier> = self
            .store
            .all::<Merchant>(&OwnerFilter::Any)
            .await?
            .into_iter()
            .map(|m| (m.id.to_string(), m.tier))
            .collect();
        let mut changed = 0;
        for ticket in open {
            let tier = tiers
                .get(ticket.merchant_id.as_str())
                .copied()
                .unwrap_or(cairn_domain::Tier::Standard);
            let s = sla::status(
                &t.policy,
                ticket.priority,
                tier,
                ticket.created_at,
                ticket.first_response_at,
                ticket.resolved_at,
                &ticket.pauses,
                now,
            );
            let mut marks = Vec::new();
            for (clock, name) in [(&s.first_response, "fr"), (&s.resolution, "res")] {
                let mark = match clock.state {
                    sla::ClockState::Warning => format!("{name}-warning"),
                    sla::ClockState::Breached => format!("{name}-breach"),
                    _ => continue,
                };
                if !ticket.sla_marks.contains(&mark) {
                    marks.push((mark, name, clock.clone()));
                }
            }
            if marks.is_empty() {
                continue;
            }
            changed += 1;
            let mut tx = self.store.begin().await?;
            let Some(mut tk) = tx.ticket(&ticket.id).await? else {
                continue;
            };
            let mut events = Vec::new();
            let mut escalate = false;
            for (mark, name, clock) in marks {
                let what = if name == "fr" {
                    "first response"
                } else {
                    "resolution"
                };
                let breach = mark.ends_with("breach");
                tk.sla_marks.push(mark.clone());
                if breach {
                    // The warning is implied; record it so it never comes after.
                    let w = format!("{name}-warning");
                    if !tk.sla_marks.contains(&w) {
                        tk.sla_marks.push(w);
                    }
                }
                let body = format!(
                    "SLA {what} {}: {} of {} working minutes used",
                    if breach { "breached" } else { "at risk" },
                    clock.elapsed_minutes,
                    clock.target_minutes
                );
                events.push(event(&tk, now, "sla", if breach { "sla-breach" } else { "sla-warning" }, true, body.clone(), json!({"clock": name, "elapsed": clock.elapsed_minutes, "target": clock.target_minutes})));
                let to = tk.assignee.clone();
                match to {
                    Some(a) => {
                        tx.push_inbox(
                            &format!("user:{a}"),
                            now,
                            Some(&tk.id),
                            &format!("{}: {body}", tk.id),
                        )
                        .await?
                    }
                    None => {
                        self.notify_queue(&mut tx, &tk, &format!("{}: {body}", tk.id))
                            .await?
                    }
                }
                if breach {
                    escalate = true;
                }
            }
            if escalate {
                if let Some(next) = tk.tier.next() {
                    let from = tk.tier;
                    tk.tier = next;
                    tk.assignee = None;
                    if tk.status != TicketStatus::Escalated {
                        set_status(&mut tk, TicketStatus::Escalated, now);
                    }
                    events.push(event(
                        &tk,
                        now,
                        "sla",
                        "escalated",
                        true,
                        format!("{} → {}: SLA breached", from.as_str(), next.as_str()),
                        json!({"from": from, "to": next, "reason": "SLA breached"}),
                    ));
                    self.notify_queue(
                        &mut tx,
                        &tk,
                        &format!(
                            "Ticket {} escalated to {} after an SLA breach",
                            tk.id,
                            next.as_str()
                        ),
                    )
                    .await?;
                }
            }
            tk.updated_at = now;
            tx.update_ticket(&tk).await?;
            tx.append_ticket_events(&events).await?;
            tx.commit().await?;
            let _ = t.index.upsert_ticket(&doc(&tk));
        }
        if changed > 0 {
            let _ = t.index.commit();
        }
        Ok(changed)
    }

    /// Fills an empty search index from the store (at start, after a demo load, or
    /// when the index directory was removed); returns how many documents it indexed.
    pub async fn reindex_if_empty(&self) -> Result<usize> {
        let t = self.tickets()?.clone();
        if t.index.num_docs() > 0 {
            return Ok(0);
        }
        let tickets = self
            .store
            .tickets(&TicketFilter {
                limit: 100_000,
                ..Default::default()
            })
            .await?;
        let admin = Principal {
            actor: "reindex".into(),
            role: Role::Admin,
            merchant_id: None,
        };
        let articles = self.articles(&admin).await?;
        let n = tickets.len() + articles.len();
        tokio::task::spawn_blocking(
            move || -> std::result::Result<(), cairn_search::SearchError> {
                for tk in &tickets {
                    t.index.upsert_ticket(&doc(tk))?;
                }
                for a in &articles {
                    t.index.upsert_article(&kb::to_doc(a))?;
                }
                t.index.commit()
            },
        )
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(|e| AppError::Internal(format!("indexing: {e}")))?;
        Ok(n)
    }

    /// The SLA policy in force.
    pub fn sla_policy(&self) -> Result<Policy> {
        Ok(self.tickets()?.policy.clone())
    }

    /// A user's inbox, newest first; reading it marks it seen.
    pub async fn inbox(&self, p: &Principal) -> Result<Vec<cairn_store::tickets::InboxItem>> {
        let items = self.store.inbox(&p.actor, 200).await?;
        self.store.mark_inbox_seen(&p.actor).await?;
        Ok(items)
    }
}

/// Runs the SLA pass every `every` until `shutdown`.
pub async fn run(
    app: App,
    every: std::time::Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    if app.tickets().is_err() {
        return;
    }
    loop {
        if let Err(e) = app.tickets_pass().await {
            tracing::warn!(error = %e, "the ticket SLA pass failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}
