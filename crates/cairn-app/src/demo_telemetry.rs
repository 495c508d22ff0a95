//! The demo cloud's live telemetry: while `cairn serve --demo` runs, the demo's services
//! and hosts report metrics every [`STEP_MS`](cairn_domain::demo_metrics::STEP_MS), with
//! the faults of [`cairn_domain::demo_metrics`] injected on their schedule, so alerts,
//! anomalies and problems appear within minutes. The last hours are backfilled at start
//! so that charts and detectors have history.

use cairn_domain::demo_metrics::{Telemetry, FAULT_PERIOD_MS, STEP_MS};
use cairn_domain::{Principal, Role};
use tokio::sync::watch;

use crate::metrics::IncomingSeries;
use crate::{App, Result};

type Labels = Vec<(String, String)>;

fn reporter() -> Principal {
    Principal {
        actor: "demo-telemetry".into(),
        role: Role::AppOps,
        merchant_id: None,
    }
}

/// The telemetry of the demo cloud, with its faults counted from now.
pub fn telemetry(app: &App) -> Telemetry {
    let cloud = cairn_domain::demo::generate(app.today());
    Telemetry::new(&cloud, now_ms(app))
}

fn now_ms(app: &App) -> i64 {
    (app.now().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Stores every step from `from_ms` to `to_ms`, a few steps per write.
pub async fn backfill(app: &App, t: &Telemetry, from_ms: i64, to_ms: i64) -> Result<usize> {
    let p = reporter();
    let mut samples = 0;
    let mut at = from_ms - from_ms.rem_euclid(STEP_MS);
    while at <= to_ms {
        let mut batch: std::collections::BTreeMap<Labels, Vec<(i64, f64)>> =
            std::collections::BTreeMap::new();
        for _ in 0..20 {
            if at > to_ms {
                break;
            }
            for (labels, v) in t.samples_at(at) {
                batch.entry(labels).or_default().push((at, v));
            }
            at += STEP_MS;
        }
        let series: Vec<IncomingSeries> = batch
            .into_iter()
            .map(|(labels, samples)| IncomingSeries { labels, samples })
            .collect();
        samples += app.ingest(&p, series, Vec::new()).await?.samples;
    }
    Ok(samples)
}

/// Backfills one fault period of history, then reports every step until `shutdown`.
pub async fn run(app: App, t: Telemetry, mut shutdown: watch::Receiver<bool>) {
    let now = now_ms(&app);
    match backfill(&app, &t, now - FAULT_PERIOD_MS, now).await {
        Ok(n) => tracing::info!(
            samples = n,
            series = t.series_count(),
            "demo telemetry backfilled"
        ),
        Err(e) => tracing::warn!(error = %e, "demo telemetry backfill failed"),
    }
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(STEP_MS as u64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let at = now_ms(&app);
        if let Err(e) = backfill(&app, &t, at, at).await {
            tracing::warn!(error = %e, "demo telemetry: a step failed");
        }
    }
}
