//! The other processes' batches, received on one `LISTEN` connection per process and applied
//! here: device contexts forgotten, rollouts reloaded, live streams told. A lost connection is
//! opened again with backoff (up to [`MAX_BACKOFF`]); since batches sent meanwhile are gone,
//! every (re)connection forgets every cached context and tells every stream to resync.

use std::time::Duration;

use smartbox_store::Received;

use super::{Batch, Update};
use crate::state::AppState;

/// The longest wait between two attempts to reconnect.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Starts listening for the other processes' batches; does nothing on SQLite. The task ends when
/// the server begins to shut down.
pub fn listen(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        let mut stopping = state.stopping();
        tokio::select! {
            () = run(&state) => {},
            _ = stopping.wait_for(|stopping| *stopping) => {},
        }
    });
}

async fn run(state: &AppState) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match state.db.signal_listener().await {
            Ok(None) => return,
            Ok(Some(mut listener)) => {
                backoff = FIRST_BACKOFF;
                resync(state);
                loop {
                    match listener.recv().await {
                        Ok(Received::Signal(payload)) => apply(state, &payload),
                        Ok(Received::Lost) => {
                            tracing::warn!("cluster: listener connection lost; reconnected");
                            resync(state);
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "cluster: listener connection failed");
                            break;
                        }
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "cluster: cannot listen"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Applies another process's batch (this process applied its own when it made the changes).
fn apply(state: &AppState, payload: &str) {
    let Some(batch) = Batch::decode(payload) else {
        tracing::warn!(payload, "cluster: a signal that is not a batch");
        return;
    };
    if batch.origin == state.cluster.origin() {
        return;
    }
    let devices = &state.device_api.devices;
    if batch.all_devices {
        devices.forget_all();
    } else {
        for serial in &batch.devices {
            devices.forget(serial);
        }
    }
    if batch.rollouts {
        state.device_api.rollouts.forget();
        state.device_api.firmware.forget();
    }
    if !batch.owners.is_empty() {
        state
            .cluster
            .deliver(Update::News(std::sync::Arc::new(batch.owners)));
    }
}

/// After signals may have been missed: every cache is forgotten, every stream renders afresh.
fn resync(state: &AppState) {
    state.device_api.devices.forget_all();
    state.device_api.rollouts.forget();
    state.device_api.firmware.forget();
    state.cluster.deliver(Update::Resync);
}
