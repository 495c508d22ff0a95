//! A list page and a detail page for every kind of the catalogue, driven by the kind's
//! columns, so a new field shows up here without touching this module.
//!
//! Detail pages add what an operator looks for next: a merchant's instances and
//! services, a pool's usage and hosts, a host's instances, and a service's
//! dependencies in and out.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use cairn_app::App;
use cairn_domain::access::Scope;
use cairn_domain::{
    with_entity, ColumnType, Dependency, Entity, Host, Instance, Kind, Principal, Service,
};
use maud::{html, Markup};
use serde_json::Value;

use super::format::{capitalised, label, query, value};
use super::layout::respond;
use super::overview::usage_bar;
use super::{Page, UiError};
use crate::auth::Viewer;
use crate::AppState;

/// The query pairs of a request: filters, `limit` and `cursor`.
type Params = Vec<(String, String)>;

/// `GET /ui/{kind}`: one page of records of a kind, filtered by the query string.
pub async fn list(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(plural): Path<String>,
    q: Result<Query<Params>, QueryRejection>,
) -> Response {
    let page = async {
        let kind = kind_of(&plural)?;
        let Query(params) = q.map_err(|e| UiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
        // A submitted filter form sends empty fields too; they mean "any".
        let params: Params = params.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        with_entity!(kind, E => list_page::<E>(&s.app, &p, &params).await)
    };
    respond(&p, page.await)
}

/// `GET /ui/{kind}/{id}`: every field of one record and the records around it.
pub async fn detail(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path((plural, id)): Path<(String, String)>,
) -> Response {
    let page = async {
        let kind = kind_of(&plural)?;
        with_entity!(kind, E => detail_page::<E>(&s.app, &p, &id).await)
    };
    respond(&p, page.await)
}

fn kind_of(plural: &str) -> Result<Kind, UiError> {
    Kind::from_plural(plural)
        .ok_or_else(|| UiError::not_found(format!("there is no kind of record called {plural:?}")))
}

/// The navigation section a kind's pages belong to, if it has one.
fn section(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Merchant => Some("/ui/merchants"),
        Kind::Pool => Some("/ui/pools"),
        Kind::Host => Some("/ui/hosts"),
        Kind::Instance => Some("/ui/instances"),
        Kind::Service | Kind::Dependency => Some("/ui/services"),
        Kind::Promotion => Some("/ui/promotions"),
        Kind::ScrapeTarget => Some("/ui/metrics"),
        Kind::CapacityChange | Kind::Reservation => Some("/ui/capacity"),
        Kind::AnomalyRule => Some("/ui/alerts"),
        Kind::Region | Kind::Zone | Kind::Product => None,
    }
}

async fn list_page<E: Entity>(app: &App, p: &Principal, params: &Params) -> Result<Page, UiError> {
    let kind = E::KIND;
    let page = app.list_records::<E>(p, params).await?;
    let rows = to_values(&page.items);
    let filtered = params.iter().any(|(k, _)| k != "limit" && k != "cursor");
    let next = page.next_cursor.as_ref().map(|cursor| {
        let mut pairs: Params = params
            .iter()
            .filter(|(k, _)| k != "cursor")
            .cloned()
            .collect();
        pairs.push(("cursor".into(), cursor.clone()));
        format!("/ui/{}?{}", kind.plural(), query(&pairs))
    });
    Ok(Page {
        title: capitalised(kind.plural()),
        section: section(kind),
        body: html! {
            h1 { (capitalised(kind.plural())) }
            (filter_form(kind, params, filtered))
            @if rows.is_empty() {
                p #empty .muted { "No " (kind.plural()) " match." }
            } @else {
                p .muted #shown { "Showing " (rows.len()) " " (kind.plural())
                    @if params.iter().any(|(k, _)| k == "cursor") { ", continued" } "." }
                (table(p, kind, &rows, "records"))
            }
            nav .pager aria-label="Pages" {
                @if params.iter().any(|(k, _)| k == "cursor") {
                    a href=(format!("/ui/{}", kind.plural())) { "First page" }
                }
                @if let Some(next) = &next {
                    a #next-page rel="next" href=(next) { "Next page →" }
                }
            }
        },
    })
}

