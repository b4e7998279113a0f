//! The shape of the lens opening, as horizontal spans per row.
//!
//! Every renderer here draws a blur kernel one row at a time: for a kernel of radius `r` and a
//! row `dy` pixels above or below its centre, [`Bokeh::span`] gives the continuous horizontal
//! extent `[left, right]` the aperture covers. A renderer deposits that span with fractional
//! end coverage (see [`deposit_span`]), so a disc or a convex polygon costs O(r) per pixel and
//! its edges stay anti-aliased horizontally.

use super::{ApertureShape, LensParams};

/// Samples of the unit polygon's spans between its lowest and highest point.
const POLY_SAMPLES: usize = 1024;

/// Aperture shape, ready to answer span queries for one picture size.
#[derive(Clone, Debug)]
pub struct Bokeh {
    /// For a polygon: unit-circumradius spans sampled over `[y_min, y_max]`.
    poly: Option<PolyTable>,
    cat_eye: f32,
    centre: (f32, f32),
    inv_half_diag: f32,
}

#[derive(Clone, Debug)]
struct PolyTable {
    y_min: f32,
    y_max: f32,
    left: Vec<f32>,
    right: Vec<f32>,
}

/// The offset of the vignetting disc (cat-eye) for one source pixel, in units of its radius.
pub type EyeOffset = (f32, f32);

impl Bokeh {
    pub fn new(params: &LensParams, width: usize, height: usize) -> Self {
        Self::padded(params, width, height, 0)
    }

    /// For a picture of `width × height` drawn with `pad` extra pixels on every side (cat-eye
    /// is measured from the centre of the unpadded frame).
    pub fn padded(params: &LensParams, width: usize, height: usize, pad: usize) -> Self {
        let poly = match params.aperture {
            ApertureShape::Circle => None,
            ApertureShape::Blades { blades, rotation_deg } => Some(PolyTable::new(blades.max(3), rotation_deg)),
        };
        let (hx, hy) = (width as f32 * 0.5, height as f32 * 0.5);
        let centre = (hx + pad as f32, hy + pad as f32);
        Self { poly, cat_eye: params.cat_eye.clamp(0.0, 1.0), centre, inv_half_diag: 1.0 / (hx * hx + hy * hy).sqrt().max(1.0) }
    }

    /// A plain disc everywhere: no blades and no cat-eye, so a span is `±sqrt(r² − dy²)`.
    pub fn is_disc(&self) -> bool {
        self.poly.is_none() && self.cat_eye <= 0.0
    }

    /// The cat-eye offset for a kernel centred on pixel (x, y): the vignetting disc moves toward
    /// the frame centre as the pixel nears a corner, so the bokeh becomes a lens shape whose long
    /// axis is tangential. `None` when cat-eye is off or the pixel is at the centre.
    #[inline]
    pub fn eye(&self, x: f32, y: f32) -> Option<EyeOffset> {
        if self.cat_eye <= 0.0 {
            return None;
        }
        let (dx, dy) = (x + 0.5 - self.centre.0, y + 0.5 - self.centre.1);
        // The offset grows linearly with the distance from the centre, up to `cat_eye` radii at
        // the corners, along the direction to the centre.
        let s = self.cat_eye * self.inv_half_diag;
        if s * (dx * dx + dy * dy).sqrt() < 1e-3 {
            return None;
        }
        Some((-dx * s, -dy * s))
    }

    /// Horizontal extent (offsets from the kernel centre) of the aperture of radius `r` on the
    /// row `dy` pixels from its centre, or `None` where the row misses it.
    #[inline(always)]
    pub fn span(&self, r: f32, dy: f32, eye: Option<EyeOffset>) -> Option<(f32, f32)> {
        let (mut a, mut b) = match &self.poly {
            None => {
                let q = r * r - dy * dy;
                if q < 0.0 {
                    return None;
                }
                let hw = q.sqrt();
                (-hw, hw)
            }
            Some(t) => {
                let (l, rt) = t.at(dy / r)?;
                (l * r, rt * r)
            }
        };
        if let Some((ox, oy)) = eye {
            let (ox, oy) = (ox * r, oy * r);
            let q = r * r - (dy - oy) * (dy - oy);
            if q < 0.0 {
                return None;
            }
            let hw = q.sqrt();
            a = a.max(ox - hw);
            b = b.min(ox + hw);
            if b <= a {
                return None;
            }
        }
        Some((a, b))
    }

