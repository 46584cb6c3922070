//! The shape shared by the domain's state machines: a transition is the next state plus the
//! effects the caller must perform; an event that does not apply is a `TransitionError`.
//!
//! Machines return effects instead of performing them so that billing and lifecycle rules are
//! tested without a database, and so that the caller can persist the new state and enqueue the
//! effects in one transaction.

use std::fmt;

use thiserror::Error;

/// The outcome of applying an event: the state to store and what to do about it, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition<S, F> {
    pub to: S,
    pub effects: Vec<F>,
}

impl<S, F> Transition<S, F> {
    /// Moves to `to` with nothing else to do.
    pub fn to(to: S) -> Self {
        Transition {
            to,
            effects: Vec::new(),
        }
    }

    /// Moves to `to` and asks the caller to perform `effects`.
    pub fn with(to: S, effects: impl IntoIterator<Item = F>) -> Self {
        Transition {
            to,
            effects: effects.into_iter().collect(),
        }
    }
}

/// An event that does not apply in the current state. Jobs and webhooks arrive late, twice or
/// out of order, so callers usually treat this as "stale, nothing to do" rather than a failure.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{event} does not apply to state {from}")]
pub struct TransitionError<S: fmt::Display, E: fmt::Display> {
    pub from: S,
    pub event: E,
}
