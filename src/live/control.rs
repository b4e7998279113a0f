//! The live preview's book-keeping, free of threads and FFmpeg so it can be tested alone: the
//! working-resolution controller and the latency histogram.

use std::time::Duration;

pub use deeplens_core::pipeline::StageMs;

/// What the controller did after a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Down,
    Up,
}

/// Chooses how many extra ×2 halvings the working picture gets, from what the frames cost and
/// how many were dropped.
///
/// - It steps **down** when over the last half window (and ≥ 3 frames at the current level)
///   more than 10 % of the captured frames were dropped and a smaller working picture would
///   make a frame meaningfully cheaper: as many levels as the prediction says it takes to keep up.
/// - It steps **up** when nothing was dropped over a whole window and the predicted cost at the
///   larger size fits in 75 % of the frame interval. The lens blur's cost is taken to grow by
///   `lens_scale` per level (area ×4 to begin with, then what was observed), the upsampling's by
///   the processed area ([`set_shifts`](Self::set_shifts)); a step up that has to be undone soon
///   doubles the wait before the next try.
#[derive(Clone, Debug)]
pub struct RateController {
    /// Extra halvings now asked for.
    pub level: u32,
    pub max_level: u32,
    /// The source's frame interval in ms.
    pub interval_ms: f64,
    pub cores: f64,
    pub window: Duration,
    lens_scale: f64,
    /// When the current level began, in seconds of the run.
    level_since: f64,
    /// When the current evaluation window began, and the counters then.
    since: f64,
    captured0: u64,
    dropped0: u64,
    frames_at_level: u32,
    ema: StageMs,
    /// The lens time at the previous level, to learn `lens_scale` from the next measurements.
    prev: Option<(u32, f64)>,
    hold_up: f64,
    last_up: Option<f64>,
    /// For each level, how many times the frame is halved before the stages (0 if unknown).
    shifts: Vec<u32>,
}

impl RateController {
    pub fn new(interval_ms: f64, max_level: u32, cores: usize) -> Self {
        Self {
            level: 0,
            max_level,
            interval_ms,
            cores: cores.max(1) as f64,
            window: Duration::from_millis(1000),
            lens_scale: 4.0,
            level_since: 0.0,
            since: 0.0,
            captured0: 0,
            dropped0: 0,
            frames_at_level: 0,
            ema: StageMs::default(),
            prev: None,
            hold_up: 1.0,
            last_up: None,
            shifts: Vec::new(),
        }
    }

    /// How many times each level halves the frame before the stages (the upsampling's cost
    /// follows the processed area).
    pub fn set_shifts(&mut self, shifts: Vec<u32>) {
        self.shifts = shifts;
    }

    fn shift(&self, level: u32) -> i32 {
        self.shifts.get(level as usize).copied().unwrap_or(0) as i32
    }

    /// Stage times predicted at `to` from those measured at the current level.
    fn predict(&self, to: u32) -> StageMs {
        let dl = self.level as i32 - to as i32;
        let ds = self.shift(self.level) - self.shift(to);
        StageMs { depth: self.ema.depth, lens: self.ema.lens * self.lens_scale.powi(dl), upsample: self.ema.upsample * 4f64.powi(ds) }
    }

