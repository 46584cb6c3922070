//! The billing decisions, pure: from a snapshot and an event (a period ended, a charge came back,
//! grace expired) to the `Changes` to write, using the domain's state machines for every state
//! change and its effects. Nothing here reads or writes anything.

use serde_json::json;
use smartbox_domain::lifecycle::{LifecycleEvent, LifecycleState};
use smartbox_domain::period::{nth_period, period_index_containing};
use smartbox_domain::usage::{SpendCap, UsageCounters};
use smartbox_domain::{
    BillingPeriod, Cents, InvoiceStatus, PaymentStatus, PlanId, SubscriptionEffect,
    SubscriptionEvent, SubscriptionState, SubscriptionStatus,
};
use smartbox_store::changes::{
    Change, Changes, InvoiceStatusUpdate, NewInvoice, NewPayment, PaymentUpdate, SubscriptionUpdate,
};
use time::OffsetDateTime;

use super::audit;
use super::jobs::{grace_expiry_at, grace_key_prefix, retry_at, retry_key_prefix};
use super::lines::{self, Line};
use super::snapshot::{Payer, Snapshot};
use super::to_ms;
use crate::ids::PaymentIntentId;
use crate::provider::{MINIMUM_CHARGE, PaymentFailure};

/// Payment statuses an attempt may leave for `succeeded`: a success is never lost, even after a
/// failure was recorded (a late webhook, a reconciliation).
pub(crate) const SETTLE_SUCCESS_FROM: [PaymentStatus; 3] = [
    PaymentStatus::Pending,
    PaymentStatus::Unknown,
    PaymentStatus::Failed,
];
/// Payment statuses an attempt may leave for `failed` or `unknown`.
pub(crate) const SETTLE_FAILURE_FROM: [PaymentStatus; 2] =
    [PaymentStatus::Pending, PaymentStatus::Unknown];

/// Failure code of an attempt made without a card on file.
pub(crate) const NO_PAYMENT_METHOD: &str = "payment_method_missing";

/// A charge to send to the provider once the decision that recorded its attempt is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingCharge {
    pub invoice_id: String,
    pub subscription_id: String,
    pub payment_id: String,
    pub amount: Cents,
    pub payer: Payer,
}

impl PendingCharge {
    pub fn attempt(&self) -> Attempt {
        Attempt {
            invoice_id: self.invoice_id.clone(),
            subscription_id: self.subscription_id.clone(),
            payment_id: self.payment_id.clone(),
        }
    }
}

/// A recorded payment attempt of an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attempt {
    pub invoice_id: String,
    pub subscription_id: String,
    pub payment_id: String,
}

/// A draft invoice (a proration too small to charge alone) to carry into the next invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Draft {
    pub id: String,
    pub number: String,
    pub lines: Vec<Line>,
}

/// A staff credit the next renewal invoice takes, as a negative line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credit {
    pub id: String,
    pub description: String,
    pub amount: Cents,
}

/// What a period-end decision needs beyond the snapshot; usually empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PeriodEndExtras {
    pub drafts: Vec<Draft>,
    /// Credits to take, oldest first (the renewal takes them; a final invoice leaves them).
    pub credits: Vec<Credit>,
    /// Open invoices, written off when the subscription ends.
    pub open_invoice_ids: Vec<String>,
}

/// How a period ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeriodEndKind {
    TrialEnded,
    Renewed,
    Canceled,
}

/// The decision at a period's end.
#[derive(Debug, Clone)]
pub(crate) struct PeriodEnd {
    pub kind: PeriodEndKind,
    pub changes: Changes,
    /// The charge to make once written.
    pub charge: Option<PendingCharge>,
    /// The subscription as it is once the changes are written.
    pub after: Snapshot,
}

/// An invoice as decisions about its payment see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvoiceRef {
    pub id: String,
    pub status: InvoiceStatus,
}

/// Who and why, for the audit log, and where the ids of the rows a decision creates come from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cause<'a> {
    pub actor: &'a str,
    pub why: &'a str,
    /// Ids for new invoices, payment attempts and jobs: the engine passes
    /// [`super::FreshIds`], so the decision itself draws nothing and stays pure.
    pub ids: &'a dyn NewIds,
}

