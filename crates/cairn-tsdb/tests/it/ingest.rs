//! Appending samples and selecting them back with every kind of matcher.

use crate::support::*;
use cairn_tsdb::{is_stale, Error, Labels, Sample, STALE_NAN};

fn fleet() -> TestDb {
    let db = TestDb::new();
    let stats = db.append(&[
        (r#"up{job="api", instance="a"}"#, &[(10, 1.0), (20, 1.0)]),
        (r#"up{job="api", instance="b"}"#, &[(10, 0.0)]),
        (r#"up{job="db", instance="a"}"#, &[(10, 1.0)]),
        (
            r#"http_requests_total{job="api", code="200"}"#,
            &[(10, 5.0), (20, 7.0)],
        ),
        (r#"build_info{version="1.2"}"#, &[(10, 1.0)]),
    ]);
    assert_eq!(stats.samples, 7);
    db
}

#[test]
fn equality_and_inequality_select_by_value_and_absence_counts_as_empty() {
    let db = fleet();
    check(
        &db.query(r#"up{job="api"}"#, 0, 100),
        r#"
        up{instance="a", job="api"} 10:1 20:1
        up{instance="b", job="api"} 10:0
        "#,
    );
    // `!=` keeps series that do not have the label at all.
    check(
        &db.query(r#"{job!="api"}"#, 0, 100),
        r#"
        build_info{version="1.2"} 10:1
        up{instance="a", job="db"} 10:1
        "#,
    );
    // `=""` selects series without the label; `!=""` those with it.
    check(
        &db.query(r#"{instance=""}"#, 0, 100),
        r#"
        build_info{version="1.2"} 10:1
        http_requests_total{code="200", job="api"} 10:5 20:7
        "#,
    );
    check(
        &db.query(r#"{instance!="", job="db"}"#, 0, 100),
        r#"up{instance="a", job="db"} 10:1"#,
    );
}

#[test]
fn regular_expressions_are_anchored_at_both_ends() {
    let db = fleet();
    check(&db.query(r#"up{job=~"ap"}"#, 0, 100), "");
    check(
        &db.query(r#"up{job=~"a.*", instance=~"b|c"}"#, 0, 100),
        r#"up{instance="b", job="api"} 10:0"#,
    );
    check(
        &db.query(r#"{job!~"a.*"}"#, 0, 100),
        r#"
        build_info{version="1.2"} 10:1
        up{instance="a", job="db"} 10:1
        "#,
    );
    // `.*` matches the empty value, so it selects everything; `.+` requires the label.
    assert_eq!(db.query(r#"{job=~".*"}"#, 0, 100).lines().count(), 5);
    assert_eq!(db.query(r#"{job=~".+"}"#, 0, 100).lines().count(), 4);
    check(
        &db.query(r#"{__name__=~"http_.*|build_info"}"#, 0, 10),
        r#"
        build_info{version="1.2"} 10:1
        http_requests_total{code="200", job="api"} 10:5
        "#,
    );
}

#[test]
fn time_ranges_are_inclusive_and_series_without_samples_in_range_are_left_out() {
    let db = fleet();
    check(
        &db.query("up", 20, 20),
        r#"up{instance="a", job="api"} 20:1"#,
    );
    check(&db.query("up", 11, 19), "");
    check(&db.query("up", 30, 10), "");
}

#[test]
fn batches_may_repeat_a_series_and_samples_come_back_sorted() {
    let db = TestDb::new();
    let stats = db.append(&[
        ("a", &[(1, 1.0), (2, 2.0)]),
        ("b", &[(1, 9.0)]),
        ("a", &[(3, 3.0)]),
    ]);
    assert_eq!(stats.samples, 4);
    check(&db.query("a", 0, 10), "a{} 1:1 2:2 3:3");
    assert_eq!(db.stats().head_series, 2);
}

#[test]
fn nan_payloads_survive_the_head_the_wal_and_blocks_bit_for_bit() {
    let mut db = TestDb::new();
    let odd_nan = f64::from_bits(0x7ff8_dead_beef_0001);
    let values = [
        1.5,
        f64::from_bits(STALE_NAN),
        f64::INFINITY,
        f64::NEG_INFINITY,
        odd_nan,
        -0.0,
    ];
    let samples: Vec<Sample> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| Sample {
            t: i as i64 * 1000,
            v,
        })
        .collect();
    db.db()
        .append(vec![(series("g"), samples.clone())])
        .unwrap();
    let bits = |db: &TestDb| -> Vec<u64> {
        let got = db.db().select(&sel("g"), 0, i64::MAX).unwrap();
        got[0].1.iter().map(|s| s.v.to_bits()).collect()
    };
    let want: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
    assert_eq!(bits(&db), want, "head");
    db.crash_and_reopen();
    assert_eq!(bits(&db), want, "after WAL replay");
    db.db().flush().unwrap();
    db.reopen();
    assert_eq!(bits(&db), want, "from a block");
    let got = db.db().select(&sel("g"), 1000, 1000).unwrap();
    assert!(is_stale(got[0].1[0].v));
    assert!(!is_stale(f64::NAN));
}

#[test]
fn the_head_series_limit_refuses_a_batch_as_a_whole() {
    let db = TestDb::with(|o| o.max_head_series = Some(2));
    db.append(&[("a", &[(1, 1.0)])]);
    let err = db
        .db()
        .append(vec![
            (series("b"), to_samples(&[(1, 1.0)])),
            (series("c"), to_samples(&[(1, 1.0)])),
        ])
        .unwrap_err();
    assert!(matches!(err, Error::Limit(_)), "{err}");
    assert!(err.to_string().contains("max_head_series"), "{err}");
    check(&db.query(r#"{__name__=~".+"}"#, 0, 10), "a{} 1:1");
    // Existing series and one more still fit.
    db.append(&[("a", &[(2, 1.0)]), ("b", &[(2, 1.0)])]);
    assert_eq!(db.stats().head_series, 2);
}

#[test]
fn labels_are_validated_and_normalised() {
    let l = Labels::from_strs(&[("zone", "eu"), ("__name__", "up"), ("gone", "")]).unwrap();
    assert_eq!(l.to_string(), r#"up{zone="eu"}"#);
    assert_eq!(l.clone().into_vec().len(), 2);
    assert!(matches!(
        Labels::from_strs(&[("0zone", "eu")]),
        Err(Error::InvalidLabel { .. })
    ));
    let err = cairn_tsdb::Matcher::new("job", cairn_tsdb::MatchOp::RegexMatch, "a(").unwrap_err();
    assert!(matches!(err, Error::InvalidMatcher { .. }), "{err}");
}

#[test]
fn appends_and_queries_run_concurrently_from_many_threads() {
    let db = TestDb::new();
    let db = db.db();
    std::thread::scope(|scope| {
        for w in 0..3 {
            scope.spawn(move || {
                for t in 0..200 {
                    let batch = (0..10)
                        .map(|i| {
                            (
                                series(&format!(r#"load{{writer="{w}", i="{i}"}}"#)),
                                to_samples(&[(t, t as f64)]),
                            )
                        })
                        .collect();
                    assert_eq!(db.append(batch).unwrap().samples, 10);
                }
            });
        }
        scope.spawn(move || {
            for _ in 0..50 {
                for (_, samples) in db.select(&sel("load"), 0, i64::MAX).unwrap() {
                    assert!(samples.windows(2).all(|w| w[0].t < w[1].t));
                }
            }
        });
    });
    let all = db.select(&sel("load"), 0, i64::MAX).unwrap();
    assert_eq!(all.len(), 30);
    assert!(all.iter().all(|(_, s)| s.len() == 200));
    assert_eq!(db.stats().samples_total, 6000);
}
