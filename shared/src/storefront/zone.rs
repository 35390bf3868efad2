//! The shop's time zone, which dates storefront events (their timestamps are UTC): its IANA zone
//! once the shop is connected (`shop.ianaTimezone`), before that the UTC offset of the newest order
//! its webhooks carried, else UTC.

use chrono::{DateTime, FixedOffset, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use crate::domain::TenantId;
use crate::store::items::resources::OrderRecord;
use crate::store::items::sync::ConnectionRecord;
use crate::store::keys::{TenantItem, order_listing_partition};
use crate::store::{Index, Query, SortRange, Store, StoreError};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ShopZone {
    Iana(Tz),
    Fixed(FixedOffset),
}

impl ShopZone {
    pub const UTC: ShopZone = ShopZone::Fixed(match FixedOffset::east_opt(0) {
        Some(o) => o,
        None => unreachable!(),
    });

    /// The offset in force at `at`.
    pub fn offset_at(&self, at: DateTime<Utc>) -> FixedOffset {
        match self {
            ShopZone::Iana(tz) => tz.offset_from_utc_datetime(&at.naive_utc()).fix(),
            ShopZone::Fixed(o) => *o,
        }
    }

    /// The shop-local date of `at`.
    pub fn date_of(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.offset_at(at)).date_naive()
    }

    /// The first instant of `date` in the shop's zone (a gap at midnight: the first that exists).
    pub fn start_of(&self, date: NaiveDate) -> DateTime<Utc> {
        let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
        match self {
            ShopZone::Iana(tz) => tz
                .from_local_datetime(&midnight)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|| midnight.and_utc()),
            ShopZone::Fixed(o) => {
                (midnight - chrono::Duration::seconds(i64::from(o.local_minus_utc()))).and_utc()
            }
        }
    }
}

/// The tenant's shop zone, as the contract defines it.
pub async fn of(store: &dyn Store, tenant: TenantId) -> Result<ShopZone, StoreError> {
    if let Some(item) = store.get(&TenantItem::Connection.key(tenant)).await? {
        let zone = ConnectionRecord::from_item(&item)
            .iana_timezone
            .and_then(|z| z.parse::<Tz>().ok());
        if let Some(tz) = zone {
            return Ok(ShopZone::Iana(tz));
        }
    }
    let newest = store
        .query(
            &Query::partition(Index::Gsi2, order_listing_partition(tenant), SortRange::All)
                .backward()
                .limit(1),
        )
        .await?;
    Ok(newest
        .items
        .first()
        .and_then(OrderRecord::from_item)
        .map_or(ShopZone::UTC, |o| ShopZone::Fixed(*o.created_at.offset())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_just_after_midnight_in_the_shops_zone_is_dated_that_day() {
        let zone = ShopZone::Iana(chrono_tz::America::New_York);
        let at = DateTime::parse_from_rfc3339("2026-11-21T05:30:00Z")
            .unwrap_or_default()
            .with_timezone(&Utc);
        assert_eq!(
            zone.date_of(at),
            NaiveDate::from_ymd_opt(2026, 11, 21).unwrap_or_default()
        );
        let before = at - chrono::Duration::hours(1);
        assert_eq!(
            zone.date_of(before),
            NaiveDate::from_ymd_opt(2026, 11, 20).unwrap_or_default()
        );
        assert_eq!(
            zone.start_of(NaiveDate::from_ymd_opt(2026, 11, 21).unwrap_or_default()),
            at - chrono::Duration::minutes(30)
        );
    }
}
