//! The real server in this process, on a temporary SQLite database and blob folder, on a manual
//! clock that the simulation moves: what `smartbox sim --energy` and the end-to-end tests run the
//! simulated mailboxes against. It can be stopped and started again on the same address (a
//! server outage in the middle of a run), and serve HTTPS itself ([`LocalServer::start_tls`]:
//! `SMARTBOX_TLS_CERT`/`SMARTBOX_TLS_KEY`, as in production).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use smartbox_domain::PlanId;
use smartbox_server::tls::TlsFiles;
use smartbox_server::{AppState, Config, ManualClock, Server, provisioning};
use smartbox_store::Db;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::net::HttpNetwork;
use crate::provision::DeviceKeys;

/// The customer every provisioned mailbox belongs to.
pub const FLEET_OWNER: &str = "fleet@sim.smartbox.example";

/// A server running in this process.
#[derive(Debug)]
pub struct LocalServer {
    dir: tempfile::TempDir,
    clock: ManualClock,
    addr: SocketAddr,
    state: AppState,
    tls: Option<TlsFiles>,
    running: Option<(oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>)>,
}

impl LocalServer {
    /// Starts a server on 127.0.0.1 (a free port) whose clock stands at `epoch_unix_ms`.
    pub async fn start(epoch_unix_ms: i64) -> anyhow::Result<Self> {
        Self::launch_new(epoch_unix_ms, None).await
    }

    /// [`LocalServer::start`] serving HTTPS with the certificate chain and key of `tls` (PEM).
    pub async fn start_tls(epoch_unix_ms: i64, tls: TlsFiles) -> anyhow::Result<Self> {
        Self::launch_new(epoch_unix_ms, Some(tls)).await
    }

    async fn launch_new(epoch_unix_ms: i64, tls: Option<TlsFiles>) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("creating the server's temporary folder")?;
        let clock = ManualClock::at_ms(epoch_unix_ms);
        let (state, addr, running) =
            launch(&dir, "127.0.0.1:0".parse()?, clock.clone(), tls.clone()).await?;
        Ok(Self {
            dir,
            clock,
            addr,
            state,
            tls,
            running: Some(running),
        })
    }

    /// `http://127.0.0.1:<port>`, or `https://` when it serves TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The server's clock.
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }

    /// The database (valid while the server runs).
    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// The server's shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops serving: connections are refused until [`LocalServer::restart`].
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(());
            task.await??;
        }
        Ok(())
    }

    /// Serves again on the same address and database.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await?;
        let (state, addr, running) =
            launch(&self.dir, self.addr, self.clock.clone(), self.tls.clone()).await?;
        self.state = state;
        self.addr = addr;
        self.running = Some(running);
        Ok(())
    }

    /// Imports `serials` and activates them for [`FLEET_OWNER`] on `plan` (trial started now).
    pub async fn provision(
        &self,
        serials: &[String],
        plan: PlanId,
    ) -> anyhow::Result<Vec<DeviceKeys>> {
        provision(&self.state, serials, plan).await
    }

    /// A network for the simulated devices whose every request first sets this server's clock to
    /// the device's simulated time.
    pub fn network(&self) -> anyhow::Result<HttpNetwork> {
        let clock = self.clock.clone();
        Ok(HttpNetwork::new(&self.url())?
            .with_time_hook(Box::new(move |unix_ms| clock.set_ms(unix_ms))))
    }
}

/// Imports `serials` into the server's database and activates them for [`FLEET_OWNER`].
pub async fn provision(
    state: &AppState,
    serials: &[String],
    plan: PlanId,
) -> anyhow::Result<Vec<DeviceKeys>> {
    let now = state.clock.now_ms();
    let parsed = serials
        .iter()
        .enumerate()
        .map(|(i, s)| Ok((i + 1, smartbox_domain::Serial::parse(s)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let records = provisioning::import_devices(&state.db, &state.master_key, &parsed, now)
        .await
        .context("importing the simulated devices")?;
    let mut keys = Vec::with_capacity(records.len());
    for record in records {
        provisioning::activate_device(&state.db, &record.serial, FLEET_OWNER, plan, now, "cli")
            .await
            .with_context(|| format!("activating {}", record.serial))?;
        keys.push(DeviceKeys::parse(&record.serial, &record.secret_hex)?);
    }
    Ok(keys)
}

type Running = (oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>);

async fn launch(
    dir: &tempfile::TempDir,
    bind: SocketAddr,
    clock: ManualClock,
    tls: Option<TlsFiles>,
) -> anyhow::Result<(AppState, SocketAddr, Running)> {
    let root = dir.path();
    let bind_text = bind.to_string();
    let database = format!("sqlite://{}", root.join("smartbox.db").display());
    let blobs = format!("file://{}", root.join("blobs").display());
    let mut config = Config::from_lookup(|name| match name {
        "SMARTBOX_BIND" => Some(bind_text.clone()),
        "SMARTBOX_DATABASE_URL" => Some(database.clone()),
        "SMARTBOX_BLOB_URL" => Some(blobs.clone()),
        "SMARTBOX_TLS_CERT" => tls.as_ref().map(|f| f.cert.display().to_string()),
        "SMARTBOX_TLS_KEY" => tls.as_ref().map(|f| f.key.display().to_string()),
        _ => None,
    })?;
    std::fs::create_dir_all(root.join("blobs"))?;
    config.master_key_file = root.join("master.key");
    let server = Server::build(config, Arc::new(clock)).await?;
    let state = server.state().clone();
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run_until(async move {
        let _ = stopped.await;
    }));
    Ok((state, addr, (stop, task)))
}
