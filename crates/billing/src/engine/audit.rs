//! Audit entries for billing changes: who caused them (`actor`) and why (`cause` in the detail).

use serde_json::{Value, json};
use smartbox_store::changes::{AuditRecord, Change};

/// An audit change about `entity_type`/`entity_id`, with `cause` and extra detail fields.
pub(crate) fn entry(
    at: i64,
    actor: &str,
    entity: (&str, &str),
    action: &str,
    cause: &str,
    detail: Value,
) -> Change {
    let mut detail = match detail {
        Value::Object(map) => Value::Object(map),
        Value::Null => json!({}),
        other => json!({ "detail": other }),
    };
    if let Some(map) = detail.as_object_mut() {
        map.insert("cause".to_owned(), Value::String(cause.to_owned()));
    }
    Change::Audit(AuditRecord {
        at,
        actor: actor.to_owned(),
        entity_type: entity.0.to_owned(),
        entity_id: entity.1.to_owned(),
        action: action.to_owned(),
        detail: detail.to_string(),
    })
}
