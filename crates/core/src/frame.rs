//! Planar `f32` pictures shared by every compute stage.
//!
//! Colour is stored interleaved RGB in the source's own (gamma-encoded) values scaled to
//! [0, 1]; stages that need linear light convert on their own. Depth and masks are single-plane.
//! Nothing here knows about FFmpeg, so the compute stages build and benchmark without video I/O.

use crossbeam_channel::{bounded, Receiver, Sender};
use rayon::prelude::*;

/// The largest picture deeplens takes in: 8192 pixels a side and 8192×4608 in all (8K at
/// 16:9, portrait too). Every frame is held as 32-bit floats (12 bytes a pixel), so a file
/// that declares a larger picture (a few header bytes can ask FFmpeg for 2³¹/8 pixels, 30 GB
/// here) is refused when it is opened, before anything is decoded.
pub const MAX_SIDE: u32 = 8192;
/// See [`MAX_SIDE`].
pub const MAX_PIXELS: u64 = 8192 * 4608;

/// One error line (an input error naming `source`) when `what` (its video, a picture) is larger
/// than [`MAX_SIDE`]/[`MAX_PIXELS`].
pub fn check_size(source: &str, what: &str, w: u32, h: u32) -> crate::Result<()> {
    if w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS {
        crate::fail!(
            Input,
            "{source}: {what} is {w}×{h}; deeplens takes pictures up to {MAX_SIDE} pixels a side and {:.1} megapixels ({MAX_SIDE}×{})",
            MAX_PIXELS as f64 / 1e6,
            MAX_PIXELS / u64::from(MAX_SIDE)
        );
    }
    Ok(())
}

/// Frame-sized buffers handed back from where frames end (an encoder) to where they begin (a
/// decoder): a video then reuses memory it has already paged in instead of faulting in a fresh
/// frame (at 720p 11 MB, about half of a conversion's page faults) every frame. Holds at most
/// `keep` buffers; more are freed.
#[derive(Clone, Debug)]
pub struct Recycler {
    tx: Sender<Vec<f32>>,
    rx: Receiver<Vec<f32>>,
}

impl Recycler {
    pub fn new(keep: usize) -> Self {
        let (tx, rx) = bounded(keep.max(1));
        Self { tx, rx }
    }

    /// Hand a buffer back (freed when the recycler is full).
    pub fn give(&self, buf: Vec<f32>) {
        let _ = self.tx.try_send(buf);
    }

    /// A buffer handed back earlier, or a new empty one.
    pub fn take(&self) -> Vec<f32> {
        self.rx.try_recv().unwrap_or_default()
    }
}

/// An interleaved RGB picture, values in [0, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    /// `width * height * 3` values, row-major, RGB interleaved.
    pub data: Vec<f32>,
}

/// A single-channel picture (depth, circle of confusion, weights).
#[derive(Clone, Debug, PartialEq)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    /// `width * height` values, row-major.
    pub data: Vec<f32>,
}

impl RgbImage {
    pub fn new(width: usize, height: usize) -> Self {
        Self { width, height, data: vec![0.0; width * height * 3] }
    }

    pub fn from_fn(width: usize, height: usize, f: impl Fn(usize, usize) -> [f32; 3]) -> Self {
        let mut img = Self::new(width, height);
        for y in 0..height {
            for x in 0..width {
                let p = f(x, y);
                img.data[(y * width + x) * 3..][..3].copy_from_slice(&p);
            }
        }
        img
    }

    /// Packed 8-bit RGB (the layout of `image::RgbImage` and of FFmpeg's `rgb24`).
    pub fn from_rgb8(width: usize, height: usize, bytes: &[u8]) -> Self {
        assert_eq!(bytes.len(), width * height * 3);
        Self { width, height, data: bytes.iter().map(|&b| b as f32 * (1.0 / 255.0)).collect() }
    }

    /// Packed 16-bit RGB, native endian (FFmpeg's `rgb48`).
    pub fn from_rgb16(width: usize, height: usize, words: &[u16]) -> Self {
        assert_eq!(words.len(), width * height * 3);
        Self { width, height, data: words.iter().map(|&w| w as f32 * (1.0 / 65535.0)).collect() }
    }

