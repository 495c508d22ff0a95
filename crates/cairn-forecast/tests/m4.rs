//! The M4 scorer's acceptance test on the real files: Naive2 and sNaive reproduce the
//! organisers' published figures, and cairn's combinations beat Naive2 on a subset. The
//! data lives outside the repository; without it the test says so and passes.
use std::path::PathBuf;

use cairn_forecast::m4::{self, Frequency, Series};
use cairn_forecast::univariate::Combination;

fn data() -> Option<PathBuf> {
    let base = std::env::var_os("CAIRN_BENCH_DATA").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench"),
        PathBuf::from,
    );
    let dir = base.join("forecast/m4/Dataset");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: no M4 data at {}", dir.display());
        None
    }
}

fn load(freq: Frequency) -> Option<(Vec<Series>, Vec<Series>)> {
    let dir = data()?;
    let read = |kind: &str| {
        let path = dir.join(format!(
            "{kind}/{}-{}.csv",
            freq.name(),
            kind.to_lowercase()
        ));
        m4::parse_csv(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    Some((read("Train"), read("Test")))
}

/// Asserts a figure equals the published one to its three printed decimals.
fn check(what: &str, got: f64, published: f64) {
    assert!(
        (got - published).abs() < 0.0005,
        "{what}: {got:.4}, published {published}"
    );
}

#[test]
fn naive2_and_snaive_reproduce_the_published_hourly_and_weekly_figures() {
    let Some((train, test)) = load(Frequency::Hourly) else {
        return;
    };
    assert_eq!((train.len(), test.len()), (414, 414));
    let (h, m) = (48, 24);
    let seasonal = train
        .iter()
        .filter(|s| m4::is_seasonal(&s.values, m))
        .count();
    assert_eq!(
        seasonal, 413,
        "SOURCE.md: 413 of 414 hourly series are seasonal"
    );
    let n2: Vec<_> = train.iter().map(|s| m4::naive2(&s.values, h, m)).collect();
    let sn: Vec<_> = train.iter().map(|s| m4::snaive(&s.values, h, m)).collect();
    let a = m4::score(&train, &test, &n2, m);
    let b = m4::score(&train, &test, &sn, m);
    check("Naive2 hourly sMAPE", a.smape, 18.383);
    check("Naive2 hourly MASE", a.mase, 2.395);
    check("sNaive hourly sMAPE", b.smape, 13.912);
    check("sNaive hourly MASE", b.mase, 1.193);

    let Some((train, test)) = load(Frequency::Weekly) else {
        return;
    };
    assert_eq!(train.len(), 359);
    let n2: Vec<_> = train.iter().map(|s| m4::naive2(&s.values, 13, 1)).collect();
    let a = m4::score(&train, &test, &n2, 1);
    check("Naive2 weekly sMAPE", a.smape, 9.161);
    check("Naive2 weekly MASE", a.mase, 2.777);
}

#[test]
fn cairn_beats_naive2_on_the_first_30_hourly_and_weekly_series() {
    for (freq, combo) in [
        (Frequency::Hourly, Combination::hourly()),
        (Frequency::Weekly, Combination::weekly()),
    ] {
        let Some((train, test)) = load(freq) else {
            return;
        };
        let (train, test) = (&train[..30], &test[..30]);
        let (h, m) = (freq.horizon(), freq.period());
        let n2: Vec<_> = train.iter().map(|s| m4::naive2(&s.values, h, m)).collect();
        let ours: Vec<_> = train.iter().map(|s| combo.forecast(&s.values, h)).collect();
        let base = m4::score(train, test, &n2, m);
        let owa = m4::score(train, test, &ours, m).owa(&base);
        assert!(owa < 0.9, "{}: OWA {owa:.3} on 30 series", freq.name());
    }
}
