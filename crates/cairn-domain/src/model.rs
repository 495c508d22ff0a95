//! The entities of the merchant cloud. Each validates what it can know alone; checks
//! that need other records (references, topology cycles, an instance's pool selling
//! its product) live in the use-case layer, which has the store.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::id::validate_id;
use crate::kind::{Entity, Kind};
use crate::*;

const MAX_TEXT: usize = 200;

fn text(field: &str, value: &str) -> Result<(), DomainError> {
    if value.trim().is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if value.chars().count() > MAX_TEXT {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_TEXT} characters"),
        ));
    }
    Ok(())
}

fn opt_text(field: &str, value: &Option<String>) -> Result<(), DomainError> {
    match value {
        Some(v) => text(field, v),
        None => Ok(()),
    }
}

fn non_negative(field: &str, value: f64) -> Result<(), DomainError> {
    if !value.is_finite() || value < 0.0 {
        return Err(DomainError::invalid(
            field,
            format!("must be a finite number >= 0, got {value}"),
        ));
    }
    Ok(())
}

/// `host:port` with a non-empty host and a port in 1..=65535.
fn host_port(field: &str, value: &str) -> Result<(), DomainError> {
    let ok = value
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            format!("must be host:port, got {value:?}"),
        ))
    }
}

fn ids(pairs: &[(&str, &str)]) -> Result<(), DomainError> {
    pairs.iter().try_for_each(|(f, v)| validate_id(f, v))
}

/// A region (地域).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub id: RegionId,
    pub name: String,
}

/// A zone: a machine room (机房) in a region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub id: ZoneId,
    pub region_id: RegionId,
    pub name: String,
}

/// A cloud product sold from pools: ECS, SLB, RDS, OSS, OTS, ODPS or a user-defined one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Product {
    pub id: ProductId,
    pub name: String,
    /// The unit capacity and sales are counted in: `vCPU`, `GiB`, `instance`, ...
    pub unit: String,
    /// Days from ordering hardware to its capacity being sellable.
    pub lead_time_days: u32,
    #[serde(default)]
    pub description: Option<String>,
}

/// A resource pool: one product sold in one zone, with a capacity in the product's unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    pub id: PoolId,
    pub product_id: ProductId,
    pub zone_id: ZoneId,
    pub capacity: f64,
}

/// The state of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HostState {
    Up,
    Down,
    Maintenance,
    Retired,
}

/// A physical host in a rack of a zone, optionally serving a pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Host {
    pub id: HostId,
    pub zone_id: ZoneId,
    pub rack: String,
    #[serde(default)]
    pub pool_id: Option<PoolId>,
    pub state: HostState,
    pub cpu_cores: u32,
    pub memory_gib: u32,
    /// `host:port` of a metrics exporter on the host, if it runs one.
    #[serde(default)]
    pub exporter: Option<String>,
}

/// A merchant's service tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    Standard,
    Vip,
}

/// A merchant: a tenant of the cloud (a seller, or a software vendor serving sellers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Merchant {
    pub id: MerchantId,
    pub name: String,
    pub tier: Tier,
    #[serde(default)]
    pub contact_email: Option<String>,
}

/// The state of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    Creating,
    Running,
    Stopped,
    Released,
}

/// A merchant's resource: an instance of a product, allocated from a pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    pub id: InstanceId,
    pub merchant_id: MerchantId,
    pub product_id: ProductId,
    pub pool_id: PoolId,
    #[serde(default)]
    pub host_id: Option<HostId>,
    /// The instance's size in words, e.g. `ecs.g6.large`.
    pub spec: String,
    /// How much of the pool's capacity it takes, in the product's unit.
    pub units: f64,
    pub state: InstanceState,
}

/// A service of the full-chain topology: a merchant's business system or a platform
/// service (then `merchant_id` is absent), optionally backed by a cloud product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub id: ServiceId,
    pub name: String,
    #[serde(default)]
    pub merchant_id: Option<MerchantId>,
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub product_id: Option<ProductId>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A directed edge of the topology: `from_service_id` calls `to_service_id`.
/// It belongs to the merchant of its `from` service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    pub id: DependencyId,
    pub from_service_id: ServiceId,
    pub to_service_id: ServiceId,
    #[serde(default)]
    pub merchant_id: Option<MerchantId>,
}

