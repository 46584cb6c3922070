//! The analytics console as staff use it: the period picker and its refusals, the spend form
//! (an admin's, audited; support reads), the CSV and the JSON API giving the same numbers, the
//! drill-down, and nothing of it for a customer.

use axum::http::StatusCode;

use crate::admin::staff;
use crate::portal::helpers::{PortalApp, spawn_apps};

/// May 2026's spend, $1,250.00, counted for May 1-20 in the 30 days to May 20: 125000 x 20/31.
const SPEND_NUMERATOR: &str = "2500000";

async fn enter_spend(app: &PortalApp) -> crate::portal::helpers::Browser {
    let mut admin = staff(app, "ada@smartbox.example", "admin").await;
    let refused = admin
        .submit(
            "/admin/analytics/spend",
            "/admin/analytics/spend",
            &[
                ("month", "2026-05"),
                ("channel", "Search ads"),
                ("amount", "12.345"),
                ("reason", "May invoice"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        refused.body.contains("is not an amount in dollars"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("value=\"Search ads\""),
        "what was typed is kept"
    );
    let no_reason = admin
        .submit(
            "/admin/analytics/spend",
            "/admin/analytics/spend",
            &[
                ("month", "2026-05"),
                ("channel", "Search ads"),
                ("amount", "1250"),
                ("reason", ""),
            ],
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::BAD_REQUEST);
    assert!(no_reason.body.contains("Say why"), "{}", no_reason.body);
    let bad_month = admin
        .submit(
            "/admin/analytics/spend",
            "/admin/analytics/spend",
            &[
                ("month", "May"),
                ("channel", "Search ads"),
                ("amount", "1250"),
                ("reason", "May invoice"),
            ],
        )
        .await;
    assert_eq!(bad_month.status, StatusCode::BAD_REQUEST);
    assert!(
        bad_month.body.contains("is not a month like 2027-03"),
        "{}",
        bad_month.body
    );

    let saved = admin
        .submit(
            "/admin/analytics/spend",
            "/admin/analytics/spend",
            &[
                ("month", "2026-05"),
                ("channel", "Search ads"),
                ("amount", "1250.00"),
                ("reason", "May invoice"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let page = admin.get(saved.location()).await;
    assert!(
        page.body.contains("Spend saved.") && page.body.contains("$1250.00"),
        "{}",
        page.body
    );
    let audit = app
        .state
        .db
        .audit_for("acquisition_spend", "2026-05/search ads")
        .await
        .expect("read");
    assert_eq!(audit.len(), 1, "{}", app.backend);
    assert!(audit[0].detail.contains("May invoice") && audit[0].detail.contains("125000"));
    admin
}

#[tokio::test]
async fn staff_read_the_figures_as_a_page_csv_and_json_and_an_admin_enters_spend() {
    for app in spawn_apps().await {
        let mut customer = app.customer("cy@example.test").await;
        assert_eq!(
            customer.get("/admin/analytics").await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            customer
                .api("GET", "/api/admin/v1/metrics", None)
                .await
                .status,
            StatusCode::NOT_FOUND
        );

        let mut support = staff(&app, "sam@smartbox.example", "support").await;
        let spend_page = support.get("/admin/analytics/spend").await;
        assert!(spend_page.body.contains("Only an admin can enter spend."));
        let csrf = spend_page.csrf();
        let refused = support
            .post_form(
                "/admin/analytics/spend",
                &[
                    ("csrf", &csrf),
                    ("month", "2026-05"),
                    ("channel", "tv"),
                    ("amount", "1"),
                    ("reason", "try"),
                ],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

        let mut admin = enter_spend(&app).await;

        let page = admin.get("/admin/analytics").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("Acquisition spend") && page.body.contains("<svg"));
        assert!(
            page.body.contains("aria-current=\"page\">Analytics"),
            "the nav marks the page"
        );
        assert!(
            page.body.contains("$806.45"),
            "20/31 of $1,250: {}",
            page.body
        );
        let year = admin.get("/admin/analytics?period=12m").await;
        assert_eq!(year.status, StatusCode::OK);
        assert!(
            year.body.contains("2025-05-21 to 2026-05-20"),
            "{}",
            year.body
        );
        for (query, message) in [
            ("period=7y", "is not a period"),
            (
                "period=custom&from=2026-05-10&to=2026-05-01",
                "start date is after the end date",
            ),
            (
                "period=custom&from=2026-05-01&to=2026-06-01",
                "in the future",
            ),
            (
                "period=custom&from=someday&to=2026-05-01",
                "is not a date like",
            ),
        ] {
            let answer = admin.get(&format!("/admin/analytics?{query}")).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
            assert!(answer.body.contains(message), "{query}: {}", answer.body);
        }

        let csv = admin.get("/admin/analytics.csv?period=30d").await;
        assert_eq!(csv.status, StatusCode::OK);
        assert_eq!(
            csv.headers["content-type"].to_str().unwrap(),
            "text/csv; charset=utf-8"
        );
        let line = csv
            .body
            .lines()
            .find(|l| l.contains(",acquisition_spend,"))
            .expect("a spend line");
        assert!(
            line.starts_with(
                "2026-04-21,2026-05-20,acquisition_spend,\"Acquisition spend\",cents,"
            ) && line.contains(&format!(",{SPEND_NUMERATOR},31,")),
            "{line}"
        );
        assert_eq!(
            admin.get("/admin/analytics.csv?period=1d").await.status,
            StatusCode::BAD_REQUEST
        );

        let json = admin
            .api(
                "GET",
                "/api/admin/v1/metrics?from=2026-04-21&to=2026-05-20",
                None,
            )
            .await;
        assert_eq!(json.status, StatusCode::OK, "{}", json.body);
        let body = json.json();
        let spend = body["figures"]
            .as_array()
            .expect("figures")
            .iter()
            .find(|f| f["key"] == "acquisition_spend")
            .expect("the spend figure");
        assert_eq!(spend["current"]["numerator"].to_string(), SPEND_NUMERATOR);
        assert_eq!(spend["current"]["denominator"], 31);
        assert_eq!(spend["unit"], "cents");
        let mrr = body["figures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["key"] == "mrr")
            .unwrap();
        assert_eq!(mrr["current"]["numerator"], 0);
        let bad = admin
            .api("GET", "/api/admin/v1/metrics?from=2026-05-01&to=nope", None)
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert_eq!(bad.json()["error"], "invalid_period");

        let drill = admin
            .get("/admin/analytics/movements?kind=churn&period=90d")
            .await;
        assert_eq!(drill.status, StatusCode::OK);
        assert!(
            drill.body.contains("Nobody in this period."),
            "{}",
            drill.body
        );
        let unknown = admin.get("/admin/analytics/movements?kind=gold").await;
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
        assert!(unknown.body.contains("is not a movement"));
    }
}
