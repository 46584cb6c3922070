//! The pages: live dashboard, gallery, settings, billing and devices.

use smartbox_domain::{DeviceId, InvoiceId, SubscriptionId};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use smartbox_server::app as router;
use tower::ServiceExt;

use crate::portal::helpers::{JPEG, START_MS, spawn_sqlite};

#[tokio::test]
async fn the_dashboard_streams_new_mail_without_a_reload() {
    let app = spawn_sqlite().await;
    let mut h = app.household("lena@example.com", "SB-LIVE").await;
    let cookie = h
        .browser
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let response = router(app.state.clone())
        .oneshot(
            Request::get("/dashboard/live")
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.into_body();
    // The mail comes through the device API, whose news feeds the stream.
    let event_id = uuid::Uuid::new_v4().to_string();
    let now_s = START_MS / 1000;
    let event = serde_json::json!({
        // After the household's first delivery (a minute past the start).
        "event_id": event_id, "kind": "mail_arrived", "occurred_at": now_s + 120, "photo_count": 1,
    });
    let answer = h
        .device_request(
            "POST",
            "/api/device/v1/events",
            "application/json",
            event.to_string().into_bytes(),
            now_s,
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let answer = h
        .device_request(
            "PUT",
            &format!("/api/device/v1/events/{event_id}/photos/0"),
            "image/jpeg",
            smartbox_server::device_api::jpeg::synthetic(2_000),
            now_s,
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let frame = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let frame = body
                .frame()
                .await
                .expect("the stream stays open")
                .expect("a frame");
            if let Some(data) = frame.data_ref() {
                let text = String::from_utf8_lossy(data).into_owned();
                // The event and its photo are news each; the update after the photo shows it.
                if text.contains("event: mailboxes") && text.contains(&event_id) {
                    return text;
                }
            }
        }
    })
    .await
    .expect("an update within 10 s");
    assert!(frame.contains("You have mail"), "{frame}");
    assert!(
        frame.contains(&event_id),
        "the newest delivery and its photo: {frame}"
    );
}

