//! A durable first-in-first-out queue of byte records on disk, for work that must
//! survive a restart before it is done — cairn's forwarding of ingested samples to an
//! external store, which may be down for hours.
//!
//! ```text
//! <dir>/0000000003   segments, cut at `segment_size`: records `len: u32 LE`,
//! <dir>/0000000004   `crc32(payload): u32 LE`, `payload`, as in the WAL
//! <dir>/cursor       "<segment> <offset>": the first record not yet acknowledged
//! ```
//!
//! One producer side ([`DiskQueue::push`], any number of threads) and one consumer
//! ([`DiskQueue::read_batch`] then [`DiskQueue::ack`]). The consumer always reads from
//! the acknowledged cursor, so a batch that failed to send is simply read again; a
//! crash between sending and acknowledging sends it twice, which remote-write
//! receivers treat as duplicates. The cursor file is replaced atomically (write, then
//! rename). Fully acknowledged segments are deleted.
//!
//! **Backpressure:** [`DiskQueue::push`] refuses with [`Error::QueueFull`] while the
//! unacknowledged bytes exceed `max_bytes`, so the caller can push back on its own
//! writers rather than fill the disk.
//!
//! **Recovery:** at open, the last segment is scanned and truncated after its last
//! whole, checksummed record (a torn write at a crash loses only the record being
//! written, which was never acknowledged to anyone). A corrupt record met while
//! reading skips the rest of its segment, counted in [`QueueStats::corrupt_skipped`].

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::IoContext;
use crate::{Error, FsyncPolicy};

const HEADER_LEN: u64 = 8;
/// A record larger than this is refused: it would be a bug, not data.
pub const MAX_RECORD: usize = 256 << 20;

/// How a [`DiskQueue`] is opened.
#[derive(Clone, Debug)]
pub struct QueueOptions {
    pub dir: PathBuf,
    /// Segments are cut once a record would take them past this size.
    pub segment_size: u64,
    /// [`DiskQueue::push`] refuses while more than this many bytes wait.
    pub max_bytes: u64,
    /// `Always` syncs every push before it returns; `Interval` and `Never` leave it to
    /// the OS (a process crash loses nothing, a power failure may).
    pub fsync: FsyncPolicy,
}

impl QueueOptions {
    pub fn new(dir: impl Into<PathBuf>) -> QueueOptions {
        QueueOptions {
            dir: dir.into(),
            segment_size: 16 << 20,
            max_bytes: 1 << 30,
            fsync: FsyncPolicy::Always,
        }
    }
}

/// Where the consumer stands: the segment and the byte offset of a record boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

/// Records read from the queue and the position to acknowledge once they are done.
pub type Batch = (Vec<Vec<u8>>, Position);

/// Counts for telemetry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Bytes (record headers included) written and not yet acknowledged.
    pub pending_bytes: u64,
    /// Segment files on disk.
    pub segments: usize,
    /// Segments whose tail was skipped because a record failed its checksum.
    pub corrupt_skipped: u64,
}

struct Inner {
    /// Segment number → bytes of whole records in it.
    segments: BTreeMap<u64, u64>,
    writer: File,
    write_segment: u64,
    cursor: Position,
    corrupt_skipped: u64,
}

impl Inner {
    fn pending_bytes(&self) -> u64 {
        self.segments
            .iter()
            .filter(|(s, _)| **s >= self.cursor.segment)
            .map(|(s, size)| {
                if *s == self.cursor.segment {
                    size.saturating_sub(self.cursor.offset)
                } else {
                    *size
                }
            })
            .sum()
    }
}

/// The queue. See the module documentation.
pub struct DiskQueue {
    opts: QueueOptions,
    inner: Mutex<Inner>,
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:010}"))
}

fn open_append(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .at(path)
}

/// Length of the prefix of `bytes` made of whole records with good checksums.
fn valid_prefix(bytes: &[u8]) -> u64 {
    let mut at = 0usize;
    while at + HEADER_LEN as usize <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or([0; 4])) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap_or([0; 4]));
        let end = at + HEADER_LEN as usize + len;
        if end > bytes.len() || crc32fast::hash(&bytes[at + 8..end]) != crc {
            break;
        }
        at = end;
    }
    at as u64
}

