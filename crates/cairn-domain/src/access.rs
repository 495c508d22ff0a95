//! Roles and what each may do. The rules are data here so that the API, the UI and
//! the tenant-isolation test all read the same table.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kind::{Kind, Visibility};
use crate::MerchantId;

/// A role held by a user or a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Admin,
    BaseOps,
    AppOps,
    Support,
    Developer,
    Viewer,
    /// Bound to exactly one merchant; sees that tenant and nothing else.
    Merchant,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Admin,
        Role::BaseOps,
        Role::AppOps,
        Role::Support,
        Role::Developer,
        Role::Viewer,
        Role::Merchant,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::BaseOps => "base-ops",
            Role::AppOps => "app-ops",
            Role::Support => "support",
            Role::Developer => "developer",
            Role::Viewer => "viewer",
            Role::Merchant => "merchant",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is acting: a role, the merchant it is bound to (for merchants), and a name for
/// the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub actor: String,
    pub role: Role,
    pub merchant_id: Option<MerchantId>,
}

/// What a principal may do with one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every record.
    All,
    /// Only records owned by this merchant (and, for shared kinds, unowned ones).
    Tenant(MerchantId),
    /// Nothing.
    Denied,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The records of `kind` this principal may read.
    pub fn read_scope(&self, kind: Kind) -> Scope {
        match (self.role, &self.merchant_id) {
            (Role::Merchant, Some(m)) => match kind.visibility() {
                Visibility::Catalog => Scope::All,
                Visibility::Infrastructure => Scope::Denied,
                Visibility::Owned | Visibility::OwnedOrShared => Scope::Tenant(m.clone()),
            },
            (Role::Merchant, None) => Scope::Denied,
            _ => Scope::All,
        }
    }

    /// The records of `kind` this principal may create, change or delete.
    pub fn write_scope(&self, kind: Kind) -> Scope {
        match self.role {
            Role::Admin | Role::BaseOps | Role::AppOps => Scope::All,
            Role::Support | Role::Developer | Role::Viewer => Scope::Denied,
            Role::Merchant => match (&self.merchant_id, kind) {
                // A merchant maintains its own business systems' topology.
                (Some(m), Kind::Service | Kind::Dependency) => Scope::Tenant(m.clone()),
                _ => Scope::Denied,
            },
        }
    }

    /// Whether a record owned by `owner` (None: unowned) is within `scope` for `kind`.
    pub fn scope_admits(scope: &Scope, kind: Kind, owner: Option<&MerchantId>) -> bool {
        match scope {
            Scope::All => true,
            Scope::Denied => false,
            Scope::Tenant(m) => match owner {
                Some(o) => o == m,
                None => kind.visibility() == Visibility::OwnedOrShared,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merchant(m: &str) -> Principal {
        Principal {
            actor: "token:t".into(),
            role: Role::Merchant,
            merchant_id: Some(MerchantId::new(m)),
        }
    }

    #[test]
    fn a_merchant_reads_its_own_and_the_catalogue_only() {
        let p = merchant("m-1");
        let own = MerchantId::new("m-1");
        let other = MerchantId::new("m-2");
        let scope = p.read_scope(Kind::Instance);
        assert!(Principal::scope_admits(&scope, Kind::Instance, Some(&own)));
        assert!(!Principal::scope_admits(
            &scope,
            Kind::Instance,
            Some(&other)
        ));
        assert!(!Principal::scope_admits(&scope, Kind::Instance, None));
        assert_eq!(p.read_scope(Kind::Host), Scope::Denied);
        assert_eq!(p.read_scope(Kind::Zone), Scope::All);
        let promo = p.read_scope(Kind::Promotion);
        assert!(Principal::scope_admits(&promo, Kind::Promotion, None));
        assert!(!Principal::scope_admits(
            &promo,
            Kind::Promotion,
            Some(&other)
        ));
    }

    #[test]
    fn only_ops_roles_write_the_model() {
        for role in Role::ALL {
            let p = Principal {
                actor: "a".into(),
                role,
                merchant_id: (role == Role::Merchant).then(|| MerchantId::new("m-1")),
            };
            let writes_hosts = p.write_scope(Kind::Host) == Scope::All;
            assert_eq!(
                writes_hosts,
                matches!(role, Role::Admin | Role::BaseOps | Role::AppOps),
                "{role}"
            );
        }
    }
}
