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
    /// body_limit, log_format); flags and environment variables win over it.
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
