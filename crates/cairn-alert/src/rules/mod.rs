//! Alerting and recording rules: Prometheus rule files read unchanged,
//! checked with errors that name the file, line, group, rule and field, and
//! evaluated by a pure state machine ([`eval`]).
//!
//! A rule file is YAML: `groups: [{name, interval, limit, query_offset,
//! labels, rules: [{alert | record, expr, for, keep_firing_for, labels,
//! annotations}]}]`. Checks follow Prometheus' `rulefmt`: unknown fields are
//! errors, group names are unique within a file, a rule is either an alert or
//! a record, recording rules take no `for`, `keep_firing_for` or
//! annotations, names are valid, durations parse, the expression parses (here
//! with cairn's own PromQL engine) and every template parses.

pub mod eval;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::duration::parse_duration;
use crate::labels::{is_valid_label_name, is_valid_metric_name, LabelSet, METRIC_NAME};
use crate::template::check_alert_template;
use crate::yaml::{self, Node, Pos, YamlError};

pub use eval::{
    group_eval_offset, next_evaluation, samples_from_value, ActiveAlert, AlertRuleState,
    AlertState, EvalContext, EvalOutput, GroupState, Health, RuleEnv, RuleHealth, RuleState,
    Sample, RESOLVED_RETENTION,
};

/// A parsed rule file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleFile {
    /// The file name it was read from; part of every group's identity.
    pub file: String,
    pub groups: Vec<RuleGroup>,
}

/// A group of rules evaluated together, in order, every `interval`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleGroup {
    pub name: String,
    pub file: String,
    /// How often to evaluate; `None` means the global default.
    #[serde(default, with = "opt_duration")]
    pub interval: Option<time::Duration>,
    /// Evaluate each query this long in the past, for late-arriving data.
    #[serde(default, with = "opt_duration")]
    pub query_offset: Option<time::Duration>,
    /// The most alerts (or recorded series) a rule may produce; 0 = no limit.
    #[serde(default)]
    pub limit: usize,
    /// Labels added to every rule of the group (rule labels win).
    #[serde(default)]
    pub labels: LabelSet,
    pub rules: Vec<Rule>,
    /// The line the group starts on, for messages.
    #[serde(default)]
    pub line: usize,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Rule {
    Alerting(AlertingRule),
    Recording(RecordingRule),
}

/// `alert:` — turns each series the expression returns into an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertingRule {
    pub alert: String,
    pub expr: String,
    /// How long the series must be returned before the alert fires.
    #[serde(default, with = "crate::duration::serde_text")]
    pub r#for: time::Duration,
    /// How long the alert keeps firing after the series went away.
    #[serde(default, with = "crate::duration::serde_text")]
    pub keep_firing_for: time::Duration,
    #[serde(default)]
    pub labels: LabelSet,
    #[serde(default)]
    pub annotations: LabelSet,
    #[serde(default)]
    pub line: usize,
}

/// `record:` — stores the expression's result under a new metric name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingRule {
    pub record: String,
    pub expr: String,
    #[serde(default)]
    pub labels: LabelSet,
    #[serde(default)]
    pub line: usize,
}

impl Rule {
    /// The alert or record name.
    pub fn name(&self) -> &str {
        match self {
            Rule::Alerting(r) => &r.alert,
            Rule::Recording(r) => &r.record,
        }
    }

    pub fn expr(&self) -> &str {
        match self {
            Rule::Alerting(r) => &r.expr,
            Rule::Recording(r) => &r.expr,
        }
    }

    pub fn labels(&self) -> &LabelSet {
        match self {
            Rule::Alerting(r) => &r.labels,
            Rule::Recording(r) => &r.labels,
        }
    }

    pub fn line(&self) -> usize {
        match self {
            Rule::Alerting(r) => r.line,
            Rule::Recording(r) => r.line,
        }
    }
}

mod opt_duration {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<time::Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&crate::duration::format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<time::Duration>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) => crate::duration::parse_duration(&s)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

