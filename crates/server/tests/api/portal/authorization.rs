//! The authorization matrix: every customer page and API call made with another customer's
//! mailbox, delivery, photo and invoice ids answers 404 (and with one's own, 200); without a
//! session, pages redirect to /login and the API answers 401. On both backends.

use axum::http::StatusCode;
use serde_json::json;
use smartbox_domain::SubscriptionId;

use crate::portal::helpers::{Browser, Household, spawn_apps};

/// Every read of one household's things: (method, path).
fn reads(h: &Household) -> Vec<(&'static str, String)> {
    vec![
        ("GET", format!("/devices/{}", h.device_id)),
        ("GET", format!("/gallery/{}", h.event_id)),
        ("GET", format!("/photos/{}/0", h.event_id)),
        ("GET", format!("/billing/invoices/{}", h.invoice_id)),
        (
            "GET",
            format!(
                "/billing/plan?subscription={}&plan=premium",
                h.subscription_id
            ),
        ),
        ("API", format!("/api/v1/devices/{}", h.device_id)),
        ("API", format!("/api/v1/events/{}", h.event_id)),
        ("API", format!("/api/v1/invoices/{}", h.invoice_id)),
        (
            "API",
            format!("/api/v1/subscriptions/{}", h.subscription_id),
        ),
        (
            "API",
            format!(
                "/api/v1/subscriptions/{}/plan-change?plan=premium",
                h.subscription_id
            ),
        ),
    ]
}

/// Every JSON API write on one household's things: (method, path, body).
fn api_writes(h: &Household) -> Vec<(&'static str, String, Option<serde_json::Value>)> {
    let sub = &h.subscription_id;
    vec![
        (
            "PATCH",
            format!("/api/v1/devices/{}", h.device_id),
            Some(json!({"name": "Mine now"})),
        ),
        (
            "POST",
            format!("/api/v1/devices/{}/return", h.device_id),
            None,
        ),
        (
            "POST",
            format!("/api/v1/subscriptions/{sub}/plan-change"),
            Some(json!({"plan": "premium"})),
        ),
        ("POST", format!("/api/v1/subscriptions/{sub}/cancel"), None),
        ("POST", format!("/api/v1/subscriptions/{sub}/resume"), None),
        (
            "PATCH",
            "/api/v1/settings".to_owned(),
            Some(
                json!({"notifications": [{"device_id": h.device_id, "channel": "push", "enabled": true}]}),
            ),
        ),
        (
            "PATCH",
            "/api/v1/settings".to_owned(),
            Some(json!({"spend_caps": [{"subscription_id": sub, "cap_cents": 0}]})),
        ),
    ]
}

async fn read(browser: &mut Browser, kind: &str, path: &str) -> StatusCode {
    match kind {
        "API" => browser.api("GET", path, None).await.status,
        _ => browser.get(path).await.status,
    }
}

#[tokio::test]
async fn another_customers_ids_answer_404_everywhere_and_ones_own_answer_200() {
    for app in spawn_apps().await {
        let mut alice = app.household("alice@example.com", "SB-ALICE").await;
        let mut bob = app.household("bob@example.com", "SB-BOB").await;
        for (kind, path) in reads(&alice) {
            assert_eq!(
                read(&mut alice.browser, kind, &path).await,
                StatusCode::OK,
                "{}: own {path}",
                app.backend
            );
            assert_eq!(
                read(&mut bob.browser, kind, &path).await,
                StatusCode::NOT_FOUND,
                "{}: other's {path}",
                app.backend
            );
        }

        let rename = bob
            .browser
            .submit(
                &format!("/devices/{}", bob.device_id),
                &format!("/devices/{}", alice.device_id),
                &[("name", "Mine now")],
            )
            .await;
        assert_eq!(rename.status, StatusCode::NOT_FOUND, "{}", app.backend);
        let give_back = bob
            .browser
            .submit(
                &format!("/devices/{}", bob.device_id),
                &format!("/devices/{}/return", alice.device_id),
                &[],
            )
            .await;
        assert_eq!(give_back.status, StatusCode::NOT_FOUND);
        for action in ["/billing/cancel", "/billing/resume", "/billing/plan"] {
            let answer = bob
                .browser
                .submit(
                    "/billing",
                    action,
                    &[
                        ("subscription", &alice.subscription_id),
                        ("plan", "premium"),
                    ],
                )
                .await;
            assert_eq!(
                answer.status,
                StatusCode::NOT_FOUND,
                "{}: {action}",
                app.backend
            );
        }
        let patch = bob
            .browser
            .api(
                "PATCH",
                &format!("/api/v1/devices/{}", alice.device_id),
                Some(json!({"name": "Mine now"})),
            )
            .await;
        assert_eq!(patch.status, StatusCode::NOT_FOUND);
        for (method, path, body) in api_writes(&alice) {
            let answer = bob.browser.api(method, &path, body).await;
            assert_eq!(
                answer.status,
                StatusCode::NOT_FOUND,
                "{}: {method} {path}: {}",
                app.backend,
                answer.body
            );
            assert_eq!(answer.json()["error"], "not_found");
        }
        let alices_sub = app
            .state
            .db
            .subscription_by_id(&SubscriptionId::new(alice.subscription_id.as_str()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                alices_sub.plan_id.as_str(),
                alices_sub.status.as_str(),
                alices_sub.cancel_at_period_end,
                alices_sub.spend_cap_cents
            ),
            ("basic", "trialing", false, None),
            "{}",
            app.backend
        );
        assert!(
            app.state
                .db
                .notification_prefs(&alice.device_id)
                .await
                .unwrap()
                .is_empty()
        );
        let untouched = app
            .state
            .db
            .device_by_id(&alice.device_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (untouched.name.as_str(), untouched.lifecycle_state.as_str()),
            ("", "active_subscription")
        );

        let gallery = bob
            .browser
            .get(&format!("/gallery?device={}", alice.device_id))
            .await;
        assert!(
            !gallery.body.contains(&alice.event_id),
            "a filter on another's mailbox shows nothing"
        );
        let events = bob
            .browser
            .api(
                "GET",
                &format!("/api/v1/events?device_id={}", alice.device_id),
                None,
            )
            .await
            .json();
        assert_eq!(events["events"].as_array().map(Vec::len), Some(0));
        for (list, id) in [
            ("/api/v1/devices", &alice.device_id),
            ("/api/v1/events", &alice.event_id),
            ("/api/v1/invoices", &alice.invoice_id),
            ("/api/v1/subscriptions", &alice.subscription_id),
        ] {
            let body = bob.browser.api("GET", list, None).await.body;
            assert!(
                !body.contains(id.as_str()),
                "{list} leaks another customer's {id}"
            );
            let own = alice.browser.api("GET", list, None).await.body;
            assert!(
                own.contains(id.as_str()),
                "{list} lists one's own {id}: {own}"
            );
        }
        assert_ne!(alice.user_id, bob.user_id);
    }
}

