//! Stories of whole wakes: a simulated mailbox (fake modem, WiFi, camera, SD queue) against a
//! fake device API that checks signatures, on a simulated clock.

mod support;

use smartbox_firmware::http::Transport;
use smartbox_firmware::link::{LinkFailure, Path};
use smartbox_firmware::policy::{TIMER_WAKE_MS, Wake};
use smartbox_protocol::ServiceState;
use support::rig::{EPOCH, Mode, Rig};

const MIN: u64 = 60_000;
const HOUR: u64 = 60 * MIN;

fn s(text: &str) -> String {
    text.to_owned()
}

/// The server's log of one event delivered with its three photos, then the heartbeat.
fn one_delivery(id: &str) -> Vec<(String, Option<u16>)> {
    vec![
        (s("POST events"), Some(201)),
        (format!("PUT events/{id}/photos/0"), Some(201)),
        (format!("PUT events/{id}/photos/1"), Some(201)),
        (format!("PUT events/{id}/photos/2"), Some(201)),
        (s("POST heartbeat"), Some(200)),
    ]
}

#[test]
fn mail_is_photographed_while_the_modem_boots_and_delivered_within_20_seconds() {
    let mut rig = Rig::new();
    let report = rig.wake_at(HOUR, Wake::Mail);

    let journal = rig.journal(HOUR);
    assert_eq!(
        journal[0],
        (0, s("modem on")),
        "the modem is powered before anything else"
    );
    let photos: Vec<u64> = journal
        .iter()
        .filter(|(_, w)| w == "photo q80")
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(
        photos,
        [100, 1_000, 2_000],
        "three photos 1 s apart while the modem boots"
    );
    assert_eq!(journal.last().map(|(_, w)| w.as_str()), Some("modem off"));
    assert!(report.awake_ms <= 20_000, "awake {} ms", report.awake_ms);
    assert_eq!(report.sleep_ms, TIMER_WAKE_MS);

    let event = report.event.expect("a mail event");
    assert_eq!(event.photo_count, 3);
    assert_eq!(event.occurred_at, EPOCH + 3_600);
    assert_eq!(
        (report.delivered, report.queued, report.queue_len),
        (1, 0, 0)
    );
    assert_eq!(rig.server.complete_events(), 1);
    let id = event.event_id.to_string();
    assert_eq!(rig.server.statuses(), one_delivery(&id));
    let beat = &rig.server.state().heartbeats[0];
    assert_eq!(beat.battery_percent, 87);
    assert_eq!(beat.signal_dbm, -85);
    assert_eq!(beat.sd_queue_len, 0);
    assert_eq!(beat.link_reason.as_deref(), Some("cellular -85 dBm"));
    assert_eq!(beat.modem_tx_bytes, 0, "totals up to the previous wake");
    assert!(
        rig.state.modem_bytes.tx > 3_000,
        "this wake's photos are counted for the next heartbeat"
    );
    assert_eq!(
        rig.state.holds.last_checkin_ms,
        Some(HOUR),
        "check-ins are timed from the wake's start"
    );
}

#[test]
fn the_mcu_light_sleeps_between_photos_and_through_the_rest_of_the_modem_boot() {
    let mut rig = Rig::new();
    rig.wake_at(HOUR, Wake::Mail);
    let dozes: Vec<(u64, u64)> = rig
        .sim
        .dozes()
        .iter()
        .map(|(from, to)| (from - HOUR, to - HOUR))
        .collect();
    let ends: Vec<u64> = dozes.iter().map(|(_, to)| *to).collect();
    assert_eq!(
        ends,
        [1_000, 2_000, 10_000],
        "until each photo, then until the modem's UART can answer: {dozes:?}"
    );
    let attach = rig
        .journal(HOUR)
        .into_iter()
        .find(|(_, what)| what == "attach")
        .map(|(t, _)| t);
    assert_eq!(
        attach,
        Some(10_000),
        "the modem is first spoken to after the doze"
    );
}

#[test]
fn a_failed_photo_is_left_out_of_the_event() {
    let mut rig = Rig::new();
    rig.camera.failing = vec![1];
    let report = rig.wake_at(0, Wake::Mail);
    assert_eq!(report.event.map(|e| e.photo_count), Some(2));
    assert_eq!(rig.server.complete_events(), 1);
}

