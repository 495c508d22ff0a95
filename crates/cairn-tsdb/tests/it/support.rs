//! Fixtures: a database in a temporary directory, a tiny parser for series and
//! selectors in Prometheus notation, and a text rendering of query results so that
//! each check reads like the data it expects.

use cairn_tsdb::{FsyncPolicy, Labels, MatchOp, Matcher, Options, Sample, Stats, Tsdb};
use std::path::{Path, PathBuf};

pub const MIN: i64 = 60_000;
pub const HOUR: i64 = 3_600_000;

/// A database in its own temporary directory that can be closed, crashed and
/// reopened with the same options.
pub struct TestDb {
    _tmp: tempfile::TempDir,
    pub opts: Options,
    db: Option<Tsdb>,
}

impl TestDb {
    pub fn new() -> TestDb {
        TestDb::with(|_| {})
    }

    pub fn with(configure: impl FnOnce(&mut Options)) -> TestDb {
        let tmp = tempfile::tempdir().unwrap();
        let mut opts = Options {
            dir: tmp.path().join("db"),
            fsync: FsyncPolicy::Never,
            ..Options::default()
        };
        configure(&mut opts);
        let db = Tsdb::open(opts.clone()).unwrap();
        TestDb {
            _tmp: tmp,
            opts,
            db: Some(db),
        }
    }

    pub fn db(&self) -> &Tsdb {
        self.db.as_ref().expect("database is open")
    }

    pub fn dir(&self) -> &Path {
        &self.opts.dir
    }

    pub fn wal_segments(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.dir().join("wal"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
            })
            .collect();
        v.sort();
        v
    }

    /// Simulates a crash (nothing synced, lock file left behind) and reopens.
    pub fn crash_and_reopen(&mut self) {
        self.db.take().expect("open").crash();
        self.db = Some(Tsdb::open(self.opts.clone()).unwrap());
    }

    /// Closes cleanly and reopens.
    pub fn reopen(&mut self) {
        self.db.take().expect("open").close().unwrap();
        self.db = Some(Tsdb::open(self.opts.clone()).unwrap());
    }

    pub fn crash(&mut self) {
        self.db.take().expect("open").crash();
    }

    pub fn open_again(&mut self) {
        self.db = Some(Tsdb::open(self.opts.clone()).unwrap());
    }

    /// Appends `(series, [(t, v)])` pairs as one batch.
    pub fn append(&self, batch: &[(&str, &[(i64, f64)])]) -> cairn_tsdb::AppendStats {
        self.db()
            .append(
                batch
                    .iter()
                    .map(|(s, samples)| (series(s), to_samples(samples)))
                    .collect(),
            )
            .unwrap()
    }

    /// Appends one sample per minute for `series` over `[from, to)`, value = minute.
    pub fn append_minutes(&self, names: &[&str], from: i64, to: i64) {
        let mut t = from;
        while t < to {
            let batch = names
                .iter()
                .map(|s| {
                    (
                        series(s),
                        vec![Sample {
                            t,
                            v: (t / MIN) as f64,
                        }],
                    )
                })
                .collect();
            self.db().append(batch).unwrap();
            t += MIN;
        }
    }

    /// The query result rendered one series per line: `labels t:v t:v …`.
    pub fn query(&self, selector: &str, start: i64, end: i64) -> String {
        render(&self.db().select(&sel(selector), start, end).unwrap())
    }

    pub fn stats(&self) -> Stats {
        self.db().stats()
    }
}

pub fn to_samples(s: &[(i64, f64)]) -> Vec<Sample> {
    s.iter().map(|&(t, v)| Sample { t, v }).collect()
}

pub fn render(result: &[(Labels, Vec<Sample>)]) -> String {
    result
        .iter()
        .map(|(l, s)| {
            let samples: Vec<String> = s.iter().map(|s| format!("{}:{}", s.t, s.v)).collect();
            format!("{l} {}", samples.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn render_labels(result: &[Labels]) -> String {
    result
        .iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parses `name{a="b", c="d"}` (either part optional; values without `,` or `"`).
pub fn series(s: &str) -> Labels {
    let (name, rest) = match s.find('{') {
        Some(i) => (&s[..i], &s[i + 1..s.len() - 1]),
        None => (s, ""),
    };
    let mut pairs = Vec::new();
    if !name.is_empty() {
        pairs.push(("__name__".to_string(), name.to_string()));
    }
    for item in rest.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (k, v) = item.split_once('=').expect("label=value");
        pairs.push((k.trim().to_string(), v.trim().trim_matches('"').to_string()));
    }
    Labels::new(pairs).unwrap()
}

/// Parses a selector: `name{a="b", c!="d", e=~"f", g!~"h"}`.
pub fn sel(s: &str) -> Vec<Matcher> {
    let (name, rest) = match s.find('{') {
        Some(i) => (&s[..i], &s[i + 1..s.len() - 1]),
        None => (s, ""),
    };
    let mut out = Vec::new();
    if !name.is_empty() {
        out.push(Matcher::new("__name__", MatchOp::Equal, name).unwrap());
    }
    for item in rest.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (op, at, len) = [
            ("=~", MatchOp::RegexMatch),
            ("!~", MatchOp::RegexNoMatch),
            ("!=", MatchOp::NotEqual),
            ("=", MatchOp::Equal),
        ]
        .iter()
        .filter_map(|(tok, op)| item.find(tok).map(|i| (*op, i, tok.len())))
        .min_by_key(|&(_, i, len)| (i, std::cmp::Reverse(len)))
        .expect("an operator");
        let value = item[at + len..].trim().trim_matches('"');
        out.push(Matcher::new(item[..at].trim(), op, value).unwrap());
    }
    out
}

/// Asserts that two multi-line texts are equal, ignoring indentation.
#[track_caller]
pub fn check(actual: &str, expected: &str) {
    let expected: Vec<&str> = expected
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let actual_lines: Vec<&str> = actual.lines().collect();
    assert_eq!(actual_lines, expected, "\nactual:\n{actual}\n");
}