/// One problem found in a rule file, with everything needed to find it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleError {
    pub file: String,
    /// Where in the file (1-based), when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub group: Option<String>,
    /// 1-based position of the rule in its group.
    pub rule_index: Option<usize>,
    /// The rule's alert or record name, when it has one.
    pub rule: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        f.write_str(":")?;
        if let Some(g) = &self.group {
            write!(f, " group {g:?}")?;
        }
        if let Some(i) = self.rule_index {
            write!(f, ", rule {i}")?;
            if let Some(r) = &self.rule {
                write!(f, " ({r})")?;
            }
        }
        if let Some(field) = &self.field {
            write!(f, ", field {field}")?;
        }
        if self.group.is_some() || self.rule_index.is_some() || self.field.is_some() {
            f.write_str(":")?;
        }
        write!(f, " {}", self.message)
    }
}

/// Every problem found in a rule file; a file with any is not loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub struct RuleFileErrors(pub Vec<RuleError>);

impl fmt::Display for RuleFileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

struct Ctx<'a> {
    file: &'a str,
    group: Option<String>,
    rule_index: Option<usize>,
    rule: Option<String>,
    errors: Vec<RuleError>,
}

impl Ctx<'_> {
    fn push(&mut self, pos: Option<Pos>, field: Option<&str>, message: impl Into<String>) {
        self.errors.push(RuleError {
            file: self.file.to_string(),
            line: pos.map(|p| p.line),
            // Column 0 means "the line is known, the column is not".
            column: pos.map(|p| p.col).filter(|&c| c > 0),
            group: self.group.clone(),
            rule_index: self.rule_index,
            rule: self.rule.clone(),
            field: field.map(str::to_string),
            message: message.into(),
        });
    }

    fn yaml(&mut self, e: YamlError) {
        self.push(Some(e.pos), None, e.message);
    }
}

/// Parses and checks a Prometheus rule file. `file` names it in errors and
/// becomes part of each group's identity.
pub fn parse_rule_file(file: &str, text: &str) -> Result<RuleFile, RuleFileErrors> {
    let mut ctx = Ctx {
        file,
        group: None,
        rule_index: None,
        rule: None,
        errors: Vec::new(),
    };
    let doc = match yaml::parse(text) {
        Ok(d) => d,
        Err(e) => {
            ctx.yaml(e);
            return Err(RuleFileErrors(ctx.errors));
        }
    };
    let mut groups = Vec::new();
    match doc.map("rule file") {
        Err(e) => ctx.yaml(e),
        Ok(mut top) => {
            let groups_node = top.get("groups");
            if let Err(e) = top.finish() {
                ctx.yaml(e);
            }
            if let Some(gn) = groups_node {
                match gn.seq("groups") {
                    Err(e) => ctx.yaml(e),
                    Ok(items) => {
                        for g in items {
                            if let Some(group) = parse_group(&mut ctx, g) {
                                groups.push(group);
                            }
                        }
                    }
                }
            }
        }
    }
    // Duplicate group names, reported at the repeat.
    let mut seen: Vec<&str> = Vec::new();
    let mut dups = Vec::new();
    for g in &groups {
        if seen.contains(&g.name.as_str()) {
            dups.push((g.name.clone(), g.line));
        }
        seen.push(&g.name);
    }
    for (name, line) in dups {
        ctx.group = Some(name.clone());
        ctx.rule_index = None;
        ctx.rule = None;
        ctx.push(
            Some(Pos { line, col: 0 }),
            Some("name"),
            format!("groupname: {name:?} is repeated in the same file"),
        );
    }
    if ctx.errors.is_empty() {
        Ok(RuleFile {
            file: file.to_string(),
            groups,
        })
    } else {
        ctx.errors.sort_by_key(|e| (e.line, e.column));
        Err(RuleFileErrors(ctx.errors))
    }
}

fn duration_field(ctx: &mut Ctx<'_>, node: Option<&Node>, field: &str) -> Option<time::Duration> {
    let node = node?;
    match node.str(field) {
        Err(e) => {
            ctx.yaml(e);
            None
        }
        Ok(s) => match parse_duration(&s) {
            Ok(d) => Some(d),
            Err(msg) => {
                ctx.push(Some(node.pos), Some(field), msg);
                None
            }
        },
    }
}

