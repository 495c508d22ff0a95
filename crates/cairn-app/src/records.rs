//! Reading and writing the model under a principal's scope.
//!
//! Every write: checks the principal's write scope, parses the JSON into the entity
//! (naming the field at fault), validates it, checks its references and the rules that
//! span records (an instance's pool sells its product, the topology stays acyclic, a
//! dependency belongs to its caller's merchant), writes it and its audit entry in one
//! transaction. Reads outside the principal's tenant answer "not found".

use std::collections::{HashMap, HashSet};

use cairn_domain::access::Scope;
use cairn_domain::{
    topology, Dependency, DomainError, Entity, Kind, MerchantId, Pool, Principal, Service,
};
use cairn_store::{ListQuery, NewAudit, OwnerFilter, Page, Tx};
use serde_json::{Map, Value};

use crate::auth::new_id;
use crate::{App, AppError, Result};

/// The largest page a list returns.
pub const MAX_LIMIT: u32 = 1000;
/// The page size when none is asked for.
pub const DEFAULT_LIMIT: u32 = 100;

/// The owner filter for reading `kind`, or `Forbidden` when the role may not read it.
pub fn read_filter(p: &Principal, kind: Kind) -> Result<OwnerFilter> {
    match p.read_scope(kind) {
        Scope::All => Ok(OwnerFilter::Any),
        Scope::Denied => Err(AppError::Forbidden(format!(
            "role {} may not read {}",
            p.role,
            kind.plural()
        ))),
        Scope::Tenant(m) => Ok(match kind.visibility() {
            cairn_domain::Visibility::OwnedOrShared => OwnerFilter::MerchantOrShared(m),
            _ => OwnerFilter::Merchant(m),
        }),
    }
}

fn write_scope(p: &Principal, kind: Kind) -> Result<Scope> {
    match p.write_scope(kind) {
        Scope::Denied => Err(AppError::Forbidden(format!(
            "role {} may not change {}",
            p.role,
            kind.plural()
        ))),
        s => Ok(s),
    }
}

/// Parses a JSON value into an entity, naming the field at fault on failure.
pub fn parse_entity<E: Entity>(value: Value) -> Result<E> {
    parse_value(E::KIND.singular(), value)
}

/// Parses a JSON object into `T`, naming the field at fault on failure: serde's own
/// messages name unknown and missing fields only in their text, so they are read out.
pub fn parse_value<T: serde::de::DeserializeOwned>(what: &str, value: Value) -> Result<T> {
    if !value.is_object() {
        return Err(AppError::bad_input(
            None,
            format!("a {what} must be a JSON object"),
        ));
    }
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let named = ["unknown field `", "missing field `"]
            .iter()
            .find_map(|p| inner.split_once(p))
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(f, _)| f.to_owned());
        let field = named.or((path != ".").then_some(path));
        AppError::bad_input(field, inner)
    })
}

/// Checks that span records, with caches so that a bulk import of thousands of rows
/// looks each referenced id up once.
#[derive(Default)]
pub(crate) struct Checker {
    known: HashMap<Kind, HashSet<String>>,
    edges: Option<Vec<(String, String, String)>>,
}

impl Checker {
    async fn exists(&mut self, tx: &mut Tx<'_>, kind: Kind, id: &str) -> Result<bool> {
        if self.known.get(&kind).is_some_and(|s| s.contains(id)) {
            return Ok(true);
        }
        let found = tx.exists(kind, id).await?;
        if found {
            self.known.entry(kind).or_default().insert(id.to_owned());
        }
        Ok(found)
    }

    /// Fills fields derived from other records before parsing: a dependency belongs to
    /// the merchant of its `from` service.
    pub(crate) async fn prepare(
        &mut self,
        tx: &mut Tx<'_>,
        kind: Kind,
        map: &mut Map<String, Value>,
    ) -> Result<()> {
        if kind == Kind::Dependency && !map.contains_key("merchant_id") {
            if let Some(from) = map.get("from_service_id").and_then(Value::as_str) {
                if let Some(s) = tx.get::<Service>(from).await? {
                    if let Some(m) = s.merchant_id {
                        map.insert("merchant_id".into(), Value::String(m.0));
                    }
                }
            }
        }
        Ok(())
    }

    /// Validates `e` alone and against the store.
    pub(crate) async fn check<E: Entity>(&mut self, tx: &mut Tx<'_>, e: &E) -> Result<()> {
        e.validate()?;
        for r in e.references() {
            if !self.exists(tx, r.kind, &r.id).await? {
                return Err(DomainError::DanglingReference {
                    field: r.field.into(),
                    kind: r.kind.singular(),
                    id: r.id,
                }
                .into());
            }
        }
        let v = serde_json::to_value(e).unwrap_or_default();
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        match E::KIND {
            Kind::Instance => {
                let pool_id = s("pool_id").unwrap_or_default();
                if let Some(pool) = tx.get::<Pool>(&pool_id).await? {
                    if Some(pool.product_id.0.clone()) != s("product_id") {
                        return Err(DomainError::invalid(
                            "product_id",
                            format!(
                                "pool {pool_id} sells product {}, not {}",
                                pool.product_id,
                                s("product_id").unwrap_or_default()
                            ),
                        )
                        .into());
                    }
                }
            }
            Kind::Host => {
                if let Some(pool_id) = s("pool_id") {
                    if let Some(pool) = tx.get::<Pool>(&pool_id).await? {
                        if Some(pool.zone_id.0.clone()) != s("zone_id") {
                            return Err(DomainError::invalid(
                                "pool_id",
                                format!("pool {pool_id} is in zone {}", pool.zone_id),
                            )
                            .into());
                        }
                    }
                }
            }
            Kind::Dependency => self.check_dependency(tx, &v).await?,
            _ => {}
        }
        Ok(())
    }

