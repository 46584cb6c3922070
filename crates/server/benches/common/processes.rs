//! The device API benchmark's server processes (`BENCH_SERVERS`): this binary started again with
//! [`SERVER`] set, which makes it run `smartbox_server::server::serve` (what `smartbox serve`
//! runs: the router, the job workers, the cluster listener) configured by the environment, on a
//! port of its own on 127.0.0.1. And what the parent reads about them and the machine from
//! `/proc`: CPU time, peak memory, PostgreSQL's CPU time and the machine's busy time.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::config;

/// Set in a server process's environment: the binary serves instead of benchmarking.
const SERVER: &str = "BENCH_SERVER_PROCESS";
/// How long a server process may take to migrate and bind.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// Whether this process is one of the servers.
pub fn is_server() -> bool {
    std::env::var_os(SERVER).is_some()
}

/// A server process's main: `smartbox serve` as configured by the parent (logs to its file).
pub fn serve() -> anyhow::Result<()> {
    smartbox_server::server::init_tracing();
    let config = smartbox_server::Config::from_env()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(smartbox_server::server::serve(config))
}

/// A running server process.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    pid: u32,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts server `index` on `database_url`, its blobs and log under `dir`, and waits until
    /// it says where it listens.
    pub async fn start(database_url: &str, dir: &Path, index: usize) -> anyhow::Result<Self> {
        let log = dir.join(format!("server-{index}.log"));
        let mut child = Command::new(std::env::current_exe()?)
            .env(SERVER, "1")
            .env("SMARTBOX_BIND", "127.0.0.1:0")
            .env("SMARTBOX_DATABASE_URL", database_url)
            .env(
                "SMARTBOX_BLOB_URL",
                format!("file://{}", dir.join("blobs").display()),
            )
            .env("SMARTBOX_MASTER_KEY", config::MASTER_KEY)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log)?))
            .kill_on_drop(true)
            .spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow::anyhow!("server {index} exited at once"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        // `serve` prints "smartbox listening on http://127.0.0.1:PORT" once bound.
        let line = tokio::time::timeout(START_DEADLINE, lines.next_line())
            .await
            .map_err(|_| anyhow::anyhow!("server {index} did not start: see {}", log.display()))??
            .ok_or_else(|| anyhow::anyhow!("server {index} exited: see {}", log.display()))?;
        let addr = line
            .rsplit("://")
            .next()
            .unwrap_or_default()
            .parse()
            .map_err(|_| anyhow::anyhow!("server {index} said {line:?}"))?;
        // Whatever else it prints is read and dropped, so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(ServerProcess {
            child,
            addr,
            pid,
            log,
        })
    }

    /// User and system CPU time of the process so far.
    pub fn cpu(&self) -> Duration {
        process_cpu(&format!("/proc/{}/stat", self.pid))
    }

    /// The process's peak resident memory.
    pub fn peak_rss(&self) -> String {
        peak_rss(&format!("/proc/{}/status", self.pid))
    }

    /// Ends the process (SIGKILL: nothing of a benchmark's database is kept).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Ok(Some(status)) = self.child.try_wait() {
            anyhow::bail!(
                "server at {} ended early ({status}): see {}",
                self.addr,
                self.log.display()
            );
        }
        self.child.kill().await?;
        Ok(())
    }
}

/// User and system CPU time from a `/proc/<pid>/stat` file (100 ticks a second).
pub fn process_cpu(stat_path: &str) -> Duration {
    let ticks = std::fs::read_to_string(stat_path)
        .ok()
        .and_then(|stat| {
            // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
            let fields: Vec<u64> = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|f| f.parse().ok())
                .collect();
            Some(fields.iter().sum::<u64>())
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// `VmHWM` from a `/proc/<pid>/status` file.
pub fn peak_rss(status_path: &str) -> String {
    std::fs::read_to_string(status_path)
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
        })
        .unwrap_or_else(|| format!("unknown (no {status_path})"))
}

/// CPU time of every process named `postgres` on this machine (the server and its backends;
/// other users of the same server count too).
pub fn postgres_cpu() -> Duration {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| {
            let stat = e.path().join("stat");
            let text = std::fs::read_to_string(&stat).ok()?;
            let name = text.split_once('(')?.1.split_once(')')?.0;
            (name == "postgres").then(|| process_cpu(&stat.to_string_lossy()))
        })
        .sum()
}

/// The machine's busy and total CPU time so far (`/proc/stat`, all cores; idle and iowait are
/// not busy).
pub fn machine_cpu() -> (Duration, Duration) {
    let ticks: Vec<u64> = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|stat| {
            let line = stat.lines().next()?.strip_prefix("cpu ")?.to_owned();
            Some(
                line.split_whitespace()
                    .filter_map(|f| f.parse().ok())
                    .collect(),
            )
        })
        .unwrap_or_default();
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    (
        Duration::from_millis(total.saturating_sub(idle) * 10),
        Duration::from_millis(total * 10),
    )
}

/// `/proc/loadavg`'s first three fields.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}
