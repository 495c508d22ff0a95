//! Prometheus ecosystem wire formats, decoded into plain Rust values.
//!
//! Two formats come in here and leave as owned data; nothing in this crate does
//! I/O, talks to a network or knows about HTTP:
//!
//! - [`remote_write`]: Prometheus remote write 1.0, a snappy *block* compressed
//!   `prometheus.WriteRequest` protobuf. [`remote_write::decode_write_request`]
//!   turns a request body into messages, [`remote_write::into_series`] validates
//!   them into sorted label sets with samples, and
//!   [`remote_write::encode_write_request`] goes the other way for forwarding,
//!   loaders and benchmarks.
//! - [`exposition`]: the Prometheus text exposition format 0.0.4 (with the parts
//!   of OpenMetrics a scraper meets in practice, such as `# EOF` and `# UNIT`).
//!   [`exposition::parse`] reads a scrape body and [`exposition::render`] writes
//!   one.
//!
//! Every failure is a [`WireError`] whose message names what was wrong and
//! where (the series and label, or the line number). Both decoders are meant to
//! be fed untrusted input: they never panic, work in time linear (up to a sort)
//! in the input size, and the remote write decoder refuses bodies that would
//! decompress beyond a size limit before allocating for them.
//!
//! Label and metric name rules shared by both formats live in [`names`].

mod error;
pub mod exposition;
pub mod names;
pub mod remote_write;

pub use error::WireError;
