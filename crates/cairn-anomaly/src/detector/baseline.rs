//! Expected values: a few candidate baselines learned online, and the one that has
//! predicted this series best so far.
//!
//! Each candidate is an additive level + season model (Holt–Winters without trend):
//! `expected = level + season[slot]`, where the slot is the phase of the timestamp in
//! the season's period. The candidates are the last value, a smoothed level, and a
//! daily and a weekly season each with a slow and a fast level. A seasonal candidate
//! is made once the sampling interval is known (inferred from timestamps) and may be
//! chosen after it has seen two whole periods. Each candidate keeps its mean absolute
//! error; the detector uses the one with the smallest, so a daily or weekly pattern is
//! "detected" when, and only when, it predicts the data seen so far better than a
//! plain level does (by a margin).

use serde::{Deserialize, Serialize};

use super::tail::TailEstimator;

const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;

/// Mean absolute deviation → standard deviation of a normal distribution. Only a
/// unit: the tails of deviations are learned, not assumed normal.
const MAE_TO_SD: f64 = 1.2533;

/// Points a candidate predicts before its deviations count towards the tails.
const SETTLE_POINTS: u64 = 30;

/// The most slots a daily season has (5-minute resolution) and a weekly one (15
/// minutes): enough for operations metrics, and small enough for thousands of series.
const MAX_DAILY_SLOTS: usize = 288;
const MAX_WEEKLY_SLOTS: usize = 672;

/// Which candidate produced an expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Model {
    /// The previous value.
    LastValue,
    /// An exponentially smoothed level.
    Level,
    /// A level plus a learned daily profile.
    Daily,
    /// A level plus a learned weekly profile.
    Weekly,
}

/// Parameters of the baselines (the same for every series).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BaselineConfig {
    /// Smoothing of the level of the "level" candidate and of the slow seasonal ones.
    pub level_alpha: f64,
    /// Smoothing of the level of the fast seasonal candidates: they follow the
    /// current level closely and add the season's shape.
    pub fast_level_alpha: f64,
    /// Smoothing of a season slot each time it is visited.
    pub season_alpha: f64,
    /// Robustness: a deviation counts at most this many scales, in the scale itself
    /// and in what the level and the season slots learn from it. So one outlier
    /// neither widens the band for long nor drags the expectation, and one anomalous
    /// day does not teach the daily profile to expect it tomorrow.
    pub clip: f64,
    /// Smoothing of the errors that choose the candidate.
    pub error_alpha: f64,
    /// Smoothing of the scale of deviations.
    pub scale_alpha: f64,
    /// A seasonal candidate is chosen only if its error is below this fraction of
    /// the best plain candidate's, and, once chosen, is replaced only by a candidate
    /// whose error is below this fraction of its own.
    pub season_margin: f64,
    /// Errors count towards the choice of candidate only up to this many times the
    /// smallest scale among the candidates.
    pub select_clip: f64,
    /// How many deviations each candidate's tail estimates remember (older ones
    /// fade by halving).
    pub deviation_memory: f64,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        Self {
            level_alpha: 0.1,
            fast_level_alpha: 0.5,
            season_alpha: 0.25,
            clip: 6.0,
            error_alpha: 0.01,
            scale_alpha: 0.01,
            season_margin: 0.95,
            select_clip: 8.0,
            deviation_memory: 1000.0,
        }
    }
}

/// A seasonal profile: one learned offset per phase slot of the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Season {
    period_ms: i64,
    /// Offsets from the level per slot.
    slots: Vec<f32>,
    /// One bit per slot: visited at least once (an unvisited slot predicts 0).
    visited: Vec<u64>,
    /// Timestamp of the first point seen, to know when whole periods were covered.
    start_ms: i64,
}

impl Season {
    fn new(period_ms: i64, interval_ms: f64, max_slots: usize, start_ms: i64) -> Self {
        let n = ((period_ms as f64 / interval_ms.max(1.0)).round() as usize).clamp(1, max_slots);
        Self {
            period_ms,
            slots: vec![0.0; n],
            visited: vec![0; n.div_ceil(64)],
            start_ms,
        }
    }

