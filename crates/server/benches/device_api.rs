//! Device API benchmark (DESIGN §9): the server in this process, driven over loopback by
//! concurrent keep-alive clients sending signed requests, first heartbeats, then mail events with
//! three 60 KB photos each. Prints requests/s, p50/p99 latency and the process's peak RSS, on
//! SQLite (the goal's backend) and on PostgreSQL when `SMARTBOX_TEST_POSTGRES_URL` names a server
//! (a fresh database each run, like the tests').
//!
//! `cargo bench -p smartbox-server --bench device_api`
//!
//! `BENCH_SERVERS=N` (PostgreSQL, N >= 1) serves from N other processes instead: this binary
//! started again as a server that runs `smartbox_server::server::serve`, what `smartbox serve`
//! runs (the job workers with it), each on its own port, all on one database with one master
//! key and one blob folder. The connections are spread over them in turn, and each phase prints
//! the combined figures, then each process's share, CPU and the machine's load meanwhile.
//! `BENCH_SERVERS=2 BENCH_BACKENDS=postgres BENCH_PHASES=heartbeat,event cargo bench -p
//! smartbox-server --bench device_api`
//!
//! Phases: `heartbeat`, `event-plain` and `event` are closed loops (each connection sends its next request as
//! soon as the last is answered), which measure the most the server serves; their latency is that
//! of a saturated server, queueing included. `heartbeat-paced` offers heartbeats at a fixed rate
//! (`BENCH_RATE`, default 10,000/s: the goal's load) spread over the connections, and measures each
//! request's latency from the moment it was due, not from when it was sent, so a server that falls
//! behind is charged for the wait (no coordinated omission): that is the p99 *at* 10,000/s.
//! `event` stores the photos sealed, as the server does; `event-plain` the same in the clear, to
//! show what encryption at rest costs in the same run.
//!
//! Knobs (environment): `BENCH_SECONDS` per phase (default 10), `BENCH_CONNECTIONS` (64),
//! `BENCH_DEVICES` (1,000), `BENCH_BACKENDS` (`sqlite,postgres`), `BENCH_PHASES`
//! (`heartbeat,heartbeat-paced,event-plain,event`), `BENCH_RATE` (10,000), `BENCH_JOBS` (1: the job worker runs beside the API, as in `smartbox serve`,
//! and makes thumbnails and notifications of the completed events; 0: the API alone),
//! `BENCH_SERVERS` (0: the server in this process). Every loop stops at its deadline
//! and after at most 2,000,000 requests; traffic goes to 127.0.0.1 only.

mod common;
#[path = "common/config.rs"]
mod config;
#[path = "common/processes.rs"]
mod processes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use smartbox_protocol::{
    EVENTS_PATH, HEADER_SERIAL, HEADER_SIGNATURE, HEADER_TIME, HEARTBEAT_PATH, body_sha256,
    photo_path, sign,
};
use smartbox_server::device_api::jpeg;
use smartbox_server::{Server, SystemClock};
use smartbox_store::testing;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::{Device, knob};

const MAX_REQUESTS_PER_PHASE: usize = 2_000_000;
const PHOTO_BYTES: usize = 60_000;

/// What one run measures.
#[derive(Debug, Clone, Copy)]
struct Load {
    seconds: u64,
    connections: usize,
    devices: usize,
    /// Requests per second offered by the paced phase.
    rate: usize,
    /// Whether the server's job worker runs (thumbnails, notifications... of completed events).
    jobs: bool,
    /// Server processes to start (0: the server runs in this process).
    servers: usize,
}

