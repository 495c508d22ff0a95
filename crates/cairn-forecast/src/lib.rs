//! cairn's forecasting core: what the capacity loop knows about the future.
//!
//! What comes in: daily sales and releases per pool (as plain `time::Date`-indexed
//! series), the promotion calendar as it reaches each pool, stock positions and restock
//! policies. What goes out: forecasts with intervals and explanations, stock-out dates,
//! restock advice, what-if impacts, backtest scores and coherent roll-ups.
//!
//! - [`demand`]: one pool's daily demand: trend, weekly and yearly seasonality, and
//!   promotion effects (uplift, ramps, shape) learned from past promotions, with the
//!   business's expected uplift as a prior that history corrects; sample paths give the
//!   80%/95% intervals. Every forecast explains itself (components per day, a table per
//!   promotion).
//! - [`stock`]: stock-out dates at 50/80/95% from cumulative sample paths, and restock
//!   advice (units, order-by date, at-risk flag and an urgency order) from lead time,
//!   review period and service level.
//! - [`outlook`]: a pool's sales, releases and net consumption in one call, and the
//!   what-if of a planned promotion (extra demand, reservation, shortfall per pool).
//! - [`hierarchy`]: bottom-up roll-ups to product, zone, region and the cloud; the parts
//!   add up to the whole by construction.
//! - [`backtest`]: rolling-origin backtests with sMAPE and MASE.
//! - [`calendar`]: domain promotions to pool events (local days, recurrence key, reach).
//! - [`univariate`] and [`m4`]: general point forecasting (combinations of classical
//!   methods on augurs' MSTL and ETS) and the M4 competition's scorer and benchmarks,
//!   which `examples/bench.rs` (`bench/run forecast`) uses.
//! - [`demo`]: the demo cloud's pools as cases, for the benchmark and tests.
//!
//! Why two model families: M4's hourly and weekly series come with no calendar and are
//! scored on point accuracy, where combinations of fast classical methods are strong;
//! a pool's demand comes with a promotion calendar, needs explanations and sample
//! paths, and has few long cycles, where a transparent regression with learned
//! promotion effects serves better than an ETS state.
//!
//! Architecture invariant: pure. No I/O, no system clock (time enters as dates passed
//! in), no SQL, HTTP or JSON wire shapes (serde derives on results only). Randomness is a
//! seeded stream, so every forecast is reproducible.

pub mod backtest;
pub mod calendar;
pub mod demand;
pub mod demo;
pub mod hierarchy;
pub mod m4;
pub mod outlook;
pub mod stats;
pub mod stock;
pub mod univariate;

/// What can go wrong in this crate: bad input, named by field.
#[derive(Debug, thiserror::Error)]
pub enum ForecastError {
    /// Input text (an M4 file) could not be read.
    #[error("line {line}: {message}")]
    Parse { line: usize, message: String },
    /// An argument was out of its domain.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}
