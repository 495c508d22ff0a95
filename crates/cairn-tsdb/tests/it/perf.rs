//! Figures, printed rather than asserted on time: ingest rate and compression on
//! node_exporter-like data. Run the full-size ingest measurement with
//! `cargo test --release -p cairn-tsdb --test it -- --ignored --nocapture perf`.

use crate::support::*;
use cairn_tsdb::{FsyncPolicy, Labels, Sample};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

/// How a generated series' value moves from one scrape to the next.
#[derive(Clone, Copy)]
enum Kind {
    Constant,
    /// Whole-number counter growing by `rate` ± 50 % a scrape.
    Counter {
        rate: u64,
    },
    /// Whole-number counter that mostly stands still and sometimes grows by a little
    /// (error, retransmit and drop counters).
    SlowCounter {
        p: f64,
    },
    /// Counter of `n / 10^decimals` growing by `rate` ± 50 % units of the last
    /// decimal, as node_exporter derives CPU, disk and pressure seconds.
    DecimalCounter {
        decimals: i32,
        rate: u64,
    },
    /// Whole-number gauge (bytes, counts) that changes by up to `step` units of
    /// `unit` on a fraction of scrapes.
    Gauge {
        unit: f64,
        step: i64,
        change: f64,
    },
    /// Gauge with two decimals, such as load averages.
    DecimalGauge,
    /// Full-precision float, such as scrape durations: the worst case.
    Noise,
}

struct Gen {
    rng: StdRng,
    series: Vec<(Labels, Kind, f64)>,
}

