//! Which image a heartbeat offers, now that images go out in staged rollouts: a pinned mailbox
//! its pin; while a rollout of the mailbox's hardware revision is open, the mailboxes of its
//! current stage its image (and nobody else of that revision anything, so a paused or stopped
//! image reaches no one new); without one, the newest image for its board as before
//! ([`super::FirmwareCache`]). The revision is the one the heartbeat reports; it is written to
//! the devices row only when it differs from the stored one ([`RolloutCache::note_revision`]).
//!
//! The open rollout and the pins are read at most once per [`ROLLOUT_CACHE_TTL_MS`] (a change
//! made in this process forgets them at once). The heartbeat writes only when a mailbox's
//! progress moves: its first offer, and its first check-in on the rollout's image (which
//! confirms it); both are remembered here so a mailbox's later heartbeats write nothing.

use std::collections::HashMap;
use std::sync::Arc;

use smartbox_domain::rollout::{self, DeviceProgress};
use smartbox_domain::{DeviceId, RolloutId};
use smartbox_protocol::FirmwareOffer;
use smartbox_store::FirmwareImageRow;

pub use crate::device_caches::rollouts::RolloutCache;
use crate::device_caches::rollouts::{OpenRollout, Snapshot};

use super::context::DeviceContext;
use super::firmware::offer;
use crate::error::ApiError;
use crate::state::AppState;

/// How long the open rollout and the pins are trusted before they are read again.
pub const ROLLOUT_CACHE_TTL_MS: i64 = 5_000;

/// Mailboxes whose revision is remembered at most (past it, all are forgotten and each
/// mailbox's next heartbeat checks its row once more).
const REVISIONS_KEPT: usize = 200_000;

impl RolloutCache {
    /// The offer for `device`, a board of `hardware_revision`, running `running`.
    pub async fn offer_for(
        &self,
        state: &AppState,
        device: &DeviceContext,
        hardware_revision: &str,
        running: &str,
    ) -> Result<Option<FirmwareOffer>, ApiError> {
        let snapshot = self.snapshot(state).await?;
        if let Some(pinned) = snapshot.pins.get(&device.device_id) {
            return Ok((pinned.version != running).then(|| offer(pinned)).flatten());
        }
        let Some(open) = snapshot.rollouts.get(hardware_revision) else {
            return state
                .device_api
                .firmware
                .offer_for(state, hardware_revision, running)
                .await;
        };
        let device_id = DeviceId::new(device.device_id.as_str());
        if open.image.version == running {
            self.record(state, open, &device_id, DeviceProgress::Confirmed)
                .await?;
            return Ok(None);
        }
        let member = (open.targets.is_empty() || open.targets.contains(&device.serial))
            && rollout::is_member(&device.serial, open.id.as_str(), open.percent);
        if !(open.state.offers() && member) {
            return Ok(None);
        }
        self.record(state, open, &device_id, DeviceProgress::Offered)
            .await?;
        Ok(offer(&open.image))
    }

    /// Stores the hardware revision `device` reported when it is not the stored one: one
    /// conditional write per mailbox and process, then none until the revision changes.
    pub async fn note_revision(
        &self,
        state: &AppState,
        device: &DeviceContext,
        hardware_revision: &str,
    ) -> Result<(), ApiError> {
        let known = self
            .revisions
            .lock()
            .ok()
            .and_then(|r| r.get(&device.device_id).cloned());
        if known.as_deref() == Some(hardware_revision) {
            return Ok(());
        }
        let id = DeviceId::new(device.device_id.as_str());
        if state
            .db
            .set_hardware_revision(&id, hardware_revision)
            .await?
        {
            // Its rollout is another one now: the gates' figures and the report follow the row.
            tracing::info!(serial = %device.serial, hardware_revision, "hardware revision changed");
        }
        if let Ok(mut revisions) = self.revisions.lock() {
            if revisions.len() >= REVISIONS_KEPT {
                revisions.clear();
            }
            revisions.insert(device.device_id.clone(), hardware_revision.to_owned());
        }
        Ok(())
    }

    /// Writes `progress` for the device once per process.
    async fn record(
        &self,
        state: &AppState,
        open: &OpenRollout,
        device: &DeviceId,
        progress: DeviceProgress,
    ) -> Result<(), ApiError> {
        let key = (
            open.id.as_str().to_owned(),
            device.as_str().to_owned(),
            progress,
        );
        if self.written.lock().is_ok_and(|w| w.contains(&key)) {
            return Ok(());
        }
        let now = state.clock.now_ms();
        match progress {
            DeviceProgress::Offered => {
                state
                    .db
                    .record_rollout_offer(&open.id, device, open.stage, now)
                    .await?;
            }
            _ => {
                state
                    .db
                    .move_rollout_progress(device, &open.image.version, progress, now)
                    .await?;
            }
        }
        if let Ok(mut written) = self.written.lock() {
            written.insert(key);
        }
        Ok(())
    }

    async fn snapshot(&self, state: &AppState) -> Result<Arc<Snapshot>, ApiError> {
        let now_ms = state.clock.now_ms();
        if let Ok(guard) = self.snapshot.read()
            && let Some((loaded_at, snapshot)) = guard.as_ref()
            && (0..ROLLOUT_CACHE_TTL_MS).contains(&(now_ms - loaded_at))
        {
            return Ok(snapshot.clone());
        }
        let snapshot = Arc::new(load(state).await?);
        if let Ok(mut guard) = self.snapshot.write() {
            *guard = Some((now_ms, snapshot.clone()));
        }
        Ok(snapshot)
    }

    /// Forgets the snapshot, after a change in this process.
    pub fn forget(&self) {
        if let Ok(mut guard) = self.snapshot.write() {
            *guard = None;
        }
    }
}

async fn load(state: &AppState) -> Result<Snapshot, ApiError> {
    let mut images: HashMap<String, Option<FirmwareImageRow>> = HashMap::new();
    let mut pins = HashMap::new();
    for pin in state.db.firmware_pins().await? {
        if !images.contains_key(&pin.version) {
            let row = state.db.firmware_by_version(&pin.version).await?;
            images.insert(pin.version.clone(), row);
        }
        if let Some(Some(row)) = images.get(&pin.version) {
            pins.insert(pin.device_id, row.clone());
        }
    }
    let mut rollouts = HashMap::new();
    for row in state.db.open_rollouts().await? {
        let id = RolloutId::new(row.id.as_str());
        let percent = state
            .db
            .rollout_stages(&id)
            .await?
            .into_iter()
            .find(|s| s.position == row.stage)
            .map_or(0, |s| u8::try_from(s.percent).unwrap_or(100));
        let targets = state.db.rollout_targets(&id).await?.into_iter().collect();
        if let Some(image) = state.db.firmware_by_version(&row.version).await? {
            let open = OpenRollout {
                id,
                state: row.state,
                stage: row.stage,
                percent,
                image,
                targets,
            };
            rollouts.insert(row.hardware_revision, open);
        }
    }
    Ok(Snapshot { rollouts, pins })
}
