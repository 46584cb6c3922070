//! What the `smartbox` binary's `sim` and `demo` subcommands run; the binary only parses
//! arguments into [`SimOptions`].

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use smartbox_domain::PlanId;
use smartbox_server::Config;
use smartbox_store::Db;

use crate::camera::CameraSpec;
use crate::energy::{self, Currents, NaiveDelays, Scenario};
use crate::fleet::{Fleet, FleetConfig, Outcome, WakeLog};
use crate::harness::{self, LocalServer};
use crate::ledger;
use crate::mailbox::{Mailbox, MailboxSpec};
use crate::modem::{ModemSpec, Timing};
use crate::net::{HttpNetwork, Network};
use crate::provision::{self, DeviceKeys};

/// Where the simulated devices come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSource {
    /// A factory CSV of devices already activated.
    Factory(PathBuf),
    /// Import and activate fresh devices in `SMARTBOX_DATABASE_URL`.
    Provision,
}

/// `smartbox sim`'s options.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Mailboxes.
    pub devices: usize,
    /// The server the devices talk to.
    pub server: String,
    /// Mail events per device; `None` runs until Ctrl-C.
    pub mail_per_device: Option<u32>,
    /// Simulated seconds per real second; `None` as fast as possible.
    pub speed: Option<f64>,
    /// Probability of a modem fault per wake.
    pub faults: f64,
    /// Where the devices come from.
    pub source: DeviceSource,
    /// Seeds the run.
    pub seed: u64,
    /// The energy report instead of a fleet run.
    pub energy: bool,
    /// The board's sleep current for the energy model.
    pub board_sleep_ua: Option<f64>,
}

/// Runs `smartbox sim`. The last line printed is `delivered=D duplicated=U lost=L` (with a mail
/// count) or the energy table (with `energy`).
pub async fn sim(options: SimOptions, config: &Config) -> anyhow::Result<()> {
    if options.energy {
        return print_energy(options.board_sleep_ua, options.seed).await;
    }
    let db = smartbox_server::server::open_db(&config.database_url).await?;
    let devices = match &options.source {
        DeviceSource::Factory(path) => {
            let mut devices = provision::read_factory(path)?;
            anyhow::ensure!(
                devices.len() >= options.devices,
                "{} holds {} devices, fewer than --devices {}",
                path.display(),
                devices.len(),
                options.devices
            );
            devices.truncate(options.devices);
            devices
        }
        DeviceSource::Provision => provision_in(&db, config, options.devices).await?,
    };
    let epoch = now_unix_ms();
    let mut fleet_config = FleetConfig::new(devices, &options.server, epoch);
    fleet_config.mail_per_device = options.mail_per_device;
    fleet_config.speed = options.speed;
    fleet_config.faults = options.faults;
    fleet_config.seed = options.seed;
    fleet_config.wall_clock = true;
    let stop = Arc::new(AtomicBool::new(false));
    let stopper = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stopper.store(true, Ordering::Relaxed);
    });
    let verbose = options.mail_per_device.is_none();
    let outcome = run_fleet(fleet_config, stop, verbose).await?;
    println!(
        "simulated {:.1} h: {} wakes ({} with a modem fault), {} requests answered 401, {} events still on SD cards{}",
        outcome.sim_ms as f64 / 3_600_000.0,
        outcome.wakes,
        outcome.faulty_wakes,
        outcome.unauthorized,
        outcome.still_queued,
        if outcome.finished {
            ""
        } else {
            " (stopped before every device was done)"
        },
    );
    // Events the server stored before the run began are not this run's.
    let tally = ledger::tally(&db, &outcome.made, epoch - 60_000).await?;
    db.close().await;
    println!("{tally}");
    Ok(())
}

/// Runs a fleet on a blocking thread (the simulation blocks on each real HTTP request).
pub async fn run_fleet(
    config: FleetConfig,
    stop: Arc<AtomicBool>,
    log_mail: bool,
) -> anyhow::Result<Outcome> {
    tokio::task::spawn_blocking(move || {
        let network: Rc<dyn Network> = Rc::new(HttpNetwork::new(&config.base_url)?);
        let mut fleet = Fleet::new(config, network)?;
        let mut on_wake = |log: &WakeLog<'_>| {
            if log_mail && let Some(event) = log.report.event {
                tracing::info!(
                    serial = log.serial,
                    event = %event.event_id,
                    delivered = log.report.delivered,
                    queued = log.report.queued,
                    awake_ms = log.report.awake_ms,
                    "simulated mail"
                );
            }
        };
        Ok(fleet.run(&stop, &mut on_wake))
    })
    .await?
}

