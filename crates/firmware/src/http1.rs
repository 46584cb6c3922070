//! HTTP/1.1 over a raw byte stream: the request head the device writes and a strict, push-based
//! parser of the answers it reads (RFC 9112). The stream is the A7670's transparent socket
//! ([`crate::a7670`]), where one TCP (or TLS) connection carries every request of a wake; the
//! modem's HTTP stack needs none of this, it frames requests itself.
//!
//! The parser is pure: the driver feeds it whatever bytes arrived and it takes exactly the bytes
//! of one response (status line, headers, a `Content-Length` body), leaving what follows (the
//! next response, or the modem's `CLOSED` line) to the caller. Anything it does not understand
//! is an error, never a guess: a response taken wrongly would make the wake drop an event the
//! server never stored. It refuses `Transfer-Encoding` (the device API always sends a length).

use core::fmt::Write as _;

use heapless::{String, Vec};

use crate::http::{Request, parse_http_date};

/// Longest status or header line kept (the device API's are well under 100 bytes).
pub const MAX_LINE: usize = 256;
/// Longest request head: request line, `Host`, the signed headers, `Range`, `Connection`.
pub const MAX_HEAD: usize = 640;
/// Lines the modem prints when the connection ends while in data mode and it returns to command
/// mode: `CLOSED` (A76XX TCP/IP and SSL application notes, transparent mode), the URC
/// `+CCH_PEER_CLOSED: <session>` (SSL application note V1.00 §4.1.2) and the classic `NO CARRIER`.
pub const CLOSE_MARKERS: [&[u8]; 3] = [b"CLOSED", b"NO CARRIER", b"+CCH_PEER_CLOSED:"];

/// Whether `line` (without its line end) says the connection is gone.
pub fn is_close_marker(line: &[u8]) -> bool {
    CLOSE_MARKERS.iter().any(|m| line.starts_with(m))
}

/// Why a request head could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadTooLong;

/// Writes the head of `request` for `host`: request line, `Host`, the signed headers, the body's
/// type and length, `Range`, and `Connection: close` when `close` (the last request of the
/// wake: the server closes after its answer and the modem leaves data mode by itself).
pub fn request_head(
    request: &Request<'_>,
    host: &str,
    close: bool,
) -> Result<Vec<u8, MAX_HEAD>, HeadTooLong> {
    let mut text = String::<MAX_HEAD>::new();
    let mut time = String::new();
    let mut write = || -> core::fmt::Result {
        write!(
            text,
            "{} {} HTTP/1.1\r\nHost: {host}\r\n",
            request.method.as_str(),
            request.path
        )?;
        for (name, value) in request.headers.pairs(&mut time) {
            write!(text, "{name}: {value}\r\n")?;
        }
        if let Some(content_type) = request.content_type {
            write!(text, "Content-Type: {content_type}\r\n")?;
        }
        if !request.body.is_empty() || request.method != crate::http::Method::Get {
            write!(text, "Content-Length: {}\r\n", request.body.len())?;
        }
        if let Some(range) = request.range {
            write!(text, "Range: {}\r\n", range.header_value())?;
        }
        if close {
            text.push_str("Connection: close\r\n")
                .map_err(|_| core::fmt::Error)?;
        }
        text.push_str("\r\n").map_err(|_| core::fmt::Error)
    };
    write().map_err(|_| HeadTooLong)?;
    Vec::from_slice(text.as_bytes()).map_err(|_| HeadTooLong)
}

/// What is wrong with the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The first line is not `HTTP/1.x <3 digits> <reason>`.
    StatusLine,
    /// A header line without a name and a colon.
    Header,
    /// A line longer than [`MAX_LINE`].
    LineTooLong,
    /// `Content-Length` missing where a body is due, repeated with another value, or not a number.
    ContentLength,
    /// `Transfer-Encoding` (chunked bodies are not used by the device API).
    Unsupported,
    /// The modem said the connection ended ([`CLOSE_MARKERS`]) before the response was whole.
    Closed,
}

/// A whole response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    /// HTTP status.
    pub status: u16,
    /// Body bytes written into the caller's buffer.
    pub body_len: usize,
    /// The body's length (bytes beyond the buffer were read and dropped).
    pub content_len: u32,
    /// `Date` as unix seconds.
    pub date: Option<i64>,
    /// `Retry-After` in seconds.
    pub retry_after_s: Option<u32>,
    /// The server closes the connection after this response (`Connection: close`, or HTTP/1.0).
    pub close: bool,
    /// Bytes of status line and headers.
    pub head_len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Status,
    Headers,
    Body,
}

