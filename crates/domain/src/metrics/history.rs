//! A subscription's plan and status through time, rebuilt from where it stands now and the
//! changes its audit trail records (each with the plan and the status it had before).
//!
//! The analytics rebuild past days from this (`smartbox analytics backfill`), so a figure of
//! last March is what the subscriptions were last March, not what they are today. Rewinding
//! from the present needs only the "before" half of each change, which every billing change
//! records.

use crate::plan::PlanId;
use crate::subscription::SubscriptionStatus;

/// One recorded change: at `at_ms`, the plan and/or the status changed from these values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PastChange {
    pub at_ms: i64,
    pub plan_before: Option<PlanId>,
    pub status_before: Option<SubscriptionStatus>,
}

/// From `from_ms` until the next stretch starts, the subscription had `plan` and `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stretch {
    pub from_ms: i64,
    pub plan: PlanId,
    pub status: SubscriptionStatus,
}

/// A subscription now, and its past changes in the order they were recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionHistory {
    pub created_at_ms: i64,
    pub plan: PlanId,
    pub status: SubscriptionStatus,
    pub changes: Vec<PastChange>,
}

impl SubscriptionHistory {
    /// The stretches from creation to now, oldest first. Changes recorded in the same
    /// millisecond keep their recorded order.
    pub fn stretches(&self) -> Vec<Stretch> {
        let mut changes = self.changes.clone();
        changes.sort_by_key(|c| c.at_ms);
        let (mut plan, mut status) = (self.plan, self.status);
        let mut stretches = Vec::with_capacity(changes.len() + 1);
        for change in changes.iter().rev() {
            stretches.push(Stretch {
                from_ms: change.at_ms.max(self.created_at_ms),
                plan,
                status,
            });
            plan = change.plan_before.unwrap_or(plan);
            status = change.status_before.unwrap_or(status);
        }
        stretches.push(Stretch {
            from_ms: self.created_at_ms,
            plan,
            status,
        });
        stretches.reverse();
        stretches
    }
}

/// The plan and status just before `t_ms` (every change before `t_ms` applied, none at or
/// after it), or `None` when the subscription did not exist yet.
pub fn state_before(stretches: &[Stretch], t_ms: i64) -> Option<Stretch> {
    let i = stretches.partition_point(|s| s.from_ms < t_ms);
    i.checked_sub(1).and_then(|i| stretches.get(i)).copied()
}

/// When the subscription first paid (its first stretch as `active` or `past_due`), if ever.
pub(crate) fn first_paid(stretches: &[Stretch]) -> Option<i64> {
    stretches
        .iter()
        .find(|s| s.status.is_paying())
        .map(|s| s.from_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use PlanId::{Basic, Plus};
    use SubscriptionStatus::{Active, Canceled, PastDue, Trialing};

    fn change(at_ms: i64, plan: Option<PlanId>, status: Option<SubscriptionStatus>) -> PastChange {
        PastChange {
            at_ms,
            plan_before: plan,
            status_before: status,
        }
    }

    #[test]
    fn the_present_is_rewound_through_each_change() {
        let history = SubscriptionHistory {
            created_at_ms: 0,
            plan: Plus,
            status: Canceled,
            changes: vec![
                change(10, None, Some(Trialing)),
                change(20, None, Some(Active)),
                change(30, Some(Basic), None),
                change(40, None, Some(PastDue)),
                change(50, None, Some(Active)),
            ],
        };
        let stretches = history.stretches();
        let seen: Vec<_> = stretches
            .iter()
            .map(|s| (s.from_ms, s.plan, s.status))
            .collect();
        assert_eq!(
            seen,
            vec![
                (0, Basic, Trialing),
                (10, Basic, Active),
                (20, Basic, PastDue),
                (30, Plus, PastDue),
                (40, Plus, Active),
                (50, Plus, Canceled),
            ]
        );
        assert_eq!(state_before(&stretches, 0), None);
        assert_eq!(
            state_before(&stretches, 10).map(|s| s.status),
            Some(Trialing)
        );
        assert_eq!(state_before(&stretches, 11).map(|s| s.status), Some(Active));
        assert_eq!(
            state_before(&stretches, 99).map(|s| s.status),
            Some(Canceled)
        );
        assert_eq!(first_paid(&stretches), Some(10));
    }
}