    async fn check_dependency(&mut self, tx: &mut Tx<'_>, v: &Value) -> Result<()> {
        let dep: Dependency = serde_json::from_value(v.clone())
            .map_err(|e| AppError::bad_input(None, e.to_string()))?;
        let from = tx.get::<Service>(dep.from_service_id.as_str()).await?;
        let to = tx.get::<Service>(dep.to_service_id.as_str()).await?;
        if let (Some(from), Some(to)) = (from, to) {
            if from.merchant_id != dep.merchant_id {
                return Err(DomainError::invalid(
                    "merchant_id",
                    "must be the merchant of the from service",
                )
                .into());
            }
            if to.merchant_id.is_some() && to.merchant_id != dep.merchant_id {
                return Err(DomainError::invalid(
                    "to_service_id",
                    "may only name a platform service or one of the same merchant",
                )
                .into());
            }
        }
        if self.edges.is_none() {
            let all = tx.all::<Dependency>().await?;
            self.edges = Some(
                all.into_iter()
                    .map(|d| (d.id.0, d.from_service_id.0, d.to_service_id.0))
                    .collect(),
            );
        }
        let edges = self.edges.as_mut().expect("loaded above");
        let others = edges
            .iter()
            .filter(|(id, ..)| id != dep.id.as_str())
            .map(|(_, a, b)| (a.as_str(), b.as_str()));
        if let Some(path) = topology::cycle_if_added(
            others,
            dep.from_service_id.as_str(),
            dep.to_service_id.as_str(),
        ) {
            return Err(DomainError::Cycle {
                field: "to_service_id".into(),
                path: path.join(" -> "),
            }
            .into());
        }
        edges.retain(|(id, ..)| id != dep.id.as_str());
        edges.push((dep.id.0, dep.from_service_id.0, dep.to_service_id.0));
        Ok(())
    }
}

/// Applies a tenant write scope to a record's JSON: the owner defaults to the
/// merchant, and naming another merchant is refused.
pub(crate) fn apply_tenant(kind: Kind, scope: &Scope, map: &mut Map<String, Value>) -> Result<()> {
    let Scope::Tenant(m) = scope else {
        return Ok(());
    };
    let col = kind.owner_column().unwrap_or("merchant_id");
    match map.get(col) {
        None | Some(Value::Null) => {
            map.insert(col.into(), Value::String(m.0.clone()));
            Ok(())
        }
        Some(Value::String(s)) if s == m.as_str() => Ok(()),
        Some(_) => Err(AppError::Forbidden(format!(
            "{col}: a merchant token may only write its own records"
        ))),
    }
}

/// The object of a request body, with a generated id when asked and it has none.
pub(crate) fn body_object(
    kind: Kind,
    body: Value,
    generate_id: bool,
) -> Result<Map<String, Value>> {
    let Value::Object(mut map) = body else {
        return Err(AppError::bad_input(
            None,
            format!("a {} must be a JSON object", kind.singular()),
        ));
    };
    if generate_id && !map.contains_key("id") {
        map.insert("id".into(), Value::String(new_id(kind.id_prefix())));
    }
    Ok(map)
}

/// Splits list parameters into the page and the filters, refusing unknown ones.
pub fn list_query(
    kind: Kind,
    params: &[(String, String)],
    owner: OwnerFilter,
) -> Result<ListQuery> {
    let mut q = ListQuery {
        owner,
        limit: DEFAULT_LIMIT,
        ..ListQuery::default()
    };
    for (k, v) in params {
        match k.as_str() {
            "limit" => {
                q.limit = v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        AppError::bad_input(
                            Some("limit".into()),
                            format!("must be a whole number from 1 to {MAX_LIMIT}, got {v:?}"),
                        )
                    })?
            }
            "cursor" => q.cursor = Some(v.clone()),
            name => match kind.column(name) {
                Some(c) if c.filter => q.filters.push((c.name, v.clone())),
                _ => {
                    let allowed: Vec<&str> = kind
                        .columns()
                        .iter()
                        .filter(|c| c.filter)
                        .map(|c| c.name)
                        .collect();
                    return Err(AppError::bad_input(
                        Some(name.to_owned()),
                        format!(
                            "unknown parameter; {} filter by {}, and take limit and cursor",
                            kind.plural(),
                            allowed.join(", ")
                        ),
                    ));
                }
            },
        }
    }
    Ok(q)
}

