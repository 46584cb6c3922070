//! Group commit of every device-API write (the store's, beside the SQL it drives in
//! `device_traffic` and the SQLite WAL policy both share): heartbeats' vitals, usage, new mail events and photo
//! records. Requests hand their writes to one task, which takes every write waiting in its queue,
//! commits them in one transaction on a connection it keeps, and only then lets each request
//! answer. Under load a transaction carries hundreds of writes, so the database sees a few hundred
//! commits per second instead of one per request (DESIGN §10), and on SQLite the device API's
//! writes never queue for the database's one write lock; when idle, a write is committed on its
//! own at once, so latency is one transaction. On SQLite a task beside the writer checkpoints the
//! WAL every [`CHECKPOINT_EVERY`], so batches seldom wait for a checkpoint (they did, dozens of
//! times a second, when the writer's commits ran them: the heartbeat p99 went from 13 to 11 ms).
//! Under unbroken traffic that task never finds the whole WAL copied (the writer appends while it
//! copies), so the WAL would never start over: once it passes [`RESTART_WAL_AT`] pages, the task
//! asks the writer, which copies the few pages left between two batches, and its next transaction
//! starts the WAL over. That costs three syncs every ~13 s instead of several every second (the
//! heartbeat p99 at 10,000/s, after a minute of heavy traffic, went from 25-27 ms to 8.6-12.6 ms).
//!
//! A batch the database refuses (a constraint, say a row deleted meanwhile) is written again one
//! write at a time, so one bad write fails alone instead of failing its neighbours.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::{
    Db, EventStored, NewEvent, NewPhoto, PhotoStored, StoreError, TrafficBatch, TrafficConnection,
    TrafficOutcome, UsageDelta, VitalsRow,
};

/// Writes taken into one transaction at most.
const MAX_BATCH: usize = 1_024;
/// Writes waiting at most; past it, senders wait (back-pressure instead of unbounded memory).
const QUEUE: usize = 16_384;
/// How often the WAL is checkpointed beside the writer (SQLite).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// WAL pages (4 KiB) past which the writer lets the WAL start over (SQLite): 1 GiB, every ~13 s at
/// 10,000 heartbeats a second. Each time costs a stall of 10-25 ms (three syncs), which at 256 MiB
/// came often enough to hold the p99 at 11-14 ms.
const RESTART_WAL_AT: i64 = 262_144;

/// One request's writes.
#[derive(Debug, Default)]
struct Writes {
    vitals: Option<VitalsRow>,
    usage: Option<UsageDelta>,
    event: Option<NewEvent>,
    photo: Option<NewPhoto>,
}

/// What the group commit did with one request's writes.
#[derive(Debug, Clone, Copy, Default)]
struct Written {
    event: Option<EventStored>,
    photo: Option<PhotoStored>,
}

#[derive(Debug)]
struct Queued {
    writes: Writes,
    done: oneshot::Sender<Result<Written, String>>,
}

/// Told of every group commit, so the server can publish batch sizes and commit times
/// (`/metrics`) without the store knowing how they are exposed.
pub trait CommitObserver: Send + Sync + std::fmt::Debug {
    /// A transaction carrying `writes` requests' writes took `took` (whether or not it committed).
    fn committed(&self, writes: usize, took: Duration);
}

/// The handle requests write through; the task starts on the first write.
#[derive(Debug)]
pub struct TrafficWriter {
    db: Db,
    queue: OnceLock<mpsc::Sender<Queued>>,
    /// WAL pages past which the writer lets the WAL start over.
    restart_wal_at: i64,
    /// Told of each batch's size and commit time.
    observer: Option<Arc<dyn CommitObserver>>,
}

impl TrafficWriter {
    /// A writer for `db`; nothing runs until the first write.
    pub fn new(db: Db) -> TrafficWriter {
        TrafficWriter::with_wal_limit(db, RESTART_WAL_AT)
    }

    fn with_wal_limit(db: Db, restart_wal_at: i64) -> TrafficWriter {
        TrafficWriter {
            db,
            queue: OnceLock::new(),
            restart_wal_at,
            observer: None,
        }
    }

    /// The same writer, telling `observer` of every batch it commits.
    pub fn observed(mut self, observer: Arc<dyn CommitObserver>) -> TrafficWriter {
        self.observer = Some(observer);
        self
    }

    /// Writes a heartbeat's vitals and a request's usage; returns once they are committed.
    pub async fn write(
        &self,
        vitals: Option<VitalsRow>,
        usage: Option<UsageDelta>,
    ) -> Result<(), StoreError> {
        self.submit(Writes {
            vitals,
            usage,
            ..Writes::default()
        })
        .await
        .map(|_| ())
    }

    /// Stores an event unless its id exists (then nothing changes and nothing is counted) or it
    /// would pass the spend cap; returns once committed, with what became of it.
    pub async fn insert_event(&self, event: NewEvent) -> Result<EventStored, StoreError> {
        let written = self
            .submit(Writes {
                event: Some(event),
                ..Writes::default()
            })
            .await?;
        written
            .event
            .ok_or_else(|| StoreError::Writer("it lost an event's outcome".to_owned()))
    }

