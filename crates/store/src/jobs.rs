//! Durable jobs: a table claimed with one atomic `UPDATE ... RETURNING` (plus `FOR UPDATE SKIP
//! LOCKED` on PostgreSQL), so several server processes never run one job at once. Delivery is
//! at-least-once: a worker holds a short lease that it renews while the job runs
//! ([`Db::renew_job_lease`]); one that dies stops renewing, the lease expires within seconds, and
//! the job is claimed again.
//! Enqueueing the same `unique_key` twice makes one job.

use crate::{Db, Result, on_pool};

/// A job as stored. `payload` is JSON text.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub payload: String,
    pub unique_key: Option<String>,
    pub status: String,
    pub run_at: i64,
    pub attempts: i64,
    pub max_attempts: i64,
    pub last_error: Option<String>,
    pub locked_by: Option<String>,
    pub locked_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// How many jobs of one kind are queued (see [`Db::queued_jobs_by_kind`]).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct QueuedJobs {
    pub kind: String,
    /// Due now: waiting for a worker.
    pub due: i64,
    /// Due later.
    pub later: i64,
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub payload: serde_json::Value,
    /// Enqueueing the same key again is a no-op.
    pub unique_key: Option<&'a str>,
    pub run_at: i64,
    pub max_attempts: i64,
}

/// Binds: id, kind, payload, unique_key, run_at (also the creation time), max_attempts.
pub(crate) const INSERT_JOB_SQL: &str = "INSERT INTO jobs (id, kind, payload, unique_key, status, run_at, \
    max_attempts, created_at, updated_at) VALUES ($1, $2, $3, $4, 'queued', $5, $6, $5, $5) \
    ON CONFLICT (unique_key) DO NOTHING";

pub(crate) const JOB_COLUMNS: &str = "id, kind, payload, unique_key, status, run_at, attempts, max_attempts, last_error, \
    locked_by, locked_until, created_at, updated_at";

