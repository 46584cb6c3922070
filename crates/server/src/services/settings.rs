//! A customer's settings: the time zone, quiet hours, the morning digest, the notification
//! channels of each mailbox and the spend cap of each live subscription (0 to 10x the plan
//! price; the plan price until the customer chooses). The page and the JSON API show and save
//! the same [`Settings`] through [`get`] and [`update`]; a change is checked whole before
//! anything is written, then written with its audit entry in one transaction.

use smartbox_domain::money::Cents;
use smartbox_domain::usage::SpendCap;
use smartbox_domain::{DeviceId, PlanId, SubscriptionId, SubscriptionStatus, UserId};
use smartbox_store::DeviceRow;
use smartbox_store::changes::{AuditRecord, Change, Changes};

use super::{Actor, ServiceError};
use crate::notifications::CHANNELS;
use crate::state::AppState;
use crate::time_zone::{is_offered, minutes_clock};

/// Minutes in a day: quiet hours are minutes after local midnight, below this.
const MINUTES_PER_DAY: i64 = 24 * 60;

/// What the settings page and `GET /api/v1/settings` show.
#[derive(Debug, Clone)]
pub struct Settings {
    /// One of [`crate::time_zone::time_zones`], or a fixed offset saved before cities were
    /// offered.
    pub time_zone: String,
    pub quiet_hours: Option<QuietHours>,
    /// The morning digest (opt-in).
    pub digest: bool,
    /// Per mailbox the customer owns, each channel on or off.
    pub mailboxes: Vec<MailboxChannels>,
    /// Per live subscription, its spend cap.
    pub spend_caps: Vec<SpendCapSetting>,
}

/// No notifications between these local times (the end may be before the start: overnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    /// Minutes after local midnight.
    pub start: i64,
    /// Minutes after local midnight.
    pub end: i64,
}

/// A mailbox and its channels, in the order of [`CHANNELS`].
#[derive(Debug, Clone)]
pub struct MailboxChannels {
    pub device: DeviceRow,
    pub channels: Vec<ChannelSetting>,
    /// Notify deliveries only: collections are then not notified (false triggers never are).
    pub deliveries_only: bool,
}

/// One channel of a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSetting {
    /// `email`, `push`.
    pub channel: &'static str,
    /// As the page names it.
    pub label: &'static str,
    pub enabled: bool,
}

/// A live subscription's spend cap and its bounds.
#[derive(Debug, Clone)]
pub struct SpendCapSetting {
    pub subscription_id: SubscriptionId,
    pub plan: PlanId,
    /// The mailbox's device row, when it still exists.
    pub device: Option<DeviceRow>,
    pub cap: Cents,
    /// The plan price: the cap until the customer chooses one.
    pub default: Cents,
    /// 10x the plan price.
    pub max: Cents,
}

/// A change of settings; what is `None` or empty is kept.
#[derive(Debug, Clone, Default)]
pub struct SettingsChange {
    pub time_zone: Option<String>,
    /// `Some(None)` removes the quiet hours.
    pub quiet_hours: Option<Option<QuietHours>>,
    pub digest: Option<bool>,
    pub channels: Vec<ChannelChange>,
    pub deliveries_only: Vec<DeliveriesOnlyChange>,
    pub spend_caps: Vec<SpendCapChange>,
}

/// One mailbox's "notify me only for deliveries" on or off.
#[derive(Debug, Clone)]
pub struct DeliveriesOnlyChange {
    pub device_id: DeviceId,
    pub enabled: bool,
}

/// One mailbox's channel on or off.
#[derive(Debug, Clone)]
pub struct ChannelChange {
    pub device_id: DeviceId,
    pub channel: String,
    pub enabled: bool,
}

/// A subscription's new spend cap.
#[derive(Debug, Clone)]
pub struct SpendCapChange {
    pub subscription_id: SubscriptionId,
    pub cap: Cents,
}

