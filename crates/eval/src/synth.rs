//! Layered depth-of-field ground truth in the way of the paper's §4.2.
//!
//! A scene is a background plus two foreground objects, each a full picture with its own depth,
//! so the content behind every object is known. The background is flat or a depth ramp
//! (`b0 > b1`, horizontal or bottom to top); the objects are smooth random shapes with slightly
//! soft, anti-aliased edges at homogeneous depths `f0 > f1`, both nearer than the background.
//! Textures come from real photographs when a directory is given, otherwise from rich procedural
//! patterns (multi-octave noise, warped stripes, small bright highlights so bokeh matters).
//!
//! The ground truth blurs each layer on its own in linear light with its own circle of
//! confusion (the background with its per-pixel radius; it is a single surface, so there is no
//! occlusion within it), then composites the layers back to front with their blurred alpha.
//! Everything is drawn on a canvas larger than the frame by the largest radius, so light from
//! just outside the frame is real too. Generation is deterministic from a seed.

use deeplens_core::frame::{Plane, RgbImage};
use deeplens_core::lens::aperture::Bokeh;
use deeplens_core::lens::scatter::{Splat, SplatRows};
use deeplens_core::lens::{from_linear, to_linear, LensParams};
use deeplens_core::{ErrorKind, Kind};
use std::path::Path;

/// A small deterministic generator (SplitMix64); no outside crate so results never change with
/// a dependency update.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f32()
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, p: f32) -> bool {
        self.f32() < p
    }
}

/// The seed of sample `index` of a set made with `seed`.
pub fn sample_seed(seed: u64, index: u64) -> u64 {
    Rng::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ index).next_u64()
}

/// One surface of a scene: linear-light colour over the whole canvas, coverage and depth.
#[derive(Clone, Debug)]
pub struct Layer {
    /// Linear-light colour, canvas size.
    pub color: RgbImage,
    /// Coverage in [0, 1] (all ones for the background).
    pub alpha: Plane,
    /// Normalised disparity per pixel (constant for objects).
    pub depth: Plane,
}

/// A layered scene: `layers[0]` is the background, later layers are nearer.
#[derive(Clone, Debug)]
pub struct Scene {
    pub width: usize,
    pub height: usize,
    /// Extra canvas on every side of the frame.
    pub pad: usize,
    pub layers: Vec<Layer>,
}

/// A generated sample, ready to be written out.
#[derive(Clone, Debug)]
pub struct Sample {
    pub seed: u64,
    pub focus: f32,
    pub max_blur: f32,
    /// All-in-focus picture (gamma-encoded).
    pub input: RgbImage,
    pub depth: Plane,
    /// The depth with each object's outline dilated or eroded by a few pixels.
    pub depth_corrupt: Plane,
    /// Layered depth-of-field ground truth (gamma-encoded).
    pub target: RgbImage,
}

/// Photographs to texture scenes with, as linear-light pictures.
pub fn load_textures(dir: &Path) -> deeplens_core::Result<Vec<RgbImage>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir).or_kind(Kind::Input)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("").to_ascii_lowercase();
            // skimage's motorcycle pair is held-out test data.
            !name.starts_with("motorcycle") && (name.ends_with(".png") || name.ends_with(".jpg") || name.ends_with(".jpeg"))
        })
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let img = image::open(&p).or_kind(Kind::Input)?.to_rgb8();
        let (w, h) = (img.width() as usize, img.height() as usize);
        if w < 32 || h < 32 {
            continue;
        }
        let mut rgb = RgbImage::from_rgb8(w, h, img.as_raw());
        rgb.data.iter_mut().for_each(|v| *v = to_linear(*v));
        out.push(rgb);
    }
    if out.is_empty() {
        deeplens_core::fail!(Input, "no usable pictures in {}", dir.display());
    }
    Ok(out)
}

