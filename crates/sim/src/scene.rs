//! What the simulated camera sees: the inside of a mailbox, looked down on from the lid, lit by the
//! camera's IR flash, with whatever mail lies in it — and the story of that box, one event at a
//! time, each with its truth recorded (what the server should read from the photos).
//!
//! A scene is drawn in frame-height units (the frame is 4/3 wide and 1 high), so one scene renders
//! alike at VGA and at the fleet tests' 64 x 48. The picture is built from:
//! - the box floor: a dark painted surface, brighter toward the slot at the top, with a faint
//!   texture, under a flash that falls off from the middle (and fires a little stronger or weaker
//!   each shot), behind a lens that squeezes the far end (perspective);
//! - letters (small, long, white or pastel, an address block and a stamp), large envelopes (A4,
//!   manila, kraft or white, a label), packages (cardboard boxes whose sides show, tape, a
//!   shipping label with a barcode, or white boxes), magazines and catalogues (glossy A4 covers:
//!   blocks of colour, a title band, columns of text, the flash's glare) and flyers (one loud
//!   colour, big type, sometimes a fold), each at its own angle;
//! - the sun through the slot: an exposure and a tilt that change now and then (a false trigger);
//! - sensor noise on every pixel of every shot.
//!
//! Everything comes from the seed: the same seed renders the same photos.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use smartbox_domain::{MailCategory, MailKind};

/// What really happened at one event, for the bench and the stories to check the server against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truth {
    pub kind: MailKind,
    /// What arrived (deliveries only).
    pub category: Option<MailCategory>,
    /// A false trigger where the light changed (the sun), rather than nothing at all.
    pub lighting_changed: bool,
}

/// One thing lying in the box.
#[derive(Debug, Clone, Copy)]
struct Item {
    category: MailCategory,
    cx: f32,
    cy: f32,
    half_w: f32,
    half_h: f32,
    cos: f32,
    sin: f32,
    paper: [f32; 3],
    accent: [f32; 3],
    /// A packages' height: how far its top stands out toward the camera (0 for flat mail).
    lift: f32,
    seed: u64,
    /// Style switch: windowed envelope, label vs print, fold, white box...
    variant: u8,
}

/// How the box is lit apart from the flash.
#[derive(Debug, Clone, Copy)]
struct Light {
    gain: f32,
    offset: f32,
    tilt: f32,
}

/// One mailbox's scenes: its look, what lies in it, the light, and the truths so far.
#[derive(Debug)]
pub struct MailboxScenes {
    rng: ChaCha8Rng,
    floor: [f32; 3],
    texture_phase: [f32; 4],
    items: Vec<Item>,
    light: Light,
    truths: Vec<Truth>,
    /// What a caller made happen that no wake has photographed yet.
    unclaimed: Option<Truth>,
}

/// Share of events that are collections (when the box holds mail) and false triggers.
const COLLECTION_SHARE: f64 = 0.2;
const FALSE_TRIGGER_SHARE: f64 = 0.2;
/// Most items a box holds before its owner surely empties it.
const MOST_ITEMS: usize = 5;

