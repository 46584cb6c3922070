//! The `notify_event` job: one delivery record per destination of an event's owner, each with the
//! job that sends it — now, or when the customer's quiet hours end.

use serde::Deserialize;
use smartbox_domain::epoch::unix_ms;
use smartbox_notify::Channel;
use smartbox_notify::quiet_hours::{Decision, QuietHours};
use smartbox_store::{NewDelivery, NewJob, UserRow, delivery_status};
use time::{OffsetDateTime, Time};

use super::message::{EventContext, event_context};
use super::{DELIVERY_ATTEMPTS, NOTIFY_DELIVERY, NOTIFY_RELEASE};
use crate::jobs::{JobContext, JobError};
use crate::state::AppState;
use crate::time_zone::offset_at;

/// The channels on for a mailbox before the customer chooses (the settings page's defaults).
const EMAIL_ON_BY_DEFAULT: bool = true;
const PUSH_ON_BY_DEFAULT: bool = true;

#[derive(Debug, Deserialize)]
struct Payload {
    event_id: String,
}

/// Records the event's deliveries and enqueues their jobs. Running it again finds the same
/// records (unique per event, channel and destination) and the same jobs (unique keys), so a
/// duplicated or retried `notify_event` sends nothing twice.
pub async fn run(ctx: JobContext) -> Result<(), JobError> {
    let payload: Payload = ctx.payload()?;
    let state = &ctx.state;
    let Some(event) = event_context(state, &payload.event_id)
        .await
        .map_err(JobError::retry)?
    else {
        tracing::info!(event = %payload.event_id, "no owner to notify");
        return Ok(());
    };
    let now_ms = state.clock.now_ms();
    let hold = match quiet_hours(state, &event.owner)
        .await
        .map_err(JobError::retry)?
        .map(|q| (q, q.decide(ctx.now)))
    {
        Some((quiet, Decision::HoldUntil(until))) => Some((quiet, until)),
        _ => None,
    };
    for (channel, destination) in destinations(state, &event).await.map_err(JobError::retry)? {
        // Home Assistant shows the mailbox's state rather than telling a person: never held.
        let held = hold.filter(|_| channel != Channel::HomeAssistant);
        let id = uuid::Uuid::now_v7().to_string();
        let record = state
            .db
            .record_delivery(&NewDelivery {
                id: &id,
                event_id: &event.event.id,
                user_id: &event.owner.id,
                channel: channel.as_str(),
                destination: &destination,
                status: if held.is_some() {
                    delivery_status::HELD
                } else {
                    delivery_status::ATTEMPTED
                },
                created_at: now_ms,
            })
            .await
            .map_err(JobError::retry)?;
        let job = match (record.status.as_str(), held) {
            (delivery_status::ATTEMPTED, _) => Some(delivery_job(&record.id, now_ms)),
            (delivery_status::HELD, Some((quiet, until))) => Some(release_job(
                &event.owner.id,
                channel,
                &destination,
                quiet,
                until,
            )),
            // Settled, or held by an earlier run whose release job is already queued.
            _ => None,
        };
        if let Some((kind, key, payload, run_at)) = job {
            let id = uuid::Uuid::now_v7().to_string();
            state
                .db
                .enqueue_job(&NewJob {
                    id: &id,
                    kind,
                    payload,
                    unique_key: Some(&key),
                    run_at,
                    max_attempts: DELIVERY_ATTEMPTS,
                })
                .await
                .map_err(JobError::retry)?;
            state.jobs_enqueued();
        }
    }
    Ok(())
}

type JobSpec = (&'static str, String, serde_json::Value, i64);

fn delivery_job(delivery_id: &str, now_ms: i64) -> JobSpec {
    (
        NOTIFY_DELIVERY,
        format!("{NOTIFY_DELIVERY}:{delivery_id}"),
        serde_json::json!({ "delivery_id": delivery_id }),
        now_ms,
    )
}

/// One release per destination and quiet-hours window, at the window's end.
fn release_job(
    user_id: &str,
    channel: Channel,
    destination: &str,
    quiet: QuietHours,
    until: OffsetDateTime,
) -> JobSpec {
    let until_ms = unix_ms(until);
    let length = (quiet.end - quiet.start).whole_milliseconds() as i64;
    let from_ms = until_ms - length.rem_euclid(24 * 3_600_000);
    (
        NOTIFY_RELEASE,
        format!(
            "{NOTIFY_RELEASE}:{user_id}:{}:{destination}:{until_ms}",
            channel.as_str()
        ),
        serde_json::json!({
            "user_id": user_id,
            "channel": channel.as_str(),
            "destination": destination,
            "from": from_ms,
            "until": until_ms,
        }),
        until_ms,
    )
}

/// Where the event goes: the owner's address when email is on for the mailbox, each browser the
/// owner subscribed when push is on for it, the customer's webhook when they set one, the
/// mailbox's Home Assistant entities when MQTT is configured.
pub async fn destinations(
    state: &AppState,
    event: &EventContext,
) -> anyhow::Result<Vec<(Channel, String)>> {
    let mut out = Vec::new();
    let prefs = state.db.notification_prefs(&event.device.id).await?;
    let on = |channel: Channel, default: bool| {
        prefs
            .iter()
            .find(|(c, _)| c == channel.as_str())
            .map_or(default, |(_, on)| *on)
    };
    if on(Channel::Email, EMAIL_ON_BY_DEFAULT) {
        out.push((Channel::Email, event.owner.email.clone()));
    }
    if on(Channel::Push, PUSH_ON_BY_DEFAULT) {
        for subscription in state.db.push_subscriptions_of_user(&event.owner.id).await? {
            out.push((Channel::Push, subscription.endpoint));
        }
    }
    if let Some(webhook) = state.db.customer_webhook(&event.owner.id).await? {
        out.push((Channel::Webhook, webhook.url));
    }
    if state.config.mqtt_url.is_some() {
        out.push((Channel::HomeAssistant, event.device.serial.clone()));
    }
    Ok(out)
}

/// The owner's quiet hours, if they set them.
pub async fn quiet_hours(state: &AppState, owner: &UserRow) -> anyhow::Result<Option<QuietHours>> {
    let (Some(start), Some(end)) = state.db.quiet_hours(&owner.id).await? else {
        return Ok(None);
    };
    let clock = |minutes: i64| {
        Time::from_hms(
            u8::try_from(minutes.div_euclid(60) % 24).unwrap_or(0),
            u8::try_from(minutes.rem_euclid(60)).unwrap_or(0),
            0,
        )
    };
    Ok(Some(QuietHours {
        start: clock(start)?,
        end: clock(end)?,
        offset: offset_at(&owner.time_zone, state.clock.now_ms()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, offset, time};

    #[test]
    fn a_release_covers_the_whole_window_and_runs_when_it_ends() {
        let night = QuietHours {
            start: time!(22:00),
            end: time!(07:00),
            offset: offset!(+01:00),
        };
        let until = datetime!(2026-11-26 07:00 +01:00);
        let (kind, key, payload, run_at) =
            release_job("u1", Channel::Email, "a@example.test", night, until);
        assert_eq!(kind, NOTIFY_RELEASE);
        assert_eq!(run_at, unix_ms(until));
        assert_eq!(payload["from"], unix_ms(datetime!(2026-11-25 22:00 +01:00)));
        assert_eq!(
            key,
            format!("notify_release:u1:email:a@example.test:{run_at}")
        );
    }
}