    /// Records a photo (already in the blob store) unless its (event, index) exists; returns once
    /// committed, with whether it was new and completed its event.
    pub async fn insert_photo(&self, photo: NewPhoto) -> Result<PhotoStored, StoreError> {
        let written = self
            .submit(Writes {
                photo: Some(photo),
                ..Writes::default()
            })
            .await?;
        written
            .photo
            .ok_or_else(|| StoreError::Writer("it lost a photo's outcome".to_owned()))
    }

    async fn submit(&self, writes: Writes) -> Result<Written, StoreError> {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            let (running, stopped) = oneshot::channel::<()>();
            let restart_wal = Arc::new(AtomicBool::new(false));
            tokio::spawn(checkpoint(
                self.db.clone(),
                stopped,
                self.restart_wal_at,
                Arc::clone(&restart_wal),
            ));
            let db = self.db.clone();
            let observer = self.observer.clone();
            tokio::spawn(async move {
                run(db, receiver, &restart_wal, observer.as_deref()).await;
                drop(running);
            });
            sender
        });
        let (done, committed) = oneshot::channel();
        queue
            .send(Queued { writes, done })
            .await
            .map_err(|_| StoreError::Writer("it has stopped".to_owned()))?;
        committed
            .await
            .map_err(|_| StoreError::Writer("it dropped a write".to_owned()))?
            .map_err(StoreError::Writer)
    }
}

/// Checkpoints the WAL every [`CHECKPOINT_EVERY`] until the writer stops, and asks the writer to
/// let the WAL start over once it holds `restart_at` pages.
async fn checkpoint(
    db: Db,
    mut writer_stopped: oneshot::Receiver<()>,
    restart_at: i64,
    restart_wal: Arc<AtomicBool>,
) {
    loop {
        tokio::select! {
            _ = &mut writer_stopped => return,
            () = db.closing() => return,
            () = tokio::time::sleep(CHECKPOINT_EVERY) => {}
        }
        match db.checkpoint_wal().await {
            Ok(Some(wal)) if wal.written >= restart_at => {
                restart_wal.store(true, Ordering::Relaxed)
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "WAL checkpoint failed"),
        }
    }
}

async fn run(
    db: Db,
    mut queue: mpsc::Receiver<Queued>,
    restart_wal: &AtomicBool,
    observer: Option<&dyn CommitObserver>,
) {
    let mut connection: Option<TrafficConnection> = None;
    let mut queued = Vec::with_capacity(MAX_BATCH);
    let mut batch = TrafficBatch::default();
    loop {
        tokio::select! {
            received = queue.recv_many(&mut queued, MAX_BATCH) => {
                if received == 0 {
                    return;
                }
            }
            // The database is closing (shutdown): it waits for the kept connection.
            () = db.closing(), if connection.is_some() => {
                connection = None;
                continue;
            }
        }
        let shapes: Vec<Shape> = queued
            .iter_mut()
            .map(|item| fill(&mut batch, &mut item.writes))
            .collect();
        let started = Instant::now();
        let committed = commit(&db, &mut connection, &batch).await;
        if let Some(observer) = observer {
            observer.committed(queued.len(), started.elapsed());
        }
        match committed {
            Ok(outcome) => {
                let mut at = Shape::default();
                for (item, shape) in queued.drain(..).zip(shapes) {
                    let _ = item.done.send(Ok(written(&outcome, shape, &at)));
                    at.advance(shape);
                }
            }
            Err(err) if queued.len() > 1 && err.is_refusal() => {
                tracing::warn!(error = %err, writes = queued.len(), "device traffic batch refused: writing it one request at a time");
                let mut at = Shape::default();
                for (item, shape) in queued.drain(..).zip(shapes) {
                    let alone = slice(&batch, shape, &at);
                    at.advance(shape);
                    let result = commit(&db, &mut connection, &alone).await;
                    let _ = item.done.send(
                        result
                            .map(|outcome| written(&outcome, shape, &Shape::default()))
                            .map_err(|err| err.to_string()),
                    );
                }
            }
            Err(err) => {
                let message = err.to_string();
                tracing::error!(error = %message, writes = queued.len(), "device traffic batch failed");
                for item in queued.drain(..) {
                    let _ = item.done.send(Err(message.clone()));
                }
            }
        }
        batch.clear();
        // Between batches: the requests just answered do not wait for it.
        if restart_wal.swap(false, Ordering::Relaxed)
            && let Some(conn) = connection.as_mut()
            && let Err(err) = conn.checkpoint_wal().await
        {
            tracing::warn!(error = %err, "the device API writer's WAL checkpoint failed");
            connection = None;
        }
    }
}

/// Which writes a request brought (at most one of each kind), or, as a position in a batch, how
/// many of each kind came before.
#[derive(Debug, Clone, Copy, Default)]
struct Shape {
    vitals: usize,
    usage: usize,
    event: usize,
    photo: usize,
}

