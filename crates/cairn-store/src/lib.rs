//! cairn's storage: one [`Store`] over two databases.
//!
//! SQLite (embedded, WAL mode, in the data directory) is the default; a `postgres://`
//! URL selects PostgreSQL for when one machine is outgrown. Both are reached through
//! sqlx's `Any` driver with the same SQL (`$1` placeholders work in both), so they
//! behave the same by construction; each has its own migrations because their types
//! differ. A conformance suite (`tests/conformance.rs`) runs against both.
//!
//! API boundary: the store speaks the domain's entities and a few records of its own
//! (users, tokens, sessions, audit entries). It knows nothing of HTTP or roles: callers
//! pass an [`OwnerFilter`] that the use-case layer derived from the principal.
//!
//! Architecture invariant: every write of the model goes through a [`Tx`], which also
//! writes the audit entry, so a change and its audit record commit or fail together.

mod documents;
mod error;
pub mod incidents;
mod ledger;
mod migrate;
mod records;
mod sql;
pub mod testing;
pub mod tickets;

use std::sync::Arc;
use std::time::Duration;

use cairn_domain::{Entity, Kind, MerchantId};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use tokio::sync::{Mutex, MutexGuard};

pub use documents::{DeliveryRow, Document, HistoryQuery, HistoryRow, NewHistory};
pub use error::StoreError;
pub use ledger::LedgerRow;
pub use records::*;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Which owners' records a read may return; derived from the principal by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerFilter {
    Any,
    /// Only records whose owner column equals this merchant.
    Merchant(MerchantId),
    /// Records of this merchant and records with no owner.
    MerchantOrShared(MerchantId),
}

/// A page request for a list.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// Equality filters on columns the catalogue marks filterable.
    pub filters: Vec<(&'static str, String)>,
    pub owner: OwnerFilter,
    pub limit: u32,
    /// Return records with ids after this one.
    pub cursor: Option<String>,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            filters: Vec::new(),
            owner: OwnerFilter::Any,
            limit: 100,
            cursor: None,
        }
    }
}

