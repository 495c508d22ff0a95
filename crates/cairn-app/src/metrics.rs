//! Metrics: samples into cairn's time-series store, PromQL out of it.
//!
//! The edges decode their protocols (remote write, text exposition, Prometheus' HTTP
//! API) and call these use cases, which check the principal, hand blocking storage and
//! query work to the blocking thread pool, and keep the metric metadata (type, help,
//! unit) that exporters send.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use cairn_domain::{Principal, Role};
use cairn_promql::{Engine, QueryError, Series, Value};
use cairn_tsdb::{Labels, MatchOp, Matcher, Sample, Tsdb};
use serde::Serialize;

use crate::{App, AppError, Result};

/// One series as it arrives from an edge: labels (with `__name__`) and samples.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingSeries {
    pub labels: Vec<(String, String)>,
    pub samples: Vec<(i64, f64)>,
}

/// What an exporter says about a metric family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetricMeta {
    #[serde(rename = "type")]
    pub kind: String,
    pub help: String,
    pub unit: String,
}

/// What an ingest did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    pub series: usize,
    pub samples: usize,
    pub out_of_order_rejected: usize,
    pub duplicates: usize,
    pub too_old_rejected: usize,
}

/// The metrics store: the TSDB, the PromQL engine and the metadata.
pub struct Metrics {
    tsdb: Arc<Tsdb>,
    engine: Engine,
    metadata: RwLock<BTreeMap<String, MetricMeta>>,
    targets: Arc<crate::scrape::TargetBoard>,
    /// Forwarding of everything ingested to an external store, when configured.
    forwarder: Option<Arc<crate::external::Forwarder>>,
    /// Queries answered by an external store instead of the local one, when set.
    remote: Option<Arc<crate::external::RemoteQuery>>,
}

impl Metrics {
    pub fn new(tsdb: Tsdb) -> Metrics {
        Metrics {
            tsdb: Arc::new(tsdb),
            engine: Engine::default(),
            metadata: RwLock::new(BTreeMap::new()),
            targets: Arc::default(),
            forwarder: None,
            remote: None,
        }
    }

    /// Also forwards everything ingested through `f`.
    pub fn with_forwarder(mut self, f: Arc<crate::external::Forwarder>) -> Metrics {
        self.forwarder = Some(f);
        self
    }

    /// Answers queries from an external store's Prometheus API.
    pub fn with_remote_query(mut self, r: crate::external::RemoteQuery) -> Metrics {
        self.remote = Some(Arc::new(r));
        self
    }

    pub fn forwarder(&self) -> Option<&Arc<crate::external::Forwarder>> {
        self.forwarder.as_ref()
    }

    /// An instant query on the calling thread, which must be allowed to block (a
    /// blocking-pool thread): for rule evaluation, which is synchronous.
    pub fn instant_blocking(&self, query: &str, time: i64) -> Result<Value> {
        if let Some(r) = &self.remote {
            return tokio::runtime::Handle::current().block_on(r.instant(query, time));
        }
        self.engine
            .instant(&TsdbStorage(&self.tsdb), query, time)
            .map_err(query_error)
    }

    /// A range query on the calling thread (see [`Metrics::instant_blocking`]).
    pub fn range_blocking(&self, query: &str, start: i64, end: i64, step: i64) -> Result<Value> {
        if let Some(r) = &self.remote {
            return tokio::runtime::Handle::current().block_on(r.range(query, start, end, step));
        }
        self.engine
            .range(&TsdbStorage(&self.tsdb), query, start, end, step)
            .map_err(query_error)
    }

    /// Where queries are answered: `local` or the external store's URL.
    pub fn query_source(&self) -> &str {
        self.remote
            .as_ref()
            .map_or("local", |r| r.base_url.as_str())
    }

    /// The scrape targets and their health.
    pub fn targets(&self) -> &Arc<crate::scrape::TargetBoard> {
        &self.targets
    }

    pub fn tsdb(&self) -> &Arc<Tsdb> {
        &self.tsdb
    }

    /// Syncs the WAL and releases the store's lock; when the store is still shared
    /// elsewhere, dropping the last handle does the same.
    pub fn close(self) -> std::result::Result<(), cairn_tsdb::Error> {
        match Arc::try_unwrap(self.tsdb) {
            Ok(t) => t.close(),
            Err(_) => Ok(()),
        }
    }
}

/// The TSDB as PromQL's storage.
struct TsdbStorage<'a>(&'a Tsdb);

fn to_tsdb_matcher(m: &cairn_promql::Matcher) -> std::result::Result<Matcher, String> {
    let op = match m.op {
        cairn_promql::MatchOp::Equal => MatchOp::Equal,
        cairn_promql::MatchOp::NotEqual => MatchOp::NotEqual,
        cairn_promql::MatchOp::RegexMatch => MatchOp::RegexMatch,
        cairn_promql::MatchOp::RegexNoMatch => MatchOp::RegexNoMatch,
    };
    Matcher::new(m.name.clone(), op, m.value.clone()).map_err(|e| e.to_string())
}

