//! A customer's data export: one zip with their account, mailboxes, subscriptions, invoices,
//! mail events and the photos decrypted to the bytes the mailbox sent, and nobody else's. On
//! both backends.

use std::io::Read;

use super::helpers::{JPEG, START_MS, spawn_apps};

fn entry(zip: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str) -> Vec<u8> {
    let mut file = zip
        .by_name(name)
        .unwrap_or_else(|_| panic!("{name} in the zip"));
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).expect("readable");
    bytes
}

fn json(zip: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str) -> serde_json::Value {
    serde_json::from_slice(&entry(zip, name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test]
async fn an_export_holds_the_customers_records_and_their_photos_as_sent_and_nobody_elses() {
    for app in spawn_apps().await {
        let h = app.household("exa@example.com", "SB-EXP-01").await;
        let second = uuid::Uuid::new_v4().to_string();
        let photo = b"\xFF\xD8\xFF\xE0 another photo \xFF\xD9".to_vec();
        app.deliver_photos(
            &h.device_id,
            &second,
            &[photo.clone(), photo.clone()],
            START_MS + 90_000,
        )
        .await;
        let other = app.household("other@example.com", "SB-EXP-02").await;

        let mut out = std::io::Cursor::new(Vec::new());
        let exported = smartbox_server::account_export::export(&app.state, &h.user_id, &mut out)
            .await
            .expect("exported");
        assert_eq!(
            (exported.mailboxes, exported.mail_events, exported.photos),
            (1, 2, 3)
        );

        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(out.into_inner())).expect("a zip");
        assert_eq!(json(&mut zip, "account.json")["email"], "exa@example.com");
        assert!(
            !String::from_utf8(entry(&mut zip, "account.json"))
                .unwrap()
                .contains("argon2"),
            "no password hash"
        );
        assert_eq!(json(&mut zip, "mailboxes.json")[0]["serial"], "SB-EXP-01");
        assert_eq!(json(&mut zip, "subscriptions.json")[0]["plan"], "basic");
        assert_eq!(json(&mut zip, "invoices.json")[0]["total_cents"], 500);
        let mail = json(&mut zip, "mail.json");
        assert_eq!(mail[0]["id"], second.as_str(), "newest first");
        assert_eq!(mail[1]["id"], h.event_id.as_str());
        let name = format!("photos/{second}-1.jpg");
        assert_eq!(mail[0]["photos"][1], name.as_str());
        assert_eq!(entry(&mut zip, &name), photo, "decrypted to what was sent");
        assert_eq!(
            entry(&mut zip, &format!("photos/{}-0.jpg", h.event_id)),
            JPEG
        );
        let names: Vec<String> = zip
            .file_names()
            .map(|name| name.expect("a name").into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.contains(&other.event_id)),
            "another customer's mail is not in it: {names:?} on {}",
            app.backend
        );
    }
}
