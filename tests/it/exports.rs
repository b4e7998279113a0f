//! What convert writes besides the video: depth and matte exports, the run report, progress.


use crate::common::{ffmpeg, run, s, stderr, video_stream};
use std::path::{Path, PathBuf};

fn clip(dir: &Path) -> PathBuf {
    crate::common::lavfi_clip(&dir.join("in.mp4"), "160x120", "1", true, &["-pix_fmt", "yuv420p"])
}

#[test]
fn depth_video_matte_sequence_report_and_progress() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let out = dir.path().join("o.mp4");
    let depth = dir.path().join("d.mkv");
    let report = dir.path().join("r.json");
    let matte = dir.path().join("m_%05d.png");
    let o = run(&[
        "convert", s(&input), s(&out), "--focus", "0.6", "--max-blur", "8", "--write-depth", s(&depth), "--write-matte", s(&matte),
        "--report", s(&report), "--progress", "pipe:1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let frames = video_stream(&out)["nb_read_frames"].clone();
    assert_eq!(frames, "25");

    // A 16-bit grey video with a frame for each output frame, at the output's timestamps.
    let d = video_stream(&depth);
    assert_eq!(d["nb_read_frames"], frames);
    assert_eq!(d["pix_fmt"], "gray16le");
    assert_eq!((d["width"].as_str(), d["height"].as_str()), ("160", "120"));

    // The matte: one 16-bit PNG a frame, 1 where in focus, 0 where the blur is past two pixels.
    let pngs: Vec<String> = crate::common::listing(dir.path()).into_iter().filter(|n| n.starts_with("m_")).collect();
    assert_eq!(pngs.len(), 25);
    assert_eq!(pngs[0], "m_00000.png");
    let m = image::open(dir.path().join(&pngs[3])).unwrap();
    assert!(matches!(m, image::DynamicImage::ImageLuma16(_)));
    let m = m.to_luma16();
    let (lo, hi) = m.pixels().fold((u16::MAX, 0), |(lo, hi), p| (lo.min(p[0]), hi.max(p[0])));
    assert!(hi == 65535 && lo == 0, "matte range {lo}..{hi}");

    // The report names the model with its real sha256 and the provider that ran it.
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let model = crate::common::repo("models/depth.onnx");
    let sha = {
        let o = std::process::Command::new("sha256sum").arg(&model).output().unwrap();
        String::from_utf8_lossy(&o.stdout).split_whitespace().next().unwrap().to_string()
    };
    let m0 = &r["models"][0];
    assert_eq!(m0["role"], "depth");
    assert!(m0["path"].as_str().unwrap().ends_with("models/depth.onnx"));
    assert_eq!(m0["sha256"], sha.as_str());
    assert_eq!(m0["provider"], "CPUExecutionProvider");
    assert_eq!(r["output"]["frames"], 25);
    assert_eq!(r["input"]["codec"], "h264");
    assert_eq!(r["options"]["focus"]["source"], "flag");
    assert_eq!(r["options"]["max_blur"]["value"], "8px");
    assert_eq!(r["options"]["renderer"]["source"], "default");
    assert!(r["stages_median_ms"]["lens"]["median_ms"].as_f64().unwrap() > 0.0);

    // Progress blocks on stdout, ending with progress=end and the frame count.
    let text = String::from_utf8_lossy(&o.stdout);
    let last_frame = text.lines().filter_map(|l| l.strip_prefix("frame=")).last().unwrap();
    assert_eq!(last_frame, "25");
    assert_eq!(text.lines().last(), Some("progress=end"));
    assert!(text.contains("out_time=00:00:01.000000"), "{text}");
}

#[test]
fn exr_sequence_holds_one_float_channel_named_depth_z() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let out = dir.path().join("o.mkv");
    let pattern = dir.path().join("depth_%05d.exr");
    let o = run(&["convert", s(&input), s(&out), "--duration", "0.2", "--write-depth", s(&pattern), "--depth-export-invert"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let files: Vec<String> = crate::common::listing(dir.path()).into_iter().filter(|n| n.ends_with(".exr")).collect();
    assert_eq!(files.len(), 5);
    let img = exr::prelude::read_all_flat_layers_from_file(dir.path().join(&files[0])).unwrap();
    let layer = &img.layer_data[0];
    let names: Vec<String> = layer.channel_data.list.iter().map(|c| c.name.to_string()).collect();
    assert_eq!(names, vec!["depth.Z".to_string()]);
    let c = &layer.channel_data.list[0];
    assert!(matches!(c.sample_data, exr::prelude::FlatSamples::F32(_)));
    assert_eq!((layer.size.0, layer.size.1), (160, 120));
}

#[test]
fn side_outputs_are_checked_before_work_and_removed_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let out = dir.path().join("o.mp4");
    for (args, needle) in [
        (vec!["--write-depth", "d.png"], "pattern"),
        (vec!["--write-depth", "d_%s.png"], "frame-number pattern"),
        (vec!["--write-depth", "d.txt"], ".mkv"),
        (vec!["--write-matte", "/nonexistent/m.mkv"], "does not exist"),
        (vec!["--report", "/nonexistent/r.json"], "does not exist"),
        (vec!["--depth-export-invert"], "--write-depth"),
    ] {
        let mut a = vec!["convert", s(&input), s(&out)];
        a.extend(args);
        let o = crate::common::bin().current_dir(dir.path()).args(&a).output().unwrap();
        assert!(!o.status.success());
        let e = stderr(&o);
        assert!(e.contains(needle), "{a:?}: {e}");
        assert!(!out.exists());
    }
    // An existing side output is refused without -y, before the video is written.
    let depth = dir.path().join("d.mkv");
    std::fs::write(&depth, b"keep").unwrap();
    let o = run(&["convert", s(&input), s(&out), "--write-depth", s(&depth)]);
    assert!(!o.status.success() && stderr(&o).contains("exists"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&depth).unwrap(), b"keep");
    assert!(!out.exists());
    // Progress to stdout when the video goes there is refused.
    let o = run(&["convert", s(&input), "-", "--output-format", "nut", "--progress", "pipe:1"]);
    assert!(!o.status.success() && stderr(&o).contains("stdout"), "{}", stderr(&o));
}

#[test]
fn sheet_is_a_png_of_input_depth_result_rows_and_the_focus_plot() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let sheet = dir.path().join("sheet.png");
    let o = run(&["sheet", s(&input), s(&sheet), "--frames", "3", "--focus-at", "0.5,0.5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let img = image::open(&sheet).unwrap().to_rgb8();
    // Three columns of 320 px with 8 px gaps; three rows of 240 px pictures (160x120 scaled).
    assert_eq!(img.width(), 8 + 3 * (320 + 8));
    let bg = image::Rgb([0x20u8, 0x20, 0x20]);
    let row_top = 8 + (2 * 7 + 10) + 7 + 4;
    for k in 0..3u32 {
        let x = 8 + k * 328 + 160;
        for r in 0..3u32 {
            let y = row_top + r * (240 + 8 + 7 + 4) + 120;
            assert_ne!(*img.get_pixel(x, y), bg, "column {k} row {r} is empty");
        }
    }
    // The depth column is drawn with the colour map: no grey pixels there.
    let p = img.get_pixel(8 + 328 + 100, row_top + 100);
    assert!(!(p[0] == p[1] && p[1] == p[2]), "depth not colour-mapped: {p:?}");
    // The focus curve (cyan) is plotted under the rows.
    let plot_top = row_top + 3 * (240 + 8 + 7 + 4) - 7 - 4;
    let cyan = (plot_top..img.height()).flat_map(|y| (0..img.width()).map(move |x| (x, y))).filter(|&(x, y)| *img.get_pixel(x, y) == image::Rgb([0, 0xc8, 0xff])).count();
    assert!(cyan > 100, "no focus curve ({cyan} px)");
    // Refusals: not a PNG, too many frames, existing output.
    for (args, needle) in [(vec!["x.jpg"], "PNG"), (vec!["y.png", "--frames", "500"], "--frames")] {
        let mut a = vec!["sheet", s(&input)];
        a.extend(args);
        let o = crate::common::bin().current_dir(dir.path()).args(&a).output().unwrap();
        assert!(!o.status.success() && stderr(&o).contains(needle), "{}", stderr(&o));
    }
    let o = run(&["sheet", s(&input), s(&sheet)]);
    assert!(!o.status.success() && stderr(&o).contains("exists"));
}

#[test]
fn preview_headless_exports_and_reports_of_image_and_segments() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = run(&[
        "preview", "--headless", "-f", "lavfi", "testsrc2=size=128x96:rate=25", "--duration", "0.6",
        "--write-depth", s(&d.join("pd.mkv")), "--write-matte", s(&d.join("pm_%03d.exr")), "--report", s(&d.join("pr.json")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("pr.json")).unwrap()).unwrap();
    assert_eq!(r["command"], "preview");
    let shown = r["output"]["frames"].as_u64().unwrap();
    assert!(shown > 0);
    assert_eq!(video_stream(&d.join("pd.mkv"))["nb_read_frames"], shown.to_string());
    assert_eq!(crate::common::listing(d).iter().filter(|n| n.ends_with(".exr")).count() as u64, shown);
    assert_eq!(r["models"][0]["role"], "depth");
    // Exports need --headless.
    let o = run(&["preview", "-f", "lavfi", "testsrc2", "--write-depth", s(&d.join("x.mkv"))]);
    assert!(!o.status.success() && stderr(&o).contains("--headless"), "{}", stderr(&o));

    // image --report.
    let png = d.join("in.png");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=96x64", "-frames:v", "1", s(&png)]);
    let o = run(&["image", s(&png), s(&d.join("o.png")), "--focus", "0.4", "--report", s(&d.join("ir.json"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("ir.json")).unwrap()).unwrap();
    assert_eq!(r["command"], "image");
    assert_eq!(r["options"]["focus"]["value"]["focus"].as_f64().map(|f| (f * 100.0).round()), Some(40.0));
    assert!(r["stages_median_ms"].get("encode").is_none(), "stages that did not run are left out");

    // render-segment --report: options from the plan.
    let input = clip(d);
    let plan = run(&["plan", s(&input), s(&d.join("seg.mp4")), "--segments", "2", "--focus", "0.5"]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    let plan = String::from_utf8_lossy(&plan.stdout).trim().to_string();
    let o = run(&["render-segment", &plan, "1", "--report", s(&d.join("sr.json"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("sr.json")).unwrap()).unwrap();
    assert_eq!(r["command"], "render-segment");
    assert_eq!(r["options"]["max_blur"]["source"], "plan");
}
