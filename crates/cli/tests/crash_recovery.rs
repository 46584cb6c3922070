//! The `smartbox` binary killed with SIGKILL between two photos of an event: after a restart the
//! mailbox resends everything and the event ends complete, with its three photos and exactly one
//! `event_completed` job. Runs on SQLite, and on PostgreSQL when `SMARTBOX_TEST_POSTGRES_URL` is set.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use smartbox_protocol::{
    EVENTS_PATH, HEADER_SERIAL, HEADER_SIGNATURE, HEADER_TIME, body_sha256, photo_path, sign,
};
use smartbox_server::device_api::jpeg;
use smartbox_store::Db;

const SERIAL: &str = "SB-KILL-0001";
/// base64 of 32 bytes of 0x2a.
const MASTER_KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

struct Setup {
    dir: tempfile::TempDir,
    database_url: String,
}

impl Setup {
    fn command(&self, args: &[&str], bind: Option<SocketAddr>) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_smartbox"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("SMARTBOX_DATABASE_URL", &self.database_url)
            .env(
                "SMARTBOX_BLOB_URL",
                format!("file://{}", self.dir.path().join("blobs").display()),
            )
            .env("SMARTBOX_MASTER_KEY", MASTER_KEY)
            .env("RUST_LOG", "warn");
        if let Some(addr) = bind {
            command.env("SMARTBOX_BIND", addr.to_string());
        }
        command
    }

    fn run(&self, args: &[&str]) -> String {
        let output = self.command(args, None).output().expect("smartbox runs");
        assert!(
            output.status.success(),
            "smartbox {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn serve(&self) -> (Child, SocketAddr) {
        let addr = free_port();
        let mut child = self
            .command(&["serve"], Some(addr))
            .stdout(Stdio::null())
            .spawn()
            .expect("smartbox serve starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok((200, _)) = exchange(addr, "GET /healthz HTTP/1.1\r\nhost: t\r\n", &[]) {
                return (child, addr);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("smartbox serve did not become healthy on {addr}");
    }
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("an address")
}

/// One request on its own connection: `head` without the blank line, then the body.
fn exchange(addr: SocketAddr, head: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!(
        "{head}content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

fn signed(
    addr: SocketAddr,
    secret: &[u8; 32],
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, String) {
    let time = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs(),
    )
    .expect("a sane clock");
    let signature = sign(secret, method, path, time, &body_sha256(body));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: mailbox\r\ncontent-type: {content_type}\r\n\
         {HEADER_SERIAL}: {SERIAL}\r\n{HEADER_TIME}: {time}\r\n{HEADER_SIGNATURE}: {}\r\n",
        String::from_utf8_lossy(&signature)
    );
    exchange(addr, &head, body).expect("the server answers")
}

fn secret_from_factory_csv(path: &Path) -> [u8; 32] {
    let text = std::fs::read_to_string(path).expect("the factory CSV");
    let line = text
        .lines()
        .find(|l| l.starts_with(SERIAL))
        .expect("the device's line");
    let mut secret = [0u8; 32];
    hex::decode_to_slice(
        line.split(',').nth(1).expect("a secret column"),
        &mut secret,
    )
    .expect("a hex secret");
    secret
}

async fn a_mailbox_resending_after_a_sigkill_between_photos_ends_with_one_complete_event(
    setup: Setup,
) {
    std::fs::write(
        setup.dir.path().join("serials.csv"),
        format!("serial\n{SERIAL}\n"),
    )
    .unwrap();
    setup.run(&["devices", "import", "serials.csv", "--out", "factory.csv"]);
    setup.run(&[
        "devices",
        "activate",
        "--serial",
        SERIAL,
        "--email",
        "kill@example.com",
        "--plan",
        "basic",
    ]);
    let secret = secret_from_factory_csv(&setup.dir.path().join("factory.csv"));

    let event_id = smartbox_protocol::Uuid::from_u128(0x6b11_0000_0000_4000_8000_0000_0000_0001);
    let event = format!(
        r#"{{"event_id":"{event_id}","kind":"mail_arrived","occurred_at":1779271200,"photo_count":3}}"#
    );
    let photos: Vec<Vec<u8>> = (0..3).map(|i| jpeg::synthetic(60_000 + i)).collect();
    let put = |addr, index: usize| {
        let path = photo_path(event_id, index as u8);
        signed(addr, &secret, "PUT", &path, "image/jpeg", &photos[index])
    };

    let (mut first, addr) = setup.serve();
    let (status, body) = signed(
        addr,
        &secret,
        "POST",
        EVENTS_PATH,
        "application/json",
        event.as_bytes(),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(put(addr, 0).0, 201);
    assert_eq!(put(addr, 1).0, 201);
    first.kill().expect("SIGKILL is sent");
    first.wait().expect("the killed server is reaped");

    let (mut second, addr) = setup.serve();
    let (status, body) = signed(
        addr,
        &secret,
        "POST",
        EVENTS_PATH,
        "application/json",
        event.as_bytes(),
    );
    assert_eq!(status, 200, "the event survived the kill: {body}");
    assert_eq!(put(addr, 0).0, 200, "photo 1 survived");
    assert_eq!(put(addr, 1).0, 200, "photo 2 survived");
    let (status, body) = put(addr, 2);
    assert_eq!(status, 201, "{body}");
    assert!(
        body.contains(r#""photos_received":3"#) && body.contains(r#""complete":true"#),
        "{body}"
    );
    assert_eq!(put(addr, 2).0, 200, "photo 3 again changes nothing");
    second.kill().expect("the server stops");
    second.wait().expect("reaped");

    let db = Db::connect(&setup.database_url)
        .await
        .expect("the database opens");
    let stored = db
        .event_by_id(&event_id.to_string())
        .await
        .unwrap()
        .expect("one event");
    assert_eq!(
        (stored.photos_received, stored.completed_at.is_some()),
        (3, true)
    );
    let rows = db.photos_of_event(&stored.id).await.unwrap();
    assert_eq!(rows.len(), 3);
    let vault = smartbox_server::vault::PhotoVault::new(
        smartbox_server::blobs::open(&format!(
            "file://{}",
            setup.dir.path().join("blobs").display()
        ))
        .expect("the blob folder"),
        db.clone(),
        smartbox_server::secrets::MasterKey::from_base64(MASTER_KEY).expect("the test key"),
        std::sync::Arc::new(smartbox_server::SystemClock),
    );
    for (row, photo) in rows.iter().zip(&photos) {
        let blob =
            std::fs::read(setup.dir.path().join("blobs").join(&row.blob_key)).expect("the blob");
        assert!(blob.starts_with(b"SBXE"), "sealed at rest");
        assert_eq!(
            &vault
                .get(&row.blob_key)
                .await
                .expect("opens")
                .bytes
                .to_vec(),
            photo
        );
    }
    assert_eq!(
        db.count_jobs("event_completed").await.unwrap(),
        1,
        "exactly one job"
    );
    db.close().await;
}

#[tokio::test]
async fn sigkill_between_photos_on_sqlite() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let database_url = format!("sqlite://{}", dir.path().join("smartbox.db").display());
    a_mailbox_resending_after_a_sigkill_between_photos_ends_with_one_complete_event(Setup {
        dir,
        database_url,
    })
    .await;
}

#[tokio::test]
async fn sigkill_between_photos_on_postgres() {
    let Some(test_db) = smartbox_store::testing::postgres().await else {
        println!("SMARTBOX_TEST_POSTGRES_URL unset: the PostgreSQL run is skipped");
        return;
    };
    test_db.db.close().await;
    a_mailbox_resending_after_a_sigkill_between_photos_ends_with_one_complete_event(Setup {
        dir: tempfile::tempdir().expect("a temporary folder"),
        database_url: test_db.url.clone(),
    })
    .await;
    drop(test_db);
}
