//! Test support, public so other crates can test against the engine: an
//! in-memory [`Storage`], Prometheus' series notation (`0+10x5`, `_`,
//! `stale`) and a runner for scripts in the style of Prometheus' `promqltest`
//! files:
//!
//! ```text
//! load 5m
//!   http_requests{job="api"}  0+10x10
//!
//! eval instant at 50m sum(http_requests)
//!   {} 100
//!
//! eval range from 0 to 10m step 5m http_requests
//!   http_requests{job="api"} 0 10 20
//! ```
//!
//! `eval_ordered` also checks the order of an instant vector, `eval_fail`
//! expects an error (optionally `eval_fail ... with <text>` that the message
//! must contain), and `clear` empties the storage. Instant expectations are
//! `labels value` lines, or a bare value for a scalar or string result; range
//! expectations use series notation, `_` marking steps without a value.
//! Values match within a relative 1e-6, as in Prometheus' own tests, and NaN
//! matches NaN.

use std::collections::BTreeMap;

use crate::{labels, CompiledMatcher, Engine, Labels, Matcher, Series, Storage, Value};

/// Series held in memory, with matchers applied exactly as PromQL defines.
#[derive(Debug, Clone, Default)]
pub struct MemStorage {
    series: BTreeMap<Labels, Vec<(i64, f64)>>,
}

impl MemStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds samples to the series with these labels (sorted and without
    /// empty values afterwards), keeping its samples in time order; a later
    /// sample at the same time replaces an earlier one.
    pub fn add(&mut self, mut labels: Labels, samples: impl IntoIterator<Item = (i64, f64)>) {
        labels.retain(|(_, v)| !v.is_empty());
        labels.sort();
        let entry = self.series.entry(labels).or_default();
        entry.extend(samples);
        entry.sort_by_key(|&(t, _)| t);
        let mut deduped: Vec<(i64, f64)> = Vec::with_capacity(entry.len());
        for &(t, v) in entry.iter() {
            match deduped.last_mut() {
                Some(last) if last.0 == t => last.1 = v,
                _ => deduped.push((t, v)),
            }
        }
        *entry = deduped;
    }

    /// Loads a `load <interval>` block: one series per following line, in
    /// series notation, with the first value at time 0.
    pub fn load(&mut self, block: &str) -> Result<(), String> {
        let mut lines = block.lines().filter(|l| !l.trim().is_empty());
        let header = lines.next().ok_or("empty load block")?;
        let interval = header
            .trim()
            .strip_prefix("load ")
            .ok_or_else(|| format!("expected `load <interval>`, got {header:?}"))
            .and_then(|d| parse_duration(d.trim()))?;
        for line in lines {
            let (labels, values) = parse_series(line.trim())?;
            let samples = values
                .into_iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (i as i64 * interval, v)));
            self.add(labels, samples);
        }
        Ok(())
    }

    pub fn series(&self) -> Vec<Series> {
        self.series
            .iter()
            .map(|(labels, samples)| Series {
                labels: labels.clone(),
                samples: samples.clone(),
            })
            .collect()
    }

    pub fn clear(&mut self) {
        self.series.clear();
    }
}

impl Storage for MemStorage {
    fn select(&self, matchers: &[Matcher], start: i64, end: i64) -> Result<Vec<Series>, String> {
        let compiled = matchers
            .iter()
            .map(CompiledMatcher::new)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        Ok(self
            .series
            .iter()
            .filter(|(labels, _)| compiled.iter().all(|m| m.matches_labels(labels)))
            .map(|(labels, samples)| Series {
                labels: labels.clone(),
                samples: samples
                    .iter()
                    .copied()
                    .filter(|&(t, _)| t >= start && t <= end)
                    .collect(),
            })
            .filter(|s| !s.samples.is_empty())
            .collect())
    }
}

/// Parses a duration such as `5m`, `1h30m`, `250ms` or a plain number of
/// seconds, into milliseconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    if let Ok(secs) = text.parse::<f64>() {
        return Ok((secs * 1000.0).round() as i64);
    }
    let mut total = 0i64;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(digits);
        let n: i64 = number
            .parse()
            .map_err(|_| format!("invalid duration {text:?}"))?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let ms = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return Err(format!("invalid duration {text:?}")),
        };
        total += n * ms;
        rest = tail;
    }
    Ok(total)
}

