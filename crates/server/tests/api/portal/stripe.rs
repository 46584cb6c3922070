//! The payment-method page with Stripe configured, against localstripe: the page loads Stripe.js
//! from js.stripe.com (its Content-Security-Policy allows that, and only that page's), hands the
//! browser a SetupIntent for the customer, and the form posts the confirmed SetupIntent back; the
//! server reads its card from Stripe and makes it the customer's default. Runs when
//! `SMARTBOX_TEST_STRIPE_URL` names localstripe.
//!
//! Stripe.js itself cannot run here (it needs js.stripe.com and real Stripe, which a test
//! offline cannot reach), so the test does what it does in the browser: it confirms the
//! SetupIntent with a test card through the API.

use axum::http::{StatusCode, header};
use serde_json::Value;
use smartbox_server::accounts::guard::CONTENT_SECURITY_POLICY;

use crate::portal::helpers::{
    PortalApp, STRIPE_SECRET_KEY, spawn_apps_with_stripe, spawn_sqlite_with_stripe_at,
};

/// The value of `data-<name>` on the page.
fn data_attribute(body: &str, name: &str) -> String {
    let marker = format!("data-{name}=\"");
    let start = body.find(&marker).expect("the attribute") + marker.len();
    body[start..].split('"').next().unwrap_or("").to_owned()
}

/// What Stripe.js does with the card field: confirms the SetupIntent with a test card.
pub async fn confirm_in_browser(intent_id: &str, number: &str) -> Value {
    let base = std::env::var("SMARTBOX_TEST_STRIPE_URL").expect("localstripe");
    let response = reqwest::Client::new()
        .post(format!(
            "{}/v1/setup_intents/{intent_id}/confirm",
            base.trim_end_matches('/')
        ))
        .bearer_auth(STRIPE_SECRET_KEY)
        .form(&[
            ("payment_method_data[type]", "card"),
            ("payment_method_data[card][number]", number),
            ("payment_method_data[card][exp_month]", "12"),
            ("payment_method_data[card][exp_year]", "2034"),
            ("payment_method_data[card][cvc]", "123"),
        ])
        .send()
        .await
        .expect("localstripe answers");
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.expect("a SetupIntent")
}

/// The customer at localstripe.
async fn stripe_customer(id: &str) -> Value {
    let base = std::env::var("SMARTBOX_TEST_STRIPE_URL").expect("localstripe");
    reqwest::Client::new()
        .get(format!("{}/v1/customers/{id}", base.trim_end_matches('/')))
        .bearer_auth(STRIPE_SECRET_KEY)
        .send()
        .await
        .expect("localstripe answers")
        .json()
        .await
        .expect("a customer")
}

/// Opens the payment-method page; the SetupIntent's id and the page.
pub async fn open_card_page(
    browser: &mut crate::portal::helpers::Browser,
) -> (String, crate::portal::helpers::Answer) {
    let page = browser.get("/billing/payment-method").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let secret = data_attribute(&page.body, "client-secret");
    let intent = secret
        .split("_secret_")
        .next()
        .expect("an intent id")
        .to_owned();
    assert!(intent.starts_with("seti_"), "{secret}");
    (intent, page)
}

async fn story(app: &PortalApp) {
    let mut h = app.household("olga@example.com", "SB-STRIPE").await;

    let (intent, page) = open_card_page(&mut h.browser).await;
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self' https://js.stripe.com https://*.js.stripe.com;")
            && csp.contains(
                "frame-src https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com;"
            )
            && csp.contains("connect-src 'self' https://api.stripe.com"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(page.body.contains("src=\"https://js.stripe.com/v3/\""));
    assert!(page.body.contains("src=\"/static/stripe-card.js\""));
    assert!(!page.body.contains("name=\"number\""), "no raw card field");
    assert_eq!(
        data_attribute(&page.body, "publishable-key"),
        "pk_test_smartbox"
    );
    assert!(page.body.contains("Stripe test mode"));
    let script = h.browser.get("/static/stripe-card.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script.body.contains("confirmCardSetup"));
    // Only that page may load Stripe.js.
    let billing = h.browser.get("/billing").await;
    assert_eq!(
        billing.headers[header::CONTENT_SECURITY_POLICY],
        CONTENT_SECURITY_POLICY
    );

    // Posting an intent that has not been confirmed yet changes nothing.
    let csrf = page.csrf();
    let early = h
        .browser
        .post_form(
            "/billing/payment-method",
            &[("csrf", &csrf), ("setup_intent", &intent), ("welcome", "")],
        )
        .await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.body);
    assert!(early.body.contains("not been confirmed"), "{}", early.body);

    let confirmed = confirm_in_browser(&intent, "4242424242424242").await;
    let card = confirmed["payment_method"]
        .as_str()
        .expect("the saved card")
        .to_owned();
    let saved = h
        .browser
        .post_form(
            "/billing/payment-method",
            &[("csrf", &csrf), ("setup_intent", &intent), ("welcome", "")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(saved.location(), "/billing?done=card");

    let customer = app
        .state
        .db
        .billing_customer(&h.user_id)
        .await
        .unwrap()
        .expect("the customer");
    assert_eq!(
        customer.default_payment_method_id.as_deref(),
        Some(card.as_str())
    );
    let at_stripe = stripe_customer(customer.provider_customer_id.as_deref().unwrap()).await;
    assert_eq!(
        at_stripe["invoice_settings"]["default_payment_method"],
        card.as_str(),
        "{at_stripe}"
    );
    assert!(
        h.browser
            .get("/billing")
            .await
            .body
            .replace("&#x2f;", "/")
            .contains("Visa ending 4242, expires 12/34")
    );

    // Another customer cannot take this customer's SetupIntent.
    let mut other = app
        .household("petra@example.com", "SB-STRIPE2")
        .await
        .browser;
    let (_, other_page) = open_card_page(&mut other).await;
    let stolen = other
        .post_form(
            "/billing/payment-method",
            &[("csrf", &other_page.csrf()), ("setup_intent", &intent)],
        )
        .await;
    assert_eq!(stolen.status, StatusCode::NOT_FOUND, "{}", stolen.body);
    let unknown = other
        .post_form(
            "/billing/payment-method",
            &[
                ("csrf", &other_page.csrf()),
                ("setup_intent", "seti_nonexistent"),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
}

#[tokio::test]
async fn with_stripe_the_card_goes_through_elements_and_a_confirmed_setup_intent_becomes_the_default()
 {
    let Some(apps) = spawn_apps_with_stripe().await else {
        return;
    };
    for app in &apps {
        story(app).await;
    }
}

#[tokio::test]
async fn when_stripe_cannot_be_reached_the_card_page_says_so_and_offers_no_form() {
    // Nothing listens on the discard port.
    let app = spawn_sqlite_with_stripe_at("http://127.0.0.1:9").await;
    let mut browser = app.customer("quin@example.com").await;
    let page = browser.get("/billing/payment-method").await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Stripe cannot be reached right now"),
        "{}",
        page.body
    );
    assert!(
        !page
            .body
            .contains("<form method=\"post\" action=\"/billing/payment-method\"")
    );
    assert!(!page.body.contains("js.stripe.com"));
    assert_eq!(
        page.headers[header::CONTENT_SECURITY_POLICY],
        CONTENT_SECURITY_POLICY
    );
}
