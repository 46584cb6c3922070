//! Mail intelligence through the real server (issue 22): a mailbox's photos uploaded through the
//! device API are read by the `classify_event` job after the thumbnails — a delivery, a false
//! trigger (nothing changed, the flash brighter), a collection (the box empty again) — before
//! anyone is told; a false trigger is neither notified nor counted in the plan's usage; the API
//! and the gallery filter by kind and category, and the customer corrects a reading.

use axum::http::StatusCode;
use smartbox_server::Clock;
use smartbox_server::jobs::{Worker, registry};

use crate::portal::helpers::{Household, PortalApp, spawn_apps};

/// A 640 x 480 JPEG of the inside of a mailbox: a dark floor lit from the top, with light
/// rectangles lying in it `(x, y, width, height, colour)`, everything scaled by `flash`.
fn mailbox_photo(items: &[(u32, u32, u32, u32, [u8; 3])], flash: f32) -> Vec<u8> {
    let (width, height) = (640_u32, 480_u32);
    let mut rgb = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            let floor = 50.0 + 30.0 * (1.0 - y as f32 / height as f32);
            let mut colour = [floor, floor, floor * 0.95];
            for &(x0, y0, w, h, c) in items {
                if (x0..x0 + w).contains(&x) && (y0..y0 + h).contains(&y) {
                    // A printed line across the middle of the item.
                    let ink = y == y0 + h / 2 || y == y0 + h / 2 + 1;
                    colour = if ink { [30.0; 3] } else { c.map(f32::from) };
                }
            }
            rgb.extend(colour.map(|v| (v * flash).clamp(0.0, 255.0) as u8));
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(
            &rgb,
            width as u16,
            height as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .expect("encoded");
    out
}

const PARCEL: (u32, u32, u32, u32, [u8; 3]) = (200, 150, 260, 200, [170, 125, 80]);

/// One mail event with these photos through the signed device API; its id.
async fn upload(app: &PortalApp, h: &mut Household, photos: &[Vec<u8>]) -> String {
    let event_id = uuid::Uuid::new_v4().to_string();
    let now_s = app.clock.now_ms() / 1000;
    let body = serde_json::json!({
        "event_id": event_id, "kind": "mail_arrived", "occurred_at": now_s,
        "photo_count": photos.len(),
    });
    let answer = h
        .device_request(
            "POST",
            "/api/device/v1/events",
            "application/json",
            body.to_string().into_bytes(),
            now_s,
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    for (i, photo) in photos.iter().enumerate() {
        let path = format!("/api/device/v1/events/{event_id}/photos/{i}");
        let answer = h
            .device_request("PUT", &path, "image/jpeg", photo.clone(), now_s)
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    }
    let worker = Worker::with_id(app.state.clone(), registry(), "test-worker");
    worker.run_until_idle(50).await.expect("the queue runs");
    app.clock.set_ms(app.clock.now_ms() + 600_000);
    event_id
}

async fn notifications_counted(app: &PortalApp, h: &Household) -> i64 {
    let history = app
        .state
        .db
        .usage_history(&h.subscription_id)
        .await
        .unwrap();
    history.iter().map(|u| u.notifications).sum()
}

async fn read(app: &PortalApp, event_id: &str) -> (Option<String>, Option<String>) {
    let event = app.state.db.event_by_id(event_id).await.unwrap().unwrap();
    (event.mail_kind, event.category)
}

fn ids(answer: &crate::portal::helpers::Answer) -> Vec<String> {
    answer.json()["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn photos_tell_deliveries_collections_and_false_triggers_and_a_false_trigger_is_neither_notified_nor_counted()
 {
    for app in spawn_apps().await {
        let mut h = app.household("mo@example.com", "SB-MAIL-0001").await;
        app.clock.set_ms(app.clock.now_ms() + 600_000);
        let worker = Worker::with_id(app.state.clone(), registry(), "test-worker");
        worker.run_until_idle(50).await.expect("the queue runs");
        let counted_before = notifications_counted(&app, &h).await;

        let empty = |flash| vec![mailbox_photo(&[], flash); 3];
        let parcel = |flash| vec![mailbox_photo(&[PARCEL], flash); 3];
        // First look into the box: empty, so nothing happened.
        let first = upload(&app, &mut h, &empty(1.0)).await;
        let delivery = upload(&app, &mut h, &parcel(1.0)).await;
        // The flash fires brighter, nothing else changed.
        let nothing = upload(&app, &mut h, &parcel(1.2)).await;
        let collection = upload(&app, &mut h, &empty(0.95)).await;

        let on = app.backend;
        assert_eq!(
            read(&app, &first).await,
            (Some("false_trigger".into()), None),
            "{on}"
        );
        let (kind, category) = read(&app, &delivery).await;
        assert_eq!(kind.as_deref(), Some("delivery"), "{on}");
        assert!(category.is_some(), "a delivery has a category on {on}");
        assert_eq!(
            read(&app, &nothing).await.0.as_deref(),
            Some("false_trigger"),
            "{on}"
        );
        assert_eq!(
            read(&app, &collection).await.0.as_deref(),
            Some("collection"),
            "{on}"
        );

        // Only the delivery and the collection were told and counted.
        for (event, told) in [
            (&first, false),
            (&delivery, true),
            (&nothing, false),
            (&collection, true),
        ] {
            let deliveries = app.state.db.deliveries_of_event(event).await.unwrap();
            assert_eq!(
                !deliveries.is_empty(),
                told,
                "{event} on {on}: {deliveries:?}"
            );
        }
        assert_eq!(
            notifications_counted(&app, &h).await,
            counted_before + 2,
            "{on}"
        );

        // The API filters by kind and category, and refuses names it does not know.
        let answer = h
            .browser
            .api("GET", "/api/v1/events?kind=false_trigger", None)
            .await;
        assert_eq!(ids(&answer), [nothing.clone(), first.clone()], "{on}");
        let answer = h
            .browser
            .api("GET", "/api/v1/events?kind=delivery", None)
            .await;
        assert_eq!(ids(&answer), std::slice::from_ref(&delivery), "{on}");
        assert_eq!(answer.json()["events"][0]["mail_kind"], "delivery");
        let category_of_delivery = category.unwrap();
        let answer = h
            .browser
            .api(
                "GET",
                &format!("/api/v1/events?category={category_of_delivery}"),
                None,
            )
            .await;
        assert_eq!(ids(&answer), std::slice::from_ref(&delivery), "{on}");
        for bad in ["kind=parcel", "category=parcel"] {
            let answer = h
                .browser
                .api("GET", &format!("/api/v1/events?{bad}"), None)
                .await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad} on {on}");
        }

        // The gallery shows what each event was and filters by it.
        let page = h.browser.get("/gallery?kind=collection").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains(&collection) && !page.body.contains(&delivery),
            "{on}"
        );
        assert!(page.body.contains("Collection"), "{}", page.body);
        let page = h.browser.get("/gallery?kind=sunshine").await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{on}");

        // The customer corrects the delivery: stored, shown, audited.
        let answer = h
            .browser
            .api(
                "POST",
                &format!("/api/v1/events/{delivery}/correction"),
                Some(serde_json::json!({ "kind": "delivery", "category": "magazine" })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.json()["category"], "magazine");
        assert_eq!(answer.json()["corrected"], true);
        let page = h.browser.get(&format!("/gallery/{delivery}")).await;
        assert!(
            page.body.contains("Magazine or catalogue (corrected)"),
            "{}",
            page.body
        );
        let audit = app
            .state
            .db
            .audit_for("mail_event", &delivery)
            .await
            .unwrap();
        assert_eq!(audit.len(), 1, "{on}");
        let answer = h
            .browser
            .api(
                "POST",
                &format!("/api/v1/events/{collection}/correction"),
                Some(serde_json::json!({ "kind": "collection", "category": "letter" })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
        assert_eq!(answer.json()["error"], "category_without_delivery");
        let mut stranger = app.customer("stranger@example.com").await;
        let answer = stranger
            .api(
                "POST",
                &format!("/api/v1/events/{delivery}/correction"),
                Some(serde_json::json!({ "kind": "false_trigger" })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{on}");
    }
}

#[tokio::test]
async fn a_customer_who_wants_deliveries_only_is_not_told_of_collections() {
    for app in spawn_apps().await {
        let mut h = app.household("di@example.com", "SB-MAIL-0002").await;
        app.clock.set_ms(app.clock.now_ms() + 600_000);
        let worker = Worker::with_id(app.state.clone(), registry(), "test-worker");
        worker.run_until_idle(50).await.expect("the queue runs");
        let answer = h
            .browser
            .api(
                "PATCH",
                "/api/v1/settings",
                Some(serde_json::json!({
                    "deliveries_only": [{ "device_id": h.device_id, "enabled": true }]
                })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.json()["notifications"][0]["deliveries_only"], true);

        upload(&app, &mut h, &vec![mailbox_photo(&[], 1.0); 3]).await;
        let delivery = upload(&app, &mut h, &vec![mailbox_photo(&[PARCEL], 1.0); 3]).await;
        let collection = upload(&app, &mut h, &vec![mailbox_photo(&[], 1.0); 3]).await;
        let on = app.backend;
        assert_eq!(
            read(&app, &collection).await.0.as_deref(),
            Some("collection"),
            "{on}"
        );
        let told = app.state.db.deliveries_of_event(&delivery).await.unwrap();
        assert!(!told.is_empty(), "{on}");
        let told = app.state.db.deliveries_of_event(&collection).await.unwrap();
        assert!(told.is_empty(), "{on}: {told:?}");
    }
}
