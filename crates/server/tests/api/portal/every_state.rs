//! One account with a card on file and a mailbox in every state a customer can meet (trial,
//! paid, payment overdue, suspended, returned, canceled, a downgrade and a cancel pending), an
//! issued invoice, a failed payment and a delivery with photos; and the list of every portal page of that account. The
//! plain-words crawl reads each page here, the Chromium crawl measures each at 375 px.

use smartbox_billing::CardDetails;
use smartbox_domain::{
    DeviceId, InvoiceStatus, LifecycleState, PaymentStatus, PlanId, SubscriptionId,
    SubscriptionStatus,
};
use smartbox_server::services::{self, Actor};
use smartbox_server::{AppState, provisioning};
use smartbox_store::VitalsRow;
use smartbox_store::changes::{Change, Changes, NewInvoice, NewPayment};

use super::helpers::deliver_photos_at;

/// The seeded customer's password.
pub const PASSWORD: &str = "seeded account passphrase";

/// The seeded account: who to log in as and every page to visit.
#[derive(Debug)]
pub struct EveryState {
    pub email: String,
    pub pages: Vec<String>,
}

/// The states seeded, by serial: (serial, plan, subscription status, lifecycle).
const MAILBOXES: &[(&str, PlanId, SubscriptionStatus, LifecycleState)] = &[
    (
        "SB-WORDS-TRIAL",
        PlanId::Plus,
        SubscriptionStatus::Trialing,
        LifecycleState::ActiveSubscription,
    ),
    (
        "SB-WORDS-ACTIVE",
        PlanId::Plus,
        SubscriptionStatus::Active,
        LifecycleState::ActiveSubscription,
    ),
    (
        "SB-WORDS-PASTDUE",
        PlanId::Basic,
        SubscriptionStatus::PastDue,
        LifecycleState::ActiveSubscription,
    ),
    (
        "SB-WORDS-SUSPENDED",
        PlanId::Basic,
        SubscriptionStatus::Suspended,
        LifecycleState::Suspended,
    ),
    (
        "SB-WORDS-CANCELED",
        PlanId::Premium,
        SubscriptionStatus::Canceled,
        LifecycleState::ActiveSubscription,
    ),
    (
        "SB-WORDS-RETURNED",
        PlanId::Basic,
        SubscriptionStatus::Trialing,
        LifecycleState::Returned,
    ),
];

/// A small real JPEG.
pub fn jpeg() -> Vec<u8> {
    let (w, h) = (64_u16, 48_u16);
    let pixels: Vec<u8> = (0..usize::from(w) * usize::from(h) * 3)
        .map(|i| (i % 251) as u8)
        .collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
        .expect("a JPEG");
    out
}

/// Seeds the account `email` at `now` (epoch ms) on `state`'s database.
pub async fn seed(state: &AppState, email: &str, now: i64) -> EveryState {
    let db = &state.db;
    let user_id = provisioning::create_user(db, email, PASSWORD, "customer", now)
        .await
        .expect("the customer");
    let card = CardDetails {
        exp_month: 12,
        exp_year: 2030,
        ..CardDetails::test("4242424242424242")
    };
    services::payment_methods::save(
        state,
        &Actor::customer(user_id.as_str()),
        services::payment_methods::NewCard::TestCard(card),
    )
    .await
    .expect("a card on file");
    let serials: Vec<_> = MAILBOXES
        .iter()
        .enumerate()
        .map(|(i, (s, ..))| (i + 2, smartbox_domain::Serial::parse(s).expect("a serial")))
        .collect();
    provisioning::import_devices(db, &state.master_key, &serials, now)
        .await
        .expect("devices imported");
    let mut pages: Vec<String> = [
        "/dashboard",
        "/gallery",
        "/devices",
        "/billing",
        "/billing/payment-method",
        "/settings",
        "/account",
        "/claim",
        "/no-such-page",
    ]
    .iter()
    .map(|p| (*p).to_owned())
    .collect();
    let mut first_invoice = None;
    for (serial, plan, status, lifecycle) in MAILBOXES {
        let device = db.device_by_serial(serial).await.unwrap().expect("device");
        let (sub, claimed) = provisioning::start_trial(db, &device.id, &user_id, *plan, now, "cli")
            .await
            .expect("trial");
        assert!(claimed);
        pages.push(format!("/devices/{}", device.id));
        db.record_vitals(&VitalsRow {
            device_id: device.id.clone(),
            recorded_at: now - 5 * 60_000,
            battery_percentage: 83,
            power_state: "uploading".into(),
            signal_dbm: -79,
            network: "cellular".into(),
            firmware_version: "1.0.0".into(),
            modem_tx_bytes: 733,
            modem_rx_bytes: 733,
            sd_queue_len: 0,
            sd_oldest_age_s: None,
            sd_failed_deliveries: None,
        })
        .await
        .expect("vitals");
        if *status != SubscriptionStatus::Trialing {
            assert!(
                db.set_subscription_status(
                    &SubscriptionId::new(sub.as_str()),
                    SubscriptionStatus::Trialing,
                    *status,
                    now
                )
                .await
                .unwrap()
            );
        }
        if *lifecycle == LifecycleState::Suspended {
            let from = LifecycleState::ActiveSubscription;
            assert!(
                db.set_device_lifecycle(
                    &DeviceId::new(&device.id),
                    from,
                    LifecycleState::Suspended
                )
                .await
                .unwrap()
            );
        }
        if *lifecycle == LifecycleState::Returned {
            let id = DeviceId::new(&device.id);
            services::staff_devices::receive_return(state, &Actor::Cli, &id, "box arrived")
                .await
                .expect("returned");
        }
        if *status == SubscriptionStatus::Trialing && *lifecycle != LifecycleState::Returned {
            let event = uuid::Uuid::new_v4().to_string();
            deliver_photos_at(state, &device.id, &event, &[jpeg(), jpeg()], now - 60_000).await;
            pages.push(format!("/gallery/{event}"));
            pages.push(format!(
                "/billing/plan?subscription={sub}&plan={}",
                PlanId::Premium.as_str()
            ));
            pages.push(format!(
                "/billing/plan?subscription={sub}&plan={}",
                PlanId::Basic.as_str()
            ));
        }
        if *status == SubscriptionStatus::Active {
            let actor = Actor::customer(user_id.as_str());
            let id = SubscriptionId::new(sub.as_str());
            services::subscriptions::change_plan(state, &actor, &id, PlanId::Basic)
                .await
                .expect("a downgrade at the next period");
            services::subscriptions::cancel(state, &actor, &id)
                .await
                .expect("a cancel at period end");
            first_invoice.get_or_insert(sub.clone());
        }
        if *status == SubscriptionStatus::PastDue {
            let invoice = issue_invoice_with_failed_payment(state, &user_id, &sub, now).await;
            pages.push(format!("/billing/invoices/{invoice}"));
        }
    }
    EveryState {
        email: email.to_owned(),
        pages,
    }
}

