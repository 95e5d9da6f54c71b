//! ImageHash-compatible difference hash.
//!
//! `imagehash.dhash` (ImageHash 4.3.2) converts to Pillow mode "L", resizes to 9×8 with Pillow's
//! fixed-point Lanczos-3 and sets a bit where the right neighbour is strictly brighter. Neither
//! the `image` crate's grey conversion (Rec.709) nor its resize (f32, vertical pass first) nor
//! fast_image_resize (i16 coefficients) reproduce Pillow's values, so both steps are ported here
//! from Pillow's `Convert.c` and `Resample.c` (8-bit path).

use image::{DynamicImage, GrayImage};

/// Bits Pillow keeps for its fixed-point coefficients (`32 - 8 - 2`).
const PRECISION_BITS: u32 = 22;

/// Width and height of the grid the hash compares: 9 columns give 8 differences per row.
const HASH_COLUMNS: u32 = 9;
const HASH_ROWS: u32 = 8;

/// A JPEG may be decoded reduced (DCT scaling) for fingerprinting as long as its shorter side
/// keeps this many pixels. A reduced decode is not Pillow's full decode, so a grid cell can
/// come out one level apart and flip a bit whose neighbours nearly tie; on the parity corpus
/// (`tests/dhash_parity.rs`, 161 JPEGs, libjpeg-turbo decoding) 512 leaves one JPEG (a 1411-px
/// photo decoded at 1/2) one bit off. 12-megapixel photos still decode at 1/4.
pub const MIN_DECODE_SIDE: u32 = 512;

/// A 64-bit dHash; the first bit (row 0, column 0) is the most significant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DHash(pub u64);

impl DHash {
    /// Number of differing bits.
    pub fn distance(self, other: DHash) -> u32 {
        (self.0 ^ other.0).count_ones()
    }

    /// Parses 16 hex digits, as printed by ImageHash.
    pub fn from_hex(text: &str) -> Option<DHash> {
        if text.len() != 16 {
            return None;
        }
        u64::from_str_radix(text, 16).ok().map(DHash)
    }
}

impl std::fmt::Display for DHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// ITU-R 601-2 luma in Pillow's 16.16 fixed point, with the rounding Pillow ≥ 7 applies.
#[inline]
pub fn pillow_luma(r: u8, g: u8, b: u8) -> u8 {
    ((19595 * u32::from(r) + 38470 * u32::from(g) + 7471 * u32::from(b) + 0x8000) >> 16) as u8
}

/// Converts a decoded image to grey the way Pillow's `convert("L")` does for the mode Pillow
/// would have opened the file in: alpha ignored, 16-bit grey clipped (not scaled), 16-bit colour
/// reduced to its high byte.
pub fn to_pillow_grey(image: &DynamicImage) -> GrayImage {
    let (width, height) = (image.width(), image.height());
    let grey: Vec<u8> = match image {
        DynamicImage::ImageLuma8(buffer) => return buffer.clone(),
        DynamicImage::ImageLumaA8(buffer) => buffer.pixels().map(|p| p.0[0]).collect(),
        DynamicImage::ImageLuma16(buffer) => {
            buffer.pixels().map(|p| p.0[0].min(255) as u8).collect()
        }
        DynamicImage::ImageLumaA16(buffer) => {
            buffer.pixels().map(|p| p.0[0].min(255) as u8).collect()
        }
        DynamicImage::ImageRgb8(buffer) => luma_of::<3>(buffer.as_raw()),
        DynamicImage::ImageRgba8(buffer) => luma_of::<4>(buffer.as_raw()),
        DynamicImage::ImageRgb16(buffer) => buffer
            .as_raw()
            .chunks_exact(3)
            .map(|p| pillow_luma((p[0] >> 8) as u8, (p[1] >> 8) as u8, (p[2] >> 8) as u8))
            .collect(),
        DynamicImage::ImageRgba16(buffer) => buffer
            .as_raw()
            .chunks_exact(4)
            .map(|p| pillow_luma((p[0] >> 8) as u8, (p[1] >> 8) as u8, (p[2] >> 8) as u8))
            .collect(),
        other => luma_of::<3>(other.to_rgb8().as_raw()),
    };
    GrayImage::from_raw(width, height, grey).expect("one grey byte per pixel")
}

