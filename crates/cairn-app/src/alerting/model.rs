//! The model as the alerting core asks about it: a snapshot of hosts, pools, zones,
//! services, dependencies, merchants and where their instances sit, so each alert can
//! name the merchants it hurts (VIPs first) and problems can follow the topology.
//! Rebuilt at most every [`MAX_AGE`]; alerts are read far more often than the model
//! changes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cairn_alert::problems::{AffectedMerchant, Edge, Model};
use cairn_domain::{
    Dependency, Host, HostId, Instance, InstanceState, Merchant, MerchantId, Pool, PoolId, Service,
    ServiceId, Zone, ZoneId,
};
use cairn_store::OwnerFilter;

use crate::{App, Result};

/// How old a snapshot may be before it is rebuilt.
pub const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(30);

/// The snapshot.
#[derive(Default)]
pub struct ModelSnapshot {
    hosts: HashMap<String, (Option<PoolId>, ZoneId)>,
    /// The host part of an exporter address → host id.
    by_address: HashMap<String, HostId>,
    pools: HashMap<String, ZoneId>,
    zones: HashMap<String, ()>,
    services: HashMap<String, (String, Option<MerchantId>)>,
    merchants: HashMap<String, Merchant>,
    /// Live instances: (merchant, host, pool).
    instances: Vec<(MerchantId, Option<HostId>, PoolId)>,
    pub edges: Vec<Edge>,
    /// Callee → callers, for what depends on a failing service.
    callers: HashMap<String, Vec<String>>,
}

impl ModelSnapshot {
    /// Every service that calls `s`, directly or through others.
    fn upstream(&self, s: &str) -> Vec<String> {
        let mut seen = std::collections::BTreeSet::new();
        let mut queue = vec![s.to_owned()];
        while let Some(x) = queue.pop() {
            for c in self.callers.get(&x).into_iter().flatten() {
                if seen.insert(c.clone()) {
                    queue.push(c.clone());
                }
            }
        }
        seen.into_iter().collect()
    }

    /// How many services depend on `s`, directly or through others.
    pub fn dependants(&self, s: &str) -> usize {
        self.upstream(s).len()
    }

    pub fn service_name(&self, id: &str) -> Option<String> {
        self.services.get(id).map(|(n, _)| n.clone())
    }
}

fn host_part(address: &str) -> &str {
    match address.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => address,
    }
}

impl Model for ModelSnapshot {
    fn host(&self, name: &str) -> Option<HostId> {
        if self.hosts.contains_key(name) {
            return Some(HostId::new(name));
        }
        self.by_address.get(host_part(name)).cloned()
    }

    fn host_pool(&self, host: &HostId) -> Option<PoolId> {
        self.hosts.get(host.as_str()).and_then(|(p, _)| p.clone())
    }

    fn host_zone(&self, host: &HostId) -> Option<ZoneId> {
        self.hosts.get(host.as_str()).map(|(_, z)| z.clone())
    }

    fn service(&self, id: &str) -> Option<ServiceId> {
        self.services.contains_key(id).then(|| ServiceId::new(id))
    }

    fn pool(&self, id: &str) -> Option<PoolId> {
        self.pools.contains_key(id).then(|| PoolId::new(id))
    }

    fn pool_zone(&self, pool: &PoolId) -> Option<ZoneId> {
        self.pools.get(pool.as_str()).cloned()
    }

    fn zone(&self, id: &str) -> Option<ZoneId> {
        self.zones.contains_key(id).then(|| ZoneId::new(id))
    }

    fn merchant(&self, id: &str) -> Option<AffectedMerchant> {
        self.merchants.get(id).map(|m| AffectedMerchant {
            id: m.id.clone(),
            name: m.name.clone(),
            tier: m.tier,
            instances: self
                .instances
                .iter()
                .filter(|(mid, ..)| mid == &m.id)
                .count(),
        })
    }

    fn merchants_on(
        &self,
        hosts: &[HostId],
        pools: &[PoolId],
        services: &[ServiceId],
    ) -> Vec<AffectedMerchant> {
        let mut count: BTreeMap<&MerchantId, usize> = BTreeMap::new();
        for (m, h, p) in &self.instances {
            let on_host = h.as_ref().is_some_and(|h| hosts.contains(h));
            // A pool counts for instances without a host (managed products); hosts
            // name the machines precisely when they are known.
            let in_pool = pools.contains(p) && (hosts.is_empty() || h.is_none());
            if on_host || in_pool {
                *count.entry(m).or_default() += 1;
            }
        }
        // A failing service hurts its owner and the owners of every service that
        // depends on it, however far up the chain: the full-chain view.
        for s in services {
            let mut chain = self.upstream(s.as_str());
            chain.push(s.to_string());
            for x in chain {
                if let Some((_, Some(m))) = self.services.get(x.as_str()) {
                    count.entry(m).or_default();
                }
            }
        }
        count
            .into_iter()
            .filter_map(|(m, n)| {
                self.merchants.get(m.as_str()).map(|mm| AffectedMerchant {
                    id: mm.id.clone(),
                    name: mm.name.clone(),
                    tier: mm.tier,
                    instances: n,
                })
            })
            .collect()
    }
}

/// The cached snapshot and when it was built.
#[derive(Default)]
pub struct ModelCache {
    snapshot: tokio::sync::Mutex<Option<(std::time::Instant, Arc<ModelSnapshot>)>>,
}

impl App {
    /// The model snapshot, rebuilt when older than [`MAX_AGE`].
    pub async fn alert_model(&self) -> Result<Arc<ModelSnapshot>> {
        let mut slot = self.model_cache.snapshot.lock().await;
        if let Some((at, s)) = slot.as_ref() {
            if at.elapsed() < MAX_AGE {
                return Ok(s.clone());
            }
        }
        let any = OwnerFilter::Any;
        let mut snap = ModelSnapshot::default();
        for h in self.store.all::<Host>(&any).await? {
            if let Some(e) = &h.exporter {
                snap.by_address
                    .insert(host_part(e).to_owned(), h.id.clone());
            }
            snap.hosts
                .insert(h.id.to_string(), (h.pool_id.clone(), h.zone_id.clone()));
        }
        for p in self.store.all::<Pool>(&any).await? {
            snap.pools.insert(p.id.to_string(), p.zone_id.clone());
        }
        for z in self.store.all::<Zone>(&any).await? {
            snap.zones.insert(z.id.to_string(), ());
        }
        for s in self.store.all::<Service>(&any).await? {
            snap.services
                .insert(s.id.to_string(), (s.name.clone(), s.merchant_id.clone()));
        }
        for m in self.store.all::<Merchant>(&any).await? {
            snap.merchants.insert(m.id.to_string(), m);
        }
        for i in self.store.all::<Instance>(&any).await? {
            if i.state != InstanceState::Released {
                snap.instances.push((i.merchant_id, i.host_id, i.pool_id));
            }
        }
        snap.edges = self
            .store
            .all::<Dependency>(&any)
            .await?
            .into_iter()
            .map(|d| Edge {
                caller: d.from_service_id,
                callee: d.to_service_id,
            })
            .collect();
        for e in &snap.edges {
            snap.callers
                .entry(e.callee.to_string())
                .or_default()
                .push(e.caller.to_string());
        }
        let snap = Arc::new(snap);
        *slot = Some((std::time::Instant::now(), snap.clone()));
        Ok(snap)
    }
}
