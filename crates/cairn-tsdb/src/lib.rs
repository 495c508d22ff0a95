//! cairn's embedded time-series database: Prometheus' data model and semantics,
//! stored in one directory, with blocking `std::fs` I/O (async callers use
//! `spawn_blocking`).
//!
//! # Bird's-eye view
//!
//! [`Tsdb::append`] validates a batch against the head, writes one WAL record for the
//! new series and one for the accepted samples, then applies them to the in-memory
//! **head**; when it returns `Ok`, the samples are durable as the [`FsyncPolicy`] says
//! and visible to queries. [`Tsdb::compact`], which the caller schedules, cuts old
//! head data into immutable **blocks**, merges small or overlapping blocks and applies
//! retention. Queries ([`Tsdb::select`] and friends) merge the head and every block
//! that overlaps the time range, deduplicating timestamps.
//!
//! ```text
//! <dir>/LOCK                      pid of the owning process
//! <dir>/wal/0000000012            WAL segments (64 MiB), records with length + CRC32
//! <dir>/wal/checkpoint.0000000012 head state as of the start of segment 12
//! <dir>/blocks/<ULID>/meta        key=value: time range, counts, level, parents
//! <dir>/blocks/<ULID>/index       symbols, series with chunk refs, postings, CRC32
//! <dir>/blocks/<ULID>/chunks      compressed chunks, each with a CRC32
//! ```
//!
//! # Parts
//!
//! - **WAL** (`src/wal.rs`): compact records (varints, time deltas within a record, raw
//!   value bits). Replay tolerates a torn or corrupt tail: the segment is truncated at
//!   the last good record with a warning. A checkpoint written after every head cut
//!   replaces all older segments.
//! - **Head** (`src/head.rs`): series found by label hash, labels interned, an inverted
//!   index (name → value → sorted series ids), Gorilla chunks of up to 120 samples cut
//!   on block boundaries, and a sorted out-of-order buffer per series.
//! - **Chunks** (`src/chunkenc/`): Gorilla (delta-of-delta + XOR) with a bit writer and
//!   reader of our own, plus a decimal encoding for blocks that stores short decimals
//!   (counters and gauges that are integers or `n / 10^k`, which is most exporter
//!   data) as scaled integers with adaptive-width residuals, run-length coded zeros
//!   and grid-aligned timestamps; each block chunk (up to 480 samples) takes the
//!   smaller encoding. Both preserve every float bit pattern (staleness NaNs
//!   included). On node_exporter-like data a two-hour block takes about 1.4 bytes a
//!   sample, against about 2.3 with Gorilla alone (`tests/it/perf.rs`).
//! - **Blocks** (`src/block.rs`): written to a temporary directory and renamed into
//!   place; the index is loaded into memory on open, chunks are read on demand with one
//!   positioned read per series.
//! - **Compaction** (`src/compact.rs`): the head is cut when it spans more than 1.5 ×
//!   `block_duration` (the oldest aligned block range goes, at least half a block
//!   stays); overlapping blocks merge; blocks inside a complete window of 3^k ×
//!   `block_duration` (up to a tenth of the retention, at most 31 days) merge;
//!   retention drops whole blocks by age and, oldest first, by the total size of blocks
//!   and WAL. A merged block names its parents, so a merge interrupted after the new
//!   block was written is finished on the next open.
//!
//! # Rules for samples
//!
//! For each series, a sample newer than its newest is appended. One at the same time
//! with the same value bits is a *duplicate* (counted, dropped); with another value it
//! is *out of order* (Prometheus' "duplicate sample for timestamp"). An older sample is
//! accepted only within `out_of_order_window` of the series' newest, and then only if
//! that timestamp is free. Samples older than the retention period, or older than data
//! already cut into blocks (outside the out-of-order window), are *too old*. Every
//! refused sample is counted in [`AppendStats`] and [`Stats`].
//!
//! # Locking
//!
//! Appends are serialised by the WAL mutex; the head's write lock is held only while a
//! batch is validated and while it is applied, never during file I/O, so queries run
//! alongside the WAL write and fsync. Cutting the head into a block holds the WAL mutex
//! (appends wait, for about as long as writing the block takes) but only the head's
//! read lock (queries go on). A query reads the head before the block list and a cut
//! publishes its block before truncating the head, so data moving from one to the
//! other is seen at least once, and deduplicated.

