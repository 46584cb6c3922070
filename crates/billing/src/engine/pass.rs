//! The billing pass: every subscription whose period is over is handled — trials end, periods
//! renew with an invoice and a charge, pending cancels take effect — in batches (one transaction
//! for a batch's decisions, the charges concurrently, one transaction for their answers), then
//! attempts whose outcome stayed unknown are reconciled.
//!
//! Running the pass twice changes nothing: a subscription renewed is no longer due, and a
//! decision taken on a snapshot that changed meanwhile is refused by the store and dropped.

use std::collections::HashSet;
use std::time::Instant;

use futures::stream::{self, StreamExt};
use smartbox_domain::InvoiceStatus;
use smartbox_store::changes::{Applied, Changes};
use time::OffsetDateTime;

use super::collect::Answer;
use super::decide::{self, Cause, InvoiceRef, PeriodEnd, PeriodEndExtras, PeriodEndKind};
use super::snapshot::Snapshot;
use super::{BillingEngine, BillingError, FreshIds, to_ms};

/// What a billing pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    pub trials_ended: usize,
    pub renewed: usize,
    pub canceled: usize,
    /// Invoices paid by the charges of this pass.
    pub paid: usize,
    pub declined: usize,
    /// Charges whose outcome is unknown, left for reconciliation.
    pub unknown: usize,
    /// Decisions dropped because the subscription changed meanwhile (another pass, a webhook).
    pub stale: usize,
    /// Attempts of earlier passes reconciled with the provider.
    pub reconciled: usize,
}

impl PassReport {
    /// Invoices created by the pass (one per trial ended or period renewed).
    pub fn invoices(&self) -> usize {
        self.trials_ended + self.renewed
    }

    fn add(&mut self, other: &PassReport) {
        self.trials_ended += other.trials_ended;
        self.renewed += other.renewed;
        self.canceled += other.canceled;
        self.paid += other.paid;
        self.declined += other.declined;
        self.unknown += other.unknown;
        self.stale += other.stale;
        self.reconciled += other.reconciled;
    }
}

