//! Billing through the server (issue 5): the job worker driven one step at a time (backoff, failed
//! jobs kept, unknown kinds left queued, two workers on one database never running a job twice),
//! the recurring billing pass, the background worker of `Server::run_until`, a suspended mailbox
//! answered 402 until its card is updated, `POST /webhooks/stripe` (forged, stale, duplicated and
//! out-of-order deliveries), and with localstripe a real charge confirmed by the webhook that
//! localstripe sends to the endpoint.

use smartbox_domain::{InvoiceId, PaymentId, PlanId, SubscriptionId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use smartbox_billing::webhook::sign_stripe_payload;
use smartbox_billing::{
    BillingJob, CardDetails, ChargeLookup, ChargeOutcome, ChargeRecord, ChargeRequest, CustomerId,
    NewCustomer, PaymentIntentId, PaymentMethodId, PaymentProvider, ProviderFuture, ProviderMode,
    Refund, RefundRequest, SetupIntent, SetupIntentId,
};
use smartbox_domain::CardSummary;
use smartbox_server::config::Config;
use smartbox_server::jobs::{JobContext, JobError, Outcome, Registry, Worker, registry};
use smartbox_server::secrets::MasterKey;
use smartbox_server::{AppState, Clock, ManualClock, Server, provisioning};
use smartbox_store::testing::{self, TestDb};
use smartbox_store::{Db, NewJob};
use time::OffsetDateTime;

use crate::helpers::{START, event_id, spawn_apps, status_and_json};

const WEBHOOK_SECRET: &str = "whsec_smartbox_server_tests";
const DAY_S: i64 = 86_400;

/// The state of a service on `db` with the given extra configuration and payment provider.
fn state_for(
    db: &Db,
    url: &str,
    clock: &ManualClock,
    vars: &[(&str, String)],
    payments: Option<Arc<dyn PaymentProvider>>,
) -> AppState {
    let config = Config::from_lookup(|name| match name {
        "SMARTBOX_BIND" => Some("127.0.0.1:0".to_owned()),
        "SMARTBOX_DATABASE_URL" => Some(url.to_owned()),
        _ => vars
            .iter()
            .find(|(var, _)| *var == name)
            .map(|(_, value)| value.clone()),
    })
    .expect("a valid configuration");
    let blobs: Arc<dyn object_store::ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let key = MasterKey::from_bytes([42; 32]);
    match payments {
        Some(payments) => AppState::with_payments(config, db.clone(), blobs, clock, key, payments),
        None => AppState::new(config, db.clone(), blobs, clock, key),
    }
}

/// The service on a real socket for webhook deliveries; the server task stops when dropped.
struct Served {
    base_url: String,
    state: AppState,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(state: AppState) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let base_url = format!("http://{}", listener.local_addr().expect("bound"));
    let app = smartbox_server::app(state.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Served {
        base_url,
        state,
        task,
    }
}

/// Runs every due job; the outcomes in order.
async fn drain(worker: &Worker) -> Vec<Outcome> {
    worker.run_until_idle(1_000).await.expect("the worker runs")
}

/// Moves `clock` to `until`, stopping at each queued job's time on the way to run what is due,
/// as the background worker would.
async fn advance_to(db: &Db, clock: &ManualClock, worker: &Worker, until: OffsetDateTime) {
    let until_ms = (until.unix_timestamp_nanos() / 1_000_000) as i64;
    loop {
        drain(worker).await;
        let next = db
            .jobs_with_status(None, "queued", 100)
            .await
            .expect("jobs")
            .into_iter()
            .filter(|j| BillingJob::KINDS.contains(&j.kind.as_str()))
            .map(|j| j.run_at)
            .find(|at| *at > clock.now_ms() && *at <= until_ms);
        match next {
            Some(at) => clock.set_ms(at),
            None => break,
        }
    }
    clock.set_ms(until_ms.max(clock.now_ms()));
    drain(worker).await;
}

#[tokio::test]
async fn the_worker_runs_one_job_at_a_time_backs_off_and_keeps_failed_jobs_for_admin() {
    for t in testing::all().await {
        let clock = ManualClock::at(START);
        let state = state_for(&t.db, &t.url, &clock, &[], None);
        let flaky_runs = Arc::new(Mutex::new(0));
        let runs = Arc::clone(&flaky_runs);
        let jobs = Registry::new()
            .handle("flaky", move |_ctx: JobContext| {
                let runs = Arc::clone(&runs);
                async move {
                    let mut n = runs.lock().expect("lock");
                    *n += 1;
                    if *n <= 2 {
                        Err(JobError::retry(anyhow::anyhow!("provider unavailable")))
                    } else {
                        Ok(())
                    }
                }
            })
            .handle("broken", |_ctx: JobContext| async {
                Err(JobError::permanent(anyhow::anyhow!("payload lacks `id`")))
            })
            .handle("panics", |ctx: JobContext| async move {
                assert!(ctx.job.kind.is_empty(), "a handler bug");
                Ok(())
            });
        let worker = Worker::with_id(state.clone(), jobs, "w1");
        let now = clock.now_ms();
        for (id, kind, max_attempts) in [
            ("j-flaky", "flaky", 5),
            ("j-broken", "broken", 5),
            ("j-panics", "panics", 1),
            ("j-future", "from_a_newer_version", 5),
        ] {
            t.db.enqueue_job(&NewJob {
                id,
                kind,
                payload: json!({}),
                unique_key: None,
                run_at: now,
                max_attempts,
            })
            .await
            .expect("enqueued");
        }

        let first = worker.try_execute_one().await.expect("step");
        assert!(
            matches!(&first, Outcome::Failed { id, error, .. } if id == "j-broken" && error.contains("payload lacks")),
            "{first:?}"
        );
        let second = worker.try_execute_one().await.expect("step");
        assert_eq!(
            second,
            Outcome::Retrying {
                id: "j-flaky".into(),
                kind: "flaky".into(),
                at_ms: now + 10_000,
                error: "provider unavailable".into()
            }
        );
        let third = worker.try_execute_one().await.expect("step");
        assert!(
            matches!(&third, Outcome::Failed { id, error, .. } if id == "j-panics" && error.contains("panicked")),
            "a panicking handler fails its attempt, the worker lives on: {third:?}"
        );
        assert_eq!(worker.try_execute_one().await.expect("step"), Outcome::Idle);

        clock.advance_ms(10_000);
        let retried = worker.try_execute_one().await.expect("step");
        assert!(
            matches!(&retried, Outcome::Retrying { at_ms, .. } if *at_ms == now + 10_000 + 20_000),
            "the delay doubles: {retried:?}"
        );
        clock.advance_ms(20_000);
        assert_eq!(
            worker.try_execute_one().await.expect("step"),
            Outcome::Done {
                id: "j-flaky".into(),
                kind: "flaky".into()
            }
        );
        assert_eq!(worker.try_execute_one().await.expect("step"), Outcome::Idle);

        let failed =
            t.db.jobs_with_status(None, "failed", 10)
                .await
                .expect("failed");
        let failed: Vec<&str> = failed.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(failed, ["j-broken", "j-panics"], "kept for admin");
        let future =
            t.db.job_by_id("j-future")
                .await
                .expect("read")
                .expect("kept");
        assert_eq!(
            (future.status.as_str(), future.attempts),
            ("queued", 0),
            "a kind this process does not know stays queued for one that does"
        );
        assert!(
            t.db.retry_failed_job("j-panics", clock.now_ms())
                .await
                .expect("retry")
        );
        assert!(matches!(
            worker.try_execute_one().await.expect("step"),
            Outcome::Failed { .. }
        ));
    }
}

#[tokio::test]
async fn two_workers_on_one_database_never_run_the_same_job_at_once() {
    for t in testing::all().await {
        let clock = ManualClock::at(START);
        // Two processes: each its own pool on the same database.
        let other_db = Db::connect(&t.url).await.expect("a second pool");
        let state_a = state_for(&t.db, &t.url, &clock, &[], None);
        let state_b = state_for(&other_db, &t.url, &clock, &[], None);
        let runs: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let running: Arc<Mutex<Vec<String>>> = Arc::default();
        let overlap = Arc::new(AtomicBool::new(false));
        let counting = || {
            let (runs, running, overlap) = (runs.clone(), running.clone(), overlap.clone());
            Registry::new().handle("count", move |ctx: JobContext| {
                let (runs, running, overlap) = (runs.clone(), running.clone(), overlap.clone());
                async move {
                    let id = ctx.job.id.clone();
                    {
                        let mut now_running = running.lock().expect("lock");
                        if now_running.contains(&id) {
                            overlap.store(true, Ordering::SeqCst);
                        }
                        now_running.push(id.clone());
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    *runs.lock().expect("lock").entry(id.clone()).or_default() += 1;
                    running.lock().expect("lock").retain(|r| *r != id);
                    Ok(())
                }
            })
        };
        let now = clock.now_ms();
        for i in 0..60 {
            let id = format!("job-{i:02}");
            t.db.enqueue_job(&NewJob {
                id: &id,
                kind: "count",
                payload: json!({}),
                unique_key: None,
                run_at: now,
                max_attempts: 3,
            })
            .await
            .expect("enqueued");
        }
        let a = Worker::with_id(state_a, counting(), "process-a");
        let b = Worker::with_id(state_b, counting(), "process-b");
        let (done_a, done_b) = tokio::join!(a.run_until_idle(100), b.run_until_idle(100));
        let (done_a, done_b) = (done_a.expect("a"), done_b.expect("b"));
        assert_eq!(
            done_a.len() + done_b.len(),
            60,
            "{}",
            t.db.backend().as_str()
        );
        assert!(!overlap.load(Ordering::SeqCst), "a job ran twice at once");
        {
            let runs = runs.lock().expect("lock");
            assert_eq!(runs.len(), 60);
            assert!(runs.values().all(|n| *n == 1), "{runs:?}");
        }

        // A worker that dies holding a job: after the lease, the other one runs it.
        t.db.enqueue_job(&NewJob {
            id: "orphan",
            kind: "count",
            payload: json!({}),
            unique_key: None,
            run_at: clock.now_ms(),
            max_attempts: 3,
        })
        .await
        .expect("enqueued");
        assert!(
            t.db.claim_job_of_kinds("dead-process", &["count"], clock.now_ms(), 300_000)
                .await
                .expect("claim")
                .is_some()
        );
        assert_eq!(b.try_execute_one().await.expect("step"), Outcome::Idle);
        clock.advance_ms(300_001);
        assert_eq!(
            b.try_execute_one().await.expect("step"),
            Outcome::Done {
                id: "orphan".into(),
                kind: "count".into()
            }
        );
    }
}

#[tokio::test]
async fn the_billing_pass_is_enqueued_once_per_minute_whatever_the_number_of_workers() {
    for t in testing::all().await {
        let clock = ManualClock::at(START);
        let other_db = Db::connect(&t.url).await.expect("a second pool");
        let a = Worker::new(state_for(&t.db, &t.url, &clock, &[], None), registry());
        let b = Worker::new(state_for(&other_db, &t.url, &clock, &[], None), registry());
        // Other recurring kinds (hourly housekeeping...) run beside it; count the billing passes.
        let passes = |ran: Vec<Outcome>| -> Vec<Outcome> {
            ran.into_iter()
                .filter(|o| o.kind() == Some("billing_pass"))
                .collect()
        };
        let ran = passes([drain(&a).await, drain(&b).await, drain(&a).await].concat());
        assert_eq!(ran.len(), 1, "{ran:?}");
        assert!(matches!(&ran[0], Outcome::Done { .. }), "{ran:?}");
        clock.advance_ms(30_000);
        assert!(passes(drain(&b).await).is_empty(), "same minute");
        clock.advance_ms(30_000);
        assert_eq!(
            passes(drain(&b).await).len() + passes(drain(&a).await).len(),
            1
        );
        assert_eq!(t.db.count_jobs("billing_pass").await.expect("count"), 2);
    }
}

#[tokio::test]
async fn a_mailbox_is_suspended_72_hours_after_the_first_failed_charge_and_resumes_with_a_new_card()
{
    for app in spawn_apps().await {
        let worker = Worker::new(app.state.clone(), registry());
        let device = app.activated_device("SB-BILL-01", PlanId::Basic).await;
        let customer = app.customer_of(&device).await;
        let billing = app.state.billing();
        billing
            .attach_test_card(
                &customer,
                &CardDetails::test("4000000000000341"),
                app.clock.now(),
                "user:test",
            )
            .await
            .expect("a card that saves, then declines");
        let anchor = START + time::Duration::days(7);

        advance_to(&app.state.db, &app.clock, &worker, anchor).await;
        let subscription = app.subscription_id(&device).await;
        let row = app
            .state
            .db
            .billing_subscription(&subscription)
            .await
            .expect("read")
            .expect("row");
        assert_eq!(row.status, "past_due", "{}", app.backend);
        assert_eq!(
            app.post_event(&device, &event_id(), 0).await.status(),
            201,
            "grace"
        );

        advance_to(
            &app.state.db,
            &app.clock,
            &worker,
            anchor + time::Duration::hours(71),
        )
        .await;
        let row = app
            .state
            .db
            .billing_subscription(&subscription)
            .await
            .expect("read")
            .expect("row");
        assert_eq!(row.status, "past_due");
        advance_to(
            &app.state.db,
            &app.clock,
            &worker,
            anchor + time::Duration::hours(72),
        )
        .await;
        let row = app
            .state
            .db
            .billing_subscription(&subscription)
            .await
            .expect("read")
            .expect("row");
        assert_eq!(
            (row.status.as_str(), row.device_lifecycle.as_str()),
            ("suspended", "suspended")
        );
        app.clock.advance_s(10);
        let (status, body) = status_and_json(app.post_event(&device, &event_id(), 0).await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (402, Some("payment_required"))
        );

        let updated = billing
            .attach_test_card(
                &customer,
                &CardDetails::test("4242424242424242"),
                app.clock.now(),
                "user:test",
            )
            .await
            .expect("the new card");
        assert_eq!(
            updated.collected.len(),
            1,
            "the open invoice is charged at once"
        );
        let row = app
            .state
            .db
            .billing_subscription(&subscription)
            .await
            .expect("read")
            .expect("row");
        assert_eq!(
            (row.status.as_str(), row.device_lifecycle.as_str()),
            ("active", "active_subscription")
        );
        assert_eq!(
            row.anchor_at,
            (anchor.unix_timestamp()) * 1000,
            "the anchor stays"
        );
        app.clock.advance_s(10);
        assert_eq!(app.post_event(&device, &event_id(), 0).await.status(), 201);
        let invoices = app
            .state
            .db
            .invoices_of_subscription(&SubscriptionId::new(subscription.as_str()))
            .await
            .expect("invoices");
        assert_eq!(invoices.len(), 1);
        assert_eq!(invoices[0].status, "paid");
        let html = billing
            .invoice_html(&customer, &invoices[0].id)
            .await
            .expect("html");
        assert!(
            html.contains(&invoices[0].number) && html.contains("$5.00"),
            "{html}"
        );
    }
}

fn signed_post(served: &Served, body: &str, header: Option<String>) -> reqwest::RequestBuilder {
    let request = reqwest::Client::new()
        .post(format!("{}/webhooks/stripe", served.base_url))
        .header("content-type", "application/json")
        .body(body.to_owned());
    match header {
        Some(header) => request.header("stripe-signature", header),
        None => request,
    }
}

fn stripe_event(id: &str, event_type: &str, created: i64, object: Value) -> String {
    json!({ "id": id, "object": "event", "type": event_type, "created": created, "data": { "object": object } })
        .to_string()
}

#[tokio::test]
async fn the_stripe_webhook_refuses_forged_and_stale_signatures_and_applies_each_event_once() {
    for t in testing::all().await {
        let clock = ManualClock::at(START);
        let vars = [
            ("STRIPE_SECRET_KEY", "sk_test_smartbox".to_owned()),
            ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
        ];
        let state = state_for(&t.db, &t.url, &clock, &vars, None);
        provisioning::seed_plans(&t.db).await.expect("plans");
        let served = serve(state).await;
        let worker = Worker::new(served.state.clone(), registry());
        // A paid first invoice: its attempt is what the events are about.
        let records = provisioning::import_devices(
            &t.db,
            &served.state.master_key,
            &provisioning::read_serials("serial\nSB-HOOK-01\n".as_bytes()).expect("serial"),
            clock.now_ms(),
        )
        .await
        .expect("imported");
        let activation = provisioning::activate_device(
            &t.db,
            &records[0].serial,
            "hook@example.com",
            PlanId::Basic,
            clock.now_ms(),
            "cli",
        )
        .await
        .expect("activated");
        served
            .state
            .billing()
            .attach_test_card(
                &activation.customer_id,
                &CardDetails::test("4242424242424242"),
                clock.now(),
                "user:hook",
            )
            .await
            .expect("card");
        advance_to(&t.db, &clock, &worker, START + time::Duration::days(7)).await;
        let invoice = t
            .db
            .invoices_of_subscription(&SubscriptionId::new(activation.subscription_id.as_str()))
            .await
            .expect("invoices")
            .remove(0);
        let attempt =
            t.db.payments_of_invoice(&InvoiceId::new(invoice.id.as_str()))
                .await
                .expect("payments")
                .remove(0);
        assert_eq!(attempt.status, "succeeded");
        let intent = attempt.provider_payment_id.clone().expect("intent");

        let now = clock.now_s();
        let refund = stripe_event(
            "evt_refund",
            "charge.refunded",
            now - 5,
            json!({
                "id": "ch_1", "object": "charge", "payment_intent": intent, "amount": 500,
                "amount_refunded": 500, "refunded": true,
            }),
        );
        let (status, body) = status_and_json(
            signed_post(&served, &refund, None)
                .send()
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_signature")),
            "missing"
        );
        let forged = sign_stripe_payload(refund.as_bytes(), "whsec_someone_else", now);
        let response = signed_post(&served, &refund, Some(forged))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 400, "forged");
        let replayed = sign_stripe_payload(refund.as_bytes(), WEBHOOK_SECRET, now - 301);
        let response = signed_post(&served, &refund, Some(replayed))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 400, "older than 300 s");
        let valid = sign_stripe_payload(refund.as_bytes(), WEBHOOK_SECRET, now);
        let response = signed_post(&served, &refund.replace("500", "5"), Some(valid.clone()))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 400, "a body that is not the one signed");
        assert_eq!(
            t.db.payment_by_id(&PaymentId::new(attempt.id.as_str()))
                .await
                .expect("read")
                .expect("row")
                .status,
            "succeeded"
        );

        let (status, body) = status_and_json(
            signed_post(&served, &refund, Some(valid.clone()))
                .send()
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!((status, body["status"].as_str()), (200, Some("processed")));
        assert_eq!(
            t.db.payment_by_id(&PaymentId::new(attempt.id.as_str()))
                .await
                .expect("read")
                .expect("row")
                .status,
            "refunded"
        );
        let (status, body) = status_and_json(
            signed_post(&served, &refund, Some(valid))
                .send()
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("already_processed")),
            "duplicate"
        );

        // Out of order: the older success of the same intent arrives after the refund.
        let late = stripe_event(
            "evt_paid_late",
            "payment_intent.succeeded",
            now - 60,
            json!({
                "id": intent, "object": "payment_intent", "status": "succeeded", "amount": 500,
                "metadata": { "payment_attempt_id": attempt.id, "invoice_id": invoice.id },
            }),
        );
        let header = sign_stripe_payload(late.as_bytes(), WEBHOOK_SECRET, now);
        let (status, _) = status_and_json(
            signed_post(&served, &late, Some(header))
                .send()
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            t.db.payment_by_id(&PaymentId::new(attempt.id.as_str()))
                .await
                .expect("read")
                .expect("row")
                .status,
            "refunded",
            "an older event never moves the payment back"
        );
        let other = stripe_event(
            "evt_other",
            "customer.created",
            now,
            json!({ "id": "cus_x", "object": "customer" }),
        );
        let header = sign_stripe_payload(other.as_bytes(), WEBHOOK_SECRET, now);
        let (status, body) = status_and_json(
            signed_post(&served, &other, Some(header))
                .send()
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!((status, body["status"].as_str()), (200, Some("ignored")));
    }
}

#[tokio::test]
async fn without_a_webhook_secret_every_delivery_is_refused() {
    for app in spawn_apps().await {
        let body = stripe_event("evt_1", "customer.created", app.clock.now_s(), json!({}));
        let header = sign_stripe_payload(body.as_bytes(), WEBHOOK_SECRET, app.clock.now_s());
        let response = app
            .client
            .post(format!("{}/webhooks/stripe", app.base_url))
            .header("stripe-signature", header)
            .body(body)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 400, "{}", app.backend);
    }
}

