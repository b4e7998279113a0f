//! The physically based renderer: occlusion-aware layered scatter in linear light.
//!
//! **Layers.** The signed circle of confusion `s = max_blur · (D − d_f)` orders the pixels from
//! far (small disparity, most negative `s`) to near. Pixels
//! are cut into depth slices whose width in `s` grows with `|s|` (one pixel of radius near the
//! focal plane, a few pixels far from it), so slices are fine where a small radius error shows and
//! coarse where the blur hides it. Within a slice every pixel keeps its own radius; the slices only
//! decide what occludes what.
//!
//! **Scatter.** Each slice is scattered on its own: every pixel spreads its linear colour and a
//! unit alpha over its aperture, divided by the aperture's area (premultiplied alpha). The
//! aperture is drawn as horizontal row spans added to difference rows and integrated by one prefix
//! sum per row, so a disc or polygon costs O(r) per pixel, not O(r²) (see [`super::scatter`]).
//! Slices are then composited back to front with "over". An in-focus subject is opaque in its
//! own slice, so nothing behind it can leak onto it (no halo); a blurred slice in front spreads
//! beyond its outline with its blurred alpha, a soft semi-transparent edge (partial occlusion).
//!
//! **What is hidden.** A slice must also be opaque where nearer pixels hide it, otherwise its blur
//! would fade toward their outline and what shows through a nearer slice's soft edge would be a
//! hole. So each slice is extended under the nearer pixels within the largest radius of its
//! boundary, with colour filled by pull-push interpolation from the pixels at or behind that
//! slice (skipping those touching the nearer region, which mix in foreground colour at
//! anti-aliased outlines). Hidden background thus comes from its own surroundings, never from
//! the occluder.
//!
//! **Light.** Everything happens in linear light; clipped 8-bit highlights can be boosted before
//! the blur so they bloom into bright bokeh. The picture is reflect-padded by the largest radius
//! so the frame border needs no special case.

use super::aperture::Bokeh;
use super::scatter::{AreaTable, Rect, Splat, SplatRows};
use super::{from_linear, to_linear, LensBlur, LensParams};
use crate::frame::{Plane, RgbImage};
use rayon::prelude::*;

/// Slices are `1 + |s| / SLICE_GROWTH` pixels of radius wide.
const SLICE_GROWTH: f32 = 6.0;

/// Slices whose radius is at least this are scattered at half resolution, except their point
/// lights (see [`Layers::is_light`]), which keep the full resolution's crisp disc edge.
const HALF_RES_RADIUS: f32 = 4.0;

/// A pixel of a half-resolution slice is a point light, scattered at full resolution, when its
/// brightest linear channel is at least this …
const LIGHT_MIN: f32 = 0.5;
/// … and this many times the mean of that channel over the 4×4 pixels around its 2×2 block.
const LIGHT_CONTRAST: f32 = 3.0;

/// The highlight boost keys on the smallest channel over `[HIGHLIGHT_KEY, 1]` (smoothstep): clipped
/// lights, not bright surfaces. From 0.9, as first chosen, near-white walls and skies were
/// brightened as if they were lights (−3.4 dB in the flat regions of issue 18's selection
/// renders); 0.95 to 0.99 all score the same there, and the lower end leaves room for clipped
/// pixels that a video codec has moved a little below white.
const HIGHLIGHT_KEY: f32 = 0.95;

/// Physically based lens blur in linear light. It keeps its scratch buffers from one frame to
/// the next, so a video does not allocate (and fault in) a dozen frame-sized buffers per frame.
#[derive(Default)]
pub struct PhysicalRenderer {
    scratch: Scratch,
}

impl PhysicalRenderer {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Frame-sized buffers of [`render_with`], reused across frames.
#[derive(Default)]
pub struct Scratch {
    lin: Vec<[f32; 3]>,
    sig: Vec<f32>,
    slice: Vec<i16>,
    acc: Vec<[f32; 4]>,
    half_layer: Vec<[f32; 4]>,
    lights: Vec<[f32; 4]>,
    splats: Option<SplatRows>,
    half_splats: Option<SplatRows>,
}

/// `v` holding `n` copies of `value` (its allocation kept when it is large enough).
fn reset<T: Copy + Send + Sync>(v: &mut Vec<T>, n: usize, value: T) {
    v.clear();
    v.resize(n, value);
}

/// Splat rows of `w × h`, kept when the size is unchanged.
fn splat_rows(slot: &mut Option<SplatRows>, w: usize, h: usize) -> &mut SplatRows {
    if slot.as_ref().is_none_or(|s| (s.width, s.height) != (w, h)) {
        *slot = Some(SplatRows::new(w, h));
    }
    slot.as_mut().expect("just set")
}

impl LensBlur for PhysicalRenderer {
    fn name(&self) -> &'static str {
        "physical"
    }

    fn render(&mut self, rgb: &RgbImage, depth: &Plane, params: &LensParams) -> crate::Result<RgbImage> {
        if (rgb.width, rgb.height) != (depth.width, depth.height) {
            crate::fail!(Input, "depth is {}x{} but the picture is {}x{}", depth.width, depth.height, rgb.width, rgb.height);
        }
        let scratch = &mut self.scratch;
        // On a pool thread the many short parallel passes of a frame are cheap joins; called
        // from outside the pool each would be a hand-off to it and a sleep until it finished.
        Ok(rayon::scope(|_| render_with(scratch, rgb, depth, params)))
    }

    fn fork(&self) -> Option<Box<dyn LensBlur>> {
        Some(Box::new(PhysicalRenderer::new()))
    }
}