    pub fn to_rgb8(&self) -> Vec<u8> {
        self.data.iter().map(|&v| to_u8(v)).collect()
    }

    pub fn to_rgb16(&self) -> Vec<u16> {
        self.data.iter().map(|&v| to_u16(v)).collect()
    }

    #[inline]
    pub fn pixel(&self, x: usize, y: usize) -> [f32; 3] {
        let i = (y * self.width + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Bilinear resize with pixel centres aligned (`align_corners = false`), area-averaged
    /// when shrinking by more than two so fine texture does not alias.
    pub fn resize(&self, width: usize, height: usize) -> Self {
        Self { width, height, data: resize_channels(&self.data, self.width, self.height, 3, width, height) }
    }

    /// Luma (BT.709 weights) of the gamma-encoded values.
    pub fn luma(&self) -> Plane {
        Plane {
            width: self.width,
            height: self.height,
            data: self.data.chunks_exact(3).map(|p| 0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2]).collect(),
        }
    }
}

impl Plane {
    pub fn new(width: usize, height: usize) -> Self {
        Self { width, height, data: vec![0.0; width * height] }
    }

    pub fn filled(width: usize, height: usize, value: f32) -> Self {
        Self { width, height, data: vec![value; width * height] }
    }

    pub fn from_fn(width: usize, height: usize, f: impl Fn(usize, usize) -> f32) -> Self {
        let mut p = Self::new(width, height);
        for y in 0..height {
            for x in 0..width {
                p.data[y * width + x] = f(x, y);
            }
        }
        p
    }

    #[inline]
    pub fn get(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    pub fn resize(&self, width: usize, height: usize) -> Self {
        Self { width, height, data: resize_channels(&self.data, self.width, self.height, 1, width, height) }
    }

    /// Stretch the values so the smallest becomes 0 and the largest 1 (a flat plane becomes 0.5).
    pub fn normalise_min_max(&mut self) {
        let (lo, hi) = self.data.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let span = hi - lo;
        if !(span > 1e-12) {
            self.data.iter_mut().for_each(|v| *v = 0.5);
        } else {
            self.data.iter_mut().for_each(|v| *v = (*v - lo) / span);
        }
    }

    /// Median of the values inside a square window centred on (cx, cy) in pixels.
    pub fn median_around(&self, cx: f32, cy: f32, radius: usize) -> f32 {
        let cx = (cx.round() as isize).clamp(0, self.width as isize - 1);
        let cy = (cy.round() as isize).clamp(0, self.height as isize - 1);
        let r = radius as isize;
        let mut v = Vec::with_capacity(((2 * r + 1) * (2 * r + 1)) as usize);
        for y in (cy - r).max(0)..=(cy + r).min(self.height as isize - 1) {
            for x in (cx - r).max(0)..=(cx + r).min(self.width as isize - 1) {
                v.push(self.data[y as usize * self.width + x as usize]);
            }
        }
        let mid = v.len() / 2;
        *v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b)).1
    }
}

/// A value in [0, 1] as 8 bits, rounded to nearest; values outside are clipped and NaN is 0.
/// The scaled value is clamped first (`max` drops NaN), so the conversion may skip the
/// saturating checks of `as`: a loop over a row then compiles to vector instructions (four
/// times faster on a 720p frame than `(v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8`, same results).
#[inline(always)]
#[allow(clippy::manual_clamp)] // `clamp` keeps NaN, which the conversion below must never see
pub fn to_u8(v: f32) -> u8 {
    let x = (v * 255.0 + 0.5).max(0.0).min(255.0);
    // SAFETY: `x` is finite and within [0, 255], which `i32` holds.
    unsafe { x.to_int_unchecked::<i32>() as u8 }
}

/// [`to_u8`] for 16 bits.
#[inline(always)]
#[allow(clippy::manual_clamp)] // as in `to_u8`
pub fn to_u16(v: f32) -> u16 {
    let x = (v * 65535.0 + 0.5).max(0.0).min(65535.0);
    // SAFETY: `x` is finite and within [0, 65535], which `i32` holds.
    unsafe { x.to_int_unchecked::<i32>() as u16 }
}

