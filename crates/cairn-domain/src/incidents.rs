//! Incidents: a clear emergency process — severities with written definitions, roles
//! with hand-over, statuses from investigating to reviewed, impact on merchants, a
//! timeline, updates for staff and for the merchants hurt, and a review with action
//! items that makes an incident's lessons stick.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::Date;

use crate::{DomainError, Timestamp};

/// How bad an incident is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    P1,
    P2,
    P3,
    P4,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Severity::P1, Severity::P2, Severity::P3, Severity::P4];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::P1 => "p1",
            Severity::P2 => "p2",
            Severity::P3 => "p3",
            Severity::P4 => "p4",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The `severity` label the incident's page carries: critical pages the on-call.
    pub fn page_label(self) -> &'static str {
        match self {
            Severity::P1 | Severity::P2 => "critical",
            Severity::P3 | Severity::P4 => "warning",
        }
    }
}

/// The written definition of each severity (configurable as a whole).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SeverityDefinitions {
    pub p1: String,
    pub p2: String,
    pub p3: String,
    pub p4: String,
    /// Merchants hurt at or above which an incident is suggested P1 (with a VIP) or P2.
    pub p1_merchants: usize,
    pub p2_merchants: usize,
}

impl Default for SeverityDefinitions {
    fn default() -> Self {
        SeverityDefinitions {
            p1: "Core trading is down or losing data for many merchants, or VIP merchants cannot sell: all hands, page now, update merchants every 30 minutes.".into(),
            p2: "A platform service is failing or badly degraded for a significant share of merchants: page the on-call, update every hour.".into(),
            p3: "Degradation limited to a few merchants or a non-critical service, with a workaround: handle in working hours.".into(),
            p4: "A minor problem with no merchant impact, or a near miss worth a review.".into(),
            p1_merchants: 100,
            p2_merchants: 10,
        }
    }
}

impl SeverityDefinitions {
    pub fn text(&self, s: Severity) -> &str {
        match s {
            Severity::P1 => &self.p1,
            Severity::P2 => &self.p2,
            Severity::P3 => &self.p3,
            Severity::P4 => &self.p4,
        }
    }

    /// The severity the impact suggests.
    pub fn suggest(&self, merchants: usize, vips: usize) -> Severity {
        if merchants >= self.p1_merchants || (vips > 0 && merchants >= self.p2_merchants) {
            Severity::P1
        } else if merchants >= self.p2_merchants || vips > 0 {
            Severity::P2
        } else if merchants > 0 {
            Severity::P3
        } else {
            Severity::P4
        }
    }
}

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Investigating,
    Identified,
    Mitigated,
    Resolved,
    Reviewed,
}

impl IncidentStatus {
    pub const ALL: [IncidentStatus; 5] = [
        IncidentStatus::Investigating,
        IncidentStatus::Identified,
        IncidentStatus::Mitigated,
        IncidentStatus::Resolved,
        IncidentStatus::Reviewed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Investigating => "investigating",
            IncidentStatus::Identified => "identified",
            IncidentStatus::Mitigated => "mitigated",
            IncidentStatus::Resolved => "resolved",
            IncidentStatus::Reviewed => "reviewed",
        }
    }

    pub fn parse(s: &str) -> Option<IncidentStatus> {
        IncidentStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }

    fn rank(self) -> usize {
        IncidentStatus::ALL
            .iter()
            .position(|s| *s == self)
            .unwrap_or(0)
    }

    /// Statuses move forward (skipping is fine: a quick fix goes straight to
    /// resolved), or back while the incident is open (a fix that did not hold).
    /// Reviewed is reached only from resolved; a resolved incident may reopen.
    pub fn may_become(self, to: IncidentStatus) -> bool {
        use IncidentStatus::*;
        match (self, to) {
            (a, b) if a == b => false,
            (Reviewed, _) => false,
            (_, Reviewed) => self == Resolved,
            (Resolved, Investigating | Identified | Mitigated) => true,
            (a, b) => b.rank() > a.rank() || b.rank() < Resolved.rank(),
        }
    }

    pub fn is_open(self) -> bool {
        matches!(
            self,
            IncidentStatus::Investigating | IncidentStatus::Identified | IncidentStatus::Mitigated
        )
    }
}

/// The roles of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IncidentRole {
    Commander,
    Communications,
    Scribe,
}

impl IncidentRole {
    pub fn parse(s: &str) -> Option<IncidentRole> {
        match s {
            "commander" => Some(IncidentRole::Commander),
            "communications" => Some(IncidentRole::Communications),
            "scribe" => Some(IncidentRole::Scribe),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentRole::Commander => "commander",
            IncidentRole::Communications => "communications",
            IncidentRole::Scribe => "scribe",
        }
    }
}

