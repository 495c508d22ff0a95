//! What survives a crash: acknowledged samples, a torn WAL tail, the directory lock.

use crate::support::*;
use cairn_tsdb::{Error, FsyncPolicy, Options, Tsdb};
use std::fs::OpenOptions;
use std::time::Duration;

fn acknowledged_samples_survive_a_crash(policy: FsyncPolicy) {
    let mut db = TestDb::with(|o| o.fsync = policy);
    for i in 0..50 {
        db.append(&[
            (r#"cpu{core="0"}"#, &[(i * 1000, i as f64)]),
            (r#"cpu{core="1"}"#, &[(i * 1000, -(i as f64))]),
        ]);
    }
    let before = db.query("cpu", 0, i64::MAX);
    db.crash_and_reopen();
    assert_eq!(db.query("cpu", 0, i64::MAX), before, "{policy:?}");
    assert_eq!(db.stats().head_samples, 100);
    // Appends go on after recovery, and recover again.
    db.append(&[(r#"cpu{core="0"}"#, &[(50_000, 50.0)])]);
    db.crash_and_reopen();
    assert!(db
        .query(r#"cpu{core="0"}"#, 50_000, 50_000)
        .ends_with("50000:50"));
}

#[test]
fn acknowledged_samples_survive_a_crash_with_every_fsync_policy() {
    acknowledged_samples_survive_a_crash(FsyncPolicy::Always);
    acknowledged_samples_survive_a_crash(FsyncPolicy::Interval(Duration::from_millis(5)));
    acknowledged_samples_survive_a_crash(FsyncPolicy::Never);
}

#[test]
fn a_torn_wal_tail_loses_only_the_record_being_written() {
    let mut db = TestDb::new();
    for i in 0..10 {
        db.append(&[("a", &[(i, i as f64)]), ("b", &[(i, 1.0)])]);
    }
    db.crash();
    let segment = db.wal_segments().pop().expect("a segment");
    let f = OpenOptions::new().write(true).open(&segment).unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len - 3).unwrap();
    drop(f);
    db.open_again();
    // The last batch (t = 9) was torn; everything before it is there.
    check(
        &db.query("a", 0, 100),
        "a{} 0:0 1:1 2:2 3:3 4:4 5:5 6:6 7:7 8:8",
    );
    check(&db.query("b", 9, 9), "");
    db.append(&[("a", &[(9, 99.0)])]);
    db.crash_and_reopen();
    check(&db.query("a", 8, 100), "a{} 8:8 9:99");
}

#[test]
fn garbage_after_the_last_record_is_cut_off() {
    let mut db = TestDb::new();
    db.append(&[("a", &[(1, 1.0)])]);
    db.crash();
    let segment = db.wal_segments().pop().unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes.extend_from_slice(&[0x10, 0, 0, 0, 1, 2, 3, 4, 5, 6]);
    std::fs::write(&segment, bytes).unwrap();
    db.open_again();
    check(&db.query("a", 0, 10), "a{} 1:1");
}

#[test]
fn the_head_comes_back_from_checkpoint_and_segments_after_a_cut() {
    let mut db = TestDb::with(|o| o.block_duration = HOUR);
    let names = [r#"m{i="1"}"#, r#"m{i="2"}"#];
    db.append_minutes(&names, 0, 4 * HOUR);
    db.db().compact().unwrap();
    let s = db.stats();
    assert_eq!(s.blocks, 1, "three one-hour blocks merged into one: {s:?}");
    db.append_minutes(
        &[r#"m{i="2"}"#, r#"m{i="3"}"#],
        4 * HOUR,
        4 * HOUR + 10 * MIN,
    );
    let before = db.query("m", 0, i64::MAX);
    db.crash_and_reopen();
    assert_eq!(db.query("m", 0, i64::MAX), before);
    let ckpt = std::fs::read_dir(db.dir().join("wal"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("checkpoint.")
        })
        .count();
    assert_eq!(ckpt, 1);
    assert_eq!(db.stats().series, 3);
}

#[test]
fn one_directory_one_open_database() {
    let mut db = TestDb::new();
    let err = Tsdb::open(db.opts.clone())
        .err()
        .expect("second open refused");
    assert!(matches!(err, Error::Locked(_)), "{err}");
    // A lock file left by a dead process is taken over.
    db.crash();
    std::fs::write(db.dir().join("LOCK"), "999999999\n").unwrap();
    db.open_again();
    // A lock file held by a live process (pid 1) is respected.
    db.crash();
    std::fs::write(db.dir().join("LOCK"), "1\n").unwrap();
    let err = Tsdb::open(db.opts.clone()).err().expect("held by pid 1");
    assert!(matches!(err, Error::Locked(_)), "{err}");
    std::fs::remove_file(db.dir().join("LOCK")).unwrap();
    db.open_again();
    db.reopen();
}

#[test]
fn bad_options_are_refused_with_the_field_named() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = Options {
        dir: tmp.path().to_path_buf(),
        block_duration: 0,
        ..Options::default()
    };
    let err = Tsdb::open(opts).err().unwrap();
    assert!(err.to_string().contains("block_duration"), "{err}");
}
