//! Who is on call now and the next days of every schedule, in the schedule's own
//! zone, and the escalation policies.

use cairn_alert::oncall::{OnCall, Schedule, Shift, Source, Target};
use cairn_alert::Timestamp;
use cairn_app::alerting::PolicyDoc;
use maud::{html, Markup};

use super::{plural, tabs, ONCALL_DAYS, SECTION};
use crate::ui::format::moment;
use crate::ui::Page;

fn source_text(s: &Source) -> String {
    match s {
        Source::Layer { layer } => format!("layer {layer}"),
        Source::Swap { layer } => format!("swap in layer {layer}"),
        Source::Override => "override".into(),
    }
}

/// One local day of a schedule and who is on call during it: (user, from, to) in
/// local `HH:MM`, clipped to the day.
struct Day {
    label: String,
    shifts: Vec<(String, String, String)>,
}

/// The local days from today on, in the schedule's zone, each with its shifts. The
/// calendar follows the schedule's wall clock, as its handoffs do.
fn days(time_zone: &str, now: Timestamp, shifts: &[Shift], n: i64) -> Vec<Day> {
    use cairn_alert::timeinterval::{local, zone};
    let Ok(tz) = zone(time_zone) else {
        return Vec::new();
    };
    let Ok(mut day) = local(now, &tz).start_of_day() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for _ in 0..n {
        let Ok(next) = day.tomorrow().and_then(|t| t.start_of_day()) else {
            break;
        };
        // Instants of the day's local midnights, as the `time` crate's timestamps.
        let instant = |nanos: i128| {
            Timestamp::from_unix_timestamp_nanos(nanos).unwrap_or(Timestamp::UNIX_EPOCH)
        };
        let from = instant(day.timestamp().as_nanosecond());
        let to = instant(next.timestamp().as_nanosecond());
        let hm = |t: Timestamp| local(t, &tz).strftime("%H:%M").to_string();
        let shifts = shifts
            .iter()
            .filter(|s| s.start < to && s.end > from)
            .map(|s| {
                let end = if s.end >= to {
                    "24:00".to_owned()
                } else {
                    hm(s.end)
                };
                (s.user.clone(), hm(s.start.max(from)), end)
            })
            .collect();
        out.push(Day {
            label: day.strftime("%a %Y-%m-%d").to_string(),
            shifts,
        });
        day = next;
    }
    out
}

fn target_link(t: &Target) -> Markup {
    match t {
        Target::User(u) => html! { "user " strong { (u) } },
        Target::Schedule(id) => {
            html! { "whoever is on call in " a href=(format!("#schedule-{id}")) { (id) } }
        }
    }
}

pub(super) fn oncall_page(
    now: Timestamp,
    schedules: &[(Schedule, Option<OnCall>, Vec<Shift>)],
    policies: &[PolicyDoc],
) -> Page {
    Page {
        title: "On call".into(),
        section: Some(SECTION),
        body: html! {
            h1 { "On call" }
            (tabs("/ui/alerts/oncall"))
            @if schedules.is_empty() {
                p .muted #no-schedules { "No schedules. Add one with POST /api/v1/oncall/schedules." }
            }
            @for (s, who, shifts) in schedules {
                section .related .schedule id=(format!("schedule-{}", s.id)) {
                    h2 { (s.name) span .muted { " · " (s.time_zone) } }
                    p .on-call-now {
                        @match who {
                            Some(w) => { "On call now: " strong .user { (w.user) } span .muted { " (" (source_text(&w.source)) ")" } },
                            None => span .badge .warn { "Nobody is on call now" },
                        }
                    }
                    h3 { "The next " (ONCALL_DAYS) " days, " (s.time_zone) " time" }
                    div .table-wrap {
                        table .shifts {
                            thead { tr { th { "Day" } th { "On call" } } }
                            tbody {
                                @for d in days(&s.time_zone, now, shifts, ONCALL_DAYS) {
                                    tr {
                                        td { (d.label) }
                                        td .wrap {
                                            @if d.shifts.is_empty() { span .muted { "nobody" } }
                                            @for (i, (user, from, to)) in d.shifts.iter().enumerate() {
                                                @if i > 0 { ", " }
                                                strong { (user) } " " span .muted { (from) "–" (to) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    details {
                        summary { (plural(s.layers.len(), "layer")) ", " (plural(s.overrides.len(), "override")) ", " (plural(s.swaps.len(), "swap")) }
                        ul {
                            @for l in &s.layers {
                                li {
                                    strong { (l.name) } ": " (l.users.join(" → "))
                                    span .muted { " · " (format!("{:?}", l.rotation).to_lowercase()) " from " (l.start_date) ", handoff " (l.handoff) }
                                }
                            }
                            @for o in &s.overrides {
                                li { "Override: " strong { (o.user) } " " (moment(o.start)) " – " (moment(o.end)) }
                            }
                            @for w in &s.swaps {
                                li { "Swap: " (w.user_a) " ⇄ " (w.user_b) " " (moment(w.start)) " – " (moment(w.end)) }
                            }
                        }
                    }
                }
            }
            section .related #policies aria-labelledby="policies-title" {
                h2 #policies-title { "Escalation policies" }
                @if policies.is_empty() {
                    p .muted { "None. Add one with POST /api/v1/escalation-policies." }
                }
                @for d in policies {
                    article .policy id=(format!("policy-{}", d.policy.id)) {
                        h3 { (d.policy.name) }
                        p {
                            "For "
                            @if d.matchers.is_empty() { "every alert" }
                            @else {
                                "alerts matching "
                                @for (i, m) in d.matchers.iter().enumerate() {
                                    @if i > 0 { ", " }
                                    code { (m) }
                                }
                            }
                            " nobody has acknowledged"
                            @if d.policy.repeat > 0 { "; the levels run " (d.policy.repeat + 1) " times" }
                            "."
                        }
                        ol .levels {
                            @for l in &d.policy.levels {
                                li {
                                    "Page "
                                    @for (i, t) in l.targets.iter().enumerate() {
                                        @if i > 0 { " and " }
                                        (target_link(t))
                                    }
                                    "; next level after "
                                    (cairn_alert::duration::format_duration(l.escalate_after))
                                    " without an acknowledgement."
                                }
                            }
                        }
                    }
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_on_call_calendar_follows_the_schedules_wall_clock() {
        let now = time::macros::datetime!(2026-11-25 04:00 UTC); // 12:00 in Shanghai
        let at = |h: i64| now + time::Duration::hours(h);
        let shifts = vec![
            Shift {
                user: "wang.lei".into(),
                source: Source::Override,
                start: now,
                end: at(2),
            },
            Shift {
                user: "li.na".into(),
                source: Source::Override,
                start: at(2),
                end: at(30),
            },
        ];
        let d = days("Asia/Shanghai", now, &shifts, 3);
        assert_eq!(d.len(), 3);
        assert_eq!(d[0].label, "Wed 2026-11-25");
        assert_eq!(
            d[0].shifts,
            [
                (
                    "wang.lei".to_owned(),
                    "12:00".to_owned(),
                    "14:00".to_owned()
                ),
                ("li.na".to_owned(), "14:00".to_owned(), "24:00".to_owned())
            ]
        );
        assert_eq!(
            d[1].shifts,
            [("li.na".to_owned(), "00:00".to_owned(), "18:00".to_owned())]
        );
        assert!(d[2].shifts.is_empty());
        assert!(days("Mars/Olympus", now, &shifts, 3).is_empty());
    }
}
