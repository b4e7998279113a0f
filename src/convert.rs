//! `convert`: a recorded video in, the same video with a shallow depth of field out.
//!
//! Threads: decode → depth → lens blur → upsample → encode/mux, joined by bounded channels
//! (back-pressure: a slow stage makes the decoder wait, so memory stays flat). Packets of the
//! other streams go straight from the demuxer to the muxer, untouched. The output is written
//! under a temporary name beside the target and renamed on success; a failure removes it.
//! Ctrl-C stops decoding, finishes the container with what was processed, keeps it, and the
//! run reports `cancelled`.

use crate::config::RenderOptions;
use crate::exports::{PlaneExport, PlaneKind, Progress};
use crate::outfile::TempOutput;
use crate::focus::Rotation;
use crate::pipeline::{self, Finished, Job, Output, OutputForm, Stats};
use crate::video::{Cut, Demuxer, InputSpec, Muxer, OutputSpec, StreamPacket, VideoInfo};
use anyhow::{bail, Context, Result};
use crossbeam_channel::{bounded, select};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A conversion request.
pub struct ConvertJob {
    pub input: InputSpec,
    /// Target path, or `-` for stdout.
    pub output: PathBuf,
    pub overwrite: bool,
    pub encode: OutputSpec,
    pub cut: Cut,
    pub render: RenderOptions,
    /// Where the models come from.
    pub models: deeplens_onnx::OnnxModels,
    /// Write the focus actually used, one entry per frame.
    pub write_focus_track: Option<PathBuf>,
    /// Show a progress line on stderr (when it is a terminal).
    pub progress: bool,
    /// Frames waiting between two stages at most.
    pub capacity: usize,
    /// Called with every finished frame before it is encoded (measurements).
    pub observer: Option<Box<dyn FnMut(&Finished)>>,
    /// Render only a plan's segment: frames numbered and timed as in the whole run, video only.
    pub segment: Option<SegmentRange>,
    /// Side outputs, progress and the report.
    pub extras: Extras,
}

/// What a run writes besides the video.
#[derive(Clone, Debug, Default)]
pub struct Extras {
    /// `--write-depth`: the stabilised depth per output frame (a grey video or a `%05d` pattern).
    pub write_depth: Option<PathBuf>,
    /// `--write-matte`: the in-focus matte per output frame.
    pub write_matte: Option<PathBuf>,
    /// `--depth-export-invert`: larger = farther in the depth export.
    pub depth_invert: bool,
    /// `--progress FILE|pipe:1`.
    pub progress: Option<String>,
    /// `--report FILE.json`.
    pub report: Option<PathBuf>,
    /// The resolved options with their sources, for the report.
    pub options: serde_json::Value,
}

/// The side outputs of a run, fed by the sink with each finished frame.
pub(crate) struct SideSinks {
    depth: Option<PlaneExport>,
    matte: Option<PlaneExport>,
    progress: Option<Progress>,
    display_width: usize,
    frame_seconds: f64,
    frames: u64,
    out_seconds: f64,
}

impl SideSinks {
    /// Check and open every side output before any work starts.
    pub(crate) fn open(x: &Extras, overwrite: bool, inputs: &[&std::path::Path], info: &crate::video::VideoInfo, video_to_stdout: bool) -> Result<Self> {
        let open = |p: &Option<PathBuf>, kind| p.as_ref().map(|p| PlaneExport::new(p, kind, overwrite, inputs, info.time_base, info.frame_rate)).transpose();
        let depth = open(&x.write_depth, PlaneKind::Depth { invert: x.depth_invert })?;
        let matte = open(&x.write_matte, PlaneKind::Matte)?;
        let progress = x.progress.as_deref().map(|t| Progress::open(t, video_to_stdout, overwrite)).transpose()?;
        if let Some(r) = &x.report {
            crate::outfile::check_target(r, overwrite, inputs).context("--report")?;
        }
        let frame_seconds = if info.fps > 0.0 { 1.0 / info.fps } else { 0.0 };
        Ok(Self { depth, matte, progress, display_width: info.display_size().0, frame_seconds, frames: 0, out_seconds: 0.0 })
    }

