//! Home Assistant's battery and signal sensors, from heartbeats: the recurring
//! `home_assistant_status` job publishes the retained state of every mailbox that reported since
//! the previous run (the heartbeat's request path stays free of MQTT). Mail state is published
//! by the mail event's own delivery (channel `home_assistant`).

use std::time::Duration;

use serde::Deserialize;
use smartbox_domain::Serial;
use smartbox_notify::DeliveryOutcome;
use smartbox_notify::mqtt::{self, Mailbox};

use crate::jobs::{JobContext, JobError};

/// The recurring job's kind.
pub const HOME_ASSISTANT_STATUS: &str = "home_assistant_status";
/// How often it runs: the sensors lag a heartbeat by at most this.
pub const STATUS_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Deserialize)]
struct Payload {
    slot: i64,
}

/// Publishes discovery and battery/signal state for the mailboxes seen in the last two slots
/// (overlapping, so a late run misses nothing; publishing a retained state again is harmless).
pub async fn run(ctx: JobContext) -> Result<(), JobError> {
    let state = &ctx.state;
    if state.config.mqtt_url.is_none() {
        return Ok(());
    }
    let payload: Payload = ctx.payload()?;
    let every_ms = i64::try_from(STATUS_EVERY.as_millis()).unwrap_or(i64::MAX);
    let mailboxes = state
        .db
        .mailbox_status_since(payload.slot - 2 * every_ms)
        .await
        .map_err(JobError::retry)?;
    let mut messages = Vec::new();
    for row in mailboxes {
        let Ok(serial) = Serial::parse(&row.serial) else {
            continue;
        };
        let name = if row.name.is_empty() {
            format!("Mailbox {}", row.serial)
        } else {
            row.name.clone()
        };
        messages.extend(mqtt::discovery(&Mailbox {
            serial: serial.clone(),
            name,
            firmware_version: row.firmware_version.clone(),
        }));
        if let (Some(battery), Some(signal)) = (row.battery_percentage, row.signal_dbm) {
            messages.extend(mqtt::status_state(
                &serial,
                u8::try_from(battery.clamp(0, 100)).unwrap_or(0),
                i16::try_from(signal).unwrap_or(i16::MIN),
            ));
        }
    }
    if messages.is_empty() {
        return Ok(());
    }
    let channels = super::channels(&state.config).map_err(JobError::permanent)?;
    let Some(broker) = &channels.home_assistant else {
        return Ok(());
    };
    match broker.publish(&messages).await {
        DeliveryOutcome::Delivered => Ok(()),
        DeliveryOutcome::Failed { reason, .. } => Err(JobError::retry(anyhow::anyhow!(reason))),
    }
}
