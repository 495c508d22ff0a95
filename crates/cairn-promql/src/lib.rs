//! PromQL evaluation with Prometheus 2.42 semantics over any series storage.
//!
//! What comes in: a query string, an evaluation time (or a start, end and
//! step) and a [`Storage`] that can list the raw samples of the series that
//! match a set of label matchers. What goes out: a [`Value`] that is, sample
//! for sample, what Prometheus 2.42 returns for the same data.
//!
//! The crate is deliberately independent of cairn's time-series store and of
//! any wire format: the store is reached only through [`Storage`], and the
//! HTTP edge turns [`Value`] and [`QueryError`] into Prometheus' JSON.
//!
//! How a query runs:
//! 1. `promql-parser` parses the text and its AST is lowered into a small
//!    tree of our own (module `plan`), resolving `@ start()`/`@ end()`,
//!    turning durations into milliseconds and rejecting what Prometheus 2.42
//!    does not know.
//! 2. The evaluator walks that tree once for the whole query, like
//!    Prometheus does: every node yields its value at every step at once.
//!    Each selector asks the storage exactly once, for the whole time span
//!    the query needs, and each step then finds its samples by binary search.
//! 3. The engine shapes the result as Prometheus' instant or range query API
//!    would (vector, scalar, string or matrix; range results sorted by labels).
//!
//! Staleness: a sample whose bits are [`STALE_NAN_BITS`] is a staleness
//! marker. It ends the series for instant selection and is dropped from
//! range vectors, as in Prometheus.

mod aggregate;
mod binary;
mod error;
mod eval;
mod functions;
mod labels;
mod plan;
pub mod testing;

use std::fmt;

pub use error::QueryError;

/// A label set, sorted by label name, including `__name__` when the series
/// has a metric name. Labels with empty values are never present.
pub type Labels = Vec<(String, String)>;

/// The bit pattern Prometheus uses to mark a series as stale.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Returns true if `v` is a Prometheus staleness marker (not just any NaN).
pub fn is_stale_marker(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// Returns the staleness marker value.
pub fn stale_marker() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// One time series: its labels and its samples as `(milliseconds, value)`
/// pairs sorted by time.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub samples: Vec<(i64, f64)>,
}

/// How a [`Matcher`] compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    RegexMatch,
    RegexNoMatch,
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        })
    }
}

/// A label matcher as written in a selector. Regex values are kept as the
/// user wrote them; PromQL regexes are fully anchored, which
/// [`CompiledMatcher`] takes care of.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
}

impl Matcher {
    pub fn new(name: impl Into<String>, op: MatchOp, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op,
            value: value.into(),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op, self.value)
    }
}

/// A [`Matcher`] ready to test label values, with PromQL's semantics: regexes
/// are anchored at both ends, and a missing label matches as the empty string.
/// Storage implementations can use it to apply matchers exactly as the engine
/// expects.
#[derive(Debug, Clone)]
pub struct CompiledMatcher {
    pub matcher: Matcher,
    regex: Option<regex::Regex>,
}

impl CompiledMatcher {
    pub fn new(matcher: &Matcher) -> Result<Self, QueryError> {
        let regex = match matcher.op {
            MatchOp::Equal | MatchOp::NotEqual => None,
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => Some(
                labels::anchored_regex(&matcher.value).map_err(|e| QueryError::Parse {
                    message: format!("invalid regular expression {:?}: {e}", matcher.value),
                    position: None,
                })?,
            ),
        };
        Ok(CompiledMatcher {
            matcher: matcher.clone(),
            regex,
        })
    }

    /// Tests one label value; pass `""` for a label the series does not have.
    pub fn matches(&self, value: &str) -> bool {
        match (&self.matcher.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.matcher.value,
            (MatchOp::NotEqual, _) => value != self.matcher.value,
            (MatchOp::RegexMatch, Some(re)) => re.is_match(value),
            (MatchOp::RegexNoMatch, Some(re)) => !re.is_match(value),
            (MatchOp::RegexMatch | MatchOp::RegexNoMatch, None) => false,
        }
    }

    /// Tests a whole label set.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels::value_of(labels, &self.matcher.name))
    }
}

/// Where the engine reads samples from.
///
/// The engine asks once per selector in a query, for the whole time span the
/// query needs, so an implementation can favour one large scan over many
/// small ones. It must apply every matcher (see [`CompiledMatcher`] for the
/// exact semantics) and return, for each matching series, all its samples
/// with `start <= t <= end`, including staleness markers, in time order.
pub trait Storage: Sync {
    fn select(&self, matchers: &[Matcher], start: i64, end: i64) -> Result<Vec<Series>, String>;
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// The result of a query, shaped as Prometheus' HTTP API shapes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar { t: i64, v: f64 },
    String { t: i64, v: String },
    Vector(Vec<InstantSample>),
    Matrix(Vec<Series>),
}

