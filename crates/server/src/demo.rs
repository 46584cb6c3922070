//! The demo's seed: the plan catalog, one admin, one customer and one mailbox already activated for
//! that customer. Passwords are set afresh on every run so they can be printed; the demo device's
//! factory record (its secret) is kept in `data/demo-factory.csv` for the simulator.

use std::path::Path;

use smartbox_domain::{DeviceId, LifecycleState, PlanId, UserId};
use smartbox_store::Db;

use crate::passwords;
use crate::provisioning::{self, FactoryRecord};
use crate::secrets::MasterKey;

/// The accounts and device the demo made or refreshed.
#[derive(Debug, Clone)]
pub struct DemoSeed {
    pub admin_email: String,
    pub admin_password: String,
    pub customer_email: String,
    pub customer_password: String,
    pub devices: Vec<FactoryRecord>,
}

pub const ADMIN_EMAIL: &str = "admin@smartbox.example";
pub const CUSTOMER_EMAIL: &str = "customer@smartbox.example";
pub const DEMO_SERIALS: [&str; 3] = ["DEMO-0001", "DEMO-0002", "DEMO-0003"];

/// Seeds (or refreshes) the demo data. `factory_file` keeps the demo devices' secrets across runs.
pub async fn seed(
    db: &Db,
    key: &MasterKey,
    factory_file: &Path,
    now_ms: i64,
) -> anyhow::Result<DemoSeed> {
    provisioning::seed_plans(db).await?;
    let admin_password = provisioning::random_password();
    let customer_password = provisioning::random_password();
    ensure_user(db, ADMIN_EMAIL, &admin_password, "admin", now_ms).await?;
    let customer_id =
        ensure_user(db, CUSTOMER_EMAIL, &customer_password, "customer", now_ms).await?;

    let mut devices = read_factory(factory_file);
    let known: Vec<String> = devices.iter().map(|d| d.serial.clone()).collect();
    let mut missing = Vec::new();
    for (i, serial) in DEMO_SERIALS.iter().enumerate() {
        if db.device_by_serial(serial).await?.is_none() || !known.iter().any(|k| k == serial) {
            if db.device_by_serial(serial).await?.is_some() {
                anyhow::bail!(
                    "device {serial} exists but its secret is not in {}: remove the data folder to start over",
                    factory_file.display()
                );
            }
            missing.push((i + 2, smartbox_domain::Serial::parse(serial)?));
        }
    }
    if !missing.is_empty() {
        devices.extend(provisioning::import_devices(db, key, &missing, now_ms).await?);
        if let Some(dir) = factory_file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        provisioning::write_factory_csv(std::fs::File::create(factory_file)?, &devices)?;
    }
    for (serial, plan) in DEMO_SERIALS
        .iter()
        .zip([PlanId::Basic, PlanId::Plus, PlanId::Premium])
    {
        let device = db
            .device_by_serial(serial)
            .await?
            .ok_or_else(|| anyhow::anyhow!("demo device {serial} vanished"))?;
        if device.lifecycle_state == LifecycleState::PreActivation {
            provisioning::start_trial(db, &device.id, &customer_id, plan, now_ms, "cli").await?;
            let name = format!("Mailbox {}", &serial[serial.len() - 1..]);
            db.set_device_name_location(&DeviceId::new(&device.id), &name, "Front gate")
                .await?;
        }
    }
    Ok(DemoSeed {
        admin_email: ADMIN_EMAIL.to_owned(),
        admin_password,
        customer_email: CUSTOMER_EMAIL.to_owned(),
        customer_password,
        devices,
    })
}

async fn ensure_user(
    db: &Db,
    email: &str,
    password: &str,
    role: &str,
    now_ms: i64,
) -> anyhow::Result<String> {
    match db.user_by_email(email).await? {
        Some(user) => {
            db.set_password_hash(&UserId::new(&user.id), &passwords::hash(password))
                .await?;
            Ok(user.id)
        }
        None => Ok(provisioning::create_user(db, email, password, role, now_ms).await?),
    }
}

fn read_factory(path: &Path) -> Vec<FactoryRecord> {
    let Ok(mut reader) = csv::Reader::from_path(path) else {
        return Vec::new();
    };
    reader
        .records()
        .filter_map(Result::ok)
        .filter_map(|r| {
            Some(FactoryRecord {
                serial: r.get(0)?.to_owned(),
                secret_hex: r.get(1)?.to_owned(),
                claim_code: r.get(2)?.to_owned(),
            })
        })
        .collect()
}
