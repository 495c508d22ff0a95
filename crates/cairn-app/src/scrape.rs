//! Scraping: cairn pulls the text exposition format from exporters on a schedule, as
//! Prometheus does, and stores what it finds with `job` and `instance` labels and the
//! `up`, `scrape_duration_seconds` and `scrape_samples_scraped` series.
//!
//! Targets come from the configuration (static lists per job), from scrape targets
//! added through the API (`/api/v1/scrape-targets`, re-read every few seconds) and,
//! when enabled, from every host of the model that has an exporter address. Labels an exporter sets that
//! collide with the target's own are kept as `exported_<name>` (Prometheus'
//! `honor_labels: false`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use cairn_domain::{Host, HostState, Principal, Role, ScrapeTarget};
use cairn_store::OwnerFilter;
use serde::Serialize;
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

/// One target the scraper runs: a job, an address and how to scrape it. Two targets
/// with the same key are the same target, whatever configured them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TargetKey {
    pub job: String,
    pub address: String,
    pub metrics_path: String,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    /// Where the target came from: `config`, `api` or `hosts`.
    pub source: &'static str,
}

impl TargetKey {
    fn job(&self) -> ScrapeJob {
        ScrapeJob {
            job: self.job.clone(),
            targets: vec![self.address.clone()],
            interval: Duration::from_millis(self.interval_ms),
            timeout: Duration::from_millis(self.timeout_ms),
            metrics_path: self.metrics_path.clone(),
        }
    }
}

/// The health of one target, as Prometheus' `/api/v1/targets` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetHealth {
    pub target: TargetKey,
    /// `up`, `down` or `unknown` (not scraped yet).
    pub health: &'static str,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_scrape: Option<cairn_domain::Timestamp>,
    pub last_scrape_duration_s: f64,
    pub last_samples: usize,
    pub last_error: Option<String>,
}

/// The targets the scraper runs now and how their last scrapes went.
#[derive(Debug, Default)]
pub struct TargetBoard {
    targets: RwLock<BTreeMap<TargetKey, TargetHealth>>,
}

impl TargetBoard {
    /// Every target, in key order.
    pub fn list(&self) -> Vec<TargetHealth> {
        self.targets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn set_targets(&self, keys: &BTreeSet<TargetKey>) {
        let mut t = self.targets.write().unwrap_or_else(|e| e.into_inner());
        t.retain(|k, _| keys.contains(k));
        for k in keys {
            t.entry(k.clone()).or_insert_with(|| TargetHealth {
                target: k.clone(),
                health: "unknown",
                last_scrape: None,
                last_scrape_duration_s: 0.0,
                last_samples: 0,
                last_error: None,
            });
        }
    }

    fn record(&self, key: &TargetKey, at: cairn_domain::Timestamp, took: f64, r: &ScrapeResult) {
        let mut t = self.targets.write().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = t.get_mut(key) {
            h.health = if r.up { "up" } else { "down" };
            h.last_scrape = Some(at);
            h.last_scrape_duration_s = took;
            h.last_samples = r.samples;
            h.last_error = r.error.clone();
        }
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

/// Every target that should run now: the configuration's jobs, the enabled targets
/// added through the API, and (with `scrape_hosts`) the exporters of the model's hosts
/// that are up, as job `node`.
pub async fn desired_targets(
    app: &App,
    jobs: &[ScrapeJob],
    scrape_hosts: bool,
) -> BTreeSet<TargetKey> {
    let mut keys = BTreeSet::new();
    let key = |job: &ScrapeJob, address: &str, source| TargetKey {
        job: job.job.clone(),
        address: address.to_owned(),
        metrics_path: job.metrics_path.clone(),
        interval_ms: job.interval.as_millis() as u64,
        timeout_ms: job.timeout.as_millis() as u64,
        source,
    };
    for job in jobs {
        for t in &job.targets {
            keys.insert(key(job, t, "config"));
        }
    }
    match app.store.all::<ScrapeTarget>(&OwnerFilter::Any).await {
        Ok(targets) => {
            for t in targets.into_iter().filter(|t| t.enabled) {
                let job = ScrapeJob {
                    job: t.job,
                    targets: Vec::new(),
                    interval: Duration::from_secs(u64::from(t.interval_s)),
                    timeout: Duration::from_secs(u64::from(t.timeout_s)),
                    metrics_path: t.metrics_path,
                };
                keys.insert(key(&job, &t.address, "api"));
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot list scrape targets"),
    }
    if scrape_hosts {
        let node = ScrapeJob::new("node", Vec::new());
        for t in host_targets(app).await {
            keys.insert(key(&node, &t, "hosts"));
        }
    }
    keys
}

/// How often the scraper re-reads its targets: a target added through the API is
/// scraped within this long.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// Scrapes one target on its interval until aborted.
async fn run_target(app: App, client: reqwest::Client, key: TargetKey, board: Arc<TargetBoard>) {
    let job = key.job();
    let mut tick = tokio::time::interval(job.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let at = app.now();
        let began = Instant::now();
        let r = scrape_once(&app, &client, &job, &key.address).await;
        board.record(&key, at, began.elapsed().as_secs_f64(), &r);
    }
}

/// Runs every target until `shutdown` turns true, re-reading the set of targets every
/// [`RELOAD_EVERY`]: new targets start, removed ones stop, unchanged ones keep their
/// rhythm. Each target runs on its own task, so one slow exporter delays no other.
pub async fn run(
    app: App,
    jobs: Vec<ScrapeJob>,
    scrape_hosts: bool,
    shutdown: watch::Receiver<bool>,
) {
    run_reloading_every(app, jobs, scrape_hosts, RELOAD_EVERY, shutdown).await
}

/// [`run`], re-reading the targets every `reload` (tests use a short one).
pub async fn run_reloading_every(
    app: App,
    jobs: Vec<ScrapeJob>,
    scrape_hosts: bool,
    reload: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let client = match reqwest::Client::builder().build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the scrape client");
            return;
        }
    };
    let board = match app.metrics() {
        Ok(m) => m.targets().clone(),
        Err(_) => return,
    };
    let mut running: HashMap<TargetKey, tokio::task::AbortHandle> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let wanted = desired_targets(&app, &jobs, scrape_hosts).await;
        board.set_targets(&wanted);
        running.retain(|k, handle| {
            let keep = wanted.contains(k);
            if !keep {
                tracing::info!(job = %k.job, target = %k.address, "scrape target removed");
                handle.abort();
            }
            keep
        });
        for k in wanted {
            if let std::collections::hash_map::Entry::Vacant(slot) = running.entry(k) {
                let k = slot.key().clone();
                tracing::info!(job = %k.job, target = %k.address, source = k.source, "scrape target added");
                slot.insert(tasks.spawn(run_target(app.clone(), client.clone(), k, board.clone())));
            }
        }
        // Reap finished (aborted) tasks so the set does not grow.
        while tasks.try_join_next().is_some() {}
        tokio::select! {
            _ = tokio::time::sleep(reload) => {}
            _ = shutdown.changed() => break,
        }
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}
