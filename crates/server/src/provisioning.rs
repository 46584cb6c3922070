//! Getting devices and people into the system: the factory import (secrets and claim codes made
//! here, the secrets sealed with the master key), the plan catalog, staff accounts, and the ops
//! path that activates a device for a customer and starts the 7-day trial.

use std::io::Read;

use rand::RngCore;
use smartbox_domain::ids::{ClaimCode, Email, Serial};
use smartbox_domain::{LifecycleEvent, LifecycleState, PlanId, SubscriptionStatus};
use smartbox_store::changes::{Applied, AuditRecord, Change, Changes, NewSubscriptionRecord};
use smartbox_store::{Db, NewDevice, NewUser, PlanRow, StoreError};

use crate::passwords::{self, Hashing, HashingError};
use crate::secrets::MasterKey;

/// One line of the factory CSV (`serial,secret,claim_code`), printed on the box and flashed into
/// the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactoryRecord {
    pub serial: String,
    /// The device secret as 64 lowercase hex characters.
    pub secret_hex: String,
    pub claim_code: String,
}

/// Why an import was refused, naming the line of the input (1 = the header).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("the input has no `serial` column in its header row")]
    NoSerialColumn,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The trial length (DESIGN §4).
pub const TRIAL_MS: i64 = 7 * 24 * 3600 * 1000;

/// Reads serials from a CSV with a header row that has a `serial` column, refusing bad and
/// repeated serials with their line numbers.
pub fn read_serials(input: impl Read) -> Result<Vec<(usize, Serial)>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers = reader
        .headers()
        .map_err(|err| ImportError::Line {
            line: 1,
            message: err.to_string(),
        })?
        .clone();
    let column = headers
        .iter()
        .position(|h| h.eq_ignore_ascii_case("serial"))
        .ok_or(ImportError::NoSerialColumn)?;
    let mut serials: Vec<(usize, Serial)> = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|err| ImportError::Line {
            line,
            message: err.to_string(),
        })?;
        let text = record.get(column).unwrap_or_default();
        let serial = Serial::parse(text).map_err(|err| ImportError::Line {
            line,
            message: err.to_string(),
        })?;
        if let Some((first, _)) = serials.iter().find(|(_, s)| s == &serial) {
            return Err(ImportError::Line {
                line,
                message: format!("serial {} repeats line {first}", serial.as_str()),
            });
        }
        serials.push((line, serial));
    }
    Ok(serials)
}

/// Creates `pre_activation` devices with fresh secrets and claim codes, all or none. A serial the
/// database already knows is refused with its line number.
pub async fn import_devices(
    db: &Db,
    key: &MasterKey,
    serials: &[(usize, Serial)],
    now_ms: i64,
) -> Result<Vec<FactoryRecord>, ImportError> {
    for (line, serial) in serials {
        if db.device_by_serial(serial.as_str()).await?.is_some() {
            return Err(ImportError::Line {
                line: *line,
                message: format!("serial {} is already imported", serial.as_str()),
            });
        }
    }
    let mut devices = Vec::with_capacity(serials.len());
    let mut records = Vec::with_capacity(serials.len());
    for (_, serial) in serials {
        let credentials = Credentials::new(key, serial);
        devices.push(NewDevice {
            id: uuid::Uuid::now_v7().to_string(),
            serial: serial.as_str().to_owned(),
            secret_ciphertext: credentials.secret_ciphertext,
            claim_code_hash: credentials.claim_code_hash,
            created_at: now_ms,
        });
        records.push(credentials.record);
    }
    db.insert_devices(&devices).await.map_err(|err| match err {
        StoreError::Conflict(serial) => {
            let line = serials
                .iter()
                .find(|(_, s)| s.as_str() == serial)
                .map_or(0, |(l, _)| *l);
            ImportError::Line {
                line,
                message: format!("serial {serial} is already imported"),
            }
        }
        other => other.into(),
    })?;
    Ok(records)
}

/// A fresh device secret and claim code for `serial`: what the factory prints and flashes, and
/// what the database keeps (the secret sealed, the code hashed). Made at import and again at
/// refurbishing.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub record: FactoryRecord,
    pub secret_ciphertext: Vec<u8>,
    pub claim_code_hash: String,
}

impl Credentials {
    pub fn new(key: &MasterKey, serial: &Serial) -> Credentials {
        let mut rng = rand::rng();
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let mut code_bytes = [0u8; 5];
        rng.fill_bytes(&mut code_bytes);
        let claim_code = ClaimCode::from_random_bytes(code_bytes);
        Credentials {
            secret_ciphertext: key.seal_device_secret(serial.as_str(), &secret),
            claim_code_hash: key.claim_code_hash(serial.as_str(), claim_code.as_str()),
            record: FactoryRecord {
                serial: serial.as_str().to_owned(),
                secret_hex: hex::encode(secret),
                claim_code: claim_code.as_str().to_owned(),
            },
        }
    }
}

