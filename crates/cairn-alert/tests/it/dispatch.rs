//! Alertmanager's dispatcher, told as stories over time.

use cairn_alert::alert::Alert;
use cairn_alert::api::{self, AlertFilter, PostableAlert, PostableSilence};
use cairn_alert::config::{parse_config, Config};
use cairn_alert::dispatch::{Dispatcher, Notification};
use cairn_alert::history::HistoryEvent;
use cairn_alert::silence::{expire_silence, set_silence, Silence};
use cairn_alert::{LabelSet, Timestamp};
use expect_test::expect;

use crate::support::{at, at_s, ls};

fn config() -> Config {
    parse_config(
        "alertmanager.yml",
        include_str!("../fixtures/alertmanager.yml"),
    )
    .unwrap()
}

fn alert(
    labels: &[(&str, &str)],
    starts: Timestamp,
    ends: Option<Timestamp>,
    now: Timestamp,
) -> Alert {
    let (mut v, errors) = api::postable_to_alerts(
        vec![PostableAlert {
            labels: ls(labels),
            annotations: LabelSet::new(),
            starts_at: Some(starts),
            ends_at: ends,
            generator_url: String::new(),
        }],
        now,
        time::Duration::minutes(5),
    );
    assert!(errors.is_empty(), "{errors:?}");
    v.remove(0)
}

/// A dispatcher with a configuration, silences, and a delivery that
/// succeeds unless told otherwise.
struct Am {
    cfg: Config,
    d: Dispatcher,
    silences: Vec<Silence>,
    fail: bool,
}

impl Am {
    fn new() -> Am {
        Am {
            cfg: config(),
            d: Dispatcher::default(),
            silences: Vec::new(),
            fail: false,
        }
    }

    fn send(&mut self, a: Alert, now: Timestamp) {
        self.d.ingest(&self.cfg, vec![a], now);
    }

    /// Ticks at `now`, delivers, and describes each notification in one line.
    fn tick(&mut self, now: Timestamp) -> Vec<String> {
        let t = self.d.tick(&self.cfg, &self.silences, now);
        let lines = t.notifications.iter().map(describe).collect();
        for n in &t.notifications {
            self.d.record_delivery(n, !self.fail, now);
        }
        lines
    }
}

