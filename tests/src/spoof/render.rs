//! A photo as a textured 3D surface, seen by a pinhole camera.
//!
//! The photo's pixels are a height field ([`Relief`]): each pixel `(x, y)`
//! gets a depth `z` (photo pixels, positive towards the camera, 0 on the
//! plane of the eyes). The photo is taken to have been made by the camera
//! the render uses: a pixel with depth `z` is placed back along its camera
//! ray, so a render that does not turn the surface reproduces the photo up
//! to resampling, whatever the relief. The surface is then turned about a
//! pivot (the head's centre, or the face's centre on a print), moved, and
//! projected.
//!
//! Coordinates and signs are those of `bv_face_engine::pose`: x to the
//! photo's right (the person's left), y down, z towards the camera; positive
//! yaw turns the person (or print) to the person's left, so the nose moves
//! to the image's right; positive pitch looks up (the nose moves up);
//! positive roll turns the face clockwise in the image.
//!
//! A head ([`Relief::Head`]) is modelled in its own frame (eyes at
//! `(±0.5, 0, 0)` eye-centre distances, [`head`]) and posed as the photo
//! shows it: its yaw, pitch and roll are estimated from the five landmarks
//! (the mean-face geometry of `bv_face_engine::pose`), so a [`View`] gives
//! the head's pose in the render — [`View::FRONT`] faces the camera even
//! when the photo's person did not — and the head's outline in the photo is
//! where its posed ellipsoid falls. Its depth over the photo is found once
//! per photo by casting rays onto the posed head ([`Photo::head`]).
//!
//! Rendering is a mesh: a regular grid of vertices over the photo, each
//! cell two triangles, rasterised with a z-buffer, textured with bilinear
//! samples of the photo (from a pre-reduced level of it when the render is
//! smaller than the photo, so the texture does not alias). A print is drawn
//! in front of a wall ([`wall`]). A head is drawn in two layers, the usual
//! way of turning a face in a photo: the room (the photo with the head's
//! part filled in from around it, [`fill_behind`]), which stays where it is,
//! and over it the head with its hair and ears, which turns, its edge soft
//! and the neck left with the body. Turned far from the photo's own pose,
//! the side it turns towards shows the photo's foreshortened cheek, temple
//! and ear stretched (the photo never saw more of them), and the room it
//! uncovers on the other side is a smooth fill.

use std::sync::OnceLock;

use bv_face_engine::FaceEngine;
use bv_face_engine::pose::{Landmarks, Point};
use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};

/// The head model's proportions, in eye-centre distances (IOD).
pub mod head {
    /// The head ellipsoid's width.
    pub const WIDTH: f32 = 2.2;
    /// The head ellipsoid's height.
    pub const HEIGHT: f32 = 3.0;
    /// The head ellipsoid's depth.
    pub const DEPTH: f32 = 2.2;
    /// How far below the eyes the ellipsoid's centre is.
    pub const DROP: f32 = 0.5;
    /// How far in front of the eye plane the nose's tip is.
    pub const NOSE_TIP: f32 = 0.55;
    /// How far in front of the eye plane the nose's bridge is, between the
    /// eyes.
    pub const NOSE_BRIDGE: f32 = 0.18;
    /// How far in front of the eye plane the base of the nose (dlib's
    /// landmark) is.
    pub const NOSE_BASE: f32 = 0.45;
    /// How far below the eye line the base of the nose is on a face looking
    /// at the camera (`bv_face_engine::pose::MEAN_NOSE_DROP`): a photo's
    /// pitch is estimated against it.
    pub const NOSE_DROP: f32 = 0.75;
    /// The nose's width at its base (the ridge's full width at half height).
    pub const NOSE_WIDTH: f32 = 0.35;
    /// How far the eyes sit back in their sockets.
    pub const EYE_SOCKET: f32 = 0.1;
    /// How far the lips stand out of the ellipsoid.
    pub const LIPS: f32 = 0.2;
    /// How far behind the eye plane the background is.
    pub const BACKGROUND: f32 = 3.0;
    /// How far the head's part of the photo reaches, in multiples of its
    /// ellipse: the head turns with its hair and ears out to here, on a
    /// ring bending back from the ellipsoid's rim ([`RING_SLOPE`]).
    pub const CUT: f32 = 1.12;
    /// Where the head's part of the photo has faded out (from [`CUT`]): a
    /// soft edge over the background.
    pub const EDGE: f32 = 1.3;
    /// How steeply the ring of hair and ears past the ellipse bends back:
    /// IOD of depth per unit of normalised radius.
    pub const RING_SLOPE: f32 = 1.5;
    /// How strongly a turned head's shading changes (a turned print's is
    /// [`super::PRINT_SHADING`]): the photo's own shading is kept, so only
    /// part of the change is added.
    pub const SHADING: f32 = 0.25;
}

/// How strongly a turned print's shading changes: half a Lambertian light
/// above and left of the camera.
pub const PRINT_SHADING: f32 = 0.5;

/// The surface a photo becomes: its depth at each pixel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Relief {
    /// A real head, modelled from the photo's five landmarks ([`head`]): an
    /// ellipsoid with a nose, eye sockets and lips, posed as in the photo,
    /// in front of the photo's background, which does not move.
    Head,
    /// A flat print.
    Plane,
    /// A print folded along the vertical line at photo `x`, each half
    /// turned back by `angle_deg / 2` about it (depth `±|px − x|·tan(angle
    /// / 2)`): convex is a tent (the fold line towards the camera), concave
    /// a valley.
    Fold {
        x: f32,
        angle_deg: f32,
        convex: bool,
    },
    /// A print folded along the line through `point` along `direction`
    /// (photo pixels; need not be unit), as [`Relief::Fold`].
    FoldLine {
        point: Point,
        direction: (f32, f32),
        angle_deg: f32,
        convex: bool,
    },
}

impl Relief {
    /// Whether the surface is a print (with edges, in front of a wall).
    pub fn is_print(&self) -> bool {
        !matches!(self, Relief::Head)
    }

    /// The depth at photo pixel `(x, y)`, in photo pixels, towards the
    /// camera, 0 on the eye plane. For [`Relief::Head`], the background's
    /// outside the head.
    pub fn depth(&self, photo: &Photo, x: f32, y: f32) -> f32 {
        match *self {
            Relief::Head => {
                let model = photo.head();
                match model.sample(x, y) {
                    Some(cell) if cell.radius < 1.0 => cell.depth * model.scale,
                    _ => model.background(),
                }
            }
            Relief::Plane => 0.0,
            Relief::Fold {
                x: line,
                angle_deg,
                convex,
            } => fold(x - line, angle_deg, convex),
            Relief::FoldLine {
                point,
                direction,
                angle_deg,
                convex,
            } => {
                let norm = direction.0.hypot(direction.1);
                if norm <= f32::EPSILON {
                    return 0.0;
                }
                let (dx, dy) = (direction.0 / norm, direction.1 / norm);
                let across = dx * (y - point.y) - dy * (x - point.x);
                fold(across, angle_deg, convex)
            }
        }
    }

    /// The point the surface turns about: photo `(x, y)` and depth. A
    /// head's is its ellipsoid's centre; a print's the face's centre
    /// ([`head::DROP`] below the eyes) on the print.
    pub fn pivot(&self, photo: &Photo) -> (f32, f32, f32) {
        match self {
            Relief::Head => photo.head().pivot(),
            _ => {
                let (x, y) = photo.face.global(0.0, head::DROP);
                (x, y, 0.0)
            }
        }
    }
}

/// The depth of a fold `across` pixels from its line.
fn fold(across: f32, angle_deg: f32, convex: bool) -> f32 {
    let depth = across.abs() * (angle_deg.to_radians() / 2.0).tan();
    if convex { -depth } else { depth }
}

/// The depth of the ellipsoid's centre in the head's frame, IOD: the eye
/// centres, in their sockets, lie on the eye plane (where the landmarks
/// are, so a photo's pose is that of `bv_face_engine::pose`'s mean face).
fn head_centre_depth() -> f32 {
    -(head::DEPTH / 2.0) * dome(head_radius(0.5, 0.0)) + head::EYE_SOCKET
}

/// The ellipsoid's normalised radius at head coordinates `(a, b)` (IOD):
/// below 1 inside.
fn head_radius(a: f32, b: f32) -> f32 {
    let ea = a / (head::WIDTH / 2.0);
    let eb = (b - head::DROP) / (head::HEIGHT / 2.0);
    (ea * ea + eb * eb).sqrt()
}

