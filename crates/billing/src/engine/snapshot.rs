//! A subscription as one billing decision sees it: the stored row parsed into domain types.

use smartbox_domain::lifecycle::LifecycleState;
use smartbox_domain::usage::{SpendCap, UsageCounters};
use smartbox_domain::{BillingPeriod, Cents, PlanId, SubscriptionState, SubscriptionStatus};
use smartbox_store::BillingSubscriptionRow;
use time::OffsetDateTime;

use super::{BillingError, from_ms};
use crate::ids::{CustomerId, PaymentMethodId};

/// A subscription with what billing needs to decide about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub id: String,
    pub device_id: String,
    pub customer_id: String,
    pub plan: PlanId,
    /// A downgrade taking effect at the next period.
    pub pending_plan: Option<PlanId>,
    pub state: SubscriptionState,
    pub anchor: OffsetDateTime,
    /// The period billed last (the trial before the anchor).
    pub period: BillingPeriod,
    pub spend_cap: SpendCap,
    pub version: i64,
    /// The card and customer to charge; `None` when there is nothing to charge.
    pub payer: Option<Payer>,
    pub device_lifecycle: LifecycleState,
    /// Usage counted in `period`.
    pub usage: UsageCounters,
    pub open_invoices: i64,
    pub draft_invoices: i64,
    /// Staff credits the next invoice takes.
    pub pending_credits: i64,
}

/// Who pays, at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Payer {
    pub customer: CustomerId,
    pub payment_method: PaymentMethodId,
}

impl Snapshot {
    pub fn from_row(row: &BillingSubscriptionRow) -> Result<Snapshot, BillingError> {
        let corrupt =
            |what: String| BillingError::Corrupt(format!("subscription {}: {what}", row.id));
        let plan: PlanId = row.plan_id.parse().map_err(|e| corrupt(format!("{e}")))?;
        let pending_plan = row
            .pending_plan_id
            .as_deref()
            .map(str::parse::<PlanId>)
            .transpose()
            .map_err(|e| corrupt(format!("{e}")))?;
        let state = SubscriptionState::restore(
            row.status,
            row.cancel_at_period_end,
            row.past_due_since.map(from_ms),
        )
        .map_err(|e| corrupt(e.to_string()))?;
        let payer = match (
            &row.provider_customer_id,
            row.payment_method_id
                .as_ref()
                .or(row.default_payment_method_id.as_ref()),
        ) {
            (Some(customer), Some(pm)) => Some(Payer {
                customer: CustomerId::new(customer.clone()),
                payment_method: PaymentMethodId::new(pm.clone()),
            }),
            _ => None,
        };
        Ok(Snapshot {
            id: row.id.clone(),
            device_id: row.device_id.clone(),
            customer_id: row.customer_id.clone(),
            plan,
            pending_plan,
            state,
            anchor: from_ms(row.anchor_at),
            period: BillingPeriod {
                start: from_ms(row.current_period_start),
                end: from_ms(row.current_period_end),
            },
            spend_cap: spend_cap(plan, row.spend_cap_cents),
            version: row.version,
            payer,
            device_lifecycle: row.device_lifecycle,
            usage: UsageCounters {
                notifications: u64::try_from(row.period_notifications).unwrap_or(0),
                data_bytes: u64::try_from(row.period_data_bytes).unwrap_or(0),
            },
            open_invoices: row.open_invoices,
            draft_invoices: row.draft_invoices,
            pending_credits: row.pending_credits,
        })
    }

    pub fn status(&self) -> SubscriptionStatus {
        self.state.status()
    }
}

/// The stored cap (`None` = the plan price), brought within what the plan allows.
fn spend_cap(plan: PlanId, stored: Option<i64>) -> SpendCap {
    match stored {
        None => SpendCap::default_for(plan),
        Some(cents) => {
            let within = cents.clamp(0, SpendCap::max_for(plan).get());
            SpendCap::new(plan, Cents::new(within)).unwrap_or_else(|_| SpendCap::default_for(plan))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_cap_outside_the_plans_range_is_brought_within_it() {
        assert_eq!(spend_cap(PlanId::Basic, None).get(), Cents::new(500));
        assert_eq!(spend_cap(PlanId::Basic, Some(0)).get(), Cents::ZERO);
        assert_eq!(
            spend_cap(PlanId::Basic, Some(20_000)).get(),
            Cents::new(5000)
        );
        assert_eq!(spend_cap(PlanId::Basic, Some(-3)).get(), Cents::ZERO);
    }
}
