//! Depth that does not flicker.
//!
//! A single-image depth network gives each frame's disparity only up to an unknown scale and
//! shift, and normalising each frame by its own minimum and maximum lets that scale and shift
//! jump whenever anything near the extremes changes. [`DepthStabilizer`] undoes this in one pass:
//!
//! 1. **Align** each frame to the previous stabilised frame with a robust affine fit
//!    `d' = a·d + b` over a grid of about 4 000 samples: least trimmed squares (the best-fitting
//!    half of the samples), refined by least squares reweighted with Tukey's biweight (scale from
//!    the median absolute residual), so whatever moves or changes is left out of the fit and the
//!    static scene sets the scale and shift.
//! 2. **Pull back** a little toward the frame's own normalisation each frame (2 %), so the output
//!    does not drift from [0, 1] over a long shot while flicker is still divided about fifty-fold.
//! 3. **Filter in time** per pixel: a change small against the fit's residual noise is averaged
//!    (at least 30 % of it is taken per frame), a large one (something moved) passes at once.
//! 4. Clamp to [0, 1].
//!
//! A frame whose fit finds less than 40 % of the samples consistent with the last one, or needs
//! a scale outside [0.25, 4] (a cut), restarts the reference. The first frame passes unchanged.

use crate::frame::Plane;

const SAMPLES: usize = 4096;
const PULL: f32 = 0.02;
const MIN_TAKE: f32 = 0.3;
const CUT_INLIERS: f32 = 0.4;
/// A frame that needs a scale outside this range to match the last is taken for a cut.
const MIN_SCALE: f32 = 0.25;
const MAX_SCALE: f32 = 4.0;

/// Aligns each frame's depth to a running reference; see the module documentation.
#[derive(Clone, Debug)]
pub struct DepthStabilizer {
    prev: Option<Plane>,
    /// Scale and shift applied to the last frame.
    last_fit: (f32, f32),
    temporal: bool,
}

impl Default for DepthStabilizer {
    fn default() -> Self {
        Self::new()
    }
}

impl DepthStabilizer {
    pub fn new() -> Self {
        Self { prev: None, last_fit: (1.0, 0.0), temporal: true }
    }

    /// Turn the per-pixel temporal filter off (alignment only).
    pub fn without_temporal_filter(mut self) -> Self {
        self.temporal = false;
        self
    }

    /// The scale and shift applied to the last frame (before the temporal filter).
    pub fn last_fit(&self) -> (f32, f32) {
        self.last_fit
    }

    /// Forget the reference (for example at a cut known from elsewhere).
    pub fn reset(&mut self) {
        self.prev = None;
        self.last_fit = (1.0, 0.0);
    }

    /// Stabilise one frame's depth in place.
    pub fn apply(&mut self, depth: &mut Plane) {
        let prev = match &self.prev {
            Some(p) if p.width == depth.width && p.height == depth.height => p,
            _ => {
                depth.data.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
                self.restart(depth);
                return;
            }
        };
        let step = ((depth.data.len() / SAMPLES) as f64).sqrt().floor().max(1.0) as usize;
        let mut xs = Vec::with_capacity(SAMPLES * 2);
        let mut ys = Vec::with_capacity(SAMPLES * 2);
        for y in (step / 2..depth.height).step_by(step) {
            for x in (step / 2..depth.width).step_by(step) {
                xs.push(depth.get(x, y));
                ys.push(prev.get(x, y));
            }
        }
        let Some(fit) = robust_affine(&xs, &ys) else {
            depth.data.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
            self.restart(depth);
            return;
        };
        if fit.inliers < CUT_INLIERS || !(MIN_SCALE..=MAX_SCALE).contains(&fit.a) {
            depth.data.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
            self.restart(depth);
            return;
        }
        let a = (1.0 - PULL) * fit.a + PULL;
        let b = (1.0 - PULL) * fit.b;
        self.last_fit = (a, b);
        let noise = (2.0 * fit.sigma).clamp(0.004, 0.05);
        let n2 = noise * noise;
        for (v, &p) in depth.data.iter_mut().zip(&prev.data) {
            let aligned = a * *v + b;
            let out = if self.temporal {
                let diff = aligned - p;
                let d2 = diff * diff;
                let take = (d2 / (d2 + n2)).max(MIN_TAKE);
                p + diff * take
            } else {
                aligned
            };
            *v = out.clamp(0.0, 1.0);
        }
        match self.prev.as_mut() {
            Some(p) => p.data.copy_from_slice(&depth.data),
            None => unreachable!("checked above"),
        }
    }

    fn restart(&mut self, depth: &Plane) {
        self.prev = Some(depth.clone());
        self.last_fit = (1.0, 0.0);
    }
}

pub struct Fit {
    pub a: f32,
    pub b: f32,
    /// Robust residual scale (σ estimate).
    sigma: f32,
    /// Share of samples within 3σ (at least 0.02) of the fit.
    inliers: f32,
}

