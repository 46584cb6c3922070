//! Mail intelligence (issue 22): the `classify_event` job reads what an event's photos show —
//! delivery, collection or false trigger, and what a delivery brought — with the pure rules of
//! `smartbox-vision`, and settles it before anyone is told.
//!
//! Categories come from the learned model ([`learned`]) when its weights have been fetched:
//! EfficientNet-Lite0 sees the region that changed in the last decodable thumbnail, and our
//! head reads its features (and the heuristic's measurements); otherwise from the heuristic.
//! A corrected delivery is an example of its mailbox in whichever reader's terms it was read.
//!
//! The job graph: `event_completed` -> `event_thumbnails` -> `classify_event` -> `notify_event`.
//! It reads the thumbnails (320 px wide, four times cheaper to decode than the photos; the photo
//! itself when its thumbnail could not be made), never runs on a request, and settles in one
//! transaction the event's reading, the mailbox's references, and either the notification's job
//! or, for an event nobody is told of (a false trigger; a collection when the customer asked for
//! deliveries only), the notification counted when it arrived taken back out of the usage.
//!
//! The mailbox's references (the box after its last collection and after its last event) are
//! small frames of its photos, so they are sealed under the owner's photo key like the photos.
//! Each reading moves them, so a mailbox's events are read in their order: a reading waits
//! (retries) while an earlier event of its mailbox, completed in the last day, is unread and its
//! own reading has neither finished nor failed for good.

pub mod learned;

use std::sync::LazyLock;

use serde::Deserialize;
use smartbox_domain::MailCategory;
use smartbox_store::{MailEventRow, MailReading, NewJob, Settled};
use smartbox_vision::{Features, Frame, Model, References};
use smartbox_vision_model::{Descriptor, Photo};

use crate::jobs::event_completed::{NOTIFY_EVENT, enqueue_follow_up};
use crate::jobs::{JobContext, JobError};
use crate::state::AppState;
use crate::thumbnails::scale::{self, ThumbnailError};

/// Reads an event's photos. Payload `{"event_id": ...}`.
pub const CLASSIFY_EVENT: &str = "classify_event";

/// Attempts of the notification job it enqueues.
const NOTIFY_ATTEMPTS: i64 = 10;
/// How long after its completion an unread earlier event of the mailbox holds a reading back.
const ORDER_WAIT_MS: i64 = 24 * 3_600_000;
/// Corrected deliveries of a mailbox used as its own examples.
const EXAMPLES: i64 = 50;

static MODEL: LazyLock<Model> = LazyLock::new(smartbox_vision::calibration::model);

#[derive(Debug, Deserialize)]
struct Payload {
    event_id: String,
}

/// A photo decoded into the frame the rules read.
pub fn frame_of_jpeg(jpeg: &[u8]) -> Result<Frame, ThumbnailError> {
    decode(jpeg).map(|(frame, _)| frame)
}

/// A decoded photo: its pixels (what the learned model looks at) and its frame.
struct Decoded {
    rgb: Vec<u8>,
    width: usize,
    height: usize,
}

fn decode(jpeg: &[u8]) -> Result<(Frame, Decoded), ThumbnailError> {
    let photo = scale::decode(jpeg)?.to_rgb8();
    let (width, height) = (photo.width() as usize, photo.height() as usize);
    let frame = Frame::from_rgb(width, height, photo.as_raw())
        .ok_or_else(|| ThumbnailError::Undecodable("a photo without pixels".to_owned()))?;
    Ok((
        frame,
        Decoded {
            rgb: photo.into_raw(),
            width,
            height,
        },
    ))
}

