//! Home Assistant over MQTT (`SMARTBOX_MQTT_URL`): discovery config for each mailbox and its
//! state, laid out as Home Assistant expects.
//!
//! Topics for a mailbox with serial `S`:
//! - `homeassistant/binary_sensor/smartbox_S/mail/config`: "Mail" (on = mail waiting), state on
//!   `smartbox/S/mail` (`ON`/`OFF`) with attributes on `smartbox/S/mail/attributes`;
//! - `homeassistant/sensor/smartbox_S/battery/config` and `.../signal/config`: state on
//!   `smartbox/S/battery` (percent) and `smartbox/S/signal` (dBm);
//! - `homeassistant/image/smartbox_S/photo/config`: the last photo's thumbnail, raw JPEG on
//!   `smartbox/S/photo` (Home Assistant needs no access to the portal to show it).
//!
//! Config and state are retained, so a Home Assistant that starts later sees every entity and its
//! last state. Building the messages is pure ([`discovery`], [`mail_state`], [`status_state`],
//! [`removal`]); [`HomeAssistant::publish`] sends a batch with QoS 1 and waits for every PUBACK.

use std::time::Duration;

use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, MqttOptions, Packet, QoS};
use serde_json::json;
use smartbox_domain::Serial;

use crate::delivery::{DeliveryId, DeliveryOutcome};
use crate::message::{EventKind, Notification, rfc3339};

/// The environment variable naming the broker; unset means Home Assistant is disabled.
pub const MQTT_URL_VAR: &str = "SMARTBOX_MQTT_URL";

/// Home Assistant's default discovery prefix.
pub const DISCOVERY_PREFIX: &str = "homeassistant";

/// Largest message: a thumbnail with room to spare (rumqttc's default is 10 KiB).
const MAX_PACKET_BYTES: usize = 512 * 1024;

/// One MQTT message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

impl Publication {
    fn retained(topic: String, payload: impl Into<Vec<u8>>) -> Publication {
        Publication {
            topic,
            payload: payload.into(),
            retain: true,
        }
    }
}

/// The mailbox as Home Assistant's device registry shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub serial: Serial,
    pub name: String,
    pub firmware_version: Option<String>,
}

pub fn node_id(serial: &Serial) -> String {
    format!("smartbox_{}", serial.as_str())
}

pub fn state_topic(serial: &Serial, object: &str) -> String {
    format!("smartbox/{}/{object}", serial.as_str())
}

fn config_topic(component: &str, serial: &Serial, object: &str) -> String {
    format!(
        "{DISCOVERY_PREFIX}/{component}/{}/{object}/config",
        node_id(serial)
    )
}

/// The four entities' retained discovery configs.
pub fn discovery(mailbox: &Mailbox) -> Vec<Publication> {
    let serial = &mailbox.serial;
    let node = node_id(serial);
    let device = json!({
        "identifiers": [node],
        "name": mailbox.name,
        "manufacturer": "Smartbox",
        "model": "Smart Mailbox",
        "serial_number": serial.as_str(),
        "sw_version": mailbox.firmware_version,
    });
    let entity = |component: &str, object: &str, config: serde_json::Value| {
        let mut config = config;
        config["unique_id"] = json!(format!("{node}_{object}"));
        config["object_id"] = json!(format!("{node}_{object}"));
        config["device"] = device.clone();
        Publication::retained(config_topic(component, serial, object), config.to_string())
    };
    vec![
        entity(
            "binary_sensor",
            "mail",
            json!({
                "name": "Mail",
                "icon": "mdi:mailbox",
                "state_topic": state_topic(serial, "mail"),
                "payload_on": "ON",
                "payload_off": "OFF",
                "json_attributes_topic": state_topic(serial, "mail/attributes"),
            }),
        ),
        entity(
            "sensor",
            "battery",
            json!({
                "name": "Battery",
                "device_class": "battery",
                "state_class": "measurement",
                "unit_of_measurement": "%",
                "entity_category": "diagnostic",
                "state_topic": state_topic(serial, "battery"),
            }),
        ),
        entity(
            "sensor",
            "signal",
            json!({
                "name": "Signal",
                "device_class": "signal_strength",
                "state_class": "measurement",
                "unit_of_measurement": "dBm",
                "entity_category": "diagnostic",
                "state_topic": state_topic(serial, "signal"),
            }),
        ),
        entity(
            "image",
            "photo",
            json!({
                "name": "Last photo",
                "image_topic": state_topic(serial, "photo"),
                "content_type": "image/jpeg",
            }),
        ),
    ]
}

