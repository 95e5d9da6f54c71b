//! Tile hashes: dHashes of overlapping windows at several scales, so a cropped, bordered or
//! aspect-cropped copy still finds the region of the other image it shows.
//!
//! The whole-image dHash breaks under crops (a 10 % crop moves it by about 19 bits). Here every
//! image gets a *frame* hash (its whole area) and window hashes (sub-rectangles at scales from
//! 1.0 down to 0.5 of each side, at overlapping offsets). When one image is a crop of another,
//! its frame hash is close to one of the other's window hashes. All of them are computed the same
//! way, from box averages over a fixed-size grey working copy, so they compare with each other
//! (they are not ImageHash values; only the whole-image [`crate::dhash`] is).

use fast_image_resize::{images::Image, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::GrayImage;

use crate::dhash::DHash;

/// Side of the square grey working copy the windows are cut from.
const WORKING_SIDE: u32 = 256;

/// A window whose 9×8 grid spans fewer grey levels than this is near-blank (sky, a wall, a
/// white page): its hash is noise and would match anything.
const MIN_CONTRAST: f32 = 8.0;
/// Near-constant hashes (almost all ones or zeros) come from smooth gradients; drop them too.
const MIN_ONES: u32 = 8;
const MAX_ONES: u32 = 56;

/// The tile fingerprint of one image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tiles {
    /// Hash of the whole frame, or `None` when the image is near-blank.
    pub frame: Option<DHash>,
    /// Hashes of the informative windows.
    pub windows: Vec<DHash>,
}

impl Tiles {
    /// Serialised as 8 bytes per hash, frame first (0 when absent, with a flag byte).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(9 + 8 * self.windows.len());
        bytes.push(u8::from(self.frame.is_some()));
        bytes.extend_from_slice(&self.frame.map_or(0, |h| h.0).to_be_bytes());
        for window in &self.windows {
            bytes.extend_from_slice(&window.0.to_be_bytes());
        }
        bytes
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Tiles> {
        let (&flag, rest) = bytes.split_first()?;
        if rest.len() % 8 != 0 || rest.is_empty() {
            return None;
        }
        let mut hashes = rest
            .chunks_exact(8)
            .map(|chunk| DHash(u64::from_be_bytes(chunk.try_into().expect("8 bytes"))));
        let frame = hashes.next().filter(|_| flag == 1);
        Some(Tiles {
            frame,
            windows: hashes.collect(),
        })
    }

