//! Alertmanager's API v2 shapes (`postableAlerts`, `gettableAlerts`,
//! `postableSilence`, `gettableSilences`, `alertGroups`) and their
//! conversions, so the app's HTTP edge under `/alertmanager/api/v2/` only
//! decodes, calls these, and encodes; an existing Prometheus, `amtool` or
//! Grafana then talks to cairn as to an Alertmanager.

use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::labels::{is_valid_label_name, LabelSet};
use crate::matchers::{MatchType, Matcher, Matchers};
use crate::silence::{Silence, SilenceState};
use crate::Timestamp;

/// An alert as Prometheus posts it (`POST /api/v2/alerts`, a JSON list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    pub labels: LabelSet,
    #[serde(default)]
    pub annotations: LabelSet,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub starts_at: Option<Timestamp>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ends_at: Option<Timestamp>,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
}

/// Go's zero time (`0001-01-01T00:00:00Z`) on the wire means "not set".
fn set(t: Option<Timestamp>) -> Option<Timestamp> {
    t.filter(|t| t.year() > 1)
}

/// Validates and normalises posted alerts as Alertmanager does: a missing
/// start is now (or the end, if only that is given); a missing end is
/// `now + resolve_timeout` and marked as a timeout. Invalid alerts are
/// reported by their position and skipped; the valid ones are returned
/// (Alertmanager also keeps the valid ones and answers 400).
pub fn postable_to_alerts(
    posted: Vec<PostableAlert>,
    now: Timestamp,
    resolve_timeout: time::Duration,
) -> (Vec<Alert>, Vec<String>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (i, p) in posted.into_iter().enumerate() {
        let starts = set(p.starts_at);
        let ends = set(p.ends_at);
        let starts_at = starts.or(ends).unwrap_or(now);
        let (ends_at, timeout) = match ends {
            Some(e) => (e, false),
            None => (now + resolve_timeout, true),
        };
        let problem = if p.labels.is_empty() {
            Some("at least one label pair required".to_string())
        } else if let Some(bad) = p.labels.keys().find(|k| !is_valid_label_name(k)) {
            Some(format!("invalid label set: invalid name {bad:?}"))
        } else if let Some(bad) = p.annotations.keys().find(|k| !is_valid_label_name(k)) {
            Some(format!("invalid annotations: invalid name {bad:?}"))
        } else if ends_at < starts_at {
            Some("start time must be before end time".to_string())
        } else {
            None
        };
        if let Some(msg) = problem {
            errors.push(format!("alert {}: {msg}", i + 1));
            continue;
        }
        ok.push(Alert {
            labels: p.labels,
            annotations: p.annotations,
            starts_at,
            ends_at: Some(ends_at),
            generator_url: p.generator_url,
            updated_at: now,
            timeout,
        });
    }
    (ok, errors)
}

/// A receiver reference (`{"name": …}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiverRef {
    pub name: String,
}

/// `alertStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatusV2 {
    /// `active` or `suppressed`.
    pub state: String,
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<String>,
    pub muted_by: Vec<String>,
}

/// `gettableAlert`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GettableAlert {
    pub annotations: LabelSet,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: Timestamp,
    pub fingerprint: String,
    pub receivers: Vec<ReceiverRef>,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: Timestamp,
    pub status: AlertStatusV2,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub labels: LabelSet,
}

/// The query parameters of `GET /api/v2/alerts`.
#[derive(Debug, Clone)]
pub struct AlertFilter {
    /// `filter=` matchers, all of which must match.
    pub matchers: Matchers,
    pub active: bool,
    pub silenced: bool,
    pub inhibited: bool,
    /// `receiver=` regex (anchored), if given.
    pub receiver: Option<regex::Regex>,
}

impl Default for AlertFilter {
    fn default() -> Self {
        AlertFilter {
            matchers: Matchers::default(),
            active: true,
            silenced: true,
            inhibited: true,
            receiver: None,
        }
    }
}

fn gettable(
    d: &Dispatcher,
    cfg: &Config,
    silences: &[Silence],
    a: &Alert,
    now: Timestamp,
) -> GettableAlert {
    let mark = d.mute_mark(cfg, silences, &a.labels, now);
    let mut receivers: Vec<String> = cfg
        .route
        .match_routes(&a.labels)
        .into_iter()
        .map(|r| r.receiver.clone())
        .collect();
    receivers.dedup();
    let suppressed = !mark.silenced_by.is_empty() || !mark.inhibited_by.is_empty();
    GettableAlert {
        annotations: a.annotations.clone(),
        ends_at: a.ends_at.unwrap_or(now),
        fingerprint: a.fingerprint().to_string(),
        receivers: receivers
            .into_iter()
            .map(|name| ReceiverRef { name })
            .collect(),
        starts_at: a.starts_at,
        status: AlertStatusV2 {
            state: if suppressed { "suppressed" } else { "active" }.into(),
            silenced_by: mark.silenced_by,
            inhibited_by: mark.inhibited_by.iter().map(|f| f.to_string()).collect(),
            muted_by: Vec::new(),
        },
        updated_at: a.updated_at,
        generator_url: a.generator_url.clone(),
        labels: a.labels.clone(),
    }
}

