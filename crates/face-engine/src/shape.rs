//! The head's shape from dlib's 68 landmarks: is what turned in front of
//! the camera a head, or a picture of one?
//!
//! A capture's landmarks are explained from the person's front capture in
//! three ways ([`fit`]), each by its best fit:
//!
//! - **A head**: the front's landmarks, given the depths of a mean face
//!   ([`MEAN_DEPTH`]), turned in 3D and seen by a weak-perspective camera
//!   (rotation, scale, shift: an affine camera made orthonormal, then
//!   Levenberg-Marquardt). Its rotation is the head's pose against the front.
//! - **A flat picture**: the front's landmarks as a plane seen from any
//!   angle: a homography (the direct linear transform on normalised points).
//! - **A folded picture**: the front's landmarks as a print folded once
//!   along a line (down the face through the nose or the eyes, across it;
//!   each line tried, the best kept): a homography on each side of the
//!   line, the two agreeing on it, so the halves meet on the fold as paper
//!   does, whatever the angle of the fold and of the print.
//!
//! Each is measured as the root-mean-square distance to the landmarks, in
//! eye-distances. A head turning moves its nose across its cheeks and hides
//! the far side of its jaw: parallax, which a flat or folded picture cannot
//! show however it is turned, so the pictures' fits miss a head's landmarks
//! by more than the head's own fit does, and a picture's by no more than
//! the landmarks' own jitter. The liveness verifier decides from these
//! distances ([`crate::liveness`]).

use crate::pose::Point;

/// dlib's 68 landmarks (iBUG 300-W order), in a capture's pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape(pub [Point; 68]);

impl Shape {
    /// The centre of the person's right eye (on the photo's left).
    pub fn right_eye(&self) -> Point {
        centre(&self.0[36..42])
    }

    /// The centre of the person's left eye (on the photo's right).
    pub fn left_eye(&self) -> Point {
        centre(&self.0[42..48])
    }

    /// The distance between the eye centres, in pixels.
    pub fn eye_distance(&self) -> f32 {
        let (r, l) = (self.right_eye(), self.left_eye());
        (l.x - r.x).hypot(l.y - r.y)
    }

    /// The landmarks with the eyes' midpoint at the origin, the x axis
    /// along the eyes (towards the photo's right) and the distance between
    /// the eye centres as the unit; `None` when the eyes coincide.
    pub fn normalised(&self) -> Option<[Point; 68]> {
        let (r, l) = (self.right_eye(), self.left_eye());
        let (dx, dy) = (l.x - r.x, l.y - r.y);
        let iod2 = dx * dx + dy * dy;
        if iod2.is_nan() || iod2 <= f32::EPSILON {
            return None;
        }
        let (mx, my) = ((l.x + r.x) / 2.0, (l.y + r.y) / 2.0);
        Some(self.0.map(|p| {
            let (px, py) = (p.x - mx, p.y - my);
            Point::new((px * dx + py * dy) / iod2, (-px * dy + py * dx) / iod2)
        }))
    }
}

/// The mean of `points`.
pub(crate) fn centre(points: &[Point]) -> Point {
    let n = points.len() as f32;
    Point::new(
        points.iter().map(|p| p.x).sum::<f32>() / n,
        points.iter().map(|p| p.y).sum::<f32>() / n,
    )
}

/// A point of the mean face in eye-distances: `x` towards the photo's right
/// (the person's left), `y` down, `z` towards the camera, the eye centres
/// at (±0.5, 0, 0).
pub type Point3 = [f32; 3];

/// How a frame's landmarks are explained, against the person's front.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    /// The head's turn from the front, in degrees (positive: to the
    /// person's left).
    pub yaw: f32,
    /// Its tilt from the front, in degrees (positive: looking up).
    pub pitch: f32,
    /// The root-mean-square distance, in eye-distances, between the
    /// landmarks and the person's head (their front's landmarks, the mean
    /// face's depths) turned to that pose.
    pub rigid: f32,
    /// The same for the best one flat picture of the front, seen from any
    /// angle (a homography).
    pub plane: f32,
    /// The same for the best picture folded once along a line (a
    /// homography each side of the line, the two meeting on it).
    pub fold: f32,
}

