//! Time the physical renderer on a synthetic 960×540 scene with a 24 px largest radius. Prints
//! the median wall time and the process CPU time per frame (on a shared machine the CPU time is
//! the steadier figure). The criterion bench `benches/lens.rs` is the reference measurement.

use deeplens_core::lens::{physical, LensParams};
use deeplens_core::pipeline::cpu_seconds;
use deeplens_eval::synth::{Rng, Scene};
use std::time::Instant;

fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|v| v.parse().ok()).unwrap_or(9);
    // `ramp`: the synthetic picture over a depth ramp from bottom (near) to top (far), focused
    // in the middle: many slices, each with hidden parts (a harder case than the layered scene).
    let ramp = std::env::args().nth(2).is_some_and(|a| a == "ramp");
    let mut rng = Rng::new(42);
    let scene = Scene::random(&mut rng, 960, 540, 24.0, &[]);
    let (rgb, mut depth) = (scene.input(), scene.depth());
    let mut p = LensParams::new(scene.layers[1].depth.data[0], 24.0);
    if ramp {
        depth = deeplens_core::Plane::from_fn(960, 540, |_, y| y as f32 / 539.0);
        p.focus = 0.5;
    }
    let mut t = Vec::new();
    let cpu0 = cpu_seconds();
    for _ in 0..runs {
        let s = Instant::now();
        std::hint::black_box(physical::render(&rgb, &depth, &p));
        t.push(s.elapsed().as_secs_f64() * 1000.0);
    }
    let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| (b - a) * 1000.0 / runs as f64);
    t.sort_by(f64::total_cmp);
    println!("960x540 r24{}: median {:.1} ms/frame wall, {:.1} ms/frame CPU (all threads), runs {t:.0?}", if ramp { " ramp" } else { "" }, t[t.len() / 2], cpu.unwrap_or(f64::NAN));
}
