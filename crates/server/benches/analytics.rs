//! Business analytics benchmark (issue 19): 100,000 subscriptions with a year of history (their
//! trial ends, renewals, lapsed trials, recoveries, cancels and upgrades in the audit log as the
//! billing engine writes them, a usage period per billing month, an invoice and a payment for
//! each trial's end, shipments), then: the backfill of the year's 365 daily snapshots, one day's
//! snapshot (what the daily job does), and `/admin/analytics` for 12 months over HTTP with a staff
//! session (the goal: p99 < 200 ms from snapshots; today is computed live on each view).
//!
//! `cargo bench -p smartbox-server --bench analytics` (SQLite; PostgreSQL too when
//! `SMARTBOX_TEST_POSTGRES_URL` is set). `ANALYTICS_BENCH_SUBSCRIPTIONS` (100,000) and
//! `ANALYTICS_BENCH_VIEWS` (100) change the size.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use smartbox_domain::PlanId;
use smartbox_server::config::Config;
use smartbox_server::secrets::MasterKey;
use smartbox_server::{AppState, Clock, ManualClock, analytics, provisioning};
use smartbox_store::Db;
use smartbox_store::testing::{self, TestDb};
use smartbox_store::testing::{SeedValue, insert_rows};
use time::macros::{date, datetime};
use time::{Date, OffsetDateTime};

const YEAR_START: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
const NOW: OffsetDateTime = datetime!(2027-01-01 12:00 UTC);
const FIRST_DAY: Date = date!(2026 - 01 - 01);
const LAST_DAY: Date = date!(2026 - 12 - 31);
const DAY_MS: i64 = 86_400_000;
const MONTH_MS: i64 = 30 * DAY_MS;
/// Rows per multi-row insert while seeding.
const CHUNK: usize = 200;

fn ms(t: OffsetDateTime) -> i64 {
    smartbox_domain::epoch::unix_ms(t)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let size = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let count = size("ANALYTICS_BENCH_SUBSCRIPTIONS", 100_000);
    let views = size("ANALYTICS_BENCH_VIEWS", 100);
    smartbox_server::server::install_crypto_provider();
    runtime.block_on(async {
        bench(testing::sqlite().await, count, views).await;
        match testing::postgres().await {
            Some(pg) => bench(pg, count, views).await,
            None => println!("postgres: skipped (set SMARTBOX_TEST_POSTGRES_URL)"),
        }
    });
}

