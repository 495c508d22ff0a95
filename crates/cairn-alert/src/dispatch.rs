//! Alertmanager's dispatcher and notification pipeline as a pure state
//! machine (`dispatch/dispatch.go`, `notify/notify.go`).
//!
//! The app calls [`Dispatcher::ingest`] with every alert it receives (from
//! its own rules or from external Prometheus servers), [`Dispatcher::tick`]
//! whenever [`Dispatcher::next_wakeup`] says a group is due, delivers the
//! [`Notification`]s it gets, and reports each outcome with
//! [`Dispatcher::record_delivery`]. The dispatcher is plain serde state;
//! persist it to survive restarts without re-notifying.
//!
//! What happens, as in Alertmanager:
//! - **Deduplication:** alerts are identified by their fingerprint; a repeat
//!   is merged into the stored alert (earliest start, newest end unless it
//!   is only a timeout).
//! - **Routing:** each alert goes to the routes of the tree it matches.
//! - **Grouping:** per route, alerts with the same values of the route's
//!   `group_by` labels form an aggregation group, whose key is the route
//!   key and the group labels (`{}/{team="db"}:{alertname="X"}`).
//! - **Timing:** a new group is flushed `group_wait` after it was created
//!   (at once if its alert is already older than that), then every
//!   `group_interval`.
//! - **At a flush:** alerts inhibited, outside the route's active time
//!   intervals, inside its mute time intervals or silenced are dropped;
//!   then, per integration, a notification is sent only if the group has
//!   firing alerts the receiver was not told about, resolved ones it wants
//!   to hear of (`send_resolved`), all its alerts resolved after it was
//!   told they fired, or `repeat_interval` has passed since the last send
//!   (the notification log).
//! - **Cleanup:** resolved alerts leave the group after a successful flush
//!   (or three group intervals after a failed one), unless they changed
//!   during it; empty groups are dropped.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::alert::{Alert, AlertStatus};
use crate::config::{Config, Route};
use crate::history::{HistoryEntry, HistoryEvent};
use crate::inhibit::inhibited_by;
use crate::labels::{format_label_set, Fingerprint, LabelSet};
use crate::notify::IntegrationConfig;
use crate::silence::{silenced_by, Silence};
use crate::timeinterval::any_contains;
use crate::Timestamp;

/// How long a resolved alert stays in the dispatcher's store (Alertmanager
/// removes resolved alerts at its 30-minute garbage collection).
pub const RESOLVED_GC: time::Duration = time::Duration::minutes(30);
/// How long notification log entries are kept (`--data.retention`).
pub const NFLOG_RETENTION: time::Duration = time::Duration::hours(120);

/// One aggregation group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AggrGroup {
    pub route_id: String,
    pub group_key: String,
    pub labels: LabelSet,
    /// The group's alerts by fingerprint.
    pub alerts: BTreeMap<Fingerprint, Alert>,
    #[serde(with = "time::serde::rfc3339")]
    pub next_flush: Timestamp,
    pub has_flushed: bool,
    /// The route's group interval, for expiring undeliverable resolutions.
    #[serde(with = "crate::duration::serde_text")]
    pub group_interval: time::Duration,
    /// The last flush whose deliveries are not all reported yet.
    pub in_flight: Option<InFlight>,
}

/// A flush waiting for its delivery outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InFlight {
    #[serde(with = "time::serde::rfc3339")]
    pub flushed_at: Timestamp,
    pub outstanding: BTreeSet<String>,
    pub failed: bool,
    /// Resolved alerts of the flush with the `updated_at` they had then.
    pub resolved: Vec<(Fingerprint, String)>,
}

/// What the notification log remembers of the last successful notification
/// of a group to one integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NflogEntry {
    pub group_key: String,
    /// `receiver/kind/index`, as Alertmanager keys it.
    pub integration: String,
    pub firing: BTreeSet<Fingerprint>,
    pub resolved: BTreeSet<Fingerprint>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
}

/// Why an alert is muted, as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MuteMark {
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<Fingerprint>,
}