#[test]
fn first_contact_resyncs_the_clock_from_the_401_date_once() {
    let mut rig = Rig::new();
    rig.state.unix_offset_s = 0;
    let report = rig.wake_at(10 * MIN, Wake::Mail);
    let statuses = rig.server.statuses();
    assert_eq!(statuses[0], (s("POST events"), Some(401)));
    assert_eq!(statuses[1], (s("POST events"), Some(201)));
    assert_eq!(
        statuses.iter().filter(|(_, st)| *st == Some(401)).count(),
        1
    );
    assert_eq!(report.delivered, 1);
    assert!(
        (rig.state.unix_at(rig.sim_now()) - (EPOCH + (rig.sim_now() / 1_000) as i64)).abs() <= 1
    );
}

#[test]
fn a_persistent_401_keeps_the_event_and_backs_off() {
    let mut rig = Rig::new();
    rig.server.state().secret = [1; 32];
    let report = rig.wake_at(0, Wake::Mail);
    assert_eq!(
        rig.server.statuses(),
        [(s("POST events"), Some(401)), (s("POST events"), Some(401))],
        "one resync, then no more tries and no heartbeat"
    );
    assert_eq!(
        (report.delivered, report.queued, report.queue_len),
        (0, 1, 1)
    );
    assert!(rig.state.holds.server_hold_until_ms > rig.sim_now());
    assert_eq!(
        rig.journal_words().last().map(String::as_str),
        Some("modem off")
    );
    let next = rig.wake_at(rig.sim_now() + MIN, Wake::Mail);
    assert!(next.choice.is_none(), "held off: no connection");
    assert_eq!(next.queue_len, 2);
}

#[test]
fn a_suspended_mailbox_gets_402_keeps_its_photos_on_sd_and_delivers_after_payment() {
    let mut rig = Rig::new();
    rig.server.state().mode = Mode::Suspended;
    let first = rig.wake_at(0, Wake::Mail);
    assert_eq!((first.delivered, first.queued, first.queue_len), (0, 1, 1));
    assert_eq!(
        first.service,
        Some(ServiceState::Suspended),
        "the heartbeat still goes"
    );
    assert_eq!(
        rig.server.statuses().last(),
        Some(&(s("POST heartbeat"), Some(200)))
    );

    // Held until the next check-in: more mail is stored without connecting.
    let second = rig.wake_at(2 * HOUR, Wake::Mail);
    assert!(second.choice.is_none());
    assert_eq!(second.queue_len, 2);
    assert!(!rig.journal_words().contains(&s("modem on")));

    // The customer pays; the timer wake after the hold flushes both, oldest first, once.
    rig.server.state().mode = Mode::Normal;
    let third = rig.wake_at(7 * HOUR, Wake::Timer);
    assert_eq!((third.delivered, third.queue_len), (2, 0));
    assert_eq!(rig.server.complete_events(), 2);
    let posts = rig
        .server
        .state()
        .log
        .iter()
        .filter(|l| l.path.ends_with("events") && l.status == Some(201))
        .count();
    assert_eq!(posts, 2);
    assert_eq!(third.service, Some(ServiceState::Active));
}

#[test]
fn over_the_spend_cap_429_waits_for_retry_after() {
    let mut rig = Rig::new();
    rig.server.state().mode = Mode::OverCap {
        retry_after_s: 2 * 3_600,
    };
    let first = rig.wake_at(0, Wake::Mail);
    assert_eq!((first.delivered, first.queue_len), (0, 1));
    let hold = rig.state.holds.server_hold_until_ms;
    assert!((2 * HOUR..2 * HOUR + MIN).contains(&hold), "hold {hold}");
    assert!(
        rig.wake_at(HOUR, Wake::Timer).choice.is_none(),
        "queue waits for Retry-After"
    );
    rig.server.state().mode = Mode::Normal;
    let later = rig.wake_at(2 * HOUR + MIN, Wake::Timer);
    assert_eq!((later.delivered, later.queue_len), (1, 0));
}

