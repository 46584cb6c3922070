//! Webhook events through the engine (signatures are the endpoint's job, tested in the server):
//! each event id takes effect once, and late or out-of-order events never move a state back.

use serde_json::{Value, json};
use smartbox_billing::engine::WebhookOutcome;
use smartbox_billing::webhook::WebhookEvent;
use smartbox_domain::{InvoiceId, PaymentId, PlanId};
use smartbox_store::Db;
use time::Duration;
use time::macros::datetime;

use crate::support::{CARD_OK, Customer, World, backends, claim, invoices, payments, subscription};

const CLAIMED: time::OffsetDateTime = datetime!(2027-07-01 10:00 UTC);
const TRIAL_END: time::OffsetDateTime = datetime!(2027-07-08 10:00 UTC);

fn event(id: &str, event_type: &str, created: i64, object: Value) -> WebhookEvent {
    event_with(id, event_type, created, object, None)
}

fn event_with(
    id: &str,
    event_type: &str,
    created: i64,
    object: Value,
    previous: Option<Value>,
) -> WebhookEvent {
    let mut data = json!({ "object": object });
    if let Some(previous) = previous {
        data["previous_attributes"] = previous;
    }
    let body = json!({ "id": id, "object": "event", "type": event_type, "created": created, "data": data });
    WebhookEvent::parse(body.to_string().as_bytes()).expect("event")
}

/// A subscription whose first charge timed out: its attempt is `unknown` until told otherwise.
async fn unknown_attempt(w: &mut World, name: &str) -> (Customer, String, String) {
    let c = claim(&w.db, name, PlanId::Basic, CLAIMED).await;
    w.add_card(&c, CARD_OK).await;
    w.provider.lose_next_answer();
    w.advance_to(TRIAL_END).await;
    let invoice = invoices(&w.db, &c).await.remove(0);
    let attempt = payments(&w.db, &invoice).await.remove(0);
    assert_eq!(attempt.status, "unknown");
    (c, invoice.id, attempt.id)
}

fn intent(status: &str, attempt: &str, invoice: &str) -> Value {
    json!({
        "id": format!("pi_{attempt}"), "object": "payment_intent", "status": status, "amount": 500,
        "metadata": { "payment_attempt_id": attempt, "invoice_id": invoice },
        "last_payment_error": if status == "succeeded" { Value::Null } else {
            json!({ "code": "card_declined", "decline_code": "insufficient_funds", "message": "Your card has insufficient funds." })
        },
    })
}

async fn attempt_status(db: &Db, invoice: &str) -> Vec<String> {
    db.payments_of_invoice(&InvoiceId::new(invoice))
        .await
        .expect("payments")
        .into_iter()
        .map(|p| p.status.to_string())
        .collect()
}

#[tokio::test]
async fn a_payment_webhook_takes_effect_once_and_an_older_failure_does_not_undo_it() {
    for t in backends().await {
        let mut w = World::new(&t.db, CLAIMED);
        let (c, invoice, attempt) = unknown_attempt(&mut w, "hook").await;
        let created = TRIAL_END.unix_timestamp();

        let paid = event(
            "evt_paid",
            "payment_intent.succeeded",
            created + 5,
            intent("succeeded", &attempt, &invoice),
        );
        assert_eq!(
            w.engine
                .handle_webhook_event(&paid, w.now)
                .await
                .expect("paid"),
            WebhookOutcome::Processed
        );
        assert_eq!(attempt_status(&w.db, &invoice).await, ["succeeded"]);
        assert_eq!(invoices(&w.db, &c).await[0].status, "paid");
        let audit_after_first =
            w.db.audit_for("invoice", &invoice)
                .await
                .expect("audit")
                .len();

        // Stripe delivers the same event again.
        assert_eq!(
            w.engine
                .handle_webhook_event(&paid, w.now)
                .await
                .expect("replay"),
            WebhookOutcome::AlreadyProcessed
        );
        // An older failure of the same intent arrives late: nothing moves back.
        let failed = event(
            "evt_failed",
            "payment_intent.payment_failed",
            created + 1,
            intent("requires_payment_method", &attempt, &invoice),
        );
        assert_eq!(
            w.engine
                .handle_webhook_event(&failed, w.now)
                .await
                .expect("late"),
            WebhookOutcome::Processed
        );
        assert_eq!(attempt_status(&w.db, &invoice).await, ["succeeded"]);
        assert_eq!(invoices(&w.db, &c).await[0].status, "paid");
        assert_eq!(subscription(&w.db, &c).await.status, "active");
        assert_eq!(
            w.db.audit_for("invoice", &invoice)
                .await
                .expect("audit")
                .len(),
            audit_after_first
        );

        // The engine's reconciliation later finds the attempt settled: no second charge.
        w.advance(Duration::minutes(5)).await;
        assert_eq!(w.provider.charges(), 1);
        assert_eq!(
            payments(&w.db, &invoices(&w.db, &c).await[0]).await.len(),
            1
        );
    }
}