    fn slot(&self, t_ms: i64) -> usize {
        // Integer arithmetic: with floats, k·interval / period · slots can round down
        // to k − 1 and two consecutive points would share a slot.
        let phase = t_ms.rem_euclid(self.period_ms) as i128;
        (phase * self.slots.len() as i128 / self.period_ms as i128) as usize
    }

    fn get(&self, k: usize) -> Option<f64> {
        (self.visited[k / 64] >> (k % 64) & 1 == 1).then(|| self.slots[k] as f64)
    }

    fn set(&mut self, k: usize, v: f64) {
        self.slots[k] = v as f32;
        self.visited[k / 64] |= 1 << (k % 64);
    }

    fn periods_seen(&self, t_ms: i64) -> f64 {
        (t_ms - self.start_ms) as f64 / self.period_ms as f64
    }
}

/// One candidate model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Candidate {
    model: Model,
    /// Smoothing of the level (1 = the last value).
    alpha: f64,
    level: Option<f64>,
    season: Option<Season>,
    /// Mean absolute one-step error with clipped errors, to choose candidates.
    mae: Option<f64>,
    /// Mean absolute one-step error with each error clipped to `clip` times the
    /// scale: the scale of deviations.
    scale: Option<f64>,
    /// Points predicted so far.
    n: u64,
}

impl Candidate {
    fn new(model: Model, alpha: f64) -> Self {
        Self {
            model,
            alpha,
            level: None,
            season: None,
            mae: None,
            scale: None,
            n: 0,
        }
    }

    /// The expected value, the standard deviation of deviations and the deviation
    /// of `x` in standard deviations.
    fn deviation(&self, t_ms: i64, x: f64) -> Option<(f64, f64, f64)> {
        let expected = self.predict(t_ms)?;
        let sd = (self.scale? * MAE_TO_SD)
            .max(1e-9 * expected.abs())
            .max(1e-12);
        Some((expected, sd, (x - expected) / sd))
    }

    /// The expected value at `t_ms`, before seeing the point.
    fn predict(&self, t_ms: i64) -> Option<f64> {
        let s = self.season.as_ref().and_then(|s| s.get(s.slot(t_ms)));
        self.level.map(|l| l + s.unwrap_or(0.0))
    }

    /// Whether this candidate has seen enough to be trusted: for a seasonal one, two
    /// whole periods.
    fn ready(&self, t_ms: i64) -> bool {
        self.n >= 10
            && self
                .season
                .as_ref()
                .is_none_or(|s| s.periods_seen(t_ms) >= 2.0)
    }

    fn update(&mut self, t_ms: i64, x: f64, c: &BaselineConfig, select_clip: f64) {
        let Some(expected) = self.predict(t_ms) else {
            self.level = Some(x);
            return;
        };
        let e = (x - expected).abs();
        match (self.mae, self.scale) {
            (Some(mae), Some(scale)) => {
                let clip = if scale > 0.0 {
                    e.min(c.clip * scale)
                } else {
                    e
                };
                self.mae = Some(mae + c.error_alpha * (e.min(select_clip) - mae));
                self.scale = Some(scale + c.scale_alpha * (clip - scale));
            }
            _ => {
                self.mae = Some(e);
                self.scale = Some(e);
            }
        }
        self.n += 1;
        let level = self.level.unwrap_or(x);
        // The last-value candidate follows every value by definition; the others
        // learn robustly (see `BaselineConfig::clip`).
        let bound = match self.scale {
            Some(scale) if scale > 0.0 && self.alpha < 1.0 => c.clip * scale,
            _ => f64::INFINITY,
        };
        match &mut self.season {
            None => self.level = Some(level + self.alpha * (x - level).clamp(-bound, bound)),
            Some(season) => {
                let k = season.slot(t_ms);
                // A slot seen for the first time starts at today's offset.
                let s = season.get(k).unwrap_or(x - level);
                let level = level + self.alpha * (x - s - level).clamp(-bound, bound);
                self.level = Some(level);
                season.set(k, s + c.season_alpha * (x - level - s).clamp(-bound, bound));
            }
        }
    }
}