#[test]
fn server_errors_are_retried_within_the_wake_with_backoff() {
    let mut rig = Rig::new();
    rig.server.state().fail_next = 2;
    let report = rig.wake_at(0, Wake::Mail);
    assert_eq!(report.delivered, 1);
    let log = &rig.server.state().log;
    assert_eq!(
        log.iter().take(3).map(|l| l.status).collect::<Vec<_>>(),
        [Some(503), Some(503), Some(201)]
    );
    assert_eq!(
        log[1].at_ms - log[0].at_ms,
        1_000 + 300,
        "1 s backoff plus the exchange"
    );
    assert_eq!(log[2].at_ms - log[1].at_ms, 2_000 + 300, "then 2 s");
    assert_eq!(rig.state.holds.failures, 0);
}

#[test]
fn server_down_during_a_wake_keeps_the_event_and_delivers_it_next_wake_exactly_once() {
    let mut rig = Rig::new();
    rig.server.state().fail_next = 4;
    let first = rig.wake_at(0, Wake::Mail);
    assert_eq!((first.delivered, first.queued, first.queue_len), (0, 1, 1));
    assert_eq!(rig.state.holds.failures, 1);
    // The heartbeat was tried after the event gave up (the fourth 503, then 200).
    assert_eq!(
        rig.server.statuses().last(),
        Some(&(s("POST heartbeat"), Some(200)))
    );

    let retry_at = rig.state.holds.link_retry_at_ms;
    assert!(
        rig.wake_at(retry_at - 1, Wake::Timer).choice.is_none(),
        "timer wakes wait for the retry time"
    );
    let second = rig.wake_at(retry_at, Wake::Timer);
    assert_eq!((second.delivered, second.queue_len), (1, 0));
    assert_eq!(rig.server.complete_events(), 1);
    assert_eq!(rig.server.state().events.len(), 1);
    assert_eq!(rig.state.holds.failures, 0);
}

#[test]
fn network_timeouts_stop_the_session_and_keep_the_event() {
    let mut rig = Rig::new();
    rig.server.state().drop_next = 3;
    let report = rig.wake_at(0, Wake::Mail);
    assert_eq!((report.delivered, report.queue_len), (0, 1));
    assert_eq!(
        rig.server.state().heartbeats.len(),
        0,
        "no heartbeat over a dead link"
    );
    assert_eq!(rig.state.holds.failures, 1);
    assert_eq!(
        rig.journal_words().last().map(String::as_str),
        Some("modem off")
    );
}

#[test]
fn a_queued_event_the_server_already_completed_is_not_uploaded_again() {
    let mut rig = Rig::new();
    let first = rig.wake_at(0, Wake::Mail);
    let event = first.event.expect("event");
    // As if power was lost after the server stored it but before the device knew.
    let photos = rig.server.state().events[&event.event_id]
        .1
        .values()
        .cloned()
        .collect();
    rig.queue.records.push_back((event, photos));
    let second = rig.wake_at(7 * HOUR, Wake::Timer);
    assert_eq!((second.delivered, second.queue_len), (1, 0));
    let puts_after = rig
        .server
        .state()
        .log
        .iter()
        .filter(|l| l.at_ms >= 7 * HOUR && l.method == "PUT")
        .count();
    assert_eq!(puts_after, 0);
    assert_eq!(rig.server.state().events.len(), 1);
}

#[test]
fn a_photo_the_server_refuses_for_good_is_dropped_rather_than_blocking_the_queue() {
    let mut rig = Rig::new();
    rig.camera.corrupt = vec![0];
    let report = rig.wake_at(0, Wake::Mail);
    assert_eq!(
        (report.delivered, report.dropped, report.queue_len),
        (0, 1, 0)
    );
    assert_eq!(rig.server.statuses()[1].1, Some(400));
}

/// Issue 13 (seed 9): the server stored the event, but a byte lost on the UART turned the
/// modem's report of its 201 into a `20`; the event was dropped and never completed.
#[test]
fn a_stored_event_whose_answer_was_mangled_stays_on_sd_until_the_server_says_complete() {
    let mut rig = Rig::new();
    rig.server.state().garble_next = vec![(20, Vec::new())];
    let first = rig.wake_at(0, Wake::Mail);
    assert_eq!((first.delivered, first.dropped, first.queue_len), (0, 0, 1));
    let held = rig
        .server
        .state()
        .heartbeats
        .last()
        .cloned()
        .expect("a check-in");
    assert_eq!(held.sd_queue_len, 1);
    assert_eq!(held.sd_failed_deliveries, Some(1));
    assert!(held.sd_oldest_age_s.is_some());

    let second = rig.wake_at(rig.state.holds.link_retry_at_ms.max(HOUR), Wake::Timer);
    assert_eq!((second.delivered, second.queue_len), (1, 0));
    assert_eq!(rig.server.complete_events(), 1);
    let after = rig
        .server
        .state()
        .heartbeats
        .last()
        .cloned()
        .expect("a check-in");
    assert_eq!(
        (after.sd_oldest_age_s, after.sd_failed_deliveries),
        (None, None)
    );
}

