//! Who is calling: users with argon2-hashed passwords, API tokens stored as SHA-256
//! hashes of high-entropy secrets (shown once), and web sessions.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use cairn_domain::{Kind, MerchantId, Principal, Role};
use cairn_store::{NewAudit, TokenRecord, Tx, UserRecord};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{App, AppError, Result};

/// How long a web session lasts.
pub const SESSION_HOURS: i64 = 12;

/// A new random secret: 32 bytes from the OS generator, hex-encoded, with a prefix
/// that makes leaked tokens easy to grep for.
pub fn new_secret(prefix: &str) -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("{prefix}_{}", hex::encode(b))
}

/// A short random id suffix.
pub fn new_id(prefix: &str) -> String {
    let mut b = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("{prefix}-{}", hex::encode(b))
}

/// Tokens are random and long, so a fast hash is enough to store them safely.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::bad_input(Some("password".into()), e.to_string()))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// What a new token or user may be: a role, bound to a merchant exactly when the role
/// is `merchant`.
fn check_binding(role: Role, merchant_id: &Option<MerchantId>) -> Result<()> {
    match (role, merchant_id) {
        (Role::Merchant, None) => Err(AppError::bad_input(
            Some("merchant_id".into()),
            "is required for role merchant",
        )),
        (r, Some(_)) if r != Role::Merchant => Err(AppError::bad_input(
            Some("merchant_id".into()),
            format!("must be absent for role {r}"),
        )),
        _ => Ok(()),
    }
}

/// Fails with a dangling reference when `merchant_id` names no merchant.
async fn require_merchant(tx: &mut Tx<'_>, merchant_id: &Option<MerchantId>) -> Result<()> {
    if let Some(m) = merchant_id {
        if !tx.exists(Kind::Merchant, m.as_str()).await? {
            return Err(cairn_domain::DomainError::DanglingReference {
                field: "merchant_id".into(),
                kind: "merchant",
                id: m.to_string(),
            }
            .into());
        }
    }
    Ok(())
}

/// Records the creation of an access-control record in the audit log.
async fn audit_created(
    tx: &mut Tx<'_>,
    at: cairn_domain::Timestamp,
    actor: &str,
    kind: &str,
    id: &str,
    record: &impl serde::Serialize,
) -> Result<()> {
    tx.audit(NewAudit {
        at,
        actor,
        action: "create",
        kind,
        record_id: id,
        before: None,
        after: Some(serde_json::to_value(record).unwrap_or_default()),
    })
    .await?;
    Ok(())
}

/// The outcome of bootstrapping an empty store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// Tokens already exist; nothing was done.
    AlreadyDone,
    /// The given secret was installed as the admin token.
    FromEnvironment,
    /// A secret was generated; it must be shown once.
    Generated(String),
}

