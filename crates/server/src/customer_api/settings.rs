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
use smartbox_domain::{DeviceId, SubscriptionId, UserId};

use super::actor;
use crate::accounts::{ApiUser, CurrentUser};
use crate::error::ApiError;
use crate::services::settings;
use crate::state::AppState;
use crate::time_zone::{minutes_clock, parse_clock, time_zones};

/// The customer's settings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Settings {
    /// One of `time_zones` (an IANA name), or a fixed offset (`UTC+02:00`) saved before
    /// cities were offered.
    pub time_zone: String,
    /// The time zones offered, IANA names.
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
    /// `HH:MM`, 00:00 to 23:59.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start: String,
    /// `HH:MM`, 00:00 to 23:59.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
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

/// The schema of a time zone a change may choose: the IANA names offered (`time_zones`), so a
/// client generated from the document sends only what the server takes.
#[derive(Debug)]
pub struct TimeZoneName;

impl utoipa::PartialSchema for TimeZoneName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
        let names = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(time_zones()))
            .description(Some(
                "An IANA time zone name, one of those offered (daylight saving included)",
            ))
            .build();
        utoipa::openapi::RefOr::T(Schema::Object(names))
    }
}

impl utoipa::ToSchema for TimeZoneName {
    fn name() -> std::borrow::Cow<'static, str> {
        "TimeZone".into()
    }
}

/// `PATCH /api/v1/settings`: only the fields present change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsUpdate {
    /// One of the zones offered; a fixed offset saved before cities were offered may be sent
    /// back unchanged.
    #[schema(value_type = Option<TimeZoneName>)]
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
    #[serde(deserialize_with = "super::whole_number::whole")]
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

impl From<settings::Settings> for Settings {
    fn from(s: settings::Settings) -> Settings {
        Settings {
            time_zone: s.time_zone,
            time_zones: time_zones(),
            quiet_hours: s.quiet_hours.map(|q| QuietHours {
                start: minutes_clock(q.start),
                end: minutes_clock(q.end),
            }),
            notifications: s
                .mailboxes
                .into_iter()
                .map(|m| MailboxChannels {
                    deliveries_only: m.deliveries_only,
                    device_id: m.device.id,
                    channels: m
                        .channels
                        .into_iter()
                        .map(|c| ChannelChoice {
                            channel: c.channel.to_owned(),
                            enabled: c.enabled,
                        })
                        .collect(),
                })
                .collect(),
            spend_caps: s
                .spend_caps
                .into_iter()
                .map(|c| SpendCapView {
                    subscription_id: c.subscription_id.into(),
                    cap_cents: c.cap.get(),
                    default_cents: c.default.get(),
                    max_cents: c.max.get(),
                })
                .collect(),
            digest: s.digest,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/settings", tag = "customer",
    responses((status = 200, description = "Time zone, quiet hours, channels per mailbox, spend caps", body = Settings),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn get_settings(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<Settings>, ApiError> {
    let settings = settings::get(&state, &actor(&user), &customer(&user)).await?;
    Ok(Json(settings.into()))
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
    let quiet_hours = match update.quiet_hours {
        None => None,
        Some(None) => Some(None),
        Some(Some(q)) => {
            let clock = |v: &str| {
                parse_clock(v).ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_settings",
                        format!("{v} is not a time of day (HH:MM)."),
                    )
                })
            };
            Some(Some(settings::QuietHours {
                start: clock(&q.start)?,
                end: clock(&q.end)?,
            }))
        }
    };
    let change = settings::SettingsChange {
        time_zone: update.time_zone,
        quiet_hours,
        digest: update.digest,
        channels: update
            .notifications
            .unwrap_or_default()
            .into_iter()
            .map(|c| settings::ChannelChange {
                device_id: DeviceId::new(c.device_id),
                channel: c.channel,
                enabled: c.enabled,
            })
            .collect(),
        deliveries_only: update
            .deliveries_only
            .unwrap_or_default()
            .into_iter()
            .map(|d| settings::DeliveriesOnlyChange {
                device_id: DeviceId::new(d.device_id),
                enabled: d.enabled,
            })
            .collect(),
        spend_caps: update
            .spend_caps
            .unwrap_or_default()
            .into_iter()
            .map(|c| settings::SpendCapChange {
                subscription_id: SubscriptionId::new(c.subscription_id),
                cap: Cents::new(c.cap_cents),
            })
            .collect(),
    };
    let settings = settings::update(&state, &actor(&user), &customer(&user), change).await?;
    Ok(Json(settings.into()))
}

/// The signed-in customer whose settings these are.
fn customer(user: &CurrentUser) -> UserId {
    UserId::new(user.user.id.as_str())
}