impl DiskQueue {
    /// Opens (or creates) the queue in `opts.dir`, recovering from a crash.
    pub fn open(opts: QueueOptions) -> Result<DiskQueue, Error> {
        if opts.segment_size < 1024 {
            return Err(Error::InvalidOptions(format!(
                "queue segment_size must be at least 1024 bytes, got {}",
                opts.segment_size
            )));
        }
        fs::create_dir_all(&opts.dir).at(&opts.dir)?;
        let mut segments = BTreeMap::new();
        for entry in fs::read_dir(&opts.dir).at(&opts.dir)? {
            let entry = entry.at(&opts.dir)?;
            let name = entry.file_name();
            let Some(n) = name.to_str().and_then(|s| s.parse::<u64>().ok()) else {
                continue;
            };
            let len = entry.metadata().at(&entry.path())?.len();
            segments.insert(n, len);
        }
        // Only the newest segment can have been cut short by a crash.
        if let Some((&last, size)) = segments.iter_mut().next_back() {
            let path = segment_path(&opts.dir, last);
            let bytes = fs::read(&path).at(&path)?;
            let good = valid_prefix(&bytes);
            if good < *size {
                tracing::warn!(
                    path = %path.display(),
                    kept = good,
                    dropped = *size - good,
                    "forwarding queue: truncating a torn record at the end of a segment"
                );
                let f = OpenOptions::new().write(true).open(&path).at(&path)?;
                f.set_len(good).at(&path)?;
                f.sync_all().at(&path)?;
                *size = good;
            }
        }
        let cursor_path = opts.dir.join("cursor");
        let mut cursor = match fs::read_to_string(&cursor_path) {
            Ok(text) => {
                let mut parts = text.split_whitespace().map(str::parse::<u64>);
                match (parts.next(), parts.next()) {
                    (Some(Ok(segment)), Some(Ok(offset))) => Position { segment, offset },
                    _ => {
                        return Err(Error::corrupt(
                            &cursor_path,
                            format!("expected \"<segment> <offset>\", found {text:?}"),
                        ))
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Position {
                segment: segments.keys().next().copied().unwrap_or(1),
                offset: 0,
            },
            Err(e) => return Err(Error::io(&cursor_path, e)),
        };
        // The cursor's segment may be gone (acknowledged and deleted); move on to the
        // first one that exists.
        if !segments.contains_key(&cursor.segment) {
            if let Some((&s, _)) = segments.range(cursor.segment..).next() {
                cursor = Position {
                    segment: s,
                    offset: 0,
                };
            }
        }
        let write_segment = segments
            .keys()
            .next_back()
            .copied()
            .unwrap_or(cursor.segment)
            .max(cursor.segment);
        segments.entry(write_segment).or_insert(0);
        let writer = open_append(&segment_path(&opts.dir, write_segment))?;
        Ok(DiskQueue {
            opts,
            inner: Mutex::new(Inner {
                segments,
                writer,
                write_segment,
                cursor,
                corrupt_skipped: 0,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends one record; durable as `fsync` says when this returns.
    pub fn push(&self, payload: &[u8]) -> Result<(), Error> {
        if payload.len() > MAX_RECORD {
            return Err(Error::Limit(format!(
                "a queue record of {} bytes is over the limit of {MAX_RECORD}",
                payload.len()
            )));
        }
        let mut inner = self.lock();
        let pending = inner.pending_bytes();
        if pending > self.opts.max_bytes {
            return Err(Error::QueueFull {
                pending,
                limit: self.opts.max_bytes,
            });
        }
        let record_len = HEADER_LEN + payload.len() as u64;
        let current = inner
            .segments
            .get(&inner.write_segment)
            .copied()
            .unwrap_or(0);
        if current > 0 && current + record_len > self.opts.segment_size {
            let next = inner.write_segment + 1;
            let path = segment_path(&self.opts.dir, next);
            inner.writer = open_append(&path)?;
            inner.write_segment = next;
            inner.segments.insert(next, 0);
            if self.opts.fsync == FsyncPolicy::Always {
                File::open(&self.opts.dir)
                    .and_then(|d| d.sync_all())
                    .at(&self.opts.dir)?;
            }
        }
        let mut rec = Vec::with_capacity(record_len as usize);
        rec.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        rec.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        rec.extend_from_slice(payload);
        let path = segment_path(&self.opts.dir, inner.write_segment);
        inner.writer.write_all(&rec).at(&path)?;
        if self.opts.fsync == FsyncPolicy::Always {
            inner.writer.sync_data().at(&path)?;
        }
        let seg = inner.write_segment;
        *inner.segments.entry(seg).or_insert(0) += record_len;
        Ok(())
    }

    /// Reads records from the acknowledged cursor on, at least one (when any wait)
    /// and no more than `max_bytes` of payload after the first. Returns the records
    /// and the position to [`DiskQueue::ack`] once they are done with.
    pub fn read_batch(&self, max_bytes: usize) -> Result<Option<Batch>, Error> {
        let mut inner = self.lock();
        let mut pos = inner.cursor;
        let mut out = Vec::new();
        let mut taken = 0usize;
        while let Some(&size) = inner.segments.get(&pos.segment) {
            if pos.offset >= size {
                // This segment is read out; go on with the next one, if written.
                match inner.segments.range(pos.segment + 1..).next() {
                    Some((&next, _)) => {
                        pos = Position {
                            segment: next,
                            offset: 0,
                        };
                        continue;
                    }
                    None => break,
                }
            }
            let path = segment_path(&self.opts.dir, pos.segment);
            let file = File::open(&path).at(&path)?;
            let mut header = [0u8; HEADER_LEN as usize];
            let mut skip = false;
            while pos.offset < size {
                if pos.offset + HEADER_LEN > size {
                    skip = true;
                    break;
                }
                file.read_exact_at(&mut header, pos.offset).at(&path)?;
                let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as u64;
                let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
                if pos.offset + HEADER_LEN + len > size {
                    skip = true;
                    break;
                }
                if !out.is_empty() && taken + len as usize > max_bytes {
                    return Ok(Some((out, pos)));
                }
                let mut payload = vec![0u8; len as usize];
                file.read_exact_at(&mut payload, pos.offset + HEADER_LEN)
                    .at(&path)?;
                if crc32fast::hash(&payload) != crc {
                    skip = true;
                    break;
                }
                pos.offset += HEADER_LEN + len;
                taken += payload.len();
                out.push(payload);
            }
            if skip {
                tracing::error!(
                    path = %path.display(),
                    offset = pos.offset,
                    "forwarding queue: a corrupt record; skipping the rest of the segment"
                );
                inner.corrupt_skipped += 1;
                // Treat the segment as read to its end so the cursor passes it.
                if let Some(s) = inner.segments.get_mut(&pos.segment) {
                    *s = pos.offset;
                }
            }
        }
        if out.is_empty() {
            // Nothing to send, but the cursor may have moved past corrupt or empty
            // segments; remember that.
            if pos != inner.cursor {
                self.commit(&mut inner, pos)?;
            }
            return Ok(None);
        }
        Ok(Some((out, pos)))
    }

    /// Marks everything before `pos` as done: persists the cursor and deletes
    /// segments that are wholly behind it.
    pub fn ack(&self, pos: Position) -> Result<(), Error> {
        let mut inner = self.lock();
        if pos <= inner.cursor {
            return Ok(());
        }
        self.commit(&mut inner, pos)
    }

    fn commit(&self, inner: &mut Inner, pos: Position) -> Result<(), Error> {
        let tmp = self.opts.dir.join("cursor.tmp");
        let path = self.opts.dir.join("cursor");
        {
            let mut f = File::create(&tmp).at(&tmp)?;
            write!(f, "{} {}", pos.segment, pos.offset).at(&tmp)?;
            if self.opts.fsync == FsyncPolicy::Always {
                f.sync_all().at(&tmp)?;
            }
        }
        fs::rename(&tmp, &path).at(&path)?;
        inner.cursor = pos;
        let done: Vec<u64> = inner
            .segments
            .range(..pos.segment)
            .map(|(s, _)| *s)
            .collect();
        for s in done {
            if s == inner.write_segment {
                continue;
            }
            let p = segment_path(&self.opts.dir, s);
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&p, e)),
            }
            inner.segments.remove(&s);
        }
        Ok(())
    }

    /// Syncs the segment being written (for `Interval` policies, from a timer).
    pub fn sync(&self) -> Result<(), Error> {
        let inner = self.lock();
        let path = segment_path(&self.opts.dir, inner.write_segment);
        inner.writer.sync_data().at(&path)
    }

    pub fn stats(&self) -> QueueStats {
        let inner = self.lock();
        QueueStats {
            pending_bytes: inner.pending_bytes(),
            segments: inner.segments.len(),
            corrupt_skipped: inner.corrupt_skipped,
        }
    }

    /// The most bytes that may wait before [`DiskQueue::push`] refuses.
    pub fn max_bytes(&self) -> u64 {
        self.opts.max_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dir: &Path) -> QueueOptions {
        QueueOptions {
            segment_size: 1024,
            max_bytes: 4096,
            ..QueueOptions::new(dir)
        }
    }

    fn drain(q: &DiskQueue) -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        while let Some((batch, pos)) = q.read_batch(300).unwrap() {
            all.extend(batch);
            q.ack(pos).unwrap();
        }
        all
    }

    fn record(i: u32) -> Vec<u8> {
        format!("record {i:04} {}", "x".repeat(90)).into_bytes()
    }

    #[test]
    fn records_come_out_in_order_across_segments_and_acked_segments_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let q = DiskQueue::open(opts(dir.path())).unwrap();
        for i in 0..30 {
            q.push(&record(i)).unwrap();
        }
        assert!(q.stats().segments > 2, "{:?}", q.stats());
        let got = drain(&q);
        assert_eq!(got, (0..30).map(record).collect::<Vec<_>>());
        assert_eq!(q.stats().pending_bytes, 0);
        assert_eq!(
            q.stats().segments,
            1,
            "only the segment being written is kept"
        );
    }

    #[test]
    fn an_unacknowledged_batch_is_read_again_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let q = DiskQueue::open(opts(dir.path())).unwrap();
            for i in 0..20 {
                q.push(&record(i)).unwrap();
            }
            let (first, pos) = q.read_batch(310).unwrap().unwrap();
            assert_eq!(first, vec![record(0), record(1), record(2)]);
            q.ack(pos).unwrap();
            // Read but never acknowledged: the send failed.
            let (again, _) = q.read_batch(310).unwrap().unwrap();
            assert_eq!(again[0], record(3));
            let (same, _) = q.read_batch(310).unwrap().unwrap();
            assert_eq!(same, again);
        }
        let q = DiskQueue::open(opts(dir.path())).unwrap();
        assert_eq!(drain(&q), (3..20).map(record).collect::<Vec<_>>());
    }

    #[test]
    fn a_torn_record_at_the_end_is_dropped_at_open_and_the_queue_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        {
            let q = DiskQueue::open(opts(dir.path())).unwrap();
            q.push(&record(1)).unwrap();
            q.push(&record(2)).unwrap();
        }
        let seg = segment_path(dir.path(), 1);
        let len = fs::metadata(&seg).unwrap().len();
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(len - 10).unwrap();
        let q = DiskQueue::open(opts(dir.path())).unwrap();
        q.push(&record(3)).unwrap();
        assert_eq!(drain(&q), vec![record(1), record(3)]);
    }

