//! The small colour frame every reading works on: a photo box-averaged down to [`WIDTH`] x
//! [`HEIGHT`]. Averaging 5 x 5 VGA pixels into one divides the sensor's noise by five and makes
//! the comparison cheap; an event's photos are then merged pixel by pixel (their median), so a
//! flash that fired weaker on one shot or a speck of noise does not look like mail.

/// Pixels across an analysis frame.
pub const WIDTH: usize = 128;
/// Pixels down an analysis frame.
pub const HEIGHT: usize = 96;
/// Pixels in a frame.
pub const PIXELS: usize = WIDTH * HEIGHT;

/// A [`WIDTH`] x [`HEIGHT`] RGB frame.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    rgb: Vec<[u8; 3]>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Frame({WIDTH}x{HEIGHT}, mean grey {:.1})",
            self.mean_grey()
        )
    }
}

/// Bytes that are not a stored frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFrame(pub usize);

impl std::fmt::Display for BadFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a stored frame has {} bytes, not {}", self.0, PIXELS * 3)
    }
}

impl std::error::Error for BadFrame {}

impl Frame {
    /// A photo of `width` x `height` packed RGB pixels, box-averaged (or, for a photo smaller than
    /// a frame, sampled) down to the frame's size. `None` when `rgb` does not hold that many pixels.
    pub fn from_rgb(width: usize, height: usize, rgb: &[u8]) -> Option<Self> {
        if width == 0 || height == 0 || rgb.len() != width * height * 3 {
            return None;
        }
        let mut out = Vec::with_capacity(PIXELS);
        for fy in 0..HEIGHT {
            let (y0, y1) = span(fy, HEIGHT, height);
            for fx in 0..WIDTH {
                let (x0, x1) = span(fx, WIDTH, width);
                let mut sum = [0u32; 3];
                for y in y0..y1 {
                    let row = &rgb[(y * width + x0) * 3..(y * width + x1) * 3];
                    for px in row.chunks_exact(3) {
                        sum[0] += u32::from(px[0]);
                        sum[1] += u32::from(px[1]);
                        sum[2] += u32::from(px[2]);
                    }
                }
                let n = ((y1 - y0) * (x1 - x0)) as u32;
                out.push(sum.map(|s| ((s + n / 2) / n) as u8));
            }
        }
        Some(Self { rgb: out })
    }

    /// A frame of one colour (tests, placeholders).
    pub fn uniform(rgb: [u8; 3]) -> Self {
        Self {
            rgb: vec![rgb; PIXELS],
        }
    }

    /// The per-pixel median of several frames of one scene (the event's photos); the frame itself
    /// when there is one, `None` when there are none.
    pub fn median(frames: &[Frame]) -> Option<Frame> {
        match frames {
            [] => None,
            [one] => Some(one.clone()),
            _ => {
                let mut values = Vec::with_capacity(frames.len());
                let rgb = (0..PIXELS)
                    .map(|i| {
                        [0, 1, 2].map(|c| {
                            values.clear();
                            values.extend(frames.iter().map(|f| f.rgb[i][c]));
                            values.sort_unstable();
                            values[values.len() / 2]
                        })
                    })
                    .collect();
                Some(Frame { rgb })
            }
        }
    }

    /// The pixel at `(x, y)`.
    pub fn at(&self, x: usize, y: usize) -> [u8; 3] {
        self.rgb[y * WIDTH + x]
    }

    /// Every pixel, row by row.
    pub fn pixels(&self) -> &[[u8; 3]] {
        &self.rgb
    }

    /// Luma of every pixel (BT.601 weights, integers).
    pub fn grey(&self) -> Vec<f32> {
        self.rgb.iter().map(|p| luma(*p)).collect()
    }

    /// The frame's mean luma.
    pub fn mean_grey(&self) -> f32 {
        self.rgb.iter().map(|p| luma(*p)).sum::<f32>() / PIXELS as f32
    }

    /// The frame as stored: its RGB bytes, row by row.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.rgb.iter().flatten().copied().collect()
    }

    /// A frame stored by [`Frame::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BadFrame> {
        if bytes.len() != PIXELS * 3 {
            return Err(BadFrame(bytes.len()));
        }
        Ok(Self {
            rgb: bytes.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect(),
        })
    }
}

/// Luma of one pixel.
pub fn luma([r, g, b]: [u8; 3]) -> f32 {
    0.299 * f32::from(r) + 0.587 * f32::from(g) + 0.114 * f32::from(b)
}

/// The source rows (or columns) `[start, end)` that frame row `i` of `frame_len` averages, out of
/// `source_len`; at least one.
fn span(i: usize, frame_len: usize, source_len: usize) -> (usize, usize) {
    let start = i * source_len / frame_len;
    let end = ((i + 1) * source_len / frame_len).max(start + 1);
    (start.min(source_len - 1), end.min(source_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vga_photo_averages_into_the_frame() {
        let (w, h) = (640, 480);
        let mut rgb = vec![0u8; w * h * 3];
        // Left half white.
        for y in 0..h {
            for x in 0..w / 2 {
                rgb[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&[255, 255, 255]);
            }
        }
        let frame = Frame::from_rgb(w, h, &rgb).expect("sizes match");
        assert_eq!(frame.at(0, 0), [255, 255, 255]);
        assert_eq!(frame.at(WIDTH - 1, HEIGHT - 1), [0, 0, 0]);
        assert!(Frame::from_rgb(w, h, &rgb[1..]).is_none());
    }

    #[test]
    fn a_tiny_photo_is_sampled_up() {
        let frame = Frame::from_rgb(2, 1, &[10, 10, 10, 200, 200, 200]).expect("sizes match");
        assert_eq!(frame.at(0, 0), [10, 10, 10]);
        assert_eq!(frame.at(WIDTH - 1, 0), [200, 200, 200]);
    }

    #[test]
    fn the_median_drops_one_odd_shot() {
        let dark = Frame::uniform([20, 20, 20]);
        let bright = Frame::uniform([250, 250, 250]);
        let merged = Frame::median(&[dark.clone(), bright, dark.clone()]).expect("frames");
        assert_eq!(merged, dark);
    }

    #[test]
    fn a_frame_survives_storage() {
        let frame = Frame::uniform([1, 2, 3]);
        assert_eq!(Frame::from_bytes(&frame.to_bytes()), Ok(frame));
        assert_eq!(Frame::from_bytes(&[0; 5]), Err(BadFrame(5)));
    }
}
