//! A tiny in-memory device API (signature check, idempotent events and photos, heartbeat) for the
//! simulator's own tests, standing in where the real server is not needed: it records what the
//! devices sent so a test can check the emulator end to end on the wire.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use smartbox_protocol::{
    DeviceConfig, EventRequest, EventResponse, HeartbeatRequest, HeartbeatResponse, ServiceState,
    Uuid,
};

#[derive(Debug, Default)]
pub struct Records {
    pub events: BTreeMap<Uuid, (EventRequest, BTreeMap<u8, usize>)>,
    pub heartbeats: Vec<HeartbeatRequest>,
    pub requests: u64,
}

#[derive(Debug, Clone)]
pub struct Stub {
    pub secrets: Arc<HashMap<String, [u8; 32]>>,
    pub records: Arc<Mutex<Records>>,
    /// The server's unix time in ms, moved by the simulation's time hook.
    pub now_ms: Arc<AtomicI64>,
}

impl Stub {
    pub fn new(devices: &[(&str, [u8; 32])]) -> Self {
        Self {
            secrets: Arc::new(devices.iter().map(|(s, k)| ((*s).to_owned(), *k)).collect()),
            records: Arc::default(),
            now_ms: Arc::default(),
        }
    }

    pub fn complete_events(&self) -> usize {
        let records = self.records.lock().expect("lock");
        records
            .events
            .values()
            .filter(|(e, p)| p.len() == usize::from(e.photo_count))
            .count()
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/device/v1/heartbeat", post(heartbeat))
            .route("/api/device/v1/events", post(event))
            .route("/api/device/v1/events/{id}/photos/{index}", put(photo))
            .with_state(self.clone())
    }

    fn check(&self, method: &str, path: &str, headers: &HeaderMap, body: &[u8]) -> bool {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(serial), Some(time), Some(signature)) = (
            get("x-device-serial"),
            get("x-device-time").and_then(|t| t.parse::<i64>().ok()),
            get("x-device-signature"),
        ) else {
            return false;
        };
        let Some(secret) = self.secrets.get(serial) else {
            return false;
        };
        let now_s = self.now_ms.load(Ordering::SeqCst) / 1_000;
        (now_s - time).abs() <= 300
            && smartbox_protocol::verify_request(
                secret,
                method,
                path,
                time,
                get("content-type"),
                &smartbox_protocol::body_sha256(body),
                signature.as_bytes(),
            )
    }
}

fn json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    (
        status,
        [("content-type", "application/json")],
        serde_json::to_vec(body).expect("serializes"),
    )
        .into_response()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        r#"{"error":"unauthorized","message":"bad credentials"}"#,
    )
        .into_response()
}

async fn heartbeat(State(stub): State<Stub>, headers: HeaderMap, body: Bytes) -> Response {
    if !stub.check("POST", "/api/device/v1/heartbeat", &headers, &body) {
        return unauthorized();
    }
    let Ok(beat) = serde_json::from_slice::<HeartbeatRequest>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut records = stub.records.lock().expect("lock");
    records.requests += 1;
    records.heartbeats.push(beat);
    json(
        StatusCode::OK,
        &HeartbeatResponse {
            server_time: stub.now_ms.load(Ordering::SeqCst) / 1_000,
            service: ServiceState::Active,
            config: DeviceConfig::default(),
            firmware: None,
            wifi: None,
        },
    )
}

async fn event(State(stub): State<Stub>, headers: HeaderMap, body: Bytes) -> Response {
    if !stub.check("POST", "/api/device/v1/events", &headers, &body) {
        return unauthorized();
    }
    let Ok(event) = serde_json::from_slice::<EventRequest>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut records = stub.records.lock().expect("lock");
    records.requests += 1;
    let known = records.events.contains_key(&event.event_id);
    let (stored, photos) = records
        .events
        .entry(event.event_id)
        .or_insert((event, BTreeMap::new()));
    let answer = EventResponse {
        event_id: stored.event_id,
        photos_received: photos.len() as u8,
        complete: photos.len() == usize::from(stored.photo_count),
    };
    json(
        if known {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        &answer,
    )
}

async fn photo(
    State(stub): State<Stub>,
    Path((id, index)): Path<(Uuid, u8)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/api/device/v1/events/{id}/photos/{index}");
    if !stub.check("PUT", &path, &headers, &body) {
        return unauthorized();
    }
    if !body.starts_with(&[0xff, 0xd8]) {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let mut records = stub.records.lock().expect("lock");
    records.requests += 1;
    let Some((event, photos)) = records.events.get_mut(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if index >= event.photo_count {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let known = photos.insert(index, body.len()).is_some();
    let answer = EventResponse {
        event_id: id,
        photos_received: photos.len() as u8,
        complete: photos.len() == usize::from(event.photo_count),
    };
    json(
        if known {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        &answer,
    )
}
