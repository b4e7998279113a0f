//! 8-bit 4:2:0 ↔ floating-point RGB at the same size, in one pass each way.
//!
//! Most video is 8-bit 4:2:0, and the pipeline wants `f32` RGB. swscale's accurate, full-chroma
//! conversion to `rgb24`, followed by a pass turning bytes into floats, cost about 9 % of a
//! conversion's CPU (and the same again on the way out): here the planes are read once, the
//! chroma interpolated where the stream says its samples sit, and the matrix applied in floats,
//! with no 8-bit rounding in between (the way out rounds with [`to_u8`]). The video crate uses
//! these for decoded and encoded frames; everything else (10-bit, 4:2:2, 4:4:4, packed formats,
//! frames that need scaling) goes through swscale there.
//!
//! The way out also works a band of rows at a time ([`Yuv420Format::rows`], then
//! [`Yuv420Format::finish`]), so the last guided-upsampling step can write the encoder's picture
//! while its rows are in cache (`upsample`), and the full-resolution float output is never
//! stored. Nothing here knows about FFmpeg: the numbers of colour spaces and chroma locations
//! are those of ITU-T H.273 as FFmpeg spells them (`AVColorSpace`, `AVChromaLocation`).

use crate::frame::{to_u8, Plane, RgbImage};

/// The luma weights of a colour matrix: `Y = kr·R + (1 − kr − kb)·G + kb·B`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Matrix {
    kr: f32,
    kb: f32,
}

/// The colour space a stream's `AVColorSpace` (H.273 matrix coefficients) is converted with:
/// the spaces swscale knows (BT.709, FCC, BT.470BG, SMPTE 170M and 240M, BT.2020) as they are,
/// anything else BT.601 (5). `AVColorSpace` and swscale's `SWS_CS_*` share these numbers, so the
/// video crate hands this to swscale as it is; [`Matrix::of`] reads the same choice.
pub fn matrix_code(color_space: i32) -> i32 {
    match color_space {
        1 | 4 | 5 | 6 | 7 | 9 | 10 => color_space,
        _ => 5,
    }
}

impl Matrix {
    /// The matrix of an `AVColorSpace`, the one swscale uses for it ([`matrix_code`]).
    pub fn of(color_space: i32) -> Self {
        let (kr, kb) = match matrix_code(color_space) {
            1 => (0.2126, 0.0722),          // BT.709
            4 => (0.30, 0.11),              // FCC
            7 => (0.212, 0.087),            // SMPTE 240M
            9 | 10 => (0.2627, 0.0593),     // BT.2020
            _ => (0.299, 0.114),            // BT.601 (470BG, 170M)
        };
        Self { kr, kb }
    }

    /// Luma `Y'` of a gamma-encoded RGB triple.
    #[inline(always)]
    fn luma(&self, c: &[f32]) -> f32 {
        self.kr * c[0] + (1.0 - self.kr - self.kb) * c[1] + self.kb * c[2]
    }
}

/// Where the chroma samples sit relative to the luma grid (`AVChromaLocation`): horizontally on
/// the even columns ("left", the MPEG-2/H.264 default and what unspecified means) or between two
/// columns ("center"); vertically between two rows, or on the even rows ("top").
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Siting {
    pub cosited_x: bool,
    pub cosited_y: bool,
}

impl Siting {
    pub fn of(chroma_location: i32) -> Self {
        match chroma_location {
            2 => Self { cosited_x: false, cosited_y: false }, // center (JPEG, MPEG-1)
            3 => Self { cosited_x: true, cosited_y: true },   // topleft
            4 => Self { cosited_x: false, cosited_y: true },  // top
            _ => Self { cosited_x: true, cosited_y: false },  // left, unspecified
        }
    }
}

/// Range scaling: `(value − offset) · scale` gives luma in [0, 1] and chroma in [−½, ½].
#[derive(Clone, Copy)]
struct Range {
    y_off: f32,
    y_scale: f32,
    c_scale: f32,
}

