//! Recurring time windows (Alertmanager's `time_intervals`), used to mute
//! routes outside or inside working hours.
//!
//! A window matches a time when every field it sets matches (times of day,
//! weekdays, days of the month, months, years), all read on the wall clock
//! of its `location` (an IANA zone; UTC when absent). Because the check is
//! made on the local wall clock, "09:00–18:00 in Asia/Shanghai" or
//! "weekends in Europe/Berlin" stay right across daylight-saving changes.
//! Zones come from the tz database bundled into the binary, never from the
//! host, so a window means the same on every machine.

use serde::{Deserialize, Serialize};

use crate::yaml::{Node, YamlError};
use crate::Timestamp;

/// An inclusive range `begin..=end`; for times of day, minutes with the end
/// exclusive (`09:00`–`17:00` is `540..1020`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub begin: i32,
    pub end: i32,
}

/// One window: the conjunction of the fields it sets.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TimeInterval {
    /// Minutes of the day, `[begin, end)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub times: Vec<Range>,
    /// 0 = Sunday … 6 = Saturday, inclusive.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weekdays: Vec<Range>,
    /// 1..=31, or negative counting from the month's end (-1 = last day).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days_of_month: Vec<Range>,
    /// 1..=12.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub months: Vec<Range>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub years: Vec<Range>,
    /// IANA zone name; `None` is UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// Looks up an IANA zone in the bundled database.
pub fn zone(name: &str) -> Result<jiff::tz::TimeZone, String> {
    if name == "Local" {
        return Err(
            "location \"Local\" depends on the host; name an IANA zone such as Asia/Shanghai"
                .into(),
        );
    }
    jiff::tz::TimeZone::get(name).map_err(|_| format!("unknown time zone {name:?}"))
}

/// The instant `t` on the wall clock of `tz`.
pub fn local(t: Timestamp, tz: &jiff::tz::TimeZone) -> jiff::ZonedDateTime {
    let ms = (t.unix_timestamp_nanos() / 1_000_000) as i64;
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(tz.clone())
}

impl TimeInterval {
    /// Whether `t` falls inside this window (Alertmanager's `ContainsTime`).
    pub fn contains(&self, t: Timestamp) -> bool {
        let tz = match &self.location {
            Some(name) => match zone(name) {
                Ok(z) => z,
                // Unreachable for parsed intervals, which checked the zone.
                Err(_) => return false,
            },
            None => jiff::tz::TimeZone::UTC,
        };
        let z = local(t, &tz);
        let minute = i32::from(z.hour()) * 60 + i32::from(z.minute());
        if !self.times.is_empty()
            && !self
                .times
                .iter()
                .any(|r| minute >= r.begin && minute < r.end)
        {
            return false;
        }
        let dim = i32::from(z.days_in_month());
        if !self.days_of_month.is_empty() {
            let day = i32::from(z.day());
            let hit = self.days_of_month.iter().any(|r| {
                let begin = if r.begin < 0 {
                    dim + r.begin + 1
                } else {
                    r.begin
                };
                let end = if r.end < 0 { dim + r.end + 1 } else { r.end };
                // A range that starts after this month's end (say 31 in
                // April) does not match at all, rather than spilling over.
                if begin > dim {
                    return false;
                }
                let (begin, end) = (begin.clamp(-dim, dim), end.clamp(-dim, dim));
                day >= begin && day <= end
            });
            if !hit {
                return false;
            }
        }
        let in_ranges =
            |rs: &[Range], v: i32| rs.is_empty() || rs.iter().any(|r| v >= r.begin && v <= r.end);
        in_ranges(&self.months, i32::from(z.month()))
            && in_ranges(
                &self.weekdays,
                i32::from(z.weekday().to_sunday_zero_offset()),
            )
            && in_ranges(&self.years, i32::from(z.year()))
    }
}

