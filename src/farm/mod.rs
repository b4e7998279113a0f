//! Scale-out: a conversion cut into segments that a farm renders independently, then joined.
//!
//! - `plan` runs the temporal part of the pipeline once over the whole clip (decode, depth,
//!   depth stabilisation, focus: [`DepthStage::analyse`](crate::pipeline::DepthStage::analyse)),
//!   and stores what a segment needs to start exactly where a single run would be: each
//!   frame's stabilised depth (16-bit FFV1, one file per segment) and its focus and blur (a
//!   `--write-focus-track` record). Segments are contiguous frame ranges cut at keyframes where
//!   the input has them near the even split.
//! - `render-segment` renders one range from those: lens blur, upsampling and encoding only,
//!   video only, the plan's encoder settings, committed atomically (a retry is harmless).
//! - `join` checks every segment against the plan, concatenates their packets without
//!   re-encoding and muxes the input's other streams once.
//!
//! The depth network runs once per frame, in `plan`; a segment decodes its frames again. Paths in
//! the plan are relative to the plan's folder, so the folder can move to shared storage.

pub mod engines;

use crate::convert::{ConvertJob, SegmentRange};
use crate::outfile::TempOutput;
use crate::pipeline::{DepthStage, Job};
use crate::video::{self, Cut, Demuxer, GreyWriter, InputSpec, OutputSpec, VideoInfo};
use anyhow::{bail, Context, Result};
use deeplens_core::config::{RenderOptions, RendererKind};
use deeplens_core::focus::{BlurAmount, FocusSpec, Key, KeyedBy, Rotation, Target, Track};
use deeplens_core::lens::ApertureShape;
pub use deeplens_core::plan::{is_url, Plan, PlanCut, PlanEncode, PlanRender, PlanSegment, PlanVideo, MAX_PLAN_BYTES, MAX_SEGMENTS, PLAN_VERSION};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Read and check a plan file (deeplens_core::plan); returns it and its folder.
fn load_plan(path: &Path) -> Result<(Plan, PathBuf)> {
    let text = read_limited(path, MAX_PLAN_BYTES as u64).with_context(|| format!("cannot read plan {}", path.display()))?;
    let plan = Plan::parse(&text, &path.display().to_string())?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    Ok((plan, dir))
}

fn plan_segment<'a>(plan: &'a Plan, k: usize, plan_path: &Path) -> Result<&'a PlanSegment> {
    plan.segments.get(k).with_context(|| format!("{}: no segment {k} (the plan has {}: 0 to {})", plan_path.display(), plan.segments.len(), plan.segments.len() - 1))
}

/// Read a text file of at most `limit` bytes.
fn read_limited(path: &Path, limit: u64) -> Result<String> {
    Ok(deeplens_core::config::read_text_limited(path, limit, "file")?)
}

/// `to` relative to the folder `from` (both made absolute first).
fn relative_to(to: &Path, from: &Path) -> PathBuf {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (to, from) = (abs(to), abs(from));
    let (tc, fc): (Vec<_>, Vec<_>) = (to.components().collect(), from.components().collect());
    let common = tc.iter().zip(&fc).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..fc.len() {
        rel.push("..");
    }
    for c in &tc[common..] {
        rel.push(c);
    }
    rel
}

/// Write `text` to `path` through a temporary file and a rename.
fn write_atomic(path: &Path, text: &str, replace: bool) -> Result<()> {
    let t = TempOutput::new(path, replace)?;
    std::fs::write(&t.tmp, text).with_context(|| format!("cannot write {}", path.display()))?;
    t.commit()
}

/// What `deeplens plan` was asked.
pub struct PlanJob {
    pub input: InputSpec,
    pub output: PathBuf,
    pub work_dir: Option<PathBuf>,
    pub segments: usize,
    pub overwrite: bool,
    pub cut: Cut,
    pub render: RenderOptions,
    pub encode: OutputSpec,
    pub models: deeplens_onnx::OnnxModels,
}

