//! Device values out of range are refused with a 400 naming the field, and nothing is stored.

use serde_json::json;
use smartbox_domain::PlanId;
use smartbox_server::Clock;

use crate::helpers::{event_id, spawn_apps, status_and_json, vitals_body};

#[tokio::test]
async fn an_event_dated_year_9999_or_days_ahead_is_refused_and_not_stored() {
    for app in spawn_apps().await {
        let device = app.activated_device("SB-RANGE-01", PlanId::Basic).await;
        let now = app.clock.now_s();
        for occurred_at in [253_402_300_799_i64, now + 2 * 86_400, -1] {
            let id = event_id();
            let body = json!({
                "event_id": id, "kind": "mail_arrived", "occurred_at": occurred_at, "photo_count": 0,
            });
            let request = app.signed_json(&device, smartbox_protocol::EVENTS_PATH, &body);
            let (status, answer) = status_and_json(app.send(request).await).await;
            assert_eq!(status, 400, "{}: {occurred_at}: {answer}", app.backend);
            assert_eq!(answer["error"], "invalid_field");
            assert!(
                answer["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("`occurred_at`"),
                "{answer}"
            );
            assert!(app.state.db.event_by_id(&id).await.unwrap().is_none());
        }
        let fine = app.post_event(&device, &event_id(), 0).await;
        assert_eq!(fine.status(), 201, "{}", app.backend);
    }
}

#[tokio::test]
async fn a_signal_above_0_dbm_is_refused_and_not_stored() {
    for app in spawn_apps().await {
        let device = app.activated_device("SB-RANGE-02", PlanId::Basic).await;
        let mut body = vitals_body("1.0.0");
        body["signal_dbm"] = json!(30);
        let (status, answer) = status_and_json(app.heartbeat(&device, &body).await).await;
        assert_eq!(status, 400, "{}: {answer}", app.backend);
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or("")
                .contains("`signal_dbm`"),
            "{answer}"
        );
        assert!(app.vitals(&device).await.is_empty());
    }
}

#[tokio::test]
async fn a_replayed_heartbeat_is_answered_but_its_bytes_are_counted_once() {
    for app in spawn_apps().await {
        let device = app.activated_device("SB-REPLAY-01", PlanId::Basic).await;
        let request = app.signed_json(
            &device,
            smartbox_protocol::HEARTBEAT_PATH,
            &vitals_body("1.0.0"),
        );
        assert_eq!(app.send(request.clone()).await.status(), 200);
        let once = app.usage(&device).await.data_bytes;
        assert!(once > 0, "{}: the heartbeat is metered", app.backend);
        for _ in 0..3 {
            assert_eq!(app.send(request.clone()).await.status(), 200);
        }
        assert_eq!(app.usage(&device).await.data_bytes, once, "{}", app.backend);
    }
}

#[tokio::test]
async fn an_unknown_serial_is_remembered_for_a_few_seconds() {
    for app in spawn_apps().await {
        let stranger = crate::helpers::TestDevice {
            serial: "SB-LATER-01".to_owned(),
            secret: [1; 32],
            device_id: String::new(),
        };
        let early = app.heartbeat(&stranger, &vitals_body("1.0.0")).await;
        assert_eq!(early.status(), 401);
        // Imported meanwhile (by another process): the 401 stands until the memory expires.
        let device = app.import_device("SB-LATER-01").await;
        let remembered = app.heartbeat(&device, &vitals_body("1.0.0")).await;
        assert_eq!(
            remembered.status(),
            401,
            "{}: no database read",
            app.backend
        );
        app.clock
            .advance_ms(smartbox_server::device_api::UNKNOWN_SERIAL_TTL_MS);
        let later = app.heartbeat(&device, &vitals_body("1.0.0")).await;
        assert_ne!(later.status(), 401, "{}", app.backend);
    }
}

#[tokio::test]
async fn events_in_flight_together_cannot_each_pass_the_spend_cap() {
    for app in spawn_apps().await {
        let device = app.basic_device_capped_at_0("SB-CAP-RACE").await;
        // Basic includes 100 notifications; with a cap of $0 the 100th is the last one.
        for _ in 0..99 {
            assert_eq!(app.post_event(&device, &event_id(), 0).await.status(), 201);
        }
        let ids: Vec<String> = (0..10).map(|_| event_id()).collect();
        let answers =
            futures::future::join_all(ids.iter().map(|id| app.post_event(&device, id, 0))).await;
        let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "{}: {statuses:?}",
            app.backend
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 429).count(),
            9,
            "{statuses:?}"
        );
        assert_eq!(
            app.usage(&device).await.notifications,
            100,
            "{}",
            app.backend
        );
    }
}