/// The head's profile at normalised radius `r`: 1 at the centre, 0 at the
/// rim. A superellipse's, `(1 − r⁴)^¼`, flatter in front than an
/// ellipse's as faces are (the surface at the eye centres is tilted 18°
/// from facing the camera, at their outer corners 40°, where an ellipse
/// has 29° and 43°: turned 35°, the far eye must still show), taken only
/// to 0.97 of its radius and stretched to reach 0 at the rim, so its slope
/// there stays finite (85°).
fn dome(r: f32) -> f32 {
    const K: f32 = 0.97;
    let profile = |r: f32| (1.0 - r.powi(4)).max(0.0).powf(0.25);
    let floor = profile(K);
    (profile(K * r.min(1.0)) - floor) / (1.0 - floor)
}

/// The bare ellipsoid's depth at `(a, b)`, IOD, from the eye plane; its rim
/// (the centre's depth) outside.
fn ellipsoid(a: f32, b: f32) -> f32 {
    head_centre_depth() + (head::DEPTH / 2.0) * dome(head_radius(a, b))
}

fn gauss(d2: f32, sigma: f32) -> f32 {
    (-d2 / (2.0 * sigma * sigma)).exp()
}

fn smoothstep(t: f32) -> f32 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

/// The head's depth at head coordinates `(a, b)` (IOD, `a` along the eyes
/// to the person's left, `b` down the face from the eyes' midpoint), in IOD
/// from the eye plane, the nose's base at `nose`, with its ellipsoid taken
/// at no more than `rim` of its radius (towards its centre): below 1, a
/// surface with finite slopes everywhere, for normals.
fn head_shape(nose: (f32, f32), a: f32, b: f32, rim: f32) -> f32 {
    let r = head_radius(a, b);
    let mut z = if r > rim {
        let k = rim / r;
        ellipsoid(a * k, head::DROP + (b - head::DROP) * k)
    } else {
        ellipsoid(a, b)
    };
    // The eye sockets.
    for eye in [-0.5, 0.5] {
        z -= head::EYE_SOCKET * gauss((a - eye).powi(2) + b * b, 0.17);
    }
    // The nose: a ridge from the eyes' midpoint down to the landmark at its
    // base, its tip a little above that, wider at the bottom.
    let (na, nb) = nose;
    let nb = nb.max(0.3);
    let tip = nb - 0.1;
    let along = (b / nb).clamp(0.0, 1.0);
    let ridge = na * along;
    let target = if b < tip {
        lerp(
            head::NOSE_BRIDGE,
            head::NOSE_TIP,
            (b.max(0.0) / tip).powf(1.3),
        )
    } else if b < nb {
        lerp(head::NOSE_TIP, head::NOSE_BASE, (b - tip) / (nb - tip))
    } else {
        lerp(
            head::NOSE_BASE,
            ellipsoid(ridge, b),
            smoothstep((b - nb) / 0.15),
        )
    };
    // The bridge fades in just above the eye line.
    let fade = smoothstep((b + 0.25) / 0.25);
    let rise = (target - ellipsoid(ridge, b)).max(0.0) * fade;
    let sigma = lerp(0.07, head::NOSE_WIDTH / 2.355, along);
    z += rise * gauss((a - ridge).powi(2), sigma);
    // The lips (below the nose's base), and a little of the chin.
    let bump = |a0: f32, b0: f32, sa: f32, sb: f32| {
        (-(a - a0).powi(2) / (2.0 * sa * sa) - (b - b0).powi(2) / (2.0 * sb * sb)).exp()
    };
    z += head::LIPS * bump(na, nb + 0.42, 0.3, 0.12);
    z += 0.1 * bump(na, nb + 0.95, 0.25, 0.15);
    z
}

/// The head's unit normal at `(a, b)` in its frame, its rim's slope kept
/// finite (and continued past the rim).
fn head_normal(nose: (f32, f32), a: f32, b: f32) -> [f32; 3] {
    const H: f32 = 0.01;
    const RIM: f32 = 0.97;
    let dzda = (head_shape(nose, a + H, b, RIM) - head_shape(nose, a - H, b, RIM)) / (2.0 * H);
    let dzdb = (head_shape(nose, a, b + H, RIM) - head_shape(nose, a, b - H, RIM)) / (2.0 * H);
    normalise([-dzda, -dzdb, 1.0])
}

/// A face's frame in its photo, from the five landmarks: the eyes'
/// midpoint, the unit vectors along the eyes (to the photo's right) and
/// down the face, the eye-centre distance and the nose's base in that
/// frame.
#[derive(Clone, Copy, Debug)]
pub struct Face {
    pub mid: Point,
    pub across: (f32, f32),
    pub down: (f32, f32),
    /// The eye-centre distance, photo pixels.
    pub iod: f32,
    /// The nose's base in face coordinates (IOD): across, down.
    pub nose: (f32, f32),
}

impl Face {
    pub fn new(landmarks: &Landmarks) -> Face {
        let (right, left) = (landmarks.right_eye(), landmarks.left_eye());
        let iod = landmarks.eye_distance().max(1.0);
        let across = ((left.x - right.x) / iod, (left.y - right.y) / iod);
        let down = (-across.1, across.0);
        let mid = Point::new((left.x + right.x) / 2.0, (left.y + right.y) / 2.0);
        let mut face = Face {
            mid,
            across,
            down,
            iod,
            nose: (0.0, head::NOSE_DROP),
        };
        let nose = landmarks.nose();
        face.nose = face.local(nose.x, nose.y);
        face
    }

    /// Photo pixel `(x, y)` in face coordinates (IOD).
    pub fn local(&self, x: f32, y: f32) -> (f32, f32) {
        let (dx, dy) = (x - self.mid.x, y - self.mid.y);
        (
            (dx * self.across.0 + dy * self.across.1) / self.iod,
            (dx * self.down.0 + dy * self.down.1) / self.iod,
        )
    }

    /// Face coordinates `(a, b)` (IOD) in photo pixels.
    pub fn global(&self, a: f32, b: f32) -> (f32, f32) {
        (
            self.mid.x + (a * self.across.0 + b * self.down.0) * self.iod,
            self.mid.y + (a * self.across.1 + b * self.down.1) * self.iod,
        )
    }

    /// The face's pose in the photo, from the nose's offset against the
    /// mean face ([`head::NOSE_BASE`] in front of the eyes, [`head::NOSE_DROP`]
    /// below them), as `bv_face_engine::pose` estimates it but solved for
    /// yaw and pitch together (pitch moves the nose forward, which a turn
    /// then shows).
    pub fn pose(&self) -> View {
        let (across, down) = self.nose;
        let (h, d) = (head::NOSE_DROP, head::NOSE_BASE);
        let (mut yaw, mut pitch) = (0f32, 0f32);
        for _ in 0..12 {
            let forward = (h * pitch.sin() + d * pitch.cos()).max(0.05);
            yaw = (across / forward).atan();
            let drop = down * yaw.cos();
            pitch = (drop / h.hypot(d)).clamp(-1.0, 1.0).acos() - d.atan2(h);
        }
        View {
            yaw_deg: yaw.to_degrees(),
            pitch_deg: pitch.to_degrees(),
            roll_deg: self.across.1.atan2(self.across.0).to_degrees(),
            ..View::FRONT
        }
    }
}

/// One cell of a head's depth map.
#[derive(Clone, Copy, Debug, Default)]
struct Cell {
    /// The depth of the head's front surface, in the photo's frame, IOD
    /// (off the ellipse, the ring of hair and ears: [`head::RING_SLOPE`]).
    depth: f32,
    /// The head's normalised radius there (past 1 off the head).
    radius: f32,
    /// How much the head covers there: 1 on it, fading out past the cut
    /// ([`head_alpha`]).
    alpha: f32,
    /// How much of the photo there is the head's, to fill in behind it: 1
    /// well inside the cut, 0 where its edge starts fading (so that the
    /// edge blends the photo over the photo).
    hole: f32,
    /// The surface's normal, in the photo's frame.
    normal: [f32; 3],
}

/// The head a photo shows: its pose, and its depth over the photo.
pub struct HeadModel {
    /// The head's pose in the photo.
    pub pose: View,
    /// From the head's frame to the photo's.
    rotation: Rotation,
    /// Photo pixels per IOD of the head (the photo's IOD is foreshortened
    /// by its yaw).
    pub scale: f32,
    /// The eyes' midpoint, the head frame's origin, in the photo.
    origin: Point,
    /// The nose's base in the head's frame (IOD): across, down.
    pub nose: (f32, f32),
    /// The ellipsoid's centre in the photo's frame, IOD from the origin.
    centre: [f32; 3],
    /// The depth map: cells `step` IOD apart from `(x0, y0)` (photo frame,
    /// IOD from the origin).
    x0: f32,
    y0: f32,
    step: f32,
    columns: usize,
    rows: usize,
    cells: Vec<Cell>,
    /// The photo with the head filled in ([`fill_behind`]), halved again
    /// and again as [`Photo`]'s levels.
    room: Vec<RgbImage>,
}