/// `y ≈ a·x + b`, Tukey-biweight IRLS from an ordinary least-squares start.
pub fn robust_affine(xs: &[f32], ys: &[f32]) -> Option<Fit> {
    if xs.len() < 8 {
        return None;
    }
    let mut w = vec![1.0f32; xs.len()];
    let mut res = vec![0.0f32; xs.len()];
    // Start from the better of two least-trimmed-squares fits (the half of the samples that fit
    // best), one begun from ordinary least squares and one from a pure shift: robust to nearly
    // half of the picture moving or changing.
    let ols = weighted_line(xs, ys, &w)?;
    let mut shift: Vec<f32> = xs.iter().zip(ys).map(|(x, y)| y - x).collect();
    let mid = shift.len() / 2;
    let shift = (1.0, *shift.select_nth_unstable_by(mid, |p, q| p.total_cmp(q)).1);
    let (mut a, mut b) = [ols, shift]
        .into_iter()
        .map(|start| trimmed_fit(xs, ys, start, &mut w, &mut res))
        .min_by(|p, q| p.1.total_cmp(&q.1))
        .map(|(fit, _)| fit)
        .expect("two starts");
    let mut sigma = 0.0;
    for _ in 0..6 {
        for i in 0..xs.len() {
            res[i] = ys[i] - (a * xs[i] + b);
        }
        sigma = 1.4826 * median_abs(&res);
        let c = 4.685 * sigma.max(0.002);
        for i in 0..xs.len() {
            let r = res[i] / c;
            w[i] = if r.abs() < 1.0 { (1.0 - r * r).powi(2) } else { 0.0 };
        }
        match weighted_line(xs, ys, &w) {
            Some((na, nb)) => {
                a = na;
                b = nb;
            }
            None => break,
        }
    }
    let tol = (3.0 * sigma).max(0.02);
    let inliers = xs.iter().zip(ys).filter(|(x, y)| (**y - (a * **x + b)).abs() < tol).count() as f32 / xs.len() as f32;
    Some(Fit { a, b, sigma, inliers })
}

/// Concentration steps of least trimmed squares from `start`: refit on the half of the samples
/// with the smallest residuals until the half stops changing (at most 10 steps). Returns the
/// line and the sum of its smallest half of squared residuals.
fn trimmed_fit(xs: &[f32], ys: &[f32], start: (f32, f32), w: &mut [f32], res: &mut [f32]) -> ((f32, f32), f32) {
    let (mut a, mut b) = start;
    let mut cost = f32::INFINITY;
    for _ in 0..10 {
        for i in 0..xs.len() {
            res[i] = (ys[i] - (a * xs[i] + b)).abs();
        }
        let cut = median_abs(res);
        let trimmed: f32 = res.iter().filter(|r| **r <= cut).map(|r| r * r).sum();
        if trimmed >= cost * (1.0 - 1e-6) {
            break;
        }
        cost = trimmed;
        for i in 0..xs.len() {
            w[i] = if res[i] <= cut { 1.0 } else { 0.0 };
        }
        match weighted_line(xs, ys, w) {
            Some(line) => (a, b) = line,
            None => break,
        }
    }
    ((a, b), cost)
}

/// Weighted least-squares line; a flat `x` gives `a = 1` and the weighted mean offset.
fn weighted_line(xs: &[f32], ys: &[f32], w: &[f32]) -> Option<(f32, f32)> {
    let (mut sw, mut sx, mut sy) = (0.0f64, 0.0f64, 0.0f64);
    for i in 0..xs.len() {
        let wi = w[i] as f64;
        sw += wi;
        sx += wi * xs[i] as f64;
        sy += wi * ys[i] as f64;
    }
    if sw < 1e-6 {
        return None;
    }
    let (mx, my) = (sx / sw, sy / sw);
    let (mut sxx, mut sxy) = (0.0f64, 0.0f64);
    for i in 0..xs.len() {
        let (dx, dy) = (xs[i] as f64 - mx, ys[i] as f64 - my);
        sxx += w[i] as f64 * dx * dx;
        sxy += w[i] as f64 * dx * dy;
    }
    if sxx / sw < 1e-8 {
        return Some((1.0, (my - mx) as f32));
    }
    let a = sxy / sxx;
    Some((a as f32, (my - a * mx) as f32))
}

fn median_abs(v: &[f32]) -> f32 {
    let mut a: Vec<f32> = v.iter().map(|x| x.abs()).collect();
    let mid = a.len() / 2;
    *a.select_nth_unstable_by(mid, |p, q| p.total_cmp(q)).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undoes_a_global_scale_and_shift() {
        let base = Plane::from_fn(64, 48, |x, y| 0.1 + 0.8 * (x as f32 / 63.0) * (0.5 + 0.5 * y as f32 / 47.0));
        let mut s = DepthStabilizer::new().without_temporal_filter();
        let mut first = base.clone();
        s.apply(&mut first);
        let mut jumped = Plane::from_fn(64, 48, |x, y| 0.9 * base.get(x, y) + 0.05);
        s.apply(&mut jumped);
        let err = jumped.data.iter().zip(&base.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        // The 2 % pull toward the raw frame leaves 2 % of the jump.
        assert!(err < 0.004, "max error {err}");
    }
}
