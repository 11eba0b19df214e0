//! One capture, measured: the single face in it, its landmarks, pose,
//! quality and embedding, or why there is none to judge.
//!
//! In order:
//!
//! 1. The capture is analysed at most [`WORK_SIDE`] pixels on its longer
//!    side (decoding already reduced it to that): dlib's HOG detector costs
//!    in proportion to the pixels, and a face filling a phone's frame is
//!    still well over the detector's 80-pixel window at that size. Sizes
//!    and landmarks are reported in the pixels the capture was sent at.
//! 2. Faces are detected. The user's is the largest; another of comparable
//!    size ([`COMPARABLE_FACE`]) is `MULTIPLE_FACES`, a much smaller one (a
//!    badge, a poster) is ignored. None at the work size: the image at twice
//!    the size is searched once more (a face under the detector's window, or
//!    one turned or tilted far from the front), and a face found there is
//!    measured there; none there either is `NO_FACE`.
//! 3. The face must be whole and large enough: a box more than
//!    [`MAX_OUTSIDE`] outside the frame, or a landmark outside it, is cut
//!    off; a face narrower than [`MIN_FACE_SHARE`] of the capture's shorter
//!    side (or [`MIN_FACE_PIXELS`]) is too small. Both are `POOR_QUALITY`.
//! 4. Sharpness and exposure ([`crate::quality`]): `POOR_QUALITY`.
//! 5. The embedding: dlib aligns the face to its template from the five
//!    landmarks and runs the network.

use bv_engine::Capture;
use image::RgbImage;
use image::imageops::{self, FilterType};

use crate::Rect;
use crate::pose::{self, Landmarks, MEAN_NOSE_DROP, Point, Pose};
use crate::quality::{self, Flaw, Quality};
use crate::shape::{self, Shape};
use crate::template::Embedding;
use crate::vision::{Found, Matrix, Vision};

/// The longest side, in pixels, a capture is analysed at: the size decoding
/// keeps captures at.
pub const WORK_SIDE: u32 = bv_engine::image::ANALYSIS_SIDE;
/// The smallest face, as a share of the capture's shorter side.
pub const MIN_FACE_SHARE: f32 = 0.12;
/// The smallest face, in the capture's pixels.
pub const MIN_FACE_PIXELS: f32 = 80.0;
/// The largest share of the face's box that may lie outside the frame.
pub const MAX_OUTSIDE: f32 = 0.05;
/// The side of the grey thumbnail kept to tell repeated frames apart.
pub const THUMBNAIL_SIDE: u32 = 24;

/// What was measured on a capture's face. Coordinates are the capture's.
#[derive(Clone, Debug)]
pub struct Observation {
    pub face: Rect,
    pub landmarks: Landmarks,
    /// The 68 landmarks, when asked for: the head's shape, which active
    /// liveness judges.
    pub shape: Option<Shape>,
    /// The pose, its pitch against the mean face (the liveness verifier
    /// measures it again against the person's own front).
    pub pose: Pose,
    pub quality: Quality,
    pub embedding: Embedding,
    /// The face's box in grey at [`THUMBNAIL_SIDE`]².
    pub thumbnail: Thumbnail,
}

/// A small grey picture of a face, to tell one image sent twice.
#[derive(Clone)]
pub struct Thumbnail(pub Vec<u8>);

impl std::fmt::Debug for Thumbnail {
    /// Never the pixels: it is a face.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Thumbnail(..)")
    }
}

impl Thumbnail {
    /// The normalised cross-correlation of two thumbnails, in [−1, 1]: 1
    /// for the same picture, whatever its brightness and contrast.
    pub fn correlation(&self, other: &Thumbnail) -> f32 {
        let n = self.0.len().min(other.0.len());
        if n == 0 {
            return 0.0;
        }
        let stats = |v: &[u8]| {
            let mean = v[..n].iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
            let var = v[..n]
                .iter()
                .map(|&x| (f64::from(x) - mean).powi(2))
                .sum::<f64>();
            (mean, var.sqrt())
        };
        let ((ma, sa), (mb, sb)) = (stats(&self.0), stats(&other.0));
        if sa == 0.0 || sb == 0.0 {
            return if sa == sb && ma == mb { 1.0 } else { 0.0 };
        }
        let cov: f64 = self.0[..n]
            .iter()
            .zip(&other.0[..n])
            .map(|(&a, &b)| (f64::from(a) - ma) * (f64::from(b) - mb))
            .sum();
        (cov / (sa * sb)) as f32
    }
}

