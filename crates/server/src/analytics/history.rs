//! Every customer's subscriptions through time, rebuilt from the subscriptions as they are now
//! and the plan and status changes the audit log recorded (the billing engine's own entries, and
//! a device's lifecycle change that ended its subscription).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use smartbox_domain::metrics::{CustomerHistory, PastChange, SubscriptionHistory};
use smartbox_domain::{PlanId, SubscriptionStatus, UserId};
use smartbox_store::{AnalyticsSubscriptionRow, Db, StoreError, SubscriptionChangeRow};

/// A subscription's trial end, and where the subscription sits in [`History::customers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trial {
    pub ends_at_ms: i64,
    pub customer: usize,
    pub subscription: usize,
}

/// The customers with their subscriptions' stretches, and the trials.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub customers: Vec<CustomerHistory<UserId>>,
    pub trials: Vec<Trial>,
    /// When the first subscription started, if any.
    pub first_ms: Option<i64>,
}

impl History {
    /// Every customer's history.
    pub async fn load(db: &Db) -> Result<History, StoreError> {
        let subscriptions = db.analytics_subscriptions().await?;
        let changes = db.analytics_subscription_changes().await?;
        Ok(History::build(subscriptions, &changes))
    }

    /// The history of the customers whose figures on the day starting at `day_start_ms` can
    /// differ from the day before's end: their subscriptions were written since, or a trial whose
    /// outcome is read that day ended in `trials` (see [`super::snapshot::live_today`]).
    pub async fn load_changed(
        db: &Db,
        day_start_ms: i64,
        trials: (i64, i64),
    ) -> Result<History, StoreError> {
        let customers = db
            .analytics_customers_changed(day_start_ms, trials.0, trials.1)
            .await?;
        let (subscriptions, changes) = db.analytics_history_of(&customers).await?;
        Ok(History::build(subscriptions, &changes))
    }

    fn build(
        subscriptions: Vec<AnalyticsSubscriptionRow>,
        rows: &[SubscriptionChangeRow],
    ) -> History {
        let mut changes: HashMap<String, Vec<PastChange>> = HashMap::new();
        for row in rows {
            if let Some((id, change)) = past_change(row) {
                changes.entry(id).or_default().push(change);
            }
        }
        let mut by_customer: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for s in subscriptions {
            by_customer
                .entry(s.customer_id.clone())
                .or_default()
                .push(s);
        }
        let mut history = History::default();
        for (customer_id, mut subs) in by_customer {
            subs.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            let customer = history.customers.len();
            let mut stretches = Vec::with_capacity(subs.len());
            for s in subs {
                history.first_ms = Some(
                    history
                        .first_ms
                        .map_or(s.created_at, |f| f.min(s.created_at)),
                );
                if s.created_at < s.anchor_at {
                    history.trials.push(Trial {
                        ends_at_ms: s.anchor_at,
                        customer,
                        subscription: stretches.len(),
                    });
                }
                let sub = SubscriptionHistory {
                    created_at_ms: s.created_at,
                    plan: s.plan_id,
                    status: s.status,
                    changes: changes.remove(&s.id).unwrap_or_default(),
                };
                stretches.push(sub.stretches());
            }
            history.customers.push(CustomerHistory {
                customer: UserId::new(customer_id),
                subscriptions: stretches,
            });
        }
        history
    }
}

/// The subscription an audit entry changed, and what it had before; `None` for an entry that
/// changed neither its plan nor its status.
fn past_change(row: &SubscriptionChangeRow) -> Option<(String, PastChange)> {
    let detail: Value = serde_json::from_str(&row.detail).ok()?;
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let (id, status_before, plan_before) = if row.entity_type == "device" {
        (
            text(&detail["subscription_id"])?,
            text(&detail["before"]["subscription_status"]),
            None,
        )
    } else {
        (
            row.entity_id.clone(),
            text(&detail["from_status"]),
            text(&detail["from_plan"]).or_else(|| text(&detail["previous_plan"])),
        )
    };
    let change = PastChange {
        at_ms: row.at,
        plan_before: plan_before.and_then(|p| p.parse::<PlanId>().ok()),
        status_before: status_before.and_then(|s| s.parse::<SubscriptionStatus>().ok()),
    };
    (change.plan_before.is_some() || change.status_before.is_some()).then_some((id, change))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(entity_type: &str, entity_id: &str, detail: &str) -> SubscriptionChangeRow {
        SubscriptionChangeRow {
            id: 1,
            entity_type: entity_type.to_owned(),
            entity_id: entity_id.to_owned(),
            at: 7,
            detail: detail.to_owned(),
        }
    }

    #[test]
    fn billing_and_device_entries_say_what_the_subscription_had_before() {
        let renewed = row(
            "subscription",
            "s1",
            r#"{"from_status":"active","to_status":"active","plan":"basic","previous_plan":"plus"}"#,
        );
        assert_eq!(
            past_change(&renewed),
            Some((
                "s1".to_owned(),
                PastChange {
                    at_ms: 7,
                    plan_before: Some(PlanId::Plus),
                    status_before: Some(SubscriptionStatus::Active)
                }
            ))
        );
        let returned = row(
            "device",
            "d1",
            r#"{"before":{"lifecycle":"active_subscription","subscription_status":"past_due"},"subscription_id":"s2"}"#,
        );
        assert_eq!(
            past_change(&returned).map(|(id, c)| (id, c.status_before)),
            Some(("s2".to_owned(), Some(SubscriptionStatus::PastDue)))
        );
        assert_eq!(
            past_change(&row("subscription", "s3", r#"{"cause":"x"}"#)),
            None
        );
        assert_eq!(
            past_change(&row("device", "d2", r#"{"subscription_id":null}"#)),
            None
        );
    }
}
