//! Depth stabilisation: flicker in static regions with and without it, range, cuts, and what it
//! does to focus on a moving subject. Prints the numbers the documentation quotes.

use deeplens_core::focus::{DepthStabilizer, FocusSpec};
use deeplens_eval::{measure_synthetic, FlickerMeter, SyntheticClip};
use deeplens_core::Plane;

fn depth_flicker(clip: &SyntheticClip, frames: u64, stabilizer: Option<DepthStabilizer>) -> f64 {
    let mut stabilizer = stabilizer;
    let mut meter = FlickerMeter::default();
    for i in 0..frames {
        let f = clip.frame(i);
        let mut depth = f.depth;
        if let Some(s) = stabilizer.as_mut() {
            s.apply(&mut depth);
            assert!(depth.data.iter().all(|v| (0.0..=1.0).contains(v)), "frame {i} left [0,1]");
        }
        meter.push(&f.rgb, &depth, None);
    }
    meter.report().depth
}

#[test]
fn static_scene_depth_stops_flickering() {
    // Without per-pixel noise all flicker is the normalisation's: alignment alone removes it.
    let clean = SyntheticClip { moving: false, noise: 0.0, ..SyntheticClip::default() };
    let raw = depth_flicker(&clean, 90, None);
    let aligned = depth_flicker(&clean, 90, Some(DepthStabilizer::new().without_temporal_filter()));
    eprintln!("static scene, no noise, mean |ΔD| in static regions: raw {raw:.5}, aligned {aligned:.5}");
    // What is left is the non-affine part by design: outlier pixels, the near object, the tilt.
    assert!(aligned < 0.2 * raw, "{aligned} vs {raw}");
    // With noise (σ = 0.01) the temporal filter removes most of what alignment leaves.
    let noisy = SyntheticClip { moving: false, ..SyntheticClip::default() };
    let raw = depth_flicker(&noisy, 90, None);
    let aligned = depth_flicker(&noisy, 90, Some(DepthStabilizer::new().without_temporal_filter()));
    let full = depth_flicker(&noisy, 90, Some(DepthStabilizer::new()));
    eprintln!("static scene, noise 0.01: raw {raw:.5}, aligned {aligned:.5}, aligned + temporal {full:.5}");
    assert!(aligned < raw && full < 0.25 * raw, "{full} vs {raw}");
}

#[test]
fn moving_subject_scene_depth_stops_flickering() {
    let clip = SyntheticClip::default();
    let raw = depth_flicker(&clip, 120, None);
    let full = depth_flicker(&clip, 120, Some(DepthStabilizer::new()));
    eprintln!("moving subject, mean |ΔD| in static regions: raw {raw:.5}, stabilised {full:.5}");
    assert!(full < 0.3 * raw, "{full} vs {raw}");
}

#[test]
fn stabilised_depth_keeps_the_moving_subject() {
    // In each stabilised frame the subject's depth agrees with the static scene's: mapping
    // clean depth to stabilised depth through the wall and the floor predicts the subject.
    let clip = SyntheticClip::default();
    let mut s = DepthStabilizer::new();
    let (w, h) = (clip.width as f32, clip.height as f32);
    for i in 0..120 {
        let f = clip.frame(i);
        let mut depth = f.depth.clone();
        s.apply(&mut depth);
        let patch = |p: &Plane, x: f32, y: f32| p.median_around(x * w, y * h, 3);
        let (wall, wall_true) = (patch(&depth, 0.5, 0.15), patch(&f.true_depth, 0.5, 0.15));
        let (floor, floor_true) = (patch(&depth, 0.5, 0.95), patch(&f.true_depth, 0.5, 0.95));
        let a = (floor - wall) / (floor_true - wall_true);
        let want = wall + a * (f.subject_depth - wall_true);
        let got = patch(&depth, f.subject_centre.0, f.subject_centre.1);
        assert!((got - want).abs() < 0.05, "frame {i}: subject at {got}, expected {want}");
    }
}

#[test]
fn a_cut_restarts_the_reference() {
    let mut s = DepthStabilizer::new();
    let left = Plane::from_fn(80, 45, |x, _| x as f32 / 79.0);
    let right = Plane::from_fn(80, 45, |x, y| if (x + y) % 7 < 3 { 1.0 - x as f32 / 79.0 } else { 0.5 * y as f32 / 44.0 });
    for _ in 0..10 {
        let mut d = left.clone();
        s.apply(&mut d);
    }
    let mut d = right.clone();
    s.apply(&mut d);
    let err = d.data.iter().zip(&right.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(err < 1e-6, "after a cut the new frame passes: {err}");
}

#[test]
fn whole_chain_with_and_without_stabilisation() {
    let clip = SyntheticClip::default();
    // A fixed focus shows the depth's own flicker in the output; autofocus also its lag, with
    // smoothing at the default 0.3 s and off.
    for (spec, response) in [(FocusSpec::Depth(0.6), 0.3), (FocusSpec::Autofocus, 0.3), (FocusSpec::Autofocus, 0.0)] {
        let raw = measure_synthetic(&clip, 150, false, spec.clone(), response, 6.0);
        let stab = measure_synthetic(&clip, 150, true, spec.clone(), response, 6.0);
        for (name, r) in [("raw", raw), ("stabilised", stab)] {
            eprintln!(
                "{spec:?} smoothing {response} s, {name}: input |ΔY| {:.5}, depth |ΔD| {:.5}, output |ΔY| {:.5} (×{:.2} input), focus error mean {:.4} max {:.4}, lag {:.3} s",
                r.flicker.input,
                r.flicker.depth,
                r.flicker.output.unwrap(),
                r.flicker.output_ratio().unwrap(),
                r.lag.mean_abs_error,
                r.lag.max_abs_error,
                r.lag.lag_seconds
            );
        }
        assert!(stab.flicker.depth < 0.3 * raw.flicker.depth);
        assert!(stab.flicker.output.unwrap() < raw.flicker.output.unwrap());
    }
}

#[test]
fn a_near_object_entering_does_not_rescale_the_background_at_once() {
    // The network's disparity: a slope from 0 to 0.6; at frame 10 an object at 0.9 covers a
    // quarter of the picture. Per-frame normalisation squeezes the background by a third at once.
    let raw = |i: u64| {
        let mut p = Plane::from_fn(96, 54, move |x, y| if i >= 10 && x > 60 && y > 20 { 0.9 } else { 0.6 * x as f32 / 95.0 });
        p.normalise_min_max();
        p
    };
    let mut s = DepthStabilizer::new();
    let mut out = Vec::new();
    for i in 0..40 {
        let mut d = raw(i);
        s.apply(&mut d);
        out.push(d);
    }
    let bg = |p: &Plane| p.get(40, 10);
    let raw_jump = (bg(&raw(10)) - bg(&raw(9))).abs();
    let jump = (bg(&out[10]) - bg(&out[9])).abs();
    let drift_1s = (bg(&out[39]) - bg(&out[9])).abs();
    eprintln!("background change when the object enters: raw {raw_jump:.4}, stabilised {jump:.4}; stabilised after 1 s {drift_1s:.4}");
    assert!(raw_jump > 0.1 && jump < 0.01, "{raw_jump} {jump}");
    // The object is in front of everything.
    assert!(out[10].get(80, 40) >= 0.99);
}
