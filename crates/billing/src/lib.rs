//! smartbox-billing