/// Pillow's luma of 8-bit pixels of `CHANNELS` bytes each (red, green, blue first). Colour
/// photos spend a tenth of their hash time here, and the scalar loop does not vectorise (three
/// bytes a pixel), so an AVX2 version runs where the CPU has it.
fn luma_of<const CHANNELS: usize>(pixels: &[u8]) -> Vec<u8> {
    let mut grey = vec![0u8; pixels.len() / CHANNELS];
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { luma_avx2::<CHANNELS>(pixels, &mut grey) };
        return grey;
    }
    luma_scalar::<CHANNELS>(pixels, &mut grey);
    grey
}

fn luma_scalar<const CHANNELS: usize>(pixels: &[u8], grey: &mut [u8]) {
    for (out, pixel) in grey.iter_mut().zip(pixels.chunks_exact(CHANNELS)) {
        *out = pillow_luma(pixel[0], pixel[1], pixel[2]);
    }
}

/// Eight pixels a step: each 128-bit half of a register holds four pixels, whose red, green
/// and blue bytes one shuffle each spreads into 32-bit lanes for Pillow's fixed-point sum.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn luma_avx2<const CHANNELS: usize>(pixels: &[u8], grey: &mut [u8]) {
    use std::arch::x86_64::*;
    /// Picks byte `channel` of each of four pixels into the low byte of a 32-bit lane.
    fn spread<const CHANNELS: usize>(channel: usize) -> [u8; 32] {
        let mut mask = [0x80u8; 32];
        for pixel in 0..4 {
            mask[pixel * 4] = (pixel * CHANNELS + channel) as u8;
            mask[16 + pixel * 4] = (pixel * CHANNELS + channel) as u8;
        }
        mask
    }
    // SAFETY: an unaligned load of exactly the 32 bytes of the array.
    let load = |mask: [u8; 32]| unsafe { _mm256_loadu_si256(mask.as_ptr().cast()) };
    let (red, green, blue) = (
        load(spread::<CHANNELS>(0)),
        load(spread::<CHANNELS>(1)),
        load(spread::<CHANNELS>(2)),
    );
    let (red_weight, green_weight, blue_weight) = (
        _mm256_set1_epi32(19595),
        _mm256_set1_epi32(38470),
        _mm256_set1_epi32(7471),
    );
    let half = _mm256_set1_epi32(0x8000);
    // Each half reads 16 bytes from its first pixel, which for 3-byte pixels runs past the
    // eighth pixel: stop while those bytes are still inside the slice.
    let step_bytes = 4 * CHANNELS + 16;
    let mut done = 0;
    while done + 8 <= grey.len() && done * CHANNELS + step_bytes <= pixels.len() {
        let first: &[u8; 16] = pixels[done * CHANNELS..][..16]
            .try_into()
            .expect("16 bytes");
        let second: &[u8; 16] = pixels[done * CHANNELS + 4 * CHANNELS..][..16]
            .try_into()
            .expect("16 bytes");
        // SAFETY: unaligned loads of exactly the 16 bytes of each array.
        let both = unsafe {
            _mm256_set_m128i(
                _mm_loadu_si128(second.as_ptr().cast()),
                _mm_loadu_si128(first.as_ptr().cast()),
            )
        };
        let sum = _mm256_add_epi32(
            _mm256_add_epi32(
                _mm256_mullo_epi32(_mm256_shuffle_epi8(both, red), red_weight),
                _mm256_mullo_epi32(_mm256_shuffle_epi8(both, green), green_weight),
            ),
            _mm256_add_epi32(
                _mm256_mullo_epi32(_mm256_shuffle_epi8(both, blue), blue_weight),
                half,
            ),
        );
        let words = _mm256_packus_epi32(_mm256_srli_epi32(sum, 16), _mm256_setzero_si256());
        let bytes = _mm256_packus_epi16(words, _mm256_setzero_si256());
        let low = _mm_cvtsi128_si32(_mm256_castsi256_si128(bytes)).to_le_bytes();
        let high = _mm_cvtsi128_si32(_mm256_extracti128_si256(bytes, 1)).to_le_bytes();
        grey[done..done + 4].copy_from_slice(&low);
        grey[done + 4..done + 8].copy_from_slice(&high);
        done += 8;
    }
    luma_scalar::<CHANNELS>(&pixels[done * CHANNELS..], &mut grey[done..]);
}

