//! The test photos and the variants made from them, shared by this crate's
//! golden tests and `make bench` (tests/src/bin/bv-bench/).
//!
//! The photos are those of PyPI `face_recognition` 1.3.0's source package
//! (MIT; `tests/test_images/`), which `scripts/models.sh --fixtures` puts in
//! `var/fixtures/faces` (or `$BV_FACE_FIXTURES`). Three portraits of one
//! person, one of another, two crops of the first with the face cut off by
//! the frame's edge, and a PNG of the second portrait. The variants are
//! made here, in memory: smaller and recompressed, mirrored, darkened,
//! rotated, two faces side by side, a face cut off.

use std::path::PathBuf;

use bv_engine::Capture;
use image::codecs::jpeg::JpegEncoder;
use image::imageops::{self, FilterType};
use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage};

/// The portraits, with who is in them. `32bit.png` is left out: it is the
/// same photo as `obama2.jpg`, and would count one pair twice.
pub const PORTRAITS: [(&str, &str); 4] = [
    ("obama.jpg", "obama"),
    ("obama2.jpg", "obama"),
    ("obama3.jpg", "obama"),
    ("biden.jpg", "biden"),
];

/// Crops of `obama.jpg` whose face runs off the left or right edge.
pub const PARTIAL_FACES: [&str; 2] = ["obama_partial_face.jpg", "obama_partial_face2.jpg"];

/// Where the photos are: `$BV_FACE_FIXTURES`, else the checkout's
/// `var/fixtures/faces`.
pub fn dir() -> PathBuf {
    std::env::var_os("BV_FACE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repository().join("var/fixtures/faces"))
}

/// Where the models are: `$BV__BIOMETRICS__MODELS_DIR`, else the
/// checkout's `var/models` (what `scripts/models.sh` fills).
pub fn models_dir() -> PathBuf {
    std::env::var_os("BV__BIOMETRICS__MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repository().join("var/models"))
}

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The encoded bytes of a photo; panics (with the way to get it) when it
/// is not there: these are for tests and benchmarks.
pub fn bytes(name: &str) -> Vec<u8> {
    let path = dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{} ({e}): run scripts/models.sh --fixtures to fetch the test photos",
            path.display()
        )
    })
}

/// A photo at its full size, upright: the tests derive variants from its
/// pixels (half size, rotated, cut…), which the worker's decoding would
/// already have reduced to the analysis size. The engine reduces a capture
/// larger than that the same way (a triangle filter).
pub fn photo(name: &str) -> Capture {
    full_size(&bytes(name)).unwrap_or_else(|e| panic!("{name} does not decode: {e}"))
}

/// JPEG or PNG bytes decoded at full size, EXIF orientation applied.
fn full_size(bytes: &[u8]) -> image::ImageResult<Capture> {
    use image::ImageDecoder;
    let mut decoder = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()?
        .into_decoder()?;
    let orientation = decoder.orientation()?;
    let mut image = image::DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);
    Ok(capture(image.into_rgb8()))
}

/// An RGB image as a capture.
pub fn capture(rgb: RgbImage) -> Capture {
    Capture::new(rgb)
}

/// JPEG bytes at `quality` (1–100).
pub fn jpeg(image: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let encoded = JpegEncoder::new_with_quality(&mut out, quality).write_image(
        image,
        image.width(),
        image.height(),
        ExtendedColorType::Rgb8,
    );
    encoded.map(|()| out).unwrap_or_default()
}

/// A JPEG whose EXIF orientation is `orientation` (1–8; 6 means "turn 90°
/// clockwise to view"): `image` is stored as given, and a decoder that
/// honours the tag shows it turned.
pub fn jpeg_with_orientation(image: &RgbImage, orientation: u8) -> Vec<u8> {
    let exif = vec![
        b'I',
        b'I',
        42,
        0,
        8,
        0,
        0,
        0, // little-endian TIFF, first IFD at 8
        1,
        0, // one entry
        0x12,
        0x01,
        3,
        0,
        1,
        0,
        0,
        0,
        orientation,
        0,
        0,
        0, // Orientation (SHORT)
        0,
        0,
        0,
        0, // no next IFD
    ];
    let mut out = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut out, 90);
    let written = encoder.set_exif_metadata(exif).is_ok()
        && encoder
            .write_image(
                image,
                image.width(),
                image.height(),
                ExtendedColorType::Rgb8,
            )
            .is_ok();
    if written { out } else { Vec::new() }
}

/// A greyscale (one-channel) JPEG of the image.
pub fn grey_jpeg(image: &RgbImage, quality: u8) -> Vec<u8> {
    let grey = imageops::grayscale(image);
    let mut out = Vec::new();
    let encoded = JpegEncoder::new_with_quality(&mut out, quality).write_image(
        &grey,
        grey.width(),
        grey.height(),
        ExtendedColorType::L8,
    );
    encoded.map(|()| out).unwrap_or_default()
}