/// A source of ids for the rows a decision creates.
pub(crate) trait NewIds: std::fmt::Debug + Sync {
    fn next_id(&self) -> String;
}

/// The decision for a subscription whose current period is over at `now`: end the trial, renew
/// into the period containing `now` (invoice and charge), or end a subscription that was asked
/// to cancel. `None` when the state machine says nothing applies.
pub(crate) fn period_end(
    s: &Snapshot,
    extras: &PeriodEndExtras,
    now: OffsetDateTime,
    provider: &str,
    cause: Cause<'_>,
) -> Option<PeriodEnd> {
    let trial = matches!(s.state, SubscriptionState::Trialing { .. });
    let event = if trial {
        SubscriptionEvent::TrialEnded {
            has_payment_method: s.payer.is_some(),
            at: s.period.end,
        }
    } else {
        SubscriptionEvent::PeriodEnded
    };
    let transition = s.state.apply(event).ok()?;
    if transition.to == SubscriptionState::Canceled {
        return Some(cancel_at_period_end(
            s,
            extras,
            &transition.effects,
            trial,
            now,
            provider,
            cause,
        ));
    }
    Some(renew(
        s,
        extras,
        transition.to,
        &transition.effects,
        trial,
        now,
        provider,
        cause,
    ))
}

#[allow(clippy::too_many_arguments)]
fn renew(
    s: &Snapshot,
    extras: &PeriodEndExtras,
    mut state: SubscriptionState,
    effects: &[SubscriptionEffect],
    trial: bool,
    now: OffsetDateTime,
    provider: &str,
    cause: Cause<'_>,
) -> PeriodEnd {
    let now_ms = to_ms(now);
    // Renew into the period containing now: normally the next one; after a suspension (or a
    // stopped server) the periods in between are skipped, not billed.
    let index = period_index_containing(s.anchor, now.max(s.period.end)).unwrap_or(0);
    let period = nth_period(s.anchor, index);
    let plan = s.pending_plan.unwrap_or(s.plan);

    let invoice_id = cause.ids.next_id();
    let mut invoice_lines = vec![lines::plan_price(plan, period)];
    if !trial {
        invoice_lines.extend(lines::overage_lines(s.plan, s.usage, s.spend_cap, s.period));
    }
    invoice_lines.extend(carried_lines(&extras.drafts));
    let credits = credits_within(&extras.credits, lines::total(&invoice_lines));
    invoice_lines.extend(credits.iter().map(|c| Line {
        description: c.description.clone(),
        amount: -c.amount,
    }));
    let total = lines::total(&invoice_lines);

    let mut changes = Changes::new();
    let mut later = Vec::new();
    changes.push(Change::InsertInvoice(new_invoice(
        &invoice_id,
        s,
        "renewal",
        period,
        InvoiceStatus::Open,
        format!("renewal:{}:{}", s.id, to_ms(period.start)),
        &invoice_lines,
        now_ms,
    )));
    for draft in &extras.drafts {
        changes.push(carry(draft, &invoice_id));
    }
    for credit in &credits {
        changes.push(Change::ApplyCredit {
            id: credit.id.clone(),
            invoice_id: invoice_id.clone(),
        });
    }

    let mut all_effects: Vec<SubscriptionEffect> = effects.to_vec();
    let wants_charge = effects.contains(&SubscriptionEffect::RequestCharge);
    let mut charge = None;
    let payment_id = cause.ids.next_id();
    match (&s.payer, wants_charge) {
        (Some(payer), true) => {
            changes.push(Change::InsertPayment(pending_payment(
                &payment_id,
                &invoice_id,
                total,
                provider,
                now_ms,
            )));
            charge = Some(PendingCharge {
                invoice_id: invoice_id.clone(),
                subscription_id: s.id.clone(),
                payment_id,
                amount: total,
                payer: payer.clone(),
            });
        }
        (None, _) | (_, false) => {
            // Nothing to charge (a trial ending without a card, or a card removed): the attempt
            // is recorded as failed, and it counts as a declined charge.
            changes.push(Change::InsertPayment(missing_card_payment(
                &payment_id,
                &invoice_id,
                total,
                provider,
                now_ms,
            )));
            if wants_charge
                && let Ok(failed) = state.apply(SubscriptionEvent::PaymentFailed { at: now })
            {
                state = failed.to;
                all_effects.extend(failed.effects);
            }
        }
    }

    let cap_at_most = (plan != s.plan).then(|| SpendCap::max_for(plan));
    changes.push(subscription_update(
        s,
        state,
        plan,
        None,
        period,
        cap_at_most,
        now_ms,
    ));
    changes.push(Change::OpenUsagePeriod {
        subscription_id: s.id.clone(),
        period_start: to_ms(period.start),
        period_end: to_ms(period.end),
    });
    let kind = if trial {
        PeriodEndKind::TrialEnded
    } else {
        PeriodEndKind::Renewed
    };
    let action = if trial { "trial_ended" } else { "renewed" };
    changes.push(audit::entry(
        now_ms,
        cause.actor,
        ("subscription", &s.id),
        action,
        cause.why,
        json!({
            "from_status": s.status().as_str(),
            "to_status": state.status().as_str(),
            "plan": plan.as_str(),
            "previous_plan": s.plan.as_str(),
            "period_start": to_ms(period.start),
            "period_end": to_ms(period.end),
            "invoice_id": invoice_id,
            "total_cents": total.get(),
        }),
    ));
    effect_changes(s, &all_effects, now, cause, &mut changes, &mut later);
    changes.ops.extend(later);

    let after = Snapshot {
        plan,
        pending_plan: None,
        state,
        period,
        spend_cap: cap_at_most.map_or(s.spend_cap, |max| {
            SpendCap::new(plan, s.spend_cap.get().min(max)).unwrap_or(s.spend_cap)
        }),
        version: s.version + 1,
        usage: UsageCounters::default(),
        open_invoices: s.open_invoices + 1,
        draft_invoices: 0,
        pending_credits: s.pending_credits - credits.len() as i64,
        ..s.clone()
    };
    PeriodEnd {
        kind,
        changes,
        charge,
        after,
    }
}

