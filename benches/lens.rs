//! Lens blur at 960×540 working resolution with a 24 px largest radius.
//!
//! `cargo bench --no-default-features --bench lens`

use criterion::{criterion_group, criterion_main, Criterion};
use deeplens_core::lens::{physical, ApertureShape, LensParams};
use deeplens_eval::synth::{Rng, Scene};

fn lens(c: &mut Criterion) {
    let (w, h) = (960, 540);
    let mut rng = Rng::new(42);
    let scene = Scene::random(&mut rng, w, h, 24.0, &[]);
    let (rgb, depth) = (scene.input(), scene.depth());
    // Focus on the middle object: the background and the front object are both blurred.
    let focus = scene.layers[1].depth.data[0];
    let circle = LensParams::new(focus, 24.0);
    let hexagon = LensParams { aperture: ApertureShape::Blades { blades: 6, rotation_deg: 10.0 }, ..circle };
    let mut g = c.benchmark_group("lens_960x540_r24");
    g.sample_size(10);
    g.bench_function("physical_circle", |b| b.iter(|| physical::render(&rgb, &depth, &circle)));
    g.bench_function("physical_hexagon", |b| b.iter(|| physical::render(&rgb, &depth, &hexagon)));
    g.finish();
}

criterion_group!(benches, lens);
criterion_main!(benches);