/// `smartbox demo`'s mailboxes: the demo devices of `factory`, in real time, with mail every few
/// minutes, until `stop`.
pub fn spawn_demo_mailboxes(
    server_url: String,
    factory: PathBuf,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<anyhow::Result<Outcome>> {
    tokio::spawn(async move {
        let devices = provision::read_factory(&factory)?;
        let mut config = FleetConfig::new(devices, &server_url, now_unix_ms());
        config.mail_per_device = None;
        config.mail_interval_ms = 4 * 60_000;
        config.speed = Some(1.0);
        config.seed = now_unix_ms() as u64;
        config.horizon_ms = u64::MAX;
        config.wall_clock = true;
        // The product's camera, so the gallery has scenes worth reading (kinds and categories).
        config.camera = CameraSpec::VGA;
        run_fleet(config, stop, true).await
    })
}

async fn provision_in(db: &Db, config: &Config, n: usize) -> anyhow::Result<Vec<DeviceKeys>> {
    let key = smartbox_server::server::master_key(config)?;
    let now = now_unix_ms();
    let serials = provision::fresh_serials(now as u64, n);
    let parsed = serials
        .iter()
        .enumerate()
        .map(|(i, s)| Ok((i + 1, smartbox_domain::Serial::parse(s)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let records = smartbox_server::provisioning::import_devices(db, &key, &parsed, now)
        .await
        .context("importing the simulated devices")?;
    let mut keys = Vec::with_capacity(n);
    for record in records {
        smartbox_server::provisioning::activate_device(
            db,
            &record.serial,
            harness::FLEET_OWNER,
            PlanId::Premium,
            now,
            "cli",
        )
        .await
        .with_context(|| format!("activating {}", record.serial))?;
        keys.push(DeviceKeys::parse(&record.serial, &record.secret_hex)?);
    }
    Ok(keys)
}

fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The energy model's figures, our firmware measured against a server in this process.
pub async fn energy_figures(
    currents: Currents,
    scenario: Scenario,
    seed: u64,
) -> anyhow::Result<String> {
    let epoch = now_unix_ms();
    let server = LocalServer::start(epoch).await?;
    let keys = server
        .provision(
            &[
                "SIM-ENERGY-0001".to_owned(),
                "SIM-ENERGY-0002".to_owned(),
                "SIM-ENERGY-0003".to_owned(),
                "SIM-ENERGY-0004".to_owned(),
                "SIM-ENERGY-0005".to_owned(),
            ],
            PlanId::Premium,
        )
        .await?;
    let plain_url = server.url();
    // A production mailbox talks HTTPS (photos of a customer's mail never cross the network in
    // clear): the device's URL is `https`, and the emulator charges every TLS handshake on the
    // air while it reaches the in-process server in plain HTTP.
    let url = plain_url.replacen("http://", "https://", 1);
    let network = server.network()?;
    let spec = MailboxSpec {
        modem: ModemSpec {
            signal_dbm: -85,
            timing: Timing::default(),
            tls_terminated: true,
            ..ModemSpec::default()
        },
        camera: CameraSpec::VGA,
        journal_bytes: 2 * 1024 * 1024,
        ca_cert: Some(modelled_ca()),
        ..MailboxSpec::new(&keys[0].serial, keys[0].secret, seed)
    };
    let report = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let network: Rc<dyn Network> = Rc::new(network);
        let mut mailbox = Mailbox::new(&spec, network.clone(), &url, epoch, currents)?;
        let photo_bytes = mailbox.camera_frame_bytes(80)?;
        let (ours, counts) = energy::measure_firmware(&mut mailbox, &scenario);
        let naive = energy::naive_figures(
            &currents,
            &spec.modem.timing,
            &spec.camera,
            photo_bytes,
            spec.modem.signal_dbm,
            &scenario,
            &NaiveDelays::default(),
        );
        let assumptions = [
            format!(
                "signal {} dBm, UART {} baud (AT+IPREX on the modem's first boot at {}), photos {}x{} JPEG q80 ~{} kB, modem boot {} s, AT+CPOF {} s",
                spec.modem.signal_dbm,
                spec.uart_baud,
                spec.modem.timing.uart_baud,
                spec.camera.width,
                spec.camera.height,
                photo_bytes / 1_000,
                spec.modem.timing.boot_ms / 1_000,
                spec.modem.timing.power_down_ms as f64 / 1_000.0,
            ),
            format!(
                "board sleep current {} µA; MCU {} mA, light sleep {} mA; modem idle {} mA, TX {}-{} mA; camera {} mA",
                currents.board_sleep_ua,
                currents.mcu_active_ma,
                currents.mcu_light_sleep_ma,
                currents.modem_idle_ma,
                currents.modem_tx_strong_ma,
                currents.modem_tx_weak_ma,
                currents.camera_ma
            ),
            "HTTPS (a TLS handshake counted for every connection) over the modem's socket service in transparent mode: one connection a wake, HTTP/1.1 keep-alive".to_owned(),
            format!(
                "our firmware: the real wake cycle over {} simulated days (check-in every 6 h, timer wake every 30 min); naive: modem every 30 min, camera then modem, fixed delays",
                scenario.days
            ),
        ];
        let mut table = energy::report(&ours, &naive, &counts, &assumptions);
        // What moves the figures most: the transport, TLS, the UART speed and the signal.
        let one_day = Scenario {
            days: 1,
            ..scenario.clone()
        };
        let plain = ModemSpec {
            tls_terminated: false,
            ..spec.modem.clone()
        };
        let variants = [
            (
                &keys[1],
                "over HTTPS through the modem's HTTP stack (the fallback: a connection and a TLS handshake per request)",
                spec.modem.clone(),
                spec.uart_baud,
                false,
                &url,
            ),
            (
                &keys[2],
                "over plain HTTP (no TLS handshake)",
                plain,
                spec.uart_baud,
                true,
                &plain_url,
            ),
            (
                &keys[3],
                "at 115,200 baud (no AT+IPREX)",
                spec.modem.clone(),
                115_200,
                true,
                &url,
            ),
            (
                &keys[4],
                "at -105 dBm",
                ModemSpec {
                    signal_dbm: -105,
                    ..spec.modem.clone()
                },
                spec.uart_baud,
                true,
                &url,
            ),
        ];
        for (i, (keys, what, modem, uart_baud, use_socket, url)) in
            variants.into_iter().enumerate()
        {
            let variant = MailboxSpec {
                modem,
                uart_baud,
                use_socket,
                ..MailboxSpec::new(&keys.serial, keys.secret, seed + 1 + i as u64)
            };
            let variant = MailboxSpec {
                camera: spec.camera,
                journal_bytes: spec.journal_bytes,
                ca_cert: spec.ca_cert.clone(),
                ..variant
            };
            let mut mailbox = Mailbox::new(&variant, network.clone(), url, epoch, currents)?;
            let (figures, _) = energy::measure_firmware(&mut mailbox, &one_day);
            table.push_str(&format!(
                "  {what}: {:.1} s awake and {:.2} mAh per mail event, {:.1} months\n",
                figures.awake_per_mail_s, figures.mah_per_mail, figures.battery_months
            ));
        }
        Ok(table)
    })
    .await??;
    Ok(report)
}

/// The CA the energy model's firmware carries. Its server speaks plain HTTP (`tls_terminated`):
/// the modem stores the file on its first boot and the handshakes are charged in time, so only
/// the size matters, that of a one-certificate PEM (~1.2 kB).
pub fn modelled_ca() -> Vec<u8> {
    let mut pem = b"-----BEGIN CERTIFICATE-----\n".to_vec();
    for _ in 0..17 {
        pem.extend_from_slice(&[b'A'; 64]);
        pem.push(b'\n');
    }
    pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    pem
}

async fn print_energy(board_sleep_ua: Option<f64>, seed: u64) -> anyhow::Result<()> {
    let mut currents = Currents::default();
    if let Some(ua) = board_sleep_ua {
        currents.board_sleep_ua = ua;
    }
    let report = energy_figures(currents, Scenario::default(), seed).await?;
    print!("{report}");
    Ok(())
}