impl Shape {
    fn advance(&mut self, by: Shape) {
        self.vitals += by.vitals;
        self.usage += by.usage;
        self.event += by.event;
        self.photo += by.photo;
    }
}

/// Moves one request's writes into the batch, in the requests' order.
fn fill(batch: &mut TrafficBatch, writes: &mut Writes) -> Shape {
    let shape = Shape {
        vitals: usize::from(writes.vitals.is_some()),
        usage: usize::from(writes.usage.is_some()),
        event: usize::from(writes.event.is_some()),
        photo: usize::from(writes.photo.is_some()),
    };
    batch.vitals.extend(writes.vitals.take());
    batch.usage.extend(writes.usage.take());
    batch.events.extend(writes.event.take());
    batch.photos.extend(writes.photo.take());
    shape
}

/// What became of the writes of `shape` found at position `at` in the batch.
fn written(outcome: &TrafficOutcome, shape: Shape, at: &Shape) -> Written {
    Written {
        event: (shape.event > 0)
            .then(|| outcome.events.get(at.event).copied())
            .flatten(),
        photo: (shape.photo > 0)
            .then(|| outcome.photos.get(at.photo).copied())
            .flatten(),
    }
}

/// A copy of the writes of `shape` found at position `at` in the batch.
fn slice(batch: &TrafficBatch, shape: Shape, at: &Shape) -> TrafficBatch {
    fn rows<T: Clone>(all: &[T], at: usize, count: usize) -> Vec<T> {
        all.get(at..at + count)
            .map(<[T]>::to_vec)
            .unwrap_or_default()
    }
    TrafficBatch {
        vitals: rows(&batch.vitals, at.vitals, shape.vitals),
        usage: rows(&batch.usage, at.usage, shape.usage),
        events: rows(&batch.events, at.event, shape.event),
        photos: rows(&batch.photos, at.photo, shape.photo),
    }
}

/// Commits a batch on the writer's connection, taking one from the pool when it has none; a
/// connection that failed is given back, so a broken one is replaced on the next batch.
async fn commit(
    db: &Db,
    connection: &mut Option<TrafficConnection>,
    batch: &TrafficBatch,
) -> Result<TrafficOutcome, StoreError> {
    if batch.is_empty() {
        return Ok(TrafficOutcome::default());
    }
    let conn = match connection {
        Some(conn) => conn,
        None => connection.insert(db.traffic_connection().await?),
    };
    let result = conn.write(batch).await;
    if result.is_err() {
        *connection = None;
    }
    result
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crate::{NewDevice, testing};

    use super::*;

    const DEVICES: usize = 200;

    fn heartbeat(device: usize, at: i64) -> VitalsRow {
        VitalsRow {
            device_id: format!("dev-{device}"),
            recorded_at: at,
            battery_percentage: 80,
            power_state: "awake".into(),
            signal_dbm: -80,
            network: "cellular".into(),
            firmware_version: "1.0.0".into(),
            modem_tx_bytes: at,
            modem_rx_bytes: at,
            sd_queue_len: 0,
            sd_oldest_age_s: None,
            sd_failed_deliveries: None,
        }
    }

    /// How many times the WAL has started over: the checkpoint sequence number in its header.
    fn wal_restarts(wal: &std::path::Path) -> u32 {
        let header = std::fs::read(wal).expect("the WAL exists");
        u32::from_be_bytes(header[12..16].try_into().expect("a WAL header"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn under_unbroken_traffic_the_wal_starts_over_once_past_its_limit() {
        // 16 tasks write heartbeats back to back for 2 s through a writer that lets the WAL start
        // over past 256 pages.
        let t = testing::sqlite().await;
        let devices: Vec<NewDevice> = (0..DEVICES)
            .map(|i| NewDevice {
                id: format!("dev-{i}"),
                serial: format!("SB-{i:04}"),
                secret_ciphertext: vec![1],
                claim_code_hash: format!("hash-{i}"),
                created_at: 0,
            })
            .collect();
        t.db.insert_devices(&devices).await.unwrap();
        let writer = Arc::new(TrafficWriter::with_wal_limit(t.db.clone(), 256));
        let deadline = Instant::now() + Duration::from_secs(2);
        let tasks: Vec<_> = (0..16)
            .map(|task| {
                let writer = Arc::clone(&writer);
                tokio::spawn(async move {
                    let mut at = 0;
                    while Instant::now() < deadline {
                        at += 1;
                        let device = (task * 13 + at as usize * 7) % DEVICES;
                        writer
                            .write(Some(heartbeat(device, at * 16 + task as i64)), None)
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let path = t.url.strip_prefix("sqlite://").unwrap();
        let wal = std::path::PathBuf::from(format!("{path}-wal"));
        let largest = std::fs::metadata(&wal).unwrap().len();
        let restarts = wal_restarts(&wal);
        assert!(restarts >= 2, "the WAL started over {restarts} times");
        assert!(
            largest < 32 << 20,
            "the WAL grew to {largest} bytes (limit: 256 pages of 4 KiB)"
        );
    }
}
