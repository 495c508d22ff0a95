//! Numbers as the reasons print them: four significant digits, percentages with a sign.

/// A value to four significant digits without trailing zeros ("0.052", "1235"), in
/// exponent form outside `1e-4..1e7` ("1.500e-7").
pub(crate) fn number(value: f64) -> String {
    if value == 0.0 {
        return "0".to_owned();
    }
    if !value.is_finite() {
        return value.to_string();
    }
    let magnitude = value.abs();
    if !(1e-4..1e7).contains(&magnitude) {
        return format!("{value:.3e}");
    }
    let decimals = (3 - magnitude.log10().floor() as i32).max(0) as usize;
    trim_zeros(format!("{value:.decimals$}"))
}

/// A value with its sign ("+0.04", "-12").
pub(crate) fn signed(value: f64) -> String {
    let text = number(value + 0.0);
    if text.starts_with('-') {
        text
    } else {
        format!("+{text}")
    }
}

/// A fraction as a signed percentage: whole percent from 10 % on, one decimal below
/// ("+420%", "-4.5%", "+0%").
pub(crate) fn percent(fraction: f64) -> String {
    let percent = fraction * 100.0 + 0.0;
    if !percent.is_finite() {
        return format!("{percent}%");
    }
    let text = if percent.abs() >= 9.95 {
        format!("{percent:+.0}")
    } else {
        trim_zeros(format!("{percent:+.1}"))
    };
    // Rounding can leave "-0".
    let text = if text == "-0" { "+0".to_owned() } else { text };
    format!("{text}%")
}

/// A confidence level as a percentage without a sign ("95%", "99.9%").
pub(crate) fn level(confidence: f64) -> String {
    format!("{}%", trim_zeros(format!("{:.2}", confidence * 100.0)))
}

fn trim_zeros(text: String) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        let shown: Vec<String> = [
            0.052,
            0.01,
            1234.56,
            0.0,
            -3.25,
            1.5e-7,
            12_345_678.0,
            9.99996,
        ]
        .into_iter()
        .map(number)
        .collect();
        assert_eq!(
            shown,
            ["0.052", "0.01", "1235", "0", "-3.25", "1.500e-7", "1.235e7", "10"]
        );
        assert_eq!(signed(0.04), "+0.04");
        assert_eq!(signed(-12.0), "-12");
        assert_eq!(signed(-0.0), "+0");
    }

    #[test]
    fn percentages_read_well() {
        let shown: Vec<String> = [4.2, 0.1, -0.045, 0.0, -0.0001, 0.05]
            .into_iter()
            .map(percent)
            .collect();
        assert_eq!(shown, ["+420%", "+10%", "-4.5%", "+0%", "+0%", "+5%"]);
        assert_eq!(level(0.95), "95%");
        assert_eq!(level(0.999), "99.9%");
    }
}
