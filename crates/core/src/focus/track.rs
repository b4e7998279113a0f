//! Focus tracks: keyframed focus pulls read from JSON, and the per-frame record written back.
//!
//! Two documents are accepted (see `schemas/focus-track.schema.json`):
//! - a version-1 track, `{"keyframes": [{"t": 0.0, "focus": 0.8, "blur": 16}, …]}`, keyed either
//!   by `t` (seconds or `HH:MM:SS.mmm`) or by `frame` for all its keys;
//! - the record written by `--write-focus-track`, `{"frames": [{"frame": 0, "t": 0.0, "focus":
//!   0.8, "blur": 16.0}, …]}`, where each entry becomes a key on its frame.
//!
//! Everything is validated when the file is read, so a bad track fails before any frame is
//! processed, with the key's index and the problem in the message.

use super::{BlurAmount, RelPoint};
use serde_json::{Map, Value};
use std::fmt;
use std::path::Path;

/// Why a track was rejected. Key indices count from 0 in the order of the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrackError {
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("invalid focus track: {0}")]
    Document(String),
    #[error("invalid focus track: key {index}: {problem}")]
    Key { index: usize, problem: String },
}

/// How the value travels from the previous key to this one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Ease {
    /// Keep the previous value, jump at this key.
    Hold,
    /// Constant speed.
    #[default]
    Linear,
    /// Ease in and out (smoothstep: 3u² − 2u³), monotone.
    Smooth,
}

impl Ease {
    /// The share of the way travelled at progress `u` in [0, 1).
    pub fn apply(self, u: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        match self {
            Ease::Hold => {
                if u >= 1.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Ease::Linear => u,
            Ease::Smooth => u * u * (3.0 - 2.0 * u),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Ease::Hold => "hold",
            Ease::Linear => "linear",
            Ease::Smooth => "smooth",
        }
    }
}

impl fmt::Display for Ease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a key puts in focus.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// A focal depth (normalised disparity of the stabilised depth, 1 = nearest), hit exactly.
    Focus(f32),
    /// Whatever is at this point of the displayed picture, read from each frame's depth.
    At(RelPoint),
}

/// Whether a track's keys are placed by time or by frame index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyedBy {
    /// Seconds from the first video frame's timestamp; a key lands on the first frame whose
    /// time is ≥ its `t`.
    Time,
    /// Frame index from 0.
    Frame,
}

/// One keyframe.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Key {
    /// Seconds or frame index, according to the track's [`KeyedBy`].
    pub at: f64,
    pub target: Target,
    /// The blur from this key on; `None` leaves the blur channel to the other keys.
    pub blur: Option<BlurAmount>,
    /// How the focus (and this key's blur, if it has one) travels from the previous key.
    pub ease: Ease,
}

/// A validated focus track: at least one key, strictly increasing positions.
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    pub keyed_by: KeyedBy,
    pub keys: Vec<Key>,
}

/// The largest focus track read (a per-frame record of about 10 hours at 60 fps).
pub const MAX_TRACK_BYTES: u64 = 256 << 20;

/// User text as it may reach a terminal: control characters escaped, at most 64 characters.
pub(crate) fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(64).flat_map(char::escape_debug).collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}

const KEY_FIELDS: &str = "t, frame, focus, focus_at, blur, ease";
const FRAME_FIELDS: &str = "frame, t, focus, blur";

impl Track {
    /// Read and validate a track file (either document).
    pub fn from_path(path: &Path) -> crate::Result<Track> {
        let text = crate::config::read_text_limited(path, MAX_TRACK_BYTES, "focus track")?;
        Track::from_json(&text).map_err(|e| crate::err!(Input, "{}: {e}", path.display()))
    }