#[tokio::test]
async fn the_server_runs_its_worker_until_shutdown() {
    let t: TestDb = testing::sqlite().await;
    let blobs = tempfile::tempdir().expect("blob folder");
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let config = Config::from_lookup(|name| match name {
        "SMARTBOX_BIND" => Some("127.0.0.1:0".to_owned()),
        "SMARTBOX_DATABASE_URL" => Some(t.url.clone()),
        "SMARTBOX_BLOB_URL" => Some(format!("file://{}", blobs.path().display())),
        "SMARTBOX_MASTER_KEY" => Some(key.clone()),
        _ => None,
    })
    .expect("config");
    let clock = ManualClock::at(START);
    let server = Server::build(config, Arc::new(clock.clone()))
        .await
        .expect("built");
    let state = server.state().clone();
    let records = provisioning::import_devices(
        &state.db,
        &state.master_key,
        &provisioning::read_serials("serial\nSB-RUN-01\n".as_bytes()).expect("serial"),
        clock.now_ms(),
    )
    .await
    .expect("imported");
    let activation = provisioning::activate_device(
        &state.db,
        &records[0].serial,
        "run@example.com",
        PlanId::Plus,
        clock.now_ms(),
        "cli",
    )
    .await
    .expect("activated");
    state
        .billing()
        .attach_test_card(
            &activation.customer_id,
            &CardDetails::test("4242424242424242"),
            clock.now(),
            "user:run",
        )
        .await
        .expect("card");
    clock.advance_s(7 * DAY_S);

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until(async move {
        let _ = stopped.await;
    }));
    let mut paid = false;
    for _ in 0..100 {
        let invoices = state
            .db
            .invoices_of_subscription(&SubscriptionId::new(activation.subscription_id.as_str()))
            .await
            .expect("invoices");
        if invoices.first().is_some_and(|i| i.status == "paid") {
            paid = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(paid, "the background worker ran the billing pass");
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("stops on shutdown")
        .expect("joined")
        .expect("clean stop");
}

/// The Stripe provider, but the answer of every charge is lost (a timeout after Stripe charged).
#[derive(Debug)]
struct LosesAnswers(Arc<dyn PaymentProvider>);

impl PaymentProvider for LosesAnswers {
    fn mode(&self) -> ProviderMode {
        self.0.mode()
    }
    fn create_customer<'a>(&'a self, c: &'a NewCustomer) -> ProviderFuture<'a, CustomerId> {
        self.0.create_customer(c)
    }
    fn create_setup_intent<'a>(&'a self, c: &'a CustomerId) -> ProviderFuture<'a, SetupIntent> {
        self.0.create_setup_intent(c)
    }
    fn retrieve_setup_intent<'a>(
        &'a self,
        id: &'a SetupIntentId,
    ) -> ProviderFuture<'a, SetupIntent> {
        self.0.retrieve_setup_intent(id)
    }
    fn save_test_card<'a>(
        &'a self,
        c: &'a CustomerId,
        card: &'a CardDetails,
    ) -> ProviderFuture<'a, PaymentMethodId> {
        self.0.save_test_card(c, card)
    }
    fn attach_payment_method<'a>(
        &'a self,
        pm: &'a PaymentMethodId,
        c: &'a CustomerId,
    ) -> ProviderFuture<'a, ()> {
        self.0.attach_payment_method(pm, c)
    }
    fn retrieve_card<'a>(&'a self, pm: &'a PaymentMethodId) -> ProviderFuture<'a, CardSummary> {
        self.0.retrieve_card(pm)
    }
    fn detach_payment_method<'a>(&'a self, pm: &'a PaymentMethodId) -> ProviderFuture<'a, ()> {
        self.0.detach_payment_method(pm)
    }
    fn set_default_payment_method<'a>(
        &'a self,
        c: &'a CustomerId,
        pm: &'a PaymentMethodId,
    ) -> ProviderFuture<'a, ()> {
        self.0.set_default_payment_method(c, pm)
    }
    fn charge<'a>(&'a self, request: &'a ChargeRequest) -> ProviderFuture<'a, ChargeOutcome> {
        Box::pin(async move {
            self.0.charge(request).await?;
            Ok(ChargeOutcome::Unknown {
                intent_id: None,
                reason: "simulated timeout".into(),
            })
        })
    }
    fn retrieve_charge<'a>(&'a self, id: &'a PaymentIntentId) -> ProviderFuture<'a, ChargeRecord> {
        self.0.retrieve_charge(id)
    }
    fn find_charge<'a>(
        &'a self,
        lookup: &'a ChargeLookup,
    ) -> ProviderFuture<'a, Option<ChargeRecord>> {
        self.0.find_charge(lookup)
    }
    fn refund<'a>(&'a self, request: &'a RefundRequest) -> ProviderFuture<'a, Refund> {
        self.0.refund(request)
    }
}