impl Fit {
    /// The closest a flat or folded picture comes to explaining the frame.
    pub fn flat(&self) -> f32 {
        self.plane.min(self.fold)
    }
}

/// Explains `frame`'s landmarks from `front`'s: as the person's head
/// turned (weak perspective, the mean face's depths under the front's
/// landmarks), as a flat picture of the front, and as one folded once.
/// `None` when either shape is degenerate.
pub fn fit(front: &Shape, frame: &Shape) -> Option<Fit> {
    let base = front.normalised()?;
    let (model, target) = head_and_landmarks(&base, frame);
    let head = rigid(&model, &target)?;
    let unit = head.scale;
    let flat_src: Vec<[f64; 2]> = base
        .iter()
        .map(|p| [f64::from(p.x), f64::from(p.y)])
        .collect();
    let plane = homography_rms(&flat_src, &target, &(0..68).collect::<Vec<_>>())? / unit;
    let fold = fold_rms(&flat_src, &target).map_or(plane, |r| r / unit);
    Some(Fit {
        yaw: head.yaw as f32,
        pitch: head.pitch as f32,
        rigid: (head.rms / unit) as f32,
        plane: plane as f32,
        fold: fold.min(plane) as f32,
    })
}

/// The head's turn and tilt from the front, in degrees (the head's fit of
/// [`fit`] alone, for the frames of a burst).
pub fn turn(front: &Shape, frame: &Shape) -> Option<(f32, f32)> {
    let (model, target) = head_and_landmarks(&front.normalised()?, frame);
    let head = rigid(&model, &target)?;
    Some((head.yaw as f32, head.pitch as f32))
}

/// The person's head (the front's landmarks, the mean face's depths) and a
/// frame's landmarks, as the fits take them.
fn head_and_landmarks(base: &[Point; 68], frame: &Shape) -> (Vec<[f64; 3]>, Vec<[f64; 2]>) {
    let model = base
        .iter()
        .zip(MEAN_DEPTH.iter())
        .map(|(p, &z)| [f64::from(p.x), f64::from(p.y), f64::from(z)])
        .collect();
    let target = frame
        .0
        .iter()
        .map(|p| [f64::from(p.x), f64::from(p.y)])
        .collect();
    (model, target)
}

/// A weak-perspective pose of the model.
struct Rigid {
    yaw: f64,
    pitch: f64,
    /// Pixels per eye-distance.
    scale: f64,
    rms: f64,
}

