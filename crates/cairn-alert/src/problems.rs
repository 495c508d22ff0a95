//! Full chain: alerts joined to cairn's model, and concurrent alerts on
//! dependent services grouped into problems with a probable root.
//!
//! **Problems.** Failing services (those with firing alerts) that depend on
//! one another, directly or through other services, form one problem. Its
//! probable root is the most upstream failing dependency: a failing service
//! none of whose own dependencies (transitively) is failing, since a failure
//! there explains failures of its callers and nothing failing explains it.
//! When several candidates remain, the one that explains the most failing
//! services wins, then the one with the most alerts, then the smallest id,
//! so the answer never depends on input order. The explanation walks the
//! dependency path from the farthest failing caller down to the root
//! ("checkout → payment → mysql-primary"), naming healthy services on the
//! way as such.
//!
//! **Impact.** [`impact`] reads an alert's labels (`instance`, `host`,
//! `hostname`, `node`, `service`, `pool`, `zone`, `merchant`) and asks the
//! app's [`Model`] what they refer to and which merchants have instances
//! there, VIPs first. The trait keeps this crate free of storage.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use cairn_domain::{HostId, MerchantId, PoolId, ServiceId, Tier, ZoneId};
use serde::{Deserialize, Serialize};

use crate::labels::{Fingerprint, LabelSet};

/// A firing alert and the services it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertOnServices {
    pub fingerprint: Fingerprint,
    pub services: Vec<ServiceId>,
}

/// A dependency edge: `caller` calls (depends on) `callee`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    pub caller: ServiceId,
    pub callee: ServiceId,
}

/// Concurrent alerts that are one problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The alerts, sorted.
    pub alerts: Vec<Fingerprint>,
    /// The failing services, sorted.
    pub services: Vec<ServiceId>,
    /// The probable root; `None` for alerts tied to no service.
    pub root: Option<ServiceId>,
    /// Other failing services that also have no failing dependency.
    pub other_candidates: Vec<ServiceId>,
    /// From the farthest failing caller to the root.
    pub path: Vec<ServiceId>,
    /// `checkout → payment (healthy) → mysql-primary`.
    pub explanation: String,
}

struct Graph<'a> {
    callees: BTreeMap<&'a ServiceId, BTreeSet<&'a ServiceId>>,
}

impl<'a> Graph<'a> {
    fn new(edges: &'a [Edge]) -> Self {
        let mut callees: BTreeMap<&ServiceId, BTreeSet<&ServiceId>> = BTreeMap::new();
        for e in edges {
            callees.entry(&e.caller).or_default().insert(&e.callee);
        }
        Graph { callees }
    }

    /// Every service reachable from `s` (not `s` itself unless on a cycle).
    fn downstream(&self, s: &'a ServiceId) -> BTreeSet<&'a ServiceId> {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<&ServiceId> = VecDeque::from([s]);
        while let Some(x) = queue.pop_front() {
            for c in self.callees.get(x).into_iter().flatten() {
                if seen.insert(*c) {
                    queue.push_back(c);
                }
            }
        }
        seen
    }

    /// A shortest path from `a` to `b`, preferring smaller ids on ties.
    fn path(&self, a: &'a ServiceId, b: &'a ServiceId) -> Vec<&'a ServiceId> {
        let mut prev: BTreeMap<&ServiceId, &ServiceId> = BTreeMap::new();
        let mut queue = VecDeque::from([a]);
        let mut seen = BTreeSet::from([a]);
        while let Some(x) = queue.pop_front() {
            if x == b {
                break;
            }
            for c in self.callees.get(x).into_iter().flatten() {
                if seen.insert(*c) {
                    prev.insert(c, x);
                    queue.push_back(c);
                }
            }
        }
        let mut path = vec![b];
        let mut cur = b;
        while cur != a {
            match prev.get(cur) {
                Some(p) => {
                    path.push(p);
                    cur = p;
                }
                None => return vec![b],
            }
        }
        path.reverse();
        path
    }
}