#[tokio::test]
async fn a_stripe_charge_whose_answer_was_lost_is_settled_by_the_webhook_localstripe_sends() {
    let Ok(stripe_url) = std::env::var("SMARTBOX_TEST_STRIPE_URL") else {
        eprintln!("skipped: set SMARTBOX_TEST_STRIPE_URL to run against localstripe");
        return;
    };
    let stripe_url = stripe_url.trim_end_matches('/').to_owned();
    for t in testing::all().await {
        // localstripe signs with the real time: the clock starts a trial that ends now.
        let now = OffsetDateTime::now_utc();
        let clock = ManualClock::at(now - time::Duration::days(7));
        let vars = [
            ("STRIPE_SECRET_KEY", "sk_test_smartbox".to_owned()),
            ("STRIPE_API_BASE", stripe_url.clone()),
            ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
        ];
        let probe = state_for(&t.db, &t.url, &clock, &vars, None);
        let stripe =
            smartbox_server::state::payments_for(&probe.config).expect("the Stripe client");
        assert_ne!(stripe.mode(), ProviderMode::Sandbox);
        let payments: Arc<dyn PaymentProvider> = Arc::new(LosesAnswers(stripe));
        let served = serve(state_for(&t.db, &t.url, &clock, &vars, Some(payments))).await;
        provisioning::seed_plans(&t.db).await.expect("plans");
        let registered = reqwest::Client::new()
            .post(format!(
                "{stripe_url}/_config/webhooks/smartbox-server-tests"
            ))
            .form(&[
                ("url", format!("{}/webhooks/stripe", served.base_url)),
                ("secret", WEBHOOK_SECRET.to_owned()),
                ("events[0]", "payment_intent.succeeded".to_owned()),
            ])
            .send()
            .await
            .expect("register the webhook");
        assert!(registered.status().is_success());

        let serial = format!("SB-LS-{}", t.db.backend().as_str().to_uppercase());
        let records = provisioning::import_devices(
            &t.db,
            &served.state.master_key,
            &provisioning::read_serials(format!("serial\n{serial}\n").as_bytes()).expect("serial"),
            clock.now_ms(),
        )
        .await
        .expect("imported");
        let email = format!("ls-{}@example.com", uuid::Uuid::new_v4().simple());
        let activation = provisioning::activate_device(
            &t.db,
            &records[0].serial,
            &email,
            PlanId::Premium,
            clock.now_ms(),
            "cli",
        )
        .await
        .expect("activated");
        let billing = served.state.billing();
        billing
            .attach_test_card(
                &activation.customer_id,
                &CardDetails::test("4242424242424242"),
                clock.now(),
                "user:ls",
            )
            .await
            .expect("a card saved at Stripe");
        clock.set_ms((now.unix_timestamp_nanos() / 1_000_000) as i64);
        billing
            .run_billing_pass(clock.now(), None, "test")
            .await
            .expect("the pass");
        let invoice = t
            .db
            .invoices_of_subscription(&SubscriptionId::new(activation.subscription_id.as_str()))
            .await
            .expect("invoices")
            .remove(0);
        let attempt =
            t.db.payments_of_invoice(&InvoiceId::new(invoice.id.as_str()))
                .await
                .expect("payments")
                .remove(0);
        assert_eq!(attempt.status, "unknown", "the answer was lost");

        let mut settled = None;
        for _ in 0..100 {
            let payment =
                t.db.payment_by_id(&PaymentId::new(attempt.id.as_str()))
                    .await
                    .expect("read")
                    .expect("row");
            if payment.status != "unknown" {
                settled = Some(payment);
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let payment = settled.expect("the webhook arrived and settled the attempt");
        assert_eq!(payment.status, "succeeded", "{}", t.db.backend().as_str());
        assert!(
            payment.provider_event_created.is_some(),
            "recorded from the event"
        );
        assert_eq!(
            t.db.invoice_by_id(&InvoiceId::new(invoice.id.as_str()))
                .await
                .expect("read")
                .expect("row")
                .status,
            "paid"
        );
        let audit = t.db.audit_for("invoice", &invoice.id).await.expect("audit");
        assert!(
            audit.iter().any(|a| a.actor.starts_with("stripe:evt_")),
            "{audit:?}"
        );
    }
}

#[tokio::test]
async fn finished_jobs_are_pruned_after_thirty_days_and_failed_ones_kept() {
    use smartbox_server::jobs::maintenance::{JOBS_KEPT_FOR, PRUNE_JOBS, PRUNE_JOBS_EVERY, prune};
    for t in testing::all().await {
        let clock = ManualClock::at(START);
        let state = state_for(&t.db, &t.url, &clock, &[], None);
        for (id, kind) in [("j-done", "finished"), ("j-failed", "broken")] {
            t.db.enqueue_job(&NewJob {
                id,
                kind,
                payload: json!({}),
                unique_key: None,
                run_at: clock.now_ms(),
                max_attempts: 1,
            })
            .await
            .expect("enqueued");
        }
        let work = Worker::new(
            state.clone(),
            Registry::new()
                .handle("finished", |_ctx: JobContext| async { Ok(()) })
                .handle("broken", |_ctx: JobContext| async {
                    Err(JobError::permanent(anyhow::anyhow!("malformed")))
                }),
        );
        while work.try_execute_one().await.expect("step") != Outcome::Idle {}

        let housekeeping = Worker::new(
            state.clone(),
            Registry::new()
                .handle(PRUNE_JOBS, prune)
                .every(PRUNE_JOBS, PRUNE_JOBS_EVERY),
        );
        assert!(matches!(
            housekeeping.try_execute_one().await.expect("step"),
            Outcome::Done { .. }
        ));
        assert!(
            t.db.job_by_id("j-done").await.expect("read").is_some(),
            "kept within the retention"
        );

        clock.advance_ms(JOBS_KEPT_FOR.as_millis() as i64 + 1_000);
        assert!(matches!(
            housekeeping.try_execute_one().await.expect("step"),
            Outcome::Done { .. }
        ));
        assert!(t.db.job_by_id("j-done").await.expect("read").is_none());
        assert_eq!(
            t.db.job_by_id("j-failed")
                .await
                .expect("read")
                .expect("kept for admin")
                .status,
            "failed"
        );
        assert_eq!(
            t.db.count_jobs(PRUNE_JOBS).await.expect("count"),
            1,
            "the first prune was itself pruned; the second is kept"
        );
    }
}
