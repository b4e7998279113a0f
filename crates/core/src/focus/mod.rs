//! Focus control: which depth is sharp and how strong the blur is, frame by frame.
//!
//! - [`FocusController`] turns a [`FocusSpec`] (a fixed depth, a point, autofocus or a
//!   [`Track`]) into a focal depth and blur per frame, in one pass (memory flat but for the
//!   optional per-frame history kept for `--write-focus-track`).
//! - [`FocusSmoother`] is the focus motor for depths read from the picture: critically damped,
//!   no overshoot, with a deadband so a still subject does not breathe.
//! - [`Autofocus`] finds the subject (among the foreground regions when the depth model has a
//!   foreground head, else the centre-weighted nearest large region) and keeps it.
//! - [`DepthStabilizer`] removes the flicker of per-frame normalised depth.
//! - [`FlickerMeter`] and [`motion_lag`] measure both; [`plot_svg`] draws a track.

mod auto;
mod player;
mod plot;
mod smooth;
pub mod stabilize;
mod track;

pub use auto::{Autofocus, Subject};
pub use plot::{plot_svg, PlotOptions, PlotSource};
pub use smooth::{FocusSmoother, DEFAULT_RESPONSE};
pub use stabilize::DepthStabilizer;
pub use track::{parse_timestamp, track_json, write_track, Ease, FrameFocus, Key, KeyedBy, Target, Track, TrackError};
pub(crate) use track::shown;

use crate::frame::Plane;
use player::TrackPlayer;
use std::fmt;
use std::str::FromStr;

/// The blur strength: the circle-of-confusion radius where |D − d_f| = 1, in full-resolution
/// output pixels or as a share of the displayed width.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BlurAmount {
    Pixels(f32),
    /// Fraction of the displayed width (0.025 for "2.5%").
    WidthShare(f32),
}

impl BlurAmount {
    /// The default: 2.5 % of the displayed width.
    pub const DEFAULT: BlurAmount = BlurAmount::WidthShare(0.025);
    /// The largest blur in pixels.
    pub const MAX_PIXELS: f32 = 1000.0;
    /// The largest blur as a share of the width (25 %).
    pub const MAX_SHARE: f32 = 0.25;

    /// Finite and within [0, MAX_PIXELS] px or [0, MAX_SHARE] of the width.
    pub fn in_range(self) -> bool {
        match self {
            BlurAmount::Pixels(v) => v.is_finite() && (0.0..=Self::MAX_PIXELS).contains(&v),
            BlurAmount::WidthShare(v) => v.is_finite() && (0.0..=Self::MAX_SHARE).contains(&v),
        }
    }

    pub fn to_pixels(self, display_width: usize) -> f32 {
        match self {
            BlurAmount::Pixels(p) => p,
            BlurAmount::WidthShare(s) => s * display_width as f32,
        }
    }
}

impl FromStr for BlurAmount {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let bad = || format!("invalid blur '{s}': expected pixels such as 24 or 24px, or a share of the width such as 2.5%");
        let (num, pct) = if let Some(n) = t.strip_suffix('%') {
            (n, true)
        } else {
            (t.strip_suffix("px").unwrap_or(t), false)
        };
        let v: f32 = num.trim().parse().map_err(|_| bad())?;
        if !v.is_finite() || v < 0.0 {
            return Err(format!("invalid blur '{s}': must be a finite number ≥ 0"));
        }
        if pct {
            if v > BlurAmount::MAX_SHARE * 100.0 {
                return Err(format!("invalid blur '{s}': at most 25% of the width"));
            }
            Ok(BlurAmount::WidthShare(v / 100.0))
        } else {
            if v > BlurAmount::MAX_PIXELS {
                return Err(format!("invalid blur '{s}': at most 1000 px"));
            }
            Ok(BlurAmount::Pixels(v))
        }
    }
}

impl fmt::Display for BlurAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlurAmount::Pixels(p) => write!(f, "{p}px"),
            BlurAmount::WidthShare(s) => write!(f, "{}%", s * 100.0),
        }
    }
}

/// A point of the picture as displayed, relative coordinates in [0, 1].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RelPoint {
    pub x: f32,
    pub y: f32,
}

