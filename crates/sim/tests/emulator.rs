//! The A7670 emulator under the real firmware driver: whole wakes through the AT dialect against
//! a stub device API, with timing and faults.

mod support;

use smartbox_firmware::link::Path;
use smartbox_firmware::policy::Wake;
use smartbox_sim::mailbox::MailboxSpec;
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
    assert_eq!(stats.http_actions, 5, "event, three photos, heartbeat");
    assert!(
        mailbox.board().with(|s| s.modem.is_off(s.now_ms)),
        "powered down at the end"
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