/// Issue 13: a request mangled on its way (no such route) gets a 404 without the API's error
/// body; it proves nothing about the event, which is sent again rather than dropped.
#[test]
fn a_4xx_without_the_apis_error_body_keeps_the_event() {
    let mut rig = Rig::new();
    rig.server.state().garble_next = vec![(404, Vec::new())];
    let first = rig.wake_at(0, Wake::Mail);
    assert_eq!((first.delivered, first.dropped, first.queue_len), (0, 0, 1));
    let second = rig.wake_at(rig.state.holds.link_retry_at_ms.max(HOUR), Wake::Timer);
    assert_eq!((second.delivered, second.queue_len), (1, 0));
    assert_eq!(rig.server.complete_events(), 1);
}

/// Issue 13 (seed 7): a 2xx to the event whose body is not this event's completion (here
/// another event's) no longer takes the event off SD without its photos.
#[test]
fn only_an_answer_about_this_event_can_say_it_is_complete() {
    let mut rig = Rig::new();
    let other = br#"{"event_id":"67e55044-10b1-426f-9247-bb680e5fe0c8","photos_received":3,"complete":true}"#;
    rig.server.state().garble_next = vec![(200, other.to_vec())];
    let report = rig.wake_at(0, Wake::Mail);
    assert_eq!((report.delivered, report.queue_len), (1, 0));
    assert_eq!(rig.server.complete_events(), 1, "its photos were sent");
}

#[test]
fn timer_wakes_stay_local_until_a_checkin_is_due() {
    let mut rig = Rig::new();
    let first = rig.wake_at(0, Wake::Timer);
    assert!(first.choice.is_some(), "never checked in: check in now");
    for half_hour in 1..12 {
        let report = rig.wake_at(half_hour * 30 * MIN, Wake::Timer);
        assert!(report.choice.is_none(), "wake {half_hour}");
        assert!(rig.journal_words().is_empty(), "no modem, no camera");
    }
    let due = rig.wake_at(6 * HOUR + MIN, Wake::Timer);
    assert!(due.choice.is_some());
    assert_eq!(
        rig.server.statuses(),
        [
            (s("POST heartbeat"), Some(200)),
            (s("POST heartbeat"), Some(200))
        ]
    );
}

#[test]
fn the_server_config_sets_checkin_interval_and_jpeg_quality() {
    let mut rig = Rig::new();
    rig.server.state().config.checkin_interval_s = 1_800;
    rig.server.state().config.jpeg_quality = 60;
    rig.wake_at(0, Wake::Timer);
    assert!(rig.wake_at(30 * MIN, Wake::Timer).choice.is_some());
    rig.wake_at(40 * MIN, Wake::Mail);
    assert!(rig.journal_words().contains(&s("photo q60")));
}

#[test]
fn no_coverage_is_retried_once_then_wifi_above_minus_70_dbm_carries_the_upload() {
    let mut rig = Rig::new();
    rig.has_wifi = true;
    rig.wifi.rssi = Some(-65);
    rig.cellular.attach_results =
        [Err(LinkFailure::NoCoverage), Err(LinkFailure::NoCoverage)].into();
    let report = rig.wake_at(0, Wake::Mail);
    let choice = report.choice.expect("connected");
    assert_eq!(choice.path, Path::Wifi { rssi_dbm: -65 });
    assert_eq!(
        choice.reason.as_str(),
        "wifi -65 dBm; cellular not registered"
    );
    let words = rig.journal_words();
    assert_eq!(words.iter().filter(|w| *w == "attach").count(), 2);
    let modem_off = words
        .iter()
        .position(|w| w == "modem off")
        .expect("modem off");
    let join = words.iter().position(|w| w == "wifi join").expect("joined");
    assert!(
        modem_off < join || modem_off == join + 1,
        "modem off before uploading over wifi: {words:?}"
    );
    assert_eq!(report.delivered, 1);
    let beat = &rig.server.state().heartbeats[0];
    assert_eq!(beat.network, smartbox_protocol::Network::Wifi);
    assert_eq!(
        beat.link_reason.as_deref(),
        Some("wifi -65 dBm; cellular not registered")
    );
}

