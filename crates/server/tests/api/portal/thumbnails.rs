//! Thumbnails: made by the `event_thumbnails` job after a delivery completes, never on a request;
//! the gallery and dashboard show the thumbnail once it exists and the photo until then, and a
//! photo that does not decode fails its job for good while the gallery keeps showing it.

use axum::http::{StatusCode, header};
use smartbox_server::Clock;
use smartbox_server::jobs::event_completed::EVENT_THUMBNAILS;
use smartbox_server::jobs::{Outcome, Worker, registry};

use crate::portal::helpers::{JPEG, PortalApp, START_MS, spawn_apps};

/// A real 640 x 480 JPEG (a gradient, so it is not trivially compressible).
fn photo() -> Vec<u8> {
    let (width, height) = (640_u16, 480_u16);
    let pixels: Vec<u8> = (0..u32::from(width) * u32::from(height))
        .flat_map(|i| {
            let (x, y) = (i % 640, i / 640);
            [(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8]
        })
        .collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("encoded");
    out
}

/// Runs the server's jobs until none is due; the outcomes of the thumbnail jobs.
async fn run_jobs(app: &PortalApp) -> Vec<Outcome> {
    // The deliveries are dated a few minutes after the clock's start.
    app.clock.set_ms(app.clock.now_ms().max(START_MS + 600_000));
    let worker = Worker::with_id(app.state.clone(), registry(), "test-worker");
    worker
        .run_until_idle(50)
        .await
        .expect("the queue runs")
        .into_iter()
        .filter(|o| match o {
            Outcome::Done { kind, .. }
            | Outcome::Retrying { kind, .. }
            | Outcome::Failed { kind, .. }
            | Outcome::LeaseLost { kind, .. } => kind == EVENT_THUMBNAILS,
            Outcome::Idle => false,
        })
        .collect()
}

/// A page's HTML with the template's escaped slashes put back.
fn html(body: &str) -> String {
    body.replace("&#x2f;", "/")
}

fn size_of(jpeg: &[u8]) -> (u32, u32) {
    let image = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg);
    let image = image.expect("a decodable JPEG");
    (image.width(), image.height())
}

