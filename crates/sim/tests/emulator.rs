//! The A7670 emulator under the real firmware driver: whole wakes through the AT dialect against
//! a stub device API, with timing and faults.

mod support;

use smartbox_firmware::http::Transport;
use smartbox_firmware::link::Path;
use smartbox_firmware::policy::Wake;
use smartbox_sim::camera::CameraSpec;
use smartbox_sim::energy::Currents;
use smartbox_sim::mailbox::{Mailbox, MailboxSpec};
use smartbox_sim::modem::Fault;
use support::{SECRET, SERIAL, serve_stub};

const HOUR: u64 = 3_600_000;

#[test]
fn a_mail_wake_goes_through_the_emulated_modem_and_reaches_the_server() {
    let served = serve_stub(&[(SERIAL, SECRET)]);
    let mut mailbox = served.mailbox(&MailboxSpec::new(SERIAL, SECRET, 1));
    let report = mailbox.wake(HOUR, Wake::Mail);
    assert_eq!(report.delivered, 1, "{report:?}");
    assert!(matches!(
        report.choice.map(|c| c.path),
        Some(Path::Cellular { signal_dbm: -85 })
    ));
    assert_eq!(served.stub.complete_events(), 1);
    let records = served.stub.records.lock().expect("lock");
    assert_eq!(records.heartbeats.len(), 1);
    assert!(
        records.heartbeats[0].modem_tx_bytes == 0,
        "counters are reported at the next wake"
    );
    let stats = mailbox.modem_stats();
    assert_eq!(stats.requests_sent, 5, "event, three photos, heartbeat");
    assert_eq!(stats.connections, 1, "all five over one connection");
    assert_eq!(stats.http_actions, 0, "the HTTP stack is the fallback only");
    assert_eq!(report.transport, Some(Transport::Socket));
    assert_eq!(
        records.heartbeats[0].link_reason.as_deref(),
        Some("cellular -85 dBm; socket")
    );
    assert!(
        mailbox.board().with(|s| s.modem.is_off(s.now_ms)),
        "powered down at the end"
    );
    assert_eq!(
        report.awake_ms,
        mailbox.board().now_ms() - HOUR,
        "awake from the wake on, the MCU's boot included"
    );
    eprintln!("awake {} ms, stats {stats:?}", report.awake_ms);
    assert!(
        (11_000..30_000).contains(&report.awake_ms),
        "boot ~11 s overlapping the photos: {} ms",
        report.awake_ms
    );
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let run = || {
        let served = serve_stub(&[(SERIAL, SECRET)]);
        let mut mailbox = served.mailbox(&MailboxSpec::new(SERIAL, SECRET, 7));
        mailbox.arm(Some(Fault::UrcNoise));
        let a = mailbox.wake(HOUR, Wake::Mail);
        let b = mailbox.wake(2 * HOUR, Wake::Mail);
        (
            a.awake_ms,
            b.awake_ms,
            a.event.map(|e| e.event_id),
            mailbox.modem_stats(),
        )
    };
    assert_eq!(run(), run());
}

#[test]
fn without_a_sim_the_event_stays_on_sd_and_goes_at_the_next_wake() {
    let served = serve_stub(&[(SERIAL, SECRET)]);
    let mut mailbox = served.mailbox(&MailboxSpec::new(SERIAL, SECRET, 2));
    mailbox.arm(Some(Fault::NoSim));
    let first = mailbox.wake(HOUR, Wake::Mail);
    assert_eq!((first.delivered, first.queued, first.queue_len), (0, 1, 1));
    let reason = first
        .choice
        .map(|c| c.reason.to_string())
        .unwrap_or_default();
    assert!(reason.contains("no sim"), "{reason}");
    assert_eq!(served.stub.complete_events(), 0);
    let second = mailbox.wake(HOUR + 30 * 60_000, Wake::Timer);
    assert_eq!((second.delivered, second.queue_len), (1, 0), "{second:?}");
    assert_eq!(served.stub.complete_events(), 1);
}

