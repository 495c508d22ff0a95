//! The capacity ledger of the model: what each pool has sold and released day by day,
//! the hardware arriving or retired (planned or done), and the units reserved for
//! promotions; and the pure arithmetic of stock over time.
//!
//! **Stock left = capacity − sold − reserved**, on any date:
//! - *capacity* on day `d` is the pool's installed capacity (`Pool::capacity`, which
//!   already counts every change that is done) less the done changes dated after `d`,
//!   plus the planned changes dated on or before `d`;
//! - *sold* on day `d` is the net of sales and releases up to and including `d`;
//! - *reserved* on day `d` is the sum of the reservations whose window holds `d`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::Date;

use crate::kind::{Entity, Kind};
use crate::{
    CapacityChangeId, DomainError, InstanceId, MerchantId, PoolId, PromotionId, ReservationId,
};

/// `YYYY-MM-DD` dates in JSON.
pub mod date_format {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    const FORMAT: &[time::format_description::FormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]");

    pub fn parse(s: &str) -> Result<Date, String> {
        Date::parse(s, FORMAT).map_err(|_| format!("must be a date as YYYY-MM-DD, got {s:?}"))
    }

    pub fn format(d: Date) -> String {
        d.format(FORMAT).unwrap_or_default()
    }

    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Whether a capacity change has happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeStatus {
    /// On order: counted from its date on in the outlook.
    Planned,
    /// Installed (or retired): part of the pool's capacity.
    Done,
    /// Called off: counted nowhere, kept for the record.
    Cancelled,
}

impl std::fmt::Display for ChangeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChangeStatus::Planned => "planned",
            ChangeStatus::Done => "done",
            ChangeStatus::Cancelled => "cancelled",
        })
    }
}

/// Hardware arriving in (positive units) or retired from (negative units) a pool.
/// Marking a change done adds its units to the pool's capacity in the same write; a
/// done change is history and is not edited or deleted (record another change).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityChange {
    pub id: CapacityChangeId,
    pub pool_id: PoolId,
    /// The day the hardware arrives (planned) or arrived (done).
    #[serde(with = "date_format")]
    #[schemars(with = "String")]
    pub date: Date,
    /// Units of the pool's product added (positive) or retired (negative).
    pub units: f64,
    pub status: ChangeStatus,
    #[serde(default)]
    pub note: Option<String>,
}

impl Entity for CapacityChange {
    const KIND: Kind = Kind::CapacityChange;
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn validate(&self) -> Result<(), DomainError> {
        crate::id::validate_id("id", self.id.as_str())?;
        crate::id::validate_id("pool_id", self.pool_id.as_str())?;
        if !self.units.is_finite() || self.units == 0.0 || self.units.abs() > 1e12 {
            return Err(DomainError::invalid(
                "units",
                format!(
                    "must be a non-zero number of units (negative retires), got {}",
                    self.units
                ),
            ));
        }
        if let Some(n) = &self.note {
            if n.chars().count() > 500 {
                return Err(DomainError::invalid(
                    "note",
                    "must be at most 500 characters",
                ));
            }
        }
        Ok(())
    }
}

/// Units of a pool held back for a promotion (or a merchant's event) over a window of
/// days: they are not sold to anyone else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reservation {
    pub id: ReservationId,
    pub pool_id: PoolId,
    #[serde(with = "date_format")]
    #[schemars(with = "String")]
    pub starts_on: Date,
    /// The last day held, inclusive.
    #[serde(with = "date_format")]
    #[schemars(with = "String")]
    pub ends_on: Date,
    pub units: f64,
    /// The promotion the units are held for, if any.
    #[serde(default)]
    pub promotion_id: Option<PromotionId>,
    /// The merchant the units are held for, if any.
    #[serde(default)]
    pub merchant_id: Option<MerchantId>,
    #[serde(default)]
    pub note: Option<String>,
}

