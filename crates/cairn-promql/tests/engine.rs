//! Story tests for the engine: the promqltest-style scripts in `testdata/`
//! (one test per file), then the behaviour scripts cannot express, such as
//! result shapes, limits and storage access.

use std::sync::Mutex;

use cairn_promql::testing::{run_script, MemStorage};
use cairn_promql::{
    parse_matchers, Engine, InstantSample, MatchOp, Matcher, QueryError, Series, Storage, Value,
};

macro_rules! script_tests {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let script = include_str!(concat!("testdata/", stringify!($name), ".test"));
            if let Err(failures) = run_script(&Engine::default(), script) {
                panic!("{}.test failed:\n\n{failures}", stringify!($name));
            }
        }
    )*};
}

script_tests!(
    selectors,
    functions,
    aggregators,
    operators,
    histograms,
    subquery,
    at_modifier,
    range,
    errors,
);

fn storage(load: &str) -> MemStorage {
    let mut s = MemStorage::new();
    s.load(load).expect("valid load block");
    s
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut l: Vec<(String, String)> = pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    l.sort();
    l
}

#[test]
fn an_instant_range_vector_returns_raw_samples_with_their_timestamps() {
    let s = storage("load 1m\n  m{a=\"1\"} 1 2 3 stale 5");
    let v = Engine::default().instant(&s, "m[3m]", 4 * 60_000).unwrap();
    assert_eq!(
        v,
        Value::Matrix(vec![Series {
            labels: labels(&[("__name__", "m"), ("a", "1")]),
            samples: vec![(60_000, 2.0), (120_000, 3.0), (240_000, 5.0)],
        }])
    );
}

#[test]
fn an_instant_subquery_returns_its_inner_steps() {
    let s = storage("load 1m\n  m 0+1x10");
    let v = Engine::default()
        .instant(&s, "m[2m:1m]", 5 * 60_000)
        .unwrap();
    assert_eq!(
        v,
        Value::Matrix(vec![Series {
            labels: labels(&[("__name__", "m")]),
            samples: vec![(180_000, 3.0), (240_000, 4.0), (300_000, 5.0)],
        }])
    );
}

#[test]
fn instant_results_carry_the_evaluation_time() {
    let s = storage("load 1m\n  m 7");
    let engine = Engine::default();
    assert_eq!(
        engine.instant(&s, "m", 90_000).unwrap(),
        Value::Vector(vec![InstantSample {
            labels: labels(&[("__name__", "m")]),
            t: 90_000,
            v: 7.0
        }])
    );
    assert_eq!(
        engine.instant(&s, "scalar(m) * 2", 90_000).unwrap(),
        Value::Scalar { t: 90_000, v: 14.0 }
    );
    assert_eq!(
        engine.instant(&s, "\"hi\"", 90_000).unwrap(),
        Value::String {
            t: 90_000,
            v: "hi".into()
        }
    );
}

#[test]
fn range_results_are_sorted_by_labels() {
    let s = storage("load 1m\n  m{a=\"2\"} 1 1\n  m{a=\"1\"} 2 2\n  m{a=\"10\"} 3 3");
    let Value::Matrix(m) = Engine::default()
        .range(&s, "sort_desc(m)", 0, 60_000, 60_000)
        .unwrap()
    else {
        panic!("not a matrix")
    };
    let order: Vec<&str> = m.iter().map(|s| s.labels[1].1.as_str()).collect();
    assert_eq!(order, ["1", "10", "2"]);
}

#[test]
fn too_many_samples_is_an_execution_error() {
    let s = storage("load 1m\n  m{a=\"1\"} 0+1x100\n  m{a=\"2\"} 0+1x100");
    let engine = Engine {
        max_samples: 100,
        ..Engine::default()
    };
    let err = engine.range(&s, "m", 0, 100 * 60_000, 60_000).unwrap_err();
    assert_eq!(err, QueryError::TooManySamples);
    assert_eq!(err.error_type(), "execution");
    assert!(engine
        .range(&s, "m{a=\"1\"}", 0, 90 * 60_000, 60_000)
        .is_ok());
    assert_eq!(
        engine
            .instant(&s, "sum_over_time(m[200m])", 100 * 60_000)
            .unwrap_err(),
        QueryError::TooManySamples
    );
}

#[test]
fn errors_map_to_prometheus_error_types() {
    let s = MemStorage::new();
    let engine = Engine::default();
    let parse = engine.instant(&s, "sum(", 0).unwrap_err();
    assert!(matches!(parse, QueryError::Parse { .. }), "{parse:?}");
    assert_eq!(parse.error_type(), "bad_data");
    assert!(parse.to_string().starts_with("parse error: "), "{parse}");
    let range = engine.range(&s, "up[5m]", 0, 0, 1).unwrap_err();
    assert_eq!(range.error_type(), "bad_data");
    let exec = engine
        .instant(&s, "holt_winters(up[5m], 2, 0.5)", 0)
        .unwrap();
    // No samples: the factors are never checked, as in Prometheus.
    assert_eq!(exec, Value::Vector(vec![]));
}

/// A storage that records every call, to check each selector is fetched
/// once for the whole range.
struct Recording {
    inner: MemStorage,
    calls: Mutex<Vec<(Vec<Matcher>, i64, i64)>>,
}

impl Storage for Recording {
    fn select(&self, matchers: &[Matcher], start: i64, end: i64) -> Result<Vec<Series>, String> {
        self.calls
            .lock()
            .unwrap()
            .push((matchers.to_vec(), start, end));
        self.inner.select(matchers, start, end)
    }
}

#[test]
fn each_selector_reads_storage_once_for_the_whole_range() {
    let s = Recording {
        inner: storage("load 1m\n  m 0+1x100"),
        calls: Mutex::new(Vec::new()),
    };
    Engine::default()
        .range(
            &s,
            "rate(m[5m] offset 1m) + m",
            60 * 60_000,
            90 * 60_000,
            60_000,
        )
        .unwrap();
    let calls = s.calls.lock().unwrap();
    let name = Matcher::new("__name__", MatchOp::Equal, "m");
    assert_eq!(
        *calls,
        vec![
            (vec![name.clone()], 54 * 60_000, 89 * 60_000),
            (vec![name], 55 * 60_000, 90 * 60_000),
        ]
    );
}

struct Failing;

impl Storage for Failing {
    fn select(&self, _: &[Matcher], _: i64, _: i64) -> Result<Vec<Series>, String> {
        Err("disk on fire".into())
    }
}

#[test]
fn storage_errors_are_reported() {
    let err = Engine::default().instant(&Failing, "up", 0).unwrap_err();
    assert_eq!(err, QueryError::Storage("disk on fire".into()));
    assert_eq!(err.to_string(), "expanding series: disk on fire");
}

#[test]
fn series_selectors_parse_into_matchers() {
    assert_eq!(
        parse_matchers(r#"up{job=~"api|web", env!="dev"}"#).unwrap(),
        vec![
            Matcher::new("__name__", MatchOp::Equal, "up"),
            Matcher::new("job", MatchOp::RegexMatch, "api|web"),
            Matcher::new("env", MatchOp::NotEqual, "dev"),
        ]
    );
    assert!(parse_matchers("sum(up)").is_err());
    assert!(parse_matchers("up[5m]").is_err());
    assert!(parse_matchers("up offset 5m").is_err());
}
