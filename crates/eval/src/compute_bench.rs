//! The compute-only benchmark (`examples/compute_bench.rs`): frames through the product's own
//! stages — depth, lens blur, guided upsampling, built by [`RenderOptions::build_stages`] on
//! ONNX Runtime ([`OnnxModels`]) — with no FFmpeg anywhere, so the binary can travel alone to a
//! machine with a GPU (`scripts/gpu-check.sh`).
//!
//! Each (renderer, size) pair is measured twice on the same stages: frame after frame in one
//! thread ([`Stages::process`], which gives each stage's own time), then through the frame
//! engine ([`pipeline::spawn`], the stages overlapping on their threads as in `convert`), which
//! gives the throughput a file conversion would see without its decoder and encoder. The
//! provider reported for each model is the one its session really got, never the one asked for.

use crate::lens_eval::read_rgb;
use crate::synth::{Rng, Scene};
use deeplens_core::config::{find_project_file, RenderOptions, RendererKind};
use deeplens_core::focus::Rotation;
use deeplens_core::pipeline::{self, median, EngineOptions, Job, Schedule, StageTimes, Stages};
use deeplens_core::{Result, RgbImage};
use deeplens_onnx::runtime::{self, Device, LoadedRuntime, Precision, RuntimeOptions};
use deeplens_onnx::OnnxModels;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

/// What to measure.
#[derive(Clone, Debug)]
pub struct Options {
    /// Output sizes, each a separate run.
    pub sizes: Vec<(usize, usize)>,
    pub renderers: Vec<RendererKind>,
    /// Frames measured per run, after `warmup` frames that are not.
    pub frames: usize,
    pub warmup: usize,
    pub runtime: RuntimeOptions,
    /// Pictures to use as frames (resized to each size, taken in turn); a synthetic scene when empty.
    pub inputs: Vec<PathBuf>,
    /// The depth network; `models/depth.onnx` of the checkout when `None`.
    pub depth_model: Option<PathBuf>,
    /// Also run the frames through the frame engine, the stages overlapping.
    pub pipelined: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sizes: vec![(1920, 1080), (3840, 2160)],
            renderers: vec![RendererKind::Physical, RendererKind::Learned],
            frames: 10,
            warmup: 2,
            runtime: RuntimeOptions::default(),
            inputs: Vec::new(),
            depth_model: None,
            pipelined: true,
        }
    }
}

/// What ran the three stages of one run.
#[derive(Clone, Debug)]
pub struct Providers {
    pub depth: String,
    pub lens: String,
    pub upsample: String,
}

/// The measurements of one (renderer, size) pair.
#[derive(Clone, Debug)]
pub struct Measured {
    /// The working size the depth stage chose for the lens blur.
    pub working: (usize, usize),
    /// Milliseconds to build the stages (loading the models, opening their sessions).
    pub load_ms: f64,
    /// Median milliseconds per frame of each stage, frame after frame.
    pub depth_ms: f64,
    pub lens_ms: f64,
    pub upsample_ms: f64,
    /// Median of the per-frame sums of the three stages.
    pub total_ms: f64,
    /// Frames per second through the frame engine, stages overlapping (`None` when not run).
    pub pipelined_fps: Option<f64>,
    pub providers: Providers,
}

impl Measured {
    pub fn sequential_fps(&self) -> f64 {
        1000.0 / self.total_ms
    }
}

#[derive(Clone, Debug)]
pub enum Outcome {
    Ran(Measured),
    /// Not run, and why (models missing).
    Skipped(String),
    /// Failed, with the error.
    Failed(String),
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub renderer: RendererKind,
    pub size: (usize, usize),
    pub outcome: Outcome,
}

/// Everything the benchmark found.
#[derive(Clone, Debug)]
pub struct Report {
    pub device: Device,
    pub precision: Precision,
    pub frames: usize,
    pub warmup: usize,
    /// The frames' source: `synthetic` or the pictures given.
    pub source: String,
    /// The ONNX Runtime library that ran the models (`None` when no model was loaded).
    pub runtime: Option<LoadedRuntime>,
    pub entries: Vec<Entry>,
}

