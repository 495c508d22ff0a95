//! Blocks: immutable directories holding every sample of a time range.
//!
//! ```text
//! blocks/<id>/meta      key=value lines: version, id, min_time, max_time (inclusive),
//!                       series, samples, chunks, level, parents
//! blocks/<id>/chunks    "CAIRNCHK" 1, then per chunk: encoding byte, uvarint length,
//!                       data, crc32(encoding byte + data) LE
//! blocks/<id>/index     "CAIRNIDX" 1, symbols (sorted strings), series (sorted by
//!                       labels: symbol pairs, chunk metas as min time delta, duration
//!                       and record length), postings (name → value → series
//!                       ordinals, delta coded), crc32 of all of it LE
//! ```
//!
//! A series' chunks are contiguous in the chunks file and series follow each other in
//! index order, so chunk offsets are implied by the record lengths. Because the symbol
//! table is sorted, symbol numbers compare like the strings they stand for.
//!
//! A block is written into `<id>.tmp`, synced, and renamed into place, so a crash
//! never leaves a half-written block that looks complete. Opening a block loads its
//! index into memory; chunks are read from the file on demand, one read per series.

use crate::chunkenc::{self, Encoding};
use crate::encoding::{put_str, put_uvarint, put_varint, DecodeError, Decoder};
use crate::error::IoContext;
use crate::postings::{self, IndexReader};
use crate::wal::sync_dir;
use crate::{Error, Labels, Matcher, Sample};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

const CHUNKS_MAGIC: &[u8; 8] = b"CAIRNCHK";
const INDEX_MAGIC: &[u8; 8] = b"CAIRNIDX";
const FORMAT_VERSION: u8 = 1;
/// Samples per chunk in blocks: four times the head's (two hours at a 15 s interval).
/// Per-chunk overhead (header, checksum, index entry) is a sizeable part of a
/// well-compressed chunk, and decoding 480 samples to answer a short range costs
/// microseconds.
pub(crate) const BLOCK_CHUNK_SAMPLES: usize = 480;

/// What `meta` records about a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BlockMeta {
    pub(crate) id: String,
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    pub(crate) series: u64,
    pub(crate) samples: u64,
    pub(crate) chunks: u64,
    /// 1 for blocks cut from the head, one more than the highest parent when merged.
    pub(crate) level: u32,
    /// Blocks merged into this one; leftovers of an interrupted compaction are deleted
    /// on open.
    pub(crate) parents: Vec<String>,
}

impl BlockMeta {
    fn to_text(&self) -> String {
        format!(
            "version={FORMAT_VERSION}\nid={}\nmin_time={}\nmax_time={}\nseries={}\nsamples={}\nchunks={}\nlevel={}\nparents={}\n",
            self.id,
            self.min_t,
            self.max_t,
            self.series,
            self.samples,
            self.chunks,
            self.level,
            self.parents.join(",")
        )
    }

    fn parse(text: &str, path: &Path) -> Result<BlockMeta, Error> {
        let mut fields = BTreeMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| Error::corrupt(path, format!("line without '=': {line:?}")))?;
            fields.insert(k.trim(), v.trim());
        }
        let get = |k: &str| -> Result<&str, Error> {
            fields
                .get(k)
                .copied()
                .ok_or_else(|| Error::corrupt(path, format!("missing field {k:?}")))
        };
        fn num<T: std::str::FromStr>(path: &Path, k: &str, v: &str) -> Result<T, Error> {
            v.parse()
                .map_err(|_| Error::corrupt(path, format!("field {k:?} is not a number: {v:?}")))
        }
        let version: u8 = num(path, "version", get("version")?)?;
        if version != FORMAT_VERSION {
            return Err(Error::corrupt(
                path,
                format!("unsupported block version {version}"),
            ));
        }
        let parents = get("parents").unwrap_or("");
        Ok(BlockMeta {
            id: get("id")?.to_string(),
            min_t: num(path, "min_time", get("min_time")?)?,
            max_t: num(path, "max_time", get("max_time")?)?,
            series: num(path, "series", get("series")?)?,
            samples: num(path, "samples", get("samples")?)?,
            chunks: num(path, "chunks", get("chunks")?)?,
            level: num(path, "level", get("level")?)?,
            parents: parents
                .split(',')
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }
}

