//! Staged firmware rollouts from the admin side (issue 21): an admin starts one in the JSON API,
//! the heartbeat offers its image to its stage's mailboxes only (a pin wins, a pause stops every
//! offer), a device's check-in on the image confirms it, support may pause but not advance, and
//! every bad input is a clear 4xx — on SQLite and on PostgreSQL when configured.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;
use smartbox_domain::RolloutId;
use smartbox_domain::rollout::is_member;
use smartbox_protocol::HEARTBEAT_PATH;
use smartbox_server::config::Config;
use smartbox_server::firmware_release;
use smartbox_server::services::rollouts;
use smartbox_server::services::{Actor, StaffRole};

use super::staff;
use crate::portal::helpers::{
    Answer, Browser, Household, PortalApp, spawn_apps, spawn_apps_with, spawn_sqlite,
};

pub(super) fn vitals(version: &str) -> Vec<u8> {
    json!({
        "battery_percent": 80, "power_state": "awake", "signal_dbm": -85, "network": "cellular",
        "firmware_version": version, "modem_tx_bytes": 0, "modem_rx_bytes": 0, "sd_queue_len": 0,
    })
    .to_string()
    .into_bytes()
}

/// The version the heartbeat of a mailbox running `running` is offered, if any.
pub(super) async fn offered(app: &PortalApp, h: &mut Household, running: &str) -> Option<String> {
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

pub(super) async fn publish(app: &PortalApp, version: &str, staged: bool) {
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

/// A multipart body of text `fields` and the `image` file part.
pub(super) fn multipart(boundary: &str, fields: &[(&str, &str)], image: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"fw.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(image);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

/// The image form of `/admin/firmware` as a browser posts it (multipart, with the page's CSRF).
async fn upload(staff: &mut Browser, image: &[u8], version: &str, signature: &str) -> Answer {
    let csrf = staff.get("/admin/firmware").await.csrf();
    let boundary = "smartbox-test-boundary-7d1f";
    let fields = [
        ("csrf", csrf.as_str()),
        ("version", version),
        ("signature", signature),
        ("reason", "release 2.1 for the fleet"),
    ];
    let body = multipart(boundary, &fields, image);
    let request = Request::post("/admin/firmware/images")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header(header::HOST, "127.0.0.1:8080")
        .header("origin", "http://127.0.0.1:8080")
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(body))
        .expect("request");
    staff.send(request).await
}

#[tokio::test]
async fn an_admin_uploads_a_signed_image_on_the_page_and_rolls_it_out_and_a_bad_signature_is_refused()
 {
    let key = firmware_release::generate_key();
    let public = hex::encode(key.verifying_key().to_bytes());
    let config = Config::from_lookup(|name| {
        (name == "SMARTBOX_FIRMWARE_PUBLIC_KEY").then(|| public.clone())
    })
    .expect("a configuration with the release key");
    for app in spawn_apps_with(&config).await {
        let mut h = app
            .household(&format!("una-{}@example.com", app.backend), "SB-UPLD-0001")
            .await;
        let mut admin = staff(
            &app,
            &format!("ada-{}@smartbox.example", app.backend),
            "admin",
        )
        .await;
        let mut support = staff(
            &app,
            &format!("sam-{}@smartbox.example", app.backend),
            "support",
        )
        .await;
        let image: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        let signature = firmware_release::sign_image(&key, &image);

        // Another key's signature, a signature of other bytes, and no hex at all: each refused
        // with the same clear sentence, and nothing is stored.
        let other_key = firmware_release::sign_image(&firmware_release::generate_key(), &image);
        let other_bytes = firmware_release::sign_image(&key, b"other bytes");
        for bad in [other_key.as_str(), other_bytes.as_str(), "not hex"] {
            let refused = upload(&mut admin, &image, "2.1.0", bad).await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
            assert!(
                refused.body.contains("signature of this image"),
                "{}",
                refused.body
            );
        }
        assert!(
            app.state
                .db
                .firmware_by_version("2.1.0")
                .await
                .expect("read")
                .is_none()
        );

        // Support may not upload; an empty version is refused.
        let forbidden = upload(&mut support, &image, "2.1.0", &signature).await;
        assert_eq!(
            forbidden.status,
            StatusCode::FORBIDDEN,
            "{}",
            forbidden.body
        );
        let no_version = upload(&mut admin, &image, "", &signature).await;
        assert_eq!(
            no_version.status,
            StatusCode::BAD_REQUEST,
            "{}",
            no_version.body
        );

        // The signed image is stored with its own signature, for rollouts only, and audited.
        let uploaded = upload(&mut admin, &image, "2.1.0", &signature).await;
        assert_eq!(uploaded.status, StatusCode::SEE_OTHER, "{}", uploaded.body);
        assert_eq!(uploaded.location(), "/admin/firmware?done=upload");
        let row = app
            .state
            .db
            .firmware_by_version("2.1.0")
            .await
            .expect("read")
            .expect("stored");
        assert!(row.staged);
        assert_eq!(row.signature, signature);
        assert_eq!(row.size_bytes, 3000);
        assert!(firmware_release::verify_image(
            &key.verifying_key(),
            &image,
            &row.signature
        ));
        let audit = app
            .state
            .db
            .audit_for("firmware_image", "2.1.0")
            .await
            .expect("audit");
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].action, "upload");
        assert!(audit[0].actor.starts_with("staff:"), "{}", audit[0].actor);
        assert!(
            audit[0].detail.contains("release 2.1 for the fleet"),
            "{}",
            audit[0].detail
        );
        let again = upload(&mut admin, &image, "2.1.0", &signature).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
        assert!(again.body.contains("already published"), "{}", again.body);

        let page = admin.get("/admin/firmware?done=upload").await;
        assert!(page.body.contains("Image uploaded"), "{}", page.body);
        assert!(page.body.contains("through rollouts only"), "{}", page.body);
        assert_eq!(
            offered(&app, &mut h, "1.0.0").await,
            None,
            "staged: nobody yet"
        );

        // The start form on the same page rolls the uploaded image out.
        let started = admin
            .submit(
                "/admin/firmware",
                "/admin/firmware/rollouts",
                &[
                    ("version", "2.1.0"),
                    ("stages", "100"),
                    ("soak", "1h"),
                    ("confirmed", "80"),
                    ("reason", "roll out the upload"),
                ],
            )
            .await;
        assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
        assert_eq!(started.location(), "/admin/firmware?done=start");
        assert_eq!(
            offered(&app, &mut h, "1.0.0").await.as_deref(),
            Some("2.1.0")
        );
        let page = admin.get("/admin/firmware").await;
        assert!(
            page.body.contains("Firmware 2.1.0: running"),
            "{}",
            page.body
        );
    }
}