impl Entity for Reservation {
    const KIND: Kind = Kind::Reservation;
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn validate(&self) -> Result<(), DomainError> {
        crate::id::validate_id("id", self.id.as_str())?;
        crate::id::validate_id("pool_id", self.pool_id.as_str())?;
        if self.ends_on < self.starts_on {
            return Err(DomainError::invalid(
                "ends_on",
                format!(
                    "must not be before starts_on ({})",
                    date_format::format(self.starts_on)
                ),
            ));
        }
        if !self.units.is_finite() || self.units <= 0.0 || self.units > 1e12 {
            return Err(DomainError::invalid(
                "units",
                format!("must be a positive number of units, got {}", self.units),
            ));
        }
        if let Some(n) = &self.note {
            if n.chars().count() > 500 {
                return Err(DomainError::invalid(
                    "note",
                    "must be at most 500 characters",
                ));
            }
        }
        Ok(())
    }
}

/// Whether a ledger entry sold units or took them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LedgerKind {
    /// Units allocated to a merchant.
    Sale,
    /// Units handed back.
    Release,
}

impl LedgerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Sale => "sale",
            LedgerKind::Release => "release",
        }
    }

    pub fn parse(s: &str) -> Option<LedgerKind> {
        match s {
            "sale" => Some(LedgerKind::Sale),
            "release" => Some(LedgerKind::Release),
            _ => None,
        }
    }
}

/// Where a ledger entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LedgerSource {
    /// Posted through the API or imported.
    Api,
    /// Written with an instance's creation, change or deletion.
    Instance,
    /// The demo cloud's generated history.
    Demo,
}

impl LedgerSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerSource::Api => "api",
            LedgerSource::Instance => "instance",
            LedgerSource::Demo => "demo",
        }
    }

    pub fn parse(s: &str) -> Option<LedgerSource> {
        match s {
            "api" => Some(LedgerSource::Api),
            "instance" => Some(LedgerSource::Instance),
            "demo" => Some(LedgerSource::Demo),
            _ => None,
        }
    }
}

/// One entry of a pool's sales ledger. Entries are appended, never edited: a mistake is
/// corrected by an entry of the other kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    pub pool_id: PoolId,
    #[serde(with = "date_format")]
    #[schemars(with = "String")]
    pub day: Date,
    pub kind: LedgerKind,
    pub units: f64,
    #[serde(default)]
    pub merchant_id: Option<MerchantId>,
    #[serde(default)]
    pub instance_id: Option<InstanceId>,
    #[serde(default = "api_source")]
    pub source: LedgerSource,
}

fn api_source() -> LedgerSource {
    LedgerSource::Api
}

impl LedgerEntry {
    pub fn validate(&self) -> Result<(), DomainError> {
        crate::id::validate_id("pool_id", self.pool_id.as_str())?;
        if !self.units.is_finite() || self.units <= 0.0 || self.units > 1e12 {
            return Err(DomainError::invalid(
                "units",
                format!("must be a positive number of units, got {}", self.units),
            ));
        }
        Ok(())
    }

    /// Units this entry adds to what is sold: positive for a sale, negative for a
    /// release.
    pub fn signed_units(&self) -> f64 {
        match self.kind {
            LedgerKind::Sale => self.units,
            LedgerKind::Release => -self.units,
        }
    }
}

/// What an instance holds of its pool: its units, unless it is released.
fn holding(i: &crate::Instance) -> Option<(&PoolId, f64)> {
    (i.state != crate::InstanceState::Released).then_some((&i.pool_id, i.units))
}

