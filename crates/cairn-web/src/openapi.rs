//! The OpenAPI 3 document of every API route, generated from the entity catalogue
//! (schemas come from the entity types via schemars) and [`crate::api::fixed_routes`].

use axum::Json;
use cairn_domain::{with_entity, Entity, Kind};
use schemars::gen::{SchemaGenerator, SchemaSettings};
use serde_json::{json, Map, Value};

/// The document, built anew on each call (it is small and cheap).
pub fn document() -> Value {
    let mut gen = SchemaGenerator::new(SchemaSettings::openapi3());
    let mut paths = Map::new();
    for kind in Kind::ALL {
        with_entity!(kind, E => add_entity::<E>(&mut gen, &mut paths));
    }
    for (method, path, summary) in crate::api::fixed_routes()
        .iter()
        .chain(crate::capacity::ROUTES)
        .chain(crate::alerting::ROUTES)
        .chain(crate::tickets::ROUTES)
        .chain(crate::incidents::ROUTES)
        .chain(crate::changes::ROUTES)
        .chain(crate::prom::ROUTES)
    {
        let mut op = json!({
            "summary": summary,
            "tags": [if path.starts_with("/prometheus") {
                "prometheus"
            } else if path.starts_with("/alertmanager") {
                "alertmanager"
            } else {
                "platform"
            }],
            "responses": responses(json!({"type": "object"}), "200"),
        });
        let params: Vec<Value> = ["name", "id", "att", "action", "batch"]
            .iter()
            .filter(|p| path.contains(&format!("{{{p}}}")))
            .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        paths
            .entry(path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("path items are objects")
            .insert(method.to_string(), op);
    }
    let mut schemas = Map::new();
    for (name, schema) in gen.definitions() {
        schemas.insert(
            name.clone(),
            serde_json::to_value(schema).unwrap_or_default(),
        );
    }
    schemas.insert("Error".into(), error_schema());
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "cairn API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The operations platform of a merchant cloud. Authenticate with 'Authorization: Bearer <token>'. A merchant's token sees only its own tenant: other tenants' records answer 404.",
        },
        "servers": [{"url": "/"}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    })
}

pub async fn serve() -> Json<Value> {
    Json(document())
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string", "nullable": true},
            }
        }}
    })
}

fn responses(ok: Value, code: &str) -> Value {
    let err = json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    json!({
        code: {"description": "success", "content": {"application/json": {"schema": ok}}},
        "400": err, "401": err, "403": err, "404": err, "409": err, "422": err,
    })
}

