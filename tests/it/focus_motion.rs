//! Smoothing of depths read from the picture: step response, still subjects, moving subjects,
//! autofocus.


use deeplens_core::focus::{BlurAmount, FocusController, FocusSmoother, FocusSpec, RelPoint, Rotation};
use deeplens_eval::{motion_lag, SyntheticClip};
use deeplens_core::Plane;
use crate::common::focus::{constant_rate, run, Noise};

/// A picture whose centre (a third of each side) is at `subject` and the rest at 0.1.
fn centre_subject(subject: f32) -> Plane {
    Plane::from_fn(96, 54, |x, y| if (32..64).contains(&x) && (18..36).contains(&y) { subject } else { 0.1 })
}

fn centre_point() -> FocusSpec {
    FocusSpec::Point(RelPoint { x: 0.5, y: 0.5 })
}

#[test]
fn step_settles_within_the_response_time_without_overshoot() {
    for &(fps, response) in &[(30.0, 0.3), (24.0, 0.3), (60.0, 0.2), (25.0, 1.0), (30.0, 0.5)] {
        for &(from, to) in &[(0.2f32, 0.7f32), (0.9, 0.3)] {
            let mut c = FocusController::new(centre_point(), BlurAmount::DEFAULT, Rotation(0)).with_smoothing(response);
            let step_at = 1.0;
            let frames = constant_rate((4.0 * fps) as u64, fps);
            let out = run(&mut c, &frames, |_, t| centre_subject(if t < step_at { from } else { to }));
            let tol = 0.02 * (to - from).abs();
            for (&(i, t), s) in frames.iter().zip(&out) {
                let f = s.focus;
                // Never beyond the new value, never back toward the old one.
                assert!((f - from) * (to - from).signum() <= (to - from).abs() + 1e-6, "overshoot at {t}: {f}");
                if i > 0 {
                    let before = out[i as usize - 1].focus;
                    assert!((f - before) * (to - from).signum() >= -1e-6, "{fps} fps, {response} s: turned back at {t}");
                }
                if t < step_at {
                    assert_eq!(f, from);
                }
                if t >= step_at + response as f64 - 1e-9 {
                    assert!((f - to).abs() <= tol, "{fps} fps, {response} s: {f} at {t:.3} s, not within {tol} of {to}");
                }
            }
        }
    }
}

#[test]
fn step_on_variable_frame_rate() {
    let gaps = [0.033, 0.021, 0.045, 0.07, 0.033, 0.02, 0.05, 0.04];
    let mut t = 0.0;
    let mut s = FocusSmoother::new(0.4);
    let mut last = 0.0;
    for i in 0..150 {
        let reading = if t < 1.0 { 0.3 } else { 0.8 };
        let f = s.update(t, reading);
        assert!(f <= 0.8 + 1e-6 && f >= last - 1e-6, "{f} at {t}");
        if t >= 1.4 {
            assert!((f - 0.8).abs() <= 0.01, "{f} at {t}");
        }
        last = f;
        t += gaps[i % gaps.len()];
    }
}

#[test]
fn a_still_subject_does_not_make_focus_breathe() {
    let mut noise = Noise::new(7);
    let mut c = FocusController::new(centre_point(), BlurAmount::DEFAULT, Rotation(0));
    let frames = constant_rate(300, 30.0);
    // The whole subject's depth jitters from frame to frame (σ = 0.012), as networks' does.
    let readings: Vec<f32> = frames.iter().map(|_| 0.6 + 0.012 * noise.next()).collect();
    let out = run(&mut c, &frames, |i, _| centre_subject(readings[i as usize]));
    let spread = |v: &mut dyn Iterator<Item = f32>| {
        let v: Vec<f32> = v.collect();
        v.iter().cloned().fold(f32::MIN, f32::max) - v.iter().cloned().fold(f32::MAX, f32::min)
    };
    let raw = spread(&mut readings[30..].iter().cloned());
    let used = spread(&mut out[30..].iter().map(|s| s.focus));
    assert!(raw > 0.05, "the test wants visible noise: {raw}");
    assert!(used < 0.01, "focus breathes by {used} (readings by {raw})");
    assert!(out.iter().all(|s| (s.focus - 0.6).abs() < 0.03));
}

