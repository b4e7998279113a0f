//! Playing a focus track over a stream of frames, in one pass.
//!
//! A key *lands* on the first frame at or past its position (time or index). Between the last
//! landed key `a` and the next key `b`, progress runs from the position where `a` actually landed
//! to `b`'s nominal position, so each key's own value is reached exactly on the frame it lands on,
//! whether or not frame times fall on key times (variable frame rate, dropped frames).

use super::smooth::FocusSmoother;
use super::track::{Ease, KeyedBy, Target, Track};
use super::{BlurAmount, RelPoint};

/// Frame times within this of a key's `t` reach it (timestamps carry rounding).
const TIME_EPS: f64 = 1e-6;

#[derive(Clone, Debug)]
pub(crate) struct TrackPlayer {
    track: Track,
    /// Positions at which keys landed, in key order.
    landed: Vec<f64>,
    /// Smoothers of the `focus_at` keys in play, by key index.
    smoothers: Vec<(usize, FocusSmoother)>,
    response: f32,
}

impl TrackPlayer {
    pub(crate) fn new(track: Track, response: f32) -> Self {
        Self { track, landed: Vec::new(), smoothers: Vec::new(), response }
    }

    /// Focus and blur of one frame. `read` gives the raw depth at a displayed point of this
    /// frame; `default_blur` serves where no key gives a blur; `display_width` converts between
    /// blur units when a segment mixes pixels and shares of the width.
    pub(crate) fn next(
        &mut self,
        index: u64,
        t: f64,
        default_blur: BlurAmount,
        display_width: Option<usize>,
        read: impl Fn(RelPoint) -> f32,
    ) -> (f32, BlurAmount) {
        let keys = &self.track.keys;
        let pos = match self.track.keyed_by {
            KeyedBy::Time => t,
            KeyedBy::Frame => index as f64,
        };
        while self.landed.len() < keys.len() && pos + TIME_EPS >= keys[self.landed.len()].at {
            self.landed.push(pos);
        }
        let n = self.landed.len();
        let last = keys.len() - 1;
        // The keys whose values this frame needs.
        let (a, b) = match n {
            0 => (0, None),
            n if n > last => (last, None),
            n => (n - 1, Some(n)),
        };

        // Keep the smoothers of the keys in play, fed with this frame's readings.
        self.smoothers.retain(|(k, _)| *k == a || Some(*k) == b);
        for k in std::iter::once(a).chain(b) {
            if let Target::At(p) = keys[k].target {
                let reading = read(p);
                match self.smoothers.iter_mut().find(|(i, _)| *i == k) {
                    Some((_, s)) => {
                        s.update(t, reading);
                    }
                    None => {
                        let mut s = FocusSmoother::new(self.response);
                        s.update(t, reading);
                        self.smoothers.push((k, s));
                    }
                }
            }
        }
        let value_of = |k: usize| match keys[k].target {
            Target::Focus(v) => v,
            Target::At(_) => {
                self.smoothers.iter().find(|(i, _)| *i == k).and_then(|(_, s)| s.value()).expect("fed above")
            }
        };

        let focus = match b {
            None => value_of(a),
            Some(b) => {
                let u = self.progress(a, b, pos);
                if u <= 0.0 {
                    value_of(a)
                } else {
                    lerp(value_of(a), value_of(b), keys[b].ease, u)
                }
            }
        };

        // Blur travels between the keys that give one.
        let has_blur = |k: &usize| keys[*k].blur.is_some();
        let prev = (0..n).rev().find(has_blur);
        let next = (n..keys.len()).find(has_blur);
        let blur = match (prev, next) {
            (None, None) => default_blur,
            (Some(k), None) | (None, Some(k)) => keys[k].blur.expect("has blur"),
            (Some(p), Some(q)) => {
                let (from, to) = (keys[p].blur.expect("has blur"), keys[q].blur.expect("has blur"));
                let u = self.progress(p, q, pos);
                let e = keys[q].ease.apply(u);
                if e <= 0.0 {
                    from
                } else {
                    mix_blur(from, to, e, display_width)
                }
            }
        };
        (focus, blur)
    }

    /// How far `pos` is from where key `a` landed toward key `b`'s position, in [0, 1].
    fn progress(&self, a: usize, b: usize, pos: f64) -> f64 {
        let from = self.landed[a];
        let span = self.track.keys[b].at - from;
        if span > 0.0 {
            ((pos - from) / span).clamp(0.0, 1.0)
        } else {
            1.0
        }
    }
}

fn lerp(a: f32, b: f32, ease: Ease, u: f64) -> f32 {
    let e = ease.apply(u);
    (a as f64 + (b as f64 - a as f64) * e) as f32
}

/// Blur a share `e` of the way from `a` to `b`; in their unit when they share one, else in pixels
/// (of `display_width`, or of 1920 when the width is unknown).
fn mix_blur(a: BlurAmount, b: BlurAmount, e: f64, display_width: Option<usize>) -> BlurAmount {
    let mix = |x: f32, y: f32| (x as f64 + (y as f64 - x as f64) * e) as f32;
    match (a, b) {
        (BlurAmount::Pixels(x), BlurAmount::Pixels(y)) => BlurAmount::Pixels(mix(x, y)),
        (BlurAmount::WidthShare(x), BlurAmount::WidthShare(y)) => BlurAmount::WidthShare(mix(x, y)),
        _ => {
            let w = display_width.unwrap_or(1920);
            BlurAmount::Pixels(mix(a.to_pixels(w), b.to_pixels(w)))
        }
    }
}
