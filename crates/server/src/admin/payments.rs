//! Refunding a payment from a customer's admin page (admin only): the amount in dollars, or
//! empty for all that is left, the reason, and the form's one-time key, so submitting the same
//! form twice refunds once.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use smartbox_domain::Cents;

use super::Staff;
use crate::services::staff_billing;
use crate::state::AppState;
use crate::web::PageError;

/// Dollars as typed (`12`, `12.5`, `12.50`, `$12.50`) in cents; empty is `None`.
pub fn parse_dollars(text: &str) -> Result<Option<Cents>, String> {
    let text = text.trim().trim_start_matches('$');
    if text.is_empty() {
        return Ok(None);
    }
    let refuse = || format!("{text:?} is not an amount in dollars like 2.50.");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || whole.len() > 7
        || fraction.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(refuse());
    }
    let whole: i64 = whole.parse().map_err(|_| refuse())?;
    let cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| refuse())?;
    Ok(Some(Cents::new(whole * 100 + cents)))
}

#[derive(Debug, Deserialize)]
pub struct RefundForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    key: String,
}

/// `POST /admin/payments/{id}/refund`.
pub async fn refund(
    State(state): State<AppState>,
    staff: Staff,
    Path(payment_id): Path<String>,
    Form(form): Form<RefundForm>,
) -> Result<Response, PageError> {
    if !staff.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let amount = parse_dollars(&form.amount)
        .map_err(|message| PageError::Status(StatusCode::BAD_REQUEST, message))?;
    let done = staff_billing::refund(
        &state,
        &staff.actor(),
        &payment_id,
        amount,
        &form.key,
        &form.reason,
    )
    .await?;
    let back = format!(
        "/admin/customers/{}?refunded={}",
        crate::web::error::encode_query(&done.customer_id),
        done.amount.get()
    );
    Ok(Redirect::to(&back).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_read_as_cents_and_anything_else_is_refused() {
        assert_eq!(parse_dollars(""), Ok(None));
        assert_eq!(parse_dollars("2.5"), Ok(Some(Cents::new(250))));
        assert_eq!(parse_dollars("$12.05"), Ok(Some(Cents::new(1205))));
        assert_eq!(parse_dollars(" 3 "), Ok(Some(Cents::new(300))));
        for bad in ["-1", "1.234", "abc", ".5", "1e3", "99999999"] {
            assert!(parse_dollars(bad).is_err(), "{bad}");
        }
    }
}
