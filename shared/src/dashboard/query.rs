//! The dashboard's requests, parsed from the query string with the API's error codes and messages.

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::domain::FieldError;

/// The longest range `orders-by-date` serves, in days (inclusive).
pub const MAX_RANGE_DAYS: i64 = 366;
/// The default range when none is given: the last 30 days.
pub const DEFAULT_RANGE_DAYS: i64 = 30;

/// `GET /dashboard/orders-by-date`: the days `from..=to` and one page of their orders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrdersByDateQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Orders per page.
    pub limit: u32,
    /// The sealed cursor of the page before, as the client sent it (checked by the use case).
    pub cursor: Option<String>,
}

impl OrdersByDateQuery {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 250;

    /// Parses `from`, `to`, `limit` and `cursor`. Without `to` the range ends `today`; without
    /// `from` it covers [`DEFAULT_RANGE_DAYS`] days; it may cover at most [`MAX_RANGE_DAYS`].
    pub fn parse(query: Option<&str>, today: NaiveDate) -> Result<OrdersByDateQuery, FieldError> {
        let p = params(query);
        let (from, to) = range(&p, today)?;
        Ok(OrdersByDateQuery {
            from,
            to,
            limit: limit(&p, Self::DEFAULT_LIMIT, Self::MAX_LIMIT)?,
            // `cursor=` (empty) is the first page, like no cursor.
            cursor: p.get("cursor").filter(|c| !c.is_empty()).cloned(),
        })
    }
}

/// `from` and `to` as every ranged dashboard read takes them: without `to` the range ends `today`,
/// without `from` it covers [`DEFAULT_RANGE_DAYS`]; at most [`MAX_RANGE_DAYS`].
pub(crate) fn range(
    p: &HashMap<String, String>,
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate), FieldError> {
    let to = date(p, "to")?.unwrap_or(today);
    let from = match date(p, "from")? {
        Some(f) => f,
        None => to - chrono::Duration::days(DEFAULT_RANGE_DAYS - 1),
    };
    if from > to {
        return Err(FieldError::new(
            "invalid_range",
            "from must not be after to.",
        ));
    }
    if (to - from).num_days() + 1 > MAX_RANGE_DAYS {
        return Err(FieldError::new(
            "range_too_long",
            format!("the range may cover at most {MAX_RANGE_DAYS} days."),
        ));
    }
    Ok((from, to))
}

/// `GET /dashboard/top-customers`: the `limit` customers with the highest spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopCustomersQuery {
    pub limit: u32,
}

impl TopCustomersQuery {
    pub const DEFAULT_LIMIT: u32 = 5;
    pub const MAX_LIMIT: u32 = 50;

    /// Parses `limit`.
    pub fn parse(query: Option<&str>) -> Result<TopCustomersQuery, FieldError> {
        Ok(TopCustomersQuery {
            limit: limit(&params(query), Self::DEFAULT_LIMIT, Self::MAX_LIMIT)?,
        })
    }
}

/// The query's parameters; a repeated name keeps its last value.
pub(crate) fn params(query: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

pub(crate) fn limit(
    p: &HashMap<String, String>,
    default: u32,
    max: u32,
) -> Result<u32, FieldError> {
    match p.get("limit") {
        None => Ok(default),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                FieldError::new(
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {max}."),
                )
            }),
    }
}

