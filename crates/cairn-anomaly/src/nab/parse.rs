//! Parsers for NAB's text formats: the `timestamp,value` CSV files (and the per-row
//! result files, which add columns) and `labels/combined_windows.json`. They take the
//! text, not a path, so that this crate stays free of I/O.

use std::collections::BTreeMap;

use crate::AnomalyError;

/// Parses `YYYY-MM-DD HH:MM:SS`, optionally followed by a fraction (`.000000`, as in
/// the label files), read as UTC, into milliseconds since the Unix epoch.
pub fn parse_timestamp(s: &str) -> Result<i64, AnomalyError> {
    let bad = || AnomalyError::Timestamp(s.to_string());
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, AnomalyError> {
        s.get(range)
            .filter(|d| d.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|d| d.parse().ok())
            .ok_or_else(bad)
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut millis = 0;
    if b.len() > 19 {
        let frac = s.get(20..).filter(|_| b[19] == b'.').ok_or_else(bad)?;
        if frac.is_empty() || !frac.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        // Only the first three digits matter at millisecond resolution.
        let digits: String = frac.chars().chain("000".chars()).take(3).collect();
        millis = digits.parse::<i64>().map_err(|_| bad())?;
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return Err(bad());
    }
    let days = days_from_civil(year, month, day);
    Ok(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// One series read from a CSV file: timestamps and one numeric column, in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Milliseconds since the Unix epoch, per row.
    pub timestamps_ms: Vec<i64>,
    /// The chosen column's values, per row.
    pub values: Vec<f64>,
}

/// Reads the `timestamp` column and the column named `column` (`value` for the data
/// files, `anomaly_score` for NAB's per-row results) from CSV text with a header row.
/// NAB's files have no quoting, so a plain comma split is exact.
pub fn parse_series_csv(text: &str, column: &str) -> Result<Series, AnomalyError> {
    let mut lines = text.lines().enumerate();
    let (_, header) = lines.next().ok_or(AnomalyError::Csv {
        line: 1,
        message: "empty file".into(),
    })?;
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let find = |name: &str| {
        names
            .iter()
            .position(|&n| n == name)
            .ok_or_else(|| AnomalyError::Csv {
                line: 1,
                message: format!("no column {name:?} in header {header:?}"),
            })
    };
    let (t_col, v_col) = (find("timestamp")?, find(column)?);
    let mut out = Series::default();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        let field = |c: usize| {
            fields
                .get(c)
                .map(|f| f.trim())
                .ok_or_else(|| AnomalyError::Csv {
                    line: i + 1,
                    message: format!("expected {} fields, found {}", names.len(), fields.len()),
                })
        };
        out.timestamps_ms.push(parse_timestamp(field(t_col)?)?);
        let v = field(v_col)?;
        out.values.push(v.parse().map_err(|_| AnomalyError::Csv {
            line: i + 1,
            message: format!("{column} {v:?} is not a number"),
        })?);
    }
    Ok(out)
}

/// Reads `combined_windows.json`: file key (`"<category>/<name>.csv"`) → windows as
/// `(start_ms, end_ms)`, in the file's order.
pub fn parse_windows_json(text: &str) -> Result<BTreeMap<String, Vec<(i64, i64)>>, AnomalyError> {
    let raw: BTreeMap<String, Vec<[String; 2]>> =
        serde_json::from_str(text).map_err(|e| AnomalyError::Labels(e.to_string()))?;
    raw.into_iter()
        .map(|(file, windows)| {
            let windows = windows
                .iter()
                .map(|[a, b]| Ok((parse_timestamp(a)?, parse_timestamp(b)?)))
                .collect::<Result<Vec<_>, AnomalyError>>()?;
            Ok((file, windows))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_milliseconds() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:00").unwrap(), 0);
        assert_eq!(
            parse_timestamp("2014-04-10 07:15:00.000000").unwrap(),
            parse_timestamp("2014-04-10 07:15:00").unwrap()
        );
        // 2014-04-10 is day 16170 since the epoch.
        assert_eq!(
            parse_timestamp("2014-04-10 07:15:00").unwrap(),
            16170 * 86_400_000 + (7 * 60 + 15) * 60_000
        );
        assert!(parse_timestamp("2014-13-10 07:15:00").is_err());
        assert!(parse_timestamp("2014-04-10T07:15:00").is_err());
    }

    #[test]
    fn csv_columns_are_found_by_name() {
        let text = "timestamp,value,anomaly_score\n2014-04-10 00:00:00,3.5,0.25\n\
                    2014-04-10 00:05:00,4,0.5\n";
        let s = parse_series_csv(text, "anomaly_score").unwrap();
        assert_eq!(s.values, vec![0.25, 0.5]);
        assert_eq!(s.timestamps_ms[1] - s.timestamps_ms[0], 300_000);
        let err = parse_series_csv(text, "label").unwrap_err();
        assert!(err.to_string().contains("no column \"label\""), "{err}");
    }

    #[test]
    fn windows_json_maps_files_to_millisecond_pairs() {
        let text = r#"{"a/b.csv": [["1970-01-01 00:00:01.000000", "1970-01-01 00:00:02.000000"]],
                       "a/c.csv": []}"#;
        let w = parse_windows_json(text).unwrap();
        assert_eq!(w["a/b.csv"], vec![(1000, 2000)]);
        assert!(w["a/c.csv"].is_empty());
    }
}
