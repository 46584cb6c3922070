//! Checking that the master key opens this database, and replacing it.
//!
//! Every value the master key seals (device secrets, WiFi credentials, webhook secrets, the VAPID
//! key, the photo data keys) is rewrapped under the new key in one transaction; photos are not rewritten, since
//! they are sealed by the data keys. A sealed check value in `server_keys` tells at start-up
//! whether the configured key is this database's, instead of every mailbox getting 401.
//!
//! With the key in a file, a rotation writes the new key beside it first (`master.key.next`),
//! rewraps, then renames it over the old one; [`settle_key_file`] finishes or undoes a rotation
//! that a crash interrupted, whichever the database says happened.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::RngCore;
use smartbox_store::{Db, SealedSlot, SealedValue};

use crate::secrets::MasterKey;

/// The `server_keys` row whose sealed value tells whether a master key is this database's.
const CHECK_NAME: &str = "master-key-check";

/// How many values a rotation rewrapped, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rewrapped {
    pub device_secrets: usize,
    pub webhook_secrets: usize,
    pub server_keys: usize,
    pub photo_data_keys: usize,
    pub wifi_credentials: usize,
}

impl Rewrapped {
    fn count(&mut self, slot: &SealedSlot) {
        let counter = match slot {
            SealedSlot::DeviceSecret { .. } => &mut self.device_secrets,
            SealedSlot::WebhookSecret { .. } => &mut self.webhook_secrets,
            SealedSlot::ServerKey { .. } => &mut self.server_keys,
            SealedSlot::WifiCredentials { .. } => &mut self.wifi_credentials,
            SealedSlot::PhotoDataKey { .. } => &mut self.photo_data_keys,
        };
        *counter += 1;
    }
}

/// Fails unless `key` opens this database's sealed values. A database seen for the first time
/// adopts `key` if it opens the devices already sealed.
pub async fn check(db: &Db, key: &MasterKey, now_ms: i64) -> anyhow::Result<()> {
    if opens_check(db, key, now_ms).await? {
        Ok(())
    } else {
        anyhow::bail!(
            "the master key does not open this database's secrets: SMARTBOX_MASTER_KEY (or the key \
             file) is not the one this database was sealed with (see docs/operations.md, \"The master key\")"
        )
    }
}

async fn opens_check(db: &Db, key: &MasterKey, now_ms: i64) -> anyhow::Result<bool> {
    // A database that has sealed devices before it had a check value (made by an older version,
    // or by `devices import` before the first `serve`) adopts only a key that opens them.
    if let Some((serial, sealed)) = db.any_device_secret().await?
        && key.open_device_secret(&serial, &sealed).is_err()
    {
        return Ok(false);
    }
    let mut candidate = [0u8; 32];
    rand::rng().fill_bytes(&mut candidate);
    let sealed = key.seal_device_secret(CHECK_NAME, &candidate);
    let stored = db.server_key_or_insert(CHECK_NAME, &sealed, now_ms).await?;
    Ok(key.open_device_secret(CHECK_NAME, &stored).is_ok())
}

/// Rewraps every sealed value from `old` to `new` in one transaction.
pub async fn rotate(
    db: &Db,
    old: &MasterKey,
    new: &MasterKey,
    now_ms: i64,
) -> anyhow::Result<Rewrapped> {
    check(db, old, now_ms).await?;
    let mut counts = Rewrapped::default();
    let mut pairs: Vec<(SealedValue, Vec<u8>)> = Vec::new();
    for value in db.sealed_values().await? {
        let rewrapped = rewrap(&value, old, new).ok_or_else(|| {
            anyhow::anyhow!("{:?} does not open with the current master key", value.slot)
        })?;
        counts.count(&value.slot);
        pairs.push((value, rewrapped));
    }
    db.replace_sealed_values(&pairs)
        .await
        .context("rewrapping the sealed values (nothing was changed)")?;
    Ok(counts)
}