#[test]
fn every_fault_ends_with_the_event_delivered_once() {
    use smartbox_sim::modem::codes;
    let faults = [
        Fault::RegistrationDenied,
        Fault::NoCoverage,
        Fault::HttpError {
            request: 2,
            code: codes::DNS,
            sent: false,
        },
        Fault::HttpError {
            request: 3,
            code: codes::SOCKET,
            sent: true,
        },
        Fault::HttpTimeout { request: 1 },
        Fault::ResetMidUpload { upload: 3 },
        Fault::UrcNoise,
        Fault::DroppedBytes,
    ];
    for (i, fault) in faults.into_iter().enumerate() {
        let served = serve_stub(&[(SERIAL, SECRET)]);
        let mut mailbox = served.mailbox(&MailboxSpec::new(SERIAL, SECRET, 100 + i as u64));
        mailbox.arm(Some(fault));
        let mut at = HOUR;
        let mut report = mailbox.wake(at, Wake::Mail);
        let mut wakes = 1;
        while mailbox.queue_len() > 0 || report.delivered == 0 && wakes == 1 {
            at = mailbox.board().now_ms() + report.sleep_ms;
            report = mailbox.wake(at, Wake::Timer);
            wakes += 1;
            assert!(wakes < 50, "{fault:?}: still queued after {wakes} wakes");
        }
        assert_eq!(served.stub.complete_events(), 1, "{fault:?}");
        assert_eq!(
            served.stub.records.lock().expect("lock").events.len(),
            1,
            "{fault:?}"
        );
    }
}

#[test]
fn two_mailboxes_with_the_same_seed_still_make_different_event_ids() {
    let served = serve_stub(&[(SERIAL, SECRET), ("SB-SIM-0002", SECRET)]);
    let mut a = served.mailbox(&MailboxSpec::new(SERIAL, SECRET, 9));
    let mut b = served.mailbox(&MailboxSpec::new("SB-SIM-0002", SECRET, 9));
    let ids =
        [a.wake(HOUR, Wake::Mail), b.wake(HOUR, Wake::Mail)].map(|r| r.event.map(|e| e.event_id));
    assert!(ids[0].is_some());
    assert_ne!(ids[0], ids[1]);
    assert_eq!(served.stub.complete_events(), 2);
}

#[test]
fn the_variant_without_an_http_stack_is_refused_and_the_mail_kept() {
    let served = serve_stub(&[(SERIAL, SECRET)]);
    let mut spec = MailboxSpec::new(SERIAL, SECRET, 11);
    spec.modem.model = "A7670E-LNXY-UBL".to_owned();
    let mut mailbox = served.mailbox(&spec);
    let report = mailbox.wake(HOUR, Wake::Mail);
    let reason = report
        .choice
        .map(|c| c.reason.to_string())
        .unwrap_or_default();
    assert!(reason.contains("modem without http"), "{reason}");
    assert_eq!((report.delivered, report.queue_len), (0, 1));
    assert_eq!(mailbox.modem_stats().http_actions, 0);
}

/// `(AT+CCHOPEN, AT+CPOF)` of the last wake in `transcript`, from `since`: the uploads.
fn upload_phase(transcript: &[(u64, u32, String)], since: u64) -> (u64, u64) {
    let wake: Vec<_> = transcript.iter().filter(|(t, _, _)| *t >= since).collect();
    let first = wake
        .iter()
        .find(|(_, _, c)| c.starts_with("AT+CCHOPEN"))
        .map(|(t, _, _)| *t);
    let last = wake
        .iter()
        .rev()
        .find(|(_, _, c)| c == "AT+CPOF")
        .map(|(t, _, _)| *t);
    (first.expect("a connection"), last.expect("a power-off"))
}

