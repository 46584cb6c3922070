//! OTA client: a firmware update from the server's offer to a confirmed new image, or back.
//!
//! A sans-IO state machine over an [`OtaPartition`] (the flash slot the running image is not in,
//! plus the bootloader's say about which slot boots); the caller does the HTTP:
//!
//! 1. At every boot, [`OtaClient::boot`] reads what the bootloader and the client's own record
//!    say: a new image running on trial, an update the bootloader rolled back, or nothing.
//! 2. After the first successful check-in of a boot, [`OtaClient::checked_in`] confirms an image
//!    on trial, so the bootloader keeps it. An image that reboots before confirming itself (it
//!    crashed, or could not reach the server) is rolled back by the bootloader.
//! 3. A heartbeat's offer goes to [`OtaClient::offer`]. While [`OtaClient::next_range`] names a
//!    byte range, the caller GETs it (`Range: bytes=a-b`) and passes the body to
//!    [`OtaClient::receive`]. Progress is remembered every 64 KiB, so a download cut by a wake's
//!    end or by power loss resumes near where it stopped instead of starting over.
//! 4. Once every byte is there, [`OtaClient::install`] hashes the image as it is in flash,
//!    checks the SHA-256 against the offer and the offer's Ed25519 signature (over the 32 digest
//!    bytes, see [`smartbox_protocol::FirmwareOffer`]) against the release key, and only then sets
//!    the new slot to boot. The caller reboots when convenient.
//! 5. [`OtaClient::report`] is the outcome to `POST /firmware/report` (downloaded, installed,
//!    failed, rolled_back); [`OtaClient::report_sent`] clears it.
//!
//! An image that failed verification or was rolled back is not tried again until the server
//! offers a different one.

mod record;

use core::fmt::{self, Debug, Write as _};

use ed25519_dalek::{Signature, VerifyingKey};
use heapless::String;
use sha2::{Digest, Sha256};
use smartbox_protocol::{FirmwareOffer, FirmwareReport, FirmwareStatus};

pub use record::RECORD_LEN;
use record::{PendingReport, Phase, Record, Target};

/// Flash writes start at multiples of this and, except the image's last one, are as long.
pub const WRITE_ALIGN: u32 = 4;
/// The download's progress is remembered each time this many more bytes are in flash.
pub const PERSIST_EVERY: u32 = 64 * 1024;

/// How the bootloader started the running image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageState {
    /// Confirmed: the bootloader keeps starting it.
    Valid,
    /// Started for the first time after an update and not yet confirmed: if it reboots before
    /// [`OtaPartition::mark_valid`], the bootloader goes back to the previous image (ESP-IDF's
    /// `ESP_OTA_IMG_PENDING_VERIFY`).
    PendingVerify,
}

/// The flash and bootloader operations the client needs. "The update slot" is the OTA partition
/// the running image is not in.
pub trait OtaPartition {
    /// Why a flash operation failed.
    type Error: Debug;
    /// Bytes the update slot holds.
    fn capacity(&self) -> u32;
    /// Erases the update slot for an image of `len` bytes (and forgets that it was rolled back).
    fn erase(&mut self, len: u32) -> Result<(), Self::Error>;
    /// Writes into the erased update slot; see [`WRITE_ALIGN`]. The same bytes may be written
    /// again over themselves (a resumed download), never different ones.
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error>;
    /// Reads from the update slot.
    fn read(&mut self, offset: u32, out: &mut [u8]) -> Result<(), Self::Error>;
    /// Makes the update slot the one the bootloader starts next, on trial.
    fn set_boot(&mut self) -> Result<(), Self::Error>;
    /// Confirms the running image, cancelling the rollback.
    fn mark_valid(&mut self) -> Result<(), Self::Error>;
    /// How the bootloader started the running image.
    fn running_state(&mut self) -> Result<ImageState, Self::Error>;
    /// Whether the bootloader gave up the image in the update slot because it was not confirmed
    /// (ESP-IDF: its otadata state is `ABORTED` or `INVALID`).
    fn update_rolled_back(&mut self) -> Result<bool, Self::Error>;
    /// The client's record as last stored (any bytes if never stored).
    fn load_record(&mut self, out: &mut [u8; RECORD_LEN]) -> Result<(), Self::Error>;
    /// Stores the client's record so that it survives reboots and power loss.
    fn store_record(&mut self, record: &[u8; RECORD_LEN]) -> Result<(), Self::Error>;
}

