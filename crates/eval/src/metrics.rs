//! Measures for `deeplens bench`: depth and output flicker in static regions, and how far focus
//! trails a moving subject; and a synthetic clip with known depth to measure them on.

use crate::reference::gather_blur;
use deeplens_core::focus::stabilize::{robust_affine, DepthStabilizer};
use deeplens_core::focus::{BlurAmount, FocusController, FocusSpec, Rotation};
use deeplens_core::frame::{Plane, RgbImage};
use deeplens_core::lens::LensParams;

/// Mean absolute frame-to-frame change in the regions that are static in the input.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FlickerReport {
    /// Frame pairs measured.
    pub pairs: usize,
    /// Share of pixels counted as static.
    pub static_share: f64,
    /// Mean |ΔY| of the input's luma there (its own noise).
    pub input: f64,
    /// Mean |ΔD| of the depth there.
    pub depth: f64,
    /// Mean |ΔY| of the output's luma there, if outputs were given.
    pub output: Option<f64>,
}

impl FlickerReport {
    /// Depth flicker relative to the input's own.
    pub fn depth_ratio(&self) -> f64 {
        self.depth / self.input.max(1e-12)
    }

    /// Output flicker relative to the input's own (1 = the output adds none).
    pub fn output_ratio(&self) -> Option<f64> {
        self.output.map(|o| o / self.input.max(1e-12))
    }
}

/// Accumulates flicker over a stream, one frame at a time, with flat memory.
///
/// A pixel is static between two frames where the input's luma changes by less than
/// `threshold` there and in its 3×3 neighbourhood (at the depth's size for the depth measure).
#[derive(Clone, Debug)]
pub struct FlickerMeter {
    threshold: f32,
    prev: Option<Prev>,
    pairs: usize,
    counted: f64,
    total: f64,
    sum_input: f64,
    sum_depth: f64,
    depth_counted: f64,
    sum_output: f64,
    has_output: bool,
}

#[derive(Clone, Debug)]
struct Prev {
    luma: Plane,
    luma_small: Plane,
    depth: Plane,
    output: Option<Plane>,
}

impl Default for FlickerMeter {
    fn default() -> Self {
        Self::new(0.01)
    }
}

impl FlickerMeter {
    /// `threshold`: the largest luma change (values in [0, 1]) that still counts as static.
    pub fn new(threshold: f32) -> Self {
        Self {
            threshold,
            prev: None,
            pairs: 0,
            counted: 0.0,
            total: 0.0,
            sum_input: 0.0,
            sum_depth: 0.0,
            depth_counted: 0.0,
            sum_output: 0.0,
            has_output: true,
        }
    }

    /// Add a frame: its input picture, the depth used (any size) and, optionally, the output.
    pub fn push(&mut self, input: &RgbImage, depth: &Plane, output: Option<&RgbImage>) {
        let luma = input.luma();
        let luma_small = luma.resize(depth.width, depth.height);
        let out_luma = output.map(|o| o.resize(input.width, input.height).luma());
        if let Some(p) = &self.prev {
            if p.luma.width == luma.width && p.depth.width == depth.width && p.depth.height == depth.height {
                self.pairs += 1;
                let mask = static_mask(&p.luma, &luma, self.threshold);
                let mask_small = static_mask(&p.luma_small, &luma_small, self.threshold);
                self.total += mask.len() as f64;
                for (i, &m) in mask.iter().enumerate() {
                    if m {
                        self.counted += 1.0;
                        self.sum_input += (luma.data[i] - p.luma.data[i]).abs() as f64;
                        match (&out_luma, &p.output) {
                            (Some(o), Some(po)) => self.sum_output += (o.data[i] - po.data[i]).abs() as f64,
                            _ => self.has_output = false,
                        }
                    }
                }
                for (i, &m) in mask_small.iter().enumerate() {
                    if m {
                        self.depth_counted += 1.0;
                        self.sum_depth += (depth.data[i] - p.depth.data[i]).abs() as f64;
                    }
                }
            }
        }
        self.prev = Some(Prev { luma, luma_small, depth: depth.clone(), output: out_luma });
    }