fn cancel_at_period_end(
    s: &Snapshot,
    extras: &PeriodEndExtras,
    effects: &[SubscriptionEffect],
    trial: bool,
    now: OffsetDateTime,
    provider: &str,
    cause: Cause<'_>,
) -> PeriodEnd {
    let now_ms = to_ms(now);
    let mut changes = Changes::new();
    let mut later = Vec::new();
    let state = SubscriptionState::Canceled;
    changes.push(subscription_update(
        s, state, s.plan, None, s.period, None, now_ms,
    ));
    for open in &extras.open_invoice_ids {
        changes.push(Change::SetInvoiceStatus(InvoiceStatusUpdate {
            id: open.clone(),
            from: vec![InvoiceStatus::Open],
            to: InvoiceStatus::Uncollectible,
            paid_at: None,
            carried_into: None,
        }));
        changes.push(audit::entry(
            now_ms,
            cause.actor,
            ("invoice", open),
            "written_off",
            "the subscription ended with this invoice unpaid",
            json!({ "to_status": InvoiceStatus::Uncollectible.as_str() }),
        ));
    }

    let mut charge = None;
    let mut final_invoice = None;
    if effects.contains(&SubscriptionEffect::InvoiceFinalOverage) && !trial {
        let mut invoice_lines = lines::overage_lines(s.plan, s.usage, s.spend_cap, s.period);
        invoice_lines.extend(carried_lines(&extras.drafts));
        let total = lines::total(&invoice_lines);
        if total > Cents::ZERO {
            let invoice_id = cause.ids.next_id();
            // Below the provider's minimum charge the last overage is waived; without a card it
            // cannot be collected from a subscription that has ended.
            let status = if total < MINIMUM_CHARGE {
                InvoiceStatus::Void
            } else if s.payer.is_none() {
                InvoiceStatus::Uncollectible
            } else {
                InvoiceStatus::Open
            };
            let boundary = BillingPeriod {
                start: s.period.end,
                end: s.period.end,
            };
            changes.push(Change::InsertInvoice(new_invoice(
                &invoice_id,
                s,
                "renewal",
                boundary,
                status,
                format!("final:{}:{}", s.id, to_ms(s.period.end)),
                &invoice_lines,
                now_ms,
            )));
            for draft in &extras.drafts {
                changes.push(carry(draft, &invoice_id));
            }
            if let (Some(payer), InvoiceStatus::Open) = (&s.payer, status) {
                let payment_id = cause.ids.next_id();
                changes.push(Change::InsertPayment(pending_payment(
                    &payment_id,
                    &invoice_id,
                    total,
                    provider,
                    now_ms,
                )));
                charge = Some(PendingCharge {
                    invoice_id: invoice_id.clone(),
                    subscription_id: s.id.clone(),
                    payment_id,
                    amount: total,
                    payer: payer.clone(),
                });
            }
            final_invoice = Some((invoice_id, status, total));
        }
    }
    changes.push(audit::entry(
        now_ms,
        cause.actor,
        ("subscription", &s.id),
        "canceled",
        "cancel requested; effective at the end of the period",
        json!({
            "from_status": s.status().as_str(),
            "to_status": SubscriptionStatus::Canceled.as_str(),
            "period_end": to_ms(s.period.end),
            "final_invoice_id": final_invoice.as_ref().map(|f| f.0.clone()),
            "final_invoice_status": final_invoice.as_ref().map(|f| f.1.as_str()),
            "final_overage_cents": final_invoice.as_ref().map(|f| f.2.get()),
            "by": cause.why,
        }),
    ));
    effect_changes(s, effects, now, cause, &mut changes, &mut later);
    changes.ops.extend(later);
    let after = Snapshot {
        state,
        version: s.version + 1,
        open_invoices: i64::from(charge.is_some()),
        draft_invoices: 0,
        ..s.clone()
    };
    PeriodEnd {
        kind: PeriodEndKind::Canceled,
        changes,
        charge,
        after,
    }
}