/// Resize `c`-channel interleaved data. Shrinking by more than 2× first box-averages to within
/// 2× of the target, then finishes bilinearly.
fn resize_channels(src: &[f32], sw: usize, sh: usize, c: usize, dw: usize, dh: usize) -> Vec<f32> {
    assert!(dw > 0 && dh > 0 && sw > 0 && sh > 0);
    if sw == dw && sh == dh {
        return src.to_vec();
    }
    let fx = (sw / dw).max(1);
    let fy = (sh / dh).max(1);
    if fx >= 2 || fy >= 2 {
        let (bw, bh) = (sw / fx, sh / fy);
        let boxed = match (fx, fy, c) {
            (2, 2, 3) => box_down_2x2::<3>(src, sw, bw, bh),
            (2, 2, 1) => box_down_2x2::<1>(src, sw, bw, bh),
            (_, _, 3) => box_down::<3>(src, sw, fx, fy, bw, bh),
            (_, _, 1) => box_down::<1>(src, sw, fx, fy, bw, bh),
            _ => unreachable!("pictures have one or three channels"),
        };
        if (bw, bh) == (dw, dh) {
            return boxed;
        }
        return resize_channels(&boxed, bw, bh, c, dw, dh);
    }
    match c {
        1 => bilinear::<1>(src, sw, sh, dw, dh),
        3 => bilinear::<3>(src, sw, sh, dw, dh),
        _ => unreachable!("pictures have one or three channels"),
    }
}

/// Bilinear resize of `C`-channel data with pixel centres aligned. The columns' taps and weights
/// are worked out once per picture, not once per pixel and row.
fn bilinear<const C: usize>(src: &[f32], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<f32> {
    let sx = sw as f32 / dw as f32;
    let sy = sh as f32 / dh as f32;
    let xs: Vec<(usize, usize, f32)> = (0..dw)
        .map(|x| {
            let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (sw - 1) as f32);
            let x0 = fx.floor() as usize;
            (x0 * C, (x0 + 1).min(sw - 1) * C, fx - x0 as f32)
        })
        .collect();
    let mut out = vec![0.0f32; dw * dh * C];
    out.par_chunks_mut(dw * C).enumerate().for_each(|(y, row)| {
        let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (sh - 1) as f32);
        let y0 = fy.floor() as usize;
        let y1 = (y0 + 1).min(sh - 1);
        let wy = fy - y0 as f32;
        let top = &src[y0 * sw * C..(y0 + 1) * sw * C];
        let bottom = &src[y1 * sw * C..(y1 + 1) * sw * C];
        for (o, &(x0, x1, wx)) in row.chunks_exact_mut(C).zip(&xs) {
            for k in 0..C {
                let a = top[x0 + k];
                let b = top[x1 + k];
                let d = bottom[x0 + k];
                let e = bottom[x1 + k];
                let t = a + (b - a) * wx;
                let u = d + (e - d) * wx;
                o[k] = t + (u - t) * wy;
            }
        }
    });
    out
}

/// [`box_down`] by two in both directions (a 720p frame to its working picture), on row slices
/// so the loop has no index checks; the four values are summed in `box_down`'s order, so the
/// result is the same to the bit.
fn box_down_2x2<const C: usize>(src: &[f32], sw: usize, bw: usize, bh: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; bw * bh * C];
    out.par_chunks_mut(bw * C).enumerate().for_each(|(y, row)| {
        let top = &src[2 * y * sw * C..][..2 * bw * C];
        let bottom = &src[(2 * y + 1) * sw * C..][..2 * bw * C];
        for ((o, a), b) in row.chunks_exact_mut(C).zip(top.chunks_exact(2 * C)).zip(bottom.chunks_exact(2 * C)) {
            for k in 0..C {
                o[k] = (((a[k] + a[C + k]) + b[k]) + b[C + k]) * 0.25;
            }
        }
    });
    debug_assert!(bh * 2 <= src.len() / (sw * C));
    out
}

