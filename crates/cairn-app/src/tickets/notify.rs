//! Who hears about a ticket: the per-user inbox (in the same transaction as the
//! change), and email through the alerting loop's SMTP settings — to the merchant's
//! contact address for replies it can see, to the assignee through the receiver named
//! after them (as on-call pages are), and every attempt in the notification log.

use cairn_alert::notify::{EmailMessage, Outcome};
use cairn_domain::tickets::Ticket;
use cairn_domain::{Merchant, Role};
use cairn_store::{DeliveryRow, OwnerFilter, Tx};

use super::tier_role;
use crate::{App, Result};

fn inbox_key(name: &str) -> String {
    format!("user:{name}")
}

impl App {
    /// The people of the ticket's tier (or its assignee).
    pub(crate) async fn notify_queue(&self, tx: &mut Tx<'_>, t: &Ticket, text: &str) -> Result<()> {
        if let Some(a) = &t.assignee {
            return tx
                .push_inbox(&inbox_key(a), self.now(), Some(&t.id), text)
                .await
                .map_err(Into::into);
        }
        let role = tier_role(t.tier);
        for u in self.store.users().await? {
            if u.role == role || u.role == Role::Admin && role == Role::Support {
                tx.push_inbox(&inbox_key(&u.name), self.now(), Some(&t.id), text)
                    .await?;
            }
        }
        Ok(())
    }

    /// Whoever works on the ticket: its assignee, else its tier's queue.
    pub(crate) async fn notify_workers(
        &self,
        tx: &mut Tx<'_>,
        t: &Ticket,
        text: &str,
    ) -> Result<()> {
        self.notify_queue(tx, t, text).await
    }

    /// The merchant's own users.
    pub(crate) async fn notify_merchant(
        &self,
        tx: &mut Tx<'_>,
        t: &Ticket,
        text: &str,
    ) -> Result<()> {
        for u in self.store.users().await? {
            if u.role == Role::Merchant && u.merchant_id.as_ref() == Some(&t.merchant_id) {
                tx.push_inbox(&inbox_key(&u.name), self.now(), Some(&t.id), text)
                    .await?;
            }
        }
        Ok(())
    }

    /// Emails an update: to the merchant's contact when staff wrote, to the assignee
    /// (through the receiver named after them) when the merchant wrote. Best effort:
    /// a missing address or SMTP setting is logged, never an error of the write.
    pub(crate) async fn email_ticket_update(&self, t: &Ticket, body: &str, from_merchant: bool) {
        let Ok(a) = self.alerting() else { return };
        let (global, to) = {
            let e = a.engine.lock().await;
            let global = e.config.global.notify.clone();
            let to: Vec<String> = if from_merchant {
                t.assignee
                    .as_ref()
                    .and_then(|u| e.config.receiver(u))
                    .map(|r| {
                        r.integrations
                            .iter()
                            .filter_map(|i| match i {
                                cairn_alert::notify::IntegrationConfig::Email(c) => {
                                    Some(c.to.clone())
                                }
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            (global, to)
        };
        let to = if from_merchant {
            to
        } else {
            match self
                .store
                .get::<Merchant>(t.merchant_id.as_str(), &OwnerFilter::Any)
                .await
            {
                Ok(Some(m)) => m.contact_email.into_iter().collect(),
                _ => Vec::new(),
            }
        };
        let (Some(smarthost), Some(from)) =
            (global.smtp_smarthost.clone(), global.smtp_from.clone())
        else {
            tracing::debug!(ticket = %t.id, "no SMTP settings in the alerting configuration; ticket email skipped");
            return;
        };
        if to.is_empty() {
            return;
        }
        let subject = format!("[{}] {}", t.id, t.title);
        let text = format!(
            "{body}\n\n— {} · status {} · {} tier\n{}/ui/tickets/{}\n",
            t.id,
            t.status.as_str(),
            t.tier.as_str(),
            a.options.external_url,
            t.id
        );
        let m = EmailMessage {
            smarthost,
            hello: global.smtp_hello.clone(),
            auth_username: global.smtp_auth_username.clone(),
            auth_password: global.smtp_auth_password.clone(),
            require_tls: global.smtp_require_tls.unwrap_or(true),
            from,
            to: to.clone(),
            headers: vec![("Subject".into(), subject)],
            text,
            html: None,
        };
        let outcome = crate::alerting::deliver::send_email(&m).await;
        let (label, detail) = match &outcome {
            Outcome::Delivered => ("delivered", String::new()),
            Outcome::Retry { reason } => ("retry", reason.clone()),
            Outcome::Fail { reason } => ("failed", reason.clone()),
        };
        let row = DeliveryRow {
            seq: 0,
            at: self
                .now()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            notification_id: format!("ticket-{}-{}", t.id, self.now().unix_timestamp()),
            receiver: to.join(", "),
            integration: "email".into(),
            group_key: format!("ticket/{}", t.id),
            status: t.status.as_str().to_owned(),
            alerts: 0,
            attempt: 1,
            outcome: label.into(),
            detail,
        };
        if let Err(e) = self.store.append_delivery(&row).await {
            tracing::warn!(error = %e, "cannot log a ticket email");
        }
    }
}
