//! Tickets, their events and attachments, knowledge-base articles with their versions,
//! deflections and the per-user inbox. Tickets and articles are stored whole as JSON
//! beside the columns that lists filter on; the use-case layer owns their rules.

use cairn_domain::tickets::Ticket;
use cairn_domain::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::sql::{bind, Arg};
use crate::{Result, Store, StoreError, Tx};

fn rfc3339(t: Timestamp) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn corrupt(what: &'static str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        kind: what,
        message: e.to_string(),
    }
}

/// Which tickets to list.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub merchant_id: Option<String>,
    pub status: Option<String>,
    pub tier: Option<String>,
    pub assignee: Option<String>,
    pub category: Option<String>,
    pub priority: Option<String>,
    /// Only tickets that are not resolved or closed.
    pub open_only: bool,
    /// Tickets created before this one (newest first paging).
    pub before: Option<(String, String)>,
    pub limit: u32,
}

/// One event of a ticket's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEvent {
    #[serde(default)]
    pub seq: i64,
    pub ticket_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    pub actor: String,
    /// `created`, `comment`, `status`, `escalated`, `de-escalated`, `assigned`,
    /// `attachment`, `sla-warning`, `sla-breach`, `linked`, `time`, …
    pub kind: String,
    /// Whether only staff may see it.
    pub internal: bool,
    pub body: String,
    pub data: serde_json::Value,
}

/// A stored attachment's record; the bytes live in the data directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: String,
    pub ticket_id: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub internal: bool,
    pub at: String,
    pub actor: String,
}

/// An article to store: the columns lists filter on, and the whole document.
#[derive(Debug, Clone)]
pub struct ArticleRow<'a> {
    pub id: &'a str,
    pub audience: &'a str,
    pub status: &'a str,
    pub category: &'a str,
    pub version: i64,
    pub at: Timestamp,
    pub author: &'a str,
    pub doc: &'a serde_json::Value,
    /// A new article (insert) or a new version of one (update).
    pub insert: bool,
}

/// One message of a user's inbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboxItem {
    pub seq: i64,
    pub user: String,
    pub at: String,
    pub ticket_id: Option<String>,
    pub text: String,
    pub seen: bool,
}

fn ticket_args(t: &Ticket) -> Result<Vec<Arg>> {
    let doc = serde_json::to_string(t).map_err(|e| corrupt("tickets", e))?;
    Ok(vec![
        Arg::Text(Some(t.id.clone())),
        Arg::Text(Some(t.merchant_id.to_string())),
        Arg::Text(Some(t.status.as_str().to_owned())),
        Arg::Text(Some(t.tier.as_str().to_owned())),
        Arg::Text(Some(t.priority.as_str().to_owned())),
        Arg::Text(Some(t.category.clone())),
        Arg::Text(t.assignee.clone()),
        Arg::Text(Some(rfc3339(t.created_at))),
        Arg::Text(Some(rfc3339(t.updated_at))),
        Arg::Text(Some(doc)),
    ])
}

fn decode_ticket(doc: String) -> Result<Ticket> {
    serde_json::from_str(&doc).map_err(|e| corrupt("tickets", e))
}