#[test]
fn wifi_at_or_below_minus_70_dbm_is_not_used_and_the_event_stays_on_sd() {
    let mut rig = Rig::new();
    rig.has_wifi = true;
    rig.wifi.rssi = Some(-70);
    rig.cellular.attach_results = [Err(LinkFailure::Denied)].into();
    let report = rig.wake_at(0, Wake::Mail);
    let choice = report.choice.expect("tried");
    assert_eq!(choice.path, Path::Offline);
    assert_eq!(
        choice.reason.as_str(),
        "offline: cellular registration denied; wifi -70 <= -70 dBm"
    );
    assert_eq!(
        rig.journal_words()
            .iter()
            .filter(|w| *w == "attach")
            .count(),
        1,
        "denied is not retried"
    );
    assert!(!rig.journal_words().contains(&s("wifi join")));
    assert_eq!((report.queued, report.queue_len), (1, 1));
    assert_eq!(rig.state.holds.failures, 1);
    assert!(rig.server.statuses().is_empty());
}

#[test]
fn cellular_is_preferred_even_when_wifi_is_strong() {
    let mut rig = Rig::new();
    rig.has_wifi = true;
    rig.wifi.rssi = Some(-40);
    let report = rig.wake_at(0, Wake::Mail);
    assert_eq!(
        report.choice.map(|c| c.path),
        Some(Path::Cellular { signal_dbm: -85 })
    );
    assert!(!rig.journal_words().contains(&s("wifi scan")));
}

#[test]
fn wifi_credentials_from_a_heartbeat_are_stored_reported_and_used_when_cellular_fails() {
    use smartbox_firmware::wake::CredentialsUpdate;
    use smartbox_protocol::{WifiCredentials, WifiStatus, wifi};
    let mut rig = Rig::new();
    rig.has_wifi = true;
    rig.wifi.credentials = None;
    rig.wifi.rssi = Some(-60);
    let home = WifiCredentials::new("home", "correct horse").expect("valid");
    rig.server.state().wifi = Some(wifi::seal(&support::rig::SECRET, 500, [4; 12], &home));
    // Cellular carries this check-in; its answer brings the credentials.
    let report = rig.wake_at(0, Wake::Timer);
    assert_eq!(
        report.wifi_credentials,
        Some(CredentialsUpdate::Stored(500))
    );
    assert_eq!(rig.wifi.credentials, Some((500, home)));
    let first = rig.server.state().heartbeats[0].wifi.expect("reported");
    assert_eq!((first.credentials, first.status), (0, WifiStatus::Untried));
    // Next wake: no coverage, so the stored credentials carry the mail; the server hears the
    // version and the join, and sends the credentials no more.
    rig.cellular.attach_results =
        [Err(LinkFailure::NoCoverage), Err(LinkFailure::NoCoverage)].into();
    let report = rig.wake_at(HOUR, Wake::Mail);
    assert_eq!(
        report.choice.map(|c| c.path),
        Some(Path::Wifi { rssi_dbm: -60 })
    );
    assert_eq!(report.delivered, 1);
    assert_eq!(report.wifi_credentials, None);
    let second = rig.server.state().heartbeats[1].wifi.expect("reported");
    assert_eq!(
        (second.credentials, second.status),
        (500, WifiStatus::Joined)
    );
}

#[test]
fn wifi_credentials_sealed_for_another_device_are_refused_and_a_wrong_passphrase_is_reported() {
    use smartbox_firmware::wake::CredentialsUpdate;
    use smartbox_protocol::wifi::{self, OpenError};
    use smartbox_protocol::{WifiCredentials, WifiStatus};
    let mut rig = Rig::new();
    rig.has_wifi = true;
    rig.wifi.rssi = Some(-60);
    let home = WifiCredentials::new("home", "correct horse").expect("valid");
    rig.server.state().wifi = Some(wifi::seal(&[8; 32], 500, [4; 12], &home));
    let report = rig.wake_at(0, Wake::Timer);
    assert_eq!(
        report.wifi_credentials,
        Some(CredentialsUpdate::Refused(OpenError::Forged))
    );
    assert_eq!(rig.wifi.credentials.as_ref().map(|(v, _)| *v), Some(1));
    // The access point refuses the factory credentials: said in the next heartbeat.
    rig.server.state().wifi = None;
    rig.wifi.join_ok = false;
    rig.cellular.attach_results = [Err(LinkFailure::Denied)].into();
    let report = rig.wake_at(HOUR, Wake::Mail);
    assert_eq!(
        report.choice.map(|c| c.wifi),
        Some(Some(WifiStatus::JoinFailed))
    );
    assert_eq!(rig.state.wifi_status, WifiStatus::JoinFailed);
    rig.wake_at(2 * HOUR, Wake::Mail);
    let last = rig.server.state().heartbeats.last().cloned().expect("beat");
    assert_eq!(last.wifi.map(|w| w.status), Some(WifiStatus::JoinFailed));
}

