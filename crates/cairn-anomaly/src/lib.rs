//! cairn-anomaly: fault discovery without hand-set thresholds, for the alerting loop.
//!
//! # Bird's-eye view
//!
//! A [`Detector`] watches one series. It is fed one point at a time
//! (`timestamp_ms`, `value`) and answers with an [`Assessment`]: a score in `[0, 1]`,
//! whether that reaches the configured sensitivity, what kind of deviation it is
//! (spike, dip, level shift, changepoint) and the expected value with its band, so
//! that an alert can say "value 4,210 vs expected 1,100–1,500". It learns as it goes:
//! a level, or a daily or weekly profile when one predicts better (the sampling
//! interval is inferred from the timestamps), the series' own distribution of
//! deviations, and the range of values seen. [`detect`] runs a fresh detector over
//! any given series.
//!
//! [`nab`] is a scorer for the Numenta Anomaly Benchmark, used by the `nab` example
//! (`bench/run nab`) to measure the detector against the published scoreboard.
//!
//! # Architecture invariants
//!
//! - **Pure**: no I/O, no clock, no SQL, no HTTP. Callers read files (the bench
//!   example, the tests) and pass text or points in.
//! - **Causal**: an assessment uses only the points before it and the point itself.
//!   Nothing is tuned per series, nothing sees labels, and nothing peeks at a series'
//!   future (such as its overall minimum and maximum, which NAB's own harness hands
//!   to detectors).
//! - **Small state**: a detector is a few kilobytes (mostly the daily and weekly
//!   profiles) and serialisable with serde, so the alerting engine can keep one per
//!   series and persist it. Exact round trips of its floats through JSON need
//!   `serde_json`'s `float_roundtrip` feature.
//!
//! # How the detector was designed (and measured)
//!
//! The structure follows what worked in the NAB literature: records beyond the range
//! seen so far (as Numenta's HTM detector does), and Numenta's "anomaly likelihood"
//! over raw surprises, whose raw input here is a learned tail probability of the
//! deviation from a seasonal baseline instead of HTM's sequence memory. Every
//! parameter is the same for every series. Some are taken from prior work as they
//! were: the likelihood's window (10), its red and yellow levels (1e-5, 1e-3) and
//! floors, and the 5 % range margin. Others were chosen by comparing NAB scores of a
//! few alternatives each, on the whole corpus, so the benchmark figures are *not* an
//! out-of-sample estimate: the fast seasonal level (0.5), the error clip for choosing
//! a baseline (8) and its margin with hysteresis (0.95), the short average (6 points),
//! the memory of deviation tails (1,000), the raw surprise cap (1e-3 → 1) and the
//! default sensitivity (the sweep's threshold). Robustness choices (clipping what
//! models learn from outliers, the exponential tail, the settling period) were kept
//! for the quality of bands and expectations and were about neutral on NAB.
//! `examples/nab.rs` (`bench/run nab`) prints the figures.

pub mod detector;
mod error;
pub mod nab;

pub use detector::{detect, Assessment, Band, Config, Detector, Kind};
pub use error::AnomalyError;
