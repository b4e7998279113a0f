//! The example tracks in samples/ are valid, and the committed picture of focus-pull.json is
//! what `plot_svg` draws today (regenerate with `DEEPLENS_UPDATE_SAMPLES=1`).

use deeplens_core::focus::{plot_svg, FocusController, FocusSpec, PlotOptions, PlotSource, Rotation, Track};
use deeplens_core::Plane;
use std::path::{Path, PathBuf};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

#[test]
fn sample_tracks_are_valid() {
    let mut n = 0;
    for entry in std::fs::read_dir(samples()).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("focus-") && name.ends_with(".json") {
            Track::from_path(&p).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            n += 1;
        }
    }
    assert!(n >= 3, "found {n} sample tracks");
}

fn pull_svg() -> String {
    let track = Track::from_path(&samples().join("focus-pull.json")).unwrap();
    plot_svg(PlotSource::Track(&track), &PlotOptions { duration: Some(5.0), fps: 30.0, display_width: 1920, ..PlotOptions::default() })
}

#[test]
fn sample_plot_is_current() {
    let svg = pull_svg();
    let path = samples().join("focus-pull.svg");
    if std::env::var_os("DEEPLENS_UPDATE_SAMPLES").is_some() {
        std::fs::write(&path, &svg).unwrap();
    }
    let committed = std::fs::read_to_string(&path).expect("samples/focus-pull.svg (make it with DEEPLENS_UPDATE_SAMPLES=1)");
    assert_eq!(committed, svg, "samples/focus-pull.svg is stale: rerun with DEEPLENS_UPDATE_SAMPLES=1");
}

#[test]
fn plot_draws_keys_curves_and_picture_spans() {
    let svg = pull_svg();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    // Four key markers, two curves, and the focus_at span shaded as read from the picture.
    assert_eq!(svg.matches("stroke-dasharray").count(), 4);
    assert_eq!(svg.matches("<path").count(), 2);
    assert!(svg.contains("read from the picture"));
    assert!(svg.contains("2: at [0.5, 0.45] linear"));
}

#[test]
fn plot_of_a_history() {
    let track = Track::from_path(&samples().join("focus-rack-frames.json")).unwrap();
    let mut c = FocusController::new(FocusSpec::Track(track), deeplens_core::focus::BlurAmount::DEFAULT, Rotation(0));
    for i in 0..160 {
        c.next(i, i as f64 / 24.0, &Plane::filled(16, 9, 0.5));
    }
    let svg = plot_svg(PlotSource::History(c.history()), &PlotOptions { fps: 24.0, ..PlotOptions::default() });
    assert!(svg.contains("focus used, 160 frames"));
    assert!(!svg.contains("read from the picture"));
}

#[test]
fn plot_of_a_written_record_has_no_key_markers() {
    let frames: Vec<String> = (0..100).map(|i| format!(r#"{{"frame": {i}, "focus": {}, "blur": 12}}"#, i as f32 / 100.0)).collect();
    let track = Track::from_json(&format!(r#"{{"frames": [{}]}}"#, frames.join(","))).unwrap();
    let svg = plot_svg(PlotSource::Track(&track), &PlotOptions::default());
    assert_eq!(svg.matches("stroke-dasharray").count(), 0);
    assert!(svg.contains("focus track, 100 keys"));
}
