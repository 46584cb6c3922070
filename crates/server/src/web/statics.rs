//! The static files the pages load (a stylesheet and small progressive scripts), embedded in the
//! binary and served with a long cache lifetime; and the installable web app's files at the root:
//! `/manifest.webmanifest` and the service worker `/sw.js` (at the root so that its scope is the
//! whole portal). The app icons are drawn by [`icon_png`] when first asked for.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../static/app.css"),
    ),
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/dashboard.js"),
    ),
    (
        "confirm.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/confirm.js"),
    ),
    (
        "stripe-card.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/stripe-card.js"),
    ),
    (
        "push.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/push.js"),
    ),
    (
        "time-zone.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/time-zone.js"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("../../static/icon.svg"),
    ),
];

/// The web app manifest.
const MANIFEST: &str = include_str!("../../static/manifest.webmanifest");
/// The service worker.
const SERVICE_WORKER: &str = include_str!("../../static/sw.js");

static ICON_192: LazyLock<Vec<u8>> = LazyLock::new(|| icon_png(192));
static ICON_512: LazyLock<Vec<u8>> = LazyLock::new(|| icon_png(512));

/// `GET /static/{file}`.
pub async fn file(Path(name): Path<String>) -> Response {
    let cache = (header::CACHE_CONTROL, "public, max-age=3600");
    match name.as_str() {
        "icon-192.png" => {
            return (
                [(header::CONTENT_TYPE, "image/png"), cache],
                ICON_192.as_slice(),
            )
                .into_response();
        }
        "icon-512.png" => {
            return (
                [(header::CONTENT_TYPE, "image/png"), cache],
                ICON_512.as_slice(),
            )
                .into_response();
        }
        _ => {}
    }
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => {
            ([(header::CONTENT_TYPE, *content_type), cache], *body).into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// `GET /manifest.webmanifest`.
pub async fn manifest() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/manifest+json"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        MANIFEST,
    )
        .into_response()
}

/// `GET /sw.js`: never cached by HTTP caches, so that browsers see a new worker at once.
pub async fn service_worker() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SERVICE_WORKER,
    )
        .into_response()
}

/// The app icon, `size` pixels square, as a PNG: a white mailbox with a yellow flag on the
/// portal's blue, every shape inside the central circle a maskable icon keeps. Four colours,
/// 2 bits a pixel, stored without compression (16 KiB at 192 px, 66 KiB at 512 px).
pub fn icon_png(size: u32) -> Vec<u8> {
    // The palette: background, mailbox, flag, slot (app.css's --accent, white, the focus ring's
    // yellow, --ink).
    const PALETTE: [u8; 12] = [
        0x0b, 0x5c, 0xad, 0xff, 0xff, 0xff, 0xf2, 0xa9, 0x00, 0x1b, 0x1f, 0x24,
    ];
    let colour = |x: f32, y: f32| -> u8 {
        let inside = |x0: f32, y0: f32, x1: f32, y1: f32| x >= x0 && x < x1 && y >= y0 && y < y1;
        if inside(0.38, 0.46, 0.62, 0.50) {
            3
        } else if inside(0.28, 0.38, 0.72, 0.70)
            || (y < 0.38 && (x - 0.5).powi(2) + (y - 0.38).powi(2) <= 0.22 * 0.22)
            || inside(0.46, 0.70, 0.54, 0.82)
        {
            1
        } else if inside(0.72, 0.32, 0.75, 0.56) || inside(0.75, 0.32, 0.83, 0.39) {
            2
        } else {
            0
        }
    };
    let row_bytes = size.div_ceil(4) as usize;
    let mut raw = Vec::with_capacity((row_bytes + 1) * size as usize);
    let scale = 1.0 / size as f32;
    for row in 0..size {
        raw.push(0); // filter: none
        let y = (row as f32 + 0.5) * scale;
        let mut byte = 0_u8;
        for column in 0..size {
            let x = (column as f32 + 0.5) * scale;
            byte |= colour(x, y) << (6 - 2 * (column % 4));
            if column % 4 == 3 || column + 1 == size {
                raw.push(byte);
                byte = 0;
            }
        }
    }
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&size.to_be_bytes());
    header.extend_from_slice(&size.to_be_bytes());
    // Bit depth 2, colour type 3 (palette), deflate, adaptive filtering, no interlace.
    header.extend_from_slice(&[2, 3, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut png, b"IHDR", &header);
    png_chunk(&mut png, b"PLTE", &PALETTE);
    png_chunk(&mut png, b"IDAT", &zlib_stored(&raw));
    png_chunk(&mut png, b"IEND", &[]);
    png
}

fn png_chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let length = u32::try_from(data.len()).expect("a PNG chunk is under 4 GiB");
    png.extend_from_slice(&length.to_be_bytes());
    let start = png.len();
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let crc = crc32(&png[start..]);
    png.extend_from_slice(&crc.to_be_bytes());
}

/// A zlib stream of `data` in stored (uncompressed) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = data.chunks(0xffff).collect();
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    let (mut a, mut b) = (1_u32, 0_u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffff_u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                0xedb8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_icon_is_a_png_of_its_size() {
        // The CRC every PNG's IEND chunk carries.
        assert_eq!(crc32(b"IEND"), 0xae42_6082);
        let png = icon_png(192);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(&png[16..20], &192_u32.to_be_bytes());
        assert_eq!(&png[20..24], &192_u32.to_be_bytes());
        assert_eq!(&png[png.len() - 12..], b"\0\0\0\0IEND\xaeB`\x82");
        // Filter byte + 48 bytes a row, in one stored block.
        assert!(png.len() > 192 * 49);
        let big = icon_png(512);
        assert!(big.len() > 512 * 129 && big.len() < 70_000);
    }

    #[test]
    fn the_manifest_is_json_naming_the_app() {
        let manifest: serde_json::Value = serde_json::from_str(MANIFEST).expect("JSON");
        assert_eq!(manifest["name"], "Smart Mailbox");
        assert_eq!(manifest["start_url"], "/dashboard");
        assert_eq!(manifest["display"], "standalone");
    }
}