impl MailboxScenes {
    /// A mailbox, empty, its look and story drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let grey = rng.random_range(42.0..72.0);
        let tint = [
            rng.random_range(-5.0..5.0),
            rng.random_range(-5.0..5.0),
            rng.random_range(-5.0..5.0),
        ];
        let floor = [grey + tint[0], grey + tint[1], grey + tint[2]];
        let texture_phase = [
            rng.random_range(0.0..std::f32::consts::TAU),
            rng.random_range(0.0..std::f32::consts::TAU),
            rng.random_range(0.0..std::f32::consts::TAU),
            rng.random_range(0.0..std::f32::consts::TAU),
        ];
        Self {
            rng,
            floor,
            texture_phase,
            items: Vec::new(),
            light: Light {
                gain: 1.0,
                offset: 0.0,
                tilt: 0.0,
            },
            truths: Vec::new(),
            unclaimed: None,
        }
    }

    /// What the next mail wake photographs: what a caller made happen since the last one, or else
    /// the next event of the story ([`MailboxScenes::next_event`]).
    pub fn pending_or_next(&mut self) -> Truth {
        match self.unclaimed.take() {
            Some(truth) => truth,
            None => {
                let truth = self.next_event();
                self.unclaimed = None;
                truth
            }
        }
    }

    /// Every event so far, oldest first.
    pub fn truths(&self) -> &[Truth] {
        &self.truths
    }

    /// How many things lie in the box.
    pub fn items(&self) -> usize {
        self.items.len()
    }

    /// Draws what happens next (a delivery, a collection when the box holds mail, a false
    /// trigger), makes it happen and records it.
    pub fn next_event(&mut self) -> Truth {
        let roll: f64 = self.rng.random();
        if self.items.len() >= MOST_ITEMS || (!self.items.is_empty() && roll < COLLECTION_SHARE) {
            self.collect()
        } else if roll < COLLECTION_SHARE + FALSE_TRIGGER_SHARE {
            let sun = self.rng.random_bool(0.5);
            self.false_trigger(sun)
        } else {
            let category = MailCategory::ALL[self.rng.random_range(0..MailCategory::ALL.len())];
            self.deliver(category)
        }
    }

    /// Something of `category` drops into the box.
    pub fn deliver(&mut self, category: MailCategory) -> Truth {
        self.drift();
        let item = self.new_item(category);
        self.items.push(item);
        self.record(Truth {
            kind: MailKind::Delivery,
            category: Some(category),
            lighting_changed: false,
        })
    }

    /// The owner empties the box.
    pub fn collect(&mut self) -> Truth {
        self.drift();
        self.items.clear();
        self.record(Truth {
            kind: MailKind::Collection,
            category: None,
            lighting_changed: false,
        })
    }

    /// The sensor fires and nothing arrives: a spider, or (`sun`) the light through the slot.
    pub fn false_trigger(&mut self, sun: bool) -> Truth {
        if sun {
            self.light = Light {
                gain: self.rng.random_range(0.75..1.3),
                offset: self.rng.random_range(-6.0..12.0),
                tilt: self.rng.random_range(-0.12..0.12),
            };
        }
        self.record(Truth {
            kind: MailKind::FalseTrigger,
            category: None,
            lighting_changed: sun,
        })
    }

    fn record(&mut self, truth: Truth) -> Truth {
        self.truths.push(truth);
        self.unclaimed = Some(truth);
        truth
    }

    /// Daylight moves a little between events.
    fn drift(&mut self) {
        self.light.gain = (self.light.gain * self.rng.random_range(0.97..1.03)).clamp(0.7, 1.35);
    }

    /// One shot of the box as it is now: `width` x `height` packed RGB.
    pub fn shot(&mut self, width: usize, height: usize) -> Vec<u8> {
        let flash = self.rng.random_range(0.92..1.08);
        let mut noise = ChaCha8Rng::seed_from_u64(self.rng.random());
        let mut rgb = Vec::with_capacity(width * height * 3);
        let scale = 1.0 / height as f32;
        for py in 0..height {
            let y = (py as f32 + 0.5) * scale;
            // The lens looks down at a slant: the far (top) end of the floor is squeezed.
            let squeeze = 1.0 + 0.16 * (0.5 - y);
            for px in 0..width {
                let sx = (px as f32 + 0.5) * scale;
                let x = 2.0 / 3.0 + (sx - 2.0 / 3.0) * squeeze;
                let mut colour = self.floor_at(x, y);
                for item in &self.items {
                    if let Some(c) = item.colour_at(x, y) {
                        colour = c;
                    }
                }
                let light = self.light_at(x, y, flash);
                let n: u64 = noise.random();
                let grain = ((n & 0xff) as f32 / 255.0 - 0.5) * 12.0;
                for (c, channel) in colour.iter().enumerate() {
                    let chroma = (((n >> (8 * (c + 1))) & 0xff) as f32 / 255.0 - 0.5) * 4.0;
                    let v = channel * light + self.light.offset + grain + chroma;
                    rgb.push(v.clamp(0.0, 255.0) as u8);
                }
            }
        }
        rgb
    }

    fn floor_at(&self, x: f32, y: f32) -> [f32; 3] {
        let p = &self.texture_phase;
        let texture = 2.5 * ((x * 9.0 + p[0]).sin() * (y * 7.0 + p[1]).sin())
            + 1.5 * ((x * 23.0 + p[2]).sin() + (y * 19.0 + p[3]).sin());
        // Light from the slot at the top.
        let slot = 1.0 + 0.35 * (1.0 - y).powi(2);
        self.floor.map(|c| c * slot + texture)
    }

    /// The flash (falling off from just below the middle), the sun's exposure and tilt.
    fn light_at(&self, x: f32, y: f32, flash: f32) -> f32 {
        let dx = x - 2.0 / 3.0;
        let dy = y - 0.55;
        let falloff = 1.0 / (1.0 + 1.6 * (dx * dx + dy * dy));
        (flash * falloff * 1.15) * self.light.gain * (1.0 + self.light.tilt * dx * 2.0)
    }

    fn new_item(&mut self, category: MailCategory) -> Item {
        let rng = &mut self.rng;
        let (long, aspect, max_angle) = match category {
            MailCategory::Letter => (
                rng.random_range(0.26..0.36),
                rng.random_range(1.6..2.3),
                0.6,
            ),
            MailCategory::LargeEnvelope => (
                rng.random_range(0.50..0.62),
                rng.random_range(1.30..1.45),
                0.5,
            ),
            MailCategory::Package => (
                rng.random_range(0.42..0.62),
                rng.random_range(1.0..1.6),
                0.4,
            ),
            MailCategory::Magazine => (
                rng.random_range(0.44..0.56),
                rng.random_range(1.32..1.45),
                0.5,
            ),
            MailCategory::Flyer => (
                rng.random_range(0.28..0.42),
                rng.random_range(1.35..2.0),
                0.6,
            ),
        };
        let angle: f32 = rng.random_range(-max_angle..max_angle)
            + if rng.random_bool(0.5) {
                std::f32::consts::FRAC_PI_2
            } else {
                0.0
            };
        let variant: u8 = rng.random_range(0..10);
        let jitter = |rng: &mut ChaCha8Rng, c: [f32; 3], by: f32| {
            c.map(|v| (v + rng.random_range(-by..by)).clamp(0.0, 255.0))
        };
        let (paper, accent) = match category {
            MailCategory::Letter => {
                let paper = match variant {
                    0 => [200.0, 215.0, 235.0],
                    1 => [240.0, 210.0, 215.0],
                    2..=4 => [238.0, 228.0, 200.0],
                    _ => [238.0, 238.0, 232.0],
                };
                (jitter(rng, paper, 8.0), random_colour(rng))
            }
            MailCategory::LargeEnvelope => {
                let paper = match variant {
                    0..=5 => [212.0, 178.0, 118.0],
                    6..=7 => [236.0, 236.0, 230.0],
                    _ => [172.0, 132.0, 88.0],
                };
                (jitter(rng, paper, 10.0), [245.0, 245.0, 240.0])
            }
            MailCategory::Package => {
                let paper = if variant < 8 {
                    [168.0, 124.0, 78.0]
                } else {
                    [225.0, 225.0, 222.0]
                };
                (jitter(rng, paper, 14.0), [200.0, 170.0, 120.0])
            }
            MailCategory::Magazine => (random_colour(rng), random_colour(rng)),
            MailCategory::Flyer => (loud_colour(rng), random_colour(rng)),
        };
        let lift = if category == MailCategory::Package {
            rng.random_range(0.06..0.14)
        } else {
            0.0
        };
        Item {
            category,
            cx: rng.random_range(0.38..0.95),
            cy: rng.random_range(0.33..0.67),
            half_w: long / 2.0,
            half_h: long / aspect / 2.0,
            cos: angle.cos(),
            sin: angle.sin(),
            paper,
            accent,
            lift,
            seed: rng.random(),
            variant,
        }
    }
}

