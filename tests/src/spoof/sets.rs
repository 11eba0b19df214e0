//! Bona fide and presentation-attack capture sequences, made from the test
//! photos with [`super::render`], for measuring the active liveness check
//! (ISO/IEC 30107-3: APCER per attack class, BPCER on bona fide).
//!
//! A [`Sample`] answers a challenge `[front, A, B]` (A, B two distinct of
//! left, right, up; the six orders take turns). Each step is answered by a
//! burst of frames ([`Options::frames`], 5 by default) taken while the
//! head (or print) moves from the previous step's pose towards this one's;
//! the burst's last frame is the capture that answers the step. Every frame
//! gets a little sensor noise and goes through a JPEG at quality 80–92, as
//! the page sends them.
//!
//! Everything is drawn from seeded generators, one per sample (from
//! [`Options::seed`], the class and the sample's number): the same options
//! give the same bytes on every run, and one sample can be made alone
//! ([`Generator::sample`]).
//!
//! A sample's frames are held decoded (640×480×3 bytes each) and as the
//! JPEG bytes they decode from: a whole default set is about 3 GB, so a
//! measurement should take samples one at a time from
//! [`Generator::sample`] rather than [`bona_fide`] and [`attacks`] at once.

use bv_contract::ChallengeStep;
use bv_face_engine::FaceEngine;
use bv_face_engine::fixtures;
use image::RgbImage;
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

use super::render::{self, Photo, Relief, Scene, View};

/// What a sample is: a live person, or one of the attacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// A live head following the challenge ([`Relief::Head`]).
    BonaFide,
    /// One print facing the camera, the same image for every frame (with
    /// noise, 1–4 px shifts and recompression).
    RepeatedPhoto,
    /// A flat print turned or tilted to each step's pose.
    PrintTurned,
    /// A flat print tilted back 25–45° for `up`, turned for left and right;
    /// only challenges with `up`.
    PrintTilted,
    /// A print folded along the nose (convex or concave, 50–75°), turned
    /// or tilted to each step's pose.
    PrintFolded,
    /// Stills of the person in each step's pose (renders of the head), each
    /// burst one still repeated: no motion within a burst.
    StitchedStills,
    /// A live head whose front is one person and a later step another.
    TwoPeople,
    /// A flat print facing the camera, moved across the frame (with some
    /// scaling and rolling) for every step.
    WavedPrint,
    /// [`Class::PrintFolded`] at its most convincing: folded steeply
    /// (70–80°) along the nose and turned far (35–40°) or tilted back
    /// 30–45°. A browser test found a 70° fold turned 40° passing where
    /// the range of [`Class::PrintFolded`] had not; this class measures it.
    PrintFoldedFar,
}

impl Class {
    /// Every class; a class's place here is part of its samples' seeds,
    /// so new classes go last.
    pub const ALL: [Class; 9] = [
        Class::BonaFide,
        Class::RepeatedPhoto,
        Class::PrintTurned,
        Class::PrintTilted,
        Class::PrintFolded,
        Class::StitchedStills,
        Class::TwoPeople,
        Class::WavedPrint,
        Class::PrintFoldedFar,
    ];

    pub const ATTACKS: [Class; 8] = [
        Class::RepeatedPhoto,
        Class::PrintTurned,
        Class::PrintTilted,
        Class::PrintFolded,
        Class::PrintFoldedFar,
        Class::StitchedStills,
        Class::TwoPeople,
        Class::WavedPrint,
    ];

    /// Attack classes some of whose samples pass today (measured by
    /// `make bench`; README, "Active liveness, measured"): the integration
    /// tests do not assert their refusal.
    pub const NOT_YET_CAUGHT: [Class; 1] = [Class::PrintFoldedFar];

    /// A stable name for reports and directories.
    pub fn name(self) -> &'static str {
        match self {
            Class::BonaFide => "bona_fide",
            Class::RepeatedPhoto => "repeated_photo",
            Class::PrintTurned => "print_turned",
            Class::PrintTilted => "print_tilted",
            Class::PrintFolded => "print_folded",
            Class::StitchedStills => "stitched_stills",
            Class::TwoPeople => "two_people",
            Class::WavedPrint => "waved_print",
            Class::PrintFoldedFar => "print_folded_far",
        }
    }

    pub fn from_name(name: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.name() == name)
    }

    pub fn is_attack(self) -> bool {
        self != Class::BonaFide
    }

    /// The class's number in [`Class::ALL`], part of its samples' seeds.
    fn index(self) -> u64 {
        Class::ALL.iter().position(|&c| c == self).unwrap_or(0) as u64
    }
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One step of a sample: the burst that answers it.
#[derive(Clone)]
pub struct Step {
    pub step: ChallengeStep,
    /// The frames, in order; the last is the capture answering the step.
    pub burst: Vec<RgbImage>,
    /// The JPEG bytes each frame of the burst was decoded from.
    pub jpeg: Vec<Vec<u8>>,
    /// The surface's view in the last frame (the pose the step ends in;
    /// for a print, the print's).
    pub view: View,
}

