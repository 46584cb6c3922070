//! The storage suite: every test runs on SQLite, and on PostgreSQL too when
//! `SMARTBOX_TEST_POSTGRES_URL` is set, each on a database of its own.

use smartbox_domain::{DeviceId, SubscriptionId, SubscriptionStatus, UserId};
use smartbox_store::testing::{self, TestDb};
use smartbox_store::{
    Db, EventInsert, FirmwareImageRow, NewAuditEntry, NewDevice, NewJob, NewSubscription, NewUser,
    PhotoInsert, PlanRow, StoreError, TrafficBatch, UsageDelta, VitalsRow,
};

async fn each_backend() -> Vec<TestDb> {
    let dbs = testing::all().await;
    let names: Vec<_> = dbs.iter().map(|t| t.db.backend().as_str()).collect();
    println!("storage suite backends: {}", names.join(", "));
    dbs
}

fn device(serial: &str) -> NewDevice {
    NewDevice {
        id: format!("dev-{serial}"),
        serial: serial.to_owned(),
        secret_ciphertext: vec![1, 2, 3],
        claim_code_hash: format!("hash-{serial}"),
        created_at: 1_000,
    }
}

async fn customer_with_device(db: &Db, serial: &str) -> (String, String) {
    let user_id = format!("user-{serial}");
    db.insert_user(&NewUser {
        id: &user_id,
        email: &format!("{}@example.com", serial.to_lowercase()),
        password_hash: "argon2id$...",
        role: "customer",
        created_at: 1_000,
    })
    .await
    .unwrap();
    db.insert_devices(&[device(serial)]).await.unwrap();
    let device_id = format!("dev-{serial}");
    assert!(
        db.claim_device(&DeviceId::new(&device_id), &UserId::new(&user_id), 2_000)
            .await
            .unwrap()
    );
    (user_id, device_id)
}

/// Saves WiFi credentials as the portal's service does: one change set.
async fn save_wifi(db: &Db, device_id: &str, ssid: &str, sealed: Vec<u8>, version: i64) {
    let mut changes = smartbox_store::changes::Changes::new();
    changes.push(smartbox_store::changes::Change::SetDeviceWifi {
        device_id: device_id.to_owned(),
        ssid: ssid.to_owned(),
        sealed,
        version,
    });
    db.apply_changes(&changes).await.unwrap();
}

async fn seed_plan(db: &Db) {
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
}

