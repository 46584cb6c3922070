//! The store's one error type: callers branch on "not found" and "conflict", everything else is a
//! database failure they report.

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule refused the write (names the constraint when the database says it).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database failed or refused for another reason.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// The device traffic writer (group commit) failed or stopped.
    #[error("device traffic writer: {0}")]
    Writer(String),
    /// Schema migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.constraint().unwrap_or(db.message()).to_owned())
            }
            _ => StoreError::Database(err),
        }
    }
}

impl StoreError {
    /// True when a uniqueness rule refused the write.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict(_))
    }
}
