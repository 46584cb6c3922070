//! The open firmware rollout and pins as the heartbeat's offer needs them, and the progress this
//! process already wrote; read and filled by `device_api::rollout_offer`.

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
    pub(crate) rollout: Option<OpenRollout>,
    pub(crate) pins: HashMap<String, FirmwareImageRow>,
}

/// The open rollout and pins, and the progress this process already wrote.
#[derive(Debug, Default)]
pub struct RolloutCache {
    pub(crate) snapshot: RwLock<Option<(i64, Arc<Snapshot>)>>,
    /// (rollout, device) pairs whose offer or confirmation is written.
    pub(crate) written: Mutex<HashSet<(String, String, DeviceProgress)>>,
}
