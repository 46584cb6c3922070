//! Who reaches the admin console: staff (support and admin) land on it after logging in; a
//! signed-in customer gets 404 on every admin page and admin API route, as if they did not
//! exist; a visitor without a session is sent to log in (pages) or gets 401 (API). And the role
//! matrix: customer, support and admin against each staff action.

use axum::http::StatusCode;
use serde_json::json;
use smartbox_domain::LifecycleState;

use super::{act, staff};
use crate::portal::helpers::{Browser, PortalApp, spawn_apps};

/// Every admin page and API read, for a mailbox `device_id`.
fn reads(device_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GET", "/admin".to_owned()),
        ("GET", "/admin/customers?q=example".to_owned()),
        ("GET", "/admin/devices".to_owned()),
        ("GET", format!("/admin/devices/{device_id}")),
        ("GET", "/admin/jobs".to_owned()),
        ("GET", "/admin/audit?device=SB-ROLE-01".to_owned()),
        ("API", "/api/admin/v1/devices".to_owned()),
        ("API", "/api/admin/v1/customers?q=example".to_owned()),
        ("API", "/api/admin/v1/jobs".to_owned()),
        ("API", "/api/admin/v1/audit?action=refurbish".to_owned()),
        ("API", format!("/api/admin/v1/devices/{device_id}")),
    ]
}

/// Every staff action on a mailbox, as (page form action, API path suffix).
const ACTIONS: [&str; 6] = [
    "ship",
    "suspend",
    "resume",
    "receive",
    "refurbish",
    "decommission",
];

async fn read(browser: &mut Browser, kind: &str, path: &str) -> StatusCode {
    match kind {
        "GET" => browser.get(path).await.status,
        _ => browser.api("GET", path, None).await.status,
    }
}

/// A fresh pre-activation mailbox's id.
async fn mailbox(app: &PortalApp, serial: &str) -> String {
    app.make_devices(&[serial]).await;
    app.state
        .db
        .device_by_serial(serial)
        .await
        .expect("read")
        .expect("imported")
        .id
}

/// The mailbox is still waiting for its customer and nothing was recorded about it.
async fn untouched(app: &PortalApp, device_id: &str) {
    let device = app.state.db.device_by_id(device_id).await.unwrap().unwrap();
    assert_eq!(device.lifecycle_state, LifecycleState::PreActivation);
    let audit = app.state.db.audit_for("device", device_id).await.unwrap();
    assert!(audit.is_empty(), "nothing was recorded: {audit:?}");
}

#[tokio::test]
async fn a_customer_gets_404_on_every_admin_page_and_route_and_a_visitor_is_asked_to_log_in() {
    for app in spawn_apps().await {
        let device_id = mailbox(&app, "SB-ROLE-01").await;
        let mut customer = app.customer("cora@example.com").await;
        let mut visitor = app.browser();
        for (kind, path) in reads(&device_id) {
            assert_eq!(
                read(&mut customer, kind, &path).await,
                StatusCode::NOT_FOUND,
                "customer {kind} {path} on {}",
                app.backend
            );
            let anonymous = read(&mut visitor, kind, &path).await;
            let expected = if kind == "GET" {
                StatusCode::SEE_OTHER
            } else {
                StatusCode::UNAUTHORIZED
            };
            assert_eq!(anonymous, expected, "visitor {kind} {path}");
        }
        for action in ACTIONS {
            let api = customer
                .api(
                    "POST",
                    &format!("/api/admin/v1/devices/{device_id}/{action}"),
                    Some(json!({"reason": "let me in"})),
                )
                .await;
            assert_eq!(api.status, StatusCode::NOT_FOUND, "API {action}");
            let csrf = customer.get("/settings").await.csrf();
            let page = customer
                .post_form(
                    &format!("/admin/devices/{device_id}/{action}"),
                    &[("csrf", &csrf), ("reason", "let me in")],
                )
                .await;
            assert_eq!(page.status, StatusCode::NOT_FOUND, "page {action}");
        }
        untouched(&app, &device_id).await;
    }
}

#[tokio::test]
async fn staff_of_either_role_land_on_the_admin_console_and_read_everything() {
    for app in spawn_apps().await {
        let device_id = mailbox(&app, "SB-ROLE-02").await;
        for role in ["support", "admin"] {
            let mut browser = staff(&app, &format!("{role}@smartbox.example"), role).await;
            for (kind, path) in reads(&device_id) {
                assert_eq!(
                    read(&mut browser, kind, &path).await,
                    StatusCode::OK,
                    "{role} {kind} {path} on {}",
                    app.backend
                );
            }
            let overview = browser.get("/admin").await;
            // States read as words; the stored name is only the filter link's value.
            for expected in [
                "lifecycle=pre_activation\">Not activated yet</a>",
                "<td>Payment overdue</td>",
            ] {
                assert!(
                    overview.body.contains(expected),
                    "{expected}: {}",
                    overview.body
                );
            }
            assert!(!overview.body.contains(">pre_activation<"));
            assert!(!overview.body.contains(">past_due<"));
        }
    }
}