fn main() -> anyhow::Result<()> {
    if processes::is_server() {
        return processes::serve();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let load = Load {
            seconds: knob("BENCH_SECONDS", 10) as u64,
            connections: knob("BENCH_CONNECTIONS", 64),
            devices: knob("BENCH_DEVICES", 1_000),
            rate: knob("BENCH_RATE", 10_000),
            jobs: knob("BENCH_JOBS", 1) != 0,
            servers: knob("BENCH_SERVERS", 0),
        };
        let backends =
            std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".to_owned());
        for backend in backends.split(',').map(str::trim) {
            match backend {
                "sqlite" => {
                    let dir = tempfile::tempdir()?;
                    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                    bench("SQLite", &url, load).await?;
                }
                "postgres" => match testing::postgres().await {
                    Some(pg) => bench("PostgreSQL", &pg.url, load).await?,
                    None => println!("PostgreSQL: skipped (set SMARTBOX_TEST_POSTGRES_URL)"),
                },
                other => anyhow::bail!("BENCH_BACKENDS: unknown backend {other:?}"),
            }
        }
        anyhow::Ok(())
    })
}

async fn bench(backend: &str, database_url: &str, load: Load) -> anyhow::Result<()> {
    if load.servers > 0 {
        return bench_processes(backend, database_url, load).await;
    }
    let Load {
        seconds,
        connections,
        devices: device_count,
        ..
    } = load;
    let dir = tempfile::tempdir()?;
    let config = config::server_config(database_url, dir.path())?;
    let server = Server::build(config, Arc::new(SystemClock)).await?;
    let addr = server.local_addr();
    let state = server.state().clone();
    let (_, devices) = common::provision(server.state(), "BENCH", device_count).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async {
        let _ = stopped.await;
    };
    let serving = if load.jobs {
        tokio::spawn(server.run_until(shutdown))
    } else {
        // The device API alone: the same router on the same state, without the job worker.
        let state = server.state().clone();
        drop(server);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let app = smartbox_server::app(state).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await?;
            anyhow::Ok(())
        })
    };

    println!(
        "device API benchmark: {backend}, {connections} connections, {device_count} devices, {seconds} s per phase, 2 cores, job worker {}",
        if load.jobs { "on" } else { "off" }
    );
    let devices = Arc::new(devices);
    let phases = std::env::var("BENCH_PHASES")
        .unwrap_or_else(|_| "heartbeat,heartbeat-paced,event-plain,event".to_owned());
    for phase in phases.split(',').map(str::trim) {
        match phase {
            "heartbeat" => {
                let mut heartbeats = run_phase(
                    &[addr],
                    &devices,
                    connections,
                    seconds,
                    None,
                    heartbeat_round,
                )
                .await?;
                heartbeats.print("heartbeat", "requests");
            }
            "heartbeat-paced" => {
                let rate = load.rate;
                let mut heartbeats = run_phase(
                    &[addr],
                    &devices,
                    connections,
                    seconds,
                    Some(rate),
                    heartbeat_round,
                )
                .await?;
                heartbeats.print(&format!("heartbeat offered at {rate}/s"), "requests");
            }
            "event" => {
                let mut events =
                    run_phase(&[addr], &devices, connections, seconds, None, event_round).await?;
                events.print("event + 3 x 60 KB photos", "events");
                println!("  (event latency is per HTTP request: the event and each of its photos)");
            }
            "event-plain" => {
                // What photo encryption costs, measured in the same run: the same closed loop
                // with the photos stored in the clear (run before `event`, so the sealed run
                // gets the larger database).
                state.photos.set_sealing(false);
                let mut events =
                    run_phase(&[addr], &devices, connections, seconds, None, event_round).await?;
                state.photos.set_sealing(true);
                events.print("event + 3 x 60 KB photos, stored in the clear", "events");
            }
            other => anyhow::bail!("BENCH_PHASES: unknown phase {other:?}"),
        }
    }
    println!(
        "peak RSS (VmHWM, server and clients in one process): {}",
        processes::peak_rss("/proc/self/status")
    );

    let _ = stop.send(());
    serving.await??;
    Ok(())
}