/// Where a chunk is, relative to its series' first chunk.
#[derive(Clone, Copy, Debug)]
struct ChunkMeta {
    min_t: i64,
    max_t: i64,
    /// Length of the whole record in the chunks file.
    len: u32,
}

/// Writes one block. Series must be added in label order.
pub(crate) struct BlockWriter {
    blocks_dir: PathBuf,
    tmp: PathBuf,
    chunks: BufWriter<File>,
    chunks_path: PathBuf,
    series: Vec<(Labels, Vec<ChunkMeta>)>,
    meta: BlockMeta,
    record: Vec<u8>,
}

impl BlockWriter {
    pub(crate) fn new(
        blocks_dir: &Path,
        level: u32,
        parents: Vec<String>,
    ) -> Result<BlockWriter, Error> {
        let id = new_block_id();
        let tmp = blocks_dir.join(format!("{id}.tmp"));
        fs::create_dir_all(&tmp).at(&tmp)?;
        let chunks_path = tmp.join("chunks");
        let file = File::create(&chunks_path).at(&chunks_path)?;
        let mut chunks = BufWriter::with_capacity(1 << 20, file);
        chunks.write_all(CHUNKS_MAGIC).at(&chunks_path)?;
        chunks.write_all(&[FORMAT_VERSION]).at(&chunks_path)?;
        Ok(BlockWriter {
            blocks_dir: blocks_dir.to_path_buf(),
            tmp,
            chunks,
            chunks_path,
            series: Vec::new(),
            meta: BlockMeta {
                id,
                min_t: i64::MAX,
                max_t: i64::MIN,
                series: 0,
                samples: 0,
                chunks: 0,
                level,
                parents,
            },
            record: Vec::new(),
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Adds a series' samples (sorted by time, unique), re-chunked and encoded in the
    /// smallest encoding per chunk.
    pub(crate) fn add_series(&mut self, labels: &Labels, samples: &[Sample]) -> Result<(), Error> {
        if samples.is_empty() {
            return Ok(());
        }
        if let Some((prev, _)) = self.series.last() {
            if prev >= labels {
                return Err(Error::corrupt(
                    &self.tmp,
                    format!("series added out of order: {labels} after {prev}"),
                ));
            }
        }
        let mut metas = Vec::with_capacity(samples.len().div_ceil(BLOCK_CHUNK_SAMPLES));
        for part in samples.chunks(BLOCK_CHUNK_SAMPLES) {
            let (enc, data) = chunkenc::encode_best(part);
            self.record.clear();
            self.record.push(enc as u8);
            put_uvarint(&mut self.record, data.len() as u64);
            self.record.extend_from_slice(&data);
            let mut h = crc32fast::Hasher::new();
            h.update(&[enc as u8]);
            h.update(&data);
            self.record.extend_from_slice(&h.finalize().to_le_bytes());
            self.chunks.write_all(&self.record).at(&self.chunks_path)?;
            let (lo, hi) = (part[0].t, part[part.len() - 1].t);
            metas.push(ChunkMeta {
                min_t: lo,
                max_t: hi,
                len: self.record.len() as u32,
            });
            self.meta.chunks += 1;
        }
        self.meta.min_t = self.meta.min_t.min(samples[0].t);
        self.meta.max_t = self.meta.max_t.max(samples[samples.len() - 1].t);
        self.meta.samples += samples.len() as u64;
        self.meta.series += 1;
        self.series.push((labels.clone(), metas));
        Ok(())
    }

    /// Writes the index and meta, syncs, and moves the block into place.
    pub(crate) fn finish(mut self) -> Result<Block, Error> {
        let file = self
            .chunks
            .into_inner()
            .map_err(|e| Error::io(&self.chunks_path, e.into_error()))?;
        file.sync_all().at(&self.chunks_path)?;
        drop(file);

        let index = encode_index(&self.series);
        let index_path = self.tmp.join("index");
        write_synced(&index_path, &index)?;
        let meta_path = self.tmp.join("meta");
        write_synced(&meta_path, self.meta.to_text().as_bytes())?;
        sync_dir(&self.tmp)?;
        let dir = self.blocks_dir.join(&self.meta.id);
        fs::rename(&self.tmp, &dir).at(&dir)?;
        sync_dir(&self.blocks_dir)?;
        self.series.clear();
        Block::open(&dir)
    }

    /// Removes the unfinished block.
    pub(crate) fn abort(self) {
        drop(self.chunks);
        let _ = fs::remove_dir_all(&self.tmp);
    }
}

fn write_synced(path: &Path, data: &[u8]) -> Result<(), Error> {
    let mut f = File::create(path).at(path)?;
    f.write_all(data).at(path)?;
    f.sync_all().at(path)
}

fn encode_index(series: &[(Labels, Vec<ChunkMeta>)]) -> Vec<u8> {
    let mut symbols: BTreeSet<&str> = BTreeSet::new();
    for (l, _) in series {
        for (n, v) in l.iter() {
            symbols.insert(n);
            symbols.insert(v);
        }
    }
    let symbols: Vec<&str> = symbols.into_iter().collect();
    let sym = |s: &str| symbols.binary_search(&s).unwrap_or(0) as u64;

    let mut buf = Vec::with_capacity(series.len() * 64);
    buf.extend_from_slice(INDEX_MAGIC);
    buf.push(FORMAT_VERSION);
    put_uvarint(&mut buf, symbols.len() as u64);
    for s in &symbols {
        put_str(&mut buf, s);
    }
    put_uvarint(&mut buf, series.len() as u64);
    let mut postings: BTreeMap<(u64, u64), Vec<u32>> = BTreeMap::new();
    for (ordinal, (labels, chunks)) in series.iter().enumerate() {
        put_uvarint(&mut buf, labels.len() as u64);
        for (n, v) in labels.iter() {
            let (n, v) = (sym(n), sym(v));
            put_uvarint(&mut buf, n);
            put_uvarint(&mut buf, v);
            postings.entry((n, v)).or_default().push(ordinal as u32);
        }
        put_uvarint(&mut buf, chunks.len() as u64);
        let mut prev_max = 0i64;
        for (i, c) in chunks.iter().enumerate() {
            if i == 0 {
                put_varint(&mut buf, c.min_t);
            } else {
                put_varint(&mut buf, c.min_t.wrapping_sub(prev_max));
            }
            put_uvarint(&mut buf, c.max_t.wrapping_sub(c.min_t) as u64);
            put_uvarint(&mut buf, u64::from(c.len));
            prev_max = c.max_t;
        }
    }
    let mut by_name: BTreeMap<u64, Vec<(u64, Vec<u32>)>> = BTreeMap::new();
    for ((n, v), ids) in postings {
        by_name.entry(n).or_default().push((v, ids));
    }
    put_uvarint(&mut buf, by_name.len() as u64);
    for (n, values) in by_name {
        put_uvarint(&mut buf, n);
        put_uvarint(&mut buf, values.len() as u64);
        for (v, ids) in values {
            put_uvarint(&mut buf, v);
            put_uvarint(&mut buf, ids.len() as u64);
            let mut prev = 0u32;
            for id in ids {
                put_uvarint(&mut buf, u64::from(id - prev));
                prev = id;
            }
        }
    }
    let crc = crc32fast::hash(&buf);
    buf.extend_from_slice(&crc.to_le_bytes());
    buf
}

struct BlockSeries {
    labels: Box<[(u32, u32)]>,
    /// Offset of the series' first chunk record in the chunks file.
    offset: u64,
    chunks: Box<[ChunkMeta]>,
}

impl BlockSeries {
    fn min_t(&self) -> i64 {
        self.chunks.first().map_or(i64::MAX, |c| c.min_t)
    }

    fn max_t(&self) -> i64 {
        self.chunks.last().map_or(i64::MIN, |c| c.max_t)
    }

    fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.min_t() <= maxt && self.max_t() >= mint
    }
}

/// An open block: its index in memory and its chunks file.
pub(crate) struct Block {
    pub(crate) meta: BlockMeta,
    pub(crate) dir: PathBuf,
    /// Size of the block's files.
    pub(crate) bytes: u64,
    symbols: Vec<Box<str>>,
    series: Vec<BlockSeries>,
    /// name symbol → (value symbol → ordinals), both sorted.
    postings: Vec<(u32, ValuePostings)>,
    chunks_file: File,
    chunks_path: PathBuf,
}

impl Block {
    pub(crate) fn open(dir: &Path) -> Result<Block, Error> {
        let meta_path = dir.join("meta");
        let text = fs::read_to_string(&meta_path).at(&meta_path)?;
        let meta = BlockMeta::parse(&text, &meta_path)?;
        let index_path = dir.join("index");
        let index = fs::read(&index_path).at(&index_path)?;
        let (symbols, series, postings) =
            decode_index(&index).map_err(|e| Error::corrupt(&index_path, e.to_string()))?;
        let chunks_path = dir.join("chunks");
        let chunks_file = File::open(&chunks_path).at(&chunks_path)?;
        let chunks_len = chunks_file.metadata().at(&chunks_path)?.len();
        let mut magic = [0u8; 9];
        read_exact_at(&chunks_file, &mut magic, 0).at(&chunks_path)?;
        if &magic[..8] != CHUNKS_MAGIC || magic[8] != FORMAT_VERSION {
            return Err(Error::corrupt(&chunks_path, "not a cairn chunks file"));
        }
        if let Some(last) = series.last() {
            let end = last.offset + last.chunks.iter().map(|c| u64::from(c.len)).sum::<u64>();
            if end > chunks_len {
                return Err(Error::corrupt(
                    &chunks_path,
                    format!("index refers to byte {end} of a {chunks_len}-byte file"),
                ));
            }
        }
        let meta_len = fs::metadata(&meta_path).at(&meta_path)?.len();
        Ok(Block {
            meta,
            dir: dir.to_path_buf(),
            bytes: chunks_len + index.len() as u64 + meta_len,
            symbols,
            series,
            postings,
            chunks_file,
            chunks_path,
        })
    }

    pub(crate) fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.meta.min_t <= maxt && self.meta.max_t >= mint
    }

    fn sym(&self, s: &str) -> Option<u32> {
        self.symbols
            .binary_search_by(|x| x.as_ref().cmp(s))
            .ok()
            .map(|i| i as u32)
    }

    fn resolve(&self, id: u32) -> &str {
        self.symbols.get(id as usize).map_or("", |s| s.as_ref())
    }

    fn labels_of(&self, s: &BlockSeries) -> Labels {
        Labels::from_sorted_unchecked(
            s.labels
                .iter()
                .map(|&(n, v)| (self.resolve(n).to_string(), self.resolve(v).to_string()))
                .collect(),
        )
    }

    fn name_postings(&self, name: &str) -> Option<&[(u32, Vec<u32>)]> {
        let n = self.sym(name)?;
        let i = self.postings.binary_search_by_key(&n, |(k, _)| *k).ok()?;
        Some(&self.postings[i].1)
    }

    fn matching(&self, matchers: &[Matcher]) -> Vec<u32> {
        if matchers.is_empty() {
            self.all_postings()
        } else {
            postings::postings_for_matchers(self, matchers)
        }
    }

    /// Label-set hashes of every series, for counting distinct series overall.
    pub(crate) fn series_hashes(&self) -> impl Iterator<Item = u64> + '_ {
        self.series.iter().map(|s| {
            crate::labels::hash_pairs(
                s.labels
                    .iter()
                    .map(|&(n, v)| (self.resolve(n), self.resolve(v))),
            )
        })
    }

