//! What every request handler and job shares.

use std::sync::Arc;

use tokio::sync::{Notify, watch};

use object_store::ObjectStore;
use smartbox_billing::{BillingEngine, PaymentProvider, SandboxProvider};
use smartbox_store::Db;

use crate::accounts::LiveSessions;
use crate::clock::Clock;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::device_caches::DeviceApiState;
use crate::passwords::Hashing;
use crate::secrets::MasterKey;
use crate::telemetry::Metrics;
use crate::telemetry::payments::CountedCharges;
use crate::vault::PhotoVault;

/// Shared, cheaply clonable application state.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub config: Config,
    pub db: Db,
    /// Firmware images, and the sealed photos under [`Inner::photos`].
    pub blobs: Arc<dyn ObjectStore>,
    /// Photos and thumbnails, encrypted at rest: read and write them only through this.
    pub photos: PhotoVault,
    pub clock: Arc<dyn Clock>,
    pub master_key: MasterKey,
    /// The device API's caches and its group-commit writer.
    pub device_api: DeviceApiState,
    /// Where payments go: Stripe when configured, else the sandbox (see `payments_for`).
    pub payments: Arc<dyn PaymentProvider>,
    /// Raised when this process enqueues a job due now, so an idle worker starts it at once
    /// instead of at its next poll (see [`AppState::jobs_enqueued`]).
    pub job_signal: Notify,
    /// The bounded password hashing of sign-ups, logins and resets.
    pub hashing: Hashing,
    /// The other server processes on this database, and this process's live streams.
    pub cluster: Cluster,
    /// The sessions the live streams hold open, checked together.
    pub live_sessions: LiveSessions,
    /// The learned mail model, loaded by the first reading that needs it.
    pub mail_model: crate::mail_intelligence::learned::LearnedSlot,
    /// This server's Prometheus series (`GET /metrics`); each state has its own.
    pub metrics: Arc<Metrics>,
    /// Set when the server begins to shut down: long-lived streams end (see [`AppState::stopping`]).
    stopping: watch::Sender<bool>,
}

impl AppState {
    /// The state with sandbox payments (tests, tools that never charge); the server builds its
    /// state with [`AppState::with_payments`] and the provider its configuration names.
    pub fn new(
        config: Config,
        db: Db,
        blobs: Arc<dyn ObjectStore>,
        clock: Arc<dyn Clock>,
        master_key: MasterKey,
    ) -> AppState {
        let sandbox: Arc<dyn PaymentProvider> = Arc::new(SandboxProvider::new());
        AppState::with_payments(config, db, blobs, clock, master_key, sandbox)
    }

    /// The state with the given payment provider.
    pub fn with_payments(
        config: Config,
        db: Db,
        blobs: Arc<dyn ObjectStore>,
        clock: Arc<dyn Clock>,
        master_key: MasterKey,
        payments: Arc<dyn PaymentProvider>,
    ) -> AppState {
        let metrics = Arc::new(Metrics::new());
        // Every charge is counted by outcome, whichever path asks for it.
        let payments: Arc<dyn PaymentProvider> =
            Arc::new(CountedCharges::new(payments, Arc::clone(&metrics)));
        AppState(Arc::new(Inner {
            hashing: Hashing::new(config.hashing_slots, config.hashing_queue_deadline),
            mail_model: crate::mail_intelligence::learned::LearnedSlot::new(&config.mail_model),
            config,
            device_api: DeviceApiState::new(db.clone(), metrics.clone()),
            cluster: Cluster::new(db.clone()),
            live_sessions: LiveSessions::new(db.clone(), Arc::clone(&clock)),
            photos: PhotoVault::new(
                Arc::clone(&blobs),
                db.clone(),
                master_key.clone(),
                Arc::clone(&clock),
            ),
            db,
            blobs,
            clock,
            master_key,
            payments,
            metrics,
            job_signal: Notify::new(),
            stopping: watch::Sender::new(false),
        }))
    }

    /// Tells an idle job worker of this process that a job is due now. Workers also poll, so
    /// a job enqueued by another process (or without this call) still runs, only later.
    pub fn jobs_enqueued(&self) {
        self.job_signal.notify_one();
    }

    /// Tells the live streams that the server is shutting down, so they end.
    pub fn stop_streams(&self) {
        self.stopping.send_replace(true);
    }

    /// Becomes true when [`AppState::stop_streams`] is called.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// The billing engine on this state's database and payment provider.
    pub fn billing(&self) -> BillingEngine {
        BillingEngine::new(self.db.clone(), Arc::clone(&self.payments))
    }

    /// Makes the device API read the database on every device's next request, here and in the
    /// other processes on this database. Called after this process changes a subscription or a
    /// device (a plan, a card, a spend cap, a claim, a return, a billing job, a payment webhook),
    /// so a mailbox learns it at once instead of after the device cache's TTL.
    pub fn devices_changed(&self) {
        self.device_api.devices.forget_all();
        self.cluster.devices_changed();
    }

    /// Makes every process read device `serial`'s context afresh (its lifecycle, subscription
    /// or counters changed).
    pub fn device_changed(&self, serial: &str) {
        self.device_api.devices.forget(serial);
        self.cluster.device_changed(serial);
    }

    /// Makes every process read the rollouts and the latest firmware afresh.
    pub fn rollouts_changed(&self) {
        self.device_api.rollouts.forget();
        self.device_api.firmware.forget();
        self.cluster.rollouts_changed();
    }
}

/// The payment provider the configuration names: Stripe when `STRIPE_SECRET_KEY` is set
/// (`STRIPE_API_BASE` for localstripe), the sandbox otherwise (DESIGN §3).
pub fn payments_for(config: &Config) -> anyhow::Result<Arc<dyn PaymentProvider>> {
    let stripe = config.stripe.as_ref().map(|stripe| {
        smartbox_billing::StripeConfig::new(stripe.secret_key.expose())
            .with_api_base(&stripe.api_base)
    });
    smartbox_billing::provider_for(stripe)
        .map_err(|err| anyhow::anyhow!("STRIPE_SECRET_KEY: cannot create the Stripe client: {err}"))
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
