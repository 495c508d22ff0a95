//! The Numenta Anomaly Benchmark (NAB v1.1) scorer, reimplemented from its written
//! rules (`../shared/bench/nab/SOURCE.md`), as pure functions over row indices.
//!
//! NAB scores one anomaly score per row. Rows of the probationary period are ignored;
//! labelled anomaly *windows* reward the earliest detection inside them through a
//! scaled sigmoid and cost `A_FN` when missed; every detection outside a window costs up
//! to `A_FP`, less shortly after a window. One threshold per profile is chosen for the
//! whole corpus, the one that maximises the summed raw score ([`sweep`]), and the raw
//! score is normalised so that the null detector scores 0 and a perfect one 100.
//!
//! Everything works on row indices in file order, never on timestamps: NAB files have
//! duplicated and even backward timestamps, and the rules are defined on rows.
//! Parsing of the CSV and JSON text lives in [`parse`]; reading the files is left to
//! callers (the bench example and the tests), so this module does no I/O.

pub mod parse;

use serde::Serialize;

/// One of NAB's cost profiles (`config/profiles.json`): the reward for a detected
/// window and the costs of a false positive and of a missed window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Profile {
    /// NAB's name for the profile, as in its result files.
    pub name: &'static str,
    /// `A_TP`: the weight of a detection at the very start of a window.
    pub a_tp: f64,
    /// `A_FP`: the full cost of one detection outside every window.
    pub a_fp: f64,
    /// `A_FN`: the cost of a window without any detection.
    pub a_fn: f64,
}

/// NAB's default profile.
pub const STANDARD: Profile = Profile {
    name: "standard",
    a_tp: 1.0,
    a_fp: 0.11,
    a_fn: 1.0,
};

/// The profile that doubles the cost of a false positive.
pub const REWARD_LOW_FP: Profile = Profile {
    name: "reward_low_FP_rate",
    a_tp: 1.0,
    a_fp: 0.22,
    a_fn: 1.0,
};

/// The profile that doubles the cost of a missed window.
pub const REWARD_LOW_FN: Profile = Profile {
    name: "reward_low_FN_rate",
    a_tp: 1.0,
    a_fp: 0.11,
    a_fn: 2.0,
};

/// The three profiles in the order NAB reports them.
pub const PROFILES: [Profile; 3] = [STANDARD, REWARD_LOW_FP, REWARD_LOW_FN];

/// The threshold NAB adds to the sweep to stand for "no detections at all".
pub const NO_DETECTION_THRESHOLD: f64 = 1.1;

/// Rows at the start of a file of `n` rows that are never scored: 15 % of the file,
/// at most 750 rows. Computed in floating point exactly as NAB does, so that the
/// rounding of `0.15 · n` matches.
pub fn probation_rows(n: usize) -> usize {
    let p = (0.15 * n as f64).floor().min(0.15 * 5000.0);
    p as usize
}

/// NAB's scaled sigmoid: `2 / (1 + e^(5y)) − 1`, and −1 beyond `y = 3`.
pub fn scaled_sigmoid(y: f64) -> f64 {
    if y > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * y).exp()) - 1.0
    }
}

/// A labelled anomaly window as an inclusive range of row indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RowWindow {
    /// The first row whose timestamp equals the window's start.
    pub first: usize,
    /// The first row whose timestamp equals the window's end.
    pub last: usize,
}

impl RowWindow {
    /// The window's width in rows, `W = last − first + 1`.
    pub fn width(&self) -> usize {
        self.last - self.first + 1
    }

    fn contains(&self, row: usize) -> bool {
        (self.first..=self.last).contains(&row)
    }
}

