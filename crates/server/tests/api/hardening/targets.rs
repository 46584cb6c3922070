//! A customer's webhook or push endpoint cannot make the service call its own network: refused
//! when saved, and again when connecting (the name may resolve differently by then).

use axum::http::StatusCode;
use serde_json::json;
use smartbox_domain::UserId;
use smartbox_notify::testing::http::HttpReceiver;
use smartbox_server::Clock;
use smartbox_server::config::Config;
use smartbox_server::services::Actor;
use smartbox_server::services::webhooks::{self, TestOutcome};
use smartbox_store::changes::{Change, Changes};

use crate::portal::helpers::{PortalApp, spawn_sqlite, spawn_sqlite_with};

fn public_only() -> Config {
    Config::from_lookup(|_| None).expect("the default configuration")
}

#[tokio::test]
async fn internal_webhook_and_push_targets_are_refused_when_saved() {
    let app = spawn_sqlite_with(public_only()).await;
    let mut customer = app.customer("tara@example.com").await;
    for url in [
        "http://2130706433:18181/healthz",
        "http://127.0.0.1:8080/healthz",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5/hook",
        "http://localhost:8080/",
    ] {
        let page = customer
            .submit(
                "/settings",
                "/settings",
                &[("webhook", "save"), ("webhook_url", url)],
            )
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{url}");
        assert!(
            page.body.contains("not a public address") || page.body.contains("does not resolve"),
            "{url}: {}",
            page.body
        );
    }
    let user = app
        .state
        .db
        .user_by_email("tara@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(
        app.state
            .db
            .customer_webhook(&user.id)
            .await
            .unwrap()
            .is_none()
    );

    let subscription = json!({
        "endpoint": "http://127.0.0.1:9/push",
        "keys": { "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM", "auth": "tBHItJI5svbpez7KI4CCXg" }
    })
    .to_string();
    let answer = customer
        .submit(
            "/settings",
            "/settings",
            &[("push", "subscribe"), ("subscription", &subscription)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert!(
        answer.body.contains("not a public address"),
        "{}",
        answer.body
    );
}

/// Sets uma@example.com's webhook to `url` without the check at saving (as if the name had
/// pointed elsewhere then: written straight to the store, sealed as the service seals it), and
/// sends the test event through the settings' service.
async fn test_webhook_saved_earlier(app: &PortalApp, url: &str) -> TestOutcome {
    app.customer("uma@example.com").await;
    let user = app
        .state
        .db
        .user_by_email("uma@example.com")
        .await
        .unwrap()
        .unwrap();
    let sealed = app
        .state
        .master_key
        .seal_device_secret(&format!("webhook:{}", user.id), &[5; 32]);
    let mut changes = Changes::new();
    changes.push(Change::SetCustomerWebhook {
        user_id: user.id.clone(),
        url: url.to_owned(),
        secret_ciphertext: sealed,
        at: app.clock.now_ms(),
    });
    app.state.db.apply_changes(&changes).await.unwrap();
    let customer = UserId::new(user.id.as_str());
    webhooks::send_test(&app.state, &Actor::customer(customer.clone()), &customer)
        .await
        .expect("a webhook to test")
}

#[tokio::test]
async fn a_stored_webhook_that_resolves_to_loopback_is_not_called() {
    let mut receiver = HttpReceiver::start().await;
    let url = format!("http://localhost:{}/hook", receiver.addr.port());
    let app = spawn_sqlite_with(public_only()).await;
    let outcome = test_webhook_saved_earlier(&app, &url).await;
    assert_ne!(outcome, TestOutcome::Delivered);
    assert!(
        receiver.no_request_waiting(),
        "the receiver was never called"
    );

    // With SMARTBOX_ALLOW_PRIVATE_WEBHOOKS=true (development), the same target is called.
    let outcome = test_webhook_saved_earlier(&spawn_sqlite().await, &url).await;
    assert_eq!(outcome, TestOutcome::Delivered);
    assert_eq!(receiver.next_request().await.path, "/hook");
}
