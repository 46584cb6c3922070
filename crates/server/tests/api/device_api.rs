//! Stories of mailboxes talking to the device API (DESIGN §5, issue 3), on every backend.

use object_store::ObjectStoreExt;
use object_store::path::Path as BlobPath;
use reqwest::Method;
use serde_json::{Value, json};
use smartbox_billing::CardDetails;
use smartbox_domain::{DeviceId, LifecycleState, PlanId, SubscriptionId, SubscriptionStatus};
use smartbox_protocol::{EVENTS_PATH, FIRMWARE_REPORT_PATH, HEARTBEAT_PATH, MAX_PHOTO_BYTES};
use smartbox_server::Clock;
use smartbox_server::device_api::jpeg;
use smartbox_server::firmware_release;
use smartbox_server::jobs::{Worker, registry};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, TestDevice, event_id, spawn_apps, status_and_json, vitals_body};

const UNAUTHORIZED: &str = r#"{"error":"unauthorized","message":"authentication failed"}"#;

async fn assert_unauthorized(app: &TestApp, response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), 401, "{what} on {}", app.backend);
    let date = response
        .headers()
        .get("date")
        .and_then(|d| d.to_str().ok())
        .map(str::to_owned);
    assert_eq!(
        date.as_deref(),
        Some("Wed, 20 May 2026 10:00:00 GMT"),
        "{what}: the Date header tells the server's time"
    );
    let body = response.text().await.unwrap_or_default();
    assert_eq!(
        body, UNAUTHORIZED,
        "{what}: the same body for every failure"
    );
}

#[tokio::test]
async fn a_heartbeat_is_stored_and_answered_with_the_service_state_config_and_time() {
    for app in spawn_apps().await {
        let device = app.activated_device("SB-HB-01", PlanId::Basic).await;
        let (status, body) =
            status_and_json(app.heartbeat(&device, &vitals_body("1.0.0")).await).await;
        assert_eq!(status, 200, "{}", app.backend);
        assert_eq!(
            body,
            json!({
                "server_time": 1_779_271_200,
                "service": "active",
                "config": {"checkin_interval_s": 21600, "jpeg_quality": 80, "wifi_min_rssi_dbm": -70},
                "firmware": null,
            })
        );
        let series = app.vitals(&device).await;
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].battery_percentage, 87);
        assert_eq!(series[0].network, "cellular");
        assert_eq!(series[0].modem_rx_bytes, 654_321);
        assert_eq!(series[0].sd_queue_len, 2);
        let stored = app
            .state
            .db
            .device_by_id(&device.device_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.last_seen_at, Some(app.clock.now_ms()));
        assert_eq!(stored.power_state, "awake");
        assert_eq!(stored.firmware_version.as_deref(), Some("1.0.0"));

        app.clock.advance_s(60);
        let mut later = vitals_body("1.0.0");
        later["battery_percent"] = json!(86);
        assert_eq!(app.heartbeat(&device, &later).await.status(), 200);
        assert_eq!(
            app.vitals(&device).await.len(),
            2,
            "a time series for charts"
        );
    }
}

#[tokio::test]
async fn an_unknown_serial_a_bad_signature_or_a_skewed_clock_all_get_the_same_401_with_a_date() {
    for app in spawn_apps().await {
        let device = app.activated_device("SB-AUTH-01", PlanId::Basic).await;
        let good = app.signed_json(&device, HEARTBEAT_PATH, &vitals_body("1.0.0"));

        let mut unknown = good.clone();
        unknown.serial = "SB-NOBODY".to_owned();
        assert_unauthorized(&app, app.send(unknown).await, "unknown serial").await;

        let mut flipped = good.clone();
        let last = flipped.body.len() - 2;
        flipped.body[last] ^= 0x01;
        assert_unauthorized(&app, app.send(flipped).await, "one flipped body byte").await;

        let mut wrong_secret = good.clone();
        wrong_secret.signature = "0".repeat(64);
        assert_unauthorized(&app, app.send(wrong_secret).await, "bad signature").await;

        let stranger = crate::helpers::TestDevice {
            secret: [7; 32],
            ..device.clone()
        };
        let forged = app.signed_json(&stranger, HEARTBEAT_PATH, &vitals_body("1.0.0"));
        assert_unauthorized(&app, app.send(forged).await, "another secret").await;

        app.clock.advance_s(-301);
        let old = app.signed_json(&device, HEARTBEAT_PATH, &vitals_body("1.0.0"));
        app.clock.advance_s(301);
        assert_unauthorized(&app, app.send(old).await, "a timestamp 301 s old").await;

        app.clock.advance_s(301);
        let future = app.signed_json(&device, HEARTBEAT_PATH, &vitals_body("1.0.0"));
        app.clock.advance_s(-301);
        assert_unauthorized(&app, app.send(future).await, "a timestamp 301 s ahead").await;

        let mut no_time = good.clone();
        no_time.time = i64::MIN;
        assert_unauthorized(&app, app.send(no_time).await, "an absurd time").await;

        app.clock.advance_s(-300);
        let edge = app.signed_json(&device, HEARTBEAT_PATH, &vitals_body("1.0.0"));
        app.clock.advance_s(300);
        assert_eq!(
            app.send(edge).await.status(),
            200,
            "300 s off is still accepted"
        );

        let signed_elsewhere = app.signed_json(&device, EVENTS_PATH, &vitals_body("1.0.0"));
        let mut replayed = signed_elsewhere;
        replayed.path = HEARTBEAT_PATH.to_owned();
        assert_unauthorized(
            &app,
            app.send(replayed).await,
            "a signature for another path",
        )
        .await;

        // A second later (the series keeps one sample per device and instant).
        app.clock.advance_s(1);
        assert_eq!(app.send(good).await.status(), 200);
        assert_eq!(
            app.vitals(&device).await.len(),
            2,
            "refused requests store nothing"
        );
    }
}

