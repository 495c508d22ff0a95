//! A big-endian bit stream: the writer appends bits to a byte vector, the reader takes
//! them back out. Both chunk encodings are built on these two types.

/// Appends bits, most significant first, to a growing byte vector.
#[derive(Clone, Debug, Default)]
pub(crate) struct BitWriter {
    buf: Vec<u8>,
    /// Bits still free in the last byte of `buf` (0 when a new byte is needed).
    free: u32,
}

impl BitWriter {
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        BitWriter {
            buf: Vec::with_capacity(bytes),
            free: 0,
        }
    }

    /// Continues writing after the last bit of `buf`, of which `bit_len` bits are used.
    pub(crate) fn from_parts(buf: Vec<u8>, bit_len: u64) -> Self {
        let used_in_last = (bit_len % 8) as u32;
        let free = if used_in_last == 0 {
            0
        } else {
            8 - used_in_last
        };
        BitWriter { buf, free }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    #[inline]
    pub(crate) fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.buf.push(0);
            self.free = 8;
        }
        self.free -= 1;
        if bit {
            if let Some(last) = self.buf.last_mut() {
                *last |= 1 << self.free;
            }
        }
    }

    /// Writes the lowest `nbits` bits of `value` (0..=64).
    #[inline]
    pub(crate) fn write_bits(&mut self, value: u64, nbits: u32) {
        debug_assert!(nbits <= 64);
        let mut n = nbits;
        while n > 0 {
            if self.free == 0 {
                self.buf.push(0);
                self.free = 8;
            }
            let take = n.min(self.free);
            let shift = n - take;
            let chunk = ((value >> shift) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.buf.last_mut() {
                *last |= chunk << (self.free - take);
            }
            self.free -= take;
            n -= take;
        }
    }

    /// Writes a byte-aligned-or-not unsigned varint, eight bits per group.
    pub(crate) fn write_uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.write_bits((v & 0x7f) | 0x80, 8);
            v >>= 7;
        }
        self.write_bits(v, 8);
    }
}

/// Reads bits, most significant first, from a byte slice starting at a byte offset.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8], byte_offset: usize) -> Self {
        BitReader {
            data,
            pos: byte_offset * 8,
        }
    }

    pub(crate) fn position_bits(&self) -> usize {
        self.pos
    }

    #[inline]
    pub(crate) fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1 == 1;
        self.pos += 1;
        Some(bit)
    }

    /// Reads `n` bits (0..=64) as the low bits of the result.
    #[inline]
    pub(crate) fn read_bits(&mut self, n: u32) -> Option<u64> {
        if n == 0 {
            return Some(0);
        }
        let n = n as usize;
        if self.pos + n > self.data.len() * 8 {
            return None;
        }
        let byte_idx = self.pos / 8;
        let bit_off = self.pos % 8;
        if n <= 56 && byte_idx + 8 <= self.data.len() {
            let mut word = [0u8; 8];
            word.copy_from_slice(&self.data[byte_idx..byte_idx + 8]);
            let w = u64::from_be_bytes(word);
            self.pos += n;
            return Some((w << bit_off) >> (64 - n));
        }
        let mut result = 0u64;
        let mut remaining = n;
        while remaining > 0 {
            let byte = self.data[self.pos / 8];
            let avail = 8 - self.pos % 8;
            let take = remaining.min(avail);
            let bits = (u64::from(byte) >> (avail - take)) & ((1u64 << take) - 1);
            result = if take == 64 {
                bits
            } else {
                (result << take) | bits
            };
            self.pos += take;
            remaining -= take;
        }
        Some(result)
    }

    /// Counts leading one bits up to `max`, consuming them and the terminating zero
    /// (which is absent when `max` ones were read).
    #[inline]
    pub(crate) fn read_unary(&mut self, max: u32) -> Option<u32> {
        let mut n = 0;
        while n < max {
            if !self.read_bit()? {
                break;
            }
            n += 1;
        }
        Some(n)
    }

    pub(crate) fn read_uvarint(&mut self) -> Option<u64> {
        let mut result = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.read_bits(8)?;
            if shift > 63 {
                return None;
            }
            result |= (b & 0x7f) << shift;
            if b < 0x80 {
                return Some(result);
            }
            shift += 7;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_across_byte_boundaries() {
        let items: Vec<(u64, u32)> = (0..200u32)
            .map(|i| {
                let n = i % 65;
                let v = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(u64::from(i) + 1);
                let v = if n == 64 { v } else { v & ((1u64 << n) - 1) };
                (v, n)
            })
            .collect();
        let mut w = BitWriter::default();
        for &(v, n) in &items {
            w.write_bits(v, n);
            w.write_bit(n % 2 == 0);
        }
        w.write_uvarint(300);
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes, 0);
        for &(v, n) in &items {
            assert_eq!(r.read_bits(n), Some(v), "{n} bits");
            assert_eq!(r.read_bit(), Some(n % 2 == 0));
        }
        assert_eq!(r.read_uvarint(), Some(300));
        assert_eq!(r.read_bits(9), None);
    }

    #[test]
    fn a_writer_continues_where_a_previous_one_stopped() {
        let mut w = BitWriter::default();
        w.write_bits(0b101, 3);
        let w2 = BitWriter::from_parts(w.into_bytes(), 3);
        let mut w2 = w2;
        w2.write_bits(0b11111, 5);
        assert_eq!(w2.bytes(), &[0b1011_1111]);
    }
}