/// The ledger entries that keep the ledger in step with an instance written on `day`:
/// created (`before` none), changed, or deleted (`after` none). A change of units
/// sells or releases the difference; a move to another pool releases everything from
/// the old pool and sells it in the new one; releasing the instance releases its units.
pub fn instance_ledger(
    before: Option<&crate::Instance>,
    after: Option<&crate::Instance>,
    day: Date,
) -> Vec<LedgerEntry> {
    let entry = |i: &crate::Instance, pool: &PoolId, kind, units: f64| LedgerEntry {
        pool_id: pool.clone(),
        day,
        kind,
        units,
        merchant_id: Some(i.merchant_id.clone()),
        instance_id: Some(i.id.clone()),
        source: LedgerSource::Instance,
    };
    let was = before.and_then(|b| holding(b).map(|h| (b, h)));
    let now = after.and_then(|a| holding(a).map(|h| (a, h)));
    let mut out = Vec::new();
    match (was, now) {
        (Some((b, (p0, u0))), Some((a, (p1, u1)))) if p0 == p1 => {
            let d = u1 - u0;
            if d > 0.0 {
                out.push(entry(a, p1, LedgerKind::Sale, d));
            } else if d < 0.0 {
                out.push(entry(b, p0, LedgerKind::Release, -d));
            }
        }
        (was, now) => {
            if let Some((b, (p0, u0))) = was {
                if u0 > 0.0 {
                    out.push(entry(b, p0, LedgerKind::Release, u0));
                }
            }
            if let Some((a, (p1, u1))) = now {
                if u1 > 0.0 {
                    out.push(entry(a, p1, LedgerKind::Sale, u1));
                }
            }
        }
    }
    out
}

/// A pool's sales per day, as the store aggregates its ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailyLedger {
    #[serde(with = "date_format")]
    pub day: Date,
    pub sold: f64,
    pub released: f64,
}

/// One day of a pool's stock.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StockDay {
    #[serde(with = "date_format")]
    #[schemars(with = "String")]
    pub day: Date,
    pub sold_that_day: f64,
    pub released_that_day: f64,
    /// Net units held by merchants at the end of the day.
    pub sold: f64,
    pub capacity: f64,
    pub reserved: f64,
    /// capacity − sold − reserved.
    pub stock_left: f64,
}

/// The pool's capacity on `day` (see the module documentation).
pub fn capacity_on(installed: f64, changes: &[CapacityChange], day: Date) -> f64 {
    changes.iter().fold(installed, |c, ch| match ch.status {
        ChangeStatus::Done if ch.date > day => c - ch.units,
        ChangeStatus::Planned if ch.date <= day => c + ch.units,
        _ => c,
    })
}

/// Units reserved on `day`.
pub fn reserved_on(reservations: &[Reservation], day: Date) -> f64 {
    // `+ 0.0` turns the empty sum's −0 into 0, which reads better in JSON.
    reservations
        .iter()
        .filter(|r| r.starts_on <= day && day <= r.ends_on)
        .map(|r| r.units)
        .sum::<f64>()
        + 0.0
}

