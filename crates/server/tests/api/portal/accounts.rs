//! Sign-up, login, logout, sessions, CSRF, the cross-site guard, rate limits and password reset.

use axum::http::StatusCode;
use smartbox_notify::testing::smtp::SmtpServer;
use smartbox_server::config::Config;

use crate::portal::helpers::{spawn_apps, spawn_apps_with, spawn_sqlite};

#[tokio::test]
async fn a_new_customer_signs_up_and_gets_a_locked_down_session_cookie() {
    for app in spawn_apps().await {
        let mut browser = app.browser();
        let answer = browser
            .sign_up("Ann@Example.com", "correct horse battery")
            .await;
        assert_eq!(answer.location(), "/dashboard", "{}", app.backend);
        let cookie = answer.set_cookie("sb_session").expect("a session cookie");
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(
            !cookie.contains("Secure"),
            "plain http: no Secure flag ({cookie})"
        );
        let page = browser.get("/dashboard").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains("ann@example.com"),
            "the email is normalised"
        );
        let me = browser.api("GET", "/api/v1/me", None).await.json();
        assert_eq!(me["email"], "ann@example.com");
        assert_eq!(me["role"], "customer");

        let mut again = app.browser();
        let taken = again
            .submit(
                "/signup",
                "/signup",
                &[
                    ("email", "ann@example.com"),
                    ("password", "another password"),
                ],
            )
            .await;
        assert_eq!(taken.status, StatusCode::CONFLICT);
        assert!(taken.body.contains("already exists"));
        let short = again
            .submit(
                "/signup",
                "/signup",
                &[("email", "bob@example.com"), ("password", "short")],
            )
            .await;
        assert_eq!(short.status, StatusCode::BAD_REQUEST);
        assert!(short.body.contains("at least 8 characters"));
    }
}

