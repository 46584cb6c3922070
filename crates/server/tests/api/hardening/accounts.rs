//! Sign-up, login and password reset under abuse: bounded hashing, limits that hold under
//! parallel guesses, lockout per (account, address), proxies, open redirects and reset links.

use std::time::Duration;

use axum::http::StatusCode;
use futures::future::join_all;
use smartbox_notify::testing::smtp::SmtpServer;
use smartbox_server::accounts::rate_limit;
use smartbox_server::config::Config;

use crate::portal::helpers::{
    Browser, PortalApp, spawn_apps, spawn_apps_with, spawn_sqlite, spawn_sqlite_with,
};

const PASSWORD: &str = "correct horse battery";

fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect("a valid configuration")
}

#[tokio::test]
async fn a_next_with_a_tab_or_a_newline_does_not_redirect_off_site_or_fail() {
    let app = spawn_sqlite().await;
    app.customer("nina@example.com").await;
    for next in [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\\evil.example",
        "/ok\r\nSet-Cookie: x=1",
        "/caf\u{e9}",
        "/x\u{7f}",
    ] {
        let mut browser = app.browser();
        let answer = browser
            .submit(
                "/login",
                "/login",
                &[
                    ("email", "nina@example.com"),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::SEE_OTHER,
            "{next:?}: {}",
            answer.body
        );
        assert_eq!(answer.location(), "/dashboard", "{next:?}");
    }
    let mut browser = app.browser();
    let fine = browser
        .submit(
            "/login",
            "/login",
            &[
                ("email", "nina@example.com"),
                ("password", PASSWORD),
                ("next", "/gallery?page=2"),
            ],
        )
        .await;
    assert_eq!(fine.location(), "/gallery?page=2");
}

#[tokio::test]
async fn sixty_parallel_wrong_passwords_for_one_account_get_five_tries() {
    for app in spawn_apps().await {
        app.customer("olga@example.com").await;
        let mut attacker = app.browser_from("198.51.100.20:4000");
        let csrf = attacker.get("/login").await.csrf();
        let tries = (0..60).map(|_| {
            let mut browser = attacker.clone();
            let csrf = csrf.clone();
            async move {
                browser
                    .post_form(
                        "/login",
                        &[
                            ("csrf", &csrf),
                            ("email", "olga@example.com"),
                            ("password", "guess"),
                        ],
                    )
                    .await
                    .status
            }
        });
        let statuses = join_all(tries).await;
        let checked = statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count();
        let refused = statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert_eq!(checked, 5, "{}: {statuses:?}", app.backend);
        assert_eq!(refused, 55, "{}", app.backend);
    }
}

#[tokio::test]
async fn a_guesser_elsewhere_cannot_lock_the_owner_out_and_waits_longer_each_time() {
    for app in spawn_apps().await {
        app.customer("pia@example.com").await;
        let mut attacker = app.browser_from("198.51.100.7:4000");
        for _ in 0..5 {
            let answer = attacker.log_in("pia@example.com", "wrong password").await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", app.backend);
        }
        let locked = attacker.log_in("pia@example.com", "wrong password").await;
        assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
        let mut owner = app.browser_from("203.0.113.9:5000");
        assert_eq!(
            owner.log_in("pia@example.com", PASSWORD).await.status,
            StatusCode::SEE_OTHER,
            "{}: the owner's address is not locked",
            app.backend
        );
        // The backoff: 30 s after the fifth failure one more try, then 60 s.
        app.clock.advance_s(31);
        let after_wait = attacker.log_in("pia@example.com", "wrong password").await;
        assert_eq!(after_wait.status, StatusCode::UNAUTHORIZED);
        app.clock.advance_s(31);
        let too_soon = attacker.log_in("pia@example.com", "wrong password").await;
        assert_eq!(too_soon.status, StatusCode::TOO_MANY_REQUESTS);
        app.clock.advance_s(30);
        let right = attacker.log_in("pia@example.com", PASSWORD).await;
        assert_eq!(
            right.status,
            StatusCode::SEE_OTHER,
            "the right password after the wait"
        );
    }
}

/// A wrong password for quinn@example.com from `browser`, with `X-Forwarded-For: forwarded_for`.
async fn guess_forwarded_for(browser: &mut Browser, forwarded_for: &str) -> StatusCode {
    let csrf = browser.get("/login").await.csrf();
    browser
        .post_form_with(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "quinn@example.com"),
                ("password", "guess"),
            ],
            &[
                ("origin", "http://127.0.0.1:8080"),
                ("x-forwarded-for", forwarded_for),
            ],
        )
        .await
        .status
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_limit_and_nobody_else_can_pick_one() {
    let proxied = spawn_sqlite_with(config(&[
        ("SMARTBOX_TRUSTED_PROXIES", "10.0.0.0/8"),
        ("SMARTBOX_ALLOW_PRIVATE_WEBHOOKS", "true"),
    ]))
    .await;
    proxied.customer("quinn@example.com").await;
    let mut proxy = proxied.browser_from("10.0.0.2:40000");
    for _ in 0..5 {
        let status = guess_forwarded_for(&mut proxy, "198.51.100.1").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let status = guess_forwarded_for(&mut proxy, "198.51.100.1").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        guess_forwarded_for(&mut proxy, "198.51.100.2").await,
        StatusCode::UNAUTHORIZED,
        "another client behind the same proxy is not limited"
    );

    // Without trusted proxies the header is the client's own claim and is ignored.
    let direct = spawn_sqlite().await;
    direct.customer("quinn@example.com").await;
    let mut client = direct.browser_from("198.51.100.3:4000");
    for i in 0..6 {
        let status = guess_forwarded_for(&mut client, &format!("192.0.2.{i}")).await;
        let expected = if i < 5 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(status, expected, "try {i}");
    }
}

