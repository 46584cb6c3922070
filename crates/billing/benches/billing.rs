//! Billing throughput (DESIGN §9: >= 2,000 invoices/s with the sandbox provider): 100,000 active
//! subscriptions whose periods end at the same instant, one in ten with overage, billed by one
//! billing pass — renewal invoices with their lines, payment attempts, charges and their
//! answers, usage rollover, audit entries. Prints invoices per second on SQLite, and on
//! PostgreSQL when `SMARTBOX_TEST_POSTGRES_URL` is set.
//!
//! `cargo bench -p smartbox-billing --bench billing` (`BILLING_BENCH_SUBSCRIPTIONS=10000` for a
//! quicker run).

use std::sync::Arc;
use std::time::Instant;

use smartbox_billing::{BillingEngine, SandboxProvider};
use smartbox_domain::PlanId;
use smartbox_domain::period::nth_period;
use smartbox_store::testing::{self, TestDb};
use smartbox_store::{Db, PlanRow};
use time::OffsetDateTime;
use time::macros::datetime;

const ANCHOR: OffsetDateTime = datetime!(2027-01-31 09:00 UTC);
/// Rows per multi-row insert while seeding.
const CHUNK: usize = 500;

fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let count: usize = std::env::var("BILLING_BENCH_SUBSCRIPTIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    runtime.block_on(async {
        let sqlite = testing::sqlite().await;
        bench(&sqlite, count).await;
        match testing::postgres().await {
            Some(pg) => bench(&pg, count).await,
            None => println!("postgres: skipped (set SMARTBOX_TEST_POSTGRES_URL)"),
        }
    });
}

async fn bench(t: &TestDb, count: usize) {
    let backend = t.db.backend().as_str();
    let seeded = Instant::now();
    seed(&t.db, count).await;
    println!(
        "{backend}: seeded {count} subscriptions due at the same instant in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );
    let engine = BillingEngine::new(t.db.clone(), Arc::new(SandboxProvider::new()));
    let due = nth_period(ANCHOR, 0).end;
    let started = Instant::now();
    let report = engine
        .run_billing_pass(due, None, "bench")
        .await
        .expect("the billing pass");
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(report.renewed, count, "{report:?}");
    assert_eq!(report.paid, count, "{report:?}");
    let counts = t.db.invoice_status_counts().await.expect("counts");
    assert_eq!(counts, [("paid".to_owned(), count as i64)]);
    println!(
        "{backend}: billed {count} invoices in {seconds:.2} s = {:.0} invoices/s (goal >= 2,000)",
        count as f64 / seconds
    );
    let again = Instant::now();
    let second = engine
        .run_billing_pass(due, None, "bench")
        .await
        .expect("second pass");
    assert_eq!(second.invoices(), 0);
    println!(
        "{backend}: a second pass at the same instant found nothing to bill in {:.3} s",
        again.elapsed().as_secs_f64()
    );
}

/// Customers with a saved sandbox card, claimed devices, and active subscriptions whose first
/// paid period ends at the same instant; every tenth used 3 notifications and 150 MB too many.
async fn seed(db: &Db, count: usize) {
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
        .expect("plans");
    }
    let period = nth_period(ANCHOR, 0);
    let (start, end) = (ms(period.start), ms(period.end));
    // A literal blob: the device secrets are never read here.
    let secret = match db.backend() {
        smartbox_store::Backend::Sqlite => "X'0000000000000000'",
        smartbox_store::Backend::Postgres => "'\\x0000000000000000'::bytea",
    };
    let ids: Vec<usize> = (0..count).collect();
    for chunk in ids.chunks(CHUNK) {
        let values = |row: &dyn Fn(usize) -> String| {
            chunk.iter().map(|&i| row(i)).collect::<Vec<_>>().join(", ")
        };
        let users = values(&|i| {
            format!(
                "('user-{i}', 'customer{i}@example.com', 'argon2id$bench', 'customer', {start}, \
                 'sbx_cus_{i:024}', 'sbx_pm_4242_{i:024}')"
            )
        });
        let devices = values(&|i| {
            format!(
                "('dev-{i}', 'SB-{i:08}', {secret}, 'hash', 'user-{i}', 'active_subscription', {start})"
            )
        });
        let subscriptions = values(&|i| {
            format!(
                "('sub-{i}', 'dev-{i}', 'user-{i}', '{}', 'active', {}, {start}, {end}, {start}, {start})",
                PlanId::ALL[i % 3].as_str(),
                ms(ANCHOR)
            )
        });
        let mut script = format!(
            "INSERT INTO users (id, email, password_hash, role, created_at, provider_customer_id, \
             default_payment_method_id) VALUES {users}; \
             INSERT INTO devices (id, serial, secret_ciphertext, claim_code_hash, owner_id, \
             lifecycle_state, created_at) VALUES {devices}; \
             INSERT INTO subscriptions (id, device_id, customer_id, plan_id, status, anchor_at, \
             current_period_start, current_period_end, created_at, updated_at) VALUES {subscriptions};"
        );
        let heavy: Vec<String> = chunk
            .iter()
            .filter(|i| *i % 10 == 0)
            .map(|i| format!("('sub-{i}', {start}, {end}, 503, 20150000000)"))
            .collect();
        if !heavy.is_empty() {
            script.push_str(&format!(
                " INSERT INTO usage_periods (subscription_id, period_start, period_end, \
                 notifications, data_bytes) VALUES {};",
                heavy.join(", ")
            ));
        }
        testing::execute(db, &script).await;
    }
}
