//! The portal's second pass in headless Chromium (when `SMARTBOX_TEST_CHROMEDRIVER` names a
//! chromedriver), on every backend: every page of an account with a mailbox in every state,
//! at 375 px and 1280 px wide — no sideways scroll, tap targets at least 44 px high on a phone,
//! the words a person reads free of internal names, screenshots of each page kept in
//! `target/screenshots/second-pass/`.

use std::path::PathBuf;

use fantoccini::{Client, Locator};
use serde_json::json;
use smartbox_server::Clock;

use super::browser::{CHROMEDRIVER_VAR, arrive, browser, click, fill, shoot, wait_for};
use super::every_state::{self, PASSWORD, raw_words};
use crate::helpers::spawn_apps;

fn screenshot_dir() -> PathBuf {
    super::browser::screenshot_dir().join("second-pass")
}

/// What a person would trip on at this width: sideways scroll, small tap targets (on a phone).
const MEASURE: &str = r#"
const out = [];
const root = document.scrollingElement;
if (root.scrollWidth > root.clientWidth) {
  const wide = Array.from(document.querySelectorAll('main *, header *'))
    .filter(e => e.getBoundingClientRect().right > root.clientWidth + 1)
    .slice(0, 3).map(e => e.tagName + '.' + e.className);
  out.push('scrolls sideways: ' + root.scrollWidth + ' > ' + root.clientWidth + ' (' + wide.join(', ') + ')');
}
if (arguments[0]) {
  for (const field of document.querySelectorAll('button, a.button, input:not([type=hidden]), select, header nav a, summary')) {
    // A checkbox or radio button is tapped through its row with its label.
    const e = field.matches('[type=checkbox], [type=radio]') ? (field.closest('.check, .plan') || field) : field;
    const r = e.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (getComputedStyle(e).visibility === 'hidden') continue;
    if (r.height < 43.5) out.push('small tap target (' + Math.round(r.height) + ' px): ' + e.tagName + ' ' + (e.textContent || e.name || '').trim().slice(0, 30));
  }
}
return out;
"#;

async fn check_page(client: &Client, name: &str) -> Vec<String> {
    let dir = screenshot_dir();
    let mut problems = Vec::new();
    for width in [375_u32, 1280] {
        shoot(client, &dir, name, width).await;
        let found = client
            .execute(MEASURE, vec![json!(width == 375)])
            .await
            .expect("layout measured");
        for problem in found.as_array().into_iter().flatten() {
            problems.push(format!(
                "{name} at {width} px: {}",
                problem.as_str().unwrap_or("")
            ));
        }
    }
    let text = client
        .find(Locator::Css("body"))
        .await
        .expect("body")
        .text()
        .await
        .expect("text");
    if let Some(why) = raw_words(&text) {
        problems.push(format!("{name}: {why}"));
    }
    problems
}

/// The second pass's actions as a person takes them: a fresher check-in schedule with its
/// battery cost, a return started with a reason then canceled, a new password; each confirmed
/// on the page it lands on. Screenshots of each step.
async fn act(
    client: &Client,
    base: &str,
    backend: &str,
    seeded: &every_state::EveryState,
) -> Vec<String> {
    let mut problems = Vec::new();
    let device = seeded
        .pages
        .iter()
        .find(|p| p.starts_with("/devices/"))
        .expect("a mailbox page")
        .clone();
    client
        .goto(&format!("{base}{device}"))
        .await
        .expect("device page");
    client
        .find(Locator::Css("#checkin_interval_s"))
        .await
        .expect("the check-in choice")
        .select_by_value("3600")
        .await
        .expect("hourly chosen");
    click(client, "form.stack button[type=submit]").await;
    arrive(client, &format!("{device}?done=saved")).await;
    let notice = wait_for(client, "#notice")
        .await
        .text()
        .await
        .expect("text");
    assert_eq!(notice, "Your changes are saved.");
    problems.extend(check_page(client, &format!("{backend}-act-1-checkin")).await);

    client
        .find(Locator::Css("#reason"))
        .await
        .expect("the reasons")
        .select_by_value("Moving house")
        .await
        .expect("a reason chosen");
    client
        .execute("window.confirm = () => true;", vec![])
        .await
        .expect("confirmations accepted");
    click(client, "form[action$='/return'] button").await;
    arrive(client, &format!("{device}?done=return_started")).await;
    let title = wait_for(client, "#return-title")
        .await
        .text()
        .await
        .expect("text");
    assert!(title.starts_with("Return started: RMA-"), "{title}");
    let status = wait_for(client, "[data-status]")
        .await
        .text()
        .await
        .expect("text");
    assert!(status.starts_with("Return started"), "{status}");
    problems.extend(check_page(client, &format!("{backend}-act-2-return-started")).await);
    click(client, "a[href$='/return/slip']").await;
    arrive(client, &format!("{device}/return/slip")).await;
    problems.extend(check_page(client, &format!("{backend}-act-3-packing-slip")).await);
    client
        .goto(&format!("{base}{device}"))
        .await
        .expect("device page");
    client
        .execute("window.confirm = () => true;", vec![])
        .await
        .expect("confirmations accepted");
    click(client, "form[action$='/return/cancel'] button").await;
    arrive(client, &format!("{device}?done=return_canceled")).await;

    client
        .goto(&format!("{base}/account"))
        .await
        .expect("account page");
    fill(client, "#current_password", PASSWORD).await;
    fill(client, "#new_password", "password").await;
    click(client, "form[action='/account/password'] button").await;
    let error = wait_for(client, "#account-error")
        .await
        .text()
        .await
        .expect("text");
    assert!(error.contains("most common"), "{error}");
    problems.extend(check_page(client, &format!("{backend}-act-4-weak-password")).await);
    fill(client, "#current_password", PASSWORD).await;
    fill(client, "#new_password", "a brand new passphrase").await;
    click(client, "form[action='/account/password'] button").await;
    arrive(client, "/account?done=password").await;
    problems.extend(check_page(client, &format!("{backend}-act-5-password-changed")).await);
    problems.extend(act_on_the_rest(client, base, backend, seeded).await);
    problems
}

