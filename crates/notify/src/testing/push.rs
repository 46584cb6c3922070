//! A browser's side of web push: the subscription's keys, and decrypting what a push endpoint
//! received with them (RFC 8291), as the browser does before its service worker sees it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand::RngCore;
use serde_json::Value;
use web_push_native::Auth;

use crate::push::{PushSubscription, SubscriptionKeys};

/// What a browser keeps when it subscribes: its private key and the auth secret.
pub struct PushBrowser {
    secret: p256::SecretKey,
    auth: [u8; 16],
}

impl std::fmt::Debug for PushBrowser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PushBrowser(..)")
    }
}

impl Default for PushBrowser {
    fn default() -> PushBrowser {
        PushBrowser::new()
    }
}

impl PushBrowser {
    pub fn new() -> PushBrowser {
        let secret = loop {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            if let Ok(key) = p256::SecretKey::from_slice(&bytes) {
                break key;
            }
        };
        let mut auth = [0u8; 16];
        rand::rng().fill_bytes(&mut auth);
        PushBrowser { secret, auth }
    }

    /// The subscription a push service would hand out for `endpoint`.
    pub fn subscribe(&self, endpoint: String) -> PushSubscription {
        let public = self.secret.public_key().to_encoded_point(false);
        PushSubscription {
            endpoint,
            keys: SubscriptionKeys {
                p256dh: URL_SAFE_NO_PAD.encode(public.as_bytes()),
                auth: URL_SAFE_NO_PAD.encode(self.auth),
            },
        }
    }

    /// The browser's private key.
    pub fn secret(&self) -> &p256::SecretKey {
        &self.secret
    }

    /// The subscription's auth secret.
    pub fn auth(&self) -> [u8; 16] {
        self.auth
    }

    /// The JSON payload of an encrypted push message's body.
    pub fn decrypt(&self, body: &[u8]) -> Value {
        let plain = web_push_native::decrypt(body.to_vec(), &self.secret, &Auth::from(self.auth))
            .expect("the payload decrypts with the subscription's keys");
        serde_json::from_slice(&plain).expect("JSON payload")
    }
}
