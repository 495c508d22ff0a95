//! Out-of-order samples, duplicates and samples that come too late.

use crate::support::*;
use cairn_tsdb::AppendStats;

fn stats(samples: usize, ooo: usize, dup: usize, old: usize) -> AppendStats {
    AppendStats {
        samples,
        out_of_order_rejected: ooo,
        duplicates: dup,
        too_old_rejected: old,
    }
}

#[test]
fn without_a_window_older_samples_are_rejected_and_counted() {
    let db = TestDb::new();
    db.append(&[("a", &[(100, 1.0), (200, 2.0)])]);
    let got = db.append(&[("a", &[(150, 1.5), (200, 2.0), (200, 2.5), (300, 3.0)])]);
    assert_eq!(got, stats(1, 2, 1, 0));
    check(&db.query("a", 0, 1000), "a{} 100:1 200:2 300:3");
    let s = db.stats();
    assert_eq!(
        (
            s.samples_total,
            s.out_of_order_rejected_total,
            s.duplicates_total
        ),
        (3, 2, 1)
    );
}

#[test]
fn inside_the_window_older_samples_are_accepted_and_kept_sorted() {
    let mut db = TestDb::with(|o| o.out_of_order_window = 10 * MIN);
    db.append(&[("a", &[(20 * MIN, 20.0), (30 * MIN, 30.0)])]);
    let got = db.append(&[(
        "a",
        &[
            (25 * MIN, 25.0),
            (21 * MIN, 21.0),
            (25 * MIN, 25.0),
            (25 * MIN, 99.0),
        ],
    )]);
    assert_eq!(
        got,
        stats(2, 1, 1, 0),
        "a repeat is a duplicate, another value at a taken time is refused"
    );
    // 19 min is more than 10 min behind the newest sample (30 min).
    assert_eq!(db.append(&[("a", &[(19 * MIN, 19.0)])]), stats(0, 1, 0, 0));
    // An out-of-order sample at the time of an in-order one is a duplicate.
    assert_eq!(db.append(&[("a", &[(20 * MIN, 20.0)])]), stats(0, 0, 1, 0));
    let want = "a{} 1200000:20 1260000:21 1500000:25 1800000:30";
    check(&db.query("a", 0, i64::MAX), want);
    check(
        &db.query("a", 21 * MIN, 25 * MIN),
        "a{} 1260000:21 1500000:25",
    );
    db.crash_and_reopen();
    check(&db.query("a", 0, i64::MAX), want);
    db.db().flush().unwrap();
    check(&db.query("a", 0, i64::MAX), want);
}

#[test]
fn many_out_of_order_samples_merge_with_in_order_chunks() {
    let db = TestDb::with(|o| o.out_of_order_window = i64::MAX / 2);
    let forward: Vec<(i64, f64)> = (0..300).map(|i| (i * 2 * 1000, i as f64)).collect();
    db.append(&[("a", &forward)]);
    let odd: Vec<(i64, f64)> = (0..300)
        .rev()
        .map(|i| ((i * 2 + 1) * 1000, i as f64 + 0.5))
        .collect();
    assert_eq!(db.append(&[("a", &odd)]).samples, 300);
    let got = db.db().select(&sel("a"), 0, i64::MAX).unwrap();
    let ts: Vec<i64> = got[0].1.iter().map(|s| s.t).collect();
    assert_eq!(ts, (0..600).map(|i| i * 1000).collect::<Vec<_>>());
}

#[test]
fn after_a_flush_samples_older_than_the_block_are_too_old() {
    let db = TestDb::new();
    db.append(&[("a", &[(100, 1.0)]), ("b", &[(200, 1.0)])]);
    db.db().flush().unwrap();
    assert_eq!(db.append(&[("a", &[(150, 1.0)])]), stats(0, 0, 0, 1));
    assert_eq!(db.append(&[("a", &[(201, 1.0)])]), stats(1, 0, 0, 0));
    assert_eq!(db.stats().too_old_rejected_total, 1);
    check(&db.query("a", 0, 1000), "a{} 100:1 201:1");
}

#[test]
fn samples_older_than_retention_are_too_old() {
    let db = TestDb::with(|o| o.retention = Some(HOUR));
    db.append(&[("a", &[(10 * HOUR, 1.0)])]);
    assert_eq!(
        db.append(&[("b", &[(8 * HOUR, 1.0), (9 * HOUR + 1, 1.0)])]),
        stats(1, 0, 0, 1)
    );
}
