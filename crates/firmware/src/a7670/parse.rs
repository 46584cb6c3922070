//! Pure parsers for the A7670's text lines (SIMCom "A76XX Series AT Command Manual" V1.09 and the
//! "A76XX Series HTTP(S) Application Note"). Each takes one line without its `\r\n`.

use core::str;

/// What one line means to the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// Final result `OK`.
    Ok,
    /// Final result `ERROR`.
    Error,
    /// Final result `+CME ERROR: <n>` (`None` when the modem spelled the error in words, CMEE=2).
    CmeError(Option<u16>),
    /// The `DOWNLOAD` prompt of `AT+HTTPDATA`: send the body now (HTTP(S) note §3.2.4).
    Download,
    /// URC `+HTTPACTION: <method>,<status>,<datalen>` (Manual §16.2.4).
    HttpAction(HttpAction),
    /// `POWERED DOWN` (or the `POWERD DOWN` spelling of some firmware) after `AT+CPOF`.
    PoweredDown,
    /// Any other line: an information response, a URC the driver does not need, or noise.
    Other(&'a [u8]),
}

/// Classifies a line.
pub fn classify(line: &[u8]) -> Reply<'_> {
    match line {
        b"OK" => Reply::Ok,
        b"ERROR" => Reply::Error,
        b"DOWNLOAD" => Reply::Download,
        b"POWERED DOWN" | b"POWERD DOWN" => Reply::PoweredDown,
        _ => {
            if let Some(code) = line.strip_prefix(b"+CME ERROR:") {
                Reply::CmeError(number(code))
            } else if let Some(action) = http_action(line) {
                Reply::HttpAction(action)
            } else {
                Reply::Other(line)
            }
        }
    }
}

/// The result of an HTTP request, as announced by the `+HTTPACTION` URC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpAction {
    /// 0 GET, 1 POST, 2 HEAD, 3 DELETE, 4 PUT.
    pub method: u8,
    /// The HTTP status, or a modem error: 6xx network/DNS, 7xx TLS (e.g. 715 handshake failed).
    pub status: u16,
    /// Length of the response body held by the modem, to fetch with `AT+HTTPREAD`.
    pub data_len: u32,
}

impl HttpAction {
    /// Whether `status` is a modem-side failure rather than an answer from the server.
    pub fn is_modem_error(&self) -> bool {
        (600..800).contains(&self.status)
    }
}

fn http_action(line: &[u8]) -> Option<HttpAction> {
    let mut fields = fields(line.strip_prefix(b"+HTTPACTION:")?);
    let action = HttpAction {
        method: number(fields.next()?)?.try_into().ok()?,
        status: number(fields.next()?)?,
        data_len: number32(fields.next()?)?,
    };
    // Every status is three digits (HTTP 1xx-5xx, modem 6xx-7xx): anything else is a line that
    // lost a byte on the UART, and taking `+HTTPACTION: 1,20,85` for a status of 20 would make
    // the wake cycle drop an event the server never stored.
    let plausible = (100..800).contains(&action.status);
    (fields.next().is_none() && plausible).then_some(action)
}

/// Network registration state, the `<stat>` of `+CEREG`/`+CGREG` (Manual §4.2.x).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// 0: not registered and not searching.
    NotSearching,
    /// 1: registered on the home network.
    Home,
    /// 2: not registered, searching.
    Searching,
    /// 3: registration denied (e.g. no subscription for this SIM).
    Denied,
    /// 4: unknown (e.g. out of coverage).
    Unknown,
    /// 5: registered, roaming.
    Roaming,
    /// Any other value (SMS-only or emergency states): not usable for data.
    Other(u16),
}

impl Registration {
    /// Whether data can flow (home or roaming).
    pub fn is_registered(self) -> bool {
        matches!(self, Self::Home | Self::Roaming)
    }
}

