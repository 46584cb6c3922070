//! A customer's mail events. What the photos of an event showed, as the customer corrects it
//! (issue 22): its kind and, for a delivery, its category. A correction is stored on the event
//! with one audit entry, shown as the customer's, and becomes a labelled example of that mailbox
//! for the deliveries read after it (`crate::mail_intelligence`). And deleting an event (issue
//! 17): its photos and thumbnails leave the blob store, then its rows go with one audit entry;
//! the usage it counted stays counted (it was sent and billed).

use smartbox_domain::{EventId, MailCategory, MailKind, UserId};
use smartbox_store::{MailCorrection, MailEventDeletion, MailEventRow, UNCATEGORISED};

use super::{Actor, ServiceError};
use crate::state::AppState;

/// What the customer says the event was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Correction {
    pub kind: MailKind,
    /// A delivery's category; `None` for anything else (or a delivery of something else).
    pub category: Option<MailCategory>,
}

impl Correction {
    /// Parses the names a form or a JSON body sends (`category` empty: none).
    pub fn parse(kind: &str, category: Option<&str>) -> Result<Correction, ServiceError> {
        let kind = kind
            .parse::<MailKind>()
            .map_err(|err| ServiceError::Invalid {
                code: "invalid_kind",
                message: err.to_string(),
            })?;
        let category = match category.map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(name) => {
                Some(
                    name.parse::<MailCategory>()
                        .map_err(|err| ServiceError::Invalid {
                            code: "invalid_category",
                            message: err.to_string(),
                        })?,
                )
            }
        };
        if category.is_some() && kind != MailKind::Delivery {
            return Err(ServiceError::Invalid {
                code: "category_without_delivery",
                message: format!(
                    "only a delivery has a category, not a {}",
                    kind.label().to_lowercase()
                ),
            });
        }
        Ok(Correction { kind, category })
    }
}

/// A `category` filter (gallery, API), checked: a category's name or `uncategorised`; empty is
/// none.
pub fn category_filter(value: Option<&str>) -> Result<Option<&'static str>, ServiceError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(UNCATEGORISED) => Ok(Some(UNCATEGORISED)),
        Some(name) => name
            .parse::<MailCategory>()
            .map(|c| Some(c.as_str()))
            .map_err(|err| ServiceError::Invalid {
                code: "invalid_category",
                message: format!("{err}, or {UNCATEGORISED}"),
            }),
    }
}

/// A `kind` filter (gallery, API), checked: delivery, collection or false_trigger; empty is none.
pub fn kind_filter(value: Option<&str>) -> Result<Option<&'static str>, ServiceError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(name) => name
            .parse::<MailKind>()
            .map(|k| Some(k.as_str()))
            .map_err(|err| ServiceError::Invalid {
                code: "invalid_kind",
                message: err.to_string(),
            }),
    }
}

/// The event and the owner of its mailbox, when the actor may act for that owner; else "not
/// found" (another customer's event reveals nothing).
async fn owned_event(
    state: &AppState,
    actor: &Actor,
    event_id: &str,
) -> Result<(MailEventRow, String), ServiceError> {
    let not_found = || ServiceError::not_found("event", event_id);
    let event = state
        .db
        .event_by_id(event_id)
        .await?
        .ok_or_else(not_found)?;
    let owner = state
        .db
        .device_by_id(&event.device_id)
        .await?
        .and_then(|device| device.owner_id)
        .filter(|owner| actor.may_act_for(Some(owner)))
        .ok_or_else(not_found)?;
    Ok((event, owner))
}

/// Deletes a photo and its thumbnail from the blob store (one already gone counts as deleted).
pub(super) async fn delete_photo_blobs(
    state: &AppState,
    blob_key: &str,
    thumbnail_key: Option<&str>,
) -> Result<(), ServiceError> {
    for path in std::iter::once(blob_key).chain(thumbnail_key) {
        state
            .photos
            .delete(path)
            .await
            .map_err(ServiceError::Internal)?;
    }
    Ok(())
}

/// Deletes an event of one of the actor's mailboxes: its photos and thumbnails from the blob
/// store first (a crash then leaves rows whose photos are gone, and deleting again finishes),
/// then its rows with one audit entry. Returns how many photos went.
pub async fn delete_event(
    state: &AppState,
    actor: &Actor,
    event_id: &EventId,
) -> Result<usize, ServiceError> {
    let (event, owner) = owned_event(state, actor, event_id.as_str()).await?;
    let photos = state.db.photos_of_event(&event.id).await?;
    for photo in &photos {
        delete_photo_blobs(state, &photo.blob_key, photo.thumbnail_key.as_deref()).await?;
    }
    let detail = serde_json::json!({
        "device_id": event.device_id,
        "occurred_at": event.occurred_at,
        "photos_deleted": photos.len(),
        "reason": actor.default_reason(),
    });
    let deleted = state
        .db
        .delete_mail_event(&MailEventDeletion {
            owner_id: &UserId::new(owner),
            event_id,
            now: state.clock.now_ms(),
            actor: &actor.audit_name(),
            detail: detail.to_string(),
        })
        .await?;
    if !deleted {
        return Err(ServiceError::not_found("event", event_id.as_str()));
    }
    Ok(photos.len())
}

/// Stores the actor's correction of an event of one of their mailboxes and returns the event as
/// it now reads. An event whose photos are still being read cannot be corrected yet (409).
pub async fn correct(
    state: &AppState,
    actor: &Actor,
    event_id: &str,
    correction: Correction,
) -> Result<MailEventRow, ServiceError> {
    let not_found = || ServiceError::not_found("event", event_id);
    let (event, owner) = owned_event(state, actor, event_id).await?;
    let owner = owner.as_str();
    if event.mail_kind.is_none() {
        return Err(ServiceError::Conflict(
            "the photos of this event are still being read; try again in a moment".to_owned(),
        ));
    }
    let detail = serde_json::json!({
        "before": { "kind": event.mail_kind, "category": event.category },
        "after": {
            "kind": correction.kind.as_str(),
            "category": correction.category.map(MailCategory::as_str),
        },
        "reason": actor.default_reason(),
    });
    let stored = state
        .db
        .correct_mail_event(&MailCorrection {
            owner_id: owner,
            event_id,
            kind: correction.kind,
            category: correction.category,
            now: state.clock.now_ms(),
            actor: &actor.audit_name(),
            detail: detail.to_string(),
        })
        .await?;
    if !stored {
        return Err(not_found());
    }
    state.db.event_by_id(event_id).await?.ok_or_else(not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_category_goes_with_a_delivery_only() {
        assert_eq!(
            Correction::parse("delivery", Some("package")).ok(),
            Some(Correction {
                kind: MailKind::Delivery,
                category: Some(MailCategory::Package)
            })
        );
        assert_eq!(
            Correction::parse("collection", Some("")).ok(),
            Some(Correction {
                kind: MailKind::Collection,
                category: None
            })
        );
        for (kind, category, code) in [
            ("collection", Some("letter"), "category_without_delivery"),
            ("parcel", None, "invalid_kind"),
            ("delivery", Some("parcel"), "invalid_category"),
        ] {
            match Correction::parse(kind, category) {
                Err(ServiceError::Invalid { code: got, .. }) => assert_eq!(got, code),
                other => panic!("{kind} {category:?}: {other:?}"),
            }
        }
    }
}
