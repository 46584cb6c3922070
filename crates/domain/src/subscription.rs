//! The subscription's billing status (DESIGN §4): `trialing`, `active`, `past_due` (in grace),
//! `suspended`, `canceled`.

use crate::names::named_enum;

named_enum! {
    /// Where a subscription stands with its payments.
    pub enum SubscriptionStatus as "subscription status" {
        /// The 7 free days after the claim; the chosen plan's limits apply, nothing is charged.
        Trialing => "trialing",
        /// Paid up.
        Active => "active",
        /// A charge failed; retries are scheduled and the device still works until grace expires.
        PastDue => "past_due",
        /// Grace expired unpaid; the device is suspended until a payment succeeds.
        Suspended => "suspended",
        /// Ended at a period end after a cancel request. Terminal.
        Canceled => "canceled",
    }
}

impl SubscriptionStatus {
    /// Statuses under which the device may operate: the trial, paid up, or in grace.
    pub const fn allows_service(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Trialing | SubscriptionStatus::Active | SubscriptionStatus::PastDue
        )
    }

    /// Statuses that count as a paying customer for MRR (trials are out, grace is in).
    pub const fn is_paying(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Active | SubscriptionStatus::PastDue
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_match_the_design() {
        let names: Vec<&str> = SubscriptionStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            ["trialing", "active", "past_due", "suspended", "canceled"]
        );
        for &status in SubscriptionStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
    }

    #[test]
    fn an_unknown_status_is_rejected_with_its_name() {
        let err = "paused"
            .parse::<SubscriptionStatus>()
            .err()
            .map(|e| e.value);
        assert_eq!(err.as_deref(), Some("paused"));
    }
}
