//! smartbox-sim
