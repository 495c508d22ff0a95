//! `bench/run nab`: cairn's detector over the Numenta Anomaly Benchmark, scored by
//! [`cairn_anomaly::nab`], beside NAB's published scoreboard.
//!
//! Every file gets a fresh detector with the default configuration, fed row by row
//! in file order; the score of each row is its assessment's score. Files are spread
//! over two threads; points per second is the corpus' rows over the wall time of
//! detection alone (not loading, not scoring). The last line is the JSON summary.
//!
//! Options: `--per-file` prints every file's outcome at the standard threshold.
//! `CAIRN_NAB_CONFIG` may hold a JSON [`Config`] for experiments; the published
//! figures use the defaults. The data directory is
//! `${CAIRN_BENCH_DATA:-<repo>/../shared/bench}/nab`.

#[path = "../tests/it/corpus.rs"]
mod corpus;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use cairn_anomaly::nab::{normalise, score_file, sweep, ScoredFile, SweepResult, PROFILES};
use cairn_anomaly::{Config, Detector};

/// Rows of the README scoreboard (NAB v1.0) that `results/final_results.json` lacks,
/// as quoted in the data's SOURCE.md: standard, reward_low_FP, reward_low_FN.
const README_ONLY: [(&str, [f64; 3]); 4] = [
    ("Perfect", [100.0, 100.0, 100.0]),
    ("nab-comportex (README)", [64.6, 58.8, 69.6]),
    ("Numenta HTM, no likelihood (README)", [53.62, 34.15, 61.89]),
    ("Bayesian Changepoint (README)", [17.7, 3.2, 32.2]),
];

const THREADS: usize = 2;

fn main() {
    let per_file = std::env::args().any(|a| a == "--per-file");
    let Some(dir) = corpus::data_dir() else {
        eprintln!("NAB data not found: set CAIRN_BENCH_DATA to the directory holding nab/");
        std::process::exit(1);
    };
    let config: Config = match std::env::var("CAIRN_NAB_CONFIG") {
        Ok(json) => serde_json::from_str(&json).expect("CAIRN_NAB_CONFIG is a JSON Config"),
        Err(_) => Config::default(),
    };
    let files = corpus::load(&dir);
    let rows: usize = files.iter().map(|f| f.series.values.len()).sum();

    // Detection, the only timed part: a shared index hands out files, largest first,
    // so that both threads finish together.
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(files[i].series.values.len()));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Vec<f64>>>> = Mutex::new(vec![None; files.len()]);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let series = &files[i].series;
                    let mut d = Detector::new(config);
                    let scores: Vec<f64> = series
                        .timestamps_ms
                        .iter()
                        .zip(&series.values)
                        .map(|(&t, &v)| d.update(t, v).score)
                        .collect();
                    results.lock().expect("no panics while holding the lock")[i] = Some(scores);
                }
            });
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    let scores: Vec<Vec<f64>> = results
        .into_inner()
        .expect("threads finished")
        .into_iter()
        .map(|s| s.expect("every file scored"))
        .collect();

    let scored: Vec<ScoredFile<'_>> = files
        .iter()
        .zip(&scores)
        .map(|(f, s)| ScoredFile {
            scores: s,
            windows: &f.windows,
        })
        .collect();
    let sweeps: Vec<SweepResult> = PROFILES.iter().map(|p| sweep(&scored, p)).collect();
    let points_per_s = rows as f64 / seconds;

    println!(
        "NAB v1.1: {} files, {} rows, {} windows ({})",
        files.len(),
        rows,
        sweeps[0].windows,
        dir.display()
    );
    println!();
    print_scoreboard(&dir, &sweeps);
    println!();
    print_categories(&files, &scored, &sweeps);
    if per_file {
        println!();
        print_files(&files, &scored, &sweeps[0]);
    }
    println!();
    println!("thresholds (score ≥ threshold is a detection; one per profile, NAB's sweep):");
    for r in &sweeps {
        println!(
            "  {:<20} {:.6}  raw score {:8.3}",
            r.profile.name, r.threshold, r.raw
        );
    }
    let t = config.alert_threshold();
    print!(
        "at the configured sensitivity ({:.3}, threshold {t:.3}):",
        config.sensitivity
    );
    for p in PROFILES {
        let raw: f64 = scored
            .iter()
            .map(|f| score_file(f.scores, f.windows, &p, t).score)
            .sum();
        print!(" {} {:.2}", p.name, normalise(raw, sweeps[0].windows, &p));
    }
    println!();
    println!(
        "detection: {rows} rows in {seconds:.3} s on {THREADS} threads = {points_per_s:.0} points/s"
    );
    println!(
        "{{\"bench\":\"nab\",\"standard\":{:.2},\"reward_low_fp\":{:.2},\"reward_low_fn\":{:.2},\"points_per_s\":{:.0}}}",
        sweeps[0].normalised, sweeps[1].normalised, sweeps[2].normalised, points_per_s
    );
}

