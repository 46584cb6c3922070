//! The Stripe client against a scripted server: what it sends (auth, idempotency key, form body)
//! and how it reads every kind of answer, including none at all.

use std::time::Duration;

use serde_json::json;
use smartbox_billing::{
    ChargeLookup, ChargeOutcome, ChargeRequest, CustomerId, PaymentIntentId, PaymentMethodId,
    PaymentProvider, ProviderError, ProviderMode, RefundRequest, RefundStatus, StripeConfig,
    StripeProvider,
};
use smartbox_domain::Cents;

use crate::support::{Reply, Scripted, json};

const KEY: &str = "sk_test_scripted";

fn provider(url: &str) -> StripeProvider {
    StripeProvider::new(
        StripeConfig::new(KEY)
            .with_api_base(url)
            .with_timeout(Duration::from_millis(500)),
    )
    .expect("client")
}

fn charge_request() -> ChargeRequest {
    ChargeRequest {
        customer: CustomerId::new("cus_1"),
        payment_method: PaymentMethodId::new("pm_1"),
        amount: Cents::new(1500),
        idempotency_key: "att_42".into(),
        invoice_id: "inv_7".into(),
    }
}

fn intent(id: &str, status: &str, attempt: &str) -> serde_json::Value {
    json!({
        "id": id, "object": "payment_intent", "status": status, "amount": 1500, "currency": "usd",
        "customer": "cus_1", "payment_method": "pm_1", "latest_charge": "ch_1",
        "metadata": { "invoice_id": "inv_7", "payment_attempt_id": attempt },
    })
}

#[tokio::test]
async fn a_charge_is_an_off_session_confirmed_intent_with_our_key_and_metadata() {
    let mut stripe = Scripted::start(|_| json(200, intent("pi_1", "succeeded", "att_42"))).await;
    let outcome = provider(&stripe.url)
        .charge(&charge_request())
        .await
        .expect("charge");
    assert_eq!(
        outcome,
        ChargeOutcome::Succeeded {
            intent_id: PaymentIntentId::new("pi_1")
        }
    );

    let sent = stripe.next_request(5).await.expect("one request");
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path(), "/v1/payment_intents");
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(sent.header("idempotency-key"), Some("att_42"));
    assert_eq!(
        sent.header("stripe-version"),
        Some(smartbox_billing::stripe::API_VERSION)
    );
    assert_eq!(
        sent.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    for (field, value) in [
        ("amount", "1500"),
        ("currency", "usd"),
        ("customer", "cus_1"),
        ("payment_method", "pm_1"),
        ("confirm", "true"),
        ("off_session", "true"),
        ("metadata[invoice_id]", "inv_7"),
        ("metadata[payment_attempt_id]", "att_42"),
    ] {
        assert_eq!(sent.field(field).as_deref(), Some(value), "field {field}");
    }
}

#[tokio::test]
async fn a_stripe_decline_is_a_failed_charge_naming_its_intent() {
    let stripe = Scripted::start(|_| {
        json(
            402,
            json!({ "error": {
                "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds.", "charge": "ch_1",
                "payment_intent": intent("pi_2", "requires_payment_method", "att_42"),
            }}),
        )
    })
    .await;
    let outcome = provider(&stripe.url)
        .charge(&charge_request())
        .await
        .expect("charge");
    let ChargeOutcome::Failed { intent_id, failure } = outcome else {
        panic!("a 402 is a decline, got {outcome:?}");
    };
    assert_eq!(intent_id, Some(PaymentIntentId::new("pi_2")));
    assert_eq!(failure.code, "card_declined");
    assert_eq!(failure.reason(), "insufficient_funds");
    assert_eq!(failure.message, "Your card has insufficient funds.");
}

