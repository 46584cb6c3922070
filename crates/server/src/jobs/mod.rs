//! Durable jobs (DESIGN §7): the workers that run the store's job queue, each one job at a time.
//!
//! A job is a row in the `jobs` table (kind, JSON payload, optional unique key, `run_at`). A
//! worker claims the job due first among the kinds it has handlers for, with a short lease
//! ([`LEASE`]) that it renews while the handler runs. A process that dies (`kill -9`, a crash, a
//! lost machine) stops renewing: its jobs are free again within one lease and another worker
//! claims them (delivery is at-least-once, so handlers are idempotent). Claiming is one atomic `UPDATE ... RETURNING`
//! (with `FOR UPDATE SKIP LOCKED` on PostgreSQL), so several server processes on one database
//! never run the same job at once. A handler's error retries the job with exponential backoff
//! (10 s, 20 s, 40 s ... capped at one hour) until `max_attempts`, then the job is `failed`:
//! kept with its last error for admin to see and retry (`Db::retry_failed_job`).
//!
//! **Registering a handler** (the one place every kind is listed is [`registry`] in
//! `registry.rs`): add a line
//! `.handle("my_kind", my_module::run)` where `run` is an
//! `async fn(JobContext) -> Result<(), JobError>`. Enqueue with `Db::enqueue_job` (or in the
//! same transaction as the change that needs the job). Return `Err(JobError::retry(e))` for a
//! failure worth retrying and `Err(JobError::permanent(e))` for one that is not (a malformed
//! payload). A job recurring every N seconds is `.every("my_kind", Duration::from_secs(N))`:
//! each slot of N seconds enqueues it once under a unique key, whatever the number of processes.
//!
//! **Unknown kinds** are never lost: a worker claims only the kinds it has handlers for, so a job
//! of another kind stays queued (visible to admin, and run by a process that knows it — a newer
//! version during a rolling deploy).
//!
//! Time comes from the state's injected clock; tests drive a worker one job at a time with
//! [`Worker::try_execute_one`] while moving a `ManualClock`.

pub mod analytics;
mod billing;
pub mod event_completed;
pub mod invoice_email;
pub mod maintenance;
mod registry;
pub mod retention;
pub mod rollouts;
pub mod seal_photos;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use smartbox_store::{JobRow, NewJob, StoreError};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

pub use registry::registry;

/// Job workers each server process runs. Each claims its own job, so a slow job holds back
/// only its worker.
pub const WORKERS_PER_PROCESS: usize = 4;
/// How long a claimed job is leased to its worker before another may take it over, unless the
/// worker renews it (every third of it while the handler runs). Short, so that the jobs of a
/// dead process are taken over within seconds rather than minutes.
pub const LEASE: Duration = Duration::from_secs(15);
/// How long one pass of a batch job (billing, pruning) works before leaving the rest to the
/// next, so a large backlog never holds a worker for long.
pub const PASS_BUDGET: Duration = Duration::from_secs(150);
/// How long an idle worker waits before looking for due jobs again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// The first retry delay; doubled at each further attempt.
const BACKOFF_BASE_MS: i64 = 10_000;
/// The longest retry delay.
const BACKOFF_MAX_MS: i64 = 3_600_000;
/// Attempts of a recurring job's run.
const SCHEDULED_ATTEMPTS: i64 = 3;

/// What a handler gets: the state (database, clock, payment provider...), the job, and `now`
/// from the injected clock.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub state: AppState,
    pub job: JobRow,
    pub now: OffsetDateTime,
}

impl JobContext {
    /// `now` in milliseconds since the epoch, as the store keeps time.
    pub fn now_ms(&self) -> i64 {
        smartbox_domain::epoch::unix_ms(self.now)
    }

    /// The job's payload as `T`; one that does not parse fails the job for good (it would fail
    /// the same way on every attempt).
    pub fn payload<T: serde::de::DeserializeOwned>(&self) -> Result<T, JobError> {
        serde_json::from_str(&self.job.payload).map_err(JobError::permanent)
    }
}

/// A handler's failure.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth trying again later (a database or provider hiccup).
    #[error("{0:#}")]
    Retry(anyhow::Error),
    /// Will fail the same way every time (a malformed payload): fail the job now.
    #[error("{0:#}")]
    Permanent(anyhow::Error),
}

impl JobError {
    pub fn retry(error: impl Into<anyhow::Error>) -> JobError {
        JobError::Retry(error.into())
    }

    pub fn permanent(error: impl Into<anyhow::Error>) -> JobError {
        JobError::Permanent(error.into())
    }
}

/// The future a handler returns.
pub type JobFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;

type Handler = Arc<dyn Fn(JobContext) -> JobFuture + Send + Sync>;

