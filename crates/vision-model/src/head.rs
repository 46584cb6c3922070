//! Our head over the network: a delivery's [`Descriptor`] — the network's log-probabilities for
//! the ImageNet classes that look like mail ([`IMAGENET`]) beside the heuristic's nine
//! measurements of the region — and, per category, a diagonal Gaussian over it (a mean and a
//! spread per value, fitted by [`Head::fit`] on labelled rendered deliveries; the shipped figures
//! are in [`crate::calibration`]). A delivery goes to the likeliest category, with its share of
//! the likelihood as the confidence.
//!
//! A customer's corrections are the mailbox's own prototypes: a delivery within [`NEAR`] (root
//! mean square of z-scores in the head's pooled spreads) of a corrected one takes its category
//! before the Gaussians are asked, as with the heuristic.

use smartbox_domain::MailCategory;
use smartbox_vision::{CategoryReading, Features, vector};

use crate::net::Embedding;

/// The ImageNet classes whose log-probabilities describe a delivery: (index, name).
pub const IMAGENET: [(usize, &str); 10] = [
    (549, "envelope"),
    (692, "packet"),
    (478, "carton"),
    (917, "comic book"),
    (921, "book jacket"),
    (922, "menu"),
    (916, "web site"),
    (918, "crossword puzzle"),
    (446, "binder"),
    (999, "toilet tissue"),
];
/// Values in a descriptor: the log-probabilities, then the heuristic's measurements.
pub const LEN: usize = IMAGENET.len() + smartbox_vision::features::COUNT;
/// Distance within which a corrected example decides.
pub const NEAR: f32 = 0.6;

/// What the head reads of a delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Descriptor(pub [f32; LEN]);

impl Descriptor {
    /// The descriptor of a region the network saw as `embedding` and the heuristic measured as
    /// `features`.
    pub fn new(embedding: &Embedding, features: &Features) -> Self {
        let max = embedding.logits.iter().copied().fold(f32::MIN, f32::max);
        let log_sum = max
            + embedding
                .logits
                .iter()
                .map(|l| (l - max).exp())
                .sum::<f32>()
                .ln();
        let mut out = [0.0; LEN];
        for (slot, (index, _)) in out.iter_mut().zip(IMAGENET) {
            *slot = embedding.logits.get(index).map_or(-30.0, |l| l - log_sum);
        }
        out[IMAGENET.len()..].copy_from_slice(&features.0);
        Self(out)
    }

    /// As stored with the event: comma-separated decimals (more values than the heuristic's
    /// measurements, so neither reader takes the other's).
    pub fn to_text(&self) -> String {
        vector::to_text(&self.0)
    }

    /// A descriptor stored by [`Descriptor::to_text`]; `None` for anything else.
    pub fn from_text(text: &str) -> Option<Self> {
        vector::from_text(text).map(Self)
    }
}

/// A category's mean and spread per descriptor value.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassHead {
    pub category: MailCategory,
    pub mean: [f32; LEN],
    pub spread: [f32; LEN],
}

/// One [`ClassHead`] per category.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub classes: Vec<ClassHead>,
}

impl Head {
    /// Fits each category's mean and spread to `examples` (a category without any is left out).
    /// Spreads have a floor so that one value cannot decide alone.
    pub fn fit(examples: &[(Descriptor, MailCategory)]) -> Head {
        let classes = MailCategory::ALL
            .iter()
            .filter_map(|&category| {
                let of: Vec<&Descriptor> = examples
                    .iter()
                    .filter(|(_, c)| *c == category)
                    .map(|(d, _)| d)
                    .collect();
                if of.is_empty() {
                    return None;
                }
                let n = of.len() as f32;
                let mut mean = [0.0; LEN];
                let mut spread = [0.0; LEN];
                for k in 0..LEN {
                    mean[k] = of.iter().map(|d| d.0[k]).sum::<f32>() / n;
                    let var = of.iter().map(|d| (d.0[k] - mean[k]).powi(2)).sum::<f32>() / n;
                    spread[k] = var.sqrt().max(0.05 * mean[k].abs()).max(1e-3);
                }
                Some(ClassHead {
                    category,
                    mean,
                    spread,
                })
            })
            .collect();
        Head { classes }
    }