impl Step {
    /// The capture answering the step: the burst's last frame.
    pub fn capture(&self) -> &RgbImage {
        &self.burst[self.burst.len() - 1]
    }
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Step")
            .field("step", &self.step)
            .field("frames", &self.burst.len())
            .field("view", &self.view)
            .finish()
    }
}

/// A sequence answering one challenge.
#[derive(Clone, Debug)]
pub struct Sample {
    pub class: Class,
    /// Who is shown (the front's person first when there are two).
    pub person: &'static str,
    /// How it was made: photos and parameters, for people.
    pub source: String,
    pub steps: Vec<Step>,
}

impl Sample {
    pub fn challenge(&self) -> Vec<ChallengeStep> {
        self.steps.iter().map(|s| s.step).collect()
    }
}

/// How samples are made.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub width: u32,
    pub height: u32,
    /// Frames per step.
    pub frames: usize,
    /// The range the face's eye-centre distance is drawn from, per sample,
    /// output pixels (at scale 1, facing the camera).
    pub iod_px: (f32, f32),
    /// The focal length, in output widths.
    pub focal: f32,
    /// Every sample's seed derives from this one.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            width: 640,
            height: 480,
            frames: 5,
            iod_px: (70.0, 100.0),
            focal: 1.0,
            seed: 0x5EED_0B10,
        }
    }
}

/// How many bona fide samples [`bona_fide`] makes: each photo follows each
/// of the six challenge orders twice.
pub const BONA_FIDE_COUNT: usize = 48;
/// How many samples of each attack class [`attacks`] makes.
pub const ATTACK_COUNT: usize = 20;

/// The six orders of the challenge's last two steps.
pub const ORDERS: [[ChallengeStep; 2]; 6] = {
    use ChallengeStep::{Left, Right, Up};
    [
        [Left, Right],
        [Right, Left],
        [Left, Up],
        [Up, Left],
        [Right, Up],
        [Up, Right],
    ]
};

/// The orders with `up` (for [`Class::PrintTilted`]).
const ORDERS_WITH_UP: [usize; 4] = [2, 3, 4, 5];

/// The test photos with their faces found, ready to render.
pub struct Generator {
    /// Each portrait of `fixtures::PORTRAITS`, with its person.
    photos: Vec<(Photo, &'static str)>,
    options: Options,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("photos", &self.photos.len())
            .field("options", &self.options)
            .finish()
    }
}

impl Generator {
    /// Loads the test photos and finds their landmarks with `engine`.
    pub fn new(engine: &FaceEngine, options: Options) -> anyhow::Result<Generator> {
        let photos = fixtures::PORTRAITS
            .iter()
            .map(|&(name, person)| Ok((Photo::fixture(engine, name)?, person)))
            .collect::<anyhow::Result<_>>()?;
        Ok(Generator { photos, options })
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The photos (and whose they are).
    pub fn photos(&self) -> impl Iterator<Item = (&Photo, &'static str)> {
        self.photos.iter().map(|(p, who)| (p, *who))
    }

    /// The first `count` samples of `class`.
    pub fn samples(&self, class: Class, count: usize) -> Vec<Sample> {
        (0..count).map(|i| self.sample(class, i)).collect()
    }

    /// Sample number `index` of `class`: the same whatever else is made.
    pub fn sample(&self, class: Class, index: usize) -> Sample {
        let seed = mix(mix(self.options.seed, class.index()), index as u64);
        let mut maker = Maker::new(self, seed);
        let challenge = challenge(class, index);
        match class {
            Class::BonaFide => maker.bona_fide(index, challenge),
            Class::RepeatedPhoto => maker.repeated_photo(index, challenge),
            Class::PrintTurned => maker.print_turned(index, challenge),
            Class::PrintTilted => maker.print_tilted(index, challenge),
            Class::PrintFolded => maker.print_folded(index, challenge, Motion::Print),
            Class::PrintFoldedFar => maker.print_folded(index, challenge, Motion::PrintFar),
            Class::StitchedStills => maker.stitched_stills(index, challenge),
            Class::TwoPeople => maker.two_people(index, challenge),
            Class::WavedPrint => maker.waved_print(index, challenge),
        }
    }

    /// The photos of one person, by index into `photos`.
    fn of(&self, person: &str) -> Vec<usize> {
        (0..self.photos.len())
            .filter(|&i| self.photos[i].1 == person)
            .collect()
    }
}

/// The challenge sample `index` of `class` answers: the six orders in
/// turn (the four with `up` for [`Class::PrintTilted`]).
pub fn challenge(class: Class, index: usize) -> [ChallengeStep; 3] {
    let order = match class {
        Class::PrintTilted => ORDERS[ORDERS_WITH_UP[index % ORDERS_WITH_UP.len()]],
        _ => ORDERS[index % ORDERS.len()],
    };
    [ChallengeStep::Front, order[0], order[1]]
}

/// [`BONA_FIDE_COUNT`] bona fide samples with the default options.
pub fn bona_fide(engine: &FaceEngine) -> Vec<Sample> {
    build(engine, Class::BonaFide, BONA_FIDE_COUNT)
}

/// [`ATTACK_COUNT`] samples of every attack class with the default options,
/// class after class.
pub fn attacks(engine: &FaceEngine) -> Vec<Sample> {
    let generator = generator(engine);
    Class::ATTACKS
        .into_iter()
        .flat_map(|class| generator.samples(class, ATTACK_COUNT))
        .collect()
}

/// `count` samples of `class` with the default options.
pub fn build(engine: &FaceEngine, class: Class, count: usize) -> Vec<Sample> {
    generator(engine).samples(class, count)
}

fn generator(engine: &FaceEngine) -> Generator {
    Generator::new(engine, Options::default())
        .unwrap_or_else(|e| panic!("the liveness sets need the test photos: {e:#}"))
}

/// SplitMix64's finaliser over `a` and `b`: seeds that differ in one bit
/// differ everywhere.
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b
        .wrapping_add(0x9E37_79B9_7F4A_7C15)
        .wrapping_mul(0xD6E8_FEB8_6659_FD93);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What moves in front of the camera.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Motion {
    /// A head: small off-axis components, step poses as a person makes.
    Head,
    /// A print turned by hand: wider angles.
    Print,
    /// A print turned as far as it still shows a face: 35–40°, tilted
    /// 30–45°.
    PrintFar,
    /// A print tilted back further for `up`.
    Tilted,
}

/// One sample in the making: its generator and its own random numbers.
struct Maker<'g> {
    generator: &'g Generator,
    rng: StdRng,
    scene: Scene,
    /// The sensor noise for 16 random bits: the sum of two uniform bytes (a
    /// triangular distribution), scaled to the sample's σ and rounded.
    noise_table: Vec<i8>,
    /// The pose the last frame ended in.
    at: View,
    notes: Vec<String>,
}

