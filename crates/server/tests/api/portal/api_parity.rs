//! The customer JSON API does everything the pages do: claim a mailbox with its serial, code and
//! plan; read and change the settings; see a plan change's exact price and confirm it; cancel at
//! period end and resume; save a card; rename, locate and return a mailbox (an RMA return the
//! warehouse receives); set WiFi, the webhook and web push. On both backends.

use axum::http::StatusCode;
use serde_json::{Value, json};
use smartbox_domain::{DeviceId, SubscriptionId};

use smartbox_server::services::{Actor, staff_devices};

use crate::portal::helpers::spawn_apps;

#[tokio::test]
async fn a_customer_claims_a_mailbox_and_runs_it_entirely_through_the_json_api() {
    for app in spawn_apps().await {
        let backend = app.backend;
        let factory = app.make_devices(&["SB-API-1"]).await;
        let (serial, code) = (&factory[0].serial, &factory[0].claim_code);
        let mut me = app.customer("rosa@example.com").await;

        // Claim: wrong pair 404, bad plan 400, no CSRF header 403, then 201 and 409.
        let wrong = me
            .api(
                "POST",
                "/api/v1/claims",
                Some(json!({"serial": serial, "code": "ZZZZZZZZ", "plan": "plus"})),
            )
            .await;
        assert_eq!(
            wrong.status,
            StatusCode::NOT_FOUND,
            "{backend}: {}",
            wrong.body
        );
        assert_eq!(wrong.json()["error"], "not_found");
        let bad_plan = me
            .api(
                "POST",
                "/api/v1/claims",
                Some(json!({"serial": serial, "code": code, "plan": "gold"})),
            )
            .await;
        assert_eq!(bad_plan.status, StatusCode::BAD_REQUEST);
        let no_csrf = me
            .send(
                axum::http::Request::post("/api/v1/claims")
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(
                        json!({"serial": serial, "code": code, "plan": "plus"}).to_string(),
                    ))
                    .unwrap(),
            )
            .await;
        assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
        let claimed = me
            .api(
                "POST",
                "/api/v1/claims",
                Some(json!({"serial": serial, "code": code, "plan": "plus"})),
            )
            .await;
        assert_eq!(
            claimed.status,
            StatusCode::CREATED,
            "{backend}: {}",
            claimed.body
        );
        let claimed = claimed.json();
        assert_eq!(claimed["device"]["lifecycle_state"], "active_subscription");
        assert_eq!(claimed["subscription"]["status"], "trialing");
        assert_eq!(claimed["subscription"]["plan"], "plus");
        let device_id = claimed["device"]["id"].as_str().unwrap().to_owned();
        let sub_id = claimed["subscription"]["id"].as_str().unwrap().to_owned();
        let again = me
            .api(
                "POST",
                "/api/v1/claims",
                Some(json!({"serial": serial, "code": code, "plan": "plus"})),
            )
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);

        // Settings: defaults, a change, a refused change that changes nothing, clearing.
        let settings = me.api("GET", "/api/v1/settings", None).await.json();
        assert_eq!(settings["time_zone"], "UTC");
        assert_eq!(settings["quiet_hours"], Value::Null);
        assert_eq!(settings["spend_caps"][0]["cap_cents"], 1000, "{settings}");
        assert_eq!(settings["spend_caps"][0]["max_cents"], 10_000);
        let channels = &settings["notifications"][0]["channels"];
        assert_eq!(channels[0], json!({"channel": "email", "enabled": true}));
        assert_eq!(settings["digest"], false, "the digest is opt-in");
        let changed = me
            .api(
                "PATCH",
                "/api/v1/settings",
                Some(json!({
                    "time_zone": "Europe/Paris",
                    "quiet_hours": {"start": "22:00", "end": "07:00"},
                    "notifications": [{"device_id": device_id, "channel": "push", "enabled": false}],
                    "spend_caps": [{"subscription_id": sub_id, "cap_cents": 2500}],
                    "digest": true,
                })),
            )
            .await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
        let changed = changed.json();
        assert_eq!(changed["time_zone"], "Europe/Paris");
        assert_eq!(
            changed["quiet_hours"],
            json!({"start": "22:00", "end": "07:00"})
        );
        assert_eq!(changed["spend_caps"][0]["cap_cents"], 2500);
        assert_eq!(changed["digest"], true);
        assert!(
            changed["notifications"][0]["channels"]
                .as_array()
                .unwrap()
                .contains(&json!({"channel": "push", "enabled": false}))
        );
        let refused = me
            .api(
                "PATCH",
                "/api/v1/settings",
                Some(json!({
                    "time_zone": "UTC",
                    "spend_caps": [{"subscription_id": sub_id, "cap_cents": 10_001}],
                })),
            )
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        let after = me.api("GET", "/api/v1/settings", None).await.json();
        assert_eq!(after["time_zone"], "Europe/Paris", "nothing was written");
        let cleared = me
            .api(
                "PATCH",
                "/api/v1/settings",
                Some(json!({"quiet_hours": null})),
            )
            .await
            .json();
        assert_eq!(cleared["quiet_hours"], Value::Null);
        assert_eq!(
            cleared["time_zone"], "Europe/Paris",
            "absent fields are kept"
        );
        let user_id = me.api("GET", "/api/v1/me", None).await.json()["id"]
            .as_str()
            .expect("an id")
            .to_owned();
        let settings_audit = app
            .state
            .db
            .audit_for("user", &user_id)
            .await
            .expect("audit");
        assert_eq!(
            settings_audit
                .iter()
                .filter(|a| a.action == "update_settings")
                .count(),
            2,
            "one entry per saved change, none for the refused one"
        );
        let unknown_cap = me
            .api(
                "PATCH",
                "/api/v1/settings",
                Some(json!({"spend_caps": [{"subscription_id": "nope", "cap_cents": 100}]})),
            )
            .await;
        assert_eq!(
            unknown_cap.status,
            StatusCode::NOT_FOUND,
            "{}",
            unknown_cap.body
        );

        // A card, then the trial ends and the card pays the first period.
        let card = me
            .api(
                "POST",
                "/api/v1/payment-method",
                Some(json!({"card": {"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}})),
            )
            .await;
        assert_eq!(card.status, StatusCode::OK, "{}", card.body);
        assert!(card.json()["payment_method"].as_str().is_some());
        let declined = me
            .api(
                "POST",
                "/api/v1/payment-method",
                Some(json!({"card": {"number": "4000000000000002", "exp_month": 12, "exp_year": 2034, "cvc": "123"}})),
            )
            .await;
        assert_eq!(
            declined.status,
            StatusCode::PAYMENT_REQUIRED,
            "{}",
            declined.body
        );
        let setup = me.api("POST", "/api/v1/payment-method/setup", None).await;
        assert_eq!(
            setup.status,
            StatusCode::CONFLICT,
            "sandbox: no Stripe Elements"
        );
        app.clock.advance_s(8 * 24 * 3600);
        app.state
            .billing()
            .run_billing_pass(app.state.clock.now(), None, "test")
            .await
            .expect("billing pass");

        // Upgrade: the exact prorated price first, then the change and its paid invoice.
        let preview_url = format!("/api/v1/subscriptions/{sub_id}/plan-change?plan=premium");
        let preview = me.api("GET", &preview_url, None).await;
        assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
        let preview = preview.json();
        let sub = app
            .state
            .db
            .subscription_by_id(&SubscriptionId::new(sub_id.as_str()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sub.status, "active", "{backend}");
        let expected = app.plus_to_premium_price(&sub);
        assert_eq!(
            preview,
            json!({
                "from": "plus", "to": "premium", "change": "upgrade",
                "prorated_cents": expected.get(), "charged_now": true,
                "effective_at": app.state.clock.now_ms(),
            })
        );
        let upgraded = me
            .api(
                "POST",
                &format!("/api/v1/subscriptions/{sub_id}/plan-change"),
                Some(json!({"plan": "premium"})),
            )
            .await;
        assert_eq!(upgraded.status, StatusCode::OK, "{}", upgraded.body);
        let upgraded = upgraded.json();
        assert_eq!(upgraded["result"], "upgraded");
        assert_eq!(upgraded["prorated_cents"], expected.get());
        assert_eq!(upgraded["subscription"]["plan"], "premium");
        let invoice = me
            .api(
                "GET",
                &format!(
                    "/api/v1/invoices/{}",
                    upgraded["invoice_id"].as_str().unwrap()
                ),
                None,
            )
            .await
            .json();
        assert_eq!(invoice["total_cents"], expected.get());
        assert_eq!(invoice["status"], "paid", "{invoice}");

        // A downgrade waits for the period's end.
        let down = me
            .api(
                "GET",
                &format!("/api/v1/subscriptions/{sub_id}/plan-change?plan=basic"),
                None,
            )
            .await
            .json();
        assert_eq!(down["change"], "downgrade");
        assert_eq!(down["effective_at"], sub.current_period_end);
        let scheduled = me
            .api(
                "POST",
                &format!("/api/v1/subscriptions/{sub_id}/plan-change"),
                Some(json!({"plan": "basic"})),
            )
            .await
            .json();
        assert_eq!(scheduled["result"], "downgrade_scheduled");
        assert_eq!(scheduled["subscription"]["pending_plan"], "basic");

        // Cancel at period end, and take it back.
        let canceled = me
            .api(
                "POST",
                &format!("/api/v1/subscriptions/{sub_id}/cancel"),
                None,
            )
            .await;
        assert_eq!(canceled.status, StatusCode::OK, "{}", canceled.body);
        assert_eq!(canceled.json()["cancel_at_period_end"], true);
        let resumed = me
            .api(
                "POST",
                &format!("/api/v1/subscriptions/{sub_id}/resume"),
                None,
            )
            .await
            .json();
        assert_eq!(resumed["cancel_at_period_end"], false);
        assert_eq!(resumed["status"], "active");

        // Rename, locate, then return the mailbox.
        let renamed = me
            .api(
                "PATCH",
                &format!("/api/v1/devices/{device_id}"),
                Some(json!({"name": "Front gate", "location": "Gate post"})),
            )
            .await
            .json();
        assert_eq!(
            (renamed["name"].as_str(), renamed["location"].as_str()),
            (Some("Front gate"), Some("Gate post"))
        );
        // The return starts an RMA: the mailbox works until the warehouse receives the box.
        let returned = me
            .api("POST", &format!("/api/v1/devices/{device_id}/return"), None)
            .await;
        assert_eq!(returned.status, StatusCode::CREATED, "{}", returned.body);
        let rma = returned.json();
        assert!(rma["rma"].as_str().unwrap().starts_with("RMA-"), "{rma}");
        assert_eq!(rma["reason"], "Other");
        let device = me
            .api("GET", &format!("/api/v1/devices/{device_id}"), None)
            .await
            .json();
        assert_eq!(device["lifecycle_state"], "active_subscription");
        let twice = me
            .api("POST", &format!("/api/v1/devices/{device_id}/return"), None)
            .await;
        assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.body);
        let id = DeviceId::new(device_id.as_str());
        staff_devices::receive_return(&app.state, &Actor::Cli, &id, "box arrived")
            .await
            .expect("received");
        let device = me
            .api("GET", &format!("/api/v1/devices/{device_id}"), None)
            .await
            .json();
        assert_eq!(device["lifecycle_state"], "returned");
        let sub = me
            .api("GET", &format!("/api/v1/subscriptions/{sub_id}"), None)
            .await
            .json();
        assert_eq!(sub["status"], "canceled");
        // The claim, the rename and the return are each one audit entry, written with the change.
        let audit = app
            .state
            .db
            .audit_for("device", &device_id)
            .await
            .expect("audit");
        let customer_actions: Vec<&str> = audit
            .iter()
            .filter(|a| a.actor.starts_with("customer:"))
            .map(|a| a.action.as_str())
            .collect();
        assert_eq!(customer_actions, ["claim", "update", "return_started"]);
    }
}

#[tokio::test]
async fn the_openapi_document_lists_every_customer_call() {
    let doc = smartbox_server::openapi::document();
    let doc = serde_json::to_value(&doc).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/claims", "post"),
        ("/api/v1/settings", "get"),
        ("/api/v1/settings", "patch"),
        ("/api/v1/subscriptions/{subscription_id}", "get"),
        ("/api/v1/subscriptions/{subscription_id}/plan-change", "get"),
        (
            "/api/v1/subscriptions/{subscription_id}/plan-change",
            "post",
        ),
        ("/api/v1/subscriptions/{subscription_id}/cancel", "post"),
        ("/api/v1/subscriptions/{subscription_id}/resume", "post"),
        ("/api/v1/payment-method/setup", "post"),
        ("/api/v1/payment-method", "post"),
        ("/api/v1/devices/{device_id}/return", "post"),
        ("/api/v1/devices/{device_id}", "patch"),
        ("/api/v1/devices/{device_id}/wifi", "put"),
        ("/api/v1/webhook", "put"),
        ("/api/v1/webhook", "delete"),
        ("/api/v1/webhook/test", "post"),
        ("/api/v1/push-subscriptions", "post"),
        ("/api/v1/push-subscriptions", "delete"),
    ] {
        let operation = &paths[path][method];
        assert!(operation.is_object(), "{method} {path} is documented");
        let responses = operation["responses"].as_object().unwrap();
        assert!(
            responses.contains_key("401"),
            "{method} {path} documents 401"
        );
        if method != "get" {
            assert_eq!(
                operation["security"],
                json!([{"session": [], "csrf": []}]),
                "{method} {path} needs the CSRF header"
            );
        }
    }
}

#[tokio::test]
async fn wifi_the_webhook_and_web_push_are_set_through_the_json_api_with_an_audit_entry_each() {
    let mut receiver = smartbox_notify::testing::http::HttpReceiver::start().await;
    for app in spawn_apps().await {
        let backend = app.backend;
        let mut h = app
            .household(&format!("wes-{backend}@example.com"), "SB-API-WIFI")
            .await;
        let wifi = format!("/api/v1/devices/{}/wifi", h.device_id);

        // WiFi: a short password is refused and nothing is saved; then saved, never echoed.
        let short = h
            .browser
            .api(
                "PUT",
                &wifi,
                Some(json!({"ssid": "Garden", "passphrase": "short"})),
            )
            .await;
        assert_eq!(short.status, StatusCode::BAD_REQUEST, "{}", short.body);
        assert_eq!(short.json()["error"], "invalid_wifi");
        assert!(
            app.state
                .db
                .device_wifi(&DeviceId::new(h.device_id.as_str()))
                .await
                .unwrap()
                .is_none()
        );
        let saved = h
            .browser
            .api(
                "PUT",
                &wifi,
                Some(json!({"ssid": "Garden", "passphrase": "s3cret-passphrase"})),
            )
            .await;
        assert_eq!(saved.status, StatusCode::OK, "{backend}: {}", saved.body);
        assert_eq!(saved.json()["ssid"], "Garden");
        assert!(!saved.body.contains("s3cret"), "{}", saved.body);
        let stranger = h
            .browser
            .api(
                "PUT",
                "/api/v1/devices/nope/wifi",
                Some(json!({"ssid": "Garden", "passphrase": "s3cret-passphrase"})),
            )
            .await;
        assert_eq!(stranger.status, StatusCode::NOT_FOUND);

        // The webhook: a bad URL is 400, then set (its secret once), tested, removed.
        let bad = h
            .browser
            .api(
                "PUT",
                "/api/v1/webhook",
                Some(json!({"url": "ftp://x.test"})),
            )
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
        assert_eq!(bad.json()["error"], "invalid_webhook_url");
        let untested = h.browser.api("POST", "/api/v1/webhook/test", None).await;
        assert_eq!(untested.status, StatusCode::CONFLICT, "{}", untested.body);
        let url = receiver.url("/hooks/api");
        let set = h
            .browser
            .api("PUT", "/api/v1/webhook", Some(json!({"url": url})))
            .await;
        assert_eq!(set.status, StatusCode::OK, "{}", set.body);
        assert!(set.json()["secret"].as_str().unwrap().starts_with("whsec_"));
        let tested = h.browser.api("POST", "/api/v1/webhook/test", None).await;
        assert_eq!(
            tested.json(),
            json!({"delivered": true, "reason": null}),
            "{backend}"
        );
        assert_eq!(receiver.next_request().await.path, "/hooks/api");
        let removed = h.browser.api("DELETE", "/api/v1/webhook", None).await;
        assert_eq!(removed.status, StatusCode::NO_CONTENT);
        assert!(
            app.state
                .db
                .customer_webhook(&h.user_id)
                .await
                .unwrap()
                .is_none()
        );

        // Web push: subscribe a browser, refuse one without a web address, unsubscribe.
        let endpoint = "https://push.example.com/send/abc";
        let keys = json!({"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM", "auth": "tBHItJI5svbpez7KI4CCXg"});
        let subscribed = h
            .browser
            .api(
                "POST",
                "/api/v1/push-subscriptions",
                Some(json!({"endpoint": endpoint, "keys": keys})),
            )
            .await;
        assert_eq!(
            subscribed.status,
            StatusCode::NO_CONTENT,
            "{}",
            subscribed.body
        );
        let refused = h
            .browser
            .api(
                "POST",
                "/api/v1/push-subscriptions",
                Some(json!({"endpoint": "not a url", "keys": keys})),
            )
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(
            app.state
                .db
                .push_subscriptions_of_user(&h.user_id)
                .await
                .unwrap()
                .len(),
            1
        );
        let unsubscribed = h
            .browser
            .api(
                "DELETE",
                "/api/v1/push-subscriptions",
                Some(json!({"endpoint": endpoint})),
            )
            .await;
        assert_eq!(unsubscribed.status, StatusCode::NO_CONTENT);
        assert!(
            app.state
                .db
                .push_subscriptions_of_user(&h.user_id)
                .await
                .unwrap()
                .is_empty()
        );

        // One audit entry per change, none for the refused ones, no secret in any of them.
        let on_device = app
            .state
            .db
            .audit_for("device", &h.device_id)
            .await
            .unwrap();
        let wifi_saves: Vec<_> = on_device
            .iter()
            .filter(|a| a.action == "wifi_saved")
            .collect();
        assert_eq!(wifi_saves.len(), 1, "{backend}");
        assert!(!wifi_saves[0].detail.contains("s3cret"));
        let on_user = app.state.db.audit_for("user", &h.user_id).await.unwrap();
        let actions: Vec<&str> = on_user
            .iter()
            .map(|a| a.action.as_str())
            .filter(|a| a.starts_with("webhook") || a.starts_with("push"))
            .collect();
        assert_eq!(
            actions,
            [
                "webhook_set",
                "webhook_test_sent",
                "webhook_removed",
                "push_subscribed",
                "push_unsubscribed"
            ]
        );
        assert!(
            on_user
                .iter()
                .all(|a| !a.detail.contains("whsec_") && !a.detail.contains("/send/abc"))
        );
    }
}
