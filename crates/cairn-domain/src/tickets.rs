//! Tickets: the tiered support flow of the talk — technical support, then application
//! ops, then base product ops, then the developers — with statuses, priorities,
//! comments that are internal or visible to the merchant, links into the model, and
//! the rules of which status may follow which.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{DomainError, InstanceId, MerchantId, ServiceId, Timestamp};

/// The queues a ticket moves through, in escalation order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum TicketTier {
    /// Technical support, facing merchants.
    Support,
    /// Application ops, facing support.
    AppOps,
    /// Base product ops, facing application ops.
    BaseOps,
    /// The developers of the products.
    Developers,
}

impl TicketTier {
    pub const ALL: [TicketTier; 4] = [
        TicketTier::Support,
        TicketTier::AppOps,
        TicketTier::BaseOps,
        TicketTier::Developers,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketTier::Support => "support",
            TicketTier::AppOps => "app-ops",
            TicketTier::BaseOps => "base-ops",
            TicketTier::Developers => "developers",
        }
    }

    pub fn parse(s: &str) -> Option<TicketTier> {
        TicketTier::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The tier a ticket escalates to, if any.
    pub fn next(self) -> Option<TicketTier> {
        let i = TicketTier::ALL.iter().position(|t| *t == self)?;
        TicketTier::ALL.get(i + 1).copied()
    }

    /// The tier a ticket goes back to, if any.
    pub fn previous(self) -> Option<TicketTier> {
        let i = TicketTier::ALL.iter().position(|t| *t == self)?;
        i.checked_sub(1).map(|j| TicketTier::ALL[j])
    }
}

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TicketStatus {
    /// Filed, nobody has answered yet.
    New,
    /// Being worked on.
    Open,
    /// The ball is with the merchant; SLA clocks pause.
    WaitingOnMerchant,
    /// Handed to a higher tier.
    Escalated,
    /// Answered; the merchant may reopen it.
    Resolved,
    /// Done for good.
    Closed,
    /// Resolved, then opened again by the merchant or staff.
    Reopened,
}

impl TicketStatus {
    pub const ALL: [TicketStatus; 7] = [
        TicketStatus::New,
        TicketStatus::Open,
        TicketStatus::WaitingOnMerchant,
        TicketStatus::Escalated,
        TicketStatus::Resolved,
        TicketStatus::Closed,
        TicketStatus::Reopened,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::New => "new",
            TicketStatus::Open => "open",
            TicketStatus::WaitingOnMerchant => "waiting-on-merchant",
            TicketStatus::Escalated => "escalated",
            TicketStatus::Resolved => "resolved",
            TicketStatus::Closed => "closed",
            TicketStatus::Reopened => "reopened",
        }
    }

    pub fn parse(s: &str) -> Option<TicketStatus> {
        TicketStatus::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether work on the ticket is finished (its clocks stop).
    pub fn is_done(self) -> bool {
        matches!(self, TicketStatus::Resolved | TicketStatus::Closed)
    }

    /// Whether `to` may follow this status. Closed is final; resolved tickets may be
    /// reopened or closed; anything open may go anywhere but back to new.
    pub fn may_become(self, to: TicketStatus) -> bool {
        use TicketStatus::*;
        if self == to {
            return false;
        }
        match (self, to) {
            (Closed, _) => false,
            (_, New) => false,
            (Resolved, Reopened | Closed) => true,
            (Resolved, _) => false,
            (_, Reopened) => false,
            _ => true,
        }
    }
}

/// How urgent a ticket is: P1 (the shop is down) to P4 (a question).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::P1, Priority::P2, Priority::P3, Priority::P4];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P1 => "p1",
            Priority::P2 => "p2",
            Priority::P3 => "p3",
            Priority::P4 => "p4",
        }
    }

    pub fn parse(s: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// What a ticket is about in the model and the other loops.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketLinks {
    #[serde(default)]
    pub instances: Vec<InstanceId>,
    #[serde(default)]
    pub hosts: Vec<crate::HostId>,
    #[serde(default)]
    pub services: Vec<ServiceId>,
    /// Alert fingerprints.
    #[serde(default)]
    pub alerts: Vec<String>,
    /// Incident ids.
    #[serde(default)]
    pub incidents: Vec<String>,
}

