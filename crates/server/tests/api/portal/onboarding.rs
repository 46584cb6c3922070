//! Onboarding: claim -> sign up or log in -> plan -> trial -> card.

use axum::http::StatusCode;
use smartbox_domain::DeviceId;

use crate::portal::helpers::{encode, spawn_apps, spawn_sqlite};

#[tokio::test]
async fn a_visitor_claims_from_the_qr_link_signs_up_chooses_a_plan_and_saves_a_card() {
    for app in spawn_apps().await {
        let box_ = app.make_devices(&["SB-ONBOARD-1"]).await.remove(0);
        let mut browser = app.browser();
        let link = format!(
            "/claim?serial={}&code={}",
            box_.serial,
            encode(&box_.claim_code)
        );
        let form = browser.get(&link).await;
        assert_eq!(form.status, StatusCode::OK);
        assert!(
            form.body
                .contains(&format!("value=\"{}\"", box_.claim_code)),
            "the QR link fills the form"
        );
        let csrf = form.csrf();
        let claimed = browser
            .post_form(
                "/claim",
                &[
                    ("csrf", &csrf),
                    ("serial", &box_.serial),
                    ("code", &box_.claim_code),
                ],
            )
            .await;
        assert_eq!(
            claimed.location(),
            "/signup",
            "{}: {}",
            app.backend,
            claimed.body
        );
        let signup = browser.get("/signup").await;
        assert!(
            signup.body.contains("SB-ONBOARD-1"),
            "sign-up names the mailbox being claimed"
        );
        let signed = browser
            .sign_up("ivy@example.com", "correct horse battery")
            .await;
        assert_eq!(signed.location(), "/claim/plan");
        let chosen = browser
            .submit("/claim/plan", "/claim/plan", &[("plan", "plus")])
            .await;
        assert_eq!(
            chosen.location(),
            "/billing/payment-method?welcome=1",
            "{}",
            chosen.body
        );

        let device = app
            .state
            .db
            .device_by_serial("SB-ONBOARD-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(device.lifecycle_state, "active_subscription");
        let sub = app
            .state
            .db
            .live_subscription_of_device(&DeviceId::new(device.id.as_str()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (sub.plan_id.as_str(), sub.status.as_str()),
            ("plus", "trialing")
        );
        assert_eq!(
            sub.current_period_end - sub.current_period_start,
            7 * 24 * 3600 * 1000
        );
        let billing = browser.get("/billing").await;
        assert!(
            billing.body.contains("7 days left in your free trial"),
            "{}",
            billing.body
        );
        assert!(billing.body.contains("No card yet."));
        assert!(!billing.body.contains("Remove the card"));

        let declined = browser
            .submit(
                "/billing/payment-method?welcome=1",
                "/billing/payment-method",
                &[
                    ("number", "4000 0000 0000 0002"),
                    ("exp_month", "12"),
                    ("exp_year", "2034"),
                    ("cvc", "123"),
                    ("welcome", "1"),
                ],
            )
            .await;
        assert_eq!(declined.status, StatusCode::PAYMENT_REQUIRED);
        assert!(declined.body.contains("declined"), "{}", declined.body);
        let saved = browser
            .submit(
                "/billing/payment-method?welcome=1",
                "/billing/payment-method",
                &[
                    ("number", "4242 4242 4242 4242"),
                    ("exp_month", "12"),
                    ("exp_year", "2034"),
                    ("cvc", "123"),
                    ("welcome", "1"),
                ],
            )
            .await;
        assert_eq!(saved.location(), "/dashboard?done=card", "{}", saved.body);
        let sub = app
            .state
            .db
            .live_subscription_of_device(&DeviceId::new(device.id.as_str()))
            .await
            .unwrap()
            .unwrap();
        let customer = app
            .state
            .db
            .billing_customer(&sub.customer_id)
            .await
            .unwrap()
            .unwrap();
        assert!(
            customer
                .default_payment_method_id
                .is_some_and(|pm| pm.starts_with("sbx_pm_4242")),
            "the billing engine charges the customer's default card"
        );
        assert!(
            customer
                .provider_customer_id
                .is_some_and(|c| c.starts_with("sbx_cus_"))
        );
        assert!(
            browser
                .get("/billing")
                .await
                .body
                .replace("&#x2f;", "/")
                .contains("Visa ending 4242, expires 12/34")
        );
        let dashboard = browser.get("/dashboard").await;
        assert!(dashboard.body.contains("SB-ONBOARD-1"));
        assert!(dashboard.body.contains("Waiting for its first check-in"));
    }
}

#[tokio::test]
async fn a_logged_in_customer_claims_a_second_mailbox_without_signing_up_again() {
    let app = spawn_sqlite().await;
    let boxes = app.make_devices(&["SB-TWO-1", "SB-TWO-2"]).await;
    let mut browser = app.customer("jo@example.com").await;
    for b in &boxes {
        let claimed = browser
            .submit(
                "/claim",
                "/claim",
                &[("serial", &b.serial), ("code", &b.claim_code)],
            )
            .await;
        assert_eq!(claimed.location(), "/claim/plan");
        let chosen = browser
            .submit("/claim/plan", "/claim/plan", &[("plan", "basic")])
            .await;
        assert_eq!(chosen.status, StatusCode::SEE_OTHER);
    }
    let devices = browser.api("GET", "/api/v1/devices", None).await.json();
    assert_eq!(devices.as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn a_wrong_pair_is_404_a_claimed_mailbox_409_and_guessing_is_rate_limited() {
    let app = spawn_sqlite().await;
    let boxes = app.make_devices(&["SB-CLAIM-1"]).await;
    let b = &boxes[0];
    let mut owner = app.customer("kim@example.com").await;
    let wrong = owner
        .submit(
            "/claim",
            "/claim",
            &[("serial", &b.serial), ("code", "ZZZZ-ZZZZ")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
    assert!(
        wrong.body.contains("could not find a mailbox"),
        "{}",
        wrong.body
    );
    let unknown = owner
        .submit(
            "/claim",
            "/claim",
            &[("serial", "SB-NOPE"), ("code", &b.claim_code)],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    owner
        .submit(
            "/claim",
            "/claim",
            &[("serial", &b.serial), ("code", &b.claim_code)],
        )
        .await;
    owner
        .submit("/claim/plan", "/claim/plan", &[("plan", "basic")])
        .await;

    let mut other = app.browser_from("192.0.2.77:1");
    let taken = other
        .submit(
            "/claim",
            "/claim",
            &[("serial", &b.serial), ("code", &b.claim_code)],
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert!(taken.body.contains("already been claimed"));

    let mut guesser = app.browser_from("198.51.100.99:1");
    for i in 0..10 {
        let code = format!("AAAA{i:04}");
        let answer = guesser
            .submit(
                "/claim",
                "/claim",
                &[("serial", &b.serial), ("code", &code)],
            )
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
    }
    let limited = guesser
        .submit(
            "/claim",
            "/claim",
            &[("serial", &b.serial), ("code", &b.claim_code)],
        )
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_claim_whose_subscription_cannot_be_written_leaves_the_mailbox_unclaimed() {
    use smartbox_domain::{LifecycleState, PlanId, SubscriptionStatus};
    use smartbox_server::provisioning;
    use smartbox_store::NewSubscription;

    for app in spawn_apps().await {
        let serial = app.make_devices(&["SB-ATOMIC-1"]).await.remove(0).serial;
        let db = &app.state.db;
        let device = db.device_by_serial(&serial).await.unwrap().expect("device");
        let user = provisioning::create_user(db, "atom@example.com", "long enough", "customer", 0)
            .await
            .expect("a user");
        // A live subscription already names the mailbox: the claim's second write must fail.
        db.insert_subscription(&NewSubscription {
            id: "sub-in-the-way",
            device_id: &device.id,
            customer_id: &user,
            plan_id: "basic",
            status: SubscriptionStatus::Trialing,
            anchor_at: 1,
            current_period_start: 0,
            current_period_end: 1,
            created_at: 0,
        })
        .await
        .expect("inserted");
        let (_, claimed) =
            provisioning::start_trial(db, &device.id, &user, PlanId::Basic, 0, "cli")
                .await
                .expect("no database error");
        assert!(!claimed, "{}", app.backend);
        let after = db.device_by_id(&device.id).await.unwrap().expect("device");
        assert_eq!(after.lifecycle_state, LifecycleState::PreActivation);
        assert_eq!(
            after.owner_id, None,
            "{}: the claim was undone",
            app.backend
        );
        assert!(
            db.audit_for("device", &device.id).await.unwrap().is_empty(),
            "no audit entry for what did not happen"
        );
    }
}
