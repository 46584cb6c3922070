//! Staged firmware rollouts from the admin side (issue 21): an admin starts one in the JSON API,
//! the heartbeat offers its image to its stage's mailboxes only (a pin wins, a pause stops every
//! offer), a device's check-in on the image confirms it, support may pause but not advance, and
//! every bad input is a clear 4xx — on SQLite and on PostgreSQL when configured.

use axum::http::StatusCode;
use serde_json::json;
use smartbox_domain::RolloutId;
use smartbox_domain::rollout::is_member;
use smartbox_protocol::HEARTBEAT_PATH;
use smartbox_server::firmware_release;
use smartbox_server::services::rollouts;
use smartbox_server::services::{Actor, StaffRole};

use super::staff;
use crate::portal::helpers::{Household, PortalApp, spawn_apps};

fn vitals(version: &str) -> Vec<u8> {
    json!({
        "battery_percent": 80, "power_state": "awake", "signal_dbm": -85, "network": "cellular",
        "firmware_version": version, "modem_tx_bytes": 0, "modem_rx_bytes": 0, "sd_queue_len": 0,
    })
    .to_string()
    .into_bytes()
}

/// The version the heartbeat of a mailbox running `running` is offered, if any.
async fn offered(app: &PortalApp, h: &mut Household, running: &str) -> Option<String> {
    app.state.device_api.rollouts.forget();
    let now_s = app.state.clock.now_ms() / 1000;
    let answer = h
        .device_request(
            "POST",
            HEARTBEAT_PATH,
            "application/json",
            vitals(running),
            now_s,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.json()["firmware"]["version"]
        .as_str()
        .map(str::to_owned)
}

async fn publish(app: &PortalApp, version: &str, staged: bool) {
    let key = firmware_release::generate_key();
    let image = vec![9u8; 2048];
    let now = app.state.clock.now_ms();
    let (db, blobs) = (&app.state.db, &app.state.blobs);
    if staged {
        firmware_release::publish_staged(db, blobs, image, version, &key, now).await
    } else {
        firmware_release::publish(db, blobs, image, version, &key, now).await
    }
    .expect("published");
    app.state.device_api.firmware.forget();
}

#[tokio::test]
async fn a_rollout_offers_its_image_to_its_stage_only_and_a_pause_stops_every_offer() {
    for app in spawn_apps().await {
        let mut mailboxes = vec![
            app.household("ann@example.com", "SB-ROLL-0001").await,
            app.household("bob@example.com", "SB-ROLL-0002").await,
            app.household("cy@example.com", "SB-ROLL-0003").await,
        ];
        publish(&app, "1.5.0", false).await;
        publish(&app, "2.0.0", true).await;
        // Without a rollout: the newest image for everyone, never a staged one.
        for h in &mut mailboxes {
            assert_eq!(offered(&app, h, "1.0.0").await.as_deref(), Some("1.5.0"));
        }

        let mut admin = staff(&app, "ada@smartbox.example", "admin").await;
        let started = admin
            .api(
                "POST",
                "/api/admin/v1/rollouts",
                Some(json!({"version": "2.0.0", "stages": "50,100", "soak": "1h", "reason": "spring release"})),
            )
            .await;
        assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
        let rollout = started.json();
        assert_eq!(rollout["state"], "active");
        assert_eq!(rollout["stages"][0]["percent"], 50);
        let id = rollout["id"].as_str().expect("an id").to_owned();

        let mut members = 0;
        for h in &mut mailboxes {
            let member = is_member(&h.factory.serial, &id, 50);
            members += u64::from(member);
            let offer = offered(&app, h, "1.5.0").await;
            assert_eq!(
                offer.as_deref(),
                member.then_some("2.0.0"),
                "{} on {}",
                h.factory.serial,
                app.backend
            );
        }
        let read = admin
            .api("GET", &format!("/api/admin/v1/rollouts/{id}"), None)
            .await;
        assert_eq!(read.json()["totals"]["offered"], members, "{}", read.body);

        // A member checks in on the image: confirmed.
        if let Some(h) = mailboxes
            .iter_mut()
            .find(|h| is_member(&h.factory.serial, &id, 50))
        {
            assert_eq!(offered(&app, h, "2.0.0").await, None);
            let read = admin
                .api("GET", &format!("/api/admin/v1/rollouts/{id}"), None)
                .await;
            assert_eq!(read.json()["totals"]["confirmed"], 1, "{}", read.body);
        }

        // The page advances it: now every mailbox is offered it, but a pinned one its pin.
        let advanced = admin
            .submit(
                "/admin/firmware",
                &format!("/admin/firmware/rollouts/{id}/advance"),
                &[("reason", "first half is fine")],
            )
            .await;
        assert_eq!(advanced.status, StatusCode::SEE_OTHER, "{}", advanced.body);
        let admin_actor = Actor::Staff {
            id: "ada".into(),
            role: StaffRole::Admin,
        };
        rollouts::pin(
            &app.state,
            &admin_actor,
            "SB-ROLL-0003",
            "1.5.0",
            "customer reports a regression",
        )
        .await
        .expect("pinned");
        assert_eq!(
            offered(&app, &mut mailboxes[0], "1.5.0").await.as_deref(),
            Some("2.0.0")
        );
        assert_eq!(
            offered(&app, &mut mailboxes[2], "2.0.0").await.as_deref(),
            Some("1.5.0")
        );
        assert_eq!(offered(&app, &mut mailboxes[2], "1.5.0").await, None);

        // Support may pause (not advance); a paused rollout offers nothing to anyone.
        let mut support = staff(&app, "sam@smartbox.example", "support").await;
        let refused = support
            .api(
                "POST",
                &format!("/api/admin/v1/rollouts/{id}/advance"),
                Some(json!({"reason": "hurry"})),
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        let paused = support
            .api(
                "POST",
                &format!("/api/admin/v1/rollouts/{id}/pause"),
                Some(json!({"reason": "tickets about reboots"})),
            )
            .await;
        assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);
        assert_eq!(paused.json()["state"], "paused");
        assert_eq!(paused.json()["paused_reason"], "tickets about reboots");
        assert_eq!(offered(&app, &mut mailboxes[1], "1.5.0").await, None);

        let page = admin.get("/admin/firmware").await;
        assert!(
            page.body.contains("Firmware 2.0.0: paused"),
            "{}",
            page.body
        );
        assert!(page.body.contains("tickets about reboots"));
        let audit = app
            .state
            .db
            .audit_for("firmware_rollout", &id)
            .await
            .expect("audit");
        let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions.len(), 3, "{actions:?}");
        for action in ["start", "advance", "pause"] {
            assert!(actions.contains(&action), "{actions:?}");
        }

        // Aborted: nobody is offered the staged image, and the heartbeat goes back to the newest
        // image for everyone (1.5.0, already running).
        rollouts::command(
            &app.state,
            &admin_actor,
            &RolloutId::new(id.as_str()),
            smartbox_domain::rollout::RolloutCommand::Abort,
            "bad build",
        )
        .await
        .expect("aborted");
        assert_eq!(offered(&app, &mut mailboxes[1], "1.5.0").await, None);
        assert_eq!(
            offered(&app, &mut mailboxes[1], "1.0.0").await.as_deref(),
            Some("1.5.0")
        );
    }
}

