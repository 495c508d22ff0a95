//! The metrics explorer: a PromQL box, a time range, a line chart and the latest
//! values; the same chart serves host pages.

use axum::extract::{Query, State};
use axum::response::Response;
use cairn_app::App;
use cairn_domain::Principal;
use cairn_promql::Value;
use maud::{html, Markup};
use serde::Deserialize;

use super::chart::{line_chart, Line};
use super::format::number;
use super::layout::respond;
use super::{Page, UiError};
use crate::auth::Viewer;
use crate::AppState;

/// The ranges the explorer offers, as (label, milliseconds).
const RANGES: &[(&str, i64)] = &[
    ("15m", 900_000),
    ("1h", 3_600_000),
    ("6h", 21_600_000),
    ("24h", 86_400_000),
    ("7d", 604_800_000),
];

#[derive(Debug, Default, Deserialize)]
pub struct ExploreParams {
    #[serde(default)]
    query: String,
    #[serde(default)]
    range: Option<String>,
}

/// A series' labels as `name{k="v"}`.
pub fn series_name(labels: &[(String, String)]) -> String {
    let name = labels
        .iter()
        .find(|(k, _)| k == "__name__")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let rest: Vec<String> = labels
        .iter()
        .filter(|(k, _)| k != "__name__")
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    if rest.is_empty() {
        if name.is_empty() {
            "{}".into()
        } else {
            name.to_owned()
        }
    } else {
        format!("{name}{{{}}}", rest.join(", "))
    }
}

/// Runs `query` over the last `range_ms` and turns the result into lines.
pub async fn lines(
    app: &App,
    p: &Principal,
    query: &str,
    range_ms: i64,
) -> Result<Vec<Line>, UiError> {
    let end = (app.now().unix_timestamp_nanos() / 1_000_000) as i64;
    let step = (range_ms / 240).max(15_000);
    let v = app
        .query_range(p, query.to_owned(), end - range_ms, end, step)
        .await?;
    Ok(match v {
        Value::Matrix(series) => series
            .into_iter()
            .map(|s| Line {
                label: series_name(&s.labels),
                points: s.samples,
            })
            .collect(),
        Value::Scalar { t, v } => vec![Line {
            label: "scalar".into(),
            points: vec![(t, v)],
        }],
        _ => Vec::new(),
    })
}

/// `GET /ui/metrics`
pub async fn explore(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Query(q): Query<ExploreParams>,
) -> Response {
    respond(&p, page(&s.app, &p, q).await)
}

async fn page(app: &App, p: &Principal, q: ExploreParams) -> Result<Page, UiError> {
    App::may_read_metrics(p)?;
    let range = q.range.as_deref().unwrap_or("1h");
    let range_ms = RANGES
        .iter()
        .find(|(l, _)| *l == range)
        .map(|(_, ms)| *ms)
        .ok_or_else(|| {
            UiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                format!("range must be one of 15m, 1h, 6h, 24h, 7d, not {range:?}"),
            )
        })?;
    let result = if q.query.trim().is_empty() {
        None
    } else {
        Some(lines(app, p, &q.query, range_ms).await)
    };
    let targets = app.scrape_targets(p).unwrap_or_default();
    let source = app
        .metrics
        .as_ref()
        .map(|m| m.query_source().to_owned())
        .unwrap_or_default();
    Ok(Page {
        title: "Metrics".into(),
        section: Some("/ui/metrics"),
        body: html! {
            (view(&q.query, range, result))
            @if source != "local" && !source.is_empty() {
                p .muted { "Queries are answered by the external store at " code { (source) } "." }
            }
            (targets_table(&targets))
        },
    })
}

/// The scrape targets and their health, as Prometheus' targets page shows them.
fn targets_table(targets: &[cairn_app::scrape::TargetHealth]) -> Markup {
    html! {
        section .related #targets aria-labelledby="targets-title" {
            h2 #targets-title { "Scrape targets" }
            @if targets.is_empty() {
                p .muted {
                    "None. Add one with POST /api/v1/scrape-targets, a [[scrape]] job in the \
                     config file, or --scrape-hosts."
                }
            } @else {
                div .table-wrap {
                    table {
                        thead { tr { th { "Job" } th { "Target" } th { "Health" } th .num { "Samples" } th .num { "Took (s)" } th { "Error" } } }
                        tbody {
                            @for t in targets {
                                tr {
                                    td { (t.target.job) }
                                    td { code { (t.target.address) (t.target.metrics_path) } }
                                    td .{"health-" (t.health)} { (t.health) }
                                    td .num { (t.last_samples) }
                                    td .num { (format!("{:.3}", t.last_scrape_duration_s)) }
                                    td { (t.last_error.clone().unwrap_or_default()) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn view(query: &str, range: &str, result: Option<Result<Vec<Line>, UiError>>) -> Markup {
    html! {
        h1 { "Metrics" }
        form .explore method="get" action="/ui/metrics" {
            label for="query" { "PromQL" }
            textarea #query name="query" rows="2" spellcheck="false" placeholder="sum by (instance) (rate(node_cpu_seconds_total{mode!=\"idle\"}[5m]))" { (query) }
            div .explore-row {
                label for="range" { "Range" }
                select #range name="range" {
                    @for (l, _) in RANGES {
                        option value=(l) selected[*l == range] { (l) }
                    }
                }
                button type="submit" { "Run" }
            }
        }
        @match result {
            None => p .muted { "Write a PromQL query; the chart shows the chosen range up to now." },
            Some(Err(e)) => p .error #query-error role="alert" { (e.message) },
            Some(Ok(lines)) => {
                (line_chart(&lines, query))
                @if !lines.is_empty() {
                    div .table-wrap {
                        table #latest {
                            thead { tr { th { "Series" } th .num { "Latest" } } }
                            tbody {
                                @for l in &lines {
                                    tr {
                                        td { code { (l.label) } }
                                        td .num { (l.points.last().map(|(_, v)| number(*v)).unwrap_or_default()) }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_names_read_like_selectors() {
        let l = vec![
            ("__name__".to_owned(), "up".to_owned()),
            ("job".to_owned(), "node".to_owned()),
        ];
        assert_eq!(series_name(&l), r#"up{job="node"}"#);
        assert_eq!(series_name(&[]), "{}");
    }
}
