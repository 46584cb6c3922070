//! `smartbox backup` and `smartbox restore` on SQLite: a consistent copy of a database in use
//! (`VACUUM INTO`, which reads one snapshot, so writers keep going), and a copy put back in place
//! of a missing database. PostgreSQL has its own tools (`pg_dump`, `pg_restore`): the command
//! says so instead of copying tables one by one.

use std::path::{Path, PathBuf};

use crate::db::{Db, Pool};
use crate::{Result, StoreError};

/// What [`Db::backup_into`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backup {
    /// The copy is written.
    Written,
    /// Nothing: a PostgreSQL database is backed up with `pg_dump`.
    UsePgDump,
}

impl Db {
    /// Writes a consistent copy of this SQLite database to `out`, which must not exist.
    pub async fn backup_into(&self, out: &Path) -> Result<Backup> {
        let Pool::Sqlite(pool) = &self.pool else {
            return Ok(Backup::UsePgDump);
        };
        if out.exists() {
            return Err(StoreError::Conflict(format!(
                "{} exists: choose a new file for the backup",
                out.display()
            )));
        }
        sqlx::query("VACUUM INTO $1")
            .bind(out.to_string_lossy().into_owned())
            .execute(pool)
            .await?;
        Ok(Backup::Written)
    }

    /// Puts the SQLite backup `from` in place of the database `url` names, which must not exist
    /// (move the damaged one away first), then opens it and brings its schema up to date. `None`
    /// when `url` is not a SQLite file.
    pub async fn restore_sqlite(url: &str, from: &Path) -> Result<Option<Db>> {
        let Some(target) = sqlite_file(url) else {
            return Ok(None);
        };
        if target.exists() {
            return Err(StoreError::Conflict(format!(
                "{} exists: stop the server and move it away before restoring over it",
                target.display()
            )));
        }
        let bytes = std::fs::read(from).map_err(|err| {
            StoreError::Conflict(format!("cannot read {}: {err}", from.display()))
        })?;
        if !bytes.starts_with(b"SQLite format 3\0") {
            return Err(StoreError::Conflict(format!(
                "{} is not a SQLite database",
                from.display()
            )));
        }
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|err| {
                StoreError::Conflict(format!("cannot create {}: {err}", dir.display()))
            })?;
        }
        std::fs::write(&target, bytes).map_err(|err| {
            StoreError::Conflict(format!("cannot write {}: {err}", target.display()))
        })?;
        let db = Db::connect(url).await?;
        db.migrate().await?;
        Ok(Some(db))
    }
}

/// The file a `sqlite://` URL names; `None` for PostgreSQL and in-memory databases.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_backup_restored_in_place_of_a_lost_database_has_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("live.db").display());
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        db.insert_user(&crate::NewUser {
            id: "u1",
            email: "kept@example.com",
            password_hash: "x",
            role: "customer",
            created_at: 1,
        })
        .await
        .unwrap();
        let out = dir.path().join("backup.db");
        assert_eq!(db.backup_into(&out).await.unwrap(), Backup::Written);
        assert!(
            db.backup_into(&out).await.unwrap_err().is_conflict(),
            "an existing file is not overwritten"
        );
        db.close().await;

        assert!(
            Db::restore_sqlite(&url, &out)
                .await
                .unwrap_err()
                .is_conflict(),
            "a database in place is not restored over"
        );
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(dir.path().join(format!("live.db{suffix}")));
        }
        let restored = Db::restore_sqlite(&url, &out)
            .await
            .unwrap()
            .expect("SQLite");
        let user = restored.user_by_email("kept@example.com").await.unwrap();
        assert_eq!(user.map(|u| u.id).as_deref(), Some("u1"));
        restored.close().await;

        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, b"not a database").unwrap();
        let other = format!("sqlite://{}", dir.path().join("other.db").display());
        assert!(Db::restore_sqlite(&other, &junk).await.is_err());
        assert!(
            Db::restore_sqlite("postgres://127.0.0.1/x", &junk)
                .await
                .unwrap()
                .is_none()
        );
    }
}
