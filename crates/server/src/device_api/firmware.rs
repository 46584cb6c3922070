//! Firmware hosting for devices: the offer in the heartbeat answer, the image download with
//! `Range` (so the modem resumes a broken download; not metered as data), and install reports;
//! both move the mailbox's progress in a rollout of that image.

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use heapless::String as Bounded;
use object_store::ObjectStoreExt;
use object_store::path::Path as BlobPath;
use smartbox_domain::DeviceId;
use smartbox_domain::rollout::DeviceProgress;
use smartbox_protocol::{FirmwareOffer, FirmwareReport, FirmwareStatus};
use smartbox_store::{FirmwareImageRow, FirmwareReportRow};

use super::auth::Authenticated;
use super::json;
use crate::error::ApiError;
use crate::state::AppState;

/// How long the newest published image is trusted before it is read again (publishing happens in
/// another process, `smartbox firmware publish`).
pub const FIRMWARE_CACHE_TTL_MS: i64 = 5_000;

pub use crate::device_caches::FirmwareCache;

impl FirmwareCache {
    /// The offer for a device of `hardware_revision` running `running`: the newest image for
    /// its board, unless it is that one.
    pub async fn offer_for(
        &self,
        state: &AppState,
        hardware_revision: &str,
        running: &str,
    ) -> Result<Option<FirmwareOffer>, ApiError> {
        let latest = self.latest(state, hardware_revision).await?;
        Ok(latest
            .filter(|image| image.version != running)
            .and_then(|image| offer(&image)))
    }

    async fn latest(
        &self,
        state: &AppState,
        hardware_revision: &str,
    ) -> Result<Option<FirmwareImageRow>, ApiError> {
        let now_ms = state.clock.now_ms();
        if let Ok(guard) = self.latest.read()
            && let Some((loaded_at, image)) = guard.get(hardware_revision)
            && (0..FIRMWARE_CACHE_TTL_MS).contains(&(now_ms - loaded_at))
        {
            return Ok(image.clone());
        }
        let image = state.db.latest_firmware(hardware_revision).await?;
        if let Ok(mut guard) = self.latest.write() {
            guard.insert(hardware_revision.to_owned(), (now_ms, image.clone()));
        }
        Ok(image)
    }

    /// Forgets the cached images, after a publication in this process.
    pub fn forget(&self) {
        if let Ok(mut guard) = self.latest.write() {
            guard.clear();
        }
    }
}

/// The offer of `image` (`None` for a row the protocol's bounds cannot carry).
pub(super) fn offer(image: &FirmwareImageRow) -> Option<FirmwareOffer> {
    Some(FirmwareOffer {
        version: Bounded::try_from(image.version.as_str()).ok()?,
        size: u32::try_from(image.size_bytes).ok()?,
        sha256: Bounded::try_from(image.sha256.as_str()).ok()?,
        signature: Bounded::try_from(image.signature.as_str()).ok()?,
    })
}

/// What a `Range` header asks of an image of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No (usable) range: the whole image, 200.
    Whole,
    /// Bytes `start..=end`, 206.
    Part { start: u64, end: u64 },
    /// A range outside the image, 416.
    Unsatisfiable,
}

/// Reads a `Range` header (RFC 9110 §14). A single byte range is served; a malformed header or
/// several ranges are ignored (the whole image is sent), as the RFC allows.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // A suffix: the last `n` bytes.
        return match last.parse::<u64>() {
            Ok(0) => RangeRequest::Unsatisfiable,
            Ok(_) if size == 0 => RangeRequest::Unsatisfiable,
            Ok(n) => RangeRequest::Part {
                start: size - n.min(size),
                end: size - 1,
            },
            Err(_) => RangeRequest::Whole,
        };
    }
    let Ok(start) = first.parse::<u64>() else {
        return RangeRequest::Whole;
    };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match last.parse::<u64>() {
            Ok(end) if end >= start => end,
            _ => return RangeRequest::Whole,
        }
    };
    if start >= size {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Part {
        start,
        end: end.min(size - 1),
    }
}

