//! The head: the most recent data, in memory, appendable.
//!
//! Series are found by a 64-bit hash of their labels (collisions resolved by comparing
//! the labels) and numbered densely from 0; the number is also the series' id in the
//! WAL. Label strings are interned once in a symbol table; a series holds pairs of
//! symbol numbers. The inverted index maps label name → value → sorted series ids.
//!
//! Each series keeps its samples in Gorilla chunks: closed chunks plus one open chunk
//! being appended to, cut at [`CHUNK_SAMPLES`] samples or when a sample falls into the
//! next `chunk_range`-aligned window, so that no chunk straddles a block boundary.
//! Samples that arrive out of order (inside the configured window) go to a small
//! sorted buffer per series that queries and block cuts merge in.

use crate::chunkenc::{self, Encoding, XorAppender};
use crate::encoding::DecodeError;
use crate::hash::{FxMap, IdMap};
use crate::postings::{self, IndexReader};
use crate::wal::{CheckpointWriter, ReplayVisitor};
use crate::{AppendStats, Error, Labels, Matcher, Sample};
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

/// Samples per head chunk before a new one is started.
pub(crate) const CHUNK_SAMPLES: usize = 120;

/// Interned strings: each distinct label name and value is stored once.
#[derive(Default)]
struct Symbols {
    map: FxMap<Arc<str>, u32>,
    strings: Vec<Arc<str>>,
    bytes: usize,
}

impl Symbols {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.map.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        let a: Arc<str> = Arc::from(s);
        self.bytes += s.len();
        self.strings.push(a.clone());
        self.map.insert(a, id);
        id
    }

    fn get(&self, s: &str) -> Option<u32> {
        self.map.get(s).copied()
    }

    fn resolve(&self, id: u32) -> &str {
        &self.strings[id as usize]
    }

    fn mem_bytes(&self) -> usize {
        // The string, its Arc header, the vector slot and a map entry.
        self.bytes + self.strings.len() * (16 + 16 + 24 + 8)
    }
}

/// A closed, immutable Gorilla chunk.
pub(crate) struct HeadChunk {
    min_t: i64,
    max_t: i64,
    data: Box<[u8]>,
}

impl HeadChunk {
    fn num_samples(&self) -> usize {
        usize::from(u16::from_be_bytes([self.data[0], self.data[1]]))
    }
}

struct OpenChunk {
    app: XorAppender,
    min_t: i64,
    /// Exclusive end of the aligned window the chunk lies in.
    end: i64,
}

fn window_end(t: i64, range: i64) -> i64 {
    t.div_euclid(range)
        .checked_add(1)
        .and_then(|k| k.checked_mul(range))
        .unwrap_or(i64::MAX)
}

/// One series in the head.
pub(crate) struct MemSeries {
    labels: Box<[(u32, u32)]>,
    hash: u64,
    chunks: Vec<HeadChunk>,
    open: Option<OpenChunk>,
    /// Time and value bits of the newest in-order sample.
    last: Option<(i64, u64)>,
    /// Out-of-order samples, sorted by time, none at a time the chunks hold.
    ooo: Vec<Sample>,
    /// Whether the WAL has a series record for this id.
    logged: bool,
    /// The append that last touched the series, and what it staged: the index of its
    /// first accepted sample in [`Staged::samples`] and the newest in-order one.
    batch_epoch: u32,
    batch_first: u32,
    batch_max: Option<(i64, u64)>,
}

impl MemSeries {
    fn new(labels: Box<[(u32, u32)]>, hash: u64) -> Self {
        MemSeries {
            labels,
            hash,
            chunks: Vec::new(),
            open: None,
            last: None,
            ooo: Vec::new(),
            logged: false,
            batch_epoch: 0,
            batch_first: NO_ENTRY,
            batch_max: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.open.is_none() && self.ooo.is_empty()
    }

    fn min_time(&self) -> Option<i64> {
        let in_order = self
            .chunks
            .first()
            .map(|c| c.min_t)
            .or(self.open.as_ref().map(|o| o.min_t));
        match (in_order, self.ooo.first()) {
            (Some(a), Some(b)) => Some(a.min(b.t)),
            (a, b) => a.or(b.map(|s| s.t)),
        }
    }

    fn max_time(&self) -> Option<i64> {
        if self.chunks.is_empty() && self.open.is_none() {
            return self.ooo.last().map(|s| s.t);
        }
        // Out-of-order samples are older than the newest in-order one by definition.
        self.last.map(|(t, _)| t)
    }

    fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        match (self.min_time(), self.max_time()) {
            (Some(lo), Some(hi)) => lo <= maxt && hi >= mint,
            _ => false,
        }
    }

