//! The customer portal: server-rendered pages (minijinja templates embedded in the binary), the
//! onboarding flow, the live dashboard stream, photos, and the static files the pages load. Every
//! route here and in the customer JSON API passes [`crate::accounts::guard::protect`] (the app
//! adds it to both).

pub mod account;
pub mod accounts;
pub mod billing;
pub mod claim;
pub mod dashboard;
pub mod devices;
pub mod error;
mod extract;
pub mod format;
pub mod gallery;
pub mod live;
pub mod notice;
pub mod photos;
pub mod render;
pub mod settings;
pub mod statics;
pub mod status_line;
pub mod support;
pub mod templates;
pub mod words;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub use error::PageError;

/// Every portal page, the account forms and the static files. The app puts them and the
/// customer JSON API behind [`crate::accounts::guard::protect`].
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::home))
        .route("/signup", get(accounts::signup_page).post(accounts::signup))
        .route("/login", get(accounts::login_page).post(accounts::login))
        .route("/logout", post(accounts::logout))
        .route(
            "/forgot-password",
            get(accounts::forgot_page).post(accounts::forgot),
        )
        .route(
            "/reset-password",
            get(accounts::reset_page).post(accounts::reset),
        )
        .route("/claim", get(claim::claim_page).post(claim::claim))
        .route(
            "/claim/plan",
            get(claim::plan_page).post(claim::choose_plan),
        )
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/live", get(live::stream))
        .route("/gallery", get(gallery::page))
        .route("/gallery/{event_id}", get(gallery::event_page))
        .route("/gallery/{event_id}/correction", post(gallery::correct))
        .route("/gallery/{event_id}/delete", post(gallery::delete))
        .route("/photos/{event_id}/{index}", get(photos::photo))
        .route(
            "/photos/{event_id}/{index}/thumbnail",
            get(photos::thumbnail),
        )
        .route("/settings", get(settings::page).post(settings::save))
        .route("/billing", get(billing::page))
        .route(
            "/billing/payment-method",
            get(billing::payment_method_page).post(billing::save_card),
        )
        .route("/billing/payment-method/remove", post(billing::remove_card))
        .route("/billing/invoices/{invoice_id}", get(billing::invoice_page))
        .route(
            "/billing/plan",
            get(billing::plan_preview).post(billing::change_plan),
        )
        .route("/billing/cancel", post(billing::cancel))
        .route("/billing/resume", post(billing::resume))
        .route("/account", get(account::page))
        .route("/account/password", post(account::change_password))
        .route("/account/email", post(account::change_email))
        .route(
            "/account/email/confirm",
            get(account::confirm_email_page).post(account::confirm_email),
        )
        .route("/account/delete", post(account::delete_account))
        .route(
            "/account/sessions/sign-out-others",
            post(account::sign_out_others),
        )
        .route("/account/export", get(account::export))
        .route("/devices", get(devices::page))
        .route(
            "/devices/{device_id}",
            get(devices::device_page).post(devices::save),
        )
        .route("/devices/{device_id}/return", post(devices::start_return))
        .route(
            "/devices/{device_id}/return/cancel",
            post(devices::cancel_return),
        )
        .route(
            "/devices/{device_id}/return/slip",
            get(devices::packing_slip),
        )
        .route("/support", get(support::list))
        .route("/support/new", get(support::new_page).post(support::open))
        .route(
            "/support/{ticket_id}",
            get(support::ticket).post(support::reply),
        )
        .route(
            "/support/{ticket_id}/{action}",
            post(support::close_or_reopen),
        )
        .route("/static/{file}", get(statics::file))
        .route("/manifest.webmanifest", get(statics::manifest))
        .route("/sw.js", get(statics::service_worker))
}
