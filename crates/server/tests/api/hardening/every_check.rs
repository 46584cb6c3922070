//! Issue 15: schemathesis with every check on (`ST_CHECKS=all .ci/schemathesis.py`) found the
//! routes of the last session refusing what the document called valid, or answering a method it
//! does not list with 422. Each case here is one of its findings, sent to the handler as it was
//! sent, with the schema the document now gives.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::portal::helpers::spawn_sqlite;

fn schemas() -> Value {
    let document = serde_json::to_value(smartbox_server::openapi::document()).expect("json");
    document["components"]["schemas"].clone()
}

#[tokio::test]
async fn quiet_hours_are_two_digit_clock_times_in_the_document_and_in_the_handler() {
    let schemas = schemas();
    for side in ["start", "end"] {
        assert_eq!(
            schemas["QuietHours"]["properties"][side]["pattern"],
            "^([01][0-9]|2[0-3]):[0-5][0-9]$"
        );
    }
    let app = spawn_sqlite().await;
    let mut ann = app.customer("quiet@example.com").await;
    // `{"start": "", "end": ""}` was valid by the document and refused; "7:00" and " 07:00"
    // were refused by the document and taken.
    for refused in ["", "7:00", " 07:00", "07:00 ", "24:00", "07:60", "+7:00"] {
        let answer = ann
            .api(
                "PATCH",
                "/api/v1/settings",
                Some(json!({"quiet_hours": {"start": refused, "end": "07:00"}})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{refused:?}");
        assert_eq!(answer.json()["error"], "invalid_settings");
    }
    let taken = ann
        .api(
            "PATCH",
            "/api/v1/settings",
            Some(json!({"quiet_hours": {"start": "23:59", "end": "00:00"}})),
        )
        .await;
    assert_eq!(taken.status, StatusCode::OK, "{}", taken.body);
    assert_eq!(
        taken.json()["quiet_hours"],
        json!({"start": "23:59", "end": "00:00"})
    );
}

#[tokio::test]
async fn a_ticket_text_is_judged_as_sent_as_the_document_judges_it() {
    let schemas = schemas();
    let open = &schemas["OpenTicketRequest"]["properties"];
    for (field, max) in [("subject", 120), ("message", 5000)] {
        assert_eq!(open[field]["maxLength"], max);
        let pattern = open[field]["pattern"].as_str().expect("a pattern");
        assert!(
            pattern.contains("\\u000E-\\u001F\\u007F-\\u009F"),
            "{pattern}"
        );
        assert!(pattern.contains("[^\\s"), "not only spaces: {pattern}");
    }
    assert_eq!(
        schemas["ReplyRequest"]["properties"]["body"]["pattern"],
        open["message"]["pattern"]
    );

    let app = spawn_sqlite().await;
    let mut ann = app.customer("tickets@example.com").await;
    let ticket =
        |subject: String| json!({"subject": subject, "message": "Hello", "category": "billing"});
    // A subject of one C1 control character (schemathesis's `"\u0080"`), a NEL the trim would
    // have cut, and a subject whose trailing spaces take it past 120 characters.
    for refused in [
        "\u{80}".to_owned(),
        "Help\u{85}".to_owned(),
        format!("Help{}", " ".repeat(117)),
        " \t ".to_owned(),
    ] {
        let answer = ann
            .api("POST", "/api/v1/tickets", Some(ticket(refused.clone())))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{refused:?}");
        assert_eq!(answer.json()["error"], "invalid_ticket_text");
    }
    let taken = ann
        .api(
            "POST",
            "/api/v1/tickets",
            Some(ticket(format!("Help{}", " ".repeat(116)))),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.body);
    assert_eq!(taken.json()["subject"], "Help", "kept trimmed");
}

#[tokio::test]
async fn wifi_webhook_and_push_bodies_carry_the_handlers_limits_in_the_document() {
    let schemas = schemas();
    let wifi = &schemas["WifiRequest"]["properties"];
    assert_eq!(wifi["ssid"]["minLength"], 1);
    assert_eq!(wifi["ssid"]["maxLength"], 32);
    assert_eq!(wifi["passphrase"]["minLength"], 8);
    assert_eq!(wifi["passphrase"]["maxLength"], 63);
    for (schema, field) in [
        ("WebhookRequest", "url"),
        ("PushSubscriptionRequest", "endpoint"),
    ] {
        let property = &schemas[schema]["properties"][field];
        assert_eq!(property["maxLength"], 2000, "{schema}");
        assert_eq!(property["pattern"], "^https?://[^\\s]+$", "{schema}");
    }
    for key in ["p256dh", "auth"] {
        assert_eq!(schemas["PushKeys"]["properties"][key]["minLength"], 1);
    }

    let app = spawn_sqlite().await;
    let mut household = app.household("wifi@example.com", "SB-EVC-0001").await;
    let path = format!("/api/v1/devices/{}/wifi", household.device_id);
    let browser = &mut household.browser;
    let empty = browser
        .api(
            "PUT",
            &path,
            Some(json!({"ssid": "", "passphrase": "long enough"})),
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST, "{}", empty.body);
    let saved = browser
        .api(
            "PUT",
            &path,
            Some(json!({"ssid": "x".repeat(32), "passphrase": "~".repeat(63)})),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
}

#[tokio::test]
async fn a_return_takes_a_null_body_and_trace_is_405_whatever_its_body() {
    let app = spawn_sqlite().await;
    let mut household = app.household("null@example.com", "SB-EVC-0002").await;
    let path = format!("/api/v1/devices/{}/return", household.device_id);
    let browser = &mut household.browser;

    // TRACE with a JSON body was read as a body (422) before the router refused the method.
    for body in [Value::Null, json!([1]), json!({"reason": "x"})] {
        let trace = browser.api("TRACE", &path, Some(body.clone())).await;
        assert_eq!(trace.status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
        assert!(trace.headers.contains_key("allow"), "{body}");
    }
    // The document says the body is optional and may be `null`.
    let started = browser.api("POST", &path, Some(Value::Null)).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    assert_eq!(started.json()["reason"], "Other");
    // Still no arrays for objects.
    let array = browser.api("POST", &path, Some(json!([null]))).await;
    assert_eq!(
        array.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        array.body
    );
    let reason = &schemas()["OptionalReason"]["properties"]["reason"];
    assert_eq!(reason["maxLength"], 500);
    assert_eq!(reason["minLength"], 1);
}
