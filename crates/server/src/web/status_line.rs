//! The status line of a mailbox, in words that know its schedule: a mailbox sleeps between
//! check-ins, so "last seen 3 min ago" and "next check-in 14:30 (every 6 h)" are what a
//! customer needs, "Sending mail now" only while a delivery's photos are arriving, and
//! "Overdue since 14:30" only once a check-in is later than the schedule plus a slack (a slow
//! cellular attach is not overdue). The power state a mailbox reports is what it was doing
//! while it talked to us (always "uploading" during a check-in), so it is never shown as now.

use smartbox_domain::{DeviceId, LifecycleState, PowerState};
use smartbox_store::{DeviceRow, MailEventRow, StoreError};

use super::format::{self, date_time};
use crate::state::AppState;

/// A check-in counts as missed this long after it was due.
pub const OVERDUE_AFTER_MS: i64 = 15 * 60 * 1000;
/// A delivery whose photos are still arriving this long after it happened is stalled (the
/// mailbox went back to sleep and sends the rest later), not "sending now".
pub const SENDING_WINDOW_MS: i64 = 5 * 60 * 1000;

/// What the card and the mailbox pages say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine {
    pub text: String,
    /// Shown as a warning (overdue, suspended).
    pub warn: bool,
}

/// Whether `latest`, a mailbox's newest event, is a delivery whose photos are arriving now.
pub fn sending(latest: Option<&MailEventRow>, now: i64) -> bool {
    latest.is_some_and(|e| {
        e.photos_received < e.photo_count
            && now - e.created_at.max(e.occurred_at) < SENDING_WINDOW_MS
    })
}

/// `3 min ago`, `2 h ago`, `just now`.
pub fn ago(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    match minutes {
        0 => "just now".to_owned(),
        1..=119 => format!("{minutes} min ago"),
        120..=2_879 => format!("{} h ago", minutes / 60),
        _ => format!("{} days ago", minutes / 1_440),
    }
}

/// `every 30 min`, `every hour`, `every 6 h`, `once a day`.
pub fn every(interval_s: i64) -> String {
    match interval_s {
        3_600 => "every hour".to_owned(),
        86_400 => "once a day".to_owned(),
        s if s % 3_600 == 0 => format!("every {} h", s / 3_600),
        s => format!("every {} min", (s / 60).max(1)),
    }
}

/// `14:30` today, else `2026-05-21 14:30`.
fn when(ms: i64, now: i64, tz: &str) -> String {
    if format::date(ms, tz) == format::date(now, tz) {
        format::clock(ms, tz)
    } else {
        date_time(ms, tz)
    }
}

/// What the mailbox is doing now: `latest`, its newest event, which the caller has already read
/// (photos arriving?), and from the store whether a return of it is started.
pub async fn current(
    state: &AppState,
    device: &DeviceRow,
    latest: Option<&MailEventRow>,
    now: i64,
    tz: &str,
) -> Result<StatusLine, StoreError> {
    let device_id = DeviceId::new(device.id.as_str());
    let returning = state.db.open_return_of_device(&device_id).await?.is_some();
    let live = state.db.live_subscription_of_device(&device_id).await?;
    let ended = device.lifecycle_state == LifecycleState::ActiveSubscription && live.is_none();
    let held_by_staff = device.lifecycle_state == LifecycleState::Suspended
        && live.is_some_and(|s| s.status.allows_service());
    Ok(status_line(
        device,
        Activity {
            sending: sending(latest, now),
            returning,
            ended,
            held_by_staff,
        },
        now,
        tz,
    ))
}

/// What the store says beyond the mailbox's own row.
#[derive(Debug, Clone, Copy, Default)]
pub struct Activity {
    /// A delivery's photos are arriving ([`sending`]).
    pub sending: bool,
    /// A return is started and the box not yet received.
    pub returning: bool,
    /// The mailbox has no live subscription any more (canceled at a period end).
    pub ended: bool,
    /// Suspended by staff while its subscription is in good standing (not for an unpaid
    /// invoice, which the customer can fix by paying).
    pub held_by_staff: bool,
}

