//! Running a parsed template, and the function library.

use std::collections::BTreeMap;

use super::gofmt::{format_g, format_time, format_value, sprintf};
use super::parse::{Node, Pipe, Term};
use super::{Env, Template, TemplateError, Value};

/// Every function a template may call: Go's builtins, Prometheus' template
/// functions and Alertmanager's.
pub const FUNCTIONS: &[&str] = &[
    // Go's text/template builtins.
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "js",
    "urlquery",
    // Prometheus.
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "sortByLabel",
    "args",
    "reReplaceAll",
    "safeHtml",
    "match",
    "title",
    "toUpper",
    "toLower",
    "graphLink",
    "tableLink",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "toTime",
    "toDuration",
    "pathPrefix",
    "externalURL",
    "parseDuration",
    "stripPort",
    "stripDomain",
    // Alertmanager.
    "join",
    "trimSpace",
    "safeUrl",
    "urlUnescape",
    "stringSlice",
    "date",
];

enum Flow {
    Normal,
    Break,
    Continue,
}

struct Exec<'a> {
    tmpl: &'a Template,
    env: &'a Env<'a>,
    vars: Vec<(String, Value)>,
    out: String,
    depth: usize,
    line: usize,
}

pub(super) fn run(
    tmpl: &Template,
    nodes: &[Node],
    data: &Value,
    env: &Env<'_>,
) -> Result<String, TemplateError> {
    let mut vars = vec![(String::new(), data.clone())];
    vars.extend(env.vars.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let mut ex = Exec {
        tmpl,
        env,
        vars,
        out: String::new(),
        depth: 0,
        line: 1,
    };
    ex.walk(nodes, data)?;
    Ok(ex.out)
}

impl Exec<'_> {
    fn err(&self, msg: impl std::fmt::Display) -> TemplateError {
        TemplateError(format!(
            "template: {}:{}: executing: {msg}",
            self.tmpl.name, self.line
        ))
    }

    fn walk(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, TemplateError> {
        for node in nodes {
            match self.node(node, dot)? {
                Flow::Normal => {}
                flow => return Ok(flow),
            }
        }
        Ok(Flow::Normal)
    }

    fn scoped(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, TemplateError> {
        let mark = self.vars.len();
        let r = self.walk(nodes, dot);
        self.vars.truncate(mark);
        r
    }

    fn node(&mut self, node: &Node, dot: &Value) -> Result<Flow, TemplateError> {
        match node {
            Node::Text(t) => self.out.push_str(t),
            Node::Action { line, pipe } => {
                self.line = *line;
                let v = self.pipe(pipe, dot)?;
                if pipe.decl.is_empty() {
                    self.out.push_str(&format_value(&v));
                }
            }
            Node::If {
                line,
                pipe,
                then,
                otherwise,
            } => {
                self.line = *line;
                let mark = self.vars.len();
                let v = self.pipe(pipe, dot)?;
                let r = if v.truthy() {
                    self.scoped(then, dot)
                } else {
                    self.scoped(otherwise, dot)
                };
                self.vars.truncate(mark);
                return r;
            }
            Node::With {
                line,
                pipe,
                then,
                otherwise,
            } => {
                self.line = *line;
                let mark = self.vars.len();
                let v = self.pipe(pipe, dot)?;
                let r = if v.truthy() {
                    self.scoped(then, &v)
                } else {
                    self.scoped(otherwise, dot)
                };
                self.vars.truncate(mark);
                return r;
            }
            Node::Range {
                line,
                pipe,
                body,
                otherwise,
            } => {
                self.line = *line;
                let mark = self.vars.len();
                let decl = pipe.decl.clone();
                let bare = Pipe {
                    decl: Vec::new(),
                    assign: false,
                    cmds: pipe.cmds.clone(),
                };
                let v = self.pipe(&bare, dot)?;
                let items: Vec<(Value, Value)> = match v {
                    Value::List(l) => l
                        .into_iter()
                        .enumerate()
                        .map(|(i, x)| (Value::Int(i as i64), x))
                        .collect(),
                    Value::Map(m) => m.into_iter().map(|(k, x)| (Value::Str(k), x)).collect(),
                    Value::Int(n) => (0..n.max(0))
                        .map(|i| (Value::Int(i), Value::Int(i)))
                        .collect(),
                    Value::Nil => Vec::new(),
                    other => {
                        return Err(
                            self.err(format!("range can't iterate over {}", format_value(&other)))
                        )
                    }
                };
                if items.is_empty() {
                    let r = self.scoped(otherwise, dot);
                    self.vars.truncate(mark);
                    return r.map(|_| Flow::Normal);
                }
                for (k, item) in items {
                    let inner = self.vars.len();
                    match decl.as_slice() {
                        [e] => self.vars.push((e.clone(), item.clone())),
                        [i, e] => {
                            self.vars.push((i.clone(), k));
                            self.vars.push((e.clone(), item.clone()));
                        }
                        _ => {}
                    }
                    let flow = self.walk(body, &item)?;
                    self.vars.truncate(inner);
                    if let Flow::Break = flow {
                        break;
                    }
                }
                self.vars.truncate(mark);
            }
            Node::Template { line, name, pipe } => {
                self.line = *line;
                let data = match pipe {
                    Some(p) => self.pipe(p, dot)?,
                    None => Value::Nil,
                };
                let nodes = self
                    .tmpl
                    .defines
                    .get(name)
                    .or_else(|| self.env.library.and_then(|l| l.defines.get(name)))
                    .ok_or_else(|| self.err(format!("template {name:?} not defined")))?;
                if self.depth > 100 {
                    return Err(self.err("exceeded maximum template depth (100)"));
                }
                // A called template sees only `$`, as in Go.
                let saved = std::mem::replace(&mut self.vars, vec![(String::new(), data.clone())]);
                self.depth += 1;
                let r = self.walk(nodes, &data);
                self.depth -= 1;
                self.vars = saved;
                r?;
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn pipe(&mut self, pipe: &Pipe, dot: &Value) -> Result<Value, TemplateError> {
        let mut prev: Option<Value> = None;
        for cmd in &pipe.cmds {
            prev = Some(self.cmd(cmd, dot, prev)?);
        }
        let v = prev.unwrap_or(Value::Nil);
        for name in &pipe.decl {
            if pipe.assign {
                let slot = self
                    .vars
                    .iter_mut()
                    .rev()
                    .find(|(n, _)| n == name)
                    .ok_or_else(|| TemplateError(format!("undefined variable: ${name}")))?;
                slot.1 = v.clone();
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn var(&self, name: &str) -> Result<Value, TemplateError> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| self.err(format!("undefined variable: ${name}")))
    }

    fn term(&mut self, t: &Term, dot: &Value) -> Result<Value, TemplateError> {
        Ok(match t {
            Term::Dot => dot.clone(),
            Term::Nil => Value::Nil,
            Term::Bool(b) => Value::Bool(*b),
            Term::Int(i) => Value::Int(*i),
            Term::Float(f) => Value::Float(*f),
            Term::Str(s) => Value::Str(s.clone()),
            Term::Field(fields) => self.chain(dot.clone(), fields)?,
            Term::Var(name, fields) => {
                let v = self.var(name)?;
                self.chain(v, fields)?
            }
            Term::Sub(p, fields) => {
                let v = self.pipe(p, dot)?;
                self.chain(v, fields)?
            }
            Term::Ident(name) => self.call(name, Vec::new())?,
        })
    }

    fn chain(&self, mut v: Value, fields: &[String]) -> Result<Value, TemplateError> {
        for f in fields {
            v = field(&v, f).map_err(|e| self.err(e))?;
        }
        Ok(v)
    }

    fn cmd(
        &mut self,
        cmd: &[Term],
        dot: &Value,
        piped: Option<Value>,
    ) -> Result<Value, TemplateError> {
        let first = &cmd[0];
        let mut args = Vec::new();
        for t in &cmd[1..] {
            args.push(self.term(t, dot)?);
        }
        if let Some(p) = piped.clone() {
            args.push(p);
        }
        match first {
            Term::Ident(name) => self.call(name, args),
            // A method call: the last field of a chain given arguments.
            Term::Field(fields) | Term::Var(_, fields) | Term::Sub(_, fields)
                if !args.is_empty() && !fields.is_empty() =>
            {
                let recv = match first {
                    Term::Field(f) => self.chain(dot.clone(), &f[..f.len() - 1])?,
                    Term::Var(n, f) => {
                        let v = self.var(n)?;
                        self.chain(v, &f[..f.len() - 1])?
                    }
                    Term::Sub(p, f) => {
                        let v = self.pipe(p, dot)?;
                        self.chain(v, &f[..f.len() - 1])?
                    }
                    _ => Value::Nil,
                };
                method(&recv, &fields[fields.len() - 1], &args).map_err(|e| self.err(e))
            }
            _ if !args.is_empty() => Err(self.err(format!(
                "can't give argument to non-function {}",
                describe(first)
            ))),
            _ => self.term(first, dot),
        }
    }

    fn call(&mut self, name: &str, args: Vec<Value>) -> Result<Value, TemplateError> {
        call(name, args, self.env).map_err(|e| self.err(format!("error calling {name}: {e}")))
    }
}

fn describe(t: &Term) -> String {
    match t {
        Term::Dot => ".".into(),
        Term::Field(f) => format!(".{}", f.join(".")),
        Term::Var(n, f) if f.is_empty() => format!("${n}"),
        Term::Var(n, f) => format!("${n}.{}", f.join(".")),
        Term::Str(s) => format!("{s:?}"),
        Term::Int(i) => i.to_string(),
        Term::Float(f) => f.to_string(),
        Term::Bool(b) => b.to_string(),
        Term::Nil => "nil".into(),
        Term::Ident(i) => i.clone(),
        Term::Sub(..) => "(pipeline)".into(),
    }
}

fn is_label_map(m: &BTreeMap<String, Value>) -> bool {
    m.values().all(|v| matches!(v, Value::Str(_)))
}

/// `.name` on a value, including the Go methods real templates use.
fn field(v: &Value, name: &str) -> Result<Value, String> {
    match v {
        Value::Map(m) => {
            if let Some(x) = m.get(name) {
                return Ok(x.clone());
            }
            Ok(match name {
                "SortedPairs" => Value::List(
                    m.iter()
                        .map(|(k, v)| {
                            Value::map([("Name", Value::Str(k.clone())), ("Value", v.clone())])
                        })
                        .collect(),
                ),
                "Names" => Value::List(m.keys().map(|k| Value::Str(k.clone())).collect()),
                "Values" => Value::List(m.values().cloned().collect()),
                // Prometheus renders templates with missingkey=zero over
                // map[string]string, so a missing label is "".
                _ if is_label_map(m) => Value::Str(String::new()),
                _ => Value::Nil,
            })
        }
        Value::List(items) => match name {
            "Firing" | "Resolved" => {
                let want = if name == "Firing" {
                    "firing"
                } else {
                    "resolved"
                };
                Ok(Value::List(
                    items
                        .iter()
                        .filter(|a| matches!(field(a, "Status"), Ok(Value::Str(s)) if s == want))
                        .cloned()
                        .collect(),
                ))
            }
            "Names" | "Values" => {
                let key = if name == "Names" { "Name" } else { "Value" };
                items
                    .iter()
                    .map(|p| field(p, key))
                    .collect::<Result<_, _>>()
                    .map(Value::List)
            }
            "Len" => Ok(Value::Int(items.len() as i64)),
            _ => Err(format!("can't evaluate field {name} in a list")),
        },
        Value::Time(t) => match name {
            "Unix" => Ok(Value::Int(t.unix_timestamp())),
            "UnixMilli" => Ok(Value::Int((t.unix_timestamp_nanos() / 1_000_000) as i64)),
            "UTC" | "Local" => Ok(Value::Time(t.to_offset(time::UtcOffset::UTC))),
            "Year" => Ok(Value::Int(i64::from(t.year()))),
            _ => Err(format!("can't evaluate field {name} in type time.Time")),
        },
        Value::Nil => Ok(Value::Nil),
        other => Err(format!(
            "can't evaluate field {name} in type {}",
            match other {
                Value::Str(_) => "string",
                Value::Int(_) => "int",
                Value::Float(_) => "float64",
                _ => "bool",
            }
        )),
    }
}

fn method(recv: &Value, name: &str, args: &[Value]) -> Result<Value, String> {
    match (recv, name, args) {
        (Value::Map(m), "Remove", [Value::List(names)]) => {
            let drop: Vec<String> = names.iter().map(format_value).collect();
            Ok(Value::Map(
                m.iter()
                    .filter(|(k, _)| !drop.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ))
        }
        (Value::Time(t), "Format", [Value::Str(layout)]) => Ok(Value::Str(format_time(*t, layout))),
        _ => Err(format!(
            "can't call method {name} with {} arguments",
            args.len()
        )),
    }
}

/// Prometheus' `convertToFloat`.
fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(s) => s
            .trim()
            .parse::<f64>()
            .or_else(|_| match s.trim() {
                "+Inf" | "Inf" => Ok(f64::INFINITY),
                "-Inf" => Ok(f64::NEG_INFINITY),
                "NaN" => Ok(f64::NAN),
                _ => Err(()),
            })
            .map_err(|_| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
        Value::Time(t) => Ok(t.unix_timestamp_nanos() as f64 / 1e9),
        other => Err(format!("can't convert {} to float", format_value(other))),
    }
}

fn arg_str(v: &Value) -> String {
    format_value(v)
}

fn want(args: &[Value], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!("wrong number of args: want {n} got {}", args.len()));
    }
    Ok(())
}

fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    use Value::*;
    match (a, b) {
        // Numbers compare by value whether written as ints or floats; Go
        // would reject `gt 1.5 1`, which only ever surprises rule authors.
        (Int(x), Int(y)) => Ok(x.cmp(y)),
        (Int(_) | Float(_), Int(_) | Float(_)) => {
            let (x, y) = (to_float(a)?, to_float(b)?);
            x.partial_cmp(&y)
                .ok_or_else(|| "cannot compare NaN".to_string())
        }
        (Str(x), Str(y)) => Ok(x.cmp(y)),
        (Bool(x), Bool(y)) => Ok(x.cmp(y)),
        (Time(x), Time(y)) => Ok(x.cmp(y)),
        _ => Err("incompatible types for comparison".into()),
    }
}

fn equal(a: &Value, b: &Value) -> Result<bool, String> {
    match (a, b) {
        (Value::Nil, Value::Nil) => Ok(true),
        (Value::Nil, _) | (_, Value::Nil) => Ok(false),
        _ => compare(a, b).map(|o| o.is_eq()),
    }
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn unescape(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3).ok_or("invalid URL escape")?;
                out.push(
                    u8::from_str_radix(hex, 16)
                        .map_err(|_| format!("invalid URL escape {hex:?}"))?,
                );
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// Go's `strings.Title`: upper-cases the first letter of every word.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !(c.is_alphanumeric())
        };
    }
    out
}

fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        return Some((host, port));
    }
    let (host, port) = s.rsplit_once(':')?;
    if host.contains(':') {
        return None;
    }
    Some((host, port))
}

fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format_g(v, 4, false);
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", format_g(v, 4, false))
}

fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return format_g(v, 4, false);
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", format_g(v, 4, false))
}

fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return format_g(v, 4, false);
    }
    if v == 0.0 {
        return format!("{}s", format_g(v, 4, false));
    }
    if v.abs() >= 1.0 {
        let (sign, v) = if v < 0.0 { ("-", -v) } else { ("", v) };
        let d = v as i64;
        let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86_400);
        return if days != 0 {
            format!("{sign}{days}d {h}h {m}m {s}s")
        } else if h != 0 {
            format!("{sign}{h}h {m}m {s}s")
        } else if m != 0 {
            format!("{sign}{m}m {s}s")
        } else {
            format!("{sign}{}s", format_g(v, 4, false))
        };
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", format_g(v, 4, false))
}

fn to_time(v: f64) -> Result<time::OffsetDateTime, String> {
    if !v.is_finite() {
        return Err(format!("cannot convert {} to time", format_g(v, 4, false)));
    }
    time::OffsetDateTime::from_unix_timestamp_nanos((v * 1e9) as i128).map_err(|e| e.to_string())
}

fn sample_list(v: &Value) -> Result<&[Value], String> {
    match v {
        Value::List(l) => Ok(l),
        other => Err(format!(
            "expected query result, got {}",
            format_value(other)
        )),
    }
}