    /// Smallest distance between this image's frame and one of `other`'s windows, or the
    /// reverse: small when one image shows a region of the other.
    pub fn containment_distance(&self, other: &Tiles) -> Option<u32> {
        let one_way = |frame: Option<DHash>, windows: &[DHash]| {
            frame.and_then(|f| windows.iter().map(|w| f.distance(*w)).min())
        };
        match (
            one_way(self.frame, &other.windows),
            one_way(other.frame, &self.windows),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// One axis of a window, as fractions of the side: (offset, length), at lengths from `longest`
/// down to `shortest`, `length_step` apart, and offsets about `offset_step` apart.
fn axis_spans(longest: f64, shortest: f64, length_step: f64, offset_step: f64) -> Vec<(f64, f64)> {
    let lengths = ((longest - shortest) / length_step).round() as usize + 1;
    let mut spans = Vec::new();
    for l in 0..lengths {
        let length = longest - length_step * l as f64;
        let slack = 1.0 - length;
        let positions = (slack / offset_step).round() as usize + 1;
        for i in 0..positions {
            let offset = if positions == 1 {
                0.0
            } else {
                slack * i as f64 / (positions - 1) as f64
            };
            spans.push((offset, length));
        }
    }
    spans
}

/// The windows: combinations of moderate crops (down to 0.75 of a side) on both axes, plus
/// strong crops (down to half) on one axis with the other axis whole, which is what an aspect
/// ratio crop does (a square photo cut to 16:9 keeps 0.5625 of its height).
fn window_rects() -> Vec<[(f64, f64); 2]> {
    let moderate = axis_spans(0.95, 0.75, 0.05, 0.025);
    let strong = axis_spans(0.725, 0.5, 0.025, 0.025);
    let whole = (0.0, 1.0);
    let mut rects = Vec::new();
    for &x in moderate.iter().chain([&whole]) {
        for &y in moderate.iter().chain([&whole]) {
            if (x, y) != (whole, whole) {
                rects.push([x, y]);
            }
        }
    }
    for &s in &strong {
        rects.push([s, whole]);
        rects.push([whole, s]);
    }
    rects
}

/// Summed-area table of the working copy, for O(1) box sums.
struct SummedArea {
    side: usize,
    sums: Vec<u64>,
}

impl SummedArea {
    fn new(pixels: &[u8], side: usize) -> SummedArea {
        let stride = side + 1;
        let mut sums = vec![0u64; stride * stride];
        for y in 0..side {
            let mut row = 0u64;
            for x in 0..side {
                row += u64::from(pixels[y * side + x]);
                sums[(y + 1) * stride + x + 1] = sums[y * stride + x + 1] + row;
            }
        }
        SummedArea { side, sums }
    }

    /// Mean over [x0, x1) × [y0, y1).
    fn mean(&self, x0: usize, x1: usize, y0: usize, y1: usize) -> f32 {
        let stride = self.side + 1;
        let at = |x: usize, y: usize| self.sums[y * stride + x];
        let total = at(x1, y1) + at(x0, y0) - at(x1, y0) - at(x0, y1);
        total as f32 / ((x1 - x0) * (y1 - y0)) as f32
    }

    /// The 9×8 grid of box means over a window; `None` when it is near-blank.
    fn window_hash(&self, [(x_off, x_len), (y_off, y_len)]: [(f64, f64); 2]) -> Option<DHash> {
        let side = self.side as f64;
        let edge = |offset: f64, length: f64, i: usize, cells: usize| {
            ((offset + length * i as f64 / cells as f64) * side).round() as usize
        };
        let mut grid = [0f32; 72];
        for row in 0..8 {
            let (y0, y1) = (edge(y_off, y_len, row, 8), edge(y_off, y_len, row + 1, 8));
            for column in 0..9 {
                let (x0, x1) = (
                    edge(x_off, x_len, column, 9),
                    edge(x_off, x_len, column + 1, 9),
                );
                grid[row * 9 + column] = self.mean(x0, x1.max(x0 + 1), y0, y1.max(y0 + 1));
            }
        }
        let (low, high) = grid
            .iter()
            .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        if high - low < MIN_CONTRAST {
            return None;
        }
        // Same bit order as `hash_grid` (row-major, MSB first), on unrounded means.
        let mut bits = 0u64;
        for row in grid.chunks_exact(9) {
            for pair in row.windows(2) {
                bits = (bits << 1) | u64::from(pair[1] > pair[0]);
            }
        }
        let hash = DHash(bits);
        (MIN_ONES..=MAX_ONES)
            .contains(&hash.0.count_ones())
            .then_some(hash)
    }
}

/// Computes the tile fingerprint of a grey image.
pub fn tiles(grey: &GrayImage) -> Tiles {
    let side = WORKING_SIDE as usize;
    let source = Image::from_vec_u8(
        grey.width(),
        grey.height(),
        grey.as_raw().clone(),
        PixelType::U8,
    )
    .expect("grey buffer matches its dimensions");
    let mut working = Image::new(WORKING_SIDE, WORKING_SIDE, PixelType::U8);
    Resizer::new()
        .resize(
            &source,
            &mut working,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Box)),
        )
        .expect("same pixel type on both sides");
    let area = SummedArea::new(working.buffer(), side);
    let whole = [(0.0, 1.0), (0.0, 1.0)];
    Tiles {
        frame: area.window_hash(whole),
        windows: window_rects()
            .into_iter()
            .filter_map(|rect| area.window_hash(rect))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhash::hash_grid;

    fn scene(width: u32, height: u32, crop: (u32, u32)) -> GrayImage {
        // A deterministic textured scene; the copy is a crop of the same function.
        GrayImage::from_fn(width, height, |x, y| {
            let (x, y) = (f64::from(x + crop.0), f64::from(y + crop.1));
            let v = 128.0
                + 60.0 * (x / 37.0).sin() * (y / 23.0).cos()
                + 50.0 * ((x + 2.0 * y) / 71.0).sin();
            image::Luma([v.clamp(0.0, 255.0) as u8])
        })
    }

    #[test]
    fn window_set_is_stable_and_overlapping() {
        let rects = window_rects();
        assert_eq!(rects.len(), 36 * 36 - 1 + 2 * 165);
        assert!(rects
            .iter()
            .all(|r| r.iter().all(|(o, l)| o + l <= 1.0 + 1e-9)));
    }

    #[test]
    fn crop_matches_a_window_of_the_original_but_not_an_unrelated_scene() {
        let original = tiles(&scene(400, 300, (0, 0)));
        let cropped = tiles(&scene(340, 255, (30, 22)));
        let other = tiles(&GrayImage::from_fn(400, 300, |x, y| {
            image::Luma([((x * 7 + y * 13) % 97 * 2 + (x / 40 + y / 30) % 3 * 20) as u8])
        }));
        assert!(original.containment_distance(&cropped).unwrap() <= 4);
        assert!(original.containment_distance(&other).unwrap() > 10);
        let bytes = original.to_bytes();
        assert_eq!(Tiles::from_bytes(&bytes), Some(original));
        assert_eq!(hash_grid(&[0; 72]), DHash(0));
    }

    #[test]
    fn blank_image_has_no_informative_tiles() {
        let blank = tiles(&GrayImage::from_pixel(300, 200, image::Luma([250])));
        assert_eq!(blank, Tiles::default());
    }
}