/// Who a promotion applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PromotionScope {
    Global,
    Region,
    Merchant,
}

/// A promotion of the calendar: Double 11, 618 or a merchant's own sale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Promotion {
    pub id: PromotionId,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub starts_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub ends_at: Timestamp,
    pub scope: PromotionScope,
    #[serde(default)]
    pub region_id: Option<RegionId>,
    #[serde(default)]
    pub merchant_id: Option<MerchantId>,
    /// Expected demand during the promotion as a multiple of normal demand (3.0 = 3×).
    pub expected_uplift: f64,
}

impl Entity for Region {
    const KIND: Kind = Kind::Region;
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn validate(&self) -> Result<(), DomainError> {
        ids(&[("id", self.id.as_str())])?;
        text("name", &self.name)
    }
}

impl Entity for Zone {
    const KIND: Kind = Kind::Zone;
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn validate(&self) -> Result<(), DomainError> {
        ids(&[
            ("id", self.id.as_str()),
            ("region_id", self.region_id.as_str()),
        ])?;
        text("name", &self.name)
    }
}

impl Entity for Product {
    const KIND: Kind = Kind::Product;
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn validate(&self) -> Result<(), DomainError> {
        ids(&[("id", self.id.as_str())])?;
        text("name", &self.name)?;
        text("unit", &self.unit)?;
        if self.lead_time_days > 3650 {
            return Err(DomainError::invalid(
                "lead_time_days",
                format!("must be at most 3650, got {}", self.lead_time_days),
            ));
        }
        opt_text("description", &self.description)
    }
}

impl Entity for Pool {
    const KIND: Kind = Kind::Pool;
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn validate(&self) -> Result<(), DomainError> {
        ids(&[
            ("id", self.id.as_str()),
            ("product_id", self.product_id.as_str()),
            ("zone_id", self.zone_id.as_str()),
        ])?;
        non_negative("capacity", self.capacity)
    }
}

impl Entity for Host {
    const KIND: Kind = Kind::Host;
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn validate(&self) -> Result<(), DomainError> {
        ids(&[("id", self.id.as_str()), ("zone_id", self.zone_id.as_str())])?;
        if let Some(p) = &self.pool_id {
            validate_id("pool_id", p.as_str())?;
        }
        text("rack", &self.rack)?;
        if !(1..=4096).contains(&self.cpu_cores) {
            return Err(DomainError::invalid(
                "cpu_cores",
                format!("must be between 1 and 4096, got {}", self.cpu_cores),
            ));
        }
        if !(1..=65536).contains(&self.memory_gib) {
            return Err(DomainError::invalid(
                "memory_gib",
                format!("must be between 1 and 65536, got {}", self.memory_gib),
            ));
        }
        if let Some(e) = &self.exporter {
            host_port("exporter", e)?;
        }
        Ok(())
    }
}

impl Entity for Merchant {
    const KIND: Kind = Kind::Merchant;
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn merchant_id(&self) -> Option<&MerchantId> {
        Some(&self.id)
    }
    fn validate(&self) -> Result<(), DomainError> {
        ids(&[("id", self.id.as_str())])?;
        text("name", &self.name)?;
        if let Some(e) = &self.contact_email {
            let ok = e
                .split_once('@')
                .is_some_and(|(u, d)| !u.is_empty() && d.contains('.') && !e.contains(' '));
            if !ok {
                return Err(DomainError::invalid(
                    "contact_email",
                    format!("is not an email address: {e:?}"),
                ));
            }
        }
        Ok(())
    }
}

impl Entity for Instance {
    const KIND: Kind = Kind::Instance;
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn merchant_id(&self) -> Option<&MerchantId> {
        Some(&self.merchant_id)
    }
    fn validate(&self) -> Result<(), DomainError> {
        ids(&[
            ("id", self.id.as_str()),
            ("merchant_id", self.merchant_id.as_str()),
            ("product_id", self.product_id.as_str()),
            ("pool_id", self.pool_id.as_str()),
        ])?;
        if let Some(h) = &self.host_id {
            validate_id("host_id", h.as_str())?;
        }
        text("spec", &self.spec)?;
        non_negative("units", self.units)
    }
}

