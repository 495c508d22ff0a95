//! On-call: schedules of rotating layers in a time zone, with restrictions,
//! overrides and swaps; and escalation policies as a pure plan.
//!
//! A schedule has layers; each layer rotates through its users, handing
//! off at a local time of day (daily, weekly, every N days) or every N hours
//! from its start. A later layer takes precedence over an earlier one while
//! it has someone on call, so "business hours" on top of "24/7" works as
//! people expect; a layer with restrictions only covers its windows.
//! Swaps exchange two users over a time range (wherever the layers say one,
//! the other is on call); overrides put one user on call over a range, the
//! last listed winning. Daily and weekly handoffs follow the wall clock of
//! the schedule's zone, so a 09:00 handoff stays at 09:00 across daylight
//! saving changes (that shift is an hour shorter or longer).

use serde::{Deserialize, Serialize};

use crate::timeinterval::{local, zone};
use crate::Timestamp;

/// How long each shift of a layer lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rotation {
    Daily,
    Weekly,
    /// Every N calendar days, at the handoff time.
    Days(u32),
    /// Every N hours of elapsed time from the layer's start.
    Hours(u32),
}

/// A window of the week a restricted layer covers, on the local clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restriction {
    /// 0 = Sunday … 6 = Saturday; empty means every day.
    #[serde(default)]
    pub weekdays: Vec<u8>,
    /// `HH:MM`, inclusive.
    pub start: String,
    /// `HH:MM`, exclusive; `24:00` is the end of the day.
    pub end: String,
}

/// One rotation layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    pub name: String,
    /// In rotation order.
    pub users: Vec<String>,
    pub rotation: Rotation,
    /// Local date of the first shift, `YYYY-MM-DD`.
    pub start_date: String,
    /// Local time of day shifts hand off, `HH:MM`.
    pub handoff: String,
    #[serde(default)]
    pub restrictions: Vec<Restriction>,
}

/// One user on call instead of whoever the layers say, over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub user: String,
    #[serde(with = "time::serde::rfc3339")]
    pub start: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub end: Timestamp,
}

/// Two users trading their shifts over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Swap {
    pub user_a: String,
    pub user_b: String,
    #[serde(with = "time::serde::rfc3339")]
    pub start: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub end: Timestamp,
}

/// An on-call schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: String,
    pub name: String,
    /// IANA zone of handoffs and restrictions.
    pub time_zone: String,
    pub layers: Vec<Layer>,
    #[serde(default)]
    pub overrides: Vec<Override>,
    #[serde(default)]
    pub swaps: Vec<Swap>,
}

/// Where an on-call answer came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    Layer { layer: String },
    Swap { layer: String },
    Override,
}

/// Who is on call at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnCall {
    pub user: String,
    pub source: Source,
}

/// A stretch of time with one person on call, for a calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shift {
    pub user: String,
    pub source: Source,
    #[serde(with = "time::serde::rfc3339")]
    pub start: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub end: Timestamp,
}

fn parse_hm(s: &str) -> Option<(i8, i8)> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    ((0..=24).contains(&h) && (0..60).contains(&m) && !(h == 24 && m != 0)).then_some((h, m))
}

fn parse_date(s: &str) -> Option<jiff::civil::Date> {
    s.parse::<jiff::civil::Date>().ok()
}

fn to_time(ts: jiff::Timestamp) -> Timestamp {
    Timestamp::from_unix_timestamp_nanos(ts.as_nanosecond()).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The instant of a local date and time in `tz`; a time that does not exist
/// (skipped by a DST change) moves forward, a repeated one takes the
/// earlier instant (RFC 5545's rule).
fn instant(tz: &jiff::tz::TimeZone, date: jiff::civil::Date, h: i8, m: i8) -> Option<Timestamp> {
    let (date, h) = if h == 24 {
        (date.tomorrow().ok()?, 0)
    } else {
        (date, h)
    };
    let dt = date.at(h, m, 0, 0);
    dt.to_zoned_datetime(tz.clone())
        .ok()
        .map(|z| to_time(z.timestamp()))
}

/// Why a schedule or policy is not usable, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct OnCallError {
    pub field: String,
    pub message: String,
}

