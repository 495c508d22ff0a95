//! The catalogue of entity kinds. Storage, the JSON API, bulk import, the OpenAPI
//! document and the UI are all driven by this one table, so adding a field means
//! changing the entity, this catalogue and the two migrations — nothing else.

use serde::{de::DeserializeOwned, Serialize};

use crate::{DomainError, MerchantId};

/// Every kind of record in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Region,
    Zone,
    Product,
    Pool,
    Host,
    Merchant,
    Instance,
    Service,
    Dependency,
    Promotion,
    ScrapeTarget,
    CapacityChange,
    Reservation,
    AnomalyRule,
}

/// How a column is stored. Timestamps are stored as RFC 3339 text in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Real,
    Integer,
    Bool,
}

/// One stored field of an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    /// Whether list endpoints accept `?name=value` on this column.
    pub filter: bool,
    /// Whether the value may be absent.
    pub nullable: bool,
    /// The kind this column refers to, if it is a reference.
    pub references: Option<Kind>,
}

const fn col(name: &'static str, ty: ColumnType) -> Column {
    Column {
        name,
        ty,
        filter: false,
        nullable: false,
        references: None,
    }
}

impl Column {
    const fn filter(mut self) -> Self {
        self.filter = true;
        self
    }
    const fn nullable(mut self) -> Self {
        self.nullable = true;
        self
    }
    const fn refs(mut self, kind: Kind) -> Self {
        self.references = Some(kind);
        self.filter = true;
        self
    }
}

use ColumnType::*;

/// What a merchant's token may see of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// The shared catalogue (regions, zones, products): every role reads it.
    Catalog,
    /// The platform's own infrastructure (pools, hosts): never shown to merchants.
    Infrastructure,
    /// Records that belong to exactly one merchant: a merchant sees its own only.
    Owned,
    /// Records that may belong to a merchant or to everyone (promotions): a merchant
    /// sees the shared ones and its own.
    OwnedOrShared,
}

impl Kind {
    pub const ALL: [Kind; 14] = [
        Kind::Region,
        Kind::Zone,
        Kind::Product,
        Kind::Pool,
        Kind::Host,
        Kind::Merchant,
        Kind::Instance,
        Kind::Service,
        Kind::Dependency,
        Kind::Promotion,
        Kind::ScrapeTarget,
        Kind::CapacityChange,
        Kind::Reservation,
        Kind::AnomalyRule,
    ];

