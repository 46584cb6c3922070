//! Typed configuration from the environment (DESIGN §3). Every bad value is refused with an error
//! naming its variable, so a misconfigured server stops with one clear line instead of starting wrong.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::accounts::client_address::TrustedProxies;

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `SMARTBOX_BIND`: the listen address.
    pub bind: SocketAddr,
    /// `SMARTBOX_PUBLIC_URL`: the base of links in pages, emails and webhooks (no trailing slash).
    pub public_url: String,
    /// `SMARTBOX_DATABASE_URL`: `sqlite://...` or `postgres://...`.
    pub database_url: String,
    /// `SMARTBOX_BLOB_URL`: `file://dir` or `s3://bucket/prefix`.
    pub blob_url: String,
    /// `SMARTBOX_MASTER_KEY`: 32 bytes, base64; `None` = read or create `master_key_file`.
    pub master_key: Option<Secret>,
    /// Where the master key is kept when the variable is unset.
    pub master_key_file: PathBuf,
    /// The learned mail model's weights (`smartbox model fetch` puts them there); without them
    /// categories come from the heuristic alone (not read from the environment).
    pub mail_model: PathBuf,
    /// Stripe, when `STRIPE_SECRET_KEY` is set; otherwise payments use the sandbox provider.
    pub stripe: Option<StripeConfig>,
    /// `SMARTBOX_SMTP_URL`: email is disabled when unset.
    pub smtp_url: Option<String>,
    /// `SMARTBOX_MQTT_URL`: Home Assistant publishing is disabled when unset.
    pub mqtt_url: Option<String>,
    /// `SMARTBOX_TRUSTED_PROXIES`: peers whose `X-Forwarded-For` names the client (addresses
    /// and CIDR blocks, comma-separated); unset = the socket's peer is the client.
    pub trusted_proxies: TrustedProxies,
    /// `SMARTBOX_ALLOW_PRIVATE_WEBHOOKS=true`: webhook and push targets may be loopback or
    /// private addresses (development only; refused otherwise so a customer cannot reach
    /// the service's own network).
    pub allow_private_webhooks: bool,
    /// Password hashes run at once: one per core (not read from the environment).
    pub hashing_slots: usize,
    /// How long a sign-up or login waits for a hashing slot before it gets 503.
    pub hashing_queue_deadline: std::time::Duration,
    /// The header, body and shutdown-drain deadlines of connections (not read from the
    /// environment).
    pub connection_deadlines: crate::connections::Deadlines,
    /// `SMARTBOX_TLS_CERT` and `SMARTBOX_TLS_KEY`: PEM files; the server then speaks HTTPS itself.
    pub tls: Option<crate::tls::TlsFiles>,
    /// `SMARTBOX_FIRMWARE_PUBLIC_KEY`: the release key's public half (the `.pub` file's 64 hex
    /// characters); uploads on `/admin/firmware` are checked against it, and refused when unset.
    pub firmware_public_key: Option<ed25519_dalek::VerifyingKey>,
    /// `SMARTBOX_METRICS_TOKEN`: the bearer token of `GET /metrics`; unset = no `/metrics`.
    pub metrics_token: Option<Secret>,
}

/// Stripe credentials and endpoint.
#[derive(Debug, Clone)]
pub struct StripeConfig {
    pub secret_key: Secret,
    pub webhook_secret: Option<Secret>,
    pub publishable_key: Option<String>,
    /// `STRIPE_API_BASE`, default `https://api.stripe.com`.
    pub api_base: String,
}

