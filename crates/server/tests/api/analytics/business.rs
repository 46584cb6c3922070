//! Issue 19's "done when": a small business run through the real billing engine for a year on
//! the manual clock (sign-ups, trials that convert and that lapse, an upgrade and a downgrade,
//! failed payments that recover and that end in suspension, a cancel, comebacks, overage,
//! shipments, notifications, entered spend), with every figure of every month checked against
//! values worked out by hand below. The worker runs each midnight as the server's would, so the
//! daily snapshot job writes each day as it ends; a backfill afterwards must rebuild the very
//! same days from history.
//!
//! The year, at midnight UTC of 2027 (prices: basic $5, plus $10, premium $20 a month):
//! - ann: Jan 1 basic with a card; converts Jan 8; upgrades to plus Mar 15 ($5 x 24/31 = 387
//!   cents prorated); asks for basic Jun 20, which applies Jul 8; 1.3 GB in her Aug 8 - Sep 8
//!   month (3 started 100 MB over 1 GB: 60 cents on the Sep 8 invoice).
//! - bob: Jan 1 plus, no card: his trial's charge fails Jan 8 (past due: in MRR), suspended
//!   Jan 11; pays with a card Sep 10 (a comeback) and stays.
//! - cat: Feb 1 premium with a card that declines; fails Feb 8, pays with a new card Feb 9;
//!   cancels May 20, which ends her subscription Jun 8.
//! - dan: Mar 1 basic with a card; converts Mar 8; a declining card from Apr 1: fails Apr 8,
//!   suspended Apr 11.
//! - eve: Apr 1 plus, no card; fails Apr 8, pays Apr 9; a second mailbox (basic) Oct 5 whose
//!   trial converts Oct 12.
//! - gus: Nov 25 basic with a card; converts Dec 2. hal: Dec 28 plus, still in trial at the end.
//! - fay's mailbox ships Jun 1 and is never claimed; every other mailbox ships as it is claimed.
//! - Spend: Jan $300, Feb $100 + $50, Mar $200, Apr $100, Dec $50.
//! - Notifications on ann's mailbox: May 10, 4 mail events, 3 delivered on some channel;
//!   Nov 10, 2 events, both delivered.

use smartbox_billing::CardDetails;
use smartbox_domain::metrics::{MovementKind, Movements, PeriodFigures, Ratio, Spread, spread};
use smartbox_domain::{Cents, DeviceId, PlanId, SubscriptionId, UserId};
use smartbox_server::analytics::history::History;
use smartbox_server::analytics::snapshot::{Flows, day_bounds, live_today, trials_read_on};
use smartbox_server::analytics::{self, Range};
use smartbox_server::jobs::{Worker, registry};
use smartbox_server::services::{self, Actor, StaffRole, staff_devices};
use smartbox_server::{Clock, provisioning};
use smartbox_store::{EventInsert, NewDelivery, testing};
use time::{Date, Month, OffsetDateTime};

use crate::helpers::{TestApp, event_id, spawn_apps};

const GOOD_CARD: &str = "4242424242424242";
/// Saves, then every charge on it is declined.
const DECLINING_CARD: &str = "4000000000000341";

fn date(month: u8, day: u8) -> Date {
    Date::from_calendar_date(2027, Month::try_from(month).expect("a month"), day).expect("a date")
}

fn midnight(month: u8, day: u8) -> OffsetDateTime {
    date(month, day).midnight().assume_utc()
}

/// The business: the service and its worker.
pub(crate) struct Business {
    pub(crate) app: TestApp,
    worker: Worker,
}

impl Business {
    /// Runs the worker at every midnight up to `when` (as the background worker would), then at
    /// `when`.
    async fn run_to(&self, when: OffsetDateTime) {
        let until = smartbox_domain::epoch::unix_ms(when);
        loop {
            self.worker
                .run_until_idle(1_000)
                .await
                .expect("the worker runs");
            let now = self.app.clock.now_ms();
            if now >= until {
                break;
            }
            let next_midnight = (now / 86_400_000 + 1) * 86_400_000;
            self.app.clock.set_ms(next_midnight.min(until));
        }
    }

    async fn drain(&self) {
        self.worker
            .run_until_idle(1_000)
            .await
            .expect("the worker runs");
    }

