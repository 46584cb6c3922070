//! The words a customer reads for the domain's states: the stored names (`past_due`,
//! `active_subscription`, `uploading`) stay in storage and the JSON API; pages say what they
//! mean. `tests/api/portal/plain_words.rs` crawls every page for names that slipped through.

use smartbox_domain::{
    InvoiceStatus, LifecycleState, PaymentStatus, PlanId, PowerState, SubscriptionStatus,
};

use super::format::money;

/// A subscription's status as the billing page says it.
pub fn subscription(status: SubscriptionStatus) -> &'static str {
    match status {
        SubscriptionStatus::Trialing => "Free trial",
        SubscriptionStatus::Active => "Active",
        SubscriptionStatus::PastDue => "Payment overdue",
        SubscriptionStatus::Suspended => "Suspended for an unpaid invoice",
        SubscriptionStatus::Canceled => "Canceled",
    }
}

/// Where a mailbox is in its life, as its pages say it.
pub fn lifecycle(state: LifecycleState) -> &'static str {
    match state {
        LifecycleState::PreActivation => "Not activated yet",
        LifecycleState::ActiveSubscription => "In service",
        LifecycleState::Suspended => "Suspended",
        LifecycleState::Returned => "Returned",
        LifecycleState::Decommissioned => "Retired",
    }
}

/// An invoice's status.
pub fn invoice(status: InvoiceStatus) -> &'static str {
    match status {
        InvoiceStatus::Draft => "Draft",
        InvoiceStatus::Open => "Due",
        InvoiceStatus::Paid => "Paid",
        InvoiceStatus::Uncollectible => "Written off",
        InvoiceStatus::Void => "Voided",
    }
}

/// What an invoice is for, from its stored kind (`renewal`, `proration`, ...).
pub fn invoice_kind(kind: &str) -> &'static str {
    match kind {
        "proration" => "Plan upgrade",
        "renewal" => "Monthly plan",
        _ => "Charge",
    }
}

/// A notification channel by its stored name (`email`, `push`, `webhook`, ...).
pub fn channel(name: &str) -> &str {
    match name {
        "email" => "Email",
        "push" => "Push notification",
        "webhook" => "Webhook",
        "home_assistant" => "Home Assistant",
        other => other,
    }
}

/// What became of a notification delivery.
pub fn delivery(status: &str) -> &'static str {
    match status {
        "delivered" => "Delivered",
        "failed" => "Failed",
        "held" => "Held for quiet hours",
        _ => "Sending",
    }
}

/// A payment attempt's outcome.
pub fn payment(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Pending => "Processing",
        PaymentStatus::Succeeded => "Paid",
        PaymentStatus::Failed => "Declined",
        PaymentStatus::Unknown => "Being checked",
        PaymentStatus::Refunded => "Refunded",
    }
}

/// Why a card was declined, from the provider's code (Stripe's decline codes and the
/// sandbox's, which copies them), in words; the provider's own message when it is not a code.
pub fn decline(reason: &str) -> String {
    let words = match reason {
        "generic_decline" | "card_declined" | "do_not_honor" => {
            "the bank declined the card. Try another card or call your bank."
        }
        "insufficient_funds" => "the card has insufficient funds.",
        "expired_card" => "the card has expired.",
        "incorrect_cvc" | "invalid_cvc" => "the security code (CVC) is wrong.",
        "incorrect_number" | "invalid_number" => "the card number is wrong.",
        "invalid_expiry_month" | "invalid_expiry_year" => "the expiry date is not valid.",
        "lost_card" | "stolen_card" | "fraudulent" | "pickup_card" => {
            "the bank refused the card. Use another card."
        }
        "processing_error" => "the card could not be processed. Try again in a minute.",
        other if other.contains('_') || other.is_empty() => "the card was declined.",
        other => return other.to_owned(),
    };
    words.to_owned()
}

/// The power state a mailbox last reported.
pub fn power(state: &str) -> &'static str {
    match state.parse::<PowerState>() {
        Ok(PowerState::Sleep) => "Asleep",
        Ok(PowerState::Awake) => "Awake",
        Ok(PowerState::Uploading) => "Sending",
        Ok(PowerState::Charging) => "Charging",
        Err(_) => "Unknown",
    }
}

/// How a mailbox last connected.
pub fn network(network: Option<&str>) -> &'static str {
    match network {
        Some("cellular") => "Cellular",
        Some("wifi") => "WiFi",
        Some(_) => "Other",
        None => "Not yet connected",
    }
}

/// What use past a plan's limits costs: `$0.05 a notification and $0.20 per started 100 MB of
/// data past the limits`.
pub fn overage(plan: PlanId) -> String {
    let plan = plan.plan();
    let data = money(plan.data_overage_per_100mb.get());
    match plan.notification_overage {
        Some(each) => format!(
            "Past the limits: {} a notification and {data} per started 100 MB of data",
            money(each.get())
        ),
        None => format!("Past the data limit: {data} per started 100 MB"),
    }
}

/// The text with its first letter in capitals.
pub fn capital(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `1 day`, `7 days`; `1 photo`, `2 photos`.
pub fn count(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_state_reads_as_its_stored_name() {
        for s in SubscriptionStatus::ALL {
            assert!(!subscription(*s).contains('_'));
            assert_ne!(subscription(*s), s.as_str());
        }
        for s in LifecycleState::ALL {
            assert!(!lifecycle(*s).contains('_'));
        }
        assert!(!decline("generic_decline").contains('_'));
        assert_eq!(
            decline("Your card was declined."),
            "Your card was declined."
        );
        assert_eq!(decline("some_new_code"), "the card was declined.");
        assert_eq!(count(1, "day", "days"), "1 day");
        assert_eq!(count(7, "day", "days"), "7 days");
        assert_eq!(
            overage(PlanId::Basic),
            "Past the limits: $0.05 a notification and $0.20 per started 100 MB of data"
        );
        assert_eq!(
            overage(PlanId::Premium),
            "Past the data limit: $0.20 per started 100 MB"
        );
    }
}
