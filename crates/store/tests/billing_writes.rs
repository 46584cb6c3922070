//! The billing engine's writes: change sets that are written whole or not at all, and the
//! invariants the database itself enforces (one renewal invoice per period, one payment attempt
//! in flight and one success per invoice, each webhook event once). SQLite always, PostgreSQL
//! when `SMARTBOX_TEST_POSTGRES_URL` is set.

use smartbox_domain::{
    DeviceId, InvoiceId, InvoiceStatus, PaymentStatus, SubscriptionStatus, UserId,
};
use smartbox_store::changes::{
    Applied, AuditRecord, Change, Changes, InvoiceStatusUpdate, NewInvoice, NewPayment,
    PaymentUpdate, QueuedJob, StaleGuard, SubscriptionUpdate,
};
use smartbox_store::testing::{self, TestDb};
use smartbox_store::{Db, NewDevice, NewJob, NewSubscription, NewUser, PlanRow};

const DAY: i64 = 86_400_000;

async fn each_backend() -> Vec<TestDb> {
    testing::all().await
}

/// A customer with a claimed device and an active subscription whose period ends at `30 * DAY`.
async fn subscription(db: &Db, name: &str) -> String {
    let user = format!("user-{name}");
    db.insert_user(&NewUser {
        id: &user,
        email: &format!("{name}@example.com"),
        password_hash: "x",
        role: "customer",
        created_at: 0,
    })
    .await
    .unwrap();
    let device = format!("dev-{name}");
    db.insert_devices(&[NewDevice {
        id: device.clone(),
        serial: format!("SB-{}", name.to_uppercase()),
        secret_ciphertext: vec![0],
        claim_code_hash: "h".into(),
        created_at: 0,
    }])
    .await
    .unwrap();
    assert!(
        db.claim_device(&DeviceId::new(&device), &UserId::new(&user), 0)
            .await
            .unwrap()
    );
    db.upsert_plan(&PlanRow {
        id: "basic".into(),
        price_cents: 500,
        notification_limit: Some(100),
        data_limit_bytes: 1_000_000_000,
        notification_overage_cents: Some(5),
        data_overage_per_100mb_cents: 20,
    })
    .await
    .unwrap();
    let id = format!("sub-{name}");
    db.insert_subscription(&NewSubscription {
        id: &id,
        device_id: &device,
        customer_id: &user,
        plan_id: "basic",
        status: SubscriptionStatus::Active,
        anchor_at: 0,
        current_period_start: 0,
        current_period_end: 30 * DAY,
        created_at: 0,
    })
    .await
    .unwrap();
    id
}

fn renewal(sub: &str, version: i64, invoice_id: &str) -> Changes {
    let mut changes = Changes::new();
    changes.push(Change::UpdateSubscription(SubscriptionUpdate {
        id: sub.into(),
        expected_version: version,
        plan_id: "basic".into(),
        pending_plan_id: None,
        status: SubscriptionStatus::Active,
        current_period_start: 30 * DAY,
        current_period_end: 61 * DAY,
        cancel_at_period_end: false,
        past_due_since: None,
        spend_cap_at_most: None,
        updated_at: 30 * DAY,
    }));
    changes.push(Change::InsertInvoice(NewInvoice {
        id: invoice_id.into(),
        subscription_id: sub.into(),
        customer_id: sub.replace("sub-", "user-"),
        kind: "renewal".into(),
        period_start: 30 * DAY,
        period_end: 61 * DAY,
        status: InvoiceStatus::Open,
        total_cents: 515,
        idempotency_key: invoice_id.into(),
        created_at: 30 * DAY,
        lines: vec![
            ("Basic plan".into(), 500),
            ("3 notifications over the limit".into(), 15),
        ],
    }));
    changes.push(Change::InsertPayment(pending(
        &format!("{invoice_id}-a1"),
        invoice_id,
    )));
    changes.push(Change::OpenUsagePeriod {
        subscription_id: sub.into(),
        period_start: 30 * DAY,
        period_end: 61 * DAY,
    });
    changes.push(Change::Audit(AuditRecord {
        at: 30 * DAY,
        actor: "job:billing_pass".into(),
        entity_type: "subscription".into(),
        entity_id: sub.into(),
        action: "renewed".into(),
        detail: "{}".into(),
    }));
    changes
}

