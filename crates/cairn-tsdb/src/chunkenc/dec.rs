//! The decimal chunk encoding, cairn's own, used for block chunks whose values are all
//! short decimals: integers, or numbers like `12345.67` that are exactly
//! `m / 10^e` for a 53-bit integer `m`.
//!
//! Gorilla's XOR of two such floats is nearly all mantissa noise (a CPU-seconds counter
//! costs ~50 bits a sample); as scaled integers their differences are small. Each
//! column is coded with parameters chosen for the chunk, always the cheapest option:
//!
//! Layout: big-endian `u16` sample count; a flags byte (`e` in the low four bits;
//! `0x10`: values as delta-of-delta rather than delta; `0x20`: timestamps against a
//! regular grid rather than as delta-of-delta); then a bit stream:
//! - first timestamp (zigzag varint); then either the first time delta (zigzag
//!   varint) and the delta-of-deltas of the rest, or the grid step and offset (zigzag
//!   varints) and each later timestamp's distance from `t0 + offset + k × step` — with
//!   scrape jitter, a late scrape costs one residual instead of three;
//! - first scaled value (zigzag varint), then the value residuals.
//!
//! A *residual stream* of zigzag integers starts with three 7-bit widths
//! `w1 ≤ w2 ≤ w3`; `w3 = 0` means every residual is zero and nothing follows.
//! Otherwise one bit says whether zeros are run-length coded, and each residual is
//! `0` (zero; in run mode followed by the Elias-gamma length of the run of zeros),
//! `10`+`w1` bits, `110`+`w2` bits or `111`+`w3` bits. The widths and the zero coding
//! are chosen by exact size (a small search over the lengths present).
//!
//! A value only takes this path when `m as f64 / 10^e` gives back its exact bits, so
//! the encoding is lossless; NaN, infinities and `-0.0` never qualify.

use super::bits::{BitReader, BitWriter};
use crate::encoding::{unzigzag, zigzag, DecodeError};
use crate::Sample;

const MAX_EXPONENT: usize = 12;
const POW10: [f64; MAX_EXPONENT + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
];
const MAX_EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
const VALUE_DOD: u8 = 0x10;
const TIME_GRID: u8 = 0x20;

#[inline]
fn unscale(m: i64, e: usize) -> f64 {
    if e == 0 {
        m as f64
    } else {
        m as f64 / POW10[e]
    }
}

#[inline]
fn scale(v: f64, e: usize) -> Option<i64> {
    let x = v * POW10[e];
    if !x.is_finite() || x.abs() > MAX_EXACT {
        return None;
    }
    let m = x.round() as i64;
    (unscale(m, e).to_bits() == v.to_bits()).then_some(m)
}

/// Finds the smallest exponent at which every value is an exact scaled integer.
fn scaled(samples: &[Sample]) -> Option<(usize, Vec<i64>)> {
    let mut e = 0;
    for s in samples {
        while scale(s.v, e).is_none() {
            e += 1;
            if e > MAX_EXPONENT {
                return None;
            }
        }
    }
    // Representability is monotone in `e` in practice, but the encoding must be exact,
    // so every value is checked again at the chosen exponent.
    for e in e..=MAX_EXPONENT {
        let ms: Option<Vec<i64>> = samples.iter().map(|s| scale(s.v, e)).collect();
        if let Some(ms) = ms {
            return Some((e, ms));
        }
    }
    None
}

#[inline]
fn bit_len(u: u64) -> u32 {
    64 - u.leading_zeros()
}

fn varint_bits(u: u64) -> u64 {
    8 * u64::from(bit_len(u).max(1).div_ceil(7))
}

/// How a residual stream is coded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct StreamPlan {
    widths: [u32; 3],
    /// The Rice parameter for runs of zeros, when zeros are run-length coded.
    runs: Option<u32>,
    /// Coded size in bits, header included.
    bits: u64,
}

/// Lengths of the runs of zeros in `res`.
fn zero_runs(res: &[u64]) -> Vec<u64> {
    let mut out = Vec::new();
    let mut run = 0u64;
    for &r in res {
        if r == 0 {
            run += 1;
        } else if run > 0 {
            out.push(run);
            run = 0;
        }
    }
    if run > 0 {
        out.push(run);
    }
    out
}

/// Bits for a run of zeros: the zero marker, then `run - 1` Rice-coded with
/// parameter `k` (quotient in unary, `k` remainder bits).
fn run_bits(run: u64, k: u32) -> u64 {
    1 + ((run - 1) >> k) + 1 + u64::from(k)
}

