//! The `deeplens` command line: parse, validate, call the library, map errors to exit codes.

/// `println!` that does not panic when stdout is closed (`deeplens bench | head -1`): what no
/// one reads is dropped.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

mod batch;
mod convert;
mod exports;
mod farm;
mod live;
mod outfile;
mod report;
mod sheet;
mod still;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use deeplens_core::config::{Preset, RenderFlags, RenderOptions, RendererKind};
use deeplens_core::focus::{parse_focus, BlurAmount, FocusSpec, RelPoint};
use deeplens_core::lens::ApertureShape;
use deeplens_core::pipeline::{median, peak_rss_mib};
use deeplens_core::{config, depth, focus, frame, lens, pipeline, upsample};
use deeplens_onnx::{runtime, OnnxModels};
use deeplens_video as video;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "deeplens", version, about = "Shallow depth of field for any video, after the fact", propagate_version = true)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert a recorded video (any input FFmpeg reads) into a shallow depth-of-field video.
    Convert(ConvertArgs),
    /// Render one still picture.
    Image(ImageArgs),
    /// Measure per-stage time, end-to-end fps, peak memory, depth flicker and focus lag.
    Bench(BenchArgs),
    /// Live preview of a webcam (or any FFmpeg input at its own pace), newest frame first.
    Preview(PreviewArgs),
    /// Focus tracks: draw one.
    #[command(subcommand)]
    Track(TrackCommand),
    /// Plan a conversion in N segments for a farm: analyse the clip once (depth, focus) and write
    /// DIR/plan.json (DIR defaults to OUTPUT.parts/).
    Plan(PlanArgs),
    /// Render segment K of a plan to its file in the plan's folder (atomic; safe to retry).
    RenderSegment(RenderSegmentArgs),
    /// Check a plan's segments, concatenate them without re-encoding, mux the input's audio, write OUTPUT.
    Join(JoinArgs),
    /// Write (and submit) job files of a render-farm engine for a plan.
    #[command(subcommand)]
    Farm(FarmCommand),
    /// A contact sheet: N frames spread over the clip as input | depth | result, and the focus track.
    Sheet(SheetArgs),
}

#[derive(Args)]
struct SheetArgs {
    /// The clip.
    input: String,
    /// The sheet (PNG).
    output: PathBuf,
    /// Frames shown, spread evenly over the clip.
    #[arg(long, value_name = "N", default_value_t = 8)]
    frames: usize,
    #[command(flatten)]
    source: InputFlags,
    /// Replace OUTPUT if it exists.
    #[arg(short = 'y', long)]
    overwrite: bool,
    #[command(flatten)]
    render: RenderArgs,
}

/// How to open an input, as ffmpeg's `-f` and input options.
#[derive(Args, Clone)]
struct InputFlags {
    /// Input format, as ffmpeg's -f (lavfi, v4l2, …).
    #[arg(short = 'f', long = "format", value_name = "FMT")]
    format: Option<String>,
    /// An input option, as ffmpeg's (repeatable): KEY=VALUE.
    #[arg(long = "input-option", value_name = "KEY=VALUE", value_parser = crate::video::parse_key_value)]
    input_options: Vec<(String, String)>,
    /// Give up on a network input that sends nothing for this long (seconds; FFmpeg's rw_timeout).
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, value_parser = parse_io_timeout)]
    io_timeout: f64,
    /// Decode the video on a hardware device, as ffmpeg's -hwaccel: `cuda` (NVIDIA NVDEC), `vaapi`, … (one clear error where this FFmpeg or machine has none).
    #[arg(long, value_name = "NAME")]
    hwaccel: Option<String>,
}

fn parse_io_timeout(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.1..=86400.0).contains(&v) => Ok(v),
        _ => Err(format!("invalid timeout '{s}': seconds between 0.1 and 86400")),
    }
}

impl InputFlags {
    fn spec(&self, url: String) -> crate::video::InputSpec {
        let mut options = self.input_options.clone();
        // Network inputs (URLs with a protocol) must not hang for ever on a silent peer.
        let network = url.split_once("://").is_some_and(|(p, _)| p != "file");
        if network && !options.iter().any(|(k, _)| k == "rw_timeout" || k == "timeout") {
            options.push(("rw_timeout".into(), format!("{}", (self.io_timeout * 1e6).round() as u64)));
        }
        crate::video::InputSpec { url, format: self.format.clone(), options, hwaccel: self.hwaccel.clone() }
    }
}

#[derive(Args)]
struct PlanArgs {
    /// Number of segments.
    #[arg(long, value_name = "N")]
    segments: usize,
    /// Folder for the plan, the analysis and the segments (default OUTPUT.parts/).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    #[command(flatten)]
    convert: ConvertArgs,
}

#[derive(Args)]
struct RenderSegmentArgs {
    /// The plan.json written by `deeplens plan`.
    plan: PathBuf,
    /// The segment, from 0.
    index: usize,
    #[command(flatten)]
    node: NodeArgs,
    /// The ONNX Runtime shared library (else ORT_DYLIB_PATH, .cache/onnxruntime, beside the binary).
    #[arg(long, value_name = "FILE")]
    ort_lib: Option<PathBuf>,
    /// Write what ran as JSON (schemas/report.schema.json).
    #[arg(long, value_name = "FILE.json")]
    report: Option<PathBuf>,
}

/// What a farm node renders a segment with: not in the plan (nodes differ); `render-segment`
/// takes them, and `farm` writes them into the job files' `render-segment` command.
#[derive(Args, Clone)]
struct NodeArgs {
    /// Where models run on the node.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    device: DeviceArg,
    /// The models' arithmetic on the node (fp16: each model's NAME.fp16.onnx).
    #[arg(long, value_enum, default_value_t = PrecisionArg::Fp32)]
    precision: PrecisionArg,
    /// Decode the segment on the node's hardware device, as `convert --hwaccel` (`cuda`, `vaapi`, …).
    #[arg(long, value_name = "NAME")]
    hwaccel: Option<String>,
}

/// What each segment task of a farm job runs with: its `render-segment` flags and its GPUs.
#[derive(Args, Clone)]
struct FarmNodeArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// GPUs each segment task asks the scheduler for (Slurm --gpus-per-task, the pod's
    /// nvidia.com/gpu limit, OpenJD's amount.worker.gpu).
    #[arg(long, value_name = "N")]
    gpus: Option<u32>,
}

