//! Time the physical renderer on a synthetic 960×540 scene (quick check; the criterion bench
//! `benches/lens.rs` is the reference measurement).

use deeplens::lens::{physical, LensParams};
use deeplens::synth::{Rng, Scene};
use std::time::Instant;

fn main() {
    let mut rng = Rng::new(42);
    let scene = Scene::random(&mut rng, 960, 540, 24.0, &[]);
    let (rgb, depth) = (scene.input(), scene.depth());
    let p = LensParams::new(scene.layers[1].depth.data[0], 24.0);
    let mut t = Vec::new();
    for _ in 0..7 {
        let s = Instant::now();
        std::hint::black_box(physical::render(&rgb, &depth, &p));
        t.push(s.elapsed().as_secs_f64() * 1000.0);
    }
    t.sort_by(f64::total_cmp);
    println!("median {:.1} ms/frame (runs: {t:.1?})", t[t.len() / 2]);
}
