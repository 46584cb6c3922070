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
