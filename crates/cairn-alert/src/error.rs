//! The crate's one error type for callers that want a single one, and the
//! one place where each error gets an HTTP status and a stable code, so the
//! HTTP edge never guesses.

use crate::config::ConfigError;
use crate::notify::ack::AckError;
use crate::notify::NotifyError;
use crate::oncall::OnCallError;
use crate::rules::RuleFileErrors;
use crate::silence::SilenceError;
use crate::template::TemplateError;

/// Any error of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    RuleFile(#[from] RuleFileErrors),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Silence(#[from] SilenceError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error(transparent)]
    Ack(#[from] AckError),
    #[error(transparent)]
    OnCall(#[from] OnCallError),
    /// Alerts posted on the Alertmanager API that did not validate.
    #[error("invalid alerts: {}", .0.join("; "))]
    InvalidAlerts(Vec<String>),
}

impl AlertError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AlertError::RuleFile(_) => "invalid_rule_file",
            AlertError::Config(_) => "invalid_alerting_config",
            AlertError::Silence(SilenceError::NotFound(_)) => "silence_not_found",
            AlertError::Silence(SilenceError::AlreadyExpired(_)) => "silence_expired",
            AlertError::Silence(SilenceError::Invalid(_)) => "invalid_silence",
            AlertError::Template(_) => "invalid_template",
            AlertError::Notify(_) => "notification_render_failed",
            AlertError::Ack(AckError::Expired(_)) => "ack_link_expired",
            AlertError::Ack(_) => "ack_link_invalid",
            AlertError::OnCall(_) => "invalid_oncall",
            AlertError::InvalidAlerts(_) => "invalid_alerts",
        }
    }

    /// The HTTP status the edge answers with.
    pub fn status(&self) -> u16 {
        match self {
            AlertError::Silence(SilenceError::NotFound(_)) => 404,
            AlertError::Silence(SilenceError::AlreadyExpired(_)) => 409,
            // A configured template that fails at send time is a problem of
            // the stored configuration, not of the request being answered.
            AlertError::Notify(_) => 422,
            AlertError::Ack(AckError::Expired(_)) => 410,
            AlertError::Ack(_) => 403,
            _ => 400,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes() {
        let nf = AlertError::from(SilenceError::NotFound("s1".into()));
        assert_eq!((nf.status(), nf.code()), (404, "silence_not_found"));
        let exp = AlertError::from(AckError::Expired(time::OffsetDateTime::UNIX_EPOCH));
        assert_eq!((exp.status(), exp.code()), (410, "ack_link_expired"));
        assert_eq!(AlertError::from(AckError::BadSignature).status(), 403);
        let bad =
            AlertError::InvalidAlerts(vec!["alert 1: at least one label pair required".into()]);
        assert_eq!(
            bad.to_string(),
            "invalid alerts: alert 1: at least one label pair required"
        );
        assert_eq!(bad.status(), 400);
    }
}
