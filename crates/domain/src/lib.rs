//! smartbox-domain
