//! Helpers for tests that need a store: a fresh SQLite file, or a fresh PostgreSQL
//! database when `CAIRN_TEST_POSTGRES_URL` names a server. Each call makes its own
//! database, so test runs never see each other's rows.

use crate::{Result, Store, StoreError};

/// The environment variable naming a PostgreSQL server for tests.
pub const POSTGRES_ENV: &str = "CAIRN_TEST_POSTGRES_URL";

/// A store on a new SQLite file inside `dir`.
pub async fn sqlite_in(dir: &std::path::Path) -> Result<Store> {
    Store::open(&Store::sqlite_url(&dir.join("cairn.db"))).await
}

/// The PostgreSQL server URL for tests, if one is configured.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_ENV).ok().filter(|s| !s.is_empty())
}

/// Creates a new, empty database on the server at `base_url` and returns its URL.
pub async fn fresh_postgres_database(base_url: &str) -> Result<String> {
    sqlx::any::install_default_drivers();
    let name = format!("cairn_test_{}_{}", std::process::id(), rand_suffix());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(base_url).await?;
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str()).await?;
    let (head, query) = match base_url.split_once('?') {
        Some((h, q)) => (h, format!("?{q}")),
        None => (base_url, String::new()),
    };
    let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match head[scheme_end..].find('/') {
        Some(slash) => &head[..scheme_end + slash],
        None => head,
    };
    if base.is_empty() {
        return Err(StoreError::Config(format!(
            "bad PostgreSQL URL {base_url:?}"
        )));
    }
    Ok(format!("{base}/{name}{query}"))
}

/// A store on a new PostgreSQL database.
pub async fn postgres(base_url: &str) -> Result<Store> {
    Store::open(&fresh_postgres_database(base_url).await?).await
}

fn rand_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:012x}", h.finish() & 0xffff_ffff_ffff)
}
