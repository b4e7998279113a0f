//! Depth prediction: normalised inverse depth (disparity) in [0, 1], 1 = nearest (paper §3.1).

pub mod card;

use crate::frame::{Plane, RgbImage};

/// Anything that turns a frame into normalised disparity.
pub trait DepthModel: Send {
    fn name(&self) -> String;
    /// The execution provider that really runs it (`CPUExecutionProvider` …), if it has one.
    fn provider(&self) -> Option<String> {
        None
    }
    /// Disparity in [0, 1] at any size (callers resize); 1 = nearest.
    fn predict(&mut self, rgb: &RgbImage) -> crate::Result<Plane>;
    /// Disparity and, for models with a foreground head, the foreground probability map.
    fn predict_all(&mut self, rgb: &RgbImage) -> crate::Result<Prediction> {
        Ok(Prediction { depth: self.predict(rgb)?, foreground: None })
    }
}

/// What a depth model gives for one frame.
#[derive(Clone, Debug)]
pub struct Prediction {
    /// Normalised disparity in [0, 1], 1 = nearest.
    pub depth: Plane,
    /// Foreground probability in [0, 1] (people, animals, the salient object), at any size;
    /// `None` for models without a foreground head.
    pub foreground: Option<Plane>,
}

/// Convert a 16-bit or 8-bit grey picture into normalised disparity.
pub fn plane_from_gray16(width: usize, height: usize, values: &[u16]) -> Plane {
    Plane { width, height, data: values.iter().map(|&v| v as f32 / 65535.0).collect() }
}

pub fn plane_from_gray8(width: usize, height: usize, values: &[u8]) -> Plane {
    Plane { width, height, data: values.iter().map(|&v| v as f32 / 255.0).collect() }
}

/// Quantise disparity to 16-bit grey (for `--save-depth`).
pub fn plane_to_gray16(p: &Plane) -> Vec<u16> {
    p.data.iter().map(|&v| (v.clamp(0.0, 1.0) * 65535.0 + 0.5) as u16).collect()
}

/// Ordinal agreement of a predicted disparity with a reference on `pairs` random pixel pairs
/// (pairs whose reference differs by less than `min_gap` or is unknown — NaN — are skipped).
pub fn ordinal_agreement(pred: &Plane, truth: &Plane, pairs: usize, min_gap: f32, seed: u64) -> f64 {
    assert_eq!((pred.width, pred.height), (truth.width, truth.height));
    let n = pred.data.len() as u64;
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let (mut good, mut total) = (0u64, 0u64);
    let mut tries = 0;
    while total < pairs as u64 && tries < pairs * 20 {
        tries += 1;
        let (i, j) = (next() as usize, next() as usize);
        let (ti, tj) = (truth.data[i], truth.data[j]);
        if !ti.is_finite() || !tj.is_finite() || (ti - tj).abs() < min_gap {
            continue;
        }
        total += 1;
        if (pred.data[i] - pred.data[j]).signum() == (ti - tj).signum() {
            good += 1;
        }
    }
    good as f64 / total.max(1) as f64
}
