//! Content sniffing and bounded decoding of JPEG, PNG and WebP bodies.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};

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

/// Decodes a body after sniffing it; dimensions are checked from the header before decoding.
pub fn decode(
    bytes: &[u8],
    limits: DecodeLimits,
) -> Result<(ImageFormat, DynamicImage), DecodeError> {
    let format = sniff(bytes).ok_or_else(|| DecodeError::NotAnImage(describe_prefix(bytes)))?;
    let corrupt = |source| DecodeError::Corrupt {
        format: format_name(format),
        source,
    };
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(DecodeError::TruncatedJpeg);
    }
    // Dimensions come from the header alone; the limits then also cap the decoder's allocations.
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(corrupt)?;
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
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut image_limits = Limits::default();
    image_limits.max_image_width = Some(limits.max_side);
    image_limits.max_image_height = Some(limits.max_side);
    // Decoded pixels (up to 8 bytes each for 16-bit RGBA) plus decoder scratch.
    image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(16));
    reader.limits(image_limits);
    let image = reader.decode().map_err(corrupt)?;
    Ok((format, image))
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
        let error = decode(b"<html><body>gone</body></html>", DecodeLimits::default()).unwrap_err();
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
        assert_eq!(decode(&png, tight).unwrap_err().reason(), "too-large");
        let (format, image) = decode(&png, DecodeLimits::default()).unwrap();
        assert_eq!((format, image.width()), (ImageFormat::Png, 64));
    }

    #[test]
    fn truncated_jpeg_is_corrupt() {
        let mut jpeg = Vec::new();
        image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8 * 4, y as u8 * 4, 7]))
            .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
            .unwrap();
        let error = decode(&jpeg[..jpeg.len() / 3], DecodeLimits::default()).unwrap_err();
        assert_eq!(error.reason(), "truncated-jpeg", "{error}");
        assert!(decode(&jpeg, DecodeLimits::default()).is_ok());
    }
}
