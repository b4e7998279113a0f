//! Area-normalised scatter of one layer, O(r) per source pixel.
//!
//! Each source pixel ("splat") spreads a premultiplied value over its own aperture of radius
//! `r`, divided by the aperture's area so it deposits exactly its own energy. Rather than
//! writing the O(r²) covered pixels, a splat adds the two fractional ends of each of its O(r)
//! row spans to a difference row; one prefix sum per row then yields the sums. Work is split by
//! output row (each output row reads the splats of the source rows within the layer's largest
//! radius), so threads never write to the same memory.

use super::aperture::{deposit_span, Bokeh, EyeOffset, SpanCells};
use rayon::prelude::*;

/// One source pixel of a layer.
#[derive(Clone, Copy, Debug)]
pub struct Splat {
    /// Column of the pixel.
    pub x: u32,
    /// Aperture radius in pixels (at least 0.5, which is the pixel itself).
    pub r: f32,
    /// Value already divided by the aperture's area: premultiplied colour and alpha.
    pub v: [f32; 4],
    pub eye: Option<EyeOffset>,
}

impl Splat {
    /// A splat of the premultiplied `value`, normalised by the drawn aperture area.
    #[inline]
    pub fn new(bokeh: &Bokeh, x: usize, y: usize, r: f32, value: [f32; 4]) -> Self {
        let r = r.max(0.5);
        let eye = bokeh.eye(x as f32, y as f32);
        let inv = 1.0 / bokeh.area(r, eye).max(1e-6);
        Self { x: x as u32, r, v: value.map(|c| c * inv), eye }
    }

    /// A splat whose value is not yet divided by its aperture's area: a row of them is, at once,
    /// by [`AreaTable::normalise`] (the divisions of a row then overlap instead of each
    /// waiting for the table lookups before it).
    #[inline(always)]
    pub fn unnormalised(x: usize, r: f32, value: [f32; 4]) -> Self {
        Self { x: x as u32, r: r.max(0.5), v: value, eye: None }
    }
}

/// Drawn aperture area against radius, sampled every 1/16 px and interpolated, so a layer of
/// continuously varying radii does not pay O(r) per pixel twice.
pub struct AreaTable {
    samples: Vec<f32>,
}

const AREA_STEP: f32 = 1.0 / 16.0;

impl AreaTable {
    pub fn new(bokeh: &Bokeh, r_max: f32) -> Self {
        let n = (r_max.max(0.5) / AREA_STEP).ceil() as usize + 2;
        Self { samples: (0..n).map(|i| bokeh.area((i as f32 * AREA_STEP).max(0.5), None)).collect() }
    }

    /// Divide the values of a row `y` of [`Splat::unnormalised`] splats by the areas of their
    /// apertures: the table's, or, where `bokeh` gives a splat a cat-eye offset, its exact area.
    pub fn normalise(&self, bokeh: &Bokeh, y: usize, row: &mut [Splat]) {
        for s in row {
            s.eye = bokeh.eye(s.x as f32, y as f32);
            let area = match s.eye {
                None => self.get(s.r),
                Some(_) => bokeh.area(s.r, s.eye),
            };
            let inv = 1.0 / area.max(1e-6);
            s.v = s.v.map(|c| c * inv);
        }
    }

    #[inline]
    pub fn get(&self, r: f32) -> f32 {
        let f = r / AREA_STEP;
        let i = (f as usize).min(self.samples.len() - 2);
        let t = (f - i as f32).min(1.0);
        self.samples[i] + (self.samples[i + 1] - self.samples[i]) * t
    }
}

/// Splats grouped by source row.
pub struct SplatRows {
    pub width: usize,
    pub height: usize,
    pub rows: Vec<Vec<Splat>>,
    /// The largest radius among the splats.
    pub r_max: f32,
}

impl SplatRows {
    pub fn new(width: usize, height: usize) -> Self {
        Self { width, height, rows: vec![Vec::new(); height], r_max: 0.0 }
    }

    #[inline]
    pub fn push(&mut self, y: usize, s: Splat) {
        self.r_max = self.r_max.max(s.r);
        self.rows[y].push(s);
    }

