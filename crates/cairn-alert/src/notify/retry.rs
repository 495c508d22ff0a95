//! Retries with exponential backoff, and the record of every attempt.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Delivered,
    /// Worth trying again (server errors, rate limits, timeouts).
    Retry {
        reason: String,
    },
    /// Trying again would fail the same way (bad URL, bad token, refused).
    Fail {
        reason: String,
    },
}

/// Classifies an HTTP answer the way Alertmanager's integrations do: 2xx is
/// delivered, 5xx is retried, other codes fail. cairn also retries 429 and
/// 408, which Alertmanager's webhook does not: a rate limit is the most
/// common transient answer of chat robots.
pub fn classify_http(status: u16, body: &str) -> Outcome {
    let snippet: String = body.chars().take(200).collect();
    match status {
        200..=299 => Outcome::Delivered,
        408 | 429 | 500..=599 => Outcome::Retry {
            reason: format!("unexpected status code {status}: {snippet}"),
        },
        _ => Outcome::Fail {
            reason: format!("unexpected status code {status}: {snippet}"),
        },
    }
}

/// A transport error (connection refused, timeout, TLS) is always retried.
pub fn classify_transport_error(error: &str) -> Outcome {
    Outcome::Retry {
        reason: error.to_string(),
    }
}

/// Exponential backoff with jitter, with the defaults Alertmanager's retry
/// stage uses (cenkalti/backoff): 500 ms, ×1.5, ±50 %, at most 60 s apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    #[serde(with = "crate::duration::serde_text")]
    pub initial: time::Duration,
    pub multiplier: f64,
    /// The delay is drawn from `[d·(1−r), d·(1+r)]`.
    pub randomization: f64,
    #[serde(with = "crate::duration::serde_text")]
    pub max_interval: time::Duration,
    /// Give up after this many attempts (Alertmanager retries until the
    /// next flush instead; cairn's app may do both).
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: time::Duration::milliseconds(500),
            multiplier: 1.5,
            randomization: 0.5,
            max_interval: time::Duration::seconds(60),
            max_attempts: 10,
        }
    }
}

impl RetryPolicy {
    /// The wait after the `attempt`-th failed attempt (1-based). `random`
    /// is a uniform draw from `[0, 1)` supplied by the caller, so the
    /// schedule is reproducible in tests and deterministic in replays.
    pub fn delay(&self, attempt: u32, random: f64) -> time::Duration {
        let base =
            self.initial.as_seconds_f64() * self.multiplier.powi(attempt.saturating_sub(1) as i32);
        let base = base.min(self.max_interval.as_seconds_f64());
        let delta = base * self.randomization;
        let r = random.clamp(0.0, 1.0);
        time::Duration::seconds_f64((base - delta) + r * (2.0 * delta))
    }

    /// When to try again after the `attempt`-th failure at `failed_at`, or
    /// `None` when the attempts are used up or the next try would pass
    /// `deadline` (for a notification: its group's next flush).
    pub fn next_attempt(
        &self,
        attempt: u32,
        random: f64,
        failed_at: Timestamp,
        deadline: Option<Timestamp>,
    ) -> Option<Timestamp> {
        if self.max_attempts > 0 && attempt >= self.max_attempts {
            return None;
        }
        let at = failed_at + self.delay(attempt, random);
        match deadline {
            Some(d) if at > d => None,
            _ => Some(at),
        }
    }
}

/// One delivery attempt, as the app records and shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    pub notification_id: String,
    pub receiver: String,
    pub integration: String,
    /// 1 for the first try.
    pub attempt: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    pub outcome: Outcome,
    /// The HTTP status (or SMTP code) when there was an answer.
    pub status: Option<u16>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<Timestamp>,
}
