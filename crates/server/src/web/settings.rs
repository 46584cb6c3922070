//! `/settings`: notification channels per mailbox, quiet hours, time zone, the spend cap of
//! each subscription (0 to 10x the plan price; the default is the plan price), and the customer's
//! outbound webhook (its URL, a signing secret shown once, "send test", the delivery log), and each
//! mailbox's WiFi credentials, each saved through its service ([`crate::services`]).

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use smartbox_domain::money::Cents;
use smartbox_domain::{DeviceId, UserId};

use super::format::{self, money};
use super::{PageError, render};
use crate::accounts::{CurrentUser, Visitor};
use crate::notifications;
use crate::services::devices::display_name;
use crate::services::settings::{
    self, ChannelChange, DeliveriesOnlyChange, QuietHours, SettingsChange, SpendCapChange,
};
use crate::services::webhooks::{self, TestOutcome};
use crate::services::{Actor, ServiceError};
use crate::services::{push, wifi};
use crate::state::AppState;
use crate::time_zone::{DEFAULT_ZONE, is_offered, minutes_clock, parse_clock, regions};

/// Webhook deliveries shown in the settings page's log.
const WEBHOOK_LOG_LEN: i64 = 20;

/// What the webhook section says once after an action.
#[derive(Debug, Default)]
struct WebhookNotice {
    /// A secret just made: shown this once.
    secret: Option<String>,
    /// The outcome of "send test".
    test: Option<String>,
}

async fn render_page(
    state: &AppState,
    visitor: &Visitor,
    user: &CurrentUser,
    status: StatusCode,
    error: Option<String>,
    saved: bool,
) -> Result<Response, PageError> {
    render_with(
        state,
        visitor,
        user,
        status,
        error,
        saved,
        WebhookNotice::default(),
    )
    .await
}

async fn render_with(
    state: &AppState,
    visitor: &Visitor,
    user: &CurrentUser,
    status: StatusCode,
    error: Option<String>,
    saved: bool,
    notice: WebhookNotice,
) -> Result<Response, PageError> {
    let settings = settings::get(state, &actor(user), &customer(user)).await?;
    let mut devices = Vec::new();
    for mailbox in &settings.mailboxes {
        let device = &mailbox.device;
        let channels: Vec<_> = mailbox
            .channels
            .iter()
            .map(|c| context! { id => c.channel, label => c.label, on => c.enabled })
            .collect();
        let wifi = wifi::status(state, &actor(user), &DeviceId::new(device.id.as_str())).await?;
        devices.push(context! {
            id => device.id.clone(), name => display_name(device), channels => channels,
            deliveries_only => mailbox.deliveries_only,
            wifi_ssid => wifi.as_ref().map(|w| w.ssid.clone()),
            wifi_note => wifi.map(|w| w.note),
        });
    }
    let caps: Vec<_> = settings
        .spend_caps
        .iter()
        .map(|c| {
            let cap = c.cap.get();
            context! {
                id => c.subscription_id.as_str(),
                mailbox => c.device.as_ref().map(display_name),
                dollars => format!("{}.{:02}", cap / 100, cap % 100),
                max => money(c.max.get()),
                default => money(c.default.get()),
            }
        })
        .collect();
    let webhook_url = webhooks::get(state, &actor(user), &customer(user))
        .await?
        .map(|w| w.url);
    let vapid_key = notifications::push::vapid_keys(state)
        .await?
        .public_base64url();
    let push_browsers = push::count(state, &actor(user), &customer(user)).await?;
    let time_zone = &user.user.time_zone;
    let webhook_log: Vec<_> = state
        .db
        .deliveries_of_user(&user.user.id, "webhook", WEBHOOK_LOG_LEN)
        .await?
        .into_iter()
        .map(|d| {
            context! {
                at => format::date_time(d.updated_at, time_zone),
                event => d.event_id, url => d.destination, status => d.status,
                reason => d.reason.unwrap_or_default(), attempts => d.attempts,
            }
        })
        .collect();
    render::page(
        visitor,
        status,
        "settings.html",
        context! {
            title => "Settings", nav => "settings", devices => devices, caps => caps,
            zone_regions => zone_regions(&settings.time_zone),
            saved_offset => (!is_offered(&settings.time_zone)).then_some(&settings.time_zone),
            zone_unchosen => settings.time_zone == DEFAULT_ZONE,
            quiet_start => settings.quiet_hours.map(|q| minutes_clock(q.start)).unwrap_or_default(),
            quiet_end => settings.quiet_hours.map(|q| minutes_clock(q.end)).unwrap_or_default(),
            error => error, saved => saved,
            digest => settings.digest, vapid_key => vapid_key, push_browsers => push_browsers,
            webhook_url => webhook_url, webhook_log => webhook_log,
            webhook_secret => notice.secret, webhook_test => notice.test,
        },
    )
}

