//! `smartbox sim` as an operator runs it: a fleet against a served smartbox, counted from the
//! database, and the energy report.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_smartbox");

fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
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
    cmd.envs(env.iter().copied());
    cmd
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_provisioned_fleet_with_faults_ends_with_the_tally_from_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("addr")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let env = [("SMARTBOX_BIND", addr.as_str())];
    let _server = Serving(
        command(dir.path(), &["serve"], &env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "the server never listened");
        std::thread::sleep(Duration::from_millis(100));
    }

    let url = format!("http://{addr}");
    let out = command(
        dir.path(),
        &[
            "sim",
            "--devices",
            "5",
            "--server",
            &url,
            "--provision",
            "--mail-per-device",
            "2",
            "--faults",
            "0.1",
        ],
        &env,
    )
    .output()
    .expect("sim runs");

    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.lines().last(),
        Some("delivered=10 duplicated=0 lost=0"),
        "{text}"
    );
    // Days of simulated time in seconds of real time, yet the boxes' clocks agree with the
    // server's wall clock: no request is refused for clock skew.
    assert!(text.contains(" 0 requests answered 401"), "{text}");
}

#[test]
fn the_energy_report_puts_our_firmware_beside_the_naive_flow_and_the_goals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = command(
        dir.path(),
        &["sim", "--energy", "--board-sleep-ua", "40"],
        &[],
    )
    .output()
    .expect("sim runs");
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for wanted in [
        "our firmware",
        "naive flow",
        "awake s per mail event",
        "mAh per check-in",
        "mAh per day",
        "battery life, months",
        "battery life vs naive",
        "board sleep current 40 µA",
        ">= 12 months",
    ] {
        assert!(text.contains(wanted), "no {wanted:?} in\n{text}");
    }
}
