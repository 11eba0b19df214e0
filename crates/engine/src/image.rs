//! Decoding captures safely: a base64 (or raw) JPEG or PNG becomes upright
//! RGB pixels, or an error an API client can act on.
//!
//! Captures come from the internet, so every step is bounded before it
//! allocates. The decoded size is estimated from the base64's length before
//! the base64 is decoded. The format is sniffed from the magic bytes: only
//! JPEG and PNG, the two codecs compiled in, whatever a data-URL prefix or a
//! file name claims. The header is read before a single pixel is decoded
//! and refused when its dimensions, or the bytes its pixels decode to (bit
//! depth and channels counted: a 16-bit RGBA pixel is 8 bytes), exceed the
//! limits, because a 20000×20000 PNG of one colour compresses to a few
//! kilobytes (the decompression bomb). The stream must be whole: a JPEG that
//! stops before its end marker, or a PNG before its `IEND`, is refused
//! rather than decoded with grey filling what is missing.
//!
//! [`inspect_base64`] does all of that without decoding a pixel: the HTTP
//! ingress calls it to refuse bad images before queueing them, for the cost
//! of the base64 decoding. [`decode_base64`] then decodes the pixels (the
//! worker, one frame at a time) and reduces them at once to
//! [`ANALYSIS_SIDE`], the size the engine analyses, so a command's frames
//! together hold a few megabytes whatever size they were sent at.

use std::fmt;
use std::io::Cursor;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use image::{DynamicImage, GenericImageView, ImageDecoder, ImageFormat, ImageReader, RgbImage};

/// The longest side, in pixels, a decoded capture is kept at: what the face
/// engine analyses (a face filling a phone's frame is still far larger than
/// its detector's 80-pixel window at that size). A larger capture is
/// reduced to it as soon as it is decoded.
pub const ANALYSIS_SIDE: u32 = 800;

/// How large a capture may be, encoded and decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageLimits {
    /// Most bytes of the encoded image (after base64 decoding).
    pub max_bytes: usize,
    /// Most pixels on either side.
    pub max_side: u32,
    /// Most pixels in all (width × height), counted as 8-bit RGB: an image
    /// decodes to at most `max_pixels × 3` bytes, so one of deeper pixels
    /// (16-bit, or with alpha) may have fewer of them.
    pub max_pixels: u64,
}

impl ImageLimits {
    /// The most bytes an image's pixels may decode to.
    pub fn max_decoded_bytes(&self) -> u64 {
        self.max_pixels.saturating_mul(3)
    }
}

impl Default for ImageLimits {
    /// 5 MiB, 4096 pixels on a side, 16 megapixels: more than any phone's
    /// front camera sends, far less than a decoder can be tricked into.
    fn default() -> Self {
        ImageLimits {
            max_bytes: 5 * 1024 * 1024,
            max_side: 4096,
            max_pixels: 16_000_000,
        }
    }
}

/// A decoded capture: upright (its EXIF orientation applied), 8-bit RGB,
/// its pixels reduced to at most [`ANALYSIS_SIDE`] on the longer side.
#[derive(Clone)]
pub struct Capture {
    /// The size the capture was sent at, upright (what "a face of at least
    /// 80 pixels" is measured against).
    pub width: u32,
    pub height: u32,
    /// The pixels, at most [`ANALYSIS_SIDE`] on the longer side.
    pub rgb: RgbImage,
}

impl Capture {
    /// A capture of these pixels, at the size they have.
    pub fn new(rgb: RgbImage) -> Capture {
        Capture {
            width: rgb.width(),
            height: rgb.height(),
            rgb,
        }
    }
}

impl fmt::Debug for Capture {
    /// The size only: a capture is a face, and faces are never logged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capture")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

/// What an image's header says, once checked against the limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inspected {
    pub width: u32,
    pub height: u32,
    /// The bytes its pixels decode to, before any reduction.
    pub decoded_bytes: u64,
}