#[test]
fn a_moving_subject_is_followed_within_005_after_the_response_time() {
    // A subject filling the centre comes nearer and goes back (0.3 → 0.7 → 0.3 over 4 s), its
    // depth reading noisy (σ = 0.01).
    let truth = |t: f64| 0.3 + 0.4 * (1.0 - ((t / 2.0) % 2.0 - 1.0).abs()) as f32;
    for &(fps, response) in &[(30.0, 0.3), (24.0, 0.3), (60.0, 0.5)] {
        let mut noise = Noise::new(11);
        let frames = constant_rate((8.0 * fps) as u64, fps);
        let readings: Vec<f32> = frames.iter().map(|&(_, t)| truth(t) + 0.01 * noise.next()).collect();
        let mut c = FocusController::new(centre_point(), BlurAmount::DEFAULT, Rotation(0)).with_smoothing(response);
        let out = run(&mut c, &frames, |i, _| centre_subject(readings[i as usize]));
        let samples: Vec<(f64, f32, f32)> = frames.iter().zip(&out).map(|(&(_, t), s)| (t, s.focus, truth(t))).collect();
        let lag = motion_lag(&samples, response as f64);
        eprintln!(
            "point, {fps} fps, response {response} s: mean error {:.4}, max {:.4}, lag {:.3} s",
            lag.mean_abs_error, lag.max_abs_error, lag.lag_seconds
        );
        assert!(lag.max_abs_error <= 0.05, "{lag:?}");
    }
}

#[test]
fn autofocus_finds_and_follows_a_moving_subject() {
    let clip = SyntheticClip { noise: 0.01, wander: 0.0, ..SyntheticClip::default() };
    let frames = constant_rate(240, clip.fps);
    let clip_frames: Vec<_> = frames.iter().map(|&(i, _)| clip.frame(i)).collect();
    let mut c = FocusController::new(FocusSpec::Autofocus, BlurAmount::DEFAULT, Rotation(0));
    let out = run(&mut c, &frames, |i, _| clip_frames[i as usize].depth.clone());
    let samples: Vec<(f64, f32, f32)> =
        clip_frames.iter().zip(&out).map(|(f, s)| (f.t, s.focus, f.subject_depth)).collect();
    let lag = motion_lag(&samples, 0.3);
    eprintln!(
        "autofocus, 30 fps, response 0.3 s: mean error {:.4}, max {:.4}, lag {:.3} s",
        lag.mean_abs_error, lag.max_abs_error, lag.lag_seconds
    );
    assert!(lag.max_abs_error <= 0.05, "{lag:?}");
    // It is the subject it follows, not the nearer post at the edge.
    let s = c.autofocus_subject().unwrap();
    let last = clip_frames.last().unwrap();
    assert!((s.centre.x - last.subject_centre.0).abs() < 0.1, "{s:?} vs {:?}", last.subject_centre);
}

#[test]
fn motion_lag_measures_a_known_delay() {
    // Focus that is the truth 0.2 s late.
    let truth = |t: f64| (0.5 + 0.3 * (t * 1.3).sin()) as f32;
    let samples: Vec<(f64, f32, f32)> = (0..300).map(|i| i as f64 / 30.0).map(|t| (t, truth(t - 0.2), truth(t))).collect();
    let lag = motion_lag(&samples, 0.5);
    assert!((lag.lag_seconds - 0.2).abs() < 0.002, "{lag:?}");
}

#[test]
fn autofocus_switches_to_a_better_subject_only_after_half_a_second() {
    // A subject left of centre; at 1 s a larger, nearer one appears in the centre.
    let scene = |t: f64| {
        Plane::from_fn(128, 72, move |x, y| {
            let (u, v) = (x as f32 / 128.0, y as f32 / 72.0);
            if t >= 1.0 && (u - 0.55).abs() < 0.15 && (v - 0.5).abs() < 0.3 {
                0.85
            } else if (u - 0.25).abs() < 0.08 && (v - 0.5).abs() < 0.2 {
                0.5
            } else {
                0.1
            }
        })
    };
    let mut c = FocusController::new(FocusSpec::Autofocus, BlurAmount::DEFAULT, Rotation(0)).with_smoothing(0.0);
    let frames = constant_rate(90, 30.0);
    let out = run(&mut c, &frames, |_, t| scene(t));
    for (&(_, t), s) in frames.iter().zip(&out) {
        if t < 1.5 - 1e-9 {
            assert_eq!(s.focus, 0.5, "switched early at {t}");
        } else if t > 1.5 + 0.04 {
            assert_eq!(s.focus, 0.85, "did not switch by {t}");
        }
    }
}
