//! Photos encrypted at rest: what lands in the blob store is ciphertext under the owner's data
//! key, while the portal serves exactly the bytes the mailbox sent; photos stored before
//! encryption are sealed by a resumable job; rotating the master key rewraps the keys and leaves
//! every photo and secret (WiFi credentials included) readable. On both backends.

use smartbox_domain::{DeviceId, UserId};
use std::sync::Arc;

use axum::http::StatusCode;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use smartbox_server::jobs::seal_photos::{self, SEAL_STORED_PHOTOS};
use smartbox_server::jobs::{Outcome, Worker, registry};
use smartbox_server::master_key_rotation;
use smartbox_server::secrets::MasterKey;
use smartbox_server::{AppState, Clock};

use super::helpers::{Household, JPEG, PortalApp, START_MS, spawn_apps};

/// A signed device request from the household's mailbox, at the app's clock.
async fn device_request(
    app: &PortalApp,
    h: &mut Household,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, String) {
    let answer = h
        .device_request(method, path, content_type, body, app.clock.now_ms() / 1000)
        .await;
    (answer.status, answer.body)
}

/// Every object under `photos/` in the blob store, as stored.
async fn stored_photos(store: &Arc<dyn ObjectStore>) -> Vec<(String, Vec<u8>)> {
    let metas: Vec<_> = store
        .list(Some(&"photos".into()))
        .try_collect()
        .await
        .expect("the store lists");
    let mut out = Vec::new();
    for meta in metas {
        let bytes = store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        out.push((meta.location.to_string(), bytes.to_vec()));
    }
    out
}

/// A real 160 x 120 JPEG, different for each `n`.
fn photo(n: u8) -> Vec<u8> {
    let pixels: Vec<u8> = (0..160u32 * 120)
        .flat_map(|i| [(i % 160) as u8, (i / 160) as u8, n.wrapping_mul(60)])
        .collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(&pixels, 160, 120, jpeg_encoder::ColorType::Rgb)
        .expect("encoded");
    out
}

/// A JPEG's start of image, or the JFIF tag its header carries: either in a stored blob means a
/// photo in the clear (ciphertext holds four given bytes once in 4 GB).
fn has_jpeg_marker(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8]) || bytes.windows(4).any(|w| w == b"JFIF")
}

async fn run_jobs(app: &PortalApp) -> Vec<Outcome> {
    Worker::with_id(app.state.clone(), registry(), "test-worker")
        .run_until_idle(500)
        .await
        .expect("the queue runs")
}

#[tokio::test]
async fn a_mailbox_photo_is_ciphertext_in_the_blob_store_and_the_portal_serves_it_byte_identical() {
    for app in spawn_apps().await {
        let mut h = app.household("vera@example.com", "SB-SEAL-01").await;
        app.clock.set_ms(START_MS + 120_000);
        let event_id = uuid::Uuid::new_v4().to_string();
        let event = serde_json::json!({
            "event_id": event_id, "kind": "mail_arrived",
            "occurred_at": START_MS / 1000 + 100, "photo_count": 3,
        });
        let (status, body) = device_request(
            &app,
            &mut h,
            "POST",
            "/api/device/v1/events",
            "application/json",
            event.to_string().into_bytes(),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let photos: Vec<Vec<u8>> = (0..3).map(photo).collect();
        for (idx, photo) in photos.iter().enumerate() {
            let path = format!("/api/device/v1/events/{event_id}/photos/{idx}");
            let (status, body) =
                device_request(&app, &mut h, "PUT", &path, "image/jpeg", photo.clone()).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        run_jobs(&app).await;

        let stored = stored_photos(&app.state.blobs).await;
        assert!(
            stored.len() >= 3,
            "the photos (and any thumbnails) are stored: {}",
            stored.len()
        );
        for (path, bytes) in &stored {
            assert!(
                !has_jpeg_marker(bytes),
                "{path} holds a JPEG in the clear on {}",
                app.backend
            );
            assert!(bytes.starts_with(b"SBXE"), "{path} is sealed");
        }
        for (idx, photo) in photos.iter().enumerate() {
            let served = h.browser.get(&format!("/photos/{event_id}/{idx}")).await;
            assert_eq!(served.status, StatusCode::OK);
            assert_eq!(
                &served.bytes, photo,
                "photo {idx} served as sent on {}",
                app.backend
            );
        }
        // The thumbnail job read the sealed photo and sealed its thumbnail under the same key.
        let rows = app.state.db.photos_of_event(&event_id).await.unwrap();
        assert!(
            rows.iter().all(|row| row.thumbnail_key.is_some()),
            "{rows:?}"
        );
    }
}

#[tokio::test]
async fn photos_stored_before_encryption_are_sealed_by_a_resumable_job_and_still_served() {
    for app in spawn_apps().await {
        let mut h = app.household("lena@example.com", "SB-SEAL-02").await;
        // More than one page of photos stored the old way, in the clear.
        app.state.photos.set_sealing(false);
        let mut events = Vec::new();
        for n in 0..35 {
            let event_id = uuid::Uuid::new_v4().to_string();
            app.deliver(&h.device_id, &event_id, 3, START_MS + 60_000 + n)
                .await;
            events.push(event_id);
        }
        app.state.photos.set_sealing(true);
        let clear = stored_photos(&app.state.blobs).await;
        assert!(clear.iter().filter(|(_, b)| has_jpeg_marker(b)).count() >= 105);

        seal_photos::enqueue_first(&app.state).await.unwrap();
        let outcomes = run_jobs(&app).await;
        let runs = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Done { kind, .. } if kind == SEAL_STORED_PHOTOS))
            .count();
        assert_eq!(runs, 2, "two pages: {outcomes:?}");
        for (path, bytes) in stored_photos(&app.state.blobs).await {
            assert!(
                !has_jpeg_marker(&bytes),
                "{path} still in the clear on {}",
                app.backend
            );
        }
        let served = h.browser.get(&format!("/photos/{}/2", events[34])).await;
        assert_eq!(served.status, StatusCode::OK);
        assert_eq!(served.bytes, JPEG, "served as it was stored");

        // Queued again (a restart), the first run is already known; sealing again changes nothing.
        seal_photos::enqueue_first(&app.state).await.unwrap();
        assert_eq!(
            app.state.db.count_jobs(SEAL_STORED_PHOTOS).await.unwrap(),
            2
        );
        let key = smartbox_server::device_api::photos::blob_key(&h.device_id, &events[0], 0);
        assert!(
            !app.state
                .photos
                .seal_in_place(&h.user_id, &key)
                .await
                .unwrap()
        );
    }
}