impl std::fmt::Debug for HeadModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadModel")
            .field("pose", &self.pose)
            .field("scale", &self.scale)
            .field("nose", &self.nose)
            .finish_non_exhaustive()
    }
}

impl HeadModel {
    /// Cells per IOD of the depth map.
    const RESOLUTION: f32 = 20.0;

    fn new(face: &Face, rgb: &RgbImage) -> HeadModel {
        let pose = face.pose();
        let rotation = Rotation::new(&pose);
        let scale = face.iod / pose.yaw_deg.to_radians().cos().max(0.2);
        // The nose's base in the head's frame: where, at its depth, the
        // posed head puts it on the landmark. Roll turns within the image,
        // so the upright landmark is matched without it.
        let upright = Rotation::new(&View {
            roll_deg: 0.0,
            ..pose
        });
        let m = &upright.0;
        let (na, nb) = face.nose;
        let k = face.iod / scale;
        let target = (
            na * k - head::NOSE_BASE * m[0][2],
            nb * k - head::NOSE_BASE * m[1][2],
        );
        let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        let nose = if det.abs() > 1e-6 {
            (
                (target.0 * m[1][1] - target.1 * m[0][1]) / det,
                (m[0][0] * target.1 - m[1][0] * target.0) / det,
            )
        } else {
            (0.0, head::NOSE_DROP)
        };
        let centre = rotation.apply([0.0, head::DROP, head_centre_depth()]);
        let reach = head::EDGE * head::HEIGHT.max(head::WIDTH) / 2.0 + 0.3;
        let step = 1.0 / Self::RESOLUTION;
        let (x0, y0) = (centre[0] - reach, centre[1] - reach);
        let columns = (2.0 * reach / step).ceil() as usize + 1;
        let rows = columns;
        let mut model = HeadModel {
            pose,
            rotation,
            scale,
            origin: face.mid,
            nose,
            centre,
            x0,
            y0,
            step,
            columns,
            rows,
            cells: Vec::new(),
            room: Vec::new(),
        };
        model.cells = (0..rows * columns)
            .map(|i| {
                let (x, y) = (
                    x0 + (i % columns) as f32 * step,
                    y0 + (i / columns) as f32 * step,
                );
                model.cast(x, y)
            })
            .collect();
        model.room = levels(fill_behind(rgb, &model));
        model
    }

    /// The head's frame coordinates of the photo's frame point `p` (IOD).
    fn to_head(&self, p: [f32; 3]) -> [f32; 3] {
        self.rotation.transposed().apply(p)
    }

    /// The head's surface where the camera's ray through `(x, y)` (photo
    /// frame, IOD from the origin) meets it first.
    fn cast(&self, x: f32, y: f32) -> Cell {
        let inside = |z: f32| {
            let h = self.to_head([x, y, z]);
            head_radius(h[0], h[1]) < 1.0 && h[2] <= head_shape(self.nose, h[0], h[1], 1.0)
        };
        // March from in front of the head backwards, then bisect.
        const MARCH: f32 = 0.04;
        let front = self.centre[2] + head::DEPTH / 2.0 + head::NOSE_TIP + 0.3;
        let back = self.centre[2] - 0.6;
        let mut before = front;
        let mut z = front - MARCH;
        let mut hit = None;
        while z >= back {
            if inside(z) {
                let (mut outside_at, mut inside_at) = (before, z);
                for _ in 0..10 {
                    let mid = (outside_at + inside_at) / 2.0;
                    if inside(mid) {
                        inside_at = mid;
                    } else {
                        outside_at = mid;
                    }
                }
                hit = Some((outside_at + inside_at) / 2.0);
                break;
            }
            before = z;
            z -= MARCH;
        }
        match hit {
            Some(depth) => {
                let h = self.to_head([x, y, depth]);
                let radius = head_radius(h[0], h[1]).min(0.999);
                let (alpha, hole) = head_alpha(radius, h[1]);
                Cell {
                    depth,
                    radius,
                    alpha,
                    hole,
                    normal: self.rotation.apply(head_normal(self.nose, h[0], h[1])),
                }
            }
            None => {
                // Off the ellipse: the hair and the ears, on a ring that
                // bends back from the rim like the side of a head (turned
                // away, it goes behind the head; turned towards the
                // camera, it comes round).
                let h = self.to_head([x, y, self.centre[2]]);
                let radius = head_radius(h[0], h[1]).max(1.0);
                let (alpha, hole) = head_alpha(radius, h[1]);
                Cell {
                    depth: self.centre[2] - head::RING_SLOPE * (radius - 1.0),
                    radius,
                    alpha,
                    hole,
                    normal: self.rotation.apply(head_normal(self.nose, h[0], h[1])),
                }
            }
        }
    }

    /// The map at photo pixel `(x, y)`, interpolated; `None` off the map.
    fn sample(&self, x: f32, y: f32) -> Option<Cell> {
        let gx = ((x - self.origin.x) / self.scale - self.x0) / self.step;
        let gy = ((y - self.origin.y) / self.scale - self.y0) / self.step;
        if !(gx >= 0.0 && gy >= 0.0) {
            return None;
        }
        let (i, j) = (gx as usize, gy as usize);
        if i + 1 >= self.columns || j + 1 >= self.rows {
            return None;
        }
        let (fx, fy) = (gx - i as f32, gy - j as f32);
        let at = |i: usize, j: usize| &self.cells[j * self.columns + i];
        let (c00, c10, c01, c11) = (at(i, j), at(i + 1, j), at(i, j + 1), at(i + 1, j + 1));
        let mix =
            |f: &dyn Fn(&Cell) -> f32| lerp(lerp(f(c00), f(c10), fx), lerp(f(c01), f(c11), fx), fy);
        Some(Cell {
            depth: mix(&|c| c.depth),
            radius: mix(&|c| c.radius),
            alpha: mix(&|c| c.alpha),
            hole: mix(&|c| c.hole),
            normal: normalise([
                mix(&|c| c.normal[0]),
                mix(&|c| c.normal[1]),
                mix(&|c| c.normal[2]),
            ]),
        })
    }

    /// The ellipsoid's centre: photo x, y and depth (pixels).
    fn pivot(&self) -> (f32, f32, f32) {
        (
            self.origin.x + self.centre[0] * self.scale,
            self.origin.y + self.centre[1] * self.scale,
            self.centre[2] * self.scale,
        )
    }

    /// The background's depth, photo pixels.
    fn background(&self) -> f32 {
        -head::BACKGROUND * self.scale
    }
}

/// The head's opacity at normalised radius `r`, `b` IOD below the eyes
/// (head frame): 1 out to [`head::CUT`], fading to 0 at [`head::EDGE`];
/// below the chin the cut closes in to the ellipse (the neck stays with
/// the body). And the share of the photo there that is the head's
/// ([`Cell::hole`]).
fn head_alpha(r: f32, b: f32) -> (f32, f32) {
    let chin = smoothstep((b - 1.4) / 0.5);
    let cut = lerp(head::CUT, 1.0, chin);
    let edge = cut + lerp(head::EDGE - head::CUT, 0.06, chin);
    let alpha = 1.0 - smoothstep((r - cut) / (edge - cut));
    let hole = 1.0 - smoothstep((r - (cut - 0.08)) / 0.08);
    (alpha, hole)
}

