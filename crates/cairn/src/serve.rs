//! `cairn serve` and `cairn demo`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use cairn_app::auth::Bootstrap;
use cairn_app::{App, SystemClock};
use cairn_store::Store;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::{
    resolve_store, DemoArgs, FileConfig, FsyncArg, LogFormat, ServeArgs, Settings,
};

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=error"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn open(data_dir: &Path, database_url: &str) -> anyhow::Result<App> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let store = Store::open(database_url)
        .await
        .with_context(|| format!("cannot open store {}", cairn_store::redact(database_url)))?;
    tracing::info!(backend = ?store.backend(), "store open, migrations applied");
    Ok(App::new(store, Arc::new(SystemClock)))
}

/// Installs the first admin token on an empty store and tells the operator once.
async fn bootstrap(app: &App, data_dir: &Path, quiet_stdout: bool) -> anyhow::Result<()> {
    let from_env = std::env::var("CAIRN_BOOTSTRAP_TOKEN")
        .ok()
        .filter(|s| !s.is_empty());
    match app.bootstrap(from_env.as_deref()).await? {
        Bootstrap::AlreadyDone => {}
        Bootstrap::FromEnvironment => {
            tracing::info!("admin token installed from CAIRN_BOOTSTRAP_TOKEN");
        }
        Bootstrap::Generated(secret) => {
            let path = data_dir.join("admin-token");
            write_secret(&path, &secret)?;
            let msg = format!(
                "Created the admin API token (shown once; also in {}):\n\n    {secret}\n\n\
                 Sign in to the web UI as `admin` with this token as the password.",
                path.display()
            );
            // Scripts that read JSON from stdout get the announcement on stderr.
            if quiet_stdout {
                eprintln!("{msg}");
            } else {
                println!("{msg}");
            }
        }
    }
    Ok(())
}

fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(f, "{secret}")?;
    Ok(())
}

