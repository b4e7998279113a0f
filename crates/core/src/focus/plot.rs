//! `deeplens track plot`: a picture of focus and blur over time, as SVG.
//!
//! A track is played frame by frame at the given rate exactly as the renderer would play it.
//! Where its focus depends on the picture (`focus_at` keys and the travel toward them) no value
//! exists yet: those spans are shaded and labelled with the point instead of drawn.

use super::player::TrackPlayer;
use super::track::{KeyedBy, Target, Track};
use super::{BlurAmount, FrameFocus};
use std::fmt::Write;

/// What to draw.
#[derive(Clone, Copy, Debug)]
pub enum PlotSource<'a> {
    /// A focus track as written by hand.
    Track(&'a Track),
    /// What a run used (`--write-focus-track`), or its document read back as a track.
    History(&'a [FrameFocus]),
}

/// How much of a track to draw, and how.
#[derive(Clone, Debug)]
pub struct PlotOptions {
    /// Seconds to draw; by default to one second past the last key.
    pub duration: Option<f64>,
    /// Frames to draw (overrides `duration`).
    pub frames: Option<u64>,
    /// Frame rate at which a track is played (and frame keys are placed in time).
    pub fps: f64,
    /// Displayed width in pixels, for blurs given in % of the width.
    pub display_width: usize,
    /// Blur where no key gives one (`--max-blur`).
    pub default_blur: BlurAmount,
    /// Picture size.
    pub width: u32,
    pub height: u32,
}

impl Default for PlotOptions {
    fn default() -> Self {
        Self {
            duration: None,
            frames: None,
            fps: 30.0,
            display_width: 1920,
            default_blur: BlurAmount::DEFAULT,
            width: 960,
            height: 440,
        }
    }
}

/// Tracks with more keys than this are drawn without key markers.
const MAX_MARKED_KEYS: usize = 40;

/// The most frames a plot samples.
const MAX_SAMPLES: u64 = 20_000;

/// One sampled frame: time, focus (NaN where read from the picture), blur in pixels.
type Sample = (f64, f32, f32);

/// Draw focus (top, 1 = nearest at the top) and blur (bottom) over time.
pub fn plot_svg(source: PlotSource<'_>, opts: &PlotOptions) -> String {
    let fps = if opts.fps > 0.0 { opts.fps } else { 30.0 };
    let (samples, marks, title) = match source {
        PlotSource::Track(track) => {
            let key_time = |at: f64| match track.keyed_by {
                KeyedBy::Time => at,
                KeyedBy::Frame => at / fps,
            };
            let last = key_time(track.keys.last().expect("a track has keys").at);
            let frames = opts.frames.unwrap_or_else(|| (opts.duration.unwrap_or(last + 1.0) * fps).ceil().min(1e15) as u64 + 1).max(1);
            let mut player = TrackPlayer::new(track.clone(), 0.0);
            // At most MAX_SAMPLES frames are sampled, evenly (a drawing cannot show more): the
            // cost stays bounded whatever the track's length.
            let n = frames.min(MAX_SAMPLES);
            let samples: Vec<Sample> = (0..n)
                .map(|k| if n < frames { k * (frames - 1) / (n - 1).max(1) } else { k })
                .map(|i| {
                    let t = i as f64 / fps;
                    let (f, b) = player.next(i, t, opts.default_blur, Some(opts.display_width), |_| f32::NAN);
                    (t, f, b.to_pixels(opts.display_width))
                })
                .collect();
            // A written record (one key per frame) is drawn without markers.
            let marked = if track.keys.len() <= MAX_MARKED_KEYS { track.keys.len() } else { 0 };
            let marks: Vec<(f64, String)> = track
                .keys
                .iter()
                .take(marked)
                .enumerate()
                .map(|(i, k)| {
                    let what = match k.target {
                        Target::Focus(v) => format!("{v}"),
                        Target::At(p) => format!("at [{}, {}]", p.x, p.y),
                    };
                    let ease = if i == 0 { String::new() } else { format!(" {}", k.ease) };
                    (key_time(k.at), format!("{i}: {what}{ease}"))
                })
                .collect();
            (samples, marks, format!("focus track, {} keys", track.keys.len()))
        }
        PlotSource::History(h) => {
            let samples: Vec<Sample> = h.iter().map(|f| (f.t, f.focus, f.blur.to_pixels(opts.display_width))).collect();
            (samples, Vec::new(), format!("focus used, {} frames", h.len()))
        }
    };
    render(&samples, &marks, &title, opts)
}

fn render(samples: &[Sample], marks: &[(f64, String)], title: &str, opts: &PlotOptions) -> String {
    let (w, h) = (opts.width as f64, opts.height as f64);
    let (left, right, top, gap, bottom) = (56.0, 16.0, 34.0, 34.0, 30.0);
    let panel_h = (h - top - gap - bottom) / 2.0;
    let t_end = samples.last().map_or(1.0, |s| s.0).max(marks.last().map_or(0.0, |m| m.0)).max(1e-3);
    let x_of = |t: f64| left + (w - left - right) * t / t_end;
    let focus_top = top;
    let blur_top = top + panel_h + gap;
    let y_focus = |f: f64| focus_top + panel_h * (1.0 - f);
    let blur_max = samples.iter().map(|s| s.2 as f64).fold(0.0, f64::max);
    let blur_scale = nice_ceiling(blur_max.max(1.0));
    let y_blur = |b: f64| blur_top + panel_h * (1.0 - b / blur_scale);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">"##
    );
    let _ = writeln!(s, r##"<rect width="{w}" height="{h}" fill="#ffffff"/>"##);
    let _ = writeln!(s, r##"<text x="{left}" y="16" font-size="13" fill="#222">{}</text>"##, escape(title));

    // Frames: grid, axes, labels.
    for (panel_top, label, max) in [(focus_top, "focus (1 = near)", 1.0), (blur_top, "blur (px)", blur_scale)] {
        let _ = writeln!(
            s,
            r##"<rect x="{left}" y="{panel_top}" width="{}" height="{panel_h}" fill="none" stroke="#999"/>"##,
            w - left - right
        );
        for k in 0..=4 {
            let v = max * k as f64 / 4.0;
            let y = panel_top + panel_h * (1.0 - k as f64 / 4.0);
            let _ = writeln!(s, r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#eee"/>"##, w - right);
            let _ = writeln!(s, r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##, left - 4.0, y + 4.0, trim(v));
        }
        let _ = writeln!(s, r##"<text x="{:.1}" y="{:.1}" fill="#333">{label}</text>"##, left + 4.0, panel_top - 4.0);
    }
    let step = nice_ceiling(t_end / 8.0);
    let mut t = 0.0;
    while t <= t_end + 1e-9 {
        let x = x_of(t);
        let _ = writeln!(s, r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#555">{} s</text>"##, h - 10.0, trim(t));
        t += step;
    }

    // Spans whose focus comes from the picture.
    let mut i = 0;
    while i < samples.len() {
        if samples[i].1.is_nan() {
            let start = i;
            while i < samples.len() && samples[i].1.is_nan() {
                i += 1;
            }
            let (x0, x1) = (x_of(samples[start].0), x_of(samples[i - 1].0));
            let _ = writeln!(
                s,
                r##"<rect x="{x0:.1}" y="{focus_top}" width="{:.1}" height="{panel_h}" fill="#fde9c9"/>"##,
                (x1 - x0).max(1.0)
            );
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" fill="#a66400">read from the picture</text>"##,
                x0 + 4.0,
                focus_top + panel_h / 2.0
            );
        } else {
            i += 1;
        }
    }

    // Key markers.
    for (t, label) in marks {
        let x = x_of(*t);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{focus_top}" x2="{x:.1}" y2="{:.1}" stroke="#6a6aff" stroke-dasharray="3,3"/>"##,
            blur_top + panel_h
        );
        let _ = writeln!(s, r##"<text x="{:.1}" y="{:.1}" fill="#4040c0">{}</text>"##, x + 3.0, focus_top + 12.0, escape(label));
    }

    // The curves.
    let focus_path = path(samples.iter().map(|p| (x_of(p.0), if p.1.is_nan() { None } else { Some(y_focus(p.1 as f64)) })));
    let blur_path = path(samples.iter().map(|p| (x_of(p.0), Some(y_blur(p.2 as f64)))));
    let _ = writeln!(s, r##"<path d="{focus_path}" fill="none" stroke="#d03030" stroke-width="2"/>"##);
    let _ = writeln!(s, r##"<path d="{blur_path}" fill="none" stroke="#208040" stroke-width="2"/>"##);
    s.push_str("</svg>\n");
    s
}

/// An SVG path through the points, broken where a point is missing.
fn path(points: impl Iterator<Item = (f64, Option<f64>)>) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for (x, y) in points {
        match y {
            Some(y) => {
                let _ = write!(d, "{}{x:.1},{y:.1} ", if pen_down { "L" } else { "M" });
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    d.trim_end().to_string()
}

/// The smallest of 1, 2, 2.5, 5 × 10^k that is ≥ v.
fn nice_ceiling(v: f64) -> f64 {
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|c| *c >= v - 1e-12).unwrap_or(10.0 * mag)
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
