//! On-call rotations across handoffs, zones, overrides and swaps; escalation
//! with and without an acknowledgement.

use cairn_alert::oncall::{
    escalation_plan, resolve_targets, EscalationPolicy, Layer, Level, Override, Restriction,
    Rotation, Schedule, Swap, Target,
};
use cairn_alert::Timestamp;
use expect_test::expect;
use time::macros::datetime;

fn layer(name: &str, users: &[&str], rotation: Rotation, start: &str, handoff: &str) -> Layer {
    Layer {
        name: name.into(),
        users: users.iter().map(|u| u.to_string()).collect(),
        rotation,
        start_date: start.into(),
        handoff: handoff.into(),
        restrictions: vec![],
    }
}

/// Platform on-call in Hangzhou: a daily 24/7 rotation, with the DBA on
/// top during business hours.
fn platform() -> Schedule {
    let mut day = layer(
        "dba-business-hours",
        &["dave"],
        Rotation::Weekly,
        "2024-11-11",
        "09:00",
    );
    day.restrictions.push(Restriction {
        weekdays: vec![1, 2, 3, 4, 5],
        start: "09:00".into(),
        end: "18:00".into(),
    });
    Schedule {
        id: "platform".into(),
        name: "Platform primary".into(),
        time_zone: "Asia/Shanghai".into(),
        layers: vec![
            layer(
                "primary",
                &["alice", "bob", "carol"],
                Rotation::Daily,
                "2024-11-11",
                "09:00",
            ),
            day,
        ],
        overrides: vec![],
        swaps: vec![],
    }
}

fn who(s: &Schedule, t: Timestamp) -> String {
    s.who_is_on_call(t)
        .map(|o| o.user)
        .unwrap_or_else(|| "nobody".into())
}

#[test]
fn daily_rotation_hands_off_at_local_nine() {
    let s = platform();
    s.validate().unwrap();
    assert_eq!(
        who(&s, datetime!(2024-11-11 00:59 UTC)),
        "nobody",
        "before the first shift"
    );
    // 09:00 in Shanghai is 01:00 UTC; Monday 2024-11-11 is a business day.
    assert_eq!(who(&s, datetime!(2024-11-11 01:00 UTC)), "dave");
    assert_eq!(
        who(&s, datetime!(2024-11-11 10:00 UTC)),
        "alice",
        "18:00 local: the DBA layer ends"
    );
    assert_eq!(who(&s, datetime!(2024-11-12 00:59 UTC)), "alice");
    assert_eq!(who(&s, datetime!(2024-11-12 11:00 UTC)), "bob");
    assert_eq!(who(&s, datetime!(2024-11-13 11:00 UTC)), "carol");
    assert_eq!(
        who(&s, datetime!(2024-11-14 11:00 UTC)),
        "alice",
        "round again"
    );
    // Saturday daytime: no business hours, the rotation answers.
    assert_eq!(who(&s, datetime!(2024-11-16 03:00 UTC)), "carol");
}

