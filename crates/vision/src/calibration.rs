//! The category model shipped with the server: each category's mean and spread per feature
//! ([`crate::features::NAMES`] order), fitted by `cargo run -p smartbox-sim --release --example
//! calibrate_mail` on rendered deliveries from calibration seeds (which the evaluation bench never
//! uses). Re-run it and paste its output here when the features or the scenes change.

use smartbox_domain::MailCategory;

use crate::category::{ClassModel, Model};
use crate::features::COUNT;

/// `(category, mean, spread)` per category: 408 deliveries of calibration seeds 1 to 12.
#[rustfmt::skip]
const CLASSES: [(MailCategory, [f32; COUNT], [f32; COUNT]); 5] = [
    (MailCategory::Letter, [0.0376, 1.8987, 0.9783, 3.3971, 0.0727, 0.1089, 0.0197, 0.1327, 0.1101], [0.0081, 0.1698, 0.0663, 0.6619, 0.0509, 0.0363, 0.0593, 0.0304, 0.0314]),
    (MailCategory::LargeEnvelope, [0.1585, 1.3669, 0.9105, 3.0453, 0.3071, 0.2138, 0.2840, 0.0865, 0.0613], [0.0373, 0.0816, 0.1578, 0.8073, 0.1585, 0.1042, 0.1557, 0.0164, 0.0226]),
    (MailCategory::Package, [0.1879, 1.3138, 0.9573, 2.7479, 0.3544, 0.2752, 0.3161, 0.0891, 0.0333], [0.0554, 0.1777, 0.0919, 0.7962, 0.1604, 0.0912, 0.1552, 0.0186, 0.0156]),
    (MailCategory::Magazine, [0.1364, 1.3858, 0.9807, 2.1373, 0.4982, 0.7906, -0.0285, 0.2440, 0.1883], [0.0188, 0.0693, 0.0490, 0.4823, 0.0370, 0.0768, 0.1057, 0.0273, 0.0439]),
    (MailCategory::Flyer, [0.0612, 1.6466, 0.9870, 2.5163, 0.6959, 0.7816, -0.1450, 0.1532, 0.1044], [0.0144, 0.1826, 0.0493, 0.7993, 0.0993, 0.2713, 0.6189, 0.0315, 0.0496]),
];

/// The shipped category model.
pub fn model() -> Model {
    Model {
        classes: CLASSES
            .iter()
            .map(|&(category, mean, spread)| ClassModel {
                category,
                mean,
                spread,
            })
            .collect(),
    }
}
