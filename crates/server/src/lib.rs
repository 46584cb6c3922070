//! smartbox-server
