//! A focus motor for focal depths read from the picture.
//!
//! Readings pass three stages:
//! 1. a running median of the last three readings, which removes single-frame outliers;
//! 2. a hysteresis latch: while the subject is still, the target holds until the reading leaves a
//!    deadband (three times the estimated reading noise, between 0.01 and 0.04), so a still
//!    subject does not make focus breathe; once it has left, the target follows every reading
//!    until the reading has stopped moving for a response time;
//! 3. a critically damped second-order response toward the target, solved exactly for each
//!    frame interval, so variable frame rates change nothing. Its rate is set so a step settles
//!    to within 2 % of its size within the response time, counting the median's one-frame delay.
//!    It never overshoots the target.
//!
//! A subject moving at speed `v` (depth units per second) is trailed in the steady state by
//! `2v/ω + v·Δt` with `ω = 5.83 / (T − Δt)`, about `0.12·v` for `T` = 0.3 s at 30 fps.

use std::collections::VecDeque;

/// The default response time in seconds (`--focus-smoothing`).
pub const DEFAULT_RESPONSE: f32 = 0.3;

/// `y` with `(1 + y)·e^(−y) = 0.02`: a critically damped step is within 2 % after `y / ω`.
const SETTLE_2PCT: f64 = 5.833_9;
const DEADBAND_MIN: f64 = 0.01;
const DEADBAND_MAX: f64 = 0.04;
/// Time constant of the noise estimate, seconds.
const NOISE_TAU: f64 = 1.0;

/// Smooths one stream of focal depth readings in time.
#[derive(Clone, Debug)]
pub struct FocusSmoother {
    response: f64,
    state: Option<State>,
}

#[derive(Clone, Debug)]
struct State {
    x: f64,
    v: f64,
    target: f64,
    last_t: f64,
    /// The last three raw readings, oldest first once full.
    recent: VecDeque<f64>,
    /// Running mean of |second difference| of the raw readings.
    d2_mean: f64,
    /// Running mean of the frame interval.
    dt_mean: Option<f64>,
    moving: bool,
    /// (t, median reading) over the last response time.
    window: VecDeque<(f64, f64)>,
}

impl FocusSmoother {
    /// `response_time` in seconds; 0 turns smoothing off (readings pass unchanged).
    pub fn new(response_time: f32) -> Self {
        Self { response: response_time.max(0.0) as f64, state: None }
    }

    pub fn response_time(&self) -> f32 {
        self.response as f32
    }

    /// The current output, if any reading has been given.
    pub fn value(&self) -> Option<f32> {
        self.state.as_ref().map(|s| s.x as f32)
    }

    /// The reading-noise deadband in use.
    pub fn deadband(&self) -> f32 {
        self.state.as_ref().map_or(DEADBAND_MIN, |s| s.deadband()) as f32
    }

    /// Feed the reading of the frame at `t` seconds; returns the smoothed focal depth.
    pub fn update(&mut self, t: f64, reading: f32) -> f32 {
        let r = reading as f64;
        let Some(s) = self.state.as_mut() else {
            let mut recent = VecDeque::with_capacity(3);
            recent.push_back(r);
            let mut window = VecDeque::new();
            window.push_back((t, r));
            self.state = Some(State {
                x: r,
                v: 0.0,
                target: r,
                last_t: t,
                recent,
                d2_mean: 0.0,
                dt_mean: None,
                moving: false,
                window,
            });
            return reading;
        };
        if self.response <= 0.0 {
            s.x = r;
            s.last_t = t;
            return reading;
        }
        let dt = (t - s.last_t).max(0.0);
        s.last_t = t;
        if dt > 0.0 {
            s.dt_mean = Some(s.dt_mean.map_or(dt, |m| m + 0.1 * (dt - m)));
        }

        if s.recent.len() == 3 {
            s.recent.pop_front();
        }
        s.recent.push_back(r);
        let m = if s.recent.len() == 3 {
            let (a, b, c) = (s.recent[0], s.recent[1], s.recent[2]);
            let d2 = (a - 2.0 * b + c).abs();
            s.d2_mean += (1.0 - (-dt / NOISE_TAU).exp()) * (d2 - s.d2_mean);
            a.max(b).min(a.min(b).max(c))
        } else {
            r
        };

        s.window.push_back((t, m));
        while s.window.front().is_some_and(|&(t0, _)| t - t0 > self.response) {
            s.window.pop_front();
        }

        let band = s.deadband();
        if !s.moving {
            if (m - s.target).abs() > band {
                s.moving = true;
                s.target = m;
            }
        } else {
            s.target = m;
            let (t0, m0) = *s.window.front().expect("holds the current reading");
            let spans = t - t0 >= 0.5 * self.response;
            if spans && (m - m0).abs() < band && (s.x - m).abs() < 0.5 * band {
                s.moving = false;
                s.target = s.window.iter().map(|w| w.1).sum::<f64>() / s.window.len() as f64;
            }
        }

        // The critically damped response toward a constant target over dt, solved exactly.
        let lag = s.dt_mean.unwrap_or(0.0);
        let settle = (self.response - lag).max(0.5 * self.response);
        let w = SETTLE_2PCT / settle;
        let e0 = s.x - s.target;
        let c = s.v + w * e0;
        let decay = (-w * dt).exp();
        let mut e = (e0 + c * dt) * decay;
        let mut v = (s.v - w * c * dt) * decay;
        if e0 != 0.0 && e != 0.0 && e.signum() != e0.signum() {
            // Crossed the target: stop there rather than overshoot.
            e = 0.0;
            v = 0.0;
        }
        s.x = (s.target + e).clamp(0.0, 1.0);
        s.v = v;
        s.x as f32
    }
}

impl State {
    fn deadband(&self) -> f64 {
        // Gaussian noise of σ gives a second difference of σ√6, whose mean magnitude is σ√6·√(2/π).
        let sigma = self.d2_mean / (6.0f64.sqrt() * (2.0 / std::f64::consts::PI).sqrt());
        (3.0 * sigma).clamp(DEADBAND_MIN, DEADBAND_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_passes_readings() {
        let mut s = FocusSmoother::new(0.0);
        assert_eq!(s.update(0.0, 0.3), 0.3);
        assert_eq!(s.update(0.04, 0.9), 0.9);
    }

    #[test]
    fn single_outlier_is_ignored() {
        let mut s = FocusSmoother::new(0.3);
        let mut out = Vec::new();
        for i in 0..60 {
            let r = if i == 30 { 0.95 } else { 0.4 };
            out.push(s.update(i as f64 / 30.0, r));
        }
        assert!(out.iter().all(|&v| (v - 0.4).abs() < 1e-6), "{out:?}");
    }
}