    /// Feed one finished frame: `now` in seconds of the run, `level` the frame was made at, its
    /// stage times, the capture and drop counters so far, and `max_level` (the deepest level
    /// that still makes the picture smaller, which changes with the blur). Returns the change made.
    pub fn observe(&mut self, now: f64, level: u32, ms: StageMs, captured: u64, dropped: u64, max_level: u32) -> Option<Step> {
        self.max_level = max_level;
        if self.level > max_level {
            return Some(self.set(max_level, now, captured, dropped));
        }
        if level != self.level {
            // Made before the last change: says nothing about the current level.
            return None;
        }
        self.frames_at_level += 1;
        if self.frames_at_level == 1 {
            // Count drops from the first frame made at this level: earlier ones were the old level's.
            self.ema = ms;
            self.since = now;
            self.captured0 = captured;
            self.dropped0 = dropped;
        } else {
            self.ema.mix(&ms, 0.25);
        }
        if self.frames_at_level == 3 {
            self.learn_scale();
        }
        let held = now - self.since;
        let cap = captured.saturating_sub(self.captured0).max(1);
        let drop_share = dropped.saturating_sub(self.dropped0) as f64 / cap as f64;
        let overloaded = drop_share > 0.10;
        // Overload is acted on after half a window; room to grow needs a whole one.
        let wait = if overloaded { 0.5 } else { 1.0 } * self.window.as_secs_f64();
        if self.frames_at_level < 3 || held < wait {
            return None;
        }
        let cost = self.ema.frame_cost(self.cores);
        if overloaded && self.level < self.max_level {
            // As many levels down as the prediction says it takes to keep up (at least one).
            let mut to = self.level + 1;
            while to < self.max_level && self.predict(to).frame_cost(self.cores) > 0.8 * self.interval_ms {
                to += 1;
            }
            if self.predict(to).frame_cost(self.cores) < 0.9 * cost {
                if self.last_up.is_some_and(|t| now - t < 3.0 * self.window.as_secs_f64()) {
                    self.hold_up = (self.hold_up * 2.0).min(16.0);
                }
                return Some(self.set(to, now, captured, dropped));
            }
        } else if drop_share == 0.0 && self.level > 0 && now - self.level_since >= self.hold_up && self.predict(self.level - 1).frame_cost(self.cores) < 0.75 * self.interval_ms {
            self.last_up = Some(now);
            return Some(self.set(self.level - 1, now, captured, dropped));
        }
        if now - self.level_since > 4.0 * self.hold_up.max(self.window.as_secs_f64()) {
            // A long quiet stretch at this level: the wait before a step up starts over.
            self.hold_up = 1.0;
        }
        self.since = now;
        self.captured0 = captured;
        self.dropped0 = dropped;
        None
    }

    fn set(&mut self, level: u32, now: f64, captured: u64, dropped: u64) -> Step {
        let step = if level > self.level { Step::Down } else { Step::Up };
        self.prev = (self.frames_at_level >= 3).then_some((self.level, self.ema.lens));
        self.level = level;
        self.level_since = now;
        self.since = now;
        self.captured0 = captured;
        self.dropped0 = dropped;
        self.frames_at_level = 0;
        step
    }

    fn learn_scale(&mut self) {
        let Some((from, lens_then)) = self.prev.take() else { return };
        let (big, small) = if from < self.level { (lens_then, self.ema.lens) } else { (self.ema.lens, lens_then) };
        if big > 0.5 && small > 0.05 {
            let r = (big / small).powf(1.0 / from.abs_diff(self.level) as f64).clamp(1.5, 32.0);
            self.lens_scale = 0.5 * self.lens_scale + 0.5 * r;
        }
    }
}

/// Latencies in a fixed-size histogram (memory stays flat however long the run), the exact
/// maximum kept aside.
pub struct LatencyHistogram {
    /// Microseconds, 3 significant digits (the `hdrhistogram` crate), up to a minute.
    hist: hdrhistogram::Histogram<u64>,
    max: f64,
}

/// The largest latency kept exactly (longer ones count as this).
const MAX_US: u64 = 60_000_000;

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self { hist: hdrhistogram::Histogram::new_with_bounds(1, MAX_US, 3).expect("valid bounds"), max: 0.0 }
    }
}

impl LatencyHistogram {
    pub fn add(&mut self, ms: f64) {
        let us = (ms.max(0.0) * 1e3).round().clamp(1.0, MAX_US as f64) as u64;
        self.hist.saturating_record(us);
        self.max = self.max.max(ms);
    }

    pub fn max(&self) -> f64 {
        self.max
    }

