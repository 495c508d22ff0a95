//! Sample values, read the way Go's `strconv.ParseFloat` reads them.
//!
//! Prometheus parses exposition values with `ParseFloat`, so exporters may
//! rely on anything it accepts. Rust's `f64::from_str` already agrees on
//! decimal and scientific notation and on `inf`, `infinity` and `nan` in any
//! case; what it lacks is Go's hexadecimal floats (`0x1.8p3`), added here.
//! One difference is kept on purpose: values beyond `f64` range read as
//! infinities, where Go reports a range error.

/// Parses a sample value, or returns `None` if it is not a number.
pub(crate) fn parse_value(text: &str) -> Option<f64> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if let Some(hex) = unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"))
    {
        let magnitude = parse_hex_float(hex)?;
        return Some(if negative { -magnitude } else { magnitude });
    }
    text.parse().ok()
}

/// Parses the part of a hexadecimal float after `0x`: hex digits with an
/// optional point, then a mandatory binary exponent `p[+-]digits`, as in
/// Go's syntax.
fn parse_hex_float(text: &str) -> Option<f64> {
    // Mantissa digits are accumulated while they fit in 60 bits; beyond that
    // they only matter as a "sticky" bit that keeps rounding correct.
    const MANTISSA_LIMIT: u64 = 1 << 60;
    let bytes = text.as_bytes();
    let mut mantissa: u64 = 0;
    let mut exponent: i64 = 0;
    let mut sticky = false;
    let mut seen_digit = false;
    let mut seen_point = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'.' && !seen_point {
            seen_point = true;
        } else if let Some(digit) = (b as char).to_digit(16) {
            seen_digit = true;
            if mantissa < MANTISSA_LIMIT {
                mantissa = mantissa * 16 + u64::from(digit);
                if seen_point {
                    exponent -= 4;
                }
            } else {
                sticky |= digit != 0;
                if !seen_point {
                    exponent += 4;
                }
            }
        } else {
            break;
        }
        i += 1;
    }
    if !seen_digit || !matches!(bytes.get(i), Some(b'p' | b'P')) {
        return None;
    }
    i += 1;
    let exponent_text = &text[i..];
    let (exponent_negative, digits) = match exponent_text.as_bytes().first() {
        Some(b'-') => (true, &exponent_text[1..]),
        Some(b'+') => (false, &exponent_text[1..]),
        _ => (false, exponent_text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Any exponent beyond a few thousand already overflows or underflows, so
    // saturating keeps the arithmetic bounded for absurdly long exponents.
    let written = digits
        .bytes()
        .fold(0i64, |acc, b| (acc * 10 + i64::from(b - b'0')).min(100_000));
    exponent += if exponent_negative { -written } else { written };
    if sticky {
        mantissa |= 1;
    }
    Some(scale_by_power_of_two(mantissa as f64, exponent))
}

/// Computes `x * 2^exponent` in steps that are each exact powers of two
/// within `f64` range.
fn scale_by_power_of_two(mut x: f64, mut exponent: i64) -> f64 {
    const STEP: i64 = 1000;
    while exponent > STEP && x.is_finite() {
        x *= 2f64.powi(STEP as i32);
        exponent -= STEP;
    }
    while exponent < -STEP && x != 0.0 {
        x *= 2f64.powi(-STEP as i32);
        exponent += STEP;
    }
    x * 2f64.powi(exponent.clamp(-STEP, STEP) as i32)
}

#[cfg(test)]
mod tests {
    use super::parse_value;

    #[test]
    fn reads_what_go_parse_float_reads() {
        let cases: &[(&str, f64)] = &[
            ("1", 1.0),
            ("-1.5", -1.5),
            ("+2", 2.0),
            ("1e3", 1000.0),
            ("1E-3", 0.001),
            (".5", 0.5),
            ("5.", 5.0),
            ("+Inf", f64::INFINITY),
            ("-Inf", f64::NEG_INFINITY),
            ("inf", f64::INFINITY),
            ("INFINITY", f64::INFINITY),
            ("0x1p-2", 0.25),
            ("0X1.8P1", 3.0),
            ("-0x10p0", -16.0),
            ("0x.8p1", 1.0),
            ("0x1p1024", f64::INFINITY),
            ("0x1p-99999999999999", 0.0),
            ("0x1fffffffffffffp0", 9007199254740991.0),
            ("1.7976931348623157e308", f64::MAX),
        ];
        for &(text, expected) in cases {
            assert_eq!(parse_value(text), Some(expected), "{text}");
        }
        for nan in ["NaN", "nan", "NAN"] {
            assert!(parse_value(nan).is_some_and(f64::is_nan), "{nan}");
        }
    }

    #[test]
    fn long_hex_mantissas_round_to_nearest() {
        // 2^53 + 1 lies halfway between two doubles: ties go to even.
        assert_eq!(parse_value("0x20000000000001p0"), Some(9007199254740992.0));
        // 2^53 + 1 + 2^-40: the last digit lies past the 60-bit accumulator
        // but must still break the tie upwards.
        assert_eq!(
            parse_value("0x200000000000010000000001p-40"),
            Some(9007199254740994.0)
        );
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        for text in [
            "", "+", "-", "abc", "1,5", "1_000", "0x", "0x1", "0xp1", "0x1p", "0x1p+", "0xg1p1",
            "1e", "Inf1", "--1", "0x1p1x",
        ] {
            assert_eq!(parse_value(text), None, "{text:?}");
        }
    }
}
