//! Staff acting on a customer's account from the customer's and mailbox's admin pages and the
//! admin API: suspend and resume a mailbox's service, cancel a subscription (at the period's end
//! or now) and take it back, change a plan and credit the next invoice (admin only), resend an
//! invoice's email once per request, send a password-reset link that works. Each needs a reason
//! and is audited with its actor. On both backends.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use smartbox_domain::{LifecycleState, SubscriptionStatus};
use smartbox_notify::testing::smtp::SmtpServer;
use smartbox_server::config::Config;
use smartbox_server::jobs::{Worker, registry};
use smartbox_store::AuditEntry;

use super::refunds::{hidden, paid};
use super::{act, heartbeat, staff};
use crate::portal::helpers::{Browser, PortalApp, spawn_apps, spawn_apps_with};

/// The audit entries about `entity` with this action.
async fn audited(app: &PortalApp, entity: (&str, &str), action: &str) -> Vec<AuditEntry> {
    let all = app.state.db.audit_for(entity.0, entity.1).await.unwrap();
    all.into_iter().filter(|e| e.action == action).collect()
}

/// Submits a form of the customer's admin page.
async fn submit(
    staff: &mut Browser,
    customer_id: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> crate::portal::helpers::Answer {
    staff
        .submit(&format!("/admin/customers/{customer_id}"), action, fields)
        .await
}

/// A configuration whose email goes to `smtp`.
fn with_smtp(smtp: &SmtpServer) -> Config {
    let url = smtp.url();
    Config::from_lookup(|name| (name == "SMARTBOX_SMTP_URL").then(|| url.clone()))
        .expect("a configuration")
}

#[tokio::test]
async fn support_suspends_a_mailbox_which_then_stops_operating_and_resumes_it() {
    for app in spawn_apps().await {
        let mut h = app
            .household(&format!("sid-{}@example.com", app.backend), "SB-SUSP-01")
            .await;
        let mut support = staff(
            &app,
            &format!("sue-{}@smartbox.example", app.backend),
            "support",
        )
        .await;

        let page = support
            .get(&format!("/admin/devices/{}", h.device_id))
            .await;
        assert!(page.body.contains("Suspend service"), "{}", page.body);
        let done = act(&mut support, &h.device_id, "suspend", "chargeback opened").await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);

        let beat = heartbeat(&app, &mut h).await;
        assert_eq!(beat.status, StatusCode::OK);
        assert_eq!(beat.json()["service"], "suspended", "on {}", app.backend);
        let device = app
            .state
            .db
            .device_by_id(&h.device_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(device.lifecycle_state, LifecycleState::Suspended);
        let sub = app
            .state
            .db
            .subscription_by_id(&smartbox_domain::SubscriptionId::new(
                h.subscription_id.as_str(),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            sub.status,
            SubscriptionStatus::Trialing,
            "billing untouched"
        );
        let again = act(&mut support, &h.device_id, "suspend", "twice").await;
        assert_eq!(again.status, StatusCode::CONFLICT);

        let resumed = support
            .api(
                "POST",
                &format!("/api/admin/v1/devices/{}/resume", h.device_id),
                Some(json!({"reason": "chargeback withdrawn"})),
            )
            .await;
        assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
        assert_eq!(resumed.json()["lifecycle_state"], "active_subscription");
        assert_eq!(heartbeat(&app, &mut h).await.json()["service"], "active");

        let entity = ("device", h.device_id.as_str());
        let suspended = audited(&app, entity, "service_suspended").await;
        let resumed = audited(&app, entity, "service_resumed").await;
        assert_eq!((suspended.len(), resumed.len()), (1, 1));
        assert!(suspended[0].actor.starts_with("staff:"));
        let detail: serde_json::Value = serde_json::from_str(&suspended[0].detail).unwrap();
        assert_eq!(detail["cause"], "chargeback opened");
        assert_eq!(detail["before"]["lifecycle"], "active_subscription");
        assert_eq!(detail["after"]["lifecycle"], "suspended");
    }
}

#[tokio::test]
async fn a_mailbox_suspended_for_an_unpaid_invoice_is_not_resumed_by_staff() {
    for app in spawn_apps().await {
        let h = app
            .household(&format!("ula-{}@example.com", app.backend), "SB-SUSP-02")
            .await;
        // The trial ends without a card: past due, then suspended when grace expires.
        for days in [8, 4] {
            app.clock.advance_s(days * 24 * 3600);
            app.state
                .billing()
                .run_billing_pass(app.state.clock.now(), None, "test")
                .await
                .expect("billing pass");
            Worker::new(app.state.clone(), registry())
                .run_until_idle(50)
                .await
                .expect("jobs");
        }
        let device = app
            .state
            .db
            .device_by_id(&h.device_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(device.lifecycle_state, LifecycleState::Suspended);
        let mut admin = staff(
            &app,
            &format!("al-{}@smartbox.example", app.backend),
            "admin",
        )
        .await;
        let refused = admin
            .api(
                "POST",
                &format!("/api/admin/v1/devices/{}/resume", h.device_id),
                Some(json!({"reason": "be nice"})),
            )
            .await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
        assert!(
            refused.json()["message"]
                .as_str()
                .unwrap()
                .contains("unpaid")
        );
    }
}

#[tokio::test]
async fn support_cancels_at_the_period_end_takes_it_back_and_ends_a_subscription_now() {
    for app in spawn_apps().await {
        let mut h = app
            .household(&format!("cal-{}@example.com", app.backend), "SB-CANCEL-1")
            .await;
        let mut support = staff(
            &app,
            &format!("sam-{}@smartbox.example", app.backend),
            "support",
        )
        .await;
        let cancel = format!("/admin/subscriptions/{}/cancel", h.subscription_id);

        let no_reason = submit(
            &mut support,
            &h.user_id,
            &cancel,
            &[("when", "period_end"), ("reason", " ")],
        )
        .await;
        assert_eq!(no_reason.status, StatusCode::BAD_REQUEST);
        let bad_when = support
            .api(
                "POST",
                &format!("/api/admin/v1/subscriptions/{}/cancel", h.subscription_id),
                Some(json!({"when": "yesterday", "reason": "moving abroad"})),
            )
            .await;
        assert_eq!(
            bad_when.status,
            StatusCode::BAD_REQUEST,
            "{}",
            bad_when.body
        );
        assert_eq!(bad_when.json()["error"], "invalid_when");

        let later = submit(
            &mut support,
            &h.user_id,
            &cancel,
            &[("when", "period_end"), ("reason", "moving abroad")],
        )
        .await;
        assert_eq!(later.status, StatusCode::SEE_OTHER, "{}", later.body);
        let page = support.get(later.location()).await;
        assert!(
            page.body.contains("will end at the end of its period"),
            "{}",
            page.body
        );
        let sub = |app: &PortalApp, id: String| {
            let db = app.state.db.clone();
            async move {
                db.subscription_by_id(&smartbox_domain::SubscriptionId::new(id.as_str()))
                    .await
                    .unwrap()
                    .unwrap()
            }
        };
        assert!(
            sub(&app, h.subscription_id.clone())
                .await
                .cancel_at_period_end
        );

        let kept = support
            .api(
                "POST",
                &format!("/api/admin/v1/subscriptions/{}/resume", h.subscription_id),
                Some(json!({"reason": "changed their mind"})),
            )
            .await;
        assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
        assert_eq!(kept.json()["cancel_at_period_end"], false);

        let ended = support
            .api(
                "POST",
                &format!("/api/admin/v1/subscriptions/{}/cancel", h.subscription_id),
                Some(json!({"when": "now", "reason": "fraudulent sign-up"})),
            )
            .await;
        assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
        assert_eq!(ended.json()["status"], "canceled", "on {}", app.backend);
        assert_eq!(heartbeat(&app, &mut h).await.json()["service"], "suspended");
        let twice = support
            .api(
                "POST",
                &format!("/api/admin/v1/subscriptions/{}/cancel", h.subscription_id),
                Some(json!({"when": "now", "reason": "again"})),
            )
            .await;
        assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.body);

        let entity = ("subscription", h.subscription_id.as_str());
        for (action, cause) in [
            ("cancel_requested", "moving abroad"),
            ("cancel_withdrawn", "changed their mind"),
            ("ended_by_staff", "fraudulent sign-up"),
        ] {
            let entries = audited(&app, entity, action).await;
            assert_eq!(entries.len(), 1, "{action}");
            assert!(entries[0].actor.starts_with("staff:"), "{action}");
            let detail: serde_json::Value = serde_json::from_str(&entries[0].detail).unwrap();
            assert_eq!(detail["cause"], cause, "{action}");
            assert!(
                detail["before"].is_object() && detail["after"].is_object(),
                "{action}"
            );
        }
    }
}

#[tokio::test]
async fn an_admin_changes_a_plan_with_a_reason_and_support_may_not() {
    for app in spawn_apps().await {
        let h = app
            .household(&format!("pia-{}@example.com", app.backend), "SB-PLAN-01")
            .await;
        let path = format!("/api/admin/v1/subscriptions/{}/plan", h.subscription_id);
        let mut support = staff(
            &app,
            &format!("s-{}@smartbox.example", app.backend),
            "support",
        )
        .await;
        let page = support
            .get(&format!("/admin/customers/{}", h.user_id))
            .await;
        assert!(!page.body.contains("/plan\""), "support sees no plan form");
        let refused = support
            .api(
                "POST",
                &path,
                Some(json!({"plan": "plus", "reason": "asked nicely"})),
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

        let mut admin = staff(
            &app,
            &format!("a-{}@smartbox.example", app.backend),
            "admin",
        )
        .await;
        let unknown = admin
            .api(
                "POST",
                &path,
                Some(json!({"plan": "gold", "reason": "asked nicely"})),
            )
            .await;
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
        let changed = submit(
            &mut admin,
            &h.user_id,
            &format!("/admin/subscriptions/{}/plan", h.subscription_id),
            &[("plan", "plus"), ("reason", "needs more notifications")],
        )
        .await;
        assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
        let sub = app
            .state
            .db
            .subscription_by_id(&smartbox_domain::SubscriptionId::new(
                h.subscription_id.as_str(),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sub.plan_id, "plus", "on {}", app.backend);
        let entries = audited(&app, ("subscription", &h.subscription_id), "plan_changed").await;
        assert_eq!(entries.len(), 1);
        assert!(entries[0].detail.contains("needs more notifications"));
        assert!(entries[0].detail.contains("\"from_plan\":\"basic\""));
    }
}

#[tokio::test]
async fn an_admin_credit_is_taken_once_by_the_next_invoice_and_bounded_by_its_price() {
    for app in spawn_apps().await {
        let mut h = app
            .household(&format!("cid-{}@example.com", app.backend), "SB-CREDIT-1")
            .await;
        paid(&app, &mut h).await;
        let path = format!("/api/admin/v1/subscriptions/{}/credits", h.subscription_id);
        let mut support = staff(
            &app,
            &format!("s-{}@smartbox.example", app.backend),
            "support",
        )
        .await;
        let refused = support
            .api(
                "POST",
                &path,
                Some(json!({"amount_cents": 100, "reason": "goodwill"})),
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

        let mut admin = staff(
            &app,
            &format!("a-{}@smartbox.example", app.backend),
            "admin",
        )
        .await;
        for (cents, status) in [
            (0, StatusCode::BAD_REQUEST),
            (-5, StatusCode::BAD_REQUEST),
            (451, StatusCode::CONFLICT),
        ] {
            let answer = admin
                .api(
                    "POST",
                    &path,
                    Some(json!({"amount_cents": cents, "reason": "goodwill"})),
                )
                .await;
            assert_eq!(answer.status, status, "{cents}: {}", answer.body);
        }
        let credited = submit(
            &mut admin,
            &h.user_id,
            &format!("/admin/subscriptions/{}/credit", h.subscription_id),
            &[("amount", "2.00"), ("reason", "mailbox offline two days")],
        )
        .await;
        assert_eq!(credited.status, StatusCode::SEE_OTHER, "{}", credited.body);
        let page = admin.get(credited.location()).await;
        assert!(
            page.body.contains("$2.00 credit for the next invoice"),
            "{}",
            page.body
        );
        let more = admin
            .api(
                "POST",
                &path,
                Some(json!({"amount_cents": 251, "reason": "and more"})),
            )
            .await;
        assert_eq!(
            more.status,
            StatusCode::CONFLICT,
            "the credits are bounded together"
        );

        // The next renewal takes the credit, once.
        app.clock.advance_s(32 * 24 * 3600);
        for _ in 0..2 {
            app.state
                .billing()
                .run_billing_pass(app.state.clock.now(), None, "test")
                .await
                .expect("billing pass");
        }
        let invoices = app
            .state
            .db
            .invoices_of_customer(&smartbox_domain::UserId::new(h.user_id.as_str()))
            .await
            .unwrap();
        let credited: Vec<_> = invoices.iter().filter(|i| i.total_cents == 300).collect();
        assert_eq!(credited.len(), 1, "on {}: {invoices:?}", app.backend);
        let lines = app
            .state
            .db
            .invoice_lines(&smartbox_domain::InvoiceId::new(credited[0].id.as_str()))
            .await
            .unwrap();
        assert!(
            lines
                .iter()
                .any(|l| l.amount_cents == -200 && l.description.starts_with("Credit from")),
            "{lines:?}"
        );
        let sub_id = smartbox_domain::SubscriptionId::new(h.subscription_id.clone());
        assert!(
            app.state
                .db
                .pending_credits(&sub_id)
                .await
                .unwrap()
                .is_empty()
        );
        let entries = audited(&app, ("subscription", &h.subscription_id), "credited").await;
        assert_eq!(entries.len(), 1);
        assert!(entries[0].detail.contains("mailbox offline two days"));
        assert!(entries[0].detail.contains("\"amount_cents\":200"));
    }
}

#[tokio::test]
async fn resending_an_invoice_emails_it_once_per_request() {
    let mut smtp = SmtpServer::start().await;
    for app in spawn_apps_with(&with_smtp(&smtp)).await {
        let h = app
            .household(&format!("ria-{}@example.com", app.backend), "SB-RESEND-1")
            .await;
        let mut support = staff(
            &app,
            &format!("s-{}@smartbox.example", app.backend),
            "support",
        )
        .await;
        let customer_page = format!("/admin/customers/{}", h.user_id);
        let page = support.get(&customer_page).await;
        let action = format!("/admin/invoices/{}/resend", h.invoice_id);
        let start = page.body.find(&action).expect("a resend form");
        let key = hidden(&page.body[start..], "key");
        let form = [
            ("csrf", page.csrf()),
            ("key", key.clone()),
            ("reason", "customer lost it".to_owned()),
        ];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let first = support.post_form(&action, &form).await;
        let twice = support.post_form(&action, &form).await;
        assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
        assert_eq!(twice.status, StatusCode::SEE_OTHER, "{}", twice.body);
        let no_key = support
            .api(
                "POST",
                &format!("/api/admin/v1/invoices/{}/resend", h.invoice_id),
                Some(json!({"reason": "again", "idempotency_key": "short"})),
            )
            .await;
        assert_eq!(no_key.status, StatusCode::BAD_REQUEST, "{}", no_key.body);

        let outcomes = Worker::new(app.state.clone(), registry())
            .run_until_idle(20)
            .await
            .expect("jobs");
        let sent = outcomes
            .iter()
            .filter(|o| o.kind() == Some("invoice_email"))
            .count();
        assert_eq!(sent, 1, "one email for one request on {}", app.backend);
        let mail = tokio::time::timeout(Duration::from_secs(10), smtp.next_mail())
            .await
            .expect("the invoice email");
        let text = String::from_utf8_lossy(&mail.data).into_owned();
        assert!(
            text.contains(&format!("ria-{}@example.com", app.backend)),
            "{text}"
        );
        assert!(text.contains("$5.00"), "{text}");
        let entries = audited(&app, ("invoice", &h.invoice_id), "invoice_email_resent").await;
        assert_eq!(entries.len(), 1);
        assert!(entries[0].detail.contains("customer lost it"));
    }
}

#[tokio::test]
async fn support_sends_a_password_reset_link_that_lets_the_customer_in() {
    let mut smtp = SmtpServer::start().await;
    for app in spawn_apps_with(&with_smtp(&smtp)).await {
        let email = format!("pat-{}@example.com", app.backend);
        let h = app.household(&email, "SB-RESET-01").await;
        let mut support = staff(
            &app,
            &format!("s-{}@smartbox.example", app.backend),
            "support",
        )
        .await;
        let sent = submit(
            &mut support,
            &h.user_id,
            &format!("/admin/customers/{}/password-reset", h.user_id),
            &[("reason", "locked out, called in")],
        )
        .await;
        assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
        let mail = tokio::time::timeout(Duration::from_secs(10), smtp.next_mail())
            .await
            .expect("a reset email");
        let parsed = mail_parser::MessageParser::default()
            .parse(&mail.data)
            .expect("a MIME message");
        let text = parsed.body_text(0).expect("a text body").into_owned();
        let start = text.find("/reset-password?token=").expect("the link");
        let link = text[start..].split_whitespace().next().unwrap().to_owned();
        let token = link.split("token=").nth(1).unwrap().to_owned();
        let mut browser = app.browser();
        let done = browser
            .submit(
                &link,
                "/reset-password",
                &[("token", &token), ("password", "a fresh password 9")],
            )
            .await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        let login = app.browser().log_in(&email, "a fresh password 9").await;
        assert_eq!(login.status, StatusCode::SEE_OTHER, "on {}", app.backend);
        let entries = audited(&app, ("user", &h.user_id), "password_reset_sent").await;
        assert_eq!(entries.len(), 1);
        assert!(entries[0].detail.contains("locked out, called in"));
        let staff_reset = support
            .api(
                "POST",
                &format!("/api/admin/v1/customers/{}/password-reset", "no-such-user"),
                Some(json!({"reason": "typo"})),
            )
            .await;
        assert_eq!(staff_reset.status, StatusCode::NOT_FOUND);
    }
}