/// The `classify_event` job (see the module's documentation).
pub async fn run(ctx: JobContext) -> Result<(), JobError> {
    let payload: Payload = ctx.payload()?;
    let state = &ctx.state;
    let event_id = payload.event_id.as_str();
    let Some(event) = state
        .db
        .event_by_id(event_id)
        .await
        .map_err(JobError::retry)?
    else {
        return Ok(());
    };
    if event.mail_kind.is_some() {
        // Read (its notification enqueued then) or corrected already.
        return Ok(());
    }
    // An earlier event of the mailbox still being read goes first (it moves the references);
    // one whose reading failed for good, or older than ORDER_WAIT_MS, holds nothing up.
    if state
        .db
        .earlier_event_unread(
            &event.device_id,
            event.occurred_at,
            &event.id,
            ctx.now_ms() - ORDER_WAIT_MS,
            &format!("{CLASSIFY_EVENT}:"),
        )
        .await
        .map_err(JobError::retry)?
    {
        return Err(JobError::retry(anyhow::anyhow!(
            "event {event_id}: an earlier event of mailbox {} is still being read",
            event.device_id
        )));
    }
    let owner = state
        .db
        .photo_owner_of_event(event_id)
        .await
        .map_err(JobError::retry)?;
    let (frames, photo) = frames_of(state, event_id).await?;
    let (Some(owner), false) = (owner, frames.is_empty()) else {
        // Nothing to read (no photo decodes) or nobody to seal for: told as the device said.
        return enqueue_follow_up(&ctx, NOTIFY_EVENT, event_id).await;
    };
    let stored = state
        .db
        .mailbox_references(&event.device_id)
        .await
        .map_err(JobError::retry)?;
    let references = match &stored {
        Some(row) => References {
            empty: open_frame(state, &event.device_id, "empty", row.empty_frame.as_deref()).await?,
            last: open_frame(state, &event.device_id, "last", row.last_frame.as_deref()).await?,
        },
        None => References::default(),
    };
    let examples = examples_of(state, &event.device_id).await?;
    let blocking = state.clone();
    let (reading, learned) = tokio::task::spawn_blocking(move || {
        let reading =
            smartbox_vision::read_event(&frames, &references, &MODEL, &examples.heuristic)?;
        let learned = learned_category(&blocking, photo.as_ref(), &reading, &examples.learned);
        Some((reading, learned))
    })
    .await
    .map_err(JobError::retry)?
    .ok_or_else(|| JobError::permanent(anyhow::anyhow!("event {event_id}: no frames")))?;
    // The learned model's reading of a delivery replaces the heuristic's, and its descriptor is
    // what a correction will make an example of.
    let (category, features) = match learned {
        Some((descriptor, category)) => (Some(category), Some(descriptor.to_text())),
        None => (reading.category, reading.features.map(|f| f.to_text())),
    };
    let deliveries_only = state
        .db
        .notify_deliveries_only(&event.device_id)
        .await
        .map_err(JobError::retry)?;
    let notified = reading.kind.is_notified(deliveries_only);
    let empty_frame = match &reading.references.empty {
        Some(frame) => Some(seal_frame(state, &owner, &event.device_id, "empty", frame).await?),
        None => None,
    };
    let last = reading.references.last.as_ref().ok_or_else(|| {
        JobError::permanent(anyhow::anyhow!(
            "event {event_id}: a reading without a frame"
        ))
    })?;
    let last_frame = seal_frame(state, &owner, &event.device_id, "last", last).await?;
    let job_id = uuid::Uuid::now_v7().to_string();
    let unique_key = format!("{NOTIFY_EVENT}:{event_id}");
    let settled = state
        .db
        .settle_mail_reading(&MailReading {
            event_id,
            device_id: &event.device_id,
            kind: reading.kind,
            kind_confidence: percent(reading.kind_confidence),
            category: category.map(|c| c.category),
            category_confidence: category.map(|c| percent(c.confidence)),
            features,
            empty_frame,
            last_frame,
            references_of: stored.as_ref().map(|r| r.last_event_id.as_str()),
            notified,
            notify: NewJob {
                id: &job_id,
                kind: NOTIFY_EVENT,
                payload: serde_json::json!({ "event_id": event_id }),
                unique_key: Some(&unique_key),
                run_at: ctx.now_ms(),
                max_attempts: NOTIFY_ATTEMPTS,
            },
            now: ctx.now_ms(),
        })
        .await
        .map_err(JobError::retry)?;
    match settled {
        Settled::Done => {
            log_reading(&event, &reading, category, notified);
            if notified {
                state.jobs_enqueued();
            } else if let Some(device) = state
                .db
                .device_by_id(&event.device_id)
                .await
                .map_err(JobError::retry)?
            {
                // Its cached usage counted the notification taken back.
                state.device_changed(&device.serial);
            }
            Ok(())
        }
        Settled::AlreadyRead => Ok(()),
        Settled::StaleReferences => Err(JobError::retry(anyhow::anyhow!(
            "event {event_id}: mailbox {}'s references moved while it was read",
            event.device_id
        ))),
    }
}

