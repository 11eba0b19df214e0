//! A fake camera moved while the page asks: a person, or an attacker with a
//! print, who watches the prompts and turns as each step says.
//!
//! Chromium plays a `.y4m` file as its camera and reads it a frame at a
//! time as it plays (looping), so the frames written into the file while it
//! plays are what the page sees. A [`Puppet`] renders its subject (a photo
//! made a head, a print of it, flat or folded along the nose,
//! [`crate::spoof`])
//! facing the camera and along each step's turn, then, from a thread of
//! its own, writes into every frame of the file the pose the moment calls
//! for: facing the camera until a turned step's countdown shows its last
//! second, then turning over [`TURN_TAKES`] and holding, so that the page's
//! burst (its last second before the countdown's capture) records the
//! turn. The test tells it what the page shows ([`Puppet::follow`]); going
//! by the countdown on screen rather than a clock keeps the turn in the
//! burst when the page's timers run late. The file's size never changes
//! (Chromium stops on a short read).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bv_contract::ChallengeStep;
use bv_face_engine::FaceEngine;
use fantoccini::Client;
use image::RgbImage;

use crate::spoof::render::{self, Photo, Relief, View};

/// The camera's size.
pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 480;
/// The countdown's figure at which the subject starts turning: the page
/// takes the capture a second after it shows "1", and its burst keeps
/// about the last second.
const TURN_WHEN_SHOWN: &str = "1";
/// How long the turn takes.
pub const TURN_TAKES: Duration = Duration::from_millis(800);
/// The poses rendered along each turn, the end included.
const TURN_FRAMES: usize = 6;
/// Frames in the file (each rewritten whole at every change of pose).
const FILE_FRAMES: u64 = 2;
const HEADER: &str = "YUV4MPEG2 W640 H480 F15:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n";
const FRAME_TAG: &[u8] = b"FRAME\n";

/// What is held to the camera.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Subject {
    /// The photo made a head, turned as a person turns.
    Head,
    /// A flat print of the photo, turned and tilted as the steps say.
    Print,
    /// A print of the photo folded along the nose (a tent, each half
    /// turned back by `angle_deg / 2`), turned and tilted as the steps
    /// say: the attack that passed every challenge before the 68-point
    /// checks. Folded steeply and turned far it can still pass (README,
    /// "Active liveness, measured"): no test asserts its refusal.
    FoldedPrint { angle_deg: f32 },
}

/// The step the page shows, and when the subject started turning for it.
#[derive(Clone, Copy, Debug)]
struct Stage {
    step: ChallengeStep,
    turning_since: Option<Instant>,
}

/// The camera file and the thread that moves what it shows.
pub struct Puppet {
    path: PathBuf,
    stage: Arc<Mutex<Stage>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A subject's frames, as the file holds them (I420).
struct Poses {
    front: Vec<u8>,
    /// Along each turned step's turn, from just off the front to the pose.
    left: Vec<Vec<u8>>,
    right: Vec<Vec<u8>>,
    up: Vec<Vec<u8>>,
}

impl Poses {
    fn render(
        engine: &FaceEngine,
        photo_name: &str,
        subject: Subject,
        turn: f32,
        tilt: f32,
    ) -> Poses {
        let photo = Photo::fixture(engine, photo_name).expect("the photo has a face");
        let relief = match subject {
            Subject::Head => Relief::Head,
            Subject::Print => Relief::Plane,
            Subject::FoldedPrint { angle_deg } => Relief::Fold {
                x: photo.landmarks.nose().x,
                angle_deg,
                convex: true,
            },
        };
        let frame = |view: &View| i420(&render::render(&photo, &relief, view, WIDTH, HEIGHT));
        let along = |to: View| -> Vec<Vec<u8>> {
            (1..=TURN_FRAMES)
                .map(|k| {
                    let t = k as f32 / TURN_FRAMES as f32;
                    frame(&View::FRONT.lerp(&to, t * t * (3.0 - 2.0 * t)))
                })
                .collect()
        };
        Poses {
            front: frame(&View::FRONT),
            left: along(View {
                yaw_deg: turn,
                ..View::FRONT
            }),
            right: along(View {
                yaw_deg: -turn,
                ..View::FRONT
            }),
            up: along(View {
                pitch_deg: tilt,
                ..View::FRONT
            }),
        }
    }

