//! Silences: matchers over a time range, with Alertmanager's rules for
//! creating, updating and expiring them.
//!
//! A silence is *pending* before `starts_at`, *active* until `ends_at`, then
//! *expired*. While active it mutes every alert all its matchers match. An
//! update that would change what an active silence means (its matchers or
//! its start) expires it and creates a new one under a new id, so the
//! record of what was silenced when stays true; the app supplies new ids.

use serde::{Deserialize, Serialize};

use crate::labels::LabelSet;
use crate::matchers::Matchers;
use crate::Timestamp;

/// A silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub matchers: Matchers,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
    pub created_by: String,
    pub comment: String,
}

/// Where a silence is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

/// Why a silence was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    #[error("silence {0} not found")]
    NotFound(String),
    #[error("silence {0} already expired")]
    AlreadyExpired(String),
    #[error("invalid silence: {0}")]
    Invalid(String),
}

impl Silence {
    pub fn state(&self, now: Timestamp) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Whether the silence mutes an alert with these labels at `now`.
    pub fn mutes(&self, labels: &LabelSet, now: Timestamp) -> bool {
        self.state(now) == SilenceState::Active && self.matchers.matches(labels)
    }

    /// Alertmanager's validation of a silence as posted.
    pub fn validate(&self) -> Result<(), SilenceError> {
        let bad = |m: &str| Err(SilenceError::Invalid(m.to_string()));
        if self.matchers.is_empty() {
            return bad("at least one matcher required");
        }
        if self.matchers.0.iter().all(|m| m.matches_value("")) {
            // A silence that matches the empty label set would mute
            // everything, including alerts nobody has seen yet.
            return bad("at least one matcher must not match the empty string");
        }
        if let Some(m) = self.matchers.0.iter().find(|m| m.name.is_empty()) {
            return Err(SilenceError::Invalid(format!(
                "invalid label name {:?}",
                m.name
            )));
        }
        if self.ends_at < self.starts_at {
            return bad("end time must not be before start time");
        }
        if self.created_by.trim().is_empty() {
            return bad("createdBy must not be empty");
        }
        if self.comment.trim().is_empty() {
            return bad("comment must not be empty");
        }
        Ok(())
    }
}

/// Alertmanager's `canUpdate`: whether `new` may replace `old` in place.
fn can_update(old: &Silence, new: &Silence, now: Timestamp) -> bool {
    if old.matchers != new.matchers {
        return false;
    }
    match old.state(now) {
        SilenceState::Active => new.starts_at == old.starts_at && new.ends_at >= now,
        SilenceState::Pending => new.starts_at >= now,
        SilenceState::Expired => false,
    }
}

/// Creates or updates a silence in `silences` and returns its id.
///
/// `new.id` empty creates one under `fresh_id`; an existing id updates it
/// in place when only its end (or a pending silence's times) change, and
/// otherwise expires it and creates a new silence under `fresh_id`. A start
/// in the past becomes `now`.
pub fn set_silence(
    silences: &mut Vec<Silence>,
    mut new: Silence,
    now: Timestamp,
    fresh_id: &str,
) -> Result<String, SilenceError> {
    new.validate()?;
    if new.ends_at <= now {
        return Err(SilenceError::Invalid(
            "end time can't be in the past".into(),
        ));
    }
    let existing = if new.id.is_empty() {
        None
    } else {
        Some(
            silences
                .iter()
                .position(|s| s.id == new.id)
                .ok_or_else(|| SilenceError::NotFound(new.id.clone()))?,
        )
    };
    if let Some(i) = existing {
        if can_update(&silences[i], &new, now) {
            new.updated_at = now;
            silences[i] = new;
            return Ok(silences[i].id.clone());
        }
        if silences[i].state(now) != SilenceState::Expired {
            let old_id = silences[i].id.clone();
            expire_silence(silences, &old_id, now)?;
        }
    }
    new.id = fresh_id.to_string();
    if new.starts_at < now {
        new.starts_at = now;
    }
    new.updated_at = now;
    silences.push(new);
    Ok(fresh_id.to_string())
}

/// Expires a silence now: an active one ends now, a pending one starts and
/// ends now.
pub fn expire_silence(
    silences: &mut [Silence],
    id: &str,
    now: Timestamp,
) -> Result<(), SilenceError> {
    let s = silences
        .iter_mut()
        .find(|s| s.id == id)
        .ok_or_else(|| SilenceError::NotFound(id.to_string()))?;
    match s.state(now) {
        SilenceState::Expired => return Err(SilenceError::AlreadyExpired(id.to_string())),
        SilenceState::Active => s.ends_at = now,
        SilenceState::Pending => {
            s.starts_at = now;
            s.ends_at = now;
        }
    }
    s.updated_at = now;
    Ok(())
}

/// The ids of the silences muting `labels` at `now`, sorted.
pub fn silenced_by(silences: &[Silence], labels: &LabelSet, now: Timestamp) -> Vec<String> {
    let mut ids: Vec<String> = silences
        .iter()
        .filter(|s| s.mutes(labels, now))
        .map(|s| s.id.clone())
        .collect();
    ids.sort();
    ids
}

/// Drops silences expired for longer than `retention` (Alertmanager keeps
/// them 120h by default, so recent ones can be looked at and recreated).
pub fn gc_silences(silences: &mut Vec<Silence>, now: Timestamp, retention: time::Duration) {
    silences.retain(|s| s.ends_at + retention > now);
}
