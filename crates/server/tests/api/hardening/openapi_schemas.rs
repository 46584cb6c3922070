//! Issue 15, item 13: `/api/openapi.json` let through what the handlers refuse (names without a
//! length limit, `plan` as any string, a payment-method body with neither field), so a client
//! generated from it, or schemathesis, sent requests the server then refused. The document now
//! says what the handlers take: these tests read its schemas and send the edge cases.

use axum::http::StatusCode;
use serde_json::{Value, json};
use smartbox_domain::PlanId;
use smartbox_server::services::devices::MAX_TEXT;

use crate::portal::helpers::spawn_sqlite;

fn schemas() -> Value {
    let document = serde_json::to_value(smartbox_server::openapi::document()).expect("json");
    document["components"]["schemas"].clone()
}

#[test]
fn names_and_locations_are_limited_in_the_document_as_by_the_handler() {
    let schemas = schemas();
    for field in ["name", "location"] {
        let property = &schemas["DeviceUpdate"]["properties"][field];
        assert_eq!(
            property["maxLength"],
            json!(MAX_TEXT),
            "{field}: {property}"
        );
        let pattern = property["pattern"].as_str().expect("a pattern");
        assert!(pattern.contains("\\u0000-\\u001F"), "{pattern}");
    }
}

#[test]
fn the_plan_is_an_enum_of_the_plans_the_catalog_names() {
    let schemas = schemas();
    let names: Vec<&str> = PlanId::ALL.iter().map(|plan| plan.as_str()).collect();
    assert_eq!(schemas["Plan"]["enum"], json!(names));
    assert_eq!(
        schemas["ClaimRequest"]["properties"]["plan"]["$ref"],
        "#/components/schemas/Plan"
    );
    assert_eq!(
        schemas["PlanChoice"]["properties"]["plan"]["$ref"],
        "#/components/schemas/Plan"
    );
    let document = serde_json::to_value(smartbox_server::openapi::document()).expect("json");
    let query = document["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().into_iter().flat_map(|ops| ops.values()))
        .flat_map(|op| op["parameters"].as_array().cloned().unwrap_or_default())
        .find(|parameter| parameter["name"] == "plan" && parameter["in"] == "query")
        .expect("the preview's plan parameter");
    assert_eq!(
        query["schema"]["$ref"], "#/components/schemas/Plan",
        "{query}"
    );
}

#[test]
fn a_payment_method_body_is_one_of_a_setup_intent_and_a_card() {
    let schemas = schemas();
    let body = &schemas["PaymentMethodRequest"];
    let one_of = body["oneOf"].as_array().expect("oneOf");
    assert_eq!(one_of.len(), 2, "{body}");
    assert_eq!(one_of[0]["required"], json!(["setup_intent"]));
    assert_eq!(one_of[0]["properties"]["card"]["type"], "null");
    assert_eq!(one_of[1]["required"], json!(["card"]));
    assert_eq!(one_of[1]["properties"]["setup_intent"]["type"], "null");
    assert_eq!(
        one_of[1]["properties"]["card"]["$ref"],
        "#/components/schemas/TestCard"
    );
    assert!(schemas["TestCard"]["properties"]["number"].is_object());
}

#[tokio::test]
async fn the_handlers_refuse_what_the_document_refuses_and_take_what_it_takes() {
    let app = spawn_sqlite().await;
    let mut household = app.household("yann@example.com", "SB-OAS-0001").await;
    let path = format!("/api/v1/devices/{}", household.device_id);
    let browser = &mut household.browser;

    let longest = "n".repeat(MAX_TEXT);
    let taken = browser
        .api(
            "PATCH",
            &path,
            Some(json!({"name": longest, "location": "gate"})),
        )
        .await;
    assert_eq!(taken.status, StatusCode::OK, "{}", taken.body);
    for refused in [
        json!({"name": "n".repeat(MAX_TEXT + 1)}),
        json!({"location": "l".repeat(MAX_TEXT + 1)}),
        // Too long as sent, though not once trimmed: the document's maxLength judges it as sent.
        json!({"name": format!(" {} ", "n".repeat(MAX_TEXT - 1))}),
        json!({"name": "bell\u{7}"}),
        json!({"location": "a\u{85}b"}),
    ] {
        let answer = browser.api("PATCH", &path, Some(refused.clone())).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{refused}: {}",
            answer.body
        );
        assert!(answer.json()["error"].is_string());
    }

    // A struct written as an array: serde takes it, the document does not (schemathesis).
    for array in [json!([null, null]), json!(["n", "l"])] {
        let answer = browser.api("PATCH", &path, Some(array.clone())).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{array}: {}",
            answer.body
        );
        assert_eq!(answer.json()["error"], "invalid_body");
    }

    let gold = browser
        .api(
            "POST",
            "/api/v1/claims",
            Some(json!({"serial": "SB-OAS-0002", "code": "ABCD1234", "plan": "gold"})),
        )
        .await;
    assert!(gold.status.is_client_error(), "{}", gold.body);
    assert!(gold.json()["error"].is_string());

    for neither_or_both in [
        json!({}),
        json!({"setup_intent": null, "card": null}),
        json!({"setup_intent": "seti_1", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}),
    ] {
        let answer = browser
            .api(
                "POST",
                "/api/v1/payment-method",
                Some(neither_or_both.clone()),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{neither_or_both}: {}",
            answer.body
        );
    }
    let card = browser
        .api(
            "POST",
            "/api/v1/payment-method",
            Some(json!({"setup_intent": null, "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}})),
        )
        .await;
    assert_eq!(card.status, StatusCode::OK, "{}", card.body);
}

/// schemathesis with every check on (`positive_data_acceptance` too) sent requests the document
/// allowed and the handlers refused: the kinds, categories and check-in intervals are now the
/// domain's lists, a correction's category only on a delivery, a card's month 1 to 12.
#[test]
fn choices_the_handlers_check_are_lists_in_the_document() {
    use smartbox_domain::checkin::INTERVALS_S;
    use smartbox_domain::mail::{MailCategory, MailKind};

    let schemas = schemas();
    let mut intervals: Vec<Value> = INTERVALS_S.iter().map(|s| json!(s)).collect();
    intervals.push(Value::Null);
    assert_eq!(
        schemas["DeviceUpdate"]["properties"]["checkin_interval_s"]["enum"],
        Value::Array(intervals)
    );

    let correction = schemas["CorrectionRequest"]["oneOf"]
        .as_array()
        .expect("oneOf")
        .clone();
    assert_eq!(correction.len(), 2);
    assert_eq!(
        correction[0]["properties"]["kind"]["enum"],
        json!([MailKind::Delivery.as_str()])
    );
    let categories: Vec<&str> = MailCategory::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        correction[0]["properties"]["category"]["oneOf"][0]["enum"],
        json!(categories)
    );
    assert_eq!(
        correction[1]["properties"]["kind"]["enum"],
        json!([
            MailKind::Collection.as_str(),
            MailKind::FalseTrigger.as_str()
        ])
    );
    assert_eq!(correction[1]["properties"]["category"]["type"], "null");

    let month = &schemas["TestCard"]["properties"]["exp_month"];
    assert_eq!(
        (month["minimum"].clone(), month["maximum"].clone()),
        (json!(1), json!(12))
    );

    let document = serde_json::to_value(smartbox_server::openapi::document()).expect("json");
    let kind = document["paths"]["/api/v1/events"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "kind")
        .expect("a kind filter")
        .clone();
    let kinds: Vec<&str> = MailKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(kind["schema"]["enum"], json!(kinds), "{kind}");
}

#[tokio::test]
async fn a_card_month_out_of_range_is_refused_before_the_provider_and_floats_that_are_whole_are_taken()
 {
    let app = spawn_sqlite().await;
    let mut household = app.household("zoe@example.com", "SB-OAS-0003").await;
    let browser = &mut household.browser;

    for month in [0, 13] {
        let answer = browser
            .api(
                "POST",
                "/api/v1/payment-method",
                Some(json!({"card": {"number": "4242424242424242", "exp_month": month, "exp_year": 2030, "cvc": "123"}})),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{month}: {}",
            answer.body
        );
        assert!(answer.body.contains("expiration month"), "{}", answer.body);
    }
    let half = browser
        .api(
            "POST",
            "/api/v1/payment-method",
            Some(json!({"card": {"number": "4242424242424242", "exp_month": 1.5, "exp_year": 2030, "cvc": "123"}})),
        )
        .await;
    assert_eq!(
        half.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        half.body
    );
    let whole = browser
        .api(
            "POST",
            "/api/v1/payment-method",
            Some(json!({"card": {"number": "4242424242424242", "exp_month": 12.0, "exp_year": 2030.0, "cvc": "123"}})),
        )
        .await;
    assert_eq!(whole.status, StatusCode::OK, "{}", whole.body);

    let path = format!("/api/v1/devices/{}", household.device_id);
    let hourly = browser
        .api("PATCH", &path, Some(json!({"checkin_interval_s": 3600.0})))
        .await;
    assert_eq!(hourly.status, StatusCode::OK, "{}", hourly.body);
    assert_eq!(hourly.json()["checkin_interval_s"], 3600);
    let unchanged = browser
        .api("PATCH", &path, Some(json!({"checkin_interval_s": null})))
        .await;
    assert_eq!(unchanged.json()["checkin_interval_s"], 3600);
}
