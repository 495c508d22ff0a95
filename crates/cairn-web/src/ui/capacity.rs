//! The capacity pages: the overview (a utilisation heat map by region, zone and
//! product; pools by days to stock-out with restock advice; a promotion what-if), and
//! the capacity section of each pool's page (history, forecast with intervals and
//! promotion markers, the explanation, stock-out dates, advice and backtests).

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Query, State};
use axum::response::Response;
use cairn_app::capacity::{
    CapacityReport, PoolForecast, PoolSummary, WhatIfReport, DEFAULT_HORIZON,
};
use cairn_app::App;
use cairn_domain::capacity::date_format;
use cairn_domain::Principal;
use maud::{html, Markup};
use serde::Deserialize;
use time::Date;

use super::chart::{forecast_chart, BandPoint, ForecastChart};
use super::format::{number, percent};
use super::layout::respond;
use super::{Page, UiError};
use crate::auth::Viewer;
use crate::AppState;

/// The what-if form's fields; all absent on a plain visit.
#[derive(Debug, Default, Deserialize)]
pub struct WhatIfForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub starts_on: String,
    #[serde(default)]
    pub ends_on: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub region_id: String,
    #[serde(default)]
    pub merchant_id: String,
    #[serde(default)]
    pub expected_uplift: String,
}

/// `GET /ui/capacity`
pub async fn show(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Query(form): Query<WhatIfForm>,
) -> Response {
    respond(&p, page(&s.app, &p, form).await)
}

fn day(d: Option<Date>) -> String {
    d.map(date_format::format).unwrap_or_else(|| "—".into())
}

/// A background for a utilisation: green when low, amber, red when nearly full.
fn heat(u: f64) -> String {
    let u = u.clamp(0.0, 1.0);
    let hue = if u < 0.6 {
        120.0
    } else {
        120.0 * (1.0 - (u - 0.6) / 0.4)
    };
    format!("background: hsl({hue:.0}, 70%, 78%)")
}

async fn page(app: &App, p: &Principal, form: WhatIfForm) -> Result<Page, UiError> {
    let report = app.capacity_report(p).await?;
    let what_if = if form.starts_on.is_empty() {
        None
    } else {
        Some(run_what_if(app, p, &form).await)
    };
    let regions: Vec<String> = report
        .groups
        .iter()
        .filter(|g| g.level == "region")
        .map(|g| g.key.clone())
        .collect();
    Ok(Page {
        title: "Capacity".into(),
        section: Some("/ui/capacity"),
        body: html! {
            h1 { "Capacity" }
            p .muted {
                "As of " (date_format::format(report.today)) ": stock, forecasts for the next "
                (report.horizon) " days, and restock advice at a "
                (percent(report.service_level)) "% service level."
            }
            (risk_summary(&report))
            (heatmap(&report))
            (pool_table(&report.pools))
            (what_if_form(&form, &regions, what_if))
        },
    })
}

