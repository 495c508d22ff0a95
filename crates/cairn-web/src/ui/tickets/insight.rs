//! What the tickets say in aggregate: the backlog of repeated requests (clusters of
//! similar tickets, ranked by volume or by time spent, each of which can be marked
//! "to be built into the product") and the numbers by day or week. Staff only; the
//! use cases refuse merchants.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Form;
use cairn_app::tickets::{ClusterView, Numbers, NumbersRow};
use cairn_domain::Principal;
use maud::{html, Markup};
use serde::Deserialize;

use super::{after_form, bad, flash, form, params, span, tabs, when, SECTION};
use crate::auth::Viewer;
use crate::ui::chart::{breakdown, minutes};
use crate::ui::format::percent;
use crate::ui::layout::respond;
use crate::ui::Page;
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacklogParams {
    #[serde(default)]
    window_days: Option<String>,
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct MarkForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    note: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumbersParams {
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

const MARKS: &[(&str, &str)] = &[
    ("to-build", "To be built into the product"),
    ("in-progress", "Being built"),
    ("shipped", "Shipped"),
    ("declined", "Declined"),
];

/// `GET /ui/tickets/backlog`
pub async fn backlog(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    q: Result<Query<BacklogParams>, QueryRejection>,
) -> Response {
    let page = async {
        let q = params(q)?;
        let window: u32 = match q.window_days.as_deref().filter(|v| !v.is_empty()) {
            None => 90,
            Some(v) => v
                .parse()
                .map_err(|_| bad("window_days", format!("must be a whole number, got {v:?}")))?,
        };
        let by_time = match q.by.as_deref().unwrap_or("") {
            "" | "volume" => false,
            "time" => true,
            other => return Err(bad("by", format!("must be volume or time, got {other:?}"))),
        };
        let clusters = s.app.ticket_clusters(&p, window, by_time).await?;
        Ok(backlog_page(
            &p,
            window,
            by_time,
            &clusters,
            q.done.as_deref(),
        ))
    };
    respond(&p, page.await)
}

/// `POST /ui/tickets/backlog/{cluster}/mark`
pub async fn mark_cluster(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(cluster): Path<String>,
    f: Result<Form<MarkForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        let status = if f.status.is_empty() {
            "to-build"
        } else {
            &f.status
        };
        s.app.mark_cluster(&p, &cluster, status, &f.note).await?;
        Ok(format!("/ui/tickets/backlog?done=marked#{cluster}"))
    };
    after_form(&p, to.await)
}

/// `GET /ui/tickets/numbers`
pub async fn numbers(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    q: Result<Query<NumbersParams>, QueryRejection>,
) -> Response {
    let page = async {
        let q = params(q)?;
        let weekly = match q.by.as_deref().unwrap_or("") {
            "" | "day" => false,
            "week" => true,
            other => return Err(bad("by", format!("must be day or week, got {other:?}"))),
        };
        let date = |name: &str, v: Option<&str>| {
            v.filter(|v| !v.is_empty())
                .map(|v| cairn_domain::capacity::date_format::parse(v).map_err(|m| bad(name, m)))
                .transpose()
        };
        let to = date("to", q.to.as_deref())?.unwrap_or_else(|| s.app.today());
        let from = date("from", q.from.as_deref())?
            .unwrap_or(to - time::Duration::days(if weekly { 7 * 12 } else { 30 }));
        let n = s.app.ticket_numbers(&p, weekly, from, to).await?;
        Ok(numbers_page(&p, &n, from, to))
    };
    respond(&p, page.await)
}

// ---------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------

fn backlog_page(
    p: &Principal,
    window: u32,
    by_time: bool,
    clusters: &[ClusterView],
    done: Option<&str>,
) -> Page {
    let max_size = clusters
        .iter()
        .map(|c| c.cluster.size)
        .max()
        .unwrap_or(1)
        .max(1);
    let max_time = clusters
        .iter()
        .map(|c| c.cluster.time_spent_minutes)
        .max()
        .unwrap_or(1)
        .max(1);
    Page {
        title: "Repeated requests".into(),
        section: Some(SECTION),
        body: html! {
            h1 { "Repeated requests" }
            (tabs(p, "/ui/tickets/backlog"))
            (flash(done))
            p .muted { "Tickets of the last " (window) " days grouped by what they ask. The biggest groups are work the product should do by itself." }
            form .filters method="get" action="/ui/tickets/backlog" {
                label { "Last " input type="number" name="window_days" min="1" max="730" value=(window) size="4"; " days" }
                " "
                label { "ranked by " select name="by" {
                    option value="volume" selected[!by_time] { "tickets" }
                    option value="time" selected[by_time] { "time spent" }
                } }
                " " button type="submit" .secondary { "Show" }
            }
            @if clusters.is_empty() { p .muted #no-clusters { "No repeated requests in this window." } }
            ol .clusters #clusters {
                @for c in clusters {
                    @let k = &c.cluster;
                    li .panel .cluster id=(k.id) data-cluster=(k.id) {
                        h2 { (k.label) }
                        p .muted {
                            span .chip { (k.category) } " "
                            (k.size) " tickets, " (span(time::Duration::minutes(k.time_spent_minutes as i64))) " spent, "
                            (when(k.first_seen)) " to " (when(k.last_seen))
                        }
                        div .bar title="tickets" { div .fill .warn style=(format!("width:{}%", k.size * 100 / max_size)) {} }
                        div .bar title="time spent" { div .fill .crit style=(format!("width:{}%", k.time_spent_minutes * 100 / max_time)) {} }
                        h3 { "Examples" }
                        ul .link-list {
                            @for (id, title) in &c.example_titles {
                                li { a href=(format!("/ui/tickets/{id}")) { (title) } }
                            }
                        }
                        @if let Some(m) = &c.mark {
                            p .mark-state data-mark=(m.status) {
                                span .badge .info { (mark_label(&m.status)) } " "
                                span .muted { "by " (m.by) ", " (when(m.at)) }
                                @if !m.note.is_empty() { " — " (m.note) }
                            }
                        }
                        form .stack-form method="post" action=(format!("/ui/tickets/backlog/{}/mark", k.id)) {
                            @if c.mark.is_none() {
                                input type="hidden" name="status" value="to-build";
                                label for=(format!("note-{}", k.id)) { "Note (optional)" }
                                input id=(format!("note-{}", k.id)) type="text" name="note";
                                button type="submit" .mark-to-build { "To be built into the product" }
                            } @else {
                                label for=(format!("status-{}", k.id)) { "Progress" }
                                select id=(format!("status-{}", k.id)) name="status" {
                                    @for (v, label) in MARKS {
                                        option value=(v) selected[c.mark.as_ref().is_some_and(|m| m.status == *v)] { (label) }
                                    }
                                }
                                input type="text" name="note" aria-label="Note" value=(c.mark.as_ref().map_or("", |m| m.note.as_str()));
                                button type="submit" .secondary { "Update" }
                            }
                        }
                    }
                }
            }
        },
    }
}

fn mark_label(status: &str) -> &str {
    MARKS
        .iter()
        .find(|(v, _)| *v == status)
        .map_or(status, |(_, l)| l)
}

fn share(r: Option<f64>) -> Markup {
    match r {
        Some(r) => html! { (percent(r)) "%" },
        None => html! { span .muted { "—" } },
    }
}

fn numbers_page(p: &Principal, n: &Numbers, from: time::Date, to: time::Date) -> Page {
    let t: &NumbersRow = &n.totals;
    let max = n.rows.iter().map(|r| r.created).max().unwrap_or(1).max(1);
    Page {
        title: "Ticket numbers".into(),
        section: Some(SECTION),
        body: html! {
            h1 { "Ticket numbers" }
            (tabs(p, "/ui/tickets/numbers"))
            form .filters method="get" action="/ui/tickets/numbers" {
                label { "By " select name="by" {
                    option value="day" selected[n.by == "day"] { "day" }
                    option value="week" selected[n.by == "week"] { "week" }
                } }
                label { " from " input type="date" name="from" value=(from.to_string()); }
                label { " to " input type="date" name="to" value=(to.to_string()); }
                " " button type="submit" .secondary { "Show" }
            }
            div .cards #ticket-totals {
                div .card { span .value #total-created { (t.created) } span .label { "tickets filed" } }
                div .card { span .value #total-resolved { (t.resolved) } span .label { "resolved" } }
                div .card { span .value { (minutes(t.first_response_minutes_avg)) } span .label { "first response, mean" } }
                div .card { span .value { (minutes(t.resolution_minutes_avg)) } span .label { "resolution, mean" } }
                div .card { span .value #total-fr-sla { (share(t.first_response_sla_met)) } span .label { "first responses within SLA" } }
                div .card { span .value { (share(t.resolution_sla_met)) } span .label { "resolutions within SLA" } }
                div .card { span .value #total-escalation { (share(t.escalation_rate)) } span .label { "escalated" } }
                div .card { span .value #total-deflections data-count=(t.deflections) { (t.deflections) } span .label { "deflected (" (share(t.deflection_rate)) ")" } }
            }
            section .panel #by-period {
                h2 { "By " (n.by) }
                div .table-wrap {
                    table {
                        thead { tr {
                            th { (n.by) } th .num { "Filed" } th {} th .num { "Resolved" }
                            th .num { "First response" } th .num { "Resolution" }
                            th .num { "FR SLA" } th .num { "Res. SLA" } th .num { "Escalated" } th .num { "Deflected" }
                        } }
                        tbody {
                            @for r in &n.rows {
                                tr {
                                    td .nowrap { (r.period) }
                                    td .num { (r.created) }
                                    td { div .bar { div .fill .ok style=(format!("width:{}%", r.created * 100 / max)) {} } }
                                    td .num { (r.resolved) }
                                    td .num { (minutes(r.first_response_minutes_avg)) }
                                    td .num { (minutes(r.resolution_minutes_avg)) }
                                    td .num { (share(r.first_response_sla_met)) }
                                    td .num { (share(r.resolution_sla_met)) }
                                    td .num { (share(r.escalation_rate)) }
                                    td .num { (r.deflections) }
                                }
                            }
                        }
                    }
                }
            }
            div .columns {
                (breakdown("By tier", "by-tier", &t.by_tier))
                (breakdown("By category", "by-category", &t.by_category))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use cairn_domain::Role;

    use super::*;
    use crate::ui::tests::principal;

    #[test]
    fn numbers_show_totals_rates_and_a_bar_per_period() {
        let row = |period: &str, created: usize| NumbersRow {
            period: period.into(),
            created,
            resolved: 1,
            by_tier: [("support".to_owned(), created)].into(),
            by_category: [("database".to_owned(), created)].into(),
            first_response_minutes_avg: Some(90.0),
            resolution_minutes_avg: None,
            first_response_sla_met: Some(0.75),
            resolution_sla_met: None,
            escalation_rate: Some(0.5),
            deflections: 2,
            deflection_rate: Some(0.25),
        };
        let n = Numbers {
            by: "week",
            rows: vec![row("2026-11-16", 4), row("2026-11-23", 2)],
            totals: row("", 6),
        };
        let d = |s: &str| cairn_domain::capacity::date_format::parse(s).unwrap();
        let page = numbers_page(
            &principal(Role::AppOps),
            &n,
            d("2026-09-01"),
            d("2026-11-25"),
        )
        .body
        .into_string();
        assert!(page.contains(r#"<option value="week" selected>"#));
        assert!(
            page.contains("2026-11-16")
                && page.contains("width:100%")
                && page.contains("width:50%")
        );
        assert!(page.contains(r#"id="total-fr-sla">75%"#), "{page}");
        assert!(page.contains(r#"id="total-escalation">50%"#));
        assert!(page.contains("1h 30m"));
        assert!(page.contains("deflected (25%)"));
    }

    #[test]
    fn the_backlog_ranks_clusters_with_examples_and_a_button_to_build_them() {
        let at = time::macros::datetime!(2026-11-25 04:00 UTC);
        let c = ClusterView {
            cluster: cairn_search::cluster::Cluster {
                id: "cl-t-1".into(),
                label: "密码 · 重置".into(),
                terms: vec!["密码".into()],
                category: "account".into(),
                language: cairn_search::cluster::Language::Zh,
                size: 12,
                tickets: vec![],
                time_spent_minutes: 300,
                first_seen: at,
                last_seen: at,
                examples: vec![cairn_search::TicketId("t-1".into())],
            },
            example_titles: vec![("t-1".into(), "忘记密码 <admin>".into())],
            mark: None,
        };
        let page = backlog_page(&principal(Role::Support), 90, false, &[c], None)
            .body
            .into_string();
        assert!(page.contains("密码 · 重置"));
        assert!(page.contains(r#"<a href="/ui/tickets/t-1">忘记密码 &lt;admin&gt;</a>"#));
        assert!(page.contains(r#"action="/ui/tickets/backlog/cl-t-1/mark""#));
        assert!(page.contains("To be built into the product"));
        assert!(page.contains("5h spent"));
    }
}
