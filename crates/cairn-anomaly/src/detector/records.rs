//! Records: a value (or a short moving average) outside everything seen so far.
//!
//! This is the simplest and most precise signal in the NAB corpus: most labelled
//! anomalies are a value beyond the range of all earlier ones. A margin of a fraction
//! of the range (5 %, as in Numenta's HTM detector) keeps a series that drifts slowly
//! upwards from setting a "record" every other point.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// The range of a stream so far.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Range {
    bounds: Option<(f64, f64)>,
}

impl Range {
    /// Whether `x` lies beyond the range by more than `tolerance` × its width.
    /// A range of zero width (a flat series so far) has no records: any change of a
    /// flat line is left to the other detectors, which know its usual noise.
    pub fn is_record(&self, x: f64, tolerance: f64) -> bool {
        match self.bounds {
            Some((lo, hi)) if hi > lo => {
                let margin = (hi - lo) * tolerance;
                x > hi + margin || x < lo - margin
            }
            _ => false,
        }
    }

    /// Widens the range to include `x`.
    pub fn add(&mut self, x: f64) {
        self.bounds = Some(match self.bounds {
            Some((lo, hi)) => (lo.min(x), hi.max(x)),
            None => (x, x),
        });
    }

    /// The range so far.
    pub fn bounds(&self) -> Option<(f64, f64)> {
        self.bounds
    }
}

/// Records of the moving average of the last `k` points: a short shift to a level
/// never seen before, which single points (within their noise) may not show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MovingAverageRecords {
    k: usize,
    recent: VecDeque<f64>,
    range: Range,
}

impl MovingAverageRecords {
    /// Records of the average over `k` points.
    pub fn new(k: usize) -> Self {
        Self {
            k: k.max(1),
            recent: VecDeque::with_capacity(k + 1),
            range: Range::default(),
        }
    }

    /// Adds `x`; whether the average of the last `k` points is a record.
    pub fn push(&mut self, x: f64, tolerance: f64) -> bool {
        self.recent.push_back(x);
        if self.recent.len() > self.k {
            self.recent.pop_front();
        }
        if self.recent.len() < self.k {
            return false;
        }
        // Summed afresh (k is small) so that no rounding error accumulates.
        let mean = self.recent.iter().sum::<f64>() / self.k as f64;
        let record = self.range.is_record(mean, tolerance);
        self.range.add(mean);
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_must_clear_the_range_by_the_tolerance() {
        let mut r = Range::default();
        assert!(!r.is_record(5.0, 0.05));
        for x in [10.0, 20.0] {
            r.add(x);
        }
        assert!(!r.is_record(20.4, 0.05));
        assert!(r.is_record(20.6, 0.05));
        assert!(r.is_record(9.4, 0.05));
    }

    #[test]
    fn a_flat_series_has_no_records() {
        let mut r = Range::default();
        r.add(50.0);
        r.add(50.0);
        assert!(!r.is_record(51.0, 0.05));
    }

    #[test]
    fn a_moving_average_record_is_a_move_to_a_new_level() {
        let mut m = MovingAverageRecords::new(3);
        // Swinging between 0 and 10: the average of three stays within 3.3 … 6.7.
        for i in 0..30 {
            m.push(if i % 2 == 0 { 0.0 } else { 10.0 }, 0.05);
        }
        // Two highs in a row are within the usual swing of the average.
        assert!(!m.push(10.0, 0.05));
        assert!(!m.push(0.0, 0.05));
        // A move to 12 lifts the average beyond anything seen, from its first point.
        let hits: Vec<bool> = [12.0, 12.0, 12.0]
            .iter()
            .map(|&x| m.push(x, 0.05))
            .collect();
        assert_eq!(hits, vec![true, true, true]);
    }
}