/// Fits `target ≈ s·R·model + t` (the first two rows of R), by an affine
/// camera made orthonormal, then Gauss-Newton on rotation, scale and shift.
fn rigid(model: &[[f64; 3]], target: &[[f64; 2]]) -> Option<Rigid> {
    use nalgebra::{DMatrix, DVector, Matrix2x3, Rotation3, Vector3};
    let n = model.len();
    let a = DMatrix::from_fn(n, 4, |i, j| if j < 3 { model[i][j] } else { 1.0 });
    let svd = a.clone().svd(true, true);
    let u = svd
        .solve(&DVector::from_fn(n, |i, _| target[i][0]), 1e-9)
        .ok()?;
    let v = svd
        .solve(&DVector::from_fn(n, |i, _| target[i][1]), 1e-9)
        .ok()?;
    let m = Matrix2x3::new(u[0], u[1], u[2], v[0], v[1], v[2]);
    let msvd = m.svd(true, true);
    let (mu, mvt) = (msvd.u?, msvd.v_t?);
    let r2 = mu * mvt;
    let r0 = Vector3::new(r2[(0, 0)], r2[(0, 1)], r2[(0, 2)]);
    let r1 = Vector3::new(r2[(1, 0)], r2[(1, 1)], r2[(1, 2)]);
    let r3 = r0.cross(&r1);
    let rot = nalgebra::Matrix3::from_rows(&[r0.transpose(), r1.transpose(), r3.transpose()]);
    let rot = Rotation3::from_matrix(&rot);
    let mut params = [0.0f64; 6];
    let axis = rot.scaled_axis();
    params[..3].copy_from_slice(axis.as_slice());
    params[3] = (msvd.singular_values[0] + msvd.singular_values[1]) / 2.0;
    params[4] = u[3];
    params[5] = v[3];

    let residuals = |p: &[f64; 6]| -> Vec<f64> {
        let rot = Rotation3::from_scaled_axis(Vector3::new(p[0], p[1], p[2]));
        let mut out = Vec::with_capacity(2 * n);
        for (m, t) in model.iter().zip(target) {
            let q = rot * Vector3::new(m[0], m[1], m[2]);
            out.push(p[3] * q[0] + p[4] - t[0]);
            out.push(p[3] * q[1] + p[5] - t[1]);
        }
        out
    };
    let cost = |r: &[f64]| r.iter().map(|x| x * x).sum::<f64>();
    let mut lambda = 1e-3;
    let mut current = residuals(&params);
    for _ in 0..20 {
        let mut jac = DMatrix::zeros(2 * n, 6);
        for k in 0..6 {
            let step = if k < 3 {
                1e-6
            } else {
                1e-6 * params[3].abs().max(1.0)
            };
            let mut moved = params;
            moved[k] += step;
            let r = residuals(&moved);
            for i in 0..2 * n {
                jac[(i, k)] = (r[i] - current[i]) / step;
            }
        }
        let jt = jac.transpose();
        let jtj = &jt * &jac;
        let g = &jt * DVector::from_vec(current.clone());
        let mut improved = false;
        for _ in 0..8 {
            let mut damped = jtj.clone();
            for k in 0..6 {
                damped[(k, k)] *= 1.0 + lambda;
            }
            let Some(delta) = damped.lu().solve(&(-&g)) else {
                lambda *= 10.0;
                continue;
            };
            let mut next = params;
            for k in 0..6 {
                next[k] += delta[k];
            }
            let r = residuals(&next);
            if cost(&r) < cost(&current) {
                params = next;
                current = r;
                lambda = (lambda / 10.0).max(1e-9);
                improved = true;
                break;
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    let rot = Rotation3::from_scaled_axis(Vector3::new(params[0], params[1], params[2]));
    let r = rot.matrix();
    let scale = params[3].abs();
    if scale.is_nan() || scale <= f64::EPSILON {
        return None;
    }
    Some(Rigid {
        // Turning left brings what is in front (z) to the photo's right
        // (x); looking up lifts it (−y).
        yaw: r[(0, 2)].atan2(r[(2, 2)]).to_degrees(),
        pitch: (-r[(1, 2)]).atan2(r[(2, 2)]).to_degrees(),
        scale,
        rms: (cost(&current) / n as f64).sqrt(),
    })
}

/// The RMS distance, in the target's pixels, of the points `which` after
/// the homography that best maps them from `src` to `target`.
fn homography_rms(src: &[[f64; 2]], target: &[[f64; 2]], which: &[usize]) -> Option<f64> {
    let h = homography(src, target, which)?;
    let mut sum = 0.0;
    for &i in which {
        let [u, v] = mapped(&h, src[i])?;
        sum += (u - target[i][0]).powi(2) + (v - target[i][1]).powi(2);
    }
    Some((sum / which.len() as f64).sqrt())
}

/// The homography from `src` to `target` over the points `which` (the
/// direct linear transform, each side normalised first, then refined by
/// Gauss-Newton on the distances in the target).
fn homography(
    src: &[[f64; 2]],
    target: &[[f64; 2]],
    which: &[usize],
) -> Option<nalgebra::Matrix3<f64>> {
    use nalgebra::{DMatrix, Matrix3};
    if which.len() < 5 {
        return None;
    }
    let ts = normaliser(src, which);
    let tt = normaliser(target, which);
    let mut a = DMatrix::zeros(2 * which.len(), 9);
    for (row, &i) in which.iter().enumerate() {
        let [x, y] = apply(&ts, src[i]);
        let [u, v] = apply(&tt, target[i]);
        let r = 2 * row;
        a.row_mut(r)
            .copy_from_slice(&[-x, -y, -1.0, 0.0, 0.0, 0.0, u * x, u * y, u]);
        a.row_mut(r + 1)
            .copy_from_slice(&[0.0, 0.0, 0.0, -x, -y, -1.0, v * x, v * y, v]);
    }
    let h = least_eigenvector(&a)?;
    let hn = Matrix3::new(h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]);
    let h = tt.try_inverse()? * hn * ts;
    Some(h)
}

/// `p` mapped by the homography `h`; `None` at infinity.
fn mapped(h: &nalgebra::Matrix3<f64>, [x, y]: [f64; 2]) -> Option<[f64; 2]> {
    let w = h[(2, 0)] * x + h[(2, 1)] * y + h[(2, 2)];
    if w.abs() < 1e-12 {
        return None;
    }
    Some([
        (h[(0, 0)] * x + h[(0, 1)] * y + h[(0, 2)]) / w,
        (h[(1, 0)] * x + h[(1, 1)] * y + h[(1, 2)]) / w,
    ])
}

/// `p` moved by a normaliser ([`normaliser`]: a scale and a shift).
fn apply(t: &nalgebra::Matrix3<f64>, [x, y]: [f64; 2]) -> [f64; 2] {
    [t[(0, 0)] * x + t[(0, 2)], t[(1, 1)] * y + t[(1, 2)]]
}

/// The unit vector `h` minimising `|A·h|`, the direct linear transform's
/// answer: the eigenvector of `AᵀA` with the least eigenvalue.
fn least_eigenvector(a: &nalgebra::DMatrix<f64>) -> Option<nalgebra::DVector<f64>> {
    let eig = nalgebra::SymmetricEigen::new(a.transpose() * a);
    let (least, _) = eig
        .eigenvalues
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))?;
    Some(eig.eigenvectors.column(least).into_owned())
}

