//! The rest of staged rollouts (issue 21): gates measured within a rollout's target, a soak
//! per stage, tags and rollouts aimed at a tag, the hardware revision mailboxes report and
//! images offered to their own board only, and the JSON API's upload and targeted start — on
//! SQLite, and on PostgreSQL when configured.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;
use smartbox_domain::RolloutId;
use smartbox_domain::rollout::{Share, is_member};
use smartbox_protocol::HEARTBEAT_PATH;
use smartbox_server::config::Config;
use smartbox_server::firmware_release;
use smartbox_server::services::rollouts::{self, Judged};

use super::rollouts::{multipart, offered, publish};
use super::staff;
use crate::portal::helpers::{Answer, Browser, Household, PortalApp, spawn_apps, spawn_apps_with};

const HOUR_MS: i64 = 3_600_000;

/// A heartbeat running `running` that reports `revision` (none: firmware before the report).
async fn heartbeat(
    app: &PortalApp,
    h: &mut Household,
    running: &str,
    revision: Option<&str>,
) -> Answer {
    app.state.device_api.rollouts.forget();
    let mut body = json!({
        "battery_percent": 80, "power_state": "awake", "signal_dbm": -85, "network": "cellular",
        "firmware_version": running, "modem_tx_bytes": 0, "modem_rx_bytes": 0, "sd_queue_len": 0,
    });
    if let Some(revision) = revision {
        body["hardware_revision"] = json!(revision);
    }
    let now_s = app.state.clock.now_ms() / 1000;
    h.device_request(
        "POST",
        HEARTBEAT_PATH,
        "application/json",
        body.to_string().into_bytes(),
        now_s,
    )
    .await
}

/// [`heartbeat`], answered 200; the version offered.
async fn beat(
    app: &PortalApp,
    h: &mut Household,
    running: &str,
    revision: Option<&str>,
) -> Option<String> {
    let answer = heartbeat(app, h, running, revision).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.json()["firmware"]["version"]
        .as_str()
        .map(str::to_owned)
}

async fn households(app: &PortalApp, prefix: &str, count: usize) -> Vec<Household> {
    let mut mailboxes = Vec::new();
    for i in 0..count {
        let serial = format!("SB-{prefix}-{i:04}");
        let email = format!("{}{i}-{}@example.com", prefix.to_lowercase(), app.backend);
        mailboxes.push(app.household(&email, &serial).await);
    }
    mailboxes
}

async fn admin(app: &PortalApp) -> Browser {
    staff(
        app,
        &format!("ada-{}@smartbox.example", app.backend),
        "admin",
    )
    .await
}

#[tokio::test]
async fn a_listed_rollouts_gates_compare_its_mailboxes_with_the_listed_ones_still_on_the_old_image()
{
    for app in spawn_apps().await {
        let mut mailboxes = households(&app, "GATE", 6).await;
        publish(&app, "3.1.0", true).await;
        let mut admin = admin(&app).await;
        let listed: Vec<String> = mailboxes[..4]
            .iter()
            .map(|h| h.factory.serial.clone())
            .collect();
        let started = admin
            .api(
                "POST",
                "/api/admin/v1/rollouts",
                Some(json!({"version": "3.1.0", "stages": "50,100", "serials": listed, "reason": "pilot list"})),
            )
            .await;
        assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
        assert_eq!(started.json()["target"], "serials");
        let id = started.json()["id"].as_str().expect("id").to_owned();
        let offered_count = listed.iter().filter(|s| is_member(s, &id, 50)).count() as u64;

        // Everybody checks in; then only the listed mailboxes keep checking in, and the two
        // outside the list fall silent (6 h interval + 15 min slack passed).
        for h in &mut mailboxes {
            offered(&app, h, "1.0.0").await;
        }
        app.clock.advance_ms(3 * HOUR_MS);
        for h in &mut mailboxes[..4] {
            offered(&app, h, "1.0.0").await;
        }
        app.clock.advance_ms(3 * HOUR_MS + 30 * 60_000);
        let now = app.state.clock.now_ms();
        let figures = app
            .state
            .db
            .rollout_health(&RolloutId::new(id.as_str()), 0, now)
            .await
            .expect("health");
        assert_eq!(
            figures.silent,
            Share {
                part: 0,
                of: offered_count
            },
            "on {}",
            app.backend
        );
        assert_eq!(
            figures.baseline_silent,
            Share {
                part: 0,
                of: 4 - offered_count
            },
            "the baseline is the listed mailboxes not offered the image, not the silent ones \
             outside the list (on {})",
            app.backend
        );

        // A whole-fleet rollout's baseline is every mailbox of its board.
        rollouts::command(
            &app.state,
            &smartbox_server::services::Actor::Cli,
            &RolloutId::new(id.as_str()),
            smartbox_domain::rollout::RolloutCommand::Abort,
            "measure the fleet",
        )
        .await
        .expect("aborted");
        publish(&app, "3.2.0", true).await;
        let fleet = admin
            .api(
                "POST",
                "/api/admin/v1/rollouts",
                Some(json!({"version": "3.2.0", "stages": "100", "reason": "everyone"})),
            )
            .await;
        assert_eq!(fleet.json()["target"], "fleet");
        let fleet_id = fleet.json()["id"].as_str().expect("id").to_owned();
        let figures = app
            .state
            .db
            .rollout_health(&RolloutId::new(fleet_id.as_str()), 0, now)
            .await
            .expect("health");
        assert_eq!(figures.baseline_silent, Share { part: 2, of: 6 });
    }
}

