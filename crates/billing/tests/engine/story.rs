//! A year of one subscription through every branch of DESIGN §4: trial -> active -> a failed
//! charge -> the retry succeeds; three failed charges -> suspended (the device cannot operate)
//! -> card updated -> active again (same anchor); an upgrade mid-period with the exact prorated
//! cents; a downgrade at the period's end; a cancel with the last period's overage.

use smartbox_billing::engine::{ChargeResult, PlanChangeResult};
use smartbox_domain::lifecycle::can_operate;
use smartbox_domain::plan::PlanChange;
use smartbox_domain::{Cents, PlanId};
use time::macros::datetime;

use crate::support::{
    CARD_DECLINES, CARD_OK, Customer, World, backends, claim, invoice_summary, invoices, lines,
    meter, ms, payments, subscription,
};

async fn status(w: &World, c: &Customer) -> (String, String) {
    let row = subscription(&w.db, c).await;
    (row.status.to_string(), row.device_lifecycle.to_string())
}

async fn device_can_operate(w: &World, c: &Customer) -> bool {
    let row = subscription(&w.db, c).await;
    can_operate(row.device_lifecycle, Some(row.status))
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

#[tokio::test]
async fn a_year_of_one_subscription_through_every_billing_branch() {
    for t in backends().await {
        let claimed = datetime!(2027-01-10 09:00 UTC);
        let mut w = World::new(&t.db, claimed);
        let c = claim(&w.db, "ada", PlanId::Basic, claimed).await;
        let anchor = datetime!(2027-01-17 09:00 UTC);
        assert_eq!(subscription(&w.db, &c).await.anchor_at, ms(anchor));

        // The trial: a card is saved, nothing is charged.
        w.advance_to(datetime!(2027-01-12 10:00 UTC)).await;
        let added = w.add_card(&c, CARD_OK).await;
        assert!(added.collected.is_empty(), "{}", w.backend());
        assert!(invoices(&w.db, &c).await.is_empty());

        // Trial end = anchor: the first period is invoiced and paid.
        w.advance_to(anchor).await;
        assert_eq!(status(&w, &c).await, pair("active", "active_subscription"));
        let first = &invoices(&w.db, &c).await[0];
        assert_eq!((first.status.as_str(), first.total_cents), ("paid", 500));
        assert_eq!(
            (first.period_start, first.period_end),
            (ms(anchor), ms(datetime!(2027-02-17 09:00 UTC)))
        );
        let attempts = payments(&w.db, first).await;
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].status, "succeeded");
        assert!(attempts[0].provider_payment_id.is_some());

        // A month with 3 notifications over the limit: renewal in advance plus overage in arrears.
        meter(&w.db, &c, datetime!(2027-01-20 12:00 UTC), 103, 1_000_000).await;
        w.advance_to(datetime!(2027-02-17 09:00 UTC)).await;
        let second = &invoices(&w.db, &c).await[1];
        assert_eq!((second.status.as_str(), second.total_cents), ("paid", 515));
        let second_lines = lines(&w.db, second).await;
        assert_eq!(second_lines.len(), 2);
        assert_eq!(
            second_lines[0].description,
            "Basic plan, 2027-02-17 to 2027-03-17"
        );
        assert_eq!(second_lines[1].amount_cents, 15);
        let history = w.db.usage_history(&c.subscription_id).await.expect("usage");
        let counters: Vec<(i64, i64, i64)> = history
            .iter()
            .map(|u| (u.period_start, u.notifications, u.data_bytes))
            .collect();
        assert_eq!(
            counters,
            [
                (ms(anchor), 103, 1_000_000),
                (ms(datetime!(2027-02-17 09:00 UTC)), 0, 0)
            ],
            "the ended period's counters are kept; the new period starts at zero"
        );

        // Episode 1: the renewal is declined once; the retry 24 h later succeeds.
        w.provider.decline_next(1);
        w.advance_to(datetime!(2027-03-17 09:00 UTC)).await;
        assert_eq!(
            status(&w, &c).await,
            pair("past_due", "active_subscription")
        );
        assert!(
            device_can_operate(&w, &c).await,
            "grace keeps the device working"
        );
        let row = subscription(&w.db, &c).await;
        assert_eq!(
            row.past_due_since,
            Some(ms(datetime!(2027-03-17 09:00 UTC)))
        );
        let queued =
            w.db.jobs_with_status(None, "queued", 10)
                .await
                .expect("jobs");
        let runs: Vec<(String, i64)> = queued.iter().map(|j| (j.kind.clone(), j.run_at)).collect();
        assert_eq!(
            runs,
            [
                (
                    "payment_retry".to_owned(),
                    ms(datetime!(2027-03-18 09:00 UTC))
                ),
                (
                    "payment_retry".to_owned(),
                    ms(datetime!(2027-03-19 09:00 UTC))
                ),
                (
                    "grace_expiry".to_owned(),
                    ms(datetime!(2027-03-20 09:00 UTC))
                ),
            ]
        );
        w.advance_to(datetime!(2027-03-18 10:00 UTC)).await;
        assert_eq!(status(&w, &c).await, pair("active", "active_subscription"));
        assert_eq!(invoices(&w.db, &c).await[2].status, "paid");
        assert!(
            w.db.jobs_with_status(None, "queued", 10)
                .await
                .expect("jobs")
                .is_empty(),
            "the remaining retry and the grace expiry are cancelled once paid"
        );
        w.advance_to(datetime!(2027-03-21 09:00 UTC)).await;
        assert_eq!(status(&w, &c).await, pair("active", "active_subscription"));

        // Episode 2: a card that declines; three failed charges, then suspension at +72 h.
        w.advance_to(datetime!(2027-04-01 09:00 UTC)).await;
        assert!(w.add_card(&c, CARD_DECLINES).await.collected.is_empty());
        w.advance_to(datetime!(2027-04-19 10:00 UTC)).await;
        assert_eq!(
            status(&w, &c).await,
            pair("past_due", "active_subscription")
        );
        let fourth = &invoices(&w.db, &c).await[3];
        let failed: Vec<(String, Option<String>)> = payments(&w.db, fourth)
            .await
            .into_iter()
            .map(|p| (p.status.to_string(), p.failure_code))
            .collect();
        assert_eq!(
            failed,
            vec![("failed".to_owned(), Some("generic_decline".to_owned())); 3],
            "the renewal and the retries at +24 h and +48 h"
        );
        w.advance_to(datetime!(2027-04-20 08:59 UTC)).await;
        assert_eq!(
            status(&w, &c).await,
            pair("past_due", "active_subscription")
        );
        w.advance_to(datetime!(2027-04-20 09:00 UTC)).await;
        assert_eq!(status(&w, &c).await, pair("suspended", "suspended"));
        assert!(
            !device_can_operate(&w, &c).await,
            "the device API answers 402"
        );

        // The customer updates the card: the open invoice is charged at once.
        w.advance_to(datetime!(2027-04-21 12:00 UTC)).await;
        let updated = w.add_card(&c, CARD_OK).await;
        assert_eq!(
            updated.collected,
            [ChargeResult::Paid {
                invoice_id: fourth.id.clone()
            }]
        );
        assert_eq!(status(&w, &c).await, pair("active", "active_subscription"));
        assert!(device_can_operate(&w, &c).await);
        let row = subscription(&w.db, &c).await;
        assert_eq!(row.anchor_at, ms(anchor), "the anchor stays");
        assert_eq!(
            row.current_period_start,
            ms(datetime!(2027-04-17 09:00 UTC))
        );

        // Upgrade mid-period: 500 cents x 1,285,200 s left of 2,592,000 s = 247.9 -> 248.
        w.advance_to(datetime!(2027-05-02 12:00 UTC)).await;
        let preview = w
            .engine
            .preview_plan_change(&c.id, &c.subscription_id, PlanId::Plus, w.now)
            .await
            .expect("preview");
        assert_eq!(preview.change, PlanChange::Upgrade);
        assert_eq!(preview.prorated, Cents::new(248));
        assert!(preview.charged_now);
        let upgraded = w
            .engine
            .change_plan(&c.id, &c.subscription_id, PlanId::Plus, w.now, "user:ada")
            .await
            .expect("upgrade");
        let PlanChangeResult::Upgraded {
            prorated,
            charge: Some(ChargeResult::Paid { .. }),
            ..
        } = upgraded
        else {
            panic!("the upgrade is charged at once: {upgraded:?}");
        };
        assert_eq!(prorated, Cents::new(248));
        let proration = &invoices(&w.db, &c).await[4];
        assert_eq!(
            (
                proration.kind.as_str(),
                proration.status.as_str(),
                proration.total_cents
            ),
            ("proration", "paid", 248)
        );
        assert_eq!(subscription(&w.db, &c).await.plan_id, "plus");

        // The upgraded period's overage counts against Plus's limits.
        meter(&w.db, &c, datetime!(2027-05-05 12:00 UTC), 510, 0).await;
        w.advance_to(datetime!(2027-05-17 09:00 UTC)).await;
        let sixth = &invoices(&w.db, &c).await[5];
        assert_eq!((sixth.status.as_str(), sixth.total_cents), ("paid", 1050));

        // Downgrade: scheduled for the period's end, the next invoice is at the new price.
        w.advance_to(datetime!(2027-06-20 12:00 UTC)).await;
        let downgrade = w
            .engine
            .change_plan(&c.id, &c.subscription_id, PlanId::Basic, w.now, "user:ada")
            .await
            .expect("downgrade");
        assert_eq!(
            downgrade,
            PlanChangeResult::DowngradeScheduled {
                effective_at: datetime!(2027-07-17 09:00 UTC)
            }
        );
        let row = subscription(&w.db, &c).await;
        assert_eq!(
            (row.plan_id.as_str(), row.pending_plan_id.as_deref()),
            ("plus", Some("basic"))
        );
        w.advance_to(datetime!(2027-07-17 09:00 UTC)).await;
        let row = subscription(&w.db, &c).await;
        assert_eq!((row.plan_id.as_str(), row.pending_plan_id), ("basic", None));

        // Cancel: effective at the period's end, with that period's overage invoiced last.
        w.advance_to(datetime!(2027-08-20 12:00 UTC)).await;
        let effective = w
            .engine
            .cancel_at_period_end(&c.id, &c.subscription_id, w.now, "user:ada")
            .await
            .expect("cancel");
        assert_eq!(effective, datetime!(2027-09-17 09:00 UTC));
        meter(&w.db, &c, datetime!(2027-08-25 12:00 UTC), 110, 0).await;
        w.advance_to(datetime!(2027-09-17 09:00 UTC)).await;
        assert_eq!(subscription(&w.db, &c).await.status, "canceled");
        w.advance_to(datetime!(2028-01-17 09:00 UTC)).await;
        assert_eq!(
            invoice_summary(&w.db, &c).await,
            [500, 515, 500, 500, 248, 1050, 1000, 500, 500, 50]
                .map(|total| ("paid".to_owned(), total))
                .to_vec(),
            "{}",
            w.backend()
        );
        let numbers: Vec<String> = invoices(&w.db, &c)
            .await
            .into_iter()
            .map(|i| i.number)
            .collect();
        let mut sorted = numbers.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            10,
            "every invoice has its own number: {numbers:?}"
        );

        // Every state change is in the audit log with its cause.
        let audit =
            w.db.audit_for("subscription", &c.subscription_id)
                .await
                .expect("audit");
        let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
        for expected in [
            "trial_ended",
            "renewed",
            "status_changed",
            "upgraded",
            "downgrade_scheduled",
            "cancel_requested",
            "canceled",
        ] {
            assert!(
                actions.contains(&expected),
                "{expected} missing from {actions:?}"
            );
        }
        let transitions: Vec<String> = audit
            .iter()
            .filter(|a| a.action == "status_changed")
            .map(|a| {
                let detail: serde_json::Value = serde_json::from_str(&a.detail).expect("json");
                format!(
                    "{}->{}",
                    detail["from_status"].as_str().unwrap_or(""),
                    detail["to_status"].as_str().unwrap_or("")
                )
            })
            .collect();
        assert_eq!(
            transitions,
            [
                "active->past_due",
                "past_due->active",
                "active->past_due",
                "past_due->suspended",
                "suspended->active",
            ]
        );
        assert!(audit.iter().all(|a| a.detail.contains("\"cause\"")));
        let device_audit = w.db.audit_for("device", &c.device_id).await.expect("audit");
        assert_eq!(device_audit.len(), 2, "suspended, then resumed");
    }
}
