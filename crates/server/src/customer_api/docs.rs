//! The customer API's part of `/api/openapi.json`, generated from the handlers' annotations.

use smartbox_domain::checkin::INTERVALS_S;
use smartbox_domain::mail::{MailCategory, MailKind};
use utoipa::openapi::schema::{OneOfBuilder, Schema, SchemaType};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ObjectBuilder, RefOr, Type};
use utoipa::{Modify, OpenApi};

use smartbox_store::UNCATEGORISED;

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
        super::returns::start_default,
        super::returns::cancel,
        super::account::change_password,
        super::account::change_email,
        super::account::delete_account,
        super::account::sessions,
        super::account::sign_out_others,
        super::wifi::save,
        super::outbound::set_webhook,
        super::outbound::remove_webhook,
        super::outbound::test_webhook,
        super::outbound::subscribe_push,
        super::outbound::unsubscribe_push,
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
        super::returns::OptionalReason,
        super::account::PasswordChange,
        super::account::EmailChange,
        super::account::EmailChangePending,
        super::account::AccountDeletion,
        super::account::Session,
        super::account::SignedOut,
        super::wifi::WifiRequest,
        super::wifi::Wifi,
        super::outbound::WebhookRequest,
        super::outbound::WebhookCreated,
        super::outbound::WebhookTest,
        super::outbound::PushSubscriptionRequest,
        super::outbound::PushKeys,
        super::outbound::PushUnsubscribe,
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

/// A text field that takes one of `values`: the schema lists them so that clients (and
/// schemathesis) send only what the handler accepts.
fn one_of_names(values: impl IntoIterator<Item = &'static str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
}

/// The events filter's `kind`: the domain's [`MailKind`] names.
pub(crate) fn mail_kind() -> ObjectBuilder {
    one_of_names(MailKind::ALL.iter().map(|k| k.as_str()))
}

/// The body of a correction: a delivery with an optional category, or a collection or false
/// trigger without one (`Correction::parse` refuses a category on anything but a delivery).
pub(crate) fn correction() -> RefOr<Schema> {
    let null = || ObjectBuilder::new().schema_type(Type::Null);
    let category = OneOfBuilder::new()
        .item(one_of_names(MailCategory::ALL.iter().map(|c| c.as_str())))
        .item(null());
    let delivery = ObjectBuilder::new()
        .property("kind", one_of_names([MailKind::Delivery.as_str()]))
        .required("kind")
        .property(
            "category",
            category.description(Some(
                "What arrived: letter, large_envelope, package, magazine or flyer",
            )),
        );
    let other = ObjectBuilder::new()
        .property(
            "kind",
            one_of_names(
                MailKind::ALL
                    .iter()
                    .filter(|k| **k != MailKind::Delivery)
                    .map(|k| k.as_str()),
            ),
        )
        .required("kind")
        .property("category", null());
    RefOr::T(
        OneOfBuilder::new()
            .item(delivery)
            .item(other)
            .description(Some("What the customer says an event was"))
            .into(),
    )
}

/// The events filter's `category`: a category, or `uncategorised`.
pub(crate) fn mail_category_filter() -> ObjectBuilder {
    one_of_names(
        MailCategory::ALL
            .iter()
            .map(|c| c.as_str())
            .chain([UNCATEGORISED]),
    )
}

/// `checkin_interval_s` of a mailbox change: one of the domain's [`INTERVALS_S`], or `null` (no
/// change).
pub(crate) fn checkin_interval() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .enum_values(Some(
            INTERVALS_S
                .iter()
                .map(|s| serde_json::Value::from(*s))
                .chain([serde_json::Value::Null]),
        ))
}