/// cairn's three scores ranked among the published ones.
fn print_scoreboard(dir: &std::path::Path, sweeps: &[SweepResult]) {
    let path = dir.join("results/final_results.json");
    let published: BTreeMap<String, BTreeMap<String, f64>> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let mut board: Vec<(String, [f64; 3])> = published
        .iter()
        .map(|(name, s)| {
            let get = |k: &str| s.get(k).copied().unwrap_or(f64::NAN);
            (
                name.clone(),
                [
                    get("standard"),
                    get("reward_low_FP_rate"),
                    get("reward_low_FN_rate"),
                ],
            )
        })
        .collect();
    board.extend(README_ONLY.iter().map(|(n, s)| (n.to_string(), *s)));
    let ours = [
        sweeps[0].normalised,
        sweeps[1].normalised,
        sweeps[2].normalised,
    ];
    board.push((">> cairn".to_string(), ours));
    board.sort_by(|a, b| b.1[0].total_cmp(&a.1[0]));
    println!(
        "{:<38}{:>10}{:>15}{:>15}",
        "detector (final_results.json unless noted)", "standard", "reward_low_FP", "reward_low_FN"
    );
    for (name, s) in &board {
        println!("{name:<38}{:>10.2}{:>15.2}{:>15.2}", s[0], s[1], s[2]);
    }
}

/// Windows found, false positives and raw score per category, per profile's
/// threshold.
fn print_categories(
    files: &[corpus::CorpusFile],
    scored: &[ScoredFile<'_>],
    sweeps: &[SweepResult],
) {
    let mut categories: Vec<&str> = files.iter().map(|f| f.category()).collect();
    categories.dedup();
    println!(
        "{:<24}{:>16}{:>8}{:>10}   (at the standard threshold; raw per profile)",
        "category", "windows found", "FPs", "raw std"
    );
    for cat in categories {
        let (mut found, mut windows, mut fps) = (0, 0, 0);
        let mut raw = [0.0; 3];
        for (_, s) in files
            .iter()
            .zip(scored)
            .filter(|(f, _)| f.category() == cat)
        {
            for (k, r) in sweeps.iter().enumerate() {
                let out = score_file(s.scores, s.windows, &r.profile, r.threshold);
                raw[k] += out.score;
                if k == 0 {
                    found += out.windows_detected;
                    windows += out.windows;
                    fps += out.fp;
                }
            }
        }
        println!(
            "{cat:<24}{:>16}{fps:>8}{:>10.2}   low FP {:>7.2}  low FN {:>7.2}",
            format!("{found}/{windows}"),
            raw[0],
            raw[1],
            raw[2]
        );
    }
}

fn print_files(files: &[corpus::CorpusFile], scored: &[ScoredFile<'_>], standard: &SweepResult) {
    for (f, s) in files.iter().zip(scored) {
        let out = score_file(s.scores, s.windows, &standard.profile, standard.threshold);
        println!(
            "{:<60} windows {}/{}  FPs {:>3}  raw {:>7.3}",
            f.key, out.windows_detected, out.windows, out.fp, out.score
        );
    }
}
