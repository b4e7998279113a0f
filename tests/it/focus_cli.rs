//! Focus tracks through the binary: applied, written, fed back; invalid ones refused up front.

use crate::common::*;

fn clip(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("clip.mp4");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=160x96:rate=25", "-t", "2", "-pix_fmt", "yuv420p", p.to_str().unwrap()]);
    p
}

#[test]
fn a_written_track_round_trips() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let c = clip(dir);
    let first = dir.join("first.mkv");
    let track = dir.join("used.json");
    let o = run(&[
        "convert", c.to_str().unwrap(), first.to_str().unwrap(), "--focus-track", repo("samples/focus-pull.json").to_str().unwrap(),
        "--write-focus-track", track.to_str().unwrap(), "--codec", "ffv1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&track).unwrap()).unwrap();
    let frames = doc["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 50);
    // Key values are hit exactly at their frames: t = 0 → 0.8, blur 16 px; t = 1.5 lands on frame 38 (1.52 s) → 0.2.
    assert!((frames[0]["focus"].as_f64().unwrap() - 0.8).abs() < 1e-6);
    assert!((frames[0]["blur"].as_f64().unwrap() - 16.0).abs() < 1e-6);
    assert!((frames[38]["focus"].as_f64().unwrap() - 0.2).abs() < 1e-6, "{}", frames[38]);
    // Feeding the written track back gives the same frames.
    let second = dir.join("second.mkv");
    let o = run(&["convert", c.to_str().unwrap(), second.to_str().unwrap(), "--focus-track", track.to_str().unwrap(), "--codec", "ffv1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let hashes = |p: &std::path::Path| {
        let o = std::process::Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(p).args(["-map", "0:v", "-f", "framemd5", "-"]).output().unwrap();
        String::from_utf8_lossy(&o.stdout).lines().filter(|l| !l.starts_with('#')).map(|l| l.rsplit(',').next().unwrap().trim().to_string()).collect::<Vec<_>>()
    };
    let (a, b) = (hashes(&first), hashes(&second));
    assert_eq!(a.len(), 50);
    assert_eq!(a, b);
}

#[test]
fn invalid_tracks_are_refused_before_any_frame() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let c = clip(dir);
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"keyframes": [{"t": 1.0, "focus": 0.5}, {"t": 0.5, "focus": 0.2}]}"#).unwrap();
    let out = dir.join("out.mp4");
    let o = run(&["convert", c.to_str().unwrap(), out.to_str().unwrap(), "--focus-track", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("key 1"), "{e}");
    assert!(!out.exists());
    let o = run(&["convert", c.to_str().unwrap(), out.to_str().unwrap(), "--focus-track", bad.to_str().unwrap(), "--focus", "0.5"]);
    assert!(!o.status.success() && stderr(&o).contains("cannot be used with"));
}

#[test]
fn autofocus_runs_and_track_plot_draws() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let c = clip(dir);
    let out = dir.join("af.mp4");
    let o = run(&["convert", c.to_str().unwrap(), out.to_str().unwrap(), "--autofocus", "--focus-smoothing", "0.5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(video_stream(&out)["nb_read_frames"], "50");
    let svg = dir.join("plot.svg");
    let o = run(&["track", "plot", repo("samples/focus-pull.json").to_str().unwrap(), svg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") || text.starts_with("<?xml"), "{}", &text[..40.min(text.len())]);
}