/// Slice index of a signed radius: 0 holds the in-focus pixels (|s| under about half a pixel).
#[inline]
fn slice_of(s: f32) -> i16 {
    let u = SLICE_GROWTH * (1.0 + s.abs() / SLICE_GROWTH).ln();
    (u + 0.5).floor().copysign(s) as i16
}

/// [`slice_of`] by a table of the radii where slices begin (a few comparisons instead of a
/// logarithm per pixel).
struct SliceTable(Vec<f32>);

impl SliceTable {
    /// For radii up to `r_max`.
    fn new(r_max: f32) -> Self {
        let n = slice_of(r_max + 1.0) as usize + 1;
        // Slice k ≥ 1 begins where `SLICE_GROWTH · ln(1 + |s| / SLICE_GROWTH) + 0.5` reaches k.
        Self((1..=n).map(|k| SLICE_GROWTH * (((k as f32 - 0.5) / SLICE_GROWTH).exp() - 1.0)).collect())
    }

    #[inline]
    fn get(&self, s: f32) -> i16 {
        let a = s.abs();
        let k = self.0.partition_point(|&t| t <= a) as i16;
        if s < 0.0 { -k } else { k }
    }
}

/// Radius at the middle of a slice.
#[inline]
fn slice_radius(k: i16) -> f32 {
    SLICE_GROWTH * ((k.unsigned_abs() as f32 / SLICE_GROWTH).exp() - 1.0)
}

/// sRGB decoding by table (4096 steps, interpolated): `powf` per value is a large share of a
/// frame otherwise.
struct LinearLut(Vec<f32>);

impl LinearLut {
    const N: usize = 4096;

    fn new() -> Self {
        Self((0..=Self::N + 1).map(|i| to_linear((i as f32 / Self::N as f32).min(1.0))).collect())
    }

    #[inline]
    fn get(&self, v: f32) -> f32 {
        table_lerp(&self.0, Self::N, v)
    }
}

/// Linear interpolation in a table of `n + 2` samples over [0, 1] at `u` (clipped; NaN reads
/// the first sample).
#[inline(always)]
#[allow(clippy::manual_clamp)] // `clamp` keeps NaN, which the conversion below must never see
fn table_lerp(table: &[f32], n: usize, u: f32) -> f32 {
    let f = u.max(0.0).min(1.0) * n as f32;
    // SAFETY: `f` is finite and within [0, n] (`max` drops NaN), which `i32` holds.
    let i = unsafe { f.to_int_unchecked::<i32>() } as usize;
    let t = f - i as f32;
    table[i] + (table[i + 1] - table[i]) * t
}

/// sRGB encoding of linear values in [0, 1] (clipped above) by a table over `sqrt(v)`, where
/// the curve is smooth enough for linear interpolation.
struct EncodeLut(Vec<f32>);

impl EncodeLut {
    const N: usize = 4096;

    fn new() -> Self {
        Self((0..=Self::N + 1).map(|i| from_linear((i as f32 / Self::N as f32).min(1.0).powi(2))).collect())
    }

    #[inline]
    #[allow(clippy::manual_clamp)] // NaN must read 0 (`clamp` keeps it)
    fn get(&self, v: f32) -> f32 {
        table_lerp(&self.0, Self::N, v.max(0.0).min(1.0).sqrt())
    }
}

/// Reflect index into `0..n` (…2 1 0 1 2…).
#[inline]
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let mut m = i.rem_euclid(period);
    if m >= n {
        m = period - m;
    }
    m as usize
}

/// Render one picture (see the module documentation).
pub fn render(rgb: &RgbImage, depth: &Plane, params: &LensParams) -> RgbImage {
    render_with(&mut Scratch::default(), rgb, depth, params)
}

/// "Over" of a slice's premultiplied value `v` onto what is behind it, `o`.
#[inline]
fn composite(o: &mut [f32; 4], v: [f32; 4]) {
    let a = v[3];
    // Mixed radii are not an exact partition of unity: renormalise where over one.
    let (c, a) = if a > 1.0 { ([v[0] / a, v[1] / a, v[2] / a], 1.0) } else { ([v[0], v[1], v[2]], a) };
    let t = 1.0 - a;
    *o = [c[0] + t * o[0], c[1] + t * o[1], c[2] + t * o[2], a + t * o[3]];
}