#[tokio::test]
async fn an_upload_without_a_configured_release_key_is_refused_with_what_to_set() {
    let app = spawn_sqlite().await;
    let mut admin = staff(&app, "ada@smartbox.example", "admin").await;
    let key = firmware_release::generate_key();
    let image = vec![5u8; 100];
    let refused = upload(
        &mut admin,
        &image,
        "2.2.0",
        &firmware_release::sign_image(&key, &image),
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused.body.contains("SMARTBOX_FIRMWARE_PUBLIC_KEY"),
        "{}",
        refused.body
    );
    assert!(
        app.state
            .db
            .firmware_by_version("2.2.0")
            .await
            .expect("read")
            .is_none()
    );
}

#[tokio::test]
async fn a_rollout_to_listed_serials_offers_its_image_among_them_only() {
    for app in spawn_apps().await {
        let serials = [
            "SB-LIST-0001",
            "SB-LIST-0002",
            "SB-LIST-0003",
            "SB-LIST-0004",
            "SB-LIST-0005",
            "SB-LIST-0006",
        ];
        let mut mailboxes = Vec::new();
        for (i, serial) in serials.iter().enumerate() {
            mailboxes.push(
                app.household(&format!("list{i}-{}@example.com", app.backend), serial)
                    .await,
            );
        }
        publish(&app, "3.0.0", true).await;
        let mut admin = staff(
            &app,
            &format!("ada-{}@smartbox.example", app.backend),
            "admin",
        )
        .await;
        let start = |listed: &'static str| {
            [
                ("version", "3.0.0"),
                ("stages", "50,100"),
                ("soak", "1h"),
                ("confirmed", "80"),
                ("serials", listed),
                ("reason", "try it on the listed mailboxes"),
            ]
        };

        // An unknown serial and a malformed one are refused by name; nothing starts.
        let unknown = admin
            .submit(
                "/admin/firmware",
                "/admin/firmware/rollouts",
                &start("SB-LIST-0001, SB-NOPE-9999"),
            )
            .await;
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
        assert!(unknown.body.contains("SB-NOPE-9999"), "{}", unknown.body);
        let malformed = admin
            .submit(
                "/admin/firmware",
                "/admin/firmware/rollouts",
                &start("SB-LIST-0001;DROP"),
            )
            .await;
        assert_eq!(
            malformed.status,
            StatusCode::BAD_REQUEST,
            "{}",
            malformed.body
        );
        assert!(
            malformed.body.contains("is not a serial"),
            "{}",
            malformed.body
        );
        let none = app.state.db.open_rollout(rollouts::BOARD_REVISION).await;
        assert!(none.expect("read").is_none());

        // The first four, typed with commas, spaces and a line break (and a repeat).
        let started = admin
            .submit(
                "/admin/firmware",
                "/admin/firmware/rollouts",
                &start("SB-LIST-0001,SB-LIST-0002\nSB-LIST-0003  SB-LIST-0004, SB-LIST-0001"),
            )
            .await;
        assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
        let id = app
            .state
            .db
            .open_rollout(rollouts::BOARD_REVISION)
            .await
            .expect("read")
            .expect("open")
            .id;
        assert_eq!(
            app.state
                .db
                .rollout_targets(&RolloutId::new(id.as_str()))
                .await
                .expect("targets"),
            serials[..4].to_vec()
        );
        for (i, h) in mailboxes.iter_mut().enumerate() {
            let expected = i < 4 && is_member(serials[i], &id, 50);
            assert_eq!(
                offered(&app, h, "1.0.0").await.is_some(),
                expected,
                "{} at the 50 % stage",
                serials[i]
            );
        }

        // At 100 % every listed mailbox is offered it, and nobody else ever is.
        let advanced = admin
            .submit(
                "/admin/firmware",
                &format!("/admin/firmware/rollouts/{id}/advance"),
                &[("reason", "the first half is fine")],
            )
            .await;
        assert_eq!(advanced.status, StatusCode::SEE_OTHER, "{}", advanced.body);
        for (i, h) in mailboxes.iter_mut().enumerate() {
            let offer = offered(&app, h, "1.0.0").await;
            assert_eq!(offer.is_some(), i < 4, "{} at 100 %", serials[i]);
        }
        let admin_actor = Actor::Staff {
            id: "ada".into(),
            role: StaffRole::Admin,
        };
        let report = rollouts::report(&app.state, &admin_actor, &RolloutId::new(id.as_str()))
            .await
            .expect("report");
        let members: u64 = report.stages.iter().map(|s| s.new_members).sum();
        assert_eq!(members, 4, "the stages count the listed mailboxes only");
    }
}
