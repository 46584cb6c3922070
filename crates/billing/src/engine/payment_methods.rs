//! The customer's card: creating the customer at the provider, saving a card (a sandbox or
//! test card number, or a Stripe SetupIntent confirmed by Stripe.js in the browser), making it
//! the default with the brand, last four digits and expiry the provider reports, charging the
//! customer's open invoices at once with it, and removing it.

use std::collections::BTreeMap;

use serde_json::json;
use smartbox_domain::CardSummary;
use smartbox_domain::ids::Email;
use smartbox_store::changes::{Applied, Change, Changes};
use time::OffsetDateTime;

use super::audit;
use super::collect::ChargeResult;
use super::{BillingEngine, BillingError, to_ms};
use crate::ids::{CustomerId, PaymentMethodId, SetupIntentId};
use crate::provider::{
    CardDetails, NewCustomer, PaymentFailure, ProviderError, SetupIntent, SetupIntentStatus,
};

/// A card saved as the customer's default, and what charging their open invoices with it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardAttached {
    pub payment_method: PaymentMethodId,
    /// Its brand, last four digits and expiry.
    pub card: CardSummary,
    pub collected: Vec<ChargeResult>,
}

impl BillingEngine {
    /// The customer's id at the provider, created there on first use.
    pub async fn ensure_provider_customer(
        &self,
        customer_id: &str,
    ) -> Result<CustomerId, BillingError> {
        let customer = self
            .db
            .billing_customer(customer_id)
            .await?
            .ok_or(BillingError::NotFound("customer"))?;
        if let Some(id) = customer.provider_customer_id {
            return Ok(CustomerId::new(id));
        }
        let email = Email::parse(&customer.email)
            .map_err(|e| BillingError::Corrupt(format!("customer {customer_id}: {e}")))?;
        let created = self
            .provider
            .create_customer(&NewCustomer {
                email,
                metadata: BTreeMap::from([("user_id".to_owned(), customer_id.to_owned())]),
            })
            .await?;
        let changes = Changes {
            ops: vec![Change::SetProviderCustomer {
                customer_id: customer_id.to_owned(),
                provider_customer_id: created.as_str().to_owned(),
            }],
        };
        self.db.apply_changes(&changes).await?;
        Ok(created)
    }