#[test]
fn a_board_without_wifi_credentials_does_not_scan() {
    let mut rig = Rig::new();
    rig.has_wifi = true;
    rig.wifi.credentials = None;
    rig.wifi.rssi = Some(-40);
    rig.cellular.attach_results = [Err(LinkFailure::Denied)].into();
    let report = rig.wake_at(0, Wake::Mail);
    let choice = report.choice.expect("tried");
    assert_eq!(choice.path, Path::Offline);
    assert_eq!(choice.wifi, None);
    assert!(!rig.journal_words().contains(&s("wifi scan")));
}

#[test]
fn an_sd_card_failure_offline_loses_the_event_and_says_so() {
    let mut rig = Rig::new();
    rig.queue.broken = true;
    rig.cellular.attach_results = [Err(LinkFailure::NoSim)].into();
    let report = rig.wake_at(0, Wake::Mail);
    assert_eq!((report.queued, report.lost), (0, 1));
}

#[test]
fn a_photo_too_large_for_the_modem_is_dropped_at_once_not_retried_forever() {
    let mut rig = Rig::new();
    rig.cellular.max_body = 500;
    let report = rig.wake_at(0, Wake::Mail);
    assert_eq!(
        (report.delivered, report.dropped, report.queue_len),
        (0, 1, 0)
    );
    let statuses = rig.server.statuses();
    assert_eq!(
        statuses
            .iter()
            .filter(|(what, _)| what.starts_with("PUT"))
            .count(),
        0
    );
    assert_eq!(statuses.last(), Some(&(s("POST heartbeat"), Some(200))));
    assert_eq!(rig.state.holds.failures, 0);
}

#[test]
fn only_the_heartbeat_is_marked_last_and_the_transport_is_reported() {
    let mut rig = Rig::new();
    rig.cellular.transport = Some(Transport::Socket);
    let report = rig.wake_at(HOUR, Wake::Mail);
    assert_eq!(report.delivered, 1);
    assert_eq!(
        rig.cellular.lasts,
        [false, false, false, false, true],
        "event and photos keep the connection; the heartbeat may close it"
    );
    assert_eq!(report.transport, Some(Transport::Socket));
    let beat = &rig.server.state().heartbeats[0];
    assert_eq!(
        beat.link_reason.as_deref(),
        Some("cellular -85 dBm; socket")
    );
}

#[test]
fn on_a_pipelining_link_the_photos_follow_the_event_without_waiting_for_its_answer() {
    let mut rig = Rig::new();
    rig.cellular.pipelining = true;
    // The last heartbeat said the service is active.
    rig.wake_at(0, Wake::Timer);
    let before = rig.server.statuses().len();
    let report = rig.wake_at(HOUR, Wake::Mail);
    assert_eq!((report.delivered, report.queued), (1, 0));
    let id = report.event.expect("event").event_id.to_string();
    assert_eq!(
        rig.server.statuses()[before..],
        one_delivery(&id),
        "each request once"
    );
    assert_eq!(rig.server.complete_events(), 1);
    let mut sequential = Rig::new();
    sequential.wake_at(0, Wake::Timer);
    let slow = sequential.wake_at(HOUR, Wake::Mail);
    assert!(
        report.awake_ms + 600 < slow.awake_ms,
        "three answers not waited for: {} ms against {} ms",
        report.awake_ms,
        slow.awake_ms
    );
}

