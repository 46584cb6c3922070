//! `smartbox firmware rollout`: start a staged rollout of a published image, see where it
//! stands, pause, resume, advance or abort it, pin a mailbox to a version, as staff do on `/admin/firmware`, through the
//! same service (`services::rollouts`) with the operator as actor.

use clap::Subcommand;
use smartbox_domain::rollout::RolloutCommand;
use smartbox_server::AppState;
use smartbox_server::services::Actor;
use smartbox_server::services::rollouts::{
    self, RolloutReport, RolloutTarget, StartRollout, words,
};

#[derive(Debug, Subcommand)]
pub enum RolloutArgs {
    /// Start a rollout of a published image (one at a time).
    Start {
        /// A published version (`smartbox firmware publish --staged`).
        #[arg(long)]
        version: String,
        /// Stages in percent of the fleet, rising, ending at 100; a stage may have its own soak,
        /// PERCENT:TIME[:CONFIRMED%], e.g. 1:2h,5:24h:90%,25,50,100.
        #[arg(long, default_value = "1,5,25,50,100")]
        stages: String,
        /// Minimum time per stage (without its own) before the next one starts, e.g. 24h, 90m.
        #[arg(long, default_value = "24h")]
        soak: String,
        /// Share of a stage's mailboxes confirmed on the image before the next stage, percent.
        #[arg(long, default_value = "80")]
        confirmed: String,
        /// Only these mailboxes, e.g. SB-0001,SB-0002 (stages are percentages of them).
        #[arg(long, default_value = "")]
        serials: String,
        /// Only the mailboxes with this tag when it starts (not with --serials).
        #[arg(long, default_value = "")]
        tag: String,
        /// Why, for the audit log.
        #[arg(long, default_value = "by an operator")]
        reason: String,
    },
    /// Print where the current rollout stands: stages, progress, gates.
    Status {
        /// The rollout (default: the open one, else the newest).
        #[arg(long)]
        id: Option<String>,
    },
    /// Stop offering the image until `resume`.
    Pause {
        #[arg(long)]
        id: Option<String>,
        #[arg(long, default_value = "by an operator")]
        reason: String,
    },
    /// Offer the image to the current stage again.
    Resume {
        #[arg(long)]
        id: Option<String>,
        #[arg(long, default_value = "by an operator")]
        reason: String,
    },
    /// Start the next stage now (after the last: finish).
    Advance {
        #[arg(long)]
        id: Option<String>,
        #[arg(long, default_value = "by an operator")]
        reason: String,
    },
    /// Stop the rollout for good.
    Abort {
        #[arg(long)]
        id: Option<String>,
        #[arg(long, default_value = "by an operator")]
        reason: String,
    },
    /// Pin a mailbox to a published version: it is offered that version whatever any rollout
    /// does.
    Pin {
        #[arg(long)]
        serial: String,
        #[arg(long)]
        version: String,
        #[arg(long, default_value = "by an operator")]
        reason: String,
    },
    /// Remove a mailbox's pin.
    Unpin {
        #[arg(long)]
        serial: String,
        #[arg(long, default_value = "by an operator")]
        reason: String,
    },
    /// List the pinned mailboxes.
    Pins,
}

/// Runs a `firmware rollout` subcommand, printing to stdout.
pub async fn run(state: &AppState, args: RolloutArgs) -> anyhow::Result<()> {
    let actor = Actor::Cli;
    let (command, id, reason) = match args {
        RolloutArgs::Start {
            version,
            stages,
            soak,
            confirmed,
            serials,
            tag,
            reason,
        } => {
            let input = StartRollout::parse(&version, &stages, &soak, &confirmed)?;
            let target = RolloutTarget::parse(&serials, &tag)?;
            let row = rollouts::start_targeted(state, &actor, input, &target, &reason).await?;
            println!("started rollout {} of firmware {}", row.id, row.version);
            let id = smartbox_domain::RolloutId::new(row.id);
            print_report(&rollouts::report(state, &actor, &id).await?);
            return Ok(());
        }
        RolloutArgs::Status { id } => {
            let row = rollouts::current(state, id.as_deref()).await?;
            let id = smartbox_domain::RolloutId::new(row.id);
            print_report(&rollouts::report(state, &actor, &id).await?);
            return Ok(());
        }
        RolloutArgs::Pin {
            serial,
            version,
            reason,
        } => {
            rollouts::pin(state, &actor, &serial, &version, &reason).await?;
            println!("pinned {serial} to firmware {version}");
            return Ok(());
        }
        RolloutArgs::Unpin { serial, reason } => {
            rollouts::unpin(state, &actor, &serial, &reason).await?;
            println!("unpinned {serial}");
            return Ok(());
        }
        RolloutArgs::Pins => {
            let pins = rollouts::pins(state, &actor).await?;
            if pins.is_empty() {
                println!("no pinned mailboxes");
            }
            for pin in pins {
                println!(
                    "{}\t{}\t{}\t{}",
                    pin.serial, pin.version, pin.pinned_by, pin.reason
                );
            }
            return Ok(());
        }
        RolloutArgs::Pause { id, reason } => (RolloutCommand::Pause, id, reason),
        RolloutArgs::Resume { id, reason } => (RolloutCommand::Resume, id, reason),
        RolloutArgs::Advance { id, reason } => (RolloutCommand::Advance, id, reason),
        RolloutArgs::Abort { id, reason } => (RolloutCommand::Abort, id, reason),
    };
    let row = rollouts::current(state, id.as_deref()).await?;
    let id = smartbox_domain::RolloutId::new(row.id);
    rollouts::command(state, &actor, &id, command, &reason).await?;
    print_report(&rollouts::report(state, &actor, &id).await?);
    Ok(())
}

fn print_report(report: &RolloutReport) {
    let row = &report.rollout;
    println!(
        "firmware {} for {} boards: {}, stage {} of {}{}",
        row.version,
        row.hardware_revision,
        words::state(row.state),
        row.stage + 1,
        report.stages.len(),
        row.paused_reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    for stage in &report.stages {
        let p = &stage.progress;
        println!(
            "  {:>3} %  soak {} with {} % confirmed  {} mailboxes  offered {} downloading {} downloaded {} installed {} confirmed {} failed {} rolled back {}",
            stage.percent,
            smartbox_domain::rollout::format_duration_ms(stage.soak.min_ms),
            stage.soak.min_confirmed_percent,
            stage.new_members,
            p.offered,
            p.downloading,
            p.downloaded,
            p.installed,
            p.confirmed,
            p.failed,
            p.rolled_back
        );
    }
    for gate in &report.gates {
        println!(
            "  gate {}: {} (limit {}){}",
            gate.gate.label(),
            gate.value
                .map_or_else(|| "not measured yet".to_owned(), |v| v.to_string()),
            gate.threshold,
            if gate.tripped { " TRIPPED" } else { "" }
        );
    }
}
