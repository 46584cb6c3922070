//! Rendered mailboxes read by the server's rules, event by event, as the server reads them: each
//! event's photos rendered at VGA and encoded as JPEG at quality 80 ([`crate::scene`]), made into
//! the gallery's thumbnails, decoded into frames and read against the mailbox's references, which
//! then move on. The category calibrations (`examples/calibrate_mail.rs`, and
//! `examples/calibrate_mail_model.rs` for the learned model's head) and the evaluation bench
//! (`benches/mail_intelligence.rs`) share it, on seeds that never overlap.
//!
//! With the learned model, each delivery is also seen by the network in the last photo's
//! thumbnail (as the server does) and its [`Descriptor`] kept; the head that reads it is applied
//! by the caller ([`categorise`]), so one run can both calibrate and evaluate.

use std::time::{Duration, Instant};

use smartbox_domain::{MailCategory, MailKind};
use smartbox_server::mail_intelligence::frame_of_jpeg;
use smartbox_server::thumbnails::scale::{self, thumbnail};
use smartbox_vision::{CategoryReading, Features, Model, Reading, References};
use smartbox_vision_model::{Descriptor, Head, MailModel, Photo};

use crate::scene::{MailboxScenes, Truth};

/// Photos per event, as the firmware takes them.
pub const PHOTOS: usize = 3;
/// JPEG quality of the camera.
pub const QUALITY: u8 = 80;

/// Seeds of the calibration mailboxes.
pub const CALIBRATION_SEEDS: std::ops::Range<u64> = 1..13;
/// Seeds of the held-out evaluation mailboxes: never used for calibration.
pub const EVALUATION_SEEDS: std::ops::Range<u64> = 1_000_001..1_000_013;
/// The learned model's weights as `smartbox model fetch` puts them, run from the workspace's
/// root: `data/models/` there.
pub fn weights() -> std::path::PathBuf {
    smartbox_vision_model::fetch::weights_path(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data"),
    )
}

/// Events per mailbox.
pub const EVENTS_PER_MAILBOX: usize = 60;

/// One event: what happened and what was read.
#[derive(Debug, Clone)]
pub struct Scored {
    pub truth: Truth,
    pub reading: Reading,
    /// What the learned model read of a delivery (when it was given one).
    pub descriptor: Option<Descriptor>,
}

/// Time spent per phase over a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub photos: u32,
    /// Rendering the scene and encoding the JPEG (the simulator's cost, not the server's).
    pub render: Duration,
    /// Making the thumbnail (the existing thumbnail job's cost).
    pub thumbnail: Duration,
    /// Decoding the thumbnail into a frame and reading the event (the `classify_event` job's cost).
    pub read: Duration,
    /// The learned model on deliveries: decoding the thumbnail, the crop and the network.
    pub model: Duration,
}

/// Runs one mailbox's story of `events` events from `seed`, reading each with `model` and the
/// mailbox's corrected `examples`, and each delivery with the network `net` when given.
pub fn run_mailbox(
    seed: u64,
    events: usize,
    model: &Model,
    examples: &[(Features, MailCategory)],
    net: Option<&MailModel>,
    timings: &mut Timings,
) -> anyhow::Result<Vec<Scored>> {
    let mut scenes = MailboxScenes::new(seed);
    let mut references = References::default();
    let mut out = Vec::with_capacity(events);
    for _ in 0..events {
        let truth = scenes.next_event();
        let mut frames = Vec::with_capacity(PHOTOS);
        let mut read = Duration::ZERO;
        let mut last_thumb = Vec::new();
        for _ in 0..PHOTOS {
            let started = Instant::now();
            let rgb = scenes.shot(640, 480);
            let mut jpeg = Vec::new();
            jpeg_encoder::Encoder::new(&mut jpeg, QUALITY).encode(
                &rgb,
                640,
                480,
                jpeg_encoder::ColorType::Rgb,
            )?;
            timings.render += started.elapsed();
            let started = Instant::now();
            let (thumb, _, _) = thumbnail(&jpeg)?;
            timings.thumbnail += started.elapsed();
            let started = Instant::now();
            frames.push(frame_of_jpeg(&thumb)?);
            read += started.elapsed();
            timings.photos += 1;
            last_thumb = thumb;
        }
        let started = Instant::now();
        let reading = smartbox_vision::read_event(&frames, &references, model, examples)
            .ok_or_else(|| anyhow::anyhow!("no frames"))?;
        timings.read += read + started.elapsed();
        references = reading.references.clone();
        let descriptor = match net {
            Some(net) if reading.kind == MailKind::Delivery => {
                let started = Instant::now();
                let d = describe(net, &last_thumb, &reading)?;
                timings.model += started.elapsed();
                d
            }
            _ => None,
        };
        out.push(Scored {
            truth,
            reading,
            descriptor,
        });
    }
    Ok(out)
}

/// The network's descriptor of a delivery, as the server makes it from the event's thumbnail.
fn describe(net: &MailModel, jpeg: &[u8], reading: &Reading) -> anyhow::Result<Option<Descriptor>> {
    let photo = scale::decode(jpeg)?.to_rgb8();
    let photo = Photo {
        rgb: photo.as_raw(),
        width: photo.width() as usize,
        height: photo.height() as usize,
    };
    Ok(net.describe(photo, reading)?)
}

/// The category of each event as the learned model reads it with `head`: the heuristic's for
/// events without a descriptor (not deliveries, or no measured region).
pub fn categorise(scored: &[Scored], head: &Head) -> Vec<Option<CategoryReading>> {
    scored
        .iter()
        .map(|s| match &s.descriptor {
            Some(d) => head.classify(d, &[]),
            None => s.reading.category,
        })
        .collect()
}

/// The labelled descriptors of true deliveries read as deliveries.
pub fn labelled_descriptors(scored: &[Scored]) -> Vec<(Descriptor, MailCategory)> {
    scored
        .iter()
        .filter_map(|s| match (s.truth.category, &s.descriptor) {
            (Some(category), Some(d)) => Some((d.clone(), category)),
            _ => None,
        })
        .collect()
}

/// The labelled examples of true deliveries read as deliveries: `(features, category)`.
pub fn labelled(scored: &[Scored]) -> Vec<(Features, MailCategory)> {
    scored
        .iter()
        .filter_map(|s| match (s.truth.category, s.reading.features) {
            (Some(category), Some(features)) if s.reading.kind == MailKind::Delivery => {
                Some((features, category))
            }
            _ => None,
        })
        .collect()
}
