//! The payment providers over real HTTP, in one test binary: the Stripe client against a
//! scripted server (always), and against localstripe when `SMARTBOX_TEST_STRIPE_URL` names one.

mod localstripe;
mod stripe_http;
mod support;
