//! Where one payment attempt of an invoice stands. An attempt is recorded as `pending` before
//! the provider is called; an answer that got lost leaves it `unknown` until it is reconciled.

use crate::names::named_enum;

named_enum! {
    /// The status of a payment attempt.
    pub enum PaymentStatus as "payment status" {
        /// Recorded, sent (or about to be sent) to the provider.
        Pending => "pending",
        /// The provider took the money.
        Succeeded => "succeeded",
        /// The provider refused the charge.
        Failed => "failed",
        /// The provider's answer was lost; look it up before charging again.
        Unknown => "unknown",
        /// Taken, then given back.
        Refunded => "refunded",
    }
}

impl PaymentStatus {
    /// Attempts whose outcome is not known yet: at most one per invoice at a time.
    pub const fn in_flight(self) -> bool {
        matches!(self, PaymentStatus::Pending | PaymentStatus::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_status_names_match_the_schema() {
        let names: Vec<&str> = PaymentStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            ["pending", "succeeded", "failed", "unknown", "refunded"]
        );
        for &status in PaymentStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
        assert!(PaymentStatus::Unknown.in_flight());
        assert!(!PaymentStatus::Failed.in_flight());
    }
}