impl FarmNodeArgs {
    fn node(&self) -> anyhow::Result<crate::farm::engines::Node> {
        Ok(crate::farm::engines::Node { flags: self.node.flags()?, gpus: self.gpus })
    }
}

impl NodeArgs {
    /// The `render-segment` flags that say this (defaults left out); the hardware decoding
    /// method checked against this FFmpeg first.
    fn flags(&self) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        let mut flag = |name: &str, v: Option<clap::builder::PossibleValue>| {
            if let Some(v) = v {
                out.extend([format!("--{name}"), v.get_name().to_string()]);
            }
        };
        flag("device", (self.device != DeviceArg::Auto).then(|| self.device.to_possible_value()).flatten());
        flag("precision", (self.precision != PrecisionArg::Fp32).then(|| self.precision.to_possible_value()).flatten());
        if let Some(h) = &self.hwaccel {
            crate::video::check_hwaccel(h)?;
            out.extend(["--hwaccel".to_string(), h.clone()]);
        }
        Ok(out)
    }
}

#[derive(Args)]
struct JoinArgs {
    /// The plan.json written by `deeplens plan`.
    plan: PathBuf,
    /// Replace OUTPUT if it exists.
    #[arg(short = 'y', long)]
    overwrite: bool,
    /// Write the focus and blur each frame really used, over the whole output (as convert's).
    #[arg(long, value_name = "FILE")]
    write_focus_track: Option<PathBuf>,
}

#[derive(Subcommand)]
enum FarmCommand {
    /// Slurm: an array job of one task per segment and a join job with --dependency=afterok.
    Slurm {
        /// The plan.json written by `deeplens plan`.
        plan: PathBuf,
        /// Submit with sbatch and print the job ids.
        #[arg(long)]
        submit: bool,
        #[arg(long, value_name = "P")]
        partition: Option<String>,
        /// Time limit of each task (sbatch --time).
        #[arg(long, value_name = "T")]
        time: Option<String>,
        #[arg(long, value_name = "C")]
        cpus_per_task: Option<u32>,
        #[command(flatten)]
        node: FarmNodeArgs,
    },
    /// Kubernetes: an Indexed Job over the segments (JOB_COMPLETION_INDEX) and a join Job.
    K8s {
        /// The plan.json written by `deeplens plan`.
        plan: PathBuf,
        /// The container image with deeplens.
        #[arg(long)]
        image: String,
        /// The PersistentVolumeClaim that holds the plan's folder (shared storage).
        #[arg(long, value_name = "CLAIM")]
        volume: String,
        /// Where the claim is mounted in the pods.
        #[arg(long, default_value = "/work")]
        mount: String,
        /// The plan's path inside the pods (default: the mount + PLAN as given, relative to here).
        #[arg(long, value_name = "PATH")]
        plan_in_pod: Option<String>,
        #[command(flatten)]
        node: FarmNodeArgs,
    },
    /// Open Job Description: a job template with a step over the segments and a join step.
    Openjd {
        /// The plan.json written by `deeplens plan`.
        plan: PathBuf,
        #[command(flatten)]
        node: FarmNodeArgs,
    },
}

#[derive(Subcommand)]
enum TrackCommand {
    /// Draw focus and blur over time as an SVG picture.
    Plot {
        /// A focus track, or a track written by --write-focus-track.
        track: PathBuf,
        /// The SVG to write.
        output: PathBuf,
        /// Seconds to draw (default: one second past the last key).
        #[arg(long, value_parser = crate::focus::parse_timestamp)]
        duration: Option<f64>,
        /// Frame rate at which the track is played.
        #[arg(long, default_value_t = 30.0)]
        fps: f64,
        /// Displayed width in pixels, for blurs given in % of the width.
        #[arg(long, default_value_t = 1920)]
        width: usize,
        /// Replace OUTPUT if it exists.
        #[arg(short = 'y', long)]
        overwrite: bool,
    },
}

/// Which lens blur and upsampling to use (the command-line face of [`RendererKind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum RendererArg {
    /// The occlusion-aware renderer in linear light, with CoC-weighted guided upsampling.
    Physical,
    /// The paper's learned lens blur and guided upsampling networks (models/lens.onnx, models/upsample.onnx).
    Learned,
}

impl From<RendererArg> for RendererKind {
    fn from(a: RendererArg) -> Self {
        match a {
            RendererArg::Physical => RendererKind::Physical,
            RendererArg::Learned => RendererKind::Learned,
        }
    }
}

/// The models' arithmetic (the command-line face of [`runtime::Precision`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum PrecisionArg {
    Fp32,
    Fp16,
}

impl From<PrecisionArg> for runtime::Precision {
    fn from(a: PrecisionArg) -> Self {
        match a {
            PrecisionArg::Fp32 => runtime::Precision::Fp32,
            PrecisionArg::Fp16 => runtime::Precision::Fp16,
        }
    }
}

/// Where models run (the command-line face of [`runtime::Device`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DeviceArg {
    /// CUDA when available, else CPU.
    Auto,
    Cpu,
    Cuda,
    /// TensorRT, with CUDA for what it does not take.
    Tensorrt,
}

impl From<DeviceArg> for runtime::Device {
    fn from(a: DeviceArg) -> Self {
        match a {
            DeviceArg::Auto => runtime::Device::Auto,
            DeviceArg::Cpu => runtime::Device::Cpu,
            DeviceArg::Cuda => runtime::Device::Cuda,
            DeviceArg::Tensorrt => runtime::Device::TensorRt,
        }
    }
}

