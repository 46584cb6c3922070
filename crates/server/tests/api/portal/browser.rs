//! The customer's story in headless Chromium, when `SMARTBOX_TEST_CHROMEDRIVER` names a running
//! chromedriver (e.g. `http://127.0.0.1:9515`): sign up through the QR claim link -> trial -> add
//! the sandbox card -> a mailbox delivers mail through the signed device API -> the dashboard
//! shows it without a reload -> the gallery shows its 3 photos -> the trial ends and the card
//! pays -> upgrade to Premium with the prorated price shown first, then its invoice -> a wrong
//! claim code shows its error. Screenshots at 375 and 1280 px wide go
//! to `target/screenshots/`.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use smartbox_server::{Clock, provisioning};
use smartbox_store::testing;

use crate::helpers::{TestApp, TestDevice, spawn_app, vitals_body};

/// The variable naming the chromedriver.
pub const CHROMEDRIVER_VAR: &str = "SMARTBOX_TEST_CHROMEDRIVER";

pub(super) fn screenshot_dir() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("screenshots")
}

pub(crate) async fn browser(driver: &str, profile: &std::path::Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver)
        .await
        .unwrap_or_else(|err| panic!("{CHROMEDRIVER_VAR}={driver}: cannot start Chromium: {err}"))
}

/// Resizes the window to `width` px and saves the page as `<dir>/<name>-<width>.png`.
pub(super) async fn shoot(client: &Client, dir: &std::path::Path, name: &str, width: u32) {
    std::fs::create_dir_all(dir).expect("the screenshot folder");
    client
        .set_window_size(width, 900)
        .await
        .expect("window resized");
    let png = client.screenshot().await.expect("a screenshot");
    std::fs::write(dir.join(format!("{name}-{width}.png")), png).expect("screenshot saved");
}

/// Saves the page at 375 and 1280 px wide as `<name>-375.png` and `<name>-1280.png`.
pub(crate) async fn screenshots(client: &Client, name: &str) {
    let dir = screenshot_dir();
    for width in [375_u32, 1280] {
        shoot(client, &dir, name, width).await;
        let overflow = client
            .execute(
                "return document.documentElement.scrollWidth > window.innerWidth + 1;",
                vec![],
            )
            .await
            .expect("layout measured");
        assert_eq!(
            overflow,
            json!(false),
            "{name} scrolls sideways at {width} px"
        );
    }
    client
        .set_window_size(1280, 900)
        .await
        .expect("window resized");
}

pub(crate) async fn fill(client: &Client, css: &str, text: &str) {
    let field = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("{css}: {err}"));
    field.clear().await.expect("cleared");
    field.send_keys(text).await.expect("typed");
}

pub(crate) async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("{css}: {err}"))
        .click()
        .await
        .expect("clicked");
}

pub(crate) async fn wait_for(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("waiting for {css}: {err}"))
}