/// The learned model's category of a delivery and its descriptor, when the model is there (and
/// runs: a failure is logged and the heuristic's reading stands).
fn learned_category(
    state: &AppState,
    photo: Option<&Decoded>,
    reading: &smartbox_vision::Reading,
    examples: &[(Descriptor, MailCategory)],
) -> Option<(Descriptor, smartbox_vision::CategoryReading)> {
    let photo = photo?;
    if reading.kind != smartbox_domain::MailKind::Delivery {
        return None;
    }
    let learned = state.mail_model.get()?;
    let photo = Photo {
        rgb: &photo.rgb,
        width: photo.width,
        height: photo.height,
    };
    match learned
        .net
        .read_category(&learned.head, photo, reading, examples)
    {
        Ok(read) => read,
        Err(err) => {
            tracing::warn!(%err, "the mail model failed on a delivery: the heuristic's category stands");
            None
        }
    }
}

/// The frames of the event's photos that decode (thumbnails first), and the last of them
/// decoded, for the learned model.
async fn frames_of(
    state: &AppState,
    event_id: &str,
) -> Result<(Vec<Frame>, Option<Decoded>), JobError> {
    let photos = state
        .db
        .photos_of_event(event_id)
        .await
        .map_err(JobError::retry)?;
    let mut frames = Vec::with_capacity(photos.len());
    let mut last = None;
    for photo in &photos {
        let key = photo.thumbnail_key.as_deref().unwrap_or(&photo.blob_key);
        let bytes = state.photos.get(key).await.map_err(JobError::retry)?.bytes;
        let decoded = tokio::task::spawn_blocking(move || decode(&bytes))
            .await
            .map_err(JobError::retry)?;
        match decoded {
            Ok((frame, pixels)) => {
                frames.push(frame);
                last = Some(pixels);
            }
            Err(err) => {
                tracing::warn!(event = %event_id, idx = photo.idx, %err, "photo left out of the reading")
            }
        }
    }
    Ok((frames, last))
}

/// A mailbox's corrected deliveries as labelled examples, in the terms of the reader that read
/// each: the heuristic's measurements or the learned model's descriptor.
#[derive(Debug, Default)]
struct Examples {
    heuristic: Vec<(Features, MailCategory)>,
    learned: Vec<(Descriptor, MailCategory)>,
}

async fn examples_of(state: &AppState, device_id: &str) -> Result<Examples, JobError> {
    let rows = state
        .db
        .corrected_examples(device_id, EXAMPLES)
        .await
        .map_err(JobError::retry)?;
    let mut examples = Examples::default();
    for (features, category) in &rows {
        let Ok(category) = category.parse::<MailCategory>() else {
            continue;
        };
        if let Some(f) = Features::from_text(features) {
            examples.heuristic.push((f, category));
        } else if let Some(d) = Descriptor::from_text(features) {
            examples.learned.push((d, category));
        }
    }
    Ok(examples)
}

/// What a reference frame is bound to when sealed.
fn reference_name(device_id: &str, which: &str) -> String {
    format!("mail-reference:{device_id}:{which}")
}

async fn seal_frame(
    state: &AppState,
    owner: &str,
    device_id: &str,
    which: &str,
    frame: &Frame,
) -> Result<Vec<u8>, JobError> {
    state
        .photos
        .seal_value(owner, &reference_name(device_id, which), &frame.to_bytes())
        .await
        .map_err(JobError::retry)
}

async fn open_frame(
    state: &AppState,
    device_id: &str,
    which: &str,
    sealed: Option<&[u8]>,
) -> Result<Option<Frame>, JobError> {
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    let plain = state
        .photos
        .open_value(&reference_name(device_id, which), sealed)
        .await
        .map_err(JobError::retry)?;
    Frame::from_bytes(&plain)
        .map(Some)
        .map_err(|err| JobError::permanent(anyhow::anyhow!("mailbox {device_id}: {err}")))
}

fn percent(confidence: f32) -> i64 {
    (confidence * 100.0).round().clamp(0.0, 100.0) as i64
}

fn log_reading(
    event: &MailEventRow,
    reading: &smartbox_vision::Reading,
    category: Option<smartbox_vision::CategoryReading>,
    notified: bool,
) {
    tracing::debug!(
        event = %event.id,
        kind = %reading.kind,
        category = category.map(|c| c.category.as_str()).unwrap_or("-"),
        notified,
        "mail read"
    );
}
