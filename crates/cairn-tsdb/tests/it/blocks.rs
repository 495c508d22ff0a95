//! Blocks: flushing, reading across the head boundary, compaction and retention.

use crate::support::*;

#[test]
fn a_flushed_block_and_the_head_answer_one_query_after_reopen() {
    let mut db = TestDb::new();
    let names = [r#"temp{room="a"}"#, r#"temp{room="b"}"#];
    db.append_minutes(&names, 0, 30 * MIN);
    db.db().flush().unwrap();
    let s = db.stats();
    assert_eq!((s.blocks, s.head_samples, s.head_series), (1, 0, 0));
    db.append_minutes(&names, 30 * MIN, 60 * MIN);
    db.reopen();
    let got = db.db().select(&sel(r#"temp{room="a"}"#), 0, HOUR).unwrap();
    assert_eq!(got.len(), 1);
    let ts: Vec<i64> = got[0].1.iter().map(|s| s.t).collect();
    assert_eq!(ts, (0..60).map(|m| m * MIN).collect::<Vec<_>>());
    // A range that straddles the boundary takes from both.
    check(
        &db.query(r#"temp{room="b"}"#, 29 * MIN, 30 * MIN),
        r#"temp{room="b"} 1740000:29 1800000:30"#,
    );
    let s = db.stats();
    assert_eq!(
        (s.series, s.blocks, s.head_samples, s.block_samples),
        (2, 1, 60, 60)
    );
    assert_eq!((s.min_time, s.max_time), (Some(0), Some(59 * MIN)));
}

#[test]
fn compaction_cuts_old_head_data_and_merges_a_complete_window() {
    let db = TestDb::with(|o| o.block_duration = HOUR);
    let names = [r#"m{i="1"}"#, r#"m{i="2"}"#];
    db.append_minutes(&names, 0, 80 * MIN);
    db.db().compact().unwrap();
    // 80 minutes span less than 1.5 blocks: nothing to cut yet.
    assert_eq!(db.stats().blocks, 0);
    db.append_minutes(&names, 80 * MIN, 4 * HOUR + 20 * MIN);
    let before = db.query("m", 0, i64::MAX);
    db.db().compact().unwrap();
    let s = db.stats();
    // Cut [0,1h), [1h,2h), [2h,3h); those three merge into one [0,3h) block; [3h,
    // 4h20) stays in the head.
    assert_eq!(s.blocks, 1, "{s:?}");
    assert_eq!(s.head_samples, 2 * 80);
    assert_eq!(s.block_samples, 2 * 180);
    assert_eq!(db.query("m", 0, i64::MAX), before);
}

#[test]
fn overlapping_blocks_merge_into_one_without_duplicates() {
    let db = TestDb::with(|o| o.out_of_order_window = HOUR);
    db.append(&[("a", &[(10 * MIN, 10.0), (20 * MIN, 20.0)])]);
    db.db().flush().unwrap();
    db.append(&[("a", &[(15 * MIN, 15.0), (25 * MIN, 25.0)])]);
    db.db().flush().unwrap();
    assert_eq!(db.stats().blocks, 2);
    let want = "a{} 600000:10 900000:15 1200000:20 1500000:25";
    check(&db.query("a", 0, HOUR), want);
    db.db().compact().unwrap();
    assert_eq!(db.stats().blocks, 1);
    check(&db.query("a", 0, HOUR), want);
}

#[test]
fn retention_by_age_deletes_blocks_entirely_older_than_the_limit() {
    let db = TestDb::with(|o| {
        o.block_duration = HOUR;
        o.retention = Some(2 * HOUR);
    });
    db.append_minutes(&["up"], 0, 6 * HOUR);
    db.db().compact().unwrap();
    let s = db.stats();
    // Newest sample 5h59m; blocks ending before 3h59m are gone: [0,3h) was merged and
    // deleted, [3h,4h) and [4h,5h) remain, [5h,6h) is in the head.
    assert_eq!(s.blocks, 2, "{s:?}");
    assert_eq!(s.min_time, Some(3 * HOUR));
    assert!(db.query("up", 0, 3 * HOUR - 1).is_empty());
}

#[test]
fn retention_by_size_deletes_the_oldest_blocks_first() {
    let mut db = TestDb::with(|o| o.block_duration = 10 * HOUR);
    for h in 0..3 {
        db.append_minutes(&["up", "down"], h * HOUR, (h + 1) * HOUR);
        db.db().flush().unwrap();
    }
    let s = db.stats();
    assert_eq!(s.blocks, 3);
    db.opts.retention_bytes = Some(s.wal_bytes + s.block_bytes * 3 / 4);
    db.reopen();
    db.db().compact().unwrap();
    let s = db.stats();
    assert_eq!(s.blocks, 2, "{s:?}");
    assert_eq!(s.min_time, Some(HOUR));
    let blocks = std::fs::read_dir(db.dir().join("blocks")).unwrap().count();
    assert_eq!(blocks, 2, "the deleted block's directory is gone");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn an_interrupted_merge_is_finished_and_unfinished_blocks_removed_on_open() {
    let mut db = TestDb::with(|o| o.out_of_order_window = HOUR);
    db.append(&[("a", &[(10 * MIN, 10.0), (20 * MIN, 20.0)])]);
    db.db().flush().unwrap();
    db.append(&[("a", &[(15 * MIN, 15.0)])]);
    db.db().flush().unwrap();
    let blocks_dir = db.dir().join("blocks");
    let saved = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&blocks_dir).unwrap() {
        let e = e.unwrap();
        copy_dir(&e.path(), &saved.path().join(e.file_name()));
    }
    db.db().compact().unwrap();
    assert_eq!(db.stats().blocks, 1);
    db.crash();
    // As if the merge had crashed before deleting its parents, and a block cut had
    // crashed before its rename.
    for e in std::fs::read_dir(saved.path()).unwrap() {
        let e = e.unwrap();
        copy_dir(&e.path(), &blocks_dir.join(e.file_name()));
    }
    std::fs::create_dir(blocks_dir.join("01UNFINISHED.tmp")).unwrap();
    db.open_again();
    assert_eq!(db.stats().blocks, 1);
    assert_eq!(std::fs::read_dir(&blocks_dir).unwrap().count(), 1);
    check(
        &db.query("a", 0, HOUR),
        "a{} 600000:10 900000:15 1200000:20",
    );
}
