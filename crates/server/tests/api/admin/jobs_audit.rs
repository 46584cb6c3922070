//! Staff see the jobs that failed for good and queue one again with a reason; the audit log is
//! filtered by actor, customer, mailbox and action, on the page and in the API.

use axum::http::StatusCode;
use serde_json::json;
use smartbox_store::NewJob;

use super::{act, staff};
use crate::portal::helpers::{PortalApp, START_MS, spawn_apps};

/// A job of `kind` that failed for good with `error`; its id.
async fn failed_job(app: &PortalApp, kind: &str, error: &str) -> String {
    let db = &app.state.db;
    let id = uuid::Uuid::new_v4().to_string();
    db.enqueue_job(&NewJob {
        id: &id,
        kind,
        payload: json!({}),
        unique_key: None,
        run_at: 0,
        max_attempts: 1,
    })
    .await
    .expect("enqueued");
    let claimed = db
        .claim_job("test-worker", START_MS, 60_000)
        .await
        .expect("claimed")
        .expect("a job");
    assert_eq!(claimed.id, id);
    assert!(
        db.fail_job(&id, "test-worker", error, None, START_MS)
            .await
            .expect("failed")
    );
    id
}

#[tokio::test]
async fn staff_see_a_failed_job_with_its_error_and_queue_it_again_once_with_a_reason() {
    for app in spawn_apps().await {
        let id = failed_job(&app, "payment_retry", "card_declined: do_not_honor").await;
        let mut support = staff(&app, "jo@smartbox.example", "support").await;
        let page = support.get("/admin/jobs").await;
        assert!(
            page.body.contains("card_declined: do_not_honor"),
            "{}",
            page.body
        );
        let api = support
            .api("GET", "/api/admin/v1/jobs?kind=payment_retry", None)
            .await;
        assert_eq!(api.json()[0]["id"], id.as_str());

        let retried = support
            .submit(
                "/admin/jobs",
                &format!("/admin/jobs/{id}/retry"),
                &[("reason", "card updated")],
            )
            .await;

        assert_eq!(retried.status, StatusCode::SEE_OTHER, "{}", retried.body);
        let job = app.state.db.job_by_id(&id).await.unwrap().unwrap();
        assert_eq!(
            (job.attempts, job.run_at),
            (0, START_MS),
            "on {}",
            app.backend
        );
        let again = support
            .api(
                "POST",
                &format!("/api/admin/v1/jobs/{id}/retry"),
                Some(json!({"reason": "again"})),
            )
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
        let audit = app.state.db.audit_for("job", &id).await.unwrap();
        assert_eq!(audit.len(), 1);
        assert!(audit[0].detail.contains("card updated"));
    }
}

#[tokio::test]
async fn the_audit_log_is_filtered_by_actor_customer_mailbox_and_action() {
    for app in spawn_apps().await {
        let h = app.household("audit@example.com", "SB-AUDIT-01").await;
        app.make_devices(&["SB-AUDIT-02"]).await;
        let other = app
            .state
            .db
            .device_by_serial("SB-AUDIT-02")
            .await
            .unwrap()
            .unwrap();
        let mut admin = staff(&app, "ada@smartbox.example", "admin").await;
        let actor = format!(
            "staff:{}",
            app.state
                .db
                .user_by_email("ada@smartbox.example")
                .await
                .unwrap()
                .unwrap()
                .id
        );
        assert_eq!(
            act(&mut admin, &other.id, "ship", "to the shop")
                .await
                .status,
            StatusCode::SEE_OTHER
        );
        assert_eq!(
            act(&mut admin, &h.device_id, "decommission", "stolen")
                .await
                .status,
            StatusCode::SEE_OTHER
        );

        let by_device = admin
            .api("GET", "/api/admin/v1/audit?device=sb-audit-02", None)
            .await;
        let by_customer = admin
            .api(
                "GET",
                &format!("/api/admin/v1/audit?customer={}", h.user_id),
                None,
            )
            .await;
        let by_action = admin
            .api("GET", "/api/admin/v1/audit?action=decommission", None)
            .await;
        let by_actor = admin
            .api(
                "GET",
                &format!("/api/admin/v1/audit?actor={actor}&action=shipped"),
                None,
            )
            .await;

        let actions = |answer: &crate::portal::helpers::Answer| -> Vec<String> {
            answer
                .json()
                .as_array()
                .expect("a list")
                .iter()
                .map(|e| e["action"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(actions(&by_device), ["shipped"], "on {}", app.backend);
        assert_eq!(actions(&by_customer), ["decommission", "claim"]);
        assert_eq!(actions(&by_action), ["decommission"]);
        assert_eq!(actions(&by_actor), ["shipped"]);
        assert_eq!(by_device.json()[0]["detail"]["cause"], "to the shop");
        let page = admin.get("/admin/audit?device=SB-AUDIT-01").await;
        assert!(page.body.contains("stolen"), "{}", page.body);
        let nobody = admin
            .api("GET", "/api/admin/v1/audit?device=NO-SUCH", None)
            .await;
        assert_eq!(nobody.json(), json!([]));
    }
}
