//! A calibrated tail probability for a non-negative statistic, learned online.
//!
//! The body of the distribution is a histogram over `log2` of the statistic, so one
//! estimator covers any scale. Above the upper [`TAIL_FRACTION`] of the mass the tail
//! is an exponential fitted to the observations seen there (peaks over threshold
//! with a generalised Pareto of shape 0, as in extreme value estimation). So a value
//! beyond everything seen so far still gets a graded probability instead of a flat
//! "never seen", and each series is judged against its own tails: tweet counts have
//! heavy ones, CPU noise light ones. (A Pareto tail, exponential in `log2`, scored
//! about the same on NAB but gave much wider bands on near-normal data.)

use serde::{Deserialize, Serialize};

/// Bins per octave of the statistic.
const BINS_PER_OCTAVE: f64 = 4.0;
/// The smallest statistic resolved; anything below falls in bin 0.
const LOG2_MIN: f64 = -8.0;
/// Number of bins: covers 2^-8 … 2^20.
const BINS: usize = 112;
/// The fraction of the mass described by the fitted tail.
const TAIL_FRACTION: f64 = 0.05;
/// The smallest probability reported, so that the log of it stays finite.
const MIN_P: f64 = 1e-12;

/// Online estimate of `P(X ≥ x)` for a non-negative statistic `X`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TailEstimator {
    counts: Vec<f32>,
    total: f64,
    /// When `total` exceeds this, all counts are halved: a cheap forgetting that keeps
    /// the estimate following slow changes of the series.
    memory: f64,
}

fn bin_of(x: f64) -> usize {
    if x.is_nan() || x <= 0.0 {
        return 0;
    }
    let b = ((x.log2() - LOG2_MIN) * BINS_PER_OCTAVE).floor();
    b.clamp(0.0, (BINS - 1) as f64) as usize
}

/// The lower edge of bin `b`.
fn lower_edge(b: usize) -> f64 {
    (LOG2_MIN + b as f64 / BINS_PER_OCTAVE).exp2()
}

impl TailEstimator {
    /// An empty estimator that halves its counts beyond `memory` observations.
    pub fn new(memory: f64) -> Self {
        Self {
            counts: vec![0.0; BINS],
            total: 0.0,
            memory,
        }
    }

    /// Adds one observation.
    pub fn observe(&mut self, x: f64) {
        self.counts[bin_of(x)] += 1.0;
        self.total += 1.0;
        if self.total > self.memory {
            for c in &mut self.counts {
                *c *= 0.5;
            }
            self.total *= 0.5;
        }
    }

    /// The distribution as observed so far, ready to answer several questions;
    /// `None` before any observation.
    pub fn fit(&self) -> Option<Fit<'_>> {
        let n = self.total;
        if n < 1.0 {
            return None;
        }
        // The tail threshold u is the lower edge of the highest bin such that at
        // least TAIL_FRACTION of the mass lies at or above it.
        let want = TAIL_FRACTION * n;
        let (mut mass, mut u_bin) = (0.0, 0);
        for b in (0..BINS).rev() {
            mass += self.counts[b] as f64;
            if mass >= want {
                u_bin = b;
                break;
            }
        }
        let u = lower_edge(u_bin);
        // The exponential's scale is the mean excess over u of the observations in
        // the tail (at their bins' geometric midpoints), at least a tenth of u so that
        // a tail seen in one bin only is not taken for a wall.
        let step = (1.0 / BINS_PER_OCTAVE).exp2();
        let mut mid = u * step.sqrt();
        let mut excess = 0.0;
        for &c in &self.counts[u_bin..] {
            excess += c as f64 * (mid - u);
            mid *= step;
        }
        Some(Fit {
            estimator: self,
            u_bin,
            u,
            p_u: (mass + 0.5) / (n + 1.0),
            beta: (excess / mass.max(1.0)).max(0.1 * u),
        })
    }

    /// `P(X ≥ x)` under what was observed so far (1 before any observation).
    pub fn survival(&self, x: f64) -> f64 {
        self.fit().map_or(1.0, |f| f.survival(x))
    }

    /// The statistic exceeded with probability `p`; `None` before any observation.
    pub fn quantile(&self, p: f64) -> Option<f64> {
        self.fit().map(|f| f.quantile(p))
    }
}

