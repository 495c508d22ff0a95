//! Aggregation operators (`sum`, `topk`, `count_values`, ...) with `by` and
//! `without`, following Prometheus 2.42's `aggregation()`, including its
//! floating-point formulas and the heap it uses for `topk`/`bottomk` (which
//! decides which of several equal values are kept).

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::eval::{by_step, intern, Evaluator, Grid, Output, StepTable, Val};
use crate::labels;
use crate::plan::{AggOp, Aggregate, Node};
use crate::{Labels, QueryError};

/// The largest float that converts to an int64 without overflow, as in Go.
const MAX_INT64: f64 = 9_223_372_036_854_774_784.0;
const MIN_INT64: f64 = -9_223_372_036_854_775_808.0;

enum Param {
    None,
    Scalar(Vec<f64>),
    Label(String),
}

pub(crate) fn eval(ev: &mut Evaluator<'_>, a: &Aggregate, grid: &Grid) -> Result<Val, QueryError> {
    let param = match &a.param {
        None => Param::None,
        Some(Node::Str(s)) => Param::Label(s.clone()),
        Some(p) => match ev.eval(p, grid)? {
            Val::Scalar(v) => Param::Scalar(v),
            Val::String(s) => Param::Label(s),
            _ => {
                return Err(QueryError::exec(
                    "aggregation parameter must be a scalar or a string",
                ))
            }
        },
    };
    let input = ev.eval(&a.expr, grid)?.into_vector()?;
    let steps = grid.len();

    let mut grouping = a.grouping.clone();
    let value_label = match (&param, a.op) {
        (Param::Label(l), AggOp::CountValues) => {
            if !labels::is_valid_label_name(l) {
                return Err(QueryError::exec(format!("invalid label name {l:?}")));
            }
            if !a.without {
                grouping.push(l.clone());
                grouping.sort();
                grouping.dedup();
            }
            Some(l.clone())
        }
        _ => None,
    };
    let group_labels = |metric: &Labels| {
        if a.without {
            labels::without(metric, &grouping)
        } else {
            labels::keep(metric, &grouping)
        }
    };
    // Except for count_values, whose groups depend on the value, each input
    // series always falls into the same group: number the groups once.
    let (series_group, group_count) = if value_label.is_none() {
        intern(input.iter().map(|s| group_labels(&s.labels)))
    } else {
        (Vec::new(), 0)
    };

    let mut out = Output::default();
    let mut step_groups: StepTable<usize> = StepTable::new(group_count);
    for (step, samples) in by_step(&input, steps).into_iter().enumerate() {
        if samples.is_empty() {
            continue;
        }
        let scalar_param = match &param {
            Param::Scalar(v) => v[step],
            _ => 0.0,
        };
        let k = match a.op {
            AggOp::Topk | AggOp::Bottomk => {
                if !(MIN_INT64..=MAX_INT64).contains(&scalar_param) {
                    return Err(QueryError::exec(format!(
                        "Scalar value {} overflows int64",
                        go_float(scalar_param)
                    )));
                }
                let k = scalar_param as i64;
                if k < 1 {
                    continue;
                }
                usize::try_from(k).unwrap_or(usize::MAX)
            }
            _ => 0,
        };

        let mut groups: Vec<Group> = Vec::new();
        step_groups.clear();
        let mut by_labels: HashMap<Labels, usize> = HashMap::new();
        for (si, v) in samples {
            let existing = match &value_label {
                Some(l) => {
                    let mut metric = input[si].labels.clone();
                    labels::set(&mut metric, l, &labels::format_float(v));
                    let key = group_labels(&metric);
                    match by_labels.get(&key) {
                        Some(&g) => Some(g),
                        None => {
                            by_labels.insert(key.clone(), groups.len());
                            groups.push(Group::new(a.op, key, si, v));
                            None
                        }
                    }
                }
                None => {
                    let id = series_group[si];
                    match step_groups.get(id) {
                        Some(&g) => Some(g),
                        None => {
                            step_groups.insert(id, groups.len());
                            groups.push(Group::new(a.op, group_labels(&input[si].labels), si, v));
                            None
                        }
                    }
                }
            };
            if let Some(g) = existing {
                groups[g].add(a.op, k, si, v);
            }
        }

        for g in groups {
            match a.op {
                AggOp::Topk | AggOp::Bottomk => {
                    let mut heap = g.heap;
                    // Non-NaN values first, best first; NaN last.
                    let descending = a.op == AggOp::Topk;
                    heap.sort_by(|x, y| rank_order(x.0, y.0, descending));
                    for (v, si) in heap {
                        let slot = out.slot(input[si].labels.clone());
                        out.push(slot, step, v)?;
                    }
                }
                _ => {
                    let slot = out.slot(g.labels.clone());
                    let value = g.result(a.op, scalar_param);
                    out.push(slot, step, value)?;
                }
            }
        }
    }
    Ok(Val::Vector(out.finish()))
}

/// Go's `%v` for a float, used in Prometheus' error messages.
fn go_float(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if v.abs() >= 1e21 || (v != 0.0 && v.abs() < 1e-4) {
        format!("{v:e}").replace("e", "e+").replace("e+-", "e-")
    } else {
        format!("{v}")
    }
}

/// Orders `topk` (descending) or `bottomk` (ascending) output with NaN last.
fn rank_order(x: f64, y: f64, descending: bool) -> Ordering {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => {
            let o = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
            if descending {
                o.reverse()
            } else {
                o
            }
        }
    }
}

