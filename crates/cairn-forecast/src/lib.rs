//! cairn's forecasting core (placeholder overview, completed below).

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

/// What can go wrong in this crate.
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