/// [`render`] with the buffers of `scratch`.
pub fn render_with(scratch: &mut Scratch, rgb: &RgbImage, depth: &Plane, params: &LensParams) -> RgbImage {
    let (w, h) = (rgb.width, rgb.height);
    assert_eq!((w, h), (depth.width, depth.height));
    let r_max = depth.data.iter().fold(0.0f32, |m, &d| m.max(params.coc(d)));
    if r_max < 0.5 {
        return rgb.clone();
    }
    let pad = r_max.ceil() as usize + 1;
    let (pw, ph) = (w + 2 * pad, h + 2 * pad);
    let n = pw * ph;
    let Scratch { lin, sig, slice, acc, half_layer, lights, splats, half_splats } = scratch;
    linearise(rgb, depth, params, pad, r_max, lin, sig, slice);
    let (lin, sig, slice) = (&lin[..], &sig[..], &slice[..]);
    let (k_min, k_max) = slice.iter().fold((i16::MAX, i16::MIN), |(a, b), &k| (a.min(k), b.max(k)));
    let layers = Layers {
        lin,
        sig,
        slice,
        // The nearest (smallest) slice index behind or at each pixel within the largest radius:
        // a pixel of slice j > k belongs to slice k's hidden extension when this is ≤ k.
        band: min_filter(slice, pw, ph, pad),
        cross: cross_max(slice, pw, ph),
        pw,
        ph,
    };
    let bokeh = Bokeh::padded(params, w, h, pad);
    let areas = AreaTable::new(&bokeh, r_max + 1.0);
    reset(acc, n, [0.0f32; 4]);
    let splats = splat_rows(splats, pw, ph);
    let (hw, hh) = (pw.div_ceil(2), ph.div_ceil(2));
    let mut half = Half { bokeh: Bokeh::padded(params, w.div_ceil(2), h.div_ceil(2), pad / 2), splats: splat_rows(half_splats, hw, hh), layer: half_layer, lights };
    reset(half.layer, hw * hh, [0.0f32; 4]);
    // Per slice: the box around its pixels and its hidden extension, and its largest radius,
    // so each slice's passes touch only the area it can reach.
    let ns = (k_max - k_min + 1) as usize;
    let (boxes, own, hidden, reach) = slice_extents(slice, sig, &layers.band, pw, k_min, ns);
    for k in k_min..=k_max {
        let ki = (k - k_min) as usize;
        if own[ki] == 0 {
            continue;
        }
        let rk = slice_radius(k);
        let rect = boxes[ki].grown(reach[ki].max(rk).ceil() as usize + 2, pw, ph);
        // The hidden pixels lie in the slice's box, each within `pad` of a pixel at or behind
        // the slice: the fill needs no more than the box grown by that.
        let fill = if hidden[ki] { Some(HiddenFill::new(lin, &layers.cross, pw, ph, k, boxes[ki].grown(pad + 2, pw, ph))) } else { None };
        let job = SliceJob { k, rk, rect, fill: fill.as_ref(), areas: &areas };
        if rk >= HALF_RES_RADIUS {
            layers.scatter_half(&job, &mut half, (splats, &bokeh), acc);
        } else {
            layers.scatter_full(&job, splats, &bokeh, acc);
        }
    }
    unpad_encode(acc, w, h, pad)
}

/// Padded linear colour, signed radius and slice index of every pixel.
#[allow(clippy::too_many_arguments)]
fn linearise(rgb: &RgbImage, depth: &Plane, params: &LensParams, pad: usize, r_max: f32, lin: &mut Vec<[f32; 3]>, sig: &mut Vec<f32>, slice: &mut Vec<i16>) {
    let (w, h) = (rgb.width, rgb.height);
    let (pw, ph) = (w + 2 * pad, h + 2 * pad);
    let n = pw * ph;
    let boost = params.highlight_boost.max(0.0);
    let lut = LinearLut::new();
    // Every element is written below: only the size needs setting.
    lin.resize(n, [0.0f32; 3]);
    sig.resize(n, 0.0f32);
    slice.resize(n, 0i16);
    let slices = SliceTable::new(r_max);
    let cols: Vec<usize> = (0..pw).map(|x| reflect(x as isize - pad as isize, w)).collect();
    lin.par_chunks_mut(pw).zip(sig.par_chunks_mut(pw)).zip(slice.par_chunks_mut(pw)).enumerate().for_each(|(y, ((lrow, srow), krow))| {
        let sy = reflect(y as isize - pad as isize, h);
        for (x, &sx) in cols.iter().enumerate() {
            let i = sy * w + sx;
            let c = [rgb.data[i * 3], rgb.data[i * 3 + 1], rgb.data[i * 3 + 2]];
            let mut l = c.map(|v| lut.get(v));
            if boost > 0.0 {
                // Clipped highlights are near white: key on the smallest channel so saturated
                // colours (a pure magenta) are left alone.
                let t = ((c[0].min(c[1]).min(c[2]) - HIGHLIGHT_KEY) / (1.0 - HIGHLIGHT_KEY)).clamp(0.0, 1.0);
                let g = 1.0 + boost * t * t * (3.0 - 2.0 * t);
                l = l.map(|v| v * g);
            }
            lrow[x] = l;
            let s = params.signed_coc(depth.data[i]);
            srow[x] = s;
            krow[x] = slices.get(s);
        }
    });
}

/// The accumulated picture without its padding, un-premultiplied and sRGB-encoded.
fn unpad_encode(acc: &[[f32; 4]], w: usize, h: usize, pad: usize) -> RgbImage {
    let pw = w + 2 * pad;
    let enc = EncodeLut::new();
    let mut out = RgbImage::new(w, h);
    out.data.par_chunks_mut(w * 3).enumerate().for_each(|(y, row)| enc.row(&acc[(y + pad) * pw + pad..][..w], row));
    out
}

impl EncodeLut {
    /// Un-premultiply and encode a row of accumulated values into RGB.
    #[cfg(not(target_arch = "x86_64"))]
    fn row(&self, src: &[[f32; 4]], dst: &mut [f32]) {
        self.row_scalar(src, dst)
    }

    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    fn row_scalar(&self, src: &[[f32; 4]], dst: &mut [f32]) {
        for (v, o) in src.iter().zip(dst.chunks_exact_mut(3)) {
            let inv = 1.0 / v[3].max(1e-6);
            for k in 0..3 {
                o[k] = self.get(v[k] * inv);
            }
        }
    }

