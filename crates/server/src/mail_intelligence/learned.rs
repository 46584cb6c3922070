//! The learned mail model in the server: EfficientNet-Lite0 and our head
//! (`smartbox-vision-model`), loaded from [`Config::mail_model`](crate::config::Config) on the
//! first reading that needs it. Without the weights (never fetched, or not the pinned file) the
//! server says so once and reads categories with the heuristic alone; the kind of an event is the
//! heuristic's either way.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use smartbox_vision_model::{Head, MailModel};

/// The network with the head that reads its features.
#[derive(Debug)]
pub struct Learned {
    pub net: MailModel,
    pub head: Head,
}

/// The model's weights file and, once looked at, the model (or `None`: the heuristic).
#[derive(Debug)]
pub struct LearnedSlot {
    path: PathBuf,
    loaded: OnceLock<Option<Arc<Learned>>>,
}

impl LearnedSlot {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            loaded: OnceLock::new(),
        }
    }

    /// Whether the weights are there (checked without loading them, for the start-up log).
    pub fn present(&self) -> bool {
        smartbox_vision_model::fetch::is_present(&self.path)
    }

    /// Logs which reader categories will come from.
    pub fn announce(&self) {
        if self.present() {
            tracing::info!(weights = %self.path.display(), "mail categories: the learned model (EfficientNet-Lite0)");
        } else {
            tracing::warn!(
                weights = %self.path.display(),
                "mail categories: the heuristic alone, no model weights there (run `smartbox model fetch`)"
            );
        }
    }

    /// The model, loaded on first use (blocking: call it off the async threads); `None` when
    /// the weights are missing or do not load, said once in the log.
    pub fn get(&self) -> Option<Arc<Learned>> {
        self.loaded
            .get_or_init(|| {
                if !self.present() {
                    tracing::warn!(
                        weights = %self.path.display(),
                        "no mail model weights: categories from the heuristic (run `smartbox model fetch`)"
                    );
                    return None;
                }
                let Some(head) = smartbox_vision_model::calibration::head() else {
                    tracing::warn!("the mail model's head is not calibrated in this build: categories from the heuristic");
                    return None;
                };
                match MailModel::load(&self.path) {
                    Ok(net) => {
                        tracing::info!(weights = %self.path.display(), "mail model loaded");
                        Some(Arc::new(Learned { net, head }))
                    }
                    Err(err) => {
                        tracing::error!(weights = %self.path.display(), %err, "the mail model does not load: categories from the heuristic");
                        None
                    }
                }
            })
            .clone()
    }
}