async fn bench(t: TestDb, count: usize, views: usize) {
    let backend = t.db.backend().as_str();
    let started = Instant::now();
    provisioning::seed_plans(&t.db).await.expect("the plans");
    let rows = seed(&t.db, count).await;
    println!(
        "{backend}: seeded {count} subscriptions, {rows} audit entries and usage periods in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let days = analytics::snapshot_days(&t.db, FIRST_DAY, LAST_DAY, ms(NOW))
        .await
        .expect("backfill");
    println!(
        "{backend}: backfill of {days} days in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    analytics::snapshot_days(&t.db, LAST_DAY, LAST_DAY, ms(NOW))
        .await
        .expect("one day");
    println!(
        "{backend}: one day's snapshot (the daily job) in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    let (base, cookie, _server) = serve(&t).await;
    let client = reqwest::Client::new();
    for (what, path) in [
        ("/admin/analytics, 12 months", "/admin/analytics?period=12m"),
        (
            "/api/admin/v1/metrics, 12 months",
            "/api/admin/v1/metrics?period=12m",
        ),
    ] {
        let mut took = Vec::with_capacity(views);
        for _ in 0..views {
            let started = Instant::now();
            let answer = client
                .get(format!("{base}{path}"))
                .header("cookie", &cookie)
                .send()
                .await
                .expect("an answer");
            assert_eq!(answer.status(), 200, "{what}");
            let body = answer.text().await.expect("a body");
            assert!(body.contains("MRR"), "{what}");
            took.push(started.elapsed());
        }
        took.sort();
        let at = |q: f64| took[((took.len() as f64 * q).ceil() as usize).clamp(1, took.len()) - 1];
        println!(
            "{backend}: {what}: p50 {:.1} ms, p99 {:.1} ms over {views} views (goal p99 < 200 ms)",
            ms_of(at(0.5)),
            ms_of(at(0.99))
        );
    }
}

fn ms_of(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The service on a loopback socket at [`NOW`], and a staff member's session cookie.
async fn serve(t: &TestDb) -> (String, String, tokio::task::JoinHandle<()>) {
    let config = Config::from_lookup(|name| match name {
        "SMARTBOX_BIND" => Some("127.0.0.1:0".to_owned()),
        "SMARTBOX_DATABASE_URL" => Some(t.url.clone()),
        _ => None,
    })
    .expect("a configuration");
    let clock = ManualClock::at(NOW);
    let state = AppState::new(
        config,
        t.db.clone(),
        Arc::new(object_store::memory::InMemory::new()),
        Arc::new(clock.clone()),
        MasterKey::from_bytes([7; 32]),
    );
    let staff = provisioning::create_user(
        &t.db,
        "ops@smartbox.example",
        "staff password 1",
        "admin",
        clock.now_ms(),
    )
    .await
    .expect("staff");
    let cookie = smartbox_server::accounts::session::start(&state, &HeaderMap::new(), &staff)
        .await
        .expect("a session");
    let cookie = cookie
        .to_str()
        .expect("text")
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    let app = smartbox_server::app(state);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, cookie, server)
}

/// One subscription's year, as the billing engine would have recorded it.
struct Story {
    rows: Vec<(String, &'static str, i64, String)>,
    usage: Vec<(i64, i64, i64)>,
    plan: PlanId,
    status: &'static str,
    failed_first: bool,
}

/// Subscription `i`: made on one of the year's first 330 days, its trial's end seven days
/// later; then by `i % 20`: its trial lapses (0, 1: suspended three days later), it pays a day
/// late (2), it cancels after two months (3, 4), it upgrades to premium after 20 days (5), or it
/// renews every 30 days.
fn story(i: usize, created: i64) -> Story {
    let anchor = created + 7 * DAY_MS;
    let end = ms(NOW);
    let mut plan = PlanId::ALL[i % 3];
    let mut rows = Vec::new();
    let status_change =
        |from: &str, to: &str| format!(r#"{{"from_status":"{from}","to_status":"{to}"}}"#);
    let fate = i % 20;
    let lapses = fate <= 1;
    let late = fate == 2;
    let first = if lapses || late { "past_due" } else { "active" };
    rows.push((
        "trial_ended".to_owned(),
        "subscription",
        anchor,
        format!(
            r#"{{"from_status":"trialing","to_status":"{first}","plan":"{p}","previous_plan":"{p}"}}"#,
            p = plan.as_str()
        ),
    ));
    if lapses {
        rows.push((
            "status_changed".to_owned(),
            "subscription",
            anchor + 3 * DAY_MS,
            status_change("past_due", "suspended"),
        ));
        return Story {
            rows,
            usage: vec![(anchor, anchor + MONTH_MS, 0)],
            plan,
            status: "suspended",
            failed_first: true,
        };
    }
    if late {
        rows.push((
            "status_changed".to_owned(),
            "subscription",
            anchor + DAY_MS,
            status_change("past_due", "active"),
        ));
    }
    if fate == 5 && plan != PlanId::Premium {
        rows.push((
            "upgraded".to_owned(),
            "subscription",
            anchor + 20 * DAY_MS,
            format!(r#"{{"from_plan":"{}","to_plan":"premium"}}"#, plan.as_str()),
        ));
        plan = PlanId::Premium;
    }
    let cancels_at = (fate == 3 || fate == 4).then_some(anchor + 2 * MONTH_MS);
    let mut usage = Vec::new();
    let mut start = anchor;
    let mut status = "active";
    while start < end {
        let next = start + MONTH_MS;
        usage.push((
            start,
            next,
            (i as i64 * 7_919 + start / DAY_MS * 104_729) % 2_000_000_000,
        ));
        if cancels_at == Some(next) && next < end {
            rows.push((
                "canceled".to_owned(),
                "subscription",
                next,
                status_change("active", "canceled"),
            ));
            status = "canceled";
            break;
        }
        if next < end {
            rows.push((
                "renewed".to_owned(),
                "subscription",
                next,
                format!(
                    r#"{{"from_status":"active","to_status":"active","plan":"{p}","previous_plan":"{p}"}}"#,
                    p = plan.as_str()
                ),
            ));
        }
        start = next;
    }
    Story {
        rows,
        usage,
        plan,
        status,
        failed_first: late,
    }
}

/// Writes the users, mailboxes (shipped two days before their claim, and one in ten shipped
/// and never claimed), subscriptions, audit entries, usage periods, trial-end invoices and their
/// payments. Returns the number of audit and usage rows.
async fn seed(db: &Db, count: usize) -> usize {
    let mut written = 0;
    let ids: Vec<usize> = (0..count).collect();
    let year = ms(YEAR_START);
    for chunk in ids.chunks(CHUNK) {
        let created = |i: usize| year + (i % 330) as i64 * DAY_MS + (i % 1_440) as i64 * 60_000;
        let stories: Vec<(usize, Story)> =
            chunk.iter().map(|&i| (i, story(i, created(i)))).collect();
        let audit: Vec<(String, &str, i64, String)> = stories
            .iter()
            .flat_map(|(i, s)| {
                s.rows.iter().map(move |(action, kind, at, detail)| {
                    (format!("{action}|sub-{i}"), *kind, *at, detail.clone())
                })
            })
            .collect();
        let usage: Vec<(usize, (i64, i64, i64))> = stories
            .iter()
            .flat_map(|(i, s)| s.usage.iter().map(move |u| (*i, *u)))
            .collect();
        written += audit.len() + usage.len();
        let users: Vec<Vec<SeedValue>> = chunk
            .iter()
            .map(|&i| {
                vec![
                    format!("user-{i}").into(),
                    format!("c{i}@example.com").into(),
                    "argon2id$bench".into(),
                    "customer".into(),
                    created(i).into(),
                ]
            })
            .collect();
        insert_rows(
            db,
            "users (id, email, password_hash, role, created_at)",
            &users,
        )
        .await;
        let devices: Vec<Vec<SeedValue>> = chunk
            .iter()
            .flat_map(|&i| {
                [
                    vec![
                        format!("dev-{i}").into(),
                        format!("SB-{i:08}").into(),
                        SeedValue::Bytes(vec![0u8; 8]),
                        "hash".into(),
                        Some(format!("user-{i}")).into(),
                        "active_subscription".into(),
                        created(i).into(),
                        (created(i) - 2 * DAY_MS).into(),
                        Some(created(i)).into(),
                    ],
                    vec![
                        format!("spare-{i}").into(),
                        format!("SP-{i:08}").into(),
                        SeedValue::Bytes(vec![0u8; 8]),
                        "hash".into(),
                        None::<String>.into(),
                        "pre_activation".into(),
                        created(i).into(),
                        (created(i) - 2 * DAY_MS).into(),
                        None::<i64>.into(),
                    ],
                ]
            })
            .collect();
        insert_rows(
            db,
            "devices (id, serial, secret_ciphertext, claim_code_hash, owner_id, lifecycle_state, created_at, shipped_at, claimed_at)",
            &devices,
        )
        .await;
        let subscriptions: Vec<Vec<SeedValue>> = stories
            .iter()
            .map(|(i, s)| {
                let (start, end) = s.usage.last().map_or((0, 0), |u| (u.0, u.1));
                vec![
                    format!("sub-{i}").into(),
                    format!("dev-{i}").into(),
                    format!("user-{i}").into(),
                    s.plan.as_str().into(),
                    s.status.into(),
                    (created(*i) + 7 * DAY_MS).into(),
                    start.into(),
                    end.into(),
                    created(*i).into(),
                    // The billing engine's last write; not now, or every customer would read
                    // as changed today and the live figures would recompute them all.
                    s.rows
                        .iter()
                        .map(|r| r.2)
                        .filter(|at| *at <= ms(NOW))
                        .max()
                        .unwrap_or(created(*i))
                        .into(),
                ]
            })
            .collect();
        insert_rows(
            db,
            "subscriptions (id, device_id, customer_id, plan_id, status, anchor_at, current_period_start, current_period_end, created_at, updated_at)",
            &subscriptions,
        )
        .await;
        let audit: Vec<Vec<SeedValue>> = audit
            .iter()
            .map(|(key, kind, at, detail)| {
                let (action, id) = key.split_once('|').unwrap_or_default();
                vec![
                    "job:billing_pass".into(),
                    (*kind).into(),
                    id.into(),
                    action.into(),
                    (*at).into(),
                    detail.clone().into(),
                ]
            })
            .collect();
        insert_rows(
            db,
            "audit_log (actor, entity_type, entity_id, action, at, detail)",
            &audit,
        )
        .await;
        let usage: Vec<Vec<SeedValue>> = usage
            .iter()
            .map(|(i, (start, end, bytes))| {
                vec![
                    format!("sub-{i}").into(),
                    (*start).into(),
                    (*end).into(),
                    0_i64.into(),
                    (*bytes).into(),
                ]
            })
            .collect();
        insert_rows(
            db,
            "usage_periods (subscription_id, period_start, period_end, notifications, data_bytes)",
            &usage,
        )
        .await;
        let invoices: Vec<Vec<SeedValue>> = stories
            .iter()
            .map(|(i, s)| {
                let anchor = created(*i) + 7 * DAY_MS;
                let paid = (s.status != "suspended")
                    .then_some(anchor + if s.failed_first { DAY_MS } else { 0 });
                vec![
                    format!("inv-{i}").into(),
                    format!("SB-{i:08}").into(),
                    format!("sub-{i}").into(),
                    format!("user-{i}").into(),
                    "renewal".into(),
                    anchor.into(),
                    (anchor + MONTH_MS).into(),
                    (if paid.is_some() { "paid" } else { "open" }).into(),
                    s.plan.plan().price.get().into(),
                    format!("renewal:sub-{i}").into(),
                    anchor.into(),
                    paid.into(),
                ]
            })
            .collect();
        insert_rows(
            db,
            "invoices (id, number, subscription_id, customer_id, kind, period_start, period_end, status, total_cents, idempotency_key, created_at, paid_at)",
            &invoices,
        )
        .await;
        let payments: Vec<Vec<SeedValue>> = stories
            .iter()
            .map(|(i, s)| {
                let anchor = created(*i) + 7 * DAY_MS;
                vec![
                    format!("pay-{i}").into(),
                    format!("inv-{i}").into(),
                    s.plan.plan().price.get().into(),
                    (if s.failed_first {
                        "failed"
                    } else {
                        "succeeded"
                    })
                    .into(),
                    "sandbox".into(),
                    anchor.into(),
                    anchor.into(),
                ]
            })
            .collect();
        insert_rows(
            db,
            "payments (id, invoice_id, amount_cents, status, provider, created_at, updated_at)",
            &payments,
        )
        .await;
    }
    written
}