/// Segment starts (indices into the frames in presentation order): the even split, each moved
/// to the nearest keyframe within a quarter of a segment, strictly increasing.
pub fn choose_starts(frames: usize, keyframes: &[usize], n: usize) -> Vec<(usize, bool)> {
    let mut starts = vec![(0usize, keyframes.first() == Some(&0))];
    let slack = frames / n.max(1) / 4;
    for k in 1..n {
        let target = k * frames / n;
        let prev = starts.last().map_or(0, |s| s.0);
        let near = keyframes
            .iter()
            .copied()
            .filter(|&f| f > prev && f < frames && f.abs_diff(target) <= slack)
            .min_by_key(|&f| f.abs_diff(target));
        let (s, key) = match near {
            Some(f) => (f, true),
            None => (target, keyframes.binary_search(&target).is_ok()),
        };
        if s > prev && s < frames {
            starts.push((s, key));
        }
    }
    starts
}

/// `deeplens plan`: analyse the clip, write the per-segment depth, the focus track and plan.json.
pub fn plan(mut job: PlanJob, cancel: Arc<AtomicBool>) -> Result<PathBuf> {
    let (work_dir, ext, created) = plan_target(&job)?;
    let planned = plan_into(&mut job, &work_dir, &ext, &cancel);
    if planned.is_err() && created {
        // A refused or interrupted plan leaves no half-written folder behind.
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    planned
}

fn plan_into(job: &mut PlanJob, work_dir: &Path, ext: &str, cancel: &Arc<AtomicBool>) -> Result<PathBuf> {
    let starts = segment_starts(job)?;

    // The temporal pass: depth, stabilisation, focus, exactly as the depth thread of a run.
    let demux = Demuxer::open(&job.input)?;
    let info = demux.info.clone();
    let (dw, _) = info.display_size();
    let depth_model = job.render.depth_model.clone().or_else(deeplens_core::config::default_depth_model);
    let boost = job.render.highlight_boost.unwrap_or(if info.high_bit_depth { 0.0 } else { RenderOptions::DEFAULT_BOOST_8BIT });
    let renderer = job.render.renderer;
    job.render.renderer = RendererKind::Physical;
    job.render.record_focus = true;
    let stages = job.render.build_stages(&job.models, dw, Rotation(info.rotation), info.high_bit_depth)?;
    let (mut depth_stage, _, _) = stages.split();
    let segments = analyse_segments(job, demux, &starts, work_dir, ext, &mut depth_stage, cancel)?;
    if cancel.load(Ordering::Relaxed) {
        bail!("interrupted; no plan written");
    }
    let frames: u64 = segments.iter().map(|s| s.frames).sum();
    if frames == 0 {
        bail!("{}: no frame could be decoded", job.input.url);
    }
    let focus_path = work_dir.join("focus.json");
    write_atomic(&focus_path, &deeplens_core::focus::track_json(depth_stage.focus.history(), dw), true)?;
    let plan = plan_document(job, work_dir, &info, renderer, boost, depth_model, segments)?;
    let path = work_dir.join("plan.json");
    let mut text = serde_json::to_string_pretty(&plan)?;
    text.push('\n');
    write_atomic(&path, &text, true)?;
    Ok(path)
}

/// Checks what `plan` is asked before any work; its work folder, the segments' extension, and
/// whether the folder was made here.
fn plan_target(job: &PlanJob) -> Result<(PathBuf, String, bool)> {
    if job.input.url == "-" {
        bail!("plan needs an input it can read again (a file or URL), not stdin");
    }
    if job.output.as_os_str() == "-" {
        bail!("plan needs an OUTPUT file, not stdout");
    }
    if job.segments == 0 || job.segments > MAX_SEGMENTS {
        bail!("--segments must be between 1 and {MAX_SEGMENTS}");
    }
    crate::outfile::check_target(&job.output, job.overwrite, &[Path::new(&job.input.url)])?;
    OutputSpec { path: job.output.clone(), ..job.encode.clone() }.check()?;
    let work_dir = job.work_dir.clone().unwrap_or_else(|| {
        let mut s = job.output.as_os_str().to_owned();
        s.push(".parts");
        PathBuf::from(s)
    });
    let created = !work_dir.exists();
    std::fs::create_dir_all(&work_dir).with_context(|| format!("cannot create the work folder {}", work_dir.display()))?;
    let ext = job
        .output
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .filter(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "mkv".into());

    Ok((work_dir, ext, created))
}

/// Where the segments start: (pts, whether a keyframe) of each, from the packets alone.
fn segment_starts(job: &PlanJob) -> Result<Vec<(i64, bool)>> {
    let marks = Demuxer::open(&job.input)?.video_packets(job.cut)?;
    let mut pts: Vec<i64> = marks.iter().map(|m| m.pts).collect();
    pts.sort_unstable();
    pts.dedup();
    if pts.is_empty() {
        bail!("{}: no video frames to convert in the range asked", job.input.url);
    }
    if pts.len() < job.segments {
        bail!("{}: {} frames cannot make {} segments", job.input.url, pts.len(), job.segments);
    }
    let mut keys: Vec<usize> = marks.iter().filter(|m| m.key).filter_map(|m| pts.binary_search(&m.pts).ok()).collect();
    keys.sort_unstable();
    Ok(choose_starts(pts.len(), &keys, job.segments).into_iter().map(|(i, k)| (pts[i], k)).collect())
}

/// Decode the input once, run the depth stage's temporal part on every frame, and store each
/// segment's stabilised depth in its 16-bit file in `work_dir`.
fn analyse_segments(
    job: &PlanJob,
    demux: Demuxer,
    starts: &[(i64, bool)],
    work_dir: &Path,
    ext: &str,
    depth_stage: &mut DepthStage,
    cancel: &Arc<AtomicBool>,
) -> Result<Vec<PlanSegment>> {
    let info = demux.info.clone();
    let given = match &job.render.depth_given {
        Some(p) => Some(Demuxer::open(&InputSpec { url: p.display().to_string(), ..Default::default() }).context("--depth")?),
        None => None,
    };
    let (tx, rx) = crossbeam_channel::bounded::<(video::DecodedFrame, Option<deeplens_core::frame::Plane>)>(4);
    let cut = job.cut;
    let stop = cancel.clone();
    let decoder = std::thread::Builder::new().name("decode".into()).spawn(move || -> Result<u64> {
        let (gtx, grx) = crossbeam_channel::bounded(4);
        let given_thread = given.map(|g| {
            let stop = stop.clone();
            std::thread::spawn(move || g.run(Cut::default(), &|| stop.load(Ordering::Relaxed), |f| gtx.send(f.rgb.luma()).is_ok(), |_| true))
        });
        let n = demux.run(
            cut,
            &|| stop.load(Ordering::Relaxed),
            |f| {
                let d = if given_thread.is_some() { grx.recv().ok() } else { None };
                tx.send((f, d)).is_ok()
            },
            |_| true,
        )?;
        Ok(n)
    })?;

    let mut segments: Vec<PlanSegment> = Vec::new();
    let mut writer: Option<GreyWriter> = None;
    let mut next_start = 1usize;
    let mut result: Result<()> = Ok(());
    for (f, given) in rx.iter() {
        if f.pts_made_up {
            // Segments are found again by time: a frame without its own timestamp cannot be.
            result = Err(anyhow::anyhow!(
                "{}: frame {} has no timestamp of its own (or one out of order), so segments cannot find it again; convert this input whole with `deeplens convert`",
                job.input.url,
                f.index
            ));
            break;
        }
        let mut j = Job::new(f.index, f.pts, f.t, f.rgb);
        if job.render.depth_given.is_some() {
            match given {
                Some(d) => j.given_depth = Some(d),
                None => {
                    result = Err(anyhow::anyhow!("--depth video has fewer frames than the input (ran out at frame {})", f.index));
                    break;
                }
            }
        }
        let analysis = match depth_stage.analyse(&mut j) {
            Ok(a) => a,
            Err(e) => {
                result = Err(e.into());
                break;
            }
        };
        let new_segment = segments.is_empty() || (next_start < starts.len() && f.pts >= starts[next_start].0);
        if new_segment {
            if !segments.is_empty() {
                next_start += 1;
                while next_start < starts.len() && f.pts >= starts[next_start].0 {
                    next_start += 1;
                }
            }
            if let Some(w) = writer.take() {
                w.finish()?;
            }
            let k = segments.len();
            let keyframe = starts.iter().find(|s| s.0 == f.pts).is_some_and(|s| s.1);
            let seg = PlanSegment {
                index: k,
                first_frame: f.index,
                frames: 0,
                first_pts: f.pts,
                t0: f.t,
                keyframe,
                file: format!("seg_{k:04}.{ext}"),
                depth: format!("depth_{k:04}.mkv"),
                focus_record: format!("seg_{k:04}.focus.json"),
            };
            let d = &analysis.depth;
            writer = Some(GreyWriter::new(&work_dir.join(&seg.depth), d.width, d.height, info.time_base, info.frame_rate)?);
            segments.push(seg);
        }
        writer.as_mut().expect("opened above").write(&analysis.depth, f.pts)?;
        segments.last_mut().expect("pushed above").frames += 1;
    }
    drop(rx);
    let decoded = decoder.join().map_err(|_| anyhow::anyhow!("the decode thread panicked"))?;
    result?;
    decoded?;
    if let Some(w) = writer.take() {
        w.finish()?;
    }
    Ok(segments)
}

/// The plan document (paths relative to `work_dir`).
fn plan_document(job: &PlanJob, work_dir: &Path, info: &VideoInfo, renderer: RendererKind, boost: f32, depth_model: Option<PathBuf>, segments: Vec<PlanSegment>) -> Result<Plan> {
    let frames: u64 = segments.iter().map(|s| s.frames).sum();
    let (dw, _) = info.display_size();
    let input = if is_url(&job.input.url) { job.input.url.clone() } else { relative_to(Path::new(&job.input.url), work_dir).display().to_string() };
    let depth_sha = match &depth_model {
        Some(p) if job.render.depth_given.is_none() => Some(crate::sha256_file(p).with_context(|| format!("cannot read {}", p.display()))?),
        _ => None,
    };
    let (blades, rotation) = match job.render.aperture {
        ApertureShape::Circle => (0, 0.0),
        ApertureShape::Blades { blades, rotation_deg } => (blades, rotation_deg),
    };
    let plan = Plan {
        version: PLAN_VERSION,
        input,
        input_format: job.input.format.clone(),
        input_options: job.input.options.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        output: relative_to(&job.output, work_dir).display().to_string(),
        overwrite: job.overwrite,
        cut: PlanCut { start: job.cut.start, duration: job.cut.duration },
        render: PlanRender {
            renderer: renderer.name().into(),
            max_blur: job.render.blur.to_string(),
            focus: describe_focus(&job.render.focus),
            focus_smoothing: job.render.focus_smoothing,
            stabilize_depth: job.render.stabilize_depth,
            aperture_blades: blades,
            aperture_rotation: rotation,
            cat_eye: job.render.cat_eye,
            highlight_boost: boost,
            working_max_width: job.render.policy.max_width,
            working_max_radius: job.render.policy.max_radius,
            depth_model: if job.render.depth_given.is_some() { None } else { depth_model.map(|p| std::path::absolute(&p).unwrap_or(p).display().to_string()) },
            depth_model_sha256: depth_sha,
        },
        encode: PlanEncode {
            format: job.encode.format.clone(),
            codec: job.encode.codec.clone(),
            crf: job.encode.crf,
            preset: job.encode.preset.clone(),
            pix_fmt: job.encode.pix_fmt.clone(),
            encoder_options: job.encode.encoder_options.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            audio_codec: job.encode.audio_codec.clone(),
        },
        video: PlanVideo {
            width: info.width,
            height: info.height,
            display_width: dw,
            time_base: [info.time_base.numerator(), info.time_base.denominator()],
            frame_rate: [info.frame_rate.numerator(), info.frame_rate.denominator()],
            frames,
        },
        focus_track: "focus.json".into(),
        segments,
    };
    Ok(plan)
}

/// The plan's resolved options, for a segment's report (their source is the plan).
fn plan_options(plan: &Plan) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (section, v) in [("", serde_json::to_value(&plan.render)), ("encode.", serde_json::to_value(&plan.encode))] {
        if let Ok(serde_json::Value::Object(o)) = v {
            for (k, v) in o {
                m.insert(format!("{section}{k}"), serde_json::json!({"value": v, "source": "plan"}));
            }
        }
    }
    serde_json::Value::Object(m)
}