#[tokio::test]
async fn sign_ups_from_one_address_are_limited() {
    let app = spawn_sqlite().await;
    let mut browser = app.browser_from("198.51.100.30:4000");
    let limit = usize::try_from(rate_limit::SIGNUPS_PER_ADDRESS).unwrap();
    for i in 0..limit {
        let answer = browser
            .submit(
                "/signup",
                "/signup",
                &[
                    ("email", &format!("s{i}@example.com")),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "sign-up {i}");
        browser = app.browser_from("198.51.100.30:4000");
    }
    let refused = browser
        .submit(
            "/signup",
            "/signup",
            &[("email", "one-more@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance_s(3601);
    let later = browser
        .submit(
            "/signup",
            "/signup",
            &[("email", "one-more@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(later.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn sign_ups_past_the_hashing_queue_get_503_instead_of_memory() {
    let mut config = config(&[]);
    config.hashing_slots = 1;
    config.hashing_queue_deadline = Duration::from_millis(1);
    let app = spawn_sqlite_with(config).await;
    let browsers: Vec<(Browser, String)> = join_all((0..8).map(|i| {
        let mut browser = app.browser_from(&format!("198.51.100.{}:4000", 40 + i));
        async move {
            let csrf = browser.get("/signup").await.csrf();
            (browser, csrf)
        }
    }))
    .await;
    let statuses = join_all(browsers.into_iter().enumerate().map(
        |(i, (mut browser, csrf))| async move {
            browser
                .post_form(
                    "/signup",
                    &[
                        ("csrf", &csrf),
                        ("email", &format!("q{i}@example.com")),
                        ("password", PASSWORD),
                    ],
                )
                .await
                .status
        },
    ))
    .await;
    assert!(statuses.contains(&StatusCode::SEE_OTHER), "{statuses:?}");
    assert!(
        statuses.contains(&StatusCode::SERVICE_UNAVAILABLE),
        "one hashing slot, no queue: {statuses:?}"
    );
}

async fn reset_link(smtp: &mut SmtpServer) -> String {
    let mail = tokio::time::timeout(Duration::from_secs(10), smtp.next_mail())
        .await
        .expect("a reset email");
    let parsed = mail_parser::MessageParser::default()
        .parse(&mail.data)
        .expect("a MIME message");
    let text = parsed.body_text(0).expect("a text body").into_owned();
    let start = text.find("/reset-password?token=").expect("the link");
    text[start..]
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_owned()
}

async fn forgot(app: &PortalApp, email: &str) -> StatusCode {
    app.browser()
        .submit("/forgot-password", "/forgot-password", &[("email", email)])
        .await
        .status
}

#[tokio::test]
async fn a_new_reset_link_voids_the_older_ones_and_a_used_one_voids_the_rest() {
    let mut smtp = SmtpServer::start().await;
    let url = smtp.url();
    for app in spawn_apps_with(&config(&[("SMARTBOX_SMTP_URL", &url)])).await {
        let email = format!("rita-{}@example.com", app.backend);
        app.customer(&email).await;
        assert_eq!(forgot(&app, &email).await, StatusCode::OK);
        let first = reset_link(&mut smtp).await;
        assert_eq!(forgot(&app, &email).await, StatusCode::OK);
        let second = reset_link(&mut smtp).await;
        let mut browser = app.browser();
        assert_eq!(
            browser.get(&first).await.status,
            StatusCode::BAD_REQUEST,
            "{}: the older link is void",
            app.backend
        );
        assert_eq!(browser.get(&second).await.status, StatusCode::OK);
        let token = second.split("token=").nth(1).unwrap_or("").to_owned();
        let done = browser
            .submit(
                &second,
                "/reset-password",
                &[("token", &token), ("password", "a new password")],
            )
            .await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        assert_eq!(browser.get(&second).await.status, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn asking_for_reset_emails_is_limited_per_address() {
    let app = spawn_sqlite().await;
    app.customer("sam@example.com").await;
    let limit = rate_limit::RESET_REQUESTS_PER_ADDRESS;
    for _ in 0..limit {
        assert_eq!(forgot(&app, "sam@example.com").await, StatusCode::OK);
    }
    assert_eq!(
        forgot(&app, "sam@example.com").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        app.browser_from("203.0.113.50:1")
            .submit(
                "/forgot-password",
                "/forgot-password",
                &[("email", "sam@example.com")]
            )
            .await
            .status,
        StatusCode::OK,
        "another address is not limited"
    );
}

#[tokio::test]
async fn pages_served_for_an_https_public_url_tell_browsers_to_stay_on_https() {
    let app = spawn_sqlite_with(config(&[(
        "SMARTBOX_PUBLIC_URL",
        "https://mailbox.example",
    )]))
    .await;
    let page = app.browser().get("/login").await;
    let hsts = page
        .headers
        .get("strict-transport-security")
        .and_then(|v| v.to_str().ok());
    assert_eq!(hsts, Some("max-age=31536000"));
    let plain = spawn_sqlite().await.browser().get("/login").await;
    assert!(plain.headers.get("strict-transport-security").is_none());
}