/// The rest of the second pass: the card shown once as the provider describes it, then removed;
/// a delivery deleted from its page; a city chosen as the time zone; a new email asked for.
async fn act_on_the_rest(
    client: &Client,
    base: &str,
    backend: &str,
    seeded: &every_state::EveryState,
) -> Vec<String> {
    let mut problems = Vec::new();
    let accept_confirmations = || async {
        client
            .execute("window.confirm = () => true;", vec![])
            .await
            .expect("confirmations accepted");
    };
    client
        .goto(&format!("{base}/billing"))
        .await
        .expect("billing page");
    let card = wait_for(client, "#card-on-file")
        .await
        .text()
        .await
        .expect("text");
    assert_eq!(card, "Visa ending 4242, expires 12/30");
    problems.extend(check_page(client, &format!("{backend}-act-6-card-on-file")).await);
    accept_confirmations().await;
    click(
        client,
        "form[action='/billing/payment-method/remove'] button",
    )
    .await;
    arrive(client, "/billing?done=card_removed").await;
    problems.extend(check_page(client, &format!("{backend}-act-7-card-removed")).await);

    let delivery = seeded
        .pages
        .iter()
        .find(|p| p.starts_with("/gallery/"))
        .expect("a delivery page")
        .clone();
    client
        .goto(&format!("{base}{delivery}"))
        .await
        .expect("delivery page");
    accept_confirmations().await;
    click(client, "form[action$='/delete'] button").await;
    arrive(client, "/gallery?done=event_deleted").await;
    problems.extend(check_page(client, &format!("{backend}-act-8-delivery-deleted")).await);

    client
        .goto(&format!("{base}/settings"))
        .await
        .expect("settings page");
    client
        .find(Locator::Css("#time_zone"))
        .await
        .expect("the time zone choice")
        .select_by_value("America/New_York")
        .await
        .expect("New York chosen");
    click(client, "#save-settings").await;
    arrive(client, "/settings?saved=1").await;
    let chosen = client
        .execute(
            "return document.getElementById('time_zone').selectedOptions[0].textContent;",
            vec![],
        )
        .await
        .expect("the choice read");
    assert_eq!(chosen, json!("New York"));
    problems.extend(check_page(client, &format!("{backend}-act-9-time-zone")).await);

    client
        .goto(&format!("{base}/account"))
        .await
        .expect("account page");
    fill(client, "#new_email", "crawl-moved@example.com").await;
    fill(client, "#email_password", "a brand new passphrase").await;
    click(client, "form[action='/account/email'] button").await;
    arrive(client, "/account?done=email_link").await;
    problems.extend(check_page(client, &format!("{backend}-act-10-email-link-sent")).await);
    problems
}

/// `03-billing-plan` for `/billing/plan?...`: the index and the path's words (ids left out,
/// so a run's screenshots replace the last run's).
fn page_name(index: usize, path: &str) -> String {
    let words: Vec<&str> = path
        .split(['?', '&'])
        .next()
        .unwrap_or("")
        .split('/')
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .collect();
    format!("{index:02}-{}", words.join("-"))
}

#[tokio::test]
async fn every_page_in_every_state_fits_a_phone_in_chromium() {
    let Some(driver) = std::env::var(CHROMEDRIVER_VAR)
        .ok()
        .filter(|v| !v.is_empty())
    else {
        eprintln!("{CHROMEDRIVER_VAR} is not set: the second-pass browser crawl is skipped");
        return;
    };
    let _ = std::fs::remove_dir_all(screenshot_dir());
    for app in spawn_apps().await {
        let now = app.clock.now_ms();
        let seeded = every_state::seed(&app.state, "crawl@example.com", now - 3 * 3_600_000).await;
        let profile = tempfile::tempdir().expect("a fresh Chromium profile");
        let client = browser(&driver, profile.path()).await;
        let base = &app.base_url;
        client
            .goto(&format!("{base}/login"))
            .await
            .expect("login page");
        fill(&client, "#email", &seeded.email).await;
        fill(&client, "#password", PASSWORD).await;
        click(&client, "main button[type=submit]").await;
        arrive(&client, "/dashboard").await;
        let mut problems = Vec::new();
        for (i, page) in seeded.pages.iter().enumerate() {
            client.goto(&format!("{base}{page}")).await.expect("a page");
            let name = format!("{}-{}", app.backend, page_name(i, page));
            problems.extend(check_page(&client, &name).await);
        }
        problems.extend(act(&client, base, app.backend, &seeded).await);
        client.close().await.expect("the browser closes");
        problems.dedup();
        assert!(
            problems.is_empty(),
            "{}: what a person would trip on:\n{}",
            app.backend,
            problems.join("\n")
        );
    }
}