/// The benchmark against `load.servers` server processes on one database (see the module
/// documentation): provisioned from here, then served by them only.
async fn bench_processes(backend: &str, database_url: &str, load: Load) -> anyhow::Result<()> {
    anyhow::ensure!(
        backend == "PostgreSQL" || load.servers == 1,
        "BENCH_SERVERS={} needs PostgreSQL: a SQLite database belongs to one process",
        load.servers
    );
    let dir = tempfile::tempdir()?;
    // Migrated and provisioned by a state of this process, closed before the servers start:
    // they share only the database, the master key and the blob folder.
    let config = config::server_config(database_url, dir.path())?;
    let state = smartbox_server::server::open_state(config, Arc::new(SystemClock)).await?;
    let (_, devices) = common::provision(&state, "BENCH", load.devices).await?;
    state.db.close().await;
    drop(state);
    let mut servers = Vec::with_capacity(load.servers);
    for index in 0..load.servers {
        servers.push(processes::ServerProcess::start(database_url, dir.path(), index).await?);
    }
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    println!(
        "device API benchmark: {backend}, {} server processes ({}), {} connections spread over them, \
         {} devices, {} s per phase, job workers on, load average before: {}",
        load.servers,
        addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        load.connections,
        load.devices,
        load.seconds,
        processes::load_average(),
    );
    let devices = Arc::new(devices);
    let phases = std::env::var("BENCH_PHASES")
        .unwrap_or_else(|_| "heartbeat,heartbeat-paced,event".to_owned());
    for phase in phases.split(',').map(str::trim) {
        let (name, unit, rate, round): (String, &str, Option<usize>, Round) = match phase {
            "heartbeat" => ("heartbeat".to_owned(), "requests", None, heartbeat_round),
            "heartbeat-paced" => (
                format!("heartbeat offered at {}/s", load.rate),
                "requests",
                Some(load.rate),
                heartbeat_round,
            ),
            "event" => (
                "event + 3 x 60 KB photos".to_owned(),
                "events",
                None,
                event_round,
            ),
            "event-plain" => {
                println!("event-plain: skipped (the servers are other processes)");
                continue;
            }
            other => anyhow::bail!("BENCH_PHASES: unknown phase {other:?}"),
        };
        let servers_before: Vec<Duration> = servers.iter().map(|s| s.cpu()).collect();
        let postgres_before = processes::postgres_cpu();
        let (busy_before, total_before) = processes::machine_cpu();
        let mut measured = run_phase(
            &addrs,
            &devices,
            load.connections,
            load.seconds,
            rate,
            round,
        )
        .await?;
        let (busy_after, total_after) = processes::machine_cpu();
        let postgres = processes::postgres_cpu().saturating_sub(postgres_before);
        measured.print(
            &format!("{name}, {} processes combined", load.servers),
            unit,
        );
        let rounds = measured.rounds.max(1) as f64;
        let seconds = measured.elapsed.as_secs_f64();
        for ((server, before), share) in servers
            .iter()
            .zip(&servers_before)
            .zip(&measured.per_server)
        {
            let cpu = server.cpu().saturating_sub(*before);
            println!(
                "  process at {}: {:.0} {unit}/s, CPU {:.0} us per {} ({:.0} % of a core)",
                server.addr,
                *share as f64 / seconds,
                cpu.as_secs_f64() * 1e6 / (*share).max(1) as f64,
                unit.trim_end_matches('s'),
                cpu.as_secs_f64() * 100.0 / seconds,
            );
        }
        let busy = busy_after.saturating_sub(busy_before).as_secs_f64();
        let total = total_after.saturating_sub(total_before).as_secs_f64();
        println!(
            "  PostgreSQL processes: CPU {:.0} us per {} ({:.0} % of a core); machine busy {:.0} % \
             of its cores (servers, clients, PostgreSQL and anything else running)",
            postgres.as_secs_f64() * 1e6 / rounds,
            unit.trim_end_matches('s'),
            postgres.as_secs_f64() * 100.0 / seconds,
            100.0 * busy / total.max(f64::EPSILON),
        );
    }
    for server in servers {
        println!(
            "peak RSS of the server at {}: {}",
            server.addr,
            server.peak_rss()
        );
        server.stop().await?;
    }
    if backend == "PostgreSQL" {
        table_sizes(database_url).await?;
    }
    Ok(())
}