/// The similarity that takes the points `which` of `pts` to their centre
/// at a mean distance of √2 (Hartley's normalisation for the DLT).
fn normaliser(pts: &[[f64; 2]], which: &[usize]) -> nalgebra::Matrix3<f64> {
    let n = which.len() as f64;
    let (mut cx, mut cy) = (0.0, 0.0);
    for &i in which {
        let [x, y] = pts[i];
        cx += x / n;
        cy += y / n;
    }
    let mut d = 0.0;
    for &i in which {
        let [x, y] = pts[i];
        d += ((x - cx).powi(2) + (y - cy).powi(2)).sqrt() / n;
    }
    let s = if d > 1e-12 {
        std::f64::consts::SQRT_2 / d
    } else {
        1.0
    };
    nalgebra::Matrix3::new(s, 0.0, -s * cx, 0.0, s, -s * cy, 0.0, 0.0, 1.0)
}

/// The fold lines tried first, in the front's eye-distances: vertical
/// lines `x = c` (a print folded down the face: along the nose, through an
/// eye) and horizontal ones `y = c` (folded across it), every 0.05, as
/// `(axis, c)`.
fn fold_lines() -> impl Iterator<Item = (usize, f64)> {
    let down = (-12..=12).map(|i| (0usize, f64::from(i) * 0.05));
    let across = (4..=32).map(|i| (1usize, f64::from(i) * 0.05));
    down.chain(across)
}
/// The best of those lines are then tried turned by these angles, in
/// degrees, about the middle of the face (a print is not folded square).
const FOLD_TILTS: [f64; 6] = [-12.0, -8.0, -4.0, 4.0, 8.0, 12.0];
/// How many of the best square lines are tried turned.
const FOLD_TILTED: usize = 3;

