//! Faults the emulated modem can be armed with, one power cycle at a time, and how a fleet run
//! draws them from its seeded RNG.

use rand::Rng;

/// `+HTTPACTION` status codes of the A76XX HTTP(S) stack for failures on the modem's side of the
/// exchange (A76XX Series AT Command Manual, HTTP(S) result codes: 6xx from the older SIMCom
/// stacks' network/DNS family, 7xx from the A76XX socket/TLS family). The firmware treats every
/// 600-799 code alike; the names say what the emulator uses each for.
pub mod codes {
    /// Network error (no PDP context, link dropped).
    pub const NETWORK: u16 = 601;
    /// DNS resolution failed.
    pub const DNS: u16 = 603;
    /// Receiving or sending socket data failed.
    pub const SOCKET: u16 = 706;
    /// Connecting the socket failed (nothing listening: the server is down).
    pub const CONNECT: u16 = 714;
    /// TLS handshake failed (e.g. SNI not enabled).
    pub const TLS_HANDSHAKE: u16 = 715;
    /// No answer before the stack's receive timeout.
    pub const TIMEOUT: u16 = 718;
}

/// One fault, active from the next power-on until power-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No SIM: `AT+CPIN?` answers `+CME ERROR: 10`.
    NoSim,
    /// The network refuses registration (`+CEREG: 0,3`).
    RegistrationDenied,
    /// No cell heard: searching for ever.
    NoCoverage,
    /// `+HTTPACTION` number `request` (1-based in the power cycle) fails with `code`; when `sent`,
    /// the request reached the server first (the answer was lost).
    HttpError {
        /// Which request.
        request: u32,
        /// The 6xx/7xx code.
        code: u16,
        /// Whether the server saw the request.
        sent: bool,
    },
    /// Request number `request` reaches the server but its answer never comes back: the modem
    /// reports [`codes::TIMEOUT`] after its receive timeout.
    HttpTimeout {
        /// Which request.
        request: u32,
    },
    /// The modem resets (brown-out) halfway through the body of `AT+HTTPDATA` number `upload`,
    /// then boots again by itself.
    ResetMidUpload {
        /// Which upload (1-based in the power cycle).
        upload: u32,
    },
    /// Unsolicited lines the driver does not expect, between the answers.
    UrcNoise,
    /// Bytes lost on the UART in both directions.
    DroppedBytes,
}

impl Fault {
    /// A fault drawn uniformly from every kind (the request numbers among the first five).
    pub fn random(rng: &mut impl Rng) -> Self {
        let request = rng.random_range(1..=5);
        match rng.random_range(0..9) {
            0 => Self::NoSim,
            1 => Self::RegistrationDenied,
            2 => Self::NoCoverage,
            3 => Self::HttpError {
                request,
                code: [
                    codes::NETWORK,
                    codes::DNS,
                    codes::CONNECT,
                    codes::TLS_HANDSHAKE,
                ][rng.random_range(0..4)],
                sent: false,
            },
            4 => Self::HttpError {
                request,
                code: codes::SOCKET,
                sent: true,
            },
            5 => Self::HttpTimeout { request },
            6 => Self::ResetMidUpload { upload: request },
            7 => Self::UrcNoise,
            _ => Self::DroppedBytes,
        }
    }

    /// With probability `p`, a random fault.
    pub fn maybe(rng: &mut impl Rng, p: f64) -> Option<Self> {
        (p > 0.0 && rng.random_bool(p.min(1.0))).then(|| Self::random(rng))
    }
}