    /// Set [`r_max`](Self::r_max) from the splats, after the rows were filled directly.
    pub fn refresh_r_max(&mut self) {
        self.r_max = self.rows.iter().flatten().fold(0.0f32, |m, s| m.max(s.r));
    }

    pub fn clear(&mut self) {
        self.rows.iter_mut().for_each(Vec::clear);
        self.r_max = 0.0;
    }

    pub fn is_empty(&self) -> bool {
        self.rows.iter().all(Vec::is_empty)
    }

    /// Scatter every splat and add the result into `out` (`width * height` RGBA values).
    pub fn scatter_into(&self, bokeh: &Bokeh, out: &mut [[f32; 4]]) {
        self.scatter_into_rect(bokeh, out, Rect::full(self.width, self.height));
    }

    /// The same, computing only the output pixels inside `rect`, which must hold everything the
    /// splats reach (a layer's bounding box grown by its largest radius).
    pub fn scatter_into_rect(&self, bokeh: &Bokeh, out: &mut [[f32; 4]], rect: Rect) {
        self.scatter_apply(bokeh, out, rect, |o, v| {
            for k in 0..4 {
                o[k] += v[k];
            }
        });
    }

    /// Scatter every splat and hand each output pixel inside `rect` its scattered value with
    /// `apply(pixel, value)`, so a caller can composite the layer straight into its destination
    /// without a layer buffer. Rows no splat reaches are skipped (their value is zero), so
    /// `apply` must leave a pixel unchanged for a zero value.
    pub fn scatter_apply<T: Send>(&self, bokeh: &Bokeh, out: &mut [T], rect: Rect, apply: impl Fn(&mut T, [f32; 4]) + Sync) {
        let (w, h) = (self.width, self.height);
        assert_eq!(out.len(), w * h);
        if rect.is_empty() {
            return;
        }
        // A splat of radius r covers the rows |dy| ≤ r (disc, polygon and cat-eye alike), so
        // rows farther than floor(r) from it are never reached.
        let reach = self.r_max.floor() as isize;
        let (x0, x1) = (rect.x0, rect.x1);
        let disc = bokeh.is_disc();
        out[rect.y0 * w..rect.y1 * w].par_chunks_mut(w).enumerate().for_each_init(
            || vec![[0.0f32; 4]; w + 2],
            |diff, (dy0, row)| {
                let y = rect.y0 + dy0;
                // The columns the deposits reach: left of `left` and right of `right` the
                // prefix sum is zero, so neither needs compositing.
                let (mut left, mut right) = (f32::INFINITY, f32::NEG_INFINITY);
                let lo = (y as isize - reach).max(0) as usize;
                let hi = ((y as isize + reach) as usize).min(h - 1);
                for sy in lo..=hi {
                    let dy = y as f32 - sy as f32;
                    let ady = dy.abs();
                    if disc {
                        // The common case: the spans of a group of splats are worked out
                        // together without branches (vector instructions), then deposited.
                        let dy2 = dy * dy;
                        for group in self.rows[sy].chunks(GROUP) {
                            let spans = DiscSpans::new(group, dy2, ady, w);
                            for (s, k) in group.iter().zip(0..) {
                                if spans.valid[k] {
                                    spans.cells(k).add(diff, &s.v);
                                }
                            }
                            left = left.min(spans.left);
                            right = right.max(spans.right);
                        }
                        continue;
                    }
                    for s in &self.rows[sy] {
                        if ady > s.r {
                            continue;
                        }
                        if let Some((a, b)) = bokeh.span(s.r, dy, s.eye) {
                            let x = s.x as f32;
                            deposit_span(diff, w, x + a, x + b, &s.v);
                            left = left.min(x + a);
                            right = right.max(x + b);
                        }
                    }
                }
                if left > right {
                    return;
                }
                // Cells touched: from the one holding `left` to the one after `right`.
                let c0 = (left + 0.5).max(0.0) as usize;
                let c1 = ((right + 0.5).max(0.0) as usize + 2).min(w + 2);
                let (s0, s1) = (x0.max(c0), x1.min(c1));
                let mut acc = [0.0f32; 4];
                for d in &diff[c0..s0.max(c0)] {
                    for k in 0..4 {
                        acc[k] += d[k];
                    }
                }
                if s0 < s1 {
                    for (o, d) in row[s0..s1].iter_mut().zip(diff[s0..s1].iter()) {
                        for k in 0..4 {
                            acc[k] += d[k];
                        }
                        apply(o, acc);
                    }
                }
                diff[c0..c1].fill([0.0; 4]);
            },
        );
    }
}

