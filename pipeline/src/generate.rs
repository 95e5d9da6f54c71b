//! The generate stage: render every kept image in each configured size, format and quality,
//! with fast_image_resize. Outputs go to `<out>/<hotel>/<image>/<config>.<ext>` (a folder or
//! object storage), the hotel group id escaped by [`crate::paths::id_component`]; one whose
//! recorded digest (source + configuration) is current and whose object exists is skipped.

use std::path::Path;

use futures_util::stream::{self, StreamExt};

use fast_image_resize::{images::Image, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::blobstore::hex;
use crate::decode::{self, DecodeLimits};
use crate::paths::id_component;
use crate::progress;
use crate::storage::Storage;
use crate::store::{RankedImage, Stage};
use crate::worker::{Context, StageError, StageResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Scale down to fit inside the box, keeping the aspect ratio (never enlarges).
    Fit,
    /// Fit inside the box and pad to exactly its size with white.
    Fill,
    /// Scale to cover the box and cut the centre to exactly its size.
    Crop,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jpeg,
    Png,
    /// Lossy WebP at `quality`, by libwebp (the `image` crate's own WebP encoder is lossless
    /// only).
    Webp,
    /// Lossless WebP; `quality` does not apply.
    #[serde(rename = "webp-lossless")]
    WebpLossless,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Webp | Format::WebpLossless => "webp",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputConfig {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub mode: Mode,
    pub format: Format,
    /// JPEG and WebP quality, 1–100 (ignored by the lossless formats).
    #[serde(default = "default_quality")]
    pub quality: u8,
}

fn default_quality() -> u8 {
    85
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("config file {path}: {message}")]
    Config { path: String, message: String },
}

fn config(
    name: &str,
    width: u32,
    height: u32,
    mode: Mode,
    format: Format,
    quality: u8,
) -> OutputConfig {
    OutputConfig {
        name: name.to_owned(),
        width,
        height,
        mode,
        format,
        quality,
    }
}

/// The 14 default configurations: thumbnails, squares and crops for lists, fitted sizes from
/// phone to desktop, a letterboxed card, a hero banner, a PNG icon and a lossy WebP.
pub fn default_configs() -> Vec<OutputConfig> {
    use Format::*;
    use Mode::*;
    vec![
        config("thumb-s", 100, 75, Crop, Jpeg, 80),
        config("thumb-m", 200, 150, Crop, Jpeg, 80),
        config("thumb-l", 320, 240, Crop, Jpeg, 82),
        config("square-s", 150, 150, Crop, Jpeg, 80),
        config("square-m", 300, 300, Crop, Jpeg, 82),
        config("card", 400, 300, Fill, Jpeg, 82),
        config("mobile-s", 480, 320, Fit, Jpeg, 82),
        config("mobile-m", 640, 480, Fit, Jpeg, 82),
        config("mobile-l", 828, 621, Fit, Jpeg, 85),
        config("tablet", 1024, 768, Fit, Jpeg, 85),
        config("desktop", 1440, 1080, Fit, Jpeg, 85),
        config("hero", 1920, 640, Crop, Jpeg, 85),
        config("icon", 64, 64, Crop, Png, 100),
        config("webp-m", 640, 480, Fit, Webp, 80),
    ]
}

/// Reads a JSON list of configurations; names must be unique and usable as file names.
pub fn load_configs(path: &Path) -> Result<Vec<OutputConfig>, GenerateError> {
    let error = |message: String| GenerateError::Config {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let configs: Vec<OutputConfig> = serde_json::from_str(&text).map_err(|e| {
        error(format!(
            "{e} (expected a JSON list of {{name, width, height, mode: fit|fill|crop, format: jpeg|png|webp|webp-lossless, quality}})"
        ))
    })?;
    let mut names = std::collections::BTreeSet::new();
    for config in &configs {
        if config.name.is_empty()
            || !config
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        {
            return Err(error(format!(
                "config name {:?} must be letters, digits, - or _",
                config.name
            )));
        }
        if !names.insert(&config.name) {
            return Err(error(format!(
                "config name {:?} appears twice",
                config.name
            )));
        }
        let sides = 1..=u32::from(u16::MAX);
        if !sides.contains(&config.width)
            || !sides.contains(&config.height)
            || !(1..=100).contains(&config.quality)
        {
            return Err(error(format!(
                "config {:?}: width and height must be 1-65535 (JPEG's limit), quality 1-100",
                config.name
            )));
        }
    }
    Ok(configs)
}

/// Identifies the rendering of one source with one configuration.
fn digest(sha256: &str, config: &OutputConfig) -> String {
    let mut hasher = Sha256::new();
    hasher.update(concat!("imgpipe-generate/", env!("CARGO_PKG_VERSION")).as_bytes());
    hasher.update(sha256.as_bytes());
    hasher.update(serde_json::to_vec(config).expect("configs serialise"));
    hex(&hasher.finalize())[..16].to_owned()
}

/// Renders one configuration of a decoded RGB image to encoded bytes.
pub fn render(source: &Image<'_>, config: &OutputConfig, resizer: &mut Resizer) -> Vec<u8> {
    let (width, height) = (f64::from(source.width()), f64::from(source.height()));
    let (box_w, box_h) = (f64::from(config.width), f64::from(config.height));
    let lanczos = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    let fitted = |allow_enlarge: bool| {
        let mut scale = (box_w / width).min(box_h / height);
        if !allow_enlarge {
            scale = scale.min(1.0);
        }
        (
            ((width * scale).round() as u32).clamp(1, config.width),
            ((height * scale).round() as u32).clamp(1, config.height),
        )
    };
    let resized = |w: u32, h: u32, options: &ResizeOptions, resizer: &mut Resizer| {
        let mut out = Image::new(w, h, PixelType::U8x3);
        resizer
            .resize(source, &mut out, options)
            .expect("same pixel type on both sides");
        out
    };
    let (out_w, out_h, pixels) = match config.mode {
        Mode::Fit => {
            let (w, h) = fitted(false);
            (w, h, resized(w, h, &lanczos, resizer).into_vec())
        }
        Mode::Crop => {
            // The largest centred source rectangle with the box's aspect ratio.
            let aspect = box_w / box_h;
            let (crop_w, crop_h) = if width / height > aspect {
                (height * aspect, height)
            } else {
                (width, width / aspect)
            };
            let options = lanczos.crop(
                (width - crop_w) / 2.0,
                (height - crop_h) / 2.0,
                crop_w,
                crop_h,
            );
            (
                config.width,
                config.height,
                resized(config.width, config.height, &options, resizer).into_vec(),
            )
        }
        Mode::Fill => {
            let (w, h) = fitted(true);
            let inner = resized(w, h, &lanczos, resizer);
            let mut canvas =
                RgbImage::from_pixel(config.width, config.height, image::Rgb([255, 255, 255]));
            let inner = RgbImage::from_raw(w, h, inner.into_vec()).expect("sized buffer");
            image::imageops::replace(
                &mut canvas,
                &inner,
                i64::from((config.width - w) / 2),
                i64::from((config.height - h) / 2),
            );
            (config.width, config.height, canvas.into_raw())
        }
    };
    let mut encoded = Vec::new();
    // jpeg-encoder (AVX2 colour conversion and DCT) rather than the `image` crate's encoder,
    // which took a third of the generate stage.
    let result = match config.format {
        Format::Jpeg => jpeg_encoder::Encoder::new(&mut encoded, config.quality)
            .encode(
                &pixels,
                u16::try_from(out_w).expect("config sizes are at most 65535"),
                u16::try_from(out_h).expect("config sizes are at most 65535"),
                jpeg_encoder::ColorType::Rgb,
            )
            .map_err(|e| e.to_string()),
        Format::Png => PngEncoder::new(&mut encoded)
            .write_image(&pixels, out_w, out_h, ExtendedColorType::Rgb8)
            .map_err(|e| e.to_string()),
        Format::Webp => {
            let lossy = webp::Encoder::from_rgb(&pixels, out_w, out_h)
                .encode_simple(false, f32::from(config.quality))
                .map_err(|e| format!("{e:?}"));
            lossy.map(|webp| encoded.extend_from_slice(&webp))
        }
        Format::WebpLossless => WebPEncoder::new_lossless(&mut encoded)
            .write_image(&pixels, out_w, out_h, ExtendedColorType::Rgb8)
            .map_err(|e| e.to_string()),
    };
    result.expect("encoding RGB8 into memory does not fail");
    encoded
}

/// Decodes a source for rendering: upright (EXIF orientation applied) and RGB (alpha dropped),
/// as fir wants it.
pub fn source_image(
    body: &[u8],
    limits: DecodeLimits,
) -> Result<Image<'static>, decode::DecodeError> {
    let rgb = decode::decode_upright(body, limits)?.into_rgb8();
    let (w, h) = rgb.dimensions();
    Ok(Image::from_vec_u8(w, h, rgb.into_raw(), PixelType::U8x3)
        .expect("rgb buffer matches its dimensions"))
}

#[derive(Debug, Default, serde::Serialize)]
pub struct GenerateSummary {
    pub rendered: u64,
    pub up_to_date: u64,
    pub failed: u64,
}

/// Where one rendering of a kept image goes, relative to the output storage:
/// `<hotel>/<image>/<config>.<ext>`. Every output location is made here.
pub fn output_key(hotel_group: &str, sha256: &str, config: &OutputConfig) -> String {
    format!(
        "{}/{}/{}.{}",
        id_component(hotel_group),
        &sha256[..16],
        config.name,
        config.format.extension()
    )
}

/// Identifies a list of configurations: kept images rendered with another list are rendered
/// again.
pub fn configs_digest(configs: &[OutputConfig]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(concat!("imgpipe-generate/", env!("CARGO_PKG_VERSION")).as_bytes());
    hasher.update(serde_json::to_vec(configs).expect("configs serialise"));
    hex(&hasher.finalize())[..16].to_owned()
}

/// What rendering one image gave: (config, digest, location) per output written, or why the
/// image could not be rendered.
type Rendered = Result<Vec<(String, String, String)>, (String, String)>;

/// Renders the configurations of one kept image whose recorded digest is stale or whose output
/// is missing, and writes them.
async fn render_image(
    context: &Context,
    out: &Storage,
    configs: &[OutputConfig],
    limits: DecodeLimits,
    image: &RankedImage,
    summary_up_to_date: &mut u64,
) -> StageResult<Rendered> {
    let recorded = context.store.output_digests(image).await?;
    let mut stale = Vec::new();
    for config in configs {
        let digest = digest(&image.sha256, config);
        let key = output_key(&image.hotel_group, &image.sha256, config);
        if recorded.get(&config.name) == Some(&digest) && out.exists(&key).await? {
            *summary_up_to_date += 1;
        } else {
            stale.push((config.clone(), digest, key));
        }
    }
    if stale.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let body = match context.blobs.read(&image.sha256).await {
        Ok(body) => body,
        Err(error) => return Ok(Err(("missing-body".to_owned(), error.to_string()))),
    };
    let rendered = tokio::task::spawn_blocking(move || {
        let source =
            source_image(&body, limits).map_err(|e| (e.reason().to_owned(), e.to_string()))?;
        let mut resizer = Resizer::new();
        Ok::<_, (String, String)>(
            stale
                .into_iter()
                .map(|(config, digest, key)| {
                    let bytes = render(&source, &config, &mut resizer);
                    (config.name, digest, key, bytes)
                })
                .collect::<Vec<_>>(),
        )
    })
    .await
    .expect("rendering does not panic");
    let rendered = match rendered {
        Ok(rendered) => rendered,
        Err(failure) => return Ok(Err(failure)),
    };
    let mut written = Vec::new();
    for (config, digest, key, bytes) in rendered {
        out.put(&key, bytes.into()).await?;
        written.push((config, digest, out.describe(&key)));
    }
    Ok(Ok(written))
}

/// Renders the kept images whose outputs are not current with `configs`, claimed in ranking
/// order; each image's outputs are written, then recorded in one transaction.
pub async fn run(
    context: &Context,
    out: &Storage,
    configs: &[OutputConfig],
    limits: DecodeLimits,
    jobs: usize,
) -> StageResult<GenerateSummary> {
    let store = &context.store;
    let generated = configs_digest(configs);
    store.requeue_renders_not(&generated).await?;
    let mut summary = GenerateSummary {
        up_to_date: store.rendered_with(&generated).await? * configs.len() as u64,
        ..GenerateSummary::default()
    };
    let bar = progress::bar(
        store.work_count(Stage::Generate).await? as usize,
        "generate",
        context.quiet,
    );
    let jobs = jobs.max(1);
    loop {
        let claimed = store
            .claim_renders(&context.owner, context.batch(jobs), context.lease)
            .await?;
        if claimed.is_empty() {
            if context.idle(Stage::Generate).await? {
                break;
            }
            continue;
        }
        let mut finished = stream::iter(claimed)
            .map(|claimed| {
                let generated = &generated;
                async move {
                    let mut up_to_date = 0;
                    let rendered = render_image(
                        context,
                        out,
                        configs,
                        limits,
                        &claimed.item,
                        &mut up_to_date,
                    )
                    .await?;
                    let (outputs, failure) = match &rendered {
                        Ok(outputs) => (outputs.as_slice(), None),
                        Err((reason, detail)) => {
                            tracing::warn!(
                                "hotel {} image {}: {reason}: {detail}",
                                claimed.item.hotel_group,
                                claimed.item.sha256
                            );
                            (&[][..], Some((reason.as_str(), detail.as_str())))
                        }
                    };
                    let accepted = context
                        .retrying(|| {
                            store.complete_render(
                                &context.owner,
                                &claimed,
                                generated,
                                outputs,
                                failure,
                            )
                        })
                        .await?;
                    Ok::<_, StageError>((rendered, up_to_date, accepted))
                }
            })
            .buffer_unordered(jobs);
        while let Some(result) = finished.next().await {
            let (rendered, up_to_date, accepted) = result?;
            context.lost(Stage::Generate, 1, u64::from(accepted));
            summary.up_to_date += up_to_date;
            match rendered {
                Ok(outputs) => {
                    summary.rendered += outputs.len() as u64;
                    context.count(Stage::Generate, "rendered", outputs.len() as u64);
                }
                Err(_) => {
                    summary.failed += 1;
                    context.count(Stage::Generate, "failed", 1);
                }
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_give_the_promised_sizes() {
        let rgb = RgbImage::from_fn(800, 400, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        });
        let source = Image::from_vec_u8(800, 400, rgb.into_raw(), PixelType::U8x3).unwrap();
        let mut resizer = Resizer::new();
        let mut size = |mode, format| {
            let bytes = render(
                &source,
                &config("t", 300, 300, mode, format, 80),
                &mut resizer,
            );
            let decoded = image::load_from_memory(&bytes).unwrap();
            (decoded.width(), decoded.height())
        };
        assert_eq!(size(Mode::Fit, Format::Jpeg), (300, 150));
        assert_eq!(size(Mode::Fill, Format::Png), (300, 300));
        assert_eq!(size(Mode::Crop, Format::Webp), (300, 300));
        assert_eq!(size(Mode::Crop, Format::WebpLossless), (300, 300));
        assert_eq!(default_configs().len(), 14);
    }

    #[test]
    fn webp_is_lossy_at_its_quality_or_lossless() {
        let rgb = RgbImage::from_fn(256, 192, |x, y| {
            image::Rgb([
                (x * 7 % 256) as u8,
                (y * 5 % 256) as u8,
                ((x ^ y) % 256) as u8,
            ])
        });
        let pixels = rgb.clone().into_raw();
        let source = Image::from_vec_u8(256, 192, pixels, PixelType::U8x3).unwrap();
        let mut resizer = Resizer::new();
        let mut encode = |format, quality| {
            render(
                &source,
                &config("t", 256, 192, Mode::Fit, format, quality),
                &mut resizer,
            )
        };
        let (low, high) = (encode(Format::Webp, 30), encode(Format::Webp, 90));
        let lossless = encode(Format::WebpLossless, 80);
        assert!(low.len() < high.len(), "{} vs {}", low.len(), high.len());
        // Lossy WebP (VP8) decodes through the image crate, as fingerprint reads it.
        assert!(&high[12..16] == b"VP8 " && &lossless[12..16] == b"VP8L");
        let decoded = image::load_from_memory(&high).unwrap().into_rgb8();
        assert_eq!(decoded.dimensions(), (256, 192));
        assert_ne!(decoded, rgb);
        assert_eq!(image::load_from_memory(&lossless).unwrap().into_rgb8(), rgb);
    }

    /// A JPEG with an EXIF APP1 segment holding only an orientation tag, inserted after SOI.
    fn with_orientation(jpeg: &[u8], orientation: u8) -> Vec<u8> {
        let mut tiff = b"MM\0*\0\0\0\x08\0\x01".to_vec();
        // Tag 0x0112 (Orientation), type SHORT, count 1, value, then no next IFD.
        tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0]);
        tiff.extend_from_slice(&[0, 0, 0, 0]);
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let length = u16::try_from(app1.len() + 2).unwrap().to_be_bytes();
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1, length[0], length[1]]);
        out.extend_from_slice(&app1);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn sources_are_rendered_upright_but_fingerprinted_as_stored() {
        // Left half red, right half blue, tagged "rotate 90° clockwise to display".
        let mut jpeg = Vec::new();
        image::RgbImage::from_fn(80, 40, |x, _| {
            if x < 40 {
                image::Rgb([255, 0, 0])
            } else {
                image::Rgb([0, 0, 255])
            }
        })
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
        let tagged = with_orientation(&jpeg, 6);
        let source = source_image(&tagged, DecodeLimits::default()).unwrap();
        assert_eq!((source.width(), source.height()), (40, 80));
        let upright = RgbImage::from_raw(40, 80, source.buffer().to_vec()).unwrap();
        // The stored left (red) half is now on top.
        assert!(upright.get_pixel(20, 10).0[0] > 200 && upright.get_pixel(20, 70).0[2] > 200);
        // Fingerprints hash the stored orientation, as ImageHash does.
        // (A 1/4-scale decode keeps at least 8 pixels on the shorter side.)
        let reduced = decode::decode_reduced(&tagged, DecodeLimits::default(), 8).unwrap();
        let reduced_size = (reduced.image.width(), reduced.image.height());
        assert_eq!(
            (reduced.width, reduced.height, reduced_size),
            (80, 40, (20, 10))
        );
        // Displayed, it is a portrait: that is the size prioritise scores.
        assert_eq!(reduced.upright_size(), (40, 80));
        match crate::fingerprint::fingerprint(&tagged, DecodeLimits::default()) {
            crate::store::FingerprintOutcome::Done { width, height, .. } => {
                assert_eq!((width, height), (40, 80))
            }
            failed => panic!("{failed:?}"),
        }
        // A portrait box fits the upright picture, not the stored one.
        let config = config("t", 100, 100, Mode::Fit, Format::Png, 80);
        let rendered = image::load_from_memory(&render(&source, &config, &mut Resizer::new()));
        assert_eq!(rendered.unwrap().height(), 80);
    }
}