#[test]
fn a_refusal_on_the_pipelined_path_is_handled_one_request_at_a_time_as_before() {
    let mut rig = Rig::new();
    rig.cellular.pipelining = true;
    // A check-in while the service is active, then the subscription lapses.
    rig.wake_at(0, Wake::Timer);
    let before = rig.server.statuses().len();
    rig.server.state().mode = Mode::Suspended;
    let report = rig.wake_at(HOUR, Wake::Mail);
    assert_eq!(
        (report.delivered, report.queued, report.queue_len),
        (0, 1, 1),
        "kept on SD"
    );
    let statuses = rig.server.statuses()[before..].to_vec();
    assert_eq!(
        statuses[..4].iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        [Some(402); 4],
        "the pipelined event and photos"
    );
    assert_eq!(
        statuses[4..],
        [
            (s("POST events"), Some(402)),
            (s("POST heartbeat"), Some(200))
        ],
        "then the event alone, judged as before, and the heartbeat"
    );
    // Paid: the check-in after the hold delivers it once, one request at a time while the
    // last heartbeat said the service was suspended.
    rig.server.state().mode = Mode::Normal;
    let before = rig.server.statuses().len();
    let later = rig.wake_at(8 * HOUR, Wake::Timer);
    assert_eq!((later.delivered, later.queue_len), (1, 0));
    assert_eq!(rig.server.complete_events(), 1);
    let statuses: Vec<Option<u16>> = rig.server.statuses()[before..]
        .iter()
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(
        statuses,
        [Some(201); 4]
            .iter()
            .copied()
            .chain([Some(200)])
            .collect::<Vec<_>>()
    );
    assert_eq!(
        rig.cellular.lasts.len(),
        rig.server.statuses().len(),
        "every request went out once"
    );
}

#[test]
fn before_any_heartbeat_said_the_service_is_active_nothing_is_pipelined() {
    let mut rig = Rig::new();
    rig.cellular.pipelining = true;
    rig.server.state().mode = Mode::Suspended;
    let report = rig.wake_at(HOUR, Wake::Mail);
    assert_eq!((report.delivered, report.queued), (0, 1));
    assert_eq!(
        rig.server.statuses(),
        [
            (s("POST events"), Some(402)),
            (s("POST heartbeat"), Some(200))
        ],
        "no photo sent for an event the server refuses"
    );
}

#[test]
fn a_5xx_on_the_pipelined_path_is_retried_one_request_at_a_time() {
    let mut rig = Rig::new();
    rig.cellular.pipelining = true;
    rig.wake_at(0, Wake::Timer);
    let before = rig.server.statuses().len();
    rig.server.state().fail_next = 1;
    let report = rig.wake_at(HOUR, Wake::Mail);
    assert_eq!((report.delivered, report.queued), (1, 0));
    assert_eq!(rig.server.complete_events(), 1);
    let statuses = rig.server.statuses()[before..].to_vec();
    assert_eq!(statuses[0], (s("POST events"), Some(503)));
    assert_eq!(statuses[4], (s("POST events"), Some(201)), "{statuses:?}");
}

#[test]
fn a_letter_resting_in_the_beam_costs_the_settle_time_once_then_a_single_look() {
    use smartbox_firmware::clock::Clock;
    use smartbox_firmware::ir::{IR_SETTLE_MS, IrLine, settled};
    struct Line(bool);
    impl IrLine for Line {
        fn is_high(&mut self) -> bool {
            self.0
        }
    }
    let mut rig = Rig::new();
    let mut line = Line(true);
    rig.sim.set_now(HOUR);
    let armed = embassy_futures::block_on(settled(&mut line, &rig.sim, &mut rig.state));
    assert!(
        !armed,
        "a line high past the settle time does not arm the wake"
    );
    assert_eq!(rig.sim.now_ms(), HOUR + IR_SETTLE_MS, "waited, dozing");
    assert!(rig.state.ir_stuck);
    // The next wake: still high, one look and no wait.
    rig.sim.set_now(2 * HOUR);
    let armed = embassy_futures::block_on(settled(&mut line, &rig.sim, &mut rig.state));
    assert_eq!((armed, rig.sim.now_ms()), (false, 2 * HOUR));
    // The letter is taken: the line falls and the IR wake is armed again.
    line.0 = false;
    rig.sim.set_now(3 * HOUR);
    let armed = embassy_futures::block_on(settled(&mut line, &rig.sim, &mut rig.state));
    assert!(armed && !rig.state.ir_stuck);
}
