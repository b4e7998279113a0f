//! Time the physical renderer on real frames at the working resolution: each argument pair is a
//! picture and its depth (8- or 16-bit grey PNG, larger = nearer), both resized to 640×360,
//! focused at the centre with a 16 px largest radius (convert's defaults on 720p). Prints the
//! median wall time per frame over all pictures, and a checksum of the renders' bits (a change
//! meant to keep them identical must keep it).
//!
//! `cargo run --release -p deeplens-eval --example lens_frames -- RUNS PIC DEPTH [PIC DEPTH ...]`

use deeplens_core::lens::{physical::PhysicalRenderer, LensBlur, LensParams};
use deeplens_core::{Plane, RgbImage};
use std::time::Instant;

fn load(pic: &str, depth: &str) -> (RgbImage, Plane) {
    let p = image::open(pic).expect("picture").to_rgb8();
    let rgb = RgbImage::from_fn(p.width() as usize, p.height() as usize, |x, y| {
        let v = p.get_pixel(x as u32, y as u32).0;
        [v[0] as f32 / 255.0, v[1] as f32 / 255.0, v[2] as f32 / 255.0]
    });
    let d = image::open(depth).expect("depth").to_luma16();
    let dp = Plane::from_fn(d.width() as usize, d.height() as usize, |x, y| d.get_pixel(x as u32, y as u32).0[0] as f32 / 65535.0);
    (rgb.resize(640, 360), dp.resize(640, 360))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs: usize = args[0].parse().expect("runs");
    let frames: Vec<_> = args[1..].chunks(2).map(|c| load(&c[0], &c[1])).collect();
    let mut renderer = PhysicalRenderer::new();
    let mut t = Vec::new();
    // FNV-1a over the rendered values' bits.
    let mut sum = 0xcbf29ce484222325u64;
    for (rgb, depth) in &frames {
        let focus = depth.data[180 * 640 + 320];
        let p = LensParams::new(focus, 16.0);
        for run in 0..runs {
            let s = Instant::now();
            let out = std::hint::black_box(renderer.render(rgb, depth, &p).unwrap());
            t.push(s.elapsed().as_secs_f64() * 1000.0);
            if run == 0 {
                for v in &out.data {
                    sum = (sum ^ v.to_bits() as u64).wrapping_mul(0x100000001b3);
                }
            }
        }
    }
    t.sort_by(f64::total_cmp);
    println!("640x360 r16, {} frames x {runs}: median {:.1} ms/frame, renders' checksum {sum:016x}", frames.len(), t[t.len() / 2]);
}
