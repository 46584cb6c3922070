//! Notification latency benchmark (DESIGN §9, issue 7): the time from the 201 that stores an
//! event's last photo to the first channel delivery of that event, over 1,000 events, with the
//! customer's email (an SMTP server) and webhook (an HTTP receiver) on loopback. The service runs
//! in this process on SQLite, and on PostgreSQL too when `SMARTBOX_TEST_POSTGRES_URL` names a
//! server; mailboxes send signed requests over loopback like the device does.
//!
//! `cargo bench -p smartbox-server --bench notifications`
//!
//! It runs two passes: the job workers as `smartbox serve` runs them (woken when a job is
//! enqueued, else looking every 500 ms), and one worker that polls every 5 ms and prints the
//! time each kind of job took, which shows what the pipeline itself costs. Knobs (environment): `BENCH_EVENTS` (1,000 per pass), `BENCH_EVENTS_PER_S` (arrival
//! rate, 20), `BENCH_DEVICES` (20).

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mail_parser::MessageParser;
use smartbox_notify::testing::http::HttpReceiver;
use smartbox_notify::testing::smtp::SmtpServer;
use smartbox_protocol::{
    EVENTS_PATH, HEADER_SERIAL, HEADER_SIGNATURE, HEADER_TIME, body_sha256, photo_path, sign,
};
use smartbox_server::config::Config;
use smartbox_server::jobs::{Outcome, POLL_INTERVAL, WORKERS_PER_PROCESS, Worker, registry};
use smartbox_server::{Clock, SystemClock};

use common::{Device, knob};

/// The event a delivery was about -> when its first delivery arrived.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench())
}

async fn bench() -> anyhow::Result<()> {
    smartbox_server::server::install_crypto_provider();
    let events = knob("BENCH_EVENTS", 1_000);
    let rate = knob("BENCH_EVENTS_PER_S", 20).max(1);
    let device_count = knob("BENCH_DEVICES", 20).max(1);
    println!(
        "notification benchmark: {events} events per pass at {rate}/s from {device_count} mailboxes, \
         one 640x480 JPEG each, email (SMTP) + webhook on loopback, 2 cores"
    );
    for poll in [POLL_INTERVAL, Duration::from_millis(5)] {
        // A fresh database per pass: SQLite, and PostgreSQL when configured.
        for db in smartbox_store::testing::all().await {
            let backend = db.db.backend().as_str();
            let mut latencies = run_pass(&db.url, events, rate, device_count, poll).await?;
            latencies.sort_unstable();
            let quantile = |q: f64| {
                let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
                latencies.get(i).copied().unwrap_or_default().as_secs_f64() * 1000.0
            };
            let label = if poll == POLL_INTERVAL {
                "workers as served (woken on enqueue)"
            } else {
                "one worker polling every 5 ms"
            };
            println!(
                "{backend}, {label}: {} of {events} events delivered; last photo's 201 -> first delivery \
                 p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (goal p99 < 500 ms)",
                latencies.len(),
                quantile(0.50),
                quantile(0.99),
                quantile(1.0),
            );
        }
    }
    Ok(())
}

/// One pass on a fresh database: answers each delivered event's latency.
async fn run_pass(
    database_url: &str,
    events: usize,
    rate: usize,
    device_count: usize,
    poll: Duration,
) -> anyhow::Result<Vec<Duration>> {
    let dir = tempfile::tempdir()?;
    let smtp = SmtpServer::start().await;
    let webhook = HttpReceiver::start().await;
    let blob_url = format!("file://{}", dir.path().join("blobs").display());
    let smtp_url = smtp.url();
    let config = Config::from_lookup(|name| match name {
        "SMARTBOX_BIND" => Some("127.0.0.1:0".to_owned()),
        "SMARTBOX_DATABASE_URL" => Some(database_url.to_owned()),
        "SMARTBOX_BLOB_URL" => Some(blob_url.clone()),
        "SMARTBOX_SMTP_URL" => Some(smtp_url.clone()),
        "SMARTBOX_MASTER_KEY" => Some("KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=".to_owned()),
        // The webhook receiver listens on loopback.
        "SMARTBOX_ALLOW_PRIVATE_WEBHOOKS" => Some("true".to_owned()),
        _ => None,
    })?;
    let state = smartbox_server::server::open_state(config, Arc::new(SystemClock)).await?;
    let (customer, devices) = common::provision(&state, "NBENCH", device_count).await?;
    let owner = smartbox_domain::UserId::new(customer.as_str());
    smartbox_server::services::webhooks::set(
        &state,
        &smartbox_server::services::Actor::customer(owner.clone()),
        &owner,
        &webhook.url("/hooks"),
    )
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = smartbox_server::app(state.clone());
    let serving = tokio::spawn(async move { axum::serve(listener, app).await });

    let arrivals: Arrivals = Arc::default();
    let receivers = [
        tokio::spawn(collect_mail(smtp, Arc::clone(&arrivals))),
        tokio::spawn(collect_webhooks(webhook, Arc::clone(&arrivals))),
    ];
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers: Vec<_> = if poll == POLL_INTERVAL {
        // Exactly as `smartbox serve` runs them.
        (0..WORKERS_PER_PROCESS)
            .map(|_| Worker::new(state.clone(), registry()).spawn(stopped.clone()))
            .collect()
    } else {
        vec![tokio::spawn(work(
            Worker::new(state.clone(), registry()),
            poll,
            stopped,
        ))]
    };

    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    let photo = camera_photo();
    let mut stored: Vec<(String, Instant)> = Vec::with_capacity(events);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    for i in 0..events {
        tick.tick().await;
        let device = &devices[i % devices.len()];
        let event_id = uuid::Uuid::new_v4();
        let body = serde_json::json!({
            "event_id": event_id,
            "kind": "mail_arrived",
            "occurred_at": SystemClock.now_s(),
            "photo_count": 1,
        })
        .to_string()
        .into_bytes();
        let status = send(&client, &base, device, "POST", EVENTS_PATH, body).await?;
        anyhow::ensure!(status == 201, "event answered {status}");
        let path = photo_path(event_id, 0);
        let status = send(&client, &base, device, "PUT", path.as_str(), photo.clone()).await?;
        anyhow::ensure!(status == 201, "photo answered {status}");
        stored.push((event_id.to_string(), Instant::now()));
    }
    // Wait for the stragglers (at most 30 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let done = {
            let arrived = arrivals.lock().unwrap_or_else(|p| p.into_inner());
            stored.iter().all(|(id, _)| arrived.contains_key(id))
        };
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(true);
    for worker in workers {
        let _ = worker.await;
    }
    for receiver in receivers {
        receiver.abort();
    }
    serving.abort();
    let arrived = arrivals.lock().unwrap_or_else(|p| p.into_inner());
    Ok(stored
        .iter()
        .filter_map(|(id, at)| {
            arrived
                .get(id)
                .map(|first| first.saturating_duration_since(*at))
        })
        .collect())
}