impl cairn_promql::Storage for TsdbStorage<'_> {
    fn select(
        &self,
        matchers: &[cairn_promql::Matcher],
        start: i64,
        end: i64,
    ) -> std::result::Result<Vec<Series>, String> {
        let ms = matchers
            .iter()
            .map(to_tsdb_matcher)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let found = self.0.select(&ms, start, end).map_err(|e| e.to_string())?;
        Ok(found
            .into_iter()
            .map(|(labels, samples)| Series {
                labels: labels.into_vec(),
                samples: samples.into_iter().map(|s| (s.t, s.v)).collect(),
            })
            .collect())
    }
}

fn query_error(e: QueryError) -> AppError {
    AppError::Query {
        error_type: e.error_type(),
        message: e.to_string(),
    }
}

fn storage_error(e: cairn_tsdb::Error) -> AppError {
    match e {
        cairn_tsdb::Error::InvalidLabel { .. } | cairn_tsdb::Error::InvalidMatcher { .. } => {
            AppError::bad_input(None, e.to_string())
        }
        other => AppError::Internal(format!("metrics store: {other}")),
    }
}

/// Escapes regular-expression metacharacters, doubling the backslashes for a PromQL
/// string literal. Exporter addresses are validated `host:port`, so they hold no
/// quotes.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push_str("\\\\");
        }
        out.push(c);
    }
    out
}

/// Runs blocking work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(format!("a metrics task failed: {e}")))?
}

impl App {
    /// The metrics store, when this server runs one.
    pub fn metrics(&self) -> Result<&Arc<Metrics>> {
        self.metrics
            .as_ref()
            .ok_or_else(|| AppError::Unavailable("this server runs no metrics store".into()))
    }

    /// Whether `p` may write metrics; edges ask before decoding a large body.
    pub fn may_write_metrics(p: &Principal) -> Result<()> {
        match p.role {
            Role::Admin | Role::BaseOps | Role::AppOps => Ok(()),
            r => Err(AppError::Forbidden(format!(
                "role {r} may not write metrics"
            ))),
        }
    }

