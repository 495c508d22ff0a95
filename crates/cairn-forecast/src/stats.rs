//! Small numerical helpers shared by the models: least squares, simple exponential
//! smoothing with an exact initial level, quantiles, and a seeded random stream.
//!
//! They are here rather than taken from a library because each is a few lines, the
//! models call them in tight loops over thousands of series, and the random stream must
//! be reproducible bit for bit across platforms and library versions.

/// Ordinary least squares of `y` on time `0..n`: returns (intercept, slope).
pub fn linear_fit(y: &[f64]) -> (f64, f64) {
    let n = y.len() as f64;
    if y.len() < 2 {
        return (y.first().copied().unwrap_or(0.0), 0.0);
    }
    let tm = (n - 1.0) / 2.0;
    let ym = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (t, v) in y.iter().enumerate() {
        let dt = t as f64 - tm;
        sxy += dt * (v - ym);
        sxx += dt * dt;
    }
    let b = sxy / sxx;
    (ym - b * tm, b)
}

/// Simple exponential smoothing fitted by least squares of its one-step errors. For a
/// given smoothing weight the best initial level has a closed form (every one-step
/// forecast is linear in it), so only the weight is searched, by golden section.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ses {
    pub alpha: f64,
    /// The level after the last observation: the forecast for every future step.
    pub level: f64,
    /// The mean squared one-step error.
    pub mse: f64,
}

impl Ses {
    pub fn fit(y: &[f64]) -> Ses {
        Self::fit_bounded(y, 1e-4, 0.9999)
    }

    /// Fits with the smoothing weight restricted to `[lo, hi]`.
    pub fn fit_bounded(y: &[f64], lo: f64, hi: f64) -> Ses {
        if y.len() < 2 {
            let level = y.first().copied().unwrap_or(0.0);
            return Ses {
                alpha: 1.0,
                level,
                mse: 0.0,
            };
        }
        let f = |a: f64| Self::with_alpha(y, a);
        let best = golden_section(|a| f(a).mse, lo, hi, 40);
        f(best)
    }

    /// SES with a fixed weight and the least-squares initial level.
    pub fn with_alpha(y: &[f64], alpha: f64) -> Ses {
        let d = 1.0 - alpha;
        // With l0 = 0 the forecasts are c_t; with l0 they are c_t + d^t · l0.
        let (mut c, mut w) = (0.0, 1.0);
        let (mut num, mut den) = (0.0, 0.0);
        for &v in y {
            num += (v - c) * w;
            den += w * w;
            c += alpha * (v - c);
            w *= d;
        }
        let l0 = if den > 0.0 { num / den } else { y[0] };
        let mut level = l0;
        let mut sse = 0.0;
        for &v in y {
            let e = v - level;
            sse += e * e;
            level += alpha * e;
        }
        Ses {
            alpha,
            level,
            mse: sse / y.len() as f64,
        }
    }
}

/// Solves the `k`×`k` system `a·x = b` (row-major `a`) by Gaussian elimination with
/// partial pivoting; `None` when it is singular. Overwrites its inputs.
pub fn solve(a: &mut [f64], b: &mut [f64], k: usize) -> Option<Vec<f64>> {
    for col in 0..k {
        let piv =
            (col..k).max_by(|&i, &j| a[i * k + col].abs().total_cmp(&a[j * k + col].abs()))?;
        if a[piv * k + col].abs() < 1e-12 {
            return None;
        }
        if piv != col {
            for j in 0..k {
                a.swap(piv * k + j, col * k + j);
            }
            b.swap(piv, col);
        }
        for i in col + 1..k {
            let f = a[i * k + col] / a[col * k + col];
            for j in col..k {
                a[i * k + j] -= f * a[col * k + j];
            }
            b[i] -= f * b[col];
        }
    }
    let mut x = vec![0.0; k];
    for i in (0..k).rev() {
        let s: f64 = (i + 1..k).map(|j| a[i * k + j] * x[j]).sum();
        x[i] = (b[i] - s) / a[i * k + i];
    }
    Some(x)
}

/// Minimises a unimodal `f` on `[lo, hi]` by golden-section search.
pub fn golden_section(f: impl Fn(f64) -> f64, lo: f64, hi: f64, iterations: usize) -> f64 {
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (lo, hi);
    let mut c = b - g * (b - a);
    let mut d = a + g * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..iterations {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = f(d);
        }
    }
    if fc < fd {
        c
    } else {
        d
    }
}

/// The `q`-quantile (0..=1) of `xs` by linear interpolation between order statistics
/// (R's type 7). Sorts `xs` in place.
pub fn quantile_mut(xs: &mut [f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    quantile_sorted(xs, q)
}

/// The `q`-quantile of an already sorted slice (R's type 7).
pub fn quantile_sorted(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (xs.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    xs[lo] + (xs[hi] - xs[lo]) * (pos - lo as f64)
}

/// The median of a few values (copies them).
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    quantile_mut(&mut v, 0.5)
}

/// A seeded splitmix64 stream: reproducible on every platform, which the sample paths,
/// and the tests that pin them, rely on.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1): never exactly 0, so logarithms of it are finite.
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A uniform index in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A standard normal draw (Box–Muller; the second value is dropped for simplicity).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// The standard normal quantile (Acklam's rational approximation, relative error below
/// 1.2e-9), for analytic intervals.
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let plow = 0.02425;
    if p < plow {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - plow {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_recovers_a_line() {
        let y: Vec<f64> = (0..10).map(|t| 3.0 + 0.5 * t as f64).collect();
        let (a, b) = linear_fit(&y);
        assert!((a - 3.0).abs() < 1e-12 && (b - 0.5).abs() < 1e-12);
    }

    #[test]
    fn ses_tracks_a_level_shift_and_smooths_noise() {
        let mut y = vec![10.0; 30];
        y.extend(vec![20.0; 30]);
        let s = Ses::fit(&y);
        assert!((s.level - 20.0).abs() < 1e-6, "{s:?}");
        assert!(s.alpha > 0.9, "a clean shift is followed at once: {s:?}");

        let mut rng = Rng::new(7);
        let noisy: Vec<f64> = (0..400).map(|_| 5.0 + rng.normal()).collect();
        let s = Ses::fit(&noisy);
        assert!(s.alpha < 0.2, "white noise needs heavy smoothing: {s:?}");
        assert!((s.level - 5.0).abs() < 0.5);
    }

    #[test]
    fn the_normal_quantile_and_the_random_normals_agree() {
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-5);
        assert!((normal_quantile(0.1) + 1.281_552).abs() < 1e-5);
        let mut rng = Rng::new(1);
        let mut xs: Vec<f64> = (0..20_000).map(|_| rng.normal()).collect();
        let q = quantile_mut(&mut xs, 0.9);
        assert!((q - 1.2816).abs() < 0.05, "{q}");
    }
}