#[test]
fn the_first_boot_stores_3686400_with_iprex_before_any_upload_and_later_wakes_upload_faster() {
    let served = serve_stub(&[(SERIAL, SECRET)]);
    let spec = |baud, seed| MailboxSpec {
        camera: CameraSpec::VGA,
        uart_baud: baud,
        ..MailboxSpec::new(SERIAL, SECRET, seed)
    };
    let mut fast = served.mailbox(&spec(3_686_400, 4));
    fast.board().with(|s| s.modem.record());
    let first = fast.wake(HOUR, Wake::Mail);
    assert_eq!(first.delivered, 1, "{first:?}");
    let transcript = fast.board().with(|s| s.modem.transcript().to_vec());
    let iprex = transcript
        .iter()
        .position(|(_, _, c)| c == "AT+IPREX=3686400")
        .expect("AT+IPREX sent");
    let first_action = transcript
        .iter()
        .position(|(_, _, c)| c.starts_with("AT+CCHOPEN"))
        .expect("uploads");
    assert!(iprex < first_action, "the UART is fast before any upload");
    assert_eq!(transcript[iprex].1, 115_200, "asked at the factory rate");
    assert!(
        transcript[iprex + 1..]
            .iter()
            .all(|(_, baud, _)| *baud == 3_686_400),
        "everything after it at 3,686,400"
    );
    let count =
        |wake: &[(u64, u32, String)], what: &str| wake.iter().filter(|(_, _, c)| c == what).count();
    let opens = transcript
        .iter()
        .filter(|(_, _, c)| c.starts_with("AT+CCHOPEN"))
        .count();
    assert_eq!(opens, 1, "one connection");
    assert_eq!(
        count(&transcript, "AT+CEREG?"),
        1,
        "registration came as a URC"
    );

    let lost_first = fast.modem_stats().baud_mismatch_bytes;
    assert!(lost_first > 0, "the first boot's URCs went at 115,200");
    let second_at = 2 * HOUR;
    let second = fast.wake(second_at, Wake::Mail);
    assert_eq!(second.delivered, 1, "{second:?}");
    let transcript = fast.board().with(|s| s.modem.transcript().to_vec());
    let wake: Vec<_> = transcript
        .iter()
        .filter(|(t, _, _)| *t >= second_at)
        .cloned()
        .collect();
    assert_eq!(count(&wake, "AT+IPREX=3686400"), 0, "stored in the modem");
    assert!(wake.iter().all(|(_, baud, _)| *baud == 3_686_400));
    assert_eq!(count(&wake, "AT+CCHSTART"), 1);
    assert_eq!(
        fast.modem_stats().baud_mismatch_bytes,
        lost_first,
        "the fast rate is right from the boot URC on"
    );
    let (from, to) = upload_phase(&transcript, second_at);

    // Another seed: other event ids, so the stub does not answer "already stored".
    let mut slow = served.mailbox(&spec(115_200, 5));
    slow.board().with(|s| s.modem.record());
    slow.wake(HOUR, Wake::Mail);
    assert_eq!(slow.wake(second_at, Wake::Mail).delivered, 1);
    let transcript = slow.board().with(|s| s.modem.transcript().to_vec());
    assert_eq!(count(&transcript, "AT+IPREX=3686400"), 0);
    let (slow_from, slow_to) = upload_phase(&transcript, second_at);
    assert!(
        (to - from) + 5_000 < slow_to - slow_from,
        "three ~30 kB photos: {} ms at 3,686,400 baud against {} ms at 115,200",
        to - from,
        slow_to - slow_from
    );
    assert!(second.awake_ms < 22_000, "awake {} ms", second.awake_ms);
}

/// The second wakes of two mailboxes of the same seed, over `http` and over `https` (against
/// two stubs, so the same event ids are new to each), recorded.
fn plain_and_tls_wakes(use_socket: bool) -> ([Mailbox; 2], [smartbox_firmware::wake::Report; 2]) {
    let served = serve_stub(&[(SERIAL, SECRET)]);
    let spec = MailboxSpec {
        use_socket,
        ..MailboxSpec::new(SERIAL, SECRET, 8)
    };
    let mut plain = served.mailbox(&spec);
    let other = serve_stub(&[(SERIAL, SECRET)]);
    let mut spec = spec.clone();
    spec.modem.tls_terminated = true;
    // The firmware needs a CA for `https`; the stub speaks plain HTTP, so the emulator only
    // stores it (TLS is modelled in time).
    spec.ca_cert = Some(smartbox_sim::run::modelled_ca());
    let https = other.url.replacen("http://", "https://", 1);
    let mut tls = Mailbox::new(
        &spec,
        other.network(),
        &https,
        support::EPOCH_MS,
        Currents::default(),
    )
    .expect("mailbox");
    tls.board().with(|s| s.modem.record());
    plain.board().with(|s| s.modem.record());
    // A second wake of each, both modems already at 3,686,400.
    plain.wake(HOUR, Wake::Mail);
    tls.wake(HOUR, Wake::Mail);
    let plain_wake = plain.wake(2 * HOUR, Wake::Mail);
    let tls_wake = tls.wake(2 * HOUR, Wake::Mail);
    assert_eq!((plain_wake.delivered, tls_wake.delivered), (1, 1));
    ([plain, tls], [plain_wake, tls_wake])
}

#[test]
fn over_https_the_socket_sets_tls_up_once_and_pays_one_handshake_a_wake() {
    let ([plain, tls], _) = plain_and_tls_wakes(true);
    let transcript = tls.board().with(|s| s.modem.transcript().to_vec());
    let since = |what: &str| {
        transcript
            .iter()
            .filter(|(t, _, c)| *t >= 2 * HOUR && c.starts_with(what))
            .count()
    };
    assert_eq!(since("AT+CSSLCFG=\"enableSNI\",0,1"), 1, "SNI on");
    assert_eq!(
        since("AT+CCHOPEN=0,\"127.0.0.1\","),
        1,
        "one TLS connection"
    );
    assert_eq!(since("AT+HTTP"), 0, "no HTTP stack");
    // The phases from CCHOPEN to CPOF: the same five requests, and one TLS handshake (two
    // round trips, ~157 ms each at -85 dBm) plus AT+CCHSSLCFG.
    let phase = |mailbox: &Mailbox| {
        let transcript = mailbox.board().with(|s| s.modem.transcript().to_vec());
        let (from, to) = upload_phase(&transcript, 2 * HOUR);
        to - from
    };
    let extra = phase(&tls) as i64 - phase(&plain) as i64;
    assert!((300..400).contains(&extra), "TLS costs {extra} ms");
}

