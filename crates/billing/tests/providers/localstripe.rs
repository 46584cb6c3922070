//! The Stripe provider against localstripe, a stateful Stripe fake over real HTTP. Runs when
//! `SMARTBOX_TEST_STRIPE_URL` is set (e.g. `http://127.0.0.1:8420`); skipped with a note otherwise.
//!
//! localstripe refuses 4000 0000 0000 0002 and 4000 0000 0000 9995 when they are attached (as
//! Stripe does), always with `card_declined` and no decline code; it declines charges of
//! 4000 0000 0000 0341; it has no idempotency keys, which is why reconciliation goes through the
//! PaymentIntent's metadata (`find_charge`).

use std::collections::BTreeMap;

use serde_json::json;
use smartbox_billing::webhook::{
    DEFAULT_TOLERANCE_S, EventKind, SignatureError, WebhookEvent, verify_stripe_signature,
};
use smartbox_billing::{
    CardDetails, ChargeLookup, ChargeOutcome, ChargeRequest, CustomerId, IntentStatus, NewCustomer,
    PaymentIntentId, PaymentMethodId, PaymentProvider, ProviderError, RefundRequest,
    SetupIntentStatus, StripeConfig, StripeProvider,
};
use smartbox_domain::Cents;
use smartbox_domain::ids::Email;

use crate::support::{Scripted, json, unix_now};

const VARIABLE: &str = "SMARTBOX_TEST_STRIPE_URL";

fn localstripe() -> Option<(StripeProvider, String)> {
    let Ok(url) = std::env::var(VARIABLE) else {
        eprintln!(
            "skipped: set {VARIABLE} (e.g. http://127.0.0.1:8420) to run against localstripe"
        );
        return None;
    };
    let provider = StripeProvider::new(StripeConfig::new("sk_test_smartbox").with_api_base(&url))
        .expect("client");
    Some((provider, url.trim_end_matches('/').to_owned()))
}

async fn customer(stripe: &StripeProvider, name: &str) -> CustomerId {
    let customer = NewCustomer {
        email: Email::parse(&format!("{name}@example.com")).expect("email"),
        metadata: BTreeMap::from([("user_id".to_owned(), name.to_owned())]),
    };
    let id = stripe
        .create_customer(&customer)
        .await
        .expect("customer created");
    assert!(id.as_str().starts_with("cus_"), "{id}");
    id
}

async fn customer_with_card(
    stripe: &StripeProvider,
    name: &str,
    number: &str,
) -> (CustomerId, PaymentMethodId) {
    let customer = customer(stripe, name).await;
    let pm = stripe
        .save_test_card(&customer, &CardDetails::test(number))
        .await
        .expect("card saved");
    assert!(pm.as_str().starts_with("pm_"), "{pm}");
    stripe
        .set_default_payment_method(&customer, &pm)
        .await
        .expect("default card");
    (customer, pm)
}

fn charge(customer: &CustomerId, pm: &PaymentMethodId, cents: i64, attempt: &str) -> ChargeRequest {
    ChargeRequest {
        customer: customer.clone(),
        payment_method: pm.clone(),
        amount: Cents::new(cents),
        idempotency_key: attempt.to_owned(),
        invoice_id: format!("inv_for_{attempt}"),
    }
}

#[tokio::test]
async fn a_saved_test_card_pays_off_session_and_the_charge_can_be_retrieved_and_found() {
    let Some((stripe, _)) = localstripe() else {
        return;
    };
    let started = unix_now();
    let (customer, pm) = customer_with_card(&stripe, "ada", "4242424242424242").await;

    let outcome = stripe
        .charge(&charge(&customer, &pm, 1234, "att_ok_1"))
        .await
        .expect("charge");
    let ChargeOutcome::Succeeded { intent_id } = outcome else {
        panic!("4242 must pay, got {outcome:?}");
    };

    let record = stripe.retrieve_charge(&intent_id).await.expect("retrieve");
    assert_eq!(record.status, IntentStatus::Succeeded);
    assert_eq!(record.amount, Cents::new(1234));
    assert_eq!(record.customer.as_ref(), Some(&customer));
    assert_eq!(record.payment_method.as_ref(), Some(&pm));
    assert_eq!(record.invoice_id.as_deref(), Some("inv_for_att_ok_1"));
    assert_eq!(record.payment_attempt_id.as_deref(), Some("att_ok_1"));

    // The answer was lost: the attempt is found again through its metadata.
    let lookup = ChargeLookup {
        customer: customer.clone(),
        idempotency_key: "att_ok_1".into(),
        created_since: started - 60,
    };
    let found = stripe
        .find_charge(&lookup)
        .await
        .expect("lookup")
        .expect("the charge exists");
    assert_eq!(found.intent_id, intent_id);
    assert_eq!(
        found.outcome(),
        ChargeOutcome::Succeeded {
            intent_id: intent_id.clone()
        }
    );
    let never_sent = ChargeLookup {
        idempotency_key: "att_never_sent".into(),
        ..lookup
    };
    assert_eq!(stripe.find_charge(&never_sent).await.expect("lookup"), None);
}