fn call(name: &str, args: Vec<Value>, env: &Env<'_>) -> Result<Value, String> {
    use Value::*;
    let s = |i: usize| args.get(i).map(arg_str).unwrap_or_default();
    Ok(match name {
        "and" => {
            if args.is_empty() {
                return Err("wrong number of args".into());
            }
            args.iter()
                .find(|a| !a.truthy())
                .cloned()
                .unwrap_or_else(|| args[args.len() - 1].clone())
        }
        "or" => {
            if args.is_empty() {
                return Err("wrong number of args".into());
            }
            args.iter()
                .find(|a| a.truthy())
                .cloned()
                .unwrap_or_else(|| args[args.len() - 1].clone())
        }
        "not" => {
            want(&args, 1)?;
            Bool(!args[0].truthy())
        }
        "len" => {
            want(&args, 1)?;
            Int(match &args[0] {
                Str(x) => x.len(),
                List(l) => l.len(),
                Map(m) => m.len(),
                Nil => 0,
                other => return Err(format!("len of {}", format_value(other))),
            } as i64)
        }
        "index" => {
            let mut it = args.into_iter();
            let mut v = it.next().ok_or("wrong number of args")?;
            for key in it {
                v = match (&v, &key) {
                    (Map(m), k) => m.get(&arg_str(k)).cloned().unwrap_or(Nil),
                    (List(l), Int(i)) => l
                        .get(usize::try_from(*i).map_err(|_| "index out of range")?)
                        .cloned()
                        .ok_or_else(|| format!("index out of range: {i}"))?,
                    _ => {
                        return Err(format!(
                            "can't index {} with {}",
                            format_value(&v),
                            format_value(&key)
                        ))
                    }
                };
            }
            v
        }
        "slice" => {
            let idx = |i: usize| -> Result<Option<usize>, String> {
                match args.get(i) {
                    Some(Int(n)) => usize::try_from(*n)
                        .map(Some)
                        .map_err(|_| "negative index".to_string()),
                    Some(_) => Err("slice index must be an integer".into()),
                    None => Ok(None),
                }
            };
            let (a, b) = (idx(1)?, idx(2)?);
            match args.first() {
                Some(Str(x)) => {
                    let b = b.unwrap_or(x.len());
                    Str(x
                        .get(a.unwrap_or(0)..b)
                        .ok_or("slice index out of range")?
                        .to_string())
                }
                Some(List(l)) => {
                    let b = b.unwrap_or(l.len());
                    List(
                        l.get(a.unwrap_or(0)..b)
                            .ok_or("slice index out of range")?
                            .to_vec(),
                    )
                }
                _ => return Err("can't slice".into()),
            }
        }
        "print" => {
            // Go's Sprint adds spaces between operands when neither is a string.
            let mut out = String::new();
            for (i, a) in args.iter().enumerate() {
                if i > 0 && !matches!(a, Str(_)) && !matches!(args[i - 1], Str(_)) {
                    out.push(' ');
                }
                out.push_str(&arg_str(a));
            }
            Str(out)
        }
        "println" => Str(format!(
            "{}\n",
            args.iter().map(arg_str).collect::<Vec<_>>().join(" ")
        )),
        "printf" => {
            let (fmt, rest) = args.split_first().ok_or("wrong number of args")?;
            Str(sprintf(&arg_str(fmt), rest))
        }
        "eq" => {
            if args.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            let mut any = false;
            for b in &args[1..] {
                any |= equal(&args[0], b)?;
            }
            Bool(any)
        }
        "ne" => {
            want(&args, 2)?;
            Bool(!equal(&args[0], &args[1])?)
        }
        "lt" | "le" | "gt" | "ge" => {
            want(&args, 2)?;
            let o = compare(&args[0], &args[1])?;
            Bool(match name {
                "lt" => o.is_lt(),
                "le" => o.is_le(),
                "gt" => o.is_gt(),
                _ => o.is_ge(),
            })
        }
        "html" => Str(s(0)
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&#34;")
            .replace('\'', "&#39;")),
        "js" => Str(s(0)
            .replace('\\', "\\\\")
            .replace('\'', "\\'")
            .replace('"', "\\\"")
            .replace('<', "\\u003C")
            .replace('>', "\\u003E")),
        "urlquery" => Str(query_escape(&args.iter().map(arg_str).collect::<String>())),
        "query" => {
            want(&args, 1)?;
            let q = env
                .query
                .ok_or("the query function is not available here: no query engine was given")?;
            let samples = q(&s(0))?;
            List(
                samples
                    .into_iter()
                    .map(|(l, v)| Value::map([("Labels", Value::labels(&l)), ("Value", Float(v))]))
                    .collect(),
            )
        }
        "first" => {
            want(&args, 1)?;
            sample_list(&args[0])?
                .first()
                .cloned()
                .ok_or("first() called on vector with no elements")?
        }
        "label" => {
            want(&args, 2)?;
            field(&field(&args[1], "Labels")?, &s(0))?
        }
        "value" => {
            want(&args, 1)?;
            field(&args[0], "Value")?
        }
        "strvalue" => {
            want(&args, 1)?;
            field(&field(&args[0], "Labels")?, "__value__")?
        }
        "sortByLabel" => {
            want(&args, 2)?;
            let label = s(0);
            let mut l = sample_list(&args[1])?.to_vec();
            l.sort_by_key(|x| {
                field(x, "Labels")
                    .and_then(|ls| field(&ls, &label))
                    .map(|v| arg_str(&v))
                    .unwrap_or_default()
            });
            List(l)
        }
        "args" => Map(args
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("arg{i}"), a.clone()))
            .collect()),
        "reReplaceAll" => {
            want(&args, 3)?;
            let re = regex::Regex::new(&s(0)).map_err(|e| e.to_string())?;
            Str(re.replace_all(&s(2), s(1).as_str()).into_owned())
        }
        "match" => {
            want(&args, 2)?;
            let re = regex::Regex::new(&s(0)).map_err(|e| e.to_string())?;
            Bool(re.is_match(&s(1)))
        }
        "safeHtml" | "safeUrl" => Str(s(0)),
        "urlUnescape" => Str(unescape(&s(0))?),
        "title" => Str(title(&s(0))),
        "toUpper" => Str(s(0).to_uppercase()),
        "toLower" => Str(s(0).to_lowercase()),
        "trimSpace" => Str(s(0).trim().to_string()),
        "join" => {
            want(&args, 2)?;
            let items = match &args[1] {
                List(l) => l.iter().map(arg_str).collect::<Vec<_>>(),
                other => return Err(format!("join needs a list, got {}", format_value(other))),
            };
            Str(items.join(&s(0)))
        }
        "stringSlice" => List(args),
        "graphLink" | "tableLink" => {
            let tab = if name == "graphLink" { 0 } else { 1 };
            Str(format!(
                "{}/graph?g0.expr={}&g0.tab={tab}",
                env.external_url,
                query_escape(&s(0))
            ))
        }
        "externalURL" => Str(env.external_url.to_string()),
        "pathPrefix" => {
            let u = env.external_url;
            let after_scheme = u.split_once("://").map(|x| x.1).unwrap_or(u);
            Str(after_scheme
                .find('/')
                .map(|i| after_scheme[i..].to_string())
                .unwrap_or_default())
        }
        "humanize" => Str(humanize(to_float(
            args.first().ok_or("wrong number of args")?,
        )?)),
        "humanize1024" => Str(humanize1024(to_float(
            args.first().ok_or("wrong number of args")?,
        )?)),
        "humanizeDuration" => Str(humanize_duration(to_float(
            args.first().ok_or("wrong number of args")?,
        )?)),
        "humanizePercentage" => Str(format!(
            "{}%",
            format_g(
                to_float(args.first().ok_or("wrong number of args")?)? * 100.0,
                4,
                false
            )
        )),
        "humanizeTimestamp" => {
            let v = to_float(args.first().ok_or("wrong number of args")?)?;
            if !v.is_finite() {
                Str(format_g(v, 4, false))
            } else {
                Str(format_value(&Time(to_time(v)?)))
            }
        }
        "toTime" => Time(to_time(to_float(
            args.first().ok_or("wrong number of args")?,
        )?)?),
        "toDuration" | "parseDuration" => {
            let d = match args.first() {
                Some(Str(x)) if name == "parseDuration" => {
                    crate::duration::parse_duration(x)?.as_seconds_f64()
                }
                Some(v) => to_float(v)?,
                None => return Err("wrong number of args".into()),
            };
            Float(d)
        }
        "stripPort" => {
            let x = s(0);
            Str(split_host_port(&x).map(|(h, _)| h.to_string()).unwrap_or(x))
        }
        "stripDomain" => {
            let x = s(0);
            let (host, port) = match split_host_port(&x) {
                Some((h, p)) => (h.to_string(), Some(p.to_string())),
                None => (x.clone(), None),
            };
            if host.parse::<std::net::IpAddr>().is_ok() {
                return Ok(Str(x));
            }
            let short = host.split('.').next().unwrap_or(&host).to_string();
            Str(match port {
                Some(p) => format!("{short}:{p}"),
                None => short,
            })
        }
        "date" => {
            want(&args, 2)?;
            match &args[1] {
                Time(t) => Str(format_time(*t, &s(0))),
                other => return Err(format!("date needs a time, got {}", format_value(other))),
            }
        }
        other => return Err(format!("function {other:?} not defined")),
    })
}