#[test]
fn overrides_and_swaps_change_the_calendar() {
    let mut s = platform();
    // Carol's Wednesday goes to Alice (and would give Alice's days to Carol).
    s.swaps.push(Swap {
        user_a: "alice".into(),
        user_b: "carol".into(),
        start: datetime!(2024-11-13 01:00 UTC),
        end: datetime!(2024-11-14 01:00 UTC),
    });
    // Erin covers Wednesday evening.
    s.overrides.push(Override {
        user: "erin".into(),
        start: datetime!(2024-11-13 12:00 UTC),
        end: datetime!(2024-11-13 14:00 UTC),
    });
    s.validate().unwrap();
    assert_eq!(who(&s, datetime!(2024-11-13 11:00 UTC)), "alice");
    assert_eq!(who(&s, datetime!(2024-11-13 13:00 UTC)), "erin");
    let shifts = s.shifts(
        datetime!(2024-11-12 00:00 UTC),
        datetime!(2024-11-14 12:00 UTC),
    );
    let shown: Vec<String> = shifts
        .iter()
        .map(|sh| {
            let f = |t: Timestamp| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .unwrap()
            };
            format!(
                "{} → {} {} ({:?})",
                f(sh.start),
                f(sh.end),
                sh.user,
                sh.source
            )
        })
        .collect();
    expect![[r#"
        2024-11-12T00:00:00Z → 2024-11-12T01:00:00Z alice (Layer { layer: "primary" })
        2024-11-12T01:00:00Z → 2024-11-12T10:00:00Z dave (Layer { layer: "dba-business-hours" })
        2024-11-12T10:00:00Z → 2024-11-13T01:00:00Z bob (Layer { layer: "primary" })
        2024-11-13T01:00:00Z → 2024-11-13T10:00:00Z dave (Layer { layer: "dba-business-hours" })
        2024-11-13T10:00:00Z → 2024-11-13T12:00:00Z alice (Swap { layer: "primary" })
        2024-11-13T12:00:00Z → 2024-11-13T14:00:00Z erin (Override)
        2024-11-13T14:00:00Z → 2024-11-14T01:00:00Z alice (Swap { layer: "primary" })
        2024-11-14T01:00:00Z → 2024-11-14T10:00:00Z dave (Layer { layer: "dba-business-hours" })
        2024-11-14T10:00:00Z → 2024-11-14T12:00:00Z alice (Layer { layer: "primary" })"#]]
    .assert_eq(&shown.join("\n"));
}

#[test]
fn weekly_handoff_keeps_local_time_across_dst() {
    let s = Schedule {
        id: "eu".into(),
        name: "EU ops".into(),
        time_zone: "Europe/Berlin".into(),
        layers: vec![layer(
            "weekly",
            &["jonas", "lena"],
            Rotation::Weekly,
            "2024-03-25",
            "09:00",
        )],
        overrides: vec![],
        swaps: vec![],
    };
    s.validate().unwrap();
    // First handoff: Monday 09:00 CET = 08:00 UTC; the next Monday is after
    // the spring change, 09:00 CEST = 07:00 UTC.
    assert_eq!(who(&s, datetime!(2024-03-25 07:59 UTC)), "nobody");
    assert_eq!(who(&s, datetime!(2024-03-25 08:00 UTC)), "jonas");
    assert_eq!(who(&s, datetime!(2024-04-01 06:59 UTC)), "jonas");
    assert_eq!(who(&s, datetime!(2024-04-01 07:00 UTC)), "lena");
    let shifts = s.shifts(
        datetime!(2024-03-25 00:00 UTC),
        datetime!(2024-04-08 12:00 UTC),
    );
    assert_eq!(
        shifts[0].end - shifts[0].start,
        time::Duration::hours(7 * 24 - 1),
        "the week with the DST change is an hour short"
    );
}

#[test]
fn hourly_rotation_counts_elapsed_hours() {
    let s = Schedule {
        id: "follow-the-sun".into(),
        name: "Follow the sun".into(),
        time_zone: "UTC".into(),
        layers: vec![layer(
            "12h",
            &["hz", "sf"],
            Rotation::Hours(12),
            "2024-11-11",
            "00:00",
        )],
        overrides: vec![],
        swaps: vec![],
    };
    assert_eq!(who(&s, datetime!(2024-11-11 11:59 UTC)), "hz");
    assert_eq!(who(&s, datetime!(2024-11-11 12:00 UTC)), "sf");
    assert_eq!(who(&s, datetime!(2024-11-13 00:00 UTC)), "hz");
}

#[test]
fn invalid_schedules_name_the_field() {
    let mut s = platform();
    s.layers[1].restrictions[0].end = "08:00".into();
    assert_eq!(
        s.validate().unwrap_err().to_string(),
        "layers[1].restrictions[0].end: must be after start"
    );
    let mut s = platform();
    s.time_zone = "Asia/Hangzhou".into();
    assert_eq!(
        s.validate().unwrap_err().to_string(),
        "time_zone: unknown time zone \"Asia/Hangzhou\""
    );
}

fn policy() -> EscalationPolicy {
    EscalationPolicy {
        id: "platform".into(),
        name: "Platform".into(),
        levels: vec![
            Level {
                targets: vec![Target::Schedule("platform".into())],
                escalate_after: time::Duration::minutes(10),
            },
            Level {
                targets: vec![
                    Target::User("lead".into()),
                    Target::Schedule("platform".into()),
                ],
                escalate_after: time::Duration::minutes(15),
            },
        ],
        repeat: 1,
    }
}

#[test]
fn escalation_without_acknowledgement_climbs_and_repeats() {
    let p = policy();
    p.validate().unwrap();
    let fired = datetime!(2024-11-12 02:00 UTC);
    let m = |min: i64| fired + time::Duration::minutes(min);
    let keys = |now| {
        let plan = escalation_plan(&p, fired, None, now);
        (
            plan.due.iter().map(|s| s.key()).collect::<Vec<_>>(),
            plan.next.map(|s| s.at),
            plan.finished,
        )
    };
    assert_eq!(keys(m(0)), (vec!["r0l0".to_string()], Some(m(10)), false));
    assert_eq!(keys(m(9)).0.len(), 1);
    assert_eq!(keys(m(10)).0, ["r0l0", "r0l1"]);
    assert_eq!(
        keys(m(30)),
        (
            vec!["r0l0".into(), "r0l1".into(), "r1l0".into()],
            Some(m(35)),
            false
        )
    );
    assert_eq!(
        keys(m(600)),
        (
            vec!["r0l0".into(), "r0l1".into(), "r1l0".into(), "r1l1".into()],
            None,
            true
        )
    );

    // Level 2 at 02:10 UTC (10:10 in Hangzhou, Tuesday): the lead, and the
    // DBA who is on call during business hours.
    let plan = escalation_plan(&p, fired, None, m(10));
    let sched = platform();
    let users = resolve_targets(&plan.due[1], |id| (id == "platform").then_some(&sched));
    assert_eq!(users, ["lead", "dave"]);
}

#[test]
fn acknowledgement_stops_the_escalation() {
    let p = policy();
    let fired = datetime!(2024-11-12 02:00 UTC);
    let m = |min: i64| fired + time::Duration::minutes(min);
    let plan = escalation_plan(&p, fired, Some(m(12)), m(120));
    assert_eq!(
        plan.due.iter().map(|s| s.key()).collect::<Vec<_>>(),
        ["r0l0", "r0l1"]
    );
    assert!(plan.finished);
    // Acknowledged at the very minute level 2 was due: level 2 is not sent.
    let plan = escalation_plan(&p, fired, Some(m(10)), m(120));
    assert_eq!(plan.due.len(), 1);
}
