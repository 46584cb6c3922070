//! The head shipped with the server: each category's mean and spread per descriptor value
//! ([`crate::head::IMAGENET`] log-probabilities, then `smartbox_vision::features::NAMES`),
//! fitted by `cargo run -p smartbox-sim --release --example calibrate_mail_model` on rendered
//! deliveries from the calibration seeds (which the evaluation bench never uses), the network
//! seeing each as the server does. Computed here from our own calibration, not taken from
//! elsewhere; re-run it and paste its output when the descriptor, the crop or the scenes change.

use smartbox_domain::MailCategory;

use crate::head::{ClassHead, Head, LEN};

/// `(category, mean, spread)` per category. Empty until the calibration has been run on a
/// machine with the time for it (see the module's documentation): the head is then not used.
#[rustfmt::skip]
const CLASSES: &[(MailCategory, [f32; LEN], [f32; LEN])] = &[];

/// The shipped head; `None` while [`CLASSES`] is not filled in.
pub fn head() -> Option<Head> {
    if CLASSES.is_empty() {
        return None;
    }
    Some(Head {
        classes: CLASSES
            .iter()
            .map(|&(category, mean, spread)| ClassHead {
                category,
                mean,
                spread,
            })
            .collect(),
    })
}
