//! Admin list benchmark (DESIGN §9: admin lists over 100,000 devices answer in p99 < 100 ms;
//! issue 16): a database filled with 50,000 customers, 100,000 mailboxes (80,000 claimed, two a
//! customer, each with a subscription, an invoice and four check-ins an hour apart), and the customer
//! search and device inventory asked for over loopback by a signed-in admin: the pages and their
//! JSON twins, with each filter and search kind, one request at a time. On SQLite, and on
//! PostgreSQL too when `SMARTBOX_TEST_POSTGRES_URL` names a server.
//!
//! `cargo bench -p smartbox-server --bench admin_lists`
//!
//! Knobs (environment): `BENCH_CUSTOMERS` (50,000), `BENCH_DEVICES` (100,000; the first 80 %
//! are claimed), `BENCH_ROUNDS` (30 requests per route).

#[path = "common/config.rs"]
mod config;
#[path = "common/knob.rs"]
mod knob;

use std::sync::Arc;
use std::time::{Duration, Instant};

use smartbox_server::accounts::session::SESSION_COOKIE;
use smartbox_server::accounts::tokens::token_hash;
use smartbox_server::secrets::MasterKey;
use smartbox_server::{Clock, Server, SystemClock, provisioning};
use smartbox_store::{Backend, Db, SessionRow, testing};

use config::server_config;
use knob::knob;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench())
}

async fn bench() -> anyhow::Result<()> {
    smartbox_server::server::install_crypto_provider();
    let customers = knob("BENCH_CUSTOMERS", 50_000).max(1);
    let devices = knob("BENCH_DEVICES", 100_000).max(2);
    let rounds = knob("BENCH_ROUNDS", 30).max(1);
    println!(
        "admin list benchmark: {customers} customers, {devices} mailboxes, {rounds} requests per \
         route, one at a time over loopback, 2 cores"
    );
    for db in testing::all().await {
        let backend = db.db.backend().as_str();
        let started = Instant::now();
        provisioning::seed_plans(&db.db).await?;
        // One mailbox imported for real, before the others: the server starts only with a key
        // that opens the oldest device secret, and the filled ones are placeholders.
        let key = MasterKey::from_bytes([b'*'; 32]);
        let serials = provisioning::read_serials("serial\nSB-A000000".as_bytes())?;
        let before = Clock::now_ms(&SystemClock) - 60_000;
        provisioning::import_devices(&db.db, &key, &serials, before).await?;
        fill(&db.db, customers, devices).await;
        println!(
            "{backend}: filled in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        run(&db.url, backend, customers, devices, rounds).await?;
    }
    Ok(())
}

/// `0, 1, ..., n - 1` as a recursive CTE both engines run.
fn numbers(n: usize) -> String {
    format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {})",
        n - 1
    )
}

/// Fills the database with raw SQL (the import path hashes secrets and would take minutes).
async fn fill(db: &Db, customers: usize, devices: usize) {
    let claimed = (devices * 4 / 5).min(customers * 2);
    let (blob, pad6, pad7) = match db.backend() {
        Backend::Sqlite => ("X'00'", "printf('%06d', i)", "printf('%07d', i)"),
        Backend::Postgres => (
            "'\\x00'::bytea",
            "lpad(i::text, 6, '0')",
            "lpad(i::text, 7, '0')",
        ),
    };
    // Now, so that no period is over and the billing pass has nothing to renew meanwhile.
    let t0 = smartbox_server::Clock::now_ms(&SystemClock);
    let statements = [
        format!(
            "{} INSERT INTO users (id, email, password_hash, role, display_name, created_at) \
             SELECT 'u' || i, 'customer' || i || '@example.com', 'x', 'customer', \
             'Customer ' || i, {t0} + i FROM n",
            numbers(customers)
        ),
        format!(
            "{} INSERT INTO devices (id, serial, secret_ciphertext, claim_code_hash, owner_id, \
             lifecycle_state, created_at) SELECT 'd' || i, 'SB-B' || {pad6}, {blob}, 'h', \
             CASE WHEN i < {claimed} THEN 'u' || (i / 2) END, \
             CASE WHEN i < {claimed} THEN 'active_subscription' ELSE 'pre_activation' END, \
             {t0} FROM n",
            numbers(devices)
        ),
        // Four check-ins an hour apart, the newest last: the lists read the newest alone.
        format!(
            "{}, h(k) AS (SELECT 3 UNION ALL SELECT 2 UNION ALL SELECT 1 UNION ALL SELECT 0) \
             INSERT INTO device_vitals (device_id, recorded_at, battery_percentage, power_state, \
             signal_dbm, network, firmware_version, modem_tx_bytes, modem_rx_bytes, sd_queue_len) \
             SELECT 'd' || i, {t0} - i - k * 3600000, (i + k) % 101, 'sleep', -50 - ((i + k) % 71), \
             'cellular', '1.0.' || ((i + k) % 5), 0, 0, 0 FROM h, n",
            numbers(claimed)
        ),
        format!(
            "{} INSERT INTO subscriptions (id, device_id, customer_id, plan_id, status, anchor_at, \
             current_period_start, current_period_end, created_at, updated_at) \
             SELECT 's' || i, 'd' || i, 'u' || (i / 2), 'basic', 'active', {t0}, {t0}, \
             {t0} + 2592000000, {t0}, {t0} FROM n",
            numbers(claimed)
        ),
        format!(
            "{} INSERT INTO invoices (id, number, subscription_id, customer_id, kind, period_start, \
             period_end, status, total_cents, idempotency_key, created_at) \
             SELECT 'i' || i, 'SB-' || {pad7}, 's' || i, 'u' || (i / 2), 'renewal', {t0}, \
             {t0} + 2592000000, 'paid', 500, 'k' || i, {t0} FROM n",
            numbers(claimed)
        ),
    ];
    for sql in statements {
        testing::execute(db, &sql).await;
    }
    testing::execute(db, "ANALYZE").await;
}

