//! Content sniffing and bounded decoding of JPEG, PNG and WebP bodies.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

/// Images larger than this on either side are refused before their pixels are allocated
/// (a decompression bomb declares huge dimensions in a few bytes).
pub const DEFAULT_MAX_SIDE: u32 = 16_384;
/// At most this many pixels (about 100 MP) per image.
pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not an image: the body starts with {0} (expected JPEG, PNG or WebP)")]
    NotAnImage(String),
    #[error("decompression bomb refused: {width}×{height} pixels exceeds the limit of {max_side} per side or {max_pixels} in all")]
    TooLarge {
        width: u32,
        height: u32,
        max_side: u32,
        max_pixels: u64,
    },
    #[error("truncated JPEG: no end-of-image marker after the last scan")]
    TruncatedJpeg,
    #[error("corrupt or truncated {format}: {source}")]
    Corrupt {
        format: &'static str,
        source: image::ImageError,
    },
}

impl DecodeError {
    /// Short machine-readable reason, used for counts in `status`.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::NotAnImage(_) => "not-an-image",
            DecodeError::TooLarge { .. } => "too-large",
            DecodeError::TruncatedJpeg => "truncated-jpeg",
            DecodeError::Corrupt { .. } => "corrupt-image",
        }
    }
}

/// Recognises the formats imgpipe accepts from their magic bytes, never from a URL or a
/// Content-Type header (partners mislabel both).
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(ImageFormat::WebP)
    } else {
        None
    }
}

pub fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Png => "png",
        ImageFormat::WebP => "webp",
        _ => "other",
    }
}

fn describe_prefix(bytes: &[u8]) -> String {
    let prefix = &bytes[..bytes.len().min(8)];
    if prefix.is_empty() {
        return "nothing (empty body)".to_owned();
    }
    let printable = String::from_utf8_lossy(prefix);
    if printable.chars().all(|c| !c.is_control()) {
        format!("{printable:?}")
    } else {
        prefix
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// zune-jpeg fills a cut-off scan with grey instead of failing, so truncation is checked here:
/// entropy-coded data stuffs every 0xFF, so an end-of-image marker (FF D9) after the last
/// start-of-scan marker (FF DA) means the last scan was complete.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_marker = |marker: u8| bytes.windows(2).rposition(|pair| pair == [0xFF, marker]);
    match (last_marker(0xDA), last_marker(0xD9)) {
        (Some(scan), Some(end)) => end > scan,
        _ => false,
    }
}

/// Limits applied to every decode.
#[derive(Clone, Copy, Debug)]
pub struct DecodeLimits {
    pub max_side: u32,
    pub max_pixels: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_side: DEFAULT_MAX_SIDE,
            max_pixels: DEFAULT_MAX_PIXELS,
        }
    }
}

/// A decoded image, possibly reduced by the JPEG decoder's scaled IDCT; `width` and `height`
/// are the stored image's own dimensions.
#[derive(Debug)]
pub struct Decoded {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    /// The EXIF orientation turns the picture a quarter to display it (a camera's portrait
    /// stored sideways): shown upright, its width and height swap.
    pub quarter_turned: bool,
    pub image: DynamicImage,
}

