//! Loading the deterministic demo cloud into an empty store, with progress, and the
//! hook through which later loops (sales history, metrics, tickets, incidents) add
//! their own demo data in the same transaction.

use std::future::Future;
use std::pin::Pin;

use cairn_domain::demo::{generate, DemoCloud};
use cairn_domain::{Entity, Kind};
use cairn_store::{NewAudit, OwnerFilter, Tx};

use crate::{App, AppError, Result};

/// Rows written per progress report.
const CHUNK: usize = 2000;

/// Something that adds demo data on top of the model: implemented by later loops.
/// It runs inside the demo's transaction, after the model is written.
pub trait DemoExtension: Send + Sync {
    /// A short name for progress output.
    fn name(&self) -> &'static str;
    /// Writes the extension's data; returns how many records it wrote.
    fn load<'a>(
        &'a self,
        tx: &'a mut Tx<'_>,
        cloud: &'a DemoCloud,
    ) -> Pin<Box<dyn Future<Output = Result<usize>> + Send + 'a>>;
}

/// Where loading stands, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub stage: &'static str,
    pub done: usize,
    pub total: usize,
}

/// What the demo load wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DemoSummary {
    pub regions: usize,
    pub zones: usize,
    pub products: usize,
    pub pools: usize,
    pub hosts: usize,
    pub merchants: usize,
    pub instances: usize,
    pub services: usize,
    pub dependencies: usize,
    pub promotions: usize,
    pub extensions: Vec<(String, usize)>,
}

struct CapacityCounts {
    entries: usize,
    promotions: usize,
    changes: usize,
}

/// The demo's two years of sales and releases per pool, the earlier occurrences of its
/// promotions that the history holds, and the hardware on order for its hot pools.
async fn load_capacity_history(
    tx: &mut Tx<'_>,
    cloud: &DemoCloud,
    today: time::Date,
    now: cairn_domain::Timestamp,
) -> Result<CapacityCounts> {
    use cairn_domain::demo_sales;
    use cairn_domain::{LedgerEntry, LedgerKind, LedgerSource};
    let sales = demo_sales::generate(cloud, today);
    let mut entries = Vec::new();
    for pool in &sales.pools {
        for (i, (&sold, &released)) in pool.sold.iter().zip(&pool.released).enumerate() {
            for (kind, units) in [(LedgerKind::Sale, sold), (LedgerKind::Release, released)] {
                if units > 0.0 {
                    entries.push(LedgerEntry {
                        pool_id: pool.pool_id.clone(),
                        day: sales.date(i),
                        kind,
                        units,
                        merchant_id: None,
                        instance_id: None,
                        source: LedgerSource::Demo,
                    });
                }
            }
        }
    }
    tx.append_ledger(&entries, now, "demo").await?;
    tx.insert_many(&sales.past_promotions).await?;
    let changes: Vec<cairn_domain::CapacityChange> = sales
        .planned_capacity_changes
        .iter()
        .map(|c| cairn_domain::CapacityChange {
            id: format!(
                "cap-{}-{}",
                c.pool_id.as_str().trim_start_matches("pool-"),
                cairn_domain::capacity::date_format::format(c.date)
            )
            .into(),
            pool_id: c.pool_id.clone(),
            date: c.date,
            units: c.delta,
            status: match c.status {
                demo_sales::ChangeStatus::Planned => cairn_domain::ChangeStatus::Planned,
                demo_sales::ChangeStatus::Done => cairn_domain::ChangeStatus::Done,
            },
            note: Some(c.note.clone()),
        })
        .collect();
    tx.insert_many(&changes).await?;
    Ok(CapacityCounts {
        entries: entries.len(),
        promotions: sales.past_promotions.len(),
        changes: changes.len(),
    })
}

fn total(c: &DemoCloud) -> usize {
    {
        c.regions.len()
            + c.zones.len()
            + c.products.len()
            + c.pools.len()
            + c.hosts.len()
            + c.merchants.len()
            + c.instances.len()
            + c.services.len()
            + c.dependencies.len()
            + c.promotions.len()
    }
}