impl App {
    pub async fn get_record<E: Entity>(&self, p: &Principal, id: &str) -> Result<E> {
        let owner = read_filter(p, E::KIND)?;
        self.store
            .get::<E>(id, &owner)
            .await?
            .ok_or_else(|| AppError::not_found(E::KIND.singular(), id))
    }

    pub async fn list_records<E: Entity>(
        &self,
        p: &Principal,
        params: &[(String, String)],
    ) -> Result<Page<E>> {
        let owner = read_filter(p, E::KIND)?;
        let q = list_query(E::KIND, params, owner)?;
        Ok(self.store.list::<E>(&q).await?)
    }

    pub async fn create_record<E: Entity>(&self, p: &Principal, body: Value) -> Result<E> {
        let scope = write_scope(p, E::KIND)?;
        let mut map = body_object(E::KIND, body, true)?;
        apply_tenant(E::KIND, &scope, &mut map)?;
        let mut tx = self.store.begin().await?;
        let mut checker = Checker::default();
        checker.prepare(&mut tx, E::KIND, &mut map).await?;
        let e: E = parse_entity(Value::Object(map))?;
        checker.check(&mut tx, &e).await?;
        self.capacity_effects(&mut tx, p, None, Some(&e)).await?;
        tx.insert(&e).await?;
        self.audit(&mut tx, p, "create", e.id(), None, Some(&e))
            .await?;
        tx.commit().await?;
        Ok(e)
    }

    pub async fn update_record<E: Entity>(
        &self,
        p: &Principal,
        id: &str,
        body: Value,
    ) -> Result<E> {
        let scope = write_scope(p, E::KIND)?;
        let mut map = body_object(E::KIND, body, false)?;
        match map.get("id") {
            None => {
                map.insert("id".into(), Value::String(id.to_owned()));
            }
            Some(Value::String(s)) if s == id => {}
            Some(other) => {
                return Err(AppError::bad_input(
                    Some("id".into()),
                    format!("must match the id in the path, {id:?}, got {other}"),
                ))
            }
        }
        apply_tenant(E::KIND, &scope, &mut map)?;
        let mut tx = self.store.begin().await?;
        let before = self.owned_in_tx::<E>(&mut tx, p, &scope, id).await?;
        let mut checker = Checker::default();
        checker.prepare(&mut tx, E::KIND, &mut map).await?;
        let e: E = parse_entity(Value::Object(map))?;
        checker.check(&mut tx, &e).await?;
        self.capacity_effects(&mut tx, p, Some(&before), Some(&e))
            .await?;
        tx.update(&e).await?;
        self.audit(&mut tx, p, "update", id, Some(&before), Some(&e))
            .await?;
        tx.commit().await?;
        Ok(e)
    }

    pub async fn delete_record<E: Entity>(&self, p: &Principal, id: &str) -> Result<()> {
        let scope = write_scope(p, E::KIND)?;
        let mut tx = self.store.begin().await?;
        let before = self.owned_in_tx::<E>(&mut tx, p, &scope, id).await?;
        self.capacity_effects(&mut tx, p, Some(&before), None::<&E>)
            .await?;
        tx.delete(E::KIND, id).await?;
        self.audit(&mut tx, p, "delete", id, Some(&before), None::<&E>)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The current record, if it exists and lies within the write scope; otherwise
    /// "not found", so a merchant learns nothing of other tenants' ids.
    async fn owned_in_tx<E: Entity>(
        &self,
        tx: &mut Tx<'_>,
        p: &Principal,
        scope: &Scope,
        id: &str,
    ) -> Result<E> {
        let found = tx.get::<E>(id).await?;
        match found {
            Some(e) if Principal::scope_admits(scope, E::KIND, e.merchant_id()) => Ok(e),
            Some(_) if p.role == cairn_domain::Role::Merchant => {
                Err(AppError::not_found(E::KIND.singular(), id))
            }
            Some(e) => Ok(e),
            None => Err(AppError::not_found(E::KIND.singular(), id)),
        }
    }

    pub(crate) async fn audit<E: Entity>(
        &self,
        tx: &mut Tx<'_>,
        p: &Principal,
        action: &str,
        id: &str,
        before: Option<&E>,
        after: Option<&E>,
    ) -> Result<()> {
        tx.audit(NewAudit {
            at: self.now(),
            actor: &p.actor,
            action,
            kind: E::KIND.plural(),
            record_id: id,
            before: before.and_then(|e| serde_json::to_value(e).ok()),
            after: after.and_then(|e| serde_json::to_value(e).ok()),
        })
        .await?;
        Ok(())
    }

    /// The audit log, for admins only.
    pub async fn audit_log(
        &self,
        p: &Principal,
        q: &cairn_store::AuditQuery,
    ) -> Result<Page<cairn_store::AuditEntry>> {
        if !p.is_admin() {
            return Err(AppError::Forbidden(
                "only an admin may read the audit log".into(),
            ));
        }
        Ok(self.store.audit(q).await?)
    }
}

/// The merchant a principal is bound to, if any.
pub fn tenant_of(p: &Principal) -> Option<&MerchantId> {
    match p.role {
        cairn_domain::Role::Merchant => p.merchant_id.as_ref(),
        _ => None,
    }
}