    /// [`row_scalar`](Self::row_scalar) a pixel's channels at once (SSE2, which every x86-64
    /// has): the same operations in the same order, so the same values; only the table reads
    /// stay scalar.
    #[cfg(target_arch = "x86_64")]
    fn row(&self, src: &[[f32; 4]], dst: &mut [f32]) {
        use std::arch::x86_64::*;
        let t = &self.0;
        assert!(dst.len() >= src.len() * 3 && t.len() == Self::N + 2);
        // SAFETY: SSE2 is part of x86-64; each load reads the four `f32` of one `[f32; 4]`; the
        // indices are within [0, N] (the value is clamped to [0, 1] before scaling by N, and
        // `max` with a number drops NaN), so `i + 1` is within the table of N + 2.
        unsafe {
            let (zero, one, n) = (_mm_setzero_ps(), _mm_set1_ps(1.0), _mm_set1_ps(Self::N as f32));
            for (v, o) in src.iter().zip(dst.chunks_exact_mut(3)) {
                let v = _mm_loadu_ps(v.as_ptr());
                // max(alpha, 1e-6): NaN gives the second operand, as `f32::max` does.
                let a = _mm_max_ps(_mm_shuffle_ps::<0xff>(v, v), _mm_set1_ps(1e-6));
                let x = _mm_mul_ps(v, _mm_div_ps(one, a));
                let u = _mm_min_ps(_mm_max_ps(_mm_sqrt_ps(_mm_min_ps(_mm_max_ps(x, zero), one)), zero), one);
                let f = _mm_mul_ps(u, n);
                let i = _mm_cvttps_epi32(f);
                let frac = _mm_sub_ps(f, _mm_cvtepi32_ps(i));
                let mut idx = [0i32; 4];
                _mm_storeu_si128(idx.as_mut_ptr().cast(), i);
                let lo = _mm_setr_ps(*t.get_unchecked(idx[0] as usize), *t.get_unchecked(idx[1] as usize), *t.get_unchecked(idx[2] as usize), 0.0);
                let hi = _mm_setr_ps(*t.get_unchecked(idx[0] as usize + 1), *t.get_unchecked(idx[1] as usize + 1), *t.get_unchecked(idx[2] as usize + 1), 0.0);
                let r = _mm_add_ps(lo, _mm_mul_ps(_mm_sub_ps(hi, lo), frac));
                let mut out = [0.0f32; 4];
                _mm_storeu_ps(out.as_mut_ptr(), r);
                o.copy_from_slice(&out[..3]);
            }
        }
    }
}

/// The per-pixel planes of one frame (padded, `pw × ph`) that every slice reads.
struct Layers<'a> {
    lin: &'a [[f32; 3]],
    sig: &'a [f32],
    slice: &'a [i16],
    band: Vec<i16>,
    cross: Vec<i16>,
    pw: usize,
    ph: usize,
}

/// One slice to scatter: its index and radius, the area it reaches, its hidden-colour fill.
struct SliceJob<'a> {
    k: i16,
    rk: f32,
    rect: Rect,
    fill: Option<&'a HiddenFill>,
    areas: &'a AreaTable,
}

/// The half-resolution grid's aperture, splat rows and layer.
struct Half<'a> {
    bokeh: Bokeh,
    splats: &'a mut SplatRows,
    layer: &'a mut Vec<[f32; 4]>,
    /// Full resolution: the point lights of the slice, scattered.
    lights: &'a mut Vec<[f32; 4]>,
}

