//! Stories about the time-series database, one module per area.

mod blocks;
mod durability;
mod ingest;
mod label_api;
mod out_of_order;
mod perf;
mod support;