    /// Parse and validate a track (either document).
    pub fn from_json(text: &str) -> Result<Track, TrackError> {
        let doc: Value = serde_json::from_str(text).map_err(|e| TrackError::Json(e.to_string()))?;
        let obj = doc
            .as_object()
            .ok_or_else(|| TrackError::Document("expected an object with \"keyframes\" or \"frames\"".into()))?;
        for (k, v) in obj {
            match k.as_str() {
                "keyframes" | "frames" | "$schema" => {}
                "version" => {
                    if v.as_u64() != Some(1) {
                        return Err(TrackError::Document(format!("unsupported version {v} (this reader knows version 1)")));
                    }
                }
                other => {
                    return Err(TrackError::Document(format!(
                        "unknown field \"{}\" (expected keyframes or frames, and optionally version, $schema)", shown(other)
                    )))
                }
            }
        }
        let track = match (obj.get("keyframes"), obj.get("frames")) {
            (Some(_), Some(_)) => return Err(TrackError::Document("has both \"keyframes\" and \"frames\"; give one".into())),
            (None, None) => return Err(TrackError::Document("has neither \"keyframes\" nor \"frames\"".into())),
            (Some(k), None) => parse_keyframes(k)?,
            (None, Some(f)) => parse_frames(f)?,
        };
        Ok(track)
    }

    /// Keys must be strictly increasing in position.
    fn check_order(keys: &[Key], keyed_by: KeyedBy) -> Result<(), TrackError> {
        for (i, w) in keys.windows(2).enumerate() {
            if w[1].at <= w[0].at {
                let what = match keyed_by {
                    KeyedBy::Time => format!("t {} s is not after key {}'s t {} s", w[1].at, i, w[0].at),
                    KeyedBy::Frame => format!("frame {} is not after key {}'s frame {}", w[1].at, i, w[0].at),
                };
                return Err(TrackError::Key { index: i + 1, problem: format!("out of order: {what} (keys must be strictly increasing)") });
            }
        }
        Ok(())
    }
}

fn key_err(index: usize, problem: impl Into<String>) -> TrackError {
    TrackError::Key { index, problem: problem.into() }
}

fn as_array<'a>(v: &'a Value, name: &str) -> Result<&'a Vec<Value>, TrackError> {
    let arr = v.as_array().ok_or_else(|| TrackError::Document(format!("\"{name}\" must be an array")))?;
    if arr.is_empty() {
        return Err(TrackError::Document(format!("\"{name}\" is empty; a track needs at least one key")));
    }
    Ok(arr)
}

fn as_object(i: usize, v: &Value) -> Result<&Map<String, Value>, TrackError> {
    v.as_object().ok_or_else(|| key_err(i, format!("expected an object, found {v}")))
}

fn parse_keyframes(v: &Value) -> Result<Track, TrackError> {
    let arr = as_array(v, "keyframes")?;
    let mut keyed_by: Option<KeyedBy> = None;
    let mut keys = Vec::with_capacity(arr.len());
    for (i, item) in arr.iter().enumerate() {
        let obj = as_object(i, item)?;
        if let Some(k) = obj.keys().find(|k| !KEY_FIELDS.split(", ").any(|f| f == k.as_str())) {
            return Err(key_err(i, format!("unknown field \"{}\" (expected {KEY_FIELDS})", shown(k))));
        }
        let (at, by) = match (obj.get("t"), obj.get("frame")) {
            (Some(_), Some(_)) => return Err(key_err(i, "t and frame mixed: give one of them")),
            (None, None) => return Err(key_err(i, "needs t (seconds or \"HH:MM:SS.mmm\") or frame")),
            (Some(t), None) => (parse_time(t).map_err(|p| key_err(i, p))?, KeyedBy::Time),
            (None, Some(f)) => (parse_frame(f).map_err(|p| key_err(i, p))?, KeyedBy::Frame),
        };
        match keyed_by {
            None => keyed_by = Some(by),
            Some(k) if k != by => {
                let (this, first) = if by == KeyedBy::Time { ("t", "frame") } else { ("frame", "t") };
                return Err(key_err(i, format!("t and frame mixed: this key uses {this} but key 0 uses {first}; use one for all keys")));
            }
            _ => {}
        }
        let target = match (obj.get("focus"), obj.get("focus_at")) {
            (Some(_), Some(_)) => return Err(key_err(i, "focus and focus_at both given: give one of them")),
            (None, None) => return Err(key_err(i, "needs focus (a depth in [0,1]) or focus_at ([x, y] in [0,1])")),
            (Some(f), None) => Target::Focus(parse_focus_value(f).map_err(|p| key_err(i, p))?),
            (None, Some(p)) => Target::At(parse_point(p).map_err(|p| key_err(i, p))?),
        };
        let blur = obj.get("blur").map(parse_blur).transpose().map_err(|p| key_err(i, p))?;
        let ease = obj.get("ease").map(parse_ease).transpose().map_err(|p| key_err(i, p))?.unwrap_or_default();
        keys.push(Key { at, target, blur, ease });
    }
    let keyed_by = keyed_by.expect("at least one key");
    Track::check_order(&keys, keyed_by)?;
    Ok(Track { keyed_by, keys })
}

