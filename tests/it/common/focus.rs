//! Helpers shared by the focus tests.
#![allow(dead_code)]

use deeplens_core::focus::{BlurAmount, FocusController, FocusSpec, FocusState, Rotation, Track};
use deeplens_core::Plane;

/// Frame indices and times at a constant rate.
pub fn constant_rate(frames: u64, fps: f64) -> Vec<(u64, f64)> {
    (0..frames).map(|i| (i, i as f64 / fps)).collect()
}

/// Run a controller over frames, the depth of each made by `depth(index, t)`.
pub fn run(c: &mut FocusController, frames: &[(u64, f64)], depth: impl Fn(u64, f64) -> Plane) -> Vec<FocusState> {
    frames.iter().map(|&(i, t)| c.next(i, t, &depth(i, t))).collect()
}

/// Play a track over flat depth.
pub fn play(json: &str, frames: &[(u64, f64)]) -> Vec<FocusState> {
    let track = Track::from_json(json).expect("valid track");
    let mut c = FocusController::new(FocusSpec::Track(track), BlurAmount::Pixels(10.0), Rotation(0)).with_display_width(1000);
    run(&mut c, frames, |_, _| Plane::filled(32, 18, 0.5))
}

/// A small deterministic noise source for depth readings.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Self {
        Self(seed * 2 + 1)
    }

    /// Roughly normal, standard deviation 1 (sum of four uniforms, rescaled).
    pub fn next(&mut self) -> f32 {
        let mut s = 0.0;
        for _ in 0..4 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            s += (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
        }
        s * (3.0f32).sqrt()
    }
}