    /// Imports a mailbox and ships it (staff), now.
    async fn ship(&self, serial: &str) -> String {
        let device = self.app.import_device(serial).await;
        staff_devices::mark_shipped(
            &self.app.state,
            &Actor::Cli,
            &DeviceId::new(device.device_id.clone()),
            "sent to the customer",
        )
        .await
        .expect("shipped");
        device.device_id
    }

    /// Ships a mailbox and activates it for `email` on `plan` (its trial starts), now; the
    /// customer's id.
    async fn sign_up(&self, serial: &str, email: &str, plan: PlanId) -> String {
        self.ship(serial).await;
        provisioning::activate_device(
            &self.app.state.db,
            serial,
            email,
            plan,
            self.app.clock.now_ms(),
            "cli",
        )
        .await
        .expect("activated");
        self.customer(email).await
    }

    async fn customer(&self, email: &str) -> String {
        self.app
            .state
            .db
            .user_by_email(email)
            .await
            .expect("read")
            .expect("the customer")
            .id
    }

    async fn card(&self, customer: &str, number: &str) {
        self.app
            .state
            .billing()
            .attach_test_card(
                customer,
                &CardDetails::test(number),
                self.app.clock.now(),
                "user:test",
            )
            .await
            .expect("the card is saved");
        self.drain().await;
    }

    async fn subscription(&self, serial: &str) -> smartbox_store::SubscriptionRow {
        let device = self
            .app
            .state
            .db
            .device_by_serial(serial)
            .await
            .expect("read")
            .expect("the mailbox");
        self.app
            .state
            .db
            .live_subscription_of_device(&smartbox_domain::DeviceId::new(device.id.as_str()))
            .await
            .expect("read")
            .expect("a live subscription")
    }

    async fn change_plan(&self, customer: &str, serial: &str, plan: PlanId) {
        let id = SubscriptionId::new(self.subscription(serial).await.id);
        services::subscriptions::change_plan(
            &self.app.state,
            &Actor::customer(customer),
            &id,
            plan,
        )
        .await
        .expect("the plan changes");
        self.drain().await;
    }

    async fn spend(&self, month: u8, channel: &str, dollars: i64) {
        let admin = Actor::Staff {
            id: UserId::new("admin-analytics"),
            role: StaffRole::Admin,
        };
        services::analytics::set_spend(
            &self.app.state,
            &admin,
            date(month, 1),
            channel,
            Cents::new(dollars * 100),
            "the month's campaign invoice",
        )
        .await
        .expect("spend entered");
    }

    /// Mail events on the mailbox `serial`, now, each notified on the given channels with
    /// whether that channel delivered it.
    async fn notify(&self, customer: &str, serial: &str, events: &[&[(&str, bool)]]) {
        let db = &self.app.state.db;
        let subscription = self.subscription(serial).await;
        let now = self.app.clock.now_ms();
        for channels in events {
            let id = event_id();
            db.insert_event(
                &EventInsert {
                    id: &id,
                    device_id: &subscription.device_id,
                    subscription_id: Some(&subscription.id),
                    kind: "mail_arrived",
                    occurred_at: now,
                    // One photo never sent: the event stays incomplete, so the real fan-out
                    // adds no delivery of its own to the ones recorded here.
                    photo_count: 1,
                    created_at: now,
                },
                &event_id(),
            )
            .await
            .expect("the event is stored");
            for (channel, delivered) in channels.iter() {
                let delivery = event_id();
                db.record_delivery(&NewDelivery {
                    id: &delivery,
                    event_id: &id,
                    user_id: customer,
                    channel,
                    destination: "ann@example.test",
                    status: "attempted",
                    created_at: now,
                })
                .await
                .expect("recorded");
                let status = if *delivered { "delivered" } else { "failed" };
                db.settle_deliveries(&[&delivery], status, None, now)
                    .await
                    .expect("settled");
            }
        }
    }
}

/// What a month's figures must be, worked out by hand from the story above.
struct MonthFigures {
    month: u8,
    days: u32,
    mrr: (i64, i64),
    paying: (u64, u64),
    movements: Movements,
    other_revenue: i64,
    spend: i64,
    arpu: Option<(i128, i128)>,
    logo_churn: Option<(i128, i128)>,
    revenue_churn: Option<(i128, i128)>,
    nrr: Option<(i128, i128)>,
    trial_to_paid: Option<(i128, i128)>,
    ltv: Option<(i128, i128)>,
    cac: Option<(i128, i128)>,
    payback: Option<(i128, i128)>,
    activation: Option<(i128, i128)>,
    notifications: Option<(i128, i128)>,
    dunning: Option<(i128, i128)>,
    data: Option<(i128, i128)>,
}

