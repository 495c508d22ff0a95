//! Records the store keeps beside the model: users, API tokens, web sessions and the
//! audit log. Secrets are never stored, only their hashes, which the caller computes.

use cairn_domain::{MerchantId, Role, Timestamp};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;
use time::format_description::well_known::Rfc3339;

use crate::{Page, Result, Store, StoreError, Tx};

pub(crate) fn fmt_ts(t: Timestamp) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

fn parse_ts(what: &'static str, s: &str) -> Result<Timestamp> {
    Timestamp::parse(s, &Rfc3339).map_err(|e| StoreError::Corrupt {
        kind: what,
        message: format!("bad timestamp {s:?}: {e}"),
    })
}

fn parse_role(what: &'static str, s: &str) -> Result<Role> {
    Role::parse(s).ok_or_else(|| StoreError::Corrupt {
        kind: what,
        message: format!("unknown role {s:?}"),
    })
}

/// A user who signs in to the web UI.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserRecord {
    pub id: String,
    pub name: String,
    #[serde(skip)]
    pub password_hash: String,
    pub role: Role,
    pub merchant_id: Option<MerchantId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
}

impl UserRecord {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(UserRecord {
            id: r.try_get(0)?,
            name: r.try_get(1)?,
            password_hash: r.try_get(2)?,
            role: parse_role("users", &r.try_get::<String, _>(3)?)?,
            merchant_id: r.try_get::<Option<String>, _>(4)?.map(MerchantId),
            created_at: parse_ts("users", &r.try_get::<String, _>(5)?)?,
        })
    }
}

const USER_COLS: &str = "id, name, password_hash, role, merchant_id, created_at";

/// An API token; `secret_hash` is the SHA-256 of the secret shown once at creation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenRecord {
    pub id: String,
    #[serde(skip)]
    pub secret_hash: String,
    pub name: String,
    pub role: Role,
    pub merchant_id: Option<MerchantId>,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
}

impl TokenRecord {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(TokenRecord {
            id: r.try_get(0)?,
            secret_hash: r.try_get(1)?,
            name: r.try_get(2)?,
            role: parse_role("tokens", &r.try_get::<String, _>(3)?)?,
            merchant_id: r.try_get::<Option<String>, _>(4)?.map(MerchantId),
            created_by: r.try_get(5)?,
            created_at: parse_ts("tokens", &r.try_get::<String, _>(6)?)?,
        })
    }
}

const TOKEN_COLS: &str = "id, secret_hash, name, role, merchant_id, created_by, created_at";

/// One write, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    pub actor: String,
    /// `create`, `update`, `delete`, `import`, `demo` or `token.create`, ...
    pub action: String,
    pub kind: String,
    pub record_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// An audit entry about to be written.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub at: Timestamp,
    pub actor: &'a str,
    pub action: &'a str,
    pub kind: &'a str,
    pub record_id: &'a str,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Which audit entries to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub kind: Option<String>,
    pub record_id: Option<String>,
    pub actor: Option<String>,
    pub limit: u32,
    /// Entries older than this sequence number.
    pub before_seq: Option<i64>,
}

fn json_text(v: &Option<serde_json::Value>) -> Option<String> {
    v.as_ref().map(|v| v.to_string())
}

fn parse_json(s: Option<String>) -> Result<Option<serde_json::Value>> {
    s.map(|s| {
        serde_json::from_str(&s).map_err(|e| StoreError::Corrupt {
            kind: "audit",
            message: e.to_string(),
        })
    })
    .transpose()
}

