//! The device's HTTP abstraction: one signed request, one response. The A7670 driver implements it
//! over the modem's HTTP stack; the board's WiFi and the simulator's plain HTTP client can too.

use heapless::String;
use smartbox_protocol::{HEADER_SERIAL, HEADER_SIGNATURE, HEADER_TIME};

/// The methods the device API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Firmware download.
    Get,
    /// Heartbeat, event, firmware report.
    Post,
    /// Photo upload.
    Put,
}

impl Method {
    /// The method's name as signed and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
        }
    }
}

/// The three authentication headers of a device request (DESIGN §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `X-Device-Serial`.
    pub serial: String<32>,
    /// `X-Device-Time`, unix seconds.
    pub time: i64,
    /// `X-Device-Signature`: `v2=` and 64 lowercase hex characters (it covers the content type
    /// too, so a type mangled on the way fails as a 401 and is sent again).
    pub signature: [u8; 67],
}

impl SignedHeaders {
    /// Signs a request whose `Content-Type` is `content_type` and body digest `body_sha256`.
    pub fn new(
        serial: &str,
        secret: &[u8; 32],
        request: (Method, &str, Option<&str>),
        time: i64,
        body_sha256: &[u8; 32],
    ) -> Self {
        let (method, path, content_type) = request;
        let mut owned = String::new();
        for c in serial.chars() {
            if owned.push(c).is_err() {
                break;
            }
        }
        Self {
            serial: owned,
            time,
            signature: smartbox_protocol::sign_v2(
                secret,
                method.as_str(),
                path,
                time,
                content_type.unwrap_or(""),
                body_sha256,
            ),
        }
    }

    /// The signature as text.
    pub fn signature_str(&self) -> &str {
        core::str::from_utf8(&self.signature).unwrap_or_default()
    }

    /// `(name, value)` pairs in sending order; the time is spelled into `time_buf`.
    pub fn pairs<'a>(&'a self, time_buf: &'a mut String<20>) -> [(&'static str, &'a str); 3] {
        use core::fmt::Write as _;
        time_buf.clear();
        let _ = write!(time_buf, "{}", self.time);
        [
            (HEADER_SERIAL, self.serial.as_str()),
            (HEADER_TIME, time_buf.as_str()),
            (HEADER_SIGNATURE, self.signature_str()),
        ]
    }
}

/// A request to the device API.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Method.
    pub method: Method,
    /// Path (and query) on the server, e.g. [`smartbox_protocol::HEARTBEAT_PATH`].
    pub path: &'a str,
    /// `Content-Type` of the body, when there is one.
    pub content_type: Option<&'a str>,
    /// Authentication headers.
    pub headers: &'a SignedHeaders,
    /// The body (empty for GET).
    pub body: &'a [u8],
    /// A `Range` header (firmware downloads), sent besides the signed headers.
    pub range: Option<crate::ota::ByteRange>,
    /// No other request follows in this wake (the heartbeat): a link that keeps its connection
    /// open asks the server to close it after the answer (`Connection: close`).
    pub last: bool,
}

/// What came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Bytes of the body written into the caller's buffer.
    pub body_len: usize,
    /// Body length the server announced (may exceed `body_len` when the buffer was short).
    pub content_len: u32,
    /// The `Date` header as unix seconds, for clock resync after a 401.
    pub date: Option<i64>,
    /// The `Retry-After` header in seconds (429).
    pub retry_after_s: Option<u32>,
}

/// Why no response came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetError {
    /// No usable link (not registered, WiFi gone, modem off).
    NoLink,
    /// The modem's stack failed: `+HTTPACTION` 6xx (network, DNS) or 7xx (TLS).
    Stack(u16),
    /// No answer in time.
    Timeout,
    /// The body is larger than the link can send in one request.
    BodyTooLarge,
    /// The link itself misbehaved (serial error, modem reset, unparseable replies).
    Link,
    /// TLS could not be set up (no CA, the modem refused a step of the setup) or the server's
    /// certificate did not verify: nothing was sent.
    Tls,
}

/// How the modem carried the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// One TCP (TLS for `https`) connection through the socket service in transparent mode,
    /// kept open for every request of the wake (HTTP/1.1 keep-alive, [`crate::http1`]).
    Socket,
    /// The modem's HTTP(S) stack: a connection (and TLS handshake) per request.
    HttpStack,
}

