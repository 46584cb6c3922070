//! Staff's tags on mailboxes (`pilot`, `north-depot`): short lowercase words a rollout can be
//! aimed at (issue 21). Support and admins tag and untag, on the mailbox's admin page, in the
//! admin API or with `smartbox devices tag`; each change is audited on the device.

use smartbox_store::DeviceTagRow;
use smartbox_store::changes::{AuditRecord, Change, Changes};

use super::staff_devices::{by_serial, require_staff};
use super::{Actor, ServiceError, StaffRole};
use crate::state::AppState;

/// Longest tag.
pub const MAX_TAG_LEN: usize = 24;
/// Most tags one mailbox carries.
pub const MAX_TAGS_PER_DEVICE: usize = 20;

/// A tag: a lowercase letter, then up to 23 of `a-z`, `0-9` and `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag(String);

impl Tag {
    pub fn parse(text: &str) -> Result<Tag, ServiceError> {
        let text = text.trim();
        let valid = (1..=MAX_TAG_LEN).contains(&text.len())
            && text.starts_with(|c: char| c.is_ascii_lowercase())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(ServiceError::Invalid {
                code: "invalid_tag",
                message: format!(
                    "{text:?} is not a tag: a lowercase letter, then up to {} lowercase \
                     letters, digits or '-' (e.g. pilot, north-depot).",
                    MAX_TAG_LEN - 1
                ),
            });
        }
        Ok(Tag(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The mailbox `serial` and its tags, for a tag change by `actor`.
async fn tagged(
    state: &AppState,
    actor: &Actor,
    serial: &str,
) -> Result<(smartbox_store::DeviceRow, Vec<DeviceTagRow>), ServiceError> {
    require_staff(actor, StaffRole::Support)?;
    let device = by_serial(state, serial).await?;
    let tags = state
        .db
        .device_tags(&smartbox_domain::DeviceId::new(device.id.as_str()))
        .await?;
    Ok((device, tags))
}

/// Writes `change` with its audit entry (`action`, the tag) and returns the mailbox's tags.
async fn apply(
    state: &AppState,
    actor: &Actor,
    device_id: &str,
    change: Change,
    action: &str,
    tag: &Tag,
) -> Result<Vec<DeviceTagRow>, ServiceError> {
    let now = state.clock.now_ms();
    let mut changes = Changes::new();
    changes.push(change);
    changes.push(Change::Audit(AuditRecord {
        at: now,
        actor: actor.audit_name(),
        entity_type: "device".to_owned(),
        entity_id: device_id.to_owned(),
        action: action.to_owned(),
        detail: serde_json::json!({ "tag": tag.as_str() }).to_string(),
    }));
    state.db.apply_changes(&changes).await?;
    Ok(state
        .db
        .device_tags(&smartbox_domain::DeviceId::new(device_id))
        .await?)
}

/// Tags the mailbox `serial` (a tag it has already is kept). Returns its tags.
pub async fn tag(
    state: &AppState,
    actor: &Actor,
    serial: &str,
    tag: &str,
) -> Result<Vec<DeviceTagRow>, ServiceError> {
    let tag = Tag::parse(tag)?;
    let (device, tags) = tagged(state, actor, serial).await?;
    if tags.iter().any(|t| t.tag == tag.as_str()) {
        return Ok(tags);
    }
    if tags.len() >= MAX_TAGS_PER_DEVICE {
        return Err(ServiceError::Invalid {
            code: "too_many_tags",
            message: format!(
                "{} has {MAX_TAGS_PER_DEVICE} tags already; remove one first.",
                device.serial
            ),
        });
    }
    let change = Change::TagDevice {
        device_id: device.id.clone(),
        tag: tag.as_str().to_owned(),
        tagged_by: actor.audit_name(),
        at: state.clock.now_ms(),
    };
    apply(state, actor, &device.id, change, "tag", &tag).await
}

/// Removes `tag` from the mailbox `serial`; refused when it does not have it. Returns its tags.
pub async fn untag(
    state: &AppState,
    actor: &Actor,
    serial: &str,
    tag: &str,
) -> Result<Vec<DeviceTagRow>, ServiceError> {
    let tag = Tag::parse(tag)?;
    let (device, tags) = tagged(state, actor, serial).await?;
    if !tags.iter().any(|t| t.tag == tag.as_str()) {
        return Err(ServiceError::Invalid {
            code: "unknown_tag",
            message: format!("{} has no tag {}.", device.serial, tag.as_str()),
        });
    }
    let change = Change::UntagDevice {
        device_id: device.id.clone(),
        tag: tag.as_str().to_owned(),
    };
    apply(state, actor, &device.id, change, "untag", &tag).await
}

/// The tags of the mailbox `serial`.
pub async fn tags(
    state: &AppState,
    actor: &Actor,
    serial: &str,
) -> Result<Vec<DeviceTagRow>, ServiceError> {
    require_staff(actor, StaffRole::Support)?;
    let device = by_serial(state, serial).await?;
    Ok(state
        .db
        .device_tags(&smartbox_domain::DeviceId::new(device.id.as_str()))
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_short_lowercase_words() {
        for good in ["pilot", "north-depot", "b2", "a"] {
            assert_eq!(
                Tag::parse(good).map(Tag::into_string).ok(),
                Some(good.into())
            );
        }
        assert_eq!(
            Tag::parse(" pilot ").map(Tag::into_string).ok(),
            Some("pilot".into())
        );
        for bad in [
            "",
            "Pilot",
            "2nd",
            "-x",
            "a b",
            "pilot;drop",
            &"a".repeat(25),
        ] {
            assert!(
                matches!(
                    Tag::parse(bad),
                    Err(ServiceError::Invalid {
                        code: "invalid_tag",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }
}