    fn num_samples(&self) -> usize {
        self.chunks
            .iter()
            .map(HeadChunk::num_samples)
            .sum::<usize>()
            + self.open.as_ref().map_or(0, |o| o.app.num_samples())
            + self.ooo.len()
    }

    fn mem_bytes(&self) -> usize {
        std::mem::size_of::<MemSeries>()
            + self.labels.len() * 8
            + self.chunks.capacity() * std::mem::size_of::<HeadChunk>()
            + self.chunks.iter().map(|c| c.data.len()).sum::<usize>()
            + self.open.as_ref().map_or(0, |o| o.app.allocated())
            + self.ooo.capacity() * std::mem::size_of::<Sample>()
    }

    fn close_open(&mut self) {
        if let (Some(o), Some((last_t, _))) = (self.open.take(), self.last) {
            self.chunks.push(HeadChunk {
                min_t: o.min_t,
                max_t: last_t,
                data: o.app.into_bytes().into_boxed_slice(),
            });
        }
    }

    /// Appends a sample newer than every in-order sample.
    fn append_in_order(&mut self, t: i64, v: f64, range: i64) {
        let fits = self
            .open
            .as_ref()
            .is_some_and(|o| o.app.num_samples() < CHUNK_SAMPLES && t < o.end);
        if !fits {
            if self.open.is_some() {
                self.close_open();
            } else {
                self.reopen_last_chunk(t, range);
            }
            if self.open.is_none() {
                self.open = Some(OpenChunk {
                    app: XorAppender::new(),
                    min_t: t,
                    end: window_end(t, range),
                });
            }
        }
        if let Some(o) = self.open.as_mut() {
            o.app.append(t, v);
        }
        self.last = Some((t, v.to_bits()));
    }

    /// After a restart the newest chunk comes back closed; appending continues in it
    /// when it has room, instead of starting a short chunk.
    fn reopen_last_chunk(&mut self, t: i64, range: i64) {
        let Some(c) = self.chunks.last() else { return };
        let end = window_end(c.min_t, range);
        if c.num_samples() >= CHUNK_SAMPLES || t >= end || c.max_t >= t {
            return;
        }
        let Some(c) = self.chunks.pop() else { return };
        match XorAppender::from_bytes(c.data.to_vec()) {
            Ok(app) => {
                self.open = Some(OpenChunk {
                    app,
                    min_t: c.min_t,
                    end,
                })
            }
            Err(_) => self.chunks.push(c),
        }
    }

    fn insert_ooo(&mut self, s: Sample) {
        match self.ooo.binary_search_by_key(&s.t, |x| x.t) {
            Ok(i) => self.ooo[i] = s,
            Err(i) => self.ooo.insert(i, s),
        }
    }

    /// The value bits stored at exactly `t`, if any.
    fn value_at(&self, t: i64) -> Result<Option<u64>, DecodeError> {
        if let Ok(i) = self.ooo.binary_search_by_key(&t, |s| s.t) {
            return Ok(Some(self.ooo[i].v.to_bits()));
        }
        let mut buf = Vec::new();
        let i = self.chunks.partition_point(|c| c.max_t < t);
        if let Some(c) = self.chunks.get(i).filter(|c| c.min_t <= t) {
            chunkenc::decode_range(Encoding::Xor, &c.data, t, t, &mut buf)?;
        } else if let (Some(o), Some((last_t, _))) = (&self.open, self.last) {
            if o.min_t <= t && t <= last_t {
                chunkenc::decode_range(Encoding::Xor, o.app.bytes(), t, t, &mut buf)?;
            }
        }
        Ok(buf.first().map(|s| s.v.to_bits()))
    }

