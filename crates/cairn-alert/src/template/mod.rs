//! A Go `text/template` engine for the templates alert rules and
//! notifications are written in.
//!
//! Rule files imported unchanged from Prometheus carry Go templates in their
//! labels and annotations (`{{ $labels.instance }}`, `{{ $value | humanize
//! }}`), and Alertmanager users write notification templates against its
//! data (`{{ .CommonLabels.alertname }}`, `{{ range .Alerts.Firing }}`). This
//! module parses and runs that language with Go's semantics for what those
//! files use: actions and pipelines, variables (`:=`, `=`), `if`/`else
//! if`/`else`, `range` (with `break`/`continue` and `else`), `with`,
//! `define`/`template`/`block`, comments and `{{-`/`-}}` trimming, and
//! the functions of Prometheus' and Alertmanager's template packages listed
//! in [`FUNCTIONS`].
//!
//! Data is dynamic ([`Value`]), since templates walk labels and alerts by
//! name. A few Go methods that real templates call are fields here:
//! `.SortedPairs`, `.Names`, `.Values` and `.Remove` on label maps,
//! `.Firing` and `.Resolved` on alert lists, `.Format`, `.Unix` on times.
//!
//! Left out: `html/template`'s contextual escaping, Go method calls beyond
//! those, and complex numbers. `query` works only when the caller supplies
//! a [`QueryFn`]; without one it fails with a clear error, because the crate
//! is pure and cannot reach a time-series store itself.

mod exec;
pub(crate) mod gofmt;
mod parse;

use std::collections::BTreeMap;

use crate::labels::LabelSet;

pub use exec::{query_escape, FUNCTIONS};

/// A template value: what `.` and variables hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Time(time::OffsetDateTime),
}

impl Value {
    /// A map value from `(key, value)` pairs.
    pub fn map<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A label set as a map of strings.
    pub fn labels(ls: &LabelSet) -> Value {
        Value::Map(
            ls.iter()
                .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
                .collect(),
        )
    }

    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    /// Go's truth: false, 0, nil and empty strings, lists and maps are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Time(_) => true,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

/// Why a template did not parse or run; the message follows Go's
/// `template: NAME:LINE: …` shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// Runs a PromQL query for the `query` template function, at the
/// evaluation time the caller chose; returns `(labels, value)` samples.
pub type QueryFn<'a> = &'a dyn Fn(&str) -> Result<Vec<(LabelSet, f64)>, String>;

/// What a template can see beyond its data.
#[derive(Default, Clone, Copy)]
pub struct Env<'a> {
    /// Variables defined before the template runs (`$labels`, `$value`…),
    /// without the `$`.
    pub vars: &'a [(&'a str, Value)],
    /// For `externalURL`, `pathPrefix`, `graphLink`, `tableLink`.
    pub external_url: &'a str,
    /// For `query`; `None` makes `query` an error.
    pub query: Option<QueryFn<'a>>,
    /// Named templates available to `{{ template "x" }}` besides the
    /// template's own `define`s (a notification template library).
    pub library: Option<&'a Template>,
}

/// A parsed template, with its `define`d sub-templates.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    name: String,
    root: Vec<parse::Node>,
    defines: BTreeMap<String, Vec<parse::Node>>,
}

impl Template {
    /// Parses `text`; `name` appears in error messages.
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        let parsed = parse::parse(name, text)?;
        exec::check_functions(&parsed.root, name)?;
        for (_, body) in &parsed.defines {
            exec::check_functions(body, name)?;
        }
        Ok(Template {
            name: name.to_string(),
            root: parsed.root,
            defines: parsed.defines.into_iter().collect(),
        })
    }

    /// Checks that every variable the template uses is declared, given the
    /// ones the caller will define (without `$`).
    pub fn check_vars(&self, predeclared: &[&str]) -> Result<(), TemplateError> {
        exec::check_vars(&self.root, &self.defines, &self.name, predeclared)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds `other`'s definitions, replacing same-named ones (Go's
    /// `AddParseTree` as used for template libraries).
    pub fn absorb(&mut self, other: &Template) {
        for (k, v) in &other.defines {
            self.defines.insert(k.clone(), v.clone());
        }
    }

    /// Whether a sub-template of this name is defined.
    pub fn has_define(&self, name: &str) -> bool {
        self.defines.contains_key(name)
    }

    /// Runs the template over `data`.
    pub fn render(&self, data: &Value, env: &Env<'_>) -> Result<String, TemplateError> {
        exec::run(self, &self.root, data, env)
    }

    /// Runs the sub-template `name` (from this template or the library).
    pub fn render_define(
        &self,
        name: &str,
        data: &Value,
        env: &Env<'_>,
    ) -> Result<String, TemplateError> {
        let nodes = self
            .defines
            .get(name)
            .or_else(|| env.library.and_then(|l| l.defines.get(name)))
            .ok_or_else(|| {
                TemplateError(format!(
                    "template: no template {name:?} associated with template {:?}",
                    self.name
                ))
            })?;
        exec::run(self, nodes, data, env)
    }
}

/// The variables Prometheus defines for alerting-rule templates.
pub const ALERT_TEMPLATE_VARS: &[&str] = &["labels", "externalLabels", "externalURL", "value"];

/// Parses and checks an alerting-rule template as Prometheus does when it
/// loads a rule file.
pub fn check_alert_template(name: &str, text: &str) -> Result<(), TemplateError> {
    let t = Template::parse(name, text)?;
    t.check_vars(ALERT_TEMPLATE_VARS)
}

/// Expands a Prometheus alerting-rule template the way Prometheus does: with
/// `$labels`, `$value`, `$externalLabels` and `$externalURL` defined and `.`
/// holding `Labels`, `Value`, `ExternalLabels` and `ExternalURL`.
pub fn expand_alert_template(
    name: &str,
    text: &str,
    labels: &LabelSet,
    value: f64,
    external_labels: &LabelSet,
    external_url: &str,
    query: Option<QueryFn<'_>>,
) -> Result<String, TemplateError> {
    // Fast path: most label values hold no template at all.
    if !text.contains("{{") {
        return Ok(text.to_string());
    }
    let tmpl = Template::parse(name, text)?;
    let vars = [
        ("labels", Value::labels(labels)),
        ("externalLabels", Value::labels(external_labels)),
        ("externalURL", Value::str(external_url)),
        ("value", Value::Float(value)),
    ];
    let data = Value::map([
        ("Labels", vars[0].1.clone()),
        ("ExternalLabels", vars[1].1.clone()),
        ("ExternalURL", vars[2].1.clone()),
        ("Value", vars[3].1.clone()),
    ]);
    tmpl.render(
        &data,
        &Env {
            vars: &vars,
            external_url,
            query,
            library: None,
        },
    )
}

#[cfg(test)]
mod tests;
