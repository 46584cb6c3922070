//! `GET /photos/{event_id}/{index}`: a photo of one of the customer's deliveries, from the blob
//! store; `GET /photos/{event_id}/{index}/thumbnail`: its 320 px thumbnail once the
//! `event_thumbnails` job has made it, the photo itself until then (or when the photo could not be
//! decoded), so the gallery and dashboard always have something to show. Another customer's
//! photo answers 404, like one that does not exist.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use smartbox_store::PhotoRow;

use super::PageError;
use crate::accounts::CurrentUser;
use crate::state::AppState;

/// How long a browser may keep a photo or a thumbnail (they never change once stored).
const CACHED: &str = "private, max-age=86400";
/// A photo served in place of its missing thumbnail must be asked for again, to get the thumbnail.
const NOT_CACHED: &str = "private, no-cache";

/// The photo's JPEG bytes.
pub async fn photo(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((event_id, index)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let photo = owned_photo(&state, &user, &event_id, index).await?;
    jpeg(&state, &photo.blob_key, CACHED).await
}

/// The thumbnail's JPEG bytes, or the photo's while there is no thumbnail.
pub async fn thumbnail(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((event_id, index)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let photo = owned_photo(&state, &user, &event_id, index).await?;
    match &photo.thumbnail_key {
        Some(key) => jpeg(&state, key, CACHED).await,
        None => jpeg(&state, &photo.blob_key, NOT_CACHED).await,
    }
}

async fn owned_photo(
    state: &AppState,
    user: &CurrentUser,
    event_id: &str,
    index: i64,
) -> Result<PhotoRow, PageError> {
    let not_found = || PageError::not_found("This photo");
    state
        .db
        .event_of_owner(&user.user.id, event_id)
        .await?
        .ok_or_else(not_found)?;
    state
        .db
        .photos_of_event(event_id)
        .await?
        .into_iter()
        .find(|p| p.idx == index)
        .ok_or_else(not_found)
}

pub(crate) async fn jpeg(
    state: &AppState,
    key: &str,
    cache: &'static str,
) -> Result<Response, PageError> {
    let bytes = state
        .photos
        .get(key)
        .await
        .map_err(PageError::Internal)?
        .bytes;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, cache),
        ],
        bytes,
    )
        .into_response())
}
