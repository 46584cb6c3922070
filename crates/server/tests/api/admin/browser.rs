//! The admin story in headless Chromium (when `SMARTBOX_TEST_CHROMEDRIVER` names a chromedriver):
//! staff import three mailboxes in the page and get their labels; a customer claims one; staff
//! find that customer by serial, refund part of a payment and credit the next invoice; suspend a
//! mailbox's service (its heartbeat says so), see its charts, and resume it; decommission
//! another mailbox, whose next heartbeat is then 401; and refurbish a returned one, whose old
//! secret is refused and new secret works. Screenshots at 375 and 1280 px go to `target/screenshots/admin-*`.

use base64::Engine;
use fantoccini::Locator;
use smartbox_billing::CardDetails;
use smartbox_domain::{DeviceId, PlanId};
use smartbox_server::Clock;
use smartbox_server::provisioning::{self, FactoryRecord};
use smartbox_server::services::payment_methods::{self, NewCard};
use smartbox_server::services::{Actor, claims, returns, staff_devices};
use smartbox_store::testing;

use crate::helpers::{TestApp, TestDevice, spawn_app, vitals_body};
use crate::portal::browser::{
    CHROMEDRIVER_VAR, arrive, browser, click, fill, screenshots, wait_for,
};

fn device(app_record: &FactoryRecord, device_id: &str) -> TestDevice {
    let mut secret = [0u8; 32];
    hex::decode_to_slice(&app_record.secret_hex, &mut secret).expect("hex secret");
    TestDevice {
        serial: app_record.serial.clone(),
        secret,
        device_id: device_id.to_owned(),
    }
}

async fn heartbeat(app: &TestApp, mailbox: &TestDevice) -> u16 {
    app.heartbeat(mailbox, &vitals_body("1.0.0"))
        .await
        .status()
        .as_u16()
}

async fn text(client: &fantoccini::Client) -> String {
    client
        .find(Locator::Css("main"))
        .await
        .expect("main")
        .text()
        .await
        .expect("text")
}

