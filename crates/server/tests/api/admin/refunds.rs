//! Refunds from the admin console: only an admin refunds, in part or in full, through the
//! payment provider (the sandbox here; Stripe takes the same path), once per form however often
//! it is sent, each refund audited with its reason. On both backends.

use axum::http::StatusCode;
use serde_json::json;
use smartbox_domain::{PaymentId, PaymentStatus, UserId};

use super::staff;
use crate::portal::helpers::{Household, PortalApp, spawn_apps};

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

/// The staff refunds audited on an invoice.
async fn refunds(app: &PortalApp, invoice_id: &str) -> Vec<smartbox_store::AuditEntry> {
    let audit = app.state.db.audit_for("invoice", invoice_id).await.unwrap();
    audit
        .into_iter()
        .filter(|e| e.action == "staff_refund")
        .collect()
}

/// The value of the hidden field `name` in the first form of `html`.
fn hidden(html: &str, name: &str) -> String {
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
