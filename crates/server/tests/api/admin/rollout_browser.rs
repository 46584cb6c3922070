//! `/admin/firmware` in headless Chromium (when `SMARTBOX_TEST_CHROMEDRIVER` names a
//! chromedriver): a good image rolled out to the whole fleet (finished) and a bad one that a
//! tripped gate paused at its first stage, both with their stages' progress bars and gates;
//! staff abort the bad one from the page. Screenshots at 375 and 1280 px go to
//! `target/screenshots/admin-firmware-*`.

use fantoccini::Locator;
use serde_json::json;
use smartbox_domain::rollout::{RolloutCommand, is_member};
use smartbox_domain::{PlanId, RolloutId};
use smartbox_protocol::FIRMWARE_REPORT_PATH;
use smartbox_server::services::Actor;
use smartbox_server::services::rollouts::{self, Judged, StartRollout};
use smartbox_server::{Clock, firmware_release};
use smartbox_store::testing;

use crate::helpers::{TestApp, TestDevice, spawn_app, vitals_body};
use crate::portal::browser::{CHROMEDRIVER_VAR, arrive, browser, click, fill, screenshots};

const FLEET: usize = 12;

async fn check_in(app: &TestApp, device: &TestDevice, version: &str) -> Option<String> {
    app.state.device_api.rollouts.forget();
    let answer: serde_json::Value = app
        .heartbeat(device, &vitals_body(version))
        .await
        .json()
        .await
        .expect("a heartbeat answer");
    answer["firmware"]["version"].as_str().map(str::to_owned)
}

async fn start(app: &TestApp, version: &str, stages: &str) -> RolloutId {
    let input = StartRollout::parse(version, stages, "1h", "100").expect("valid");
    let row = rollouts::start(&app.state, &Actor::Cli, input, "release day")
        .await
        .expect("started");
    RolloutId::new(row.id)
}

#[tokio::test]
async fn the_firmware_page_shows_a_finished_and_a_paused_rollout_in_chromium() {
    let Some(driver) = std::env::var(CHROMEDRIVER_VAR)
        .ok()
        .filter(|v| !v.is_empty())
    else {
        eprintln!("{CHROMEDRIVER_VAR} is not set: the firmware page story is skipped");
        return;
    };
    let app = spawn_app(
        testing::sqlite().await,
        std::sync::Arc::new(object_store::memory::InMemory::new()),
        None,
    )
    .await;
    let now = app.clock.now_ms();
    smartbox_server::provisioning::create_user(
        &app.state.db,
        "ops@smartbox.example",
        "staff password 1",
        "admin",
        now,
    )
    .await
    .expect("staff");
    let mut fleet = Vec::new();
    for i in 0..FLEET {
        fleet.push(
            app.activated_device(&format!("SB-FW-{i:04}"), PlanId::Basic)
                .await,
        );
    }
    let key = firmware_release::generate_key();
    for version in ["2.1.0", "2.2.0-bad"] {
        firmware_release::publish_staged(
            &app.state.db,
            &app.state.blobs,
            vec![1u8; 4096],
            version,
            &key,
            now,
        )
        .await
        .expect("published");
    }

    // The good image: half the fleet, then all of it, every mailbox confirmed.
    let good = start(&app, "2.1.0", "50,100").await;
    for _ in 0..2 {
        for device in &fleet {
            if check_in(&app, device, "1.0.0").await.is_some() {
                assert_eq!(check_in(&app, device, "2.1.0").await, None);
            }
        }
        app.clock.advance_s(2 * 3600);
        assert_eq!(
            rollouts::judge_open(&app.state).await.expect("judged"),
            vec![Judged::Advanced]
        );
    }

    // The bad one: its first stage rolls it back, and the gate pauses it.
    let bad = start(&app, "2.2.0-bad", "25,100").await;
    let mut first_stage = 0;
    for device in &fleet {
        let offer = check_in(&app, device, "2.1.0").await;
        assert_eq!(offer.is_some(), is_member(&device.serial, bad.as_str(), 25));
        if offer.is_some() {
            first_stage += 1;
            let report = json!({"version": "2.2.0-bad", "status": "rolled_back", "detail": "new image did not confirm itself"});
            let answer = app
                .send(app.signed_json(device, FIRMWARE_REPORT_PATH, &report))
                .await;
            assert_eq!(answer.status(), 204);
        }
    }
    if first_stage > 0 {
        assert!(matches!(
            rollouts::judge_open(&app.state)
                .await
                .expect("judged")
                .as_slice(),
            [Judged::Paused(_)]
        ));
    } else {
        rollouts::command(
            &app.state,
            &Actor::Cli,
            &bad,
            RolloutCommand::Pause,
            "nobody in the first stage",
        )
        .await
        .expect("paused");
    }

    let profile = tempfile::tempdir().expect("a fresh Chromium profile");
    let client = browser(&driver, profile.path()).await;
    let base = &app.base_url;
    client.goto(&format!("{base}/login")).await.expect("login");
    fill(&client, "#email", "ops@smartbox.example").await;
    fill(&client, "#password", "staff password 1").await;
    click(&client, "main button[type=submit]").await;
    arrive(&client, "/admin").await;
    click(&client, "nav a[href='/admin/firmware']").await;
    arrive(&client, "/admin/firmware").await;
    let text = client
        .find(Locator::Css("main"))
        .await
        .expect("main")
        .text()
        .await
        .expect("text");
    assert!(text.contains("Firmware 2.1.0: finished"), "{text}");
    assert!(text.contains("Firmware 2.2.0-bad: paused"), "{text}");
    if first_stage > 0 {
        assert!(text.contains("Tripped"), "{text}");
        assert!(text.contains("Paused: A health gate tripped"), "{text}");
    }
    assert!(
        !text.contains(good.as_str()) && !text.contains("rolled_back"),
        "no ids or enum names for people: {text}"
    );
    let bars = client
        .find_all(Locator::Css("progress"))
        .await
        .expect("bars");
    assert!(bars.len() >= 7 * 3, "every started stage has its bars");
    screenshots(&client, "admin-firmware-01-rollouts").await;

    // Staff abort the paused one from the page.
    let form = format!("form[action='/admin/firmware/rollouts/{bad}/abort']");
    fill(
        &client,
        &format!("{form} input[name=reason]"),
        "rolled back on first boot",
    )
    .await;
    click(&client, &format!("{form} button")).await;
    arrive(&client, "/admin/firmware?done=abort").await;
    let text = client
        .find(Locator::Css("main"))
        .await
        .expect("main")
        .text()
        .await
        .expect("text");
    assert!(text.contains("Rollout aborted"), "{text}");
    assert!(text.contains("Firmware 2.2.0-bad: aborted"), "{text}");
    screenshots(&client, "admin-firmware-02-aborted").await;
    client.close().await.expect("closed");
}
