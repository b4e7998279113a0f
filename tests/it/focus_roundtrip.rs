//! The written focus track round-trips: feeding it back gives the same frames.


use deeplens_core::focus::{track_json, write_track, BlurAmount, FocusController, FocusSpec, FocusState, Rotation, Track};
use deeplens_eval::SyntheticClip;
use crate::common::focus::run;

/// Frames of the synthetic clip with irregular timestamps (a variable frame rate).
fn vfr_frames(n: u64) -> Vec<(u64, f64)> {
    let gaps = [0.033, 0.04, 0.021, 0.05, 0.033];
    let mut t = 0.0;
    (0..n)
        .map(|i| {
            let f = (i, t);
            t += gaps[i as usize % gaps.len()];
            f
        })
        .collect()
}

fn replay(track: Track, frames: &[(u64, f64)], clip: &SyntheticClip) -> Vec<FocusState> {
    let mut c = FocusController::new(FocusSpec::Track(track), BlurAmount::Pixels(3.0), Rotation(0));
    run(&mut c, frames, |i, _| clip.frame(i).depth)
}

#[test]
fn written_track_round_trips() {
    let clip = SyntheticClip { width: 96, height: 54, ..SyntheticClip::default() };
    let frames = vfr_frames(150);
    let display_width = 1280;
    // A track that reads the picture (focus_at), eases, holds and mixes blur units.
    let track = Track::from_path(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/focus-pull.json")).unwrap();
    let mut c = FocusController::new(FocusSpec::Track(track), BlurAmount::DEFAULT, Rotation(0)).with_display_width(display_width);
    let first = run(&mut c, &frames, |i, _| clip.frame(i).depth);
    assert_eq!(c.history().len(), frames.len());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("used.json");
    write_track(&path, c.history(), display_width).unwrap();
    let back = Track::from_path(&path).unwrap();
    assert_eq!(back.keys.len(), frames.len());
    let second = replay(back, &frames, &clip);
    for (i, (a, b)) in first.iter().zip(&second).enumerate() {
        assert_eq!(a.focus, b.focus, "frame {i}");
        assert_eq!(a.blur.to_pixels(display_width), b.blur.to_pixels(display_width), "frame {i}");
    }

    // Written again, the document is the same.
    let mut c2 = FocusController::new(FocusSpec::Track(Track::from_path(&path).unwrap()), BlurAmount::Pixels(3.0), Rotation(0));
    run(&mut c2, &frames, |i, _| clip.frame(i).depth);
    assert_eq!(track_json(c2.history(), display_width), std::fs::read_to_string(&path).unwrap());
}

#[test]
fn autofocus_run_round_trips() {
    let clip = SyntheticClip { width: 96, height: 54, ..SyntheticClip::default() };
    let frames = vfr_frames(90);
    let mut c = FocusController::new(FocusSpec::Autofocus, BlurAmount::WidthShare(0.02), Rotation(0));
    let first = run(&mut c, &frames, |i, _| clip.frame(i).depth);
    let back = Track::from_json(&track_json(c.history(), 1920)).unwrap();
    let second = replay(back, &frames, &clip);
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a.focus, b.focus);
        assert_eq!(b.blur, BlurAmount::Pixels(a.blur.to_pixels(1920)));
    }
}

#[test]
fn a_frames_document_keyed_by_time_and_edited_by_hand() {
    // Entries without frame numbers are keyed by t; a gap between entries travels linearly.
    let json = r#"{ "frames": [ { "t": 0.0, "focus": 0.2, "blur": 10 }, { "t": 1.0, "focus": 0.6, "blur": 20 } ] }"#;
    let track = Track::from_json(json).unwrap();
    let mut c = FocusController::new(FocusSpec::Track(track), BlurAmount::DEFAULT, Rotation(0));
    let frames: Vec<(u64, f64)> = (0..11).map(|i| (i, i as f64 / 10.0)).collect();
    let out = run(&mut c, &frames, |_, _| deeplens_core::Plane::filled(8, 8, 0.5));
    assert_eq!(out[0].focus, 0.2);
    assert!((out[5].focus - 0.4).abs() < 1e-6);
    assert_eq!(out[10].focus, 0.6);
    assert_eq!(out[10].blur, BlurAmount::Pixels(20.0));
}