/// One action item of a review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ActionItem {
    pub id: String,
    pub title: String,
    pub owner: String,
    #[serde(with = "crate::capacity::date_format")]
    #[schemars(with = "String")]
    pub due: Date,
    /// Ticket or change ids it is tracked by.
    #[serde(default)]
    pub links: Vec<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>")]
    pub done_at: Option<Timestamp>,
    /// The last day a reminder went out for it, so one goes out a day.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub reminded_on: Option<Date>,
}

impl ActionItem {
    pub fn overdue(&self, today: Date) -> bool {
        self.done_at.is_none() && self.due < today
    }
}

/// The post-incident review.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Review {
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub impact: String,
    #[serde(default)]
    pub root_cause: String,
    /// A short category of the cause, for the numbers (`capacity`, `change`,
    /// `dependency`, `hardware`, …).
    #[serde(default)]
    pub cause_category: String,
    #[serde(default)]
    pub contributing_factors: Vec<String>,
    #[serde(default)]
    pub went_well: String,
    #[serde(default)]
    pub went_badly: String,
    /// The team accountable for the fixes.
    #[serde(default)]
    pub responsible_team: String,
}

impl Review {
    /// What is still missing for the review to be complete (with the incident's
    /// action items).
    pub fn missing(&self, actions: &[ActionItem]) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (v, name) in [
            (&self.summary, "summary"),
            (&self.impact, "impact"),
            (&self.root_cause, "root_cause"),
            (&self.cause_category, "cause_category"),
            (&self.went_well, "went_well"),
            (&self.went_badly, "went_badly"),
            (&self.responsible_team, "responsible_team"),
        ] {
            if v.trim().is_empty() {
                out.push(name);
            }
        }
        if self
            .contributing_factors
            .iter()
            .all(|f| f.trim().is_empty())
        {
            out.push("contributing_factors");
        }
        if actions.is_empty() {
            out.push("action_items");
        }
        out
    }
}

/// What an incident touches, computed from its alerts and services, with an
/// estimate responders may override.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct IncidentImpact {
    pub services: Vec<String>,
    pub hosts: Vec<String>,
    pub pools: Vec<String>,
    pub zones: Vec<String>,
    /// Merchant ids, VIPs first.
    pub merchants: Vec<String>,
    pub merchant_count: usize,
    pub vip_count: usize,
    /// A responder's estimate of merchants hurt, replacing the computed count, and why.
    pub override_merchants: Option<usize>,
    pub override_reason: Option<String>,
}

impl IncidentImpact {
    /// The merchant count in force: the override when one was given.
    pub fn merchants_hurt(&self) -> usize {
        self.override_merchants.unwrap_or(self.merchant_count)
    }
}

/// An incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Incident {
    pub id: String,
    pub title: String,
    pub summary: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub declared_at: Timestamp,
    pub declared_by: String,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>")]
    pub acknowledged_at: Option<Timestamp>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>")]
    pub mitigated_at: Option<Timestamp>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>")]
    pub resolved_at: Option<Timestamp>,
    /// Role → person.
    pub roles: std::collections::BTreeMap<String, String>,
    /// Fingerprints of the alerts attached (firing or cleared).
    pub alerts: Vec<String>,
    /// The fingerprints of the incident's own page alerts (one per severity paged).
    pub pages: Vec<String>,
    /// The problem it was declared from, if any.
    pub problem: Option<String>,
    pub impact: IncidentImpact,
    pub review: Review,
    pub actions: Vec<ActionItem>,
}

/// Checks a declaration's text.
pub fn validate_title(title: &str) -> Result<(), DomainError> {
    if title.trim().is_empty() || title.chars().count() > 200 {
        return Err(DomainError::invalid("title", "must be 1 to 200 characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_move_forward_reopen_and_are_reviewed_only_once_resolved() {
        use IncidentStatus::*;
        assert!(Investigating.may_become(Identified));
        assert!(Investigating.may_become(Resolved));
        assert!(
            Mitigated.may_become(Investigating),
            "a fix that did not hold"
        );
        assert!(Resolved.may_become(Investigating), "reopened");
        assert!(Resolved.may_become(Reviewed));
        assert!(!Mitigated.may_become(Reviewed));
        assert!(!Reviewed.may_become(Resolved));
        assert!(!Identified.may_become(Identified));
    }

    #[test]
    fn impact_suggests_a_severity() {
        let d = SeverityDefinitions::default();
        assert_eq!(d.suggest(500, 0), Severity::P1);
        assert_eq!(d.suggest(20, 2), Severity::P1);
        assert_eq!(d.suggest(20, 0), Severity::P2);
        assert_eq!(d.suggest(3, 1), Severity::P2);
        assert_eq!(d.suggest(3, 0), Severity::P3);
        assert_eq!(d.suggest(0, 0), Severity::P4);
    }

    #[test]
    fn a_review_names_what_it_still_lacks() {
        let r = Review {
            summary: "order db saturated".into(),
            ..Review::default()
        };
        let missing = r.missing(&[]);
        assert!(missing.contains(&"root_cause"));
        assert!(missing.contains(&"action_items"));
        assert!(!missing.contains(&"summary"));
    }
}
