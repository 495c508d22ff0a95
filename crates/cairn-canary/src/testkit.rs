//! Deterministic pseudo-random data for tests, so that no `rand` dependency is needed
//! and every run sees the same numbers.

/// Marsaglia's xorshift64* generator.
pub(crate) struct Xorshift(u64);

impl Xorshift {
    pub(crate) fn new(seed: u64) -> Self {
        // A zero state would stay zero; mix the seed so small seeds differ well.
        let mut rng = Xorshift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        // The first outputs of nearby seeds are alike; let the state mix first.
        for _ in 0..16 {
            rng.next();
        }
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Normal with the given mean and standard deviation (Box–Muller).
    pub(crate) fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        mean + sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Log-normal: `exp` of a normal with the given parameters (latency-like data).
    pub(crate) fn log_normal(&mut self, mu: f64, sigma: f64) -> f64 {
        self.normal(mu, sigma).exp()
    }

    /// `n` values drawn with `draw`.
    pub(crate) fn series(&mut self, n: usize, mut draw: impl FnMut(&mut Self) -> f64) -> Vec<f64> {
        (0..n).map(|_| draw(self)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_look_normal() {
        let mut means = Vec::new();
        for seed in 0..200 {
            let mut rng = Xorshift::new(seed);
            let draws = rng.series(100, |r| r.normal(0.0, 1.0));
            means.push(draws.iter().sum::<f64>() / 100.0);
        }
        let mean = means.iter().sum::<f64>() / 200.0;
        let sd = (means.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / 199.0).sqrt();
        // Means of 100 standard normals: mean 0, standard deviation 0.1.
        assert!(
            mean.abs() < 0.03 && (0.085..0.115).contains(&sd),
            "{mean} {sd}"
        );
    }
}
