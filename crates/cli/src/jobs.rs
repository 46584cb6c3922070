//! `smartbox jobs`: the operator's view of the durable job queue — the jobs that failed for good
//! (kept with their last error) and putting one back in the queue once its cause is fixed.

use clap::Subcommand;
use smartbox_store::Db;

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List the jobs that failed for good, oldest first, with their last error.
    Failed {
        /// Only jobs of this kind (e.g. payment_retry).
        #[arg(long)]
        kind: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Queue a failed job again, now, with its attempts reset.
    Retry {
        /// The job's id, as `jobs failed` prints it.
        id: String,
    },
}

/// Runs a `jobs` subcommand against `db`, printing to stdout.
pub async fn run(db: &Db, command: JobsCommand, now_ms: i64) -> anyhow::Result<()> {
    match command {
        JobsCommand::Failed { kind, limit } => {
            let failed = db
                .jobs_with_status(kind.as_deref(), "failed", limit)
                .await?;
            if failed.is_empty() {
                println!("no failed jobs");
            }
            for job in failed {
                println!(
                    "{}\t{}\tattempts {}\t{}",
                    job.id,
                    job.kind,
                    job.attempts,
                    job.last_error.as_deref().unwrap_or("-")
                );
            }
            Ok(())
        }
        JobsCommand::Retry { id } => {
            if db.retry_failed_job(&id, now_ms).await? {
                println!("queued {id} again");
                Ok(())
            } else {
                anyhow::bail!("no failed job {id}")
            }
        }
    }
}
