//! Observability: the Prometheus series of `GET /metrics` ([`scrape`]), the HTTP middleware that
//! counts and times every request by its route template ([`requests`]), and the request ids that
//! tie a response to its log lines.
//!
//! Each [`AppState`](crate::AppState) holds its own [`Metrics`] (tests run many servers in one
//! process, and each must count only its own traffic). Labels are bounded sets: route templates
//! (`/api/device/v1/events/{event_id}/photos/{index}`, never a path with an id or a serial in
//! it), status codes, job kinds, channels and outcomes the code names.

pub mod payments;
pub mod requests;
pub mod scrape;

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use smartbox_store::CommitObserver;

use crate::jobs::Outcome;

/// Latency buckets of HTTP requests, in seconds: 1 ms (a heartbeat on an idle server) to 10 s
/// (a photo upload over a slow proxy).
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
/// Group-commit transaction times, in seconds: 0.1 ms to 1 s.
const COMMIT_BUCKETS: [f64; 11] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0,
];
/// Writes per group commit: 1 (idle) to the writer's limit of 1,024.
const BATCH_BUCKETS: [f64; 11] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// The route label of a request that matched no route (the 404 page): one series for every
/// unknown path, so a scan of made-up paths cannot grow the series.
pub const UNMATCHED_ROUTE: &str = "(unmatched)";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    kind: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    kind: String,
    due: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    channel: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChargeLabels {
    outcome: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// What became of a mail event posted by a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// Stored (201).
    New,
    /// Already stored: the mailbox sent it again (200).
    Repeat,
    /// Refused: the mailbox has no service (402).
    NoService,
    /// Refused: it would pass the spend cap (429).
    OverCap,
}

impl EventOutcome {
    fn label(self) -> &'static str {
        match self {
            EventOutcome::New => "new",
            EventOutcome::Repeat => "repeat",
            EventOutcome::NoService => "no_service",
            EventOutcome::OverCap => "over_cap",
        }
    }
}

/// What became of one attempt to deliver a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Failed, and tried again later.
    Retrying,
    /// Failed for good.
    Failed,
}

/// This server's series and the registry that renders them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<RequestLabels, Counter>,
    http_latency: HistogramFamily<RouteLabels>,
    checkins: Counter,
    mail_events: Family<EventLabels, Counter>,
    commit_writes: Histogram,
    commit_seconds: Histogram,
    job_runs: Family<JobLabels, Counter>,
    jobs_queued: Family<QueueLabels, Gauge>,
    deliveries: Family<DeliveryLabels, Counter>,
    charges: Family<ChargeLabels, Counter>,
    /// One scrape at a time: the queue depth is refreshed, then everything rendered.
    scraping: tokio::sync::Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// Every series, registered under the `smartbox_` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("smartbox");
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            http_requests.clone(),
        );
        let http_latency: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival to its answer's headers, by method and route template",
            Unit::Seconds,
            http_latency.clone(),
        );
        let checkins = Counter::default();
        registry.register(
            "device_checkins",
            "Heartbeats whose vitals were stored",
            checkins.clone(),
        );
        let mail_events = Family::<EventLabels, Counter>::default();
        registry.register(
            "mail_events",
            "Mail events posted by mailboxes, by kind and outcome (new, repeat, no_service, over_cap)",
            mail_events.clone(),
        );
        let commit_writes = Histogram::new(BATCH_BUCKETS);
        registry.register(
            "group_commit_writes",
            "Requests' writes carried by one group-commit transaction of the device API",
            commit_writes.clone(),
        );
        let commit_seconds = Histogram::new(COMMIT_BUCKETS);
        registry.register_with_unit(
            "group_commit_duration",
            "Time of one group-commit transaction of the device API",
            Unit::Seconds,
            commit_seconds.clone(),
        );
        let job_runs = Family::<JobLabels, Counter>::default();
        registry.register(
            "job_runs",
            "Jobs run by this process, by kind and outcome (done, retrying, failed, lease_lost)",
            job_runs.clone(),
        );
        let jobs_queued = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "jobs_queued",
            "Queued jobs in the database (all processes), by kind; due=now waits for a worker, due=later for its time",
            jobs_queued.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "notification_deliveries",
            "Notification delivery attempts, by channel and outcome (delivered, retrying, failed)",
            deliveries.clone(),
        );
        let charges = Family::<ChargeLabels, Counter>::default();
        registry.register(
            "billing_charges",
            "Charges asked of the payment provider, by outcome (succeeded, declined, unknown, error)",
            charges.clone(),
        );
        Metrics {
            registry,
            http_requests,
            http_latency,
            checkins,
            mail_events,
            commit_writes,
            commit_seconds,
            job_runs,
            jobs_queued,
            deliveries,
            charges,
            scraping: tokio::sync::Mutex::new(()),
        }
    }

    /// One answered HTTP request.
    pub fn request(&self, method: &'static str, route: &str, status: u16, took: Duration) {
        self.http_requests
            .get_or_create(&RequestLabels {
                method,
                route: route.to_owned(),
                status,
            })
            .inc();
        self.http_latency
            .get_or_create(&RouteLabels {
                method,
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// A heartbeat's vitals were stored.
    pub fn checkin(&self) {
        self.checkins.inc();
    }

    /// A mail event of `kind` (`mail_arrived`, `mail_removed`) was answered.
    pub fn mail_event(&self, kind: &'static str, outcome: EventOutcome) {
        self.mail_events
            .get_or_create(&EventLabels {
                kind,
                outcome: outcome.label(),
            })
            .inc();
    }

    /// A job step ended (nothing is counted when none was due).
    pub fn job(&self, outcome: &Outcome) {
        let (kind, label) = match outcome {
            Outcome::Idle => return,
            Outcome::Done { kind, .. } => (kind, "done"),
            Outcome::Retrying { kind, .. } => (kind, "retrying"),
            Outcome::Failed { kind, .. } => (kind, "failed"),
            Outcome::LeaseLost { kind, .. } => (kind, "lease_lost"),
        };
        self.job_runs
            .get_or_create(&JobLabels {
                kind: kind.clone(),
                outcome: label,
            })
            .inc();
    }

    /// A notification was sent on `channel` (or failed to be).
    pub fn delivery(&self, channel: &str, outcome: DeliveryOutcome) {
        let outcome = match outcome {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retrying => "retrying",
            DeliveryOutcome::Failed => "failed",
        };
        self.deliveries
            .get_or_create(&DeliveryLabels {
                channel: channel.to_owned(),
                outcome,
            })
            .inc();
    }

    /// The payment provider answered a charge (`succeeded`, `declined`, `unknown`) or failed
    /// (`error`).
    pub fn charge(&self, outcome: &'static str) {
        self.charges.get_or_create(&ChargeLabels { outcome }).inc();
    }
}

impl CommitObserver for Metrics {
    fn committed(&self, writes: usize, took: Duration) {
        // At most 1,024 writes: exact in an f64.
        self.commit_writes.observe(writes as f64);
        self.commit_seconds.observe(took.as_secs_f64());
    }
}