#[derive(Args, Clone)]
struct RenderArgs {
    /// Focal depth d_f as normalised disparity in [0,1] (1 = nearest).
    #[arg(long, value_parser = parse_focus, conflicts_with_all = ["focus_at", "autofocus", "focus_track"])]
    focus: Option<f32>,
    /// Focus on what is at this point: X,Y relative to the displayed picture, in [0,1].
    #[arg(long, value_name = "X,Y", conflicts_with_all = ["autofocus", "focus_track"])]
    focus_at: Option<RelPoint>,
    /// Pick the subject without being told (the model's foreground regions weighted by depth and
    /// centre; without a foreground head the centre-weighted nearest large region) and follow it.
    #[arg(long, conflicts_with = "focus_track")]
    autofocus: bool,
    /// A JSON focus track of keyframes (see schemas/focus-track.schema.json).
    #[arg(long, value_name = "FILE")]
    focus_track: Option<PathBuf>,
    /// Blur radius where |D − d_f| = 1: output pixels (24, 24px) or a share of the width (2.5%).
    #[arg(long, value_name = "AMOUNT")]
    max_blur: Option<BlurAmount>,
    /// Lens blur and upsampling: physical or learned.
    #[arg(long, value_enum)]
    renderer: Option<RendererArg>,
    /// A depth network in ONNX form (ours, Depth Anything V2, MiDaS …).
    #[arg(long, value_name = "FILE")]
    depth_model: Option<PathBuf>,
    /// The depth model's card (TOML): input size, colour order, value range, mean/std, layout,
    /// output kind. Else MODEL.onnx.toml beside the model, its metadata, --depth-model-kind, or
    /// detection from its input shape.
    #[arg(long, value_name = "FILE", conflicts_with = "depth_model_kind")]
    depth_model_card: Option<PathBuf>,
    /// A built-in depth model card: deeplens, depth-anything-v2, video-depth-anything,
    /// midas-small, tcmonodepth.
    #[arg(long, value_name = "NAME")]
    depth_model_kind: Option<String>,
    /// Use this depth instead of the model: a grey picture (image) or grey video (convert),
    /// normalised disparity, 1 = nearest.
    #[arg(long, value_name = "FILE")]
    depth: Option<PathBuf>,
    /// A named preset from pipelines/*.toml (flags given explicitly override it).
    #[arg(long, value_name = "NAME")]
    pipeline: Option<String>,
    /// Where models run.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    device: DeviceArg,
    /// The models' arithmetic: fp16 loads each model's NAME.fp16.onnx (for GPUs; on a CPU it is slower).
    #[arg(long, value_enum, default_value_t = PrecisionArg::Fp32)]
    precision: PrecisionArg,
    /// The ONNX Runtime shared library (else ORT_DYLIB_PATH, .cache/onnxruntime, beside the binary).
    #[arg(long, value_name = "FILE")]
    ort_lib: Option<PathBuf>,
    /// Aperture blades (polygonal bokeh); 0 = circular.
    #[arg(long, value_name = "N")]
    aperture_blades: Option<u32>,
    /// Rotation of the aperture polygon in degrees.
    #[arg(long, value_name = "DEG")]
    aperture_rotation: Option<f32>,
    /// Cat-eye bokeh toward the corners, 0 to 1.
    #[arg(long, value_name = "AMOUNT")]
    cat_eye: Option<f32>,
    /// Extra gain for clipped highlights (0 = off, 1 doubles them); default 1 for 8-bit sources, 0 for deeper ones.
    #[arg(long, value_name = "GAIN")]
    highlight_boost: Option<f32>,
    /// Widest working resolution of the lens blur.
    #[arg(long, value_name = "PIXELS")]
    working_max_width: Option<usize>,
    /// Response time of the focus motor in seconds (focus read from the picture).
    #[arg(long, value_name = "SECONDS")]
    focus_smoothing: Option<f32>,
    /// Keep per-frame depth normalisation (no temporal stabilisation).
    #[arg(long)]
    no_stabilize: bool,
}

#[derive(Args)]
struct ConvertArgs {
    /// Input file or URL (`-` for stdin), or a folder of videos (batch).
    input: String,
    /// Output file; the container follows the extension. `-` writes to stdout (needs --output-format).
    /// For a folder input, the output folder.
    output: PathBuf,
    /// Batch: the output file name for each input: {stem}, {ext}, {name} of the input.
    #[arg(long, value_name = "PATTERN")]
    output_pattern: Option<String>,
    /// Batch: also convert the videos in subfolders (the folder structure is kept).
    #[arg(short = 'r', long)]
    recursive: bool,
    #[command(flatten)]
    source: InputFlags,
    /// Replace OUTPUT if it exists.
    #[arg(short = 'y', long)]
    overwrite: bool,
    /// Container for stdout output (nut, y4m, matroska, …).
    #[arg(long, value_name = "FMT")]
    output_format: Option<String>,
    /// Video encoder of the local FFmpeg (default libx264, or the container's own when it cannot hold H.264).
    #[arg(long)]
    codec: Option<String>,
    /// Constant rate factor (quality) for x264/x265-like encoders.
    #[arg(long)]
    crf: Option<f32>,
    /// Encoder preset.
    #[arg(long)]
    preset: Option<String>,
    /// Output pixel format (yuv420p, yuv420p10le, …).
    #[arg(long)]
    pix_fmt: Option<String>,
    /// An encoder option (repeatable): KEY=VALUE.
    #[arg(long = "encoder-option", value_name = "KEY=VALUE", value_parser = crate::video::parse_key_value)]
    encoder_options: Vec<(String, String)>,
    /// Audio encoder for audio the output container cannot hold as it is (else copied untouched).
    #[arg(long, value_name = "ENCODER")]
    audio_codec: Option<String>,
    /// Write the focus really used, one entry per frame (JSON; `--focus-track` reads it back).
    #[arg(long, value_name = "FILE")]
    write_focus_track: Option<PathBuf>,
    /// Start at this time (seconds or HH:MM:SS.mmm).
    #[arg(long, value_parser = crate::focus::parse_timestamp)]
    start: Option<f64>,
    /// Convert this long (seconds or HH:MM:SS.mmm).
    #[arg(long, value_parser = crate::focus::parse_timestamp)]
    duration: Option<f64>,
    /// Also write the stabilised depth the renderer used, one frame per output frame: a 16-bit grey
    /// video (.mkv, FFV1), or an image sequence with a printf pattern (depth_%05d.png 16-bit,
    /// depth_%05d.exr float, channel depth.Z). Larger = nearer.
    #[arg(long, value_name = "FILE")]
    write_depth: Option<PathBuf>,
    /// Larger = farther in --write-depth (for tools that want distance).
    #[arg(long, requires = "write_depth")]
    depth_export_invert: bool,
    /// Also write the in-focus matte (1 where the blur radius is under half a pixel, 0 from two
    /// pixels), as --write-depth (EXR channel A).
    #[arg(long, value_name = "FILE")]
    write_matte: Option<PathBuf>,
    /// Machine-readable progress, as ffmpeg's -progress: key=value blocks (frame, fps, out_time,
    /// speed, progress=continue|end) at most twice a second, to FILE or pipe:1 (stdout).
    #[arg(long, value_name = "FILE|pipe:1")]
    progress: Option<String>,
    /// Write what ran as JSON (schemas/report.schema.json): version, input, output, every option and
    /// its source, model files with sha256 and provider, per-stage medians, warnings.
    #[arg(long, value_name = "FILE.json")]
    report: Option<PathBuf>,
    #[command(flatten)]
    render: RenderArgs,
}

