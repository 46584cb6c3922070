//! A customer's change reaches the device API at once: the mailbox's very next request sees it,
//! not a context the device cache kept for up to its TTL. On both backends.

use smartbox_domain::{DeviceId, SubscriptionId};
use smartbox_protocol::HEARTBEAT_PATH;

use super::helpers::{Household, spawn_apps};

const VITALS: &str = r#"{"battery_percent":80,"power_state":"awake","signal_dbm":-85,"network":"cellular","firmware_version":"1.0.0","modem_tx_bytes":0,"modem_rx_bytes":0,"sd_queue_len":0}"#;

/// The service state a signed heartbeat of the household's mailbox is answered with.
async fn service(h: &mut Household, clock_s: i64) -> String {
    let answer = h
        .device_request(
            "POST",
            HEARTBEAT_PATH,
            "application/json",
            VITALS.as_bytes().to_vec(),
            clock_s,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()["service"]
        .as_str()
        .expect("a service state")
        .to_owned()
}

#[tokio::test]
async fn a_returned_mailbox_is_told_it_is_suspended_on_its_very_next_heartbeat() {
    for app in spawn_apps().await {
        let (mut h, now_s) = active_household(&app, "ret@example.com", "SB-CACHE-01").await;
        let path = format!("/api/v1/devices/{}/return", h.device_id);
        let started = h.browser.api("POST", &path, None).await;
        assert_eq!(started.status, 201, "{}", started.body);
        assert_eq!(
            service(&mut h, now_s).await,
            "active",
            "in service until received"
        );
        let id = DeviceId::new(h.device_id.as_str());
        let staff = smartbox_server::services::Actor::Cli;
        smartbox_server::services::staff_devices::receive_return(
            &app.state, &staff, &id, "arrived",
        )
        .await
        .expect("received");
        // The same instant: the cached context is still within its TTL.
        assert_eq!(
            service(&mut h, now_s).await,
            "suspended",
            "the return reached the device API at once on {}",
            app.backend
        );
    }
}

#[tokio::test]
async fn a_lower_spend_cap_limits_the_mailbox_on_its_very_next_heartbeat() {
    for app in spawn_apps().await {
        let (mut h, now_s) = active_household(&app, "cap@example.com", "SB-CACHE-02").await;
        // Use up the Basic plan's included notifications, as the device API would count them.
        app.state
            .db
            .write_device_traffic(&[], &[usage_to_limit(&app, &h.subscription_id).await])
            .await
            .expect("usage written");
        let answer = h
            .browser
            .api(
                "PATCH",
                "/api/v1/settings",
                Some(serde_json::json!({"spend_caps": [{"subscription_id": h.subscription_id, "cap_cents": 0}]})),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(
            service(&mut h, now_s).await,
            "limited",
            "the new cap reached the device API at once on {}",
            app.backend
        );
    }
}

/// A household whose mailbox was just told `active` (so the device cache holds its context), and
/// the instant it was told, in seconds.
async fn active_household(
    app: &super::helpers::PortalApp,
    email: &str,
    serial: &str,
) -> (Household, i64) {
    let mut h = app.household(email, serial).await;
    let now_s = smartbox_server::Clock::now_s(app.state.clock.as_ref());
    assert_eq!(service(&mut h, now_s).await, "active", "{}", app.backend);
    (h, now_s)
}

/// Usage that brings the subscription's current period to the Basic plan's notification limit.
async fn usage_to_limit(
    app: &super::helpers::PortalApp,
    subscription_id: &str,
) -> smartbox_store::UsageDelta {
    let sub = app
        .state
        .db
        .subscription_by_id(&SubscriptionId::new(subscription_id))
        .await
        .expect("read")
        .expect("the subscription");
    let limit = smartbox_domain::PlanId::Basic
        .plan()
        .notification_limit
        .expect("Basic has a notification limit");
    smartbox_store::UsageDelta {
        subscription_id: subscription_id.to_owned(),
        period_start: sub.current_period_start,
        period_end: sub.current_period_end,
        notifications: i64::try_from(limit).expect("small"),
        data_bytes: 0,
    }
}
