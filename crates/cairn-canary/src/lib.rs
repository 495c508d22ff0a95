//! cairn-canary: cairn's canary judge. It compares a canary batch's metrics with the
//! baseline's, as Kayenta and Argo Rollouts do, and decides whether a gray release
//! continues, pauses for a human or rolls back. Pure: no I/O.
//!
//! # Bird's-eye view
//!
//! The changes loop rolls a release out in batches. Between batches it queries, for
//! each gated metric, the values of the canary's instances and of the baseline's
//! (the old version, over the same analysis window), and hands them in as
//! [`Samples`] with a [`CanaryConfig`]. What comes back is a [`Judgement`]: a score,
//! a [`Decision`] (continue, pause, fail) and one [`MetricVerdict`] per metric with
//! the numbers and a sentence a human reads ("error_ratio 0.052 vs baseline 0.01:
//! +420%, above the allowed +10% (95% CI +310%..+520%)"). Everything is serde, so the
//! loop stores the judgement as JSON next to the batch.
//!
//! Three layers, each usable alone:
//!
//! - [`mod@mann_whitney`]: the Mann–Whitney U test with the Hodges–Lehmann estimate of
//!   the shift and its distribution-free confidence interval, following R's
//!   `wilcox.test` (exact for small tie-free samples, normal with tie and continuity
//!   corrections otherwise). [`normal`] holds the normal distribution it needs.
//! - [`judge`]: one metric. The baseline is scaled by the tolerance (`1 +
//!   allowed_increase`, `1 - allowed_decrease`) and the metric is `High` or `Low` when
//!   the interval of the shift lies wholly beyond zero, as Kayenta does. The class
//!   reports what the data show in both directions; whether it *fails* depends on
//!   the metric's direction, so a latency that fell passes.
//! - [`mod@score`]: the weighted share of passing metrics against thresholds, with
//!   critical metrics that fail everything and "no data" that pauses.
//!
//! # Why a rank test
//!
//! Canary metrics are skewed, heavy-tailed and full of ties (error ratios that are
//! mostly zero). A rank test assumes no distribution, the Hodges–Lehmann shift is
//! robust to the odd outlier, and its interval says how large a shift the data
//! support, which is what a tolerance is compared with. A p-value alone would fail
//! canaries for shifts too small to matter once samples are large.
//!
//! # Architecture invariants
//!
//! - **Pure**: no I/O, no clock, no metrics queries. Callers fetch the values.
//! - **Deterministic**: the same samples give the same judgement, bit for bit; there
//!   is no resampling.
//! - **Dependencies**: serde and thiserror only; the numerics (error function,
//!   normal quantile, exact distribution, order statistics of pairwise differences
//!   without materialising them) are written out and tested against published R
//!   output and independent brute force.
//! - **Inputs never fail a judgement**: NaN and infinite values are dropped, too few
//!   values make a metric `NoData`. Only invalid configuration is an error.

mod config;
mod error;
mod format;
pub mod judge;
pub mod mann_whitney;
pub mod normal;
pub mod score;
#[cfg(test)]
mod testkit;

pub use config::{CanaryConfig, Samples};
pub use error::CanaryError;
pub use judge::{classify, Class, Direction, MetricSpec, MetricVerdict};
pub use mann_whitney::{mann_whitney, MannWhitney, Method};
pub use score::{score, Decision, Judgement, Thresholds};
