//! The "anomaly likelihood": is the series *more surprising than usual right now*?
//!
//! This is the post-processing Numenta published for HTM (Ahmad et al. 2017): raw
//! per-point surprises are averaged over a short window, and that average is compared
//! with the long-run distribution of such averages (mean and variance, exponentially
//! weighted here) through a Gaussian tail. A single odd point barely moves the short
//! average; a run of them (a pattern change, a level shift the baseline has not yet
//! absorbed, a burst of spikes) drives it many standard deviations above its usual
//! level. A "red" tail probability right after another red one is demoted to
//! "yellow", so that one episode raises one detection, at its start.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Parameters of the likelihood (the same for every series). The defaults are
/// Numenta's published ones, except `history_alpha`, which replaces their sliding
/// window of 8,640 points by exponential weighting of comparable memory.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LikelihoodConfig {
    /// Points in the short average.
    pub window: usize,
    /// Weight of each new short average in the long-run mean and variance.
    pub history_alpha: f64,
    /// The long-run mean is taken as at least this, so that a series that is
    /// almost never surprising does not turn red at the slightest blip.
    pub min_mean: f64,
    /// The long-run standard deviation is taken as at least this.
    pub min_sd: f64,
    /// A tail probability at or below this is red.
    pub red: f64,
    /// What a red that follows a red is demoted to.
    pub yellow: f64,
}

impl Default for LikelihoodConfig {
    fn default() -> Self {
        Self {
            window: 10,
            history_alpha: 0.0005,
            min_mean: 0.03,
            min_sd: 0.0173,
            red: 1e-5,
            yellow: 1e-3,
        }
    }
}

/// The state of the likelihood for one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Likelihood {
    config: LikelihoodConfig,
    recent: VecDeque<f64>,
    mean: Option<f64>,
    var: f64,
    last_red: bool,
}

impl Likelihood {
    /// A likelihood with no history.
    pub fn new(config: LikelihoodConfig) -> Self {
        Self {
            config,
            recent: VecDeque::with_capacity(config.window + 1),
            mean: None,
            var: 0.0,
            last_red: false,
        }
    }

    /// Adds a raw surprise in `[0, 1]` and returns the tail probability of the
    /// current short average (1 while there is no history).
    pub fn update(&mut self, raw: f64) -> f64 {
        let c = self.config;
        self.recent.push_back(raw);
        if self.recent.len() > c.window.max(1) {
            self.recent.pop_front();
        }
        let m = self.recent.iter().sum::<f64>() / self.recent.len() as f64;
        let p = match self.mean {
            None => {
                self.mean = Some(m);
                1.0
            }
            Some(mean) => {
                let sd = self.var.sqrt().max(c.min_sd);
                let z = (m - mean.max(c.min_mean)) / sd;
                let d = m - mean;
                self.mean = Some(mean + c.history_alpha * d);
                self.var = (1.0 - c.history_alpha) * (self.var + c.history_alpha * d * d);
                0.5 * erfc(z / std::f64::consts::SQRT_2)
            }
        };
        let red = p <= c.red;
        let demote = red && self.last_red;
        self.last_red = red;
        if demote {
            c.yellow
        } else {
            p
        }
    }
}

/// The complementary error function, from the Chebyshev fit in Numerical Recipes
/// (relative error below 1.2e-7), which is plenty for tail probabilities.
pub(crate) fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_matches_known_values() {
        for (x, want) in [
            (0.0, 1.0),
            (1.0, 0.157_299_2),
            (3.0, 2.209_05e-5),
            (-1.0, 1.842_700_8),
        ] {
            let got = erfc(x);
            assert!(
                ((got - want) / want).abs() < 1e-6,
                "erfc({x}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn a_run_of_surprises_turns_red_once_and_then_yellow() {
        let mut l = Likelihood::new(LikelihoodConfig::default());
        // A long calm history with the usual small surprises.
        for i in 0..5000 {
            l.update(if i % 7 == 0 { 0.3 } else { 0.1 });
        }
        let calm = l.update(0.1);
        assert!(calm > 0.1, "{calm}");
        let run: Vec<f64> = (0..5).map(|_| l.update(1.0)).collect();
        let first_red = run.iter().position(|&p| p <= 1e-5).expect("turns red");
        assert!(run[first_red + 1..].iter().all(|&p| p == 1e-3), "{run:?}");
    }
}