/// Why an image was refused. The messages are written for the API client
/// that sent it; `is_too_large` picks the HTTP status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("the image is not valid base64")]
    InvalidBase64,
    #[error("{}", too_large(.bytes, .max))]
    TooLarge { bytes: usize, max: usize },
    #[error("the image is not a JPEG or PNG")]
    Unsupported,
    #[error(
        "the image is {width}×{height} pixels; at most {max_side} on a side and {} megapixels",
        megapixels(.max_pixels)
    )]
    TooManyPixels {
        width: u32,
        height: u32,
        max_side: u32,
        max_pixels: u64,
    },
    #[error(
        "the image is {width}×{height} pixels of {bytes_per_pixel} bytes each ({} decoded); at most {} ({} megapixels of 8-bit RGB)",
        megabytes(*.bytes as usize), megabytes(*.max as usize), megapixels(&(.max / 3))
    )]
    TooManyBytes {
        width: u32,
        height: u32,
        bytes_per_pixel: u64,
        bytes: u64,
        max: u64,
    },
    #[error("the image is incomplete: it ends before its {0}")]
    Truncated(&'static str),
    #[error("the image does not decode: {0}")]
    Corrupt(String),
}

impl ImageError {
    /// Whether the image was refused for its size in bytes (HTTP 413); every
    /// other refusal is the image's content (HTTP 400 `INVALID_IMAGE`).
    pub fn is_too_large(&self) -> bool {
        matches!(self, ImageError::TooLarge { .. })
    }
}

/// Standard base64, padded or not (browsers' `toDataURL` pads; some mobile
/// encoders do not).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Checks a base64 JPEG or PNG (optionally a data URL) as far as it can
/// without decoding its pixels: size, format, header, decoded size and a
/// whole stream.
pub fn inspect_base64(b64: &str, limits: &ImageLimits) -> Result<Inspected, ImageError> {
    let bytes = base64_bytes(b64, limits)?;
    inspect_bytes(&bytes, limits)
}

/// [`inspect_base64`] for raw bytes.
pub fn inspect_bytes(bytes: &[u8], limits: &ImageLimits) -> Result<Inspected, ImageError> {
    let (_, inspected) = open(bytes, limits)?;
    Ok(inspected)
}

/// Decodes a base64 JPEG or PNG, optionally as a data URL
/// (`data:image/jpeg;base64,…`). Whitespace and line breaks in the base64
/// are ignored. The media type a data URL declares is not trusted: the bytes
/// decide.
pub fn decode_base64(b64: &str, limits: &ImageLimits) -> Result<Capture, ImageError> {
    let bytes = base64_bytes(b64, limits)?;
    decode_bytes(&bytes, limits)
}

/// The bytes of a base64 image, refused by their size before they are
/// decoded.
fn base64_bytes(b64: &str, limits: &ImageLimits) -> Result<Vec<u8>, ImageError> {
    let b64 = strip_data_url(b64)?;

    // Every symbol carries 6 bits and padding none, so the decoded size is
    // known before anything is decoded or copied.
    let (symbols, padding) = b64
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .fold((0usize, 0usize), |(symbols, padding), b| {
            (symbols + 1, padding + usize::from(b == b'='))
        });
    let bytes = (symbols - padding) / 4 * 3 + (symbols - padding) % 4 * 3 / 4;
    if bytes > limits.max_bytes {
        return Err(ImageError::TooLarge {
            bytes,
            max: limits.max_bytes,
        });
    }

    let compact: Vec<u8> = b64.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    BASE64
        .decode(compact)
        .map_err(|_| ImageError::InvalidBase64)
}