fn describe_focus(f: &FocusSpec) -> String {
    match f {
        FocusSpec::Depth(d) => format!("focus {d}"),
        FocusSpec::Point(p) => format!("focus-at {},{}", p.x, p.y),
        FocusSpec::Autofocus => "autofocus".into(),
        FocusSpec::Track(t) => format!("track of {} keys", t.keys.len()),
    }
}

fn split_kv(items: &[String]) -> Result<Vec<(String, String)>> {
    items.iter().map(|s| video::parse_key_value(s).map_err(|e| anyhow::anyhow!(e))).collect()
}

/// What the app derives from a plan: FFmpeg specs, the cut, a segment's options and focus.
trait PlanExt {
    fn input_spec(&self, dir: &Path) -> Result<InputSpec>;
    fn output_spec(&self) -> Result<OutputSpec>;
    fn cut(&self) -> Cut;
    fn segment_render(&self, dir: &Path, seg: &PlanSegment) -> Result<RenderOptions>;
    fn segment_track(&self, dir: &Path, seg: &PlanSegment) -> Result<Track>;
}

impl PlanExt for Plan {
    fn input_spec(&self, dir: &Path) -> Result<InputSpec> {
        Ok(InputSpec { url: Plan::resolve(dir, &self.input), format: self.input_format.clone(), options: split_kv(&self.input_options)?, hwaccel: None })
    }