/// The photo with the head's part (out to [`head::CUT`]) filled in from
/// around it: the room a turning head uncovers. The fill is the
/// surroundings' colours diffused inwards on a coarse grid (cells of an
/// eighth of the IOD), smooth and faceless.
fn fill_behind(rgb: &RgbImage, model: &HeadModel) -> RgbImage {
    let (w, h) = rgb.dimensions();
    // The map's extent in the photo: everything the head can cover.
    let corner = |i: f32, j: f32| {
        (
            model.origin.x + (model.x0 + i * model.step) * model.scale,
            model.origin.y + (model.y0 + j * model.step) * model.scale,
        )
    };
    let (ax, ay) = corner(0.0, 0.0);
    let (bx, by) = corner((model.columns - 1) as f32, (model.rows - 1) as f32);
    let (x0, y0) = (ax.max(0.0) as u32, ay.max(0.0) as u32);
    let (x1, y1) = ((bx.max(0.0) as u32).min(w), (by.max(0.0) as u32).min(h));
    let mut out = rgb.clone();
    if x0 >= x1 || y0 >= y1 {
        return out;
    }
    // How much of each pixel is the head's (1 well inside the cut, 0 past
    // it: the head's soft edge then blends the photo over the photo).
    let hole = |x: u32, y: u32| -> f32 {
        match model.sample(x as f32 + 0.5, y as f32 + 0.5) {
            Some(cell) => cell.hole,
            None => 0.0,
        }
    };
    let cell = (model.scale / 8.0).max(2.0) as u32;
    let (gw, gh) = ((x1 - x0).div_ceil(cell), (y1 - y0).div_ceil(cell));
    let (gw, gh) = (gw as usize, gh as usize);
    let mut grid = vec![[0f32; 3]; gw * gh];
    let mut known = vec![false; gw * gh];
    let mut holes = vec![0f32; ((x1 - x0) * (y1 - y0)) as usize];
    for y in y0..y1 {
        for x in x0..x1 {
            holes[((y - y0) * (x1 - x0) + (x - x0)) as usize] = hole(x, y);
        }
    }
    for gy in 0..gh {
        for gx in 0..gw {
            let (mut sum, mut n, mut total) = ([0f32; 3], 0u32, 0u32);
            for y in (y0 + gy as u32 * cell)..(y0 + (gy as u32 + 1) * cell).min(y1) {
                for x in (x0 + gx as u32 * cell)..(x0 + (gx as u32 + 1) * cell).min(x1) {
                    total += 1;
                    if holes[((y - y0) * (x1 - x0) + (x - x0)) as usize] <= 0.0 {
                        let p = rgb.get_pixel(x, y);
                        for k in 0..3 {
                            sum[k] += f32::from(p[k]);
                        }
                        n += 1;
                    }
                }
            }
            let i = gy * gw + gx;
            if n * 2 >= total && n > 0 {
                grid[i] = sum.map(|v| v / n as f32);
                known[i] = true;
            }
        }
    }
    // The unknown cells: the known ones' mean, then diffused.
    let (mut mean, mut n) = ([0f32; 3], 0f32);
    for (c, _) in grid.iter().zip(&known).filter(|(_, k)| **k) {
        for k in 0..3 {
            mean[k] += c[k];
        }
        n += 1.0;
    }
    let mean = if n > 0.0 {
        mean.map(|v| v / n)
    } else {
        [128.0; 3]
    };
    for (c, _) in grid.iter_mut().zip(&known).filter(|(_, k)| !**k) {
        *c = mean;
    }
    for _ in 0..400 {
        let before = grid.clone();
        for gy in 0..gh {
            for gx in 0..gw {
                let i = gy * gw + gx;
                if known[i] {
                    continue;
                }
                let (mut sum, mut n) = ([0f32; 3], 0f32);
                let mut add = |j: usize| {
                    for k in 0..3 {
                        sum[k] += before[j][k];
                    }
                    n += 1.0;
                };
                if gx > 0 {
                    add(i - 1);
                }
                if gx + 1 < gw {
                    add(i + 1);
                }
                if gy > 0 {
                    add(i - gw);
                }
                if gy + 1 < gh {
                    add(i + gw);
                }
                grid[i] = sum.map(|v| v / n.max(1.0));
            }
        }
    }
    // Composited at full size, the grid interpolated between cell centres.
    for y in y0..y1 {
        for x in x0..x1 {
            let a = holes[((y - y0) * (x1 - x0) + (x - x0)) as usize];
            if a <= 0.0 {
                continue;
            }
            let gx = ((x - x0) as f32 + 0.5) / cell as f32 - 0.5;
            let gy = ((y - y0) as f32 + 0.5) / cell as f32 - 0.5;
            let (gx, gy) = (
                gx.clamp(0.0, (gw - 1) as f32),
                gy.clamp(0.0, (gh - 1) as f32),
            );
            let (i, j) = (gx as usize, gy as usize);
            let (i1, j1) = ((i + 1).min(gw - 1), (j + 1).min(gh - 1));
            let (fx, fy) = (gx - i as f32, gy - j as f32);
            let p = out.get_pixel_mut(x, y);
            for k in 0..3 {
                let v = lerp(
                    lerp(grid[j * gw + i][k], grid[j * gw + i1][k], fx),
                    lerp(grid[j1 * gw + i][k], grid[j1 * gw + i1][k], fx),
                    fy,
                );
                p[k] = to_byte(lerp(f32::from(p[k]), v, a));
            }
        }
    }
    out
}

/// A photo and its face: the texture of every render.
pub struct Photo {
    pub name: String,
    pub landmarks: Landmarks,
    pub face: Face,
    /// The head it shows, modelled the first time a head is rendered.
    head: OnceLock<HeadModel>,
    /// The photo, then halved again and again (level `i` is `2^i` times
    /// smaller).
    levels: Vec<RgbImage>,
}

impl std::fmt::Debug for Photo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Photo")
            .field("name", &self.name)
            .field("size", &self.levels[0].dimensions())
            .field("landmarks", &self.landmarks)
            .finish()
    }
}

impl Photo {
    pub fn new(name: impl Into<String>, rgb: RgbImage, landmarks: Landmarks) -> Photo {
        Photo {
            name: name.into(),
            landmarks,
            face: Face::new(&landmarks),
            head: OnceLock::new(),
            levels: levels(rgb),
        }
    }

    /// A test photo (`bv_face_engine::fixtures`), its landmarks found by the
    /// engine.
    pub fn fixture(engine: &FaceEngine, name: &str) -> anyhow::Result<Photo> {
        let capture = bv_face_engine::fixtures::photo(name);
        let observed = engine
            .observe(&capture)
            .map_err(|e| anyhow::anyhow!("{name}: no face to render ({e:?})"))?;
        Ok(Photo::new(name, capture.rgb, observed.landmarks))
    }

    pub fn rgb(&self) -> &RgbImage {
        &self.levels[0]
    }

    /// The head the photo shows ([`Relief::Head`]): its pose in the photo
    /// and its depth map, made on first use.
    pub fn head(&self) -> &HeadModel {
        self.head
            .get_or_init(|| HeadModel::new(&self.face, &self.levels[0]))
    }

    /// The face's pose in the photo, estimated from its landmarks: the view
    /// in which a head render reproduces the photo.
    pub fn pose(&self) -> View {
        self.face.pose()
    }
}

/// An image, then halved again and again (level `i` is `2^i` times
/// smaller), down to 32 pixels.
fn levels(rgb: RgbImage) -> Vec<RgbImage> {
    let mut levels = vec![rgb];
    loop {
        let last = &levels[levels.len() - 1];
        let (w, h) = (last.width() / 2, last.height() / 2);
        if w < 32 || h < 32 {
            break;
        }
        let half = imageops::resize(last, w, h, FilterType::Triangle);
        levels.push(half);
    }
    levels
}

/// Where the surface is and how it is turned, for one frame: for a head,
/// its pose in the render (the photo's own pose is undone first); for a
/// print, the print's turn from facing the camera.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct View {
    /// Degrees; positive: turned to the person's left (the nose moves to
    /// the image's right).
    pub yaw_deg: f32,
    /// Degrees; positive: looking up (the nose moves up).
    pub pitch_deg: f32,
    /// Degrees; positive: clockwise in the image.
    pub roll_deg: f32,
    /// The pivot's offset from the image's centre, output pixels.
    pub shift_x: f32,
    pub shift_y: f32,
    /// How much closer than the scene's distance (1: the face's IOD is
    /// [`Scene::iod_px`]).
    pub scale: f32,
}

impl View {
    pub const FRONT: View = View {
        yaw_deg: 0.0,
        pitch_deg: 0.0,
        roll_deg: 0.0,
        shift_x: 0.0,
        shift_y: 0.0,
        scale: 1.0,
    };

    /// Component-wise interpolation from `self` (t = 0) to `to` (t = 1).
    pub fn lerp(&self, to: &View, t: f32) -> View {
        View {
            yaw_deg: lerp(self.yaw_deg, to.yaw_deg, t),
            pitch_deg: lerp(self.pitch_deg, to.pitch_deg, t),
            roll_deg: lerp(self.roll_deg, to.roll_deg, t),
            shift_x: lerp(self.shift_x, to.shift_x, t),
            shift_y: lerp(self.shift_y, to.shift_y, t),
            scale: lerp(self.scale, to.scale, t),
        }
    }
}

impl Default for View {
    fn default() -> Self {
        View::FRONT
    }
}

/// The camera and the room.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scene {
    /// The focal length, in output widths.
    pub focal: f32,
    /// The face's eye-centre distance in the output, pixels, at
    /// [`View::scale`] 1 facing the camera.
    pub iod_px: f32,
    /// The wall behind a print: its mean colour.
    pub wall: [u8; 3],
    /// The wall's pattern (any number; the same number, the same wall).
    pub wall_seed: u64,
}

impl Default for Scene {
    fn default() -> Self {
        Scene {
            focal: 1.0,
            iod_px: 85.0,
            wall: [178, 170, 158],
            wall_seed: 1,
        }
    }
}

/// A rotation matrix: pitch, then yaw, then roll (`bv_face_engine::pose`).
#[derive(Clone, Copy, Debug)]
struct Rotation([[f32; 3]; 3]);