impl Schedule {
    /// Checks every field once, so that evaluation can trust them.
    pub fn validate(&self) -> Result<(), OnCallError> {
        let err = |field: String, message: &str| OnCallError {
            field,
            message: message.to_string(),
        };
        zone(&self.time_zone).map_err(|m| err("time_zone".into(), &m))?;
        for (i, l) in self.layers.iter().enumerate() {
            let f = |x: &str| format!("layers[{i}].{x}");
            if l.users.is_empty() {
                return Err(err(f("users"), "must name at least one user"));
            }
            parse_date(&l.start_date).ok_or_else(|| err(f("start_date"), "must be YYYY-MM-DD"))?;
            parse_hm(&l.handoff).ok_or_else(|| err(f("handoff"), "must be HH:MM"))?;
            if matches!(l.rotation, Rotation::Days(0) | Rotation::Hours(0)) {
                return Err(err(f("rotation"), "must be at least 1"));
            }
            for (j, r) in l.restrictions.iter().enumerate() {
                let g = |x: &str| format!("layers[{i}].restrictions[{j}].{x}");
                let s = parse_hm(&r.start).ok_or_else(|| err(g("start"), "must be HH:MM"))?;
                let e = parse_hm(&r.end).ok_or_else(|| err(g("end"), "must be HH:MM"))?;
                if s >= e {
                    return Err(err(g("end"), "must be after start"));
                }
                if r.weekdays.iter().any(|d| *d > 6) {
                    return Err(err(g("weekdays"), "days are 0 (Sunday) to 6 (Saturday)"));
                }
            }
        }
        for (i, o) in self.overrides.iter().enumerate() {
            if o.end <= o.start {
                return Err(err(format!("overrides[{i}].end"), "must be after start"));
            }
        }
        for (i, s) in self.swaps.iter().enumerate() {
            if s.end <= s.start {
                return Err(err(format!("swaps[{i}].end"), "must be after start"));
            }
        }
        Ok(())
    }

    fn tz(&self) -> jiff::tz::TimeZone {
        zone(&self.time_zone).unwrap_or(jiff::tz::TimeZone::UTC)
    }

    /// Who is on call at `t`, or `None` when nobody is.
    pub fn who_is_on_call(&self, t: Timestamp) -> Option<OnCall> {
        let tz = self.tz();
        if let Some(o) = self
            .overrides
            .iter()
            .rev()
            .find(|o| o.start <= t && t < o.end)
        {
            return Some(OnCall {
                user: o.user.clone(),
                source: Source::Override,
            });
        }
        let (layer, user) = self
            .layers
            .iter()
            .rev()
            .find_map(|l| layer_user(l, &tz, t).map(|u| (l, u)))?;
        if let Some(s) = self
            .swaps
            .iter()
            .rev()
            .find(|s| s.start <= t && t < s.end && (s.user_a == user || s.user_b == user))
        {
            let other = if s.user_a == user {
                &s.user_b
            } else {
                &s.user_a
            };
            return Some(OnCall {
                user: other.clone(),
                source: Source::Swap {
                    layer: layer.name.clone(),
                },
            });
        }
        Some(OnCall {
            user,
            source: Source::Layer {
                layer: layer.name.clone(),
            },
        })
    }

    /// The shifts over `[from, to)`, merged where the same person stays on
    /// call for the same reason; gaps (nobody on call) are left out.
    pub fn shifts(&self, from: Timestamp, to: Timestamp) -> Vec<Shift> {
        let tz = self.tz();
        let mut cuts = vec![from, to];
        for l in &self.layers {
            cuts.extend(layer_boundaries(l, &tz, from, to));
        }
        for o in &self.overrides {
            cuts.extend([o.start, o.end]);
        }
        for s in &self.swaps {
            cuts.extend([s.start, s.end]);
        }
        cuts.retain(|c| *c >= from && *c <= to);
        cuts.sort();
        cuts.dedup();
        let mut out: Vec<Shift> = Vec::new();
        for w in cuts.windows(2) {
            let Some(who) = self.who_is_on_call(w[0]) else {
                continue;
            };
            match out.last_mut() {
                Some(last)
                    if last.end == w[0] && last.user == who.user && last.source == who.source =>
                {
                    last.end = w[1]
                }
                _ => out.push(Shift {
                    user: who.user,
                    source: who.source,
                    start: w[0],
                    end: w[1],
                }),
            }
        }
        out
    }
}