    /// The `q` quantile (0..=1) in milliseconds (never above the maximum); NaN when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.hist.is_empty() {
            return f64::NAN;
        }
        (self.hist.value_at_quantile(q.clamp(0.0, 1.0)) as f64 / 1e3).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(lens: f64) -> StageMs {
        StageMs { depth: 2.0, lens, upsample: 3.0 }
    }

    /// Simulate a source at 30 fps whose lens blur costs `lens_at(level, t)` ms, with the
    /// pipeline keeping up when the frame cost is under the interval; return the level over time.
    fn simulate(seconds: f64, lens_at: impl Fn(u32, f64) -> f64) -> Vec<(f64, u32)> {
        let mut c = RateController::new(33.3, 4, 2);
        let (mut captured, mut dropped, mut busy_until) = (0u64, 0u64, 0.0f64);
        let mut trace = Vec::new();
        let mut t = 0.0;
        while t < seconds {
            captured += 1;
            let level = c.level;
            let m = ms(lens_at(level, t));
            if t < busy_until {
                dropped += 1;
            } else {
                busy_until = t + m.frame_cost(2.0) / 1000.0;
                c.observe(busy_until, level, m, captured, dropped, 4);
            }
            trace.push((t, c.level));
            t += 1.0 / 30.0;
        }
        trace
    }

    #[test]
    fn steps_down_under_load_and_back_up_when_it_goes() {
        // 200 ms at full size, a quarter per level, for the first 4 s; then 1 ms.
        let trace = simulate(12.0, |l, t| if t < 4.0 { 200.0 / 4f64.powi(l as i32) } else { 1.0 });
        let at = |s: f64| trace.iter().rev().find(|(t, _)| *t <= s).unwrap().1;
        assert!(at(3.9) >= 2, "still at level {} under load", at(3.9));
        assert_eq!(at(12.0), 0, "back to full size once the load is gone: {trace:?}");
    }

    #[test]
    fn a_cost_that_does_not_shrink_with_the_picture_does_not_lower_it() {
        // The depth network is the bottleneck: smaller pictures would not help.
        let mut c = RateController::new(33.3, 4, 2);
        let m = StageMs { depth: 80.0, lens: 2.0, upsample: 3.0 };
        let mut t = 0.0;
        for i in 0..100u64 {
            t += 0.08;
            assert_eq!(c.observe(t, c.level, m, i * 3, i * 2, 4), None);
        }
        assert_eq!(c.level, 0);
    }

    #[test]
    fn learns_that_the_lens_blur_grows_faster_than_the_area() {
        // 16× per level (a gather blur: area × radius²): it settles where a frame fits (level 1)
        // and, having learnt the ratio, does not try level 0 again.
        let trace = simulate(30.0, |l, _| 160.0 / 16f64.powi(l as i32));
        let ups = trace.windows(2).filter(|w| w[1].1 < w[0].1).count();
        assert_eq!(trace.last().unwrap().1, 1, "{trace:?}");
        assert!(ups <= 2, "{ups} step ups in 30 s");
    }

    #[test]
    fn a_failed_step_up_waits_longer_before_the_next() {
        // Level 1 is too cheap to learn from, so every try predicts a fit and fails.
        let trace = simulate(30.0, |l, _| if l == 0 { 160.0 } else { 0.3 });
        let ups = trace.windows(2).filter(|w| w[1].1 < w[0].1).count();
        assert!(ups >= 2, "kept trying: {ups}");
        assert!(ups <= 5, "{ups} step ups in 30 s: no back-off");
    }

    #[test]
    fn histogram_quantiles() {
        let mut h = LatencyHistogram::default();
        for i in 1..=100 {
            h.add(i as f64);
        }
        assert!((h.quantile(0.5) - 50.0).abs() <= 0.25);
        assert!((h.quantile(0.95) - 95.0).abs() <= 0.25);
        assert_eq!(h.max(), 100.0);
        h.add(20_000.0);
        assert_eq!(h.max(), 20_000.0);
        assert!(LatencyHistogram::default().quantile(0.5).is_nan());
    }
}
