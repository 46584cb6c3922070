//! Notifications (issue 7): a mailbox reports mail over the device API, the jobs run, and the
//! customer hears of it through each channel's real peer — an SMTP server and an HTTP receiver on
//! loopback, the Mosquitto broker when `SMARTBOX_TEST_MQTT_URL` names one — once per event.
//!
//! The jobs run on a worker whose state is configured like a production server's (SMTP, MQTT);
//! the service under test and that worker share the database, the blob store and the clock.

use std::sync::Arc;
use std::time::Duration;

use mail_parser::{MessageParser, MimeHeaders};
use smartbox_domain::{DeviceId, PlanId};
use smartbox_notify::testing::http::HttpReceiver;
use smartbox_notify::testing::smtp::SmtpServer;
use smartbox_server::config::Config;
use smartbox_server::device_api::jpeg;
use smartbox_server::jobs::{Worker, registry};
use smartbox_server::notifications::NOTIFY_DELIVERY;
use smartbox_server::{AppState, Clock};
use smartbox_store::{Db, EVENT_COMPLETED_JOB, NewJob, delivery_status};

use crate::helpers::{TestApp, TestDevice, event_id, spawn_apps};

/// A job worker for `app`'s database, configured with these peers.
fn worker(app: &TestApp, smtp_url: Option<&str>, mqtt_url: Option<&str>) -> Worker {
    let database_url = app.state.config.database_url.clone();
    let config = Config::from_lookup(|name| match name {
        "SMARTBOX_DATABASE_URL" => Some(database_url.clone()),
        "SMARTBOX_PUBLIC_URL" => Some("https://mailbox.example".to_owned()),
        "SMARTBOX_SMTP_URL" => smtp_url.map(str::to_owned),
        "SMARTBOX_MQTT_URL" => mqtt_url.map(str::to_owned),
        // The webhook and push peers listen on loopback.
        "SMARTBOX_ALLOW_PRIVATE_WEBHOOKS" => Some("true".to_owned()),
        _ => None,
    })
    .expect("the worker's configuration is valid");
    let state = AppState::new(
        config,
        app.state.db.clone(),
        Arc::clone(&app.state.blobs),
        Arc::new(app.clock.clone()),
        app.state.master_key.clone(),
    );
    Worker::with_id(state, registry(), "notifications-test")
}

/// Reports an event with one photo and answers (event id, photo bytes).
async fn mail_arrives(app: &TestApp, device: &TestDevice, seed: usize) -> (String, Vec<u8>) {
    let id = event_id();
    let photo = jpeg::synthetic(2_000 + seed);
    assert_eq!(app.post_event(device, &id, 1).await.status(), 201);
    assert_eq!(
        app.put_photo(device, &id, 0, photo.clone()).await.status(),
        201
    );
    (id, photo)
}

async fn drain(worker: &Worker) {
    worker.run_until_idle(200).await.expect("the jobs run");
}

fn jpeg_parts(message: &mail_parser::Message<'_>) -> Vec<Vec<u8>> {
    message
        .parts
        .iter()
        .filter(|part| {
            part.content_type()
                .is_some_and(|ct| ct.ctype() == "image" && ct.subtype() == Some("jpeg"))
        })
        .map(|part| part.contents().to_vec())
        .collect()
}

async fn enqueue(app: &TestApp, kind: &str, payload: serde_json::Value) {
    app.state
        .db
        .enqueue_job(&NewJob {
            id: &uuid::Uuid::now_v7().to_string(),
            kind,
            payload,
            unique_key: None,
            run_at: app.clock.now_ms(),
            max_attempts: 3,
        })
        .await
        .expect("job enqueued");
}