fn moves(
    new: (i64, u64),
    expansion: i64,
    contraction: i64,
    churn: (i64, u64),
    reactivation: (i64, u64),
) -> Movements {
    Movements {
        new: Cents::new(new.0),
        expansion: Cents::new(expansion),
        contraction: Cents::new(contraction),
        churn: Cents::new(churn.0),
        reactivation: Cents::new(reactivation.0),
        new_customers: new.1,
        churned_customers: churn.1,
        reactivated_customers: reactivation.1,
    }
}

const NONE: (i64, u64) = (0, 0);

impl MonthFigures {
    fn expected(&self) -> PeriodFigures {
        let r = |x: Option<(i128, i128)>| x.and_then(|(n, d)| Ratio::new(n, d));
        PeriodFigures {
            days: self.days,
            mrr_start: Cents::new(self.mrr.0),
            mrr_end: Cents::new(self.mrr.1),
            arr: Cents::new(self.mrr.1 * 12),
            paying_start: self.paying.0,
            paying_end: self.paying.1,
            movements: self.movements,
            other_revenue: Cents::new(self.other_revenue),
            spend: Ratio::from_integer(i128::from(self.spend)),
            arpu: r(self.arpu),
            logo_churn: r(self.logo_churn),
            revenue_churn: r(self.revenue_churn),
            net_revenue_retention: r(self.nrr),
            trial_to_paid: r(self.trial_to_paid),
            ltv: r(self.ltv),
            cac: r(self.cac),
            cac_payback_months: r(self.payback),
            activation: r(self.activation),
            notification_success: r(self.notifications),
            dunning_recovery: r(self.dunning),
            data_per_device: r(self.data),
        }
    }
}

