//! The A7670's serial output, split into lines and classified as the driver does: any bytes, no
//! panic, and every line fits the buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smartbox_firmware::a7670::frame::RxBuffer;
use smartbox_firmware::a7670::parse;

fuzz_target!(|data: &[u8]| {
    let mut rx = RxBuffer::<512>::new();
    for chunk in data.chunks(64) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let taken = rx.push(rest);
            rest = &rest[taken..];
            while let Ok(Some(line)) = rx.pop_line() {
                let bytes: &[u8] = &line;
                let _ = parse::classify(bytes);
                let _ = parse::registration(bytes, "+CEREG");
                let _ = parse::signal_dbm(bytes);
                let _ = parse::counted(bytes, "+CIPRXGET");
                let _ = parse::sim_ready(bytes);
                if let Some(model) = parse::model(bytes) {
                    let _ = parse::model_has_http(model);
                }
            }
            if taken == 0 {
                let mut sink = [0u8; 512];
                let _ = rx.pop_bytes(&mut sink);
            }
        }
    }
});