/// Mean of each `fx × fy` block of `C`-channel data. Each sum runs over the block's rows top to
/// bottom and each row left to right, from zero (the channels side by side, so a row vectorises).
fn box_down<const C: usize>(src: &[f32], sw: usize, fx: usize, fy: usize, bw: usize, bh: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; bw * bh * C];
    let norm = 1.0 / (fx * fy) as f32;
    out.par_chunks_mut(bw * C).enumerate().for_each(|(y, row)| {
        // The block's source rows, each cut to the `bw` whole blocks.
        let rows: Vec<&[f32]> = (y * fy..(y + 1) * fy).map(|yy| &src[yy * sw * C..][..bw * fx * C]).collect();
        for (x, o) in row.chunks_exact_mut(C).enumerate() {
            let mut s = [0.0f32; C];
            for r in &rows {
                for v in r[x * fx * C..(x + 1) * fx * C].chunks_exact(C) {
                    s = std::array::from_fn(|k| s[k] + v[k]);
                }
            }
            o.copy_from_slice(&s.map(|v| v * norm));
        }
    });
    out
}

/// PSNR in dB between two pictures of the same size (values in [0, 1]), optionally restricted
/// to the pixels where `mask` is true.
pub fn psnr(a: &RgbImage, b: &RgbImage, mask: Option<&[bool]>) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let mut se = 0.0f64;
    let mut n = 0usize;
    for (i, (pa, pb)) in a.data.chunks_exact(3).zip(b.data.chunks_exact(3)).enumerate() {
        if mask.is_some_and(|m| !m[i]) {
            continue;
        }
        for k in 0..3 {
            let d = (pa[k] - pb[k]) as f64;
            se += d * d;
        }
        n += 3;
    }
    if n == 0 {
        return f64::NAN;
    }
    let mse = se / n as f64;
    if mse <= 1e-20 {
        return 99.0;
    }
    10.0 * (1.0 / mse).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_limit_takes_8k_either_way_round_and_refuses_one_pixel_more() {
        assert!(check_size("a", "its video", 8192, 4608).is_ok());
        assert!(check_size("a", "its video", 4608, 8192).is_ok());
        assert!(check_size("a", "its video", 1, 1).is_ok());
        let e = check_size("in.mkv", "its video", 8192, 4609).unwrap_err().to_string();
        assert_eq!(e, "in.mkv: its video is 8192×4609; deeplens takes pictures up to 8192 pixels a side and 37.7 megapixels (8192×4608)");
        assert!(check_size("a", "b", 8193, 1).is_err());
        assert!(check_size("a", "b", 1, u32::MAX).is_err());
    }

    #[test]
    fn a_recycler_gives_back_what_it_was_given_and_keeps_at_most_its_share() {
        let r = Recycler::new(2);
        assert!(r.take().capacity() == 0, "nothing given yet: a new empty buffer");
        for n in [10, 20, 30] {
            r.give(Vec::with_capacity(n));
        }
        // The third was freed: the recycler keeps two.
        assert_eq!((r.take().capacity(), r.take().capacity(), r.take().capacity()), (10, 20, 0));
    }

    #[test]
    fn resize_keeps_constant_and_mean() {
        let img = RgbImage::from_fn(64, 48, |_, _| [0.25, 0.5, 0.75]);
        let small = img.resize(13, 7);
        assert!(small.data.iter().zip([0.25, 0.5, 0.75].iter().cycle()).all(|(a, b)| (a - b).abs() < 1e-6));
        let ramp = Plane::from_fn(256, 4, |x, _| x as f32 / 255.0);
        let r = ramp.resize(32, 4);
        let mean: f32 = r.data.iter().sum::<f32>() / r.data.len() as f32;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
    }

    #[test]
    fn the_box_sums_each_channel_top_to_bottom_left_to_right() {
        fn check<const C: usize>() {
            let vals = |n: usize| (0..n).map(|i| ((i * 7919 % 1009) as f32 / 1009.0).powf(1.7)).collect::<Vec<f32>>();
            for (sw, sh, fx, fy) in [(13, 11, 3, 2), (40, 9, 4, 4), (7, 7, 1, 3), (17, 10, 5, 1)] {
                let src = vals(sw * sh * C);
                let (bw, bh) = (sw / fx, sh / fy);
                // Every channel on its own: rows top to bottom, pixels left to right.
                let mut want = vec![0.0f32; bw * bh * C];
                for y in 0..bh {
                    for x in 0..bw {
                        for k in 0..C {
                            let mut s = 0.0f32;
                            for yy in y * fy..(y + 1) * fy {
                                for xx in x * fx..(x + 1) * fx {
                                    s += src[(yy * sw + xx) * C + k];
                                }
                            }
                            want[(y * bw + x) * C + k] = s * (1.0 / (fx * fy) as f32);
                        }
                    }
                }
                let got = box_down::<C>(&src, sw, fx, fy, bw, bh);
                assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "{C} channels, {sw}x{sh} by {fx}x{fy}");
            }
        }
        check::<1>();
        check::<3>();
    }

    #[test]
    fn halving_is_the_general_box_to_the_bit() {
        // Odd sizes: the last column and row are dropped by both.
        let vals = |n: usize| (0..n).map(|i| ((i * 7919 % 1009) as f32 / 1009.0).powf(1.7)).collect::<Vec<f32>>();
        let rgb = vals(9 * 7 * 3);
        assert_eq!(box_down_2x2::<3>(&rgb, 9, 4, 3), box_down::<3>(&rgb, 9, 2, 2, 4, 3));
        let grey = vals(9 * 7);
        assert_eq!(box_down_2x2::<1>(&grey, 9, 4, 3), box_down::<1>(&grey, 9, 2, 2, 4, 3));
        // 8-bit output: the vectorised form rounds and clips as a clamp before scaling does.
        for v in [-1.0f32, -0.0, 0.0, 0.001, 0.5, 0.998, 1.0, 1.5, f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            assert_eq!(to_u8(v), (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8, "{v}");
            assert_eq!(to_u16(v), (v.clamp(0.0, 1.0) * 65535.0 + 0.5) as u16, "{v}");
        }
        for i in 0..=100_000 {
            let v = i as f32 / 100_000.0;
            assert_eq!(to_u8(v), (v * 255.0 + 0.5) as u8);
            assert_eq!(to_u16(v), (v * 65535.0 + 0.5) as u16);
        }
    }

    #[test]
    fn bilinear_is_the_per_pixel_formula_to_the_bit() {
        let (sw, sh, dw, dh) = (23, 11, 37, 19);
        let src: Vec<f32> = (0..sw * sh * 3).map(|i| ((i * 31 % 97) as f32 / 97.0).sqrt()).collect();
        let out = RgbImage { width: sw, height: sh, data: src.clone() }.resize(dw, dh);
        let (sx, sy) = (sw as f32 / dw as f32, sh as f32 / dh as f32);
        for y in 0..dh {
            let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (sh - 1) as f32);
            let (y0, wy) = (fy.floor() as usize, fy - fy.floor());
            let y1 = (y0 + 1).min(sh - 1);
            for x in 0..dw {
                let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (sw - 1) as f32);
                let (x0, wx) = (fx.floor() as usize, fx - fx.floor());
                let x1 = (x0 + 1).min(sw - 1);
                for k in 0..3 {
                    let at = |xx: usize, yy: usize| src[(yy * sw + xx) * 3 + k];
                    let top = at(x0, y0) + (at(x1, y0) - at(x0, y0)) * wx;
                    let bot = at(x0, y1) + (at(x1, y1) - at(x0, y1)) * wx;
                    assert_eq!(out.data[(y * dw + x) * 3 + k].to_bits(), (top + (bot - top) * wy).to_bits());
                }
            }
        }
    }

    #[test]
    fn median_ignores_outliers() {
        let mut p = Plane::filled(9, 9, 0.3);
        p.data[40] = 1.0;
        assert_eq!(p.median_around(4.0, 4.0, 1), 0.3);
    }

    #[test]
    fn psnr_of_identical_is_high() {
        let a = RgbImage::from_fn(8, 8, |x, y| [x as f32 / 8.0, y as f32 / 8.0, 0.5]);
        assert!(psnr(&a, &a, None) > 90.0);
        let mut b = a.clone();
        b.data.iter_mut().for_each(|v| *v += 0.1);
        assert!((psnr(&a, &b, None) - 20.0).abs() < 0.01);
    }
}