/// Parses one response from bytes pushed in pieces; make a new one per response.
#[derive(Debug)]
pub struct ResponseParser {
    phase: Phase,
    line: Vec<u8, MAX_LINE>,
    /// The current line overflowed: refused at its end.
    overlong: bool,
    parsed: Parsed,
    content_len: Option<u32>,
    remaining: u32,
    /// The last bytes of the body, to spot a close marker the modem put in the stream.
    tail: [u8; 24],
}

impl Default for ResponseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseParser {
    /// A parser waiting for a status line.
    pub fn new() -> Self {
        Self {
            phase: Phase::Status,
            line: Vec::new(),
            overlong: false,
            parsed: Parsed {
                status: 0,
                body_len: 0,
                content_len: 0,
                date: None,
                retry_after_s: None,
                close: false,
                head_len: 0,
            },
            content_len: None,
            remaining: 0,
            tail: [0; 24],
        }
    }

    /// Takes bytes from `input` into the response, the body into `body` (what does not fit is
    /// dropped). Returns how many bytes it took and, once the response is whole, the response;
    /// bytes after it are not taken.
    pub fn feed(
        &mut self,
        input: &[u8],
        body: &mut [u8],
    ) -> Result<(usize, Option<Parsed>), ParseError> {
        let mut taken = 0;
        while taken < input.len() {
            if self.phase == Phase::Body {
                let n = (input.len() - taken).min(self.remaining as usize);
                let chunk = &input[taken..taken + n];
                let at = self.parsed.body_len;
                let room = body.len().saturating_sub(at).min(n);
                body[at..at + room].copy_from_slice(&chunk[..room]);
                self.parsed.body_len += room;
                self.remember(chunk);
                self.remaining -= n as u32;
                taken += n;
                if self.remaining == 0 {
                    return Ok((taken, Some(self.parsed)));
                }
                continue;
            }
            let byte = input[taken];
            taken += 1;
            self.parsed.head_len += 1;
            if byte != b'\n' {
                if self.line.push(byte).is_err() {
                    self.overlong = true;
                }
                continue;
            }
            if core::mem::take(&mut self.overlong) {
                return Err(ParseError::LineTooLong);
            }
            let mut line = core::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if is_close_marker(&line) {
                return Err(ParseError::Closed);
            }
            if self.phase == Phase::Status {
                // The line ends the modem puts around its own lines may come first.
                if !line.is_empty() {
                    self.status_line(&line)?;
                    self.phase = Phase::Headers;
                }
                continue;
            }
            if !line.is_empty() {
                self.header(&line)?;
                continue;
            }
            // The blank line: the head is complete.
            let bodiless = matches!(self.parsed.status, 100..=199 | 204 | 304);
            let len = match (self.content_len, bodiless) {
                (_, true) => 0,
                (Some(len), false) => len,
                (None, false) => return Err(ParseError::ContentLength),
            };
            self.parsed.content_len = len;
            self.remaining = len;
            self.phase = Phase::Body;
            if len == 0 {
                return Ok((taken, Some(self.parsed)));
            }
        }
        Ok((taken, None))
    }

    /// Whether the bytes taken so far end in a close marker line: the body may have been cut by
    /// the connection's end (the modem's `CLOSED` is in-band in data mode), so the caller stops
    /// waiting for the rest soon rather than at its deadline.
    pub fn ends_in_close_marker(&self) -> bool {
        if self.phase != Phase::Body {
            return false;
        }
        let tail = &self.tail[..];
        let Some(end) = tail.len().checked_sub(2) else {
            return false;
        };
        if &tail[end..] != b"\r\n" {
            return false;
        }
        let body = &tail[..end];
        CLOSE_MARKERS.iter().any(|m| {
            body.len() > m.len() + 1 && {
                let start = body.len() - m.len();
                &body[start..] == *m && &body[start - 2..start] == b"\r\n"
            }
        })
    }

    fn remember(&mut self, chunk: &[u8]) {
        let keep = chunk.len().min(self.tail.len());
        self.tail.copy_within(keep.., 0);
        let at = self.tail.len() - keep;
        self.tail[at..].copy_from_slice(&chunk[chunk.len() - keep..]);
    }

    fn status_line(&mut self, line: &[u8]) -> Result<(), ParseError> {
        let (version, rest) = if let Some(rest) = line.strip_prefix(b"HTTP/1.1 ") {
            (11, rest)
        } else if let Some(rest) = line.strip_prefix(b"HTTP/1.0 ") {
            (10, rest)
        } else {
            return Err(ParseError::StatusLine);
        };
        let (code, reason) = rest.split_at(rest.len().min(3));
        let digits = code.len() == 3 && code.iter().all(u8::is_ascii_digit);
        if !digits || !(reason.is_empty() || reason[0] == b' ') {
            return Err(ParseError::StatusLine);
        }
        let status = code.iter().fold(0_u16, |n, d| n * 10 + u16::from(d - b'0'));
        if !(100..=599).contains(&status) {
            return Err(ParseError::StatusLine);
        }
        self.parsed.status = status;
        self.parsed.close = version == 10;
        Ok(())
    }

