//! The integration tests of cairn-anomaly, one binary: detector stories on synthetic
//! metrics, and the NAB scorer against the benchmark's published results.

mod corpus;
mod detector;
mod scorer;