/// `value` opened with `old` and sealed again with `new`, under the same purpose and binding;
/// `None` when it does not open.
fn rewrap(value: &SealedValue, old: &MasterKey, new: &MasterKey) -> Option<Vec<u8>> {
    let sealed = &value.ciphertext;
    Some(match &value.slot {
        SealedSlot::DeviceSecret {
            serial: binding, ..
        }
        | SealedSlot::ServerKey { name: binding } => {
            new.seal_device_secret(binding, &old.open_device_secret(binding, sealed).ok()?)
        }
        SealedSlot::WebhookSecret { user_id } => {
            let binding = crate::notifications::webhooks::binding(user_id);
            new.seal_device_secret(&binding, &old.open_device_secret(&binding, sealed).ok()?)
        }
        SealedSlot::WifiCredentials { device_id } => new.seal_wifi_credentials(
            device_id,
            &old.open_wifi_credentials(device_id, sealed).ok()?,
        ),
        SealedSlot::PhotoDataKey { key_id } => {
            new.wrap_data_key(key_id, &old.unwrap_data_key(key_id, sealed).ok()?)
        }
    })
}

/// Where a rotation keeps the new key until the database is rewrapped.
pub fn next_key_file(key_file: &Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(".next");
    PathBuf::from(name)
}

/// Rotates the master key kept in `key_file`: the new key is written beside it, every sealed
/// value rewrapped, then the new key renamed over the old one.
pub async fn rotate_key_file(db: &Db, key_file: &Path, now_ms: i64) -> anyhow::Result<Rewrapped> {
    let old = MasterKey::load_or_create(key_file)
        .with_context(|| format!("reading {}", key_file.display()))?;
    check(db, &old, now_ms).await?;
    let next = next_key_file(key_file);
    if next.exists() {
        anyhow::bail!(
            "{} exists: an earlier rotation was interrupted; start the server once (it settles it) and try again",
            next.display()
        );
    }
    let new =
        MasterKey::load_or_create(&next).with_context(|| format!("writing {}", next.display()))?;
    let counts = rotate(db, &old, &new, now_ms).await;
    match counts {
        Ok(counts) => {
            std::fs::rename(&next, key_file).with_context(|| {
                format!("renaming {} over {}", next.display(), key_file.display())
            })?;
            Ok(counts)
        }
        Err(err) => {
            let _ = std::fs::remove_file(&next);
            Err(err)
        }
    }
}

/// Rotates to a new key written to `out` (for a key given in `SMARTBOX_MASTER_KEY`): the file is
/// written before the database changes, so the new key is never only in memory.
pub async fn rotate_to_new_file(
    db: &Db,
    old: &MasterKey,
    out: &Path,
    now_ms: i64,
) -> anyhow::Result<Rewrapped> {
    if out.exists() {
        anyhow::bail!("{} exists; name a new file", out.display());
    }
    let new =
        MasterKey::load_or_create(out).with_context(|| format!("writing {}", out.display()))?;
    let rotated = rotate(db, old, &new, now_ms).await;
    if rotated.is_err() {
        let _ = std::fs::remove_file(out);
    }
    rotated
}

/// At start-up with the key in `key_file`: a `.next` file beside it means a rotation was
/// interrupted. If the database was rewrapped, the new key takes the old one's place; if not, the
/// new key is dropped. Answers the key to use.
pub async fn settle_key_file(db: &Db, key_file: &Path, now_ms: i64) -> anyhow::Result<MasterKey> {
    let current = MasterKey::load_or_create(key_file).with_context(|| {
        format!(
            "SMARTBOX_MASTER_KEY unset and {} unusable",
            key_file.display()
        )
    })?;
    let next = next_key_file(key_file);
    if !next.exists() {
        return Ok(current);
    }
    let new =
        MasterKey::load_or_create(&next).with_context(|| format!("reading {}", next.display()))?;
    // The check value exists before a rotation writes its `.next` file, so these probes insert
    // nothing: whichever key opens it is the database's.
    if opens_check(db, &current, now_ms).await? {
        std::fs::remove_file(&next).with_context(|| format!("removing {}", next.display()))?;
        tracing::warn!(file = %next.display(), "dropped the key of a rotation that never reached the database");
        Ok(current)
    } else if opens_check(db, &new, now_ms).await? {
        std::fs::rename(&next, key_file)
            .with_context(|| format!("renaming {} over {}", next.display(), key_file.display()))?;
        tracing::warn!(file = %key_file.display(), "finished an interrupted master key rotation");
        Ok(new)
    } else {
        check(db, &current, now_ms).await.map(|()| current)
    }
}