/// The role matrix: for each staff action, a customer gets 404 (above), support and admin may
/// take it, through the page and through the API, and each writes its audit entry with the
/// actor and the reason.
#[tokio::test]
async fn support_and_admin_may_take_every_device_action_each_audited_with_actor_and_reason() {
    for app in spawn_apps().await {
        for role in ["support", "admin"] {
            let mut browser = staff(&app, &format!("{role}-m@smartbox.example"), role).await;
            // Through the pages: ship, then decommission.
            let device_id = mailbox(&app, &format!("SB-M-{}", role.to_uppercase())).await;
            let shipped = act(&mut browser, &device_id, "ship", "batch 7 to the shop").await;
            assert_eq!(shipped.status, StatusCode::SEE_OTHER, "{}", shipped.body);
            let gone = act(&mut browser, &device_id, "decommission", "lost in transit").await;
            assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.body);
            let audit = app.state.db.audit_for("device", &device_id).await.unwrap();
            let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
            assert_eq!(
                actions,
                ["shipped", "decommission"],
                "{role} on {}",
                app.backend
            );
            assert!(audit.iter().all(|e| e.actor.starts_with("staff:")));
            assert!(
                audit[1].detail.contains("lost in transit"),
                "{}",
                audit[1].detail
            );
            // Through the API: receive a return and refurbish need a returned box.
            let h = app
                .household(
                    &format!("{role}-owner@example.com"),
                    &format!("SB-MA-{}", role.to_uppercase()),
                )
                .await;
            let path = |action: &str| format!("/api/admin/v1/devices/{}/{action}", h.device_id);
            let received = browser
                .api(
                    "POST",
                    &path("receive"),
                    Some(json!({"reason": "box came back"})),
                )
                .await;
            assert_eq!(received.status, StatusCode::OK, "{}", received.body);
            assert_eq!(received.json()["lifecycle_state"], "returned");
            let refurbished = browser
                .api(
                    "POST",
                    &path("refurbish"),
                    Some(json!({"reason": "cleaned"})),
                )
                .await;
            assert_eq!(refurbished.status, StatusCode::OK, "{}", refurbished.body);
            assert_eq!(refurbished.json()["claim_code"].as_str().unwrap().len(), 8);
        }
    }
}

#[tokio::test]
async fn a_staff_action_without_a_reason_or_out_of_turn_is_refused_and_changes_nothing() {
    for app in spawn_apps().await {
        let mut browser = staff(&app, "sam@smartbox.example", "support").await;
        let device_id = mailbox(&app, "SB-ROLE-03").await;
        let path = |action: &str| format!("/api/admin/v1/devices/{device_id}/{action}");
        let no_reason = browser
            .api("POST", &path("decommission"), Some(json!({"reason": "  "})))
            .await;
        assert_eq!(
            no_reason.status,
            StatusCode::BAD_REQUEST,
            "{}",
            no_reason.body
        );
        assert_eq!(no_reason.json()["error"], "invalid_reason");
        let page = act(&mut browser, &device_id, "decommission", "").await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST);
        let refurbish = browser
            .api(
                "POST",
                &path("refurbish"),
                Some(json!({"reason": "too early"})),
            )
            .await;
        assert_eq!(refurbish.status, StatusCode::CONFLICT, "{}", refurbish.body);
        let unknown = browser
            .api("POST", &path("explode"), Some(json!({"reason": "why not"})))
            .await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        let no_csrf = browser
            .send(
                axum::http::Request::post(path("ship"))
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(r#"{"reason":"no token"}"#))
                    .unwrap(),
            )
            .await;
        assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
        untouched(&app, &device_id).await;
    }
}