/// The smallest RMS, over the fold lines tried, of a picture folded once
/// ([`folded_rms`]).
fn fold_rms(src: &[[f64; 2]], target: &[[f64; 2]]) -> Option<f64> {
    fold_rms_over(src, &[target])
}

/// The same over several frames of one picture: one fold line for all of
/// them (a print does not refold between frames), its two sides fitted per
/// frame; the RMS over every frame's points.
fn fold_rms_over(src: &[[f64; 2]], targets: &[&[[f64; 2]]]) -> Option<f64> {
    let over = |line: [f64; 3]| -> Option<f64> {
        let beyond = src
            .iter()
            .filter(|p| line[0] * p[0] + line[1] * p[1] + line[2] > 0.0)
            .count();
        if beyond < 8 || src.len() - beyond < 8 {
            return None;
        }
        let mut squares = 0.0;
        for target in targets {
            squares += folded_rms(src, target, line)?.powi(2);
        }
        Some((squares / targets.len() as f64).sqrt())
    };
    let middle = centre_of(src);
    let mut square: Vec<(f64, usize, f64)> = fold_lines()
        .filter_map(|(axis, c)| {
            let mut line = [0.0; 3];
            line[axis] = 1.0;
            line[2] = -c;
            over(line).map(|rms| (rms, axis, c))
        })
        .collect();
    square.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut best = square.first()?.0;
    for &(_, axis, c) in square.iter().take(FOLD_TILTED) {
        // The line through (c, middle y), or (middle x, c), turned.
        let through = if axis == 0 {
            [c, middle[1]]
        } else {
            [middle[0], c]
        };
        for tilt in FOLD_TILTS {
            let (sin, cos) = tilt.to_radians().sin_cos();
            let normal = if axis == 0 { [cos, sin] } else { [-sin, cos] };
            let line = [
                normal[0],
                normal[1],
                -(normal[0] * through[0] + normal[1] * through[1]),
            ];
            if let Some(rms) = over(line) {
                best = best.min(rms);
            }
        }
    }
    Some(best)
}

fn centre_of(points: &[[f64; 2]]) -> [f64; 2] {
    let n = points.len().max(1) as f64;
    points
        .iter()
        .fold([0.0, 0.0], |[x, y], p| [x + p[0] / n, y + p[1] / n])
}

/// The RMS distance, in the target's pixels, of `src` mapped to `target` as
/// one picture folded along `line` (`line · (x, y, 1) = 0` in `src`): one
/// homography `H` on the line's near side (`line · p ≤ 0`) and `H + v·lineᵀ`
/// on the far side. Those two agree on every point of the line, so the
/// sides meet there as the halves of a folded print do, however it is
/// turned (11 parameters, where two free homographies would have 16 and
/// also bend a head's half-faces into place). Found by the direct linear
/// transform on normalised points, `H` and `v` together.
fn folded_rms(src: &[[f64; 2]], target: &[[f64; 2]], line: [f64; 3]) -> Option<f64> {
    use nalgebra::{DMatrix, Matrix3, RowVector3, Vector3};
    let all: Vec<usize> = (0..src.len()).collect();
    let ts = normaliser(src, &all);
    let tt = normaliser(target, &all);
    // The line in the normalised source: l' = Ts⁻ᵀ l.
    let l = ts.try_inverse()?.transpose() * Vector3::new(line[0], line[1], line[2]);
    let mut a = DMatrix::zeros(2 * src.len(), 12);
    for (i, (&p, &q)) in src.iter().zip(target).enumerate() {
        let [x, y] = apply(&ts, p);
        let [u, v] = apply(&tt, q);
        let side = l[0] * x + l[1] * y + l[2];
        let far = if side > 0.0 { side } else { 0.0 };
        a.row_mut(2 * i).copy_from_slice(&[
            -x,
            -y,
            -1.0,
            0.0,
            0.0,
            0.0,
            u * x,
            u * y,
            u,
            -far,
            0.0,
            u * far,
        ]);
        a.row_mut(2 * i + 1).copy_from_slice(&[
            0.0,
            0.0,
            0.0,
            -x,
            -y,
            -1.0,
            v * x,
            v * y,
            v,
            0.0,
            -far,
            v * far,
        ]);
    }
    let h = least_eigenvector(&a)?;
    let near = Matrix3::new(h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]);
    let far = near + Vector3::new(h[9], h[10], h[11]) * RowVector3::new(l[0], l[1], l[2]);
    let back = tt.try_inverse()?;
    let (near, far) = (back * near * ts, back * far * ts);
    let mut sum = 0.0;
    for (&[x, y], &[tx, ty]) in src.iter().zip(target) {
        let h = if line[0] * x + line[1] * y + line[2] > 0.0 {
            &far
        } else {
            &near
        };
        let [u, v] = mapped(h, [x, y])?;
        sum += (u - tx).powi(2) + (v - ty).powi(2);
    }
    Some((sum / src.len() as f64).sqrt())
}