/// The settings of `customer`, when the actor may see them.
pub async fn get(
    state: &AppState,
    actor: &Actor,
    customer: &UserId,
) -> Result<Settings, ServiceError> {
    if !actor.may_act_for(Some(customer.as_str())) {
        return Err(ServiceError::not_found("account", customer.as_str()));
    }
    let db = &state.db;
    let user = db
        .user_by_id(customer.as_str())
        .await?
        .ok_or_else(|| ServiceError::not_found("account", customer.as_str()))?;
    let mut mailboxes = Vec::new();
    for device in db.devices_of_owner(customer.as_str()).await? {
        let stored = db.notification_prefs(&device.id).await?;
        let channels = CHANNELS
            .iter()
            .map(|&(channel, label, default)| ChannelSetting {
                channel,
                label,
                enabled: stored
                    .iter()
                    .find(|(c, _)| c == channel)
                    .map_or(default, |(_, on)| *on),
            })
            .collect();
        let deliveries_only = db.notify_deliveries_only(&device.id).await?;
        mailboxes.push(MailboxChannels {
            device,
            channels,
            deliveries_only,
        });
    }
    let mut spend_caps = Vec::new();
    for sub in db
        .subscriptions_of_customer(&UserId::new(customer.as_str()))
        .await?
    {
        if sub.status == SubscriptionStatus::Canceled {
            continue;
        }
        let Ok(plan) = sub.plan_id.parse::<PlanId>() else {
            continue;
        };
        let default = plan.plan().price;
        spend_caps.push(SpendCapSetting {
            device: db.device_by_id(&sub.device_id).await?,
            subscription_id: SubscriptionId::new(sub.id),
            plan,
            cap: sub.spend_cap_cents.map_or(default, Cents::new),
            default,
            max: SpendCap::max_for(plan),
        });
    }
    let quiet_hours = match db.quiet_hours(customer.as_str()).await? {
        (Some(start), Some(end)) => Some(QuietHours { start, end }),
        _ => None,
    };
    Ok(Settings {
        time_zone: user.time_zone,
        quiet_hours,
        digest: db.digest_enabled(customer.as_str()).await?,
        mailboxes,
        spend_caps,
    })
}