    pub fn report(&self) -> FlickerReport {
        let n = self.counted.max(1.0);
        FlickerReport {
            pairs: self.pairs,
            static_share: self.counted / self.total.max(1.0),
            input: self.sum_input / n,
            depth: self.sum_depth / self.depth_counted.max(1.0),
            output: (self.has_output && self.pairs > 0).then(|| self.sum_output / n),
        }
    }
}

/// Pixels whose luma changes by less than `threshold` in their whole 3×3 neighbourhood.
fn static_mask(a: &Plane, b: &Plane, threshold: f32) -> Vec<bool> {
    let (w, h) = (a.width, a.height);
    let moved: Vec<bool> = a.data.iter().zip(&b.data).map(|(x, y)| (x - y).abs() >= threshold).collect();
    let mut mask = vec![true; w * h];
    for y in 0..h {
        for x in 0..w {
            if moved[y * w + x] {
                for yy in y.saturating_sub(1)..(y + 2).min(h) {
                    for xx in x.saturating_sub(1)..(x + 2).min(w) {
                        mask[yy * w + xx] = false;
                    }
                }
            }
        }
    }
    mask
}

/// How far focus trails a moving subject.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LagReport {
    /// Frames measured (those at or after the warm-up).
    pub frames: usize,
    /// Mean |focus − subject depth|.
    pub mean_abs_error: f64,
    /// Largest |focus − subject depth|.
    pub max_abs_error: f64,
    /// The delay τ in seconds (0 to 1 s, 1 ms steps) for which focus(t) best matches
    /// depth(t − τ): the focus's lag behind the subject.
    pub lag_seconds: f64,
}

/// Compare focus with the subject's true depth, `(t, focus, truth)` per frame, in time order,
/// leaving out the first `warmup` seconds.
pub fn motion_lag(samples: &[(f64, f32, f32)], warmup: f64) -> LagReport {
    let Some(&(t0, _, _)) = samples.first() else {
        return LagReport::default();
    };
    let measured: Vec<&(f64, f32, f32)> = samples.iter().filter(|s| s.0 - t0 >= warmup).collect();
    if measured.is_empty() {
        return LagReport::default();
    }
    let errors = measured.iter().map(|s| (s.1 - s.2).abs() as f64);
    let mean_abs_error = errors.clone().sum::<f64>() / measured.len() as f64;
    let max_abs_error = errors.fold(0.0, f64::max);

    let truth_at = |t: f64| -> Option<f64> {
        let i = samples.partition_point(|s| s.0 <= t);
        if i == 0 || i >= samples.len() {
            return None;
        }
        let (a, b) = (samples[i - 1], samples[i]);
        let u = if b.0 > a.0 { (t - a.0) / (b.0 - a.0) } else { 0.0 };
        Some(a.2 as f64 + (b.2 as f64 - a.2 as f64) * u)
    };
    let mut best = (f64::INFINITY, 0.0);
    for ms in 0..=1000 {
        let tau = ms as f64 / 1000.0;
        let (mut sum, mut n) = (0.0, 0usize);
        for s in &measured {
            if let Some(truth) = truth_at(s.0 - tau) {
                sum += (s.1 as f64 - truth).abs();
                n += 1;
            }
        }
        if n * 2 >= measured.len() && sum / (n as f64) < best.0 - 1e-9 {
            best = (sum / n as f64, tau);
        }
    }
    LagReport { frames: measured.len(), mean_abs_error, max_abs_error, lag_seconds: best.1 }
}

