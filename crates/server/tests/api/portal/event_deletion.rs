//! Issue 17, item 6: a customer deletes a delivery from its page or the API. Its photos and
//! thumbnails leave the blob store, its rows go, one audit entry says who did it, and the usage
//! it counted stays counted. Another customer's event is "not found".

use axum::http::StatusCode;
use smartbox_server::Clock;
use smartbox_server::jobs::{Worker, registry};

use crate::portal::helpers::{PortalApp, START_MS, spawn_apps};

/// A small real JPEG, so that the thumbnail job makes a thumbnail of it.
fn photo() -> Vec<u8> {
    let (width, height) = (64_u16, 48_u16);
    let pixels: Vec<u8> = (0..u32::from(width) * u32::from(height))
        .flat_map(|i| [(i % 256) as u8, (i / 64 % 256) as u8, 128])
        .collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("encoded");
    out
}

/// Runs the server's jobs (thumbnails, readings, notifications) until none is due.
async fn run_jobs(app: &PortalApp) {
    app.clock.set_ms(app.clock.now_ms().max(START_MS + 600_000));
    Worker::with_id(app.state.clone(), registry(), "test-worker")
        .run_until_idle(50)
        .await
        .expect("the queue runs");
}

/// The blob keys (photos and thumbnails) of an event.
async fn blob_keys(app: &PortalApp, event_id: &str) -> Vec<String> {
    app.state
        .db
        .photos_of_event(event_id)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|p| std::iter::once(p.blob_key).chain(p.thumbnail_key))
        .collect()
}

#[tokio::test]
async fn a_deleted_delivery_takes_its_photos_and_thumbnails_but_not_its_usage() {
    for app in spawn_apps().await {
        let backend = app.backend;
        let mut h = app
            .household(&format!("del-{backend}@example.com"), "SB-DEL")
            .await;
        let event_id = uuid::Uuid::new_v4().to_string();
        app.deliver_photos(
            &h.device_id,
            &event_id,
            &[photo(), photo()],
            START_MS + 120_000,
        )
        .await;
        run_jobs(&app).await;
        let keys = blob_keys(&app, &event_id).await;
        assert_eq!(keys.len(), 4, "two photos and two thumbnails on {backend}");
        for key in &keys {
            assert!(app.state.photos.get(key).await.is_ok(), "{key} stored");
        }
        let usage_before = app
            .state
            .db
            .billing_subscription(&h.subscription_id)
            .await
            .unwrap()
            .unwrap()
            .period_notifications;

        let page = h.browser.get(&format!("/gallery/{event_id}")).await;
        assert!(page.body.contains("Delete this delivery and its photos"));
        let deleted = h
            .browser
            .submit(
                &format!("/gallery/{event_id}"),
                &format!("/gallery/{event_id}/delete"),
                &[],
            )
            .await;
        assert_eq!(
            deleted.location(),
            "/gallery?done=event_deleted",
            "{}: {}",
            deleted.status,
            deleted.body
        );
        let gallery = h.browser.get(deleted.location()).await;
        assert!(
            gallery
                .body
                .contains("The delivery and its photos are deleted.")
        );
        assert!(!gallery.body.contains(&event_id));
        assert_eq!(
            h.browser.get(&format!("/gallery/{event_id}")).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            h.browser.get(&format!("/photos/{event_id}/0")).await.status,
            StatusCode::NOT_FOUND
        );
        for key in &keys {
            assert!(app.state.photos.get(key).await.is_err(), "{key} deleted");
        }
        assert!(app.state.db.event_by_id(&event_id).await.unwrap().is_none());
        assert!(blob_keys(&app, &event_id).await.is_empty());
        let usage_after = app
            .state
            .db
            .billing_subscription(&h.subscription_id)
            .await
            .unwrap()
            .unwrap()
            .period_notifications;
        assert_eq!(usage_after, usage_before, "what was counted stays counted");
        let audit = app
            .state
            .db
            .audit_for("mail_event", &event_id)
            .await
            .unwrap();
        assert_eq!(audit.len(), 1, "{audit:?}");
        assert_eq!(audit[0].action, "mail_event_deleted");
        assert_eq!(audit[0].actor, format!("customer:{}", h.user_id));

        // The API: another customer's event is not found, the owner's is deleted once.
        let mut other = app
            .customer(&format!("other-del-{backend}@example.com"))
            .await;
        let path = format!("/api/v1/events/{}", h.event_id);
        let stolen = other.api("DELETE", &path, None).await;
        assert_eq!(stolen.status, StatusCode::NOT_FOUND, "{}", stolen.body);
        assert!(
            app.state
                .db
                .event_by_id(&h.event_id)
                .await
                .unwrap()
                .is_some()
        );
        let gone = h.browser.api("DELETE", &path, None).await;
        assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.body);
        let again = h.browser.api("DELETE", &path, None).await;
        assert_eq!(again.status, StatusCode::NOT_FOUND);
        assert!(again.json()["error"].is_string());
        assert_eq!(
            h.browser.api("GET", &path, None).await.status,
            StatusCode::NOT_FOUND
        );
    }
}
