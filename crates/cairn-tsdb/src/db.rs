//! [`Tsdb`]: the database, tying the WAL, the head and the blocks together.

use crate::block::{Block, BlockWriter};
use crate::compact::{self, BlockInfo};
use crate::error::IoContext;
use crate::head::{Head, HeadReplay, Limits};
use crate::lock::DirLock;
use crate::wal::{self, Wal};
use crate::{AppendStats, Error, FsyncPolicy, Labels, Matcher, Options, Sample, Stats};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::Instant;

const MAX_BLOCK_RANGE: i64 = 31 * 24 * 3600 * 1000;

struct WalState {
    wal: Wal,
    /// Set when the head was renumbered but the checkpoint that records the new ids
    /// has not been written; no WAL record may be written until it is.
    needs_checkpoint: bool,
}

#[derive(Default)]
struct Counters {
    samples: AtomicU64,
    out_of_order: AtomicU64,
    duplicates: AtomicU64,
    too_old: AtomicU64,
}

struct Syncer {
    stop: mpsc::Sender<()>,
    handle: JoinHandle<()>,
}

/// An open database. `Send + Sync`; every method takes `&self`.
pub struct Tsdb {
    opts: Options,
    blocks_dir: PathBuf,
    head: RwLock<Head>,
    wal: Mutex<WalState>,
    /// Open blocks, sorted by id (creation order).
    blocks: RwLock<Vec<Arc<Block>>>,
    compaction: Mutex<()>,
    counters: Counters,
    syncer: Option<Syncer>,
    lock: Option<DirLock>,
    /// Set by `close` and `crash`, which do their own shutdown.
    finished: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

impl Tsdb {
    /// Opens (creating if needed) the database in `opts.dir`: takes the directory
    /// lock, loads the blocks, and replays the WAL into the head.
    pub fn open(opts: Options) -> Result<Tsdb, Error> {
        validate(&opts)?;
        let started = Instant::now();
        fs::create_dir_all(&opts.dir).at(&opts.dir)?;
        let dir_lock = DirLock::acquire(&opts.dir)?;
        let blocks_dir = opts.dir.join("blocks");
        let blocks = load_blocks(&blocks_dir)?;

        let mut head = Head::new(opts.block_duration);
        if let Some(max) = blocks.iter().map(|b| b.meta.max_t).max() {
            head.min_valid_t = max.saturating_add(1);
        }
        let wal_dir = opts.dir.join("wal");
        let mut replay = HeadReplay {
            head: &mut head,
            samples: 0,
            bad_chunks: 0,
        };
        let report = wal::replay(&wal_dir, &mut replay)?;
        let (replayed, bad) = (replay.samples, replay.bad_chunks);
        if head.replay_unknown > 0 || bad > 0 {
            tracing::warn!(
                unknown_series = head.replay_unknown,
                undecodable = bad,
                "WAL replay skipped records for series it had no record of"
            );
        }
        let wal = Wal::create(&wal_dir, opts.fsync, report.next_segment, report.bytes)?;
        let hs = head.stats();
        tracing::info!(
            dir = %opts.dir.display(),
            blocks = blocks.len(),
            checkpoint = ?report.checkpoint,
            segments = report.segments,
            wal_records = report.records,
            wal_samples = replayed,
            truncated_bytes = report.truncated_bytes,
            head_series = hs.series,
            head_samples = hs.samples,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "opened time-series database"
        );
        let syncer = match opts.fsync {
            FsyncPolicy::Interval(every) => {
                let shared = Arc::clone(&wal.sync);
                let (stop, rx) = mpsc::channel::<()>();
                let handle = std::thread::Builder::new()
                    .name("cairn-tsdb-fsync".into())
                    .spawn(move || {
                        while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                            shared.sync_if_dirty();
                        }
                    })
                    .map_err(|e| Error::io(&wal_dir, e))?;
                Some(Syncer { stop, handle })
            }
            _ => None,
        };
        Ok(Tsdb {
            opts,
            blocks_dir,
            head: RwLock::new(head),
            wal: Mutex::new(WalState {
                wal,
                needs_checkpoint: false,
            }),
            blocks: RwLock::new(blocks),
            compaction: Mutex::new(()),
            counters: Counters::default(),
            syncer,
            lock: Some(dir_lock),
            finished: false,
        })
    }