fn random_colour(rng: &mut ChaCha8Rng) -> [f32; 3] {
    [
        rng.random_range(20.0..240.0),
        rng.random_range(20.0..240.0),
        rng.random_range(20.0..240.0),
    ]
}

/// A saturated colour: one channel high, one low.
fn loud_colour(rng: &mut ChaCha8Rng) -> [f32; 3] {
    let mut c = [
        rng.random_range(0.0..90.0),
        rng.random_range(120.0..250.0),
        rng.random_range(200.0..255.0),
    ];
    let order = rng.random_range(0..6);
    match order {
        0 => c.swap(0, 1),
        1 => c.swap(0, 2),
        2 => c.swap(1, 2),
        3 => c.rotate_left(1),
        4 => c.rotate_right(1),
        _ => {}
    }
    c
}

/// A well-mixed hash of a few numbers (print patterns).
fn hash(seed: u64, a: i64, b: i64) -> u64 {
    let mut z = seed
        ^ (a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (b as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const INK: [f32; 3] = [38.0, 38.0, 46.0];

impl Item {
    /// The item's own coordinates of a scene point: along its long side and its short side.
    fn local(&self, x: f32, y: f32, cx: f32, cy: f32) -> (f32, f32) {
        let (dx, dy) = (x - cx, y - cy);
        (
            dx * self.cos + dy * self.sin,
            -dx * self.sin + dy * self.cos,
        )
    }

    fn colour_at(&self, x: f32, y: f32) -> Option<[f32; 3]> {
        if self.lift > 0.0 {
            return self.box_colour_at(x, y);
        }
        let (u, v) = self.local(x, y, self.cx, self.cy);
        if u.abs() > self.half_w || v.abs() > self.half_h {
            return None;
        }
        Some(match self.category {
            MailCategory::Letter => self.letter(u, v),
            MailCategory::LargeEnvelope => self.large_envelope(u, v),
            MailCategory::Magazine => self.magazine(u, v),
            _ => self.flyer(u, v),
        })
    }

    /// A box: its top, nearer the camera, shows larger and pushed away from the middle; between
    /// it and its footprint on the floor, its sides, in shade.
    fn box_colour_at(&self, x: f32, y: f32) -> Option<[f32; 3]> {
        let (mx, my) = (2.0 / 3.0, 0.5);
        let at = |t: f32| {
            let s = 1.0 + self.lift * t;
            let (cx, cy) = (mx + (self.cx - mx) * s, my + (self.cy - my) * s);
            let (u, v) = self.local(x, y, cx, cy);
            (u / s, v / s)
        };
        let (u, v) = at(1.0);
        if u.abs() <= self.half_w && v.abs() <= self.half_h {
            return Some(self.box_top(u, v));
        }
        for t in [0.0, 0.25, 0.5, 0.75] {
            let (u, v) = at(t);
            if u.abs() <= self.half_w && v.abs() <= self.half_h {
                let shade = if u.abs() / self.half_w > v.abs() / self.half_h {
                    0.62
                } else {
                    0.78
                };
                return Some(self.paper.map(|c| c * shade));
            }
        }
        None
    }

    fn box_top(&self, u: f32, v: f32) -> [f32; 3] {
        // Tape along the long side.
        if v.abs() < self.half_h * 0.12 {
            return self.accent.map(|c| c * 1.08);
        }
        // The shipping label with a barcode, in one quarter.
        let (lu, lv) = (u - self.half_w * 0.45, v - self.half_h * 0.5);
        if lu.abs() < self.half_w * 0.3 && lv.abs() < self.half_h * 0.28 {
            let stripe = ((lu * 420.0) as i64 + (self.seed % 7) as i64) % 3 == 0;
            if lv < 0.0 && stripe {
                return INK;
            }
            if lv > 0.0 && self.text(lu, lv, 0.009, 0.016) {
                return INK;
            }
            return [240.0, 240.0, 236.0];
        }
        // Cardboard fibre.
        let fibre = ((hash(self.seed, (u * 300.0) as i64, (v * 40.0) as i64) & 15) as f32) - 7.5;
        self.paper.map(|c| c + fibre)
    }

    fn letter(&self, u: f32, v: f32) -> [f32; 3] {
        let (w, h) = (self.half_w, self.half_h);
        // Stamp, top right.
        if u > w * 0.68 && u < w * 0.92 && v < -h * 0.45 && v > -h * 0.9 {
            return self.accent;
        }
        // Window of a windowed envelope.
        if self.variant.is_multiple_of(3) && u.abs() < w * 0.45 && (v - h * 0.15).abs() < h * 0.28 {
            if self.text(u, v, 0.006, 0.012) {
                return INK;
            }
            return self.paper.map(|c| c * 0.9);
        }
        // Address block.
        if u > -w * 0.2 && u < w * 0.55 && v > 0.0 && v < h * 0.7 && self.text(u, v, 0.006, 0.012) {
            return INK;
        }
        self.paper
    }

    fn large_envelope(&self, u: f32, v: f32) -> [f32; 3] {
        let (w, h) = (self.half_w, self.half_h);
        // A white address label, or the address printed straight on.
        let on_label = u.abs() < w * 0.4 && v.abs() < h * 0.3;
        if on_label {
            if self.text(u, v, 0.008, 0.016) {
                return INK;
            }
            if self.variant < 6 {
                return self.accent;
            }
        }
        // Sender's line, top left.
        if u < -w * 0.4 && v < -h * 0.6 && v > -h * 0.8 && self.text(u, v, 0.006, 0.012) {
            return INK;
        }
        self.paper
    }

    fn magazine(&self, u: f32, v: f32) -> [f32; 3] {
        let (w, h) = (self.half_w, self.half_h);
        // The flash's glare on the glossy cover.
        let (gu, gv) = (u + w * 0.2, v - h * 0.1);
        if gu * gu + gv * gv < (w * 0.12).powi(2) {
            return [250.0, 250.0, 250.0];
        }
        // Title band along one short edge.
        let across = if w > h { u / w } else { v / h };
        if across < -0.72 {
            if self.text(u, v, 0.03, 0.05) {
                return [250.0, 250.0, 245.0];
            }
            return self.accent;
        }
        // Blocks of colour (pictures) in a grid, text columns between.
        let cell = hash(
            self.seed,
            ((u / w + 1.0) * 3.0) as i64,
            ((v / h + 1.0) * 3.0) as i64,
        );
        if cell.is_multiple_of(3) && self.text(u, v, 0.007, 0.012) {
            return INK;
        }
        let base = [
            (cell & 0xff) as f32 * 0.85 + 20.0,
            ((cell >> 8) & 0xff) as f32 * 0.85 + 20.0,
            ((cell >> 16) & 0xff) as f32 * 0.85 + 20.0,
        ];
        let shade = 0.85 + 0.3 * ((u * 40.0).sin() * (v * 33.0).cos()).abs();
        base.map(|c| c * shade)
    }

    fn flyer(&self, u: f32, v: f32) -> [f32; 3] {
        let (w, h) = (self.half_w, self.half_h);
        // A fold across the middle.
        if self.variant < 3 && u.abs() < w * 0.015 {
            return self.paper.map(|c| c * 0.7);
        }
        // Big type.
        if v < -h * 0.25 && v > -h * 0.75 && u.abs() < w * 0.8 && self.text(u, v, 0.04, 0.06) {
            return if self.variant.is_multiple_of(2) {
                [250.0, 250.0, 250.0]
            } else {
                INK
            };
        }
        // A round picture.
        let (pu, pv) = (u - w * 0.35, v - h * 0.35);
        if pu * pu + pv * pv < (h * 0.4).powi(2) {
            return self.accent;
        }
        if v > h * 0.1 && u < w * 0.0 && self.text(u, v, 0.008, 0.014) {
            return INK;
        }
        self.paper
    }

    /// Whether `(u, v)` falls on ink in lines of text `line` high, `word` characters wide.
    fn text(&self, u: f32, v: f32, line: f32, char_w: f32) -> bool {
        let row = (v / line).floor() as i64;
        // Every other band is the gap between lines.
        if row.rem_euclid(2) == 1 {
            return false;
        }
        let column = (u / char_w).floor() as i64;
        let word = column.div_euclid(6);
        let h = hash(self.seed, row, word);
        // Gaps between words, and lines that end early.
        if column.rem_euclid(6) == 5 || h.is_multiple_of(5) {
            return false;
        }
        !hash(self.seed ^ 0x5bd1, row, column).is_multiple_of(3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_renders_the_same_photo() {
        let mut a = MailboxScenes::new(7);
        let mut b = MailboxScenes::new(7);
        a.deliver(MailCategory::Package);
        b.deliver(MailCategory::Package);
        assert_eq!(a.shot(64, 48), b.shot(64, 48));
    }

    #[test]
    fn a_collection_empties_the_box_and_every_event_is_recorded() {
        let mut scenes = MailboxScenes::new(1);
        scenes.deliver(MailCategory::Letter);
        scenes.deliver(MailCategory::Flyer);
        assert_eq!(scenes.items(), 2);
        scenes.false_trigger(true);
        assert_eq!(scenes.items(), 2);
        scenes.collect();
        assert_eq!(scenes.items(), 0);
        let kinds: Vec<MailKind> = scenes.truths().iter().map(|t| t.kind).collect();
        assert_eq!(
            kinds,
            [
                MailKind::Delivery,
                MailKind::Delivery,
                MailKind::FalseTrigger,
                MailKind::Collection
            ]
        );
    }

    #[test]
    fn mail_is_brighter_than_the_empty_floor() {
        let mut scenes = MailboxScenes::new(3);
        let mean = |rgb: &[u8]| rgb.iter().map(|v| f64::from(*v)).sum::<f64>() / rgb.len() as f64;
        let empty = mean(&scenes.shot(64, 48));
        scenes.deliver(MailCategory::LargeEnvelope);
        let full = mean(&scenes.shot(64, 48));
        assert!(full > empty + 10.0, "{empty} -> {full}");
    }
}
