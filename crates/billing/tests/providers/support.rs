//! Test support: a tiny HTTP/1.1 server on 127.0.0.1 that records every request and answers
//! what the test script says (or never answers, to provoke timeouts). It plays Stripe for the
//! client tests and receives localstripe's webhooks.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::Url;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path with the query string.
    pub target: String,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The form-encoded body, decoded.
    pub fn form(&self) -> Vec<(String, String)> {
        decode(&String::from_utf8_lossy(&self.body))
    }

    /// One form field.
    pub fn field(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The query string, decoded.
    pub fn query(&self) -> Vec<(String, String)> {
        decode(self.target.split_once('?').map_or("", |(_, q)| q))
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

fn decode(encoded: &str) -> Vec<(String, String)> {
    let url = Url::parse(&format!("http://x/?{encoded}")).expect("a query string");
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// What the server answers to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Json(u16, String),
    /// Keep the connection open and never answer.
    Hang,
}

pub fn json(status: u16, body: serde_json::Value) -> Reply {
    Reply::Json(status, body.to_string())
}

/// A running scripted server.
#[derive(Debug)]
pub struct Scripted {
    pub url: String,
    requests: mpsc::UnboundedReceiver<Recorded>,
}

impl Scripted {
    /// Starts a server answering each request with `script(request)`.
    pub async fn start(script: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let (sender, requests) = mpsc::unbounded_channel();
        let script = Arc::new(script);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (sender, script) = (sender.clone(), script.clone());
                tokio::spawn(async move {
                    if let Some(request) = read_request(stream, &*script).await {
                        let _ = sender.send(request);
                    }
                });
            }
        });
        Scripted { url, requests }
    }

    /// The next request received, waiting up to `seconds`.
    pub async fn next_request(&mut self, seconds: u64) -> Option<Recorded> {
        tokio::time::timeout(
            std::time::Duration::from_secs(seconds),
            self.requests.recv(),
        )
        .await
        .ok()
        .flatten()
    }

    /// The requests received so far, without waiting.
    pub fn received(&mut self) -> Vec<Recorded> {
        let mut all = Vec::new();
        while let Ok(request) = self.requests.try_recv() {
            all.push(request);
        }
        all
    }
}

/// Reads one request, answers it and closes the connection (`Connection: close`, so the client
/// opens a new one per request and each request gets its own scripted answer).
async fn read_request(
    stream: TcpStream,
    script: &(dyn Fn(&Recorded) -> Reply + Send + Sync),
) -> Option<Recorded> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await.ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).await.ok()?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.ok()?;
    let request = Recorded {
        method,
        target,
        headers,
        body,
    };
    match script(&request) {
        Reply::Json(status, body) => {
            let response = format!(
                "HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let mut stream = reader.into_inner();
            stream.write_all(response.as_bytes()).await.ok()?;
            stream.shutdown().await.ok()?;
        }
        Reply::Hang => {
            // Hold the connection until the client gives up.
            let mut rest = Vec::new();
            let _ = reader.read_to_end(&mut rest).await;
        }
    }
    Some(request)
}

/// Now, in unix seconds.
pub fn unix_now() -> i64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(elapsed.as_secs()).expect("seconds fit in i64")
}