impl TicketLinks {
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
            && self.hosts.is_empty()
            && self.services.is_empty()
            && self.alerts.is_empty()
            && self.incidents.is_empty()
    }
}

/// A ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Ticket {
    pub id: String,
    pub merchant_id: MerchantId,
    pub title: String,
    /// The merchant's description (Markdown).
    pub body: String,
    pub category: String,
    pub priority: Priority,
    pub tier: TicketTier,
    pub status: TicketStatus,
    /// The person working on it; none means the tier's queue.
    pub assignee: Option<String>,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub updated_at: Timestamp,
    /// When staff first answered where the merchant can see it.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>")]
    pub first_response_at: Option<Timestamp>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>")]
    pub resolved_at: Option<Timestamp>,
    pub links: TicketLinks,
    /// Minutes of handling recorded by staff.
    pub time_spent_minutes: u32,
    /// Intervals spent waiting on the merchant (the last may be open): SLA clocks
    /// pause over them.
    pub pauses: Vec<crate::sla::Pause>,
    /// SLA events already recorded, so each is recorded once: `fr-warning`,
    /// `fr-breach`, `res-warning`, `res-breach`.
    pub sla_marks: Vec<String>,
}

/// Longest title and body, in characters.
pub const MAX_TITLE: usize = 200;
pub const MAX_BODY: usize = 20_000;

/// Checks a new ticket's text fields.
pub fn validate_new(title: &str, body: &str, category: &str) -> Result<(), DomainError> {
    if title.trim().is_empty() {
        return Err(DomainError::invalid("title", "must not be empty"));
    }
    if title.chars().count() > MAX_TITLE {
        return Err(DomainError::invalid(
            "title",
            format!("must be at most {MAX_TITLE} characters"),
        ));
    }
    if body.chars().count() > MAX_BODY {
        return Err(DomainError::invalid(
            "body",
            format!("must be at most {MAX_BODY} characters"),
        ));
    }
    let ok = !category.is_empty()
        && category.len() <= 50
        && category
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        return Err(DomainError::invalid(
            "category",
            format!("must be lowercase letters, digits and '-', got {category:?}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_escalate_in_the_talks_order_and_back() {
        assert_eq!(TicketTier::Support.next(), Some(TicketTier::AppOps));
        assert_eq!(TicketTier::BaseOps.next(), Some(TicketTier::Developers));
        assert_eq!(TicketTier::Developers.next(), None);
        assert_eq!(TicketTier::Support.previous(), None);
        assert_eq!(TicketTier::Developers.previous(), Some(TicketTier::BaseOps));
    }

    #[test]
    fn closed_is_final_and_only_resolved_tickets_reopen() {
        use TicketStatus::*;
        assert!(New.may_become(Open));
        assert!(Open.may_become(WaitingOnMerchant));
        assert!(WaitingOnMerchant.may_become(Open));
        assert!(Open.may_become(Resolved));
        assert!(Resolved.may_become(Reopened));
        assert!(Reopened.may_become(Resolved));
        assert!(!Open.may_become(Reopened));
        assert!(!Resolved.may_become(Open));
        assert!(!Closed.may_become(Reopened));
        assert!(!Open.may_become(New));
        assert!(!Open.may_become(Open));
    }

    #[test]
    fn new_tickets_need_a_title_and_a_plain_category() {
        assert!(validate_new("RDS 连接数满了", "", "database").is_ok());
        assert_eq!(
            validate_new(" ", "x", "database").unwrap_err().field(),
            "title"
        );
        assert_eq!(
            validate_new("x", "x", "Data Base").unwrap_err().field(),
            "category"
        );
    }
}
