//! What differs between a frame and a reference frame of the same mailbox.
//!
//! The mailbox is lit by the camera's IR flash, whose strength varies from shot to shot, and now
//! and then by the sun through the slot. Both scale the whole picture, so the reference is first
//! brought to the frame's exposure: the gain is the median, over every pixel, of the ratio of the
//! two (a median, so the mail itself, which covers well under half of the frame, does not pull
//! it). A pixel changed when one of its channels differs by more than a threshold above the
//! frame's own noise floor, and a changed pixel counts only with at least half of its 3 x 3
//! neighbours changed too, so noise and JPEG ringing never add up to an envelope.

use crate::frame::{Frame, HEIGHT, PIXELS, WIDTH, luma};

/// Channel difference (0-255) a pixel must pass, above the noise floor, to count as changed.
const THRESHOLD: f32 = 22.0;

/// Where and how much two frames of one mailbox differ.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// One flag per pixel, row by row: changed.
    pub mask: Vec<bool>,
    /// Share of the frame's pixels that changed (0-1).
    pub fraction: f32,
    /// The exposure of the frame relative to the reference's.
    pub gain: f32,
}

/// How `frame` differs from `reference`.
pub fn compare(frame: &Frame, reference: &Frame) -> Change {
    let gain = exposure_gain(frame, reference);
    let diff: Vec<f32> = frame
        .pixels()
        .iter()
        .zip(reference.pixels())
        .map(|(a, b)| {
            (0..3)
                .map(|c| (f32::from(a[c]) - gain * f32::from(b[c])).abs())
                .fold(0.0, f32::max)
        })
        .collect();
    let floor = median(diff.clone());
    let raw: Vec<bool> = diff.iter().map(|d| *d > THRESHOLD + 2.0 * floor).collect();
    let mask = majority(&raw);
    let fraction = mask.iter().filter(|m| **m).count() as f32 / PIXELS as f32;
    Change {
        mask,
        fraction,
        gain,
    }
}

/// The median of `frame / reference` over the pixels, in luma (clamped to 0.25-4).
fn exposure_gain(frame: &Frame, reference: &Frame) -> f32 {
    let ratios = frame
        .pixels()
        .iter()
        .zip(reference.pixels())
        .map(|(a, b)| (luma(*a) + 4.0) / (luma(*b) + 4.0))
        .collect();
    median(ratios).clamp(0.25, 4.0)
}

fn median(mut values: Vec<f32>) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, f32::total_cmp);
    *m
}

/// Keeps a flagged pixel when at least 5 of the 9 pixels of its 3 x 3 block are flagged.
pub(crate) fn majority(raw: &[bool]) -> Vec<bool> {
    let mut out = vec![false; PIXELS];
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            if !raw[y * WIDTH + x] {
                continue;
            }
            let mut n = 0;
            for ny in y.saturating_sub(1)..(y + 2).min(HEIGHT) {
                for nx in x.saturating_sub(1)..(x + 2).min(WIDTH) {
                    n += usize::from(raw[ny * WIDTH + nx]);
                }
            }
            out[y * WIDTH + x] = n >= 5;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_patch(
        base: [u8; 3],
        patch: [u8; 3],
        x0: usize,
        y0: usize,
        w: usize,
        h: usize,
    ) -> Frame {
        let mut rgb = Vec::with_capacity(PIXELS * 3);
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                let inside = (x0..x0 + w).contains(&x) && (y0..y0 + h).contains(&y);
                rgb.extend_from_slice(if inside { &patch } else { &base });
            }
        }
        Frame::from_rgb(WIDTH, HEIGHT, &rgb).expect("sizes match")
    }

    #[test]
    fn a_brighter_flash_is_no_change() {
        let dim = with_patch([60, 60, 60], [200, 200, 200], 10, 10, 20, 10);
        let bright = with_patch([78, 78, 78], [255, 255, 255], 10, 10, 20, 10);
        let change = compare(&bright, &dim);
        assert!(change.fraction < 0.001, "{change:?}");
        assert!((change.gain - 1.28).abs() < 0.05, "{}", change.gain);
    }

    #[test]
    fn an_envelope_is_a_change_where_it_lies() {
        let empty = Frame::uniform([60, 60, 60]);
        let letter = with_patch([60, 60, 60], [220, 215, 200], 40, 30, 24, 10);
        let change = compare(&letter, &empty);
        let expected = (24 * 10) as f32 / PIXELS as f32;
        assert!((change.fraction - expected).abs() < 0.002, "{change:?}");
        assert!(change.mask[35 * WIDTH + 50]);
        assert!(!change.mask[5 * WIDTH + 5]);
    }

    #[test]
    fn lone_specks_do_not_count() {
        let mut raw = vec![false; PIXELS];
        raw[10 * WIDTH + 10] = true;
        raw[10 * WIDTH + 11] = true;
        assert!(majority(&raw).iter().all(|m| !m));
    }
}
