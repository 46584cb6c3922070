//! OTA updates against a simulated flash with an ESP-IDF-like rollback bootloader: resumable
//! ranged downloads, verification before the switch, confirmation after check-in, rollback.

mod flash;

use ed25519_dalek::{Signer, SigningKey};
use flash::{FailOnce, SimFlash, image};
use heapless::String;
use sha2::{Digest, Sha256};
use smartbox_firmware::ota::{
    ByteRange, FailureReason, InstallOutcome, OtaClient, OtaError, PERSIST_EVERY, Progress,
};
use smartbox_protocol::{FirmwareOffer, FirmwareStatus};

const CAPACITY: usize = 256 * 1024;
const IMAGE_LEN: usize = 150_001;

fn release_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn hex(bytes: &[u8]) -> std::string::String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The server's side: an image and its offer.
struct Release {
    image: Vec<u8>,
    offer: FirmwareOffer,
}

impl Release {
    fn signed_by(version: &str, key: &SigningKey) -> Self {
        let image = image(version, IMAGE_LEN);
        let digest: [u8; 32] = Sha256::digest(&image).into();
        let signature = key.sign(&digest).to_bytes();
        let offer = FirmwareOffer {
            version: String::try_from(version).expect("fits"),
            size: image.len() as u32,
            sha256: String::try_from(hex(&digest).as_str()).expect("fits"),
            signature: String::try_from(hex(&signature).as_str()).expect("fits"),
        };
        Self { image, offer }
    }

    fn new(version: &str) -> Self {
        Self::signed_by(version, &release_key())
    }

    /// The body of `GET` with this range (206).
    fn get(&self, range: ByteRange) -> &[u8] {
        &self.image[range.start as usize..=range.end as usize]
    }
}

fn boot(flash: &mut SimFlash) -> OtaClient {
    let version = flash.running_version();
    OtaClient::boot(flash, &version, &release_key().verifying_key().to_bytes()).expect("boots")
}

/// Fetches ranges of at most `chunk` bytes until complete or until `stop_after` bytes came in;
/// returns the bytes fetched.
fn download(
    client: &mut OtaClient,
    flash: &mut SimFlash,
    release: &Release,
    chunk: u32,
    stop_after: usize,
) -> usize {
    let mut fetched = 0;
    while let Some(range) = client.next_range(chunk) {
        if fetched >= stop_after {
            break;
        }
        let body = release.get(range);
        fetched += body.len();
        client.receive(range.start, body, flash).expect("written");
    }
    fetched
}

fn report_of(
    client: &OtaClient,
) -> (
    std::string::String,
    FirmwareStatus,
    Option<std::string::String>,
) {
    let report = client.report().expect("a report is waiting");
    (
        report.version.to_string(),
        report.status,
        report.detail.map(|d| d.to_string()),
    )
}

#[test]
fn an_update_is_downloaded_verified_switched_and_confirmed_after_check_in() {
    let mut flash = SimFlash::new(CAPACITY, "1.0.0");
    let release = Release::new("2.0.0");
    let mut client = boot(&mut flash);
    assert!(!client.on_trial());
    client
        .offer(&release.offer, &mut flash)
        .expect("offer taken");
    download(&mut client, &mut flash, &release, 16 * 1024, usize::MAX);
    assert!(client.ready_to_install());
    assert_eq!(client.install(&mut flash), Ok(InstallOutcome::Switched));
    assert_eq!(
        report_of(&client),
        ("2.0.0".into(), FirmwareStatus::Downloaded, None)
    );
    assert_eq!(&flash.update_slot()[..IMAGE_LEN], release.image.as_slice());

    flash.reboot();
    assert_eq!(flash.running_version(), "2.0.0");
    let mut client = boot(&mut flash);
    assert!(client.on_trial());
    client.checked_in(&mut flash).expect("confirmed");
    assert!(!client.on_trial());
    assert_eq!(
        report_of(&client),
        ("2.0.0".into(), FirmwareStatus::Installed, None)
    );

    flash.reboot();
    assert_eq!(flash.running_version(), "2.0.0", "kept after confirming");
    let client = boot(&mut flash);
    assert!(!client.on_trial());
    assert_eq!(
        report_of(&client).1,
        FirmwareStatus::Installed,
        "still waiting to be sent"
    );
}

