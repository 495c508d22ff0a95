//! The k-th smallest pairwise difference `x_i - y_j` without building all `m·n`.
//!
//! The Hodges–Lehmann estimate and its confidence interval are order statistics of
//! the `m·n` pairwise differences. Canary windows can hold thousands of points per
//! side, so instead of sorting millions of differences this selects in the implicit
//! sorted matrix: with `x` ascending and `y` descending, every row `x_i - y_j` is
//! ascending. Each round takes the weighted median of the rows' middle candidates as
//! a pivot (as Johnson and Mizoguchi do), counts the differences below and at it with
//! a binary search per row, and drops at least a quarter of the candidates. Time is
//! `O(m log n log(mn))`, memory `O(m)`, and ties need no special care: when the k-th
//! difference equals the pivot, the pivot is the answer.

/// When this few candidates remain, they are collected and sorted.
const SMALL: usize = 256;

/// Selects order statistics of `x_i - y_j` for fixed samples.
pub(crate) struct Differences {
    /// `x`, ascending.
    x: Vec<f64>,
    /// `y`, descending, so that each row `x[i] - y[j]` ascends in `j`.
    y: Vec<f64>,
}

impl Differences {
    /// Both samples must be finite.
    pub(crate) fn new(x: &[f64], y: &[f64]) -> Self {
        let mut x = x.to_vec();
        let mut y = y.to_vec();
        x.sort_unstable_by(f64::total_cmp);
        y.sort_unstable_by(|a, b| b.total_cmp(a));
        Differences { x, y }
    }

    /// The number of differences, `m·n`.
    pub(crate) fn len(&self) -> usize {
        self.x.len() * self.y.len()
    }

    fn at(&self, i: usize, j: usize) -> f64 {
        self.x[i] - self.y[j]
    }

    /// The first column in `lo..hi` of row `i` whose difference is not `before`;
    /// `before` must hold for a prefix of the (ascending) row.
    fn partition(
        &self,
        i: usize,
        mut lo: usize,
        mut hi: usize,
        before: impl Fn(f64) -> bool,
    ) -> usize {
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if before(self.at(i, mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The median of the differences (the mean of the two middle ones for an even
    /// count): the Hodges–Lehmann estimate of the shift from `y` to `x`.
    pub(crate) fn median(&self) -> f64 {
        let len = self.len();
        if len % 2 == 1 {
            self.kth(len / 2 + 1)
        } else {
            let low = self.kth(len / 2);
            let high = self.kth(len / 2 + 1);
            low + (high - low) / 2.0
        }
    }

    /// The `k`-th smallest difference, counting from 1. `k` is clamped to `1..=m·n`.
    pub(crate) fn kth(&self, k: usize) -> f64 {
        let (m, n) = (self.x.len(), self.y.len());
        let k = k.clamp(1, m * n);
        // Candidates of row i are the columns lo[i]..hi[i]; `below` differences lie
        // below every candidate.
        let mut lo = vec![0usize; m];
        let mut hi = vec![n; m];
        let mut below = 0usize;
        let mut middles: Vec<(f64, usize)> = Vec::with_capacity(m);
        loop {
            let total: usize = lo.iter().zip(&hi).map(|(l, h)| h - l).sum();
            if total <= SMALL {
                let mut rest: Vec<f64> = (0..m)
                    .flat_map(|i| (lo[i]..hi[i]).map(move |j| (i, j)))
                    .map(|(i, j)| self.at(i, j))
                    .collect();
                rest.sort_unstable_by(f64::total_cmp);
                return rest[k - below - 1];
            }

            middles.clear();
            middles.extend(
                (0..m)
                    .filter(|&i| hi[i] > lo[i])
                    .map(|i| (self.at(i, lo[i] + (hi[i] - lo[i]) / 2), hi[i] - lo[i])),
            );
            middles.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
            let mut seen = 0;
            let mut pivot = middles[0].0;
            for &(value, weight) in &middles {
                seen += weight;
                pivot = value;
                if 2 * seen >= total {
                    break;
                }
            }

            let (mut less, mut less_or_equal) = (0, 0);
            let mut cut_less = vec![0usize; m];
            let mut cut_equal = vec![0usize; m];
            for i in 0..m {
                let lt = self.partition(i, lo[i], hi[i], |d| d < pivot);
                let le = self.partition(i, lt, hi[i], |d| d <= pivot);
                cut_less[i] = lt;
                cut_equal[i] = le;
                less += lt - lo[i];
                less_or_equal += le - lo[i];
            }

            if below + less >= k {
                hi = cut_less;
            } else if below + less_or_equal >= k {
                return pivot;
            } else {
                below += less_or_equal;
                lo = cut_equal;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Xorshift;

    fn brute_force(x: &[f64], y: &[f64]) -> Vec<f64> {
        let mut all: Vec<f64> = x
            .iter()
            .flat_map(|a| y.iter().map(move |b| a - b))
            .collect();
        all.sort_unstable_by(f64::total_cmp);
        all
    }

    #[test]
    fn every_order_statistic_matches_a_full_sort() {
        let mut rng = Xorshift::new(7);
        for (m, n, levels) in [(1, 1, 0), (3, 40, 0), (40, 3, 0), (60, 50, 0), (70, 80, 5)] {
            let draw = |rng: &mut Xorshift| {
                let u = rng.uniform();
                if levels == 0 {
                    u * 10.0
                } else {
                    // Few distinct values, so that many differences tie.
                    (u * f64::from(levels)).floor()
                }
            };
            let x: Vec<f64> = (0..m).map(|_| draw(&mut rng)).collect();
            let y: Vec<f64> = (0..n).map(|_| draw(&mut rng)).collect();
            let sorted = brute_force(&x, &y);
            let differences = Differences::new(&x, &y);
            for (k, expected) in sorted.iter().enumerate() {
                assert_eq!(differences.kth(k + 1), *expected, "{m}x{n}, k = {}", k + 1);
            }
        }
    }

    #[test]
    fn all_equal_values() {
        let differences = Differences::new(&[0.0; 300], &[0.0; 200]);
        assert_eq!(differences.kth(1), 0.0);
        assert_eq!(differences.median(), 0.0);
        assert_eq!(differences.kth(60_000), 0.0);
    }
}
