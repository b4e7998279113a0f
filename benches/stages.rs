//! The per-frame stages at 720p output: frame resizing, the lens blur at the 640×360 working
//! resolution (the renderer as the pipeline holds it, buffers kept across frames), guided
//! upsampling from 640×360, and a whole frame through `Stages` with a given depth (physical
//! renderer), all without FFmpeg or ONNX Runtime. The renderer at 960×540 is benches/lens.rs.
//!
//! `cargo bench --no-default-features --bench stages`

use criterion::{criterion_group, criterion_main, Criterion};
use deeplens_core::focus::{BlurAmount, FocusController, FocusSpec, Rotation};
use deeplens_core::lens::{physical::PhysicalRenderer, LensBlur, LensParams};
use deeplens_core::pipeline::{DepthStage, Job, StageTimes, Stages, WorkingPolicy};
use deeplens_eval::synth::{Rng, Scene};
use deeplens_core::upsample::{upsample_to_output, PhysicalUpsampler};

fn stages(c: &mut Criterion) {
    let (w, h) = (1280, 720);
    let mut rng = Rng::new(7);
    let scene = Scene::random(&mut rng, w, h, 32.0, &[]);
    let (full, depth) = (scene.input(), scene.depth());
    let focus = scene.layers[1].depth.data[0];
    let work = full.resize(640, 360);
    let work_depth = depth.resize(640, 360);
    let render = deeplens_core::lens::physical::render(&work, &work_depth, &LensParams::new(focus, 16.0));
    let mut g = c.benchmark_group("stages_720p");
    g.sample_size(10);
    g.bench_function("resize_1280x720_to_640x360", |b| b.iter(|| full.resize(640, 360)));
    let mut renderer = PhysicalRenderer::new();
    let p = LensParams::new(focus, 16.0);
    g.bench_function("lens_physical_640x360_r16", |b| b.iter(|| renderer.render(&work, &work_depth, &p).unwrap()));
    g.bench_function("upsample_640x360_to_1280x720", |b| {
        b.iter(|| upsample_to_output(&mut PhysicalUpsampler::default(), &full, &work, &render, &work_depth, &LensParams::new(focus, 32.0)).unwrap())
    });
    g.bench_function("whole_frame_given_depth", |b| {
        b.iter(|| {
            let mut stages = Stages {
                depth: DepthStage {
                    model: None,
                    focus: FocusController::new(FocusSpec::Depth(focus), BlurAmount::Pixels(32.0), Rotation(0)),
                    policy: WorkingPolicy::default(),
                    lens_template: LensParams::new(0.5, 0.0),
                    display_width: w,
                    stabilizer: None,
                },
                lens: Box::new(PhysicalRenderer::new()),
                upsampler: Box::new(PhysicalUpsampler::default()),
            };
            let mut job = Job::new(0, 0, 0.0, full.clone());
            job.given_depth = Some(depth.clone());
            stages.process(job, &mut StageTimes::default()).unwrap().output
        })
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
