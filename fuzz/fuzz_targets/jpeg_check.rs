//! The device API's JPEG check (`smartbox-server`'s `device_api/jpeg.rs`, included by path: the
//! server crate is too heavy to build instrumented). Any bytes: no panic, and what it accepts
//! starts with start-of-image, ends with end-of-image (zero padding aside) and has a non-zero
//! frame size.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/server/src/device_api/jpeg.rs"]
mod jpeg;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((width, height)) = jpeg::check(data) {
        assert!(width > 0 && height > 0, "{width}x{height}");
        assert_eq!(&data[..2], &[0xFF, 0xD8]);
        let end = data.iter().rposition(|&b| b != 0).expect("not all zero");
        assert_eq!(&data[end - 1..=end], &[0xFF, 0xD9]);
    }
});
