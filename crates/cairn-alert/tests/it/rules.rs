//! Rule files imported unchanged, checked, and evaluated over time.

use std::cell::RefCell;
use std::collections::HashMap;

use cairn_alert::history::HistoryEvent;
use cairn_alert::rules::{
    parse_rule_file, AlertState, EvalContext, GroupState, Health, Rule, RuleEnv, RuleGroup, Sample,
};
use cairn_alert::Timestamp;
use expect_test::expect;

use crate::support::{at, ls};

/// A query engine stand-in: each expression returns what the story last
/// set for it.
#[derive(Default)]
struct Script {
    results: HashMap<String, Result<Vec<Sample>, String>>,
    recorded: RefCell<Vec<(String, usize)>>,
}

impl Script {
    fn set(&mut self, expr: &str, samples: &[(&[(&str, &str)], f64)]) {
        self.results.insert(
            expr.to_string(),
            Ok(samples
                .iter()
                .map(|(l, v)| Sample {
                    labels: ls(l),
                    value: *v,
                })
                .collect()),
        );
    }
}

impl RuleEnv for Script {
    fn query(&self, expr: &str, _at: Timestamp) -> Result<Vec<Sample>, String> {
        self.results.get(expr).cloned().unwrap_or(Ok(Vec::new()))
    }
    fn output(&mut self, rule: &Rule, series: &[Sample], _at: Timestamp) {
        self.recorded
            .borrow_mut()
            .push((rule.name().to_string(), series.len()));
    }
}

fn group(yaml: &str) -> RuleGroup {
    parse_rule_file("test.yml", yaml).unwrap().groups.remove(0)
}

#[test]
fn real_world_files_import_unchanged() {
    let node = parse_rule_file(
        "node-mixin.rules.yml",
        include_str!("../fixtures/node-mixin.rules.yml"),
    )
    .unwrap();
    assert_eq!(node.groups.len(), 2);
    assert_eq!(node.groups[0].rules.len(), 4);
    assert_eq!(node.groups[1].interval, Some(time::Duration::seconds(30)));
    let Rule::Alerting(fs) = &node.groups[0].rules[0] else {
        panic!("expected an alerting rule")
    };
    assert_eq!(fs.r#for, time::Duration::hours(1));
    assert_eq!(fs.line, 6);

    let cairn = parse_rule_file(
        "cairn-platform.rules.yml",
        include_str!("../fixtures/cairn-platform.rules.yml"),
    )
    .unwrap();
    let g = &cairn.groups[0];
    assert_eq!(g.limit, 100);
    assert_eq!(g.query_offset, Some(time::Duration::seconds(30)));
    assert_eq!(g.labels, ls(&[("team", "app-ops")]));

    // Group labels, templated severities and annotations at work.
    let mut env = Script::default();
    env.set(
        g.rules[0].expr(),
        &[(&[("merchant", "m-tmall-01"), ("service", "checkout")], 0.31)],
    );
    let ctx = EvalContext {
        external_url: "https://cairn.example".into(),
        ..EvalContext::default()
    };
    let mut st = GroupState::default();
    g.eval(&mut st, at(0), &mut env, &ctx);
    let a = &st.rules[0].alerts[0];
    assert_eq!(a.labels["severity"], "critical");
    assert_eq!(a.labels["team"], "app-ops");
    assert_eq!(
        a.annotations["summary"],
        "checkout of m-tmall-01 answers 31% errors"
    );
    assert_eq!(
        a.annotations["dashboard"],
        "https://cairn.example/services/checkout"
    );
    env.set(
        g.rules[1].expr(),
        &[(&[("pool", "ecs-hz-a"), ("zone", "hz-a")], 0.04)],
    );
    g.eval(&mut st, at(1), &mut env, &ctx);
    let stock = &st.rules[1].alerts[0];
    assert_eq!(
        stock.labels["team"], "capacity",
        "the rule's label wins over the group's"
    );
    assert_eq!(
        stock.annotations["description"],
        "Zone hz-a: order hardware now; 14d 0h 0m 0s lead time.\n"
    );

    // State survives a round trip through the app's store.
    let json = serde_json::to_string(&cairn).unwrap();
    let back: cairn_alert::rules::RuleFile = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cairn);
}

