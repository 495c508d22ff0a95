//! The pure core of cairn's alerting loop.
//!
//! What comes in: rule files and evaluation results, alerts (from cairn's
//! own rules or from external Prometheus servers), an Alertmanager-style
//! configuration, schedules and policies, and "now" as an argument. What
//! goes out: alerts to dispatch, notifications to deliver (as request
//! descriptions), escalation steps, problems, history records, and state
//! the app persists as plain serde structs.
//!
//! **Architecture invariant:** no I/O, no network, no system clock; time is
//! always an argument, randomness is an argument, and every state machine is
//! deterministic. Time zones come from the tz database compiled into the
//! binary. **API boundary:** wire shapes of Alertmanager's API live in
//! [`api`] as serde types; the HTTP edge decodes them and calls this crate.
//!
//! The loop, and the module for each step:
//! 1. Rules ([`rules`], with [`template`] for Go templates): the app runs
//!    each group on its schedule; evaluation yields recorded series, alerts
//!    to send and history.
//! 2. Alerts, from cairn's rules or posted by Prometheus ([`api`]), enter
//!    the [`dispatch`] state machine, which routes ([`config`]), groups,
//!    times, mutes ([`inhibit`], [`silence`], [`timeinterval`], with label
//!    [`matchers`]) and deduplicates them into notifications.
//! 3. Each notification renders to a request through its integration in
//!    [`notify`]; the app sends, classifies the answer and retries.
//! 4. On-call ([`oncall`]) says who is notified and when to escalate.
//! 5. [`problems`] joins alerts to the model and finds probable roots.
//!
//! [`alert`], [`history`] and [`labels`] are the shared vocabulary: the
//! alert, its history records, and fingerprints identical to
//! Alertmanager's.
//!
//! ## What every notifier component must do
//!
//! A notifier lives in its own file under `notify/` and implements
//! [`notify::Integration`]. It must:
//! 1. read its config from `receivers[].<kind>_configs`, refusing unknown
//!    fields with their line, and document each field on its config struct;
//!    where Alertmanager has the integration, use its field names and
//!    defaults (notably `send_resolved`);
//! 2. render without I/O: `render(&Notification, &Context) -> Request`,
//!    expanding its templates over Alertmanager's template data and
//!    falling back to cairn's defaults, which list every alert with its
//!    labels, summary and, when the app signs links, an acknowledge link;
//! 3. take the time from [`notify::Context::now`] (signatures, expiry),
//!    never from a clock;
//! 4. classify the receiver's answer as delivered, retry or fail, so the app
//!    retries only what can succeed and records every attempt
//!    ([`notify::DeliveryAttempt`]);
//! 5. have a snapshot test of its rendered request.

pub mod alert;
pub mod api;
pub mod config;
pub mod dispatch;
pub mod duration;
pub mod error;
pub mod history;
pub mod inhibit;
pub mod labels;
pub mod matchers;
pub mod notify;
pub mod oncall;
pub mod problems;
pub mod rules;
pub mod silence;
pub mod template;
pub mod timeinterval;
pub mod yaml;

pub use error::AlertError;
pub use labels::{fingerprint, Fingerprint, LabelSet};

/// A point in time. Every function that needs "now" takes one.
pub type Timestamp = time::OffsetDateTime;

/// Serde for floats as Prometheus writes them in JSON (`"1.5"`, `"NaN"`,
/// `"+Inf"`), so NaN values survive a round trip through stored state.
pub mod float_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&cairn_promql::format_value(*v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "+Inf" | "Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            other => other.parse().map_err(serde::de::Error::custom),
        }
    }
}