/// Writes the factory CSV: header `serial,secret,claim_code`.
pub fn write_factory_csv(
    out: impl std::io::Write,
    records: &[FactoryRecord],
) -> Result<(), csv::Error> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(["serial", "secret", "claim_code"])?;
    for r in records {
        writer.write_record([&r.serial, &r.secret_hex, &r.claim_code])?;
    }
    writer.flush()?;
    Ok(())
}

/// Stores the plan catalog of the domain crate (idempotent; run at every start).
pub async fn seed_plans(db: &Db) -> Result<(), StoreError> {
    for id in PlanId::ALL {
        let plan = id.plan();
        db.upsert_plan(&PlanRow {
            id: id.as_str().to_owned(),
            price_cents: plan.price.get(),
            notification_limit: plan.notification_limit.map(saturating_i64),
            data_limit_bytes: saturating_i64(plan.data_limit_bytes),
            notification_overage_cents: plan.notification_overage.map(|c| c.get()),
            data_overage_per_100mb_cents: plan.data_overage_per_100mb.get(),
        })
        .await?;
    }
    Ok(())
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Why an account or activation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProvisioningError {
    #[error("{0}")]
    Invalid(String),
    #[error("no device has serial {0}")]
    UnknownDevice(String),
    #[error("device {serial} cannot be activated: it is {state}")]
    NotActivatable { serial: String, state: String },
    #[error("an account with email {0} already exists")]
    EmailTaken(String),
    #[error(transparent)]
    Hashing(#[from] HashingError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a user with a hashed password; returns its id.
pub async fn create_user(
    db: &Db,
    email: &str,
    password: &str,
    role: &str,
    now_ms: i64,
) -> Result<String, ProvisioningError> {
    let email = check_credentials(email, password)?;
    let hash = passwords::hash(password);
    insert_user(db, &email, &hash, role, now_ms).await
}

/// What a customer signs up with.
#[derive(Debug, Clone, Copy)]
pub struct SignUp<'a> {
    pub email: &'a str,
    pub password: &'a str,
    /// The browser's IANA zone; the account starts in it when it is one of those offered,
    /// else in UTC.
    pub time_zone: &'a str,
}

/// A customer's own sign-up: [`create_user`] with the hash run in one of the bounded `hashing`
/// slots, since anyone can ask for it.
pub async fn sign_up(
    db: &Db,
    hashing: &Hashing,
    credentials: &SignUp<'_>,
    now_ms: i64,
) -> Result<String, ProvisioningError> {
    let email = check_credentials(credentials.email, credentials.password)?;
    let hash = hashing.hash(credentials.password.to_owned()).await?;
    let id = insert_user(db, &email, &hash, "customer", now_ms).await?;
    if crate::time_zone::is_offered(credentials.time_zone) {
        db.set_user_preferences(&id, credentials.time_zone, (None, None))
            .await?;
    }
    Ok(id)
}

fn check_credentials(email: &str, password: &str) -> Result<Email, ProvisioningError> {
    let email = Email::parse(email).map_err(|err| ProvisioningError::Invalid(err.to_string()))?;
    if let Some(why) = crate::accounts::password_rules::refusal(password, email.as_str()) {
        return Err(ProvisioningError::Invalid(why.to_owned()));
    }
    Ok(email)
}

async fn insert_user(
    db: &Db,
    email: &Email,
    hash: &str,
    role: &str,
    now_ms: i64,
) -> Result<String, ProvisioningError> {
    let id = uuid::Uuid::now_v7().to_string();
    let user = NewUser {
        id: &id,
        email: email.as_str(),
        password_hash: hash,
        role,
        created_at: now_ms,
    };
    match db.insert_user(&user).await {
        Ok(()) => Ok(id),
        Err(StoreError::Conflict(_)) => {
            Err(ProvisioningError::EmailTaken(email.as_str().to_owned()))
        }
        Err(err) => Err(err.into()),
    }
}

/// What activating a device did.
#[derive(Debug, Clone)]
pub struct Activation {
    pub customer_id: String,
    pub device_id: String,
    pub subscription_id: String,
    /// Set when the customer account was created by this activation: its first password.
    pub new_customer_password: Option<String>,
    /// The trial's end (the billing anchor), epoch ms.
    pub trial_ends_at: i64,
}

/// The ops path: gives a `pre_activation` device to the customer with `email` (created with a
/// random first password when new), and starts a 7-day trial on `plan`; `by` names who did it in
/// the audit log. The CLI reaches it through `services::claims::activate`.
pub async fn activate_device(
    db: &Db,
    serial: &str,
    email: &str,
    plan: PlanId,
    now_ms: i64,
    by: &str,
) -> Result<Activation, ProvisioningError> {
    let serial =
        Serial::parse(serial).map_err(|err| ProvisioningError::Invalid(err.to_string()))?;
    let normalized =
        Email::parse(email).map_err(|err| ProvisioningError::Invalid(err.to_string()))?;
    let device = db
        .device_by_serial(serial.as_str())
        .await?
        .ok_or_else(|| ProvisioningError::UnknownDevice(serial.as_str().to_owned()))?;
    if device.lifecycle_state.apply(LifecycleEvent::Claim).is_err() {
        return Err(ProvisioningError::NotActivatable {
            serial: serial.as_str().to_owned(),
            state: device.lifecycle_state.to_string(),
        });
    }
    let (customer_id, new_customer_password) = match db.user_by_email(normalized.as_str()).await? {
        Some(user) => (user.id, None),
        None => {
            let password = random_password();
            let id = create_user(db, normalized.as_str(), &password, "customer", now_ms).await?;
            (id, Some(password))
        }
    };
    seed_plans(db).await?;
    let claimed = start_trial(db, &device.id, &customer_id, plan, now_ms, by).await?;
    if !claimed.1 {
        return Err(ProvisioningError::NotActivatable {
            serial: serial.as_str().to_owned(),
            state: "claimed by someone else meanwhile".to_owned(),
        });
    }
    Ok(Activation {
        customer_id,
        device_id: device.id,
        subscription_id: claimed.0,
        new_customer_password,
        trial_ends_at: now_ms + TRIAL_MS,
    })
}

/// Claims the device for the customer and creates its trialing subscription, with the audit
/// entry naming `by`, in one transaction. Returns the subscription id and whether the claim won
/// (false, and nothing written: the device was not in `pre_activation` any more, or already has
/// a live subscription).
pub async fn start_trial(
    db: &Db,
    device_id: &str,
    customer_id: &str,
    plan: PlanId,
    now_ms: i64,
    by: &str,
) -> Result<(String, bool), StoreError> {
    let subscription_id = uuid::Uuid::now_v7().to_string();
    let from = LifecycleState::PreActivation;
    let Ok(claimed) = from.apply(LifecycleEvent::Claim) else {
        return Ok((subscription_id, false));
    };
    let anchor = now_ms + TRIAL_MS;
    let mut changes = Changes::new();
    changes.push(Change::ClaimDevice {
        device_id: device_id.to_owned(),
        owner_id: customer_id.to_owned(),
        at: now_ms,
    });
    changes.push(Change::InsertSubscription(NewSubscriptionRecord {
        id: subscription_id.clone(),
        device_id: device_id.to_owned(),
        customer_id: customer_id.to_owned(),
        plan_id: plan.as_str().to_owned(),
        status: SubscriptionStatus::Trialing,
        anchor_at: anchor,
        current_period_start: now_ms,
        current_period_end: anchor,
        created_at: now_ms,
    }));
    changes.push(Change::Audit(AuditRecord {
        at: now_ms,
        actor: by.to_owned(),
        entity_type: "device".to_owned(),
        entity_id: device_id.to_owned(),
        action: "claim".to_owned(),
        detail: serde_json::json!({
            "customer_id": customer_id,
            "plan": plan.as_str(),
            "subscription_id": subscription_id,
            "before": from.as_str(),
            "after": claimed.to.as_str(),
            "trial_ends_at": anchor,
        })
        .to_string(),
    }));
    let won = db.apply_changes(&changes).await? == Applied::Done;
    Ok((subscription_id, won))
}

/// A random 16-character password from an unambiguous alphabet.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_come_from_the_serial_column_with_line_numbers() {
        let csv = "batch,serial\n7,SB-0001\n7,SB-0002\n";
        let serials = read_serials(csv.as_bytes()).expect("valid");
        assert_eq!(serials.len(), 2);
        assert_eq!(serials[1].0, 3);
        assert_eq!(serials[1].1.as_str(), "SB-0002");
    }

    #[test]
    fn a_bad_or_repeated_serial_is_refused_with_its_line() {
        let err = read_serials("serial\nSB-0001\nsb 2\n".as_bytes()).unwrap_err();
        assert!(err.to_string().starts_with("line 3:"), "{err}");
        let err = read_serials("serial\nSB-0001\nSB-0001\n".as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("line 3") && err.to_string().contains("line 2"),
            "{err}"
        );
        assert!(matches!(
            read_serials("id\n1\n".as_bytes()),
            Err(ImportError::NoSerialColumn)
        ));
    }

    #[test]
    fn the_factory_csv_has_the_agreed_header() {
        let mut out = Vec::new();
        let record = FactoryRecord {
            serial: "SB-1".into(),
            secret_hex: "ab".repeat(32),
            claim_code: "ABCD2345".into(),
        };
        write_factory_csv(&mut out, &[record]).expect("written");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(
            text.starts_with("serial,secret,claim_code\nSB-1,abab"),
            "{text}"
        );
    }
}