fn describe(n: &Notification) -> String {
    let names = |resolved: bool| {
        n.alerts
            .iter()
            .filter(|a| a.ends_at.is_some() == resolved)
            .map(|a| a.labels.get("instance").cloned().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        "{}/{} {} firing=[{}] resolved=[{}]",
        n.receiver,
        n.integration.kind(),
        n.group_key,
        names(false),
        names(true)
    )
}

#[test]
fn routing_tree_with_continue_and_inheritance() {
    let cfg = config();
    let routes = cfg.route.match_routes(&ls(&[
        ("alertname", "DiskFull"),
        ("severity", "critical"),
        ("team", "db"),
    ]));
    let got: Vec<(&str, &str)> = routes
        .iter()
        .map(|r| (r.receiver.as_str(), r.key.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("oncall-dingtalk", "{}/{severity=\"critical\"}"),
            ("db-team", "{}/{team=\"db\"}")
        ]
    );
    // Inherited from the root, overridden where set.
    assert_eq!(routes[1].group_wait, time::Duration::seconds(10));
    assert_eq!(routes[1].group_interval, time::Duration::minutes(5));
    assert_eq!(routes[0].repeat_interval, time::Duration::hours(4));
    // Nothing matches a child: the root takes it.
    let root = cfg.route.match_routes(&ls(&[("alertname", "X")]));
    assert_eq!(root[0].receiver, "ops-webhook");
}

#[test]
fn group_wait_group_interval_and_repeat_interval() {
    let mut am = Am::new();
    am.send(
        alert(
            &[
                ("alertname", "HighLoad"),
                ("cluster", "hz"),
                ("instance", "a"),
            ],
            at(0),
            Some(at(600)),
            at(0),
        ),
        at(0),
    );
    assert_eq!(am.d.next_wakeup(), Some(at_s(30)));
    assert!(am.tick(at_s(29)).is_empty(), "group_wait not over");
    assert_eq!(
        am.tick(at_s(30)),
        ["ops-webhook/webhook {}:{alertname=\"HighLoad\", cluster=\"hz\"} firing=[a] resolved=[]"]
    );

    // A second alert joins; it waits for the group interval, not group_wait.
    am.send(
        alert(
            &[
                ("alertname", "HighLoad"),
                ("cluster", "hz"),
                ("instance", "b"),
            ],
            at(1),
            Some(at(600)),
            at(1),
        ),
        at(1),
    );
    assert!(am.tick(at_s(60 + 30)).is_empty());
    assert_eq!(
        am.tick(at_s(5 * 60 + 30)),
        ["ops-webhook/webhook {}:{alertname=\"HighLoad\", cluster=\"hz\"} firing=[a,b] resolved=[]"]
    );

    // Nothing new: silence until the repeat interval has passed.
    let mut first_repeat = None;
    for k in 2..60 {
        // Keep the alerts alive as Prometheus would, by resending them.
        let now = at_s(k * 5 * 60 + 30);
        for i in ["a", "b"] {
            am.send(
                alert(
                    &[
                        ("alertname", "HighLoad"),
                        ("cluster", "hz"),
                        ("instance", i),
                    ],
                    at(0),
                    Some(now + time::Duration::minutes(4)),
                    now,
                ),
                now,
            );
        }
        if !am.tick(now).is_empty() {
            first_repeat = Some(now);
            break;
        }
    }
    // Logged at 5m30s; 4h later is not yet "more than" 4h, the next flush is.
    assert_eq!(first_repeat, Some(at_s(4 * 3600 + 10 * 60 + 30)));
}

#[test]
fn resolved_alerts_are_sent_to_who_wants_them_and_then_forgotten() {
    let mut am = Am::new();
    let crit = [
        ("alertname", "ShopDown"),
        ("cluster", "hz"),
        ("instance", "s1"),
        ("severity", "critical"),
        ("service", "shop-42"),
    ];
    am.send(alert(&crit, at(0), None, at(0)), at(0));
    let mut sent = am.tick(at_s(30));
    sent.sort();
    assert_eq!(
        sent,
        [
            "oncall-dingtalk/dingtalk {}/{severity=\"critical\"}:{alertname=\"ShopDown\"} firing=[s1] resolved=[]",
            // 00:00:30 UTC is 08:00:30 in Shanghai: outside business hours, so
            // the shop route stays quiet.
        ]
    );
    // Resolved at minute 3; the next flush (5m30s) tells DingTalk (send_resolved defaults to true there).
    am.send(alert(&crit, at(0), Some(at(3)), at(3)), at(3));
    assert_eq!(
        am.tick(at_s(5 * 60 + 30)),
        ["oncall-dingtalk/dingtalk {}/{severity=\"critical\"}:{alertname=\"ShopDown\"} firing=[] resolved=[s1]"]
    );
    assert!(am
        .d
        .groups
        .iter()
        .all(|g| !g.group_key.contains("ShopDown") || g.route_id.contains("service")));
}

#[test]
fn receivers_without_send_resolved_hear_nothing_of_resolutions() {
    let mut am = Am::new();
    // Tuesday 02:00 UTC is 10:00 in Shanghai: inside business hours.
    let t0 = time::macros::datetime!(2024-11-12 02:00 UTC);
    let m = |min: i64| t0 + time::Duration::minutes(min);
    let labels = [
        ("alertname", "CartSlow"),
        ("instance", "c1"),
        ("service", "shop-7"),
    ];
    am.send(alert(&labels, m(0), None, m(0)), m(0));
    assert_eq!(am.tick(m(1)), ["shop-slack/slack {}/{service=~\"shop-.*\"}:{alertname=\"CartSlow\"} firing=[c1] resolved=[]"]);
    am.send(alert(&labels, m(0), Some(m(2)), m(2)), m(2));
    assert!(am.tick(m(6)).is_empty(), "Slack's send_resolved is false");
    assert!(
        am.d.groups.is_empty(),
        "the resolved alert left with the flush"
    );
    assert_eq!(am.d.nflog[0].firing.len(), 0, "the log knows it is over");
}

#[test]
fn a_failed_delivery_is_retried_at_the_next_flush() {
    let mut am = Am::new();
    am.send(
        alert(
            &[("alertname", "X"), ("instance", "a")],
            at(0),
            Some(at(600)),
            at(0),
        ),
        at(0),
    );
    am.fail = true;
    assert_eq!(am.tick(at_s(30)).len(), 1);
    am.fail = false;
    assert_eq!(
        am.tick(at_s(5 * 60 + 30)).len(),
        1,
        "not logged, so sent again"
    );
    assert!(am.tick(at_s(10 * 60 + 30)).is_empty());
}

#[test]
fn an_old_alert_does_not_wait_for_group_wait() {
    let mut am = Am::new();
    am.send(
        alert(
            &[("alertname", "Old"), ("instance", "a")],
            at(0),
            None,
            at(10),
        ),
        at(10),
    );
    assert_eq!(am.d.next_wakeup(), Some(at(10)));
}

#[test]
fn silences_mute_until_they_expire() {
    let mut am = Am::new();
    let post: PostableSilence = serde_json::from_str(
        r#"{"matchers":[{"name":"alertname","value":"Noisy","isRegex":false}],
            "startsAt":"2024-11-11T00:00:00Z","endsAt":"2024-11-11T02:00:00Z",
            "createdBy":"li.lei","comment":"known issue, ticket T-1"}"#,
    )
    .unwrap();
    let s = post.to_silence(at(0)).unwrap();
    let id = set_silence(&mut am.silences, s, at(0), "sil-1").unwrap();
    am.send(
        alert(
            &[("alertname", "Noisy"), ("instance", "a")],
            at(0),
            Some(at(600)),
            at(0),
        ),
        at(0),
    );
    let t = am.d.tick(&am.cfg, &am.silences, at_s(30));
    assert!(t.notifications.is_empty());
    assert!(
        matches!(&t.history[0].event, HistoryEvent::Silenced { silence_ids } if silence_ids == &["sil-1"])
    );
    let listed = api::list_alerts(&am.d, &am.cfg, &am.silences, at(1), &AlertFilter::default());
    assert_eq!(listed[0].status.state, "suppressed");
    assert_eq!(listed[0].status.silenced_by, ["sil-1"]);

    expire_silence(&mut am.silences, &id, at(3)).unwrap();
    assert_eq!(
        expire_silence(&mut am.silences, &id, at(4))
            .unwrap_err()
            .to_string(),
        "silence sil-1 already expired"
    );
    let t = am.d.tick(&am.cfg, &am.silences, at_s(5 * 60 + 30));
    assert_eq!(t.notifications.len(), 1);
    assert!(matches!(t.history[0].event, HistoryEvent::Unmuted));
}

