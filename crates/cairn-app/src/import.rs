//! Bulk import of one kind from JSON or CSV: every row is parsed and checked, and
//! either all rows are written (with an audit entry each) or none, with a report that
//! names every bad row, its field and the problem.

use std::collections::HashSet;

use cairn_domain::{with_entity, ColumnType, Entity, Kind, Principal};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::records::{apply_tenant, body_object, parse_entity, Checker};
use crate::{App, AppError, Result};

/// The most rows one import takes.
pub const MAX_ROWS: usize = 200_000;
/// The most row errors a report lists; the count says how many there were in all.
const MAX_REPORTED: usize = 1000;

/// The format of an import file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON array of objects, or an object with an `items` array.
    Json,
    /// A header row of field names, then one record a row; empty cells are absent.
    Csv,
}

impl Format {
    /// The format a file name or content type implies.
    pub fn guess(name_or_type: &str) -> Option<Format> {
        let s = name_or_type.to_ascii_lowercase();
        if s.ends_with(".csv") || s.contains("text/csv") {
            Some(Format::Csv)
        } else if s.ends_with(".json") || s.contains("json") {
            Some(Format::Json)
        } else {
            None
        }
    }
}

/// What was wrong with one row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowError {
    /// 1-based: the n-th record of the file (for CSV, not counting the header).
    pub row: usize,
    pub id: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

/// The outcome of an import.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportReport {
    pub kind: String,
    pub rows: usize,
    pub imported: usize,
    /// How many rows were bad; `errors` lists at most the first 1000.
    pub bad_rows: usize,
    pub errors: Vec<RowError>,
}

/// Splits a file into one JSON object per record.
pub fn parse_rows(kind: Kind, format: Format, text: &str) -> Result<Vec<Value>> {
    let rows =
        match format {
            Format::Json => {
                let v: Value = serde_json::from_str(text).map_err(|e| {
                    AppError::bad_input(None, format!("the file is not valid JSON: {e}"))
                })?;
                match v {
                    Value::Array(a) => a,
                    Value::Object(mut o) => match o.remove("items") {
                        Some(Value::Array(a)) => a,
                        _ => return Err(AppError::bad_input(
                            Some("items".into()),
                            "a JSON import is an array of records or an object with an items array",
                        )),
                    },
                    _ => {
                        return Err(AppError::bad_input(
                            None,
                            "a JSON import is an array of records or an object with an items array",
                        ))
                    }
                }
            }
            Format::Csv => csv_rows(kind, text)?,
        };
    if rows.len() > MAX_ROWS {
        return Err(AppError::bad_input(
            None,
            format!("at most {MAX_ROWS} rows per import, got {}", rows.len()),
        ));
    }
    Ok(rows)
}

fn csv_rows(kind: Kind, text: &str) -> Result<Vec<Value>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| AppError::bad_input(None, format!("the CSV header row is unreadable: {e}")))?
        .clone();
    let mut out = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| {
            AppError::bad_input(None, format!("CSV row {} is unreadable: {e}", i + 1))
        })?;
        let mut map = Map::new();
        for (h, cell) in headers.iter().zip(rec.iter()) {
            if cell.is_empty() {
                continue;
            }
            // Typed by the catalogue; a cell that does not parse stays text, so the
            // entity parser reports the field and the expected type.
            let v = match kind.column(h).map(|c| c.ty) {
                Some(ColumnType::Real) => cell
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number),
                Some(ColumnType::Integer) => cell.parse::<i64>().ok().map(Value::from),
                Some(ColumnType::Bool) => cell.parse::<bool>().ok().map(Value::Bool),
                _ => None,
            }
            .unwrap_or_else(|| Value::String(cell.to_owned()));
            map.insert(h.to_owned(), v);
        }
        out.push(Value::Object(map));
    }
    Ok(out)
}

impl App {
    /// Imports `text` as records of `kind`: all rows or none.
    pub async fn import(
        &self,
        p: &Principal,
        kind: Kind,
        format: Format,
        text: &str,
    ) -> Result<ImportReport> {
        let rows = parse_rows(kind, format, text)?;
        with_entity!(kind, E => self.import_rows::<E>(p, rows).await)
    }

