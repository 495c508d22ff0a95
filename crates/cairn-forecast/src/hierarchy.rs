//! Coherent roll-ups of pool forecasts to products, zones, regions and the whole cloud.
//!
//! Bottom-up on sample paths: path i of an aggregate is the sum of path i of its pools.
//! Means then add up exactly (the mean is linear), and the intervals of an aggregate are
//! honest quantiles of its own total, not sums of the pools' quantiles, which would
//! overstate its spread. The pools' paths share promotion draws (see
//! [`crate::demand`]), so the correlation a promotion induces between pools is kept;
//! their day-to-day noise is drawn independently, which is the usual simplification of
//! bottom-up reconciliation.

use std::collections::BTreeMap;

use time::Date;

use cairn_domain::{PoolId, ProductId, RegionId, ZoneId};

use crate::demand::SamplePaths;

/// Where a pool sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolPlace {
    pub pool_id: PoolId,
    pub product_id: ProductId,
    pub zone_id: ZoneId,
    pub region_id: RegionId,
}

/// The level of an aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Level {
    Product,
    Zone,
    Region,
    /// Per product within a region: what a region's planners order for.
    RegionProduct,
    Total,
}

/// One day of an aggregate forecast.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Band {
    pub date: Date,
    pub mean: f64,
    pub lo80: f64,
    pub hi80: f64,
    pub lo95: f64,
    pub hi95: f64,
}

/// Bands from sample paths.
pub fn bands(paths: &SamplePaths) -> Vec<Band> {
    let mean = paths.mean();
    let q: Vec<Vec<f64>> = [0.1, 0.9, 0.025, 0.975]
        .iter()
        .map(|&q| paths.quantiles(q))
        .collect();
    (0..paths.horizon())
        .map(|d| Band {
            date: paths.date(d),
            mean: mean[d],
            lo80: q[0][d],
            hi80: q[1][d],
            lo95: q[2][d],
            hi95: q[3][d],
        })
        .collect()
}

/// An aggregate: its level, key (the product, zone or region id; `region/product`;
/// `all`), the pools it sums, its paths and bands.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollup {
    pub level: Level,
    pub key: String,
    pub pools: Vec<PoolId>,
    pub paths: SamplePaths,
    pub days: Vec<Band>,
}

/// Rolls pool paths up to every product, zone, region, region × product and the total.
/// All pools' paths must start on the same day with the same horizon and path count.
pub fn roll_up(pools: &[(PoolPlace, &SamplePaths)]) -> Vec<Rollup> {
    let Some((_, first)) = pools.first() else {
        return Vec::new();
    };
    let (start, horizon) = (first.start, first.horizon());
    let mut groups: BTreeMap<(Level, String), Vec<usize>> = BTreeMap::new();
    for (i, (place, _)) in pools.iter().enumerate() {
        for key in [
            (Level::Product, place.product_id.to_string()),
            (Level::Zone, place.zone_id.to_string()),
            (Level::Region, place.region_id.to_string()),
            (
                Level::RegionProduct,
                format!("{}/{}", place.region_id, place.product_id),
            ),
            (Level::Total, "all".to_owned()),
        ] {
            groups.entry(key).or_default().push(i);
        }
    }
    groups
        .into_iter()
        .map(|((level, key), members)| {
            let paths = SamplePaths::sum(start, horizon, members.iter().map(|&i| pools[i].1));
            Rollup {
                level,
                key,
                pools: members
                    .iter()
                    .map(|&i| pools[i].0.pool_id.clone())
                    .collect(),
                days: bands(&paths),
                paths,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::stats::Rng;

    fn place(pool: &str, product: &str, zone: &str, region: &str) -> PoolPlace {
        PoolPlace {
            pool_id: pool.into(),
            product_id: product.into(),
            zone_id: zone.into(),
            region_id: region.into(),
        }
    }

    fn noisy(seed: u64, level: f64) -> SamplePaths {
        let mut rng = Rng::new(seed);
        SamplePaths {
            start: date!(2026 - 03 - 01),
            paths: (0..200)
                .map(|_| {
                    (0..10)
                        .map(|_| level * (0.3 * rng.normal()).exp())
                        .collect()
                })
                .collect(),
        }
    }

    #[test]
    fn roll_ups_add_up_and_are_narrower_than_summed_quantiles() {
        let a = noisy(1, 10.0);
        let b = noisy(2, 20.0);
        let c = noisy(3, 5.0);
        let pools = [
            (place("ecs-hz-g", "ecs", "hz-g", "hz"), &a),
            (place("ecs-hz-h", "ecs", "hz-h", "hz"), &b),
            (place("rds-sh-e", "rds", "sh-e", "sh"), &c),
        ];
        let r = roll_up(&pools);
        let get = |level, key: &str| r.iter().find(|x| x.level == level && x.key == key).unwrap();
        let total = get(Level::Total, "all");
        let ecs = get(Level::Product, "ecs");
        let rds = get(Level::Product, "rds");
        let hz = get(Level::Region, "hz");
        assert_eq!(ecs.pools.len(), 2);
        let (ma, mb, mc) = (a.mean(), b.mean(), c.mean());
        for d in 0..10 {
            let parts = ma[d] + mb[d] + mc[d];
            assert!((total.days[d].mean - parts).abs() < 1e-9);
            assert!((ecs.days[d].mean + rds.days[d].mean - total.days[d].mean).abs() < 1e-9);
            assert!((hz.days[d].mean - ecs.days[d].mean).abs() < 1e-9);
            // Independent noise partly cancels: the total's 95% band is narrower than
            // the sum of the pools' bands.
            let summed: f64 = [&a, &b, &c]
                .iter()
                .map(|p| p.quantiles(0.975)[d] - p.quantiles(0.025)[d])
                .sum();
            assert!(total.days[d].hi95 - total.days[d].lo95 < summed);
        }
    }
}