/// [`fit`]'s distances over several frames of one turn (a burst's frames
/// turned away from the front, and its capture): the head's and the flat
/// picture's RMS over all of them, and the folded picture's with one fold
/// line for all. A picture cannot change its shape between frames; a head
/// turning shows its parallax in each. `None` when a shape is degenerate.
pub fn fit_over(front: &Shape, frames: &[&Shape]) -> Option<(f32, f32)> {
    let base = front.normalised()?;
    let flat_src: Vec<[f64; 2]> = base
        .iter()
        .map(|p| [f64::from(p.x), f64::from(p.y)])
        .collect();
    let all: Vec<usize> = (0..68).collect();
    let (mut head, mut plane) = (0.0, 0.0);
    let mut targets = Vec::with_capacity(frames.len());
    for frame in frames {
        let (model, target) = head_and_landmarks(&base, frame);
        let rigid = rigid(&model, &target)?;
        // In eye-distances: each frame's pixels divided by its own scale.
        let unit = rigid.scale;
        let scaled: Vec<[f64; 2]> = target.iter().map(|[x, y]| [x / unit, y / unit]).collect();
        head += (rigid.rms / unit).powi(2);
        plane += homography_rms(&flat_src, &scaled, &all)?.powi(2);
        targets.push(scaled);
    }
    let n = frames.len().max(1) as f64;
    let plane = (plane / n).sqrt();
    let views: Vec<&[[f64; 2]]> = targets.iter().map(Vec::as_slice).collect();
    let fold = fold_rms_over(&flat_src, &views).map_or(plane, |f| f.min(plane));
    Some((fold as f32, (head / n).sqrt() as f32))
}