/// Parses the read response `+CEREG: <n>,<stat>[,...]` (or `+CGREG:`); `prefix` names which. The
/// one-field URC form `+CEREG: <stat>` is parsed too.
pub fn registration(line: &[u8], prefix: &str) -> Option<Registration> {
    let rest = line.strip_prefix(prefix.as_bytes())?.strip_prefix(b":")?;
    let mut fields = fields(rest);
    let first = number(fields.next()?)?;
    let stat = match fields.next() {
        Some(second) => number(second)?,
        None => first,
    };
    Some(match stat {
        0 => Registration::NotSearching,
        1 => Registration::Home,
        2 => Registration::Searching,
        3 => Registration::Denied,
        4 => Registration::Unknown,
        5 => Registration::Roaming,
        other => Registration::Other(other),
    })
}

/// Parses `+CSQ: <rssi>,<ber>` into dBm (Manual §4.2.x): 0 is -113 dBm or less, n is
/// -113 + 2n, 31 is -51 dBm or more; 99 (unknown) gives `Some(None)`. `None` for anything else.
pub fn signal_dbm(line: &[u8]) -> Option<Option<i16>> {
    let mut fields = fields(line.strip_prefix(b"+CSQ:")?);
    let rssi = number(fields.next()?)?;
    number(fields.next()?)?;
    match rssi {
        0..=31 => Some(Some(-113 + 2 * rssi as i16)),
        99 => Some(None),
        _ => None,
    }
}

/// Parses the count line that announces a binary run: `+HTTPREAD: <n>` or `+HTTPHEAD: <n>`.
/// `+HTTPREAD: DATA,<n>` (the spelling of some firmware) is accepted too.
pub fn counted(line: &[u8], prefix: &str) -> Option<u32> {
    let rest = line.strip_prefix(prefix.as_bytes())?.strip_prefix(b":")?;
    let rest = trim(rest);
    let rest = rest.strip_prefix(b"DATA,").unwrap_or(rest);
    number32(rest)
}

/// The model named by `AT+SIMCOMATI`'s `Model: <name>` line.
pub fn model(line: &[u8]) -> Option<&str> {
    str::from_utf8(trim(line.strip_prefix(b"Model:")?)).ok()
}

/// Whether a model has the HTTP(S) stack this driver needs. The A7670E-LNXY-UBL variant is built
/// without it (no `AT+HTTP*`, no SSL): the device must refuse it rather than fail on every upload.
pub fn model_has_http(model: &str) -> bool {
    const NO_HTTP_SUFFIX: &[u8] = b"LNXY-UBL";
    let model = model.trim().as_bytes();
    !model
        .len()
        .checked_sub(NO_HTTP_SUFFIX.len())
        .is_some_and(|start| model[start..].eq_ignore_ascii_case(NO_HTTP_SUFFIX))
}

/// `+CPIN: <code>`: `Some(true)` for `READY`, `Some(false)` for a PIN/PUK request.
pub fn sim_ready(line: &[u8]) -> Option<bool> {
    let code = trim(line.strip_prefix(b"+CPIN:")?);
    Some(code == b"READY")
}

