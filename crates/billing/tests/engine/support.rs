//! Test support: a database per backend with plans, customers and trialing subscriptions as the
//! server's claim creates them, a provider wrapper that counts charges and can decline, lose an
//! answer or crash on demand, and a clock-driven world that runs the billing pass and the due
//! billing jobs in time order, as the server's worker would.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use smartbox_billing::engine::BillingJob;
use smartbox_billing::{
    BillingEngine, CardDetails, ChargeLookup, ChargeOutcome, ChargeRecord, ChargeRequest,
    CustomerId, NewCustomer, PaymentFailure, PaymentIntentId, PaymentMethodId, PaymentProvider,
    ProviderFuture, ProviderMode, Refund, RefundRequest, SandboxProvider, SetupIntent,
    SetupIntentId,
};
use smartbox_domain::period::{period_containing, trial_end};
use smartbox_domain::{
    CardSummary, DeviceId, InvoiceId, PlanId, SubscriptionId, SubscriptionStatus, UserId,
};
use smartbox_store::testing::{self, TestDb};
use smartbox_store::{
    BillingSubscriptionRow, Db, InvoiceLineRow, InvoiceRow, NewDevice, NewSubscription, NewUser,
    PaymentRow, PlanRow,
};
use time::{Duration, OffsetDateTime};

pub const CARD_OK: &str = "4242424242424242";
/// Saves, then every charge is declined.
pub const CARD_DECLINES: &str = "4000000000000341";

/// Every configured backend, each a fresh database with the plan catalog.
pub async fn backends() -> Vec<TestDb> {
    let dbs = testing::all().await;
    for t in &dbs {
        seed_plans(&t.db).await;
    }
    dbs
}

pub async fn seed_plans(db: &Db) {
    for id in PlanId::ALL {
        let plan = id.plan();
        db.upsert_plan(&PlanRow {
            id: id.as_str().into(),
            price_cents: plan.price.get(),
            notification_limit: plan.notification_limit.map(|n| n as i64),
            data_limit_bytes: plan.data_limit_bytes as i64,
            notification_overage_cents: plan.notification_overage.map(|c| c.get()),
            data_overage_per_100mb_cents: plan.data_overage_per_100mb.get(),
        })
        .await
        .expect("plan seeded");
    }
}

pub fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn at_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).expect("valid instant")
}

/// A customer who claimed a mailbox at `claimed_at` on `plan`: a trialing subscription whose
/// anchor is the trial's end, as the server's `start_trial` makes it.
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: String,
    pub device_id: String,
    pub subscription_id: String,
}

pub async fn claim(db: &Db, name: &str, plan: PlanId, claimed_at: OffsetDateTime) -> Customer {
    let id = format!("user-{name}");
    db.insert_user(&NewUser {
        id: &id,
        email: &format!("{name}@example.com"),
        password_hash: "argon2id$test",
        role: "customer",
        created_at: ms(claimed_at),
    })
    .await
    .expect("user");
    let device_id = format!("dev-{name}");
    db.insert_devices(&[NewDevice {
        id: device_id.clone(),
        serial: format!("SB-{}", name.to_uppercase()),
        secret_ciphertext: vec![0; 8],
        claim_code_hash: format!("hash-{name}"),
        created_at: 0,
    }])
    .await
    .expect("device");
    assert!(
        db.claim_device(
            &DeviceId::new(&device_id),
            &UserId::new(&id),
            ms(claimed_at)
        )
        .await
        .expect("claim")
    );
    let subscription_id = format!("sub-{name}");
    let anchor = trial_end(claimed_at);
    db.insert_subscription(&NewSubscription {
        id: &subscription_id,
        device_id: &device_id,
        customer_id: &id,
        plan_id: plan.as_str(),
        status: SubscriptionStatus::Trialing,
        anchor_at: ms(anchor),
        current_period_start: ms(claimed_at),
        current_period_end: ms(anchor),
        created_at: ms(claimed_at),
    })
    .await
    .expect("subscription");
    Customer {
        id,
        device_id,
        subscription_id,
    }
}

/// Adds usage to the period containing `at`, as the device API meters it.
pub async fn meter(db: &Db, c: &Customer, at: OffsetDateTime, notifications: i64, bytes: i64) {
    let sub = subscription(db, c).await;
    let period = period_containing(at_ms(sub.anchor_at), at);
    db.add_usage(
        &c.subscription_id,
        ms(period.start),
        ms(period.end),
        notifications,
        bytes,
    )
    .await
    .expect("usage");
}

pub async fn subscription(db: &Db, c: &Customer) -> BillingSubscriptionRow {
    db.billing_subscription(&c.subscription_id)
        .await
        .expect("read")
        .expect("subscription exists")
}