#[tokio::test]
async fn mail_is_emailed_once_to_the_owner_with_the_mailbox_name_the_photo_inline_and_a_link() {
    for app in spawn_apps().await {
        let mut smtp = SmtpServer::start().await;
        let worker = worker(&app, Some(&smtp.url()), None);
        let device = app.activated_device("NOTIFY-0001", PlanId::Basic).await;
        app.state
            .db
            .set_device_name_location(&DeviceId::new(&device.device_id), "Front gate", "")
            .await
            .expect("named");

        let (id, photo) = mail_arrives(&app, &device, 1).await;
        drain(&worker).await;

        let mail = smtp.next_mail().await;
        assert_eq!(mail.rcpt_to, vec!["notify-0001@example.com".to_owned()]);
        let message = MessageParser::default().parse(&mail.data).expect("MIME");
        assert_eq!(message.subject(), Some("Mail arrived in Front gate"));
        assert_eq!(jpeg_parts(&message), vec![photo], "the photo inline");
        let html = message.body_html(0).expect("an HTML body");
        assert!(
            html.contains(&format!("https://mailbox.example/gallery/{id}")),
            "{html}"
        );
        let records = app.state.db.deliveries_of_event(&id).await.unwrap();
        assert_eq!(records.len(), 1, "{}", app.backend);
        assert_eq!(
            (records[0].channel.as_str(), records[0].status.as_str()),
            ("email", delivery_status::DELIVERED)
        );
        assert_eq!(
            message.message_id(),
            Some(format!("{}@smartbox.example", records[0].id).as_str()),
            "the record's id is the delivery key"
        );

        // A duplicated event_completed, notify_event and delivery job send nothing again.
        let payload = serde_json::json!({ "event_id": id });
        enqueue(&app, EVENT_COMPLETED_JOB, payload.clone()).await;
        enqueue(&app, "notify_event", payload).await;
        enqueue(
            &app,
            NOTIFY_DELIVERY,
            serde_json::json!({ "delivery_id": records[0].id }),
        )
        .await;
        drain(&worker).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(smtp.no_mail_waiting(), "{}: sent twice", app.backend);
        assert_eq!(
            app.state.db.deliveries_of_event(&id).await.unwrap().len(),
            1
        );
        assert_eq!(
            app.usage(&device).await.notifications,
            1,
            "one notification counted per event"
        );
    }
}

#[tokio::test]
async fn a_busy_smtp_server_is_retried_with_backoff_and_the_mail_arrives_once() {
    for app in spawn_apps().await {
        let mut smtp = SmtpServer::start().await;
        let worker = worker(&app, Some(&smtp.url()), None);
        let device = app.activated_device("NOTIFY-0002", PlanId::Basic).await;
        smtp.refuse_recipients_with("451 4.3.0 try again later");

        let (id, _) = mail_arrives(&app, &device, 2).await;
        drain(&worker).await;
        let record = app.state.db.deliveries_of_event(&id).await.unwrap()[0].clone();
        assert_eq!(record.status, delivery_status::ATTEMPTED, "{}", app.backend);
        assert!(
            record.reason.as_deref().unwrap_or("").contains("451"),
            "{record:?}"
        );
        let queued = app
            .state
            .db
            .jobs_with_status(Some(NOTIFY_DELIVERY), "queued", 10)
            .await
            .unwrap();
        assert_eq!(queued.len(), 1);
        assert!(queued[0].run_at > app.clock.now_ms(), "retried later");

        smtp.accept_recipients();
        app.clock.advance_s(11);
        drain(&worker).await;
        let mail = smtp.next_mail().await;
        assert_eq!(mail.rcpt_to, vec!["notify-0002@example.com".to_owned()]);
        let record = app
            .state
            .db
            .delivery_by_id(&record.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (record.status.as_str(), record.attempts),
            (delivery_status::DELIVERED, 2)
        );
        assert_eq!(
            success_rate(&app.state.db, 0, i64::MAX).await,
            smartbox_domain::metrics::Ratio::new(1, 1)
        );
    }
}

#[tokio::test]
async fn an_owner_who_turned_email_off_for_the_mailbox_gets_no_email() {
    for app in spawn_apps().await {
        let mut smtp = SmtpServer::start().await;
        let worker = worker(&app, Some(&smtp.url()), None);
        let device = app.activated_device("NOTIFY-0003", PlanId::Basic).await;
        app.state
            .db
            .set_notification_pref(&device.device_id, "email", false)
            .await
            .unwrap();

        let (id, _) = mail_arrives(&app, &device, 3).await;
        drain(&worker).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(smtp.no_mail_waiting());
        assert!(
            app.state
                .db
                .deliveries_of_event(&id)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            success_rate(&app.state.db, 0, i64::MAX).await,
            None,
            "nothing attempted"
        );
    }
}