/// Splats whose disc spans [`DiscSpans`] works out at once.
const GROUP: usize = 8;

/// The spans of up to [`GROUP`] disc splats on one row, as [`SpanCells::new`] gives them for
/// `[x − hw, x + hw]`, `hw = sqrt(r² − dy²)`, worked out four lanes at a time (SSE2, which
/// every x86-64 has; a scalar loop elsewhere) with the same operations, so the same values.
struct DiscSpans {
    valid: [bool; GROUP],
    ia: [i32; GROUP],
    ib: [i32; GROUP],
    ca: [f32; GROUP],
    cb: [f32; GROUP],
    left: f32,
    right: f32,
}

impl DiscSpans {
    #[inline(always)]
    fn new(group: &[Splat], dy2: f32, ady: f32, width: usize) -> Self {
        assert!(group.len() <= GROUP && width < (1 << 24), "group or row too large");
        let mut x = [0.0f32; GROUP];
        // Missing lanes get a radius that reaches no row.
        let mut r = [-1.0f32; GROUP];
        for (k, s) in group.iter().enumerate() {
            x[k] = s.x as f32;
            r[k] = s.r;
        }
        let mut out = Self { valid: [false; GROUP], ia: [0; GROUP], ib: [0; GROUP], ca: [0.0; GROUP], cb: [0.0; GROUP], left: f32::INFINITY, right: f32::NEG_INFINITY };
        let mut lo = [f32::INFINITY; GROUP];
        let mut hi = [f32::NEG_INFINITY; GROUP];
        for k in (0..GROUP).step_by(4) {
            spans4(&x[k..k + 4], &r[k..k + 4], dy2, ady, width, &mut out, k, &mut lo, &mut hi);
        }
        for k in 0..GROUP {
            if out.valid[k] {
                out.left = out.left.min(lo[k]);
                out.right = out.right.max(hi[k]);
            }
        }
        out
    }

    #[inline(always)]
    fn cells(&self, k: usize) -> SpanCells {
        SpanCells::from_parts(self.ia[k] as usize, self.ib[k] as usize, self.ca[k], self.cb[k])
    }
}

