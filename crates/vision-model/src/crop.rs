//! The network's input: the part of a photo where the mail arrived, as a 224 x 224 square.
//! The square is centred on the changed region and a little larger than it (the mail's edges
//! and shape are what tells a letter from a flyer), so the region keeps its proportions; past the
//! photo's edge the edge pixels repeat. Sampling is bilinear.

use candle_core::{Device, Tensor};

/// Side of the network's input.
pub const SIDE: usize = 224;
/// How much larger than the region's longer side the square is.
const MARGIN: f32 = 1.2;

/// A region of a photo as fractions of its width and height: `[left, top, right, bottom]`.
pub type Bounds = [f32; 4];

/// The (3, [`SIDE`], [`SIDE`]) input for the region `bounds` of a `width` x `height` RGB photo,
/// scaled as the Lite models were trained (`(v - 127) / 128`). `None` when `rgb` does not hold
/// the photo.
pub fn crop(rgb: &[u8], width: usize, height: usize, bounds: Bounds) -> Option<Tensor> {
    if width == 0 || height == 0 || rgb.len() != width * height * 3 {
        return None;
    }
    let (w, h) = (width as f32, height as f32);
    let [left, top, right, bottom] = bounds;
    let (cx, cy) = ((left + right) / 2.0 * w, (top + bottom) / 2.0 * h);
    let side = ((right - left).abs() * w).max((bottom - top).abs() * h) * MARGIN.max(8.0);
    let step = side / SIDE as f32;
    let (x0, y0) = (cx - side / 2.0, cy - side / 2.0);
    let mut planes = vec![0f32; 3 * SIDE * SIDE];
    let at = |x: usize, y: usize, c: usize| f32::from(rgb[(y * width + x) * 3 + c]);
    for oy in 0..SIDE {
        let sy = (y0 + (oy as f32 + 0.5) * step - 0.5).clamp(0.0, h - 1.0);
        let (ya, fy) = (sy.floor() as usize, sy.fract());
        let yb = (ya + 1).min(height - 1);
        for ox in 0..SIDE {
            let sx = (x0 + (ox as f32 + 0.5) * step - 0.5).clamp(0.0, w - 1.0);
            let (xa, fx) = (sx.floor() as usize, sx.fract());
            let xb = (xa + 1).min(width - 1);
            for c in 0..3 {
                let top = at(xa, ya, c) * (1.0 - fx) + at(xb, ya, c) * fx;
                let bottom = at(xa, yb, c) * (1.0 - fx) + at(xb, yb, c) * fx;
                let v = top * (1.0 - fy) + bottom * fy;
                planes[c * SIDE * SIDE + oy * SIDE + ox] = (v - 127.0) / 128.0;
            }
        }
    }
    Tensor::from_vec(planes, (3, SIDE, SIDE), &Device::Cpu).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crop_is_the_region_scaled_to_the_input() {
        // A 40 x 20 photo, black with a white 10 x 10 square at (20..30, 5..15).
        let (w, h) = (40, 20);
        let mut rgb = vec![0u8; w * h * 3];
        for y in 5..15 {
            for x in 20..30 {
                rgb[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&[255, 255, 255]);
            }
        }
        let t = crop(&rgb, w, h, [0.5, 0.25, 0.75, 0.75]).expect("crop");
        assert_eq!(t.dims(), &[3, SIDE, SIDE]);
        let v = t.to_vec3::<f32>().expect("3-d");
        // The centre is white, the corners (outside the square, inside the margin) black.
        assert!((v[0][SIDE / 2][SIDE / 2] - 1.0).abs() < 0.01);
        assert!((v[2][2][2] + 127.0 / 128.0).abs() < 0.01);
        assert!(crop(&rgb[1..], w, h, [0.0, 0.0, 1.0, 1.0]).is_none());
    }
}