    /// The options the database was opened with.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Appends samples. Each entry's samples are applied in the order given. When this
    /// returns `Ok`, the accepted samples are in the WAL (synced per the policy) and
    /// visible to queries; the counts say what happened to every sample.
    pub fn append(&self, batch: Vec<(Labels, Vec<Sample>)>) -> Result<AppendStats, Error> {
        let mut stats = AppendStats::default();
        if batch.is_empty() {
            return Ok(stats);
        }
        let blocks_max = read(&self.blocks).iter().map(|b| b.meta.max_t).max();
        let mut w = lock(&self.wal);
        if w.needs_checkpoint {
            self.checkpoint(&mut w)?;
        }
        let staged = {
            let mut head = write(&self.head);
            let newest = match (head.time_range().map(|r| r.1), blocks_max) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            let retention_floor = match (self.opts.retention, newest) {
                (Some(r), Some(n)) => n.saturating_sub(r),
                _ => i64::MIN,
            };
            let lim = Limits {
                ooo_window: self.opts.out_of_order_window,
                retention_floor,
                newest,
                max_series: self.opts.max_head_series,
            };
            head.stage(&batch, &lim, &mut stats)?
        };
        if !staged.samples.is_empty() {
            {
                let head = read(&self.head);
                for &id in &staged.new_series {
                    if let Some(pairs) = head.series_pairs(id) {
                        w.wal.rec.series(id, pairs.into_iter());
                    }
                }
            }
            for run in staged.samples.chunk_by(|a, b| a.0 == b.0) {
                w.wal.rec.samples(run[0].0, run.iter().map(|(_, s)| s));
            }
            w.wal.commit()?;
            write(&self.head).apply(&staged);
        }
        drop(w);
        // Freeing the caller's label strings is a good part of an append's cost; it
        // happens here, with no lock held.
        drop(batch);
        let c = &self.counters;
        c.samples.fetch_add(stats.samples as u64, Ordering::Relaxed);
        c.out_of_order
            .fetch_add(stats.out_of_order_rejected as u64, Ordering::Relaxed);
        c.duplicates
            .fetch_add(stats.duplicates as u64, Ordering::Relaxed);
        c.too_old
            .fetch_add(stats.too_old_rejected as u64, Ordering::Relaxed);
        Ok(stats)
    }

    /// Blocks overlapping `[start, end]`, oldest first by creation. The head is read
    /// before this is called: a concurrent head cut adds its block before it removes
    /// the data from the head, so a query sees the data at least once.
    fn blocks_in(&self, start: i64, end: i64) -> Vec<Arc<Block>> {
        read(&self.blocks)
            .iter()
            .filter(|b| b.overlaps(start, end))
            .cloned()
            .collect()
    }

