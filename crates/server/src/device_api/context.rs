//! What a request knows about its device: identity, opened secret, lifecycle, live subscription,
//! the current period's counters and the service state they imply; and the cache that keeps it.
//!
//! Opening a secret and reading the device, its subscription and its counters costs three steps
//! per request; a mailbox that talks several times in a wake cycle (event, photos, heartbeat) and a
//! benchmark that hammers a few devices pay them once per [`CACHE_TTL_MS`] (and again when the
//! billing period turns). Changes made in this process reach the device API at once: whatever
//! changes a subscription or a device (billing jobs, the Stripe webhook, the portal's and the
//! customer API's plan, card, cap, claim and return actions) calls
//! [`AppState::devices_changed`](crate::AppState::devices_changed), and the event handler
//! [`DeviceCache::forget`]s its device; another server on the same PostgreSQL does the same and
//! tells this one within milliseconds ([`crate::cluster`]), and changes made by a short-lived
//! process (the CLI) show within the TTL. Decisions that must be exact (402/429 on a new event)
//! reload the context from the database instead of trusting the cache.
//!
//! A device that keeps talking never waits for its reload: once its context is older than
//! [`REFRESH_AHEAD_MS`] (still within the TTL) a request is answered from it and starts one
//! reload in the background, so the next requests find a new context. Without that, every busy
//! device paid a database read on its request path once per TTL, the heartbeat's p99 under load.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use smartbox_domain::period::period_containing;
use smartbox_domain::usage::{decide_event, notifications_within_cap};
use smartbox_domain::{
    BillingPeriod, Cents, DeviceId, LifecycleState, PlanId, SpendCap, SubscriptionStatus,
    UsageCounters, UsageDecision, can_operate,
};
use smartbox_protocol::ServiceState;
use smartbox_store::{DeviceAccessRow, UsageDelta};
use time::OffsetDateTime;

use crate::device_caches::Slot;
pub use crate::device_caches::{DeviceCache, DeviceContext, SubscriptionContext};
use crate::device_wifi;
use crate::secrets::MasterKey;
use crate::state::AppState;

/// How long a cached context is trusted, in milliseconds of the server's clock.
pub const CACHE_TTL_MS: i64 = 5_000;

/// Age by which a request still served from the cache starts a background reload.
pub const REFRESH_AHEAD_MS: i64 = CACHE_TTL_MS * 4 / 5;

/// Each context's reload starts at an age drawn in `[REFRESH_AHEAD_MS - REFRESH_SPREAD_MS,
/// REFRESH_AHEAD_MS]`: contexts loaded together (a server's first seconds, a forget of every
/// device) would otherwise be reloaded together every cycle, a burst of reads that held the
/// heartbeats behind it for tens of milliseconds every few seconds.
const REFRESH_SPREAD_MS: i64 = REFRESH_AHEAD_MS / 2;

/// Contexts kept at most; past it, expired ones are dropped (then all, if none expired).
const CACHE_CAPACITY: usize = 100_000;

/// Why a context could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No device has this serial, or its secret does not open: the request cannot be authentic.
    #[error("unknown device")]
    Unknown,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl DeviceContext {
    /// Whether the device may deliver mail (`can_operate`, DESIGN §4).
    pub fn can_operate(&self) -> bool {
        can_operate(self.lifecycle, self.subscription.as_ref().map(|s| s.status))
    }

    /// What the heartbeat tells the device: suspended when it cannot operate, limited when one
    /// more event would pass the spend cap, else active.
    pub fn service(&self, now: OffsetDateTime) -> ServiceState {
        match &self.subscription {
            Some(sub) if self.can_operate() => match sub.decide_event(now) {
                UsageDecision::Accept => ServiceState::Active,
                UsageDecision::Refuse { .. } => ServiceState::Limited,
            },
            _ => ServiceState::Suspended,
        }
    }

    /// Usage to add to the current period of the live subscription, if there is one.
    pub fn usage_delta(&self, notifications: i64, data_bytes: i64) -> Option<UsageDelta> {
        self.subscription.as_ref().map(|sub| UsageDelta {
            subscription_id: sub.id.clone(),
            period_start: unix_ms(sub.period.start),
            period_end: unix_ms(sub.period.end),
            notifications,
            data_bytes,
        })
    }
}

impl SubscriptionContext {
    /// The domain's decision on one more event in this period.
    pub fn decide_event(&self, now: OffsetDateTime) -> UsageDecision {
        decide_event(self.plan, self.counters, self.cap, self.period.end, now)
    }

    /// The spend cap as the most notifications this period may count (see
    /// [`smartbox_store::NewEvent::max_notifications`]); `None` when notifications cannot pass it.
    pub fn max_notifications(&self) -> Option<i64> {
        notifications_within_cap(self.plan, self.counters.data_bytes, self.cap)
            .map(|most| i64::try_from(most).unwrap_or(i64::MAX))
    }