/// Every mailbox checks in: members of the rollout's current stage on the new image (offered
/// it first when they were not yet), the others on the old one.
async fn check_in_all(app: &PortalApp, mailboxes: &mut [Household], old: &str, new: &str) {
    for h in mailboxes.iter_mut() {
        if offered(app, h, old).await.as_deref() == Some(new) {
            assert_eq!(offered(app, h, new).await, None, "confirmed");
        }
    }
}

#[tokio::test]
async fn each_stage_waits_for_its_own_soak_before_the_next_one_starts() {
    for app in spawn_apps().await {
        let mut mailboxes = households(&app, "SOAK", 4).await;
        publish(&app, "4.0.0", true).await;
        let mut admin = admin(&app).await;

        for (stages, part) in [
            ("50:2x,100", "50:2x"),
            ("50:2h:101%,100", "50:2h:101%"),
            ("50:2h:50%:1,100", "50:2h:50%:1"),
        ] {
            let refused = admin
                .api(
                    "POST",
                    "/api/admin/v1/rollouts",
                    Some(json!({"version": "4.0.0", "stages": stages, "reason": "soak"})),
                )
                .await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
            assert_eq!(refused.json()["error"], "invalid_stages");
            assert!(refused.body.contains(part), "{}", refused.body);
        }

        // The first stage soaks 2 hours (with no confirmations needed), the last a day with
        // the rollout's 80 %; the rollout's own soak (1 h) applies to neither.
        let started = admin
            .api(
                "POST",
                "/api/admin/v1/rollouts",
                Some(json!({"version": "4.0.0", "stages": "50:2h:0%,100:1d", "soak": "1h", "reason": "soak"})),
            )
            .await;
        assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
        let rollout = started.json();
        assert_eq!(rollout["stages"][0]["soak_ms"], 2 * HOUR_MS);
        assert_eq!(rollout["stages"][0]["soak_confirmed_percent"], 0);
        assert_eq!(rollout["stages"][1]["soak_ms"], 24 * HOUR_MS);
        assert_eq!(rollout["stages"][1]["soak_confirmed_percent"], 80);
        assert_eq!(rollout["soak_ms"], HOUR_MS);

        check_in_all(&app, &mut mailboxes, "1.0.0", "4.0.0").await;
        app.clock.advance_ms(HOUR_MS + 60_000);
        assert_eq!(
            rollouts::judge_open(&app.state).await.expect("judged"),
            vec![Judged::Waiting],
            "1 h: the rollout's soak is over, the stage's is not"
        );
        app.clock.advance_ms(HOUR_MS);
        assert_eq!(
            rollouts::judge_open(&app.state).await.expect("judged"),
            vec![Judged::Advanced]
        );

        // The last stage: every mailbox confirmed within the hour, still it waits its day.
        check_in_all(&app, &mut mailboxes, "1.0.0", "4.0.0").await;
        app.clock.advance_ms(3 * HOUR_MS);
        check_in_all(&app, &mut mailboxes, "1.0.0", "4.0.0").await;
        assert_eq!(
            rollouts::judge_open(&app.state).await.expect("judged"),
            vec![Judged::Waiting],
            "3 h into a 1 d stage, all confirmed"
        );
        app.clock.advance_ms(21 * HOUR_MS);
        check_in_all(&app, &mut mailboxes, "1.0.0", "4.0.0").await;
        assert_eq!(
            rollouts::judge_open(&app.state).await.expect("judged"),
            vec![Judged::Advanced]
        );
        let read = admin.api("GET", "/api/admin/v1/rollouts", None).await;
        assert_eq!(read.json()[0]["state"], "completed", "{}", read.body);
        assert_eq!(read.json()[0]["totals"]["confirmed"], 4, "{}", read.body);
        let page = admin.get("/admin/firmware").await;
        assert!(
            page.body.contains("soaks 2h with 0 % confirmed"),
            "{}",
            page.body
        );
    }
}

