//! What the heuristic knows of the thing that arrived: measurements of the changed region (the
//! pixels that differ from the mailbox before the delivery) in the event's frame.
//!
//! | feature | why |
//! |---|---|
//! | area (share of the frame) | a letter is small, a parcel or a catalogue large |
//! | elongation (long side / short side, from the region's second moments, so a rotated envelope measures the same) | letters are long and thin, magazines and flyers near A4 |
//! | fill (pixels / the rectangle the moments describe) | a box seen in perspective with its sides, or a curled flyer, fills its rectangle less |
//! | brightness against the rest of the frame | white paper against a glossy print or cardboard |
//! | saturation | brown cardboard and coloured prints against white and manila paper |
//! | colourfulness (Hasler and Süsstrunk) | a magazine or a flyer has many colours, an envelope one |
//! | yellow-blue balance | cardboard and manila are yellow-brown |
//! | texture (mean gradient inside the region, relative to its brightness) | print and pictures against plain paper |
//! | dark share (pixels much darker than the region's median) | printed text, tape, a parcel's shaded side |

use crate::frame::{Frame, HEIGHT, PIXELS, WIDTH, luma};

/// How many numbers describe a region.
pub const COUNT: usize = 9;

/// The names of the features, in order (documentation and the bench's report).
pub const NAMES: [&str; COUNT] = [
    "area",
    "elongation",
    "fill",
    "contrast",
    "saturation",
    "colourfulness",
    "yellow_blue",
    "texture",
    "dark_share",
];

/// A region's measurements, in [`NAMES`] order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Features(pub [f32; COUNT]);

/// Measures the region `mask` of `frame`; `None` when the region is too small to measure (fewer
/// than 8 pixels).
pub fn measure(frame: &Frame, mask: &[bool]) -> Option<Features> {
    let inside: Vec<usize> = (0..PIXELS).filter(|&i| mask[i]).collect();
    let n = inside.len();
    if n < 8 {
        return None;
    }
    let nf = n as f32;
    // Shape from the second moments of the pixel coordinates.
    let (mut sx, mut sy) = (0.0f32, 0.0f32);
    for &i in &inside {
        sx += (i % WIDTH) as f32;
        sy += (i / WIDTH) as f32;
    }
    let (mx, my) = (sx / nf, sy / nf);
    let (mut cxx, mut cyy, mut cxy) = (0.0f32, 0.0f32, 0.0f32);
    for &i in &inside {
        let dx = (i % WIDTH) as f32 - mx;
        let dy = (i / WIDTH) as f32 - my;
        cxx += dx * dx;
        cyy += dy * dy;
        cxy += dx * dy;
    }
    let (cxx, cyy, cxy) = (cxx / nf, cyy / nf, cxy / nf);
    let half_trace = (cxx + cyy) / 2.0;
    let spread = ((cxx - cyy).powi(2) / 4.0 + cxy * cxy).sqrt();
    let l1 = (half_trace + spread).max(0.25);
    let l2 = (half_trace - spread).max(0.25);
    let elongation = (l1 / l2).sqrt();
    let fill = (nf / (12.0 * (l1 * l2).sqrt())).min(2.0);

    // Colour and brightness.
    let px = frame.pixels();
    let mut grey_in = 0.0f32;
    let mut sat = 0.0f32;
    let (mut rg_sum, mut yb_sum, mut rg_sq, mut yb_sq) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
    let mut greys = Vec::with_capacity(n);
    for &i in &inside {
        let [r, g, b] = px[i].map(f32::from);
        let l = luma(px[i]);
        greys.push(l);
        grey_in += l;
        let max = r.max(g).max(b);
        let min = r.min(g).min(b);
        sat += (max - min) / (max + 1.0);
        let rg = r - g;
        let yb = (r + g) / 2.0 - b;
        rg_sum += rg;
        yb_sum += yb;
        rg_sq += rg * rg;
        yb_sq += yb * yb;
    }
    let grey_in = grey_in / nf;
    let outside = PIXELS - n;
    let grey_out = if outside == 0 {
        1.0
    } else {
        (0..PIXELS)
            .filter(|&i| !mask[i])
            .map(|i| luma(px[i]))
            .sum::<f32>()
            / outside as f32
    };
    let (rg_mean, yb_mean) = (rg_sum / nf, yb_sum / nf);
    let rg_sd = (rg_sq / nf - rg_mean * rg_mean).max(0.0).sqrt();
    let yb_sd = (yb_sq / nf - yb_mean * yb_mean).max(0.0).sqrt();
    let colourfulness =
        (rg_sd.powi(2) + yb_sd.powi(2)).sqrt() + 0.3 * (rg_mean.powi(2) + yb_mean.powi(2)).sqrt();

    // Texture inside the region (pixels whose right and lower neighbours are inside too).
    let grey = frame.grey();
    let (mut grad, mut counted) = (0.0f32, 0usize);
    for &i in &inside {
        let (x, y) = (i % WIDTH, i / WIDTH);
        if x + 1 < WIDTH && y + 1 < HEIGHT && mask[i + 1] && mask[i + WIDTH] {
            grad += (grey[i + 1] - grey[i]).abs() + (grey[i + WIDTH] - grey[i]).abs();
            counted += 1;
        }
    }
    let texture = if counted == 0 {
        0.0
    } else {
        grad / counted as f32 / (grey_in + 1.0)
    };
    let mid = greys.len() / 2;
    let (_, median, _) = greys.select_nth_unstable_by(mid, f32::total_cmp);
    let dark_line = *median * 0.7;
    let dark_share = greys.iter().filter(|g| **g < dark_line).count() as f32 / nf;

    Some(Features([
        nf / PIXELS as f32,
        elongation,
        fill,
        grey_in / (grey_out + 1.0),
        sat / nf,
        colourfulness / (grey_in + 1.0),
        yb_mean / (grey_in + 1.0),
        texture,
        dark_share,
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rectangle(x0: usize, y0: usize, w: usize, h: usize) -> Vec<bool> {
        (0..PIXELS)
            .map(|i| (x0..x0 + w).contains(&(i % WIDTH)) && (y0..y0 + h).contains(&(i / WIDTH)))
            .collect()
    }

    #[test]
    fn a_long_rectangle_measures_long_and_full() {
        let f = measure(&Frame::uniform([200, 200, 200]), &rectangle(10, 10, 40, 10))
            .expect("large enough");
        assert!((f.0[0] - 400.0 / PIXELS as f32).abs() < 1e-6);
        assert!((f.0[1] - 4.0).abs() < 0.2, "elongation {}", f.0[1]);
        assert!((f.0[2] - 1.0).abs() < 0.1, "fill {}", f.0[2]);
        assert!(f.0[4] < 0.01, "grey has no saturation");
    }

    #[test]
    fn a_speck_is_not_measured() {
        assert!(measure(&Frame::uniform([0, 0, 0]), &rectangle(0, 0, 2, 2)).is_none());
    }
}
