//! cairn's use cases: everything the HTTP API, the web UI and the CLI do, minus their
//! wire formats.
//!
//! - [`auth`]: passwords, API tokens, sessions, bootstrap of the first admin;
//! - [`capacity`]: the stock ledger, forecasts, stock-out dates, restock advice;
//! - [`records`]: reading and writing the model under a principal's scope, with
//!   validation, reference and topology checks, and the audit log;
//! - [`incidents`]: declaring, paging, impact, timeline, updates, reviews;
//! - [`import`]: all-or-nothing bulk import from JSON or CSV with a report of bad rows;
//! - [`demo`]: loading the deterministic demo cloud;
//! - [`overview`]: the summaries the overview page shows;
//! - [`metrics`]: samples into the time-series store, PromQL out of it;
//! - [`alerting`]: rules, anomaly rules, routing, notifications, on-call, problems;
//! - [`scrape`]: pulling metrics from exporters on a schedule;
//! - [`tickets`]: the tiered support flow, SLAs, knowledge base, search, repeated requests;
//! - [`external`]: forwarding to and querying from an external long-term store.
//!
//! API boundary: inputs arrive as `serde_json::Value` or text (already framed by the
//! edge) and leave as domain types; errors are [`AppError`], whose variants the HTTP
//! edge maps to status codes in one place.

pub mod alerting;
pub mod auth;
pub mod capacity;
pub mod changes;
pub mod demo;
pub mod demo_telemetry;
mod error;
pub mod external;
pub mod import;
pub mod incidents;
pub mod metrics;
pub mod overview;
pub mod records;
pub mod scrape;
pub mod tickets;

use std::sync::Arc;

use cairn_domain::Clock;
use cairn_store::Store;

pub use error::{AppError, Result};

/// The system clock; the only place outside tests where "now" is read.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> cairn_domain::Timestamp {
        time::OffsetDateTime::now_utc()
    }
}

/// The application: the store and the clock, shared by every edge.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// The metrics store, when this server runs one.
    pub metrics: Option<Arc<metrics::Metrics>>,
    /// The capacity outlook's cache.
    pub capacity: Arc<capacity::CapacityState>,
    /// The alerting loop, when this server runs one.
    pub alerting: Option<Arc<alerting::Alerting>>,
    /// The model as alerting sees it, cached.
    pub model_cache: Arc<alerting::model::ModelCache>,
    /// The tickets loop (search index, attachments), when this server runs one.
    pub tickets: Option<Arc<tickets::Tickets>>,
    /// Serialises changes to one change request within this process.
    pub change_lock: Arc<tokio::sync::Mutex<()>>,
}

impl App {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> App {
        App {
            store,
            clock,
            metrics: None,
            capacity: Arc::default(),
            alerting: None,
            model_cache: Arc::default(),
            tickets: None,
            change_lock: Arc::default(),
        }
    }

    /// The same application with a tickets loop.
    pub fn with_tickets(mut self, tickets: tickets::Tickets) -> App {
        self.tickets = Some(Arc::new(tickets));
        self
    }

    /// The same application with an alerting loop.
    pub fn with_alerting(mut self, options: alerting::AlertingOptions) -> App {
        self.alerting = Some(Arc::new(alerting::Alerting::new(options)));
        self
    }

    /// The same application with a metrics store.
    pub fn with_metrics(mut self, metrics: Arc<metrics::Metrics>) -> App {
        self.metrics = Some(metrics);
        self
    }

    pub fn now(&self) -> cairn_domain::Timestamp {
        self.clock.now()
    }
}
