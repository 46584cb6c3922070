//! Refunds from the admin console: only an admin refunds, in part or in full, through the
//! payment provider (the sandbox here; Stripe takes the same path), once per form however often
//! it is sent, each refund audited with its reason. On both backends.

use axum::http::StatusCode;
use serde_json::json;
use smartbox_domain::{PaymentId, PaymentStatus, UserId};

use super::staff;
use crate::portal::helpers::{
    Household, PortalApp, STRIPE_SECRET_KEY, spawn_apps, spawn_apps_with_stripe,
};
use crate::portal::stripe::{confirm_in_browser, open_card_page};

/// Saves a card, ends the trial and runs the billing pass: the household's first payment,
/// succeeded.
pub async fn paid(app: &PortalApp, h: &mut Household) -> smartbox_store::PaymentRow {
    let card = h
        .browser
        .api(
            "POST",
            "/api/v1/payment-method",
            Some(json!({"card": {"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}})),
        )
        .await;
    assert_eq!(card.status, StatusCode::OK, "{}", card.body);
    app.clock.advance_s(8 * 24 * 3600);
    app.state
        .billing()
        .run_billing_pass(app.state.clock.now(), None, "test")
        .await
        .expect("billing pass");
    app.state
        .db
        .payments_of_customer(&UserId::new(h.user_id.as_str()))
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.status == PaymentStatus::Succeeded)
        .expect("a succeeded payment")
}

/// Saves a card through Stripe Elements' flow at localstripe (as `portal::stripe` does), ends
/// the trial and runs the billing pass: the household's first payment, charged at localstripe.
async fn paid_at_stripe(app: &PortalApp, h: &mut Household) -> smartbox_store::PaymentRow {
    let (intent, page) = open_card_page(&mut h.browser).await;
    confirm_in_browser(&intent, "4242424242424242").await;
    let saved = h
        .browser
        .post_form(
            "/billing/payment-method",
            &[
                ("csrf", &page.csrf()),
                ("setup_intent", &intent),
                ("welcome", ""),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    app.clock.advance_s(8 * 24 * 3600);
    app.state
        .billing()
        .run_billing_pass(app.state.clock.now(), None, "test")
        .await
        .expect("billing pass");
    app.state
        .db
        .payments_of_customer(&smartbox_domain::UserId::new(h.user_id.as_str()))
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.status == PaymentStatus::Succeeded)
        .expect("a payment charged at localstripe")
}

/// What localstripe says was refunded of the PaymentIntent `intent`, in cents.
async fn refunded_at_stripe(intent: &str) -> i64 {
    let base = std::env::var("SMARTBOX_TEST_STRIPE_URL").expect("localstripe");
    let refunds: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/v1/refunds", base.trim_end_matches('/')))
        .query(&[("payment_intent", intent), ("limit", "100")])
        .bearer_auth(STRIPE_SECRET_KEY)
        .send()
        .await
        .expect("localstripe answers")
        .json()
        .await
        .expect("a list of refunds");
    refunds["data"]
        .as_array()
        .expect("refunds")
        .iter()
        .filter(|r| r["status"] == "succeeded")
        .map(|r| r["amount"].as_i64().unwrap_or(0))
        .sum()
}

/// The staff refunds audited on an invoice.
async fn refunds(app: &PortalApp, invoice_id: &str) -> Vec<smartbox_store::AuditEntry> {
    let audit = app.state.db.audit_for("invoice", invoice_id).await.unwrap();
    audit
        .into_iter()
        .filter(|e| e.action == "staff_refund")
        .collect()
}

/// The value of the hidden field `name` in the first form of `html`.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect(name) + marker.len();
    html[start..].split('"').next().unwrap_or("").to_owned()
}

#[tokio::test]
async fn an_admin_refunds_part_of_a_payment_once_per_form_and_then_the_rest_and_support_may_not() {
    for app in spawn_apps().await {
        let mut h = app
            .household(&format!("rae-{}@example.com", app.backend), "SB-REFUND-1")
            .await;
        let payment = paid(&app, &mut h).await;
        let customer_page = format!("/admin/customers/{}", h.user_id);
        let refund_path = format!("/api/admin/v1/payments/{}/refund", payment.id);

        let mut support = staff(
            &app,
            &format!("sue-{}@smartbox.example", app.backend),
            "support",
        )
        .await;
        let page = support.get(&customer_page).await;
        assert!(
            !page.body.contains("/refund\""),
            "support sees no refund form"
        );
        let refused = support
            .api(
                "POST",
                &refund_path,
                Some(json!({"reason": "goodwill", "idempotency_key": "support-try-1"})),
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

        let mut admin = staff(
            &app,
            &format!("al-{}@smartbox.example", app.backend),
            "admin",
        )
        .await;
        let page = admin.get(&customer_page).await;
        let (csrf, key) = (hidden(&page.body, "csrf"), hidden(&page.body, "key"));
        let form = [
            ("csrf", csrf.as_str()),
            ("key", key.as_str()),
            ("amount", "2.00"),
            ("reason", "mail arrived wet"),
        ];
        let action = format!("/admin/payments/{}/refund", payment.id);

        let first = admin.post_form(&action, &form).await;
        let twice = admin.post_form(&action, &form).await;

        assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
        assert_eq!(twice.status, StatusCode::SEE_OTHER, "{}", twice.body);
        assert_eq!(first.location(), format!("{customer_page}?refunded=200"));
        let after = admin.get(first.location()).await;
        assert!(after.body.contains("Refunded $2.00."), "{}", after.body);
        let audited = refunds(&app, &payment.invoice_id).await;
        assert_eq!(
            audited.len(),
            1,
            "the same form refunds once on {}",
            app.backend
        );
        assert!(audited[0].detail.contains("mail arrived wet"));
        let still = app
            .state
            .db
            .payment_by_id(&PaymentId::new(payment.id.as_str()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            still.status,
            PaymentStatus::Succeeded,
            "a part refund keeps it succeeded"
        );

        let too_much = admin
            .api("POST", &refund_path, Some(json!({"reason": "all of it twice", "idempotency_key": "too-much-1", "amount_cents": payment.amount_cents})))
            .await;
        assert_eq!(
            too_much.status,
            StatusCode::BAD_REQUEST,
            "{}",
            too_much.body
        );
        let rest = admin
            .api(
                "POST",
                &refund_path,
                Some(json!({"reason": "cancelled service", "idempotency_key": "the-rest-1"})),
            )
            .await;
        assert_eq!(rest.status, StatusCode::OK, "{}", rest.body);
        assert_eq!(rest.json()["amount_cents"], payment.amount_cents - 200);
        assert_eq!(rest.json()["full"], true);
        let refunded = app
            .state
            .db
            .payment_by_id(&PaymentId::new(payment.id.as_str()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(refunded.status, PaymentStatus::Refunded);
        let again = admin
            .api(
                "POST",
                &refund_path,
                Some(json!({"reason": "more", "idempotency_key": "nothing-left-1"})),
            )
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
        assert_eq!(refunds(&app, &payment.invoice_id).await.len(), 2);
    }
}

/// The same refunds with Stripe (localstripe) as the payment provider: the refund is made at
/// Stripe against the payment's PaymentIntent, in part and then the rest, and an amount beyond
/// what is left is refused. (localstripe ignores `Idempotency-Key`, so "once per form" is shown
/// on the sandbox above; real Stripe honours the key the service sends.)
#[tokio::test]
async fn with_stripe_an_admin_refunds_part_of_a_payment_at_stripe_and_then_the_rest() {
    let Some(apps) = spawn_apps_with_stripe().await else {
        return;
    };
    for app in &apps {
        let mut h = app
            .household(&format!("sia-{}@example.com", app.backend), "SB-REFUND-S")
            .await;
        let payment = paid_at_stripe(app, &mut h).await;
        assert_eq!(payment.provider, "stripe");
        let intent = payment
            .provider_payment_id
            .clone()
            .expect("a PaymentIntent");
        assert!(intent.starts_with("pi_"), "{intent}");
        let refund_path = format!("/api/admin/v1/payments/{}/refund", payment.id);
        let mut admin = staff(
            app,
            &format!("al-s-{}@smartbox.example", app.backend),
            "admin",
        )
        .await;

        let part = admin
            .api("POST", &refund_path, Some(json!({"reason": "mail arrived wet", "idempotency_key": "stripe-part-1", "amount_cents": 200})))
            .await;
        assert_eq!(part.status, StatusCode::OK, "{}", part.body);
        assert!(
            part.json()["refund_id"]
                .as_str()
                .unwrap()
                .starts_with("re_"),
            "{}",
            part.body
        );
        assert_eq!(part.json()["full"], false);
        assert_eq!(refunded_at_stripe(&intent).await, 200, "on {}", app.backend);

        let too_much = admin
            .api("POST", &refund_path, Some(json!({"reason": "all of it twice", "idempotency_key": "stripe-too-much", "amount_cents": payment.amount_cents})))
            .await;
        assert_eq!(
            too_much.status,
            StatusCode::BAD_REQUEST,
            "{}",
            too_much.body
        );
        assert_eq!(too_much.json()["error"], "invalid_amount");
        assert_eq!(
            refunded_at_stripe(&intent).await,
            200,
            "nothing more refunded"
        );

        let rest = admin
            .api(
                "POST",
                &refund_path,
                Some(json!({"reason": "cancelled service", "idempotency_key": "stripe-rest-1"})),
            )
            .await;
        assert_eq!(rest.status, StatusCode::OK, "{}", rest.body);
        assert_eq!(rest.json()["amount_cents"], payment.amount_cents - 200);
        assert_eq!(rest.json()["full"], true);
        assert_eq!(refunded_at_stripe(&intent).await, payment.amount_cents);
        let refunded = app
            .state
            .db
            .payment_by_id(&smartbox_domain::PaymentId::new(payment.id.as_str()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(refunded.status, PaymentStatus::Refunded);
        assert_eq!(refunds(app, &payment.invoice_id).await.len(), 2);
    }
}