/// The handlers by kind, and the recurring jobs.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: BTreeMap<&'static str, Handler>,
    schedules: Vec<(&'static str, Duration)>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("kinds", &self.kinds())
            .field("schedules", &self.schedules)
            .finish()
    }
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Runs jobs of `kind` with `handler`.
    pub fn handle<F, Fut>(mut self, kind: &'static str, handler: F) -> Registry
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        self.handlers
            .insert(kind, Arc::new(move |ctx| Box::pin(handler(ctx))));
        self
    }

    /// Enqueues a `kind` job once per `every` (the kind needs a handler too).
    pub fn every(mut self, kind: &'static str, every: Duration) -> Registry {
        self.schedules.push((kind, every));
        self
    }

    /// The kinds this registry runs.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.handlers.keys().copied().collect()
    }
}

/// What one step of a worker did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing was due.
    Idle,
    /// The job ran and is done.
    Done { id: String, kind: String },
    /// The job failed and runs again at `at_ms`.
    Retrying {
        id: String,
        kind: String,
        at_ms: i64,
        error: String,
    },
    /// The job failed for good (permanent error, or out of attempts); it stays for admin.
    Failed {
        id: String,
        kind: String,
        error: String,
    },
    /// The job ran past its lease and another worker took it over; its result is theirs.
    LeaseLost { id: String, kind: String },
}

impl Outcome {
    /// The kind of the job that ran; `None` when none was due.
    pub fn kind(&self) -> Option<&str> {
        match self {
            Outcome::Idle => None,
            Outcome::Done { kind, .. }
            | Outcome::Retrying { kind, .. }
            | Outcome::Failed { kind, .. }
            | Outcome::LeaseLost { kind, .. } => Some(kind),
        }
    }
}

/// A worker: claims and runs one job at a time.
#[derive(Debug, Clone)]
pub struct Worker {
    state: AppState,
    registry: Arc<Registry>,
    id: String,
    kinds: Vec<&'static str>,
    /// The lease it claims jobs with ([`LEASE`]; tests shorten it).
    lease: Duration,
    /// The slot each recurring job was last enqueued for by this worker (and its clones): the
    /// slot's job is written once, not on every poll. Every write on SQLite takes the one write
    /// lock, and idle polls writing every 500 ms made the device API's group commit wait for it.
    enqueued_slots: Arc<Mutex<HashMap<&'static str, i64>>>,
}

impl Worker {
    /// A worker with a unique id (process id and a random suffix).
    pub fn new(state: AppState, registry: Registry) -> Worker {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let id = format!("worker-{}-{}", std::process::id(), &suffix[..8]);
        Worker::with_id(state, registry, id)
    }

    /// A worker with the given id (tests name theirs).
    pub fn with_id(state: AppState, registry: Registry, id: impl Into<String>) -> Worker {
        let kinds = registry.kinds();
        Worker {
            state,
            registry: Arc::new(registry),
            id: id.into(),
            kinds,
            lease: LEASE,
            enqueued_slots: Arc::default(),
        }
    }

    /// The same worker with another lease (tests of the takeover after a crash).
    pub fn with_lease(mut self, lease: Duration) -> Worker {
        self.lease = lease;
        self
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// One step: enqueues the recurring jobs of the current slot, then claims the job due
    /// first among the known kinds, runs it, and records the result (and counts it for
    /// `/metrics`).
    pub async fn try_execute_one(&self) -> Result<Outcome, StoreError> {
        let outcome = self.execute_one().await?;
        self.state.metrics.job(&outcome);
        Ok(outcome)
    }

    async fn execute_one(&self) -> Result<Outcome, StoreError> {
        let now_ms = self.state.clock.now_ms();
        self.enqueue_schedules(now_ms).await?;
        let lease_ms = self.lease_ms();
        let Some(job) = self
            .state
            .db
            .claim_job_of_kinds(&self.id, &self.kinds, now_ms, lease_ms)
            .await?
        else {
            return Ok(Outcome::Idle);
        };
        let (id, kind) = (job.id.clone(), job.kind.clone());
        let Some(handler) = self.registry.handlers.get(job.kind.as_str()).cloned() else {
            // Only known kinds are claimed; this cannot happen, but never lose the job.
            self.state
                .db
                .fail_job(&id, &self.id, "no handler", Some(now_ms), now_ms)
                .await?;
            return Ok(Outcome::Idle);
        };
        let attempts = job.attempts;
        let max_attempts = job.max_attempts;
        let context = JobContext {
            now: self.state.clock.now(),
            state: self.state.clone(),
            job,
        };
        // A panicking handler fails its attempt instead of killing the worker.
        let run = AssertUnwindSafe(handler(context)).catch_unwind();
        let result = self
            .renewing_lease(&id, run)
            .await
            .unwrap_or_else(|_| Err(JobError::retry(anyhow::anyhow!("the handler panicked"))));
        let finished_ms = self.state.clock.now_ms();
        match result {
            Ok(()) => {
                if self
                    .state
                    .db
                    .complete_job(&id, &self.id, finished_ms)
                    .await?
                {
                    Ok(Outcome::Done { id, kind })
                } else {
                    Ok(Outcome::LeaseLost { id, kind })
                }
            }
            Err(error) => {
                let message = error.to_string();
                let retry_at = match error {
                    JobError::Retry(_) if attempts < max_attempts => {
                        Some(finished_ms + backoff_ms(attempts))
                    }
                    _ => None,
                };
                tracing::warn!(job = %id, %kind, attempts, error = %message, retry_at, "job failed");
                if !self
                    .state
                    .db
                    .fail_job(&id, &self.id, &message, retry_at, finished_ms)
                    .await?
                {
                    return Ok(Outcome::LeaseLost { id, kind });
                }
                Ok(match retry_at {
                    Some(at_ms) => Outcome::Retrying {
                        id,
                        kind,
                        at_ms,
                        error: message,
                    },
                    None => Outcome::Failed {
                        id,
                        kind,
                        error: message,
                    },
                })
            }
        }
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }

    /// Awaits `work` (job `id`'s handler) while renewing the job's lease every third of it. A
    /// lease found taken over is logged and the handler left to finish: its result is then
    /// refused by the store and reported as [`Outcome::LeaseLost`].
    async fn renewing_lease<T>(&self, id: &str, work: impl Future<Output = T>) -> T {
        let mut work = std::pin::pin!(work);
        let mut renew = tokio::time::interval(self.lease / 3);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate: the claim has just set the lease.
        renew.tick().await;
        loop {
            tokio::select! {
                output = &mut work => return output,
                _ = renew.tick() => {
                    let now = self.state.clock.now_ms();
                    let until = now.saturating_add(self.lease_ms());
                    match self.state.db.renew_job_lease(id, &self.id, until, now).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(job = %id, worker = %self.id, "job lease lost while running"),
                        Err(error) => tracing::warn!(job = %id, %error, "job lease not renewed"),
                    }
                }
            }
        }
    }

