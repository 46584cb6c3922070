//! Whether bytes are a JPEG, judged by its structure and never by decoding it (the request path
//! must stay cheap): start-of-image, a chain of well-formed marker segments up to start-of-scan
//! that includes a frame header with a non-zero size and 1-4 components, then end-of-image at the
//! end (trailing zero padding, which some cameras add, is tolerated).

/// Why bytes are not a JPEG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotJpeg {
    #[error("it does not start with the JPEG start-of-image marker")]
    NoStartOfImage,
    #[error("a marker segment is malformed or cut short")]
    BrokenSegment,
    #[error("it has no frame header (SOF) with a picture size before the scan")]
    NoFrame,
    #[error("it has no start-of-scan")]
    NoScan,
    #[error("it does not end with the end-of-image marker")]
    NoEndOfImage,
}

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;

/// The frame's width and height when `bytes` is a JPEG.
pub fn check(bytes: &[u8]) -> Result<(u16, u16), NotJpeg> {
    if bytes.len() < 4 || bytes[0] != 0xFF || bytes[1] != SOI {
        return Err(NotJpeg::NoStartOfImage);
    }
    let mut at = 2;
    let mut frame = None;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        if bytes.get(at) != Some(&0xFF) {
            return Err(NotJpeg::BrokenSegment);
        }
        while bytes.get(at) == Some(&0xFF) {
            at += 1;
        }
        let marker = *bytes.get(at).ok_or(NotJpeg::BrokenSegment)?;
        at += 1;
        match marker {
            // Standalone markers without a length.
            0x01 | 0xD0..=0xD7 => continue,
            SOI | 0x00 => return Err(NotJpeg::BrokenSegment),
            EOI => return Err(NotJpeg::NoScan),
            _ => {}
        }
        let length = usize::from(u16::from_be_bytes([
            *bytes.get(at).ok_or(NotJpeg::BrokenSegment)?,
            *bytes.get(at + 1).ok_or(NotJpeg::BrokenSegment)?,
        ]));
        if length < 2 || at + length > bytes.len() {
            return Err(NotJpeg::BrokenSegment);
        }
        let segment = &bytes[at + 2..at + length];
        if is_frame_header(marker) {
            frame = Some(frame_size(segment)?);
        }
        at += length;
        if marker == SOS {
            break;
        }
    }
    let (width, height) = frame.ok_or(NotJpeg::NoFrame)?;
    let end = bytes.iter().rposition(|&b| b != 0).unwrap_or(0) + 1;
    if end < at + 2 || bytes[end - 2] != 0xFF || bytes[end - 1] != EOI {
        return Err(NotJpeg::NoEndOfImage);
    }
    Ok((width, height))
}

/// SOF0-SOF15 except DHT (C4), JPG (C8) and DAC (CC), which share the range.
fn is_frame_header(marker: u8) -> bool {
    (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

/// precision(1) height(2) width(2) components(1), then 3 bytes per component.
fn frame_size(segment: &[u8]) -> Result<(u16, u16), NotJpeg> {
    let [_precision, h1, h0, w1, w0, components, ..] = *segment else {
        return Err(NotJpeg::NoFrame);
    };
    let (height, width) = (u16::from_be_bytes([h1, h0]), u16::from_be_bytes([w1, w0]));
    if width == 0
        || height == 0
        || !(1..=4).contains(&components)
        || segment.len() != 6 + 3 * usize::from(components)
    {
        return Err(NotJpeg::NoFrame);
    }
    Ok((width, height))
}

/// A structurally valid JPEG of `len` bytes or a little more (an 8x8 grey baseline frame whose
/// scan is filler), for tests and the benchmark. It is not meant to be decoded.
pub fn synthetic(len: usize) -> Vec<u8> {
    let mut out = vec![0xFF, SOI];
    // APP0 JFIF.
    out.extend_from_slice(&[
        0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
    ]);
    // DQT: one 8-bit table of 64 ones.
    out.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x43, 0x00]);
    out.extend_from_slice(&[1; 64]);
    // SOF0: 8-bit, 8x8, one component.
    out.extend_from_slice(&[
        0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x08, 0x00, 0x08, 0x01, 0x01, 0x11, 0x00,
    ]);
    // SOS: one component.
    out.extend_from_slice(&[0xFF, SOS, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00]);
    let filler = len.saturating_sub(out.len() + 2);
    out.extend((0..filler).map(|i| (i % 251) as u8 & 0x7F));
    out.extend_from_slice(&[0xFF, EOI]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_synthetic_frame_passes_with_its_size() {
        assert_eq!(check(&synthetic(60_000)), Ok((8, 8)));
        assert!(synthetic(60_000).len() >= 60_000);
    }

    #[test]
    fn trailing_zero_padding_is_tolerated() {
        let mut padded = synthetic(1_000);
        padded.extend_from_slice(&[0; 32]);
        assert!(check(&padded).is_ok());
    }

    #[test]
    fn png_text_and_random_bytes_are_refused() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x08\0\0\0\x08\x08\x02\0\0\0";
        assert_eq!(check(png), Err(NotJpeg::NoStartOfImage));
        assert_eq!(check(b"hello world"), Err(NotJpeg::NoStartOfImage));
        let random: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert!(check(&random).is_err());
    }

    #[test]
    fn a_jpeg_cut_short_or_without_frame_is_refused() {
        let full = synthetic(2_000);
        assert_eq!(check(&full[..full.len() - 1]), Err(NotJpeg::NoEndOfImage));
        assert_eq!(check(&full[..30]), Err(NotJpeg::BrokenSegment));
        let mut no_frame = full.clone();
        // Turn SOF0 (at 2 + 18 + 69) into an APP1 segment of the same length.
        let sof = 2 + 18 + 69;
        assert_eq!(&no_frame[sof..sof + 2], &[0xFF, 0xC0]);
        no_frame[sof + 1] = 0xE1;
        assert_eq!(check(&no_frame), Err(NotJpeg::NoFrame));
    }

    #[test]
    fn only_the_magic_bytes_are_not_enough() {
        assert!(check(&[0xFF, 0xD8, 0xFF, 0xD9]).is_err());
        assert!(check(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10]).is_err());
    }
}
