//! The overview: the cloud as regions → zones → pools with usage, and counts, as far as
//! the principal may see it.

use std::collections::HashMap;

use cairn_domain::access::Scope;
use cairn_domain::{Kind, Pool, Principal, Product, Region, Zone};
use cairn_store::OwnerFilter;
use serde::Serialize;

use crate::records::read_filter;
use crate::{App, Result};

#[derive(Debug, Clone, Serialize)]
pub struct PoolUsage {
    pub pool: Pool,
    pub product: String,
    pub unit: String,
    pub used: f64,
}

impl PoolUsage {
    /// Used share of capacity, 0..=1 (above 1 when oversold).
    pub fn ratio(&self) -> f64 {
        if self.pool.capacity > 0.0 {
            self.used / self.pool.capacity
        } else {
            0.0
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ZoneView {
    pub zone: Zone,
    pub pools: Vec<PoolUsage>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegionView {
    pub region: Region,
    pub zones: Vec<ZoneView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// Record counts by kind, for the kinds the principal may read.
    pub counts: Vec<(String, u64)>,
    pub regions: Vec<RegionView>,
}

impl App {
    pub async fn overview(&self, p: &Principal) -> Result<Overview> {
        let mut counts = Vec::new();
        for kind in Kind::ALL {
            if let Ok(owner) = read_filter(p, kind) {
                counts.push((
                    kind.plural().to_owned(),
                    self.store.count(kind, &owner).await?,
                ));
            }
        }
        let regions = self.store.all::<Region>(&OwnerFilter::Any).await?;
        let zones = self.store.all::<Zone>(&OwnerFilter::Any).await?;
        let show_pools = p.read_scope(Kind::Pool) == Scope::All;
        let (pools, products, usage) = if show_pools {
            (
                self.store.all::<Pool>(&OwnerFilter::Any).await?,
                self.store.all::<Product>(&OwnerFilter::Any).await?,
                self.store
                    .pool_usage()
                    .await?
                    .into_iter()
                    .collect::<HashMap<_, _>>(),
            )
        } else {
            Default::default()
        };
        let products: HashMap<_, _> = products.into_iter().map(|p| (p.id.clone(), p)).collect();
        let regions = regions
            .into_iter()
            .map(|region| RegionView {
                zones: zones
                    .iter()
                    .filter(|z| z.region_id == region.id)
                    .map(|zone| ZoneView {
                        pools: pools
                            .iter()
                            .filter(|pl| pl.zone_id == zone.id)
                            .map(|pl| {
                                let prod = products.get(&pl.product_id);
                                PoolUsage {
                                    pool: pl.clone(),
                                    product: prod.map(|p| p.name.clone()).unwrap_or_default(),
                                    unit: prod.map(|p| p.unit.clone()).unwrap_or_default(),
                                    used: usage.get(pl.id.as_str()).copied().unwrap_or(0.0),
                                }
                            })
                            .collect(),
                        zone: zone.clone(),
                    })
                    .collect(),
                region,
            })
            .collect();
        Ok(Overview { counts, regions })
    }
}