    /// One finished frame (after its stages, before it is encoded), exported at `size`.
    pub(crate) fn frame(&mut self, j: &Finished, (width, height): (usize, usize)) -> Result<()> {
        if self.depth.is_some() || self.matte.is_some() {
            let (d, f) = (&j.depth, j.focus);
            let blur_px = f.blur.to_pixels(self.display_width);
            let full = d.resize(width, height);
            for e in [self.depth.as_mut(), self.matte.as_mut()].into_iter().flatten() {
                let p = e.plane(&full, f.focus, blur_px);
                e.write(j.index, j.pts, &p)?;
            }
        }
        self.frames += 1;
        self.out_seconds = j.t + self.frame_seconds;
        if let Some(p) = self.progress.as_mut() {
            p.frame(self.frames, self.out_seconds);
        }
        Ok(())
    }

    /// Keep the side files (after the video was committed) and write the last progress block.
    pub(crate) fn finish(self) -> Result<()> {
        for e in [self.depth, self.matte].into_iter().flatten() {
            e.commit()?;
        }
        if let Some(mut p) = self.progress {
            p.end(self.frames, self.out_seconds);
        }
        Ok(())
    }
}

/// One segment of a plan (`deeplens render-segment`): `frames` frames from the cut's start,
/// numbered from `first_index` and timed from `t0` as the whole run would, with timestamps
/// shifted by `timeline_start` as the whole run's `--start` shifts them.
#[derive(Clone, Copy, Debug)]
pub struct SegmentRange {
    pub first_index: u64,
    pub t0: f64,
    pub frames: u64,
    pub timeline_start: Option<f64>,
}

/// How a run ended.
pub struct ConvertReport {
    pub stats: Stats,
    pub cancelled: bool,
}

/// Refuse stills in `convert`: FFmpeg opens them as one-frame videos.
fn is_still_format(name: &str) -> bool {
    name.ends_with("_pipe") || matches!(name, "image2" | "png" | "apng" | "webp" | "gif")
}