/// Why a capture's face cannot be judged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rejection {
    NoFace,
    MultipleFaces(usize),
    CutOff,
    TooSmall {
        width: f32,
    },
    Flawed(Flaw),
    /// dlib returned no descriptor, or the landmarks were degenerate.
    NotEmbedded,
}

/// A second face narrower than this share of the largest one is not the
/// user's: a badge or a logo on clothing, a poster, someone far behind. A
/// second face of comparable size is a second person (`MULTIPLE_FACES`).
pub const COMPARABLE_FACE: f32 = 0.5;

/// The user's face among those found: the largest, unless another is of
/// comparable size ([`COMPARABLE_FACE`]).
fn main_face(mut faces: Vec<Found>) -> Result<Found, Rejection> {
    let width = |f: &Found| f.rect.right - f.rect.left;
    faces.sort_by(|a, b| width(b).total_cmp(&width(a)));
    let Some(largest) = faces.first().map(width) else {
        return Err(Rejection::NoFace);
    };
    let comparable = faces
        .iter()
        .filter(|f| width(f) >= COMPARABLE_FACE * largest)
        .count();
    if comparable > 1 {
        return Err(Rejection::MultipleFaces(comparable));
    }
    if faces.len() > 1 {
        tracing::info!(
            ignored = faces.len() - 1,
            "smaller faces than the user's ignored (a badge, a poster, someone far behind)"
        );
    }
    Ok(faces.swap_remove(0))
}

/// Where the detector found no face, the image at twice the size is looked
/// at once more: its window is 80 pixels, and a face smaller than that is
/// still a face; the frontal detector also misses some faces turned or
/// tilted well away from it that it finds larger. Found there, the face is
/// measured there (and a face too small is `POOR_QUALITY`, move closer,
/// by the size check that follows); else there is none. Only a capture
/// without a face at the work size pays for it.
fn upsampled(vision: &Vision, work: &RgbImage) -> (RgbImage, Matrix, Vec<Found>) {
    let _span = tracing::info_span!("detect upsampled").entered();
    let (w, h) = (work.width() * 2, work.height() * 2);
    let doubled = imageops::resize(work, w, h, FilterType::Triangle);
    let matrix = Vision::matrix(&doubled);
    let faces = vision.faces(&matrix);
    (doubled, matrix, faces)
}

/// What to measure beyond what every capture needs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Want {
    /// The 68 landmarks ([`Observation::shape`]).
    pub shape: bool,
}

/// Measures the one face in a capture.
pub fn observe(vision: &Vision, capture: &Capture, want: Want) -> Result<Observation, Rejection> {
    let image = &capture.rgb;
    let (width, height) = (capture.width, capture.height);
    if width == 0 || height == 0 || image.width() == 0 || image.height() == 0 {
        return Err(Rejection::NoFace);
    }
    let reduce = (WORK_SIDE as f32 / image.width().max(image.height()) as f32).min(1.0);
    let scaled;
    let work: &RgbImage = if reduce < 1.0 {
        let (w, h) = (
            ((image.width() as f32 * reduce).round() as u32).max(1),
            ((image.height() as f32 * reduce).round() as u32).max(1),
        );
        scaled = imageops::resize(image, w, h, FilterType::Triangle);
        &scaled
    } else {
        image
    };
    // The work image's pixels per pixel of the capture as it was sent.
    let mut scale = work.width() as f32 / width as f32;

    let mut matrix = Vision::matrix(work);
    let faces = {
        let _span = tracing::info_span!("detect", width, height).entered();
        vision.faces(&matrix)
    };
    let larger;
    let mut enlarged = 1.0;
    let (work, face) = match main_face(faces) {
        Ok(face) => (work, face),
        Err(Rejection::NoFace) => {
            let (doubled, doubled_matrix, faces) = upsampled(vision, work);
            let face = main_face(faces)?;
            larger = doubled;
            matrix = doubled_matrix;
            scale *= 2.0;
            enlarged = 2.0;
            (&larger, face)
        }
        Err(other) => return Err(other),
    };

    let (ww, wh) = (work.width() as f32, work.height() as f32);
    if outside(face.rect, ww, wh) > MAX_OUTSIDE
        || face
            .landmarks
            .0
            .iter()
            .any(|p| p.x < 0.0 || p.y < 0.0 || p.x >= ww || p.y >= wh)
    {
        return Err(Rejection::CutOff);
    }
    let face_width = (face.rect.right - face.rect.left) / scale;
    let shorter = width.min(height) as f32;
    if face_width < MIN_FACE_PIXELS || face_width < MIN_FACE_SHARE * shorter {
        return Err(Rejection::TooSmall { width: face_width });
    }

    // The face's detail: its width where it was found, less the doubling.
    let detail = (face.rect.right - face.rect.left) / enlarged;
    let quality = quality::measure(work, face.rect, detail);
    if let Some(flaw) = quality.flaw() {
        return Err(Rejection::Flawed(flaw));
    }
    let landmarks = Landmarks(
        face.landmarks
            .0
            .map(|p| Point::new(p.x / scale, p.y / scale)),
    );
    let pose = pose::estimate(&landmarks, MEAN_NOSE_DROP).ok_or(Rejection::NotEmbedded)?;
    let shape = if want.shape {
        let _span = tracing::info_span!("shape").entered();
        let found = vision
            .shape(&matrix, &face.rect)
            .ok_or(Rejection::NotEmbedded)?;
        Some(Shape(found.0.map(|p| Point::new(p.x / scale, p.y / scale))))
    } else {
        None
    };
    let embedding = {
        let _span = tracing::info_span!("embed").entered();
        vision.embed(&matrix, &face).ok_or(Rejection::NotEmbedded)?
    };
    let thumbnail = Thumbnail(quality::face_in_grey(work, face.rect, THUMBNAIL_SIDE).into_raw());
    Ok(Observation {
        face: face.rect.scaled(1.0 / scale),
        landmarks,
        shape,
        pose,
        quality,
        embedding,
        thumbnail,
    })
}