#[tokio::test]
async fn a_failure_webhook_starts_dunning_and_a_later_success_is_never_lost() {
    for t in backends().await {
        let mut w = World::new(&t.db, CLAIMED);
        let (c, invoice, attempt) = unknown_attempt(&mut w, "fail").await;
        let created = TRIAL_END.unix_timestamp();
        let failed = event(
            "evt_f",
            "payment_intent.payment_failed",
            created,
            intent("requires_payment_method", &attempt, &invoice),
        );
        w.engine
            .handle_webhook_event(&failed, w.now)
            .await
            .expect("failed");
        assert_eq!(attempt_status(&w.db, &invoice).await, ["failed"]);
        assert_eq!(subscription(&w.db, &c).await.status, "past_due");
        let payment =
            w.db.payment_by_id(&PaymentId::new(attempt.as_str()))
                .await
                .expect("read")
                .expect("payment");
        assert_eq!(payment.failure_code.as_deref(), Some("insufficient_funds"));
        assert_eq!(payment.provider_event_created, Some(created));

        // The same intent succeeded after all (Stripe retried it): the money is recorded.
        let paid = event(
            "evt_s",
            "payment_intent.succeeded",
            created + 60,
            intent("succeeded", &attempt, &invoice),
        );
        w.engine
            .handle_webhook_event(&paid, w.now)
            .await
            .expect("paid");
        assert_eq!(attempt_status(&w.db, &invoice).await, ["succeeded"]);
        assert_eq!(subscription(&w.db, &c).await.status, "active");
        assert!(
            w.db.jobs_with_status(Some("grace_expiry"), "queued", 5)
                .await
                .expect("jobs")
                .is_empty()
        );
    }
}

#[tokio::test]
async fn refunds_disputes_and_unknown_events_are_recorded() {
    for t in backends().await {
        let mut w = World::new(&t.db, CLAIMED);
        let (c, invoice, attempt) = unknown_attempt(&mut w, "refund").await;
        let created = TRIAL_END.unix_timestamp();
        let paid = event(
            "evt_1",
            "payment_intent.succeeded",
            created,
            intent("succeeded", &attempt, &invoice),
        );
        w.engine
            .handle_webhook_event(&paid, w.now)
            .await
            .expect("paid");

        let dispute = event(
            "evt_2",
            "charge.dispute.created",
            created + 10,
            json!({
                "id": "dp_1", "object": "dispute", "charge": "ch_1", "payment_intent": format!("pi_{attempt}"),
                "amount": 500, "reason": "fraudulent",
            }),
        );
        assert_eq!(
            w.engine
                .handle_webhook_event(&dispute, w.now)
                .await
                .expect("dispute"),
            WebhookOutcome::Processed
        );
        let refund = event(
            "evt_3",
            "charge.refunded",
            created + 20,
            json!({
                "id": "ch_1", "object": "charge", "payment_intent": format!("pi_{attempt}"),
                "amount": 500, "amount_refunded": 500, "refunded": true,
            }),
        );
        assert_eq!(
            w.engine
                .handle_webhook_event(&refund, w.now)
                .await
                .expect("refund"),
            WebhookOutcome::Processed
        );
        assert_eq!(attempt_status(&w.db, &invoice).await, ["refunded"]);
        let actions: Vec<String> =
            w.db.audit_for("invoice", &invoice)
                .await
                .expect("audit")
                .into_iter()
                .map(|a| a.action)
                .collect();
        assert!(
            actions.contains(&"dispute_opened".to_owned())
                && actions.contains(&"refunded".to_owned()),
            "{actions:?}"
        );
        // A late success event for the refunded intent does not bring it back.
        let late = event(
            "evt_4",
            "payment_intent.succeeded",
            created - 10,
            intent("succeeded", &attempt, &invoice),
        );
        w.engine
            .handle_webhook_event(&late, w.now)
            .await
            .expect("late");
        assert_eq!(attempt_status(&w.db, &invoice).await, ["refunded"]);

        let other = event(
            "evt_5",
            "customer.created",
            created,
            json!({ "id": "cus_x", "object": "customer" }),
        );
        assert_eq!(
            w.engine
                .handle_webhook_event(&other, w.now)
                .await
                .expect("other"),
            WebhookOutcome::Ignored
        );
        let stranger = event(
            "evt_6",
            "payment_intent.succeeded",
            created,
            intent("succeeded", "att_unknown", "inv_unknown"),
        );
        assert_eq!(
            w.engine
                .handle_webhook_event(&stranger, w.now)
                .await
                .expect("stranger"),
            WebhookOutcome::Ignored
        );
        assert_eq!(
            w.engine
                .handle_webhook_event(&other, w.now)
                .await
                .expect("again"),
            WebhookOutcome::AlreadyProcessed
        );
        assert_eq!(subscription(&w.db, &c).await.status, "active");
    }
}

