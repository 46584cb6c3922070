//! The open firmware rollouts (one per hardware revision) and pins as the heartbeat's offer
//! needs them, the progress this process already wrote and the hardware revision each mailbox
//! last reported; read and filled by `device_api::rollout_offer`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use smartbox_domain::RolloutId;
use smartbox_domain::rollout::{DeviceProgress, RolloutState};
use smartbox_store::FirmwareImageRow;

/// The open rollout as the heartbeat needs it.
#[derive(Debug, Clone)]
pub(crate) struct OpenRollout {
    pub(crate) id: RolloutId,
    pub(crate) state: RolloutState,
    pub(crate) stage: i64,
    pub(crate) percent: u8,
    pub(crate) image: FirmwareImageRow,
    /// The serials it is limited to; empty: every mailbox.
    pub(crate) targets: HashSet<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// The open rollout of each hardware revision.
    pub(crate) rollouts: HashMap<String, OpenRollout>,
    pub(crate) pins: HashMap<String, FirmwareImageRow>,
}

/// The open rollouts and pins, the progress this process already wrote, and the revisions
/// mailboxes reported.
#[derive(Debug, Default)]
pub struct RolloutCache {
    pub(crate) snapshot: RwLock<Option<(i64, Arc<Snapshot>)>>,
    /// (rollout, device) pairs whose offer or confirmation is written.
    pub(crate) written: Mutex<HashSet<(String, String, DeviceProgress)>>,
    /// The hardware revision stored for each mailbox, as this process last wrote or found it,
    /// so a heartbeat writes the devices row only when the reported revision changes.
    pub(crate) revisions: Mutex<HashMap<String, String>>,
}
