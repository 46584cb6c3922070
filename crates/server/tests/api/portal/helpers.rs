//! A portal test app (the service in-process, a manual clock, blobs in memory) and a browser-like
//! client that keeps cookies and reads CSRF tokens out of forms.

use smartbox_domain::DeviceId;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use smartbox_server::config::Config;
use smartbox_server::provisioning::{self, FactoryRecord};
use smartbox_server::secrets::MasterKey;
use smartbox_server::{AppState, ManualClock, app};
use smartbox_store::testing::{self, TestDb};
use tower::ServiceExt;

/// Where every test's clock starts: 2026-05-20 10:00 UTC.
pub const START_MS: i64 = 1_779_271_200_000;

/// The service on one backend.
#[derive(Debug)]
pub struct PortalApp {
    pub state: AppState,
    pub clock: ManualClock,
    pub backend: &'static str,
    _db: TestDb,
}

/// The service on every configured backend.
pub async fn spawn_apps() -> Vec<PortalApp> {
    let mut apps = Vec::new();
    for db in testing::all().await {
        apps.push(spawn_app(db).await);
    }
    apps
}

/// The service on SQLite only (stories whose backend does not matter).
pub async fn spawn_sqlite() -> PortalApp {
    spawn_app(testing::sqlite().await).await
}

async fn spawn_app(db: TestDb) -> PortalApp {
    // The webhook and push peers of the stories listen on loopback.
    let config = Config::from_lookup(|name| {
        (name == "SMARTBOX_ALLOW_PRIVATE_WEBHOOKS").then(|| "true".to_owned())
    })
    .expect("the default configuration is valid");
    spawn_configured(db, config).await
}

/// The service on SQLite with this configuration.
pub async fn spawn_sqlite_with(config: Config) -> PortalApp {
    spawn_configured(testing::sqlite().await, config).await
}

/// The service on every configured backend with this configuration.
pub async fn spawn_apps_with(config: &Config) -> Vec<PortalApp> {
    let mut apps = Vec::new();
    for db in testing::all().await {
        apps.push(spawn_configured(db, config.clone()).await);
    }
    apps
}

/// The service on every configured backend with Stripe (test keys, Stripe Elements) at
/// localstripe; `None`, with a note, when `SMARTBOX_TEST_STRIPE_URL` is unset.
pub async fn spawn_apps_with_stripe() -> Option<Vec<PortalApp>> {
    let Ok(url) = std::env::var("SMARTBOX_TEST_STRIPE_URL") else {
        eprintln!(
            "skipped: set SMARTBOX_TEST_STRIPE_URL (e.g. http://127.0.0.1:8420) for localstripe"
        );
        return None;
    };
    let mut apps = Vec::new();
    for db in testing::all().await {
        let config = Config::from_lookup(|name| match name {
            "STRIPE_SECRET_KEY" => Some(STRIPE_SECRET_KEY.to_owned()),
            "STRIPE_PUBLISHABLE_KEY" => Some("pk_test_smartbox".to_owned()),
            "STRIPE_API_BASE" => Some(url.clone()),
            _ => None,
        })
        .expect("a Stripe configuration");
        apps.push(spawn_configured(db, config).await);
    }
    Some(apps)
}

/// The service on SQLite with Stripe Elements configured against `api_base`.
pub async fn spawn_sqlite_with_stripe_at(api_base: &str) -> PortalApp {
    let config = Config::from_lookup(|name| match name {
        "STRIPE_SECRET_KEY" => Some(STRIPE_SECRET_KEY.to_owned()),
        "STRIPE_PUBLISHABLE_KEY" => Some("pk_test_smartbox".to_owned()),
        "STRIPE_API_BASE" => Some(api_base.to_owned()),
        _ => None,
    })
    .expect("a Stripe configuration");
    spawn_configured(testing::sqlite().await, config).await
}

/// The secret key the Stripe tests use (localstripe takes any).
pub const STRIPE_SECRET_KEY: &str = "sk_test_smartbox";

async fn spawn_configured(db: TestDb, config: Config) -> PortalApp {
    provisioning::seed_plans(&db.db)
        .await
        .expect("plans seeded");
    let clock = ManualClock::at_ms(START_MS);
    let payments = smartbox_server::state::payments_for(&config).expect("a payment provider");
    let state = AppState::with_payments(
        config,
        db.db.clone(),
        Arc::new(object_store::memory::InMemory::new()),
        Arc::new(clock.clone()),
        MasterKey::from_bytes([7; 32]),
        payments,
    );
    PortalApp {
        backend: db.db.backend().as_str(),
        state,
        clock,
        _db: db,
    }
}

impl PortalApp {
    /// The prorated price of upgrading `sub` from Plus to Premium now, as the domain computes it.
    pub fn plus_to_premium_price(
        &self,
        sub: &smartbox_store::SubscriptionRow,
    ) -> smartbox_domain::Cents {
        let at = |ms: i64| time::OffsetDateTime::from_unix_timestamp(ms / 1000).unwrap();
        let period = smartbox_domain::BillingPeriod {
            start: at(sub.current_period_start),
            end: at(sub.current_period_end),
        };
        smartbox_domain::proration::prorate_upgrade(
            smartbox_domain::PlanId::Plus,
            smartbox_domain::PlanId::Premium,
            period,
            self.state.clock.now(),
        )
        .unwrap()
    }

