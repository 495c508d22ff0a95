//! Alert history: every state change of an alert, as a record the app
//! appends to its store. Alertmanager keeps no history (its users have asked
//! for one since 2015); cairn keeps one by having every state machine here
//! report what changed, with the time it changed.

use serde::{Deserialize, Serialize};

use crate::labels::{Fingerprint, LabelSet};
use crate::Timestamp;

/// One thing that happened to one alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    pub fingerprint: Fingerprint,
    pub labels: LabelSet,
    pub event: HistoryEvent,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HistoryEvent {
    /// A rule's expression returned the series; the alert waits out `for`.
    Pending {
        #[serde(with = "crate::float_text")]
        value: f64,
    },
    /// The alert fires (a rule's `for` has passed, or an external alert
    /// arrived firing).
    Firing {
        /// The rule's value, when a cairn rule fired it; external alerts
        /// carry none.
        value: Option<f64>,
    },
    /// A pending alert's series went away before `for` passed.
    Cancelled,
    /// The alert resolved.
    Resolved,
    /// Silences started muting the alert.
    Silenced { silence_ids: Vec<String> },
    /// Firing source alerts started inhibiting it.
    Inhibited { by: Vec<Fingerprint> },
    /// Nothing mutes it any more.
    Unmuted,
    /// A notification carrying the alert was handed to a receiver.
    Notified {
        receiver: String,
        integration: String,
        group_key: String,
        status: crate::alert::AlertStatus,
    },
    /// An acknowledgement by a person (UI, API or signed link).
    Acknowledged { by: String },
}
