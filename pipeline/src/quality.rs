//! Measurable quality features used to order a hotel's images.

use fast_image_resize::{images::Image, PixelType, Resizer};
use image::DynamicImage;
use serde::{Deserialize, Serialize};

use crate::dhash::pillow_luma;

/// Features are measured on a copy this wide (long side), so they do not depend on resolution.
const THUMBNAIL_SIDE: u32 = 256;

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Variance of the 4-neighbour Laplacian of the grey thumbnail: higher is sharper.
    pub sharpness: f64,
    /// Mean luma in 0..1.
    pub brightness: f64,
    /// Fraction of pixels crushed to black or blown to white.
    pub clipped: f64,
    /// Hasler–Süsstrunk colourfulness of the thumbnail.
    pub colourfulness: f64,
}

pub fn measure(image: &DynamicImage) -> Quality {
    let rgb = image.to_rgb8();
    let (width, height) = rgb.dimensions();
    let scale = f64::from(THUMBNAIL_SIDE) / f64::from(width.max(height));
    let (thumb_width, thumb_height) = if scale < 1.0 {
        (
            ((f64::from(width) * scale).round() as u32).max(1),
            ((f64::from(height) * scale).round() as u32).max(1),
        )
    } else {
        (width, height)
    };
    let source = Image::from_vec_u8(width, height, rgb.into_raw(), PixelType::U8x3)
        .expect("rgb buffer matches its dimensions");
    let mut thumb = Image::new(thumb_width, thumb_height, PixelType::U8x3);
    Resizer::new()
        .resize(&source, &mut thumb, None)
        .expect("same pixel type on both sides");
    let pixels = thumb.buffer();
    let grey: Vec<f64> = pixels
        .chunks_exact(3)
        .map(|p| f64::from(pillow_luma(p[0], p[1], p[2])))
        .collect();
    let count = grey.len() as f64;
    let brightness = grey.iter().sum::<f64>() / count / 255.0;
    let clipped = grey
        .iter()
        .filter(|&&v| !(5.0..=250.0).contains(&v))
        .count() as f64
        / count;

    let (w, h) = (thumb_width as usize, thumb_height as usize);
    let mut laplacians = Vec::with_capacity(w.saturating_sub(2) * h.saturating_sub(2));
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let at = |x: usize, y: usize| grey[y * w + x];
            laplacians
                .push(at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1) - 4.0 * at(x, y));
        }
    }
    let sharpness = variance(&laplacians).0;

    let (rg, yb): (Vec<f64>, Vec<f64>) = pixels
        .chunks_exact(3)
        .map(|p| {
            let (r, g, b) = (f64::from(p[0]), f64::from(p[1]), f64::from(p[2]));
            (r - g, 0.5 * (r + g) - b)
        })
        .unzip();
    let (rg_var, rg_mean) = variance(&rg);
    let (yb_var, yb_mean) = variance(&yb);
    let colourfulness = (rg_var + yb_var).sqrt() + 0.3 * (rg_mean.powi(2) + yb_mean.powi(2)).sqrt();
    Quality {
        sharpness,
        brightness,
        clipped,
        colourfulness,
    }
}

/// (variance, mean); zeros for an empty slice.
fn variance(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n,
        mean,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharp_colourful_image_scores_above_flat_grey() {
        let flat = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            300,
            200,
            image::Rgb([128, 128, 128]),
        ));
        let busy = DynamicImage::ImageRgb8(image::RgbImage::from_fn(300, 200, |x, y| {
            if (x / 3 + y / 3) % 2 == 0 {
                image::Rgb([230, 40, 30])
            } else {
                image::Rgb([20, 60, 220])
            }
        }));
        let (flat, busy) = (measure(&flat), measure(&busy));
        assert_eq!(flat.sharpness, 0.0);
        assert!((flat.brightness - 128.0 / 255.0).abs() < 1e-9);
        assert!(busy.sharpness > 100.0 && busy.colourfulness > flat.colourfulness + 50.0);
    }
}
