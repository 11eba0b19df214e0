//! Head pose from dlib's five landmarks: yaw, pitch and roll, in degrees.
//!
//! dlib's 5-point model marks the two corners of each eye and the base of
//! the nose. Roll is the angle of the line between the eye centres. Once the
//! points are turned upright, the nose base's offset from the eyes' midpoint,
//! in units of the distance between the eye centres, gives the other two
//! angles under a weak-perspective camera and a mean face: in the 68-point
//! mean 3D face shape used by OpenFace-style head-pose code, the nose base
//! lies 0.44 eye-distances in front of the eye corners and 0.675 below them.
//!
//! - Turning the head by `yaw` moves the nose base sideways by
//!   `0.44·sin(yaw)` while the eye distance shrinks by `cos(yaw)`: the offset
//!   is `0.44·tan(yaw)` eye-distances.
//! - Tilting it by `pitch` moves the nose base from `h₀` below the eye line
//!   to `h₀·cos(pitch) − 0.44·sin(pitch)`, where `h₀` is where it sits when
//!   that person faces the camera: measured on their `front` capture when
//!   the caller has one (people's faces, and cameras' heights, differ), else
//!   [`MEAN_NOSE_DROP`], measured on the test photos.
//!
//! These are estimates from five points and a mean face, good to a few
//! degrees at best: enough to tell "turned left" from "facing the camera",
//! not a measurement. The signs are the person's: positive yaw is the
//! person turning to *their* left (their nose moves to the right of an
//! unmirrored photo), positive pitch is looking up.

/// A point in image pixels (x to the right, y down).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

impl Point {
    pub fn new(x: f32, y: f32) -> Self {
        Point { x, y }
    }

    fn mid(a: Point, b: Point) -> Point {
        Point::new((a.x + b.x) / 2.0, (a.y + b.y) / 2.0)
    }

    fn distance(self, other: Point) -> f32 {
        (self.x - other.x).hypot(self.y - other.y)
    }
}

/// dlib's five landmarks, in its order: the person's left eye (outer
/// corner, inner corner: on the right of an unmirrored photo), their right
/// eye (outer, inner), the base of the nose.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Landmarks(pub [Point; 5]);

impl Landmarks {
    /// The centre of the person's left eye (on the photo's right).
    pub fn left_eye(&self) -> Point {
        Point::mid(self.0[0], self.0[1])
    }

    /// The centre of the person's right eye (on the photo's left).
    pub fn right_eye(&self) -> Point {
        Point::mid(self.0[2], self.0[3])
    }

    pub fn nose(&self) -> Point {
        self.0[4]
    }

    /// The distance between the eye centres, in pixels.
    pub fn eye_distance(&self) -> f32 {
        self.left_eye().distance(self.right_eye())
    }

    /// The nose base's offset from the eyes' midpoint, turned upright and
    /// in eye-distances: `(across, down)`; `None` when the eyes coincide.
    pub fn nose_offset(&self) -> Option<(f32, f32)> {
        let (right, left) = (self.right_eye(), self.left_eye());
        let iod = self.eye_distance();
        if iod.is_nan() || iod <= f32::EPSILON {
            return None;
        }
        // The unit vector along the eyes (photo-left to photo-right) and
        // its normal pointing down the face.
        let (ux, uy) = ((left.x - right.x) / iod, (left.y - right.y) / iod);
        let mid = Point::mid(left, right);
        let (dx, dy) = (self.nose().x - mid.x, self.nose().y - mid.y);
        Some(((dx * ux + dy * uy) / iod, (-dx * uy + dy * ux) / iod))
    }
}

/// The nose base's depth in front of the eye corners, in eye-distances
/// (the mean 3D face: module docs).
pub const NOSE_DEPTH: f32 = 0.44;

/// How far below the eye line the nose base sits, in eye-distances, when a
/// face looks at the camera: the mean over the frontal test photos
/// (obama.jpg 0.74, obama3.jpg 0.76, biden.jpg 0.75, measured with
/// dlib's landmarks), used when no `front` capture gives the person's own.
pub const MEAN_NOSE_DROP: f32 = 0.75;

