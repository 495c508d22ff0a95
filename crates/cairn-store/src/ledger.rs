//! The sales ledger: append-only rows of units sold and released per pool and day,
//! aggregated by day for the capacity loop. Days are stored as `YYYY-MM-DD` text, which
//! sorts and compares as dates on both databases.

use cairn_domain::capacity::date_format;
use cairn_domain::{DailyLedger, LedgerEntry, LedgerKind, LedgerSource, Timestamp};
use sqlx::any::AnyRow;
use sqlx::Row;
use time::Date;

use crate::sql::{bind, Arg};
use crate::{Result, Store, StoreError, Tx};

const COLUMNS: usize = 9;

fn rfc3339(t: Timestamp) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn day_of(row: &AnyRow, i: usize) -> Result<Date> {
    let s: String = row.try_get(i)?;
    date_format::parse(&s).map_err(|message| StoreError::Corrupt {
        kind: "ledger",
        message,
    })
}

/// One stored ledger row, with when and by whom it was recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LedgerRow {
    pub seq: i64,
    #[serde(flatten)]
    pub entry: LedgerEntry,
    pub recorded_at: String,
    pub actor: String,
}

impl Tx<'_> {
    /// Appends entries, many rows per statement.
    pub async fn append_ledger(
        &mut self,
        entries: &[LedgerEntry],
        at: Timestamp,
        actor: &str,
    ) -> Result<()> {
        let at = rfc3339(at);
        for chunk in entries.chunks(500) {
            let tuples = (0..chunk.len())
                .map(|r| {
                    let ps = (1..=COLUMNS)
                        .map(|c| format!("${}", r * COLUMNS + c))
                        .collect::<Vec<_>>()
                        .join(", ");
                    format!("({ps})")
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO ledger (pool_id, day, kind, units, merchant_id, instance_id, \
                 source, recorded_at, actor) VALUES {tuples}"
            );
            let mut args = Vec::with_capacity(chunk.len() * COLUMNS);
            for e in chunk {
                args.extend([
                    Arg::Text(Some(e.pool_id.to_string())),
                    Arg::Text(Some(date_format::format(e.day))),
                    Arg::Text(Some(e.kind.as_str().to_owned())),
                    Arg::Real(Some(e.units)),
                    Arg::Text(e.merchant_id.as_ref().map(|m| m.to_string())),
                    Arg::Text(e.instance_id.as_ref().map(|i| i.to_string())),
                    Arg::Text(Some(e.source.as_str().to_owned())),
                    Arg::Text(Some(at.clone())),
                    Arg::Text(Some(actor.to_owned())),
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
    /// Each pool's ledger by day, from `from` on (all days when `None`), ordered by pool
    /// and day. With `pool_id`, that pool's only.
    pub async fn ledger_daily(
        &self,
        pool_id: Option<&str>,
        from: Option<Date>,
    ) -> Result<Vec<(String, DailyLedger)>> {
        let mut conds = Vec::new();
        let mut args = Vec::new();
        if let Some(p) = pool_id {
            args.push(Arg::Text(Some(p.to_owned())));
            conds.push(format!("pool_id = ${}", args.len()));
        }
        if let Some(f) = from {
            args.push(Arg::Text(Some(date_format::format(f))));
            conds.push(format!("day >= ${}", args.len()));
        }
        let filter = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let sql = format!(
            "SELECT pool_id, day, \
             SUM(CASE WHEN kind = 'sale' THEN units ELSE 0.0 END), \
             SUM(CASE WHEN kind = 'release' THEN units ELSE 0.0 END) \
             FROM ledger{filter} GROUP BY pool_id, day ORDER BY pool_id, day"
        );
        let rows = bind(sqlx::query(&sql), &args)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>(0)?,
                    DailyLedger {
                        day: day_of(r, 1)?,
                        sold: r.try_get::<f64, _>(2)?,
                        released: r.try_get::<f64, _>(3)?,
                    },
                ))
            })
            .collect()
    }

    /// Net units sold (sales less releases) per pool, over days before `before` (all
    /// days when `None`).
    pub async fn ledger_net(&self, before: Option<Date>) -> Result<Vec<(String, f64)>> {
        let (filter, args) = match before {
            Some(d) => (
                " WHERE day < $1",
                vec![Arg::Text(Some(date_format::format(d)))],
            ),
            None => ("", Vec::new()),
        };
        let sql = format!(
            "SELECT pool_id, SUM(CASE WHEN kind = 'sale' THEN units ELSE -units END) \
             FROM ledger{filter} GROUP BY pool_id ORDER BY pool_id"
        );
        let rows = bind(sqlx::query(&sql), &args)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<f64, _>(1)?)))
            .collect()
    }

    /// A page of one pool's raw entries, newest first, before sequence `before_seq`.
    pub async fn ledger_entries(
        &self,
        pool_id: &str,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<LedgerRow>> {
        let mut args = vec![Arg::Text(Some(pool_id.to_owned()))];
        let mut cond = String::new();
        if let Some(s) = before_seq {
            args.push(Arg::Int(Some(s)));
            cond = " AND seq < $2".into();
        }
        let sql = format!(
            "SELECT seq, pool_id, day, kind, units, merchant_id, instance_id, source, \
             recorded_at, actor FROM ledger WHERE pool_id = $1{cond} ORDER BY seq DESC \
             LIMIT {}",
            limit.clamp(1, 10_000)
        );
        let rows = bind(sqlx::query(&sql), &args)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let corrupt = |message: String| StoreError::Corrupt {
                    kind: "ledger",
                    message,
                };
                let kind: String = r.try_get(3)?;
                let source: String = r.try_get(7)?;
                Ok(LedgerRow {
                    seq: r.try_get(0)?,
                    entry: LedgerEntry {
                        pool_id: r.try_get::<String, _>(1)?.into(),
                        day: day_of(r, 2)?,
                        kind: LedgerKind::parse(&kind)
                            .ok_or_else(|| corrupt(format!("unknown kind {kind:?}")))?,
                        units: r.try_get(4)?,
                        merchant_id: r.try_get::<Option<String>, _>(5)?.map(Into::into),
                        instance_id: r.try_get::<Option<String>, _>(6)?.map(Into::into),
                        source: LedgerSource::parse(&source)
                            .ok_or_else(|| corrupt(format!("unknown source {source:?}")))?,
                    },
                    recorded_at: r.try_get(8)?,
                    actor: r.try_get(9)?,
                })
            })
            .collect()
    }
}
