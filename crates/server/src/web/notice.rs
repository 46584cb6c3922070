//! The confirmation shown after an action: the action's handler redirects to a page with
//! `?done=<what>` and that page says, in one sentence, what happened. Only the sentences here
//! can be shown, so a crafted link cannot put words on the page.

use serde::Deserialize;

/// The `done` query parameter of a page.
#[derive(Debug, Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    pub done: Option<String>,
}

/// `?done=<what>` for a redirect after an action.
pub fn after(path: &str, what: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}done={what}")
}

impl Done {
    /// The sentence for this action, when it is a known one.
    pub fn sentence(&self) -> Option<&'static str> {
        Some(match self.done.as_deref()? {
            "saved" => "Your changes are saved.",
            "card" => "Your card is saved and will pay your invoices from now on.",
            "card_removed" => "Your card is removed. Add one before your next invoice.",
            "cancel_requested" => {
                "Your subscription is canceled: it ends at the end of this period."
            }
            "resumed" => "Your subscription continues: the cancel is taken back.",
            "upgraded" => "Your plan is changed.",
            "plan_changed" => "Your plan is changed.",
            "downgrade_scheduled" => "Your plan changes at your next period.",
            "return_started" => {
                "Your return is started. Follow the instructions below to send the mailbox back."
            }
            "return_canceled" => "Your return is canceled: the mailbox stays yours.",
            "password" => "Your password is changed. Your other sessions are signed out.",
            "signed_out" => "Your other sessions are signed out.",
            "email_link" => {
                "We sent a link to your new address. Your email changes when you open it (within 24 hours)."
            }
            "event_deleted" => "The delivery and its photos are deleted.",
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_actions_have_a_sentence() {
        let done = |w: &str| Done {
            done: Some(w.to_owned()),
        };
        assert!(done("cancel_requested").sentence().is_some());
        assert_eq!(done("<script>").sentence(), None);
        assert_eq!(Done::default().sentence(), None);
        assert_eq!(
            after("/billing", "cancel_requested"),
            "/billing?done=cancel_requested"
        );
        assert_eq!(after("/x?a=1", "saved"), "/x?a=1&done=saved");
    }
}
