//! Typed identifiers. Every record has a string id; the newtypes keep a `PoolId` from
//! being passed where a `HostId` is meant, right down to route parameters.

use crate::DomainError;

/// The longest id accepted.
pub const MAX_ID_LEN: usize = 64;

/// Checks the shape every id must have: 1 to 64 characters of `[A-Za-z0-9._:-]`.
pub fn validate_id(field: &str, id: &str) -> Result<(), DomainError> {
    if id.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_ID_LEN} characters, got {}", id.len()),
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':')))
    {
        return Err(DomainError::invalid(
            field,
            format!("may hold only letters, digits and . _ - :, found {c:?}"),
        ));
    }
    Ok(())
}

macro_rules! typed_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord,
                 serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Self { Self(s.into()) }
            pub fn as_str(&self) -> &str { &self.0 }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self { Self(s.to_owned()) }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self { Self(s) }
        }
    )*};
}

typed_id!(
    /// A region (地域), e.g. `cn-hangzhou`.
    RegionId,
    /// A zone (machine room, 机房) inside a region.
    ZoneId,
    /// A cloud product such as ECS or RDS.
    ProductId,
    /// A resource pool: one product in one zone.
    PoolId,
    /// A physical host.
    HostId,
    /// A merchant: a tenant of the cloud.
    MerchantId,
    /// A merchant's resource instance.
    InstanceId,
    /// A service of the full-chain topology.
    ServiceId,
    /// A dependency edge between two services.
    DependencyId,
    /// A promotion of the calendar (Double 11, 618, ...).
    PromotionId,
    /// A scrape target added at run time (an exporter cairn pulls metrics from).
    ScrapeTargetId,
    /// A planned or done change of a pool's capacity.
    CapacityChangeId,
    /// Units of a pool held back for a promotion.
    ReservationId,
    /// An anomaly rule: a detector per series of a PromQL expression.
    AnomalyRuleId,
    /// A user who signs in to the web UI.
    UserId,
    /// An API token (its public id, never its secret).
    TokenId,
);
