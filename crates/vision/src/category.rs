//! The category of a delivery from its region's [`Features`]: each category is a diagonal
//! Gaussian over the features (a mean and a spread per feature, fitted on labelled rendered
//! examples by [`Model::fit`]; the shipped figures are in [`crate::calibration`]), and the
//! delivery goes to the likeliest one. The confidence is that category's share of the likelihood
//! over all five.
//!
//! A customer's corrections are labelled examples of their own mailbox: when the delivery lies
//! close to one of them (within [`NEAR`] in units of the model's spreads), its category wins;
//! that is how a mailbox with an odd camera angle or a local catalogue learns.

use smartbox_domain::MailCategory;

use crate::features::{COUNT, Features};
use crate::vector;

/// Distance (root mean square of per-feature z-scores) within which a corrected example decides.
pub const NEAR: f32 = 0.6;

/// A category's mean and spread per feature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassModel {
    pub category: MailCategory,
    pub mean: [f32; COUNT],
    pub spread: [f32; COUNT],
}

/// One [`ClassModel`] per category.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub classes: Vec<ClassModel>,
}

/// A category with how sure the reading is (0-1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CategoryReading {
    pub category: MailCategory,
    pub confidence: f32,
}

impl Model {
    /// Fits each category's mean and spread to `examples`; a category without examples is left
    /// out. Spreads have a floor so one feature cannot decide alone.
    pub fn fit(examples: &[(Features, MailCategory)]) -> Model {
        let classes = MailCategory::ALL
            .iter()
            .filter_map(|&category| {
                let of: Vec<&Features> = examples
                    .iter()
                    .filter(|(_, c)| *c == category)
                    .map(|(f, _)| f)
                    .collect();
                if of.is_empty() {
                    return None;
                }
                let n = of.len() as f32;
                let mut mean = [0.0; COUNT];
                let mut spread = [0.0; COUNT];
                for k in 0..COUNT {
                    mean[k] = of.iter().map(|f| f.0[k]).sum::<f32>() / n;
                    let var = of.iter().map(|f| (f.0[k] - mean[k]).powi(2)).sum::<f32>() / n;
                    spread[k] = var.sqrt().max(0.05 * mean[k].abs()).max(1e-3);
                }
                Some(ClassModel {
                    category,
                    mean,
                    spread,
                })
            })
            .collect();
        Model { classes }
    }

    /// The likeliest category of a delivery measuring `features`.
    pub fn classify(&self, features: &Features) -> Option<CategoryReading> {
        let scores: Vec<(MailCategory, f32)> = self
            .classes
            .iter()
            .map(|c| (c.category, log_likelihood(c, features)))
            .collect();
        let best = scores.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))?;
        let total: f32 = scores.iter().map(|(_, s)| (s - best.1).exp()).sum();
        Some(CategoryReading {
            category: best.0,
            confidence: 1.0 / total,
        })
    }

    /// Like [`Model::classify`], but a corrected example of the mailbox within [`NEAR`] decides.
    pub fn classify_with(
        &self,
        features: &Features,
        examples: &[(Features, MailCategory)],
    ) -> Option<CategoryReading> {
        let scale = self.pooled_spread();
        let nearest = examples
            .iter()
            .map(|(f, c)| (distance(f, features, &scale), *c))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        match nearest {
            Some((d, category)) if d <= NEAR => Some(CategoryReading {
                category,
                confidence: (1.0 - d / (2.0 * NEAR)).clamp(0.5, 1.0),
            }),
            _ => self.classify(features),
        }
    }

    /// The mean spread of each feature over the categories: the unit of distances between examples.
    fn pooled_spread(&self) -> [f32; COUNT] {
        vector::pooled_spread(self.classes.iter().map(|c| &c.spread))
    }
}

fn log_likelihood(class: &ClassModel, f: &Features) -> f32 {
    vector::log_likelihood(&class.mean, &class.spread, &f.0)
}

fn distance(a: &Features, b: &Features, scale: &[f32; COUNT]) -> f32 {
    vector::distance(&a.0, &b.0, scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(area: f32, elongation: f32) -> Features {
        let mut f = [0.5; COUNT];
        f[0] = area;
        f[1] = elongation;
        Features(f)
    }

    fn small_model() -> Model {
        Model::fit(&[
            (features(0.02, 2.2), MailCategory::Letter),
            (features(0.03, 2.4), MailCategory::Letter),
            (features(0.15, 1.3), MailCategory::Package),
            (features(0.18, 1.2), MailCategory::Package),
        ])
    }

    #[test]
    fn a_small_long_thing_is_a_letter_and_a_big_square_one_a_package() {
        let model = small_model();
        let letter = model.classify(&features(0.025, 2.3)).expect("classes");
        assert_eq!(letter.category, MailCategory::Letter);
        assert!(letter.confidence > 0.9);
        let package = model.classify(&features(0.16, 1.25)).expect("classes");
        assert_eq!(package.category, MailCategory::Package);
    }

    #[test]
    fn a_corrected_example_nearby_wins_over_the_model() {
        let model = small_model();
        let corrected = [(features(0.025, 2.3), MailCategory::Flyer)];
        let reading = model
            .classify_with(&features(0.026, 2.3), &corrected)
            .expect("classes");
        assert_eq!(reading.category, MailCategory::Flyer);
        let far = model
            .classify_with(&features(0.17, 1.2), &corrected)
            .expect("classes");
        assert_eq!(far.category, MailCategory::Package);
    }
}