    /// Appends the samples with `mint <= t <= maxt` to `out`, sorted.
    fn samples_in(&self, mint: i64, maxt: i64, out: &mut Vec<Sample>) -> Result<(), DecodeError> {
        let start = out.len();
        let first = self.chunks.partition_point(|c| c.max_t < mint);
        for c in self.chunks[first..].iter().take_while(|c| c.min_t <= maxt) {
            chunkenc::decode_range(Encoding::Xor, &c.data, mint, maxt, out)?;
        }
        if let (Some(o), Some((last_t, _))) = (&self.open, self.last) {
            if o.min_t <= maxt && last_t >= mint {
                chunkenc::decode_range(Encoding::Xor, o.app.bytes(), mint, maxt, out)?;
            }
        }
        let lo = self.ooo.partition_point(|s| s.t < mint);
        let hi = self.ooo.partition_point(|s| s.t <= maxt);
        if lo < hi {
            let in_order = out.split_off(start);
            merge_sorted(&in_order, &self.ooo[lo..hi], out);
        }
        Ok(())
    }

    /// Drops every sample before `b`; chunks that straddle `b` are re-encoded.
    fn truncate_before(&mut self, b: i64, range: i64) -> Result<(), DecodeError> {
        let mut kept = Vec::with_capacity(self.chunks.len());
        for c in self.chunks.drain(..) {
            if c.max_t < b {
                continue;
            }
            if c.min_t >= b {
                kept.push(c);
                continue;
            }
            let mut s = Vec::new();
            chunkenc::decode_range(Encoding::Xor, &c.data, b, i64::MAX, &mut s)?;
            if let (Some(first), Some(last)) = (s.first(), s.last()) {
                kept.push(HeadChunk {
                    min_t: first.t,
                    max_t: last.t,
                    data: chunkenc::encode_xor(&s).into_boxed_slice(),
                });
            }
        }
        self.chunks = kept;
        if let (Some(o), Some((last_t, _))) = (&self.open, self.last) {
            if last_t < b {
                self.open = None;
            } else if o.min_t < b {
                let mut s = Vec::new();
                chunkenc::decode_range(Encoding::Xor, o.app.bytes(), b, i64::MAX, &mut s)?;
                let mut app = XorAppender::new();
                for x in &s {
                    app.append(x.t, x.v);
                }
                let min_t = s.first().map_or(b, |x| x.t);
                self.open = Some(OpenChunk {
                    app,
                    min_t,
                    end: window_end(min_t, range),
                });
            }
        }
        self.ooo.retain(|s| s.t >= b);
        Ok(())
    }
}

