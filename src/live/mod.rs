//! `preview`: a live source (a V4L2 webcam, or any FFmpeg input played at its own pace) through
//! the same stages as `convert`, shown in a window or written out as it comes, newest frame first.
//!
//! Threads and queues:
//!
//! ```text
//! capture ─▶ [slot: 1 frame, a newer frame replaces it] ─▶ depth ─▶ [1] ─▶ lens ─▶ [1] ─▶ upsample ─▶ [1] ─▶ show
//!                                                           ▲ at most `in_flight` frames past the slot ─┘ (tokens)
//! ```
//!
//! The capture (a [`pipeline::Source`]) never waits: it puts each frame in the engine's one-frame
//! slot, evicting (and counting as dropped) a frame still waiting there. The stages run in the
//! core's frame engine ([`pipeline::run`] with [`Schedule::NewestWins`]): its depth
//! thread takes a frame only when fewer than `in_flight` frames are being processed, so queues
//! between stages stay short and a frame is never older than the work ahead of it; its `prepare`
//! hook applies the viewer's focus and blur and the working-resolution level. This module is an
//! adapter: a source ([`Capture`]), a sink ([`LiveSink`]) and those options; it spawns no thread. The display thread (the caller's) measures latency and
//! feeds the [`RateController`], which asks for a smaller working picture when frames are being
//! dropped and a smaller picture would help, and for a larger one again when there is room.
//!
//! Latency runs from the moment the capture thread hands a frame on (for a paced source, when its
//! timestamp is due; the RGB conversion of the capture thread comes before) to the moment the
//! window has been given the picture, or the output has taken it, or (headless without output)
//! the last stage finished it.

mod control;
pub mod font;
#[cfg(feature = "window")]
mod window;

pub use control::{LatencyHistogram, RateController, StageMs};