    async fn import_rows<E: Entity>(
        &self,
        p: &Principal,
        rows: Vec<Value>,
    ) -> Result<ImportReport> {
        let scope = match p.write_scope(E::KIND) {
            cairn_domain::access::Scope::Denied => {
                return Err(AppError::Forbidden(format!(
                    "role {} may not change {}",
                    p.role,
                    E::KIND.plural()
                )))
            }
            s => s,
        };
        let total = rows.len();
        let mut tx = self.store.begin().await?;
        let mut checker = Checker::default();
        let mut seen = HashSet::new();
        let mut good: Vec<E> = Vec::with_capacity(total);
        let mut errors = Vec::new();
        let mut bad = 0;
        for (i, row) in rows.into_iter().enumerate() {
            let id = row.get("id").and_then(Value::as_str).map(str::to_owned);
            let outcome: Result<E> = async {
                let mut map = body_object(E::KIND, row, true)?;
                apply_tenant(E::KIND, &scope, &mut map)?;
                checker.prepare(&mut tx, E::KIND, &mut map).await?;
                let e: E = parse_entity(Value::Object(map))?;
                if !seen.insert(e.id().to_owned()) {
                    return Err(AppError::bad_input(
                        Some("id".into()),
                        format!("{:?} appears twice in the file", e.id()),
                    ));
                }
                if tx.exists(E::KIND, e.id()).await? {
                    return Err(AppError::Conflict(format!(
                        "id: a {} with id {:?} already exists",
                        E::KIND.singular(),
                        e.id()
                    )));
                }
                checker.check(&mut tx, &e).await?;
                Ok(e)
            }
            .await;
            match outcome {
                Ok(e) => good.push(e),
                Err(AppError::Store(e)) => return Err(AppError::Store(e)),
                Err(e) => {
                    bad += 1;
                    if errors.len() < MAX_REPORTED {
                        errors.push(RowError {
                            row: i + 1,
                            id,
                            field: e.field().map(str::to_owned),
                            message: e.to_string(),
                        });
                    }
                }
            }
        }
        let mut report = ImportReport {
            kind: E::KIND.plural().to_owned(),
            rows: total,
            imported: 0,
            bad_rows: bad,
            errors,
        };
        if bad > 0 {
            return Err(AppError::Import(report));
        }
        for e in &good {
            self.capacity_effects(&mut tx, p, None, Some(e)).await?;
        }
        tx.insert_many(&good).await?;
        for e in &good {
            self.audit(&mut tx, p, "import", e.id(), None, Some(e))
                .await?;
        }
        tx.commit().await?;
        report.imported = good.len();
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_cells_are_typed_by_the_catalogue_and_empty_cells_are_absent() {
        let text = "id,zone_id,rack,state,cpu_cores,memory_gib,pool_id\n\
                    h1,z1,r 01,up,8,32,\n\
                    h2,z1,r02,up,eight,32,p1\n";
        let rows = parse_rows(Kind::Host, Format::Csv, text).unwrap();
        assert_eq!(
            rows[0],
            json!({"id": "h1", "zone_id": "z1", "rack": "r 01", "state": "up", "cpu_cores": 8, "memory_gib": 32})
        );
        // A cell that does not parse stays text, so the entity parser names the field.
        assert_eq!(rows[1]["cpu_cores"], json!("eight"));
        let err = crate::records::parse_entity::<cairn_domain::Host>(rows[1].clone()).unwrap_err();
        assert_eq!(err.field(), Some("cpu_cores"));
    }

    #[test]
    fn json_imports_take_an_array_or_an_items_object() {
        let a = parse_rows(Kind::Region, Format::Json, r#"[{"id": "a", "name": "A"}]"#).unwrap();
        let b = parse_rows(
            Kind::Region,
            Format::Json,
            r#"{"items": [{"id": "a", "name": "A"}]}"#,
        )
        .unwrap();
        assert_eq!(a, b);
        assert!(parse_rows(Kind::Region, Format::Json, "42").is_err());
    }
}
