//! HTTPS served by the process: with `SMARTBOX_TLS_CERT`/`SMARTBOX_TLS_KEY` a client that trusts
//! the certificate gets the service (the portal with HSTS), one that does not (or that speaks plain HTTP) gets
//! nothing, and a reloaded certificate serves new connections without a restart.

use std::net::SocketAddr;
use std::sync::Arc;

use smartbox_server::config::Config;
use smartbox_server::{ManualClock, Server};

use crate::portal::helpers::START_MS;

const HOST: &str = "mailbox.test";

/// A self-signed certificate for [`HOST`]: (certificate PEM, key PEM).
fn certificate() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec![HOST.to_owned()]).expect("a certificate");
    (made.cert.pem(), made.signing_key.serialize_pem())
}

/// A client that trusts only `cert_pem` and resolves [`HOST`] to `addr`.
fn client(cert_pem: &str, addr: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("a PEM")])
        .resolve(HOST, addr)
        .build()
        .expect("a client")
}

async fn healthz(client: &reqwest::Client, addr: SocketAddr) -> reqwest::Result<reqwest::Response> {
    client
        .get(format!("https://{HOST}:{}/healthz", addr.port()))
        .send()
        .await
}

#[tokio::test]
async fn the_server_speaks_https_with_hsts_and_takes_a_new_certificate_without_a_restart() {
    smartbox_server::server::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let (first_cert, first_key) = certificate();
    let (cert_file, key_file) = (root.join("cert.pem"), root.join("key.pem"));
    std::fs::write(&cert_file, &first_cert).unwrap();
    std::fs::write(&key_file, &first_key).unwrap();
    let database = format!("sqlite://{}", root.join("smartbox.db").display());
    let blobs = format!("file://{}", root.join("blobs").display());
    let mut config = Config::from_lookup(|name| match name {
        "SMARTBOX_BIND" => Some("127.0.0.1:0".to_owned()),
        "SMARTBOX_DATABASE_URL" => Some(database.clone()),
        "SMARTBOX_BLOB_URL" => Some(blobs.clone()),
        "SMARTBOX_TLS_CERT" => Some(cert_file.display().to_string()),
        "SMARTBOX_TLS_KEY" => Some(key_file.display().to_string()),
        _ => None,
    })
    .expect("a valid configuration");
    assert!(
        config.public_url.starts_with("https://"),
        "{}",
        config.public_url
    );
    config.master_key_file = root.join("master.key");
    let server = Server::build(config, Arc::new(ManualClock::at_ms(START_MS)))
        .await
        .expect("the server starts");
    assert_eq!(server.scheme(), "https");
    let addr = server.local_addr();
    let tls = server.tls().expect("TLS is on").clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));

    let answer = healthz(&client(&first_cert, addr), addr)
        .await
        .expect("served over TLS");
    assert_eq!(answer.status(), 200);
    // The portal's pages tell browsers to keep to https.
    let answer = client(&first_cert, addr)
        .get(format!("https://{HOST}:{}/login", addr.port()))
        .send()
        .await
        .expect("the login page over TLS");
    assert_eq!(answer.status(), 200);
    assert!(
        answer
            .headers()
            .get("strict-transport-security")
            .is_some_and(|v| v.to_str().unwrap().contains("max-age=")),
        "{:?}",
        answer.headers()
    );

    let (second_cert, second_key) = certificate();
    assert!(
        healthz(&client(&second_cert, addr), addr).await.is_err(),
        "a client that does not trust the certificate gets nothing"
    );
    let plain = reqwest::Client::new()
        .get(format!("http://{addr}/healthz"))
        .send()
        .await;
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "plain HTTP is not served on the TLS port"
    );

    // A broken pair is refused and the old one kept.
    std::fs::write(&key_file, "not a key").unwrap();
    assert!(tls.reload().is_err());
    assert_eq!(
        healthz(&client(&first_cert, addr), addr)
            .await
            .unwrap()
            .status(),
        200
    );

    // A renewed certificate takes over new connections.
    std::fs::write(&cert_file, &second_cert).unwrap();
    std::fs::write(&key_file, &second_key).unwrap();
    tls.reload().expect("the new pair loads");
    assert_eq!(
        healthz(&client(&second_cert, addr), addr)
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(healthz(&client(&first_cert, addr), addr).await.is_err());

    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}

#[test]
fn half_a_tls_configuration_is_refused_naming_the_missing_variable() {
    let error = Config::from_lookup(|name| {
        (name == "SMARTBOX_TLS_CERT").then(|| "/etc/smartbox/cert.pem".to_owned())
    })
    .expect_err("refused");
    assert_eq!(error.var, "SMARTBOX_TLS_KEY");
    let error = Config::from_lookup(|name| {
        (name == "SMARTBOX_TLS_KEY").then(|| "/etc/smartbox/key.pem".to_owned())
    })
    .expect_err("refused");
    assert_eq!(error.var, "SMARTBOX_TLS_CERT");
}
