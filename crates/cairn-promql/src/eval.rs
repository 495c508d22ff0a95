//! The evaluator: walks the lowered tree once per query, producing each
//! node's value at every step of the evaluation grid at once, as Prometheus'
//! engine does. Selectors read the storage once for the whole grid; each step
//! then finds its samples by binary search.

use std::collections::{HashMap, HashSet};

use crate::plan::{Func, Node, Selector, Subquery};
use crate::{is_stale_marker, labels, Engine, Labels, Matcher, QueryError, Series, Storage};

/// The evaluation timestamps `start, start + step, ..., <= end`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grid {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl Grid {
    pub(crate) fn len(&self) -> usize {
        if self.end < self.start {
            0
        } else {
            usize::try_from((self.end - self.start) / self.step + 1).unwrap_or(0)
        }
    }

    pub(crate) fn ts(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }
}

/// A series of an instant-vector node: one value at some of the grid steps.
#[derive(Debug, Clone)]
pub(crate) struct StepSeries {
    pub labels: Labels,
    /// `(step index, value)`, sorted by step.
    pub points: Vec<(usize, f64)>,
}

impl StepSeries {
    pub(crate) fn into_series(self, grid: &Grid) -> Series {
        Series {
            labels: self.labels,
            samples: self
                .points
                .into_iter()
                .map(|(i, v)| (grid.ts(i), v))
                .collect(),
        }
    }
}

/// The value of a node over the whole grid.
#[derive(Debug)]
pub(crate) enum Val {
    /// One value per step.
    Scalar(Vec<f64>),
    Vector(Vec<StepSeries>),
    /// Raw samples: a range selector or subquery evaluated on its own.
    Matrix(Vec<Series>),
    String(String),
}

impl Val {
    fn points(&self) -> usize {
        match self {
            Val::Scalar(v) => v.len(),
            Val::Vector(s) => s.iter().map(|s| s.points.len()).sum(),
            Val::Matrix(m) => m.iter().map(|s| s.samples.len()).sum(),
            Val::String(_) => 0,
        }
    }

    pub(crate) fn into_vector(self) -> Result<Vec<StepSeries>, QueryError> {
        match self {
            Val::Vector(v) => Ok(v),
            other => Err(QueryError::exec(format!(
                "expected an instant vector, got {}",
                other.kind()
            ))),
        }
    }

    pub(crate) fn into_scalar(self) -> Result<Vec<f64>, QueryError> {
        match self {
            Val::Scalar(v) => Ok(v),
            other => Err(QueryError::exec(format!(
                "expected a scalar, got {}",
                other.kind()
            ))),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Val::Scalar(_) => "a scalar",
            Val::Vector(_) => "an instant vector",
            Val::Matrix(_) => "a range vector",
            Val::String(_) => "a string",
        }
    }
}

/// The samples behind a range-vector argument and how to window them.
pub(crate) struct RangeInput {
    /// Raw samples without staleness markers.
    pub series: Vec<Series>,
    pub range: i64,
    pub offset: i64,
    pub at: Option<i64>,
}

impl RangeInput {
    /// The inclusive window `[lo, hi]` read for the evaluation at `ts`.
    pub(crate) fn bounds(&self, ts: i64) -> (i64, i64) {
        let hi = self.at.unwrap_or(ts) - self.offset;
        (hi - self.range, hi)
    }
}

/// The samples of `samples` with `lo <= t <= hi`.
pub(crate) fn window(samples: &[(i64, f64)], lo: i64, hi: i64) -> &[(i64, f64)] {
    let a = samples.partition_point(|&(t, _)| t < lo);
    let b = samples.partition_point(|&(t, _)| t <= hi).max(a);
    &samples[a..b]
}

