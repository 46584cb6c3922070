//! The fast path of a batch: the same writes as applying each change set in its own savepoint,
//! but as a few multi-row statements per kind of change (one `UPDATE ... FROM (VALUES ...)` for
//! every subscription, one `INSERT` for every invoice, ...). This is what bills thousands of
//! subscriptions a second on either backend.
//!
//! Guards keep their meaning: a subscription whose version moved makes its change set stale
//! (excluded before anything else of it is written); any other guard that does not hold (a
//! status that moved, a uniqueness rule) abandons the fast path, rolls back, and the caller
//! applies the batch the careful way, set by set.

use std::collections::HashSet;

use super::{Applied, Change, Changes, Stale, StaleGuard, invoice_number};
use crate::{Backend, Db, Result, on_pool};

/// Rows per statement stay under SQLite's 32,766 bound parameters (PostgreSQL allows 65,535).
const MAX_PARAMS: usize = 30_000;

/// Whether every change set of `batch` can take the fast path: only the kinds of changes it
/// knows, at most one subscription update per set and no subscription in two sets.
pub(super) fn eligible(batch: &[Changes]) -> bool {
    let mut subscriptions = HashSet::new();
    batch.len() > 1
        && batch.iter().all(|changes| {
            let mut updates = 0;
            changes.ops.iter().all(|change| match change {
                Change::UpdateSubscription(update) => {
                    updates += 1;
                    updates == 1 && subscriptions.insert(update.id.as_str())
                }
                Change::InsertInvoice(_)
                | Change::SetInvoiceStatus(_)
                | Change::InsertPayment(_)
                | Change::UpdatePayment(_)
                | Change::SetDeviceLifecycle { .. }
                | Change::EnqueueJob(_)
                | Change::CancelQueuedJobs { .. }
                | Change::OpenUsagePeriod { .. }
                | Change::Audit(_) => true,
                Change::SetCustomerPaymentMethod { .. }
                | Change::SetProviderCustomer { .. }
                | Change::MoveDeviceLifecycle { .. }
                | Change::SetDeviceNameLocation { .. }
                | Change::RecordStripeEvent { .. }
                | Change::ClaimDevice { .. }
                | Change::InsertSubscription(_)
                | Change::SetSpendCap { .. }
                | Change::SetUserPreferences { .. }
                | Change::SetDigestEnabled { .. }
                | Change::SetNotificationPref { .. }
                | Change::SetNotifyDeliveriesOnly { .. }
                | Change::ReplaceDeviceSecret { .. }
                | Change::RefurbishDevice { .. }
                | Change::MarkDevice { .. }
                | Change::SetAcquisitionSpend { .. }
                | Change::RetryFailedJob { .. }
                | Change::SetCheckinInterval { .. }
                | Change::SetPasswordHash { .. }
                | Change::InsertReturn(_)
                | Change::CloseReturn { .. }
                | Change::EndOtherSessions { .. }
                | Change::AnonymiseUser { .. }
                | Change::SetDeviceWifi { .. }
                | Change::SetCustomerWebhook { .. }
                | Change::DeleteCustomerWebhook { .. }
                | Change::SavePushSubscription(_)
                | Change::DeletePushSubscription { .. }
                | Change::Ticket(_)
                | Change::IssuePasswordReset { .. }
                | Change::InsertCredit(_)
                | Change::ApplyCredit { .. }
                | Change::InsertRollout(_)
                | Change::MoveRollout { .. }
                | Change::PinFirmware { .. }
                | Change::UnpinFirmware { .. }
                | Change::TagDevice { .. }
                | Change::UntagDevice { .. } => false,
            })
        })
}

/// The placeholder for parameter `n`. SQLite takes time quadratic in the number of numbered or
/// named parameters (`$n`, `?n`) of a statement, 50 ms for 5,500 of them, but linear for
/// anonymous ones (`?`, numbered in order of appearance): so SQLite gets `?`, and every
/// parameter is bound once, in order, never reused.
fn param(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => "?".to_owned(),
        Backend::Postgres => format!("${n}"),
    }
}

