//! Mail intelligence (issue 22): what an event's photos show. Pure — the server decodes the
//! photos, keeps each mailbox's references and runs this in a job; the simulator's bench feeds
//! it rendered scenes.
//!
//! - [`frame`]: photos averaged down to one small colour frame, merged across an event's shots.
//! - [`change`]: where two frames of a mailbox differ, whatever the flash or the sun did.
//! - [`kind`]: delivery, collection or false trigger against the mailbox's references.
//! - [`features`] and [`category`]: what a delivery brought, from the region that changed.
//! - [`calibration`]: the category model as fitted on labelled rendered examples.

pub mod calibration;
pub mod category;
pub mod change;
pub mod features;
pub mod frame;
pub mod kind;
pub mod vector;

use smartbox_domain::{MailCategory, MailKind};

pub use category::{CategoryReading, Model};
pub use features::Features;
pub use frame::Frame;
pub use kind::{KindReading, References};

/// Everything read from one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub kind: MailKind,
    pub kind_confidence: f32,
    /// Deliveries only (and only when the new region is large enough to measure).
    pub category: Option<CategoryReading>,
    /// The new region's measurements, kept so a correction can become a labelled example.
    pub features: Option<Features>,
    /// Where the new region lies, as fractions of the frame `[left, top, right, bottom]`: what
    /// the learned model (`smartbox-vision-model`) looks at in the photo.
    pub bounds: Option<[f32; 4]>,
    /// The mailbox's references after this event.
    pub references: References,
}

/// Reads an event from its photos' frames, given the mailbox's references and its corrected
/// examples. `None` when there are no frames.
pub fn read_event(
    frames: &[Frame],
    refs: &References,
    model: &Model,
    examples: &[(Features, MailCategory)],
) -> Option<Reading> {
    let frame = Frame::median(frames)?;
    let kind = kind::read_kind(&frame, refs);
    let features = kind
        .region
        .as_ref()
        .and_then(|region| features::measure(&frame, region));
    let category = features.and_then(|f| model.classify_with(&f, examples));
    let bounds = kind.region.as_deref().and_then(bounds);
    let references = References {
        empty: if kind.kind == MailKind::Collection
            || (refs.empty.is_none() && kind::looks_empty(&frame))
        {
            Some(frame.clone())
        } else {
            refs.empty.clone()
        },
        last: Some(frame),
    };
    Some(Reading {
        kind: kind.kind,
        kind_confidence: kind.confidence,
        category,
        features,
        bounds,
        references,
    })
}

/// The bounding box of a region's pixels as fractions of the frame; `None` when it is empty.
fn bounds(region: &[bool]) -> Option<[f32; 4]> {
    let mut b = [usize::MAX, usize::MAX, 0, 0];
    for (i, _) in region.iter().enumerate().filter(|(_, on)| **on) {
        let (x, y) = (i % frame::WIDTH, i / frame::WIDTH);
        b = [b[0].min(x), b[1].min(y), b[2].max(x + 1), b[3].max(y + 1)];
    }
    (b[0] != usize::MAX).then(|| {
        let (w, h) = (frame::WIDTH as f32, frame::HEIGHT as f32);
        [
            b[0] as f32 / w,
            b[1] as f32 / h,
            b[2] as f32 / w,
            b[3] as f32 / h,
        ]
    })
}

impl Features {
    /// The features as stored: comma-separated decimals.
    pub fn to_text(&self) -> String {
        vector::to_text(&self.0)
    }

    /// Features stored by [`Features::to_text`]; `None` when the text is not that.
    pub fn from_text(text: &str) -> Option<Features> {
        vector::from_text(text).map(Features)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regions_bounds_are_fractions_of_the_frame() {
        let mut region = vec![false; frame::PIXELS];
        assert_eq!(bounds(&region), None);
        region[10 * frame::WIDTH + 32] = true;
        region[20 * frame::WIDTH + 64] = true;
        assert_eq!(
            bounds(&region),
            Some([0.25, 10.0 / 96.0, 65.0 / 128.0, 21.0 / 96.0])
        );
    }

    #[test]
    fn features_survive_storage_as_text() {
        let f = Features([0.5, 1.25, 0.0, 3.0, 0.1, 0.2, 0.3, 0.4, 0.5]);
        assert_eq!(Features::from_text(&f.to_text()), Some(f));
        assert_eq!(Features::from_text("1,2"), None);
        assert_eq!(Features::from_text("a,b"), None);
    }
}