    fn header(&mut self, line: &[u8]) -> Result<(), ParseError> {
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(ParseError::Header)?;
        let name = &line[..colon];
        let token = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
        if name.is_empty() || !name.iter().all(token) {
            return Err(ParseError::Header);
        }
        let value = line[colon + 1..].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") {
            let len = number(value).ok_or(ParseError::ContentLength)?;
            if self.content_len.is_some_and(|earlier| earlier != len) {
                return Err(ParseError::ContentLength);
            }
            self.content_len = Some(len);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(ParseError::Unsupported);
        } else if name.eq_ignore_ascii_case(b"connection") {
            let close = value
                .split(|&b| b == b',')
                .any(|option| option.trim_ascii().eq_ignore_ascii_case(b"close"));
            self.parsed.close |= close;
        } else if name.eq_ignore_ascii_case(b"date") {
            self.parsed.date = core::str::from_utf8(value).ok().and_then(parse_http_date);
        } else if name.eq_ignore_ascii_case(b"retry-after") {
            self.parsed.retry_after_s = number(value);
        }
        Ok(())
    }
}

fn number(text: &[u8]) -> Option<u32> {
    if text.is_empty() || text.len() > 9 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(text.iter().fold(0_u32, |n, d| n * 10 + u32::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Method, SignedHeaders};

    const CREATED: &[u8] = b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 17\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n{\"complete\":true}";

    fn parse_all(input: &[u8], body: &mut [u8]) -> Result<(usize, Option<Parsed>), ParseError> {
        ResponseParser::new().feed(input, body)
    }

    #[test]
    fn a_whole_response_is_parsed_with_its_headers() {
        let mut body = [0; 64];
        let (taken, parsed) = parse_all(CREATED, &mut body).expect("parsed");
        let parsed = parsed.expect("whole");
        assert_eq!(taken, CREATED.len());
        assert_eq!(parsed.status, 201);
        assert_eq!(&body[..parsed.body_len], b"{\"complete\":true}");
        assert_eq!(parsed.content_len, 17);
        assert_eq!(parsed.date, Some(1_767_225_600));
        assert!(!parsed.close);
        assert_eq!(parsed.head_len, CREATED.len() - 17);
    }

    #[test]
    fn a_response_split_at_every_offset_parses_the_same() {
        let mut whole = [0; 64];
        let expected = parse_all(CREATED, &mut whole).expect("parsed").1;
        for cut in 0..=CREATED.len() {
            let mut parser = ResponseParser::new();
            let mut body = [0; 64];
            let (first, done) = parser.feed(&CREATED[..cut], &mut body).expect("first");
            assert_eq!(first, cut, "cut {cut}");
            let result = match done {
                Some(parsed) => Some(parsed),
                None => parser.feed(&CREATED[cut..], &mut body).expect("second").1,
            };
            assert_eq!(result, expected, "cut {cut}");
            assert_eq!(body, whole, "cut {cut}");
        }
    }

    #[test]
    fn bytes_after_the_response_are_left_for_the_next_one() {
        let mut input = CREATED.to_vec();
        input.extend_from_slice(b"\r\nCLOSED\r\n");
        let (taken, parsed) = parse_all(&input, &mut [0; 64]).expect("parsed");
        assert!(parsed.is_some());
        assert_eq!(&input[taken..], b"\r\nCLOSED\r\n");
    }

    #[test]
    fn a_truncated_response_waits_for_more() {
        for cut in 0..CREATED.len() {
            let (taken, parsed) = parse_all(&CREATED[..cut], &mut [0; 64]).expect("no error");
            assert_eq!((taken, parsed), (cut, None), "cut {cut}");
        }
    }

    #[test]
    fn retry_after_and_connection_close_are_read() {
        let input = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3600\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\n{}";
        let parsed = parse_all(input, &mut [0; 8]).expect("ok").1.expect("whole");
        assert_eq!(
            (parsed.status, parsed.retry_after_s, parsed.close),
            (429, Some(3600), true)
        );
        let old = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(parse_all(old, &mut []).expect("ok").1.expect("whole").close);
    }

    #[test]
    fn a_body_larger_than_the_buffer_is_read_and_dropped() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789NEXT";
        let mut body = [0; 4];
        let (taken, parsed) = parse_all(input, &mut body).expect("ok");
        let parsed = parsed.expect("whole");
        assert_eq!(
            (taken, parsed.body_len, parsed.content_len),
            (input.len() - 4, 4, 10)
        );
        assert_eq!(&body, b"0123");
    }

    #[test]
    fn bodiless_statuses_need_no_length() {
        let input = b"HTTP/1.1 204 No Content\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n";
        let parsed = parse_all(input, &mut []).expect("ok").1.expect("whole");
        assert_eq!((parsed.status, parsed.content_len), (204, 0));
    }

    #[test]
    fn garbage_is_refused() {
        let cases: [(&[u8], ParseError); 10] = [
            (b"HTTP/1.1 20 Created\r\n", ParseError::StatusLine),
            (b"HTTP/1.1 2011 Created\r\n", ParseError::StatusLine),
            (b"HTTP/1.1201 Created\r\n", ParseError::StatusLine),
            (b"HTTP/2 200\r\n", ParseError::StatusLine),
            (b"+CSQ: 20,99\r\n", ParseError::StatusLine),
            (b"HTTP/1.1 200 OK\r\nno colon here\r\n", ParseError::Header),
            (b"HTTP/1.1 200 OK\r\nbad name: x\r\n", ParseError::Header),
            (b"HTTP/1.1 200 OK\r\n\r\n", ParseError::ContentLength),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n",
                ParseError::ContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n",
                ParseError::Unsupported,
            ),
        ];
        for (input, error) in cases {
            assert_eq!(
                parse_all(input, &mut [0; 8]),
                Err(error),
                "{}",
                std::string::String::from_utf8_lossy(input)
            );
        }
        let long = [b'x'; MAX_LINE + 10];
        let mut input = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        input.extend_from_slice(&long);
        input.extend_from_slice(b"\r\n");
        assert_eq!(parse_all(&input, &mut []), Err(ParseError::LineTooLong));
    }

    #[test]
    fn a_close_marker_instead_of_a_status_line_or_header_is_reported() {
        for input in [
            &b"\r\nCLOSED\r\n"[..],
            b"\r\nNO CARRIER\r\n",
            b"\r\n+CCH_PEER_CLOSED: 0\r\n",
        ] {
            assert_eq!(parse_all(input, &mut [0; 8]), Err(ParseError::Closed));
        }
        assert_eq!(
            parse_all(b"HTTP/1.1 200 OK\r\nCLOSED\r\n", &mut []),
            Err(ParseError::Closed)
        );
    }

    #[test]
    fn a_close_marker_cutting_a_body_is_spotted() {
        let mut parser = ResponseParser::new();
        let mut body = [0; 64];
        let input =
            b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{\"server_time\":1\r\nCLOSED\r\n";
        let (_, done) = parser.feed(input, &mut body).expect("ok");
        assert_eq!(done, None);
        assert!(parser.ends_in_close_marker());
        let mut whole = ResponseParser::new();
        let (_, done) = whole
            .feed(&CREATED[..CREATED.len() - 3], &mut body)
            .expect("ok");
        assert_eq!(done, None);
        assert!(!whole.ends_in_close_marker());
    }

    #[test]
    fn request_heads_carry_the_signed_headers_length_and_close() {
        let headers =
            SignedHeaders::new("SB-1", &[1; 32], (Method::Post, "/p", None), 42, &[0; 32]);
        let request = Request {
            method: Method::Post,
            path: "/api/device/v1/events",
            content_type: Some("application/json"),
            headers: &headers,
            body: b"{}",
            range: None,
            last: true,
        };
        let head = request_head(&request, "api.example.com", true).expect("fits");
        let text = core::str::from_utf8(&head).expect("text");
        assert!(
            text.starts_with("POST /api/device/v1/events HTTP/1.1\r\nHost: api.example.com\r\n")
        );
        assert!(text.contains("\r\nX-Device-Serial: SB-1\r\nX-Device-Time: 42\r\n"));
        assert!(text.contains("\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"));
        assert!(text.ends_with("\r\nConnection: close\r\n\r\n"));
        let get = Request {
            method: Method::Get,
            body: b"",
            content_type: None,
            range: Some(crate::ota::ByteRange { start: 0, end: 9 }),
            ..request
        };
        let text = request_head(&get, "h", false).expect("fits");
        let text = core::str::from_utf8(&text).expect("text");
        assert!(!text.contains("Content-Length") && !text.contains("Connection"));
        assert!(text.contains("\r\nRange: bytes=0-9\r\n"));
    }
}
