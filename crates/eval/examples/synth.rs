//! Write layered depth-of-field training samples (paper §4.2) to a directory.
//!
//! `cargo run --release --no-default-features --example synth -- --out DIR --count N --seed S
//!  --size 256 --max-blur R [--textures DIR]`
//!
//! Per sample `NNNNN_`: `input.png` (8-bit sRGB all-in-focus), `depth.png` and
//! `depth_corrupt.png` (16-bit grey normalised disparity, 1 = nearest), `target.png` (16-bit RGB
//! layered ground truth) and `NNNNN.json` (`focus`, `max_blur` in pixels, `seed`).
//! Note: PIL (and so skimage/imageio) reads 16-bit RGB PNGs as 8-bit; read targets with a
//! 16-bit-aware decoder (e.g. `cv2.IMREAD_UNCHANGED`, or the `png`/`pypng` packages).

use clap::Parser;
use deeplens_eval::synth::{generate_with, load_textures, sample_seed, Lights};
use deeplens_core::{Plane, RgbImage};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 100)]
    count: u64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Width and height of the square samples.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Largest circle-of-confusion radius in pixels; each sample draws its own in [R/4, R].
    #[arg(long, default_value_t = 16.0)]
    max_blur: f32,
    /// Directory of photographs to use as textures (motorcycle* files are skipped).
    #[arg(long)]
    textures: Option<PathBuf>,
    /// Index of the first sample (to extend a set).
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Add lights brighter than white that clip in the input: `weak` (1.5–8 × white) or
    /// `bright` (2–64 × white, log-uniform); see `synth::Lights`.
    #[arg(long, value_parser = ["none", "weak", "bright"], default_value = "none")]
    lights: String,
}

fn save_rgb8(p: &Path, img: &RgbImage) -> anyhow::Result<()> {
    image::RgbImage::from_raw(img.width as u32, img.height as u32, img.to_rgb8()).unwrap().save(p)?;
    Ok(())
}

fn save_rgb16(p: &Path, img: &RgbImage) -> anyhow::Result<()> {
    image::ImageBuffer::<image::Rgb<u16>, _>::from_raw(img.width as u32, img.height as u32, img.to_rgb16()).unwrap().save(p)?;
    Ok(())
}

fn save_grey16(p: &Path, d: &Plane) -> anyhow::Result<()> {
    let v: Vec<u16> = d.data.iter().map(|&v| (v.clamp(0.0, 1.0) * 65535.0 + 0.5) as u16).collect();
    image::ImageBuffer::<image::Luma<u16>, _>::from_raw(d.width as u32, d.height as u32, v).unwrap().save(p)?;
    Ok(())
}

/// JSON numbers as written (f32 → f64 would add digits like 0.98600000143).
fn round3(v: f32) -> f64 {
    (v as f64 * 1000.0).round() / 1000.0
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    std::fs::create_dir_all(&a.out)?;
    let textures = match &a.textures {
        Some(d) => load_textures(d)?,
        None => Vec::new(),
    };
    let lights = match a.lights.as_str() {
        "weak" => Some(Lights::WEAK),
        "bright" => Some(Lights::BRIGHT),
        _ => None,
    };
    (a.start..a.start + a.count).into_par_iter().try_for_each(|i| -> anyhow::Result<()> {
        let seed = sample_seed(a.seed, i);
        let s = generate_with(seed, a.size, a.size, a.max_blur, &textures, lights);
        let stem = a.out.join(format!("{i:05}"));
        let name = |suffix: &str| PathBuf::from(format!("{}_{suffix}.png", stem.display()));
        save_rgb8(&name("input"), &s.input)?;
        save_grey16(&name("depth"), &s.depth)?;
        save_grey16(&name("depth_corrupt"), &s.depth_corrupt)?;
        save_rgb16(&name("target"), &s.target)?;
        let meta = serde_json::json!({ "focus": round3(s.focus), "max_blur": round3(s.max_blur), "seed": s.seed, "index": i, "size": a.size });
        std::fs::write(format!("{}.json", stem.display()), serde_json::to_string_pretty(&meta)?)?;
        Ok(())
    })?;
    println!("wrote {} samples to {}", a.count, a.out.display());
    Ok(())
}
