//! A mailbox's life as staff run it: decommissioned (its next signed request is 401 and its owner
//! is emailed), returned and refurbished (the old secret refused, the new one works, and the next
//! owner sees nothing of the previous one's). On both backends.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use smartbox_domain::{LifecycleState, SubscriptionId, SubscriptionStatus};
use smartbox_notify::testing::smtp::SmtpServer;
use smartbox_server::config::Config;
use smartbox_server::provisioning::FactoryRecord;

use super::{act, heartbeat, staff};
use crate::portal::helpers::{spawn_apps, spawn_apps_with};

#[tokio::test]
async fn a_decommissioned_mailbox_is_refused_at_its_next_heartbeat_and_its_owner_is_emailed() {
    let mut smtp = SmtpServer::start().await;
    let url = smtp.url();
    let config = Config::from_lookup(|name| (name == "SMARTBOX_SMTP_URL").then(|| url.clone()))
        .expect("a configuration");
    for app in spawn_apps_with(&config).await {
        let email = format!("dora-{}@example.com", app.backend);
        let mut h = app.household(&email, "SB-DECOM-01").await;
        assert_eq!(heartbeat(&app, &mut h).await.status, StatusCode::OK);
        let mut support = staff(
            &app,
            &format!("s-{}@smartbox.example", app.backend),
            "support",
        )
        .await;

        let done = act(
            &mut support,
            &h.device_id,
            "decommission",
            "reported stolen",
        )
        .await;

        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        let refused = heartbeat(&app, &mut h).await;
        assert_eq!(
            refused.status,
            StatusCode::UNAUTHORIZED,
            "on {}",
            app.backend
        );
        let device = app
            .state
            .db
            .device_by_id(&h.device_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(device.lifecycle_state, LifecycleState::Decommissioned);
        let opened = app
            .state
            .master_key
            .open_device_secret(&device.serial, &device.secret_ciphertext)
            .expect("a sealed secret");
        assert_ne!(
            hex::encode(opened),
            h.factory.secret_hex,
            "the secret was replaced"
        );
        let sub = app
            .state
            .db
            .subscription_by_id(&SubscriptionId::new(h.subscription_id.as_str()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            sub.status,
            SubscriptionStatus::Canceled,
            "its subscription ended"
        );
        let mail = tokio::time::timeout(Duration::from_secs(10), smtp.next_mail())
            .await
            .expect("the owner is emailed");
        let text = String::from_utf8_lossy(&mail.data).into_owned();
        assert!(text.contains(&email), "{text}");
        assert!(text.contains("SB-DECOM-01"), "{text}");
        let page = support
            .get(&format!("/admin/devices/{}", h.device_id))
            .await;
        assert!(
            page.body.contains("reported stolen"),
            "the audit trail shows the reason"
        );
        let again = act(&mut support, &h.device_id, "decommission", "twice").await;
        assert_eq!(
            again.status,
            StatusCode::CONFLICT,
            "decommissioned is terminal"
        );
    }
}

/// The new secret and claim code on the page shown once after refurbishing.
fn credentials(serial: &str, page: &str) -> FactoryRecord {
    let code = |label: &str| {
        let start = page
            .find(&format!("<dt>{label}</dt><dd><code>"))
            .expect(label)
            + format!("<dt>{label}</dt><dd><code>").len();
        page[start..].split('<').next().unwrap_or("").to_owned()
    };
    FactoryRecord {
        serial: serial.to_owned(),
        secret_hex: code("Secret"),
        claim_code: code("Claim code"),
    }
}

#[tokio::test]
async fn a_refurbished_mailbox_refuses_its_old_secret_works_with_its_new_one_and_shows_nothing_of_its_past()
 {
    for app in spawn_apps().await {
        let first = format!("fran-{}@example.com", app.backend);
        let mut h = app.household(&first, "SB-REFURB-01").await;
        let returned = h
            .browser
            .api(
                "POST",
                &format!("/api/v1/devices/{}/return", h.device_id),
                None,
            )
            .await;
        assert_eq!(returned.status, StatusCode::CREATED, "{}", returned.body);
        let mut support = staff(
            &app,
            &format!("w-{}@smartbox.example", app.backend),
            "support",
        )
        .await;
        let received = act(&mut support, &h.device_id, "receive", "box arrived").await;
        assert_eq!(received.status, StatusCode::SEE_OTHER, "{}", received.body);

        let page = act(&mut support, &h.device_id, "refurbish", "cleaned, new seal").await;

        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let new = credentials("SB-REFURB-01", &page.body);
        assert_eq!(new.secret_hex.len(), 64, "{}", page.body);
        assert_ne!(new.secret_hex, h.factory.secret_hex);
        assert_eq!(
            heartbeat(&app, &mut h).await.status,
            StatusCode::UNAUTHORIZED,
            "the old secret is refused on {}",
            app.backend
        );
        let old = std::mem::replace(&mut h.factory, new.clone());
        assert_eq!(
            heartbeat(&app, &mut h).await.status,
            StatusCode::OK,
            "the new secret works"
        );
        // The previous owner no longer sees the mailbox; the next one claims it with the new code
        // and sees none of the previous owner's deliveries.
        let theirs = h.browser.api("GET", "/api/v1/devices", None).await;
        assert_eq!(theirs.json(), json!([]), "{}", theirs.body);
        let mut next = app
            .customer(&format!("gus-{}@example.com", app.backend))
            .await;
        let wrong = next
            .api(
                "POST",
                "/api/v1/claims",
                Some(json!({"serial": old.serial, "code": old.claim_code, "plan": "basic"})),
            )
            .await;
        assert_eq!(
            wrong.status,
            StatusCode::NOT_FOUND,
            "the old claim code is void"
        );
        let claimed = next
            .api(
                "POST",
                "/api/v1/claims",
                Some(json!({"serial": new.serial, "code": new.claim_code, "plan": "basic"})),
            )
            .await;
        assert_eq!(claimed.status, StatusCode::CREATED, "{}", claimed.body);
        let events = next.api("GET", "/api/v1/events", None).await;
        assert_eq!(events.status, StatusCode::OK);
        assert_eq!(events.json()["events"], json!([]), "{}", events.body);
        let event = next
            .api("GET", &format!("/api/v1/events/{}", h.event_id), None)
            .await;
        assert_eq!(event.status, StatusCode::NOT_FOUND);
        let photo = next.get(&format!("/photos/{}/0", h.event_id)).await;
        assert_eq!(photo.status, StatusCode::NOT_FOUND);
        let audit = app
            .state
            .db
            .audit_for("device", &h.device_id)
            .await
            .unwrap();
        let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
        // The first owner's claim and return (an RMA), the receipt that returns the box, the
        // refurbishing, the next owner's claim.
        assert_eq!(
            actions,
            [
                "claim",
                "return_started",
                "return",
                "return_received",
                "refurbish",
                "claim"
            ]
        );
    }
}
