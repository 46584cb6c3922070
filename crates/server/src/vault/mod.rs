//! Photos and thumbnails encrypted at rest (envelope encryption): each customer has a data key
//! (AES-256-GCM), made on their first photo and stored wrapped by the master key; every blob is
//! sealed under its owner's data key with a small header naming that key ([`envelope`]). The blob
//! store, local or S3, only ever sees ciphertext; the portal, the API, the thumbnail job and the
//! notifications read through [`PhotoVault::get`], which opens it again.
//!
//! Rotating the master key rewraps the data keys only (`smartbox keys rotate-master`); the photos
//! are not rewritten. Photos stored before this existed are sealed by the `seal_stored_photos`
//! job and served as they are until then.

pub mod envelope;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use bytes::Bytes;
use object_store::path::Path as BlobPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use rand::RngCore;
use smartbox_store::{DataKeyRow, Db};

use crate::clock::Clock;
use crate::secrets::MasterKey;

/// Data keys kept open in memory; past this the cache starts over (each entry is a key schedule
/// of under a kilobyte, and a reload is one indexed read).
const CACHE_CAPACITY: usize = 10_000;

/// A customer's data key, opened.
#[derive(Clone)]
pub struct DataKey {
    id: Arc<str>,
    cipher: Arc<envelope::Cipher>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey").field("id", &self.id).finish()
    }
}

/// A blob read back: its plain bytes, and the data key that sealed it (`None` for a blob still
/// stored in the clear).
#[derive(Debug)]
pub struct Opened {
    pub bytes: Bytes,
    pub key: Option<DataKey>,
}

/// The blob store's photos, sealed on the way in and opened on the way out.
#[derive(Debug)]
pub struct PhotoVault {
    blobs: Arc<dyn ObjectStore>,
    db: Db,
    master_key: MasterKey,
    clock: Arc<dyn Clock>,
    by_customer: Mutex<HashMap<String, DataKey>>,
    by_id: Mutex<HashMap<String, DataKey>>,
    sealing: AtomicBool,
}

impl PhotoVault {
    pub fn new(
        blobs: Arc<dyn ObjectStore>,
        db: Db,
        master_key: MasterKey,
        clock: Arc<dyn Clock>,
    ) -> PhotoVault {
        PhotoVault {
            blobs,
            db,
            master_key,
            clock,
            by_customer: Mutex::new(HashMap::new()),
            by_id: Mutex::new(HashMap::new()),
            sealing: AtomicBool::new(true),
        }
    }

    /// Turns sealing of new blobs off or on. Only the mail-event benchmark turns it off, to
    /// measure what encryption costs in the same run; the server always seals.
    pub fn set_sealing(&self, on: bool) {
        self.sealing.store(on, Ordering::Relaxed);
    }

    /// Stores `plain` at `path`, sealed under `customer_id`'s data key (made on first use).
    pub async fn put_for(&self, customer_id: &str, path: &str, plain: Bytes) -> anyhow::Result<()> {
        if !self.sealing.load(Ordering::Relaxed) {
            return self.put_raw(path, plain).await;
        }
        let key = self.key_of_customer(customer_id).await?;
        self.put_with(&key, path, &plain).await
    }

    /// Stores `plain` at `path` sealed under `key` (a thumbnail under its photo's key).
    pub async fn put_with(&self, key: &DataKey, path: &str, plain: &[u8]) -> anyhow::Result<()> {
        let sealed = envelope::seal(&key.cipher, &key.id, path, plain);
        self.put_raw(path, Bytes::from(sealed)).await
    }

    async fn put_raw(&self, path: &str, bytes: Bytes) -> anyhow::Result<()> {
        self.blobs
            .put(&BlobPath::from(path), PutPayload::from_bytes(bytes))
            .await
            .with_context(|| format!("storing {path}"))?;
        Ok(())
    }

    /// `plain` sealed under `customer_id`'s data key, bound to `name`, for a value kept in the
    /// database rather than the blob store (a mailbox's reference frames).
    pub async fn seal_value(
        &self,
        customer_id: &str,
        name: &str,
        plain: &[u8],
    ) -> anyhow::Result<Vec<u8>> {
        let key = self.key_of_customer(customer_id).await?;
        Ok(envelope::seal(&key.cipher, &key.id, name, plain))
    }

