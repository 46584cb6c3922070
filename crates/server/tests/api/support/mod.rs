//! Support tickets (issue 20): who sees which ticket and never an internal note (both
//! backends), bad input, the emails through a real SMTP peer, and the Chromium story of a
//! past-due customer asking from the billing page.

mod authorization;
mod browser;
mod email;
mod input;

use std::sync::Arc;

use serde_json::{Value, json};
use smartbox_server::AppState;
use smartbox_server::config::Config;
use smartbox_server::jobs::{Worker, registry};

use crate::portal::helpers::{Browser, PortalApp};

/// A job worker on `state`'s database and clock, mailing through `smtp_url`, with links to
/// `https://mailbox.example`.
pub fn mail_worker(
    state: &AppState,
    clock: Arc<dyn smartbox_server::Clock>,
    smtp_url: &str,
) -> Worker {
    let database_url = state.config.database_url.clone();
    let config = Config::from_lookup(|name| match name {
        "SMARTBOX_DATABASE_URL" => Some(database_url.clone()),
        "SMARTBOX_PUBLIC_URL" => Some("https://mailbox.example".to_owned()),
        "SMARTBOX_SMTP_URL" => Some(smtp_url.to_owned()),
        _ => None,
    })
    .expect("the worker's configuration is valid");
    let worker_state = AppState::new(
        config,
        state.db.clone(),
        Arc::clone(&state.blobs),
        clock,
        state.master_key.clone(),
    );
    Worker::with_id(worker_state, registry(), "tickets-test")
}

/// Opens a ticket through the JSON API and answers its id.
pub async fn open_ticket(customer: &mut Browser, subject: &str, message: &str) -> String {
    let answer = customer
        .api(
            "POST",
            "/api/v1/tickets",
            Some(json!({ "subject": subject, "message": message, "category": "billing" })),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.json()["id"].as_str().expect("an id").to_owned()
}

/// Staff write on a ticket through the admin API: a reply, or an internal note.
pub async fn staff_write(staff: &mut Browser, ticket: &str, body: &str, internal: bool) -> Value {
    let answer = staff
        .api(
            "POST",
            &format!("/api/admin/v1/tickets/{ticket}/messages"),
            Some(json!({ "body": body, "internal": internal })),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.json()
}

/// The bodies of a ticket's thread as `reader` gets it from `path`.
pub async fn bodies(reader: &mut Browser, path: &str) -> Vec<String> {
    let answer = reader.api("GET", path, None).await;
    assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    answer.json()["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["body"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// The app's own clock, for a worker.
pub fn clock(app: &PortalApp) -> Arc<dyn smartbox_server::Clock> {
    Arc::new(app.clock.clone())
}
