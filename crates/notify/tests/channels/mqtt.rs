//! Home Assistant discovery and state through the Mosquitto broker named by
//! `SMARTBOX_TEST_MQTT_URL` (skipped when unset; `.ci/run` sets it). The subscriber connects
//! after the publisher has gone, so whatever it receives was retained by the broker.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::RngCore;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use smartbox_domain::Serial;
use smartbox_notify::mqtt::{self, HomeAssistant, Mailbox};
use smartbox_notify::{DeliveryId, DeliveryOutcome};

use crate::support::fixtures::{arrival, morning, thumbnail};

fn broker_url() -> Option<String> {
    let url = std::env::var("SMARTBOX_TEST_MQTT_URL").ok()?;
    (!url.trim().is_empty()).then_some(url)
}

/// A serial no other run has used, so earlier retained messages cannot pass for this run's.
fn fresh_serial() -> Serial {
    let mut bytes = [0u8; 4];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    Serial::parse(&format!("SB-T{hex}")).expect("valid serial")
}

/// Subscribes to the mailbox's topics and collects what arrives within `wait` (or until
/// `expected` messages came), keyed by topic: (payload, retain flag).
async fn retained_for(
    url: &str,
    serial: &Serial,
    expected: usize,
    wait: Duration,
) -> BTreeMap<String, (Vec<u8>, bool)> {
    let parsed = url::Url::parse(url).expect("broker url");
    let mut options = MqttOptions::new(
        format!("smartbox-test-{}", uuid::Uuid::new_v4().simple()),
        parsed.host_str().expect("host"),
        parsed.port().unwrap_or(1883),
    );
    options.set_max_packet_size(512 * 1024, 512 * 1024);
    let (client, mut events) = AsyncClient::new(options, 10);
    let node = mqtt::node_id(serial);
    client
        .subscribe(format!("homeassistant/+/{node}/+/config"), QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    client
        .subscribe(format!("smartbox/{}/#", serial.as_str()), QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let mut received = BTreeMap::new();
    let _ = tokio::time::timeout(wait, async {
        while received.len() < expected {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    received.insert(p.topic.clone(), (p.payload.to_vec(), p.retain));
                }
                Ok(_) => {}
                Err(e) => panic!("subscriber: {e}"),
            }
        }
    })
    .await;
    let _ = client.disconnect().await;
    received
}

#[tokio::test]
async fn discovery_and_state_are_retained_by_the_broker_for_home_assistant() {
    let Some(url) = broker_url() else {
        eprintln!("skipped: SMARTBOX_TEST_MQTT_URL is unset");
        return;
    };
    let serial = fresh_serial();
    let ha = HomeAssistant::new(&url, Duration::from_secs(10)).expect("url");
    let mailbox = Mailbox {
        serial: serial.clone(),
        name: "Front gate".into(),
        firmware_version: Some("1.0.0".into()),
    };
    let mut event = arrival("Front gate", morning(), 9);
    event.serial = serial.clone();
    let key = DeliveryId::generate();

    let mut messages = mqtt::discovery(&mailbox);
    messages.extend(mqtt::status_state(&serial, 87, -71));
    messages.extend(mqtt::mail_state(key, &event));
    assert_eq!(ha.publish(&messages).await, DeliveryOutcome::Delivered);

    let retained = retained_for(&url, &serial, messages.len(), Duration::from_secs(10)).await;
    let s = serial.as_str();
    let topics: Vec<&str> = retained.keys().map(String::as_str).collect();
    let mut expected = vec![
        format!("homeassistant/binary_sensor/smartbox_{s}/mail/config"),
        format!("homeassistant/image/smartbox_{s}/photo/config"),
        format!("homeassistant/sensor/smartbox_{s}/battery/config"),
        format!("homeassistant/sensor/smartbox_{s}/signal/config"),
        format!("smartbox/{s}/battery"),
        format!("smartbox/{s}/mail"),
        format!("smartbox/{s}/mail/attributes"),
        format!("smartbox/{s}/photo"),
        format!("smartbox/{s}/signal"),
    ];
    expected.sort();
    assert_eq!(topics, expected);
    assert!(retained.values().all(|(_, retain)| *retain));
    let payload = |topic: String| retained[&topic].0.clone();
    assert_eq!(payload(format!("smartbox/{s}/mail")), b"ON");
    assert_eq!(payload(format!("smartbox/{s}/battery")), b"87");
    assert_eq!(payload(format!("smartbox/{s}/signal")), b"-71");
    assert_eq!(
        payload(format!("smartbox/{s}/photo")),
        thumbnail(9).as_bytes()
    );
    let config: serde_json::Value = serde_json::from_slice(&payload(format!(
        "homeassistant/binary_sensor/smartbox_{s}/mail/config"
    )))
    .expect("JSON config");
    assert_eq!(config["state_topic"], format!("smartbox/{s}/mail"));
    assert_eq!(config["device"]["name"], "Front gate");
    let attributes: serde_json::Value =
        serde_json::from_slice(&payload(format!("smartbox/{s}/mail/attributes")))
            .expect("JSON attributes");
    assert_eq!(attributes["delivery_id"], key.to_string());
    assert_eq!(attributes["event_id"], event.event_id.to_string());

    // Removing the mailbox leaves nothing retained behind.
    assert_eq!(
        ha.publish(&mqtt::removal(&serial)).await,
        DeliveryOutcome::Delivered
    );
    let left = retained_for(&url, &serial, 1, Duration::from_millis(800)).await;
    assert!(left.is_empty(), "still retained: {:?}", left.keys());
}

#[tokio::test]
async fn an_unreachable_broker_is_worth_retrying() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("mqtt://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let ha = HomeAssistant::new(&url, Duration::from_secs(5)).expect("url");
    let outcome = ha
        .publish(&mqtt::status_state(&fresh_serial(), 50, -80))
        .await;
    assert!(outcome.should_retry(), "{outcome:?}");
}