/// Four lanes of [`DiscSpans::new`] from lane `k`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn spans4(x: &[f32], r: &[f32], dy2: f32, ady: f32, width: usize, out: &mut DiscSpans, k: usize, lo: &mut [f32; GROUP], hi: &mut [f32; GROUP]) {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of x86-64; the loads and stores read and write four `f32`/`i32` of
    // slices and arrays that hold at least four from `k` (asserted by the indexing below).
    unsafe {
        let (x, r) = (_mm_loadu_ps(x[..4].as_ptr()), _mm_loadu_ps(r[..4].as_ptr()));
        let q = _mm_sub_ps(_mm_mul_ps(r, r), _mm_set1_ps(dy2));
        // Reaches the row: ady <= r (false for NaN, as `!(ady > r)` is not: r is never NaN
        // here) and q >= 0.
        let reach = _mm_and_ps(_mm_cmple_ps(_mm_set1_ps(ady), r), _mm_cmpge_ps(q, _mm_setzero_ps()));
        let hw = _mm_sqrt_ps(_mm_max_ps(q, _mm_setzero_ps()));
        let (l, h) = (_mm_sub_ps(x, hw), _mm_add_ps(x, hw));
        let a = _mm_max_ps(l, _mm_set1_ps(-0.5));
        let b = _mm_min_ps(h, _mm_set1_ps(width as f32 - 0.5));
        let ok = _mm_and_ps(reach, _mm_cmpgt_ps(b, a));
        // Lanes that draw nothing get the span [0, 0] so every lane converts in range.
        let (a, b) = (_mm_and_ps(ok, a), _mm_and_ps(ok, b));
        let half = _mm_set1_ps(0.5);
        let ia = _mm_cvtepi32_ps(_mm_cvttps_epi32(_mm_add_ps(a, half)));
        let ib = _mm_min_ps(_mm_cvtepi32_ps(_mm_cvttps_epi32(_mm_add_ps(b, half))), _mm_set1_ps(width as f32 - 1.0));
        let narrow = _mm_cmpge_ps(ia, ib);
        let pick = |m: __m128, t: __m128, f: __m128| _mm_or_ps(_mm_and_ps(m, t), _mm_andnot_ps(m, f));
        let ca = pick(narrow, _mm_sub_ps(b, a), _mm_sub_ps(_mm_add_ps(ia, half), a));
        let cb = pick(narrow, _mm_setzero_ps(), _mm_sub_ps(b, _mm_sub_ps(ib, half)));
        let ib = pick(narrow, ia, ib);
        _mm_storeu_si128(out.ia[k..k + 4].as_mut_ptr().cast(), _mm_cvttps_epi32(ia));
        _mm_storeu_si128(out.ib[k..k + 4].as_mut_ptr().cast(), _mm_cvttps_epi32(ib));
        _mm_storeu_ps(out.ca[k..k + 4].as_mut_ptr(), ca);
        _mm_storeu_ps(out.cb[k..k + 4].as_mut_ptr(), cb);
        _mm_storeu_ps(lo[k..k + 4].as_mut_ptr(), l);
        _mm_storeu_ps(hi[k..k + 4].as_mut_ptr(), h);
        let m = _mm_movemask_ps(ok);
        for j in 0..4 {
            out.valid[k + j] = m & (1 << j) != 0;
        }
    }
}

/// Four lanes of [`DiscSpans::new`] from lane `k`.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn spans4(x: &[f32], r: &[f32], dy2: f32, ady: f32, width: usize, out: &mut DiscSpans, k: usize, lo: &mut [f32; GROUP], hi: &mut [f32; GROUP]) {
    spans4_scalar(x, r, dy2, ady, width, out, k, lo, hi)
}

/// Four lanes of [`DiscSpans::new`] from lane `k`, one at a time through [`SpanCells::new`]
/// (the reference the vector form is tested against).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn spans4_scalar(x: &[f32], r: &[f32], dy2: f32, ady: f32, width: usize, out: &mut DiscSpans, k: usize, lo: &mut [f32; GROUP], hi: &mut [f32; GROUP]) {
    for j in 0..4 {
        let q = r[j] * r[j] - dy2;
        let hw = q.max(0.0).sqrt();
        (lo[k + j], hi[k + j]) = (x[j] - hw, x[j] + hw);
        let cells = if ady <= r[j] && q >= 0.0 { SpanCells::new(width, x[j] - hw, x[j] + hw) } else { None };
        out.valid[k + j] = cells.is_some();
        if let Some(c) = cells {
            (out.ia[k + j], out.ib[k + j], out.ca[k + j], out.cb[k + j]) = c.parts();
        }
    }
}

/// A pixel rectangle `[x0, x1) × [y0, y1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
}

impl Rect {
    pub fn full(w: usize, h: usize) -> Self {
        Self { x0: 0, y0: 0, x1: w, y1: h }
    }