/// Groups concurrent alerts into problems. Problems come sorted by their
/// first alert, each with its alerts and services sorted.
pub fn correlate(alerts: &[AlertOnServices], edges: &[Edge]) -> Vec<Problem> {
    let g = Graph::new(edges);
    let failing: BTreeSet<&ServiceId> = alerts.iter().flat_map(|a| &a.services).collect();
    let down: BTreeMap<&ServiceId, BTreeSet<&ServiceId>> = failing
        .iter()
        .map(|s| {
            (
                *s,
                g.downstream(s)
                    .into_iter()
                    .filter(|x| failing.contains(x) && x != s)
                    .collect(),
            )
        })
        .collect();

    // Union-find over failing services: joined when one reaches the other,
    // or when one alert names both.
    let idx: BTreeMap<&ServiceId, usize> =
        failing.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let mut parent: Vec<usize> = (0..failing.len()).collect();
    fn find(p: &mut [usize], x: usize) -> usize {
        let mut r = x;
        while p[r] != r {
            r = p[r];
        }
        let mut c = x;
        while p[c] != r {
            let n = p[c];
            p[c] = r;
            c = n;
        }
        r
    }
    let mut union = |a: usize, b: usize| {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    };
    for (s, ds) in &down {
        for d in ds {
            union(idx[s], idx[d]);
        }
    }
    for a in alerts {
        for w in a.services.windows(2) {
            union(idx[&w[0]], idx[&w[1]]);
        }
    }

    let mut by_comp: BTreeMap<usize, (BTreeSet<Fingerprint>, BTreeSet<&ServiceId>)> =
        BTreeMap::new();
    let mut loose = Vec::new();
    let mut alert_count: BTreeMap<&ServiceId, usize> = BTreeMap::new();
    for a in alerts {
        let Some(first) = a.services.first() else {
            loose.push(a.fingerprint);
            continue;
        };
        let c = find(&mut parent, idx[first]);
        let e = by_comp.entry(c).or_default();
        e.0.insert(a.fingerprint);
        for s in &a.services {
            e.1.insert(s);
            *alert_count.entry(s).or_default() += 1;
        }
    }

    let mut problems: Vec<Problem> = by_comp
        .into_values()
        .map(|(fps, services)| {
            let mut candidates: Vec<&ServiceId> = services
                .iter()
                .copied()
                .filter(|s| down[s].is_empty())
                .collect();
            if candidates.is_empty() {
                // Only on a dependency cycle: the services with the fewest
                // failing dependencies are the best guess.
                let min = services.iter().map(|s| down[s].len()).min().unwrap_or(0);
                candidates = services
                    .iter()
                    .copied()
                    .filter(|s| down[s].len() == min)
                    .collect();
            }
            let explains = |c: &ServiceId| services.iter().filter(|s| down[*s].contains(c)).count();
            candidates.sort_by(|a, b| {
                explains(b)
                    .cmp(&explains(a))
                    .then(alert_count[b].cmp(&alert_count[a]))
                    .then(a.cmp(b))
            });
            let root = candidates[0];
            // The farthest failing caller that reaches the root.
            let start = services
                .iter()
                .copied()
                .filter(|s| down[*s].contains(root))
                .map(|s| (g.path(s, root).len(), s))
                .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(a.1)))
                .map(|(_, s)| s)
                .unwrap_or(root);
            let path: Vec<ServiceId> = g.path(start, root).into_iter().cloned().collect();
            let explanation = path
                .iter()
                .map(|s| {
                    if failing.contains(s) {
                        s.to_string()
                    } else {
                        format!("{s} (healthy)")
                    }
                })
                .collect::<Vec<_>>()
                .join(" → ");
            Problem {
                alerts: fps.into_iter().collect(),
                services: services.into_iter().cloned().collect(),
                root: Some(root.clone()),
                other_candidates: candidates[1..].iter().map(|s| (*s).clone()).collect(),
                path,
                explanation,
            }
        })
        .collect();
    problems.extend(loose.into_iter().map(|fp| Problem {
        alerts: vec![fp],
        services: Vec::new(),
        root: None,
        other_candidates: Vec::new(),
        path: Vec::new(),
        explanation: String::new(),
    }));
    problems.sort_by(|a, b| a.alerts.cmp(&b.alerts));
    problems
}

/// A merchant an alert affects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedMerchant {
    pub id: MerchantId,
    pub name: String,
    pub tier: Tier,
    /// Its instances on the affected hosts, pools or services.
    pub instances: usize,
}