/// The written record: every entry is a key with a fixed focus and a blur in pixels, keyed by
/// frame (or by `t` where entries have no frame), travelling linearly between entries.
fn parse_frames(v: &Value) -> Result<Track, TrackError> {
    let arr = as_array(v, "frames")?;
    let mut keys = Vec::with_capacity(arr.len());
    let mut by_frame = true;
    for (i, item) in arr.iter().enumerate() {
        let obj = as_object(i, item)?;
        if let Some(k) = obj.keys().find(|k| !FRAME_FIELDS.split(", ").any(|f| f == k.as_str())) {
            return Err(key_err(i, format!("unknown field \"{}\" (a frames entry has {FRAME_FIELDS})", shown(k))));
        }
        let frame = obj.get("frame").map(parse_frame).transpose().map_err(|p| key_err(i, p))?;
        let t = obj.get("t").map(parse_time).transpose().map_err(|p| key_err(i, p))?;
        if i == 0 {
            by_frame = frame.is_some();
        }
        let at = match (by_frame, frame, t) {
            (true, Some(f), _) => f,
            (false, _, Some(t)) => t,
            (true, None, _) => return Err(key_err(i, "needs frame, as entry 0 has one")),
            (false, _, None) => return Err(key_err(i, "needs frame or t")),
        };
        let focus = obj.get("focus").ok_or_else(|| key_err(i, "needs focus"))?;
        let focus = parse_focus_value(focus).map_err(|p| key_err(i, p))?;
        let blur = obj.get("blur").map(parse_blur).transpose().map_err(|p| key_err(i, p))?;
        keys.push(Key { at, target: Target::Focus(focus), blur, ease: Ease::Linear });
    }
    let keyed_by = if by_frame { KeyedBy::Frame } else { KeyedBy::Time };
    Track::check_order(&keys, keyed_by)?;
    Ok(Track { keyed_by, keys })
}

fn parse_time(v: &Value) -> Result<f64, String> {
    let t = match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("t {n} is not a number"))?,
        Value::String(s) => parse_timestamp(s).map_err(|e| format!("t {e}"))?,
        other => return Err(format!("t must be seconds or \"HH:MM:SS.mmm\", found {other}")),
    };
    if !t.is_finite() || t < 0.0 {
        return Err(format!("t {t} is out of range (must be ≥ 0 seconds)"));
    }
    Ok(t)
}