/// Chooses the widths and zero coding that minimise the coded size of `res`.
fn plan_stream(res: &[u64]) -> StreamPlan {
    let mut counts = [0u64; 65];
    for &r in res {
        counts[bit_len(r) as usize] += 1;
    }
    let max = (0..=64).rev().find(|&l| counts[l] > 0).unwrap_or(0);
    if max == 0 {
        return StreamPlan {
            widths: [0, 0, 0],
            runs: None,
            bits: if res.is_empty() { 0 } else { 21 },
        };
    }
    // prefix[k] = number of non-zero residuals with length <= k.
    let mut prefix = [0u64; 65];
    for l in 1..=64 {
        prefix[l] = prefix[l - 1] + counts[l];
    }
    let present: Vec<usize> = (1..=max).filter(|&l| counts[l] > 0).collect();
    let mut best = ([max as u32; 3], u64::MAX);
    for (i, &w1) in present.iter().enumerate() {
        for &w2 in &present[i..] {
            let bits = prefix[w1] * (2 + w1 as u64)
                + (prefix[w2] - prefix[w1]) * (3 + w2 as u64)
                + (prefix[max] - prefix[w2]) * (3 + max as u64);
            if bits < best.1 {
                best = ([w1 as u32, w2 as u32, max as u32], bits);
            }
        }
    }
    let plain_zeros = counts[0];
    let runs = zero_runs(res);
    let (k, run_zeros) = (0..16u32)
        .map(|k| (k, 4 + runs.iter().map(|&r| run_bits(r, k)).sum::<u64>()))
        .min_by_key(|&(_, bits)| bits)
        .unwrap_or((0, u64::MAX));
    let use_runs = run_zeros < plain_zeros;
    StreamPlan {
        widths: best.0,
        runs: use_runs.then_some(k),
        bits: 22 + best.1 + run_zeros.min(plain_zeros),
    }
}

fn write_stream(w: &mut BitWriter, res: &[u64], plan: StreamPlan) {
    if res.is_empty() {
        return;
    }
    let widths = plan.widths;
    for &x in &widths {
        w.write_bits(u64::from(x), 7);
    }
    if widths[2] == 0 {
        return;
    }
    w.write_bit(plan.runs.is_some());
    if let Some(k) = plan.runs {
        w.write_bits(u64::from(k), 4);
    }
    let mut i = 0;
    while i < res.len() {
        let r = res[i];
        let l = bit_len(r);
        if l == 0 {
            w.write_bit(false);
            if let Some(k) = plan.runs {
                let run = res[i..].iter().take_while(|&&x| x == 0).count() as u64;
                for _ in 0..(run - 1) >> k {
                    w.write_bit(true);
                }
                w.write_bit(false);
                w.write_bits((run - 1) & ((1 << k) - 1), k);
                i += run as usize;
                continue;
            }
        } else if l <= widths[0] {
            w.write_bits(0b10, 2);
            w.write_bits(r, widths[0]);
        } else if l <= widths[1] {
            w.write_bits(0b110, 3);
            w.write_bits(r, widths[1]);
        } else {
            w.write_bits(0b111, 3);
            w.write_bits(r, widths[2]);
        }
        i += 1;
    }
}

/// Reads `n` residuals into `out`.
fn read_stream(r: &mut BitReader<'_>, n: usize, out: &mut Vec<u64>) -> Option<()> {
    out.clear();
    if n == 0 {
        return Some(());
    }
    let widths = [
        r.read_bits(7)? as u32,
        r.read_bits(7)? as u32,
        r.read_bits(7)? as u32,
    ];
    if widths.iter().any(|&w| w > 64) {
        return None;
    }
    if widths[2] == 0 {
        out.resize(n, 0);
        return Some(());
    }
    let runs = if r.read_bit()? {
        Some(r.read_bits(4)? as u32)
    } else {
        None
    };
    while out.len() < n {
        match r.read_unary(3)? {
            0 if runs.is_some() => {
                let k = runs.unwrap_or(0);
                let mut q = 0usize;
                while r.read_bit()? {
                    q += 1;
                    if q > n {
                        return None;
                    }
                }
                let run = ((q << k) | r.read_bits(k)? as usize) + 1;
                if run > n - out.len() {
                    return None;
                }
                out.resize(out.len() + run, 0);
            }
            0 => out.push(0),
            1 => out.push(r.read_bits(widths[0])?),
            2 => out.push(r.read_bits(widths[1])?),
            _ => out.push(r.read_bits(widths[2])?),
        }
    }
    Some(())
}

/// The most frequent value (the smallest among equals).
fn mode(mut v: Vec<i64>) -> i64 {
    v.sort_unstable();
    let mut best = (0usize, v.first().copied().unwrap_or(0));
    let mut i = 0;
    while i < v.len() {
        let j = i + v[i..].iter().take_while(|&&x| x == v[i]).count();
        if j - i > best.0 {
            best = (j - i, v[i]);
        }
        i = j;
    }
    best.1
}

