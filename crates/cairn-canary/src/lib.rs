//! cairn-canary: cairn's canary judge. Pure: no I/O.
//!
//! [`mann_whitney`] is the two-sample Mann–Whitney U test with the Hodges–Lehmann
//! estimate of the shift and its distribution-free confidence interval, checked
//! against R's `wilcox.test`; [`normal`] holds the normal distribution it needs.

mod error;
pub mod mann_whitney;
pub mod normal;
#[cfg(test)]
mod testkit;

pub use error::CanaryError;
pub use mann_whitney::{mann_whitney, MannWhitney, Method};