/// The mean face's depth at each of the 68 landmarks, in eye-distances in
/// front of the eye centres (towards the camera). Built here from adult
/// facial proportions in millimetres (an eye-distance taken as 63 mm): the
/// jaw line from the cheeks by the ears (50 mm behind the eyes) to the chin
/// (10 mm in front), the brow ridge, the nose from its bridge (16 mm) to its
/// tip (36 mm), the lips (up to 24 mm). The face's depth is what a picture
/// lacks; these values need not be any one person's, only a head's.
pub const MEAN_DEPTH: [f32; 68] = {
    const MM: [f32; 68] = [
        // Jaw line, from the photo's left (the person's right cheek) to
        // the chin and up the other side.
        -50.0, -47.0, -42.0, -34.0, -24.0, -12.0, -2.0, 6.0, 10.0, 6.0, -2.0, -12.0, -24.0, -34.0,
        -42.0, -47.0, -50.0, // Brows, outer to inner, then inner to outer.
        -6.0, 2.0, 8.0, 12.0, 14.0, 14.0, 12.0, 8.0, 2.0, -6.0,
        // Nose bridge, top to tip; then the nostrils' base.
        16.0, 22.0, 28.0, 36.0, 16.0, 22.0, 26.0, 22.0, 16.0,
        // Eyes: outer corner, upper lid, inner corner, lower lid.
        -6.0, 4.0, 4.0, 6.0, 2.0, 2.0, 6.0, 4.0, 4.0, -6.0, 2.0, 2.0,
        // Lips, outside: corner, upper lip to the other corner, lower lip.
        6.0, 16.0, 22.0, 24.0, 22.0, 16.0, 6.0, 14.0, 18.0, 20.0, 18.0, 14.0,
        // Lips, inside.
        8.0, 18.0, 20.0, 18.0, 8.0, 16.0, 18.0, 16.0,
    ];
    let mut out = [0f32; 68];
    let mut i = 0;
    while i < 68 {
        out[i] = MM[i] / 63.0;
        i += 1;
    }
    out
};

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The frontal test photos' 68 landmarks, averaged, in eye-distances
    /// (obama.jpg, obama2.jpg, obama3.jpg, biden.jpg).
    pub(crate) const FRONT: [(f32, f32); 68] = [
        (-1.189, 0.201),
        (-1.158, 0.516),
        (-1.104, 0.826),
        (-1.032, 1.117),
        (-0.913, 1.393),
        (-0.724, 1.644),
        (-0.494, 1.819),
        (-0.237, 1.956),
        (0.067, 1.987),
        (0.371, 1.931),
        (0.620, 1.769),
        (0.824, 1.554),
        (0.982, 1.302),
        (1.069, 1.032),
        (1.126, 0.745),
        (1.148, 0.447),
        (1.157, 0.154),
        (-0.923, -0.095),
        (-0.797, -0.265),
        (-0.594, -0.342),
        (-0.375, -0.345),
        (-0.164, -0.288),
        (0.155, -0.290),
        (0.369, -0.346),
        (0.590, -0.344),
        (0.795, -0.265),
        (0.917, -0.101),
        (0.007, -0.070),
        (0.006, 0.104),
        (0.019, 0.282),
        (0.024, 0.471),
        (-0.251, 0.659),
        (-0.117, 0.684),
        (0.016, 0.714),
        (0.156, 0.679),
        (0.277, 0.643),
        (-0.688, 0.023),
        (-0.579, -0.061),
        (-0.431, -0.068),
        (-0.301, 0.014),
        (-0.428, 0.040),
        (-0.573, 0.050),
        (0.303, 0.015),
        (0.427, -0.073),
        (0.575, -0.057),
        (0.697, 0.030),
        (0.571, 0.047),
        (0.427, 0.039),
        (-0.461, 1.113),
        (-0.298, 0.976),
        (-0.110, 0.930),
        (0.026, 0.950),
        (0.180, 0.918),
        (0.361, 0.963),
        (0.525, 1.088),
        (0.367, 1.238),
        (0.188, 1.305),
        (0.033, 1.325),
        (-0.106, 1.313),
        (-0.291, 1.255),
        (-0.400, 1.109),
        (-0.110, 1.023),
        (0.023, 1.034),
        (0.174, 1.013),
        (0.455, 1.082),
        (0.190, 1.164),
        (0.030, 1.174),
        (-0.108, 1.164),
    ];

    /// A surface through the front's landmarks: a head (the mean depths),
    /// a flat print, or a print folded along `x = at` (turned by `tilt`
    /// degrees about the eyes' height) by `angle` degrees (each half turned
    /// back by half of it; `tent`: the fold towards the camera).
    #[derive(Clone, Copy)]
    pub(crate) enum Surface {
        Head,
        Print,
        Folded {
            at: f32,
            tilt: f32,
            angle: f32,
            tent: bool,
        },
    }

    /// The landmarks of `surface` seen at (yaw, pitch), eye centres 100 px
    /// apart at 8 eye-distances from a pinhole camera, each point moved by
    /// up to `noise` px (a fixed pattern).
    pub(crate) fn seen(surface: Surface, yaw: f32, pitch: f32, noise: f32) -> Shape {
        let (y, p) = (yaw.to_radians(), pitch.to_radians());
        let distance = 8.0;
        let focal = 100.0 * distance;
        let mut points = [Point::new(0.0, 0.0); 68];
        for (i, point) in points.iter_mut().enumerate() {
            let (x, fy) = FRONT[i];
            let z = match surface {
                Surface::Head => MEAN_DEPTH[i],
                Surface::Print => 0.0,
                Surface::Folded {
                    at,
                    tilt,
                    angle,
                    tent,
                } => {
                    let (sin, cos) = tilt.to_radians().sin_cos();
                    let off = (x - at) * cos + fy * sin;
                    let back = -off.abs() * (angle / 2.0).to_radians().tan();
                    if tent { back } else { -back }
                }
            };
            let (y1, z1) = (fy * p.cos() - z * p.sin(), fy * p.sin() + z * p.cos());
            let (x1, z2) = (x * y.cos() + z1 * y.sin(), -x * y.sin() + z1 * y.cos());
            let depth = distance - z2;
            let wobble = ((i as f32 * 2.399).sin(), (i as f32 * 1.731).cos());
            *point = Point::new(
                320.0 + focal * x1 / depth + noise * wobble.0,
                240.0 + focal * y1 / depth + noise * wobble.1,
            );
        }
        Shape(points)
    }

    /// The views a challenge asks for: turns both ways, tilts up.
    const VIEWS: [(f32, f32); 8] = [
        (15.0, 0.0),
        (25.0, 0.0),
        (35.0, 0.0),
        (-20.0, 0.0),
        (-30.0, 5.0),
        (0.0, 12.0),
        (3.0, 20.0),
        (0.0, 35.0),
    ];

    /// The liveness verifier's rule.
    fn shows_depth(f: &Fit) -> bool {
        use crate::liveness::{FLAT_MIN, FLAT_RATIO};
        f.flat() >= FLAT_MIN && f.flat() >= FLAT_RATIO * f.rigid
    }

    #[test]
    fn a_head_turning_shows_depth_that_no_picture_has() {
        let front = seen(Surface::Head, 0.0, 0.0, 0.0);
        for (yaw, pitch) in VIEWS {
            let f = fit(&front, &seen(Surface::Head, yaw, pitch, 1.5)).unwrap();
            assert!(shows_depth(&f), "head at {yaw}°, {pitch}°: {f:?}");
        }
        let mut pictures = vec![Surface::Print];
        for at in [-0.3, -0.15, 0.0, 0.12, 0.3] {
            for angle in [40.0, 50.0, 65.0, 75.0, 90.0] {
                for tent in [true, false] {
                    for tilt in [0.0, -7.0, 10.0] {
                        pictures.push(Surface::Folded {
                            at,
                            tilt,
                            angle,
                            tent,
                        });
                    }
                }
            }
        }
        for picture in pictures {
            let front = seen(picture, 0.0, 0.0, 0.0);
            for (yaw, pitch) in VIEWS {
                let f = fit(&front, &seen(picture, yaw, pitch, 1.5)).unwrap();
                assert!(!shows_depth(&f), "picture at {yaw}°, {pitch}°: {f:?}");
            }
        }
    }

    #[test]
    fn the_head_pose_is_recovered_with_its_signs() {
        let front = seen(Surface::Head, 0.0, 0.0, 0.0);
        for (yaw, pitch) in VIEWS {
            let f = fit(&front, &seen(Surface::Head, yaw, pitch, 1.5)).unwrap();
            assert!((f.yaw - yaw).abs() < 2.5, "{yaw}°, {pitch}°: {f:?}");
            // Weak perspective reads a tilt a little short.
            assert!((f.pitch - pitch).abs() < 3.5, "{yaw}°, {pitch}°: {f:?}");
        }
    }

    #[test]
    fn degenerate_shapes_have_no_fit() {
        let front = seen(Surface::Head, 0.0, 0.0, 0.0);
        let point = Shape([Point::new(5.0, 5.0); 68]);
        assert_eq!(fit(&point, &front), None);
        assert!(fit(&front, &point).is_none_or(|f| !shows_depth(&f)));
    }
}