/// Maps windows given as `[start, end]` timestamps (milliseconds) to row ranges: each
/// boundary is the *first* row carrying that timestamp.
///
/// # Errors
/// [`crate::AnomalyError::WindowBoundary`] when a boundary timestamp occurs in no row.
pub fn window_rows(
    timestamps_ms: &[i64],
    windows_ms: &[(i64, i64)],
) -> Result<Vec<RowWindow>, crate::AnomalyError> {
    let first_row = |t: i64| {
        timestamps_ms
            .iter()
            .position(|&x| x == t)
            .ok_or(crate::AnomalyError::WindowBoundary { timestamp_ms: t })
    };
    windows_ms
        .iter()
        .map(|&(start, end)| {
            Ok(RowWindow {
                first: first_row(start)?,
                last: first_row(end)?,
            })
        })
        .collect()
}

/// What a detection at one row is worth under a profile.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RowValue {
    /// Inside window `k` (index into the file's windows): a true positive of this weight
    /// if it is the best detection in the window.
    InWindow { window: usize, weight: f64 },
    /// Outside every window: a false positive of this (negative) weight.
    Outside { weight: f64 },
}

/// The value of a detection at `row` (NAB rule 6). `windows` are in time order.
fn row_value(row: usize, windows: &[RowWindow], profile: &Profile) -> RowValue {
    let mut last_before = None;
    for (k, w) in windows.iter().enumerate() {
        if w.contains(row) {
            let y = -((w.last - row + 1) as f64) / w.width() as f64;
            return RowValue::InWindow {
                window: k,
                weight: profile.a_tp * scaled_sigmoid(y) / scaled_sigmoid(-1.0),
            };
        }
        if w.last < row {
            last_before = Some(w);
        }
    }
    let weight = match last_before {
        // The most recent window that ended before this row, not the nearest one.
        Some(w) => {
            let y = (row - w.last) as f64 / (w.last - w.first) as f64;
            profile.a_fp * scaled_sigmoid(y)
        }
        None => -profile.a_fp,
    };
    RowValue::Outside { weight }
}

/// The outcome of one file at one threshold, as in NAB's `*_scores.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct FileScore {
    /// The file's raw score (NAB rule 7).
    pub score: f64,
    /// Detected rows inside windows.
    pub tp: usize,
    /// Rows inside windows without a detection.
    pub fn_rows: usize,
    /// Detected rows outside windows.
    pub fp: usize,
    /// Rows outside windows without a detection.
    pub tn: usize,
    /// Windows that count (have a row after probation).
    pub windows: usize,
    /// Counted windows with at least one detection.
    pub windows_detected: usize,
}

/// Scores one file at `threshold`: a row is a detection when its score is
/// `>= threshold`; probationary rows are ignored.
pub fn score_file(
    scores: &[f64],
    windows: &[RowWindow],
    profile: &Profile,
    threshold: f64,
) -> FileScore {
    let p = probation_rows(scores.len());
    let mut best: Vec<Option<f64>> = vec![None; windows.len()];
    let mut out = FileScore {
        windows: counted_windows(scores.len(), windows),
        ..FileScore::default()
    };
    for (row, &s) in scores.iter().enumerate().skip(p) {
        let detected = s >= threshold;
        match row_value(row, windows, profile) {
            RowValue::InWindow { window, weight } => {
                if detected {
                    out.tp += 1;
                    let b = &mut best[window];
                    *b = Some(b.map_or(weight, |x: f64| x.max(weight)));
                } else {
                    out.fn_rows += 1;
                }
            }
            RowValue::Outside { weight } => {
                if detected {
                    out.fp += 1;
                    out.score += weight;
                } else {
                    out.tn += 1;
                }
            }
        }
    }
    for (w, b) in windows.iter().zip(&best) {
        if w.last < p {
            continue;
        }
        match b {
            Some(weight) => {
                out.score += weight;
                out.windows_detected += 1;
            }
            None => out.score -= profile.a_fn,
        }
    }
    out
}

/// Windows that count: those with at least one row at or after the probation.
fn counted_windows(n: usize, windows: &[RowWindow]) -> usize {
    let p = probation_rows(n);
    windows.iter().filter(|w| w.last >= p).count()
}

/// One file of a corpus: a detector's score per row and the file's windows.
#[derive(Debug, Clone, Copy)]
pub struct ScoredFile<'a> {
    /// The detector's score for every row, in file order, each in `[0, 1]`.
    pub scores: &'a [f64],
    /// The file's windows in time order.
    pub windows: &'a [RowWindow],
}

