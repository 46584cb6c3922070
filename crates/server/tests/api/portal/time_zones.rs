//! Issue 17, item 7: time zones are IANA cities with daylight saving (the tz database bundled
//! with the binary). Every time on a page is in the account's zone, including the dashboard's
//! "Updated" time; the gallery's days run from local midnight to local midnight; sign-up starts
//! in the browser's zone; an account saved with a fixed offset keeps it until it picks a city;
//! the OpenAPI document lists the zones the server takes.

use axum::http::StatusCode;
use serde_json::json;
use smartbox_server::time_zone::time_zones;

use crate::portal::helpers::{PortalApp, spawn_apps, spawn_sqlite};

/// 2026-03-08 06:30 UTC: 01:30 in New York, half an hour before its clocks go forward.
const SPRING_BEFORE: i64 = 1_772_951_400_000;
/// An hour later: 03:30 EDT (02:30 never happens that day).
const SPRING_AFTER: i64 = SPRING_BEFORE + 3_600_000;
/// 2026-03-09 03:30 UTC: 23:30 on 8 March in New York.
const SPRING_LATE: i64 = 1_773_027_000_000;
/// 2026-03-09 04:30 UTC: 00:30 on 9 March in New York.
const SPRING_NEXT_DAY: i64 = 1_773_030_600_000;
/// 2026-11-01 05:30 UTC: 01:30 EDT, the first of the two 01:30s.
const AUTUMN_FIRST: i64 = 1_793_511_000_000;
/// An hour later: 01:30 EST, the second.
const AUTUMN_SECOND: i64 = AUTUMN_FIRST + 3_600_000;

/// How the gallery heads a delivery of the household's mailbox at `local`.
fn heading(serial: &str, local: &str) -> String {
    format!("Mailbox {serial}, {local}</a>")
}

#[tokio::test]
async fn a_new_york_account_sees_new_york_time_across_both_clock_changes_of_2026() {
    for app in spawn_apps().await {
        let serial = format!("SB-NYC-{}", app.backend.to_uppercase());
        let email = format!("nyc-{}@example.com", app.backend);
        let mut h = app.household(&email, &serial).await;
        let set = h
            .browser
            .api(
                "PATCH",
                "/api/v1/settings",
                Some(json!({"time_zone": "America/New_York"})),
            )
            .await;
        assert_eq!(set.status, StatusCode::OK, "{}", set.body);
        for at in [
            SPRING_BEFORE,
            SPRING_AFTER,
            SPRING_LATE,
            SPRING_NEXT_DAY,
            AUTUMN_FIRST,
            AUTUMN_SECOND,
        ] {
            app.deliver(&h.device_id, &uuid::Uuid::new_v4().to_string(), 1, at)
                .await;
        }

        let gallery = h.browser.get("/gallery").await;
        assert_eq!(gallery.status, StatusCode::OK);
        for local in [
            "2026-03-08 01:30",
            "2026-03-08 03:30",
            "2026-03-08 23:30",
            "2026-03-09 00:30",
        ] {
            assert!(
                gallery.body.contains(&heading(&serial, local)),
                "{local} on {}: {}",
                app.backend,
                gallery.body
            );
        }
        assert!(
            !gallery.body.contains("2026-03-08 02:30"),
            "New York skipped 02:30 on 8 March"
        );
        assert_eq!(
            gallery
                .body
                .matches(&heading(&serial, "2026-11-01 01:30"))
                .count(),
            2,
            "01:30 happened twice on 1 November"
        );

        // 8 March in New York is 23 hours long: from 05:00 UTC to 04:00 UTC the next day.
        let day = h
            .browser
            .get("/gallery?from=2026-03-08&to=2026-03-08")
            .await;
        for local in ["2026-03-08 01:30", "2026-03-08 03:30", "2026-03-08 23:30"] {
            assert!(day.body.contains(&heading(&serial, local)), "{local}");
        }
        assert!(!day.body.contains(&heading(&serial, "2026-03-09 00:30")));
        assert!(!day.body.contains("2026-11-01"));

        // The dashboard's "Updated" time is the account's, not the server's or the browser's.
        for (now, shown) in [
            (AUTUMN_FIRST, "01:30"),
            (AUTUMN_SECOND, "01:30"),
            (AUTUMN_SECOND + 3_600_000, "02:30"),
        ] {
            app.clock.set_ms(now);
            // Months later the session has expired: a fresh sign-in.
            let mut browser = app.browser();
            browser.log_in(&email, "correct horse battery").await;
            let dashboard = browser.get("/dashboard").await;
            assert!(
                dashboard
                    .body
                    .contains(&format!("data-updated=\"{shown}\"")),
                "{shown}: {}",
                dashboard.body
            );
        }
        let mut browser = app.browser();
        browser.log_in(&email, "correct horse battery").await;
        let account = browser.get("/account").await;
        assert!(
            account.body.contains("times shown in New York"),
            "{}",
            account.body
        );
    }
}

