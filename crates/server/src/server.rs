//! Starting and stopping the service: open the database and blob store, migrate, seed the plan
//! catalog, bind, serve until asked to stop, then drain requests and close the database.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use smartbox_store::Db;
use tokio::net::TcpListener;

use crate::app::app;
use crate::blobs;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::connections;
use crate::jobs;
use crate::master_key_rotation;
use crate::provisioning::seed_plans;
use crate::secrets::MasterKey;
use crate::state::{AppState, payments_for};
use crate::tls::Tls;

/// A server that is bound and ready to serve.
#[derive(Debug)]
pub struct Server {
    state: AppState,
    listener: TcpListener,
    /// HTTPS, when the configuration names a certificate.
    tls: Option<Tls>,
}

impl Server {
    /// Opens everything the configuration names and binds the listen address (port 0 picks a
    /// free one). Errors name the variable at fault.
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Server> {
        install_crypto_provider();
        // A certificate that does not load stops the start, before anything else is opened.
        let tls = config.tls.clone().map(Tls::load).transpose()?;
        let state = open_state(config, clock).await?;
        let listener = TcpListener::bind(state.config.bind)
            .await
            .with_context(|| format!("SMARTBOX_BIND: cannot listen on {}", state.config.bind))?;
        Ok(Server {
            state,
            listener,
            tls,
        })
    }

    /// The scheme clients use: `https` when the server speaks TLS itself.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The TLS configuration, to reload the certificate (SIGHUP does the same).
    pub fn tls(&self) -> Option<&Tls> {
        self.tls.as_ref()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.state.config.bind)
    }

    /// The shared state (for tests and the demo's seeding).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves (and runs the job worker) until `shutdown` completes, then ends the live streams,
    /// finishes in-flight requests (within the configured drain deadline) and the job in hand,
    /// and closes the database.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Server {
            state,
            listener,
            tls,
        } = self;
        if let Some(tls) = &tls {
            tls.reload_on_sighup();
        }
        let db = state.db.clone();
        tracing::info!(addr = %listener.local_addr()?, database = db.backend().as_str(), "serving");
        // The other processes on this database: their changes to devices and rollouts, and
        // news for the live dashboards (PostgreSQL only).
        crate::cluster::listener::listen(&state);
        state.mail_model.announce();
        let (stop_jobs, jobs_stopped) = tokio::sync::watch::channel(false);
        // Several workers, so one slow job (a webhook peer that hangs until its timeout) does
        // not hold back the notifications queued behind it.
        let workers: Vec<_> = (0..jobs::WORKERS_PER_PROCESS)
            .map(|_| jobs::Worker::new(state.clone(), jobs::registry()).spawn(jobs_stopped.clone()))
            .collect();
        let streams = state.clone();
        let shutdown = async move {
            shutdown.await;
            let _ = stop_jobs.send(true);
            streams.stop_streams();
        };
        let deadlines = state.config.connection_deadlines;
        connections::serve(listener, app(state), deadlines, tls, shutdown).await;
        for worker in workers {
            if let Err(error) = worker.await {
                tracing::error!(%error, "a job worker ended abnormally");
            }
        }
        db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Opens the database (migrated, plans seeded), the blob store and the master key.
pub async fn open_state(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    let db = open_db(&config.database_url).await?;
    seed_plans(&db).await.context("seeding the plan catalog")?;
    let blobs = blobs::open(&config.blob_url)?;
    let master_key = match &config.master_key {
        Some(_) => master_key(&config)?,
        None => {
            master_key_rotation::settle_key_file(&db, &config.master_key_file, clock.now_ms())
                .await?
        }
    };
    master_key_rotation::check(&db, &master_key, clock.now_ms()).await?;
    let payments = payments_for(&config)?;
    let state = AppState::with_payments(config, db, blobs, clock, master_key, payments);
    jobs::seal_photos::enqueue_first(&state)
        .await
        .context("queueing the sealing of photos stored in the clear")?;
    Ok(state)
}

/// Connects to and migrates the database named by `SMARTBOX_DATABASE_URL`.
pub async fn open_db(url: &str) -> anyhow::Result<Db> {
    let db = Db::connect(url)
        .await
        .with_context(|| format!("SMARTBOX_DATABASE_URL: cannot open {}", redact(url)))?;
    db.migrate()
        .await
        .with_context(|| format!("SMARTBOX_DATABASE_URL: cannot migrate {}", redact(url)))?;
    Ok(db)
}

/// The master key from `SMARTBOX_MASTER_KEY`, or the key file (created on first run).
pub fn master_key(config: &Config) -> anyhow::Result<MasterKey> {
    match &config.master_key {
        Some(secret) => MasterKey::from_base64(secret.expose())
            .map_err(|message| anyhow::anyhow!("SMARTBOX_MASTER_KEY: {message}")),
        None => MasterKey::load_or_create(&config.master_key_file).with_context(|| {
            format!(
                "SMARTBOX_MASTER_KEY unset and {} unusable",
                config.master_key_file.display()
            )
        }),
    }
}

/// Serves with the system clock until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let server = Server::build(config, Arc::new(SystemClock)).await?;
    println!(
        "smartbox listening on {}://{}",
        server.scheme(),
        server.local_addr()
    );
    server.run_until(shutdown_signal()).await
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}

/// rustls needs one process-wide crypto provider; we use ring (see DESIGN §10 on build times).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Hides the password in a database URL for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Structured logs to stderr; `RUST_LOG` filters (default `info`), `SMARTBOX_LOG_FORMAT=json`
/// switches to JSON lines.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if std::env::var("SMARTBOX_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            super::redact("postgres://u:pw@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
