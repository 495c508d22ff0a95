//! `cairn-loader`: the load generator of `bench/run tsdb`.
//!
//! `write` sends a node_exporter-like workload as pre-encoded Prometheus remote-write
//! requests over a few keep-alive connections, so that the encoding cost is not part of
//! what is measured; it works against any remote-write receiver (cairn, Prometheus,
//! VictoriaMetrics). `query` times `query_range` requests against any Prometheus-style
//! HTTP API. Both print one JSON line of figures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use cairn_wire::remote_write::{encode_write_request, Label, Sample, TimeSeries, WriteRequest};
use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Send the workload to a remote-write URL.
    Write(WriteArgs),
    /// Time query_range requests: each query `repeat` times, p50 and p99.
    Query {
        /// e.g. http://127.0.0.1:8080/prometheus
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: Option<String>,
        #[arg(long)]
        start_s: f64,
        #[arg(long)]
        end_s: f64,
        #[arg(long, default_value = "60")]
        step: String,
        #[arg(long, default_value_t = 20)]
        repeat: usize,
        /// The queries, one per argument.
        queries: Vec<String>,
    },
}

#[derive(clap::Args)]
struct WriteArgs {
    /// e.g. http://127.0.0.1:8080/prometheus/api/v1/write
    #[arg(long)]
    url: String,
    #[arg(long)]
    token: Option<String>,
    /// Number of series (spread over instances of 100 series each... see workload).
    #[arg(long, default_value_t = 50_000)]
    series: usize,
    /// Samples per series.
    #[arg(long, default_value_t = 240)]
    samples: usize,
    /// Scrape interval in seconds.
    #[arg(long, default_value_t = 15)]
    interval_s: i64,
    #[arg(long, default_value_t = 12_500)]
    per_request: usize,
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// The last sample's timestamp, in ms (default: now).
    #[arg(long)]
    end_ms: Option<i64>,
}

/// The metric families of the workload: name, label sets per instance, kind.
struct Family {
    name: &'static str,
    /// Label names and how many values each takes per instance.
    dims: &'static [(&'static str, &'static [&'static str])],
    counter: bool,
}

const MODES: &[&str] = &[
    "idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice",
];
const CPUS: &[&str] = &["0", "1", "2", "3", "4", "5", "6", "7"];
const DEVICES: &[&str] = &["eth0", "eth1", "lo", "docker0"];
const DISKS: &[&str] = &["vda", "vdb"];
const LE: &[&str] = &[
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf",
];
const FS: &[&str] = &["/", "/data", "/var/log"];

const FAMILIES: &[Family] = &[
    Family {
        name: "node_cpu_seconds_total",
        dims: &[("cpu", CPUS), ("mode", MODES)],
        counter: true,
    },
    Family {
        name: "node_network_receive_bytes_total",
        dims: &[("device", DEVICES)],
        counter: true,
    },
    Family {
        name: "node_network_transmit_bytes_total",
        dims: &[("device", DEVICES)],
        counter: true,
    },
    Family {
        name: "node_disk_io_time_seconds_total",
        dims: &[("device", DISKS)],
        counter: true,
    },
    Family {
        name: "node_disk_read_bytes_total",
        dims: &[("device", DISKS)],
        counter: true,
    },
    Family {
        name: "node_filesystem_avail_bytes",
        dims: &[("mountpoint", FS)],
        counter: false,
    },
    Family {
        name: "node_memory_MemAvailable_bytes",
        dims: &[],
        counter: false,
    },
    Family {
        name: "node_load1",
        dims: &[],
        counter: false,
    },
    Family {
        name: "http_request_duration_seconds_bucket",
        dims: &[("le", LE)],
        counter: true,
    },
];

/// Every series of one instance (about 100), as label sets.
fn instance_series(instance: usize) -> Vec<(Vec<Label>, bool)> {
    let mut out = Vec::new();
    for f in FAMILIES {
        let mut combos: Vec<Vec<(&str, &str)>> = vec![vec![]];
        for (dim, values) in f.dims {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.push((*dim, *v));
                        c
                    })
                })
                .collect();
        }
        for c in combos {
            let mut labels = vec![
                ("__name__".to_owned(), f.name.to_owned()),
                ("instance".to_owned(), format!("host-{instance:04}:9100")),
                ("job".to_owned(), "node".to_owned()),
            ];
            labels.extend(c.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())));
            labels.sort();
            let labels = labels
                .into_iter()
                .map(|(name, value)| Label { name, value })
                .collect();
            out.push((labels, f.counter));
        }
    }
    out
}

