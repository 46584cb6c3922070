//! `GET /api/openapi.json`: the OpenAPI 3.1 document of the service's JSON APIs, generated from the
//! handlers' annotations, so external tools can call and fuzz them. Each API contributes its own
//! document, merged here.

use axum::Json;
use axum::Router;
use axum::routing::get;
use utoipa::OpenApi;

use crate::device_api::docs::DeviceApiDoc;
use crate::state::AppState;

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = DeviceApiDoc::openapi();
    doc.merge(crate::customer_api::CustomerApiDoc::openapi());
    doc.merge(crate::admin_api::AdminApiDoc::openapi());
    doc.merge(crate::customer_api::TicketsApiDoc::openapi());
    doc.merge(crate::admin_api::AdminTicketsApiDoc::openapi());
    crate::json_errors::document_errors(&mut doc);
    doc.info.title = "Smart Mailbox".to_owned();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.info.description = Some(
        "The device API (signed requests from mailboxes), the customer JSON API and the admin JSON API.".to_owned(),
    );
    doc
}

/// The route serving [`document`].
pub fn router() -> Router<AppState> {
    Router::new().route(OPENAPI_PATH, get(|| async { Json(document()) }))
}