/// One frame of a burst, its face followed from the frame after it.
#[derive(Clone, Debug)]
pub struct Followed {
    /// Its 68 landmarks, in the pixels the capture was sent at (a burst's
    /// frames may be sent smaller: they are the same view, scaled).
    pub shape: Shape,
    /// Its face's box (around the landmarks) in grey at [`THUMBNAIL_SIDE`]².
    pub thumbnail: Thumbnail,
}

/// Follows a face back through the burst that led to a step's capture
/// (`burst` oldest first; `last` the capture, its 68 landmarks and the box
/// the detector found its face in): each frame's landmarks are found in a
/// box carried back from the later frame's, without a detector (a head moves
/// little in a fifth of a second, and dlib's shape predictor needs only a
/// box). The box is the detector's, moved and scaled as the landmarks moved
/// from frame to frame: the shape predictor was trained on the detector's
/// boxes, and a box drawn around the landmarks instead (wider on a turned
/// face, its jaw in profile) pulls the predicted landmarks towards the
/// front a little more at every frame, so that a still burst seemed to
/// turn. A frame where the face is not where it was is followed all the
/// same; the verifier sees the jump. Returns the burst's frames and then
/// the capture, each with a thumbnail of the box around its landmarks (so
/// that neighbours compare alike).
///
/// A burst's frames are the camera's view like the capture, possibly sent
/// smaller (the hosted page sends them at most 480 pixels on a side and
/// the capture at the camera's size): everything is measured in the
/// capture's pixels, each frame scaled to them by the widths sent.
pub fn follow(
    vision: &Vision,
    burst: &[Capture],
    last: (&Capture, &Shape),
    face: Rect,
) -> Vec<Followed> {
    let mut followed = Vec::with_capacity(burst.len() + 1);
    followed.push(Followed {
        shape: last.1.clone(),
        thumbnail: thumbnail_around(&last.0.rgb, last.1, pixels_per(last.0, last.0)),
    });
    let mut later = last.1.clone();
    let mut boxed = face;
    for capture in burst.iter().rev() {
        let image = &capture.rgb;
        // Decoding keeps images at most WORK_SIDE on a side: the matrix is
        // the image as it is, `scale` its pixels per pixel of the capture.
        let scale = pixels_per(capture, last.0);
        let shape = if scale > 0.0 && image.height() > 0 {
            vision
                .shape(&Vision::matrix(image), &boxed.scaled(scale))
                .map(|s| Shape(s.0.map(|p| Point::new(p.x / scale, p.y / scale))))
        } else {
            None
        };
        let shape = shape.unwrap_or_else(|| later.clone());
        boxed = carried(boxed, &later, &shape);
        let thumbnail = thumbnail_around(image, &shape, scale);
        later = shape.clone();
        followed.push(Followed { shape, thumbnail });
    }
    followed.reverse();
    followed
}

