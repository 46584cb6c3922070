//! A customer's browsers subscribed to web push: subscribe one (the browser's
//! `PushSubscription`, its endpoint a web address the service may call) and unsubscribe it,
//! each with its audit entry in one transaction. The VAPID keys and the sender live in
//! [`crate::notifications::push`].

use smartbox_domain::UserId;
use smartbox_notify::push::PushSubscription;
use smartbox_store::PushSubscriptionRow;
use smartbox_store::changes::{AuditRecord, Change, Changes};

use super::{Actor, ServiceError};
use crate::notifications::webhooks;
use crate::state::AppState;

/// Longest endpoint accepted.
const MAX_ENDPOINT: usize = 2000;

fn audit(
    state: &AppState,
    actor: &Actor,
    customer: &UserId,
    action: &str,
    endpoint: &str,
) -> Change {
    // The endpoint's path is a capability: the audit log names only its host.
    let host = reqwest::Url::parse(endpoint)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned));
    Change::Audit(AuditRecord {
        at: state.clock.now_ms(),
        actor: actor.audit_name(),
        entity_type: "user".to_owned(),
        entity_id: customer.to_string(),
        action: action.to_owned(),
        detail: serde_json::json!({ "cause": actor.default_reason(), "push_service": host })
            .to_string(),
    })
}

fn invalid(message: String) -> ServiceError {
    ServiceError::Invalid {
        code: "invalid_push_subscription",
        message,
    }
}

/// How many browsers the customer subscribed.
pub async fn count(
    state: &AppState,
    actor: &Actor,
    customer: &UserId,
) -> Result<usize, ServiceError> {
    actor.check_account(customer)?;
    Ok(state
        .db
        .push_subscriptions_of_user(customer.as_str())
        .await?
        .len())
}

/// Stores a browser's subscription for the customer (an endpoint known already moves to them
/// with its new keys).
pub async fn subscribe(
    state: &AppState,
    actor: &Actor,
    customer: &UserId,
    subscription: PushSubscription,
) -> Result<(), ServiceError> {
    actor.check_account(customer)?;
    let endpoint_ok = reqwest::Url::parse(&subscription.endpoint)
        .is_ok_and(|url| matches!(url.scheme(), "https" | "http") && url.host().is_some());
    if !endpoint_ok || subscription.endpoint.len() > MAX_ENDPOINT {
        return Err(invalid(
            "The push endpoint is not a web address.".to_owned(),
        ));
    }
    if subscription.keys.p256dh.is_empty() || subscription.keys.auth.is_empty() {
        return Err(invalid("The push subscription has no keys.".to_owned()));
    }
    if let Err(reason) = webhooks::reachable(state, &subscription.endpoint).await {
        return Err(invalid(format!("The push endpoint is refused: {reason}.")));
    }
    let mut changes = Changes::new();
    changes.push(audit(
        state,
        actor,
        customer,
        "push_subscribed",
        &subscription.endpoint,
    ));
    changes.push(Change::SavePushSubscription(PushSubscriptionRow {
        endpoint: subscription.endpoint,
        user_id: customer.to_string(),
        p256dh: subscription.keys.p256dh,
        auth: subscription.keys.auth,
        created_at: state.clock.now_ms(),
    }));
    state.db.apply_changes(&changes).await?;
    Ok(())
}

/// Forgets the customer's subscription at `endpoint` (nothing to do, and nothing audited, when
/// they have none there).
pub async fn unsubscribe(
    state: &AppState,
    actor: &Actor,
    customer: &UserId,
    endpoint: &str,
) -> Result<(), ServiceError> {
    actor.check_account(customer)?;
    let known = state
        .db
        .push_subscriptions_of_user(customer.as_str())
        .await?
        .iter()
        .any(|s| s.endpoint == endpoint);
    if !known {
        return Ok(());
    }
    let mut changes = Changes::new();
    changes.push(Change::DeletePushSubscription {
        user_id: customer.to_string(),
        endpoint: endpoint.to_owned(),
    });
    changes.push(audit(state, actor, customer, "push_unsubscribed", endpoint));
    state.db.apply_changes(&changes).await?;
    Ok(())
}
