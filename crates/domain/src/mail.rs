//! What a mail event was, as read from its photos (issue 22): its kind (a delivery, a collection,
//! or nothing at all) and, for a delivery, the category of what arrived, with how sure the reading
//! is. The device only knows that the flap moved; these are the server's findings, which a
//! customer may correct.

use crate::names::named_enum;

named_enum! {
    /// What happened in the box between two looks into it.
    pub enum MailKind as "mail kind" {
        /// Something new lies in the box.
        Delivery => "delivery",
        /// The box was emptied.
        Collection => "collection",
        /// Nothing changed: a spider, the sun, a hand that took nothing.
        FalseTrigger => "false_trigger",
    }
}

named_enum! {
    /// What a delivery brought.
    pub enum MailCategory as "mail category" {
        Letter => "letter",
        LargeEnvelope => "large_envelope",
        Package => "package",
        Magazine => "magazine",
        Flyer => "flyer",
    }
}

impl MailKind {
    /// Whether the customer hears of it: a delivery always; a collection unless they asked for
    /// deliveries only; a false trigger never (and it is not counted as a notification).
    pub const fn is_notified(self, deliveries_only: bool) -> bool {
        match self {
            MailKind::Delivery => true,
            MailKind::Collection => !deliveries_only,
            MailKind::FalseTrigger => false,
        }
    }

    /// How pages and messages name it.
    pub const fn label(self) -> &'static str {
        match self {
            MailKind::Delivery => "Delivery",
            MailKind::Collection => "Collection",
            MailKind::FalseTrigger => "False trigger",
        }
    }
}

impl MailCategory {
    /// How pages name it.
    pub const fn label(self) -> &'static str {
        match self {
            MailCategory::Letter => "Letter",
            MailCategory::LargeEnvelope => "Large envelope",
            MailCategory::Package => "Package",
            MailCategory::Magazine => "Magazine or catalogue",
            MailCategory::Flyer => "Flyer or advertising",
        }
    }

    /// The noun a notification uses: "A package arrived".
    pub const fn noun(self) -> &'static str {
        match self {
            MailCategory::Letter => "letter",
            MailCategory::LargeEnvelope => "large envelope",
            MailCategory::Package => "package",
            MailCategory::Magazine => "magazine",
            MailCategory::Flyer => "flyer",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_categories_round_trip_their_names() {
        for &kind in MailKind::ALL {
            assert_eq!(kind.as_str().parse(), Ok(kind));
        }
        for &category in MailCategory::ALL {
            assert_eq!(category.as_str().parse(), Ok(category));
        }
        assert!("parcel".parse::<MailCategory>().is_err());
    }

    #[test]
    fn a_false_trigger_is_never_notified_and_a_collection_only_when_asked() {
        assert!(MailKind::Delivery.is_notified(true));
        assert!(MailKind::Collection.is_notified(false));
        assert!(!MailKind::Collection.is_notified(true));
        assert!(!MailKind::FalseTrigger.is_notified(false));
    }
}
