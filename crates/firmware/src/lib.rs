//! smartbox-firmware
