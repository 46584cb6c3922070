//! `spawn_apps()`: the service on a real socket, once per backend, with a manual clock, a temporary
//! blob folder and a fixed master key; and typed helpers to make devices and send signed requests.

use smartbox_domain::{DeviceId, PlanId, SubscriptionId};
use std::net::SocketAddr;
use std::sync::Arc;

use object_store::ObjectStore;
use reqwest::{Method, Response};
use serde_json::{Value, json};
use smartbox_protocol::{HEADER_SERIAL, HEADER_SIGNATURE, HEADER_TIME, body_sha256, sign};
use smartbox_server::config::Config;
use smartbox_server::provisioning;
use smartbox_server::secrets::MasterKey;
use smartbox_server::{AppState, Clock, ManualClock};
use smartbox_store::testing::{self, TestDb};
use smartbox_store::{UsageRow, VitalsRow};
use time::OffsetDateTime;
use time::macros::datetime;

/// Where every test's clock starts.
pub const START: OffsetDateTime = datetime!(2026-05-20 10:00 UTC);

/// A running service and what a test needs to look inside it.
#[derive(Debug)]
pub struct TestApp {
    pub base_url: String,
    pub addr: SocketAddr,
    pub state: AppState,
    pub clock: ManualClock,
    pub client: reqwest::Client,
    pub backend: &'static str,
    _db: TestDb,
    _blob_dir: Option<tempfile::TempDir>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A mailbox as the factory made it: its serial and its secret.
#[derive(Debug, Clone)]
pub struct TestDevice {
    pub serial: String,
    pub secret: [u8; 32],
    pub device_id: String,
}

/// The service on every configured backend, with blobs in a temporary folder.
pub async fn spawn_apps() -> Vec<TestApp> {
    spawn_apps_with(&[]).await
}

/// [`spawn_apps`] with more configuration variables (`SMARTBOX_METRICS_TOKEN`, say).
pub async fn spawn_apps_with(vars: &[(&str, &str)]) -> Vec<TestApp> {
    let mut apps = Vec::new();
    for db in testing::all().await {
        let dir = tempfile::tempdir().expect("a temporary blob folder");
        let blobs = smartbox_server::blobs::open(&format!("file://{}", dir.path().display()))
            .expect("the blob folder opens");
        apps.push(spawn_app_with(db, blobs, Some(dir), vars).await);
    }
    apps
}

/// The service on `db` with the given blob store.
pub async fn spawn_app(
    db: TestDb,
    blobs: Arc<dyn ObjectStore>,
    blob_dir: Option<tempfile::TempDir>,
) -> TestApp {
    spawn_app_with(db, blobs, blob_dir, &[]).await
}

/// [`spawn_app`] with more configuration variables.
pub async fn spawn_app_with(
    db: TestDb,
    blobs: Arc<dyn ObjectStore>,
    blob_dir: Option<tempfile::TempDir>,
    vars: &[(&str, &str)],
) -> TestApp {
    smartbox_server::server::install_crypto_provider();
    let clock = ManualClock::at(START);
    let config = Config::from_lookup(|name| match name {
        "SMARTBOX_BIND" => Some("127.0.0.1:0".to_owned()),
        "SMARTBOX_DATABASE_URL" => Some(db.url.clone()),
        // The webhook and push peers listen on loopback.
        "SMARTBOX_ALLOW_PRIVATE_WEBHOOKS" => Some("true".to_owned()),
        _ => vars
            .iter()
            .find(|(var, _)| *var == name)
            .map(|(_, value)| (*value).to_owned()),
    })
    .expect("the test configuration is valid");
    let backend = db.db.backend().as_str();
    provisioning::seed_plans(&db.db)
        .await
        .expect("plans are seeded");
    let state = AppState::new(
        config,
        db.db.clone(),
        blobs,
        Arc::new(clock.clone()),
        MasterKey::from_bytes([42; 32]),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("a bound address");
    let app = smartbox_server::app(state.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    TestApp {
        base_url: format!("http://{addr}"),
        addr,
        state,
        clock,
        client: reqwest::Client::new(),
        backend,
        _db: db,
        _blob_dir: blob_dir,
        server,
    }
}

/// A signed request about to be sent; every part can be spoiled by the test.
#[derive(Debug, Clone)]
pub struct Signed {
    pub method: Method,
    pub path: String,
    pub serial: String,
    pub time: i64,
    pub signature: String,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
}

impl TestApp {
    /// A `pre_activation` mailbox from the factory.
    pub async fn import_device(&self, serial: &str) -> TestDevice {
        let serials = provisioning::read_serials(format!("serial\n{serial}\n").as_bytes())
            .expect("a valid serial");
        let records = provisioning::import_devices(
            &self.state.db,
            &self.state.master_key,
            &serials,
            self.clock.now_ms(),
        )
        .await
        .expect("the device is imported");
        let mut secret = [0u8; 32];
        hex::decode_to_slice(&records[0].secret_hex, &mut secret).expect("a hex secret");
        let device = self
            .state
            .db
            .device_by_serial(serial)
            .await
            .expect("the device is read")
            .expect("the device exists");
        TestDevice {
            serial: serial.to_owned(),
            secret,
            device_id: device.id,
        }
    }

    /// A mailbox activated for a customer, trialing on `plan` since now.
    pub async fn activated_device(&self, serial: &str, plan: PlanId) -> TestDevice {
        let device = self.import_device(serial).await;
        provisioning::activate_device(
            &self.state.db,
            serial,
            &customer_email(serial),
            plan,
            self.clock.now_ms(),
            "cli",
        )
        .await
        .expect("the device is activated");
        device
    }

    /// An activated Basic mailbox whose spend cap is $0: its 101st notification is refused.
    pub async fn basic_device_capped_at_0(&self, serial: &str) -> TestDevice {
        let device = self.activated_device(serial, PlanId::Basic).await;
        let subscription = self.subscription_id(&device).await;
        self.state
            .db
            .set_spend_cap(&SubscriptionId::new(subscription.as_str()), Some(0), 0)
            .await
            .expect("the cap is set");
        device
    }

    /// The id of the customer [`TestApp::activated_device`] made for `device`.
    pub async fn customer_of(&self, device: &TestDevice) -> String {
        self.state
            .db
            .user_by_email(&customer_email(&device.serial))
            .await
            .expect("read")
            .expect("the customer")
            .id
    }

    /// The live subscription's id.
    pub async fn subscription_id(&self, device: &TestDevice) -> String {
        self.state
            .db
            .live_subscription_of_device(&DeviceId::new(device.device_id.as_str()))
            .await
            .expect("the subscription is read")
            .expect("the device has a live subscription")
            .id
    }

    /// Sum of every period's counters of the device's live subscription.
    pub async fn usage(&self, device: &TestDevice) -> UsageRow {
        let id = self.subscription_id(device).await;
        let history = self
            .state
            .db
            .usage_history(&id)
            .await
            .expect("usage is read");
        assert!(
            history.len() <= 1,
            "all usage of a test falls in one period"
        );
        history.into_iter().next().unwrap_or(UsageRow {
            subscription_id: id,
            period_start: 0,
            period_end: 0,
            notifications: 0,
            data_bytes: 0,
        })
    }

    /// The device's stored heartbeats.
    pub async fn vitals(&self, device: &TestDevice) -> Vec<VitalsRow> {
        self.state
            .db
            .vitals_since(&DeviceId::new(device.device_id.as_str()), 0)
            .await
            .expect("vitals are read")
    }

    /// A request signed now with the device's secret.
    pub fn signed(
        &self,
        device: &TestDevice,
        method: Method,
        path: &str,
        content_type: Option<&'static str>,
        body: Vec<u8>,
    ) -> Signed {
        let time = self.clock.now_s();
        let signature = sign(
            &device.secret,
            method.as_str(),
            path,
            time,
            &body_sha256(&body),
        );
        Signed {
            method,
            path: path.to_owned(),
            serial: device.serial.clone(),
            time,
            signature: String::from_utf8_lossy(&signature).into_owned(),
            content_type,
            body,
        }
    }

    /// A signed JSON request.
    pub fn signed_json(&self, device: &TestDevice, path: &str, body: &Value) -> Signed {
        self.signed(
            device,
            Method::POST,
            path,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
    }

    /// Sends a (possibly spoiled) signed request.
    pub async fn send(&self, request: Signed) -> Response {
        self.send_with(request, &[]).await
    }

    /// Sends a signed request with extra headers.
    pub async fn send_with(&self, request: Signed, headers: &[(&str, &str)]) -> Response {
        let mut builder = self
            .client
            .request(request.method, format!("{}{}", self.base_url, request.path))
            .header(HEADER_SERIAL, request.serial)
            .header(HEADER_TIME, request.time.to_string())
            .header(HEADER_SIGNATURE, request.signature)
            .body(request.body);
        if let Some(content_type) = request.content_type {
            builder = builder.header("content-type", content_type);
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.send().await.expect("the request is answered")
    }

    /// `POST /heartbeat` with these vitals.
    pub async fn heartbeat(&self, device: &TestDevice, body: &Value) -> Response {
        let request = self.signed_json(device, smartbox_protocol::HEARTBEAT_PATH, body);
        self.send(request).await
    }

    /// `POST /events` of a `mail_arrived` event.
    pub async fn post_event(
        &self,
        device: &TestDevice,
        event_id: &str,
        photo_count: u8,
    ) -> Response {
        let body = json!({
            "event_id": event_id,
            "kind": "mail_arrived",
            "occurred_at": self.clock.now_s() - 12,
            "photo_count": photo_count,
        });
        let request = self.signed_json(device, smartbox_protocol::EVENTS_PATH, &body);
        self.send(request).await
    }

    /// `PUT` a photo as `image/jpeg`.
    pub async fn put_photo(
        &self,
        device: &TestDevice,
        event_id: &str,
        index: u8,
        bytes: Vec<u8>,
    ) -> Response {
        let path = format!("/api/device/v1/events/{event_id}/photos/{index}");
        let request = self.signed(device, Method::PUT, &path, Some("image/jpeg"), bytes);
        self.send(request).await
    }

    /// A signed `GET`.
    pub async fn get(&self, device: &TestDevice, path: &str, headers: &[(&str, &str)]) -> Response {
        let request = self.signed(device, Method::GET, path, None, Vec::new());
        self.send_with(request, headers).await
    }
}

/// Vitals a healthy mailbox reports.
pub fn vitals_body(firmware_version: &str) -> Value {
    json!({
        "battery_percent": 87,
        "power_state": "awake",
        "signal_dbm": -85,
        "network": "cellular",
        "firmware_version": firmware_version,
        "modem_tx_bytes": 123_456,
        "modem_rx_bytes": 654_321,
        "sd_queue_len": 2,
    })
}

/// A fresh event id as the device makes them.
pub fn event_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Status and JSON body of a response.
pub async fn status_and_json(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// The email of the customer an activated test device belongs to.
fn customer_email(serial: &str) -> String {
    format!("{}@example.com", serial.to_lowercase())
}
