//! `GET /dashboard/live`: the dashboard's mailbox cards, streamed over Server-Sent Events whenever
//! mail arrives, a photo lands or a heartbeat changes the vitals. The stream watches the database
//! (a cheap "what changed last" query every [`POLL`]), so it sees writes from any server process
//! and needs nothing from the device API's request path. A stream ends with its session (logout,
//! a password reset, expiry) and when the server begins to shut down, so neither keeps pushing
//! data nor holds the graceful shutdown open.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use minijinja::context;
use smartbox_store::ActivityMark;
use tokio::sync::watch;

use super::{PageError, templates};
use crate::accounts::CurrentUser;
use crate::state::AppState;

/// How often the stream looks for changes.
pub const POLL: Duration = Duration::from_millis(1500);

/// The SSE stream of `mailboxes` events (the cards' HTML).
pub async fn stream(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, PageError> {
    let first = state.db.activity_mark(&user.user.id).await?;
    let stopping = state.stopping();
    let events = futures::stream::unfold(
        (state, user, first, stopping),
        |(state, user, mut last, mut stopping): Streaming| async move {
            loop {
                if *stopping.borrow() {
                    return None;
                }
                tokio::select! {
                    () = tokio::time::sleep(POLL) => {},
                    _ = stopping.changed() => return None,
                }
                let session = state
                    .db
                    .live_session(&user.session.token_hash, state.clock.now_ms())
                    .await;
                if matches!(session, Ok(None)) {
                    return None;
                }
                let mark = match state.db.activity_mark(&user.user.id).await {
                    Ok(mark) => mark,
                    Err(err) => {
                        tracing::warn!(error = %err, "live dashboard: cannot read changes");
                        continue;
                    }
                };
                if mark == last {
                    continue;
                }
                last = mark;
                let html = match cards_html(&state, &user).await {
                    Ok(html) => html,
                    Err(err) => {
                        tracing::warn!(error = %err, "live dashboard: cannot render");
                        continue;
                    }
                };
                let event = Event::default().event("mailboxes").data(html);
                return Some((Ok(event), (state, user, last, stopping)));
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// What the stream carries from one poll to the next.
type Streaming = (AppState, CurrentUser, ActivityMark, watch::Receiver<bool>);

async fn cards_html(state: &AppState, user: &CurrentUser) -> Result<String, PageError> {
    let mailboxes = super::dashboard::mailbox_cards(state, user).await?;
    let updated = super::format::clock(state.clock.now_ms(), &user.user.time_zone);
    Ok(templates::render(
        "mailboxes.html",
        context! { mailboxes => mailboxes, updated => updated },
    )?)
}