impl<'g> Maker<'g> {
    fn new(generator: &'g Generator, seed: u64) -> Maker<'g> {
        let mut rng = StdRng::seed_from_u64(seed);
        let o = &generator.options;
        let iod_px = rng.random_range(o.iod_px.0..=o.iod_px.1);
        // Painted walls: off-white, grey, beige, pale blue, pale green.
        const WALLS: [[u8; 3]; 5] = [
            [200, 196, 188],
            [150, 150, 152],
            [184, 168, 140],
            [160, 176, 190],
            [170, 182, 160],
        ];
        let wall = WALLS[rng.random_range(0..WALLS.len())];
        let scene = Scene {
            focal: o.focal,
            iod_px,
            wall,
            wall_seed: rng.next_u64(),
        };
        let noise = rng.random_range(1.0..3.0);
        let at = View {
            shift_x: rng.random_range(-30.0..30.0),
            shift_y: rng.random_range(-20.0..20.0),
            ..View::FRONT
        };
        let notes = vec![format!(
            "IOD {iod_px:.0} px, focal {:.2} W, noise σ {noise:.1}",
            o.focal
        )];
        let noise_table = (0..=u16::MAX)
            .map(|i| {
                let sum = f32::from(i & 0xFF) + f32::from(i >> 8) - 255.0;
                (sum * noise / 104.5).round() as i8
            })
            .collect();
        Maker {
            generator,
            rng,
            scene,
            noise_table,
            at,
            notes,
        }
    }

    fn photo(&self, index: usize) -> &'g Photo {
        &self.generator.photos[index].0
    }

