//! Month-end anchors (the worst bug of Kill Bill, #2133): a Jan 31 anchor bills on Feb 28 (29 in a
//! leap year) and goes back to the 31st, over 14 months, one invoice per period.

use smartbox_domain::PlanId;
use smartbox_domain::period::nth_period;
use time::macros::datetime;

use crate::support::{CARD_OK, World, at_ms, backends, claim, invoices, ms, subscription};

#[tokio::test]
async fn a_jan_31_anchor_renews_on_the_last_day_of_short_months_for_14_months() {
    for t in backends().await {
        let claimed = datetime!(2027-01-24 08:15:30 UTC);
        let mut w = World::new(&t.db, claimed);
        let c = claim(&w.db, "jan", PlanId::Basic, claimed).await;
        w.add_card(&c, CARD_OK).await;
        let anchor = datetime!(2027-01-31 08:15:30 UTC);

        w.advance_to(datetime!(2028-02-29 09:00 UTC)).await;

        let all = invoices(&w.db, &c).await;
        let starts: Vec<String> = all
            .iter()
            .map(|i| at_ms(i.period_start).date().to_string())
            .collect();
        assert_eq!(
            starts,
            [
                "2027-01-31",
                "2027-02-28",
                "2027-03-31",
                "2027-04-30",
                "2027-05-31",
                "2027-06-30",
                "2027-07-31",
                "2027-08-31",
                "2027-09-30",
                "2027-10-31",
                "2027-11-30",
                "2027-12-31",
                "2028-01-31",
                "2028-02-29",
            ],
            "{}",
            w.backend()
        );
        for (n, invoice) in all.iter().enumerate() {
            let period = nth_period(anchor, n as u32);
            assert_eq!(
                (invoice.period_start, invoice.period_end),
                (ms(period.start), ms(period.end))
            );
            assert_eq!(at_ms(invoice.period_start).time(), anchor.time());
            assert_eq!(
                (invoice.status.as_str(), invoice.total_cents),
                ("paid", 500)
            );
        }
        let row = subscription(&w.db, &c).await;
        assert_eq!(row.anchor_at, ms(anchor));
        assert_eq!(
            (row.current_period_start, row.current_period_end),
            (
                ms(datetime!(2028-02-29 08:15:30 UTC)),
                ms(datetime!(2028-03-31 08:15:30 UTC))
            )
        );
    }
}
