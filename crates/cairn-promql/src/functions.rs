//! PromQL functions, following Prometheus 2.42's `functions.go` formula for
//! formula: extrapolation in `rate`/`increase`/`delta`, Kahan summation in
//! the `*_over_time` family, the regression behind `deriv` and
//! `predict_linear`, and the bucket handling of `histogram_quantile`.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::aggregate::quantile;
use crate::eval::{
    by_step, eval_range_function, Evaluator, Grid, Output, RangeStep, SlotCache, StepSeries, Val,
};
use crate::labels::{self, METRIC_NAME};
use crate::plan::{Call, Func, Node, ValueType};
use crate::{Labels, QueryError};

pub(crate) fn eval(ev: &mut Evaluator<'_>, call: &Call, grid: &Grid) -> Result<Val, QueryError> {
    let func = call.func;
    let steps = grid.len();

    // On a plain selector, timestamp() reports the samples' own times.
    if let (Func::Timestamp, Some(Node::Selector(sel))) = (func, call.args.first()) {
        return Ok(Val::Vector(ev.sample_timestamps(sel, grid)?));
    }

    if let Some(mi) = call
        .args
        .iter()
        .position(|a| a.value_type() == ValueType::Matrix)
    {
        let mut scalars = Vec::with_capacity(call.args.len());
        for (i, arg) in call.args.iter().enumerate() {
            scalars.push(if i == mi {
                None
            } else {
                Some(ev.eval(arg, grid)?.into_scalar()?)
            });
        }
        let absent_labels = match &call.args[mi] {
            Node::Range(rs) => rs.sel.absent_labels.clone(),
            _ => Labels::new(),
        };
        let input = ev.range_input(&call.args[mi], grid)?;
        return eval_range_function(ev, func, input, &scalars, grid, &absent_labels)
            .map(Val::Vector);
    }

    let mut args = Vec::with_capacity(call.args.len());
    for arg in &call.args {
        args.push(Some(ev.eval(arg, grid)?));
    }
    let mut args = Args(args);

    Ok(match func {
        Func::Time => Val::Scalar((0..steps).map(|i| grid.ts(i) as f64 / 1000.0).collect()),
        Func::Pi => Val::Scalar(vec![std::f64::consts::PI; steps]),
        Func::Vector => {
            let values = args.scalar(0)?;
            Val::Vector(vec![StepSeries {
                labels: Labels::new(),
                points: values.into_iter().enumerate().collect(),
            }])
        }
        Func::Scalar => {
            let input = args.vector(0)?;
            let per_step = by_step(&input, steps);
            Val::Scalar(
                per_step
                    .iter()
                    .map(|s| if s.len() == 1 { s[0].1 } else { f64::NAN })
                    .collect(),
            )
        }
        Func::Absent => {
            let input = args.vector(0)?;
            let labels = match &call.args[0] {
                Node::Selector(sel) => sel.absent_labels.clone(),
                _ => Labels::new(),
            };
            let per_step = by_step(&input, steps);
            let points: Vec<(usize, f64)> = (0..steps)
                .filter(|&i| per_step[i].is_empty())
                .map(|i| (i, 1.0))
                .collect();
            Val::Vector(if points.is_empty() {
                Vec::new()
            } else {
                vec![StepSeries { labels, points }]
            })
        }
        Func::Timestamp => {
            let input = args.vector(0)?;
            Val::Vector(map_vector(&input, steps, true, |step, _| {
                Some(grid.ts(step) as f64 / 1000.0)
            })?)
        }
        Func::Round => {
            let input = args.vector(0)?;
            let to_nearest = match call.args.len() {
                1 => vec![1.0; steps],
                _ => args.scalar(1)?,
            };
            Val::Vector(map_vector(&input, steps, true, |step, v| {
                // Inverting first is what Prometheus does, for accuracy.
                let inverse = 1.0 / to_nearest[step];
                Some((v * inverse + 0.5).floor() / inverse)
            })?)
        }
        Func::Clamp => {
            let input = args.vector(0)?;
            let (min, max) = (args.scalar(1)?, args.scalar(2)?);
            Val::Vector(map_vector(&input, steps, true, |step, v| {
                let (lo, hi) = (min[step], max[step]);
                (hi >= lo || lo.is_nan() || hi.is_nan()).then(|| go_max(lo, go_min(hi, v)))
            })?)
        }
        Func::ClampMax => {
            let input = args.vector(0)?;
            let max = args.scalar(1)?;
            Val::Vector(map_vector(&input, steps, true, |step, v| {
                Some(go_min(max[step], v))
            })?)
        }
        Func::ClampMin => {
            let input = args.vector(0)?;
            let min = args.scalar(1)?;
            Val::Vector(map_vector(&input, steps, true, |step, v| {
                Some(go_max(min[step], v))
            })?)
        }
        Func::DaysInMonth
        | Func::DayOfMonth
        | Func::DayOfWeek
        | Func::DayOfYear
        | Func::Hour
        | Func::Minute
        | Func::Month
        | Func::Year => {
            if call.args.is_empty() {
                Val::Vector(vec![StepSeries {
                    labels: Labels::new(),
                    points: (0..steps)
                        // Go's integer division truncates towards zero.
                        .map(|i| (i, date_part(func, grid.ts(i) / 1000)))
                        .collect(),
                }])
            } else {
                let input = args.vector(0)?;
                Val::Vector(map_vector(&input, steps, true, |_, v| {
                    Some(date_part(func, go_int64(v)))
                })?)
            }
        }
        Func::Sort | Func::SortDesc => {
            let input = args.vector(0)?;
            let mut out = Output::default();
            for (step, mut samples) in by_step(&input, steps).into_iter().enumerate() {
                samples.sort_by(|a, b| sort_order(a.1, b.1, func == Func::SortDesc));
                for (si, v) in samples {
                    let slot = out.slot(input[si].labels.clone());
                    out.push(slot, step, v)?;
                }
            }
            Val::Vector(out.finish())
        }
        Func::LabelReplace => {
            let input = args.vector(0)?;
            let (dst, repl, src, re) = (
                args.string(1)?,
                args.string(2)?,
                args.string(3)?,
                args.string(4)?,
            );
            let regex = labels::anchored_regex(&re).map_err(|_| {
                QueryError::exec(format!(
                    "invalid regular expression in label_replace(): {re}"
                ))
            })?;
            if !labels::is_valid_label_name(&dst) {
                return Err(QueryError::exec(format!(
                    "invalid destination label name in label_replace(): {dst}"
                )));
            }
            Val::Vector(relabel(&input, steps, |metric| {
                let Some(caps) = regex.captures(labels::value_of(metric, &src)) else {
                    return metric.clone();
                };
                let mut value = String::new();
                caps.expand(&repl, &mut value);
                let mut out = metric.clone();
                labels::set(&mut out, &dst, &value);
                out
            })?)
        }
        Func::LabelJoin => {
            let input = args.vector(0)?;
            let (dst, sep) = (args.string(1)?, args.string(2)?);
            let mut sources = Vec::new();
            for i in 3..call.args.len() {
                let src = args.string(i)?;
                if !labels::is_valid_label_name(&src) {
                    return Err(QueryError::exec(format!(
                        "invalid source label name in label_join(): {src}"
                    )));
                }
                sources.push(src);
            }
            if !labels::is_valid_label_name(&dst) {
                return Err(QueryError::exec(format!(
                    "invalid destination label name in label_join(): {dst}"
                )));
            }
            Val::Vector(relabel(&input, steps, |metric| {
                let joined: Vec<&str> = sources
                    .iter()
                    .map(|s| labels::value_of(metric, s))
                    .collect();
                let mut out = metric.clone();
                labels::set(&mut out, &dst, &joined.join(&sep));
                out
            })?)
        }
        Func::HistogramQuantile => {
            let q = args.scalar(0)?;
            let input = args.vector(1)?;
            Val::Vector(histogram_quantile(&q, &input, steps)?)
        }
        // These read native histograms only, which this engine's storage
        // does not hold; like Prometheus on float samples, they return
        // nothing.
        Func::HistogramCount | Func::HistogramSum | Func::HistogramFraction => {
            Val::Vector(Vec::new())
        }
        _ => match simple_function(func) {
            Some(f) => {
                let input = args.vector(0)?;
                Val::Vector(map_vector(&input, steps, true, |_, v| Some(f(v)))?)
            }
            None => {
                return Err(QueryError::exec(format!(
                    "function \"{}\" expects a range vector argument",
                    func.name()
                )))
            }
        },
    })
}

