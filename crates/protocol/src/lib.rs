//! smartbox-protocol