impl Tx<'_> {
    pub async fn insert_tickets(&mut self, tickets: &[Ticket]) -> Result<()> {
        for chunk in tickets.chunks(200) {
            let tuples = (0..chunk.len())
                .map(|r| {
                    let ps = (1..=10)
                        .map(|c| format!("${}", r * 10 + c))
                        .collect::<Vec<_>>()
                        .join(", ");
                    format!("({ps})")
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO tickets (id, merchant_id, status, tier, priority, category, \
                 assignee, created_at, updated_at, doc) VALUES {tuples}"
            );
            let mut args = Vec::with_capacity(chunk.len() * 10);
            for t in chunk {
                args.extend(ticket_args(t)?);
            }
            bind(sqlx::query(&sql), &args)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    pub async fn update_ticket(&mut self, t: &Ticket) -> Result<()> {
        let args = ticket_args(t)?;
        bind(
            sqlx::query(
                "UPDATE tickets SET merchant_id = $2, status = $3, tier = $4, priority = $5, \
                 category = $6, assignee = $7, created_at = $8, updated_at = $9, doc = $10 \
                 WHERE id = $1",
            ),
            &args,
        )
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The ticket, read inside the transaction (for read-modify-write).
    pub async fn ticket(&mut self, id: &str) -> Result<Option<Ticket>> {
        let row = sqlx::query("SELECT doc FROM tickets WHERE id = $1")
            .bind(id.to_owned())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| decode_ticket(r.try_get(0)?)).transpose()
    }

    pub async fn append_ticket_events(&mut self, events: &[TicketEvent]) -> Result<()> {
        for chunk in events.chunks(200) {
            let tuples = (0..chunk.len())
                .map(|r| {
                    let ps = (1..=7)
                        .map(|c| format!("${}", r * 7 + c))
                        .collect::<Vec<_>>()
                        .join(", ");
                    format!("({ps})")
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO ticket_events (ticket_id, at, actor, kind, internal, body, data) \
                 VALUES {tuples}"
            );
            let mut args = Vec::with_capacity(chunk.len() * 7);
            for e in chunk {
                args.extend([
                    Arg::Text(Some(e.ticket_id.clone())),
                    Arg::Text(Some(rfc3339(e.at))),
                    Arg::Text(Some(e.actor.clone())),
                    Arg::Text(Some(e.kind.clone())),
                    Arg::Int(Some(i64::from(e.internal))),
                    Arg::Text(Some(e.body.clone())),
                    Arg::Text(Some(e.data.to_string())),
                ]);
            }
            bind(sqlx::query(&sql), &args)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    pub async fn insert_attachment(&mut self, a: &Attachment) -> Result<()> {
        sqlx::query(
            "INSERT INTO ticket_attachments (id, ticket_id, name, content_type, size, sha256, \
             internal, at, actor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(a.id.clone())
        .bind(a.ticket_id.clone())
        .bind(a.name.clone())
        .bind(a.content_type.clone())
        .bind(a.size)
        .bind(a.sha256.clone())
        .bind(i64::from(a.internal))
        .bind(a.at.clone())
        .bind(a.actor.clone())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Stores an article and appends its version.
    pub async fn put_article(&mut self, a: &ArticleRow<'_>) -> Result<()> {
        let text = a.doc.to_string();
        let sql = if a.insert {
            "INSERT INTO articles (id, audience, status, category, updated_at, doc) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        } else {
            "UPDATE articles SET audience = $2, status = $3, category = $4, updated_at = $5, \
             doc = $6 WHERE id = $1"
        };
        sqlx::query(sql)
            .bind(a.id.to_owned())
            .bind(a.audience.to_owned())
            .bind(a.status.to_owned())
            .bind(a.category.to_owned())
            .bind(rfc3339(a.at))
            .bind(text.clone())
            .execute(&mut *self.tx)
            .await?;
        sqlx::query(
            "INSERT INTO article_versions (article_id, version, at, author, doc) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(a.id.to_owned())
        .bind(a.version)
        .bind(rfc3339(a.at))
        .bind(a.author.to_owned())
        .bind(text)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn article_doc(&mut self, id: &str) -> Result<Option<serde_json::Value>> {
        let row = sqlx::query("SELECT doc FROM articles WHERE id = $1")
            .bind(id.to_owned())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| {
            let s: String = r.try_get(0)?;
            serde_json::from_str(&s).map_err(|e| corrupt("articles", e))
        })
        .transpose()
    }

    pub async fn push_inbox(
        &mut self,
        user: &str,
        at: Timestamp,
        ticket_id: Option<&str>,
        text: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO inbox (user_name, at, ticket_id, text, seen) VALUES ($1, $2, $3, $4, 0)",
        )
        .bind(user.to_owned())
        .bind(rfc3339(at))
        .bind(ticket_id.map(str::to_owned))
        .bind(text.to_owned())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

impl Store {
    pub async fn ticket(&self, id: &str) -> Result<Option<Ticket>> {
        let row = sqlx::query("SELECT doc FROM tickets WHERE id = $1")
            .bind(id.to_owned())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| decode_ticket(r.try_get(0)?)).transpose()
    }

    /// Tickets matching the filter, newest first.
    pub async fn tickets(&self, f: &TicketFilter) -> Result<Vec<Ticket>> {
        let mut conds = Vec::new();
        let mut args = Vec::new();
        for (col, v) in [
            ("merchant_id", &f.merchant_id),
            ("status", &f.status),
            ("tier", &f.tier),
            ("assignee", &f.assignee),
            ("category", &f.category),
            ("priority", &f.priority),
        ] {
            if let Some(v) = v {
                args.push(Arg::Text(Some(v.clone())));
                conds.push(format!("{col} = ${}", args.len()));
            }
        }
        if f.open_only {
            conds.push("status NOT IN ('resolved', 'closed')".into());
        }
        if let Some((created, id)) = &f.before {
            args.push(Arg::Text(Some(created.clone())));
            let a = args.len();
            args.push(Arg::Text(Some(id.clone())));
            let b = args.len();
            conds.push(format!(
                "(created_at < ${a} OR (created_at = ${a} AND id < ${b}))"
            ));
        }
        let filter = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let sql = format!(
            "SELECT doc FROM tickets{filter} ORDER BY created_at DESC, id DESC LIMIT {}",
            f.limit.clamp(1, 100_000)
        );
        let rows = bind(sqlx::query(&sql), &args)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter()
            .map(|r| decode_ticket(r.try_get(0)?))
            .collect()
    }

    /// A ticket's events, oldest first; without `internal`, the merchant-visible ones.
    pub async fn ticket_events(&self, ticket_id: &str, internal: bool) -> Result<Vec<TicketEvent>> {
        let cond = if internal { "" } else { " AND internal = 0" };
        let sql = format!(
            "SELECT seq, ticket_id, at, actor, kind, internal, body, data FROM ticket_events \
             WHERE ticket_id = $1{cond} ORDER BY seq"
        );
        let rows = sqlx::query(&sql)
            .bind(ticket_id.to_owned())
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let at: String = r.try_get(2)?;
                let data: String = r.try_get(7)?;
                Ok(TicketEvent {
                    seq: r.try_get(0)?,
                    ticket_id: r.try_get(1)?,
                    at: time::OffsetDateTime::parse(
                        &at,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .map_err(|e| corrupt("ticket_events", e))?,
                    actor: r.try_get(3)?,
                    kind: r.try_get(4)?,
                    internal: r.try_get::<i64, _>(5)? != 0,
                    body: r.try_get(6)?,
                    data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }

    pub async fn attachments(&self, ticket_id: &str) -> Result<Vec<Attachment>> {
        let rows = sqlx::query(
            "SELECT id, ticket_id, name, content_type, size, sha256, internal, at, actor \
             FROM ticket_attachments WHERE ticket_id = $1 ORDER BY at, id",
        )
        .bind(ticket_id.to_owned())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Attachment {
                    id: r.try_get(0)?,
                    ticket_id: r.try_get(1)?,
                    name: r.try_get(2)?,
                    content_type: r.try_get(3)?,
                    size: r.try_get(4)?,
                    sha256: r.try_get(5)?,
                    internal: r.try_get::<i64, _>(6)? != 0,
                    at: r.try_get(7)?,
                    actor: r.try_get(8)?,
                })
            })
            .collect()
    }

    /// Articles (whole JSON documents), by audience when given.
    pub async fn articles(&self, audience: Option<&str>) -> Result<Vec<serde_json::Value>> {
        let rows = match audience {
            Some(a) => {
                sqlx::query("SELECT doc FROM articles WHERE audience = $1 ORDER BY id")
                    .bind(a.to_owned())
                    .fetch_all(self.pool())
                    .await?
            }
            None => {
                sqlx::query("SELECT doc FROM articles ORDER BY id")
                    .fetch_all(self.pool())
                    .await?
            }
        };
        rows.iter()
            .map(|r| {
                let s: String = r.try_get(0)?;
                serde_json::from_str(&s).map_err(|e| corrupt("articles", e))
            })
            .collect()
    }

    pub async fn article(&self, id: &str) -> Result<Option<serde_json::Value>> {
        let row = sqlx::query("SELECT doc FROM articles WHERE id = $1")
            .bind(id.to_owned())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            let s: String = r.try_get(0)?;
            serde_json::from_str(&s).map_err(|e| corrupt("articles", e))
        })
        .transpose()
    }

    /// An article's versions, newest first.
    pub async fn article_versions(&self, id: &str) -> Result<Vec<serde_json::Value>> {
        let rows = sqlx::query(
            "SELECT doc FROM article_versions WHERE article_id = $1 ORDER BY version DESC",
        )
        .bind(id.to_owned())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let s: String = r.try_get(0)?;
                serde_json::from_str(&s).map_err(|e| corrupt("article_versions", e))
            })
            .collect()
    }

    pub async fn record_deflection(
        &self,
        at: Timestamp,
        merchant_id: &str,
        article_id: Option<&str>,
        draft: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO deflections (at, merchant_id, article_id, draft) VALUES ($1, $2, $3, $4)",
        )
        .bind(rfc3339(at))
        .bind(merchant_id.to_owned())
        .bind(article_id.map(str::to_owned))
        .bind(draft.to_owned())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Deflection times (RFC 3339), for the numbers.
    pub async fn deflection_times(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT at FROM deflections ORDER BY seq")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    pub async fn inbox(&self, user: &str, limit: u32) -> Result<Vec<InboxItem>> {
        let sql = format!(
            "SELECT seq, user_name, at, ticket_id, text, seen FROM inbox WHERE user_name = $1 \
             ORDER BY seq DESC LIMIT {}",
            limit.clamp(1, 1000)
        );
        let rows = sqlx::query(&sql)
            .bind(user.to_owned())
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(InboxItem {
                    seq: r.try_get(0)?,
                    user: r.try_get(1)?,
                    at: r.try_get(2)?,
                    ticket_id: r.try_get(3)?,
                    text: r.try_get(4)?,
                    seen: r.try_get::<i64, _>(5)? != 0,
                })
            })
            .collect()
    }

    pub async fn mark_inbox_seen(&self, user: &str) -> Result<()> {
        sqlx::query("UPDATE inbox SET seen = 1 WHERE user_name = $1")
            .bind(user.to_owned())
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