    #[test]
    fn a_corrupt_record_skips_the_rest_of_its_segment_and_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let q = DiskQueue::open(opts(dir.path())).unwrap();
        for i in 0..12 {
            q.push(&record(i)).unwrap();
        }
        // Flip a payload byte of the second record of the first segment.
        let seg = segment_path(dir.path(), 1);
        let mut bytes = fs::read(&seg).unwrap();
        let second = HEADER_LEN as usize * 2 + record(0).len() + 3;
        bytes[second] ^= 0xff;
        fs::write(&seg, bytes).unwrap();
        let got = drain(&q);
        assert_eq!(got[0], record(0));
        assert!(!got.contains(&record(1)));
        assert_eq!(
            got.last(),
            Some(&record(11)),
            "later segments still come out"
        );
        assert_eq!(q.stats().corrupt_skipped, 1);
    }

    #[test]
    fn a_full_queue_refuses_pushes_until_the_consumer_catches_up() {
        let dir = tempfile::tempdir().unwrap();
        let q = DiskQueue::open(opts(dir.path())).unwrap();
        let mut pushed = 0;
        let refused = loop {
            match q.push(&record(pushed)) {
                Ok(()) => pushed += 1,
                Err(e) => break e,
            }
            assert!(pushed < 1000, "the queue never filled");
        };
        assert!(
            matches!(refused, Error::QueueFull { limit: 4096, .. }),
            "{refused}"
        );
        let (batch, pos) = q.read_batch(2000).unwrap().unwrap();
        q.ack(pos).unwrap();
        assert!(!batch.is_empty());
        q.push(&record(pushed)).unwrap();
    }
}
