//! Each channel against a real peer on loopback: an SMTP server, HTTP receivers for push and
//! webhooks, and the Mosquitto broker when `SMARTBOX_TEST_MQTT_URL` names one.

mod email;
mod fan_out;
mod mqtt;
mod push;
mod support;
mod webhook;
