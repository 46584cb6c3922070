//! A customer's data, as they (or staff on their behalf) take it away: one zip of JSON files
//! and the decrypted photos (`smartbox customers export --email E --out F.zip`).
//!
//! ```text
//! README.txt            what each file holds
//! account.json          the account (no password hash)
//! mailboxes.json        the mailboxes they own
//! subscriptions.json    their subscriptions
//! invoices.json         their invoices with lines, and payments.json the payments of them
//! mail.json             every mail event, newest first, with its photos' file names
//! photos/<event>-<n>.jpg the photos, as the mailbox sent them
//! ```
//!
//! The zip is written to any `Write + Seek` (a file for the CLI), photo by photo, so an account
//! with years of mail never sits in memory. Photos are stored in the zip as they are (JPEGs do
//! not compress), times are RFC 3339 in UTC, money is integer cents.

use smartbox_domain::{InvoiceId, UserId};
use std::io::{Seek, Write};

use anyhow::Context;
use serde_json::{Value, json};
use smartbox_store::GalleryFilter;
use time::format_description::well_known::Rfc3339;
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

use crate::state::AppState;

/// Gallery rows read per query.
const PAGE: i64 = 200;

/// What an export holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    pub mailboxes: usize,
    pub mail_events: usize,
    pub photos: usize,
}

/// Writes the customer's export into `out`.
pub async fn export<W: Write + Seek>(
    state: &AppState,
    customer_id: &str,
    out: W,
) -> anyhow::Result<Exported> {
    let db = &state.db;
    let user = db
        .user_by_id(customer_id)
        .await?
        .with_context(|| format!("no account {customer_id}"))?;
    let mut zip = ZipWriter::new(out);
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let add = |zip: &mut ZipWriter<W>, name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        zip.start_file(name, options)
            .with_context(|| format!("adding {name}"))?;
        zip.write_all(bytes)
            .with_context(|| format!("writing {name}"))?;
        Ok(())
    };
    add(&mut zip, "README.txt", README.as_bytes())?;
    let account = json!({
        "id": user.id, "email": user.email, "name": user.display_name,
        "time_zone": user.time_zone, "created_at": iso(user.created_at),
    });
    add(&mut zip, "account.json", &pretty(&account)?)?;

    let devices = db.devices_of_owner(customer_id).await?;
    let mailboxes: Vec<Value> = devices
        .iter()
        .map(|d| {
            json!({
                "serial": d.serial, "name": d.name, "location": d.location,
                "state": d.lifecycle_state, "claimed_at": d.claimed_at.map(iso),
                "last_seen_at": d.last_seen_at.map(iso), "battery_percent": d.battery_percentage,
                "firmware_version": d.firmware_version,
            })
        })
        .collect();
    add(
        &mut zip,
        "mailboxes.json",
        &pretty(&Value::from(mailboxes))?,
    )?;

    let subscriptions: Vec<Value> = db
        .subscriptions_of_customer(&UserId::new(customer_id))
        .await?
        .iter()
        .map(|s| {
            json!({
                "id": s.id, "mailbox": serial_of(&devices, &s.device_id), "plan": s.plan_id,
                "status": s.status, "current_period_start": iso(s.current_period_start),
                "current_period_end": iso(s.current_period_end),
                "cancel_at_period_end": s.cancel_at_period_end, "spend_cap_cents": s.spend_cap_cents,
                "created_at": iso(s.created_at),
            })
        })
        .collect();
    add(
        &mut zip,
        "subscriptions.json",
        &pretty(&Value::from(subscriptions))?,
    )?;

    let mut invoices = Vec::new();
    for invoice in db.invoices_of_customer(&UserId::new(customer_id)).await? {
        let lines: Vec<Value> = db
            .invoice_lines(&InvoiceId::new(invoice.id.as_str()))
            .await?
            .iter()
            .map(|l| json!({ "description": l.description, "amount_cents": l.amount_cents }))
            .collect();
        invoices.push(json!({
            "number": invoice.number, "kind": invoice.kind, "status": invoice.status,
            "total_cents": invoice.total_cents, "period_start": iso(invoice.period_start),
            "period_end": iso(invoice.period_end), "created_at": iso(invoice.created_at),
            "paid_at": invoice.paid_at.map(iso), "lines": lines,
        }));
    }
    add(&mut zip, "invoices.json", &pretty(&Value::from(invoices))?)?;
    let payments: Vec<Value> = db
        .payments_of_customer(&UserId::new(customer_id))
        .await?
        .iter()
        .map(|p| {
            json!({
                "invoice_id": p.invoice_id, "amount_cents": p.amount_cents, "status": p.status,
                "failure": p.failure_message, "created_at": iso(p.created_at),
            })
        })
        .collect();
    add(&mut zip, "payments.json", &pretty(&Value::from(payments))?)?;

    let mut exported = Exported {
        mailboxes: devices.len(),
        ..Exported::default()
    };
    let mut events = Vec::new();
    let mut before: Option<(i64, String)> = None;
    loop {
        let filter = GalleryFilter {
            before: before.as_ref().map(|(at, id)| (*at, id.as_str())),
            ..GalleryFilter::default()
        };
        let page = db.gallery_page(customer_id, &filter, PAGE).await?;
        for event in &page {
            let mut files = Vec::new();
            for photo in db.photos_of_event(&event.id).await? {
                let name = format!("photos/{}-{}.jpg", event.id, photo.idx);
                let bytes = state.photos.get(&photo.blob_key).await?.bytes;
                add(&mut zip, &name, &bytes)?;
                files.push(name);
                exported.photos += 1;
            }
            events.push(json!({
                "id": event.id, "mailbox": event.device_serial, "kind": event.kind,
                "occurred_at": iso(event.occurred_at), "category": event.category,
                "photos": files,
            }));
        }
        match page.last() {
            Some(last) if page.len() as i64 == PAGE => {
                before = Some((last.occurred_at, last.id.clone()));
            }
            _ => break,
        }
    }
    exported.mail_events = events.len();
    add(&mut zip, "mail.json", &pretty(&Value::from(events))?)?;
    zip.finish().context("finishing the zip")?;
    Ok(exported)
}

const README: &str = "Your Smart Mailbox data.\n\n\
account.json        your account\n\
mailboxes.json      your mailboxes\n\
subscriptions.json  your subscriptions\n\
invoices.json       your invoices and their lines\n\
payments.json       the payments of those invoices\n\
mail.json           every mail event, newest first, with its photos\n\
photos/             the photos, as your mailbox took them\n\n\
Times are UTC (RFC 3339); amounts are in cents.\n";

fn serial_of(devices: &[smartbox_store::DeviceRow], device_id: &str) -> Option<String> {
    devices
        .iter()
        .find(|d| d.id == device_id)
        .map(|d| d.serial.clone())
}

fn pretty(value: &Value) -> anyhow::Result<Vec<u8>> {
    Ok(serde_json::to_vec_pretty(value)?)
}

fn iso(ms: i64) -> String {
    smartbox_domain::epoch::from_unix_ms(ms)
        .format(&Rfc3339)
        .unwrap_or_else(|_| ms.to_string())
}
