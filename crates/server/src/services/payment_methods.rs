//! The customer's card, one per account: a Stripe SetupIntent to confirm in the browser, then
//! saving the card it confirmed (or, with the sandbox or a Stripe test key, a test card number).
//! A saved card is the customer's default and pays their open invoices at once; the billing page
//! and the API show it as the provider described it ("Visa ending 4242, expires 12/30").
//! Removing it detaches it at the provider and forgets it here: the next renewal then finds no
//! card (DESIGN §4: as a failed charge).

use smartbox_billing::engine::CardAttached;
use smartbox_billing::{BillingError, CardDetails, SetupIntent, SetupIntentId};
use smartbox_domain::{CardSummary, UserId};

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

/// Only the customer reads, saves or removes their own card.
fn customer(actor: &Actor) -> Result<&UserId, ServiceError> {
    match actor {
        Actor::Customer(id) => Ok(id),
        _ => Err(ServiceError::Conflict(
            "only the customer can change their card".to_owned(),
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

/// The card on file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardOnFile {
    /// Brand, last four digits and expiry; `None` for a card saved before they were kept, or
    /// recorded from a Stripe webhook (which does not carry them).
    pub summary: Option<CardSummary>,
}

impl CardOnFile {
    /// `Visa ending 4242, expires 12/30`, or `A card` when the details are not known.
    pub fn describe(&self) -> String {
        self.summary
            .as_ref()
            .map_or_else(|| "A card".to_owned(), CardSummary::describe)
    }
}

/// The customer's card, if one is on file.
pub async fn card(state: &AppState, actor: &Actor) -> Result<Option<CardOnFile>, ServiceError> {
    let customer = customer(actor)?;
    let row = state
        .db
        .billing_customer(customer.as_str())
        .await?
        .ok_or_else(|| ServiceError::not_found("customer", customer.as_str()))?;
    Ok(row.default_payment_method_id.is_some().then(|| CardOnFile {
        summary: row.card(),
    }))
}

/// Removes the customer's card: detached at the provider, forgotten here, audited. No card on
/// file is "not found".
pub async fn remove(state: &AppState, actor: &Actor) -> Result<(), ServiceError> {
    let customer = customer(actor)?.as_str();
    let (now, by) = (state.clock.now(), actor.audit_name());
    state
        .billing()
        .remove_payment_method(customer, now, &by)
        .await
        .map_err(|err| match err {
            BillingError::NotFound("card") => ServiceError::not_found("card", "on file"),
            other => other.into(),
        })
}