/// A head pose in degrees (module docs: signs and accuracy).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pose {
    /// Positive: turned to the person's left.
    pub yaw: f32,
    /// Positive: looking up.
    pub pitch: f32,
    /// Positive: the head tilted clockwise in the photo.
    pub roll: f32,
    /// The nose base's drop below the eye line, in eye-distances, with the
    /// turn's foreshortening removed: the `h₀` a later capture's pitch can
    /// be measured against when this one faces the camera.
    pub nose_drop: f32,
}

/// The pose of a face from its landmarks, its pitch measured against a
/// frontal nose drop (`baseline`, e.g. the person's `front` capture's
/// [`Pose::nose_drop`]; [`MEAN_NOSE_DROP`] when there is none). `None` when
/// the landmarks are degenerate (both eyes at one point).
pub fn estimate(landmarks: &Landmarks, baseline: f32) -> Option<Pose> {
    let (across, down) = landmarks.nose_offset()?;
    let (right, left) = (landmarks.right_eye(), landmarks.left_eye());
    let roll = (left.y - right.y).atan2(left.x - right.x).to_degrees();

    let yaw = (across / NOSE_DEPTH).atan();
    // The eye distance shrank by cos(yaw); the drop did not.
    let drop = down * yaw.cos();
    Some(Pose {
        yaw: yaw.to_degrees(),
        pitch: pitch_from_drop(drop, baseline),
        roll,
        nose_drop: drop,
    })
}