/// Why an update was given up; sent as the report's `detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// The offer's digest or signature is not hex of the right length.
    MalformedOffer,
    /// The image is empty or larger than the update slot.
    TooLarge,
    /// The image in flash does not hash to the offered SHA-256.
    Sha256Mismatch,
    /// The signature does not verify with the release key.
    BadSignature,
    /// The new image rebooted before confirming itself; the bootloader went back.
    NotConfirmed,
}

impl FailureReason {
    /// The report's `detail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedOffer => "malformed offer",
            Self::TooLarge => "image larger than the ota partition",
            Self::Sha256Mismatch => "sha256 mismatch",
            Self::BadSignature => "bad signature",
            Self::NotConfirmed => "new image did not confirm itself",
        }
    }

    fn code(self) -> u8 {
        match self {
            Self::MalformedOffer => 1,
            Self::TooLarge => 2,
            Self::Sha256Mismatch => 3,
            Self::BadSignature => 4,
            Self::NotConfirmed => 5,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        [
            Self::MalformedOffer,
            Self::TooLarge,
            Self::Sha256Mismatch,
            Self::BadSignature,
            Self::NotConfirmed,
        ]
        .into_iter()
        .find(|reason| reason.code() == code)
    }
}

/// Why the client could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OtaError<E> {
    /// A flash or bootloader operation failed; try again later.
    Flash(E),
    /// The release key compiled into the firmware is not an Ed25519 public key.
    BadReleaseKey,
    /// The running version is longer than 32 bytes.
    BadVersion,
    /// Bytes were passed for `got` while the next missing byte is `expected`.
    OutOfOrder {
        /// The next byte the client needs.
        expected: u32,
        /// Where the bytes passed start.
        got: u32,
    },
    /// No download is under way (no offer, or it is complete).
    NotDownloading,
    /// [`OtaClient::install`] before every byte was received.
    NotReady,
}

impl<E: Debug> fmt::Display for OtaError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flash(error) => write!(f, "ota flash: {error:?}"),
            Self::BadReleaseKey => write!(f, "the release key is not an ed25519 public key"),
            Self::BadVersion => write!(f, "the running version is longer than 32 bytes"),
            Self::OutOfOrder { expected, got } => {
                write!(
                    f,
                    "image bytes from {got} while {expected} is the next one needed"
                )
            }
            Self::NotDownloading => write!(f, "no firmware download is under way"),
            Self::NotReady => write!(f, "the firmware image is not complete"),
        }
    }
}

/// Bytes `start..=end` of the image, as an HTTP `Range` asks for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u32,
    /// Last byte, inclusive.
    pub end: u32,
}

impl ByteRange {
    /// The `Range` header's value, e.g. `bytes=0-65535`.
    pub fn header_value(&self) -> String<32> {
        let mut value = String::new();
        // "bytes=" + two u32 + "-" is at most 27 bytes: always fits.
        let _ = write!(value, "bytes={}-{}", self.start, self.end);
        value
    }

    /// Bytes in the range.
    pub fn len(&self) -> u32 {
        self.end - self.start + 1
    }

    /// Never: a range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Whether the image is complete after [`OtaClient::receive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Bytes are still missing; ask [`OtaClient::next_range`].
    More,
    /// Every byte is there; call [`OtaClient::install`].
    Complete,
}

