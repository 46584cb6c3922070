//! `GET /dashboard/live`: the dashboard's mailbox cards, streamed over Server-Sent Events whenever
//! mail arrives, a photo lands or a heartbeat changes the vitals. The stream watches the database
//! (a cheap "what changed last" query every [`POLL`]), so it sees writes from any server process
//! and needs nothing from the device API's request path.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use minijinja::context;
use smartbox_store::ActivityMark;

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
    let events = futures::stream::unfold(
        (state, user, first),
        |(state, user, mut last): (AppState, CurrentUser, ActivityMark)| async move {
            loop {
                tokio::time::sleep(POLL).await;
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
                return Some((Ok(event), (state, user, last)));
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

async fn cards_html(state: &AppState, user: &CurrentUser) -> Result<String, PageError> {
    let mailboxes = super::dashboard::mailbox_cards(state, user).await?;
    Ok(templates::render(
        "mailboxes.html",
        context! { mailboxes => mailboxes },
    )?)
}
