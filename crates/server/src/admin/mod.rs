//! The admin console's pages under `/admin` (DESIGN §6): the overview, the customer search and a
//! customer's page, the device inventory and a mailbox's page with its lifecycle actions. Only
//! staff reach them ([`Staff`]); a signed-in customer gets 404. Every action is one call to a staff service (`services::staff_*`)
//! with the staff member as actor and their reason; the pages only parse and render. The JSON
//! twins are in `crate::admin_api`.

pub mod account_actions;
pub mod analytics;
pub mod audit;
mod charts;
pub mod customers;
pub mod device_history;
pub mod devices;
pub mod firmware;
pub mod jobs;
pub mod labels;
mod overview;
pub mod payments;
pub mod staff;
pub mod templates;
pub mod tickets;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};

use crate::accounts::guard;
use crate::state::AppState;

pub use staff::{ApiStaff, Staff};

/// Every admin page, behind the cross-site guard and the security headers.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/admin", get(overview::page))
        .route("/admin/customers", get(customers::list))
        .route("/admin/customers/{customer_id}", get(customers::page))
        .route(
            "/admin/customers/{customer_id}/password-reset",
            post(account_actions::password_reset),
        )
        .route(
            "/admin/subscriptions/{subscription_id}/cancel",
            post(account_actions::cancel),
        )
        .route(
            "/admin/subscriptions/{subscription_id}/resume",
            post(account_actions::resume),
        )
        .route(
            "/admin/subscriptions/{subscription_id}/plan",
            post(account_actions::change_plan),
        )
        .route(
            "/admin/subscriptions/{subscription_id}/credit",
            post(account_actions::credit),
        )
        .route(
            "/admin/invoices/{invoice_id}/resend",
            post(account_actions::resend_invoice),
        )
        .route("/admin/devices", get(devices::list))
        .route(
            "/admin/devices/import",
            get(labels::page).post(labels::import),
        )
        .route("/admin/devices/{device_id}", get(devices::page))
        .route(
            "/admin/photos/{event_id}/{index}/thumbnail",
            get(device_history::thumbnail),
        )
        .route("/admin/devices/{device_id}/{action}", post(devices::act))
        .route("/admin/devices/{device_id}/tags", post(devices::tag))
        .route(
            "/admin/devices/{device_id}/tags/{tag}/remove",
            post(devices::untag),
        )
        .route(
            "/admin/payments/{payment_id}/refund",
            post(payments::refund),
        )
        .route("/admin/firmware", get(firmware::page))
        .route("/admin/firmware/rollouts", post(firmware::start))
        .route(
            "/admin/firmware/images",
            post(firmware::upload).layer(axum::extract::DefaultBodyLimit::max(
                firmware::MAX_UPLOAD_BYTES,
            )),
        )
        .route(
            "/admin/firmware/rollouts/{rollout_id}/{command}",
            post(firmware::act),
        )
        .route("/admin/jobs", get(jobs::list))
        .route("/admin/jobs/{job_id}/retry", post(jobs::retry))
        .route("/admin/audit", get(audit::page))
        .route("/admin/tickets", get(tickets::inbox))
        .route("/admin/tickets/saved-replies", post(tickets::save_reply))
        .route("/admin/tickets/{ticket_id}", get(tickets::page))
        .route(
            "/admin/tickets/{ticket_id}/settings",
            post(tickets::settings),
        )
        .route("/admin/tickets/{ticket_id}/{action}", post(tickets::write))
        .route(
            "/admin/tickets/{ticket_id}/photos/{event_id}/{index}",
            get(tickets::photo),
        )
        .route("/admin/analytics", get(analytics::page))
        .route("/admin/analytics.csv", get(analytics::csv))
        .route("/admin/analytics/movements", get(analytics::movements))
        .route(
            "/admin/analytics/spend",
            get(analytics::spend).post(analytics::set_spend),
        )
        .merge(crate::admin_api::router())
        .layer(middleware::from_fn_with_state(state, guard::protect))
}

/// Where staff land after logging in.
pub const HOME: &str = "/admin";
