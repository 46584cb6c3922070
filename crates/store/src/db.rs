//! Connecting to, configuring and migrating either backend.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::Result;

/// Runs `$body` with `$pool` bound to the concrete pool of whichever backend `$db` is, so one
/// query text and one piece of code serve both backends (each arm is compiled for its own driver).
/// The store's own: nothing outside it sees a pool.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match &$db.pool {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The name used in `/healthz` and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A connection pool to SQLite or PostgreSQL. Opaque: every query is one of the store's
/// functions, so no SQL is written above the store.
#[derive(Debug, Clone)]
pub struct Db {
    pub(crate) pool: Pool,
}

/// The concrete pool behind a [`Db`].
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    /// Connects to `url` (`sqlite://path`, `sqlite::memory:`, `postgres://...`), creating a SQLite
    /// file and its folder when missing. SQLite runs in WAL mode with `synchronous=NORMAL`: durable
    /// across process crashes, and fast enough for the heartbeat path.
    pub async fn connect(url: &str) -> Result<Db> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            return Ok(Db {
                pool: Pool::Postgres(pool),
            });
        }
        if url.starts_with("sqlite:") {
            if let Some(dir) = sqlite_parent_dir(url) {
                std::fs::create_dir_all(dir).map_err(|err| {
                    sqlx::Error::Configuration(
                        format!("cannot create the folder {}: {err}", dir.display()).into(),
                    )
                })?;
            }
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await?;
            return Ok(Db {
                pool: Pool::Sqlite(pool),
            });
        }
        Err(sqlx::Error::Configuration(
            format!("unsupported database URL scheme in {url:?}: use sqlite:// or postgres://")
                .into(),
        )
        .into())
    }

    /// Applies the backend's migrations; safe to run on every start.
    pub async fn migrate(&self) -> Result<()> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await?,
            Pool::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Applies the backend's migrations up to `version` only: upgrade tests start from an older
    /// schema.
    #[cfg(feature = "testing")]
    pub async fn migrate_to(&self, version: i64) -> Result<()> {
        fn upto(mut migrator: sqlx::migrate::Migrator, version: i64) -> sqlx::migrate::Migrator {
            migrator.migrations = migrator
                .migrations
                .iter()
                .filter(|m| m.version <= version)
                .cloned()
                .collect::<Vec<_>>()
                .into();
            migrator
        }
        match &self.pool {
            Pool::Sqlite(pool) => {
                upto(sqlx::migrate!("migrations/sqlite"), version)
                    .run(pool)
                    .await?
            }
            Pool::Postgres(pool) => {
                upto(sqlx::migrate!("migrations/postgres"), version)
                    .run(pool)
                    .await?
            }
        }
        Ok(())
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        match &self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// A round trip to the database, for health checks.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Closes every connection (graceful shutdown).
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

fn sqlite_parent_dir(url: &str) -> Option<&std::path::Path> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path.starts_with(":memory:") {
        return None;
    }
    std::path::Path::new(path)
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
}
