//! Plan changes and cancellation beyond the year story: a proration too small to charge alone is
//! carried into the next invoice, refused and foreign requests, changes during the trial.

use smartbox_billing::BillingError;
use smartbox_billing::engine::PlanChangeResult;
use smartbox_domain::{Cents, PlanId};
use time::Duration;
use time::macros::datetime;

use crate::support::{
    CARD_DECLINES, CARD_OK, World, backends, claim, invoices, lines, subscription,
};

const CLAIMED: time::OffsetDateTime = datetime!(2027-04-01 00:00 UTC);
/// The first paid period: Apr 8 to May 8 (30 days).
const ANCHOR: time::OffsetDateTime = datetime!(2027-04-08 00:00 UTC);

#[tokio::test]
async fn a_proration_below_the_minimum_charge_is_carried_into_the_next_invoice() {
    for t in backends().await {
        let mut w = World::new(&t.db, CLAIMED);
        let c = claim(&w.db, "tiny", PlanId::Basic, CLAIMED).await;
        w.add_card(&c, CARD_OK).await;
        // One day left of 30: 500 / 30 = 16.67 -> 17 cents.
        w.advance_to(datetime!(2027-05-07 00:00 UTC)).await;
        let preview = w
            .engine
            .preview_plan_change(&c.id, &c.subscription_id, PlanId::Plus, w.now)
            .await
            .expect("preview");
        assert_eq!(
            (preview.prorated, preview.charged_now),
            (Cents::new(17), false)
        );
        let result = w
            .engine
            .change_plan(&c.id, &c.subscription_id, PlanId::Plus, w.now, "user:tiny")
            .await
            .expect("upgrade");
        assert!(
            matches!(result, PlanChangeResult::Upgraded { prorated, charge: None, .. } if prorated == Cents::new(17)),
            "{result:?}"
        );
        let draft = invoices(&w.db, &c).await.remove(1);
        assert_eq!(
            (
                draft.kind.as_str(),
                draft.status.as_str(),
                draft.total_cents
            ),
            ("proration", "draft", 17)
        );

        w.advance_to(datetime!(2027-05-08 00:00 UTC)).await;
        let all = invoices(&w.db, &c).await;
        let renewal = &all[2];
        assert_eq!(
            (renewal.status.as_str(), renewal.total_cents),
            ("paid", 1017),
            "{}",
            w.backend()
        );
        let renewal_lines = lines(&w.db, renewal).await;
        assert!(
            renewal_lines[1]
                .description
                .ends_with(&format!("(carried over from {})", draft.number)),
            "{renewal_lines:?}"
        );
        assert_eq!(all[1].status, "void");
        assert_eq!(all[1].carried_into.as_deref(), Some(renewal.id.as_str()));
    }
}

#[tokio::test]
async fn an_upgrade_waits_for_open_invoices_and_nobody_changes_another_customers_plan() {
    for t in backends().await {
        let mut w = World::new(&t.db, CLAIMED);
        let c = claim(&w.db, "owes", PlanId::Basic, CLAIMED).await;
        w.add_card(&c, CARD_DECLINES).await;
        w.advance_to(ANCHOR + Duration::hours(1)).await;
        assert_eq!(subscription(&w.db, &c).await.status, "past_due");
        let refused = w
            .engine
            .change_plan(
                &c.id,
                &c.subscription_id,
                PlanId::Premium,
                w.now,
                "user:owes",
            )
            .await;
        assert!(
            matches!(refused, Err(BillingError::Conflict(ref m)) if m.contains("open invoices")),
            "{refused:?}"
        );
        let foreign = w
            .engine
            .change_plan(
                "user-someone-else",
                &c.subscription_id,
                PlanId::Basic,
                w.now,
                "user:x",
            )
            .await;
        assert!(
            matches!(foreign, Err(BillingError::NotFound("subscription"))),
            "{foreign:?}"
        );
        let foreign = w
            .engine
            .invoice("user-someone-else", &invoices(&w.db, &c).await[0].id)
            .await;
        assert!(
            matches!(foreign, Err(BillingError::NotFound("invoice"))),
            "{foreign:?}"
        );
        // A downgrade may be scheduled while past due, and taken back.
        let down = w
            .engine
            .change_plan(&c.id, &c.subscription_id, PlanId::Basic, w.now, "user:owes")
            .await
            .expect("same");
        assert_eq!(down, PlanChangeResult::Unchanged);
    }
}

#[tokio::test]
async fn a_scheduled_downgrade_can_be_withdrawn_and_trial_changes_apply_at_once() {
    for t in backends().await {
        let mut w = World::new(&t.db, CLAIMED);
        let c = claim(&w.db, "mind", PlanId::Premium, CLAIMED).await;
        let trial = w
            .engine
            .change_plan(&c.id, &c.subscription_id, PlanId::Plus, w.now, "user:mind")
            .await
            .expect("trial change");
        assert_eq!(trial, PlanChangeResult::Changed);
        assert_eq!(subscription(&w.db, &c).await.plan_id, "plus");
        w.add_card(&c, CARD_OK).await;
        w.advance_to(ANCHOR + Duration::days(2)).await;
        assert_eq!(
            invoices(&w.db, &c).await[0].total_cents,
            1000,
            "the trial's last plan is billed"
        );

        let down = w
            .engine
            .change_plan(&c.id, &c.subscription_id, PlanId::Basic, w.now, "user:mind")
            .await
            .expect("down");
        assert_eq!(
            down,
            PlanChangeResult::DowngradeScheduled {
                effective_at: datetime!(2027-05-08 00:00 UTC)
            }
        );
        let back = w
            .engine
            .change_plan(&c.id, &c.subscription_id, PlanId::Plus, w.now, "user:mind")
            .await
            .expect("back");
        assert_eq!(back, PlanChangeResult::DowngradeWithdrawn);
        w.advance_to(datetime!(2027-05-08 00:00 UTC)).await;
        assert_eq!(invoices(&w.db, &c).await[1].total_cents, 1000);
    }
}