impl FromStr for RelPoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid point '{s}': expected X,Y with both in [0,1], such as 0.5,0.4");
        let (a, b) = s.split_once(',').ok_or_else(bad)?;
        let x: f32 = a.trim().parse().map_err(|_| bad())?;
        let y: f32 = b.trim().parse().map_err(|_| bad())?;
        if !(0.0..=1.0).contains(&x) || !(0.0..=1.0).contains(&y) {
            return Err(bad());
        }
        Ok(RelPoint { x, y })
    }
}

/// Parse a focal depth in [0, 1].
pub fn parse_focus(s: &str) -> Result<f32, String> {
    let v: f32 = s.trim().parse().map_err(|_| format!("invalid focus '{s}': expected a number in [0,1]"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("invalid focus '{s}': must be in [0,1] (1 = nearest)"));
    }
    Ok(v)
}

/// Clockwise rotation to apply to the stored picture for display (0, 90, 180 or 270).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rotation(pub u32);

impl Rotation {
    /// Map a relative point of the displayed picture to relative coordinates of the stored one.
    pub fn display_to_storage(self, p: RelPoint) -> RelPoint {
        match self.0 % 360 {
            90 => RelPoint { x: p.y, y: 1.0 - p.x },
            180 => RelPoint { x: 1.0 - p.x, y: 1.0 - p.y },
            270 => RelPoint { x: 1.0 - p.y, y: p.x },
            _ => p,
        }
    }
}

/// How focus is chosen for the whole run.
#[derive(Clone, Debug, PartialEq)]
pub enum FocusSpec {
    /// A fixed focal depth.
    Depth(f32),
    /// Whatever is at this displayed point, followed over time and smoothed.
    Point(RelPoint),
    /// The subject found in the depth map, followed over time and smoothed.
    Autofocus,
    /// A keyframed focus track.
    Track(Track),
}

impl Default for FocusSpec {
    fn default() -> Self {
        FocusSpec::Point(RelPoint { x: 0.5, y: 0.5 })
    }
}

/// Focus and blur decided for one frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FocusState {
    pub focus: f32,
    pub blur: BlurAmount,
}

/// Decides focus frame by frame, in one pass over the stream.
///
/// Fixed depths and track `focus` values are used exactly; depths read from the picture (a
/// point, autofocus, track `focus_at` keys) go through a [`FocusSmoother`] with the response time
/// set by [`with_smoothing`](Self::with_smoothing). Every decision is kept in
/// [`history`](Self::history) for `--write-focus-track`.
pub struct FocusController {
    spec: FocusSpec,
    blur: BlurAmount,
    rotation: Rotation,
    response: f32,
    display_width: Option<usize>,
    record: bool,
    smoother: FocusSmoother,
    autofocus: Autofocus,
    player: Option<TrackPlayer>,
    history: Vec<FrameFocus>,
}

impl FocusController {
    pub fn new(spec: FocusSpec, blur: BlurAmount, rotation: Rotation) -> Self {
        Self {
            spec,
            blur,
            rotation,
            response: DEFAULT_RESPONSE,
            display_width: None,
            record: true,
            smoother: FocusSmoother::new(DEFAULT_RESPONSE),
            autofocus: Autofocus::new(),
            player: None,
            history: Vec::new(),
        }
    }

    /// The response time in seconds of the smoothing of depths read from the picture
    /// (`--focus-smoothing`; default 0.3 s, 0 = off).
    pub fn with_smoothing(mut self, seconds: f32) -> Self {
        self.response = seconds.max(0.0);
        self.smoother = FocusSmoother::new(self.response);
        self
    }

    /// The displayed full-resolution width, used where a track travels between a blur in pixels
    /// and one in % of the width (without it such segments assume 1920).
    pub fn with_display_width(mut self, width: usize) -> Self {
        self.display_width = Some(width);
        self
    }

    /// Whether to keep the per-frame history (on by default; about 32 bytes a frame).
    pub fn with_history(mut self, record: bool) -> Self {
        self.record = record;
        self
    }

    /// Focus for frame `index` at `t` seconds from the first frame, given its stabilised depth
    /// (stored orientation, any size).
    pub fn next(&mut self, index: u64, t: f64, depth: &Plane) -> FocusState {
        self.next_with(index, t, depth, None)
    }