/// Changes the settings of `customer`: every value is checked first (a time zone not offered,
/// quiet hours outside the day, an unknown channel or a cap out of range is refused; another
/// customer's mailbox or subscription is not found; a canceled subscription's cap is a
/// conflict), then all of it is written with one audit entry. Returns the settings after.
pub async fn update(
    state: &AppState,
    actor: &Actor,
    customer: &UserId,
    change: SettingsChange,
) -> Result<Settings, ServiceError> {
    let before = get(state, actor, customer).await?;
    let time_zone = change
        .time_zone
        .clone()
        .unwrap_or_else(|| before.time_zone.clone());
    // A fixed offset saved before cities were offered may stay while other settings change.
    if time_zone != before.time_zone && !is_offered(&time_zone) {
        return Err(invalid(format!(
            "{time_zone} is not one of the time zones offered."
        )));
    }
    let quiet_hours = change.quiet_hours.unwrap_or(before.quiet_hours);
    if let Some(q) = quiet_hours
        && ![q.start, q.end]
            .iter()
            .all(|m| (0..MINUTES_PER_DAY).contains(m))
    {
        return Err(invalid("Quiet hours are times of day.".to_owned()));
    }
    for c in &change.channels {
        if !before
            .mailboxes
            .iter()
            .any(|m| m.device.id == c.device_id.as_str())
        {
            return Err(ServiceError::not_found("mailbox", c.device_id.as_str()));
        }
        if !CHANNELS.iter().any(|(id, _, _)| *id == c.channel) {
            return Err(invalid(format!(
                "{} is not a channel (email or push).",
                c.channel
            )));
        }
    }
    for d in &change.deliveries_only {
        if !before
            .mailboxes
            .iter()
            .any(|m| m.device.id == d.device_id.as_str())
        {
            return Err(ServiceError::not_found("mailbox", d.device_id.as_str()));
        }
    }
    for cap in &change.spend_caps {
        check_cap(state, customer, &before, cap).await?;
    }

    let now = state.clock.now_ms();
    let mut changes = Changes::new();
    changes.push(Change::SetUserPreferences {
        user_id: customer.to_string(),
        time_zone: time_zone.clone(),
        quiet: quiet_hours.map_or((None, None), |q| (Some(q.start), Some(q.end))),
    });
    if let Some(enabled) = change.digest {
        changes.push(Change::SetDigestEnabled {
            user_id: customer.to_string(),
            enabled,
            now,
        });
    }
    for c in &change.channels {
        changes.push(Change::SetNotificationPref {
            device_id: c.device_id.to_string(),
            channel: c.channel.clone(),
            enabled: c.enabled,
        });
    }
    for d in &change.deliveries_only {
        changes.push(Change::SetNotifyDeliveriesOnly {
            device_id: d.device_id.to_string(),
            enabled: d.enabled,
        });
    }
    for cap in &change.spend_caps {
        changes.push(Change::SetSpendCap {
            subscription_id: cap.subscription_id.to_string(),
            cap_cents: Some(cap.cap.get()),
            now,
        });
    }
    changes.push(Change::Audit(AuditRecord {
        at: now,
        actor: actor.audit_name(),
        entity_type: "user".to_owned(),
        entity_id: customer.to_string(),
        action: "update_settings".to_owned(),
        detail: serde_json::json!({
                   "cause": actor.default_reason(),
                   "before": {
                       "time_zone": before.time_zone,
                       "quiet_hours": before.quiet_hours.map(clock_pair),
                       "digest": before.digest,
                   },
                   "after": {
                       "time_zone": time_zone,
                       "quiet_hours": quiet_hours.map(clock_pair),
                       "digest": change.digest.unwrap_or(before.digest),
                       "channels": change.channels.iter().map(|c| serde_json::json!({
                           "device_id": c.device_id, "channel": c.channel, "enabled": c.enabled,
        })).collect::<Vec<_>>(),
                       "deliveries_only": change.deliveries_only.iter().map(|d| serde_json::json!({
                           "device_id": d.device_id, "enabled": d.enabled,
                       })).collect::<Vec<_>>(),
                       "spend_caps": change.spend_caps.iter().map(|c| serde_json::json!({
                           "subscription_id": c.subscription_id, "cap_cents": c.cap.get(),
                       })).collect::<Vec<_>>(),
                   },
               })
        .to_string(),
    }));
    state.db.apply_changes(&changes).await?;
    if !change.spend_caps.is_empty() {
        state.devices_changed();
    }
    get(state, actor, customer).await
}

/// Whether `cap` names one of the customer's live subscriptions and lies within what its plan
/// allows.
async fn check_cap(
    state: &AppState,
    customer: &UserId,
    before: &Settings,
    cap: &SpendCapChange,
) -> Result<(), ServiceError> {
    let id = cap.subscription_id.as_str();
    let Some(setting) = before
        .spend_caps
        .iter()
        .find(|s| s.subscription_id == cap.subscription_id)
    else {
        // Not live: the customer's canceled subscription is a conflict, anything else unknown.
        return match state
            .db
            .subscription_by_id(&SubscriptionId::new(id))
            .await?
        {
            Some(sub)
                if sub.customer_id == customer.as_str()
                    && sub.status == SubscriptionStatus::Canceled =>
            {
                Err(ServiceError::Conflict(format!(
                    "Subscription {id} is canceled."
                )))
            }
            _ => Err(ServiceError::not_found("subscription", id)),
        };
    };
    SpendCap::new(setting.plan, cap.cap)
        .map(|_| ())
        .map_err(|err| invalid(format!("Spend cap: {err}.")))
}

fn clock_pair(q: QuietHours) -> [String; 2] {
    [minutes_clock(q.start), minutes_clock(q.end)]
}

fn invalid(message: String) -> ServiceError {
    ServiceError::Invalid {
        code: "invalid_settings",
        message,
    }
}
