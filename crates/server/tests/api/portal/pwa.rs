//! The installable web app: the manifest, the service worker at the root, the icons, the layout
//! linking them and the settings page's push script; in headless Chromium (when
//! `SMARTBOX_TEST_CHROMEDRIVER` names a chromedriver) the service worker registers with scope `/`
//! on the settings page. Headless Chromium here reaches no real push service, so no real
//! subscription is made: the subscription's round trip through `/settings` is the form post the
//! script sends, checked over HTTP below (the notifications story decrypts a real push).

use std::time::Duration;

use axum::http::{StatusCode, header};
use fantoccini::Locator;
use serde_json::json;
use smartbox_store::testing;

use crate::helpers::spawn_app;
use crate::portal::browser::{CHROMEDRIVER_VAR, arrive, browser, click, fill, path, wait_for};
use crate::portal::helpers::{Answer, spawn_sqlite};

fn header_of(answer: &Answer, name: header::HeaderName) -> &str {
    answer
        .headers
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn the_manifest_service_worker_and_icons_are_served() {
    let app = spawn_sqlite().await;
    let mut visitor = app.browser();

    let manifest = visitor.get("/manifest.webmanifest").await;
    assert_eq!(manifest.status, StatusCode::OK);
    assert_eq!(
        header_of(&manifest, header::CONTENT_TYPE),
        "application/manifest+json"
    );
    let json = manifest.json();
    assert_eq!(json["name"], "Smart Mailbox");
    assert!(json["short_name"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(json["start_url"], "/dashboard");
    assert_eq!(json["display"], "standalone");
    assert_eq!(json["theme_color"], "#0b5cad");
    assert_eq!(json["background_color"], "#f6f7f9");
    let icons = json["icons"].as_array().expect("icons");
    for size in [192_u32, 512] {
        let icon = icons
            .iter()
            .find(|i| i["sizes"] == format!("{size}x{size}") && i["type"] == "image/png")
            .unwrap_or_else(|| panic!("a {size} px PNG icon in {json}"));
        let src = icon["src"].as_str().expect("src");
        let png = visitor.get(src).await;
        assert_eq!(png.status, StatusCode::OK, "{src}");
        assert_eq!(header_of(&png, header::CONTENT_TYPE), "image/png");
        assert_eq!(&png.bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png.bytes[16..20], &size.to_be_bytes(), "{src} width");
        assert_eq!(&png.bytes[20..24], &size.to_be_bytes(), "{src} height");
    }
    for icon in icons {
        let src = icon["src"].as_str().expect("src");
        let answer = visitor.get(src).await;
        assert_eq!(answer.status, StatusCode::OK, "{src}");
        assert_eq!(
            header_of(&answer, header::CONTENT_TYPE),
            icon["type"].as_str().expect("type"),
            "{src}"
        );
    }

    let worker = visitor.get("/sw.js").await;
    assert_eq!(worker.status, StatusCode::OK);
    assert!(
        header_of(&worker, header::CONTENT_TYPE).starts_with("application/javascript"),
        "{:?}",
        worker.headers
    );
    assert_eq!(header_of(&worker, header::CACHE_CONTROL), "no-cache");
    for handler in [
        "'push'",
        "'notificationclick'",
        "showNotification",
        "openWindow",
    ] {
        assert!(
            worker.body.contains(handler),
            "the worker handles {handler}"
        );
    }
    // The worker reads the payload the server pushes: {id, title, body, url, tag}.
    for field in ["data.title", "data.body", "data.url", "data.tag"] {
        assert!(worker.body.contains(field), "the worker reads {field}");
    }
    // The CSP lets the page register a worker from its own origin and load the manifest.
    let csp = header_of(&worker, header::CONTENT_SECURITY_POLICY);
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("worker-src") || csp.contains("worker-src 'self'"));
}

#[tokio::test]
async fn the_layout_links_the_manifest_and_settings_load_the_push_script() {
    let app = spawn_sqlite().await;
    let mut visitor = app.browser();
    let login = visitor.get("/login").await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(
        login
            .body
            .contains(r#"<link rel="manifest" href="/manifest.webmanifest">"#),
        "{}",
        login.body
    );
    assert!(
        login
            .body
            .contains(r##"<meta name="theme-color" content="#0b5cad">"##)
    );
    assert!(!login.body.contains("/static/push.js"));

    let mut customer = app.customer("pwa@example.com").await;
    let settings = customer.get("/settings").await;
    assert_eq!(settings.status, StatusCode::OK);
    let body = &settings.body;
    assert!(body.contains(r#"<link rel="manifest" href="/manifest.webmanifest">"#));
    assert!(body.contains(r#"<script src="/static/push.js" defer></script>"#));
    assert!(body.contains("Enable notifications on this device"));
    assert!(body.contains(r#"data-vapid-key=""#));
    assert!(!body.contains("<script>"), "no inline script");
    let script = customer.get("/static/push.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(header_of(&script, header::CONTENT_TYPE).starts_with("text/javascript"));
    assert!(script.body.contains("'/sw.js'"));

    // What the script posts: the PushSubscription's JSON, form-encoded with the CSRF token.
    let subscription = json!({
        "endpoint": "https://push.example.com/send/abc",
        "expirationTime": null,
        "keys": {
            "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
            "auth": "tBHItJI5svbpez7KI4CCXg"
        }
    })
    .to_string();
    let csrf = settings.csrf();
    let answer = customer
        .post_form(
            "/settings",
            &[
                ("csrf", &csrf),
                ("push", "subscribe"),
                ("subscription", &subscription),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    let page = customer.get("/settings").await;
    assert!(page.body.contains("(1 now)"), "{}", page.body);
    let answer = customer
        .post_form(
            "/settings",
            &[
                ("csrf", &csrf),
                ("push", "unsubscribe"),
                ("endpoint", "https://push.example.com/send/abc"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    assert!(customer.get("/settings").await.body.contains("(0 now)"));
}

/// In headless Chromium: the settings page registers `/sw.js` and `navigator.serviceWorker.ready`
/// resolves with the scope `/` (127.0.0.1 is a secure context). No push subscription is asserted:
/// the browser here has no network to a real push service.
#[tokio::test]
async fn the_service_worker_controls_the_portal_in_chromium() {
    let Some(driver) = std::env::var(CHROMEDRIVER_VAR)
        .ok()
        .filter(|v| !v.is_empty())
    else {
        eprintln!("{CHROMEDRIVER_VAR} is not set: the service worker check is skipped");
        return;
    };
    let app = spawn_app(testing::sqlite().await, blobs(), None).await;
    let profile = tempfile::tempdir().expect("a fresh Chromium profile");
    let client = browser(&driver, profile.path()).await;
    let base = &app.base_url;

    client
        .goto(&format!("{base}/signup"))
        .await
        .expect("signup page");
    fill(&client, "#email", "sw@example.com").await;
    fill(&client, "#password", "correct horse battery").await;
    click(&client, "main button[type=submit]").await;
    arrive(&client, "/dashboard").await;
    client
        .goto(&format!("{base}/settings"))
        .await
        .expect("settings page");
    assert_eq!(path(&client).await, "/settings");

    let ready = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             if (!('serviceWorker' in navigator)) { done({ error: 'no serviceWorker' }); return; }
             const timer = setTimeout(() => done({ error: 'not ready after 10 s' }), 10000);
             navigator.serviceWorker.ready.then(
               (r) => { clearTimeout(timer); done({ scope: r.scope, script: r.active && r.active.scriptURL, secure: window.isSecureContext }); },
               (e) => { clearTimeout(timer); done({ error: String(e) }); });",
            vec![],
        )
        .await
        .expect("the script ran");
    assert_eq!(
        ready,
        json!({ "scope": format!("{base}/"), "script": format!("{base}/sw.js"), "secure": true }),
        "navigator.serviceWorker.ready"
    );
    // The button is shown (the browser supports push) and answers a click with a message.
    let button = wait_for(&client, "#push-enable").await;
    assert!(button.is_displayed().await.expect("displayed"));
    button.click().await.expect("clicked");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        let text = client
            .find(Locator::Css("#push-status"))
            .await
            .expect("the status")
            .text()
            .await
            .expect("its text");
        if (!text.is_empty() && !text.ends_with('…')) || tokio::time::Instant::now() >= deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        !status.is_empty() && !status.ends_with('…'),
        "the click ends with a settled answer, not {status:?}"
    );
    eprintln!("headless Chromium after the click (no push service reachable): {status}");
    client.close().await.expect("the browser closes");
}

fn blobs() -> std::sync::Arc<dyn object_store::ObjectStore> {
    std::sync::Arc::new(object_store::memory::InMemory::new())
}
