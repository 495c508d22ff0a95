//! The alert as Alertmanager models it, shared by rule evaluation (which
//! produces alerts), dispatch (which groups and routes them) and the
//! notifiers (which render them).

use serde::{Deserialize, Serialize};

use crate::labels::{fingerprint, Fingerprint, LabelSet, ALERT_NAME};
use crate::Timestamp;

/// One alert: an identity (its labels), a description (annotations) and the
/// time it is active. It is resolved once `ends_at` has passed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub labels: LabelSet,
    #[serde(default)]
    pub annotations: LabelSet,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: Timestamp,
    /// When the alert ends (or ended). Alertmanager sets a timeout here for
    /// alerts that arrive without one; only a notification's copy of a
    /// still-firing alert has `None` (Go's zero time on the wire).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ends_at: Option<Timestamp>,
    #[serde(default)]
    pub generator_url: String,
    /// When the alert was last received or changed; merges prefer the newer.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
    /// Whether `ends_at` is a timeout chosen by the receiver rather than a
    /// time the sender gave.
    #[serde(default)]
    pub timeout: bool,
}

/// Whether an alert is firing or resolved at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

impl Alert {
    pub fn fingerprint(&self) -> Fingerprint {
        fingerprint(&self.labels)
    }

    /// The `alertname` label, or "" when absent.
    pub fn name(&self) -> &str {
        self.labels
            .get(ALERT_NAME)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Alertmanager's `ResolvedAt`: the alert has an end and it is not after `t`.
    pub fn resolved_at(&self, t: Timestamp) -> bool {
        self.ends_at.is_some_and(|e| e <= t)
    }

    pub fn status_at(&self, t: Timestamp) -> AlertStatus {
        if self.resolved_at(t) {
            AlertStatus::Resolved
        } else {
            AlertStatus::Firing
        }
    }

    /// Alertmanager's `Alert.Merge`: combines two updates of the same alert.
    /// The younger update wins, except that the earliest start is kept and
    /// an explicit end is not shortened by a timeout.
    pub fn merge(&self, other: &Alert) -> Alert {
        if other.updated_at < self.updated_at {
            return other.merge(self);
        }
        let mut res = other.clone();
        if self.starts_at < other.starts_at {
            res.starts_at = self.starts_at;
        }
        let other_resolved = other.resolved_at(other.updated_at);
        if other_resolved {
            if self.resolved_at(self.updated_at) && self.ends_at > other.ends_at {
                res.ends_at = self.ends_at;
            }
        } else if self.ends_at > other.ends_at && !self.timeout {
            res.ends_at = self.ends_at;
        }
        res
    }
}
