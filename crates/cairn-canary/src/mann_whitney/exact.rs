//! The exact null distribution of the Mann–Whitney statistic for samples without ties.

/// `P(U = u)` for `u` in `0..=m·n`, where `U` counts the pairs `(x, y)` with `x > y`
/// among `m` x's and `n` y's in random order.
///
/// Builds the sorted sequence of labels left to right: placing an x after `b` y's
/// adds `b` to `U`. So the count polynomials obey
/// `f[a][b](q) = q^b · f[a-1][b](q) + f[a][b-1](q)`, with `m·n·(m·n + 1)` additions in
/// all. Counts are kept in `f64` (they reach `C(98, 49) ≈ 2.5e28` at the size limit
/// of 49 per sample); they are all positive, so rounding stays relative.
pub(crate) fn distribution(m: usize, n: usize) -> Vec<f64> {
    let size = m * n + 1;
    // `previous[b]` holds f[a-1][b], `current[b]` f[a][b].
    let mut previous = vec![vec![0.0; size]; n + 1];
    for row in &mut previous {
        row[0] = 1.0;
    }
    for _ in 1..=m {
        let mut current = vec![vec![0.0; size]; n + 1];
        for b in 0..=n {
            let (done, rest) = current.split_at_mut(b);
            let row = &mut rest[0];
            row[b..].copy_from_slice(&previous[b][..size - b]);
            if let Some(left) = done.last() {
                for (cell, add) in row.iter_mut().zip(left) {
                    *cell += add;
                }
            }
        }
        previous = current;
    }
    let counts = previous.pop().unwrap_or_default();
    let total: f64 = counts.iter().sum();
    counts.into_iter().map(|c| c / total).collect()
}

/// `P(U <= q)`; 0 for negative `q`.
pub(crate) fn cdf(distribution: &[f64], q: i64) -> f64 {
    match usize::try_from(q) {
        Ok(q) => distribution.iter().take(q + 1).sum::<f64>().min(1.0),
        Err(_) => 0.0,
    }
}

/// The smallest `q` with `P(U <= q) >= p`, for `p <= 0.5`, with R's `qwilcox` fuzz so
/// that a `p` that is a sum of the same probabilities is met, not missed by rounding.
pub(crate) fn quantile(distribution: &[f64], p: f64) -> usize {
    let target = p - 10.0 * f64::EPSILON;
    let mut cumulative = 0.0;
    for (q, probability) in distribution.iter().enumerate() {
        cumulative += probability;
        if cumulative >= target {
            return q;
        }
    }
    distribution.len().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `C(5, 2) = 10` orders of two x's among three y's have U = 0, 1, 2, 2, 3, 3, 4,
    /// 4, 5, 6: enumerated by hand.
    #[test]
    fn small_distribution_by_hand() {
        let d = distribution(2, 3);
        let counts: Vec<f64> = d.iter().map(|p| (p * 10.0).round()).collect();
        assert_eq!(counts, [1.0, 1.0, 2.0, 2.0, 2.0, 1.0, 1.0]);
    }

    #[test]
    fn distribution_is_symmetric_and_sums_to_one() {
        for (m, n) in [(1, 1), (3, 7), (10, 5), (49, 49)] {
            let d = distribution(m, n);
            assert_eq!(d.len(), m * n + 1);
            let total: f64 = d.iter().sum();
            assert!((total - 1.0).abs() < 1e-12, "{m}x{n}: total {total}");
            for u in 0..d.len() {
                let mirror = d[d.len() - 1 - u];
                assert!(
                    (d[u] - mirror).abs() <= 1e-15 * d[u].max(1e-300),
                    "{m}x{n} u={u}"
                );
            }
        }
    }

    /// Brute force in Python (`itertools.combinations` over all 3003 ways to place 5 of
    /// 15 ranks): `P(U <= 8) = 0.01998…` and `P(U <= 9) = 0.02797…` for m = 10, n = 5,
    /// so `qwilcox(0.025, 10, 5) = 9` as R has it.
    #[test]
    fn quantile_matches_enumeration() {
        let d = distribution(10, 5);
        assert_eq!(quantile(&d, 0.025), 9);
        assert_eq!(quantile(&d, 0.05), 12);
        assert!((1.0 - 2.0 * cdf(&d, 8) - 0.9600399600399601).abs() < 1e-14);
    }
}