/// `HH:MM:SS.mmm`, `MM:SS.mmm` or `SS.mmm` to seconds: the one time parser of the program
/// (track keys, and `--start`, `--duration` on the command line).
pub fn parse_timestamp(s: &str) -> Result<f64, String> {
    let bad = || format!("\"{s}\" is not a time: expected seconds or \"HH:MM:SS.mmm\"");
    let parts: Vec<&str> = s.trim().split(':').collect();
    if parts.len() > 3 || parts.iter().any(|p| p.trim().is_empty()) {
        return Err(bad());
    }
    let (last, higher) = parts.split_last().ok_or_else(bad)?;
    let secs: f64 = last.trim().parse().map_err(|_| bad())?;
    if !secs.is_finite() || secs < 0.0 || (!higher.is_empty() && secs >= 60.0) {
        return Err(bad());
    }
    let mut total = 0.0;
    for (k, p) in higher.iter().enumerate() {
        let v: u64 = p.trim().parse().map_err(|_| bad())?;
        // Minutes below hours must be < 60.
        if k > 0 && v >= 60 {
            return Err(bad());
        }
        total = total * 60.0 + v as f64;
    }
    Ok(total * 60.0 + secs)
}

/// A whole number ≥ 0 (`10.0` counts, as in JSON Schema).
fn parse_frame(v: &Value) -> Result<f64, String> {
    match v.as_f64() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 9.0e15 => Ok(f),
        _ => Err(format!("frame {v} is out of range (must be a whole number ≥ 0)")),
    }
}

fn parse_focus_value(v: &Value) -> Result<f32, String> {
    let f = v.as_f64().ok_or_else(|| format!("focus must be a number in [0,1], found {v}"))?;
    if !(0.0..=1.0).contains(&f) {
        return Err(format!("focus {f} is out of range (must be in [0,1], 1 = nearest)"));
    }
    Ok(f as f32)
}

fn parse_point(v: &Value) -> Result<RelPoint, String> {
    let bad = || format!("focus_at must be [x, y] with both in [0,1], found {v}");
    let a = v.as_array().filter(|a| a.len() == 2).ok_or_else(bad)?;
    let x = a[0].as_f64().ok_or_else(bad)?;
    let y = a[1].as_f64().ok_or_else(bad)?;
    if !(0.0..=1.0).contains(&x) || !(0.0..=1.0).contains(&y) {
        return Err(format!("focus_at [{x}, {y}] is out of range (both must be in [0,1])"));
    }
    Ok(RelPoint { x: x as f32, y: y as f32 })
}

fn parse_blur(v: &Value) -> Result<BlurAmount, String> {
    match v {
        Value::Number(n) => n.to_string().parse::<BlurAmount>(),
        Value::String(s) => s.parse::<BlurAmount>(),
        other => Err(format!("blur must be pixels (24, \"24px\") or a share of the width (\"2%\"), found {other}")),
    }
}

fn parse_ease(v: &Value) -> Result<Ease, String> {
    match v.as_str() {
        Some("hold") => Ok(Ease::Hold),
        Some("linear") => Ok(Ease::Linear),
        Some("smooth") => Ok(Ease::Smooth),
        _ => Err(format!("ease {v} is unknown (expected \"hold\", \"linear\" or \"smooth\")")),
    }
}

/// What was really used for one frame, as recorded by the controller.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameFocus {
    pub frame: u64,
    pub t: f64,
    pub focus: f32,
    pub blur: BlurAmount,
}

/// The `--write-focus-track` document for a run's history, blur converted to full-resolution
/// pixels of a picture `display_width` wide.
pub fn track_json(history: &[FrameFocus], display_width: usize) -> String {
    let frames: Vec<Value> = history
        .iter()
        .map(|f| {
            serde_json::json!({
                "frame": f.frame,
                "t": f.t,
                "focus": f.focus,
                "blur": f.blur.to_pixels(display_width),
            })
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&serde_json::json!({ "frames": frames })).expect("plain values serialise");
    s.push('\n');
    s
}

/// Write [`track_json`] to `path`.
pub fn write_track(path: &Path, history: &[FrameFocus], display_width: usize) -> crate::Result<()> {
    std::fs::write(path, track_json(history, display_width))
        .map_err(|e| crate::err!(Output, "cannot write focus track {}: {e}", path.display()))
}
