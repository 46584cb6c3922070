//! The one-time password-reset link and its email, made the same way whether the customer asks
//! for it (`/forgot-password`) or support sends it from the admin console: only the token's hash
//! is stored (`Change::IssuePasswordReset`, which voids older links), the link works once,
//! within [`RESET_LINK_MS`].

use smartbox_store::changes::Change;

use super::mail::Mail;
use super::tokens::{random_token, token_hash};

/// How long a reset link works.
pub const RESET_LINK_MS: i64 = 60 * 60 * 1000;

/// A new reset link for a user: the change that stores it and the email that carries it.
#[derive(Debug)]
pub struct ResetLink {
    pub change: Change,
    pub mail: Mail,
}

impl ResetLink {
    /// A link for `user_id` (whose address is `email`) issued at `now`, under `public_url`.
    pub fn new(public_url: &str, user_id: &str, email: &str, now: i64) -> ResetLink {
        let token = random_token();
        let link = format!("{public_url}/reset-password?token={token}");
        ResetLink {
            change: Change::IssuePasswordReset {
                token_hash: token_hash(&token),
                user_id: user_id.to_owned(),
                now,
                expires_at: now + RESET_LINK_MS,
            },
            mail: Mail {
                to: email.to_owned(),
                subject: "Reset your Smart Mailbox password".to_owned(),
                body: format!(
                    "Someone asked to reset the password of your Smart Mailbox account.\n\n\
                     To choose a new password, open this link within an hour:\n{link}\n\n\
                     If it was not you, ignore this email; your password stays as it is.\n"
                ),
            },
        }
    }
}
