//! What one process tells the others, as one `NOTIFY` payload: which device contexts to forget,
//! whether the rollouts changed, and whose dashboards have news. Changes are gathered for a few
//! milliseconds and sent together, cut into payloads that PostgreSQL accepts.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Changes gathered since the last send (and, on the wire, one payload of them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The process that sent it, which skips its own batches (it applied them already).
    #[serde(rename = "o", default)]
    pub origin: String,
    /// Every device context is stale (a billing job, a payment webhook).
    #[serde(rename = "a", default, skip_serializing_if = "is_false")]
    pub all_devices: bool,
    /// Serials whose contexts are stale.
    #[serde(rename = "d", default, skip_serializing_if = "BTreeSet::is_empty")]
    pub devices: BTreeSet<String>,
    /// The rollouts or the published firmware changed.
    #[serde(rename = "r", default, skip_serializing_if = "is_false")]
    pub rollouts: bool,
    /// Customers whose mailboxes had news (mail, a photo, a heartbeat).
    #[serde(rename = "w", default, skip_serializing_if = "BTreeSet::is_empty")]
    pub owners: BTreeSet<String>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl Batch {
    /// Nothing to tell.
    pub fn is_empty(&self) -> bool {
        !self.all_devices && self.devices.is_empty() && !self.rollouts && self.owners.is_empty()
    }

    /// The batch as payloads of at most `max_bytes` each (the flags ride in the first).
    pub fn payloads(&self, max_bytes: usize) -> Vec<String> {
        let mut payloads = Vec::new();
        let mut current = Batch {
            origin: self.origin.clone(),
            all_devices: self.all_devices,
            rollouts: self.rollouts,
            ..Batch::default()
        };
        // Each entry costs its quotes and comma; the skeleton of an object about 40 bytes.
        let skeleton = self.origin.len() + 40;
        let mut size = skeleton;
        let entries = self
            .devices
            .iter()
            .map(|serial| (true, serial))
            .chain(self.owners.iter().map(|owner| (false, owner)));
        for (is_device, entry) in entries {
            let cost = entry.len() + 3;
            if size + cost > max_bytes && !current.is_empty() {
                payloads.push(current.encode());
                current = Batch {
                    origin: self.origin.clone(),
                    ..Batch::default()
                };
                size = skeleton;
            }
            if is_device {
                current.devices.insert(entry.clone());
            } else {
                current.owners.insert(entry.clone());
            }
            size += cost;
        }
        if !current.is_empty() {
            payloads.push(current.encode());
        }
        payloads
    }

    fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A received payload; `None` when it is not one of ours.
    pub fn decode(payload: &str) -> Option<Batch> {
        serde_json::from_str(payload).ok()
    }

    /// Takes in another batch's changes.
    pub fn merge(&mut self, other: Batch) {
        self.all_devices |= other.all_devices;
        self.rollouts |= other.rollouts;
        self.devices.extend(other.devices);
        self.owners.extend(other.owners);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big() -> Batch {
        Batch {
            origin: "0190c0de-0000-7000-8000-000000000001".into(),
            all_devices: true,
            devices: (0..300).map(|i| format!("SB-{i:06}")).collect(),
            rollouts: true,
            owners: (0..500)
                .map(|i| format!("0190c0de-0000-7000-8000-{i:012}"))
                .collect(),
        }
    }

    #[test]
    fn a_large_batch_is_cut_into_payloads_postgresql_accepts_and_loses_nothing() {
        let batch = big();
        let payloads = batch.payloads(smartbox_store::MAX_SIGNAL_BYTES);
        assert!(payloads.len() > 1);
        let mut joined = Batch {
            origin: batch.origin.clone(),
            ..Batch::default()
        };
        for payload in &payloads {
            assert!(
                payload.len() <= smartbox_store::MAX_SIGNAL_BYTES,
                "{}",
                payload.len()
            );
            let part = Batch::decode(payload).expect("our own payload decodes");
            assert_eq!(part.origin, batch.origin);
            joined.merge(part);
        }
        assert_eq!(joined, batch);
    }

    #[test]
    fn a_small_batch_is_one_payload_and_flags_alone_are_sent() {
        let flags = Batch {
            origin: "p".into(),
            rollouts: true,
            ..Batch::default()
        };
        let payloads = flags.payloads(smartbox_store::MAX_SIGNAL_BYTES);
        assert_eq!(payloads, vec![r#"{"o":"p","r":true}"#.to_owned()]);
        assert_eq!(Batch::decode(&payloads[0]), Some(flags));
        assert!(Batch::default().payloads(100).is_empty());
    }

    #[test]
    fn a_payload_that_is_not_ours_is_ignored() {
        assert_eq!(Batch::decode("hello"), None);
    }
}
