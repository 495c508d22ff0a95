//! Durations as Prometheus and Alertmanager configurations write them.

/// Parses a Prometheus duration (`model.ParseDuration`): units `y w d h m s
/// ms`, each at most once and largest first, such as `1h30m`; `0` alone is
/// zero. Stricter than `cairn_domain::duration`, which accepts any order,
/// because a rule file cairn accepts must also load in Prometheus.
pub fn parse_duration(s: &str) -> Result<time::Duration, String> {
    if s.is_empty() {
        return Err("empty duration string".into());
    }
    if s == "0" {
        return Ok(time::Duration::ZERO);
    }
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    let bad = || format!("not a valid duration string: {s:?}");
    let mut rest = s;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let idx = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(bad)?
            + next_unit;
        next_unit = idx + 1;
        total = n
            .checked_mul(UNITS[idx].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration out of range: {s:?}"))?;
        rest = &rest[unit_len..];
    }
    Ok(time::Duration::milliseconds(total))
}

/// Formats a duration as Prometheus prints one (`1h30m`, `0s`).
pub fn format_duration(d: time::Duration) -> String {
    let mut ms = d.whole_milliseconds();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
        ms = -ms;
    }
    for (unit, size) in [
        ("y", 365 * 86_400_000i128),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// Serde helpers that store a duration as Prometheus text (`"5m"`), so
/// persisted state and configs read the way operators write them.
pub mod serde_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<time::Duration, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_durations() {
        assert_eq!(
            parse_duration("1h30m").unwrap(),
            time::Duration::minutes(90)
        );
        assert_eq!(parse_duration("0").unwrap(), time::Duration::ZERO);
        assert_eq!(
            parse_duration("1m30s500ms").unwrap().whole_milliseconds(),
            90_500
        );
        assert!(parse_duration("30m1h").is_err());
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("1m1m").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(format_duration(time::Duration::minutes(90)), "1h30m");
        assert_eq!(format_duration(time::Duration::ZERO), "0s");
        assert_eq!(format_duration(time::Duration::days(8)), "1w1d");
    }
}