#[tokio::test]
async fn mail_during_quiet_hours_is_held_and_released_as_one_email_when_they_end() {
    for app in spawn_apps().await {
        let mut smtp = SmtpServer::start().await;
        let worker = worker(&app, Some(&smtp.url()), None);
        let device = app.activated_device("NOTIFY-0004", PlanId::Basic).await;
        let owner = app
            .state
            .db
            .user_by_email("notify-0004@example.com")
            .await
            .unwrap()
            .unwrap();
        // The clock starts at 10:00 UTC = 12:00 at UTC+02:00; quiet from 11:30 to 13:00 local.
        app.state
            .db
            .set_user_preferences(&owner.id, "UTC+02:00", (Some(11 * 60 + 30), Some(13 * 60)))
            .await
            .unwrap();

        let (first, _) = mail_arrives(&app, &device, 4).await;
        app.clock.advance_s(20 * 60);
        let (second, _) = mail_arrives(&app, &device, 5).await;
        drain(&worker).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(smtp.no_mail_waiting(), "held during quiet hours");
        for id in [&first, &second] {
            let records = app.state.db.deliveries_of_event(id).await.unwrap();
            assert_eq!(records[0].status, delivery_status::HELD, "{}", app.backend);
        }

        app.clock.advance_s(40 * 60); // 13:00 local
        drain(&worker).await;
        let mail = smtp.next_mail().await;
        let message = MessageParser::default().parse(&mail.data).expect("MIME");
        assert_eq!(message.subject(), Some("During quiet hours: 2 mail pieces"));
        assert_eq!(jpeg_parts(&message).len(), 2);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(smtp.no_mail_waiting(), "one message for both");
        for id in [&first, &second] {
            let records = app.state.db.deliveries_of_event(id).await.unwrap();
            assert_eq!(records[0].status, delivery_status::DELIVERED);
        }
    }
}

#[tokio::test]
async fn a_customers_webhook_receives_each_event_signed_with_its_secret() {
    for app in spawn_apps().await {
        let mut receiver = HttpReceiver::start().await;
        let worker = worker(&app, None, None);
        let device = app.activated_device("NOTIFY-0005", PlanId::Basic).await;
        let owner = app
            .state
            .db
            .user_by_email("notify-0005@example.com")
            .await
            .unwrap()
            .unwrap();
        let customer = smartbox_domain::UserId::new(owner.id.as_str());
        let secret = smartbox_server::services::webhooks::set(
            &app.state,
            &smartbox_server::services::Actor::customer(customer.clone()),
            &customer,
            &receiver.url("/hooks/mail"),
        )
        .await
        .expect("webhook set");

        let (id, _) = mail_arrives(&app, &device, 6).await;
        drain(&worker).await;

        let request = receiver.next_request().await;
        assert_eq!(request.path, "/hooks/mail");
        let signature = request.header("X-Smartbox-Signature").to_owned();
        assert!(
            verify_stripe_signature(&request.body, &signature, secret.expose()),
            "{signature}"
        );
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["type"], "mail.arrived");
        assert_eq!(body["data"]["event_id"], id);
        let records = app.state.db.deliveries_of_event(&id).await.unwrap();
        let webhook = records
            .iter()
            .find(|r| r.channel == "webhook")
            .expect("a webhook record");
        assert_eq!(
            webhook.status,
            delivery_status::DELIVERED,
            "{}",
            app.backend
        );
        assert_eq!(request.header("Idempotency-Key"), webhook.id);
        // Without SMTP the email went to the log, and counts as delivered.
        assert!(
            records
                .iter()
                .any(|r| r.channel == "email" && r.status == delivery_status::DELIVERED)
        );
    }
}

