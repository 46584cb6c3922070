//! The analytics console in headless Chromium (when `SMARTBOX_TEST_CHROMEDRIVER` names a
//! chromedriver), after the year of `business.rs`: twelve months of figures and charts, a
//! movement's customers, and the spend form. Screenshots at 375 and 1280 px go to
//! `target/screenshots/analytics-*`; none of the pages may scroll sideways.

use fantoccini::Locator;
use smartbox_server::provisioning;
use smartbox_store::testing;

use super::business::the_year;
use crate::helpers::spawn_app;
use crate::portal::browser::{
    CHROMEDRIVER_VAR, arrive, browser, click, fill, screenshots, wait_for_text,
};

#[tokio::test]
async fn the_analytics_console_in_chromium() {
    let Some(driver) = std::env::var(CHROMEDRIVER_VAR)
        .ok()
        .filter(|v| !v.is_empty())
    else {
        eprintln!("{CHROMEDRIVER_VAR} is not set: the analytics browser story is skipped");
        return;
    };
    let app = spawn_app(
        testing::sqlite().await,
        std::sync::Arc::new(object_store::memory::InMemory::new()),
        None,
    )
    .await;
    let b = the_year(app).await;
    let app = &b.app;
    provisioning::create_user(
        &app.state.db,
        "ops@smartbox.example",
        "staff password 1",
        "admin",
        smartbox_server::Clock::now_ms(&app.clock),
    )
    .await
    .expect("staff");
    let profile = tempfile::tempdir().expect("a fresh Chromium profile");
    let client = browser(&driver, profile.path()).await;
    let base = &app.base_url;
    client.goto(&format!("{base}/login")).await.expect("login");
    fill(&client, "#email", "ops@smartbox.example").await;
    fill(&client, "#password", "staff password 1").await;
    click(&client, "main button[type=submit]").await;
    assert_eq!(arrive(&client, "/admin").await, "/admin");

    click(&client, "a[href='/admin/analytics']").await;
    arrive(&client, "/admin/analytics").await;
    client
        .find(Locator::Css("#period option[value='12m']"))
        .await
        .expect("the 12 months option")
        .click()
        .await
        .expect("chosen");
    click(&client, "form.filters button[type=submit]").await;
    // The filter keeps the path (only its query changes): wait for the new page's words, not the
    // path, or the old page's `main` may be read as it goes.
    wait_for_text(&client, "main", "2027-01-02 to 2028-01-01").await;
    assert_eq!(
        client
            .find_all(Locator::Css("svg.graph"))
            .await
            .expect("charts")
            .len(),
        7
    );
    screenshots(&client, "analytics-01-year").await;
    client
        .execute(
            "document.getElementById('charts').scrollIntoView();",
            vec![],
        )
        .await
        .expect("scrolled");
    screenshots(&client, "analytics-02-charts").await;

    client
        .find(Locator::LinkText("Churned MRR"))
        .await
        .expect("the churn drill-down")
        .click()
        .await
        .expect("clicked");
    arrive(&client, "/admin/analytics/movements").await;
    let main = client
        .find(Locator::Css("main"))
        .await
        .expect("main")
        .text()
        .await
        .expect("text");
    assert!(
        main.contains("dan@example.test") && main.contains("cat@example.test"),
        "{main}"
    );
    screenshots(&client, "analytics-03-churn").await;

    client
        .goto(&format!("{base}/admin/analytics/spend"))
        .await
        .expect("spend");
    screenshots(&client, "analytics-04-spend").await;
    client.close().await.expect("closed");
}
