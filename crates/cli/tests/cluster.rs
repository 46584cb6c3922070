//! Three `smartbox serve` processes on one PostgreSQL (issue 23's done-when): a mailbox whose
//! service is suspended through process A is told so by B's heartbeat within a second (B's
//! device cache hears it, not its TTL) and its next event on B is answered 402; an event posted
//! to C shows on a dashboard stream held on B within a second; a `kill -9` of C in the middle of
//! a run of events loses no event and no job. Runs when `SMARTBOX_TEST_POSTGRES_URL` is set.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use smartbox_protocol::{
    EVENTS_PATH, HEADER_SERIAL, HEADER_SIGNATURE, HEADER_TIME, body_sha256, sign,
};
use smartbox_server::accounts::tokens::token_hash;
use smartbox_store::{Db, SessionRow};
use tokio::io::AsyncReadExt;

/// base64 of 32 bytes of 0x2b.
const MASTER_KEY: &str = "KysrKysrKysrKysrKysrKysrKysrKysrKysrKysrKys=";
const SUSPENDED: &str = "SB-CLUSTER-01";
const WATCHED: &str = "SB-CLUSTER-02";

struct Setup {
    dir: tempfile::TempDir,
    database_url: String,
}

impl Setup {
    fn command(&self, args: &[&str]) -> Command {
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
        command
    }

    fn run(&self, args: &[&str]) {
        let output = self.command(args).output().expect("smartbox runs");
        assert!(
            output.status.success(),
            "smartbox {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn serve(&self) -> (Child, SocketAddr) {
        let addr = free_port();
        let mut child = self
            .command(&["serve"])
            .env("SMARTBOX_BIND", addr.to_string())
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

/// Kills the processes a failed assertion leaves behind.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
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

/// A mailbox: its serial and factory secret.
struct Mailbox {
    serial: &'static str,
    secret: [u8; 32],
}

impl Mailbox {
    fn from_factory_csv(path: &Path, serial: &'static str) -> Mailbox {
        let text = std::fs::read_to_string(path).expect("the factory CSV");
        let line = text
            .lines()
            .find(|l| l.starts_with(serial))
            .expect("the device's line");
        let mut secret = [0u8; 32];
        hex::decode_to_slice(
            line.split(',').nth(1).expect("a secret column"),
            &mut secret,
        )
        .expect("a hex secret");
        Mailbox { serial, secret }
    }

    /// A signed JSON POST; `Err` when the process does not answer (it was killed).
    fn post(&self, addr: SocketAddr, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let time = now_s();
        let signature = sign(
            &self.secret,
            "POST",
            path,
            time,
            &body_sha256(body.as_bytes()),
        );
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: mailbox\r\ncontent-type: application/json\r\n\
             {HEADER_SERIAL}: {}\r\n{HEADER_TIME}: {time}\r\n{HEADER_SIGNATURE}: {}\r\n",
            self.serial,
            String::from_utf8_lossy(&signature)
        );
        exchange(addr, &head, body.as_bytes())
    }

    fn heartbeat(&self, addr: SocketAddr) -> String {
        let body = r#"{"battery_percent":80,"power_state":"awake","signal_dbm":-70,"network":"cellular","firmware_version":"1.0.0","modem_tx_bytes":0,"modem_rx_bytes":0,"sd_queue_len":0}"#;
        let (status, answer) = self
            .post(addr, "/api/device/v1/heartbeat", body)
            .expect("the heartbeat is answered");
        assert_eq!(status, 200, "{answer}");
        answer
    }

    fn event(&self, addr: SocketAddr, event_id: &str) -> std::io::Result<(u16, String)> {
        let body = format!(
            r#"{{"event_id":"{event_id}","kind":"mail_arrived","occurred_at":{},"photo_count":0}}"#,
            now_s()
        );
        self.post(addr, EVENTS_PATH, &body)
    }
}

fn now_s() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs(),
    )
    .expect("a sane clock")
}

/// A session for the user `email`, written as a login would: `(cookie, csrf token)`.
async fn session_of(db: &Db, email: &str) -> (String, String) {
    let user = db
        .user_by_email(email)
        .await
        .unwrap()
        .expect("the user exists");
    let token = format!("token-of-{email}");
    let csrf = format!("csrf-of-{email}");
    let now = now_s() * 1000;
    db.insert_session(&SessionRow {
        token_hash: token_hash(&token),
        user_id: user.id,
        csrf_token: csrf.clone(),
        created_at: now,
        expires_at: now + 3_600_000,
    })
    .await
    .unwrap();
    (format!("sb_session={token}"), csrf)
}