/// Rows and bytes (indexes and TOAST included) of the tables the device API grows, for the
/// capacity model's storage figures.
async fn table_sizes(database_url: &str) -> anyhow::Result<()> {
    let pool = sqlx::postgres::PgPool::connect(database_url).await?;
    for table in ["device_vitals", "mail_events", "photos", "usage_periods"] {
        let (rows, bytes): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT (SELECT COUNT(*) FROM {table}), pg_total_relation_size('{table}')"
        )))
        .fetch_one(&pool)
        .await?;
        println!(
            "  {table}: {rows} rows, {:.1} MB, {:.0} bytes a row",
            bytes as f64 / 1e6,
            bytes as f64 / rows.max(1) as f64
        );
    }
    pool.close().await;
    Ok(())
}

/// Latencies of one phase.
#[derive(Debug, Default)]
struct Phase {
    latencies_us: Vec<u32>,
    rounds: usize,
    failures: usize,
    elapsed: Duration,
    /// CPU time the process (server and clients) spent during the phase.
    cpu: Duration,
    /// When the next request was due (paced phases): its latency counts from then.
    due: Option<Instant>,
    /// Rounds answered by each server (by its place in the address list).
    per_server: Vec<usize>,
}

impl Phase {
    fn print(&mut self, name: &str, unit: &str) {
        self.latencies_us.sort_unstable();
        let quantile = |q: f64| {
            let i = ((self.latencies_us.len() as f64 - 1.0) * q).round() as usize;
            f64::from(self.latencies_us.get(i).copied().unwrap_or(0)) / 1000.0
        };
        let seconds = self.elapsed.as_secs_f64();
        println!(
            "{name}: {:.0} {unit}/s ({} {unit} in {seconds:.1} s, {} HTTP requests at {:.0}/s), \
             latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, failures {}, \
             CPU {:.0} us per {} in this process",
            self.rounds as f64 / seconds,
            self.rounds,
            self.latencies_us.len(),
            self.latencies_us.len() as f64 / seconds,
            quantile(0.50),
            quantile(0.99),
            quantile(1.0),
            self.failures,
            self.cpu.as_secs_f64() * 1e6 / self.rounds.max(1) as f64,
            unit.trim_end_matches('s'),
        );
    }
}

type Round = for<'a> fn(
    &'a mut Connection,
    &'a Device,
    &'a mut Phase,
) -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

/// Runs `round` from `connections` keep-alive connections, connection `i` to server
/// `addrs[i % addrs.len()]`.
async fn run_phase(
    addrs: &[SocketAddr],
    devices: &Arc<Vec<Device>>,
    connections: usize,
    seconds: u64,
    rate: Option<usize>,
    round: Round,
) -> anyhow::Result<Phase> {
    // Connected before the clock starts: a paced schedule would otherwise count the connects'
    // time in its first requests' latency.
    let mut opened = Vec::with_capacity(connections);
    for i in 0..connections {
        opened.push((
            i % addrs.len(),
            Connection::open(addrs[i % addrs.len()]).await?,
        ));
    }
    let started = Instant::now();
    let cpu_before = processes::process_cpu("/proc/self/stat");
    let deadline = started + Duration::from_secs(seconds);
    let per_client = MAX_REQUESTS_PER_PHASE / connections.max(1);
    let mut clients = Vec::with_capacity(connections);
    for (client, (server, mut connection)) in opened.into_iter().enumerate() {
        let devices = Arc::clone(devices);
        clients.push(tokio::spawn(async move {
            let mut phase = Phase::default();
            let mut next = client;
            let mut sent = 0_u32;
            while Instant::now() < deadline && phase.latencies_us.len() < per_client {
                if let Some(rate) = rate {
                    // This connection's share of the schedule: every `connections / rate` seconds,
                    // offset so the connections take turns.
                    let due = started
                        + Duration::from_secs_f64(
                            (client as f64 + f64::from(sent) * connections as f64) / rate as f64,
                        );
                    tokio::time::sleep_until(due.into()).await;
                    phase.due = Some(due);
                }
                sent += 1;
                let device = &devices[next % devices.len()];
                next += connections;
                round(&mut connection, device, &mut phase).await?;
                phase.rounds += 1;
            }
            anyhow::Ok((server, phase))
        }));
    }
    let mut total = Phase {
        per_server: vec![0; addrs.len()],
        ..Phase::default()
    };
    for client in clients {
        let (server, phase) = client.await??;
        total.per_server[server] += phase.rounds;
        total.latencies_us.extend(phase.latencies_us);
        total.rounds += phase.rounds;
        total.failures += phase.failures;
    }
    total.elapsed = started.elapsed();
    total.cpu = processes::process_cpu("/proc/self/stat").saturating_sub(cpu_before);
    Ok(total)
}

