//! Incidents and their timelines. An incident is stored whole as JSON beside the
//! columns lists filter on; the use-case layer owns its rules.

use cairn_domain::incidents::Incident;
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

/// One entry of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    #[serde(default)]
    pub seq: i64,
    pub incident_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    pub actor: String,
    /// `declared`, `status`, `severity`, `role`, `note`, `decision`, `update`,
    /// `alert-joined`, `alert-cleared`, `paged`, `acknowledged`, `impact`, `review`,
    /// `action`, `reminder`, `change`…
    pub kind: String,
    /// Staff only; merchant-facing updates are not internal.
    pub internal: bool,
    pub body: String,
    pub data: serde_json::Value,
}

impl Tx<'_> {
    pub async fn put_incident(&mut self, i: &Incident, insert: bool) -> Result<()> {
        let doc = serde_json::to_string(i).map_err(|e| corrupt("incidents", e))?;
        let sql = if insert {
            "INSERT INTO incidents (id, status, severity, declared_at, doc) VALUES ($1, $2, $3, $4, $5)"
        } else {
            "UPDATE incidents SET status = $2, severity = $3, declared_at = $4, doc = $5 WHERE id = $1"
        };
        sqlx::query(sql)
            .bind(i.id.clone())
            .bind(i.status.as_str().to_owned())
            .bind(i.severity.as_str().to_owned())
            .bind(rfc3339(i.declared_at))
            .bind(doc)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn incident(&mut self, id: &str) -> Result<Option<Incident>> {
        let row = sqlx::query("SELECT doc FROM incidents WHERE id = $1")
            .bind(id.to_owned())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| {
            let s: String = r.try_get(0)?;
            serde_json::from_str(&s).map_err(|e| corrupt("incidents", e))
        })
        .transpose()
    }

    pub async fn append_timeline(&mut self, entries: &[TimelineEntry]) -> Result<()> {
        for chunk in entries.chunks(200) {
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
                "INSERT INTO incident_timeline (incident_id, at, actor, kind, internal, body, data) \
                 VALUES {tuples}"
            );
            let mut args = Vec::with_capacity(chunk.len() * 7);
            for e in chunk {
                args.extend([
                    Arg::Text(Some(e.incident_id.clone())),
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
}

impl Store {
    pub async fn incident(&self, id: &str) -> Result<Option<Incident>> {
        let row = sqlx::query("SELECT doc FROM incidents WHERE id = $1")
            .bind(id.to_owned())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            let s: String = r.try_get(0)?;
            serde_json::from_str(&s).map_err(|e| corrupt("incidents", e))
        })
        .transpose()
    }

    /// Every incident, newest first.
    pub async fn incidents(&self) -> Result<Vec<Incident>> {
        let rows = sqlx::query("SELECT doc FROM incidents ORDER BY declared_at DESC, id DESC")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let s: String = r.try_get(0)?;
                serde_json::from_str(&s).map_err(|e| corrupt("incidents", e))
            })
            .collect()
    }

    /// An incident's timeline, oldest first; without `internal`, the public entries.
    pub async fn timeline(&self, incident_id: &str, internal: bool) -> Result<Vec<TimelineEntry>> {
        let cond = if internal { "" } else { " AND internal = 0" };
        let sql = format!(
            "SELECT seq, incident_id, at, actor, kind, internal, body, data FROM incident_timeline \
             WHERE incident_id = $1{cond} ORDER BY at, seq"
        );
        let rows = sqlx::query(&sql)
            .bind(incident_id.to_owned())
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let at: String = r.try_get(2)?;
                let data: String = r.try_get(7)?;
                Ok(TimelineEntry {
                    seq: r.try_get(0)?,
                    incident_id: r.try_get(1)?,
                    at: time::OffsetDateTime::parse(
                        &at,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .map_err(|e| corrupt("incident_timeline", e))?,
                    actor: r.try_get(3)?,
                    kind: r.try_get(4)?,
                    internal: r.try_get::<i64, _>(5)? != 0,
                    body: r.try_get(6)?,
                    data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }
}