/// Sends an image, whole or a range of it.
#[utoipa::path(
    get,
    path = "/api/device/v1/firmware/{version}",
    tag = "device",
    params(
        ("version" = String, Path, description = "A published version"),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. bytes=65536-"),
    ),
    responses(
        (status = 200, description = "The whole image", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The requested range", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "Authentication failed", body = super::docs::ErrorDoc),
        (status = 404, description = "No such version", body = super::docs::ErrorDoc),
        (status = 416, description = "The range starts past the end", body = super::docs::ErrorDoc),
    ),
    security(("device_signature" = []))
)]
pub async fn download(
    State(state): State<AppState>,
    Extension(Authenticated(device)): Extension<Authenticated>,
    Path(version): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let image = state
        .db
        .firmware_by_version(&version)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no firmware version {version:?}")))?;
    state
        .db
        .move_rollout_progress(
            &DeviceId::new(device.device_id.as_str()),
            &image.version,
            DeviceProgress::Downloading,
            state.clock.now_ms(),
        )
        .await?;
    let size = u64::try_from(image.size_bytes).unwrap_or(0);
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, end) = match parse_range(range, size) {
        RangeRequest::Whole => (StatusCode::OK, 0, size),
        RangeRequest::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end + 1),
        RangeRequest::Unsatisfiable => {
            let mut response = ApiError::RangeNotSatisfiable(format!(
                "the image has {size} bytes; the range {} is outside it",
                range.unwrap_or_default()
            ))
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return Ok(response);
        }
    };
    let bytes = if start == end {
        Bytes::new()
    } else {
        state
            .blobs
            .get_range(&BlobPath::from(image.blob_key.as_str()), start..end)
            .await
            .map_err(|err| anyhow::anyhow!("reading firmware {}: {err}", image.blob_key))?
    };
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, format!("\"{}\"", image.sha256));
    if status == StatusCode::PARTIAL_CONTENT {
        response = response.header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{size}", end - 1),
        );
    }
    response
        .body(Body::from(bytes))
        .map_err(|err| anyhow::anyhow!("building the firmware response: {err}").into())
}

/// Stores a device's report about an image.
#[utoipa::path(
    post,
    path = "/api/device/v1/firmware/report",
    tag = "device",
    request_body(content = super::docs::FirmwareReportDoc, content_type = "application/json"),
    responses(
        (status = 204, description = "Stored"),
        (status = 400, description = "Malformed JSON or a value out of range; the message names the field", body = super::docs::ErrorDoc),
        (status = 401, description = "Authentication failed", body = super::docs::ErrorDoc),
        (status = 413, description = "Body over 16 KiB", body = super::docs::ErrorDoc),
        (status = 415, description = "Not application/json", body = super::docs::ErrorDoc),
    ),
    security(("device_signature" = []))
)]
pub async fn report(
    State(state): State<AppState>,
    Extension(Authenticated(device)): Extension<Authenticated>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let report: FirmwareReport = json::parse(&headers, &body)?;
    let now = state.clock.now_ms();
    state
        .db
        .insert_firmware_report(&FirmwareReportRow {
            device_id: device.device_id.clone(),
            version: report.version.as_str().to_owned(),
            status: status_name(report.status).to_owned(),
            detail: report.detail.map(|d| d.as_str().to_owned()),
            reported_at: now,
        })
        .await?;
    state
        .db
        .move_rollout_progress(
            &DeviceId::new(device.device_id.as_str()),
            report.version.as_str(),
            progress_of(report.status),
            now,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// What a report says of a mailbox's progress with a rollout's image.
fn progress_of(status: FirmwareStatus) -> DeviceProgress {
    match status {
        FirmwareStatus::Downloaded => DeviceProgress::Downloaded,
        FirmwareStatus::Installed => DeviceProgress::Installed,
        FirmwareStatus::Failed => DeviceProgress::Failed,
        FirmwareStatus::RolledBack => DeviceProgress::RolledBack,
    }
}

fn status_name(status: FirmwareStatus) -> &'static str {
    match status {
        FirmwareStatus::Downloaded => "downloaded",
        FirmwareStatus::Installed => "installed",
        FirmwareStatus::Failed => "failed",
        FirmwareStatus::RolledBack => "rolled_back",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_byte_ranges_are_served() {
        assert_eq!(
            parse_range(Some("bytes=0-99"), 1000),
            RangeRequest::Part { start: 0, end: 99 }
        );
        assert_eq!(
            parse_range(Some("bytes=900-"), 1000),
            RangeRequest::Part {
                start: 900,
                end: 999
            }
        );
        assert_eq!(
            parse_range(Some("bytes=-100"), 1000),
            RangeRequest::Part {
                start: 900,
                end: 999
            }
        );
        assert_eq!(
            parse_range(Some("bytes=500-5000"), 1000),
            RangeRequest::Part {
                start: 500,
                end: 999
            }
        );
        assert_eq!(
            parse_range(Some("bytes=-5000"), 1000),
            RangeRequest::Part { start: 0, end: 999 }
        );
    }

    #[test]
    fn ranges_past_the_end_are_unsatisfiable() {
        assert_eq!(
            parse_range(Some("bytes=1000-"), 1000),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some("bytes=2000-3000"), 1000),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some("bytes=-0"), 1000),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some("bytes=0-"), 0),
            RangeRequest::Unsatisfiable
        );
    }

    #[test]
    fn absent_malformed_or_multiple_ranges_mean_the_whole_image() {
        assert_eq!(parse_range(None, 1000), RangeRequest::Whole);
        assert_eq!(parse_range(Some("items=0-1"), 1000), RangeRequest::Whole);
        assert_eq!(parse_range(Some("bytes=5-1"), 1000), RangeRequest::Whole);
        assert_eq!(
            parse_range(Some("bytes=0-1,5-6"), 1000),
            RangeRequest::Whole
        );
        assert_eq!(parse_range(Some("bytes=x-"), 1000), RangeRequest::Whole);
    }
}
