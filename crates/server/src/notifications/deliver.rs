//! The `notify_delivery` and `notify_release` jobs: send one record's message (or one message for
//! everything quiet hours held for a destination) and record the outcome.
//!
//! A settled record (delivered, or failed for good) is never sent again, whatever runs the job
//! again; the record's id is the delivery key the peers see (the email's Message-ID, the
//! webhook's Idempotency-Key), so even a send whose acknowledgement was lost is recognisable.

use serde::Deserialize;
use smartbox_domain::{Email, Serial};
use smartbox_notify::mqtt::Mailbox;
use smartbox_notify::quiet_hours::release_held;
use smartbox_notify::{Channel, DeliveryId, DeliveryOutcome, Destination, Outgoing};
use smartbox_store::{DeliveryRow, delivery_status};
use time::OffsetDateTime;

use super::message::{EventContext, event_context, gallery_link, notification, notifications};
use super::{push, webhooks};
use crate::jobs::{JobContext, JobError};
use crate::state::AppState;
use crate::telemetry;
use crate::time_zone::offset_at;

/// Largest photo sent to Home Assistant (the broker's packet limit is 512 KiB).
const MQTT_PHOTO_MAX: usize = 256 * 1024;

#[derive(Debug, Deserialize)]
struct DeliveryPayload {
    delivery_id: String,
}

#[derive(Debug, Deserialize)]
struct ReleasePayload {
    user_id: String,
    channel: String,
    destination: String,
    from: i64,
    until: i64,
}

/// Sends one delivery record's message unless it is settled.
pub async fn run_delivery(ctx: JobContext) -> Result<(), JobError> {
    let payload: DeliveryPayload = ctx.payload()?;
    let state = &ctx.state;
    let Some(record) = state
        .db
        .delivery_by_id(&payload.delivery_id)
        .await
        .map_err(JobError::retry)?
    else {
        return Err(JobError::permanent(anyhow::anyhow!(
            "no delivery {}",
            payload.delivery_id
        )));
    };
    if record.is_settled() {
        return Ok(());
    }
    let Some(event) = event_context(state, &record.event_id)
        .await
        .map_err(JobError::retry)?
    else {
        return finish(
            &ctx,
            &[&record],
            delivery_status::ATTEMPTED,
            DeliveryOutcome::permanent("the event or its owner is gone"),
        )
        .await;
    };
    let outgoing = Outgoing::Event(notification(state, &event).await.map_err(JobError::retry)?);
    let key = delivery_key(&record.id)?;
    let outcome = send(state, &record, Some(&event), key, &outgoing).await?;
    finish(&ctx, &[&record], delivery_status::ATTEMPTED, outcome).await
}

/// Sends what quiet hours held for one destination as one message.
pub async fn run_release(ctx: JobContext) -> Result<(), JobError> {
    let payload: ReleasePayload = ctx.payload()?;
    let state = &ctx.state;
    let held = state
        .db
        .held_deliveries(
            &payload.user_id,
            &payload.channel,
            &payload.destination,
            payload.until,
        )
        .await
        .map_err(JobError::retry)?;
    let Some(first) = held.first() else {
        return Ok(());
    };
    let Some(owner) = state
        .db
        .user_by_id(&payload.user_id)
        .await
        .map_err(JobError::retry)?
    else {
        return Ok(());
    };
    let event_ids: Vec<&str> = held.iter().map(|record| record.event_id.as_str()).collect();
    let items = notifications(state, &event_ids)
        .await
        .map_err(JobError::retry)?;
    let instant = |ms: i64| {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .ok()
            .and_then(|t| t.checked_to_offset(offset_at(&owner.time_zone, ms)))
            .ok_or_else(|| JobError::permanent(anyhow::anyhow!("instant {ms} out of range")))
    };
    let records: Vec<&DeliveryRow> = held.iter().collect();
    let Some(summary) = release_held(
        instant(payload.from)?,
        instant(payload.until)?,
        gallery_link(state),
        items,
    ) else {
        return finish(
            &ctx,
            &records,
            delivery_status::HELD,
            DeliveryOutcome::permanent("the held events are gone"),
        )
        .await;
    };
    // The job's id is stable across its retries: one key for the one message.
    let key = delivery_key(&ctx.job.id)?;
    let outcome = send(state, first, None, key, &Outgoing::Summary(summary)).await?;
    finish(&ctx, &records, delivery_status::HELD, outcome).await
}

pub(super) fn delivery_key(id: &str) -> Result<DeliveryId, JobError> {
    id.parse()
        .map(DeliveryId::from_uuid)
        .map_err(|err| JobError::permanent(anyhow::anyhow!("delivery key {id:?}: {err}")))
}

