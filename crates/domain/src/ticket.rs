//! Support tickets (issue 20): where a customer's question stands, how urgent it is, what it is
//! about, and the rules that move it. A ticket is `new` until staff answer, `waiting_on_customer`
//! after a staff reply, `open` again when the customer writes back, and `solved` when staff or
//! the customer close it; either may reopen a solved ticket. The first staff reply is due within
//! the priority's response time.

use std::fmt;

use crate::names::named_enum;
use crate::transition::TransitionError;

named_enum! {
    /// Where a ticket stands.
    pub enum TicketStatus as "ticket status" {
        /// Opened by the customer, not answered yet.
        New => "new",
        /// The customer wrote last and waits for staff.
        Open => "open",
        /// Staff answered and wait for the customer.
        WaitingOnCustomer => "waiting_on_customer",
        /// Closed by staff or the customer; either may reopen it.
        Solved => "solved",
    }
}

named_enum! {
    /// How urgent a ticket is; sets when the first staff reply is due.
    pub enum TicketPriority as "ticket priority" {
        Low => "low",
        Normal => "normal",
        High => "high",
        Urgent => "urgent",
    }
}

named_enum! {
    /// What a ticket is about, chosen by the customer.
    pub enum TicketCategory as "ticket category" {
        Billing => "billing",
        Mailbox => "mailbox",
        PhotosNotifications => "photos_notifications",
        Other => "other",
    }
}

/// What happens to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketEvent {
    /// The customer wrote a message.
    CustomerReply,
    /// Staff wrote to the customer.
    StaffReply,
    /// Staff or the customer closed it.
    Solve,
    /// Staff or the customer opened a solved ticket again.
    Reopen,
    /// Staff set the status by hand (e.g. back to open after a call).
    Set(TicketStatus),
}

impl fmt::Display for TicketEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TicketEvent::CustomerReply => f.write_str("customer reply"),
            TicketEvent::StaffReply => f.write_str("staff reply"),
            TicketEvent::Solve => f.write_str("solve"),
            TicketEvent::Reopen => f.write_str("reopen"),
            TicketEvent::Set(status) => write!(f, "set to {status}"),
        }
    }
}

/// An event that does not apply to the ticket's status.
pub type TicketTransitionError = TransitionError<TicketStatus, TicketEvent>;

impl TicketStatus {
    /// The status after `event`; an `Err` when it does not apply (solving a solved ticket,
    /// reopening one that is not solved, setting the status it has).
    pub fn apply(self, event: TicketEvent) -> Result<TicketStatus, TicketTransitionError> {
        use TicketEvent as Ev;
        use TicketStatus as St;
        let refuse = Err(TransitionError { from: self, event });
        Ok(match (self, event) {
            (St::New, Ev::CustomerReply) => St::New,
            (_, Ev::CustomerReply) => St::Open,
            (_, Ev::StaffReply) => St::WaitingOnCustomer,
            (St::Solved, Ev::Solve) | (St::New | St::Open | St::WaitingOnCustomer, Ev::Reopen) => {
                return refuse;
            }
            (_, Ev::Solve) => St::Solved,
            (St::Solved, Ev::Reopen) => St::Open,
            (from, Ev::Set(to)) if from == to => return refuse,
            (_, Ev::Set(to)) => to,
        })
    }

    /// Whether staff still owe the customer something (for the inbox's overdue marker).
    pub const fn awaits_staff(self) -> bool {
        matches!(self, TicketStatus::New | TicketStatus::Open)
    }
}

impl TicketPriority {
    /// How long after opening the first staff reply is due, in milliseconds.
    pub const fn first_response_ms(self) -> i64 {
        const HOUR: i64 = 3_600_000;
        match self {
            TicketPriority::Urgent => HOUR,
            TicketPriority::High => 4 * HOUR,
            TicketPriority::Normal => 24 * HOUR,
            TicketPriority::Low => 72 * HOUR,
        }
    }
}

/// Longest subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 120;
/// Longest message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 5_000;