/// How a value compares with what the chosen candidate expected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    /// The expected value.
    pub expected: f64,
    /// The deviation from it in standard deviations.
    pub z: f64,
    /// The tail probability of a deviation at least this large on its side.
    pub p: f64,
    /// Values whose deviation has at least the band probability on either side.
    pub lo: f64,
    pub hi: f64,
    /// The candidate that judged.
    pub model: Model,
}

/// The candidates of one series and which of them is in use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    config: BaselineConfig,
    candidates: Vec<Candidate>,
    /// Index of the candidate in use.
    chosen: usize,
    /// Typical spacing of points (exponentially weighted).
    interval_ms: Option<f64>,
    last_ms: Option<i64>,
    seasons_made: bool,
    /// Tail probabilities of deviations (in standard deviations) above and below
    /// the expectations of whichever candidate was in use.
    up: TailEstimator,
    down: TailEstimator,
}

impl Baseline {
    /// An empty baseline.
    pub fn new(config: BaselineConfig) -> Self {
        Self {
            config,
            candidates: vec![
                Candidate::new(Model::LastValue, 1.0),
                Candidate::new(Model::Level, config.level_alpha),
            ],
            chosen: 1,
            interval_ms: None,
            last_ms: None,
            seasons_made: false,
            up: TailEstimator::new(config.deviation_memory),
            down: TailEstimator::new(config.deviation_memory),
        }
    }

    /// Judges `x` at `t_ms` against the chosen candidate, before learning it; `None`
    /// before anything was learned. The band holds the values whose deviation has at
    /// least `band_probability` of happening on its side.
    pub fn judge(&self, t_ms: i64, x: f64, band_probability: f64) -> Option<Judgement> {
        let c = &self.candidates[self.chosen];
        let (expected, sd, z) = c.deviation(t_ms, x)?;
        let (up, down) = (self.up.fit(), self.down.fit());
        let p = match (z >= 0.0, &up, &down) {
            (true, Some(f), _) => f.survival(z),
            (false, _, Some(f)) => f.survival(-z),
            _ => 1.0,
        };
        let hi = up.map_or(0.0, |f| f.quantile(band_probability));
        let lo = down.map_or(0.0, |f| f.quantile(band_probability));
        Some(Judgement {
            expected,
            z,
            p,
            lo: expected - lo * sd,
            hi: expected + hi * sd,
            model: c.model,
        })
    }

    /// Learns from the point at `t_ms`.
    pub fn update(&mut self, t_ms: i64, x: f64) {
        // The first deviations are measured against a scale learned from a handful of
        // points; they would leave a false heavy tail behind.
        let chosen = &self.candidates[self.chosen];
        if let Some((_, _, z)) = chosen
            .deviation(t_ms, x)
            .filter(|_| chosen.n >= SETTLE_POINTS)
        {
            let side = if z >= 0.0 {
                &mut self.up
            } else {
                &mut self.down
            };
            side.observe(z.abs());
        }
        if let Some(last) = self.last_ms {
            let d = (t_ms - last) as f64;
            if d > 0.0 {
                let i = self.interval_ms.unwrap_or(d);
                self.interval_ms = Some(i + 0.05 * (d - i));
            }
        }
        self.last_ms = Some(t_ms);
        self.make_seasons(t_ms);
        let c = self.config;
        // An anomaly is predicted badly by every candidate, so errors count towards
        // the choice only up to a few times the smallest scale: the choice describes
        // the normal behaviour.
        let min_scale = self
            .candidates
            .iter()
            .filter_map(|c| c.scale)
            .fold(f64::INFINITY, f64::min);
        let select_clip = if min_scale.is_finite() && min_scale > 0.0 {
            c.select_clip * min_scale
        } else {
            f64::INFINITY
        };
        for cand in &mut self.candidates {
            cand.update(t_ms, x, &c, select_clip);
        }
        self.choose(t_ms);
    }

