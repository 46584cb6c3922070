//! Staff find a customer by email, name, serial or invoice number, a page at a time, and see
//! their mailboxes, subscriptions with this period's usage, invoices, payments and audit trail.

use axum::http::StatusCode;
use smartbox_domain::InvoiceId;

use super::staff;
use crate::portal::helpers::spawn_apps;

#[tokio::test]
async fn staff_find_a_customer_by_email_serial_or_invoice_number_and_see_their_account() {
    for app in spawn_apps().await {
        let h = app.household("hana@example.com", "SB-FIND-01").await;
        app.household("ivan@example.com", "SB-FIND-02").await;
        let number = app
            .state
            .db
            .invoice_by_id(&InvoiceId::new(h.invoice_id.as_str()))
            .await
            .unwrap()
            .expect("the invoice")
            .number;
        let mut support = staff(&app, "finder@smartbox.example", "support").await;
        for q in ["hana", "HANA@example.com", "sb-find-01", number.as_str()] {
            let found = support
                .get(&format!(
                    "/admin/customers?q={}",
                    crate::portal::helpers::encode(q)
                ))
                .await;
            assert_eq!(found.status, StatusCode::OK);
            assert!(
                found.body.contains("hana@example.com"),
                "{q} on {}",
                app.backend
            );
            assert!(
                !found.body.contains("ivan@example.com"),
                "{q} finds only hana"
            );
        }
        let everyone = support.get("/admin/customers").await;
        assert!(everyone.body.contains("ivan@example.com"));
        let finder = app
            .state
            .db
            .user_by_email("finder@smartbox.example")
            .await
            .unwrap()
            .expect("the staff account");
        assert!(
            !everyone
                .body
                .contains(&format!("/admin/customers/{}", finder.id)),
            "staff are not customers"
        );
        let staff_page = support
            .get(&format!("/admin/customers/{}", finder.id))
            .await;
        assert_eq!(staff_page.status, StatusCode::NOT_FOUND);
        let nobody = support.get("/admin/customers?q=nobody-at-all").await;
        assert!(nobody.body.contains("No customer matches."));
        let bad_page = support.get("/admin/customers?page=0").await;
        assert_eq!(bad_page.status, StatusCode::BAD_REQUEST);

        let account = support
            .get(&format!("/admin/customers/{}", h.user_id))
            .await;

        assert_eq!(account.status, StatusCode::OK);
        for expected in [
            "SB-FIND-01",
            &number,
            "$5.00",
            "Free trial",
            "0 of 100",
            "<td>In service</td>",
        ] {
            assert!(
                account.body.contains(expected),
                "{expected}: {}",
                account.body
            );
        }
        assert!(
            !account.body.contains("<td>active_subscription</td>"),
            "the mailbox table says its lifecycle in words: {}",
            account.body
        );
        let unknown = support.get("/admin/customers/no-such-id").await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    }
}
