//! A customer's outbound webhook: set it (a URL the service may call, and a new signing secret
//! shown once), remove it, and send it a signed `test` event now. Each writes one audit entry
//! (with the change, when there is one); the secret and its sealing live in
//! [`crate::notifications::webhooks`].

use rand::RngCore;
use smartbox_domain::UserId;
use smartbox_notify::webhook::WebhookSecret;
use smartbox_notify::{DeliveryId, DeliveryOutcome};
use smartbox_store::changes::{AuditRecord, Change, Changes};

use super::{Actor, ServiceError};
use crate::notifications::{self, webhooks};
use crate::state::AppState;

/// The customer's webhook as shown: its URL (the secret is shown only when made).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub url: String,
}

/// What "send test" did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestOutcome {
    /// The endpoint answered 2xx.
    Delivered,
    /// It did not; the reason is for the customer.
    Failed(String),
}

fn audit(
    state: &AppState,
    actor: &Actor,
    customer: &UserId,
    action: &str,
    detail: serde_json::Value,
) -> Change {
    let mut detail = detail;
    detail["cause"] = actor.default_reason().into();
    Change::Audit(AuditRecord {
        at: state.clock.now_ms(),
        actor: actor.audit_name(),
        entity_type: "user".to_owned(),
        entity_id: customer.to_string(),
        action: action.to_owned(),
        detail: detail.to_string(),
    })
}

/// The customer's webhook, if they set one.
pub async fn get(
    state: &AppState,
    actor: &Actor,
    customer: &UserId,
) -> Result<Option<Webhook>, ServiceError> {
    actor.check_account(customer)?;
    Ok(state
        .db
        .customer_webhook(customer.as_str())
        .await?
        .map(|row| Webhook { url: row.url }))
}

/// Sets the customer's webhook to `url` (`http(s)://`, at most 2,000 characters, resolving to
/// addresses the service may call) with a new signing secret, answered to be shown once.
pub async fn set(
    state: &AppState,
    actor: &Actor,
    customer: &UserId,
    url: &str,
) -> Result<WebhookSecret, ServiceError> {
    let before = get(state, actor, customer).await?;
    let url = webhooks::check_url(state, url)
        .await
        .map_err(|err| ServiceError::Invalid {
            code: "invalid_webhook_url",
            message: err.to_string(),
        })?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret_ciphertext = state
        .master_key
        .seal_device_secret(&webhooks::binding(customer.as_str()), &bytes);
    let mut changes = Changes::new();
    changes.push(Change::SetCustomerWebhook {
        user_id: customer.to_string(),
        url: url.clone(),
        secret_ciphertext,
        at: state.clock.now_ms(),
    });
    changes.push(audit(
        state,
        actor,
        customer,
        "webhook_set",
        serde_json::json!({ "before": before.map(|w| w.url), "after": url }),
    ));
    state.db.apply_changes(&changes).await?;
    Ok(webhooks::secret_of(&bytes))
}

/// Removes the customer's webhook (nothing to do, and nothing audited, when there is none).
pub async fn remove(
    state: &AppState,
    actor: &Actor,
    customer: &UserId,
) -> Result<(), ServiceError> {
    let Some(before) = get(state, actor, customer).await? else {
        return Ok(());
    };
    let mut changes = Changes::new();
    changes.push(Change::DeleteCustomerWebhook {
        user_id: customer.to_string(),
    });
    changes.push(audit(
        state,
        actor,
        customer,
        "webhook_removed",
        serde_json::json!({ "before": before.url }),
    ));
    state.db.apply_changes(&changes).await?;
    Ok(())
}

/// Sends a signed `test` event to the customer's webhook now and audits the outcome; a
/// customer without a webhook is a conflict.
pub async fn send_test(
    state: &AppState,
    actor: &Actor,
    customer: &UserId,
) -> Result<TestOutcome, ServiceError> {
    actor.check_account(customer)?;
    let endpoint = webhooks::endpoint(state, customer.as_str())
        .await?
        .ok_or_else(|| ServiceError::Conflict("Set a webhook URL first.".to_owned()))?;
    let channels = notifications::channels(&state.config)?;
    let sender = channels
        .webhook
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no webhook sender is configured"))?;
    let outcome = match sender
        .send_test(&endpoint, DeliveryId::generate(), state.clock.now())
        .await
    {
        DeliveryOutcome::Delivered => TestOutcome::Delivered,
        DeliveryOutcome::Failed { reason, .. } => TestOutcome::Failed(reason),
    };
    let delivered = outcome == TestOutcome::Delivered;
    let mut changes = Changes::new();
    changes.push(audit(
        state,
        actor,
        customer,
        "webhook_test_sent",
        serde_json::json!({ "url": endpoint.url, "delivered": delivered }),
    ));
    state.db.apply_changes(&changes).await?;
    Ok(outcome)
}