/// How many of `frame`'s decoded pixels one pixel of `capture` (as sent)
/// spans; 0 when either is empty.
fn pixels_per(frame: &Capture, capture: &Capture) -> f32 {
    if capture.width == 0 || frame.rgb.width() == 0 {
        0.0
    } else {
        frame.rgb.width() as f32 / capture.width as f32
    }
}

/// `face`, a box around the landmarks `from`, moved and scaled as they
/// moved to `to` (their centres, and their spread about them).
fn carried(face: Rect, from: &Shape, to: &Shape) -> Rect {
    let spread_about = |shape: &Shape, c: Point| {
        shape
            .0
            .iter()
            .map(|p| (p.x - c.x).hypot(p.y - c.y))
            .sum::<f32>()
            / shape.0.len() as f32
    };
    let (a, b) = (shape::centre(&from.0), shape::centre(&to.0));
    let grown = spread_about(to, b) / spread_about(from, a).max(f32::EPSILON);
    if !grown.is_finite() || grown <= 0.0 {
        return face;
    }
    let map = |x: f32, y: f32| Point::new(b.x + (x - a.x) * grown, b.y + (y - a.y) * grown);
    let (top_left, bottom_right) = (map(face.left, face.top), map(face.right, face.bottom));
    Rect {
        left: top_left.x,
        top: top_left.y,
        right: bottom_right.x,
        bottom: bottom_right.y,
    }
}

/// The grey thumbnail of the box around a face's landmarks, `scale` the
/// image's pixels per pixel of the landmarks'.
fn thumbnail_around(image: &RgbImage, shape: &Shape, scale: f32) -> Thumbnail {
    if scale <= 0.0 || image.height() == 0 {
        return Thumbnail(Vec::new());
    }
    let face = around(shape).scaled(scale);
    Thumbnail(quality::face_in_grey(image, face, THUMBNAIL_SIDE).into_raw())
}

/// A box like the detector's around a face's 68 landmarks: their extent,
/// raised above the brows by a fifth of its height.
pub fn around(shape: &Shape) -> Rect {
    let (mut left, mut top, mut right, mut bottom) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in &shape.0 {
        left = left.min(p.x);
        right = right.max(p.x);
        top = top.min(p.y);
        bottom = bottom.max(p.y);
    }
    let height = bottom - top;
    Rect {
        left,
        top: top - 0.2 * height,
        right,
        bottom,
    }
}

/// The share of the box's area outside a `width` × `height` frame.
fn outside(r: Rect, width: f32, height: f32) -> f32 {
    let area = (r.right - r.left) * (r.bottom - r.top);
    if area.is_nan() || area <= 0.0 {
        return 1.0;
    }
    let inside_w = (r.right.min(width) - r.left.max(0.0)).max(0.0);
    let inside_h = (r.bottom.min(height) - r.top.max(0.0)).max(0.0);
    1.0 - inside_w * inside_h / area
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(left: f32, top: f32, right: f32, bottom: f32) -> Rect {
        Rect {
            left,
            top,
            right,
            bottom,
        }
    }

    #[test]
    fn the_share_outside_the_frame() {
        assert_eq!(outside(rect(10.0, 10.0, 110.0, 110.0), 200.0, 200.0), 0.0);
        // The partial-face fixture: 54 of 239 pixels left of the frame.
        let share = outside(rect(-54.0, 161.0, 185.0, 376.0), 491.0, 1137.0);
        assert!((share - 54.0 / 239.0).abs() < 1e-4, "{share}");
        assert_eq!(outside(rect(300.0, 0.0, 400.0, 100.0), 200.0, 200.0), 1.0);
        assert_eq!(outside(rect(5.0, 5.0, 5.0, 50.0), 200.0, 200.0), 1.0);
    }

    #[test]
    fn thumbnails_correlate_by_shape_not_brightness() {
        let a = Thumbnail((0..=255u8).collect());
        let brighter = Thumbnail((0..=255u8).map(|v| v / 2 + 60).collect());
        assert!(a.correlation(&brighter) > 0.999);
        let reversed = Thumbnail((0..=255u8).rev().collect());
        assert!(a.correlation(&reversed) < -0.999);
        let flat = Thumbnail(vec![7; 256]);
        assert_eq!(flat.correlation(&flat.clone()), 1.0);
        assert_eq!(a.correlation(&flat), 0.0);
        assert_eq!(format!("{a:?}"), "Thumbnail(..)");
    }
}
