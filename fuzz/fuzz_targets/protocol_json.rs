//! The device protocol's JSON as the device decodes it (serde-json-core, no allocation): any
//! bytes, no panic; a decoded request's range check never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smartbox_protocol::{EventRequest, EventResponse, HeartbeatRequest, HeartbeatResponse};

fuzz_target!(|data: &[u8]| {
    if let Ok((request, _)) = serde_json_core::from_slice::<HeartbeatRequest>(data) {
        let _ = request.validate();
    }
    if let Ok((request, _)) = serde_json_core::from_slice::<EventRequest>(data) {
        let _ = request.validate();
    }
    let _ = serde_json_core::from_slice::<HeartbeatResponse>(data);
    let _ = serde_json_core::from_slice::<EventResponse>(data);
});
