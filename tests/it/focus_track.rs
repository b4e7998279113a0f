//! Focus tracks: key values, eases, timing on variable frame rates, blur, and the picture's part.


use deeplens_core::focus::{BlurAmount, FocusController, FocusSpec, RelPoint, Rotation, Track};
use deeplens_core::Plane;
use crate::common::focus::{constant_rate, play, run};

const FRAME_TRACK: &str = r#"{ "keyframes": [
    { "frame": 0,  "focus": 0.8 },
    { "frame": 30, "focus": 0.2, "ease": "smooth" },
    { "frame": 60, "focus": 0.5, "ease": "linear" },
    { "frame": 90, "focus": 0.6, "ease": "hold" } ] }"#;

#[test]
fn key_values_are_exact_at_their_frames() {
    let out = play(FRAME_TRACK, &constant_rate(120, 25.0));
    assert_eq!(out[0].focus, 0.8);
    assert_eq!(out[30].focus, 0.2);
    assert_eq!(out[60].focus, 0.5);
    assert_eq!(out[90].focus, 0.6);
    // After the last key its value holds.
    assert!(out[90..].iter().all(|s| s.focus == 0.6));
}

#[test]
fn time_keys_are_exact_at_their_frames() {
    let json = r#"{ "keyframes": [
        { "t": 0.0, "focus": 0.8 },
        { "t": 1.2, "focus": 0.2, "ease": "smooth" },
        { "t": "00:00:02.400", "focus": 0.5, "ease": "linear" },
        { "t": 3.6, "focus": 0.6, "ease": "hold" } ] }"#;
    let out = play(json, &constant_rate(120, 25.0));
    assert_eq!(out[0].focus, 0.8);
    assert_eq!(out[30].focus, 0.2);
    assert_eq!(out[60].focus, 0.5);
    assert_eq!(out[90].focus, 0.6);
}

#[test]
fn linear_midpoints_are_exact() {
    let out = play(FRAME_TRACK, &constant_rate(120, 25.0));
    for k in 0..=30 {
        let want = 0.2 + 0.3 * k as f64 / 30.0;
        let got = out[30 + k].focus as f64;
        assert!((got - want).abs() < 1e-6, "frame {}: {got} vs {want}", 30 + k);
    }
    assert!((out[45].focus - 0.35).abs() < 1e-6);
}

#[test]
fn smooth_is_monotone_between_keys_and_symmetric() {
    let out = play(FRAME_TRACK, &constant_rate(120, 25.0));
    for k in 0..30 {
        assert!(out[k + 1].focus < out[k].focus, "not falling at frame {k}: {} then {}", out[k].focus, out[k + 1].focus);
    }
    assert!((out[15].focus - 0.5).abs() < 1e-6, "smooth midpoint {}", out[15].focus);
    // Eases in and out: slower at the ends than in the middle.
    let first = out[0].focus - out[1].focus;
    let middle = out[15].focus - out[16].focus;
    assert!(first < 0.2 * middle, "{first} vs {middle}");
}

#[test]
fn hold_jumps_at_the_key() {
    let out = play(FRAME_TRACK, &constant_rate(120, 25.0));
    assert!(out[60..90].iter().all(|s| s.focus == 0.5));
    assert_eq!(out[90].focus, 0.6);
}

#[test]
fn values_before_the_first_key_hold() {
    let json = r#"{ "keyframes": [ { "t": 1.0, "focus": 0.3, "blur": 7 }, { "t": 2.0, "focus": 0.9 } ] }"#;
    let out = play(json, &constant_rate(80, 20.0));
    assert!(out[..20].iter().all(|s| s.focus == 0.3 && s.blur == BlurAmount::Pixels(7.0)));
    assert_eq!(out[20].focus, 0.3);
    assert_eq!(out[40].focus, 0.9);
    // The only blur key's blur holds throughout.
    assert!(out.iter().all(|s| s.blur == BlurAmount::Pixels(7.0)));
}

#[test]
fn time_keys_on_variable_frame_rate() {
    // Irregular frame times, as from a phone: gaps of 20 to 90 ms.
    let gaps = [0.033, 0.021, 0.045, 0.09, 0.033, 0.02, 0.067, 0.04, 0.033, 0.05];
    let mut frames = vec![(0u64, 0.0f64)];
    for i in 1..120u64 {
        let t = frames.last().unwrap().1 + gaps[i as usize % gaps.len()];
        frames.push((i, t));
    }
    let json = r#"{ "keyframes": [
        { "t": 0.5, "focus": 0.1 },
        { "t": 1.5, "focus": 0.9, "ease": "linear" },
        { "t": 3.0, "focus": 0.4, "ease": "hold" } ] }"#;
    let out = play(json, &frames);
    let lands = |key_t: f64| frames.iter().position(|f| f.1 >= key_t).unwrap();
    let (k0, k1, k2) = (lands(0.5), lands(1.5), lands(3.0));
    assert!(frames[k1].1 > 1.5, "the test wants a key between frames");
    assert_eq!(out[k0].focus, 0.1);
    assert_eq!(out[k1].focus, 0.9);
    assert_eq!(out[k2].focus, 0.4);
    // Before the first key lands, its value holds; between keys the value follows real time
    // from where the previous key landed.
    assert!(out[..k0].iter().all(|s| s.focus == 0.1));
    for i in k0..k1 {
        let u = (frames[i].1 - frames[k0].1) / (1.5 - frames[k0].1);
        let want = 0.1 + 0.8 * u;
        assert!((out[i].focus as f64 - want).abs() < 1e-6, "frame {i} at {}: {} vs {want}", frames[i].1, out[i].focus);
    }
    assert!(out[k1..k2].iter().all(|s| s.focus == 0.9));
}

