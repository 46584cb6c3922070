//! Money as integer cents.
//!
//! Every price, overage, cap, proration and invoice line is a whole number of US cents so that
//! sums are exact and the same on every machine; fractions appear only inside a computation that
//! says how it rounds (see `proration` and `metrics`).

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul, Neg, Sub, SubAssign};

use serde::{Deserialize, Serialize};

/// An amount of money in cents. Negative amounts are allowed (credits, differences).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Cents(i64);

impl Cents {
    /// No money.
    pub const ZERO: Cents = Cents(0);

    /// `cents` cents, e.g. `Cents::new(500)` is $5.00.
    pub const fn new(cents: i64) -> Cents {
        Cents(cents)
    }

    /// The amount in cents.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// True when the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl From<Cents> for i64 {
    fn from(cents: Cents) -> i64 {
        cents.0
    }
}

impl Add for Cents {
    type Output = Cents;
    fn add(self, rhs: Cents) -> Cents {
        Cents(self.0 + rhs.0)
    }
}

impl Sub for Cents {
    type Output = Cents;
    fn sub(self, rhs: Cents) -> Cents {
        Cents(self.0 - rhs.0)
    }
}

impl AddAssign for Cents {
    fn add_assign(&mut self, rhs: Cents) {
        self.0 += rhs.0;
    }
}

impl SubAssign for Cents {
    fn sub_assign(&mut self, rhs: Cents) {
        self.0 -= rhs.0;
    }
}

impl Neg for Cents {
    type Output = Cents;
    fn neg(self) -> Cents {
        Cents(-self.0)
    }
}

impl Mul<i64> for Cents {
    type Output = Cents;
    fn mul(self, rhs: i64) -> Cents {
        Cents(self.0 * rhs)
    }
}

impl Sum for Cents {
    fn sum<I: Iterator<Item = Cents>>(iter: I) -> Cents {
        iter.fold(Cents::ZERO, Add::add)
    }
}

impl<'a> Sum<&'a Cents> for Cents {
    fn sum<I: Iterator<Item = &'a Cents>>(iter: I) -> Cents {
        iter.copied().sum()
    }
}

/// Dollars with two decimals: `$5.00`, `$0.05`, `-$1.20`.
impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        // unsigned_abs so that i64::MIN prints instead of overflowing.
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}${}.{:02}", abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_shows_dollars_with_two_decimals() {
        assert_eq!(Cents::new(500).to_string(), "$5.00");
        assert_eq!(Cents::new(5).to_string(), "$0.05");
        assert_eq!(Cents::new(123_456).to_string(), "$1234.56");
        assert_eq!(Cents::ZERO.to_string(), "$0.00");
    }

    #[test]
    fn display_puts_the_sign_before_the_dollar() {
        assert_eq!(Cents::new(-120).to_string(), "-$1.20");
        assert_eq!(Cents::new(-5).to_string(), "-$0.05");
    }

    #[test]
    fn arithmetic_is_exact_in_cents() {
        let mut total = Cents::new(500) + Cents::new(20) * 3 - Cents::new(5);
        total += Cents::new(1);
        assert_eq!(total, Cents::new(556));
        assert_eq!(total.get(), 556);
        let sum: Cents = [Cents::new(1), Cents::new(2), Cents::new(3)].iter().sum();
        assert_eq!(sum, Cents::new(6));
    }

    #[test]
    fn cents_serialize_as_a_bare_integer() {
        assert_eq!(
            serde_json::to_string(&Cents::new(500)).ok(),
            Some("500".into())
        );
        let parsed: Result<Cents, _> = serde_json::from_str("-7");
        assert_eq!(parsed.ok(), Some(Cents::new(-7)));
    }
}