#[tokio::test]
async fn card_0341_saves_but_the_off_session_charge_is_declined() {
    let Some((stripe, _)) = localstripe() else {
        return;
    };
    let started = unix_now();
    let (customer, pm) = customer_with_card(&stripe, "bob", "4000000000000341").await;

    let outcome = stripe
        .charge(&charge(&customer, &pm, 1000, "att_declined_1"))
        .await
        .expect("charge");
    let ChargeOutcome::Failed {
        intent_id: Some(intent_id),
        failure,
    } = outcome
    else {
        panic!("0341 must be declined with a known intent, got {outcome:?}");
    };
    assert_eq!(failure.code, "card_declined");

    let record = stripe.retrieve_charge(&intent_id).await.expect("retrieve");
    assert_eq!(record.status, IntentStatus::RequiresPaymentMethod);
    assert_eq!(record.payment_attempt_id.as_deref(), Some("att_declined_1"));
    assert!(matches!(record.outcome(), ChargeOutcome::Failed { .. }));

    let lookup = ChargeLookup {
        customer,
        idempotency_key: "att_declined_1".into(),
        created_since: started - 60,
    };
    let found = stripe
        .find_charge(&lookup)
        .await
        .expect("lookup")
        .expect("the attempt exists");
    assert_eq!(found.intent_id, intent_id);
}

#[tokio::test]
async fn card_9995_is_refused_when_saved() {
    let Some((stripe, _)) = localstripe() else {
        return;
    };
    let customer = customer(&stripe, "carol").await;
    let result = stripe
        .save_test_card(&customer, &CardDetails::test("4000000000009995"))
        .await;
    let Err(ProviderError::CardDeclined(failure)) = result else {
        panic!("9995 (insufficient funds) must be refused, got {result:?}");
    };
    assert_eq!(failure.code, "card_declined");
}