    /// Appends the samples of one series with `mint <= t <= maxt` to `out`.
    fn read_samples(
        &self,
        s: &BlockSeries,
        mint: i64,
        maxt: i64,
        out: &mut Vec<Sample>,
    ) -> Result<(), Error> {
        let first = s.chunks.partition_point(|c| c.max_t < mint);
        let last = s.chunks.partition_point(|c| c.min_t <= maxt);
        if first >= last {
            return Ok(());
        }
        let start = s.offset
            + s.chunks[..first]
                .iter()
                .map(|c| u64::from(c.len))
                .sum::<u64>();
        let len: usize = s.chunks[first..last].iter().map(|c| c.len as usize).sum();
        let mut buf = vec![0u8; len];
        read_exact_at(&self.chunks_file, &mut buf, start).at(&self.chunks_path)?;
        let mut pos = 0;
        for c in &s.chunks[first..last] {
            let rec = &buf[pos..pos + c.len as usize];
            pos += c.len as usize;
            decode_chunk_record(rec, mint, maxt, out).map_err(|e| {
                Error::corrupt(
                    &self.chunks_path,
                    format!(
                        "chunk at byte {}: {e}",
                        start + pos as u64 - u64::from(c.len)
                    ),
                )
            })?;
        }
        Ok(())
    }

