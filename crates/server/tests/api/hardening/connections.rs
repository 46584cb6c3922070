//! Connections end: idle, slow-header and slow-body sockets are closed at their deadlines, a live
//! dashboard stream ends with its session, and a shutdown finishes with a stream open.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use smartbox_server::accounts::session::SESSION_COOKIE;
use smartbox_server::accounts::tokens::{random_token, token_hash};
use smartbox_server::config::Config;
use smartbox_server::connections::Deadlines;
use smartbox_server::{ManualClock, Server, provisioning};
use smartbox_store::SessionRow;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

use crate::portal::helpers::{START_MS, spawn_sqlite};

/// A server on a real socket over SQLite in `dir`, with these deadlines.
async fn server(dir: &tempfile::TempDir, deadlines: Deadlines) -> Server {
    let root = dir.path();
    let database = format!("sqlite://{}", root.join("smartbox.db").display());
    let blobs = format!("file://{}", root.join("blobs").display());
    let mut config = Config::from_lookup(|name| match name {
        "SMARTBOX_BIND" => Some("127.0.0.1:0".to_owned()),
        "SMARTBOX_DATABASE_URL" => Some(database.clone()),
        "SMARTBOX_BLOB_URL" => Some(blobs.clone()),
        _ => None,
    })
    .expect("a valid configuration");
    std::fs::create_dir_all(root.join("blobs")).expect("the blob folder");
    config.master_key_file = root.join("master.key");
    config.connection_deadlines = deadlines;
    Server::build(config, Arc::new(ManualClock::at_ms(START_MS)))
        .await
        .expect("the server starts")
}

/// Reads until the server closes the connection; what it sent, or `None` if it stayed open
/// for `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut seen = Vec::new();
    let closed = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    closed
        .ok()
        .map(|()| String::from_utf8_lossy(&seen).into_owned())
}

#[tokio::test]
async fn idle_slow_header_and_slow_body_connections_are_closed_at_their_deadlines() {
    let dir = tempfile::tempdir().unwrap();
    let deadlines = Deadlines {
        headers: Duration::from_millis(300),
        body: Duration::from_millis(300),
        drain: Duration::from_secs(1),
    };
    let server = server(&dir, deadlines).await;
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));

    let mut idle = TcpStream::connect(addr).await.unwrap();
    assert!(
        read_until_closed(&mut idle, Duration::from_secs(3))
            .await
            .is_some(),
        "an idle connection is closed"
    );

    let mut slow_header = TcpStream::connect(addr).await.unwrap();
    slow_header
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    assert!(
        read_until_closed(&mut slow_header, Duration::from_secs(3))
            .await
            .is_some(),
        "a connection whose headers never finish is closed"
    );

    let mut slow_body = TcpStream::connect(addr).await.unwrap();
    slow_body
        .write_all(
            b"POST /api/device/v1/heartbeat HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"batt",
        )
        .await
        .unwrap();
    assert!(
        read_until_closed(&mut slow_body, Duration::from_secs(3))
            .await
            .is_some(),
        "a connection whose body never finishes is closed"
    );

    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the server still answers");
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}

/// A customer with a session whose cookie is returned.
async fn signed_in(state: &smartbox_server::AppState, email: &str) -> String {
    let user_id = provisioning::create_user(
        &state.db,
        email,
        "correct horse battery",
        "customer",
        START_MS,
    )
    .await
    .unwrap();
    let token = random_token();
    state
        .db
        .insert_session(&SessionRow {
            token_hash: token_hash(&token),
            user_id,
            csrf_token: random_token(),
            created_at: START_MS,
            expires_at: START_MS + 3_600_000,
        })
        .await
        .unwrap();
    format!("{SESSION_COOKIE}={token}")
}

#[tokio::test]
async fn a_shutdown_finishes_while_a_live_stream_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, Deadlines::default()).await;
    let addr = server.local_addr();
    let cookie = signed_in(server.state(), "vera@example.com").await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    let live = reqwest::Client::new()
        .get(format!("http://{addr}/dashboard/live"))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(8), running)
        .await
        .expect("the shutdown ends the stream and finishes")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_live_stream_ends_when_its_session_ends() {
    let app = spawn_sqlite().await;
    let cookie = signed_in(&app.state, "wendy@example.com").await;
    let response = smartbox_server::app(app.state.clone())
        .oneshot(
            Request::get("/dashboard/live")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let token = cookie.split('=').nth(1).unwrap();
    app.state
        .db
        .delete_session(&token_hash(token))
        .await
        .unwrap();
    let mut body = response.into_body();
    let ended = tokio::time::timeout(Duration::from_secs(6), async {
        while let Some(frame) = body.frame().await {
            frame.expect("a frame");
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream ended after the logout");
}