fn mk(name: &str, host: &str, extra: &[(&str, String)]) -> Labels {
    let mut pairs = vec![
        ("__name__".to_string(), name.to_string()),
        ("instance".to_string(), format!("{host}:9100")),
        ("job".to_string(), "node".to_string()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    Labels::new(pairs).unwrap()
}

impl Gen {
    /// About 640 series per host, modelled on what node_exporter's default
    /// collectors expose for a 4-CPU machine with 4 network devices, 2 disks and 4
    /// filesystems.
    fn node_exporter(hosts: usize, seed: u64) -> Gen {
        use Kind::*;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut series = Vec::new();
        for h in 0..hosts {
            let host = format!("host-{h:03}");
            let mut add = |rng: &mut StdRng, name: &str, extra: &[(&str, String)], kind: Kind| {
                let start = match kind {
                    Constant => {
                        [0.0, 1.0, 4096.0 * rng.gen_range(1..1_000_000) as f64][rng.gen_range(0..3)]
                    }
                    Counter { .. } | SlowCounter { .. } => {
                        rng.gen_range(0..10_000_000_000u64) as f64
                    }
                    DecimalCounter { decimals, .. } => {
                        rng.gen_range(0..100_000_000u64) as f64 / 10f64.powi(decimals)
                    }
                    Gauge { unit, .. } => unit * rng.gen_range(0..1_000_000) as f64,
                    DecimalGauge => rng.gen_range(0..400) as f64 / 100.0,
                    Noise => rng.gen(),
                };
                series.push((mk(name, &host, extra), kind, start));
            };
            for cpu in 0..4 {
                let c = || ("cpu", cpu.to_string());
                for (mode, rate) in [
                    ("idle", 1400),
                    ("user", 40),
                    ("system", 15),
                    ("iowait", 2),
                    ("softirq", 1),
                    ("irq", 0),
                    ("nice", 0),
                    ("steal", 0),
                ] {
                    let kind = if rate == 0 {
                        Constant
                    } else {
                        DecimalCounter { decimals: 2, rate }
                    };
                    add(
                        &mut rng,
                        "node_cpu_seconds_total",
                        &[c(), ("mode", mode.into())],
                        kind,
                    );
                }
                for mode in ["user", "nice"] {
                    add(
                        &mut rng,
                        "node_cpu_guest_seconds_total",
                        &[c(), ("mode", mode.into())],
                        Constant,
                    );
                }
                add(
                    &mut rng,
                    "node_schedstat_running_seconds_total",
                    &[c()],
                    DecimalCounter {
                        decimals: 9,
                        rate: 400_000_000,
                    },
                );
                add(
                    &mut rng,
                    "node_schedstat_waiting_seconds_total",
                    &[c()],
                    DecimalCounter {
                        decimals: 9,
                        rate: 20_000_000,
                    },
                );
                add(
                    &mut rng,
                    "node_schedstat_timeslices_total",
                    &[c()],
                    Counter { rate: 3_000 },
                );
                add(
                    &mut rng,
                    "node_softnet_processed_total",
                    &[c()],
                    Counter { rate: 200 },
                );
                add(&mut rng, "node_softnet_dropped_total", &[c()], Constant);
                add(
                    &mut rng,
                    "node_softnet_times_squeezed_total",
                    &[c()],
                    SlowCounter { p: 0.01 },
                );
            }
            for dev in ["eth0", "eth1", "lo", "docker0"] {
                let d = || ("device", dev.to_string());
                for dir in ["receive", "transmit"] {
                    add(
                        &mut rng,
                        &format!("node_network_{dir}_bytes_total"),
                        &[d()],
                        Counter { rate: 150_000 },
                    );
                    add(
                        &mut rng,
                        &format!("node_network_{dir}_packets_total"),
                        &[d()],
                        Counter { rate: 300 },
                    );
                    add(
                        &mut rng,
                        &format!("node_network_{dir}_drop_total"),
                        &[d()],
                        SlowCounter { p: 0.02 },
                    );
                    for m in [
                        "errs",
                        "fifo",
                        "compressed",
                        "multicast",
                        "frame",
                        "carrier",
                        "colls",
                    ] {
                        add(
                            &mut rng,
                            &format!("node_network_{dir}_{m}_total"),
                            &[d()],
                            Constant,
                        );
                    }
                }
                for m in [
                    "mtu_bytes",
                    "up",
                    "speed_bytes",
                    "flags",
                    "carrier",
                    "carrier_changes_total",
                    "dormant",
                    "iface_id",
                    "iface_link",
                    "address_assign_type",
                    "protocol_type",
                    "transmit_queue_length",
                    "net_dev_group",
                    "info",
                    "device_id",
                    "name_assign_type",
                ] {
                    add(&mut rng, &format!("node_network_{m}"), &[d()], Constant);
                }
            }
            for i in 0..40 {
                let kind = match i % 4 {
                    0 => Counter { rate: 50 },
                    1 | 2 => SlowCounter { p: 0.05 },
                    _ => Constant,
                };
                add(&mut rng, &format!("node_netstat_n{i}"), &[], kind);
            }
            for i in 0..15 {
                add(
                    &mut rng,
                    &format!("node_sockstat_s{i}"),
                    &[],
                    Gauge {
                        unit: 1.0,
                        step: 3,
                        change: 0.2,
                    },
                );
            }
            for disk in ["sda", "nvme0n1"] {
                let d = [("device", disk.to_string())];
                for m in [
                    "reads_completed_total",
                    "writes_completed_total",
                    "reads_merged_total",
                    "writes_merged_total",
                    "flush_requests_total",
                ] {
                    add(
                        &mut rng,
                        &format!("node_disk_{m}"),
                        &d,
                        Counter { rate: 20 },
                    );
                }
                for m in ["read_bytes_total", "written_bytes_total"] {
                    add(
                        &mut rng,
                        &format!("node_disk_{m}"),
                        &d,
                        Counter { rate: 400_000 },
                    );
                }
                for m in [
                    "read_time_seconds_total",
                    "write_time_seconds_total",
                    "io_time_seconds_total",
                    "io_time_weighted_seconds_total",
                    "flush_requests_time_seconds_total",
                ] {
                    add(
                        &mut rng,
                        &format!("node_disk_{m}"),
                        &d,
                        DecimalCounter {
                            decimals: 3,
                            rate: 30,
                        },
                    );
                }
                add(
                    &mut rng,
                    "node_disk_io_now",
                    &d,
                    Gauge {
                        unit: 1.0,
                        step: 2,
                        change: 0.3,
                    },
                );
                for m in [
                    "discards_completed_total",
                    "discards_merged_total",
                    "discarded_sectors_total",
                    "discard_time_seconds_total",
                    "info",
                ] {
                    add(&mut rng, &format!("node_disk_{m}"), &d, Constant);
                }
            }
            for mount in ["/", "/boot", "/var", "/home"] {
                let m = [
                    ("mountpoint", mount.to_string()),
                    ("fstype", "ext4".to_string()),
                    ("device", "/dev/sda1".to_string()),
                ];
                for name in ["size_bytes", "files", "readonly", "device_error"] {
                    add(&mut rng, &format!("node_filesystem_{name}"), &m, Constant);
                }
                add(
                    &mut rng,
                    "node_filesystem_avail_bytes",
                    &m,
                    Gauge {
                        unit: 4096.0,
                        step: 50,
                        change: 0.5,
                    },
                );
                add(
                    &mut rng,
                    "node_filesystem_free_bytes",
                    &m,
                    Gauge {
                        unit: 4096.0,
                        step: 50,
                        change: 0.5,
                    },
                );
                add(
                    &mut rng,
                    "node_filesystem_files_free",
                    &m,
                    Gauge {
                        unit: 1.0,
                        step: 20,
                        change: 0.3,
                    },
                );
            }
            for i in 0..50 {
                let kind = if i < 20 {
                    Constant
                } else {
                    Gauge {
                        unit: 1024.0,
                        step: 2000,
                        change: 0.7,
                    }
                };
                add(&mut rng, &format!("node_memory_m{i}_bytes"), &[], kind);
            }
            for i in 0..12 {
                add(
                    &mut rng,
                    &format!("node_vmstat_v{i}"),
                    &[],
                    if i < 6 {
                        Counter { rate: 500 }
                    } else {
                        SlowCounter { p: 0.1 }
                    },
                );
            }
            for name in [
                "node_context_switches_total",
                "node_intr_total",
                "node_forks_total",
            ] {
                add(&mut rng, name, &[], Counter { rate: 5_000 });
            }
            for name in ["node_load1", "node_load5", "node_load15"] {
                add(&mut rng, name, &[], DecimalGauge);
            }
            for name in [
                "node_procs_running",
                "node_procs_blocked",
                "node_entropy_available_bits",
                "node_arp_entries",
                "node_filefd_allocated",
                "node_nf_conntrack_entries",
            ] {
                add(
                    &mut rng,
                    name,
                    &[],
                    Gauge {
                        unit: 1.0,
                        step: 3,
                        change: 0.5,
                    },
                );
            }
            for r in ["cpu", "io", "memory"] {
                add(
                    &mut rng,
                    &format!("node_pressure_{r}_waiting_seconds_total"),
                    &[],
                    DecimalCounter {
                        decimals: 6,
                        rate: 20_000,
                    },
                );
            }
            add(
                &mut rng,
                "node_pressure_io_stalled_seconds_total",
                &[],
                DecimalCounter {
                    decimals: 6,
                    rate: 10_000,
                },
            );
            add(
                &mut rng,
                "node_pressure_memory_stalled_seconds_total",
                &[],
                SlowCounter { p: 0.05 },
            );
            for c in 0..35 {
                let l = [("collector", format!("c{c}"))];
                add(
                    &mut rng,
                    "node_scrape_collector_duration_seconds",
                    &l,
                    Noise,
                );
                add(&mut rng, "node_scrape_collector_success", &l, Constant);
            }
            for i in 0..20 {
                add(
                    &mut rng,
                    &format!("node_timex_t{i}"),
                    &[],
                    if i < 17 { Constant } else { Noise },
                );
            }
            for q in ["0", "0.25", "0.5", "0.75", "1"] {
                add(
                    &mut rng,
                    "go_gc_duration_seconds",
                    &[("quantile", q.to_string())],
                    Noise,
                );
            }
            for i in 0..28 {
                let kind = match i {
                    0..=7 => Constant,
                    8..=21 => Gauge {
                        unit: 8.0,
                        step: 5000,
                        change: 0.9,
                    },
                    _ => Counter { rate: 100_000 },
                };
                add(&mut rng, &format!("go_memstats_m{i}"), &[], kind);
            }
            add(
                &mut rng,
                "go_goroutines",
                &[],
                Gauge {
                    unit: 1.0,
                    step: 1,
                    change: 0.1,
                },
            );
            add(&mut rng, "go_threads", &[], Constant);
            add(
                &mut rng,
                "process_cpu_seconds_total",
                &[],
                DecimalCounter {
                    decimals: 2,
                    rate: 3,
                },
            );
            add(
                &mut rng,
                "process_resident_memory_bytes",
                &[],
                Gauge {
                    unit: 4096.0,
                    step: 100,
                    change: 0.9,
                },
            );
            add(
                &mut rng,
                "process_virtual_memory_bytes",
                &[],
                Gauge {
                    unit: 4096.0,
                    step: 100,
                    change: 0.2,
                },
            );
            add(
                &mut rng,
                "process_open_fds",
                &[],
                Gauge {
                    unit: 1.0,
                    step: 2,
                    change: 0.2,
                },
            );
            for name in [
                "process_max_fds",
                "process_start_time_seconds",
                "node_boot_time_seconds",
                "node_uname_info",
                "node_os_info",
                "node_exporter_build_info",
                "go_info",
                "up",
                "scrape_samples_scraped",
                "scrape_series_added",
                "scrape_samples_post_metric_relabeling",
            ] {
                add(&mut rng, name, &[], Constant);
            }
            add(&mut rng, "node_time_seconds", &[], Noise);
            add(&mut rng, "scrape_duration_seconds", &[], Noise);
        }
        Gen { rng, series }
    }

    /// One scrape of every series at `t`, with a few milliseconds of jitter on one
    /// scrape in ten (Prometheus aligns most scrape timestamps exactly).
    fn scrape(&mut self, t: i64) -> Vec<(Labels, Vec<Sample>)> {
        let t = if self.rng.gen_bool(0.1) {
            t + self.rng.gen_range(-3..=3)
        } else {
            t
        };
        let rng = &mut self.rng;
        let grow = |rng: &mut StdRng, rate: u64| rng.gen_range(rate / 2..=rate + rate / 2) as f64;
        self.series
            .iter_mut()
            .map(|(l, kind, v)| {
                *v = match *kind {
                    Kind::Constant => *v,
                    Kind::Counter { rate } => *v + grow(rng, rate),
                    Kind::SlowCounter { p } => {
                        if rng.gen_bool(p) {
                            *v + rng.gen_range(1..=3) as f64
                        } else {
                            *v
                        }
                    }
                    Kind::DecimalCounter { decimals, rate } => {
                        let p = 10f64.powi(decimals);
                        ((*v * p).round() + grow(rng, rate)) / p
                    }
                    Kind::Gauge { unit, step, change } => {
                        if rng.gen_bool(change) {
                            (*v + unit * rng.gen_range(-step..=step) as f64).max(0.0)
                        } else {
                            *v
                        }
                    }
                    Kind::DecimalGauge => {
                        (((*v * 100.0).round() + rng.gen_range(-5..=5) as f64).max(0.0)) / 100.0
                    }
                    Kind::Noise => rng.gen::<f64>() * 0.05,
                };
                (l.clone(), vec![Sample { t, v: *v }])
            })
            .collect()
    }
}

#[test]
fn node_exporter_data_compresses_below_one_and_a_half_bytes_a_sample() {
    let db = TestDb::with(|o| o.block_duration = 2 * HOUR);
    let mut g = Gen::node_exporter(2, 42);
    let start = 1_700_000_000_000i64 / (2 * HOUR) * (2 * HOUR);
    let scrapes = 2 * HOUR / 15_000;
    for k in 0..scrapes {
        db.db().append(g.scrape(start + k * 15_000)).unwrap();
    }
    let head = db.stats();
    db.db().flush().unwrap();
    let s = db.stats();
    let per_sample = s.block_bytes as f64 / s.block_samples as f64;
    println!(
        "compression: {} series x {} scrapes = {} samples; block {} bytes = {:.3} bytes/sample; \
         head held {:.2} bytes/sample in memory ({} bytes)",
        g.series.len(),
        scrapes,
        s.block_samples,
        s.block_bytes,
        per_sample,
        head.head_bytes as f64 / head.head_samples as f64,
        head.head_bytes,
    );
    assert_eq!(s.block_samples, g.series.len() as u64 * scrapes as u64);
    assert!(per_sample <= 1.5, "{per_sample:.3} bytes/sample");
}

fn measure_ingest(series: usize, batch: usize, scrapes: usize) {
    let db = TestDb::with(|o| o.fsync = FsyncPolicy::Never);
    let labels: Vec<Labels> = (0..series)
        .map(|i| {
            Labels::from_strs(&[
                ("__name__", &format!("metric_{}", i % 100)),
                (
                    "instance",
                    &format!("10.0.{}.{}:9100", i / 25_000, (i / 100) % 250),
                ),
                ("job", "node"),
                ("device", &format!("dev{}", i % 7)),
            ])
            .unwrap()
        })
        .collect();
    let t0 = 1_700_000_000_000i64;
    let created = Instant::now();
    for part in labels.chunks(batch) {
        let b = part
            .iter()
            .map(|l| (l.clone(), vec![Sample { t: t0, v: 0.0 }]))
            .collect();
        db.db().append(b).unwrap();
    }
    let create_time = created.elapsed();
    let mut spent = Duration::ZERO;
    let mut samples = 0usize;
    for k in 1..=scrapes {
        let t = t0 + k as i64 * 15_000;
        for part in labels.chunks(batch) {
            let b: Vec<(Labels, Vec<Sample>)> = part
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    (
                        l.clone(),
                        vec![Sample {
                            t,
                            v: (k * 10 + i % 13) as f64,
                        }],
                    )
                })
                .collect();
            let started = Instant::now();
            samples += db.db().append(b).unwrap().samples;
            spent += started.elapsed();
        }
    }
    let s = db.stats();
    let q = Instant::now();
    let got = db
        .db()
        .select(&sel(r#"metric_7{device="dev0"}"#), t0, i64::MAX)
        .unwrap();
    let query_time = q.elapsed();
    let cut = Instant::now();
    db.db().flush().unwrap();
    println!(
        "ingest: {series} series, batches of {batch}: created in {create_time:?}; \
         {samples} samples in {spent:?} = {:.0} samples/s; head {} bytes ({:.0} bytes/series); \
         WAL {} bytes ({:.1} bytes/sample); select of {} series took {query_time:?}; \
         flushing the head took {:?}",
        samples as f64 / spent.as_secs_f64(),
        s.head_bytes,
        s.head_bytes as f64 / series as f64,
        s.wal_bytes,
        s.wal_bytes as f64 / (samples + series) as f64,
        got.len(),
        cut.elapsed(),
    );
    assert_eq!(samples, series * scrapes);
}

#[test]
fn ingest_rate_small() {
    measure_ingest(5_000, 1_250, 4);
}

#[test]
#[ignore = "full-size measurement; run in release"]
fn ingest_rate_full() {
    measure_ingest(50_000, 12_500, 40);
}