    pub(crate) fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<(Labels, Vec<Sample>)>, Error> {
        let mut out = Vec::new();
        for id in self.matching(matchers) {
            let Some(s) = self
                .series
                .get(id as usize)
                .filter(|s| s.overlaps(mint, maxt))
            else {
                continue;
            };
            let mut samples = Vec::new();
            self.read_samples(s, mint, maxt, &mut samples)?;
            if !samples.is_empty() {
                out.push((self.labels_of(s), samples));
            }
        }
        Ok(out)
    }

    pub(crate) fn series_in(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        self.matching(matchers)
            .into_iter()
            .filter_map(|id| self.series.get(id as usize))
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
        let mut names = BTreeSet::new();
        for id in self.matching(matchers) {
            if let Some(s) = self
                .series
                .get(id as usize)
                .filter(|s| s.overlaps(mint, maxt))
            {
                names.extend(s.labels.iter().map(|&(n, _)| n));
            }
        }
        out.extend(names.into_iter().map(|n| self.resolve(n).to_string()));
    }

    pub(crate) fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        out: &mut BTreeSet<String>,
    ) {
        let Some(name_sym) = self.sym(name) else {
            return;
        };
        if matchers.is_empty() {
            for (v, ids) in self.name_postings(name).unwrap_or(&[]) {
                if ids.iter().any(|&id| {
                    self.series
                        .get(id as usize)
                        .is_some_and(|s| s.overlaps(mint, maxt))
                }) {
                    out.insert(self.resolve(*v).to_string());
                }
            }
            return;
        }
        for id in self.matching(matchers) {
            let Some(s) = self
                .series
                .get(id as usize)
                .filter(|s| s.overlaps(mint, maxt))
            else {
                continue;
            };
            if let Some(&(_, v)) = s.labels.iter().find(|&&(n, _)| n == name_sym) {
                out.insert(self.resolve(v).to_string());
            }
        }
    }

    /// Labels of the series with this ordinal (ordinals are in label order).
    pub(crate) fn series_labels(&self, ordinal: usize) -> Option<Labels> {
        self.series.get(ordinal).map(|s| self.labels_of(s))
    }

    /// Every sample of the series with this ordinal.
    pub(crate) fn series_samples(
        &self,
        ordinal: usize,
        out: &mut Vec<Sample>,
    ) -> Result<(), Error> {
        match self.series.get(ordinal) {
            Some(s) => self.read_samples(s, i64::MIN, i64::MAX, out),
            None => Ok(()),
        }
    }
}

