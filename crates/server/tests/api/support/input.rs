//! Bad input: an empty or oversized message or subject, an unknown category, another
//! customer's mailbox are refused with a sentence (JSON error or the form again with what was
//! typed); HTML is kept and shown as text.

use axum::http::StatusCode;
use serde_json::json;

use super::open_ticket;
use crate::portal::helpers::spawn_apps;

#[tokio::test]
async fn empty_oversized_and_unknown_input_is_refused_with_a_message() {
    for app in spawn_apps().await {
        let backend = app.backend;
        let mut ann = app.customer("ann@example.com").await;
        let long = "x".repeat(5_001);
        for (body, code) in [
            (
                json!({ "subject": "Help", "message": "  ", "category": "billing" }),
                "invalid_ticket_text",
            ),
            (
                json!({ "subject": "Help", "message": long, "category": "billing" }),
                "invalid_ticket_text",
            ),
            (
                json!({ "subject": "", "message": "hi", "category": "billing" }),
                "invalid_ticket_text",
            ),
            (
                json!({ "subject": "Help", "message": "hi", "category": "weather" }),
                "invalid_category",
            ),
        ] {
            let answer = ann.api("POST", "/api/v1/tickets", Some(body.clone())).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{backend} {body}");
            let error = answer.json();
            assert_eq!(error["error"], code, "{error}");
            assert!(
                error["message"].as_str().is_some_and(|m| m.len() > 10),
                "{error}"
            );
        }
        let too_long = ann
            .api(
                "POST",
                "/api/v1/tickets",
                Some(json!({ "subject": "Help", "message": long, "category": "other" })),
            )
            .await
            .json();
        assert_eq!(
            too_long["message"], "The message may have at most 5000 characters (it has 5001).",
            "{too_long}"
        );
        let mut bob = app.customer("bob@example.com").await;
        let carls_box = app
            .household("carl@example.com", "SB-TICKET-IN")
            .await
            .device_id;
        let foreign = bob
            .api(
                "POST",
                "/api/v1/tickets",
                Some(json!({ "subject": "Help", "message": "hi", "category": "mailbox", "device_id": carls_box })),
            )
            .await;
        assert_eq!(
            foreign.status,
            StatusCode::NOT_FOUND,
            "another's mailbox: {}",
            foreign.body
        );
        assert!(
            ann.api("GET", "/api/v1/tickets", None)
                .await
                .json()
                .as_array()
                .is_some_and(Vec::is_empty)
        );

        // The page keeps what was typed and says what is wrong.
        let page = ann
            .submit(
                "/support/new",
                "/support/new",
                &[
                    ("subject", "Card <b>declined</b>"),
                    ("category", "billing"),
                    ("message", " "),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{backend}");
        assert!(page.body.contains("The message is empty."), "{}", page.body);
        assert!(
            page.body
                .contains("value=\"Card &lt;b&gt;declined&lt;&#x2f;b&gt;\""),
            "{}",
            page.body
        );

        // HTML is text on both sides.
        let id = open_ticket(&mut ann, "Script", "<script>alert(1)</script> <b>bold</b>").await;
        let thread = ann.get(&format!("/support/{id}")).await;
        assert!(
            thread.body.contains(
                "&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &lt;b&gt;bold&lt;&#x2f;b&gt;"
            ),
            "{backend}"
        );
        assert!(!thread.body.contains("<b>bold</b>"));
        let empty_reply = ann
            .submit(
                &format!("/support/{id}"),
                &format!("/support/{id}"),
                &[("message", "")],
            )
            .await;
        assert_eq!(empty_reply.status, StatusCode::BAD_REQUEST);
        assert!(
            empty_reply.body.contains("The message is empty."),
            "{}",
            empty_reply.body
        );
    }
}

#[tokio::test]
async fn every_contact_support_wording_links_to_a_prefilled_form() {
    let app = crate::portal::helpers::spawn_sqlite().await;
    let mut ann = app.customer("ann@example.com").await;
    let form = ann
        .get("/support/new?category=billing&subject=Payment%20failed&message=My%20card%20was%20declined")
        .await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body.contains("value=\"Payment failed\""),
        "{}",
        form.body
    );
    assert!(
        form.body.contains("<option value=\"billing\" selected>"),
        "{}",
        form.body
    );
    assert!(
        form.body.contains(">My card was declined</textarea>"),
        "{}",
        form.body
    );
    let missing = ann.get("/gallery/no-such-event").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing
            .body
            .contains("href=\"/support/new?category=other&amp;subject="),
        "{}",
        missing.body
    );
    let claimed = app.household("bob@example.com", "SB-TICKET-CLAIM").await;
    let answer = ann
        .submit(
            "/claim",
            "/claim",
            &[
                ("serial", "SB-TICKET-CLAIM"),
                ("code", &claimed.factory.claim_code),
            ],
        )
        .await;
    assert!(answer.body.contains("contact support"), "{}", answer.body);
    assert!(answer.body.contains("href=\"/support/new?category=mailbox&amp;subject=Activating%20mailbox%20SB-TICKET-CLAIM"), "{}", answer.body);
}
