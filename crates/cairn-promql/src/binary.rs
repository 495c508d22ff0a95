//! Binary operators: arithmetic, comparisons (with and without `bool`), set
//! operators and vector matching, following Prometheus 2.42's
//! `VectorBinop`, `VectorscalarBinop`, `VectorAnd/Or/Unless` and
//! `resultMetric`.

use std::collections::HashMap;

use crate::eval::{
    by_step, intern, Evaluator, Grid, Output, SlotCache, StepSeries, StepTable, Val,
};
use crate::labels::{self, METRIC_NAME};
use crate::plan::{BinOp, Binary, Card, Matching};
use crate::{Labels, QueryError};

pub(crate) fn eval(ev: &mut Evaluator<'_>, b: &Binary, grid: &Grid) -> Result<Val, QueryError> {
    let lhs = ev.eval(&b.lhs, grid)?;
    let rhs = ev.eval(&b.rhs, grid)?;
    let steps = grid.len();
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
            l.into_iter()
                .zip(r)
                .map(|(l, r)| scalar_binop(b.op, l, r))
                .collect(),
        )),
        (Val::Vector(v), Val::Scalar(s)) => {
            vector_scalar(b.op, &v, &s, false, b.return_bool, steps).map(Val::Vector)
        }
        (Val::Scalar(s), Val::Vector(v)) => {
            vector_scalar(b.op, &v, &s, true, b.return_bool, steps).map(Val::Vector)
        }
        (Val::Vector(l), Val::Vector(r)) => match b.op {
            BinOp::And | BinOp::Or | BinOp::Unless => {
                set_op(b.op, &b.matching, &l, &r, steps).map(Val::Vector)
            }
            _ => vector_binop(b.op, &b.matching, b.return_bool, &l, &r, steps).map(Val::Vector),
        },
        _ => Err(QueryError::exec(
            "binary expression must contain only scalar and instant vector types",
        )),
    }
}

fn btos(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

fn scalar_binop(op: BinOp, l: f64, r: f64) -> f64 {
    match op {
        BinOp::Eql => btos(l == r),
        BinOp::Neq => btos(l != r),
        BinOp::Gtr => btos(l > r),
        BinOp::Lss => btos(l < r),
        BinOp::Gte => btos(l >= r),
        BinOp::Lte => btos(l <= r),
        _ => elem_binop(op, l, r).0,
    }
}

/// The value of `l op r` and whether a comparison holds (always true for
/// arithmetic). A comparison's value is its left operand.
fn elem_binop(op: BinOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinOp::Add => (l + r, true),
        BinOp::Sub => (l - r, true),
        BinOp::Mul => (l * r, true),
        BinOp::Div => (l / r, true),
        // Rust's `%` on floats is C's fmod, the same as Go's math.Mod.
        BinOp::Mod => (l % r, true),
        BinOp::Pow => (l.powf(r), true),
        BinOp::Atan2 => (l.atan2(r), true),
        BinOp::Eql => (l, l == r),
        BinOp::Neq => (l, l != r),
        BinOp::Gtr => (l, l > r),
        BinOp::Lss => (l, l < r),
        BinOp::Gte => (l, l >= r),
        BinOp::Lte => (l, l <= r),
        BinOp::And | BinOp::Or | BinOp::Unless => (f64::NAN, false),
    }
}

fn vector_scalar(
    op: BinOp,
    vector: &[StepSeries],
    scalar: &[f64],
    scalar_on_left: bool,
    return_bool: bool,
    steps: usize,
) -> Result<Vec<StepSeries>, QueryError> {
    let mut out = Output::default();
    let mut slots = SlotCache::new(vector.len());
    let drop_name = op.drops_metric_name() || return_bool;
    for (step, samples) in by_step(vector, steps).into_iter().enumerate() {
        let s = scalar[step];
        for (si, v) in samples {
            let (l, r) = if scalar_on_left { (s, v) } else { (v, s) };
            let (mut value, mut keep) = elem_binop(op, l, r);
            // A comparison keeps the vector's value even when the scalar is
            // on the left.
            if op.is_comparison() && scalar_on_left {
                value = v;
            }
            if return_bool {
                value = btos(keep);
                keep = true;
            }
            if !keep {
                continue;
            }
            let slot = slots.get(&mut out, si, || {
                if drop_name {
                    labels::drop_metric_name(&vector[si].labels)
                } else {
                    vector[si].labels.clone()
                }
            });
            out.push(slot, step, value)?;
        }
    }
    Ok(out.finish())
}

/// Interned match signatures of both sides: `(lhs ids, rhs ids, count)`.
fn signatures(
    lhs: &[StepSeries],
    rhs: &[StepSeries],
    m: &Matching,
) -> (Vec<usize>, Vec<usize>, usize) {
    let (mut ids, count) = intern(
        lhs.iter()
            .chain(rhs)
            .map(|s| labels::signature(&s.labels, m.on, &m.labels)),
    );
    let rhs_ids = ids.split_off(lhs.len());
    (ids, rhs_ids, count)
}