fn pending(id: &str, invoice_id: &str) -> NewPayment {
    NewPayment {
        id: id.into(),
        invoice_id: invoice_id.into(),
        amount_cents: 515,
        status: PaymentStatus::Pending,
        provider: "sandbox".into(),
        provider_payment_id: None,
        failure_code: None,
        failure_message: None,
        created_at: 30 * DAY,
    }
}

fn settle(payment: &str, status: &str) -> Changes {
    Changes {
        ops: vec![Change::UpdatePayment(PaymentUpdate {
            id: payment.into(),
            from: vec![PaymentStatus::Pending, PaymentStatus::Unknown],
            status: status.parse::<PaymentStatus>().expect("a status"),
            provider_payment_id: Some(format!("pi_{payment}")),
            failure_code: None,
            failure_message: None,
            provider_event_created: None,
            updated_at: 30 * DAY + 1,
        })],
    }
}

fn stale_guard(applied: Applied) -> Option<StaleGuard> {
    match applied {
        Applied::Done => None,
        Applied::Stale(stale) => Some(stale.guard),
    }
}

#[tokio::test]
async fn a_renewal_is_written_whole_and_a_second_decision_on_the_same_version_is_stale() {
    for t in each_backend().await {
        let sub = subscription(&t.db, "ada").await;
        assert_eq!(
            t.db.apply_changes(&renewal(&sub, 0, "inv-1"))
                .await
                .unwrap(),
            Applied::Done
        );
        let invoice =
            t.db.invoice_by_id(&InvoiceId::new("inv-1"))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(invoice.number, "SB-0000001");
        assert_eq!(
            (invoice.status.as_str(), invoice.total_cents),
            ("open", 515)
        );
        let lines = t.db.invoice_lines(&InvoiceId::new("inv-1")).await.unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].amount_cents, 15);
        let row = t.db.billing_subscription(&sub).await.unwrap().unwrap();
        assert_eq!((row.version, row.current_period_start), (1, 30 * DAY));
        assert_eq!(row.open_invoices, 1);
        assert_eq!(
            t.db.payments_of_invoice(&InvoiceId::new("inv-1"))
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(t.db.usage_history(&sub).await.unwrap().len(), 1);

        // The same pass running again decided on version 0: nothing of it is written.
        let again =
            t.db.apply_changes(&renewal(&sub, 0, "inv-2"))
                .await
                .unwrap();
        assert_eq!(stale_guard(again), Some(StaleGuard::SubscriptionVersion));
        assert!(
            t.db.invoice_by_id(&InvoiceId::new("inv-2"))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(t.db.audit_for("subscription", &sub).await.unwrap().len(), 1);
        // Even on the right version, a second renewal invoice for the same period is refused.
        let twin =
            t.db.apply_changes(&renewal(&sub, 1, "inv-3"))
                .await
                .unwrap();
        assert_eq!(stale_guard(twin), Some(StaleGuard::InvoiceExists));
        let row = t.db.billing_subscription(&sub).await.unwrap().unwrap();
        assert_eq!(
            row.version, 1,
            "the stale set's subscription update was rolled back"
        );
    }
}