/// `(p1, ..., p<cols>), (...)` for `rows` rows of `cols` parameters each.
fn rows_sql(backend: Backend, rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=cols).map(|c| param(backend, r * cols + c)).collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(p<first>, p<first+1>, ...)` with `count` placeholders.
fn in_list(backend: Backend, first: usize, count: usize) -> String {
    let cells: Vec<String> = (first..first + count).map(|n| param(backend, n)).collect();
    format!("({})", cells.join(", "))
}

fn rows_per_statement(cols: usize) -> usize {
    (MAX_PARAMS / cols.max(1)).max(1)
}

/// Groups items by their `from` statuses (a guard's allowed statuses), keeping first-seen order.
fn by_from<T, S: PartialEq>(items: Vec<&T>, from: impl Fn(&T) -> &Vec<S>) -> Vec<Vec<&T>> {
    let mut groups: Vec<Vec<&T>> = Vec::new();
    for item in items {
        match groups.iter_mut().find(|g| from(g[0]) == from(item)) {
            Some(group) => group.push(item),
            None => groups.push(vec![item]),
        }
    }
    groups
}

/// Why the fast path gave up.
enum GiveUp {
    /// A guard other than a subscription version did not hold.
    Guard,
    Database(sqlx::Error),
}

impl From<sqlx::Error> for GiveUp {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => GiveUp::Guard,
            _ => GiveUp::Database(err),
        }
    }
}

/// Applies `batch` the fast way; `None` when a guard sent it back to the careful way (nothing
/// was written then).
pub(super) async fn apply(db: &Db, batch: &[Changes]) -> Result<Option<Vec<Applied>>> {
    let backend = db.backend();
    let begin = match backend {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN",
    };
    let outcome: std::result::Result<Vec<Applied>, GiveUp> = on_pool!(db, pool => {
        let mut tx = pool.begin_with(begin).await?;
        let attempt: std::result::Result<Vec<Applied>, GiveUp> = async {
            // Phase A: every subscription update at once; a set whose version moved is stale.
            let updates: Vec<_> = batch
                .iter()
                .enumerate()
                .flat_map(|(set, changes)| {
                    changes.ops.iter().enumerate().filter_map(move |(op, change)| match change {
                        Change::UpdateSubscription(update) => Some((set, op, update)),
                        _ => None,
                    })
                })
                .collect();
            let mut updated: HashSet<String> = HashSet::new();
            for chunk in updates.chunks(rows_per_statement(11)) {
                let sql = format!(
                    "UPDATE subscriptions SET plan_id = v.column3, pending_plan_id = v.column4, \
                     status = v.column5, current_period_start = v.column6, current_period_end = v.column7, \
                     cancel_at_period_end = v.column8, past_due_since = v.column9, \
                     spend_cap_cents = CASE WHEN v.column10 IS NOT NULL AND spend_cap_cents > v.column10 \
                     THEN v.column10 ELSE spend_cap_cents END, updated_at = v.column11, version = version + 1 \
                     FROM (VALUES {}) AS v \
                     WHERE subscriptions.id = v.column1 AND subscriptions.version = v.column2 RETURNING id",
                    rows_sql(backend, chunk.len(), 11)
                );
                let mut query = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(sql));
                for (_, _, s) in chunk {
                    query = query
                        .bind(&s.id)
                        .bind(s.expected_version)
                        .bind(&s.plan_id)
                        .bind(&s.pending_plan_id)
                        .bind(s.status.as_str())
                        .bind(s.current_period_start)
                        .bind(s.current_period_end)
                        .bind(s.cancel_at_period_end)
                        .bind(s.past_due_since)
                        .bind(s.spend_cap_at_most)
                        .bind(s.updated_at);
                }
                updated.extend(query.fetch_all(&mut *tx).await?.into_iter().map(|(id,)| id));
            }
            let mut results = vec![Applied::Done; batch.len()];
            for (set, op, update) in &updates {
                if !updated.contains(&update.id) {
                    results[*set] = Applied::Stale(Stale {
                        op: *op,
                        guard: StaleGuard::SubscriptionVersion,
                    });
                }
            }
            let live: Vec<&Changes> = batch
                .iter()
                .zip(&results)
                .filter(|(_, applied)| **applied == Applied::Done)
                .map(|(changes, _)| changes)
                .collect();
            let all = || live.iter().flat_map(|changes| changes.ops.iter());

            // Invoices: numbers drawn in one go, then the invoices and their lines.
            let invoices: Vec<_> = all()
                .filter_map(|c| match c {
                    Change::InsertInvoice(i) => Some(i),
                    _ => None,
                })
                .collect();
            if !invoices.is_empty() {
                let count = i64::try_from(invoices.len()).unwrap_or(i64::MAX);
                let numbers: Vec<i64> = match backend {
                    Backend::Postgres => sqlx::query_as::<_, (i64,)>(
                        "SELECT nextval('invoice_numbers') FROM generate_series(1, $1)",
                    )
                    .bind(count)
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .map(|(n,)| n)
                    .collect(),
                    Backend::Sqlite => {
                        let (last,): (i64,) = sqlx::query_as(
                            "UPDATE counters SET value = value + $1 WHERE name = 'invoice_number' RETURNING value",
                        )
                        .bind(count)
                        .fetch_one(&mut *tx)
                        .await?;
                        (last - count + 1..=last).collect()
                    }
                };
                let numbered: Vec<_> = invoices.iter().zip(numbers).collect();
                for chunk in numbered.chunks(rows_per_statement(11)) {
                    let sql = format!(
                        "INSERT INTO invoices (id, number, subscription_id, customer_id, kind, period_start, \
                         period_end, status, total_cents, idempotency_key, created_at) VALUES {}",
                        rows_sql(backend, chunk.len(), 11)
                    );
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for (i, number) in chunk {
                        query = query
                            .bind(&i.id)
                            .bind(invoice_number(*number))
                            .bind(&i.subscription_id)
                            .bind(&i.customer_id)
                            .bind(&i.kind)
                            .bind(i.period_start)
                            .bind(i.period_end)
                            .bind(i.status.as_str())
                            .bind(i.total_cents)
                            .bind(&i.idempotency_key)
                            .bind(i.created_at);
                    }
                    query.execute(&mut *tx).await?;
                }
                let lines: Vec<_> = invoices
                    .iter()
                    .flat_map(|i| {
                        i.lines
                            .iter()
                            .enumerate()
                            .map(move |(position, (text, amount))| (&i.id, position, text, *amount))
                    })
                    .collect();
                for chunk in lines.chunks(rows_per_statement(4)) {
                    let sql = format!(
                        "INSERT INTO invoice_lines (invoice_id, position, description, amount_cents) VALUES {}",
                        rows_sql(backend, chunk.len(), 4)
                    );
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for (id, position, text, amount) in chunk {
                        query = query
                            .bind(*id)
                            .bind(i64::try_from(*position).unwrap_or(i64::MAX))
                            .bind(*text)
                            .bind(*amount);
                    }
                    query.execute(&mut *tx).await?;
                }
            }

            // Invoice status moves, grouped by the statuses they may leave.
            let statuses: Vec<_> = all()
                .filter_map(|c| match c {
                    Change::SetInvoiceStatus(u) => Some(u),
                    _ => None,
                })
                .collect();
            for group in by_from(statuses, |u| &u.from) {
                let from = &group[0].from;
                for chunk in group.chunks(rows_per_statement(4 + from.len())) {
                    let sql = format!(
                        "UPDATE invoices SET status = v.column2, paid_at = COALESCE(v.column3, paid_at), \
                         carried_into = COALESCE(v.column4, carried_into) FROM (VALUES {}) AS v \
                         WHERE invoices.id = v.column1 AND invoices.status IN {} RETURNING id",
                        rows_sql(backend, chunk.len(), 4),
                        in_list(backend, chunk.len() * 4 + 1, from.len())
                    );
                    let mut query = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(sql));
                    for u in chunk {
                        query = query.bind(&u.id).bind(u.to.as_str()).bind(u.paid_at).bind(&u.carried_into);
                    }
                    for status in from {
                        query = query.bind(status.as_str());
                    }
                    if query.fetch_all(&mut *tx).await?.len() != chunk.len() {
                        return Err(GiveUp::Guard);
                    }
                }
            }

            let payments: Vec<_> = all()
                .filter_map(|c| match c {
                    Change::InsertPayment(p) => Some(p),
                    _ => None,
                })
                .collect();
            for chunk in payments.chunks(rows_per_statement(10)) {
                let sql = format!(
                    "INSERT INTO payments (id, invoice_id, amount_cents, status, provider, provider_payment_id, \
                     failure_code, failure_message, created_at, updated_at) VALUES {}",
                    rows_sql(backend, chunk.len(), 10)
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for p in chunk {
                    query = query
                        .bind(&p.id)
                        .bind(&p.invoice_id)
                        .bind(p.amount_cents)
                        .bind(p.status.as_str())
                        .bind(&p.provider)
                        .bind(&p.provider_payment_id)
                        .bind(&p.failure_code)
                        .bind(&p.failure_message)
                        .bind(p.created_at)
                        .bind(p.created_at);
                }
                query.execute(&mut *tx).await?;
            }

            let payment_updates: Vec<_> = all()
                .filter_map(|c| match c {
                    Change::UpdatePayment(u) => Some(u),
                    _ => None,
                })
                .collect();
            for group in by_from(payment_updates, |u| &u.from) {
                let from = &group[0].from;
                for chunk in group.chunks(rows_per_statement(7 + from.len())) {
                    let sql = format!(
                        "UPDATE payments SET status = v.column2, \
                         provider_payment_id = COALESCE(v.column3, provider_payment_id), \
                         failure_code = v.column4, failure_message = v.column5, \
                         provider_event_created = COALESCE(v.column6, provider_event_created), \
                         updated_at = v.column7 FROM (VALUES {}) AS v \
                         WHERE payments.id = v.column1 AND payments.status IN {} RETURNING id",
                        rows_sql(backend, chunk.len(), 7),
                        in_list(backend, chunk.len() * 7 + 1, from.len())
                    );
                    let mut query = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(sql));
                    for u in chunk {
                        query = query
                            .bind(&u.id)
                            .bind(u.status.as_str())
                            .bind(&u.provider_payment_id)
                            .bind(&u.failure_code)
                            .bind(&u.failure_message)
                            .bind(u.provider_event_created)
                            .bind(u.updated_at);
                    }
                    for status in from {
                        query = query.bind(status.as_str());
                    }
                    if query.fetch_all(&mut *tx).await?.len() != chunk.len() {
                        return Err(GiveUp::Guard);
                    }
                }
            }

            let usage: Vec<_> = all()
                .filter_map(|c| match c {
                    Change::OpenUsagePeriod { subscription_id, period_start, period_end } => {
                        Some((subscription_id, *period_start, *period_end))
                    }
                    _ => None,
                })
                .collect();
            for chunk in usage.chunks(rows_per_statement(3)) {
                let sql = format!(
                    "INSERT INTO usage_periods (subscription_id, period_start, period_end) VALUES {} \
                     ON CONFLICT (subscription_id, period_start) DO NOTHING",
                    rows_sql(backend, chunk.len(), 3)
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (id, start, end) in chunk {
                    query = query.bind(*id).bind(*start).bind(*end);
                }
                query.execute(&mut *tx).await?;
            }

            // Rare in a batch: one statement each.
            for change in all() {
                match change {
                    Change::SetDeviceLifecycle { device_id, from, to } => {
                        sqlx::query(
                            "UPDATE devices SET lifecycle_state = $3 WHERE id = $1 AND lifecycle_state = $2",
                        )
                        .bind(device_id)
                        .bind(from.as_str())
                        .bind(to.as_str())
                        .execute(&mut *tx)
                        .await?;
                    }
                    Change::CancelQueuedJobs { key_prefix, reason, now } => {
                        sqlx::query(
                            "UPDATE jobs SET status = 'done', last_error = $2, updated_at = $3 \
                             WHERE status = 'queued' AND substr(unique_key, 1, length($1)) = $1",
                        )
                        .bind(key_prefix)
                        .bind(reason)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    _ => {}
                }
            }

            let jobs: Vec<_> = all()
                .filter_map(|c| match c {
                    Change::EnqueueJob(j) => Some(j),
                    _ => None,
                })
                .collect();
            for chunk in jobs.chunks(rows_per_statement(9)) {
                let sql = format!(
                    "INSERT INTO jobs (id, kind, payload, unique_key, status, run_at, max_attempts, \
                     created_at, updated_at) VALUES {} ON CONFLICT (unique_key) DO NOTHING",
                    rows_sql(backend, chunk.len(), 9)
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for j in chunk {
                    query = query
                        .bind(&j.id)
                        .bind(&j.kind)
                        .bind(&j.payload)
                        .bind(&j.unique_key)
                        .bind("queued")
                        .bind(j.run_at)
                        .bind(j.max_attempts)
                        .bind(j.run_at)
                        .bind(j.run_at);
                }
                query.execute(&mut *tx).await?;
            }

            let audit: Vec<_> = all()
                .filter_map(|c| match c {
                    Change::Audit(a) => Some(a),
                    _ => None,
                })
                .collect();
            for chunk in audit.chunks(rows_per_statement(6)) {
                let sql = format!(
                    "INSERT INTO audit_log (at, actor, entity_type, entity_id, action, detail) VALUES {}",
                    rows_sql(backend, chunk.len(), 6)
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for a in chunk {
                    query = query
                        .bind(a.at)
                        .bind(&a.actor)
                        .bind(&a.entity_type)
                        .bind(&a.entity_id)
                        .bind(&a.action)
                        .bind(&a.detail);
                }
                query.execute(&mut *tx).await?;
            }
            Ok(results)
        }
        .await;
        match attempt {
            Ok(results) => {
                tx.commit().await?;
                Ok(results)
            }
            Err(give_up) => {
                tx.rollback().await?;
                Err(give_up)
            }
        }
    });
    match outcome {
        Ok(results) => Ok(Some(results)),
        Err(GiveUp::Guard) => Ok(None),
        Err(GiveUp::Database(err)) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_numbered_across_the_statement() {
        assert_eq!(
            rows_sql(Backend::Postgres, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(rows_sql(Backend::Sqlite, 1, 2), "(?, ?)");
        assert_eq!(in_list(Backend::Postgres, 7, 2), "($7, $8)");
    }

    #[test]
    fn statements_stay_under_the_parameter_limit() {
        assert_eq!(rows_per_statement(11), 2727);
        assert!(rows_per_statement(11) * 11 <= MAX_PARAMS);
    }
}