use crate::config::RenderOptions;
use crate::focus::{BlurAmount, FocusSpec, Rotation};
use crate::frame::{Plane, RgbImage};
use crate::lens::{LensBlur, LensParams};
use crate::outfile::TempOutput;
use crate::pipeline::{self, current_rss_mib, peak_rss_mib, DepthStage, EngineOptions, Finished, Job, Put, Running, Schedule, Stages, WorkingPolicy};
use crate::upsample;
use crate::video::{Cut, Demuxer, InputSpec, Muxer, OutputSpec, VideoInfo};
use anyhow::{anyhow, bail, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the result goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Display {
    Window,
    Headless,
}

/// A test hook: make the lens blur slow, in proportion to the working picture's area.
#[derive(Clone, Copy, Debug)]
pub struct DebugDelay {
    /// Milliseconds per frame for a working picture as large as the source.
    pub ms_full_size: f64,
    /// Only for frames processed in the first this many seconds of the run.
    pub for_seconds: Option<f64>,
}

/// A preview request.
#[derive(Clone, Debug)]
pub struct PreviewJob {
    pub input: InputSpec,
    pub render: RenderOptions,
    pub models: deeplens_onnx::OnnxModels,
    /// End by itself after this many seconds of source.
    pub duration: Option<f64>,
    pub display: Display,
    /// Also write the result: a file, or `-` for stdout.
    pub output: Option<PathBuf>,
    pub output_format: Option<String>,
    pub codec: Option<String>,
    pub overwrite: bool,
    pub stats: Option<PathBuf>,
    /// Let the working resolution follow the load.
    pub adapt: bool,
    /// Frames being processed at once at most (past the capture slot).
    pub in_flight: usize,
    /// End the run when the source delivers nothing for this long.
    pub stall_timeout: f64,
    pub debug_delay: Option<DebugDelay>,
    /// Depth and matte exports and the report (`--write-depth`, `--write-matte`, `--report`).
    pub extras: crate::convert::Extras,
}

impl PreviewJob {
    pub fn new(input: InputSpec, render: RenderOptions, models: deeplens_onnx::OnnxModels) -> Self {
        Self {
            models,
            input,
            render,
            duration: None,
            display: Display::Window,
            output: None,
            output_format: None,
            codec: None,
            overwrite: false,
            stats: None,
            adapt: true,
            in_flight: 2,
            stall_timeout: 5.0,
            debug_delay: None,
            extras: Default::default(),
        }
    }
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Duration,
    SourceEnded,
    SourceStalled,
    Interrupted,
    WindowClosed,
    Error,
}

#[derive(Clone, Debug, Serialize)]
pub struct Resolution {
    pub width: usize,
    pub height: usize,
    pub frames: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ResolutionChange {
    /// Seconds from the start of the run.
    pub t: f64,
    pub width: usize,
    pub height: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct QueueReport {
    /// Frames the capture slot holds at most (by construction).
    pub capture_slot: usize,
    /// Frames each queue between two stages holds at most (by construction).
    pub between_stages: usize,
    /// The limit on frames being processed at once, and the most seen.
    pub in_flight_limit: usize,
    pub in_flight_max: usize,
    /// The longest any queue was seen (the capture slot after each put, the others at each take).
    pub longest_seen: usize,
}

/// The `--stats` summary.
#[derive(Clone, Debug, Serialize)]
pub struct LiveStats {
    pub source: String,
    pub source_width: usize,
    pub source_height: usize,
    pub source_fps: f64,
    pub end: EndReason,
    pub seconds: f64,
    pub frames_captured: u64,
    pub frames_shown: u64,
    pub frames_dropped: u64,
    /// Dropped because a newer frame replaced them while they waited.
    pub frames_replaced: u64,
    /// Dropped at the end (still waiting or being processed when the run stopped).
    pub frames_discarded_at_end: u64,
    pub latency_ms_p50: f64,
    pub latency_ms_p95: f64,
    pub latency_ms_max: f64,
    /// Frames shown per second.
    pub fps: f64,
    pub working_resolutions: Vec<Resolution>,
    pub resolution_changes: Vec<ResolutionChange>,
    /// Sizes of the picture the stages processed and upsampled back to (at most 4× the working
    /// width; the window and the output enlarge it to the source size).
    pub processed_resolutions: Vec<Resolution>,
    pub stage_ms_mean: BTreeMap<&'static str, f64>,
    pub queues: QueueReport,
    pub rss_mib_after_1s: Option<f64>,
    pub rss_mib_end: Option<f64>,
    pub peak_rss_mib: Option<f64>,
}

/// How `--output` is written: y4m to stdout unless told otherwise; a file's container follows
/// its extension: y4m uncompressed (FFmpeg's y4m muxer takes `wrapped_avframe`), nut as raw
/// video, others as the muxer chooses (x264 where the container takes it), fast presets.
fn output_spec(job: &PreviewJob, target: &Path, tmp: Option<PathBuf>) -> OutputSpec {
    let stdout = target.as_os_str() == "-";
    let ext = target.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
    let format = job.output_format.clone().or_else(|| (stdout || ext.as_deref() == Some("y4m")).then(|| "yuv4mpegpipe".to_string()));
    let y4m = format.as_deref() == Some("yuv4mpegpipe");
    let nut = format.as_deref() == Some("nut") || (format.is_none() && ext.as_deref() == Some("nut"));
    let codec = job.codec.clone().or_else(|| if y4m { Some("wrapped_avframe".to_string()) } else { nut.then(|| "rawvideo".to_string()) });
    let x264 = !y4m && !nut && codec.as_deref().is_none_or(|c| c == "libx264");
    OutputSpec {
        path: tmp.unwrap_or_else(|| target.to_path_buf()),
        pix_fmt: y4m.then(|| "yuv420p".to_string()),
        format,
        preset: x264.then(|| "ultrafast".to_string()),
        encoder_options: if x264 { vec![("tune".into(), "zerolatency".into())] } else { vec![] },
        codec,
        display: Some(target.display().to_string()),
        ..OutputSpec::default()
    }
}

impl LiveStats {
    pub fn write(&self, path: &Path) -> Result<()> {
        std::fs::write(path, serde_json::to_string_pretty(self)? + "\n").map_err(|e| anyhow!("cannot write stats {}: {e}", path.display()))
    }
}

/// FFmpeg input formats that are live devices: never paced.

/// The source to open: `/dev/video0` by default, V4L2 implied for `/dev/video*`.
pub fn resolve_source(source: Option<&str>, format: Option<&str>, options: Vec<(String, String)>) -> InputSpec {
    let url = source.unwrap_or("/dev/video0").to_string();
    let format = format.map(str::to_string).or_else(|| url.starts_with("/dev/video").then(|| "v4l2".to_string()));
    InputSpec { url, format, options, hwaccel: None }
}

fn is_device(spec: &InputSpec) -> bool {
    spec.format.as_deref().is_some_and(|f| crate::video::DEVICE_FORMATS.contains(&f))
}

fn is_v4l2(spec: &InputSpec) -> bool {
    matches!(spec.format.as_deref(), Some("v4l2" | "video4linux2"))
}

fn cameras() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/dev")
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with("video")).map(|n| format!("/dev/{n}")).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Open the source, with a clear message for a missing camera (a busy one, or one this user may
/// not open, is a typed [`DeviceError`](crate::video::DeviceError) from the video crate).
pub fn open_source(spec: &InputSpec) -> Result<Demuxer> {
    if is_v4l2(spec) && !Path::new(&spec.url).exists() {
        let found = cameras();
        let list = if found.is_empty() { "no camera found".to_string() } else { format!("cameras: {}", found.join(", ")) };
        bail!("no camera at {} ({list}); a file or `-f lavfi testsrc2` works too", spec.url);
    }
    Ok(Demuxer::open(spec)?)
}

/// Settings the viewer changes while the preview runs.
struct Controls {
    focus: FocusSpec,
    blur: BlurAmount,
    /// Extra halvings of the working picture, from the rate controller.
    level: u32,
    /// Bumped when focus or blur change.
    version: u64,
}

#[derive(Default)]
struct Counters {
    captured: AtomicU64,
    replaced: AtomicU64,
    in_flight: AtomicUsize,
    in_flight_max: AtomicUsize,
    longest_queue: AtomicUsize,
    /// Milliseconds from the run's start to the last captured frame (u64::MAX: none yet).
    last_capture_ms: AtomicU64,
    capture_done: AtomicBool,
    /// The capture ended because `--duration` was reached.
    reached_duration: AtomicBool,
}

impl Counters {
    fn saw_queue(&self, len: usize) {
        self.longest_queue.fetch_max(len, Ordering::Relaxed);
    }
}

/// The lens blur made slow on purpose (`DebugDelay`).
struct SlowLens {
    inner: Box<dyn LensBlur>,
    delay: DebugDelay,
    full_area: f64,
    start: Instant,
}

impl LensBlur for SlowLens {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn render(&mut self, rgb: &RgbImage, depth: &Plane, params: &LensParams) -> deeplens_core::Result<RgbImage> {
        if self.delay.for_seconds.is_none_or(|s| self.start.elapsed().as_secs_f64() < s) {
            let ms = self.delay.ms_full_size * (rgb.width * rgb.height) as f64 / self.full_area;
            std::thread::sleep(Duration::from_secs_f64(ms / 1000.0));
        }
        self.inner.render(rgb, depth, params)
    }
}

/// The working-resolution policy for `level` halvings beyond what `base` chooses by itself.
fn policy_for(base: &WorkingPolicy, level: u32, width: usize, blur_px: f32) -> WorkingPolicy {
    let k = base.steps(width, blur_px) + level;
    WorkingPolicy { max_width: (width >> k.min(30)).max(16), max_steps: base.max_steps.max(k), ..*base }
}

/// Working size for `level` extra halvings.
fn working_size(base: &WorkingPolicy, level: u32, size: (usize, usize), blur_px: f32) -> (usize, usize) {
    upsample::working_size(size, policy_for(base, level, size.0, blur_px).steps(size.0, blur_px))
}

/// How many halvings the frame gets before the stages at `level`: the picture processed (and
/// upsampled back to) is kept at most 4× as wide as the working picture, so a live run does not
/// spend its time upsampling to full size a picture blurred at a tiny working size. The window
/// and the output scale the result back to the source size.
fn processing_shift(base: &WorkingPolicy, level: u32, size: (usize, usize), blur_px: f32) -> u32 {
    let work = working_size(base, level, size, blur_px).0;
    let mut p = 0;
    while (size.0 >> p) > 4 * work && (size.0 >> (p + 1)) >= 16 {
        p += 1;
    }
    p
}

/// The deepest level that still makes the working picture smaller.
fn deepest_level(policy: &WorkingPolicy, size: (usize, usize), blur_px: f32) -> u32 {
    let mut l = 0;
    while l < 8 && working_size(policy, l + 1, size, blur_px).0 < working_size(policy, l, size, blur_px).0 && working_size(policy, l + 1, size, blur_px).0 >= 40 {
        l += 1;
    }
    l
}

/// How the window shows frames.
#[cfg(feature = "window")]
#[derive(Clone, Copy, Debug, Default)]
struct ViewMode {
    depth: bool,
    split: bool,
    overlay: bool,
}

/// Compose the picture to show: the result, the depth, or the source left and the result right.
#[cfg(feature = "window")]
fn compose(buf: &mut Vec<u32>, (w, h): (usize, usize), job: &Finished, mode: ViewMode) {
    let out = &*job.output.rgb();
    buf.resize(w * h, 0);
    let pack = |p: [f32; 3]| -> u32 {
        let c = |v: f32| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u32;
        (c(p[0]) << 16) | (c(p[1]) << 8) | c(p[2])
    };
    // The stages may have worked on a smaller picture: show it enlarged (bilinear).
    let enlarge = |img: &RgbImage| if (img.width, img.height) == (w, h) { None } else { Some(img.resize(w, h)) };
    let (out_big, full_big) = (enlarge(out), if mode.split { enlarge(&job.full) } else { None });
    let (out, full) = (out_big.as_ref().unwrap_or(out), full_big.as_ref().unwrap_or(&job.full));
    let depth = if mode.depth { Some(job.depth.resize(w, h)) } else { None };
    let split_x = if mode.split { w / 2 } else { 0 };
    for y in 0..h {
        for x in 0..w {
            buf[y * w + x] = match &depth {
                Some(d) => {
                    let v = d.get(x, y);
                    pack([v, v, v])
                }
                None if x < split_x => pack(full.pixel(x, y)),
                None => pack(out.pixel(x, y)),
            };
        }
        if mode.split {
            buf[y * w + split_x] = 0x00ff_ff00;
        }
    }
}

/// What a live run shares between its threads.
struct Shared {
    controls: Arc<Mutex<Controls>>,
    counters: Arc<Counters>,
    halt: Arc<AtomicBool>,
    run_start: Instant,
}

/// The source's geometry.
#[derive(Clone, Copy)]
struct Geometry {
    /// Stored size.
    w: usize,
    h: usize,
    /// Displayed width.
    dw: usize,
    rotation: Rotation,
    interval_ms: f64,
}

/// Run the preview until the source ends, `--duration` passes, Ctrl-C (`cancel`), or the window
/// closes. Returns the stats (also written to `--stats`).
pub fn preview(job: PreviewJob, cancel: Arc<AtomicBool>) -> Result<LiveStats> {
    let demux = open_source(&job.input)?;
    let info = demux.info.clone();
    let (dw, _) = info.display_size();
    let fps_ok = info.fps > 0.5 && info.fps < 1000.0;
    let geo = Geometry { w: info.width, h: info.height, dw, rotation: Rotation(info.rotation), interval_ms: if fps_ok { 1000.0 / info.fps } else { 1000.0 / 30.0 } };
    let run_start = Instant::now();
    let (stages, given_depth) = live_stages(&job, &info, run_start)?;
    let base_policy = stages.depth.policy;
    let (temp, muxer) = open_output(&job, &info)?;
    let to_stdout = job.output.as_ref().is_some_and(|o| o.as_os_str() == "-");
    let source = PathBuf::from(&job.input.url);
    let side = crate::convert::SideSinks::open(&job.extras, job.overwrite, &[source.as_path()], &info, to_stdout)?;
    if let Some(p) = &job.stats {
        anyhow::Context::context(crate::outfile::check_target(p, job.overwrite, &[source.as_path()]), "--stats")?;
    }
    let models_used = crate::convert::models_used(&job.render, &stages);
    #[cfg(feature = "window")]
    let win = match job.display {
        Display::Window => Some(window::PreviewWindow::open(&format!("deeplens preview — {}", job.input.url), geo.w, geo.h)?),
        Display::Headless => None,
    };
    #[cfg(not(feature = "window"))]
    if job.display == Display::Window {
        bail!("this build has no window support: pass --headless");
    }

    let shared = Shared {
        controls: Arc::new(Mutex::new(Controls { focus: job.render.focus.clone(), blur: job.render.blur, level: 0, version: 0 })),
        counters: Arc::new(Counters { last_capture_ms: AtomicU64::new(u64::MAX), ..Default::default() }),
        halt: Arc::new(AtomicBool::new(false)),
        run_start,
    };
    let in_flight = job.in_flight.max(1);
    let capture = Capture { demux, counters: shared.counters.clone(), run_start: shared.run_start, interval_ms: geo.interval_ms, duration: job.duration, device: is_device(&job.input) };

    // Capture → slot → depth → lens → upsample → shown here, in the frame engine.
    let mut opts = EngineOptions::new(1, Schedule::NewestWins { in_flight }, shared.halt.clone());
    opts.prepare = Some(prepare_hook(&shared, geo, base_policy, given_depth));
    let counters = shared.counters.clone();
    opts.queue_probe = Some(Arc::new(move |len| counters.saw_queue(len)));
    // A camera stuck in a read is left behind after half a second rather than hanging the end.
    opts.source_grace = Some(Duration::from_millis(500));
    let mut sink = LiveSink::new(&job, geo, base_policy, shared.run_start);
    #[cfg(feature = "window")]
    {
        sink.win = win;
    }
    sink.muxer = muxer;
    sink.side = Some(side);
    let ran = pipeline::run(stages, capture, &mut Show { sink: &mut sink, shared: &shared, cancel: &cancel }, opts);

    // Wound down: the sink ended the run, the stage threads have ended.
    let mut first_err: Option<anyhow::Error> = sink.out_err.take();
    let times = ran.times;
    if let Err(e) = ran.stages {
        first_err.get_or_insert(e.into());
    }
    match ran.source {
        Some(Err(e)) => {
            tracing::warn!("{}: {:#}", job.input.url, anyhow::Error::from(e));
            sink.end.get_or_insert(EndReason::SourceEnded);
        }
        Some(Ok(_)) | None => {}
    }
    let end = sink.end.unwrap_or(if shared.counters.reached_duration.load(Ordering::Relaxed) { EndReason::Duration } else { EndReason::SourceEnded });
    let end = if first_err.is_some() { EndReason::Error } else { end };
    if let Some(m) = sink.muxer.take() {
        if first_err.is_none() {
            m.finish()?;
            if let Some(t) = temp {
                t.commit()?;
            }
        }
    }
    if let Some(side) = sink.side.take() {
        if first_err.is_none() {
            side.finish()?;
        }
    }
    let stats = sink.stats(&job, &info, end, &shared.counters, ran.left_waiting, in_flight);
    if let Some(p) = &job.stats {
        stats.write(p)?;
    }
    if let (Some(path), None) = (&job.extras.report, &first_err) {
        crate::report::Report {
            command: "preview",
            input: serde_json::json!({"path": job.input.url, "format": job.input.format, "codec": info.codec, "width": info.width, "height": info.height, "rotation": info.rotation, "fps": info.fps}),
            output: serde_json::json!({
                "path": job.output.as_ref().map(|p| crate::report::abs(p)),
                "codec": job.codec,
                "width": info.width,
                "height": info.height,
                "frames": stats.frames_shown,
                "duration": stats.seconds,
            }),
            options: job.extras.options.clone(),
            models: models_used,
            stages: crate::report::stage_medians(&times),
            frames_dropped: stats.frames_dropped,
            cancelled: cancel.load(Ordering::Relaxed),
        }
        .write(path, job.overwrite)?;
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    Ok(stats)
}

/// The stages of a live run, and the given depth picture if any.
fn live_stages(job: &PreviewJob, info: &VideoInfo, run_start: Instant) -> Result<(Stages, Option<Plane>)> {
    let (dw, _) = info.display_size();
    // A live run keeps no per-frame focus history: memory stays flat however long it runs.
    let render = RenderOptions { record_focus: false, ..job.render.clone() };
    let mut stages = render.build_stages(&job.models, dw, Rotation(info.rotation), info.high_bit_depth)?;
    let given_depth = match &job.render.depth_given {
        Some(p) => Some(crate::still::load_depth(p)?),
        None => None,
    };
    if let Some(delay) = job.debug_delay {
        let inner = std::mem::replace(&mut stages.lens, Box::new(crate::lens::physical::PhysicalRenderer::new()));
        stages.lens = Box::new(SlowLens { inner, delay, full_area: (info.width * info.height) as f64, start: run_start });
    }
    Ok((stages, given_depth))
}

/// The output, if any, opens before the first frame so a bad path fails at once.
fn open_output(job: &PreviewJob, info: &VideoInfo) -> Result<(Option<TempOutput>, Option<Muxer>)> {
    let temp = match &job.output {
        Some(p) if p.as_os_str() != "-" => {
            if p.exists() && !job.overwrite {
                bail!("{} exists; pass -y/--overwrite to replace it", p.display());
            }
            Some(TempOutput::new(p, job.overwrite)?)
        }
        _ => None,
    };
    let muxer = match &job.output {
        Some(p) => Some(Muxer::new(&output_spec(job, p, temp.as_ref().map(|t| t.tmp.clone())), info, &[], None)?),
        None => None,
    };
    Ok((temp, muxer))
}

/// The source of a live run: decode, pace a file source to its own clock, and put each frame
/// in the engine's slot, where a newer frame replaces one still waiting. Reports the frames
/// captured.
struct Capture {
    demux: Demuxer,
    counters: Arc<Counters>,
    run_start: Instant,
    interval_ms: f64,
    duration: Option<f64>,
    device: bool,
}

impl pipeline::Source for Capture {
    type Output = u64;

    fn run(self, feed: &pipeline::Feed) -> deeplens_core::Result<u64> {
        let Capture { demux, counters, run_start, interval_ms, duration, device } = self;
        // The run's halt flag is the engine's: the feed says when it is set.
        let halted = || feed.stopped();
        let mut first: Option<Instant> = None;
        // Wall-clock time of source time 0, for pacing.
        let mut anchor: Option<Instant> = None;
        let late_ms = (2.0 * interval_ms).max(100.0);
        let r = demux.run(
            Cut::default(),
            &halted,
            |f| {
                let t0 = *first.get_or_insert_with(Instant::now);
                if duration.is_some_and(|d| if device { t0.elapsed().as_secs_f64() >= d } else { f.t >= d - 1e-6 }) {
                    counters.reached_duration.store(true, Ordering::Relaxed);
                    return false;
                }
                if !device && !wait_until_due(&mut anchor, t0, f.t, late_ms, &halted) {
                    return false;
                }
                let mut j = Job::new(f.index, f.pts, f.t, f.rgb);
                j.born = Instant::now();
                counters.captured.fetch_add(1, Ordering::Relaxed);
                counters.last_capture_ms.store(run_start.elapsed().as_millis() as u64, Ordering::Relaxed);
                match feed.send(j) {
                    Put::Taken { replaced } => {
                        counters.replaced.fetch_add(replaced, Ordering::Relaxed);
                    }
                    Put::Closed => return false,
                }
                counters.saw_queue(feed.waiting());
                true
            },
            |_| true,
        );
        counters.capture_done.store(true, Ordering::Relaxed);
        r
    }
}

/// The sink of a live run: the [`LiveSink`] with what it reads besides the frames.
struct Show<'a> {
    sink: &'a mut LiveSink,
    shared: &'a Shared,
    cancel: &'a AtomicBool,
}

impl pipeline::Sink for Show<'_> {
    type Output = ();

    fn run(&mut self, frames: &Receiver<Finished>, engine: &Running) {
        self.sink.run(frames, engine, self.shared, self.cancel);
    }
}

/// A source played at its own pace: wait until the frame at `t` seconds is due (as ffmpeg -re).
/// A frame that comes late (a slow source) moves the clock instead of a burst of frames catching
/// up, as a camera would. False when the run halts while waiting.
fn wait_until_due(anchor: &mut Option<Instant>, t0: Instant, t: f64, late_ms: f64, halted: &dyn Fn() -> bool) -> bool {
    let a = anchor.get_or_insert(t0);
    let due = *a + Duration::from_secs_f64(t.max(0.0));
    let now = Instant::now();
    if now > due + Duration::from_secs_f64(late_ms / 1000.0) {
        *a += now - due;
    }
    let due = *a + Duration::from_secs_f64(t.max(0.0));
    while let Some(left) = due.checked_duration_since(Instant::now()) {
        if halted() {
            return false;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
    true
}

/// What the depth thread does with a frame before its depth stage: apply the viewer's focus
/// and blur and the rate controller's level, and halve the frame for speed when that helps.
fn prepare_hook(shared: &Shared, geo: Geometry, base_policy: WorkingPolicy, given_depth: Option<Plane>) -> Box<dyn FnMut(&mut DepthStage, &mut Job) + Send> {
    let counters = shared.counters.clone();
    let controls = shared.controls.clone();
    let (w, h, dw) = (geo.w, geo.h, geo.dw);
    let mut version = 0;
    let mut applied_shift = 0;
    Box::new(move |depth_stage: &mut DepthStage, j: &mut Job| {
        let n = counters.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        counters.in_flight_max.fetch_max(n, Ordering::Relaxed);
        let (level, shift) = {
            let c = controls.lock().expect("controls");
            let blur_px = c.blur.to_pixels(dw);
            let shift = processing_shift(&base_policy, c.level, (w, h), blur_px);
            if c.version != version || shift != applied_shift {
                version = c.version;
                applied_shift = shift;
                depth_stage.focus.set_spec(c.focus.clone());
                // Blur is given for the displayed source; the stages see a picture `shift` times halved.
                depth_stage.display_width = (dw >> shift).max(1);
                depth_stage.focus.set_blur(match c.blur {
                    BlurAmount::Pixels(p) => BlurAmount::Pixels(p / (1u32 << shift) as f32),
                    share => share,
                });
            }
            depth_stage.policy = policy_for(&base_policy, c.level, w, blur_px);
            (c.level, shift)
        };
        if shift > 0 {
            let (pw, ph) = upsample::working_size((w, h), shift);
            j.full = j.full.resize(pw, ph);
        }
        if let Some(d) = &given_depth {
            j.given_depth = Some(d.clone());
        }
        j.mark = level;
    })
}

/// The end of a live run, on the caller's thread: the window, the output, latency and the
/// rate controller.
struct LiveSink {
    geo: Geometry,
    run_start: Instant,
    adapt: bool,
    stall_timeout: f64,
    url: String,
    initial_focus: FocusSpec,
    base_policy: WorkingPolicy,
    windowed: bool,
    #[cfg(feature = "window")]
    win: Option<window::PreviewWindow>,
    #[cfg(feature = "window")]
    view: ViewMode,
    #[cfg(feature = "window")]
    buf: Vec<u32>,
    muxer: Option<Muxer>,
    side: Option<crate::convert::SideSinks>,
    ctl: RateController,
    hist: LatencyHistogram,
    shown: u64,
    discarded: u64,
    res: BTreeMap<(usize, usize), u64>,
    processed_res: BTreeMap<(usize, usize), u64>,
    changes: Vec<ResolutionChange>,
    stage_sum: StageMs,
    end: Option<EndReason>,
    first_shown: Option<Instant>,
    rss_1s: Option<f64>,
    out_err: Option<anyhow::Error>,
    interval_ema: f64,
    lat_ema: f64,
    last_shown: Option<Instant>,
}

impl LiveSink {
    fn new(job: &PreviewJob, geo: Geometry, base_policy: WorkingPolicy, run_start: Instant) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (max_level, shifts) = ladder(&base_policy, geo, job.render.blur);
        let mut ctl = RateController::new(geo.interval_ms, max_level, cores);
        ctl.set_shifts(shifts);
        Self {
            geo,
            run_start,
            adapt: job.adapt,
            stall_timeout: job.stall_timeout,
            url: job.input.url.clone(),
            initial_focus: job.render.focus.clone(),
            base_policy,
            windowed: cfg!(feature = "window") && job.display == Display::Window,
            #[cfg(feature = "window")]
            win: None,
            #[cfg(feature = "window")]
            view: ViewMode { overlay: true, ..Default::default() },
            #[cfg(feature = "window")]
            buf: Vec::new(),
            muxer: None,
            side: None,
            ctl,
            hist: LatencyHistogram::default(),
            shown: 0,
            discarded: 0,
            res: BTreeMap::new(),
            processed_res: BTreeMap::new(),
            changes: Vec::new(),
            stage_sum: StageMs::default(),
            end: None,
            first_shown: None,
            rss_1s: None,
            out_err: None,
            interval_ema: 0.0,
            lat_ema: 0.0,
            last_shown: None,
        }
    }

    /// Take finished frames until the stages end.
    fn run(&mut self, out_rx: &Receiver<Finished>, running: &Running, shared: &Shared, cancel: &AtomicBool) {
        let halt = &shared.halt;
        loop {
            #[cfg(feature = "window")]
            self.poll_window(shared);
            if cancel.load(Ordering::Relaxed) && !halt.load(Ordering::Relaxed) {
                self.end.get_or_insert(EndReason::Interrupted);
                halt.store(true, Ordering::Relaxed);
            }
            if self.rss_1s.is_none() && self.run_start.elapsed() >= Duration::from_secs(1) {
                self.rss_1s = current_rss_mib();
            }
            let timeout = if self.windowed { Duration::from_millis(8) } else { Duration::from_millis(50) };
            let j = match out_rx.recv_timeout(timeout) {
                Ok(j) => j,
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    self.idle(shared);
                    continue;
                }
            };
            shared.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
            running.release();
            if self.end == Some(EndReason::WindowClosed) || self.out_err.is_some() {
                self.discarded += 1;
                continue;
            }
            if let Err(e) = self.present(&j, shared) {
                self.out_err = Some(e);
                halt.store(true, Ordering::Relaxed);
                self.discarded += 1;
                continue;
            }
            self.account(&j, shared);
        }
    }

    /// No frame came in time: keep the window alive, and end the run when the source has been
    /// quiet for longer than the stall timeout rather than wait for ever.
    fn idle(&mut self, shared: &Shared) {
        #[cfg(feature = "window")]
        if let Some(wd) = self.win.as_mut() {
            wd.pump();
        }
        let counters = &shared.counters;
        let last = counters.last_capture_ms.load(Ordering::Relaxed);
        let since_ms = self.run_start.elapsed().as_millis() as u64;
        let quiet = if last == u64::MAX { since_ms } else { since_ms.saturating_sub(last) };
        if !shared.halt.load(Ordering::Relaxed) && !counters.capture_done.load(Ordering::Relaxed) && quiet as f64 > self.stall_timeout * 1000.0 {
            tracing::warn!("{}: no frame for {:.1} s; ending the preview", self.url, quiet as f64 / 1000.0);
            self.end.get_or_insert(EndReason::SourceStalled);
            shared.halt.store(true, Ordering::Relaxed);
        }
    }

    /// The viewer's keys and mouse.
    #[cfg(feature = "window")]
    fn poll_window(&mut self, shared: &Shared) {
        let Some(wd) = self.win.as_mut() else { return };
        for input in wd.poll() {
            let mut c = shared.controls.lock().expect("controls");
            match input {
                window::Input::Quit => {
                    self.end.get_or_insert(EndReason::WindowClosed);
                    shared.halt.store(true, Ordering::Relaxed);
                }
                window::Input::Blur(f) => {
                    c.blur = match c.blur {
                        BlurAmount::Pixels(p) => BlurAmount::Pixels((p * f).clamp(0.0, 1000.0)),
                        BlurAmount::WidthShare(s) => BlurAmount::WidthShare((s * f).clamp(0.0, 0.25)),
                    };
                    c.version += 1;
                    let (max_level, shifts) = ladder(&self.base_policy, self.geo, c.blur);
                    self.ctl.max_level = max_level;
                    self.ctl.set_shifts(shifts);
                }
                window::Input::FocusAt(p) => {
                    // The window shows the picture as stored; focus points are given as displayed.
                    c.focus = FocusSpec::Point(Rotation((360 - self.geo.rotation.0) % 360).display_to_storage(p));
                    c.version += 1;
                }
                window::Input::FocusReset => {
                    c.focus = self.initial_focus.clone();
                    c.version += 1;
                }
                window::Input::ToggleDepth => self.view.depth = !self.view.depth,
                window::Input::ToggleSplit => self.view.split = !self.view.split,
                window::Input::ToggleOverlay => self.view.overlay = !self.view.overlay,
            }
        }
    }

    /// Show the frame and write it out.
    fn present(&mut self, j: &Finished, shared: &Shared) -> Result<()> {
        let (w, h) = (self.geo.w, self.geo.h);
        #[cfg(feature = "window")]
        if self.win.is_some() {
            compose(&mut self.buf, (w, h), j, self.view);
            if self.view.overlay {
                let lines = self.overlay_lines(j, shared);
                let scale = if w >= 960 { 2 } else { 1 };
                font::draw_panel(&mut self.buf, w, h, 4, 4, &lines, scale);
            }
            self.win.as_mut().expect("window").present(&self.buf)?;
        }
        #[cfg(not(feature = "window"))]
        let _ = shared;
        if let Some(m) = self.muxer.as_mut() {
            let out = &*j.output.rgb();
            let full;
            let out = if (out.width, out.height) == (w, h) {
                out
            } else {
                full = out.resize(w, h);
                &full
            };
            m.write_frame(out, j.pts)?;
        }
        if let Some(s) = self.side.as_mut() {
            s.frame(j, (w, h))?;
        }
        Ok(())
    }

    #[cfg(feature = "window")]
    fn overlay_lines(&self, j: &Finished, shared: &Shared) -> Vec<String> {
        let c = shared.controls.lock().expect("controls");
        let focus = match &c.focus {
            FocusSpec::Depth(d) => format!("{d:.2}"),
            FocusSpec::Point(p) => format!("AT {:.2},{:.2}", p.x, p.y),
            FocusSpec::Autofocus => "AUTO".into(),
            FocusSpec::Track(_) => "TRACK".into(),
        };
        let (work, processed) = (j.work_size, (j.full.width, j.full.height));
        let view = self.view;
        vec![
            format!("{:.1} FPS  LATENCY {:.0} MS", if self.interval_ema > 0.0 { 1.0 / self.interval_ema } else { 0.0 }, self.lat_ema),
            format!("WORK {}X{} OF {}X{}  DROPPED {}", work.0, work.1, processed.0, processed.1, shared.counters.replaced.load(Ordering::Relaxed)),
            format!("BLUR {:.1} PX  FOCUS {focus}", c.blur.to_pixels(self.geo.dw)),
            format!("{}  {}", if view.depth { "DEPTH" } else if view.split { "SOURCE | RESULT" } else { "RESULT" }, "D S WHEEL CLICK Q"),
        ]
    }

    /// Latency, rates and resolutions of a shown frame; the rate controller's next step.
    fn account(&mut self, j: &Finished, shared: &Shared) {
        let (work, processed, ms, level) = (j.work_size, (j.full.width, j.full.height), j.ms, j.mark);
        let now = Instant::now();
        let lat = now.duration_since(j.born).as_secs_f64() * 1e3;
        self.hist.add(lat);
        tracing::debug!(frame = j.index, latency_ms = lat, depth_ms = ms.depth, lens_ms = ms.lens, upsample_ms = ms.upsample, work = ?work, "shown");
        self.shown += 1;
        self.first_shown.get_or_insert(now);
        if let Some(prev) = self.last_shown {
            // Smooth the interval, not its inverse (which would read high).
            let dt = now.duration_since(prev).as_secs_f64();
            self.interval_ema = if self.interval_ema == 0.0 { dt } else { self.interval_ema + 0.1 * (dt - self.interval_ema) };
        }
        self.last_shown = Some(now);
        self.lat_ema = if self.lat_ema == 0.0 { lat } else { self.lat_ema + 0.1 * (lat - self.lat_ema) };
        self.stage_sum.depth += ms.depth;
        self.stage_sum.lens += ms.lens;
        self.stage_sum.upsample += ms.upsample;
        *self.res.entry(work).or_default() += 1;
        *self.processed_res.entry(processed).or_default() += 1;
        if self.changes.last().is_none_or(|c| (c.width, c.height) != work) {
            self.changes.push(ResolutionChange { t: self.run_start.elapsed().as_secs_f64(), width: work.0, height: work.1 });
        }
        if self.adapt && !shared.halt.load(Ordering::Relaxed) {
            let captured = shared.counters.captured.load(Ordering::Relaxed);
            let dropped = shared.counters.replaced.load(Ordering::Relaxed);
            let max_level = self.ctl.max_level;
            if let Some(step) = self.ctl.observe(self.run_start.elapsed().as_secs_f64(), level, ms, captured, dropped, max_level) {
                let mut c = shared.controls.lock().expect("controls");
                c.level = self.ctl.level;
                tracing::info!(?step, level = self.ctl.level, "working resolution");
            }
        }
    }

    /// The `--stats` summary. `left_in_slot`: frames still waiting in the capture slot.
    fn stats(&self, job: &PreviewJob, info: &VideoInfo, end: EndReason, counters: &Counters, left_in_slot: u64, in_flight: usize) -> LiveStats {
        let captured = counters.captured.load(Ordering::Relaxed);
        let replaced = counters.replaced.load(Ordering::Relaxed);
        // Frames past the slot that never reached this thread, a frame left in the slot, and
        // those this thread discarded.
        let left_in_pipeline = counters.in_flight.load(Ordering::Relaxed) as u64;
        let discarded = left_in_pipeline + left_in_slot + self.discarded;
        let seconds = self.first_shown.map_or(0.0, |_| self.run_start.elapsed().as_secs_f64());
        let n = self.shown.max(1) as f64;
        let resolutions = |m: &BTreeMap<(usize, usize), u64>| m.iter().rev().map(|(&(width, height), &frames)| Resolution { width, height, frames }).collect();
        LiveStats {
            source: job.input.url.clone(),
            source_width: info.width,
            source_height: info.height,
            source_fps: info.fps,
            end,
            seconds,
            frames_captured: captured,
            frames_shown: self.shown,
            frames_dropped: replaced + discarded,
            frames_replaced: replaced,
            frames_discarded_at_end: discarded,
            latency_ms_p50: self.hist.quantile(0.5),
            latency_ms_p95: self.hist.quantile(0.95),
            latency_ms_max: self.hist.max(),
            fps: if seconds > 0.0 { self.shown as f64 / seconds } else { 0.0 },
            working_resolutions: resolutions(&self.res),
            resolution_changes: self.changes.clone(),
            processed_resolutions: resolutions(&self.processed_res),
            stage_ms_mean: [("depth", self.stage_sum.depth / n), ("lens", self.stage_sum.lens / n), ("upsample", self.stage_sum.upsample / n)].into_iter().collect(),
            queues: QueueReport {
                capture_slot: 1,
                between_stages: 1,
                in_flight_limit: in_flight,
                in_flight_max: counters.in_flight_max.load(Ordering::Relaxed),
                longest_seen: counters.longest_queue.load(Ordering::Relaxed),
            },
            rss_mib_after_1s: self.rss_1s,
            rss_mib_end: current_rss_mib(),
            peak_rss_mib: peak_rss_mib(),
        }
    }
}

/// The deepest level for a blur, and how many halvings each level gets before the stages.
fn ladder(base: &WorkingPolicy, geo: Geometry, blur: BlurAmount) -> (u32, Vec<u32>) {
    let blur_px = blur.to_pixels(geo.dw);
    let size = (geo.w, geo.h);
    let max = deepest_level(base, size, blur_px);
    (max, (0..=max).map(|l| processing_shift(base, l, size, blur_px)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_halve_the_working_picture_until_the_floor() {
        let base = WorkingPolicy::default();
        // 320 wide: the base policy keeps it whole; each level halves it, down to 20 px (≥ 16).
        assert_eq!(working_size(&base, 0, (320, 240), 8.0), (320, 240));
        assert_eq!(working_size(&base, 1, (320, 240), 8.0), (160, 120));
        assert_eq!(working_size(&base, 2, (320, 240), 8.0), (80, 60));
        assert_eq!(deepest_level(&base, (320, 240), 8.0), 3);
        // 1280 wide: the base policy already halves once (max_width 960).
        assert_eq!(working_size(&base, 0, (1280, 720), 32.0), (640, 360));
        assert_eq!(working_size(&base, 1, (1280, 720), 32.0), (320, 180));
        // The processed picture stays within 4× the working width.
        assert_eq!(processing_shift(&base, 0, (1280, 720), 32.0), 0);
        assert_eq!(processing_shift(&base, 1, (1280, 720), 32.0), 0);
        assert_eq!(processing_shift(&base, 2, (1280, 720), 32.0), 1);
        assert_eq!(processing_shift(&base, 3, (1280, 720), 32.0), 2);
        // Working pictures narrower than 40 px are not offered.
        assert_eq!(deepest_level(&base, (1280, 720), 32.0), 4);
    }

    #[test]
    fn sources() {
        let s = resolve_source(None, None, vec![]);
        assert_eq!((s.url.as_str(), s.format.as_deref()), ("/dev/video0", Some("v4l2")));
        assert!(is_device(&s));
        let s = resolve_source(Some("testsrc2"), Some("lavfi"), vec![]);
        assert!(!is_device(&s));
        let s = resolve_source(Some("clip.mp4"), None, vec![]);
        assert_eq!(s.format, None);
    }

    #[test]
    fn output_defaults() {
        let job = PreviewJob::new(InputSpec::default(), RenderOptions::default(), Default::default());
        let s = output_spec(&job, Path::new("-"), None);
        assert_eq!((s.format.as_deref(), s.codec.as_deref(), s.pix_fmt.as_deref()), (Some("yuv4mpegpipe"), Some("wrapped_avframe"), Some("yuv420p")));
        let s = output_spec(&job, Path::new("out.mp4"), None);
        assert_eq!((s.format.as_deref(), s.codec.as_deref(), s.preset.as_deref()), (None, None, Some("ultrafast")));
        let s = output_spec(&job, Path::new("out.nut"), None);
        assert_eq!((s.codec.as_deref(), s.preset.as_deref()), (Some("rawvideo"), None));
    }
}
