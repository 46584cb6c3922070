//! Plan changes and cancellation, as the customer asks for them: an upgrade takes effect at once
//! with a prorated invoice (the price difference times the share of the period left, by the
//! second); a downgrade takes effect at the next period; a cancel at the period's end. During the
//! trial nothing is charged, so any plan change applies at once.
//!
//! A proration below the provider's minimum charge (50 cents) is not charged alone: its invoice
//! stays a `draft` and its line is carried into the next renewal invoice (the draft becomes
//! `void`, naming the invoice that carries it).

use serde_json::json;
use smartbox_domain::plan::PlanChange;
use smartbox_domain::proration::prorate_upgrade;
use smartbox_domain::usage::SpendCap;
use smartbox_domain::{
    BillingPeriod, Cents, InvoiceStatus, PlanId, SubscriptionEvent, SubscriptionState,
};
use smartbox_store::changes::{Applied, Changes};
use time::OffsetDateTime;

use super::audit;
use super::collect::ChargeResult;
use super::decide::{self, Cause};
use super::lines;
use super::snapshot::Snapshot;
use super::{BillingEngine, BillingError, FreshIds, MAX_ROUNDS, new_id, to_ms};
use crate::provider::MINIMUM_CHARGE;

/// The cause of a change the customer asked for.
const CUSTOMER_REQUEST: &str = "requested by the customer";

/// What a plan change would do, shown to the customer before they confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanChangePreview {
    pub from: PlanId,
    pub to: PlanId,
    pub change: PlanChange,
    /// When the new plan applies: now for upgrades (and during the trial), the period's end for
    /// downgrades.
    pub effective_at: OffsetDateTime,
    /// The prorated amount of an upgrade, exact to the cent; zero otherwise.
    pub prorated: Cents,
    /// True when `prorated` is charged at once; false when it is below the minimum charge and
    /// carried into the next invoice (or zero).
    pub charged_now: bool,
}

/// What a plan change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanChangeResult {
    /// Already on that plan with nothing pending.
    Unchanged,
    /// Changed at once without a charge (during the trial).
    Changed,
    /// Upgraded at once; `charge` is the prorated invoice's charge when one was made.
    Upgraded {
        prorated: Cents,
        invoice_id: Option<String>,
        charge: Option<ChargeResult>,
    },
    /// The downgrade applies at `effective_at`.
    DowngradeScheduled { effective_at: OffsetDateTime },
    /// A scheduled downgrade was taken back.
    DowngradeWithdrawn,
}

/// The change as decided on a snapshot.
enum Decision {
    Unchanged,
    Immediate,
    Schedule,
    Withdraw,
    Upgrade { prorated: Cents },
}

fn decide_change(
    s: &Snapshot,
    to: PlanId,
    now: OffsetDateTime,
) -> Result<(Decision, PlanChange), BillingError> {
    let change = s.plan.change_to(to);
    match s.state {
        SubscriptionState::Canceled => {
            return Err(BillingError::Conflict("this subscription has ended".into()));
        }
        SubscriptionState::Trialing { .. } => {
            let decision = if change == PlanChange::Same {
                Decision::Unchanged
            } else {
                Decision::Immediate
            };
            return Ok((decision, change));
        }
        _ => {}
    }
    let decision = match change {
        PlanChange::Same if s.pending_plan.is_some() => Decision::Withdraw,
        PlanChange::Same => Decision::Unchanged,
        PlanChange::Downgrade if s.pending_plan == Some(to) => Decision::Unchanged,
        PlanChange::Downgrade => Decision::Schedule,
        PlanChange::Upgrade => {
            if !matches!(s.state, SubscriptionState::Active { .. }) {
                return Err(BillingError::Conflict(
                    "pay the open invoices before upgrading".into(),
                ));
            }
            if !s.period.contains(now) {
                return Err(BillingError::Conflict(
                    "the billing period is being renewed; try again in a minute".into(),
                ));
            }
            let prorated = prorate_upgrade(s.plan, to, s.period, now)
                .map_err(|e| BillingError::Conflict(e.to_string()))?;
            Decision::Upgrade { prorated }
        }
    };
    Ok((decision, change))
}