#[tokio::test]
async fn three_processes_on_one_postgresql_agree_at_once_and_a_kill_loses_nothing() {
    let Some(test_db) = smartbox_store::testing::postgres().await else {
        println!("SMARTBOX_TEST_POSTGRES_URL unset: the three-process story is skipped");
        return;
    };
    let setup = Setup {
        dir: tempfile::tempdir().expect("a temporary folder"),
        database_url: test_db.url.clone(),
    };
    std::fs::write(
        setup.dir.path().join("serials.csv"),
        format!("serial\n{SUSPENDED}\n{WATCHED}\n"),
    )
    .unwrap();
    setup.run(&["devices", "import", "serials.csv", "--out", "factory.csv"]);
    for (serial, email) in [(SUSPENDED, "sue@example.com"), (WATCHED, "wes@example.com")] {
        setup.run(&[
            "devices", "activate", "--serial", serial, "--email", email, "--plan", "premium",
        ]);
    }
    setup.run(&[
        "user",
        "create-staff",
        "--email",
        "staff@example.com",
        "--password",
        "correct horse battery",
        "--role",
        "support",
    ]);
    let factory = setup.dir.path().join("factory.csv");
    let suspended = Mailbox::from_factory_csv(&factory, SUSPENDED);
    let watched = Mailbox::from_factory_csv(&factory, WATCHED);
    let db = &test_db.db;
    let (staff_cookie, staff_csrf) = session_of(db, "staff@example.com").await;
    let (wes_cookie, _) = session_of(db, "wes@example.com").await;

    let (a, addr_a) = setup.serve();
    let (b, addr_b) = setup.serve();
    let (c, addr_c) = setup.serve();
    let mut processes = Processes(vec![a, b, c]);

    // 1. Suspended through A: B's cached context is dropped at once, its next event is 402.
    assert!(
        suspended
            .heartbeat(addr_b)
            .contains(r#""service":"active""#)
    );
    let device_id = db
        .device_by_serial(SUSPENDED)
        .await
        .unwrap()
        .expect("the device")
        .id;
    let body = r#"{"reason":"the cluster story suspends it"}"#;
    let head = format!(
        "POST /api/admin/v1/devices/{device_id}/suspend HTTP/1.1\r\nhost: t\r\n\
         content-type: application/json\r\ncookie: {staff_cookie}\r\nx-csrf-token: {staff_csrf}\r\n"
    );
    let (status, answer) = exchange(addr_a, &head, body.as_bytes()).unwrap();
    assert_eq!(status, 200, "{answer}");
    let suspended_at = Instant::now();
    loop {
        if suspended
            .heartbeat(addr_b)
            .contains(r#""service":"suspended""#)
        {
            break;
        }
        assert!(
            suspended_at.elapsed() < Duration::from_secs(1),
            "B still says active a second after A suspended the mailbox"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, answer) = suspended.event(addr_b, &uuid_for(1, 0)).expect("B answers");
    assert_eq!(status, 402, "{answer}");

    // 2. A dashboard held on B sees mail posted to C within a second.
    let mut stream = tokio::net::TcpStream::connect(addr_b).await.unwrap();
    let request = format!(
        "GET /dashboard/live HTTP/1.1\r\nhost: t\r\ncookie: {wes_cookie}\r\naccept: text/event-stream\r\n\r\n"
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
        .await
        .unwrap();
    let mut seen = String::new();
    read_until(
        &mut stream,
        &mut seen,
        "text/event-stream",
        Duration::from_secs(5),
    )
    .await;
    let event_id = uuid_for(2, 0);
    let (status, answer) = watched.event(addr_c, &event_id).expect("C answers");
    assert_eq!(status, 201, "{answer}");
    let posted_at = Instant::now();
    seen.clear();
    read_until(
        &mut stream,
        &mut seen,
        "event: mailboxes",
        Duration::from_secs(1),
    )
    .await;
    assert!(
        posted_at.elapsed() < Duration::from_secs(1),
        "the dashboard on B heard of C's mail after {:?}",
        posted_at.elapsed()
    );
    drop(stream);

    // 3. C is killed in the middle of a run: every event lands once, every job runs.
    let addrs = [addr_a, addr_b, addr_c];
    let mut c_alive = true;
    const EVENTS: u32 = 60;
    for i in 0..EVENTS {
        if i == EVENTS / 3 {
            processes.0[2].kill().expect("SIGKILL is sent");
            processes.0[2].wait().expect("the killed server is reaped");
            c_alive = false;
        }
        let event_id = uuid_for(3, i);
        // Like the mailbox's SD queue: what is not answered goes to the next process.
        let mut delivered = false;
        for attempt in 0..3 {
            let addr = addrs[(i as usize + attempt) % 3];
            match watched.event(addr, &event_id) {
                Ok((201 | 200, _)) => {
                    delivered = true;
                    break;
                }
                Ok((status, answer)) => panic!("event {i}: {status} {answer}"),
                Err(err) => assert!(addr == addr_c && !c_alive, "only the killed C fails: {err}"),
            }
        }
        assert!(delivered, "event {i} was delivered");
    }
    let watched_id = db
        .device_by_serial(WATCHED)
        .await
        .unwrap()
        .expect("the device")
        .id;
    let events = db.events_of_device(&watched_id, None, 1_000).await.unwrap();
    assert_eq!(events.len(), EVENTS as usize + 1, "every event stored once");
    // A job C held when it died is taken over when its lease runs out (15 s).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut open = 0;
        for status in ["queued", "running"] {
            open += db
                .jobs_with_status(Some("event_completed"), status, 1_000)
                .await
                .unwrap()
                .len();
        }
        let done = db
            .jobs_with_status(Some("event_completed"), "done", 1_000)
            .await
            .unwrap()
            .len();
        if open == 0 {
            assert_eq!(done, EVENTS as usize + 1, "one completed job per event");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} event_completed jobs still open after a minute"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(processes);
    drop(test_db);
}

/// A version-4 uuid whose last digits tell the story and the event apart.
fn uuid_for(story: u32, n: u32) -> String {
    format!("00000000-0000-4000-8000-{story:04}{n:08}")
}

/// Reads from `stream` into `seen` until it contains `needle`, failing after `within`.
async fn read_until(
    stream: &mut tokio::net::TcpStream,
    seen: &mut String,
    needle: &str,
    within: Duration,
) {
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 16_384];
    while !seen.contains(needle) {
        let read = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} within {within:?}; read: {seen}"))
            .expect("the stream reads");
        assert!(read > 0, "the stream ended; read: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..read]));
    }
}