/// One delivery to make: a group's alerts for one integration of one
/// receiver. Render it with the integration's renderer, send it, report
/// the outcome with [`Dispatcher::record_delivery`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Unique per flush and integration.
    pub id: String,
    pub receiver: String,
    pub integration_index: usize,
    pub integration: IntegrationConfig,
    pub group_key: String,
    pub group_labels: LabelSet,
    pub route_id: String,
    /// The alerts to send, in Alertmanager's order (by `job`, `instance`,
    /// then labels); firing alerts carry no `ends_at`.
    pub alerts: Vec<Alert>,
    /// `firing` when any alert fires.
    pub status: AlertStatus,
    /// The firing and resolved alerts of the flush, for the log.
    pub firing: Vec<Fingerprint>,
    pub resolved: Vec<Fingerprint>,
    #[serde(with = "time::serde::rfc3339")]
    pub flushed_at: Timestamp,
    #[serde(with = "crate::duration::serde_text")]
    pub repeat_interval: time::Duration,
}

/// What a tick produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tick {
    pub notifications: Vec<Notification>,
    pub history: Vec<HistoryEntry>,
}

/// The dispatcher's whole state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Dispatcher {
    /// Every alert received, merged by fingerprint.
    pub alerts: BTreeMap<Fingerprint, Alert>,
    pub groups: Vec<AggrGroup>,
    pub nflog: Vec<NflogEntry>,
    pub marks: BTreeMap<Fingerprint, MuteMark>,
}

/// Alertmanager's notification order: by `job`, then `instance` (alerts
/// with the label first), then by the whole label set.
pub fn sort_alerts(alerts: &mut [Alert]) {
    alerts.sort_by(|a, b| {
        for key in ["job", "instance"] {
            match (a.labels.get(key), b.labels.get(key)) {
                (None, None) => continue,
                (None, Some(_)) => return std::cmp::Ordering::Greater,
                (Some(_), None) => return std::cmp::Ordering::Less,
                (Some(x), Some(y)) if x != y => return x.cmp(y),
                _ => {}
            }
        }
        a.labels.cmp(&b.labels)
    });
}

fn stamp(t: Timestamp) -> String {
    (t.unix_timestamp_nanos()).to_string()
}

impl Dispatcher {
    /// Takes in alerts received at `now` (already normalised, see
    /// [`crate::api::postable_to_alerts`]) and routes them to their groups.
    /// Returns history for alerts that appeared or changed status.
    pub fn ingest(
        &mut self,
        cfg: &Config,
        alerts: Vec<Alert>,
        now: Timestamp,
    ) -> Vec<HistoryEntry> {
        let mut history = Vec::new();
        for incoming in alerts {
            let fp = incoming.fingerprint();
            let old = self.alerts.get(&fp);
            let alert = match old {
                Some(old) => {
                    // Alertmanager merges only when the activity ranges overlap.
                    let (os, oe) = (old.starts_at, old.ends_at);
                    let overlap = incoming
                        .ends_at
                        .is_some_and(|e| e > os && oe.is_some_and(|oe| e < oe))
                        || (incoming.starts_at > os
                            && oe.is_some_and(|oe| incoming.starts_at < oe));
                    if overlap {
                        old.merge(&incoming)
                    } else {
                        incoming
                    }
                }
                None => incoming,
            };
            let before = old.map(|o| o.status_at(now));
            let after = alert.status_at(now);
            if before != Some(after) {
                let event = match after {
                    AlertStatus::Firing => HistoryEvent::Firing { value: None },
                    AlertStatus::Resolved => HistoryEvent::Resolved,
                };
                // A first sighting of an already-resolved alert is not news.
                if before.is_some() || after == AlertStatus::Firing {
                    history.push(HistoryEntry {
                        at: now,
                        fingerprint: fp,
                        labels: alert.labels.clone(),
                        event,
                    });
                }
            }
            self.alerts.insert(fp, alert.clone());
            for route in cfg.route.match_routes(&alert.labels) {
                self.insert_into_group(route, &alert, now);
            }
        }
        history
    }