impl Scene {
    /// A random scene of `width × height` with room for blur radii up to `max_radius`.
    pub fn random(rng: &mut Rng, width: usize, height: usize, max_radius: f32, textures: &[RgbImage]) -> Self {
        let pad = max_radius.ceil() as usize + 2;
        let (cw, ch) = (width + 2 * pad, height + 2 * pad);
        // Background depth: flat or a ramp from b0 (near) to b1 (far).
        let b0 = rng.range(0.0, 0.6);
        let b1 = if rng.chance(0.3) { b0 } else { rng.range(0.0, b0) };
        let kind = rng.below(3);
        let bg_depth = Plane::from_fn(cw, ch, |x, y| {
            let t = match kind {
                0 => 1.0 - y as f32 / (ch - 1) as f32,
                1 => x as f32 / (cw - 1) as f32,
                _ => 1.0 - x as f32 / (cw - 1) as f32,
            };
            b0 + (b1 - b0) * t
        });
        let mut layers = vec![Layer { color: texture(rng, cw, ch, textures), alpha: Plane::filled(cw, ch, 1.0), depth: bg_depth }];
        let f1 = rng.range(b0 + 0.05, 0.85);
        let f0 = rng.range(f1 + 0.05, 1.0);
        for f in [f1, f0] {
            let alpha = shape_mask(rng, cw, ch, pad);
            layers.push(Layer { color: texture(rng, cw, ch, textures), alpha, depth: Plane::filled(cw, ch, f) });
        }
        Self { width, height, pad, layers }
    }

    fn crop_plane(&self, p: &Plane) -> Plane {
        Plane::from_fn(self.width, self.height, |x, y| p.get(x + self.pad, y + self.pad))
    }

    fn crop_rgb(&self, p: &RgbImage) -> RgbImage {
        RgbImage::from_fn(self.width, self.height, |x, y| p.pixel(x + self.pad, y + self.pad))
    }

    /// The all-in-focus picture: the layers composited with their coverage in linear light.
    pub fn input(&self) -> RgbImage {
        let mut lin = self.layers[0].color.clone();
        for l in &self.layers[1..] {
            for (i, &a) in l.alpha.data.iter().enumerate() {
                for k in 0..3 {
                    let j = i * 3 + k;
                    lin.data[j] += a * (l.color.data[j] - lin.data[j]);
                }
            }
        }
        let mut out = self.crop_rgb(&lin);
        out.data.iter_mut().for_each(|v| *v = from_linear(*v));
        out
    }

    /// Depth of the nearest surface covering each pixel by more than half.
    pub fn depth(&self) -> Plane {
        self.depth_with(|_, a| a.data.iter().map(|&v| v >= 0.5).collect())
    }

    /// The depth with each object's outline grown or shrunk by 1–4 pixels at random.
    pub fn depth_corrupt(&self, rng: &mut Rng) -> Plane {
        let (cw, ch) = (self.layers[0].alpha.width, self.layers[0].alpha.height);
        let changes: Vec<isize> = (1..self.layers.len())
            .map(|_| {
                let k = 1 + rng.below(4) as isize;
                if rng.chance(0.5) { k } else { -k }
            })
            .collect();
        self.depth_with(|i, a| {
            let m: Vec<bool> = a.data.iter().map(|&v| v >= 0.5).collect();
            morph(&m, cw, ch, changes[i - 1])
        })
    }

    fn depth_with(&self, mask_of: impl Fn(usize, &Plane) -> Vec<bool>) -> Plane {
        let mut d = self.layers[0].depth.clone();
        for (i, l) in self.layers.iter().enumerate().skip(1) {
            let m = mask_of(i, &l.alpha);
            for (j, &on) in m.iter().enumerate() {
                if on {
                    d.data[j] = l.depth.data[j];
                }
            }
        }
        self.crop_plane(&d)
    }

    /// The layered ground truth for the given lens (gamma-encoded, frame size).
    pub fn ground_truth(&self, params: &LensParams) -> RgbImage {
        let bg = &self.layers[0];
        let (cw, ch) = (bg.color.width, bg.color.height);
        let bokeh = Bokeh::padded(params, self.width, self.height, self.pad);
        let mut rows = SplatRows::new(cw, ch);
        let mut acc = vec![[0.0f32; 4]; cw * ch];
        for (li, l) in self.layers.iter().enumerate() {
            rows.clear();
            for y in 0..ch {
                for x in 0..cw {
                    let i = y * cw + x;
                    let a = l.alpha.data[i];
                    if a <= 0.0 {
                        continue;
                    }
                    let c = l.color.pixel(x, y);
                    let r = params.coc(l.depth.data[i]);
                    rows.push(y, Splat::new(&bokeh, x, y, r, [c[0] * a, c[1] * a, c[2] * a, a]));
                }
            }
            let mut layer = vec![[0.0f32; 4]; cw * ch];
            rows.scatter_into(&bokeh, &mut layer);
            if li == 0 {
                // One opaque surface whose radius varies: normalise by the weight received.
                for v in &mut layer {
                    let s = 1.0 / v[3].max(1e-6);
                    *v = [v[0] * s, v[1] * s, v[2] * s, 1.0];
                }
                acc = layer;
            } else {
                for (o, v) in acc.iter_mut().zip(&layer) {
                    let t = 1.0 - v[3].min(1.0);
                    for k in 0..3 {
                        o[k] = v[k] + t * o[k];
                    }
                }
            }
        }
        RgbImage::from_fn(self.width, self.height, |x, y| {
            let v = acc[(y + self.pad) * cw + x + self.pad];
            [from_linear(v[0]), from_linear(v[1]), from_linear(v[2])]
        })
    }

