//! The optional morning digest (like USPS Informed Delivery): at 07:00 in the customer's zone,
//! one email listing every mail piece of the last 24 hours with its thumbnail.
//!
//! A recurring pass enqueues one `notify_digest` job per subscribed customer whose local clock is
//! within the hour after 07:00, under a key naming the customer and the local date, so each
//! customer gets at most one digest a day however often the pass runs. A digest is not a
//! notification: it counts nothing in the plan's usage and writes no delivery record.

use std::time::Duration;

use serde::Deserialize;
use smartbox_domain::{Email, MailKind};
use smartbox_notify::{Destination, Outgoing, Summary};
use smartbox_store::{GalleryFilter, NewJob};
use time::{OffsetDateTime, Time};

use super::deliver::delivery_key;
use super::message::{gallery_link, notifications};
use crate::jobs::{JobContext, JobError};
use crate::time_zone::offset_at;
use smartbox_domain::epoch::unix_ms;

/// The recurring pass's kind.
pub const DIGEST_PASS: &str = "notify_digest_pass";
/// How often the pass runs.
pub const DIGEST_PASS_EVERY: Duration = Duration::from_secs(600);
/// One customer's digest. Payload `{"user_id", "at"}` (`at`: the local 07:00, epoch ms).
pub const NOTIFY_DIGEST: &str = "notify_digest";
/// When the digest goes out: this hour, local time.
pub const DIGEST_HOUR: i64 = 7;

/// Mail pieces listed at most.
const DIGEST_MAX_ITEMS: i64 = 100;

#[derive(Debug, Deserialize)]
struct DigestPayload {
    user_id: String,
    at: i64,
}

/// Enqueues today's digest of each subscribed customer whose local time is 07:00 to 07:59.
pub async fn run_pass(ctx: JobContext) -> Result<(), JobError> {
    let state = &ctx.state;
    for (user_id, time_zone) in state
        .db
        .digest_subscribers()
        .await
        .map_err(JobError::retry)?
    {
        let local = ctx.now.to_offset(offset_at(&time_zone, ctx.now_ms()));
        let at = local.replace_time(Time::MIDNIGHT) + time::Duration::hours(DIGEST_HOUR);
        if local < at || local - at >= time::Duration::HOUR {
            continue;
        }
        let key = format!("{NOTIFY_DIGEST}:{user_id}:{}", local.date());
        state
            .db
            .enqueue_job(&NewJob {
                id: &uuid::Uuid::now_v7().to_string(),
                kind: NOTIFY_DIGEST,
                payload: serde_json::json!({ "user_id": user_id, "at": unix_ms(at) }),
                unique_key: Some(&key),
                run_at: ctx.now_ms(),
                max_attempts: super::DELIVERY_ATTEMPTS,
            })
            .await
            .map_err(JobError::retry)?;
    }
    Ok(())
}

/// Sends one customer's digest (nothing when no mail came in the 24 hours).
pub async fn run_digest(ctx: JobContext) -> Result<(), JobError> {
    let payload: DigestPayload = ctx.payload()?;
    let state = &ctx.state;
    let Some(user) = state
        .db
        .user_by_id(&payload.user_id)
        .await
        .map_err(JobError::retry)?
    else {
        return Ok(());
    };
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(payload.at) * 1_000_000)
        .map_err(JobError::permanent)?
        .to_offset(offset_at(&user.time_zone, payload.at));
    let filter = GalleryFilter {
        from: Some(payload.at - 24 * 3_600_000),
        until: Some(payload.at + 1),
        ..GalleryFilter::default()
    };
    let rows = state
        .db
        .gallery_page(&user.id, &filter, DIGEST_MAX_ITEMS)
        .await
        .map_err(JobError::retry)?;
    // False triggers are nobody's mail.
    let event_ids: Vec<&str> = rows
        .iter()
        .filter(|row| {
            row.mail_kind.as_deref().and_then(|k| k.parse().ok()) != Some(MailKind::FalseTrigger)
        })
        .map(|row| row.id.as_str())
        .collect();
    let items = notifications(state, &event_ids)
        .await
        .map_err(JobError::retry)?;
    let digest = Summary::morning_digest(at, gallery_link(state), items);
    if digest.items.is_empty() {
        return Ok(());
    }
    let outgoing = Outgoing::Summary(digest);
    let channels = super::channels(&state.config).map_err(JobError::permanent)?;
    if channels.email.is_none() {
        tracing::info!(to = %user.email, subject = %outgoing.title(), "morning digest (SMARTBOX_SMTP_URL unset: written to the log)");
        return Ok(());
    }
    let to =
        Email::parse(&user.email).map_err(|err| JobError::permanent(anyhow::anyhow!("{err}")))?;
    let key = delivery_key(&ctx.job.id)?;
    super::job_result(
        channels
            .deliver(&Destination::Email(to), key, &outgoing, state.clock.now())
            .await,
    )
}
