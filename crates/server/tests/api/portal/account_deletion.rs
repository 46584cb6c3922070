//! Deleting an account: the mailbox is returned and its subscription ended through billing, the
//! photos are gone from the blob store, the personal data is gone, invoices stay anonymised,
//! nothing is charged again; a wrong password deletes nothing. On both backends.

use object_store::ObjectStoreExt;
use smartbox_domain::{DeviceId, UserId};
use smartbox_protocol::HEARTBEAT_PATH;
use smartbox_server::services::{Actor, ServiceError, account};

use super::helpers::spawn_apps;

const VITALS: &str = r#"{"battery_percent":80,"power_state":"awake","signal_dbm":-85,"network":"cellular","firmware_version":"1.0.0","modem_tx_bytes":0,"modem_rx_bytes":0,"sd_queue_len":0}"#;
const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn a_deleted_account_loses_its_photos_and_personal_data_keeps_anonymous_invoices_and_is_never_charged_again()
 {
    for app in spawn_apps().await {
        let email = "gone@example.com";
        let mut h = app.household(email, "SB-DEL-01").await;
        let actor = Actor::customer(h.user_id.as_str());
        let photo_key = smartbox_server::device_api::photos::blob_key(&h.device_id, &h.event_id, 0);
        assert!(
            app.state
                .blobs
                .head(&photo_key.as_str().into())
                .await
                .is_ok()
        );

        // A wrong password refuses in words and deletes nothing, in JSON as in the service.
        let body = serde_json::json!({"password": "not it"});
        let answer = h.browser.api("DELETE", "/api/v1/account", Some(body)).await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert!(
            answer.body.contains("nothing was deleted"),
            "{}",
            answer.body
        );
        let refused = account::delete_account(&app.state, &actor, &h.user_id, Some("not it")).await;
        match refused {
            Err(ServiceError::Invalid { code, message }) => {
                assert_eq!(code, "wrong_password");
                assert!(message.contains("nothing was deleted"), "{message}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(app.state.db.user_by_email(email).await.unwrap().is_some());
        assert_eq!(
            app.state
                .db
                .photos_of_event(&h.event_id)
                .await
                .unwrap()
                .len(),
            1
        );

        let now_s = smartbox_server::Clock::now_s(app.state.clock.as_ref());
        let done = account::delete_account(&app.state, &actor, &h.user_id, Some(PASSWORD))
            .await
            .expect("the account is deleted");
        assert_eq!(
            (done.mailboxes_returned, done.photos_deleted),
            (1, 1),
            "{}",
            app.backend
        );

        // No login: the address is gone and no password matches.
        assert!(app.state.db.user_by_email(email).await.unwrap().is_none());
        let user = app
            .state
            .db
            .user_by_id(&h.user_id)
            .await
            .unwrap()
            .expect("row kept");
        assert!(user.email.starts_with(account::DELETED_EMAIL_PREFIX));
        assert!(!smartbox_server::passwords::verify(
            PASSWORD,
            &user.password_hash
        ));
        let login = h.browser.log_in(email, PASSWORD).await;
        let session = login
            .set_cookie("sb_session")
            .filter(|c| !c.contains("Max-Age=0"));
        assert!(session.is_none(), "{}", login.body);

        // Photos gone from the blob store and the database.
        assert!(
            app.state
                .db
                .photos_of_event(&h.event_id)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            app.state
                .blobs
                .head(&photo_key.as_str().into())
                .await
                .is_err()
        );

        // The mailbox: returned, no owner, told at once on its next heartbeat.
        let device = app
            .state
            .db
            .device_by_id(&h.device_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            device.lifecycle_state,
            smartbox_domain::LifecycleState::Returned
        );
        assert_eq!(device.owner_id, None);
        let answer = h
            .device_request(
                "POST",
                HEARTBEAT_PATH,
                "application/json",
                VITALS.as_bytes().to_vec(),
                now_s,
            )
            .await;
        assert_eq!(
            answer.json()["service"],
            "suspended",
            "{} on {}",
            answer.body,
            app.backend
        );

        // Invoices kept, pointing at the anonymised user; no live subscription.
        let invoices = app
            .state
            .db
            .invoices_of_customer(&UserId::new(h.user_id.as_str()))
            .await
            .unwrap();
        assert!(invoices.iter().any(|i| i.id == h.invoice_id));
        assert!(
            app.state
                .db
                .live_subscription_of_device(&DeviceId::new(h.device_id.as_str()))
                .await
                .unwrap()
                .is_none()
        );

        // A billing pass later charges nothing.
        app.clock.advance_s(40 * 24 * 3600);
        app.state
            .billing()
            .run_billing_pass(app.state.clock.now(), None, "test")
            .await
            .expect("billing pass");
        let after = app
            .state
            .db
            .invoices_of_customer(&UserId::new(h.user_id.as_str()))
            .await
            .unwrap();
        assert_eq!(
            after.len(),
            invoices.len(),
            "no new invoice on {}",
            app.backend
        );

        // A retry finds it done and changes nothing.
        let again = account::delete_account(&app.state, &Actor::Cli, &h.user_id, None)
            .await
            .expect("idempotent");
        assert_eq!(again, account::AccountDeleted::default());
    }
}

#[tokio::test]
async fn the_account_page_deletes_only_with_the_password_and_the_word_delete() {
    for app in spawn_apps().await {
        let mut h = app.household("page@example.com", "SB-DEL-02").await;
        let page = h.browser.get("/account").await;
        assert!(page.body.contains("Delete my account"), "{}", page.body);
        let typo = h
            .browser
            .submit(
                "/account",
                "/account/delete",
                &[("password", PASSWORD), ("confirm", "delete")],
            )
            .await;
        assert_eq!(typo.status, 400, "{}", typo.body);
        assert!(
            typo.body.contains("Type DELETE to confirm"),
            "{}",
            typo.body
        );
        assert!(
            app.state
                .db
                .user_by_email("page@example.com")
                .await
                .unwrap()
                .is_some()
        );

        let done = h
            .browser
            .submit(
                "/account",
                "/account/delete",
                &[("password", PASSWORD), ("confirm", "DELETE")],
            )
            .await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("Account deleted"), "{}", done.body);
        assert!(
            app.state
                .db
                .user_by_email("page@example.com")
                .await
                .unwrap()
                .is_none()
        );
        let after = h.browser.get("/account").await;
        assert_ne!(after.status, 200, "signed out on {}", app.backend);
    }
}
