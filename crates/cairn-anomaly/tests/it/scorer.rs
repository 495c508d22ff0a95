//! The NAB scorer against the benchmark's own published figures (SOURCE.md's
//! acceptance test). Skipped, with a message, when the data directory is missing.

use cairn_anomaly::nab::{score_file, sweep, ScoredFile, PROFILES};

use crate::corpus::{self, CorpusFile};

fn corpus_or_skip(test: &str) -> Option<(std::path::PathBuf, Vec<CorpusFile>)> {
    match corpus::data_dir() {
        Some(dir) => {
            let files = corpus::load(&dir);
            Some((dir, files))
        }
        None => {
            eprintln!("{test}: skipped, NAB data not found (set CAIRN_BENCH_DATA)");
            None
        }
    }
}

fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

#[test]
fn random_cut_forest_scores_reproduce_the_published_figures() {
    let Some((dir, files)) = corpus_or_skip("random_cut_forest") else {
        return;
    };
    assert_eq!(files.len(), 58);
    assert_eq!(files.iter().map(|f| f.windows.len()).sum::<usize>(), 116);
    let scores: Vec<Vec<f64>> = files
        .iter()
        .map(|f| corpus::published_scores(&dir, "randomCutForest", f).expect("RCF result file"))
        .collect();
    let scored: Vec<ScoredFile<'_>> = files
        .iter()
        .zip(&scores)
        .map(|(f, s)| ScoredFile {
            scores: s,
            windows: &f.windows,
        })
        .collect();

    let results: Vec<_> = PROFILES.iter().map(|p| sweep(&scored, p)).collect();
    let normalised: Vec<f64> = results.iter().map(|r| round(r.normalised, 2)).collect();
    assert_eq!(normalised, vec![51.72, 38.36, 59.75]);
    let raw: Vec<f64> = results.iter().map(|r| round(r.raw, 4)).collect();
    assert_eq!(raw, vec![3.9836, -27.003, -24.0743]);
    let thresholds: Vec<f64> = results.iter().map(|r| round(r.threshold, 6)).collect();
    assert_eq!(thresholds, vec![0.454019, 0.575366, 0.448061]);

    // Per file, at NAB's recorded thresholds: Score, TP and FP as in
    // randomCutForest_<profile>_scores.csv.
    for profile in PROFILES {
        let path = dir.join(format!(
            "results/randomCutForest/randomCutForest_{}_scores.csv",
            profile.name
        ));
        let text = std::fs::read_to_string(&path).expect("scores csv");
        let mut checked = 0;
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if f[0] == "Totals" {
                continue;
            }
            let threshold: f64 = f[3].parse().unwrap();
            let (score, tp, fp): (f64, usize, usize) = (
                f[4].parse().unwrap(),
                f[5].parse().unwrap(),
                f[7].parse().unwrap(),
            );
            let i = files.iter().position(|c| c.key == f[2]).expect(f[2]);
            let got = score_file(&scores[i], &files[i].windows, &profile, threshold);
            assert!(
                (got.score - score).abs() < 1e-8,
                "{} {}: {} vs {score}",
                profile.name,
                f[2],
                got.score
            );
            assert_eq!((got.tp, got.fp), (tp, fp), "{} {}", profile.name, f[2]);
            checked += 1;
        }
        assert_eq!(checked, 58);
    }
}

#[test]
fn the_null_detector_scores_zero_and_a_perfect_one_a_hundred() {
    let Some((_, files)) = corpus_or_skip("null_and_perfect") else {
        return;
    };
    let null: Vec<Vec<f64>> = files
        .iter()
        .map(|f| vec![0.5; f.series.values.len()])
        .collect();
    // A perfect detector fires on the first row of every window and nowhere else.
    let perfect: Vec<Vec<f64>> = files
        .iter()
        .map(|f| {
            let mut s = vec![0.0; f.series.values.len()];
            for w in &f.windows {
                s[w.first] = 1.0;
            }
            s
        })
        .collect();
    for (scores, expected) in [(&null, 0.0), (&perfect, 100.0)] {
        let scored: Vec<ScoredFile<'_>> = files
            .iter()
            .zip(scores)
            .map(|(f, s)| ScoredFile {
                scores: s,
                windows: &f.windows,
            })
            .collect();
        for profile in PROFILES {
            let r = sweep(&scored, &profile);
            assert!(
                (r.normalised - expected).abs() < 1e-9,
                "{}: {}",
                profile.name,
                r.normalised
            );
        }
    }
}
