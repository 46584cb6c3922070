//! The customer's card: a Stripe SetupIntent to confirm in the browser, then saving the card it
//! confirmed (or, with the sandbox or a Stripe test key, a test card number). A saved card is the
//! customer's default and pays their open invoices at once.

use smartbox_billing::engine::CardAttached;
use smartbox_billing::{CardDetails, SetupIntent, SetupIntentId};
use smartbox_domain::UserId;

use super::{Actor, ServiceError};
use crate::state::AppState;

/// A card to save.
#[derive(Debug, Clone)]
pub enum NewCard {
    /// A SetupIntent the customer confirmed with Stripe; its card is read from Stripe.
    SetupIntent(SetupIntentId),
    /// A test card number (the sandbox, or a Stripe test key).
    TestCard(CardDetails),
}

/// Only the customer saves their own card.
fn customer(actor: &Actor) -> Result<&UserId, ServiceError> {
    match actor {
        Actor::Customer(id) => Ok(id),
        _ => Err(ServiceError::Conflict(
            "only the customer can save their card".to_owned(),
        )),
    }
}

/// A fresh SetupIntent for Stripe Elements.
pub async fn start_card_setup(
    state: &AppState,
    actor: &Actor,
) -> Result<SetupIntent, ServiceError> {
    Ok(state
        .billing()
        .start_card_setup(customer(actor)?.as_str())
        .await?)
}

/// Saves the card as the customer's default and charges their open invoices with it.
pub async fn save(
    state: &AppState,
    actor: &Actor,
    card: NewCard,
) -> Result<CardAttached, ServiceError> {
    let customer = customer(actor)?.as_str();
    if let NewCard::TestCard(card) = &card
        && !(1..=12).contains(&card.exp_month)
    {
        return Err(ServiceError::Invalid {
            code: "invalid_card",
            message: "The expiry month must be 1 to 12.".to_owned(),
        });
    }
    let engine = state.billing();
    let (now, by) = (state.clock.now(), actor.audit_name());
    let saved = match &card {
        NewCard::SetupIntent(intent) => engine.finish_card_setup(customer, intent, now, &by).await,
        NewCard::TestCard(card) => engine.attach_test_card(customer, card, now, &by).await,
    };
    // Even a refused card may have settled some invoices first: the mailboxes must re-read.
    state.devices_changed();
    Ok(saved?)
}