/// The sample an instant selector sees at `ref_t`: the latest one at or
/// before it, within the lookback delta, unless that is a staleness marker.
fn lookback(samples: &[(i64, f64)], ref_t: i64, delta: i64) -> Option<(i64, f64)> {
    let idx = samples.partition_point(|&(t, _)| t <= ref_t);
    let (t, v) = *samples.get(idx.checked_sub(1)?)?;
    if t < ref_t - delta || is_stale_marker(v) {
        None
    } else {
        Some((t, v))
    }
}

/// Splits a vector into the samples present at each step, as
/// `(series index, value)` in series order.
pub(crate) fn by_step(series: &[StepSeries], steps: usize) -> Vec<Vec<(usize, f64)>> {
    let mut out = vec![Vec::new(); steps];
    for (si, s) in series.iter().enumerate() {
        for &(step, v) in &s.points {
            out[step].push((si, v));
        }
    }
    out
}

pub(crate) fn duplicate_labelset() -> QueryError {
    QueryError::exec("vector cannot contain metrics with the same labelset")
}

/// Collects the samples an operator produces, step by step, into series. It
/// rejects two samples with the same labels at the same step, as Prometheus
/// does, and keeps series in the order they first appear (which is the
/// result order of an instant query).
#[derive(Default)]
pub(crate) struct Output {
    index: HashMap<Labels, usize>,
    series: Vec<StepSeries>,
}

impl Output {
    pub(crate) fn slot(&mut self, labels: Labels) -> usize {
        if let Some(&i) = self.index.get(&labels) {
            return i;
        }
        let i = self.series.len();
        self.index.insert(labels.clone(), i);
        self.series.push(StepSeries {
            labels,
            points: Vec::new(),
        });
        i
    }

    pub(crate) fn push(&mut self, slot: usize, step: usize, v: f64) -> Result<(), QueryError> {
        let points = &mut self.series[slot].points;
        if points.last().is_some_and(|&(s, _)| s == step) {
            return Err(duplicate_labelset());
        }
        points.push((step, v));
        Ok(())
    }

    pub(crate) fn finish(self) -> Vec<StepSeries> {
        self.series
            .into_iter()
            .filter(|s| !s.points.is_empty())
            .collect()
    }
}

/// Numbers distinct keys (group labels, match signatures) in order of first
/// appearance, so that per-step work indexes vectors instead of hashing.
pub(crate) fn intern<K: std::hash::Hash + Eq>(
    keys: impl IntoIterator<Item = K>,
) -> (Vec<usize>, usize) {
    let mut ids = HashMap::new();
    let out = keys
        .into_iter()
        .map(|k| {
            let next = ids.len();
            *ids.entry(k).or_insert(next)
        })
        .collect();
    (out, ids.len())
}

/// A per-step table indexed by interned key that is cheap to clear: only the
/// entries set during the step are reset.
pub(crate) struct StepTable<T: Clone> {
    entries: Vec<Option<T>>,
    touched: Vec<usize>,
}

impl<T: Clone> StepTable<T> {
    pub(crate) fn new(len: usize) -> Self {
        StepTable {
            entries: vec![None; len],
            touched: Vec::new(),
        }
    }

    pub(crate) fn get(&self, key: usize) -> Option<&T> {
        self.entries[key].as_ref()
    }

    pub(crate) fn insert(&mut self, key: usize, value: T) {
        if self.entries[key].is_none() {
            self.touched.push(key);
        }
        self.entries[key] = Some(value);
    }

    pub(crate) fn clear(&mut self) {
        for k in self.touched.drain(..) {
            self.entries[k] = None;
        }
    }
}

/// Remembers the output slot of each input series, so labels are computed
/// once per series rather than once per sample.
pub(crate) struct SlotCache(Vec<Option<usize>>);

impl SlotCache {
    pub(crate) fn new(len: usize) -> Self {
        SlotCache(vec![None; len])
    }

    pub(crate) fn get(
        &mut self,
        out: &mut Output,
        series: usize,
        labels: impl FnOnce() -> Labels,
    ) -> usize {
        *self.0[series].get_or_insert_with(|| out.slot(labels()))
    }
}

