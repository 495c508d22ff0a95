//! Lowers `promql-parser`'s AST into the evaluator's own tree.
//!
//! The parser follows current Prometheus and accepts syntax that Prometheus
//! 2.42 does not know (`limitk`, `fill()`, `or` inside braces, newer
//! functions). Lowering is where those are rejected with a clear message, so
//! the evaluator only ever sees what it implements. It also resolves
//! `@ start()`/`@ end()` against the query's range, turns durations into
//! milliseconds and drops parentheses, which carry no meaning after parsing.

use std::sync::Once;
use std::time::{Duration, SystemTime};

use promql_parser::label::{MatchOp as ParserOp, Matchers};
use promql_parser::parser::{self, token, AtModifier, Expr, LabelModifier, Offset};
use promql_parser::parser::{value::ValueType as ParserType, VectorMatchCardinality};

use crate::labels::{self, METRIC_NAME};
use crate::{Labels, MatchOp, Matcher, QueryError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueType {
    Scalar,
    Vector,
    Matrix,
    String,
}

impl ValueType {
    /// The name Prometheus uses in error messages.
    pub(crate) fn documented(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            ValueType::String => "string",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Number(f64),
    Str(String),
    Selector(Selector),
    Range(RangeSelector),
    Subquery(Box<Subquery>),
    Neg(Box<Node>),
    Binary(Box<Binary>),
    Aggregate(Box<Aggregate>),
    Call(Box<Call>),
}

/// An instant vector selector.
#[derive(Debug, Clone)]
pub(crate) struct Selector {
    pub matchers: Vec<Matcher>,
    /// Milliseconds; negative for `offset -5m`.
    pub offset: i64,
    /// The `@` time in milliseconds, with `start()`/`end()` resolved.
    pub at: Option<i64>,
    /// The labels `absent()` reports when this selector matches nothing.
    pub absent_labels: Labels,
}

#[derive(Debug, Clone)]
pub(crate) struct RangeSelector {
    pub sel: Selector,
    pub range: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct Subquery {
    pub expr: Node,
    pub range: i64,
    /// `None` when the query leaves the step out (or writes a zero step).
    pub step: Option<i64>,
    pub offset: i64,
    pub at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eql,
    Neq,
    Gtr,
    Lss,
    Gte,
    Lte,
    And,
    Or,
    Unless,
}

impl BinOp {
    pub(crate) fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eql | BinOp::Neq | BinOp::Gtr | BinOp::Lss | BinOp::Gte | BinOp::Lte
        )
    }

    /// Prometheus 2.42 drops the metric name for arithmetic, but not for
    /// `atan2` or comparisons.
    pub(crate) fn drops_metric_name(self) -> bool {
        matches!(
            self,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Pow | BinOp::Mod
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

/// How two vectors are matched: `on`/`ignoring` labels and `group_x` extras.
#[derive(Debug, Clone)]
pub(crate) struct Matching {
    pub card: Card,
    pub on: bool,
    /// Sorted.
    pub labels: Vec<String>,
    pub include: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Binary {
    pub op: BinOp,
    pub lhs: Node,
    pub rhs: Node,
    pub return_bool: bool,
    pub matching: Matching,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AggOp {
    Sum,
    Avg,
    Count,
    Min,
    Max,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    CountValues,
    Quantile,
}

#[derive(Debug, Clone)]
pub(crate) struct Aggregate {
    pub op: AggOp,
    pub expr: Node,
    pub param: Option<Node>,
    pub without: bool,
    /// Sorted.
    pub grouping: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub func: Func,
    pub args: Vec<Node>,
}

macro_rules! functions {
    ($($variant:ident => $name:literal,)*) => {
        /// Every function of Prometheus 2.42's PromQL.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Func { $($variant,)* }

        impl Func {
            fn from_name(name: &str) -> Option<Func> {
                match name {
                    $($name => Some(Func::$variant),)*
                    _ => None,
                }
            }

            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(Func::$variant => $name,)*
                }
            }
        }
    };
}

functions! {
    Abs => "abs",
    Absent => "absent",
    AbsentOverTime => "absent_over_time",
    Acos => "acos",
    Acosh => "acosh",
    Asin => "asin",
    Asinh => "asinh",
    Atan => "atan",
    Atanh => "atanh",
    AvgOverTime => "avg_over_time",
    Ceil => "ceil",
    Changes => "changes",
    Clamp => "clamp",
    ClampMax => "clamp_max",
    ClampMin => "clamp_min",
    Cos => "cos",
    Cosh => "cosh",
    CountOverTime => "count_over_time",
    DaysInMonth => "days_in_month",
    DayOfMonth => "day_of_month",
    DayOfWeek => "day_of_week",
    DayOfYear => "day_of_year",
    Deg => "deg",
    Delta => "delta",
    Deriv => "deriv",
    Exp => "exp",
    Floor => "floor",
    HistogramCount => "histogram_count",
    HistogramFraction => "histogram_fraction",
    HistogramQuantile => "histogram_quantile",
    HistogramSum => "histogram_sum",
    HoltWinters => "holt_winters",
    Hour => "hour",
    Idelta => "idelta",
    Increase => "increase",
    Irate => "irate",
    LabelReplace => "label_replace",
    LabelJoin => "label_join",
    LastOverTime => "last_over_time",
    Ln => "ln",
    Log10 => "log10",
    Log2 => "log2",
    MaxOverTime => "max_over_time",
    MinOverTime => "min_over_time",
    Minute => "minute",
    Month => "month",
    Pi => "pi",
    PredictLinear => "predict_linear",
    PresentOverTime => "present_over_time",
    QuantileOverTime => "quantile_over_time",
    Rad => "rad",
    Rate => "rate",
    Resets => "resets",
    Round => "round",
    Scalar => "scalar",
    Sgn => "sgn",
    Sin => "sin",
    Sinh => "sinh",
    Sort => "sort",
    SortDesc => "sort_desc",
    Sqrt => "sqrt",
    StddevOverTime => "stddev_over_time",
    StdvarOverTime => "stdvar_over_time",
    SumOverTime => "sum_over_time",
    Tan => "tan",
    Tanh => "tanh",
    Time => "time",
    Timestamp => "timestamp",
    Vector => "vector",
    Year => "year",
}

impl Func {
    fn return_type(self) -> ValueType {
        match self {
            Func::Pi | Func::Scalar | Func::Time => ValueType::Scalar,
            _ => ValueType::Vector,
        }
    }
}

impl Node {
    pub(crate) fn value_type(&self) -> ValueType {
        match self {
            Node::Number(_) => ValueType::Scalar,
            Node::Str(_) => ValueType::String,
            Node::Selector(_) => ValueType::Vector,
            Node::Range(_) | Node::Subquery(_) => ValueType::Matrix,
            Node::Neg(inner) => inner.value_type(),
            Node::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Node::Aggregate(_) => ValueType::Vector,
            Node::Call(c) => c.func.return_type(),
        }
    }
}

/// `holt_winters` was renamed in Prometheus 3, so the parser no longer knows
/// it; it is registered once as an extra function so 2.42 queries parse.
fn register_legacy_functions() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Registration only fails on a clash with a built-in function, which
        // would mean the parser knows `holt_winters` itself: fine either way.
        let _ = parser::register_extra_functions(vec![parser::Function::new(
            "holt_winters",
            vec![ParserType::Matrix, ParserType::Scalar, ParserType::Scalar],
            0,
            ParserType::Vector,
            false,
        )]);
    });
}

/// Parses and lowers a query evaluated over `[start, end]` (milliseconds).
pub(crate) fn parse(query: &str, start: i64, end: i64) -> Result<Node, QueryError> {
    register_legacy_functions();
    let expr = parser::parse(query).map_err(|message| QueryError::Parse {
        message,
        position: None,
    })?;
    Lowering { start, end }.lower(&expr)
}

pub(crate) fn parse_selector(text: &str) -> Result<Vec<Matcher>, QueryError> {
    let expr = parser::parse(text).map_err(|message| QueryError::Parse {
        message,
        position: None,
    })?;
    match expr {
        Expr::VectorSelector(vs) if vs.offset.is_none() && vs.at.is_none() => {
            selector_matchers(vs.name.as_deref(), &vs.matchers)
        }
        _ => Err(QueryError::Parse {
            message: format!(
                "expected a series selector such as metric{{label=\"value\"}}, got {text:?}"
            ),
            position: None,
        }),
    }
}

fn selector_matchers(name: Option<&str>, matchers: &Matchers) -> Result<Vec<Matcher>, QueryError> {
    if !matchers.or_matchers.is_empty() {
        return Err(QueryError::Unsupported(
            "\"or\" between label matchers is not supported (it is not part of Prometheus 2.42 PromQL)"
                .into(),
        ));
    }
    let mut out = Vec::with_capacity(matchers.matchers.len() + 1);
    if let Some(name) = name {
        out.push(Matcher::new(METRIC_NAME, MatchOp::Equal, name));
    }
    for m in &matchers.matchers {
        let op = match m.op {
            ParserOp::Equal => MatchOp::Equal,
            ParserOp::NotEqual => MatchOp::NotEqual,
            ParserOp::Re(_) => MatchOp::RegexMatch,
            ParserOp::NotRe(_) => MatchOp::RegexNoMatch,
        };
        out.push(Matcher::new(m.name.clone(), op, m.value.clone()));
    }
    Ok(out)
}

fn millis(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn offset_millis(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => millis(d),
        Some(Offset::Neg(d)) => -millis(d),
    }
}

fn unsupported(what: &str) -> QueryError {
    QueryError::Unsupported(format!(
        "{what} is not supported (it is not part of Prometheus 2.42 PromQL)"
    ))
}

struct Lowering {
    start: i64,
    end: i64,
}

impl Lowering {
    fn at(&self, at: &Option<AtModifier>) -> Option<i64> {
        at.as_ref().map(|at| match at {
            AtModifier::Start => self.start,
            AtModifier::End => self.end,
            AtModifier::At(t) => match t.duration_since(SystemTime::UNIX_EPOCH) {
                Ok(d) => millis(&d),
                Err(e) => -millis(&e.duration()),
            },
        })
    }

    fn selector(&self, vs: &parser::VectorSelector) -> Result<Selector, QueryError> {
        let matchers = selector_matchers(vs.name.as_deref(), &vs.matchers)?;
        Ok(Selector {
            absent_labels: absent_labels(&matchers),
            matchers,
            offset: offset_millis(&vs.offset),
            at: self.at(&vs.at),
        })
    }

    fn lower(&self, expr: &Expr) -> Result<Node, QueryError> {
        Ok(match expr {
            Expr::NumberLiteral(n) => Node::Number(n.val),
            Expr::StringLiteral(s) => Node::Str(s.val.clone()),
            Expr::Paren(p) => self.lower(&p.expr)?,
            Expr::Unary(u) => Node::Neg(Box::new(self.lower(&u.expr)?)),
            Expr::VectorSelector(vs) => Node::Selector(self.selector(vs)?),
            Expr::MatrixSelector(ms) => Node::Range(RangeSelector {
                sel: self.selector(&ms.vs)?,
                range: millis(&ms.range),
            }),
            Expr::Subquery(sq) => Node::Subquery(Box::new(Subquery {
                expr: self.lower(&sq.expr)?,
                range: millis(&sq.range),
                step: sq.step.as_ref().map(millis).filter(|&s| s > 0),
                offset: offset_millis(&sq.offset),
                at: self.at(&sq.at),
            })),
            Expr::Binary(b) => Node::Binary(Box::new(self.binary(b)?)),
            Expr::Aggregate(a) => Node::Aggregate(Box::new(self.aggregate(a)?)),
            Expr::Call(c) => {
                let func = Func::from_name(c.func.name)
                    .ok_or_else(|| unsupported(&format!("function \"{}\"", c.func.name)))?;
                let args = c
                    .args
                    .args
                    .iter()
                    .map(|a| self.lower(a))
                    .collect::<Result<Vec<_>, _>>()?;
                Node::Call(Box::new(Call { func, args }))
            }
            Expr::Extension(_) => {
                return Err(QueryError::Unsupported(
                    "extension expressions are not supported".into(),
                ))
            }
        })
    }

    fn binary(&self, b: &parser::BinaryExpr) -> Result<Binary, QueryError> {
        let op = match b.op.id() {
            token::T_ADD => BinOp::Add,
            token::T_SUB => BinOp::Sub,
            token::T_MUL => BinOp::Mul,
            token::T_DIV => BinOp::Div,
            token::T_MOD => BinOp::Mod,
            token::T_POW => BinOp::Pow,
            token::T_ATAN2 => BinOp::Atan2,
            token::T_EQLC => BinOp::Eql,
            token::T_NEQ => BinOp::Neq,
            token::T_GTR => BinOp::Gtr,
            token::T_LSS => BinOp::Lss,
            token::T_GTE => BinOp::Gte,
            token::T_LTE => BinOp::Lte,
            token::T_LAND => BinOp::And,
            token::T_LOR => BinOp::Or,
            token::T_LUNLESS => BinOp::Unless,
            _ => return Err(unsupported(&format!("binary operator \"{}\"", b.op))),
        };
        let set_op = matches!(op, BinOp::And | BinOp::Or | BinOp::Unless);
        let mut matching = Matching {
            card: if set_op {
                Card::ManyToMany
            } else {
                Card::OneToOne
            },
            on: false,
            labels: Vec::new(),
            include: Vec::new(),
        };
        let mut return_bool = false;
        if let Some(m) = &b.modifier {
            if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                return Err(unsupported("the fill() vector matching modifier"));
            }
            return_bool = m.return_bool;
            match &m.card {
                VectorMatchCardinality::OneToOne => {}
                VectorMatchCardinality::ManyToMany => matching.card = Card::ManyToMany,
                VectorMatchCardinality::ManyToOne(ls) => {
                    matching.card = Card::ManyToOne;
                    matching.include = ls.labels.clone();
                }
                VectorMatchCardinality::OneToMany(ls) => {
                    matching.card = Card::OneToMany;
                    matching.include = ls.labels.clone();
                }
            }
            if set_op {
                matching.card = Card::ManyToMany;
            }
            if let Some(lm) = &m.matching {
                matching.on = matches!(lm, LabelModifier::Include(_));
                matching.labels = lm.labels().labels.clone();
                matching.labels.sort();
                matching.labels.dedup();
            }
        }
        if return_bool && !op.is_comparison() {
            return Err(QueryError::Parse {
                message: "bool modifier can only be used on comparison operators".into(),
                position: None,
            });
        }
        Ok(Binary {
            op,
            lhs: self.lower(&b.lhs)?,
            rhs: self.lower(&b.rhs)?,
            return_bool,
            matching,
        })
    }

    fn aggregate(&self, a: &parser::AggregateExpr) -> Result<Aggregate, QueryError> {
        let op = match a.op.id() {
            token::T_SUM => AggOp::Sum,
            token::T_AVG => AggOp::Avg,
            token::T_COUNT => AggOp::Count,
            token::T_MIN => AggOp::Min,
            token::T_MAX => AggOp::Max,
            token::T_GROUP => AggOp::Group,
            token::T_STDDEV => AggOp::Stddev,
            token::T_STDVAR => AggOp::Stdvar,
            token::T_TOPK => AggOp::Topk,
            token::T_BOTTOMK => AggOp::Bottomk,
            token::T_COUNT_VALUES => AggOp::CountValues,
            token::T_QUANTILE => AggOp::Quantile,
            _ => return Err(unsupported(&format!("aggregation \"{}\"", a.op))),
        };
        let (without, mut grouping) = match &a.modifier {
            None => (false, Vec::new()),
            Some(LabelModifier::Include(ls)) => (false, ls.labels.clone()),
            Some(LabelModifier::Exclude(ls)) => (true, ls.labels.clone()),
        };
        grouping.sort();
        grouping.dedup();
        let param = match &a.param {
            Some(p) => Some(self.lower(p)?),
            None => None,
        };
        Ok(Aggregate {
            op,
            expr: self.lower(&a.expr)?,
            param,
            without,
            grouping,
        })
    }
}