    fn output_spec(&self) -> Result<OutputSpec> {
        Ok(OutputSpec {
            path: PathBuf::new(),
            format: self.encode.format.clone(),
            codec: self.encode.codec.clone(),
            crf: self.encode.crf,
            preset: self.encode.preset.clone(),
            pix_fmt: self.encode.pix_fmt.clone(),
            encoder_options: split_kv(&self.encode.encoder_options)?,
            audio_codec: self.encode.audio_codec.clone(),
            display: None,
        })
    }

    fn cut(&self) -> Cut {
        Cut { start: self.cut.start, duration: self.cut.duration }
    }

    /// The render options of a segment: the plan's, with this segment's depth and focus.
    fn segment_render(&self, dir: &Path, seg: &PlanSegment) -> Result<RenderOptions> {
        let mut o = self.render.options()?;
        o.depth_given = Some(PathBuf::from(Plan::resolve(dir, &seg.depth)));
        o.focus = FocusSpec::Track(self.segment_track(dir, seg)?);
        o.record_focus = true;
        Ok(o)
    }

    /// The plan's focus and blur of this segment's frames, as a track keyed by frame.
    fn segment_track(&self, dir: &Path, seg: &PlanSegment) -> Result<Track> {
        let path = PathBuf::from(Plan::resolve(dir, &self.focus_track));
        let text = read_limited(&path, 1 << 30).with_context(|| format!("cannot read {}", path.display()))?;
        let doc: FocusRecord = serde_json::from_str(&text).with_context(|| format!("{}: not a focus record", path.display()))?;
        let end = seg.first_frame + seg.frames;
        let keys: Vec<Key> = doc
            .frames
            .iter()
            .filter(|f| (seg.first_frame..end).contains(&f.frame))
            .map(|f| Key { at: f.frame as f64, target: Target::Focus(f.focus), blur: Some(BlurAmount::Pixels(f.blur)), ease: Default::default() })
            .collect();
        if keys.len() as u64 != seg.frames || keys.windows(2).any(|w| w[1].at <= w[0].at) {
            bail!("{}: does not hold one entry for each frame of segment {}", path.display(), seg.index);
        }
        Ok(Track { keyed_by: KeyedBy::Frame, keys })
    }
}