impl Db {
    /// Enqueues a job; returns false when a job with the same unique key already exists.
    pub async fn enqueue_job(&self, job: &NewJob<'_>) -> Result<bool> {
        let payload = job.payload.to_string();
        let inserted = on_pool!(self, pool => sqlx::query(INSERT_JOB_SQL)
            .bind(job.id)
            .bind(job.kind)
            .bind(&payload)
            .bind(job.unique_key)
            .bind(job.run_at)
            .bind(job.max_attempts)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(inserted == 1)
    }

    /// Claims the job that is due first (queued and due, or running with an expired lease) for
    /// `worker` until `now + lease_ms`, counting an attempt. `None` when nothing is due.
    pub async fn claim_job(&self, worker: &str, now: i64, lease_ms: i64) -> Result<Option<JobRow>> {
        self.claim_due_job(worker, None, now, lease_ms).await
    }

    /// [`Db::claim_job`] restricted to the kinds a worker can run, so that a job of a kind this
    /// process does not know stays queued for one that does instead of failing here.
    pub async fn claim_job_of_kinds(
        &self,
        worker: &str,
        kinds: &[&str],
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<JobRow>> {
        if kinds.is_empty() {
            return Ok(None);
        }
        self.claim_due_job(worker, Some(kinds), now, lease_ms).await
    }

    async fn claim_due_job(
        &self,
        worker: &str,
        kinds: Option<&[&str]>,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<JobRow>> {
        let kinds = kinds.unwrap_or_default();
        let kind_filter = if kinds.is_empty() {
            String::new()
        } else {
            let placeholders: Vec<String> =
                (0..kinds.len()).map(|i| format!("${}", i + 4)).collect();
            format!(" AND kind IN ({})", placeholders.join(", "))
        };
        let due = format!(
            "((status = 'queued' AND run_at <= $3) OR (status = 'running' AND locked_until < $3)){kind_filter}"
        );
        // PostgreSQL: skip rows another worker is claiming right now instead of waiting for them.
        let lock = match self.backend() {
            crate::Backend::Sqlite => "",
            crate::Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = $1, \
             locked_until = $2, updated_at = $3 WHERE id = \
             (SELECT id FROM jobs WHERE {due} ORDER BY run_at, id LIMIT 1{lock}) RETURNING {JOB_COLUMNS}"
        );
        // An idle poll only reads: on SQLite every UPDATE takes the database's one write lock,
        // even when it matches nothing, and the device API's group commit then waits for it.
        let probe = format!("SELECT id FROM jobs WHERE {due} LIMIT 1");
        // Both statements take $1 the worker, $2 the lease's end, $3 now and $4... the kinds.
        macro_rules! fetch_due {
            ($sql:expr) => {
                on_pool!(self, pool => {
                    let mut query = sqlx::query_as(sqlx::AssertSqlSafe($sql))
                        .bind(worker)
                        .bind(now + lease_ms)
                        .bind(now);
                    for kind in kinds {
                        query = query.bind(*kind);
                    }
                    query.fetch_optional(pool).await?
                })
            };
        }
        let due_job: Option<(String,)> = fetch_due!(probe.as_str());
        if due_job.is_none() {
            return Ok(None);
        }
        Ok(fetch_due!(sql.as_str()))
    }

    /// Extends the lease of a job `worker` is running to `until`; false when it no longer holds
    /// it (the lease ran out and another worker took the job over).
    pub async fn renew_job_lease(
        &self,
        id: &str,
        worker: &str,
        until: i64,
        now: i64,
    ) -> Result<bool> {
        let renewed = on_pool!(self, pool => sqlx::query(
            "UPDATE jobs SET locked_until = $3, updated_at = $4 \
             WHERE id = $1 AND locked_by = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(worker)
        .bind(until)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(renewed == 1)
    }

    /// Marks a claimed job done; false when `worker` no longer holds it (its lease was taken over).
    pub async fn complete_job(&self, id: &str, worker: &str, now: i64) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE jobs SET status = 'done', locked_by = NULL, locked_until = NULL, updated_at = $3 \
             WHERE id = $1 AND locked_by = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(worker)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// Records a failed attempt: queued again at `retry_at`, or `failed` for good when `None`.
    pub async fn fail_job(
        &self,
        id: &str,
        worker: &str,
        error: &str,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<bool> {
        let (status, run_at) = match retry_at {
            Some(at) => ("queued", at),
            None => ("failed", now),
        };
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE jobs SET status = $3, run_at = $4, last_error = $5, locked_by = NULL, locked_until = NULL, \
             updated_at = $6 WHERE id = $1 AND locked_by = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(worker)
        .bind(status)
        .bind(run_at)
        .bind(error)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// Puts a failed job back in the queue with fresh attempts (admin "retry").
    pub async fn retry_failed_job(&self, id: &str, now: i64) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE jobs SET status = 'queued', attempts = 0, run_at = $2, updated_at = $2 \
             WHERE id = $1 AND status = 'failed'",
        )
        .bind(id)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// Deletes up to `limit` jobs that finished (`done`) before `finished_before`, oldest first,
    /// and says how many went. Failed jobs stay for admin; queued and running ones are live.
    /// A unique key is free again once its job is pruned, so keep jobs longer than any key
    /// could be enqueued again (keys name events, periods and time slots that do not recur).
    pub async fn prune_done_jobs(&self, finished_before: i64, limit: i64) -> Result<u64> {
        let deleted = on_pool!(self, pool => sqlx::query(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE status = 'done' \
             AND updated_at < $1 ORDER BY updated_at LIMIT $2)",
        )
        .bind(finished_before)
        .bind(limit)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(deleted)
    }

    /// The job with this id.
    pub async fn job_by_id(&self, id: &str) -> Result<Option<JobRow>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(pool).await)?,
        )
    }

    /// The job queued under `unique_key`, if there is one (done or not).
    pub async fn job_by_unique_key(&self, unique_key: &str) -> Result<Option<JobRow>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE unique_key = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(unique_key).fetch_optional(pool).await)?,
        )
    }

    /// Jobs of a kind (any kind when `None`) in a status, oldest first, for admin and tests.
    pub async fn jobs_with_status(
        &self,
        kind: Option<&str>,
        status: &str,
        limit: i64,
    ) -> Result<Vec<JobRow>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE status = $1 AND ($2 IS NULL OR kind = $2) \
             ORDER BY run_at, id LIMIT $3"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(status)
            .bind(kind)
            .bind(limit)
            .fetch_all(pool)
            .await)?,
        )
    }

    /// The queued jobs by kind: how many are due at `now` and how many wait for a later time
    /// (retries backing off, trial ends), for `/metrics`'s queue depth. Reads the `jobs_due`
    /// index only.
    pub async fn queued_jobs_by_kind(&self, now: i64) -> Result<Vec<QueuedJobs>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT kind, CAST(SUM(CASE WHEN run_at <= $1 THEN 1 ELSE 0 END) AS BIGINT) AS due, \
             CAST(SUM(CASE WHEN run_at > $1 THEN 1 ELSE 0 END) AS BIGINT) AS later \
             FROM jobs WHERE status = 'queued' GROUP BY kind ORDER BY kind",
        )
        .bind(now)
        .fetch_all(pool)
        .await)?)
    }

    /// How many jobs of a kind exist in any status.
    pub async fn count_jobs(&self, kind: &str) -> Result<i64> {
        let (n,): (i64,) = on_pool!(self, pool => sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE kind = $1")
            .bind(kind)
            .fetch_one(pool)
            .await)?;
        Ok(n)
    }
}