/// Stripe's scheme: `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, checked by the
/// billing crate's verifier; the signature's age is not checked (the tests' clock is manual).
pub fn verify_stripe_signature(body: &[u8], header: &str, secret: &str) -> bool {
    smartbox_billing::webhook::verify_stripe_signature(header, body, secret, 0, i64::MAX).is_ok()
}

#[tokio::test]
async fn a_customer_adds_a_webhook_in_settings_sees_its_secret_once_sends_a_test_and_reads_the_log()
{
    use crate::portal::helpers;

    for app in helpers::spawn_apps().await {
        let mut receiver = HttpReceiver::start().await;
        let mut home = app.household("hooks@example.com", "NOTIFY-0006").await;
        let url = receiver.url("/smartbox");

        let page = home
            .browser
            .submit(
                "/settings",
                "/settings",
                &[("webhook", "save"), ("webhook_url", &url)],
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        let secret = page
            .body
            .split("<code class=\"secret\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .expect("the secret is shown")
            .to_owned();
        assert!(secret.starts_with("whsec_"), "{secret}");
        let again = home.browser.get("/settings").await;
        assert!(!again.body.contains(&secret), "shown only once");
        assert!(
            again.body.contains(&receiver.addr.to_string()),
            "the URL is shown"
        );

        let page = home
            .browser
            .submit("/settings", "/settings", &[("webhook", "test")])
            .await;
        assert!(page.body.contains("Test event delivered"), "{}", page.body);
        let test = receiver.next_request().await;
        assert!(verify_stripe_signature(
            &test.body,
            test.header("X-Smartbox-Signature"),
            &secret
        ));
        let body: serde_json::Value = serde_json::from_slice(&test.body).unwrap();
        assert_eq!(body["type"], "test");

        // Mail comes; the worker delivers it; the log on the page says so.
        let event = uuid::Uuid::new_v4().to_string();
        app.deliver(&home.device_id, &event, 1, helpers::START_MS + 120_000)
            .await;
        app.clock.set_ms(helpers::START_MS + 180_000);
        let worker = Worker::with_id(app.state.clone(), registry(), "settings-test");
        worker.run_until_idle(100).await.expect("jobs run");
        // The household's first delivery (before the webhook existed) is notified now too.
        let mut delivered = receiver.next_request().await;
        if !delivered
            .body
            .windows(event.len())
            .any(|w| w == event.as_bytes())
        {
            delivered = receiver.next_request().await;
        }
        assert!(verify_stripe_signature(
            &delivered.body,
            delivered.header("X-Smartbox-Signature"),
            &secret
        ));
        let page = home.browser.get("/settings").await;
        assert!(
            page.body.contains(&format!("/gallery/{event}")) && page.body.contains("delivered"),
            "{}: {}",
            app.backend,
            page.body
        );

        let page = home
            .browser
            .submit("/settings", "/settings", &[("webhook", "remove")])
            .await;
        assert_eq!(page.status, 303);
        assert!(
            app.state
                .db
                .customer_webhook(&home.user_id)
                .await
                .unwrap()
                .is_none()
        );
    }
}

/// The broker named by `SMARTBOX_TEST_MQTT_URL`, if any.
fn mqtt_broker() -> Option<String> {
    let url = std::env::var("SMARTBOX_TEST_MQTT_URL").ok()?;
    (!url.trim().is_empty()).then_some(url)
}

/// What the broker retained on the mailbox's topics (a subscriber that connects afterwards
/// receives exactly the retained messages), by topic.
async fn retained(
    url: &str,
    serial: &str,
    expected: usize,
) -> std::collections::BTreeMap<String, Vec<u8>> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let parsed = reqwest::Url::parse(url).expect("broker url");
    let mut options = MqttOptions::new(
        format!("smartbox-server-test-{}", uuid::Uuid::new_v4().simple()),
        parsed.host_str().expect("host"),
        parsed.port().unwrap_or(1883),
    );
    options.set_max_packet_size(512 * 1024, 512 * 1024);
    let (client, mut events) = AsyncClient::new(options, 10);
    for topic in [
        format!("homeassistant/+/smartbox_{serial}/+/config"),
        format!("smartbox/{serial}/#"),
    ] {
        client
            .subscribe(topic, QoS::AtLeastOnce)
            .await
            .expect("subscribe");
    }
    let mut received = std::collections::BTreeMap::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while received.len() < expected {
            if let Ok(Event::Incoming(Packet::Publish(p))) = events.poll().await {
                assert!(p.retain, "{} is retained", p.topic);
                received.insert(p.topic.clone(), p.payload.to_vec());
            }
        }
    })
    .await;
    received
}

