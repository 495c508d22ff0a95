//! SQL generated from the entity catalogue, and the mapping between entities and rows.
//! Identifiers in the SQL come only from the catalogue, never from input; every value
//! is bound.

use cairn_domain::{ColumnType, Entity, Kind};
use serde_json::{Map, Value};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

use crate::{ListQuery, OwnerFilter, StoreError};

/// A bound value.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(Option<String>),
    Real(Option<f64>),
    Int(Option<i64>),
}

pub(crate) fn bind<'q>(
    mut q: Query<'q, Any, AnyArguments<'q>>,
    args: &[Arg],
) -> Query<'q, Any, AnyArguments<'q>> {
    for a in args {
        q = match a {
            Arg::Text(v) => q.bind(v.clone()),
            Arg::Real(v) => q.bind(*v),
            Arg::Int(v) => q.bind(*v),
        };
    }
    q
}

fn column_list(kind: Kind) -> String {
    kind.columns()
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Appends the owner condition for `owner` to `conds`, binding into `args`.
fn owner_condition(kind: Kind, owner: &OwnerFilter, conds: &mut Vec<String>, args: &mut Vec<Arg>) {
    let (m, shared) = match owner {
        OwnerFilter::Any => return,
        OwnerFilter::Merchant(m) => (m, false),
        OwnerFilter::MerchantOrShared(m) => (m, true),
    };
    let Some(col) = kind.owner_column() else {
        // A kind without owners cannot hold a merchant's records: fail closed.
        conds.push("1 = 0".into());
        return;
    };
    args.push(Arg::Text(Some(m.to_string())));
    let n = args.len();
    if shared {
        conds.push(format!("({col} = ${n} OR {col} IS NULL)"));
    } else {
        conds.push(format!("{col} = ${n}"));
    }
}

fn where_clause(conds: &[String]) -> String {
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

pub(crate) fn select_one(kind: Kind, id: &str, owner: &OwnerFilter) -> (String, Vec<Arg>) {
    let mut args = vec![Arg::Text(Some(id.to_owned()))];
    let mut conds = vec!["id = $1".to_owned()];
    owner_condition(kind, owner, &mut conds, &mut args);
    let sql = format!(
        "SELECT {} FROM {}{}",
        column_list(kind),
        kind.table(),
        where_clause(&conds)
    );
    (sql, args)
}

pub(crate) fn select_page(kind: Kind, q: &ListQuery, limit: u32) -> (String, Vec<Arg>) {
    let mut args = Vec::new();
    let mut conds = Vec::new();
    for (col, value) in &q.filters {
        args.push(Arg::Text(Some(value.clone())));
        conds.push(format!("{col} = ${}", args.len()));
    }
    owner_condition(kind, &q.owner, &mut conds, &mut args);
    if let Some(c) = &q.cursor {
        args.push(Arg::Text(Some(c.clone())));
        conds.push(format!("id > ${}", args.len()));
    }
    let sql = format!(
        "SELECT {} FROM {}{} ORDER BY id LIMIT {limit}",
        column_list(kind),
        kind.table(),
        where_clause(&conds)
    );
    (sql, args)
}

pub(crate) fn count(kind: Kind, owner: &OwnerFilter) -> (String, Vec<Arg>) {
    let mut args = Vec::new();
    let mut conds = Vec::new();
    owner_condition(kind, owner, &mut conds, &mut args);
    (
        format!(
            "SELECT COUNT(*) FROM {}{}",
            kind.table(),
            where_clause(&conds)
        ),
        args,
    )
}

pub(crate) fn insert(kind: Kind, rows: usize) -> String {
    let cols = kind.columns().len();
    let tuples = (0..rows)
        .map(|r| {
            let ps = (1..=cols)
                .map(|c| format!("${}", r * cols + c))
                .collect::<Vec<_>>()
                .join(", ");
            format!("({ps})")
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO {} ({}) VALUES {tuples}",
        kind.table(),
        column_list(kind)
    )
}

/// `UPDATE ... SET col2 = $2, ... WHERE id = $1`, binding the same order as [`encode`].
pub(crate) fn update(kind: Kind) -> String {
    let sets = kind
        .columns()
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, c)| format!("{} = ${}", c.name, i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    format!("UPDATE {} SET {sets} WHERE id = $1", kind.table())
}

fn corrupt(kind: Kind, message: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        kind: kind.plural(),
        message: message.into(),
    }
}

/// The entity's columns as bound values, in catalogue order.
pub(crate) fn encode<E: Entity>(e: &E) -> Result<Vec<Arg>, StoreError> {
    let kind = E::KIND;
    let value = serde_json::to_value(e).map_err(|err| corrupt(kind, err.to_string()))?;
    let map = value
        .as_object()
        .ok_or_else(|| corrupt(kind, "entity is not an object"))?;
    kind.columns()
        .iter()
        .map(|c| {
            let v = map.get(c.name).unwrap_or(&Value::Null);
            let mismatch = || corrupt(kind, format!("field {} has value {v}", c.name));
            Ok(match (c.ty, v) {
                (ColumnType::Text, Value::Null) => Arg::Text(None),
                (ColumnType::Text, Value::String(s)) => Arg::Text(Some(s.clone())),
                (ColumnType::Real, Value::Null) => Arg::Real(None),
                (ColumnType::Real, Value::Number(n)) => Arg::Real(n.as_f64()),
                (ColumnType::Integer, Value::Null) => Arg::Int(None),
                (ColumnType::Integer, Value::Number(n)) => {
                    Arg::Int(Some(n.as_i64().ok_or_else(mismatch)?))
                }
                (ColumnType::Bool, Value::Null) => Arg::Int(None),
                (ColumnType::Bool, Value::Bool(b)) => Arg::Int(Some(*b as i64)),
                _ => return Err(mismatch()),
            })
        })
        .collect()
}

/// A row, selected with the catalogue's column list, as an entity.
pub(crate) fn decode<E: Entity>(row: &AnyRow) -> Result<E, StoreError> {
    let kind = E::KIND;
    let mut map = Map::new();
    for (i, c) in kind.columns().iter().enumerate() {
        let v = match c.ty {
            ColumnType::Text => row.try_get::<Option<String>, _>(i)?.map(Value::String),
            ColumnType::Real => row
                .try_get::<Option<f64>, _>(i)?
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number),
            ColumnType::Integer => row.try_get::<Option<i64>, _>(i)?.map(Value::from),
            ColumnType::Bool => row
                .try_get::<Option<i64>, _>(i)?
                .map(|b| Value::Bool(b != 0)),
        };
        if let Some(v) = v {
            map.insert(c.name.to_owned(), v);
        }
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| corrupt(kind, e.to_string()))
}