/// A charge of `invoice` came back paid (or a reconciliation or webhook says so).
pub(crate) fn payment_succeeded(
    s: &Snapshot,
    invoice: &InvoiceRef,
    payment_id: &str,
    intent: Option<&PaymentIntentId>,
    event_created: Option<i64>,
    now: OffsetDateTime,
    cause: Cause<'_>,
) -> Changes {
    let now_ms = to_ms(now);
    let mut changes = Changes::new();
    changes.push(Change::UpdatePayment(PaymentUpdate {
        id: payment_id.to_owned(),
        from: SETTLE_SUCCESS_FROM.to_vec(),
        status: PaymentStatus::Succeeded,
        provider_payment_id: intent.map(|i| i.as_str().to_owned()),
        failure_code: None,
        failure_message: None,
        provider_event_created: event_created,
        updated_at: now_ms,
    }));
    let was_open = invoice.status == InvoiceStatus::Open;
    if was_open || invoice.status == InvoiceStatus::Uncollectible {
        changes.push(Change::SetInvoiceStatus(InvoiceStatusUpdate {
            id: invoice.id.clone(),
            from: vec![invoice.status],
            to: InvoiceStatus::Paid,
            paid_at: Some(now_ms),
            carried_into: None,
        }));
    }
    changes.push(audit::entry(
        now_ms,
        cause.actor,
        ("invoice", &invoice.id),
        "paid",
        cause.why,
        json!({ "payment_id": payment_id, "provider_payment_id": intent.map(PaymentIntentId::as_str) }),
    ));
    let still_open = s.open_invoices - i64::from(was_open);
    if still_open > 0 {
        // Other invoices of this subscription are unpaid: collect them now with this card.
        changes.push(retry_at(&s.id, now, cause.ids.next_id()));
        return changes;
    }
    if let Ok(transition) = s.state.apply(SubscriptionEvent::PaymentSucceeded)
        && transition.to != s.state
    {
        changes.push(state_update(s, transition.to, now_ms));
        changes.push(status_audit(s, transition.to, now_ms, cause));
        let mut later = Vec::new();
        effect_changes(s, &transition.effects, now, cause, &mut changes, &mut later);
        changes.ops.extend(later);
    }
    changes
}

