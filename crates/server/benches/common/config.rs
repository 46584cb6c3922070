//! The configuration of a benchmark's in-process server: loopback on a free port, the given
//! database, blobs in the given folder, a fixed master key.

use smartbox_server::config::Config;

/// The benchmarks' master key (32 bytes of `*`, base64): server processes started apart share it.
pub const MASTER_KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

/// The server's configuration for `database_url`, its blobs under `blobs`.
pub fn server_config(database_url: &str, blobs: &std::path::Path) -> anyhow::Result<Config> {
    let blob_url = format!("file://{}", blobs.join("blobs").display());
    Ok(Config::from_lookup(|name| match name {
        "SMARTBOX_BIND" => Some("127.0.0.1:0".to_owned()),
        "SMARTBOX_DATABASE_URL" => Some(database_url.to_owned()),
        "SMARTBOX_BLOB_URL" => Some(blob_url.clone()),
        "SMARTBOX_MASTER_KEY" => Some(MASTER_KEY.to_owned()),
        _ => None,
    })?)
}