/// The time zone select's groups: each region with its cities, the stored zone selected.
fn zone_regions(current: &str) -> Vec<minijinja::Value> {
    regions()
        .into_iter()
        .map(|(region, zones)| {
            let zones: Vec<_> = zones
                .into_iter()
                .map(|(name, city)| context! { name => name, city => city, selected => name == current })
                .collect();
            context! { region => region, zones => zones }
        })
        .collect()
}

/// `GET /settings`.
pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Response, PageError> {
    render_page(
        &state,
        &visitor,
        &user,
        StatusCode::OK,
        None,
        q.contains_key("saved"),
    )
    .await
}

/// Parses dollars (`12`, `12.5`, `12.50`) into cents.
pub fn parse_dollars(text: &str) -> Option<i64> {
    let text = text.trim().trim_start_matches('$');
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let cents = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse::<i64>().ok()?
    };
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
}

/// `POST /settings`: saves everything on the page in one go.
pub async fn save(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if !visitor.csrf_matches(get("csrf").unwrap_or("")) {
        return Err(PageError::bad_csrf());
    }
    if let Some(action) = get("webhook") {
        return webhook_action(&state, &visitor, &user, action, get("webhook_url")).await;
    }
    if let Some(action) = get("push") {
        return push_action(&state, &user, action, get("subscription"), get("endpoint")).await;
    }
    let fail = |message: String| async {
        render_page(
            &state,
            &visitor,
            &user,
            StatusCode::BAD_REQUEST,
            Some(message),
            false,
        )
        .await
    };
    if let Some(device_id) = get("wifi_device") {
        let ssid = get("wifi_ssid").unwrap_or("");
        let passphrase = get("wifi_passphrase").unwrap_or("");
        let id = DeviceId::new(device_id);
        return match wifi::save(&state, &actor(&user), &id, ssid, passphrase).await {
            Ok(_) => Ok(Redirect::to("/settings?saved=1").into_response()),
            Err(ServiceError::Invalid { message, .. }) => fail(message).await,
            Err(err) => Err(err.into()),
        };
    }
    let clock = |name: &str| -> Result<Option<i64>, String> {
        match get(name).map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => parse_clock(v)
                .map(Some)
                .ok_or_else(|| format!("{v} is not a time of day (HH:MM).")),
        }
    };
    let quiet_hours = match (clock("quiet_start"), clock("quiet_end")) {
        (Ok(Some(start)), Ok(Some(end))) => Some(QuietHours { start, end }),
        (Ok(None), Ok(None)) => None,
        (Err(message), _) | (_, Err(message)) => return fail(message).await,
        _ => return fail("Quiet hours need both a start and an end.".to_owned()).await,
    };
    // The form carries every channel of every mailbox it showed (an unchecked box is off) and
    // the cap of every live subscription.
    let (actor, customer) = (actor(&user), customer(&user));
    let shown = settings::get(&state, &actor, &customer).await?;
    let mut spend_caps = Vec::new();
    for cap in &shown.spend_caps {
        let Some(text) = get(&format!("cap_{}", cap.subscription_id)) else {
            continue;
        };
        let Some(cents) = parse_dollars(text) else {
            return fail(format!("{text} is not an amount in dollars.")).await;
        };
        spend_caps.push(SpendCapChange {
            subscription_id: cap.subscription_id.clone(),
            cap: Cents::new(cents),
        });
    }
    let channels = shown
        .mailboxes
        .iter()
        .flat_map(|m| {
            m.channels.iter().map(|c| ChannelChange {
                device_id: DeviceId::new(m.device.id.as_str()),
                channel: c.channel.to_owned(),
                enabled: get(&format!("notify_{}_{}", m.device.id, c.channel)).is_some(),
            })
        })
        .collect();
    let deliveries_only = shown
        .mailboxes
        .iter()
        .map(|m| DeliveriesOnlyChange {
            device_id: DeviceId::new(m.device.id.as_str()),
            enabled: get(&format!("deliveries_only_{}", m.device.id)).is_some(),
        })
        .collect();
    let change = SettingsChange {
        time_zone: Some(get("time_zone").unwrap_or("UTC").to_owned()),
        quiet_hours: Some(quiet_hours),
        digest: Some(get("digest").is_some()),
        channels,
        deliveries_only,
        spend_caps,
    };
    match settings::update(&state, &actor, &customer, change).await {
        Ok(_) => Ok(Redirect::to("/settings?saved=1").into_response()),
        Err(ServiceError::Invalid { message, .. }) => fail(message).await,
        Err(err) => Err(err.into()),
    }
}

