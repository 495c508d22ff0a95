//! What the web UI's queues and ticket pages need beyond the API's shapes: tickets with
//! their SLA clocks now (a queue shows which ones are about to breach), and the
//! incidents that hurt a ticket's merchant (the ticket's context).

use std::collections::HashMap;

use cairn_domain::incidents::{IncidentStatus, Severity};
use cairn_domain::sla;
use cairn_domain::tickets::Ticket;
use cairn_domain::{Merchant, Principal, Tier, Timestamp};
use cairn_store::OwnerFilter;
use serde::Serialize;

use crate::{App, Result};

/// A ticket in a queue, with where its SLA clocks stand.
#[derive(Debug, Clone, Serialize)]
pub struct QueueItem {
    pub ticket: Ticket,
    pub sla: sla::Status,
}

/// An incident whose impact names a ticket's merchant.
#[derive(Debug, Clone, Serialize)]
pub struct ContextIncident {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub declared_at: Timestamp,
}

/// How far back a ticket's context looks for incidents.
pub const CONTEXT_INCIDENT_DAYS: i64 = 30;

impl App {
    /// Tickets `p` may see (the filters of [`App::list_tickets`]), each with its SLA
    /// clocks at this moment.
    pub async fn ticket_queue(
        &self,
        p: &Principal,
        params: &[(String, String)],
    ) -> Result<Vec<QueueItem>> {
        let tickets = self.list_tickets(p, params).await?;
        let policy = self.tickets()?.policy.clone();
        let now = self.now();
        let mut tiers: HashMap<String, Tier> = HashMap::new();
        let mut out = Vec::with_capacity(tickets.len());
        for t in tickets {
            let tier = match tiers.get(t.merchant_id.as_str()) {
                Some(tier) => *tier,
                None => {
                    let tier = self
                        .store
                        .get::<Merchant>(t.merchant_id.as_str(), &OwnerFilter::Any)
                        .await?
                        .map_or(Tier::Standard, |m| m.tier);
                    tiers.insert(t.merchant_id.to_string(), tier);
                    tier
                }
            };
            let sla = sla::status(
                &policy,
                t.priority,
                tier,
                t.created_at,
                t.first_response_at,
                t.resolved_at,
                &t.pauses,
                now,
            );
            out.push(QueueItem { ticket: t, sla });
        }
        Ok(out)
    }

    /// Incidents of the last [`CONTEXT_INCIDENT_DAYS`] days, or still open, whose
    /// impact names `merchant`, newest first.
    pub(crate) async fn incidents_hurting(&self, merchant: &str) -> Result<Vec<ContextIncident>> {
        let since = self.now() - time::Duration::days(CONTEXT_INCIDENT_DAYS);
        let mut out: Vec<ContextIncident> = self
            .store
            .incidents()
            .await?
            .into_iter()
            .filter(|i| i.impact.merchants.iter().any(|m| m == merchant))
            .filter(|i| i.status.is_open() || i.declared_at >= since)
            .map(|i| ContextIncident {
                id: i.id,
                title: i.title,
                severity: i.severity,
                status: i.status,
                declared_at: i.declared_at,
            })
            .collect();
        out.sort_by_key(|i| std::cmp::Reverse(i.declared_at));
        Ok(out)
    }
}