impl Tx<'_> {
    pub async fn insert_user(&mut self, u: &UserRecord) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO users ({USER_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .bind(u.id.clone())
        .bind(u.name.clone())
        .bind(u.password_hash.clone())
        .bind(u.role.as_str())
        .bind(u.merchant_id.as_ref().map(|m| m.to_string()))
        .bind(fmt_ts(u.created_at))
        .execute(self.conn())
        .await
        .map_err(|e| StoreError::from_user_write(e, &u.name))?;
        Ok(())
    }

    pub async fn insert_token(&mut self, t: &TokenRecord) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO tokens ({TOKEN_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(t.id.clone())
        .bind(t.secret_hash.clone())
        .bind(t.name.clone())
        .bind(t.role.as_str())
        .bind(t.merchant_id.as_ref().map(|m| m.to_string()))
        .bind(t.created_by.clone())
        .bind(fmt_ts(t.created_at))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Writes an audit entry inside the transaction of the change it records.
    pub async fn audit(&mut self, a: NewAudit<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit (at, actor, action, kind, record_id, before_json, after_json) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(fmt_ts(a.at))
        .bind(a.actor.to_owned())
        .bind(a.action.to_owned())
        .bind(a.kind.to_owned())
        .bind(a.record_id.to_owned())
        .bind(json_text(&a.before))
        .bind(json_text(&a.after))
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

impl StoreError {
    fn from_user_write(e: sqlx::Error, name: &str) -> StoreError {
        match StoreError::from_write(e, cairn_domain::Kind::Merchant) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("a user named {name:?} already exists"))
            }
            other => other,
        }
    }
}

impl Store {
    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<UserRecord>> {
        let rows = sqlx::query(&format!("SELECT {USER_COLS} FROM users ORDER BY name"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(UserRecord::from_row).collect()
    }

    pub async fn user_by_name(&self, name: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE name = $1"))
            .bind(name.to_owned())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(UserRecord::from_row).transpose()
    }

    pub async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLS} FROM tokens WHERE secret_hash = $1"
        ))
        .bind(secret_hash.to_owned())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(TokenRecord::from_row).transpose()
    }

    pub async fn count_tokens(&self) -> Result<u64> {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM tokens")
            .fetch_one(self.pool())
            .await?
            .try_get(0)?;
        Ok(n as u64)
    }

    pub async fn insert_session(
        &self,
        secret_hash: &str,
        user_id: &str,
        expires_at: Timestamp,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO sessions (secret_hash, user_id, expires_at) VALUES ($1, $2, $3)")
            .bind(secret_hash.to_owned())
            .bind(user_id.to_owned())
            .bind(fmt_ts(expires_at))
            .execute(tx.conn())
            .await?;
        tx.commit().await
    }

    /// The user of a live session; expired sessions count as none.
    pub async fn session_user(
        &self,
        secret_hash: &str,
        now: Timestamp,
    ) -> Result<Option<UserRecord>> {
        let cols = USER_COLS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let row = sqlx::query(&format!(
            "SELECT {cols}, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.secret_hash = $1"
        ))
        .bind(secret_hash.to_owned())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let expires = parse_ts("sessions", &row.try_get::<String, _>(6)?)?;
        if expires <= now {
            return Ok(None);
        }
        UserRecord::from_row(&row).map(Some)
    }

    pub async fn delete_session(&self, secret_hash: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM sessions WHERE secret_hash = $1")
            .bind(secret_hash.to_owned())
            .execute(tx.conn())
            .await?;
        tx.commit().await
    }

    pub async fn audit(&self, q: &AuditQuery) -> Result<Page<AuditEntry>> {
        let mut conds = Vec::new();
        let mut args = Vec::new();
        for (col, v) in [
            ("kind", &q.kind),
            ("record_id", &q.record_id),
            ("actor", &q.actor),
        ] {
            if let Some(v) = v {
                args.push(v.clone());
                conds.push(format!("{col} = ${}", args.len()));
            }
        }
        if let Some(s) = q.before_seq {
            conds.push(format!("seq < {s}"));
        }
        let limit = q.limit.clamp(1, 1000);
        let sql = format!(
            "SELECT seq, at, actor, action, kind, record_id, before_json, after_json FROM audit{} \
             ORDER BY seq DESC LIMIT {}",
            if conds.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", conds.join(" AND "))
            },
            limit + 1
        );
        let mut query = sqlx::query(&sql);
        for a in args {
            query = query.bind(a);
        }
        let rows = query.fetch_all(self.pool()).await?;
        let mut items = rows
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    seq: r.try_get(0)?,
                    at: parse_ts("audit", &r.try_get::<String, _>(1)?)?,
                    actor: r.try_get(2)?,
                    action: r.try_get(3)?,
                    kind: r.try_get(4)?,
                    record_id: r.try_get(5)?,
                    before: parse_json(r.try_get(6)?)?,
                    after: parse_json(r.try_get(7)?)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|e| e.seq.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}