/// Evaluated arguments of an instant-vector function, taken by position.
struct Args(Vec<Option<Val>>);

impl Args {
    fn take(&mut self, i: usize) -> Result<Val, QueryError> {
        self.0
            .get_mut(i)
            .and_then(Option::take)
            .ok_or_else(|| QueryError::exec(format!("missing function argument {}", i + 1)))
    }

    fn vector(&mut self, i: usize) -> Result<Vec<StepSeries>, QueryError> {
        self.take(i)?.into_vector()
    }

    fn scalar(&mut self, i: usize) -> Result<Vec<f64>, QueryError> {
        self.take(i)?.into_scalar()
    }

    fn string(&mut self, i: usize) -> Result<String, QueryError> {
        match self.take(i)? {
            Val::String(s) => Ok(s),
            _ => Err(QueryError::exec(format!(
                "expected a string as function argument {}",
                i + 1
            ))),
        }
    }
}

fn simple_function(func: Func) -> Option<fn(f64) -> f64> {
    Some(match func {
        Func::Abs => f64::abs,
        Func::Ceil => f64::ceil,
        Func::Floor => f64::floor,
        Func::Exp => f64::exp,
        Func::Sqrt => f64::sqrt,
        Func::Ln => f64::ln,
        Func::Log2 => f64::log2,
        Func::Log10 => f64::log10,
        Func::Sin => f64::sin,
        Func::Cos => f64::cos,
        Func::Tan => f64::tan,
        Func::Asin => f64::asin,
        Func::Acos => f64::acos,
        Func::Atan => f64::atan,
        Func::Sinh => f64::sinh,
        Func::Cosh => f64::cosh,
        Func::Tanh => f64::tanh,
        Func::Asinh => f64::asinh,
        Func::Acosh => f64::acosh,
        Func::Atanh => f64::atanh,
        Func::Deg => |v| v * 180.0 / std::f64::consts::PI,
        Func::Rad => |v| v * std::f64::consts::PI / 180.0,
        Func::Sgn => |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

/// Applies `f` to every sample, dropping the metric name if asked.
fn map_vector(
    input: &[StepSeries],
    steps: usize,
    drop_name: bool,
    mut f: impl FnMut(usize, f64) -> Option<f64>,
) -> Result<Vec<StepSeries>, QueryError> {
    let mut out = Output::default();
    let mut slots = SlotCache::new(input.len());
    for (step, samples) in by_step(input, steps).into_iter().enumerate() {
        for (si, v) in samples {
            let Some(r) = f(step, v) else { continue };
            let slot = slots.get(&mut out, si, || {
                if drop_name {
                    labels::drop_metric_name(&input[si].labels)
                } else {
                    input[si].labels.clone()
                }
            });
            out.push(slot, step, r)?;
        }
    }
    Ok(out.finish())
}

/// Rewrites each series' labels (computed once per series), keeping values.
fn relabel(
    input: &[StepSeries],
    steps: usize,
    mut f: impl FnMut(&Labels) -> Labels,
) -> Result<Vec<StepSeries>, QueryError> {
    let new_labels: Vec<Labels> = input.iter().map(|s| f(&s.labels)).collect();
    let mut out = Output::default();
    let mut slots = SlotCache::new(input.len());
    for (step, samples) in by_step(input, steps).into_iter().enumerate() {
        for (si, v) in samples {
            let slot = slots.get(&mut out, si, || new_labels[si].clone());
            out.push(slot, step, v)?;
        }
    }
    Ok(out.finish())
}

/// `sort` is ascending, `sort_desc` descending; NaN sorts last in both.
fn sort_order(a: f64, b: f64, descending: bool) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => {
            let o = a.partial_cmp(&b).unwrap_or(Ordering::Equal);
            if descending {
                o.reverse()
            } else {
                o
            }
        }
    }
}

/// Go's `math.Max`: +Inf wins over NaN, otherwise NaN wins.
fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        f64::INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() {
            y
        } else {
            x
        }
    } else if x > y {
        x
    } else {
        y
    }
}