impl App {
    /// On a store with no tokens, installs an admin token: `secret` if given, else a
    /// generated one that the caller shows once.
    pub async fn bootstrap(&self, secret: Option<&str>) -> Result<Bootstrap> {
        if self.store.count_tokens().await? > 0 {
            return Ok(Bootstrap::AlreadyDone);
        }
        let (secret, outcome) = match secret {
            Some(s) if s.len() >= 16 => (s.to_owned(), Bootstrap::FromEnvironment),
            Some(_) => {
                return Err(AppError::bad_input(
                    Some("CAIRN_BOOTSTRAP_TOKEN".into()),
                    "must be at least 16 characters",
                ))
            }
            None => {
                let s = new_secret("cairn");
                (s.clone(), Bootstrap::Generated(s))
            }
        };
        let record = TokenRecord {
            id: new_id("tok"),
            secret_hash: hash_secret(&secret),
            name: "bootstrap admin".into(),
            role: Role::Admin,
            merchant_id: None,
            created_by: "bootstrap".into(),
            created_at: self.now(),
        };
        // The web UI's first user: `admin`, whose password is the same secret, so
        // whoever holds the admin token can also sign in to the UI.
        let admin = UserRecord {
            id: new_id("u"),
            name: "admin".into(),
            password_hash: hash_password(&secret)?,
            role: Role::Admin,
            merchant_id: None,
            created_at: self.now(),
        };
        let mut tx = self.store.begin().await?;
        tx.insert_token(&record).await?;
        if self.store.user_by_name("admin").await?.is_none() {
            tx.insert_user(&admin).await?;
        }
        audit_created(
            &mut tx,
            self.now(),
            "bootstrap",
            "tokens",
            &record.id,
            &record,
        )
        .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// The principal of an API token secret.
    pub async fn authenticate_token(&self, secret: &str) -> Result<Principal> {
        let token = self
            .store
            .token_by_hash(&hash_secret(secret))
            .await?
            .ok_or_else(|| AppError::Unauthenticated("the API token is not valid".into()))?;
        Ok(Principal {
            actor: format!("token:{}", token.id),
            role: token.role,
            merchant_id: token.merchant_id,
        })
    }

    /// Creates an API token (admins only) and returns the record and its secret, which
    /// is never shown again.
    pub async fn create_token(
        &self,
        by: &Principal,
        name: Option<String>,
        role: Role,
        merchant_id: Option<MerchantId>,
    ) -> Result<(TokenRecord, String)> {
        if !by.is_admin() {
            return Err(AppError::Forbidden(
                "only an admin may create tokens".into(),
            ));
        }
        check_binding(role, &merchant_id)?;
        let mut tx = self.store.begin().await?;
        require_merchant(&mut tx, &merchant_id).await?;
        let secret = new_secret("cairn");
        let record = TokenRecord {
            id: new_id("tok"),
            secret_hash: hash_secret(&secret),
            name: name.unwrap_or_else(|| format!("{role} token")),
            role,
            merchant_id,
            created_by: by.actor.clone(),
            created_at: self.now(),
        };
        tx.insert_token(&record).await?;
        audit_created(
            &mut tx,
            self.now(),
            &by.actor,
            "tokens",
            &record.id,
            &record,
        )
        .await?;
        tx.commit().await?;
        Ok((record, secret))
    }

    /// Creates a user who signs in to the web UI (admins only).
    pub async fn create_user(
        &self,
        by: &Principal,
        name: &str,
        password: &str,
        role: Role,
        merchant_id: Option<MerchantId>,
    ) -> Result<UserRecord> {
        if !by.is_admin() {
            return Err(AppError::Forbidden("only an admin may create users".into()));
        }
        cairn_domain::id::validate_id("name", name)?;
        if password.chars().count() < 8 {
            return Err(AppError::bad_input(
                Some("password".into()),
                "must be at least 8 characters",
            ));
        }
        check_binding(role, &merchant_id)?;
        let user = UserRecord {
            id: new_id("u"),
            name: name.to_owned(),
            password_hash: hash_password(password)?,
            role,
            merchant_id,
            created_at: self.now(),
        };
        let mut tx = self.store.begin().await?;
        require_merchant(&mut tx, &user.merchant_id).await?;
        tx.insert_user(&user).await?;
        audit_created(&mut tx, self.now(), &by.actor, "users", &user.id, &user).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Checks a user's password and opens a session; returns the session secret.
    pub async fn login(&self, name: &str, password: &str) -> Result<String> {
        let wrong = || AppError::Unauthenticated("unknown user or wrong password".into());
        let user = self.store.user_by_name(name).await?.ok_or_else(wrong)?;
        if !verify_password(password, &user.password_hash) {
            return Err(wrong());
        }
        let secret = new_secret("sess");
        let expires = self.now() + time::Duration::hours(SESSION_HOURS);
        self.store
            .insert_session(&hash_secret(&secret), &user.id, expires)
            .await?;
        Ok(secret)
    }

    pub async fn logout(&self, session_secret: &str) -> Result<()> {
        Ok(self
            .store
            .delete_session(&hash_secret(session_secret))
            .await?)
    }

    /// The principal of a live web session.
    pub async fn authenticate_session(&self, secret: &str) -> Result<Principal> {
        let user = self
            .store
            .session_user(&hash_secret(secret), self.now())
            .await?
            .ok_or_else(|| AppError::Unauthenticated("the session has expired".into()))?;
        Ok(Principal {
            actor: format!("user:{}", user.name),
            role: user.role,
            merchant_id: user.merchant_id,
        })
    }
}
