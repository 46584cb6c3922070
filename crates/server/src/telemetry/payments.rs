//! Charges counted by outcome: the payment provider wrapped so that every charge the server
//! asks for (a billing pass, a payment retry, collecting after a card change, a prorated
//! upgrade) is counted where it happens, whichever code path asked.

use std::sync::Arc;

use smartbox_billing::{
    CardDetails, ChargeLookup, ChargeOutcome, ChargeRecord, ChargeRequest, CustomerId, NewCustomer,
    PaymentIntentId, PaymentMethodId, PaymentProvider, ProviderFuture, ProviderMode, Refund,
    RefundRequest, SetupIntent, SetupIntentId,
};
use smartbox_domain::CardSummary;

use super::Metrics;

/// A payment provider whose charges are counted in [`Metrics`]; everything else passes through.
#[derive(Debug)]
pub struct CountedCharges {
    provider: Arc<dyn PaymentProvider>,
    metrics: Arc<Metrics>,
}

impl CountedCharges {
    pub fn new(provider: Arc<dyn PaymentProvider>, metrics: Arc<Metrics>) -> CountedCharges {
        CountedCharges { provider, metrics }
    }
}

impl PaymentProvider for CountedCharges {
    fn mode(&self) -> ProviderMode {
        self.provider.mode()
    }

    fn create_customer<'a>(&'a self, customer: &'a NewCustomer) -> ProviderFuture<'a, CustomerId> {
        self.provider.create_customer(customer)
    }

    fn create_setup_intent<'a>(
        &'a self,
        customer: &'a CustomerId,
    ) -> ProviderFuture<'a, SetupIntent> {
        self.provider.create_setup_intent(customer)
    }

    fn retrieve_setup_intent<'a>(
        &'a self,
        id: &'a SetupIntentId,
    ) -> ProviderFuture<'a, SetupIntent> {
        self.provider.retrieve_setup_intent(id)
    }

    fn save_test_card<'a>(
        &'a self,
        customer: &'a CustomerId,
        card: &'a CardDetails,
    ) -> ProviderFuture<'a, PaymentMethodId> {
        self.provider.save_test_card(customer, card)
    }

    fn attach_payment_method<'a>(
        &'a self,
        payment_method: &'a PaymentMethodId,
        customer: &'a CustomerId,
    ) -> ProviderFuture<'a, ()> {
        self.provider
            .attach_payment_method(payment_method, customer)
    }

    fn retrieve_card<'a>(
        &'a self,
        payment_method: &'a PaymentMethodId,
    ) -> ProviderFuture<'a, CardSummary> {
        self.provider.retrieve_card(payment_method)
    }

    fn detach_payment_method<'a>(
        &'a self,
        payment_method: &'a PaymentMethodId,
    ) -> ProviderFuture<'a, ()> {
        self.provider.detach_payment_method(payment_method)
    }

    fn set_default_payment_method<'a>(
        &'a self,
        customer: &'a CustomerId,
        payment_method: &'a PaymentMethodId,
    ) -> ProviderFuture<'a, ()> {
        self.provider
            .set_default_payment_method(customer, payment_method)
    }

    fn charge<'a>(&'a self, request: &'a ChargeRequest) -> ProviderFuture<'a, ChargeOutcome> {
        Box::pin(async move {
            let result = self.provider.charge(request).await;
            self.metrics.charge(match &result {
                Ok(ChargeOutcome::Succeeded { .. }) => "succeeded",
                Ok(ChargeOutcome::Failed { .. }) => "declined",
                Ok(ChargeOutcome::Unknown { .. }) => "unknown",
                Err(_) => "error",
            });
            result
        })
    }

    fn retrieve_charge<'a>(&'a self, id: &'a PaymentIntentId) -> ProviderFuture<'a, ChargeRecord> {
        self.provider.retrieve_charge(id)
    }

    fn find_charge<'a>(
        &'a self,
        lookup: &'a ChargeLookup,
    ) -> ProviderFuture<'a, Option<ChargeRecord>> {
        self.provider.find_charge(lookup)
    }

    fn refund<'a>(&'a self, request: &'a RefundRequest) -> ProviderFuture<'a, Refund> {
        self.provider.refund(request)
    }
}
