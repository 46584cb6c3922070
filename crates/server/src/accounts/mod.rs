//! Customer and staff accounts: server-side sessions in cookies (HttpOnly, SameSite=Lax, Secure
//! on https, rotated at login); CSRF tokens on every form; the cross-site request guard; rate
//! limiting of login and claim attempts; the password-reset mail. The pages and the JSON API both
//! use this module and it uses neither: the sign-up, login, logout and reset pages are
//! `web::accounts`.

pub mod client_address;
pub mod guard;
pub mod live_sessions;
pub mod mail;
pub mod password_rules;
pub mod rate_limit;
pub mod reset_link;
pub mod session;
pub mod tokens;

pub use live_sessions::LiveSessions;
pub use session::{ApiUser, CurrentUser, Role, Visitor};