impl IndexReader for Block {
    fn all_postings(&self) -> Vec<u32> {
        (0..self.series.len() as u32).collect()
    }

    fn postings_eq(&self, name: &str, value: &str) -> Vec<u32> {
        let (Some(values), Some(v)) = (self.name_postings(name), self.sym(value)) else {
            return Vec::new();
        };
        match values.binary_search_by_key(&v, |(k, _)| *k) {
            Ok(i) => values[i].1.clone(),
            Err(_) => Vec::new(),
        }
    }

    fn postings_matching(&self, name: &str, pred: &mut dyn FnMut(&str) -> bool) -> Vec<u32> {
        let lists: Vec<&[u32]> = self
            .name_postings(name)
            .unwrap_or(&[])
            .iter()
            .filter(|(v, _)| pred(self.resolve(*v)))
            .map(|(_, ids)| ids.as_slice())
            .collect();
        postings::union(lists)
    }
}

fn decode_chunk_record(
    rec: &[u8],
    mint: i64,
    maxt: i64,
    out: &mut Vec<Sample>,
) -> Result<(), DecodeError> {
    let mut d = Decoder::new(rec);
    let enc_byte = d.u8()?;
    let enc = Encoding::from_u8(enc_byte).ok_or(DecodeError("unknown chunk encoding"))?;
    let n = d.len(1)?;
    let data = d.bytes(n)?;
    let crc = d.u32_le()?;
    let mut h = crc32fast::Hasher::new();
    h.update(&[enc_byte]);
    h.update(data);
    if h.finalize() != crc {
        return Err(DecodeError("chunk checksum mismatch"));
    }
    chunkenc::decode_range(enc, data, mint, maxt, out)
}