/// What [`OtaClient::install`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallOutcome {
    /// Verified and set to boot: reboot to run it on trial.
    Switched,
    /// Refused; the running image stays.
    Failed(FailureReason),
}

/// The OTA state machine of one boot.
pub struct OtaClient {
    running: String<32>,
    key: VerifyingKey,
    record: Record,
    on_trial: bool,
    /// Received bytes not yet written, because flash writes are [`WRITE_ALIGN`]ed.
    stage: [u8; WRITE_ALIGN as usize],
    staged: u32,
}

impl Debug for OtaClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtaClient")
            .field("running", &self.running)
            .field("record", &self.record)
            .field("on_trial", &self.on_trial)
            .finish_non_exhaustive()
    }
}

impl OtaClient {
    /// Starts the client at boot: `running_version` is this image's version and `release_key`
    /// the Ed25519 public key firmware images must be signed with.
    pub fn boot<P: OtaPartition>(
        partition: &mut P,
        running_version: &str,
        release_key: &[u8; 32],
    ) -> Result<Self, OtaError<P::Error>> {
        let key = VerifyingKey::from_bytes(release_key).map_err(|_| OtaError::BadReleaseKey)?;
        let running = String::try_from(running_version).map_err(|_| OtaError::BadVersion)?;
        let mut bytes = [0; RECORD_LEN];
        partition.load_record(&mut bytes).map_err(OtaError::Flash)?;
        let on_trial =
            partition.running_state().map_err(OtaError::Flash)? == ImageState::PendingVerify;
        let mut client = Self {
            running,
            key,
            record: Record::decode(&bytes).unwrap_or(Record::EMPTY),
            on_trial,
            stage: [0; WRITE_ALIGN as usize],
            staged: 0,
        };
        if !on_trial && client.record.phase == Phase::Switched {
            client.after_switch(partition)?;
        }
        Ok(client)
    }

    /// A confirmed image with a record still saying "switched": find out what happened.
    fn after_switch<P: OtaPartition>(
        &mut self,
        partition: &mut P,
    ) -> Result<(), OtaError<P::Error>> {
        let Some(target) = self.record.target.clone() else {
            self.record = Record::EMPTY;
            return self.store(partition);
        };
        if target.version == self.running {
            // Confirmed, and power failed before the record said so.
            self.settle(target.version, FirmwareStatus::Installed, None, None);
        } else if partition.update_rolled_back().map_err(OtaError::Flash)? {
            self.settle(
                target.version,
                FirmwareStatus::RolledBack,
                Some(FailureReason::NotConfirmed),
                Some(target.sha256),
            );
        } else {
            // Power failed between remembering the switch and making it: verify and switch again.
            self.record.phase = Phase::Downloading {
                written: target.size,
            };
        }
        self.store(partition)
    }

    /// Whether this boot runs a new image that has not confirmed itself yet.
    pub fn on_trial(&self) -> bool {
        self.on_trial
    }

    /// After a successful check-in: an image on trial confirms itself and reports `installed`.
    pub fn checked_in<P: OtaPartition>(
        &mut self,
        partition: &mut P,
    ) -> Result<(), OtaError<P::Error>> {
        if !self.on_trial {
            return Ok(());
        }
        partition.mark_valid().map_err(OtaError::Flash)?;
        self.on_trial = false;
        self.settle(self.running.clone(), FirmwareStatus::Installed, None, None);
        self.store(partition)
    }

