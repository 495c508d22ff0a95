//! The notification log: every delivery attempt, newest first, paged by sequence.

use cairn_store::DeliveryRow;
use maud::{html, Markup};

use super::{status_badge, tabs, LOG_PAGE, SECTION};
use crate::ui::format::moment_text;
use crate::ui::Page;

fn outcome_badge(outcome: &str) -> Markup {
    let class = match outcome {
        "delivered" => "badge ok",
        "retry" => "badge warn",
        "failed" => "badge crit",
        _ => "badge muted",
    };
    html! { span class=(class) data-outcome=(outcome) { (outcome) } }
}

pub(super) fn log_page(rows: &[DeliveryRow], continued: bool) -> Page {
    let next = (rows.len() == LOG_PAGE as usize)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    Page {
        title: "Notifications".into(),
        section: Some(SECTION),
        body: html! {
            h1 { "Notifications" }
            (tabs("/ui/alerts/notifications"))
            p .muted { "Every attempt to deliver a notification, newest first." }
            @if rows.is_empty() {
                p .muted #no-notifications { "No delivery attempts" @if continued { " before these" } "." }
            } @else {
                div .table-wrap {
                    table #notification-log {
                        thead { tr {
                            th { "Time" } th { "Receiver" } th { "Integration" } th { "Group" }
                            th { "Status" } th .num { "Alerts" } th .num { "Attempt" } th { "Outcome" } th { "Detail" }
                        } }
                        tbody {
                            @for r in rows {
                                tr data-seq=(r.seq) {
                                    td { (moment_text(&r.at)) }
                                    td { (r.receiver) }
                                    td { (r.integration) }
                                    td { code { (r.group_key) } }
                                    td { (status_badge(&r.status)) }
                                    td .num { (r.alerts) }
                                    td .num { (r.attempt) }
                                    td { (outcome_badge(&r.outcome)) }
                                    td .wrap { (r.detail) }
                                }
                            }
                        }
                    }
                }
            }
            nav .pager aria-label="Pages" {
                @if continued { a href="/ui/alerts/notifications" { "Newest" } }
                @if let Some(seq) = next {
                    a #older rel="next" href=(format!("/ui/alerts/notifications?before={seq}")) { "Older →" }
                }
            }
        },
    }
}