#[tokio::test]
async fn login_starts_a_new_session_and_logout_ends_it() {
    let app = spawn_sqlite().await;
    let mut first = app.customer("carol@example.com").await;
    let old_session = first.cookies["sb_session"].clone();
    let answer = first
        .log_in("carol@example.com", "correct horse battery")
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let new_session = first.cookies["sb_session"].clone();
    assert_ne!(old_session, new_session, "the session id rotates at login");
    let mut stale = app.browser();
    stale.cookies.insert("sb_session".into(), old_session);
    assert_eq!(
        stale.get("/api/v1/me").await.status,
        StatusCode::UNAUTHORIZED,
        "the old session is gone"
    );

    let csrf = first.get("/dashboard").await.csrf();
    let out = first.post_form("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.location(), "/login");
    let mut replay = app.browser();
    replay.cookies.insert("sb_session".into(), new_session);
    assert_eq!(replay.get("/dashboard").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_its_address_waits_after_five_failures() {
    let app = spawn_sqlite().await;
    app.customer("dave@example.com").await;
    let mut attacker = app.browser_from("198.51.100.7:4000");
    for _ in 0..5 {
        let answer = attacker.log_in("dave@example.com", "wrong password").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert!(answer.body.contains("The email or the password is wrong."));
    }
    let locked = attacker
        .log_in("dave@example.com", "correct horse battery")
        .await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "this account from this address waits"
    );
    let mut owner = app.browser_from("203.0.113.9:5000");
    let elsewhere = owner
        .log_in("dave@example.com", "correct horse battery")
        .await;
    assert_eq!(
        elsewhere.status,
        StatusCode::SEE_OTHER,
        "other addresses are not locked out"
    );
}

#[tokio::test]
async fn one_address_guessing_many_accounts_is_limited() {
    let app = spawn_sqlite().await;
    app.customer("erin@example.com").await;
    let mut attacker = app.browser_from("198.51.100.8:4000");
    for i in 0..20 {
        let answer = attacker
            .log_in(&format!("victim{i}@example.com"), "guess")
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let limited = attacker
        .log_in("erin@example.com", "correct horse battery")
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let mut elsewhere = app.browser_from("203.0.113.10:5000");
    let fine = elsewhere
        .log_in("erin@example.com", "correct horse battery")
        .await;
    assert_eq!(
        fine.status,
        StatusCode::SEE_OTHER,
        "other addresses are not affected"
    );
}

#[tokio::test]
async fn forms_without_their_csrf_token_and_cross_site_posts_are_refused() {
    let app = spawn_sqlite().await;
    let mut browser = app.customer("frank@example.com").await;
    let csrf = browser.get("/settings").await.csrf();
    let no_token = browser
        .post_form("/settings", &[("time_zone", "UTC")])
        .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let wrong = browser
        .post_form("/settings", &[("csrf", "forged"), ("time_zone", "UTC")])
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let other_site = browser
        .post_form_with(
            "/settings",
            &[("csrf", &csrf), ("time_zone", "UTC")],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(other_site.status, StatusCode::FORBIDDEN);
    let fetch_meta = browser
        .post_form_with(
            "/settings",
            &[("csrf", &csrf), ("time_zone", "UTC")],
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(fetch_meta.status, StatusCode::FORBIDDEN);
    let same = browser
        .post_form("/settings", &[("csrf", &csrf), ("time_zone", "UTC")])
        .await;
    assert_eq!(same.status, StatusCode::SEE_OTHER, "{}", same.body);

    let mut anonymous = app.browser();
    let login = anonymous
        .post_form(
            "/login",
            &[
                ("email", "frank@example.com"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    assert_eq!(
        login.status,
        StatusCode::FORBIDDEN,
        "the login form needs its token too"
    );
    let api = browser
        .send(
            axum::http::Request::patch("/api/v1/devices/x")
                .header("content-type", "application/json")
                .body(axum::body::Body::from("{}"))
                .expect("request"),
        )
        .await;
    assert_eq!(
        api.status,
        StatusCode::FORBIDDEN,
        "API writes need X-CSRF-Token"
    );
}

#[tokio::test]
async fn every_page_carries_a_strict_content_security_policy() {
    let app = spawn_sqlite().await;
    let mut browser = app.customer("gina@example.com").await;
    for path in [
        "/login",
        "/dashboard",
        "/gallery",
        "/settings",
        "/billing",
        "/devices",
        "/claim",
    ] {
        let page = browser.get(path).await;
        let csp = page
            .headers
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(
            !page.body.contains("<script>"),
            "{path} has an inline script"
        );
        assert_eq!(
            page.headers.get("x-frame-options").map(|v| v.as_bytes()),
            Some(&b"DENY"[..])
        );
    }
}

#[tokio::test]
async fn a_password_reset_link_works_once_and_ends_every_session() {
    let mut smtp = SmtpServer::start().await;
    let url = smtp.url();
    let config = Config::from_lookup(|name| (name == "SMARTBOX_SMTP_URL").then(|| url.clone()))
        .expect("a configuration with SMTP");
    for app in spawn_apps_with(&config).await {
        let email = format!("hana-{}@example.com", app.backend);
        let mut old = app.customer(&email).await;
        let mut browser = app.browser();
        let sent = browser
            .submit("/forgot-password", "/forgot-password", &[("email", &email)])
            .await;
        assert_eq!(sent.status, StatusCode::OK);
        let unknown = browser
            .submit(
                "/forgot-password",
                "/forgot-password",
                &[("email", "nobody@example.com")],
            )
            .await;
        assert_eq!(
            unknown.status,
            StatusCode::OK,
            "the same answer for an unknown address"
        );
        let mail = smtp.next_mail().await;
        assert_eq!(mail.rcpt_to, vec![email.clone()]);
        assert!(smtp.no_mail_waiting(), "no email for an unknown address");
        let body = mail_parser::MessageParser::default()
            .parse(&mail.data)
            .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
            .expect("a text body");
        let link = body
            .lines()
            .find(|l| l.contains("/reset-password?token="))
            .expect("the link")
            .trim()
            .to_owned();
        let path = link.trim_start_matches("http://127.0.0.1:8080").to_owned();
        let token = path.split("token=").nth(1).unwrap_or("").to_owned();
        let done = browser
            .submit(
                &path,
                "/reset-password",
                &[("token", &token), ("password", "a brand new password")],
            )
            .await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        assert_eq!(
            old.get("/api/v1/me").await.status,
            StatusCode::UNAUTHORIZED,
            "old sessions end"
        );
        let again = browser.get(&path).await;
        assert_eq!(again.status, StatusCode::BAD_REQUEST, "the link works once");
        assert!(
            again.body.contains("expired or was already used"),
            "the error page says why: {}",
            again.body
        );
        assert_eq!(
            browser.log_in(&email, "a brand new password").await.status,
            StatusCode::SEE_OTHER
        );
        assert_eq!(
            app.browser_from("192.0.2.50:1")
                .log_in(&email, "correct horse battery")
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
}