/// A synthetic clip with known depth for measuring focus and stabilisation: a textured far wall
/// and floor, a near object at the right edge, and a textured disc (the subject) that moves across
/// the picture while its depth goes 0.35 → 0.8 → 0.35 (triangle, one period of `period` seconds).
///
/// `depth` imitates a single-image network: the clean disparity plus per-pixel noise, a few
/// outlier pixels whose values (up to `wander` beyond [0, 1]) set each frame's range, the
/// nearest object's value and a slight tilt wandering from frame to frame, then normalised by its
/// own minimum and maximum, as networks' outputs are.
#[derive(Clone, Debug)]
pub struct SyntheticClip {
    pub width: usize,
    pub height: usize,
    pub fps: f64,
    /// Standard deviation of the per-pixel depth noise.
    pub noise: f32,
    /// Size of the frame-to-frame wandering of the range and the nearest object (0 = none).
    pub wander: f32,
    /// Seconds for the subject to go and come back.
    pub period: f64,
    /// Whether the subject moves (else it rests at its start).
    pub moving: bool,
}

/// One frame of a [`SyntheticClip`].
#[derive(Clone, Debug)]
pub struct SyntheticFrame {
    pub t: f64,
    pub rgb: RgbImage,
    /// As a network would give it (noisy, per-frame normalised).
    pub depth: Plane,
    /// The clean disparity.
    pub true_depth: Plane,
    /// The subject's disparity and centre (relative, stored = displayed orientation).
    pub subject_depth: f32,
    pub subject_centre: (f32, f32),
}

impl Default for SyntheticClip {
    fn default() -> Self {
        Self { width: 160, height: 90, fps: 30.0, noise: 0.01, wander: 0.1, period: 4.0, moving: true }
    }
}

impl SyntheticClip {
    /// The subject's depth and centre at `t`.
    pub fn subject_at(&self, t: f64) -> (f32, (f32, f32)) {
        let phase = if self.moving { (t / self.period).fract() } else { 0.0 };
        let tri = (1.0 - (2.0 * phase - 1.0).abs()) as f32; // 0 → 1 → 0
        (0.35 + 0.45 * tri, (0.3 + 0.4 * tri, 0.55))
    }

