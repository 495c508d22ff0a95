//! How the combinations of [`cairn_forecast::univariate::Combination`] were chosen, and
//! a way to repeat it: every candidate method is run on M4 series and every mean and
//! median of 2 to 5 members is scored.
//!
//! `cargo run --release -p cairn-forecast --example select -- hourly|weekly [--validate] [--history N]`
//!
//! With `--validate` the last horizon of each *training* series is held out and scored,
//! so the test files play no part: that is how the presets were picked. Without it the
//! test files are scored, to see how the ranking carries over.

use std::path::Path;

use cairn_forecast::m4::{self, Frequency, Series};
use cairn_forecast::stats::median;
use cairn_forecast::univariate::{method_forecast, Method, Spec};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let freq = if args.iter().any(|a| a == "weekly") {
        Frequency::Weekly
    } else {
        Frequency::Hourly
    };
    let validate = args.iter().any(|a| a == "--validate");
    let history: usize = args
        .iter()
        .position(|a| a == "--history")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX);
    let base = std::env::var("CAIRN_BENCH_DATA")
        .unwrap_or_else(|_| format!("{}/../../../shared/bench", env!("CARGO_MANIFEST_DIR")));
    let dir = Path::new(&base).join("forecast/m4/Dataset");
    let load = |kind: &str| {
        let path = dir.join(format!(
            "{kind}/{}-{}.csv",
            freq.name(),
            kind.to_lowercase()
        ));
        m4::parse_csv(&std::fs::read_to_string(&path).expect("M4 file")).expect("M4 csv")
    };
    let (h, m) = (freq.horizon(), freq.period());
    let (train, test): (Vec<Series>, Vec<Series>) = if validate {
        load("Train")
            .into_iter()
            .map(|s| {
                let n = s.values.len() - h;
                let head = Series {
                    id: s.id.clone(),
                    values: s.values[..n].to_vec(),
                };
                let tail = Series {
                    id: s.id,
                    values: s.values[n..].to_vec(),
                };
                (head, tail)
            })
            .unzip()
    } else {
        (load("Train"), load("Test"))
    };
    let (methods, periods): (Vec<Method>, Vec<usize>) = match freq {
        Frequency::Hourly => (
            vec![
                Method::SeasonalNaive,
                Method::SeasonalNaiveLong,
                Method::MstlEts,
                Method::MstlDamped,
                Method::MstlTheta,
                Method::LogMstlEts,
                Method::LogMstlTheta,
            ],
            vec![24, 168],
        ),
        Frequency::Weekly => (
            vec![
                Method::Naive,
                Method::Damped,
                Method::AutoEts,
                Method::Theta,
                Method::ArDiff,
                Method::ClassicTheta,
                Method::ClassicDamped,
                Method::ClassicAutoEts,
                Method::ClassicArDiff,
                Method::MstlTheta,
                Method::LogMstlTheta,
            ],
            vec![52],
        ),
    };
    let naive2: Vec<Vec<f64>> = train.iter().map(|s| m4::naive2(&s.values, h, m)).collect();
    let base = m4::score(&train, &test, &naive2, m);
    let spec = Spec {
        periods: &periods,
        horizon: h,
    };
    let all: Vec<Vec<Vec<f64>>> = methods
        .iter()
        .map(|&method| {
            let f: Vec<Vec<f64>> = train
                .iter()
                .map(|s| {
                    method_forecast(
                        method,
                        &s.values[s.values.len().saturating_sub(history)..],
                        &spec,
                    )
                })
                .collect();
            let a = m4::score(&train, &test, &f, m);
            println!("{:<20} OWA {:.3}", format!("{method:?}"), a.owa(&base));
            f
        })
        .collect();
    let mut ranked = Vec::new();
    for mask in 1u32..(1 << methods.len()) {
        let members: Vec<usize> = (0..methods.len())
            .filter(|i| mask & (1 << i) != 0)
            .collect();
        if !(2..=5).contains(&members.len()) {
            continue;
        }
        for use_median in [false, true] {
            let f: Vec<Vec<f64>> = (0..train.len())
                .map(|s| {
                    (0..h)
                        .map(|t| {
                            let v: Vec<f64> = members.iter().map(|&i| all[i][s][t]).collect();
                            if use_median {
                                median(&v)
                            } else {
                                v.iter().sum::<f64>() / v.len() as f64
                            }
                        })
                        .collect()
                })
                .collect();
            let owa = m4::score(&train, &test, &f, m).owa(&base);
            let names: Vec<String> = members
                .iter()
                .map(|&i| format!("{:?}", methods[i]))
                .collect();
            ranked.push((
                owa,
                if use_median { "median" } else { "mean" },
                names.join("+"),
            ));
        }
    }
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (owa, rule, names) in ranked.iter().take(15) {
        println!("{owa:.4} {rule} {names}");
    }
}
