//! dlib, through `dlib-face-recognition`: the HOG face detector, the 5-point
//! landmark predictor (which the descriptor aligns faces by), the 68-point
//! one (the head's shape, for liveness) and the ResNet descriptor, loaded
//! once, shared by every thread.
//!
//! dlib's detector and network keep scratch state while they run, so the
//! wrapper makes them `Send` but not `Sync`: each is lent from a small pool,
//! one instance per thread using it at once, cloned from a pristine copy
//! when the pool is empty (so there are at most as many as the worker's
//! biometric concurrency, plus that copy). The shape predictors are
//! read-only while they predict, and shared as they are.
//!
//! Captures cross into dlib as raw RGB bytes: the wrapper uses `image`
//! 0.24, the workspace 0.25, and only the byte layout is common.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use dlib_face_recognition::{
    FaceDetector, FaceDetectorTrait, FaceEncoderNetwork, FaceEncoderTrait, FaceLandmarks,
    ImageMatrix, LandmarkPredictor, LandmarkPredictorTrait, Rectangle,
};
use image::RgbImage;

use crate::Rect;
use crate::models::{EMBEDDING, LANDMARKS, LoadError, SHAPE};
use crate::pose::{Landmarks, Point};
use crate::shape::Shape;
use crate::template::Embedding;

/// dlib's models, loaded.
pub struct Vision {
    detectors: Pool<FaceDetector>,
    predictor: LandmarkPredictor,
    /// The 68-point predictor, read from `shapes_path` (checked at load) the
    /// first time a capture's shape is asked for: it is 100 MB and takes
    /// seconds to read, and only active liveness needs it.
    shapes: OnceLock<Option<LandmarkPredictor>>,
    shapes_path: PathBuf,
    encoders: Pool<FaceEncoderNetwork>,
}

/// A capture in dlib's own image type.
pub struct Matrix(ImageMatrix);

/// One face dlib found: its box, and its landmarks in dlib's form (which
/// the descriptor needs) and ours.
pub struct Found {
    pub rect: Rect,
    pub landmarks: Landmarks,
    shape: FaceLandmarks,
}

impl Vision {
    /// Loads the landmark predictors and the descriptor from `dir` (each
    /// checked by its sha256 first).
    pub fn load(dir: &Path) -> Result<Self, LoadError> {
        let landmarks = LANDMARKS.verified(dir)?;
        let predictor =
            LandmarkPredictor::open(&landmarks).map_err(|e| LANDMARKS.refused(landmarks, e))?;
        let shapes_path = SHAPE.verified(dir)?;
        let embedding = EMBEDDING.verified(dir)?;
        let encoder =
            FaceEncoderNetwork::open(&embedding).map_err(|e| EMBEDDING.refused(embedding, e))?;
        Ok(Vision {
            detectors: Pool::new(FaceDetector::new()),
            predictor,
            shapes: OnceLock::new(),
            shapes_path,
            encoders: Pool::new(encoder),
        })
    }

    /// Copies an RGB image into dlib's matrix.
    pub fn matrix(image: &RgbImage) -> Matrix {
        let view = image_dlib::ImageBuffer::<image_dlib::Rgb<u8>, &[u8]>::from_raw(
            image.width(),
            image.height(),
            image.as_raw().as_slice(),
        );
        match view {
            Some(view) => Matrix(ImageMatrix::from_image(&view)),
            // An RgbImage's buffer always holds width × height × 3 bytes.
            None => Matrix(ImageMatrix::default()),
        }
    }

    /// The faces in the image, with their landmarks.
    pub fn faces(&self, image: &Matrix) -> Vec<Found> {
        let rects = self.detectors.with(|d| d.face_locations(&image.0));
        rects
            .iter()
            .map(|r| {
                let shape = self.predictor.face_landmarks(&image.0, r);
                let mut points = [Point::new(0.0, 0.0); 5];
                for (point, p) in points.iter_mut().zip(shape.iter()) {
                    *point = Point::new(p.x() as f32, p.y() as f32);
                }
                Found {
                    rect: Rect {
                        left: r.left as f32,
                        top: r.top as f32,
                        right: r.right as f32,
                        bottom: r.bottom as f32,
                    },
                    landmarks: Landmarks(points),
                    shape,
                }
            })
            .collect()
    }

    /// Reads the 68-point predictor now, if it was not yet (a worker that
    /// preloads its engine does, so no capture waits for it).
    pub fn load_shapes(&self) -> Result<(), LoadError> {
        let loaded = self.shapes.get_or_init(|| {
            let _span = tracing::info_span!("load 68-point landmark model").entered();
            match LandmarkPredictor::open(&self.shapes_path) {
                Ok(predictor) => Some(predictor),
                Err(message) => {
                    tracing::error!(%message, path = %self.shapes_path.display(), "the 68-point landmark model does not load");
                    None
                }
            }
        });
        match loaded {
            Some(_) => Ok(()),
            None => Err(SHAPE.refused(self.shapes_path.clone(), "dlib refused it".into())),
        }
    }

    /// The 68 landmarks of the face in `rect` (a detector's box, or one
    /// carried from it through the frames of a burst);
    /// `None` when the 68-point model does not load (logged once).
    pub fn shape(&self, image: &Matrix, rect: &Rect) -> Option<Shape> {
        self.load_shapes().ok()?;
        let shapes = self.shapes.get()?.as_ref()?;
        let rect = Rectangle {
            left: rect.left.round() as _,
            top: rect.top.round() as _,
            right: rect.right.round() as _,
            bottom: rect.bottom.round() as _,
        };
        let marks = shapes.face_landmarks(&image.0, &rect);
        let mut points = [Point::new(0.0, 0.0); 68];
        for (point, p) in points.iter_mut().zip(marks.iter()) {
            *point = Point::new(p.x() as f32, p.y() as f32);
        }
        Some(Shape(points))
    }

    /// The face's embedding: dlib aligns it to its 150-pixel chip from the
    /// landmarks, runs the network once (no jitter), and the descriptor is
    /// L2-normalised. `None` if dlib returned no usable descriptor.
    pub fn embed(&self, image: &Matrix, face: &Found) -> Option<Embedding> {
        let descriptors = self
            .encoders
            .with(|e| e.get_face_encodings(&image.0, std::slice::from_ref(&face.shape), 0));
        descriptors
            .first()
            .and_then(|d| Embedding::from_descriptor(d.as_ref()))
    }
}

/// Instances of a type that is `Send` but not `Sync`, lent one per caller.
struct Pool<T> {
    idle: Mutex<Vec<T>>,
    /// Never used, only cloned: cloning an instance another thread is using
    /// would read its scratch state while it changes.
    pristine: Mutex<T>,
}

impl<T: Clone> Pool<T> {
    fn new(pristine: T) -> Self {
        Pool {
            idle: Mutex::new(Vec::new()),
            pristine: Mutex::new(pristine),
        }
    }

    /// Runs `f` with an instance no other thread holds.
    fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let item = idle.unwrap_or_else(|| {
            self.pristine
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        });
        let result = f(&item);
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(item);
        result
    }
}
