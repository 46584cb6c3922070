//! A mailbox sent back, or taken out of service for good: the device becomes `returned` (or
//! `decommissioned`, its sealed secret replaced by one nobody holds) and its live subscription
//! ends at once.
//!
//! Both are one change set with one audit entry: the device's lifecycle is a guard and the
//! subscription's version is checked, so a billing pass (or a webhook, or a retry job) that read
//! the subscription before the return cannot bring it back to `active` or `past_due` on a
//! returned mailbox, and a failure between the writes leaves all of them or none.

use serde_json::json;
use smartbox_domain::{
    DeviceId, LifecycleEffect, LifecycleEvent, LifecycleState, SubscriptionEffect,
    SubscriptionEvent,
};
use smartbox_store::changes::{Applied, Change, Changes};
use time::OffsetDateTime;

use super::decide::state_update;
use super::jobs::{grace_key_prefix, retry_key_prefix};
use super::snapshot::Snapshot;
use super::{BillingEngine, BillingError, MAX_ROUNDS, audit, to_ms};

/// What a return changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceReturned {
    /// The lifecycle state the device left.
    pub from: LifecycleState,
    /// The subscription that ended with it, when there was a live one.
    pub subscription_id: Option<String>,
}

/// Who returns the device and why, for the audit entry.
#[derive(Debug, Clone, Copy)]
pub struct ReturnCause<'a> {
    pub actor: &'a str,
    pub reason: &'a str,
}

impl BillingEngine {
    /// Returns the device `device_id` (in service or suspended) and ends its live subscription
    /// at once. [`BillingError::Conflict`] when its lifecycle does not allow a return.
    pub async fn return_device(
        &self,
        device_id: &str,
        now: OffsetDateTime,
        cause: ReturnCause<'_>,
    ) -> Result<DeviceReturned, BillingError> {
        self.end_service(device_id, now, cause, Ending::Return)
            .await
    }

    /// Decommissions the device `device_id` (from any state but `decommissioned`): its sealed
    /// secret is replaced by `revoked_secret` (one nobody holds) and its live subscription ends
    /// at once, in one change set with the audit entry. [`BillingError::Conflict`] when it is
    /// decommissioned already.
    pub async fn decommission_device(
        &self,
        device_id: &str,
        now: OffsetDateTime,
        cause: ReturnCause<'_>,
        revoked_secret: Vec<u8>,
    ) -> Result<DeviceReturned, BillingError> {
        self.end_service(device_id, now, cause, Ending::Decommission(revoked_secret))
            .await
    }

    async fn end_service(
        &self,
        device_id: &str,
        now: OffsetDateTime,
        cause: ReturnCause<'_>,
        ending: Ending,
    ) -> Result<DeviceReturned, BillingError> {
        for _ in 0..MAX_ROUNDS {
            let device = self
                .db
                .device_by_id(device_id)
                .await?
                .ok_or(BillingError::NotFound("mailbox"))?;
            let from = device.lifecycle_state;
            let subscription = match self
                .db
                .live_subscription_of_device(&DeviceId::new(device_id))
                .await?
            {
                Some(row) => Some(self.snapshot(&row.id).await?),
                None => None,
            };
            let decision =
                decide_return(device_id, from, subscription.as_ref(), now, cause, &ending)?;
            if self.db.apply_changes(&decision.changes).await? == Applied::Done {
                return Ok(decision.returned);
            }
        }
        Err(BillingError::Contended("taking the mailbox out of service"))
    }
}

/// How a device leaves service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Sent back by the customer.
    Return,
    /// For good, its secret replaced by this sealed one.
    Decommission(Vec<u8>),
}

impl Ending {
    fn event(&self) -> LifecycleEvent {
        match self {
            Ending::Return => LifecycleEvent::Return,
            Ending::Decommission(_) => LifecycleEvent::Decommission,
        }
    }
}

/// The changes of a return, decided from what was read.
#[derive(Debug, Clone)]
pub(crate) struct ReturnDecision {
    pub changes: Changes,
    pub returned: DeviceReturned,
}

/// Decides a return, pure: the lifecycle state machine says whether the device can go back, the
/// subscription state machine how its subscription ends.
pub(crate) fn decide_return(
    device_id: &str,
    from: LifecycleState,
    subscription: Option<&Snapshot>,
    now: OffsetDateTime,
    cause: ReturnCause<'_>,
    ending: &Ending,
) -> Result<ReturnDecision, BillingError> {
    let now_ms = to_ms(now);
    let event = ending.event();
    let lifecycle = from.apply(event).map_err(|_| {
        BillingError::Conflict(match ending {
            Ending::Return => "This mailbox cannot be returned in its current state.".to_owned(),
            Ending::Decommission(_) => "This mailbox is decommissioned already.".to_owned(),
        })
    })?;
    let mut changes = Changes::new();
    changes.push(Change::MoveDeviceLifecycle {
        device_id: device_id.to_owned(),
        from,
        to: lifecycle.to,
    });
    if let Ending::Decommission(sealed) = ending
        && lifecycle
            .effects
            .contains(&LifecycleEffect::RevokeCredentials)
    {
        changes.push(Change::ReplaceDeviceSecret {
            device_id: device_id.to_owned(),
            secret_ciphertext: sealed.clone(),
        });
    }
    let mut ended = None;
    if let Some(s) = subscription
        && let Ok(transition) = s.state.apply(SubscriptionEvent::DeviceReturned)
    {
        changes.push(state_update(s, transition.to, now_ms));
        if transition
            .effects
            .contains(&SubscriptionEffect::CancelDunning)
        {
            for key_prefix in [retry_key_prefix(&s.id), grace_key_prefix(&s.id)] {
                changes.push(Change::CancelQueuedJobs {
                    key_prefix,
                    reason: format!("canceled: the mailbox was {}", lifecycle.to.as_str()),
                    now: now_ms,
                });
            }
        }
        ended = Some((s, transition.to));
    }
    changes.push(audit::entry(
        now_ms,
        cause.actor,
        ("device", device_id),
        event.name(),
        cause.reason,
        json!({
            "before": {
                "lifecycle": from.as_str(),
                "subscription_status": ended.map(|(s, _)| s.status().as_str()),
            },
            "after": {
                "lifecycle": lifecycle.to.as_str(),
                "subscription_status": ended.map(|(_, to)| to.status().as_str()),
            },
            "subscription_id": ended.map(|(s, _)| s.id.as_str()),
        }),
    ));
    Ok(ReturnDecision {
        changes,
        returned: DeviceReturned {
            from,
            subscription_id: ended.map(|(s, _)| s.id.clone()),
        },
    })
}
