//! Who sees which ticket, on both backends: a customer only their own tickets (another's is
//! 404 on every page and route) and never an internal note; support and admin see all, notes
//! and frozen context included; a customer gets 404 on the staff inbox; each staff action is
//! in the audit log.

use axum::http::StatusCode;
use serde_json::json;

use super::{bodies, open_ticket, staff_write};
use crate::admin::staff;
use crate::portal::helpers::spawn_apps;

const NOTE: &str = "Internal: card expired, Stripe says so";
const REPLY: &str = "Please add a new card on the Billing page.";

#[tokio::test]
async fn a_customer_sees_only_their_tickets_and_never_a_note_and_staff_see_all() {
    for app in spawn_apps().await {
        let backend = app.backend;
        let mut ann = app.customer("ann@example.com").await;
        let mut bob = app.customer("bob@example.com").await;
        let anns = open_ticket(&mut ann, "My payment failed", "The card was declined.").await;
        let bobs = open_ticket(&mut bob, "Photos are dark", "Every photo is black.").await;
        let mut support = staff(&app, "sam@smartbox.example", "support").await;
        let mut admin = staff(&app, "ada@smartbox.example", "admin").await;

        // Bob reaches nothing of Ann's ticket, as if it did not exist.
        let ticket = format!("/api/v1/tickets/{anns}");
        for (method, path, body) in [
            ("GET", ticket.clone(), None),
            ("GET", format!("{ticket}/messages"), None),
            (
                "POST",
                format!("{ticket}/messages"),
                Some(json!({ "body": "hi" })),
            ),
            ("POST", format!("{ticket}/close"), None),
            ("POST", format!("{ticket}/reopen"), None),
        ] {
            let answer = bob.api(method, &path, body).await;
            assert_eq!(
                answer.status,
                StatusCode::NOT_FOUND,
                "{backend} {method} {path}"
            );
            assert_eq!(answer.json()["error"], "not_found", "{}", answer.body);
        }
        assert_eq!(
            bob.get(&format!("/support/{anns}")).await.status,
            StatusCode::NOT_FOUND
        );
        let bobs_list = bob.api("GET", "/api/v1/tickets", None).await.json();
        let ids: Vec<&str> = bobs_list
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|t| t["id"].as_str())
            .collect();
        assert_eq!(ids, [bobs.as_str()], "{backend}");
        let page = bob.get("/support").await;
        assert!(!page.body.contains("My payment failed"), "{backend}");

        // Support notes and replies; Ann sees the reply and never the note, on the page either.
        staff_write(&mut support, &anns, NOTE, true).await;
        staff_write(&mut support, &anns, REPLY, false).await;
        let anns_view = bodies(&mut ann, &ticket).await;
        assert_eq!(anns_view, ["The card was declined.", REPLY], "{backend}");
        let messages = ann.api("GET", &format!("{ticket}/messages"), None).await;
        assert!(
            !messages.body.contains(NOTE),
            "{backend}: {}",
            messages.body
        );
        assert!(!messages.body.contains("internal"), "{}", messages.body);
        let page = ann.get(&format!("/support/{anns}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains(REPLY) && !page.body.contains("card expired"),
            "{backend}"
        );
        assert!(
            !page.body.contains("context"),
            "no frozen context for the customer"
        );

        // Support and admin see every ticket, the note and the context.
        for reader in [&mut support, &mut admin] {
            let inbox = reader.api("GET", "/api/admin/v1/tickets", None).await;
            assert_eq!(inbox.status, StatusCode::OK, "{}", inbox.body);
            assert_eq!(inbox.json().as_array().map(Vec::len), Some(2), "{backend}");
            let detail = reader
                .api("GET", &format!("/api/admin/v1/tickets/{anns}"), None)
                .await
                .json();
            let notes: Vec<bool> = detail["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .map(|m| m["internal"].as_bool().unwrap_or(false))
                .collect();
            assert_eq!(notes, [false, true, false], "{backend}");
            assert!(detail["context"]["taken_at"].is_i64(), "{detail}");
            let page = reader.get(&format!("/admin/tickets/{anns}")).await;
            assert_eq!(page.status, StatusCode::OK);
            assert!(page.body.contains("card expired"), "{backend}");
        }

        // A customer gets 404 on the staff side, a visitor is asked to log in.
        let staff_view = format!("/api/admin/v1/tickets/{anns}");
        for path in ["/api/admin/v1/tickets", staff_view.as_str()] {
            assert_eq!(
                ann.api("GET", path, None).await.status,
                StatusCode::NOT_FOUND
            );
            assert_eq!(
                app.browser().api("GET", path, None).await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        let note = ann
            .api(
                "POST",
                &format!("/api/admin/v1/tickets/{anns}/messages"),
                Some(json!({ "body": "sneaky", "internal": true })),
            )
            .await;
        assert_eq!(note.status, StatusCode::NOT_FOUND, "{backend}");
        assert_eq!(
            ann.get("/admin/tickets").await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.browser().get("/support").await.status,
            StatusCode::SEE_OTHER
        );

        // Each staff action wrote its audit entry, named after the staff member.
        let audit = app
            .state
            .db
            .audit_for("ticket", &anns)
            .await
            .expect("audit");
        let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["ticket_note", "ticket_reply"], "{backend}");
        assert!(audit.iter().all(|e| e.actor.starts_with("staff:")));
    }
}

#[tokio::test]
async fn staff_assign_prioritise_and_solve_and_the_customer_reopens() {
    for app in spawn_apps().await {
        let backend = app.backend;
        let mut ann = app.customer("ann@example.com").await;
        let id = open_ticket(&mut ann, "Where is my mailbox?", "It never arrived.").await;
        let mut support = staff(&app, "sam@smartbox.example", "support").await;
        let me = support.api("GET", "/api/v1/me", None).await.json()["id"]
            .as_str()
            .expect("an id")
            .to_owned();
        let path = format!("/api/admin/v1/tickets/{id}");
        let changed = support
            .api(
                "PATCH",
                &path,
                Some(json!({ "assignee_id": me, "priority": "urgent", "status": "solved" })),
            )
            .await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
        let ticket = changed.json();
        assert_eq!(ticket["assignee_id"], me.as_str());
        assert_eq!(ticket["priority"], "urgent");
        assert_eq!(ticket["status"], "solved");
        let mine = support
            .api(
                "GET",
                "/api/admin/v1/tickets?assignee=me&status=solved",
                None,
            )
            .await;
        assert_eq!(
            mine.json().as_array().map(Vec::len),
            Some(1),
            "{backend}: {}",
            mine.body
        );
        let nobodys = support
            .api("GET", "/api/admin/v1/tickets?assignee=none", None)
            .await;
        assert_eq!(
            nobodys.json().as_array().map(Vec::len),
            Some(0),
            "{}",
            nobodys.body
        );
        let bad = support
            .api("PATCH", &path, Some(json!({ "priority": "asap" })))
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
        let customer_as_assignee = support
            .api(
                "PATCH",
                &path,
                Some(json!({ "assignee_id": ann_id(&mut ann).await })),
            )
            .await;
        assert_eq!(customer_as_assignee.status, StatusCode::BAD_REQUEST);

        // The customer sees it closed, reopens it; closing twice is a conflict.
        let reopened = ann
            .api("POST", &format!("/api/v1/tickets/{id}/reopen"), None)
            .await;
        assert_eq!(reopened.status, StatusCode::OK, "{}", reopened.body);
        assert_eq!(reopened.json()["status"], "open");
        assert_eq!(
            ann.api("POST", &format!("/api/v1/tickets/{id}/reopen"), None)
                .await
                .status,
            StatusCode::CONFLICT
        );
        assert_eq!(
            ann.api("POST", &format!("/api/v1/tickets/{id}/close"), None)
                .await
                .status,
            StatusCode::OK
        );
        let audit = app.state.db.audit_for("ticket", &id).await.expect("audit");
        let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            ["ticket_assign", "ticket_priority", "ticket_status"],
            "{backend}: the customer's own moves are not staff actions"
        );
    }
}

async fn ann_id(ann: &mut crate::portal::helpers::Browser) -> String {
    ann.api("GET", "/api/v1/me", None).await.json()["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

#[tokio::test]
async fn an_unanswered_ticket_turns_overdue_at_its_due_time_and_a_reply_settles_it() {
    for app in spawn_apps().await {
        let backend = app.backend;
        let mut ann = app.customer("ann@example.com").await;
        let id = open_ticket(&mut ann, "No photos", "Nothing since Monday.").await;
        let mut support = staff(&app, "sam@smartbox.example", "support").await;
        let overdue = |answer: crate::portal::helpers::Answer| {
            answer
                .json()
                .as_array()
                .expect("a list")
                .iter()
                .map(|t| {
                    (
                        t["id"].as_str().unwrap_or("").to_owned(),
                        t["overdue"] == true,
                    )
                })
                .collect::<Vec<_>>()
        };
        let path = "/api/admin/v1/tickets?overdue=1";
        assert!(
            overdue(support.api("GET", path, None).await).is_empty(),
            "{backend}"
        );
        app.clock.advance_s(24 * 3600 + 60);
        assert_eq!(
            overdue(support.api("GET", path, None).await),
            [(id.clone(), true)],
            "{backend}"
        );
        let inbox = support.get("/admin/tickets").await;
        assert!(inbox.body.contains("class=\"overdue\""), "{backend}");
        staff_write(&mut support, &id, "Looking into it.", false).await;
        assert!(
            overdue(support.api("GET", path, None).await).is_empty(),
            "{backend}"
        );
        let bad = support
            .api("GET", "/api/admin/v1/tickets?overdue=maybe", None)
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
        assert_eq!(bad.json()["error"], "invalid_filter");
    }
}
