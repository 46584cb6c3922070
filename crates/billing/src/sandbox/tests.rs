//! The sandbox's card outcomes, idempotency, reconciliation and refunds.

use std::collections::BTreeMap;

use smartbox_domain::Cents;
use smartbox_domain::ids::Email;

use super::*;

async fn customer(sandbox: &SandboxProvider, email: &str) -> CustomerId {
    let customer = NewCustomer {
        email: Email::parse(email).expect("valid email"),
        metadata: BTreeMap::new(),
    };
    sandbox.create_customer(&customer).await.expect("customer")
}

async fn saved_card(sandbox: &SandboxProvider, number: &str) -> (CustomerId, PaymentMethodId) {
    let customer = customer(sandbox, "ada@example.com").await;
    let card = CardDetails::test(number);
    let pm = sandbox
        .save_test_card(&customer, &card)
        .await
        .expect("card saved");
    (customer, pm)
}

fn charge_of(customer: &CustomerId, pm: &PaymentMethodId, cents: i64, key: &str) -> ChargeRequest {
    ChargeRequest {
        customer: customer.clone(),
        payment_method: pm.clone(),
        amount: Cents::new(cents),
        idempotency_key: key.to_owned(),
        invoice_id: "inv_1".to_owned(),
    }
}

fn declined_code(result: Result<PaymentMethodId, ProviderError>) -> (String, Option<String>) {
    match result {
        Err(ProviderError::CardDeclined(failure)) => (failure.code, failure.decline_code),
        other => panic!("expected a refused card, got {other:?}"),
    }
}

#[tokio::test]
async fn the_sandbox_says_it_is_a_sandbox() {
    let sandbox = SandboxProvider::new();
    assert_eq!(sandbox.mode(), ProviderMode::Sandbox);
    assert!(sandbox.mode().label().contains("sandbox"));
    let (customer, pm) = saved_card(&sandbox, "4242424242424242").await;
    assert!(customer.as_str().starts_with("sbx_cus_"), "{customer}");
    assert!(pm.as_str().starts_with("sbx_pm_4242_"), "{pm}");
}

#[tokio::test]
async fn card_4242_pays() {
    let sandbox = SandboxProvider::new();
    let (customer, pm) = saved_card(&sandbox, "4242 4242 4242 4242").await;
    let outcome = sandbox
        .charge(&charge_of(&customer, &pm, 500, "att_1"))
        .await
        .expect("charge");
    let ChargeOutcome::Succeeded { intent_id } = outcome else {
        panic!("4242 must pay, got {outcome:?}");
    };
    assert!(intent_id.as_str().starts_with("sbx_pi_"), "{intent_id}");
    let record = sandbox.retrieve_charge(&intent_id).await.expect("retrieve");
    assert_eq!(record.status, IntentStatus::Succeeded);
    assert_eq!(record.amount, Cents::new(500));
    assert_eq!(record.invoice_id.as_deref(), Some("inv_1"));
    assert_eq!(record.payment_attempt_id.as_deref(), Some("att_1"));
}

#[tokio::test]
async fn card_0002_is_declined_when_saved() {
    let sandbox = SandboxProvider::new();
    let customer = customer(&sandbox, "bob@example.com").await;
    let result = sandbox
        .save_test_card(&customer, &CardDetails::test("4000000000000002"))
        .await;
    assert_eq!(
        declined_code(result),
        ("card_declined".into(), Some("generic_decline".into()))
    );
}

#[tokio::test]
async fn card_9995_is_refused_for_insufficient_funds() {
    let sandbox = SandboxProvider::new();
    let customer = customer(&sandbox, "bob@example.com").await;
    let result = sandbox
        .save_test_card(&customer, &CardDetails::test("4000 0000 0000 9995"))
        .await;
    assert_eq!(
        declined_code(result),
        ("card_declined".into(), Some("insufficient_funds".into()))
    );
}

#[tokio::test]
async fn card_0341_saves_but_its_charges_are_declined() {
    let sandbox = SandboxProvider::new();
    let (customer, pm) = saved_card(&sandbox, "4000000000000341").await;
    let outcome = sandbox
        .charge(&charge_of(&customer, &pm, 1000, "att_1"))
        .await
        .expect("charge");
    let ChargeOutcome::Failed {
        intent_id: Some(intent_id),
        failure,
    } = outcome
    else {
        panic!("0341 must be declined with an intent id, got {outcome:?}");
    };
    assert_eq!(failure.code, "card_declined");
    let record = sandbox.retrieve_charge(&intent_id).await.expect("retrieve");
    assert_eq!(record.status, IntentStatus::RequiresPaymentMethod);
    assert_eq!(record.last_failure, Some(failure));
}