    fn insert_into_group(&mut self, route: &Route, alert: &Alert, now: Timestamp) {
        let labels = route.group_by.group_labels(&alert.labels);
        let idx = match self
            .groups
            .iter()
            .position(|g| g.route_id == route.id && g.labels == labels)
        {
            Some(i) => i,
            None => {
                self.groups.push(AggrGroup {
                    route_id: route.id.clone(),
                    group_key: format!("{}:{}", route.key, format_label_set(&labels)),
                    labels,
                    alerts: BTreeMap::new(),
                    next_flush: now + route.group_wait,
                    has_flushed: false,
                    group_interval: route.group_interval,
                    in_flight: None,
                });
                self.groups.len() - 1
            }
        };
        let g = &mut self.groups[idx];
        g.alerts.insert(alert.fingerprint(), alert.clone());
        // An alert already older than group_wait is not made to wait again.
        if !g.has_flushed && alert.starts_at + route.group_wait < now {
            g.next_flush = now;
        }
    }

    /// When the next group is due; `None` when there are no groups.
    pub fn next_wakeup(&self) -> Option<Timestamp> {
        self.groups.iter().map(|g| g.next_flush).min()
    }

    /// Why an alert is muted at `now`.
    pub fn mute_mark(
        &self,
        cfg: &Config,
        silences: &[Silence],
        labels: &LabelSet,
        now: Timestamp,
    ) -> MuteMark {
        MuteMark {
            silenced_by: silenced_by(silences, labels, now),
            inhibited_by: inhibited_by(&cfg.inhibit_rules, labels, self.alerts.values(), now),
        }
    }

    /// Flushes every group that is due at `now`.
    pub fn tick(&mut self, cfg: &Config, silences: &[Silence], now: Timestamp) -> Tick {
        let mut out = Tick::default();
        self.update_marks(cfg, silences, now, &mut out.history);
        for gi in 0..self.groups.len() {
            if self.groups[gi].next_flush > now {
                continue;
            }
            let Some(route) = cfg.route.find(&self.groups[gi].route_id).cloned() else {
                // The route went away with a new configuration.
                self.groups[gi].alerts.clear();
                continue;
            };
            let due = self.groups[gi].next_flush;
            let mut next = due + route.group_interval;
            if next <= now {
                next = now + route.group_interval;
            }
            self.groups[gi].next_flush = next;
            self.groups[gi].has_flushed = true;
            self.groups[gi].group_interval = route.group_interval;
            let notes = self.flush(cfg, silences, &route, gi, now);
            out.notifications.extend(notes);
        }
        self.groups.retain(|g| !g.alerts.is_empty());
        self.alerts.retain(|_, a| !a.resolved_at(now - RESOLVED_GC));
        self.nflog.retain(|e| e.at + NFLOG_RETENTION > now);
        out
    }

    fn update_marks(
        &mut self,
        cfg: &Config,
        silences: &[Silence],
        now: Timestamp,
        history: &mut Vec<HistoryEntry>,
    ) {
        let mut marks = BTreeMap::new();
        for (fp, a) in &self.alerts {
            if a.resolved_at(now) {
                continue;
            }
            let m = self.mute_mark(cfg, silences, &a.labels, now);
            let old = self.marks.get(fp).cloned().unwrap_or_default();
            let entry = |event| HistoryEntry {
                at: now,
                fingerprint: *fp,
                labels: a.labels.clone(),
                event,
            };
            if m.silenced_by != old.silenced_by && !m.silenced_by.is_empty() {
                history.push(entry(HistoryEvent::Silenced {
                    silence_ids: m.silenced_by.clone(),
                }));
            }
            if m.inhibited_by != old.inhibited_by && !m.inhibited_by.is_empty() {
                history.push(entry(HistoryEvent::Inhibited {
                    by: m.inhibited_by.clone(),
                }));
            }
            let muted = |x: &MuteMark| !x.silenced_by.is_empty() || !x.inhibited_by.is_empty();
            if muted(&old) && !muted(&m) {
                history.push(entry(HistoryEvent::Unmuted));
            }
            if muted(&m) {
                marks.insert(*fp, m);
            }
        }
        self.marks = marks;
    }

