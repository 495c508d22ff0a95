//! The streaming detector: one [`Detector`] per series, fed one point at a time.
//!
//! For each point, in this order and using only earlier points:
//!
//! 1. The [`Baseline`] gives the expected value and the usual size of deviations
//!    (a level, or a level plus a learned daily or weekly profile, whichever has
//!    predicted this series best so far).
//! 2. The deviation, in units of that size, gets a tail probability from the
//!    series' own history of deviations ([`TailEstimator`], one per direction).
//! 3. That probability, as a raw surprise in `[0, 1]`, feeds the [`Likelihood`]: is
//!    the series more surprising than usual over the last few points?
//! 4. Independently, a value (or a short moving average) outside the range of
//!    everything seen so far is a record ([`records`]) and scores the maximum.
//!
//! The score is `−log10` of the smaller of the probabilities, divided by 16 and
//! capped at 1: a score of 0.5 means "as unlikely as 1 in 10⁸ under what this series
//! has shown". Then the point is learned. Nothing looks at later points, at labels or
//! at the clock.

pub mod baseline;
pub mod likelihood;
pub mod records;
pub mod tail;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use baseline::{Baseline, BaselineConfig, Model};
pub use likelihood::{Likelihood, LikelihoodConfig};
use records::{MovingAverageRecords, Range};

/// `−log10` of the smallest probability the score distinguishes; records score it.
const MAX_SURPRISE: f64 = 16.0;

/// Tunables of a detector, the same for every series.
///
/// Only [`sensitivity`](Config::sensitivity) is meant to be turned; the rest are
/// fixed by design (see the crate's notes on how they were chosen).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How readily a point is an alert, in `[0, 1]`: a point alerts when its score
    /// is at least `1 − sensitivity`. The default, 0.635 (a tail probability of about
    /// 1.4e-6), is about the threshold the NAB sweep picks for this detector. Records always
    /// alert. A surprising episode alerts at its start or not at all (later points
    /// of it are demoted): above 0.6875 every episode alerts, at the default only
    /// those that start strongly.
    pub sensitivity: f64,
    /// The expected-value models.
    pub baseline: BaselineConfig,
    /// The "more surprising than usual" post-processing.
    pub likelihood: LikelihoodConfig,
    /// `−log10` of a deviation's tail probability at which its raw surprise is 1.
    pub raw_surprise_cap: f64,
    /// A record must clear the range seen so far by this fraction of its width.
    pub range_tolerance: f64,
    /// Points in the moving average whose records are level shifts.
    pub short_average: usize,
    /// Points learned before any score is given.
    pub warmup: u64,
    /// The expected band covers deviations with at least this tail probability on
    /// each side.
    pub band_probability: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            sensitivity: 0.635,
            baseline: BaselineConfig::default(),
            likelihood: LikelihoodConfig::default(),
            raw_surprise_cap: 3.0,
            range_tolerance: 0.05,
            short_average: 6,
            warmup: 100,
            band_probability: 0.01,
        }
    }
}

impl Config {
    /// The default configuration at another sensitivity (clamped to `[0, 1]`).
    pub fn with_sensitivity(sensitivity: f64) -> Self {
        Self {
            sensitivity: sensitivity.clamp(0.0, 1.0),
            ..Self::default()
        }
    }

    /// The score at and above which a point is an alert.
    pub fn alert_threshold(&self) -> f64 {
        1.0 - self.sensitivity.clamp(0.0, 1.0)
    }
}

/// What kind of deviation a point shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Within its band, and not part of an alerting episode.
    Normal,
    /// Above the expected band (or above everything seen so far).
    Spike,
    /// Below the expected band (or below everything seen so far).
    Dip,
    /// A sustained move: the short moving average left the range it ever had (and,
    /// within an episode of records, the level moved beyond anything seen).
    LevelShift,
    /// The series stopped behaving as learned: an alerting run of surprising points
    /// (a burst of spikes, a changed shape, a shift not yet beyond the range) while
    /// the point itself is within its band.
    Changepoint,
    /// The point carried no number (NaN or infinite, as Prometheus' staleness
    /// marker); it is not learned.
    NoData,
}

/// The expected value of a point and the band of unremarkable values around it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Band {
    /// What the baseline expected.
    pub expected: f64,
    /// The lower end of the band.
    pub lo: f64,
    /// The upper end of the band.
    pub hi: f64,
    /// The model behind the expectation.
    pub model: Model,
}

/// The detector's judgement of one point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    /// The point's timestamp.
    pub timestamp_ms: i64,
    /// The point's value.
    pub value: f64,
    /// How anomalous, in `[0, 1]` (see the module documentation).
    pub score: f64,
    /// Whether the score reaches the configured sensitivity.
    pub alert: bool,
    /// The kind of deviation the point shows, alerting or not: the first point of
    /// an episode is often a spike, the later ones tell whether it became a level
    /// shift.
    pub kind: Kind,
    /// The expectation and band, once the baseline has learned something.
    pub band: Option<Band>,
}