/// A charge of `invoice` was declined (or nothing could be charged).
#[allow(clippy::too_many_arguments)]
pub(crate) fn payment_failed(
    s: &Snapshot,
    invoice: &InvoiceRef,
    payment_id: &str,
    failure: &PaymentFailure,
    intent: Option<&PaymentIntentId>,
    event_created: Option<i64>,
    now: OffsetDateTime,
    cause: Cause<'_>,
) -> Changes {
    let now_ms = to_ms(now);
    let mut changes = Changes::new();
    changes.push(Change::UpdatePayment(PaymentUpdate {
        id: payment_id.to_owned(),
        from: SETTLE_FAILURE_FROM.to_vec(),
        status: PaymentStatus::Failed,
        provider_payment_id: intent.map(|i| i.as_str().to_owned()),
        failure_code: Some(failure.reason().to_owned()),
        failure_message: Some(failure.message.clone()),
        provider_event_created: event_created,
        updated_at: now_ms,
    }));
    changes.push(audit::entry(
        now_ms,
        cause.actor,
        ("invoice", &invoice.id),
        "payment_failed",
        cause.why,
        json!({ "payment_id": payment_id, "failure_code": failure.reason(), "message": failure.message }),
    ));
    apply_decline(s, invoice, now, cause, &mut changes);
    changes
}

/// The subscription side of a declined charge: dunning starts (or goes on); a subscription that
/// has ended writes the invoice off instead.
fn apply_decline(
    s: &Snapshot,
    invoice: &InvoiceRef,
    now: OffsetDateTime,
    cause: Cause<'_>,
    changes: &mut Changes,
) {
    let now_ms = to_ms(now);
    if s.state == SubscriptionState::Canceled {
        if invoice.status == InvoiceStatus::Open {
            changes.push(Change::SetInvoiceStatus(InvoiceStatusUpdate {
                id: invoice.id.clone(),
                from: vec![InvoiceStatus::Open],
                to: InvoiceStatus::Uncollectible,
                paid_at: None,
                carried_into: None,
            }));
        }
        return;
    }
    if let Ok(transition) = s.state.apply(SubscriptionEvent::PaymentFailed { at: now })
        && transition.to != s.state
    {
        changes.push(state_update(s, transition.to, now_ms));
        changes.push(status_audit(s, transition.to, now_ms, cause));
        let mut later = Vec::new();
        effect_changes(s, &transition.effects, now, cause, changes, &mut later);
        changes.ops.extend(later);
    }
}

/// A charge whose outcome is not known yet: kept for reconciliation.
pub(crate) fn payment_unknown(
    payment_id: &str,
    intent: Option<&PaymentIntentId>,
    reason: &str,
    now: OffsetDateTime,
) -> Changes {
    Changes {
        ops: vec![Change::UpdatePayment(PaymentUpdate {
            id: payment_id.to_owned(),
            from: vec![PaymentStatus::Pending],
            status: PaymentStatus::Unknown,
            provider_payment_id: intent.map(|i| i.as_str().to_owned()),
            failure_code: None,
            failure_message: Some(reason.to_owned()),
            provider_event_created: None,
            updated_at: to_ms(now),
        })],
    }
}

/// An attempt that reconciliation found never reached the provider: closed, so a new attempt
/// may start. Not a decline: dunning does not move.
pub(crate) fn payment_never_sent(payment_id: &str, now: OffsetDateTime) -> Changes {
    Changes {
        ops: vec![Change::UpdatePayment(PaymentUpdate {
            id: payment_id.to_owned(),
            from: SETTLE_FAILURE_FROM.to_vec(),
            status: PaymentStatus::Failed,
            provider_payment_id: None,
            failure_code: Some("not_sent".into()),
            failure_message: Some("The attempt never reached the payment provider.".into()),
            provider_event_created: None,
            updated_at: to_ms(now),
        })],
    }
}

/// A new attempt for `invoice`: pending with a card, or failed at once without one.
pub(crate) fn new_attempt(
    s: &Snapshot,
    invoice: &InvoiceRef,
    amount: Cents,
    provider: &str,
    now: OffsetDateTime,
    cause: Cause<'_>,
) -> (Changes, Option<PendingCharge>) {
    let now_ms = to_ms(now);
    let payment_id = cause.ids.next_id();
    let mut changes = Changes::new();
    match &s.payer {
        Some(payer) => {
            changes.push(Change::InsertPayment(pending_payment(
                &payment_id,
                &invoice.id,
                amount,
                provider,
                now_ms,
            )));
            let charge = PendingCharge {
                invoice_id: invoice.id.clone(),
                subscription_id: s.id.clone(),
                payment_id,
                amount,
                payer: payer.clone(),
            };
            (changes, Some(charge))
        }
        None => {
            changes.push(Change::InsertPayment(missing_card_payment(
                &payment_id,
                &invoice.id,
                amount,
                provider,
                now_ms,
            )));
            changes.push(audit::entry(
                now_ms,
                cause.actor,
                ("invoice", &invoice.id),
                "payment_failed",
                cause.why,
                json!({ "payment_id": payment_id, "failure_code": NO_PAYMENT_METHOD }),
            ));
            apply_decline(s, invoice, now, cause, &mut changes);
            (changes, None)
        }
    }
}