fn add_entity<E: Entity>(gen: &mut SchemaGenerator, paths: &mut Map<String, Value>) {
    let kind = E::KIND;
    let schema = serde_json::to_value(gen.subschema_for::<E>()).unwrap_or_default();
    let plural = kind.plural();
    let one = kind.singular();
    let filters: Vec<Value> = kind
        .columns()
        .iter()
        .filter(|c| c.filter)
        .map(|c| json!({"name": c.name, "in": "query", "required": false, "schema": {"type": "string"}, "description": format!("only {plural} whose {} equals this", c.name)}))
        .chain([
            json!({"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}),
            json!({"name": "cursor", "in": "query", "required": false, "schema": {"type": "string"}, "description": "next_cursor of the previous page"}),
        ])
        .collect();
    let page = json!({"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "items": schema},
        "next_cursor": {"type": "string", "nullable": true},
    }});
    let body = json!({"required": true, "content": {"application/json": {"schema": schema}}});
    let id_param =
        json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]);
    paths.insert(
        format!("/api/v1/{plural}"),
        json!({
            "get": {"summary": format!("List {plural}"), "tags": [plural], "parameters": filters, "responses": responses(page, "200")},
            "post": {"summary": format!("Create a {one}; the id is generated when absent"), "tags": [plural], "requestBody": body, "responses": responses(schema.clone(), "201")},
        }),
    );
    paths.insert(
        format!("/api/v1/{plural}/{{id}}"),
        json!({
            "parameters": id_param,
            "get": {"summary": format!("Get a {one}"), "tags": [plural], "responses": responses(schema.clone(), "200")},
            "put": {"summary": format!("Replace a {one}"), "tags": [plural], "requestBody": body, "responses": responses(schema.clone(), "200")},
            "delete": {"summary": format!("Delete a {one}"), "tags": [plural], "responses": responses(json!({}), "204")},
        }),
    );
    paths.insert(
        format!("/api/v1/{plural}/import"),
        json!({
            "post": {
                "summary": format!("Import {plural} from a JSON array or CSV (Content-Type text/csv, or ?format=csv): all rows or none"),
                "tags": [plural],
                "parameters": [{"name": "format", "in": "query", "required": false, "schema": {"type": "string", "enum": ["json", "csv"]}}],
                "requestBody": {"required": true, "content": {
                    "application/json": {"schema": {"type": "array", "items": schema}},
                    "text/csv": {"schema": {"type": "string"}},
                }},
                "responses": responses(json!({"type": "object"}), "200"),
            }
        }),
    );
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    /// A snapshot of every documented route: a route added or lost shows up here.
    #[test]
    fn the_document_lists_every_route() {
        let doc = super::document();
        let mut lines = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            let methods: Vec<&str> = item
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .filter(|m| *m != "parameters")
                .collect();
            lines.push(format!("{path} {}", methods.join(",")));
        }
        lines.sort();
        expect![[r#"
            /alertmanager/api/v2/alerts get,post
            /alertmanager/api/v2/alerts/groups get
            /alertmanager/api/v2/silence/{id} delete,get
            /alertmanager/api/v2/silences get,post
            /alertmanager/api/v2/status get
            /api/v1/alert-history get
            /api/v1/alerting/config get,put
            /api/v1/alerts get
            /api/v1/alerts/{id} get
            /api/v1/alerts/{id}/ack post
            /api/v1/alerts/{id}/resolve post
            /api/v1/anomalies get
            /api/v1/anomaly-rules get,post
            /api/v1/anomaly-rules/import post
            /api/v1/anomaly-rules/{id} delete,get,put
            /api/v1/audit get
            /api/v1/capacity get
            /api/v1/capacity-changes get,post
            /api/v1/capacity-changes/import post
            /api/v1/capacity-changes/{id} delete,get,put
            /api/v1/capacity/what-if post
            /api/v1/change-policy get,put
            /api/v1/changes get,post
            /api/v1/changes/{id} get,put
            /api/v1/changes/{id}/approve post
            /api/v1/changes/{id}/batches/{batch}/callback post
            /api/v1/changes/{id}/risk post
            /api/v1/changes/{id}/rollback post
            /api/v1/changes/{id}/start post
            /api/v1/changes/{id}/submit post
            /api/v1/changes/{id}/{action} post
            /api/v1/dependencies get,post
            /api/v1/dependencies/import post
            /api/v1/dependencies/{id} delete,get,put
            /api/v1/escalation-policies get,post
            /api/v1/escalation-policies/{id} delete
            /api/v1/freezes get,post
            /api/v1/freezes/{id} delete
            /api/v1/hosts get,post
            /api/v1/hosts/import post
            /api/v1/hosts/{id} delete,get,put
            /api/v1/inbox get
            /api/v1/incident-numbers get
            /api/v1/incidents get,post
            /api/v1/incidents/{id} get
            /api/v1/incidents/{id}/ack post
            /api/v1/incidents/{id}/actions post
            /api/v1/incidents/{id}/actions/{action}/done post
            /api/v1/incidents/{id}/alerts post
            /api/v1/incidents/{id}/impact post
            /api/v1/incidents/{id}/notes post
            /api/v1/incidents/{id}/review put
            /api/v1/incidents/{id}/roles post
            /api/v1/incidents/{id}/severity post
            /api/v1/incidents/{id}/status post
            /api/v1/incidents/{id}/updates post
            /api/v1/instances get,post
            /api/v1/instances/import post
            /api/v1/instances/{id} delete,get,put
            /api/v1/kb/articles get,post
            /api/v1/kb/articles/{id} get,put
            /api/v1/ledger post
            /api/v1/me get
            /api/v1/merchants get,post
            /api/v1/merchants/import post
            /api/v1/merchants/{id} delete,get,put
            /api/v1/notifications get
            /api/v1/oncall get
            /api/v1/oncall/schedules post
            /api/v1/oncall/schedules/{id} delete
            /api/v1/overview get
            /api/v1/pools get,post
            /api/v1/pools/import post
            /api/v1/pools/{id} delete,get,put
            /api/v1/pools/{id}/backtest get
            /api/v1/pools/{id}/forecast get
            /api/v1/pools/{id}/ledger get
            /api/v1/pools/{id}/stock get
            /api/v1/problems get
            /api/v1/products get,post
            /api/v1/products/import post
            /api/v1/products/{id} delete,get,put
            /api/v1/products/{id}/forecast get
            /api/v1/promotions get,post
            /api/v1/promotions/import post
            /api/v1/promotions/{id} delete,get,put
            /api/v1/regions get,post
            /api/v1/regions/import post
            /api/v1/regions/{id} delete,get,put
            /api/v1/regions/{id}/forecast get
            /api/v1/reservations get,post
            /api/v1/reservations/import post
            /api/v1/reservations/{id} delete,get,put
            /api/v1/rules get,post
            /api/v1/rules/{name} delete
            /api/v1/scrape-targets get,post
            /api/v1/scrape-targets/import post
            /api/v1/scrape-targets/{id} delete,get,put
            /api/v1/search get
            /api/v1/services get,post
            /api/v1/services/import post
            /api/v1/services/{id} delete,get,put
            /api/v1/severity-definitions get,put
            /api/v1/silences get,post
            /api/v1/silences/{id} delete
            /api/v1/sla-policy get
            /api/v1/ticket-clusters get
            /api/v1/ticket-clusters/{id}/mark post
            /api/v1/ticket-numbers get
            /api/v1/tickets get,post
            /api/v1/tickets/deflections post
            /api/v1/tickets/suggestions post
            /api/v1/tickets/{id} get
            /api/v1/tickets/{id}/article post
            /api/v1/tickets/{id}/assign post
            /api/v1/tickets/{id}/attachments post
            /api/v1/tickets/{id}/attachments/{att} get
            /api/v1/tickets/{id}/comments post
            /api/v1/tickets/{id}/de-escalate post
            /api/v1/tickets/{id}/escalate post
            /api/v1/tickets/{id}/links post
            /api/v1/tickets/{id}/status post
            /api/v1/tickets/{id}/time post
            /api/v1/tokens post
            /api/v1/users post
            /api/v1/zones get,post
            /api/v1/zones/import post
            /api/v1/zones/{id} delete,get,put
            /api/v1/zones/{id}/forecast get
            /prometheus/api/v1/admin/tsdb/flush post
            /prometheus/api/v1/import/prometheus post
            /prometheus/api/v1/label/{name}/values get
            /prometheus/api/v1/labels get
            /prometheus/api/v1/metadata get
            /prometheus/api/v1/query get
            /prometheus/api/v1/query_range get
            /prometheus/api/v1/series get
            /prometheus/api/v1/status/buildinfo get
            /prometheus/api/v1/targets get
            /prometheus/api/v1/write post"#]]
        .assert_eq(&lines.join("\n"));
    }
}