/// An open invoice of `subscription` whose charge the issuer declined.
async fn issue_invoice_with_failed_payment(
    state: &AppState,
    customer: &str,
    subscription: &str,
    now: i64,
) -> String {
    let invoice_id = uuid::Uuid::new_v4().to_string();
    let mut changes = Changes::new();
    changes.push(Change::InsertInvoice(NewInvoice {
        id: invoice_id.clone(),
        subscription_id: subscription.to_owned(),
        customer_id: customer.to_owned(),
        kind: "renewal".into(),
        period_start: now,
        period_end: now + 30 * 24 * 3600 * 1000,
        status: InvoiceStatus::Open,
        total_cents: 500,
        idempotency_key: invoice_id.clone(),
        created_at: now,
        lines: vec![("Basic plan".into(), 500)],
    }));
    changes.push(Change::InsertPayment(NewPayment {
        id: uuid::Uuid::new_v4().to_string(),
        invoice_id: invoice_id.clone(),
        amount_cents: 500,
        status: PaymentStatus::Failed,
        provider: "sandbox".into(),
        provider_payment_id: None,
        failure_code: Some("card_declined".into()),
        failure_message: Some("generic_decline".into()),
        created_at: now,
    }));
    state
        .db
        .apply_changes(&changes)
        .await
        .expect("invoice written");
    invoice_id
}

/// Why `text` (a page's visible text) would puzzle a customer: internal names, unpluralised
/// counts, byte counts in letters; `None` when it reads as plain words.
pub fn raw_words(text: &str) -> Option<String> {
    const PHRASES: &[&str] = &[
        "active_subscription",
        "pre_activation",
        "past_due",
        "trialing",
        "day(s)",
        "(s) ",
        "basic plan",
        "plus plan",
        "premium plan",
        "Uploading now",
        "Power: uploading",
        "card saved",
        "generic_decline",
        "insufficient_funds",
        "mail_arrived",
        "mail_removed",
        "proration",
        "renewal",
    ];
    for phrase in PHRASES {
        if text.contains(phrase) {
            return Some(format!("the internal word {phrase:?}"));
        }
    }
    for word in text.split(|c: char| c.is_whitespace() || ",.;:()!?".contains(c)) {
        let inner = word.trim_matches('_');
        if inner.contains('_') && inner.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            return Some(format!("the identifier {word:?}"));
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    for pair in words.windows(2) {
        if pair[1].trim_end_matches([',', '.', ')']) == "B"
            && pair[0].chars().all(|c| c.is_ascii_digit())
        {
            return Some(format!("the byte count \"{} B\"", pair[0]));
        }
    }
    None
}

/// The text a person reads on an HTML page: no tags, scripts or styles, entities decoded.
pub fn visible_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let skip_to = ["<script", "<style"]
            .iter()
            .find(|open| tail.starts_with(**open))
            .map(|open| {
                let close = format!("</{}>", &open[1..]);
                tail.find(&close).map_or(tail.len(), |i| i + close.len())
            });
        let end = skip_to.unwrap_or_else(|| tail.find('>').map_or(tail.len(), |i| i + 1));
        out.push(' ');
        rest = &tail[end..];
    }
    out.push_str(rest);
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
}

#[test]
fn the_word_check_catches_each_kind_of_raw_word() {
    assert_eq!(raw_words("Status: Free trial, 7 days left"), None);
    assert!(raw_words("Status: trialing").is_some());
    assert!(raw_words("Lifecycle suspended_by_x here").is_some());
    assert!(raw_words("7 day(s) left").is_some());
    assert!(raw_words("Changes to plus plan").is_some());
    assert!(raw_words("Data: 733 B of 1 GB").is_some());
    assert_eq!(raw_words("Data: under 1 kB of 1 GB"), None);
    assert_eq!(
        visible_text("<p class=\"past_due\">A&amp;B<script>x_y</script></p>").trim(),
        "A&B"
    );
}