#[test]
fn blur_travels_between_the_keys_that_give_one() {
    let json = r#"{ "keyframes": [
        { "frame": 0,  "focus": 0.5, "blur": 16 },
        { "frame": 30, "focus": 0.5 },
        { "frame": 60, "focus": 0.5, "blur": "2%", "ease": "linear" },
        { "frame": 90, "focus": 0.5, "blur": "4%", "ease": "hold" } ] }"#;
    // play() uses a display width of 1000: 2 % is 20 px.
    let out = play(json, &constant_rate(100, 30.0));
    assert_eq!(out[0].blur, BlurAmount::Pixels(16.0));
    match out[30].blur {
        BlurAmount::Pixels(p) => assert!((p - 18.0).abs() < 1e-5, "{p}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(out[60].blur, BlurAmount::WidthShare(0.02));
    assert!(out[60..90].iter().all(|s| s.blur == BlurAmount::WidthShare(0.02)));
    assert_eq!(out[90].blur, BlurAmount::WidthShare(0.04));
}

#[test]
fn without_blur_keys_the_default_blur_serves() {
    let out = play(r#"{ "keyframes": [ { "frame": 0, "focus": 0.4 } ] }"#, &constant_rate(5, 30.0));
    assert!(out.iter().all(|s| s.blur == BlurAmount::Pixels(10.0) && s.focus == 0.4));
}

#[test]
fn focus_at_keys_follow_the_picture_and_rotation() {
    // Left half far, right half near, in the stored picture.
    let depth = Plane::from_fn(64, 36, |x, _| if x < 32 { 0.25 } else { 0.75 });
    let json = r#"{ "keyframes": [ { "frame": 0, "focus_at": [0.8, 0.5] }, { "frame": 10, "focus": 0.5, "ease": "linear" } ] }"#;
    let track = Track::from_json(json).unwrap();
    let mut c = FocusController::new(FocusSpec::Track(track.clone()), BlurAmount::DEFAULT, Rotation(0));
    let out = run(&mut c, &constant_rate(11, 30.0), |_, _| depth.clone());
    assert_eq!(out[0].focus, 0.75);
    assert!((out[5].focus - 0.625).abs() < 1e-6, "{}", out[5].focus);
    assert_eq!(out[10].focus, 0.5);
    // Shown rotated by 180°, the displayed right is the stored left.
    let mut c = FocusController::new(FocusSpec::Track(track), BlurAmount::DEFAULT, Rotation(180));
    let out = run(&mut c, &constant_rate(1, 30.0), |_, _| depth.clone());
    assert_eq!(out[0].focus, 0.25);
}

#[test]
fn toward_a_focus_at_key_the_end_moves_with_the_target() {
    // The point's depth changes over time; travelling toward it ends on its current depth.
    let json = r#"{ "keyframes": [ { "frame": 0, "focus": 0.1 }, { "frame": 20, "focus_at": [0.5, 0.5], "ease": "linear" } ] }"#;
    let track = Track::from_json(json).unwrap();
    let mut c = FocusController::new(FocusSpec::Track(track), BlurAmount::DEFAULT, Rotation(0)).with_smoothing(0.0);
    let target = |i: u64| 0.5 + 0.01 * i as f32;
    let out = run(&mut c, &constant_rate(40, 30.0), |i, _| Plane::filled(40, 30, target(i)));
    for i in 0..=20u64 {
        let want = 0.1 + (target(i) - 0.1) * i as f32 / 20.0;
        assert!((out[i as usize].focus - want).abs() < 1e-5, "frame {i}: {} vs {want}", out[i as usize].focus);
    }
    // After the key it keeps following the point.
    for i in 20..40u64 {
        assert!((out[i as usize].focus - target(i)).abs() < 1e-6);
    }
}

#[test]
fn point_and_depth_specs() {
    let depth = Plane::from_fn(100, 100, |x, _| if x < 50 { 0.2 } else { 0.9 });
    let mut c = FocusController::new(FocusSpec::Point(RelPoint { x: 0.8, y: 0.5 }), BlurAmount::DEFAULT, Rotation(0));
    assert_eq!(c.next(0, 0.0, &depth).focus, 0.9);
    let mut c = FocusController::new(FocusSpec::Depth(0.33), BlurAmount::Pixels(5.0), Rotation(0));
    let s = c.next(0, 0.0, &depth);
    assert_eq!((s.focus, s.blur), (0.33, BlurAmount::Pixels(5.0)));
}

#[test]
fn hold_toward_a_focus_at_key_jumps_to_the_reading_there() {
    let depth = Plane::from_fn(64, 36, |x, _| if x < 32 { 0.25 } else { 0.75 });
    let json = r#"{ "keyframes": [ { "frame": 0, "focus": 0.1 }, { "frame": 10.0, "focus_at": [0.1, 0.5], "ease": "hold" } ] }"#;
    let mut c = FocusController::new(FocusSpec::Track(Track::from_json(json).unwrap()), BlurAmount::DEFAULT, Rotation(0));
    let out = run(&mut c, &constant_rate(15, 30.0), |_, _| depth.clone());
    assert!(out[..10].iter().all(|s| s.focus == 0.1));
    assert!(out[10..].iter().all(|s| s.focus == 0.25));
}