/// Checks at parse time that every function a template names exists, as Go
/// does (`function "foo" not defined`), so a typo fails on import rather
/// than at 3 a.m.
pub(super) fn check_functions(nodes: &[Node], name: &str) -> Result<(), TemplateError> {
    fn pipe(p: &Pipe, name: &str) -> Result<(), TemplateError> {
        for cmd in &p.cmds {
            for t in cmd {
                match t {
                    Term::Ident(f) if !FUNCTIONS.contains(&f.as_str()) => {
                        return Err(TemplateError(format!(
                            "template: {name}: function {f:?} not defined"
                        )))
                    }
                    Term::Sub(p, _) => pipe(p, name)?,
                    _ => {}
                }
            }
        }
        Ok(())
    }
    for n in nodes {
        match n {
            Node::Action { pipe: p, .. } => pipe(p, name)?,
            Node::If {
                pipe: p,
                then,
                otherwise,
                ..
            }
            | Node::With {
                pipe: p,
                then,
                otherwise,
                ..
            } => {
                pipe(p, name)?;
                check_functions(then, name)?;
                check_functions(otherwise, name)?;
            }
            Node::Range {
                pipe: p,
                body,
                otherwise,
                ..
            } => {
                pipe(p, name)?;
                check_functions(body, name)?;
                check_functions(otherwise, name)?;
            }
            Node::Template { pipe: Some(p), .. } => pipe(p, name)?,
            Node::Template { pipe: None, .. } | Node::Text(_) | Node::Break | Node::Continue => {}
        }
    }
    Ok(())
}