    /// A full training sample: random focus (half the time on one of the surfaces) and a blur
    /// between a quarter of `max_blur` and `max_blur`.
    pub fn sample(&self, rng: &mut Rng, seed: u64, max_blur: f32) -> Sample {
        let depth = self.depth();
        let focus = if rng.chance(0.5) {
            match rng.below(3) {
                0 => self.layers[2].depth.data[0],
                1 => self.layers[1].depth.data[0],
                _ => depth.data[rng.below(depth.data.len())],
            }
        } else {
            rng.f32()
        };
        let focus = (focus * 1000.0).round() / 1000.0;
        let blur = (rng.range(0.25, 1.0) * max_blur * 100.0).round() / 100.0;
        let depth_corrupt = self.depth_corrupt(rng);
        let target = self.ground_truth(&LensParams::new(focus, blur));
        Sample { seed, focus, max_blur: blur, input: self.input(), depth, depth_corrupt, target }
    }
}

/// Generate sample `seed` of size `width × height` with blur up to `max_blur` pixels.
pub fn generate(seed: u64, width: usize, height: usize, max_blur: f32, textures: &[RgbImage]) -> Sample {
    generate_with(seed, width, height, max_blur, textures, None)
}

/// Light sources brighter than white to add to every surface of a scene (each surface gets them
/// with probability 0.6): they clip in the 8-bit input but keep their energy in the ground truth,
/// so they bloom into bright discs as lamps and glints do through a real lens.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lights {
    /// Gain over white, drawn in `gain.0..gain.1` (log-uniformly when `log_uniform`).
    pub gain: (f32, f32),
    pub log_uniform: bool,
    /// Largest dot radius in pixels (the smallest is 0.5).
    pub max_radius: f32,
}

impl Lights {
    /// 1.5–8 × white, uniform, radius ≤ 2 px (the first training stage of `models/lens.onnx`).
    pub const WEAK: Lights = Lights { gain: (1.5, 8.0), log_uniform: false, max_radius: 2.0 };
    /// 2–64 × white, log-uniform, radius ≤ 2.5 px: lamps and specular glints are one to two
    /// orders of magnitude above diffuse white (the second stage).
    pub const BRIGHT: Lights = Lights { gain: (2.0, 64.0), log_uniform: true, max_radius: 2.5 };
}

/// [`generate`] with [`Lights`] on the surfaces. They come from their own random stream, so a
/// sample without them is the same as [`generate`]'s.
pub fn generate_with(seed: u64, width: usize, height: usize, max_blur: f32, textures: &[RgbImage], lights: Option<Lights>) -> Sample {
    let mut rng = Rng::new(seed);
    let mut scene = Scene::random(&mut rng, width, height, max_blur, textures);
    if let Some(l) = lights {
        let mut stream = Rng::new(seed ^ 0x4844_525F_4C49_4748);
        for layer in &mut scene.layers {
            if stream.chance(0.6) {
                add_lights(&mut stream, &mut layer.color, l);
            }
        }
    }
    scene.sample(&mut rng, seed, max_blur)
}

/// Evaluation case `i`: a procedural scene (seed set 1000, apart from any training set made with
/// the `synth` example's default seeds) focused in turn on the middle object, the background
/// and the front object, at full blur `max_blur`.
pub fn eval_case(i: u64, size: usize, max_blur: f32) -> (Scene, LensParams) {
    let mut rng = Rng::new(sample_seed(1000, i));
    let scene = Scene::random(&mut rng, size, size, max_blur, &[]);
    let focus = case_focus(&scene, i);
    (scene, LensParams::new(focus, max_blur))
}

