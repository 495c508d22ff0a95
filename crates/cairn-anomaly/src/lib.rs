//! cairn-anomaly: anomaly detection for the alerting loop, and the NAB scorer.

mod error;
pub mod nab;

pub use error::AnomalyError;
