//! The farm's plan document (`DIR/plan.json`, schemas/plan.schema.json): what `deeplens plan`
//! writes and `render-segment` and `join` read. Its schema and every check that needs no file but
//! the plan live here, so a plan is parsed and validated (and fuzzed, fuzz/src/bin/plan.rs) without
//! the app's video libraries. A plan is user input: every number is checked before it sizes,
//! divides or times anything.

use crate::config::{RenderOptions, RendererKind};
use crate::focus::BlurAmount;
use crate::lens::ApertureShape;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The plan format's version (schemas/plan.schema.json).
pub const PLAN_VERSION: u32 = 1;
/// The most segments a plan may have.
pub const MAX_SEGMENTS: usize = 10_000;
/// The most frames a plan may hold (over 9 days at 120 fps).
pub const MAX_FRAMES: u64 = 100_000_000;
/// The largest plan file read, in bytes.
pub const MAX_PLAN_BYTES: usize = 256 << 20;
/// The largest frame side a plan may name.
pub const MAX_SIDE: usize = 16_384;

/// `DIR/plan.json`: everything a segment or the join needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub version: u32,
    /// The input, relative to the plan's folder (or a URL).
    pub input: String,
    pub input_format: Option<String>,
    /// Input options as `KEY=VALUE`.
    pub input_options: Vec<String>,
    /// The joined result, relative to the plan's folder.
    pub output: String,
    /// Whether `join` may replace an existing OUTPUT.
    pub overwrite: bool,
    pub cut: PlanCut,
    pub render: PlanRender,
    pub encode: PlanEncode,
    pub video: PlanVideo,
    /// The focus and blur of every frame (a `--write-focus-track` record), relative to the folder.
    pub focus_track: String,
    pub segments: Vec<PlanSegment>,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanCut {
    pub start: Option<f64>,
    pub duration: Option<f64>,
}

/// The render options after flags, preset and defaults were merged.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRender {
    /// `physical` or `learned`.
    pub renderer: String,
    /// As `--max-blur` takes it (`24px`, `2.5%`).
    pub max_blur: String,
    /// How focus was chosen (`autofocus`, `focus 0.6`, `focus-at 0.5,0.4`, `track FILE`); its result
    /// per frame is in the focus track.
    pub focus: String,
    pub focus_smoothing: Option<f32>,
    pub stabilize_depth: bool,
    pub aperture_blades: u32,
    pub aperture_rotation: f32,
    pub cat_eye: f32,
    pub highlight_boost: f32,
    pub working_max_width: usize,
    pub working_max_radius: f32,
    /// The depth model the analysis used (absolute path) and its sha256.
    pub depth_model: Option<String>,
    pub depth_model_sha256: Option<String>,
}