/// Solves `h₀·cos(p) − d·sin(p) = drop` for `p` (degrees), with
/// `d = NOSE_DEPTH`: `R·cos(p + α) = drop` with `R = √(h₀² + d²)` and
/// `α = atan2(d, h₀)`. Positive when the nose base rose: looking up.
fn pitch_from_drop(drop: f32, baseline: f32) -> f32 {
    let r = baseline.hypot(NOSE_DEPTH);
    let alpha = NOSE_DEPTH.atan2(baseline);
    ((drop / r).clamp(-1.0, 1.0).acos() - alpha).to_degrees()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Where the five points of the mean face land for a head turned by
    /// `yaw` and tilted by `pitch` (degrees), eyes 100 px apart, centred
    /// at (500, 400), then rolled by `roll` degrees: a weak-perspective
    /// projection of a face with the module's proportions. The eye corners
    /// sit 0.2 eye-distances either side of each eye centre, on the eye
    /// plane.
    pub(crate) fn project(yaw: f32, pitch: f32, roll: f32) -> Landmarks {
        let (y, p, r) = (yaw.to_radians(), pitch.to_radians(), roll.to_radians());
        let iod = 100.0;
        // Face coordinates: x to the person's left (photo right), y down,
        // z towards the camera; eye centres at (±0.5, 0, 0).
        let face = [
            (0.7, 0.0, 0.0),  // person's left eye, outer
            (0.3, 0.0, 0.0),  // person's left eye, inner
            (-0.7, 0.0, 0.0), // right eye, outer
            (-0.3, 0.0, 0.0), // right eye, inner
            (0.0, MEAN_NOSE_DROP, NOSE_DEPTH),
        ];
        let points = face.map(|(x, fy, z): (f32, f32, f32)| {
            // Pitch (looking up lifts what is in front: y' = y·cos − z·sin),
            // then yaw (turning left brings the front to the photo's right).
            let (y1, z1) = (fy * p.cos() - z * p.sin(), fy * p.sin() + z * p.cos());
            let x1 = x * y.cos() + z1 * y.sin();
            // Roll in the photo plane, then to pixels.
            let (x2, y2) = (x1 * r.cos() - y1 * r.sin(), x1 * r.sin() + y1 * r.cos());
            Point::new(500.0 + x2 * iod, 400.0 + y2 * iod)
        });
        Landmarks(points)
    }

    fn close(a: f32, b: f32, within: f32) -> bool {
        (a - b).abs() <= within
    }

    #[test]
    fn a_frontal_face_is_zero_on_every_axis() {
        let pose = estimate(&project(0.0, 0.0, 0.0), MEAN_NOSE_DROP).unwrap();
        assert!(close(pose.yaw, 0.0, 0.01), "{pose:?}");
        assert!(close(pose.pitch, 0.0, 0.01), "{pose:?}");
        assert!(close(pose.roll, 0.0, 0.01), "{pose:?}");
        assert!(close(pose.nose_drop, MEAN_NOSE_DROP, 0.001), "{pose:?}");
    }

    #[test]
    fn yaw_is_recovered_with_its_sign() {
        for yaw in [-40.0, -25.0, -10.0, 10.0, 25.0, 40.0] {
            let pose = estimate(&project(yaw, 0.0, 0.0), MEAN_NOSE_DROP).unwrap();
            assert!(close(pose.yaw, yaw, 0.5), "{yaw}: {pose:?}");
            assert!(close(pose.pitch, 0.0, 0.5), "{yaw}: {pose:?}");
        }
        // Turning to the person's left puts the nose on the photo's right.
        let left = project(25.0, 0.0, 0.0);
        assert!(left.nose().x > (left.left_eye().x + left.right_eye().x) / 2.0);
    }

    #[test]
    fn pitch_is_recovered_with_its_sign() {
        for pitch in [-25.0, -10.0, 10.0, 25.0] {
            let pose = estimate(&project(0.0, pitch, 0.0), MEAN_NOSE_DROP).unwrap();
            assert!(close(pose.pitch, pitch, 0.5), "{pitch}: {pose:?}");
            assert!(close(pose.yaw, 0.0, 0.5), "{pitch}: {pose:?}");
        }
    }

    #[test]
    fn roll_does_not_change_yaw_or_pitch() {
        for roll in [-30.0, -8.0, 8.0, 30.0] {
            for (yaw, pitch) in [(0.0, 0.0), (25.0, 0.0), (-25.0, 0.0), (0.0, 15.0)] {
                let pose = estimate(&project(yaw, pitch, roll), MEAN_NOSE_DROP).unwrap();
                assert!(close(pose.roll, roll, 0.01), "{roll}: {pose:?}");
                assert!(close(pose.yaw, yaw, 0.5), "{roll} {yaw}: {pose:?}");
                assert!(close(pose.pitch, pitch, 0.5), "{roll} {pitch}: {pose:?}");
            }
        }
    }

    #[test]
    fn a_mirror_negates_yaw_and_roll() {
        for (yaw, roll) in [(20.0, 5.0), (-30.0, -10.0)] {
            let landmarks = project(yaw, 0.0, roll);
            // Mirrored about x = 500: the person's eyes swap sides.
            let flip = |p: Point| Point::new(1000.0 - p.x, p.y);
            let [a, b, c, d, n] = landmarks.0;
            let mirrored = Landmarks([flip(c), flip(d), flip(a), flip(b), flip(n)]);
            let (pose, seen) = (
                estimate(&landmarks, MEAN_NOSE_DROP).unwrap(),
                estimate(&mirrored, MEAN_NOSE_DROP).unwrap(),
            );
            assert!(close(seen.yaw, -pose.yaw, 0.01), "{pose:?} {seen:?}");
            assert!(close(seen.roll, -pose.roll, 0.01), "{pose:?} {seen:?}");
            assert!(close(seen.pitch, pose.pitch, 0.01), "{pose:?} {seen:?}");
        }
    }

    #[test]
    fn pitch_is_measured_against_the_persons_own_front() {
        // A face whose nose sits lower than the mean: facing the camera, it
        // would read as looking down against the mean.
        let mut low = project(0.0, 0.0, 0.0);
        low.0[4].y += 10.0; // 0.85 eye-distances instead of 0.75
        let own = estimate(&low, MEAN_NOSE_DROP).unwrap();
        assert!(own.pitch < -5.0, "{own:?}");
        let front = estimate(&low, own.nose_drop).unwrap();
        assert!(close(front.pitch, 0.0, 0.01), "{front:?}");
    }

    #[test]
    fn degenerate_landmarks_have_no_pose() {
        let p = Point::new(10.0, 10.0);
        assert_eq!(estimate(&Landmarks([p; 5]), MEAN_NOSE_DROP), None);
    }
}