/// The twelve months, by hand. MRR in cents at the month's start and end; movements as
/// (cents, customers). Zero over something is `Some((0, 1))`, nothing to divide by `None`.
fn year() -> Vec<MonthFigures> {
    let zero = Some((0, 1));
    let one = Some((1, 1));
    let quiet = |month: u8, days: u32, mrr: i64, paying: u64| MonthFigures {
        month,
        days,
        mrr: (mrr, mrr),
        paying: (paying, paying),
        movements: Movements::default(),
        other_revenue: 0,
        spend: 0,
        arpu: Some((i128::from(mrr), i128::from(paying))),
        logo_churn: zero,
        revenue_churn: zero,
        nrr: one,
        trial_to_paid: None,
        ltv: None,
        cac: None,
        payback: None,
        activation: None,
        notifications: None,
        dunning: None,
        data: None,
    };
    vec![
        // ann and bob start paying Jan 8 (bob in grace); bob is suspended Jan 11. Trials read
        // three days after their end: ann converted, bob did not. Both shipments activated.
        MonthFigures {
            mrr: (0, 500),
            paying: (0, 1),
            movements: moves((1500, 2), 0, 0, (1000, 1), NONE),
            spend: 30_000,
            arpu: Some((500, 1)),
            logo_churn: None,
            revenue_churn: None,
            nrr: None,
            trial_to_paid: Some((1, 2)),
            cac: Some((15_000, 1)),
            payback: Some((30, 1)),
            activation: one,
            dunning: zero,
            ..quiet(1, 31, 0, 0)
        },
        // cat in grace from Feb 8 (new), paid Feb 9 (recovered, converted). ann's and bob's
        // first billing months end Feb 8.
        MonthFigures {
            mrr: (500, 2500),
            paying: (1, 2),
            movements: moves((2000, 1), 0, 0, NONE, NONE),
            spend: 15_000,
            arpu: Some((1250, 1)),
            trial_to_paid: one,
            cac: Some((15_000, 1)),
            payback: Some((12, 1)),
            dunning: one,
            data: zero,
            ..quiet(2, 28, 0, 0)
        },
        // dan new Mar 8, ann's upgrade Mar 15 (+$5, 387 cents prorated). C1 and D1 activated.
        MonthFigures {
            mrr: (2500, 3500),
            paying: (2, 3),
            movements: moves((500, 1), 500, 0, NONE, NONE),
            other_revenue: 387,
            spend: 20_000,
            arpu: Some((3500, 3)),
            nrr: Some((6, 5)),
            trial_to_paid: one,
            cac: Some((20_000, 1)),
            payback: Some((120, 7)),
            activation: one,
            data: zero,
            ..quiet(3, 31, 0, 0)
        },
        // eve new Apr 8 (grace, paid Apr 9); dan's renewal fails Apr 8, suspended Apr 11.
        MonthFigures {
            mrr: (3500, 4000),
            paying: (3, 3),
            movements: moves((1000, 1), 0, 0, (500, 1), NONE),
            spend: 10_000,
            arpu: Some((4000, 3)),
            logo_churn: Some((1, 3)),
            revenue_churn: Some((1, 7)),
            nrr: Some((6, 7)),
            trial_to_paid: one,
            // ARPU 4000/3 over a monthly churn of 1/7 (30 days).
            ltv: Some((28_000, 3)),
            cac: Some((10_000, 1)),
            payback: Some((15, 2)),
            dunning: Some((1, 2)),
            data: zero,
            ..quiet(4, 30, 0, 0)
        },
        // E1 activated (shipped Apr 1); 3 of 4 notifications delivered.
        MonthFigures {
            activation: one,
            notifications: Some((3, 4)),
            data: zero,
            ..quiet(5, 31, 4000, 3)
        },
        // cat's cancel ends her subscription Jun 8.
        MonthFigures {
            mrr: (4000, 2000),
            paying: (3, 2),
            movements: moves(NONE, 0, 0, (2000, 1), NONE),
            arpu: Some((1000, 1)),
            logo_churn: Some((1, 3)),
            revenue_churn: Some((1, 2)),
            nrr: Some((1, 2)),
            ltv: Some((2000, 1)),
            data: zero,
            ..quiet(6, 30, 0, 0)
        },
        // ann's downgrade applies Jul 8; fay's mailbox, shipped Jun 1, was never claimed.
        MonthFigures {
            mrr: (2000, 1500),
            paying: (2, 2),
            movements: moves(NONE, 0, 500, NONE, NONE),
            arpu: Some((750, 1)),
            nrr: Some((3, 4)),
            activation: zero,
            data: zero,
            ..quiet(7, 31, 0, 0)
        },
        MonthFigures {
            data: zero,
            ..quiet(8, 31, 1500, 2)
        },
        // bob pays Sep 10 (a comeback; his trial's invoice recovered); ann's 60 cents of overage
        // on Sep 8; her 1.3 GB month and eve's ended.
        MonthFigures {
            mrr: (1500, 2500),
            paying: (2, 3),
            movements: moves(NONE, 0, 0, NONE, (1000, 1)),
            other_revenue: 60,
            arpu: Some((2500, 3)),
            data: Some((650_000_000, 1)),
            ..quiet(9, 30, 0, 0)
        },
        // eve's second mailbox converts Oct 12.
        MonthFigures {
            mrr: (2500, 3000),
            paying: (3, 3),
            movements: moves(NONE, 500, 0, NONE, NONE),
            arpu: Some((1000, 1)),
            nrr: Some((6, 5)),
            trial_to_paid: one,
            data: zero,
            ..quiet(10, 31, 0, 0)
        },
        // E2 activated (shipped Oct 5); both notifications delivered.
        MonthFigures {
            activation: one,
            notifications: one,
            data: zero,
            ..quiet(11, 30, 3000, 3)
        },
        // gus new Dec 2; G1 activated (shipped Nov 25); hal in trial.
        MonthFigures {
            mrr: (3000, 3500),
            paying: (3, 4),
            movements: moves((500, 1), 0, 0, NONE, NONE),
            spend: 5_000,
            arpu: Some((875, 1)),
            trial_to_paid: one,
            cac: Some((5_000, 1)),
            payback: Some((40, 7)),
            activation: one,
            data: zero,
            ..quiet(12, 31, 0, 0)
        },
    ]
}