impl Decoded {
    /// Width and height as the picture is displayed.
    pub fn upright_size(&self) -> (u32, u32) {
        if self.quarter_turned {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

/// What `inspect` learns from the headers.
struct Header {
    format: ImageFormat,
    width: u32,
    height: u32,
    quarter_turned: bool,
}

/// Sniffs a body and checks it before any pixel is decoded: a JPEG must be complete, and the
/// dimensions the header declares must be within the limits.
fn inspect(bytes: &[u8], limits: DecodeLimits) -> Result<Header, DecodeError> {
    use image::metadata::Orientation::{Rotate270, Rotate270FlipH, Rotate90, Rotate90FlipH};
    let format = sniff(bytes).ok_or_else(|| DecodeError::NotAnImage(describe_prefix(bytes)))?;
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(DecodeError::TruncatedJpeg);
    }
    let mut decoder = ImageReader::with_format(Cursor::new(bytes), format)
        .into_decoder()
        .map_err(|source| corrupt(format, source))?;
    let (width, height) = decoder.dimensions();
    let quarter_turned = matches!(
        decoder.orientation(),
        Ok(Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH)
    );
    if width > limits.max_side
        || height > limits.max_side
        || u64::from(width) * u64::from(height) > limits.max_pixels
    {
        return Err(DecodeError::TooLarge {
            width,
            height,
            max_side: limits.max_side,
            max_pixels: limits.max_pixels,
        });
    }
    Ok(Header {
        format,
        width,
        height,
        quarter_turned,
    })
}

fn corrupt(format: ImageFormat, source: image::ImageError) -> DecodeError {
    DecodeError::Corrupt {
        format: format_name(format),
        source,
    }
}

/// A reader for an inspected body whose limits also cap the decoder's allocations.
fn limited_reader(
    bytes: &[u8],
    format: ImageFormat,
    limits: DecodeLimits,
) -> ImageReader<Cursor<&[u8]>> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut image_limits = Limits::default();
    image_limits.max_image_width = Some(limits.max_side);
    image_limits.max_image_height = Some(limits.max_side);
    // Decoded pixels (up to 8 bytes each for 16-bit RGBA) plus decoder scratch.
    image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(16));
    reader.limits(image_limits);
    reader
}

/// Full-size decode of an inspected body, in its stored orientation.
fn decode_full(
    bytes: &[u8],
    format: ImageFormat,
    limits: DecodeLimits,
) -> Result<DynamicImage, DecodeError> {
    limited_reader(bytes, format, limits)
        .decode()
        .map_err(|source| corrupt(format, source))
}

