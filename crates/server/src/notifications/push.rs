//! Web push: the server's VAPID key pair (made on the first run by whichever process gets there
//! first, the private key sealed with the master key), the customers' browser subscriptions, and
//! the sender the `notify_delivery` job uses for channel `push`.
//!
//! The portal's side (manifest, service worker, the script calling `pushManager.subscribe` with
//! the key the settings page carries in `data-vapid-key`) posts the subscription to `/settings`,
//! which stores it through [`crate::services::push::subscribe`].

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use smartbox_notify::push::{PushSender, PushSubscription, SubscriptionKeys, VapidKeys};
use smartbox_notify::targets::Targets;

use crate::state::AppState;

/// The row of `server_keys` holding the sealed VAPID private key.
const VAPID_KEY_NAME: &str = "vapid";
/// How long a push service may take to answer.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Senders by VAPID public key and targets (building one builds an HTTP client).
static SENDERS: Mutex<Vec<((String, Targets), PushSender)>> = Mutex::new(Vec::new());

/// The server's VAPID key pair, made and stored if this database has none yet.
pub async fn vapid_keys(state: &AppState) -> anyhow::Result<VapidKeys> {
    let candidate = URL_SAFE_NO_PAD.decode(VapidKeys::generate().private_base64url())?;
    let candidate: [u8; 32] = candidate
        .try_into()
        .map_err(|_| anyhow::anyhow!("a P-256 private key is 32 bytes"))?;
    let sealed = state
        .master_key
        .seal_device_secret(VAPID_KEY_NAME, &candidate);
    let stored = state
        .db
        .server_key_or_insert(VAPID_KEY_NAME, &sealed, state.clock.now_ms())
        .await?;
    let private = state
        .master_key
        .open_device_secret(VAPID_KEY_NAME, &stored)
        .context("the VAPID key does not open with this master key")?;
    VapidKeys::from_private_base64url(&URL_SAFE_NO_PAD.encode(private))
        .map_err(|_| anyhow::anyhow!("the stored VAPID key is not a P-256 key"))
}

/// The sender for this server's VAPID keys.
pub async fn sender(state: &AppState) -> anyhow::Result<PushSender> {
    let keys = vapid_keys(state).await?;
    let public = (keys.public_base64url(), super::targets(&state.config));
    let mut senders = SENDERS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, sender)) = senders.iter().find(|(k, _)| *k == public) {
        return Ok(sender.clone());
    }
    // The VAPID `sub`: push services want a way to reach the operator.
    let contact = if state.config.public_url.starts_with("https://") {
        state.config.public_url.clone()
    } else {
        "mailto:no-reply@smartbox.example".to_owned()
    };
    let sender = PushSender::to(public.1, keys, contact, PUSH_TIMEOUT)?;
    senders.push((public, sender.clone()));
    Ok(sender)
}

/// The customer's subscription at `endpoint`, if they still have it.
pub async fn subscription(
    state: &AppState,
    user_id: &str,
    endpoint: &str,
) -> anyhow::Result<Option<PushSubscription>> {
    Ok(state
        .db
        .push_subscriptions_of_user(user_id)
        .await?
        .into_iter()
        .find(|s| s.endpoint == endpoint)
        .map(|s| PushSubscription {
            endpoint: s.endpoint,
            keys: SubscriptionKeys {
                p256dh: s.p256dh,
                auth: s.auth,
            },
        }))
}