/// Waits until an element matching `css` says `needle`. A live page may replace the element
/// between finding it and reading it (the dashboard re-renders its cards on each news), so a
/// stale element is found again rather than failing the story.
pub(crate) async fn wait_for_text(client: &Client, css: &str, needle: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut last = String::new();
    loop {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if text.contains(needle) {
                return;
            }
            last = text;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("{css} does not say {needle:?} after 15 s (last: {last:?})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the browser has navigated to a page whose path starts with `prefix` and returns
/// that path: a click on a submit button returns before the form's navigation commits.
pub(crate) async fn arrive(client: &Client, prefix: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let current = path(client).await;
        if current.starts_with(prefix) {
            return current;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("still on {current} after 15 s, expected {prefix}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn path(client: &Client) -> String {
    let url = client.current_url().await.expect("a URL");
    format!(
        "{}{}",
        url.path(),
        url.query().map(|q| format!("?{q}")).unwrap_or_default()
    )
}

/// A decodable photo of a letter in a mailbox (a grey gradient with a light rectangle).
fn photo(seed: u8) -> Vec<u8> {
    let (w, h) = (320_u16, 240_u16);
    let mut pixels = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
    for y in 0..h {
        for x in 0..w {
            let letter = (80..240).contains(&x) && (70..170).contains(&y);
            let base = if letter {
                235
            } else {
                (40 + (x + y) / 6) as u8
            };
            pixels.extend_from_slice(&[base, base.saturating_add(seed * 10), base]);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
        .expect("a JPEG");
    out
}

/// A factory mailbox: the device for signed requests and its claim code.
async fn factory_device(app: &TestApp, serial: &str) -> (TestDevice, String) {
    let serials =
        provisioning::read_serials(format!("serial\n{serial}\n").as_bytes()).expect("serial");
    let records = provisioning::import_devices(
        &app.state.db,
        &app.state.master_key,
        &serials,
        app.clock.now_ms(),
    )
    .await
    .expect("imported");
    let mut secret = [0u8; 32];
    hex::decode_to_slice(&records[0].secret_hex, &mut secret).expect("hex secret");
    let device = app
        .state
        .db
        .device_by_serial(serial)
        .await
        .unwrap()
        .expect("device");
    let code = records[0].claim_code.clone();
    (
        TestDevice {
            serial: serial.to_owned(),
            secret,
            device_id: device.id,
        },
        code,
    )
}

#[tokio::test]
async fn the_customer_story_in_chromium() {
    let Some(driver) = std::env::var(CHROMEDRIVER_VAR)
        .ok()
        .filter(|v| !v.is_empty())
    else {
        eprintln!("{CHROMEDRIVER_VAR} is not set: the browser story is skipped");
        return;
    };
    let blob_dir = tempfile::tempdir().expect("blob folder");
    let blobs = smartbox_server::blobs::open(&format!("file://{}", blob_dir.path().display()))
        .expect("blobs");
    let app = spawn_app(testing::sqlite().await, blobs, Some(blob_dir)).await;
    let (mailbox, code) = factory_device(&app, "SB-STORY-1").await;
    let (_, _) = factory_device(&app, "SB-STORY-2").await;
    let profile = tempfile::tempdir().expect("a fresh Chromium profile");
    let client = browser(&driver, profile.path()).await;
    let base = &app.base_url;

    // The QR link on the box.
    client
        .goto(&format!(
            "{base}/claim?serial={}&code={code}",
            mailbox.serial
        ))
        .await
        .expect("claim page");
    screenshots(&client, "01-claim").await;
    click(&client, "main button[type=submit]").await;
    assert_eq!(arrive(&client, "/signup").await, "/signup");
    fill(&client, "#email", "story@example.com").await;
    fill(&client, "#password", "correct horse battery").await;
    screenshots(&client, "02-signup").await;
    click(&client, "main button[type=submit]").await;
    assert_eq!(arrive(&client, "/claim/plan").await, "/claim/plan");
    screenshots(&client, "03-plan").await;
    click(&client, "label[for=plan-basic]").await;
    click(&client, "main button[type=submit]").await;
    assert_eq!(
        arrive(&client, "/billing/payment-method?welcome=1").await,
        "/billing/payment-method?welcome=1"
    );

    // The sandbox card.
    fill(&client, "#number", "4242 4242 4242 4242").await;
    fill(&client, "#exp_month", "12").await;
    fill(&client, "#exp_year", "2034").await;
    fill(&client, "#cvc", "123").await;
    screenshots(&client, "04-card").await;
    click(&client, "main button[type=submit]").await;
    assert_eq!(arrive(&client, "/dashboard").await, "/dashboard?done=card");
    wait_for(&client, ".mail.no").await;
    client
        .execute("window.storyMarker = 'no reload';", vec![])
        .await
        .expect("marker set");
    screenshots(&client, "05-dashboard-before").await;

    // The mailbox checks in and delivers mail with 3 photos through the signed device API.
    assert_eq!(
        app.heartbeat(&mailbox, &vitals_body("1.0.0"))
            .await
            .status(),
        200
    );
    let event = uuid::Uuid::new_v4().to_string();
    assert_eq!(app.post_event(&mailbox, &event, 3).await.status(), 201);
    for i in 0..3_u8 {
        assert_eq!(
            app.put_photo(&mailbox, &event, i, photo(i)).await.status(),
            201
        );
    }
    wait_for_text(&client, ".mail.yes", "You have mail").await;
    wait_for(&client, "img.photo").await;
    let marker = client
        .execute("return window.storyMarker;", vec![])
        .await
        .expect("marker read");
    assert_eq!(marker, json!("no reload"), "the dashboard updated in place");
    screenshots(&client, "06-dashboard-mail").await;

    // The gallery.
    client
        .goto(&format!("{base}/gallery"))
        .await
        .expect("gallery");
    let thumbs = client
        .find_all(Locator::Css("img.thumb"))
        .await
        .expect("thumbnails");
    assert_eq!(thumbs.len(), 3);
    // Thumbnails load after the page (and may be re-asked for while the thumbnail job runs).
    let mut loaded = json!(false);
    for _ in 0..50 {
        loaded = client
            .execute("return Array.from(document.images).filter(i => i.classList.contains('thumb')).every(i => i.complete && i.naturalWidth === 320);", vec![])
            .await
            .expect("images checked");
        if loaded == json!(true) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(loaded, json!(true), "the photos load");
    screenshots(&client, "07-gallery").await;

    // Billing: trial days left, and the card pays the first period when the trial ends.
    client
        .goto(&format!("{base}/billing"))
        .await
        .expect("billing");
    let body = client
        .find(Locator::Css("main"))
        .await
        .expect("main")
        .text()
        .await
        .expect("text");
    assert!(body.contains("7 days left in your free trial"), "{body}");
    screenshots(&client, "08-billing-trial").await;
    app.clock.advance_s(8 * 24 * 3600);
    app.state
        .billing()
        .run_billing_pass(app.state.clock.now(), None, "browser story")
        .await
        .expect("the billing pass runs");

    // Upgrade to Premium: the exact prorated amount before confirming, then its invoice.
    client
        .goto(&format!("{base}/billing"))
        .await
        .expect("billing");
    click(&client, "a[href*='plan=premium']").await;
    let proration = wait_for(&client, "#proration")
        .await
        .text()
        .await
        .expect("text");
    assert!(
        proration.starts_with("You pay $") && proration.contains("now for the rest of this period"),
        "{proration}"
    );
    let amount = client
        .find(Locator::Css("#proration .prorated"))
        .await
        .expect("amount")
        .text()
        .await
        .expect("text");
    screenshots(&client, "09-upgrade-preview").await;
    click(&client, "main button[type=submit]").await;
    arrive(&client, "/billing/invoices/").await;
    let invoice = client
        .find(Locator::Css("main"))
        .await
        .expect("main")
        .text()
        .await
        .expect("text");
    assert!(
        invoice.contains("Plan upgrade") && invoice.contains(&amount),
        "{invoice}"
    );
    screenshots(&client, "10-prorated-invoice").await;

    // A wrong claim code.
    client.goto(&format!("{base}/claim")).await.expect("claim");
    fill(&client, "#serial", "SB-STORY-2").await;
    fill(&client, "#code", "ZZZZ-ZZZZ").await;
    click(&client, "main button[type=submit]").await;
    let error = wait_for(&client, ".error")
        .await
        .text()
        .await
        .expect("text");
    assert!(error.contains("could not find a mailbox"), "{error}");
    screenshots(&client, "11-wrong-code").await;

    client.close().await.expect("the browser closes");
}