    /// Factory-made mailboxes (serial, claim code).
    pub async fn make_devices(&self, serials: &[&str]) -> Vec<FactoryRecord> {
        let serials: Vec<_> = serials
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    i + 2,
                    smartbox_domain::Serial::parse(s).expect("valid serial"),
                )
            })
            .collect();
        provisioning::import_devices(&self.state.db, &self.state.master_key, &serials, START_MS)
            .await
            .expect("devices imported")
    }

    /// A browser with no cookies, from `address`.
    pub fn browser(&self) -> Browser {
        self.browser_from("192.0.2.1:50000")
    }

    /// A browser with no cookies, connecting from `address`.
    pub fn browser_from(&self, address: &str) -> Browser {
        Browser {
            state: self.state.clone(),
            cookies: BTreeMap::new(),
            address: address.parse().expect("a socket address"),
        }
    }

    /// A signed-up customer's browser.
    pub async fn customer(&self, email: &str) -> Browser {
        let mut browser = self.browser();
        browser.sign_up(email, "correct horse battery").await;
        browser
    }
}

/// An answer, its body read.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body as text (lossy for binary answers; see `bytes`).
    pub body: String,
    pub bytes: Vec<u8>,
}

impl Answer {
    /// The redirect target.
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `Set-Cookie` header that sets `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// The value of the first `name="csrf"` input.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("the page has a CSRF field") + marker.len();
        self.body[start..]
            .split('"')
            .next()
            .unwrap_or("")
            .to_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }
}

/// A client that keeps cookies like a browser.
#[derive(Debug, Clone)]
pub struct Browser {
    state: AppState,
    pub cookies: BTreeMap<String, String>,
    address: SocketAddr,
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Sends a request with this browser's cookies and keeps the cookies it sets.
    pub async fn send(&mut self, mut request: Request<Body>) -> Answer {
        if !self.cookies.is_empty() {
            request.headers_mut().insert(
                header::COOKIE,
                self.cookie_header().parse().expect("cookie header"),
            );
        }
        request.extensions_mut().insert(ConnectInfo(self.address));
        let response = app(self.state.clone())
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status();
        let headers = response.headers().clone();
        for set in headers.get_all(header::SET_COOKIE) {
            let set = set.to_str().expect("ascii cookie");
            let pair = set.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || set.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            bytes: body.to_vec(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        self.send(Request::get(path).body(Body::empty()).expect("request"))
            .await
    }

    /// A form post as a same-origin browser makes it.
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        self.post_form_with(
            path,
            fields,
            &[
                ("origin", "http://127.0.0.1:8080"),
                ("sec-fetch-site", "same-origin"),
            ],
        )
        .await
    }

    /// A form post with the given extra headers.
    pub async fn post_form_with(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Answer {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut request = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "127.0.0.1:8080");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        self.send(request.body(Body::from(body)).expect("request"))
            .await
    }

    /// Loads `page`, then submits its form (with its CSRF token) to `action`.
    pub async fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Answer {
        let csrf = self.get(page).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_form(action, &all).await
    }

    /// A JSON request to the customer API (with the CSRF header from `/api/v1/me` on writes).
    pub async fn api(
        &mut self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if method != "GET" {
            let me = self.get("/api/v1/me").await;
            if me.status == StatusCode::OK {
                let token = me.json()["csrf_token"].as_str().unwrap_or("").to_owned();
                request = request.header("x-csrf-token", token);
            }
        }
        let body = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).expect("request")).await
    }

    /// Signs up through the form; panics unless it worked.
    pub async fn sign_up(&mut self, email: &str, password: &str) -> Answer {
        let answer = self
            .submit(
                "/signup",
                "/signup",
                &[("email", email), ("password", password)],
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        answer
    }

    /// Logs in through the form.
    pub async fn log_in(&mut self, email: &str, password: &str) -> Answer {
        self.submit(
            "/login",
            "/login",
            &[("email", email), ("password", password)],
        )
        .await
    }
}

/// Percent-encodes a form value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A customer with one claimed mailbox, one delivery with a stored photo, and one open invoice.
#[derive(Debug)]
pub struct Household {
    pub browser: Browser,
    pub user_id: String,
    pub device_id: String,
    /// The mailbox's factory record (serial and secret), for signed device requests.
    pub factory: FactoryRecord,
    pub subscription_id: String,
    pub event_id: String,
    pub invoice_id: String,
}

/// The smallest JPEG-looking bytes (the portal does not decode photos).
pub const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0, 0xFF, 0xD9,
];

impl Household {
    /// A request from the household's mailbox, signed with its factory secret at `clock_s`
    /// (unix seconds), answered by the app in process.
    pub async fn device_request(
        &mut self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        clock_s: i64,
    ) -> Answer {
        let mut secret = [0u8; 32];
        hex::decode_to_slice(&self.factory.secret_hex, &mut secret).expect("hex secret");
        let signature = smartbox_protocol::sign(
            &secret,
            method,
            path,
            clock_s,
            &smartbox_protocol::body_sha256(&body),
        );
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, content_type)
            .header(smartbox_protocol::HEADER_SERIAL, &self.factory.serial)
            .header(smartbox_protocol::HEADER_TIME, clock_s.to_string())
            .header(
                smartbox_protocol::HEADER_SIGNATURE,
                String::from_utf8_lossy(&signature).into_owned(),
            )
            .body(Body::from(body))
            .expect("request");
        self.browser.send(request).await
    }
}

impl PortalApp {
    /// Makes a [`Household`] for `email` with mailbox `serial`.
    pub async fn household(&self, email: &str, serial: &str) -> Household {
        use smartbox_store::changes::{Change, Changes, NewInvoice};

        let mut browser = self.customer(email).await;
        let user_id = browser.api("GET", "/api/v1/me", None).await.json()["id"]
            .as_str()
            .expect("an id")
            .to_owned();
        let factory = self.make_devices(&[serial]).await.remove(0);
        let db = &self.state.db;
        let device = db.device_by_serial(serial).await.unwrap().expect("device");
        let (subscription_id, claimed) = provisioning::start_trial(
            db,
            &device.id,
            &user_id,
            smartbox_domain::PlanId::Basic,
            START_MS,
            "cli",
        )
        .await
        .expect("trial");
        assert!(claimed);
        let event_id = uuid::Uuid::new_v4().to_string();
        self.deliver(&device.id, &event_id, 1, START_MS + 60_000)
            .await;
        let invoice_id = uuid::Uuid::new_v4().to_string();
        let mut changes = Changes::new();
        changes.push(Change::InsertInvoice(NewInvoice {
            id: invoice_id.clone(),
            subscription_id: subscription_id.clone(),
            customer_id: user_id.clone(),
            kind: "renewal".into(),
            period_start: START_MS,
            period_end: START_MS + 30 * 24 * 3600 * 1000,
            status: smartbox_domain::InvoiceStatus::Open,
            total_cents: 500,
            idempotency_key: invoice_id.clone(),
            created_at: START_MS,
            lines: vec![("Basic plan".into(), 500)],
        }));
        db.apply_changes(&changes).await.expect("invoice written");
        Household {
            browser,
            user_id,
            device_id: device.id,
            factory,
            subscription_id,
            event_id,
            invoice_id,
        }
    }

    /// Stores a mail event with `photos` photos for `device_id`, as the device API would.
    pub async fn deliver(&self, device_id: &str, event_id: &str, photos: i64, at: i64) {
        let photos = vec![JPEG.to_vec(); usize::try_from(photos).expect("a photo count")];
        self.deliver_photos(device_id, event_id, &photos, at).await;
    }

    /// Stores a mail event with these photos for `device_id`: [`deliver_photos_at`].
    pub async fn deliver_photos(
        &self,
        device_id: &str,
        event_id: &str,
        photos: &[Vec<u8>],
        at: i64,
    ) {
        deliver_photos_at(&self.state, device_id, event_id, photos, at).await;
    }
}

/// Stores a mail event with these photos for `device_id`, under the device API's blob keys
/// and sealed under the owner's data key as the device API stores them:
/// the last photo completes the event, which enqueues `event_completed` in the same
/// transaction.
pub async fn deliver_photos_at(
    state: &AppState,
    device_id: &str,
    event_id: &str,
    photos: &[Vec<u8>],
    at: i64,
) {
    use smartbox_store::{EventInsert, PhotoInsert};
    let db = &state.db;
    let sub = db
        .live_subscription_of_device(&DeviceId::new(device_id))
        .await
        .unwrap();
    db.insert_event(
        &EventInsert {
            id: event_id,
            device_id,
            subscription_id: sub.as_ref().map(|s| s.id.as_str()),
            kind: "mail_arrived",
            occurred_at: at,
            photo_count: photos.len() as i64,
            created_at: at,
        },
        &uuid::Uuid::new_v4().to_string(),
    )
    .await
    .expect("event stored");
    for (idx, bytes) in photos.iter().enumerate() {
        let key = smartbox_server::device_api::photos::blob_key(device_id, event_id, idx as u8);
        let owner = db
            .photo_owner_of_event(event_id)
            .await
            .unwrap()
            .expect("the event has an owner");
        state
            .photos
            .put_for(&owner, &key, bytes.clone().into())
            .await
            .expect("blob stored");
        db.insert_photo(&PhotoInsert {
            event_id,
            idx: idx as i64,
            blob_key: &key,
            size_bytes: bytes.len() as i64,
            sha256: "0",
            created_at: at,
            completion_job_id: &uuid::Uuid::new_v4().to_string(),
        })
        .await
        .expect("photo stored");
    }
}