impl Rotation {
    fn new(view: &View) -> Rotation {
        let (sp, cp) = view.pitch_deg.to_radians().sin_cos();
        let (sy, cy) = view.yaw_deg.to_radians().sin_cos();
        let (sr, cr) = view.roll_deg.to_radians().sin_cos();
        let pitch = [[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]];
        let yaw = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]];
        let roll = [[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]];
        Rotation(mul(&roll, &mul(&yaw, &pitch)))
    }

    fn transposed(&self) -> Rotation {
        let m = &self.0;
        Rotation([
            [m[0][0], m[1][0], m[2][0]],
            [m[0][1], m[1][1], m[2][1]],
            [m[0][2], m[1][2], m[2][2]],
        ])
    }

    fn then(&self, next: &Rotation) -> Rotation {
        Rotation(mul(&next.0, &self.0))
    }

    fn apply(&self, p: [f32; 3]) -> [f32; 3] {
        let m = &self.0;
        [
            m[0][0] * p[0] + m[0][1] * p[1] + m[0][2] * p[2],
            m[1][0] * p[0] + m[1][1] * p[1] + m[1][2] * p[2],
            m[2][0] * p[0] + m[2][1] * p[1] + m[2][2] * p[2],
        ]
    }
}

fn mul(a: &[[f32; 3]; 3], b: &[[f32; 3]; 3]) -> [[f32; 3]; 3] {
    let mut out = [[0.0; 3]; 3];
    for (i, row) in out.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    out
}

/// Where a photo's points land in one render: the relief, the pose and the
/// camera, set up once.
pub struct Projection<'a> {
    photo: &'a Photo,
    relief: Relief,
    rotation: Rotation,
    /// The pivot: photo x, y and depth.
    pivot: (f32, f32, f32),
    /// The distance the photo is taken from (its points are placed back
    /// along their rays with it), photo pixels.
    model_distance: f32,
    /// The camera's distance from the eye plane in this view.
    distance: f32,
    focal: f32,
    /// The view's shift, world units.
    shift: (f32, f32),
    centre: (f32, f32),
    /// Output pixels per photo pixel on the eye plane.
    magnification: f32,
}

/// A projected point: output x, y, and the camera's distance to it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Projected {
    pub x: f32,
    pub y: f32,
    pub distance: f32,
}

impl<'a> Projection<'a> {
    pub fn new(
        photo: &'a Photo,
        relief: &Relief,
        view: &View,
        scene: &Scene,
        out_w: u32,
        out_h: u32,
    ) -> Projection<'a> {
        let focal = scene.focal * out_w as f32;
        // A head's IOD unforeshortened (it faces the camera at FRONT); a
        // print's as printed.
        let (iod, rotation) = match relief {
            Relief::Head => {
                let model = photo.head();
                (
                    model.scale,
                    model.rotation.transposed().then(&Rotation::new(view)),
                )
            }
            _ => (photo.face.iod, Rotation::new(view)),
        };
        let base = scene.iod_px / iod;
        let model_distance = focal / base;
        let scale = view.scale.max(0.05);
        let distance = model_distance / scale;
        Projection {
            photo,
            relief: *relief,
            rotation,
            pivot: relief.pivot(photo),
            model_distance,
            distance,
            focal,
            shift: (
                view.shift_x * distance / focal,
                view.shift_y * distance / focal,
            ),
            centre: (out_w as f32 / 2.0, out_h as f32 / 2.0),
            magnification: base * scale,
        }
    }

    /// Photo point `(x, y)` at depth `z`, placed back along its ray, in
    /// world coordinates relative to the pivot's photo position.
    fn placed(&self, x: f32, y: f32, z: f32) -> [f32; 3] {
        let back = (self.model_distance - z) / self.model_distance;
        [(x - self.pivot.0) * back, (y - self.pivot.1) * back, z]
    }

    /// A world point turned about the pivot.
    fn turned(&self, p: [f32; 3]) -> [f32; 3] {
        let pz = self.pivot.2;
        let r = self.rotation.apply([p[0], p[1], p[2] - pz]);
        [r[0], r[1], r[2] + pz]
    }

    fn to_image(&self, p: [f32; 3]) -> Projected {
        let distance = self.distance - p[2];
        let x = p[0] + self.shift.0;
        let y = p[1] + self.shift.1;
        let d = distance.max(1e-3);
        Projected {
            x: self.centre.0 + self.focal * x / d,
            y: self.centre.1 + self.focal * y / d,
            distance,
        }
    }

    /// Where photo pixel `(x, y)` of a head's background lands: it stays
    /// where it is.
    fn still(&self, x: f32, y: f32) -> Projected {
        let background = self.photo.head().background();
        self.to_image(self.placed(x, y, background))
    }

    /// Where photo pixel `(x, y)` of a head lands, with the shading factor
    /// of the surface there (1 where it faces the light as it did in the
    /// photo) and the head's opacity; `None` off the head's map.
    fn head_vertex(&self, x: f32, y: f32) -> Option<(Projected, f32, f32)> {
        let model = self.photo.head();
        let cell = model.sample(x, y)?;
        let p = self.turned(self.placed(x, y, cell.depth * model.scale));
        let shade = self.shade(cell.normal, head::SHADING);
        Some((self.to_image(p), shade, cell.alpha))
    }

    /// Where photo pixel `(x, y)` of a print lands, with the shading factor
    /// there.
    fn print_vertex(&self, x: f32, y: f32) -> (Projected, f32) {
        let z = self.relief.depth(self.photo, x, y);
        let p = self.turned(self.placed(x, y, z));
        let normal = self.print_normal(x, y);
        (self.to_image(p), self.shade(normal, PRINT_SHADING))
    }

    /// A print's normal at `(x, y)`, from its depth.
    fn print_normal(&self, x: f32, y: f32) -> [f32; 3] {
        let depth = |x: f32, y: f32| self.relief.depth(self.photo, x, y);
        let h = 1.0;
        let dzdx = (depth(x + h, y) - depth(x - h, y)) / (2.0 * h);
        let dzdy = (depth(x, y + h) - depth(x, y - h)) / (2.0 * h);
        normalise([-dzdx, -dzdy, 1.0])
    }

    /// How much brighter a surface of normal `n` (in the photo) is for
    /// being turned, `gain` times a Lambertian light above and left of the
    /// camera.
    fn shade(&self, n: [f32; 3], gain: f32) -> f32 {
        let light = normalise([-0.3, -0.4, 1.0]);
        let turned = self.rotation.apply(n);
        let dot = |a: [f32; 3]| a[0] * light[0] + a[1] * light[1] + a[2] * light[2];
        (1.0 + gain * (dot(turned) - dot(n))).clamp(0.55, 1.2)
    }

    /// Where photo pixel `(x, y)` lands in the render: output x, y (a
    /// head's point on the head where the head is, else on the background).
    pub fn project(&self, x: f32, y: f32) -> Projected {
        match self.relief {
            Relief::Head => match self.head_vertex(x, y) {
                Some((p, _, alpha)) if alpha > 0.0 => p,
                _ => self.still(x, y),
            },
            _ => self.print_vertex(x, y).0,
        }
    }
}

fn normalise(v: [f32; 3]) -> [f32; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt().max(1e-12);
    [v[0] / n, v[1] / n, v[2] / n]
}

/// Renders `photo` as `relief` seen in `view`, `out_w` × `out_h`, with the
/// default [`Scene`].
pub fn render(photo: &Photo, relief: &Relief, view: &View, out_w: u32, out_h: u32) -> RgbImage {
    render_with(photo, relief, view, &Scene::default(), out_w, out_h)
}

/// One mesh vertex, projected: output position, 1/distance, texture
/// position (in the chosen level's pixels), shading and opacity.
#[derive(Clone, Copy, Debug, Default)]
struct Vertex {
    x: f32,
    y: f32,
    inv: f32,
    s: f32,
    t: f32,
    shade: f32,
    alpha: f32,
    visible: bool,
}