#[tokio::test]
async fn bad_rollout_requests_get_a_clear_4xx_and_change_nothing() {
    for app in spawn_apps().await {
        publish(&app, "2.0.0", true).await;
        let mut admin = staff(&app, "ada@smartbox.example", "admin").await;
        for (body, status, code) in [
            (
                json!({"version": "2.0.0", "stages": "5,1,100", "reason": "ship it"}),
                StatusCode::BAD_REQUEST,
                "invalid_stages",
            ),
            (
                json!({"version": "2.0.0", "soak": "forever", "reason": "ship it"}),
                StatusCode::BAD_REQUEST,
                "invalid_soak",
            ),
            (
                json!({"version": "9.9.9", "reason": "ship it"}),
                StatusCode::BAD_REQUEST,
                "unknown_version",
            ),
            (
                json!({"version": "2.0.0", "reason": ""}),
                StatusCode::BAD_REQUEST,
                "invalid_reason",
            ),
        ] {
            let answer = admin
                .api("POST", "/api/admin/v1/rollouts", Some(body.clone()))
                .await;
            assert_eq!(answer.status, status, "{body}: {}", answer.body);
            assert_eq!(answer.json()["error"], code, "{}", answer.body);
            assert!(
                answer.json()["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
        }
        let support = &mut staff(&app, "sam@smartbox.example", "support").await;
        let answer = support
            .api(
                "POST",
                "/api/admin/v1/rollouts",
                Some(json!({"version": "2.0.0", "reason": "ship it"})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
        let listed = admin.api("GET", "/api/admin/v1/rollouts", None).await;
        assert_eq!(listed.json(), json!([]), "nothing was started");

        let started = admin
            .api(
                "POST",
                "/api/admin/v1/rollouts",
                Some(json!({"version": "2.0.0", "reason": "ship it"})),
            )
            .await;
        assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
        let id = started.json()["id"].as_str().unwrap().to_owned();
        let again = admin
            .api(
                "POST",
                "/api/admin/v1/rollouts",
                Some(json!({"version": "2.0.0", "reason": "ship it"})),
            )
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
        let resume = admin
            .api(
                "POST",
                &format!("/api/admin/v1/rollouts/{id}/resume"),
                Some(json!({"reason": "go on"})),
            )
            .await;
        assert_eq!(resume.status, StatusCode::CONFLICT, "{}", resume.body);
        let unknown = admin
            .api(
                "POST",
                &format!("/api/admin/v1/rollouts/{id}/explode"),
                Some(json!({"reason": "boom"})),
            )
            .await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
        let missing = admin
            .api("GET", "/api/admin/v1/rollouts/no-such-rollout", None)
            .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
        let mut customer = app.customer("cleo@example.com").await;
        let hidden = customer.api("GET", "/api/admin/v1/rollouts", None).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND);
        let page = customer.get("/admin/firmware").await;
        assert_eq!(page.status, StatusCode::NOT_FOUND);
        let bad_page = admin
            .submit(
                "/admin/firmware",
                &format!("/admin/firmware/rollouts/{id}/pause"),
                &[("reason", "")],
            )
            .await;
        assert_eq!(
            bad_page.status,
            StatusCode::BAD_REQUEST,
            "{}",
            bad_page.body
        );
        assert!(bad_page.body.contains("reason"), "{}", bad_page.body);
    }
}