impl Layers<'_> {
    /// The colour and radius pixel `i` = (x, y) contributes to slice `job`: its own when it is
    /// in the slice, the hidden fill's when the slice extends under it, else nothing.
    #[inline(always)]
    fn member(&self, job: &SliceJob, i: usize, x: usize, y: usize) -> Option<([f32; 3], f32)> {
        let s = self.slice[i];
        if s == job.k {
            Some((self.lin[i], self.sig[i].abs()))
        } else if s > job.k && self.band[i] <= job.k {
            Some((job.fill.map_or([0.0; 3], |f| f.at(x, y)), job.rk))
        } else {
            None
        }
    }

    /// Whether a pixel of colour `c` in a slice scattered at half resolution is a point light:
    /// bright, and well above the mean over the 4×4 pixels around its 2×2 block (`bx`, `by` the
    /// block's corner). A light's disc keeps its crisp edge only at full resolution; everything
    /// else loses nothing visible at half.
    #[inline]
    fn is_light(&self, c: [f32; 3], bx: usize, by: usize) -> bool {
        let v = c[0].max(c[1]).max(c[2]);
        if v < LIGHT_MIN {
            return false;
        }
        let (x0, y0) = (bx.saturating_sub(1), by.saturating_sub(1));
        let (x1, y1) = ((bx + 3).min(self.pw), (by + 3).min(self.ph));
        let mut sum = 0.0f32;
        for y in y0..y1 {
            for l in &self.lin[y * self.pw + x0..y * self.pw + x1] {
                sum += l[0].max(l[1]).max(l[2]);
            }
        }
        v > LIGHT_CONTRAST * sum / ((x1 - x0) * (y1 - y0)) as f32
    }

    /// Wide blur: scatter 2×2 blocks at half resolution with half the radius (an eighth of the
    /// work), read the layer back bilinearly and composite it onto `acc` in the same pass. Point
    /// lights are left out of their blocks, scattered at full resolution (`full`) and added to
    /// the layer before it is composited.
    fn scatter_half(&self, job: &SliceJob, half: &mut Half, full: (&mut SplatRows, &Bokeh), acc: &mut [[f32; 4]]) {
        let (pw, ph) = (self.pw, self.ph);
        let (hw, hh) = (half.splats.width, half.splats.height);
        let rect = job.rect;
        let hrect = rect.halved(hw, hh);
        let bokeh = &half.bokeh;
        let (full_splats, full_bokeh) = full;
        half.splats.rows.par_iter_mut().zip(full_splats.rows.par_chunks_mut(2)).enumerate().for_each(|(hy, (row, lights))| {
            row.clear();
            lights.iter_mut().for_each(Vec::clear);
            if hy < hrect.y0 || hy >= hrect.y1 {
                return;
            }
            for hx in hrect.x0..hrect.x1 {
                let mut sum = [0.0f32; 4];
                let mut rsum = 0.0f32;
                for y in 2 * hy..(2 * hy + 2).min(ph) {
                    for x in 2 * hx..(2 * hx + 2).min(pw) {
                        let i = y * pw + x;
                        if let Some((c, r)) = self.member(job, i, x, y) {
                            if self.slice[i] == job.k && self.is_light(c, 2 * hx, 2 * hy) {
                                lights[y - 2 * hy].push(Splat::unnormalised(x, r, [c[0], c[1], c[2], 1.0]));
                                continue;
                            }
                            sum = [sum[0] + c[0], sum[1] + c[1], sum[2] + c[2], sum[3] + 1.0];
                            rsum += r;
                        }
                    }
                }
                if sum[3] > 0.0 {
                    let r = 0.5 * rsum / sum[3];
                    row.push(Splat::unnormalised(hx, r, sum.map(|v| v * 0.25)));
                }
            }
            job.areas.normalise(bokeh, hy, row);
            for (dy, l) in lights.iter_mut().enumerate() {
                job.areas.normalise(full_bokeh, 2 * hy + dy, l);
            }
        });
        half.splats.refresh_r_max();
        // One half-resolution pixel more on each side for the bilinear read-back.
        let hread = hrect.grown(1, hw, hh);
        half.layer[hread.y0 * hw..hread.y1 * hw].par_chunks_mut(hw).for_each(|row| row[hread.x0..hread.x1].fill([0.0; 4]));
        half.splats.scatter_into_rect(bokeh, half.layer, hread);
        // The lights join the same layer before it is composited, as if scattered with it.
        full_splats.refresh_r_max();
        let with_lights = full_splats.r_max > 0.0;
        if with_lights {
            // Sized on first use (a frame without lights needs none of it); only the slice's
            // area is cleared and used.
            half.lights.resize(pw * ph, [0.0; 4]);
            half.lights[rect.y0 * pw..rect.y1 * pw].par_chunks_mut(pw).for_each(|row| row[rect.x0..rect.x1].fill([0.0; 4]));
            full_splats.scatter_into_rect(full_bokeh, half.lights, rect);
        }
        let (layer, lights) = (&half.layer[..], &half.lights[..]);
        acc[rect.y0 * pw..rect.y1 * pw].par_chunks_mut(pw).enumerate().for_each(|(dy, row)| {
            let y = rect.y0 + dy;
            for (x, o) in row.iter_mut().enumerate().take(rect.x1).skip(rect.x0) {
                let mut v = bilinear_half(layer, hw, hh, x, y);
                if with_lights {
                    let l = lights[y * pw + x];
                    v = std::array::from_fn(|k| v[k] + l[k]);
                }
                composite(o, v);
            }
        });
    }

    /// Narrow blur: scatter every pixel at full resolution and composite in the same pass (no
    /// layer buffer to clear, fill and read).
    fn scatter_full(&self, job: &SliceJob, splats: &mut SplatRows, bokeh: &Bokeh, acc: &mut [[f32; 4]]) {
        let rect = job.rect;
        splats.rows.par_iter_mut().enumerate().for_each(|(y, row)| {
            row.clear();
            if y < rect.y0 || y >= rect.y1 {
                return;
            }
            for x in rect.x0..rect.x1 {
                if let Some((c, r)) = self.member(job, y * self.pw + x, x, y) {
                    row.push(Splat::unnormalised(x, r, [c[0], c[1], c[2], 1.0]));
                }
            }
            job.areas.normalise(bokeh, y, row);
        });
        splats.refresh_r_max();
        splats.scatter_apply(bokeh, acc, rect, composite);
    }
}

/// Per slice (index `k - k_min`): the box around its pixels and its hidden extension, its pixel
/// count, whether it has a hidden extension, and its largest radius. Bands of rows in parallel,
/// merged.
fn slice_extents(slice: &[i16], sig: &[f32], band: &[i16], pw: usize, k_min: i16, ns: usize) -> (Vec<Rect>, Vec<usize>, Vec<bool>, Vec<f32>) {
    const ROWS: usize = 16;
    let empty = || (vec![Rect::empty(); ns], vec![0usize; ns], vec![false; ns], vec![0.0f32; ns]);
    let parts: Vec<_> = slice
        .par_chunks(pw * ROWS)
        .enumerate()
        .map(|(c, rows)| {
            let (mut boxes, mut own, mut hidden, mut reach) = empty();
            for (dy, row) in rows.chunks_exact(pw).enumerate() {
                let y = c * ROWS + dy;
                let (srow, brow) = (&sig[y * pw..][..pw], &band[y * pw..][..pw]);
                // Neighbours mostly share their slice and band: one update per run of equal
                // (slice, band), not per pixel.
                let mut x0 = 0;
                while x0 < pw {
                    let (sk, bk) = (row[x0], brow[x0]);
                    let mut x1 = x0 + 1;
                    while x1 < pw && row[x1] == sk && brow[x1] == bk {
                        x1 += 1;
                    }
                    let k = (sk - k_min) as usize;
                    boxes[k].add(x0, y);
                    boxes[k].add(x1 - 1, y);
                    own[k] += x1 - x0;
                    // `>` skips NaN as `max` does.
                    reach[k] = srow[x0..x1].iter().fold(reach[k], |m, &v| if v.abs() > m { v.abs() } else { m });
                    for j in (bk - k_min) as usize..k {
                        boxes[j].add(x0, y);
                        boxes[j].add(x1 - 1, y);
                        hidden[j] = true;
                    }
                    x0 = x1;
                }
            }
            (boxes, own, hidden, reach)
        })
        .collect();
    let mut all = empty();
    for (b, o, h, r) in parts {
        for k in 0..ns {
            all.0[k] = all.0[k].union(&b[k]);
            all.1[k] += o[k];
            all.2[k] |= h[k];
            all.3[k] = all.3[k].max(r[k]);
        }
    }
    all
}

