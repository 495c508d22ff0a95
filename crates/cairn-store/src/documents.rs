//! Documents, the alert history and the notification log.
//!
//! A document is a text value under a namespace and a key: the rule files as imported,
//! the alert routing configuration, on-call schedules, escalation policies and the
//! alerting engine's persisted state. They are read whole and replaced whole; the use
//! case layer parses and validates them. The history and the log are append-only rows
//! read newest first.

use cairn_domain::Timestamp;
use sqlx::Row;

use crate::sql::{bind, Arg};
use crate::{Result, Store};

fn rfc3339(t: Timestamp) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// One stored document.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Document {
    pub namespace: String,
    pub key: String,
    pub value: String,
    pub updated_at: String,
    pub updated_by: String,
}

/// One row of the alert history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HistoryRow {
    pub seq: i64,
    pub at: String,
    pub fingerprint: String,
    pub alertname: String,
    /// The alert's labels as a JSON object.
    pub labels: serde_json::Value,
    pub event: String,
    /// The event's details as JSON.
    pub detail: serde_json::Value,
}

/// A history row to append.
#[derive(Debug, Clone)]
pub struct NewHistory {
    pub at: Timestamp,
    pub fingerprint: String,
    pub alertname: String,
    pub labels: serde_json::Value,
    pub event: String,
    pub detail: serde_json::Value,
}

/// One delivery attempt of a notification.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeliveryRow {
    #[serde(default)]
    pub seq: i64,
    pub at: String,
    pub notification_id: String,
    pub receiver: String,
    pub integration: String,
    pub group_key: String,
    /// `firing` or `resolved`.
    pub status: String,
    pub alerts: i64,
    pub attempt: i64,
    /// `delivered`, `retry` or `failed`.
    pub outcome: String,
    pub detail: String,
}

/// Which history rows to read.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    pub fingerprint: Option<String>,
    pub alertname: Option<String>,
    pub before_seq: Option<i64>,
    pub limit: u32,
}

fn json(s: String) -> serde_json::Value {
    serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s))
}