impl Value {
    /// The `resultType` Prometheus' API reports for this value.
    pub fn result_type(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// Formats a sample value the way Prometheus' API and `count_values` do:
/// the shortest decimal that round-trips, `NaN`, `+Inf` or `-Inf`.
pub fn format_value(v: f64) -> String {
    labels::format_float(v)
}

/// The PromQL engine. Its fields are the settings Prometheus exposes as
/// command-line flags; [`Engine::default`] uses Prometheus' defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    /// How far back an instant selector looks for a sample, in milliseconds
    /// (`--query.lookback-delta`, default 5 minutes).
    pub lookback_delta: i64,
    /// The most samples a query may hold in memory at once
    /// (`--query.max-samples`, default 50 million).
    pub max_samples: usize,
    /// The step of a subquery written without one, such as `x[1h:]`, in
    /// milliseconds (Prometheus' global `evaluation_interval`, default 1m).
    pub default_subquery_step: i64,
}

impl Default for Engine {
    fn default() -> Self {
        Engine {
            lookback_delta: 5 * 60 * 1000,
            max_samples: 50_000_000,
            default_subquery_step: 60 * 1000,
        }
    }
}

impl Engine {
    /// Evaluates `query` at `time` (milliseconds), like `/api/v1/query`.
    pub fn instant(
        &self,
        storage: &dyn Storage,
        query: &str,
        time: i64,
    ) -> Result<Value, QueryError> {
        let node = plan::parse(query, time, time)?;
        let grid = eval::Grid {
            start: time,
            end: time,
            step: 1,
        };
        let mut ev = eval::Evaluator::new(self, storage);
        Ok(match ev.eval(&node, &grid)? {
            eval::Val::Scalar(v) => Value::Scalar {
                t: time,
                v: v.first().copied().unwrap_or(f64::NAN),
            },
            eval::Val::String(s) => Value::String { t: time, v: s },
            eval::Val::Vector(series) => Value::Vector(
                series
                    .into_iter()
                    .filter_map(|s| {
                        s.points.first().map(|&(_, v)| InstantSample {
                            labels: s.labels,
                            t: time,
                            v,
                        })
                    })
                    .collect(),
            ),
            eval::Val::Matrix(mut m) => {
                m.sort_by(|a, b| a.labels.cmp(&b.labels));
                Value::Matrix(m)
            }
        })
    }

    /// Evaluates `query` at every `step` from `start` to `end` inclusive (all
    /// in milliseconds), like `/api/v1/query_range`. The result is always a
    /// matrix sorted by labels; a scalar expression yields one series without
    /// labels.
    pub fn range(
        &self,
        storage: &dyn Storage,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Value, QueryError> {
        if end < start {
            return Err(QueryError::InvalidQuery(
                "end timestamp must not be before start time".into(),
            ));
        }
        if step <= 0 {
            return Err(QueryError::InvalidQuery(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        let node = plan::parse(query, start, end)?;
        match node.value_type() {
            plan::ValueType::Scalar | plan::ValueType::Vector => {}
            other => {
                return Err(QueryError::InvalidQuery(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                other.documented()
            )))
            }
        }
        let grid = eval::Grid { start, end, step };
        let mut ev = eval::Evaluator::new(self, storage);
        let mut matrix: Vec<Series> = match ev.eval(&node, &grid)? {
            eval::Val::Scalar(values) => vec![Series {
                labels: Vec::new(),
                samples: values
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (grid.ts(i), v))
                    .collect(),
            }],
            eval::Val::Vector(series) => series.into_iter().map(|s| s.into_series(&grid)).collect(),
            eval::Val::Matrix(_) | eval::Val::String(_) => {
                return Err(QueryError::Execution(
                    "range query produced a value that is neither a vector nor a scalar".into(),
                ))
            }
        };
        matrix.retain(|s| !s.samples.is_empty());
        matrix.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(Value::Matrix(matrix))
    }
}

/// Parses a series selector such as `up{job="api"}`, as given to
/// `/api/v1/series?match[]=` or `/api/v1/labels?match[]=`, into matchers.
/// The metric name, if any, comes first as a `__name__` equality matcher.
pub fn parse_matchers(selector: &str) -> Result<Vec<Matcher>, QueryError> {
    plan::parse_selector(selector)
}