#[tokio::test]
async fn card_events_change_the_default_card_only_forward_in_time() {
    for t in backends().await {
        let mut w = World::new(&t.db, CLAIMED);
        let c = claim(&w.db, "cards", PlanId::Basic, CLAIMED).await;
        // A trial that ends without a card: the first invoice is open, dunning runs.
        w.advance_to(TRIAL_END + Duration::hours(1)).await;
        assert_eq!(subscription(&w.db, &c).await.status, "past_due");
        let customer = w
            .engine
            .ensure_provider_customer(&c.id)
            .await
            .expect("customer");
        let pm = w
            .provider
            .inner()
            .save_test_card(&customer, &smartbox_billing::CardDetails::test(CARD_OK))
            .await
            .expect("card");
        let t0 = w.now.unix_timestamp();
        let setup = event(
            "evt_setup",
            "setup_intent.succeeded",
            t0,
            json!({
                "id": "seti_1", "object": "setup_intent", "customer": customer.as_str(), "payment_method": pm.as_str(),
            }),
        );
        assert_eq!(
            w.engine
                .handle_webhook_event(&setup, w.now)
                .await
                .expect("setup"),
            WebhookOutcome::Processed
        );
        let profile =
            w.db.billing_customer(&c.id)
                .await
                .expect("read")
                .expect("customer");
        assert_eq!(
            profile.default_payment_method_id.as_deref(),
            Some(pm.as_str())
        );
        assert_eq!(
            w.db.jobs_with_status(Some("collect_customer"), "queued", 5)
                .await
                .expect("jobs")
                .len(),
            1
        );

        // The queued collection charges the open invoice at once.
        w.run_due().await;
        assert_eq!(invoices(&w.db, &c).await[0].status, "paid");
        assert_eq!(subscription(&w.db, &c).await.status, "active");

        // An attach older than the setup arrives late: ignored. A newer detach clears the card.
        let stale = event(
            "evt_old",
            "payment_method.attached",
            t0 - 30,
            json!({
                "id": "pm_old", "object": "payment_method", "customer": customer.as_str(),
            }),
        );
        w.engine
            .handle_webhook_event(&stale, w.now)
            .await
            .expect("stale");
        let profile =
            w.db.billing_customer(&c.id)
                .await
                .expect("read")
                .expect("customer");
        assert_eq!(
            profile.default_payment_method_id.as_deref(),
            Some(pm.as_str())
        );
        let detached = event_with(
            "evt_detach",
            "payment_method.detached",
            t0 + 30,
            json!({
                "id": pm.as_str(), "object": "payment_method", "customer": null,
            }),
            Some(json!({ "customer": customer.as_str() })),
        );
        w.engine
            .handle_webhook_event(&detached, w.now)
            .await
            .expect("detach");
        let profile =
            w.db.billing_customer(&c.id)
                .await
                .expect("read")
                .expect("customer");
        assert_eq!(profile.default_payment_method_id, None);
        assert_eq!(profile.payment_method_changed_at, Some(t0 + 30));
    }
}