    /// Covered area of the (unclipped) kernel as the renderers draw it: the sum of its spans.
    pub fn area(&self, r: f32, eye: Option<EyeOffset>) -> f32 {
        let ri = r.ceil() as i32;
        let mut s = 0.0;
        for dy in -ri..=ri {
            if let Some((a, b)) = self.span(r, dy as f32, eye) {
                s += b - a;
            }
        }
        s
    }
}

impl PolyTable {
    fn new(blades: u32, rotation_deg: f32) -> Self {
        let n = blades as usize;
        // Vertices on the unit circle, the first at the top before rotation (y grows downward).
        let verts: Vec<(f32, f32)> = (0..n)
            .map(|k| {
                let th = rotation_deg.to_radians() + std::f32::consts::TAU * k as f32 / n as f32 - std::f32::consts::FRAC_PI_2;
                (th.cos(), th.sin())
            })
            .collect();
        let y_min = verts.iter().map(|v| v.1).fold(f32::INFINITY, f32::min);
        let y_max = verts.iter().map(|v| v.1).fold(f32::NEG_INFINITY, f32::max);
        let mut left = Vec::with_capacity(POLY_SAMPLES + 1);
        let mut right = Vec::with_capacity(POLY_SAMPLES + 1);
        for i in 0..=POLY_SAMPLES {
            let y = y_min + (y_max - y_min) * i as f32 / POLY_SAMPLES as f32;
            let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
            for k in 0..n {
                let (p, q) = (verts[k], verts[(k + 1) % n]);
                let (y0, y1) = (p.1.min(q.1), p.1.max(q.1));
                if y < y0 - 1e-6 || y > y1 + 1e-6 {
                    continue;
                }
                let x = if (q.1 - p.1).abs() < 1e-9 {
                    lo = lo.min(p.0.min(q.0));
                    hi = hi.max(p.0.max(q.0));
                    continue;
                } else {
                    p.0 + (q.0 - p.0) * (y - p.1) / (q.1 - p.1)
                };
                lo = lo.min(x);
                hi = hi.max(x);
            }
            if lo > hi {
                lo = 0.0;
                hi = 0.0;
            }
            left.push(lo);
            right.push(hi);
        }
        Self { y_min, y_max, left, right }
    }

    #[inline]
    fn at(&self, t: f32) -> Option<(f32, f32)> {
        if t < self.y_min || t > self.y_max {
            return None;
        }
        let f = (t - self.y_min) / (self.y_max - self.y_min) * POLY_SAMPLES as f32;
        let i = (f as usize).min(POLY_SAMPLES - 1);
        let w = f - i as f32;
        let l = self.left[i] + (self.left[i + 1] - self.left[i]) * w;
        let r = self.right[i] + (self.right[i + 1] - self.right[i]) * w;
        Some((l, r))
    }
}

/// Add `value` times the coverage of the continuous span `[a, b]` (pixel `x` covers
/// `[x − 0.5, x + 0.5]`) to a difference row of `C` channels; the row has `width + 2` cells and
/// its prefix sum gives the deposited values. The span is clipped to the row.
#[inline(always)]
pub fn deposit_span<const C: usize>(diff: &mut [[f32; C]], width: usize, a: f32, b: f32, value: &[f32; C]) {
    if let Some(cells) = SpanCells::new(width, a, b) {
        cells.add(diff, value);
    }
}

/// Where and by how much a span changes a difference row: [`deposit_span`] in two halves, so a
/// span drawn on several rows (a disc's rows `dy` and `−dy`) is worked out once.
#[derive(Clone, Copy, Debug)]
pub struct SpanCells {
    ia: usize,
    ib: usize,
    /// Coverage of the first pixel; for a span inside one pixel (`ia == ib`), its length.
    ca: f32,
    /// Coverage of the last pixel.
    cb: f32,
}

