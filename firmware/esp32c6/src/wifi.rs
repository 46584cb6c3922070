//! The WiFi slot of the wake cycle, empty on this board build.
//!
//! The ESP32-C6's WiFi would come through `esp-radio`; until that adapter exists the board
//! passes `None` for WiFi, and the connectivity manager goes from cellular straight to the SD
//! queue. [`NoWifi`] cannot be constructed; it only names the type.

use smartbox_firmware::http::{DeviceHttp, NetError, Request, Response};
use smartbox_firmware::link::{LinkFailure, Wifi};

/// No WiFi: an uninhabited type.
#[derive(Debug)]
pub enum NoWifi {}

impl DeviceHttp for NoWifi {
    async fn send(&mut self, _: &Request<'_>, _: &mut [u8]) -> Result<Response, NetError> {
        match *self {}
    }
}

impl Wifi for NoWifi {
    async fn scan_rssi(&mut self) -> Option<i16> {
        match *self {}
    }

    async fn join(&mut self) -> Result<(), LinkFailure> {
        match *self {}
    }

    async fn leave(&mut self) {
        match *self {}
    }
}