#[tokio::test]
async fn a_decommissioned_mailbox_is_refused_like_a_stranger() {
    for app in spawn_apps().await {
        let device = app.activated_device("SB-DECOM-01", PlanId::Basic).await;
        assert_eq!(
            app.heartbeat(&device, &vitals_body("1.0.0")).await.status(),
            200
        );
        assert!(
            app.state
                .db
                .set_device_lifecycle(
                    &DeviceId::new(&device.device_id),
                    LifecycleState::ActiveSubscription,
                    LifecycleState::Decommissioned,
                )
                .await
                .unwrap()
        );
        app.state.device_api.devices.forget(&device.serial);
        let response = app.heartbeat(&device, &vitals_body("1.0.0")).await;
        assert_unauthorized(&app, response, "decommissioned").await;
        let response = app.post_event(&device, &event_id(), 0).await;
        assert_unauthorized(&app, response, "decommissioned event").await;
    }
}

#[tokio::test]
async fn a_lifecycle_change_elsewhere_reaches_the_device_api_within_the_cache_ttl() {
    for app in spawn_apps().await {
        let device = decommissioned_behind_the_cache(&app, "SB-TTL-01").await;
        app.clock
            .advance_ms(smartbox_server::device_api::context::CACHE_TTL_MS);
        let response = app.heartbeat(&device, &vitals_body("1.0.0")).await;
        assert_unauthorized_at_any_time(response).await;
    }
}