fn risk_summary(r: &CapacityReport) -> Markup {
    let at_risk: Vec<&PoolSummary> = r
        .pools
        .iter()
        .filter(|s| s.restock.as_ref().is_some_and(|a| a.at_risk))
        .collect();
    html! {
        @if at_risk.is_empty() {
            p #capacity-alerts .panel { "No pool runs out before new hardware could arrive." }
        } @else {
            section #capacity-alerts .panel role="alert" aria-labelledby="alerts-title" {
                h2 #alerts-title { (at_risk.len()) " pools may run out before an order placed today arrives" }
                ul {
                    @for s in &at_risk {
                        @let a = s.restock.as_ref().expect("filtered on advice");
                        li {
                            a href=(format!("/ui/pools/{}", s.position.pool_id)) { (s.position.pool_id) }
                            ": out by " strong { (day(a.stock_out)) } " at " (percent(r.service_level)) "%, "
                            "lead time " (s.position.lead_time_days) " days; order "
                            strong { (number(a.order_units.ceil())) " " (s.position.unit) }
                            @if let Some(by) = a.order_by {
                                @if by < r.today { " — the order date " (date_format::format(by)) " has passed" }
                                @else { " by " (date_format::format(by)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn heatmap(r: &CapacityReport) -> Markup {
    let products: BTreeSet<&str> = r
        .pools
        .iter()
        .map(|s| s.position.product_id.as_str())
        .collect();
    // region → zone → product → pool
    let mut grid: BTreeMap<&str, BTreeMap<&str, BTreeMap<&str, &PoolSummary>>> = BTreeMap::new();
    for s in &r.pools {
        grid.entry(&s.position.region_id)
            .or_default()
            .entry(&s.position.zone_id)
            .or_default()
            .insert(&s.position.product_id, s);
    }
    html! {
        section .related aria-labelledby="heatmap-title" {
            h2 #heatmap-title { "Utilisation by region, zone and product" }
            div .table-wrap {
                table #heatmap .heatmap {
                    thead { tr { th { "Region" } th { "Zone" } @for p in &products { th { (p) } } } }
                    tbody {
                        @for (region, zones) in &grid {
                            @for (i, (zone, cells)) in zones.iter().enumerate() {
                                tr {
                                    @if i == 0 { th rowspan=(zones.len()) { (region) } }
                                    th { (zone) }
                                    @for prod in &products {
                                        @match cells.get(prod) {
                                            Some(s) => td .cell style=(heat(s.position.utilisation)) title=(format!("{}: {} of {} {} used", s.position.pool_id, number(s.position.sold + s.position.reserved), number(s.position.capacity), s.position.unit)) {
                                                a href=(format!("/ui/pools/{}", s.position.pool_id)) { (percent(s.position.utilisation)) "%" }
                                            },
                                            None => td .empty {},
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn pool_table(pools: &[PoolSummary]) -> Markup {
    html! {
        section .related aria-labelledby="pools-title" {
            h2 #pools-title { "Pools by days to stock-out" }
            div .table-wrap {
                table #risk-list .risk-list {
                    thead { tr {
                        th { "Pool" } th .num { "Used" } th .num { "Stock left" }
                        th { "Out at 50% / 80% / 95%" } th .num { "Days (80%)" }
                        th .num { "Lead time" } th .num { "Order" } th { "Order by" }
                    } }
                    tbody {
                        @for s in pools {
                            @let a = s.restock.as_ref();
                            tr .at-risk[a.is_some_and(|a| a.at_risk)] {
                                td { a href=(format!("/ui/pools/{}", s.position.pool_id)) { (s.position.pool_id) } }
                                td .num { (percent(s.position.utilisation)) "%" }
                                td .num { (number(s.position.stock_left.round())) " " (s.position.unit) }
                                td {
                                    @match &s.stock_out {
                                        Some(o) => { (day(o.p50)) " / " (day(o.p80)) " / " (day(o.p95)) },
                                        None => span .muted { (s.note.clone().unwrap_or_default()) },
                                    }
                                }
                                td .num { (s.days_to_stock_out_p80.map(|d| d.to_string()).unwrap_or_else(|| "—".into())) }
                                td .num { (s.position.lead_time_days) " d" }
                                td .num { (a.map(|a| number(a.order_units.ceil())).unwrap_or_default()) }
                                td {
                                    @if let Some(a) = a {
                                        @if a.at_risk { span .badge .crit { "at risk" } " " }
                                        (day(a.order_by))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Local days to the promotion's window: from 00:00 of the first to the end of the
/// last, in the calendar's time zone.
fn window(form: &WhatIfForm) -> Result<(String, String), String> {
    let first = date_format::parse(&form.starts_on).map_err(|m| format!("starts_on: {m}"))?;
    let last = date_format::parse(&form.ends_on).map_err(|m| format!("ends_on: {m}"))?;
    let offset = cairn_app::capacity::CALENDAR_OFFSET;
    let fmt = &time::format_description::well_known::Rfc3339;
    let start = first.midnight().assume_offset(offset);
    let end = (last.midnight() + time::Duration::days(1) - time::Duration::seconds(1))
        .assume_offset(offset);
    Ok((
        start.format(fmt).unwrap_or_default(),
        end.format(fmt).unwrap_or_default(),
    ))
}

async fn run_what_if(app: &App, p: &Principal, form: &WhatIfForm) -> Result<WhatIfReport, String> {
    let (starts_at, ends_at) = window(form)?;
    let uplift: f64 = form.expected_uplift.trim().parse().map_err(|_| {
        format!(
            "expected_uplift: {:?} is not a number",
            form.expected_uplift
        )
    })?;
    let mut body = serde_json::json!({
        "name": if form.name.trim().is_empty() { "Planned promotion" } else { form.name.trim() },
        "starts_at": starts_at,
        "ends_at": ends_at,
        "scope": if form.scope.is_empty() { "global" } else { form.scope.as_str() },
        "expected_uplift": uplift,
    });
    if !form.region_id.is_empty() {
        body["region_id"] = serde_json::json!(form.region_id);
    }
    if !form.merchant_id.is_empty() {
        body["merchant_id"] = serde_json::json!(form.merchant_id);
    }
    app.capacity_what_if(p, body)
        .await
        .map_err(|e| match e.field() {
            Some(f) => format!("{f}: {e}"),
            None => e.to_string(),
        })
}

fn what_if_form(
    form: &WhatIfForm,
    regions: &[String],
    result: Option<Result<WhatIfReport, String>>,
) -> Markup {
    html! {
        section .related #what-if aria-labelledby="whatif-title" {
            h2 #whatif-title { "What if: a planned promotion" }
            p .muted { "Enter a promotion the business plans; see the demand it brings, the shortfall per pool and the reservations it needs. Nothing is stored." }
            form .whatif-form method="get" action="/ui/capacity#what-if" {
                label { "Name" input name="name" value=(form.name) placeholder="Spring sale"; }
                label { "First day" input type="date" name="starts_on" value=(form.starts_on) required; }
                label { "Last day" input type="date" name="ends_on" value=(form.ends_on) required; }
                label { "Scope"
                    select name="scope" {
                        @for s in ["global", "region", "merchant"] {
                            option value=(s) selected[form.scope == s] { (s) }
                        }
                    }
                }
                label { "Region (scope region)"
                    select name="region_id" {
                        option value="" { "—" }
                        @for r in regions { option value=(r) selected[&form.region_id == r] { (r) } }
                    }
                }
                label { "Merchant id (scope merchant)" input name="merchant_id" value=(form.merchant_id); }
                label { "Expected uplift (× normal demand)" input name="expected_uplift" value=(if form.expected_uplift.is_empty() { "3" } else { form.expected_uplift.as_str() }) inputmode="decimal"; }
                button type="submit" { "Project" }
            }
            @match result {
                None => {},
                Some(Err(e)) => p .error #whatif-error role="alert" { (e) },
                Some(Ok(r)) => {
                    p #whatif-summary {
                        strong { (r.pools.len()) } " pools reached; extra demand "
                        strong { (number(r.total_extra_demand.round())) } " units; reserve "
                        strong { (number(r.total_reservation_units.round())) } "; "
                        @if r.pools_short > 0 {
                            span .badge .crit { (r.pools_short) " pools short" } " by "
                            (number(r.total_shortfall_units.round())) " units in all."
                        } @else { "no pool falls short." }
                    }
                    div .table-wrap {
                        table #whatif-pools {
                            thead { tr { th { "Pool" } th .num { "Demand without" } th .num { "With" } th .num { "Extra" } th .num { "Reserve" } th .num { "Shortfall" } th { "Out at 50% with" } } }
                            tbody {
                                @for i in &r.pools {
                                    tr .at-risk[i.shortfall_units > 0.0] {
                                        td { a href=(format!("/ui/pools/{}", i.pool_id)) { (i.pool_id) } }
                                        td .num { (number(i.demand_without.round())) }
                                        td .num { (number(i.demand_with.round())) }
                                        td .num { (number(i.extra_demand.round())) }
                                        td .num { (number(i.reservation_units.round())) }
                                        td .num { (number(i.shortfall_units.round())) }
                                        td { (day(i.stock_out_with.p50)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The capacity section of a pool's page.
pub async fn pool_section(app: &App, p: &Principal, pool_id: &str) -> Markup {
    let f = match app.pool_forecast(p, pool_id, DEFAULT_HORIZON, 180).await {
        Ok(f) => f,
        Err(e) => {
            return html! {
                section .related #capacity aria-labelledby="capacity-title" {
                    h2 #capacity-title { "Capacity outlook" }
                    p .muted { (e.to_string()) }
                }
            }
        }
    };
    let backtest = app.pool_backtest(p, pool_id).await.ok();
    forecast_view(&f, backtest.as_deref())
}

fn forecast_view(f: &PoolForecast, backtest: Option<&cairn_app::capacity::Backtest>) -> Markup {
    let chart = ForecastChart {
        title: "daily units sold: history and forecast",
        history: f.history.iter().map(|d| (d.day, d.sold_that_day)).collect(),
        forecast: f
            .points
            .iter()
            .map(|p| BandPoint {
                day: p.date,
                mean: p.mean,
                lo80: p.lo80,
                hi80: p.hi80,
                lo95: p.lo95,
                hi95: p.hi95,
            })
            .collect(),
        marks: f
            .promotions
            .iter()
            .map(|e| (e.first_day, e.last_day, e.name.clone()))
            .collect(),
        level: None,
    };
    let stock_chart = ForecastChart {
        title: "stock left: history and projection",
        history: f.history.iter().map(|d| (d.day, d.stock_left)).collect(),
        forecast: f
            .stock
            .iter()
            .map(|s| BandPoint {
                day: s.date,
                mean: s.mean,
                lo80: s.p80,
                hi80: s.mean,
                lo95: s.p95,
                hi95: s.mean,
            })
            .collect(),
        marks: Vec::new(),
        level: Some((0.0, "stock exhausted".into())),
    };
    let a = &f.restock;
    let pos = &f.position;
    let shown: Vec<&cairn_app::capacity::PromotionEffect> = f
        .promotions
        .iter()
        .filter(|e| e.reach >= 0.05 || e.timing == cairn_app::capacity::Timing::Coming)
        .collect();
    html! {
        section .related #capacity aria-labelledby="capacity-title" {
            h2 #capacity-title { "Capacity outlook" }
            p #stock-out {
                "Stock left " strong { (number(pos.stock_left.round())) " " (pos.unit) }
                " of " (number(pos.capacity)) " (" (percent(pos.utilisation)) "% used). "
                "Runs out by " strong { (day(f.stock_out.p95)) } " at 95%, "
                (day(f.stock_out.p80)) " at 80%, " (day(f.stock_out.p50)) " at 50%"
                " (horizon to " (date_format::format(f.stock_out.horizon_end)) ")."
            }
            p #restock {
                @if a.at_risk { span .badge .crit { "at risk" } " " }
                "Lead time " (pos.lead_time_days) " days. "
                @if a.order_units > 0.0 {
                    "Order " strong { (number(a.order_units.ceil())) " " (pos.unit) }
                    @if let Some(by) = a.order_by { " by " strong { (date_format::format(by)) } }
                    " to cover until " (date_format::format(a.covered_until)) "."
                } @else {
                    "No order needed to cover until " (date_format::format(a.covered_until)) "."
                }
            }
            h3 { "Daily sales" }
            (forecast_chart(&chart))
            h3 { "Stock left" }
            (forecast_chart(&stock_chart))
            h3 { "How the forecast is made" }
            p .muted {
                "Trend " (format!("{:+.0}%", f.fit.growth_per_year * 100.0)) " a year"
                @if f.fit.weekly { ", a weekly pattern" }
                @if f.fit.yearly { ", a yearly season" }
                ", from " (f.fit.days_used) " days of history; each day's forecast is trend × weekly × yearly × promotion."
            }
            @if !f.points.is_empty() {
                div .table-wrap {
                    table #components {
                        thead { tr { th { "Day" } th .num { "Trend" } th .num { "Weekly" } th .num { "Yearly" } th .num { "Promotion" } th .num { "Median" } th { "80%" } th { "95%" } } }
                        tbody {
                            // The first week shows the weekly pattern; then a day a fortnight.
                            @for (_, d) in f.points.iter().enumerate().filter(|(i, _)| *i < 7 || i % 14 == 0) {
                                tr {
                                    td { (date_format::format(d.date)) }
                                    td .num { (number(d.components.trend)) }
                                    td .num { (format!("×{:.2}", d.components.weekly)) }
                                    td .num { (format!("×{:.2}", d.components.yearly)) }
                                    td .num { (format!("×{:.2}", d.components.promotion)) }
                                    td .num { (number(d.median)) }
                                    td { (number(d.lo80)) "–" (number(d.hi80)) }
                                    td { (number(d.lo95)) "–" (number(d.hi95)) }
                                }
                            }
                        }
                    }
                }
            }
            h3 { "Promotions" }
            @if shown.is_empty() {
                p .muted { "No promotion reaches this pool." }
            } @else {
                div .table-wrap {
                    table #promotion-effects {
                        thead { tr { th { "Promotion" } th { "Days" } th { "When" } th .num { "Reach" } th .num { "Expected" } th .num { "Learned" } th .num { "Applied" } th { "Ramp" } } }
                        tbody {
                            @for e in &shown {
                                tr {
                                    td { (e.name) }
                                    td { (date_format::format(e.first_day)) " – " (date_format::format(e.last_day)) }
                                    td { @if e.timing == cairn_app::capacity::Timing::Past { "past" } @else { "coming" } }
                                    td .num { (percent(e.reach)) "%" }
                                    td .num { (format!("×{:.2}", e.expected_uplift)) }
                                    td .num { (e.learned_uplift.map(|u| format!("×{u:.2} ({}×)", e.past_occurrences)).unwrap_or_else(|| "—".into())) }
                                    td .num { (format!("×{:.2}", e.posterior_uplift)) }
                                    td { (e.ramp_before_days) " d before, " (e.ramp_after_days) " d after" }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(b) = backtest {
                p #backtest {
                    "Backtest over " (b.origins.len()) " origins of 28 days: sMAPE "
                    strong { (format!("{:.1}%", b.smape)) } ", MASE " strong { (format!("{:.2}", b.mase)) }
                    " (below 1 beats a weekly-naive forecast)."
                }
            }
        }
    }
}