/// The retained state after a mail event: the binary sensor, its attributes (which carry the
/// delivery key and the event id) and, when there is one, the thumbnail.
pub fn mail_state(key: DeliveryId, notification: &Notification) -> Vec<Publication> {
    let serial = &notification.serial;
    let on = match notification.kind {
        EventKind::MailArrived => "ON",
        EventKind::MailRemoved => "OFF",
    };
    let attributes = json!({
        "delivery_id": key.to_string(),
        "event_id": notification.event_id.to_string(),
        "kind": notification.kind.as_str(),
        "occurred_at": rfc3339(notification.occurred_at),
        "link": notification.link,
    });
    let mut messages = vec![
        Publication::retained(
            state_topic(serial, "mail/attributes"),
            attributes.to_string(),
        ),
        Publication::retained(state_topic(serial, "mail"), on),
    ];
    if let Some(thumbnail) = &notification.thumbnail {
        messages.push(Publication::retained(
            state_topic(serial, "photo"),
            thumbnail.as_bytes(),
        ));
    }
    messages
}

/// The retained battery and signal state after a heartbeat.
pub fn status_state(serial: &Serial, battery_percent: u8, signal_dbm: i16) -> Vec<Publication> {
    vec![
        Publication::retained(
            state_topic(serial, "battery"),
            battery_percent.min(100).to_string(),
        ),
        Publication::retained(state_topic(serial, "signal"), signal_dbm.to_string()),
    ]
}

/// Empty retained messages on every topic of `serial`: Home Assistant removes the entities and
/// the broker forgets the state (when the mailbox is decommissioned or the customer turns the
/// integration off).
pub fn removal(serial: &Serial) -> Vec<Publication> {
    let mailbox = Mailbox {
        serial: serial.clone(),
        name: String::new(),
        firmware_version: None,
    };
    let state = ["mail", "mail/attributes", "battery", "signal", "photo"]
        .into_iter()
        .map(|object| state_topic(serial, object));
    discovery(&mailbox)
        .into_iter()
        .map(|p| p.topic)
        .chain(state)
        .map(|topic| Publication::retained(topic, Vec::new()))
        .collect()
}

/// A broker URL that is not `mqtt://[user:password@]host[:port]`.
#[derive(Debug, thiserror::Error)]
#[error("MQTT URL {url:?}: {reason}")]
pub struct MqttConfigError {
    url: String,
    reason: String,
}

/// Publishes to one broker. Each [`publish`](HomeAssistant::publish) is one short session, so a
/// job handler gets a definite outcome and no connection outlives the job.
#[derive(Debug, Clone)]
pub struct HomeAssistant {
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
    timeout: Duration,
}

impl HomeAssistant {
    /// `mqtt://[user:password@]host[:port]` (port 1883 by default). TLS (`mqtts://`) is not
    /// supported: the broker is expected on the customer's side of a tunnel or on loopback.
    pub fn new(url: &str, timeout: Duration) -> Result<HomeAssistant, MqttConfigError> {
        let error = |reason: &str| MqttConfigError {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let parsed = url::Url::parse(url).map_err(|e| error(&e.to_string()))?;
        if parsed.scheme() != "mqtt" {
            return Err(error("the scheme must be mqtt"));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| error("no host"))?
            .to_owned();
        let credentials = (!parsed.username().is_empty()).then(|| {
            (
                parsed.username().to_owned(),
                parsed.password().unwrap_or_default().to_owned(),
            )
        });
        Ok(HomeAssistant {
            host,
            port: parsed.port().unwrap_or(1883),
            credentials,
            timeout,
        })
    }

    /// The publisher configured by `SMARTBOX_MQTT_URL`, or `None` when it is unset or empty.
    pub fn from_env(timeout: Duration) -> Result<Option<HomeAssistant>, MqttConfigError> {
        match std::env::var(MQTT_URL_VAR) {
            Ok(url) if !url.trim().is_empty() => HomeAssistant::new(url.trim(), timeout).map(Some),
            _ => Ok(None),
        }
    }

    /// Publishes `messages` with QoS 1 and answers delivered once the broker acknowledged all.
    pub async fn publish(&self, messages: &[Publication]) -> DeliveryOutcome {
        if messages.is_empty() {
            return DeliveryOutcome::Delivered;
        }
        let client_id = format!("smartbox-notify-{}", uuid::Uuid::new_v4().simple());
        let mut options = MqttOptions::new(client_id, self.host.clone(), self.port);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
            .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
        if let Some((user, password)) = &self.credentials {
            options.set_credentials(user.clone(), password.clone());
        }
        let (client, mut events) = AsyncClient::new(options, messages.len() + 1);
        for message in messages {
            // The request channel holds them all, so this does not wait for the event loop.
            if let Err(e) = client
                .publish(
                    message.topic.clone(),
                    QoS::AtLeastOnce,
                    message.retain,
                    message.payload.clone(),
                )
                .await
            {
                return DeliveryOutcome::permanent(format!("cannot queue an MQTT message: {e}"));
            }
        }
        let acknowledged = async {
            let mut pending = messages.len();
            while pending > 0 {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => pending -= 1,
                    Ok(_) => {}
                    Err(e) => return Err(outcome_for_error(e)),
                }
            }
            Ok(())
        };
        let outcome = match tokio::time::timeout(self.timeout, acknowledged).await {
            Ok(Ok(())) => DeliveryOutcome::Delivered,
            Ok(Err(outcome)) => return outcome,
            Err(_) => {
                return DeliveryOutcome::retryable(format!(
                    "MQTT broker {}:{} did not acknowledge in time",
                    self.host, self.port
                ));
            }
        };
        // A clean DISCONNECT; the messages are already acknowledged, so a failure here is moot.
        if client.disconnect().await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(1), events.poll()).await;
        }
        outcome
    }
}

