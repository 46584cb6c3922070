//! smartbox-store
