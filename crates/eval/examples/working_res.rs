//! What the working resolution costs in quality: layered scenes at an output size (1280×720 by
//! default, 32 px blur = 2.5 % of the width, the defaults' blur at 720p) through the product's own
//! stages (`Stages::process`: working picture, physical lens blur, recurrent guided upsampling)
//! with each `--working-max-width` given, scored against the layered ground truth at the output
//! size (PSNR over the frame / in the band around depth edges), with the time per frame.
//!
//! `cargo run --release -p deeplens-eval --example working_res -- [COUNT] [W] [H] [BLUR] [MAX_WIDTH...]`
//!
//! Seeds 7000+ (no other tool uses them): scenes nothing was tuned on. With `BINS=1` each
//! scene also prints where the error sits, by the true circle of confusion.

use deeplens_core::focus::{BlurAmount, FocusController, FocusSpec, Rotation};
use deeplens_core::lens::{physical::PhysicalRenderer, LensParams};
use deeplens_core::pipeline::{DepthStage, Job, StageTimes, Stages, WorkingPolicy};
use deeplens_core::upsample::PhysicalUpsampler;
use deeplens_eval::lens_eval::{edge_band, score};
use deeplens_eval::synth::{case_focus, sample_seed, Rng, Scene};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: f64| args.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(d);
    let count = arg(1, 8.0) as u64;
    let (w, h) = (arg(2, 1280.0) as usize, arg(3, 720.0) as usize);
    let blur = arg(4, 32.0) as f32;
    let mut widths: Vec<usize> = args.iter().skip(5).filter_map(|v| v.parse().ok()).collect();
    if widths.is_empty() {
        widths = vec![1280, 960, 480];
    }
    let mut sums = vec![[0.0f64; 3]; widths.len()];
    for i in 0..count {
        let mut rng = Rng::new(sample_seed(7000, i));
        let scene = Scene::random(&mut rng, w, h, blur, &[]);
        let focus = case_focus(&scene, i);
        let p = LensParams::new(focus, blur);
        let (input, depth) = (scene.input(), scene.depth());
        let truth = scene.ground_truth(&p);
        let band = edge_band(&depth, &p);
        let mut line = format!("{i:3} f={focus:.2}");
        for (k, &mw) in widths.iter().enumerate() {
            let mut stages = Stages {
                depth: DepthStage {
                    model: None,
                    focus: FocusController::new(FocusSpec::Depth(focus), BlurAmount::Pixels(blur), Rotation(0)),
                    policy: WorkingPolicy { max_width: mw, ..WorkingPolicy::default() },
                    lens_template: LensParams { highlight_boost: 0.0, ..LensParams::new(0.5, 0.0) },
                    display_width: w,
                    stabilizer: None,
                },
                lens: Box::new(PhysicalRenderer::new()),
                upsampler: Box::new(PhysicalUpsampler::default()),
            };
            let mut job = Job::new(i, 0, 0.0, input.clone());
            job.given_depth = Some(depth.clone());
            let t = Instant::now();
            let out = stages.process(job, &mut StageTimes::default()).expect("render");
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let output = out.output.rgb();
            let (a, b) = score(&output, &truth, &band);
            if std::env::var_os("BINS").is_some() {
                let edges = [0.0f32, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 1e9];
                let mut sse = [0.0f64; 7];
                let mut cnt = [0usize; 7];
                for (idx, &dv) in depth.data.iter().enumerate() {
                    let c = p.coc(dv);
                    let bi = edges.windows(2).position(|e| c >= e[0] && c < e[1]).unwrap_or(6);
                    let mut e2 = 0.0f64;
                    for ch in 0..3 {
                        let d = (output.data[idx * 3 + ch] - truth.data[idx * 3 + ch]) as f64;
                        e2 += d * d;
                    }
                    sse[bi] += e2;
                    cnt[bi] += 1;
                }
                let tot: f64 = sse.iter().sum();
                let n = depth.data.len() as f64;
                println!("   w{mw} bins (coc px: share of pixels / share of error): {}", (0..7).map(|b| format!("[{}-{}) {:.0}%/{:.0}%", edges[b], edges[b + 1], 100.0 * cnt[b] as f64 / n, 100.0 * sse[b] / tot)).collect::<Vec<_>>().join(" "));
            }
            sums[k][0] += a;
            sums[k][1] += b;
            sums[k][2] += ms;
            line += &format!("  w{mw} ({}x{}) {a:.2}/{b:.2} {ms:.0} ms", out.work_size.0, out.work_size.1);
        }
        println!("{line}");
    }
    for (k, &mw) in widths.iter().enumerate() {
        let n = count as f64;
        println!("mean --working-max-width {mw}: PSNR {:.2} dB frame / {:.2} dB edge band, {:.0} ms a frame", sums[k][0] / n, sums[k][1] / n, sums[k][2] / n);
    }
}