/// A form of the kind's filterable columns, open when a filter is in force.
fn filter_form(kind: Kind, params: &Params, open: bool) -> Markup {
    let filters: Vec<_> = kind.columns().iter().filter(|c| c.filter).collect();
    if filters.is_empty() {
        return html! {};
    }
    let current = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    html! {
        details .filters open[open] {
            summary { "Filter" }
            form method="get" action=(format!("/ui/{}", kind.plural())) {
                @for c in &filters {
                    div .field {
                        label for=(format!("f-{}", c.name)) { (label(c.name)) }
                        input id=(format!("f-{}", c.name)) type="text" name=(c.name) value=(current(c.name));
                    }
                }
                @if let Some((_, limit)) = params.iter().find(|(k, _)| k == "limit") {
                    input type="hidden" name="limit" value=(limit);
                }
                div .actions {
                    button type="submit" { "Apply" }
                    a href=(format!("/ui/{}", kind.plural())) { "Clear" }
                }
            }
        }
    }
}

/// Records as JSON objects, which the generic views read by column name.
fn to_values<E: Entity>(items: &[E]) -> Vec<Value> {
    items
        .iter()
        .map(|e| serde_json::to_value(e).unwrap_or_default())
        .collect()
}

/// A link to a record, or `None` when the principal may not read its kind.
fn record_href(p: &Principal, kind: Kind, id: &str) -> Option<String> {
    (p.read_scope(kind) != Scope::Denied).then(|| format!("/ui/{}/{id}", kind.plural()))
}

/// The value of one field: a link for the record's own id and for references the
/// principal may follow, plain text otherwise, and a dash when absent.
fn cell(p: &Principal, kind: Kind, column: &cairn_domain::Column, v: &Value) -> Markup {
    let Some(text) = value(v) else {
        return html! { span .absent { "—" } };
    };
    let target = if column.name == "id" {
        Some(kind)
    } else {
        column.references
    };
    match target.and_then(|k| record_href(p, k, &text)) {
        Some(href) => html! { a href=(href) { (text) } },
        None => html! { (text) },
    }
}

fn is_numeric(column: &cairn_domain::Column) -> bool {
    matches!(column.ty, ColumnType::Real | ColumnType::Integer)
}

