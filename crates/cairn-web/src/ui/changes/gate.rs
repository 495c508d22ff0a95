//! One batch of a gray release as the detail page shows it — status, targets, times,
//! exit code, output — and the verdict of the metric gate after it: the decision, the
//! score, and per metric its class, the baseline and canary medians, the relative
//! change, the confidence interval of the shift and the judge's sentence.

use cairn_app::changes::{BatchRun, Change};
use cairn_canary::{Class, Decision, Judgement, MetricVerdict};
use maud::{html, Markup};

use super::{batch_status_badge, when};
use crate::ui::format::reading;

/// How many targets a batch lists before it counts the rest.
const TARGETS_SHOWN: usize = 20;

fn decision_badge(d: Decision) -> Markup {
    let (class, word) = match d {
        Decision::Continue => ("badge ok", "continue"),
        Decision::Pause => ("badge warn", "pause for a human"),
        Decision::Fail => ("badge crit", "fail"),
    };
    html! { span class=(class) data-decision=(word.split(' ').next().unwrap_or(word)) { (word) } }
}

/// A metric's class; red only when it is bad for the metric's direction (a latency
/// that fell is `low` and harmless).
fn class_badge(v: &MetricVerdict) -> Markup {
    let (word, class) = match v.class {
        Class::Pass => ("pass", "badge ok"),
        Class::High => ("high", if v.failed { "badge crit" } else { "badge info" }),
        Class::Low => ("low", if v.failed { "badge crit" } else { "badge info" }),
        Class::NoData => ("nodata", "badge muted"),
    };
    html! { span class=(class) data-class=(word) { (word) } }
}

fn value(x: Option<f64>) -> Markup {
    match x {
        Some(x) => html! { (reading(x)) },
        None => html! { span .muted { "—" } },
    }
}

/// A fraction as a signed percentage: `+420%`, `-4.5%`.
fn percent(x: f64) -> String {
    let p = x * 100.0;
    if !p.is_finite() {
        return format!("{p}%");
    }
    if p.abs() >= 10.0 {
        format!("{p:+.0}%")
    } else {
        format!("{p:+.1}%")
    }
}

/// The confidence interval of the shift from baseline to canary, in the metric's unit.
fn interval(v: &MetricVerdict) -> Markup {
    match (v.ci_low, v.ci_high) {
        (Some(lo), Some(hi)) => html! {
            span .nowrap title=(format!("{}% confidence interval of the shift", v.confidence * 100.0)) {
                (reading(lo)) " .. " (reading(hi))
            }
        },
        _ => html! { span .muted { "—" } },
    }
}