    /// A value sealed by [`PhotoVault::seal_value`] under `name`, opened.
    pub async fn open_value(&self, name: &str, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        let header = envelope::header(sealed)
            .with_context(|| name.to_owned())?
            .with_context(|| format!("{name} is not sealed"))?;
        let key = self.key_by_id(header.key_id).await?;
        envelope::open(&key.cipher, &header, name, sealed)
            .with_context(|| format!("opening {name}"))
    }

    /// Deletes the blob at `path`; one already gone is not an error (a retried deletion).
    pub async fn delete(&self, path: &str) -> anyhow::Result<()> {
        match self.blobs.delete(&BlobPath::from(path)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(anyhow::Error::new(err).context(format!("deleting {path}"))),
        }
    }

    /// The plain bytes stored at `path`.
    pub async fn get(&self, path: &str) -> anyhow::Result<Opened> {
        let blob = self
            .blobs
            .get(&BlobPath::from(path))
            .await
            .with_context(|| format!("reading {path}"))?
            .bytes()
            .await
            .with_context(|| format!("reading {path}"))?;
        let Some(header) = envelope::header(&blob).with_context(|| path.to_owned())? else {
            return Ok(Opened {
                bytes: blob,
                key: None,
            });
        };
        let key = self.key_by_id(header.key_id).await?;
        let plain = envelope::open(&key.cipher, &header, path, &blob)
            .with_context(|| format!("opening {path}"))?;
        Ok(Opened {
            bytes: Bytes::from(plain),
            key: Some(key),
        })
    }

    /// Seals the blob at `path` in place under `customer_id`'s key if it is still stored in the
    /// clear; answers whether it did. Running it twice seals once.
    pub async fn seal_in_place(&self, customer_id: &str, path: &str) -> anyhow::Result<bool> {
        let opened = self.get(path).await?;
        if opened.key.is_some() {
            return Ok(false);
        }
        let key = self.key_of_customer(customer_id).await?;
        self.put_with(&key, path, &opened.bytes).await?;
        Ok(true)
    }

    /// Drops the customer's data key from memory (an account deletion deleted its row).
    pub fn forget_customer(&self, customer_id: &str) {
        if let Some(key) = lock(&self.by_customer).remove(customer_id) {
            lock(&self.by_id).remove(&*key.id);
        }
    }

    /// The customer's data key, made and stored on first use.
    pub async fn key_of_customer(&self, customer_id: &str) -> anyhow::Result<DataKey> {
        if let Some(key) = lock(&self.by_customer).get(customer_id) {
            return Ok(key.clone());
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let id = uuid::Uuid::now_v7().to_string();
        let candidate = DataKeyRow {
            wrapped_key: self.master_key.wrap_data_key(&id, &bytes),
            id,
            customer_id: customer_id.to_owned(),
        };
        let now = self.clock.now_ms();
        let row = self
            .db
            .photo_data_key_or_insert(&candidate, now)
            .await
            .with_context(|| format!("the photo data key of customer {customer_id}"))?;
        let key = self.opened(&row)?;
        remember(&self.by_customer, customer_id, &key);
        Ok(key)
    }

    async fn key_by_id(&self, id: &str) -> anyhow::Result<DataKey> {
        if let Some(key) = lock(&self.by_id).get(id) {
            return Ok(key.clone());
        }
        let row = self
            .db
            .photo_data_key(id)
            .await?
            .with_context(|| format!("photo data key {id} is not in the database"))?;
        self.opened(&row)
    }

    fn opened(&self, row: &DataKeyRow) -> anyhow::Result<DataKey> {
        let bytes = self
            .master_key
            .unwrap_data_key(&row.id, &row.wrapped_key)
            .with_context(|| format!("photo data key {}", row.id))?;
        let key = DataKey {
            id: Arc::from(row.id.as_str()),
            cipher: Arc::new(envelope::Cipher::new(&bytes)),
        };
        remember(&self.by_id, &row.id, &key);
        Ok(key)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn remember(cache: &Mutex<HashMap<String, DataKey>>, name: &str, key: &DataKey) {
    let mut cache = lock(cache);
    if cache.len() >= CACHE_CAPACITY {
        cache.clear();
    }
    cache.insert(name.to_owned(), key.clone());
}