/// A table of records with one column per field of the kind, scrolling sideways on
/// narrow screens rather than widening the page.
fn table(p: &Principal, kind: Kind, rows: &[Value], id: &str) -> Markup {
    let columns = kind.columns();
    html! {
        div .table-wrap {
            table id=(id) data-kind=(kind.plural()) {
                thead {
                    tr {
                        @for c in columns {
                            th scope="col" .num[is_numeric(c)] { (label(c.name)) }
                        }
                    }
                }
                tbody {
                    @for row in rows {
                        tr {
                            @for c in columns {
                                td .num[is_numeric(c)] {
                                    (cell(p, kind, c, row.get(c.name).unwrap_or(&Value::Null)))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The host's load over the last hour, from its exporter's `node_load1`, when this
/// server runs a metrics store and the host has an exporter.
async fn host_chart(app: &App, p: &Principal, exporter: Option<&str>) -> Markup {
    let (Some(exporter), Some(_)) = (exporter, app.metrics.as_ref()) else {
        return html! {};
    };
    // Exporter addresses are validated as host:port, so they hold no quotes.
    let query = format!("node_load1{{instance=\"{exporter}\"}}");
    let chart = match super::metrics::lines(app, p, &query, 3_600_000).await {
        Ok(lines) => super::chart::line_chart(&lines, &query),
        Err(e) => html! { p .muted { (e.message) } },
    };
    html! {
        section #host-load {
            h2 { "Load, last hour" }
            (chart)
        }
    }
}

/// The load of the pool's hosts over the last hour (average and busiest), when this
/// server runs a metrics store and the pool's hosts have exporters.
async fn pool_chart(app: &App, p: &Principal, pool_id: &str) -> Markup {
    if app.metrics.is_none() {
        return html! {};
    }
    let matcher = match app.pool_exporters_matcher(p, pool_id).await {
        Ok(Some(m)) => m,
        Ok(None) => return html! {},
        Err(e) => return html! { p .muted { (e.to_string()) } },
    };
    let mut lines = Vec::new();
    for (agg, label) in [("avg", "average of its hosts"), ("max", "busiest host")] {
        let query = format!("{agg}(node_load1{{{matcher}}})");
        match super::metrics::lines(app, p, &query, 3_600_000).await {
            Ok(found) => lines.extend(found.into_iter().map(|mut l| {
                l.label = label.to_owned();
                l
            })),
            Err(e) => return html! { p .muted { (e.message) } },
        }
    }
    html! {
        section #pool-load .related aria-labelledby="pool-load-title" {
            h2 #pool-load-title { "Load of its hosts, last hour" }
            (super::chart::line_chart(&lines, "node_load1 of the pool's hosts"))
        }
    }
}

async fn detail_page<E: Entity>(app: &App, p: &Principal, id: &str) -> Result<Page, UiError> {
    let kind = E::KIND;
    let record = app.get_record::<E>(p, id).await?;
    let fields = serde_json::to_value(&record).unwrap_or_default();
    let name = fields
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(id)
        .to_owned();
    let related = match kind {
        Kind::Merchant => merchant_sections(app, p, id).await?,
        Kind::Pool => pool_sections(app, p, id).await?,
        Kind::Host => {
            let instances = related::<Instance>(
                app,
                p,
                "Instances on this host",
                "instances",
                ("host_id", id),
            )
            .await?;
            let exporter = fields.get("exporter").and_then(Value::as_str);
            html! { (host_chart(app, p, exporter).await) (instances) }
        }
        Kind::Service => service_sections(app, p, id).await?,
        _ => html! {},
    };
    // What changed here: only for staff, who may read changes.
    let changes = match kind {
        Kind::Merchant | Kind::Service => super::changes::touching(app, p, id).await,
        _ => html! {},
    };
    Ok(Page {
        title: format!("{name} · {}", kind.singular()),
        section: section(kind),
        body: html! {
            p .kind-label {
                a href=(format!("/ui/{}", kind.plural())) { (capitalised(kind.plural())) }
                " › " (kind.singular()) " " code { (id) }
            }
            h1 id=(format!("{}-name", kind.singular())) data-testid="record-title" { (name) }
            dl #fields .fields {
                @for c in kind.columns() {
                    div {
                        dt { (label(c.name)) }
                        dd {
                            @if c.name == "id" {
                                code { (id) }
                            } @else {
                                (cell(p, kind, c, fields.get(c.name).unwrap_or(&Value::Null)))
                            }
                        }
                    }
                }
            }
            (related)
            (changes)
        },
    })
}

/// Up to a page of records of `E` where `filter` holds, as a titled table with a link
/// to the full list when there are more.
async fn related<E: Entity>(
    app: &App,
    p: &Principal,
    title: &str,
    id: &str,
    filter: (&str, &str),
) -> Result<Markup, UiError> {
    let params = vec![(filter.0.to_owned(), filter.1.to_owned())];
    let page = app.list_records::<E>(p, &params).await?;
    let rows = to_values(&page.items);
    let all = format!("/ui/{}?{}", E::KIND.plural(), query(&params));
    Ok(html! {
        section .related aria-labelledby=(format!("{id}-title")) {
            h2 id=(format!("{id}-title")) { (title) }
            @if rows.is_empty() {
                p .muted { "None." }
            } @else {
                (table(p, E::KIND, &rows, id))
                @if page.next_cursor.is_some() {
                    p { a href=(all) { "All " (E::KIND.plural()) " →" } }
                }
            }
        }
    })
}

async fn merchant_sections(app: &App, p: &Principal, id: &str) -> Result<Markup, UiError> {
    let instances =
        related::<Instance>(app, p, "Instances", "instances", ("merchant_id", id)).await?;
    let services = related::<Service>(app, p, "Services", "services", ("merchant_id", id)).await?;
    Ok(html! { (instances) (services) })
}

async fn pool_sections(app: &App, p: &Principal, id: &str) -> Result<Markup, UiError> {
    let overview = app.overview(p).await?;
    let usage = overview
        .regions
        .iter()
        .flat_map(|r| &r.zones)
        .flat_map(|z| &z.pools)
        .find(|u| u.pool.id.as_str() == id);
    let hosts =
        related::<Host>(app, p, "Hosts serving this pool", "hosts", ("pool_id", id)).await?;
    let instances = format!("/ui/instances?{}", query(&[("pool_id".into(), id.into())]));
    Ok(html! {
        @if let Some(u) = usage {
            section .related #usage aria-labelledby="usage-title" {
                h2 #usage-title { "Usage" }
                (usage_bar(u))
                p { a href=(instances) { "Instances in this pool →" } }
            }
        }
        (super::capacity::pool_section(app, p, id).await)
        (pool_chart(app, p, id).await)
        (hosts)
    })
}

async fn service_sections(app: &App, p: &Principal, id: &str) -> Result<Markup, UiError> {
    let calls = |field: &str| vec![(field.to_owned(), id.to_owned())];
    let out = app
        .list_records::<Dependency>(p, &calls("from_service_id"))
        .await?;
    let into = app
        .list_records::<Dependency>(p, &calls("to_service_id"))
        .await?;
    // Name the services at the other ends, as far as the principal may see them.
    let mut names: HashMap<String, Option<String>> = HashMap::new();
    for other in out
        .items
        .iter()
        .map(|d| &d.to_service_id)
        .chain(into.items.iter().map(|d| &d.from_service_id))
    {
        if !names.contains_key(other.as_str()) {
            let name = app
                .get_record::<Service>(p, other.as_str())
                .await
                .ok()
                .map(|s| s.name);
            names.insert(other.to_string(), name);
        }
    }
    let end = |sid: &str| match names.get(sid).cloned().flatten() {
        Some(name) => html! {
            a href=(format!("/ui/services/{sid}")) { (name) } " " code .muted { (sid) }
        },
        None => html! { code { (sid) } " " span .muted { "(not visible to you)" } },
    };
    Ok(html! {
        section .related #dependencies aria-labelledby="deps-title" {
            h2 #deps-title { "Dependencies" }
            p { a href=(format!("/ui/topology#node-{id}")) { "Show in the topology →" } }
            div .columns {
                div {
                    h3 { "Calls (" (out.items.len()) ")" }
                    @if out.items.is_empty() { p .muted { "Nothing." } }
                    ul #calls .link-list {
                        @for d in &out.items { li { (end(d.to_service_id.as_str())) } }
                    }
                }
                div {
                    h3 { "Called by (" (into.items.len()) ")" }
                    @if into.items.is_empty() { p .muted { "Nothing." } }
                    ul #called-by .link-list {
                        @for d in &into.items { li { (end(d.from_service_id.as_str())) } }
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use cairn_domain::Role;
    use serde_json::json;

    use super::*;

    use crate::ui::tests::principal;

    #[test]
    fn tables_link_ids_and_only_the_references_a_role_may_follow() {
        let row = json!({
            "id": "i-1", "merchant_id": "m-1", "product_id": "ecs", "pool_id": "pool-1",
            "host_id": null, "spec": "ecs.g6.large", "units": 2.0, "state": "running"
        });
        let ops = table(
            &principal(Role::AppOps),
            Kind::Instance,
            std::slice::from_ref(&row),
            "t",
        )
        .into_string();
        assert!(ops.contains(r#"<a href="/ui/instances/i-1">i-1</a>"#));
        assert!(ops.contains(r#"<a href="/ui/pools/pool-1">pool-1</a>"#));
        assert!(ops.contains("—"), "an absent host shows a dash");
        let merchant = table(&principal(Role::Merchant), Kind::Instance, &[row], "t").into_string();
        assert!(merchant.contains(r#"<a href="/ui/merchants/m-1">m-1</a>"#));
        assert!(
            !merchant.contains("/ui/pools/"),
            "merchants may not open pools"
        );
        assert!(merchant.contains(">pool-1<"));
    }

    #[test]
    fn the_filter_form_offers_the_filterable_columns() {
        let params = vec![("state".to_owned(), "running".to_owned())];
        let form = filter_form(Kind::Instance, &params, true).into_string();
        assert!(form.contains("<details class=\"filters\" open>"));
        assert!(form.contains(r#"name="state" value="running""#));
        assert!(form.contains(r#"name="merchant_id""#));
        assert!(!form.contains(r#"name="spec""#), "spec is not a filter");
    }
}
