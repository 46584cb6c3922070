//! One day of recurring revenue: the MRR at the day's end, and how each customer's MRR moved
//! during the day (new, expansion, contraction, churn, reactivation), as subscription analytics
//! tools define these movements.
//!
//! A customer's MRR is the sum of the plan prices of their subscriptions that are `active` or
//! `past_due` (trials out). Each customer gets at most one movement a day: the day's start is
//! compared with its end, so an upgrade undone the same day is no movement.

use crate::money::Cents;
use crate::names::named_enum;
use crate::subscription::SubscriptionStatus;

use super::history::{Stretch, first_paid, state_before};

named_enum! {
    /// How a customer's MRR changed over a day.
    pub enum MovementKind as "MRR movement" {
        /// From nothing, for a customer who never paid before.
        New => "new",
        /// Up, for a customer who was already paying.
        Expansion => "expansion",
        /// Down, for a customer who keeps paying.
        Contraction => "contraction",
        /// To nothing.
        Churn => "churn",
        /// From nothing, for a customer who paid before.
        Reactivation => "reactivation",
    }
}

impl MovementKind {
    /// The movement from `before` to `after`; `paid_earlier` tells a comeback from a newcomer.
    pub fn between(before: Cents, after: Cents, paid_earlier: bool) -> Option<MovementKind> {
        match (before.is_zero(), after.is_zero()) {
            (true, true) => None,
            (true, false) if paid_earlier => Some(MovementKind::Reactivation),
            (true, false) => Some(MovementKind::New),
            (false, true) => Some(MovementKind::Churn),
            (false, false) if after > before => Some(MovementKind::Expansion),
            (false, false) if after < before => Some(MovementKind::Contraction),
            (false, false) => None,
        }
    }

    /// The movement in plain words, for pages.
    pub const fn label(self) -> &'static str {
        match self {
            MovementKind::New => "New",
            MovementKind::Expansion => "Expansion",
            MovementKind::Contraction => "Contraction",
            MovementKind::Churn => "Churned",
            MovementKind::Reactivation => "Reactivation",
        }
    }
}

/// MRR movements added up: each as a positive amount, with the customers behind new, churn
/// and reactivation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Movements {
    pub new: Cents,
    pub expansion: Cents,
    pub contraction: Cents,
    pub churn: Cents,
    pub reactivation: Cents,
    pub new_customers: u64,
    pub churned_customers: u64,
    pub reactivated_customers: u64,
}

impl Movements {
    /// Adds one customer's movement from `before` to `after`.
    pub fn record(&mut self, kind: MovementKind, before: Cents, after: Cents) {
        let amount = if after > before {
            after - before
        } else {
            before - after
        };
        match kind {
            MovementKind::New => {
                self.new += amount;
                self.new_customers += 1;
            }
            MovementKind::Expansion => self.expansion += amount,
            MovementKind::Contraction => self.contraction += amount,
            MovementKind::Churn => {
                self.churn += amount;
                self.churned_customers += 1;
            }
            MovementKind::Reactivation => {
                self.reactivation += amount;
                self.reactivated_customers += 1;
            }
        }
    }

    /// Adds another day's (or period's) movements.
    pub fn merge(&mut self, other: &Movements) {
        self.new += other.new;
        self.expansion += other.expansion;
        self.contraction += other.contraction;
        self.churn += other.churn;
        self.reactivation += other.reactivation;
        self.new_customers += other.new_customers;
        self.churned_customers += other.churned_customers;
        self.reactivated_customers += other.reactivated_customers;
    }

    /// Net new MRR: what the MRR moved by.
    pub fn net(&self) -> Cents {
        self.new + self.expansion + self.reactivation - self.contraction - self.churn
    }

    /// The amount of one kind.
    pub fn amount(&self, kind: MovementKind) -> Cents {
        match kind {
            MovementKind::New => self.new,
            MovementKind::Expansion => self.expansion,
            MovementKind::Contraction => self.contraction,
            MovementKind::Churn => self.churn,
            MovementKind::Reactivation => self.reactivation,
        }
    }
}

/// A customer's subscriptions through time (see [`super::SubscriptionHistory::stretches`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerHistory<C> {
    pub customer: C,
    pub subscriptions: Vec<Vec<Stretch>>,
}

impl<C> CustomerHistory<C> {
    /// The customer's MRR just before `t_ms`.
    pub fn mrr_before(&self, t_ms: i64) -> Cents {
        self.subscriptions
            .iter()
            .filter_map(|s| state_before(s, t_ms))
            .filter(|s| s.status.is_paying())
            .map(|s| s.plan.plan().price)
            .sum()
    }

    /// Whether the customer paid at some moment before `t_ms`.
    pub fn paid_before(&self, t_ms: i64) -> bool {
        self.subscriptions
            .iter()
            .filter_map(|s| first_paid(s))
            .any(|at| at < t_ms)
    }
}