/// What the app's model answers; implemented over its store.
pub trait Model {
    /// A host by id, or by the host part of an exporter address.
    fn host(&self, name: &str) -> Option<HostId>;
    fn host_pool(&self, host: &HostId) -> Option<PoolId>;
    fn host_zone(&self, host: &HostId) -> Option<ZoneId>;
    fn service(&self, id: &str) -> Option<ServiceId>;
    fn pool(&self, id: &str) -> Option<PoolId>;
    fn pool_zone(&self, pool: &PoolId) -> Option<ZoneId>;
    fn zone(&self, id: &str) -> Option<ZoneId>;
    fn merchant(&self, id: &str) -> Option<AffectedMerchant>;
    /// Merchants with instances on these hosts, in these pools, or owning
    /// these services, with how many instances each.
    fn merchants_on(
        &self,
        hosts: &[HostId],
        pools: &[PoolId],
        services: &[ServiceId],
    ) -> Vec<AffectedMerchant>;
}

/// What an alert touches in the model.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Impact {
    pub hosts: Vec<HostId>,
    pub pools: Vec<PoolId>,
    pub zones: Vec<ZoneId>,
    pub services: Vec<ServiceId>,
    /// VIPs first, then by instances (most first), then by id.
    pub merchants: Vec<AffectedMerchant>,
    pub merchant_count: usize,
    pub vip_count: usize,
}

/// The host part of `instance` (`db-1:9100`, `[::1]:9100`, `10.0.0.1`).
fn strip_port(instance: &str) -> &str {
    if let Some(rest) = instance.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match instance.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => instance,
    }
}

/// Joins an alert's labels to the model.
pub fn impact(labels: &LabelSet, model: &dyn Model) -> Impact {
    let mut hosts = BTreeSet::new();
    let mut pools = BTreeSet::new();
    let mut zones = BTreeSet::new();
    let mut services = BTreeSet::new();
    let mut merchants: BTreeMap<MerchantId, AffectedMerchant> = BTreeMap::new();
    for key in ["host", "hostname", "node", "nodename", "instance"] {
        if let Some(v) = labels.get(key) {
            if let Some(h) = model.host(v).or_else(|| model.host(strip_port(v))) {
                hosts.insert(h);
            }
        }
    }
    if let Some(s) = labels.get("service").and_then(|v| model.service(v)) {
        services.insert(s);
    }
    if let Some(p) = labels.get("pool").and_then(|v| model.pool(v)) {
        pools.insert(p);
    }
    if let Some(z) = labels.get("zone").and_then(|v| model.zone(v)) {
        zones.insert(z);
    }
    for h in &hosts {
        if let Some(p) = model.host_pool(h) {
            pools.insert(p);
        }
        if let Some(z) = model.host_zone(h) {
            zones.insert(z);
        }
    }
    for p in &pools {
        if let Some(z) = model.pool_zone(p) {
            zones.insert(z);
        }
    }
    let hosts: Vec<HostId> = hosts.into_iter().collect();
    let pools: Vec<PoolId> = pools.into_iter().collect();
    let services: Vec<ServiceId> = services.into_iter().collect();
    // A host names the merchants on it; a pool without a host names all of
    // the pool's merchants, which is what a pool-wide alert means.
    let pools_for_merchants: Vec<PoolId> = if hosts.is_empty() {
        pools.clone()
    } else {
        Vec::new()
    };
    for m in model.merchants_on(&hosts, &pools_for_merchants, &services) {
        merchants.entry(m.id.clone()).or_insert(m);
    }
    if let Some(m) = labels.get("merchant").and_then(|v| model.merchant(v)) {
        merchants.entry(m.id.clone()).or_insert(m);
    }
    let mut merchants: Vec<AffectedMerchant> = merchants.into_values().collect();
    merchants.sort_by(|a, b| {
        (b.tier == Tier::Vip)
            .cmp(&(a.tier == Tier::Vip))
            .then(b.instances.cmp(&a.instances))
            .then(a.id.cmp(&b.id))
    });
    Impact {
        vip_count: merchants.iter().filter(|m| m.tier == Tier::Vip).count(),
        merchant_count: merchants.len(),
        hosts,
        pools,
        zones: zones.into_iter().collect(),
        services,
        merchants,
    }
}