#[test]
fn ranges_follow_each_other_exactly_and_writes_stay_word_aligned() {
    let mut flash = SimFlash::new(CAPACITY, "1.0.0");
    let release = Release::new("2.0.0");
    let mut client = boot(&mut flash);
    client
        .offer(&release.offer, &mut flash)
        .expect("offer taken");
    let first = client.next_range(1000).expect("a range");
    assert_eq!(first, ByteRange { start: 0, end: 999 });
    assert_eq!(first.header_value().as_str(), "bytes=0-999");
    // Odd-sized bodies, as the modem's HTTPREAD hands them out.
    let mut expected_start = 0;
    let mut progress = Progress::More;
    while let Some(range) = client.next_range(4_999) {
        assert_eq!(range.start, expected_start);
        progress = client
            .receive(range.start, release.get(range), &mut flash)
            .expect("written");
        expected_start = range.end + 1;
    }
    assert_eq!(progress, Progress::Complete);
    assert_eq!(expected_start as usize, IMAGE_LEN);
    assert_eq!(client.next_range(1000), None);
    let (last_offset, last_len) = *flash.writes.last().expect("writes");
    assert_eq!(
        last_offset as usize + last_len,
        IMAGE_LEN,
        "the odd tail went last"
    );
    assert!(
        flash.writes[..flash.writes.len() - 1]
            .iter()
            .all(|(_, len)| len % 4 == 0)
    );
    assert_eq!(client.install(&mut flash), Ok(InstallOutcome::Switched));
}

#[test]
fn an_interrupted_download_resumes_from_the_last_remembered_offset() {
    let mut flash = SimFlash::new(CAPACITY, "1.0.0");
    let release = Release::new("2.0.0");
    let mut client = boot(&mut flash);
    client
        .offer(&release.offer, &mut flash)
        .expect("offer taken");
    let first = download(&mut client, &mut flash, &release, 9_999, 100_000);
    assert!(first >= 100_000);
    // Power is lost; the next boot gets the same offer again.
    drop(client);
    flash.reboot();
    assert_eq!(flash.running_version(), "1.0.0");
    let mut client = boot(&mut flash);
    client
        .offer(&release.offer, &mut flash)
        .expect("offer taken");
    // Progress was last remembered by the receive that took the image past 64 KiB: after 7
    // bodies of 9,999 bytes, 69,992 bytes were in flash (whole words; 1 byte was staged).
    let remembered = (1..)
        .map(|bodies: u32| 9_999 * bodies / 4 * 4)
        .find(|written| *written >= PERSIST_EVERY)
        .expect("found");
    assert_eq!(remembered, 69_992);
    let resume = client.next_range(9_999).expect("more to fetch");
    assert_eq!(
        resume.start, remembered,
        "resumes where progress was last remembered"
    );
    let second = download(&mut client, &mut flash, &release, 9_999, usize::MAX);
    assert_eq!(second, IMAGE_LEN - remembered as usize);
    assert_eq!(client.install(&mut flash), Ok(InstallOutcome::Switched));
}

#[test]
fn a_whole_response_after_a_resume_is_taken_by_skipping_what_is_there() {
    let mut flash = SimFlash::new(CAPACITY, "1.0.0");
    let release = Release::new("2.0.0");
    let mut client = boot(&mut flash);
    client
        .offer(&release.offer, &mut flash)
        .expect("offer taken");
    download(&mut client, &mut flash, &release, 7_001, 30_000);
    // A server ignoring Range answers 200 with everything.
    assert_eq!(
        client.receive(0, &release.image, &mut flash),
        Ok(Progress::Complete)
    );
    assert_eq!(client.install(&mut flash), Ok(InstallOutcome::Switched));
}

