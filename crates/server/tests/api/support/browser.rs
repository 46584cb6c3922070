//! The support story in headless Chromium (when `SMARTBOX_TEST_CHROMEDRIVER` names a
//! chromedriver): a customer whose mailbox is past due opens a ticket from the billing page (the
//! form prefilled with what went wrong); staff find it high in the inbox, see the frozen context
//! (past due, the mailbox's status, firmware and last mail with its thumbnail), add an internal
//! note and reply; the customer gets the email with its link and reads the reply without the
//! note; staff mark it solved. Screenshots at 375 and 1280 px go to `target/screenshots/support-*`.

use std::sync::Arc;

use fantoccini::{Client, Locator};
use smartbox_domain::{PlanId, Serial, SubscriptionStatus};
use smartbox_server::Clock;
use smartbox_server::provisioning;
use smartbox_server::services::{Actor, claims};
use smartbox_store::testing;

use super::mail_worker;
use crate::admin::STAFF_PASSWORD;
use crate::helpers::{TestDevice, spawn_app, vitals_body};
use crate::portal::browser::{
    CHROMEDRIVER_VAR, arrive, browser, click, fill, path, screenshots, wait_for,
};
use crate::portal::helpers::deliver_photos_at;
use smartbox_notify::testing::smtp::SmtpServer;

const CUSTOMER_PASSWORD: &str = "customer pass 1";
const NOTE: &str = "Stripe says the card expired in November.";
const REPLY: &str = "Please add a new card under Billing; your mailbox keeps working meanwhile.";

async fn text(client: &Client) -> String {
    client
        .find(Locator::Css("main"))
        .await
        .expect("main")
        .text()
        .await
        .expect("text")
}

async fn log_in(client: &Client, base: &str, email: &str, password: &str) {
    client
        .goto(&format!("{base}/login"))
        .await
        .expect("login page");
    fill(client, "#email", email).await;
    fill(client, "#password", password).await;
    click(client, "main button[type=submit]").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while path(client).await.starts_with("/login") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{email} did not get in"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn log_out(client: &Client) {
    click(client, "form.logout button").await;
    arrive(client, "/login").await;
}