struct Group {
    labels: Labels,
    value: f64,
    mean: f64,
    count: usize,
    /// `(value, input series)` for topk, bottomk and quantile.
    heap: Vec<(f64, usize)>,
}

impl Group {
    fn new(op: AggOp, labels: Labels, si: usize, v: f64) -> Self {
        let value = match op {
            AggOp::Stddev | AggOp::Stdvar => 0.0,
            AggOp::Group => 1.0,
            _ => v,
        };
        let heap = match op {
            AggOp::Topk | AggOp::Bottomk | AggOp::Quantile => vec![(v, si)],
            _ => Vec::new(),
        };
        Group {
            labels,
            value,
            mean: v,
            count: 1,
            heap,
        }
    }

    fn add(&mut self, op: AggOp, k: usize, si: usize, v: f64) {
        match op {
            AggOp::Sum => self.value += v,
            AggOp::Avg => {
                self.count += 1;
                if self.mean.is_infinite() {
                    if v.is_infinite() && (self.mean > 0.0) == (v > 0.0) {
                        return;
                    }
                    if !v.is_infinite() && !v.is_nan() {
                        return;
                    }
                }
                let n = self.count as f64;
                self.mean += v / n - self.mean / n;
            }
            AggOp::Group => {}
            AggOp::Max => {
                if self.value < v || self.value.is_nan() {
                    self.value = v;
                }
            }
            AggOp::Min => {
                if self.value > v || self.value.is_nan() {
                    self.value = v;
                }
            }
            AggOp::Count | AggOp::CountValues => self.count += 1,
            AggOp::Stddev | AggOp::Stdvar => {
                self.count += 1;
                let delta = v - self.mean;
                self.mean += delta / self.count as f64;
                self.value += delta * (v - self.mean);
            }
            AggOp::Topk => push_bounded(&mut self.heap, k, (v, si), topk_less),
            AggOp::Bottomk => push_bounded(&mut self.heap, k, (v, si), bottomk_less),
            AggOp::Quantile => self.heap.push((v, si)),
        }
    }

    fn result(self, op: AggOp, q: f64) -> f64 {
        match op {
            AggOp::Avg => self.mean,
            AggOp::Count | AggOp::CountValues => self.count as f64,
            AggOp::Stdvar => self.value / self.count as f64,
            AggOp::Stddev => (self.value / self.count as f64).sqrt(),
            AggOp::Quantile => {
                let mut values: Vec<f64> = self.heap.iter().map(|&(v, _)| v).collect();
                quantile(q, &mut values)
            }
            _ => self.value,
        }
    }
}

/// `vectorByValueHeap.Less`: NaN is smaller than everything.
fn topk_less(a: f64, b: f64) -> bool {
    a.is_nan() || a < b
}

/// `vectorByReverseValueHeap.Less`.
fn bottomk_less(a: f64, b: f64) -> bool {
    a.is_nan() || a > b
}

/// Prometheus' topk/bottomk step: replace the heap's root when the new value
/// beats it, using Go's `container/heap` so ties resolve identically.
fn push_bounded(
    heap: &mut Vec<(f64, usize)>,
    k: usize,
    item: (f64, usize),
    less: fn(f64, f64) -> bool,
) {
    let root = heap[0].0;
    if heap.len() < k || less(root, item.0) || root.is_nan() {
        if heap.len() == k {
            if k == 1 {
                heap[0] = item;
                return;
            }
            heap_pop(heap, less);
        }
        heap.push(item);
        let last = heap.len() - 1;
        heap_up(heap, last, less);
    }
}

fn heap_up(h: &mut [(f64, usize)], mut j: usize, less: fn(f64, f64) -> bool) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !less(h[j].0, h[i].0) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

fn heap_down(h: &mut [(f64, usize)], i0: usize, n: usize, less: fn(f64, f64) -> bool) {
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        let j2 = j1 + 1;
        if j2 < n && less(h[j2].0, h[j1].0) {
            j = j2;
        }
        if !less(h[j].0, h[i].0) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
}

fn heap_pop(h: &mut Vec<(f64, usize)>, less: fn(f64, f64) -> bool) {
    let n = h.len() - 1;
    h.swap(0, n);
    heap_down(h, 0, n, less);
    h.pop();
}

/// Prometheus' `quantile`: linear interpolation between the closest ranks,
/// with NaN sorted first.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_between_ranks() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(0.0, &mut v), 1.0);
        assert_eq!(quantile(1.5, &mut v), f64::INFINITY);
        assert!(quantile(0.5, &mut []).is_nan());
    }

    #[test]
    fn bounded_heap_keeps_the_k_largest() {
        let mut heap = vec![(1.0, 0)];
        for (i, v) in [5.0, 3.0, 4.0, 2.0].into_iter().enumerate() {
            push_bounded(&mut heap, 2, (v, i + 1), topk_less);
        }
        let mut values: Vec<f64> = heap.iter().map(|x| x.0).collect();
        values.sort_by(|a, b| b.partial_cmp(a).unwrap());
        assert_eq!(values, vec![5.0, 4.0]);
    }

    #[test]
    fn go_float_formats_like_percent_v() {
        assert_eq!(go_float(1e300), "1e+300");
        assert_eq!(go_float(12.5), "12.5");
    }
}