/// Value symbol → series ordinals, sorted by value.
type ValuePostings = Vec<(u32, Vec<u32>)>;

type DecodedIndex = (Vec<Box<str>>, Vec<BlockSeries>, Vec<(u32, ValuePostings)>);

fn decode_index(data: &[u8]) -> Result<DecodedIndex, DecodeError> {
    if data.len() < 13 {
        return Err(DecodeError("index file too short"));
    }
    let (body, crc) = data.split_at(data.len() - 4);
    if crc32fast::hash(body) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err(DecodeError("index checksum mismatch"));
    }
    let mut d = Decoder::new(body);
    if d.bytes(8)? != INDEX_MAGIC || d.u8()? != FORMAT_VERSION {
        return Err(DecodeError("not a cairn index file"));
    }
    let nsym = d.len(1)?;
    let mut symbols = Vec::with_capacity(nsym);
    for _ in 0..nsym {
        symbols.push(Box::<str>::from(d.str()?));
    }
    let check_sym = |s: u64| -> Result<u32, DecodeError> {
        if s < nsym as u64 {
            Ok(s as u32)
        } else {
            Err(DecodeError("symbol reference out of range"))
        }
    };
    let nseries = d.len(1)?;
    let mut series = Vec::with_capacity(nseries);
    let mut offset = 9u64;
    for _ in 0..nseries {
        let nl = d.len(2)?;
        let mut labels = Vec::with_capacity(nl);
        for _ in 0..nl {
            labels.push((check_sym(d.uvarint()?)?, check_sym(d.uvarint()?)?));
        }
        let nc = d.len(3)?;
        let mut chunks = Vec::with_capacity(nc);
        let mut prev_max = 0i64;
        let mut total = 0u64;
        for i in 0..nc {
            let delta = d.varint()?;
            let min_t = if i == 0 {
                delta
            } else {
                prev_max.wrapping_add(delta)
            };
            let max_t = min_t.wrapping_add(d.uvarint()? as i64);
            let len = u32::try_from(d.uvarint()?)
                .map_err(|_| DecodeError("chunk length out of range"))?;
            chunks.push(ChunkMeta { min_t, max_t, len });
            total += u64::from(len);
            prev_max = max_t;
        }
        series.push(BlockSeries {
            labels: labels.into_boxed_slice(),
            offset,
            chunks: chunks.into_boxed_slice(),
        });
        offset += total;
    }
    let nnames = d.len(2)?;
    let mut postings = Vec::with_capacity(nnames);
    for _ in 0..nnames {
        let name = check_sym(d.uvarint()?)?;
        let nv = d.len(2)?;
        let mut values = Vec::with_capacity(nv);
        for _ in 0..nv {
            let value = check_sym(d.uvarint()?)?;
            let n = d.len(1)?;
            let mut ids = Vec::with_capacity(n);
            let mut prev = 0u64;
            for _ in 0..n {
                prev += d.uvarint()?;
                if prev >= nseries as u64 {
                    return Err(DecodeError("posting refers to a missing series"));
                }
                ids.push(prev as u32);
            }
            values.push((value, ids));
        }
        postings.push((name, values));
    }
    if !d.is_empty() {
        return Err(DecodeError("trailing bytes in index"));
    }
    Ok((symbols, series, postings))
}