/// Prometheus' `createLabelsForAbsentFunction`: the labels that equality
/// matchers pin down exactly, minus any label also constrained otherwise.
fn absent_labels(matchers: &[Matcher]) -> Labels {
    let mut out = Labels::new();
    let mut ambiguous = Vec::new();
    for m in matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if m.op == MatchOp::Equal && labels::value_of(&out, &m.name).is_empty() {
            labels::set(&mut out, &m.name, &m.value);
        } else {
            ambiguous.push(m.name.clone());
        }
    }
    for name in ambiguous {
        labels::del(&mut out, &name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_syntax_is_rejected_with_a_clear_message() {
        for (q, what) in [
            ("limitk(2, x)", "aggregation \"limitk\""),
            ("first_over_time(x[5m])", "function \"first_over_time\""),
            ("a + fill(0) b", "fill()"),
            ("x{a=\"b\" or c=\"d\"}", "\"or\" between label matchers"),
        ] {
            let err = parse(q, 0, 0).unwrap_err();
            assert!(
                matches!(&err, QueryError::Unsupported(m) if m.contains(what)),
                "{q}: {err}"
            );
            assert_eq!(err.error_type(), "bad_data");
        }
    }

    #[test]
    fn holt_winters_parses() {
        let node = parse("holt_winters(x[5m], 0.5, 0.5)", 0, 0).unwrap();
        assert!(matches!(node, Node::Call(c) if c.func == Func::HoltWinters));
    }

    #[test]
    fn at_start_and_end_resolve_against_the_query_range() {
        let Node::Selector(s) = parse("x @ start()", 1000, 2000).unwrap() else {
            panic!("not a selector")
        };
        assert_eq!(s.at, Some(1000));
        let Node::Selector(s) = parse("x @ end() offset -1m", 1000, 2000).unwrap() else {
            panic!("not a selector")
        };
        assert_eq!((s.at, s.offset), (Some(2000), -60_000));
    }

    #[test]
    fn absent_labels_keep_only_unambiguous_equalities() {
        let Node::Selector(s) = parse(r#"x{a="1",b=~"2",c="3",c="4"}"#, 0, 0).unwrap() else {
            panic!("not a selector")
        };
        assert_eq!(s.absent_labels, vec![("a".to_string(), "1".to_string())]);
    }
}