/// Renders `photo` as `relief` seen in `view` with `scene`'s camera and
/// wall.
pub fn render_with(
    photo: &Photo,
    relief: &Relief,
    view: &View,
    scene: &Scene,
    out_w: u32,
    out_h: u32,
) -> RgbImage {
    let projection = Projection::new(photo, relief, view, scene, out_w, out_h);
    let mut out = wall(out_w, out_h, scene.wall, scene.wall_seed);
    if out_w == 0 || out_h == 0 {
        return out;
    }
    let magnification = projection.magnification;
    // The texture level: no more than about one texel per output pixel.
    let level =
        ((1.0 / magnification).log2().floor().max(0.0) as usize).min(photo.levels.len() - 1);
    let mut depth = vec![0f32; (out_w * out_h) as usize];
    let mut raster = Raster {
        width: out_w as i32,
        height: out_h as i32,
        out: &mut out,
        depth: &mut depth,
        texture: &photo.levels[level],
    };
    // Cells `pixels` output pixels wide: small where the surface curves,
    // large where it is flat (texture is interpolated without perspective
    // within a cell, which on a 12-pixel cell of a print turned 40° is a
    // few tenths of a pixel off).
    let mesh = |pixels: f32| Mesh {
        projection: &projection,
        step: (pixels / magnification).clamp(1.0, 256.0),
        texel: (1u32 << level) as f32,
        size: (photo.rgb().width() as f32, photo.rgb().height() as f32),
    };
    match relief {
        Relief::Head => {
            let model = photo.head();
            // The room, as far as the render shows it: the photo with the
            // head filled in, staying where it is (mirrored past the photo's
            // edges, which the room goes on beyond).
            let b = model.background();
            let d = projection.model_distance;
            let spread = (projection.distance - b) / projection.focal * d / (d - b);
            let to_photo = |u: f32, c: f32, shift: f32, pivot: f32| {
                pivot + (u - c) * spread - shift * d / (d - b)
            };
            let (c, t, v) = (projection.centre, projection.shift, projection.pivot);
            let margin = 24.0;
            let region = (
                to_photo(-margin, c.0, t.0, v.0),
                to_photo(out_w as f32 + margin, c.0, t.0, v.0),
                to_photo(-margin, c.1, t.1, v.1),
                to_photo(out_h as f32 + margin, c.1, t.1, v.1),
            );
            raster.texture = &model.room[level.min(model.room.len() - 1)];
            // Flat and facing the camera: large cells.
            mesh(32.0).draw(&mut raster, region, |x, y| {
                Some((projection.still(x, y), 1.0, 1.0))
            });
            // The head, with its soft edge, over it.
            let (x0, y0) = (
                model.origin.x + model.x0 * model.scale,
                model.origin.y + model.y0 * model.scale,
            );
            let reach = |n: usize| (n - 1) as f32 * model.step * model.scale;
            let region = (x0, x0 + reach(model.columns), y0, y0 + reach(model.rows));
            raster.texture = &photo.levels[level];
            mesh(4.0).draw(&mut raster, region, |x, y| projection.head_vertex(x, y));
        }
        _ => {
            // A flat print's cells can be large; a fold's are small, to keep
            // its crease sharp.
            let mesh = mesh(if *relief == Relief::Plane { 12.0 } else { 5.0 });
            let region = (0.0, mesh.size.0, 0.0, mesh.size.1);
            mesh.draw(&mut raster, region, |x, y| {
                let (p, shade) = projection.print_vertex(x, y);
                Some((p, shade, 1.0))
            });
        }
    }
    out
}

/// A grid of vertices over a region of the photo, to draw.
struct Mesh<'a> {
    projection: &'a Projection<'a>,
    /// Photo pixels between vertices.
    step: f32,
    /// Photo pixels per texel of the texture level drawn.
    texel: f32,
    /// The photo's size.
    size: (f32, f32),
}

impl Mesh<'_> {
    /// Draws the grid over photo region `(x0, x1, y0, y1)`, each vertex
    /// placed by `vertex` (output point, shading, opacity; `None`: no
    /// vertex, and no cell touching it).
    fn draw(
        &self,
        raster: &mut Raster<'_>,
        (x0, x1, y0, y1): (f32, f32, f32, f32),
        vertex: impl Fn(f32, f32) -> Option<(Projected, f32, f32)>,
    ) {
        if !(x1 > x0 && y1 > y0) {
            return;
        }
        let step = self.step;
        let columns = ((x1 - x0) / step).ceil().max(1.0) as usize + 1;
        let rows = ((y1 - y0) / step).ceil().max(1.0) as usize + 1;
        let near = 0.05 * self.projection.distance;
        let (pw, ph) = self.size;
        let mut vertices = Vec::with_capacity(columns * rows);
        for j in 0..rows {
            let y = (y0 + j as f32 * step).min(y1);
            for i in 0..columns {
                let x = (x0 + i as f32 * step).min(x1);
                let Some((p, shade, alpha)) = vertex(x, y) else {
                    vertices.push(Vertex::default());
                    continue;
                };
                // Past the photo's sides and bottom the room is the photo
                // mirrored; above it, its top row stretched (a head near the
                // photo's top would be mirrored into a second one).
                let (sx, sy) = (mirror(x, pw), mirror(y.max(0.0), ph));
                vertices.push(Vertex {
                    x: p.x,
                    y: p.y,
                    inv: 1.0 / p.distance.max(1e-3),
                    s: sx / self.texel - 0.5,
                    t: sy / self.texel - 0.5,
                    shade,
                    alpha,
                    visible: p.distance > near,
                });
            }
        }
        for j in 0..rows - 1 {
            for i in 0..columns - 1 {
                let a = vertices[j * columns + i];
                let b = vertices[j * columns + i + 1];
                let c = vertices[(j + 1) * columns + i];
                let d = vertices[(j + 1) * columns + i + 1];
                if !(a.visible && b.visible && c.visible && d.visible)
                    || a.alpha + b.alpha + c.alpha + d.alpha <= 0.0
                {
                    continue;
                }
                raster.triangle(&a, &b, &d);
                raster.triangle(&a, &d, &c);
            }
        }
    }
}

/// `v` reflected into `[0, size]`.
fn mirror(v: f32, size: f32) -> f32 {
    let v = if v < 0.0 { -v } else { v };
    let v = if v > size { 2.0 * size - v } else { v };
    v.clamp(0.0, size)
}

struct Raster<'a> {
    width: i32,
    height: i32,
    out: &'a mut [u8],
    depth: &'a mut [f32],
    texture: &'a RgbImage,
}

impl Raster<'_> {
    fn triangle(&mut self, a: &Vertex, b: &Vertex, c: &Vertex) {
        let (w, h) = (self.width, self.height);
        let area = (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
        if !area.is_finite() || area.abs() < 1e-6 {
            return;
        }
        let (b, c) = if area < 0.0 { (c, b) } else { (b, c) };
        let area = area.abs();
        let min_x = (a.x.min(b.x).min(c.x) - 0.5).floor().max(0.0) as i32;
        let max_x = (a.x.max(b.x).max(c.x) - 0.5).ceil().min((w - 1) as f32) as i32;
        let min_y = (a.y.min(b.y).min(c.y) - 0.5).floor().max(0.0) as i32;
        let max_y = (a.y.max(b.y).max(c.y) - 0.5).ceil().min((h - 1) as f32) as i32;
        if min_x > max_x || min_y > max_y {
            return;
        }
        // Edge functions (positive inside) at the first pixel centre of the
        // box, and their steps along x and y.
        let edge = |p: &Vertex, q: &Vertex, x: f32, y: f32| {
            (q.x - p.x) * (y - p.y) - (q.y - p.y) * (x - p.x)
        };
        let (x0, y0) = (min_x as f32 + 0.5, min_y as f32 + 0.5);
        let start = [edge(b, c, x0, y0), edge(c, a, x0, y0), edge(a, b, x0, y0)];
        let dx = [-(c.y - b.y), -(a.y - c.y), -(b.y - a.y)];
        let dy = [c.x - b.x, a.x - c.x, b.x - a.x];
        // Every attribute is a plane over the image: its value at the first
        // pixel centre and its steps.
        let inv_area = 1.0 / area;
        let plane = |f: &dyn Fn(&Vertex) -> f32| {
            let (fa, fb, fc) = (f(a), f(b), f(c));
            let at = |e: [f32; 3]| (e[0] * fa + e[1] * fb + e[2] * fc) * inv_area;
            (at(start), at(dx), at(dy))
        };
        let planes = [
            plane(&|v| v.inv),
            plane(&|v| v.s),
            plane(&|v| v.t),
            plane(&|v| v.shade),
            plane(&|v| v.alpha),
        ];
        let eps = -1e-3 * area.max(1.0).sqrt();
        let (tw, th) = (self.texture.width(), self.texture.height());
        let texels = self.texture.as_raw();
        let out_w = w as usize;
        let columns = (max_x - min_x) as f32;
        for row in 0..=(max_y - min_y) {
            let r = row as f32;
            let e: [f32; 3] = std::array::from_fn(|k| start[k] + dy[k] * r);
            // The span of the row inside all three edges.
            let (mut from, mut to) = (0f32, columns);
            for k in 0..3 {
                let need = eps - e[k];
                if dx[k] > 0.0 {
                    from = from.max((need / dx[k]).ceil());
                } else if dx[k] < 0.0 {
                    to = to.min((need / dx[k]).floor());
                } else if need > 0.0 {
                    to = -1.0;
                }
            }
            if from > to {
                continue;
            }
            let value = |k: usize, i: f32| planes[k].0 + planes[k].2 * r + planes[k].1 * i;
            let (mut inv, mut s, mut t, mut shade, mut alpha) = (
                value(0, from),
                value(1, from),
                value(2, from),
                value(3, from),
                value(4, from),
            );
            let line = (min_y + row) as usize * out_w + min_x as usize;
            for i in from as usize..=to as usize {
                let index = line + i;
                if inv > self.depth[index] {
                    // A see-through edge hides nothing behind it.
                    if alpha > 0.5 {
                        self.depth[index] = inv;
                    }
                    let rgb = bilinear(texels, tw, th, s, t);
                    let o = index * 3;
                    let pixel = &mut self.out[o..o + 3];
                    if alpha >= 0.999 {
                        for k in 0..3 {
                            pixel[k] = to_byte(rgb[k] * shade);
                        }
                    } else {
                        let alpha = alpha.max(0.0);
                        for k in 0..3 {
                            pixel[k] = to_byte(lerp(f32::from(pixel[k]), rgb[k] * shade, alpha));
                        }
                    }
                }
                inv += planes[0].1;
                s += planes[1].1;
                t += planes[2].1;
                shade += planes[3].1;
                alpha += planes[4].1;
            }
        }
    }
}