/// Colour for the pixels hidden behind slices nearer than `k`: pull-push interpolation from the
/// pixels of slice `k` or behind it, leaving out those next to a nearer pixel. Hidden pixels
/// have no confidence at full resolution, so the pyramid starts at 1/[`FILL_SCALE`] and a hidden
/// pixel reads it bilinearly.
struct HiddenFill {
    data: Vec<[f32; 3]>,
    w: usize,
    h: usize,
    /// Full-resolution corner of the area the fill covers (multiples of `FILL_SCALE`).
    x0: usize,
    y0: usize,
}

impl HiddenFill {
    /// The fill over `area` of the `w × h` picture (only pixels inside it may be asked for);
    /// `cross` is [`cross_max`] of the slice indices: a pixel is a source when it and its four
    /// neighbours are at or behind slice `k`.
    fn new(lin: &[[f32; 3]], cross: &[i16], w: usize, h: usize, k: i16, area: Rect) -> Self {
        // Corners on the grid keep it aligned with the picture's.
        let f = FILL_SCALE;
        let (x0, y0) = (area.x0 / f * f, area.y0 / f * f);
        let (hw, hh) = ((area.x1 - x0).div_ceil(f), (area.y1 - y0).div_ceil(f));
        let (xe, ye) = (area.x1.min(w), area.y1.min(h));
        let mut base = vec![[0.0f32; 4]; hw * hh];
        base.par_chunks_mut(hw).enumerate().for_each(|(py, row)| {
            for (px, d) in row.iter_mut().enumerate() {
                let mut s = [0.0f32; 4];
                for y in y0 + f * py..(y0 + f * py + f).min(ye) {
                    for x in x0 + f * px..(x0 + f * px + f).min(xe) {
                        let i = y * w + x;
                        if cross[i] <= k {
                            let c = lin[i];
                            s = [s[0] + c[0], s[1] + c[1], s[2] + c[2], s[3] + 1.0];
                        }
                    }
                }
                if s[3] > 0.0 {
                    let inv = 1.0 / s[3];
                    *d = [s[0] * inv, s[1] * inv, s[2] * inv, s[3].min(1.0)];
                }
            }
        });
        Self { data: pull_push(base, hw, hh), w: hw, h: hh, x0, y0 }
    }

    #[inline(always)]
    fn at(&self, x: usize, y: usize) -> [f32; 3] {
        bilinear_scaled::<3, FILL_SCALE>(&self.data, self.w, self.h, x - self.x0, y - self.y0)
    }
}

/// The hidden-colour fill starts its pyramid at this fraction of the resolution.
const FILL_SCALE: usize = 4;

/// Sample a grid of `1/S` resolution at full-resolution pixel (x, y).
#[inline(always)]
fn bilinear_scaled<const C: usize, const S: usize>(src: &[[f32; C]], cw: usize, ch: usize, x: usize, y: usize) -> [f32; C] {
    let inv = 1.0 / S as f32;
    let fx = ((x as f32 + 0.5) * inv - 0.5).clamp(0.0, (cw - 1) as f32);
    let fy = ((y as f32 + 0.5) * inv - 0.5).clamp(0.0, (ch - 1) as f32);
    let (x0, y0) = (fx as i32 as usize, fy as i32 as usize);
    let (x1, y1) = ((x0 + 1).min(cw - 1), (y0 + 1).min(ch - 1));
    let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
    let (a, b, c, d) = (src[y0 * cw + x0], src[y0 * cw + x1], src[y1 * cw + x0], src[y1 * cw + x1]);
    std::array::from_fn(|k| {
        let top = a[k] + (b[k] - a[k]) * tx;
        let bot = c[k] + (d[k] - c[k]) * tx;
        top + (bot - top) * ty
    })
}

/// Sample a half-resolution grid at full-resolution pixel (x, y).
#[inline]
fn bilinear_half<const C: usize>(src: &[[f32; C]], cw: usize, ch: usize, x: usize, y: usize) -> [f32; C] {
    bilinear_scaled::<C, 2>(src, cw, ch, x, y)
}