#[test]
fn broken_file_reports_every_problem_with_its_place() {
    let err = parse_rule_file(
        "broken.rules.yml",
        include_str!("../fixtures/broken.rules.yml"),
    )
    .unwrap_err();
    expect![[r#"
        broken.rules.yml:5:15: group "broken", rule 1 (BadExpr), field expr: could not parse expression: parse error: unclosed left parenthesis
        broken.rules.yml:8:14: group "broken", rule 2 (BadDuration), field for: not a valid duration string: "5 minutes"
        broken.rules.yml:9:9: group "broken", rule 3 (Both): only one of 'record' and 'alert' must be set
        broken.rules.yml:12:17: group "broken", rule 4 (bad-name), field record: invalid recording rule name: bad-name
        broken.rules.yml:14:14: group "broken", rule 4 (bad-name), field for: invalid field 'for' in recording rule
        broken.rules.yml:18:11: group "broken", rule 5 (BadTemplate), field labels: invalid label name: 1severity
        broken.rules.yml:20:11: group "broken", rule 5 (BadTemplate), field annotations.summary: invalid template: template: __alert_BadTemplate:1: unclosed action
        broken.rules.yml:21:11: group "broken", rule 5 (BadTemplate), field annotations.description: invalid template: template: __alert_BadTemplate: undefined variable "$nosuchvar"
        broken.rules.yml:22:11: group "broken", rule 5 (BadTemplate), field annotations.runbook: invalid template: template: __alert_BadTemplate: function "nosuchfunc" not defined
        broken.rules.yml:25:9: group "broken", rule 6 (Typo): field fro not found in rule
        broken.rules.yml:26: group "broken", field name: groupname: "broken" is repeated in the same file"#]]
    .assert_eq(&err.to_string());
}

#[test]
fn pending_then_firing_then_resolved_and_kept_for_resending() {
    let g = group(
        r#"
groups:
  - name: shops
    rules:
      - alert: InstanceDown
        expr: up == 0
        for: 5m
        labels:
          severity: '{{ if eq $labels.job "mysql" }}critical{{ else }}warning{{ end }}'
        annotations:
          summary: '{{ $labels.instance }} of {{ $labels.job }} is down'
"#,
    );
    let ctx = EvalContext {
        external_labels: ls(&[("cluster", "hz-a")]),
        external_url: "https://cairn.example".into(),
        ..EvalContext::default()
    };
    let mut env = Script::default();
    let mut state = GroupState::default();
    let down = [(
        &[
            ("__name__", "up"),
            ("instance", "db-1:9104"),
            ("job", "mysql"),
        ][..],
        0.0,
    )];

    // Minute 0: the series appears; the alert is pending and not sent.
    env.set("up == 0", &down);
    let out = g.eval(&mut state, at(0), &mut env, &ctx);
    assert!(out.alerts.is_empty());
    let a = &state.rules[0].alerts[0];
    assert_eq!(a.state, AlertState::Pending);
    assert_eq!(
        a.labels,
        ls(&[
            ("alertname", "InstanceDown"),
            ("instance", "db-1:9104"),
            ("job", "mysql"),
            ("severity", "critical")
        ])
    );
    assert_eq!(a.annotations["summary"], "db-1:9104 of mysql is down");
    assert!(matches!(out.history[0].event, HistoryEvent::Pending { .. }));
    assert_eq!(out.series.len(), 2, "ALERTS and ALERTS_FOR_STATE");
    assert_eq!(out.series[0].labels["alertstate"], "pending");

    // Minute 4: still pending, `for` not yet over.
    assert!(g.eval(&mut state, at(4), &mut env, &ctx).alerts.is_empty());

    // Minute 5: fires, and is sent with external labels and a four-interval validity.
    let out = g.eval(&mut state, at(5), &mut env, &ctx);
    assert_eq!(out.alerts.len(), 1);
    let sent = &out.alerts[0];
    assert_eq!(sent.starts_at, at(5));
    assert_eq!(sent.ends_at, Some(at(9)));
    assert_eq!(sent.labels["cluster"], "hz-a");
    assert_eq!(
        sent.generator_url,
        "https://cairn.example/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
    );
    assert!(matches!(out.history[0].event, HistoryEvent::Firing { .. }));

    // Minute 6: sent a minute ago; the resend delay (1m) has not passed.
    assert!(g.eval(&mut state, at(6), &mut env, &ctx).alerts.is_empty());
    // Minute 7: re-sent.
    assert_eq!(g.eval(&mut state, at(7), &mut env, &ctx).alerts.len(), 1);

    // Minute 8: the series is gone; the alert resolves and is sent at once.
    env.set("up == 0", &[]);
    let out = g.eval(&mut state, at(8), &mut env, &ctx);
    assert_eq!(out.alerts.len(), 1);
    assert_eq!(out.alerts[0].ends_at, Some(at(8)));
    assert!(matches!(out.history[0].event, HistoryEvent::Resolved));
    assert!(
        out.series.is_empty(),
        "resolved alerts have no ALERTS series"
    );

    // It is re-sent while kept, and dropped once 15 minutes have passed.
    assert_eq!(g.eval(&mut state, at(10), &mut env, &ctx).alerts.len(), 1);
    g.eval(&mut state, at(23), &mut env, &ctx);
    assert_eq!(state.rules[0].alerts.len(), 1, "kept at exactly 15 minutes");
    g.eval(&mut state, at(24), &mut env, &ctx);
    assert!(state.rules[0].alerts.is_empty());
    assert_eq!(state.rules[0].health.health, Health::Ok);
}

#[test]
fn a_pending_alert_that_goes_away_never_fires_and_a_returning_one_starts_over() {
    let g = group("groups: [{name: g, rules: [{alert: A, expr: x > 1, for: 3m}]}]");
    let ctx = EvalContext::default();
    let mut env = Script::default();
    let mut st = GroupState::default();
    env.set("x > 1", &[(&[("i", "1")], 2.0)]);
    g.eval(&mut st, at(0), &mut env, &ctx);
    env.set("x > 1", &[]);
    let out = g.eval(&mut st, at(1), &mut env, &ctx);
    assert!(matches!(out.history[0].event, HistoryEvent::Cancelled));
    assert!(st.rules[0].alerts.is_empty());
    env.set("x > 1", &[(&[("i", "1")], 2.0)]);
    g.eval(&mut st, at(2), &mut env, &ctx);
    assert!(
        g.eval(&mut st, at(4), &mut env, &ctx).alerts.is_empty(),
        "for restarts at minute 2"
    );
    assert_eq!(g.eval(&mut st, at(5), &mut env, &ctx).alerts.len(), 1);
}

#[test]
fn keep_firing_for_rides_out_a_flapping_series() {
    let g =
        group("groups: [{name: g, rules: [{alert: A, expr: err > 0.05, keep_firing_for: 5m}]}]");
    let ctx = EvalContext::default();
    let mut env = Script::default();
    let mut st = GroupState::default();
    env.set("err > 0.05", &[(&[("svc", "pay")], 0.1)]);
    let out = g.eval(&mut st, at(0), &mut env, &ctx);
    assert_eq!(out.alerts.len(), 1, "for: 0 fires at once");
    env.set("err > 0.05", &[]);
    for m in 1..=5 {
        g.eval(&mut st, at(m), &mut env, &ctx);
        assert_eq!(
            st.rules[0].alerts[0].state,
            AlertState::Firing,
            "minute {m}"
        );
    }
    // The series comes back within the window: the clock resets.
    env.set("err > 0.05", &[(&[("svc", "pay")], 0.2)]);
    g.eval(&mut st, at(5), &mut env, &ctx);
    env.set("err > 0.05", &[]);
    g.eval(&mut st, at(6), &mut env, &ctx);
    g.eval(&mut st, at(10), &mut env, &ctx);
    assert_eq!(st.rules[0].alerts[0].state, AlertState::Firing);
    let out = g.eval(&mut st, at(11), &mut env, &ctx);
    assert_eq!(st.rules[0].alerts[0].state, AlertState::Inactive);
    assert_eq!(out.alerts[0].ends_at, Some(at(11)));
}

#[test]
fn recording_rules_rename_and_label_and_feed_later_rules() {
    let g = group(
        r#"
groups:
  - name: rec
    labels: {team: ops}
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels: {source: cairn, team: ""}
      - alert: JobDown
        expr: job:up:sum == 0
"#,
    );
    let mut env = Script::default();
    env.set(
        "sum by (job) (up)",
        &[(&[("job", "api")], 3.0), (&[("job", "db")], 0.0)],
    );
    let mut st = GroupState::default();
    let out = g.eval(&mut st, at(0), &mut env, &EvalContext::default());
    assert_eq!(
        out.series[0].labels,
        ls(&[
            ("__name__", "job:up:sum"),
            ("job", "api"),
            ("source", "cairn")
        ])
    );
    assert_eq!(env.recorded.borrow()[0], ("job:up:sum".to_string(), 2));
}

#[test]
fn failures_are_visible_in_rule_health_and_keep_state() {
    let g = group("groups: [{name: g, limit: 1, rules: [{alert: A, expr: x, labels: {k: v}}]}]");
    let mut env = Script::default();
    let mut st = GroupState::default();
    env.set("x", &[(&[("i", "1")], 1.0)]);
    g.eval(&mut st, at(0), &mut env, &EvalContext::default());
    env.results
        .insert("x".into(), Err("storage unavailable".into()));
    let out = g.eval(&mut st, at(1), &mut env, &EvalContext::default());
    assert!(out.alerts.is_empty());
    let h = &st.rules[0].health;
    assert_eq!(h.health, Health::Err);
    assert_eq!(h.last_error.as_deref(), Some("storage unavailable"));
    assert_eq!(
        st.rules[0].alerts.len(),
        1,
        "a failed evaluation resolves nothing"
    );

    // Two series but the same labels once the rule's labels apply.
    env.set("x", &[(&[("i", "1")], 1.0), (&[("i", "2")], 1.0)]);
    g.eval(&mut st, at(2), &mut env, &EvalContext::default());
    assert_eq!(
        st.rules[0].health.last_error.as_deref(),
        Some("exceeded limit of 1 with 2 alerts")
    );
    assert!(st.rules[0].alerts.is_empty());

    // State is plain serde.
    let json = serde_json::to_string(&st).unwrap();
    assert_eq!(serde_json::from_str::<GroupState>(&json).unwrap(), st);
}

#[test]
fn reload_keeps_timers_of_unchanged_rules() {
    let old =
        group("groups: [{name: g, rules: [{alert: A, expr: x, for: 10m}, {alert: B, expr: y}]}]");
    let new = group("groups: [{name: g, rules: [{alert: B, expr: y}, {alert: A, expr: x, for: 10m}, {alert: C, expr: z}]}]");
    let mut env = Script::default();
    env.set("x", &[(&[("i", "1")], 1.0)]);
    let mut st = GroupState::default();
    old.eval(&mut st, at(0), &mut env, &EvalContext::default());
    let mut st2 = GroupState::carry_over(&old, &st, &new);
    assert_eq!(st2.rules[1].alerts[0].active_at, at(0));
    assert_eq!(
        new.eval(&mut st2, at(10), &mut env, &EvalContext::default())
            .alerts
            .len(),
        1
    );
}

#[test]
fn evaluation_times_are_aligned_and_spread() {
    let g = group("groups: [{name: g, interval: 1m, rules: []}]");
    let i = time::Duration::minutes(1);
    let off = cairn_alert::rules::group_eval_offset(&g, i);
    let n1 = cairn_alert::rules::next_evaluation(&g, i, at(0));
    let n2 = cairn_alert::rules::next_evaluation(&g, i, n1);
    assert_eq!(n2 - n1, i);
    assert!(n1 > at(0) && n1 <= at(1));
    assert_eq!(
        (n1 - at(0)).whole_milliseconds() % 60_000,
        off.whole_milliseconds() % 60_000
    );
}