/// A level rounded to a byte, saturating (`as` saturates; NaN is 0): no
/// call to `roundf` per channel.
pub(crate) fn to_byte(v: f32) -> u8 {
    (v + 0.5) as u8
}

/// A bilinear sample of an RGB buffer at `(s, t)` (pixel centres at
/// integers), clamped to the edges.
/// In fixed point (8-bit fractions): the render's hottest loop.
fn bilinear(texels: &[u8], w: u32, h: u32, s: f32, t: f32) -> [f32; 3] {
    let si = (s.clamp(0.0, (w - 1) as f32) * 256.0) as u32;
    let ti = (t.clamp(0.0, (h - 1) as f32) * 256.0) as u32;
    let (x0, y0) = (si >> 8, ti >> 8);
    let (fx, fy) = (si & 255, ti & 255);
    let dx = if x0 + 1 < w { 3 } else { 0 };
    let dy = if y0 + 1 < h { w as usize * 3 } else { 0 };
    let i = (y0 * w + x0) as usize * 3;
    let (top, bottom) = (&texels[i..i + dx + 3], &texels[i + dy..i + dy + dx + 3]);
    let mut out = [0.0; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let row = |r: &[u8]| u32::from(r[k]) * (256 - fx) + u32::from(r[k + dx]) * fx;
        let v = row(top) * (256 - fy) + row(bottom) * fy;
        *o = v as f32 * (1.0 / 65536.0);
    }
    out
}

/// A wall: `colour` with a soft large-scale mottling and a fine grain, the
/// same for the same `seed`. Each thread keeps the last one it made (a
/// sample's frames share their wall).
pub fn wall(out_w: u32, out_h: u32, colour: [u8; 3], seed: u64) -> RgbImage {
    type Key = (u32, u32, [u8; 3], u64);
    thread_local! {
        static LAST: std::cell::RefCell<Option<(Key, RgbImage)>> =
            const { std::cell::RefCell::new(None) };
    }
    let key = (out_w, out_h, colour, seed);
    LAST.with_borrow_mut(|last| {
        if let Some((k, image)) = last.as_ref()
            && *k == key
        {
            return image.clone();
        }
        let image = paint_wall(out_w, out_h, colour, seed);
        *last = Some((key, image.clone()));
        image
    })
}

fn paint_wall(out_w: u32, out_h: u32, colour: [u8; 3], seed: u64) -> RgbImage {
    // A coarse grid of random brightness, interpolated.
    const CELL: u32 = 80;
    let (gw, gh) = (out_w / CELL + 2, out_h / CELL + 2);
    let coarse: Vec<f32> = (0..gw * gh)
        .map(|i| (hash(seed, u64::from(i)) % 1000) as f32 / 1000.0 * 0.12 - 0.06)
        .collect();
    let mut out = RgbImage::new(out_w, out_h);
    for (x, y, pixel) in out.enumerate_pixels_mut() {
        let (gx, gy) = (x as f32 / CELL as f32, y as f32 / CELL as f32);
        let (ix, iy) = (gx as u32, gy as u32);
        let (fx, fy) = (smoothstep(gx - ix as f32), smoothstep(gy - iy as f32));
        let g = |i: u32, j: u32| coarse[(j * gw + i) as usize];
        let mottle = lerp(
            lerp(g(ix, iy), g(ix + 1, iy), fx),
            lerp(g(ix, iy + 1), g(ix + 1, iy + 1), fx),
            fy,
        );
        // A light falling off towards the bottom and the edges.
        let vignette = 1.0
            - 0.1
                * ((x as f32 / out_w as f32 - 0.5).powi(2)
                    + (y as f32 / out_h as f32 - 0.3).powi(2));
        let grain =
            (hash(seed ^ 0x5bd1_e995, (u64::from(y) << 32) | u64::from(x)) % 9) as f32 - 4.0;
        let factor = (1.0 + mottle) * vignette;
        *pixel = Rgb(colour.map(|c| to_byte(f32::from(c) * factor + grain)));
    }
    out
}