impl Transport {
    /// A word for `link_reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Socket => "socket",
            Self::HttpStack => "http stack",
        }
    }
}

/// Sends signed requests to the device API.
pub trait DeviceHttp {
    /// Sends `request` and writes the response body into `response_body` (truncated to fit).
    async fn send(
        &mut self,
        request: &Request<'_>,
        response_body: &mut [u8],
    ) -> Result<Response, NetError>;

    /// How the last answered request travelled, when the link has a choice.
    fn transport(&self) -> Option<Transport> {
        None
    }

    /// Sends `request` without waiting for its answer, when the link keeps one connection whose
    /// answers come in order (HTTP/1.1 pipelining); `Ok(false)` when it cannot, and nothing was
    /// sent. Read the answers with [`DeviceHttp::receive_ahead`], oldest first.
    async fn send_ahead(&mut self, request: &Request<'_>) -> Result<bool, NetError> {
        let _ = request;
        Ok(false)
    }

    /// The answer to the oldest request sent with [`DeviceHttp::send_ahead`], its body written
    /// into `response_body` (truncated to fit).
    async fn receive_ahead(&mut self, response_body: &mut [u8]) -> Result<Response, NetError> {
        let _ = response_body;
        Err(NetError::Link)
    }
}

/// Reads `Date` and `Retry-After` from raw response headers (`Name: value` lines; the status line
/// and other headers are skipped; names are case-insensitive).
pub fn scan_headers(head: &[u8]) -> (Option<i64>, Option<u32>) {
    let mut date = None;
    let mut retry_after = None;
    for line in head.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        let Ok(value) = core::str::from_utf8(value) else {
            continue;
        };
        if name.eq_ignore_ascii_case(b"date") {
            date = parse_http_date(value);
        } else if name.eq_ignore_ascii_case(b"retry-after") {
            retry_after = value.parse().ok();
        }
    }
    (date, retry_after)
}

/// Parses an IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`, to unix seconds.
pub fn parse_http_date(text: &str) -> Option<i64> {
    let mut parts = text.split_ascii_whitespace();
    let _weekday = parts.next()?.strip_suffix(',')?;
    let day: u32 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let hour: i64 = hms.next()?.parse().ok()?;
    let minute: i64 = hms.next()?.parse().ok()?;
    let second: i64 = hms.next()?.parse().ok()?;
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse_to_unix_seconds() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Thu, 29 Feb 2024 23:59:59 GMT"),
            Some(1_709_251_199)
        );
        assert_eq!(
            parse_http_date("Thu, 01 Jan 2026 00:00:00 GMT"),
            Some(1_767_225_600)
        );
    }

    #[test]
    fn malformed_dates_are_refused() {
        for text in [
            "",
            "Sun 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37 CET",
            "Sun, 32 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(text), None, "{text}");
        }
    }

    #[test]
    fn headers_are_scanned_case_insensitively() {
        let head = b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nRETRY-AFTER: 3600\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n";
        assert_eq!(scan_headers(head), (Some(1_767_225_600), Some(3600)));
        assert_eq!(scan_headers(b"HTTP/1.1 200 OK\r\n"), (None, None));
    }

    #[test]
    fn signed_headers_use_the_protocol_signature() {
        let secret = [9; 32];
        let digest = smartbox_protocol::body_sha256(b"{}");
        let headers = SignedHeaders::new(
            "SB-0001",
            &secret,
            (
                Method::Post,
                "/api/device/v1/heartbeat",
                Some("application/json"),
            ),
            42,
            &digest,
        );
        assert!(smartbox_protocol::verify_request(
            &secret,
            "POST",
            "/api/device/v1/heartbeat",
            42,
            Some("application/json"),
            &digest,
            &headers.signature
        ));
        let mut time = String::new();
        let pairs = headers.pairs(&mut time);
        assert_eq!(pairs[0], ("X-Device-Serial", "SB-0001"));
        assert_eq!(pairs[1], ("X-Device-Time", "42"));
        assert_eq!(pairs[2].0, "X-Device-Signature");
    }
}