    fn person(&self, index: usize) -> &'static str {
        self.generator.photos[index].1
    }

    fn range(&mut self, a: f32, b: f32) -> f32 {
        self.rng.random_range(a..b)
    }

    fn sign(&mut self) -> f32 {
        if self.rng.random_bool(0.5) { 1.0 } else { -1.0 }
    }

    /// A head's step poses are drawn no further than this from the pose
    /// its photo shows (degrees, on each axis): a head modelled on a photo
    /// turned away from it more shows too much of what the photo never saw
    /// (obama2.jpg faces 18° to the person's right, so its left turns are
    /// 20–27°, not 20–35°).
    const MAX_TURN: f32 = 45.0;

    /// The pose a step ends in (shifted and scaled a little from where
    /// the last one ended).
    fn target(&mut self, step: ChallengeStep, motion: Motion, photo: &Photo) -> View {
        let (turn, up) = match motion {
            Motion::Head => ((20.0, 35.0), (15.0, 25.0)),
            Motion::Print => ((20.0, 40.0), (20.0, 45.0)),
            Motion::PrintFar => ((35.0, 40.0), (30.0, 45.0)),
            Motion::Tilted => ((20.0, 40.0), (25.0, 45.0)),
        };
        // How far a head may go each way from its photo's pose.
        let (left, right, upward) = match motion {
            Motion::Head => {
                let pose = photo.pose();
                (
                    Self::MAX_TURN + pose.yaw_deg,
                    Self::MAX_TURN - pose.yaw_deg,
                    Self::MAX_TURN + pose.pitch_deg,
                )
            }
            _ => (f32::MAX, f32::MAX, f32::MAX),
        };
        let mut draw = |(low, high): (f32, f32), limit: f32| {
            let high = high.min(limit).max(low + 0.5);
            self.range(low, high)
        };
        let off = 5.0;
        let (yaw, pitch) = match step {
            ChallengeStep::Front => (draw((-3.0, 3.0), f32::MAX), draw((-3.0, 3.0), f32::MAX)),
            ChallengeStep::Left => (draw(turn, left), draw((-off, off), f32::MAX)),
            ChallengeStep::Right => (-draw(turn, right), draw((-off, off), f32::MAX)),
            ChallengeStep::Up => (draw((-off, off), f32::MAX), draw(up, upward)),
        };
        let roll = match step {
            ChallengeStep::Front => self.range(-3.0, 3.0),
            _ => self.range(-off, off),
        };
        View {
            yaw_deg: yaw,
            pitch_deg: pitch,
            roll_deg: roll,
            shift_x: (self.at.shift_x + self.range(-15.0, 15.0)).clamp(-60.0, 60.0),
            shift_y: (self.at.shift_y + self.range(-12.0, 12.0)).clamp(-40.0, 40.0),
            scale: self.range(0.94, 1.06),
        }
    }

    /// Where the front step's burst starts: near facing the camera.
    fn arriving(&mut self) -> View {
        View {
            yaw_deg: self.range(-4.5, 4.5),
            pitch_deg: self.range(-4.0, 4.0),
            roll_deg: self.range(-3.0, 3.0),
            shift_x: self.at.shift_x + self.range(-10.0, 10.0),
            shift_y: self.at.shift_y + self.range(-8.0, 8.0),
            scale: self.range(0.97, 1.03),
        }
    }

    /// Noise, a small exposure change and a JPEG at quality 80–92: the
    /// frame as the page would send it.
    fn finish(&mut self, mut frame: RgbImage) -> (RgbImage, Vec<u8>) {
        // The gain in 1/256ths; the noise from a fast generator seeded from
        // the sample's (xorshift64*, 16 bits a value through the table).
        let gain = (self.range(0.98, 1.02) * 256.0) as i32;
        let mut state = self.rng.next_u64() | 1;
        let table = &self.noise_table;
        let raw: &mut [u8] = &mut frame;
        for chunk in raw.chunks_mut(4) {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let r = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
            for (k, v) in chunk.iter_mut().enumerate() {
                let noise = i32::from(table[((r >> (16 * k)) & 0xFFFF) as usize]);
                *v = ((i32::from(*v) * gain + 128) / 256 + noise).clamp(0, 255) as u8;
            }
        }
        let quality = self.rng.random_range(80..=92u8);
        let jpeg = fixtures::jpeg(&frame, quality);
        let decoded = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg)
            .map(|d| d.into_rgb8())
            .unwrap_or(frame);
        (decoded, jpeg)
    }

    fn render(&self, photo: &Photo, relief: &Relief, view: &View) -> RgbImage {
        let o = &self.generator.options;
        render::render_with(photo, relief, view, &self.scene, o.width, o.height)
    }

    /// A burst moving from where the last one ended to `to`, rendered.
    fn moving(&mut self, step: ChallengeStep, photo: &Photo, relief: &Relief, to: View) -> Step {
        let from = self.at;
        let n = self.generator.options.frames.max(1);
        let mut burst = Vec::with_capacity(n);
        let mut jpeg = Vec::with_capacity(n);
        for j in 0..n {
            let t = (j + 1) as f32 / n as f32;
            let mut view = from.lerp(&to, t * t * (3.0 - 2.0 * t));
            if j + 1 < n {
                // A little tremor on the way.
                view.yaw_deg += self.range(-0.3, 0.3);
                view.pitch_deg += self.range(-0.3, 0.3);
                view.shift_x += self.range(-0.8, 0.8);
                view.shift_y += self.range(-0.8, 0.8);
            }
            let (frame, bytes) = self.finish(self.render(photo, relief, &view));
            burst.push(frame);
            jpeg.push(bytes);
        }
        self.at = to;
        Step {
            step,
            burst,
            jpeg,
            view: to,
        }
    }

    /// A burst of one still, jittered by up to `jitter` pixels a frame.
    fn still(&mut self, step: ChallengeStep, image: &RgbImage, view: View, jitter: i32) -> Step {
        let n = self.generator.options.frames.max(1);
        let mut burst = Vec::with_capacity(n);
        let mut jpeg = Vec::with_capacity(n);
        for _ in 0..n {
            let (dx, dy) = (
                self.rng.random_range(-jitter..=jitter),
                self.rng.random_range(-jitter..=jitter),
            );
            let (frame, bytes) = self.finish(shifted(image, dx, dy));
            burst.push(frame);
            jpeg.push(bytes);
        }
        self.at = view;
        Step {
            step,
            burst,
            jpeg,
            view,
        }
    }

    /// The steps of a head or a print following the challenge; `photo_at`
    /// picks each step's photo.
    fn follow(
        &mut self,
        challenge: [ChallengeStep; 3],
        relief: &Relief,
        motion: Motion,
        photo_at: impl Fn(usize) -> usize,
        turn_sign: f32,
    ) -> Vec<Step> {
        self.at = self.arriving();
        let mut steps = Vec::new();
        for (k, &step) in challenge.iter().enumerate() {
            let motion = match (motion, step) {
                (Motion::Tilted, ChallengeStep::Left | ChallengeStep::Right) => Motion::Print,
                _ => motion,
            };
            let photo = self.photo(photo_at(k));
            let mut to = self.target(step, motion, photo);
            if matches!(step, ChallengeStep::Left | ChallengeStep::Right) {
                to.yaw_deg *= turn_sign;
            }
            self.notes.push(describe(step, &to));
            steps.push(self.moving(step, photo, relief, to));
        }
        steps
    }

    fn sample(
        &mut self,
        class: Class,
        person: &'static str,
        first: String,
        steps: Vec<Step>,
    ) -> Sample {
        let mut source = first;
        for note in self.notes.drain(..) {
            source.push_str("; ");
            source.push_str(&note);
        }
        Sample {
            class,
            person,
            source,
            steps,
        }
    }

    fn bona_fide(&mut self, index: usize, challenge: [ChallengeStep; 3]) -> Sample {
        // Each photo follows the six orders in turn.
        let photo = (index / ORDERS.len()) % self.generator.photos.len();
        let steps = self.follow(challenge, &Relief::Head, Motion::Head, |_| photo, 1.0);
        let name = format!("{}: head", posed(self.photo(photo)));
        self.sample(Class::BonaFide, self.person(photo), name, steps)
    }

    fn two_people(&mut self, index: usize, challenge: [ChallengeStep; 3]) -> Sample {
        let first = self.generator.of("obama");
        let second = self.generator.of("biden");
        let a = first[index % first.len()];
        let b = second[index % second.len()];
        // The other person from the second or the third step on.
        let from = 1 + (index / first.len()) % 2;
        let steps = self.follow(
            challenge,
            &Relief::Head,
            Motion::Head,
            |k| if k < from { a } else { b },
            1.0,
        );
        let name = format!(
            "{}: head, then {} from step {} ({})",
            posed(self.photo(a)),
            posed(self.photo(b)),
            from + 1,
            challenge[from].as_str()
        );
        self.sample(Class::TwoPeople, "obama+biden", name, steps)
    }

    fn print_turned(&mut self, index: usize, challenge: [ChallengeStep; 3]) -> Sample {
        let photo = (index / ORDERS.len()) % self.generator.photos.len();
        let steps = self.follow(challenge, &Relief::Plane, Motion::Print, |_| photo, 1.0);
        let name = format!("{}: flat print, turned and tilted", self.photo(photo).name);
        self.sample(Class::PrintTurned, self.person(photo), name, steps)
    }

    fn print_tilted(&mut self, index: usize, challenge: [ChallengeStep; 3]) -> Sample {
        let photo = (index / ORDERS_WITH_UP.len()) % self.generator.photos.len();
        let steps = self.follow(challenge, &Relief::Plane, Motion::Tilted, |_| photo, 1.0);
        let name = format!(
            "{}: flat print, tilted back 25–45° for up, turned for left and right",
            self.photo(photo).name
        );
        self.sample(Class::PrintTilted, self.person(photo), name, steps)
    }

    fn print_folded(
        &mut self,
        index: usize,
        challenge: [ChallengeStep; 3],
        motion: Motion,
    ) -> Sample {
        let photo = (index / ORDERS.len()) % self.generator.photos.len();
        let face = self.photo(photo).face;
        let nose = self.photo(photo).landmarks.nose();
        let offset = self.range(-0.15, 0.15) * face.iod;
        let angle_deg = match motion {
            Motion::PrintFar => self.range(70.0, 80.0),
            _ => self.range(50.0, 75.0),
        };
        // Convex and concave in turn (pairs of samples share an order).
        let convex = index.is_multiple_of(2);
        // Along the face's vertical line through the nose's base: the
        // photo's vertical unless the face is tilted in it (biden.jpg, 12°).
        let roll = photo_roll(self.photo(photo));
        let x = nose.x + offset * face.across.0;
        let relief = if roll.abs() < 5.0 {
            Relief::Fold {
                x,
                angle_deg,
                convex,
            }
        } else {
            Relief::FoldLine {
                point: bv_face_engine::pose::Point::new(x, nose.y + offset * face.across.1),
                direction: face.down,
                angle_deg,
                convex,
            }
        };
        // A concave fold's nose recedes: turned towards the step it reads
        // as the opposite turn, so the attacker turns it the other way (the
        // way that reads as the step's turn).
        let turn_sign = if convex { 1.0 } else { -1.0 };
        let steps = self.follow(challenge, &relief, motion, |_| photo, turn_sign);
        let name = format!(
            "{}: print folded {} {angle_deg:.0}° along {} through x = {x:.0} (nose base at {:.0}){}",
            self.photo(photo).name,
            if convex { "convex" } else { "concave" },
            if roll.abs() < 5.0 {
                "the vertical".to_owned()
            } else {
                format!("the face's vertical ({roll:.0}° off)")
            },
            nose.x,
            if convex {
                ", turned as the step"
            } else {
                ", turned against the step (reads as the step's turn)"
            }
        );
        let class = match motion {
            Motion::PrintFar => Class::PrintFoldedFar,
            _ => Class::PrintFolded,
        };
        self.sample(class, self.person(photo), name, steps)
    }

    fn repeated_photo(&mut self, index: usize, challenge: [ChallengeStep; 3]) -> Sample {
        let photo = (index / ORDERS.len()) % self.generator.photos.len();
        let view = View {
            yaw_deg: self.range(-2.0, 2.0),
            pitch_deg: self.range(-2.0, 2.0),
            roll_deg: self.range(-3.0, 3.0),
            ..self.at
        };
        let image = self.render(self.photo(photo), &Relief::Plane, &view);
        self.notes.push(describe(ChallengeStep::Front, &view));
        let steps = challenge
            .iter()
            .map(|&step| {
                let n = self.generator.options.frames.max(1);
                let mut burst = Vec::with_capacity(n);
                let mut jpeg = Vec::with_capacity(n);
                for _ in 0..n {
                    let dx = self.sign() * self.rng.random_range(1..=4) as f32;
                    let dy = self.rng.random_range(-4..=4) as f32;
                    let (frame, bytes) = self.finish(shifted(&image, dx as i32, dy as i32));
                    burst.push(frame);
                    jpeg.push(bytes);
                }
                Step {
                    step,
                    burst,
                    jpeg,
                    view,
                }
            })
            .collect();
        let name = format!(
            "{}: one flat print facing the camera for every frame, shifted 1–4 px",
            self.photo(photo).name
        );
        self.sample(Class::RepeatedPhoto, self.person(photo), name, steps)
    }

    fn stitched_stills(&mut self, index: usize, challenge: [ChallengeStep; 3]) -> Sample {
        let photo = (index / ORDERS.len()) % self.generator.photos.len();
        let mut steps = Vec::new();
        for &step in &challenge {
            let view = self.target(step, Motion::Head, self.photo(photo));
            self.notes.push(describe(step, &view));
            let image = self.render(self.photo(photo), &Relief::Head, &view);
            steps.push(self.still(step, &image, view, 3));
        }
        let name = format!(
            "{}: stills of the head in each step's pose, each burst one still (jitter ≤ 3 px)",
            posed(self.photo(photo))
        );
        self.sample(Class::StitchedStills, self.person(photo), name, steps)
    }

    fn waved_print(&mut self, index: usize, challenge: [ChallengeStep; 3]) -> Sample {
        let photo = (index / ORDERS.len()) % self.generator.photos.len();
        let mut at = View {
            shift_x: self.range(-100.0, 100.0),
            shift_y: self.range(-50.0, 50.0),
            roll_deg: self.range(-5.0, 5.0),
            scale: self.range(0.92, 1.08),
            ..View::FRONT
        };
        let mut steps = Vec::new();
        for &step in &challenge {
            // Moved 30–120 px in some direction, kept in the frame.
            let distance = self.range(30.0, 120.0);
            let angle = self.range(0.0, std::f32::consts::TAU);
            let to = View {
                shift_x: (at.shift_x + distance * angle.cos()).clamp(-140.0, 140.0),
                shift_y: (at.shift_y + distance * angle.sin()).clamp(-70.0, 70.0),
                roll_deg: (at.roll_deg + self.range(-8.0, 8.0)).clamp(-15.0, 15.0),
                scale: (at.scale + self.range(-0.1, 0.1)).clamp(0.85, 1.15),
                ..at
            };
            self.notes.push(format!(
                "{}: moved ({:.0}, {:.0}) → ({:.0}, {:.0}) px, roll {:.1}°, scale {:.2}",
                step.as_str(),
                at.shift_x,
                at.shift_y,
                to.shift_x,
                to.shift_y,
                to.roll_deg,
                to.scale
            ));
            self.at = at;
            let photo = self.photo(photo);
            steps.push(self.moving(step, photo, &Relief::Plane, to));
            at = to;
        }
        let name = format!(
            "{}: flat print facing the camera, moved across the frame",
            self.photo(photo).name
        );
        self.sample(Class::WavedPrint, self.person(photo), name, steps)
    }
}