    /// The plural used in routes (`/api/v1/pools`), table names and import files.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Region => "regions",
            Kind::Zone => "zones",
            Kind::Product => "products",
            Kind::Pool => "pools",
            Kind::Host => "hosts",
            Kind::Merchant => "merchants",
            Kind::Instance => "instances",
            Kind::Service => "services",
            Kind::Dependency => "dependencies",
            Kind::Promotion => "promotions",
            Kind::ScrapeTarget => "scrape-targets",
            Kind::CapacityChange => "capacity-changes",
            Kind::Reservation => "reservations",
            Kind::AnomalyRule => "anomaly-rules",
        }
    }

    /// The table that stores the kind: the plural with `_` for `-`.
    pub fn table(self) -> &'static str {
        match self {
            Kind::ScrapeTarget => "scrape_targets",
            Kind::CapacityChange => "capacity_changes",
            Kind::AnomalyRule => "anomaly_rules",
            other => other.plural(),
        }
    }

    /// The singular, for messages.
    pub fn singular(self) -> &'static str {
        match self {
            Kind::Region => "region",
            Kind::Zone => "zone",
            Kind::Product => "product",
            Kind::Pool => "pool",
            Kind::Host => "host",
            Kind::Merchant => "merchant",
            Kind::Instance => "instance",
            Kind::Service => "service",
            Kind::Dependency => "dependency",
            Kind::Promotion => "promotion",
            Kind::ScrapeTarget => "scrape target",
            Kind::CapacityChange => "capacity change",
            Kind::Reservation => "reservation",
            Kind::AnomalyRule => "anomaly rule",
        }
    }

    pub fn from_plural(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.plural() == s)
    }

    /// The prefix of generated ids (`pool-3f9a...`).
    pub fn id_prefix(self) -> &'static str {
        match self {
            Kind::Region => "rg",
            Kind::Zone => "zone",
            Kind::Product => "prod",
            Kind::Pool => "pool",
            Kind::Host => "host",
            Kind::Merchant => "m",
            Kind::Instance => "i",
            Kind::Service => "svc",
            Kind::Dependency => "dep",
            Kind::Promotion => "promo",
            Kind::ScrapeTarget => "scrape",
            Kind::CapacityChange => "cap",
            Kind::Reservation => "resv",
            Kind::AnomalyRule => "anomaly",
        }
    }

    pub fn visibility(self) -> Visibility {
        match self {
            Kind::Region | Kind::Zone | Kind::Product => Visibility::Catalog,
            Kind::Pool
            | Kind::Host
            | Kind::ScrapeTarget
            | Kind::CapacityChange
            | Kind::Reservation
            | Kind::AnomalyRule => Visibility::Infrastructure,
            Kind::Merchant | Kind::Instance | Kind::Service | Kind::Dependency => Visibility::Owned,
            Kind::Promotion => Visibility::OwnedOrShared,
        }
    }

    /// The column that names the owning merchant, if the kind has one.
    /// For merchants themselves it is the id.
    pub fn owner_column(self) -> Option<&'static str> {
        match self {
            Kind::Merchant => Some("id"),
            Kind::Instance | Kind::Service | Kind::Dependency | Kind::Promotion => {
                Some("merchant_id")
            }
            _ => None,
        }
    }

    /// The stored columns, in table order. `id` is always first.
    pub fn columns(self) -> &'static [Column] {
        const REGION: &[Column] = &[col("id", Text), col("name", Text).filter()];
        const ZONE: &[Column] = &[
            col("id", Text),
            col("region_id", Text).refs(Kind::Region),
            col("name", Text).filter(),
        ];
        const PRODUCT: &[Column] = &[
            col("id", Text),
            col("name", Text).filter(),
            col("unit", Text),
            col("lead_time_days", Integer),
            col("description", Text).nullable(),
        ];
        const POOL: &[Column] = &[
            col("id", Text),
            col("product_id", Text).refs(Kind::Product),
            col("zone_id", Text).refs(Kind::Zone),
            col("capacity", Real),
        ];
        const HOST: &[Column] = &[
            col("id", Text),
            col("zone_id", Text).refs(Kind::Zone),
            col("rack", Text).filter(),
            col("pool_id", Text).nullable().refs(Kind::Pool),
            col("state", Text).filter(),
            col("cpu_cores", Integer),
            col("memory_gib", Integer),
            col("exporter", Text).nullable(),
        ];
        const MERCHANT: &[Column] = &[
            col("id", Text),
            col("name", Text).filter(),
            col("tier", Text).filter(),
            col("contact_email", Text).nullable(),
        ];
        const INSTANCE: &[Column] = &[
            col("id", Text),
            col("merchant_id", Text).refs(Kind::Merchant),
            col("product_id", Text).refs(Kind::Product),
            col("pool_id", Text).refs(Kind::Pool),
            col("host_id", Text).nullable().refs(Kind::Host),
            col("spec", Text),
            col("units", Real),
            col("state", Text).filter(),
        ];
        const SERVICE: &[Column] = &[
            col("id", Text),
            col("name", Text).filter(),
            col("merchant_id", Text).nullable().refs(Kind::Merchant),
            col("team", Text).nullable().filter(),
            col("product_id", Text).nullable().refs(Kind::Product),
            col("description", Text).nullable(),
        ];
        const DEPENDENCY: &[Column] = &[
            col("id", Text),
            col("from_service_id", Text).refs(Kind::Service),
            col("to_service_id", Text).refs(Kind::Service),
            col("merchant_id", Text).nullable().refs(Kind::Merchant),
        ];
        const PROMOTION: &[Column] = &[
            col("id", Text),
            col("name", Text).filter(),
            col("starts_at", Text),
            col("ends_at", Text),
            col("scope", Text).filter(),
            col("region_id", Text).nullable().refs(Kind::Region),
            col("merchant_id", Text).nullable().refs(Kind::Merchant),
            col("expected_uplift", Real),
        ];
        const SCRAPE_TARGET: &[Column] = &[
            col("id", Text),
            col("job", Text).filter(),
            col("address", Text).filter(),
            col("metrics_path", Text),
            col("interval_s", Integer),
            col("timeout_s", Integer),
            col("enabled", Bool).filter(),
        ];
        const CAPACITY_CHANGE: &[Column] = &[
            col("id", Text),
            col("pool_id", Text).refs(Kind::Pool),
            col("date", Text),
            col("units", Real),
            col("status", Text).filter(),
            col("note", Text).nullable(),
        ];
        const RESERVATION: &[Column] = &[
            col("id", Text),
            col("pool_id", Text).refs(Kind::Pool),
            col("starts_on", Text),
            col("ends_on", Text),
            col("units", Real),
            col("promotion_id", Text).nullable().refs(Kind::Promotion),
            col("merchant_id", Text).nullable().refs(Kind::Merchant),
            col("note", Text).nullable(),
        ];
        const ANOMALY_RULE: &[Column] = &[
            col("id", Text),
            col("name", Text).filter(),
            col("expr", Text),
            col("sensitivity", Real),
            col("severity", Text).filter(),
            col("summary", Text).nullable(),
            col("enabled", Bool).filter(),
        ];
        match self {
            Kind::Region => REGION,
            Kind::Zone => ZONE,
            Kind::Product => PRODUCT,
            Kind::Pool => POOL,
            Kind::Host => HOST,
            Kind::Merchant => MERCHANT,
            Kind::Instance => INSTANCE,
            Kind::Service => SERVICE,
            Kind::Dependency => DEPENDENCY,
            Kind::Promotion => PROMOTION,
            Kind::ScrapeTarget => SCRAPE_TARGET,
            Kind::CapacityChange => CAPACITY_CHANGE,
            Kind::Reservation => RESERVATION,
            Kind::AnomalyRule => ANOMALY_RULE,
        }
    }

    pub fn column(self, name: &str) -> Option<&'static Column> {
        self.columns().iter().find(|c| c.name == name)
    }

    /// Kinds whose columns refer to this kind: what a delete must check.
    pub fn referenced_by(self) -> Vec<(Kind, &'static Column)> {
        Kind::ALL
            .into_iter()
            .flat_map(|k| k.columns().iter().map(move |c| (k, c)))
            .filter(|(_, c)| c.references == Some(self))
            .collect()
    }

    /// The kinds in an order where every reference points to an earlier kind; imports
    /// and the demo load in this order.
    pub fn load_order() -> [Kind; 14] {
        Kind::ALL
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.plural())
    }
}

/// A reference from a field of a record to another record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub field: &'static str,
    pub kind: Kind,
    pub id: String,
}

/// A record of the model. Implemented by each entity in [`crate::model`].
pub trait Entity:
    Serialize + DeserializeOwned + schemars::JsonSchema + Clone + Send + Sync + 'static
{
    const KIND: Kind;

    fn id(&self) -> &str;

    /// The merchant this record belongs to, if any.
    fn merchant_id(&self) -> Option<&MerchantId> {
        None
    }

    /// Checks everything that can be checked on the record alone.
    fn validate(&self) -> Result<(), DomainError>;

    /// The records this one refers to, derived from the catalogue's columns.
    fn references(&self) -> Vec<Reference> {
        let value = serde_json::to_value(self).unwrap_or_default();
        Self::KIND
            .columns()
            .iter()
            .filter_map(|c| {
                let kind = c.references?;
                let id = value.get(c.name)?.as_str()?;
                Some(Reference {
                    field: c.name,
                    kind,
                    id: id.to_owned(),
                })
            })
            .collect()
    }
}
