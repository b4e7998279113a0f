//! Temporal stabilisation of per-frame normalised depth.

use crate::frame::Plane;

/// Aligns each frame's depth to a running reference so per-frame min-max normalisation does
/// not make a static scene breathe: the 2nd and 98th percentiles are tracked with an
/// exponential average and every frame is mapped onto them.
pub struct DepthStabilizer {
    lo: Option<f32>,
    hi: Option<f32>,
    /// Weight of the new frame in the running reference (0..1].
    pub rate: f32,
}

impl Default for DepthStabilizer {
    fn default() -> Self {
        Self { lo: None, hi: None, rate: 0.1 }
    }
}

impl DepthStabilizer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn apply(&mut self, depth: &mut Plane) {
        let mut v: Vec<f32> = depth.data.iter().step_by(7).copied().collect();
        if v.is_empty() {
            return;
        }
        v.sort_by(f32::total_cmp);
        let p = |q: f32| v[((v.len() - 1) as f32 * q) as usize];
        let (lo, hi) = (p(0.02), p(0.98));
        let r = self.rate;
        let rl = *self.lo.get_or_insert(lo) * (1.0 - r) + lo * r;
        let rh = *self.hi.get_or_insert(hi) * (1.0 - r) + hi * r;
        self.lo = Some(rl);
        self.hi = Some(rh);
        let span = (hi - lo).max(1e-6);
        let rspan = (rh - rl).max(1e-6);
        for d in depth.data.iter_mut() {
            // Map this frame's percentiles onto the running ones, then to [0, 1].
            let aligned = rl + (*d - lo) / span * rspan;
            *d = ((aligned - rl) / rspan * 0.96 + 0.02).clamp(0.0, 1.0);
        }
    }
}