async fn subscribe(db: &Db, user_id: &str, device_id: &str, id: &str) {
    seed_plan(db).await;
    db.insert_subscription(&NewSubscription {
        id,
        device_id,
        customer_id: user_id,
        plan_id: "basic",
        status: SubscriptionStatus::Trialing,
        anchor_at: 10_000,
        current_period_start: 2_000,
        current_period_end: 10_000,
        created_at: 2_000,
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_taken_email_is_a_conflict() {
    for t in each_backend().await {
        let user = NewUser {
            id: "u1",
            email: "a@example.com",
            password_hash: "h",
            role: "customer",
            created_at: 1,
        };
        t.db.insert_user(&user).await.unwrap();
        let again =
            t.db.insert_user(&NewUser {
                id: "u2",
                ..user.clone()
            })
            .await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
        let found = t.db.user_by_email("a@example.com").await.unwrap().unwrap();
        assert_eq!(found.id, "u1");
        assert_eq!(found.role, "customer");
    }
}

#[tokio::test]
async fn importing_a_known_serial_names_it_and_imports_nothing() {
    for t in each_backend().await {
        t.db.insert_devices(&[device("SB-0001")]).await.unwrap();
        let err =
            t.db.insert_devices(&[device("SB-0002"), {
                let mut d = device("SB-0001");
                d.id = "other".into();
                d
            }])
            .await;
        match err {
            Err(StoreError::Conflict(serial)) => assert_eq!(serial, "SB-0001"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert!(
            t.db.device_by_serial("SB-0002").await.unwrap().is_none(),
            "all or nothing"
        );
        let stored = t.db.device_by_serial("SB-0001").await.unwrap().unwrap();
        assert_eq!(stored.lifecycle_state, "pre_activation");
        assert_eq!(stored.secret_ciphertext, vec![1, 2, 3]);
        assert_eq!(stored.checkin_interval_s, 21_600);
    }
}

#[tokio::test]
async fn a_device_is_claimed_once() {
    for t in each_backend().await {
        let (user_id, device_id) = customer_with_device(&t.db, "SB-0003").await;
        assert!(
            !t.db
                .claim_device(
                    &DeviceId::new(&device_id),
                    &UserId::new("someone-else"),
                    3_000
                )
                .await
                .unwrap()
        );
        let stored = t.db.device_by_id(&device_id).await.unwrap().unwrap();
        assert_eq!(stored.owner_id.as_deref(), Some(user_id.as_str()));
        assert_eq!(stored.lifecycle_state, "active_subscription");
        assert_eq!(stored.claimed_at, Some(2_000));
        assert_eq!(t.db.devices_of_owner(&user_id).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn wifi_credentials_are_replaced_by_a_new_save_and_keep_the_device_report() {
    for t in each_backend().await {
        let (_, device_id) = customer_with_device(&t.db, "SB-0400").await;
        assert_eq!(
            t.db.device_wifi(&DeviceId::new(device_id.as_str()))
                .await
                .unwrap(),
            None
        );
        save_wifi(&t.db, &device_id, "home", vec![1, 2], 5_000).await;
        t.db.record_wifi_report(&DeviceId::new(device_id.as_str()), 5_000, "joined", 6_000)
            .await
            .unwrap();
        save_wifi(&t.db, &device_id, "cabin", vec![3, 4], 7_000).await;
        let row =
            t.db.device_wifi(&DeviceId::new(device_id.as_str()))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(
            (row.ssid.as_str(), row.sealed.as_slice(), row.version),
            ("cabin", &[3_u8, 4][..], 7_000)
        );
        assert_eq!(
            (row.reported_version, row.reported_status.as_deref()),
            (5_000, Some("joined"))
        );
    }
}

#[tokio::test]
async fn a_heartbeat_extends_the_series_whose_newest_row_is_the_device_latest() {
    for t in each_backend().await {
        let (_, device_id) = customer_with_device(&t.db, "SB-0004").await;
        for (at, battery) in [(5_000, 90), (6_000, 89)] {
            t.db.record_vitals(&VitalsRow {
                device_id: device_id.clone(),
                recorded_at: at,
                battery_percentage: battery,
                power_state: "awake".into(),
                signal_dbm: -85,
                network: "cellular".into(),
                firmware_version: "1.0.0".into(),
                modem_tx_bytes: 100,
                modem_rx_bytes: 200,
                sd_queue_len: 0,
                sd_oldest_age_s: None,
                sd_failed_deliveries: None,
            })
            .await
            .unwrap();
        }
        let stored = t.db.device_by_id(&device_id).await.unwrap().unwrap();
        assert_eq!(stored.battery_percentage, Some(89));
        assert_eq!(stored.last_seen_at, Some(6_000));
        let series =
            t.db.vitals_since(&DeviceId::new(device_id.as_str()), 5_500)
                .await
                .unwrap();
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].battery_percentage, 89);
    }
}

#[tokio::test]
async fn a_device_has_at_most_one_live_subscription() {
    for t in each_backend().await {
        let (user_id, device_id) = customer_with_device(&t.db, "SB-0005").await;
        subscribe(&t.db, &user_id, &device_id, "sub-1").await;
        let second = NewSubscription {
            id: "sub-2",
            device_id: &device_id,
            customer_id: &user_id,
            plan_id: "basic",
            status: SubscriptionStatus::Trialing,
            anchor_at: 1,
            current_period_start: 1,
            current_period_end: 2,
            created_at: 1,
        };
        assert!(
            t.db.insert_subscription(&second)
                .await
                .unwrap_err()
                .is_conflict()
        );
        assert!(
            t.db.set_subscription_status(
                &SubscriptionId::new("sub-1"),
                SubscriptionStatus::Trialing,
                SubscriptionStatus::Canceled,
                3,
            )
            .await
            .unwrap()
        );
        let live =
            t.db.live_subscription_of_device(&DeviceId::new(device_id.as_str()))
                .await
                .unwrap();
        assert!(live.is_none(), "a canceled subscription is not live");
    }
}

#[tokio::test]
async fn usage_counters_add_up_per_period_and_keep_history() {
    for t in each_backend().await {
        let (user_id, device_id) = customer_with_device(&t.db, "SB-0006").await;
        subscribe(&t.db, &user_id, &device_id, "sub-u").await;
        assert_eq!(t.db.usage("sub-u", 0, 100).await.unwrap().notifications, 0);
        t.db.add_usage("sub-u", 0, 100, 1, 500).await.unwrap();
        t.db.add_usage("sub-u", 0, 100, 1, 700).await.unwrap();
        t.db.add_usage("sub-u", 100, 200, 0, 10).await.unwrap();
        let first = t.db.usage("sub-u", 0, 100).await.unwrap();
        assert_eq!((first.notifications, first.data_bytes), (2, 1_200));
        let history = t.db.usage_history("sub-u").await.unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[1].data_bytes, 10);
    }
}

#[tokio::test]
async fn an_event_completes_once_when_its_last_photo_arrives_even_when_photos_are_resent() {
    for t in each_backend().await {
        let (_, device_id) = customer_with_device(&t.db, "SB-0007").await;
        let event = EventInsert {
            id: "0b0e7a4e-0000-4000-8000-000000000001",
            device_id: &device_id,
            subscription_id: None,
            kind: "mail_arrived",
            occurred_at: 7_000,
            photo_count: 3,
            created_at: 7_001,
        };
        assert!(t.db.insert_event(&event, "job-a").await.unwrap());
        assert!(
            !t.db.insert_event(&event, "job-b").await.unwrap(),
            "the same event again is not new"
        );
        let photo = |idx: i64, job: &'static str| PhotoInsert {
            event_id: event.id,
            idx,
            blob_key: "photos/x",
            size_bytes: 60_000,
            sha256: "00",
            created_at: 7_100 + idx,
            completion_job_id: job,
        };
        assert!(
            !t.db
                .insert_photo(&photo(0, "j0"))
                .await
                .unwrap()
                .completed_event
        );
        assert!(
            !t.db
                .insert_photo(&photo(1, "j1"))
                .await
                .unwrap()
                .completed_event
        );
        let resent = t.db.insert_photo(&photo(1, "j1b")).await.unwrap();
        assert!(!resent.new && !resent.completed_event);
        let last = t.db.insert_photo(&photo(2, "j2")).await.unwrap();
        assert!(last.new && last.completed_event);
        let again = t.db.insert_photo(&photo(2, "j2b")).await.unwrap();
        assert!(!again.new && !again.completed_event);
        let stored = t.db.event_by_id(event.id).await.unwrap().unwrap();
        assert_eq!(stored.photos_received, 3);
        assert_eq!(stored.completed_at, Some(7_102));
        assert_eq!(t.db.photos_of_event(event.id).await.unwrap().len(), 3);
        assert_eq!(t.db.count_jobs("event_completed").await.unwrap(), 1);
        assert_eq!(
            t.db.events_of_device(&device_id, None, 10)
                .await
                .unwrap()
                .len(),
            1
        );
    }
}

#[tokio::test]
async fn a_unique_job_is_enqueued_once_and_claimed_by_one_worker() {
    for t in each_backend().await {
        let job = |id: &'static str| NewJob {
            id,
            kind: "trial_end",
            payload: serde_json::json!({"subscription_id": "s"}),
            unique_key: Some("trial_end:s"),
            run_at: 100,
            max_attempts: 5,
        };
        assert!(t.db.enqueue_job(&job("j1")).await.unwrap());
        assert!(!t.db.enqueue_job(&job("j2")).await.unwrap());
        assert!(
            t.db.claim_job("w1", 50, 1_000).await.unwrap().is_none(),
            "not due yet"
        );
        let claimed = t.db.claim_job("w1", 100, 1_000).await.unwrap().unwrap();
        assert_eq!((claimed.id.as_str(), claimed.attempts), ("j1", 1));
        assert!(
            t.db.claim_job("w2", 200, 1_000).await.unwrap().is_none(),
            "leased to w1"
        );
        // w1 dies; after the lease w2 takes over and w1 can no longer complete it.
        let taken_over = t.db.claim_job("w2", 1_101, 1_000).await.unwrap().unwrap();
        assert_eq!(taken_over.attempts, 2);
        assert!(!t.db.complete_job("j1", "w1", 1_102).await.unwrap());
        assert!(t.db.complete_job("j1", "w2", 1_103).await.unwrap());
        assert_eq!(t.db.job_by_id("j1").await.unwrap().unwrap().status, "done");
    }
}

#[tokio::test]
async fn a_renewed_lease_keeps_the_job_and_a_lapsed_one_is_taken_over() {
    for t in each_backend().await {
        t.db.enqueue_job(&NewJob {
            id: "long",
            kind: "event_completed",
            payload: serde_json::json!({}),
            unique_key: None,
            run_at: 0,
            max_attempts: 5,
        })
        .await
        .unwrap();
        t.db.claim_job("w1", 0, 1_000).await.unwrap().unwrap();
        assert!(
            t.db.renew_job_lease("long", "w1", 1_900, 900)
                .await
                .unwrap()
        );
        assert!(
            t.db.claim_job("w2", 1_500, 1_000).await.unwrap().is_none(),
            "renewed past its first lease"
        );
        assert!(
            !t.db
                .renew_job_lease("long", "w2", 9_000, 1_500)
                .await
                .unwrap(),
            "only its holder renews a lease"
        );
        // w1 dies and renews no more: the lease lapses and w2 takes the job over.
        let taken_over = t.db.claim_job("w2", 1_901, 1_000).await.unwrap().unwrap();
        assert_eq!(taken_over.locked_by.as_deref(), Some("w2"));
        assert!(
            !t.db
                .renew_job_lease("long", "w1", 3_000, 1_902)
                .await
                .unwrap()
        );
        assert!(t.db.complete_job("long", "w2", 1_903).await.unwrap());
    }
}

/// Enqueues a job of one attempt, with an empty payload and no unique key.
async fn enqueue_once(db: &Db, id: &str, kind: &str, run_at: i64) {
    db.enqueue_job(&NewJob {
        id,
        kind,
        payload: serde_json::json!({}),
        unique_key: None,
        run_at,
        max_attempts: 1,
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn pruning_deletes_only_jobs_done_before_the_cutoff() {
    for t in each_backend().await {
        for (id, run_at) in [
            ("old-done", 1),
            ("old-failed", 2),
            ("new-done", 3),
            ("queued", 1_000_000),
        ] {
            enqueue_once(&t.db, id, "notify", run_at).await;
        }
        for (now, finish) in [(10, "old-done"), (20, "old-failed"), (500, "new-done")] {
            let claimed = t.db.claim_job("w", now, 1_000).await.unwrap().unwrap();
            assert_eq!(claimed.id, finish, "due first at {now}");
            if finish == "old-failed" {
                assert!(t.db.fail_job(finish, "w", "boom", None, now).await.unwrap());
            } else {
                assert!(t.db.complete_job(finish, "w", now).await.unwrap());
            }
        }
        assert_eq!(t.db.prune_done_jobs(100, 1_000).await.unwrap(), 1);
        assert_eq!(t.db.prune_done_jobs(100, 1_000).await.unwrap(), 0);
        assert!(t.db.job_by_id("old-done").await.unwrap().is_none());
        for kept in ["new-done", "old-failed", "queued"] {
            assert!(
                t.db.job_by_id(kept).await.unwrap().is_some(),
                "{kept} on {}",
                t.db.backend().as_str()
            );
        }
    }
}

#[tokio::test]
async fn queued_jobs_are_counted_by_kind_as_due_now_or_later() {
    for t in each_backend().await {
        for (id, kind, run_at) in [
            ("a1", "notify", 10),
            ("a2", "notify", 20),
            ("a3", "notify", 5_000),
            ("b1", "billing", 6_000),
            ("running", "billing", 1),
            ("done", "seal", 1),
        ] {
            enqueue_once(&t.db, id, kind, run_at).await;
        }
        // The two due first (run_at 1) are claimed: one stays running, one is done; neither
        // is queued any more.
        let running = t.db.claim_job("w", 100, 1_000).await.unwrap().unwrap();
        let done = t.db.claim_job("w", 100, 1_000).await.unwrap().unwrap();
        assert_eq!(running.run_at + done.run_at, 2);
        assert!(t.db.complete_job(&done.id, "w", 100).await.unwrap());
        let queued = t.db.queued_jobs_by_kind(100).await.unwrap();
        let counts: Vec<_> = queued
            .iter()
            .map(|q| (q.kind.as_str(), q.due, q.later))
            .collect();
        assert_eq!(
            counts,
            [("billing", 0, 1), ("notify", 2, 1)],
            "{}",
            t.db.backend().as_str()
        );
    }
}

#[tokio::test]
async fn a_failed_job_backs_off_then_fails_for_good_and_can_be_retried() {
    for t in each_backend().await {
        let job = NewJob {
            id: "f1",
            kind: "notify",
            payload: serde_json::json!({}),
            unique_key: None,
            run_at: 0,
            max_attempts: 2,
        };
        t.db.enqueue_job(&job).await.unwrap();
        t.db.claim_job("w", 0, 10).await.unwrap().unwrap();
        assert!(
            t.db.fail_job("f1", "w", "smtp refused", Some(500), 1)
                .await
                .unwrap()
        );
        assert!(
            t.db.claim_job("w", 499, 10).await.unwrap().is_none(),
            "backing off"
        );
        t.db.claim_job("w", 500, 10).await.unwrap().unwrap();
        assert!(
            t.db.fail_job("f1", "w", "smtp refused again", None, 501)
                .await
                .unwrap()
        );
        let failed =
            t.db.jobs_with_status(Some("notify"), "failed", 10)
                .await
                .unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].last_error.as_deref(), Some("smtp refused again"));
        assert!(t.db.retry_failed_job("f1", 600).await.unwrap());
        assert_eq!(
            t.db.claim_job("w", 600, 10)
                .await
                .unwrap()
                .unwrap()
                .attempts,
            1
        );
    }
}

#[tokio::test]
async fn two_workers_racing_never_run_the_same_job() {
    for t in each_backend().await {
        for i in 0..40 {
            let id = format!("race-{i:02}");
            t.db.enqueue_job(&NewJob {
                id: &id,
                kind: "k",
                payload: serde_json::json!({}),
                unique_key: None,
                run_at: 0,
                max_attempts: 1,
            })
            .await
            .unwrap();
        }
        let worker = |db: Db, name: &'static str| async move {
            let mut got = Vec::new();
            while let Some(job) = db.claim_job(name, 10, 60_000).await.unwrap() {
                got.push(job.id);
            }
            got
        };
        let (a, b) = tokio::join!(
            tokio::spawn(worker(t.db.clone(), "a")),
            tokio::spawn(worker(t.db.clone(), "b"))
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let mut all: Vec<_> = a.iter().chain(b.iter()).cloned().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 40, "every job claimed");
        assert_eq!(a.len() + b.len(), 40, "no job claimed twice");
    }
}

#[tokio::test]
async fn audit_entries_and_firmware_images_are_kept() {
    for t in each_backend().await {
        t.db.append_audit(&NewAuditEntry {
            at: 1,
            actor: "system",
            entity_type: "subscription",
            entity_id: "s1",
            action: "past_due",
            detail: serde_json::json!({"reason": "card_declined"}),
        })
        .await
        .unwrap();
        let log = t.db.audit_for("subscription", "s1").await.unwrap();
        assert_eq!(log.len(), 1);
        assert!(log[0].detail.contains("card_declined"));

        let image = FirmwareImageRow {
            version: "1.1.0".into(),
            size_bytes: 3,
            sha256: "ab".into(),
            signature: "cd".into(),
            blob_key: "firmware/1.1.0".into(),
            created_at: 5,
            staged: false,
            hardware_revision: "esp32c6".into(),
        };
        t.db.insert_firmware_image(&image).await.unwrap();
        assert!(
            t.db.insert_firmware_image(&image)
                .await
                .unwrap_err()
                .is_conflict()
        );
        assert_eq!(t.db.latest_firmware("esp32c6").await.unwrap(), Some(image));
        assert_eq!(
            t.db.latest_firmware("esp32c6-r2").await.unwrap(),
            None,
            "an image is for its own board only"
        );
        assert!(
            t.db.mark_stripe_event_processed("evt_1", "payment_intent.succeeded", 1, 2)
                .await
                .unwrap()
        );
        assert!(
            !t.db
                .mark_stripe_event_processed("evt_1", "payment_intent.succeeded", 1, 3)
                .await
                .unwrap()
        );
    }
}

fn vitals(device_id: &str, at: i64, battery: i64) -> VitalsRow {
    VitalsRow {
        device_id: device_id.to_owned(),
        recorded_at: at,
        battery_percentage: battery,
        power_state: "awake".into(),
        signal_dbm: -80,
        network: "cellular".into(),
        firmware_version: "1.0.0".into(),
        modem_tx_bytes: at,
        modem_rx_bytes: 2 * at,
        sd_queue_len: 0,
        sd_oldest_age_s: None,
        sd_failed_deliveries: None,
    }
}

fn usage_delta(subscription_id: &str, period_start: i64, data_bytes: i64) -> UsageDelta {
    UsageDelta {
        subscription_id: subscription_id.to_owned(),
        period_start,
        period_end: period_start + 100,
        notifications: 0,
        data_bytes,
    }
}

#[tokio::test]
async fn the_device_api_reads_a_device_with_its_live_subscription_in_one_query() {
    for t in each_backend().await {
        assert_eq!(t.db.device_access_by_serial("SB-0101").await.unwrap(), None);
        t.db.insert_devices(&[device("SB-0100")]).await.unwrap();
        let bare =
            t.db.device_access_by_serial("SB-0100")
                .await
                .unwrap()
                .unwrap();
        assert_eq!(bare.lifecycle_state, "pre_activation");
        assert_eq!(bare.secret_ciphertext, vec![1, 2, 3]);
        assert_eq!(bare.subscription_id, None);

        let (user_id, device_id) = customer_with_device(&t.db, "SB-0102").await;
        subscribe(&t.db, &user_id, &device_id, "sub-a").await;
        t.db.set_spend_cap(&SubscriptionId::new("sub-a"), Some(0), 3_000)
            .await
            .unwrap();
        let access =
            t.db.device_access_by_serial("SB-0102")
                .await
                .unwrap()
                .unwrap();
        assert_eq!(access.device_id, device_id);
        assert_eq!(access.subscription_id.as_deref(), Some("sub-a"));
        assert_eq!(access.plan_id.as_deref(), Some("basic"));
        assert_eq!(access.subscription_status.as_deref(), Some("trialing"));
        assert_eq!(access.anchor_at, Some(10_000));
        assert_eq!(access.spend_cap_cents, Some(0));

        t.db.set_subscription_status(
            &SubscriptionId::new("sub-a"),
            SubscriptionStatus::Trialing,
            SubscriptionStatus::Canceled,
            4_000,
        )
        .await
        .unwrap();
        let access =
            t.db.device_access_by_serial("SB-0102")
                .await
                .unwrap()
                .unwrap();
        assert_eq!(
            access.subscription_id, None,
            "a canceled subscription is not live"
        );
    }
}

#[tokio::test]
async fn a_late_sample_joins_the_series_without_replacing_the_newest_vitals() {
    for t in each_backend().await {
        let (_, device) = customer_with_device(&t.db, "SB-0112").await;
        t.db.write_device_traffic(&[vitals(&device, 9_000, 50)], &[])
            .await
            .unwrap();
        // A sample held on the SD card arrives after a newer one; then the newest instant is
        // reported again (a retried heartbeat) with another reading.
        t.db.write_device_traffic(&[vitals(&device, 8_000, 60)], &[])
            .await
            .unwrap();
        let stored = t.db.device_by_id(&device).await.unwrap().unwrap();
        assert_eq!(
            (stored.battery_percentage, stored.last_seen_at),
            (Some(50), Some(9_000))
        );
        t.db.write_device_traffic(&[vitals(&device, 9_000, 49)], &[])
            .await
            .unwrap();
        let stored = t.db.device_by_id(&device).await.unwrap().unwrap();
        assert_eq!(
            (stored.battery_percentage, stored.last_seen_at),
            (Some(49), Some(9_000))
        );
        assert_eq!(
            t.db.vitals_since(&DeviceId::new(device.as_str()), 0)
                .await
                .unwrap()
                .len(),
            2
        );
    }
}

#[tokio::test]
async fn a_batch_of_heartbeats_keeps_every_sample_and_the_newest_vitals_per_device() {
    for t in each_backend().await {
        let (user_a, device_a) = customer_with_device(&t.db, "SB-0110").await;
        let (user_b, device_b) = customer_with_device(&t.db, "SB-0111").await;
        subscribe(&t.db, &user_a, &device_a, "sub-a").await;
        subscribe(&t.db, &user_b, &device_b, "sub-b").await;
        t.db.add_usage("sub-a", 0, 100, 1, 1_000).await.unwrap();
        let batch = [
            vitals(&device_a, 5_000, 90),
            vitals(&device_b, 5_001, 70),
            vitals(&device_a, 5_002, 88),
        ];
        let usage = [
            usage_delta("sub-a", 0, 300),
            usage_delta("sub-b", 0, 50),
            usage_delta("sub-a", 0, 200),
            usage_delta("sub-a", 100, 7),
        ];
        t.db.write_device_traffic(&batch, &usage).await.unwrap();

        assert_eq!(
            t.db.vitals_since(&DeviceId::new(device_a.as_str()), 0)
                .await
                .unwrap()
                .len(),
            2
        );
        let a = t.db.device_by_id(&device_a).await.unwrap().unwrap();
        assert_eq!(
            (a.battery_percentage, a.last_seen_at),
            (Some(88), Some(5_002))
        );
        assert_eq!(a.modem_rx_bytes, Some(10_004));
        let b = t.db.device_by_id(&device_b).await.unwrap().unwrap();
        assert_eq!(
            (b.battery_percentage, b.network.as_deref()),
            (Some(70), Some("cellular"))
        );

        let a0 = t.db.usage("sub-a", 0, 100).await.unwrap();
        assert_eq!((a0.notifications, a0.data_bytes), (1, 1_500));
        assert_eq!(t.db.usage("sub-a", 100, 200).await.unwrap().data_bytes, 7);
        assert_eq!(t.db.usage("sub-b", 0, 100).await.unwrap().data_bytes, 50);

        t.db.write_device_traffic(&[], &[]).await.unwrap();
    }
}

#[tokio::test]
async fn two_reports_of_one_instant_keep_the_later_and_list_the_device_once() {
    for t in each_backend().await {
        let (user_id, device_id) = customer_with_device(&t.db, "SB-0113").await;
        let quiet = t.db.device_by_id(&device_id).await.unwrap().unwrap();
        assert_eq!(
            (
                quiet.power_state.as_str(),
                quiet.last_seen_at,
                quiet.battery_percentage
            ),
            ("sleep", None, None),
            "a device never heard from sleeps and has no vitals"
        );

        t.db.write_device_traffic(
            &[vitals(&device_id, 7_000, 50), vitals(&device_id, 7_000, 51)],
            &[],
        )
        .await
        .unwrap();
        t.db.record_vitals(&vitals(&device_id, 7_000, 52))
            .await
            .unwrap();

        let series =
            t.db.vitals_since(&DeviceId::new(device_id.as_str()), 0)
                .await
                .unwrap();
        assert_eq!(series.len(), 1, "one sample per instant");
        assert_eq!(series[0].battery_percentage, 52, "the later report stands");
        let owned = t.db.devices_of_owner(&user_id).await.unwrap();
        assert_eq!(owned.len(), 1);
        assert_eq!(
            (owned[0].battery_percentage, owned[0].last_seen_at),
            (Some(52), Some(7_000))
        );
    }
}

#[tokio::test]
async fn a_refused_batch_of_heartbeats_stores_nothing_and_the_connection_writes_on() {
    for t in each_backend().await {
        let (_, device_id) = customer_with_device(&t.db, "SB-0114").await;
        let mut writer = t.db.traffic_connection().await.unwrap();
        let refused = TrafficBatch {
            vitals: vec![
                vitals(&device_id, 8_000, 40),
                vitals("no-such-device", 8_000, 41),
            ],
            ..TrafficBatch::default()
        };
        let err = writer.write(&refused).await.unwrap_err();
        assert!(err.is_refusal(), "an unknown device is refused: {err}");
        let stored = TrafficBatch {
            vitals: vec![vitals(&device_id, 9_000, 42)],
            ..TrafficBatch::default()
        };
        writer
            .write(&stored)
            .await
            .expect("the same connection writes the next batch");
        let series =
            t.db.vitals_since(&DeviceId::new(device_id.as_str()), 0)
                .await
                .unwrap();
        let batteries: Vec<_> = series.iter().map(|v| v.battery_percentage).collect();
        assert_eq!(batteries, [42], "nothing of the refused batch was kept");
    }
}

#[tokio::test]
async fn a_batch_larger_than_one_statement_is_written_whole() {
    for t in each_backend().await {
        let (_, device_id) = customer_with_device(&t.db, "SB-0112").await;
        let batch: Vec<_> = (0..1_201)
            .map(|i| vitals(&device_id, 10_000 + i, i % 101))
            .collect();
        t.db.write_device_traffic(&batch, &[]).await.unwrap();
        assert_eq!(
            t.db.vitals_since(&DeviceId::new(device_id.as_str()), 0)
                .await
                .unwrap()
                .len(),
            1_201
        );
        let stored = t.db.device_by_id(&device_id).await.unwrap().unwrap();
        assert_eq!(stored.last_seen_at, Some(11_200));
    }
}

#[tokio::test]
async fn a_new_event_counts_its_notification_and_a_retried_one_does_not() {
    for t in each_backend().await {
        let (user_id, device_id) = customer_with_device(&t.db, "SB-0120").await;
        subscribe(&t.db, &user_id, &device_id, "sub-e").await;
        let event = EventInsert {
            id: "0b0e7a4e-0000-4000-8000-000000000120",
            device_id: &device_id,
            subscription_id: Some("sub-e"),
            kind: "mail_arrived",
            occurred_at: 7_000,
            photo_count: 2,
            created_at: 7_001,
        };
        let one = UsageDelta {
            notifications: 1,
            ..usage_delta("sub-e", 0, 0)
        };
        assert!(
            t.db.insert_event_with_usage(&event, "job-1", Some(&one))
                .await
                .unwrap()
        );
        assert!(
            !t.db
                .insert_event_with_usage(&event, "job-2", Some(&one))
                .await
                .unwrap()
        );
        assert_eq!(t.db.usage("sub-e", 0, 100).await.unwrap().notifications, 1);
        assert_eq!(
            t.db.count_jobs("event_completed").await.unwrap(),
            0,
            "photos pending"
        );
        assert!(!t.db.photo_exists(event.id, 0).await.unwrap());

        let no_photos = EventInsert {
            id: "0b0e7a4e-0000-4000-8000-000000000121",
            photo_count: 0,
            ..event.clone()
        };
        assert!(
            t.db.insert_event_with_usage(&no_photos, "job-3", None)
                .await
                .unwrap()
        );
        assert_eq!(t.db.count_jobs("event_completed").await.unwrap(), 1);
        assert_eq!(t.db.usage("sub-e", 0, 100).await.unwrap().notifications, 1);
    }
}

#[tokio::test]
async fn upgrading_keeps_what_each_device_last_reported() {
    // Schema 8 kept the latest vitals on the devices row; 9 reads them from the series.
    for t in testing::all_at(8).await {
        // Rows as schema 8 wrote them: three devices (one never sampled, one with two samples of
        // one instant, one that never reported) and the samples.
        let blob = match t.db.backend() {
            smartbox_store::Backend::Sqlite => "X'01'",
            smartbox_store::Backend::Postgres => "'\\x01'::bytea",
        };
        testing::execute(
            &t.db,
            &format!("INSERT INTO devices (id, serial, secret_ciphertext, claim_code_hash, lifecycle_state, \
             power_state, battery_percentage, firmware_version, signal_dbm, network, sd_queue_len, \
             modem_tx_bytes, modem_rx_bytes, last_seen_at, created_at) VALUES \
             ('dev-unsampled', 'DEV-UNSAMPLED', {blob}, 'hash', 'active_subscription', 'awake', 61, '1.2.0', -70, 'wifi', 2, 10, 20, 9000, 1000), \
             ('dev-sampled', 'DEV-SAMPLED', {blob}, 'hash', 'active_subscription', 'awake', 40, '1.2.0', -70, 'wifi', 2, 10, 20, 8000, 1000), \
             ('dev-quiet', 'DEV-QUIET', {blob}, 'hash', 'active_subscription', 'awake', NULL, '1.2.0', -70, 'wifi', 2, 10, 20, NULL, 1000); \
             INSERT INTO device_vitals (device_id, recorded_at, battery_percentage, power_state, signal_dbm, \
             network, firmware_version, modem_tx_bytes, modem_rx_bytes, sd_queue_len) VALUES \
             ('dev-sampled', 8000, 41, 'awake', -80, 'cellular', '1.1.0', 1, 2, 0), \
             ('dev-sampled', 8000, 42, 'awake', -80, 'cellular', '1.1.0', 1, 2, 0)"),
        )
        .await;

        t.db.migrate().await.unwrap();

        let unsampled = t.db.device_by_id("dev-unsampled").await.unwrap().unwrap();
        assert_eq!(
            (
                unsampled.battery_percentage,
                unsampled.last_seen_at,
                unsampled.power_state.as_str(),
                unsampled.network.as_deref(),
                unsampled.firmware_version.as_deref()
            ),
            (Some(61), Some(9_000), "awake", Some("wifi"), Some("1.2.0")),
            "a device seen without a series row keeps its last report"
        );
        let sampled = t.db.device_by_id("dev-sampled").await.unwrap().unwrap();
        assert_eq!(
            (sampled.battery_percentage, sampled.last_seen_at),
            (Some(42), Some(8_000)),
            "two samples of one instant: the later stands"
        );
        assert_eq!(
            t.db.vitals_since(&DeviceId::new("dev-sampled"), 0)
                .await
                .unwrap()
                .len(),
            1
        );
        let quiet = t.db.device_by_id("dev-quiet").await.unwrap().unwrap();
        assert_eq!(
            (quiet.power_state.as_str(), quiet.last_seen_at),
            ("sleep", None)
        );
    }
}

#[tokio::test]
async fn a_reading_waits_for_an_unread_earlier_event_of_its_mailbox() {
    for t in each_backend().await {
        let (_, device_id) = customer_with_device(&t.db, "SB-0031").await;
        for (n, at) in [(1, 10_000), (2, 20_000)] {
            let id = format!("0b0e7a4e-0000-4000-8000-00000000003{n}");
            let event = EventInsert {
                id: &id,
                device_id: &device_id,
                subscription_id: None,
                kind: "mail_arrived",
                occurred_at: at,
                photo_count: 1,
                created_at: at + 1,
            };
            assert!(
                t.db.insert_event(&event, &format!("job-{n}"))
                    .await
                    .unwrap()
            );
            let photo = PhotoInsert {
                event_id: &id,
                idx: 0,
                blob_key: "photos/x",
                size_bytes: 60_000,
                sha256: "00",
                created_at: at + 2,
                completion_job_id: &format!("done-{n}"),
            };
            assert!(t.db.insert_photo(&photo).await.unwrap().completed_event);
        }
        let unread = |at, id: &'static str| {
            let db = t.db.clone();
            let device_id = device_id.clone();
            async move {
                db.earlier_event_unread(&device_id, at, id, 0, "classify_event:")
                    .await
                    .expect("read (on PostgreSQL too: the probe's type must decode)")
            }
        };
        assert!(
            unread(20_000, "0b0e7a4e-0000-4000-8000-000000000032").await,
            "{}: the later event waits for the earlier one",
            t.db.backend().as_str()
        );
        assert!(
            !unread(10_000, "0b0e7a4e-0000-4000-8000-000000000031").await,
            "{}: the earliest event has nothing to wait for",
            t.db.backend().as_str()
        );
    }
}