/// One page of a list; `next_cursor` is set when more records follow.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Pool sizes, for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// The store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    max_connections: u32,
    /// SQLite allows one writer at a time; taking this lock before a write transaction
    /// makes writers queue in-process instead of failing with `SQLITE_BUSY` when two
    /// deferred transactions both try to upgrade to writing.
    write_lock: Option<Arc<Mutex<()>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Store {
    /// Opens the database at `url` (`sqlite://path` or `postgres://...`) and runs its
    /// migrations.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::Config(format!(
                "database URL must start with sqlite: or postgres://, got {:?}",
                redact(url)
            )));
        };
        let max_connections = match backend {
            Backend::Sqlite => 4,
            Backend::Postgres => 16,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Foreign keys are per connection in SQLite; WAL lets readers
                        // run beside the writer.
                        for pragma in [
                            "PRAGMA foreign_keys = ON",
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = NORMAL",
                            "PRAGMA busy_timeout = 10000",
                        ] {
                            sqlx::Executor::execute(&mut *conn, pragma).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        let store = Store {
            pool,
            backend,
            max_connections,
            write_lock: (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(()))),
        };
        migrate::run(&store).await?;
        Ok(store)
    }

    /// The SQLite URL for a database file, created if missing.
    pub fn sqlite_url(path: &std::path::Path) -> String {
        format!("sqlite://{}?mode=rwc", path.display())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection; called on shutdown after requests have finished.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.pool.size(),
            idle: self.pool.num_idle() as u32,
            max: self.max_connections,
        }
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<Tx<'_>> {
        let guard = match &self.write_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        let tx = self.pool.begin().await?;
        Ok(Tx { tx, _guard: guard })
    }

    /// One record by id, if it exists and passes `owner`.
    pub async fn get<E: Entity>(&self, id: &str, owner: &OwnerFilter) -> Result<Option<E>> {
        let (sql, args) = sql::select_one(E::KIND, id, owner);
        let row = sql::bind(sqlx::query(&sql), &args)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| sql::decode::<E>(&r)).transpose()
    }

    /// A page of records, ordered by id.
    pub async fn list<E: Entity>(&self, q: &ListQuery) -> Result<Page<E>> {
        let limit = q.limit.clamp(1, 10_000);
        let (sql, args) = sql::select_page(E::KIND, q, limit + 1);
        let rows = sql::bind(sqlx::query(&sql), &args)
            .fetch_all(&self.pool)
            .await?;
        let mut items = rows
            .iter()
            .map(sql::decode::<E>)
            .collect::<Result<Vec<E>>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|e| e.id().to_owned())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Every record of a kind that passes `owner`; for views that need the whole set
    /// (the topology graph, the overview).
    pub async fn all<E: Entity>(&self, owner: &OwnerFilter) -> Result<Vec<E>> {
        let q = ListQuery {
            owner: owner.clone(),
            limit: u32::MAX,
            ..ListQuery::default()
        };
        let (sql, args) = sql::select_page(E::KIND, &q, u32::MAX);
        let rows = sql::bind(sqlx::query(&sql), &args)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(sql::decode::<E>).collect()
    }

    /// How many records of a kind pass `owner`.
    pub async fn count(&self, kind: Kind, owner: &OwnerFilter) -> Result<u64> {
        let (sql, args) = sql::count(kind, owner);
        let row = sql::bind(sqlx::query(&sql), &args)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>(0)? as u64)
    }

    /// Whether a record of `kind` with `id` exists (regardless of owner).
    pub async fn exists(&self, kind: Kind, id: &str) -> Result<bool> {
        let sql = format!("SELECT 1 FROM {} WHERE id = $1", kind.table());
        let row = sqlx::query(&sql)
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Units of live (not released) instances per pool and merchant.
    pub async fn pool_merchant_units(&self) -> Result<Vec<(String, String, f64)>> {
        let rows = sqlx::query(
            "SELECT pool_id, merchant_id, SUM(units) FROM instances WHERE state <> 'released' \
             GROUP BY pool_id, merchant_id ORDER BY pool_id, merchant_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r: &AnyRow| {
                Ok((
                    r.try_get::<String, _>(0)?,
                    r.try_get::<String, _>(1)?,
                    r.try_get::<f64, _>(2)?,
                ))
            })
            .collect()
    }

    /// Units sold from each pool: the sum over its instances that are not released.
    pub async fn pool_usage(&self) -> Result<Vec<(String, f64)>> {
        let rows = sqlx::query(
            "SELECT pool_id, SUM(units) FROM instances WHERE state <> 'released' \
             GROUP BY pool_id ORDER BY pool_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r: &AnyRow| Ok((r.try_get::<String, _>(0)?, r.try_get::<f64, _>(1)?)))
            .collect()
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// A write transaction. Dropping it without [`Tx::commit`] rolls everything back.
pub struct Tx<'a> {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _guard: Option<MutexGuard<'a, ()>>,
}

impl Tx<'_> {
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Whether a record of `kind` with `id` exists (regardless of owner).
    pub async fn exists(&mut self, kind: Kind, id: &str) -> Result<bool> {
        let sql = format!("SELECT 1 FROM {} WHERE id = $1", kind.table());
        let row = sqlx::query(&sql)
            .bind(id.to_owned())
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.is_some())
    }

    /// One record by id, regardless of owner; writes check scope themselves.
    pub async fn get<E: Entity>(&mut self, id: &str) -> Result<Option<E>> {
        let (sql, args) = sql::select_one(E::KIND, id, &OwnerFilter::Any);
        let row = sql::bind(sqlx::query(&sql), &args)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| sql::decode::<E>(&r)).transpose()
    }

    /// Every record of a kind, within the transaction.
    pub async fn all<E: Entity>(&mut self) -> Result<Vec<E>> {
        let q = ListQuery {
            limit: u32::MAX,
            ..ListQuery::default()
        };
        let (sql, args) = sql::select_page(E::KIND, &q, u32::MAX);
        let rows = sql::bind(sqlx::query(&sql), &args)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(sql::decode::<E>).collect()
    }

    pub async fn insert<E: Entity>(&mut self, e: &E) -> Result<()> {
        self.insert_many(std::slice::from_ref(e)).await
    }

    /// Inserts many records of one kind with multi-row statements.
    pub async fn insert_many<E: Entity>(&mut self, items: &[E]) -> Result<()> {
        let cols = E::KIND.columns().len();
        // Stay well under both databases' limits on bound parameters per statement.
        // Rows per statement: enough to save round trips, few enough that each
        // statement stays small to prepare; the full chunk shape is cached and reused.
        let per_stmt = (30_000 / cols).clamp(1, 100);
        for chunk in items.chunks(per_stmt) {
            let values = chunk.iter().map(sql::encode).collect::<Result<Vec<_>>>()?;
            let sql = sql::insert(E::KIND, chunk.len());
            let args: Vec<sql::Arg> = values.into_iter().flatten().collect();
            sql::bind(sqlx::query(&sql), &args)
                .execute(&mut *self.tx)
                .await
                .map_err(|e| StoreError::from_write(e, E::KIND))?;
        }
        Ok(())
    }

    /// Replaces the record with the same id. Fails with `NotFound` if there is none.
    pub async fn update<E: Entity>(&mut self, e: &E) -> Result<()> {
        let args = sql::encode(e)?;
        let sql = sql::update(E::KIND);
        let done = sql::bind(sqlx::query(&sql), &args)
            .execute(&mut *self.tx)
            .await
            .map_err(|err| StoreError::from_write(err, E::KIND))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                kind: E::KIND,
                id: e.id().to_owned(),
            });
        }
        Ok(())
    }

    pub async fn delete(&mut self, kind: Kind, id: &str) -> Result<()> {
        // Name what still refers to the record, rather than let the foreign key fail
        // with a message that says nothing about which records.
        for (other, col) in kind.referenced_by() {
            let sql = format!(
                "SELECT COUNT(*) FROM {} WHERE {} = $1",
                other.table(),
                col.name
            );
            let n: i64 = sqlx::query(&sql)
                .bind(id.to_owned())
                .fetch_one(&mut *self.tx)
                .await?
                .try_get(0)?;
            if n > 0 {
                return Err(StoreError::Conflict(format!(
                    "{} {id:?} is still referenced by {n} {} (field {}); delete or move them first",
                    kind.singular(),
                    other.plural(),
                    col.name
                )));
            }
        }
        let sql = format!("DELETE FROM {} WHERE id = $1", kind.table());
        let done = sqlx::query(&sql)
            .bind(id.to_owned())
            .execute(&mut *self.tx)
            .await
            .map_err(|e| StoreError::from_write(e, kind))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                kind,
                id: id.to_owned(),
            });
        }
        Ok(())
    }

    pub(crate) fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

/// Hides a password in a database URL for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
