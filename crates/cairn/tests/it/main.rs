//! cairn's integration tests: one binary (ripgrep's layout), each module a story
//! against a real server on 127.0.0.1:0 with a real database.

mod alerting;
mod alerts_ui;
mod api;
mod bad_input;
mod binary;
mod browser;
mod capacity;
mod changes;
mod changes_ui;
mod external;
mod incidents;
mod isolation;
mod metrics;
mod prom_parity;
mod support;
mod tickets;
mod tickets_ui;
