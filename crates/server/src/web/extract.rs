//! The pages' extractors of who is asking: a [`Visitor`] (anyone, with the CSRF token of their
//! forms) and a [`CurrentUser`] (signed in, else a redirect to the login page). The sessions
//! themselves are `accounts`'; the JSON API has its own extractor there (`ApiUser`, 401).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::PageError;
use crate::accounts::session::load;
use crate::accounts::{CurrentUser, Visitor};
use crate::state::AppState;

impl FromRequestParts<AppState> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        Ok(Visitor::read(parts, state).await?)
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        match load(parts, state).await? {
            Some(user) => Ok(user),
            None => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map_or("/dashboard", |pq| pq.as_str());
                Err(PageError::LoginRequired {
                    next: next.to_owned(),
                })
            }
        }
    }
}
