//! Turning a template and a context into a page response: the layout's common values (who is
//! signed in, their CSRF token, the current section) and the visitor's cookies.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Value, context};

use super::PageError;
use super::templates;
use crate::accounts::Visitor;
use crate::accounts::session::append_cookies;

/// Renders `name` for `visitor` with status `status`.
pub fn page(
    visitor: &Visitor,
    status: StatusCode,
    name: &str,
    ctx: Value,
) -> Result<Response, PageError> {
    let user = visitor.user().map(|u| {
        context! { email => u.user.email.clone(), role => u.role, staff => u.role.is_staff() }
    });
    let body = templates::render(
        name,
        context! { csrf => visitor.csrf.clone(), user => user, ..ctx },
    )?;
    let mut response = (status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response();
    append_cookies(response.headers_mut(), visitor.cookies());
    Ok(response)
}

/// [`page`] with 200 OK.
pub fn ok(visitor: &Visitor, name: &str, ctx: Value) -> Result<Response, PageError> {
    page(visitor, StatusCode::OK, name, ctx)
}