/// Whether `t` is inside any of the windows.
pub fn any_contains(intervals: &[TimeInterval], t: Timestamp) -> bool {
    intervals.iter().any(|i| i.contains(t))
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn err(node: &Node, message: impl Into<String>) -> YamlError {
    YamlError {
        pos: node.pos,
        message: message.into(),
    }
}

fn parse_clock(s: &str) -> Option<i32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if !(0..=24).contains(&h) || !(0..60).contains(&m) || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

fn ranges(
    node: Option<&Node>,
    field: &str,
    one: &dyn Fn(&str) -> Option<i32>,
    check: &dyn Fn(i32, i32) -> Result<(), String>,
) -> Result<Vec<Range>, YamlError> {
    let Some(node) = node else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for item in node.seq(field)? {
        let s = item.str(field)?.trim().to_lowercase();
        let (a, b) = match s.split_once(':') {
            Some((a, b)) => (a.trim().to_string(), b.trim().to_string()),
            None => (s.clone(), s.clone()),
        };
        let (Some(begin), Some(end)) = (one(&a), one(&b)) else {
            return Err(err(item, format!("{field}: invalid value {s:?}")));
        };
        check(begin, end).map_err(|m| err(item, format!("{field}: {m} in {s:?}")))?;
        out.push(Range { begin, end });
    }
    Ok(out)
}

fn ordered(begin: i32, end: i32) -> Result<(), String> {
    if begin > end {
        Err("start must not be after end".into())
    } else {
        Ok(())
    }
}

/// Parses one `time_intervals` entry (`times`, `weekdays`, `days_of_month`,
/// `months`, `years`, `location`) with Alertmanager's rules.
pub fn parse_time_interval(node: &Node) -> Result<TimeInterval, YamlError> {
    let mut m = node.map("time interval")?;
    let mut times = Vec::new();
    if let Some(tn) = m.get("times") {
        for t in tn.seq("times")? {
            let mut tm = t.map("times")?;
            let get = |tm: &mut crate::yaml::MapReader<'_>, k: &str| -> Result<i32, YamlError> {
                let n = tm
                    .get(k)
                    .ok_or_else(|| err(t, format!("times: {k} is required")))?;
                let s = n.str(k)?;
                parse_clock(&s).ok_or_else(|| {
                    err(
                        n,
                        format!("times: {k} {s:?} is not a time of day (HH:MM, 00:00 to 24:00)"),
                    )
                })
            };
            let begin = get(&mut tm, "start_time")?;
            let end = get(&mut tm, "end_time")?;
            tm.finish()?;
            if begin >= end {
                return Err(err(
                    t,
                    "times: start time cannot be equal or greater than end time",
                ));
            }
            times.push(Range { begin, end });
        }
    }
    let weekdays = ranges(
        m.get("weekdays"),
        "weekdays",
        &|s| WEEKDAYS.iter().position(|d| *d == s).map(|i| i as i32),
        &ordered,
    )?;
    let days_of_month = ranges(
        m.get("days_of_month"),
        "days_of_month",
        &|s| {
            s.parse::<i32>()
                .ok()
                .filter(|d| *d != 0 && (-31..=31).contains(d))
        },
        &|b, e| {
            if b < 0 && e > 0 {
                Err("end day must be negative if start day is negative".into())
            } else if b.signum() == e.signum() {
                ordered(b, e)
            } else {
                Ok(())
            }
        },
    )?;
    let months = ranges(
        m.get("months"),
        "months",
        &|s| {
            MONTHS
                .iter()
                .position(|x| *x == s)
                .map(|i| i as i32 + 1)
                .or_else(|| s.parse().ok().filter(|v| (1..=12).contains(v)))
        },
        &ordered,
    )?;
    let years = ranges(
        m.get("years"),
        "years",
        &|s| s.parse().ok().filter(|y: &i32| *y > 0),
        &ordered,
    )?;
    let location = match m.get("location") {
        None => None,
        Some(n) => {
            let name = n.str("location")?;
            zone(&name).map_err(|e| err(n, format!("location: {e}")))?;
            Some(name)
        }
    };
    m.finish()?;
    Ok(TimeInterval {
        times,
        weekdays,
        days_of_month,
        months,
        years,
        location,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn interval(yaml: &str) -> TimeInterval {
        parse_time_interval(&crate::yaml::parse(yaml).unwrap()).unwrap()
    }

    #[test]
    fn working_hours_in_shanghai() {
        let w = interval(
            "times: [{start_time: '09:00', end_time: '18:00'}]\nweekdays: ['monday:friday']\nlocation: Asia/Shanghai",
        );
        // 01:30 UTC is 09:30 in Shanghai, a Monday.
        assert!(w.contains(datetime!(2024-11-11 01:30 UTC)));
        assert!(
            !w.contains(datetime!(2024-11-11 10:00 UTC)),
            "18:00 local is outside"
        );
        assert!(!w.contains(datetime!(2024-11-16 01:30 UTC)), "Saturday");
    }

    #[test]
    fn negative_days_count_from_the_month_end() {
        let last_two = interval("days_of_month: ['-2:-1']");
        assert!(last_two.contains(datetime!(2024-02-28 12:00 UTC)));
        assert!(last_two.contains(datetime!(2024-02-29 12:00 UTC)));
        assert!(!last_two.contains(datetime!(2024-02-27 12:00 UTC)));
        let day31 = interval("days_of_month: ['31']");
        assert!(!day31.contains(datetime!(2024-04-30 12:00 UTC)));
        let all =
            interval("days_of_month: ['1:-1']\nmonths: ['november', 12]\nyears: ['2024:2025']");
        assert!(all.contains(datetime!(2024-11-30 12:00 UTC)));
        assert!(!all.contains(datetime!(2024-10-30 12:00 UTC)));
    }

    #[test]
    fn bad_windows_are_refused_with_their_line() {
        let bad = |y: &str| {
            parse_time_interval(&crate::yaml::parse(y).unwrap())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            bad("weekdays: ['friday:monday']"),
            "line 1: weekdays: start must not be after end in \"friday:monday\""
        );
        assert_eq!(
            bad("times:\n  - start_time: '18:00'\n    end_time: '09:00'"),
            "line 2: times: start time cannot be equal or greater than end time"
        );
        assert_eq!(
            bad("days_of_month: ['0']"),
            "line 1: days_of_month: invalid value \"0\""
        );
        assert_eq!(
            bad("location: Mars/Olympus"),
            "line 1: location: unknown time zone \"Mars/Olympus\""
        );
        assert_eq!(
            bad("weekday: [monday]"),
            "line 1: field weekday not found in time interval"
        );
    }
}