fn label_map(
    ctx: &mut Ctx<'_>,
    node: Option<&Node>,
    field: &str,
    annotations: bool,
) -> (LabelSet, Vec<(String, Pos)>) {
    let Some(node) = node else {
        return Default::default();
    };
    let entries = match node.string_map(field) {
        Ok(e) => e,
        Err(e) => {
            ctx.yaml(e);
            return Default::default();
        }
    };
    let mut out = LabelSet::new();
    let mut positions = Vec::new();
    for (k, v, pos) in entries {
        if !is_valid_label_name(&k) || (!annotations && k == METRIC_NAME) {
            let what = if annotations { "annotation" } else { "label" };
            ctx.push(Some(pos), Some(field), format!("invalid {what} name: {k}"));
        }
        positions.push((k.clone(), pos));
        out.insert(k, v);
    }
    (out, positions)
}

fn parse_group(ctx: &mut Ctx<'_>, node: &Node) -> Option<RuleGroup> {
    ctx.group = None;
    ctx.rule_index = None;
    ctx.rule = None;
    let mut m = match node.map("group") {
        Ok(m) => m,
        Err(e) => {
            ctx.yaml(e);
            return None;
        }
    };
    let name = match m.opt_str("name") {
        Ok(n) => n.unwrap_or_default(),
        Err(e) => {
            ctx.yaml(e);
            String::new()
        }
    };
    ctx.group = Some(name.clone());
    if name.is_empty() {
        ctx.push(Some(node.pos), Some("name"), "Groupname must not be empty");
    }
    let interval = duration_field(ctx, m.get("interval"), "interval");
    let query_offset = duration_field(ctx, m.get("query_offset"), "query_offset");
    let limit = match m.get("limit") {
        None => 0,
        Some(n) => match n.int("limit") {
            Ok(v) if v >= 0 => v as usize,
            Ok(_) => {
                ctx.push(Some(n.pos), Some("limit"), "limit must not be negative");
                0
            }
            Err(e) => {
                ctx.yaml(e);
                0
            }
        },
    };
    let (labels, _) = label_map(ctx, m.get("labels"), "labels", false);
    let rules_node = m.get("rules");
    if let Err(e) = m.finish() {
        ctx.yaml(e);
    }
    let mut rules = Vec::new();
    if let Some(rn) = rules_node {
        match rn.seq("rules") {
            Err(e) => ctx.yaml(e),
            Ok(items) => {
                for (i, r) in items.iter().enumerate() {
                    ctx.rule_index = Some(i + 1);
                    ctx.rule = None;
                    if let Some(rule) = parse_rule(ctx, r) {
                        rules.push(rule);
                    }
                }
            }
        }
    }
    ctx.rule_index = None;
    ctx.rule = None;
    Some(RuleGroup {
        name,
        file: ctx.file.to_string(),
        interval,
        query_offset,
        limit,
        labels,
        rules,
        line: node.pos.line,
    })
}