/// Decodes for display: full size and turned upright as the EXIF orientation says (cameras
/// store portraits sideways and tag them). Unreadable EXIF counts as upright.
pub fn decode_upright(bytes: &[u8], limits: DecodeLimits) -> Result<DynamicImage, DecodeError> {
    let format = inspect(bytes, limits)?.format;
    let mut decoder = limited_reader(bytes, format, limits)
        .into_decoder()
        .map_err(|source| corrupt(format, source))?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image =
        DynamicImage::from_decoder(decoder).map_err(|source| corrupt(format, source))?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Decodes for measuring rather than for display. A JPEG is decoded by libjpeg-turbo (through
/// the mozjpeg crate), the library Pillow decodes with, so its pixels are Pillow's to the bit and
/// a dHash agrees with ImageHash's even where two neighbouring cells nearly tie (zune-jpeg and
/// jpeg-decoder differ from it by a level or more in 1-20 % of pixels: IDCT rounding, chroma
/// upsampling, colour conversion). A JPEG whose shorter side is at least twice `min_side` is
/// decoded at 1/2, 1/4 or 1/8 scale by the scaled IDCT (the smallest scale that keeps the
/// shorter side at `min_side` or more), which skips most of the decoding work. PNG and WebP,
/// and JPEGs in colour models other than grey and YCbCr/RGB (CMYK), are decoded at full size
/// by the `image` crate.
pub fn decode_reduced(
    bytes: &[u8],
    limits: DecodeLimits,
    min_side: u32,
) -> Result<Decoded, DecodeError> {
    let Header {
        format,
        width,
        height,
        quarter_turned,
    } = inspect(bytes, limits)?;
    let scaled = |eighths: u32| {
        (
            (width * eighths).div_ceil(8),
            (height * eighths).div_ceil(8),
        )
    };
    let eighths = [1, 2, 4]
        .into_iter()
        .find(|&e| scaled(e).0.min(scaled(e).1) >= min_side)
        .unwrap_or(8);
    let image = match format {
        ImageFormat::Jpeg => decode_jpeg_as_pillow(bytes, eighths as u8)?
            .map_or_else(|| decode_full(bytes, format, limits), Ok)?,
        _ => decode_full(bytes, format, limits)?,
    };
    Ok(Decoded {
        format,
        width,
        height,
        quarter_turned,
        image,
    })
}

/// Decodes an inspected JPEG with libjpeg-turbo's defaults (as Pillow opens it: integer IDCT,
/// fancy upsampling) at `eighths`/8 scale; `None` for colour models other than grey and
/// YCbCr/RGB, which Pillow opens as CMYK. libjpeg reports fatal errors by unwinding, caught
/// here; its warnings (for example corrupt entropy data it recovers from) are ignored, as
/// Pillow ignores them.
fn decode_jpeg_as_pillow(bytes: &[u8], eighths: u8) -> Result<Option<DynamicImage>, DecodeError> {
    use mozjpeg::ColorSpace::{JCS_YCbCr, JCS_GRAYSCALE, JCS_RGB};
    let decode = || -> std::io::Result<Option<DynamicImage>> {
        let mut decompress = mozjpeg::Decompress::new_mem(bytes)?;
        decompress.scale(eighths);
        let grey = match decompress.color_space() {
            JCS_GRAYSCALE => true,
            JCS_YCbCr | JCS_RGB => false,
            _ => return Ok(None),
        };
        let mut started = if grey {
            decompress.grayscale()?
        } else {
            decompress.rgb()?
        };
        let (width, height) = (started.width() as u32, started.height() as u32);
        let pixels: Vec<u8> = started.read_scanlines()?;
        started.finish()?;
        Ok(if grey {
            image::GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8)
        } else {
            image::RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8)
        })
    };
    let message = match std::panic::catch_unwind(decode) {
        // A short pixel buffer (which libjpeg should never return) takes the full-size path.
        Ok(Ok(image)) => return Ok(image),
        Ok(Err(error)) => error.to_string(),
        Err(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "libjpeg failed".to_owned()),
    };
    Err(corrupt(
        ImageFormat::Jpeg,
        image::ImageError::Decoding(image::error::DecodingError::new(
            ImageFormat::Jpeg.into(),
            message,
        )),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_magic_bytes() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Some(ImageFormat::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some(ImageFormat::Png));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(ImageFormat::WebP));
        assert_eq!(sniff(b"<html>"), None);
        let error =
            decode_upright(b"<html><body>gone</body></html>", DecodeLimits::default()).unwrap_err();
        assert_eq!(error.reason(), "not-an-image");
        assert!(error.to_string().contains("<html>"), "{error}");
    }

    #[test]
    fn refuses_declared_dimensions_over_the_limit() {
        let mut png = Vec::new();
        image::GrayImage::new(64, 40)
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let tight = DecodeLimits {
            max_side: 50,
            max_pixels: 10_000,
        };
        assert_eq!(
            decode_upright(&png, tight).unwrap_err().reason(),
            "too-large"
        );
        assert_eq!(
            decode_reduced(&png, tight, 16).unwrap_err().reason(),
            "too-large"
        );
        let decoded = decode_reduced(&png, DecodeLimits::default(), 16).unwrap();
        assert_eq!((decoded.format, decoded.width), (ImageFormat::Png, 64));
    }

    #[test]
    fn truncated_jpeg_is_corrupt() {
        let mut jpeg = Vec::new();
        image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8 * 4, y as u8 * 4, 7]))
            .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
            .unwrap();
        let error = decode_upright(&jpeg[..jpeg.len() / 3], DecodeLimits::default()).unwrap_err();
        assert_eq!(error.reason(), "truncated-jpeg", "{error}");
        assert!(decode_upright(&jpeg, DecodeLimits::default()).is_ok());
        let reduced = decode_reduced(&jpeg[..jpeg.len() / 3], DecodeLimits::default(), 8);
        assert_eq!(reduced.unwrap_err().reason(), "truncated-jpeg");
    }

    #[test]
    fn libjpeg_errors_are_corrupt_images_not_panics() {
        // A scan before any frame header: libjpeg's fatal error unwinds and is caught.
        let error = decode_jpeg_as_pillow(b"\xFF\xD8\xFF\xDA\x00\x02\xFF\xD9", 8).unwrap_err();
        assert_eq!(error.reason(), "corrupt-image");
        assert!(error.to_string().contains("libjpeg"), "{error}");
        let mut jpeg = Vec::new();
        image::GrayImage::from_fn(48, 32, |x, y| image::Luma([(x * 5 + y) as u8]))
            .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
            .unwrap();
        let grey = decode_jpeg_as_pillow(&jpeg, 4).unwrap().unwrap();
        assert_eq!(
            (grey.width(), grey.height(), grey.color()),
            (24, 16, image::ColorType::L8)
        );
    }
}
