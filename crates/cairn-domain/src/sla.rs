//! Service levels of tickets: first-response and resolution targets per priority and
//! merchant tier, counted on business-hour calendars (working hours in a time zone,
//! holidays off) or around the clock, with the clocks paused while a ticket waits on
//! the merchant; warnings before a breach and the breach itself.
//!
//! Pure: every function takes the times it needs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::{Date, Duration, UtcOffset, Weekday};

use crate::tickets::Priority;
use crate::{Tier, Timestamp};

/// An interval a ticket spent waiting on the merchant; `end` is none while it waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Pause {
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub start: Timestamp,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>")]
    pub end: Option<Timestamp>,
}

/// When work counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Calendar {
    /// `always` (24 × 7) or working hours.
    pub always: bool,
    /// The calendar's offset from UTC in minutes (China: 480).
    pub utc_offset_minutes: i32,
    /// Working days, 1 = Monday … 7 = Sunday.
    pub days: Vec<u8>,
    /// Minutes after local midnight the working day starts and ends.
    pub start_minute: u32,
    pub end_minute: u32,
    /// Local dates off (public holidays).
    #[schemars(with = "Vec<String>")]
    pub holidays: Vec<Date>,
}

impl Calendar {
    /// Around the clock.
    pub fn always() -> Calendar {
        Calendar {
            always: true,
            utc_offset_minutes: 480,
            days: (1..=7).collect(),
            start_minute: 0,
            end_minute: 24 * 60,
            holidays: Vec::new(),
        }
    }

    /// Monday to Friday, 09:00–18:00 China Standard Time, with the given holidays.
    pub fn china_business(holidays: Vec<Date>) -> Calendar {
        Calendar {
            always: false,
            utc_offset_minutes: 480,
            days: vec![1, 2, 3, 4, 5],
            start_minute: 9 * 60,
            end_minute: 18 * 60,
            holidays,
        }
    }

    fn offset(&self) -> UtcOffset {
        UtcOffset::from_whole_seconds(self.utc_offset_minutes * 60).unwrap_or(UtcOffset::UTC)
    }

    /// The working interval of a local date, in UTC, if it is a working day.
    fn window(&self, d: Date) -> Option<(Timestamp, Timestamp)> {
        let wd = match d.weekday() {
            Weekday::Monday => 1,
            Weekday::Tuesday => 2,
            Weekday::Wednesday => 3,
            Weekday::Thursday => 4,
            Weekday::Friday => 5,
            Weekday::Saturday => 6,
            Weekday::Sunday => 7,
        };
        if !self.days.contains(&wd)
            || self.holidays.contains(&d)
            || self.end_minute <= self.start_minute
        {
            return None;
        }
        let midnight = d.midnight().assume_offset(self.offset());
        Some((
            midnight + Duration::minutes(i64::from(self.start_minute)),
            midnight + Duration::minutes(i64::from(self.end_minute)),
        ))
    }

    /// Working time between `from` and `to`.
    pub fn working(&self, from: Timestamp, to: Timestamp) -> Duration {
        if to <= from {
            return Duration::ZERO;
        }
        if self.always {
            return to - from;
        }
        let mut total = Duration::ZERO;
        let mut d = from.to_offset(self.offset()).date();
        let last = to.to_offset(self.offset()).date();
        while d <= last {
            if let Some((a, b)) = self.window(d) {
                let (a, b) = (a.max(from), b.min(to));
                if b > a {
                    total += b - a;
                }
            }
            match d.next_day() {
                Some(n) => d = n,
                None => break,
            }
        }
        total
    }

    /// The moment `amount` of working time after `from` is used up.
    pub fn add(&self, from: Timestamp, amount: Duration) -> Timestamp {
        if self.always || amount <= Duration::ZERO {
            return from + amount.max(Duration::ZERO);
        }
        let mut left = amount;
        let mut d = from.to_offset(self.offset()).date();
        // A calendar with no working day would never finish: give up after ten years.
        for _ in 0..3660 {
            if let Some((a, b)) = self.window(d) {
                let a = a.max(from);
                if b > a {
                    if b - a >= left {
                        return a + left;
                    }
                    left -= b - a;
                }
            }
            match d.next_day() {
                Some(n) => d = n,
                None => break,
            }
        }
        from + amount
    }
}