pub fn convert(mut job: ConvertJob, cancel: Arc<AtomicBool>) -> Result<ConvertReport> {
    job.render.record_focus |= job.write_focus_track.is_some();
    let mut demux = Demuxer::open(&job.input)?;
    if job.input.format.is_none() && is_still_format(&demux.format_name()) && demux.info.frames.unwrap_or(1) <= 1 {
        bail!("{} is a still image; use `deeplens image`", job.input.url);
    }
    let to_stdout = job.output.as_os_str() == "-";
    let input_path = std::path::PathBuf::from(&job.input.url);
    let mut inputs: Vec<&std::path::Path> = vec![input_path.as_path()];
    if let Some(d) = &job.render.depth_given {
        inputs.push(d);
    }
    if !to_stdout {
        crate::outfile::check_target(&job.output, job.overwrite, &inputs)?;
    }
    if let Some(p) = &job.write_focus_track {
        crate::outfile::check_target(p, job.overwrite, &inputs).context("--write-focus-track")?;
    }
    crate::video::OutputSpec { path: job.output.clone(), ..job.encode.clone() }.check()?;
    let info = demux.info.clone();
    let (dw, _) = info.display_size();
    let mut side = SideSinks::open(&job.extras, job.overwrite, &inputs, &info, to_stdout)?;
    let stages = job.render.build_stages(&job.models, dw, Rotation(info.rotation), info.high_bit_depth)?;
    let models_used = models_used(&job.render, &stages);

    // A given depth video: decoded on its own thread, one grey picture per frame.
    let depth_video = match &job.render.depth_given {
        Some(p) => Some(Demuxer::open(&InputSpec { url: p.display().to_string(), ..Default::default() }).with_context(|| "--depth")?),
        None => None,
    };

    let temp = if to_stdout { None } else { Some(TempOutput::new(&job.output, job.overwrite)?) };
    let mut spec = job.encode.clone();
    spec.path = temp.as_ref().map_or_else(|| PathBuf::from("-"), |t| t.tmp.clone());
    spec.display = Some(job.output.display().to_string());
    let (others, offset) = match job.segment {
        Some(seg) => (&[][..], seg.timeline_start),
        None => (&demux.others[..], job.cut.start),
    };
    let mut muxer = Muxer::new(&spec, &info, others, offset.filter(|s| *s > 0.0))?;
    let encoder_name = muxer.codec_name().to_string();

    let abort = Arc::new(AtomicBool::new(false));
    let cap = job.capacity.max(1);
    let (pkt_tx, pkt_rx) = bounded::<StreamPacket>(256);
    let (focus_tx, focus_rx) = bounded(1);
    let mut opts = pipeline::EngineOptions::new(cap, pipeline::Schedule::Bounded, abort.clone());
    opts.on_focus_done = job.write_focus_track.as_ref().map(|_| focus_tx);
    // An 8-bit 4:2:0 encoder gets its picture from the last upsampling step itself, band by
    // band: the full-resolution float output is never stored (the muxer checks the size).
    if let Some(f) = muxer.yuv420_format() {
        opts.output = OutputForm::Yuv420(f);
    }
    // Two frames in the lens stage at once where there are two cores to share (a file has no
    // latency to keep low).
    opts.lens_threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(2);

    let (dv_tx, dv_rx) = bounded::<crate::frame::Plane>(cap);
    // A given depth video is on the input's timeline: `--start` cuts it the same way (a plan's
    // per-segment depth already starts at its segment).
    let dv_cut = if job.segment.is_some() { Cut::default() } else { Cut { start: job.cut.start, duration: None } };
    let dv_handle = depth_video.map(|dv| {
        let cancel = cancel.clone();
        std::thread::Builder::new()
            .name("depth-input".into())
            .spawn(move || dv.run(dv_cut, &|| cancel.load(Ordering::Relaxed), |f| dv_tx.send(f.rgb.luma()).is_ok(), |_| true))
            .expect("spawn depth input thread")
    });
    let has_given = dv_handle.is_some();

    let cut = job.cut;
    // Encoded frames' memory goes back to the decoder (a few frames' worth: about as many as
    // are in flight between the two; with two, bursts from the encoder overflowed it and the
    // faults went back from about 123,000 to 144,000 a clip). What waits there is bounded (four
    // frames) and the conversion's peak RSS went down with it, not up.
    let recycler = deeplens_core::frame::Recycler::new(4);
    demux.recycle(recycler.clone());
    let decode = Decode { demux, cut, segment: job.segment, pkt_tx, depth: has_given.then_some(dv_rx), cancel: cancel.clone() };

    // Decode → stages → encode and mux on this thread, through the frame engine.
    let start = Instant::now();
    let total = job.segment.map(|s| s.frames).or(info.frames.map(|n| match (cut.start, cut.duration) {
        (_, Some(d)) => ((d * info.fps).round() as u64).min(n),
        (Some(s), None) => n.saturating_sub((s * info.fps).round() as u64),
        _ => n,
    }));
    let show_progress = job.progress && std::io::stderr().is_terminal();
    let mut sink = Encode { packets: pkt_rx, recycler, muxer: &mut muxer, observer: job.observer.as_mut(), side: &mut side, show_progress, total, start };
    let ran = pipeline::run(stages, decode, &mut sink, opts);
    let (frames, encode_times, enc_err) = ran.sink;
    let decode_res = ran.source.expect("a file's source is waited for");
    let (stage_res, mut times) = (ran.stages, ran.times);
    if let Some(h) = dv_handle {
        let _ = h.join();
    }
    if let Some(e) = enc_err {
        return Err(e);
    }
    let (_, decode_times) = decode_res.map_err(anyhow::Error::from)?;
    drop(sink);
    stage_res?;
    times.decode = decode_times;
    times.encode = encode_times;
    if frames == 0 {
        // Never an OUTPUT without a frame (nor the old OUTPUT replaced by one).
        if cancel.load(Ordering::Relaxed) {
            bail!("interrupted before the first frame; {} not written", job.output.display());
        }
        bail!("{}: no video frames in the range asked (is --start past the end, or --duration too short?); nothing written", job.input.url);
    }
    muxer.finish()?;
    if let Some(t) = temp {
        t.commit()?;
    }
    if let Some(path) = &job.write_focus_track {
        if let Ok(ctrl) = focus_rx.try_recv() {
            let t = TempOutput::new(path, job.overwrite)?;
            crate::focus::write_track(&t.tmp, ctrl.history(), dw)?;
            t.commit()?;
        }
    }
    side.finish()?;
    let stats = Stats { frames, seconds: start.elapsed().as_secs_f64(), times };
    if let Some(path) = &job.extras.report {
        let output = if to_stdout { "-".to_string() } else { crate::report::abs(&job.output) };
        write_report(&job, path, &info, &output, &encoder_name, models_used, &stats, cancel.load(Ordering::Relaxed))?;
    }
    Ok(ConvertReport { stats, cancelled: cancel.load(Ordering::Relaxed) })
}