#[tokio::test]
async fn a_non_test_or_mistyped_number_cannot_be_saved() {
    let sandbox = SandboxProvider::new();
    let customer = customer(&sandbox, "eve@example.com").await;
    let real = sandbox
        .save_test_card(&customer, &CardDetails::test("4111111111111111"))
        .await;
    assert_eq!(
        declined_code(real),
        ("card_declined".into(), Some("test_mode_live_card".into()))
    );
    let typo = sandbox
        .save_test_card(&customer, &CardDetails::test("4242424242424243"))
        .await;
    assert_eq!(declined_code(typo), ("incorrect_number".into(), None));
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_outcome_and_charges_once() {
    let sandbox = SandboxProvider::new();
    let (customer, pm) = saved_card(&sandbox, "4242424242424242").await;
    let request = charge_of(&customer, &pm, 500, "att_1");
    let first = sandbox.charge(&request).await.expect("first");
    let second = sandbox.charge(&request).await.expect("second");
    assert_eq!(first, second);
    assert_eq!(sandbox.lock().charges.len(), 1, "one charge in the ledger");

    let other = sandbox
        .charge(&charge_of(&customer, &pm, 500, "att_2"))
        .await
        .expect("other");
    assert_ne!(first.intent_id(), other.intent_id());
    assert_eq!(sandbox.lock().charges.len(), 2);
}

#[tokio::test]
async fn a_reused_key_with_other_parameters_is_an_idempotency_error() {
    let sandbox = SandboxProvider::new();
    let (customer, pm) = saved_card(&sandbox, "4242424242424242").await;
    sandbox
        .charge(&charge_of(&customer, &pm, 500, "att_1"))
        .await
        .expect("first");
    let err = sandbox
        .charge(&charge_of(&customer, &pm, 900, "att_1"))
        .await
        .expect_err("a different amount under the same key must be refused");
    let ProviderError::Rejected(api) = err else {
        panic!("expected a rejection, got {err:?}");
    };
    assert_eq!(api.kind, "idempotency_error");
}

#[tokio::test]
async fn outcomes_are_deterministic_across_sandbox_instances() {
    // A restarted server gets a fresh sandbox: the same inputs must give the same ids.
    let (a, b) = (SandboxProvider::new(), SandboxProvider::new());
    let (customer_a, pm_a) = saved_card(&a, "4242424242424242").await;
    let (customer_b, pm_b) = saved_card(&b, "4242424242424242").await;
    assert_eq!((&customer_a, &pm_a), (&customer_b, &pm_b));
    let outcome_a = a
        .charge(&charge_of(&customer_a, &pm_a, 500, "att_9"))
        .await
        .expect("a");
    let outcome_b = b
        .charge(&charge_of(&customer_b, &pm_b, 500, "att_9"))
        .await
        .expect("b");
    assert_eq!(outcome_a, outcome_b);
}

#[tokio::test]
async fn charges_under_fifty_cents_are_refused_like_stripe_does() {
    let sandbox = SandboxProvider::new();
    let (customer, pm) = saved_card(&sandbox, "4242424242424242").await;
    let err = sandbox
        .charge(&charge_of(&customer, &pm, 49, "att_1"))
        .await
        .expect_err("49 cents is below Stripe's minimum");
    assert!(
        matches!(&err, ProviderError::Rejected(api) if api.code.as_deref() == Some("amount_too_small")),
        "{err:?}"
    );
    assert!(
        sandbox
            .charge(&charge_of(&customer, &pm, 50, "att_2"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn ids_from_another_provider_are_not_found() {
    let sandbox = SandboxProvider::new();
    let (customer, _) = saved_card(&sandbox, "4242424242424242").await;
    let stripe_pm = PaymentMethodId::new("pm_1Abc");
    let err = sandbox
        .charge(&charge_of(&customer, &stripe_pm, 500, "att_1"))
        .await
        .expect_err("a Stripe id means nothing to the sandbox");
    assert!(err.is_not_found(), "{err:?}");
    let err = sandbox
        .attach_payment_method(&stripe_pm, &customer)
        .await
        .expect_err("attach");
    assert!(err.is_not_found(), "{err:?}");
    let err = sandbox
        .retrieve_charge(&PaymentIntentId::new("sbx_pi_unknown"))
        .await
        .expect_err("retrieve");
    assert!(err.is_not_found(), "{err:?}");
}

#[tokio::test]
async fn a_lost_outcome_is_found_by_its_attempt_id() {
    let sandbox = SandboxProvider::new();
    let (customer, pm) = saved_card(&sandbox, "4242424242424242").await;
    let outcome = sandbox
        .charge(&charge_of(&customer, &pm, 700, "att_lost"))
        .await
        .expect("charge");
    let lookup = |key: &str, customer: &CustomerId| ChargeLookup {
        customer: customer.clone(),
        idempotency_key: key.to_owned(),
        created_since: 0,
    };
    let found = sandbox
        .find_charge(&lookup("att_lost", &customer))
        .await
        .expect("find")
        .expect("the charge was made");
    assert_eq!(Some(&found.intent_id), outcome.intent_id());
    assert_eq!(found.outcome(), outcome);

    let never_sent = sandbox
        .find_charge(&lookup("att_never", &customer))
        .await
        .expect("find");
    assert_eq!(never_sent, None);
    let other_customer = customer_of_other(&sandbox).await;
    let wrong_customer = sandbox
        .find_charge(&lookup("att_lost", &other_customer))
        .await
        .expect("find");
    assert_eq!(wrong_customer, None);
}

async fn customer_of_other(sandbox: &SandboxProvider) -> CustomerId {
    customer(sandbox, "other@example.com").await
}

#[tokio::test]
async fn refunds_are_idempotent_and_never_exceed_the_charge() {
    let sandbox = SandboxProvider::new();
    let (customer, pm) = saved_card(&sandbox, "4242424242424242").await;
    let outcome = sandbox
        .charge(&charge_of(&customer, &pm, 1000, "att_1"))
        .await
        .expect("charge");
    let intent_id = outcome.intent_id().expect("intent").clone();
    let refund = |cents: Option<i64>, key: &str| RefundRequest {
        intent_id: intent_id.clone(),
        amount: cents.map(Cents::new),
        idempotency_key: key.to_owned(),
    };

    let part = sandbox
        .refund(&refund(Some(300), "ref_1"))
        .await
        .expect("partial refund");
    assert_eq!(part.amount, Cents::new(300));
    assert_eq!(part.status, RefundStatus::Succeeded);
    let again = sandbox
        .refund(&refund(Some(300), "ref_1"))
        .await
        .expect("same key");
    assert_eq!(again, part, "the same key returns the same refund");

    let too_much = sandbox
        .refund(&refund(Some(800), "ref_2"))
        .await
        .expect_err("only 700 left");
    assert!(
        matches!(&too_much, ProviderError::Rejected(api) if api.code.as_deref() == Some("amount_too_large")),
        "{too_much:?}"
    );

    let rest = sandbox
        .refund(&refund(None, "ref_3"))
        .await
        .expect("the rest");
    assert_eq!(rest.amount, Cents::new(700));
    let none_left = sandbox
        .refund(&refund(None, "ref_4"))
        .await
        .expect_err("all refunded");
    assert!(
        matches!(&none_left, ProviderError::Rejected(api) if api.code.as_deref() == Some("charge_already_refunded")),
        "{none_left:?}"
    );
}

#[tokio::test]
async fn a_declined_charge_cannot_be_refunded() {
    let sandbox = SandboxProvider::new();
    let (customer, pm) = saved_card(&sandbox, "4000000000000341").await;
    let outcome = sandbox
        .charge(&charge_of(&customer, &pm, 1000, "att_1"))
        .await
        .expect("charge");
    let request = RefundRequest {
        intent_id: outcome.intent_id().expect("intent").clone(),
        amount: None,
        idempotency_key: "ref_1".into(),
    };
    assert!(matches!(
        sandbox.refund(&request).await,
        Err(ProviderError::Rejected(_))
    ));
}

#[tokio::test]
async fn a_setup_intent_completed_with_a_test_card_yields_a_chargeable_payment_method() {
    let sandbox = SandboxProvider::new();
    let customer = customer(&sandbox, "ada@example.com").await;
    let intent = sandbox
        .create_setup_intent(&customer)
        .await
        .expect("setup intent");
    assert_eq!(intent.status, SetupIntentStatus::RequiresPaymentMethod);
    assert!(intent.client_secret.starts_with(intent.id.as_str()));

    let refused = sandbox.confirm_setup_intent(&intent.id, &CardDetails::test("4000000000009995"));
    assert!(
        matches!(refused, Err(ProviderError::CardDeclined(_))),
        "{refused:?}"
    );
    let still_waiting = sandbox
        .retrieve_setup_intent(&intent.id)
        .await
        .expect("retrieve");
    assert_eq!(
        still_waiting.status,
        SetupIntentStatus::RequiresPaymentMethod
    );

    sandbox
        .confirm_setup_intent(&intent.id, &CardDetails::test("4242424242424242"))
        .expect("confirmed");
    let done = sandbox
        .retrieve_setup_intent(&intent.id)
        .await
        .expect("retrieve");
    assert_eq!(done.status, SetupIntentStatus::Succeeded);
    let pm = done.payment_method.expect("payment method");
    sandbox
        .set_default_payment_method(&customer, &pm)
        .await
        .expect("default");
    let outcome = sandbox
        .charge(&charge_of(&customer, &pm, 500, "att_1"))
        .await
        .expect("charge");
    assert!(
        matches!(outcome, ChargeOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn the_sandbox_is_usable_as_a_shared_trait_object() {
    let provider: std::sync::Arc<dyn PaymentProvider> = std::sync::Arc::new(SandboxProvider::new());
    let (customer, pm) = saved_card(&SandboxProvider::new(), "4242424242424242").await;
    let request = charge_of(&customer, &pm, 500, "att_1");
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let provider = provider.clone();
            let request = request.clone();
            tokio::spawn(async move { provider.charge(&request).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task").expect("charge"));
    }
    assert!(outcomes.windows(2).all(|w| w[0] == w[1]), "{outcomes:?}");
}