/// Working time in `[from, to)` not covered by any pause.
pub fn elapsed(cal: &Calendar, from: Timestamp, to: Timestamp, pauses: &[Pause]) -> Duration {
    let mut total = cal.working(from, to);
    for p in pauses {
        let end = p.end.unwrap_or(to).min(to);
        let start = p.start.max(from);
        if end > start {
            total -= cal.working(start, end);
        }
    }
    total.max(Duration::ZERO)
}

/// The targets of one ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Target {
    /// Working minutes to the first staff answer.
    pub first_response_minutes: i64,
    /// Working minutes to resolution.
    pub resolution_minutes: i64,
    pub calendar: Calendar,
}

/// Targets per priority and merchant tier, and the share of a target left at which
/// a warning goes out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Policy {
    pub business: Calendar,
    /// Warn once this share of the target is used (0.8: with a fifth left).
    pub warn_at: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            business: Calendar::china_business(Vec::new()),
            warn_at: 0.8,
        }
    }
}

impl Policy {
    /// The targets for a priority and a merchant's tier. P1 runs around the clock;
    /// VIP merchants get half the time and P2 around the clock too.
    pub fn target(&self, priority: Priority, tier: Tier) -> Target {
        let (fr, res) = match priority {
            Priority::P1 => (30, 4 * 60),
            Priority::P2 => (2 * 60, 8 * 60),
            Priority::P3 => (4 * 60, 3 * 8 * 60),
            Priority::P4 => (8 * 60, 5 * 8 * 60),
        };
        let vip = tier == Tier::Vip;
        let (fr, res) = if vip { (fr / 2, res / 2) } else { (fr, res) };
        let always = priority == Priority::P1 || (vip && priority == Priority::P2);
        Target {
            first_response_minutes: fr,
            resolution_minutes: res,
            calendar: if always {
                Calendar::always()
            } else {
                self.business.clone()
            },
        }
    }
}

/// Where one SLA clock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ClockState {
    /// Met before its target.
    Met,
    /// Done, but after its target.
    MetLate,
    Running,
    /// Waiting on the merchant.
    Paused,
    /// Running, with less than the warning share left.
    Warning,
    /// Running past its target.
    Breached,
}

/// One SLA clock of a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Clock {
    pub state: ClockState,
    pub target_minutes: i64,
    pub elapsed_minutes: i64,
    /// When the target is reached if nothing pauses it (none once stopped).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>")]
    pub due_at: Option<Timestamp>,
}

/// Both clocks of a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Status {
    pub first_response: Clock,
    pub resolution: Clock,
    pub calendar_always: bool,
}

fn clock(
    cal: &Calendar,
    target: i64,
    warn_at: f64,
    created: Timestamp,
    stopped: Option<Timestamp>,
    now: Timestamp,
    pauses: &[Pause],
) -> Clock {
    let end = stopped.unwrap_or(now);
    let used = elapsed(cal, created, end, pauses);
    let used_min = used.whole_minutes();
    let target_d = Duration::minutes(target);
    let paused_now = stopped.is_none() && pauses.iter().any(|p| p.end.is_none());
    let state = match stopped {
        Some(_) if used <= target_d => ClockState::Met,
        Some(_) => ClockState::MetLate,
        None if used > target_d => ClockState::Breached,
        None if paused_now => ClockState::Paused,
        None if used.as_seconds_f64() >= warn_at * target_d.as_seconds_f64() => ClockState::Warning,
        None => ClockState::Running,
    };
    let due_at = match stopped {
        Some(_) => None,
        None => Some(cal.add(now, (target_d - used).max(Duration::ZERO))),
    };
    Clock {
        state,
        target_minutes: target,
        elapsed_minutes: used_min,
        due_at,
    }
}