/// A `--write-focus-track` record.
#[derive(Serialize, Deserialize)]
struct FocusRecord {
    frames: Vec<FocusEntry>,
}

#[derive(Serialize, Deserialize)]
struct FocusEntry {
    frame: u64,
    t: f64,
    focus: f32,
    blur: f32,
}

/// `deeplens render-segment PLAN K`; `models` and `hwaccel` are this node's (the plan does not
/// hold them: farm nodes differ).
pub fn render_segment(plan_path: &Path, k: usize, models: deeplens_onnx::OnnxModels, hwaccel: Option<String>, report: Option<&Path>, cancel: Arc<AtomicBool>) -> Result<PathBuf> {
    let (plan, dir) = load_plan(plan_path)?;
    let seg = plan_segment(&plan, k, plan_path)?.clone();
    let render = plan.segment_render(&dir, &seg)?;
    let input = plan.input_spec(&dir)?;
    // The demuxer cuts by time from the stream's start; find this segment's first frame by its
    // timestamp.
    let start_pts = Demuxer::open(&input)?.info.start_pts;
    let start = (seg.first_pts as f64 - start_pts as f64) * plan.video.time_base[0] as f64 / plan.video.time_base[1] as f64;
    if !(start.is_finite() && start >= 0.0) {
        bail!("{}: segment {k} starts before the input (first_pts {})", plan_path.display(), seg.first_pts);
    }
    let out = PathBuf::from(Plan::resolve(&dir, &seg.file));
    let record = PathBuf::from(Plan::resolve(&dir, &seg.focus_record));
    let job = ConvertJob {
        input: InputSpec { hwaccel, ..input },
        output: out.clone(),
        overwrite: true,
        encode: plan.output_spec()?,
        cut: Cut { start: Some(start), duration: None },
        render,
        models,
        write_focus_track: Some(record.clone()),
        progress: true,
        capacity: 2,
        observer: None,
        segment: Some(SegmentRange { first_index: seg.first_frame, t0: seg.t0, frames: seg.frames, timeline_start: plan.cut.start }),
        extras: crate::convert::Extras {
            report: report.map(Path::to_path_buf),
            options: plan_options(&plan),
            ..Default::default()
        },
    };
    let report = crate::convert::convert(job, cancel)?;
    if report.cancelled {
        bail!("interrupted");
    }
    if report.stats.frames != seg.frames {
        bail!("segment {k}: rendered {} frames, the plan has {}", report.stats.frames, seg.frames);
    }
    Ok(out)
}