#[cfg(unix)]
fn read_exact_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(f: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match f.seek_read(buf, offset) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A new block id: 26 characters of Crockford base32 over 48 bits of milliseconds and
/// 80 random bits (a ULID), so ids sort by creation time.
pub(crate) fn new_block_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let ms = now.as_millis() as u64 & ((1 << 48) - 1);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(now.as_nanos());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    let r1 = h.finish();
    h.write_u64(r1);
    let r2 = h.finish();
    let value: u128 = (u128::from(ms) << 80) | (u128::from(r1) << 16) | u128::from(r2 & 0xffff);
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    (0..26)
        .rev()
        .map(|i| ALPHABET[((value >> (i * 5)) & 31) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trips_and_names_bad_fields() {
        let meta = BlockMeta {
            id: new_block_id(),
            min_t: -5,
            max_t: 10,
            series: 2,
            samples: 30,
            chunks: 3,
            level: 2,
            parents: vec!["A".into(), "B".into()],
        };
        let p = Path::new("meta");
        assert_eq!(BlockMeta::parse(&meta.to_text(), p).unwrap(), meta);
        let err = BlockMeta::parse(&meta.to_text().replace("series=2", "series=x"), p).unwrap_err();
        assert!(err.to_string().contains("\"series\""), "{err}");
    }

    #[test]
    fn block_ids_are_unique_and_sortable() {
        let a = new_block_id();
        let b = new_block_id();
        assert_eq!(a.len(), 26);
        assert_ne!(a, b);
    }

    #[test]
    fn a_written_block_reads_back_and_corruption_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = BlockWriter::new(dir.path(), 1, vec![]).unwrap();
        let a = Labels::from_strs(&[("__name__", "a"), ("x", "1")]).unwrap();
        let b = Labels::from_strs(&[("__name__", "b")]).unwrap();
        let sa: Vec<Sample> = (0..500)
            .map(|i| Sample {
                t: i * 10,
                v: i as f64,
            })
            .collect();
        let sb = vec![Sample { t: 5, v: f64::NAN }];
        w.add_series(&a, &sa).unwrap();
        w.add_series(&b, &sb).unwrap();
        assert!(
            w.add_series(&a, &sa).is_err(),
            "series must come in label order"
        );
        let block = w.finish().unwrap();
        assert_eq!(
            (block.meta.min_t, block.meta.max_t, block.meta.samples),
            (0, 4990, 501)
        );
        let m = Matcher::new("__name__", crate::MatchOp::Equal, "a").unwrap();
        let got = block.select(&[m], 100, 2500).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, sa[10..=250].to_vec());

        let chunks = block.dir.join("chunks");
        let mut bytes = fs::read(&chunks).unwrap();
        let n = bytes.len();
        bytes[n - 6] ^= 0xff;
        fs::write(&chunks, bytes).unwrap();
        let err = Block::open(&block.dir)
            .unwrap()
            .select(&[], i64::MIN, i64::MAX)
            .unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        let index = block.dir.join("index");
        let mut bytes = fs::read(&index).unwrap();
        bytes[12] ^= 0xff;
        fs::write(&index, bytes).unwrap();
        let err = Block::open(&block.dir).err().unwrap();
        assert!(err.to_string().contains("index checksum"), "{err}");
    }
}
