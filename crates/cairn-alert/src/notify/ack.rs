//! Signed acknowledge links: `{base}/alerts/ack?token=…`.
//!
//! The token carries what it allows (an action on an alert fingerprint or a
//! group key) and until when, and an HMAC-SHA256 over both keyed with the
//! app's secret, so a link cannot be forged, altered (another alert, a later
//! expiry) or used after it expires. Acting twice on one link is harmless
//! because acknowledging is idempotent; the app records who used it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::Timestamp;

/// What a link lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AckAction {
    Acknowledge,
    Resolve,
}

impl AckAction {
    fn as_str(self) -> &'static str {
        match self {
            AckAction::Acknowledge => "ack",
            AckAction::Resolve => "resolve",
        }
    }
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckClaim {
    /// The alert fingerprint or group key the link was made for.
    pub key: String,
    pub action: AckAction,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: Timestamp,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    #[error("the acknowledge link is malformed")]
    Malformed,
    #[error("the acknowledge link's signature does not match")]
    BadSignature,
    #[error("the acknowledge link expired at {0}")]
    Expired(Timestamp),
}

fn mac(secret: &[u8], payload: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    m.update(payload);
    m
}

/// A token for `action` on `key`, valid until `expires_at`.
pub fn sign_ack_token(
    secret: &[u8],
    key: &str,
    action: AckAction,
    expires_at: Timestamp,
) -> String {
    let payload = format!(
        "v1\n{}\n{}\n{key}",
        action.as_str(),
        expires_at.unix_timestamp()
    );
    let sig = mac(secret, payload.as_bytes()).finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

/// The full link: `{base}/alerts/ack?token=…` (the token is URL-safe).
pub fn sign_ack_link(
    base: &str,
    secret: &[u8],
    key: &str,
    action: AckAction,
    expires_at: Timestamp,
) -> String {
    format!(
        "{}/alerts/ack?token={}",
        base.trim_end_matches('/'),
        sign_ack_token(secret, key, action, expires_at)
    )
}

/// Checks a token (or a whole link) at `now`.
pub fn verify_ack_link(
    secret: &[u8],
    token_or_link: &str,
    now: Timestamp,
) -> Result<AckClaim, AckError> {
    let token = token_or_link
        .rsplit_once("token=")
        .map(|(_, t)| t.split('&').next().unwrap_or(t))
        .unwrap_or(token_or_link);
    let (p, s) = token.split_once('.').ok_or(AckError::Malformed)?;
    let payload = URL_SAFE_NO_PAD.decode(p).map_err(|_| AckError::Malformed)?;
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| AckError::Malformed)?;
    // Constant-time comparison, so the signature cannot be guessed byte by byte.
    mac(secret, &payload)
        .verify_slice(&sig)
        .map_err(|_| AckError::BadSignature)?;
    let text = String::from_utf8(payload).map_err(|_| AckError::Malformed)?;
    let mut parts = text.splitn(4, '\n');
    let (Some("v1"), Some(action), Some(exp), Some(key)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AckError::Malformed);
    };
    let action = match action {
        "ack" => AckAction::Acknowledge,
        "resolve" => AckAction::Resolve,
        _ => return Err(AckError::Malformed),
    };
    let expires_at = exp
        .parse::<i64>()
        .ok()
        .and_then(|s| Timestamp::from_unix_timestamp(s).ok())
        .ok_or(AckError::Malformed)?;
    if now >= expires_at {
        return Err(AckError::Expired(expires_at));
    }
    Ok(AckClaim {
        key: key.to_string(),
        action,
        expires_at,
    })
}