/// One customer's movement over a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerMovement<C> {
    pub customer: C,
    pub kind: MovementKind,
    pub before: Cents,
    pub after: Cents,
}

/// The recurring-revenue figures of the day `[start_ms, end_ms)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayFigures<C> {
    /// At the day's end.
    pub mrr: Cents,
    pub paying_customers: u64,
    /// Subscriptions in their trial at the day's end.
    pub trialing: u64,
    pub movements: Movements,
    /// Who moved, for the drill-down.
    pub customers: Vec<CustomerMovement<C>>,
}

/// The day's figures from every customer's history.
pub fn day_figures<C: Clone>(
    customers: &[CustomerHistory<C>],
    start_ms: i64,
    end_ms: i64,
) -> DayFigures<C> {
    let mut figures = DayFigures {
        mrr: Cents::ZERO,
        paying_customers: 0,
        trialing: 0,
        movements: Movements::default(),
        customers: Vec::new(),
    };
    for customer in customers {
        let before = customer.mrr_before(start_ms);
        let after = customer.mrr_before(end_ms);
        figures.mrr += after;
        if !after.is_zero() {
            figures.paying_customers += 1;
        }
        figures.trialing += customer
            .subscriptions
            .iter()
            .filter_map(|s| state_before(s, end_ms))
            .filter(|s| s.status == SubscriptionStatus::Trialing)
            .count() as u64;
        let paid_earlier = before.is_zero() && customer.paid_before(start_ms);
        if let Some(kind) = MovementKind::between(before, after, paid_earlier) {
            figures.movements.record(kind, before, after);
            figures.customers.push(CustomerMovement {
                customer: customer.customer.clone(),
                kind,
                before,
                after,
            });
        }
    }
    figures
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PlanId::{Basic, Plus, Premium};
    use SubscriptionStatus::{Active, Canceled, PastDue, Suspended, Trialing};

    fn stretch(from_ms: i64, plan: crate::plan::PlanId, status: SubscriptionStatus) -> Stretch {
        Stretch {
            from_ms,
            plan,
            status,
        }
    }

    #[test]
    fn each_kind_of_movement_is_told_apart() {
        let c = Cents::new;
        assert_eq!(
            MovementKind::between(c(0), c(500), false),
            Some(MovementKind::New)
        );
        assert_eq!(
            MovementKind::between(c(0), c(500), true),
            Some(MovementKind::Reactivation)
        );
        assert_eq!(
            MovementKind::between(c(500), c(1000), true),
            Some(MovementKind::Expansion)
        );
        assert_eq!(
            MovementKind::between(c(1000), c(500), true),
            Some(MovementKind::Contraction)
        );
        assert_eq!(
            MovementKind::between(c(500), c(0), true),
            Some(MovementKind::Churn)
        );
        assert_eq!(MovementKind::between(c(500), c(500), true), None);
        assert_eq!(MovementKind::between(c(0), c(0), true), None);
    }

    #[test]
    fn a_day_sums_the_customers_and_records_who_moved() {
        let customers = vec![
            // Converts from trial during the day: new.
            CustomerHistory {
                customer: 1,
                subscriptions: vec![vec![
                    stretch(0, Basic, Trialing),
                    stretch(150, Basic, Active),
                ]],
            },
            // Upgrades: expansion. Keeps a second mailbox in grace.
            CustomerHistory {
                customer: 2,
                subscriptions: vec![
                    vec![stretch(0, Basic, Active), stretch(120, Premium, Active)],
                    vec![stretch(0, Plus, PastDue)],
                ],
            },
            // Suspended: churn.
            CustomerHistory {
                customer: 3,
                subscriptions: vec![vec![
                    stretch(0, Plus, PastDue),
                    stretch(130, Plus, Suspended),
                ]],
            },
            // Paid before, canceled, comes back on a new subscription: reactivation.
            CustomerHistory {
                customer: 4,
                subscriptions: vec![
                    vec![stretch(0, Basic, Active), stretch(50, Basic, Canceled)],
                    vec![stretch(160, Plus, Active)],
                ],
            },
        ];
        let day = day_figures(&customers, 100, 200);
        assert_eq!(day.mrr, Cents::new(500 + 2000 + 1000 + 1000));
        assert_eq!(day.paying_customers, 3);
        assert_eq!(day.trialing, 0);
        assert_eq!(
            day.movements,
            Movements {
                new: Cents::new(500),
                expansion: Cents::new(1500),
                contraction: Cents::ZERO,
                churn: Cents::new(1000),
                reactivation: Cents::new(1000),
                new_customers: 1,
                churned_customers: 1,
                reactivated_customers: 1,
            }
        );
        assert_eq!(day.movements.net(), Cents::new(2000));
        let kinds: Vec<_> = day.customers.iter().map(|m| (m.customer, m.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (1, MovementKind::New),
                (2, MovementKind::Expansion),
                (3, MovementKind::Churn),
                (4, MovementKind::Reactivation)
            ]
        );
    }
}
