//! Reads the NAB corpus from disk: the one place (with the bench example, which
//! includes this file) where the anomaly crate touches files.

use std::path::{Path, PathBuf};

use cairn_anomaly::nab::parse::{parse_series_csv, parse_windows_json, Series};
use cairn_anomaly::nab::{window_rows, RowWindow};

/// One NAB data file with its windows as row ranges.
pub struct CorpusFile {
    /// `"<category>/<name>.csv"`, the key of `combined_windows.json`.
    pub key: String,
    pub series: Series,
    pub windows: Vec<RowWindow>,
}

impl CorpusFile {
    pub fn category(&self) -> &str {
        self.key.split('/').next().unwrap_or("")
    }

    pub fn name(&self) -> &str {
        self.key
            .rsplit('/')
            .next()
            .unwrap_or("")
            .trim_end_matches(".csv")
    }
}

/// `${CAIRN_BENCH_DATA:-<repo>/../shared/bench}/nab`, or `None` when it is missing.
pub fn data_dir() -> Option<PathBuf> {
    let base = std::env::var_os("CAIRN_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench"));
    let dir = base.join("nab");
    dir.join("labels/combined_windows.json")
        .is_file()
        .then_some(dir)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every file listed in `labels/combined_windows.json`, in the label file's order.
pub fn load(dir: &Path) -> Vec<CorpusFile> {
    let labels = parse_windows_json(&read(&dir.join("labels/combined_windows.json")))
        .expect("combined_windows.json parses");
    labels
        .into_iter()
        .map(|(key, windows_ms)| {
            let series = parse_series_csv(&read(&dir.join("data").join(&key)), "value")
                .unwrap_or_else(|e| panic!("{key}: {e}"));
            let windows = window_rows(&series.timestamps_ms, &windows_ms)
                .unwrap_or_else(|e| panic!("{key}: {e}"));
            CorpusFile {
                key,
                series,
                windows,
            }
        })
        .collect()
}

/// A published detector's per-row `anomaly_score` for one corpus file, from
/// `results/<detector>/<category>/<detector>_<name>.csv`.
#[allow(dead_code)] // Used by the tests, not by the bench example that shares this file.
pub fn published_scores(dir: &Path, detector: &str, file: &CorpusFile) -> Option<Vec<f64>> {
    let path = dir
        .join("results")
        .join(detector)
        .join(file.category())
        .join(format!("{detector}_{}.csv", file.name()));
    let text = std::fs::read_to_string(path).ok()?;
    let s = parse_series_csv(&text, "anomaly_score").expect("result file parses");
    // Row counts must agree; timestamps need not: the result file for
    // machine_temperature_system_failure orders the rows where the data's timestamps go
    // backwards differently, and NAB scores by row index anyway.
    assert_eq!(s.values.len(), file.series.values.len(), "{}", file.key);
    Some(s.values)
}
