//! Test support: a fresh, migrated database per test on every configured backend — SQLite always,
//! PostgreSQL too when `SMARTBOX_TEST_POSTGRES_URL` names a server (each test gets its own database,
//! dropped when the test's [`TestDb`] is dropped... at the latest when the server is reset).

use crate::Db;

/// The variable naming the PostgreSQL server for tests.
pub const POSTGRES_URL_VAR: &str = "SMARTBOX_TEST_POSTGRES_URL";

/// A database made for one test. Keeps its SQLite folder alive while in scope.
#[derive(Debug)]
pub struct TestDb {
    pub db: Db,
    /// The URL the database was opened with (for spawning a server process on the same database).
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// A fresh migrated SQLite database in a temporary folder.
pub async fn sqlite() -> TestDb {
    sqlite_at(None).await
}

/// A fresh SQLite database migrated up to `version` (all migrations when `None`).
async fn sqlite_at(version: Option<i64>) -> TestDb {
    let dir = tempfile::tempdir().expect("a temporary folder for the test database");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let db = Db::connect(&url)
        .await
        .expect("the test SQLite database opens");
    migrate(&db, version).await;
    TestDb {
        db,
        url,
        _dir: Some(dir),
    }
}

/// A fresh migrated PostgreSQL database, when `SMARTBOX_TEST_POSTGRES_URL` is set.
pub async fn postgres() -> Option<TestDb> {
    postgres_at(None).await
}

/// A fresh PostgreSQL database migrated up to `version` (all when `None`), when configured.
async fn postgres_at(version: Option<i64>) -> Option<TestDb> {
    let base = std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|url| !url.is_empty())?;
    let admin = Db::connect(&base)
        .await
        .unwrap_or_else(|err| panic!("{POSTGRES_URL_VAR}={base} cannot be reached: {err}"));
    let name = format!("smartbox_test_{}", uuid::Uuid::new_v4().simple());
    crate::on_pool!(&admin, pool => sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(pool).await.map(|_| ()))
        .expect("the test database is created");
    admin.close().await;
    let url = with_database(&base, &name);
    let db = Db::connect(&url)
        .await
        .expect("the new test database opens");
    migrate(&db, version).await;
    Some(TestDb {
        db,
        url,
        _dir: None,
    })
}

/// Every backend this run tests: SQLite, then PostgreSQL when configured.
pub async fn all() -> Vec<TestDb> {
    let mut dbs = vec![sqlite().await];
    if let Some(pg) = postgres().await {
        dbs.push(pg);
    }
    dbs
}

/// Every backend this run tests, each database migrated only up to `version`: an upgrade test
/// writes data in an older schema, then applies the rest with [`Db::migrate`].
pub async fn all_at(version: i64) -> Vec<TestDb> {
    let mut dbs = vec![sqlite_at(Some(version)).await];
    if let Some(pg) = postgres_at(Some(version)).await {
        dbs.push(pg);
    }
    dbs
}

async fn migrate(db: &Db, version: Option<i64>) {
    let migrated = match version {
        Some(version) => db.migrate_to(version).await,
        None => db.migrate().await,
    };
    migrated.unwrap_or_else(|err| panic!("migrations apply on {}: {err}", db.backend().as_str()));
}

/// Runs raw SQL on `db`, one or more statements on one connection: a test's trigger or fixture
/// that no repository writes.
pub async fn execute(db: &Db, sql: &str) {
    crate::on_pool!(db, pool => sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(pool).await.map(|_| ()))
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

/// SQLite's one write lock, taken by a connection of its own (`BEGIN IMMEDIATE`) as the device
/// API's group commit takes it: tests show what waits for it and what does not.
#[derive(Debug)]
pub struct WriteLock(sqlx::pool::PoolConnection<sqlx::Sqlite>);

/// Takes the write lock of a SQLite `db` and holds it until [`WriteLock::release`]; `None` on
/// PostgreSQL, which has no such lock.
pub async fn hold_write_lock(db: &Db) -> Option<WriteLock> {
    let crate::db::Pool::Sqlite(pool) = &db.pool else {
        return None;
    };
    let mut conn = pool.acquire().await.expect("a connection");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *conn)
        .await
        .expect("the write lock");
    Some(WriteLock(conn))
}

impl WriteLock {
    /// Gives the lock back (its transaction wrote nothing).
    pub async fn release(mut self) {
        sqlx::query("ROLLBACK")
            .execute(&mut *self.0)
            .await
            .expect("rollback");
    }
}

fn with_database(base: &str, name: &str) -> String {
    let (without_query, query) = match base.split_once('?') {
        Some((url, query)) => (url, Some(query)),
        None => (base, None),
    };
    let scheme_end = without_query.find("://").map_or(0, |i| i + 3);
    let root = match without_query[scheme_end..].find('/') {
        Some(slash) => &without_query[..scheme_end + slash],
        None => without_query,
    };
    match query {
        Some(query) => format!("{root}/{name}?{query}"),
        None => format!("{root}/{name}"),
    }
}

/// A value of a seeded row (see [`insert_rows`]).
#[derive(Debug, Clone)]
pub enum SeedValue {
    Text(String),
    Int(i64),
    Bytes(Vec<u8>),
    /// NULL in a text column.
    NullText,
    /// NULL in an integer column.
    NullInt,
}

impl From<&str> for SeedValue {
    fn from(value: &str) -> Self {
        SeedValue::Text(value.to_owned())
    }
}

impl From<String> for SeedValue {
    fn from(value: String) -> Self {
        SeedValue::Text(value)
    }
}

impl From<i64> for SeedValue {
    fn from(value: i64) -> Self {
        SeedValue::Int(value)
    }
}

impl From<Option<String>> for SeedValue {
    fn from(value: Option<String>) -> Self {
        value.map_or(SeedValue::NullText, SeedValue::Text)
    }
}

impl From<Option<i64>> for SeedValue {
    fn from(value: Option<i64>) -> Self {
        value.map_or(SeedValue::NullInt, SeedValue::Int)
    }
}

/// Inserts `rows` into `target` (`"table (col, ...)"`) in one transaction, many rows a statement:
/// a benchmark's bulk seed, which no repository writes that fast.
pub async fn insert_rows(db: &Db, target: &str, rows: &[Vec<SeedValue>]) {
    let Some(columns) = rows.first().map(Vec::len) else {
        return;
    };
    let per_statement = (30_000 / columns).max(1);
    crate::on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        for part in rows.chunks(per_statement) {
            let values: Vec<String> = (0..part.len())
                .map(|r| {
                    let cells: Vec<String> =
                        (1..=columns).map(|c| format!("${}", r * columns + c)).collect();
                    format!("({})", cells.join(", "))
                })
                .collect();
            let sql = format!("INSERT INTO {target} VALUES {}", values.join(", "));
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for value in part.iter().flatten() {
                query = match value {
                    SeedValue::Text(text) => query.bind(text.clone()),
                    SeedValue::Int(int) => query.bind(*int),
                    SeedValue::Bytes(bytes) => query.bind(bytes.clone()),
                    SeedValue::NullText => query.bind(None::<String>),
                    SeedValue::NullInt => query.bind(None::<i64>),
                };
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await
    }
    .await)
    .unwrap_or_else(|err| panic!("seeding {target}: {err}"));
}