/// The focus of evaluation case `i`: the middle layer, the background's far end, the front layer
/// in turn.
pub fn case_focus(scene: &Scene, i: u64) -> f32 {
    match i % 3 {
        0 => scene.layers[1].depth.data[0],
        1 => scene.layers[0].depth.data.iter().cloned().fold(1.0, f32::min),
        _ => scene.layers[2].depth.data[0],
    }
}

/// Grow (`k > 0`) or shrink (`k < 0`) a mask by `|k|` pixels with a disc.
fn morph(m: &[bool], w: usize, h: usize, k: isize) -> Vec<bool> {
    let grow = k > 0;
    let r = k.abs();
    let mut out = m.to_vec();
    for y in 0..h as isize {
        for x in 0..w as isize {
            let i = y as usize * w + x as usize;
            if m[i] == grow {
                continue;
            }
            // A pixel flips if any pixel of the opposite state lies within the disc.
            'search: for dy in -r..=r {
                for dx in -r..=r {
                    if dx * dx + dy * dy > r * r {
                        continue;
                    }
                    let (xx, yy) = (x + dx, y + dy);
                    if xx < 0 || yy < 0 || xx >= w as isize || yy >= h as isize {
                        continue;
                    }
                    if m[yy as usize * w + xx as usize] == grow {
                        out[i] = grow;
                        break 'search;
                    }
                }
            }
        }
    }
    out
}

/// A random smooth shape: the union of one or two star-shaped blobs (a radius made of a few low
/// harmonics of the angle), with an anti-aliased edge 0.7–1.6 px wide.
fn shape_mask(rng: &mut Rng, w: usize, h: usize, pad: usize) -> Plane {
    let (fw, fh) = ((w - 2 * pad) as f32, (h - 2 * pad) as f32);
    let m = fw.min(fh);
    let soft = rng.range(0.7, 1.6);
    let n = 1 + rng.below(2);
    // Centre x, centre y, base radius, (amplitude, phase) of harmonics 2…6.
    type Blob = (f32, f32, f32, Vec<(f32, f32)>);
    let blobs: Vec<Blob> = (0..n)
        .map(|_| {
            let cx = pad as f32 + rng.range(0.1, 0.9) * fw;
            let cy = pad as f32 + rng.range(0.1, 0.9) * fh;
            let r0 = rng.range(0.1, 0.3) * m;
            let harm = (2..7).map(|k| (rng.range(0.0, 0.3) / k as f32 * 2.0, rng.range(0.0, std::f32::consts::TAU))).collect();
            (cx, cy, r0, harm)
        })
        .collect();
    Plane::from_fn(w, h, |x, y| {
        let mut best: f32 = 0.0;
        for (cx, cy, r0, harm) in &blobs {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            let rho = (dx * dx + dy * dy).sqrt();
            let th = dy.atan2(dx);
            let mut rr = 1.0;
            for (k, (a, ph)) in harm.iter().enumerate() {
                rr += a * ((k + 2) as f32 * th + ph).cos();
            }
            let a = (0.5 + (r0 * rr - rho) / soft).clamp(0.0, 1.0);
            best = best.max(a);
        }
        best
    })
}

/// A linear-light texture for a whole canvas: a random crop of a photograph when there are
/// some, otherwise a procedural pattern; small bright highlights are added to most.
fn texture(rng: &mut Rng, w: usize, h: usize, photos: &[RgbImage]) -> RgbImage {
    let mut img = if !photos.is_empty() {
        let p = &photos[rng.below(photos.len())];
        // Random crop at a random scale, random flip.
        let scale = rng.range(0.6, 1.6);
        let cw = ((w as f32 / scale) as usize).clamp(8, p.width);
        let ch = ((h as f32 / scale) as usize).clamp(8, p.height);
        let (ox, oy) = (rng.below(p.width - cw + 1), rng.below(p.height - ch + 1));
        let flip = rng.chance(0.5);
        let crop = RgbImage::from_fn(cw, ch, |x, y| p.pixel(ox + if flip { cw - 1 - x } else { x }, oy + y));
        crop.resize(w, h)
    } else {
        procedural(rng, w, h)
    };
    if rng.chance(0.7) {
        add_highlights(rng, &mut img);
    }
    img
}

