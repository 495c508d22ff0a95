//! The overview: record counts per kind, and every region's zones with the usage of
//! their pools. A merchant sees only its own counts and no pools, as the use case
//! decides; the page adds links to the merchant's own records.

use axum::extract::State;
use axum::response::Response;
use cairn_app::overview::{Overview, PoolUsage, RegionView};
use cairn_app::App;
use cairn_domain::{Merchant, Principal};
use maud::{html, Markup};

use super::format::{capitalised, count, number, percent};
use super::layout::respond;
use super::{Page, UiError};
use crate::auth::Viewer;
use crate::AppState;

/// Usage at or above this share of capacity is drawn as critical.
const CRITICAL: f64 = 0.90;
/// Usage at or above this share of capacity is drawn as a warning.
const WARNING: f64 = 0.75;

/// `GET /`: the overview page.
pub async fn show(State(s): State<AppState>, Viewer(p): Viewer) -> Response {
    respond(&p, page(&s.app, &p).await)
}

async fn page(app: &App, p: &Principal) -> Result<Page, UiError> {
    let overview = app.overview(p).await?;
    let tenant = match cairn_app::records::tenant_of(p) {
        Some(m) => Some(app.get_record::<Merchant>(p, m.as_str()).await?),
        None => None,
    };
    Ok(Page {
        title: "Overview".into(),
        section: Some("/"),
        body: view(&overview, tenant.as_ref()),
    })
}

/// The body of the overview page.
fn view(o: &Overview, tenant: Option<&Merchant>) -> Markup {
    let pools: Vec<&PoolUsage> = o
        .regions
        .iter()
        .flat_map(|r| &r.zones)
        .flat_map(|z| &z.pools)
        .collect();
    let critical = pools.iter().filter(|u| u.ratio() >= CRITICAL).count();
    let warning = pools
        .iter()
        .filter(|u| (WARNING..CRITICAL).contains(&u.ratio()))
        .count();
    html! {
        h1 { "Overview" }
        @if let Some(m) = tenant {
            section #tenant .panel aria-labelledby="tenant-title" {
                h2 #tenant-title { (m.name) }
                p .muted { "Merchant " (m.id) " · your own records only" }
                ul .link-list {
                    li { a #my-merchant href=(format!("/ui/merchants/{}", m.id)) { "Your merchant page" } }
                    li { a #my-instances href="/ui/instances" { "Your instances" } }
                    li { a #my-services href="/ui/services" { "Your services" } }
                    li { a href="/ui/topology" { "Your service topology" } }
                }
            }
        }
        section aria-labelledby="counts-title" {
            h2 #counts-title { "Records" }
            ul #counts .cards {
                @for (plural, n) in &o.counts {
                    li .card data-testid=(format!("count-{plural}")) data-kind=(plural) {
                        a href=(format!("/ui/{plural}")) {
                            span .value data-count=(n) { (count(*n)) }
                            span .label { (capitalised(plural)) }
                        }
                    }
                }
            }
        }
        @if !pools.is_empty() {
            section #capacity aria-labelledby="capacity-title" {
                h2 #capacity-title { "Capacity" }
                p .summary {
                    (pools.len()) " pools: "
                    span .badge .crit { (critical) " at 90% or more" }
                    " "
                    span .badge .warn { (warning) " at 75–90%" }
                }
                @for region in &o.regions {
                    (region_view(region))
                }
            }
        }
    }
}

/// One region: its zones as cards, each listing its pools with usage bars.
fn region_view(r: &RegionView) -> Markup {
    html! {
        section .region data-region=(r.region.id) {
            h3 { (r.region.name) " " span .muted .nowrap { (r.region.id) } }
            div .zones {
                @for z in &r.zones {
                    article .zone data-zone=(z.zone.id) {
                        h4 { a href=(format!("/ui/zones/{}", z.zone.id)) { (z.zone.name) } }
                        @if z.pools.is_empty() {
                            p .muted { "No pools." }
                        } @else {
                            ul .pools {
                                @for u in &z.pools {
                                    li { (usage_bar(u)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The usage of one pool: product, used of capacity with its unit, and a bar whose
/// colour says how close the pool is to running out. The percentage is also written
/// out, so colour is never the only cue.
pub(super) fn usage_bar(u: &PoolUsage) -> Markup {
    let ratio = u.ratio();
    let pct = percent(ratio);
    let level = if ratio >= CRITICAL {
        "crit"
    } else if ratio >= WARNING {
        "warn"
    } else {
        "ok"
    };
    let product = if u.product.is_empty() {
        u.pool.product_id.to_string()
    } else {
        u.product.clone()
    };
    html! {
        div .pool-usage data-pool=(u.pool.id) data-level=(level) data-percent=(pct) {
            div .usage-head {
                a .product href=(format!("/ui/pools/{}", u.pool.id)) { (product) }
                span .nums {
                    (number(u.used)) " / " (number(u.pool.capacity)) " " (u.unit)
                    " · " strong { (pct) "%" }
                }
            }
            div .bar role="meter" aria-valuemin="0" aria-valuemax="100" aria-valuenow=(pct.min(100))
                aria-label=(format!("{product} used {pct}%")) {
                span class=(format!("fill {level}")) style=(format!("width:{}%", pct.min(100))) {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cairn_app::overview::ZoneView;
    use cairn_domain::{Pool, Region, Tier, Zone};

    use super::*;

    fn usage(id: &str, used: f64, capacity: f64) -> PoolUsage {
        PoolUsage {
            pool: Pool {
                id: id.into(),
                product_id: "ecs".into(),
                zone_id: "cn-hangzhou-g".into(),
                capacity,
            },
            product: "ECS".into(),
            unit: "vCPU".into(),
            used,
        }
    }

    #[test]
    fn bars_are_coloured_by_threshold_and_capped_at_full_width() {
        let ok = usage_bar(&usage("p1", 50.0, 100.0)).into_string();
        assert!(ok.contains(r#"class="fill ok" style="width:50%""#), "{ok}");
        let warn = usage_bar(&usage("p2", 75.0, 100.0)).into_string();
        assert!(warn.contains(r#"data-level="warn""#));
        let over = usage_bar(&usage("p3", 1250.0, 1000.0)).into_string();
        assert!(over.contains(r#"data-level="crit""#));
        assert!(over.contains("width:100%"));
        assert!(over.contains("1,250 / 1,000 vCPU"));
        assert!(over.contains("125%"));
    }

    #[test]
    fn merchants_get_their_links_and_no_capacity_section() {
        let o = Overview {
            counts: vec![("merchants".into(), 1), ("instances".into(), 12)],
            regions: vec![RegionView {
                region: Region {
                    id: "cn-hangzhou".into(),
                    name: "华东1（杭州）".into(),
                },
                zones: vec![ZoneView {
                    zone: Zone {
                        id: "cn-hangzhou-g".into(),
                        region_id: "cn-hangzhou".into(),
                        name: "杭州 可用区G".into(),
                    },
                    pools: vec![],
                }],
            }],
        };
        let m = Merchant {
            id: "m-10001".into(),
            name: "<b>小米</b>".into(),
            tier: Tier::Vip,
            contact_email: None,
        };
        let page = view(&o, Some(&m)).into_string();
        assert!(page.contains(r#"href="/ui/merchants/m-10001""#));
        assert!(page.contains("&lt;b&gt;小米&lt;/b&gt;"));
        assert!(page.contains(r#"data-count="12""#));
        assert!(!page.contains(r#"id="capacity""#));
    }
}
