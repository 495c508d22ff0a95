//! `bench/run forecast`: cairn's forecasting on M4 Hourly and Weekly beside the published
//! figures, its speed, and the promotion-aware demand model on the demo's sales.
//!
//! Data: `$CAIRN_BENCH_DATA/forecast` (default `../shared/bench` from the repository
//! root). Ends with one JSON line of headline figures.

use std::path::{Path, PathBuf};
use std::time::Instant;

use cairn_domain::demo;
use cairn_domain::demo_sales;
use cairn_forecast::demand::{forecast_demand, DemandConfig};
use cairn_forecast::demo::{bench_today, pool_cases};
use cairn_forecast::m4::{self, Accuracy, Frequency, Series};
use cairn_forecast::univariate::Combination;
use time::Duration;

fn data_dir() -> PathBuf {
    let base = match std::env::var_os("CAIRN_BENCH_DATA") {
        Some(p) => PathBuf::from(p),
        // The repository root is two levels above this crate.
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench"),
    };
    base.join("forecast")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// One row of the published table: (label, sMAPE, MASE, OWA) for a frequency.
struct Published {
    id: String,
    label: String,
    by_freq: Vec<(String, f64, f64, f64)>,
}

fn published(dir: &Path) -> Vec<Published> {
    let text = read(&dir.join("m4/published_point_forecasts_by_frequency.csv"));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            let num = |name: &str| {
                col(name)
                    .and_then(|i| cells.get(i))
                    .and_then(|c| c.parse::<f64>().ok())
                    .unwrap_or(f64::NAN)
            };
            Published {
                id: cells[0].to_owned(),
                label: cells[1].to_owned(),
                by_freq: ["Hourly", "Weekly"]
                    .iter()
                    .map(|f| {
                        (
                            f.to_string(),
                            num(&format!("sMAPE_{f}")),
                            num(&format!("MASE_{f}")),
                            num(&format!("OWA_{f}")),
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Combined forecasts, each series' member forecasts, and wall seconds.
type Run = (Vec<Vec<f64>>, Vec<Vec<Vec<f64>>>, f64);

/// Forecasts every series with `combo` on two threads (series interleaved so both get a
/// mix of long and short ones). Returns the combined and member forecasts, in order, and
/// the wall time in seconds.
fn run(combo: &Combination, train: &[Series], h: usize) -> Run {
    let threads = 2;
    let t0 = Instant::now();
    let mut results: Vec<(usize, Vec<f64>, Vec<Vec<f64>>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                s.spawn(move || {
                    (k..train.len())
                        .step_by(threads)
                        .map(|i| {
                            let (f, m) = combo.forecast_with_members(&train[i].values, h);
                            (i, f, m)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a forecasting thread panicked"))
            .collect()
    });
    let secs = t0.elapsed().as_secs_f64();
    results.sort_by_key(|r| r.0);
    let (combined, members) = results.into_iter().map(|(_, f, m)| (f, m)).unzip();
    (combined, members, secs)
}

struct FreqResult {
    cairn: Accuracy,
    naive2: Accuracy,
    secs: f64,
    series: usize,
}

fn m4_frequency(dir: &Path, freq: Frequency, published: &[Published]) -> FreqResult {
    let name = freq.name();
    let train = m4::parse_csv(&read(
        &dir.join(format!("m4/Dataset/Train/{name}-train.csv")),
    ))
    .expect("M4 train file");
    let test = m4::parse_csv(&read(&dir.join(format!("m4/Dataset/Test/{name}-test.csv"))))
        .expect("M4 test file");
    let (h, m) = (freq.horizon(), freq.period());
    let naive2: Vec<Vec<f64>> = train.iter().map(|s| m4::naive2(&s.values, h, m)).collect();
    let snaive: Vec<Vec<f64>> = train.iter().map(|s| m4::snaive(&s.values, h, m)).collect();
    let base = m4::score(&train, &test, &naive2, m);
    let sn = m4::score(&train, &test, &snaive, m);
    let combo = match freq {
        Frequency::Hourly => Combination::hourly(),
        Frequency::Weekly => Combination::weekly(),
    };
    let (combined, members, secs) = run(&combo, &train, h);
    let cairn = m4::score(&train, &test, &combined, m);

    println!();
    println!(
        "M4 {name}: {} series, horizon {h}, m = {m} (training part only; scored on the test files)",
        train.len()
    );
    println!("{:<58} {:>8} {:>8} {:>7}", "method", "sMAPE", "MASE", "OWA");
    let row = |label: &str, a: &Accuracy| {
        println!(
            "{label:<58} {:>8.3} {:>8.3} {:>7.3}",
            a.smape,
            a.mase,
            a.owa(&base)
        );
    };
    row("cairn (this run)", &cairn);
    for (k, method) in combo.members.iter().enumerate() {
        let f: Vec<Vec<f64>> = members.iter().map(|ms| ms[k].clone()).collect();
        row(
            &format!("  member: {method:?}"),
            &m4::score(&train, &test, &f, m),
        );
    }
    row("Naive2 (this scorer)", &base);
    row("sNaive (this scorer)", &sn);
    let best_id = published
        .iter()
        .filter(|p| p.by_freq.iter().any(|f| f.0 == name && f.3.is_finite()))
        .min_by(|a, b| {
            let o = |p: &Published| p.by_freq.iter().find(|f| f.0 == name).map_or(9.0, |f| f.3);
            o(a).total_cmp(&o(b))
        })
        .map(|p| p.id.clone())
        .unwrap_or_default();
    for p in published.iter().filter(|p| {
        ["Naive2", "sNaive", "Theta", "Com", "118", "245", "237"].contains(&p.id.as_str())
            || p.id == best_id
    }) {
        if let Some((_, s, a, o)) = p.by_freq.iter().find(|f| f.0 == name) {
            let mut label = format!("published: {} {}", p.id, p.label);
            if p.id == best_id {
                label.push_str(" (best)");
            }
            label.truncate(58);
            println!("{label:<58} {s:>8.3} {a:>8.3} {o:>7.3}");
        }
    }
    let refs: &[(&str, f64, f64)] = match freq {
        Frequency::Hourly => &[
            ("AutoARIMA (approximate)", 0.559, 0.94),
            ("MSTL [24, 168] + AutoETS trend", 0.604, 13.0),
            ("seasonal naive", 0.628, f64::NAN),
            ("AutoETS", 0.803, 5.0),
        ],
        Frequency::Weekly => &[
            ("AutoARIMA", 0.868, 6.0),
            ("AutoETS", 0.934, 58.0),
            ("Theta", 0.975, f64::NAN),
        ],
    };
    for (label, owa, speed) in refs {
        let speed = if speed.is_nan() {
            String::new()
        } else {
            format!("  {speed} series/s")
        };
        println!(
            "{:<58} {:>8} {:>8} {owa:>7.3}{speed}",
            format!("statsforecast 2.1.1: {label}"),
            "",
            ""
        );
    }
    println!(
        "cairn: {:.2} s wall for {} series on 2 threads = {:.1} series/s (fit + forecast)",
        secs,
        train.len(),
        train.len() as f64 / secs
    );
    FreqResult {
        cairn,
        naive2: base,
        secs,
        series: train.len(),
    }
}

/// Absolute percentage errors on promotion days, with and without the calendar.
#[derive(Default)]
struct Ape {
    with: f64,
    without: f64,
    days: usize,
    holdouts: usize,
}

impl Ape {
    fn mape(&self) -> (f64, f64) {
        let n = self.days.max(1) as f64;
        (100.0 * self.with / n, 100.0 * self.without / n)
    }
}

/// MAPE on promotion days of the demo's sales: every past promotion of every pool it
/// reaches, with at least 180 days of history before it, forecast from the day before its
/// ramp (so only data before it is used) with and without the calendar. Returns the
/// promotions that recur (an earlier occurrence is in the history, which is what the
/// model learns from) and all of them (first occurrences rely on the business's figure).
fn promotion_days() -> (Ape, Ape) {
    let today = bench_today();
    let cloud = demo::generate(today);
    let sales = demo_sales::generate(&cloud, today);
    let cases = pool_cases(&cloud, &sales);
    let ramp = DemandConfig::default().max_ramp_days as i64;
    let (mut recurring, mut all) = (Ape::default(), Ape::default());
    for (_, case) in &cases {
        for p in &case.promotions {
            let origin = p.first_day - Duration::days(ramp);
            let history = case.sales.before(origin);
            if history.values.len() < 180 || p.last_day > today {
                continue;
            }
            let horizon = (p.last_day - origin).whole_days() as usize + 1;
            let actual = case.sales.window(origin, horizon);
            let cfg = DemandConfig {
                horizon,
                paths: 100,
                ..DemandConfig::default()
            };
            let on = forecast_demand(&history, &case.promotions, &cfg).expect("forecast");
            let off = forecast_demand(
                &history,
                &case.promotions,
                &DemandConfig {
                    promotions: false,
                    ..cfg
                },
            )
            .expect("forecast");
            let seen = on
                .promotions
                .iter()
                .find(|e| e.id == p.id)
                .is_some_and(|e| e.past_occurrences > 0);
            let mut one = Ape {
                holdouts: 1,
                ..Ape::default()
            };
            for ((y, a), b) in actual.iter().zip(&on.days).zip(&off.days) {
                // Ramp days before the window and missing or zero days are not scored.
                if a.date < p.first_day || y.is_nan() || *y <= 0.0 {
                    continue;
                }
                one.with += (a.mean - y).abs() / y;
                one.without += (b.mean - y).abs() / y;
                one.days += 1;
            }
            let targets: &mut [&mut Ape] = if seen {
                &mut [&mut recurring, &mut all]
            } else {
                &mut [&mut all]
            };
            for t in targets.iter_mut() {
                t.with += one.with;
                t.without += one.without;
                t.days += one.days;
                t.holdouts += one.holdouts;
            }
        }
    }
    (recurring, all)
}

fn main() {
    let dir = data_dir();
    if !dir.join("m4").is_dir() {
        eprintln!("no M4 data under {}: set CAIRN_BENCH_DATA", dir.display());
        std::process::exit(2);
    }
    let published = published(&dir);
    println!("cairn forecast benchmark; data from {}", dir.display());
    let hourly = m4_frequency(&dir, Frequency::Hourly, &published);
    let weekly = m4_frequency(&dir, Frequency::Weekly, &published);
    let series_per_s = (hourly.series + weekly.series) as f64 / (hourly.secs + weekly.secs);

    let t0 = Instant::now();
    let (recurring, all) = promotion_days();
    let (with, without) = recurring.mape();
    let (all_with, all_without) = all.mape();
    println!();
    println!(
        "demo sales (today {}), promotions held out per pool they reach ({:.1} s):",
        bench_today(),
        t0.elapsed().as_secs_f64()
    );
    println!(
        "  recurring promotions (an earlier occurrence in history): {} holdouts, {} days: \
         MAPE {with:.1}% with promotions, {without:.1}% without",
        recurring.holdouts, recurring.days
    );
    println!(
        "  all promotions, first occurrences included: {} holdouts, {} days: \
         MAPE {all_with:.1}% with promotions, {all_without:.1}% without",
        all.holdouts, all.days
    );
    println!(
        "  (a first occurrence can only use the business's expected uplift, which the demo's \
         festivals fall well short of, and a flat shape)"
    );
    println!();
    println!(
        "summary: OWA hourly {:.3} (target <= 0.60), weekly {:.3} (target <= 0.95); {:.1} series/s overall",
        hourly.cairn.owa(&hourly.naive2),
        weekly.cairn.owa(&weekly.naive2),
        series_per_s
    );
    let acc = |r: &FreqResult| {
        format!(
            "{{\"smape\":{:.3},\"mase\":{:.3},\"owa\":{:.3}}}",
            r.cairn.smape,
            r.cairn.mase,
            r.cairn.owa(&r.naive2)
        )
    };
    println!(
        "{{\"bench\":\"forecast\",\"m4_hourly\":{},\"m4_weekly\":{},\"series_per_s\":{:.1},\"promo_days_mape\":{{\"with_promotions\":{:.2},\"without_promotions\":{:.2}}}}}",
        acc(&hourly),
        acc(&weekly),
        series_per_s,
        with,
        without
    );
}