    /// Whole seconds until the period ends (at least 1): a refused event's `Retry-After`.
    pub fn seconds_left(&self, now: OffsetDateTime) -> u64 {
        let left = (self.period.end - now).whole_seconds() + 1;
        u64::try_from(left).unwrap_or(0).max(1)
    }
}

/// Reads the device with `serial` and its subscription and counters, and opens its secret.
pub async fn load(state: &AppState, serial: &str) -> Result<DeviceContext, LoadError> {
    let now_ms = state.clock.now_ms();
    let row = state
        .db
        .device_access_by_serial(serial)
        .await
        .map_err(anyhow::Error::from)?
        .ok_or(LoadError::Unknown)?;
    let secret = open_secret(&state.master_key, &row)?;
    let lifecycle: LifecycleState = row
        .lifecycle_state
        .parse()
        .map_err(|err| anyhow::anyhow!("device {}: {err}", row.serial))?;
    let subscription = match subscription_of(&row, state.clock.now())? {
        Some((id, customer_id, plan, status, cap, period)) => {
            let usage = state
                .db
                .usage(&id, unix_ms(period.start), unix_ms(period.end))
                .await
                .map_err(anyhow::Error::from)?;
            Some(SubscriptionContext {
                id,
                customer_id,
                plan,
                status,
                cap,
                period,
                counters: UsageCounters {
                    notifications: u64::try_from(usage.notifications).unwrap_or(0),
                    data_bytes: u64::try_from(usage.data_bytes).unwrap_or(0),
                },
            })
        }
        None => None,
    };
    let wifi = state
        .db
        .device_wifi(&DeviceId::new(row.device_id.as_str()))
        .await
        .map_err(anyhow::Error::from)?
        .and_then(|saved| device_wifi::open(state, saved));
    Ok(DeviceContext {
        device_id: row.device_id,
        serial: row.serial,
        secret,
        lifecycle,
        checkin_interval_s: row.checkin_interval_s,
        subscription,
        wifi,
        loaded_at_ms: now_ms,
    })
}

fn open_secret(key: &MasterKey, row: &DeviceAccessRow) -> Result<[u8; 32], LoadError> {
    key.open_device_secret(&row.serial, &row.secret_ciphertext)
        .map_err(|_| {
            tracing::warn!(serial = %row.serial, "device secret does not open with the master key");
            LoadError::Unknown
        })
}

type SubscriptionParts = (
    String,
    String,
    PlanId,
    SubscriptionStatus,
    SpendCap,
    BillingPeriod,
);

fn subscription_of(
    row: &DeviceAccessRow,
    now: OffsetDateTime,
) -> anyhow::Result<Option<SubscriptionParts>> {
    let (Some(id), Some(customer), Some(plan), Some(status), Some(anchor)) = (
        &row.subscription_id,
        &row.customer_id,
        &row.plan_id,
        &row.subscription_status,
        row.anchor_at,
    ) else {
        return Ok(None);
    };
    let plan: PlanId = plan.parse()?;
    let status: SubscriptionStatus = status.parse()?;
    let cap = match row.spend_cap_cents {
        None => SpendCap::default_for(plan),
        Some(cents) => {
            let cents = cents.clamp(0, SpendCap::max_for(plan).get());
            SpendCap::new(plan, Cents::new(cents))?
        }
    };
    let period = period_containing(from_unix_ms(anchor), now);
    Ok(Some((
        id.clone(),
        customer.clone(),
        plan,
        status,
        cap,
        period,
    )))
}

pub use smartbox_domain::epoch::{from_unix_ms, unix_ms};

/// The age at which the context of `serial` loaded at `loaded_at_ms` is reloaded ahead of its
/// TTL: a point of the spread that differs by device and by load.
fn refresh_age_ms(serial: &str, loaded_at_ms: i64) -> i64 {
    let mut hasher = std::hash::DefaultHasher::new();
    (serial, loaded_at_ms).hash(&mut hasher);
    let spread = u64::try_from(REFRESH_SPREAD_MS).unwrap_or(1).max(1);
    REFRESH_AHEAD_MS - i64::try_from(hasher.finish() % spread).unwrap_or(0)
}

impl DeviceCache {
    /// The context of `serial`: the cached one while fresh (younger than [`CACHE_TTL_MS`] and
    /// still in the period it was loaded in), else loaded. A fresh one older than its refresh
    /// age (at most [`REFRESH_AHEAD_MS`]) is reloaded in the background.
    pub async fn get(
        &self,
        state: &AppState,
        serial: &str,
    ) -> Result<Arc<DeviceContext>, LoadError> {
        let now_ms = state.clock.now_ms();
        let cached = self
            .inner
            .read()
            .ok()
            .and_then(|slots| match slots.by_serial.get(serial) {
                Some(Slot::Loaded(context)) => Some(Arc::clone(context)),
                _ => None,
            });
        if let Some(context) = cached.filter(|c| fresh(c, now_ms)) {
            if now_ms - context.loaded_at_ms >= refresh_age_ms(serial, context.loaded_at_ms) {
                self.refresh_in_background(state, serial);
            }
            return Ok(context);
        }
        self.reload(state, serial).await
    }