/// A value that must not appear in logs: `Debug` prints a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A configuration variable with a bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment in production, a map in tests).
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());

        let bind_text = get("SMARTBOX_BIND").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let bind = bind_text.parse().map_err(|_| ConfigError {
            var: "SMARTBOX_BIND",
            message: format!("{bind_text:?} is not an address like 127.0.0.1:8080"),
        })?;

        let tls = match (get("SMARTBOX_TLS_CERT"), get("SMARTBOX_TLS_KEY")) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(crate::tls::TlsFiles {
                cert: PathBuf::from(cert),
                key: PathBuf::from(key),
            }),
            (Some(_), None) => {
                return Err(ConfigError {
                    var: "SMARTBOX_TLS_KEY",
                    message: "is unset but SMARTBOX_TLS_CERT is set: set both, or neither"
                        .to_owned(),
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError {
                    var: "SMARTBOX_TLS_CERT",
                    message: "is unset but SMARTBOX_TLS_KEY is set: set both, or neither"
                        .to_owned(),
                });
            }
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let public_url = get("SMARTBOX_PUBLIC_URL").unwrap_or_else(|| format!("{scheme}://{bind}"));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(ConfigError {
                var: "SMARTBOX_PUBLIC_URL",
                message: format!("{public_url:?} must start with http:// or https://"),
            });
        }
        let public_url = public_url.trim_end_matches('/').to_owned();

        let database_url =
            get("SMARTBOX_DATABASE_URL").unwrap_or_else(|| "sqlite://data/smartbox.db".to_owned());
        let known_db = ["sqlite:", "postgres://", "postgresql://"];
        if !known_db
            .iter()
            .any(|scheme| database_url.starts_with(scheme))
        {
            return Err(ConfigError {
                var: "SMARTBOX_DATABASE_URL",
                message: format!("{database_url:?} must start with sqlite:// or postgres://"),
            });
        }

        let blob_url = get("SMARTBOX_BLOB_URL").unwrap_or_else(|| "file://data/blobs".to_owned());
        let blob_ok = blob_url
            .strip_prefix("file://")
            .or_else(|| blob_url.strip_prefix("s3://"))
            .is_some_and(|rest| !rest.is_empty());
        if !blob_ok {
            return Err(ConfigError {
                var: "SMARTBOX_BLOB_URL",
                message: format!("{blob_url:?} must be file://<folder> or s3://<bucket>[/prefix]"),
            });
        }

        let master_key = get("SMARTBOX_MASTER_KEY").map(Secret);
        if let Some(key) = &master_key {
            crate::secrets::MasterKey::from_base64(key.expose()).map_err(|message| {
                ConfigError {
                    var: "SMARTBOX_MASTER_KEY",
                    message,
                }
            })?;
        }

        let stripe = match get("STRIPE_SECRET_KEY") {
            None => {
                // Without the secret key payments use the sandbox, so a webhook secret or a
                // publishable key alone would start a server that refuses every Stripe delivery.
                let half_set = [
                    "STRIPE_WEBHOOK_SECRET",
                    "STRIPE_PUBLISHABLE_KEY",
                    "STRIPE_API_BASE",
                ]
                .into_iter()
                .find(|name| get(name).is_some());
                if let Some(var) = half_set {
                    return Err(ConfigError {
                        var,
                        message: "is set but STRIPE_SECRET_KEY is not: set both, or neither"
                            .to_owned(),
                    });
                }
                None
            }
            Some(secret_key) => {
                let api_base = get("STRIPE_API_BASE")
                    .unwrap_or_else(|| "https://api.stripe.com".to_owned())
                    .trim_end_matches('/')
                    .to_owned();
                if !(api_base.starts_with("http://") || api_base.starts_with("https://")) {
                    return Err(ConfigError {
                        var: "STRIPE_API_BASE",
                        message: format!("{api_base:?} must start with http:// or https://"),
                    });
                }
                Some(StripeConfig {
                    secret_key: Secret(secret_key),
                    webhook_secret: get("STRIPE_WEBHOOK_SECRET").map(Secret),
                    publishable_key: get("STRIPE_PUBLISHABLE_KEY"),
                    api_base,
                })
            }
        };

        let smtp_url = get("SMARTBOX_SMTP_URL");
        if let Some(url) = &smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            return Err(ConfigError {
                var: "SMARTBOX_SMTP_URL",
                message: format!("{url:?} must start with smtp:// or smtps://"),
            });
        }
        let mqtt_url = get("SMARTBOX_MQTT_URL");
        if let Some(url) = &mqtt_url
            && !(url.starts_with("mqtt://") || url.starts_with("mqtts://"))
        {
            return Err(ConfigError {
                var: "SMARTBOX_MQTT_URL",
                message: format!("{url:?} must start with mqtt://"),
            });
        }

        let trusted_proxies = TrustedProxies::parse(
            &get("SMARTBOX_TRUSTED_PROXIES").unwrap_or_default(),
        )
        .map_err(|message| ConfigError {
            var: "SMARTBOX_TRUSTED_PROXIES",
            message,
        })?;
        let allow_private_webhooks = match get("SMARTBOX_ALLOW_PRIVATE_WEBHOOKS").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ConfigError {
                    var: "SMARTBOX_ALLOW_PRIVATE_WEBHOOKS",
                    message: format!("{other:?} must be true or false"),
                });
            }
        };

        let firmware_public_key = match get("SMARTBOX_FIRMWARE_PUBLIC_KEY") {
            None => None,
            Some(text) => Some(crate::firmware_release::parse_public_key(&text).ok_or_else(
                || {
                    ConfigError {
                        var: "SMARTBOX_FIRMWARE_PUBLIC_KEY",
                        message:
                            "must be an Ed25519 public key in 64 hex characters (release.key.pub)"
                                .to_owned(),
                    }
                },
            )?),
        };

        let metrics_token = get("SMARTBOX_METRICS_TOKEN").map(Secret);
        if let Some(token) = &metrics_token
            && !usable_metrics_token(token.expose())
        {
            return Err(ConfigError {
                var: "SMARTBOX_METRICS_TOKEN",
                message: format!(
                    "must be at least {MIN_METRICS_TOKEN} visible ASCII characters without spaces (e.g. `openssl rand -hex 32`)"
                ),
            });
        }

        Ok(Config {
            bind,
            public_url,
            database_url,
            blob_url,
            master_key,
            master_key_file: PathBuf::from("data/master.key"),
            mail_model: smartbox_vision_model::fetch::weights_path(std::path::Path::new("data")),
            tls,
            stripe,
            smtp_url,
            mqtt_url,
            trusted_proxies,
            allow_private_webhooks,
            hashing_slots: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            hashing_queue_deadline: crate::passwords::QUEUE_DEADLINE,
            connection_deadlines: crate::connections::Deadlines::default(),
            firmware_public_key,
            metrics_token,
        })
    }
}