pub async fn invoices(db: &Db, c: &Customer) -> Vec<InvoiceRow> {
    db.invoices_of_subscription(&SubscriptionId::new(c.subscription_id.as_str()))
        .await
        .expect("invoices")
}

pub async fn lines(db: &Db, invoice: &InvoiceRow) -> Vec<InvoiceLineRow> {
    db.invoice_lines(&InvoiceId::new(invoice.id.as_str()))
        .await
        .expect("lines")
}

pub async fn payments(db: &Db, invoice: &InvoiceRow) -> Vec<PaymentRow> {
    db.payments_of_invoice(&InvoiceId::new(invoice.id.as_str()))
        .await
        .expect("payments")
}

/// `(status, total)` of each invoice, oldest first.
pub async fn invoice_summary(db: &Db, c: &Customer) -> Vec<(String, i64)> {
    invoices(db, c)
        .await
        .into_iter()
        .map(|i| (i.status.to_string(), i.total_cents))
        .collect()
}

/// A provider wrapper: counts charges, and on demand declines the next charges (insufficient
/// funds that later clear), loses the next answer (a timeout after the provider charged), or
/// crashes the caller right after or right before the provider charges.
#[derive(Debug)]
pub struct TestProvider {
    inner: Arc<dyn PaymentProvider>,
    pub charges: AtomicUsize,
    decline_next: AtomicUsize,
    lose_next_answer: AtomicBool,
    crash_after_next_charge: AtomicBool,
    crash_before_next_charge: AtomicBool,
}

impl TestProvider {
    pub fn new(inner: Arc<dyn PaymentProvider>) -> Arc<TestProvider> {
        Arc::new(TestProvider {
            inner,
            charges: AtomicUsize::new(0),
            decline_next: AtomicUsize::new(0),
            lose_next_answer: AtomicBool::new(false),
            crash_after_next_charge: AtomicBool::new(false),
            crash_before_next_charge: AtomicBool::new(false),
        })
    }

    pub fn sandbox() -> Arc<TestProvider> {
        TestProvider::new(Arc::new(SandboxProvider::new()))
    }

    pub fn inner(&self) -> Arc<dyn PaymentProvider> {
        Arc::clone(&self.inner)
    }

    pub fn charges(&self) -> usize {
        self.charges.load(Ordering::SeqCst)
    }

    pub fn decline_next(&self, n: usize) {
        self.decline_next.store(n, Ordering::SeqCst);
    }

    pub fn lose_next_answer(&self) {
        self.lose_next_answer.store(true, Ordering::SeqCst);
    }

    pub fn crash_after_next_charge(&self) {
        self.crash_after_next_charge.store(true, Ordering::SeqCst);
    }

    pub fn crash_before_next_charge(&self) {
        self.crash_before_next_charge.store(true, Ordering::SeqCst);
    }
}

fn taken(flag: &AtomicBool) -> bool {
    flag.swap(false, Ordering::SeqCst)
}

impl PaymentProvider for TestProvider {
    fn mode(&self) -> ProviderMode {
        self.inner.mode()
    }

    fn create_customer<'a>(&'a self, customer: &'a NewCustomer) -> ProviderFuture<'a, CustomerId> {
        self.inner.create_customer(customer)
    }