    /// Seasons are sized once the interval is known (after 20 points). A sampling
    /// slower than a quarter of the period cannot show that period.
    fn make_seasons(&mut self, t_ms: i64) {
        let Some(interval) = self.interval_ms.filter(|_| !self.seasons_made) else {
            return;
        };
        if self.candidates[0].n < 20 {
            return;
        }
        self.seasons_made = true;
        let c = self.config;
        for alpha in [c.level_alpha, c.fast_level_alpha] {
            for (model, period, max_slots) in [
                (Model::Daily, DAY_MS, MAX_DAILY_SLOTS),
                (Model::Weekly, WEEK_MS, MAX_WEEKLY_SLOTS),
            ] {
                if interval * 4.0 <= period as f64 {
                    let mut cand = Candidate::new(model, alpha);
                    cand.level = self.candidates[1].level;
                    cand.season = Some(Season::new(period, interval, max_slots, t_ms));
                    self.candidates.push(cand);
                }
            }
        }
    }

    /// The best plain candidate, unless a ready seasonal one beats it by the margin.
    fn choose(&mut self, t_ms: i64) {
        let mae = |i: usize| self.candidates[i].mae.unwrap_or(f64::INFINITY);
        let plain = if mae(0) < mae(1) { 0 } else { 1 };
        let mut best = plain;
        let mut best_mae = mae(plain) * self.config.season_margin;
        for (i, cand) in self.candidates.iter().enumerate().skip(2) {
            if cand.ready(t_ms) && mae(i) < best_mae {
                best = i;
                best_mae = mae(i);
            }
        }
        // Hysteresis: a seasonal candidate in use stays until another candidate beats
        // it by the margin, so that a few anomalous points (which it rightly fails to
        // predict) do not hand the series to a plain model that hides them.
        let incumbent = self.chosen;
        if incumbent >= 2
            && best != incumbent
            && self.candidates[incumbent].ready(t_ms)
            && mae(best) > mae(incumbent) * self.config.season_margin
        {
            return;
        }
        self.chosen = best;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    /// A square wave, 20 at night and 80 from 08:00 to 18:00, with a little
    /// deterministic jitter (without any, the last value is exact on every flat
    /// stretch and no season can beat it).
    fn office_hours(t: i64) -> f64 {
        let h = t.rem_euclid(DAY_MS) / HOUR;
        let hash = ((t / 300_000) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
        let jitter = hash as f64 / (1u64 << 24) as f64 * 4.0 - 2.0;
        jitter + if (8..18).contains(&h) { 80.0 } else { 20.0 }
    }

    #[test]
    fn a_daily_pattern_is_learned_and_chosen_after_two_days() {
        let mut b = Baseline::new(BaselineConfig::default());
        let step = 5 * 60_000;
        let mut t = 0;
        while t < 3 * DAY_MS {
            b.update(t, office_hours(t));
            t += step;
        }
        let e = b.judge(t + 9 * HOUR, 80.0, 1e-3).unwrap();
        assert_eq!(e.model, Model::Daily);
        assert!((e.expected - 80.0).abs() < 2.0, "{e:?}");
        // Just after the evening drop the daily profile expects the night level,
        // where the last value would still say 80.
        let e = b.judge(3 * DAY_MS + 18 * HOUR + step, 20.0, 1e-3).unwrap();
        assert!((e.expected - 20.0).abs() < 2.0, "{e:?}");
    }

    #[test]
    fn before_two_whole_days_only_plain_candidates_are_used() {
        let mut b = Baseline::new(BaselineConfig::default());
        for i in 0..100 {
            b.update(i * 1000, (i % 7) as f64);
        }
        let e = b.judge(100_000, 3.0, 1e-3).unwrap();
        assert!(matches!(e.model, Model::Level | Model::LastValue), "{e:?}");
    }
}