#[tokio::test]
async fn an_invoice_has_one_attempt_in_flight_and_one_success() {
    for t in each_backend().await {
        let sub = subscription(&t.db, "bob").await;
        t.db.apply_changes(&renewal(&sub, 0, "inv-1"))
            .await
            .unwrap();
        let second = Changes {
            ops: vec![Change::InsertPayment(pending("inv-1-a2", "inv-1"))],
        };
        assert_eq!(
            stale_guard(t.db.apply_changes(&second).await.unwrap()),
            Some(StaleGuard::PaymentExists),
            "a second attempt must wait for the first one's outcome"
        );
        assert_eq!(
            t.db.apply_changes(&settle("inv-1-a1", "failed"))
                .await
                .unwrap(),
            Applied::Done
        );
        assert_eq!(
            t.db.apply_changes(&second).await.unwrap(),
            Applied::Done,
            "after a decided failure, a new attempt may start"
        );
        assert_eq!(
            t.db.apply_changes(&settle("inv-1-a2", "succeeded"))
                .await
                .unwrap(),
            Applied::Done
        );
        // Force a third attempt past the in-flight rule and try to record a second success.
        let third = Changes {
            ops: vec![Change::InsertPayment(pending("inv-1-a3", "inv-1"))],
        };
        t.db.apply_changes(&third).await.unwrap();
        assert_eq!(
            stale_guard(
                t.db.apply_changes(&settle("inv-1-a3", "succeeded"))
                    .await
                    .unwrap()
            ),
            Some(StaleGuard::PaymentStatus)
        );
        let statuses: Vec<String> =
            t.db.payments_of_invoice(&InvoiceId::new("inv-1"))
                .await
                .unwrap()
                .into_iter()
                .map(|p| p.status.to_string())
                .collect();
        assert_eq!(statuses, ["failed", "succeeded", "pending"]);
        // A settled attempt does not move back.
        assert_eq!(
            stale_guard(
                t.db.apply_changes(&settle("inv-1-a2", "failed"))
                    .await
                    .unwrap()
            ),
            Some(StaleGuard::PaymentStatus)
        );
    }
}

#[tokio::test]
async fn a_webhook_event_takes_effect_once() {
    for t in each_backend().await {
        let sub = subscription(&t.db, "cy").await;
        t.db.apply_changes(&renewal(&sub, 0, "inv-1"))
            .await
            .unwrap();
        let event = Changes {
            ops: vec![
                Change::RecordStripeEvent {
                    id: "evt_1".into(),
                    event_type: "payment_intent.succeeded".into(),
                    created: 100,
                    processed_at: 1,
                },
                Change::SetInvoiceStatus(InvoiceStatusUpdate {
                    id: "inv-1".into(),
                    from: vec![InvoiceStatus::Open],
                    to: InvoiceStatus::Paid,
                    paid_at: Some(5),
                    carried_into: None,
                }),
            ],
        };
        assert_eq!(t.db.apply_changes(&event).await.unwrap(), Applied::Done);
        assert_eq!(
            stale_guard(t.db.apply_changes(&event).await.unwrap()),
            Some(StaleGuard::EventProcessed)
        );
        let invoice =
            t.db.invoice_by_id(&InvoiceId::new("inv-1"))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(
            (invoice.status.as_str(), invoice.paid_at),
            ("paid", Some(5))
        );
    }
}

#[tokio::test]
async fn a_stale_change_set_in_a_batch_leaves_the_others_written() {
    for t in each_backend().await {
        let a = subscription(&t.db, "dee").await;
        let b = subscription(&t.db, "eve").await;
        let results =
            t.db.apply_changes_batch(&[
                renewal(&a, 0, "inv-a"),
                renewal(&b, 7, "inv-b"),
                renewal(&a, 0, "inv-a2"),
            ])
            .await
            .unwrap();
        assert_eq!(results[0], Applied::Done);
        assert_eq!(
            stale_guard(results[1]),
            Some(StaleGuard::SubscriptionVersion)
        );
        assert_eq!(
            stale_guard(results[2]),
            Some(StaleGuard::SubscriptionVersion)
        );
        assert!(
            t.db.invoice_by_id(&InvoiceId::new("inv-a"))
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            t.db.invoice_by_id(&InvoiceId::new("inv-b"))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            t.db.invoice_status_counts().await.unwrap(),
            [("open".to_owned(), 1)]
        );
    }
}

#[tokio::test]
async fn an_older_payment_method_change_does_not_replace_a_newer_one() {
    for t in each_backend().await {
        subscription(&t.db, "fay").await;
        let set = |pm: &str, at: i64| Changes {
            ops: vec![Change::SetCustomerPaymentMethod {
                customer_id: "user-fay".into(),
                payment_method_id: Some(pm.into()),
                card: None,
                changed_at: at,
            }],
        };
        assert_eq!(
            t.db.apply_changes(&set("pm_new", 200)).await.unwrap(),
            Applied::Done
        );
        assert_eq!(
            stale_guard(t.db.apply_changes(&set("pm_old", 100)).await.unwrap()),
            Some(StaleGuard::PaymentMethodNewer)
        );
        let customer = t.db.billing_customer("user-fay").await.unwrap().unwrap();
        assert_eq!(
            customer.default_payment_method_id.as_deref(),
            Some("pm_new")
        );
        assert_eq!(customer.payment_method_changed_at, Some(200));
    }
}