/// Runs jobs until stopped, looking again after `poll` when none was due; prints the time the
/// jobs took by kind.
async fn work(worker: Worker, poll: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut by_kind: std::collections::BTreeMap<String, (u32, Duration)> = Default::default();
    while !*stop.borrow() {
        let started = Instant::now();
        match worker.try_execute_one().await {
            Ok(Outcome::Idle) | Err(_) => {
                tokio::select! {
                    _ = stop.changed() => {}
                    () = tokio::time::sleep(poll) => {}
                }
            }
            Ok(
                Outcome::Done { kind, .. }
                | Outcome::Retrying { kind, .. }
                | Outcome::Failed { kind, .. }
                | Outcome::LeaseLost { kind, .. },
            ) => {
                let entry = by_kind.entry(kind).or_default();
                entry.0 += 1;
                entry.1 += started.elapsed();
            }
        }
    }
    let jobs: Vec<String> = by_kind
        .iter()
        .map(|(kind, (n, total))| {
            format!(
                "{kind} {n} x {:.1} ms",
                total.as_secs_f64() * 1000.0 / f64::from(*n)
            )
        })
        .collect();
    println!("  jobs run: {}", jobs.join(", "));
}

fn first_arrival(arrivals: &Arrivals, event_id: String) {
    let mut arrived = arrivals.lock().unwrap_or_else(|p| p.into_inner());
    arrived.entry(event_id).or_insert_with(Instant::now);
}

/// Records each email's event (its link names it).
async fn collect_mail(mut smtp: SmtpServer, arrivals: Arrivals) {
    loop {
        let mail = smtp.next_mail().await;
        let Some(message) = MessageParser::default().parse(&mail.data) else {
            continue;
        };
        let text = message.body_text(0).unwrap_or_default().into_owned();
        if let Some(id) = text
            .split("/gallery/")
            .nth(1)
            .map(|rest| rest.chars().take(36).collect::<String>())
        {
            first_arrival(&arrivals, id);
        }
    }
}

/// Records each webhook's event.
async fn collect_webhooks(mut receiver: HttpReceiver, arrivals: Arrivals) {
    loop {
        let request = receiver.next_request().await;
        let Ok(body) = serde_json::from_slice::<serde_json::Value>(&request.body) else {
            continue;
        };
        if let Some(id) = body["data"]["event_id"].as_str() {
            first_arrival(&arrivals, id.to_owned());
        }
    }
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    device: &Device,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> anyhow::Result<u16> {
    let time = SystemClock.now_s();
    let signature = sign(&device.secret, method, path, time, &body_sha256(&body));
    let content_type = if method == "PUT" {
        "image/jpeg"
    } else {
        "application/json"
    };
    let response = client
        .request(method.parse()?, format!("{base}{path}"))
        .header(HEADER_SERIAL, &device.serial)
        .header(HEADER_TIME, time.to_string())
        .header(
            HEADER_SIGNATURE,
            String::from_utf8_lossy(&signature).into_owned(),
        )
        .header("content-type", content_type)
        .body(body)
        .send()
        .await?;
    Ok(response.status().as_u16())
}

/// A 640x480 camera-like JPEG (decodable, so the thumbnail job does its real work).
fn camera_photo() -> Vec<u8> {
    let (width, height) = (640_u16, 480_u16);
    let pixels: Vec<u8> = (0..u32::from(width) * u32::from(height))
        .flat_map(|i| {
            let (x, y) = (i % 640, i / 640);
            [(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8]
        })
        .collect();
    let mut out = Vec::new();
    let _ = jpeg_encoder::Encoder::new(&mut out, 80).encode(
        &pixels,
        width,
        height,
        jpeg_encoder::ColorType::Rgb,
    );
    out
}
