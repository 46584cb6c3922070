//! What the server's benchmarks share: their knobs and the mailboxes they provision.

use smartbox_domain::PlanId;
use smartbox_server::{AppState, Clock, SystemClock, provisioning};

mod knob;
pub use knob::knob;

/// A provisioned mailbox and the secret it signs with.
#[derive(Debug, Clone)]
pub struct Device {
    pub serial: String,
    pub secret: [u8; 32],
}

/// Imports `count` mailboxes (serials `<prefix>-000000` on) and starts each one's trial on
/// Premium (unlimited notifications, so no phase is ever capped) for one customer; returns the
/// customer's id and the mailboxes.
pub async fn provision(
    state: &AppState,
    prefix: &str,
    count: usize,
) -> anyhow::Result<(String, Vec<Device>)> {
    let now = SystemClock.now_ms();
    let csv: String = std::iter::once("serial".to_owned())
        .chain((0..count).map(|i| format!("{prefix}-{i:06}")))
        .collect::<Vec<_>>()
        .join("\n");
    let serials = provisioning::read_serials(csv.as_bytes())?;
    let records = provisioning::import_devices(&state.db, &state.master_key, &serials, now).await?;
    let customer = provisioning::create_user(
        &state.db,
        "bench@example.com",
        "bench-password",
        "customer",
        now,
    )
    .await?;
    let mut devices = Vec::with_capacity(count);
    for record in records {
        let device = state
            .db
            .device_by_serial(&record.serial)
            .await?
            .ok_or_else(|| anyhow::anyhow!("{} vanished", record.serial))?;
        provisioning::start_trial(
            &state.db,
            &device.id,
            &customer,
            PlanId::Premium,
            now,
            "cli",
        )
        .await?;
        let mut secret = [0u8; 32];
        hex::decode_to_slice(&record.secret_hex, &mut secret)?;
        devices.push(Device {
            serial: record.serial,
            secret,
        });
    }
    Ok((customer, devices))
}
