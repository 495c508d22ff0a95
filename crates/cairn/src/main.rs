//! `cairn`: the one binary. `cairn serve` runs the platform; the other subcommands load
//! the demo, import files and query a running server for scripts.

mod client;
mod config;
mod serve;

use clap::{Parser, Subcommand};

/// cairn — the operations platform of a merchant cloud.
///
/// One binary runs the whole platform: the model of merchants, pools, zones, hosts and
/// services, its API under /api/v1 and a web UI, on an embedded SQLite store in a data
/// directory (or PostgreSQL when one machine is outgrown).
///
/// Start here:  cairn serve --demo      then open the printed URL.
#[derive(Debug, Parser)]
#[command(
    name = "cairn",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform: API, web UI, /metrics, /healthz and /readyz.
    ///
    /// Settings come from flags, then CAIRN_* environment variables, then the TOML file
    /// given by --config, then defaults. On an empty store an admin API token is created:
    /// CAIRN_BOOTSTRAP_TOKEN if set, else a generated one, printed once and written to
    /// <data-dir>/admin-token (mode 0600). Sign in to the UI as `admin` with that token.
    Serve(Box<config::ServeArgs>),
    /// Load the demo cloud into an empty store, then exit (no server).
    Demo(config::DemoArgs),
    /// Import a JSON or CSV file of one kind into a running server: all rows or none.
    ///
    /// The kind is taken from --kind or from the file name (hosts.csv, merchants.json).
    /// JSON files hold an array of records; CSV files a header row of field names.
    Import(client::ImportArgs),
    /// Regions (地域).
    #[command(subcommand)]
    Regions(client::ResourceCmd),
    /// Zones: machine rooms (机房) in a region.
    #[command(subcommand)]
    Zones(client::ResourceCmd),
    /// Cloud products (ECS, SLB, RDS, ...).
    #[command(subcommand)]
    Products(client::ResourceCmd),
    /// Resource pools: a product in a zone, with capacity.
    #[command(subcommand)]
    Pools(client::ResourceCmd),
    /// Hosts in racks of zones.
    #[command(subcommand)]
    Hosts(client::ResourceCmd),
    /// Merchants: the cloud's tenants.
    #[command(subcommand)]
    Merchants(client::ResourceCmd),
    /// Merchants' resource instances.
    #[command(subcommand)]
    Instances(client::ResourceCmd),
    /// Services of the full-chain topology.
    #[command(subcommand)]
    Services(client::ResourceCmd),
    /// Dependencies between services.
    #[command(subcommand)]
    Dependencies(client::ResourceCmd),
    /// The promotion calendar (Double 11, 618, ...).
    #[command(subcommand)]
    Promotions(client::ResourceCmd),
    /// Alerting and recording rules: import Prometheus rule files, see their health.
    #[command(subcommand)]
    Rules(client::RulesCmd),
    /// Change requests: create, submit, approve, run gray releases, roll back.
    #[command(subcommand)]
    Changes(client::ChangesCmd),
    /// Anomaly rules: a detector per series of a PromQL expression.
    #[command(subcommand, name = "anomaly-rules")]
    AnomalyRules(client::ResourceCmd),
    /// Exporters cairn scrapes, added at run time (besides the config file's jobs).
    #[command(subcommand, name = "scrape-targets")]
    ScrapeTargets(client::ResourceCmd),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    use cairn_domain::Kind;
    let result = rt.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::serve(*args).await,
            Command::Demo(args) => serve::demo(args).await,
            Command::Import(args) => client::import(args).await,
            Command::Regions(c) => client::resource(Kind::Region, c).await,
            Command::Zones(c) => client::resource(Kind::Zone, c).await,
            Command::Products(c) => client::resource(Kind::Product, c).await,
            Command::Pools(c) => client::resource(Kind::Pool, c).await,
            Command::Hosts(c) => client::resource(Kind::Host, c).await,
            Command::Merchants(c) => client::resource(Kind::Merchant, c).await,
            Command::Instances(c) => client::resource(Kind::Instance, c).await,
            Command::Services(c) => client::resource(Kind::Service, c).await,
            Command::Dependencies(c) => client::resource(Kind::Dependency, c).await,
            Command::Promotions(c) => client::resource(Kind::Promotion, c).await,
            Command::ScrapeTargets(c) => client::resource(Kind::ScrapeTarget, c).await,
            Command::Rules(c) => client::rules(c).await,
            Command::Changes(c) => client::changes(c).await,
            Command::AnomalyRules(c) => client::resource(Kind::AnomalyRule, c).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