/// Fill the pixels of zero confidence (`v[3]`) from a pyramid of confidence-weighted averages,
/// pushing back down with bilinear interpolation.
fn pull_push(base: Vec<[f32; 4]>, w: usize, h: usize) -> Vec<[f32; 3]> {
    // Pull: levels of (colour, confidence ≤ 1).
    let mut levels: Vec<(Vec<[f32; 4]>, usize, usize)> = vec![(base, w, h)];
    while {
        let (_, lw, lh) = levels.last().unwrap();
        *lw > 1 || *lh > 1
    } {
        let (src, lw, lh) = levels.last().unwrap();
        let (nw, nh) = (lw.div_ceil(2), lh.div_ceil(2));
        let mut dst = vec![[0.0f32; 4]; nw * nh];
        dst.par_chunks_mut(nw).enumerate().for_each(|(y, row)| {
            for (x, d) in row.iter_mut().enumerate() {
                let mut s = [0.0f32; 4];
                for yy in 2 * y..(2 * y + 2).min(*lh) {
                    for xx in 2 * x..(2 * x + 2).min(*lw) {
                        let v = src[yy * lw + xx];
                        for c in 0..3 {
                            s[c] += v[c] * v[3];
                        }
                        s[3] += v[3];
                    }
                }
                if s[3] > 0.0 {
                    let inv = 1.0 / s[3];
                    *d = [s[0] * inv, s[1] * inv, s[2] * inv, s[3].min(1.0)];
                }
            }
        });
        levels.push((dst, nw, nh));
    }
    // Push: blend each level with the bilinear upsample of the coarser one by its confidence.
    for l in (0..levels.len() - 1).rev() {
        let (upper, rest) = levels.split_at_mut(l + 1);
        let (coarse, cw, ch) = (&rest[0].0, rest[0].1, rest[0].2);
        let (fine, fw, _) = (&mut upper[l].0, upper[l].1, upper[l].2);
        fine.par_chunks_mut(fw).enumerate().for_each(|(y, row)| {
            let fy = ((y as f32 + 0.5) * 0.5 - 0.5).clamp(0.0, (ch - 1) as f32);
            let y0 = fy as usize;
            let y1 = (y0 + 1).min(ch - 1);
            let ty = fy - y0 as f32;
            for (x, v) in row.iter_mut().enumerate() {
                if v[3] >= 1.0 {
                    continue;
                }
                let fx = ((x as f32 + 0.5) * 0.5 - 0.5).clamp(0.0, (cw - 1) as f32);
                let x0 = fx as usize;
                let x1 = (x0 + 1).min(cw - 1);
                let tx = fx - x0 as f32;
                let a = v[3];
                for c in 0..3 {
                    let top = coarse[y0 * cw + x0][c] * (1.0 - tx) + coarse[y0 * cw + x1][c] * tx;
                    let bot = coarse[y1 * cw + x0][c] * (1.0 - tx) + coarse[y1 * cw + x1][c] * tx;
                    let up = top * (1.0 - ty) + bot * ty;
                    v[c] = a * v[c] + (1.0 - a) * up;
                }
                v[3] = 1.0;
            }
        });
    }
    levels.swap_remove(0).0.into_iter().map(|v| [v[0], v[1], v[2]]).collect()
}

/// The largest slice index of each pixel and its four neighbours.
fn cross_max(slice: &[i16], w: usize, h: usize) -> Vec<i16> {
    let mut out = vec![0i16; w * h];
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let cur = &slice[y * w..(y + 1) * w];
        let up = &slice[y.saturating_sub(1) * w..][..w];
        let down = &slice[(y + 1).min(h - 1) * w..][..w];
        for x in 0..w {
            let l = cur[x.saturating_sub(1)];
            let r = cur[(x + 1).min(w - 1)];
            row[x] = cur[x].max(l).max(r).max(up[x]).max(down[x]);
        }
    });
    out
}

/// Minimum over a `(2r+1)²` square window (van Herk / Gil-Werman, O(1) per pixel per pass).
fn min_filter(src: &[i16], w: usize, h: usize, r: usize) -> Vec<i16> {
    let mut tmp = vec![0i16; w * h];
    tmp.par_chunks_mut(w).enumerate().for_each_init(MinScratch::default, |m, (y, out)| m.run(&src[y * w..(y + 1) * w], out, r));
    // Columns, a block of them at a time: the block is gathered row by row (contiguous reads),
    // filtered as lines, and scattered back the same way.
    const B: usize = 16;
    let blocks: Vec<Vec<i16>> = (0..w.div_ceil(B))
        .into_par_iter()
        .map_init(MinScratch::default, |m, b| {
            let (x0, x1) = (b * B, ((b + 1) * B).min(w));
            let n = x1 - x0;
            let mut cols = vec![0i16; n * h];
            for y in 0..h {
                for (j, &v) in tmp[y * w + x0..y * w + x1].iter().enumerate() {
                    cols[j * h + y] = v;
                }
            }
            let mut o = vec![0i16; n * h];
            for (line, out) in cols.chunks_exact(h).zip(o.chunks_exact_mut(h)) {
                m.run(line, out, r);
            }
            o
        })
        .collect();
    let mut out = vec![0i16; w * h];
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        for (cols, o) in row.chunks_mut(B).zip(&blocks) {
            for (j, v) in cols.iter_mut().enumerate() {
                *v = o[j * h + y];
            }
        }
    });
    out
}

/// The buffers of one van Herk line filter, kept from line to line.
#[derive(Default)]
struct MinScratch {
    p: Vec<i16>,
    g: Vec<i16>,
    hh: Vec<i16>,
}

