//! The factory import in the page (`/admin/devices/import`): paste the batch's CSV, get back
//! the factory records to flash (a CSV download) and printable claim labels, each with a QR
//! code of the claim link carrying the serial and code. Shown once: the secrets are sealed in
//! the database and never shown again.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use minijinja::{Value, context};
use serde::Deserialize;

use super::{Staff, templates};
use crate::provisioning::{FactoryRecord, write_factory_csv};
use crate::services::{ServiceError, staff_devices};
use crate::state::AppState;
use crate::web::PageError;
use crate::web::error::encode_query;

/// The claim link printed on a box's label: the claim page with its serial and code filled in.
pub fn claim_url(public_url: &str, record: &FactoryRecord) -> String {
    format!(
        "{public_url}/claim?serial={}&code={}",
        encode_query(&record.serial),
        encode_query(&record.claim_code)
    )
}

/// A QR code of `text` as an inline SVG element (no XML prologue, no style attributes).
pub fn qr_svg(text: &str) -> Result<String, PageError> {
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|err| PageError::Internal(anyhow::anyhow!("QR code of {text}: {err}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(140, 140)
        .build();
    let start = svg.find("<svg").unwrap_or(0);
    Ok(svg[start..].replacen(
        "<svg ",
        "<svg class=\"qr\" role=\"img\" aria-hidden=\"true\" ",
        1,
    ))
}

/// `GET /admin/devices/import`.
pub async fn page(staff: Staff) -> Result<Response, PageError> {
    form(&staff, StatusCode::OK, "", None)
}

fn form(
    staff: &Staff,
    status: StatusCode,
    csv: &str,
    error: Option<String>,
) -> Result<Response, PageError> {
    templates::page(
        staff,
        status,
        "admin/import.html",
        context! { title => "Import a factory batch", nav => "devices", notice => None::<String>, csv => csv, error => error },
    )
}

#[derive(Debug, Deserialize)]
pub struct ImportForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    csv: String,
}

/// `POST /admin/devices/import`: the batch imported (all or none), then its labels.
pub async fn import(
    State(state): State<AppState>,
    staff: Staff,
    Form(input): Form<ImportForm>,
) -> Result<Response, PageError> {
    if !staff.csrf_matches(&input.csrf) {
        return Err(PageError::bad_csrf());
    }
    let records = match staff_devices::import(&state, &staff.actor(), &input.csv).await {
        Ok(records) => records,
        Err(ServiceError::Invalid { message, .. }) => {
            return form(&staff, StatusCode::BAD_REQUEST, &input.csv, Some(message));
        }
        Err(other) => return Err(other.into()),
    };
    let mut csv = Vec::new();
    write_factory_csv(&mut csv, &records)
        .map_err(|err| PageError::Internal(anyhow::anyhow!("factory CSV: {err}")))?;
    let mut labels: Vec<Value> = Vec::with_capacity(records.len());
    for record in &records {
        let url = claim_url(&state.config.public_url, record);
        labels.push(context! { serial => record.serial, code => record.claim_code, qr => qr_svg(&url)?, url => url });
    }
    templates::page(
        &staff,
        StatusCode::OK,
        "admin/labels.html",
        context! {
            title => format!("{} mailboxes imported", records.len()), nav => "devices", notice => None::<String>,
            labels => labels,
            factory_csv => format!("data:text/csv;base64,{}", base64::engine::general_purpose::STANDARD.encode(&csv)),
        },
    )
}