    /// Runs due jobs until none is left (or `max` steps); the outcomes in order. For tests and
    /// tools.
    pub async fn run_until_idle(&self, max: usize) -> Result<Vec<Outcome>, StoreError> {
        let mut outcomes = Vec::new();
        for _ in 0..max {
            match self.try_execute_one().await? {
                Outcome::Idle => break,
                outcome => outcomes.push(outcome),
            }
        }
        Ok(outcomes)
    }

    /// Enqueues each recurring job for the slot containing `now_ms` (once per slot, whatever
    /// the number of workers: the slot is in the unique key).
    async fn enqueue_schedules(&self, now_ms: i64) -> Result<(), StoreError> {
        for (kind, every) in &self.registry.schedules {
            let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX).max(1);
            let slot = now_ms.div_euclid(every_ms) * every_ms;
            if self.enqueued_slot(kind) == Some(slot) {
                continue;
            }
            let id = uuid::Uuid::now_v7().to_string();
            let key = format!("schedule:{kind}:{slot}");
            self.state
                .db
                .enqueue_job(&NewJob {
                    id: &id,
                    kind,
                    payload: serde_json::json!({ "slot": slot }),
                    unique_key: Some(&key),
                    run_at: slot,
                    max_attempts: SCHEDULED_ATTEMPTS,
                })
                .await?;
            if let Ok(mut slots) = self.enqueued_slots.lock() {
                slots.insert(kind, slot);
            }
        }
        Ok(())
    }

    fn enqueued_slot(&self, kind: &str) -> Option<i64> {
        self.enqueued_slots.lock().ok()?.get(kind).copied()
    }

    /// Runs jobs in the background until `stop` turns true; finishes the job in hand first.
    pub fn spawn(self, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            tracing::info!(worker = %self.id, kinds = ?self.kinds, "job worker started");
            while !*stop.borrow() {
                let idle = match self.try_execute_one().await {
                    Ok(Outcome::Idle) => true,
                    Ok(_) => false,
                    Err(error) => {
                        tracing::error!(%error, "job worker: the database failed");
                        true
                    }
                };
                if idle {
                    tokio::select! {
                        _ = stop.changed() => {}
                        () = self.state.job_signal.notified() => {}
                        () = tokio::time::sleep(POLL_INTERVAL) => {}
                    }
                }
            }
            tracing::info!(worker = %self.id, "job worker stopped");
        })
    }
}

/// The delay before attempt `attempts + 1`: 10 s, 20 s, 40 s, ... at most an hour.
fn backoff_ms(attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    BACKOFF_BASE_MS
        .saturating_mul(1_i64 << doublings)
        .min(BACKOFF_MAX_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_ten_seconds_up_to_an_hour() {
        let delays: Vec<i64> = (1..=6).map(backoff_ms).collect();
        assert_eq!(delays, [10_000, 20_000, 40_000, 80_000, 160_000, 320_000]);
        assert_eq!(backoff_ms(20), 3_600_000);
        assert_eq!(backoff_ms(i64::MAX), 3_600_000);
        assert_eq!(backoff_ms(0), 10_000);
    }
}
