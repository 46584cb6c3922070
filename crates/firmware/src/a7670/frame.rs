//! Framing of the modem's byte stream: text lines, and counted binary runs.
//!
//! The A7670 speaks in `\r\n`-terminated lines, except in two places where a count announced on
//! one line is followed by exactly that many raw bytes (`+HTTPREAD: <n>` and `+HTTPHEAD: <n>`), which
//! may contain anything, `\r\n` and `OK` included. This buffer serves both: [`RxBuffer::pop_line`]
//! for lines, [`RxBuffer::pop_bytes`] for counted runs. It is pure; the driver feeds it.

use heapless::Vec;

/// Longest line kept; a longer one is dropped whole and reported as [`FrameError::LineTooLong`].
pub const MAX_LINE: usize = 256;

/// One line without its terminator.
pub type Line = Vec<u8, MAX_LINE>;

/// What went wrong while framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// A line longer than [`MAX_LINE`] (or a full buffer without a line end): garbage or a lost
    /// terminator. The bytes up to the next line end are discarded.
    LineTooLong,
}

/// Bytes read from the modem and not consumed yet.
#[derive(Debug)]
pub struct RxBuffer<const N: usize> {
    buf: [u8; N],
    len: usize,
    /// Set after a line overflowed: drop everything up to the next `\n`.
    skipping: bool,
}

impl<const N: usize> Default for RxBuffer<N> {
    fn default() -> Self {
        Self {
            buf: [0; N],
            len: 0,
            skipping: false,
        }
    }
}

impl<const N: usize> RxBuffer<N> {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies in as much of `bytes` as fits and returns how much that was. The driver reads into
    /// [`RxBuffer::spare`] instead; this is the convenient form for tests and emulators.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(N - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        n
    }

    /// The free tail to read into; call [`RxBuffer::commit`] with the count read.
    pub fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.len..]
    }

    /// Marks `n` bytes of [`RxBuffer::spare`] as filled.
    pub fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(N);
    }

    /// The next non-empty line, without `\r\n` (a lone `\n` ends a line too). `Ok(None)` when no
    /// complete line is buffered yet. A line that cannot fit is discarded and reported once.
    pub fn pop_line(&mut self) -> Result<Option<Line>, FrameError> {
        loop {
            let Some(end) = self.buf[..self.len].iter().position(|&b| b == b'\n') else {
                if self.skipping {
                    self.len = 0;
                    return Ok(None);
                }
                if self.len >= N.min(MAX_LINE + 1) {
                    self.len = 0;
                    self.skipping = true;
                    return Err(FrameError::LineTooLong);
                }
                return Ok(None);
            };
            let mut line = &self.buf[..end];
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            let skipped = core::mem::take(&mut self.skipping);
            let result = if skipped {
                None
            } else if line.len() > MAX_LINE {
                Some(Err(FrameError::LineTooLong))
            } else if line.is_empty() {
                None
            } else {
                Some(Ok(Vec::from_slice(line).unwrap_or_default()))
            };
            self.consume(end + 1);
            if let Some(result) = result {
                return result.map(Some);
            }
        }
    }

    /// Moves up to `out.len()` raw bytes out of the buffer and returns how many.
    pub fn pop_bytes(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len);
        out[..n].copy_from_slice(&self.buf[..n]);
        self.consume(n);
        n
    }

    /// The bytes waiting, for a parser that takes what it understands ([`RxBuffer::discard`]).
    pub fn peek(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Drops the first `n` bytes waiting (at most all of them).
    pub fn discard(&mut self, n: usize) {
        self.consume(n.min(self.len));
    }

    /// Whether the buffer starts with `prefix` (used to spot the `DOWNLOAD` prompt early).
    pub fn starts_with(&self, prefix: &[u8]) -> bool {
        self.buf[..self.len].starts_with(prefix)
    }

    fn consume(&mut self, n: usize) {
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> std::vec::Vec<Result<std::string::String, FrameError>> {
        let mut rx = RxBuffer::<512>::new();
        rx.push(input);
        let mut out = std::vec::Vec::new();
        loop {
            match rx.pop_line() {
                Ok(Some(line)) => {
                    out.push(Ok(std::string::String::from_utf8_lossy(&line).into_owned()))
                }
                Ok(None) => break,
                Err(e) => out.push(Err(e)),
            }
        }
        out
    }

    #[test]
    fn splits_lines_and_skips_empty_ones() {
        assert_eq!(
            lines(b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"),
            [Ok("+CSQ: 20,99".into()), Ok("OK".into())]
        );
    }

    #[test]
    fn bare_newline_ends_a_line_too() {
        assert_eq!(lines(b"RDY\nOK\n"), [Ok("RDY".into()), Ok("OK".into())]);
    }

    #[test]
    fn incomplete_line_waits_for_more_bytes() {
        let mut rx = RxBuffer::<64>::new();
        rx.push(b"+CSQ: 2");
        assert_eq!(rx.pop_line(), Ok(None));
        rx.push(b"0,99\r\n");
        assert_eq!(
            rx.pop_line().ok().flatten().as_deref(),
            Some(&b"+CSQ: 20,99"[..])
        );
        assert!(rx.is_empty());
    }

    #[test]
    fn overlong_garbage_is_reported_once_and_skipped_to_the_next_line() {
        let mut rx = RxBuffer::<300>::new();
        rx.push(&[b'x'; 300]);
        assert_eq!(rx.pop_line(), Err(FrameError::LineTooLong));
        rx.push(b"yyy\r\nOK\r\n");
        assert_eq!(rx.pop_line().ok().flatten().as_deref(), Some(&b"OK"[..]));
    }

    #[test]
    fn overlong_line_with_terminator_is_refused() {
        let mut input = [b'z'; 400].to_vec();
        input.extend_from_slice(b"\r\nOK\r\n");
        assert_eq!(
            lines(&input),
            [Err(FrameError::LineTooLong), Ok("OK".into())]
        );
    }

    #[test]
    fn counted_bytes_may_contain_line_ends_and_ok() {
        let mut rx = RxBuffer::<64>::new();
        rx.push(b"ab\r\nOK\r\n+HTTPREAD: 0\r\n");
        let mut payload = [0; 8];
        assert_eq!(rx.pop_bytes(&mut payload), 8);
        assert_eq!(&payload, b"ab\r\nOK\r\n");
        assert_eq!(
            rx.pop_line().ok().flatten().as_deref(),
            Some(&b"+HTTPREAD: 0"[..])
        );
    }

    #[test]
    fn spare_and_commit_fill_the_buffer() {
        let mut rx = RxBuffer::<8>::new();
        rx.spare()[..4].copy_from_slice(b"OK\r\n");
        rx.commit(4);
        assert_eq!(rx.spare().len(), 4);
        assert_eq!(rx.pop_line().ok().flatten().as_deref(), Some(&b"OK"[..]));
    }
}