    pub fn frame(&self, index: u64) -> SyntheticFrame {
        let t = index as f64 / self.fps;
        let (w, h) = (self.width, self.height);
        let (sd, (sx, sy)) = self.subject_at(t);
        let radius = 0.22 * h as f32;
        let in_subject = |x: usize, y: usize| {
            let dx = x as f32 + 0.5 - sx * w as f32;
            let dy = y as f32 + 0.5 - sy * h as f32;
            dx * dx + dy * dy < radius * radius
        };
        // The clean disparity and which part of the scene a pixel shows.
        let scene = |x: usize, y: usize| -> (f32, Part) {
            let (u, v) = ((x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32);
            if in_subject(x, y) {
                (sd, Part::Subject)
            } else if u > 0.9 && v > 0.3 {
                (1.0, Part::Near) // a post at the right edge
            } else if v > 0.7 {
                (0.2 + (v - 0.7), Part::Floor) // the floor coming closer
            } else {
                (0.1 * u, Part::Wall) // the far wall, slightly slanted
            }
        };
        let clean = |x: usize, y: usize| scene(x, y).0;
        let true_depth = Plane::from_fn(w, h, clean);
        let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15 ^ index.wrapping_mul(0x2545_F491_4F6C_DD1D));
        // The network's range wanders (its outlier pixels decide the per-frame minimum and
        // maximum), the nearest object's value is uncertain, and the whole map tilts a little.
        let lo = -self.wander * rng.uniform();
        let hi = 1.0 + self.wander * rng.uniform();
        let near = -0.3 * self.wander * rng.uniform();
        let tilt = 0.1 * self.wander * (rng.uniform() - 0.5);
        let mut depth = Plane::from_fn(w, h, |x, y| {
            let (c, part) = scene(x, y);
            let c = if part == Part::Near { c + near } else { c };
            c + tilt * ((x as f32 + 0.5) / w as f32 - 0.5)
        });
        // Bounded outputs; the clamp also keeps a noise-only clip's range at [0, 1].
        for v in depth.data.iter_mut() {
            *v = (*v + self.noise * rng.gauss()).clamp(0.0, 1.0);
        }
        if self.wander > 0.0 {
            // A few outlier pixels (0.2 %) at the ends of this frame's range.
            let n = w * h / 500;
            for k in 0..n {
                let i = (rng.next_u64() % (w * h) as u64) as usize;
                depth.data[i] = if k % 2 == 0 { lo } else { hi };
            }
        }
        depth.normalise_min_max();
        let mut rgb = RgbImage::from_fn(w, h, |x, y| {
            if in_subject(x, y) {
                // Texture that moves with the subject.
                let dx = x as f32 - sx * w as f32;
                let stripes = ((dx * 0.9).sin() * 0.5 + 0.5) * 0.3;
                [0.6 + stripes, 0.3, 0.2 + stripes * 0.5]
            } else {
                let n = hash2(x as u32, y as u32);
                let c = clean(x, y);
                [0.3 + 0.4 * n, 0.35 + 0.3 * c, 0.5 - 0.2 * n]
            }
        });
        for v in rgb.data.iter_mut() {
            *v = (*v + 0.002 * rng.gauss()).clamp(0.0, 1.0);
        }
        SyntheticFrame { t, rgb, depth, true_depth, subject_depth: sd, subject_centre: (sx, sy) }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Part {
    Subject,
    Near,
    Floor,
    Wall,
}

fn hash2(x: u32, y: u32) -> f32 {
    let mut h = x.wrapping_mul(0x85EB_CA6B) ^ y.wrapping_mul(0xC2B2_AE35);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^= h >> 12;
    (h & 0xFFFF) as f32 / 65535.0
}

/// A small deterministic generator (xorshift64*), so the clip is the same on every machine.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Standard normal (Box–Muller).
    fn gauss(&mut self) -> f32 {
        let u1 = self.uniform().max(1e-7);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}

/// Flicker and motion lag of the whole focus chain on a [`SyntheticClip`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SyntheticReport {
    pub flicker: FlickerReport,
    pub lag: LagReport,
}

/// Run `frames` frames of `clip` through depth stabilisation (if `stabilise`), the focus
/// controller for `spec` (response time `response`), and the gather lens blur with `max_blur`
/// pixels, measuring flicker in static regions and how far focus trails the subject.
///
/// The subject's true depth in each frame is taken in the depth the renderer uses: the clean
/// disparity mapped through a robust affine fit of that frame's depth to the clean one, so the
/// lag also counts what flicker does to the subject's value.
pub fn measure_synthetic(
    clip: &SyntheticClip,
    frames: u64,
    stabilise: bool,
    spec: FocusSpec,
    response: f32,
    max_blur: f32,
) -> SyntheticReport {
    let mut stabilizer = DepthStabilizer::new();
    let mut controller = FocusController::new(spec, BlurAmount::Pixels(max_blur), Rotation(0))
        .with_smoothing(response)
        .with_history(false);
    let mut meter = FlickerMeter::default();
    let mut samples = Vec::with_capacity(frames as usize);
    for i in 0..frames {
        let f = clip.frame(i);
        let mut depth = f.depth;
        if stabilise {
            stabilizer.apply(&mut depth);
        }
        let state = controller.next(i, f.t, &depth);
        let params = LensParams::new(state.focus, state.blur.to_pixels(clip.width));
        let out = gather_blur(&f.rgb, &depth, &params);
        meter.push(&f.rgb, &depth, Some(&out));
        let step = ((depth.data.len() / 4096) as f64).sqrt().floor().max(1.0) as usize;
        let (xs, ys): (Vec<f32>, Vec<f32>) =
            f.true_depth.data.iter().zip(&depth.data).step_by(step).map(|(c, d)| (*c, *d)).unzip();
        let truth = robust_affine(&xs, &ys).map_or(f.subject_depth, |fit| fit.a * f.subject_depth + fit.b);
        samples.push((f.t, state.focus, truth));
    }
    SyntheticReport { flicker: meter.report(), lag: motion_lag(&samples, response as f64) }
}
