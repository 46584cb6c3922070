//! Retention: the hourly pass thins a mailbox's vitals after 30 days and deletes them after 13
//! months (never its latest report), and deletes photos past the plan's retention, blobs first,
//! keeping the event. On both backends.

use object_store::ObjectStoreExt;
use smartbox_domain::DeviceId;
use smartbox_server::Clock;
use smartbox_server::jobs::retention::RETENTION_PASS;
use smartbox_server::jobs::{Outcome, Worker, registry};
use smartbox_store::VitalsRow;

use super::helpers::{START_MS, spawn_apps};

const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

fn vitals(device_id: &str, at: i64) -> VitalsRow {
    VitalsRow {
        device_id: device_id.to_owned(),
        recorded_at: at,
        battery_percentage: 80,
        power_state: "sleep".to_owned(),
        signal_dbm: -85,
        network: "cellular".to_owned(),
        firmware_version: "1.0.0".to_owned(),
        modem_tx_bytes: 0,
        modem_rx_bytes: 0,
        sd_queue_len: 0,
        sd_oldest_age_s: None,
        sd_failed_deliveries: None,
    }
}

async fn retention_pass(app: &super::helpers::PortalApp) {
    app.state
        .db
        .enqueue_job(&smartbox_store::NewJob {
            id: &uuid::Uuid::new_v4().to_string(),
            kind: RETENTION_PASS,
            payload: serde_json::json!({}),
            unique_key: None,
            run_at: app.clock.now_ms(),
            max_attempts: 3,
        })
        .await
        .unwrap();
    let outcomes = Worker::with_id(app.state.clone(), registry(), "retention-test")
        .run_until_idle(50)
        .await
        .unwrap();
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, Outcome::Done { kind, .. } if kind == RETENTION_PASS)),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn vitals_are_thinned_to_one_an_hour_after_30_days_and_deleted_after_13_months() {
    for app in spawn_apps().await {
        let h = app.household("tom@example.com", "SB-KEEP-01").await;
        let now = START_MS + 500 * DAY;
        let hour = |at: i64| at - at % (60 * MINUTE);
        let old_hour = hour(now - 40 * DAY);
        let recent_hour = hour(now - DAY);
        let series = [
            now - 450 * DAY,
            old_hour + 5 * MINUTE,
            old_hour + 15 * MINUTE,
            old_hour + 25 * MINUTE,
            recent_hour + 5 * MINUTE,
            recent_hour + 15 * MINUTE,
        ];
        for at in series {
            app.state
                .db
                .record_vitals(&vitals(&h.device_id, at))
                .await
                .unwrap();
        }
        // A mailbox silent for longer than the series is kept keeps its last report.
        let silent = app.household("sal@example.com", "SB-KEEP-02").await;
        app.state
            .db
            .record_vitals(&vitals(&silent.device_id, now - 450 * DAY))
            .await
            .unwrap();
        app.clock.set_ms(now);

        retention_pass(&app).await;

        let kept: Vec<i64> = app
            .state
            .db
            .vitals_since(&DeviceId::new(h.device_id.as_str()), 0)
            .await
            .unwrap()
            .iter()
            .map(|v| v.recorded_at)
            .collect();
        assert_eq!(
            kept,
            vec![
                old_hour + 25 * MINUTE,
                recent_hour + 5 * MINUTE,
                recent_hour + 15 * MINUTE
            ],
            "on {}",
            app.backend
        );
        let silent_kept = app
            .state
            .db
            .vitals_since(&DeviceId::new(silent.device_id.as_str()), 0)
            .await
            .unwrap();
        assert_eq!(
            silent_kept.len(),
            1,
            "the latest report stays on {}",
            app.backend
        );
    }
}

#[tokio::test]
async fn photos_past_the_plans_retention_are_deleted_with_their_blobs_and_the_event_stays() {
    for app in spawn_apps().await {
        let h = app.household("ida@example.com", "SB-KEEP-03").await;
        let young = uuid::Uuid::new_v4().to_string();
        app.deliver(&h.device_id, &young, 2, START_MS + 10 * DAY)
            .await;
        let old_key = smartbox_server::device_api::photos::blob_key(&h.device_id, &h.event_id, 0);
        let young_key = smartbox_server::device_api::photos::blob_key(&h.device_id, &young, 0);
        assert!(app.state.blobs.head(&old_key.as_str().into()).await.is_ok());

        // Basic keeps photos 90 days: the household's first delivery (START + 1 min) is past it.
        app.clock.set_ms(START_MS + 91 * DAY);
        retention_pass(&app).await;

        assert!(
            app.state
                .db
                .photos_of_event(&h.event_id)
                .await
                .unwrap()
                .is_empty(),
            "rows gone on {}",
            app.backend
        );
        assert!(
            app.state
                .blobs
                .head(&old_key.as_str().into())
                .await
                .is_err(),
            "blob gone on {}",
            app.backend
        );
        assert!(
            app.state
                .db
                .event_by_id(&h.event_id)
                .await
                .unwrap()
                .is_some(),
            "the event stays"
        );
        assert_eq!(app.state.db.photos_of_event(&young).await.unwrap().len(), 2);
        assert!(
            app.state
                .blobs
                .head(&young_key.as_str().into())
                .await
                .is_ok()
        );

        // Run again (at-least-once): nothing left to do, nothing fails.
        retention_pass(&app).await;
    }
}
