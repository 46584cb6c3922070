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
    /// Whether the customer still owes this invoice.
    pub const fn is_owed(self) -> bool {
        matches!(self, InvoiceStatus::Open)
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
    }
}