fn procedural(rng: &mut Rng, w: usize, h: usize) -> RgbImage {
    let palette: Vec<[f32; 3]> = (0..3).map(|_| [rng.f32(), rng.f32(), rng.f32()].map(|v| v * v)).collect();
    let seed = rng.next_u64();
    let period = rng.range(3.0, 40.0);
    let scale = rng.range(4.0, 60.0);
    let angle = rng.range(0.0, std::f32::consts::PI);
    let warp = rng.range(0.0, 6.0);
    let kind = rng.below(3);
    let grain = rng.range(0.0, 0.08);
    let (ca, sa) = (angle.cos(), angle.sin());
    RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let n = fbm(seed, fx / scale, fy / scale, 5);
        let t = match kind {
            // Colour-mapped multi-octave noise.
            0 => n,
            // Warped stripes.
            1 => 0.5 + 0.5 * ((fx * ca + fy * sa) / period * std::f32::consts::TAU + warp * n).sin(),
            // Blotches over stripes.
            _ => {
                let s = 0.5 + 0.5 * ((fx * sa - fy * ca) / period * std::f32::consts::TAU).sin();
                if n > 0.55 { n } else { s * 0.7 }
            }
        };
        let g = grain * (hash2(seed ^ 0xABCD, x as i64, y as i64) - 0.5);
        let t = t.clamp(0.0, 1.0);
        let (c0, c1, tt) = if t < 0.5 { (palette[0], palette[1], t * 2.0) } else { (palette[1], palette[2], t * 2.0 - 1.0) };
        [0, 1, 2].map(|k| (c0[k] + (c1[k] - c0[k]) * tt + g).clamp(0.0, 1.0))
    })
}

/// Small saturated-bright dots (street lights, glints), anti-aliased.
fn add_highlights(rng: &mut Rng, img: &mut RgbImage) {
    dots(rng, img, 2500, (0.6, 2.5), |rng| [rng.range(0.7, 1.0), rng.range(0.7, 1.0), rng.range(0.7, 1.0)]);
}

/// `l`'s lights: fewer and smaller than the texture's own highlights, slightly tinted.
fn add_lights(rng: &mut Rng, img: &mut RgbImage, l: Lights) {
    dots(rng, img, 6000, (0.5, l.max_radius), |rng| {
        let gain = if l.log_uniform { rng.range(l.gain.0.ln(), l.gain.1.ln()).exp() } else { rng.range(l.gain.0, l.gain.1) };
        [rng.range(0.75, 1.0), rng.range(0.75, 1.0), rng.range(0.75, 1.0)].map(|t| t * gain)
    });
}

/// Anti-aliased dots, one per `area_per_dot` pixels at most (at least one), of radius
/// `r_lo..r_hi` and colour `tint`.
fn dots(rng: &mut Rng, img: &mut RgbImage, area_per_dot: usize, (r_lo, r_hi): (f32, f32), tint: impl Fn(&mut Rng) -> [f32; 3]) {
    let (w, h) = (img.width, img.height);
    let count = 1 + rng.below((w * h / area_per_dot).max(2));
    for _ in 0..count {
        let (cx, cy) = (rng.range(0.0, w as f32), rng.range(0.0, h as f32));
        let r = rng.range(r_lo, r_hi);
        let tint = tint(rng);
        let ri = r.ceil() as isize + 1;
        for y in (cy as isize - ri).max(0)..(cy as isize + ri + 1).min(h as isize) {
            for x in (cx as isize - ri).max(0)..(cx as isize + ri + 1).min(w as isize) {
                let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
                let a = (r + 0.5 - d).clamp(0.0, 1.0);
                if a > 0.0 {
                    let i = (y as usize * w + x as usize) * 3;
                    for (v, t) in img.data[i..i + 3].iter_mut().zip(tint) {
                        *v += a * (t - *v);
                    }
                }
            }
        }
    }
}

fn hash2(seed: u64, x: i64, y: i64) -> f32 {
    let mut r = Rng::new(seed ^ (x as u64).wrapping_mul(0x9E37_79B1) ^ (y as u64).wrapping_mul(0x85EB_CA77_C2B2_AE63));
    r.f32()
}