impl fmt::Display for Assessment {
    /// "value 4,210 vs expected 1,100–1,500 (spike, score 0.74)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "value {}", Grouped(self.value))?;
        if let Some(b) = self.band {
            write!(f, " vs expected {}–{}", Grouped(b.lo), Grouped(b.hi))?;
        }
        let kind = match self.kind {
            Kind::Normal => "normal",
            Kind::Spike => "spike",
            Kind::Dip => "dip",
            Kind::LevelShift => "level shift",
            Kind::Changepoint => "changepoint",
            Kind::NoData => "no data",
        };
        write!(f, " ({kind}, score {:.2})", self.score)
    }
}

/// A number with thousands separators and as many decimals as its size calls for.
struct Grouped(f64);

impl fmt::Display for Grouped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = self.0;
        if !x.is_finite() {
            return write!(f, "{x}");
        }
        let decimals = match x.abs() {
            a if a >= 100.0 => 0,
            a if a >= 1.0 => 1,
            _ => 3,
        };
        let text = format!("{:.*}", decimals, x.abs());
        let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
        let mut grouped = String::new();
        for (i, ch) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        let sign = if x < 0.0 && text.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
            "-"
        } else {
            ""
        };
        if frac.is_empty() {
            write!(f, "{sign}{grouped}")
        } else {
            write!(f, "{sign}{grouped}.{frac}")
        }
    }
}

/// One series' detector. Cheap (a few kilobytes, most of it the daily and weekly
/// profiles) and serialisable, so an alerting engine can keep one per series and
/// persist them across restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detector {
    config: Config,
    baseline: Baseline,
    likelihood: Likelihood,
    range: Range,
    short: MovingAverageRecords,
    /// Points since the last record.
    since_record: u64,
    n: u64,
}

impl Detector {
    /// A detector that has seen nothing yet.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            baseline: Baseline::new(config.baseline),
            likelihood: Likelihood::new(config.likelihood),
            range: Range::default(),
            short: MovingAverageRecords::new(config.short_average),
            since_record: u64::MAX,
            n: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Points learned so far.
    pub fn points(&self) -> u64 {
        self.n
    }

    /// Judges the point `(timestamp_ms, value)` against everything seen before, then
    /// learns it. Points should come in time order; a point out of order is still
    /// judged and learned (its season slot is found from its own timestamp).
    pub fn update(&mut self, timestamp_ms: i64, value: f64) -> Assessment {
        let c = self.config;
        let mut out = Assessment {
            timestamp_ms,
            value,
            score: 0.0,
            alert: false,
            kind: Kind::Normal,
            band: None,
        };
        if !value.is_finite() {
            out.kind = Kind::NoData;
            return out;
        }
        let value_record = self.range.is_record(value, c.range_tolerance);
        let above_range = self.range.bounds().is_some_and(|(_, hi)| value > hi);
        let short_record = self.short.push(value, c.range_tolerance);
        let mut p_likelihood = 1.0;
        if let Some(j) = self.baseline.judge(timestamp_ms, value, c.band_probability) {
            // Both directions are looked at, hence the factor 2.
            let surprise = -(2.0 * j.p).min(1.0).log10();
            p_likelihood = self
                .likelihood
                .update((surprise / c.raw_surprise_cap).min(1.0));
            out.band = Some(Band {
                expected: j.expected,
                lo: j.lo,
                hi: j.hi,
                model: j.model,
            });
        }
        // Like a red likelihood after a red one, a record within the likelihood's
        // short window after another record belongs to the same episode: it is
        // demoted, so that the episode alerts once, at its start.
        let record = value_record || short_record;
        self.since_record = self.since_record.saturating_add(1);
        let same_episode = self.since_record <= c.likelihood.window as u64;
        let p_record = match (record, same_episode) {
            (true, false) => 10f64.powf(-MAX_SURPRISE),
            (true, true) => c.likelihood.yellow,
            _ => 1.0,
        };
        if record {
            self.since_record = 0;
        }
        self.baseline.update(timestamp_ms, value);
        self.range.add(value);
        self.n += 1;
        if self.n <= c.warmup {
            return out;
        }
        let surprise = -p_record.min(p_likelihood).log10();
        out.score = (surprise / MAX_SURPRISE).clamp(0.0, 1.0);
        out.alert = out.score >= c.alert_threshold();
        let side = |b: &Band| (value > b.hi, value < b.lo);
        out.kind = match out.band.as_ref().map(side) {
            // A record within an episode whose short average is a record too: the
            // level itself has moved beyond anything seen.
            _ if short_record && same_episode => Kind::LevelShift,
            _ if value_record && above_range => Kind::Spike,
            _ if value_record => Kind::Dip,
            _ if short_record => Kind::LevelShift,
            Some((true, _)) => Kind::Spike,
            Some((_, true)) => Kind::Dip,
            _ if out.alert => Kind::Changepoint,
            _ => Kind::Normal,
        };
        out
    }
}

/// Runs a fresh detector over a whole series, point by point (still causally: the
/// assessment of each point uses only the points before it).
pub fn detect(config: Config, points: impl IntoIterator<Item = (i64, f64)>) -> Vec<Assessment> {
    let mut d = Detector::new(config);
    points.into_iter().map(|(t, v)| d.update(t, v)).collect()
}