/// Parses `metric{a="b", c="d"}`, `metric` or `{a="b"}` into sorted labels,
/// the metric name becoming `__name__`.
pub fn parse_labels(text: &str) -> Result<Labels, String> {
    let text = text.trim();
    let (name, rest) = match text.find('{') {
        Some(i) => (&text[..i], &text[i..]),
        None => (text, ""),
    };
    let mut out = Labels::new();
    if !name.is_empty() {
        labels::set(&mut out, labels::METRIC_NAME, name.trim());
    }
    if rest.is_empty() {
        return Ok(out);
    }
    let body = rest
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or_else(|| format!("unbalanced braces in {text:?}"))?;
    let mut chars = body.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') || chars.next() != Some('"') {
            return Err(format!("expected label=\"value\" in {text:?}"));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c) => value.push(c),
                    None => return Err(format!("unterminated escape in {text:?}")),
                },
                Some(c) => value.push(c),
                None => return Err(format!("unterminated label value in {text:?}")),
            }
        }
        labels::set(&mut out, &key, &value);
    }
    Ok(out)
}

/// Parses one value of series notation's plain form: a number, `NaN`,
/// `Inf`, `-Inf` or `stale`.
fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "stale" => Ok(crate::stale_marker()),
        "Inf" | "+Inf" | "inf" | "+inf" => Ok(f64::INFINITY),
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        "NaN" | "nan" => Ok(f64::NAN),
        _ => text
            .parse()
            .map_err(|_| format!("invalid sample value {text:?}")),
    }
}

