//! Schema migrations, one list per database, embedded in the binary and applied in
//! order at start. Applied versions are recorded in `cairn_migrations`.

use sqlx::Row;

use crate::{Backend, Result, Store, StoreError};

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "model",
        sql: include_str!("../migrations/sqlite/0001_model.sql"),
    },
    Migration {
        version: 2,
        name: "scrape_targets",
        sql: include_str!("../migrations/sqlite/0002_scrape_targets.sql"),
    },
    Migration {
        version: 3,
        name: "capacity",
        sql: include_str!("../migrations/sqlite/0003_capacity.sql"),
    },
    Migration {
        version: 4,
        name: "alerting",
        sql: include_str!("../migrations/sqlite/0004_alerting.sql"),
    },
    Migration {
        version: 5,
        name: "tickets",
        sql: include_str!("../migrations/sqlite/0005_tickets.sql"),
    },
    Migration {
        version: 6,
        name: "incidents",
        sql: include_str!("../migrations/sqlite/0006_incidents.sql"),
    },
];

const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "model",
        sql: include_str!("../migrations/postgres/0001_model.sql"),
    },
    Migration {
        version: 2,
        name: "scrape_targets",
        sql: include_str!("../migrations/postgres/0002_scrape_targets.sql"),
    },
    Migration {
        version: 3,
        name: "capacity",
        sql: include_str!("../migrations/postgres/0003_capacity.sql"),
    },
    Migration {
        version: 4,
        name: "alerting",
        sql: include_str!("../migrations/postgres/0004_alerting.sql"),
    },
    Migration {
        version: 5,
        name: "tickets",
        sql: include_str!("../migrations/postgres/0005_tickets.sql"),
    },
    Migration {
        version: 6,
        name: "incidents",
        sql: include_str!("../migrations/postgres/0006_incidents.sql"),
    },
];

pub(crate) async fn run(store: &Store) -> Result<()> {
    let list = match store.backend() {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    let pool = store.pool();
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS cairn_migrations \
         (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(pool)
    .await?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM cairn_migrations")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?;
    for m in list.iter().filter(|m| !applied.contains(&m.version)) {
        let mut tx = store.begin().await?;
        sqlx::raw_sql(m.sql)
            .execute(tx.conn())
            .await
            .map_err(|source| StoreError::Migration {
                version: m.version,
                source,
            })?;
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        sqlx::query("INSERT INTO cairn_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(m.version)
            .bind(m.name)
            .bind(now)
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    Ok(())
}