impl MinScratch {
    /// `out[x]` = the minimum of `line` over `[x − r, x + r]`.
    fn run(&mut self, line: &[i16], out: &mut [i16], r: usize) {
        let n = line.len();
        let m = 2 * r + 1;
        // The line padded with +∞ by r on both sides; prefix minima within blocks of m from the
        // left (g) and suffix minima from the right (hh).
        let len = n + 2 * r;
        let Self { p, g, hh } = self;
        p.clear();
        p.resize(len, i16::MAX);
        p[r..r + n].copy_from_slice(line);
        g.resize(len, 0);
        hh.resize(len, 0);
        for s in (0..len).step_by(m) {
            let e = (s + m).min(len);
            g[s] = p[s];
            for i in s + 1..e {
                g[i] = g[i - 1].min(p[i]);
            }
            hh[e - 1] = p[e - 1];
            for i in (s..e - 1).rev() {
                hh[i] = hh[i + 1].min(p[i]);
            }
        }
        for (x, o) in out.iter_mut().enumerate() {
            // Window [x, x + 2r] in padded coordinates.
            *o = hh[x].min(g[x + 2 * r]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_ordered_and_fine_near_focus() {
        assert_eq!(slice_of(0.0), 0);
        assert_eq!(slice_of(0.4), 0);
        assert_eq!(slice_of(-0.4), 0);
        assert!(slice_of(1.0) >= 1 && slice_of(-1.0) <= -1);
        let mut last = i16::MIN;
        for i in -400..=400 {
            let k = slice_of(i as f32 * 0.1);
            assert!(k >= last);
            last = k;
        }
        for k in -10..=10i16 {
            assert_eq!(slice_of(slice_radius(k).copysign(k as f32)), k);
        }
    }

    #[test]
    fn slice_table_matches_slice_of() {
        let t = SliceTable::new(40.0);
        for i in -4000..=4000 {
            let s = i as f32 * 0.01 + 0.003;
            assert_eq!(t.get(s), slice_of(s), "{s}");
        }
    }

    #[test]
    fn transfer_tables_match_the_curves() {
        let (dec, enc) = (LinearLut::new(), EncodeLut::new());
        for i in 0..=1000 {
            let v = i as f32 / 1000.0;
            assert!((dec.get(v) - to_linear(v)).abs() < 2e-5, "decode {v}");
            assert!((enc.get(v) - from_linear(v)).abs() < 2e-4, "encode {v}");
        }
        assert_eq!(enc.get(3.0), enc.get(1.0));
    }

    #[test]
    fn min_filter_matches_brute_force() {
        // Blocks that end inside the picture, in its padding, windows wider than the picture.
        for (w, h, r) in [(17, 11, 3), (5, 40, 2), (30, 4, 6), (1, 9, 1), (12, 12, 0)] {
            let src: Vec<i16> = (0..w * h).map(|i| ((i * 7919) % 23) as i16).collect();
            let fast = min_filter(&src, w, h, r);
            for y in 0..h {
                for x in 0..w {
                    let mut m = i16::MAX;
                    for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
                        for xx in x.saturating_sub(r)..(x + r + 1).min(w) {
                            m = m.min(src[yy * w + xx]);
                        }
                    }
                    assert_eq!(fast[y * w + x], m, "{w}x{h} r {r} at {x},{y}");
                }
            }
        }
    }

    #[test]
    fn slice_extents_match_a_pixel_by_pixel_count() {
        // Runs of equal slices and bands of all lengths, some pixels with hidden ranges.
        let (pw, ph) = (37, 41);
        let slice: Vec<i16> = (0..pw * ph).map(|i| (((i / 3) * 7919 + i / 11) % 9) as i16 - 4).collect();
        let band: Vec<i16> = (0..pw * ph).map(|i| slice[i] - ((i / 5) % 3) as i16).collect();
        let sig: Vec<f32> = (0..pw * ph).map(|i| slice[i] as f32 * 1.5 + ((i * 31) % 7) as f32 * 0.1).collect();
        let (k_min, ns) = (-6i16, 11usize);
        let (boxes, own, hidden, reach) = slice_extents(&slice, &sig, &band, pw, k_min, ns);
        let (mut b2, mut o2, mut h2, mut r2) = (vec![Rect::empty(); ns], vec![0usize; ns], vec![false; ns], vec![0.0f32; ns]);
        for y in 0..ph {
            for x in 0..pw {
                let i = y * pw + x;
                let k = (slice[i] - k_min) as usize;
                b2[k].add(x, y);
                o2[k] += 1;
                r2[k] = r2[k].max(sig[i].abs());
                for j in (band[i] - k_min) as usize..k {
                    b2[j].add(x, y);
                    h2[j] = true;
                }
            }
        }
        assert_eq!((boxes, own, hidden, reach), (b2, o2, h2, r2));
    }

    #[test]
    fn encoded_rows_match_the_scalar_form() {
        let enc = EncodeLut::new();
        let mut src: Vec<[f32; 4]> = (0..4000).map(|i| {
            let f = |k: usize| ((i * (7 + k) + k * 13) % 1201) as f32 / 1000.0 - 0.05;
            [f(0), f(1), f(2), f(3) * 1.2]
        }).collect();
        src.extend([[f32::NAN, 0.5, 2.0, 1.0], [0.3, 0.3, 0.3, f32::NAN], [0.0; 4], [-1.0, 5.0, 0.5, 0.0], [1e-7, 0.5, 1.0, 1e-9]]);
        let (mut a, mut b) = (vec![0.0f32; src.len() * 3], vec![0.0f32; src.len() * 3]);
        enc.row(&src, &mut a);
        enc.row_scalar(&src, &mut b);
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(x.to_bits(), y.to_bits(), "value {i}: {x} vs {y}");
        }
    }

    #[test]
    fn pull_push_fills_holes_from_sources() {
        let (w, h) = (9, 7);
        let base: Vec<[f32; 4]> = (0..w * h).map(|i| if i % w < 3 { [1.0, 0.5, 0.0, 1.0] } else { [0.0; 4] }).collect();
        let f = pull_push(base, w, h);
        assert!(f.iter().all(|c| (c[0] - 1.0).abs() < 1e-5 && (c[1] - 0.5).abs() < 1e-5));
    }

    #[test]
    fn flat_focus_is_identity_and_flat_colour_stays_flat() {
        let img = RgbImage::from_fn(20, 10, |x, y| [x as f32 / 20.0, y as f32 / 10.0, 0.3]);
        let d = Plane::filled(20, 10, 0.5);
        let out = render(&img, &d, &LensParams::new(0.5, 10.0));
        assert!(crate::frame::psnr(&img, &out, None) > 60.0);
        let flat = RgbImage::from_fn(30, 20, |_, _| [0.2, 0.6, 0.9]);
        let ramp = Plane::from_fn(30, 20, |x, y| (x + y) as f32 / 48.0);
        let out = render(&flat, &ramp, &LensParams::new(0.3, 7.0));
        assert!(crate::frame::psnr(&flat, &out, None) > 50.0);
    }
}