impl BillingEngine {
    /// Handles every subscription whose period ended at or before `now`, then reconciles
    /// attempts whose outcome is unknown. Stops early at `deadline` (what is left waits for the
    /// next pass). `actor` names the caller in the audit log.
    pub async fn run_billing_pass(
        &self,
        now: OffsetDateTime,
        deadline: Option<Instant>,
        actor: &str,
    ) -> Result<PassReport, BillingError> {
        let cause = Cause {
            actor,
            why: "the billing period ended",
            ids: &FreshIds,
        };
        let mut report = PassReport::default();
        let mut seen = HashSet::new();
        let batch_size = self.config.batch_size.max(1);
        let parallel = self.config.parallel_batches.max(1);
        let limit = i64::try_from(batch_size * parallel).unwrap_or(500);
        loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let rows = self.db.due_subscriptions(to_ms(now), limit).await?;
            let fresh: Vec<_> = rows
                .into_iter()
                .filter(|row| seen.insert((row.id.clone(), row.version)))
                .collect();
            if fresh.is_empty() {
                break;
            }
            let mut decisions = Vec::with_capacity(fresh.len());
            for row in &fresh {
                let snapshot = match Snapshot::from_row(row) {
                    Ok(snapshot) => snapshot,
                    Err(error) => {
                        tracing::error!(subscription = %row.id, %error, "billing pass: skipped");
                        continue;
                    }
                };
                let extras = if snapshot.draft_invoices > 0
                    || snapshot.pending_credits > 0
                    || (snapshot.open_invoices > 0 && snapshot.state.cancel_at_period_end())
                {
                    self.period_end_extras(&snapshot).await?
                } else {
                    PeriodEndExtras::default()
                };
                match decide::period_end(&snapshot, &extras, now, self.provider_name(), cause) {
                    Some(decision) => decisions.push(decision),
                    None => tracing::error!(
                        subscription = %snapshot.id,
                        status = snapshot.status().as_str(),
                        "billing pass: no period-end rule applies"
                    ),
                }
            }
            // Batches in flight at once (on PostgreSQL the database works on one while we
            // prepare the next); each covers other subscriptions.
            let mut batches = Vec::new();
            let mut decisions = decisions.into_iter().peekable();
            while decisions.peek().is_some() {
                batches.push(decisions.by_ref().take(batch_size).collect::<Vec<_>>());
            }
            let done = futures::future::join_all(
                batches
                    .into_iter()
                    .map(|batch| self.apply_period_ends(batch, now, cause)),
            )
            .await;
            for batch_report in done {
                report.add(&batch_report?);
            }
        }
        report.reconciled = self.reconcile_stale_attempts(now, actor).await?;
        Ok(report)
    }

    /// Writes a batch of period-end decisions, sends their charges, records the answers.
    async fn apply_period_ends(
        &self,
        decisions: Vec<PeriodEnd>,
        now: OffsetDateTime,
        cause: Cause<'_>,
    ) -> Result<PassReport, BillingError> {
        let mut report = PassReport::default();
        let change_sets: Vec<Changes> = decisions.iter().map(|d| d.changes.clone()).collect();
        let applied = self.db.apply_changes_batch(&change_sets).await?;
        let mut to_charge = Vec::new();
        for (decision, applied) in decisions.into_iter().zip(applied) {
            if let Applied::Stale(_) = applied {
                report.stale += 1;
                continue;
            }
            match decision.kind {
                PeriodEndKind::TrialEnded => report.trials_ended += 1,
                PeriodEndKind::Renewed => report.renewed += 1,
                PeriodEndKind::Canceled => report.canceled += 1,
            }
            if decision.charge.is_some() {
                to_charge.push(decision);
            }
        }

        let answered: Vec<(PeriodEnd, Answer)> = stream::iter(to_charge)
            .map(|decision| async move {
                let answer = match &decision.charge {
                    Some(charge) => self.send(charge).await,
                    None => Answer::Unknown(None, "nothing was sent".into()),
                };
                (decision, answer)
            })
            .buffer_unordered(self.config.charge_concurrency.max(1))
            .collect()
            .await;

        let outcome_sets: Vec<Changes> = answered
            .iter()
            .map(|(decision, answer)| outcome_changes(decision, answer, now, cause))
            .collect();
        let applied = self.db.apply_changes_batch(&outcome_sets).await?;
        for ((decision, answer), applied) in answered.iter().zip(applied) {
            let Some(charge) = &decision.charge else {
                continue;
            };
            if let Applied::Stale(_) = applied {
                // The subscription changed between the two transactions: decide again on what
                // it is now.
                self.record_answer(&charge.attempt(), answer, None, now, cause)
                    .await?;
            }
            match answer {
                Answer::Paid(_) => report.paid += 1,
                Answer::Declined(..) => report.declined += 1,
                Answer::Unknown(..) => report.unknown += 1,
            }
        }
        Ok(report)
    }
}

/// The changes recording `answer` to the charge of a period-end decision, decided on the
/// subscription as that decision left it.
fn outcome_changes(
    decision: &PeriodEnd,
    answer: &Answer,
    now: OffsetDateTime,
    cause: Cause<'_>,
) -> Changes {
    let Some(charge) = &decision.charge else {
        return Changes::new();
    };
    let invoice = InvoiceRef {
        id: charge.invoice_id.clone(),
        status: InvoiceStatus::Open,
    };
    let cause = Cause {
        actor: cause.actor,
        why: "charge of the period's invoice",
        ids: &FreshIds,
    };
    match answer {
        Answer::Paid(intent) => decide::payment_succeeded(
            &decision.after,
            &invoice,
            &charge.payment_id,
            Some(intent),
            None,
            now,
            cause,
        ),
        Answer::Declined(intent, failure) => decide::payment_failed(
            &decision.after,
            &invoice,
            &charge.payment_id,
            failure,
            intent.as_ref(),
            None,
            now,
            cause,
        ),
        Answer::Unknown(intent, reason) => {
            decide::payment_unknown(&charge.payment_id, intent.as_ref(), reason, now)
        }
    }
}
