//! Whether a found face can be judged: sharp enough and well enough exposed.
//!
//! Both are measured on the face's box only (not the background), in grey,
//! scaled down to [`FACE_SIDE`] pixels square so the numbers do not depend
//! on how large the face is in the photo, and never up: a face smaller than
//! that is measured at its own size, since scaling it up would blur a face
//! that is sharp at its size (`obama3.jpg` with a 128-pixel face, scaled
//! by a few pixels to 128, measured under the threshold; at its own size,
//! 0.067):
//!
//! - sharpness: the variance of the Laplacian (the 4-neighbour kernel), the
//!   usual focus measure (a blurred face has few strong second
//!   derivatives), divided by the variance of the grey levels, so that a
//!   darker or flatter-lit face is not taken for a blurred one;
//! - exposure: the mean grey level, and the share of pixels crushed to
//!   black or blown to white.
//!
//! The thresholds are measured on the test photos and their variants
//! (README, "Face engine"): every portrait, halved and recompressed at JPEG
//! quality 60, mirrored, rotated or darkened to 30 %, passes; `obama.jpg`
//! (a 254-pixel face) blurred with σ = 3 px, or darkened to 20 %, fails;
//! each portrait with its face 110 to 254 pixels wide passes, and blurred by
//! 2 % of the face's width fails (sharp: 0.07–0.36; σ = 1 % of the width
//! passes at 254 pixels and fails at some smaller sizes).

use image::imageops::{self, FilterType};
use image::{GrayImage, RgbImage};

use crate::Rect;

/// The side, in pixels, faces are scaled down to before they are measured.
pub const FACE_SIDE: u32 = 128;
/// The least side a face is measured at (smaller faces are refused as too
/// small before their quality is measured).
const MIN_SIDE: u32 = 32;

/// Below this sharpness (the Laplacian's variance over the grey levels'
/// variance) the face is blurred. The test photos' faces are larger than
/// [`FACE_SIDE`] and measure 0.035–0.23 (`obama3.jpg`, a soft photo, halved
/// and recompressed, is the lowest); `obama.jpg` blurred with σ = 2 px
/// measures 0.035, σ = 3 px under 0.025.
pub const MIN_SHARPNESS: f32 = 0.025;
/// Below this mean grey level (0–255) the face is too dark.
pub const MIN_BRIGHTNESS: f32 = 40.0;
/// Above this mean grey level the face is too bright.
pub const MAX_BRIGHTNESS: f32 = 220.0;
/// More than this share of the face's pixels at 0–15 or 240–255 is badly
/// exposed, whatever the mean.
pub const MAX_CLIPPED: f32 = 0.35;

/// What was measured on one face.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quality {
    /// The variance of the Laplacian of the face in grey.
    pub sharpness: f32,
    /// The mean grey level, 0–255.
    pub brightness: f32,
    /// The share of pixels crushed to black or blown to white.
    pub clipped: f32,
}

/// Why a face's quality is too poor to judge it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flaw {
    Blurred,
    TooDark,
    TooBright,
}

impl Quality {
    /// The first flaw found, if any.
    pub fn flaw(&self) -> Option<Flaw> {
        if self.brightness < MIN_BRIGHTNESS {
            Some(Flaw::TooDark)
        } else if self.brightness > MAX_BRIGHTNESS {
            Some(Flaw::TooBright)
        } else if self.clipped > MAX_CLIPPED {
            Some(if self.brightness < 128.0 {
                Flaw::TooDark
            } else {
                Flaw::TooBright
            })
        } else if self.sharpness < MIN_SHARPNESS {
            Some(Flaw::Blurred)
        } else {
            None
        }
    }

    /// How comfortably the face passes, in [0, 1]: 0 at a threshold, 1 at
    /// twice the sharpness needed and a mid-grey face (the passive score).
    /// Only a summary of the checks above: it says nothing of spoofing.
    pub fn margin(&self) -> f32 {
        let sharp = (self.sharpness / MIN_SHARPNESS - 1.0).clamp(0.0, 1.0);
        let exposure = 1.0 - ((self.brightness - 128.0).abs() / 88.0).clamp(0.0, 1.0);
        sharp.min(exposure)
    }
}

/// Measures the face inside `face` (clamped to the image), whose detail is
/// `detail` pixels wide (its width in the image it was found in, before
/// any scaling up to find it).
pub fn measure(image: &RgbImage, face: Rect, detail: f32) -> Quality {
    let side = (detail.round() as u32).clamp(MIN_SIDE, FACE_SIDE);
    let grey = face_in_grey(image, face, side);
    let contrast = variance(&grey);
    Quality {
        sharpness: if contrast > 0.0 {
            laplacian_variance(&grey) / contrast
        } else {
            0.0
        },
        brightness: mean(&grey),
        clipped: clipped(&grey),
    }
}