fn outcome_for_error(error: ConnectionError) -> DeliveryOutcome {
    match error {
        ConnectionError::ConnectionRefused(
            code @ (ConnectReturnCode::BadUserNamePassword
            | ConnectReturnCode::NotAuthorized
            | ConnectReturnCode::BadClientId
            | ConnectReturnCode::RefusedProtocolVersion),
        ) => DeliveryOutcome::permanent(format!("MQTT broker refused the connection: {code:?}")),
        other => DeliveryOutcome::retryable(format!("MQTT: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::fixtures::{arrival, jpeg, morning};

    fn mailbox() -> Mailbox {
        Mailbox {
            serial: Serial::parse("SB-0001").unwrap(),
            name: "Front gate".into(),
            firmware_version: Some("1.2.0".into()),
        }
    }

    fn json_of(p: &Publication) -> serde_json::Value {
        serde_json::from_slice(&p.payload).unwrap()
    }

    #[test]
    fn discovery_announces_four_retained_entities_of_one_device() {
        let configs = discovery(&mailbox());
        let topics: Vec<_> = configs.iter().map(|p| p.topic.as_str()).collect();
        assert_eq!(
            topics,
            vec![
                "homeassistant/binary_sensor/smartbox_SB-0001/mail/config",
                "homeassistant/sensor/smartbox_SB-0001/battery/config",
                "homeassistant/sensor/smartbox_SB-0001/signal/config",
                "homeassistant/image/smartbox_SB-0001/photo/config",
            ]
        );
        assert!(configs.iter().all(|p| p.retain));
        let mail = json_of(&configs[0]);
        assert_eq!(mail["state_topic"], "smartbox/SB-0001/mail");
        assert_eq!(mail["unique_id"], "smartbox_SB-0001_mail");
        assert_eq!(mail["device"]["identifiers"][0], "smartbox_SB-0001");
        assert_eq!(mail["device"]["name"], "Front gate");
        assert_eq!(json_of(&configs[1])["device_class"], "battery");
        assert_eq!(json_of(&configs[2])["unit_of_measurement"], "dBm");
        assert_eq!(
            json_of(&configs[3])["image_topic"],
            "smartbox/SB-0001/photo"
        );
    }

    #[test]
    fn mail_arriving_turns_the_sensor_on_and_publishes_the_thumbnail() {
        let key = DeliveryId::generate();
        let n = arrival(morning());
        let state = mail_state(key, &n);
        assert_eq!(state[1].topic, "smartbox/SB-0001/mail");
        assert_eq!(state[1].payload, b"ON");
        assert_eq!(json_of(&state[0])["delivery_id"], key.to_string());
        assert_eq!(state[2].payload, jpeg().as_bytes());

        let mut removed = n;
        removed.kind = EventKind::MailRemoved;
        removed.thumbnail = None;
        let state = mail_state(key, &removed);
        assert_eq!(state[1].payload, b"OFF");
        assert_eq!(state.len(), 2);
    }

    #[test]
    fn removal_empties_every_topic_the_mailbox_uses() {
        let serial = mailbox().serial;
        let removed = removal(&serial);
        assert!(removed.iter().all(|p| p.retain && p.payload.is_empty()));
        let mut used: Vec<_> = discovery(&mailbox())
            .into_iter()
            .chain(mail_state(DeliveryId::generate(), &arrival(morning())))
            .chain(status_state(&serial, 80, -70))
            .map(|p| p.topic)
            .collect();
        used.sort();
        let mut emptied: Vec<_> = removed.into_iter().map(|p| p.topic).collect();
        emptied.sort();
        assert_eq!(emptied, used);
    }

    #[test]
    fn the_broker_url_must_be_mqtt() {
        let ha = HomeAssistant::new("mqtt://ha:secret@127.0.0.1", Duration::from_secs(1)).unwrap();
        assert_eq!((ha.host.as_str(), ha.port), ("127.0.0.1", 1883));
        assert_eq!(ha.credentials, Some(("ha".into(), "secret".into())));
        assert!(HomeAssistant::new("http://127.0.0.1:1883", Duration::from_secs(1)).is_err());
        assert!(HomeAssistant::new("mqtt://", Duration::from_secs(1)).is_err());
    }
}