    /// The frame for `stage` at `now`, and which one it is (the same
    /// number, the same frame).
    fn at(&self, stage: Stage, now: Instant) -> (usize, &[u8]) {
        let (which, turn) = match stage.step {
            ChallengeStep::Front => return (0, &self.front),
            ChallengeStep::Left => (0, &self.left),
            ChallengeStep::Right => (1, &self.right),
            ChallengeStep::Up => (2, &self.up),
        };
        let Some(since) = stage.turning_since else {
            return (0, &self.front);
        };
        let turning = now.saturating_duration_since(since);
        let t = (turning.as_secs_f32() / TURN_TAKES.as_secs_f32()).min(1.0);
        match (t * TURN_FRAMES as f32).ceil() as usize {
            0 => (0, &self.front),
            k => {
                let k = k.min(TURN_FRAMES);
                (1 + which * TURN_FRAMES + k - 1, &turn[k - 1])
            }
        }
    }
}

impl Puppet {
    /// Renders `photo_name` (a fixture) as `subject`, turned `turn` degrees
    /// for `left`/`right` and tilted `tilt` for `up`, and starts the camera
    /// file in `dir` facing the camera.
    pub fn start(
        engine: &FaceEngine,
        dir: &Path,
        photo_name: &str,
        subject: Subject,
        turn: f32,
        tilt: f32,
    ) -> Puppet {
        let poses = Poses::render(engine, photo_name, subject, turn, tilt);
        let path = dir.join(format!("puppet-{photo_name}.y4m"));
        let frame_len = poses.front.len() as u64;
        {
            let mut bytes = HEADER.as_bytes().to_vec();
            for _ in 0..FILE_FRAMES {
                bytes.extend_from_slice(FRAME_TAG);
                bytes.extend_from_slice(&poses.front);
            }
            std::fs::write(&path, bytes).expect("write the camera file");
        }
        let stage = Arc::new(Mutex::new(Stage {
            step: ChallengeStep::Front,
            turning_since: None,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (path, stage, stop) = (path.clone(), stage.clone(), stop.clone());
            std::thread::spawn(move || {
                let file = File::options()
                    .write(true)
                    .open(&path)
                    .expect("open the camera file");
                let mut shown = 0;
                while !stop.load(Ordering::Relaxed) {
                    let current = *stage.lock().unwrap();
                    let (which, frame) = poses.at(current, Instant::now());
                    if which != shown {
                        for slot in 0..FILE_FRAMES {
                            let at = HEADER.len() as u64
                                + slot * (FRAME_TAG.len() as u64 + frame_len)
                                + FRAME_TAG.len() as u64;
                            file.write_all_at(frame, at).expect("write a frame");
                        }
                        shown = which;
                    }
                    std::thread::sleep(Duration::from_millis(15));
                }
            })
        };
        Puppet {
            path,
            stage,
            stop,
            thread: Some(thread),
        }
    }

    /// The file to give the browser as its camera.
    pub fn camera(&self) -> &Path {
        &self.path
    }

    /// Watches the page's step and follows it until the page stops showing
    /// steps (it sends, or it left the camera); the steps seen, in order.
    /// With `shot`, a screenshot `<shot>-turning` of the first turn, half
    /// way through it.
    pub async fn follow(
        &self,
        client: &Client,
        limit: Duration,
        shot: Option<&str>,
    ) -> Vec<ChallengeStep> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut seen: Vec<ChallengeStep> = Vec::new();
        let mut number = 0u64;
        let mut shot = shot;
        loop {
            let shown = client
                .execute(
                    "const v = document.querySelector('.viewfinder');
                     const p = document.getElementById('step-progress');
                     const c = document.getElementById('view-camera');
                     const n = document.getElementById('countdown');
                     return [v ? v.dataset.step || null : null, p ? p.value : 0,
                             !!c && !c.hidden, n ? n.textContent : ''];",
                    vec![],
                )
                .await
                .expect("read the page's step");
            let step: Option<ChallengeStep> = serde_json::from_value(shown[0].clone()).ok();
            let at = shown[1].as_u64().unwrap_or(0);
            let camera = shown[2].as_bool().unwrap_or(false);
            let countdown = shown[3].as_str().unwrap_or_default();
            if let Some(step) = step
                && at != number
            {
                number = at;
                seen.push(step);
                *self.stage.lock().unwrap() = Stage {
                    step,
                    turning_since: None,
                };
            }
            let turning_since = {
                let mut stage = self.stage.lock().unwrap();
                if stage.turning_since.is_none() && countdown == TURN_WHEN_SHOWN {
                    stage.turning_since = Some(Instant::now());
                }
                stage.turning_since
            };
            if let Some(since) = turning_since
                && since.elapsed() >= TURN_TAKES / 2
                && let Some(name) = shot.take()
            {
                crate::browser::screenshot(client, &format!("{name}-turning")).await;
            }
            if !camera && number > 0 {
                return seen;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the page still shows steps after {limit:?} (seen {seen:?})"
            );
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }
}

impl Drop for Puppet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `rgb` as the file's planar 4:2:0 YCbCr (BT.601, studio range, as ffmpeg
/// writes it), each chroma sample the mean of its 2×2 pixels.
fn i420(rgb: &RgbImage) -> Vec<u8> {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let mut out = vec![0u8; w * h + 2 * (w / 2) * (h / 2)];
    let (luma, chroma) = out.split_at_mut(w * h);
    let (cb, cr) = chroma.split_at_mut((w / 2) * (h / 2));
    for (i, p) in rgb.pixels().enumerate() {
        let [r, g, b] = p.0.map(f32::from);
        luma[i] = (16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0).round() as u8;
    }
    for y in 0..h / 2 {
        for x in 0..w / 2 {
            let mut sum = [0f32; 3];
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let p = rgb.get_pixel((2 * x + dx) as u32, (2 * y + dy) as u32).0;
                for c in 0..3 {
                    sum[c] += f32::from(p[c]) / 4.0;
                }
            }
            let [r, g, b] = sum;
            let i = y * (w / 2) + x;
            cb[i] = (128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0)
                .round()
                .clamp(0.0, 255.0) as u8;
            cr[i] = (128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0)
                .round()
                .clamp(0.0, 255.0) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_is_grey_and_primaries_have_their_chroma() {
        let grey = RgbImage::from_pixel(4, 2, image::Rgb([128, 128, 128]));
        let out = i420(&grey);
        assert_eq!(out.len(), 8 + 2 + 2);
        assert!(out[..8].iter().all(|&y| y == 126), "{out:?}");
        assert!(out[8..].iter().all(|&c| c == 128), "{out:?}");
        let red = i420(&RgbImage::from_pixel(2, 2, image::Rgb([255, 0, 0])));
        assert_eq!(red, vec![81, 81, 81, 81, 90, 240]);
    }
}