/// Merges two sorted sample lists; on equal timestamps the first list wins.
pub(crate) fn merge_sorted(a: &[Sample], b: &[Sample], out: &mut Vec<Sample>) {
    out.reserve(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].t.cmp(&b[j].t) {
            Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
}

const NO_ENTRY: u32 = u32::MAX;

/// The outcome of validating a batch: what the WAL must record and the head apply.
#[derive(Default)]
pub(crate) struct Staged {
    /// Series that need a WAL series record.
    pub(crate) new_series: Vec<u32>,
    /// Accepted samples with their series, in the order they are applied.
    pub(crate) samples: Vec<(u32, Sample)>,
}

/// The rules a batch is checked against.
pub(crate) struct Limits {
    pub(crate) ooo_window: i64,
    /// Samples before this are older than the retention period.
    pub(crate) retention_floor: i64,
    /// The newest sample time in the head and blocks.
    pub(crate) newest: Option<i64>,
    pub(crate) max_series: Option<usize>,
}

/// Decides one sample of series `s` (id `id`): accepted samples are pushed to
/// `entries`, everything else is counted.
fn stage_sample(
    s: &mut MemSeries,
    id: u32,
    entries: &mut Vec<(u32, Sample)>,
    smp: Sample,
    lim: &Limits,
    min_valid_t: i64,
    stats: &mut AppendStats,
) -> Result<(), Error> {
    let (t, bits) = (smp.t, smp.v.to_bits());
    if t < lim.retention_floor {
        stats.too_old_rejected += 1;
        return Ok(());
    }
    let accept = |s: &mut MemSeries, entries: &mut Vec<(u32, Sample)>, stats: &mut AppendStats| {
        if s.batch_first == NO_ENTRY {
            s.batch_first = entries.len() as u32;
        }
        entries.push((id, smp));
        stats.samples += 1;
    };
    match s.batch_max.or(s.last) {
        Some((last_t, last_v)) if t == last_t => {
            if bits == last_v {
                stats.duplicates += 1;
            } else {
                stats.out_of_order_rejected += 1;
            }
        }
        Some((last_t, _)) if t < last_t => {
            if lim.ooo_window <= 0 || t < last_t.saturating_sub(lim.ooo_window) {
                stats.out_of_order_rejected += 1;
                return Ok(());
            }
            let staged_here = entries
                .get(s.batch_first as usize..)
                .unwrap_or(&[])
                .iter()
                .find(|(i, x)| *i == id && x.t == t)
                .map(|(_, x)| x.v.to_bits());
            let existing = match staged_here {
                Some(v) => Some(v),
                None => s
                    .value_at(t)
                    .map_err(|e| Error::corrupt("<head>", e.to_string()))?,
            };
            match existing {
                Some(v) if v == bits => stats.duplicates += 1,
                Some(_) => stats.out_of_order_rejected += 1,
                None => accept(s, entries, stats),
            }
        }
        _ => {
            let admitted_by_window = lim.ooo_window > 0
                && lim
                    .newest
                    .is_some_and(|n| t >= n.saturating_sub(lim.ooo_window));
            if t < min_valid_t && !admitted_by_window {
                stats.too_old_rejected += 1;
                return Ok(());
            }
            accept(s, entries, stats);
            s.batch_max = Some((t, bits));
        }
    }
    Ok(())
}

/// Head-wide figures for [`crate::Stats`].
pub(crate) struct HeadStats {
    pub(crate) series: usize,
    pub(crate) samples: u64,
    pub(crate) bytes: u64,
    pub(crate) min_t: Option<i64>,
    pub(crate) max_t: Option<i64>,
}

/// The in-memory part of the database.
pub(crate) struct Head {
    symbols: Symbols,
    series: Vec<Option<MemSeries>>,
    live: usize,
    by_hash: IdMap<u32>,
    collisions: IdMap<Vec<u32>>,
    postings: FxMap<u32, FxMap<u32, Vec<u32>>>,
    chunk_range: i64,
    min_t: i64,
    max_t: i64,
    num_samples: u64,
    /// Samples before this time belong to data already cut into blocks; they are
    /// refused unless the out-of-order window admits them.
    pub(crate) min_valid_t: i64,
    epoch: u32,
    /// Replay oddities: samples or chunks for unknown series ids.
    pub(crate) replay_unknown: u64,
}

fn insert_sorted(v: &mut Vec<u32>, id: u32) {
    match v.last() {
        Some(&last) if last >= id => {
            if let Err(i) = v.binary_search(&id) {
                v.insert(i, id);
            }
        }
        _ => v.push(id),
    }
}

impl Head {
    pub(crate) fn new(chunk_range: i64) -> Head {
        Head {
            symbols: Symbols::default(),
            series: Vec::new(),
            live: 0,
            by_hash: IdMap::default(),
            collisions: IdMap::default(),
            postings: FxMap::default(),
            chunk_range,
            min_t: i64::MAX,
            max_t: i64::MIN,
            num_samples: 0,
            min_valid_t: i64::MIN,
            epoch: 0,
            replay_unknown: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.min_t > self.max_t
    }

    /// Oldest and newest sample time, if the head holds any.
    pub(crate) fn time_range(&self) -> Option<(i64, i64)> {
        (!self.is_empty()).then_some((self.min_t, self.max_t))
    }

    fn get(&self, id: u32) -> Option<&MemSeries> {
        self.series.get(id as usize).and_then(Option::as_ref)
    }

    fn get_mut(&mut self, id: u32) -> Option<&mut MemSeries> {
        self.series.get_mut(id as usize).and_then(Option::as_mut)
    }

    fn labels_equal(&self, s: &MemSeries, l: &Labels) -> bool {
        s.labels.len() == l.len()
            && s.labels.iter().zip(l.iter()).all(|(&(n, v), (ln, lv))| {
                self.symbols.resolve(n) == ln && self.symbols.resolve(v) == lv
            })
    }

    fn labels_of(&self, s: &MemSeries) -> Labels {
        Labels::from_sorted_unchecked(
            s.labels
                .iter()
                .map(|&(n, v)| {
                    (
                        self.symbols.resolve(n).to_string(),
                        self.symbols.resolve(v).to_string(),
                    )
                })
                .collect(),
        )
    }

    fn cmp_series(&self, a: &MemSeries, b: &MemSeries) -> Ordering {
        let r = |&(n, v): &(u32, u32)| (self.symbols.resolve(n), self.symbols.resolve(v));
        a.labels.iter().map(r).cmp(b.labels.iter().map(r))
    }

    pub(crate) fn lookup(&self, l: &Labels, hash: u64) -> Option<u32> {
        if let Some(&id) = self.by_hash.get(&hash) {
            if self.get(id).is_some_and(|s| self.labels_equal(s, l)) {
                return Some(id);
            }
        }
        self.collisions
            .get(&hash)?
            .iter()
            .copied()
            .find(|&id| self.get(id).is_some_and(|s| self.labels_equal(s, l)))
    }

    /// Adds a series at `id` (the next free id when `None`).
    fn create(&mut self, l: &Labels, hash: u64, id: Option<u32>) -> u32 {
        let id = id.unwrap_or(self.series.len() as u32);
        let labels: Box<[(u32, u32)]> = l
            .iter()
            .map(|(n, v)| (self.symbols.intern(n), self.symbols.intern(v)))
            .collect();
        for &(n, v) in labels.iter() {
            insert_sorted(
                self.postings.entry(n).or_default().entry(v).or_default(),
                id,
            );
        }
        match self.by_hash.entry(hash) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collisions.entry(hash).or_default().push(id);
            }
        }
        let idx = id as usize;
        if idx >= self.series.len() {
            self.series.resize_with(idx + 1, || None);
        }
        self.series[idx] = Some(MemSeries::new(labels, hash));
        self.live += 1;
        id
    }

    fn note_sample(&mut self, t: i64) {
        self.min_t = self.min_t.min(t);
        self.max_t = self.max_t.max(t);
        self.num_samples += 1;
    }

    /// Validates a batch without changing any sample: resolves (and creates) series,
    /// and decides for every sample whether it is accepted, a duplicate, out of order
    /// or too old, exactly as applying the batch in order would.
    pub(crate) fn stage(
        &mut self,
        batch: &[(Labels, Vec<Sample>)],
        lim: &Limits,
        stats: &mut AppendStats,
    ) -> Result<Staged, Error> {
        let hashes: Vec<u64> = batch.iter().map(|(l, _)| l.hash64()).collect();
        if let Some(max) = lim.max_series {
            let mut fresh: HashSet<&Labels> = HashSet::new();
            for ((l, _), &h) in batch.iter().zip(&hashes) {
                if self.lookup(l, h).is_none() {
                    fresh.insert(l);
                }
            }
            if self.live + fresh.len() > max {
                return Err(Error::Limit(format!(
                    "the batch would create {} new series but the head holds {} of at most {max} (max_head_series)",
                    fresh.len(),
                    self.live
                )));
            }
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            // After 2^32 appends, forget old marks rather than mistake one for current.
            for s in self.series.iter_mut().flatten() {
                s.batch_epoch = 0;
            }
            self.epoch = 1;
        }
        let epoch = self.epoch;
        let min_valid_t = self.min_valid_t;
        let mut staged = Staged {
            new_series: Vec::new(),
            samples: Vec::with_capacity(batch.iter().map(|(_, s)| s.len()).sum()),
        };
        for ((labels, samples), hash) in batch.iter().zip(hashes) {
            if samples.is_empty() {
                continue;
            }
            let id = match self.lookup(labels, hash) {
                Some(id) => id,
                None => self.create(labels, hash, None),
            };
            let Some(s) = self.series.get_mut(id as usize).and_then(Option::as_mut) else {
                continue;
            };
            if s.batch_epoch != epoch {
                s.batch_epoch = epoch;
                s.batch_first = NO_ENTRY;
                s.batch_max = None;
                if !s.logged {
                    staged.new_series.push(id);
                }
            }
            for &smp in samples {
                stage_sample(s, id, &mut staged.samples, smp, lim, min_valid_t, stats)?;
            }
        }
        Ok(staged)
    }

    /// Applies samples that [`Head::stage`] accepted and the WAL recorded.
    pub(crate) fn apply(&mut self, staged: &Staged) {
        let range = self.chunk_range;
        let (mut lo, mut hi, mut n) = (self.min_t, self.max_t, 0u64);
        for &(id, smp) in &staged.samples {
            let Some(s) = self.series.get_mut(id as usize).and_then(Option::as_mut) else {
                continue;
            };
            match s.last {
                Some((last_t, _)) if smp.t <= last_t => s.insert_ooo(smp),
                _ => s.append_in_order(smp.t, smp.v, range),
            }
            lo = lo.min(smp.t);
            hi = hi.max(smp.t);
            n += 1;
        }
        self.min_t = lo;
        self.max_t = hi;
        self.num_samples += n;
        for &id in &staged.new_series {
            if let Some(s) = self.get_mut(id) {
                s.logged = true;
            }
        }
    }

    /// Inserts a sample read back from the WAL: in order when newer than the series'
    /// newest, otherwise into the out-of-order buffer unless that time is taken.
    fn insert_replayed(&mut self, id: u32, t: i64, v: f64) -> Result<(), DecodeError> {
        let range = self.chunk_range;
        let Some(s) = self.get_mut(id) else {
            self.replay_unknown += 1;
            return Ok(());
        };
        match s.last {
            Some((last_t, _)) if t <= last_t => {
                if s.value_at(t)?.is_some() {
                    return Ok(());
                }
                s.insert_ooo(Sample { t, v });
            }
            _ => s.append_in_order(t, v, range),
        }
        self.note_sample(t);
        Ok(())
    }

    /// Restores a checkpointed chunk as the series' newest closed chunk.
    fn add_chunk(&mut self, id: u32, bytes: &[u8]) -> Result<(), DecodeError> {
        let mut samples = Vec::new();
        chunkenc::decode_into(Encoding::Xor, bytes, &mut samples)?;
        let (Some(first), Some(last)) = (samples.first().copied(), samples.last().copied()) else {
            return Ok(());
        };
        let Some(s) = self.get_mut(id) else {
            self.replay_unknown += 1;
            return Ok(());
        };
        if s.last.is_some_and(|(t, _)| t >= first.t) || samples.windows(2).any(|w| w[0].t >= w[1].t)
        {
            for x in samples {
                self.insert_replayed(id, x.t, x.v)?;
            }
            return Ok(());
        }
        s.close_open();
        s.chunks.push(HeadChunk {
            min_t: first.t,
            max_t: last.t,
            data: bytes.to_vec().into_boxed_slice(),
        });
        s.last = Some((last.t, last.v.to_bits()));
        self.min_t = self.min_t.min(first.t);
        self.max_t = self.max_t.max(last.t);
        self.num_samples += samples.len() as u64;
        Ok(())
    }

    /// Ids of live series, optionally filtered by matchers.
    fn matching(&self, matchers: &[Matcher]) -> Vec<u32> {
        if matchers.is_empty() {
            self.all_postings()
        } else {
            postings::postings_for_matchers(self, matchers)
        }
    }

    pub(crate) fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<(Labels, Vec<Sample>)>, Error> {
        let mut out = Vec::new();
        for id in self.matching(matchers) {
            let Some(s) = self.get(id).filter(|s| s.overlaps(mint, maxt)) else {
                continue;
            };
            let mut samples = Vec::new();
            s.samples_in(mint, maxt, &mut samples)
                .map_err(|e| Error::corrupt("<head>", e.to_string()))?;
            if !samples.is_empty() {
                out.push((self.labels_of(s), samples));
            }
        }
        Ok(out)
    }

    pub(crate) fn series_in(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        self.matching(matchers)
            .into_iter()
            .filter_map(|id| self.get(id))
            .filter(|s| s.overlaps(mint, maxt))
            .map(|s| self.labels_of(s))
            .collect()
    }

    pub(crate) fn label_names(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        out: &mut BTreeSet<String>,
    ) {
        let mut names: HashSet<u32> = HashSet::new();
        for id in self.matching(matchers) {
            if let Some(s) = self.get(id).filter(|s| s.overlaps(mint, maxt)) {
                names.extend(s.labels.iter().map(|&(n, _)| n));
            }
        }
        out.extend(
            names
                .into_iter()
                .map(|n| self.symbols.resolve(n).to_string()),
        );
    }

    pub(crate) fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        out: &mut BTreeSet<String>,
    ) {
        let Some(name_sym) = self.symbols.get(name) else {
            return;
        };
        if matchers.is_empty() {
            let Some(values) = self.postings.get(&name_sym) else {
                return;
            };
            for (&v, ids) in values {
                if ids
                    .iter()
                    .any(|&id| self.get(id).is_some_and(|s| s.overlaps(mint, maxt)))
                {
                    out.insert(self.symbols.resolve(v).to_string());
                }
            }
            return;
        }
        for id in self.matching(matchers) {
            let Some(s) = self.get(id).filter(|s| s.overlaps(mint, maxt)) else {
                continue;
            };
            if let Some(&(_, v)) = s.labels.iter().find(|&&(n, _)| n == name_sym) {
                out.insert(self.symbols.resolve(v).to_string());
            }
        }
    }

    /// Calls `f` for every series with samples before `b`, in label order, with those
    /// samples (sorted, unique).
    pub(crate) fn for_each_before(
        &self,
        b: i64,
        mut f: impl FnMut(&Labels, &[Sample]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut ids: Vec<u32> = self
            .all_postings()
            .into_iter()
            .filter(|&id| {
                self.get(id)
                    .and_then(MemSeries::min_time)
                    .is_some_and(|t| t < b)
            })
            .collect();
        ids.sort_by(|&a, &b| match (self.get(a), self.get(b)) {
            (Some(x), Some(y)) => self.cmp_series(x, y),
            _ => a.cmp(&b),
        });
        let mut samples = Vec::new();
        for id in ids {
            let Some(s) = self.get(id) else { continue };
            samples.clear();
            s.samples_in(i64::MIN, b - 1, &mut samples)
                .map_err(|e| Error::corrupt("<head>", e.to_string()))?;
            if !samples.is_empty() {
                f(&self.labels_of(s), &samples)?;
            }
        }
        Ok(())
    }

    /// Drops every sample before `b`, removes series left empty, and renumbers the
    /// remaining series densely (the caller then writes a WAL checkpoint, which is
    /// what makes the new numbers durable).
    pub(crate) fn truncate_before(&mut self, b: i64) -> Result<(), Error> {
        let range = self.chunk_range;
        let old = std::mem::take(&mut self.series);
        let old_symbols = std::mem::take(&mut self.symbols);
        self.by_hash = IdMap::default();
        self.collisions = IdMap::default();
        self.postings = FxMap::default();
        self.live = 0;
        self.min_t = i64::MAX;
        self.max_t = i64::MIN;
        self.num_samples = 0;
        let mut first_err = None;
        for mut s in old.into_iter().flatten() {
            if let Err(e) = s.truncate_before(b, range) {
                first_err.get_or_insert(e);
            }
            if s.is_empty() {
                continue;
            }
            let id = self.series.len() as u32;
            let labels: Box<[(u32, u32)]> = s
                .labels
                .iter()
                .map(|&(n, v)| {
                    (
                        self.symbols.intern(old_symbols.resolve(n)),
                        self.symbols.intern(old_symbols.resolve(v)),
                    )
                })
                .collect();
            for &(n, v) in labels.iter() {
                self.postings
                    .entry(n)
                    .or_default()
                    .entry(v)
                    .or_default()
                    .push(id);
            }
            match self.by_hash.entry(s.hash) {
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(id);
                }
                std::collections::hash_map::Entry::Occupied(_) => {
                    self.collisions.entry(s.hash).or_default().push(id);
                }
            }
            if let (Some(lo), Some(hi)) = (s.min_time(), s.max_time()) {
                self.min_t = self.min_t.min(lo);
                self.max_t = self.max_t.max(hi);
            }
            self.num_samples += s.num_samples() as u64;
            s.labels = labels;
            s.logged = true;
            s.batch_epoch = 0;
            self.series.push(Some(s));
            self.live += 1;
        }
        self.min_valid_t = self.min_valid_t.max(b);
        match first_err {
            Some(e) => Err(Error::corrupt("<head>", e.to_string())),
            None => Ok(()),
        }
    }

    /// Writes the complete head state as checkpoint records.
    pub(crate) fn write_checkpoint(&self, w: &mut CheckpointWriter) -> Result<(), Error> {
        let live = || {
            self.series
                .iter()
                .enumerate()
                .filter_map(|(id, s)| s.as_ref().map(|s| (id as u32, s)))
        };
        for (id, s) in live() {
            let pairs: Vec<(&str, &str)> = s
                .labels
                .iter()
                .map(|&(n, v)| (self.symbols.resolve(n), self.symbols.resolve(v)))
                .collect();
            w.rec.series(id, pairs.into_iter());
            w.maybe_drain()?;
        }
        for (id, s) in live() {
            for c in &s.chunks {
                w.rec.chunk(id, &c.data);
            }
            if let Some(o) = &s.open {
                w.rec.chunk(id, o.app.bytes());
            }
            w.maybe_drain()?;
        }
        for (id, s) in live() {
            if !s.ooo.is_empty() {
                w.rec.samples(id, &s.ooo);
                w.maybe_drain()?;
            }
        }
        Ok(())
    }

    pub(crate) fn stats(&self) -> HeadStats {
        let series_bytes: usize = self.series.iter().flatten().map(MemSeries::mem_bytes).sum();
        let postings_bytes: usize = self
            .postings
            .values()
            .map(|vals| {
                48 + vals
                    .values()
                    .map(|ids| 40 + ids.capacity() * 4)
                    .sum::<usize>()
            })
            .sum();
        let map_bytes = (self.by_hash.capacity() * 16 * 9) / 8
            + self.series.capacity() * std::mem::size_of::<Option<MemSeries>>();
        HeadStats {
            series: self.live,
            samples: self.num_samples,
            bytes: (series_bytes + postings_bytes + map_bytes + self.symbols.mem_bytes()) as u64,
            min_t: self.time_range().map(|r| r.0),
            max_t: self.time_range().map(|r| r.1),
        }
    }

    /// The label pairs of a series, for its WAL record.
    pub(crate) fn series_pairs(&self, id: u32) -> Option<Vec<(&str, &str)>> {
        let s = self.get(id)?;
        Some(
            s.labels
                .iter()
                .map(|&(n, v)| (self.symbols.resolve(n), self.symbols.resolve(v)))
                .collect(),
        )
    }

    /// Label-set hashes of the live series, for counting distinct series overall.
    pub(crate) fn series_hashes(&self) -> impl Iterator<Item = u64> + '_ {
        self.series.iter().flatten().map(|s| s.hash)
    }
}

