//! The billing pass is idempotent: running it again (or two passes at once, as two server
//! processes would) invoices and charges each period once.

use smartbox_billing::BillingEngine;
use smartbox_domain::PlanId;
use smartbox_store::Db;
use time::Duration;
use time::macros::datetime;

use crate::support::{CARD_OK, World, backends, claim, invoice_summary, subscription};

/// Everything billing wrote, to compare before and after.
async fn ledger(db: &Db, names: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for name in names {
        let c = crate::support::Customer {
            id: format!("user-{name}"),
            device_id: format!("dev-{name}"),
            subscription_id: format!("sub-{name}"),
        };
        let row = subscription(db, &c).await;
        out.push(format!(
            "{name}: {} v{} {}..{} {:?}",
            row.status,
            row.version,
            row.current_period_start,
            row.current_period_end,
            invoice_summary(db, &c).await
        ));
        for invoice in crate::support::invoices(db, &c).await {
            let attempts = crate::support::payments(db, &invoice).await;
            out.push(format!("  {}: {} attempts", invoice.number, attempts.len()));
        }
        out.push(format!(
            "  audit {}",
            db.audit_for("subscription", &c.subscription_id)
                .await
                .expect("audit")
                .len()
        ));
    }
    let jobs = db
        .jobs_with_status(None, "queued", 1000)
        .await
        .expect("jobs");
    out.push(format!("queued jobs {}", jobs.len()));
    out
}

#[tokio::test]
async fn running_the_billing_pass_twice_changes_nothing() {
    for t in backends().await {
        let claimed = datetime!(2027-05-01 00:00 UTC);
        let mut w = World::new(&t.db, claimed);
        let names = ["p1", "p2", "p3"];
        for (i, name) in names.iter().enumerate() {
            let c = claim(&w.db, name, PlanId::ALL[i], claimed).await;
            if i != 2 {
                w.add_card(&c, CARD_OK).await;
            }
        }
        w.advance_to(datetime!(2027-06-08 00:00 UTC)).await;
        let before = ledger(&w.db, &names).await;
        assert!(
            before[0].contains("[(\"paid\", 500), (\"paid\", 500)]"),
            "{before:?}"
        );

        for _ in 0..2 {
            let report = w
                .engine
                .run_billing_pass(w.now, None, "test:again")
                .await
                .expect("pass");
            assert_eq!(report.invoices(), 0, "{report:?}");
            w.run_due().await;
        }
        w.now += Duration::minutes(1);
        w.run_due().await;
        assert_eq!(ledger(&w.db, &names).await, before, "{}", w.backend());
        assert_eq!(w.provider.charges(), 4);
    }
}

#[tokio::test]
async fn two_passes_racing_invoice_and_charge_each_period_once() {
    for t in backends().await {
        let claimed = datetime!(2027-05-01 00:00 UTC);
        let w = World::new(&t.db, claimed);
        let names: Vec<String> = (0..30).map(|i| format!("race{i}")).collect();
        for name in &names {
            let c = claim(&w.db, name, PlanId::Basic, claimed).await;
            w.add_card(&c, CARD_OK).await;
        }
        let at = datetime!(2027-05-08 00:00 UTC);
        // A second process: its own pool on the same database, the same provider (Stripe).
        let other_db = Db::connect(&t.url).await.expect("second pool");
        let other = BillingEngine::new(other_db, w.provider.clone());
        let (a, b) = tokio::join!(
            w.engine.run_billing_pass(at, None, "process:a"),
            other.run_billing_pass(at, None, "process:b"),
        );
        let (a, b) = (a.expect("pass a"), b.expect("pass b"));
        assert_eq!(a.invoices() + b.invoices(), 30, "{a:?} {b:?}");
        assert_eq!(w.provider.charges(), 30, "no period charged twice");
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        for line in ledger(&w.db, &names)
            .await
            .iter()
            .filter(|l| l.starts_with("race"))
        {
            assert!(
                line.contains("active v1") && line.contains("[(\"paid\", 500)]"),
                "{line}"
            );
        }
    }
}