#[tokio::test]
async fn home_assistant_sees_the_mailbox_its_mail_its_photo_and_its_heartbeat_over_mqtt() {
    let Some(broker) = mqtt_broker() else {
        println!("SMARTBOX_TEST_MQTT_URL unset: the Home Assistant story is skipped");
        return;
    };
    for app in spawn_apps().await {
        let serial = format!(
            "HA-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8].to_uppercase()
        );
        let worker = worker(&app, None, Some(&broker));
        let device = app.activated_device(&serial, PlanId::Basic).await;
        app.state
            .db
            .set_device_name_location(&DeviceId::new(&device.device_id), "Front gate", "")
            .await
            .unwrap();
        let heartbeat = app
            .heartbeat(&device, &crate::helpers::vitals_body("1.2.0"))
            .await;
        assert_eq!(heartbeat.status(), 200);

        let (id, photo) = mail_arrives(&app, &device, 7).await;
        drain(&worker).await;

        let topics = retained(&broker, &serial, 9).await;
        let node = format!("smartbox_{serial}");
        for config in [
            format!("homeassistant/binary_sensor/{node}/mail/config"),
            format!("homeassistant/sensor/{node}/battery/config"),
            format!("homeassistant/sensor/{node}/signal/config"),
            format!("homeassistant/image/{node}/photo/config"),
        ] {
            let body: serde_json::Value =
                serde_json::from_slice(topics.get(&config).expect(&config)).unwrap();
            assert_eq!(body["device"]["name"], "Front gate", "{config}");
        }
        let state = |object: &str| topics.get(&format!("smartbox/{serial}/{object}")).cloned();
        assert_eq!(
            state("mail").as_deref(),
            Some(&b"ON"[..]),
            "{}",
            app.backend
        );
        assert_eq!(state("photo"), Some(photo));
        assert_eq!(state("battery").as_deref(), Some(&b"87"[..]));
        assert_eq!(state("signal").as_deref(), Some(&b"-85"[..]));
        let attributes: serde_json::Value =
            serde_json::from_slice(&state("mail/attributes").expect("attributes")).unwrap();
        assert_eq!(attributes["event_id"], id);
        let records = app.state.db.deliveries_of_event(&id).await.unwrap();
        assert!(records.iter().any(|r| r.channel == "home_assistant"
            && r.destination == serial
            && r.status == delivery_status::DELIVERED));
    }
}

/// A real (decodable) photo as the camera takes them.
fn camera_photo(width: u16, height: u16) -> Vec<u8> {
    let pixels: Vec<u8> = (0..usize::from(width) * usize::from(height))
        .flat_map(|i| [(i % 251) as u8, (i / 97 % 253) as u8, 128])
        .collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("a JPEG");
    out
}

#[tokio::test]
async fn the_email_carries_the_gallerys_thumbnail_when_the_photo_decodes() {
    for app in spawn_apps().await {
        let mut smtp = SmtpServer::start().await;
        let worker = worker(&app, Some(&smtp.url()), None);
        let device = app.activated_device("NOTIFY-0008", PlanId::Basic).await;
        let id = event_id();
        let photo = camera_photo(1280, 960);
        assert_eq!(app.post_event(&device, &id, 1).await.status(), 201);
        assert_eq!(
            app.put_photo(&device, &id, 0, photo.clone()).await.status(),
            201
        );
        drain(&worker).await;

        let mail = smtp.next_mail().await;
        let message = MessageParser::default().parse(&mail.data).expect("MIME");
        let stored = app.state.db.photos_of_event(&id).await.unwrap();
        let key = stored[0]
            .thumbnail_key
            .clone()
            .expect("a thumbnail was made");
        let thumbnail = app.state.photos.get(&key).await.unwrap().bytes.to_vec();
        assert!(thumbnail.len() < photo.len());
        assert_eq!(jpeg_parts(&message), vec![thumbnail], "{}", app.backend);
    }
}

