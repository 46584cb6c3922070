//! An HTTP receiver on 127.0.0.1 that records every request and answers with a status the test
//! sets (after an optional delay, to make a sender time out).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use tokio::sync::mpsc;

#[derive(Debug)]
pub struct ReceivedRequest {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl ReceivedRequest {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("header {name} missing from {:?}", self.headers))
    }
}

#[derive(Debug)]
pub struct HttpReceiver {
    pub addr: SocketAddr,
    received: mpsc::UnboundedReceiver<ReceivedRequest>,
    status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
}

impl HttpReceiver {
    pub async fn start() -> HttpReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, received) = mpsc::unbounded_channel();
        let status = Arc::new(AtomicU16::new(200));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (answer, delay) = (status.clone(), delay_ms.clone());
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let (tx, answer, delay) = (tx.clone(), answer.clone(), delay.clone());
            async move {
                let _ = tx.send(ReceivedRequest {
                    path: uri.path().to_owned(),
                    headers,
                    body: body.to_vec(),
                });
                tokio::time::sleep(Duration::from_millis(delay.load(Ordering::SeqCst))).await;
                StatusCode::from_u16(answer.load(Ordering::SeqCst)).expect("status")
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        HttpReceiver {
            addr,
            received,
            status,
            delay_ms,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn answer_with(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    pub fn answer_after(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    pub async fn next_request(&mut self) -> ReceivedRequest {
        tokio::time::timeout(Duration::from_secs(10), self.received.recv())
            .await
            .expect("a request within 10 s")
            .expect("receiver running")
    }

    /// True when no request has arrived (that was not read yet).
    pub fn no_request_waiting(&mut self) -> bool {
        self.received.try_recv().is_err()
    }
}