impl Entity for Service {
    const KIND: Kind = Kind::Service;
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn merchant_id(&self) -> Option<&MerchantId> {
        self.merchant_id.as_ref()
    }
    fn validate(&self) -> Result<(), DomainError> {
        ids(&[("id", self.id.as_str())])?;
        text("name", &self.name)?;
        opt_text("team", &self.team)?;
        opt_text("description", &self.description)
    }
}

impl Entity for Dependency {
    const KIND: Kind = Kind::Dependency;
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn merchant_id(&self) -> Option<&MerchantId> {
        self.merchant_id.as_ref()
    }
    fn validate(&self) -> Result<(), DomainError> {
        ids(&[
            ("id", self.id.as_str()),
            ("from_service_id", self.from_service_id.as_str()),
            ("to_service_id", self.to_service_id.as_str()),
        ])?;
        if self.from_service_id == self.to_service_id {
            return Err(DomainError::Cycle {
                field: "to_service_id".into(),
                path: format!("{0} -> {0}", self.from_service_id),
            });
        }
        Ok(())
    }
}

impl Entity for Promotion {
    const KIND: Kind = Kind::Promotion;
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn merchant_id(&self) -> Option<&MerchantId> {
        self.merchant_id.as_ref()
    }
    fn validate(&self) -> Result<(), DomainError> {
        ids(&[("id", self.id.as_str())])?;
        text("name", &self.name)?;
        if self.ends_at <= self.starts_at {
            return Err(DomainError::invalid("ends_at", "must be after starts_at"));
        }
        if !self.expected_uplift.is_finite()
            || self.expected_uplift <= 0.0
            || self.expected_uplift > 1000.0
        {
            return Err(DomainError::invalid(
                "expected_uplift",
                format!(
                    "must be a multiple of normal demand in (0, 1000], got {}",
                    self.expected_uplift
                ),
            ));
        }
        match self.scope {
            PromotionScope::Global => {
                if self.region_id.is_some() {
                    return Err(DomainError::invalid(
                        "region_id",
                        "must be absent for a global promotion",
                    ));
                }
                if self.merchant_id.is_some() {
                    return Err(DomainError::invalid(
                        "merchant_id",
                        "must be absent for a global promotion",
                    ));
                }
            }
            PromotionScope::Region => {
                if self.region_id.is_none() {
                    return Err(DomainError::invalid(
                        "region_id",
                        "is required when scope is region",
                    ));
                }
                if self.merchant_id.is_some() {
                    return Err(DomainError::invalid(
                        "merchant_id",
                        "must be absent when scope is region",
                    ));
                }
            }
            PromotionScope::Merchant => {
                if self.merchant_id.is_none() {
                    return Err(DomainError::invalid(
                        "merchant_id",
                        "is required when scope is merchant",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// An exporter that cairn scrapes, added through the API or an import rather than the
/// configuration file. The scraper re-reads these every cycle, so a new target is
/// scraped without a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScrapeTarget {
    pub id: ScrapeTargetId,
    /// The `job` label of every series scraped from the target.
    pub job: String,
    /// `host:port` of the exporter; also the `instance` label.
    pub address: String,
    /// The path of the metrics page.
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    /// Seconds between scrapes.
    #[serde(default = "default_scrape_interval")]
    pub interval_s: u32,
    /// Seconds a scrape may take before it counts as failed; at most `interval_s`.
    #[serde(default = "default_scrape_timeout")]
    pub timeout_s: u32,
    /// Disabled targets are kept but not scraped.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_metrics_path() -> String {
    "/metrics".into()
}
fn default_scrape_interval() -> u32 {
    15
}
fn default_scrape_timeout() -> u32 {
    10
}
fn default_true() -> bool {
    true
}

impl Entity for ScrapeTarget {
    const KIND: Kind = Kind::ScrapeTarget;
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn validate(&self) -> Result<(), DomainError> {
        ids(&[("id", self.id.as_str())])?;
        text("job", &self.job)?;
        host_port("address", &self.address)?;
        if !self.metrics_path.starts_with('/') || self.metrics_path.contains(char::is_whitespace) {
            return Err(DomainError::invalid(
                "metrics_path",
                format!(
                    "must be a path starting with '/', got {:?}",
                    self.metrics_path
                ),
            ));
        }
        if !(1..=86_400).contains(&self.interval_s) {
            return Err(DomainError::invalid(
                "interval_s",
                format!(
                    "must be between 1 and 86400 seconds, got {}",
                    self.interval_s
                ),
            ));
        }
        if self.timeout_s == 0 || self.timeout_s > self.interval_s {
            return Err(DomainError::invalid(
                "timeout_s",
                format!(
                    "must be between 1 and interval_s ({}) seconds, got {}",
                    self.interval_s, self.timeout_s
                ),
            ));
        }
        Ok(())
    }
}

/// An anomaly rule: cairn runs a detector per series of `expr` (a PromQL expression,
/// evaluated every 15 seconds), learning each series' own baseline, and fires an alert
/// named `name` when a series leaves it: no threshold to set, only a sensitivity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnomalyRule {
    pub id: AnomalyRuleId,
    /// The `alertname` of the alerts it fires; a valid label value of letters, digits
    /// and underscores.
    pub name: String,
    /// A PromQL expression whose result is an instant vector, such as
    /// `sum by (service) (rate(http_requests_total[5m]))`.
    pub expr: String,
    /// In [0, 1]: how readily a point is anomalous (0.635 is the detector's default).
    #[serde(default = "default_sensitivity")]
    pub sensitivity: f64,
    /// The `severity` label of its alerts.
    #[serde(default = "default_severity")]
    pub severity: String,
    /// Text of the alert's `summary`, before the detector's explanation.
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_sensitivity() -> f64 {
    0.635
}
fn default_severity() -> String {
    "warning".into()
}

impl Entity for AnomalyRule {
    const KIND: Kind = Kind::AnomalyRule;
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn validate(&self) -> Result<(), DomainError> {
        ids(&[("id", self.id.as_str())])?;
        let ok_name = !self.name.is_empty()
            && self.name.len() <= 100
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !self.name.starts_with(|c: char| c.is_ascii_digit());
        if !ok_name {
            return Err(DomainError::invalid(
                "name",
                format!(
                    "must be a metric-style name of letters, digits, '_' and ':', got {:?}",
                    self.name
                ),
            ));
        }
        if self.expr.trim().is_empty() || self.expr.len() > 2000 {
            return Err(DomainError::invalid(
                "expr",
                "must be a PromQL expression of at most 2000 characters",
            ));
        }
        if !(0.0..=1.0).contains(&self.sensitivity) {
            return Err(DomainError::invalid(
                "sensitivity",
                format!("must be between 0 and 1, got {}", self.sensitivity),
            ));
        }
        text("severity", &self.severity)?;
        opt_text("summary", &self.summary)
    }
}

/// Calls `f` with the kind's entity type; the one place that maps a runtime [`Kind`]
/// to its static type, so generic code (storage, API, import) can dispatch on it.
#[macro_export]
macro_rules! with_entity {
    ($kind:expr, $t:ident => $body:expr) => {
        match $kind {
            $crate::Kind::Region => {
                type $t = $crate::Region;
                $body
            }
            $crate::Kind::Zone => {
                type $t = $crate::Zone;
                $body
            }
            $crate::Kind::Product => {
                type $t = $crate::Product;
                $body
            }
            $crate::Kind::Pool => {
                type $t = $crate::Pool;
                $body
            }
            $crate::Kind::Host => {
                type $t = $crate::Host;
                $body
            }
            $crate::Kind::Merchant => {
                type $t = $crate::Merchant;
                $body
            }
            $crate::Kind::Instance => {
                type $t = $crate::Instance;
                $body
            }
            $crate::Kind::Service => {
                type $t = $crate::Service;
                $body
            }
            $crate::Kind::Dependency => {
                type $t = $crate::Dependency;
                $body
            }
            $crate::Kind::Promotion => {
                type $t = $crate::Promotion;
                $body
            }
            $crate::Kind::ScrapeTarget => {
                type $t = $crate::ScrapeTarget;
                $body
            }
            $crate::Kind::CapacityChange => {
                type $t = $crate::CapacityChange;
                $body
            }
            $crate::Kind::Reservation => {
                type $t = $crate::Reservation;
                $body
            }
            $crate::Kind::AnomalyRule => {
                type $t = $crate::AnomalyRule;
                $body
            }
        }
    };
}
