//! Where an invoice stands, as stored and shown: made but not yet charged, charged and owed,
//! paid, or written off.

use crate::names::named_enum;

named_enum! {
    /// The status of an invoice.
    pub enum InvoiceStatus as "invoice status" {
        /// A proration too small to charge alone; carried into the next invoice.
        Draft => "draft",
        /// Issued and owed; charged off-session, retried while the subscription is in grace.
        Open => "open",
        /// Settled by a successful payment.
        Paid => "paid",
        /// Written off when its subscription ended unpaid.
        Uncollectible => "uncollectible",
        /// Cancelled before anything was owed (a draft carried into another invoice).
        Void => "void",
    }
}

impl InvoiceStatus {
    /// Whether the invoice was issued to the customer: a draft waits to be carried into the
    /// next invoice and is shown nowhere on its own.
    pub const fn is_issued(self) -> bool {
        !matches!(self, InvoiceStatus::Draft)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoice_status_names_match_the_schema() {
        let names: Vec<&str> = InvoiceStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["draft", "open", "paid", "uncollectible", "void"]);
        for &status in InvoiceStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
        assert!("overdue".parse::<InvoiceStatus>().is_err());
        assert!(!InvoiceStatus::Draft.is_issued());
        assert!(InvoiceStatus::Void.is_issued());
    }
}