    fn flush(
        &mut self,
        cfg: &Config,
        silences: &[Silence],
        route: &Route,
        gi: usize,
        now: Timestamp,
    ) -> Vec<Notification> {
        let g = &self.groups[gi];
        if g.alerts.is_empty() {
            return Vec::new();
        }
        let mut alerts: Vec<Alert> = g
            .alerts
            .values()
            .map(|a| {
                let mut a = a.clone();
                if !a.resolved_at(now) {
                    a.ends_at = None;
                }
                a
            })
            .collect();
        sort_alerts(&mut alerts);
        let resolved_snapshot: Vec<(Fingerprint, String)> = g
            .alerts
            .iter()
            .filter(|(_, a)| a.resolved_at(now))
            .map(|(fp, a)| (*fp, stamp(a.updated_at)))
            .collect();

        // The mute stages, in Alertmanager's order.
        alerts.retain(|a| {
            inhibited_by(&cfg.inhibit_rules, &a.labels, self.alerts.values(), now).is_empty()
        });
        let intervals = |names: &[String]| -> Vec<crate::timeinterval::TimeInterval> {
            names
                .iter()
                .filter_map(|n| cfg.time_intervals.get(n))
                .flatten()
                .cloned()
                .collect()
        };
        if !route.active_time_intervals.is_empty()
            && !any_contains(&intervals(&route.active_time_intervals), now)
        {
            alerts.clear();
        }
        if any_contains(&intervals(&route.mute_time_intervals), now) {
            alerts.clear();
        }
        alerts.retain(|a| silenced_by(silences, &a.labels, now).is_empty());

        let group_key = g.group_key.clone();
        let group_labels = g.labels.clone();
        let mut notes = Vec::new();
        if !alerts.is_empty() {
            let firing: BTreeSet<Fingerprint> = alerts
                .iter()
                .filter(|a| a.ends_at.is_none())
                .map(Alert::fingerprint)
                .collect();
            let resolved: BTreeSet<Fingerprint> = alerts
                .iter()
                .filter(|a| a.ends_at.is_some())
                .map(Alert::fingerprint)
                .collect();
            let integrations = cfg
                .receiver(&route.receiver)
                .map(|r| r.integrations.clone())
                .unwrap_or_default();
            for (idx, integ) in integrations.into_iter().enumerate() {
                let key = format!("{}/{}/{}", route.receiver, integ.kind(), idx);
                let entry = self
                    .nflog
                    .iter()
                    .find(|e| e.group_key == group_key && e.integration == key);
                if !needs_update(
                    entry,
                    &firing,
                    &resolved,
                    integ.send_resolved(),
                    route.repeat_interval,
                    now,
                ) {
                    continue;
                }
                let to_send: Vec<Alert> = if integ.send_resolved() {
                    alerts.clone()
                } else {
                    alerts
                        .iter()
                        .filter(|a| a.ends_at.is_none())
                        .cloned()
                        .collect()
                };
                let log = NflogEntry {
                    group_key: group_key.clone(),
                    integration: key.clone(),
                    firing: firing.clone(),
                    resolved: resolved.clone(),
                    at: now,
                };
                if to_send.is_empty() {
                    // Only resolved alerts for a receiver that does not want
                    // them: nothing to send, but the log must learn that
                    // the firing ones it was told of are gone.
                    self.log(log);
                    continue;
                }
                let status = if firing.is_empty() {
                    AlertStatus::Resolved
                } else {
                    AlertStatus::Firing
                };
                notes.push(Notification {
                    id: format!("{group_key}|{key}|{}", stamp(now)),
                    receiver: route.receiver.clone(),
                    integration_index: idx,
                    integration: integ,
                    group_key: group_key.clone(),
                    group_labels: group_labels.clone(),
                    route_id: route.id.clone(),
                    alerts: to_send,
                    status,
                    firing: firing.iter().copied().collect(),
                    resolved: resolved.iter().copied().collect(),
                    flushed_at: now,
                    repeat_interval: route.repeat_interval,
                });
            }
        }
        let g = &mut self.groups[gi];
        if notes.is_empty() {
            // Nothing to deliver counts as a successful flush.
            delete_if_not_modified(g, &resolved_snapshot);
        } else {
            g.in_flight = Some(InFlight {
                flushed_at: now,
                outstanding: notes.iter().map(|n| n.id.clone()).collect(),
                failed: false,
                resolved: resolved_snapshot,
            });
        }
        notes
    }

