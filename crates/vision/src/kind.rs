//! Delivery, collection or false trigger, from the event's frame and two references kept per
//! mailbox: the box as it looked after the previous event (`last`) and the box as it looked
//! empty, after the last collection (`empty`).
//!
//! - Nothing changed since the last event: a false trigger.
//! - Something changed and the box now looks like it did empty: a collection.
//! - Something changed and the box does not look empty: a delivery; the region that changed
//!   since the last event is what arrived.
//!
//! A mailbox seen for the first time has no references. Mailboxes are lined with a dark, plain
//! finish and mail is paper or cardboard, so an empty box is a smooth picture: the frame looks
//! empty when almost none of it has edges ([`looks_empty`]), and what arrived is then the part
//! much brighter than the box's floor.

use smartbox_domain::MailKind;

use crate::change::{Change, compare, majority};
use crate::frame::{Frame, HEIGHT, PIXELS, WIDTH};

/// Share of the frame that must change for anything to have happened: a letter covers ~2 %.
pub const CHANGED: f32 = 0.004;
/// Share of the frame with edges above which a box without references holds something.
const EDGES: f32 = 0.004;
/// Luma step between neighbours that makes an edge.
const EDGE_STEP: f32 = 14.0;

/// What a mailbox looked like before this event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct References {
    /// After its last collection.
    pub empty: Option<Frame>,
    /// After its last event.
    pub last: Option<Frame>,
}

/// The kind of an event, how sure, and the region that is new (for a delivery).
#[derive(Debug, Clone, PartialEq)]
pub struct KindReading {
    pub kind: MailKind,
    /// 0.5-0.99: how far the figure that decided was from its threshold.
    pub confidence: f32,
    /// The pixels that arrived (deliveries only).
    pub region: Option<Vec<bool>>,
}

/// Reads the kind of an event whose merged frame is `frame`.
pub fn read_kind(frame: &Frame, refs: &References) -> KindReading {
    let since_last = refs.last.as_ref().map(|last| compare(frame, last));
    if let Some(change) = &since_last
        && change.fraction < CHANGED
    {
        return KindReading {
            kind: MailKind::FalseTrigger,
            confidence: sureness(change.fraction, CHANGED),
            region: None,
        };
    }
    let (empty_now, empty_sureness) = match refs.empty.as_ref().map(|e| compare(frame, e)) {
        Some(change) => (
            change.fraction < CHANGED,
            sureness(change.fraction, CHANGED),
        ),
        None => {
            let edges = edge_share(frame);
            (edges < EDGES, sureness(edges, EDGES))
        }
    };
    match (empty_now, since_last) {
        // Empty now, and nothing known before: the box was empty already.
        (true, None) => KindReading {
            kind: MailKind::FalseTrigger,
            confidence: empty_sureness,
            region: None,
        },
        (true, Some(_)) => KindReading {
            kind: MailKind::Collection,
            confidence: empty_sureness,
            region: None,
        },
        (false, Some(Change { mask, fraction, .. })) => KindReading {
            kind: MailKind::Delivery,
            confidence: sureness(fraction, CHANGED).min(empty_sureness),
            region: Some(mask),
        },
        (false, None) => KindReading {
            kind: MailKind::Delivery,
            confidence: empty_sureness,
            region: Some(bright_region(frame)),
        },
    }
}

/// Whether a frame, with nothing to compare it to, shows an empty box.
pub fn looks_empty(frame: &Frame) -> bool {
    edge_share(frame) < EDGES
}

/// 0.5 at the threshold, toward 0.99 as `value` moves a factor of e^2 away from it either way.
fn sureness(value: f32, threshold: f32) -> f32 {
    let ratio = (value.max(1e-5) / threshold).ln().abs();
    (0.5 + ratio / 4.0).clamp(0.5, 0.99)
}

/// Share of pixels with a luma step of at least [`EDGE_STEP`] to their right or lower neighbour.
fn edge_share(frame: &Frame) -> f32 {
    let grey = frame.grey();
    let mut edges = vec![false; PIXELS];
    for y in 0..HEIGHT - 1 {
        for x in 0..WIDTH - 1 {
            let i = y * WIDTH + x;
            edges[i] = (grey[i + 1] - grey[i]).abs() >= EDGE_STEP
                || (grey[i + WIDTH] - grey[i]).abs() >= EDGE_STEP;
        }
    }
    edges.iter().filter(|e| **e).count() as f32 / PIXELS as f32
}

/// Pixels much brighter than the box's floor (its 30th percentile of luma).
fn bright_region(frame: &Frame) -> Vec<bool> {
    let grey = frame.grey();
    let mut sorted = grey.clone();
    let at = PIXELS * 3 / 10;
    let (_, floor, _) = sorted.select_nth_unstable_by(at, f32::total_cmp);
    let line = *floor * 1.5 + 20.0;
    majority(&grey.iter().map(|g| *g > line).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn box_with(items: &[(usize, usize, usize, usize)]) -> Frame {
        let mut rgb = Vec::with_capacity(PIXELS * 3);
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                let inside = items
                    .iter()
                    .any(|&(x0, y0, w, h)| (x0..x0 + w).contains(&x) && (y0..y0 + h).contains(&y));
                let v = if inside { 220 } else { 50 + (y / 8) as u8 };
                rgb.extend_from_slice(&[v, v, v]);
            }
        }
        Frame::from_rgb(WIDTH, HEIGHT, &rgb).expect("sizes match")
    }

    #[test]
    fn the_story_of_one_box() {
        let empty = box_with(&[]);
        let one = box_with(&[(10, 10, 30, 12)]);
        let two = box_with(&[(10, 10, 30, 12), (60, 40, 40, 30)]);

        // First sight of an empty box: nothing happened.
        let first = read_kind(&empty, &References::default());
        assert_eq!(first.kind, MailKind::FalseTrigger);
        let refs = References {
            empty: Some(empty.clone()),
            last: Some(empty.clone()),
        };
        let delivery = read_kind(&one, &refs);
        assert_eq!(delivery.kind, MailKind::Delivery);
        let refs = References {
            last: Some(one.clone()),
            ..refs
        };
        assert_eq!(read_kind(&one, &refs).kind, MailKind::FalseTrigger);
        let second = read_kind(&two, &refs);
        assert_eq!(second.kind, MailKind::Delivery);
        // Only the new item is the region.
        let region = second.region.expect("a delivery has a region");
        assert!(region[50 * WIDTH + 80]);
        assert!(!region[15 * WIDTH + 20]);
        let refs = References {
            last: Some(two),
            ..refs
        };
        assert_eq!(read_kind(&empty, &refs).kind, MailKind::Collection);
    }

    #[test]
    fn a_box_first_seen_with_mail_reads_as_a_delivery_of_the_bright_part() {
        let reading = read_kind(&box_with(&[(60, 40, 40, 30)]), &References::default());
        assert_eq!(reading.kind, MailKind::Delivery);
        let region = reading.region.expect("region");
        assert!(region[50 * WIDTH + 80]);
        assert!(!region[10 * WIDTH + 10]);
    }
}
