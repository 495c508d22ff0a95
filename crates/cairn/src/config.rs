//! Settings of `cairn serve` and `cairn demo`: flags, then `CAIRN_*` environment
//! variables (clap reads both), then the TOML file of `--config`, then defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde::Deserialize;

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "CAIRN_LISTEN")]
    pub listen: Option<SocketAddr>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Fill an empty store with the demo cloud before serving.
    #[arg(long, env = "CAIRN_DEMO")]
    pub demo: bool,
    /// Largest request body accepted, in bytes [default: 16777216].
    #[arg(long, env = "CAIRN_BODY_LIMIT")]
    pub body_limit: Option<usize>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "CAIRN_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// When the metrics WAL is fsynced: always (before a write is acknowledged), or
    /// interval (every second; a power failure may lose the last second, a crash
    /// nothing), or never (the OS decides) [default: always].
    #[arg(long, env = "CAIRN_METRICS_FSYNC")]
    pub metrics_fsync: Option<FsyncArg>,
    /// How long metrics are kept, e.g. 15d [default: 15d].
    #[arg(long, env = "CAIRN_METRICS_RETENTION")]
    pub metrics_retention: Option<String>,
    /// The most bytes of metric blocks kept on disk; the oldest go first [default: no limit].
    #[arg(long, env = "CAIRN_METRICS_RETENTION_SIZE")]
    pub metrics_retention_size: Option<u64>,
    /// How far behind a series' newest sample a late sample is still accepted, e.g. 10m
    /// [default: 0s, late samples are rejected and counted].
    #[arg(long, env = "CAIRN_METRICS_OOO_WINDOW")]
    pub metrics_ooo_window: Option<String>,
    /// The most series the in-memory head may hold; appends that would add more are
    /// refused, which bounds memory [default: no limit].
    #[arg(long, env = "CAIRN_METRICS_MAX_SERIES")]
    pub metrics_max_series: Option<usize>,
    /// Also forward everything ingested to this remote write URL of an external
    /// long-term store (VictoriaMetrics, Mimir, Thanos), through a durable queue in
    /// <data-dir>/forward [default: no forwarding].
    #[arg(long, env = "CAIRN_METRICS_FORWARD_URL")]
    pub metrics_forward_url: Option<String>,
    /// Bearer token for the forwarding URL.
    #[arg(long, env = "CAIRN_METRICS_FORWARD_TOKEN", hide_env_values = true)]
    pub metrics_forward_token: Option<String>,
    /// The most bytes the forwarding queue holds while the external store is away;
    /// past it, ingest answers 503 so senders retry [default: 1073741824].
    #[arg(long, env = "CAIRN_METRICS_FORWARD_QUEUE_SIZE")]
    pub metrics_forward_queue_size: Option<u64>,
    /// Answer PromQL, series and label queries from this Prometheus API root of an
    /// external store (e.g. http://victoria:8428) instead of the local store.
    #[arg(long, env = "CAIRN_METRICS_QUERY_URL")]
    pub metrics_query_url: Option<String>,
    /// Bearer token for the query URL.
    #[arg(long, env = "CAIRN_METRICS_QUERY_TOKEN", hide_env_values = true)]
    pub metrics_query_token: Option<String>,
    /// Scrape the exporter of every host of the model that has one (job "node").
    #[arg(long, env = "CAIRN_SCRAPE_HOSTS")]
    pub scrape_hosts: bool,
    /// The URL people reach cairn at, for links in notifications (acknowledge links,
    /// alert pages) [default: http://<listen>].
    #[arg(long, env = "CAIRN_EXTERNAL_URL")]
    pub external_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FsyncArg {
    Always,
    Interval,
    Never,
}

/// A scrape job of the config file: `[[scrape]]` with job, targets, interval, timeout,
/// metrics_path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeFile {
    pub job: String,
    pub targets: Vec<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub metrics_path: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory for cairn's data: the SQLite database, the admin token [default: ./cairn-data].
    #[arg(long, env = "CAIRN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// A postgres:// URL selects PostgreSQL; the default is SQLite in the data directory.
    #[arg(long, env = "CAIRN_DATABASE_URL")]
    pub database_url: Option<String>,
    /// A TOML file with any of these settings (listen, data_dir, database_url, demo,
    /// body_limit, log_format, metrics_*, scrape_hosts, and [[scrape]] jobs with job,
    /// targets, interval, timeout, metrics_path); flags and environment variables win.
    #[arg(long, env = "CAIRN_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print the summary as one JSON line (for scripts and benchmarks).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The TOML config file: every serve setting, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub demo: Option<bool>,
    pub body_limit: Option<usize>,
    pub log_format: Option<LogFormat>,
    pub metrics_fsync: Option<FsyncArg>,
    pub metrics_retention: Option<String>,
    pub metrics_retention_size: Option<u64>,
    pub metrics_ooo_window: Option<String>,
    pub metrics_max_series: Option<usize>,
    pub metrics_forward_url: Option<String>,
    pub metrics_forward_token: Option<String>,
    pub metrics_forward_queue_size: Option<u64>,
    pub metrics_query_url: Option<String>,
    pub metrics_query_token: Option<String>,
    pub scrape_hosts: Option<bool>,
    pub external_url: Option<String>,
    #[serde(default)]
    pub scrape: Vec<ScrapeFile>,
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> anyhow::Result<FileConfig> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
    }
}