#[tokio::test]
async fn without_a_session_pages_redirect_to_login_and_the_api_answers_401() {
    for app in spawn_apps().await {
        let alice = app.household("amy@example.com", "SB-AMY").await;
        let mut stranger = app.browser();
        let mut pages: Vec<String> = [
            "/dashboard",
            "/dashboard/live",
            "/gallery",
            "/settings",
            "/billing",
            "/billing/payment-method",
            "/devices",
            "/claim/plan",
        ]
        .iter()
        .map(|p| (*p).to_owned())
        .collect();
        pages.extend(
            reads(&alice)
                .into_iter()
                .filter(|(k, _)| *k == "GET")
                .map(|(_, p)| p),
        );
        for path in pages {
            let answer = stranger.get(&path).await;
            assert_eq!(
                answer.status,
                StatusCode::SEE_OTHER,
                "{}: {path}",
                app.backend
            );
            assert!(
                answer.location().starts_with("/login?next="),
                "{path} -> {}",
                answer.location()
            );
        }
        let csrf = stranger.get("/login").await.csrf();
        for path in [
            format!("/devices/{}", alice.device_id),
            format!("/devices/{}/return", alice.device_id),
            "/settings".to_owned(),
            "/billing/payment-method".to_owned(),
            "/claim/plan".to_owned(),
            "/billing/plan".to_owned(),
            "/billing/cancel".to_owned(),
            "/billing/resume".to_owned(),
        ] {
            let answer = stranger.post_form(&path, &[("csrf", &csrf)]).await;
            assert_eq!(answer.status, StatusCode::SEE_OTHER, "POST {path}");
            assert!(answer.location().starts_with("/login"), "POST {path}");
        }
        for path in [
            "/api/v1/me",
            "/api/v1/devices",
            "/api/v1/events",
            "/api/v1/invoices",
            "/api/v1/subscriptions",
            "/api/v1/settings",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain(
            reads(&alice)
                .into_iter()
                .filter(|(k, _)| *k == "API")
                .map(|(_, p)| p),
        ) {
            let answer = stranger.api("GET", &path, None).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(answer.json()["error"], "unauthorized");
        }
        let patch = stranger
            .api(
                "PATCH",
                &format!("/api/v1/devices/{}", alice.device_id),
                Some(json!({"name": "x"})),
            )
            .await;
        assert_eq!(patch.status, StatusCode::UNAUTHORIZED);
        let mut writes = api_writes(&alice);
        writes.extend([
            (
                "POST",
                "/api/v1/claims".to_owned(),
                Some(json!({"serial": "SB-AMY", "code": "ZZZZZZZZ", "plan": "basic"})),
            ),
            ("POST", "/api/v1/payment-method/setup".to_owned(), None),
            (
                "POST",
                "/api/v1/payment-method".to_owned(),
                Some(json!({"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}})),
            ),
        ]);
        for (method, path, body) in writes {
            let answer = stranger.api(method, &path, body).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path}");
            assert_eq!(answer.json()["error"], "unauthorized");
        }
    }
}