/// Runs the year of the story above on `app`, up to New Year's Day 2028.
pub(crate) async fn the_year(app: TestApp) -> Business {
    app.clock
        .set_ms(smartbox_domain::epoch::unix_ms(midnight(1, 1)));
    let worker = Worker::new(app.state.clone(), registry());
    let b = Business { app, worker };
    b.drain().await;

    let ann = b
        .sign_up("SB-ANN-1", "ann@example.test", PlanId::Basic)
        .await;
    b.card(&ann, GOOD_CARD).await;
    b.sign_up("SB-BOB-1", "bob@example.test", PlanId::Plus)
        .await;
    b.spend(1, "Search ads", 300).await;

    b.run_to(midnight(2, 1)).await;
    let cat = b
        .sign_up("SB-CAT-1", "cat@example.test", PlanId::Premium)
        .await;
    b.card(&cat, DECLINING_CARD).await;
    b.spend(2, "search ads", 100).await;
    b.spend(2, "social", 50).await;
    b.run_to(midnight(2, 9)).await;
    b.card(&cat, GOOD_CARD).await;

    b.run_to(midnight(3, 1)).await;
    let dan = b
        .sign_up("SB-DAN-1", "dan@example.test", PlanId::Basic)
        .await;
    b.card(&dan, GOOD_CARD).await;
    b.spend(3, "search ads", 200).await;
    b.run_to(midnight(3, 15)).await;
    b.change_plan(&ann, "SB-ANN-1", PlanId::Plus).await;

    b.run_to(midnight(4, 1)).await;
    b.card(&dan, DECLINING_CARD).await;
    let eve = b
        .sign_up("SB-EVE-1", "eve@example.test", PlanId::Plus)
        .await;
    b.spend(4, "search ads", 100).await;
    b.run_to(midnight(4, 9)).await;
    b.card(&eve, GOOD_CARD).await;

    b.run_to(midnight(5, 10)).await;
    b.notify(
        &ann,
        "SB-ANN-1",
        &[
            &[("email", true)],
            &[("email", false), ("push", true)],
            &[("email", true)],
            &[("email", false)],
        ],
    )
    .await;
    b.run_to(midnight(5, 20)).await;
    let cat_subscription = SubscriptionId::new(b.subscription("SB-CAT-1").await.id);
    services::subscriptions::cancel(
        &b.app.state,
        &Actor::customer(cat.as_str()),
        &cat_subscription,
    )
    .await
    .expect("canceled at the period's end");

    b.run_to(midnight(6, 1)).await;
    b.ship("SB-FAY-1").await;
    b.run_to(midnight(6, 20)).await;
    b.change_plan(&ann, "SB-ANN-1", PlanId::Basic).await;

    b.run_to(midnight(8, 15)).await;
    let month = b.subscription("SB-ANN-1").await;
    b.app
        .state
        .db
        .add_usage(
            &month.id,
            month.current_period_start,
            month.current_period_end,
            0,
            1_300_000_000,
        )
        .await
        .expect("traffic metered");

    b.run_to(midnight(9, 10)).await;
    let bob = b.customer("bob@example.test").await;
    b.card(&bob, GOOD_CARD).await;

    b.run_to(midnight(10, 5)).await;
    b.sign_up("SB-EVE-2", "eve@example.test", PlanId::Basic)
        .await;

    b.run_to(midnight(11, 10)).await;
    b.notify(
        &ann,
        "SB-ANN-1",
        &[&[("email", true)], &[("webhook", true)]],
    )
    .await;
    b.run_to(midnight(11, 25)).await;
    let gus = b
        .sign_up("SB-GUS-1", "gus@example.test", PlanId::Basic)
        .await;
    b.card(&gus, GOOD_CARD).await;
    b.spend(12, "social", 50).await;

    b.run_to(midnight(12, 28)).await;
    b.sign_up("SB-HAL-1", "hal@example.test", PlanId::Plus)
        .await;

    b.run_to(OffsetDateTime::new_utc(
        Date::from_calendar_date(2028, Month::January, 1).expect("a date"),
        time::Time::MIDNIGHT,
    ))
    .await;
    b
}