#[derive(Args)]
struct ImageArgs {
    input: PathBuf,
    output: PathBuf,
    /// Replace OUTPUT if it exists.
    #[arg(short = 'y', long)]
    overwrite: bool,
    /// Also write the depth used, as a 16-bit grey PNG.
    #[arg(long, value_name = "FILE")]
    save_depth: Option<PathBuf>,
    /// Write what ran as JSON (schemas/report.schema.json).
    #[arg(long, value_name = "FILE.json")]
    report: Option<PathBuf>,
    #[command(flatten)]
    render: RenderArgs,
}

#[derive(Args)]
struct BenchArgs {
    /// The clip to measure (default: the shipped sample).
    input: Option<String>,
    /// Input format, as ffmpeg's -f.
    #[arg(short = 'f', long = "format", value_name = "FMT")]
    format: Option<String>,
    /// Measure only this long (seconds).
    #[arg(long, value_parser = crate::focus::parse_timestamp)]
    duration: Option<f64>,
    /// Instead: time a plain `ffmpeg` transcode (libx264, crf 18, preset medium, audio copied:
    /// convert's default encoder settings) and `deeplens convert` of the same input, in turn,
    /// and print the medians and their ratio.
    #[arg(long)]
    vs_transcode: bool,
    /// Runs of each command for --vs-transcode.
    #[arg(long, default_value_t = 3, value_name = "N", requires = "vs_transcode")]
    runs: usize,
    #[command(flatten)]
    render: RenderArgs,
}

#[derive(Args)]
struct PreviewArgs {
    /// A V4L2 webcam (default /dev/video0), a file, or an FFmpeg input such as a lavfi graph.
    source: Option<String>,
    /// Input format, as ffmpeg's -f (v4l2 is implied for /dev/video*; lavfi, …).
    #[arg(short = 'f', long = "format", value_name = "FMT")]
    format: Option<String>,
    /// An input option, as ffmpeg's (repeatable): video_size=1280x720, framerate=30, input_format=mjpeg …
    #[arg(long = "input-option", value_name = "KEY=VALUE", value_parser = crate::video::parse_key_value)]
    input_options: Vec<(String, String)>,
    /// End after this long (seconds or HH:MM:SS.mmm).
    #[arg(long, value_parser = crate::focus::parse_timestamp)]
    duration: Option<f64>,
    /// No window.
    #[arg(long)]
    headless: bool,
    /// Also write the live result: a file (container from the extension), or `-` for y4m on stdout.
    #[arg(long, value_name = "FILE|-")]
    output: Option<PathBuf>,
    /// Container of --output (default: yuv4mpegpipe for stdout).
    #[arg(long, value_name = "FMT")]
    output_format: Option<String>,
    /// Video encoder of --output (default: rawvideo for y4m/nut, else libx264 ultrafast).
    #[arg(long)]
    codec: Option<String>,
    /// Replace --output if it exists.
    #[arg(short = 'y', long)]
    overwrite: bool,
    /// Write a JSON summary here at the end (frames, drops, latency, fps, working resolutions).
    #[arg(long, value_name = "FILE")]
    stats: Option<PathBuf>,
    /// Also write the depth of each shown frame, as convert's --write-depth.
    #[arg(long, value_name = "FILE", requires = "headless")]
    write_depth: Option<PathBuf>,
    /// Larger = farther in --write-depth.
    #[arg(long, requires = "write_depth")]
    depth_export_invert: bool,
    /// Also write the in-focus matte of each shown frame, as convert's --write-matte.
    #[arg(long, value_name = "FILE", requires = "headless")]
    write_matte: Option<PathBuf>,
    /// Write what ran as JSON at the end (schemas/report.schema.json).
    #[arg(long, value_name = "FILE.json")]
    report: Option<PathBuf>,
    /// Keep the working resolution fixed instead of following the load.
    #[arg(long)]
    no_adapt: bool,
    /// End when the source delivers nothing for this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0, value_parser = parse_io_timeout)]
    stall_timeout: f64,
    /// Test hook: make the lens blur sleep this many ms per frame at full size (scaled by the
    /// working area).
    #[arg(long, value_name = "MS", hide = true)]
    debug_stage_delay_ms: Option<f64>,
    /// Test hook: apply --debug-stage-delay-ms only for this many seconds from the start.
    #[arg(long, value_name = "SECONDS", hide = true, requires = "debug_stage_delay_ms")]
    debug_stage_delay_for: Option<f64>,
    #[command(flatten)]
    render: RenderArgs,
}

impl ConvertArgs {
    fn input_spec(&self) -> crate::video::InputSpec {
        self.source.spec(self.input.clone())
    }

    fn cut(&self) -> crate::video::Cut {
        crate::video::Cut { start: self.start, duration: self.duration }
    }

    /// The encoder settings: flags, else the preset's, else the encoder's defaults.
    fn encode_spec(&self, preset: &Preset) -> crate::video::OutputSpec {
        crate::video::OutputSpec {
            path: PathBuf::new(),
            format: self.output_format.clone(),
            codec: self.codec.clone().or(preset.codec.clone()),
            crf: self.crf.or(preset.crf),
            preset: self.preset.clone().or(preset.preset.clone()),
            pix_fmt: self.pix_fmt.clone().or(preset.pix_fmt.clone()),
            encoder_options: self.encoder_options.clone(),
            audio_codec: self.audio_codec.clone(),
            display: None,
        }
    }
}