#[tokio::test]
async fn rotating_the_master_key_keeps_every_photo_device_and_webhook_secret_readable() {
    for app in spawn_apps().await {
        let h = app.household("rosa@example.com", "SB-SEAL-03").await;
        let customer = UserId::new(h.user_id.as_str());
        let actor = smartbox_server::services::Actor::customer(customer.clone());
        let webhook = smartbox_server::services::webhooks::set(
            &app.state,
            &actor,
            &customer,
            "https://hooks.example.com/mail",
        )
        .await
        .unwrap();
        smartbox_server::services::wifi::save(
            &app.state,
            &actor,
            &DeviceId::new(h.device_id.as_str()),
            "Garden",
            "s3cret-passphrase",
        )
        .await
        .expect("valid credentials");
        let old = MasterKey::from_bytes([7; 32]);
        let new = MasterKey::from_bytes([99; 32]);
        let now = app.clock.now_ms();
        master_key_rotation::check(&app.state.db, &old, now)
            .await
            .unwrap();

        let counts = master_key_rotation::rotate(&app.state.db, &old, &new, now)
            .await
            .unwrap();
        assert_eq!(
            (
                counts.device_secrets,
                counts.webhook_secrets,
                counts.photo_data_keys
            ),
            (1, 1, 1)
        );
        assert!(
            master_key_rotation::check(&app.state.db, &old, now)
                .await
                .is_err()
        );
        master_key_rotation::check(&app.state.db, &new, now)
            .await
            .unwrap();

        let rotated = AppState::new(
            app.state.config.clone(),
            app.state.db.clone(),
            Arc::clone(&app.state.blobs),
            Arc::new(app.clock.clone()),
            new.clone(),
        );
        let photo = smartbox_server::device_api::photos::blob_key(&h.device_id, &h.event_id, 0);
        assert_eq!(
            rotated.photos.get(&photo).await.unwrap().bytes.as_ref(),
            JPEG
        );
        let device = app
            .state
            .db
            .device_by_id(&h.device_id)
            .await
            .unwrap()
            .unwrap();
        let secret = new
            .open_device_secret(&device.serial, &device.secret_ciphertext)
            .expect("the device secret opens with the new key");
        assert_eq!(hex::encode(secret), h.factory.secret_hex);
        assert!(
            old.open_device_secret(&device.serial, &device.secret_ciphertext)
                .is_err()
        );
        let endpoint = smartbox_server::notifications::webhooks::endpoint(&rotated, &h.user_id)
            .await
            .unwrap()
            .expect("the webhook");
        assert_eq!(endpoint.secret, webhook, "the same secret, rewrapped");
        let wifi = app
            .state
            .db
            .device_wifi(&DeviceId::new(h.device_id.as_str()))
            .await
            .unwrap()
            .unwrap();
        let plain = new
            .open_wifi_credentials(&h.device_id, &wifi.sealed)
            .expect("the WiFi credentials open with the new key");
        assert!(plain.windows(17).any(|w| w == b"s3cret-passphrase"));
        // A process still on the old key cannot open the rewrapped data key.
        let stale = AppState::new(
            app.state.config.clone(),
            app.state.db.clone(),
            Arc::clone(&app.state.blobs),
            Arc::new(app.clock.clone()),
            old,
        );
        assert!(stale.photos.get(&photo).await.is_err());
    }
}
