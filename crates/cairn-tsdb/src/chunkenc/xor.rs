//! The Gorilla chunk encoding (Pelkonen et al., VLDB 2015), in the variant Prometheus
//! uses: delta-of-delta timestamps in four buckets and XOR-compressed float values.
//!
//! Layout: a big-endian `u16` sample count, then a bit stream. The first sample is a
//! zigzag varint timestamp and the raw 64 value bits; the second a zigzag varint time
//! delta and an XOR value; every later one a delta-of-delta (`0`, `10`+14 bits,
//! `110`+17, `1110`+20 or `1111`+64) and an XOR value (`0` when equal, `10` + the
//! meaningful bits inside the previous window, `11` + 5 bits of leading zeros + 6 bits
//! of length + the meaningful bits). Arithmetic wraps, so any `i64` sequence round
//! trips; the head only ever appends strictly increasing timestamps. Values are handled
//! as raw bits, so every NaN payload (staleness markers included) survives exactly.

use super::bits::{BitReader, BitWriter};
use crate::encoding::{unzigzag, zigzag, DecodeError};
use crate::Sample;

const NO_WINDOW: u8 = 0xff;

/// An XOR chunk being written, sample by sample.
#[derive(Clone, Debug)]
pub(crate) struct XorAppender {
    w: BitWriter,
    num: u16,
    t: i64,
    t_delta: i64,
    v: u64,
    leading: u8,
    trailing: u8,
}

impl Default for XorAppender {
    fn default() -> Self {
        Self::new()
    }
}

impl XorAppender {
    pub(crate) fn new() -> Self {
        let mut w = BitWriter::with_capacity(32);
        w.write_bits(0, 16);
        XorAppender {
            w,
            num: 0,
            t: 0,
            t_delta: 0,
            v: 0,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    /// Rebuilds the appender state of an existing chunk so that more samples can be
    /// added to it (used when the WAL checkpoint restores a head chunk).
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Result<Self, DecodeError> {
        let mut it = XorIter::new(&bytes)?;
        for _ in it.by_ref() {}
        if let Some(e) = it.err {
            return Err(e);
        }
        let (num, t, t_delta, v, leading, trailing) =
            (it.num, it.t, it.t_delta, it.v, it.leading, it.trailing);
        let bit_len = it.r_pos_bits();
        let mut bytes = bytes;
        bytes.truncate(bit_len.div_ceil(8) as usize);
        Ok(XorAppender {
            w: BitWriter::from_parts(bytes, bit_len),
            num,
            t,
            t_delta,
            v,
            leading,
            trailing,
        })
    }

    pub(crate) fn num_samples(&self) -> usize {
        usize::from(self.num)
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    /// Bytes allocated, for memory estimates.
    pub(crate) fn allocated(&self) -> usize {
        self.w.capacity()
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.w.into_bytes()
    }

    /// Appends one sample. The caller guarantees fewer than `u16::MAX` samples.
    pub(crate) fn append(&mut self, t: i64, v: f64) {
        let v = v.to_bits();
        match self.num {
            0 => {
                self.w.write_uvarint(zigzag(t));
                self.w.write_bits(v, 64);
            }
            1 => {
                let delta = t.wrapping_sub(self.t);
                self.w.write_uvarint(zigzag(delta));
                self.write_value(v);
                self.t_delta = delta;
            }
            _ => {
                let delta = t.wrapping_sub(self.t);
                let dod = delta.wrapping_sub(self.t_delta);
                if dod == 0 {
                    self.w.write_bit(false);
                } else if fits(dod, 14) {
                    self.w.write_bits(0b10, 2);
                    self.w.write_bits(dod as u64, 14);
                } else if fits(dod, 17) {
                    self.w.write_bits(0b110, 3);
                    self.w.write_bits(dod as u64, 17);
                } else if fits(dod, 20) {
                    self.w.write_bits(0b1110, 4);
                    self.w.write_bits(dod as u64, 20);
                } else {
                    self.w.write_bits(0b1111, 4);
                    self.w.write_bits(dod as u64, 64);
                }
                self.write_value(v);
                self.t_delta = delta;
            }
        }
        self.t = t;
        self.v = v;
        self.num += 1;
        let n = self.num.to_be_bytes();
        let header = self.w.bytes_mut();
        header[0] = n[0];
        header[1] = n[1];
    }

    fn write_value(&mut self, v: u64) {
        let xor = v ^ self.v;
        if xor == 0 {
            self.w.write_bit(false);
            return;
        }
        self.w.write_bit(true);
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if self.leading != NO_WINDOW && leading >= self.leading && trailing >= self.trailing {
            self.w.write_bit(false);
            let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
            self.w.write_bits(xor >> self.trailing, sig);
        } else {
            self.w.write_bit(true);
            let sig = 64 - u32::from(leading) - u32::from(trailing);
            self.w.write_bits(u64::from(leading), 5);
            // A length of 64 does not fit in six bits; it is written as 0, which can
            // never be a real length because `xor` is not zero.
            self.w.write_bits(u64::from(sig) & 0x3f, 6);
            self.w.write_bits(xor >> trailing, sig);
            self.leading = leading;
            self.trailing = trailing;
        }
    }
}

#[inline]
fn fits(x: i64, bits: u32) -> bool {
    let half = 1i64 << (bits - 1);
    -half <= x && x < half
}

#[inline]
fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// Decodes an XOR chunk sample by sample. After `next` returns `None`, `err` says
/// whether the chunk ended early because it was malformed.
pub(crate) struct XorIter<'a> {
    r: BitReader<'a>,
    num: u16,
    read: u16,
    t: i64,
    t_delta: i64,
    v: u64,
    leading: u8,
    trailing: u8,
    pub(crate) err: Option<DecodeError>,
}

impl<'a> XorIter<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.len() < 2 {
            return Err(DecodeError("chunk shorter than its header"));
        }
        Ok(XorIter {
            r: BitReader::new(bytes, 2),
            num: u16::from_be_bytes([bytes[0], bytes[1]]),
            read: 0,
            t: 0,
            t_delta: 0,
            v: 0,
            leading: NO_WINDOW,
            trailing: 0,
            err: None,
        })
    }

    pub(crate) fn num_samples(&self) -> usize {
        usize::from(self.num)
    }

    fn r_pos_bits(&self) -> u64 {
        self.r.position_bits() as u64
    }

    fn fail(&mut self, msg: &'static str) -> Option<Sample> {
        self.err = Some(DecodeError(msg));
        self.read = self.num;
        None
    }

    fn read_value(&mut self) -> Option<u64> {
        if !self.r.read_bit()? {
            return Some(self.v);
        }
        if self.r.read_bit()? {
            let leading = self.r.read_bits(5)? as u8;
            let mut sig = self.r.read_bits(6)? as u8;
            if sig == 0 {
                sig = 64;
            }
            if u32::from(leading) + u32::from(sig) > 64 {
                return None;
            }
            self.leading = leading;
            self.trailing = 64 - leading - sig;
        } else if self.leading == NO_WINDOW {
            return None;
        }
        let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
        let bits = self.r.read_bits(sig)?;
        Some(self.v ^ (bits << self.trailing))
    }

    fn read_dod(&mut self) -> Option<i64> {
        let bucket = self.r.read_unary(4)?;
        Some(match bucket {
            0 => 0,
            1 => sign_extend(self.r.read_bits(14)?, 14),
            2 => sign_extend(self.r.read_bits(17)?, 17),
            3 => sign_extend(self.r.read_bits(20)?, 20),
            _ => self.r.read_bits(64)? as i64,
        })
    }
}