pub(crate) struct Evaluator<'a> {
    storage: &'a dyn Storage,
    lookback: i64,
    max_samples: usize,
    default_subquery_step: i64,
    /// Samples held by evaluated nodes that are still in use.
    current: usize,
}

impl<'a> Evaluator<'a> {
    pub(crate) fn new(engine: &Engine, storage: &'a dyn Storage) -> Self {
        Evaluator {
            storage,
            lookback: engine.lookback_delta,
            max_samples: engine.max_samples,
            default_subquery_step: engine.default_subquery_step,
            current: 0,
        }
    }

    /// Fails when holding `extra` more samples would exceed the limit.
    pub(crate) fn check_samples(&self, extra: usize) -> Result<(), QueryError> {
        if self.current.saturating_add(extra) > self.max_samples {
            Err(QueryError::TooManySamples)
        } else {
            Ok(())
        }
    }

    pub(crate) fn eval(&mut self, node: &Node, grid: &Grid) -> Result<Val, QueryError> {
        let before = self.current;
        let val = self.eval_node(node, grid)?;
        // The children's values are released; this node's value is held.
        self.current = before;
        self.check_samples(val.points())?;
        self.current += val.points();
        Ok(val)
    }

    fn eval_node(&mut self, node: &Node, grid: &Grid) -> Result<Val, QueryError> {
        let steps = grid.len();
        match node {
            Node::Number(v) => Ok(Val::Scalar(vec![*v; steps])),
            Node::Str(s) => Ok(Val::String(s.clone())),
            Node::Selector(sel) => Ok(Val::Vector(self.vector_selector(sel, grid)?)),
            Node::Range(_) => {
                // Only an instant query can return a range vector as such.
                let input = self.range_input(node, grid)?;
                let (lo, hi) = input.bounds(grid.start);
                Ok(Val::Matrix(
                    input
                        .series
                        .into_iter()
                        .filter_map(|s| {
                            let samples = window(&s.samples, lo, hi).to_vec();
                            (!samples.is_empty()).then_some(Series {
                                labels: s.labels,
                                samples,
                            })
                        })
                        .collect(),
                ))
            }
            Node::Subquery(sq) => Ok(Val::Matrix(self.subquery(sq, grid)?)),
            Node::Neg(inner) => match self.eval(inner, grid)? {
                Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|x| -x).collect())),
                Val::Vector(series) => {
                    let mut seen = HashSet::new();
                    let mut out = Vec::with_capacity(series.len());
                    for s in series {
                        let labels = labels::drop_metric_name(&s.labels);
                        if !seen.insert(labels.clone()) {
                            return Err(duplicate_labelset());
                        }
                        out.push(StepSeries {
                            labels,
                            points: s.points.into_iter().map(|(i, v)| (i, -v)).collect(),
                        });
                    }
                    Ok(Val::Vector(out))
                }
                other => Err(QueryError::exec(format!(
                    "unary minus is not defined on {}",
                    other.kind()
                ))),
            },
            Node::Binary(b) => crate::binary::eval(self, b, grid),
            Node::Aggregate(a) => crate::aggregate::eval(self, a, grid),
            Node::Call(c) => crate::functions::eval(self, c, grid),
        }
    }

    fn fetch(&self, matchers: &[Matcher], lo: i64, hi: i64) -> Result<Vec<Series>, QueryError> {
        let mut series = self
            .storage
            .select(matchers, lo, hi)
            .map_err(QueryError::Storage)?;
        for s in &mut series {
            s.labels.retain(|(_, v)| !v.is_empty());
        }
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(series)
    }

    fn vector_selector(
        &mut self,
        sel: &Selector,
        grid: &Grid,
    ) -> Result<Vec<StepSeries>, QueryError> {
        let steps = grid.len();
        if steps == 0 {
            return Ok(Vec::new());
        }
        let (first, last) = match sel.at {
            Some(at) => (at, at),
            None => (grid.start, grid.end),
        };
        let data = self.fetch(
            &sel.matchers,
            first - sel.offset - self.lookback,
            last - sel.offset,
        )?;
        let mut out = Vec::new();
        let mut held = 0usize;
        for s in data {
            let points: Vec<(usize, f64)> = match sel.at {
                Some(at) => match lookback(&s.samples, at - sel.offset, self.lookback) {
                    Some((_, v)) => (0..steps).map(|i| (i, v)).collect(),
                    None => Vec::new(),
                },
                None => (0..steps)
                    .filter_map(|i| {
                        lookback(&s.samples, grid.ts(i) - sel.offset, self.lookback)
                            .map(|(_, v)| (i, v))
                    })
                    .collect(),
            };
            held += points.len();
            self.check_samples(held)?;
            if !points.is_empty() {
                out.push(StepSeries {
                    labels: s.labels,
                    points,
                });
            }
        }
        Ok(out)
    }

    /// `timestamp(selector)`: the timestamps of the samples the selector
    /// sees, rather than the evaluation times.
    pub(crate) fn sample_timestamps(
        &mut self,
        sel: &Selector,
        grid: &Grid,
    ) -> Result<Vec<StepSeries>, QueryError> {
        let steps = grid.len();
        let ref_time = |ts: i64| sel.at.unwrap_or(ts) - sel.offset;
        if steps == 0 {
            return Ok(Vec::new());
        }
        let data = self.fetch(
            &sel.matchers,
            ref_time(grid.start) - self.lookback,
            ref_time(grid.end),
        )?;
        let mut out = Output::default();
        for step in 0..steps {
            for s in &data {
                if let Some((t, _)) = lookback(&s.samples, ref_time(grid.ts(step)), self.lookback) {
                    let slot = out.slot(labels::drop_metric_name(&s.labels));
                    out.push(slot, step, t as f64 / 1000.0)?;
                }
            }
        }
        Ok(out.finish())
    }

    /// The samples a range-vector argument (range selector or subquery)
    /// covers for the whole grid.
    pub(crate) fn range_input(
        &mut self,
        node: &Node,
        grid: &Grid,
    ) -> Result<RangeInput, QueryError> {
        match node {
            Node::Range(rs) => {
                let sel = &rs.sel;
                let (first, last) = match sel.at {
                    Some(at) => (at, at),
                    None => (grid.start, grid.end),
                };
                let mut series = self.fetch(
                    &sel.matchers,
                    first - sel.offset - rs.range,
                    last - sel.offset,
                )?;
                for s in &mut series {
                    s.samples.retain(|&(_, v)| !is_stale_marker(v));
                }
                Ok(RangeInput {
                    series,
                    range: rs.range,
                    offset: sel.offset,
                    at: sel.at,
                })
            }
            Node::Subquery(sq) => Ok(RangeInput {
                series: self.subquery(sq, grid)?,
                range: sq.range,
                offset: sq.offset,
                at: sq.at,
            }),
            _ => Err(QueryError::exec("expected a range vector argument")),
        }
    }

    /// Evaluates a subquery's inner expression on its own grid, aligned to
    /// multiples of its step, and returns the results as raw series.
    fn subquery(&mut self, sq: &Subquery, grid: &Grid) -> Result<Vec<Series>, QueryError> {
        let step = sq.step.unwrap_or(self.default_subquery_step);
        if step <= 0 {
            return Err(QueryError::exec("subquery step must be positive"));
        }
        let (first, last) = match sq.at {
            Some(at) => (at, at),
            None => (grid.start, grid.end),
        };
        let lo = first - sq.offset - sq.range;
        // Go's integer division truncates towards zero, as Rust's does.
        let mut start = step * (lo / step);
        if start < lo {
            start += step;
        }
        let inner = Grid {
            start,
            end: last - sq.offset,
            step,
        };
        let series = self.eval(&sq.expr, &inner)?.into_vector()?;
        Ok(series.into_iter().map(|s| s.into_series(&inner)).collect())
    }
}