#[tokio::test]
async fn the_gallery_pages_by_keyset_and_filters_by_mailbox_date_and_category() {
    let app = spawn_sqlite().await;
    let mut h = app.household("mia@example.com", "SB-GAL").await;
    let hour = 3_600_000;
    let mut ids = Vec::new();
    for i in 0..30 {
        let id = format!("00000000-0000-4000-8000-{:012}", i);
        app.deliver(&h.device_id, &id, 3, START_MS + (i + 2) * hour)
            .await;
        ids.push(id);
    }
    let first = h.browser.get("/gallery").await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.body.contains(&ids[29]), "newest first");
    assert!(!first.body.contains(&ids[5]), "24 a page");
    assert_eq!(first.body.matches("class=\"thumb\"").count(), 24 * 3);
    assert!(first.body.contains("uncategorised"));
    assert!(first.body.contains("rel=\"next\""), "an older-page link");
    let link = first.body.split("rel=\"next\"").next().unwrap();
    let next = link
        .rsplit("href=\"")
        .next()
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let next = next.replace("&amp;", "&").replace("&#x2f;", "/");
    let second = h.browser.get(&next).await;
    assert!(
        second.body.contains(&ids[0]) && second.body.contains(&ids[5]),
        "{next}"
    );
    assert!(!second.body.contains(&ids[29]));
    assert!(!second.body.contains("rel=\"next\""), "the last page");

    // Deliveries 0-11 are on May 20 (12:00-23:00 UTC), 12-29 on May 21.
    let day = h
        .browser
        .get("/gallery?from=2026-05-20&to=2026-05-20")
        .await;
    assert!(day.body.contains(&ids[0]) && day.body.contains(&ids[11]));
    assert!(!day.body.contains(&ids[12]) && !day.body.contains(&ids[29]));
    let none = h.browser.get("/gallery?category=package").await;
    assert!(none.body.contains("No deliveries match"));
    let unknown = h.browser.get("/gallery?category=parcel").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
    let uncategorised = h
        .browser
        .get(&format!(
            "/gallery?category=uncategorised&device={}",
            h.device_id
        ))
        .await;
    assert!(uncategorised.body.contains(&ids[29]));

    let full = h.browser.get(&format!("/gallery/{}", ids[3])).await;
    assert_eq!(full.body.matches("class=\"full\"").count(), 3);
    let photo = h.browser.get(&format!("/photos/{}/2", ids[3])).await;
    assert_eq!(photo.status, StatusCode::OK);
    assert_eq!(photo.headers[header::CONTENT_TYPE], "image/jpeg");
    assert_eq!(
        photo.headers[header::CONTENT_LENGTH],
        JPEG.len().to_string().as_str()
    );
    assert_eq!(
        h.browser.get(&format!("/photos/{}/3", ids[3])).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn settings_save_channels_quiet_hours_time_zone_and_a_spend_cap_within_limits() {
    let app = spawn_sqlite().await;
    let mut h = app.household("nina@example.com", "SB-SET").await;
    let cap = format!("cap_{}", h.subscription_id);
    let push = format!("notify_{}_push", h.device_id);
    let saved = h
        .browser
        .submit(
            "/settings",
            "/settings",
            &[
                ("time_zone", "Europe/Berlin"),
                ("quiet_start", "22:00"),
                ("quiet_end", "07:00"),
                (&cap, "12.50"),
                (&push, "on"),
            ],
        )
        .await;
    assert_eq!(saved.location(), "/settings?saved=1", "{}", saved.body);
    let db = &app.state.db;
    assert_eq!(
        db.quiet_hours(&h.user_id).await.unwrap(),
        (Some(22 * 60), Some(7 * 60))
    );
    assert_eq!(
        db.user_by_id(&h.user_id).await.unwrap().unwrap().time_zone,
        "Europe/Berlin"
    );
    let prefs = db.notification_prefs(&h.device_id).await.unwrap();
    assert!(
        prefs.contains(&("push".to_owned(), true)) && prefs.contains(&("email".to_owned(), false)),
        "{prefs:?}"
    );
    let sub = db
        .subscription_by_id(&SubscriptionId::new(h.subscription_id.as_str()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sub.spend_cap_cents, Some(1250));
    let page = h.browser.get("/settings?saved=1").await;
    assert!(page.body.contains("value=\"22:00\"") && page.body.contains("Your settings are saved"));

    let too_high = h
        .browser
        .submit(
            "/settings",
            "/settings",
            &[("time_zone", "UTC"), (&cap, "51")],
        )
        .await;
    assert_eq!(too_high.status, StatusCode::BAD_REQUEST);
    assert!(too_high.body.contains("Spend cap"), "{}", too_high.body);
    let half = h
        .browser
        .submit(
            "/settings",
            "/settings",
            &[("time_zone", "UTC"), ("quiet_start", "22:00")],
        )
        .await;
    assert_eq!(half.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        db.subscription_by_id(&SubscriptionId::new(h.subscription_id.as_str()))
            .await
            .unwrap()
            .unwrap()
            .spend_cap_cents,
        Some(1250)
    );
}

#[tokio::test]
async fn a_customer_renames_a_mailbox_and_starts_its_return() {
    let app = spawn_sqlite().await;
    let mut h = app.household("olga@example.com", "SB-RET").await;
    let page = format!("/devices/{}", h.device_id);
    let renamed = h
        .browser
        .submit(
            &page,
            &page,
            &[("name", "Front gate"), ("location", "Oak Street 5")],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::SEE_OTHER);
    let via_api = h
        .browser
        .api("GET", &format!("/api/v1/devices/{}", h.device_id), None)
        .await
        .json();
    assert_eq!(
        (via_api["name"].as_str(), via_api["location"].as_str()),
        (Some("Front gate"), Some("Oak Street 5"))
    );
    let patched = h
        .browser
        .api(
            "PATCH",
            &format!("/api/v1/devices/{}", h.device_id),
            Some(serde_json::json!({"location": "Back door"})),
        )
        .await;
    assert_eq!(patched.json()["location"], "Back door");
    let long = "x".repeat(61);
    let refused = h.browser.submit(&page, &page, &[("name", &long)]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);

    let no_reason = h
        .browser
        .submit(&page, &format!("{page}/return"), &[])
        .await;
    assert_eq!(
        no_reason.status,
        StatusCode::BAD_REQUEST,
        "a return needs a reason"
    );
    let started = h
        .browser
        .submit(
            &page,
            &format!("{page}/return"),
            &[("reason", "Moving house"), ("details", "")],
        )
        .await;
    assert_eq!(started.location(), format!("{page}?done=return_started"));
    let shown = h.browser.get(started.location()).await.body;
    let open = app
        .state
        .db
        .open_return_of_device(&DeviceId::new(h.device_id.as_str()))
        .await
        .unwrap()
        .expect("an open return");
    assert!(
        shown.contains(&open.rma) && shown.contains("Return started"),
        "{shown}"
    );
    let device = app
        .state
        .db
        .device_by_id(&h.device_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        device.lifecycle_state, "active_subscription",
        "it works until received"
    );
    let slip = h.browser.get(&format!("{page}/return/slip")).await;
    assert_eq!(slip.status, StatusCode::OK);
    assert!(slip.body.contains(&open.rma) && slip.body.contains("Moving house"));
    let again = h
        .browser
        .submit(&page, &format!("{page}/return"), &[("reason", "Other")])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let canceled = h
        .browser
        .submit(&page, &format!("{page}/return/cancel"), &[])
        .await;
    assert_eq!(canceled.location(), format!("{page}?done=return_canceled"));
    assert!(
        app.state
            .db
            .open_return_of_device(&DeviceId::new(h.device_id.as_str()))
            .await
            .unwrap()
            .is_none()
    );

    // Started again, and this time the warehouse receives the box.
    h.browser
        .submit(&page, &format!("{page}/return"), &[("reason", "Other")])
        .await;
    let id = smartbox_domain::DeviceId::new(h.device_id.as_str());
    smartbox_server::services::staff_devices::receive_return(
        &app.state,
        &smartbox_server::services::Actor::Cli,
        &id,
        "box arrived at the warehouse",
    )
    .await
    .expect("received");
    let device = app
        .state
        .db
        .device_by_id(&h.device_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(device.lifecycle_state, "returned");
    assert!(
        app.state
            .db
            .live_subscription_of_device(&DeviceId::new(h.device_id.as_str()))
            .await
            .unwrap()
            .is_none()
    );
    let dashboard = h.browser.get("/dashboard").await.body;
    assert!(
        !dashboard.contains("You have mail"),
        "a returned mailbox announces no mail"
    );
}

#[tokio::test]
async fn billing_shows_usage_invoices_and_the_prorated_price_of_an_upgrade() {
    let app = spawn_sqlite().await;
    let mut h = app.household("pia@example.com", "SB-BILL").await;
    let sub = app
        .state
        .db
        .subscription_by_id(&SubscriptionId::new(h.subscription_id.as_str()))
        .await
        .unwrap()
        .unwrap();
    app.state
        .db
        .add_usage(
            &h.subscription_id,
            sub.current_period_start,
            sub.current_period_end,
            40,
            250_000_000,
        )
        .await
        .unwrap();
    let page = h.browser.get("/billing").await;
    assert!(
        page.body.contains("Notifications: 40 of 100"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Data: 250.0 MB of 1 GB"));
    assert!(page.body.contains("value=\"40\""), "the notifications bar");
    assert!(
        page.body.contains(
            "Upgrade to Premium</a> ($20.00 a month): <span class=\"prorated\">$0.00 now</span>"
        ),
        "a trial upgrade costs nothing now"
    );
    let number = app
        .state
        .db
        .invoice_by_id(&InvoiceId::new(h.invoice_id.as_str()))
        .await
        .unwrap()
        .unwrap()
        .number;
    assert!(page.body.contains(&number));
    let invoice = h
        .browser
        .get(&format!("/billing/invoices/{}", h.invoice_id))
        .await;
    assert!(invoice.body.contains("Basic plan") && invoice.body.contains("$5.00"));
    let api = h
        .browser
        .api("GET", &format!("/api/v1/invoices/{}", h.invoice_id), None)
        .await
        .json();
    assert_eq!(api["lines"][0]["amount_cents"], 500);
    assert_eq!(
        api["html_url"],
        format!("/billing/invoices/{}", h.invoice_id)
    );
}

#[tokio::test]
async fn the_openapi_document_describes_the_customer_api_next_to_the_device_api() {
    let app = spawn_sqlite().await;
    let doc = app.browser().get("/api/openapi.json").await.json();
    for path in [
        "/api/v1/me",
        "/api/v1/devices",
        "/api/v1/devices/{device_id}",
        "/api/v1/events",
        "/api/v1/events/{event_id}",
        "/api/v1/invoices",
        "/api/v1/invoices/{invoice_id}",
        "/api/v1/subscriptions",
        "/api/device/v1/heartbeat",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert!(doc["paths"]["/api/v1/devices/{device_id}"]["patch"].is_object());
    assert!(doc["components"]["securitySchemes"]["session"].is_object());
    assert!(doc["components"]["schemas"]["Invoice"]["properties"]["html_url"].is_object());
}

#[tokio::test]
async fn an_upgrade_shows_its_exact_prorated_price_before_confirming_and_then_its_invoice() {
    for app in crate::portal::helpers::spawn_apps().await {
        let mut h = app.household("quinn@example.com", "SB-UPG").await;
        let card = [
            ("number", "4242424242424242"),
            ("exp_month", "12"),
            ("exp_year", "2034"),
            ("cvc", "123"),
        ];
        let saved = h
            .browser
            .submit("/billing/payment-method", "/billing/payment-method", &card)
            .await;
        assert_eq!(saved.location(), "/billing?done=card", "{}", saved.body);

        // During the trial an upgrade is free and immediate.
        let preview = format!("/billing/plan?subscription={}&plan=plus", h.subscription_id);
        let page = h.browser.get(&preview).await;
        assert!(page.body.contains("at no extra charge"), "{}", page.body);
        let done = h
            .browser
            .submit(
                &preview,
                "/billing/plan",
                &[("subscription", &h.subscription_id), ("plan", "plus")],
            )
            .await;
        assert_eq!(done.location(), "/billing?done=plan_changed");
        let sub = app
            .state
            .db
            .subscription_by_id(&SubscriptionId::new(h.subscription_id.as_str()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sub.plan_id, "plus");

        // After the trial the card pays the first period; a day later Premium costs the share left.
        app.clock.advance_s(8 * 24 * 3600);
        app.state
            .billing()
            .run_billing_pass(app.state.clock.now(), None, "test")
            .await
            .expect("billing pass");
        let sub = app
            .state
            .db
            .subscription_by_id(&SubscriptionId::new(h.subscription_id.as_str()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sub.status, "active", "{}", app.backend);
        let expected = app.plus_to_premium_price(&sub);
        let money = smartbox_server::web::format::money(expected.get());
        let billing = h.browser.get("/billing").await;
        assert!(
            billing.body.contains(&format!("{money} now")),
            "the billing page shows {money}"
        );
        let preview = format!(
            "/billing/plan?subscription={}&plan=premium",
            h.subscription_id
        );
        let page = h.browser.get(&preview).await;
        assert!(
            page.body.contains(&format!(
                "You pay <strong class=\"prorated\">{money}</strong> now"
            )),
            "{}",
            page.body
        );
        let done = h
            .browser
            .submit(
                &preview,
                "/billing/plan",
                &[("subscription", &h.subscription_id), ("plan", "premium")],
            )
            .await;
        assert!(
            done.location().starts_with("/billing/invoices/"),
            "{}",
            done.location()
        );
        let invoice = h.browser.get(done.location()).await;
        assert!(
            invoice.body.contains("Plan upgrade") && invoice.body.contains(&money),
            "{}",
            invoice.body
        );
        assert!(invoice.body.contains("paid"), "charged to the saved card");

        // Cancel at period end, then take it back.
        let cancel = h
            .browser
            .submit(
                "/billing",
                "/billing/cancel",
                &[("subscription", &h.subscription_id)],
            )
            .await;
        assert_eq!(cancel.location(), "/billing?done=cancel_requested");
        assert!(
            app.state
                .db
                .subscription_by_id(&SubscriptionId::new(h.subscription_id.as_str()))
                .await
                .unwrap()
                .unwrap()
                .cancel_at_period_end
        );
        assert!(
            h.browser
                .get("/billing")
                .await
                .body
                .contains("Cancels at the end of this period")
        );
        let resume = h
            .browser
            .submit(
                "/billing",
                "/billing/resume",
                &[("subscription", &h.subscription_id)],
            )
            .await;
        assert_eq!(resume.location(), "/billing?done=resumed");
        assert!(
            !app.state
                .db
                .subscription_by_id(&SubscriptionId::new(h.subscription_id.as_str()))
                .await
                .unwrap()
                .unwrap()
                .cancel_at_period_end
        );
    }
}

#[tokio::test]
async fn settings_send_mailbox_wifi_credentials_sealed_and_refuse_bad_ones() {
    let app = spawn_sqlite().await;
    let mut h = app.household("wren@example.com", "SB-WIFI").await;
    let device = h.device_id.clone();
    let fields = |ssid: &'static str, passphrase: &'static str| {
        [
            ("wifi_device", device.clone()),
            ("wifi_ssid", ssid.to_owned()),
            ("wifi_passphrase", passphrase.to_owned()),
        ]
    };
    let short = fields("Garden", "short");
    let short: Vec<(&str, &str)> = short.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = h.browser.submit("/settings", "/settings", &short).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused
            .body
            .contains("The WiFi password is shorter than 8 characters."),
        "{}",
        refused.body
    );
    let db = &app.state.db;
    assert_eq!(
        db.device_wifi(&DeviceId::new(device.as_str()))
            .await
            .unwrap(),
        None
    );

    let good = fields("Garden", "tomatoes-and-beans");
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let saved = h.browser.submit("/settings", "/settings", &good).await;
    assert_eq!(saved.location(), "/settings?saved=1", "{}", saved.body);
    let row = db
        .device_wifi(&DeviceId::new(device.as_str()))
        .await
        .unwrap()
        .expect("saved");
    assert_eq!(row.ssid, "Garden");
    assert!(
        !row.sealed.windows(8).any(|w| w == b"tomatoes"),
        "the passphrase is stored sealed"
    );
    let page = h.browser.get("/settings").await;
    assert!(
        page.body.contains("Garden: Waiting for the next check-in"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("tomatoes"),
        "the page never shows the passphrase"
    );

    // Another customer cannot set this mailbox's WiFi.
    let mut stranger = app.customer("crow@example.com").await;
    let answer = stranger.submit("/settings", "/settings", &good).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}