/// Decodes a JPEG or PNG, one image's pixels at a time, reduced at once to
/// [`ANALYSIS_SIDE`].
pub fn decode_bytes(bytes: &[u8], limits: &ImageLimits) -> Result<Capture, ImageError> {
    let (mut decoder, inspected) = open(bytes, limits)?;
    let orientation = decoder.orientation().map_err(corrupt)?;
    let mut pixel_limits = decoder_limits(limits, Some(limits.max_side));
    pixel_limits
        .reserve(decoder.total_bytes())
        .map_err(corrupt)?;
    decoder.set_limits(pixel_limits).map_err(corrupt)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(corrupt)?;

    // Reduced in its own pixel format (no full-size copy in another one),
    // then turned upright and made RGB at the small size. A triangle filter
    // makes the analysis size, as the face engine always had it; its
    // working buffer holds 16 bytes a pixel of the source's width, so a
    // capture over twice that size is first averaged down to twice it.
    let longer = image.width().max(image.height());
    if longer > ANALYSIS_SIDE {
        let fit = |side: u32, (w, h): (u32, u32)| {
            let scale = f64::from(side) / f64::from(w.max(h));
            let n = |n: u32| ((f64::from(n) * scale).round() as u32).clamp(1, side);
            (n(w), n(h))
        };
        if longer > 2 * ANALYSIS_SIDE {
            let (w, h) = fit(2 * ANALYSIS_SIDE, image.dimensions());
            image = image.thumbnail_exact(w, h);
        }
        let (w, h) = fit(ANALYSIS_SIDE, image.dimensions());
        image = image.resize_exact(w, h, image::imageops::FilterType::Triangle);
    }
    image.apply_orientation(orientation);
    use image::metadata::Orientation::{Rotate90, Rotate90FlipH, Rotate270, Rotate270FlipH};
    let (width, height) = match orientation {
        Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH => {
            (inspected.height, inspected.width)
        }
        _ => (inspected.width, inspected.height),
    };
    Ok(Capture {
        width,
        height,
        rgb: image.into_rgb8(),
    })
}

