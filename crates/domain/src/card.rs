//! A saved card as the customer reads it: the brand, the last four digits and the expiry the
//! payment provider reports ("Visa ending 4242, expires 12/30"). Never the number itself: the
//! provider keeps that; we keep only what the billing page shows.

/// What the provider reports about a saved card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSummary {
    /// The provider's brand name, as Stripe spells it (`visa`, `mastercard`, `amex`, ...).
    pub brand: String,
    /// The last four digits.
    pub last4: String,
    /// 1 to 12.
    pub exp_month: u8,
    /// Four digits.
    pub exp_year: u16,
}

impl CardSummary {
    /// The brand as a customer reads it (`Visa`, `American Express`); `Card` when the provider
    /// names one we do not know.
    pub fn brand_label(&self) -> &'static str {
        match self.brand.to_ascii_lowercase().as_str() {
            "visa" => "Visa",
            "mastercard" => "Mastercard",
            "amex" | "american express" => "American Express",
            "discover" => "Discover",
            "diners" | "diners club" => "Diners Club",
            "jcb" => "JCB",
            "unionpay" => "UnionPay",
            _ => "Card",
        }
    }

    /// `12/30`.
    pub fn expiry(&self) -> String {
        format!("{:02}/{:02}", self.exp_month, self.exp_year % 100)
    }

    /// `Visa ending 4242, expires 12/30`.
    pub fn describe(&self) -> String {
        format!(
            "{} ending {}, expires {}",
            self.brand_label(),
            self.last4,
            self.expiry()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(brand: &str) -> CardSummary {
        CardSummary {
            brand: brand.to_owned(),
            last4: "4242".to_owned(),
            exp_month: 3,
            exp_year: 2030,
        }
    }

    #[test]
    fn a_card_reads_as_brand_last_four_and_expiry() {
        assert_eq!(card("visa").describe(), "Visa ending 4242, expires 03/30");
        assert_eq!(card("Visa").brand_label(), "Visa");
        assert_eq!(card("amex").brand_label(), "American Express");
        assert_eq!(card("tapcard").brand_label(), "Card");
    }
}