#[tokio::test]
async fn the_admin_api_is_in_the_openapi_document() {
    let app = crate::portal::helpers::spawn_sqlite().await;
    let doc = app.browser().get("/api/openapi.json").await.json();
    for path in [
        "/api/admin/v1/customers",
        "/api/admin/v1/devices",
        "/api/admin/v1/devices/{device_id}",
        "/api/admin/v1/devices/{device_id}/{action}",
        "/api/admin/v1/devices/{device_id}/refurbish",
        "/api/admin/v1/payments/{payment_id}/refund",
        "/api/admin/v1/jobs",
        "/api/admin/v1/jobs/{job_id}/retry",
        "/api/admin/v1/audit",
        "/api/admin/v1/subscriptions/{subscription_id}/cancel",
        "/api/admin/v1/subscriptions/{subscription_id}/resume",
        "/api/admin/v1/subscriptions/{subscription_id}/plan",
        "/api/admin/v1/subscriptions/{subscription_id}/credits",
        "/api/admin/v1/invoices/{invoice_id}/resend",
        "/api/admin/v1/customers/{customer_id}/password-reset",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
}

/// The account actions, as (page form path, API path, JSON body, whether only an admin may).
fn account_actions(
    h: &crate::portal::helpers::Household,
) -> Vec<(String, String, serde_json::Value, bool)> {
    let sub = &h.subscription_id;
    vec![
        (
            format!("/admin/subscriptions/{sub}/cancel"),
            format!("/api/admin/v1/subscriptions/{sub}/cancel"),
            json!({"when": "period_end", "reason": "let me in"}),
            false,
        ),
        (
            format!("/admin/subscriptions/{sub}/resume"),
            format!("/api/admin/v1/subscriptions/{sub}/resume"),
            json!({"reason": "let me in"}),
            false,
        ),
        (
            format!("/admin/subscriptions/{sub}/plan"),
            format!("/api/admin/v1/subscriptions/{sub}/plan"),
            json!({"plan": "premium", "reason": "let me in"}),
            true,
        ),
        (
            format!("/admin/subscriptions/{sub}/credit"),
            format!("/api/admin/v1/subscriptions/{sub}/credits"),
            json!({"amount_cents": 100, "reason": "let me in"}),
            true,
        ),
        (
            format!("/admin/invoices/{}/resend", h.invoice_id),
            format!("/api/admin/v1/invoices/{}/resend", h.invoice_id),
            json!({"reason": "let me in", "idempotency_key": "role-matrix-1"}),
            false,
        ),
        (
            format!("/admin/customers/{}/password-reset", h.user_id),
            format!("/api/admin/v1/customers/{}/password-reset", h.user_id),
            json!({"reason": "let me in"}),
            false,
        ),
    ]
}

/// The role matrix of the account actions: the customer who owns the account gets 404 on every
/// one (page and API) and nothing is recorded; support gets 403 on the money actions (plan,
/// credit) and nothing is recorded; support may take the others, and admin every one.
#[tokio::test]
async fn account_actions_are_404_for_customers_403_for_support_on_money_and_open_to_admin() {
    for app in spawn_apps().await {
        let mut h = app
            .household(&format!("mat-{}@example.com", app.backend), "SB-ROLE-ACC")
            .await;
        let mut support = staff(
            &app,
            &format!("sup-{}@smartbox.example", app.backend),
            "support",
        )
        .await;
        let mut admin = staff(
            &app,
            &format!("adm-{}@smartbox.example", app.backend),
            "admin",
        )
        .await;
        let recorded = |app: &PortalApp| {
            let db = app.state.db.clone();
            let (sub, user, invoice) = (
                h.subscription_id.clone(),
                h.user_id.clone(),
                h.invoice_id.clone(),
            );
            async move {
                let mut n = 0;
                for (kind, id) in [("subscription", sub), ("user", user), ("invoice", invoice)] {
                    n += db
                        .audit_for(kind, &id)
                        .await
                        .unwrap()
                        .iter()
                        .filter(|e| e.actor.starts_with("staff:"))
                        .count();
                }
                n
            }
        };
        let csrf = h.browser.get("/settings").await.csrf();
        for (page, api, body, _) in account_actions(&h) {
            let answer = h.browser.api("POST", &api, Some(body.clone())).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "customer API {api}");
            let answer = h
                .browser
                .post_form(&page, &[("csrf", &csrf), ("reason", "let me in")])
                .await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "customer page {page}");
        }
        assert_eq!(recorded(&app).await, 0, "a customer changed nothing");
        for (_, api, body, admin_only) in account_actions(&h) {
            let answer = support.api("POST", &api, Some(body)).await;
            if admin_only {
                assert_eq!(
                    answer.status,
                    StatusCode::FORBIDDEN,
                    "support {api}: {}",
                    answer.body
                );
            } else {
                assert!(
                    answer.status.is_success(),
                    "support {api}: {} {}",
                    answer.status,
                    answer.body
                );
            }
        }
        assert_eq!(
            recorded(&app).await,
            4,
            "support's four actions on {}",
            app.backend
        );
        for (_, api, body, admin_only) in account_actions(&h) {
            if admin_only {
                let answer = admin.api("POST", &api, Some(body)).await;
                assert!(
                    answer.status.is_success(),
                    "admin {api}: {} {}",
                    answer.status,
                    answer.body
                );
            }
        }
        assert_eq!(recorded(&app).await, 6, "and admin's two");
    }
}