/// `--report` of a conversion (or a plan's segment).
#[allow(clippy::too_many_arguments)]
fn write_report(job: &ConvertJob, path: &Path, info: &VideoInfo, output: &str, encoder_name: &str, models_used: Vec<serde_json::Value>, stats: &Stats, cancelled: bool) -> Result<()> {
    let fps = if info.fps > 0.0 { info.fps } else { 0.0 };
    crate::report::Report {
        command: if job.segment.is_some() { "render-segment" } else { "convert" },
        input: serde_json::json!({
            "path": if std::path::Path::new(&job.input.url).exists() { crate::report::abs(std::path::Path::new(&job.input.url)) } else { job.input.url.clone() },
            "format": job.input.format,
            "codec": info.codec,
            "width": info.width,
            "height": info.height,
            "rotation": info.rotation,
            "frames": info.frames,
            "duration": info.duration,
            "fps": fps,
        }),
        output: serde_json::json!({
            "path": output,
            "codec": encoder_name,
            "width": info.width,
            "height": info.height,
            "frames": stats.frames,
            "duration": if fps > 0.0 { stats.frames as f64 / fps } else { 0.0 },
        }),
        options: job.extras.options.clone(),
        models: models_used,
        stages: crate::report::stage_medians(&stats.times),
        frames_dropped: 0,
        cancelled,
    }
    .write(path, job.overwrite)?;
    Ok(())
}

/// The source of a conversion: decode frames (with their given depth, if any) into the stages,
/// packets of the copied streams to the muxer. Reports the frames decoded and the milliseconds
/// each took.
struct Decode {
    demux: Demuxer,
    cut: Cut,
    segment: Option<SegmentRange>,
    pkt_tx: crossbeam_channel::Sender<StreamPacket>,
    /// A given depth video's frames, decoded on their own thread.
    depth: Option<crossbeam_channel::Receiver<crate::frame::Plane>>,
    cancel: Arc<AtomicBool>,
}

impl pipeline::Source for Decode {
    type Output = (u64, Vec<f64>);

    fn run(self, feed: &pipeline::Feed) -> deeplens_core::Result<(u64, Vec<f64>)> {
        let Decode { demux, cut, segment, pkt_tx, depth, cancel } = self;
        let mut times = Vec::new();
        let mut t0 = Instant::now();
        let mut missing_depth = false;
        let n = demux.run(
            cut,
            &|| cancel.load(Ordering::Relaxed) || feed.stopped(),
            |f| {
                times.push(t0.elapsed().as_secs_f64() * 1e3);
                let mut j = match segment {
                    Some(s) => Job::new(s.first_index + f.index, f.pts, s.t0 + f.t, f.rgb),
                    None => Job::new(f.index, f.pts, f.t, f.rgb),
                };
                let last = segment.is_some_and(|s| f.index + 1 >= s.frames);
                if let Some(rx) = &depth {
                    match rx.recv() {
                        Ok(d) => j.given_depth = Some(d),
                        Err(_) => {
                            missing_depth = true;
                            return false;
                        }
                    }
                }
                let ok = matches!(feed.send(j), pipeline::Put::Taken { .. });
                t0 = Instant::now();
                ok && !last
            },
            |p| pkt_tx.send(p).is_ok(),
        )?;
        if missing_depth {
            deeplens_core::fail!(Input, "--depth video has fewer frames than the input (ran out at frame {n})");
        }
        Ok((n, times))
    }
}

