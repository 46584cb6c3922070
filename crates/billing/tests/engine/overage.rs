//! Overage in arrears: usage exactly at the plan's limits costs nothing, one over each limit
//! costs one unit each, and overage is never invoiced beyond the spend cap.

use smartbox_domain::{PlanId, SubscriptionId};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::support::{CARD_OK, Customer, World, backends, claim, invoices, lines, meter};

const GB: i64 = 1_000_000_000;
const CLAIMED: OffsetDateTime = datetime!(2027-03-01 12:00 UTC);

/// A basic subscription past its trial, with `usage` metered in its first paid period; returns
/// the lines `(description, cents)` and total of the renewal invoice that follows.
async fn renewal_after(
    w: &mut World,
    name: &str,
    cap: Option<i64>,
    notifications: i64,
    bytes: i64,
) -> (Vec<(String, i64)>, i64) {
    let c: Customer = claim(&w.db, name, PlanId::Basic, CLAIMED).await;
    w.add_card(&c, CARD_OK).await;
    w.db.set_spend_cap(&SubscriptionId::new(c.subscription_id.as_str()), cap, 0)
        .await
        .expect("cap");
    let first_period = CLAIMED + Duration::days(7);
    w.advance_to(first_period).await;
    meter(
        &w.db,
        &c,
        first_period + Duration::days(3),
        notifications,
        bytes,
    )
    .await;
    w.advance_to(datetime!(2027-04-08 12:00 UTC)).await;
    let all = invoices(&w.db, &c).await;
    assert_eq!(all.len(), 2, "{}", w.backend());
    let renewal = &all[1];
    assert_eq!(renewal.status, "paid");
    let lines = lines(&w.db, renewal)
        .await
        .into_iter()
        .map(|l| (l.description, l.amount_cents))
        .collect();
    (lines, renewal.total_cents)
}

#[tokio::test]
async fn usage_exactly_at_the_limits_is_not_charged() {
    for t in backends().await {
        let mut w = World::new(&t.db, CLAIMED);
        let (lines, total) = renewal_after(&mut w, "limit", None, 100, GB).await;
        assert_eq!(total, 500);
        assert_eq!(lines.len(), 1, "{lines:?}");
    }
}

#[tokio::test]
async fn one_over_each_limit_costs_one_notification_and_one_started_100_mb() {
    for t in backends().await {
        let mut w = World::new(&t.db, CLAIMED);
        let (lines, total) = renewal_after(&mut w, "over", None, 101, GB + 1).await;
        assert_eq!(total, 500 + 5 + 20);
        let amounts: Vec<i64> = lines.iter().map(|l| l.1).collect();
        assert_eq!(amounts, [500, 5, 20]);
        assert!(
            lines[1]
                .0
                .starts_with("1 notifications over the 100 included, 2027-03-08 to 2027-04-08"),
            "{lines:?}"
        );
    }
}

#[tokio::test]
async fn overage_landing_exactly_on_the_cap_is_charged_in_full() {
    for t in backends().await {
        let mut w = World::new(&t.db, CLAIMED);
        // 60 notifications over at 5 cents = 300 = the cap.
        let (lines, total) = renewal_after(&mut w, "oncap", Some(300), 160, 0).await;
        assert_eq!(total, 800);
        assert_eq!(lines.len(), 2, "no reduction line: {lines:?}");
    }
}

#[tokio::test]
async fn overage_past_the_cap_is_invoiced_up_to_the_cap() {
    for t in backends().await {
        let mut w = World::new(&t.db, CLAIMED);
        // 100 over (500) + 10 started blocks (200) = 700, capped at 300.
        let (lines, total) = renewal_after(&mut w, "capped", Some(300), 200, 2 * GB).await;
        assert_eq!(total, 800);
        let amounts: Vec<i64> = lines.iter().map(|l| l.1).collect();
        assert_eq!(amounts, [500, 500, 200, -400]);
        assert_eq!(
            lines[3].0,
            "Spend cap of $3.00 reached: overage above it is not charged"
        );
    }
}

#[tokio::test]
async fn a_zero_cap_invoices_no_overage_and_the_default_cap_is_the_plan_price() {
    for t in backends().await {
        let mut w = World::new(&t.db, CLAIMED);
        let (_, zero) = renewal_after(&mut w, "zerocap", Some(0), 150, 3 * GB).await;
        assert_eq!(zero, 500);
        let mut w = World::new(&t.db, CLAIMED);
        let (_, default) = renewal_after(&mut w, "defcap", None, 1_000, 0).await;
        assert_eq!(default, 500 + 500);
    }
}
