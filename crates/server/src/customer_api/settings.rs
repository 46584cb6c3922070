//! `GET/PATCH /api/v1/settings`: what `/settings` shows and saves — the time zone, quiet hours,
//! the notification channels of each mailbox and the spend cap of each subscription (0 to 10x
//! the plan price; the plan price by default). A PATCH changes only the fields it carries, is
//! checked whole before anything is written, and names another customer's mailbox or
//! subscription 404. The morning digest is here too; the outbound webhook and the browsers
//! subscribed to push are managed on the page.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Deserializer, Serialize};
use smartbox_domain::money::Cents;
use smartbox_domain::usage::SpendCap;
use smartbox_domain::{PlanId, SubscriptionStatus};

use crate::accounts::{ApiUser, CurrentUser};
use crate::error::ApiError;
use crate::notifications::CHANNELS;
use crate::state::AppState;
use crate::time_zone::{minutes_clock, parse_clock, time_zones};

/// The customer's settings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Settings {
    /// One of `time_zones`.
    pub time_zone: String,
    /// The time zones offered.
    pub time_zones: Vec<String>,
    /// No notifications between these local times; `null` = none.
    pub quiet_hours: Option<QuietHours>,
    /// Per mailbox, each channel on or off.
    pub notifications: Vec<MailboxChannels>,
    /// Per live subscription, the overage spend cap.
    pub spend_caps: Vec<SpendCapView>,
    /// The morning digest: one email at 07:00 local time listing the last 24 hours of mail.
    pub digest: bool,
}

/// Quiet hours as local `HH:MM` times (the end may be before the start: overnight).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuietHours {
    pub start: String,
    pub end: String,
}

/// A mailbox's notification channels.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MailboxChannels {
    pub device_id: String,
    pub channels: Vec<ChannelChoice>,
    /// Notify deliveries only: collections are then not notified (false triggers never are).
    pub deliveries_only: bool,
}

/// A channel (`email`, `push`) on or off.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelChoice {
    pub channel: String,
    pub enabled: bool,
}

/// A subscription's spend cap, in cents.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SpendCapView {
    pub subscription_id: String,
    pub cap_cents: i64,
    /// The plan price: the cap when none was chosen.
    pub default_cents: i64,
    /// 10x the plan price.
    pub max_cents: i64,
}

/// `PATCH /api/v1/settings`: only the fields present change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsUpdate {
    pub time_zone: Option<String>,
    /// `null` removes the quiet hours; absent keeps them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<QuietHours>)]
    pub quiet_hours: Option<Option<QuietHours>>,
    pub notifications: Option<Vec<ChannelUpdate>>,
    pub spend_caps: Option<Vec<SpendCapUpdate>>,
    pub digest: Option<bool>,
    /// Per mailbox, "notify me only for deliveries" on or off.
    pub deliveries_only: Option<Vec<DeliveriesOnlyUpdate>>,
}

/// One mailbox's "notify me only for deliveries".
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DeliveriesOnlyUpdate {
    pub device_id: String,
    pub enabled: bool,
}

/// One mailbox's channel on or off.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChannelUpdate {
    pub device_id: String,
    pub channel: String,
    pub enabled: bool,
}

/// A subscription's new spend cap.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SpendCapUpdate {
    pub subscription_id: String,
    pub cap_cents: i64,
}

/// A field that is present (even `null`) is `Some`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

async fn settings_of(state: &AppState, user: &CurrentUser) -> Result<Settings, ApiError> {
    let mut notifications = Vec::new();
    for device in state.db.devices_of_owner(&user.user.id).await? {
        let stored = state.db.notification_prefs(&device.id).await?;
        let channels = CHANNELS
            .iter()
            .map(|(id, _, default)| ChannelChoice {
                channel: (*id).to_owned(),
                enabled: stored
                    .iter()
                    .find(|(c, _)| c == id)
                    .map_or(*default, |(_, on)| *on),
            })
            .collect();
        notifications.push(MailboxChannels {
            deliveries_only: state.db.notify_deliveries_only(&device.id).await?,
            device_id: device.id,
            channels,
        });
    }
    let mut spend_caps = Vec::new();
    for sub in state.db.subscriptions_of_customer(&user.user.id).await? {
        let Ok(plan) = sub.plan_id.parse::<PlanId>() else {
            continue;
        };
        if sub.status == SubscriptionStatus::Canceled {
            continue;
        }
        let price = plan.plan().price.get();
        spend_caps.push(SpendCapView {
            subscription_id: sub.id,
            cap_cents: sub.spend_cap_cents.unwrap_or(price),
            default_cents: price,
            max_cents: SpendCap::max_for(plan).get(),
        });
    }
    let quiet = state.db.quiet_hours(&user.user.id).await?;
    Ok(Settings {
        time_zone: user.user.time_zone.clone(),
        time_zones: time_zones(),
        quiet_hours: match quiet {
            (Some(start), Some(end)) => Some(QuietHours {
                start: minutes_clock(start),
                end: minutes_clock(end),
            }),
            _ => None,
        },
        notifications,
        spend_caps,
        digest: state.db.digest_enabled(&user.user.id).await?,
    })
}

