//! What survives deep sleep: the core's [`Retained`] plus the board's own [`BoardState`], kept in
//! RTC fast memory (which stays powered in deep sleep and through any reset but a power cycle).
//!
//! The memory is an array of atomics in a `persistent` section, so it is read and written without
//! `unsafe`, and it is not re-initialised at boot. Its content is a snapshot: a magic word, a
//! length and a CRC-32 over JSON (the protocol types already serialise). Anything that does not
//! check out (a power cycle, a reset in the middle of [`store`], a firmware update that changed
//! the layout) reads as "nothing retained", and the core starts from its defaults: it checks in
//! at once, which is exactly what a fresh device should do.

use crc::{CRC_32_ISCSI, Crc};
use heapless::String;
use portable_atomic::{AtomicU32, Ordering};
use serde::{Deserialize, Serialize};
use smartbox_firmware::a7670::{ByteCounters, Stored};
use smartbox_firmware::policy::Holds;
use smartbox_firmware::wake::Retained;
use smartbox_protocol::{DeviceConfig, FirmwareOffer, ServiceState, WifiStatus};

/// Words of RTC fast memory used (1.5 KiB of its 16 KiB).
const WORDS: usize = 384;
const HEADER_WORDS: usize = 3;
const CAPACITY: usize = (WORDS - HEADER_WORDS) * 4;
/// "SBR" and a layout version: bump it when [`Snapshot`] changes incompatibly.
const MAGIC: u32 = 0x5342_5201;
const CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

#[esp_hal::ram(unstable(rtc_fast, persistent))]
static MEMORY: [AtomicU32; WORDS] = [const { AtomicU32::new(0) }; WORDS];

/// What the board itself keeps across wakes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BoardState {
    /// Smoothed cell voltage from earlier wakes (0 = none yet).
    pub battery_mv: u16,
    /// Wakes since an OTA image booted without having been confirmed.
    pub unconfirmed_wakes: u8,
    /// Wakes since the last power cycle (mixed into the entropy).
    pub wakes: u32,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    config: DeviceConfig,
    unix_offset_s: i64,
    server_hold_until_ms: u64,
    link_retry_at_ms: u64,
    failures: u32,
    last_checkin_ms: Option<u64>,
    modem_tx: u64,
    modem_rx: u64,
    service: Option<ServiceState>,
    firmware_offer: Option<FirmwareOffer>,
    link_reason: Option<String<64>>,
    #[serde(default)]
    ota_stalled: bool,
    #[serde(default)]
    modem_baud: u32,
    #[serde(default)]
    modem_refused_baud: u32,
    #[serde(default)]
    modem_apn_tag: u32,
    #[serde(default)]
    modem_ca_tag: u32,
    #[serde(default)]
    wifi_status: WifiStatus,
    #[serde(default)]
    ir_stuck: bool,
    /// Deliveries that failed since the SD queue was last empty (reported in the heartbeat).
    #[serde(default)]
    held_failures: u32,
    battery_mv: u16,
    unconfirmed_wakes: u8,
    wakes: u32,
}

/// The state kept by the last wake, or `None` after a power cycle or a torn write.
pub fn load() -> Option<(Retained, BoardState)> {
    if MEMORY[0].load(Ordering::Relaxed) != MAGIC {
        return None;
    }
    let len = MEMORY[1].load(Ordering::Relaxed) as usize;
    if len > CAPACITY {
        return None;
    }
    let mut bytes = [0_u8; CAPACITY];
    for (chunk, word) in bytes.chunks_mut(4).zip(&MEMORY[HEADER_WORDS..]) {
        chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
    }
    let bytes = &bytes[..len];
    if CRC32.checksum(bytes) != MEMORY[2].load(Ordering::Relaxed) {
        return None;
    }
    let mut scratch = [0_u8; 128];
    let (snapshot, _) =
        serde_json_core::from_slice_escaped::<Snapshot>(bytes, &mut scratch).ok()?;
    let retained = Retained {
        config: snapshot.config,
        unix_offset_s: snapshot.unix_offset_s,
        holds: Holds {
            server_hold_until_ms: snapshot.server_hold_until_ms,
            link_retry_at_ms: snapshot.link_retry_at_ms,
            failures: snapshot.failures,
            last_checkin_ms: snapshot.last_checkin_ms,
        },
        modem_bytes: ByteCounters {
            tx: snapshot.modem_tx,
            rx: snapshot.modem_rx,
        },
        service: snapshot.service,
        firmware_offer: snapshot.firmware_offer,
        link_reason: snapshot.link_reason,
        ota_stalled: snapshot.ota_stalled,
        modem: Stored {
            baud: snapshot.modem_baud,
            refused_baud: snapshot.modem_refused_baud,
            apn_tag: snapshot.modem_apn_tag,
            ca_tag: snapshot.modem_ca_tag,
        },
        wifi_status: snapshot.wifi_status,
        ir_stuck: snapshot.ir_stuck,
        held_failures: snapshot.held_failures,
    };
    let board = BoardState {
        battery_mv: snapshot.battery_mv,
        unconfirmed_wakes: snapshot.unconfirmed_wakes,
        wakes: snapshot.wakes,
    };
    Some((retained, board))
}

/// Keeps `retained` and `board` for the next wake. The magic word is cleared first and written
/// last, so a reset in between leaves nothing that [`load`] would accept.
pub fn store(retained: &Retained, board: &BoardState) {
    let snapshot = Snapshot {
        config: retained.config,
        unix_offset_s: retained.unix_offset_s,
        server_hold_until_ms: retained.holds.server_hold_until_ms,
        link_retry_at_ms: retained.holds.link_retry_at_ms,
        failures: retained.holds.failures,
        last_checkin_ms: retained.holds.last_checkin_ms,
        modem_tx: retained.modem_bytes.tx,
        modem_rx: retained.modem_bytes.rx,
        service: retained.service,
        firmware_offer: retained.firmware_offer.clone(),
        link_reason: retained.link_reason.clone(),
        ota_stalled: retained.ota_stalled,
        modem_baud: retained.modem.baud,
        modem_refused_baud: retained.modem.refused_baud,
        modem_apn_tag: retained.modem.apn_tag,
        modem_ca_tag: retained.modem.ca_tag,
        wifi_status: retained.wifi_status,
        ir_stuck: retained.ir_stuck,
        held_failures: retained.held_failures,
        battery_mv: board.battery_mv,
        unconfirmed_wakes: board.unconfirmed_wakes,
        wakes: board.wakes,
    };
    let mut bytes = [0_u8; CAPACITY];
    let Ok(len) = serde_json_core::to_slice(&snapshot, &mut bytes) else {
        // Cannot happen with the bounded strings above; losing the state only costs a check-in.
        MEMORY[0].store(0, Ordering::Relaxed);
        return;
    };
    MEMORY[0].store(0, Ordering::Relaxed);
    for (chunk, word) in bytes.chunks(4).zip(&MEMORY[HEADER_WORDS..]) {
        let mut le = [0_u8; 4];
        le[..chunk.len()].copy_from_slice(chunk);
        word.store(u32::from_le_bytes(le), Ordering::Relaxed);
    }
    MEMORY[1].store(len as u32, Ordering::Relaxed);
    MEMORY[2].store(CRC32.checksum(&bytes[..len]), Ordering::Relaxed);
    MEMORY[0].store(MAGIC, Ordering::SeqCst);
}
