//! Naive baseline renderers, kept as yardsticks for tests and benchmarks: they are what the
//! physical renderer must beat at depth edges.

use deeplens_core::frame::{Plane, RgbImage};
use deeplens_core::lens::{from_linear, to_linear, LensParams};
use rayon::prelude::*;

/// Gather: each pixel averages the linear-light colours inside its own circle of confusion.
/// Sharp foreground pixels stay sharp, but blurred background gathers foreground colour (bleed)
/// and blurred foreground keeps a hard edge. O(r²) per pixel.
pub fn gather_blur(rgb: &RgbImage, depth: &Plane, p: &LensParams) -> RgbImage {
    let (w, h) = (rgb.width, rgb.height);
    let lin: Vec<f32> = rgb.data.iter().map(|&v| to_linear(v)).collect();
    let mut out = vec![0.0f32; w * h * 3];
    out.par_chunks_mut(w * 3).enumerate().for_each(|(y, row)| {
        for x in 0..w {
            let r = p.coc(depth.get(x, y));
            let ri = r.ceil() as isize;
            let mut acc = [0.0f32; 3];
            let mut wsum = 0.0f32;
            for dy in -ri..=ri {
                let yy = y as isize + dy;
                if yy < 0 || yy >= h as isize {
                    continue;
                }
                for dx in -ri..=ri {
                    let xx = x as isize + dx;
                    if xx < 0 || xx >= w as isize {
                        continue;
                    }
                    let d2 = (dx * dx + dy * dy) as f32;
                    // Soft disc edge: full weight inside r, fading over one pixel.
                    let wgt = (r + 0.5 - d2.sqrt()).clamp(0.0, 1.0);
                    if wgt <= 0.0 {
                        continue;
                    }
                    let i = (yy as usize * w + xx as usize) * 3;
                    for k in 0..3 {
                        acc[k] += wgt * lin[i + k];
                    }
                    wsum += wgt;
                }
            }
            for k in 0..3 {
                row[x * 3 + k] = from_linear(acc[k] / wsum.max(1e-6));
            }
        }
    });
    RgbImage { width: w, height: h, data: out }
}

/// Scatter with no depth ordering: each pixel spreads its linear colour evenly over its own
/// circle of confusion (area-normalised), and every pixel divides by the weight it received.
/// Blurred foreground gets a soft edge, but blurred background spills over sharp subjects.
pub fn scatter_blur(rgb: &RgbImage, depth: &Plane, p: &LensParams) -> RgbImage {
    let (w, h) = (rgb.width, rgb.height);
    let mut acc = vec![0.0f32; w * h * 3];
    let mut wsum = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let r = p.coc(depth.get(x, y));
            let ri = r.ceil() as isize;
            let area = std::f32::consts::PI * (r + 0.5).powi(2);
            let c = rgb.pixel(x, y).map(to_linear);
            for dy in -ri..=ri {
                let yy = y as isize + dy;
                if yy < 0 || yy >= h as isize {
                    continue;
                }
                for dx in -ri..=ri {
                    let xx = x as isize + dx;
                    if xx < 0 || xx >= w as isize {
                        continue;
                    }
                    let d = ((dx * dx + dy * dy) as f32).sqrt();
                    let wgt = (r + 0.5 - d).clamp(0.0, 1.0) / area;
                    if wgt <= 0.0 {
                        continue;
                    }
                    let j = yy as usize * w + xx as usize;
                    for k in 0..3 {
                        acc[j * 3 + k] += wgt * c[k];
                    }
                    wsum[j] += wgt;
                }
            }
        }
    }
    let data = acc
        .chunks_exact(3)
        .zip(&wsum)
        .flat_map(|(a, &s)| a.iter().map(move |&v| from_linear(v / s.max(1e-9))).collect::<Vec<_>>())
        .collect();
    RgbImage { width: w, height: h, data }
}
