//! Issue 23, observability: `GET /metrics` driven as Prometheus drives it (a bearer token, the
//! text format read by a strict reader), after real traffic through the device API, the job
//! runner and the payment provider; and the request id every answer carries. On every
//! configured backend.

mod prometheus;

use smartbox_billing::CardDetails;
use smartbox_domain::PlanId;
use smartbox_notify::testing::smtp::SmtpServer;
use smartbox_server::Clock;
use smartbox_server::device_api::jpeg;
use smartbox_server::jobs::{Worker, registry};
use smartbox_server::notifications::NOTIFY_DELIVERY;
use smartbox_store::EVENT_COMPLETED_JOB;

use crate::helpers::{START, TestApp, event_id, spawn_apps, spawn_apps_with, vitals_body};
use prometheus::Scrape;

const TOKEN: &str = "scrape-token-0123456789abcdef";

async fn metrics_app() -> Vec<TestApp> {
    spawn_apps_with(&[("SMARTBOX_METRICS_TOKEN", TOKEN)]).await
}

/// `GET /metrics` with the token.
async fn get_metrics(app: &TestApp) -> reqwest::Response {
    app.client
        .get(format!("{}/metrics", app.base_url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answered")
}

/// `GET /metrics` with the token, checked and parsed.
async fn scrape(app: &TestApp) -> Scrape {
    let answer = get_metrics(app).await;
    assert_eq!(answer.status(), 200, "{}", app.backend);
    assert_eq!(
        answer.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    prometheus::parse(&answer.text().await.expect("a body"))
}

fn requests(scrape: &Scrape, method: &str, route: &str, status: &str) -> f64 {
    scrape.value(
        "smartbox_http_requests_total",
        &[("method", method), ("route", route), ("status", status)],
    )
}

#[tokio::test]
async fn metrics_are_absent_without_a_token_and_refused_without_the_right_one() {
    for app in spawn_apps().await {
        let answer = get_metrics(&app).await;
        assert_eq!(answer.status(), 404, "unset token: {}", app.backend);
    }
    for app in metrics_app().await {
        let url = format!("{}/metrics", app.base_url);
        let bare = app.client.get(&url).send().await.expect("answered");
        assert_eq!(bare.status(), 401, "{}", app.backend);
        assert_eq!(
            bare.headers()["www-authenticate"],
            "Bearer realm=\"metrics\""
        );
        for wrong in [
            format!("Bearer {TOKEN}x"),
            format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]),
            format!("Basic {TOKEN}"),
            TOKEN.to_owned(),
            "Bearer ".to_owned(),
        ] {
            let answer = app
                .client
                .get(&url)
                .header("authorization", &wrong)
                .send()
                .await
                .expect("answered");
            assert_eq!(answer.status(), 401, "{wrong:?}");
        }
        let scrape = scrape(&app).await;
        // The series without labels are there from the start; a labelled family appears with
        // its first series (the tests below).
        for family in [
            "smartbox_http_requests_total",
            "smartbox_http_request_duration_seconds",
            "smartbox_device_checkins_total",
            "smartbox_group_commit_writes",
            "smartbox_group_commit_duration_seconds",
        ] {
            assert!(scrape.types.contains_key(family), "{family} is declared");
        }
        // The refused scrapes are counted under the route, by status.
        assert_eq!(requests(&scrape, "GET", "/metrics", "401"), 6.0);
    }
}

#[tokio::test]
async fn device_traffic_moves_the_request_checkin_event_and_group_commit_series() {
    for app in metrics_app().await {
        let before = scrape(&app).await;
        let heartbeat = "/api/device/v1/heartbeat";
        let events = "/api/device/v1/events";
        let photo = "/api/device/v1/events/{event_id}/photos/{index}";
        assert_eq!(requests(&before, "POST", heartbeat, "200"), 0.0);

        let device = app.activated_device("METRICS-0001", PlanId::Basic).await;
        assert_eq!(
            app.heartbeat(&device, &vitals_body("1.0.0")).await.status(),
            200
        );
        assert_eq!(
            app.heartbeat(&device, &vitals_body("1.0.0")).await.status(),
            200
        );
        let id = event_id();
        assert_eq!(app.post_event(&device, &id, 1).await.status(), 201);
        assert_eq!(app.post_event(&device, &id, 1).await.status(), 200);
        assert_eq!(
            app.put_photo(&device, &id, 0, jpeg::synthetic(2_000))
                .await
                .status(),
            201
        );
        let stranger = reqwest::get(format!("{}/no/such/page/METRICS-0001", app.base_url))
            .await
            .expect("answered");
        assert_eq!(stranger.status(), 404);

        let after = scrape(&app).await;
        assert_eq!(
            requests(&after, "POST", heartbeat, "200"),
            2.0,
            "{}",
            app.backend
        );
        assert_eq!(requests(&after, "POST", events, "201"), 1.0);
        assert_eq!(requests(&after, "POST", events, "200"), 1.0);
        assert_eq!(requests(&after, "PUT", photo, "201"), 1.0);
        assert_eq!(requests(&after, "GET", "(unmatched)", "404"), 1.0);
        assert_eq!(
            after.value(
                "smartbox_http_request_duration_seconds_count",
                &[("method", "POST"), ("route", heartbeat)]
            ),
            2.0
        );
        assert_eq!(after.value("smartbox_device_checkins_total", &[]), 2.0);
        let events_of = |outcome| {
            after.value(
                "smartbox_mail_events_total",
                &[("kind", "mail_arrived"), ("outcome", outcome)],
            )
        };
        assert_eq!((events_of("new"), events_of("repeat")), (1.0, 1.0));
        // Each request's writes went through the group commit: two heartbeats (vitals and
        // usage), the new event, the repeated event's usage, the photo and its usage.
        let writes = after.value("smartbox_group_commit_writes_sum", &[]);
        let commits = after.value("smartbox_group_commit_writes_count", &[]);
        assert!(
            writes >= 5.0 && commits >= 1.0,
            "{writes} writes in {commits} commits"
        );
        assert_eq!(
            after.value("smartbox_group_commit_duration_seconds_count", &[]),
            commits
        );
        // No label carries a serial, an event id or a path.
        for value in after.label_values() {
            assert!(
                !value.contains("METRICS-0001")
                    && !value.contains(&id)
                    && !value.contains("no/such"),
                "label value {value:?}"
            );
        }
    }
}

#[tokio::test]
async fn the_job_runner_moves_the_queue_job_and_notification_series() {
    let mut smtp = SmtpServer::start().await;
    let smtp_url = smtp.url();
    let apps = spawn_apps_with(&[
        ("SMARTBOX_METRICS_TOKEN", TOKEN),
        ("SMARTBOX_SMTP_URL", &smtp_url),
    ])
    .await;
    for app in apps {
        let worker = Worker::new(app.state.clone(), registry());
        let device = app.activated_device("METRICS-0002", PlanId::Basic).await;
        smtp.refuse_recipients_with("451 4.3.0 try again later");
        assert_eq!(app.post_event(&device, &event_id(), 0).await.status(), 201);

        let queued = scrape(&app).await;
        assert!(
            queued.sum("smartbox_jobs_queued", &[("due", "now")]) >= 1.0,
            "the completed event's job waits: {:?} ({})",
            queued
                .samples
                .iter()
                .filter(|s| s.name == "smartbox_jobs_queued")
                .collect::<Vec<_>>(),
            app.backend
        );

        worker.run_until_idle(100).await.expect("the jobs run");
        let refused = scrape(&app).await;
        let runs = |scrape: &Scrape, kind: &str, outcome: &str| {
            scrape.value(
                "smartbox_job_runs_total",
                &[("kind", kind), ("outcome", outcome)],
            )
        };
        let deliveries = |scrape: &Scrape, outcome: &str| {
            scrape.value(
                "smartbox_notification_deliveries_total",
                &[("channel", "email"), ("outcome", outcome)],
            )
        };
        assert!(
            runs(&refused, EVENT_COMPLETED_JOB, "done") >= 1.0,
            "{}",
            app.backend
        );
        assert_eq!(runs(&refused, NOTIFY_DELIVERY, "retrying"), 1.0);
        assert_eq!(deliveries(&refused, "retrying"), 1.0);
        assert_eq!(deliveries(&refused, "delivered"), 0.0);
        // The retry waits for its backoff: queued for later, none due now.
        assert_eq!(
            refused.value(
                "smartbox_jobs_queued",
                &[("kind", NOTIFY_DELIVERY), ("due", "later")]
            ),
            1.0
        );
        assert_eq!(refused.sum("smartbox_jobs_queued", &[("due", "now")]), 0.0);

        smtp.accept_recipients();
        app.clock.advance_s(11);
        worker.run_until_idle(100).await.expect("the jobs run");
        smtp.next_mail().await;
        let delivered = scrape(&app).await;
        assert_eq!(runs(&delivered, NOTIFY_DELIVERY, "done"), 1.0);
        assert_eq!(deliveries(&delivered, "delivered"), 1.0);
        assert_eq!(
            delivered.value(
                "smartbox_jobs_queued",
                &[("kind", NOTIFY_DELIVERY), ("due", "later")]
            ),
            0.0,
            "nothing of it is queued any more"
        );
    }
}

#[tokio::test]
async fn charges_are_counted_by_the_providers_answer() {
    for app in metrics_app().await {
        let worker = Worker::new(app.state.clone(), registry());
        let billing = app.state.billing();
        for (serial, card) in [
            ("METRICS-0003", "4242424242424242"),
            // Saves, then declines every charge.
            ("METRICS-0004", "4000000000000341"),
        ] {
            let device = app.activated_device(serial, PlanId::Basic).await;
            let customer = app.customer_of(&device).await;
            billing
                .attach_test_card(
                    &customer,
                    &CardDetails::test(card),
                    app.clock.now(),
                    "user:test",
                )
                .await
                .expect("the card is saved");
        }
        // The trials end: each subscription's first invoice is charged by the billing pass.
        let trial_end = START + time::Duration::days(7) + time::Duration::minutes(2);
        app.clock
            .set_ms((trial_end.unix_timestamp_nanos() / 1_000_000) as i64);
        worker.run_until_idle(100).await.expect("the jobs run");

        let scrape = scrape(&app).await;
        let charges =
            |outcome| scrape.value("smartbox_billing_charges_total", &[("outcome", outcome)]);
        assert_eq!(
            (charges("succeeded"), charges("declined"), charges("error")),
            (1.0, 1.0, 0.0),
            "{}",
            app.backend
        );
    }
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_keeps_a_proxys_when_it_is_sane() {
    for app in spawn_apps().await {
        let url = format!("{}/healthz", app.base_url);
        let id_of = |answer: &reqwest::Response| {
            answer.headers()["x-request-id"]
                .to_str()
                .expect("ASCII")
                .to_owned()
        };
        let first = app.client.get(&url).send().await.expect("answered");
        let second = app.client.get(&url).send().await.expect("answered");
        let (first, second) = (id_of(&first), id_of(&second));
        assert!(uuid::Uuid::parse_str(&first).is_ok(), "{first}");
        assert_ne!(first, second, "one id per request");

        let kept = app
            .client
            .get(&url)
            .header("x-request-id", "lb-7f3a:42")
            .send()
            .await
            .expect("answered");
        assert_eq!(id_of(&kept), "lb-7f3a:42", "{}", app.backend);

        for unusable in ["a".repeat(65), "two words".to_owned(), String::new()] {
            let replaced = app
                .client
                .get(&url)
                .header("x-request-id", &unusable)
                .send()
                .await
                .expect("answered");
            let id = id_of(&replaced);
            assert!(
                uuid::Uuid::parse_str(&id).is_ok(),
                "{unusable:?} became {id:?}"
            );
        }
        // A device API error carries one too.
        let refused = app
            .client
            .post(format!("{}/api/device/v1/heartbeat", app.base_url))
            .send()
            .await
            .expect("answered");
        assert_eq!(refused.status(), 401);
        assert!(uuid::Uuid::parse_str(&id_of(&refused)).is_ok());
    }
}