    /// The likeliest category, unless a corrected example of the mailbox lies within [`NEAR`].
    pub fn classify(
        &self,
        d: &Descriptor,
        examples: &[(Descriptor, MailCategory)],
    ) -> Option<CategoryReading> {
        let scale = self.pooled_spread();
        let nearest = examples
            .iter()
            .map(|(e, c)| (distance(e, d, &scale), *c))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((distance, category)) = nearest.filter(|(distance, _)| *distance <= NEAR) {
            return Some(CategoryReading {
                category,
                confidence: (1.0 - distance / (2.0 * NEAR)).clamp(0.5, 1.0),
            });
        }
        let scores: Vec<(MailCategory, f32)> = self
            .classes
            .iter()
            .map(|c| (c.category, log_likelihood(c, d)))
            .collect();
        let best = scores.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))?;
        let total: f32 = scores.iter().map(|(_, s)| (s - best.1).exp()).sum();
        Some(CategoryReading {
            category: best.0,
            confidence: 1.0 / total,
        })
    }

    fn pooled_spread(&self) -> [f32; LEN] {
        vector::pooled_spread(self.classes.iter().map(|c| &c.spread))
    }
}

fn log_likelihood(class: &ClassHead, d: &Descriptor) -> f32 {
    vector::log_likelihood(&class.mean, &class.spread, &d.0)
}

fn distance(a: &Descriptor, b: &Descriptor, scale: &[f32; LEN]) -> f32 {
    vector::distance(&a.0, &b.0, scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(envelope: f32, packet: f32) -> Descriptor {
        let mut d = [0.5; LEN];
        d[0] = envelope;
        d[1] = packet;
        Descriptor(d)
    }

    fn small_head() -> Head {
        Head::fit(&[
            (descriptor(-1.0, -6.0), MailCategory::Letter),
            (descriptor(-1.5, -5.5), MailCategory::Letter),
            (descriptor(-6.0, -1.0), MailCategory::Package),
            (descriptor(-5.0, -1.2), MailCategory::Package),
        ])
    }

    #[test]
    fn the_likeliest_category_wins_and_a_corrected_neighbour_first() {
        let head = small_head();
        let letter = head
            .classify(&descriptor(-1.2, -5.8), &[])
            .expect("classes");
        assert_eq!(letter.category, MailCategory::Letter);
        assert!(letter.confidence > 0.9);
        let corrected = [(descriptor(-1.2, -5.8), MailCategory::Flyer)];
        let near = head
            .classify(&descriptor(-1.2, -5.79), &corrected)
            .expect("classes");
        assert_eq!(near.category, MailCategory::Flyer);
        let far = head
            .classify(&descriptor(-5.5, -1.1), &corrected)
            .expect("classes");
        assert_eq!(far.category, MailCategory::Package);
    }

    #[test]
    fn a_descriptor_survives_storage_and_is_not_the_heuristics() {
        let d = descriptor(-1.25, -3.5);
        assert_eq!(Descriptor::from_text(&d.to_text()), Some(d));
        let heuristic = Features([0.5; smartbox_vision::features::COUNT]);
        assert_eq!(Descriptor::from_text(&heuristic.to_text()), None);
        assert!(Features::from_text(&descriptor(0.0, 0.0).to_text()).is_none());
    }

    #[test]
    fn the_log_probabilities_are_of_the_named_classes() {
        let mut logits = vec![0.0; crate::net::CLASSES];
        logits[549] = 20.0;
        let embedding = Embedding {
            pooled: vec![],
            logits,
        };
        let d = Descriptor::new(
            &embedding,
            &Features([0.0; smartbox_vision::features::COUNT]),
        );
        assert!(d.0[0] > -0.01, "envelope ~ all the probability: {}", d.0[0]);
        assert!(d.0[1] < -9.0);
    }
}
