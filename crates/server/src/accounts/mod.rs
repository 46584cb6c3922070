//! Customer and staff accounts: sign-up, login, logout and password reset; server-side sessions in
//! cookies (HttpOnly, SameSite=Lax, Secure on https, rotated at login); CSRF tokens on every form;
//! the cross-site request guard; and rate limiting of login and claim attempts.

pub mod client_address;
pub mod guard;
pub mod handlers;
pub mod mail;
pub mod password_rules;
pub mod rate_limit;
pub mod session;
pub mod tokens;

pub use session::{ApiUser, CurrentUser, Role, Visitor};