#[utoipa::path(get, path = "/api/v1/settings", tag = "customer",
    responses((status = 200, description = "Time zone, quiet hours, channels per mailbox, spend caps", body = Settings),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn get_settings(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<Settings>, ApiError> {
    Ok(Json(settings_of(&state, &user).await?))
}

fn invalid(message: String) -> ApiError {
    ApiError::bad_request("invalid_settings", message)
}

#[utoipa::path(patch, path = "/api/v1/settings", tag = "customer",
    request_body(content = SettingsUpdate, content_type = "application/json"),
    responses((status = 200, description = "The settings after the change", body = Settings),
        (status = 400, description = "A value out of range (nothing was changed)", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "A mailbox or subscription that is not the customer's", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "A spend cap on a canceled subscription", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn update_settings(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Json(update): Json<SettingsUpdate>,
) -> Result<Json<Settings>, ApiError> {
    let user_id = user.user.id.as_str();
    let time_zone = update
        .time_zone
        .unwrap_or_else(|| user.user.time_zone.clone());
    if !time_zones().contains(&time_zone) {
        return Err(invalid(format!(
            "{time_zone} is not one of the time zones offered"
        )));
    }
    let quiet = match update.quiet_hours {
        None => state.db.quiet_hours(user_id).await?,
        Some(None) => (None, None),
        Some(Some(q)) => {
            let clock = |v: &str| {
                parse_clock(v).ok_or_else(|| invalid(format!("{v} is not a time of day (HH:MM)")))
            };
            (Some(clock(&q.start)?), Some(clock(&q.end)?))
        }
    };
    let owned_devices = state.db.devices_of_owner(user_id).await?;
    let channels = update.notifications.unwrap_or_default();
    for c in &channels {
        if !owned_devices.iter().any(|d| d.id == c.device_id) {
            return Err(ApiError::NotFound(format!("no mailbox {}", c.device_id)));
        }
        if !CHANNELS.iter().any(|(id, _, _)| *id == c.channel) {
            return Err(invalid(format!(
                "{} is not a channel (email or push)",
                c.channel
            )));
        }
    }
    let deliveries_only = update.deliveries_only.unwrap_or_default();
    if let Some(d) = deliveries_only
        .iter()
        .find(|d| !owned_devices.iter().any(|o| o.id == d.device_id))
    {
        return Err(ApiError::NotFound(format!("no mailbox {}", d.device_id)));
    }
    let subscriptions = state.db.subscriptions_of_customer(user_id).await?;
    let caps = update.spend_caps.unwrap_or_default();
    for cap in &caps {
        let sub = subscriptions
            .iter()
            .find(|s| s.id == cap.subscription_id)
            .ok_or_else(|| {
                ApiError::NotFound(format!("no subscription {}", cap.subscription_id))
            })?;
        if sub.status == SubscriptionStatus::Canceled {
            return Err(ApiError::Conflict(format!(
                "subscription {} is canceled",
                sub.id
            )));
        }
        let plan = sub
            .plan_id
            .parse::<PlanId>()
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("subscription {}: {e}", sub.id)))?;
        SpendCap::new(plan, Cents::new(cap.cap_cents))
            .map_err(|err| invalid(format!("spend cap: {err}")))?;
    }
    let now = state.clock.now_ms();
    state
        .db
        .set_user_preferences(user_id, &time_zone, quiet)
        .await?;
    for cap in &caps {
        state
            .db
            .set_spend_cap(&cap.subscription_id, Some(cap.cap_cents), now)
            .await?;
    }
    state.devices_changed();
    for c in &channels {
        state
            .db
            .set_notification_pref(&c.device_id, &c.channel, c.enabled)
            .await?;
    }
    for d in &deliveries_only {
        state
            .db
            .set_notify_deliveries_only(user_id, &d.device_id, d.enabled)
            .await?;
    }
    if let Some(digest) = update.digest {
        state.db.set_digest_enabled(user_id, digest, now).await?;
    }
    let mut user = user;
    user.user.time_zone = time_zone;
    Ok(Json(settings_of(&state, &user).await?))
}