#[test]
fn bytes_past_the_next_missing_one_are_refused() {
    let mut flash = SimFlash::new(CAPACITY, "1.0.0");
    let release = Release::new("2.0.0");
    let mut client = boot(&mut flash);
    assert_eq!(
        client.receive(0, b"x", &mut flash),
        Err(OtaError::NotDownloading)
    );
    client
        .offer(&release.offer, &mut flash)
        .expect("offer taken");
    client
        .receive(0, &release.image[..10], &mut flash)
        .expect("written");
    assert_eq!(
        client.receive(11, &release.image[11..20], &mut flash),
        Err(OtaError::OutOfOrder {
            expected: 10,
            got: 11
        })
    );
    assert_eq!(client.install(&mut flash), Err(OtaError::NotReady));
}

#[test]
fn a_corrupted_byte_fails_the_update_and_the_old_image_keeps_booting() {
    let mut flash = SimFlash::new(CAPACITY, "1.0.0");
    let release = Release::new("2.0.0");
    let mut client = boot(&mut flash);
    client
        .offer(&release.offer, &mut flash)
        .expect("offer taken");
    while let Some(range) = client.next_range(16 * 1024) {
        let mut body = release.get(range).to_vec();
        if range.start == 32 * 1024 {
            body[100] ^= 0x01;
        }
        client
            .receive(range.start, &body, &mut flash)
            .expect("written");
    }
    assert_eq!(
        client.install(&mut flash),
        Ok(InstallOutcome::Failed(FailureReason::Sha256Mismatch))
    );
    assert_eq!(flash.boot_next, flash.running, "not switched");
    assert_eq!(
        report_of(&client),
        (
            "2.0.0".into(),
            FirmwareStatus::Failed,
            Some("sha256 mismatch".into())
        )
    );
    flash.reboot();
    assert_eq!(flash.running_version(), "1.0.0");
    // The same offer is not downloaded again.
    let mut client = boot(&mut flash);
    client.offer(&release.offer, &mut flash).expect("ignored");
    assert_eq!(client.next_range(1024), None);
}

#[test]
fn an_image_signed_with_another_key_fails_and_is_not_switched() {
    let mut flash = SimFlash::new(CAPACITY, "1.0.0");
    let forged = Release::signed_by("2.0.0", &SigningKey::from_bytes(&[9; 32]));
    let mut client = boot(&mut flash);
    client
        .offer(&forged.offer, &mut flash)
        .expect("offer taken");
    download(&mut client, &mut flash, &forged, 32 * 1024, usize::MAX);
    assert_eq!(
        client.install(&mut flash),
        Ok(InstallOutcome::Failed(FailureReason::BadSignature))
    );
    assert_eq!(flash.boot_next, flash.running, "not switched");
    assert_eq!(report_of(&client).2.as_deref(), Some("bad signature"));
}

#[test]
fn a_new_image_that_never_confirms_is_rolled_back_and_reported() {
    let mut flash = SimFlash::new(CAPACITY, "1.0.0");
    let release = Release::new("2.0.0");
    let mut client = boot(&mut flash);
    client
        .offer(&release.offer, &mut flash)
        .expect("offer taken");
    download(&mut client, &mut flash, &release, 64 * 1024, usize::MAX);
    assert_eq!(client.install(&mut flash), Ok(InstallOutcome::Switched));

    flash.reboot();
    let client = boot(&mut flash);
    assert!(client.on_trial());
    // No check-in succeeds before the next reboot.
    flash.reboot();
    assert_eq!(flash.running_version(), "1.0.0", "the bootloader went back");
    let mut client = boot(&mut flash);
    assert!(!client.on_trial());
    assert_eq!(
        report_of(&client),
        (
            "2.0.0".into(),
            FirmwareStatus::RolledBack,
            Some("new image did not confirm itself".into())
        )
    );
    client.offer(&release.offer, &mut flash).expect("ignored");
    assert_eq!(
        client.next_range(1024),
        None,
        "a rolled-back image is not retried"
    );
    // A fixed release is.
    let fixed = Release::new("2.0.1");
    client.offer(&fixed.offer, &mut flash).expect("offer taken");
    assert_eq!(client.next_range(10).map(|r| r.start), Some(0));
}

