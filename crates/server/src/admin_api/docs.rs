//! The admin API's part of `/api/openapi.json`, generated from the handlers' annotations (the
//! session and CSRF schemes are the customer API's).

use utoipa::OpenApi;

/// The admin JSON API (`/api/admin/v1/`).
#[derive(Debug, OpenApi)]
#[openapi(
    paths(
        super::devices,
        super::device,
        super::act,
        super::refurbish,
        super::customers,
        super::jobs,
        super::retry_job,
        super::audit,
        super::refund_payment,
        super::metrics::metrics,
        super::accounts::cancel,
        super::accounts::resume,
        super::accounts::change_plan,
        super::accounts::credit,
        super::accounts::resend,
        super::accounts::password_reset,
        super::rollouts::list,
        super::rollouts::start,
        super::rollouts::get,
        super::rollouts::act,
        super::rollouts::upload,
        super::add_tag,
        super::remove_tag
    ),
    components(schemas(
        super::InventoryDevice,
        super::InventoryPage,
        super::Audit,
        super::AdminDevice,
        super::ReasonRequest,
        super::NewCredentials,
        super::CustomerHit,
        super::CustomerPage,
        super::FailedJob,
        super::RefundRequestBody,
        super::RefundDone,
        super::metrics::Metrics,
        super::accounts::AdminSubscription,
        super::accounts::CancelRequest,
        super::accounts::PlanRequest,
        super::accounts::CreditRequest,
        super::accounts::ResendRequest,
        super::rollouts::Rollout,
        super::rollouts::RolloutStage,
        super::rollouts::RolloutGate,
        super::rollouts::StartRolloutRequest,
        super::rollouts::FirmwareImage,
        super::rollouts::ImageUpload,
        super::TagRequest,
        crate::services::rollouts::ProgressCounts,
    )),
    tags((name = "admin", description = "The admin console's JSON API (staff session; DESIGN §6)"))
)]
pub struct AdminApiDoc;