/// Sends `outgoing` to the record's destination. Email without `SMARTBOX_SMTP_URL` is written to
/// the log instead (the demo's notifications) and counts as delivered.
async fn send(
    state: &AppState,
    record: &DeliveryRow,
    event: Option<&EventContext>,
    key: DeliveryId,
    outgoing: &Outgoing,
) -> Result<DeliveryOutcome, JobError> {
    let channels = super::channels(&state.config).map_err(JobError::permanent)?;
    let destination = match Channel::parse(&record.channel) {
        Some(Channel::Email) => {
            if channels.email.is_none() {
                tracing::info!(
                    to = %record.destination,
                    subject = %outgoing.title(),
                    link = %outgoing.link(),
                    "notification email (SMARTBOX_SMTP_URL unset: written to the log)"
                );
                return Ok(DeliveryOutcome::Delivered);
            }
            match Email::parse(&record.destination) {
                Ok(email) => Destination::Email(email),
                Err(err) => return Ok(DeliveryOutcome::permanent(err.to_string())),
            }
        }
        Some(Channel::Webhook) => {
            match webhooks::endpoint(state, &record.user_id)
                .await
                .map_err(JobError::retry)?
            {
                Some(endpoint) if endpoint.url == record.destination => {
                    Destination::Webhook(endpoint)
                }
                _ => {
                    return Ok(DeliveryOutcome::permanent(
                        "the customer removed or changed this webhook",
                    ));
                }
            }
        }
        Some(Channel::HomeAssistant) => {
            let Some(event) = event else {
                return Ok(DeliveryOutcome::permanent(
                    "Home Assistant takes single events",
                ));
            };
            let serial = Serial::parse(&event.device.serial)
                .map_err(|err| JobError::permanent(anyhow::anyhow!("{err}")))?;
            let mailbox = Mailbox {
                serial,
                name: crate::services::devices::display_name(&event.device),
                firmware_version: event.device.firmware_version.clone(),
            };
            let mut outgoing = outgoing.clone();
            if let Outgoing::Event(n) = &mut outgoing
                && n.thumbnail
                    .as_ref()
                    .is_some_and(|t| t.as_bytes().len() > MQTT_PHOTO_MAX)
            {
                n.thumbnail = None;
            }
            return Ok(channels
                .deliver(
                    &Destination::HomeAssistant(mailbox),
                    key,
                    &outgoing,
                    state.clock.now(),
                )
                .await);
        }
        Some(Channel::Push) => {
            let Some(subscription) =
                push::subscription(state, &record.user_id, &record.destination)
                    .await
                    .map_err(JobError::retry)?
            else {
                return Ok(DeliveryOutcome::permanent("the browser unsubscribed"));
            };
            let sender = push::sender(state).await.map_err(JobError::retry)?;
            let outcome = sender
                .send(&subscription, key, outgoing, state.clock.now())
                .await;
            if matches!(
                outcome,
                DeliveryOutcome::Failed {
                    retryable: false,
                    ..
                }
            ) {
                // Gone at the push service (404/410) or unusable: stop sending to it.
                state
                    .db
                    .delete_push_subscription(&record.user_id, &record.destination)
                    .await
                    .map_err(JobError::retry)?;
            }
            return Ok(outcome);
        }
        None => {
            return Ok(DeliveryOutcome::permanent(format!(
                "channel {} is not delivered by this server",
                record.channel
            )));
        }
    };
    Ok(channels
        .deliver(&destination, key, outgoing, state.clock.now())
        .await)
}

/// Records the outcome on `records`. A retryable failure keeps them `pending` (attempted, or
/// held for a release) and retries the job with backoff, until its last attempt fails them.
async fn finish(
    ctx: &JobContext,
    records: &[&DeliveryRow],
    pending: &str,
    outcome: DeliveryOutcome,
) -> Result<(), JobError> {
    let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let now = ctx.state.clock.now_ms();
    let (channel, destination) = records
        .first()
        .map(|r| (r.channel.as_str(), r.destination.as_str()))
        .unwrap_or_default();
    match outcome {
        DeliveryOutcome::Delivered => {
            ctx.state
                .db
                .settle_deliveries(&ids, delivery_status::DELIVERED, None, now)
                .await
                .map_err(JobError::retry)?;
            tracing::info!(
                channel,
                destination,
                events = ids.len(),
                "notification delivered"
            );
            ctx.state
                .metrics
                .delivery(channel, telemetry::DeliveryOutcome::Delivered);
            Ok(())
        }
        DeliveryOutcome::Failed { retryable, reason } => {
            let last_attempt = ctx.job.attempts >= ctx.job.max_attempts;
            let status = if retryable && !last_attempt {
                pending
            } else {
                delivery_status::FAILED
            };
            ctx.state
                .db
                .settle_deliveries(&ids, status, Some(&reason), now)
                .await
                .map_err(JobError::retry)?;
            if status == delivery_status::FAILED {
                tracing::warn!(channel, destination, %reason, "notification failed");
                ctx.state
                    .metrics
                    .delivery(channel, telemetry::DeliveryOutcome::Failed);
                Ok(())
            } else {
                ctx.state
                    .metrics
                    .delivery(channel, telemetry::DeliveryOutcome::Retrying);
                Err(JobError::retry(anyhow::anyhow!(reason)))
            }
        }
    }
}