/// What the range-vector functions are told about the step they compute.
pub(crate) struct RangeStep<'w> {
    pub samples: &'w [(i64, f64)],
    /// The evaluation time.
    pub ts: i64,
    /// The window's bounds and length.
    pub lo: i64,
    pub hi: i64,
    pub range: i64,
}

/// Evaluates a function whose argument `matrix_arg` is a range vector, one
/// series at a time, like Prometheus' engine. `scalars[i]` holds the values
/// of argument `i` when it is a scalar.
pub(crate) fn eval_range_function(
    ev: &mut Evaluator<'_>,
    func: Func,
    input: RangeInput,
    scalars: &[Option<Vec<f64>>],
    grid: &Grid,
    absent_labels: &Labels,
) -> Result<Vec<StepSeries>, QueryError> {
    let steps = grid.len();
    let mut out = Vec::new();
    let mut held = 0usize;
    let mut args = Vec::with_capacity(scalars.len());
    for s in &input.series {
        let mut points = Vec::new();
        for step in 0..steps {
            let ts = grid.ts(step);
            let (lo, hi) = input.bounds(ts);
            let samples = window(&s.samples, lo, hi);
            if samples.is_empty() {
                continue;
            }
            ev.check_samples(held + samples.len())?;
            args.clear();
            args.extend(scalars.iter().flatten().map(|v| v[step]));
            let rs = RangeStep {
                samples,
                ts,
                lo,
                hi,
                range: input.range,
            };
            if let Some(v) = crate::functions::range_function(func, &rs, &args)? {
                points.push((step, v));
            }
        }
        held += points.len();
        if !points.is_empty() {
            let labels = if func == Func::LastOverTime {
                s.labels.clone()
            } else {
                labels::drop_metric_name(&s.labels)
            };
            out.push(StepSeries { labels, points });
        }
    }
    if func == Func::AbsentOverTime {
        // Each series reported the steps it has samples at; the result is 1
        // at every step where none did.
        let mut present = vec![false; steps];
        for s in &out {
            for &(step, _) in &s.points {
                present[step] = true;
            }
        }
        let points: Vec<(usize, f64)> = (0..steps)
            .filter(|&i| !present[i])
            .map(|i| (i, 1.0))
            .collect();
        return Ok(if points.is_empty() {
            Vec::new()
        } else {
            vec![StepSeries {
                labels: absent_labels.clone(),
                points,
            }]
        });
    }
    let mut seen = HashSet::with_capacity(out.len());
    if !out.iter().all(|s| seen.insert(&s.labels)) {
        return Err(duplicate_labelset());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookback_includes_its_lower_edge_and_stops_at_stale_markers() {
        let samples = [(0, 1.0), (10, crate::stale_marker()), (20, 3.0)];
        assert_eq!(lookback(&samples, 5, 5), Some((0, 1.0)));
        assert_eq!(lookback(&samples, 6, 5), None);
        assert_eq!(lookback(&samples, 15, 100), None);
        assert_eq!(lookback(&samples, 20, 0), Some((20, 3.0)));
        assert_eq!(lookback(&samples, -1, 100), None);
    }

    #[test]
    fn windows_are_closed_on_both_ends() {
        let samples = [(0, 1.0), (10, 2.0), (20, 3.0)];
        assert_eq!(window(&samples, 0, 10), &samples[..2]);
        assert_eq!(window(&samples, 1, 19), &samples[1..2]);
        assert!(window(&samples, 21, 30).is_empty());
    }

    #[test]
    fn grid_counts_inclusive_steps() {
        let g = Grid {
            start: 0,
            end: 10,
            step: 5,
        };
        assert_eq!(g.len(), 3);
        assert_eq!(g.ts(2), 10);
        let empty = Grid {
            start: 10,
            end: 0,
            step: 5,
        };
        assert_eq!(empty.len(), 0);
    }
}
