//! Per-frame cost of the focus stages at a typical working resolution (512×288 depth).
//! Run: `cargo bench --no-default-features --bench focus`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use deeplens_core::focus::{Autofocus, BlurAmount, DepthStabilizer, FocusController, FocusSpec, Rotation, Track};
use deeplens_eval::SyntheticClip;

fn clip() -> SyntheticClip {
    SyntheticClip { width: 512, height: 288, ..SyntheticClip::default() }
}

fn stages(c: &mut Criterion) {
    let clip = clip();
    let frames: Vec<_> = (0..8).map(|i| clip.frame(i).depth).collect();

    c.bench_function("stabilize 512x288", |b| {
        let mut s = DepthStabilizer::new();
        let mut i = 0;
        b.iter(|| {
            let mut d = frames[i % frames.len()].clone();
            s.apply(&mut d);
            i += 1;
            black_box(d);
        })
    });

    c.bench_function("autofocus read 512x288", |b| {
        let mut af = Autofocus::new();
        let mut i = 0;
        b.iter(|| {
            let v = af.read(i as f64 / 30.0, &frames[i % frames.len()]);
            i += 1;
            black_box(v)
        })
    });

    let track = Track::from_json(include_str!("../samples/focus-pull.json")).unwrap();
    c.bench_function("track focus-pull.json, 150 frames 512x288", |b| {
        b.iter(|| {
            // A whole pass over the track's 5 s, so every kind of segment is timed.
            let mut fc = FocusController::new(FocusSpec::Track(track.clone()), BlurAmount::DEFAULT, Rotation(0));
            for i in 0..150u64 {
                black_box(fc.next(i, i as f64 / 30.0, &frames[i as usize % frames.len()]));
            }
            fc.history().len()
        })
    });
}

criterion_group!(benches, stages);
criterion_main!(benches);