fn parse_rule(ctx: &mut Ctx<'_>, node: &Node) -> Option<Rule> {
    let errors_before = ctx.errors.len();
    let mut m = match node.map("rule") {
        Ok(m) => m,
        Err(e) => {
            ctx.yaml(e);
            return None;
        }
    };
    let text = |m: &mut yaml::MapReader<'_>,
                ctx: &mut Ctx<'_>,
                key: &str|
     -> (Option<String>, Option<Pos>) {
        match m.get(key) {
            None => (None, None),
            Some(n) => match n.str(key) {
                Ok(s) => (Some(s), Some(n.pos)),
                Err(e) => {
                    ctx.yaml(e);
                    (None, Some(n.pos))
                }
            },
        }
    };
    let (alert, _) = text(&mut m, ctx, "alert");
    let (record, record_pos) = text(&mut m, ctx, "record");
    let (expr, expr_pos) = text(&mut m, ctx, "expr");
    ctx.rule = alert.clone().or_else(|| record.clone());
    let for_node = m.get("for");
    let keep_node = m.get("keep_firing_for");
    let labels_node = m.get("labels");
    let annotations_node = m.get("annotations");
    if let Err(e) = m.finish() {
        ctx.yaml(e);
    }
    let alert = alert.filter(|s| !s.is_empty());
    let record = record.filter(|s| !s.is_empty());
    match (&alert, &record) {
        (Some(_), Some(_)) => ctx.push(
            Some(node.pos),
            None,
            "only one of 'record' and 'alert' must be set",
        ),
        (None, None) => ctx.push(
            Some(node.pos),
            None,
            "one of 'record' or 'alert' must be set",
        ),
        _ => {}
    }
    let expr = expr.unwrap_or_default();
    if expr.trim().is_empty() {
        ctx.push(
            Some(node.pos),
            Some("expr"),
            "field 'expr' must be set in rule",
        );
    } else if let Err(msg) = check_expr(&expr) {
        ctx.push(expr_pos, Some("expr"), msg);
    }
    let for_ = duration_field(ctx, for_node, "for").unwrap_or(time::Duration::ZERO);
    let keep = duration_field(ctx, keep_node, "keep_firing_for").unwrap_or(time::Duration::ZERO);
    let (labels, label_pos) = label_map(ctx, labels_node, "labels", false);
    let (annotations, annotation_pos) = label_map(ctx, annotations_node, "annotations", true);
    let tmpl_name = format!("__alert_{}", alert.as_deref().unwrap_or(""));
    if let Some(rec) = &record {
        if !is_valid_metric_name(rec) {
            ctx.push(
                record_pos,
                Some("record"),
                format!("invalid recording rule name: {rec}"),
            );
        }
        for (field, n) in [
            ("for", for_node),
            ("keep_firing_for", keep_node),
            ("annotations", annotations_node),
        ] {
            if let Some(n) = n {
                ctx.push(
                    Some(n.pos),
                    Some(field),
                    format!("invalid field '{field}' in recording rule"),
                );
            }
        }
    }
    if alert.is_some() {
        // Label values and annotations are templates in alerting rules.
        for (field, set, positions) in [
            ("labels", &labels, &label_pos),
            ("annotations", &annotations, &annotation_pos),
        ] {
            for (k, pos) in positions {
                if let Err(e) = check_alert_template(&tmpl_name, &set[k]) {
                    ctx.push(
                        Some(*pos),
                        Some(&format!("{field}.{k}")),
                        format!("invalid template: {e}"),
                    );
                }
            }
        }
    }
    if ctx.errors.len() > errors_before {
        return None;
    }
    let line = node.pos.line;
    Some(match (alert, record) {
        (Some(alert), None) => Rule::Alerting(AlertingRule {
            alert,
            expr,
            r#for: for_,
            keep_firing_for: keep,
            labels,
            annotations,
            line,
        }),
        (None, Some(record)) => Rule::Recording(RecordingRule {
            record,
            expr,
            labels,
            line,
        }),
        _ => return None,
    })
}

/// Parses the expression with cairn's PromQL engine, and checks that it
/// yields something a rule can use (an instant vector or a scalar).
pub fn check_expr(expr: &str) -> Result<(), String> {
    struct Empty;
    impl cairn_promql::Storage for Empty {
        fn select(
            &self,
            _: &[cairn_promql::Matcher],
            _: i64,
            _: i64,
        ) -> Result<Vec<cairn_promql::Series>, String> {
            Ok(Vec::new())
        }
    }
    // Evaluating over empty storage parses and plans the expression without
    // touching data; the engine's own parser is the single source of truth
    // for what cairn can evaluate later.
    match cairn_promql::Engine::default().instant(&Empty, expr, 0) {
        Ok(cairn_promql::Value::Vector(_) | cairn_promql::Value::Scalar { .. }) => Ok(()),
        Ok(other) => Err(format!(
            "rule expression must return an instant vector or a scalar, not a {}",
            other.result_type()
        )),
        Err(
            e @ (cairn_promql::QueryError::Parse { .. }
            | cairn_promql::QueryError::Unsupported(_)
            | cairn_promql::QueryError::InvalidQuery(_)),
        ) => Err(format!("could not parse expression: {e}")),
        // A failure to evaluate over no data is not the expression's fault.
        Err(_) => Ok(()),
    }
}