impl SpanCells {
    /// The cells of `[a, b]` on a row of `width` pixels, `None` when the span misses the row.
    #[inline(always)]
    pub fn new(width: usize, a: f32, b: f32) -> Option<Self> {
        assert!(width < i32::MAX as usize, "row too wide");
        let a = a.max(-0.5);
        let b = b.min(width as f32 - 0.5);
        if b <= a {
            return None;
        }
        // Both are ≥ 0 and below the width here, so truncation is floor. Indices stay `i32`
        // until they index: float from and to `i32` is one instruction each (`usize` a dozen).
        // SAFETY: here `a` lies in [-0.5, width - 0.5) and `b` in (-0.5, width - 0.5] (the
        // clamps above drop NaN, and an infinite end leaves `b <= a`), so both sums are finite
        // and fit `i32`.
        let (ia, ib) = unsafe { ((a + 0.5).to_int_unchecked::<i32>(), (b + 0.5).to_int_unchecked::<i32>()) };
        let ib = ib.min(width as i32 - 1);
        if ia >= ib {
            return Some(Self { ia: ia as usize, ib: ia as usize, ca: b - a, cb: 0.0 });
        }
        Some(Self { ia: ia as usize, ib: ib as usize, ca: ia as f32 + 0.5 - a, cb: b - (ib as f32 - 0.5) })
    }

    /// Cells as [`new`](Self::new) makes them (`ia == ib`: a span inside one pixel, of length
    /// `ca`); indices past the row make [`add`](Self::add) panic, never write elsewhere.
    #[inline(always)]
    pub(crate) fn from_parts(ia: usize, ib: usize, ca: f32, cb: f32) -> Self {
        Self { ia, ib, ca, cb }
    }

    /// The parts [`from_parts`](Self::from_parts) takes.
    #[allow(dead_code)]
    pub(crate) fn parts(&self) -> (i32, i32, f32, f32) {
        (self.ia as i32, self.ib as i32, self.ca, self.cb)
    }

    /// Add `value` times the span's coverage to the difference row `diff`.
    #[inline(always)]
    pub fn add<const C: usize>(&self, diff: &mut [[f32; C]], value: &[f32; C]) {
        if self.ia == self.ib {
            let c = self.ca;
            let [d0, d1] = &mut diff[self.ia..self.ia + 2] else { unreachable!("two cells") };
            add_scaled(d0, value, c);
            add_scaled(d1, value, -c);
            return;
        }
        let (ca, cb) = (self.ca, self.cb);
        // One slice for the four cells: one bounds check, and whole-cell (vector) adds.
        let cells = &mut diff[self.ia..self.ib + 2];
        let n = cells.len();
        add_scaled(&mut cells[0], value, ca);
        add_scaled(&mut cells[1], value, 1.0 - ca);
        add_scaled(&mut cells[n - 2], value, cb - 1.0);
        add_scaled(&mut cells[n - 1], value, -cb);
    }
}

#[inline(always)]
fn add_scaled<const C: usize>(cell: &mut [f32; C], value: &[f32; C], s: f32) {
    for k in 0..C {
        cell[k] += s * value[k];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circle_area_close_to_pi_r2() {
        let b = Bokeh::new(&LensParams::new(0.5, 10.0), 100, 100);
        let a = b.area(10.0, None);
        assert!((a / (std::f32::consts::PI * 100.0) - 1.0).abs() < 0.03, "{a}");
    }

    #[test]
    fn hexagon_area_close_to_polygon_area() {
        let mut p = LensParams::new(0.5, 10.0);
        p.aperture = ApertureShape::Blades { blades: 6, rotation_deg: 0.0 };
        let b = Bokeh::new(&p, 100, 100);
        let want = 0.5 * 6.0 * (std::f32::consts::TAU / 6.0).sin() * 400.0;
        let got = b.area(20.0, None);
        assert!((got / want - 1.0).abs() < 0.03, "{got} vs {want}");
    }

    #[test]
    fn deposit_covers_fractionally() {
        let mut d = vec![[0.0f32; 1]; 12];
        deposit_span(&mut d, 10, 2.25, 5.75, &[1.0]);
        let mut acc = 0.0;
        let vals: Vec<f32> = d.iter().take(10).map(|v| {
            acc += v[0];
            acc
        }).collect();
        let want = [0.0, 0.0, 0.25, 1.0, 1.0, 1.0, 0.25, 0.0, 0.0, 0.0];
        for (g, w) in vals.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{vals:?}");
        }
        // A sub-pixel span inside one pixel.
        let mut d = vec![[0.0f32; 1]; 12];
        deposit_span(&mut d, 10, 3.6, 4.4, &[1.0]);
        assert!((d[4][0] - 0.8).abs() < 1e-5 && (d[5][0] + 0.8).abs() < 1e-5);
    }
}