/// The status line of `device` at `now` in zone `tz`.
pub fn status_line(device: &DeviceRow, activity: Activity, now: i64, tz: &str) -> StatusLine {
    let plain = |text: &str| StatusLine {
        text: text.to_owned(),
        warn: false,
    };
    if activity.returning && device.lifecycle_state != LifecycleState::Returned {
        return plain("Return started: send the mailbox back with its packing slip");
    }
    if activity.ended && device.lifecycle_state == LifecycleState::ActiveSubscription {
        return StatusLine {
            text: "Service ended: its subscription was canceled".to_owned(),
            warn: true,
        };
    }
    match device.lifecycle_state {
        LifecycleState::Suspended if activity.held_by_staff => {
            return StatusLine {
                text: "Suspended by our support team: contact support to resume service".to_owned(),
                warn: true,
            };
        }
        LifecycleState::Suspended => {
            return StatusLine {
                text: "Suspended: update your payment method to resume service".to_owned(),
                warn: true,
            };
        }
        LifecycleState::Returned => return plain("Returned"),
        LifecycleState::Decommissioned => return plain("Retired"),
        LifecycleState::PreActivation => return plain("Not activated yet"),
        LifecycleState::ActiveSubscription => {}
    }
    let Some(seen) = device.last_seen_at else {
        return plain("Waiting for its first check-in");
    };
    if activity.sending {
        return plain("Sending mail now");
    }
    let interval = device.checkin_interval_s.max(60);
    let due = seen + interval * 1000;
    if now > due + OVERDUE_AFTER_MS {
        return StatusLine {
            text: format!(
                "Overdue since {} · last seen {}",
                when(due, now, tz),
                ago(now - seen)
            ),
            warn: true,
        };
    }
    let doing = match device.power_state.parse::<PowerState>() {
        Ok(PowerState::Charging) => "Charging",
        _ if now - seen < 60_000 => "Awake",
        _ => "Asleep",
    };
    plain(&format!(
        "{doing} · last seen {} · next check-in {} ({})",
        ago(now - seen),
        when(due, now, tz),
        every(interval)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEEN: i64 = 1_764_072_000_000; // 2025-11-25 12:00 UTC

    fn sending_now() -> Activity {
        Activity {
            sending: true,
            ..Activity::default()
        }
    }

    fn device(last_seen: Option<i64>, power: &str) -> DeviceRow {
        DeviceRow {
            id: "d".into(),
            serial: "SB-1".into(),
            secret_ciphertext: vec![],
            claim_code_hash: String::new(),
            owner_id: None,
            lifecycle_state: LifecycleState::ActiveSubscription,
            power_state: power.into(),
            battery_percentage: Some(80),
            firmware_version: None,
            name: String::new(),
            location: String::new(),
            signal_dbm: Some(-80),
            network: Some("cellular".into()),
            sd_queue_len: None,
            sd_oldest_age_s: None,
            sd_failed_deliveries: None,
            modem_tx_bytes: None,
            modem_rx_bytes: None,
            checkin_interval_s: 6 * 3600,
            last_seen_at: last_seen,
            activated_at: None,
            claimed_at: None,
            created_at: 0,
        }
    }

    #[test]
    fn a_mailbox_that_reported_uploading_is_asleep_with_its_next_check_in() {
        let d = device(Some(SEEN), "uploading");
        let line = status_line(&d, Activity::default(), SEEN + 3 * 60_000, "UTC");
        assert_eq!(
            line.text,
            "Asleep · last seen 3 min ago · next check-in 18:00 (every 6 h)"
        );
        assert!(!line.warn);
        assert_eq!(
            status_line(&d, sending_now(), SEEN + 60_000, "UTC").text,
            "Sending mail now"
        );
        let returning = Activity {
            returning: true,
            ..Activity::default()
        };
        assert!(
            status_line(&d, returning, SEEN, "UTC")
                .text
                .starts_with("Return started")
        );
        let ended = Activity {
            ended: true,
            ..Activity::default()
        };
        assert_eq!(
            status_line(&d, ended, SEEN, "UTC").text,
            "Service ended: its subscription was canceled"
        );
        let suspended = DeviceRow {
            lifecycle_state: LifecycleState::Suspended,
            ..d
        };
        let held = Activity {
            held_by_staff: true,
            ..Activity::default()
        };
        assert!(
            status_line(&suspended, held, SEEN, "UTC")
                .text
                .starts_with("Suspended by our support team")
        );
        assert!(
            status_line(&suspended, Activity::default(), SEEN, "UTC")
                .text
                .contains("update your payment method")
        );
    }

    #[test]
    fn a_mailbox_is_overdue_only_past_its_schedule_and_the_slack() {
        let d = device(Some(SEEN), "sleep");
        let idle = Activity::default();
        let on_time = status_line(&d, idle, SEEN + 6 * 3_600_000 + OVERDUE_AFTER_MS, "UTC");
        assert!(!on_time.warn, "{on_time:?}");
        let late = status_line(&d, idle, SEEN + 6 * 3_600_000 + OVERDUE_AFTER_MS + 1, "UTC");
        assert_eq!(late.text, "Overdue since 18:00 · last seen 6 h ago");
        assert!(late.warn);
        assert_eq!(
            status_line(&device(None, "sleep"), idle, SEEN, "UTC").text,
            "Waiting for its first check-in"
        );
    }

    #[test]
    fn intervals_and_ages_read_as_words() {
        assert_eq!(every(1_800), "every 30 min");
        assert_eq!(every(3_600), "every hour");
        assert_eq!(every(21_600), "every 6 h");
        assert_eq!(every(86_400), "once a day");
        assert_eq!(ago(30_000), "just now");
        assert_eq!(ago(3 * 86_400_000), "3 days ago");
    }
}
