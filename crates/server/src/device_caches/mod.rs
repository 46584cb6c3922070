//! The device API's share of the application state, as data: the device cache, the
//! latest-firmware cache, the group-commit writer, and the memory of unknown serials and seen
//! signatures. The application state holds one [`DeviceApiState`]; the device API's handlers
//! read and fill it (the caches' loading, which needs the state, is theirs: `device_api::context`
//! and `device_api::firmware`). So the state and the device API do not import each other: both
//! import this module, which imports neither.

pub mod expiring;
pub mod rollouts;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use smartbox_domain::{
    BillingPeriod, LifecycleState, PlanId, SpendCap, SubscriptionStatus, UsageCounters,
};
use smartbox_protocol::WifiStatus;
use smartbox_protocol::wifi::WifiCredentials;
use smartbox_store::{CommitObserver, Db, FirmwareImageRow, TrafficWriter};

pub use expiring::ExpiringSet;

/// How long a serial that is not ours is answered 401 without a database read.
pub const UNKNOWN_SERIAL_TTL_MS: i64 = 5_000;
/// Unknown serials remembered at most (a flood of made-up serials cannot take memory).
const UNKNOWN_SERIALS_KEPT: usize = 10_000;
/// Signatures remembered at most: a request's is valid within the clock skew on either side.
const SIGNATURES_KEPT: usize = 200_000;

/// The device API's share of the application state: the device cache, the latest-firmware cache,
/// the group-commit writer, and the memory of unknown serials and seen signatures.
#[derive(Debug)]
pub struct DeviceApiState {
    pub devices: DeviceCache,
    pub firmware: FirmwareCache,
    /// The open rollout and pins, which decide a heartbeat's firmware offer.
    pub rollouts: rollouts::RolloutCache,
    pub writer: TrafficWriter,
    pub unknown_serials: ExpiringSet<String>,
    pub seen_signatures: ExpiringSet<[u8; 32]>,
}

impl DeviceApiState {
    /// Empty caches and a writer that starts its task on first use and tells `commits` of
    /// each batch it commits.
    pub fn new(db: Db, commits: Arc<dyn CommitObserver>) -> DeviceApiState {
        DeviceApiState {
            devices: DeviceCache::default(),
            firmware: FirmwareCache::default(),
            rollouts: rollouts::RolloutCache::default(),
            writer: TrafficWriter::new(db).observed(commits),
            unknown_serials: ExpiringSet::new(UNKNOWN_SERIAL_TTL_MS, UNKNOWN_SERIALS_KEPT),
            seen_signatures: ExpiringSet::new(
                2 * 1000 * smartbox_protocol::MAX_CLOCK_SKEW_S,
                SIGNATURES_KEPT,
            ),
        }
    }
}

/// A device as the device API sees it at `loaded_at_ms`.
#[derive(Debug, Clone)]
pub struct DeviceContext {
    pub device_id: String,
    pub serial: String,
    pub secret: [u8; 32],
    pub lifecycle: LifecycleState,
    pub checkin_interval_s: i64,
    pub subscription: Option<SubscriptionContext>,
    /// WiFi credentials saved in the portal, and the device's last report on them.
    pub wifi: Option<SavedWifi>,
    pub loaded_at_ms: i64,
}

/// The live subscription and its current period.
#[derive(Debug, Clone)]
pub struct SubscriptionContext {
    pub id: String,
    /// Whose subscription it is: the owner of the mail it accepts (and the key its photos are
    /// sealed under).
    pub customer_id: String,
    pub plan: PlanId,
    pub status: SubscriptionStatus,
    pub cap: SpendCap,
    pub period: BillingPeriod,
    /// The period's counters when the context was loaded.
    pub counters: UsageCounters,
}

/// A device's saved credentials, opened, with the device's last report (the device context).
/// `Debug` hides the passphrase ([`WifiCredentials`]'s own).
#[derive(Debug, Clone)]
pub struct SavedWifi {
    pub version: u64,
    pub credentials: WifiCredentials,
    /// The version and status the device last reported.
    pub reported: (u64, Option<WifiStatus>),
}

/// Recently loaded contexts by serial.
///
/// Forgetting is exact even against a load in flight: every forget advances a generation, and a
/// load that started before a forget of its serial (or of everything) is answered but not kept,
/// since it may have read the database before the change that made the caller forget.
#[derive(Debug, Default)]
pub struct DeviceCache {
    pub(crate) inner: RwLock<Slots>,
}

#[derive(Debug, Default)]
pub(crate) struct Slots {
    pub(crate) by_serial: HashMap<String, Slot>,
    /// Advanced by every forget.
    pub(crate) generation: u64,
    /// The generation of the last [`DeviceCache::forget_all`] (or capacity purge).
    pub(crate) cleared_at: u64,
    /// Serials whose background reload is under way (one at a time per serial).
    pub(crate) refreshing: HashSet<String>,
}

#[derive(Debug)]
pub(crate) enum Slot {
    Loaded(Arc<DeviceContext>),
    /// Forgotten at this generation.
    Forgotten(u64),
}

/// The newest published image of each hardware revision, read at most once per the device
/// API's firmware TTL.
#[derive(Debug, Default)]
pub struct FirmwareCache {
    pub(crate) latest: RwLock<HashMap<String, (i64, Option<FirmwareImageRow>)>>,
}