    fn create_setup_intent<'a>(
        &'a self,
        customer: &'a CustomerId,
    ) -> ProviderFuture<'a, SetupIntent> {
        self.inner.create_setup_intent(customer)
    }

    fn retrieve_setup_intent<'a>(
        &'a self,
        id: &'a SetupIntentId,
    ) -> ProviderFuture<'a, SetupIntent> {
        self.inner.retrieve_setup_intent(id)
    }

    fn save_test_card<'a>(
        &'a self,
        customer: &'a CustomerId,
        card: &'a CardDetails,
    ) -> ProviderFuture<'a, PaymentMethodId> {
        self.inner.save_test_card(customer, card)
    }

    fn attach_payment_method<'a>(
        &'a self,
        payment_method: &'a PaymentMethodId,
        customer: &'a CustomerId,
    ) -> ProviderFuture<'a, ()> {
        self.inner.attach_payment_method(payment_method, customer)
    }

    fn retrieve_card<'a>(
        &'a self,
        payment_method: &'a PaymentMethodId,
    ) -> ProviderFuture<'a, CardSummary> {
        self.inner.retrieve_card(payment_method)
    }

    fn detach_payment_method<'a>(
        &'a self,
        payment_method: &'a PaymentMethodId,
    ) -> ProviderFuture<'a, ()> {
        self.inner.detach_payment_method(payment_method)
    }

    fn set_default_payment_method<'a>(
        &'a self,
        customer: &'a CustomerId,
        payment_method: &'a PaymentMethodId,
    ) -> ProviderFuture<'a, ()> {
        self.inner
            .set_default_payment_method(customer, payment_method)
    }

    fn charge<'a>(&'a self, request: &'a ChargeRequest) -> ProviderFuture<'a, ChargeOutcome> {
        Box::pin(async move {
            if taken(&self.crash_before_next_charge) {
                panic!("simulated crash after the attempt was recorded, before the charge");
            }
            self.charges.fetch_add(1, Ordering::SeqCst);
            let declines = self.decline_next.load(Ordering::SeqCst);
            if declines > 0 {
                self.decline_next.store(declines - 1, Ordering::SeqCst);
                return Ok(ChargeOutcome::Failed {
                    intent_id: Some(PaymentIntentId::new(format!(
                        "pi_declined_{}",
                        request.idempotency_key
                    ))),
                    failure: PaymentFailure {
                        code: "card_declined".into(),
                        decline_code: Some("insufficient_funds".into()),
                        message: "Your card has insufficient funds.".into(),
                    },
                });
            }
            let outcome = self.inner.charge(request).await;
            if taken(&self.crash_after_next_charge) {
                panic!(
                    "simulated crash after the provider charged, before the answer was recorded"
                );
            }
            if taken(&self.lose_next_answer) {
                return Ok(ChargeOutcome::Unknown {
                    intent_id: None,
                    reason: "simulated timeout".into(),
                });
            }
            outcome
        })
    }

    fn retrieve_charge<'a>(&'a self, id: &'a PaymentIntentId) -> ProviderFuture<'a, ChargeRecord> {
        self.inner.retrieve_charge(id)
    }

    fn find_charge<'a>(
        &'a self,
        lookup: &'a ChargeLookup,
    ) -> ProviderFuture<'a, Option<ChargeRecord>> {
        self.inner.find_charge(lookup)
    }

    fn refund<'a>(&'a self, request: &'a RefundRequest) -> ProviderFuture<'a, Refund> {
        self.inner.refund(request)
    }
}

/// A database, an engine on a test provider, and a clock this test moves.
pub struct World {
    pub db: Db,
    pub provider: Arc<TestProvider>,
    pub engine: BillingEngine,
    pub now: OffsetDateTime,
}

impl World {
    pub fn new(db: &Db, now: OffsetDateTime) -> World {
        let provider = TestProvider::sandbox();
        World::with_provider(db, provider, now)
    }

    pub fn with_provider(db: &Db, provider: Arc<TestProvider>, now: OffsetDateTime) -> World {
        let engine = BillingEngine::new(db.clone(), provider.clone());
        World {
            db: db.clone(),
            provider,
            engine,
            now,
        }
    }

    pub fn backend(&self) -> &'static str {
        self.db.backend().as_str()
    }

    /// Moves the clock to `until`, stopping at every instant something is due on the way (a
    /// period end, a queued billing job) to run the billing pass and the due jobs then, as the
    /// server's worker does.
    pub async fn advance_to(&mut self, until: OffsetDateTime) {
        loop {
            let next_period = self
                .db
                .due_subscriptions(ms(until), 1)
                .await
                .expect("due")
                .first()
                .map(|row| at_ms(row.current_period_end));
            let next_job = self
                .db
                .jobs_with_status(None, "queued", 100)
                .await
                .expect("jobs")
                .into_iter()
                .filter(|j| BillingJob::KINDS.contains(&j.kind.as_str()))
                .map(|j| at_ms(j.run_at))
                .find(|at| *at <= until);
            let Some(next) = [next_period, next_job].into_iter().flatten().min() else {
                break;
            };
            self.now = next.max(self.now);
            self.run_due().await;
        }
        self.now = until.max(self.now);
        self.run_due().await;
    }

    pub async fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        self.advance_to(until).await;
    }

    /// Runs the billing pass and every billing job due now.
    pub async fn run_due(&mut self) {
        self.engine
            .run_billing_pass(self.now, None, "test:pass")
            .await
            .expect("billing pass");
        let now_ms = ms(self.now);
        while let Some(job) = self
            .db
            .claim_job_of_kinds("test-worker", &BillingJob::KINDS, now_ms, 60_000)
            .await
            .expect("claim")
        {
            let parsed = BillingJob::parse(&job.kind, &job.payload).expect("a billing job");
            self.engine
                .run_job(&parsed, self.now, None)
                .await
                .expect("job runs");
            assert!(
                self.db
                    .complete_job(&job.id, "test-worker", now_ms)
                    .await
                    .expect("complete")
            );
        }
    }

    /// Saves a card for the customer (charging their open invoices with it at once).
    pub async fn add_card(
        &self,
        c: &Customer,
        number: &str,
    ) -> smartbox_billing::engine::CardAttached {
        self.engine
            .attach_test_card(
                &c.id,
                &CardDetails::test(number),
                self.now,
                &format!("user:{}", c.id),
            )
            .await
            .expect("card saved")
    }
}
