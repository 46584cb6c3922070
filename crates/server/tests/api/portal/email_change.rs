//! Issue 17, item 4: a customer changes their email from `/account` (or the API) with their
//! password; a single-use link that expires goes to the NEW address, the email changes only when
//! it is opened (from any browser), the old address is told, and the account's sessions keep
//! working.

use axum::http::StatusCode;
use serde_json::json;
use smartbox_notify::testing::smtp::SmtpServer;
use smartbox_server::config::Config;
use smartbox_server::services::account::EMAIL_LINK_MS;

use crate::portal::helpers::spawn_apps_with;

/// The recipient and the text body of the next email.
async fn next_mail(smtp: &mut SmtpServer) -> (Vec<String>, String) {
    let mail = smtp.next_mail().await;
    let body = mail_parser::MessageParser::default()
        .parse(&mail.data)
        .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
        .expect("a text body");
    (mail.rcpt_to, body)
}

/// The path and token of the confirmation link in an email.
fn link_in(body: &str) -> (String, String) {
    let link = body
        .lines()
        .find(|l| l.contains("/account/email/confirm?token="))
        .expect("the link")
        .trim();
    let path = link[link.find("/account/").expect("a path")..].to_owned();
    let token = path.split("token=").nth(1).unwrap_or("").to_owned();
    (path, token)
}

#[tokio::test]
async fn a_new_email_is_confirmed_by_a_single_use_link_sent_to_it() {
    let mut smtp = SmtpServer::start().await;
    let url = smtp.url();
    let config = Config::from_lookup(|name| (name == "SMARTBOX_SMTP_URL").then(|| url.clone()))
        .expect("a configuration with SMTP");
    for app in spawn_apps_with(&config).await {
        let backend = app.backend;
        let (old, new) = (
            format!("old-{backend}@example.com"),
            format!("New-{backend}@Example.com"),
        );
        let new_normalised = new.to_ascii_lowercase();
        let mut me = app.customer(&old).await;
        let taken = format!("taken-{backend}@example.com");
        app.customer(&taken).await;

        // Refusals change nothing and send nothing.
        for (fields, status, words) in [
            (
                [("new_email", new.as_str()), ("password", "not my password")],
                StatusCode::BAD_REQUEST,
                "current password is not right",
            ),
            (
                [
                    ("new_email", "not an address"),
                    ("password", "correct horse battery"),
                ],
                StatusCode::BAD_REQUEST,
                "",
            ),
            (
                [
                    ("new_email", old.as_str()),
                    ("password", "correct horse battery"),
                ],
                StatusCode::BAD_REQUEST,
                "already your email",
            ),
            (
                [
                    ("new_email", taken.as_str()),
                    ("password", "correct horse battery"),
                ],
                StatusCode::CONFLICT,
                "belongs to another account",
            ),
        ] {
            let refused = me.submit("/account", "/account/email", &fields).await;
            assert_eq!(refused.status, status, "{fields:?}: {}", refused.body);
            assert!(refused.body.contains(words), "{}", refused.body);
        }
        assert!(smtp.no_mail_waiting());

        let asked = me
            .submit(
                "/account",
                "/account/email",
                &[("new_email", &new), ("password", "correct horse battery")],
            )
            .await;
        assert_eq!(
            asked.location(),
            "/account?done=email_link",
            "{}",
            asked.body
        );
        let account = me.get(asked.location()).await;
        assert!(account.body.contains("We sent a link to your new address."));
        assert!(
            account.body.contains(&old),
            "the email stays until the link is opened"
        );
        let (to, body) = next_mail(&mut smtp).await;
        assert_eq!(
            to,
            vec![new_normalised.clone()],
            "the link goes to the new address"
        );
        let (first_path, _) = link_in(&body);

        // Asking again voids the first link; the newest works, once, from another browser.
        let again = me
            .api(
                "POST",
                "/api/v1/account/email",
                Some(json!({"new_email": new, "password": "correct horse battery"})),
            )
            .await;
        assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
        assert_eq!(
            again.json(),
            json!({"pending_email": new_normalised, "expires_in_ms": EMAIL_LINK_MS})
        );
        let (_, body) = next_mail(&mut smtp).await;
        let (path, token) = link_in(&body);
        let mut phone = app.browser();
        assert_eq!(
            phone.get(&first_path).await.status,
            StatusCode::BAD_REQUEST,
            "the older link stopped working"
        );
        let page = phone.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains(&new_normalised));
        let confirmed = phone
            .post_form(
                "/account/email/confirm",
                &[("csrf", &page.csrf()), ("token", &token)],
            )
            .await;
        assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
        assert!(confirmed.body.contains(&format!("is now {new_normalised}")));
        let (to, body) = next_mail(&mut smtp).await;
        assert_eq!(to, vec![old.clone()], "the old address is told");
        assert!(body.contains(&new_normalised));

        let me_now = me.api("GET", "/api/v1/me", None).await;
        assert_eq!(me_now.status, StatusCode::OK, "the session keeps working");
        assert_eq!(me_now.json()["email"], new_normalised.as_str());
        let used = phone.get(&path).await;
        assert_eq!(used.status, StatusCode::BAD_REQUEST, "the link works once");
        assert!(used.body.contains("expired or was already used"));
        let mut fresh = app.browser();
        assert_eq!(
            fresh
                .log_in(&new_normalised, "correct horse battery")
                .await
                .status,
            StatusCode::SEE_OTHER,
            "the new address logs in"
        );
        let audit = app
            .state
            .db
            .audit_for("user", me_now.json()["id"].as_str().unwrap())
            .await
            .unwrap();
        assert!(
            audit.iter().any(|a| a.action == "change_email"),
            "{audit:?}"
        );

        // A link expires.
        let later = me
            .api(
                "POST",
                "/api/v1/account/email",
                Some(json!({"new_email": format!("later-{backend}@example.com"), "password": "correct horse battery"})),
            )
            .await;
        assert_eq!(later.status, StatusCode::ACCEPTED, "{}", later.body);
        let (_, body) = next_mail(&mut smtp).await;
        let (path, _) = link_in(&body);
        app.clock.advance_ms(EMAIL_LINK_MS + 1);
        assert_eq!(phone.get(&path).await.status, StatusCode::BAD_REQUEST);
    }
}