/// The face's box, clamped to the image, in grey, scaled to `side`².
pub fn face_in_grey(image: &RgbImage, face: Rect, side: u32) -> GrayImage {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let left = face.left.clamp(0.0, w - 1.0);
    let top = face.top.clamp(0.0, h - 1.0);
    let right = face.right.clamp(left + 1.0, w);
    let bottom = face.bottom.clamp(top + 1.0, h);
    let crop = imageops::crop_imm(
        image,
        left as u32,
        top as u32,
        ((right - left) as u32).max(1),
        ((bottom - top) as u32).max(1),
    )
    .to_image();
    let grey = imageops::grayscale(&crop);
    imageops::resize(&grey, side, side, FilterType::Triangle)
}

/// The variance of the 4-neighbour Laplacian over the inner pixels.
pub fn laplacian_variance(grey: &GrayImage) -> f32 {
    let (w, h) = grey.dimensions();
    if w < 3 || h < 3 {
        return 0.0;
    }
    let at = |x: u32, y: u32| f64::from(grey.get_pixel(x, y)[0]);
    let (mut sum, mut squares, mut n) = (0f64, 0f64, 0f64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let l = at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1) - 4.0 * at(x, y);
            sum += l;
            squares += l * l;
            n += 1.0;
        }
    }
    let mean = sum / n;
    (squares / n - mean * mean) as f32
}

/// The variance of the grey levels.
fn variance(grey: &GrayImage) -> f32 {
    let n = grey.len().max(1) as f64;
    let mean = grey.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    (grey
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n) as f32
}

fn mean(grey: &GrayImage) -> f32 {
    let n = grey.len().max(1) as f64;
    (grey.iter().map(|&v| f64::from(v)).sum::<f64>() / n) as f32
}

fn clipped(grey: &GrayImage) -> f32 {
    let n = grey.len().max(1) as f32;
    grey.iter().filter(|&&v| !(16..240).contains(&v)).count() as f32 / n
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Luma, Rgb};

    /// A 128² checkerboard of 8-pixel squares in `dark` and `light`.
    fn checkerboard(dark: u8, light: u8) -> RgbImage {
        RgbImage::from_fn(128, 128, |x, y| {
            let v = if (x / 8 + y / 8) % 2 == 0 {
                dark
            } else {
                light
            };
            Rgb([v, v, v])
        })
    }

    fn whole(image: &RgbImage) -> Rect {
        Rect {
            left: 0.0,
            top: 0.0,
            right: image.width() as f32,
            bottom: image.height() as f32,
        }
    }

    #[test]
    fn a_sharp_mid_grey_face_has_no_flaw() {
        let image = checkerboard(70, 190);
        let q = measure(&image, whole(&image), FACE_SIDE as f32);
        assert!(q.sharpness > MIN_SHARPNESS, "{q:?}");
        assert!((q.brightness - 130.0).abs() < 2.0, "{q:?}");
        assert_eq!(q.flaw(), None);
        assert!(q.margin() > 0.9, "{q:?}");
    }

    /// 128² with detail at every scale, like a face: a dark half and a
    /// light half, overlaid with rings from coarse at the centre to fine
    /// at the corners (a zone plate). Blur takes the rings and keeps the
    /// halves' contrast, as it keeps a face's shape.
    fn texture() -> RgbImage {
        RgbImage::from_fn(128, 128, |x, y| {
            let (dx, dy) = (x as f32 - 64.0, y as f32 - 64.0);
            let phase = std::f32::consts::PI * (dx * dx + dy * dy) / 257.0;
            let half = if x < 64 { 90.0 } else { 170.0 };
            let v = (half + 30.0 * phase.cos()) as u8;
            Rgb([v, v, v])
        })
    }

    #[test]
    fn blur_dark_and_bright_are_flaws() {
        let image = texture();
        assert_eq!(
            measure(&image, whole(&image), FACE_SIDE as f32).flaw(),
            None
        );
        let blurred = imageops::blur(&image, 6.0);
        assert_eq!(
            measure(&blurred, whole(&image), FACE_SIDE as f32).flaw(),
            Some(Flaw::Blurred)
        );

        let dark = checkerboard(5, 30);
        assert_eq!(
            measure(&dark, whole(&dark), FACE_SIDE as f32).flaw(),
            Some(Flaw::TooDark)
        );
        let bright = checkerboard(230, 255);
        assert_eq!(
            measure(&bright, whole(&bright), FACE_SIDE as f32).flaw(),
            Some(Flaw::TooBright)
        );
        // Half black, half white: a fine mean, but most pixels are lost.
        let harsh = checkerboard(0, 255);
        assert!(
            measure(&harsh, whole(&harsh), FACE_SIDE as f32)
                .flaw()
                .is_some()
        );
    }

    #[test]
    fn a_flat_image_has_no_laplacian() {
        let flat = GrayImage::from_pixel(32, 32, Luma([100]));
        assert_eq!(laplacian_variance(&flat), 0.0);
        assert_eq!(laplacian_variance(&GrayImage::new(2, 2)), 0.0);
    }

    #[test]
    fn a_box_outside_the_image_is_clamped() {
        let image = checkerboard(70, 190);
        let outside = Rect {
            left: -50.0,
            top: -50.0,
            right: 500.0,
            bottom: 500.0,
        };
        let q = measure(&image, outside, FACE_SIDE as f32);
        assert_eq!(q, measure(&image, whole(&image), FACE_SIDE as f32));
    }
}