#[tokio::test]
async fn a_year_of_business_gives_the_figures_worked_out_by_hand_every_month() {
    for app in spawn_apps().await {
        // New Year's Day: the job has snapshotted every day of 2027 as it ended.
        let b = the_year(app).await;
        let db = &b.app.state.db;
        let backend = b.app.backend;
        let now = b.app.clock.now_ms();
        let as_written = db
            .analytics_days(date(1, 1), date(12, 31))
            .await
            .expect("read");
        assert_eq!(as_written.len(), 365, "{backend}: one snapshot a day");
        assert_eq!(
            as_written[364].trialing, 1,
            "{backend}: hal is in his trial"
        );

        for m in year() {
            let first = date(m.month, 1);
            let last = first
                .replace_day(first.month().length(2027))
                .expect("the month's last day");
            let report = analytics::report(
                db,
                Range {
                    from: first,
                    to: last,
                },
                now,
            )
            .await
            .expect("the report");
            assert_eq!(
                report.figures,
                m.expected(),
                "{backend}: the figures of month {}",
                m.month
            );
            assert_eq!(report.missing_days, 0);
            assert_eq!(
                report.data,
                data_ended(db, first, last).await,
                "{backend}: data per device in month {} from the stored days",
                m.month
            );
        }
        // Days snapshotted before their data bytes were kept read them from the usage periods.
        testing::execute(
            db,
            "DELETE FROM analytics_day_data WHERE day >= '2027-03-10' AND day < '2027-04-20'",
        )
        .await;
        for (from, to) in [(date(3, 1), date(3, 31)), (date(1, 1), date(12, 31))] {
            let report = analytics::report(db, Range { from, to }, now)
                .await
                .expect("the report");
            assert_eq!(
                report.data,
                data_ended(db, from, to).await,
                "{backend}: data per device {from}..{to} with days read live"
            );
        }
        // Before the first subscription there was nothing to snapshot: no day is "missing".
        let before = analytics::report(
            db,
            Range {
                from: time::Date::from_calendar_date(2026, time::Month::December, 1)
                    .expect("a date"),
                to: time::Date::from_calendar_date(2026, time::Month::December, 31)
                    .expect("a date"),
            },
            now,
        )
        .await
        .expect("the report");
        assert_eq!(
            before.missing_days, 0,
            "{backend}: days before the business"
        );

        let movers = |kind| async move {
            let rows = db
                .analytics_movements(date(1, 1), date(12, 31), kind, 100)
                .await
                .expect("read");
            rows.into_iter()
                .map(|r| (r.day, r.email))
                .collect::<Vec<_>>()
        };
        let day_of = |d: &str, who: &str| (format!("2027-{d}"), format!("{who}@example.test"));
        assert_eq!(
            movers(MovementKind::Churn).await,
            vec![
                day_of("01-11", "bob"),
                day_of("04-11", "dan"),
                day_of("06-08", "cat")
            ],
            "{backend}: the customers behind churn"
        );
        assert_eq!(
            movers(MovementKind::Reactivation).await,
            vec![day_of("09-10", "bob")]
        );
        assert_eq!(
            movers(MovementKind::Expansion).await,
            vec![day_of("03-15", "ann"), day_of("10-12", "eve")]
        );
        assert_eq!(
            movers(MovementKind::Contraction).await,
            vec![day_of("07-08", "ann")]
        );

        // Today's live figures, read from yesterday's snapshot and the customers who changed
        // since, are what the full computation gives: checked on every day of the year.
        for pair in as_written.windows(2) {
            let (yesterday, day) = (&pair[0], &pair[1]);
            let (start, end) = day_bounds(day.day);
            let changed = History::load_changed(db, start, trials_read_on(day.day))
                .await
                .expect("read");
            let flows = Flows::load(db, day.day, day.day, end).await.expect("read");
            assert_eq!(
                &live_today(&changed, &flows, yesterday, day.day, end),
                day,
                "{backend}: today's figures live on {}",
                day.day
            );
        }

        // The operator's backfill rebuilds the same year from history alone.
        let rebuilt = services::analytics::backfill(&b.app.state, &Actor::Cli, date(1, 1))
            .await
            .expect("backfill");
        assert_eq!(rebuilt, 365);
        assert_eq!(
            db.analytics_days(date(1, 1), date(12, 31))
                .await
                .expect("read"),
            as_written,
            "{backend}: the backfill agrees with the days as the job wrote them"
        );
    }
}

/// The spread of the data bytes of the usage periods that ended in `from..=to`, read from the
/// periods themselves.
async fn data_ended(db: &smartbox_store::Db, from: time::Date, to: time::Date) -> Spread {
    let rows = db
        .analytics_usage_ended(day_bounds(from).0, day_bounds(to).1)
        .await
        .expect("read");
    spread(
        rows.into_iter()
            .map(|u| u64::try_from(u.data_bytes).expect("bytes"))
            .collect(),
    )
}