#[tokio::test]
async fn a_decline_naming_only_the_charge_learns_the_intent_from_the_charge() {
    let mut stripe = Scripted::start(|request| match request.path() {
        "/v1/payment_intents" => json(
            402,
            json!({ "error": {
                "type": "invalid_request_error", "code": "card_declined", "charge": "ch_9",
                "message": "Your card was declined.",
            }}),
        ),
        "/v1/charges/ch_9" => json(
            200,
            json!({ "id": "ch_9", "object": "charge", "payment_intent": "pi_9" }),
        ),
        other => json(
            404,
            json!({ "error": { "type": "invalid_request_error", "message": other } }),
        ),
    })
    .await;
    let outcome = provider(&stripe.url)
        .charge(&charge_request())
        .await
        .expect("charge");
    assert!(
        matches!(&outcome, ChargeOutcome::Failed { intent_id: Some(id), .. } if id.as_str() == "pi_9"),
        "{outcome:?}"
    );
    let paths: Vec<String> = stripe
        .received()
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    assert_eq!(paths, ["/v1/payment_intents", "/v1/charges/ch_9"]);
}

#[tokio::test]
async fn no_answer_within_the_timeout_makes_the_outcome_unknown() {
    let stripe = Scripted::start(|_| Reply::Hang).await;
    let outcome = provider(&stripe.url)
        .charge(&charge_request())
        .await
        .expect("charge");
    let ChargeOutcome::Unknown {
        intent_id: None,
        reason,
    } = outcome
    else {
        panic!("a timeout must leave the outcome unknown, got {outcome:?}");
    };
    assert!(reason.contains("timed out"), "{reason}");
}

