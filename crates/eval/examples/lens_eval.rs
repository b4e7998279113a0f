//! Score the lens-blur renderers against layered ground truth (synthetic scenes).
//!
//! `cargo run --release --no-default-features --example lens_eval -- [COUNT] [SIZE] [MAX_BLUR]`

use deeplens_eval::lens_eval::{edge_band, score};
use deeplens_core::lens::physical;
use deeplens_eval::reference;
use deeplens_eval::synth::eval_case;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: u64 = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(12);
    let size: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(192);
    let max_blur: f32 = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(12.0);
    let names = ["physical", "gather", "scatter"];
    let mut sums = [[0.0f64; 2]; 3];
    let mut times = [0.0f64; 3];
    for i in 0..count {
        let (scene, p) = eval_case(i, size, max_blur);
        let (depth, focus) = (scene.depth(), p.focus);
        let truth = scene.ground_truth(&p);
        let input = scene.input();
        let band = edge_band(&depth, &p);
        let mut line = format!("{i:3} f={focus:.2}");
        for (k, name) in names.iter().enumerate() {
            let t = Instant::now();
            let out = match k {
                0 => physical::render(&input, &depth, &p),
                1 => reference::gather_blur(&input, &depth, &p),
                _ => reference::scatter_blur(&input, &depth, &p),
            };
            times[k] += t.elapsed().as_secs_f64();
            let (a, b) = score(&out, &truth, &band);
            sums[k][0] += a;
            sums[k][1] += b;
            line += &format!("  {name} {a:.2}/{b:.2}");
        }
        println!("{line}");
    }
    for (k, name) in names.iter().enumerate() {
        println!("{name:9} frame {:.2} dB  edge band {:.2} dB  ({:.1} ms/frame)", sums[k][0] / count as f64, sums[k][1] / count as f64, times[k] * 1000.0 / count as f64);
    }
}