#[tokio::test]
async fn a_customer_who_asked_for_the_morning_digest_gets_one_email_at_seven_listing_the_days_mail()
{
    for app in spawn_apps().await {
        let mut smtp = SmtpServer::start().await;
        let worker = worker(&app, Some(&smtp.url()), None);
        let device = app.activated_device("NOTIFY-0009", PlanId::Basic).await;
        let owner = app
            .state
            .db
            .user_by_email("notify-0009@example.com")
            .await
            .unwrap()
            .unwrap();
        app.state
            .db
            .set_user_preferences(&owner.id, "UTC+02:00", (None, None))
            .await
            .unwrap();
        app.state
            .db
            .set_digest_enabled(&owner.id, true, app.clock.now_ms())
            .await
            .unwrap();
        // 12:00 and 17:00 local; each is notified at once.
        for hours in [0, 5] {
            app.clock.advance_s(hours * 3600);
            mail_arrives(&app, &device, 10 + hours as usize).await;
            drain(&worker).await;
            smtp.next_mail().await;
        }

        // 07:05 local the next morning (05:05 UTC).
        app.clock
            .set_ms(crate::helpers::START.unix_timestamp() * 1000 + (19 * 60 + 5) * 60_000);
        drain(&worker).await;
        let mail = smtp.next_mail().await;
        let message = MessageParser::default().parse(&mail.data).expect("MIME");
        assert_eq!(
            message.subject(),
            Some("Your mail digest: 2 pieces in the last 24 hours"),
            "{}",
            app.backend
        );
        assert_eq!(jpeg_parts(&message).len(), 2);

        app.clock.advance_s(30 * 60);
        drain(&worker).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(smtp.no_mail_waiting(), "one digest a day");
    }
}