#[tokio::test]
async fn staff_tag_mailboxes_and_a_rollout_aimed_at_a_tag_keeps_the_mailboxes_it_started_with() {
    for app in spawn_apps().await {
        let mut mailboxes = households(&app, "TAGS", 4).await;
        publish(&app, "5.0.0", true).await;
        let mut admin = admin(&app).await;
        let mut support = staff(
            &app,
            &format!("sam-{}@smartbox.example", app.backend),
            "support",
        )
        .await;
        let tag_path = |h: &Household| format!("/api/admin/v1/devices/{}/tags", h.device_id);

        // Bad tags are refused with what a tag is; nothing is written.
        for bad in ["Pilot", "2nd", "a b", "", &"x".repeat(25)] {
            let refused = support
                .api("POST", &tag_path(&mailboxes[0]), Some(json!({"tag": bad})))
                .await;
            assert_eq!(
                refused.status,
                StatusCode::BAD_REQUEST,
                "{bad:?}: {}",
                refused.body
            );
            assert_eq!(refused.json()["error"], "invalid_tag");
        }
        // Support tags two mailboxes in the API, an admin a third on its page.
        for h in &mailboxes[..2] {
            let tagged = support
                .api("POST", &tag_path(h), Some(json!({"tag": "pilot"})))
                .await;
            assert_eq!(tagged.status, StatusCode::OK, "{}", tagged.body);
            assert_eq!(tagged.json()["tags"], json!(["pilot"]));
            assert_eq!(tagged.json()["hardware_revision"], "esp32c6");
        }
        let page = format!("/admin/devices/{}", mailboxes[2].device_id);
        let tagged = admin
            .submit(&page, &format!("{page}/tags"), &[("tag", "pilot")])
            .await;
        assert_eq!(tagged.status, StatusCode::SEE_OTHER, "{}", tagged.body);
        let shown = admin.get(&page).await;
        assert!(shown.body.contains("Remove pilot"), "{}", shown.body);
        let again = support
            .api(
                "POST",
                &tag_path(&mailboxes[0]),
                Some(json!({"tag": "pilot"})),
            )
            .await;
        assert_eq!(again.json()["tags"], json!(["pilot"]), "a tag is kept once");
        let audit = app
            .state
            .db
            .audit_for("device", &mailboxes[0].device_id)
            .await
            .expect("audit");
        assert_eq!(audit.iter().filter(|e| e.action == "tag").count(), 1);

        // Untag: the third loses it on its page; an absent tag is refused by name.
        let untagged = admin
            .submit(&page, &format!("{page}/tags/pilot/remove"), &[])
            .await;
        assert_eq!(untagged.status, StatusCode::SEE_OTHER, "{}", untagged.body);
        let missing = support
            .api(
                "DELETE",
                &format!(
                    "/api/admin/v1/devices/{}/tags/canary",
                    mailboxes[0].device_id
                ),
                None,
            )
            .await;
        assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{}", missing.body);
        assert!(missing.body.contains("no tag canary"), "{}", missing.body);

        // A rollout aimed at an unknown tag, or at a tag and serials at once, is refused.
        for (body, code) in [
            (
                json!({"version": "5.0.0", "tag": "nobody", "reason": "tagged"}),
                "unknown_tag",
            ),
            (
                json!({"version": "5.0.0", "tag": "pilot", "serials": ["SB-TAGS-0000"], "reason": "both"}),
                "invalid_target",
            ),
        ] {
            let refused = admin
                .api("POST", "/api/admin/v1/rollouts", Some(body))
                .await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
            assert_eq!(refused.json()["error"], code, "{}", refused.body);
        }

        // At 100 % the two tagged mailboxes are offered it; a mailbox tagged after the start
        // is not, and the stage still counts two.
        let started = admin
            .api(
                "POST",
                "/api/admin/v1/rollouts",
                Some(json!({"version": "5.0.0", "stages": "100", "tag": "pilot", "reason": "pilot tag"})),
            )
            .await;
        assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
        assert_eq!(started.json()["target"], "tag");
        assert_eq!(started.json()["target_tag"], "pilot");
        let id = started.json()["id"].as_str().expect("id").to_owned();
        let late = support
            .api(
                "POST",
                &tag_path(&mailboxes[3]),
                Some(json!({"tag": "pilot"})),
            )
            .await;
        assert_eq!(late.status, StatusCode::OK, "{}", late.body);
        for (i, h) in mailboxes.iter_mut().enumerate() {
            let offer = offered(&app, h, "1.0.0").await;
            assert_eq!(offer.is_some(), i < 2, "mailbox {i} on {}", app.backend);
        }
        let read = admin
            .api("GET", &format!("/api/admin/v1/rollouts/{id}"), None)
            .await;
        assert_eq!(read.json()["stages"][0]["new_members"], 2, "{}", read.body);
        let page = admin.get("/admin/firmware").await;
        assert!(
            page.body.contains("mailboxes tagged pilot at its start"),
            "{}",
            page.body
        );
    }
}

