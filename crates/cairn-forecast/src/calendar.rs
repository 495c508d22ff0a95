//! From the domain's promotion calendar to the events a pool's forecast sees: the local
//! dates of a promotion's window, its recurrence key and its reach into the pool.

use time::{Date, UtcOffset};

use cairn_domain::{MerchantId, Promotion, PromotionScope, RegionId};

use crate::demand::PromotionEvent;

/// The offset the promotion calendar's days are counted in: China Standard Time, where
/// the festivals are held and the demo's windows run from 00:00 to 23:59:59.
pub const CALENDAR_OFFSET: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

/// The key that recurrences of a promotion share: its id without a trailing year or
/// date (`promo-double11-2026` → `promo-double11`, `promo-m-0042-20261216` →
/// `promo-m-0042`). Ids without one are their own key.
pub fn recurrence_key(id: &str) -> String {
    match id.rsplit_once('-') {
        Some((stem, tail))
            if !stem.is_empty()
                && (tail.len() == 4 || tail.len() == 8)
                && tail.bytes().all(|b| b.is_ascii_digit()) =>
        {
            stem.to_owned()
        }
        _ => id.to_owned(),
    }
}

/// The first and last day of a promotion's window in `offset`'s local time.
pub fn local_days(p: &Promotion, offset: UtcOffset) -> (Date, Date) {
    (
        p.starts_at.to_offset(offset).date(),
        p.ends_at.to_offset(offset).date(),
    )
}

/// The share of a pool's demand a promotion reaches: 1 for a global promotion, 1 or 0
/// for a regional one (the pool's region or not), and the merchant's share of the
/// pool's units for a merchant's own sale (`merchant_share`).
pub fn reach(
    p: &Promotion,
    pool_region: &RegionId,
    merchant_share: impl Fn(&MerchantId) -> f64,
) -> f64 {
    match p.scope {
        PromotionScope::Global => 1.0,
        PromotionScope::Region => {
            if p.region_id.as_ref() == Some(pool_region) {
                1.0
            } else {
                0.0
            }
        }
        PromotionScope::Merchant => p
            .merchant_id
            .as_ref()
            .map_or(0.0, |m| merchant_share(m).clamp(0.0, 1.0)),
    }
}

/// The promotion as an event of one pool's forecast, or `None` when it does not reach
/// the pool.
pub fn event(p: &Promotion, reach: f64) -> Option<PromotionEvent> {
    if reach <= 0.0 {
        return None;
    }
    let (first_day, last_day) = local_days(p, CALENDAR_OFFSET);
    Some(PromotionEvent {
        id: p.id.clone(),
        key: recurrence_key(p.id.as_str()),
        name: p.name.clone(),
        first_day,
        last_day,
        expected_uplift: p.expected_uplift,
        reach,
    })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn keys_drop_the_year_or_date_and_days_are_local() {
        assert_eq!(recurrence_key("promo-double11-2026"), "promo-double11");
        assert_eq!(recurrence_key("promo-m-0042-20261216"), "promo-m-0042");
        assert_eq!(recurrence_key("promo-spring"), "promo-spring");
        assert_eq!(recurrence_key("2026"), "2026");

        let p = Promotion {
            id: "promo-double11-2026".into(),
            name: "Double 11".into(),
            // 1 November 00:00 to 11 November 23:59:59 in +08:00.
            starts_at: datetime!(2026-10-31 16:00 UTC),
            ends_at: datetime!(2026-11-11 15:59:59 UTC),
            scope: PromotionScope::Region,
            region_id: Some("cn-hangzhou".into()),
            merchant_id: None,
            expected_uplift: 8.5,
        };
        let e = event(&p, reach(&p, &"cn-hangzhou".into(), |_| 0.0)).unwrap();
        assert_eq!(e.first_day.to_string(), "2026-11-01");
        assert_eq!(e.last_day.to_string(), "2026-11-11");
        assert_eq!(e.reach, 1.0);
        assert!(event(&p, reach(&p, &"cn-beijing".into(), |_| 0.0)).is_none());
    }
}