/// A deterministic, realistic value: counters grow by a per-series rate with jitter,
/// gauges wander around a level.
fn value(series: usize, step: usize, counter: bool, le_rank: Option<usize>) -> f64 {
    let h = (series as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    let jitter = ((step as u64).wrapping_mul(2_654_435_761) ^ h) % 100;
    if counter {
        let rate = (h % 1000) as f64 / 10.0 + 1.0;
        let base = rate * step as f64 * 15.0 + jitter as f64 / 10.0;
        match le_rank {
            Some(r) => (base * (r + 1) as f64 / 11.0).floor(),
            None => (base * 100.0).round() / 100.0,
        }
    } else {
        ((h % 10_000) as f64 * 1e6 + jitter as f64 * 1e3).round()
    }
}

async fn write(a: WriteArgs) -> anyhow::Result<()> {
    let WriteArgs {
        url,
        token,
        series,
        samples,
        interval_s,
        per_request,
        connections,
        end_ms,
    } = a;
    let mut all = Vec::with_capacity(series);
    let mut instance = 0;
    while all.len() < series {
        all.extend(instance_series(instance));
        instance += 1;
    }
    all.truncate(series);
    let end = end_ms.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    });
    let start = end - (samples as i64 - 1) * interval_s * 1000;
    eprintln!(
        "encoding {} samples of {series} series...",
        series * samples
    );
    // Time-major order, as scrapes arrive: every series' sample at t, then t + interval.
    let mut bodies = Vec::new();
    let mut current = Vec::new();
    let mut in_req = 0;
    for step in 0..samples {
        let t = start + step as i64 * interval_s * 1000;
        for (i, (labels, counter)) in all.iter().enumerate() {
            let le_rank = labels
                .iter()
                .find(|l| l.name == "le")
                .and_then(|l| LE.iter().position(|v| *v == l.value));
            current.push(TimeSeries {
                labels: labels.clone(),
                samples: vec![Sample {
                    value: value(i, step, *counter, le_rank),
                    timestamp: t,
                }],
                ..Default::default()
            });
            in_req += 1;
            if in_req == per_request {
                bodies.push(encode_write_request(&WriteRequest {
                    timeseries: std::mem::take(&mut current),
                    ..Default::default()
                }));
                in_req = 0;
            }
        }
    }
    if !current.is_empty() {
        bodies.push(encode_write_request(&WriteRequest {
            timeseries: current,
            ..Default::default()
        }));
    }
    let bytes: usize = bodies.iter().map(Vec::len).sum();
    eprintln!(
        "{} requests, {:.1} MiB encoded; sending over {connections} connections",
        bodies.len(),
        bytes as f64 / 1048576.0
    );
    let bodies = Arc::new(bodies);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let began = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(120))
            .build()?;
        let (bodies, next, url, token) = (bodies.clone(), next.clone(), url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else {
                    return Ok::<(), anyhow::Error>(());
                };
                let mut req = client
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .header("content-encoding", "snappy")
                    .header("x-prometheus-remote-write-version", "0.1.0")
                    .body(body.clone());
                if let Some(t) = &token {
                    req = req.bearer_auth(t);
                }
                let res = req.send().await.context("sending a write request")?;
                if !res.status().is_success() {
                    let status = res.status();
                    let text = res.text().await.unwrap_or_default();
                    bail!("request {i} answered {status}: {text}");
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = began.elapsed().as_secs_f64();
    let total = series * samples;
    println!(
        "{}",
        serde_json::json!({
            "series": series, "samples": total, "seconds": secs,
            "samples_per_s": total as f64 / secs, "requests": bodies.len(),
            "start_ms": start, "end_ms": end,
        })
    );
    Ok(())
}

async fn query(
    base: String,
    token: Option<String>,
    start_s: f64,
    end_s: f64,
    step: String,
    repeat: usize,
    queries: Vec<String>,
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let mut all = Vec::new();
    let mut per_query = Vec::new();
    for q in &queries {
        let mut times = Vec::new();
        for _ in 0..repeat {
            let began = Instant::now();
            let mut req = client.get(format!("{base}/api/v1/query_range")).query(&[
                ("query", q.as_str()),
                ("start", &start_s.to_string()),
                ("end", &end_s.to_string()),
                ("step", &step),
            ]);
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            let res = req.send().await?;
            let status = res.status();
            let body: serde_json::Value = res.json().await?;
            if !status.is_success() || body["status"] != "success" {
                bail!("{q}: {status} {body}");
            }
            times.push(began.elapsed().as_secs_f64() * 1000.0);
            if times.len() == 1 {
                let n = body["data"]["result"].as_array().map(Vec::len).unwrap_or(0);
                eprintln!("{q}: {n} series");
            }
        }
        times.sort_by(f64::total_cmp);
        per_query.push(serde_json::json!({"query": q, "p50_ms": pct(&times, 0.5), "p99_ms": pct(&times, 0.99)}));
        all.extend(times);
    }
    all.sort_by(f64::total_cmp);
    println!(
        "{}",
        serde_json::json!({"p50_ms": pct(&all, 0.5), "p99_ms": pct(&all, 0.99), "queries": per_query})
    );
    Ok(())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    (sorted[i] * 100.0).round() / 100.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Write(a) => write(a).await,
        Cmd::Query {
            base,
            token,
            start_s,
            end_s,
            step,
            repeat,
            queries,
        } => query(base, token, start_s, end_s, step, repeat, queries).await,
    }
}