    /// Whether `p` may query metrics.
    pub fn may_read_metrics(p: &Principal) -> Result<()> {
        match p.role {
            Role::Merchant => Err(AppError::Forbidden(
                "role merchant may not query the platform's metrics".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Stores samples; labels are validated, bad series are refused by name.
    pub async fn ingest(
        &self,
        p: &Principal,
        series: Vec<IncomingSeries>,
        metadata: Vec<(String, MetricMeta)>,
    ) -> Result<IngestReport> {
        Self::may_write_metrics(p)?;
        let m = self.metrics()?.clone();
        let mut batch = Vec::with_capacity(series.len());
        for s in &series {
            let labels = Labels::new(s.labels.clone())
                .map_err(|e| AppError::bad_input(None, e.to_string()))?;
            let samples = s.samples.iter().map(|&(t, v)| Sample { t, v }).collect();
            batch.push((labels, samples));
        }
        let n = batch.len();
        let stats = blocking(move || {
            // The forwarding queue first: when it is full, nothing is stored and the
            // sender is told to retry, so the two stores never disagree by a refusal.
            if let Some(f) = &m.forwarder {
                f.enqueue(&series, &metadata)?;
            }
            if !metadata.is_empty() {
                let mut meta = m.metadata.write().unwrap_or_else(|e| e.into_inner());
                meta.extend(metadata);
            }
            m.tsdb.append(batch).map_err(storage_error)
        })
        .await?;
        Ok(IngestReport {
            series: n,
            samples: stats.samples,
            out_of_order_rejected: stats.out_of_order_rejected,
            duplicates: stats.duplicates,
            too_old_rejected: stats.too_old_rejected,
        })
    }

    pub async fn query_instant(&self, p: &Principal, query: String, time: i64) -> Result<Value> {
        Self::may_read_metrics(p)?;
        let m = self.metrics()?.clone();
        if let Some(r) = &m.remote {
            return r.instant(&query, time).await;
        }
        blocking(move || {
            m.engine
                .instant(&TsdbStorage(&m.tsdb), &query, time)
                .map_err(query_error)
        })
        .await
    }

    pub async fn query_range(
        &self,
        p: &Principal,
        query: String,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Value> {
        Self::may_read_metrics(p)?;
        if end < start {
            return Err(AppError::bad_input(
                Some("end".into()),
                "end timestamp must not be before start time",
            ));
        }
        if step <= 0 {
            return Err(AppError::bad_input(Some("step".into()), "zero or negative query resolution step widths are not accepted. Try a positive integer"));
        }
        if (end - start) / step > 11_000 {
            return Err(AppError::bad_input(Some("step".into()), "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"));
        }
        let m = self.metrics()?.clone();
        if let Some(r) = &m.remote {
            return r.range(&query, start, end, step).await;
        }
        blocking(move || {
            m.engine
                .range(&TsdbStorage(&m.tsdb), &query, start, end, step)
                .map_err(query_error)
        })
        .await
    }

    fn selectors(sel: &[String]) -> Result<Vec<Vec<Matcher>>> {
        sel.iter()
            .map(|s| {
                let ms = cairn_promql::parse_matchers(s)
                    .map_err(|e| AppError::bad_input(Some("match[]".into()), e.to_string()))?;
                ms.iter()
                    .map(to_tsdb_matcher)
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| AppError::bad_input(Some("match[]".into()), e))
            })
            .collect()
    }

    /// Series matching any of the selectors.
    pub async fn series(
        &self,
        p: &Principal,
        selectors: Vec<String>,
        start: i64,
        end: i64,
    ) -> Result<Vec<Vec<(String, String)>>> {
        Self::may_read_metrics(p)?;
        if selectors.is_empty() {
            return Err(AppError::bad_input(
                Some("match[]".into()),
                "no match[] parameter provided",
            ));
        }
        let sets = Self::selectors(&selectors)?;
        let m = self.metrics()?.clone();
        if let Some(r) = &m.remote {
            return r.series(&selectors, start, end).await;
        }
        blocking(move || {
            let mut all = std::collections::BTreeSet::new();
            for ms in sets {
                for l in m.tsdb.series(&ms, start, end).map_err(storage_error)? {
                    all.insert(l.into_vec());
                }
            }
            Ok(all.into_iter().collect())
        })
        .await
    }

    /// Label names, or the values of one label, over series matching the selectors
    /// (all series when there are none).
    pub async fn labels(
        &self,
        p: &Principal,
        name: Option<String>,
        selectors: Vec<String>,
        start: i64,
        end: i64,
    ) -> Result<Vec<String>> {
        Self::may_read_metrics(p)?;
        let mut sets = Self::selectors(&selectors)?;
        if sets.is_empty() {
            sets.push(Vec::new());
        }
        let m = self.metrics()?.clone();
        if let Some(r) = &m.remote {
            return r.labels(name.as_deref(), &selectors, start, end).await;
        }
        blocking(move || {
            let mut all = std::collections::BTreeSet::new();
            for ms in sets {
                let found = match &name {
                    Some(n) => m.tsdb.label_values(n, &ms, start, end),
                    None => m.tsdb.label_names(&ms, start, end),
                }
                .map_err(storage_error)?;
                all.extend(found);
            }
            Ok(all.into_iter().collect())
        })
        .await
    }

    /// Metadata by metric family, optionally for one metric, at most `limit` families.
    pub fn metric_metadata(
        &self,
        p: &Principal,
        metric: Option<&str>,
        limit: Option<usize>,
    ) -> Result<BTreeMap<String, Vec<MetricMeta>>> {
        Self::may_read_metrics(p)?;
        let meta = self
            .metrics()?
            .metadata
            .read()
            .unwrap_or_else(|e| e.into_inner());
        Ok(meta
            .iter()
            .filter(|(k, _)| metric.is_none_or(|m| m == k.as_str()))
            .take(limit.unwrap_or(usize::MAX))
            .map(|(k, v)| (k.clone(), vec![v.clone()]))
            .collect())
    }

    /// A PromQL label matcher that selects the exporters of a pool's hosts
    /// (`instance=~"10\\.0\\.0\\.1:9100|..."`), or `None` when none of them has one:
    /// the model says which hosts serve a pool, the metrics say how they fare.
    pub async fn pool_exporters_matcher(
        &self,
        p: &Principal,
        pool_id: &str,
    ) -> Result<Option<String>> {
        Self::may_read_metrics(p)?;
        let mut exporters = Vec::new();
        let mut params = vec![
            ("pool_id".to_owned(), pool_id.to_owned()),
            ("limit".to_owned(), "1000".to_owned()),
        ];
        loop {
            let page = self.list_records::<cairn_domain::Host>(p, &params).await?;
            exporters.extend(page.items.into_iter().filter_map(|h| h.exporter));
            match page.next_cursor {
                Some(c) => {
                    params.retain(|(k, _)| k != "cursor");
                    params.push(("cursor".into(), c));
                }
                None => break,
            }
        }
        if exporters.is_empty() {
            return Ok(None);
        }
        exporters.sort();
        let alternatives: Vec<String> = exporters.iter().map(|e| regex_escape(e)).collect();
        Ok(Some(format!("instance=~\"{}\"", alternatives.join("|"))))
    }

    /// The scrape targets running now and how their last scrapes went.
    pub fn scrape_targets(&self, p: &Principal) -> Result<Vec<crate::scrape::TargetHealth>> {
        Self::may_read_metrics(p)?;
        Ok(self.metrics()?.targets.list())
    }

    /// Writes the whole head out as a block now (admins; for benchmarks and backups).
    pub async fn flush_metrics(&self, p: &Principal) -> Result<()> {
        if !p.is_admin() {
            return Err(AppError::Forbidden(
                "only an admin may flush the metrics store".into(),
            ));
        }
        let m = self.metrics()?.clone();
        blocking(move || m.tsdb.flush().map_err(storage_error)).await
    }
}