    /// Series matching every matcher, with their samples in `[start, end]`
    /// (inclusive), sorted by labels; samples sorted by time, one per timestamp.
    /// Series without samples in the range are left out.
    pub fn select(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<(Labels, Vec<Sample>)>, Error> {
        if start > end {
            return Ok(Vec::new());
        }
        let from_head = read(&self.head).select(matchers, start, end)?;
        let mut runs: BTreeMap<Labels, Vec<Vec<Sample>>> = BTreeMap::new();
        for b in self.blocks_in(start, end) {
            for (l, s) in b.select(matchers, start, end)? {
                runs.entry(l).or_default().push(s);
            }
        }
        for (l, s) in from_head {
            runs.entry(l).or_default().push(s);
        }
        Ok(runs
            .into_iter()
            .map(|(l, r)| (l, compact::merge_runs(r)))
            .collect())
    }

    /// Label sets of the series matching every matcher that have data in
    /// `[start, end]` (judged by chunk time ranges, as Prometheus does), sorted.
    pub fn series(&self, matchers: &[Matcher], start: i64, end: i64) -> Result<Vec<Labels>, Error> {
        if start > end {
            return Ok(Vec::new());
        }
        let mut out: BTreeSet<Labels> = read(&self.head)
            .series_in(matchers, start, end)
            .into_iter()
            .collect();
        for b in self.blocks_in(start, end) {
            out.extend(b.series_in(matchers, start, end));
        }
        Ok(out.into_iter().collect())
    }

    /// Label names used by the matching series with data in `[start, end]`, sorted.
    pub fn label_names(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<String>, Error> {
        if start > end {
            return Ok(Vec::new());
        }
        let mut out = BTreeSet::new();
        read(&self.head).label_names(matchers, start, end, &mut out);
        for b in self.blocks_in(start, end) {
            b.label_names(matchers, start, end, &mut out);
        }
        Ok(out.into_iter().collect())
    }

    /// Values of label `name` among the matching series with data in `[start, end]`,
    /// sorted.
    pub fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<String>, Error> {
        if start > end {
            return Ok(Vec::new());
        }
        let mut out = BTreeSet::new();
        read(&self.head).label_values(name, matchers, start, end, &mut out);
        for b in self.blocks_in(start, end) {
            b.label_values(name, matchers, start, end, &mut out);
        }
        Ok(out.into_iter().collect())
    }

    /// Writes the whole head into a block now and truncates the WAL. Samples older
    /// than the flushed data are refused as too old afterwards (unless the
    /// out-of-order window admits them).
    pub fn flush(&self) -> Result<(), Error> {
        let _c = lock(&self.compaction);
        let mut w = lock(&self.wal);
        if w.needs_checkpoint {
            self.checkpoint(&mut w)?;
        }
        let range = read(&self.head).time_range();
        if let Some((_, max_t)) = range {
            self.cut_head(max_t.saturating_add(1))?;
        }
        // Even an empty head gets a checkpoint: it truncates the WAL.
        self.checkpoint(&mut w)
    }

    /// Runs compaction: cuts head data older than the newest `block_duration` into
    /// blocks, merges overlapping and small adjacent blocks, and applies retention.
    pub fn compact(&self) -> Result<(), Error> {
        let _c = lock(&self.compaction);
        {
            let mut w = lock(&self.wal);
            let mut cut = w.needs_checkpoint;
            let bd = self.opts.block_duration;
            loop {
                // A separate statement, so that the read guard is dropped before the cut.
                let range = read(&self.head).time_range();
                let Some((lo, hi)) = range else { break };
                if hi.saturating_sub(lo) <= bd.saturating_add(bd / 2) {
                    break;
                }
                let b = lo
                    .div_euclid(bd)
                    .checked_add(1)
                    .and_then(|k| k.checked_mul(bd))
                    .unwrap_or(i64::MAX);
                self.cut_head(b)?;
                w.needs_checkpoint = true;
                cut = true;
            }
            if cut {
                self.checkpoint(&mut w)?;
            }
        }
        self.merge_blocks()?;
        self.apply_retention()
    }

    /// Writes the head's samples before `b` into a block, publishes it, and drops them
    /// from the head. The caller holds the WAL mutex and writes a checkpoint after.
    fn cut_head(&self, b: i64) -> Result<(), Error> {
        let started = Instant::now();
        let block = {
            let head = read(&self.head);
            let mut bw = BlockWriter::new(&self.blocks_dir, 1, Vec::new())?;
            if let Err(e) = head.for_each_before(b, |l, s| bw.add_series(l, s)) {
                bw.abort();
                return Err(e);
            }
            if bw.is_empty() {
                bw.abort();
                None
            } else {
                Some(bw.finish()?)
            }
        };
        if let Some(block) = block {
            tracing::info!(
                block = %block.meta.id,
                min_time = block.meta.min_t,
                max_time = block.meta.max_t,
                series = block.meta.series,
                samples = block.meta.samples,
                bytes = block.bytes,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "cut head into block"
            );
            self.replace_blocks(&[], vec![Arc::new(block)]);
        }
        write(&self.head).truncate_before(b)
    }

    fn checkpoint(&self, w: &mut WalState) -> Result<(), Error> {
        let head = read(&self.head);
        w.needs_checkpoint = true;
        w.wal.checkpoint(|cw| head.write_checkpoint(cw))?;
        w.needs_checkpoint = false;
        Ok(())
    }

    fn replace_blocks(&self, remove: &[String], add: Vec<Arc<Block>>) -> Vec<Arc<Block>> {
        let mut blocks = write(&self.blocks);
        let (removed, mut kept): (Vec<_>, Vec<_>) =
            blocks.drain(..).partition(|b| remove.contains(&b.meta.id));
        kept.extend(add);
        kept.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
        *blocks = kept;
        removed
    }

    fn newest_time(&self) -> Option<i64> {
        let head = read(&self.head).time_range().map(|r| r.1);
        let blocks = read(&self.blocks).iter().map(|b| b.meta.max_t).max();
        match (head, blocks) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    fn merge_blocks(&self) -> Result<(), Error> {
        let max_range = self
            .opts
            .retention
            .map_or(MAX_BLOCK_RANGE, |r| (r / 10).min(MAX_BLOCK_RANGE));
        let ranges = compact::level_ranges(self.opts.block_duration, max_range);
        loop {
            let Some(now) = self.newest_time() else {
                return Ok(());
            };
            let infos: Vec<BlockInfo> = read(&self.blocks)
                .iter()
                .map(|b| BlockInfo {
                    id: b.meta.id.clone(),
                    min_t: b.meta.min_t,
                    max_t: b.meta.max_t,
                })
                .collect();
            let Some(ids) = compact::plan(&infos, &ranges, now) else {
                return Ok(());
            };
            self.merge(&ids)?;
        }
    }

    /// Merges the blocks with these ids into one and deletes them.
    fn merge(&self, ids: &[String]) -> Result<(), Error> {
        let started = Instant::now();
        let sources: Vec<Arc<Block>> = read(&self.blocks)
            .iter()
            .filter(|b| ids.contains(&b.meta.id))
            .cloned()
            .collect();
        let level = sources.iter().map(|b| b.meta.level).max().unwrap_or(1) + 1;
        let mut bw = BlockWriter::new(&self.blocks_dir, level, ids.to_vec())?;
        if let Err(e) = merge_series(&sources, &mut bw) {
            bw.abort();
            return Err(e);
        }
        let merged = if bw.is_empty() {
            bw.abort();
            Vec::new()
        } else {
            vec![Arc::new(bw.finish()?)]
        };
        if let Some(b) = merged.first() {
            tracing::info!(
                block = %b.meta.id,
                parents = ?ids,
                min_time = b.meta.min_t,
                max_time = b.meta.max_t,
                samples = b.meta.samples,
                bytes = b.bytes,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "merged blocks"
            );
        }
        let removed = self.replace_blocks(ids, merged);
        self.delete_blocks(&removed)
    }

    fn delete_blocks(&self, blocks: &[Arc<Block>]) -> Result<(), Error> {
        for b in blocks {
            // Renamed first so that a crash mid-delete leaves a `.tmp` directory,
            // which open removes, rather than half a block.
            let doomed = self.blocks_dir.join(format!("{}.tmp", b.meta.id));
            fs::rename(&b.dir, &doomed).at(&b.dir)?;
            fs::remove_dir_all(&doomed).at(&doomed)?;
        }
        Ok(())
    }

    fn apply_retention(&self) -> Result<(), Error> {
        let mut doomed: Vec<String> = Vec::new();
        let mut blocks: Vec<Arc<Block>> = read(&self.blocks).clone();
        blocks.sort_by(|a, b| (a.meta.min_t, &a.meta.id).cmp(&(b.meta.min_t, &b.meta.id)));
        if let (Some(r), Some(now)) = (self.opts.retention, self.newest_time()) {
            let floor = now.saturating_sub(r);
            for b in blocks.iter().filter(|b| b.meta.max_t < floor) {
                tracing::info!(block = %b.meta.id, max_time = b.meta.max_t, floor, "deleting block past retention");
                doomed.push(b.meta.id.clone());
            }
        }
        if let Some(limit) = self.opts.retention_bytes {
            let wal_bytes = lock(&self.wal).wal.bytes();
            let mut total: u64 = wal_bytes
                + blocks
                    .iter()
                    .filter(|b| !doomed.contains(&b.meta.id))
                    .map(|b| b.bytes)
                    .sum::<u64>();
            let candidates: Vec<&Arc<Block>> = blocks
                .iter()
                .filter(|b| !doomed.contains(&b.meta.id))
                .collect();
            for b in candidates {
                if total <= limit {
                    break;
                }
                tracing::info!(block = %b.meta.id, bytes = b.bytes, total, limit, "deleting block over the size limit");
                total -= b.bytes;
                doomed.push(b.meta.id.clone());
            }
        }
        if doomed.is_empty() {
            return Ok(());
        }
        let removed = self.replace_blocks(&doomed, Vec::new());
        self.delete_blocks(&removed)
    }

    /// Sizes and counters.
    pub fn stats(&self) -> Stats {
        let mut hashes: HashSet<u64> = HashSet::new();
        let hs = {
            let head = read(&self.head);
            hashes.extend(head.series_hashes());
            head.stats()
        };
        let blocks = read(&self.blocks).clone();
        for b in &blocks {
            hashes.extend(b.series_hashes());
        }
        let wal_bytes = lock(&self.wal).wal.bytes();
        let min_time = blocks.iter().map(|b| b.meta.min_t).chain(hs.min_t).min();
        let max_time = blocks.iter().map(|b| b.meta.max_t).chain(hs.max_t).max();
        let c = &self.counters;
        Stats {
            series: hashes.len(),
            head_series: hs.series,
            head_samples: hs.samples,
            head_bytes: hs.bytes,
            blocks: blocks.len(),
            block_bytes: blocks.iter().map(|b| b.bytes).sum(),
            wal_bytes,
            samples_total: c.samples.load(Ordering::Relaxed),
            out_of_order_rejected_total: c.out_of_order.load(Ordering::Relaxed),
            duplicates_total: c.duplicates.load(Ordering::Relaxed),
            too_old_rejected_total: c.too_old.load(Ordering::Relaxed),
            block_samples: blocks.iter().map(|b| b.meta.samples).sum(),
            min_time,
            max_time,
        }
    }

    /// Syncs the WAL and releases the directory.
    pub fn close(mut self) -> Result<(), Error> {
        self.finished = true;
        self.stop_syncer();
        lock(&self.wal).wal.sync()
    }

    /// Drops the database the way a crashed process would: nothing is synced and the
    /// lock file stays behind (to be taken over by the next open). For tests.
    #[doc(hidden)]
    pub fn crash(mut self) {
        self.finished = true;
        self.stop_syncer();
        if let Some(l) = self.lock.take() {
            l.abandon();
        }
    }

    fn stop_syncer(&mut self) {
        if let Some(s) = self.syncer.take() {
            drop(s.stop);
            let _ = s.handle.join();
        }
    }
}

impl Drop for Tsdb {
    fn drop(&mut self) {
        if !self.finished {
            self.stop_syncer();
            if let Err(e) = lock(&self.wal).wal.sync() {
                tracing::error!(error = %e, "syncing the WAL on drop failed");
            }
        }
    }
}

fn validate(opts: &Options) -> Result<(), Error> {
    if opts.block_duration <= 0 {
        return Err(Error::InvalidOptions(format!(
            "block_duration must be positive, got {}",
            opts.block_duration
        )));
    }
    if opts.out_of_order_window < 0 {
        return Err(Error::InvalidOptions(format!(
            "out_of_order_window must not be negative, got {}",
            opts.out_of_order_window
        )));
    }
    if let Some(r) = opts.retention.filter(|&r| r <= 0) {
        return Err(Error::InvalidOptions(format!(
            "retention must be positive, got {r}"
        )));
    }
    if let FsyncPolicy::Interval(d) = opts.fsync {
        if d.is_zero() {
            return Err(Error::InvalidOptions(
                "fsync interval must not be zero".into(),
            ));
        }
    }
    Ok(())
}

/// Opens every block in `dir`, removing unfinished ones and those already merged
/// into another block.
fn load_blocks(dir: &Path) -> Result<Vec<Arc<Block>>, Error> {
    fs::create_dir_all(dir).at(dir)?;
    let mut blocks = Vec::new();
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            tracing::warn!(dir = %path.display(), "removing an unfinished block");
            fs::remove_dir_all(&path).at(&path)?;
            continue;
        }
        if path.is_dir() {
            blocks.push(Block::open(&path)?);
        }
    }
    let parents: HashSet<String> = blocks
        .iter()
        .flat_map(|b| b.meta.parents.iter().cloned())
        .collect();
    let mut kept = Vec::new();
    for b in blocks {
        if parents.contains(&b.meta.id) {
            tracing::warn!(block = %b.meta.id, "removing a block that was already merged");
            fs::remove_dir_all(&b.dir).at(&b.dir)?;
        } else {
            kept.push(Arc::new(b));
        }
    }
    kept.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
    Ok(kept)
}

/// Streams the union of the blocks' series, in label order, into `bw`.
fn merge_series(sources: &[Arc<Block>], bw: &mut BlockWriter) -> Result<(), Error> {
    let mut cursors: Vec<usize> = vec![0; sources.len()];
    let mut current: Vec<Option<Labels>> = sources.iter().map(|b| b.series_labels(0)).collect();
    loop {
        let Some(next) = current.iter().flatten().min().cloned() else {
            return Ok(());
        };
        let mut runs = Vec::new();
        for (i, b) in sources.iter().enumerate() {
            if current[i].as_ref() == Some(&next) {
                let mut s = Vec::new();
                b.series_samples(cursors[i], &mut s)?;
                runs.push(s);
                cursors[i] += 1;
                current[i] = b.series_labels(cursors[i]);
            }
        }
        bw.add_series(&next, &compact::merge_runs(runs))?;
    }
}