#[test]
fn power_lost_between_remembering_the_switch_and_making_it_switches_at_the_next_boot() {
    let mut flash = SimFlash::new(CAPACITY, "1.0.0");
    let release = Release::new("2.0.0");
    let mut client = boot(&mut flash);
    client
        .offer(&release.offer, &mut flash)
        .expect("offer taken");
    download(&mut client, &mut flash, &release, 64 * 1024, usize::MAX);
    flash.fail_once = Some(FailOnce::SetBoot);
    assert!(matches!(
        client.install(&mut flash),
        Err(OtaError::Flash(_))
    ));

    flash.reboot();
    assert_eq!(flash.running_version(), "1.0.0");
    let mut client = boot(&mut flash);
    assert!(client.ready_to_install(), "nothing to download again");
    assert_eq!(client.next_range(1024), None);
    assert_eq!(client.install(&mut flash), Ok(InstallOutcome::Switched));
    flash.reboot();
    assert_eq!(flash.running_version(), "2.0.0");
}

#[test]
fn power_lost_right_after_confirming_still_reports_installed() {
    let mut flash = SimFlash::new(CAPACITY, "1.0.0");
    let release = Release::new("2.0.0");
    let mut client = boot(&mut flash);
    client
        .offer(&release.offer, &mut flash)
        .expect("offer taken");
    download(&mut client, &mut flash, &release, 64 * 1024, usize::MAX);
    client.install(&mut flash).expect("switched");
    flash.reboot();
    let mut client = boot(&mut flash);
    flash.fail_once = Some(FailOnce::StoreRecordAfterMarkValid);
    assert!(client.checked_in(&mut flash).is_err());

    flash.reboot();
    assert_eq!(flash.running_version(), "2.0.0", "mark_valid had happened");
    let client = boot(&mut flash);
    assert!(!client.on_trial());
    assert_eq!(
        report_of(&client),
        ("2.0.0".into(), FirmwareStatus::Installed, None)
    );
}

#[test]
fn offers_of_the_running_version_or_of_an_oversized_image_download_nothing() {
    let mut flash = SimFlash::new(CAPACITY, "1.0.0");
    let mut client = boot(&mut flash);
    let same = Release::new("1.0.0");
    client.offer(&same.offer, &mut flash).expect("ignored");
    assert_eq!(client.next_range(1024), None);
    assert!(client.report().is_none());

    let mut huge = Release::new("3.0.0");
    huge.offer.size = CAPACITY as u32 + 1;
    client.offer(&huge.offer, &mut flash).expect("refused");
    assert_eq!(client.next_range(1024), None);
    assert_eq!(
        report_of(&client),
        (
            "3.0.0".into(),
            FirmwareStatus::Failed,
            Some("image larger than the ota partition".into())
        )
    );
}

#[test]
fn a_malformed_offer_is_reported_as_failed() {
    let mut flash = SimFlash::new(CAPACITY, "1.0.0");
    let mut client = boot(&mut flash);
    let mut bad = Release::new("2.0.0");
    bad.offer.signature = String::try_from("zz").expect("fits");
    client.offer(&bad.offer, &mut flash).expect("refused");
    assert_eq!(client.next_range(1024), None);
    assert_eq!(report_of(&client).2.as_deref(), Some("malformed offer"));
}

#[test]
fn a_sent_report_is_cleared_for_good() {
    let mut flash = SimFlash::new(CAPACITY, "1.0.0");
    let mut client = boot(&mut flash);
    let mut huge = Release::new("3.0.0");
    huge.offer.size = 0;
    client.offer(&huge.offer, &mut flash).expect("refused");
    assert!(client.report().is_some());
    client.report_sent(&mut flash).expect("cleared");
    assert!(client.report().is_none());
    flash.reboot();
    assert!(boot(&mut flash).report().is_none());
}

#[test]
fn a_key_that_is_not_a_curve_point_is_refused_at_boot() {
    let mut flash = SimFlash::new(CAPACITY, "1.0.0");
    // y = 2 is not the y-coordinate of any Ed25519 point.
    let mut bad_key = [0u8; 32];
    bad_key[0] = 2;
    assert!(matches!(
        OtaClient::boot(&mut flash, "1.0.0", &bad_key),
        Err(OtaError::BadReleaseKey)
    ));
}