fn value_noise(seed: u64, x: f32, y: f32) -> f32 {
    let (x0, y0) = (x.floor(), y.floor());
    let (tx, ty) = (x - x0, y - y0);
    let (sx, sy) = (tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty));
    let (ix, iy) = (x0 as i64, y0 as i64);
    let a = hash2(seed, ix, iy);
    let b = hash2(seed, ix + 1, iy);
    let c = hash2(seed, ix, iy + 1);
    let d = hash2(seed, ix + 1, iy + 1);
    let top = a + (b - a) * sx;
    let bot = c + (d - c) * sx;
    top + (bot - top) * sy
}

fn fbm(seed: u64, x: f32, y: f32, octaves: u32) -> f32 {
    let (mut s, mut amp, mut f, mut norm) = (0.0, 1.0, 1.0, 0.0);
    for o in 0..octaves {
        s += amp * value_noise(seed.wrapping_add(o as u64), x * f, y * f);
        norm += amp;
        amp *= 0.55;
        f *= 2.03;
    }
    s / norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lights_keep_the_energy_the_8_bit_input_clips() {
        // Mean linear light of the truth over that of the input as an 8-bit file holds it.
        let ratio = |s: &Sample| {
            let mean = |img: &RgbImage, clip: bool| img.data.iter().map(|&v| to_linear(if clip { v.min(1.0) } else { v })).sum::<f32>() / img.data.len() as f32;
            mean(&s.target, false) / mean(&s.input, true)
        };
        let (mut plain, mut lit, mut clipped) = (0.0, 0.0, 0);
        for seed in 0..12 {
            plain += ratio(&generate(seed, 96, 96, 12.0, &[])) / 12.0;
            let s = generate_with(seed, 96, 96, 12.0, &[], Some(Lights::BRIGHT));
            clipped += s.input.data.iter().any(|&v| v > 1.0) as usize;
            lit += ratio(&s) / 12.0;
        }
        println!("lights clip in {clipped} of 12 samples");
        assert!(clipped >= 4, "lights clip in only {clipped} of 12 samples");
        println!("truth/input energy: plain {plain:.3}, with lights {lit:.3}");
        assert!((plain - 1.0).abs() < 0.01, "{plain}");
        assert!(lit > plain + 0.01, "{lit} vs {plain}");
        // Without lights the sample is generate()'s, bit for bit.
        assert_eq!(generate_with(3, 48, 40, 6.0, &[], None).target, generate(3, 48, 40, 6.0, &[]).target);
    }

    #[test]
    fn deterministic_and_well_formed() {
        let a = generate(7, 48, 40, 6.0, &[]);
        let b = generate(7, 48, 40, 6.0, &[]);
        assert_eq!(a.target, b.target);
        assert_eq!(a.depth, b.depth);
        assert_eq!((a.target.width, a.target.height), (48, 40));
        assert!(a.depth.data.iter().all(|d| (0.0..=1.0).contains(d)));
        assert!(a.target.data.iter().all(|v| v.is_finite() && (0.0..=1.0001).contains(v)));
        let c = generate(8, 48, 40, 6.0, &[]);
        assert_ne!(a.input, c.input);
    }

    #[test]
    fn zero_blur_ground_truth_is_the_input() {
        let mut rng = Rng::new(3);
        let s = Scene::random(&mut rng, 40, 32, 4.0, &[]);
        let gt = s.ground_truth(&LensParams::new(0.5, 0.0));
        let psnr = deeplens_core::frame::psnr(&gt, &s.input(), None);
        assert!(psnr > 60.0, "{psnr}");
    }

    #[test]
    fn objects_are_nearer_than_background_and_corruption_moves_edges() {
        let mut rng = Rng::new(11);
        let s = Scene::random(&mut rng, 64, 64, 4.0, &[]);
        let bg_max = s.layers[0].depth.data.iter().cloned().fold(0.0, f32::max);
        assert!(s.layers[1].depth.data[0] > bg_max && s.layers[2].depth.data[0] > s.layers[1].depth.data[0]);
        let d = s.depth();
        let dc = s.depth_corrupt(&mut rng);
        let changed = d.data.iter().zip(&dc.data).filter(|(a, b)| a != b).count();
        assert!(changed > 0);
    }
}
