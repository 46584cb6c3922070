//! Shared test support: the stub device API on a background runtime, and mailboxes wired to it.
#![allow(dead_code)]

pub mod stub;

use std::rc::Rc;
use std::sync::atomic::Ordering;

use smartbox_sim::energy::Currents;
use smartbox_sim::mailbox::{Mailbox, MailboxSpec};
use smartbox_sim::net::HttpNetwork;

pub use stub::Stub;

/// Unix ms at simulated time 0.
pub const EPOCH_MS: i64 = 1_767_225_600_000;
pub const SERIAL: &str = "SB-SIM-0001";
pub const SECRET: [u8; 32] = [5; 32];

/// The stub served on a runtime of its own.
pub struct Served {
    pub stub: Stub,
    pub url: String,
    pub runtime: tokio::runtime::Runtime,
}

pub fn serve_stub(devices: &[(&str, [u8; 32])]) -> Served {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let stub = Stub::new(devices);
    stub.now_ms.store(EPOCH_MS, Ordering::SeqCst);
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let router = stub.router();
    runtime.spawn(async move { axum::serve(listener, router).await });
    Served { stub, url, runtime }
}

impl Served {
    /// A network whose requests move the stub's clock to the device's simulated time.
    pub fn network(&self) -> Rc<HttpNetwork> {
        let now = self.stub.now_ms.clone();
        Rc::new(
            HttpNetwork::new(&self.url)
                .expect("client")
                .with_time_hook(Box::new(move |unix_ms| {
                    now.store(unix_ms, Ordering::SeqCst)
                })),
        )
    }

    pub fn mailbox(&self, spec: &MailboxSpec) -> Mailbox {
        Mailbox::new(
            spec,
            self.network(),
            &self.url,
            EPOCH_MS,
            Currents::default(),
        )
        .expect("mailbox")
    }
}