/// The image's decoder, its header checked against the limits and its
/// stream checked whole.
fn open<'a>(
    bytes: &'a [u8],
    limits: &ImageLimits,
) -> Result<(impl ImageDecoder + 'a, Inspected), ImageError> {
    if bytes.len() > limits.max_bytes {
        return Err(ImageError::TooLarge {
            bytes: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let format = sniff(bytes).ok_or(ImageError::Unsupported)?;

    // Reading the header allocates little, but a PNG's compressed metadata
    // chunks inflate: the allocation cap applies from the start. The size
    // limits do not yet, so that an oversized image is reported as such
    // rather than as the decoder's limit error.
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(decoder_limits(limits, None));
    let decoder = reader.into_decoder().map_err(corrupt)?;

    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits)?;
    let decoded_bytes = decoder.total_bytes();
    if decoded_bytes > limits.max_decoded_bytes() {
        return Err(ImageError::TooManyBytes {
            width,
            height,
            bytes_per_pixel: u64::from(decoder.color_type().bytes_per_pixel()),
            bytes: decoded_bytes,
            max: limits.max_decoded_bytes(),
        });
    }
    match format {
        ImageFormat::Jpeg => jpeg_is_whole(bytes)?,
        _ => png_is_whole(bytes)?,
    }
    Ok((
        decoder,
        Inspected {
            width,
            height,
            decoded_bytes,
        },
    ))
}

/// A JPEG's segments walked to its end marker (EOI) after at least one scan.
/// The decoder fills a cut-off scan with grey rather than failing; a
/// capture cut off in transit must not be judged as a face.
fn jpeg_is_whole(bytes: &[u8]) -> Result<(), ImageError> {
    const CUT: ImageError = ImageError::Truncated("JPEG end marker");
    let len = bytes.len();
    let mut i = 2; // after SOI
    let mut scanned = false;
    loop {
        // The next marker: bytes that are not one are skipped (as libjpeg
        // does, with a warning), fill bytes (0xFF repeated) too.
        i = next_ff(bytes, i).ok_or(CUT)?;
        while bytes.get(i) == Some(&0xFF) {
            i += 1;
        }
        let marker = *bytes.get(i).ok_or(CUT)?;
        i += 1;
        match marker {
            0xD9 if scanned => return Ok(()),
            0xD9 => return Err(ImageError::Corrupt("the JPEG has no image data".into())),
            // Standalone markers: TEM, RSTn.
            0x01 | 0xD0..=0xD7 => {}
            _ => {
                let length = bytes.get(i..i + 2).ok_or(CUT)?;
                let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
                if length < 2 || i + length > len {
                    return Err(CUT);
                }
                i += length;
                if marker == 0xDA {
                    scanned = true;
                    // Entropy-coded data runs to the next marker that is
                    // neither a stuffed 0xFF00 nor a restart marker.
                    loop {
                        i = next_ff(bytes, i).ok_or(CUT)?;
                        match bytes.get(i + 1) {
                            None => return Err(CUT),
                            Some(0x00 | 0xD0..=0xD7) => i += 2,
                            Some(0xFF) => i += 1,
                            Some(_) => break,
                        }
                    }
                }
            }
        }
    }
}

/// The index of the first 0xFF byte at or after `from`.
fn next_ff(bytes: &[u8], from: usize) -> Option<usize> {
    Some(from + bytes.get(from..)?.iter().position(|&b| b == 0xFF)?)
}

/// A PNG's chunks walked to `IEND`.
fn png_is_whole(bytes: &[u8]) -> Result<(), ImageError> {
    const CUT: ImageError = ImageError::Truncated("PNG end chunk (IEND)");
    let mut i = 8; // after the signature
    loop {
        let header = bytes.get(i..i + 8).ok_or(CUT)?;
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let end = i
            .checked_add(12)
            .and_then(|n| n.checked_add(length))
            .ok_or(CUT)?;
        if end > bytes.len() {
            return Err(CUT);
        }
        if &header[4..8] == b"IEND" {
            return Ok(());
        }
        i = end;
    }
}

/// The payload of a data URL, or the whole string when it is not one.
fn strip_data_url(s: &str) -> Result<&str, ImageError> {
    let s = s.trim_start();
    let is_data_url = s
        .get(..5)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("data:"));
    if !is_data_url {
        return Ok(s);
    }
    // `data:image/png;base64,…`; a data URL without `;base64` is
    // percent-encoded, which no camera sends.
    s.split_once(',')
        .filter(|(header, _)| header.to_ascii_lowercase().ends_with(";base64"))
        .map(|(_, payload)| payload)
        .ok_or(ImageError::InvalidBase64)
}

/// JPEG or PNG by their magic bytes; anything else is refused.
fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF];
    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    if bytes.starts_with(JPEG) {
        Some(ImageFormat::Jpeg)
    } else if bytes.starts_with(PNG) {
        Some(ImageFormat::Png)
    } else {
        None
    }
}

/// The decompression-bomb guard: the header's dimensions against the limits.
fn check_dimensions(width: u32, height: u32, limits: &ImageLimits) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::Corrupt("the image has no pixels".to_owned()));
    }
    let too_wide = width > limits.max_side || height > limits.max_side;
    if too_wide || u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(ImageError::TooManyPixels {
            width,
            height,
            max_side: limits.max_side,
            max_pixels: limits.max_pixels,
        });
    }
    Ok(())
}

/// Bytes a decoder may hold besides its output (row buffers, Huffman
/// tables, inflated metadata).
const DECODER_WORKSPACE: u64 = 16 * 1024 * 1024;

/// The decoder's limits: room for the largest output the pixel limit
/// allows in the widest format these codecs produce (16-bit RGBA, 8 bytes a
/// pixel) plus its workspace, and, once the header was checked, the sides.
fn decoder_limits(limits: &ImageLimits, max_side: Option<u32>) -> image::Limits {
    let mut decoder = image::Limits::default();
    decoder.max_image_width = max_side;
    decoder.max_image_height = max_side;
    decoder.max_alloc = Some(
        limits
            .max_pixels
            .saturating_mul(8)
            .saturating_add(DECODER_WORKSPACE),
    );
    decoder
}