/// SplitMix64 of `seed` and `i`.
fn hash(seed: u64, i: u64) -> u64 {
    let mut z = seed
        .wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic photo: eyes 100 px apart centred at (300, 300), the nose
    /// base 75 px below, on a smooth colour ramp with a checker.
    fn synthetic() -> Photo {
        let rgb = RgbImage::from_fn(600, 700, |x, y| {
            let check = if (x / 20 + y / 20) % 2 == 0 { 40 } else { 0 };
            Rgb([(x / 3) as u8 + check, (y / 3) as u8, 120 + check])
        });
        let p = Point::new;
        let landmarks = Landmarks([
            p(370.0, 300.0),
            p(330.0, 300.0),
            p(230.0, 300.0),
            p(270.0, 300.0),
            p(300.0, 375.0),
        ]);
        Photo::new("synthetic", rgb, landmarks)
    }

    fn front_scene(photo: &Photo) -> Scene {
        Scene {
            iod_px: photo.face.iod,
            ..Scene::default()
        }
    }

    /// The view that puts a photo's pivot back where it is in the photo.
    fn in_place(photo: &Photo, relief: &Relief) -> View {
        let (px, py, _) = relief.pivot(photo);
        View {
            shift_x: px - photo.rgb().width() as f32 / 2.0,
            shift_y: py - photo.rgb().height() as f32 / 2.0,
            ..View::FRONT
        }
    }

    fn mean_abs_difference(a: &RgbImage, b: &RgbImage, margin: u32) -> f32 {
        let (w, h) = a.dimensions();
        let (mut sum, mut n) = (0f64, 0f64);
        for y in margin..h - margin {
            for x in margin..w - margin {
                for k in 0..3 {
                    sum +=
                        (f64::from(a.get_pixel(x, y)[k]) - f64::from(b.get_pixel(x, y)[k])).abs();
                    n += 1.0;
                }
            }
        }
        (sum / n) as f32
    }

    #[test]
    fn a_plane_facing_the_camera_reproduces_the_photo() {
        let photo = synthetic();
        let (w, h) = photo.rgb().dimensions();
        for relief in [
            Relief::Plane,
            Relief::Head,
            Relief::Fold {
                x: 300.0,
                angle_deg: 60.0,
                convex: true,
            },
        ] {
            let view = in_place(&photo, &relief);
            let out = render_with(&photo, &relief, &view, &front_scene(&photo), w, h);
            let diff = mean_abs_difference(&out, photo.rgb(), 2);
            assert!(diff < 1.0, "{relief:?}: mean difference {diff}");
        }
    }

    /// A synthetic photo of a face posed `yaw`, `pitch`, `roll` (the mean
    /// face of the head model, eyes 100 px apart before turning).
    fn posed(yaw: f32, pitch: f32, roll: f32) -> Photo {
        let r = Rotation::new(&View {
            yaw_deg: yaw,
            pitch_deg: pitch,
            roll_deg: roll,
            ..View::FRONT
        });
        // The head's centre at the photo's centre (so that rendering it in
        // place needs no shift, which moves the head and the background
        // by different amounts).
        let centre = r.apply([0.0, head::DROP, head_centre_depth()]);
        let (ox, oy) = (300.0 - 100.0 * centre[0], 350.0 - 100.0 * centre[1]);
        let p = |a: f32, b: f32, c: f32| {
            let q = r.apply([a, b, c]);
            Point::new(ox + 100.0 * q[0], oy + 100.0 * q[1])
        };
        let landmarks = Landmarks([
            p(0.7, 0.0, 0.0),
            p(0.3, 0.0, 0.0),
            p(-0.7, 0.0, 0.0),
            p(-0.3, 0.0, 0.0),
            p(0.0, head::NOSE_DROP, head::NOSE_BASE),
        ]);
        Photo::new("posed", synthetic().rgb().clone(), landmarks)
    }

    #[test]
    fn a_photos_own_pose_is_undone() {
        let photo = posed(15.0, 6.0, 8.0);
        let pose = photo.pose();
        assert!((pose.yaw_deg - 15.0).abs() < 0.5, "{pose:?}");
        assert!((pose.pitch_deg - 6.0).abs() < 0.5, "{pose:?}");
        assert!((pose.roll_deg - 8.0).abs() < 0.1, "{pose:?}");
        let model = photo.head();
        assert!((model.scale - 100.0).abs() < 0.5, "{model:?}");
        assert!(
            (model.nose.0).abs() < 0.02 && (model.nose.1 - head::NOSE_DROP).abs() < 0.02,
            "{model:?}"
        );
        // At FRONT the head faces the camera: the nose under the eyes'
        // midpoint (to 0.04 IOD, 5°: this photo was drawn without the
        // render's perspective), the eyes level.
        let (across, down) = nose_offset(&photo, &Relief::Head, &View::FRONT);
        assert!(across.abs() < 0.04, "{across}");
        assert!((down - head::NOSE_DROP).abs() < 0.05, "{down}");
        // In the photo's pose, the render is the photo.
        let (w, h) = photo.rgb().dimensions();
        let view = View {
            yaw_deg: pose.yaw_deg,
            pitch_deg: pose.pitch_deg,
            roll_deg: pose.roll_deg,
            ..in_place(&photo, &Relief::Head)
        };
        let scene = Scene {
            iod_px: model.scale,
            ..Scene::default()
        };
        let out = render_with(&photo, &Relief::Head, &view, &scene, w, h);
        let diff = mean_abs_difference(&out, photo.rgb(), 2);
        assert!(diff < 1.0, "mean difference {diff}");
    }

    #[test]
    fn depth_signs() {
        let photo = synthetic();
        let face = &photo.face;
        let head = Relief::Head;
        let at = |x: f32, y: f32| head.depth(&photo, x, y);
        let (eye, nose, bridge) = (at(330.0, 300.0), at(300.0, 370.0), at(300.0, 300.0));
        assert!(nose > bridge && bridge > eye, "{nose} {bridge} {eye}");
        // Relative to the eye plane, in IOD: the nose's tip about 0.55 in
        // front, the eye centres on the eye plane, in their sockets.
        let tip = (360..380)
            .map(|y| at(300.0, y as f32))
            .fold(f32::MIN, f32::max)
            / face.iod;
        assert!((tip - head::NOSE_TIP).abs() < 0.06, "{tip}");
        assert!((at(250.0, 300.0) / face.iod).abs() < 0.01);
        assert!(
            at(250.0, 300.0) / face.iod < ellipsoid(-0.5, 0.0) - 0.08,
            "a socket"
        );
        // The cheeks recede towards the rim; the background is far behind.
        assert!(at(200.0, 380.0) < at(300.0, 380.0));
        assert_eq!(at(20.0, 20.0), -head::BACKGROUND * face.iod);

        let convex = Relief::Fold {
            x: 300.0,
            angle_deg: 60.0,
            convex: true,
        };
        let concave = Relief::Fold {
            x: 300.0,
            angle_deg: 60.0,
            convex: false,
        };
        assert_eq!(convex.depth(&photo, 300.0, 0.0), 0.0);
        let expected = 100.0 * 30f32.to_radians().tan();
        assert!((convex.depth(&photo, 200.0, 50.0) + expected).abs() < 1e-3);
        assert!((convex.depth(&photo, 400.0, 50.0) + expected).abs() < 1e-3);
        assert!((concave.depth(&photo, 400.0, 50.0) - expected).abs() < 1e-3);
        // The vertical line, said as any line.
        let line = Relief::FoldLine {
            point: Point::new(300.0, 10.0),
            direction: (0.0, 3.0),
            angle_deg: 60.0,
            convex: true,
        };
        assert!((line.depth(&photo, 217.0, 90.0) - convex.depth(&photo, 217.0, 90.0)).abs() < 1e-3);
        // A horizontal fold through the nose.
        let across = Relief::FoldLine {
            point: Point::new(0.0, 375.0),
            direction: (1.0, 0.0),
            angle_deg: 90.0,
            convex: false,
        };
        assert!((across.depth(&photo, 123.0, 275.0) - 100.0).abs() < 1e-3);
        assert_eq!(Relief::Plane.depth(&photo, 1.0, 2.0), 0.0);
    }

    /// Where the nose base lands relative to the eyes' midpoint, in
    /// output IOD: (across, down).
    fn nose_offset(photo: &Photo, relief: &Relief, view: &View) -> (f32, f32) {
        let projection = Projection::new(photo, relief, view, &Scene::default(), 640, 480);
        let l = &photo.landmarks;
        let p = |q: Point| projection.project(q.x, q.y);
        let (left, right, nose) = (p(l.left_eye()), p(l.right_eye()), p(l.nose()));
        let (mx, my) = ((left.x + right.x) / 2.0, (left.y + right.y) / 2.0);
        let iod = (left.x - right.x).hypot(left.y - right.y);
        ((nose.x - mx) / iod, (nose.y - my) / iod)
    }

    #[test]
    fn a_turned_head_shows_parallax_a_turned_print_does_not() {
        let photo = synthetic();
        let turned = View {
            yaw_deg: 25.0,
            ..View::FRONT
        };
        let head = nose_offset(&photo, &Relief::Head, &turned).0;
        let print = nose_offset(&photo, &Relief::Plane, &turned).0;
        // The nose base is ~0.45 IOD in front of the eyes: tan(25°)·0.45.
        assert!(head > 0.15, "head {head}");
        assert!(print.abs() < 0.03, "print {print}");
        let right = nose_offset(
            &photo,
            &Relief::Head,
            &View {
                yaw_deg: -25.0,
                ..View::FRONT
            },
        )
        .0;
        assert!(right < -0.15, "{right}");
        // A convex fold along the nose turned the same way reads as a turn.
        let fold = Relief::Fold {
            x: 300.0,
            angle_deg: 60.0,
            convex: true,
        };
        assert!(nose_offset(&photo, &fold, &turned).0 > 0.08);
    }

    #[test]
    fn looking_up_raises_the_nose() {
        let photo = synthetic();
        let front = nose_offset(&photo, &Relief::Head, &View::FRONT).1;
        let up = nose_offset(
            &photo,
            &Relief::Head,
            &View {
                pitch_deg: 20.0,
                ..View::FRONT
            },
        )
        .1;
        assert!((front - 0.75).abs() < 0.05, "{front}");
        assert!(up < front - 0.15, "{up} {front}");
        // A print tilted back shortens too, but only by the cosine.
        let tilted = nose_offset(
            &photo,
            &Relief::Plane,
            &View {
                pitch_deg: 20.0,
                ..View::FRONT
            },
        )
        .1;
        assert!(tilted > up + 0.05, "{tilted} {up}");
    }

    #[test]
    fn roll_is_clockwise_and_shift_moves_right() {
        let photo = synthetic();
        let projection = Projection::new(
            &photo,
            &Relief::Plane,
            &View {
                roll_deg: 10.0,
                shift_x: 50.0,
                ..View::FRONT
            },
            &Scene::default(),
            640,
            480,
        );
        let l = &photo.landmarks;
        let (left, right) = (
            projection.project(l.left_eye().x, l.left_eye().y),
            projection.project(l.right_eye().x, l.right_eye().y),
        );
        // Clockwise in an image whose y points down: the photo-right eye
        // goes down.
        assert!(left.y > right.y + 5.0);
        assert!((left.x + right.x) / 2.0 > 320.0 + 40.0);
        // The face's IOD is the scene's.
        assert!(((left.x - right.x).hypot(left.y - right.y) - 85.0).abs() < 1.0);
    }

    #[test]
    fn a_print_turned_far_shows_the_wall_and_no_holes() {
        let photo = synthetic();
        let view = View {
            yaw_deg: 40.0,
            pitch_deg: 10.0,
            ..View::FRONT
        };
        let scene = Scene::default();
        let out = render_with(&photo, &Relief::Plane, &view, &scene, 640, 480);
        let bare = wall(640, 480, scene.wall, scene.wall_seed);
        // The centre is the print, a corner the wall.
        assert_ne!(out.get_pixel(320, 240), bare.get_pixel(320, 240));
        assert_eq!(out.get_pixel(2, 2), bare.get_pixel(2, 2));
        // No pixel of the print's inside shows the wall: around the centre,
        // every pixel differs from the bare wall.
        let projection = Projection::new(&photo, &Relief::Plane, &view, &scene, 640, 480);
        let c = projection.project(300.0, 350.0);
        let mut holes = 0;
        for y in (c.y as u32 - 60)..(c.y as u32 + 60) {
            for x in (c.x as u32 - 40)..(c.x as u32 + 40) {
                if out.get_pixel(x, y) == bare.get_pixel(x, y) {
                    holes += 1;
                }
            }
        }
        assert_eq!(holes, 0);
    }
}
