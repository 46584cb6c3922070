//! The sandbox's test cards: which numbers it accepts and what happens when each is saved and
//! charged, following Stripe's documented test cards.

use crate::provider::PaymentFailure;

/// What a test card does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CardBehaviour {
    /// Saves and pays.
    Pays,
    /// Refused when saved (Stripe refuses these at attach time).
    RefusedOnSave(Refusal),
    /// Saves fine, then every charge is declined (Stripe's 4000 0000 0000 0341).
    DeclinesCharges(Refusal),
}

/// A card refusal: Stripe's error `code`, `decline_code` and customer-facing message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    code: &'static str,
    decline_code: Option<&'static str>,
    message: &'static str,
}

impl Refusal {
    pub(crate) fn failure(self) -> PaymentFailure {
        PaymentFailure {
            code: self.code.to_owned(),
            decline_code: self.decline_code.map(str::to_owned),
            message: self.message.to_owned(),
        }
    }
}

const GENERIC_DECLINE: Refusal = Refusal {
    code: "card_declined",
    decline_code: Some("generic_decline"),
    message: "Your card was declined.",
};

const INSUFFICIENT_FUNDS: Refusal = Refusal {
    code: "card_declined",
    decline_code: Some("insufficient_funds"),
    message: "Your card has insufficient funds.",
};

/// Stripe refuses real card numbers in test mode; so does the sandbox, so that nobody types a
/// real card into a system that will never charge it.
const NOT_A_TEST_CARD: Refusal = Refusal {
    code: "card_declined",
    decline_code: Some("test_mode_live_card"),
    message: "Your card was declined. This is a sandbox: use a test card such as 4242 4242 4242 4242.",
};

const EXPIRED_CARD: Refusal = Refusal {
    code: "expired_card",
    decline_code: None,
    message: "Your card has expired.",
};

const INCORRECT_CVC: Refusal = Refusal {
    code: "incorrect_cvc",
    decline_code: None,
    message: "Your card's security code is incorrect.",
};

const INCORRECT_NUMBER: Refusal = Refusal {
    code: "incorrect_number",
    decline_code: None,
    message: "Your card number is incorrect.",
};

/// The test cards, by full number. Their last four digits are distinct, which lets a saved
/// card's behaviour be read back from its payment-method id.
const TEST_CARDS: &[(&str, CardBehaviour)] = &[
    ("4242424242424242", CardBehaviour::Pays),
    ("5555555555554444", CardBehaviour::Pays),
    (
        "4000000000000002",
        CardBehaviour::RefusedOnSave(GENERIC_DECLINE),
    ),
    (
        "4000000000009995",
        CardBehaviour::RefusedOnSave(INSUFFICIENT_FUNDS),
    ),
    (
        "4000000000000341",
        CardBehaviour::DeclinesCharges(GENERIC_DECLINE),
    ),
    (
        "4000000000000069",
        CardBehaviour::RefusedOnSave(EXPIRED_CARD),
    ),
    (
        "4000000000000127",
        CardBehaviour::RefusedOnSave(INCORRECT_CVC),
    ),
];

/// What the card with these digits does.
pub(crate) fn behaviour_of_number(digits: &str) -> CardBehaviour {
    if !passes_luhn(digits) {
        return CardBehaviour::RefusedOnSave(INCORRECT_NUMBER);
    }
    TEST_CARDS
        .iter()
        .find(|(number, _)| *number == digits)
        .map_or(CardBehaviour::RefusedOnSave(NOT_A_TEST_CARD), |(_, b)| *b)
}

/// What the saved test card ending in `last4` does; `None` for no card the sandbox can save.
pub(crate) fn behaviour_of_saved(last4: &str) -> Option<CardBehaviour> {
    TEST_CARDS
        .iter()
        .find(|(number, behaviour)| {
            number.ends_with(last4) && !matches!(behaviour, CardBehaviour::RefusedOnSave(_))
        })
        .map(|(_, behaviour)| *behaviour)
}

/// The brand of a card number, by its leading digits, as Stripe names it.
pub(crate) fn brand_of_number(digits: &str) -> &'static str {
    let prefix = |n: usize| digits.get(..n).and_then(|p| p.parse::<u32>().ok());
    match (prefix(1), prefix(2), prefix(4)) {
        (Some(4), _, _) => "visa",
        (_, Some(51..=55), _) | (_, _, Some(2221..=2720)) => "mastercard",
        (_, Some(34 | 37), _) => "amex",
        (_, Some(65), _) | (_, _, Some(6011)) => "discover",
        _ => "other",
    }
}

/// 12 to 19 digits with a valid Luhn check digit.
fn passes_luhn(digits: &str) -> bool {
    if !(12..=19).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cards_brand_is_read_from_its_leading_digits() {
        assert_eq!(brand_of_number("4242424242424242"), "visa");
        assert_eq!(brand_of_number("5555555555554444"), "mastercard");
        assert_eq!(brand_of_number("378282246310005"), "amex");
        assert_eq!(brand_of_number("6011111111111117"), "discover");
        assert_eq!(brand_of_number("9"), "other");
    }

    #[test]
    fn every_test_card_passes_luhn() {
        for (number, _) in TEST_CARDS {
            assert!(passes_luhn(number), "{number}");
        }
    }

    #[test]
    fn a_mistyped_number_is_an_incorrect_number() {
        assert_eq!(
            behaviour_of_number("4242424242424241"),
            CardBehaviour::RefusedOnSave(INCORRECT_NUMBER)
        );
        assert_eq!(
            behaviour_of_number("4242"),
            CardBehaviour::RefusedOnSave(INCORRECT_NUMBER)
        );
        assert_eq!(
            behaviour_of_number("42424242424242x2"),
            CardBehaviour::RefusedOnSave(INCORRECT_NUMBER)
        );
    }

    #[test]
    fn a_real_looking_number_is_refused_as_not_a_test_card() {
        // Luhn-valid, but not one of the test cards.
        assert_eq!(
            behaviour_of_number("4111111111111111"),
            CardBehaviour::RefusedOnSave(NOT_A_TEST_CARD)
        );
    }

    #[test]
    fn saved_cards_are_found_by_their_last_four_digits() {
        assert_eq!(behaviour_of_saved("4242"), Some(CardBehaviour::Pays));
        assert_eq!(
            behaviour_of_saved("0341"),
            Some(CardBehaviour::DeclinesCharges(GENERIC_DECLINE))
        );
        // Cards refused on save can never have been saved.
        assert_eq!(behaviour_of_saved("9995"), None);
        assert_eq!(behaviour_of_saved("1234"), None);
    }

    #[test]
    fn the_test_cards_have_distinct_last_four_digits() {
        let mut last4: Vec<&str> = TEST_CARDS.iter().map(|(n, _)| &n[n.len() - 4..]).collect();
        last4.sort_unstable();
        last4.dedup();
        assert_eq!(last4.len(), TEST_CARDS.len());
    }
}