/// The grace-expiry job of the episode ending at `at` ran: suspend if still unpaid. `None` when
/// it no longer applies (paid meanwhile, or a job of an earlier episode).
pub(crate) fn grace_expired(
    s: &Snapshot,
    at: OffsetDateTime,
    now: OffsetDateTime,
    cause: Cause<'_>,
) -> Option<Changes> {
    let transition = s.state.apply(SubscriptionEvent::GraceExpired { at }).ok()?;
    if transition.to == s.state {
        return None;
    }
    let now_ms = to_ms(now);
    let mut changes = Changes::new();
    changes.push(state_update(s, transition.to, now_ms));
    changes.push(status_audit(s, transition.to, now_ms, cause));
    let mut later = Vec::new();
    effect_changes(s, &transition.effects, now, cause, &mut changes, &mut later);
    changes.ops.extend(later);
    Some(changes)
}

/// The subscription columns for a move to `state`, keeping its plan and period.
pub(crate) fn state_update(s: &Snapshot, state: SubscriptionState, now_ms: i64) -> Change {
    subscription_update(s, state, s.plan, s.pending_plan, s.period, None, now_ms)
}

/// The subscription columns for `state` and the given plan and period.
pub(crate) fn subscription_update(
    s: &Snapshot,
    state: SubscriptionState,
    plan: PlanId,
    pending_plan: Option<PlanId>,
    period: BillingPeriod,
    spend_cap_at_most: Option<Cents>,
    now_ms: i64,
) -> Change {
    Change::UpdateSubscription(SubscriptionUpdate {
        id: s.id.clone(),
        expected_version: s.version,
        plan_id: plan.as_str().to_owned(),
        pending_plan_id: pending_plan.map(|p| p.as_str().to_owned()),
        status: state.status(),
        current_period_start: to_ms(period.start),
        current_period_end: to_ms(period.end),
        cancel_at_period_end: state.cancel_at_period_end(),
        past_due_since: state.past_due_since().map(to_ms),
        spend_cap_at_most: spend_cap_at_most.map(Cents::get),
        updated_at: now_ms,
    })
}

/// The audit entry of a status change.
pub(crate) fn status_audit(
    s: &Snapshot,
    to: SubscriptionState,
    now_ms: i64,
    cause: Cause<'_>,
) -> Change {
    audit::entry(
        now_ms,
        cause.actor,
        ("subscription", &s.id),
        "status_changed",
        cause.why,
        json!({ "from_status": s.status().as_str(), "to_status": to.status().as_str() }),
    )
}

/// The changes the state machine's effects ask for (charging aside, which the caller does).
/// Job cancellations go to `changes`, new jobs to `later`, so a cancel never hits a job enqueued
/// by the same decision.
fn effect_changes(
    s: &Snapshot,
    effects: &[SubscriptionEffect],
    now: OffsetDateTime,
    cause: Cause<'_>,
    changes: &mut Changes,
    later: &mut Vec<Change>,
) {
    let now_ms = to_ms(now);
    for effect in effects {
        match *effect {
            SubscriptionEffect::ScheduleRetry { at } => {
                later.push(retry_at(&s.id, at, cause.ids.next_id()))
            }
            SubscriptionEffect::ScheduleGraceExpiry { at } => {
                later.push(grace_expiry_at(&s.id, at, cause.ids.next_id()));
            }
            SubscriptionEffect::CancelDunning => {
                for key_prefix in [retry_key_prefix(&s.id), grace_key_prefix(&s.id)] {
                    changes.push(Change::CancelQueuedJobs {
                        key_prefix,
                        reason: "canceled: the debt was settled".into(),
                        now: now_ms,
                    });
                }
            }
            SubscriptionEffect::SuspendDevice => {
                device_change(s, LifecycleEvent::Suspend, now_ms, cause, changes);
            }
            SubscriptionEffect::ResumeDevice => {
                device_change(s, LifecycleEvent::Resume, now_ms, cause, changes);
            }
            SubscriptionEffect::RequestCharge | SubscriptionEffect::InvoiceFinalOverage => {}
        }
    }
}