impl Iterator for XorIter<'_> {
    type Item = Sample;

    #[inline]
    fn next(&mut self) -> Option<Sample> {
        if self.read >= self.num {
            return None;
        }
        match self.read {
            0 => {
                let Some(t) = self.r.read_uvarint() else {
                    return self.fail("truncated first timestamp");
                };
                let Some(v) = self.r.read_bits(64) else {
                    return self.fail("truncated first value");
                };
                self.t = unzigzag(t);
                self.v = v;
            }
            1 => {
                let Some(d) = self.r.read_uvarint() else {
                    return self.fail("truncated time delta");
                };
                self.t_delta = unzigzag(d);
                self.t = self.t.wrapping_add(self.t_delta);
                let Some(v) = self.read_value() else {
                    return self.fail("malformed value");
                };
                self.v = v;
            }
            _ => {
                let Some(dod) = self.read_dod() else {
                    return self.fail("truncated timestamp");
                };
                self.t_delta = self.t_delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.t_delta);
                let Some(v) = self.read_value() else {
                    return self.fail("malformed value");
                };
                self.v = v;
            }
        }
        self.read += 1;
        Some(Sample {
            t: self.t,
            v: f64::from_bits(self.v),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_and_steady_timestamps_cost_two_bits_a_sample() {
        let mut a = XorAppender::new();
        for i in 0..120 {
            a.append(1_700_000_000_000 + i * 15_000, 42.0);
        }
        // Header, first timestamp and value, first delta; then 2 bits per sample.
        assert!(
            a.bytes().len() < 2 + 7 + 8 + 3 + 30 + 2,
            "{}",
            a.bytes().len()
        );
    }

    #[test]
    fn an_appender_rebuilt_from_bytes_continues_the_chunk() {
        let mut a = XorAppender::new();
        for i in 0..7 {
            a.append(i * 1000 + i * i, (i as f64).sqrt());
        }
        let mut b = XorAppender::from_bytes(a.bytes().to_vec()).unwrap();
        for i in 7..20 {
            a.append(i * 1000 + i * i, (i as f64).sqrt());
            b.append(i * 1000 + i * i, (i as f64).sqrt());
        }
        assert_eq!(a.bytes(), b.bytes());
    }
}