#[tokio::test]
async fn due_subscriptions_are_those_whose_period_ended_and_billing_must_act_on() {
    for t in each_backend().await {
        let due = subscription(&t.db, "gil").await;
        let later = subscription(&t.db, "hal").await;
        let suspended = subscription(&t.db, "ivy").await;
        for (id, end, status) in [(&later, 31 * DAY, "active"), (&suspended, DAY, "suspended")] {
            let mut changes = renewal(id, 0, &format!("inv-{id}"));
            changes.ops.truncate(1);
            if let Change::UpdateSubscription(update) = &mut changes.ops[0] {
                update.current_period_end = end;
                update.current_period_start = 0;
                update.status = status.parse::<SubscriptionStatus>().expect("a status");
            }
            assert_eq!(t.db.apply_changes(&changes).await.unwrap(), Applied::Done);
        }
        t.db.add_usage(&due, 0, 30 * DAY, 3, 1_000).await.unwrap();
        let rows = t.db.due_subscriptions(30 * DAY, 10).await.unwrap();
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, [due.as_str()]);
        assert_eq!(
            (rows[0].period_notifications, rows[0].period_data_bytes),
            (3, 1_000)
        );
        assert_eq!(rows[0].customer_email, "gil@example.com");
        assert_eq!(rows[0].device_lifecycle, "active_subscription");
    }
}

