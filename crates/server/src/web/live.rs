//! `GET /dashboard/live`: the dashboard's mailbox cards, streamed over Server-Sent Events whenever
//! mail arrives, a photo lands or a heartbeat changes the vitals. The stream waits on the
//! cluster's updates ([`crate::cluster`]), which carry news from this process and, on PostgreSQL,
//! from every other server process; it reads the database only to render the cards when its
//! customer had news (or after a resync). Its session is checked with every other stream's
//! ([`crate::accounts::live_sessions`]): a stream ends with its session (logout, a password
//! reset, expiry) and when the server begins to shut down, so neither keeps pushing data nor
//! holds the graceful shutdown open.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use minijinja::context;
use tokio::sync::{broadcast, watch};

use super::{PageError, templates};
use crate::accounts::CurrentUser;
use crate::accounts::live_sessions::Hold;
use crate::cluster::Update;
use crate::state::AppState;

/// The SSE stream of `mailboxes` events (the cards' HTML).
pub async fn stream(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, PageError> {
    let updates = state.cluster.subscribe();
    let hold = state.live_sessions.hold(&user.session.token_hash);
    let stopping = state.stopping();
    let events = futures::stream::unfold(
        Streaming {
            state,
            user,
            updates,
            hold,
            stopping,
        },
        |mut s: Streaming| async move {
            loop {
                if *s.stopping.borrow() || *s.hold.ended.borrow() {
                    return None;
                }
                let news = tokio::select! {
                    update = s.updates.recv() => match update {
                        Ok(Update::News(owners)) => owners.contains(&s.user.user.id),
                        Ok(Update::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => true,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                    changed = s.hold.ended.changed() => match changed {
                        Ok(()) => continue,
                        Err(_) => return None,
                    },
                    changed = s.stopping.changed() => match changed {
                        Ok(()) => continue,
                        Err(_) => return None,
                    },
                };
                if !news {
                    continue;
                }
                let html = match cards_html(&s.state, &s.user).await {
                    Ok(html) => html,
                    Err(err) => {
                        tracing::warn!(error = %err, "live dashboard: cannot render");
                        continue;
                    }
                };
                let event = Event::default().event("mailboxes").data(html);
                return Some((Ok(event), s));
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// What the stream carries from one update to the next.
struct Streaming {
    state: AppState,
    user: CurrentUser,
    updates: broadcast::Receiver<Update>,
    hold: Hold,
    stopping: watch::Receiver<bool>,
}

async fn cards_html(state: &AppState, user: &CurrentUser) -> Result<String, PageError> {
    let mailboxes = super::dashboard::mailbox_cards(state, user).await?;
    let updated = super::format::clock(state.clock.now_ms(), &user.user.time_zone);
    Ok(templates::render(
        "mailboxes.html",
        context! { mailboxes => mailboxes, updated => updated },
    )?)
}