/// `GET /api/v2/alerts`: the alerts not yet resolved, filtered, sorted by
/// fingerprint.
pub fn list_alerts(
    d: &Dispatcher,
    cfg: &Config,
    silences: &[Silence],
    now: Timestamp,
    f: &AlertFilter,
) -> Vec<GettableAlert> {
    d.alerts
        .values()
        .filter(|a| !a.resolved_at(now) && f.matchers.matches(&a.labels))
        .map(|a| gettable(d, cfg, silences, a, now))
        .filter(|g| {
            let silenced = !g.status.silenced_by.is_empty();
            let inhibited = !g.status.inhibited_by.is_empty();
            (f.active || silenced || inhibited)
                && (f.silenced || !silenced)
                && (f.inhibited || !inhibited)
                && f.receiver.as_ref().is_none_or(|re| {
                    g.receivers.iter().any(|r| {
                        re.find(&r.name)
                            .is_some_and(|m| m.start() == 0 && m.end() == r.name.len())
                    })
                })
        })
        .collect()
}

/// `alertGroup` of `GET /api/v2/alerts/groups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertGroup {
    pub labels: LabelSet,
    pub receiver: ReceiverRef,
    pub alerts: Vec<GettableAlert>,
}

/// `GET /api/v2/alerts/groups`.
pub fn list_groups(
    d: &Dispatcher,
    cfg: &Config,
    silences: &[Silence],
    now: Timestamp,
) -> Vec<AlertGroup> {
    d.groups
        .iter()
        .filter_map(|g| {
            let route = cfg.route.find(&g.route_id)?;
            let alerts: Vec<GettableAlert> = g
                .alerts
                .values()
                .filter(|a| !a.resolved_at(now))
                .map(|a| gettable(d, cfg, silences, a, now))
                .collect();
            (!alerts.is_empty()).then(|| AlertGroup {
                labels: g.labels.clone(),
                receiver: ReceiverRef {
                    name: route.receiver.clone(),
                },
                alerts,
            })
        })
        .collect()
}

/// `matcher` of the silence API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiMatcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

/// `postableSilence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableSilence {
    #[serde(default)]
    pub id: Option<String>,
    pub matchers: Vec<ApiMatcher>,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: Timestamp,
    pub created_by: String,
    pub comment: String,
}

/// `silenceStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceStatus {
    pub state: SilenceState,
}

/// `gettableSilence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GettableSilence {
    pub id: String,
    pub status: SilenceStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
    pub matchers: Vec<ApiMatcher>,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: Timestamp,
    pub created_by: String,
    pub comment: String,
}

impl PostableSilence {
    /// The silence this asks for (validate and store it with
    /// [`crate::silence::set_silence`]).
    pub fn to_silence(&self, now: Timestamp) -> Result<Silence, String> {
        if self.starts_at >= self.ends_at {
            return Err("start time must be before end time".into());
        }
        let matchers = self
            .matchers
            .iter()
            .map(|m| {
                let op = match (m.is_regex, m.is_equal) {
                    (false, true) => MatchType::Equal,
                    (false, false) => MatchType::NotEqual,
                    (true, true) => MatchType::Regex,
                    (true, false) => MatchType::NotRegex,
                };
                Matcher::new(m.name.clone(), op, m.value.clone())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Silence {
            id: self.id.clone().unwrap_or_default(),
            matchers: Matchers(matchers),
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            updated_at: now,
            created_by: self.created_by.clone(),
            comment: self.comment.clone(),
        })
    }
}

/// A silence as the API shows it.
pub fn gettable_silence(s: &Silence, now: Timestamp) -> GettableSilence {
    GettableSilence {
        id: s.id.clone(),
        status: SilenceStatus {
            state: s.state(now),
        },
        updated_at: s.updated_at,
        matchers: s
            .matchers
            .0
            .iter()
            .map(|m| ApiMatcher {
                name: m.name.clone(),
                value: m.value.clone(),
                is_regex: matches!(m.op, MatchType::Regex | MatchType::NotRegex),
                is_equal: matches!(m.op, MatchType::Equal | MatchType::Regex),
            })
            .collect(),
        starts_at: s.starts_at,
        ends_at: s.ends_at,
        created_by: s.created_by.clone(),
        comment: s.comment.clone(),
    }
}

/// `GET /api/v2/silences`: active ones first (ending soonest first), then
/// pending (starting soonest first), then expired (most recent first), as
/// Alertmanager orders them.
pub fn list_silences(
    silences: &[Silence],
    now: Timestamp,
    filter: &Matchers,
) -> Vec<GettableSilence> {
    let mut out: Vec<&Silence> = silences
        .iter()
        .filter(|s| {
            // A filter matcher selects silences that have an equal matcher.
            filter.0.iter().all(|f| s.matchers.0.iter().any(|m| m == f))
        })
        .collect();
    let rank = |s: &Silence| match s.state(now) {
        SilenceState::Active => 0,
        SilenceState::Pending => 1,
        SilenceState::Expired => 2,
    };
    out.sort_by(|a, b| {
        rank(a).cmp(&rank(b)).then_with(|| match a.state(now) {
            SilenceState::Active => a.ends_at.cmp(&b.ends_at),
            SilenceState::Pending => a.starts_at.cmp(&b.starts_at),
            SilenceState::Expired => b.ends_at.cmp(&a.ends_at),
        })
    });
    out.into_iter().map(|s| gettable_silence(s, now)).collect()
}
