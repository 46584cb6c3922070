//! What the photos of a mail event showed, as the customer corrects it (issue 22): its kind and,
//! for a delivery, its category. A correction is stored on the event with one audit entry, shown
//! as the customer's, and becomes a labelled example of that mailbox for the deliveries read
//! after it (`crate::mail_intelligence`).

use smartbox_domain::{MailCategory, MailKind};
use smartbox_store::{MailCorrection, MailEventRow, UNCATEGORISED};

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

/// Stores the actor's correction of an event of one of their mailboxes and returns the event as
/// it now reads. An event whose photos are still being read cannot be corrected yet (409).
pub async fn correct(
    state: &AppState,
    actor: &Actor,
    event_id: &str,
    correction: Correction,
) -> Result<MailEventRow, ServiceError> {
    let not_found = || ServiceError::not_found("event", event_id);
    let event = state
        .db
        .event_by_id(event_id)
        .await?
        .ok_or_else(not_found)?;
    let device = state
        .db
        .device_by_id(&event.device_id)
        .await?
        .ok_or_else(not_found)?;
    let Some(owner) = device
        .owner_id
        .as_deref()
        .filter(|o| actor.may_act_for(Some(o)))
    else {
        return Err(not_found());
    };
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