#[tokio::test]
async fn card_0002_is_refused_when_saved() {
    let Some((stripe, _)) = localstripe() else {
        return;
    };
    let customer = customer(&stripe, "dave").await;
    let result = stripe
        .save_test_card(&customer, &CardDetails::test("4000000000000002"))
        .await;
    assert!(
        matches!(result, Err(ProviderError::CardDeclined(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_paid_charge_can_be_refunded_in_part() {
    let Some((stripe, _)) = localstripe() else {
        return;
    };
    let (customer, pm) = customer_with_card(&stripe, "erin", "4242424242424242").await;
    let outcome = stripe
        .charge(&charge(&customer, &pm, 2000, "att_refund_1"))
        .await
        .expect("charge");
    let intent_id = outcome.intent_id().expect("an intent").clone();
    let refund = stripe
        .refund(&RefundRequest {
            intent_id: intent_id.clone(),
            amount: Some(Cents::new(500)),
            idempotency_key: "refund_1".into(),
        })
        .await
        .expect("refund");
    assert!(refund.id.as_str().starts_with("re_"), "{:?}", refund.id);
    assert_eq!(refund.amount, Cents::new(500));
    assert_eq!(refund.intent_id, intent_id);
}

#[tokio::test]
async fn a_setup_intent_is_created_for_the_customer_and_read_back() {
    let Some((stripe, base)) = localstripe() else {
        return;
    };
    let customer = customer(&stripe, "fay").await;
    let intent = stripe
        .create_setup_intent(&customer)
        .await
        .expect("setup intent");
    assert_eq!(intent.status, SetupIntentStatus::RequiresPaymentMethod);
    assert!(
        intent.client_secret.starts_with(intent.id.as_str()),
        "{intent:?}"
    );
    assert_eq!(intent.customer.as_ref(), Some(&customer));

    // What Stripe.js does in the browser: confirm with a card.
    let confirmed = reqwest::Client::new()
        .post(format!("{base}/v1/setup_intents/{}/confirm", intent.id))
        .bearer_auth("sk_test_smartbox")
        .form(&[
            ("payment_method_data[type]", "card"),
            ("payment_method_data[card][number]", "4242424242424242"),
            ("payment_method_data[card][exp_month]", "12"),
            ("payment_method_data[card][exp_year]", "2034"),
            ("payment_method_data[card][cvc]", "123"),
        ])
        .send()
        .await
        .expect("confirm");
    assert!(confirmed.status().is_success(), "{}", confirmed.status());

    let done = stripe
        .retrieve_setup_intent(&intent.id)
        .await
        .expect("retrieve");
    assert_eq!(done.status, SetupIntentStatus::Succeeded);
    let pm = done.payment_method.expect("the saved card");
    stripe
        .attach_payment_method(&pm, &customer)
        .await
        .expect("attach");
    let outcome = stripe
        .charge(&charge(&customer, &pm, 500, "att_setup_1"))
        .await
        .expect("charge");
    assert!(
        matches!(outcome, ChargeOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn an_unknown_payment_intent_is_not_found() {
    let Some((stripe, _)) = localstripe() else {
        return;
    };
    let err = stripe
        .retrieve_charge(&PaymentIntentId::new("pi_doesnotexist"))
        .await
        .expect_err("unknown");
    assert!(err.is_not_found(), "{err:?}");
}

#[tokio::test]
async fn the_webhook_localstripe_sends_arrives_signed_and_verifies() {
    let Some((stripe, base)) = localstripe() else {
        return;
    };
    let secret = "whsec_smartbox_billing_tests";
    let mut receiver = Scripted::start(|_| json(200, json!({ "received": true }))).await;
    // localstripe sends every event to every registered webhook; this id is ours, re-registered
    // (with the new port) on each run.
    let registered = reqwest::Client::new()
        .post(format!("{base}/_config/webhooks/smartbox-billing-tests"))
        .form(&[
            ("url", format!("{}/webhooks/stripe", receiver.url).as_str()),
            ("secret", secret),
            ("events[0]", "payment_intent.succeeded"),
        ])
        .send()
        .await
        .expect("register webhook");
    assert!(registered.status().is_success(), "{}", registered.status());

    let (customer, pm) = customer_with_card(&stripe, "gus", "4242424242424242").await;
    let outcome = stripe
        .charge(&charge(&customer, &pm, 777, "att_webhook_1"))
        .await
        .expect("charge");
    let intent_id = outcome.intent_id().expect("intent").clone();

    // Other suites may make payments on the same localstripe: wait for the event about ours.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let (delivery, event) = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no webhook for {intent_id} within 20 s"
        );
        let Some(delivery) = receiver.next_request(20).await else {
            continue;
        };
        let event = WebhookEvent::parse(&delivery.body).expect("a Stripe event");
        if event.payment_intent_id().as_ref() == Some(&intent_id) {
            break (delivery, event);
        }
    };

    assert_eq!(delivery.method, "POST");
    assert_eq!(delivery.path(), "/webhooks/stripe");
    let header = delivery.header("stripe-signature").expect("signed");
    verify_stripe_signature(
        header,
        &delivery.body,
        secret,
        unix_now(),
        DEFAULT_TOLERANCE_S,
    )
    .expect("localstripe's signature verifies");
    assert_eq!(
        verify_stripe_signature(
            header,
            &delivery.body,
            "whsec_wrong",
            unix_now(),
            DEFAULT_TOLERANCE_S
        ),
        Err(SignatureError::Mismatch)
    );
    let verified = WebhookEvent::verify_and_parse(
        header,
        &delivery.body,
        secret,
        unix_now(),
        DEFAULT_TOLERANCE_S,
    )
    .expect("verified event");
    assert_eq!(verified, event);
    assert_eq!(event.kind(), EventKind::PaymentIntentSucceeded);
    assert!(event.id.starts_with("evt_"), "{}", event.id);
    assert_eq!(event.metadata("payment_attempt_id"), Some("att_webhook_1"));
    assert_eq!(event.metadata("invoice_id"), Some("inv_for_att_webhook_1"));
    assert_eq!(event.customer_id(), Some(customer));
}