/// Checks that every `$variable` is declared before use, as Go's parser does
/// (`undefined variable "$x"`); `predeclared` are the names the caller
/// defines (Prometheus defines `labels`, `value`, `externalLabels`,
/// `externalURL`).
pub(super) fn check_vars(
    nodes: &[Node],
    defines: &BTreeMap<String, Vec<Node>>,
    name: &str,
    predeclared: &[&str],
) -> Result<(), TemplateError> {
    fn pipe_uses(p: &Pipe, scope: &[String], name: &str) -> Result<(), TemplateError> {
        for cmd in &p.cmds {
            for t in cmd {
                match t {
                    Term::Var(v, _) if !v.is_empty() && !scope.iter().any(|s| s == v) => {
                        return Err(TemplateError(format!(
                            "template: {name}: undefined variable \"${v}\""
                        )))
                    }
                    Term::Sub(p, _) => pipe_uses(p, scope, name)?,
                    _ => {}
                }
            }
        }
        Ok(())
    }
    fn walk(nodes: &[Node], scope: &mut Vec<String>, name: &str) -> Result<(), TemplateError> {
        for n in nodes {
            match n {
                Node::Action { pipe, .. } => {
                    pipe_uses(pipe, scope, name)?;
                    if !pipe.assign {
                        scope.extend(pipe.decl.iter().cloned());
                    } else if let Some(v) = pipe.decl.iter().find(|v| !scope.contains(v)) {
                        return Err(TemplateError(format!(
                            "template: {name}: undefined variable \"${v}\""
                        )));
                    }
                }
                Node::If {
                    pipe,
                    then,
                    otherwise,
                    ..
                }
                | Node::With {
                    pipe,
                    then,
                    otherwise,
                    ..
                }
                | Node::Range {
                    pipe,
                    body: then,
                    otherwise,
                    ..
                } => {
                    pipe_uses(pipe, scope, name)?;
                    let mark = scope.len();
                    scope.extend(pipe.decl.iter().cloned());
                    walk(then, scope, name)?;
                    scope.truncate(mark);
                    scope.extend(pipe.decl.iter().cloned());
                    walk(otherwise, scope, name)?;
                    scope.truncate(mark);
                }
                Node::Template { pipe: Some(p), .. } => pipe_uses(p, scope, name)?,
                Node::Template { pipe: None, .. }
                | Node::Text(_)
                | Node::Break
                | Node::Continue => {}
            }
        }
        Ok(())
    }
    let mut scope: Vec<String> = predeclared.iter().map(|s| s.to_string()).collect();
    walk(nodes, &mut scope, name)?;
    for body in defines.values() {
        walk(body, &mut Vec::new(), name)?;
    }
    Ok(())
}
