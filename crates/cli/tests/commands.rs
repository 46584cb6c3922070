//! The `smartbox` binary as an operator uses it: configuration errors, provisioning, and a served
//! `/healthz` on each database backend.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_smartbox");

fn smartbox(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).args(args).env_remove("RUST_LOG");
    for var in [
        "SMARTBOX_DATABASE_URL",
        "SMARTBOX_BIND",
        "SMARTBOX_BLOB_URL",
        "SMARTBOX_MASTER_KEY",
        "STRIPE_SECRET_KEY",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied())
        .output()
        .expect("smartbox runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("addr")
        .port()
}

fn get(addr: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path, database_url: &str) -> (Serving, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(BIN)
        .current_dir(dir)
        .arg("serve")
        .env("SMARTBOX_BIND", &addr)
        .env("SMARTBOX_DATABASE_URL", database_url)
        .env_remove("STRIPE_SECRET_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("smartbox serve starts");
    let serving = Serving(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if get(&addr, "/healthz").is_some() {
            return (serving, addr);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("smartbox serve did not answer on {addr}");
}

#[test]
fn a_bad_database_url_exits_non_zero_with_one_line_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = smartbox(
        dir.path(),
        &["migrate"],
        &[("SMARTBOX_DATABASE_URL", "mysql://db")],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("SMARTBOX_DATABASE_URL"), "{err}");
}

#[test]
fn an_unreachable_database_names_the_variable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("postgres://nobody@127.0.0.1:{}/none", free_port());
    let out = smartbox(dir.path(), &["migrate"], &[("SMARTBOX_DATABASE_URL", &url)]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.trim().lines().count() == 1 && err.contains("SMARTBOX_DATABASE_URL"),
        "{err}"
    );
}

#[test]
fn a_bad_bind_address_exits_non_zero_with_one_line_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    for bind in ["localhost", "127.0.0.1:99999"] {
        let out = smartbox(dir.path(), &["serve"], &[("SMARTBOX_BIND", bind)]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("SMARTBOX_BIND"), "{err}");
    }
}

