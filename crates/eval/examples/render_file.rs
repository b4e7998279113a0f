//! Render one picture from files with a chosen lens-blur renderer: the whole process (start-up,
//! decoding, rendering, encoding) is what the thin-lens timing compares with Blender's Defocus node.
//!
//! `render_file IN OUT --depth D.png --focus F --max-blur R [--renderer physical|gather|scatter]
//!  [--blades N --rotation DEG] [--cat-eye X] [--highlight-boost X] [--sixteen]`

use clap::Parser;
use deeplens_eval::lens_eval::{read_grey, read_rgb, write_rgb};
use deeplens_core::lens::{physical, ApertureShape, LensParams};
use deeplens_eval::reference;
use std::path::PathBuf;

#[derive(Parser)]
struct Args {
    input: PathBuf,
    output: PathBuf,
    /// Normalised disparity (1 = nearest), 8 or 16-bit grey.
    #[arg(long)]
    depth: PathBuf,
    #[arg(long)]
    focus: f32,
    /// Circle-of-confusion radius in output pixels where |D − focus| = 1.
    #[arg(long)]
    max_blur: f32,
    #[arg(long, default_value = "physical")]
    renderer: String,
    #[arg(long)]
    blades: Option<u32>,
    #[arg(long, default_value_t = 0.0)]
    rotation: f32,
    #[arg(long, default_value_t = 0.0)]
    cat_eye: f32,
    #[arg(long, default_value_t = 0.0)]
    highlight_boost: f32,
    /// Write a 16-bit PNG.
    #[arg(long)]
    sixteen: bool,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let rgb = read_rgb(&a.input)?;
    let mut depth = read_grey(&a.depth)?;
    if (depth.width, depth.height) != (rgb.width, rgb.height) {
        depth = depth.resize(rgb.width, rgb.height);
    }
    let mut p = LensParams::new(a.focus, a.max_blur);
    p.cat_eye = a.cat_eye;
    p.highlight_boost = a.highlight_boost;
    if let Some(blades) = a.blades {
        p.aperture = ApertureShape::Blades { blades, rotation_deg: a.rotation };
    }
    let out = match a.renderer.as_str() {
        "physical" => physical::render(&rgb, &depth, &p),
        "gather" => reference::gather_blur(&rgb, &depth, &p),
        "scatter" => reference::scatter_blur(&rgb, &depth, &p),
        other => anyhow::bail!("unknown renderer {other}"),
    };
    Ok(write_rgb(&a.output, &out, a.sixteen)?)
}