/// The start of shift `k` of a layer.
fn shift_start(l: &Layer, tz: &jiff::tz::TimeZone, k: i64) -> Option<Timestamp> {
    let date = parse_date(&l.start_date)?;
    let (h, m) = parse_hm(&l.handoff)?;
    match l.rotation {
        Rotation::Hours(n) => {
            Some(instant(tz, date, h, m)? + time::Duration::hours(i64::from(n) * k))
        }
        rot => {
            let days = match rot {
                Rotation::Daily => 1,
                Rotation::Weekly => 7,
                Rotation::Days(n) => i64::from(n),
                Rotation::Hours(_) => unreachable!(),
            };
            let d = date.checked_add(jiff::Span::new().days(days * k)).ok()?;
            instant(tz, d, h, m)
        }
    }
}

fn nominal_len(l: &Layer) -> time::Duration {
    match l.rotation {
        Rotation::Daily => time::Duration::days(1),
        Rotation::Weekly => time::Duration::days(7),
        Rotation::Days(n) => time::Duration::days(i64::from(n)),
        Rotation::Hours(n) => time::Duration::hours(i64::from(n)),
    }
}

/// The index of the shift containing `t`, if the layer has started.
fn shift_index(l: &Layer, tz: &jiff::tz::TimeZone, t: Timestamp) -> Option<i64> {
    let anchor = shift_start(l, tz, 0)?;
    if t < anchor {
        return None;
    }
    // Estimate from elapsed time, then correct for DST-length shifts.
    let mut k = ((t - anchor).whole_seconds() / nominal_len(l).whole_seconds().max(1)).max(0);
    while k > 0 && shift_start(l, tz, k)? > t {
        k -= 1;
    }
    while shift_start(l, tz, k + 1)? <= t {
        k += 1;
    }
    Some(k)
}

fn restricted_in(l: &Layer, tz: &jiff::tz::TimeZone, t: Timestamp) -> bool {
    if l.restrictions.is_empty() {
        return true;
    }
    let z = local(t, tz);
    let minute = i32::from(z.hour()) * 60 + i32::from(z.minute());
    let wd = z.weekday().to_sunday_zero_offset() as u8;
    l.restrictions.iter().any(|r| {
        let (Some((sh, sm)), Some((eh, em))) = (parse_hm(&r.start), parse_hm(&r.end)) else {
            return false;
        };
        (r.weekdays.is_empty() || r.weekdays.contains(&wd))
            && minute >= i32::from(sh) * 60 + i32::from(sm)
            && minute < i32::from(eh) * 60 + i32::from(em)
    })
}

fn layer_user(l: &Layer, tz: &jiff::tz::TimeZone, t: Timestamp) -> Option<String> {
    if l.users.is_empty() || !restricted_in(l, tz, t) {
        return None;
    }
    let k = shift_index(l, tz, t)?;
    Some(l.users[(k.rem_euclid(l.users.len() as i64)) as usize].clone())
}

fn layer_boundaries(
    l: &Layer,
    tz: &jiff::tz::TimeZone,
    from: Timestamp,
    to: Timestamp,
) -> Vec<Timestamp> {
    let mut out = Vec::new();
    let first = shift_index(l, tz, from).unwrap_or(0);
    let mut k = first;
    while let Some(s) = shift_start(l, tz, k) {
        if s > to {
            break;
        }
        out.push(s);
        k += 1;
    }
    // Restriction windows open and close every local day.
    let Some(mut day) = local(from, tz).date().yesterday().ok() else {
        return out;
    };
    let last = local(to, tz).date();
    while day <= last {
        for r in &l.restrictions {
            for hm in [parse_hm(&r.start), parse_hm(&r.end)].into_iter().flatten() {
                if let Some(t) = instant(tz, day, hm.0, hm.1) {
                    out.push(t);
                }
            }
        }
        match day.tomorrow() {
            Ok(d) => day = d,
            Err(_) => break,
        }
    }
    out
}