#[tokio::test]
async fn a_browser_subscribed_in_settings_gets_the_event_by_web_push_encrypted_for_its_keys() {
    use crate::portal::helpers;
    use smartbox_notify::testing::push::PushBrowser;

    for app in helpers::spawn_apps().await {
        let mut endpoint = HttpReceiver::start().await;
        endpoint.answer_with(201);
        let mut home = app.household("push@example.com", "NOTIFY-0010").await;
        let page = home.browser.get("/settings").await;
        let vapid_key = page
            .body
            .split("data-vapid-key=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the page carries the VAPID key")
            .to_owned();
        assert_eq!(
            vapid_key.len(),
            87,
            "an uncompressed P-256 point, base64url"
        );
        let again = home.browser.get("/settings").await;
        assert!(again.body.contains(&vapid_key), "made once, kept");

        let browser = PushBrowser::new();
        let subscription =
            serde_json::to_string(&browser.subscribe(endpoint.url("/push/abc"))).expect("JSON");
        let answer = home
            .browser
            .submit(
                "/settings",
                "/settings",
                &[("push", "subscribe"), ("subscription", &subscription)],
            )
            .await;
        assert_eq!(answer.status, 204, "{}", answer.body);

        let event = uuid::Uuid::new_v4().to_string();
        app.deliver(&home.device_id, &event, 1, helpers::START_MS + 120_000)
            .await;
        app.clock.set_ms(helpers::START_MS + 180_000);
        let worker = Worker::with_id(app.state.clone(), registry(), "push-test");
        worker.run_until_idle(100).await.expect("jobs run");

        // The household's earlier delivery is pushed too; find this event's message.
        let mut payloads = Vec::new();
        for _ in 0..2 {
            let request = endpoint.next_request().await;
            assert_eq!(request.path, "/push/abc");
            assert!(
                request
                    .header("authorization")
                    .ends_with(&format!(", k={vapid_key}")),
                "signed with the server's VAPID key"
            );
            payloads.push(browser.decrypt(&request.body));
        }
        let payload = payloads
            .iter()
            .find(|p| p["tag"] == event.as_str())
            .unwrap_or_else(|| panic!("{}: {payloads:?}", app.backend));
        assert!(
            payload["title"]
                .as_str()
                .unwrap_or("")
                .starts_with("Mail arrived in"),
            "{payload}"
        );
        assert!(
            payload["url"]
                .as_str()
                .unwrap_or("")
                .ends_with(&format!("/gallery/{event}"))
        );
        let records = app.state.db.deliveries_of_event(&event).await.unwrap();
        assert!(
            records
                .iter()
                .any(|r| r.channel == "push" && r.status == delivery_status::DELIVERED)
        );

        // The push service forgets the subscription: it is dropped, nothing retried.
        endpoint.answer_with(410);
        let gone = uuid::Uuid::new_v4().to_string();
        app.deliver(&home.device_id, &gone, 0, helpers::START_MS + 200_000)
            .await;
        app.clock.set_ms(helpers::START_MS + 240_000);
        worker.run_until_idle(100).await.expect("jobs run");
        endpoint.next_request().await;
        let records = app.state.db.deliveries_of_event(&gone).await.unwrap();
        assert!(
            records
                .iter()
                .any(|r| r.channel == "push" && r.status == delivery_status::FAILED)
        );
        assert!(
            app.state
                .db
                .push_subscriptions_of_user(&home.user_id)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn success_counts_a_notification_once_and_as_delivered_when_any_channel_delivered() {
    use smartbox_store::NewDelivery;
    for app in spawn_apps().await {
        let device = app.activated_device("NOTIFY-0011", PlanId::Basic).await;
        let owner = app
            .state
            .db
            .user_by_email("notify-0011@example.com")
            .await
            .unwrap()
            .unwrap();
        let db = &app.state.db;
        let day = 24 * 3_600_000;
        let start = app.clock.now_ms();
        // (event, recorded at, [(channel, outcome)])
        let cases = [
            (0, [("email", "failed"), ("webhook", "delivered")]),
            (0, [("email", "failed"), ("webhook", "failed")]),
            (0, [("email", "delivered"), ("webhook", "delivered")]),
            (1, [("email", "delivered"), ("webhook", "attempted")]),
        ];
        for (days, channels) in cases {
            let (event, _) = mail_arrives(&app, &device, 20).await;
            for (channel, status) in channels {
                let id = uuid::Uuid::now_v7().to_string();
                let record = db
                    .record_delivery(&NewDelivery {
                        id: &id,
                        event_id: &event,
                        user_id: &owner.id,
                        channel,
                        destination: "x",
                        status: delivery_status::ATTEMPTED,
                        created_at: start + days * day,
                    })
                    .await
                    .unwrap();
                if status != delivery_status::ATTEMPTED {
                    db.settle_deliveries(&[&record.id], status, None, start)
                        .await
                        .unwrap();
                }
            }
        }
        let rate = |from, until| success_rate(db, from, until);
        assert_eq!(
            rate(start, start + day).await,
            smartbox_domain::metrics::Ratio::new(2, 3),
            "{}",
            app.backend
        );
        assert_eq!(
            rate(start + day, start + 2 * day).await,
            smartbox_domain::metrics::Ratio::new(1, 1)
        );
        assert_eq!(rate(start + 2 * day, start + 3 * day).await, None);
    }
}

/// Notification success over `[from, until)` as the analytics snapshot counts it: each event
/// first notified in the window once, delivered when any of its channels was.
async fn success_rate(db: &Db, from: i64, until: i64) -> Option<smartbox_domain::metrics::Ratio> {
    let events = db.analytics_notified_events(from, until).await.unwrap();
    smartbox_notify::delivery::success_rate(
        events.iter().enumerate().map(|(i, e)| (i, e.delivered)),
    )
}
