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
//! over raw surprises, whose raw input here is a calibrated tail probability of the
//! deviation from a learned seasonal baseline instead of HTM's sequence memory. The
//! parameters are fixed for every series. Most are principled defaults (Numenta's
//! published likelihood settings, a 5 % range margin); a few (the fast seasonal
//! level, the error clip for choosing a baseline, the short moving average) were
//! chosen by comparing NAB scores of a handful of alternatives, so the benchmark
//! figures are not an out-of-sample estimate. `examples/nab.rs` prints them.

pub mod detector;
mod error;
pub mod nab;

pub use detector::{detect, Assessment, Band, Config, Detector, Kind};
pub use error::AnomalyError;