/// The cheaper of the two timestamp codings: `(grid, header varints, residuals)`.
fn plan_times(samples: &[Sample]) -> (bool, Vec<u64>, Vec<u64>, StreamPlan) {
    let t0 = samples[0].t;
    let deltas: Vec<i64> = samples
        .windows(2)
        .map(|w| w[1].t.wrapping_sub(w[0].t))
        .collect();
    let dod: Vec<u64> = deltas
        .windows(2)
        .map(|w| zigzag(w[1].wrapping_sub(w[0])))
        .collect();
    let dod_head = vec![zigzag(deltas[0])];
    let dod_plan = plan_stream(&dod);

    let step = mode(deltas);
    let offsets: Vec<i64> = samples[1..]
        .iter()
        .enumerate()
        .map(|(k, s)| {
            s.t.wrapping_sub(t0)
                .wrapping_sub(step.wrapping_mul(k as i64 + 1))
        })
        .collect();
    let offset = mode(offsets.clone());
    let grid: Vec<u64> = offsets
        .iter()
        .map(|&o| zigzag(o.wrapping_sub(offset)))
        .collect();
    let grid_head = vec![zigzag(step), zigzag(offset)];
    let grid_plan = plan_stream(&grid);

    let dod_bits = dod_head.iter().map(|&v| varint_bits(v)).sum::<u64>() + dod_plan.bits;
    let grid_bits = grid_head.iter().map(|&v| varint_bits(v)).sum::<u64>() + grid_plan.bits;
    if grid_bits < dod_bits {
        (true, grid_head, grid, grid_plan)
    } else {
        (false, dod_head, dod, dod_plan)
    }
}

/// Encodes `samples` (at most `u16::MAX`, at least one) if every value is a short
/// decimal; `None` otherwise.
pub(crate) fn encode(samples: &[Sample]) -> Option<Vec<u8>> {
    if samples.is_empty() || samples.len() > usize::from(u16::MAX) {
        return None;
    }
    let (e, ms) = scaled(samples)?;

    let deltas: Vec<i64> = ms.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    let by_delta: Vec<u64> = deltas.iter().map(|&d| zigzag(d)).collect();
    let by_dod: Vec<u64> = deltas
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            zigzag(if i == 0 {
                d
            } else {
                d.wrapping_sub(deltas[i - 1])
            })
        })
        .collect();
    let (delta_plan, dod_plan) = (plan_stream(&by_delta), plan_stream(&by_dod));
    let (mut flags, v_res, v_plan) = if dod_plan.bits < delta_plan.bits {
        (VALUE_DOD, &by_dod, dod_plan)
    } else {
        (0, &by_delta, delta_plan)
    };
    flags |= e as u8;

    let mut w = BitWriter::with_capacity(64);
    w.write_bits(samples.len() as u64, 16);
    if samples.len() > 1 {
        let (grid, head, t_res, t_plan) = plan_times(samples);
        if grid {
            flags |= TIME_GRID;
        }
        w.write_bits(u64::from(flags), 8);
        w.write_uvarint(zigzag(samples[0].t));
        for v in head {
            w.write_uvarint(v);
        }
        write_stream(&mut w, &t_res, t_plan);
    } else {
        w.write_bits(u64::from(flags), 8);
        w.write_uvarint(zigzag(samples[0].t));
    }
    w.write_uvarint(zigzag(ms[0]));
    write_stream(&mut w, v_res, v_plan);
    Some(w.into_bytes())
}