/// A fitted [`TailEstimator`]: the empirical body and the exponential tail.
pub struct Fit<'a> {
    estimator: &'a TailEstimator,
    u_bin: usize,
    u: f64,
    p_u: f64,
    beta: f64,
}

impl Fit<'_> {
    /// `P(X ≥ x)`, never 0: with `n` observations the body cannot say less than
    /// about `1/n`, and the fitted tail goes on from there.
    pub fn survival(&self, x: f64) -> f64 {
        let e = self.estimator;
        let bx = bin_of(x);
        if bx < self.u_bin {
            // Body: empirical, counting half of the value's own bin.
            let above: f64 = e.counts[bx + 1..].iter().map(|&c| c as f64).sum();
            let ge = above + 0.5 * e.counts[bx] as f64;
            return ((ge + 0.5) / (e.total + 1.0)).min(1.0);
        }
        (self.p_u * (-(x - self.u).max(0.0) / self.beta).exp()).clamp(MIN_P, 1.0)
    }

    /// The statistic exceeded with probability `p` (the inverse of
    /// [`survival`](Self::survival), at bin resolution in the body).
    pub fn quantile(&self, p: f64) -> f64 {
        if p < self.p_u {
            return self.u + self.beta * (self.p_u / p.max(MIN_P)).ln();
        }
        let e = self.estimator;
        let want = p * (e.total + 1.0) - 0.5;
        let mut above = 0.0;
        for b in (0..self.u_bin).rev() {
            above += e.counts[b] as f64;
            if above >= want {
                return lower_edge(b);
            }
        }
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniform_half_to_two() -> TailEstimator {
        let mut t = TailEstimator::new(1e9);
        for i in 0..1000 {
            t.observe(0.5 + 1.5 * (i as f64 / 1000.0));
        }
        t
    }

    #[test]
    fn common_values_are_unsurprising_and_unseen_extremes_are_graded() {
        let t = uniform_half_to_two();
        assert!(t.survival(0.6) > 0.8);
        let at_top = t.survival(2.0);
        let beyond = t.survival(4.0);
        let far = t.survival(40.0);
        assert!(at_top < 0.1, "{at_top}");
        assert!(beyond < at_top && far < beyond, "{at_top} {beyond} {far}");
        assert!(far < 1e-6, "{far}");
    }

    #[test]
    fn quantile_inverts_survival() {
        let t = uniform_half_to_two();
        for p in [0.5, 0.2, 1e-3, 1e-6] {
            let q = t.quantile(p).unwrap();
            let back = t.survival(q);
            // Bins are a quarter octave wide, so the body is inverted only roughly.
            assert!(
                back / p < 2.5 && p / back < 2.5,
                "p {p}: q {q} gives {back}"
            );
        }
        assert_eq!(TailEstimator::new(10.0).quantile(0.1), None);
    }

    #[test]
    fn a_normal_tail_gives_a_normal_looking_band() {
        // |N(0, 1)| by inverse transform of evenly spaced probabilities.
        let mut t = TailEstimator::new(1e9);
        for i in 1..2000 {
            let p = i as f64 / 2000.0;
            // Solve P(|Z| ≥ z) = p by bisection on erfc.
            let (mut lo, mut hi) = (0.0, 10.0);
            for _ in 0..60 {
                let mid = 0.5 * (lo + hi);
                if crate::detector::likelihood::erfc(mid / std::f64::consts::SQRT_2) > p {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            t.observe(lo);
        }
        // The true two-sided 1e-3 point is 3.29.
        let q = t.quantile(1e-3).unwrap();
        assert!((2.9..4.0).contains(&q), "{q}");
    }

    #[test]
    fn forgetting_follows_a_change_of_scale() {
        let mut t = TailEstimator::new(200.0);
        for _ in 0..1000 {
            t.observe(1.0);
        }
        let before = t.survival(8.0);
        for _ in 0..1000 {
            t.observe(8.0);
        }
        assert!(t.survival(8.0) > 100.0 * before);
    }
}