/// The stored zone of the user `id`.
async fn zone_of(app: &PortalApp, id: &str) -> String {
    app.state
        .db
        .user_by_id(id)
        .await
        .unwrap()
        .unwrap()
        .time_zone
}

#[tokio::test]
async fn an_account_saved_with_a_fixed_offset_keeps_it_until_it_picks_a_city() {
    let app = spawn_sqlite().await;
    let mut h = app.household("offset@example.com", "SB-OFFSET").await;
    app.state
        .db
        .set_user_preferences(&h.user_id, "UTC+02:00", (None, None))
        .await
        .unwrap();
    // The household's delivery came at 2026-05-20 10:01 UTC.
    assert!(
        h.browser
            .get("/gallery")
            .await
            .body
            .contains("2026-05-20 12:01")
    );
    let settings = h.browser.get("/settings").await;
    assert!(
        settings.body.contains(
            "<option value=\"UTC+02:00\" selected>UTC+02:00 (fixed, no daylight saving)</option>"
        ),
        "{}",
        settings.body
    );
    let saved = h
        .browser
        .submit("/settings", "/settings", &[("time_zone", "UTC+02:00")])
        .await;
    assert_eq!(saved.location(), "/settings?saved=1", "{}", saved.body);
    assert_eq!(zone_of(&app, &h.user_id).await, "UTC+02:00");

    let same = h
        .browser
        .api(
            "PATCH",
            "/api/v1/settings",
            Some(json!({"time_zone": "UTC+02:00"})),
        )
        .await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.body);
    for refused in ["UTC+03:00", "Mars/Olympus", "america/new_york", ""] {
        let answer = h
            .browser
            .api(
                "PATCH",
                "/api/v1/settings",
                Some(json!({"time_zone": refused})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{refused}");
        let body = answer.json();
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{body}"
        );
    }
    let refused = h
        .browser
        .submit("/settings", "/settings", &[("time_zone", "Mars/Olympus")])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("not one of the time zones offered"));
    assert_eq!(zone_of(&app, &h.user_id).await, "UTC+02:00");

    let city = h
        .browser
        .api(
            "PATCH",
            "/api/v1/settings",
            Some(json!({"time_zone": "Asia/Tokyo"})),
        )
        .await;
    assert_eq!(city.status, StatusCode::OK, "{}", city.body);
    assert!(
        h.browser
            .get("/gallery")
            .await
            .body
            .contains("2026-05-20 19:01")
    );
    let settings = h.browser.get("/settings").await.body.replace("&#x2f;", "/");
    assert!(!settings.contains("fixed, no daylight saving"));
    assert!(settings.contains("<option value=\"Asia/Tokyo\" selected>Tokyo</option>"));
}

#[tokio::test]
async fn sign_up_starts_in_the_browsers_zone_when_it_is_one_offered() {
    let app = spawn_sqlite().await;
    let script = app.browser().get("/static/time-zone.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script.body.contains("resolvedOptions().timeZone"));
    for (email, browser_zone, stored) in [
        (
            "ny@example.com",
            Some("America/New_York"),
            "America/New_York",
        ),
        ("mars@example.com", Some("Mars/Olympus"), "UTC"),
        ("nojs@example.com", None, "UTC"),
    ] {
        let mut browser = app.browser();
        let page = browser.get("/signup").await;
        assert!(page.body.contains("src=\"/static/time-zone.js\""));
        assert!(page.body.contains("name=\"browser_time_zone\" value=\"\""));
        let csrf = page.csrf();
        let mut fields = vec![
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", "correct horse battery"),
        ];
        fields.extend(browser_zone.map(|zone| ("browser_time_zone", zone)));
        let created = browser.post_form("/signup", &fields).await;
        assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
        let user = app.state.db.user_by_email(email).await.unwrap().unwrap();
        assert_eq!(user.time_zone, stored, "{email}");
        let settings = browser.get("/settings").await;
        assert!(settings.body.contains("<optgroup label=\"Americas\">"));
        assert_eq!(
            settings.body.contains("data-browser-default"),
            stored == "UTC",
            "settings offer the browser's zone only while the account has the default"
        );
    }
}

#[test]
fn the_document_lists_the_zones_a_change_may_choose() {
    let document = serde_json::to_value(smartbox_server::openapi::document()).expect("json");
    let schemas = &document["components"]["schemas"];
    assert_eq!(schemas["TimeZone"]["enum"], json!(time_zones()));
    let field = &schemas["SettingsUpdate"]["properties"]["time_zone"];
    assert!(
        field.to_string().contains("#/components/schemas/TimeZone"),
        "{field}"
    );
}