impl RenderArgs {
    /// Every resolved option with its source (flag, preset or default), for `--report`.
    fn sources(&self, preset: &Preset, o: &RenderOptions, convert: Option<(&ConvertArgs, &crate::video::OutputSpec)>) -> serde_json::Value {
        use crate::report::opt;
        let (blades, rotation) = match o.aperture {
            ApertureShape::Circle => (0, 0.0),
            ApertureShape::Blades { blades, rotation_deg } => (blades, rotation_deg),
        };
        let focus = match &o.focus {
            FocusSpec::Depth(d) => serde_json::json!({"focus": d}),
            FocusSpec::Point(p) => serde_json::json!({"focus_at": [p.x, p.y]}),
            FocusSpec::Autofocus => serde_json::json!("autofocus"),
            FocusSpec::Track(t) => serde_json::json!({"track": self.focus_track.as_ref().map(|p| crate::report::abs(p)), "keys": t.keys.len()}),
        };
        let focus_given = self.focus.is_some() || self.focus_at.is_some() || self.autofocus || self.focus_track.is_some();
        let mut m = serde_json::json!({
            "renderer": opt(o.renderer.name(), self.renderer.is_some(), preset.renderer.is_some()),
            "depth_model": opt(o.depth_model.clone().or_else(config::default_depth_model).map(|p| crate::report::abs(&p)), self.depth_model.is_some(), preset.depth_model.is_some()),
            "depth_model_kind": opt(&self.depth_model_kind, self.depth_model_kind.is_some(), false),
            "depth_model_card": opt(self.depth_model_card.as_ref().map(|p| crate::report::abs(p)), self.depth_model_card.is_some(), false),
            "depth": opt(self.depth.as_ref().map(|p| crate::report::abs(p)), self.depth.is_some(), false),
            "focus": opt(focus, focus_given, false),
            "max_blur": opt(o.blur.to_string(), self.max_blur.is_some(), preset.max_blur.is_some()),
            "aperture_blades": opt(blades, self.aperture_blades.is_some(), preset.aperture_blades.is_some()),
            "aperture_rotation": opt(rotation, self.aperture_rotation.is_some(), preset.aperture_rotation.is_some()),
            "cat_eye": opt(o.cat_eye, self.cat_eye.is_some(), preset.cat_eye.is_some()),
            "highlight_boost": opt(o.highlight_boost.map_or(serde_json::json!("1 for 8-bit sources, 0 for deeper"), |b| serde_json::json!(b)), self.highlight_boost.is_some(), preset.highlight_boost.is_some()),
            "working_max_width": opt(o.policy.max_width, self.working_max_width.is_some(), preset.working_max_width.is_some()),
            "working_max_radius": opt(o.policy.max_radius, false, preset.working_max_radius.is_some()),
            "focus_smoothing": opt(o.focus_smoothing.unwrap_or(crate::focus::DEFAULT_RESPONSE), self.focus_smoothing.is_some(), preset.focus_smoothing.is_some()),
            "stabilize_depth": opt(o.stabilize_depth, self.no_stabilize, false),
            "device": opt(format!("{:?}", self.device).to_lowercase(), self.device != DeviceArg::Auto, false),
            "precision": opt(format!("{:?}", self.precision).to_lowercase(), self.precision != PrecisionArg::Fp32, false),
            "pipeline": opt(&self.pipeline, self.pipeline.is_some(), false),
        });
        if let Some((a, e)) = convert {
            let extra = serde_json::json!({
                "codec": opt(e.codec.clone().unwrap_or_else(|| "libx264 (or the container's own)".into()), a.codec.is_some(), preset.codec.is_some()),
                "crf": opt(e.crf.map_or(serde_json::json!("encoder default (18 for x264/x265)"), |c| serde_json::json!(c)), a.crf.is_some(), preset.crf.is_some()),
                "preset": opt(e.preset.clone().unwrap_or_else(|| "encoder default (medium for x264/x265)".into()), a.preset.is_some(), preset.preset.is_some()),
                "pix_fmt": opt(e.pix_fmt.clone().unwrap_or_else(|| "the source's".into()), a.pix_fmt.is_some(), preset.pix_fmt.is_some()),
                "encoder_options": opt(e.encoder_options.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(), !a.encoder_options.is_empty(), false),
                "audio_codec": opt(&e.audio_codec, e.audio_codec.is_some(), false),
                "start": opt(a.start, a.start.is_some(), false),
                "duration": opt(a.duration, a.duration.is_some(), false),
            });
            if let (Some(m), serde_json::Value::Object(x)) = (m.as_object_mut(), extra) {
                m.extend(x);
            }
        }
        m
    }

    fn options(&self) -> Result<(RenderOptions, Preset, OnnxModels)> {
        let preset = match &self.pipeline {
            Some(name) => Preset::load(name)?,
            None => Preset::default(),
        };
        let o = RenderOptions::resolve(&self.flags(), &preset)?;
        let models = OnnxModels { runtime: runtime::RuntimeOptions { library: self.ort_lib.clone(), device: self.device.into(), threads: 0, precision: self.precision.into() } };
        Ok((o, preset, models))
    }

    /// The parsed flags, for the library to resolve.
    fn flags(&self) -> RenderFlags {
        RenderFlags {
            renderer: self.renderer.map(RendererKind::from),
            depth_model: self.depth_model.clone(),
            depth_model_card: self.depth_model_card.clone(),
            depth_model_kind: self.depth_model_kind.clone(),
            depth: self.depth.clone(),
            focus: self.focus,
            focus_at: self.focus_at,
            autofocus: self.autofocus,
            focus_track: self.focus_track.clone(),
            max_blur: self.max_blur,
            aperture_blades: self.aperture_blades,
            aperture_rotation: self.aperture_rotation,
            cat_eye: self.cat_eye,
            highlight_boost: self.highlight_boost,
            working_max_width: self.working_max_width,
            focus_smoothing: self.focus_smoothing,
            no_stabilize: self.no_stabilize,
        }
    }
}

/// Every option that takes a value takes the next word as it, even one that starts with a minus
/// sign (`--crf -1`, `--aperture-rotation -inf`), so the value reaches its range check and its
/// one-line error instead of being taken for an unknown flag. (No option has an optional value.)
fn negative_values(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|a| if a.get_action().takes_values() && !a.is_positional() { a.allow_hyphen_values(true) } else { a })
        .mut_subcommands(negative_values)
}

