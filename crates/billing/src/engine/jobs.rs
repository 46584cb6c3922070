//! The jobs billing runs through the server's durable job queue: their kinds, payloads and unique
//! keys, and the changes that enqueue them (which the pure decisions use). The server registers
//! one handler per kind that parses the job with [`BillingJob::parse`] and calls
//! `BillingEngine::run_job` (in `runner`, which depends on the pass and collection, not the
//! other way round).

use serde_json::json;
use smartbox_store::changes::{Change, QueuedJob};
use time::OffsetDateTime;

use super::to_ms;

/// Attempts of a billing job before it is marked failed (visible to admin).
const MAX_ATTEMPTS: i64 = 10;

/// A billing job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillingJob {
    /// Ends trials, renews and cancels subscriptions whose period is over, and reconciles
    /// payment attempts whose outcome is unknown. Recurring (the server schedules it).
    BillingPass,
    /// Charges the subscription's open invoices again (dunning retries, or collecting what is
    /// left after one invoice was paid).
    PaymentRetry { subscription_id: String },
    /// The grace of the dunning episode that started at `since` is over at `at`: suspend unless
    /// paid.
    GraceExpiry { subscription_id: String, at_ms: i64 },
    /// The customer's card changed (a webhook said so): charge their open invoices at once.
    CollectCustomer { customer_id: String },
}

impl BillingJob {
    pub const BILLING_PASS: &'static str = "billing_pass";
    pub const PAYMENT_RETRY: &'static str = "payment_retry";
    pub const GRACE_EXPIRY: &'static str = "grace_expiry";
    pub const COLLECT_CUSTOMER: &'static str = "collect_customer";

    /// Every kind, for the server's registry.
    pub const KINDS: [&'static str; 4] = [
        BillingJob::BILLING_PASS,
        BillingJob::PAYMENT_RETRY,
        BillingJob::GRACE_EXPIRY,
        BillingJob::COLLECT_CUSTOMER,
    ];

    pub fn kind(&self) -> &'static str {
        match self {
            BillingJob::BillingPass => BillingJob::BILLING_PASS,
            BillingJob::PaymentRetry { .. } => BillingJob::PAYMENT_RETRY,
            BillingJob::GraceExpiry { .. } => BillingJob::GRACE_EXPIRY,
            BillingJob::CollectCustomer { .. } => BillingJob::COLLECT_CUSTOMER,
        }
    }

    /// The job stored as `kind` with JSON `payload`.
    pub fn parse(kind: &str, payload: &str) -> Result<BillingJob, String> {
        let value: serde_json::Value =
            serde_json::from_str(payload).map_err(|e| format!("payload is not JSON: {e}"))?;
        let text = |key: &str| {
            value
                .get(key)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("{kind} payload lacks `{key}`"))
        };
        match kind {
            BillingJob::BILLING_PASS => Ok(BillingJob::BillingPass),
            BillingJob::PAYMENT_RETRY => Ok(BillingJob::PaymentRetry {
                subscription_id: text("subscription_id")?,
            }),
            BillingJob::GRACE_EXPIRY => Ok(BillingJob::GraceExpiry {
                subscription_id: text("subscription_id")?,
                at_ms: value
                    .get("at_ms")
                    .and_then(serde_json::Value::as_i64)
                    .ok_or_else(|| format!("{kind} payload lacks `at_ms`"))?,
            }),
            BillingJob::COLLECT_CUSTOMER => Ok(BillingJob::CollectCustomer {
                customer_id: text("customer_id")?,
            }),
            other => Err(format!("{other} is not a billing job")),
        }
    }

    /// The JSON payload stored with the job.
    pub fn payload(&self) -> serde_json::Value {
        match self {
            BillingJob::BillingPass => json!({}),
            BillingJob::PaymentRetry { subscription_id } => {
                json!({ "subscription_id": subscription_id })
            }
            BillingJob::GraceExpiry {
                subscription_id,
                at_ms,
            } => json!({ "subscription_id": subscription_id, "at_ms": at_ms }),
            BillingJob::CollectCustomer { customer_id } => json!({ "customer_id": customer_id }),
        }
    }

    /// The change that enqueues this job as `id` at `run_at` under `unique_key`.
    pub(crate) fn enqueue(&self, id: String, unique_key: String, run_at: OffsetDateTime) -> Change {
        Change::EnqueueJob(QueuedJob {
            id,
            kind: self.kind().to_owned(),
            payload: self.payload().to_string(),
            unique_key: Some(unique_key),
            run_at: to_ms(run_at),
            max_attempts: MAX_ATTEMPTS,
        })
    }
}

/// Unique-key prefix of a subscription's payment retries (cancelled together when paid).
pub(crate) fn retry_key_prefix(subscription_id: &str) -> String {
    format!("{}:{subscription_id}:", BillingJob::PAYMENT_RETRY)
}

/// Unique-key prefix of a subscription's grace expiries.
pub(crate) fn grace_key_prefix(subscription_id: &str) -> String {
    format!("{}:{subscription_id}:", BillingJob::GRACE_EXPIRY)
}

/// Enqueues a payment retry of `subscription_id` at `at` as job `id` (one per instant).
pub(crate) fn retry_at(subscription_id: &str, at: OffsetDateTime, id: String) -> Change {
    BillingJob::PaymentRetry {
        subscription_id: subscription_id.to_owned(),
    }
    .enqueue(
        id,
        format!("{}{}", retry_key_prefix(subscription_id), to_ms(at)),
        at,
    )
}

/// Enqueues the grace expiry of `subscription_id` at `at` as job `id` (one per instant).
pub(crate) fn grace_expiry_at(subscription_id: &str, at: OffsetDateTime, id: String) -> Change {
    BillingJob::GraceExpiry {
        subscription_id: subscription_id.to_owned(),
        at_ms: to_ms(at),
    }
    .enqueue(
        id,
        format!("{}{}", grace_key_prefix(subscription_id), to_ms(at)),
        at,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_round_trips_through_its_kind_and_payload() {
        let jobs = [
            BillingJob::BillingPass,
            BillingJob::PaymentRetry {
                subscription_id: "s1".into(),
            },
            BillingJob::GraceExpiry {
                subscription_id: "s1".into(),
                at_ms: 42,
            },
            BillingJob::CollectCustomer {
                customer_id: "u1".into(),
            },
        ];
        for job in jobs {
            assert!(BillingJob::KINDS.contains(&job.kind()));
            let parsed = BillingJob::parse(job.kind(), &job.payload().to_string());
            assert_eq!(parsed, Ok(job));
        }
    }

    #[test]
    fn a_bad_payload_is_named() {
        assert_eq!(
            BillingJob::parse("payment_retry", "{}"),
            Err("payment_retry payload lacks `subscription_id`".to_owned())
        );
        assert!(BillingJob::parse("payment_retry", "nope").is_err());
        assert!(BillingJob::parse("event_completed", "{}").is_err());
    }
}