#[test]
fn updating_an_active_silence_keeps_its_id_only_when_its_meaning_is_unchanged() {
    let mut sils = Vec::new();
    let base = Silence {
        id: String::new(),
        matchers: cairn_alert::matchers::Matchers(
            cairn_alert::matchers::parse_matchers("job=api").unwrap(),
        ),
        starts_at: at(0),
        ends_at: at(60),
        updated_at: at(0),
        created_by: "ops".into(),
        comment: "deploy".into(),
    };
    let id = set_silence(&mut sils, base.clone(), at(0), "s1").unwrap();
    let longer = Silence {
        id: id.clone(),
        ends_at: at(120),
        ..base.clone()
    };
    assert_eq!(set_silence(&mut sils, longer, at(10), "s2").unwrap(), "s1");
    let other = Silence {
        id: id.clone(),
        matchers: cairn_alert::matchers::Matchers(
            cairn_alert::matchers::parse_matchers("job=web").unwrap(),
        ),
        ..base.clone()
    };
    assert_eq!(set_silence(&mut sils, other, at(20), "s3").unwrap(), "s3");
    assert_eq!(sils[0].ends_at, at(20), "the old meaning ends now");
    let everything = Silence {
        matchers: cairn_alert::matchers::Matchers(
            cairn_alert::matchers::parse_matchers("job=~\".*\"").unwrap(),
        ),
        ..base
    };
    assert_eq!(
        set_silence(&mut sils, everything, at(0), "s4")
            .unwrap_err()
            .to_string(),
        "invalid silence: at least one matcher must not match the empty string"
    );
    let listed = api::list_silences(&sils, at(30), &Default::default());
    let states: Vec<_> = listed
        .iter()
        .map(|s| (s.id.as_str(), s.status.state.as_str()))
        .collect();
    assert_eq!(states, [("s3", "active"), ("s1", "expired")]);
}