impl Range {
    fn new(full: bool) -> Self {
        if full {
            Self { y_off: 0.0, y_scale: 1.0 / 255.0, c_scale: 1.0 / 255.0 }
        } else {
            Self { y_off: 16.0, y_scale: 1.0 / 219.0, c_scale: 1.0 / 224.0 }
        }
    }
}

/// Taps of one chroma interpolation: sample `i0` and `i1` mixed by `t`.
#[derive(Clone, Copy)]
struct Tap {
    i0: usize,
    i1: usize,
    t: f32,
}

/// For each of `n` luma positions, the two chroma samples (of `nc`) around it: chroma sample
/// `i` sits at luma position `2i` when co-sited, else `2i + ½`.
fn taps(n: usize, nc: usize, cosited: bool) -> Vec<Tap> {
    (0..n)
        .map(|p| {
            let f = if cosited { p as f32 * 0.5 } else { p as f32 * 0.5 - 0.25 };
            let f = f.clamp(0.0, (nc - 1) as f32);
            let i0 = f as usize;
            Tap { i0, i1: (i0 + 1).min(nc - 1), t: f - i0 as f32 }
        })
        .collect()
}

/// Planes of an 8-bit 4:2:0 picture: `(data, stride)` of Y, Cb, Cr.
pub struct Planes<'a> {
    pub y: (&'a [u8], usize),
    pub u: (&'a [u8], usize),
    pub v: (&'a [u8], usize),
}

/// A `w × h` 4:2:0 picture as RGB in [0, 1] (clipped), chroma interpolated bilinearly.
pub fn to_rgb(p: &Planes, w: usize, h: usize, m: Matrix, full: bool, siting: Siting) -> RgbImage {
    to_rgb_into(p, w, h, m, full, siting, Vec::new())
}

/// [`to_rgb`] into `data`'s memory (a frame handed back by a [`crate::frame::Recycler`]; its
/// values are replaced).
pub fn to_rgb_into(p: &Planes, w: usize, h: usize, m: Matrix, full: bool, siting: Siting, mut data: Vec<f32>) -> RgbImage {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let r = Range::new(full);
    let kg = 1.0 - m.kr - m.kb;
    // R = Y + cr·Cr, B = Y + cb·Cb, G = Y − gb·Cb − gr·Cr (Cb, Cr in [−½, ½]).
    let (cr, cb) = (2.0 * (1.0 - m.kr), 2.0 * (1.0 - m.kb));
    let (gb, gr) = (2.0 * m.kb * (1.0 - m.kb) / kg, 2.0 * m.kr * (1.0 - m.kr) / kg);
    let xs = taps(w, cw, siting.cosited_x);
    let ys = taps(h, ch, siting.cosited_y);
    // Every value is written below: a recycled frame only needs its length set.
    data.truncate(w * h * 3);
    data.resize(w * h * 3, 0.0);
    // Per row: the chroma rows interpolated vertically (as `(C − 128) · scale`), then along x
    // into one value per pixel, then the matrix into a row of RGB; each loop a plain map over
    // slices, so it vectorises.
    let (mut cu, mut cv) = (vec![0.0f32; cw], vec![0.0f32; cw]);
    let (mut pu, mut pv) = (vec![0.0f32; w], vec![0.0f32; w]);
    for ((y, ty), row) in ys.iter().enumerate().zip(data.chunks_exact_mut(w * 3)) {
        for (plane, out) in [(&p.u, &mut cu), (&p.v, &mut cv)] {
            let (a, b) = (&plane.0[ty.i0 * plane.1..][..cw], &plane.0[ty.i1 * plane.1..][..cw]);
            for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
                let (a, b) = (a as f32 - 128.0, b as f32 - 128.0);
                *o = (a + (b - a) * ty.t) * r.c_scale;
            }
        }
        for ((tx, u), v) in xs.iter().zip(pu.iter_mut()).zip(pv.iter_mut()) {
            *u = cu[tx.i0] + (cu[tx.i1] - cu[tx.i0]) * tx.t;
            *v = cv[tx.i0] + (cv[tx.i1] - cv[tx.i0]) * tx.t;
        }
        let luma = &p.y.0[y * p.y.1..][..w];
        for (((o, &l), &u), &v) in row.chunks_exact_mut(3).zip(luma).zip(&pu).zip(&pv) {
            let yv = (l as f32 - r.y_off) * r.y_scale;
            o[0] = unit(yv + cr * v);
            o[1] = unit(yv - gb * u - gr * v);
            o[2] = unit(yv + cb * u);
        }
    }
    RgbImage { width: w, height: h, data }
}

/// Clip to [0, 1] (NaN cannot occur: every input is a byte).
#[inline(always)]
#[allow(clippy::manual_clamp)]
fn unit(v: f32) -> f32 {
    v.max(0.0).min(1.0)
}

/// Mutable planes of an 8-bit 4:2:0 picture.
pub struct PlanesMut<'a> {
    pub y: (&'a mut [u8], usize),
    pub u: (&'a mut [u8], usize),
    pub v: (&'a mut [u8], usize),
}

/// How RGB becomes an 8-bit 4:2:0 picture: the colour matrix, the range, and where the chroma
/// samples sit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Yuv420Format {
    pub matrix: Matrix,
    pub full_range: bool,
    pub siting: Siting,
}

/// An 8-bit 4:2:0 picture with tight planes (each stride is the plane's width).
#[derive(Clone, Debug, PartialEq)]
pub struct Yuv420 {
    pub width: usize,
    pub height: usize,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl Yuv420 {
    /// An all-zero picture of this size (every byte is then written by
    /// [`Yuv420Format::rows`] and [`Yuv420Format::finish`]).
    pub fn new(width: usize, height: usize) -> Self {
        let c = width.div_ceil(2) * height.div_ceil(2);
        Self { width, height, y: vec![0; width * height], u: vec![0; c], v: vec![0; c] }
    }

    /// Its luma `Y'` in [0, 1] (the range undone), without reading the chroma back.
    pub fn luma(&self, f: &Yuv420Format) -> Plane {
        let r = Range::new(f.full_range);
        Plane { width: self.width, height: self.height, data: self.y.iter().map(|&v| ((v as f32 - r.y_off) * r.y_scale).clamp(0.0, 1.0)).collect() }
    }

    /// The picture as RGB in [0, 1], read back as a decoder would.
    pub fn to_rgb(&self, f: &Yuv420Format) -> RgbImage {
        let cw = self.width.div_ceil(2);
        to_rgb(&Planes { y: (&self.y, self.width), u: (&self.u, cw), v: (&self.v, cw) }, self.width, self.height, f.matrix, f.full_range, f.siting)
    }
}

impl Yuv420Format {
    /// Rows `y0..` of a picture `w` wide (`rgb` holds whole rows, `y0` is even): their luma
    /// into `luma` (the same rows, `stride` apart), and for the chroma samples of their row
    /// pairs (`means`, `w.div_ceil(2)` per pair, zero on entry) the mean RGB of the pixels each
    /// stands for (the matrix is linear, so the mean's chroma is the mean chroma). The mean is
    /// taken where [`to_rgb`] reads the sample: on the even column when co-sited (so a picture
    /// that went through `to_rgb` unchanged gets its chroma columns back), else over the column
    /// pair; over the row pair, or on the even row when co-sited. Bands cut at even rows give
    /// the same bytes as one band; [`finish`](Self::finish) writes the chroma once every row is
    /// in.
    pub fn rows(&self, w: usize, rgb: &[f32], luma: &mut [u8], stride: usize, means: &mut [[f32; 3]]) {
        let (m, r) = (self.matrix, Range::new(self.full_range));
        let cw = w.div_ceil(2);
        let n = rgb.len() / (w * 3);
        debug_assert!(means.len() == n.div_ceil(2) * cw && luma.len() >= (n.max(1) - 1) * stride + w);
        // Code values as fractions of 255, for `to_u8`.
        let (y_off, y_mul) = (r.y_off / 255.0, 1.0 / (r.y_scale * 255.0));
        for (cy, mrow) in means.chunks_exact_mut(cw).enumerate() {
            let pair = &rgb[2 * cy * w * 3..((2 * cy + 2).min(n)) * w * 3];
            for (dy, src) in pair.chunks_exact(w * 3).enumerate() {
                let luma = &mut luma[(2 * cy + dy) * stride..][..w];
                for (l, c) in luma.iter_mut().zip(src.chunks_exact(3)) {
                    *l = to_u8(y_off + m.luma(c) * y_mul);
                }
            }
            let used = if self.siting.cosited_y { &pair[..w * 3] } else { pair };
            let row_share = 1.0 / (used.len() / (w * 3)) as f32;
            for src in used.chunks_exact(w * 3) {
                if self.siting.cosited_x {
                    for (a, c) in mrow.iter_mut().zip(src.chunks(6)) {
                        *a = [a[0] + c[0] * row_share, a[1] + c[1] * row_share, a[2] + c[2] * row_share];
                    }
                } else {
                    for (a, c) in mrow.iter_mut().zip(src.chunks(6)) {
                        let s = if c.len() == 6 { 0.5 * row_share } else { row_share };
                        for k in 0..3 {
                            a[k] += (c[k] + c.get(k + 3).copied().unwrap_or(0.0)) * s;
                        }
                    }
                }
            }
        }
    }

    /// The chroma planes of a `w × h` picture from the means [`rows`](Self::rows) gathered
    /// (`means` is used up).
    pub fn finish(&self, w: usize, h: usize, means: &mut [[f32; 3]], u: (&mut [u8], usize), v: (&mut [u8], usize)) {
        let (m, r) = (self.matrix, Range::new(self.full_range));
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let (sb, sr) = (0.5 / (1.0 - m.kb), 0.5 / (1.0 - m.kr));
        let (c_mul, c_mid) = (1.0 / (r.c_scale * 255.0), 128.0 / 255.0);
        // Where a sample stands for two pixels, reading it back (`to_rgb`'s interpolation) and
        // averaging again blurs it ([1/8, 3/4, 1/8] inside the picture); solving for the samples
        // whose round trip gives these means undoes that exactly, so chroma that went through
        // unchanged (the in-focus picture) comes back where it was.
        if !self.siting.cosited_x && cw > 1 {
            let t = Unblur::new(w, cw);
            for mrow in means.chunks_exact_mut(cw) {
                t.solve(mrow, 1);
            }
        }
        if !self.siting.cosited_y && ch > 1 {
            Unblur::new(h, ch).solve(means, cw);
        }
        for (cy, mrow) in means.chunks_exact(cw).enumerate() {
            let (u, v) = (&mut u.0[cy * u.1..][..cw], &mut v.0[cy * v.1..][..cw]);
            for ((u, v), a) in u.iter_mut().zip(v.iter_mut()).zip(mrow) {
                let yv = m.luma(a);
                *u = to_u8(c_mid + (a[2] - yv) * sb * c_mul);
                *v = to_u8(c_mid + (a[0] - yv) * sr * c_mul);
            }
        }
    }

    /// [`from_rgb`](Self::from_rgb) into a new picture with tight planes.
    pub fn picture(&self, img: &RgbImage) -> Yuv420 {
        let mut pic = Yuv420::new(img.width, img.height);
        let cw = img.width.div_ceil(2);
        self.from_rgb(img, &mut PlanesMut { y: (&mut pic.y, img.width), u: (&mut pic.u, cw), v: (&mut pic.v, cw) }, &mut Vec::new());
        pic
    }

    /// RGB in [0, 1] (clipped; NaN reads 0) as an 8-bit 4:2:0 picture of the same size, in one
    /// band. `scratch` holds the per-sample means between frames (a video then allocates
    /// nothing here).
    pub fn from_rgb(&self, img: &RgbImage, out: &mut PlanesMut, scratch: &mut Vec<[f32; 3]>) {
        let (w, h) = (img.width, img.height);
        scratch.clear();
        scratch.resize(w.div_ceil(2) * h.div_ceil(2), [0.0; 3]);
        self.rows(w, &img.data, out.y.0, out.y.1, scratch);
        self.finish(w, h, scratch, (&mut *out.u.0, out.u.1), (&mut *out.v.0, out.v.1));
    }
}

/// The round trip of chroma along one axis of `n` pixels and `nc` samples that are not
/// co-sited: [`to_rgb`] interpolates each pixel from two samples ([`taps`]) and [`from_rgb`]
/// averages the one or two pixels a sample stands for, a tridiagonal `nc × nc` matrix. Kept as
/// the factors of its LU (Thomas) decomposition, so [`solve`](Self::solve) inverts it in two
/// passes. It is diagonally dominant (3/4 against 1/8 + 1/8 inside, at least 3/4 against 1/4 at
/// the ends), so the solution is stable and amplifies no frequency more than twice.
struct Unblur {
    /// Below the diagonal.
    lower: Vec<f32>,
    /// 1 / the pivot.
    inv_pivot: Vec<f32>,
    /// Above the diagonal, divided by the pivot.
    upper: Vec<f32>,
}

impl Unblur {
    fn new(n: usize, nc: usize) -> Self {
        let (mut lower, mut diag, mut upper) = (vec![0.0f32; nc], vec![0.0f32; nc], vec![0.0f32; nc]);
        for (p, tap) in taps(n, nc, false).iter().enumerate() {
            let j = p / 2;
            let share = if 2 * j + 1 < n { 0.5 } else { 1.0 };
            for (i, wt) in [(tap.i0, 1.0 - tap.t), (tap.i1, tap.t)] {
                match i as isize - j as isize {
                    -1 => lower[j] += wt * share,
                    0 => diag[j] += wt * share,
                    1 => upper[j] += wt * share,
                    _ => unreachable!("a pixel reads the samples next to its own"),
                }
            }
        }
        let mut inv_pivot = vec![0.0f32; nc];
        for j in 0..nc {
            let pivot = diag[j] - if j > 0 { lower[j] * upper[j - 1] } else { 0.0 };
            inv_pivot[j] = 1.0 / pivot;
            upper[j] *= inv_pivot[j];
        }
        Self { lower, inv_pivot, upper }
    }

    /// Replace the `nc` means of each of the `stride`-long vectors in `v`, which follow one
    /// another (`nc × stride` values: a row of samples when `stride` is 1, whole rows for the
    /// vertical axis), by the samples whose round trip gives them.
    fn solve(&self, v: &mut [[f32; 3]], stride: usize) {
        let nc = self.inv_pivot.len();
        debug_assert_eq!(v.len(), nc * stride);
        let axpy = |dst: &mut [[f32; 3]], src: &[[f32; 3]], a: f32, scale: f32| {
            for (d, s) in dst.iter_mut().zip(src) {
                *d = std::array::from_fn(|k| (d[k] - a * s[k]) * scale);
            }
        };
        v[..stride].iter_mut().for_each(|d| *d = d.map(|c| c * self.inv_pivot[0]));
        for j in 1..nc {
            let (done, rest) = v.split_at_mut(j * stride);
            axpy(&mut rest[..stride], &done[(j - 1) * stride..], self.lower[j], self.inv_pivot[j]);
        }
        for j in (0..nc - 1).rev() {
            let (head, tail) = v.split_at_mut((j + 1) * stride);
            axpy(&mut head[j * stride..], &tail[..stride], self.upper[j], 1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planes_of(w: usize, h: usize, f: impl Fn(usize, usize) -> [u8; 3]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let y = (0..w * h).map(|i| f(i % w, i / w)[0]).collect();
        let u = (0..cw * ch).map(|i| f(2 * (i % cw), 2 * (i / cw))[1]).collect();
        let v = (0..cw * ch).map(|i| f(2 * (i % cw), 2 * (i / cw))[2]).collect();
        (y, u, v)
    }

    #[test]
    fn reference_colours_decode_to_their_rgb() {
        // BT.709 limited range: black, white, and the 75 % bars' red (from the standard's bars).
        let m = Matrix::of(1);
        for (yuv, rgb) in [([16u8, 128, 128], [0.0f32, 0.0, 0.0]), ([235, 128, 128], [1.0, 1.0, 1.0]), ([51, 109, 212], [0.75, 0.0, 0.0])] {
            let (y, u, v) = planes_of(3, 3, |_, _| yuv);
            let img = to_rgb(&Planes { y: (&y, 3), u: (&u, 2), v: (&v, 2) }, 3, 3, m, false, Siting::of(0));
            for px in img.data.chunks_exact(3) {
                for k in 0..3 {
                    assert!((px[k] - rgb[k]).abs() < 0.006, "{yuv:?} gave {px:?}, not {rgb:?}");
                }
            }
        }
    }

    #[test]
    fn a_recycled_buffer_is_written_over_whole() {
        let (w, h) = (7, 5);
        let (y, u, v) = planes_of(w, h, |x, y| [(16 + 29 * x + 11 * y) as u8, (60 + 13 * x) as u8, (200 - 17 * y) as u8]);
        let p = Planes { y: (&y, w), u: (&u, 4), v: (&v, 4) };
        let fresh = to_rgb(&p, w, h, Matrix::of(1), false, Siting::of(0));
        // The right size holding another frame, a larger one, a smaller one.
        for stale in [vec![f32::NAN; w * h * 3], vec![0.5; w * h * 3 + 9], vec![0.25; 4]] {
            assert_eq!(to_rgb_into(&p, w, h, Matrix::of(1), false, Siting::of(0), stale), fresh);
        }
    }

    #[test]
    fn a_round_trip_keeps_every_luma_value_and_co_sited_chroma() {
        // Odd sizes, every matrix and range: luma comes back exactly; chroma on the co-sited
        // grid too (it was read there unchanged), apart from colours outside the RGB cube that
        // the clip to [0, 1] moves.
        let (w, h) = (9, 7);
        for cs in [1, 5, 9] {
            for full in [false, true] {
                let m = Matrix::of(cs);
                let (y, u, v) = planes_of(w, h, |x, y| [(60 + 13 * x + 7 * y) as u8, (120 + x) as u8, (130 - y) as u8]);
                let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
                let siting = Siting { cosited_x: true, cosited_y: true };
                let img = to_rgb(&Planes { y: (&y, w), u: (&u, cw), v: (&v, cw) }, w, h, m, full, siting);
                let (mut y2, mut u2, mut v2) = (vec![0u8; w * h], vec![0u8; cw * ch], vec![0u8; cw * ch]);
                Yuv420Format { matrix: m, full_range: full, siting }.from_rgb(&img, &mut PlanesMut { y: (&mut y2, w), u: (&mut u2, cw), v: (&mut v2, cw) }, &mut Vec::new());
                assert_eq!(y, y2, "luma, colour space {cs}, full range {full}");
                assert_eq!(u, u2, "Cb, colour space {cs}, full range {full}");
                assert_eq!(v, v2, "Cr, colour space {cs}, full range {full}");
            }
        }
    }

    #[test]
    fn a_round_trip_gives_back_every_chroma_sample_at_every_siting() {
        // Chroma that changes from sample to sample in both directions (mid-grey luma, so every
        // colour is inside the RGB cube), read through `to_rgb` and written back: the same
        // bytes, whether the samples are co-sited, between two pixels, or one then the other,
        // at even and odd sizes.
        for (w, h) in [(10usize, 6usize), (9, 7), (2, 9)] {
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            let (y, u, v) = planes_of(w, h, |x, y| [128, (112 + (7 * x + 13 * y) % 33) as u8, (140 - (5 * x * y + 3 * x) % 29) as u8]);
            for loc in [1, 2, 3, 4] {
                let siting = Siting::of(loc);
                let img = to_rgb(&Planes { y: (&y, w), u: (&u, cw), v: (&v, cw) }, w, h, Matrix::of(1), false, siting);
                let (mut y2, mut u2, mut v2) = (vec![0u8; w * h], vec![0u8; cw * ch], vec![0u8; cw * ch]);
                Yuv420Format { matrix: Matrix::of(1), full_range: false, siting }.from_rgb(&img, &mut PlanesMut { y: (&mut y2, w), u: (&mut u2, cw), v: (&mut v2, cw) }, &mut Vec::new());
                assert_eq!((&y, &u, &v), (&y2, &u2, &v2), "{w}x{h}, chroma location {loc}");
            }
        }
    }

    #[test]
    fn bands_cut_at_even_rows_give_the_bytes_of_one_band() {
        // What the last upsampling step does: rows in bands of 4 (and a short last band at odd
        // heights), luma and chroma means per band, then the chroma once: the same picture as
        // converting the whole frame at once, at every siting and range.
        for (w, h) in [(13usize, 11usize), (8, 6), (3, 9)] {
            let img = RgbImage::from_fn(w, h, |x, y| [((x * 37 + y * 11) % 29) as f32 / 28.0, ((x * y) % 7) as f32 / 6.0, ((x + 3 * y) % 5) as f32 / 4.0]);
            for loc in [1, 2, 3, 4] {
                for full in [false, true] {
                    let f = Yuv420Format { matrix: Matrix::of(1), full_range: full, siting: Siting::of(loc) };
                    let whole = f.picture(&img);
                    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
                    let mut banded = Yuv420::new(w, h);
                    let mut means = vec![[0.0f32; 3]; cw * ch];
                    for ((rgb, luma), m) in img.data.chunks(w * 3 * 4).zip(banded.y.chunks_mut(w * 4)).zip(means.chunks_mut(cw * 2)) {
                        f.rows(w, rgb, luma, w, m);
                    }
                    f.finish(w, h, &mut means, (&mut banded.u, cw), (&mut banded.v, cw));
                    assert_eq!(whole, banded, "{w}x{h}, chroma location {loc}, full range {full}");
                }
            }
        }
    }

    #[test]
    fn chroma_between_samples_is_interpolated_where_it_sits() {
        // Two chroma columns, Cb 110 then 150 (Y mid-grey): with left siting pixel 1 lies half
        // way between them; with centre siting the samples sit at ½ and 2½, so pixels 1 and 2 mix.
        let (y, u, v) = (vec![128u8; 4], vec![110u8, 150], vec![128u8, 128]);
        let p = Planes { y: (&y, 4), u: (&u, 2), v: (&v, 2) };
        let b = |s: Siting| to_rgb(&p, 4, 1, Matrix::of(5), true, s).data.chunks_exact(3).map(|c| c[2]).collect::<Vec<_>>();
        let left = b(Siting::of(1));
        let centre = b(Siting::of(2));
        let cb = |v: f32| 128.0 / 255.0 + 2.0 * (1.0 - 0.114) * (v - 128.0) / 255.0;
        for (got, want) in left.iter().zip([cb(110.0), cb(130.0), cb(150.0), cb(150.0)]) {
            assert!((got - want).abs() < 1e-5, "left: {left:?}");
        }
        for (got, want) in centre.iter().zip([cb(110.0), cb(120.0), cb(140.0), cb(150.0)]) {
            assert!((got - want).abs() < 1e-5, "centre: {centre:?}");
        }
    }
}