/// Pillow's Lanczos-3 kernel.
fn lanczos(x: f64) -> f64 {
    fn sinc(x: f64) -> f64 {
        if x == 0.0 {
            1.0
        } else {
            let x = x * std::f64::consts::PI;
            x.sin() / x
        }
    }
    if (-3.0..3.0).contains(&x) {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

/// Fixed-point taps for one output pixel: the first input index and one weight per input.
struct Taps {
    first: usize,
    weights: Vec<i32>,
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for one axis.
fn pillow_taps(in_size: u32, out_size: u32) -> Vec<Taps> {
    let scale = f64::from(in_size) / f64::from(out_size);
    let filterscale = scale.max(1.0);
    let support = 3.0 * filterscale;
    // Pillow multiplies by the reciprocal rather than dividing; the last bit of the kernel
    // argument can change a quantised weight, so do the same.
    let inverse = 1.0 / filterscale;
    (0..out_size)
        .map(|out| {
            let center = (f64::from(out) + 0.5) * scale;
            // C casts truncate toward zero; the clamps make that equal to floor here.
            let lo = ((center - support + 0.5) as i64).max(0) as usize;
            let hi = ((center + support + 0.5) as i64).min(i64::from(in_size)) as usize;
            let raw: Vec<f64> = (lo..hi)
                .map(|i| lanczos((i as f64 - center + 0.5) * inverse))
                .collect();
            let sum: f64 = raw.iter().sum();
            let one = f64::from(1u32 << PRECISION_BITS);
            let weights = raw
                .iter()
                .map(|&w| {
                    let w = if sum != 0.0 { w / sum } else { w };
                    if w < 0.0 {
                        (-0.5 + w * one) as i32
                    } else {
                        (0.5 + w * one) as i32
                    }
                })
                .collect();
            Taps { first: lo, weights }
        })
        .collect()
}

/// Pillow's `clip8`: round the accumulator (which started at one half) down and clamp.
#[inline]
fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// One horizontal Lanczos pass (every row), rounding to 8 bits like Pillow. It is the
/// costliest step of the hash (about six multiply-adds per source pixel); the baseline x86-64
/// target has no packed 32-bit multiply, so an AVX2 build of the same loop runs where the CPU
/// has it.
fn horizontal_pass(grey: &GrayImage, out_width: u32) -> GrayImage {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { horizontal_pass_avx2(grey, out_width) };
    }
    horizontal_pass_generic(grey, out_width)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn horizontal_pass_avx2(grey: &GrayImage, out_width: u32) -> GrayImage {
    horizontal_pass_generic(grey, out_width)
}

#[inline(always)]
fn horizontal_pass_generic(grey: &GrayImage, out_width: u32) -> GrayImage {
    let (in_width, height) = grey.dimensions();
    let taps = pillow_taps(in_width, out_width);
    let mut out = Vec::with_capacity(out_width as usize * height as usize);
    for row in grey.as_raw().chunks_exact(in_width as usize) {
        for tap in &taps {
            let inputs = &row[tap.first..tap.first + tap.weights.len()];
            let acc = inputs
                .iter()
                .zip(&tap.weights)
                .fold(1i32 << (PRECISION_BITS - 1), |acc, (&p, &w)| {
                    acc.wrapping_add(i32::from(p).wrapping_mul(w))
                });
            out.push(clip8(acc));
        }
    }
    GrayImage::from_raw(out_width, height, out).expect("sized buffer")
}

/// One vertical Lanczos pass (every column), rounding to 8 bits like Pillow.
fn vertical_pass(grey: &GrayImage, out_height: u32) -> GrayImage {
    let (width, in_height) = grey.dimensions();
    let taps = pillow_taps(in_height, out_height);
    let width = width as usize;
    let source = grey.as_raw();
    let mut out = vec![0u8; width * out_height as usize];
    let mut acc = vec![0i32; width];
    for (tap, out_row) in taps.iter().zip(out.chunks_exact_mut(width)) {
        acc.fill(1 << (PRECISION_BITS - 1));
        for (k, &w) in tap.weights.iter().enumerate() {
            let row = &source[(tap.first + k) * width..][..width];
            for (a, &p) in acc.iter_mut().zip(row) {
                *a = a.wrapping_add(i32::from(p).wrapping_mul(w));
            }
        }
        for (o, &a) in out_row.iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
    GrayImage::from_raw(grey.width(), out_height, out).expect("sized buffer")
}

/// Resizes grey pixels exactly like Pillow 13's `Image.resize(size, LANCZOS)` on mode "L": two
/// passes, each rounding to 8 bits; a pass whose size does not change is skipped.
///
/// The order of the passes changes the rounding. Pillow 13 runs the vertical pass first when
/// the height shrinks by more than twice as many pixels as the width, and the horizontal pass
/// first otherwise (found by comparing both orders with Pillow 13.0.0 on 700 random shapes;
/// the reference's description, always horizontal first, holds for older Pillow).
pub fn pillow_resize_lanczos(grey: &GrayImage, out_width: u32, out_height: u32) -> GrayImage {
    let (in_width, in_height) = grey.dimensions();
    let width_shrink = i64::from(in_width) - i64::from(out_width);
    let height_shrink = i64::from(in_height) - i64::from(out_height);
    let vertical_first = 2 * width_shrink.max(0) < height_shrink.max(0);
    let first = if vertical_first {
        (out_height != in_height).then(|| vertical_pass(grey, out_height))
    } else {
        (out_width != in_width).then(|| horizontal_pass(grey, out_width))
    };
    let between = first.as_ref().unwrap_or(grey);
    let second = if vertical_first {
        (out_width != in_width).then(|| horizontal_pass(between, out_width))
    } else {
        (out_height != in_height).then(|| vertical_pass(between, out_height))
    };
    second.or(first).unwrap_or_else(|| grey.clone())
}

/// Sets bit (row, column) when the right neighbour in a 9×8 grid is strictly brighter.
pub fn hash_grid(grid: &[u8]) -> DHash {
    debug_assert_eq!(grid.len(), (HASH_COLUMNS * HASH_ROWS) as usize);
    let mut bits = 0u64;
    for row in grid.chunks_exact(HASH_COLUMNS as usize) {
        for pair in row.windows(2) {
            bits = (bits << 1) | u64::from(pair[1] > pair[0]);
        }
    }
    DHash(bits)
}

/// The dHash of an already grey image, as `imagehash.dhash` computes it.
pub fn dhash_grey(grey: &GrayImage) -> DHash {
    hash_grid(pillow_resize_lanczos(grey, HASH_COLUMNS, HASH_ROWS).as_raw())
}

/// The dHash of a decoded image, as `imagehash.dhash(Image.open(path))` computes it.
pub fn dhash(image: &DynamicImage) -> DHash {
    dhash_grey(&to_pillow_grey(image))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luma_keeps_grey_levels_and_weights_channels() {
        for level in [0u8, 1, 127, 128, 254, 255] {
            assert_eq!(pillow_luma(level, level, level), level);
        }
        // Pure red, as measured on Pillow 13.
        assert_eq!(pillow_luma(255, 0, 0), 76);
    }

    #[test]
    fn vector_luma_equals_scalar_luma_at_every_length() {
        let pixels: Vec<u8> = (0..4 * 300u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for length in [0, 1, 7, 8, 9, 10, 15, 16, 17, 299, 300] {
            let rgb = &pixels[..3 * length];
            let mut expected = vec![0; length];
            luma_scalar::<3>(rgb, &mut expected);
            assert_eq!(luma_of::<3>(rgb), expected, "rgb, {length} pixels");
            let rgba = &pixels[..4 * length];
            luma_scalar::<4>(rgba, &mut expected);
            assert_eq!(luma_of::<4>(rgba), expected, "rgba, {length} pixels");
        }
    }

    #[test]
    fn taps_sum_to_one_in_fixed_point() {
        for (input, output) in [(512, 9), (300, 8), (9, 9), (5, 9), (1411, 8)] {
            for tap in pillow_taps(input, output) {
                let sum: i32 = tap.weights.iter().sum();
                assert!((sum - (1 << PRECISION_BITS)).abs() <= tap.weights.len() as i32);
                assert!(tap.first + tap.weights.len() <= input as usize);
            }
        }
    }

    #[test]
    fn flat_image_hashes_to_zero_and_ramp_to_ones() {
        let flat = GrayImage::from_pixel(100, 80, image::Luma([90]));
        assert_eq!(dhash_grey(&flat), DHash(0));
        let ramp = GrayImage::from_fn(200, 100, |x, _| image::Luma([(x / 2) as u8]));
        assert_eq!(dhash_grey(&ramp), DHash(u64::MAX));
        assert_eq!(DHash(u64::MAX).to_string(), "ffffffffffffffff");
        assert_eq!(DHash::from_hex("00000000000000ff"), Some(DHash(255)));
        assert_eq!(DHash(0).distance(DHash(0b1011)), 3);
    }
}