/// Every setting, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub demo: bool,
    pub body_limit: usize,
    pub log_format: LogFormat,
    pub metrics_fsync: FsyncArg,
    /// Milliseconds.
    pub metrics_retention: i64,
    pub metrics_retention_size: Option<u64>,
    /// Milliseconds.
    pub metrics_ooo_window: i64,
    pub metrics_max_series: Option<usize>,
    pub metrics_forward_url: Option<String>,
    pub metrics_forward_token: Option<String>,
    pub metrics_forward_queue_size: u64,
    pub metrics_query_url: Option<String>,
    pub metrics_query_token: Option<String>,
    pub scrape_hosts: bool,
    pub scrape: Vec<cairn_app::scrape::ScrapeJob>,
    pub external_url: Option<String>,
}

fn http_url(name: &str, url: Option<String>) -> anyhow::Result<Option<String>> {
    match url {
        Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
            anyhow::bail!("{name}: {u:?} is not an http:// or https:// URL")
        }
        other => Ok(other),
    }
}

fn duration(name: &str, s: &str) -> anyhow::Result<i64> {
    cairn_domain::duration::parse_duration_ms(s)
        .with_context(|| format!("{name}: {s:?} is not a duration such as 15s, 10m or 15d"))
}

impl Settings {
    pub fn resolve(args: &ServeArgs) -> anyhow::Result<Settings> {
        let file = FileConfig::load(args.store.config.as_deref())?;
        let (data_dir, database_url) = resolve_store(&args.store, &file);
        let body_limit = args
            .body_limit
            .or(file.body_limit)
            .unwrap_or(16 * 1024 * 1024);
        anyhow::ensure!(
            body_limit >= 1024,
            "body_limit must be at least 1024 bytes, got {body_limit}"
        );
        Ok(Settings {
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            data_dir,
            database_url,
            demo: args.demo || file.demo.unwrap_or(false),
            body_limit,
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            metrics_fsync: args
                .metrics_fsync
                .or(file.metrics_fsync)
                .unwrap_or(FsyncArg::Always),
            metrics_retention: duration(
                "metrics_retention",
                args.metrics_retention
                    .as_deref()
                    .or(file.metrics_retention.as_deref())
                    .unwrap_or("15d"),
            )?,
            metrics_retention_size: args.metrics_retention_size.or(file.metrics_retention_size),
            metrics_ooo_window: duration(
                "metrics_ooo_window",
                args.metrics_ooo_window
                    .as_deref()
                    .or(file.metrics_ooo_window.as_deref())
                    .unwrap_or("0s"),
            )?,
            metrics_max_series: args.metrics_max_series.or(file.metrics_max_series),
            metrics_forward_url: http_url(
                "metrics_forward_url",
                args.metrics_forward_url
                    .clone()
                    .or_else(|| file.metrics_forward_url.clone()),
            )?,
            metrics_forward_token: args
                .metrics_forward_token
                .clone()
                .or_else(|| file.metrics_forward_token.clone()),
            metrics_forward_queue_size: args
                .metrics_forward_queue_size
                .or(file.metrics_forward_queue_size)
                .unwrap_or(1 << 30),
            metrics_query_url: http_url(
                "metrics_query_url",
                args.metrics_query_url
                    .clone()
                    .or_else(|| file.metrics_query_url.clone()),
            )?,
            metrics_query_token: args
                .metrics_query_token
                .clone()
                .or_else(|| file.metrics_query_token.clone()),
            scrape_hosts: args.scrape_hosts || file.scrape_hosts.unwrap_or(false),
            external_url: http_url(
                "external_url",
                args.external_url
                    .clone()
                    .or_else(|| file.external_url.clone()),
            )?,
            scrape: file
                .scrape
                .iter()
                .map(|j| {
                    let mut job =
                        cairn_app::scrape::ScrapeJob::new(j.job.clone(), j.targets.clone());
                    if let Some(i) = &j.interval {
                        job.interval = std::time::Duration::from_millis(duration(
                            "scrape.interval",
                            i,
                        )?
                            as u64);
                    }
                    if let Some(t) = &j.timeout {
                        job.timeout =
                            std::time::Duration::from_millis(duration("scrape.timeout", t)? as u64);
                    }
                    if let Some(p) = &j.metrics_path {
                        job.metrics_path = p.clone();
                    }
                    anyhow::ensure!(
                        !job.interval.is_zero(),
                        "scrape job {}: interval must be above zero",
                        job.job
                    );
                    Ok(job)
                })
                .collect::<anyhow::Result<_>>()?,
        })
    }
}

/// The data directory and the database URL of the store settings.
pub fn resolve_store(args: &StoreArgs, file: &FileConfig) -> (PathBuf, String) {
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("cairn-data"));
    let database_url = args
        .database_url
        .clone()
        .or_else(|| file.database_url.clone())
        .unwrap_or_else(|| cairn_store::Store::sqlite_url(&data_dir.join("cairn.db")));
    (data_dir, database_url)
}
