//! `smartbox backup --out FILE` and `smartbox restore --from FILE` (docs/operations.md,
//! "Backups"). On SQLite: a consistent copy of the running database, and that copy put back in
//! place of a lost one. On PostgreSQL the database's own tools do it; the commands say which.

use std::path::Path;

use anyhow::Context;
use smartbox_server::config::Config;
use smartbox_server::server::open_db;
use smartbox_store::{Backup, Db};

/// Tells where a PostgreSQL backup comes from.
const PG_DUMP: &str = "PostgreSQL is backed up with its own tool: \
    pg_dump --format=custom --file=smartbox.dump \"$SMARTBOX_DATABASE_URL\" \
    (see docs/operations.md, \"Backups\")";
const PG_RESTORE: &str = "PostgreSQL is restored with its own tool: \
    pg_restore --dbname=\"$SMARTBOX_DATABASE_URL\" smartbox.dump \
    (see docs/operations.md, \"Backups\")";

/// Writes a consistent copy of the SQLite database to `out` while servers keep running.
pub async fn backup(config: &Config, out: &Path) -> anyhow::Result<()> {
    let db = open_db(&config.database_url).await?;
    let done = db.backup_into(out).await;
    db.close().await;
    match done.with_context(|| format!("cannot back up into {}", out.display()))? {
        Backup::Written => {
            println!("backed up the database into {}", out.display());
            println!("keep the blob store and the master key with it (docs/operations.md)");
            Ok(())
        }
        Backup::UsePgDump => anyhow::bail!(PG_DUMP),
    }
}

/// Puts the SQLite backup `from` in place of the configured database, which must be absent.
pub async fn restore(config: &Config, from: &Path) -> anyhow::Result<()> {
    match Db::restore_sqlite(&config.database_url, from)
        .await
        .with_context(|| format!("cannot restore {}", from.display()))?
    {
        Some(db) => {
            db.close().await;
            println!("restored {} as {}", from.display(), config.database_url);
            Ok(())
        }
        None => anyhow::bail!(PG_RESTORE),
    }
}
