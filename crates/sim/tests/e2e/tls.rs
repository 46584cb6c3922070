//! Issue 18: TLS the device verifies on the modem's path. The server under test serves HTTPS
//! itself (`SMARTBOX_TLS_CERT`/`SMARTBOX_TLS_KEY`, a certificate for 127.0.0.1 from a test CA);
//! the firmware stores its built-in CA in the emulated modem (`AT+CCERTDOWN`), turns server
//! authentication on, and the emulator's handshake is real (rustls), verified against that file.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use smartbox_firmware::http::Transport;
use smartbox_firmware::policy::Wake;
use smartbox_server::tls::TlsFiles;
use smartbox_sim::mailbox::MailboxSpec;

use crate::world::{HOUR, World};

/// A test CA, and the server's certificate it issued, written where the server reads them.
struct Pki {
    ca_pem: String,
    files: TlsFiles,
    _dir: tempfile::TempDir,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA")
}

fn pki() -> Pki {
    let ca = ca("Smartbox test CA");
    let key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("params")
        .signed_by(&key, &ca)
        .expect("server certificate");
    let dir = tempfile::tempdir().expect("dir");
    let files = TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    std::fs::write(&files.cert, leaf.pem()).expect("cert written");
    std::fs::write(&files.key, key.serialize_pem()).expect("key written");
    Pki {
        ca_pem: ca.pem(),
        files,
        _dir: dir,
    }
}

fn spec(world: &World, serial: &str, seed: u64, ca_pem: &str) -> MailboxSpec {
    let keys = world.provision(&[serial]);
    MailboxSpec {
        ca_cert: Some(ca_pem.as_bytes().to_vec()),
        ..World::spec(&keys[0], seed)
    }
}

#[test]
fn mail_is_delivered_over_tls_the_modem_verified_against_the_ca_the_firmware_stored() {
    let pki = pki();
    let world = World::with_tls(pki.files.clone());
    assert!(world.server.url().starts_with("https://127.0.0.1:"));
    let mut mailbox = world.mailbox(&spec(&world, "SB-TLS-0001", 1, &pki.ca_pem));

    let report = mailbox.wake(HOUR, Wake::Mail);

    assert_eq!((report.delivered, report.queue_len), (1, 0), "{report:?}");
    assert_eq!(report.transport, Some(Transport::Socket));
    let stats = mailbox.modem_stats();
    assert_eq!((stats.connections, stats.tls_refused), (1, 0), "{stats:?}");
    let events = world.events("SB-TLS-0001");
    assert_eq!(events.len(), 1);
    assert_eq!(world.photos(&events[0].id).len(), 3);
}

#[test]
fn the_modems_http_stack_verifies_the_server_too() {
    let pki = pki();
    let world = World::with_tls(pki.files.clone());
    let spec = MailboxSpec {
        use_socket: false,
        ..spec(&world, "SB-TLS-0002", 2, &pki.ca_pem)
    };
    let mut mailbox = world.mailbox(&spec);

    let report = mailbox.wake(HOUR, Wake::Mail);

    assert_eq!((report.delivered, report.queue_len), (1, 0), "{report:?}");
    assert_eq!(report.transport, Some(Transport::HttpStack));
    assert_eq!(mailbox.modem_stats().tls_refused, 0);
    assert_eq!(world.events("SB-TLS-0002").len(), 1);
}

#[test]
fn with_a_wrong_ca_nothing_is_delivered_the_event_stays_on_sd_and_goes_once_the_ca_is_right() {
    let pki = pki();
    let world = World::with_tls(pki.files.clone());
    let impostor = ca("Someone else's CA").pem();
    let mut mailbox = world.mailbox(&spec(&world, "SB-TLS-0003", 3, &impostor));

    let refused = mailbox.wake(HOUR, Wake::Mail);

    assert_eq!(
        (refused.delivered, refused.queued, refused.queue_len),
        (0, 1, 1),
        "{refused:?}"
    );
    let stats = mailbox.modem_stats();
    assert!(stats.tls_refused >= 1, "{stats:?}");
    assert_eq!(
        stats.requests_sent, 0,
        "not one request crossed an unverified connection"
    );
    assert!(world.events("SB-TLS-0003").is_empty());

    // A firmware update brings the right CA: the modem stores it, and the queue drains.
    mailbox.replace_ca_cert(pki.ca_pem.as_bytes());
    let wakes = World::wake_until_flushed(&mut mailbox, 4);
    assert_eq!(wakes, 1);
    assert_eq!(world.events("SB-TLS-0003").len(), 1);
    assert_eq!(
        world.tally(&[&mailbox]).to_string(),
        "delivered=1 duplicated=0 lost=0"
    );
}