    /// Takes a heartbeat's firmware offer: starts (or keeps resuming) its download. Offers of
    /// the running version, of an image already refused, or while an image is on trial or set
    /// to boot are ignored.
    pub fn offer<P: OtaPartition>(
        &mut self,
        offer: &FirmwareOffer,
        partition: &mut P,
    ) -> Result<(), OtaError<P::Error>> {
        if self.on_trial || self.record.phase == Phase::Switched || offer.version == self.running {
            return Ok(());
        }
        let (Some(sha256), Some(signature)) = (offer.sha256_bytes(), offer.signature_bytes())
        else {
            self.settle(
                offer.version.clone(),
                FirmwareStatus::Failed,
                Some(FailureReason::MalformedOffer),
                None,
            );
            return self.store(partition);
        };
        if self.record.refused == Some(sha256) {
            return Ok(());
        }
        let target = Target {
            version: offer.version.clone(),
            size: offer.size,
            sha256,
            signature,
        };
        if self.record.target.as_ref() == Some(&target) {
            return Ok(());
        }
        if offer.size == 0 || offer.size > partition.capacity() {
            self.settle(
                target.version,
                FirmwareStatus::Failed,
                Some(FailureReason::TooLarge),
                Some(sha256),
            );
            return self.store(partition);
        }
        partition.erase(offer.size).map_err(OtaError::Flash)?;
        self.record.target = Some(target);
        self.record.phase = Phase::Downloading { written: 0 };
        self.staged = 0;
        self.store(partition)
    }

    /// The next bytes to fetch, at most `max_len` of them; `None` when no download needs any.
    pub fn next_range(&self, max_len: u32) -> Option<ByteRange> {
        let (size, written) = self.downloading()?;
        let start = written + self.staged;
        if start >= size || max_len == 0 {
            return None;
        }
        Some(ByteRange {
            start,
            end: start + max_len.min(size - start) - 1,
        })
    }

    /// Bytes of the image starting at byte `offset` (a range's body, or a whole `200` body with
    /// `offset` 0: bytes already received are skipped, bytes past the image's end ignored).
    pub fn receive<P: OtaPartition>(
        &mut self,
        offset: u32,
        bytes: &[u8],
        partition: &mut P,
    ) -> Result<Progress, OtaError<P::Error>> {
        let (size, mut written) = self.downloading().ok_or(OtaError::NotDownloading)?;
        let before = written;
        let received = written + self.staged;
        if offset > received {
            return Err(OtaError::OutOfOrder {
                expected: received,
                got: offset,
            });
        }
        let skip = (received - offset) as usize;
        let wanted = (size - received) as usize;
        let mut data = bytes.get(skip..).unwrap_or(&[]);
        data = &data[..data.len().min(wanted)];

        // Complete the staged word first, then write whole words straight from `data`.
        if self.staged > 0 {
            let take = data.len().min((WRITE_ALIGN - self.staged) as usize);
            let at = self.staged as usize;
            self.stage[at..at + take].copy_from_slice(&data[..take]);
            self.staged += take as u32;
            data = &data[take..];
            if self.staged == WRITE_ALIGN {
                partition
                    .write(written, &self.stage)
                    .map_err(OtaError::Flash)?;
                written += WRITE_ALIGN;
                self.staged = 0;
            }
        }
        if self.staged == 0 {
            let whole = data.len() - data.len() % WRITE_ALIGN as usize;
            if whole > 0 {
                partition
                    .write(written, &data[..whole])
                    .map_err(OtaError::Flash)?;
                written += whole as u32;
            }
            let rest = &data[whole..];
            self.stage[..rest.len()].copy_from_slice(rest);
            self.staged = rest.len() as u32;
        }
        // The image's last bytes need not fill a word.
        if written + self.staged == size && self.staged > 0 {
            partition
                .write(written, &self.stage[..self.staged as usize])
                .map_err(OtaError::Flash)?;
            written += self.staged;
            self.staged = 0;
        }

        self.record.phase = Phase::Downloading { written };
        let complete = written == size;
        if complete || before / PERSIST_EVERY != written / PERSIST_EVERY {
            self.store(partition)?;
        }
        Ok(if complete {
            Progress::Complete
        } else {
            Progress::More
        })
    }

    /// Whether a download is under way with bytes still missing (a later wake resumes it).
    pub fn download_pending(&self) -> bool {
        matches!(self.downloading(), Some((size, written)) if written + self.staged < size)
    }