/// The signed-in customer acting on their own settings.
fn actor(user: &CurrentUser) -> Actor {
    Actor::customer(user.user.id.as_str())
}

/// The signed-in customer whose settings these are.
fn customer(user: &CurrentUser) -> UserId {
    UserId::new(user.user.id.as_str())
}

/// The portal's push script: `push=subscribe` with `subscription` (the browser's
/// `PushSubscription` as JSON), or `push=unsubscribe` with `endpoint`. 204 when done, 400 with
/// the reason otherwise.
async fn push_action(
    state: &AppState,
    user: &CurrentUser,
    action: &str,
    subscription: Option<&str>,
    endpoint: Option<&str>,
) -> Result<Response, PageError> {
    let (actor, customer) = (actor(user), customer(user));
    let done = match action {
        "subscribe" => {
            let Ok(subscription) = serde_json::from_str(subscription.unwrap_or("")) else {
                return Ok(refused("The push subscription is not valid JSON."));
            };
            push::subscribe(state, &actor, &customer, subscription).await
        }
        "unsubscribe" => push::unsubscribe(state, &actor, &customer, endpoint.unwrap_or("")).await,
        other => return Ok(refused(&format!("Unknown push action {other}."))),
    };
    match done {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(ServiceError::Invalid { message, .. }) => Ok(refused(&message)),
        Err(err) => Err(err.into()),
    }
}

/// 400 with the reason, for the push script.
fn refused(reason: &str) -> Response {
    (StatusCode::BAD_REQUEST, reason.to_owned()).into_response()
}

/// The webhook form's buttons: `save` (a new URL and secret), `test`, `remove`.
async fn webhook_action(
    state: &AppState,
    visitor: &Visitor,
    user: &CurrentUser,
    action: &str,
    url: Option<&str>,
) -> Result<Response, PageError> {
    let (actor, customer) = (actor(user), customer(user));
    let notice = match action {
        "save" => match webhooks::set(state, &actor, &customer, url.unwrap_or("")).await {
            Ok(secret) => WebhookNotice {
                secret: Some(secret.expose().to_owned()),
                test: None,
            },
            Err(ServiceError::Invalid { message, .. }) => {
                let status = StatusCode::BAD_REQUEST;
                return render_page(state, visitor, user, status, Some(message), false).await;
            }
            Err(err) => return Err(err.into()),
        },
        "test" => {
            let test = match webhooks::send_test(state, &actor, &customer).await {
                Ok(TestOutcome::Delivered) => {
                    "Test event delivered: your endpoint answered 2xx.".to_owned()
                }
                Ok(TestOutcome::Failed(reason)) => format!("Test event not delivered: {reason}."),
                Err(ServiceError::Conflict(message)) => message,
                Err(err) => return Err(err.into()),
            };
            WebhookNotice {
                secret: None,
                test: Some(test),
            }
        }
        "remove" => {
            webhooks::remove(state, &actor, &customer).await?;
            return Ok(Redirect::to("/settings?saved=1").into_response());
        }
        other => {
            let message = Some(format!("Unknown webhook action {other}."));
            let status = StatusCode::BAD_REQUEST;
            return render_page(state, visitor, user, status, message, false).await;
        }
    };
    render_with(state, visitor, user, StatusCode::OK, None, false, notice).await
}

#[cfg(test)]
mod tests {
    use super::parse_dollars;

    #[test]
    fn dollars_parse_to_cents() {
        assert_eq!(parse_dollars("12"), Some(1200));
        assert_eq!(parse_dollars("$12.5"), Some(1250));
        assert_eq!(parse_dollars("0.05"), Some(5));
        assert_eq!(parse_dollars("1.234"), None);
        assert_eq!(parse_dollars("-1"), None);
        assert_eq!(parse_dollars(""), None);
    }
}
