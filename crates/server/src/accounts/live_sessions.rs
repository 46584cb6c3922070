//! The sessions that live streams hold open, checked together: one query every [`SWEEP`] for
//! every stream of the process, instead of one per stream. A stream ends when its session is
//! deleted (logout, a password reset, sessions ended from the account page, by any process) or
//! expires.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use smartbox_store::Db;
use tokio::sync::watch;

use crate::clock::Clock;

/// How often the held sessions are checked.
pub const SWEEP: Duration = Duration::from_secs(2);

/// The sessions held by this process's live streams.
#[derive(Debug)]
pub struct LiveSessions {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    db: Db,
    clock: Arc<dyn Clock>,
    held: Mutex<HashMap<String, Held>>,
    sweeper_started: OnceLock<()>,
}

#[derive(Debug)]
struct Held {
    streams: usize,
    ended: watch::Sender<bool>,
}

/// One stream's hold on its session; let go when dropped.
#[derive(Debug)]
pub struct Hold {
    shared: Arc<Shared>,
    token_hash: String,
    /// Becomes true when the session ends.
    pub ended: watch::Receiver<bool>,
}

impl LiveSessions {
    /// Nothing held yet; the sweep starts with the first hold.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> LiveSessions {
        LiveSessions {
            shared: Arc::new(Shared {
                db,
                clock,
                held: Mutex::new(HashMap::new()),
                sweeper_started: OnceLock::new(),
            }),
        }
    }

    /// Holds the session `token_hash` for a stream: its `ended` turns true once the session is
    /// gone.
    pub fn hold(&self, token_hash: &str) -> Hold {
        let ended = match self.shared.held.lock() {
            Ok(mut held) => {
                let entry = held.entry(token_hash.to_owned()).or_insert_with(|| Held {
                    streams: 0,
                    ended: watch::Sender::new(false),
                });
                entry.streams += 1;
                entry.ended.subscribe()
            }
            Err(_) => watch::Sender::new(true).subscribe(),
        };
        self.shared.sweeper_started.get_or_init(|| {
            tokio::spawn(sweep(Arc::downgrade(&self.shared)));
        });
        Hold {
            shared: Arc::clone(&self.shared),
            token_hash: token_hash.to_owned(),
            ended,
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if let Ok(mut held) = self.shared.held.lock()
            && let Some(entry) = held.get_mut(&self.token_hash)
        {
            entry.streams = entry.streams.saturating_sub(1);
            if entry.streams == 0 {
                held.remove(&self.token_hash);
            }
        }
    }
}

/// Every [`SWEEP`], ends the holds of sessions that are gone; stops with its [`LiveSessions`].
async fn sweep(shared: Weak<Shared>) {
    loop {
        tokio::time::sleep(SWEEP).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let hashes: Vec<String> = match shared.held.lock() {
            Ok(held) => held.keys().cloned().collect(),
            Err(_) => return,
        };
        if hashes.is_empty() {
            continue;
        }
        let live = match shared
            .db
            .live_session_hashes(&hashes, shared.clock.now_ms())
            .await
        {
            Ok(live) => live.into_iter().collect::<HashSet<String>>(),
            Err(err) => {
                tracing::warn!(error = %err, "live streams: cannot check their sessions");
                continue;
            }
        };
        if let Ok(mut held) = shared.held.lock() {
            held.retain(|hash, entry| {
                let alive = live.contains(hash);
                if !alive {
                    entry.ended.send_replace(true);
                }
                alive
            });
        }
    }
}