/// `deeplens join PLAN`: check the segments, concatenate, mux the input's other streams.
pub fn join(plan_path: &Path, overwrite: bool, write_focus_track: Option<&Path>, cancel: Arc<AtomicBool>) -> Result<PathBuf> {
    let (plan, dir) = load_plan(plan_path)?;
    let output = PathBuf::from(Plan::resolve(&dir, &plan.output));
    let input_path = PathBuf::from(Plan::resolve(&dir, &plan.input));
    crate::outfile::check_target(&output, overwrite || plan.overwrite, &[input_path.as_path()])?;
    if let Some(p) = write_focus_track {
        crate::outfile::check_target(p, overwrite, &[input_path.as_path()]).context("--write-focus-track")?;
    }
    // Check every segment before writing anything.
    let (params, tb, decode_times) = check_segments(&plan, &dir, plan_path)?;
    let input = plan.input_spec(&dir)?;
    let demux = Demuxer::open(&input)?;
    let info = demux.info.clone();
    let others = demux.others.clone();
    let temp = TempOutput::new(&output, overwrite || plan.overwrite)?;
    let mut spec = plan.output_spec()?;
    spec.path = temp.tmp.clone();
    spec.display = Some(output.display().to_string());
    let mut mux = video::Remuxer::new(&spec, &params, tb, &info, &others, plan.cut.start.filter(|s| *s > 0.0))?;

    // The input's other streams on their own thread, merged by time with the segments' video.
    let (ptx, prx) = crossbeam_channel::bounded::<(f64, video::StreamPacket)>(64);
    let cut = plan.cut();
    let tbs: Vec<(usize, f64)> = others.iter().map(|o| (o.index, f64::from(o.time_base))).collect();
    let offset = plan.cut.start.unwrap_or(0.0);
    let reader = std::thread::spawn(move || {
        demux.other_packets(cut, |sp| {
            let tb = tbs.iter().find(|t| t.0 == sp.stream).map_or(0.0, |t| t.1);
            let t = sp.packet.dts().or(sp.packet.pts()).map_or(f64::NEG_INFINITY, |v| v as f64 * tb - offset);
            ptx.send((t, sp)).is_ok()
        })
    });
    let mut pending = prx.recv().ok();
    let vtb = f64::from(tb);
    for seg in &plan.segments {
        if cancel.load(Ordering::Relaxed) {
            bail!("interrupted; {} not written", output.display());
        }
        let d = Demuxer::open(&InputSpec { url: Plan::resolve(&dir, &seg.file), ..Default::default() })?;
        let mut i = 0;
        d.video_packets_raw(|mut p| {
            if let Some(dts) = &decode_times {
                p.set_dts(dts[seg.index].get(i).copied());
                i += 1;
            }
            let t = p.dts().or(p.pts()).map_or(f64::NEG_INFINITY, |v| v as f64 * vtb);
            while let Some((at, _)) = &pending {
                if *at > t {
                    break;
                }
                let (_, sp) = pending.take().expect("checked");
                mux.write_packet(sp)?;
                pending = prx.recv().ok();
            }
            mux.write_video(p)?;
            Ok(true)
        })?;
    }
    while let Some((_, sp)) = pending.take() {
        mux.write_packet(sp)?;
        pending = prx.recv().ok();
    }
    reader.join().map_err(|_| anyhow::anyhow!("the input reader panicked"))??;
    mux.finish()?;
    if let Some(path) = write_focus_track {
        join_focus_records(&plan, &dir, path, overwrite)?;
    }
    temp.commit()?;
    Ok(output)
}