/// Expands series notation: `1 2 3`, `_` (no sample), `_x3` (three without),
/// `0+10x3` (0 10 20 30), `5-1x2` (5 4 3), `7x2` (7 7 7) and `stale`.
pub fn parse_values(text: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        if token == "_" {
            out.push(None);
            continue;
        }
        let Some((base, times)) = token
            .rsplit_once('x')
            .filter(|(_, n)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        else {
            out.push(Some(parse_value(token)?));
            continue;
        };
        let times: usize = times
            .parse()
            .map_err(|_| format!("invalid repetition in {token:?}"))?;
        if base == "_" {
            out.extend(std::iter::repeat_n(None, times));
            continue;
        }
        // Split "a+b" / "a-b" at a sign that is not the leading one and not
        // part of an exponent.
        let bytes = base.as_bytes();
        let split = (1..bytes.len()).find(|&i| {
            (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E')
        });
        let (start, delta) = match split {
            Some(i) => {
                let delta = parse_value(&base[i + 1..])?;
                let start = parse_value(&base[..i])?;
                (start, if bytes[i] == b'-' { -delta } else { delta })
            }
            None => (parse_value(base)?, 0.0),
        };
        for k in 0..=times {
            out.push(Some(start + delta * k as f64));
        }
    }
    Ok(out)
}

/// Splits a line of series notation into its labels and values.
pub fn parse_series(line: &str) -> Result<(Labels, Vec<Option<f64>>), String> {
    let split = match line.rfind('}') {
        Some(i) => i + 1,
        None => line
            .find(char::is_whitespace)
            .ok_or_else(|| format!("expected `labels values`, got {line:?}"))?,
    };
    let (labels, values) = line.split_at(split);
    Ok((parse_labels(labels)?, parse_values(values)?))
}

/// Runs a script against [`MemStorage`]. On failure the error lists every
/// failed `eval` with its line number, query, expectation and result.
pub fn run_script(engine: &Engine, script: &str) -> Result<(), String> {
    run_script_with(engine, script, |series| {
        let mut storage = MemStorage::new();
        for s in series {
            storage.add(s.labels.clone(), s.samples.iter().copied());
        }
        storage
    })
}

/// Runs a script against any storage, built from the loaded series before
/// each `eval`, so a storage implementation can be checked against the same
/// expectations as the engine.
pub fn run_script_with<S: Storage>(
    engine: &Engine,
    script: &str,
    mut to_storage: impl FnMut(&[Series]) -> S,
) -> Result<(), String> {
    let lines: Vec<&str> = script.lines().collect();
    let mut data = MemStorage::new();
    let mut failures = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let line_no = i + 1;
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // The block is every following indented, non-empty line.
        let mut block = Vec::new();
        while i < lines.len()
            && lines[i].starts_with(char::is_whitespace)
            && !lines[i].trim().is_empty()
        {
            block.push(lines[i].trim());
            i += 1;
        }
        let result = if line == "clear" {
            data.clear();
            Ok(())
        } else if line.starts_with("load ") {
            let text = std::iter::once(line)
                .chain(block.iter().copied())
                .collect::<Vec<_>>()
                .join("\n");
            data.load(&text)
        } else if line.starts_with("eval") {
            let storage = to_storage(&data.series());
            run_eval(engine, &storage, line, &block)
        } else {
            Err(format!("unknown command {line:?}"))
        };
        if let Err(e) = result {
            failures.push(format!("line {line_no}: {line}\n{e}"));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n\n"))
    }
}

fn run_eval(
    engine: &Engine,
    storage: &dyn Storage,
    line: &str,
    block: &[&str],
) -> Result<(), String> {
    let (command, rest) = line
        .split_once(' ')
        .ok_or_else(|| format!("incomplete eval line {line:?}"))?;
    // The range form's start and step, needed to read its expectations.
    let (result, range) = if let Some(rest) = rest.strip_prefix("instant at ") {
        let (time, query) = rest
            .split_once(' ')
            .ok_or("expected `instant at <time> <query>`")?;
        (engine.instant(storage, query, parse_duration(time)?), None)
    } else if let Some(rest) = rest.strip_prefix("range from ") {
        let words: Vec<&str> = rest.splitn(6, ' ').collect();
        if words.len() < 6 || words[1] != "to" || words[3] != "step" {
            return Err("expected `range from <t> to <t> step <d> <query>`".into());
        }
        let (start, end, step) = (
            parse_duration(words[0])?,
            parse_duration(words[2])?,
            parse_duration(words[4])?,
        );
        (
            engine.range(storage, words[5], start, end, step),
            Some((start, step)),
        )
    } else {
        return Err(format!("unknown eval form {line:?}"));
    };

    match command {
        "eval_fail" => match result {
            Err(e) => match block.first().and_then(|b| b.strip_prefix("with ")) {
                Some(text) if !e.to_string().contains(text) => {
                    Err(format!("expected an error containing {text:?}, got {e:?}"))
                }
                _ => Ok(()),
            },
            Ok(v) => Err(format!("expected an error, got {v:?}")),
        },
        "eval" | "eval_ordered" => {
            let expected = match range {
                None => Expected::instant(block)?,
                Some((start, step)) => Expected::range(block, start, step)?,
            };
            let value = result.map_err(|e| format!("unexpected error: {e}"))?;
            expected.check(&value, command == "eval_ordered")
        }
        _ => Err(format!("unknown command {command:?}")),
    }
}

enum Expected {
    Single(f64),
    Str(String),
    Samples(Vec<(Labels, f64)>),
    Series(Vec<Series>),
}

impl Expected {
    fn instant(block: &[&str]) -> Result<Expected, String> {
        if let [single] = block {
            if let Some(s) = single.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                return Ok(Expected::Str(s.to_string()));
            }
            if let Ok(v) = parse_value(single) {
                return Ok(Expected::Single(v));
            }
        }
        let mut samples = Vec::new();
        for line in block {
            let (labels, values) = parse_series(line)?;
            match values.as_slice() {
                [Some(v)] => samples.push((labels, *v)),
                _ => return Err(format!("expected one value in {line:?}")),
            }
        }
        Ok(Expected::Samples(samples))
    }

    fn range(block: &[&str], start: i64, step: i64) -> Result<Expected, String> {
        let mut series = Vec::new();
        for line in block {
            let (labels, values) = parse_series(line)?;
            let samples = values
                .into_iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (start + i as i64 * step, v)))
                .collect();
            series.push(Series { labels, samples });
        }
        Ok(Expected::Series(series))
    }

    fn check(&self, got: &Value, ordered: bool) -> Result<(), String> {
        let mismatch = || format!("expected:\n{}\ngot:\n{}", self.render(), render_value(got));
        let ok = match (self, got) {
            (Expected::Single(want), Value::Scalar { v, .. }) => close(*want, *v),
            (Expected::Str(want), Value::String { v, .. }) => want == v,
            (Expected::Samples(want), Value::Vector(samples)) => {
                let mut got: Vec<(Labels, f64)> =
                    samples.iter().map(|s| (s.labels.clone(), s.v)).collect();
                let mut want = want.clone();
                if !ordered {
                    got.sort_by(|a, b| a.0.cmp(&b.0));
                    want.sort_by(|a, b| a.0.cmp(&b.0));
                }
                got.len() == want.len()
                    && got
                        .iter()
                        .zip(&want)
                        .all(|(g, w)| g.0 == w.0 && close(w.1, g.1))
            }
            (Expected::Series(want), Value::Matrix(got)) => {
                let mut want = want.clone();
                want.sort_by(|a, b| a.labels.cmp(&b.labels));
                got.len() == want.len()
                    && got.iter().zip(&want).all(|(g, w)| {
                        g.labels == w.labels
                            && g.samples.len() == w.samples.len()
                            && g.samples
                                .iter()
                                .zip(&w.samples)
                                .all(|(g, w)| g.0 == w.0 && close(w.1, g.1))
                    })
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(mismatch())
        }
    }

    fn render(&self) -> String {
        match self {
            Expected::Single(v) => format!("  scalar {}", crate::format_value(*v)),
            Expected::Str(s) => format!("  string {s:?}"),
            Expected::Samples(samples) => render_samples(samples.iter().map(|(l, v)| (l, *v))),
            Expected::Series(series) => render_series(series),
        }
    }
}