    fn log(&mut self, entry: NflogEntry) {
        self.nflog
            .retain(|e| !(e.group_key == entry.group_key && e.integration == entry.integration));
        self.nflog.push(entry);
    }

    /// Records the outcome of delivering `n` at `now`. A success enters the
    /// notification log (so it is not repeated before `repeat_interval`);
    /// once every delivery of the flush is reported, resolved alerts that
    /// were delivered leave the group. Returns the history entries.
    pub fn record_delivery(
        &mut self,
        n: &Notification,
        ok: bool,
        now: Timestamp,
    ) -> Vec<HistoryEntry> {
        let mut history = Vec::new();
        if ok {
            let key = format!(
                "{}/{}/{}",
                n.receiver,
                n.integration.kind(),
                n.integration_index
            );
            self.log(NflogEntry {
                group_key: n.group_key.clone(),
                integration: key,
                firing: n.firing.iter().copied().collect(),
                resolved: n.resolved.iter().copied().collect(),
                at: now,
            });
            for a in &n.alerts {
                history.push(HistoryEntry {
                    at: now,
                    fingerprint: a.fingerprint(),
                    labels: a.labels.clone(),
                    event: HistoryEvent::Notified {
                        receiver: n.receiver.clone(),
                        integration: n.integration.kind().to_string(),
                        group_key: n.group_key.clone(),
                        status: if a.ends_at.is_some() {
                            AlertStatus::Resolved
                        } else {
                            AlertStatus::Firing
                        },
                    },
                });
            }
        }
        let Some(g) = self
            .groups
            .iter_mut()
            .find(|g| g.group_key == n.group_key && g.route_id == n.route_id)
        else {
            return history;
        };
        let Some(f) = g.in_flight.as_mut() else {
            return history;
        };
        if !f.outstanding.remove(&n.id) {
            return history;
        }
        f.failed |= !ok;
        if f.outstanding.is_empty() {
            let failed = f.failed;
            let resolved = std::mem::take(&mut f.resolved);
            g.in_flight = None;
            if failed {
                // Undeliverable resolutions are dropped after three group
                // intervals, so a dead receiver cannot grow the group forever.
                let limit = g.group_interval * 3;
                g.alerts
                    .retain(|_, a| a.ends_at.is_none_or(|e| e + limit > now));
            } else {
                delete_if_not_modified(g, &resolved);
            }
        }
        self.groups.retain(|g| !g.alerts.is_empty());
        history
    }

    /// Re-routes every stored alert under a new configuration, as
    /// Alertmanager does on reload: groups start afresh (with their
    /// `group_wait`), the notification log is kept, so nothing already
    /// told is told again before its time.
    pub fn reload(&mut self, cfg: &Config, now: Timestamp) {
        self.groups.clear();
        let alerts: Vec<Alert> = self.alerts.values().cloned().collect();
        for a in &alerts {
            for route in cfg.route.match_routes(&a.labels) {
                self.insert_into_group(route, a, now);
            }
        }
    }
}

fn delete_if_not_modified(g: &mut AggrGroup, resolved: &[(Fingerprint, String)]) {
    for (fp, updated) in resolved {
        if g.alerts
            .get(fp)
            .is_some_and(|a| &stamp(a.updated_at) == updated)
        {
            g.alerts.remove(fp);
        }
    }
}

/// Alertmanager's `DedupStage.needsUpdate`.
fn needs_update(
    entry: Option<&NflogEntry>,
    firing: &BTreeSet<Fingerprint>,
    resolved: &BTreeSet<Fingerprint>,
    send_resolved: bool,
    repeat: time::Duration,
    now: Timestamp,
) -> bool {
    let Some(e) = entry else {
        // Never told: tell only if something fires.
        return !firing.is_empty();
    };
    if !firing.is_subset(&e.firing) {
        return true;
    }
    if firing.is_empty() {
        // All resolved: tell if the receiver was told something fired.
        return !e.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&e.resolved) {
        return true;
    }
    e.at + repeat < now
}