/// The shortest `SMARTBOX_METRICS_TOKEN` taken: a bearer token guessable in a few tries would
/// guard nothing.
const MIN_METRICS_TOKEN: usize = 16;

/// Whether a metrics token can travel in an `Authorization` header as it is and is long enough.
fn usable_metrics_token(token: &str) -> bool {
    token.len() >= MIN_METRICS_TOKEN && token.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let c = config(&[]).expect("defaults are valid");
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://data/smartbox.db");
        assert_eq!(c.blob_url, "file://data/blobs");
        assert!(c.stripe.is_none() && c.smtp_url.is_none() && c.mqtt_url.is_none());
        assert!(c.metrics_token.is_none(), "/metrics is off by default");
    }

    #[test]
    fn a_bad_bind_address_names_the_variable() {
        let err = config(&[("SMARTBOX_BIND", "localhost")]).unwrap_err();
        assert_eq!(err.var, "SMARTBOX_BIND");
        assert!(err.to_string().starts_with("SMARTBOX_BIND: "));
    }

    #[test]
    fn a_bad_database_url_names_the_variable() {
        let err = config(&[("SMARTBOX_DATABASE_URL", "mysql://x")]).unwrap_err();
        assert_eq!(err.var, "SMARTBOX_DATABASE_URL");
    }

    #[test]
    fn bad_blob_master_key_smtp_and_stripe_values_name_their_variables() {
        let cases = [
            ("SMARTBOX_BLOB_URL", "gs://bucket"),
            ("SMARTBOX_MASTER_KEY", "too-short"),
            ("SMARTBOX_SMTP_URL", "mail.example.com"),
            ("SMARTBOX_MQTT_URL", "tcp://broker"),
            ("SMARTBOX_PUBLIC_URL", "example.com"),
            ("SMARTBOX_TRUSTED_PROXIES", "10.0.0.0/40"),
            ("SMARTBOX_ALLOW_PRIVATE_WEBHOOKS", "yes"),
            ("SMARTBOX_METRICS_TOKEN", "short"),
            ("SMARTBOX_METRICS_TOKEN", "a token with spaces in it"),
        ];
        for (var, value) in cases {
            assert_eq!(config(&[(var, value)]).unwrap_err().var, var);
        }
        let err = config(&[
            ("STRIPE_SECRET_KEY", "sk_test"),
            ("STRIPE_API_BASE", "localhost:8420"),
        ]);
        assert_eq!(err.unwrap_err().var, "STRIPE_API_BASE");
    }

    #[test]
    fn a_stripe_variable_without_the_secret_key_is_refused() {
        for var in [
            "STRIPE_WEBHOOK_SECRET",
            "STRIPE_PUBLISHABLE_KEY",
            "STRIPE_API_BASE",
        ] {
            let err = config(&[(var, "whsec_or_pk_or_http://127.0.0.1:8420")]).unwrap_err();
            assert_eq!(err.var, var);
            assert!(err.message.contains("STRIPE_SECRET_KEY"), "{err}");
        }
    }

    #[test]
    fn stripe_is_configured_by_its_secret_key() {
        let c = config(&[
            ("STRIPE_SECRET_KEY", "sk_test_123"),
            ("STRIPE_API_BASE", "http://127.0.0.1:8420/"),
        ])
        .expect("valid");
        let stripe = c.stripe.expect("stripe configured");
        assert_eq!(stripe.api_base, "http://127.0.0.1:8420");
        assert_eq!(format!("{:?}", stripe.secret_key), "Secret(***)");
    }
}
