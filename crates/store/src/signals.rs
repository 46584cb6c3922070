//! Signals between server processes sharing one PostgreSQL: `NOTIFY` to send, `LISTEN` to
//! receive, on one channel. PostgreSQL delivers a notification to every listening session after
//! the sending transaction commits; one that arrives while a listener is disconnected is lost, so
//! a listener reports each lost connection and its owner treats everything as changed.
//!
//! SQLite serves one process: [`Db::send_signal`] does nothing there and [`Db::signal_listener`]
//! answers `None`; the server keeps its in-process path.

use sqlx::postgres::PgListener;

use crate::Result;
use crate::db::{Db, Pool};

/// The one channel every process listens on.
pub const SIGNAL_CHANNEL: &str = "smartbox_signals";

/// The largest payload PostgreSQL accepts is 8000 bytes; senders stay under this.
pub const MAX_SIGNAL_BYTES: usize = 7_900;

/// What a listener hands over next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A payload sent by some process (this one included).
    Signal(String),
    /// The connection was lost: signals sent meanwhile are gone. The next
    /// [`SignalListener::recv`] reconnects.
    Lost,
}

/// One dedicated connection listening on [`SIGNAL_CHANNEL`].
#[derive(Debug)]
pub struct SignalListener {
    inner: PgListener,
}

impl SignalListener {
    /// Waits for the next signal; reconnects first when the last call reported [`Received::Lost`].
    /// An error means the database cannot be reached now: retry later.
    pub async fn recv(&mut self) -> Result<Received> {
        Ok(match self.inner.try_recv().await? {
            Some(notification) => Received::Signal(notification.payload().to_owned()),
            None => Received::Lost,
        })
    }
}

impl Db {
    /// Sends `payload` (at most [`MAX_SIGNAL_BYTES`]) to every process listening on this
    /// database. Nothing on SQLite, which has one process.
    pub async fn send_signal(&self, payload: &str) -> Result<()> {
        if let Pool::Postgres(pool) = &self.pool {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(SIGNAL_CHANNEL)
                .bind(payload)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// A connection listening for other processes' signals; `None` on SQLite.
    pub async fn signal_listener(&self) -> Result<Option<SignalListener>> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(None);
        };
        let mut inner = PgListener::connect_with(pool).await?;
        inner.listen(SIGNAL_CHANNEL).await?;
        Ok(Some(SignalListener { inner }))
    }
}