fn heartbeat_round<'a>(
    connection: &'a mut Connection,
    device: &'a Device,
    phase: &'a mut Phase,
) -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>> {
    Box::pin(async move {
        let body = br#"{"battery_percent":87,"power_state":"awake","signal_dbm":-85,"network":"cellular","firmware_version":"1.0.0","modem_tx_bytes":123456,"modem_rx_bytes":654321,"sd_queue_len":0}"#;
        let status = connection
            .signed(
                device,
                "POST",
                HEARTBEAT_PATH,
                "application/json",
                body,
                phase,
            )
            .await?;
        if status != 200 {
            phase.failures += 1;
        }
        Ok(())
    })
}

fn event_round<'a>(
    connection: &'a mut Connection,
    device: &'a Device,
    phase: &'a mut Phase,
) -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>> {
    Box::pin(async move {
        let event_id = smartbox_protocol::Uuid::new_v4();
        let body = format!(
            r#"{{"event_id":"{event_id}","kind":"mail_arrived","occurred_at":{},"photo_count":3}}"#,
            unix_now()
        );
        let status = connection
            .signed(
                device,
                "POST",
                EVENTS_PATH,
                "application/json",
                body.as_bytes(),
                phase,
            )
            .await?;
        if status != 201 {
            phase.failures += 1;
            return Ok(());
        }
        let photos = Arc::clone(&connection.photos);
        for (index, photo) in (0..3u8).zip(photos.iter()) {
            let path = photo_path(event_id, index);
            let status = connection
                .signed(device, "PUT", &path, "image/jpeg", photo, phase)
                .await?;
            if status != 201 {
                phase.failures += 1;
            }
        }
        Ok(())
    })
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// A keep-alive HTTP/1.1 client that writes requests by hand and reads `content-length` answers:
/// cheap enough that the clients leave most of the two cores to the server.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
    photos: Arc<[Vec<u8>; 3]>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buffer: Vec::with_capacity(8192),
            photos: Arc::new([
                jpeg::synthetic(PHOTO_BYTES),
                jpeg::synthetic(PHOTO_BYTES),
                jpeg::synthetic(PHOTO_BYTES),
            ]),
        })
    }

    async fn signed(
        &mut self,
        device: &Device,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
        phase: &mut Phase,
    ) -> anyhow::Result<u16> {
        let time = unix_now();
        let signature = sign(&device.secret, method, path, time, &body_sha256(body));
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
             {HEADER_SERIAL}: {}\r\n{HEADER_TIME}: {time}\r\n{HEADER_SIGNATURE}: {}\r\n\r\n",
            body.len(),
            device.serial,
            String::from_utf8_lossy(&signature)
        )
        .into_bytes();
        request.extend_from_slice(body);
        let started = phase.due.take().unwrap_or_else(Instant::now);
        self.stream.write_all(&request).await?;
        let status = self.read_answer().await?;
        let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        phase.latencies_us.push(micros);
        Ok(status)
    }

    async fn read_answer(&mut self) -> anyhow::Result<u16> {
        loop {
            if let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buffer[..end])?;
                let status: u16 = head.get(9..12).unwrap_or("0").parse()?;
                let length: usize = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                let total = end + 4 + length;
                while self.buffer.len() < total {
                    self.fill().await?;
                }
                self.buffer.drain(..total);
                return Ok(status);
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0u8; 8192];
        let read = self.stream.read(&mut chunk).await?;
        anyhow::ensure!(read > 0, "the server closed the connection");
        self.buffer.extend_from_slice(&chunk[..read]);
        Ok(())
    }
}