/// Why a subject or a message is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketTextError {
    #[error("The {0} is empty.")]
    Empty(&'static str),
    #[error("The {what} may have at most {max} characters (it has {len}).")]
    TooLong {
        what: &'static str,
        max: usize,
        len: usize,
    },
    #[error("The {0} may not contain control characters.")]
    Control(&'static str),
}

/// A subject or message as kept: trimmed, not empty, at most `max` characters, no control
/// characters but line breaks and tabs. HTML is kept as typed (pages escape it: it shows as text).
/// The length and the control characters are judged on the text as sent, before the trim, as
/// the API's schema (`maxLength`, a pattern) judges it, so the two refuse the same texts.
pub fn ticket_text(what: &'static str, text: &str, max: usize) -> Result<String, TicketTextError> {
    if text.trim().is_empty() {
        return Err(TicketTextError::Empty(what));
    }
    let len = text.chars().count();
    if len > max {
        return Err(TicketTextError::TooLong { what, max, len });
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(TicketTextError::Control(what));
    }
    Ok(text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_waits_on_whoever_did_not_write_last() {
        use TicketStatus as St;
        assert_eq!(St::New.apply(TicketEvent::CustomerReply), Ok(St::New));
        assert_eq!(
            St::New.apply(TicketEvent::StaffReply),
            Ok(St::WaitingOnCustomer)
        );
        assert_eq!(
            St::WaitingOnCustomer.apply(TicketEvent::CustomerReply),
            Ok(St::Open)
        );
        assert_eq!(St::Solved.apply(TicketEvent::CustomerReply), Ok(St::Open));
        assert_eq!(
            St::Solved.apply(TicketEvent::StaffReply),
            Ok(St::WaitingOnCustomer)
        );
    }

    #[test]
    fn only_a_solved_ticket_reopens_and_only_an_unsolved_one_is_solved() {
        use TicketStatus as St;
        for &status in St::ALL {
            let solved = status.apply(TicketEvent::Solve);
            let reopened = status.apply(TicketEvent::Reopen);
            if status == St::Solved {
                assert!(solved.is_err());
                assert_eq!(reopened, Ok(St::Open));
            } else {
                assert_eq!(solved, Ok(St::Solved));
                assert!(reopened.is_err());
            }
            assert!(status.apply(TicketEvent::Set(status)).is_err());
        }
    }

    #[test]
    fn urgent_tickets_are_due_first() {
        let due: Vec<i64> = TicketPriority::ALL
            .iter()
            .map(|p| p.first_response_ms())
            .collect();
        assert!(due.windows(2).all(|w| w[0] > w[1]), "{due:?}");
        assert_eq!(TicketPriority::Urgent.first_response_ms(), 3_600_000);
    }

    #[test]
    fn messages_are_trimmed_bounded_and_html_is_kept_as_text() {
        assert_eq!(
            ticket_text("message", "  <b>hi</b>\n", 12),
            Ok("<b>hi</b>".to_owned())
        );
        assert_eq!(
            ticket_text("message", " \n ", 10),
            Err(TicketTextError::Empty("message"))
        );
        assert!(matches!(
            ticket_text("subject", &"x".repeat(11), 10),
            Err(TicketTextError::TooLong { len: 11, .. })
        ));
        assert_eq!(
            ticket_text("message", "a\u{0}b", 10),
            Err(TicketTextError::Control("message"))
        );
        // Judged as sent: spaces count toward the limit, and a control character is refused
        // even where the trim would have cut it.
        assert!(matches!(
            ticket_text("subject", &format!("x{}", " ".repeat(10)), 10),
            Err(TicketTextError::TooLong { len: 11, .. })
        ));
        assert_eq!(
            ticket_text("subject", "hi\u{85}", 10),
            Err(TicketTextError::Control("subject"))
        );
        assert_eq!(
            TicketTextError::TooLong {
                what: "message",
                max: 5000,
                len: 5001
            }
            .to_string(),
            "The message may have at most 5000 characters (it has 5001)."
        );
    }
}
