//! Scale-out without a scheduler: `plan` + `render-segment` (in reverse order, one of them twice)
//! + `join` against a single `convert` with the same flags; the engines' job files.


use crate::common::{audio_packets, ffmpeg, run, s, stderr};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A 3 s clip with audio and a keyframe every second.
fn clip(dir: &Path) -> PathBuf {
    let p = dir.join("in.mp4");
    ffmpeg(&[
        "-f", "lavfi", "-i", "testsrc2=size=192x144:rate=24", "-f", "lavfi", "-i", "sine=frequency=440",
        "-t", "3", "-shortest", "-c:v", "libx264", "-g", "24", "-pix_fmt", "yuv420p", "-c:a", "aac", p.to_str().unwrap(),
    ]);
    p
}


fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "deeplens {args:?}: {}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Frame timestamps of the video, as decoded.
fn frame_times(p: &Path) -> Vec<String> {
    let o = Command::new("ffprobe").args(["-v", "error", "-select_streams", "v", "-show_entries", "frame=pts", "-of", "csv=p=0"]).arg(p).output().unwrap();
    String::from_utf8_lossy(&o.stdout).lines().map(|l| l.trim_end_matches(',').to_string()).filter(|l| !l.is_empty()).collect()
}

/// The decoded pictures as RGB bytes.
fn pictures(p: &Path) -> Vec<u8> {
    let o = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(p).args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]).output().unwrap();
    assert!(o.status.success());
    o.stdout
}

fn focus_values(p: &Path) -> Vec<(u64, f64, f64)> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v["frames"].as_array().unwrap().iter().map(|f| (f["frame"].as_u64().unwrap(), f["focus"].as_f64().unwrap(), f["blur"].as_f64().unwrap())).collect()
}

/// Plan in 3, render the segments in reverse order (the last one twice), join; compare with one
/// convert of the same flags: frames, timestamps, audio packets, focus per frame, pictures.
fn segmented_equals_single(dir: &Path, input: &Path, flags: &[&str]) {
    let single = dir.join("single.mp4");
    let single_track = dir.join("single.json");
    // Lossless encoding, so the pictures themselves can be compared.
    let enc = ["--crf", "0"];
    let mut a = vec!["convert", s(input), s(&single), "--write-focus-track", s(&single_track)];
    a.extend_from_slice(flags);
    a.extend_from_slice(&enc);
    ok(&a);

    let out = dir.join("out.mp4");
    let mut a = vec!["plan", s(input), s(&out), "--segments", "3"];
    a.extend_from_slice(flags);
    a.extend_from_slice(&enc);
    let plan = PathBuf::from(ok(&a));
    assert_eq!(plan, dir.join("out.mp4.parts/plan.json"));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    let segs = doc["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 3);
    // Cut at the input's keyframes (every 24 frames): 0, 24, 48.
    let firsts: Vec<u64> = segs.iter().map(|s| s["first_frame"].as_u64().unwrap()).collect();
    assert_eq!(firsts, vec![0, 24, 48]);
    assert!(segs.iter().all(|s| s["keyframe"] == true));
    for k in ["2", "2", "1", "0"] {
        ok(&["render-segment", s(&plan), k]);
    }
    let joined_track = dir.join("joined.json");
    assert_eq!(PathBuf::from(ok(&["join", s(&plan), "--write-focus-track", s(&joined_track)])), out);

    let (a, b) = (crate::common::video_stream(&single), crate::common::video_stream(&out));
    assert_eq!(a.get("nb_read_frames"), b.get("nb_read_frames"));
    assert_eq!(a.get("duration"), b.get("duration"));
    assert_eq!(frame_times(&single), frame_times(&out));
    assert_eq!(frame_times(&out).len(), 72);
    let (pa, pb) = (audio_packets(&single), audio_packets(&out));
    assert!(!pa.is_empty());
    assert_eq!(pa, pb, "audio packets differ");
    let (fa, fb) = (focus_values(&single_track), focus_values(&joined_track));
    assert_eq!(fa.len(), 72);
    assert_eq!(fa.len(), fb.len());
    for (x, y) in fa.iter().zip(&fb) {
        assert_eq!(x.0, y.0);
        assert!((x.1 - y.1).abs() < 0.01, "frame {}: focus {} vs {}", x.0, x.1, y.1);
        assert!((x.2 - y.2).abs() < 0.01, "frame {}: blur {} vs {}", x.0, x.2, y.2);
    }
    // The depth each segment starts from is the single run's: pictures match (16-bit depth is the
    // only difference), at the cuts as elsewhere.
    let (ia, ib) = (pictures(&single), pictures(&out));
    assert_eq!(ia.len(), ib.len());
    let frame = 192 * 144 * 3;
    for (n, (x, y)) in ia.chunks(frame).zip(ib.chunks(frame)).enumerate() {
        let mse = x.iter().zip(y).map(|(&p, &q)| (p as f64 - q as f64).powi(2)).sum::<f64>() / frame as f64;
        let psnr = 10.0 * (255.0f64 * 255.0 / mse.max(1e-10)).log10();
        assert!(psnr > 45.0, "frame {n}: {psnr:.1} dB against the single run");
    }
}

#[test]
fn autofocus_segments_join_to_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    segmented_equals_single(dir.path(), &input, &["--autofocus"]);
}