/// The video stream of the segments and their decoding times when the containers lack them,
/// after checking that every segment is there, with the plan's size and frame count, and
/// encoded like segment 0. Nothing is written.
#[allow(clippy::type_complexity)]
fn check_segments(plan: &Plan, dir: &Path, plan_path: &Path) -> Result<(video::ffmpeg::codec::Parameters, video::ffmpeg::Rational, Option<Vec<Vec<i64>>>)> {
    let mut all_pts: Vec<Vec<i64>> = Vec::with_capacity(plan.segments.len());
    let (mut missing_pts, mut missing_dts) = (false, false);
    let mut reference: Option<(video::ffmpeg::codec::Parameters, video::ffmpeg::Rational)> = None;
    for seg in &plan.segments {
        let path = Plan::resolve(dir, &seg.file);
        let name = format!("segment {} ({path})", seg.index);
        if !Path::new(&path).is_file() {
            bail!("{name} is missing; render it with `deeplens render-segment {} {}`", plan_path.display(), seg.index);
        }
        let d = Demuxer::open(&InputSpec { url: path.clone(), ..Default::default() }).with_context(|| name.clone())?;
        if (d.info.width, d.info.height) != (plan.video.width, plan.video.height) {
            bail!("{name} is {}x{}, the plan {}x{}", d.info.width, d.info.height, plan.video.width, plan.video.height);
        }
        let (params, tb) = d.video_parameters();
        match &reference {
            None => reference = Some((params, tb)),
            Some((p0, tb0)) => {
                if !same_codec(p0, &params) || *tb0 != tb {
                    bail!("{name} was encoded with other codec parameters than segment 0");
                }
            }
        }
        let mut pts = Vec::new();
        d.video_packets_raw(|p| {
            match p.pts() {
                Some(v) => pts.push(v),
                None => missing_pts = true,
            }
            missing_dts |= p.dts().is_none();
            Ok(true)
        })?;
        if pts.len() as u64 != seg.frames || missing_pts {
            bail!("{name} has {} frames with timestamps, the plan {}", pts.len(), seg.frames);
        }
        all_pts.push(pts);
    }
    // Containers that keep only presentation times (Matroska) give no decoding times for the
    // first packets; then every segment's are made again: the sorted presentation times,
    // moved back by the largest reordering delay of all segments, so they rise across the cuts.
    let decode_times: Option<Vec<Vec<i64>>> = missing_dts.then(|| {
        let sorted: Vec<Vec<i64>> = all_pts.iter().map(|p| {
            let mut s = p.clone();
            s.sort_unstable();
            s
        }).collect();
        let delay = all_pts.iter().zip(&sorted).flat_map(|(p, s)| p.iter().zip(s).map(|(a, b)| b - a)).max().unwrap_or(0).max(0);
        sorted.into_iter().map(|s| s.into_iter().map(|v| v - delay).collect()).collect()
    });
    let (params, tb) = reference.expect("a plan has segments");
    Ok((params, tb, decode_times))
}