#[tokio::test]
async fn a_past_due_customer_asks_from_billing_and_support_answers_in_chromium() {
    let Some(driver) = std::env::var(CHROMEDRIVER_VAR)
        .ok()
        .filter(|v| !v.is_empty())
    else {
        eprintln!("{CHROMEDRIVER_VAR} is not set: the support browser story is skipped");
        return;
    };
    let app = spawn_app(
        testing::sqlite().await,
        Arc::new(object_store::memory::InMemory::new()),
        None,
    )
    .await;
    let db = &app.state.db;
    let now = app.clock.now_ms();
    provisioning::create_user(db, "sam@smartbox.example", STAFF_PASSWORD, "support", now)
        .await
        .expect("staff");
    let customer =
        provisioning::create_user(db, "dora@example.com", CUSTOMER_PASSWORD, "customer", now)
            .await
            .expect("customer");

    // Dora's mailbox: claimed on Basic, one delivery with a photo, a heartbeat; her trial ends
    // without a card, so the first invoice fails and the subscription is past due.
    let serial = Serial::parse("SB-HELP-1").expect("a serial");
    let record = provisioning::import_devices(db, &app.state.master_key, &[(2, serial)], now)
        .await
        .expect("imported")
        .remove(0);
    let dora = Actor::customer(customer.as_str());
    claims::claim(
        &app.state,
        &dora,
        "192.0.2.9",
        &record.serial,
        &record.claim_code,
        PlanId::Basic,
    )
    .await
    .expect("claim ran")
    .expect("claimed");
    let device_id = db
        .device_by_serial(&record.serial)
        .await
        .unwrap()
        .expect("device")
        .id;
    let mut secret = [0u8; 32];
    hex::decode_to_slice(&record.secret_hex, &mut secret).expect("hex secret");
    let mailbox = TestDevice {
        serial: record.serial.clone(),
        secret,
        device_id: device_id.clone(),
    };
    app.clock.advance_s(8 * 24 * 3600);
    app.state
        .billing()
        .run_billing_pass(app.state.clock.now(), None, "support story")
        .await
        .expect("billing pass");
    let sub = db
        .live_subscription_of_device(&smartbox_domain::DeviceId::new(device_id.as_str()))
        .await
        .unwrap()
        .expect("a subscription");
    assert_eq!(sub.status, SubscriptionStatus::PastDue);
    deliver_photos_at(
        &app.state,
        &device_id,
        &uuid::Uuid::new_v4().to_string(),
        &[crate::portal::every_state::jpeg()],
        app.clock.now_ms(),
    )
    .await;
    assert_eq!(
        app.heartbeat(&mailbox, &vitals_body("1.4.2"))
            .await
            .status(),
        200
    );

    let profile = tempfile::tempdir().expect("a fresh Chromium profile");
    let client = browser(&driver, profile.path()).await;
    let base = &app.base_url;

    // Dora sees the failed payment on the billing page and asks from there.
    log_in(&client, base, "dora@example.com", CUSTOMER_PASSWORD).await;
    client
        .goto(&format!("{base}/billing"))
        .await
        .expect("billing");
    assert!(
        text(&client)
            .await
            .contains("A payment for this mailbox failed.")
    );
    screenshots(&client, "support-01-billing").await;
    click(&client, "main a[href^='/support/new']").await;
    arrive(&client, "/support/new").await;
    let subject = wait_for(&client, "#subject")
        .await
        .prop("value")
        .await
        .expect("value");
    assert_eq!(
        subject.as_deref(),
        Some("Payment failed for Mailbox SB-HELP-1")
    );
    fill(
        &client,
        "#message",
        "My card was declined. What now? <b>please</b>",
    )
    .await;
    screenshots(&client, "support-02-ask").await;
    click(&client, "main form button[type=submit]").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut at = path(&client).await;
    while !at.ends_with("?done=opened") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ticket did not open: {at}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        at = path(&client).await;
    }
    let ticket_id = at
        .trim_start_matches("/support/")
        .split('?')
        .next()
        .unwrap_or("")
        .to_owned();
    assert!(text(&client).await.contains("Your question is sent."));
    assert!(
        text(&client).await.contains("<b>please</b>"),
        "HTML shows as text"
    );
    screenshots(&client, "support-03-sent").await;
    log_out(&client).await;

    // Staff: the ticket is high in the inbox, with the frozen context.
    log_in(&client, base, "sam@smartbox.example", STAFF_PASSWORD).await;
    client
        .goto(&format!("{base}/admin/tickets"))
        .await
        .expect("inbox");
    let inbox = text(&client).await;
    assert!(
        inbox.contains("Payment failed for Mailbox SB-HELP-1") && inbox.contains("High"),
        "{inbox}"
    );
    screenshots(&client, "support-04-inbox").await;
    click(&client, &format!("a[href='/admin/tickets/{ticket_id}']")).await;
    arrive(&client, &format!("/admin/tickets/{ticket_id}")).await;
    let page = text(&client).await;
    for expected in [
        "Payment overdue",
        "SB-HELP-1",
        "1.4.2",
        "dora@example.com",
        "Last mail",
    ] {
        assert!(page.contains(expected), "{expected} in {page}");
    }
    let loaded = "const i = document.querySelector(\"img[src^='/admin/tickets/']\"); return i.complete ? i.naturalWidth : -1;";
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let width = client
            .execute(loaded, vec![])
            .await
            .expect("the thumbnail measured");
        match width.as_i64() {
            Some(w) if w > 0 => break,
            Some(-1) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            _ => panic!("the thumbnail does not load: {width}"),
        }
    }
    client
        .execute(
            "document.getElementById('context').scrollIntoView();",
            vec![],
        )
        .await
        .expect("scrolled to the context");
    screenshots(&client, "support-05-context").await;
    fill(&client, "#note", NOTE).await;
    click(&client, "form[action$='/note'] button").await;
    arrive(&client, &format!("/admin/tickets/{ticket_id}?done=note")).await;
    fill(&client, "#reply", REPLY).await;
    click(&client, "form[action$='/reply'] button").await;
    arrive(&client, &format!("/admin/tickets/{ticket_id}?done=reply")).await;
    screenshots(&client, "support-06-answered").await;

    // The emails go out: staff heard of the ticket, Dora gets a link to the answer.
    let mut smtp = SmtpServer::start().await;
    let worker = mail_worker(&app.state, Arc::new(app.clock.clone()), &smtp.url());
    worker.run_until_idle(100).await.expect("jobs run");
    let mut to_dora = None;
    for _ in 0..2 {
        let mail = smtp.next_mail().await;
        if mail.rcpt_to == ["dora@example.com"] {
            to_dora = Some(super::email::text_of(&mail.data).1);
        }
    }
    let mail = to_dora.expect("Dora is emailed");
    let link = format!("https://mailbox.example/support/{ticket_id}");
    assert!(mail.contains(&link), "{mail}");
    assert!(
        !mail.contains("new card") && !mail.contains("expired"),
        "{mail}"
    );

    // Staff mark it solved.
    click(&client, "#status option[value=solved]").await;
    click(&client, "form[action$='/settings'] button").await;
    arrive(
        &client,
        &format!("/admin/tickets/{ticket_id}?done=settings"),
    )
    .await;
    assert!(text(&client).await.contains("Solved"));
    log_out(&client).await;

    // Dora follows the email's link: the reply, never the note; the question is closed.
    log_in(&client, base, "dora@example.com", CUSTOMER_PASSWORD).await;
    client
        .goto(&format!(
            "{base}{}",
            link.trim_start_matches("https://mailbox.example")
        ))
        .await
        .expect("the email's link");
    let page = text(&client).await;
    assert!(page.contains(REPLY), "{page}");
    assert!(!page.contains("Stripe says"), "never the note: {page}");
    assert!(page.contains("Closed"), "{page}");
    screenshots(&client, "support-07-read").await;
    client
        .goto(&format!("{base}/support"))
        .await
        .expect("the list");
    let list = text(&client).await;
    assert!(
        list.contains("Payment failed for Mailbox SB-HELP-1") && list.contains("Closed"),
        "{list}"
    );
    screenshots(&client, "support-08-list").await;

    client.close().await.expect("the browser closes");
}
