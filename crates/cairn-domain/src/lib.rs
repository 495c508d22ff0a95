//! The merchant-cloud model that every cairn loop shares.
//!
//! This crate is pure: it knows nothing of SQL, HTTP, JSON wire shapes beyond serde
//! derives, files or the system clock. It holds
//! - typed identifiers ([`id`]),
//! - the entities of the model and their validation ([`model`]), and the capacity
//!   ledger with the arithmetic of stock over time ([`capacity`]),
//! - the entity catalogue that storage and the API are generated from ([`kind`]),
//! - roles and what each may do ([`access`]),
//! - the service topology's graph algorithms ([`topology`]),
//! - time as an injected [`Clock`],
//! - the deterministic demo cloud ([`demo`]).
//!
//! Architecture invariant: nothing here performs I/O; everything is testable with plain
//! values, and time only enters through [`Clock`].

pub mod access;
pub mod capacity;
pub mod changes;
pub mod clock;
pub mod demo;
pub mod demo_metrics;
pub mod demo_sales;
pub mod duration;
pub mod error;
pub mod id;
pub mod incidents;
pub mod kind;
pub mod model;
pub mod sla;
pub mod tickets;
pub mod topology;

pub use access::{Principal, Role};
pub use capacity::{
    CapacityChange, ChangeStatus, DailyLedger, LedgerEntry, LedgerKind, LedgerSource, Reservation,
    StockDay,
};
pub use clock::{Clock, FixedClock, Timestamp};
pub use error::DomainError;
pub use id::*;
pub use kind::{Column, ColumnType, Entity, Kind, Reference, Visibility};
pub use model::*;
