//! Score renderers against the ray-traced thin-lens scenes in tests/data/thinlens.
//!
//! `cargo run --release --no-default-features --example thinlens_eval -- [DIR] [BOOST]`

use deeplens_eval::lens_eval::{edge_band, score, thin_lens_scenes};
use deeplens_core::lens::{physical, LensParams};
use deeplens_eval::reference;
use std::path::PathBuf;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).map_or("tests/data/thinlens", String::as_str));
    let boost: f32 = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    println!("{:10} {:>16} {:>16} {:>16} {:>16} {:>16}   ms(phys) / s(Defocus)", "scene", "physical", "phys+boost", "Defocus node", "scatter", "gather");
    let mut sums = [[0.0f64; 2]; 5];
    let scenes = thin_lens_scenes(&dir)?;
    for s in &scenes {
        let band = edge_band(&s.depth, &s.params);
        let boosted = LensParams { highlight_boost: boost, ..s.params };
        let t = Instant::now();
        let phys = physical::render(&s.input, &s.depth, &s.params);
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let outs = [
            phys,
            physical::render(&s.input, &s.depth, &boosted),
            s.defocus.clone(),
            reference::scatter_blur(&s.input, &s.depth, &s.params),
            reference::gather_blur(&s.input, &s.depth, &s.params),
        ];
        let mut line = format!("{:10}", s.name);
        for (k, o) in outs.iter().enumerate() {
            let (f, b) = score(o, &s.truth, &band);
            sums[k][0] += f;
            sums[k][1] += b;
            line += &format!(" {f:7.2}/{b:7.2} ");
        }
        println!("{line}   {ms:.1} / {:.3}", s.defocus_seconds);
    }
    let n = scenes.len() as f64;
    let mut line = format!("{:10}", "mean");
    for s in sums {
        line += &format!(" {:7.2}/{:7.2} ", s[0] / n, s[1] / n);
    }
    println!("{line}\n(PSNR dB over the frame / in the depth-edge band)");
    Ok(())
}