#[test]
fn an_address_in_use_names_the_bind_variable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = smartbox(dir.path(), &["serve"], &[("SMARTBOX_BIND", &addr)]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("SMARTBOX_BIND"), "{}", stderr(&out));
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().expect("temp dir");
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["demo", "--help"],
        vec!["user", "create-staff", "--help"],
        vec!["devices", "decommission", "--help"],
        vec!["devices", "tag", "--help"],
        vec!["devices", "untag", "--help"],
        vec!["devices", "refurbish", "--help"],
        vec!["devices", "import", "--help"],
        vec!["devices", "activate", "--help"],
        vec!["jobs", "failed", "--help"],
        vec!["jobs", "retry", "--help"],
        vec!["keys", "rotate-master", "--help"],
        vec!["customers", "export", "--help"],
        vec!["customers", "delete", "--help"],
        vec!["firmware", "rollout", "start", "--help"],
        vec!["firmware", "rollout", "status", "--help"],
        vec!["backup", "--help"],
        vec!["restore", "--help"],
    ] {
        let out = smartbox(dir.path(), &args, &[]);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[test]
fn a_factory_batch_is_imported_once_and_a_device_activated_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("batch.csv"), "serial\nSB-1001\nSB-1002\n").expect("written");
    let out = smartbox(
        dir.path(),
        &["devices", "import", "batch.csv", "--out", "factory.csv"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let factory = std::fs::read_to_string(dir.path().join("factory.csv")).expect("factory csv");
    let lines: Vec<&str> = factory.lines().collect();
    assert_eq!(lines[0], "serial,secret,claim_code");
    let fields: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(fields[0], "SB-1001");
    assert!(fields[1].len() == 64 && fields[1].chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(fields[2].len(), 8);

    std::fs::write(dir.path().join("again.csv"), "serial\nSB-2000\nSB-1002\n").expect("written");
    let out = smartbox(
        dir.path(),
        &[
            "devices",
            "import",
            "again.csv",
            "--out",
            "again-factory.csv",
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("line 3"), "{}", stderr(&out));
    assert!(
        !dir.path().join("again-factory.csv").exists(),
        "no factory file for a refused batch"
    );

    let activate = [
        "devices",
        "activate",
        "--serial",
        "SB-1001",
        "--email",
        "Pat@Example.com",
        "--plan",
        "plus",
    ];
    let out = smartbox(dir.path(), &activate, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("first password"), "{stdout}");
    let out = smartbox(dir.path(), &activate, &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("active_subscription"),
        "{}",
        stderr(&out)
    );

    let out = smartbox(
        dir.path(),
        &[
            "devices", "activate", "--serial", "SB-9999", "--email", "a@b.co", "--plan", "basic",
        ],
        &[],
    );
    assert!(
        stderr(&out).contains("no mailbox SB-9999"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn healthz_reports_the_database_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_server, addr) = serve(dir.path(), "sqlite://data/smartbox.db");
    let response = get(&addr, "/healthz").expect("an answer");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains(r#""database":"sqlite""#) && response.contains(r#""status":"ok""#),
        "{response}"
    );
    assert!(dir.path().join("data/smartbox.db").exists());
    assert!(dir.path().join("data/master.key").exists());
}

/// A request sent by hand with its extra header lines; the whole answer.
fn request(addr: &str, path: &str, headers: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("a timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n"
    )
    .expect("sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("an answer");
    response
}

#[test]
fn json_logs_carry_the_request_id_the_answer_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    let addr = format!("127.0.0.1:{}", free_port());
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).expect("a log file");
    let child = Command::new(BIN)
        .current_dir(dir.path())
        .arg("serve")
        .env("SMARTBOX_BIND", &addr)
        .env("SMARTBOX_DATABASE_URL", "sqlite://data/smartbox.db")
        .env("SMARTBOX_LOG_FORMAT", "json")
        // tower-http's "started/finished processing request" lines, inside the request's span.
        .env("RUST_LOG", "info,tower_http=debug")
        .env_remove("STRIPE_SECRET_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("smartbox serve starts");
    let server = Serving(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&addr, "/healthz").is_none() {
        assert!(Instant::now() < deadline, "smartbox serve did not answer");
        std::thread::sleep(Duration::from_millis(100));
    }
    // One id the server made, one a proxy sent.
    let made = request(&addr, "/no/such/page", "");
    let made_id = made
        .lines()
        .find_map(|line| line.strip_prefix("x-request-id: "))
        .unwrap_or_else(|| panic!("no x-request-id in {made}"))
        .trim()
        .to_owned();
    let sent = request(&addr, "/healthz", "x-request-id: proxy-find-me-0042\r\n");
    assert!(
        sent.contains("x-request-id: proxy-find-me-0042\r\n"),
        "{sent}"
    );
    std::thread::sleep(Duration::from_millis(300));
    drop(server);

    let logs = std::fs::read_to_string(&log_path).expect("the log");
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    for (id, route) in [
        (made_id.as_str(), "(unmatched)"),
        ("proxy-find-me-0042", "/healthz"),
    ] {
        let found: Vec<_> = lines
            .iter()
            .filter(|line| line["span"]["request_id"] == id)
            .collect();
        assert!(found.len() >= 2, "no log lines of request {id} in\n{logs}");
        for line in found {
            assert_eq!(line["span"]["name"], "request");
            assert_eq!(line["span"]["route"], route, "{line}");
        }
    }
}

#[tokio::test]
async fn healthz_reports_the_database_on_postgres() {
    let Some(pg) = smartbox_store::testing::postgres().await else {
        println!("SMARTBOX_TEST_POSTGRES_URL unset: PostgreSQL serve test skipped");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let url = pg.url.clone();
    let path = dir.path().to_owned();
    let response = tokio::task::spawn_blocking(move || {
        let (_server, addr) = serve(&path, &url);
        get(&addr, "/healthz").expect("an answer")
    })
    .await
    .expect("joined");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""database":"postgres""#), "{response}");
}

#[tokio::test]
async fn an_operator_lists_the_failed_jobs_and_queues_one_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/ops.db", dir.path().display());
    let db = smartbox_store::Db::connect(&url).await.expect("database");
    db.migrate().await.expect("migrated");
    for id in ["job-ok", "job-broken"] {
        db.enqueue_job(&smartbox_store::NewJob {
            id,
            kind: "payment_retry",
            payload: serde_json::json!({}),
            unique_key: None,
            run_at: 0,
            max_attempts: 1,
        })
        .await
        .expect("enqueued");
    }
    let claimed = db
        .claim_job("worker", 1, 60_000)
        .await
        .expect("claim")
        .expect("a job");
    let broken = claimed.id.clone();
    assert!(
        db.fail_job(&broken, "worker", "card_declined: do_not_honor", None, 2)
            .await
            .expect("failed")
    );
    db.close().await;
    let env = [("SMARTBOX_DATABASE_URL", url.as_str())];

    let out = smartbox(dir.path(), &["jobs", "failed"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(
        listed.contains(&broken) && listed.contains("card_declined: do_not_honor"),
        "{listed}"
    );

    let out = smartbox(dir.path(), &["jobs", "retry", &broken], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = smartbox(dir.path(), &["jobs", "failed"], &env);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "no failed jobs"
    );
    let db = smartbox_store::Db::connect(&url).await.expect("database");
    let job = db.job_by_id(&broken).await.expect("read").expect("kept");
    assert_eq!((job.status.as_str(), job.attempts), ("queued", 0));
    db.close().await;

    let out = smartbox(dir.path(), &["jobs", "retry", "no-such-job"], &env);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no failed job no-such-job"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_master_key_is_rotated_in_place_and_a_wrong_key_stops_the_server_with_a_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("batch.csv"), "serial\nSB-3001\n").expect("written");
    let out = smartbox(
        dir.path(),
        &["devices", "import", "batch.csv", "--out", "factory.csv"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let key_file = dir.path().join("data/master.key");
    let before = std::fs::read_to_string(&key_file).expect("the key file");

    let out = smartbox(dir.path(), &["keys", "rotate-master"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("rewrapped 1 device secrets"), "{stdout}");
    let after = std::fs::read_to_string(&key_file).expect("the key file");
    assert_ne!(before, after, "a new key replaced the old one");
    assert!(!dir.path().join("data/master.key.next").exists());

    // The new key opens everything: the server starts.
    let database_url = format!("sqlite://{}", dir.path().join("data/smartbox.db").display());
    let (serving, addr) = serve(dir.path(), &database_url);
    assert!(get(&addr, "/healthz").expect("answers").contains("200"));
    drop(serving);

    // The old key does not: the server refuses to start and says why.
    let out = smartbox(
        dir.path(),
        &["migrate"],
        &[("SMARTBOX_MASTER_KEY", before.trim())],
    );
    assert!(
        out.status.success(),
        "migrating needs no key: {}",
        stderr(&out)
    );
    let out = smartbox(
        dir.path(),
        &["serve"],
        &[
            ("SMARTBOX_MASTER_KEY", before.trim()),
            ("SMARTBOX_BIND", &format!("127.0.0.1:{}", free_port())),
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("master key does not open this database"),
        "{}",
        stderr(&out)
    );

    // With the key in the environment, the new one goes to a file first.
    let out = smartbox(
        dir.path(),
        &["keys", "rotate-master"],
        &[("SMARTBOX_MASTER_KEY", after.trim())],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--new-key-file"), "{}", stderr(&out));
    let out = smartbox(
        dir.path(),
        &["keys", "rotate-master", "--new-key-file", "next.key"],
        &[("SMARTBOX_MASTER_KEY", after.trim())],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let next = std::fs::read_to_string(dir.path().join("next.key")).expect("the new key");
    assert_ne!(next.trim(), after.trim());
}

#[test]
fn an_operator_creates_staff_and_decommissions_a_device_and_refurbishing_needs_a_returned_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let staff = [
        "user",
        "create-staff",
        "--email",
        "sam@smartbox.example",
        "--password",
        "long enough",
        "--role",
        "support",
    ];
    let out = smartbox(dir.path(), &staff, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created support"));
    let mut bad_role = staff;
    bad_role[7] = "owner";
    assert!(!smartbox(dir.path(), &bad_role, &[]).status.success());

    std::fs::write(dir.path().join("batch.csv"), "serial\nSB-3001\nSB-3002\n").expect("written");
    let out = smartbox(
        dir.path(),
        &["devices", "import", "batch.csv", "--out", "factory.csv"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let refurbish = [
        "devices",
        "refurbish",
        "--serial",
        "SB-3002",
        "--out",
        "new.csv",
    ];
    let out = smartbox(dir.path(), &refurbish, &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Only a returned mailbox can be refurbished"),
        "{}",
        stderr(&out)
    );
    assert!(
        !dir.path().join("new.csv").exists(),
        "no file for a refusal"
    );

    let decommission = ["devices", "decommission", "--serial", "SB-3001"];
    let out = smartbox(dir.path(), &decommission, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("decommissioned SB-3001"));
    let out = smartbox(dir.path(), &decommission, &[]);
    assert!(!out.status.success(), "decommissioned is terminal");
    assert!(
        stderr(&out).contains("decommissioned already"),
        "{}",
        stderr(&out)
    );
    let out = smartbox(
        dir.path(),
        &["devices", "decommission", "--serial", "SB-9999"],
        &[],
    );
    assert!(
        stderr(&out).contains("no mailbox SB-9999"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn customers_delete_anonymises_the_account_and_refuses_an_unknown_email() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("batch.csv"), "serial\nSB-3001\n").expect("written");
    let out = smartbox(
        dir.path(),
        &["devices", "import", "batch.csv", "--out", "f.csv"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let activate = [
        "devices",
        "activate",
        "--serial",
        "SB-3001",
        "--email",
        "del@example.com",
        "--plan",
        "basic",
    ];
    let out = smartbox(dir.path(), &activate, &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    let delete = ["customers", "delete", "--email", "del@example.com"];
    let out = smartbox(dir.path(), &delete, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 mailboxes returned"), "{stdout}");

    // The address no longer names an account.
    let out = smartbox(dir.path(), &delete, &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no account has the email"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_operator_stages_an_image_and_starts_pauses_resumes_and_aborts_its_rollout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/rollout.db", dir.path().display());
    let env = [("SMARTBOX_DATABASE_URL", url.as_str())];
    let ok = |args: &[&str]| {
        let out = smartbox(dir.path(), args, &env);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok(&["migrate"]);
    ok(&["firmware", "keygen", "--out", "release.key"]);
    std::fs::write(dir.path().join("image.bin"), [7u8; 4096]).expect("image");
    ok(&[
        "firmware",
        "publish",
        "image.bin",
        "--version",
        "2.0.0",
        "--signing-key",
        "release.key",
        "--staged",
    ]);

    let refused = smartbox(
        dir.path(),
        &[
            "firmware",
            "rollout",
            "start",
            "--version",
            "2.0.0",
            "--stages",
            "50,10",
        ],
        &env,
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("more mailboxes than the one before"),
        "{}",
        stderr(&refused)
    );
    let refused = smartbox(
        dir.path(),
        &["firmware", "rollout", "start", "--version", "9.9.9"],
        &env,
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("No firmware 9.9.9"),
        "{}",
        stderr(&refused)
    );

    let started = ok(&[
        "firmware",
        "rollout",
        "start",
        "--version",
        "2.0.0",
        "--stages",
        "10,100",
        "--soak",
        "1h",
    ]);
    assert!(
        started.contains("firmware 2.0.0 for esp32c6 boards: running, stage 1 of 2"),
        "{started}"
    );
    let again = smartbox(
        dir.path(),
        &["firmware", "rollout", "start", "--version", "2.0.0"],
        &env,
    );
    assert!(!again.status.success(), "one open rollout at a time");
    assert!(
        stderr(&again).contains("Another rollout"),
        "{}",
        stderr(&again)
    );

    let paused = ok(&[
        "firmware",
        "rollout",
        "pause",
        "--reason",
        "support tickets rising",
    ]);
    assert!(
        paused.contains("paused, stage 1 of 2 (support tickets rising)"),
        "{paused}"
    );
    assert!(ok(&["firmware", "rollout", "status"]).contains("paused"));
    assert!(ok(&["firmware", "rollout", "resume"]).contains("running, stage 1 of 2"));
    assert!(ok(&["firmware", "rollout", "abort"]).contains("aborted"));
    let late = smartbox(dir.path(), &["firmware", "rollout", "resume"], &env);
    assert!(!late.status.success());
    assert!(stderr(&late).contains("cannot resume"), "{}", stderr(&late));
}

#[tokio::test]
async fn a_backup_taken_while_serving_brings_back_a_lost_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("batch.csv"), "serial\nSB-KEEP-01\n").expect("written");
    let out = smartbox(
        dir.path(),
        &["devices", "import", "batch.csv", "--out", "factory.csv"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let url = format!("sqlite://{}", dir.path().join("data/smartbox.db").display());
    let (serving, _) = serve(dir.path(), &url);
    let out = smartbox(dir.path(), &["backup", "--out", "backup.db"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = smartbox(dir.path(), &["backup", "--out", "backup.db"], &[]);
    assert!(!out.status.success(), "a backup never overwrites a file");
    assert!(stderr(&out).contains("exists"), "{}", stderr(&out));
    drop(serving);

    let out = smartbox(dir.path(), &["restore", "--from", "backup.db"], &[]);
    assert!(
        !out.status.success(),
        "a database in place is not restored over"
    );
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("data/smartbox.db{suffix}")));
    }
    let out = smartbox(dir.path(), &["restore", "--from", "factory.csv"], &[]);
    assert!(
        !out.status.success(),
        "a file that is not a database is refused"
    );
    assert!(
        stderr(&out).contains("not a SQLite database"),
        "{}",
        stderr(&out)
    );
    let _ = std::fs::remove_file(dir.path().join("data/smartbox.db"));
    let out = smartbox(dir.path(), &["restore", "--from", "backup.db"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    let db = smartbox_store::Db::connect(&url)
        .await
        .expect("the restored database opens");
    assert!(
        db.device_by_serial("SB-KEEP-01").await.unwrap().is_some(),
        "the device imported before the backup is back"
    );
    db.close().await;
}

#[test]
fn firmware_sign_prints_a_signature_the_public_key_verifies_and_names_what_is_wrong() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ok = |args: &[&str]| {
        let out = smartbox(dir.path(), args, &[]);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok(&["firmware", "keygen", "--out", "release.key"]);
    let image: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(dir.path().join("image.bin"), &image).expect("image");

    let signature = ok(&[
        "firmware",
        "sign",
        "image.bin",
        "--signing-key",
        "release.key",
    ]);
    let signature = signature.trim();
    assert_eq!(signature.len(), 128, "{signature}");
    let public_text =
        std::fs::read_to_string(dir.path().join("release.key.pub")).expect("public key");
    let public = smartbox_server::firmware_release::parse_public_key(&public_text)
        .expect("the .pub file holds a public key");
    assert!(smartbox_server::firmware_release::verify_image(
        &public, &image, signature
    ));
    assert!(
        !smartbox_server::firmware_release::verify_image(&public, b"other bytes", signature),
        "the signature is of this image only"
    );

    // A key file that is not a key, a key file that is missing, an image that is missing:
    // each a one-line error naming the file, and no signature on stdout.
    std::fs::write(dir.path().join("bad.key"), "not a key\n").expect("bad key");
    for (args, names) in [
        (
            ["firmware", "sign", "image.bin", "--signing-key", "bad.key"],
            "bad.key",
        ),
        (
            ["firmware", "sign", "image.bin", "--signing-key", "nope.key"],
            "nope.key",
        ),
        (
            [
                "firmware",
                "sign",
                "missing.bin",
                "--signing-key",
                "release.key",
            ],
            "missing.bin",
        ),
    ] {
        let out = smartbox(dir.path(), &args, &[]);
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(names), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = smartbox(
        dir.path(),
        &["firmware", "sign", "image.bin", "--signing-key", "bad.key"],
        &[],
    );
    assert!(
        stderr(&out).contains("not a release key"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn rollout_start_with_serials_targets_exactly_them_and_refuses_an_unknown_one_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/serials.db", dir.path().display());
    let env = [("SMARTBOX_DATABASE_URL", url.as_str())];
    let ok = |args: &[&str]| {
        let out = smartbox(dir.path(), args, &env);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    std::fs::write(
        dir.path().join("batch.csv"),
        "serial\nSB-4001\nSB-4002\nSB-4003\n",
    )
    .expect("written");
    ok(&["devices", "import", "batch.csv", "--out", "factory.csv"]);
    ok(&["firmware", "keygen", "--out", "release.key"]);
    std::fs::write(dir.path().join("image.bin"), [3u8; 1024]).expect("image");
    ok(&[
        "firmware",
        "publish",
        "image.bin",
        "--version",
        "4.0.0",
        "--signing-key",
        "release.key",
        "--staged",
    ]);

    let start = |serials: &'static str| {
        [
            "firmware",
            "rollout",
            "start",
            "--version",
            "4.0.0",
            "--serials",
            serials,
        ]
    };
    let refused = smartbox(dir.path(), &start("SB-4001,SB-4999"), &env);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("No mailbox has the serial SB-4999"),
        "{}",
        stderr(&refused)
    );
    let malformed = smartbox(dir.path(), &start("SB-4001;SB-4002"), &env);
    assert!(!malformed.status.success());
    assert!(
        stderr(&malformed).contains("is not a serial"),
        "{}",
        stderr(&malformed)
    );
    let db = smartbox_store::Db::connect(&url).await.expect("db opens");
    assert!(
        db.recent_rollouts(10).await.expect("read").is_empty(),
        "a refused start starts nothing"
    );

    let started = ok(&start("SB-4003, SB-4001"));
    assert!(started.contains("started rollout"), "{started}");
    let rollout = db.recent_rollouts(10).await.expect("read");
    assert_eq!(rollout.len(), 1);
    let id = smartbox_domain::RolloutId::new(rollout[0].id.as_str());
    assert_eq!(
        db.rollout_targets(&id).await.expect("targets"),
        vec!["SB-4001".to_owned(), "SB-4003".to_owned()]
    );
    db.close().await;
}

#[tokio::test]
async fn an_operator_tags_mailboxes_and_starts_a_rollout_for_a_tag_with_a_soak_per_stage() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/tags.db", dir.path().display());
    let env = [("SMARTBOX_DATABASE_URL", url.as_str())];
    let ok = |args: &[&str]| {
        let out = smartbox(dir.path(), args, &env);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let refused = |args: &[&str], says: &str| {
        let out = smartbox(dir.path(), args, &env);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    };
    std::fs::write(
        dir.path().join("batch.csv"),
        "serial\nSB-5001\nSB-5002\nSB-5003\n",
    )
    .expect("written");
    ok(&["devices", "import", "batch.csv", "--out", "factory.csv"]);
    let tag = |serial: &'static str, tag: &'static str| {
        ["devices", "tag", "--serial", serial, "--tag", tag]
    };
    assert!(ok(&tag("SB-5001", "pilot")).contains("SB-5001 is tagged pilot"));
    assert!(ok(&tag("SB-5001", "north-depot")).contains("north-depot, pilot"));
    ok(&tag("SB-5003", "pilot"));
    refused(&tag("SB-5002", "Pilot"), "is not a tag");
    refused(&tag("SB-5999", "pilot"), "SB-5999");
    let untag = [
        "devices",
        "untag",
        "--serial",
        "SB-5001",
        "--tag",
        "north-depot",
    ];
    assert!(ok(&untag).contains("SB-5001 is tagged pilot"));
    refused(&untag, "SB-5001 has no tag north-depot");

    ok(&["firmware", "keygen", "--out", "release.key"]);
    std::fs::write(dir.path().join("image.bin"), [4u8; 512]).expect("image");
    ok(&[
        "firmware",
        "publish",
        "image.bin",
        "--version",
        "5.0.0",
        "--signing-key",
        "release.key",
        "--staged",
    ]);
    let start = |stages: &'static str, tag: &'static str| {
        [
            "firmware",
            "rollout",
            "start",
            "--version",
            "5.0.0",
            "--stages",
            stages,
            "--soak",
            "6h",
            "--tag",
            tag,
        ]
    };
    refused(
        &start("50:2h,100", "nobody"),
        "No mailbox has the tag nobody",
    );
    refused(&start("50:2hours,100", "pilot"), "stage \"50:2hours\"");
    refused(
        &[
            "firmware",
            "rollout",
            "start",
            "--version",
            "5.0.0",
            "--tag",
            "pilot",
            "--serials",
            "SB-5002",
        ],
        "not both",
    );
    let started = ok(&start("50:2h:90%,100", "pilot"));
    assert!(started.contains("soak 2h with 90 % confirmed"), "{started}");
    assert!(started.contains("soak 6h with 80 % confirmed"), "{started}");

    // An image for another board: a bad revision is refused, a good one gets its own rollout
    // beside the running one, and a bare `status` then asks which.
    let publish_for = |version: &'static str, revision: &'static str| {
        [
            "firmware",
            "publish",
            "image.bin",
            "--version",
            version,
            "--signing-key",
            "release.key",
            "--staged",
            "--hardware-revision",
            revision,
        ]
    };
    refused(
        &publish_for("5.0.1", "ESP 32"),
        "hardware revision \"ESP 32\"",
    );
    ok(&publish_for("5.0.1", "esp32c6-r2"));
    let other = ok(&["firmware", "rollout", "start", "--version", "5.0.1"]);
    assert!(
        other.contains("firmware 5.0.1 for esp32c6-r2 boards: running"),
        "{other}"
    );
    refused(&["firmware", "rollout", "status"], "2 rollouts are open");

    let db = smartbox_store::Db::connect(&url).await.expect("db opens");
    let rollout = db
        .recent_rollouts(2)
        .await
        .expect("read")
        .into_iter()
        .find(|r| r.version == "5.0.0")
        .expect("the tag's rollout");
    assert_eq!(rollout.target_tag.as_deref(), Some("pilot"));
    let status = ok(&["firmware", "rollout", "status", "--id", rollout.id.as_str()]);
    assert!(
        status.contains("firmware 5.0.0 for esp32c6 boards"),
        "{status}"
    );
    let id = smartbox_domain::RolloutId::new(rollout.id.as_str());
    assert_eq!(
        db.rollout_targets(&id).await.expect("targets"),
        vec!["SB-5001".to_owned(), "SB-5003".to_owned()],
        "the tagged mailboxes at the start"
    );
    db.close().await;
}