async fn write_all<E: Entity>(
    tx: &mut Tx<'_>,
    items: &[E],
    done: &mut usize,
    total: usize,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<()> {
    for chunk in items.chunks(CHUNK) {
        tx.insert_many(chunk).await?;
        *done += chunk.len();
        progress(Progress {
            stage: E::KIND.plural(),
            done: *done,
            total,
        });
    }
    Ok(())
}

impl App {
    /// Whether the store holds no model records yet.
    pub async fn is_empty(&self) -> Result<bool> {
        for kind in Kind::ALL {
            if self.store.count(kind, &OwnerFilter::Any).await? > 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Fills an empty store with the demo cloud of `generate(today)`.
    pub async fn load_demo(
        &self,
        extensions: &[&dyn DemoExtension],
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<DemoSummary> {
        if !self.is_empty().await? {
            return Err(AppError::Conflict(
                "the store already holds a cloud; the demo loads only into an empty one".into(),
            ));
        }
        let today = self.today();
        let cloud = generate(today);
        let total = total(&cloud);
        let mut done = 0;
        let mut tx = self.store.begin().await?;
        write_all(&mut tx, &cloud.regions, &mut done, total, progress).await?;
        write_all(&mut tx, &cloud.zones, &mut done, total, progress).await?;
        write_all(&mut tx, &cloud.products, &mut done, total, progress).await?;
        write_all(&mut tx, &cloud.pools, &mut done, total, progress).await?;
        write_all(&mut tx, &cloud.hosts, &mut done, total, progress).await?;
        write_all(&mut tx, &cloud.merchants, &mut done, total, progress).await?;
        write_all(&mut tx, &cloud.instances, &mut done, total, progress).await?;
        write_all(&mut tx, &cloud.services, &mut done, total, progress).await?;
        write_all(&mut tx, &cloud.dependencies, &mut done, total, progress).await?;
        write_all(&mut tx, &cloud.promotions, &mut done, total, progress).await?;
        let mut summary = DemoSummary {
            regions: cloud.regions.len(),
            zones: cloud.zones.len(),
            products: cloud.products.len(),
            pools: cloud.pools.len(),
            hosts: cloud.hosts.len(),
            merchants: cloud.merchants.len(),
            instances: cloud.instances.len(),
            services: cloud.services.len(),
            dependencies: cloud.dependencies.len(),
            promotions: cloud.promotions.len(),
            extensions: Vec::new(),
        };
        let n = load_capacity_history(&mut tx, &cloud, today, self.now()).await?;
        summary.promotions += n.promotions;
        summary
            .extensions
            .push(("capacity ledger entries".to_owned(), n.entries));
        summary
            .extensions
            .push(("capacity changes".to_owned(), n.changes));
        progress(Progress {
            stage: "capacity ledger",
            done: total,
            total,
        });
        let incidents = crate::incidents::demo::load(&mut tx, &cloud, self.now()).await?;
        summary.extensions.push(("incidents".to_owned(), incidents));
        let changes = crate::changes::demo::load(&mut tx, &cloud, self.now()).await?;
        summary.extensions.push(("changes".to_owned(), changes));
        let loaded = crate::tickets::demo::load(&mut tx, today).await?;
        summary
            .extensions
            .push(("tickets".to_owned(), loaded.tickets.len()));
        summary
            .extensions
            .push(("knowledge base articles".to_owned(), loaded.articles.len()));
        progress(Progress {
            stage: "tickets",
            done: total,
            total,
        });
        for ext in extensions {
            let n = ext.load(&mut tx, &cloud).await?;
            progress(Progress {
                stage: ext.name(),
                done: total,
                total,
            });
            summary.extensions.push((ext.name().to_owned(), n));
        }
        // One audit entry for the whole load: the demo's records are generated, not
        // anybody's edits, and their ids are listed by the model itself.
        tx.audit(NewAudit {
            at: self.now(),
            actor: "demo",
            action: "demo",
            kind: "cloud",
            record_id: "demo",
            before: None,
            after: Some(serde_json::to_value(&summary).unwrap_or_default()),
        })
        .await?;
        tx.commit().await?;
        self.capacity.touch();
        if self.tickets.is_some() {
            self.reindex_if_empty().await?;
        }
        Ok(summary)
    }
}