    /// [`next`](Self::next) with the model's foreground probability map, when it has one:
    /// autofocus then picks its subject among the foreground regions.
    pub fn next_with(&mut self, index: u64, t: f64, depth: &Plane, foreground: Option<&Plane>) -> FocusState {
        let rotation = self.rotation;
        let read = |p: RelPoint| depth_at(depth, rotation.display_to_storage(p));
        let (focus, blur) = match &self.spec {
            FocusSpec::Depth(d) => (*d, self.blur),
            FocusSpec::Point(p) => (self.smoother.update(t, read(*p)), self.blur),
            FocusSpec::Autofocus => {
                let reading = self.autofocus.read_with(t, depth, foreground);
                (self.smoother.update(t, reading), self.blur)
            }
            FocusSpec::Track(track) => {
                let player = self.player.get_or_insert_with(|| TrackPlayer::new(track.clone(), self.response));
                player.next(index, t, self.blur, self.display_width, read)
            }
        };
        if self.record {
            self.history.push(FrameFocus { frame: index, t, focus, blur });
        }
        FocusState { focus, blur }
    }

    /// Choose focus another way from the next frame on (a live viewer's click), keeping the
    /// smoothing state: the focus travels to the new subject at the set response time.
    pub fn set_spec(&mut self, spec: FocusSpec) {
        self.spec = spec;
        self.player = None;
    }

    /// Change the blur from the next frame on.
    pub fn set_blur(&mut self, blur: BlurAmount) {
        self.blur = blur;
    }

    /// What was used for each frame so far.
    pub fn history(&self) -> &[FrameFocus] {
        &self.history
    }

    /// The subject autofocus follows now (stored-picture coordinates), for overlays.
    pub fn autofocus_subject(&self) -> Option<Subject> {
        self.autofocus.subject()
    }
}

/// A robust reading of the depth at a relative point of the stored picture: the median of a
/// window about 2 % of the picture's short side.
pub fn depth_at(depth: &Plane, p: RelPoint) -> f32 {
    let r = ((depth.width.min(depth.height) as f32) * 0.02).round().max(1.0) as usize;
    depth.median_around(p.x * (depth.width - 1) as f32, p.y * (depth.height - 1) as f32, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_timestamp("12.5").unwrap(), 12.5);
        assert_eq!(parse_timestamp("00:01:02.500").unwrap(), 62.5);
        assert_eq!(parse_timestamp("1:00").unwrap(), 60.0);
        assert!(parse_timestamp("-1").is_err());
        assert!(parse_timestamp("1:75").is_err());
        assert!(parse_timestamp("abc").is_err());
    }

    #[test]
    fn blur_parses_both_units() {
        assert_eq!("24".parse::<BlurAmount>().unwrap(), BlurAmount::Pixels(24.0));
        assert_eq!("12.5px".parse::<BlurAmount>().unwrap(), BlurAmount::Pixels(12.5));
        assert_eq!("2.5%".parse::<BlurAmount>().unwrap(), BlurAmount::WidthShare(0.025));
        assert!("-3".parse::<BlurAmount>().is_err());
        assert!("abc".parse::<BlurAmount>().is_err());
        assert_eq!(BlurAmount::WidthShare(0.025).to_pixels(1280), 32.0);
    }

    #[test]
    fn points_and_rotation() {
        assert!("1.2,0.5".parse::<RelPoint>().is_err());
        let p: RelPoint = "0.25,0.75".parse().unwrap();
        assert_eq!(Rotation(0).display_to_storage(p), p);
        assert_eq!(Rotation(180).display_to_storage(p), RelPoint { x: 0.75, y: 0.25 });
        // Displayed top-left corner of a picture shown rotated 90° clockwise is the stored bottom-left.
        assert_eq!(Rotation(90).display_to_storage(RelPoint { x: 0.0, y: 0.0 }), RelPoint { x: 0.0, y: 1.0 });
    }

    #[test]
    fn point_focus_reads_the_depth_there() {
        let depth = Plane::from_fn(100, 100, |x, _| if x < 50 { 0.2 } else { 0.9 });
        let mut c = FocusController::new(FocusSpec::Point(RelPoint { x: 0.8, y: 0.5 }), BlurAmount::DEFAULT, Rotation(0));
        assert_eq!(c.next(0, 0.0, &depth).focus, 0.9);
    }
}