/// How far the face in a photo is tilted (degrees, clockwise).
fn photo_roll(photo: &Photo) -> f32 {
    photo.face.across.1.atan2(photo.face.across.0).to_degrees()
}

/// A photo's name and the pose it shows (which a head render undoes).
fn posed(photo: &Photo) -> String {
    let pose = photo.pose();
    format!(
        "{} (facing yaw {:.0}°, pitch {:.0}°, roll {:.0}°)",
        photo.name, pose.yaw_deg, pose.pitch_deg, pose.roll_deg
    )
}

/// A step's pose for the source line.
fn describe(step: ChallengeStep, view: &View) -> String {
    format!(
        "{}: yaw {:.1}°, pitch {:.1}°, roll {:.1}°, shift ({:.0}, {:.0}) px, scale {:.2}",
        step.as_str(),
        view.yaw_deg,
        view.pitch_deg,
        view.roll_deg,
        view.shift_x,
        view.shift_y,
        view.scale
    )
}

/// `image` moved by whole pixels, its edges repeated into the gap.
fn shifted(image: &RgbImage, dx: i32, dy: i32) -> RgbImage {
    let (w, h) = (image.width() as i32, image.height() as i32);
    let mut out = RgbImage::new(w as u32, h as u32);
    let (from, to): (&[u8], &mut [u8]) = (image, &mut out);
    let row = w as usize * 3;
    for y in 0..h {
        let sy = (y - dy).clamp(0, h - 1) as usize;
        let (source, target) = (
            &from[sy * row..(sy + 1) * row],
            &mut to[y as usize * row..(y as usize + 1) * row],
        );
        for x in 0..w {
            let sx = (x - dx).clamp(0, w - 1) as usize;
            target[x as usize * 3..x as usize * 3 + 3].copy_from_slice(&source[sx * 3..sx * 3 + 3]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bv_face_engine::pose::{self, MEAN_NOSE_DROP};

    use super::*;

    fn engine() -> Arc<FaceEngine> {
        FaceEngine::shared(fixtures::models_dir()).expect("the face models (scripts/models.sh)")
    }

    /// A generator making one frame a step (the step's capture): enough to
    /// look at poses, and quick in a debug build.
    fn generator(engine: &FaceEngine, frames: usize) -> Generator {
        let options = Options {
            frames,
            ..Options::default()
        };
        Generator::new(engine, options).expect("the test photos (scripts/models.sh --fixtures)")
    }

    /// What the engine sees on each step's capture: the pose (yaw and pitch
    /// against the sample's front, as the liveness verifier measures them),
    /// or why it refused the capture.
    fn seen(engine: &FaceEngine, sample: &Sample) -> Vec<Result<(f32, f32), String>> {
        let mut front: Option<pose::Pose> = None;
        sample
            .steps
            .iter()
            .map(|step| {
                let capture = fixtures::capture(step.capture().clone());
                let observed = engine.observe(&capture).map_err(|e| format!("{e:?}"))?;
                let baseline = front.map_or(MEAN_NOSE_DROP, |f| f.nose_drop);
                let p = pose::estimate(&observed.landmarks, baseline).ok_or("no pose")?;
                let (yaw, pitch) = match front {
                    Some(f) => (p.yaw - f.yaw, p.pitch),
                    None => (p.yaw, p.pitch),
                };
                if front.is_none() {
                    front = Some(p);
                }
                Ok((yaw, pitch))
            })
            .collect()
    }

    /// Prints what the engine saw and returns (captures, refused, the steps
    /// read the wrong way).
    fn report(engine: &FaceEngine, samples: &[Sample]) -> (usize, Vec<String>, Vec<String>) {
        let (mut captures, mut refused, mut wrong) = (0, Vec::new(), Vec::new());
        for (i, sample) in samples.iter().enumerate() {
            for (step, seen) in sample.steps.iter().zip(seen(engine, sample)) {
                captures += 1;
                let name = format!("{} {i} {}", sample.class, step.step.as_str());
                let v = &step.view;
                match seen {
                    Ok((yaw, pitch)) => {
                        eprintln!(
                            "{name:<28} rendered yaw {:6.1} pitch {:6.1}  seen yaw {yaw:6.1} pitch {pitch:6.1}",
                            v.yaw_deg, v.pitch_deg
                        );
                        let right_way = match step.step {
                            ChallengeStep::Front => yaw.abs() < 15.0,
                            ChallengeStep::Left => yaw > 10.0,
                            ChallengeStep::Right => yaw < -10.0,
                            ChallengeStep::Up => pitch > 5.0,
                        };
                        if !right_way {
                            wrong.push(format!("{name}: seen yaw {yaw:.1}, pitch {pitch:.1}"));
                        }
                    }
                    Err(e) => {
                        eprintln!(
                            "{name:<28} rendered yaw {:6.1} pitch {:6.1}  refused: {e}",
                            v.yaw_deg, v.pitch_deg
                        );
                        refused.push(format!("{name}: {e}"));
                    }
                }
            }
        }
        (captures, refused, wrong)
    }

    /// The renders look like faces to dlib, turned the way the step asks:
    /// every photo, every order.
    #[test]
    fn bona_fide_captures_are_faces_following_the_steps() {
        let engine = engine();
        let generator = generator(&engine, 1);
        // Each photo (index / 6) with a different order (index % 6).
        let samples: Vec<Sample> = [0, 7, 14, 21, 28, 35]
            .into_iter()
            .map(|i| generator.sample(Class::BonaFide, i))
            .collect();
        let (captures, refused, wrong) = report(&engine, &samples);
        assert!(refused.len() * 10 <= captures, "refused: {refused:#?}");
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    /// An attack the engine refuses as no face measures nothing: prints
    /// turned 20–40° (flat, folded, tilted), waved, and stitched stills are
    /// still faces to dlib.
    #[test]
    fn attack_captures_are_faces() {
        let engine = engine();
        let generator = generator(&engine, 1);
        let samples: Vec<Sample> = [
            (Class::RepeatedPhoto, 1),
            (Class::PrintTurned, 0),
            (Class::PrintTurned, 9),
            (Class::PrintTilted, 2),
            (Class::PrintFolded, 0),
            (Class::PrintFolded, 1),
            (Class::StitchedStills, 4),
            (Class::TwoPeople, 2),
            (Class::WavedPrint, 3),
        ]
        .into_iter()
        .map(|(class, i)| generator.sample(class, i))
        .collect();
        let (captures, refused, _) = report(&engine, &samples);
        assert!(refused.len() * 10 <= captures, "refused: {refused:#?}");
    }

    #[test]
    fn samples_are_the_same_every_time() {
        let engine = engine();
        let generator = generator(&engine, 2);
        for class in [Class::BonaFide, Class::PrintFolded] {
            let (a, b) = (generator.sample(class, 5), generator.sample(class, 5));
            assert_eq!(a.source, b.source);
            assert_eq!(a.challenge(), b.challenge());
            for (x, y) in a.steps.iter().zip(&b.steps) {
                assert_eq!(x.jpeg, y.jpeg, "{class} 5 {}", x.step);
                assert_eq!(x.burst.len(), 2);
                assert_eq!(x.burst.len(), x.jpeg.len());
            }
            let other = generator.sample(class, 6);
            assert_ne!(a.steps[0].jpeg, other.steps[0].jpeg);
        }
    }

    #[test]
    fn bursts_move_towards_the_step_and_stills_do_not() {
        let engine = engine();
        let generator = generator(&engine, 3);
        let live = generator.sample(Class::BonaFide, 2);
        assert_eq!(live.challenge(), challenge(Class::BonaFide, 2));
        let turn = &live.steps[1];
        assert_eq!(turn.burst.len(), 3);
        assert!((20.0..=35.0).contains(&turn.view.yaw_deg.abs()), "{turn:?}");
        // The head moves: the first frame of the turn is far from its last.
        let difference = |a: &RgbImage, b: &RgbImage| {
            a.as_raw()
                .iter()
                .zip(b.as_raw())
                .map(|(&x, &y)| f64::from(x.abs_diff(y)))
                .sum::<f64>()
                / a.as_raw().len() as f64
        };
        let moving = difference(&turn.burst[0], &turn.burst[2]);
        let stills = generator.sample(Class::StitchedStills, 2);
        let still = &stills.steps[1];
        // A still, jittered by a few pixels: far closer than a moving head
        // (its frames differ by the jitter, the noise and the JPEG).
        let jittered = difference(&still.burst[0], &still.burst[2]);
        assert!(moving > 1.5 * jittered, "moving {moving}, still {jittered}");
        let repeated = generator.sample(Class::RepeatedPhoto, 0);
        assert!(
            repeated
                .steps
                .iter()
                .all(|s| s.view == repeated.steps[0].view)
        );
    }

    #[test]
    fn challenges_take_every_order_in_turn() {
        use std::collections::BTreeSet;
        let orders = |class: Class, n: usize| {
            (0..n)
                .map(|i| challenge(class, i).map(|s| s.as_str()))
                .collect::<BTreeSet<_>>()
        };
        for class in Class::ALL {
            let seen = orders(class, 6);
            assert!(seen.iter().all(|c| c[0] == "front" && c[1] != c[2]));
            if class == Class::PrintTilted {
                assert_eq!(seen.len(), 4);
                assert!(seen.iter().all(|c| c.contains(&"up")));
            } else {
                assert_eq!(seen.len(), 6, "{class}");
            }
        }
        assert_eq!(
            Class::ALL
                .map(Class::name)
                .iter()
                .collect::<BTreeSet<_>>()
                .len(),
            Class::ALL.len()
        );
        for class in Class::ALL {
            assert_eq!(Class::from_name(class.name()), Some(class));
            assert_eq!(class.is_attack(), Class::ATTACKS.contains(&class));
        }
    }
}