#[tokio::test]
async fn queued_jobs_are_cancelled_by_key_prefix_and_unknown_kinds_stay_queued() {
    for t in each_backend().await {
        for (id, kind, key) in [
            ("j1", "payment_retry", "payment_retry:sub-1:1"),
            ("j2", "payment_retry", "payment_retry:sub-1:2"),
            ("j3", "payment_retry", "payment_retry:sub-10:1"),
            ("j4", "from_the_future", "x"),
        ] {
            let changes = Changes {
                ops: vec![Change::EnqueueJob(QueuedJob {
                    id: id.into(),
                    kind: kind.into(),
                    payload: "{}".into(),
                    unique_key: Some(key.into()),
                    run_at: 0,
                    max_attempts: 3,
                })],
            };
            t.db.apply_changes(&changes).await.unwrap();
        }
        let cancel = Changes {
            ops: vec![Change::CancelQueuedJobs {
                key_prefix: "payment_retry:sub-1:".into(),
                reason: "canceled: paid".into(),
                now: 9,
            }],
        };
        t.db.apply_changes(&cancel).await.unwrap();
        let j1 = t.db.job_by_id("j1").await.unwrap().unwrap();
        assert_eq!(
            (j1.status.as_str(), j1.last_error.as_deref()),
            ("done", Some("canceled: paid"))
        );
        assert_eq!(
            t.db.job_by_id("j3").await.unwrap().unwrap().status,
            "queued"
        );

        let claimed =
            t.db.claim_job_of_kinds("w", &["payment_retry"], 10, 1_000)
                .await
                .unwrap();
        assert_eq!(claimed.map(|j| j.id), Some("j3".to_owned()));
        assert!(
            t.db.claim_job_of_kinds("w", &["payment_retry"], 10, 1_000)
                .await
                .unwrap()
                .is_none(),
            "the unknown kind is not claimed"
        );
        assert_eq!(
            t.db.job_by_id("j4").await.unwrap().unwrap().status,
            "queued"
        );
        t.db.enqueue_job(&NewJob {
            id: "j5",
            kind: "payment_retry",
            payload: serde_json::json!({}),
            unique_key: None,
            run_at: 0,
            max_attempts: 1,
        })
        .await
        .unwrap();
        assert!(
            t.db.claim_job_of_kinds("w", &[], 10, 1_000)
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn a_batch_of_distinct_subscriptions_is_written_at_once_except_the_stale_ones() {
    for t in each_backend().await {
        let subs = [
            subscription(&t.db, "ka").await,
            subscription(&t.db, "kb").await,
            subscription(&t.db, "kc").await,
        ];
        let batch = [
            renewal(&subs[0], 0, "inv-ka"),
            renewal(&subs[1], 3, "inv-kb"),
            renewal(&subs[2], 0, "inv-kc"),
        ];
        let results = t.db.apply_changes_batch(&batch).await.unwrap();
        assert_eq!(results[0], Applied::Done);
        assert_eq!(
            stale_guard(results[1]),
            Some(StaleGuard::SubscriptionVersion)
        );
        assert_eq!(results[2], Applied::Done);
        let a =
            t.db.invoice_by_id(&InvoiceId::new("inv-ka"))
                .await
                .unwrap()
                .unwrap();
        let c =
            t.db.invoice_by_id(&InvoiceId::new("inv-kc"))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(
            (a.number.as_str(), c.number.as_str()),
            ("SB-0000001", "SB-0000002")
        );
        assert!(
            t.db.invoice_by_id(&InvoiceId::new("inv-kb"))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            t.db.invoice_lines(&InvoiceId::new("inv-kc"))
                .await
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            t.db.payments_of_invoice(&InvoiceId::new("inv-kc"))
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(t.db.usage_history(&subs[2]).await.unwrap().len(), 1);
        assert_eq!(
            t.db.audit_for("subscription", &subs[1])
                .await
                .unwrap()
                .len(),
            0
        );
        let row = t.db.billing_subscription(&subs[2]).await.unwrap().unwrap();
        assert_eq!((row.version, row.current_period_end), (1, 61 * DAY));
        // The next invoice number continues after the batch.
        t.db.apply_changes(&renewal(&subs[1], 0, "inv-kb2"))
            .await
            .unwrap();
        let b =
            t.db.invoice_by_id(&InvoiceId::new("inv-kb2"))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(b.number, "SB-0000003");
    }
}

#[tokio::test]
async fn a_guard_failing_inside_a_batch_falls_back_to_one_set_at_a_time() {
    for t in each_backend().await {
        let a = subscription(&t.db, "la").await;
        let b = subscription(&t.db, "lb").await;
        t.db.apply_changes(&renewal(&b, 0, "inv-lb")).await.unwrap();
        let second_in_flight = Changes {
            ops: vec![Change::InsertPayment(pending("inv-lb-a2", "inv-lb"))],
        };
        let results =
            t.db.apply_changes_batch(&[renewal(&a, 0, "inv-la"), second_in_flight])
                .await
                .unwrap();
        assert_eq!(results[0], Applied::Done);
        assert_eq!(stale_guard(results[1]), Some(StaleGuard::PaymentExists));
        assert!(
            t.db.invoice_by_id(&InvoiceId::new("inv-la"))
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            t.db.payments_of_invoice(&InvoiceId::new("inv-lb"))
                .await
                .unwrap()
                .len(),
            1
        );
        // A status guard failing in a batch falls back too.
        let results =
            t.db.apply_changes_batch(&[
                settle("inv-la-a1", "succeeded"),
                settle("inv-la-a1", "failed"),
            ])
            .await
            .unwrap();
        assert_eq!(results[0], Applied::Done);
        assert_eq!(stale_guard(results[1]), Some(StaleGuard::PaymentStatus));
    }
}

#[tokio::test]
async fn an_idle_claim_only_reads_so_it_never_waits_for_the_write_lock() {
    let t = testing::sqlite().await;
    // Another writer holds SQLite's one write lock, as the device API's group commit does.
    let writer = testing::hold_write_lock(&t.db)
        .await
        .expect("testing::sqlite is SQLite");
    let claimed = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        t.db.claim_job_of_kinds("w", &["payment_retry"], 10, 1_000),
    )
    .await
    .expect("a poll with nothing due answers without waiting for the writer");
    assert_eq!(claimed.unwrap().map(|j| j.id), None);
    writer.release().await;
}