#[tokio::test]
async fn a_cancel_during_the_trial_ends_it_without_an_invoice_and_a_withdrawn_cancel_renews() {
    for t in backends().await {
        let mut w = World::new(&t.db, CLAIMED);
        let quitter = claim(&w.db, "quit", PlanId::Basic, CLAIMED).await;
        let stayer = claim(&w.db, "stay", PlanId::Basic, CLAIMED).await;
        w.add_card(&quitter, CARD_OK).await;
        w.add_card(&stayer, CARD_OK).await;
        let ends = w
            .engine
            .cancel_at_period_end(&quitter.id, &quitter.subscription_id, w.now, "user:quit")
            .await
            .expect("cancel");
        assert_eq!(ends, ANCHOR);
        w.engine
            .cancel_at_period_end(&stayer.id, &stayer.subscription_id, w.now, "user:stay")
            .await
            .expect("cancel");
        w.engine
            .withdraw_cancel(&stayer.id, &stayer.subscription_id, w.now, "user:stay")
            .await
            .expect("withdraw");
        w.advance_to(ANCHOR + Duration::days(40)).await;
        assert_eq!(subscription(&w.db, &quitter).await.status, "canceled");
        assert!(invoices(&w.db, &quitter).await.is_empty());
        assert_eq!(subscription(&w.db, &stayer).await.status, "active");
        assert_eq!(invoices(&w.db, &stayer).await.len(), 2);
        let again = w
            .engine
            .change_plan(
                &quitter.id,
                &quitter.subscription_id,
                PlanId::Plus,
                w.now,
                "user:quit",
            )
            .await;
        assert!(matches!(again, Err(BillingError::Conflict(_))), "{again:?}");
    }
}

#[tokio::test]
async fn a_trial_ending_without_a_card_is_a_failed_charge_that_a_saved_card_pays() {
    for t in backends().await {
        let mut w = World::new(&t.db, CLAIMED);
        let c = claim(&w.db, "nocard", PlanId::Plus, CLAIMED).await;
        w.advance_to(ANCHOR).await;
        let row = subscription(&w.db, &c).await;
        assert_eq!(
            (row.status.as_str(), row.past_due_since),
            ("past_due", Some(crate::support::ms(ANCHOR)))
        );
        let invoice = invoices(&w.db, &c).await.remove(0);
        assert_eq!(
            (invoice.status.as_str(), invoice.total_cents),
            ("open", 1000)
        );
        let attempts = crate::support::payments(&w.db, &invoice).await;
        assert_eq!(
            attempts[0].failure_code.as_deref(),
            Some("payment_method_missing")
        );
        // The retry 24 h later finds no card either.
        w.advance_to(ANCHOR + Duration::hours(30)).await;
        assert_eq!(crate::support::payments(&w.db, &invoice).await.len(), 2);
        let saved = w.add_card(&c, CARD_OK).await;
        assert_eq!(saved.collected.len(), 1);
        assert_eq!(subscription(&w.db, &c).await.status, "active");
        w.advance_to(ANCHOR + Duration::hours(80)).await;
        assert_eq!(
            subscription(&w.db, &c).await.status,
            "active",
            "no suspension once paid"
        );
    }
}

#[tokio::test]
async fn a_suspended_subscription_canceled_writes_its_open_invoice_off_and_is_not_invoiced_again() {
    for t in backends().await {
        let mut w = World::new(&t.db, CLAIMED);
        let c = claim(&w.db, "leaver", PlanId::Basic, CLAIMED).await;
        w.add_card(&c, CARD_DECLINES).await;
        w.advance_to(datetime!(2027-05-09 00:00 UTC)).await;
        let suspended = subscription(&w.db, &c).await;
        assert_eq!(suspended.status, "suspended", "{}", w.backend());
        // A suspended subscription is not renewed (May 8 passed without an invoice); its last
        // period is over, so a cancel takes effect at the next pass.
        w.engine
            .cancel_at_period_end(&c.id, &c.subscription_id, w.now, "user:leaver")
            .await
            .expect("cancel");
        w.advance(Duration::minutes(1)).await;
        assert_eq!(subscription(&w.db, &c).await.status, "canceled");
        let statuses: Vec<String> = invoices(&w.db, &c)
            .await
            .into_iter()
            .map(|i| i.status.to_string())
            .collect();
        assert_eq!(
            statuses,
            ["uncollectible"],
            "written off, nothing more invoiced"
        );
        assert!(
            w.db.jobs_with_status(None, "queued", 10)
                .await
                .expect("jobs")
                .is_empty()
        );
        w.advance_to(datetime!(2027-08-08 00:00 UTC)).await;
        assert_eq!(invoices(&w.db, &c).await.len(), 1, "nothing after the end");
    }
}