    /// The version being downloaded or installed, the last segment of its download path.
    pub fn target_version(&self) -> Option<&str> {
        self.record
            .target
            .as_ref()
            .map(|target| target.version.as_str())
    }

    /// Whether every byte is in flash and [`OtaClient::install`] is due.
    pub fn ready_to_install(&self) -> bool {
        matches!(self.downloading(), Some((size, written)) if written == size)
    }

    /// Verifies the image in flash (SHA-256, then the signature) and, only if both hold, sets it
    /// to boot. A failure is remembered and reported, and the offer is not tried again.
    pub fn install<P: OtaPartition>(
        &mut self,
        partition: &mut P,
    ) -> Result<InstallOutcome, OtaError<P::Error>> {
        if !self.ready_to_install() {
            return Err(OtaError::NotReady);
        }
        let Some(target) = self.record.target.clone() else {
            return Err(OtaError::NotReady);
        };
        // Hash what is in flash, not what came over the air.
        let mut hasher = Sha256::new();
        let mut chunk = [0; 256];
        let mut offset = 0;
        while offset < target.size {
            let piece = (target.size - offset).min(chunk.len() as u32) as usize;
            partition
                .read(offset, &mut chunk[..piece])
                .map_err(OtaError::Flash)?;
            hasher.update(&chunk[..piece]);
            offset += piece as u32;
        }
        let digest: [u8; 32] = hasher.finalize().into();
        let reason = if digest != target.sha256 {
            Some(FailureReason::Sha256Mismatch)
        } else if self
            .key
            .verify_strict(&digest, &Signature::from_bytes(&target.signature))
            .is_err()
        {
            Some(FailureReason::BadSignature)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.settle(
                target.version,
                FirmwareStatus::Failed,
                Some(reason),
                Some(target.sha256),
            );
            self.store(partition)?;
            return Ok(InstallOutcome::Failed(reason));
        }
        // Remembered before switching: after a power cut in between, `boot` switches again.
        self.record.phase = Phase::Switched;
        self.record.report = Some(PendingReport {
            version: target.version,
            status: FirmwareStatus::Downloaded,
            reason: None,
        });
        self.store(partition)?;
        partition.set_boot().map_err(OtaError::Flash)?;
        Ok(InstallOutcome::Switched)
    }

    /// The outcome to report to the server, if one is waiting.
    pub fn report(&self) -> Option<FirmwareReport> {
        let pending = self.record.report.as_ref()?;
        Some(FirmwareReport {
            version: pending.version.clone(),
            status: pending.status,
            detail: pending
                .reason
                .and_then(|reason| String::try_from(reason.as_str()).ok()),
        })
    }

    /// The server has the report (answered 204).
    pub fn report_sent<P: OtaPartition>(
        &mut self,
        partition: &mut P,
    ) -> Result<(), OtaError<P::Error>> {
        if self.record.report.take().is_some() {
            self.store(partition)?;
        }
        Ok(())
    }

    /// `(size, written)` while downloading.
    fn downloading(&self) -> Option<(u32, u32)> {
        match (&self.record.target, self.record.phase) {
            (Some(target), Phase::Downloading { written }) => Some((target.size, written)),
            _ => None,
        }
    }

    /// Ends the current update with a report; `refuse` keeps that image from being tried again.
    fn settle(
        &mut self,
        version: String<32>,
        status: FirmwareStatus,
        reason: Option<FailureReason>,
        refuse: Option<[u8; 32]>,
    ) {
        self.record.target = None;
        self.record.phase = Phase::Idle;
        if refuse.is_some() {
            self.record.refused = refuse;
        }
        self.record.report = Some(PendingReport {
            version,
            status,
            reason,
        });
        self.staged = 0;
    }

    fn store<P: OtaPartition>(&mut self, partition: &mut P) -> Result<(), OtaError<P::Error>> {
        partition
            .store_record(&self.record.encode())
            .map_err(OtaError::Flash)
    }
}