#[tokio::test]
async fn the_admin_story_in_chromium() {
    let Some(driver) = std::env::var(CHROMEDRIVER_VAR)
        .ok()
        .filter(|v| !v.is_empty())
    else {
        eprintln!("{CHROMEDRIVER_VAR} is not set: the admin browser story is skipped");
        return;
    };
    let app = spawn_app(
        testing::sqlite().await,
        std::sync::Arc::new(object_store::memory::InMemory::new()),
        None,
    )
    .await;
    let now = app.clock.now_ms();
    provisioning::create_user(
        &app.state.db,
        "ops@smartbox.example",
        "staff password 1",
        "admin",
        now,
    )
    .await
    .expect("staff");
    let profile = tempfile::tempdir().expect("a fresh Chromium profile");
    let client = browser(&driver, profile.path()).await;
    let base = &app.base_url;

    // Staff log in and land on the console.
    client.goto(&format!("{base}/login")).await.expect("login");
    fill(&client, "#email", "ops@smartbox.example").await;
    fill(&client, "#password", "staff password 1").await;
    click(&client, "main button[type=submit]").await;
    assert_eq!(arrive(&client, "/admin").await, "/admin");
    screenshots(&client, "admin-01-overview").await;

    // Import three mailboxes in the page; the labels and the factory CSV come back once.
    client
        .goto(&format!("{base}/admin/devices/import"))
        .await
        .expect("import");
    fill(&client, "#csv", "serial\nSB-ADM-1\nSB-ADM-2\nSB-ADM-3\n").await;
    screenshots(&client, "admin-02-import").await;
    click(&client, "main button[type=submit]").await;
    wait_for(&client, "svg.qr").await;
    assert_eq!(
        client.find_all(Locator::Css("svg.qr")).await.unwrap().len(),
        3
    );
    screenshots(&client, "admin-03-labels").await;
    let href = client
        .find(Locator::Css("a[download]"))
        .await
        .expect("the factory CSV link")
        .attr("href")
        .await
        .expect("href")
        .expect("an href");
    let csv = base64::engine::general_purpose::STANDARD
        .decode(href.trim_start_matches("data:text/csv;base64,"))
        .expect("base64");
    let mut records: Vec<FactoryRecord> = String::from_utf8(csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            FactoryRecord {
                serial: f[0].into(),
                secret_hex: f[1].into(),
                claim_code: f[2].into(),
            }
        })
        .collect();
    assert_eq!(records.len(), 3);
    let id = |serial: &str| {
        let db = app.state.db.clone();
        let serial = serial.to_owned();
        async move {
            db.device_by_serial(&serial)
                .await
                .unwrap()
                .expect("imported")
                .id
        }
    };

    // A customer claims two of them (as the claim page does), saves a card and pays.
    let customer = provisioning::create_user(
        &app.state.db,
        "cleo@example.com",
        "customer pass 1",
        "customer",
        now,
    )
    .await
    .expect("customer");
    let cleo = Actor::customer(customer.as_str());
    for record in [&records[0], &records[2]] {
        claims::claim(
            &app.state,
            &cleo,
            "192.0.2.9",
            &record.serial,
            &record.claim_code,
            PlanId::Plus,
        )
        .await
        .expect("claim ran")
        .expect("claimed");
    }
    payment_methods::save(
        &app.state,
        &cleo,
        NewCard::TestCard(CardDetails::test("4242424242424242")),
    )
    .await
    .expect("card saved");
    app.clock.advance_s(8 * 24 * 3600);
    app.state
        .billing()
        .run_billing_pass(app.state.clock.now(), None, "admin story")
        .await
        .expect("billing pass");

    // Staff find the customer by serial and refund part of a payment.
    client
        .goto(&format!("{base}/admin/customers?q=SB-ADM-1"))
        .await
        .expect("search");
    screenshots(&client, "admin-04-search").await;
    click(&client, "a[href^='/admin/customers/']").await;
    arrive(&client, "/admin/customers/").await;
    fill(
        &client,
        "form[action$='/refund'] input[name=amount]",
        "2.50",
    )
    .await;
    fill(
        &client,
        "form[action$='/refund'] input[name=reason]",
        "mail arrived wet",
    )
    .await;
    screenshots(&client, "admin-05-customer").await;
    click(&client, "form[action$='/refund'] button").await;
    arrive(&client, "/admin/customers/").await;
    assert!(text(&client).await.contains("Refunded $2.50."));
    screenshots(&client, "admin-06-refunded").await;

    // The admin credits the next invoice of a subscription ($3.00 off its renewal).
    click(&client, "details:has(form[action$='/credit']) summary").await;
    fill(
        &client,
        "form[action$='/credit'] input[name=amount]",
        "3.00",
    )
    .await;
    fill(
        &client,
        "form[action$='/credit'] input[name=reason]",
        "mailbox offline two days",
    )
    .await;
    click(&client, "form[action$='/credit'] button").await;
    arrive(&client, "/admin/customers/").await;
    let page = text(&client).await;
    assert!(page.contains("The credit was added"), "{page}");
    assert!(page.contains("$3.00 credit for the next invoice"), "{page}");
    screenshots(&client, "admin-06b-credited").await;

    // Support suspends the first mailbox's service (its heartbeat says so) and resumes it.
    let first = device(&records[0], &id("SB-ADM-1").await);
    for _ in 0..3 {
        assert_eq!(heartbeat(&app, &first).await, 200);
        app.clock.advance_s(6 * 3600);
    }
    client
        .goto(&format!("{base}/admin/devices/{}", first.device_id))
        .await
        .expect("device page");
    wait_for(&client, "svg.chart").await;
    fill(&client, "#reason-suspend", "chargeback opened").await;
    click(&client, "form[action$='/suspend'] button").await;
    arrive(
        &client,
        &format!("/admin/devices/{}?done=suspend", first.device_id),
    )
    .await;
    assert!(text(&client).await.contains("Service suspended"));
    let service = app
        .heartbeat(&first, &vitals_body("1.0.0"))
        .await
        .json::<serde_json::Value>()
        .await
        .expect("a heartbeat answer")["service"]
        .clone();
    assert_eq!(service, "suspended");
    screenshots(&client, "admin-06c-suspended").await;
    fill(&client, "#reason-resume", "chargeback withdrawn").await;
    click(&client, "form[action$='/resume'] button").await;
    arrive(
        &client,
        &format!("/admin/devices/{}?done=resume", first.device_id),
    )
    .await;
    assert!(text(&client).await.contains("Service resumed"));

    // Decommission the second mailbox: its next heartbeat is refused.
    let second = device(&records[1], &id("SB-ADM-2").await);
    assert_eq!(heartbeat(&app, &second).await, 200);
    client
        .goto(&format!("{base}/admin/devices/{}", second.device_id))
        .await
        .expect("device page");
    fill(&client, "#reason-decommission", "lost in transit").await;
    screenshots(&client, "admin-07-device").await;
    click(&client, "form[action$='/decommission'] button").await;
    arrive(
        &client,
        &format!("/admin/devices/{}?done=decommission", second.device_id),
    )
    .await;
    assert_eq!(heartbeat(&app, &second).await, 401);

    // The customer returns the third; staff refurbish it: old secret refused, new one works.
    let third_id = id("SB-ADM-3").await;
    let old = device(&records[2], &third_id);
    assert_eq!(heartbeat(&app, &old).await, 200);
    let third = DeviceId::new(third_id.clone());
    returns::start(&app.state, &cleo, &third, "Moving house")
        .await
        .expect("return started");
    staff_devices::receive_return(&app.state, &Actor::Cli, &third, "box arrived")
        .await
        .expect("received");
    client
        .goto(&format!("{base}/admin/devices/{third_id}"))
        .await
        .expect("device page");
    fill(&client, "#reason-refurbish", "cleaned, new seal").await;
    click(&client, "form[action$='/refurbish'] button").await;
    let secret = wait_for(&client, "dd code")
        .await
        .text()
        .await
        .expect("secret");
    screenshots(&client, "admin-08-refurbished").await;
    records[2].secret_hex = secret;
    let new = device(&records[2], &third_id);
    assert_eq!(
        heartbeat(&app, &old).await,
        401,
        "the old secret is refused"
    );
    assert_eq!(heartbeat(&app, &new).await, 200, "the new secret works");

    client.close().await.expect("the browser closes");
}
