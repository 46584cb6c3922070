//! The test world: the real server on a temporary database, on a clock the simulation moves, and
//! simulated mailboxes provisioned in it.

use std::rc::Rc;

use smartbox_domain::PlanId;
use smartbox_sim::energy::Currents;
use smartbox_sim::harness::LocalServer;
use smartbox_sim::ledger::{self, Made, Tally};
use smartbox_sim::mailbox::{Mailbox, MailboxSpec};
use smartbox_sim::net::{HttpNetwork, Network};
use smartbox_sim::provision::DeviceKeys;
use smartbox_store::{DeviceRow, MailEventRow, PhotoRow};

pub const MIN: u64 = 60_000;
pub const HOUR: u64 = 60 * MIN;

pub struct World {
    pub runtime: tokio::runtime::Runtime,
    pub server: LocalServer,
    pub epoch_ms: i64,
}

impl World {
    pub fn new() -> Self {
        Self::serving(None)
    }

    /// The server serving HTTPS with the certificate chain and key of `tls`.
    pub fn with_tls(tls: smartbox_server::tls::TlsFiles) -> Self {
        Self::serving(Some(tls))
    }

    fn serving(tls: Option<smartbox_server::tls::TlsFiles>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let epoch_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis() as i64;
        let server = runtime
            .block_on(async {
                match tls {
                    Some(tls) => LocalServer::start_tls(epoch_ms, tls).await,
                    None => LocalServer::start(epoch_ms).await,
                }
            })
            .expect("server starts");
        Self {
            runtime,
            server,
            epoch_ms,
        }
    }

    pub fn provision(&self, serials: &[&str]) -> Vec<DeviceKeys> {
        let serials: Vec<String> = serials.iter().map(|s| (*s).to_owned()).collect();
        self.runtime
            .block_on(self.server.provision(&serials, PlanId::Premium))
            .expect("provisioned")
    }

    pub fn network(&self) -> Rc<dyn Network> {
        self.http_network()
    }

    /// The network itself, for its gate's record of connection attempts.
    pub fn http_network(&self) -> Rc<HttpNetwork> {
        Rc::new(self.server.network().expect("client"))
    }

    pub fn spec(keys: &DeviceKeys, seed: u64) -> MailboxSpec {
        MailboxSpec::new(&keys.serial, keys.secret, seed)
    }

    pub fn mailbox(&self, spec: &MailboxSpec) -> Mailbox {
        Mailbox::new(
            spec,
            self.network(),
            &self.server.url(),
            self.epoch_ms,
            Currents::default(),
        )
        .expect("mailbox")
    }

    pub fn tally(&self, mailboxes: &[&Mailbox]) -> Tally {
        let made: Vec<Made> = mailboxes
            .iter()
            .map(|m| Made {
                serial: m.serial().to_owned(),
                events: m.generated().iter().map(|e| e.event_id).collect(),
            })
            .collect();
        self.runtime
            .block_on(ledger::tally(self.server.db(), &made, self.epoch_ms))
            .expect("tally")
    }

    pub fn device(&self, serial: &str) -> DeviceRow {
        self.runtime
            .block_on(self.server.db().device_by_serial(serial))
            .expect("query")
            .expect("device exists")
    }

    pub fn events(&self, serial: &str) -> Vec<MailEventRow> {
        let device = self.device(serial);
        self.runtime
            .block_on(self.server.db().events_of_device(&device.id, None, 100))
            .expect("query")
    }

    pub fn photos(&self, event_id: &str) -> Vec<PhotoRow> {
        self.runtime
            .block_on(self.server.db().photos_of_event(event_id))
            .expect("query")
    }

    /// Timer wakes, each `sleep_ms` after the last one ended, until the SD queue is empty.
    pub fn wake_until_flushed(mailbox: &mut Mailbox, max_wakes: usize) -> usize {
        let mut wakes = 0;
        while mailbox.queue_len() > 0 {
            assert!(
                wakes < max_wakes,
                "still {} queued after {wakes} timer wakes",
                mailbox.queue_len()
            );
            let at = mailbox.board().now_ms() + smartbox_firmware::policy::TIMER_WAKE_MS;
            mailbox.wake(at, smartbox_firmware::policy::Wake::Timer);
            wakes += 1;
        }
        wakes
    }
}
