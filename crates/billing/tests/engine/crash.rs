//! Never charge twice, never lose a payment: the process dies between "charge requested" and
//! "charge recorded" (or the answer times out); after a restart the attempt is reconciled with
//! the provider before anything is charged again, and the invoice ends up paid exactly once.

use std::sync::Arc;

use smartbox_billing::BillingEngine;
use smartbox_billing::engine::ChargeResult;
use smartbox_domain::{InvoiceStatus, PlanId};
use time::Duration;
use time::macros::datetime;

use crate::support::{
    CARD_OK, TestProvider, World, backends, claim, invoices, payments, subscription,
};

const CLAIMED: time::OffsetDateTime = datetime!(2027-06-01 10:00 UTC);
const TRIAL_END: time::OffsetDateTime = datetime!(2027-06-08 10:00 UTC);

/// Runs a billing pass that dies inside the provider call, as a killed process would.
async fn crashing_pass(engine: &BillingEngine, at: time::OffsetDateTime) {
    let engine = engine.clone();
    let died =
        tokio::spawn(async move { engine.run_billing_pass(at, None, "test:pass").await }).await;
    assert!(
        died.is_err_and(|e| e.is_panic()),
        "the pass must die mid-charge"
    );
}

#[tokio::test]
async fn a_process_killed_after_the_provider_charged_is_reconciled_and_the_invoice_paid_once() {
    for t in backends().await {
        let w = World::new(&t.db, CLAIMED);
        let c = claim(&w.db, "kill", PlanId::Basic, CLAIMED).await;
        w.add_card(&c, CARD_OK).await;

        w.provider.crash_after_next_charge();
        crashing_pass(&w.engine, TRIAL_END).await;
        let invoice = invoices(&w.db, &c).await.remove(0);
        assert_eq!(invoice.status, "open");
        let attempts = payments(&w.db, &invoice).await;
        assert_eq!(attempts.len(), 1);
        assert_eq!(
            attempts[0].status, "pending",
            "recorded before the provider was called"
        );
        assert_eq!(w.provider.charges(), 1, "the provider did charge");

        // Restart: a new process (engine and provider client) on the same database and the
        // same provider account.
        let restarted = TestProvider::new(w.provider.inner());
        let mut w = World::with_provider(
            &t.db,
            Arc::clone(&restarted),
            TRIAL_END + Duration::minutes(1),
        );
        w.run_due().await;
        w.add_card(&c, CARD_OK).await;
        assert_eq!(
            invoices(&w.db, &c).await[0].status,
            "open",
            "an attempt younger than the in-flight grace may still be under way: not charged again"
        );
        assert_eq!(restarted.charges(), 0);

        w.advance(Duration::minutes(5)).await;
        let invoice = invoices(&w.db, &c).await.remove(0);
        assert_eq!(invoice.status, "paid", "{}", w.backend());
        let attempts = payments(&w.db, &invoice).await;
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].status, "succeeded");
        assert_eq!(restarted.charges(), 0, "reconciled, never charged again");
        assert_eq!(subscription(&w.db, &c).await.status, "active");
    }
}

#[tokio::test]
async fn a_process_killed_before_the_provider_was_called_charges_once_after_restart() {
    for t in backends().await {
        let w = World::new(&t.db, CLAIMED);
        let c = claim(&w.db, "early", PlanId::Basic, CLAIMED).await;
        w.add_card(&c, CARD_OK).await;
        w.provider.crash_before_next_charge();
        crashing_pass(&w.engine, TRIAL_END).await;
        assert_eq!(w.provider.charges(), 0);

        let restarted = TestProvider::new(w.provider.inner());
        let mut w = World::with_provider(&t.db, Arc::clone(&restarted), TRIAL_END);
        w.advance(Duration::minutes(3)).await;
        let invoice = invoices(&w.db, &c).await.remove(0);
        assert_eq!(invoice.status, "paid");
        let attempts: Vec<(String, Option<String>)> = payments(&w.db, &invoice)
            .await
            .into_iter()
            .map(|p| (p.status.to_string(), p.failure_code))
            .collect();
        assert_eq!(
            attempts,
            [
                ("failed".to_owned(), Some("not_sent".to_owned())),
                ("succeeded".to_owned(), None)
            ]
        );
        assert_eq!(restarted.charges(), 1);
        assert_eq!(
            subscription(&w.db, &c).await.status,
            "active",
            "a lost attempt is no decline"
        );
    }
}

#[tokio::test]
async fn a_timed_out_charge_stays_unknown_until_reconciled_and_blocks_a_second_charge() {
    for t in backends().await {
        let mut w = World::new(&t.db, CLAIMED);
        let c = claim(&w.db, "slow", PlanId::Basic, CLAIMED).await;
        w.add_card(&c, CARD_OK).await;
        w.provider.lose_next_answer();
        w.advance_to(TRIAL_END).await;
        let invoice = invoices(&w.db, &c).await.remove(0);
        assert_eq!(payments(&w.db, &invoice).await[0].status, "unknown");
        let again = w
            .engine
            .charge_invoice(&invoice.id, w.now, "test", "impatient retry")
            .await
            .expect("charge");
        assert_eq!(
            again,
            ChargeResult::InFlight {
                invoice_id: invoice.id.clone()
            }
        );
        assert_eq!(w.provider.charges(), 1);

        w.advance(Duration::minutes(3)).await;
        let invoice = invoices(&w.db, &c).await.remove(0);
        assert_eq!(invoice.status, "paid");
        assert_eq!(payments(&w.db, &invoice).await.len(), 1);
        assert_eq!(w.provider.charges(), 1);
    }
}

#[tokio::test]
async fn a_lost_payment_is_recorded_even_when_its_invoice_was_written_off_meanwhile() {
    for t in backends().await {
        let w = World::new(&t.db, CLAIMED);
        let c = claim(&w.db, "writeoff", PlanId::Basic, CLAIMED).await;
        w.add_card(&c, CARD_OK).await;
        w.provider.crash_after_next_charge();
        crashing_pass(&w.engine, TRIAL_END).await;
        let invoice = invoices(&w.db, &c).await.remove(0);
        let write_off = smartbox_store::changes::Changes {
            ops: vec![smartbox_store::changes::Change::SetInvoiceStatus(
                smartbox_store::changes::InvoiceStatusUpdate {
                    id: invoice.id.clone(),
                    from: vec![InvoiceStatus::Open],
                    to: InvoiceStatus::Uncollectible,
                    paid_at: None,
                    carried_into: None,
                },
            )],
        };
        w.db.apply_changes(&write_off).await.expect("written off");

        let restarted = TestProvider::new(w.provider.inner());
        let mut w = World::with_provider(&t.db, Arc::clone(&restarted), TRIAL_END);
        w.advance(Duration::minutes(3)).await;
        let invoice = invoices(&w.db, &c).await.remove(0);
        assert_eq!(invoice.status, "paid", "the money came in: {}", w.backend());
        assert_eq!(payments(&w.db, &invoice).await[0].status, "succeeded");
        assert_eq!(restarted.charges(), 0);
        assert!(
            w.db.payments_in_flight_before(i64::MAX, 10)
                .await
                .expect("read")
                .is_empty(),
            "nothing left in flight"
        );
    }
}