#[tokio::test]
async fn an_unreachable_stripe_makes_the_outcome_unknown() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let outcome = provider(&url)
        .charge(&charge_request())
        .await
        .expect("charge");
    assert!(
        matches!(
            outcome,
            ChargeOutcome::Unknown {
                intent_id: None,
                ..
            }
        ),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn server_errors_rate_limits_and_key_conflicts_make_the_outcome_unknown() {
    for status in [500, 502, 429, 409] {
        let stripe = Scripted::start(move |_| {
            json(
                status,
                json!({ "error": { "type": "api_error", "message": "try again" } }),
            )
        })
        .await;
        let outcome = provider(&stripe.url)
            .charge(&charge_request())
            .await
            .expect("charge");
        assert!(
            matches!(outcome, ChargeOutcome::Unknown { .. }),
            "HTTP {status} must leave the outcome unknown, got {outcome:?}"
        );
    }
}

#[tokio::test]
async fn an_unreadable_success_makes_the_outcome_unknown() {
    let stripe = Scripted::start(|_| Reply::Json(200, "<html>proxy</html>".into())).await;
    let outcome = provider(&stripe.url)
        .charge(&charge_request())
        .await
        .expect("charge");
    assert!(
        matches!(outcome, ChargeOutcome::Unknown { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_processing_intent_is_unknown_but_named() {
    let stripe = Scripted::start(|_| json(200, intent("pi_3", "processing", "att_42"))).await;
    let outcome = provider(&stripe.url)
        .charge(&charge_request())
        .await
        .expect("charge");
    assert!(
        matches!(&outcome, ChargeOutcome::Unknown { intent_id: Some(id), .. } if id.as_str() == "pi_3"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn an_invalid_request_is_an_error_and_not_a_charge() {
    let stripe = Scripted::start(|_| {
        json(400, json!({ "error": {
            "type": "invalid_request_error", "code": "parameter_missing", "param": "payment_method",
            "message": "Missing required param: payment_method.",
        }}))
    })
    .await;
    let err = provider(&stripe.url)
        .charge(&charge_request())
        .await
        .expect_err("a 400 is a refusal");
    let ProviderError::Rejected(api) = err else {
        panic!("expected a rejection, got {err:?}");
    };
    assert_eq!(api.status, 400);
    assert_eq!(api.code.as_deref(), Some("parameter_missing"));
    assert_eq!(api.param.as_deref(), Some("payment_method"));
}

#[tokio::test]
async fn an_unknown_intent_is_not_found() {
    let stripe = Scripted::start(|_| {
        json(
            404,
            json!({ "error": {
                "type": "invalid_request_error", "code": "resource_missing",
                "message": "No such payment_intent: 'pi_nope'",
            }}),
        )
    })
    .await;
    let err = provider(&stripe.url)
        .retrieve_charge(&PaymentIntentId::new("pi_nope"))
        .await
        .expect_err("404");
    assert!(err.is_not_found(), "{err:?}");
}

#[tokio::test]
async fn an_id_that_would_change_the_url_is_refused_before_any_request() {
    let mut stripe = Scripted::start(|_| json(200, json!({}))).await;
    let err = provider(&stripe.url)
        .retrieve_charge(&PaymentIntentId::new("pi_1/../../v1/refunds"))
        .await
        .expect_err("refused");
    assert!(matches!(err, ProviderError::Rejected(_)), "{err:?}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(stripe.received().is_empty());
}

#[tokio::test]
async fn find_charge_pages_through_the_customers_charges_and_prefers_the_success() {
    let mut stripe = Scripted::start(|request| {
        let after = request.query_param("starting_after");
        match (request.path(), after.as_deref()) {
            ("/v1/charges", None) => json(200, json!({ "object": "list", "has_more": true, "data": [
                { "id": "ch_a", "payment_intent": "pi_other" },
                { "id": "ch_b", "payment_intent": "pi_failed" },
            ]})),
            ("/v1/charges", Some("ch_b")) => json(200, json!({ "object": "list", "has_more": false, "data": [
                { "id": "ch_c", "payment_intent": "pi_paid" },
                { "id": "ch_d", "payment_intent": null },
            ]})),
            ("/v1/payment_intents/pi_other", _) => json(200, intent("pi_other", "succeeded", "att_1")),
            ("/v1/payment_intents/pi_failed", _) => json(200, intent("pi_failed", "requires_payment_method", "att_42")),
            ("/v1/payment_intents/pi_paid", _) => json(200, intent("pi_paid", "succeeded", "att_42")),
            _ => json(404, json!({ "error": { "type": "invalid_request_error", "code": "resource_missing", "message": "?" } })),
        }
    })
    .await;
    let lookup = ChargeLookup {
        customer: CustomerId::new("cus_1"),
        idempotency_key: "att_42".into(),
        created_since: 1_700_000_000,
    };
    let found = provider(&stripe.url)
        .find_charge(&lookup)
        .await
        .expect("lookup")
        .expect("a charge for att_42");
    assert_eq!(found.intent_id, PaymentIntentId::new("pi_paid"));

    let first = stripe.received().into_iter().next().expect("a request");
    assert_eq!(first.path(), "/v1/charges");
    assert_eq!(first.query_param("customer").as_deref(), Some("cus_1"));
    assert_eq!(
        first.query_param("created[gt]").as_deref(),
        Some("1699999999")
    );

    let nothing = ChargeLookup {
        idempotency_key: "att_never_sent".into(),
        ..lookup
    };
    assert_eq!(
        provider(&stripe.url)
            .find_charge(&nothing)
            .await
            .expect("lookup"),
        None
    );
}

#[tokio::test]
async fn a_refund_carries_its_idempotency_key() {
    let mut stripe = Scripted::start(|_| {
        json(
            200,
            json!({ "id": "re_1", "object": "refund", "amount": 300, "status": "succeeded",
                          "payment_intent": "pi_1" }),
        )
    })
    .await;
    let refund = provider(&stripe.url)
        .refund(&RefundRequest {
            intent_id: PaymentIntentId::new("pi_1"),
            amount: Some(Cents::new(300)),
            idempotency_key: "refund_att_1".into(),
        })
        .await
        .expect("refund");
    assert_eq!(refund.amount, Cents::new(300));
    assert_eq!(refund.status, RefundStatus::Succeeded);
    let sent = stripe.next_request(5).await.expect("request");
    assert_eq!(sent.path(), "/v1/refunds");
    assert_eq!(sent.header("idempotency-key"), Some("refund_att_1"));
    assert_eq!(sent.field("payment_intent").as_deref(), Some("pi_1"));
    assert_eq!(sent.field("amount").as_deref(), Some("300"));
}

#[test]
fn live_keys_are_live_and_the_key_never_shows_in_debug_output() {
    let live = StripeConfig::new("sk_live_abcdef");
    assert_eq!(live.mode(), ProviderMode::StripeLive);
    assert!(!live.mode().is_test());
    assert_eq!(
        StripeConfig::new("sk_test_abc").mode(),
        ProviderMode::StripeTest
    );
    let debug = format!("{live:?}");
    assert!(!debug.contains("abcdef"), "{debug}");
    let provider = StripeProvider::new(live).expect("client");
    assert!(!format!("{provider:?}").contains("abcdef"));
}