#[test]
fn over_the_http_stack_tls_is_configured_once_and_every_request_pays_a_handshake() {
    let ([_, tls], [plain_wake, tls_wake]) = plain_and_tls_wakes(false);
    let transcript = tls.board().with(|s| s.modem.transcript().to_vec());
    let sni = transcript
        .iter()
        .filter(|(t, _, c)| *t >= 2 * HOUR && c == "AT+CSSLCFG=\"enableSNI\",0,1")
        .count();
    assert_eq!(sni, 1, "TLS set up once for the session's five requests");
    assert_eq!(tls_wake.transport, Some(Transport::HttpStack));
    // Two more round trips (~157 ms at -85 dBm) for each of the five requests.
    let extra = tls_wake.awake_ms as i64 - plain_wake.awake_ms as i64;
    assert!((1_000..2_500).contains(&extra), "TLS costs {extra} ms");
}

/// The commands of `mailbox`'s modem from `since` on.
fn commands_since(mailbox: &Mailbox, since: u64) -> Vec<(u64, u32, String)> {
    let transcript = mailbox.board().with(|s| s.modem.transcript().to_vec());
    transcript
        .into_iter()
        .filter(|(t, _, _)| *t >= since)
        .collect()
}

#[test]
fn a_modem_that_refuses_3686400_stores_921600_and_no_later_wake_asks_again_or_hunts_for_the_rate() {
    let served = serve_stub(&[(SERIAL, SECRET)]);
    let mut spec = MailboxSpec::new(SERIAL, SECRET, 12);
    spec.modem.uart_bauds.retain(|&b| b != 3_686_400);
    let mut mailbox = served.mailbox(&spec);
    mailbox.board().with(|s| s.modem.record());
    let first = mailbox.wake(HOUR, Wake::Mail);
    assert_eq!(first.delivered, 1, "{first:?}");
    let asked: Vec<String> = commands_since(&mailbox, HOUR)
        .into_iter()
        .map(|(_, _, c)| c)
        .filter(|c| c.starts_with("AT+IPREX"))
        .collect();
    assert_eq!(asked, ["AT+IPREX=3686400", "AT+IPREX=921600"]);
    let lost = mailbox.modem_stats().baud_mismatch_bytes;
    let mut awake = Vec::new();
    for wake in 2..5 {
        let at = wake * HOUR;
        let report = mailbox.wake(at, Wake::Mail);
        assert_eq!(report.delivered, 1, "{report:?}");
        let wake = commands_since(&mailbox, at);
        assert!(
            wake.iter()
                .all(|(_, baud, c)| *baud == 921_600 && !c.starts_with("AT+IPREX")),
            "after deep sleep the new driver knows the modem boots at 921,600: {wake:?}"
        );
        awake.push(report.awake_ms);
    }
    assert_eq!(
        mailbox.modem_stats().baud_mismatch_bytes,
        lost,
        "no byte sent at a rate the modem does not run"
    );
    assert!(
        awake.iter().all(|&ms| ms < 21_000),
        "no time lost hunting for the rate: {awake:?}"
    );
}

#[test]
fn the_apn_is_stored_in_the_modem_once_and_registration_urcs_are_asked_every_boot() {
    let served = serve_stub(&[(SERIAL, SECRET)]);
    let mut mailbox = served.mailbox(&MailboxSpec::new(SERIAL, SECRET, 13));
    mailbox.board().with(|s| s.modem.record());
    assert_eq!(mailbox.wake(HOUR, Wake::Mail).delivered, 1);
    let count = |mailbox: &Mailbox, since: u64, what: &str| {
        commands_since(mailbox, since)
            .iter()
            .filter(|(_, _, c)| c.starts_with(what))
            .count()
    };
    assert_eq!(count(&mailbox, HOUR, "AT+CGDCONT="), 1);
    let second = mailbox.wake(2 * HOUR, Wake::Mail);
    assert_eq!(second.delivered, 1, "{second:?}");
    assert_eq!(
        count(&mailbox, 2 * HOUR, "AT+CGDCONT="),
        0,
        "AUTO_SAVE: the modem still holds it after its power cycle"
    );
    assert_eq!(
        count(&mailbox, 2 * HOUR, "AT+CEREG=1"),
        1,
        "NO_SAVE: asked again"
    );
    assert_eq!(mailbox.retained.modem.baud, 3_686_400);
}