/// Who an escalation level notifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Target {
    User(String),
    Schedule(String),
}

/// One level of an escalation policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    pub targets: Vec<Target>,
    /// How long to wait for an acknowledgement before the next level.
    #[serde(with = "crate::duration::serde_text")]
    pub escalate_after: time::Duration,
}

/// An escalation policy: levels notified in turn until someone
/// acknowledges, the whole run repeated `repeat` more times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationPolicy {
    pub id: String,
    pub name: String,
    pub levels: Vec<Level>,
    #[serde(default)]
    pub repeat: u32,
}

/// One notification an escalation calls for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// 0 for the first run through the levels, 1 for the first repeat…
    pub round: u32,
    /// 0-based level.
    pub level: usize,
    pub targets: Vec<Target>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
}

impl Step {
    /// A stable key the app stores with what it sent, so acting on a plan
    /// twice sends nothing twice.
    pub fn key(&self) -> String {
        format!("r{}l{}", self.round, self.level)
    }
}

/// What an escalation calls for at some moment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Plan {
    /// Every step due by now, earliest first (the app skips those it did).
    pub due: Vec<Step>,
    /// The next step to come, if any: when to wake up.
    pub next: Option<Step>,
    /// Nothing more will ever be due (acknowledged or exhausted).
    pub finished: bool,
}

impl EscalationPolicy {
    pub fn validate(&self) -> Result<(), OnCallError> {
        if self.levels.is_empty() {
            return Err(OnCallError {
                field: "levels".into(),
                message: "must have at least one level".into(),
            });
        }
        for (i, l) in self.levels.iter().enumerate() {
            if l.targets.is_empty() {
                return Err(OnCallError {
                    field: format!("levels[{i}].targets"),
                    message: "must name at least one user or schedule".into(),
                });
            }
            if !l.escalate_after.is_positive() {
                return Err(OnCallError {
                    field: format!("levels[{i}].escalate_after"),
                    message: "must be positive".into(),
                });
            }
        }
        Ok(())
    }

    /// Every step of the policy for an alert that fired at `fired_at`.
    pub fn steps(&self, fired_at: Timestamp) -> Vec<Step> {
        let mut out = Vec::new();
        let mut at = fired_at;
        for round in 0..=self.repeat {
            for (level, l) in self.levels.iter().enumerate() {
                out.push(Step {
                    round,
                    level,
                    targets: l.targets.clone(),
                    at,
                });
                at += l.escalate_after;
            }
        }
        out
    }
}

/// Which notifications an escalation calls for at `now`: the steps due
/// before the acknowledgement (if any) and not after `now`. A step at the
/// very instant of the acknowledgement is not due: the person acted first.
pub fn escalation_plan(
    policy: &EscalationPolicy,
    fired_at: Timestamp,
    acked_at: Option<Timestamp>,
    now: Timestamp,
) -> Plan {
    let live = |s: &Step| acked_at.is_none_or(|a| s.at < a);
    let steps: Vec<Step> = policy.steps(fired_at).into_iter().filter(live).collect();
    let due: Vec<Step> = steps.iter().filter(|s| s.at <= now).cloned().collect();
    let next = steps.iter().find(|s| s.at > now).cloned();
    Plan {
        finished: next.is_none(),
        due,
        next,
    }
}

/// The users a step notifies at its time: users as named, schedules as
/// whoever is on call then; duplicates removed, order kept.
pub fn resolve_targets<'a>(
    step: &Step,
    schedule: impl Fn(&str) -> Option<&'a Schedule>,
) -> Vec<String> {
    let mut users: Vec<String> = Vec::new();
    for t in &step.targets {
        let u = match t {
            Target::User(u) => Some(u.clone()),
            Target::Schedule(id) => schedule(id)
                .and_then(|s| s.who_is_on_call(step.at))
                .map(|o| o.user),
        };
        if let Some(u) = u {
            if !users.contains(&u) {
                users.push(u);
            }
        }
    }
    users
}
