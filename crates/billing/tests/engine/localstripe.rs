//! The engine with the Stripe provider against localstripe (when `SMARTBOX_TEST_STRIPE_URL` is
//! set, e.g. `http://127.0.0.1:8420`): a card saved at Stripe pays the first period off-session,
//! a declining card starts dunning, and a charge whose answer was lost is found again at Stripe
//! by its attempt id and paid once.

use std::sync::Arc;

use smartbox_billing::{StripeConfig, StripeProvider};
use smartbox_domain::PlanId;
use time::{Duration, OffsetDateTime};

use crate::support::{
    CARD_DECLINES, CARD_OK, TestProvider, World, backends, claim, invoices, payments, subscription,
};

const VARIABLE: &str = "SMARTBOX_TEST_STRIPE_URL";

/// localstripe stamps charges with the real time, and reconciliation searches the customer's
/// charges since the attempt: the story runs on a clock that ends its trial now.
fn claimed() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now) - Duration::days(7)
}

fn stripe() -> Option<Arc<TestProvider>> {
    let Ok(url) = std::env::var(VARIABLE) else {
        eprintln!("skipped: set {VARIABLE} to run the engine against localstripe");
        return None;
    };
    let provider = StripeProvider::new(StripeConfig::new("sk_test_smartbox").with_api_base(&url))
        .expect("client");
    Some(TestProvider::new(Arc::new(provider)))
}

#[tokio::test]
async fn a_card_saved_at_stripe_pays_the_first_period_and_a_declining_card_starts_dunning() {
    let Some(provider) = stripe() else { return };
    for t in backends().await {
        let claimed = claimed();
        let trial_end = claimed + Duration::days(7);
        let mut w = World::with_provider(&t.db, Arc::clone(&provider), claimed);
        let payer = claim(
            &w.db,
            &format!("ls-pay-{}", w.backend()),
            PlanId::Plus,
            claimed,
        )
        .await;
        let decliner = claim(
            &w.db,
            &format!("ls-decline-{}", w.backend()),
            PlanId::Basic,
            claimed,
        )
        .await;
        let saved = w.add_card(&payer, CARD_OK).await;
        assert!(
            saved.payment_method.as_str().starts_with("pm_"),
            "{saved:?}"
        );
        w.add_card(&decliner, CARD_DECLINES).await;

        w.advance_to(trial_end).await;
        let paid = invoices(&w.db, &payer).await.remove(0);
        assert_eq!(
            (paid.status.as_str(), paid.total_cents),
            ("paid", 1000),
            "{}",
            w.backend()
        );
        let attempt = payments(&w.db, &paid).await.remove(0);
        assert_eq!(attempt.provider, "stripe");
        let intent = attempt.provider_payment_id.expect("the PaymentIntent");
        assert!(intent.starts_with("pi_"), "{intent}");
        let record = provider
            .inner()
            .retrieve_charge(&smartbox_billing::PaymentIntentId::new(intent))
            .await
            .expect("at Stripe");
        assert_eq!(
            record.payment_attempt_id.as_deref(),
            Some(attempt.id.as_str())
        );
        assert_eq!(record.invoice_id.as_deref(), Some(paid.id.as_str()));

        assert_eq!(subscription(&w.db, &decliner).await.status, "past_due");
        let declined = invoices(&w.db, &decliner).await.remove(0);
        let failed = payments(&w.db, &declined).await.remove(0);
        assert_eq!(
            (failed.status.as_str(), failed.failure_code.as_deref()),
            ("failed", Some("card_declined"))
        );
    }
}

#[tokio::test]
async fn a_lost_stripe_answer_is_found_by_its_attempt_id_and_paid_once() {
    let Some(provider) = stripe() else { return };
    for t in backends().await {
        let claimed = claimed();
        let trial_end = claimed + Duration::days(7);
        let mut w = World::with_provider(&t.db, Arc::clone(&provider), claimed);
        let c = claim(
            &w.db,
            &format!("ls-lost-{}", w.backend()),
            PlanId::Basic,
            claimed,
        )
        .await;
        w.add_card(&c, CARD_OK).await;
        let before = provider.charges();
        provider.lose_next_answer();
        w.advance_to(trial_end).await;
        let invoice = invoices(&w.db, &c).await.remove(0);
        assert_eq!(payments(&w.db, &invoice).await[0].status, "unknown");
        w.advance(Duration::minutes(3)).await;
        let invoice = invoices(&w.db, &c).await.remove(0);
        assert_eq!(invoice.status, "paid", "{}", w.backend());
        let attempts = payments(&w.db, &invoice).await;
        assert_eq!(attempts.len(), 1);
        assert!(
            attempts[0]
                .provider_payment_id
                .as_deref()
                .is_some_and(|pi| pi.starts_with("pi_"))
        );
        assert_eq!(
            provider.charges() - before,
            1,
            "found at Stripe, not charged again"
        );
    }
}