/// The gate's verdict after a batch: decision and score, the reasons, and a table of
/// the metrics.
pub(super) fn judgement(j: &Judgement) -> Markup {
    html! {
        div .gate data-decision=(format!("{:?}", j.decision).to_lowercase()) {
            p .gate-head {
                "Gate: " (decision_badge(j.decision)) " "
                span .gate-score { "score " (format!("{:.0}", j.score)) } " " span .muted { "of 100" }
            }
            @if !j.reasons.is_empty() {
                ul .gate-reasons {
                    @for r in &j.reasons { li { (r) } }
                }
            }
            div .table-wrap {
                table .verdicts {
                    thead {
                        tr {
                            th { "Metric" } th { "Class" } th .num { "Baseline" } th .num { "Canary" }
                            th .num { "Change" } th { "CI of shift" } th { "Why" }
                        }
                    }
                    tbody {
                        @for v in &j.verdicts {
                            tr .failed[v.failed] data-metric=(v.metric) {
                                td .nowrap {
                                    (v.metric)
                                    @if v.critical { " " span .badge .warn { "critical" } }
                                }
                                td { (class_badge(v)) }
                                td .num { (value(v.baseline_median)) }
                                td .num { (value(v.canary_median)) }
                                td .num { @match v.relative_change { Some(r) => (percent(r)), None => span .muted { "—" } } }
                                td { (interval(v)) }
                                td .wrap { (v.reason) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One batch: its status, targets, times, exit code, output and gate verdict.
pub(super) fn batch(b: &BatchRun, current: bool, id: &str) -> Markup {
    html! {
        article .batch .current[current] id=(id) data-status=(format!("{:?}", b.status).to_lowercase()) {
            h3 {
                (b.name) " " (batch_status_badge(b.status))
                @if current { " " span .badge .info { "current" } }
            }
            p .batch-targets {
                (b.targets.len()) " targets: "
                @for t in b.targets.iter().take(TARGETS_SHOWN) { span .chip { (t) } " " }
                @if b.targets.len() > TARGETS_SHOWN { span .muted { "and " (b.targets.len() - TARGETS_SHOWN) " more" } }
            }
            p .muted .batch-times {
                @if let Some(t) = b.started_at { "started " (when(t)) }
                @if let Some(t) = b.finished_at { " · finished " (when(t)) }
                @if let Some(code) = b.exit_code { " · exit code " code .exit-code { (code) } }
                @if b.started_at.is_none() { "not started" }
            }
            @if !b.output.is_empty() {
                details .output {
                    summary { "Output (" (b.output.len()) " bytes)" }
                    pre { (b.output) }
                }
            }
            @match &b.judgement {
                Some(j) => (judgement(j)),
                None => @if let Some(t) = b.gate_at { p .muted { "The gate decides at " (when(t)) "." } },
            }
        }
    }
}

/// The gates of a change in a few words, for lists: each decision in batch order.
pub(super) fn summary(c: &Change) -> Markup {
    let judged: Vec<&Judgement> = c
        .batches
        .iter()
        .filter_map(|b| b.judgement.as_ref())
        .collect();
    html! {
        @if judged.is_empty() { span .muted { "no gate yet" } }
        @for (n, j) in judged.iter().enumerate() {
            @if n > 0 { " " }
            span title=(format!("score {:.0}", j.score)) { (decision_badge(j.decision)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use cairn_app::changes::BatchStatus;

    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn a_failed_gate_shows_every_metric_with_its_numbers_and_reason() {
        let c = rolled_back();
        let html = batch(&c.batches[0], false, "batch-0").into_string();
        assert!(html.contains(r#"data-decision="fail""#), "{html}");
        assert!(html.contains("score 0"), "{html}");
        assert!(
            html.contains(r#"<tr class="failed" data-metric="error_ratio">"#),
            "{html}"
        );
        assert!(html.contains(r#"<span class="badge crit" data-class="high">high</span>"#));
        assert!(html.contains(r#"data-class="nodata""#));
        assert!(html.contains("<td class=\"num\">0.01</td><td class=\"num\">0.052</td><td class=\"num\">+420%</td>"), "{html}");
        assert!(html.contains("0.031 .. 0.052"), "{html}");
        assert!(html.contains("above the allowed +10% (95% CI +310%..+520%)"));
        assert!(html.contains("below the marginal threshold 50"));
        // The output is text, escaped, folded away in a <pre>.
        assert!(html.contains("<details class=\"output\"><summary>Output (23 bytes)</summary><pre>deployed v2 to h-1 &lt;ok&gt;</pre></details>"), "{html}");
        assert!(html.contains(r#"exit code <code class="exit-code">0</code>"#));
    }

    #[test]
    fn harmless_shifts_are_not_red_and_pending_batches_say_so() {
        let mut v = verdict("latency_p99", Class::Low, false);
        v.relative_change = Some(-0.045);
        let j = Judgement {
            score: 100.0,
            decision: Decision::Continue,
            verdicts: vec![v],
            reasons: Vec::new(),
        };
        let html = judgement(&j).into_string();
        assert!(html.contains(r#"<span class="badge info" data-class="low">low</span>"#));
        assert!(html.contains("-4.5%"), "{html}");
        assert!(!html.contains("class=\"failed\""));
        let pending = batch(&batch_run("batch 2", BatchStatus::Pending), true, "b").into_string();
        assert!(pending.contains("not started") && pending.contains(">current<"));
        assert!(!pending.contains("Gate:"));
    }
}
