//! The customer API's part of `/api/openapi.json`, generated from the handlers' annotations.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The customer JSON API (`/api/v1/`).
#[derive(Debug, OpenApi)]
#[openapi(
    paths(
        super::me,
        super::devices,
        super::device,
        super::update_device,
        super::events,
        super::event,
        super::mail::correct,
        super::mail::delete,
        super::invoices,
        super::invoice,
        super::subscriptions,
        super::return_device,
        super::claims::claim,
        super::settings::get_settings,
        super::settings::update_settings,
        super::billing::subscription,
        super::billing::preview_plan_change,
        super::billing::change_plan,
        super::billing::cancel,
        super::billing::resume,
        super::billing::start_card_setup,
        super::billing::save_payment_method,
        super::billing::payment_method,
        super::billing::remove_payment_method,
        super::returns::start,
        super::returns::cancel,
        super::account::change_password,
        super::account::change_email,
        super::account::delete_account,
        super::account::sessions,
        super::account::sign_out_others,
    ),
    components(schemas(
        super::Me,
        super::Device,
        super::DeviceUpdate,
        super::Event,
        super::EventPage,
        super::mail::CorrectionRequest,
        super::Invoice,
        super::InvoiceLine,
        super::Subscription,
        super::claims::ClaimRequest,
        super::claims::Claimed,
        super::settings::Settings,
        super::settings::QuietHours,
        super::settings::MailboxChannels,
        super::settings::ChannelChoice,
        super::settings::SpendCapView,
        super::settings::SettingsUpdate,
        super::settings::ChannelUpdate,
        super::settings::SpendCapUpdate,
        super::settings::DeliveriesOnlyUpdate,
        super::settings::TimeZoneName,
        super::billing::PlanChoice,
        super::billing::PlanChangePreview,
        super::billing::PlanChanged,
        super::billing::CardSetup,
        super::billing::PaymentMethodRequest,
        super::billing::TestCard,
        super::billing::PaymentMethodSaved,
        super::billing::PaymentMethodOnFile,
        super::billing::CardView,
        super::returns::ReturnRequest,
        super::returns::Return,
        super::account::PasswordChange,
        super::account::EmailChange,
        super::account::EmailChangePending,
        super::account::AccountDeletion,
        super::account::Session,
        super::account::SignedOut,
        PlanDoc,
        crate::accounts::Role,
    )),
    modifiers(&SessionCookie),
    tags((name = "customer", description = "The customer portal's JSON API (session cookie; DESIGN §6)"))
)]
pub struct CustomerApiDoc;

/// A plan's name, as `PlanId` spells it (a test holds the two together).
#[derive(Debug, utoipa::ToSchema)]
#[schema(as = Plan, rename_all = "snake_case")]
#[expect(
    dead_code,
    reason = "a schema only; the handlers take a string and name the plans"
)]
pub enum PlanDoc {
    Basic,
    Plus,
    Premium,
}

/// Declares the session cookie and the CSRF header.
#[derive(Debug)]
struct SessionCookie;

impl Modify for SessionCookie {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "sb_session",
                "The portal's session cookie, set by POST /login or POST /signup",
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "The `csrf_token` of GET /api/v1/me; required on every write",
            ))),
        );
    }
}
