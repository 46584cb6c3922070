//! `GET /photos/{event_id}/{index}`: a photo of one of the customer's deliveries, from the blob
//! store. Another customer's photo answers 404, like one that does not exist.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use object_store::ObjectStoreExt;

use super::PageError;
use crate::accounts::CurrentUser;
use crate::state::AppState;

/// The photo's JPEG bytes.
pub async fn photo(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((event_id, index)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let not_found = || PageError::not_found("This photo");
    state
        .db
        .event_of_owner(&user.user.id, &event_id)
        .await?
        .ok_or_else(not_found)?;
    let photo = state
        .db
        .photos_of_event(&event_id)
        .await?
        .into_iter()
        .find(|p| p.idx == index)
        .ok_or_else(not_found)?;
    let bytes = state
        .blobs
        .get(&object_store::path::Path::from(photo.blob_key.as_str()))
        .await
        .map_err(|err| PageError::Internal(err.into()))?
        .bytes()
        .await
        .map_err(|err| PageError::Internal(err.into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, max-age=86400"),
        ],
        bytes,
    )
        .into_response())
}