/// One route's latencies, sorted.
struct Timed {
    route: String,
    latencies: Vec<Duration>,
}

impl Timed {
    fn quantile(&self, q: f64) -> f64 {
        let i = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
        self.latencies[i].as_secs_f64() * 1000.0
    }
}

async fn run(
    database_url: &str,
    backend: &str,
    customers: usize,
    devices: usize,
    rounds: usize,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = server_config(database_url, dir.path())?;
    let server = Server::build(config, Arc::new(SystemClock)).await?;
    let base = format!("http://{}", server.local_addr());
    let state = server.state().clone();
    let now = smartbox_server::Clock::now_ms(&SystemClock);
    let admin = provisioning::create_user(
        &state.db,
        "ops@smartbox.example",
        "bench admin password",
        "admin",
        now,
    )
    .await?;
    let token = "bench-admin-session-token";
    state
        .db
        .insert_session(&SessionRow {
            token_hash: token_hash(token),
            user_id: admin.to_string(),
            csrf_token: "csrf".to_owned(),
            created_at: now,
            expires_at: now + 24 * 3600 * 1000,
        })
        .await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));

    let middle = customers / 2;
    let serial = format!("SB-B{:06}", devices / 3);
    let invoice = format!("SB-{:07}", devices / 5);
    let queries = [
        ("customers", "".to_owned()),
        ("customers", format!("q=customer{middle}%40")),
        ("customers", format!("q=Customer%20{middle}")),
        ("customers", format!("q={serial}")),
        ("customers", format!("q={invoice}")),
        ("customers", "q=nobody-at-all".to_owned()),
        ("customers", "page=200".to_owned()),
        ("devices", "".to_owned()),
        ("devices", format!("after=SB-B{:06}", devices / 2)),
        ("devices", "lifecycle=pre_activation".to_owned()),
        ("devices", "lifecycle=returned".to_owned()),
        ("devices", "battery_below=3".to_owned()),
        ("devices", "signal_below=-119".to_owned()),
        ("devices", "firmware=1.0.3".to_owned()),
        ("devices", "silent_hours=1".to_owned()),
    ];
    let client = reqwest::Client::new();
    let cookie = format!("{SESSION_COOKIE}={token}");
    let mut all = Vec::new();
    for (list, query) in &queries {
        for prefix in ["/admin", "/api/admin/v1"] {
            let url = format!("{base}{prefix}/{list}?{query}");
            let mut latencies = Vec::with_capacity(rounds);
            for round in 0..=rounds {
                let started = Instant::now();
                let response = client.get(&url).header("cookie", &cookie).send().await?;
                let status = response.status();
                let body = response.bytes().await?;
                let took = started.elapsed();
                anyhow::ensure!(status.is_success(), "{url}: {status}");
                anyhow::ensure!(!body.is_empty(), "{url}: empty");
                // The first request warms the connection and the statement cache.
                if round > 0 {
                    latencies.push(took);
                }
            }
            latencies.sort_unstable();
            all.extend(latencies.iter().copied());
            let timed = Timed {
                route: format!("{prefix}/{list}?{query}"),
                latencies,
            };
            println!(
                "{backend}: {:<58} p50 {:>6.1} ms  p99 {:>6.1} ms",
                timed.route,
                timed.quantile(0.5),
                timed.quantile(0.99)
            );
        }
    }
    all.sort_unstable();
    let overall = Timed {
        route: "all".to_owned(),
        latencies: all,
    };
    println!(
        "{backend}: every admin list request: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms \
         (goal p99 < 100 ms)",
        overall.quantile(0.5),
        overall.quantile(0.99),
        overall.quantile(1.0)
    );
    let _ = stop.send(());
    serving.await??;
    Ok(())
}