mod block;
mod chunkenc;
mod compact;
mod db;
mod encoding;
mod error;
mod hash;
mod head;
mod labels;
mod lock;
mod postings;
pub mod queue;
mod wal;

pub use db::Tsdb;
pub use error::Error;
pub use labels::{Labels, MatchOp, Matcher, METRIC_NAME};

use std::path::PathBuf;
use std::time::Duration;

/// Milliseconds since the Unix epoch.
pub type Timestamp = i64;

/// The bit pattern Prometheus uses to mark a series as stale.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Whether a value is Prometheus' staleness marker (not just any NaN).
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN
}

/// One observation of a series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub t: Timestamp,
    pub v: f64,
}

/// When the WAL is flushed to stable storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Before `append` returns: nothing acknowledged is lost, even on power failure.
    Always,
    /// By a background thread at this interval: a power failure loses at most about
    /// one interval; a process crash loses nothing (the data is in the OS already).
    Interval(Duration),
    /// Never explicitly (the OS writes back on its own); a process crash still loses
    /// nothing.
    Never,
}

/// How a [`Tsdb`] is opened.
#[derive(Clone, Debug)]
pub struct Options {
    /// The database directory; created if missing.
    pub dir: PathBuf,
    pub fsync: FsyncPolicy,
    /// Time range of a block cut from the head, in milliseconds (default 2 h).
    pub block_duration: i64,
    /// Blocks entirely older than the newest sample minus this are deleted (ms).
    pub retention: Option<i64>,
    /// The oldest blocks are deleted while blocks and WAL together exceed this size.
    pub retention_bytes: Option<u64>,
    /// How far behind a series' newest sample an older one may still be accepted
    /// (ms; 0 refuses all out-of-order samples, like Prometheus by default).
    pub out_of_order_window: i64,
    /// Appends that would create more head series than this fail with
    /// [`Error::Limit`].
    pub max_head_series: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dir: PathBuf::from("./tsdb"),
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
            block_duration: 2 * 3600 * 1000,
            retention: None,
            retention_bytes: None,
            out_of_order_window: 0,
            max_head_series: None,
        }
    }
}

/// What happened to the samples of one [`Tsdb::append`] call. Every sample given is in
/// exactly one of the four counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppendStats {
    /// Accepted and stored.
    pub samples: usize,
    /// Older than the series' newest beyond the out-of-order window, or at a taken
    /// timestamp with a different value.
    pub out_of_order_rejected: usize,
    /// Same timestamp and same value bits as a stored sample.
    pub duplicates: usize,
    /// Older than the retention period or than data already cut into blocks.
    pub too_old_rejected: usize,
}

/// A snapshot of the database's size and counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Distinct series in the head and all blocks.
    pub series: usize,
    pub head_series: usize,
    pub head_samples: u64,
    /// Estimated memory held by the head's chunks, series and index.
    pub head_bytes: u64,
    pub blocks: usize,
    /// Size of the blocks' files.
    pub block_bytes: u64,
    /// Size of the WAL's segments and checkpoint.
    pub wal_bytes: u64,
    /// Samples accepted by `append` since open.
    pub samples_total: u64,
    /// Samples refused as out of order since open.
    pub out_of_order_rejected_total: u64,
    /// Duplicate samples dropped since open.
    pub duplicates_total: u64,
    /// Samples refused as too old since open.
    pub too_old_rejected_total: u64,
    /// Samples stored in blocks.
    pub block_samples: u64,
    /// Oldest and newest sample time over head and blocks.
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
}