impl Store {
    /// A document, if stored.
    pub async fn document(&self, namespace: &str, key: &str) -> Result<Option<Document>> {
        let row = sqlx::query(
            "SELECT namespace, key, value, updated_at, updated_by FROM documents \
             WHERE namespace = $1 AND key = $2",
        )
        .bind(namespace.to_owned())
        .bind(key.to_owned())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(Document {
                namespace: r.try_get(0)?,
                key: r.try_get(1)?,
                value: r.try_get(2)?,
                updated_at: r.try_get(3)?,
                updated_by: r.try_get(4)?,
            })
        })
        .transpose()
    }

    /// Every document of a namespace, by key.
    pub async fn documents(&self, namespace: &str) -> Result<Vec<Document>> {
        let rows = sqlx::query(
            "SELECT namespace, key, value, updated_at, updated_by FROM documents \
             WHERE namespace = $1 ORDER BY key",
        )
        .bind(namespace.to_owned())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Document {
                    namespace: r.try_get(0)?,
                    key: r.try_get(1)?,
                    value: r.try_get(2)?,
                    updated_at: r.try_get(3)?,
                    updated_by: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Stores a document, replacing any with the same namespace and key.
    pub async fn put_document(
        &self,
        namespace: &str,
        key: &str,
        value: &str,
        at: Timestamp,
        by: &str,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        tx.put_document(namespace, key, value, at, by).await?;
        tx.commit().await
    }

    /// Deletes a document; whether there was one.
    pub async fn delete_document(&self, namespace: &str, key: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = tx.delete_document(namespace, key).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Appends history rows.
    pub async fn append_history(&self, rows: &[NewHistory]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for chunk in rows.chunks(200) {
            let tuples = (0..chunk.len())
                .map(|r| {
                    let b = r * 6;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO alert_history (at, fingerprint, alertname, labels, event, detail) \
                 VALUES {tuples}"
            );
            let mut args = Vec::with_capacity(chunk.len() * 6);
            for h in chunk {
                args.extend([
                    Arg::Text(Some(rfc3339(h.at))),
                    Arg::Text(Some(h.fingerprint.clone())),
                    Arg::Text(Some(h.alertname.clone())),
                    Arg::Text(Some(h.labels.to_string())),
                    Arg::Text(Some(h.event.clone())),
                    Arg::Text(Some(h.detail.to_string())),
                ]);
            }
            bind(sqlx::query(&sql), &args).execute(tx.conn()).await?;
        }
        tx.commit().await
    }

    /// History rows, newest first.
    pub async fn history(&self, q: &HistoryQuery) -> Result<Vec<HistoryRow>> {
        let mut conds = Vec::new();
        let mut args = Vec::new();
        if let Some(f) = &q.fingerprint {
            args.push(Arg::Text(Some(f.clone())));
            conds.push(format!("fingerprint = ${}", args.len()));
        }
        if let Some(a) = &q.alertname {
            args.push(Arg::Text(Some(a.clone())));
            conds.push(format!("alertname = ${}", args.len()));
        }
        if let Some(s) = q.before_seq {
            args.push(Arg::Int(Some(s)));
            conds.push(format!("seq < ${}", args.len()));
        }
        let filter = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let sql = format!(
            "SELECT seq, at, fingerprint, alertname, labels, event, detail FROM alert_history\
             {filter} ORDER BY seq DESC LIMIT {}",
            q.limit.clamp(1, 10_000)
        );
        let rows = bind(sqlx::query(&sql), &args)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(HistoryRow {
                    seq: r.try_get(0)?,
                    at: r.try_get(1)?,
                    fingerprint: r.try_get(2)?,
                    alertname: r.try_get(3)?,
                    labels: json(r.try_get(4)?),
                    event: r.try_get(5)?,
                    detail: json(r.try_get(6)?),
                })
            })
            .collect()
    }

    /// Appends one delivery attempt.
    pub async fn append_delivery(&self, d: &DeliveryRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO notification_log (at, notification_id, receiver, integration, \
             group_key, status, alerts, attempt, outcome, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(d.at.clone())
        .bind(d.notification_id.clone())
        .bind(d.receiver.clone())
        .bind(d.integration.clone())
        .bind(d.group_key.clone())
        .bind(d.status.clone())
        .bind(d.alerts)
        .bind(d.attempt)
        .bind(d.outcome.clone())
        .bind(d.detail.clone())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Delivery attempts, newest first.
    pub async fn deliveries(
        &self,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryRow>> {
        let (cond, args) = match before_seq {
            Some(s) => (" WHERE seq < $1", vec![Arg::Int(Some(s))]),
            None => ("", Vec::new()),
        };
        let sql = format!(
            "SELECT seq, at, notification_id, receiver, integration, group_key, status, \
             alerts, attempt, outcome, detail FROM notification_log{cond} \
             ORDER BY seq DESC LIMIT {}",
            limit.clamp(1, 10_000)
        );
        let rows = bind(sqlx::query(&sql), &args)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryRow {
                    seq: r.try_get(0)?,
                    at: r.try_get(1)?,
                    notification_id: r.try_get(2)?,
                    receiver: r.try_get(3)?,
                    integration: r.try_get(4)?,
                    group_key: r.try_get(5)?,
                    status: r.try_get(6)?,
                    alerts: r.try_get(7)?,
                    attempt: r.try_get(8)?,
                    outcome: r.try_get(9)?,
                    detail: r.try_get(10)?,
                })
            })
            .collect()
    }
}

impl crate::Tx<'_> {
    /// Stores a document inside the transaction.
    pub async fn put_document(
        &mut self,
        namespace: &str,
        key: &str,
        value: &str,
        at: Timestamp,
        by: &str,
    ) -> Result<()> {
        sqlx::query("DELETE FROM documents WHERE namespace = $1 AND key = $2")
            .bind(namespace.to_owned())
            .bind(key.to_owned())
            .execute(&mut *self.tx)
            .await?;
        sqlx::query(
            "INSERT INTO documents (namespace, key, value, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(namespace.to_owned())
        .bind(key.to_owned())
        .bind(value.to_owned())
        .bind(rfc3339(at))
        .bind(by.to_owned())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Deletes a document inside the transaction; whether there was one.
    pub async fn delete_document(&mut self, namespace: &str, key: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM documents WHERE namespace = $1 AND key = $2")
            .bind(namespace.to_owned())
            .bind(key.to_owned())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
