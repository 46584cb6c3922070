//! The HTTP client shared by web push and webhooks, and how an HTTP answer becomes a
//! [`DeliveryOutcome`].

use std::time::Duration;

use reqwest::StatusCode;

use crate::delivery::DeliveryOutcome;
use crate::targets::{self, Targets};

/// The client could not be built (no TLS roots or provider).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct HttpClientError(#[source] reqwest::Error);

/// A client that never follows redirects (a POST turned into a GET would be reported as
/// delivered), gives up after `timeout` and connects only to `targets`. Installs rustls' `ring`
/// provider as the process default if none is installed yet.
pub(crate) fn client(
    timeout: Duration,
    targets: Targets,
) -> Result<reqwest::Client, HttpClientError> {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // An error means another thread installed a provider first, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    targets::restrict(reqwest::Client::builder(), targets)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("smartbox-notify/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(HttpClientError)
}

/// 2xx is delivered; 408, 425, 429 and 5xx may pass later; any other answer will not.
pub(crate) fn outcome_for_status(peer: &str, status: StatusCode) -> DeliveryOutcome {
    if status.is_success() {
        return DeliveryOutcome::Delivered;
    }
    let reason = format!("{peer} answered {status}");
    let retryable = status.is_server_error()
        || matches!(
            status,
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_EARLY | StatusCode::TOO_MANY_REQUESTS
        );
    if retryable {
        DeliveryOutcome::retryable(reason)
    } else if status.is_redirection() {
        DeliveryOutcome::permanent(format!("{reason}; redirects are not followed"))
    } else {
        DeliveryOutcome::permanent(reason)
    }
}

/// A request that got no answer: unreachable, reset or timed out, all worth retrying; a request
/// that could not be built is not.
pub(crate) fn outcome_for_error(peer: &str, error: &reqwest::Error) -> DeliveryOutcome {
    if error.is_builder() {
        DeliveryOutcome::permanent(format!("{peer}: {error}"))
    } else if error.is_timeout() {
        DeliveryOutcome::retryable(format!("{peer} did not answer in time"))
    } else {
        DeliveryOutcome::retryable(format!("{peer} unreachable: {error}"))
    }
}

/// Only `http` and `https` URLs with a host are destinations, and an address literal must be
/// one of `targets` (names are checked when they resolve).
pub(crate) fn parse_destination(
    peer: &str,
    input: &str,
    targets: Targets,
) -> Result<url::Url, DeliveryOutcome> {
    match url::Url::parse(input) {
        Ok(url) if !targets::literal_allowed(&url, targets) => Err(DeliveryOutcome::permanent(
            format!("{peer} URL {input:?} points to a non-public address"),
        )),
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
        Ok(_) => Err(DeliveryOutcome::permanent(format!(
            "{peer} URL {input:?} is not an http(s) URL"
        ))),
        Err(e) => Err(DeliveryOutcome::permanent(format!(
            "{peer} URL {input:?} is invalid: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_and_throttling_are_retried_and_client_errors_are_not() {
        for code in [500, 502, 503, 408, 429] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(outcome_for_status("peer", status).should_retry(), "{code}");
        }
        for code in [400, 401, 404, 410, 301] {
            let status = StatusCode::from_u16(code).unwrap();
            let outcome = outcome_for_status("peer", status);
            assert!(!outcome.should_retry() && !outcome.is_delivered(), "{code}");
        }
        assert!(outcome_for_status("peer", StatusCode::CREATED).is_delivered());
    }

    #[test]
    fn a_destination_must_be_http_with_a_host() {
        let any = Targets::Any;
        assert!(parse_destination("webhook", "https://example.test/hook", any).is_ok());
        assert!(parse_destination("webhook", "ftp://example.test/", any).is_err());
        assert!(parse_destination("webhook", "not a url", any).is_err());
        let public = Targets::PublicOnly;
        assert!(parse_destination("webhook", "http://2130706433/", public).is_err());
        assert!(parse_destination("webhook", "http://[::1]/", public).is_err());
        assert!(parse_destination("webhook", "http://127.0.0.1/", any).is_ok());
    }
}
