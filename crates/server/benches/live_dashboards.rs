//! Database load of open live dashboards on PostgreSQL (issue 23): the server in this process,
//! `BENCH_DASHBOARDS` (1,000) `/dashboard/live` streams held open over loopback by one customer,
//! and the database's committed transactions per second (`pg_stat_database.xact_commit` deltas:
//! every statement outside a transaction is one) over `BENCH_SECONDS` (10) in four phases:
//!
//! - `idle`: the server with no stream (its job workers' polls): the floor.
//! - `polling`: no stream, but one task per dashboard running what each stream ran before the
//!   cluster signals, every 1.5 s: its session (`live_session`) and its "what changed last"
//!   query (`activity_mark`), the same store calls.
//! - `streams`: the dashboards held open on the signal-fed streams, nothing happening.
//! - `streams+mail`: the same with one heartbeat a second from the customer's mailbox, so every
//!   stream renders its cards once a second.
//!
//! `cargo bench -p smartbox-server --bench live_dashboards` (needs `SMARTBOX_TEST_POSTGRES_URL`;
//! a fresh database each run, like the tests'; traffic on 127.0.0.1 only).

mod common;
#[path = "common/config.rs"]
mod config;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use smartbox_protocol::{
    HEADER_SERIAL, HEADER_SIGNATURE, HEADER_TIME, HEARTBEAT_PATH, body_sha256, sign,
};
use smartbox_server::accounts::tokens::token_hash;
use smartbox_server::{Clock, Server, SystemClock};
use smartbox_store::{SessionRow, testing};
use sqlx::postgres::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::knob;

/// How often each stream polled before the cluster signals.
const OLD_POLL: Duration = Duration::from_millis(1500);

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let Some(pg) = testing::postgres().await else {
            println!("live dashboards: skipped (set SMARTBOX_TEST_POSTGRES_URL)");
            return Ok(());
        };
        bench(
            &pg.url,
            knob("BENCH_DASHBOARDS", 1_000),
            knob("BENCH_SECONDS", 10) as u64,
        )
        .await
    })
}

async fn bench(url: &str, dashboards: usize, seconds: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = config::server_config(url, dir.path())?;
    let server = Server::build(config, Arc::new(SystemClock)).await?;
    let addr = server.local_addr();
    let state = server.state().clone();
    let (customer, devices) = common::provision(&state, "LIVE", 1).await?;
    let token = "live-dashboards-bench";
    let now = SystemClock.now_ms();
    state
        .db
        .insert_session(&SessionRow {
            token_hash: token_hash(token),
            user_id: customer.clone(),
            csrf_token: "csrf".to_owned(),
            created_at: now,
            expires_at: now + 3_600_000,
        })
        .await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    let stats = PgPool::connect(url).await?;
    println!(
        "live dashboards benchmark: PostgreSQL, {dashboards} dashboards of one customer, {seconds} s per phase, 2 cores"
    );
    let window = Duration::from_secs(seconds);

    let idle = commits_per_s(&stats, window).await?;
    println!("idle (job workers only):         {idle:>8.1} transactions/s");

    let pollers: Vec<_> = (0..dashboards)
        .map(|i| {
            let (state, customer) = (state.clone(), customer.clone());
            let hash = token_hash(token);
            tokio::spawn(async move {
                // Spread over the interval, as streams opened at different times were.
                tokio::time::sleep(OLD_POLL * u32::try_from(i).unwrap_or(0) / 1_000).await;
                loop {
                    tokio::time::sleep(OLD_POLL).await;
                    let _ = state.db.live_session(&hash, SystemClock.now_ms()).await;
                    let _ = state.db.activity_mark(&customer).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(OLD_POLL * 2).await;
    let polling = commits_per_s(&stats, window).await?;
    println!("polling (before, each stream):   {polling:>8.1} transactions/s");
    for poller in pollers {
        poller.abort();
    }

    let mut streams = Vec::with_capacity(dashboards);
    for _ in 0..dashboards {
        streams.push(open_stream(addr, token).await?);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let quiet = commits_per_s(&stats, window).await?;
    println!("streams (after), no mail:        {quiet:>8.1} transactions/s");

    let device = devices[0].clone();
    let beating = tokio::spawn(async move {
        loop {
            if let Err(err) = heartbeat(addr, &device).await {
                eprintln!("heartbeat: {err}");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let busy = commits_per_s(&stats, window).await?;
    println!("streams (after), 1 heartbeat/s:  {busy:>8.1} transactions/s");
    beating.abort();
    let alive = streams.iter().filter(|s| !s.is_finished()).count();
    println!("streams still open at the end: {alive} of {dashboards}");

    for stream in streams {
        stream.abort();
    }
    let _ = stop.send(());
    serving.await??;
    Ok(())
}

/// The database's committed transactions per second over `window`.
async fn commits_per_s(stats: &PgPool, window: Duration) -> anyhow::Result<f64> {
    let read = || async {
        let (commits,): (i64,) = sqlx::query_as(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(stats)
        .await?;
        anyhow::Ok(commits)
    };
    // Backends report their counts at most once a second: let the last ones land.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let before = read().await?;
    tokio::time::sleep(window).await;
    let after = read().await?;
    // The two reads themselves are two transactions.
    Ok((after - before - 1) as f64 / window.as_secs_f64())
}

/// Opens one dashboard stream and keeps reading it (until aborted).
async fn open_stream(addr: SocketAddr, token: &str) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!(
        "GET /dashboard/live HTTP/1.1\r\nhost: bench\r\ncookie: sb_session={token}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = [0u8; 1024];
    let read = stream.read(&mut head).await?;
    let text = String::from_utf8_lossy(&head[..read]);
    anyhow::ensure!(text.starts_with("HTTP/1.1 200"), "the stream opens: {text}");
    Ok(tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    }))
}

/// One signed heartbeat on its own connection.
async fn heartbeat(addr: SocketAddr, device: &common::Device) -> anyhow::Result<()> {
    let body = br#"{"battery_percent":80,"power_state":"awake","signal_dbm":-70,"network":"cellular","firmware_version":"1.0.0","modem_tx_bytes":0,"modem_rx_bytes":0,"sd_queue_len":0}"#;
    let time = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
    let signature = sign(
        &device.secret,
        "POST",
        HEARTBEAT_PATH,
        time,
        &body_sha256(body),
    );
    let head = format!(
        "POST {HEARTBEAT_PATH} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n\
         {HEADER_SERIAL}: {}\r\n{HEADER_TIME}: {time}\r\n{HEADER_SIGNATURE}: {}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        device.serial,
        String::from_utf8_lossy(&signature),
        body.len()
    );
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    anyhow::ensure!(
        answer.starts_with(b"HTTP/1.1 200"),
        "heartbeat answered {}",
        String::from_utf8_lossy(&answer)
    );
    Ok(())
}