pub(crate) fn date(
    p: &HashMap<String, String>,
    name: &str,
) -> Result<Option<NaiveDate>, FieldError> {
    let Some(v) = p.get(name) else {
        return Ok(None);
    };
    // Strictly YYYY-MM-DD: chrono alone would also take "2026-1-5".
    let shaped = v.len() == 10 && v.as_bytes()[4] == b'-' && v.as_bytes()[7] == b'-';
    let d = shaped
        .then(|| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
        .flatten();
    d.map(Some).ok_or_else(|| {
        FieldError::new(
            "invalid_date",
            format!("{name} must be a date as YYYY-MM-DD."),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn orders(query: &str) -> Result<OrdersByDateQuery, FieldError> {
        OrdersByDateQuery::parse(Some(query), day(2026, 3, 31))
    }

    fn code<T: std::fmt::Debug>(r: Result<T, FieldError>) -> &'static str {
        r.unwrap_err().code
    }

    #[test]
    fn no_query_means_the_last_thirty_days_ending_today_and_the_default_limits() {
        let q = OrdersByDateQuery::parse(None, day(2026, 3, 31)).unwrap();
        assert_eq!(
            q,
            OrdersByDateQuery {
                from: day(2026, 3, 2),
                to: day(2026, 3, 31),
                limit: 50,
                cursor: None,
            }
        );
        assert_eq!(TopCustomersQuery::parse(None).unwrap().limit, 5);
        assert_eq!(TopCustomersQuery::parse(Some("")).unwrap().limit, 5);
    }

    #[test]
    fn a_given_range_limit_and_cursor_are_taken_as_sent() {
        let q = orders("from=2025-04-01&to=2025-04-30&limit=250&cursor=abc.def").unwrap();
        assert_eq!(
            q,
            OrdersByDateQuery {
                from: day(2025, 4, 1),
                to: day(2025, 4, 30),
                limit: 250,
                cursor: Some("abc.def".into()),
            }
        );
    }

    #[test]
    fn an_empty_cursor_is_the_first_page() {
        assert_eq!(orders("cursor=").unwrap().cursor, None);
    }

    #[test]
    fn without_from_the_range_is_the_thirty_days_ending_at_to() {
        let q = orders("to=2026-01-10").unwrap();
        assert_eq!((q.from, q.to), (day(2025, 12, 12), day(2026, 1, 10)));
    }

    #[test]
    fn dates_must_be_exactly_yyyy_mm_dd_and_real() {
        for bad in [
            "2026-1-5",
            "2026/01/05",
            "2026-02-30",
            "20260105",
            "",
            "2026-01-05T00",
        ] {
            let err = orders(&format!("from={bad}")).unwrap_err();
            assert_eq!(err.code, "invalid_date", "{bad}");
            assert_eq!(err.message, "from must be a date as YYYY-MM-DD.");
        }
        assert_eq!(
            orders("to=2026-13-01").unwrap_err().message,
            "to must be a date as YYYY-MM-DD."
        );
    }

    #[test]
    fn a_range_ending_before_it_starts_is_refused() {
        let err = orders("from=2026-03-02&to=2026-03-01").unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            ("invalid_range", "from must not be after to.")
        );
        assert!(orders("from=2026-03-01&to=2026-03-01").is_ok());
    }

    #[test]
    fn a_range_longer_than_366_days_is_refused() {
        assert!(orders("from=2024-01-01&to=2024-12-31").is_ok());
        let err = orders("from=2024-01-01&to=2025-01-01").unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            ("range_too_long", "the range may cover at most 366 days.")
        );
    }

    #[test]
    fn a_bad_date_is_reported_before_a_bad_limit() {
        assert_eq!(code(orders("limit=0&to=x")), "invalid_date");
        assert_eq!(
            code(orders("limit=0&from=2026-03-02&to=2026-03-01")),
            "invalid_range"
        );
    }

    #[test]
    fn the_last_of_a_repeated_parameter_counts() {
        assert_eq!(orders("limit=0&limit=7").unwrap().limit, 7);
    }

    #[test]
    fn a_limit_that_is_not_a_whole_number_is_refused_with_its_bounds() {
        for bad in ["", "x", "1.5", "-1", " 5", "1e2"] {
            let err = TopCustomersQuery::parse(Some(&format!("limit={bad}"))).unwrap_err();
            assert_eq!(err.code, "invalid_limit", "{bad:?}");
            assert_eq!(err.message, "limit must be a whole number from 1 to 50.");
        }
        assert_eq!(
            orders("limit=abc").unwrap_err().message,
            "limit must be a whole number from 1 to 250."
        );
    }

    proptest! {
        #[test]
        fn a_limit_is_accepted_exactly_when_it_is_within_one_to_the_maximum(n in -1_000i64..100_000) {
            let query = format!("limit={n}");
            let top = TopCustomersQuery::parse(Some(&query));
            let listed = orders(&query);
            if (1..=50).contains(&n) {
                prop_assert_eq!(top.map(|q| i64::from(q.limit)), Ok(n));
            } else {
                prop_assert_eq!(top.unwrap_err().code, "invalid_limit");
            }
            if (1..=250).contains(&n) {
                prop_assert_eq!(listed.map(|q| i64::from(q.limit)), Ok(n));
            } else {
                prop_assert_eq!(listed.unwrap_err().code, "invalid_limit");
            }
        }

        #[test]
        fn any_huge_limit_is_refused(n in 251u64..) {
            prop_assert_eq!(code(orders(&format!("limit={n}"))), "invalid_limit");
        }
    }
}