/// The admin API's image upload (multipart, with the CSRF header).
async fn api_upload(
    staff: &mut Browser,
    image: &[u8],
    version: &str,
    revision: &str,
    signature: &str,
) -> Answer {
    let csrf = staff.get("/api/v1/me").await.json()["csrf_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let boundary = "smartbox-api-boundary-41c2";
    let fields = [
        ("version", version),
        ("hardware_revision", revision),
        ("signature", signature),
        ("reason", "new board's first image"),
    ];
    let body = multipart(boundary, &fields, image);
    let request = Request::post("/api/admin/v1/firmware/images")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header("x-csrf-token", csrf)
        .body(Body::from(body))
        .expect("request");
    staff.send(request).await
}

#[tokio::test]
async fn images_go_to_their_own_board_with_one_open_rollout_per_board_and_the_api_uploads_them() {
    let key = firmware_release::generate_key();
    let public = hex::encode(key.verifying_key().to_bytes());
    let config = Config::from_lookup(|name| {
        (name == "SMARTBOX_FIRMWARE_PUBLIC_KEY").then(|| public.clone())
    })
    .expect("a configuration with the release key");
    for app in spawn_apps_with(&config).await {
        let mut mailboxes = households(&app, "REV", 3).await;
        let mut admin = admin(&app).await;
        let image: Vec<u8> = (0..4000u32).map(|i| (i % 241) as u8).collect();
        let signature = firmware_release::sign_image(&key, &image);

        // The API upload: bad signature, bad revision, too big, support: refused; nothing stored.
        let other = firmware_release::sign_image(&firmware_release::generate_key(), &image);
        let refused = api_upload(&mut admin, &image, "6.0.0-r2", "esp32c6-r2", &other).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(refused.json()["error"], "bad_signature");
        let refused = api_upload(&mut admin, &image, "6.0.0-r2", "ESP 32", &signature).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(refused.json()["error"], "invalid_hardware_revision");
        let big = vec![1u8; 4 * 1024 * 1024 + 1];
        let big_signature = firmware_release::sign_image(&key, &big);
        let refused = api_upload(&mut admin, &big, "6.0.0-big", "esp32c6", &big_signature).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert!(refused.body.contains("4 MiB"), "{}", refused.body);
        let huge = vec![1u8; 5 * 1024 * 1024];
        let refused = api_upload(&mut admin, &huge, "6.0.0-huge", "esp32c6", &signature).await;
        assert_eq!(
            refused.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{}",
            refused.body
        );
        let mut support = staff(
            &app,
            &format!("sam-{}@smartbox.example", app.backend),
            "support",
        )
        .await;
        let refused = api_upload(&mut support, &image, "6.0.0-r2", "esp32c6-r2", &signature).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert!(
            app.state
                .db
                .recent_firmware(10)
                .await
                .expect("read")
                .is_empty()
        );

        let uploaded = api_upload(&mut admin, &image, "6.0.0-r2", "esp32c6-r2", &signature).await;
        assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
        assert_eq!(uploaded.json()["hardware_revision"], "esp32c6-r2");
        assert_eq!(uploaded.json()["staged"], true);
        assert_eq!(uploaded.json()["size_bytes"], 4000);

        // Mailbox 0 reports the new board; 1 reports the old one; 2 runs firmware that does
        // not report (the old board). The row changes for 0 only; the vitals keep no revision.
        assert_eq!(
            beat(&app, &mut mailboxes[0], "1.0.0", Some("esp32c6-r2")).await,
            None
        );
        assert_eq!(
            beat(&app, &mut mailboxes[1], "1.0.0", Some("esp32c6")).await,
            None
        );
        assert_eq!(beat(&app, &mut mailboxes[2], "1.0.0", None).await, None);
        let ids: Vec<String> = mailboxes.iter().map(|h| h.device_id.clone()).collect();
        let revision = |i: usize| {
            let id = smartbox_domain::DeviceId::new(ids[i].as_str());
            let db = app.state.db.clone();
            async move {
                db.hardware_revision(&id)
                    .await
                    .expect("read")
                    .expect("a row")
            }
        };
        assert_eq!(revision(0).await, "esp32c6-r2");
        assert_eq!(revision(1).await, "esp32c6");
        assert_eq!(revision(2).await, "esp32c6");
        // Written when it changes, not per heartbeat: a row changed behind this process's back
        // stays as it is while the mailbox keeps reporting the revision it reported before.
        let id0 = smartbox_domain::DeviceId::new(mailboxes[0].device_id.as_str());
        assert!(
            app.state
                .db
                .set_hardware_revision(&id0, "esp32c6")
                .await
                .expect("written")
        );
        beat(&app, &mut mailboxes[0], "1.0.0", Some("esp32c6-r2")).await;
        assert_eq!(
            revision(0).await,
            "esp32c6",
            "no write for an unchanged report"
        );
        assert!(
            app.state
                .db
                .set_hardware_revision(&id0, "esp32c6-r2")
                .await
                .expect("written")
        );
        let bad = heartbeat(&app, &mut mailboxes[1], "1.0.0", Some("ESP32")).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
        assert!(bad.body.contains("hardware_revision"), "{}", bad.body);

        // The old board's rollout and the new board's at once: each offered to its own board.
        publish(&app, "6.0.0", true).await;
        for version in ["6.0.0", "6.0.0-r2"] {
            let started = admin
                .api(
                    "POST",
                    "/api/admin/v1/rollouts",
                    Some(json!({"version": version, "stages": "100", "reason": "both boards"})),
                )
                .await;
            assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
        }
        let again = admin
            .api(
                "POST",
                "/api/admin/v1/rollouts",
                Some(json!({"version": "6.0.0-r2", "stages": "100", "reason": "twice"})),
            )
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
        assert!(again.body.contains("esp32c6-r2"), "{}", again.body);
        assert_eq!(
            beat(&app, &mut mailboxes[0], "1.0.0", Some("esp32c6-r2"))
                .await
                .as_deref(),
            Some("6.0.0-r2")
        );
        assert_eq!(
            beat(&app, &mut mailboxes[1], "1.0.0", Some("esp32c6"))
                .await
                .as_deref(),
            Some("6.0.0")
        );
        assert_eq!(
            beat(&app, &mut mailboxes[2], "1.0.0", None)
                .await
                .as_deref(),
            Some("6.0.0")
        );
        let listed = admin.api("GET", "/api/admin/v1/rollouts", None).await;
        let by_board = |board: &str| {
            listed
                .json()
                .as_array()
                .expect("a list")
                .iter()
                .find(|r| r["hardware_revision"] == board)
                .cloned()
                .expect("a rollout")
        };
        assert_eq!(by_board("esp32c6-r2")["stages"][0]["new_members"], 1);
        assert_eq!(by_board("esp32c6")["stages"][0]["new_members"], 2);
        assert_eq!(
            rollouts::judge_open(&app.state)
                .await
                .expect("judged")
                .len(),
            2,
            "the gate job judges both"
        );
        let spec = admin.get("/api/openapi.json").await.json();
        let paths = &spec["paths"];
        assert!(paths["/api/admin/v1/firmware/images"]["post"].is_object());
        assert!(paths["/api/admin/v1/devices/{device_id}/tags"]["post"].is_object());
        assert!(paths["/api/admin/v1/devices/{device_id}/tags/{tag}"]["delete"].is_object());
        let start = &spec["components"]["schemas"]["StartRolloutRequest"]["properties"];
        assert!(
            start["serials"].is_object() && start["tag"].is_object(),
            "{start}"
        );
    }
}
