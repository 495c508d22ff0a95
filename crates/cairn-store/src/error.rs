//! The store's one error type.

use cairn_domain::Kind;
use sqlx::error::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no {} with id {id:?}", kind.singular())]
    NotFound { kind: Kind, id: String },
    /// A write collides with existing records (duplicate id, record still referenced).
    #[error("{0}")]
    Conflict(String),
    /// A stored value does not decode into the model; a bug or a hand-edited database.
    #[error("stored {kind} record is corrupt: {message}")]
    Corrupt { kind: &'static str, message: String },
    #[error("configuration: {0}")]
    Config(String),
    #[error("migration {version} failed: {source}")]
    Migration {
        version: i64,
        #[source]
        source: sqlx::Error,
    },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Turns constraint violations of a write into conflicts that say what collided.
    pub(crate) fn from_write(e: sqlx::Error, kind: Kind) -> StoreError {
        if let sqlx::Error::Database(db) = &e {
            match db.kind() {
                ErrorKind::UniqueViolation => {
                    return StoreError::Conflict(format!(
                        "a {} with the same id (or the same unique fields) already exists",
                        kind.singular()
                    ))
                }
                ErrorKind::ForeignKeyViolation => {
                    return StoreError::Conflict(format!(
                        "{} refers to a record that does not exist, or is referenced by one",
                        kind.singular()
                    ))
                }
                _ => {}
            }
        }
        StoreError::Database(e)
    }

    /// Whether the error means the database is unreachable rather than the request bad.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
            )
        )
    }
}