/// Equal within Prometheus' test tolerance; NaN equals NaN (staleness
/// markers included).
fn close(want: f64, got: f64) -> bool {
    if want.is_nan() || got.is_nan() {
        return want.is_nan() && got.is_nan();
    }
    want == got || (want - got).abs() <= 1e-6 * want.abs().max(got.abs())
}

fn render_samples<'a>(samples: impl Iterator<Item = (&'a Labels, f64)>) -> String {
    let lines: Vec<String> = samples
        .map(|(l, v)| format!("  {} {}", labels::format(l), crate::format_value(v)))
        .collect();
    if lines.is_empty() {
        "  (empty)".into()
    } else {
        lines.join("\n")
    }
}

fn render_series(series: &[Series]) -> String {
    let lines: Vec<String> = series
        .iter()
        .map(|s| {
            let points: Vec<String> = s
                .samples
                .iter()
                .map(|&(t, v)| format!("{}@{}", crate::format_value(v), t))
                .collect();
            format!("  {} {}", labels::format(&s.labels), points.join(" "))
        })
        .collect();
    if lines.is_empty() {
        "  (empty)".into()
    } else {
        lines.join("\n")
    }
}

fn render_value(v: &Value) -> String {
    match v {
        Value::Scalar { v, .. } => format!("  scalar {}", crate::format_value(*v)),
        Value::String { v, .. } => format!("  string {v:?}"),
        Value::Vector(samples) => render_samples(samples.iter().map(|s| (&s.labels, s.v))),
        Value::Matrix(series) => render_series(series),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_notation_expands() {
        let values = parse_values("0+10x2 _ 5-1x1 7x1 _x2 stale").unwrap();
        let shown: Vec<String> = values
            .iter()
            .map(|v| v.map_or("_".into(), crate::format_value))
            .collect();
        assert_eq!(
            shown,
            ["0", "10", "20", "_", "5", "4", "7", "7", "_", "_", "NaN"]
        );
        assert!(crate::is_stale_marker(values[10].unwrap()));
    }

    #[test]
    fn labels_parse_with_name_and_escapes() {
        let l = parse_labels(r#"up{job="a\"b", instance="x"}"#).unwrap();
        assert_eq!(
            l,
            vec![
                ("__name__".to_string(), "up".to_string()),
                ("instance".to_string(), "x".to_string()),
                ("job".to_string(), "a\"b".to_string()),
            ]
        );
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration("250ms").unwrap(), 250);
        assert_eq!(parse_duration("90").unwrap(), 90_000);
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn a_failing_expectation_is_reported() {
        let script = "load 1m\n  m 1 2\n\neval instant at 1m m\n  m 3\n";
        let err = run_script(&Engine::default(), script).unwrap_err();
        assert!(
            err.contains("line 4") && err.contains(r#"{__name__="m"} 3"#),
            "{err}"
        );
    }
}
