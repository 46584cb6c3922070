//! Accepting connections: HTTP/1.1 (over TLS when configured, see [`crate::tls`]) with a
//! deadline on every read the client controls, and a graceful stop that gives open requests a deadline too. `axum::serve` sets neither (hyper's
//! header timeout needs a timer it does not install), so idle, slow-header and slow-body sockets
//! stayed open for as long as the client liked and could use up the descriptors.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::tls::Tls;

/// The deadlines of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// From the moment the server waits for a request (a new connection, or an idle kept-alive
    /// one) until its headers are complete; an idle connection is closed when it passes.
    pub headers: Duration,
    /// For reading a request's whole body.
    pub body: Duration,
    /// After the stop signal, for the open requests to finish before their connections close.
    pub drain: Duration,
}

impl Default for Deadlines {
    fn default() -> Deadlines {
        Deadlines {
            headers: Duration::from_secs(10),
            body: Duration::from_secs(30),
            drain: Duration::from_secs(10),
        }
    }
}

/// How long to wait before accepting again after `accept` failed (out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `app` on `listener` until `stop` completes; then accepts nothing more, lets the open
/// requests finish within `deadlines.drain`, and closes whatever is left. Handlers see the peer
/// as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    deadlines: Deadlines,
    tls: Option<Tls>,
    stop: impl Future<Output = ()>,
) {
    let app = app.layer(RequestBodyTimeoutLayer::new(deadlines.body));
    let (stopping, stop_seen) = watch::channel(false);
    let mut open = JoinSet::new();
    let mut stop = pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        while open.try_join_next().is_some() {}
        let service = app
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let stop_seen = stop_seen.clone();
        let acceptor = tls.as_ref().map(Tls::acceptor);
        open.spawn(async move {
            match acceptor {
                None => serve_connection(stream, service, deadlines, stop_seen).await,
                Some(acceptor) => {
                    // The handshake is the client's to finish, under the headers' deadline.
                    let handshake =
                        tokio::time::timeout(deadlines.headers, acceptor.accept(stream));
                    match handshake.await {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, service, deadlines, stop_seen).await
                        }
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    stopping.send_replace(true);
    let drained = tokio::time::timeout(deadlines.drain, async {
        while open.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = open.len(),
            deadline_s = deadlines.drain.as_secs(),
            "requests still open at the shutdown deadline: closing them"
        );
        open.abort_all();
    }
}

/// Serves one connection's requests until it closes, or gracefully once the stop is seen.
async fn serve_connection<S, T>(
    stream: S,
    service: T,
    deadlines: Deadlines,
    mut stop_seen: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tower::Service<
            Request<Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    T::Future: Send + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(deadlines.headers);
    let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    let mut connection = pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = stop_seen.wait_for(|stopping| *stopping) => {},
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}