fn corrupt(err: image::ImageError) -> ImageError {
    ImageError::Corrupt(err.to_string())
}

/// "the image is 7 MB; at most 5 MB", in bytes when megabytes would not
/// show the difference.
fn too_large(bytes: &usize, max: &usize) -> String {
    let (size, limit) = (megabytes(*bytes), megabytes(*max));
    if size == limit {
        format!("the image is {bytes} bytes; at most {max} bytes")
    } else {
        format!("the image is {size}; at most {limit}")
    }
}

/// A size in MiB with one decimal at most ("5 MB", "7.3 MB").
fn megabytes(bytes: usize) -> String {
    format!("{} MB", one_decimal(bytes as f64 / (1024.0 * 1024.0)))
}

/// A pixel count in millions with one decimal at most ("16", "12.5").
fn megapixels(pixels: &u64) -> String {
    one_decimal(*pixels as f64 / 1_000_000.0)
}

fn one_decimal(x: f64) -> String {
    let text = format!("{x:.1}");
    text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::jpeg::JpegEncoder;
    use image::codecs::png::PngEncoder;
    use image::{ExtendedColorType, ImageEncoder, Rgb};

    /// A `width`×`height` gradient, so a decoded pixel can be told apart
    /// from a blank one.
    fn pixels(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x * 8) as u8, (y * 8) as u8, 128])
        })
    }

    fn jpeg(image: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 95)
            .write_image(
                image,
                image.width(),
                image.height(),
                ExtendedColorType::Rgb8,
            )
            .unwrap();
        out
    }

    fn png(image: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        PngEncoder::new(&mut out)
            .write_image(
                image,
                image.width(),
                image.height(),
                ExtendedColorType::Rgb8,
            )
            .unwrap();
        out
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }

    /// A well-formed PNG header declaring `width`×`height` RGB pixels,
    /// followed by a few bytes of image data: under 100 bytes that would
    /// ask a naive decoder for width × height × 3 bytes.
    fn bomb_png(width: u32, height: u32) -> Vec<u8> {
        let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no interlace
        chunk(&mut out, b"IHDR", &ihdr);
        // A zlib stream of one stored empty block: valid, but far too short.
        chunk(
            &mut out,
            b"IDAT",
            &[
                0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x01,
            ],
        );
        chunk(&mut out, b"IEND", &[]);
        out
    }

    /// A JPEG whose EXIF says "rotate 90° clockwise to view" (orientation 6).
    fn rotated_jpeg(image: &RgbImage) -> Vec<u8> {
        let exif = [
            b'I', b'I', 42, 0, 8, 0, 0, 0, // little-endian TIFF, first IFD at 8
            1, 0, // one entry
            0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, // Orientation (SHORT) = 6
            0, 0, 0, 0, // no next IFD
        ];
        let mut out = Vec::new();
        let mut encoder = JpegEncoder::new_with_quality(&mut out, 95);
        encoder.set_exif_metadata(exif.to_vec()).unwrap();
        encoder
            .write_image(
                image,
                image.width(),
                image.height(),
                ExtendedColorType::Rgb8,
            )
            .unwrap();
        out
    }

    #[test]
    fn a_small_jpeg_and_png_decode_to_their_pixels() {
        let original = pixels(32, 24);
        let limits = ImageLimits::default();

        let from_png = decode_bytes(&png(&original), &limits).unwrap();
        assert_eq!((from_png.width, from_png.height), (32, 24));
        assert_eq!(from_png.rgb, original, "PNG is lossless");

        let from_jpeg = decode_bytes(&jpeg(&original), &limits).unwrap();
        assert_eq!((from_jpeg.width, from_jpeg.height), (32, 24));
        let (got, want) = (from_jpeg.rgb.get_pixel(31, 23), original.get_pixel(31, 23));
        for channel in 0..3 {
            assert!(
                got[channel].abs_diff(want[channel]) < 12,
                "{got:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn base64_is_accepted_padded_or_not_in_a_data_url_and_across_lines() {
        let bytes = png(&pixels(5, 3)); // 5×3 makes a length that needs padding
        let padded = b64(&bytes);
        assert!(padded.ends_with('='), "the fixture must exercise padding");
        let unpadded = padded.trim_end_matches('=').to_owned();
        let wrapped: String = padded
            .as_bytes()
            .chunks(76)
            .map(|line| format!("{}\r\n", std::str::from_utf8(line).unwrap()))
            .collect();
        let limits = ImageLimits::default();

        for text in [
            padded.clone(),
            unpadded,
            wrapped,
            format!("data:image/png;base64,{padded}"),
            format!("DATA:image/jpeg;BASE64,{padded}"), // the bytes decide, not the label
        ] {
            let capture = decode_base64(&text, &limits).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!((capture.width, capture.height), (5, 3));
        }
    }

    #[test]
    fn text_that_is_not_base64_is_refused() {
        let limits = ImageLimits::default();
        for text in ["not base64!", "data:image/png,%89PNG", "iVBORw0KGgo$"] {
            assert_eq!(
                decode_base64(text, &limits).unwrap_err(),
                ImageError::InvalidBase64,
                "{text}"
            );
        }
    }

    #[test]
    fn an_oversized_base64_is_refused_before_it_is_decoded() {
        let limits = ImageLimits::default();
        // 8 MiB of base64 is 6 MiB of bytes; the trailing `!` would make
        // decoding fail, so only the size estimate can produce TooLarge.
        let text = format!("{}!", "A".repeat(8 * 1024 * 1024));
        let err = decode_base64(&text, &limits).unwrap_err();
        assert_eq!(
            err,
            ImageError::TooLarge {
                bytes: 6 * 1024 * 1024,
                max: 5 * 1024 * 1024
            }
        );
        assert!(err.is_too_large());
        assert_eq!(err.to_string(), "the image is 6 MB; at most 5 MB");
    }

    #[test]
    fn the_size_estimate_is_exact_at_the_limit() {
        let bytes = png(&pixels(5, 3));
        let exact = ImageLimits {
            max_bytes: bytes.len(),
            ..ImageLimits::default()
        };
        assert!(decode_base64(&b64(&bytes), &exact).is_ok());
        let unpadded = b64(&bytes).trim_end_matches('=').to_owned();
        assert!(decode_base64(&unpadded, &exact).is_ok());

        let one_less = ImageLimits {
            max_bytes: bytes.len() - 1,
            ..exact
        };
        let err = decode_base64(&b64(&bytes), &one_less).unwrap_err();
        assert_eq!(
            err,
            ImageError::TooLarge {
                bytes: bytes.len(),
                max: bytes.len() - 1
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "the image is {} bytes; at most {} bytes",
                bytes.len(),
                bytes.len() - 1
            ),
            "sizes that look alike in MB are shown in bytes"
        );
        assert_eq!(decode_bytes(&bytes, &one_less).unwrap_err(), err);
    }

    #[test]
    fn only_jpeg_and_png_are_accepted() {
        let limits = ImageLimits::default();
        let gif = "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"; // 1×1 GIF
        let err = decode_base64(gif, &limits).unwrap_err();
        assert_eq!(err, ImageError::Unsupported);
        assert!(!err.is_too_large());
        assert_eq!(err.to_string(), "the image is not a JPEG or PNG");

        for bytes in [
            &b""[..],
            b"hello, world",
            b"BM\x36\x00\x00\x00",
            b"<svg xmlns=\"\"/>",
        ] {
            assert_eq!(
                decode_bytes(bytes, &limits).unwrap_err(),
                ImageError::Unsupported,
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn truncated_or_garbled_images_are_refused() {
        let limits = ImageLimits::default();
        let jpeg = jpeg(&pixels(64, 64));
        let png = png(&pixels(64, 64));
        let cases = [
            ("a JPEG cut after its header", jpeg[..200].to_vec()),
            (
                "a JPEG of magic bytes and garbage",
                [&[0xFF, 0xD8, 0xFF][..], &[0x42; 64]].concat(),
            ),
            // The decoder would fill the missing rows with grey.
            ("a JPEG cut in its scan", jpeg[..jpeg.len() - 40].to_vec()),
            (
                "a JPEG without its end marker",
                jpeg[..jpeg.len() - 2].to_vec(),
            ),
            ("a PNG cut in half", png[..png.len() / 2].to_vec()),
            ("a PNG without IEND", png[..png.len() - 12].to_vec()),
            ("a PNG signature alone", png[..8].to_vec()),
        ];
        for (what, bytes) in cases {
            for err in [
                decode_bytes(&bytes, &limits).unwrap_err(),
                inspect_bytes(&bytes, &limits).unwrap_err(),
            ] {
                assert!(
                    matches!(err, ImageError::Corrupt(_) | ImageError::Truncated(_)),
                    "{what}: {err:?}"
                );
                assert!(!err.is_too_large());
            }
        }
        let cut = inspect_bytes(&jpeg[..jpeg.len() - 40], &limits).unwrap_err();
        assert_eq!(
            cut.to_string(),
            "the image is incomplete: it ends before its JPEG end marker"
        );
    }

    #[test]
    fn whole_images_with_extras_are_accepted() {
        let limits = ImageLimits::default();
        let original = jpeg(&pixels(64, 64));
        // Bytes after the end marker (some phones append their own data).
        let trailer = [&original[..], b"SEFH trailing maker data"].concat();
        assert!(decode_bytes(&trailer, &limits).is_ok());
        // An APP segment holding a whole JPEG of its own (an EXIF
        // thumbnail), whose end marker is not the image's.
        let thumb = jpeg(&pixels(8, 8));
        let mut app1 = vec![0xFF, 0xE1];
        app1.extend_from_slice(&((thumb.len() + 2) as u16).to_be_bytes());
        app1.extend_from_slice(&thumb);
        let with_thumb = [&original[..2], &app1[..], &original[2..]].concat();
        assert!(decode_bytes(&with_thumb, &limits).is_ok());
        let cut = &with_thumb[..with_thumb.len() - 40];
        assert!(matches!(
            inspect_bytes(cut, &limits),
            Err(ImageError::Truncated(_))
        ));
    }

    #[test]
    fn deep_pixels_count_their_bytes() {
        // 100×100 of 16-bit RGBA is 80,000 bytes: over a limit of 20,000
        // pixels of RGB (60,000 bytes), though 10,000 pixels are fewer.
        let limits = ImageLimits {
            max_pixels: 20_000,
            ..ImageLimits::default()
        };
        let mut deep = Vec::new();
        PngEncoder::new(&mut deep)
            .write_image(
                &vec![0u8; 100 * 100 * 8],
                100,
                100,
                ExtendedColorType::Rgba16,
            )
            .unwrap();
        let err = inspect_bytes(&deep, &limits).unwrap_err();
        assert!(
            matches!(
                err,
                ImageError::TooManyBytes {
                    bytes_per_pixel: 8,
                    bytes: 80_000,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("8 bytes each"), "{err}");
        assert!(inspect_bytes(&png(&pixels(100, 100)), &limits).is_ok());
    }

    #[test]
    fn a_large_capture_is_kept_at_the_analysis_size() {
        let big = pixels(2000, 1000);
        let capture = decode_bytes(&png(&big), &ImageLimits::default()).unwrap();
        assert_eq!((capture.width, capture.height), (2000, 1000));
        assert_eq!(capture.rgb.dimensions(), (ANALYSIS_SIDE, ANALYSIS_SIDE / 2));
        let small = decode_bytes(&png(&pixels(640, 480)), &ImageLimits::default()).unwrap();
        assert_eq!(small.rgb.dimensions(), (640, 480));
        let inspected = inspect_bytes(&png(&big), &ImageLimits::default()).unwrap();
        assert_eq!(
            inspected,
            Inspected {
                width: 2000,
                height: 1000,
                decoded_bytes: 6_000_000
            }
        );
    }

    #[test]
    fn a_decompression_bomb_is_refused_from_its_header() {
        let bomb = bomb_png(20_000, 20_000);
        assert!(bomb.len() < 100, "the bomb is tiny: {} bytes", bomb.len());

        let err = decode_bytes(&bomb, &ImageLimits::default()).unwrap_err();
        assert_eq!(
            err,
            ImageError::TooManyPixels {
                width: 20_000,
                height: 20_000,
                max_side: 4096,
                max_pixels: 16_000_000
            }
        );
        assert!(!err.is_too_large());
        assert_eq!(
            err.to_string(),
            "the image is 20000×20000 pixels; at most 4096 on a side and 16 megapixels"
        );
        // The same header within the limits gets as far as decoding, and
        // fails there: the refusal above came before any pixel was read.
        let small = decode_bytes(&bomb_png(16, 16), &ImageLimits::default()).unwrap_err();
        assert!(matches!(small, ImageError::Corrupt(_)), "{small:?}");
    }

    #[test]
    fn the_pixel_count_is_limited_as_well_as_each_side() {
        let limits = ImageLimits {
            max_side: 4096,
            max_pixels: 16_000_000,
            ..ImageLimits::default()
        };
        let err = decode_bytes(&bomb_png(4096, 4000), &limits).unwrap_err();
        assert!(
            matches!(
                err,
                ImageError::TooManyPixels {
                    width: 4096,
                    height: 4000,
                    ..
                }
            ),
            "{err:?}"
        );

        let small = ImageLimits {
            max_side: 40,
            max_pixels: 1_000,
            ..ImageLimits::default()
        };
        let image = pixels(40, 30); // 1200 pixels, each side within 40
        let err = decode_bytes(&jpeg(&image), &small).unwrap_err();
        assert!(
            matches!(
                err,
                ImageError::TooManyPixels {
                    width: 40,
                    height: 30,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(decode_bytes(&jpeg(&pixels(40, 25)), &small).is_ok());
        let too_tall = decode_bytes(&png(&pixels(10, 41)), &small).unwrap_err();
        assert!(
            matches!(too_tall, ImageError::TooManyPixels { height: 41, .. }),
            "{too_tall:?}"
        );
    }

    #[test]
    fn the_exif_orientation_is_applied() {
        // Red on the left, blue on the right, stored sideways: upright it
        // is one column, red on top.
        let stored = RgbImage::from_fn(16, 8, |x, _| {
            if x < 8 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let capture = decode_bytes(&rotated_jpeg(&stored), &ImageLimits::default()).unwrap();
        assert_eq!((capture.width, capture.height), (8, 16));
        assert!(
            capture.rgb.get_pixel(4, 2)[0] > 200,
            "top is red: {:?}",
            capture.rgb.get_pixel(4, 2)
        );
        assert!(
            capture.rgb.get_pixel(4, 13)[2] > 200,
            "bottom is blue: {:?}",
            capture.rgb.get_pixel(4, 13)
        );
    }

    #[test]
    fn a_capture_never_prints_its_pixels() {
        let capture = decode_bytes(&png(&pixels(2, 2)), &ImageLimits::default()).unwrap();
        assert_eq!(
            format!("{capture:?}"),
            "Capture { width: 2, height: 2, .. }"
        );
    }
}