#[test]
fn critical_inhibits_warning_of_the_same_alert_and_cluster() {
    let mut am = Am::new();
    am.send(
        alert(
            &[
                ("alertname", "Latency"),
                ("cluster", "hz"),
                ("severity", "critical"),
                ("instance", "a"),
            ],
            at(0),
            Some(at(600)),
            at(0),
        ),
        at(0),
    );
    am.send(
        alert(
            &[
                ("alertname", "Latency"),
                ("cluster", "hz"),
                ("severity", "warning"),
                ("instance", "b"),
            ],
            at(0),
            Some(at(600)),
            at(0),
        ),
        at(0),
    );
    am.send(
        alert(
            &[
                ("alertname", "Latency"),
                ("cluster", "bj"),
                ("severity", "warning"),
                ("instance", "c"),
            ],
            at(0),
            Some(at(600)),
            at(0),
        ),
        at(0),
    );
    let mut sent = am.tick(at_s(30));
    sent.sort();
    assert_eq!(
        sent,
        [
            // The critical alert goes to on-call only: its route matched and
            // the siblings after it did not, so the root does not take it.
            "oncall-dingtalk/dingtalk {}/{severity=\"critical\"}:{alertname=\"Latency\"} firing=[a] resolved=[]",
            // bj has no critical alert; hz's warning is inhibited, leaving
            // its group with nothing to say.
            "ops-webhook/webhook {}:{alertname=\"Latency\", cluster=\"bj\"} firing=[c] resolved=[]",
        ]
    );
}

#[test]
fn mute_window_follows_the_wall_clock_across_dst() {
    // db-maintenance: Sundays 02:00-04:00 Europe/Berlin.
    let cfg = config();
    let w = &cfg.time_intervals["db-maintenance"];
    let inside = |t: Timestamp| cairn_alert::timeinterval::any_contains(w, t);
    // Spring forward, 2024-03-31: 02:00 CET jumps to 03:00 CEST.
    assert!(
        !inside(time::macros::datetime!(2024-03-31 00:59 UTC)),
        "01:59 CET"
    );
    assert!(
        inside(time::macros::datetime!(2024-03-31 01:00 UTC)),
        "03:00 CEST"
    );
    assert!(
        !inside(time::macros::datetime!(2024-03-31 02:00 UTC)),
        "04:00 CEST"
    );
    // Fall back, 2024-10-27: 02:00-03:00 happens twice, 3 hours inside.
    assert!(
        !inside(time::macros::datetime!(2024-10-26 23:59 UTC)),
        "01:59 CEST"
    );
    assert!(
        inside(time::macros::datetime!(2024-10-27 00:00 UTC)),
        "02:00 CEST"
    );
    assert!(
        inside(time::macros::datetime!(2024-10-27 01:30 UTC)),
        "02:30 CET, the second time"
    );
    assert!(
        !inside(time::macros::datetime!(2024-10-27 03:00 UTC)),
        "04:00 CET"
    );

    // The db route stays quiet inside the window and speaks after it.
    let mut am = Am::new();
    let t = time::macros::datetime!(2024-10-27 01:00 UTC);
    am.send(
        alert(
            &[
                ("alertname", "ReplicaLag"),
                ("team", "db"),
                ("instance", "m1"),
            ],
            t,
            None,
            t,
        ),
        t,
    );
    assert!(am.tick(t + time::Duration::seconds(10)).is_empty());
    let after = time::macros::datetime!(2024-10-27 03:00 UTC) + time::Duration::seconds(10);
    am.send(
        alert(
            &[
                ("alertname", "ReplicaLag"),
                ("team", "db"),
                ("instance", "m1"),
            ],
            t,
            Some(after + time::Duration::minutes(5)),
            after,
        ),
        after,
    );
    let mut sent = Vec::new();
    let mut now = t + time::Duration::seconds(10);
    while now <= after + time::Duration::minutes(5) {
        sent.extend(am.tick(now));
        now += time::Duration::minutes(5);
    }
    assert_eq!(
        sent,
        ["db-team/email {}/{team=\"db\"}:{alertname=\"ReplicaLag\"} firing=[m1] resolved=[]"]
    );
}