/// The result of the threshold sweep for one profile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SweepResult {
    /// The profile swept.
    pub profile: Profile,
    /// The best threshold: the highest among those reaching the best raw score
    /// ([`NO_DETECTION_THRESHOLD`] when no detection at all is best).
    pub threshold: f64,
    /// The corpus raw score at that threshold.
    pub raw: f64,
    /// The normalised NAB score (null detector 0, perfect 100).
    pub normalised: f64,
    /// The number of counted windows in the corpus.
    pub windows: usize,
}

/// Finds the corpus-wide threshold that maximises the summed raw score (NAB rule 9).
///
/// Every distinct score of a scorable row is a candidate threshold, plus "no
/// detection". Rows are visited in descending score, one group of equal scores at a
/// time, keeping the best weight per window and the running sum of false-positive
/// costs, so the whole sweep is one sort and one pass. On ties the highest threshold
/// wins, as in NAB.
pub fn sweep(files: &[ScoredFile<'_>], profile: &Profile) -> SweepResult {
    struct Row {
        score: f64,
        value: RowValue,
        window_base: usize,
    }
    let mut rows = Vec::new();
    let mut n_windows = 0;
    let mut window_base = 0;
    for f in files {
        let p = probation_rows(f.scores.len());
        for (row, &score) in f.scores.iter().enumerate().skip(p) {
            rows.push(Row {
                score,
                value: row_value(row, f.windows, profile),
                window_base,
            });
        }
        n_windows += counted_windows(f.scores.len(), f.windows);
        window_base += f.windows.len();
    }
    rows.sort_by(|a, b| b.score.total_cmp(&a.score));

    let mut best_in_window: Vec<Option<f64>> = vec![None; window_base];
    let null = -profile.a_fn * n_windows as f64;
    let mut raw = null;
    let (mut best_raw, mut best_threshold) = (null, NO_DETECTION_THRESHOLD);
    let mut i = 0;
    while i < rows.len() {
        let group_score = rows[i].score;
        while i < rows.len() && rows[i].score == group_score {
            match rows[i].value {
                RowValue::InWindow { window, weight } => {
                    let slot = &mut best_in_window[rows[i].window_base + window];
                    match *slot {
                        None => {
                            raw += profile.a_fn + weight;
                            *slot = Some(weight);
                        }
                        Some(old) if weight > old => {
                            raw += weight - old;
                            *slot = Some(weight);
                        }
                        Some(_) => {}
                    }
                }
                RowValue::Outside { weight } => raw += weight,
            }
            i += 1;
        }
        if raw > best_raw {
            best_raw = raw;
            best_threshold = group_score;
        }
    }
    SweepResult {
        profile: *profile,
        threshold: best_threshold,
        raw: best_raw,
        normalised: normalise(best_raw, n_windows, profile),
        windows: n_windows,
    }
}

/// NAB rule 10: `100 · (S − S_null) / (S_perfect − S_null)` with
/// `S_perfect = A_TP · N` and `S_null = −A_FN · N`.
pub fn normalise(raw: f64, n_windows: usize, profile: &Profile) -> f64 {
    let n = n_windows as f64;
    let perfect = profile.a_tp * n;
    let null = -profile.a_fn * n;
    100.0 * (raw - null) / (perfect - null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(first: usize, last: usize) -> RowWindow {
        RowWindow { first, last }
    }

    #[test]
    fn probation_is_fifteen_percent_capped_at_750_rows() {
        assert_eq!(probation_rows(4032), 604);
        assert_eq!(probation_rows(100), 15);
        assert_eq!(probation_rows(22695), 750);
    }

    #[test]
    fn sigmoid_matches_the_published_values() {
        let r = |x: f64| (x * 1e5).round() / 1e5;
        assert_eq!(r(scaled_sigmoid(-1.0)), 0.98661);
        assert_eq!(r(scaled_sigmoid(-0.5)), 0.84828);
        assert_eq!(scaled_sigmoid(0.0), 0.0);
        assert_eq!(r(scaled_sigmoid(1.0)), -0.98661);
        assert_eq!(scaled_sigmoid(3.5), -1.0);
    }

    #[test]
    fn an_early_detection_is_worth_the_full_reward_and_a_late_one_less() {
        // 100 rows: probation is 15 rows; one window over rows 40..=49 (W = 10).
        let windows = [w(40, 49)];
        let mut scores = vec![0.0; 100];
        scores[40] = 1.0;
        let early = score_file(&scores, &windows, &STANDARD, 0.5);
        assert!((early.score - 1.0).abs() < 1e-12);
        scores[40] = 0.0;
        scores[49] = 1.0;
        let late = score_file(&scores, &windows, &STANDARD, 0.5);
        // y = −1/10: σ(−0.1) / σ(−1).
        let expected = scaled_sigmoid(-0.1) / scaled_sigmoid(-1.0);
        assert!((late.score - expected).abs() < 1e-12, "{}", late.score);
        assert_eq!((late.tp, late.fp, late.windows_detected), (1, 0, 1));
    }

    #[test]
    fn false_positives_cost_less_right_after_a_window_and_nothing_in_probation() {
        let windows = [w(40, 49)];
        let mut scores = vec![0.0; 100];
        scores[5] = 1.0; // In probation: ignored.
        scores[20] = 1.0; // Before any window: full −A_FP.
        scores[50] = 1.0; // Right after the window: y = 1/9.
        scores[90] = 1.0; // More than 3 widths later: full −A_FP.
        let s = score_file(&scores, &windows, &STANDARD, 0.5);
        let expected = -0.11 + 0.11 * scaled_sigmoid(1.0 / 9.0) - 0.11 - 1.0;
        assert!(
            (s.score - expected).abs() < 1e-12,
            "{} vs {expected}",
            s.score
        );
        assert_eq!((s.fp, s.tp, s.windows_detected), (3, 0, 0));
        // 85 scorable rows: 10 in the window (all missed), 75 outside, 3 detected.
        assert_eq!((s.fn_rows, s.tn), (10, 72));
    }

    #[test]
    fn the_sweep_picks_the_threshold_nab_would_and_normalises() {
        let windows = [w(40, 49)];
        let mut scores = vec![0.1; 100];
        scores[20] = 0.9; // A false positive scoring above the true positive.
        scores[42] = 0.8;
        let files = [ScoredFile {
            scores: &scores,
            windows: &windows,
        }];
        let r = sweep(&files, &STANDARD);
        // At 0.8 both rows fire: −0.11 + weight(42) beats −1 (no detection).
        assert_eq!(r.threshold, 0.8);
        let weight = scaled_sigmoid(-0.8) / scaled_sigmoid(-1.0);
        assert!((r.raw - (weight - 0.11)).abs() < 1e-12);
        assert!((r.normalised - 100.0 * (r.raw + 1.0) / 2.0).abs() < 1e-12);
        // The sweep agrees with scoring the file at its threshold.
        let direct = score_file(&scores, &windows, &STANDARD, r.threshold);
        assert!((direct.score - r.raw).abs() < 1e-12);
    }

    #[test]
    fn the_null_detector_scores_zero_on_every_profile() {
        let windows = [w(40, 49), w(70, 79)];
        let scores = vec![0.5; 100];
        let files = [ScoredFile {
            scores: &scores,
            windows: &windows,
        }];
        for profile in PROFILES {
            let r = sweep(&files, &profile);
            assert_eq!(r.threshold, NO_DETECTION_THRESHOLD);
            assert_eq!(r.normalised, 0.0);
        }
    }

    #[test]
    fn window_boundaries_are_the_first_row_with_the_timestamp() {
        let ts = [0, 10, 10, 20, 30, 30];
        let rows = window_rows(&ts, &[(10, 30)]).unwrap();
        assert_eq!(rows, vec![w(1, 4)]);
        assert!(window_rows(&ts, &[(15, 30)]).is_err());
    }
}