/// The pool's stock day by day from `from` to `to` inclusive. `sold_before` is the net
/// sold before `from`; `daily` holds the ledger's days (any order, gaps allowed).
pub fn stock_days(
    installed: f64,
    changes: &[CapacityChange],
    reservations: &[Reservation],
    sold_before: f64,
    daily: &[DailyLedger],
    from: Date,
    to: Date,
) -> Vec<StockDay> {
    let by_day: std::collections::HashMap<Date, &DailyLedger> =
        daily.iter().map(|d| (d.day, d)).collect();
    let mut sold = sold_before;
    let mut out = Vec::new();
    let mut day = from;
    while day <= to {
        let (s, r) = by_day
            .get(&day)
            .map_or((0.0, 0.0), |d| (d.sold, d.released));
        sold += s - r;
        let capacity = capacity_on(installed, changes, day);
        let reserved = reserved_on(reservations, day);
        out.push(StockDay {
            day,
            sold_that_day: s,
            released_that_day: r,
            sold,
            capacity,
            reserved,
            stock_left: capacity - sold - reserved,
        });
        match day.next_day() {
            Some(d) => day = d,
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn change(date: Date, units: f64, status: ChangeStatus) -> CapacityChange {
        CapacityChange {
            id: "cap-1".into(),
            pool_id: "pool-a".into(),
            date,
            units,
            status,
            note: None,
        }
    }

    #[test]
    fn capacity_moves_with_done_and_planned_changes_on_their_dates() {
        let changes = [
            change(date!(2026 - 03 - 01), 100.0, ChangeStatus::Done),
            change(date!(2026 - 12 - 01), 50.0, ChangeStatus::Planned),
            change(date!(2026 - 12 - 02), 999.0, ChangeStatus::Cancelled),
        ];
        // Installed now: 1,000, including March's 100.
        assert_eq!(capacity_on(1000.0, &changes, date!(2026 - 02 - 28)), 900.0);
        assert_eq!(capacity_on(1000.0, &changes, date!(2026 - 03 - 01)), 1000.0);
        assert_eq!(capacity_on(1000.0, &changes, date!(2026 - 11 - 30)), 1000.0);
        assert_eq!(capacity_on(1000.0, &changes, date!(2026 - 12 - 31)), 1050.0);
    }

    #[test]
    fn stock_left_is_capacity_less_sold_less_reserved_each_day() {
        let reservations = [Reservation {
            id: "resv-1".into(),
            pool_id: "pool-a".into(),
            starts_on: date!(2026 - 11 - 02),
            ends_on: date!(2026 - 11 - 03),
            units: 30.0,
            promotion_id: None,
            merchant_id: None,
            note: None,
        }];
        let daily = [
            DailyLedger {
                day: date!(2026 - 11 - 01),
                sold: 10.0,
                released: 0.0,
            },
            DailyLedger {
                day: date!(2026 - 11 - 03),
                sold: 5.0,
                released: 8.0,
            },
        ];
        let days = stock_days(
            100.0,
            &[],
            &reservations,
            40.0,
            &daily,
            date!(2026 - 11 - 01),
            date!(2026 - 11 - 04),
        );
        let left: Vec<f64> = days.iter().map(|d| d.stock_left).collect();
        assert_eq!(left, [50.0, 20.0, 23.0, 53.0]);
        assert_eq!(days[3].sold, 47.0);
    }

    #[test]
    fn instance_writes_become_sales_and_releases_of_the_difference() {
        let i = |pool: &str, units: f64, state: crate::InstanceState| crate::Instance {
            id: "i-1".into(),
            merchant_id: "m-1".into(),
            product_id: "ecs".into(),
            pool_id: pool.into(),
            host_id: None,
            spec: "ecs.g7.large".into(),
            units,
            state,
        };
        use crate::InstanceState::{Released, Running};
        let d = date!(2026 - 11 - 25);
        let show = |es: Vec<LedgerEntry>| -> Vec<String> {
            es.iter()
                .map(|e| format!("{} {} {}", e.kind.as_str(), e.pool_id, e.units))
                .collect()
        };
        assert_eq!(
            show(instance_ledger(None, Some(&i("a", 4.0, Running)), d)),
            ["sale a 4"]
        );
        assert_eq!(
            show(instance_ledger(
                Some(&i("a", 4.0, Running)),
                Some(&i("a", 6.0, Running)),
                d
            )),
            ["sale a 2"]
        );
        assert_eq!(
            show(instance_ledger(
                Some(&i("a", 4.0, Running)),
                Some(&i("b", 4.0, Running)),
                d
            )),
            ["release a 4", "sale b 4"]
        );
        assert_eq!(
            show(instance_ledger(
                Some(&i("a", 4.0, Running)),
                Some(&i("a", 4.0, Released)),
                d
            )),
            ["release a 4"]
        );
        assert_eq!(
            show(instance_ledger(Some(&i("a", 4.0, Released)), None, d)),
            Vec::<String>::new()
        );
        assert_eq!(
            show(instance_ledger(Some(&i("a", 4.0, Running)), None, d)),
            ["release a 4"]
        );
    }

    #[test]
    fn dates_read_and_write_as_iso_days_and_bad_ones_name_the_format() {
        let r: Reservation = serde_json::from_value(serde_json::json!({
            "id": "resv-1", "pool_id": "pool-a", "starts_on": "2026-11-01",
            "ends_on": "2026-11-11", "units": 5.0
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_value(&r).unwrap()["ends_on"],
            serde_json::json!("2026-11-11")
        );
        let bad = serde_json::from_value::<Reservation>(serde_json::json!({
            "id": "resv-1", "pool_id": "pool-a", "starts_on": "11/01/2026",
            "ends_on": "2026-11-11", "units": 5.0
        }))
        .unwrap_err();
        assert!(bad.to_string().contains("YYYY-MM-DD"), "{bad}");
    }
}
