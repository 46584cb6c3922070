//! Group commit of heartbeats and usage: requests hand their writes to one task, which takes every
//! write waiting in its queue, commits them in one transaction and only then lets each request
//! answer. Under load a transaction carries hundreds of writes, so the database sees a few hundred
//! commits per second instead of one per request (DESIGN §10); when idle, a write is committed on
//! its own at once, so latency is one transaction.

use std::sync::OnceLock;

use anyhow::Context;
use smartbox_store::{Db, UsageDelta, VitalsRow};
use tokio::sync::{mpsc, oneshot};

/// Writes taken into one transaction at most.
const MAX_BATCH: usize = 1_024;
/// Writes waiting at most; past it, senders wait (back-pressure instead of unbounded memory).
const QUEUE: usize = 16_384;

#[derive(Debug)]
struct Write {
    vitals: Option<VitalsRow>,
    usage: Option<UsageDelta>,
    done: oneshot::Sender<Result<(), String>>,
}

/// The handle requests write through; the task starts on the first write.
#[derive(Debug)]
pub struct TrafficWriter {
    db: Db,
    queue: OnceLock<mpsc::Sender<Write>>,
}

impl TrafficWriter {
    /// A writer for `db`; nothing runs until the first write.
    pub fn new(db: Db) -> TrafficWriter {
        TrafficWriter {
            db,
            queue: OnceLock::new(),
        }
    }

    /// Queues the writes and returns once the transaction holding them is committed.
    pub async fn write(
        &self,
        vitals: Option<VitalsRow>,
        usage: Option<UsageDelta>,
    ) -> anyhow::Result<()> {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(run(self.db.clone(), receiver));
            sender
        });
        let (done, committed) = oneshot::channel();
        queue
            .send(Write {
                vitals,
                usage,
                done,
            })
            .await
            .map_err(|_| anyhow::anyhow!("the traffic writer has stopped"))?;
        committed
            .await
            .context("the traffic writer dropped a write")?
            .map_err(|message| anyhow::anyhow!("writing device traffic: {message}"))
    }
}

async fn run(db: Db, mut queue: mpsc::Receiver<Write>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut vitals = Vec::with_capacity(MAX_BATCH);
    let mut usage = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        for write in &mut batch {
            vitals.extend(write.vitals.take());
            usage.extend(write.usage.take());
        }
        let result = db
            .write_device_traffic(&vitals, &usage)
            .await
            .map_err(|err| err.to_string());
        if let Err(message) = &result {
            tracing::error!(error = %message, writes = batch.len(), "device traffic batch failed");
        }
        for write in batch.drain(..) {
            let _ = write.done.send(result.clone());
        }
        vitals.clear();
        usage.clear();
    }
}