/// The flags, or one error line naming the problem (clap's own report spans several lines with a
/// usage block); `--help` and `--version` print as usual.
fn parse_cli() -> std::result::Result<Cli, ExitCode> {
    use clap::{CommandFactory, FromArgMatches};
    let parsed = negative_values(Cli::command()).try_get_matches().and_then(|m| Cli::from_arg_matches(&m));
    parsed.map_err(|e| {
        use clap::error::ErrorKind::*;
        if matches!(e.kind(), DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand) {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        // The message and its details (the missing arguments, a tip) on one line; the usage block
        // and the pointer to --help are left out.
        let text = e.render().to_string();
        let parts: Vec<&str> = text.lines().map(str::trim).take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information")).filter(|l| !l.is_empty()).collect();
        let line = parts.iter().enumerate().fold(String::new(), |acc, (i, p)| match i {
            0 => p.to_string(),
            _ if p.starts_with("tip:") => format!("{acc}; {p}"),
            _ => format!("{acc} {p}"),
        });
        let line = line.strip_prefix("error: ").unwrap_or(&line);
        eprintln!("deeplens: error: {} (see --help)", deeplens_core::printable(line, 300));
        ExitCode::from(2)
    })
}

fn main() -> ExitCode {
    let cli = match parse_cli() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("DEEPLENS_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("deeplens={level},ort=warn")));
    {
        use tracing_subscriber::prelude::*;
        let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false).without_time().with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
        tracing_subscriber::registry().with(fmt.with_filter(filter)).with(crate::report::WarningLog.with_filter(tracing_subscriber::filter::LevelFilter::WARN)).init();
    }
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let c = cancel.clone();
        let _ = ctrlc::set_handler(move || {
            // Blocking reads (a silent network peer) give up too.
            crate::video::interrupt();
            if c.swap(true, Ordering::SeqCst) {
                // A second Ctrl-C: stop at once.
                std::process::exit(130);
            }
        });
    }
    match run(cli, cancel) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("deeplens: error: {}", deeplens_core::printable(&format!("{e:#}"), 400));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, cancel: Arc<AtomicBool>) -> Result<ExitCode> {
    match cli.command {
        Command::Image(a) => {
            let (render, preset, models) = a.render.options()?;
            let report = a.report.map(|p| (p, a.render.sources(&preset, &render, None)));
            let still = crate::still::StillJob { input: a.input, output: a.output, overwrite: a.overwrite, render, models, save_depth: a.save_depth, report, cancel };
            let times = match crate::still::render_still(still) {
                Err(e) if matches!(e.downcast_ref::<deeplens_core::Error>(), Some(deeplens_core::Error::Cancelled)) => {
                    eprintln!("deeplens: interrupted; nothing was written");
                    return Ok(ExitCode::from(130));
                }
                r => r?,
            };
            tracing::info!(depth_ms = median(&times.depth), lens_ms = median(&times.lens), upsample_ms = median(&times.upsample), "done");
            Ok(ExitCode::SUCCESS)
        }
        Command::Convert(a) if Path::new(&a.input).is_dir() => batch_convert(a, cancel),
        Command::Convert(a) => convert_one(a, cancel),
        Command::Plan(p) => plan(p, cancel),
        Command::RenderSegment(a) => {
            let models = OnnxModels { runtime: runtime::RuntimeOptions { library: a.ort_lib, device: a.node.device.into(), threads: 0, precision: a.node.precision.into() } };
            let out = crate::farm::render_segment(&a.plan, a.index, models, a.node.hwaccel, a.report.as_deref(), cancel)?;
            outln!("{}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Join(a) => {
            let out = crate::farm::join(&a.plan, a.overwrite, a.write_focus_track.as_deref(), cancel)?;
            outln!("{}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Farm(FarmCommand::Slurm { plan, submit, partition, time, cpus_per_task, node }) => {
            let jobs = crate::farm::engines::slurm(&plan, &crate::farm::engines::SlurmOptions { partition, time, cpus_per_task, submit, node: node.node()? })?;
            outln!("{}\n{}", jobs.segments_script.display(), jobs.join_script.display());
            if let Some((seg, join)) = jobs.ids {
                outln!("submitted: segments job {seg}, join job {join} (afterok:{seg})");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Farm(FarmCommand::K8s { plan, image, volume, mount, plan_in_pod, node }) => {
            let files = crate::farm::engines::k8s(&plan, &crate::farm::engines::K8sOptions { image, claim: volume, mount, plan_in_pod, node: node.node()? })?;
            for f in files {
                outln!("{}", f.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Farm(FarmCommand::Openjd { plan, node }) => {
            outln!("{}", crate::farm::engines::openjd(&plan, &node.node()?)?.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Sheet(a) => {
            let (render, _, models) = a.render.options()?;
            let input = a.source.spec(a.input);
            crate::sheet::sheet(&input, &a.output, a.overwrite, a.frames, render, &models, cancel)?;
            outln!("{}", a.output.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(a) => bench(a, cancel),
        Command::Preview(a) => preview(a, cancel),
        Command::Track(TrackCommand::Plot { track, output, duration, fps, width, overwrite }) => plot_track(&track, &output, duration, fps, width, overwrite),
    }
}

/// `convert INPUT OUTPUT`: one file.
fn convert_one(a: ConvertArgs, cancel: Arc<AtomicBool>) -> Result<ExitCode> {
    if a.output_pattern.is_some() || a.recursive {
        bail!("--output-pattern and -r are for a folder of inputs; {} is not a folder", a.input);
    }
    let (render, preset, models) = a.render.options()?;
    if a.output.as_os_str() == "-" && a.output_format.is_none() {
        bail!("writing to stdout needs --output-format (for example nut or y4m)");
    }
    let encode = a.encode_spec(&preset);
    let extras = crate::convert::Extras {
        write_depth: a.write_depth.clone(),
        write_matte: a.write_matte.clone(),
        depth_invert: a.depth_export_invert,
        progress: a.progress.clone(),
        report: a.report.clone(),
        options: a.render.sources(&preset, &render, Some((&a, &encode))),
    };
    let job = crate::convert::ConvertJob {
        input: a.input_spec(),
        cut: a.cut(),
        output: a.output,
        overwrite: a.overwrite,
        extras,
        encode,
        render,
        models,
        write_focus_track: a.write_focus_track,
        progress: true,
        capacity: 2,
        observer: None,
        segment: None,
    };
    let report = crate::convert::convert(job, cancel)?;
    let s = &report.stats;
    tracing::info!(frames = s.frames, seconds = s.seconds, fps = s.fps(), "converted");
    if report.cancelled {
        eprintln!("deeplens: interrupted after {} frames; the output holds what was converted", s.frames);
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

/// `plan INPUT OUTPUT --segments N`.
fn plan(p: PlanArgs, cancel: Arc<AtomicBool>) -> Result<ExitCode> {
    let a = p.convert;
    let (render, preset, models) = a.render.options()?;
    if a.write_focus_track.is_some() {
        bail!("plan: --write-focus-track belongs to `deeplens join PLAN --write-focus-track FILE`");
    }
    if a.write_depth.is_some() || a.write_matte.is_some() || a.progress.is_some() || a.report.is_some() {
        bail!("plan: --write-depth, --write-matte, --progress and --report are not planned; use them on convert");
    }
    let encode = a.encode_spec(&preset);
    let job = crate::farm::PlanJob {
        input: a.input_spec(),
        cut: a.cut(),
        output: a.output,
        work_dir: p.work_dir,
        segments: p.segments,
        overwrite: a.overwrite,
        render,
        encode,
        models,
    };
    let path = crate::farm::plan(job, cancel)?;
    outln!("{}", path.display());
    Ok(ExitCode::SUCCESS)
}

/// `track plot TRACK OUT.svg`.
fn plot_track(track: &Path, output: &Path, duration: Option<f64>, fps: f64, width: usize, overwrite: bool) -> Result<ExitCode> {
    if !(0.01..=1000.0).contains(&fps) {
        bail!("--fps must be in [0.01, 1000]");
    }
    if duration.is_some_and(|d| !(d > 0.0 && d <= 366.0 * 86400.0)) {
        bail!("--duration must be above 0 and at most a year");
    }
    if !(16..=100_000).contains(&width) {
        bail!("--width must be between 16 and 100000 pixels");
    }
    crate::outfile::check_target(output, overwrite, &[track])?;
    let t = crate::focus::Track::from_path(track)?;
    let opts = crate::focus::PlotOptions { duration, fps, display_width: width, ..Default::default() };
    let svg = crate::focus::plot_svg(crate::focus::PlotSource::Track(&t), &opts);
    let tmp = crate::outfile::TempOutput::new(output, overwrite)?;
    std::fs::write(&tmp.tmp, svg)?;
    tmp.commit()?;
    Ok(ExitCode::SUCCESS)
}

/// `convert INPUT_DIR OUTPUT_DIR`: each video with the same flags; failures reported, the rest go on.
fn batch_convert(a: ConvertArgs, cancel: Arc<AtomicBool>) -> Result<ExitCode> {
    if a.write_depth.is_some() || a.write_matte.is_some() || a.write_focus_track.is_some() || a.report.is_some() || a.progress.is_some() {
        bail!("--write-depth, --write-matte, --write-focus-track, --report and --progress name one file; convert the files of {} one by one to use them", a.input);
    }
    if a.output.as_os_str() == "-" || (a.output.exists() && !a.output.is_dir()) {
        bail!("{}: with a folder of inputs, OUTPUT is a folder", a.output.display());
    }
    if a.start.is_some() || a.duration.is_some() {
        tracing::warn!("--start/--duration apply to every file of the batch");
    }
    let (render, preset, models) = a.render.options()?;
    let encode = a.encode_spec(&preset);
    let pattern = a.output_pattern.clone().unwrap_or_else(|| crate::batch::DEFAULT_PATTERN.to_string());
    let stop = cancel.clone();
    let summary = crate::batch::run(Path::new(&a.input), &a.output, &pattern, a.recursive, a.overwrite, &|| stop.load(Ordering::Relaxed), |input, output| {
        let job = crate::convert::ConvertJob {
            input: a.source.spec(input.display().to_string()),
            cut: a.cut(),
            output: output.to_path_buf(),
            overwrite: a.overwrite,
            extras: Default::default(),
            encode: encode.clone(),
            render: render.clone(),
            models: models.clone(),
            write_focus_track: None,
            progress: true,
            capacity: 2,
            observer: None,
            segment: None,
        };
        let report = crate::convert::convert(job, cancel.clone())?;
        Ok(!report.cancelled)
    })?;
    Ok(if summary.cancelled {
        ExitCode::from(130)
    } else if summary.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The sha256 of a file, in hex.
pub(crate) fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn preview(a: PreviewArgs, cancel: Arc<AtomicBool>) -> Result<ExitCode> {
    use crate::live;
    let (render, preset, models) = a.render.options()?;
    let extras = crate::convert::Extras {
        write_depth: a.write_depth.clone(),
        write_matte: a.write_matte.clone(),
        depth_invert: a.depth_export_invert,
        progress: None,
        report: a.report.clone(),
        options: a.render.sources(&preset, &render, None),
    };
    let mut job = live::PreviewJob::new(live::resolve_source(a.source.as_deref(), a.format.as_deref(), a.input_options), render, models);
    job.duration = a.duration;
    job.display = if a.headless { live::Display::Headless } else { live::Display::Window };
    job.output = a.output;
    job.output_format = a.output_format;
    job.codec = a.codec;
    job.overwrite = a.overwrite;
    job.stats = a.stats;
    job.adapt = !a.no_adapt;
    job.stall_timeout = a.stall_timeout;
    job.extras = extras;
    job.debug_delay = a.debug_stage_delay_ms.map(|ms| live::DebugDelay { ms_full_size: ms, for_seconds: a.debug_stage_delay_for });
    let s = live::preview(job, cancel)?;
    eprintln!(
        "deeplens preview: {} captured, {} shown, {} dropped; {:.1} fps; latency p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms ({:?})",
        s.frames_captured, s.frames_shown, s.frames_dropped, s.fps, s.latency_ms_p50, s.latency_ms_p95, s.latency_ms_max, s.end
    );
    // Ctrl-C ends a preview as it ends a conversion: status 130 (the stats and outputs are written).
    Ok(if s.end == live::EndReason::Interrupted { ExitCode::from(130) } else { ExitCode::SUCCESS })
}

fn bench(a: BenchArgs, cancel: Arc<AtomicBool>) -> Result<ExitCode> {
    use deeplens_eval::{measure_synthetic, FlickerMeter, SyntheticClip};
    use deeplens_core::focus::FocusSpec;
    use std::sync::Mutex;
    let (render, _, models) = a.render.options()?;
    let input_implied = a.input.is_none();
    let input = match a.input {
        Some(i) => i,
        None => crate::config::find_project_file("samples/bigbuckbunny.mp4")
            .map(|p| p.display().to_string())
            .ok_or_else(|| anyhow::anyhow!("no input given and samples/bigbuckbunny.mp4 not found"))?,
    };
    if a.vs_transcode {
        return vs_transcode(&input, input_implied, a.format.as_deref(), a.duration, a.runs, &cancel);
    }
    // Flicker in regions static in the input, on a small copy of each frame.
    let meter = Arc::new(Mutex::new(FlickerMeter::default()));
    let m = meter.clone();
    let observer = Box::new(move |j: &crate::pipeline::Finished| {
        let w = 320.min(j.full.width);
        let h = (j.full.height * w / j.full.width).max(1);
        // The meter reads the output's luma: taken from the encoder's picture as it is (grey).
        let luma = j.output.luma().resize(w, h);
        let out = deeplens_core::RgbImage { width: w, height: h, data: luma.data.iter().flat_map(|&l| [l; 3]).collect() };
        m.lock().unwrap().push(&j.full.resize(w, h), &j.depth.resize(w, h), Some(&out));
    });
    let stabilized = render.stabilize_depth;
    let job = crate::convert::ConvertJob {
        input: crate::video::InputSpec { url: input.clone(), format: a.format, options: vec![], hwaccel: None },
        output: PathBuf::from("-"),
        overwrite: true,
        encode: crate::video::OutputSpec { format: Some("null".into()), ..Default::default() },
        cut: crate::video::Cut { start: None, duration: a.duration },
        render,
        models,
        write_focus_track: None,
        progress: false,
        capacity: 2,
        observer: Some(observer),
        segment: None,
        extras: Default::default(),
    };
    let report = crate::convert::convert(job, cancel)?;
    let s = &report.stats;
    outln!("deeplens bench: {input}");
    outln!("{:<12} {:>12} {:>8}", "stage", "median ms", "frames");
    for (name, ms, n) in s.times.rows() {
        outln!("{name:<12} {ms:>12.2} {n:>8}");
    }
    outln!("end-to-end: {} frames in {:.2} s = {:.2} fps", s.frames, s.seconds, s.fps());
    if let Some(rss) = peak_rss_mib() {
        outln!("peak RSS: {rss:.0} MiB");
    }
    let f = meter.lock().unwrap().report();
    outln!(
        "flicker in static regions ({} pairs, {:.0}% static, depth {}): input |dY| {:.5}, depth |dD| {:.5}, output |dY| {}",
        f.pairs,
        f.static_share * 100.0,
        if stabilized { "stabilised" } else { "per-frame normalised" },
        f.input,
        f.depth,
        f.output.map_or("-".into(), |o| format!("{o:.5}"))
    );
    // Focus lag on a synthetic clip with a moving subject at known depth.
    let clip = SyntheticClip::default();
    for stab in [false, true] {
        let r = measure_synthetic(&clip, 150, stab, FocusSpec::Autofocus, crate::focus::DEFAULT_RESPONSE, 6.0);
        outln!(
            "synthetic moving subject, autofocus, depth {}: focus error mean {:.3} max {:.3}, lag {:.2} s; depth flicker {:.5}, output flicker {}",
            if stab { "stabilised          " } else { "per-frame normalised" },
            r.lag.mean_abs_error,
            r.lag.max_abs_error,
            r.lag.lag_seconds,
            r.flicker.depth,
            r.flicker.output.map_or("-".into(), |o| format!("{o:.5}"))
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `bench --vs-transcode`: the plain transcode and the conversion as whole processes, in turn.
fn vs_transcode(input: &str, input_implied: bool, format: Option<&str>, duration: Option<f64>, runs: usize, cancel: &AtomicBool) -> Result<ExitCode> {
    use std::process::{Command as Proc, Stdio};
    use std::time::Instant;
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let dir = tempfile_dir()?;
    let plain_out = dir.join("transcode.mp4");
    let ours_out = dir.join("deeplens.mp4");
    let mut plain = Proc::new("ffmpeg");
    plain.args(["-nostdin", "-v", "error", "-y"]);
    if let Some(f) = format {
        plain.args(["-f", f]);
    }
    plain.args(["-i", input]);
    if let Some(d) = duration {
        plain.args(["-t", &d.to_string()]);
    }
    plain.args(["-c:v", "libx264", "-crf", "18", "-preset", "medium", "-c:a", "copy"]).arg(&plain_out);
    // `deeplens convert` with the arguments given to `bench` (input, -f, --duration and the
    // render flags are the same there), less the ones of this mode.
    let mut ours = Proc::new(std::env::current_exe()?);
    ours.arg("convert");
    if input_implied {
        ours.arg(input);
    }
    let mut args = std::env::args().skip_while(|a| a != "bench").skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--vs-transcode" => {}
            "--runs" => {
                args.next();
            }
            a if a.starts_with("--runs=") => {}
            _ => {
                ours.arg(arg);
            }
        }
    }
    ours.arg(&ours_out).arg("-y");
    let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut cpu: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    outln!("deeplens bench --vs-transcode: {input}, {runs} runs each, in turn");
    for run in 0..runs {
        for (k, cmd) in [&mut plain, &mut ours].into_iter().enumerate() {
            if cancel.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            let c0 = pipeline::children_cpu_seconds();
            let t = Instant::now();
            let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output().map_err(|e| anyhow::anyhow!("cannot run {:?}: {e}", cmd.get_program()))?;
            let secs = t.elapsed().as_secs_f64();
            if !out.status.success() {
                bail!("{:?} failed: {}", cmd.get_program(), String::from_utf8_lossy(&out.stderr).trim());
            }
            let c = pipeline::children_cpu_seconds().zip(c0).map(|(b, a)| b - a);
            outln!("run {} {:<10} {secs:7.2} s wall{}", run + 1, ["transcode", "deeplens"][k], c.map_or(String::new(), |c| format!(", {c:6.2} s CPU")));
            times[k].push(secs);
            if let Some(c) = c {
                cpu[k].push(c);
            }
        }
    }
    let (tp, to) = (median(&times[0]), median(&times[1]));
    outln!("median wall: transcode {tp:.2} s, deeplens convert {to:.2} s, ratio {:.2}x", to / tp);
    if cpu[0].len() == runs && cpu[1].len() == runs {
        let (cp, co) = (median(&cpu[0]), median(&cpu[1]));
        outln!("median CPU:  transcode {cp:.2} s, deeplens convert {co:.2} s, ratio {:.2}x", co / cp);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}

/// A fresh directory under the system's temporary directory.
fn tempfile_dir() -> Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("deeplens-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
