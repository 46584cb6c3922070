//! Issue 17, item 3: the saved card reads "Visa ending 4242, expires 12/30", once per account,
//! on the billing page and in the API, and can be replaced and removed. Removing detaches it at
//! the provider and forgets it here, so the next renewal finds no card (DESIGN §4: as a failed
//! charge). On the sandbox on every backend, and against localstripe when
//! `SMARTBOX_TEST_STRIPE_URL` is set.

use axum::http::StatusCode;
use serde_json::json;

use crate::portal::helpers::{Browser, STRIPE_SECRET_KEY, spawn_apps, spawn_apps_with_stripe};

/// Saves a test card through the API; panics unless it was saved.
async fn save_card(browser: &mut Browser, number: &str, month: u8, year: u16) -> serde_json::Value {
    let saved = browser
        .api(
            "POST",
            "/api/v1/payment-method",
            Some(json!({"card": {
                "number": number, "exp_month": month, "exp_year": year, "cvc": "123",
            }})),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    saved.json()
}

/// A page's HTML with the template's escaped slashes put back ("12/30").
fn html(body: &str) -> String {
    body.replace("&#x2f;", "/")
}

#[tokio::test]
async fn the_card_reads_as_brand_last_four_and_expiry_once_and_can_be_replaced_and_removed() {
    for app in spawn_apps().await {
        let backend = app.backend;
        let mut h = app
            .household(&format!("card-{backend}@example.com"), "SB-CARD")
            .await;
        let saved = h
            .browser
            .submit(
                "/billing/payment-method",
                "/billing/payment-method",
                &[
                    ("number", "4242 4242 4242 4242"),
                    ("exp_month", "12"),
                    ("exp_year", "2030"),
                    ("cvc", "123"),
                ],
            )
            .await;
        assert_eq!(saved.location(), "/billing?done=card", "{}", saved.body);
        let billing = html(&h.browser.get("/billing").await.body);
        assert_eq!(
            billing.matches("Visa ending 4242, expires 12/30").count(),
            1,
            "once per account on {backend}: {billing}"
        );
        assert!(billing.contains("Remove the card"));
        let page = html(&h.browser.get("/billing/payment-method").await.body);
        assert!(
            page.contains("Now on file: <strong>Visa ending 4242, expires 12/30"),
            "{page}"
        );
        let api = h.browser.api("GET", "/api/v1/payment-method", None).await;
        assert_eq!(api.status, StatusCode::OK);
        assert_eq!(
            api.json(),
            json!({"card": {
                "description": "Visa ending 4242, expires 12/30",
                "brand": "Visa", "last4": "4242", "exp_month": 12, "exp_year": 2030,
            }})
        );

        // Replace: the new card is the only one shown.
        let replaced = save_card(&mut h.browser, "5555555555554444", 3, 31).await;
        assert_eq!(
            replaced["card"]["description"],
            "Mastercard ending 4444, expires 03/31"
        );
        let billing = html(&h.browser.get("/billing").await.body);
        assert!(billing.contains("Mastercard ending 4444, expires 03/31"));
        assert!(!billing.contains("ending 4242"));

        // Remove on the page: gone here, and said so.
        let removed = h
            .browser
            .submit("/billing", "/billing/payment-method/remove", &[])
            .await;
        assert_eq!(removed.location(), "/billing?done=card_removed");
        let billing = h.browser.get(removed.location()).await;
        assert!(billing.body.contains("Your card is removed."));
        assert!(billing.body.contains("No card yet."));
        assert!(!billing.body.contains("ending 4444"));
        let customer = app
            .state
            .db
            .billing_customer(&h.user_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(customer.default_payment_method_id, None);
        assert_eq!(customer.card(), None);
        assert_eq!(customer.card_last4, None, "nothing of the card is kept");
        let audit = app
            .state
            .db
            .audit_for("customer", &h.user_id)
            .await
            .unwrap();
        assert_eq!(
            audit
                .iter()
                .filter(|a| a.action == "payment_method_removed")
                .count(),
            1
        );
        assert_eq!(
            h.browser
                .api("GET", "/api/v1/payment-method", None)
                .await
                .json(),
            json!({"card": null})
        );
        let again = h
            .browser
            .api("DELETE", "/api/v1/payment-method", None)
            .await;
        assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.body);
        assert!(
            again.json()["message"]
                .as_str()
                .unwrap()
                .contains("no card")
        );
        let forged = h
            .browser
            .post_form("/billing/payment-method/remove", &[("csrf", "forged")])
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn after_the_card_is_removed_the_trial_ends_as_without_a_card() {
    for app in spawn_apps().await {
        let mut h = app
            .household(&format!("gone-{}@example.com", app.backend), "SB-GONE")
            .await;
        save_card(&mut h.browser, "4242424242424242", 12, 2034).await;
        let removed = h
            .browser
            .api("DELETE", "/api/v1/payment-method", None)
            .await;
        assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);

        app.clock.advance_s(8 * 24 * 3600);
        app.state
            .billing()
            .run_billing_pass(app.state.clock.now(), None, "test")
            .await
            .expect("billing pass");
        let sub = app
            .state
            .db
            .subscription_by_id(&smartbox_domain::SubscriptionId::new(
                h.subscription_id.as_str(),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            sub.status.to_string(),
            "past_due",
            "the trial ended without a card on {}",
            app.backend
        );
        let paid = app
            .state
            .db
            .payments_of_customer(&smartbox_domain::UserId::new(h.user_id.clone()))
            .await
            .unwrap()
            .into_iter()
            .filter(|p| p.status == smartbox_domain::PaymentStatus::Succeeded)
            .count();
        assert_eq!(paid, 1, "only the open invoice the card paid when saved");
    }
}

/// The payment method at localstripe.
async fn at_stripe(id: &str) -> serde_json::Value {
    let base = std::env::var("SMARTBOX_TEST_STRIPE_URL").expect("localstripe");
    reqwest::Client::new()
        .get(format!(
            "{}/v1/payment_methods/{id}",
            base.trim_end_matches('/')
        ))
        .bearer_auth(STRIPE_SECRET_KEY)
        .send()
        .await
        .expect("localstripe answers")
        .json()
        .await
        .expect("a payment method")
}

#[tokio::test]
async fn with_stripe_the_card_details_come_from_the_payment_method_and_removal_detaches_it() {
    let Some(apps) = spawn_apps_with_stripe().await else {
        return;
    };
    for app in &apps {
        let mut h = app
            .household(
                &format!("stripe-card-{}@example.com", app.backend),
                "SB-SCARD",
            )
            .await;
        let saved = save_card(&mut h.browser, "4242424242424242", 7, 2031).await;
        assert_eq!(
            saved["card"]["description"], "Visa ending 4242, expires 07/31",
            "{saved}"
        );
        let pm = saved["payment_method"].as_str().unwrap().to_owned();
        assert!(at_stripe(&pm).await["customer"].is_string(), "attached");
        let removed = h
            .browser
            .submit("/billing", "/billing/payment-method/remove", &[])
            .await;
        assert_eq!(removed.location(), "/billing?done=card_removed");
        let detached = at_stripe(&pm).await;
        assert!(
            detached["customer"].is_null(),
            "detached at Stripe: {detached}"
        );
        assert_eq!(
            h.browser
                .api("GET", "/api/v1/payment-method", None)
                .await
                .json(),
            json!({"card": null})
        );
    }
}