/// The SLA status of a ticket at `now`.
#[allow(clippy::too_many_arguments)]
pub fn status(
    policy: &Policy,
    priority: Priority,
    tier: Tier,
    created: Timestamp,
    first_response: Option<Timestamp>,
    resolved: Option<Timestamp>,
    pauses: &[Pause],
    now: Timestamp,
) -> Status {
    let t = policy.target(priority, tier);
    Status {
        first_response: clock(
            &t.calendar,
            t.first_response_minutes,
            policy.warn_at,
            created,
            first_response,
            now,
            pauses,
        ),
        resolution: clock(
            &t.calendar,
            t.resolution_minutes,
            policy.warn_at,
            created,
            resolved,
            now,
            pauses,
        ),
        calendar_always: t.calendar.always,
    }
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;

    #[test]
    fn business_time_skips_nights_weekends_and_holidays() {
        let cal = Calendar::china_business(vec![date!(2026 - 12 - 01)]);
        // Friday 17:00 CST to Monday 10:00 CST: one hour Friday, one hour Monday.
        let fri = datetime!(2026-11-27 17:00 +08:00);
        let mon = datetime!(2026-11-30 10:00 +08:00);
        assert_eq!(cal.working(fri, mon), Duration::hours(2));
        // Four working hours from Friday 17:00: one on Friday, three on Monday.
        assert_eq!(
            cal.add(fri, Duration::hours(4)),
            datetime!(2026-11-30 12:00 +08:00)
        );
        // Monday 17:00 + 2 h skips the Tuesday holiday to Wednesday 10:00.
        assert_eq!(
            cal.add(datetime!(2026-11-30 17:00 +08:00), Duration::hours(2)),
            datetime!(2026-12-02 10:00 +08:00)
        );
        assert_eq!(
            Calendar::always().add(fri, Duration::hours(4)),
            datetime!(2026-11-27 21:00 +08:00)
        );
    }

    #[test]
    fn clocks_pause_while_waiting_on_the_merchant_and_warn_then_breach() {
        let policy = Policy::default();
        let created = datetime!(2026-11-30 09:00 +08:00);
        // P3 standard: 4 working hours to the first response.
        let s = status(
            &policy,
            Priority::P3,
            Tier::Standard,
            created,
            None,
            None,
            &[],
            datetime!(2026-11-30 12:30 +08:00),
        );
        assert_eq!(s.first_response.state, ClockState::Warning);
        assert_eq!(
            s.first_response.due_at,
            Some(datetime!(2026-11-30 13:00 +08:00))
        );
        // Waiting on the merchant for two hours moves the due time by two hours.
        let pauses = [Pause {
            start: datetime!(2026-11-30 10:00 +08:00),
            end: Some(datetime!(2026-11-30 12:00 +08:00)),
        }];
        let s = status(
            &policy,
            Priority::P3,
            Tier::Standard,
            created,
            None,
            None,
            &pauses,
            datetime!(2026-11-30 13:30 +08:00),
        );
        assert_eq!(s.first_response.elapsed_minutes, 150);
        assert_eq!(s.first_response.state, ClockState::Running);
        // Past the target: breached; answered late: met late.
        let late = datetime!(2026-11-30 14:00 +08:00);
        let s = status(
            &policy,
            Priority::P3,
            Tier::Standard,
            created,
            None,
            None,
            &[],
            late,
        );
        assert_eq!(s.first_response.state, ClockState::Breached);
        let s = status(
            &policy,
            Priority::P3,
            Tier::Standard,
            created,
            Some(late),
            None,
            &[],
            late,
        );
        assert_eq!(s.first_response.state, ClockState::MetLate);
        // An open pause shows as paused.
        let waiting = [Pause {
            start: datetime!(2026-11-30 10:00 +08:00),
            end: None,
        }];
        let s = status(
            &policy,
            Priority::P3,
            Tier::Standard,
            created,
            None,
            None,
            &waiting,
            datetime!(2026-11-30 17:00 +08:00),
        );
        assert_eq!(s.first_response.state, ClockState::Paused);
    }

    #[test]
    fn p1_and_vip_p2_run_around_the_clock_and_vips_get_half_the_time() {
        let p = Policy::default();
        assert!(p.target(Priority::P1, Tier::Standard).calendar.always);
        assert!(p.target(Priority::P2, Tier::Vip).calendar.always);
        assert!(!p.target(Priority::P2, Tier::Standard).calendar.always);
        assert_eq!(
            p.target(Priority::P3, Tier::Vip).first_response_minutes,
            120
        );
    }
}
