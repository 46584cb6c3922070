//! Making one thumbnail: decode a JPEG, scale it to [`WIDTH`] pixels wide (keeping its aspect;
//! never enlarged), encode it as a JPEG again. Pure and CPU-bound: the job runs it on a blocking
//! thread, never on a request.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};

/// The thumbnail's width in pixels (the gallery shows them at 160 CSS px, sharp on 2x screens).
pub const WIDTH: u32 = 320;
/// JPEG quality of thumbnails.
const QUALITY: u8 = 80;
/// The most pixels a photo may have to be decoded: twice the camera's 1600 x 1200, so a photo
/// never costs more than ~12 MB decoded. A header claiming more is refused before any decoding
/// (three 8192 x 8192 JPEGs of 1 MB each once took 250 MB).
pub const MAX_PIXELS: u64 = 2048 * 2048;
/// What the decoder may allocate for one photo.
const MAX_ALLOC: u64 = 48 << 20;

/// Why a photo could not be made into a thumbnail.
#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    /// The bytes are not a JPEG that decodes (a corrupt or truncated upload).
    #[error("not a decodable JPEG: {0}")]
    Undecodable(String),
    /// More pixels than [`MAX_PIXELS`]: not decoded at all.
    #[error("{width} x {height} pixels, above the budget of {MAX_PIXELS}")]
    TooLarge { width: u32, height: u32 },
    #[error("encoding the thumbnail failed: {0}")]
    Encode(String),
}

/// The thumbnail of a JPEG photo, as JPEG bytes, with its width and height.
pub fn thumbnail(jpeg: &[u8]) -> Result<(Vec<u8>, u32, u32), ThumbnailError> {
    let photo = decode(jpeg)?;
    let (width, height) = (photo.width(), photo.height());
    let (to_width, to_height) = scaled_size(width, height);
    let scaled = if (to_width, to_height) == (width, height) {
        photo.to_rgb8()
    } else {
        photo
            .resize_exact(to_width, to_height, FilterType::Triangle)
            .to_rgb8()
    };
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, QUALITY)
        .encode_image(&scaled)
        .map_err(|err| ThumbnailError::Encode(err.to_string()))?;
    Ok((out, to_width, to_height))
}

/// A JPEG photo decoded within the pixel and memory budgets ([`MAX_PIXELS`]): a header claiming
/// more is refused before any decoding.
pub fn decode(jpeg: &[u8]) -> Result<DynamicImage, ThumbnailError> {
    let (width, height) = ImageReader::with_format(Cursor::new(jpeg), ImageFormat::Jpeg)
        .into_dimensions()
        .map_err(|err| ThumbnailError::Undecodable(err.to_string()))?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ThumbnailError::TooLarge { width, height });
    }
    let mut reader = ImageReader::with_format(Cursor::new(jpeg), ImageFormat::Jpeg);
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    reader
        .decode()
        .map_err(|err| ThumbnailError::Undecodable(err.to_string()))
}

/// [`WIDTH`] wide with the photo's aspect (at least 1 px high); a narrower photo keeps its size.
pub fn scaled_size(width: u32, height: u32) -> (u32, u32) {
    if width <= WIDTH {
        return (width, height);
    }
    let to_height =
        (u64::from(height) * u64::from(WIDTH) + u64::from(width) / 2) / u64::from(width);
    (WIDTH, u32::try_from(to_height).unwrap_or(u32::MAX).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(width: u16, height: u16) -> Vec<u8> {
        let pixels: Vec<u8> = (0..u32::from(width) * u32::from(height))
            .flat_map(|i| [(i % 251) as u8, 90, 200])
            .collect();
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 80)
            .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        out
    }

    #[test]
    fn a_photo_is_scaled_to_320_pixels_wide_keeping_its_aspect() {
        let (bytes, width, height) = thumbnail(&jpeg(640, 480)).unwrap();
        assert_eq!((width, height), (320, 240));
        let decoded = image::load_from_memory_with_format(&bytes, ImageFormat::Jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (320, 240));
    }

    #[test]
    fn a_narrow_photo_is_not_enlarged() {
        assert_eq!(scaled_size(200, 150), (200, 150));
        assert_eq!(scaled_size(1600, 1200), (320, 240));
        assert_eq!(scaled_size(4000, 1), (320, 1));
        let (_, width, height) = thumbnail(&jpeg(100, 80)).unwrap();
        assert_eq!((width, height), (100, 80));
    }

    #[test]
    fn a_photo_claiming_more_pixels_than_the_budget_is_not_decoded() {
        // An 8 x 8 JPEG whose frame header claims 8192 x 8192.
        let mut big = jpeg(8, 8);
        let sof = big
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .expect("a baseline frame header");
        big[sof + 5..sof + 9].copy_from_slice(&[0x20, 0x00, 0x20, 0x00]);
        let err = thumbnail(&big).unwrap_err();
        assert!(
            matches!(
                err,
                ThumbnailError::TooLarge {
                    width: 8192,
                    height: 8192
                }
            ),
            "{err}"
        );
        assert!(thumbnail(&jpeg(1600, 1200)).is_ok(), "the camera's size");
    }

    #[test]
    fn a_corrupt_photo_is_refused_with_the_reason() {
        let mut cut = jpeg(640, 480);
        cut.truncate(40);
        let err = thumbnail(&cut).unwrap_err();
        assert!(matches!(err, ThumbnailError::Undecodable(_)), "{err}");
        assert!(err.to_string().starts_with("not a decodable JPEG"), "{err}");
        assert!(thumbnail(b"hello").is_err());
    }
}