#[test]
fn prometheus_posts_alerts_and_reads_them_back() {
    let mut am = Am::new();
    let body = r#"[
      {"labels":{"alertname":"InstanceDown","instance":"db-1:9104","job":"mysql"},
       "annotations":{"summary":"db-1 down"},
       "startsAt":"2024-11-11T00:00:00Z","endsAt":"2024-11-11T00:04:00Z",
       "generatorURL":"http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"},
      {"labels":{"alertname":"NoEnd","instance":"x"}},
      {"labels":{}},
      {"labels":{"bad-name":"x"}},
      {"labels":{"a":"b"},"startsAt":"2024-11-11T00:05:00Z","endsAt":"2024-11-11T00:01:00Z"}
    ]"#;
    let posted: Vec<PostableAlert> = serde_json::from_str(body).unwrap();
    let (alerts, errors) = api::postable_to_alerts(posted, at(0), am.cfg.global.resolve_timeout);
    assert_eq!(
        errors,
        [
            "alert 3: at least one label pair required",
            "alert 4: invalid label set: invalid name \"bad-name\"",
            "alert 5: start time must be before end time",
        ]
    );
    assert!(alerts[1].timeout);
    assert_eq!(alerts[1].ends_at, Some(at(5)));
    let history = am.d.ingest(&am.cfg, alerts, at(0));
    assert_eq!(history.len(), 2);
    let listed = api::list_alerts(&am.d, &am.cfg, &am.silences, at(1), &AlertFilter::default());
    expect![[r#"
        [
          {
            "annotations": {},
            "endsAt": "2024-11-11T00:05:00Z",
            "fingerprint": "1a28aa10039ce3b7",
            "receivers": [
              {
                "name": "ops-webhook"
              }
            ],
            "startsAt": "2024-11-11T00:00:00Z",
            "status": {
              "state": "active",
              "silencedBy": [],
              "inhibitedBy": [],
              "mutedBy": []
            },
            "updatedAt": "2024-11-11T00:00:00Z",
            "generatorURL": "",
            "labels": {
              "alertname": "NoEnd",
              "instance": "x"
            }
          },
          {
            "annotations": {
              "summary": "db-1 down"
            },
            "endsAt": "2024-11-11T00:04:00Z",
            "fingerprint": "3d3c9bdab70331fd",
            "receivers": [
              {
                "name": "ops-webhook"
              }
            ],
            "startsAt": "2024-11-11T00:00:00Z",
            "status": {
              "state": "active",
              "silencedBy": [],
              "inhibitedBy": [],
              "mutedBy": []
            },
            "updatedAt": "2024-11-11T00:00:00Z",
            "generatorURL": "http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
            "labels": {
              "alertname": "InstanceDown",
              "instance": "db-1:9104",
              "job": "mysql"
            }
          }
        ]"#]]
    .assert_eq(&serde_json::to_string_pretty(&listed).unwrap());
    // After the timeout the alert counts as resolved and is no longer listed.
    assert!(
        api::list_alerts(&am.d, &am.cfg, &am.silences, at(6), &AlertFilter::default()).is_empty()
    );
    // State is plain serde.
    let json = serde_json::to_string(&am.d).unwrap();
    assert_eq!(serde_json::from_str::<Dispatcher>(&json).unwrap(), am.d);
}

#[test]
fn config_errors_name_the_line() {
    let bad = |text: &str| parse_config("am.yml", text).unwrap_err().to_string();
    expect![[r#"
        am.yml:1:9: root route must specify a default receiver
        am.yml:4:1: undefined receiver "nobody" used in route
        am.yml:2:14: cannot have wildcard group_by (`...`) and other labels at the same time
        am.yml:4:18: matchers: bad matcher format: severity
        am.yml:4:1: undefined time interval "weekends" used in route
        am.yml:5:5: field pagerduty_configs not found in receiver
        am.yml:5:34: weekdays: invalid value "funday""#]]
    .assert_eq(
        &[
            bad("route: {group_wait: 30s}"),
            bad("route:\n  receiver: a\n  routes:\n    - receiver: nobody\nreceivers: [{name: a}]"),
            bad("route:\n  group_by: ['...', job]\n  receiver: a\nreceivers: [{name: a}]"),
            bad("route:\n  receiver: a\n  routes:\n    - matchers: [severity]\nreceivers: [{name: a}]"),
            bad("route:\n  receiver: a\n  routes:\n    - mute_time_intervals: [weekends]\nreceivers: [{name: a}]"),
            bad("route: {receiver: a}\nreceivers:\n  - name: a\n    webhook_configs: [{url: 'http://x'}]\n    pagerduty_configs: []"),
            bad("route: {receiver: a}\nreceivers: [{name: a}]\ntime_intervals:\n  - name: w\n    time_intervals: [{weekdays: [funday]}]"),
        ]
        .join("\n"),
    );
}