#[test]
fn track_segments_join_to_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let track = dir.path().join("track.json");
    std::fs::write(
        &track,
        r#"{"keyframes": [{"t": 0, "focus_at": [0.3, 0.5], "blur": "2%"}, {"t": 1.2, "focus": 0.2, "blur": 10, "ease": "smooth"}, {"t": 2.5, "focus_at": [0.7, 0.4]}]}"#,
    )
    .unwrap();
    segmented_equals_single(dir.path(), &input, &["--focus-track", s(&track)]);
}

/// A plan of two segments of `clip` in DIR/parts: (OUTPUT, the parts folder, the plan).
fn two_segments(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let input = clip(dir);
    let out = dir.join("out.mkv");
    let work = dir.join("parts");
    let plan = PathBuf::from(ok(&["plan", s(&input), s(&out), "--segments", "2", "--work-dir", s(&work), "--focus", "0.5"]));
    (out, work, plan)
}

#[test]
fn join_refuses_a_missing_or_wrong_segment_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (out, work, plan) = two_segments(dir.path());
    ok(&["render-segment", s(&plan), "0"]);
    let o = run(&["join", s(&plan)]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("segment 1") && e.contains("missing"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(!out.exists());
    // A segment of another clip in its place.
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=192x144:rate=24", "-t", "0.5", s(&work.join("seg_0001.mkv"))]);
    let o = run(&["join", s(&plan)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("segment 1"), "{}", stderr(&o));
    assert!(!out.exists());
    assert!(crate::common::listing(dir.path()).iter().all(|n| !n.contains("tmp")), "{:?}", crate::common::listing(dir.path()));
    // Rendered, it joins.
    ok(&["render-segment", s(&plan), "1"]);
    ok(&["join", s(&plan)]);
    assert_eq!(crate::common::video_stream(&out).get("nb_read_frames").map(String::as_str), Some("72"));
}

#[test]
fn plan_refuses_bad_requests_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let out = dir.path().join("o.mp4");
    for (args, needle) in [
        (vec!["--segments", "0"], "--segments"),
        (vec!["--segments", "500"], "cannot make 500 segments"),
        (vec!["--segments", "2", "--write-focus-track", "x.json"], "join"),
    ] {
        let mut a = vec!["plan", s(&input), s(&out)];
        a.extend(args);
        let o = run(&a);
        assert!(!o.status.success());
        let e = stderr(&o);
        assert!(e.contains(needle), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
    let o = run(&["plan", "-", s(&out), "--segments", "2"]);
    assert!(stderr(&o).contains("stdin"), "{}", stderr(&o));
    let plan = PathBuf::from(ok(&["plan", s(&input), s(&out), "--segments", "2", "--focus", "0.5"]));
    let o = run(&["render-segment", s(&plan), "7"]);
    assert!(stderr(&o).contains("no segment 7"), "{}", stderr(&o));
    std::fs::write(dir.path().join("bad.json"), "{\"version\": 9}").unwrap();
    let o = run(&["join", s(&dir.path().join("bad.json"))]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not a deeplens plan"), "{}", stderr(&o));
}

/// A Matroska file cut with `-c copy` and negative timestamps kept holds frames with no timestamp
/// at all: a player shows them, but a segment cannot find them again by time. The plan used to
/// invent timestamps and the join failed after every segment was rendered; now the plan refuses
/// at once and leaves no folder.
#[test]
fn plan_refuses_frames_without_timestamps_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let cut = dir.path().join("cut.mkv");
    ffmpeg(&["-ss", "0.5", "-i", s(&input), "-c", "copy", "-avoid_negative_ts", "disabled", s(&cut)]);
    let out = dir.path().join("o.mkv");
    let o = run(&["plan", s(&cut), s(&out), "--segments", "3", "--focus", "0.5"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("no timestamp of its own"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(!dir.path().join("o.mkv.parts").exists(), "a refused plan left its folder");
    // The whole file still converts.
    ok(&["convert", s(&cut), s(&out), "--focus", "0.5"]);
}

#[test]
fn engines_write_their_own_job_files() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let out = dir.path().join("o.mp4");
    let plan = PathBuf::from(ok(&["plan", s(&input), s(&out), "--segments", "3", "--focus", "0.5"]));
    let parts = plan.parent().unwrap();

    // Slurm: an array of 3 and a join, not submitted.
    ok(&["farm", "slurm", s(&plan), "--partition", "debug", "--time", "01:00:00", "--cpus-per-task", "2"]);
    let seg = std::fs::read_to_string(parts.join("slurm/segments.sbatch")).unwrap();
    assert!(seg.contains("#SBATCH --array=0-2") && seg.contains("render-segment 'plan.json' \"$SLURM_ARRAY_TASK_ID\"\n"), "{seg}");
    assert!(seg.contains("#SBATCH --partition=debug") && seg.contains("#SBATCH --cpus-per-task=2"));
    let o = run(&["farm", "slurm", s(&plan), "--partition", "a b;rm"]);
    assert!(!o.status.success() && stderr(&o).contains("--partition"));
    // The nodes' own flags go to each render-segment; a decoding method this FFmpeg lacks is refused.
    ok(&["farm", "slurm", s(&plan), "--device", "cuda", "--precision", "fp16", "--hwaccel", "cuda", "--gpus", "1"]);
    let seg = std::fs::read_to_string(parts.join("slurm/segments.sbatch")).unwrap();
    assert!(seg.contains("render-segment 'plan.json' \"$SLURM_ARRAY_TASK_ID\" '--device' 'cuda' '--precision' 'fp16' '--hwaccel' 'cuda'\n"), "{seg}");
    assert!(seg.contains("#SBATCH --gpus-per-task=1\n"), "{seg}");
    assert!(!std::fs::read_to_string(parts.join("slurm/join.sbatch")).unwrap().contains("gpus"), "the join needs no GPU");
    let o = run(&["farm", "slurm", s(&plan), "--gpus", "0"]);
    assert!(!o.status.success() && stderr(&o).contains("--gpus must be between 1 and 64"), "{}", stderr(&o));
    let o = run(&["farm", "slurm", s(&plan), "--hwaccel", "warp-drive"]);
    assert!(!o.status.success() && stderr(&o).contains("--hwaccel warp-drive: not a hardware decoding method"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(parts.join("slurm/segments.sbatch")).unwrap(), seg, "a refused call leaves the job files as they were");

    // Kubernetes: an Indexed Job with the completion index, and a join Job.
    let o = bin_in(dir.path(), &["farm", "k8s", "o.mp4.parts/plan.json", "--image", "registry.example/deeplens:1", "--volume", "shared", "--precision", "fp16", "--gpus", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let job: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(parts.join("k8s/segments-job.json")).unwrap()).unwrap();
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    assert_eq!(job["spec"]["completions"], 3);
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["args"], serde_json::json!(["render-segment", "/work/o.mp4.parts/plan.json", "$(JOB_COMPLETION_INDEX)", "--precision", "fp16"]));
    assert_eq!(c["env"][0]["name"], "JOB_COMPLETION_INDEX");
    assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], 2);
    assert_eq!(job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"], "shared");
    let join: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(parts.join("k8s/join-job.json")).unwrap()).unwrap();
    assert_eq!(join["spec"]["template"]["spec"]["containers"][0]["args"][0], "join");
    assert!(join["spec"]["template"]["spec"]["containers"][0].get("resources").is_none(), "the join needs no GPU");
    // No cluster here: the manifests are checked against Kubernetes' own OpenAPI schemas (PyPI's
    // kubernetes-validate, strict: no unknown fields) when it is installed.
    match Command::new("kubernetes-validate").arg("--strict").arg(parts.join("k8s/segments-job.json")).arg(parts.join("k8s/join-job.json")).output() {
        Ok(o) => assert!(o.status.success(), "kubernetes-validate: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
        Err(_) => eprintln!("kubernetes-validate not installed: manifests checked by fields only"),
    }

    // Open Job Description: checked by the reference implementation's own validator when present.
    let t = PathBuf::from(ok(&["farm", "openjd", s(&plan), "--device", "cpu", "--gpus", "1"]));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&t).unwrap()).unwrap();
    assert_eq!(doc["specificationVersion"], "jobtemplate-2023-09");
    assert_eq!(doc["steps"][0]["script"]["actions"]["onRun"]["args"], serde_json::json!(["render-segment", "{{Param.PlanFile}}", "{{Task.Param.Segment}}", "--device", "cpu"]));
    assert_eq!(doc["steps"][0]["hostRequirements"]["amounts"][0], serde_json::json!({"name": "amount.worker.gpu", "min": 1}));
    assert_eq!(doc["steps"][0]["parameterSpace"]["taskParameterDefinitions"][0]["range"], "0-2");
    assert_eq!(doc["steps"][1]["dependencies"][0]["dependsOn"], "Segments");
    match Command::new("openjd").arg("check").arg(&t).output() {
        Ok(o) => assert!(o.status.success(), "openjd check: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
        Err(_) => eprintln!("openjd CLI not installed (pip install openjd-cli): template checked by fields only"),
    }
}

fn bin_in(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut c = crate::common::bin();
    c.current_dir(dir);
    c.args(args).output().unwrap()
}

#[test]
fn a_tampered_plan_is_refused_before_any_work() {
    // Numbers in a plan size buffers, divide and time the cut: out of range, they are refused with
    // one line naming the plan, by render-segment and join alike, and nothing is written.
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let out = dir.path().join("out.mkv");
    let work = dir.path().join("parts");
    let plan = PathBuf::from(ok(&["plan", s(&input), s(&out), "--segments", "2", "--work-dir", s(&work), "--focus", "0.5"]));
    let good: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    let huge = u64::MAX / 4;
    let cases: Vec<(Box<dyn Fn(&mut serde_json::Value)>, &str)> = vec![
        (Box::new(move |p| {
            p["video"]["frames"] = huge.into();
            let first = p["segments"][1]["first_frame"].as_u64().unwrap();
            p["segments"][1]["frames"] = (huge - first).into();
        }), "frames"),
        (Box::new(|p| p["video"]["time_base"] = serde_json::json!([1, 0])), "time base"),
        (Box::new(|p| p["render"]["renderer"] = "\u{1b}[2Jx".into()), "unknown renderer '\\u{1b}[2Jx'"),
        (Box::new(|p| p["cut"]["start"] = (-3.0).into()), "cut start"),
    ];
    for (edit, needle) in cases {
        let mut p = good.clone();
        edit(&mut p);
        std::fs::write(&plan, serde_json::to_string(&p).unwrap()).unwrap();
        for args in [vec!["render-segment", s(&plan), "0"], vec!["join", s(&plan), "--write-focus-track", s(&dir.path().join("f.json"))]] {
            let o = run(&args);
            assert!(!o.status.success(), "{args:?}");
            let e = stderr(&o);
            assert!(e.contains(s(&plan)) && e.contains(needle), "{args:?}: {e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
        assert!(!out.exists() && !dir.path().join("f.json").exists());
        assert!(!work.join("seg_0000.mkv").exists());
    }
}

/// `render-segment --hwaccel NAME`: a farm node decodes its segment on its own device (the plan
/// does not hold it). An unknown method is one line and no segment file; where the node has no
/// such device, one line too; where it has one (or decoding on the CPU), the segment renders.
#[test]
fn render_segment_takes_the_nodes_hwaccel() {
    let dir = tempfile::tempdir().unwrap();
    let (_, work, plan) = two_segments(dir.path());
    let listing = || crate::common::listing(&work);
    let no_segment = || listing().iter().all(|n| !n.starts_with("seg_"));
    let o = run(&["render-segment", s(&plan), "0", "--hwaccel", "warp-drive"]);
    let err = stderr(&o);
    assert!(!o.status.success() && err.contains("--hwaccel warp-drive: not a hardware decoding method"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(no_segment(), "{:?}", listing());
    let o = run(&["render-segment", s(&plan), "0", "--hwaccel", "cuda"]);
    if !o.status.success() {
        let err = stderr(&o);
        assert!(err.contains("--hwaccel cuda: no usable cuda device on this machine"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(no_segment(), "{:?}", listing());
        ok(&["render-segment", s(&plan), "0"]);
    }
    assert!(listing().contains(&"seg_0000.mkv".to_string()), "{:?}", listing());
}
