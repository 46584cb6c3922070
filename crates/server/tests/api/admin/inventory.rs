//! The device inventory: a factory batch imported in the page (all or none) returns its factory
//! CSV and printable claim labels with QR codes, and the list is filtered by lifecycle,
//! firmware, silence, battery and signal. On both backends.

use axum::http::StatusCode;
use base64::Engine;

use super::{heartbeat, staff};
use crate::portal::helpers::spawn_apps;

#[tokio::test]
async fn staff_import_a_batch_in_the_page_and_get_its_factory_csv_and_claim_labels_once() {
    for app in spawn_apps().await {
        let mut support = staff(&app, "fab@smartbox.example", "support").await;
        let csv = "serial\nSB-LBL-01\nSB-LBL-02\nSB-LBL-03\n";

        let page = support
            .submit(
                "/admin/devices/import",
                "/admin/devices/import",
                &[("csv", csv)],
            )
            .await;

        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert_eq!(
            page.body.matches("<svg class=\"qr\"").count(),
            3,
            "three labels"
        );
        // As a browser reads the attributes: entities decoded.
        let body = page.body.replace("&#x2f;", "/").replace("&amp;", "&");
        let marker = "href=\"data:text/csv;base64,";
        let start = body.find(marker).expect("a factory CSV link") + marker.len();
        let encoded = body[start..].split('"').next().unwrap();
        let factory = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .expect("base64"),
        )
        .unwrap();
        let lines: Vec<&str> = factory.lines().collect();
        assert_eq!(lines.len(), 4, "{factory}");
        assert_eq!(lines[0], "serial,secret,claim_code");
        let code = lines[1].split(',').nth(2).unwrap();
        assert!(
            body.contains(&format!("/claim?serial=SB-LBL-01&code={code}")),
            "the label carries the claim link on {}",
            app.backend
        );
        let device = app.state.db.device_by_serial("SB-LBL-02").await.unwrap();
        assert!(device.is_some(), "imported");

        let again = support
            .submit(
                "/admin/devices/import",
                "/admin/devices/import",
                &[("csv", "serial\nSB-LBL-04\nSB-LBL-01\n")],
            )
            .await;
        assert_eq!(again.status, StatusCode::BAD_REQUEST);
        assert!(
            again
                .body
                .contains("line 3: serial SB-LBL-01 is already imported"),
            "{}",
            again.body
        );
        assert!(again.body.contains("SB-LBL-04"), "the pasted CSV is kept");
        assert!(
            app.state
                .db
                .device_by_serial("SB-LBL-04")
                .await
                .unwrap()
                .is_none(),
            "all or none"
        );
        let empty = support
            .submit(
                "/admin/devices/import",
                "/admin/devices/import",
                &[("csv", "id\n1\n")],
            )
            .await;
        assert_eq!(empty.status, StatusCode::BAD_REQUEST);
        assert!(empty.body.contains("no `serial` column"), "{}", empty.body);
    }
}

#[tokio::test]
async fn the_inventory_is_filtered_by_lifecycle_firmware_silence_battery_and_signal() {
    for app in spawn_apps().await {
        let mut h = app.household("inv@example.com", "SB-INV-01").await;
        assert_eq!(heartbeat(&app, &mut h).await.status, StatusCode::OK);
        app.make_devices(&["SB-INV-02"]).await;
        let mut support = staff(&app, "inv@smartbox.example", "support").await;
        let serials = |body: &serde_json::Value| -> Vec<String> {
            body["devices"]
                .as_array()
                .expect("devices")
                .iter()
                .map(|d| d["serial"].as_str().unwrap().to_owned())
                .collect()
        };
        for (query, expected) in [
            ("", vec!["SB-INV-01", "SB-INV-02"]),
            ("lifecycle=pre_activation", vec!["SB-INV-02"]),
            ("firmware=1.0.0", vec!["SB-INV-01"]),
            ("battery_below=81", vec!["SB-INV-01"]),
            ("battery_below=80", vec![]),
            ("signal_below=-80", vec!["SB-INV-01"]),
            ("signal_below=-90", vec![]),
            ("silent_hours=1", vec!["SB-INV-02"]),
        ] {
            let answer = support
                .api("GET", &format!("/api/admin/v1/devices?{query}"), None)
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{query}: {}", answer.body);
            assert_eq!(
                serials(&answer.json()),
                expected,
                "{query} on {}",
                app.backend
            );
        }
        for bad in ["battery_below=lots", "lifecycle=lost", "signal_below=5"] {
            let answer = support
                .api("GET", &format!("/api/admin/v1/devices?{bad}"), None)
                .await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
            let page = support.get(&format!("/admin/devices?{bad}")).await;
            assert_eq!(page.status, StatusCode::BAD_REQUEST, "{bad}");
        }
        let page = support.get("/admin/devices?firmware=1.0.0").await;
        assert!(page.body.contains("SB-INV-01") && !page.body.contains("SB-INV-02"));
    }
}
