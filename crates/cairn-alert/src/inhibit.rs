//! Inhibition: a firing source alert mutes matching target alerts that
//! share the values of the `equal` labels (Alertmanager's `inhibit.go`).

use crate::alert::Alert;
use crate::config::InhibitRule;
use crate::labels::{Fingerprint, LabelSet};
use crate::Timestamp;

/// The alerts inhibiting `target` at `now` (empty when none), taking the
/// candidate sources from `alerts`.
///
/// As in Alertmanager: a missing label compares equal to a missing label,
/// resolved sources inhibit nothing, and when the target itself matches a
/// rule's source side, only sources that do not also match the target side
/// count, so an alert never inhibits itself (or its peers) through a rule
/// whose two sides overlap.
pub fn inhibited_by<'a>(
    rules: &[InhibitRule],
    target: &LabelSet,
    alerts: impl Iterator<Item = &'a Alert> + Clone,
    now: Timestamp,
) -> Vec<Fingerprint> {
    let mut by = Vec::new();
    for rule in rules {
        if !rule.target_matchers.matches(target) {
            continue;
        }
        let two_sided = rule.source_matchers.matches(target);
        let hit = alerts.clone().find(|a| {
            !a.resolved_at(now)
                && rule.source_matchers.matches(&a.labels)
                && rule.equal.iter().all(|l| a.labels.get(l) == target.get(l))
                && !(two_sided && rule.target_matchers.matches(&a.labels))
        });
        if let Some(a) = hit {
            by.push(a.fingerprint());
        }
    }
    by.sort();
    by.dedup();
    by
}
