//! Money: exact decimals parsed from Shopify's strings, shown with two decimals. Never a float.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// An amount in the shop's currency.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Money(Decimal);

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    pub fn new(amount: Decimal) -> Money {
        Money(amount)
    }

    /// Parses Shopify's decimal text (`"359.97"`, `"-5.00"`, `"12"`): an optional minus, at most 18
    /// integer digits, at most 4 decimals. No exponent, no spaces, no thousands separators.
    pub fn parse(text: &str) -> Option<Money> {
        let digits = text.strip_prefix('-').unwrap_or(text);
        let (int, frac) = match digits.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (digits, None),
        };
        let ok = !int.is_empty()
            && int.len() <= 18
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.is_none_or(|f| {
                !f.is_empty() && f.len() <= 4 && f.bytes().all(|b| b.is_ascii_digit())
            });
        if !ok {
            return None;
        }
        Decimal::from_str(text).ok().map(Money)
    }

    pub fn amount(self) -> Decimal {
        self.0
    }

    /// The API's form: two decimals, rounded half-even (`"1234.50"`).
    pub fn to_api(self) -> String {
        let r = self
            .0
            .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
        format!("{r:.2}")
    }

    /// `self / n` rounded half-even to cents; zero when `n` is zero.
    pub fn average_over(self, n: u64) -> Money {
        if n == 0 {
            return Money::ZERO;
        }
        let avg = self.0.checked_div(Decimal::from(n)).unwrap_or_default();
        Money(avg.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_api())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shopify_amounts_parse_exactly_and_print_with_two_decimals() {
        assert_eq!(Money::parse("359.97").unwrap().to_api(), "359.97");
        assert_eq!(Money::parse("12").unwrap().to_api(), "12.00");
        assert_eq!(Money::parse("0.1").unwrap().to_api(), "0.10");
        assert_eq!(Money::parse("-5.00").unwrap().to_api(), "-5.00");
        // 0.1 + 0.2 is exactly 0.3 here, as it never is in floating point.
        let sum = Money::parse("0.1").unwrap().amount() + Money::parse("0.2").unwrap().amount();
        assert_eq!(Money::new(sum).to_api(), "0.30");
    }

    #[test]
    fn text_that_is_not_an_amount_is_refused() {
        for bad in [
            "",
            "-",
            "1e3",
            " 1.00",
            "1,000.00",
            "1.",
            ".5",
            "1.23456",
            "NaN",
            "+1",
            "0x10",
            "1234567890123456789",
        ] {
            assert_eq!(Money::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn averages_round_half_to_even_on_the_cent() {
        // 0.125 → 0.12 and 0.135 → 0.14 (half-even), not always up.
        assert_eq!(
            Money::parse("0.25").unwrap().average_over(2).to_api(),
            "0.12"
        );
        assert_eq!(
            Money::parse("0.27").unwrap().average_over(2).to_api(),
            "0.14"
        );
        assert_eq!(
            Money::parse("10.00").unwrap().average_over(3).to_api(),
            "3.33"
        );
        assert_eq!(Money::ZERO.average_over(0).to_api(), "0.00");
    }

    proptest! {
        #[test]
        fn any_cent_amount_round_trips_through_its_text(cents in -10_000_000_000i64..10_000_000_000i64) {
            let m = Money::new(Decimal::new(cents, 2));
            prop_assert_eq!(Money::parse(&m.to_api()), Some(m));
        }

        #[test]
        fn sums_of_amounts_are_exact(a in 0i64..1_000_000_000, b in 0i64..1_000_000_000) {
            let x = Money::parse(&Money::new(Decimal::new(a, 2)).to_api()).unwrap();
            let y = Money::parse(&Money::new(Decimal::new(b, 2)).to_api()).unwrap();
            prop_assert_eq!(x.amount() + y.amount(), Decimal::new(a + b, 2));
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(s in "\\PC{0,30}") {
            let _ = Money::parse(&s);
        }
    }
}