    pub fn empty() -> Self {
        Self { x0: usize::MAX, y0: usize::MAX, x1: 0, y1: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.x0 >= self.x1 || self.y0 >= self.y1
    }

    #[inline]
    pub fn add(&mut self, x: usize, y: usize) {
        self.x0 = self.x0.min(x);
        self.y0 = self.y0.min(y);
        self.x1 = self.x1.max(x + 1);
        self.y1 = self.y1.max(y + 1);
    }

    /// The smallest rectangle holding both.
    pub fn union(&self, o: &Rect) -> Self {
        Self { x0: self.x0.min(o.x0), y0: self.y0.min(o.y0), x1: self.x1.max(o.x1), y1: self.y1.max(o.y1) }
    }

    /// Grown by `m` on every side, within `w × h`.
    pub fn grown(&self, m: usize, w: usize, h: usize) -> Self {
        if self.is_empty() {
            return *self;
        }
        Self { x0: self.x0.saturating_sub(m), y0: self.y0.saturating_sub(m), x1: (self.x1 + m).min(w), y1: (self.y1 + m).min(h) }
    }

    /// The rectangle covering the same area on a grid of half the resolution.
    pub fn halved(&self, w: usize, h: usize) -> Self {
        if self.is_empty() {
            return *self;
        }
        Self { x0: self.x0 / 2, y0: self.y0 / 2, x1: self.x1.div_ceil(2).min(w), y1: self.y1.div_ceil(2).min(h) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lens::LensParams;

    #[test]
    fn disc_spans_in_lanes_are_the_scalar_spans() {
        let width = 50;
        let mut seed = 12345u32;
        let mut next = || {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            (seed >> 8) as f32 / (1u32 << 24) as f32
        };
        for _ in 0..2000 {
            let x: Vec<f32> = (0..4).map(|_| (next() * 60.0 - 5.0).floor().max(0.0)).collect();
            let r: Vec<f32> = (0..4).map(|_| 0.5 + next() * 12.0).collect();
            let dy = (next() * 14.0).floor();
            let mut a = DiscSpans { valid: [false; GROUP], ia: [0; GROUP], ib: [0; GROUP], ca: [0.0; GROUP], cb: [0.0; GROUP], left: 0.0, right: 0.0 };
            let mut b = DiscSpans { ..a };
            let (mut lo, mut hi) = ([0.0; GROUP], [0.0; GROUP]);
            let (mut lo2, mut hi2) = ([0.0; GROUP], [0.0; GROUP]);
            spans4(&x, &r, dy * dy, dy, width, &mut a, 0, &mut lo, &mut hi);
            spans4_scalar(&x, &r, dy * dy, dy, width, &mut b, 0, &mut lo2, &mut hi2);
            assert_eq!(a.valid, b.valid, "x {x:?} r {r:?} dy {dy}");
            for k in (0..4).filter(|&k| a.valid[k]) {
                assert_eq!((a.ia[k], a.ib[k], a.ca[k].to_bits(), a.cb[k].to_bits()), (b.ia[k], b.ib[k], b.ca[k].to_bits(), b.cb[k].to_bits()));
                assert_eq!((lo[k].to_bits(), hi[k].to_bits()), (lo2[k].to_bits(), hi2[k].to_bits()));
            }
        }
    }

    #[test]
    fn scatter_conserves_energy_and_matches_direct_disc() {
        let (w, h) = (64, 64);
        let bokeh = Bokeh::new(&LensParams::new(0.0, 1.0), w, h);
        let mut rows = SplatRows::new(w, h);
        rows.push(32, Splat::new(&bokeh, 30, 32, 9.3, [1.0, 0.5, 0.25, 1.0]));
        rows.push(10, Splat::new(&bokeh, 12, 10, 0.2, [1.0, 1.0, 1.0, 1.0]));
        let mut out = vec![[0.0f32; 4]; w * h];
        rows.scatter_into(&bokeh, &mut out);
        let total: f32 = out.iter().map(|v| v[3]).sum();
        assert!((total - 2.0).abs() < 1e-3, "{total}");
        // The tiny radius is the pixel itself.
        assert!((out[10 * w + 12][3] - 1.0).abs() < 1e-5);
        // Inside the disc the value is flat; outside it is zero.
        let c = out[32 * w + 30][3];
        assert!((out[36 * w + 33][3] - c).abs() < 1e-6);
        assert_eq!(out[32 * w + 41][3], 0.0);
        assert!((out[32 * w + 30][1] - 0.5 * c).abs() < 1e-6);
    }
}
