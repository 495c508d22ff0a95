//! Scraping: cairn pulls the text exposition format from exporters on a schedule, as
//! Prometheus does, and stores what it finds with `job` and `instance` labels and the
//! `up`, `scrape_duration_seconds` and `scrape_samples_scraped` series.
//!
//! Targets come from the configuration (static lists per job) and, when enabled, from
//! every host of the model that has an exporter address. Labels an exporter sets that
//! collide with the target's own are kept as `exported_<name>` (Prometheus'
//! `honor_labels: false`).

use std::time::{Duration, Instant};

use cairn_domain::{Host, HostState, Principal, Role};
use cairn_store::OwnerFilter;
use tokio::sync::watch;

use crate::metrics::{IncomingSeries, MetricMeta};
use crate::App;

/// One scrape job of the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeJob {
    pub job: String,
    /// `host:port` addresses.
    pub targets: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub metrics_path: String,
}

impl ScrapeJob {
    pub fn new(job: impl Into<String>, targets: Vec<String>) -> ScrapeJob {
        ScrapeJob {
            job: job.into(),
            targets,
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
            metrics_path: "/metrics".into(),
        }
    }
}

/// The outcome of one scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeResult {
    pub up: bool,
    pub samples: usize,
    pub error: Option<String>,
}

fn scraper() -> Principal {
    Principal {
        actor: "scraper".into(),
        role: Role::AppOps,
        merchant_id: None,
    }
}

/// Scrapes one target once and stores the result.
pub async fn scrape_once(
    app: &App,
    client: &reqwest::Client,
    job: &ScrapeJob,
    target: &str,
) -> ScrapeResult {
    let began = Instant::now();
    let now = app.now().unix_timestamp() * 1000 + i64::from(app.now().millisecond());
    let url = format!("http://{target}{}", job.metrics_path);
    let fetched: Result<String, String> = async {
        let res = client
            .get(&url)
            .timeout(job.timeout)
            .header("accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("server answered {}", res.status()));
        }
        res.text().await.map_err(|e| e.to_string())
    }
    .await;
    let parsed = fetched.and_then(|t| cairn_wire::exposition::parse(&t).map_err(|e| e.to_string()));
    let target_labels = [("instance", target), ("job", job.job.as_str())];
    let mut series = Vec::new();
    let mut metadata = Vec::new();
    let (up, error) = match parsed {
        Ok(exp) => {
            for s in exp.samples {
                let mut labels: Vec<(String, String)> = s
                    .labels
                    .into_iter()
                    .map(|(k, v)| {
                        if target_labels.iter().any(|(t, _)| *t == k) {
                            (format!("exported_{k}"), v)
                        } else {
                            (k, v)
                        }
                    })
                    .collect();
                labels.extend(
                    target_labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string())),
                );
                series.push(IncomingSeries {
                    labels,
                    samples: vec![(s.timestamp.unwrap_or(now), s.value)],
                });
            }
            for m in exp.metadata {
                metadata.push((
                    m.family,
                    MetricMeta {
                        kind: m.kind.as_str().to_owned(),
                        help: m.help.unwrap_or_default(),
                        unit: m.unit.unwrap_or_default(),
                    },
                ));
            }
            (true, None)
        }
        Err(e) => (false, Some(e)),
    };
    let scraped = series.len();
    let duration = began.elapsed().as_secs_f64();
    for (name, v) in [
        ("up", if up { 1.0 } else { 0.0 }),
        ("scrape_duration_seconds", duration),
        ("scrape_samples_scraped", scraped as f64),
    ] {
        let mut labels = vec![("__name__".to_owned(), name.to_owned())];
        labels.extend(
            target_labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        series.push(IncomingSeries {
            labels,
            samples: vec![(now, v)],
        });
    }
    let stored = app.ingest(&scraper(), series, metadata).await;
    let error = match (error, stored) {
        (Some(e), _) => Some(e),
        (None, Err(e)) => Some(format!("storing the scrape failed: {e}")),
        (None, Ok(_)) => None,
    };
    if let Some(e) = &error {
        tracing::debug!(job = %job.job, %target, error = %e, "scrape failed");
    }
    ScrapeResult {
        up: up && error.is_none(),
        samples: scraped,
        error,
    }
}

/// The exporter addresses of the model's hosts that are up.
async fn host_targets(app: &App) -> Vec<String> {
    match app.store.all::<Host>(&OwnerFilter::Any).await {
        Ok(hosts) => hosts
            .into_iter()
            .filter(|h| h.state == HostState::Up)
            .filter_map(|h| h.exporter)
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list hosts to scrape");
            Vec::new()
        }
    }
}

/// Runs every job until `shutdown` turns true. With `scrape_hosts`, a job `node` scrapes
/// the exporters of the model's hosts, re-reading the list every cycle.
pub async fn run(
    app: App,
    jobs: Vec<ScrapeJob>,
    scrape_hosts: bool,
    mut shutdown: watch::Receiver<bool>,
) {
    let client = match reqwest::Client::builder().build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the scrape client");
            return;
        }
    };
    let mut jobs = jobs;
    if scrape_hosts {
        jobs.push(ScrapeJob::new("node", Vec::new()));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for job in jobs {
        let (app, client, mut stop) = (app.clone(), client.clone(), shutdown.clone());
        let from_hosts = scrape_hosts && job.job == "node" && job.targets.is_empty();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(job.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => return,
                }
                let targets = if from_hosts {
                    host_targets(&app).await
                } else {
                    job.targets.clone()
                };
                // Targets are scraped side by side, so one slow exporter delays no other.
                let mut round = tokio::task::JoinSet::new();
                for t in targets {
                    let (app, client, job) = (app.clone(), client.clone(), job.clone());
                    round.spawn(async move { scrape_once(&app, &client, &job, &t).await });
                }
                while round.join_next().await.is_some() {}
            }
        });
    }
    let _ = shutdown.changed().await;
    tasks.abort_all();
}