/// Appends the samples of a decimal chunk to `out`.
pub(crate) fn decode(bytes: &[u8], out: &mut Vec<Sample>) -> Result<(), DecodeError> {
    const BAD: DecodeError = DecodeError("malformed decimal chunk");
    if bytes.len() < 3 {
        return Err(DecodeError("chunk shorter than its header"));
    }
    let n = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
    let flags = bytes[2];
    let e = usize::from(flags & 0x0f);
    if e > MAX_EXPONENT || flags & !(0x0f | VALUE_DOD | TIME_GRID) != 0 || n == 0 {
        return Err(BAD);
    }
    let mut r = BitReader::new(bytes, 3);
    let start = out.len();
    out.reserve(n);
    let mut res = Vec::with_capacity(n);

    let t0 = unzigzag(r.read_uvarint().ok_or(BAD)?);
    out.push(Sample { t: t0, v: 0.0 });
    if n > 1 {
        if flags & TIME_GRID != 0 {
            let step = unzigzag(r.read_uvarint().ok_or(BAD)?);
            let offset = unzigzag(r.read_uvarint().ok_or(BAD)?);
            read_stream(&mut r, n - 1, &mut res).ok_or(BAD)?;
            let base = t0.wrapping_add(offset);
            for (k, &x) in res.iter().enumerate() {
                let t = base
                    .wrapping_add(step.wrapping_mul(k as i64 + 1))
                    .wrapping_add(unzigzag(x));
                out.push(Sample { t, v: 0.0 });
            }
        } else {
            let mut delta = unzigzag(r.read_uvarint().ok_or(BAD)?);
            let mut t = t0.wrapping_add(delta);
            out.push(Sample { t, v: 0.0 });
            read_stream(&mut r, n - 2, &mut res).ok_or(BAD)?;
            for &x in &res {
                delta = delta.wrapping_add(unzigzag(x));
                t = t.wrapping_add(delta);
                out.push(Sample { t, v: 0.0 });
            }
        }
    }

    let mut m = unzigzag(r.read_uvarint().ok_or(BAD)?);
    out[start].v = unscale(m, e);
    read_stream(&mut r, n - 1, &mut res).ok_or(BAD)?;
    let dod_mode = flags & VALUE_DOD != 0;
    let mut d = 0i64;
    for (i, (s, &x)) in out[start + 1..].iter_mut().zip(&res).enumerate() {
        let x = unzigzag(x);
        d = if dod_mode && i > 0 {
            d.wrapping_add(x)
        } else {
            x
        };
        m = m.wrapping_add(d);
        s.v = unscale(m, e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(samples: &[Sample]) -> Vec<u8> {
        let bytes = encode(samples).expect("encodable");
        let mut out = Vec::new();
        decode(&bytes, &mut out).unwrap();
        assert_eq!(out.len(), samples.len());
        for (a, b) in out.iter().zip(samples) {
            assert_eq!((a.t, a.v.to_bits()), (b.t, b.v.to_bits()));
        }
        bytes
    }

    #[test]
    fn a_cpu_seconds_counter_costs_a_few_bits_a_sample() {
        let mut v = 123_456.78f64;
        let samples: Vec<Sample> = (0..240)
            .map(|i| {
                v = ((v * 100.0).round() + 1490.0 + f64::from(i % 7)) / 100.0;
                Sample {
                    t: 1_700_000_000_000 + i64::from(i) * 15_000,
                    v,
                }
            })
            .collect();
        let bytes = round_trip(&samples);
        assert!(bytes.len() < 240, "{} bytes for 240 samples", bytes.len());
    }

    #[test]
    fn jittered_scrapes_cost_one_residual_each_against_the_grid() {
        let samples: Vec<Sample> = (0..480)
            .map(|i| Sample {
                t: 1_700_000_000_123 + i * 15_000 + if i % 10 == 3 { 2 } else { 0 },
                v: 7.0,
            })
            .collect();
        let bytes = round_trip(&samples);
        assert_eq!(bytes[2] & TIME_GRID, TIME_GRID);
        // A 20-byte header, then 48 late scrapes at about 11 bits each (where, and by
        // how much); as delta-of-deltas each would cost three residuals.
        assert!(bytes.len() < 90, "{} bytes", bytes.len());
    }

    #[test]
    fn zero_runs_and_stream_plans_are_exact() {
        let mut res = vec![0u64; 40];
        res[3] = 5;
        res[30] = 300;
        let plan = plan_stream(&res);
        assert!(plan.runs.is_some());
        let mut w = BitWriter::default();
        write_stream(&mut w, &res, plan);
        let bytes = w.into_bytes();
        assert_eq!(bytes.len() as u64, plan.bits.div_ceil(8));
        let mut out = Vec::new();
        read_stream(&mut BitReader::new(&bytes, 0), res.len(), &mut out).unwrap();
        assert_eq!(out, res);
        assert_eq!(mode(vec![3, 1, 3, 2, 1, 3]), 3);
    }

    #[test]
    fn a_constant_series_is_only_a_header() {
        let samples: Vec<Sample> = (0..240)
            .map(|i| Sample {
                t: i * 15_000,
                v: 1.0,
            })
            .collect();
        assert!(round_trip(&samples).len() < 16);
    }

    #[test]
    fn values_that_are_not_short_decimals_are_refused() {
        for v in [f64::NAN, f64::INFINITY, -0.0, 0.1 + 0.2, 1e300, 1.0 / 3.0] {
            assert!(encode(&[Sample { t: 0, v }]).is_none(), "{v}");
        }
        round_trip(&[Sample { t: -5, v: -12.5 }]);
        // Large integers and a fraction cannot share an exponent within 53 bits.
        assert!(encode(&[Sample { t: 0, v: 9.0e15 }, Sample { t: 1, v: 0.001 }]).is_none());
        round_trip(&[
            Sample { t: 0, v: 9.0e15 },
            Sample { t: 1, v: -9.0e15 },
            Sample {
                t: i64::MAX,
                v: 3.0,
            },
        ]);
    }
}
