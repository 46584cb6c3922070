//! The admin console's stories: staff roles and the matrix of who may do what, and a mailbox's
//! life from the warehouse (ship, decommission, receive a return, refurbish) — on SQLite, and
//! on PostgreSQL when `SMARTBOX_TEST_POSTGRES_URL` is set.

mod account_actions;
mod browser;
mod customers;
mod inventory;
mod jobs_audit;
mod lifecycle;
mod refunds;
mod roles;
mod rollout_browser;
mod rollout_targets;
mod rollouts;

use smartbox_protocol::HEARTBEAT_PATH;
use smartbox_server::provisioning;

use crate::portal::helpers::{Answer, Browser, Household, PortalApp, START_MS};

/// The password every staff account of the stories has.
pub const STAFF_PASSWORD: &str = "staff password 1";

/// A signed-in staff member's browser (`role`: admin or support), created as the CLI would.
pub async fn staff(app: &PortalApp, email: &str, role: &str) -> Browser {
    provisioning::create_user(&app.state.db, email, STAFF_PASSWORD, role, START_MS)
        .await
        .expect("staff created");
    let mut browser = app.browser();
    let answer = browser.log_in(email, STAFF_PASSWORD).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(
        answer.location(),
        "/admin",
        "staff land on the admin console"
    );
    browser
}

const VITALS: &str = r#"{"battery_percent":80,"power_state":"awake","signal_dbm":-85,"network":"cellular","firmware_version":"1.0.0","modem_tx_bytes":0,"modem_rx_bytes":0,"sd_queue_len":0}"#;

/// A signed heartbeat of the household's mailbox, with the secret in `h.factory`, now.
pub async fn heartbeat(app: &PortalApp, h: &mut Household) -> Answer {
    let now_s = app.state.clock.now_ms() / 1000;
    h.device_request(
        "POST",
        HEARTBEAT_PATH,
        "application/json",
        VITALS.as_bytes().to_vec(),
        now_s,
    )
    .await
}

/// Submits the staff action form of the mailbox's admin page with `reason`.
pub async fn act(staff: &mut Browser, device_id: &str, action: &str, reason: &str) -> Answer {
    let page = format!("/admin/devices/{device_id}");
    staff
        .submit(
            &page,
            &format!("/admin/devices/{device_id}/{action}"),
            &[("reason", reason)],
        )
        .await
}