    /// Saves a test card number (the sandbox's cards, or Stripe's in test mode) as the
    /// customer's default card and charges their open invoices with it at once. A refused card
    /// is a `BillingError::Provider` naming the reason.
    pub async fn attach_test_card(
        &self,
        customer_id: &str,
        card: &CardDetails,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<CardAttached, BillingError> {
        // A month outside 1-12 is a malformed card, not an expired one: refused before the
        // expiry is judged, whichever provider is configured.
        if !(1..=12).contains(&card.exp_month) {
            return Err(BillingError::Provider(ProviderError::invalid_parameter(
                "exp_month",
                "Your card's expiration month is invalid.",
            )));
        }
        if card.expired_at(now) {
            return Err(BillingError::Provider(ProviderError::CardDeclined(
                PaymentFailure {
                    code: "expired_card".to_owned(),
                    decline_code: None,
                    message: "Your card has expired.".to_owned(),
                },
            )));
        }
        let customer = self.ensure_provider_customer(customer_id).await?;
        let payment_method = self.provider.save_test_card(&customer, card).await?;
        self.provider
            .set_default_payment_method(&customer, &payment_method)
            .await?;
        self.use_payment_method(customer_id, payment_method, now, actor)
            .await
    }

    /// Starts saving a card with Stripe.js: the browser confirms the returned SetupIntent with
    /// its `client_secret`, then the portal calls [`BillingEngine::finish_card_setup`] (or the
    /// `setup_intent.succeeded` webhook arrives).
    pub async fn start_card_setup(&self, customer_id: &str) -> Result<SetupIntent, BillingError> {
        let customer = self.ensure_provider_customer(customer_id).await?;
        Ok(self.provider.create_setup_intent(&customer).await?)
    }

    /// Takes the card of a confirmed SetupIntent as the customer's default and charges their
    /// open invoices with it.
    pub async fn finish_card_setup(
        &self,
        customer_id: &str,
        setup_intent: &SetupIntentId,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<CardAttached, BillingError> {
        let customer = self.ensure_provider_customer(customer_id).await?;
        let intent = self.provider.retrieve_setup_intent(setup_intent).await?;
        if intent.customer.as_ref() != Some(&customer) {
            return Err(BillingError::NotFound("setup intent"));
        }
        let (SetupIntentStatus::Succeeded, Some(payment_method)) =
            (&intent.status, intent.payment_method)
        else {
            return Err(BillingError::Conflict(
                "the card has not been confirmed yet".into(),
            ));
        };
        self.provider
            .set_default_payment_method(&customer, &payment_method)
            .await?;
        self.use_payment_method(customer_id, payment_method, now, actor)
            .await
    }

    /// Attaches a payment method created in the browser and makes it the default.
    pub async fn attach_payment_method(
        &self,
        customer_id: &str,
        payment_method: &PaymentMethodId,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<CardAttached, BillingError> {
        let customer = self.ensure_provider_customer(customer_id).await?;
        self.provider
            .attach_payment_method(payment_method, &customer)
            .await?;
        self.provider
            .set_default_payment_method(&customer, payment_method)
            .await?;
        self.use_payment_method(customer_id, payment_method.clone(), now, actor)
            .await
    }

    /// Forgets the customer's card: detached at the provider first (so it can never be charged
    /// again; one already detached there counts as done), then forgotten here with an audit
    /// entry. Open and future invoices then find no card, as if none was ever saved.
    pub async fn remove_payment_method(
        &self,
        customer_id: &str,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<(), BillingError> {
        let customer = self
            .db
            .billing_customer(customer_id)
            .await?
            .ok_or(BillingError::NotFound("customer"))?;
        let payment_method = customer
            .default_payment_method_id
            .map(PaymentMethodId::new)
            .ok_or(BillingError::NotFound("card"))?;
        if let Err(err) = self.provider.detach_payment_method(&payment_method).await
            && !err.is_not_found()
        {
            return Err(err.into());
        }
        let now_ms = to_ms(now);
        let changes = Changes {
            ops: vec![
                Change::SetCustomerPaymentMethod {
                    customer_id: customer_id.to_owned(),
                    payment_method_id: None,
                    card: None,
                    changed_at: now_ms.div_euclid(1000),
                },
                audit::entry(
                    now_ms,
                    actor,
                    ("customer", customer_id),
                    "payment_method_removed",
                    "the customer removed their card",
                    json!({ "payment_method": payment_method.as_str() }),
                ),
            ],
        };
        match self.db.apply_changes(&changes).await? {
            Applied::Stale(_) => Err(BillingError::Conflict(
                "a newer card change was recorded meanwhile".into(),
            )),
            Applied::Done => Ok(()),
        }
    }

    /// Records the card (with its brand, last four digits and expiry, read back from the
    /// provider) as the customer's default, then charges the open invoices at once.
    async fn use_payment_method(
        &self,
        customer_id: &str,
        payment_method: PaymentMethodId,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<CardAttached, BillingError> {
        let card = self.provider.retrieve_card(&payment_method).await?;
        let now_ms = to_ms(now);
        let changes = Changes {
            ops: vec![
                Change::SetCustomerPaymentMethod {
                    customer_id: customer_id.to_owned(),
                    payment_method_id: Some(payment_method.as_str().to_owned()),
                    card: Some(card.clone()),
                    changed_at: now_ms.div_euclid(1000),
                },
                audit::entry(
                    now_ms,
                    actor,
                    ("customer", customer_id),
                    "payment_method_set",
                    "the customer saved a card",
                    json!({ "payment_method": payment_method.as_str() }),
                ),
            ],
        };
        if let Applied::Stale(_) = self.db.apply_changes(&changes).await? {
            return Err(BillingError::Conflict(
                "a newer card change was recorded meanwhile".into(),
            ));
        }
        let collected = self
            .collect_customer(customer_id, now, actor, "the customer updated the card")
            .await?;
        Ok(CardAttached {
            payment_method,
            card,
            collected,
        })
    }
}