/// Moves the device's lifecycle when its state machine allows it (a device returned or
/// decommissioned meanwhile is left alone).
fn device_change(
    s: &Snapshot,
    event: LifecycleEvent,
    now_ms: i64,
    cause: Cause<'_>,
    changes: &mut Changes,
) {
    let Ok(transition) = s.device_lifecycle.apply(event) else {
        return;
    };
    let from: LifecycleState = s.device_lifecycle;
    changes.push(Change::SetDeviceLifecycle {
        device_id: s.device_id.clone(),
        from,
        to: transition.to,
    });
    changes.push(audit::entry(
        now_ms,
        cause.actor,
        ("device", &s.device_id),
        "lifecycle_changed",
        cause.why,
        json!({
            "from": from.as_str(),
            "to": transition.to.as_str(),
            "subscription_id": s.id,
        }),
    ));
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn new_invoice(
    id: &str,
    s: &Snapshot,
    kind: &str,
    period: BillingPeriod,
    status: InvoiceStatus,
    idempotency_key: String,
    invoice_lines: &[Line],
    now_ms: i64,
) -> NewInvoice {
    NewInvoice {
        id: id.to_owned(),
        subscription_id: s.id.clone(),
        customer_id: s.customer_id.clone(),
        kind: kind.to_owned(),
        period_start: to_ms(period.start),
        period_end: to_ms(period.end),
        status,
        total_cents: lines::total(invoice_lines).get(),
        idempotency_key,
        created_at: now_ms,
        lines: invoice_lines
            .iter()
            .map(|l| (l.description.clone(), l.amount.get()))
            .collect(),
    }
}

pub(crate) fn pending_payment(
    id: &str,
    invoice_id: &str,
    amount: Cents,
    provider: &str,
    now_ms: i64,
) -> NewPayment {
    NewPayment {
        id: id.to_owned(),
        invoice_id: invoice_id.to_owned(),
        amount_cents: amount.get(),
        status: PaymentStatus::Pending,
        provider: provider.to_owned(),
        provider_payment_id: None,
        failure_code: None,
        failure_message: None,
        created_at: now_ms,
    }
}

fn missing_card_payment(
    id: &str,
    invoice_id: &str,
    amount: Cents,
    provider: &str,
    now_ms: i64,
) -> NewPayment {
    NewPayment {
        status: PaymentStatus::Failed,
        failure_code: Some(NO_PAYMENT_METHOD.into()),
        failure_message: Some("No card on file to charge.".into()),
        ..pending_payment(id, invoice_id, amount, provider, now_ms)
    }
}

/// The credits an invoice of `total` takes, oldest first: as many whole credits as leave it at
/// least the provider's minimum charge; the others wait for a later invoice. (Staff cannot credit
/// more than that against one plan price, so normally every credit is taken.)
fn credits_within(credits: &[Credit], total: Cents) -> Vec<Credit> {
    let mut left = total;
    credits
        .iter()
        .filter(|c| {
            let fits = left - c.amount >= MINIMUM_CHARGE;
            if fits {
                left -= c.amount;
            }
            fits
        })
        .cloned()
        .collect()
}

/// The lines of drafts, each saying which invoice it comes from.
fn carried_lines(drafts: &[Draft]) -> Vec<Line> {
    drafts
        .iter()
        .flat_map(|draft| {
            draft.lines.iter().map(|line| Line {
                description: format!("{} (carried over from {})", line.description, draft.number),
                amount: line.amount,
            })
        })
        .collect()
}

/// Voids a draft, naming the invoice that carries it.
fn carry(draft: &Draft, into: &str) -> Change {
    Change::SetInvoiceStatus(InvoiceStatusUpdate {
        id: draft.id.clone(),
        from: vec![InvoiceStatus::Draft],
        to: InvoiceStatus::Void,
        paid_at: None,
        carried_into: Some(into.to_owned()),
    })
}
