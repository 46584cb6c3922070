//! The outcome of a run counted from the server's database, not from what the devices believe:
//! every mail event the simulated firmware made is looked up among the server's records.

use std::collections::HashSet;

use smartbox_protocol::Uuid;
use smartbox_store::Db;

/// What the server holds for the events a run made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Events made by the devices and stored complete (all photos) by the server.
    pub delivered: u64,
    /// Events the server holds for these devices beyond the ones the devices made (a retry that
    /// became a second event).
    pub duplicated: u64,
    /// Events made by the devices that the server does not hold complete.
    pub lost: u64,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "delivered={} duplicated={} lost={}",
            self.delivered, self.duplicated, self.lost
        )
    }
}

/// Events a device made during the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    /// The device.
    pub serial: String,
    /// Its events' ids.
    pub events: Vec<Uuid>,
}

const PAGE: i64 = 500;

/// Counts, among the server's events of these devices created at or after `since_ms` (server
/// clock), which of the `made` ones are complete, which are missing, and which are extra.
pub async fn tally(db: &Db, made: &[Made], since_ms: i64) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    for device in made {
        let ours: HashSet<String> = device.events.iter().map(|id| id.to_string()).collect();
        let Some(row) = db.device_by_serial(&device.serial).await? else {
            tally.lost += ours.len() as u64;
            continue;
        };
        let mut complete = HashSet::new();
        let mut before: Option<(i64, String)> = None;
        loop {
            let page = db
                .events_of_device(
                    &row.id,
                    before.as_ref().map(|(at, id)| (*at, id.as_str())),
                    PAGE,
                )
                .await?;
            for event in &page {
                if ours.contains(&event.id) {
                    if event.completed_at.is_some() {
                        complete.insert(event.id.clone());
                    }
                } else if event.created_at >= since_ms {
                    tally.duplicated += 1;
                }
            }
            match page.last() {
                Some(last) if page.len() as i64 == PAGE => {
                    before = Some((last.occurred_at, last.id.clone()));
                }
                _ => break,
            }
        }
        tally.delivered += complete.len() as u64;
        tally.lost += (ours.len() - complete.len()) as u64;
    }
    Ok(tally)
}