/// Encoder settings (`None`: the encoder's default, as in `convert`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanEncode {
    pub format: Option<String>,
    pub codec: Option<String>,
    pub crf: Option<f32>,
    pub preset: Option<String>,
    pub pix_fmt: Option<String>,
    pub encoder_options: Vec<String>,
    pub audio_codec: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanVideo {
    pub width: usize,
    pub height: usize,
    pub display_width: usize,
    /// The video stream's time base, `[num, den]`.
    pub time_base: [i32; 2],
    pub frame_rate: [i32; 2],
    /// Frames of the whole run.
    pub frames: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSegment {
    pub index: usize,
    /// Index of its first frame in the whole run.
    pub first_frame: u64,
    pub frames: u64,
    /// Timestamp of its first frame (the input video stream's time base).
    pub first_pts: i64,
    /// Seconds of its first frame from the run's first frame.
    pub t0: f64,
    /// Whether it starts at a keyframe of the input.
    pub keyframe: bool,
    /// The rendered segment, relative to the plan's folder.
    pub file: String,
    /// Its frames' stabilised depth (16-bit grey FFV1), relative to the plan's folder.
    pub depth: String,
    /// The focus and blur the segment really used, written by `render-segment`.
    pub focus_record: String,
}

impl Plan {
    /// Parse and check a plan's text; `name` (its path) starts every error message.
    pub fn parse(text: &str, name: &str) -> crate::Result<Plan> {
        if text.len() > MAX_PLAN_BYTES {
            crate::fail!(Input, "{name}: a plan is at most {} MiB", MAX_PLAN_BYTES >> 20);
        }
        let plan: Plan = serde_json::from_str(text).map_err(|e| crate::err!(Input, "{name}: not a deeplens plan: {e}"))?;
        if plan.version != PLAN_VERSION {
            crate::fail!(Input, "{name}: plan version {} (this deeplens reads version {PLAN_VERSION})", plan.version);
        }
        if plan.segments.is_empty() || plan.segments.len() > MAX_SEGMENTS {
            crate::fail!(Input, "{name}: a plan needs 1 to {MAX_SEGMENTS} segments");
        }
        let v = &plan.video;
        if !(1..=MAX_SIDE).contains(&v.width) || !(1..=MAX_SIDE).contains(&v.height) || !(1..=MAX_SIDE).contains(&v.display_width) {
            crate::fail!(Input, "{name}: video size {}x{} (display width {}) is not 1 to {MAX_SIDE} pixels a side", v.width, v.height, v.display_width);
        }
        if v.time_base.iter().chain(&v.frame_rate).any(|&x| x <= 0) {
            crate::fail!(Input, "{name}: time base and frame rate must be positive fractions");
        }
        if v.frames == 0 || v.frames > MAX_FRAMES {
            crate::fail!(Input, "{name}: a plan holds 1 to {MAX_FRAMES} frames, not {}", v.frames);
        }
        let mut next = 0u64;
        for (i, s) in plan.segments.iter().enumerate() {
            if s.index != i || s.first_frame != next || s.frames == 0 || s.frames > v.frames || !(s.t0.is_finite() && s.t0 >= 0.0) {
                crate::fail!(Input, "{name}: segment {i} does not follow the one before it");
            }
            next += s.frames;
        }
        if next != v.frames {
            crate::fail!(Input, "{name}: the segments hold {next} frames, the plan {}", v.frames);
        }
        let seconds = |x: Option<f64>| x.is_none_or(|s| s.is_finite() && s >= 0.0);
        if !seconds(plan.cut.start) || !seconds(plan.cut.duration) {
            crate::fail!(Input, "{name}: cut start and duration must be finite seconds, not negative");
        }
        if plan.encode.crf.is_some_and(|c| !c.is_finite()) {
            crate::fail!(Input, "{name}: encode.crf must be a finite number");
        }
        plan.render.options().map_err(|e| crate::err!(Input, "{name}: {e}"))?;
        Ok(plan)
    }

    /// A path of the plan resolved against its folder (URLs stay as they are).
    pub fn resolve(dir: &Path, p: &str) -> String {
        if is_url(p) || Path::new(p).is_absolute() {
            p.to_string()
        } else {
            normalise(&dir.join(p)).display().to_string()
        }
    }
}

impl PlanRender {
    /// The render options these settings give (depth and focus are the segment's, set by the caller).
    pub fn options(&self) -> crate::Result<RenderOptions> {
        let mut o = RenderOptions::default();
        o.renderer = match self.renderer.as_str() {
            "physical" => RendererKind::Physical,
            "learned" => RendererKind::Learned,
            other => crate::fail!(Input, "unknown renderer '{}'", crate::focus::shown(other)),
        };
        o.blur = self.max_blur.parse::<BlurAmount>().map_err(|e| crate::err!(Input, "{e}"))?;
        o.aperture = match self.aperture_blades {
            0 => ApertureShape::Circle,
            n @ 3..=32 if self.aperture_rotation.is_finite() => ApertureShape::Blades { blades: n, rotation_deg: self.aperture_rotation },
            n => crate::fail!(Input, "invalid aperture ({n} blades, rotation {})", self.aperture_rotation),
        };
        if !(0.0..=1.0).contains(&self.cat_eye) || !(0.0..=10.0).contains(&self.highlight_boost) || self.working_max_width < 16 || !(self.working_max_radius > 0.0 && self.working_max_radius.is_finite()) {
            crate::fail!(Input, "render settings out of range");
        }
        o.cat_eye = self.cat_eye;
        o.highlight_boost = Some(self.highlight_boost);
        o.policy.max_width = self.working_max_width;
        o.policy.max_radius = self.working_max_radius;
        Ok(o)
    }
}

/// Whether a plan path is a URL (`scheme://…`), which is not resolved against the folder.
pub fn is_url(p: &str) -> bool {
    p.split_once("://").is_some_and(|(scheme, _)| !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+'))
}

/// `a/b/../c` → `a/c`, lexically (a plan's folder and its `../` paths).
pub fn normalise(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir if !out.is_empty() => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        let seg = |i: usize, first: u64, frames: u64| PlanSegment {
            index: i,
            first_frame: first,
            frames,
            first_pts: first as i64 * 512,
            t0: first as f64 / 25.0,
            keyframe: true,
            file: format!("seg{i}.mkv"),
            depth: format!("depth{i}.mkv"),
            focus_record: format!("focus{i}.json"),
        };
        Plan {
            version: PLAN_VERSION,
            input: "../in.mp4".into(),
            input_format: None,
            input_options: vec![],
            output: "../out.mp4".into(),
            overwrite: false,
            cut: PlanCut::default(),
            render: PlanRender {
                renderer: "physical".into(),
                max_blur: "2.5%".into(),
                focus: "autofocus".into(),
                focus_smoothing: None,
                stabilize_depth: true,
                aperture_blades: 0,
                aperture_rotation: 0.0,
                cat_eye: 0.0,
                highlight_boost: 1.0,
                working_max_width: 960,
                working_max_radius: 24.0,
                depth_model: None,
                depth_model_sha256: None,
            },
            encode: PlanEncode::default(),
            video: PlanVideo { width: 640, height: 360, display_width: 640, time_base: [1, 12800], frame_rate: [25, 1], frames: 50 },
            focus_track: "focus.json".into(),
            segments: vec![seg(0, 0, 20), seg(1, 20, 30)],
        }
    }

    fn parse(p: &Plan) -> crate::Result<Plan> {
        Plan::parse(&serde_json::to_string(p).unwrap(), "p.json")
    }

    #[test]
    fn a_written_plan_reads_back() {
        let p = parse(&plan()).unwrap();
        assert_eq!(p.segments.len(), 2);
        assert_eq!(p.render.options().unwrap().policy.max_width, 960);
    }

    #[test]
    fn numbers_that_would_size_or_divide_are_refused() {
        let mut p = plan();
        p.video.frames = u64::MAX / 2;
        p.segments[1].frames = u64::MAX / 2 - 20;
        assert!(parse(&p).unwrap_err().to_string().contains("1 to 100000000 frames"));
        let mut p = plan();
        p.video.time_base = [1, 0];
        assert!(parse(&p).unwrap_err().to_string().contains("time base and frame rate must be positive"));
        let mut p = plan();
        p.video.width = 0;
        assert!(parse(&p).is_err());
        let mut p = plan();
        p.segments[1].t0 = -1.0;
        assert!(parse(&p).unwrap_err().to_string().contains("segment 1 does not follow"));
        let mut p = plan();
        p.cut.start = Some(-1.0);
        assert!(parse(&p).unwrap_err().to_string().contains("cut start and duration"));
    }

    #[test]
    fn render_settings_are_checked_and_user_text_escaped() {
        let mut p = plan();
        p.render.renderer = "x\u{1b}[2J".into();
        let e = parse(&p).unwrap_err().to_string();
        assert!(e.starts_with("p.json: unknown renderer 'x\\u{1b}[2J'"), "{e}");
        let mut p = plan();
        p.render.aperture_blades = 6;
        let text = serde_json::to_string(&p).unwrap().replace("\"aperture_rotation\":0.0", "\"aperture_rotation\":1e39");
        assert!(Plan::parse(&text, "p.json").unwrap_err().to_string().contains("invalid aperture (6 blades, rotation inf)"));
        let mut p = plan();
        p.render.max_blur = "1e9px".into();
        assert!(parse(&p).is_err());
        assert!(Plan::parse("{", "p.json").unwrap_err().to_string().starts_with("p.json: not a deeplens plan"));
    }

    #[test]
    fn paths_resolve_against_the_plan_folder() {
        assert_eq!(normalise(Path::new("out.mp4.parts/../out.mp4")), PathBuf::from("out.mp4"));
        assert_eq!(normalise(Path::new("./a/./b/../c")), PathBuf::from("./a/c"));
        assert!(is_url("https://example.com/x.mp4"));
        assert!(!is_url("/tmp/x.mp4"));
        assert_eq!(Plan::resolve(Path::new("parts"), "../in.mp4"), "in.mp4");
    }
}