/// Loads the demo with a progress bar; returns seconds taken, or None if the store
/// already held a cloud.
async fn load_demo(
    app: &App,
    quiet: bool,
) -> anyhow::Result<Option<(f64, cairn_app::demo::DemoSummary)>> {
    if !app.is_empty().await? {
        tracing::info!("store already holds a cloud; demo not loaded");
        return Ok(None);
    }
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("loading demo cloud {bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let b = bar.clone();
    let summary = app
        .load_demo(&[], &move |p| {
            b.set_length(p.total as u64);
            b.set_position(p.done as u64);
            b.set_message(p.stage);
        })
        .await?;
    bar.finish_and_clear();
    Ok(Some((start.elapsed().as_secs_f64(), summary)))
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let s = Settings::resolve(&args)?;
    init_logs(s.log_format);
    let app = open(&s.data_dir, &s.database_url).await?;
    let store = app.store.clone();
    bootstrap(&app, &s.data_dir, false).await?;
    if s.demo {
        if let Some((secs, sum)) = load_demo(&app, false).await? {
            tracing::info!(
                seconds = format!("{secs:.2}"),
                merchants = sum.merchants,
                hosts = sum.hosts,
                instances = sum.instances,
                "demo cloud loaded"
            );
        }
    }
    let (metrics, forwarder) = open_metrics(&s)?;
    let external_url = s
        .external_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", s.listen));
    let alerting = cairn_app::alerting::AlertingOptions {
        external_url: external_url.trim_end_matches('/').to_owned(),
        ack_secret: cairn_app::alerting::ack_secret(&app.store, app.now()).await?,
        ..Default::default()
    };
    let tickets = cairn_app::tickets::Tickets::open(&s.data_dir)?;
    let app = app
        .with_metrics(metrics.clone())
        .with_alerting(alerting)
        .with_tickets(tickets);
    let indexed = app.reindex_if_empty().await?;
    if indexed > 0 {
        tracing::info!(documents = indexed, "search index built from the store");
    }
    if s.demo {
        cairn_app::alerting::demo::install(&app).await?;
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let forwarding = forwarder.map(|f| tokio::spawn(f.run(stop_rx.clone())));
    let scraper = tokio::spawn(cairn_app::scrape::run(
        app.clone(),
        s.scrape.clone(),
        s.scrape_hosts,
        stop_rx.clone(),
    ));
    let telemetry = s.demo.then(|| {
        let t = cairn_app::demo_telemetry::telemetry(&app);
        tracing::info!(
            series = t.series_count(),
            "demo telemetry: reporting every 15 s, faults injected a few minutes from now"
        );
        tokio::spawn(cairn_app::demo_telemetry::run(
            app.clone(),
            t,
            stop_rx.clone(),
        ))
    });
    let alerting_loop = tokio::spawn(cairn_app::alerting::run(app.clone(), stop_rx.clone()));
    // In the demo, problems along the chain declare incidents on their own, so the
    // injected faults show the whole loop.
    let incidents_loop = tokio::spawn(cairn_app::incidents::run(
        app.clone(),
        std::time::Duration::from_secs(30),
        s.demo,
        stop_rx.clone(),
    ));
    let tickets_loop = tokio::spawn(cairn_app::tickets::run(
        app.clone(),
        std::time::Duration::from_secs(30),
        stop_rx.clone(),
    ));
    // Gray releases move on every few seconds: batches, callbacks, gates.
    let changes_loop = tokio::spawn(cairn_app::changes::run(
        app.clone(),
        std::time::Duration::from_secs(5),
        stop_rx.clone(),
    ));
    let compactor = tokio::spawn(compact_every_minute(metrics.clone(), stop_rx));
    let listener = tokio::net::TcpListener::bind(s.listen)
        .await
        .with_context(|| format!("cannot listen on {}", s.listen))?;
    let addr = listener.local_addr()?;
    let config = cairn_web::WebConfig {
        body_limit: s.body_limit,
        ..Default::default()
    };
    let router = cairn_web::router(app.clone(), config);
    let shutdown = shutdown_signal()?;
    println!("cairn is serving on http://{addr}/  (API: http://{addr}/api/v1, OpenAPI: http://{addr}/api/openapi.json)");
    tracing::info!(%addr, "serving");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("requests finished; stopping scrapes, closing the stores");
    let _ = stop_tx.send(true);
    let _ = scraper.await;
    let _ = compactor.await;
    let _ = alerting_loop.await;
    let _ = tickets_loop.await;
    let _ = incidents_loop.await;
    let _ = changes_loop.await;
    if let Some(t) = telemetry {
        let _ = t.await;
    }
    if let Some(f) = forwarding {
        let _ = f.await;
    }
    drop(app);
    match std::sync::Arc::try_unwrap(metrics) {
        Ok(m) => m.close()?,
        Err(_) => tracing::warn!("the metrics store is still in use; its WAL is synced on drop"),
    }
    store.close().await;
    Ok(())
}

type OpenedMetrics = (
    Arc<cairn_app::metrics::Metrics>,
    Option<Arc<cairn_app::external::Forwarder>>,
);

/// Opens the time-series store in `<data-dir>/tsdb`, and the forwarding queue and the
/// external query source when configured.
fn open_metrics(s: &Settings) -> anyhow::Result<OpenedMetrics> {
    let fsync = match s.metrics_fsync {
        FsyncArg::Always => cairn_tsdb::FsyncPolicy::Always,
        FsyncArg::Interval => cairn_tsdb::FsyncPolicy::Interval(std::time::Duration::from_secs(1)),
        FsyncArg::Never => cairn_tsdb::FsyncPolicy::Never,
    };
    let opts = cairn_tsdb::Options {
        dir: s.data_dir.join("tsdb"),
        fsync,
        retention: Some(s.metrics_retention),
        retention_bytes: s.metrics_retention_size,
        out_of_order_window: s.metrics_ooo_window,
        max_head_series: s.metrics_max_series,
        ..cairn_tsdb::Options::default()
    };
    let dir = opts.dir.clone();
    let tsdb = cairn_tsdb::Tsdb::open(opts)
        .with_context(|| format!("cannot open the metrics store in {}", dir.display()))?;
    tracing::info!(dir = %dir.display(), fsync = ?s.metrics_fsync, "metrics store open");
    let mut metrics = cairn_app::metrics::Metrics::new(tsdb);
    let mut forwarder = None;
    if let Some(url) = &s.metrics_forward_url {
        let mut config =
            cairn_app::external::ForwardConfig::new(url.clone(), s.data_dir.join("forward"));
        config.bearer_token = s.metrics_forward_token.clone();
        config.max_queue_bytes = s.metrics_forward_queue_size;
        config.fsync = fsync;
        let f = cairn_app::external::Forwarder::open(config)?;
        tracing::info!(%url, pending_bytes = f.stats().pending_bytes, "forwarding metrics to an external store");
        metrics = metrics.with_forwarder(f.clone());
        forwarder = Some(f);
    }
    if let Some(url) = &s.metrics_query_url {
        let remote =
            cairn_app::external::RemoteQuery::new(url.clone(), s.metrics_query_token.clone())?;
        tracing::info!(%url, "answering metric queries from an external store");
        metrics = metrics.with_remote_query(remote);
    }
    Ok((Arc::new(metrics), forwarder))
}

/// Cuts old head data into blocks, merges blocks and applies retention, once a minute.
async fn compact_every_minute(
    metrics: std::sync::Arc<cairn_app::metrics::Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let m = metrics.clone();
        match tokio::task::spawn_blocking(move || m.tsdb().compact()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "metrics compaction failed"),
            Err(e) => tracing::error!(error = %e, "metrics compaction panicked"),
        }
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled, so a signal that arrives right after the server
/// announces itself is not lost to the default action.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    #[cfg(unix)]
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal received; finishing requests in flight");
    })
}

pub async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    init_logs(LogFormat::Text);
    let file = FileConfig::load(args.store.config.as_deref())?;
    let (data_dir, url) = resolve_store(&args.store, &file);
    let app = open(&data_dir, &url).await?;
    bootstrap(&app, &data_dir, args.json).await?;
    match load_demo(&app, args.json).await? {
        Some((secs, sum)) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "load_s": (secs * 1000.0).round() / 1000.0,
                        "merchants": sum.merchants,
                        "hosts": sum.hosts,
                        "instances": sum.instances,
                        "summary": sum,
                    })
                );
            } else {
                println!(
                    "Loaded the demo cloud in {secs:.2} s: {} regions, {} zones, {} products, {} pools, \
                     {} hosts, {} merchants, {} instances, {} services, {} dependencies, {} promotions.",
                    sum.regions, sum.zones, sum.products, sum.pools, sum.hosts, sum.merchants,
                    sum.instances, sum.services, sum.dependencies, sum.promotions
                );
            }
        }
        None => anyhow::bail!("the store in {} already holds a cloud", data_dir.display()),
    }
    app.store.close().await;
    Ok(())
}
