//! Small helpers to move pictures in and out of NCHW tensors.

use deeplens_core::frame::{Plane, RgbImage};
use ndarray::Array4;

pub fn rgb_to_nchw(img: &RgbImage) -> Array4<f32> {
    let (w, h) = (img.width, img.height);
    let mut t = Array4::<f32>::zeros((1, 3, h, w));
    for y in 0..h {
        for x in 0..w {
            let p = img.pixel(x, y);
            for c in 0..3 {
                t[[0, c, y, x]] = p[c];
            }
        }
    }
    t
}

pub fn plane_to_nchw(p: &Plane, f: impl Fn(f32) -> f32) -> Array4<f32> {
    let mut t = Array4::<f32>::zeros((1, 1, p.height, p.width));
    for y in 0..p.height {
        for x in 0..p.width {
            t[[0, 0, y, x]] = f(p.get(x, y));
        }
    }
    t
}

/// A `[1,3,H,W]` tensor's data back to a picture.
pub fn nchw_to_rgb(data: &[f32], w: usize, h: usize) -> RgbImage {
    let mut img = RgbImage::new(w, h);
    let plane = w * h;
    for i in 0..plane {
        for c in 0..3 {
            img.data[i * 3 + c] = data[c * plane + i].clamp(0.0, 1.0);
        }
    }
    img
}