/// The image through a JPEG at `quality` and back.
pub fn recompressed(image: &RgbImage, quality: u8) -> RgbImage {
    full_size(&jpeg(image, quality))
        .map(|c| c.rgb)
        .unwrap_or_else(|_| image.clone())
}

/// Scaled by `factor`.
pub fn scaled(image: &RgbImage, factor: f32) -> RgbImage {
    let w = ((image.width() as f32 * factor).round() as u32).max(1);
    let h = ((image.height() as f32 * factor).round() as u32).max(1);
    imageops::resize(image, w, h, FilterType::Triangle)
}

/// Mirrored left to right.
pub fn mirrored(image: &RgbImage) -> RgbImage {
    imageops::flip_horizontal(image)
}

/// Every channel multiplied by `factor` (0–1).
pub fn darkened(image: &RgbImage, factor: f32) -> RgbImage {
    let mut out = image.clone();
    for p in out.pixels_mut() {
        for c in &mut p.0 {
            *c = (f32::from(*c) * factor).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Gaussian-blurred with `sigma` pixels.
pub fn blurred(image: &RgbImage, sigma: f32) -> RgbImage {
    imageops::blur(image, sigma)
}

/// Rotated by `degrees` clockwise about the centre, same size, bilinear,
/// mid-grey where the original does not reach.
pub fn rotated(image: &RgbImage, degrees: f32) -> RgbImage {
    let (w, h) = image.dimensions();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let (sin, cos) = degrees.to_radians().sin_cos();
    RgbImage::from_fn(w, h, |x, y| {
        // The source of (x, y): rotate back by the angle.
        let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
        let sx = cos * dx + sin * dy + cx - 0.5;
        let sy = -sin * dx + cos * dy + cy - 0.5;
        bilinear(image, sx, sy).unwrap_or(Rgb([128, 128, 128]))
    })
}

fn bilinear(image: &RgbImage, x: f32, y: f32) -> Option<Rgb<u8>> {
    let (w, h) = image.dimensions();
    if x < 0.0 || y < 0.0 || x > (w - 1) as f32 || y > (h - 1) as f32 {
        return None;
    }
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let mut out = [0u8; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let v = |px: u32, py: u32| f32::from(image.get_pixel(px, py)[c]);
        let top = v(x0, y0) * (1.0 - fx) + v(x1, y0) * fx;
        let bottom = v(x0, y1) * (1.0 - fx) + v(x1, y1) * fx;
        *o = (top * (1.0 - fy) + bottom * fy).round() as u8;
    }
    Some(Rgb(out))
}

/// Two images side by side on a grey canvas, the second scaled to the
/// first's height.
pub fn side_by_side(a: &RgbImage, b: &RgbImage) -> RgbImage {
    let b = scaled(b, a.height() as f32 / b.height() as f32);
    let mut out = RgbImage::from_pixel(a.width() + b.width(), a.height(), Rgb([128, 128, 128]));
    imageops::replace(&mut out, a, 0, 0);
    imageops::replace(&mut out, &b, i64::from(a.width()), 0);
    out
}

/// The image cropped so its right edge runs through `x` (e.g. the middle
/// of a face).
pub fn cut_at(image: &RgbImage, x: u32) -> RgbImage {
    imageops::crop_imm(image, 0, 0, x.clamp(1, image.width()), image.height()).to_image()
}

/// One variant of a photo: what was done to it, and the result.
pub struct Variant {
    pub photo: &'static str,
    pub person: &'static str,
    pub variant: &'static str,
    pub image: RgbImage,
}

/// The variants every accuracy measurement uses, for each portrait: the
/// photo as it is, half its size recompressed at JPEG quality 60,
/// mirrored, darkened to 60 %, rotated 8° either way.
pub fn variants() -> Vec<Variant> {
    let mut out = Vec::new();
    for (photo, person) in PORTRAITS {
        let original = self::photo(photo).rgb;
        let made: [(&'static str, RgbImage); 6] = [
            ("original", original.clone()),
            (
                "half size, JPEG q60",
                recompressed(&scaled(&original, 0.5), 60),
            ),
            ("mirrored", mirrored(&original)),
            ("darkened to 60 %", darkened(&original, 0.6)),
            ("rotated 8° clockwise", rotated(&original, 8.0)),
            ("rotated 8° anticlockwise", rotated(&original, -8.0)),
        ];
        for (variant, image) in made {
            out.push(Variant {
                photo,
                person,
                variant,
                image,
            });
        }
    }
    out
}
