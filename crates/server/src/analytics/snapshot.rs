//! One day's snapshot: the recurring revenue from the rebuilt history (`history.rs`) and the
//! day's flows from the rows that record them (invoices, payment attempts, shipments,
//! notification deliveries, usage periods). Sources are read once for a range of days, so a
//! backfill of a year reads each table once.

use std::collections::HashMap;

use smartbox_domain::Cents;
use smartbox_domain::epoch::{from_unix_ms, unix_ms};
use smartbox_domain::metrics::{DaySnapshot, day_figures, state_before};
use smartbox_store::{Db, NewMovement, StoreError};
use time::{Date, Duration};

use super::history::History;

/// How long a shipped mailbox has to be claimed to count as activated.
pub const ACTIVATION_WINDOW_DAYS: i64 = 30;
/// How long after its end a trial's outcome is read: the grace of a first charge that failed.
pub const TRIAL_OUTCOME_AFTER_DAYS: i64 = 3;

/// `[start, end)` of a UTC day, in epoch milliseconds.
pub fn day_bounds(day: Date) -> (i64, i64) {
    let start = unix_ms(day.midnight().assume_utc());
    (start, start + 86_400_000)
}

/// The UTC day of an instant.
pub fn day_of(ms: i64) -> Date {
    from_unix_ms(ms).date()
}

/// What happened on one day besides the subscriptions' states.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Flow {
    other_revenue: Cents,
    first_failures: u64,
    recovered: u64,
    notified: u64,
    delivered: u64,
    shipped: u64,
    activated: u64,
}

/// The flows of a range of days, by day, and the data bytes of the usage periods that ended on
/// each (the period's data per device p50 and p95 need every value).
#[derive(Debug, Clone, Default)]
pub struct Flows {
    days: HashMap<Date, Flow>,
    data: HashMap<Date, Vec<u64>>,
}

impl Flows {
    /// Reads the flows of the days `from..=to`, counting only what happened before `until_ms`
    /// (now, for today's live figures).
    pub async fn load(db: &Db, from: Date, to: Date, until_ms: i64) -> Result<Flows, StoreError> {
        let start = day_bounds(from).0;
        let end = day_bounds(to).1.min(until_ms);
        let mut flows = Flows::default();
        for r in db.analytics_other_revenue(start, end).await? {
            flows.at(r.created_at).other_revenue += Cents::new(r.amount_cents);
        }
        let attempts = db.analytics_charge_attempts(start, end).await?;
        for invoice in attempts.chunk_by(|a, b| a.invoice_id == b.invoice_id) {
            if let Some(first) = invoice.first().filter(|a| a.failed)
                && (start..end).contains(&first.created_at)
            {
                flows.at(first.created_at).first_failures += 1;
            }
            if let Some(paid_at) = invoice.first().and_then(|a| a.invoice_paid_at)
                && (start..end).contains(&paid_at)
                && invoice.iter().any(|a| a.failed && a.created_at <= paid_at)
            {
                flows.at(paid_at).recovered += 1;
            }
        }
        for n in db.analytics_notified_events(start, end).await? {
            let flow = flows.at(n.notified_at);
            flow.notified += 1;
            flow.delivered += u64::from(n.delivered);
        }
        let window = ACTIVATION_WINDOW_DAYS * 86_400_000;
        let cohort_end = (day_bounds(to).1 - window).min(until_ms - window);
        for s in db.analytics_shipments(start - window, cohort_end).await? {
            let flow = flows.at(s.shipped_at + window);
            flow.shipped += 1;
            flow.activated += u64::from(s.claimed_at.is_some_and(|c| c <= s.shipped_at + window));
        }
        for u in db.analytics_usage_ended(start, end).await? {
            let bytes = u64::try_from(u.data_bytes).unwrap_or(0);
            flows
                .data
                .entry(day_of(u.period_end))
                .or_default()
                .push(bytes);
        }
        Ok(flows)
    }

    fn at(&mut self, ms: i64) -> &mut Flow {
        self.days.entry(day_of(ms)).or_default()
    }