/// `join --write-focus-track`: the segments' focus records, one after the other.
fn join_focus_records(plan: &Plan, dir: &Path, path: &Path, overwrite: bool) -> Result<()> {
    let mut frames = Vec::new();
    for seg in &plan.segments {
        let p = PathBuf::from(Plan::resolve(dir, &seg.focus_record));
        let text = read_limited(&p, 1 << 30).with_context(|| format!("segment {}: cannot read {}", seg.index, p.display()))?;
        let rec: FocusRecord = serde_json::from_str(&text).with_context(|| format!("segment {}: {} is not a focus record", seg.index, p.display()))?;
        if rec.frames.len() as u64 != seg.frames {
            bail!("segment {}: {} holds {} frames, the plan {}", seg.index, p.display(), rec.frames.len(), seg.frames);
        }
        frames.extend(rec.frames);
    }
    let mut text = serde_json::to_string_pretty(&FocusRecord { frames })?;
    text.push('\n');
    write_atomic(path, &text, overwrite)?;
    Ok(())
}

/// Whether two encodings can be concatenated: codec, size, pixel format and headers.
fn same_codec(a: &video::ffmpeg::codec::Parameters, b: &video::ffmpeg::codec::Parameters) -> bool {
    unsafe {
        let (a, b) = (&*a.as_ptr(), &*b.as_ptr());
        let extra = |p: &video::ffmpeg::ffi::AVCodecParameters| {
            if p.extradata.is_null() || p.extradata_size <= 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(p.extradata, p.extradata_size as usize)
            }
        };
        a.codec_id == b.codec_id && a.width == b.width && a.height == b.height && a.format == b.format && extra(a) == extra(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_snap_to_near_keyframes() {
        // 300 frames, keyframes every 50: thirds at 100 and 200 are keyframes already.
        let keys: Vec<usize> = (0..300).step_by(50).collect();
        assert_eq!(choose_starts(300, &keys, 3), vec![(0, true), (100, true), (200, true)]);
        // Keyframes every 48: 100 → 96, 200 → 192.
        let keys: Vec<usize> = (0..300).step_by(48).collect();
        assert_eq!(choose_starts(300, &keys, 3), vec![(0, true), (96, true), (192, true)]);
        // Only the first frame is a keyframe: the even split.
        assert_eq!(choose_starts(300, &[0], 3), vec![(0, true), (100, false), (200, false)]);
        // More segments than keyframes near the split never repeats a start.
        let s = choose_starts(10, &[0], 10);
        assert_eq!(s.len(), 10);
        assert!(s.windows(2).all(|w| w[1].0 > w[0].0));
    }

    #[test]
    fn relative_paths() {
        assert_eq!(relative_to(Path::new("/a/b/in.mp4"), Path::new("/a/c/parts")), PathBuf::from("../../b/in.mp4"));
        assert_eq!(relative_to(Path::new("/a/out.mp4"), Path::new("/a/out.mp4.parts")), PathBuf::from("../out.mp4"));
    }
}