/// The sink of a conversion: encode and mux until both the stages and the copied streams end
/// (or the muxer fails). Reports the frames written, the milliseconds each took to encode, and
/// the error.
struct Encode<'a> {
    packets: crossbeam_channel::Receiver<StreamPacket>,
    /// Where each encoded frame's input picture goes back to the decoder.
    recycler: deeplens_core::frame::Recycler,
    muxer: &'a mut Muxer,
    observer: Option<&'a mut Box<dyn FnMut(&Finished)>>,
    side: &'a mut SideSinks,
    show_progress: bool,
    total: Option<u64>,
    start: Instant,
}

impl pipeline::Sink for Encode<'_> {
    type Output = (u64, Vec<f64>, Option<anyhow::Error>);

    fn run(&mut self, out_rx: &crossbeam_channel::Receiver<Finished>, _engine: &pipeline::Running) -> Self::Output {
        let mut encode_times = Vec::new();
        let mut frames = 0u64;
        let mut enc_err: Option<anyhow::Error> = None;
        let mut jobs_open = true;
        let mut pkts_open = true;
        let pkt_rx = &self.packets;
        while jobs_open || pkts_open {
            select! {
                recv(out_rx) -> msg => match msg {
                    Ok(j) => {
                        if let Some(obs) = self.observer.as_mut() {
                            obs(&j);
                        }
                        if let Err(e) = self.side.frame(&j, (j.full.width, j.full.height)) {
                            enc_err = Some(e);
                            break;
                        }
                        let t = Instant::now();
                        let written = match &j.output {
                            Output::Rgb(img) => self.muxer.write_frame(img, j.pts),
                            Output::Yuv420(pic, _) => self.muxer.write_yuv420(pic, j.pts),
                        };
                        if let Err(e) = written {
                            enc_err = Some(e.into());
                            break;
                        }
                        encode_times.push(t.elapsed().as_secs_f64() * 1e3);
                        self.recycler.give(j.full.data);
                        frames += 1;
                        if self.show_progress {
                            progress_line(frames, self.total, self.start.elapsed().as_secs_f64());
                        }
                    }
                    Err(_) => jobs_open = false,
                },
                recv(pkt_rx) -> msg => match msg {
                    Ok(p) => {
                        if let Err(e) = self.muxer.write_packet(p) {
                            enc_err = Some(e.into());
                            break;
                        }
                    }
                    Err(_) => pkts_open = false,
                },
            }
        }
        if self.show_progress {
            eprintln!();
        }
        (frames, encode_times, enc_err)
    }
}

fn progress_line(done: u64, total: Option<u64>, secs: f64) {
    let fps = done as f64 / secs.max(1e-9);
    match total {
        Some(n) if n > 0 => {
            let eta = (n.saturating_sub(done)) as f64 / fps.max(1e-9);
            let pct = 100.0 * done as f64 / n as f64;
            let bar = 30;
            let filled = ((pct / 100.0) * bar as f64).round().min(bar as f64) as usize;
            eprint!("\r[{}{}] {done}/{n} frames {pct:5.1}%  {fps:5.1} fps  ETA {:>4.0}s ", "#".repeat(filled), "-".repeat(bar - filled), eta);
        }
        _ => eprint!("\r{done} frames  {fps:5.1} fps "),
    }
}

/// The model files a run uses, with their sha256 and the provider that runs each.
pub(crate) fn models_used(render: &crate::config::RenderOptions, stages: &crate::pipeline::Stages) -> Vec<serde_json::Value> {
    let mut v = Vec::new();
    if let Some(m) = &stages.depth.model {
        if let Some(p) = render.depth_model.clone().or_else(crate::config::default_depth_model) {
            v.push(crate::report::model_entry("depth", &p, m.provider()));
        }
    }
    if render.renderer == crate::config::RendererKind::Learned {
        for (role, rel, provider) in [("lens", "models/lens.onnx", stages.lens.provider()), ("upsample", "models/upsample.onnx", stages.upsampler.provider())] {
            if let Some(p) = crate::config::find_project_file(rel) {
                v.push(crate::report::model_entry(role, &p, provider));
            }
        }
    }
    v
}
