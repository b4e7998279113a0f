//! Measuring renderers against ground truth: the band around depth edges, where renderers differ.

use super::LensParams;
use crate::frame::{psnr, Plane, RgbImage};

/// Pixels near a depth discontinuity: where the blur radius jumps by more than one pixel between
/// neighbours, grown by the larger radius of the two sides (at least 2 px), which is as far as
/// either side's light reaches across the edge.
pub fn edge_band(depth: &Plane, params: &LensParams) -> Vec<bool> {
    let (w, h) = (depth.width, depth.height);
    let coc = |x: usize, y: usize| params.signed_coc(depth.get(x, y));
    let mut grow = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let c = coc(x, y);
            for (nx, ny) in [(x + 1, y), (x, y + 1)] {
                if nx < w && ny < h {
                    let cn = coc(nx, ny);
                    if (c - cn).abs() > 1.0 {
                        let r = c.abs().max(cn.abs()).max(2.0);
                        grow[y * w + x] = grow[y * w + x].max(r);
                    }
                }
            }
        }
    }
    let mut band = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            let r = grow[y * w + x];
            if r <= 0.0 {
                continue;
            }
            let ri = r.ceil() as isize;
            for dy in -ri..=ri {
                for dx in -ri..=ri {
                    let (xx, yy) = (x as isize + dx, y as isize + dy);
                    if xx >= 0 && yy >= 0 && xx < w as isize && yy < h as isize && ((dx * dx + dy * dy) as f32) <= r * r {
                        band[yy as usize * w + xx as usize] = true;
                    }
                }
            }
        }
    }
    band
}

/// PSNR over the frame and over the edge band (NaN when there is no edge).
pub fn score(out: &RgbImage, truth: &RgbImage, band: &[bool]) -> (f64, f64) {
    (psnr(out, truth, None), psnr(out, truth, Some(band)))
}
