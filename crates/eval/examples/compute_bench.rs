//! Time depth → lens blur → guided upsampling on the chosen device, with no FFmpeg: the binary
//! travels alone to a machine with a GPU (`scripts/gpu-check.sh`). Prints per-stage median
//! ms/frame, frames per second, the ONNX Runtime library and version, and the execution provider
//! that really ran each model; `--json FILE` writes the same. Exits 1 when a run failed.
//!
//! `cargo build --release -p deeplens-eval --example compute_bench`
//! `target/release/examples/compute_bench [--device cpu|cuda|auto] [--ort-lib PATH]
//!  [--renderer physical|learned|both] [--size WxH]... [--frames 10] [--warmup 2]
//!  [--input PICTURE]... [--depth-model FILE] [--threads N] [--no-pipelined] [--json FILE]`

use clap::{Parser, ValueEnum};
use deeplens_core::config::RendererKind;
use deeplens_eval::compute_bench::{self, Options};
use deeplens_onnx::runtime::{Device, Precision, RuntimeOptions};
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
enum DeviceArg {
    Auto,
    Cpu,
    Cuda,
    Tensorrt,
}

#[derive(Clone, Copy, ValueEnum)]
enum RendererArg {
    Physical,
    Learned,
    Both,
}

#[derive(Parser)]
#[command(about = "Time the compute stages (depth, lens blur, upsampling) without FFmpeg")]
struct Args {
    #[arg(long, value_enum, default_value = "auto")]
    device: DeviceArg,
    /// The ONNX Runtime library (else ORT_DYLIB_PATH, then the checkout's .cache/onnxruntime).
    #[arg(long)]
    ort_lib: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "both")]
    renderer: RendererArg,
    /// Output size WxH; repeat for several (default 1920x1080 and 3840x2160).
    #[arg(long = "size", value_parser = parse_size)]
    sizes: Vec<(usize, usize)>,
    /// Frames measured per run.
    #[arg(long, default_value_t = 10)]
    frames: usize,
    /// Frames run first and not measured.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// A picture to use as a frame (resized to each size); repeat for several. Synthetic otherwise.
    #[arg(long = "input")]
    inputs: Vec<PathBuf>,
    /// The depth network (default: the checkout's models/depth.onnx).
    #[arg(long)]
    depth_model: Option<PathBuf>,
    /// ONNX Runtime intra-op threads per session (0: its default).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Load each model's half-precision form (NAME.fp16.onnx), as `--precision fp16`.
    #[arg(long)]
    fp16: bool,
    /// Skip the measurement through the frame engine (stages overlapping).
    #[arg(long)]
    no_pipelined: bool,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn parse_size(s: &str) -> Result<(usize, usize), String> {
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(|| format!("'{s}': expected WxH, e.g. 1920x1080"))?;
    let (w, h) = (w.parse::<usize>().map_err(|e| format!("'{s}': {e}"))?, h.parse::<usize>().map_err(|e| format!("'{s}': {e}"))?);
    if !(16..=16384).contains(&w) || !(16..=16384).contains(&h) {
        return Err(format!("'{s}': width and height must be 16 to 16384"));
    }
    Ok((w, h))
}

fn main() {
    let a = Args::parse();
    let device = match a.device {
        DeviceArg::Auto => Device::Auto,
        DeviceArg::Cpu => Device::Cpu,
        DeviceArg::Cuda => Device::Cuda,
        DeviceArg::Tensorrt => Device::TensorRt,
    };
    let renderers = match a.renderer {
        RendererArg::Physical => vec![RendererKind::Physical],
        RendererArg::Learned => vec![RendererKind::Learned],
        RendererArg::Both => vec![RendererKind::Physical, RendererKind::Learned],
    };
    let mut opts = Options {
        renderers,
        frames: a.frames,
        warmup: a.warmup,
        runtime: RuntimeOptions { library: a.ort_lib, device, threads: a.threads, precision: if a.fp16 { Precision::Fp16 } else { Precision::Fp32 } },
        inputs: a.inputs,
        depth_model: a.depth_model,
        pipelined: !a.no_pipelined,
        ..Default::default()
    };
    if !a.sizes.is_empty() {
        opts.sizes = a.sizes;
    }
    let report = match compute_bench::run(&opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("compute_bench: {e:#}");
            std::process::exit(2);
        }
    };
    print!("{}", report.text());
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&report.to_json()).expect("JSON");
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("compute_bench: cannot write {}: {e}", path.display());
            std::process::exit(2);
        }
    }
    if report.failed() {
        std::process::exit(1);
    }
}
