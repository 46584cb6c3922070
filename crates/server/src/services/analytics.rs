//! Business analytics actions: an admin enters the acquisition spend of a month and channel
//! (the reason and the amounts before and after in the audit entry, in the same transaction);
//! an operator rebuilds the daily snapshots from a date; the snapshot job snapshots the days
//! that finished since its last run.

use smartbox_domain::Cents;
use smartbox_store::changes::{Applied, AuditRecord, Change, Changes};
use smartbox_store::{month_key, parse_day_key};
use time::{Date, Duration};

use super::staff_devices::{Reason, require_staff};
use super::{Actor, ServiceError, StaffRole};
use crate::analytics;
use crate::state::AppState;

/// Longest channel name.
const MAX_CHANNEL: usize = 60;
/// The most a month's spend on one channel may be: $10,000,000.
const MAX_SPEND: Cents = Cents::new(1_000_000_000);

/// A month as `YYYY-MM`, between 2000 and 2999.
pub fn parse_month(text: &str) -> Result<Date, ServiceError> {
    let text = text.trim();
    parse_day_key(&format!("{text}-01"))
        .filter(|d| text.len() == 7 && (2000..3000).contains(&d.year()))
        .ok_or_else(|| ServiceError::Invalid {
            code: "invalid_month",
            message: format!("{text:?} is not a month like 2027-03."),
        })
}

/// A channel name: 1 to 60 characters, no control characters, trimmed and lower-cased so
/// "Google Ads" and "google ads" are one channel.
pub fn parse_channel(text: &str) -> Result<String, ServiceError> {
    let text = text.trim();
    let count = text.chars().count();
    if count == 0 || count > MAX_CHANNEL || text.chars().any(char::is_control) {
        return Err(ServiceError::Invalid {
            code: "invalid_channel",
            message: format!(
                "Name the channel in 1 to {MAX_CHANNEL} characters (e.g. search ads)."
            ),
        });
    }
    Ok(text.to_lowercase())
}

/// Sets what was spent on acquisition in `month` (any day of it) through `channel`; an admin's
/// action, with a reason.
pub async fn set_spend(
    state: &AppState,
    actor: &Actor,
    month: Date,
    channel: &str,
    amount: Cents,
    reason: &str,
) -> Result<(), ServiceError> {
    require_staff(actor, StaffRole::Admin)?;
    let reason = Reason::parse(reason)?;
    let channel = parse_channel(channel)?;
    if amount < Cents::ZERO || amount > MAX_SPEND {
        return Err(ServiceError::Invalid {
            code: "invalid_amount",
            message: "The spend must be between $0 and $10,000,000.".into(),
        });
    }
    let month = month_key(month.year(), month.month());
    let before = state.db.acquisition_spend_of(&month, &channel).await?;
    let now = state.clock.now_ms();
    let mut changes = Changes::new();
    changes.push(Change::SetAcquisitionSpend {
        month: month.clone(),
        channel: channel.clone(),
        amount_cents: amount.get(),
        at: now,
    });
    changes.push(Change::Audit(AuditRecord {
        at: now,
        actor: actor.audit_name(),
        entity_type: "acquisition_spend".to_owned(),
        entity_id: format!("{month}/{channel}"),
        action: "spend_set".to_owned(),
        detail: serde_json::json!({
            "cause": reason.as_str(),
            "before": { "amount_cents": before },
            "after": { "amount_cents": amount.get() },
        })
        .to_string(),
    }));
    match state.db.apply_changes(&changes).await? {
        Applied::Done => Ok(()),
        Applied::Stale(_) => Err(ServiceError::Conflict(
            "The spend changed meanwhile; try again.".into(),
        )),
    }
}

/// Recomputes the snapshots of every day from `from` to yesterday (the operator's backfill),
/// with one audit entry saying so. Returns the number of days written.
pub async fn backfill(state: &AppState, actor: &Actor, from: Date) -> Result<u64, ServiceError> {
    require_staff(actor, StaffRole::Admin)?;
    let now = state.clock.now_ms();
    let yesterday = analytics::day_of(now) - Duration::days(1);
    if from > yesterday {
        return Err(ServiceError::Invalid {
            code: "invalid_date",
            message: format!("Backfill from a past day (at most {yesterday})."),
        });
    }
    let written = analytics::snapshot_days(&state.db, from, yesterday, now).await?;
    let mut changes = Changes::new();
    changes.push(Change::Audit(AuditRecord {
        at: now,
        actor: actor.audit_name(),
        entity_type: "analytics".to_owned(),
        entity_id: "daily_snapshots".to_owned(),
        action: "backfill".to_owned(),
        detail: serde_json::json!({
            "cause": actor.default_reason(),
            "from": from.to_string(),
            "to": yesterday.to_string(),
            "days": written,
        })
        .to_string(),
    }));
    state.db.apply_changes(&changes).await?;
    Ok(written)
}

/// Snapshots the days that finished since the last snapshot (the daily job).
pub async fn snapshot_finished_days(state: &AppState) -> Result<u64, ServiceError> {
    Ok(analytics::catch_up(&state.db, state.clock.now_ms()).await?)
}
