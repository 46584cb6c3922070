//! The customer portal: server-rendered pages (minijinja templates embedded in the binary), the
//! onboarding flow, the live dashboard stream, photos, and the static files the pages load. Every
//! route here and in the customer JSON API passes [`crate::accounts::guard::protect`].

pub mod billing;
pub mod claim;
pub mod dashboard;
pub mod devices;
pub mod error;
pub mod format;
pub mod gallery;
pub mod live;
pub mod photos;
pub mod render;
pub mod settings;
pub mod statics;
pub mod templates;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};

use crate::accounts::{guard, handlers};
use crate::state::AppState;

pub use error::PageError;

/// Every portal page, the account forms, the customer JSON API and the static files, behind the
/// cross-site guard and the security headers.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::home))
        .route("/signup", get(handlers::signup_page).post(handlers::signup))
        .route("/login", get(handlers::login_page).post(handlers::login))
        .route("/logout", post(handlers::logout))
        .route(
            "/forgot-password",
            get(handlers::forgot_page).post(handlers::forgot),
        )
        .route(
            "/reset-password",
            get(handlers::reset_page).post(handlers::reset),
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
        .route("/billing/invoices/{invoice_id}", get(billing::invoice_page))
        .route(
            "/billing/plan",
            get(billing::plan_preview).post(billing::change_plan),
        )
        .route("/billing/cancel", post(billing::cancel))
        .route("/billing/resume", post(billing::resume))
        .route("/devices", get(devices::page))
        .route(
            "/devices/{device_id}",
            get(devices::device_page).post(devices::save),
        )
        .route("/devices/{device_id}/return", post(devices::start_return))
        .route("/static/{file}", get(statics::file))
        .route("/manifest.webmanifest", get(statics::manifest))
        .route("/sw.js", get(statics::service_worker))
        .merge(crate::customer_api::router())
        .layer(middleware::from_fn_with_state(state, guard::protect))
}
