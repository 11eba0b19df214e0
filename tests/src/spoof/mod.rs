//! Presentation-attack and bona fide face-capture sequences, made from
//! still photos, for measuring the active liveness check (ISO/IEC 30107-3).
//!
//! [`render`] turns a photo into a textured 3D surface (a head modelled
//! from its landmarks, a flat or folded print) and renders it turned and
//! moved before a pinhole camera; [`sets`] makes the bona fide and attack
//! samples from the test photos, deterministically.

pub mod render;
pub mod sets;

pub use render::{Photo, Relief, Scene, View, render, render_with};
pub use sets::{
    ATTACK_COUNT, BONA_FIDE_COUNT, Class, Generator, Options, Sample, Step, attacks, bona_fide,
    build,
};
