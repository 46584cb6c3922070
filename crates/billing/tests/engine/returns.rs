//! A mailbox sent back while billing runs: whatever the order, a returned mailbox is never left
//! with a trialing, active or past-due subscription, and a failure in the middle of a return
//! leaves all of it or none of it.

use smartbox_billing::BillingError;
use smartbox_billing::engine::{DeviceReturned, ReturnCause};
use smartbox_domain::{LifecycleState, PlanId, SubscriptionStatus};
use smartbox_store::changes::{Applied, Change, Changes, StaleGuard, SubscriptionUpdate};
use smartbox_store::testing;
use time::Duration;
use time::macros::datetime;

use crate::support::{CARD_DECLINES, CARD_OK, Customer, World, backends, claim, subscription};

const CLAIMED: time::OffsetDateTime = datetime!(2027-03-01 08:00 UTC);
const TRIAL_END: time::OffsetDateTime = datetime!(2027-03-08 08:00 UTC);

const BY_CUSTOMER: ReturnCause<'static> = ReturnCause {
    actor: "customer:test",
    reason: "sent back by the customer",
};

/// `(subscription status, device lifecycle)`.
async fn states(w: &World, c: &Customer) -> (String, String) {
    let row = subscription(&w.db, c).await;
    (row.status.to_string(), row.device_lifecycle.to_string())
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

#[tokio::test]
async fn a_returned_mailbox_ends_its_subscription_at_once_with_one_audit_entry() {
    for t in backends().await {
        let w = World::new(&t.db, CLAIMED);
        let c = claim(&w.db, "back", PlanId::Basic, CLAIMED).await;

        let returned = w
            .engine
            .return_device(&c.device_id, CLAIMED + Duration::days(2), BY_CUSTOMER)
            .await
            .expect("returned");

        assert_eq!(
            returned,
            DeviceReturned {
                from: LifecycleState::ActiveSubscription,
                subscription_id: Some(c.subscription_id.clone()),
            }
        );
        assert_eq!(states(&w, &c).await, pair("canceled", "returned"));
        let audit = w.db.audit_for("device", &c.device_id).await.expect("audit");
        assert_eq!(audit.len(), 1, "{}", w.backend());
        assert_eq!(
            (audit[0].actor.as_str(), audit[0].action.as_str()),
            ("customer:test", "return")
        );
        let detail: serde_json::Value = serde_json::from_str(&audit[0].detail).expect("json");
        assert_eq!(detail["before"]["subscription_status"], "trialing");
        assert_eq!(detail["after"]["lifecycle"], "returned");
        assert_eq!(detail["cause"], "sent back by the customer");
    }
}

#[tokio::test]
async fn a_mailbox_cannot_be_returned_twice() {
    for t in backends().await {
        let w = World::new(&t.db, CLAIMED);
        let c = claim(&w.db, "twice", PlanId::Basic, CLAIMED).await;
        w.engine
            .return_device(&c.device_id, CLAIMED, BY_CUSTOMER)
            .await
            .expect("returned");

        let again = w
            .engine
            .return_device(&c.device_id, CLAIMED, BY_CUSTOMER)
            .await;

        assert!(
            matches!(again, Err(BillingError::Conflict(_))),
            "{}: {again:?}",
            w.backend()
        );
        let audit = w.db.audit_for("device", &c.device_id).await.expect("audit");
        assert_eq!(audit.len(), 1);
    }
}

#[tokio::test]
async fn a_billing_decision_read_before_a_return_is_refused_when_written_after_it() {
    for t in backends().await {
        let w = World::new(&t.db, CLAIMED);
        let c = claim(&w.db, "late", PlanId::Basic, CLAIMED).await;
        // A billing pass reads the trialing subscription and decides to activate it...
        let read = subscription(&w.db, &c).await;
        let activate = Changes {
            ops: vec![Change::UpdateSubscription(SubscriptionUpdate {
                id: read.id.clone(),
                expected_version: read.version,
                plan_id: read.plan_id.clone(),
                pending_plan_id: None,
                status: SubscriptionStatus::Active,
                current_period_start: read.current_period_end,
                current_period_end: read.current_period_end + 1,
                cancel_at_period_end: false,
                past_due_since: None,
                spend_cap_at_most: None,
                updated_at: read.current_period_end,
            })],
        };
        // ...the customer returns the mailbox meanwhile...
        w.engine
            .return_device(&c.device_id, CLAIMED, BY_CUSTOMER)
            .await
            .expect("returned");

        // ...and the pass's write finds the subscription changed.
        let applied = w.db.apply_changes(&activate).await.expect("applied");

        assert!(
            matches!(applied, Applied::Stale(s) if s.guard == StaleGuard::SubscriptionVersion),
            "{}: {applied:?}",
            w.backend()
        );
        assert_eq!(states(&w, &c).await, pair("canceled", "returned"));
    }
}

#[tokio::test]
async fn returns_racing_a_billing_pass_never_leave_a_live_subscription_on_a_returned_mailbox() {
    for t in backends().await {
        let mut w = World::new(&t.db, CLAIMED);
        let mut customers = Vec::new();
        for n in 0..12 {
            let c = claim(&w.db, &format!("race{n}"), PlanId::Basic, CLAIMED).await;
            w.add_card(&c, if n % 2 == 0 { CARD_OK } else { CARD_DECLINES })
                .await;
            customers.push(c);
        }

        let pass = {
            let engine = w.engine.clone();
            tokio::spawn(async move { engine.run_billing_pass(TRIAL_END, None, "test:pass").await })
        };
        let returns: Vec<_> = customers
            .iter()
            .map(|c| {
                let engine = w.engine.clone();
                let device = c.device_id.clone();
                tokio::spawn(
                    async move { engine.return_device(&device, TRIAL_END, BY_CUSTOMER).await },
                )
            })
            .collect();
        pass.await
            .expect("the pass ran")
            .expect("the pass succeeded");
        for r in returns {
            r.await
                .expect("the return ran")
                .expect("the return succeeded");
        }
        // Retries and grace expiries that were queued before a return find nothing to do.
        w.advance_to(TRIAL_END + Duration::days(5)).await;

        for c in &customers {
            assert_eq!(
                states(&w, c).await,
                pair("canceled", "returned"),
                "{} {}",
                w.backend(),
                c.device_id
            );
        }
    }
}

#[tokio::test]
async fn a_return_that_fails_at_its_last_write_leaves_the_mailbox_and_subscription_as_they_were() {
    for t in backends().await {
        let w = World::new(&t.db, CLAIMED);
        let c = claim(&w.db, "crash", PlanId::Basic, CLAIMED).await;
        // The audit entry is the last write of a return: make the database refuse it.
        let trigger: &[&str] = match t.db.backend() {
            smartbox_store::Backend::Sqlite => &[
                "CREATE TRIGGER refuse_return_audit BEFORE INSERT ON audit_log \
                 WHEN NEW.action = 'return' BEGIN SELECT RAISE(ABORT, 'simulated crash'); END",
            ],
            smartbox_store::Backend::Postgres => &[
                "CREATE FUNCTION refuse_return_audit() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'simulated crash'; END $$",
                "CREATE TRIGGER refuse_return_audit BEFORE INSERT ON audit_log FOR EACH ROW \
                 WHEN (NEW.action = 'return') EXECUTE FUNCTION refuse_return_audit()",
            ],
        };
        for sql in trigger {
            testing::execute(&t.db, sql).await;
        }

        let failed = w
            .engine
            .return_device(&c.device_id, CLAIMED, BY_CUSTOMER)
            .await;

        assert!(
            matches!(failed, Err(BillingError::Store(_))),
            "{}: {failed:?}",
            w.backend()
        );
        assert_eq!(
            states(&w, &c).await,
            pair("trialing", "active_subscription")
        );
    }
}