fn set_op(
    op: BinOp,
    m: &Matching,
    lhs: &[StepSeries],
    rhs: &[StepSeries],
    steps: usize,
) -> Result<Vec<StepSeries>, QueryError> {
    let (lsig, rsig, count) = signatures(lhs, rhs, m);
    let lsteps = by_step(lhs, steps);
    let rsteps = by_step(rhs, steps);
    let mut out = Output::default();
    let mut lslots = SlotCache::new(lhs.len());
    let mut rslots = SlotCache::new(rhs.len());
    let mut seen: StepTable<()> = StepTable::new(count);
    for step in 0..steps {
        let (l, r) = (&lsteps[step], &rsteps[step]);
        seen.clear();
        let mut emit_left = |out: &mut Output, si: usize, v: f64| {
            let slot = lslots.get(out, si, || lhs[si].labels.clone());
            out.push(slot, step, v)
        };
        match op {
            BinOp::And | BinOp::Unless => {
                if op == BinOp::And && (l.is_empty() || r.is_empty()) {
                    continue;
                }
                for &(ri, _) in r {
                    seen.insert(rsig[ri], ());
                }
                for &(li, v) in l {
                    if seen.get(lsig[li]).is_some() == (op == BinOp::And) {
                        emit_left(&mut out, li, v)?;
                    }
                }
            }
            _ => {
                for &(li, v) in l {
                    seen.insert(lsig[li], ());
                    emit_left(&mut out, li, v)?;
                }
                for &(ri, v) in r {
                    if seen.get(rsig[ri]).is_none() {
                        let slot = rslots.get(&mut out, ri, || rhs[ri].labels.clone());
                        out.push(slot, step, v)?;
                    }
                }
            }
        }
    }
    Ok(out.finish())
}

fn vector_binop(
    op: BinOp,
    m: &Matching,
    return_bool: bool,
    lhs: &[StepSeries],
    rhs: &[StepSeries],
    steps: usize,
) -> Result<Vec<StepSeries>, QueryError> {
    // One-to-many is many-to-one with the sides swapped; values are swapped
    // back when computing.
    let swapped = m.card == Card::OneToMany;
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let (many_sig, one_sig, count) = signatures(many, one, m);
    let many_steps = by_step(many, steps);
    let one_steps = by_step(one, steps);
    let mut out = Output::default();
    let mut result_slots: HashMap<(usize, usize), usize> = HashMap::new();
    let mut last_pair: Vec<Option<(usize, usize)>> = vec![None; many.len()];
    let mut one_side: StepTable<(usize, f64)> = StepTable::new(count);
    // One-to-one: the match groups that produced a result at this step.
    let mut matched: StepTable<()> = StepTable::new(count);
    // Many-to-one: the match group each result series came from.
    let mut slot_group: HashMap<usize, usize> = HashMap::new();
    for step in 0..steps {
        let (ms, os) = (&many_steps[step], &one_steps[step]);
        if ms.is_empty() || os.is_empty() {
            continue;
        }
        one_side.clear();
        matched.clear();
        slot_group.clear();
        for &(oi, v) in os {
            let sig = one_sig[oi];
            if let Some(&(dup, _)) = one_side.get(sig) {
                return Err(duplicate_match(
                    m,
                    swapped,
                    &one[oi].labels,
                    &one[dup].labels,
                ));
            }
            one_side.insert(sig, (oi, v));
        }
        for &(mi, mv) in ms {
            let sig = many_sig[mi];
            let Some(&(oi, ov)) = one_side.get(sig) else {
                continue;
            };
            let (l, r) = if swapped { (ov, mv) } else { (mv, ov) };
            let (mut value, keep) = elem_binop(op, l, r);
            if return_bool {
                value = btos(keep);
            } else if !keep {
                continue;
            }
            // A series usually meets the same partner at every step.
            let slot = match last_pair[mi] {
                Some((partner, slot)) if partner == oi => slot,
                _ => {
                    let slot = *result_slots.entry((mi, oi)).or_insert_with(|| {
                        let mut metric = result_metric(&many[mi].labels, &one[oi].labels, op, m);
                        if return_bool {
                            labels::del(&mut metric, METRIC_NAME);
                        }
                        out.slot(metric)
                    });
                    last_pair[mi] = Some((oi, slot));
                    slot
                }
            };
            if m.card == Card::OneToOne {
                if matched.get(sig).is_some() {
                    return Err(QueryError::exec(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                    ));
                }
                matched.insert(sig, ());
            } else if let Some(&group) = slot_group.get(&slot) {
                // The same result twice from one group; from two groups it
                // is a duplicate label set, which `push` reports.
                if group == sig {
                    return Err(QueryError::exec(
                        "multiple matches for labels: grouping labels must ensure unique matches",
                    ));
                }
            } else {
                slot_group.insert(slot, sig);
            }
            out.push(slot, step, value)?;
        }
    }
    Ok(out.finish())
}

/// Prometheus' error for two series on the "one" side of a match.
fn duplicate_match(m: &Matching, swapped: bool, series: &Labels, other: &Labels) -> QueryError {
    let matched = if m.on {
        labels::keep(series, &m.labels)
    } else {
        labels::without(series, &m.labels)
    };
    QueryError::exec(format!(
        "found duplicate series for the match group {} on the {} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
        labels::format(&matched),
        if swapped { "left" } else { "right" },
        labels::format(series),
        labels::format(other),
    ))
}

/// The labels of a vector-vector result: the "many" side's labels, without
/// the metric name for arithmetic, reduced to the `on` labels (or without the
/// `ignoring` ones) for one-to-one matching, plus `group_x` extras copied
/// from the "one" side.
fn result_metric(many: &Labels, one: &Labels, op: BinOp, m: &Matching) -> Labels {
    let mut metric = many.clone();
    if op.drops_metric_name() {
        labels::del(&mut metric, METRIC_NAME);
    }
    if m.card == Card::OneToOne {
        if m.on {
            metric = labels::keep(&metric, &m.labels);
        } else {
            for name in &m.labels {
                labels::del(&mut metric, name);
            }
        }
    }
    for name in &m.include {
        let v = labels::value_of(one, name).to_string();
        labels::set(&mut metric, name, &v);
    }
    metric
}