impl IndexReader for Head {
    fn all_postings(&self) -> Vec<u32> {
        self.series
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(id, _)| id as u32)
            .collect()
    }

    fn postings_eq(&self, name: &str, value: &str) -> Vec<u32> {
        let (Some(n), Some(v)) = (self.symbols.get(name), self.symbols.get(value)) else {
            return Vec::new();
        };
        self.postings
            .get(&n)
            .and_then(|vals| vals.get(&v))
            .cloned()
            .unwrap_or_default()
    }

    fn postings_matching(&self, name: &str, pred: &mut dyn FnMut(&str) -> bool) -> Vec<u32> {
        let Some(vals) = self.symbols.get(name).and_then(|n| self.postings.get(&n)) else {
            return Vec::new();
        };
        let lists: Vec<&[u32]> = vals
            .iter()
            .filter(|(&v, _)| pred(self.symbols.resolve(v)))
            .map(|(_, ids)| ids.as_slice())
            .collect();
        postings::union(lists)
    }
}

/// Rebuilds the head from WAL records.
pub(crate) struct HeadReplay<'a> {
    pub(crate) head: &'a mut Head,
    pub(crate) samples: u64,
    pub(crate) bad_chunks: u64,
}

impl ReplayVisitor for HeadReplay<'_> {
    fn series(&mut self, id: u32, labels: Labels) {
        let hash = labels.hash64();
        match self.head.get(id) {
            Some(s) if self.head.labels_equal(s, &labels) => {}
            Some(_) => {
                tracing::warn!(id, labels = %labels, "WAL names a series id twice; keeping the first");
            }
            None => {
                let id = self.head.create(&labels, hash, Some(id));
                if let Some(s) = self.head.get_mut(id) {
                    s.logged = true;
                }
            }
        }
    }

    fn sample(&mut self, id: u32, t: i64, v: f64) {
        self.samples += 1;
        if self.head.insert_replayed(id, t, v).is_err() {
            self.bad_chunks += 1;
        }
    }

    fn chunk(&mut self, id: u32, bytes: &[u8]) -> Result<(), DecodeError> {
        self.head.add_chunk(id, bytes)
    }
}