    /// The data bytes of the usage periods that ended on `day`.
    pub fn data_of(&self, day: Date) -> &[u64] {
        self.data.get(&day).map_or(&[], Vec::as_slice)
    }
}

/// The snapshot of `day` as of `until_ms` (its end for a past day, now for today), and the
/// customers behind its movements.
pub fn snapshot(
    history: &History,
    flows: &Flows,
    day: Date,
    until_ms: i64,
) -> (DaySnapshot, Vec<NewMovement>) {
    let (start, end) = day_bounds(day);
    let end = end.min(until_ms);
    let figures = day_figures(&history.customers, start, end);
    let trial_day = trials_read_on(day);
    let mut trials_ended = 0;
    let mut trials_converted = 0;
    for trial in &history.trials {
        if (trial_day.0..trial_day.1).contains(&trial.ends_at_ms) {
            trials_ended += 1;
            let converted = history
                .customers
                .get(trial.customer)
                .and_then(|c| c.subscriptions.get(trial.subscription))
                .and_then(|s| state_before(s, end))
                .is_some_and(|s| s.status.is_paying());
            trials_converted += u64::from(converted);
        }
    }
    let flow = flows.days.get(&day).copied().unwrap_or_default();
    let snapshot = DaySnapshot {
        day,
        mrr: figures.mrr,
        paying_customers: figures.paying_customers,
        trialing: figures.trialing,
        movements: figures.movements,
        other_revenue: flow.other_revenue,
        trials_ended,
        trials_converted,
        shipped: flow.shipped,
        activated: flow.activated,
        notifications_attempted: flow.notified,
        notifications_delivered: flow.delivered,
        first_failures: flow.first_failures,
        recovered: flow.recovered,
        data_periods: flows.data_of(day).len() as u64,
        data_bytes: flows.data_of(day).iter().sum(),
    };
    let movements = figures
        .customers
        .into_iter()
        .map(|m| NewMovement {
            customer_id: m.customer,
            kind: m.kind,
            before: m.before,
            after: m.after,
        })
        .collect();
    (snapshot, movements)
}

/// The first and last instant (exclusive) of the trial ends whose outcome is read on `day`.
pub fn trials_read_on(day: Date) -> (i64, i64) {
    day_bounds(day - Duration::days(TRIAL_OUTCOME_AFTER_DAYS))
}

/// Today's snapshot as of `now_ms` from yesterday's and the history of only the customers who
/// may have changed since (`History::load_changed`): their movements, and the state at the
/// day's start swapped for theirs now. Equal to [`snapshot`] over every customer, without
/// reading every customer's history on each page view.
pub fn live_today(
    changed: &History,
    flows: &Flows,
    yesterday: &DaySnapshot,
    today: Date,
    now_ms: i64,
) -> DaySnapshot {
    let (mut live, _) = snapshot(changed, flows, today, now_ms);
    let start = day_bounds(today).0;
    let before = day_figures(&changed.customers, start, start);
    live.mrr = yesterday.mrr - before.mrr + live.mrr;
    live.paying_customers = (yesterday.paying_customers + live.paying_customers)
        .saturating_sub(before.paying_customers);
    live.trialing = (yesterday.trialing + live.trialing).saturating_sub(before.trialing);
    live
}

/// Computes and stores the snapshots of the days `from..=to` (each written whole, so running it
/// again writes the same rows). Returns the number of days written.
pub async fn snapshot_days(db: &Db, from: Date, to: Date, now_ms: i64) -> Result<u64, StoreError> {
    if from > to {
        return Ok(0);
    }
    let history = History::load(db).await?;
    let flows = Flows::load(db, from, to, now_ms).await?;
    let mut day = from;
    let mut written = 0;
    while day <= to {
        let (snapshot, movements) = snapshot(&history, &flows, day, now_ms);
        db.save_analytics_day(&snapshot, &movements, flows.data_of(day), now_ms)
            .await?;
        written += 1;
        day = day.next_day().unwrap_or(Date::MAX);
        if day == Date::MAX {
            break;
        }
    }
    Ok(written)
}
