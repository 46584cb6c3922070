//! Customers' outbound webhooks: which URLs may be targets, and the signing secret (made by
//! [`crate::services::webhooks::set`], shown to the customer once and stored sealed with the
//! master key, bound to the customer's id so a ciphertext moved to another row does not open).

use anyhow::Context;
use smartbox_notify::webhook::{WebhookEndpoint, WebhookSecret};

use crate::state::AppState;

const SECRET_PREFIX: &str = "whsec_";

/// The associated data binding a sealed webhook secret to its customer.
/// What a customer's webhook secret is sealed to (the master key rotation rewraps it so).
pub(crate) fn binding(user_id: &str) -> String {
    format!("webhook:{user_id}")
}

/// Why a webhook URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadWebhookUrl(String);

/// A webhook URL: `http(s)://host...`, at most 2,000 characters.
pub fn parse_url(input: &str) -> Result<String, BadWebhookUrl> {
    let input = input.trim();
    if input.len() > 2000 {
        return Err(BadWebhookUrl(
            "The webhook URL is longer than 2,000 characters.".to_owned(),
        ));
    }
    match reqwest::Url::parse(input) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(url.to_string())
        }
        _ => Err(BadWebhookUrl(format!(
            "{input} is not a web address starting with https:// or http://."
        ))),
    }
}

/// A webhook URL ([`parse_url`]) that may be a target: see [`reachable`].
pub async fn check_url(state: &AppState, input: &str) -> Result<String, BadWebhookUrl> {
    let url = parse_url(input)?;
    reachable(state, &url)
        .await
        .map_err(|reason| BadWebhookUrl(format!("The webhook URL is refused: {reason}.")))?;
    Ok(url)
}

/// Whether a customer's URL points only to addresses the service may call (public ones, unless
/// `SMARTBOX_ALLOW_PRIVATE_WEBHOOKS=true`), as the name resolves now; senders check again when
/// they connect.
pub async fn reachable(state: &AppState, url: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(url).map_err(|err| err.to_string())?;
    smartbox_notify::targets::check_url(&url, super::targets(&state.config)).await
}

/// The secret as the customer sees it, from its 32 random bytes.
pub(crate) fn secret_of(bytes: &[u8]) -> WebhookSecret {
    WebhookSecret::from_stored(format!("{SECRET_PREFIX}{}", hex::encode(bytes)))
}

/// The customer's webhook with its secret opened, if they set one.
pub async fn endpoint(state: &AppState, user_id: &str) -> anyhow::Result<Option<WebhookEndpoint>> {
    let Some(row) = state.db.customer_webhook(user_id).await? else {
        return Ok(None);
    };
    let bytes = state
        .master_key
        .open_device_secret(&binding(user_id), &row.secret_ciphertext)
        .context("the webhook secret does not open with this master key")?;
    Ok(Some(WebhookEndpoint {
        url: row.url,
        secret: secret_of(&bytes),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_with_a_host_are_webhooks() {
        assert_eq!(
            parse_url(" https://example.test/hook ").as_deref(),
            Ok("https://example.test/hook")
        );
        assert!(parse_url("ftp://example.test").is_err());
        assert!(parse_url("example.test/hook").is_err());
        assert!(parse_url(&format!("https://x.test/{}", "a".repeat(2000))).is_err());
    }
}
