//! `smartbox analytics`: the operator rebuilds the daily analytics snapshots from a date (after
//! an upgrade, an import, or a fix to a definition), through the same service the job uses.

use clap::Subcommand;
use smartbox_server::AppState;
use smartbox_server::services::{self, Actor};

#[derive(Debug, Subcommand)]
pub enum AnalyticsCommand {
    /// Recompute every day's snapshot from DATE to yesterday (UTC) from the subscriptions,
    /// invoices, payments, usage, devices and notification deliveries.
    Backfill {
        /// The first day, as 2026-01-31.
        #[arg(long, value_name = "DATE")]
        from: String,
    },
}

/// Runs an `analytics` subcommand, printing to stdout.
pub async fn run(state: &AppState, command: AnalyticsCommand) -> anyhow::Result<()> {
    match command {
        AnalyticsCommand::Backfill { from } => {
            let day = smartbox_store::parse_day_key(from.trim())
                .ok_or_else(|| anyhow::anyhow!("{from:?} is not a date like 2026-01-31"))?;
            let days = services::analytics::backfill(state, &Actor::Cli, day).await?;
            println!("snapshotted {days} days from {day}");
            Ok(())
        }
    }
}