    /// Starts a reload of `serial` on its own task, unless one is under way.
    fn refresh_in_background(&self, state: &AppState, serial: &str) {
        let Ok(mut slots) = self.inner.write() else {
            return;
        };
        if !slots.refreshing.insert(serial.to_owned()) {
            return;
        }
        drop(slots);
        let state = state.clone();
        let serial = serial.to_owned();
        tokio::spawn(async move {
            let cache = &state.device_api.devices;
            if let Err(LoadError::Internal(err)) = cache.reload(&state, &serial).await {
                tracing::warn!(serial = %serial, error = %err, "background reload of a device failed");
            }
            if let Ok(mut slots) = cache.inner.write() {
                slots.refreshing.remove(&serial);
            }
        });
    }

    /// Loads the context of `serial` from the database and caches it (unless it was forgotten
    /// while loading).
    pub async fn reload(
        &self,
        state: &AppState,
        serial: &str,
    ) -> Result<Arc<DeviceContext>, LoadError> {
        let started = self.inner.read().map_or(0, |slots| slots.generation);
        let loaded = load(state, serial).await;
        let Ok(mut slots) = self.inner.write() else {
            return loaded.map(Arc::new);
        };
        let forgotten_since = slots.cleared_at > started
            || matches!(slots.by_serial.get(serial), Some(Slot::Forgotten(at)) if *at > started);
        match loaded {
            Ok(context) => {
                let context = Arc::new(context);
                if forgotten_since {
                    return Ok(context);
                }
                if slots.by_serial.len() >= CACHE_CAPACITY {
                    let now_ms = state.clock.now_ms();
                    // Dropping the marks of forgotten serials must not let a load in flight keep
                    // what it read before: count the purge as forgetting everything.
                    slots.generation += 1;
                    slots.cleared_at = slots.generation;
                    slots
                        .by_serial
                        .retain(|_, slot| matches!(slot, Slot::Loaded(c) if fresh(c, now_ms)));
                    if slots.by_serial.len() >= CACHE_CAPACITY {
                        slots.by_serial.clear();
                    }
                }
                slots
                    .by_serial
                    .insert(serial.to_owned(), Slot::Loaded(Arc::clone(&context)));
                Ok(context)
            }
            Err(err) => {
                if !forgotten_since {
                    slots.by_serial.remove(serial);
                }
                Err(err)
            }
        }
    }

    /// Drops the cached context of `serial`, so the next request reads the database. Code that
    /// changes a device's lifecycle or subscription in this process calls it.
    pub fn forget(&self, serial: &str) {
        if let Ok(mut slots) = self.inner.write() {
            slots.generation += 1;
            let at = slots.generation;
            slots
                .by_serial
                .insert(serial.to_owned(), Slot::Forgotten(at));
        }
    }

    /// Drops every cached context: for changes whose devices the caller does not know one by
    /// one (a billing job, a payment webhook).
    pub fn forget_all(&self) {
        if let Ok(mut slots) = self.inner.write() {
            slots.generation += 1;
            slots.cleared_at = slots.generation;
            slots.by_serial.clear();
        }
    }
}

/// Whether a cached context may still be trusted at `now_ms`: younger than the TTL, and its
/// subscription still in the period it was loaded in (usage belongs to the period of the request).
fn fresh(context: &DeviceContext, now_ms: i64) -> bool {
    let age = now_ms - context.loaded_at_ms;
    let same_period = context
        .subscription
        .as_ref()
        .is_none_or(|sub| now_ms < unix_ms(sub.period.end));
    (0..CACHE_TTL_MS).contains(&age) && same_period
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_loaded_together_are_reloaded_spread_over_the_refresh_window() {
        let ages: Vec<i64> = (0..1_000)
            .map(|i| refresh_age_ms(&format!("SB-{i:04}"), 1_000))
            .collect();
        let window = REFRESH_AHEAD_MS - REFRESH_SPREAD_MS..=REFRESH_AHEAD_MS;
        assert!(ages.iter().all(|age| window.contains(age)));
        // Ten equal slices of the window each take about a tenth of the devices.
        for slice in 0..10 {
            let from = REFRESH_AHEAD_MS - REFRESH_SPREAD_MS + slice * REFRESH_SPREAD_MS / 10;
            let count = ages
                .iter()
                .filter(|&&age| (from..from + REFRESH_SPREAD_MS / 10).contains(&age))
                .count();
            assert!((50..=150).contains(&count), "slice {slice}: {count}");
        }
        assert_ne!(
            refresh_age_ms("SB-0001", 1_000),
            refresh_age_ms("SB-0001", 5_000),
            "each load draws its own point"
        );
    }
}
