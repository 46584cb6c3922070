//! Issue 17's stories without a browser, on both backends: the schedule-aware status line and
//! the check-in interval a mailbox hears in its next heartbeat, "You have mail" until the mail
//! is collected, confirmations after actions, the branded 404, and `/account` (password change
//! with the current one, common passwords refused, signing out the other sessions, the export).

use smartbox_protocol::{EVENTS_PATH, HEARTBEAT_PATH};

use super::every_state::visible_text;
use super::helpers::{Household, START_MS, spawn_apps};

const VITALS: &str = r#"{"battery_percent":80,"power_state":"uploading","signal_dbm":-85,"network":"cellular","firmware_version":"1.0.0","modem_tx_bytes":0,"modem_rx_bytes":0,"sd_queue_len":0}"#;

async fn heartbeat(h: &mut Household, clock_ms: i64) -> serde_json::Value {
    let answer = h
        .device_request(
            "POST",
            HEARTBEAT_PATH,
            "application/json",
            VITALS.as_bytes().to_vec(),
            clock_ms / 1000,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

/// The text of the mailbox's status line on the dashboard.
async fn status_line(h: &mut Household) -> String {
    let page = h.browser.get("/dashboard").await;
    let marker = "data-status>";
    let start = page.body.find(marker).expect("a status line") + marker.len();
    page.body[start..]
        .split('<')
        .next()
        .unwrap_or("")
        .replace("&#x2f;", "/")
}

#[tokio::test]
async fn the_status_line_knows_the_schedule_and_the_interval_reaches_the_mailbox() {
    for app in spawn_apps().await {
        let mut h = app.household("sched@example.com", "SB-SCHED-01").await;
        let seen = START_MS + 3_600_000;
        app.clock.set_ms(seen);
        let config = heartbeat(&mut h, seen).await;
        assert_eq!(config["config"]["checkin_interval_s"], 21_600);
        app.clock.set_ms(seen + 3 * 60_000);
        assert_eq!(
            status_line(&mut h).await,
            "Asleep · last seen 3 min ago · next check-in 17:00 (every 6 h)",
            "{}: a mailbox that reported `uploading` sleeps between check-ins",
            app.backend
        );

        // The customer chooses hourly check-ins, seeing the battery cost first.
        let page = h.browser.get(&format!("/devices/{}", h.device_id)).await;
        let text = visible_text(&page.body);
        assert!(
            text.contains("Every hour: battery about 9 months")
                && text.contains("Every 6 h: battery about 28 months"),
            "{text}"
        );
        let saved = h
            .browser
            .submit(
                &format!("/devices/{}", h.device_id),
                &format!("/devices/{}", h.device_id),
                &[
                    ("name", "Front"),
                    ("location", ""),
                    ("checkin_interval_s", "3600"),
                ],
            )
            .await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        let confirmed = h.browser.get(saved.location()).await;
        assert!(confirmed.body.contains("Your changes are saved."));
        // Heard at the server's clock (11:03), the device's own 11:04 aside.
        let config = heartbeat(&mut h, seen + 4 * 60_000).await;
        assert_eq!(
            config["config"]["checkin_interval_s"], 3_600,
            "{}: the mailbox hears the new interval in its very next heartbeat",
            app.backend
        );
        let refused = h
            .browser
            .api(
                "PATCH",
                &format!("/api/v1/devices/{}", h.device_id),
                Some(serde_json::json!({ "checkin_interval_s": 61 })),
            )
            .await;
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert_eq!(refused.json()["error"], "invalid_checkin_interval");

        // The hourly check-in missed by more than the slack: overdue, in words.
        app.clock
            .set_ms(seen + 4 * 60_000 + 3_600_000 + 16 * 60_000);
        assert_eq!(
            status_line(&mut h).await,
            "Overdue since 12:03 · last seen 77 min ago"
        );
    }
}

#[tokio::test]
async fn you_have_mail_until_the_mailbox_reports_it_collected() {
    for app in spawn_apps().await {
        let mut h = app.household("collect@example.com", "SB-COLLECT-01").await;
        let now = START_MS + 2 * 3_600_000;
        app.clock.set_ms(now);
        assert!(
            h.browser
                .get("/dashboard")
                .await
                .body
                .contains("You have mail")
        );
        let body = serde_json::json!({
            "event_id": uuid::Uuid::new_v4().to_string(),
            "kind": "mail_removed",
            "occurred_at": now / 1000,
            "photo_count": 0,
        });
        let answer = h
            .device_request(
                "POST",
                EVENTS_PATH,
                "application/json",
                body.to_string().into_bytes(),
                now / 1000,
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        let dashboard = h.browser.get("/dashboard").await.body;
        assert!(
            !dashboard.contains("You have mail") && dashboard.contains("No mail waiting"),
            "{}: the collection clears the mail",
            app.backend
        );
    }
}

#[tokio::test]
async fn every_billing_action_is_confirmed_in_words() {
    for app in spawn_apps().await {
        let mut h = app.household("confirm@example.com", "SB-CONFIRM-01").await;
        let sub = h.subscription_id.clone();
        let canceled = h
            .browser
            .submit("/billing", "/billing/cancel", &[("subscription", &sub)])
            .await;
        assert_eq!(canceled.location(), "/billing?done=cancel_requested");
        let page = h.browser.get(canceled.location()).await.body;
        assert!(page.contains("Your subscription is canceled: it ends at the end of this period."));
        let resumed = h
            .browser
            .submit("/billing", "/billing/resume", &[("subscription", &sub)])
            .await;
        assert_eq!(resumed.location(), "/billing?done=resumed");
        let changed = h
            .browser
            .submit(
                &format!("/billing/plan?subscription={sub}&plan=plus"),
                "/billing/plan",
                &[("subscription", &sub), ("plan", "plus")],
            )
            .await;
        assert_eq!(
            changed.location(),
            "/billing?done=plan_changed",
            "{}",
            app.backend
        );
        let crafted = h.browser.get("/billing?done=%3Cb%3Ehacked").await.body;
        assert!(!crafted.contains("hacked"));
    }
}

#[tokio::test]
async fn an_unknown_address_gets_the_branded_404_page_and_the_api_a_json_404() {
    for app in spawn_apps().await {
        let mut browser = app.browser();
        let page = browser.get("/no/such/page").await;
        assert_eq!(page.status, 404);
        assert!(
            page.body.contains("Smart Mailbox")
                && page.body.contains("There is no page at this address"),
            "{}",
            page.body
        );
        let api = browser.get("/api/v1/no-such-thing").await;
        assert_eq!(api.status, 404);
        assert_eq!(api.json()["error"], "not_found");
    }
}

#[tokio::test]
async fn a_customer_changes_their_password_and_common_passwords_are_refused() {
    for app in spawn_apps().await {
        let mut h = app.household("pw@example.com", "SB-PW-01").await;
        let mut laptop = app.browser_from("192.0.2.9:40000");
        assert_eq!(
            laptop
                .log_in("pw@example.com", "correct horse battery")
                .await
                .status,
            303
        );

        let wrong = h
            .browser
            .submit(
                "/account",
                "/account/password",
                &[
                    ("current_password", "not it"),
                    ("new_password", "a new long passphrase"),
                ],
            )
            .await;
        assert_eq!(wrong.status, 400);
        assert!(wrong.body.contains("The current password is not right."));
        for weak in ["password", "Password123", "pw@example.com"] {
            let refused = h
                .browser
                .submit(
                    "/account",
                    "/account/password",
                    &[
                        ("current_password", "correct horse battery"),
                        ("new_password", weak),
                    ],
                )
                .await;
            assert_eq!(refused.status, 400, "{weak} on {}", app.backend);
        }
        let changed = h
            .browser
            .submit(
                "/account",
                "/account/password",
                &[
                    ("current_password", "correct horse battery"),
                    ("new_password", "a new long passphrase"),
                ],
            )
            .await;
        assert_eq!(changed.location(), "/account?done=password");
        assert!(
            h.browser.get("/account").await.status == 200,
            "this browser stays in"
        );
        assert_eq!(
            laptop.get("/account").await.status,
            303,
            "{}: the other session is signed out",
            app.backend
        );
        let mut fresh = app.browser();
        assert_eq!(
            fresh
                .log_in("pw@example.com", "a new long passphrase")
                .await
                .status,
            303
        );

        let mut weak_signup = app.browser();
        let refused = weak_signup
            .submit(
                "/signup",
                "/signup",
                &[("email", "weak@example.com"), ("password", "password")],
            )
            .await;
        assert_eq!(refused.status, 400, "sign-up refuses a common password too");
    }
}

#[tokio::test]
async fn signing_out_everywhere_else_keeps_this_browser_and_the_export_downloads() {
    for app in spawn_apps().await {
        let mut h = app.household("sess@example.com", "SB-SESS-01").await;
        let mut phone = app.browser_from("192.0.2.10:40000");
        assert_eq!(
            phone
                .log_in("sess@example.com", "correct horse battery")
                .await
                .status,
            303
        );
        let sessions = h.browser.api("GET", "/api/v1/account/sessions", None).await;
        assert_eq!(sessions.json().as_array().map(Vec::len), Some(2));
        let page = h.browser.get("/account").await;
        assert!(page.body.contains("Sign out everywhere else"));
        let out = h
            .browser
            .submit("/account", "/account/sessions/sign-out-others", &[])
            .await;
        assert_eq!(out.location(), "/account?done=signed_out");
        assert_eq!(phone.get("/dashboard").await.status, 303, "{}", app.backend);
        assert_eq!(h.browser.get("/dashboard").await.status, 200);

        let zip = h.browser.get("/account/export").await;
        assert_eq!(zip.status, 200);
        assert_eq!(
            zip.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/zip")
        );
        assert!(zip.bytes.starts_with(b"PK"), "a zip");
        let listing = String::from_utf8_lossy(&zip.bytes);
        assert!(listing.contains("account.json") && listing.contains("photos/"));
    }
}

#[tokio::test]
async fn an_event_page_links_the_newer_and_older_deliveries_and_downloads_its_photos() {
    for app in spawn_apps().await {
        let mut h = app.household("nav@example.com", "SB-NAV-01").await;
        let (middle, newest) = (
            uuid::Uuid::new_v4().to_string(),
            uuid::Uuid::new_v4().to_string(),
        );
        app.deliver(&h.device_id, &middle, 2, START_MS + 120_000)
            .await;
        app.deliver(&h.device_id, &newest, 1, START_MS + 180_000)
            .await;
        let page = h.browser.get(&format!("/gallery/{middle}")).await.body;
        assert!(
            page.contains(&format!("href=\"/gallery/{newest}\" rel=\"prev\""))
                && page.contains(&format!("href=\"/gallery/{}\" rel=\"next\"", h.event_id)),
            "{}: {page}",
            app.backend
        );
        assert!(
            page.contains("download=\"mail-2026-05-20-10-02-2.jpg\""),
            "{page}"
        );
        let oldest = h
            .browser
            .get(&format!("/gallery/{}", h.event_id))
            .await
            .body;
        assert!(!oldest.contains("Older delivery") && oldest.contains("Newer delivery"));
    }
}

#[tokio::test]
async fn the_sandbox_refuses_expired_cards_and_bad_security_codes_in_words() {
    for app in spawn_apps().await {
        let mut h = app.household("card@example.com", "SB-CARD-01").await;
        let page = "/billing/payment-method";
        for (number, month, year, cvc, words) in [
            (
                "4242424242424242",
                "4",
                "2026",
                "123",
                "the card has expired.",
            ),
            (
                "4242 4242 4242 4242",
                "12",
                "25",
                "123",
                "the card has expired.",
            ),
            (
                "4000000000000069",
                "12",
                "2034",
                "123",
                "the card has expired.",
            ),
            (
                "4000000000000127",
                "12",
                "2034",
                "123",
                "the security code (CVC) is wrong.",
            ),
            (
                "4000000000000002",
                "12",
                "2034",
                "123",
                "the bank declined the card.",
            ),
            (
                "4242424242424242",
                "12",
                "2034",
                "12",
                "security code is invalid.",
            ),
        ] {
            let refused = h
                .browser
                .submit(
                    page,
                    page,
                    &[
                        ("number", number),
                        ("exp_month", month),
                        ("exp_year", year),
                        ("cvc", cvc),
                    ],
                )
                .await;
            assert!(
                refused.status.is_client_error() && refused.body.contains(words),
                "{number} {month}/{year} {cvc} on {}: {} {}",
                app.backend,
                refused.status,
                visible_text(&refused.body)
            );
        }
        let saved = h
            .browser
            .submit(
                page,
                page,
                &[
                    ("number", "4242424242424242"),
                    ("exp_month", "5"),
                    ("exp_year", "2026"),
                    ("cvc", "123"),
                ],
            )
            .await;
        assert_eq!(
            saved.location(),
            "/billing?done=card",
            "this month still counts"
        );
    }
}