fn device_name(d: Device) -> &'static str {
    match d {
        Device::Auto => "auto",
        Device::Cpu => "cpu",
        Device::Cuda => "cuda",
        Device::TensorRt => "tensorrt",
    }
}

/// What a stage without a network reports as its provider.
pub const RUST_CPU: &str = "Rust on the CPU (no ONNX model)";

/// Run every (renderer, size) pair. A pair that fails is reported and the others still run.
pub fn run(opts: &Options) -> Result<Report> {
    if opts.frames == 0 {
        deeplens_core::fail!(Options, "--frames must be at least 1");
    }
    let pictures = opts.inputs.iter().map(|p| read_rgb(p)).collect::<Result<Vec<_>>>()?;
    let mut entries = Vec::new();
    for &renderer in &opts.renderers {
        for &size in &opts.sizes {
            let outcome = match missing_models(renderer) {
                Some(why) => Outcome::Skipped(why),
                None => {
                    let frames = frames_for(&pictures, size);
                    match measure(opts, renderer, &frames) {
                        Ok(m) => Outcome::Ran(m),
                        Err(e) => Outcome::Failed(format!("{e:#}")),
                    }
                }
            };
            entries.push(Entry { renderer, size, outcome });
        }
    }
    Ok(Report {
        device: opts.runtime.device,
        precision: opts.runtime.precision,
        frames: opts.frames,
        warmup: opts.warmup,
        source: if opts.inputs.is_empty() { "synthetic".into() } else { opts.inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ") },
        runtime: runtime::loaded_runtime(),
        entries,
    })
}

fn missing_models(renderer: RendererKind) -> Option<String> {
    if renderer != RendererKind::Learned {
        return None;
    }
    let missing: Vec<&str> = ["models/lens.onnx", "models/upsample.onnx"].into_iter().filter(|rel| find_project_file(rel).is_none()).collect();
    (!missing.is_empty()).then(|| format!("learned renderer skipped: {} not found above the binary", missing.join(" and ")))
}

/// The frames of one run: the pictures resized to `size`, or one synthetic scene.
fn frames_for(pictures: &[RgbImage], (w, h): (usize, usize)) -> Vec<RgbImage> {
    if pictures.is_empty() {
        let scene = Scene::random(&mut Rng::new(20), w, h, 0.0, &[]);
        return vec![scene.input()];
    }
    pictures.iter().map(|p| if (p.width, p.height) == (w, h) { p.clone() } else { p.resize(w, h) }).collect()
}

fn job(i: usize, frames: &[RgbImage]) -> Job {
    Job::new(i as u64, i as i64, i as f64 / 30.0, frames[i % frames.len()].clone())
}

/// One run; `frames` are already at the output size, whose width the stages are built for.
fn measure(opts: &Options, renderer: RendererKind, frames: &[RgbImage]) -> Result<Measured> {
    let render = RenderOptions { renderer, depth_model: opts.depth_model.clone(), ..Default::default() };
    let models = OnnxModels { runtime: opts.runtime.clone() };
    let t = Instant::now();
    let mut stages = render.build_stages(&models, frames[0].width, Rotation(0), false)?;
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let providers = Providers {
        depth: stages.depth.model.as_ref().and_then(|m| m.provider()).unwrap_or_else(|| RUST_CPU.into()),
        lens: stages.lens.provider().unwrap_or_else(|| RUST_CPU.into()),
        upsample: stages.upsampler.provider().unwrap_or_else(|| RUST_CPU.into()),
    };
    let mut times = StageTimes::default();
    let mut working = (0, 0);
    for i in 0..opts.warmup + opts.frames {
        working = stages.process(job(i, frames), &mut times)?.work_size;
    }
    let kept = |v: &[f64]| v[opts.warmup..].to_vec();
    let (depth, lens, upsample) = (kept(&times.depth), kept(&times.lens), kept(&times.upsample));
    let totals: Vec<f64> = (0..opts.frames).map(|i| depth[i] + lens[i] + upsample[i]).collect();
    let pipelined_fps = if opts.pipelined { Some(pipelined(stages, opts, frames)?) } else { None };
    Ok(Measured { working, load_ms, depth_ms: median(&depth), lens_ms: median(&lens), upsample_ms: median(&upsample), total_ms: median(&totals), pipelined_fps, providers })
}

/// Frames per second through the frame engine, counted from the last warm-up frame out.
fn pipelined(stages: Stages, opts: &Options, frames: &[RgbImage]) -> Result<f64> {
    let n = opts.warmup + opts.frames;
    let (tx, rx) = crossbeam_channel::bounded::<Job>(2);
    let (out, running) = pipeline::spawn(stages, rx, EngineOptions::new(2, Schedule::Bounded, Arc::new(AtomicBool::new(false))));
    let start = Instant::now();
    let mut marks = Vec::with_capacity(n);
    std::thread::scope(|s| {
        s.spawn(move || {
            for i in 0..n {
                if tx.send(job(i, frames)).is_err() {
                    break;
                }
            }
        });
        for _ in out.iter() {
            marks.push(Instant::now());
        }
    });
    running.join(&mut StageTimes::default())?;
    if marks.len() != n {
        deeplens_core::fail!(Model, "the frame engine returned {} of {n} frames", marks.len());
    }
    let from = if opts.warmup == 0 { start } else { marks[opts.warmup - 1] };
    Ok(opts.frames as f64 / marks[n - 1].duration_since(from).as_secs_f64())
}

impl Report {
    /// Whether a run failed.
    pub fn failed(&self) -> bool {
        self.entries.iter().any(|e| matches!(e.outcome, Outcome::Failed(_)))
    }

    pub fn to_json(&self) -> Value {
        let runs: Vec<Value> = self
            .entries
            .iter()
            .map(|e| {
                let mut v = json!({"renderer": e.renderer.name(), "width": e.size.0, "height": e.size.1});
                match &e.outcome {
                    Outcome::Ran(m) => {
                        v["status"] = "ran".into();
                        v["working"] = json!({"width": m.working.0, "height": m.working.1});
                        v["load_ms"] = m.load_ms.into();
                        v["median_ms"] = json!({"depth": m.depth_ms, "lens": m.lens_ms, "upsample": m.upsample_ms, "total": m.total_ms});
                        v["fps_sequential"] = m.sequential_fps().into();
                        v["fps_pipelined"] = m.pipelined_fps.into();
                        v["providers"] = json!({"depth": m.providers.depth, "lens": m.providers.lens, "upsample": m.providers.upsample});
                    }
                    Outcome::Skipped(why) => {
                        v["status"] = "skipped".into();
                        v["note"] = why.as_str().into();
                    }
                    Outcome::Failed(err) => {
                        v["status"] = "failed".into();
                        v["error"] = err.as_str().into();
                    }
                }
                v
            })
            .collect();
        let ort = self.runtime.as_ref().map(|r| json!({"library": r.library.display().to_string(), "version": r.version, "build_info": r.build_info, "cuda_provider_built": r.cuda_built}));
        json!({
            "tool": "compute_bench",
            "device": device_name(self.device),
            "precision": if self.precision == Precision::Fp16 { "fp16" } else { "fp32" },
            "frames": self.frames,
            "warmup": self.warmup,
            "source": self.source,
            "onnxruntime": ort,
            "runs": runs,
        })
    }

    /// The report as lines for a terminal.
    pub fn text(&self) -> String {
        let mut s = format!(
            "compute_bench: {} frames after {} warm-up, --device {}{}, frames: {}\n",
            self.frames,
            self.warmup,
            device_name(self.device),
            if self.precision == Precision::Fp16 { " --fp16" } else { "" },
            self.source
        );
        match &self.runtime {
            Some(r) => {
                s += &format!("ONNX Runtime {} at {} (CUDA provider built in: {})\n", r.version.as_deref().unwrap_or("(version unknown)"), r.library.display(), if r.cuda_built { "yes" } else { "no" });
                s += &format!("  build: {}\n", r.build_info.trim());
            }
            None => s += "ONNX Runtime: not loaded\n",
        }
        s += &format!("{:9} {:>10} {:>9} {:>9} {:>8} {:>9} {:>9} {:>8} {:>10} {:>8}\n", "renderer", "size", "working", "depth ms", "lens ms", "upsamp ms", "total ms", "fps seq", "fps piped", "load ms");
        for e in &self.entries {
            let size = format!("{}x{}", e.size.0, e.size.1);
            let name = e.renderer.name();
            match &e.outcome {
                Outcome::Ran(m) => {
                    let piped = m.pipelined_fps.map_or("-".into(), |f| format!("{f:.2}"));
                    s += &format!(
                        "{name:9} {size:>10} {:>9} {:9.1} {:8.1} {:9.1} {:9.1} {:8.2} {piped:>10} {:8.0}\n",
                        format!("{}x{}", m.working.0, m.working.1),
                        m.depth_ms,
                        m.lens_ms,
                        m.upsample_ms,
                        m.total_ms,
                        m.sequential_fps(),
                        m.load_ms
                    );
                    s += &format!("{:9} {:>10} providers: depth {}, lens {}, upsample {}\n", "", "", m.providers.depth, m.providers.lens, m.providers.upsample);
                }
                Outcome::Skipped(why) => s += &format!("{name:9} {size:>10} skipped: {why}\n"),
                Outcome::Failed(err) => s += &format!("{name:9} {size:>10} FAILED: {err}\n"),
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(renderers: Vec<RendererKind>) -> Options {
        Options { sizes: vec![(64, 48)], renderers, frames: 2, warmup: 1, runtime: RuntimeOptions { device: Device::Cpu, ..Default::default() }, ..Default::default() }
    }

    /// The real depth model on ONNX Runtime's CPU provider (the library found from the test
    /// binary, as the rest of the tests find it), the physical renderer, both measurements.
    #[test]
    fn physical_on_the_cpu_provider() {
        let r = run(&small(vec![RendererKind::Physical])).unwrap();
        assert!(!r.failed(), "{}", r.text());
        let Outcome::Ran(m) = &r.entries[0].outcome else { panic!("{}", r.text()) };
        assert_eq!(m.providers.depth, "CPUExecutionProvider");
        assert_eq!((m.providers.lens.as_str(), m.providers.upsample.as_str()), (RUST_CPU, RUST_CPU));
        assert!(m.depth_ms > 0.0 && m.lens_ms > 0.0 && m.upsample_ms > 0.0 && m.total_ms >= m.depth_ms);
        assert!(m.pipelined_fps.is_some_and(|f| f > 0.0));
        let rt = r.runtime.as_ref().expect("the depth model loaded the runtime");
        assert!(rt.library.is_file());
        let v = r.to_json();
        assert_eq!(v["runs"][0]["status"], "ran");
        assert_eq!(v["runs"][0]["providers"]["depth"], "CPUExecutionProvider");
        assert_eq!(v["device"], "cpu");
        assert!(v["onnxruntime"]["library"].is_string());
        assert!(r.text().contains("CPUExecutionProvider"));
    }

    /// The learned renderer runs its networks on the CPU provider too, or is skipped with a
    /// note where the checkout has no trained models.
    #[test]
    fn learned_on_the_cpu_provider_or_skipped() {
        let r = run(&small(vec![RendererKind::Learned])).unwrap();
        match &r.entries[0].outcome {
            Outcome::Ran(m) => {
                assert_eq!(m.providers.lens, "CPUExecutionProvider");
                assert_eq!(m.providers.upsample, "CPUExecutionProvider");
            }
            Outcome::Skipped(why) => assert!(why.contains("models/"), "{why}"),
            Outcome::Failed(e) => panic!("{e}"),
        }
    }

    /// A device that cannot be had is a failed run in the report, not a lost report.
    #[test]
    fn cuda_without_a_cuda_runtime_fails_in_the_report() {
        let mut o = small(vec![RendererKind::Physical]);
        o.runtime.device = Device::Cuda;
        let r = run(&o).unwrap();
        if runtime::loaded_runtime().is_some_and(|rt| rt.cuda_built) {
            return; // a CUDA-capable runtime here: nothing to check
        }
        assert!(r.failed());
        assert_eq!(r.to_json()["runs"][0]["status"], "failed");
    }

    #[test]
    fn no_frames_is_refused() {
        let mut o = small(vec![RendererKind::Physical]);
        o.frames = 0;
        assert!(run(&o).is_err());
    }
}