impl BillingEngine {
    /// What changing the customer's subscription to `to` at `now` would do and cost.
    pub async fn preview_plan_change(
        &self,
        customer_id: &str,
        subscription_id: &str,
        to: PlanId,
        now: OffsetDateTime,
    ) -> Result<PlanChangePreview, BillingError> {
        let s = self.own_snapshot(customer_id, subscription_id).await?;
        let (decision, change) = decide_change(&s, to, now)?;
        let (effective_at, prorated) = match decision {
            Decision::Upgrade { prorated } => (now, prorated),
            Decision::Schedule => (s.period.end, Cents::ZERO),
            Decision::Unchanged | Decision::Immediate | Decision::Withdraw => (now, Cents::ZERO),
        };
        Ok(PlanChangePreview {
            from: s.plan,
            to,
            change,
            effective_at,
            prorated,
            charged_now: prorated >= MINIMUM_CHARGE,
        })
    }

    /// Changes the customer's subscription to `to` at `now`.
    pub async fn change_plan(
        &self,
        customer_id: &str,
        subscription_id: &str,
        to: PlanId,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<PlanChangeResult, BillingError> {
        self.change_plan_because(customer_id, subscription_id, to, now, actor, None)
            .await
    }

    /// [`BillingEngine::change_plan`] with the cause of the audit entries: `why`, or the
    /// customer's request when `None`.
    pub(crate) async fn change_plan_because(
        &self,
        customer_id: &str,
        subscription_id: &str,
        to: PlanId,
        now: OffsetDateTime,
        actor: &str,
        why: Option<&str>,
    ) -> Result<PlanChangeResult, BillingError> {
        let cause = Cause {
            actor,
            why: why.unwrap_or("plan change requested by the customer"),
            ids: &FreshIds,
        };
        let now_ms = to_ms(now);
        for _ in 0..MAX_ROUNDS {
            let s = self.own_snapshot(customer_id, subscription_id).await?;
            let (decision, _) = decide_change(&s, to, now)?;
            let mut changes = Changes::new();
            let detail = json!({ "from_plan": s.plan.as_str(), "to_plan": to.as_str() });
            let (result, open_invoice) = match decision {
                Decision::Unchanged => return Ok(PlanChangeResult::Unchanged),
                Decision::Immediate => {
                    let cap = (to.rank() < s.plan.rank()).then(|| SpendCap::max_for(to));
                    changes.push(decide::subscription_update(
                        &s, s.state, to, None, s.period, cap, now_ms,
                    ));
                    changes.push(audit::entry(
                        now_ms,
                        actor,
                        ("subscription", &s.id),
                        "plan_changed",
                        why.unwrap_or("plan changed during the trial (nothing to prorate)"),
                        detail,
                    ));
                    (PlanChangeResult::Changed, None)
                }
                Decision::Schedule => {
                    changes.push(decide::subscription_update(
                        &s,
                        s.state,
                        s.plan,
                        Some(to),
                        s.period,
                        None,
                        now_ms,
                    ));
                    changes.push(audit::entry(
                        now_ms,
                        actor,
                        ("subscription", &s.id),
                        "downgrade_scheduled",
                        cause.why,
                        json!({ "from_plan": s.plan.as_str(), "to_plan": to.as_str(), "effective_at": to_ms(s.period.end) }),
                    ));
                    (
                        PlanChangeResult::DowngradeScheduled {
                            effective_at: s.period.end,
                        },
                        None,
                    )
                }
                Decision::Withdraw => {
                    changes.push(decide::subscription_update(
                        &s, s.state, s.plan, None, s.period, None, now_ms,
                    ));
                    changes.push(audit::entry(
                        now_ms,
                        actor,
                        ("subscription", &s.id),
                        "downgrade_withdrawn",
                        cause.why,
                        detail,
                    ));
                    (PlanChangeResult::DowngradeWithdrawn, None)
                }
                Decision::Upgrade { prorated } => {
                    changes.push(decide::subscription_update(
                        &s, s.state, to, None, s.period, None, now_ms,
                    ));
                    let invoice_id = (prorated > Cents::ZERO).then(new_id);
                    if let Some(invoice_id) = &invoice_id {
                        let status = if prorated >= MINIMUM_CHARGE {
                            InvoiceStatus::Open
                        } else {
                            InvoiceStatus::Draft
                        };
                        let rest = BillingPeriod {
                            start: now,
                            end: s.period.end,
                        };
                        let line = lines::upgrade(s.plan, to, s.period, now, prorated);
                        changes.push(smartbox_store::changes::Change::InsertInvoice(
                            decide::new_invoice(
                                invoice_id,
                                &s,
                                "proration",
                                rest,
                                status,
                                format!("proration:{}:{now_ms}:{}", s.id, to.as_str()),
                                &[line],
                                now_ms,
                            ),
                        ));
                    }
                    changes.push(audit::entry(
                        now_ms,
                        actor,
                        ("subscription", &s.id),
                        "upgraded",
                        cause.why,
                        json!({
                            "from_plan": s.plan.as_str(),
                            "to_plan": to.as_str(),
                            "prorated_cents": prorated.get(),
                            "invoice_id": invoice_id,
                            "charged_now": prorated >= MINIMUM_CHARGE,
                        }),
                    ));
                    let open = invoice_id.clone().filter(|_| prorated >= MINIMUM_CHARGE);
                    (
                        PlanChangeResult::Upgraded {
                            prorated,
                            invoice_id,
                            charge: None,
                        },
                        open,
                    )
                }
            };
            if let Applied::Stale(_) = self.db.apply_changes(&changes).await? {
                continue;
            }
            return Ok(match (result, open_invoice) {
                (
                    PlanChangeResult::Upgraded {
                        prorated,
                        invoice_id,
                        ..
                    },
                    Some(open),
                ) => PlanChangeResult::Upgraded {
                    prorated,
                    invoice_id,
                    charge: Some(
                        self.charge_invoice(&open, now, actor, "prorated upgrade")
                            .await?,
                    ),
                },
                (result, _) => result,
            });
        }
        Err(BillingError::Contended("changing the plan"))
    }

    /// Cancels the customer's subscription at the end of its current period.
    pub async fn cancel_at_period_end(
        &self,
        customer_id: &str,
        subscription_id: &str,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<OffsetDateTime, BillingError> {
        self.set_cancel(
            customer_id,
            subscription_id,
            SubscriptionEvent::CancelRequested,
            now,
            (actor, CUSTOMER_REQUEST),
        )
        .await
    }

    /// Takes back a pending cancel; the subscription renews as usual.
    pub async fn withdraw_cancel(
        &self,
        customer_id: &str,
        subscription_id: &str,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<OffsetDateTime, BillingError> {
        self.set_cancel(
            customer_id,
            subscription_id,
            SubscriptionEvent::CancelWithdrawn,
            now,
            (actor, CUSTOMER_REQUEST),
        )
        .await
    }

    /// Requests or withdraws a cancel; the audit entry names `actor` and `why`.
    /// Returns the end of the current period (when a cancel takes effect).
    pub(crate) async fn set_cancel(
        &self,
        customer_id: &str,
        subscription_id: &str,
        event: SubscriptionEvent,
        now: OffsetDateTime,
        (actor, why): (&str, &str),
    ) -> Result<OffsetDateTime, BillingError> {
        let now_ms = to_ms(now);
        for _ in 0..MAX_ROUNDS {
            let s = self.own_snapshot(customer_id, subscription_id).await?;
            let transition = s
                .state
                .apply(event)
                .map_err(|_| BillingError::Conflict("this subscription has ended".into()))?;
            if transition.to == s.state {
                return Ok(s.period.end);
            }
            let mut changes = Changes::new();
            changes.push(decide::state_update(&s, transition.to, now_ms));
            changes.push(audit::entry(
                now_ms,
                actor,
                ("subscription", &s.id),
                event.name(),
                why,
                json!({
                    "effective_at": to_ms(s.period.end),
                    "before": { "cancel_at_period_end": s.state.cancel_at_period_end() },
                    "after": { "cancel_at_period_end": transition.to.cancel_at_period_end() },
                }),
            ));
            if self.db.apply_changes(&changes).await? == Applied::Done {
                return Ok(s.period.end);
            }
        }
        Err(BillingError::Contended("changing the cancellation"))
    }
}
