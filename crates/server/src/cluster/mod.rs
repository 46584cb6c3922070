//! Keeping several server processes on one database in step, and this process's live streams
//! fed. A change that other processes must see at once (a device's context, the rollouts) or
//! that a dashboard shows (mail, a photo, a heartbeat) is applied here at once and gathered into
//! a [`Batch`] that a background task sends every [`GATHER`]: to this process's live streams
//! through a broadcast, and on PostgreSQL to every other process as a `NOTIFY`
//! (`smartbox_store::signals`). [`listener`] receives the others' batches on one connection per
//! process, reconnecting with backoff, and treats everything as changed after a lost connection.
//! On SQLite (one process) only the broadcast runs.
//!
//! So a dashboard waits on the broadcast instead of asking the database every second and a
//! half, and the device API may trust its cache: a change made anywhere reaches it within
//! milliseconds, not at the cache's TTL.

pub mod batch;
pub mod listener;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use smartbox_store::{Backend, Db, MAX_SIGNAL_BYTES};
use tokio::sync::{Notify, broadcast};

pub use batch::Batch;

/// How long changes are gathered before one batch carries them: a burst of heartbeats costs
/// one `NOTIFY` and one wake-up per stream, not one per heartbeat.
pub const GATHER: Duration = Duration::from_millis(25);

/// Updates a slow stream may fall behind by before it is told to resync.
const UPDATES_KEPT: usize = 1_024;

/// What a live stream hears.
#[derive(Debug, Clone)]
pub enum Update {
    /// These customers' mailboxes had news.
    News(Arc<BTreeSet<String>>),
    /// Changes may have been missed (a lost listener connection): anything may have changed.
    Resync,
}

/// This process's end of the cluster: the changes gathered for the next batch, and the
/// broadcast the live streams listen to.
#[derive(Debug)]
pub struct Cluster {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    db: Db,
    /// This process's id in the batches it sends.
    origin: String,
    pending: Mutex<Batch>,
    wake: Notify,
    updates: broadcast::Sender<Update>,
    /// Set once the task that sends the batches runs.
    sender_started: OnceLock<()>,
}

impl Cluster {
    /// A cluster end on `db`; the task that sends batches starts with the first change.
    pub fn new(db: Db) -> Cluster {
        Cluster {
            shared: Arc::new(Shared {
                db,
                origin: uuid::Uuid::now_v7().to_string(),
                pending: Mutex::new(Batch::default()),
                wake: Notify::new(),
                updates: broadcast::Sender::new(UPDATES_KEPT),
                sender_started: OnceLock::new(),
            }),
        }
    }

    /// This process's id: batches that carry it are its own.
    pub fn origin(&self) -> &str {
        &self.shared.origin
    }

    /// Tells the other processes that the context of device `serial` changed.
    pub fn device_changed(&self, serial: &str) {
        self.gather(|batch| {
            if !batch.devices.contains(serial) {
                batch.devices.insert(serial.to_owned());
            }
        });
    }

    /// Tells the other processes that any device's context may have changed.
    pub fn devices_changed(&self) {
        self.gather(|batch| batch.all_devices = true);
    }

    /// Tells the other processes that the rollouts or the published firmware changed.
    pub fn rollouts_changed(&self) {
        self.gather(|batch| batch.rollouts = true);
    }

    /// Tells every live stream (here and in the other processes) that the mailboxes of customer
    /// `owner` had news.
    pub fn news_for(&self, owner: &str) {
        self.gather(|batch| {
            if !batch.owners.contains(owner) {
                batch.owners.insert(owner.to_owned());
            }
        });
    }

    /// The updates from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.shared.updates.subscribe()
    }

    /// Hands an update to this process's live streams (the listener's, for other processes'
    /// batches).
    pub(crate) fn deliver(&self, update: Update) {
        // No stream listening is not an error.
        let _ = self.shared.updates.send(update);
    }

    fn gather(&self, change: impl FnOnce(&mut Batch)) {
        if let Ok(mut pending) = self.shared.pending.lock() {
            change(&mut pending);
        }
        self.shared.sender_started.get_or_init(|| {
            tokio::spawn(send_batches(Arc::downgrade(&self.shared)));
        });
        self.shared.wake.notify_one();
    }
}

/// Sends the gathered changes every [`GATHER`] while there are any; ends with its cluster.
async fn send_batches(shared: Weak<Shared>) {
    loop {
        let Some(live) = shared.upgrade() else {
            return;
        };
        // Wake at least every second to notice that the cluster is gone.
        if tokio::time::timeout(Duration::from_secs(1), live.wake.notified())
            .await
            .is_err()
        {
            continue;
        }
        tokio::time::sleep(GATHER).await;
        let batch = match live.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return,
        };
        if batch.is_empty() {
            continue;
        }
        if !batch.owners.is_empty() {
            let _ = live
                .updates
                .send(Update::News(Arc::new(batch.owners.clone())));
        }
        if live.db.backend() == Backend::Postgres {
            let batch = Batch {
                origin: live.origin.clone(),
                ..batch
            };
            for payload in batch.payloads(MAX_SIGNAL_BYTES) {
                if let Err(err) = live.db.send_signal(&payload).await {
                    tracing::warn!(error = %err, "cluster: cannot tell the other processes");
                }
            }
        }
    }
}