#[tokio::test]
async fn a_delivery_gets_320_px_thumbnails_in_the_background_and_the_gallery_shows_them() {
    for app in spawn_apps().await {
        let mut h = app.household("tess@example.com", "SB-THUMB").await;
        // The household's own delivery has a placeholder photo: its job fails first, out of the way.
        run_jobs(&app).await;
        let event_id = uuid::Uuid::new_v4().to_string();
        let photos = [photo(), photo()];
        app.deliver_photos(&h.device_id, &event_id, &photos, START_MS + 120_000)
            .await;

        // Before the job: the thumbnail URL serves the photo itself, not to be cached.
        let thumb_url = format!("/photos/{event_id}/0/thumbnail");
        let gallery = h.browser.get("/gallery").await;
        assert!(html(&gallery.body).contains(&thumb_url), "{}", gallery.body);
        assert!(
            html(&gallery.body).contains(&format!("href=\"/photos/{event_id}/0\"")),
            "the thumbnail links to the full-size photo"
        );
        let dashboard = h.browser.get("/dashboard").await;
        assert!(
            html(&dashboard.body).contains(&thumb_url),
            "{}",
            dashboard.body
        );
        let before = h.browser.get(&thumb_url).await;
        assert_eq!(before.status, StatusCode::OK);
        assert_eq!(before.headers[header::CACHE_CONTROL], "private, no-cache");
        assert_eq!(size_of(&before.bytes), (640, 480));

        let outcomes = run_jobs(&app).await;
        assert_eq!(outcomes.len(), 1, "{outcomes:?} on {}", app.backend);
        assert!(
            matches!(outcomes[0], Outcome::Done { .. }),
            "{outcomes:?} on {}",
            app.backend
        );
        let rows = app.state.db.photos_of_event(&event_id).await.unwrap();
        for row in &rows {
            let key = row.thumbnail_key.as_deref().expect("a thumbnail recorded");
            assert_eq!(
                key,
                format!("photos/{}/{event_id}-{}.thumb.jpg", h.device_id, row.idx)
            );
        }
        for idx in 0..2 {
            let url = format!("/photos/{event_id}/{idx}/thumbnail");
            let after = h.browser.get(&url).await;
            assert_eq!(after.status, StatusCode::OK);
            assert_eq!(after.headers[header::CONTENT_TYPE], "image/jpeg");
            assert_eq!(
                after.headers[header::CACHE_CONTROL],
                "private, max-age=86400"
            );
            assert_eq!(size_of(&after.bytes), (320, 240));
        }
        // The full-size photo is untouched.
        let full = h.browser.get(&format!("/photos/{event_id}/0")).await;
        assert_eq!(size_of(&full.bytes), (640, 480));

        // The API lists them beside the photos.
        let api = h
            .browser
            .api("GET", &format!("/api/v1/events/{event_id}"), None)
            .await
            .json();
        assert_eq!(
            api["thumbnails"][1],
            format!("/photos/{event_id}/1/thumbnail")
        );
        assert_eq!(api["photos"][1], format!("/photos/{event_id}/1"));

        // Run again (at-least-once delivery), the job finds nothing left to do.
        app.state
            .db
            .enqueue_job(&smartbox_store::NewJob {
                id: &uuid::Uuid::new_v4().to_string(),
                kind: EVENT_THUMBNAILS,
                payload: serde_json::json!({ "event_id": event_id }),
                unique_key: None,
                run_at: app.clock.now_ms(),
                max_attempts: 3,
            })
            .await
            .expect("enqueued");
        let again = run_jobs(&app).await;
        assert!(
            matches!(again.as_slice(), [Outcome::Done { .. }]),
            "{again:?}"
        );
        assert_eq!(app.state.db.photos_of_event(&event_id).await.unwrap(), rows);

        // Another customer sees neither.
        let mut other = app.customer("ulla@example.com").await;
        assert_eq!(other.get(&thumb_url).await.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn a_corrupt_photo_fails_its_thumbnail_job_for_good_and_the_gallery_keeps_showing_it() {
    for app in spawn_apps().await {
        let mut h = app.household("vera@example.com", "SB-CORRUPT").await;
        // The household's own delivery has a placeholder photo: its job fails first, out of the way.
        run_jobs(&app).await;
        let event_id = uuid::Uuid::new_v4().to_string();
        // JPEG-shaped enough for the device API (it never decodes) but without a picture.
        app.deliver_photos(
            &h.device_id,
            &event_id,
            &[photo(), JPEG.to_vec()],
            START_MS + 120_000,
        )
        .await;

        let outcomes = run_jobs(&app).await;
        let [Outcome::Failed { error, .. }] = outcomes.as_slice() else {
            panic!(
                "one failed job, not retried: {outcomes:?} on {}",
                app.backend
            );
        };
        assert!(
            error.contains(&format!("event {event_id}"))
                && error.contains(&format!(
                    "photo 1 (photos/{}/{event_id}-1.jpg)",
                    h.device_id
                ))
                && error.contains("is not a decodable JPEG"),
            "{error}"
        );
        let rows = app.state.db.photos_of_event(&event_id).await.unwrap();
        assert!(
            rows[0].thumbnail_key.is_some(),
            "the good photo got its thumbnail"
        );
        assert_eq!(rows[1].thumbnail_key, None);

        let kept = h
            .browser
            .get(&format!("/photos/{event_id}/1/thumbnail"))
            .await;
        assert_eq!(kept.status, StatusCode::OK);
        assert_eq!(kept.bytes, JPEG, "the original photo");
        let gallery = h.browser.get("/gallery").await;
        assert!(html(&gallery.body).contains(&format!("/photos/{event_id}/1/thumbnail")));
    }
}
