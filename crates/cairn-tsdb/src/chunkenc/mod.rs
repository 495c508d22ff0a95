//! Chunk encodings: a chunk holds up to `u16::MAX` samples of one series, sorted by
//! time, compressed.
//!
//! - [`Encoding::Xor`] — Gorilla (delta-of-delta timestamps, XOR floats). The head
//!   appends to these sample by sample; any float, NaN payloads included, is exact.
//! - [`Encoding::Dec`] — cairn's decimal encoding for blocks: when every value of a
//!   chunk is a short decimal it is stored as scaled integers with adaptive-width
//!   residuals, which is several times smaller for counters such as CPU seconds.
//!
//! Block writers encode each chunk both ways and keep the smaller ([`encode_best`]).

pub(crate) mod bits;
pub(crate) mod dec;
pub(crate) mod xor;

use crate::encoding::DecodeError;
use crate::Sample;
pub(crate) use xor::{XorAppender, XorIter};

/// How a chunk's bytes are to be read; stored as one byte before each chunk on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Xor = 1,
    Dec = 2,
}

impl Encoding {
    pub(crate) fn from_u8(b: u8) -> Option<Encoding> {
        match b {
            1 => Some(Encoding::Xor),
            2 => Some(Encoding::Dec),
            _ => None,
        }
    }
}

/// Appends every sample of a chunk to `out`.
pub(crate) fn decode_into(
    enc: Encoding,
    bytes: &[u8],
    out: &mut Vec<Sample>,
) -> Result<(), DecodeError> {
    match enc {
        Encoding::Xor => {
            let mut it = XorIter::new(bytes)?;
            out.reserve(it.num_samples());
            out.extend(it.by_ref());
            match it.err {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
        Encoding::Dec => dec::decode(bytes, out),
    }
}

/// Appends the samples of a chunk with `mint <= t <= maxt` to `out`.
pub(crate) fn decode_range(
    enc: Encoding,
    bytes: &[u8],
    mint: i64,
    maxt: i64,
    out: &mut Vec<Sample>,
) -> Result<(), DecodeError> {
    let start = out.len();
    decode_into(enc, bytes, out)?;
    let first = start + out[start..].partition_point(|s| s.t < mint);
    let end = start + out[start..].partition_point(|s| s.t <= maxt);
    out.truncate(end);
    out.drain(start..first);
    Ok(())
}

/// Gorilla-encodes samples that are sorted by strictly increasing time.
pub(crate) fn encode_xor(samples: &[Sample]) -> Vec<u8> {
    let mut a = XorAppender::new();
    for s in samples {
        a.append(s.t, s.v);
    }
    a.into_bytes()
}

/// Encodes samples in whichever encoding is smaller.
pub(crate) fn encode_best(samples: &[Sample]) -> (Encoding, Vec<u8>) {
    let xor = encode_xor(samples);
    match dec::encode(samples) {
        Some(d) if d.len() < xor.len() => (Encoding::Dec, d),
        _ => (Encoding::Xor, xor),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn assert_same(a: &[Sample], b: &[Sample]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert_eq!((x.t, x.v.to_bits()), (y.t, y.v.to_bits()));
        }
    }

    fn random_series(rng: &mut StdRng, n: usize) -> Vec<Sample> {
        let mut t: i64 = rng.gen_range(-1_000_000_000_000..4_000_000_000_000);
        let mut v = 0.0f64;
        let special = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::from_bits(crate::STALE_NAN),
            -0.0,
            f64::MIN_POSITIVE,
            f64::MAX,
        ];
        (0..n)
            .map(|_| {
                t += match rng.gen_range(0..10) {
                    0 => rng.gen_range(1..i64::from(u32::MAX)) * 1000,
                    1 => rng.gen_range(1..3),
                    _ => 15_000 + rng.gen_range(-5..=5),
                };
                v = match rng.gen_range(0..8) {
                    0 => special[rng.gen_range(0..special.len())],
                    1 => rng.gen::<f64>() * 1e6,
                    2 => f64::from_bits(rng.gen()),
                    3 => v,
                    _ => (rng.gen_range(0..1_000_000) as f64) / 100.0,
                };
                Sample { t, v }
            })
            .collect()
    }

    #[test]
    fn every_encoding_round_trips_random_series_exactly() {
        let mut rng = StdRng::seed_from_u64(7);
        for round in 0..300 {
            let n = rng.gen_range(1..=300);
            let samples = random_series(&mut rng, n);
            let mut out = Vec::new();
            decode_into(Encoding::Xor, &encode_xor(&samples), &mut out).unwrap();
            assert_same(&out, &samples);
            let (enc, bytes) = encode_best(&samples);
            out.clear();
            decode_into(enc, &bytes, &mut out).unwrap();
            assert_same(&out, &samples);
            if round % 10 == 0 {
                // Short decimals only, so that the decimal encoding is exercised too.
                let decimals: Vec<Sample> = samples
                    .iter()
                    .map(|s| Sample {
                        t: s.t,
                        v: (s.t.rem_euclid(100_000) as f64) / 1000.0,
                    })
                    .collect();
                let bytes = dec::encode(&decimals).unwrap();
                out.clear();
                dec::decode(&bytes, &mut out).unwrap();
                assert_same(&out, &decimals);
            }
        }
    }

    #[test]
    fn extreme_timestamp_jumps_round_trip() {
        let samples = [
            Sample {
                t: i64::MIN,
                v: 1.0,
            },
            Sample { t: -1, v: 2.0 },
            Sample { t: 0, v: 3.0 },
            Sample {
                t: i64::MAX - 1,
                v: 4.0,
            },
            Sample {
                t: i64::MAX,
                v: 5.0,
            },
        ];
        let mut out = Vec::new();
        decode_into(Encoding::Xor, &encode_xor(&samples), &mut out).unwrap();
        assert_same(&out, &samples);
        out.clear();
        decode_into(Encoding::Dec, &dec::encode(&samples).unwrap(), &mut out).unwrap();
        assert_same(&out, &samples);
    }

    #[test]
    fn truncated_or_garbled_chunks_are_errors_not_panics() {
        let mut rng = StdRng::seed_from_u64(11);
        let samples = random_series(&mut rng, 100);
        for (enc, bytes) in [
            (Encoding::Xor, encode_xor(&samples)),
            (
                Encoding::Dec,
                dec::encode(&[Sample { t: 1, v: 2.5 }; 1]).unwrap(),
            ),
        ] {
            for cut in 0..bytes.len() {
                let mut out = Vec::new();
                let _ = decode_into(enc, &bytes[..cut], &mut out);
            }
            for i in 0..bytes.len() {
                let mut garbled = bytes.clone();
                garbled[i] ^= 0x5a;
                let mut out = Vec::new();
                let _ = decode_into(enc, &garbled, &mut out);
            }
        }
        let mut out = Vec::new();
        assert!(decode_into(Encoding::Xor, &encode_xor(&samples)[..20], &mut out).is_err());
    }

    #[test]
    fn decode_range_keeps_the_inclusive_window() {
        let samples: Vec<Sample> = (0..10).map(|i| Sample { t: i * 10, v: 0.5 }).collect();
        let mut out = vec![Sample { t: -1, v: 0.0 }];
        decode_range(Encoding::Xor, &encode_xor(&samples), 20, 50, &mut out).unwrap();
        let ts: Vec<i64> = out.iter().map(|s| s.t).collect();
        assert_eq!(ts, vec![-1, 20, 30, 40, 50]);
    }
}