fn fields(rest: &[u8]) -> impl Iterator<Item = &[u8]> {
    rest.split(|&b| b == b',').map(trim)
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

fn number(bytes: &[u8]) -> Option<u16> {
    str::from_utf8(trim(bytes)).ok()?.parse().ok()
}

fn number32(bytes: &[u8]) -> Option<u32> {
    str::from_utf8(trim(bytes)).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_results_and_prompts_are_recognised() {
        assert_eq!(classify(b"OK"), Reply::Ok);
        assert_eq!(classify(b"ERROR"), Reply::Error);
        assert_eq!(classify(b"+CME ERROR: 10"), Reply::CmeError(Some(10)));
        assert_eq!(
            classify(b"+CME ERROR: SIM not inserted"),
            Reply::CmeError(None)
        );
        assert_eq!(classify(b"DOWNLOAD"), Reply::Download);
        assert_eq!(classify(b"POWERD DOWN"), Reply::PoweredDown);
        assert_eq!(classify(b"POWERED DOWN"), Reply::PoweredDown);
        assert_eq!(classify(b"OKAY"), Reply::Other(b"OKAY"));
        assert_eq!(classify(b"\xff\xfeOK"), Reply::Other(b"\xff\xfeOK"));
    }

    #[test]
    fn http_action_urc_carries_status_and_length() {
        let action = HttpAction {
            method: 1,
            status: 201,
            data_len: 85,
        };
        assert_eq!(
            classify(b"+HTTPACTION: 1,201,85"),
            Reply::HttpAction(action)
        );
        assert!(!action.is_modem_error());
        let Reply::HttpAction(tls) = classify(b"+HTTPACTION: 0,715,0") else {
            panic!("a 715 is still an HTTPACTION");
        };
        assert!(tls.is_modem_error());
    }

    #[test]
    fn truncated_or_garbled_http_action_is_not_taken_for_one() {
        for line in [
            &b"+HTTPACTION: 1,201"[..],
            b"+HTTPACTION: 1,2x1,85",
            b"+HTTPACTION: 1,201,85,9",
            b"+HTTPACTION: 1,20,85",
            b"+HTTPACTION: 1,01,85",
            b"+HTTPACTION: 1,2011,85",
            b"+HTTPACTION:",
        ] {
            assert!(matches!(classify(line), Reply::Other(_)), "{line:?}");
        }
    }

    #[test]
    fn registration_read_response_and_urc() {
        assert_eq!(
            registration(b"+CEREG: 0,1", "+CEREG"),
            Some(Registration::Home)
        );
        assert_eq!(
            registration(b"+CEREG: 2,5,\"1A2B\",\"01A2B3C4\",7", "+CEREG"),
            Some(Registration::Roaming)
        );
        assert_eq!(
            registration(b"+CGREG: 0,3", "+CGREG"),
            Some(Registration::Denied)
        );
        assert_eq!(
            registration(b"+CEREG: 2", "+CEREG"),
            Some(Registration::Searching)
        );
        assert_eq!(
            registration(b"+CEREG: 0,11", "+CEREG"),
            Some(Registration::Other(11))
        );
        assert_eq!(registration(b"+CGREG: 0,1", "+CEREG"), None);
        assert_eq!(registration(b"+CEREG: x,1", "+CEREG"), None);
        assert!(Registration::Roaming.is_registered());
        assert!(!Registration::Searching.is_registered());
    }

    #[test]
    fn csq_maps_to_dbm_per_the_manual_table() {
        assert_eq!(signal_dbm(b"+CSQ: 0,99"), Some(Some(-113)));
        assert_eq!(signal_dbm(b"+CSQ: 1,0"), Some(Some(-111)));
        assert_eq!(signal_dbm(b"+CSQ: 20,99"), Some(Some(-73)));
        assert_eq!(signal_dbm(b"+CSQ: 31,99"), Some(Some(-51)));
        assert_eq!(signal_dbm(b"+CSQ: 99,99"), Some(None));
        assert_eq!(signal_dbm(b"+CSQ: 32,99"), None);
        assert_eq!(signal_dbm(b"+CSQ: 20"), None);
    }

    #[test]
    fn counted_lines_announce_binary_runs() {
        assert_eq!(counted(b"+HTTPREAD: 500", "+HTTPREAD"), Some(500));
        assert_eq!(counted(b"+HTTPREAD: DATA,12", "+HTTPREAD"), Some(12));
        assert_eq!(counted(b"+HTTPREAD: 0", "+HTTPREAD"), Some(0));
        assert_eq!(counted(b"+HTTPHEAD: 387", "+HTTPHEAD"), Some(387));
        assert_eq!(counted(b"+HTTPHEAD: -1", "+HTTPHEAD"), None);
        assert_eq!(counted(b"+HTTPREAD: 5", "+HTTPHEAD"), None);
    }

    #[test]
    fn the_ubl_variant_without_http_is_refused() {
        assert_eq!(model(b"Model: A7670E-LNXY-UBL"), Some("A7670E-LNXY-UBL"));
        assert!(!model_has_http("A7670E-LNXY-UBL"));
        assert!(!model_has_http("a7670e-lnxy-ubl"));
        assert!(model_has_http("A7670E-FASE"));
        assert!(model_has_http("A7670SA-FASE"));
        assert_eq!(model(b"Manufacturer: SIMCOM INCORPORATED"), None);
    }

    #[test]
    fn cpin_ready_or_not() {
        assert_eq!(sim_ready(b"+CPIN: READY"), Some(true));
        assert_eq!(sim_ready(b"+CPIN: SIM PIN"), Some(false));
        assert_eq!(sim_ready(b"+CSQ: 1,1"), None);
    }
}