/// Go's `math.Min`: -Inf wins over NaN, otherwise NaN wins.
fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() {
            x
        } else {
            y
        }
    } else if x < y {
        x
    } else {
        y
    }
}

/// Go's `int64(f)` on amd64: truncation, with NaN and out-of-range values
/// becoming the minimum int64.
fn go_int64(v: f64) -> i64 {
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// The civil date of a day count since 1970-01-01 (Howard Hinnant's
/// algorithm): `(year, month 1-12, day 1-31)`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// The date or time part `func` asks for, of `secs` seconds since the epoch,
/// in UTC.
fn date_part(func: Func, secs: i64) -> f64 {
    let days = secs.div_euclid(86_400);
    let in_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let v = match func {
        Func::Year => year,
        Func::Month => month,
        Func::DayOfMonth => day,
        Func::DayOfWeek => (days + 4).rem_euclid(7),
        Func::DayOfYear => {
            const CUMULATIVE: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
            CUMULATIVE[(month - 1) as usize] + day + i64::from(month > 2 && is_leap(year))
        }
        Func::DaysInMonth => match month {
            2 if is_leap(year) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        },
        Func::Hour => in_day / 3600,
        Func::Minute => in_day % 3600 / 60,
        _ => 0,
    };
    v as f64
}

/// One classic histogram at one step: `(upper bound, cumulative count)`.
type Buckets = Vec<(f64, f64)>;

fn histogram_quantile(
    q: &[f64],
    input: &[StepSeries],
    steps: usize,
) -> Result<Vec<StepSeries>, QueryError> {
    // Per input series: its bucket bound and the histogram it belongs to (all
    // labels but `le`, so different metric names stay apart).
    let mut histograms: HashMap<Labels, usize> = HashMap::new();
    let mut histogram_labels: Vec<Labels> = Vec::new();
    let info: Vec<Option<(f64, usize)>> = input
        .iter()
        .map(|s| {
            let bound = parse_go_float(labels::value_of(&s.labels, "le"))?;
            let mut key = s.labels.clone();
            labels::del(&mut key, "le");
            let id = *histograms.entry(key).or_insert_with_key(|key| {
                let mut out = key.clone();
                labels::del(&mut out, METRIC_NAME);
                histogram_labels.push(out);
                histogram_labels.len() - 1
            });
            Some((bound, id))
        })
        .collect();

    let mut out = Output::default();
    let mut slots = SlotCache::new(histogram_labels.len());
    for (step, samples) in by_step(input, steps).into_iter().enumerate() {
        let mut order: Vec<usize> = Vec::new();
        let mut buckets: HashMap<usize, Buckets> = HashMap::new();
        for (si, v) in samples {
            let Some((bound, id)) = info[si] else {
                continue;
            };
            buckets
                .entry(id)
                .or_insert_with(|| {
                    order.push(id);
                    Vec::new()
                })
                .push((bound, v));
        }
        for id in order {
            let Some(mut b) = buckets.remove(&id) else {
                continue;
            };
            let value = bucket_quantile(q[step], &mut b);
            let slot = slots.get(&mut out, id, || histogram_labels[id].clone());
            out.push(slot, step, value)?;
        }
    }
    Ok(out.finish())
}

/// Go's `strconv.ParseFloat` for the values `le` labels hold.
fn parse_go_float(s: &str) -> Option<f64> {
    match s.trim_start_matches('+').to_ascii_lowercase().as_str() {
        "inf" | "infinity" if !s.starts_with('-') => Some(f64::INFINITY),
        _ if s.is_empty() => None,
        _ => s.parse().ok(),
    }
}

/// Prometheus' `bucketQuantile`, with the merging of equal bounds and the
/// monotonicity fix for buckets scraped at slightly different moments.
fn bucket_quantile(q: f64, buckets: &mut Buckets) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // Coalesce buckets with the same upper bound.
    let mut merged: Buckets = Vec::with_capacity(buckets.len());
    for &(bound, count) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == bound => last.1 += count,
            _ => merged.push((bound, count)),
        }
    }
    // Ensure monotonic counts.
    let mut max = f64::NEG_INFINITY;
    for b in &mut merged {
        if b.1 > max {
            max = b.1;
        } else if b.1 < max {
            b.1 = max;
        }
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged[merged.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let last = merged.len() - 1;
    let b = merged[..last].partition_point(|b| b.1 < rank);
    if b == last {
        return merged[last - 1].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let bucket_end = merged[b].0;
    let mut count = merged[b].1;
    let mut bucket_start = 0.0;
    if b > 0 {
        bucket_start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}

/// Computes a range-vector function over one window; `None` means the
/// series has no output at this step.
pub(crate) fn range_function(
    func: Func,
    w: &RangeStep<'_>,
    args: &[f64],
) -> Result<Option<f64>, QueryError> {
    let s = w.samples;
    let values = || s.iter().map(|&(_, v)| v);
    Ok(match func {
        Func::Rate => extrapolated_rate(w, true, true),
        Func::Increase => extrapolated_rate(w, true, false),
        Func::Delta => extrapolated_rate(w, false, false),
        Func::Irate => instant_value(s, true),
        Func::Idelta => instant_value(s, false),
        Func::Deriv => (s.len() >= 2).then(|| linear_regression(s, s[0].0).0),
        Func::PredictLinear => (s.len() >= 2).then(|| {
            let (slope, intercept) = linear_regression(s, w.ts);
            slope * args[0] + intercept
        }),
        Func::Resets => Some(s.windows(2).filter(|p| p[1].1 < p[0].1).count() as f64),
        Func::Changes => Some(
            s.windows(2)
                .filter(|p| p[1].1 != p[0].1 && !(p[1].1.is_nan() && p[0].1.is_nan()))
                .count() as f64,
        ),
        Func::AvgOverTime => Some(avg_over_time(s)),
        Func::SumOverTime => {
            let (mut sum, mut c) = (0.0, 0.0);
            for v in values() {
                (sum, c) = kahan_sum_inc(v, sum, c);
            }
            Some(if sum.is_infinite() { sum } else { sum + c })
        }
        Func::CountOverTime => Some(s.len() as f64),
        Func::LastOverTime => s.last().map(|&(_, v)| v),
        Func::PresentOverTime | Func::AbsentOverTime => Some(1.0),
        Func::MaxOverTime => {
            Some(values().fold(
                s[0].1,
                |max, v| {
                    if v > max || max.is_nan() {
                        v
                    } else {
                        max
                    }
                },
            ))
        }
        Func::MinOverTime => {
            Some(values().fold(
                s[0].1,
                |min, v| {
                    if v < min || min.is_nan() {
                        v
                    } else {
                        min
                    }
                },
            ))
        }
        Func::StddevOverTime => Some(variance_over_time(s).sqrt()),
        Func::StdvarOverTime => Some(variance_over_time(s)),
        Func::QuantileOverTime => {
            let mut v: Vec<f64> = values().collect();
            Some(quantile(args[0], &mut v))
        }
        Func::HoltWinters => holt_winters(s, args[0], args[1])?,
        _ => {
            return Err(QueryError::exec(format!(
                "function \"{}\" does not take a range vector",
                func.name()
            )))
        }
    })
}

/// Prometheus' `extrapolatedRate`: the increase over the samples in the
/// window, corrected for counter resets, extrapolated towards the window's
/// edges when the samples come close to them.
fn extrapolated_rate(w: &RangeStep<'_>, is_counter: bool, is_rate: bool) -> Option<f64> {
    let s = w.samples;
    if s.len() < 2 {
        return None;
    }
    let (first_t, first_v) = s[0];
    let (last_t, last_v) = s[s.len() - 1];
    let mut result = last_v - first_v;
    if is_counter {
        let mut prev = first_v;
        for &(_, v) in &s[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let mut duration_to_start = (first_t - w.lo) as f64 / 1000.0;
    let duration_to_end = (w.hi - last_t) as f64 / 1000.0;
    let sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let average_between_samples = sampled_interval / (s.len() - 1) as f64;

    if is_counter && result > 0.0 && first_v >= 0.0 {
        // A counter cannot go below zero, so do not extrapolate past the
        // point where it would have been zero.
        let duration_to_zero = sampled_interval * (first_v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }

    let threshold = average_between_samples * 1.1;
    let mut extrapolate_to = sampled_interval;
    extrapolate_to += if duration_to_start < threshold {
        duration_to_start
    } else {
        average_between_samples / 2.0
    };
    extrapolate_to += if duration_to_end < threshold {
        duration_to_end
    } else {
        average_between_samples / 2.0
    };
    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= w.range as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate`/`idelta`: from the last two samples only.
fn instant_value(s: &[(i64, f64)], is_rate: bool) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (last_t, last_v) = s[s.len() - 1];
    let (prev_t, prev_v) = s[s.len() - 2];
    let mut result = if is_rate && last_v < prev_v {
        // Counter reset.
        last_v
    } else {
        last_v - prev_v
    };
    let interval = last_t - prev_t;
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

/// Go's `kahanSumInc` (Neumaier's variant).
fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

fn avg_over_time(s: &[(i64, f64)]) -> f64 {
    let (mut mean, mut count, mut c) = (0.0f64, 0.0f64, 0.0f64);
    for &(_, v) in s {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_sum_inc(v / count - mean / count, mean, c);
    }
    if mean.is_infinite() {
        mean
    } else {
        mean + c
    }
}

fn variance_over_time(s: &[(i64, f64)]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(_, v) in s {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_sum_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_sum_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Least-squares regression of the samples, with times in seconds relative
/// to `intercept_time`: `(slope, value at intercept_time)`.
fn linear_regression(s: &[(i64, f64)], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = s[0].1;
    let mut const_y = true;
    for (i, &(t, v)) in s.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_sum_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_sum_inc(v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_sum_inc(x * v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_sum_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sum_x, sum_y, sum_xy, sum_x2) = (sum_x + c_x, sum_y + c_y, sum_xy + c_xy, sum_x2 + c_x2);
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// Double exponential smoothing, as Prometheus 2.42's `holt_winters`.
fn holt_winters(s: &[(i64, f64)], sf: f64, tf: f64) -> Result<Option<f64>, QueryError> {
    if sf <= 0.0 || sf >= 1.0 {
        return Err(QueryError::exec(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
        )));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(QueryError::exec(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
        )));
    }
    if s.len() < 2 {
        return Ok(None);
    }
    let mut s0 = 0.0;
    let mut s1 = s[0].1;
    let mut b = s[1].1 - s[0].1;
    for (i, &(_, v)) in s.iter().enumerate().skip(1) {
        let x = sf * v;
        // The trend at the previous point.
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Ok(Some(s1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        // 2024-02-29 is day 19782.
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(date_part(Func::DayOfYear, 19_782 * 86_400), 60.0);
        assert_eq!(date_part(Func::DaysInMonth, 19_782 * 86_400), 29.0);
        assert_eq!(date_part(Func::DayOfWeek, 19_782 * 86_400), 4.0);
    }

    #[test]
    fn go_min_max_treat_nan_like_go() {
        assert!(go_max(1.0, f64::NAN).is_nan());
        assert_eq!(go_max(f64::INFINITY, f64::NAN), f64::INFINITY);
        assert_eq!(go_min(f64::NEG_INFINITY, f64::NAN), f64::NEG_INFINITY);
        assert_eq!(go_min(2.0, 3.0), 2.0);
    }

    #[test]
    fn bucket_quantile_interpolates_and_fixes_monotonicity() {
        let mut b = vec![(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 20.0)];
        assert_eq!(bucket_quantile(0.5, &mut b), 1.0);
        let mut b = vec![(1.0, 10.0), (2.0, 8.0), (f64::INFINITY, 20.0)];
        // The 8 is raised to 10, so the 0.75 rank (15) lies in the +Inf
        // bucket and the answer is the highest finite bound.
        assert_eq!(bucket_quantile(0.75, &mut b), 2.0);
        let mut b = vec![(1.0, 10.0), (2.0, 20.0)];
        assert!(bucket_quantile(0.5, &mut b).is_nan());
    }

    #[test]
    fn le_values_parse_like_go() {
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_go_float("0.5"), Some(0.5));
        assert_eq!(parse_go_float(""), None);
        assert_eq!(parse_go_float("x"), None);
    }
}