#[tokio::test]
async fn a_busy_device_s_context_is_reloaded_ahead_of_its_ttl_off_the_request_path() {
    use smartbox_server::device_api::context::{CACHE_TTL_MS, REFRESH_AHEAD_MS};
    for app in spawn_apps().await {
        let device = decommissioned_behind_the_cache(&app, "SB-TTL-02").await;
        // Still within the TTL: answered from the cached context, which starts a reload.
        app.clock.advance_ms(REFRESH_AHEAD_MS);
        assert_eq!(
            app.heartbeat(&device, &vitals_body("1.0.0")).await.status(),
            200,
            "a fresh context is served while it is reloaded, on {}",
            app.backend
        );
        // Before the first context's TTL ends, the reloaded one (decommissioned) answers.
        app.clock.advance_ms((CACHE_TTL_MS - REFRESH_AHEAD_MS) / 2);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let response = app.heartbeat(&device, &vitals_body("1.0.0")).await;
            if response.status() == 401 {
                assert_unauthorized_at_any_time(response).await;
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the background reload never replaced the cached context on {}",
                app.backend
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// An active device whose context the device API has cached (one heartbeat answered), then
/// decommissioned in the database behind the cache's back, as another process would.
async fn decommissioned_behind_the_cache(app: &TestApp, serial: &str) -> TestDevice {
    let device = app.activated_device(serial, PlanId::Basic).await;
    assert_eq!(
        app.heartbeat(&device, &vitals_body("1.0.0")).await.status(),
        200
    );
    app.state
        .db
        .set_device_lifecycle(
            &DeviceId::new(&device.device_id),
            LifecycleState::ActiveSubscription,
            LifecycleState::Decommissioned,
        )
        .await
        .unwrap();
    device
}

async fn assert_unauthorized_at_any_time(response: reqwest::Response) {
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("date"));
    assert_eq!(response.text().await.unwrap_or_default(), UNAUTHORIZED);
}

#[tokio::test]
async fn a_new_event_is_201_and_the_same_event_again_is_200_and_counted_once() {
    for app in spawn_apps().await {
        let device = app.activated_device("SB-EV-01", PlanId::Basic).await;
        let id = event_id();
        let (status, body) = status_and_json(app.post_event(&device, &id, 2).await).await;
        assert_eq!(status, 201, "{}", app.backend);
        assert_eq!(
            body,
            json!({"event_id": id, "photos_received": 0, "complete": false})
        );
        let (status, body) = status_and_json(app.post_event(&device, &id, 2).await).await;
        assert_eq!(status, 200, "the same event again");
        assert_eq!(
            body,
            json!({"event_id": id, "photos_received": 0, "complete": false})
        );
        assert_eq!(
            app.usage(&device).await.notifications,
            1,
            "usage counted once"
        );
        let stored = app.state.db.event_by_id(&id).await.unwrap().unwrap();
        assert_eq!(
            (stored.kind.as_str(), stored.photo_count),
            ("mail_arrived", 2)
        );
        assert_eq!(stored.occurred_at, (app.clock.now_ms() / 1000 - 12) * 1000);

        let other = app.activated_device("SB-EV-02", PlanId::Basic).await;
        let (status, body) = status_and_json(app.post_event(&other, &id, 2).await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (409, Some("conflict")),
            "another device's id"
        );

        let (status, body) = status_and_json(app.post_event(&device, &event_id(), 0).await).await;
        assert_eq!(
            (status, body["complete"].as_bool()),
            (201, Some(true)),
            "no photos: complete at once"
        );
        assert_eq!(app.state.db.count_jobs("event_completed").await.unwrap(), 1);
    }
}

#[tokio::test]
async fn events_and_photos_sent_all_at_once_share_commits_yet_each_is_stored_and_counted_once() {
    for app in spawn_apps().await {
        let devices = [
            app.activated_device("SB-GC-01", PlanId::Plus).await,
            app.activated_device("SB-GC-02", PlanId::Plus).await,
        ];
        let ids: Vec<String> = (0..6).map(|_| event_id()).collect();
        let device_of = |n: usize| &devices[n % 2];
        // Every event twice at once: a retry racing its original.
        let posts = ids
            .iter()
            .enumerate()
            .chain(ids.iter().enumerate())
            .map(|(n, id)| app.post_event(device_of(n), id, 3));
        let mut created = 0;
        for response in futures::future::join_all(posts).await {
            match response.status().as_u16() {
                201 => created += 1,
                200 => {}
                other => panic!("an event answered {other} on {}", app.backend),
            }
        }
        assert_eq!(created, ids.len(), "one 201 per event on {}", app.backend);

        let photo = jpeg::synthetic(2_000);
        let puts = ids
            .iter()
            .enumerate()
            .flat_map(|(n, id)| (0..3u8).chain([1]).map(move |index| (n, id, index)));
        let puts = puts.map(|(n, id, index)| app.put_photo(device_of(n), id, index, photo.clone()));
        let statuses: Vec<u16> = futures::future::join_all(puts)
            .await
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            ids.len() * 3,
            "one 201 per photo on {}: {statuses:?}",
            app.backend
        );
        assert!(
            statuses.iter().all(|s| *s == 201 || *s == 200),
            "{statuses:?}"
        );
        for id in &ids {
            let event = app.state.db.event_by_id(id).await.unwrap().expect("stored");
            assert_eq!(event.photos_received, 3);
            assert!(event.completed_at.is_some());
        }
        assert_eq!(
            app.state.db.count_jobs("event_completed").await.unwrap(),
            i64::try_from(ids.len()).unwrap(),
            "one job per event"
        );
        for device in &devices {
            assert_eq!(
                app.usage(device).await.notifications,
                3,
                "three events each"
            );
        }
    }
}

#[tokio::test]
async fn an_event_completes_when_its_three_photos_are_stored_and_enqueues_one_job() {
    for app in spawn_apps().await {
        let device = app.activated_device("SB-PH-01", PlanId::Plus).await;
        let id = event_id();
        assert_eq!(app.post_event(&device, &id, 3).await.status(), 201);
        let photos: Vec<Vec<u8>> = (0..3).map(|i| jpeg::synthetic(60_000 + i)).collect();
        for (index, photo) in photos.iter().enumerate().take(2) {
            let (status, body) = status_and_json(
                app.put_photo(&device, &id, index as u8, photo.clone())
                    .await,
            )
            .await;
            assert_eq!(status, 201, "{}", app.backend);
            assert_eq!(body["photos_received"], json!(index + 1));
            assert_eq!(body["complete"], json!(false));
        }
        let (status, body) =
            status_and_json(app.put_photo(&device, &id, 1, photos[1].clone()).await).await;
        assert_eq!(
            (status, body["photos_received"].as_u64()),
            (200, Some(2)),
            "the same photo again"
        );
        assert_eq!(app.state.db.count_jobs("event_completed").await.unwrap(), 0);

        let (status, body) =
            status_and_json(app.put_photo(&device, &id, 2, photos[2].clone()).await).await;
        assert_eq!(status, 201);
        assert_eq!(
            body,
            json!({"event_id": id, "photos_received": 3, "complete": true})
        );
        let (status, body) =
            status_and_json(app.put_photo(&device, &id, 2, photos[2].clone()).await).await;
        assert_eq!((status, body["complete"].as_bool()), (200, Some(true)));
        assert_eq!(
            app.state.db.count_jobs("event_completed").await.unwrap(),
            1,
            "exactly once"
        );

        let stored = app.state.db.photos_of_event(&id).await.unwrap();
        assert_eq!(stored.len(), 3);
        for (row, photo) in stored.iter().zip(&photos) {
            let blob = app
                .state
                .blobs
                .get(&BlobPath::from(row.blob_key.as_str()))
                .await
                .unwrap();
            let at_rest = blob.bytes().await.unwrap();
            let middle = &photo[photo.len() / 2..photo.len() / 2 + 32];
            assert!(
                at_rest.starts_with(b"SBXE") && !at_rest.windows(32).any(|w| w == middle),
                "sealed at rest"
            );
            assert_eq!(
                app.state
                    .photos
                    .get(&row.blob_key)
                    .await
                    .unwrap()
                    .bytes
                    .as_ref(),
                photo.as_slice(),
                "bytes kept as sent"
            );
            assert_eq!(row.size_bytes, photo.len() as i64);
        }
        assert_eq!(
            app.usage(&device).await.notifications,
            1,
            "photos are not notifications"
        );
    }
}

#[tokio::test]
async fn a_photo_must_be_a_jpeg_of_an_own_event_within_its_photo_count_and_2_mib() {
    for app in spawn_apps().await {
        let device = app.activated_device("SB-PH-02", PlanId::Basic).await;
        let id = event_id();
        assert_eq!(app.post_event(&device, &id, 2).await.status(), 201);

        let (status, body) =
            status_and_json(app.put_photo(&device, &id, 2, jpeg::synthetic(1_000)).await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_photo_index")),
            "index = photo_count"
        );
        let (status, _) =
            status_and_json(app.put_photo(&device, &id, 7, jpeg::synthetic(1_000)).await).await;
        assert_eq!(status, 400, "index past photo_count");

        let png =
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x08\0\0\0\x08\x08\x02\0\0\0\x4b\x6d\x29\xdc"
                .to_vec();
        let (status, body) = status_and_json(app.put_photo(&device, &id, 0, png).await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("not_a_jpeg")),
            "a PNG"
        );
        let random: Vec<u8> = (0..50_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        let (status, _) = status_and_json(app.put_photo(&device, &id, 0, random).await).await;
        assert_eq!(status, 400, "random bytes");

        let path = format!("/api/device/v1/events/{id}/photos/0");
        let as_png = app.signed(
            &device,
            Method::PUT,
            &path,
            Some("image/png"),
            jpeg::synthetic(1_000),
        );
        assert_eq!(app.send(as_png).await.status(), 415, "wrong content type");

        let too_large = jpeg::synthetic(MAX_PHOTO_BYTES as usize + 1);
        assert_eq!(too_large.len(), MAX_PHOTO_BYTES as usize + 1);
        let (status, body) = status_and_json(app.put_photo(&device, &id, 0, too_large).await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (413, Some("payload_too_large"))
        );

        let unknown = event_id();
        let (status, _) = status_and_json(
            app.put_photo(&device, &unknown, 0, jpeg::synthetic(1_000))
                .await,
        )
        .await;
        assert_eq!(status, 404, "unknown event");
        let stranger = app.activated_device("SB-PH-03", PlanId::Basic).await;
        let (status, _) = status_and_json(
            app.put_photo(&stranger, &id, 0, jpeg::synthetic(1_000))
                .await,
        )
        .await;
        assert_eq!(status, 404, "another device's event");

        assert!(
            app.state.db.photos_of_event(&id).await.unwrap().is_empty(),
            "nothing stored"
        );
        let largest = jpeg::synthetic(MAX_PHOTO_BYTES as usize);
        assert_eq!(largest.len(), MAX_PHOTO_BYTES as usize);
        assert_eq!(
            app.put_photo(&device, &id, 0, largest).await.status(),
            201,
            "exactly 2 MiB is fine"
        );
    }
}

#[tokio::test]
async fn a_photo_over_2_mib_is_refused_from_its_length_before_the_body_is_sent() {
    for app in spawn_apps().await {
        let device = app.activated_device("SB-PH-04", PlanId::Basic).await;
        let id = event_id();
        assert_eq!(app.post_event(&device, &id, 1).await.status(), 201);
        let path = format!("/api/device/v1/events/{id}/photos/0");
        let signed = app.signed(&device, Method::PUT, &path, Some("image/jpeg"), Vec::new());
        // Announce 2 MiB + 1 and send no body at all: the answer must come anyway.
        let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let head = format!(
            "PUT {path} HTTP/1.1\r\nhost: test\r\ncontent-type: image/jpeg\r\ncontent-length: {}\r\n\
             x-device-serial: {}\r\nx-device-time: {}\r\nx-device-signature: {}\r\n\r\n",
            MAX_PHOTO_BYTES + 1,
            signed.serial,
            signed.time,
            signed.signature
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 1024];
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
                .await
                .expect("answered without the body")
                .unwrap();
        let text = String::from_utf8_lossy(&answer[..read]);
        assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    }
}

#[tokio::test]
async fn a_mailbox_in_pre_activation_gets_402_and_nothing_is_stored() {
    for app in spawn_apps().await {
        let device = app.import_device("SB-PRE-01").await;
        let id = event_id();
        let (status, body) = status_and_json(app.post_event(&device, &id, 1).await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (402, Some("payment_required")),
            "{}",
            app.backend
        );
        assert!(app.state.db.event_by_id(&id).await.unwrap().is_none());
        let (status, body) =
            status_and_json(app.heartbeat(&device, &vitals_body("1.0.0")).await).await;
        assert_eq!(
            (status, body["service"].as_str()),
            (200, Some("suspended")),
            "heartbeats still answer"
        );
    }
}

#[tokio::test]
async fn a_suspended_subscription_gets_402_and_keeps_reporting_and_learning_its_state() {
    for app in spawn_apps().await {
        let device = app.activated_device("SB-SUS-01", PlanId::Basic).await;
        let subscription = app.subscription_id(&device).await;
        assert!(
            app.state
                .db
                .set_subscription_status(
                    &SubscriptionId::new(subscription.as_str()),
                    SubscriptionStatus::Trialing,
                    SubscriptionStatus::Suspended,
                    0,
                )
                .await
                .unwrap()
        );
        let id = event_id();
        let (status, _) = status_and_json(app.post_event(&device, &id, 3).await).await;
        assert_eq!(status, 402, "{}", app.backend);
        assert!(
            app.state.db.event_by_id(&id).await.unwrap().is_none(),
            "nothing stored"
        );
        assert_eq!(app.usage(&device).await.notifications, 0);
        let (status, body) =
            status_and_json(app.heartbeat(&device, &vitals_body("1.0.0")).await).await;
        assert_eq!((status, body["service"].as_str()), (200, Some("suspended")));

        app.state
            .db
            .set_subscription_status(
                &SubscriptionId::new(subscription.as_str()),
                SubscriptionStatus::Suspended,
                SubscriptionStatus::PastDue,
                0,
            )
            .await
            .unwrap();
        assert_eq!(
            app.post_event(&device, &id, 3).await.status(),
            201,
            "in grace it works again"
        );
    }
}

#[tokio::test]
async fn a_mailbox_suspended_by_the_billing_engine_hears_it_on_its_very_next_request() {
    for app in spawn_apps().await {
        let worker = Worker::new(app.state.clone(), registry());
        let device = app.activated_device("SB-CACHE-01", PlanId::Basic).await;
        let customer = app.customer_of(&device).await;
        app.state
            .billing()
            .attach_test_card(
                &customer,
                &CardDetails::test("4000000000000341"),
                app.clock.now(),
                "user:test",
            )
            .await
            .expect("a card that saves, then declines");
        // The trial ends on a declined charge; the retries at +24 h and +48 h decline too.
        let anchor_ms = app.clock.now_ms() + 7 * 86_400_000;
        for hours in [0, 24, 48, 71] {
            app.clock.set_ms(anchor_ms + hours * 3_600_000);
            worker.run_until_idle(100).await.expect("the worker runs");
        }
        app.clock.set_ms(anchor_ms + 72 * 3_600_000);
        let (status, body) =
            status_and_json(app.heartbeat(&device, &vitals_body("1.0.0")).await).await;
        assert_eq!(
            (status, body["service"].as_str()),
            (200, Some("active")),
            "in grace on {}: the device API now holds this context",
            app.backend
        );

        worker.run_until_idle(100).await.expect("the worker runs");
        let subscription = app.subscription_id(&device).await;
        let row = app
            .state
            .db
            .billing_subscription(&subscription)
            .await
            .unwrap()
            .expect("the subscription");
        assert_eq!(
            (row.status.as_str(), row.device_lifecycle.as_str()),
            ("suspended", "suspended"),
            "72 h after the first decline"
        );
        let (status, body) =
            status_and_json(app.heartbeat(&device, &vitals_body("1.0.0")).await).await;
        assert_eq!(
            (status, body["service"].as_str()),
            (200, Some("suspended")),
            "the same instant, well within the cache's TTL, on {}",
            app.backend
        );
        let (status, body) = status_and_json(app.post_event(&device, &event_id(), 0).await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (402, Some("payment_required"))
        );
    }
}

#[tokio::test]
async fn the_101st_event_of_a_basic_mailbox_with_cap_0_is_429_until_the_period_ends() {
    for app in spawn_apps().await {
        let device = app.basic_device_capped_at_0("SB-CAP-01").await;
        for n in 0..100 {
            let status = app.post_event(&device, &event_id(), 0).await.status();
            assert_eq!(status, 201, "event {} on {}", n + 1, app.backend);
        }
        app.clock.advance_s(3_600);
        let response = app.post_event(&device, &event_id(), 0).await;
        assert_eq!(response.status(), 429);
        // The trial started at START and lasts 7 days; an hour of it is gone.
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        assert_eq!(
            retry_after.as_deref(),
            Some(&*(7 * 86_400 - 3_600).to_string())
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "spend_cap_reached");
        assert_eq!(
            app.usage(&device).await.notifications,
            100,
            "the refused event is not counted"
        );

        let (status, body) =
            status_and_json(app.heartbeat(&device, &vitals_body("1.0.0")).await).await;
        assert_eq!(
            (status, body["service"].as_str()),
            (200, Some("limited")),
            "never 429 on heartbeats"
        );
    }
}

#[tokio::test]
async fn malformed_or_out_of_range_bodies_are_400_naming_the_field_and_other_types_415() {
    for app in spawn_apps().await {
        let device = app.activated_device("SB-BAD-01", PlanId::Basic).await;
        let mut body = vitals_body("1.0.0");
        body["battery_percent"] = json!(101);
        let (status, answer) = status_and_json(app.heartbeat(&device, &body).await).await;
        assert_eq!(status, 400, "{}", app.backend);
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or("")
                .contains("battery_percent"),
            "{answer}"
        );
        body["battery_percent"] = json!(-1);
        let (status, answer) = status_and_json(app.heartbeat(&device, &body).await).await;
        assert!(
            status == 400
                && answer["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("battery_percent")
        );
        body["battery_percent"] = json!(50);
        body["power_state"] = json!("dancing");
        let (status, answer) = status_and_json(app.heartbeat(&device, &body).await).await;
        assert!(
            status == 400
                && answer["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("power_state"),
            "{answer}"
        );

        let event = json!({"event_id": event_id(), "kind": "mail_arrived", "occurred_at": 1, "photo_count": 4});
        let request = app.signed_json(&device, EVENTS_PATH, &event);
        let (status, answer) = status_and_json(app.send(request).await).await;
        assert!(
            status == 400
                && answer["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("photo_count"),
            "{answer}"
        );
        let event = json!({"event_id": "not-a-uuid", "kind": "mail_arrived", "occurred_at": 1, "photo_count": 1});
        let (status, answer) = status_and_json(
            app.send(app.signed_json(&device, EVENTS_PATH, &event))
                .await,
        )
        .await;
        assert!(
            status == 400
                && answer["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("event_id"),
            "{answer}"
        );
        let broken = app.signed(
            &device,
            Method::POST,
            EVENTS_PATH,
            Some("application/json"),
            b"{\"event_id\":".to_vec(),
        );
        assert_eq!(app.send(broken).await.status(), 400);

        let as_text = app.signed(
            &device,
            Method::POST,
            HEARTBEAT_PATH,
            Some("text/plain"),
            vitals_body("1").to_string().into_bytes(),
        );
        assert_eq!(app.send(as_text).await.status(), 415);
        let without = app.signed(
            &device,
            Method::POST,
            HEARTBEAT_PATH,
            None,
            vitals_body("1").to_string().into_bytes(),
        );
        assert_eq!(app.send(without).await.status(), 415);

        let mut huge = vitals_body("1.0.0");
        huge["padding"] = json!("x".repeat(20_000));
        let (status, _) = status_and_json(app.heartbeat(&device, &huge).await).await;
        assert_eq!(status, 413, "JSON bodies are limited to 16 KiB");
        assert!(app.vitals(&device).await.is_empty(), "nothing stored");
    }
}

/// Sends raw bytes on one keep-alive connection and returns the raw answer (head and body).
async fn raw_exchange(app: &TestApp, request: &[u8]) -> Vec<u8> {
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let read = stream.read(&mut buf).await.unwrap();
        assert!(
            read > 0,
            "the connection closed before the answer was whole"
        );
        answer.extend_from_slice(&buf[..read]);
        let Some(head_end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&answer[..head_end]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |v| v.trim().parse().unwrap());
        if answer.len() >= head_end + 4 + length {
            return answer;
        }
    }
}

fn raw_request(app: &TestApp, signed: &crate::helpers::Signed) -> Vec<u8> {
    let _ = app;
    let mut out = format!(
        "{} {} HTTP/1.1\r\nhost: mailbox\r\ncontent-type: {}\r\ncontent-length: {}\r\n\
         x-device-serial: {}\r\nx-device-time: {}\r\nx-device-signature: {}\r\n\r\n",
        signed.method,
        signed.path,
        signed.content_type.unwrap_or("application/json"),
        signed.body.len(),
        signed.serial,
        signed.time,
        signed.signature
    )
    .into_bytes();
    out.extend_from_slice(&signed.body);
    out
}

#[tokio::test]
async fn every_request_adds_its_bytes_on_the_wire_headers_included_to_the_period_data_counter() {
    for app in spawn_apps().await {
        let device = app.activated_device("SB-DATA-01", PlanId::Basic).await;
        let heartbeat = raw_request(
            &app,
            &app.signed_json(&device, HEARTBEAT_PATH, &vitals_body("1.0.0")),
        );
        let answer = raw_exchange(&app, &heartbeat).await;
        assert!(
            answer.starts_with(b"HTTP/1.1 200 OK"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
        let after_heartbeat = app.usage(&device).await.data_bytes;
        assert_eq!(
            after_heartbeat as usize,
            heartbeat.len() + answer.len(),
            "{}",
            app.backend
        );

        let id = event_id();
        let event =
            json!({"event_id": id, "kind": "mail_arrived", "occurred_at": 1, "photo_count": 1});
        let event = raw_request(&app, &app.signed_json(&device, EVENTS_PATH, &event));
        let answer = raw_exchange(&app, &event).await;
        assert!(answer.starts_with(b"HTTP/1.1 201 Created"));
        let after_event = app.usage(&device).await.data_bytes;
        assert_eq!(
            (after_event - after_heartbeat) as usize,
            event.len() + answer.len()
        );

        let path = format!("/api/device/v1/events/{id}/photos/0");
        let photo = raw_request(
            &app,
            &app.signed(
                &device,
                Method::PUT,
                &path,
                Some("image/jpeg"),
                jpeg::synthetic(60_000),
            ),
        );
        let answer = raw_exchange(&app, &photo).await;
        assert!(answer.starts_with(b"HTTP/1.1 201 Created"));
        let after_photo = app.usage(&device).await.data_bytes;
        assert_eq!(
            (after_photo - after_event) as usize,
            photo.len() + answer.len()
        );
        assert!(after_photo > 60_000);

        let refused = app.post_event(&device, &event_id(), 9).await;
        assert_eq!(refused.status(), 400);
        assert!(
            app.usage(&device).await.data_bytes > after_photo,
            "authenticated errors count too"
        );
        let before_forgery = app.usage(&device).await.data_bytes;
        let mut forged = app.signed_json(&device, HEARTBEAT_PATH, &vitals_body("1.0.0"));
        forged.signature = "f".repeat(64);
        assert_eq!(app.send(forged).await.status(), 401);
        assert_eq!(
            app.usage(&device).await.data_bytes,
            before_forgery,
            "a forgery costs the customer nothing"
        );
    }
}

#[tokio::test]
async fn a_published_firmware_is_offered_downloaded_in_ranges_without_metering_and_reported() {
    for app in spawn_apps().await {
        let device = app.activated_device("SB-FW-01", PlanId::Basic).await;
        let image: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let key = firmware_release::generate_key();
        let row = firmware_release::publish(
            &app.state.db,
            &app.state.blobs,
            image.clone(),
            "1.1.0",
            &key,
            1,
        )
        .await
        .unwrap();
        app.state.device_api.firmware.forget();

        let (_, body) = status_and_json(app.heartbeat(&device, &vitals_body("1.0.0")).await).await;
        let offer = &body["firmware"];
        assert_eq!(offer["version"], "1.1.0", "{}", app.backend);
        assert_eq!(offer["size"], 100_000);
        assert_eq!(offer["sha256"], row.sha256.as_str());
        assert!(firmware_release::verify_image(
            &key.verifying_key(),
            &image,
            offer["signature"].as_str().unwrap()
        ));
        let (_, body) = status_and_json(app.heartbeat(&device, &vitals_body("1.1.0")).await).await;
        assert_eq!(
            body["firmware"],
            Value::Null,
            "no offer for the version it runs"
        );

        let before = app.usage(&device).await.data_bytes;
        let whole = app.get(&device, "/api/device/v1/firmware/1.1.0", &[]).await;
        assert_eq!(whole.status(), 200);
        assert_eq!(whole.headers()["accept-ranges"], "bytes");
        assert_eq!(whole.bytes().await.unwrap().as_ref(), image.as_slice());
        let part = app
            .get(
                &device,
                "/api/device/v1/firmware/1.1.0",
                &[("range", "bytes=65536-")],
            )
            .await;
        assert_eq!(part.status(), 206);
        assert_eq!(part.headers()["content-range"], "bytes 65536-99999/100000");
        assert_eq!(part.bytes().await.unwrap().as_ref(), &image[65_536..]);
        let first = app
            .get(
                &device,
                "/api/device/v1/firmware/1.1.0",
                &[("range", "bytes=0-9")],
            )
            .await;
        assert_eq!(first.status(), 206);
        assert_eq!(first.bytes().await.unwrap().as_ref(), &image[..10]);
        let beyond = app
            .get(
                &device,
                "/api/device/v1/firmware/1.1.0",
                &[("range", "bytes=100000-")],
            )
            .await;
        assert_eq!(beyond.status(), 416);
        assert_eq!(beyond.headers()["content-range"], "bytes */100000");
        assert_eq!(
            app.get(&device, "/api/device/v1/firmware/9.9.9", &[])
                .await
                .status(),
            404
        );
        assert_eq!(
            app.usage(&device).await.data_bytes,
            before,
            "firmware downloads are not metered"
        );

        let report =
            json!({"version": "1.1.0", "status": "rolled_back", "detail": "no confirm after boot"});
        let response = app
            .send(app.signed_json(&device, FIRMWARE_REPORT_PATH, &report))
            .await;
        assert_eq!(response.status(), 204);
        let ok = json!({"version": "1.1.0", "status": "installed"});
        assert_eq!(
            app.send(app.signed_json(&device, FIRMWARE_REPORT_PATH, &ok))
                .await
                .status(),
            204
        );
        let reports = app
            .state
            .db
            .firmware_reports_of_device(&DeviceId::new(&device.device_id))
            .await
            .unwrap();
        let seen: Vec<_> = reports
            .iter()
            .map(|r| (r.status.as_str(), r.detail.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                ("rolled_back", Some("no confirm after boot")),
                ("installed", None)
            ]
        );
        let bad = json!({"version": "1.1.0", "status": "exploded"});
        assert_eq!(
            app.send(app.signed_json(&device, FIRMWARE_REPORT_PATH, &bad))
                .await
                .status(),
            400
        );

        assert!(matches!(
            firmware_release::publish(&app.state.db, &app.state.blobs, image, "1.1.0", &key, 2)
                .await,
            Err(firmware_release::ReleaseError::AlreadyPublished(_))
        ));
    }
}

#[tokio::test]
async fn the_openapi_document_describes_the_five_device_endpoints() {
    for app in spawn_apps().await {
        let response = app
            .client
            .get(format!("{}/api/openapi.json", app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let doc: Value = response.json().await.unwrap();
        assert!(doc["openapi"].as_str().unwrap_or("").starts_with("3."));
        let paths = &doc["paths"];
        for (path, method) in [
            (HEARTBEAT_PATH, "post"),
            (EVENTS_PATH, "post"),
            ("/api/device/v1/events/{event_id}/photos/{index}", "put"),
            ("/api/device/v1/firmware/{version}", "get"),
            (FIRMWARE_REPORT_PATH, "post"),
        ] {
            assert!(
                paths[path][method].is_object(),
                "{method} {path} is documented"
            );
        }
        assert!(paths[EVENTS_PATH]["post"]["responses"]["429"].is_object());
        assert!(doc["components"]["securitySchemes"]["device_signature"].is_object());
    }
}

/// `SMARTBOX_TEST_S3_URL` names a bucket of an S3-protocol server (`s3://bucket[/prefix]`); its
/// endpoint and credentials come from `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY`, as in production.
#[tokio::test]
async fn photos_and_firmware_are_kept_in_s3_when_the_blob_url_names_a_bucket() {
    let Some(bucket_url) = std::env::var("SMARTBOX_TEST_S3_URL")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        println!("SMARTBOX_TEST_S3_URL unset: the S3 story is skipped");
        return;
    };
    for db in smartbox_store::testing::all().await {
        let run = format!("{}/run-{}", bucket_url.trim_end_matches('/'), event_id());
        let blobs = smartbox_server::blobs::open(&run).expect("the S3 blob store opens");
        let app = crate::helpers::spawn_app(db, blobs, None).await;
        let device = app.activated_device("SB-S3-01", PlanId::Basic).await;
        let id = event_id();
        assert_eq!(app.post_event(&device, &id, 3).await.status(), 201);
        let photos: Vec<Vec<u8>> = (0..3).map(|i| jpeg::synthetic(60_000 + i)).collect();
        for (index, photo) in photos.iter().enumerate() {
            let response = app
                .put_photo(&device, &id, index as u8, photo.clone())
                .await;
            assert_eq!(response.status(), 201, "photo {index} on {}", app.backend);
        }
        assert_eq!(
            app.put_photo(&device, &id, 0, photos[0].clone())
                .await
                .status(),
            200
        );
        assert_eq!(app.state.db.count_jobs("event_completed").await.unwrap(), 1);
        for row in app.state.db.photos_of_event(&id).await.unwrap() {
            let stored = app
                .state
                .blobs
                .get(&BlobPath::from(row.blob_key.as_str()))
                .await
                .unwrap();
            assert!(
                stored.bytes().await.unwrap().starts_with(b"SBXE"),
                "sealed in the bucket"
            );
            let bytes = app.state.photos.get(&row.blob_key).await.unwrap().bytes;
            assert_eq!(
                bytes.as_ref(),
                photos[row.idx as usize].as_slice(),
                "read back from S3"
            );
        }

        let image: Vec<u8> = (0..50_000u32).map(|i| (i % 241) as u8).collect();
        let key = firmware_release::generate_key();
        firmware_release::publish(
            &app.state.db,
            &app.state.blobs,
            image.clone(),
            "2.0.0",
            &key,
            1,
        )
        .await
        .unwrap();
        let part = app
            .get(
                &device,
                "/api/device/v1/firmware/2.0.0",
                &[("range", "bytes=-1000")],
            )
            .await;
        assert_eq!(part.status(), 206);
        assert_eq!(part.bytes().await.unwrap().as_ref(), &image[49_000..]);
    }
}

#[tokio::test]
async fn a_completed_event_starts_one_thumbnail_reading_and_notification_chain_even_when_run_twice()
{
    use smartbox_server::jobs::event_completed::{self, EVENT_THUMBNAILS, NOTIFY_EVENT};
    use smartbox_server::jobs::{Outcome, Registry, Worker, registry};
    use smartbox_server::mail_intelligence::CLASSIFY_EVENT;
    use smartbox_store::{EVENT_COMPLETED_JOB, NewJob};

    for app in spawn_apps().await {
        let device = app.activated_device("SB-FAN-01", PlanId::Plus).await;
        let id = event_id();
        assert_eq!(app.post_event(&device, &id, 1).await.status(), 201);
        let photo = jpeg::synthetic(61_000);
        assert_eq!(app.put_photo(&device, &id, 0, photo).await.status(), 201);
        // A duplicate of the job, as a retry after a lost lease would leave.
        app.state
            .db
            .enqueue_job(&NewJob {
                id: "duplicate-event-completed",
                kind: EVENT_COMPLETED_JOB,
                payload: json!({ "event_id": id }),
                unique_key: None,
                run_at: app.state.clock.now_ms(),
                max_attempts: 3,
            })
            .await
            .expect("enqueued");

        let worker = Worker::new(
            app.state.clone(),
            Registry::new().handle(EVENT_COMPLETED_JOB, event_completed::run),
        );
        for _ in 0..2 {
            let outcome = worker.try_execute_one().await.expect("step");
            assert!(matches!(outcome, Outcome::Done { .. }), "{outcome:?}");
        }
        assert_eq!(worker.try_execute_one().await.expect("step"), Outcome::Idle);
        assert_eq!(app.state.db.count_jobs(EVENT_THUMBNAILS).await.unwrap(), 1);
        // The chain: thumbnails, then the reading of the photos, then the notification.
        let worker = Worker::new(app.state.clone(), registry());
        worker.run_until_idle(50).await.expect("the queue runs");
        for kind in [EVENT_THUMBNAILS, CLASSIFY_EVENT, NOTIFY_EVENT] {
            assert_eq!(
                app.state.db.count_jobs(kind).await.unwrap(),
                1,
                "{kind} once on {}",
                app.backend
            );
        }
    }
}

/// Issue 13: a byte lost on the modem's UART turned `application/json` into `application/jso`,
/// and the intact, validly signed request got a 415 the device took as final. Signature v2 covers
/// the content type, so such a request is a 401 (and sent again); v1 devices keep working.
#[tokio::test]
async fn a_v2_signature_covers_the_content_type_and_v1_still_works() {
    for app in spawn_apps().await {
        let device = app.activated_device("SB-SIG-V2", PlanId::Basic).await;
        let body = vitals_body("2.0.0").to_string().into_bytes();
        let v2 = |content_type: &'static str| {
            let mut request = app.signed(
                &device,
                Method::POST,
                HEARTBEAT_PATH,
                Some(content_type),
                body.clone(),
            );
            let signature = smartbox_protocol::sign_v2(
                &device.secret,
                "POST",
                HEARTBEAT_PATH,
                request.time,
                "application/json",
                &smartbox_protocol::body_sha256(&body),
            );
            request.signature = String::from_utf8_lossy(&signature).into_owned();
            request
        };
        assert_eq!(app.send(v2("application/json")).await.status(), 200);
        assert_unauthorized(
            &app,
            app.send(v2("application/jso")).await,
            "a mangled type",
        )
        .await;
        let mut v1_mangled = app.signed_json(&device, HEARTBEAT_PATH, &vitals_body("1.0.0"));
        v1_mangled.content_type = Some("application/jso");
        assert_eq!(app.send(v1_mangled).await.status(), 415, "v1 cannot tell");
        let v1 = app.signed_json(&device, HEARTBEAT_PATH, &vitals_body("1.0.0"));
        assert_eq!(app.send(v1).await.status(), 200, "{}", app.backend);
    }
}

/// Issue 13: what a mailbox holds on SD, reported at check-in, is kept with its vitals.
#[tokio::test]
async fn a_heartbeat_reports_the_events_held_on_sd() {
    for app in spawn_apps().await {
        let device = app.activated_device("SB-HELD-01", PlanId::Basic).await;
        let mut body = vitals_body("1.0.0");
        body["sd_queue_len"] = json!(2);
        body["sd_oldest_age_s"] = json!(7_200);
        body["sd_failed_deliveries"] = json!(5);
        assert_eq!(app.heartbeat(&device, &body).await.status(), 200);
        let stored = app
            .state
            .db
            .device_by_serial("SB-HELD-01")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                stored.sd_queue_len,
                stored.sd_oldest_age_s,
                stored.sd_failed_deliveries
            ),
            (Some(2), Some(7_200), Some(5)),
            "{}",
            app.backend
        );
        app.clock.advance_s(60);
        assert_eq!(
            app.heartbeat(&device, &vitals_body("1.0.0")).await.status(),
            200
        );
        let stored = app
            .state
            .db
            .device_by_serial("SB-HELD-01")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (stored.sd_oldest_age_s, stored.sd_failed_deliveries),
            (None, None)
        );
    }
}
