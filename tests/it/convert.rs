//! `deeplens convert` on real media: lavfi test clips and the shipped sample.

use crate::common::*;
use std::path::Path;

/// A clip with AAC audio in `dir`.
fn lavfi_clip(dir: &Path, name: &str, size: &str, seconds: &str, extra: &[&str]) -> std::path::PathBuf {
    let mut args = vec!["-c:a", "aac"];
    args.extend_from_slice(extra);
    crate::common::lavfi_clip(&dir.join(name), size, seconds, true, &args)
}

/// A grey depth video: the left half far (0), the right half near (1).
fn depth_video(dir: &Path, size: &str, seconds: &str) -> std::path::PathBuf {
    let p = dir.join("depth.mkv");
    let (w, h) = size.split_once('x').unwrap();
    ffmpeg(&[
        "-f", "lavfi", "-i", &format!("color=black:s={w}x{h}:r=25"),
        "-vf", "format=gray,geq=lum='if(gt(X,W/2),255,0)'", "-t", seconds, "-c:v", "ffv1", p.to_str().unwrap(),
    ]);
    p
}

fn assert_same_video_shape(input: &Path, output: &Path) {
    let a = video_stream(input);
    let b = video_stream(output);
    assert_eq!(a["nb_read_frames"], b["nb_read_frames"], "frame count");
    assert_eq!((&a["width"], &a["height"]), (&b["width"], &b["height"]), "size");
    let (da, db): (f64, f64) = (a["duration"].parse().unwrap(), b["duration"].parse().unwrap());
    assert!((da - db).abs() <= 1.0 / 25.0 + 1e-3, "duration {da} vs {db}");
}

#[test]
fn lavfi_clip_with_the_depth_model_keeps_frames_size_duration_and_audio() {
    let dir = tempfile::tempdir().unwrap();
    let clip = lavfi_clip(dir.path(), "clip.mp4", "320x240", "2", &["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    let out = dir.path().join("out.mp4");
    let o = run(&["convert", clip.to_str().unwrap(), out.to_str().unwrap(), "--focus-at", "0.5,0.5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_same_video_shape(&clip, &out);
    let (a, b) = (audio_packets(&clip), audio_packets(&out));
    assert!(!a.is_empty());
    assert_eq!(a, b, "audio packets must be copied untouched");
    assert_eq!(listing(dir.path()), vec!["clip.mp4", "out.mp4"], "no temporary file left");
}

#[test]
fn shipped_sample_converts_with_identical_audio() {
    let dir = tempfile::tempdir().unwrap();
    let sample = repo("samples/bigbuckbunny.mp4");
    let out = dir.path().join("bunny.mp4");
    let o = run(&["convert", sample.to_str().unwrap(), out.to_str().unwrap(), "--working-max-width", "320", "--preset", "ultrafast"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_same_video_shape(&sample, &out);
    assert_eq!(audio_packets(&sample).lines().count(), audio_packets(&out).lines().count());
    // Packet payloads are identical (the MD5 column), whatever the container's time base.
    let md5s = |s: String| s.lines().map(|l| l.rsplit(',').next().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(md5s(audio_packets(&sample)), md5s(audio_packets(&out)));
}

#[test]
fn given_depth_video_blurs_far_and_keeps_near() {
    let dir = tempfile::tempdir().unwrap();
    let clip = lavfi_clip(dir.path(), "clip.mp4", "320x240", "1", &["-c:v", "libx264", "-pix_fmt", "yuv444p", "-crf", "0"]);
    let depth = depth_video(dir.path(), "320x240", "1");
    let out = dir.path().join("out.mkv");
    let o = run(&["convert", clip.to_str().unwrap(), out.to_str().unwrap(), "--depth", depth.to_str().unwrap(), "--focus", "1", "--max-blur", "12", "--crf", "0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Compare high-frequency energy of input and output, left (far, blurred) and right (near, sharp).
    let frame = |p: &Path, name: &str| {
        let png = dir.path().join(name);
        ffmpeg(&["-i", p.to_str().unwrap(), "-vf", "select=eq(n\\,10)", "-frames:v", "1", png.to_str().unwrap()]);
        image::open(&png).unwrap().to_luma8()
    };
    let (a, b) = (frame(&clip, "a.png"), frame(&out, "b.png"));
    let far = energy(&b, 0, 100) / energy(&a, 0, 100);
    let near = energy(&b, 200, 320) / energy(&a, 200, 320);
    assert!(far < 0.2, "far side keeps {far:.2} of its detail");
    assert!(near > 0.8, "near side keeps only {near:.2} of its detail");
}

#[test]
fn start_and_duration_convert_a_part() {
    let dir = tempfile::tempdir().unwrap();
    let clip = lavfi_clip(dir.path(), "clip.mp4", "160x120", "3", &["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    let depth = depth_video(dir.path(), "160x120", "3");
    let out = dir.path().join("part.mp4");
    let o = run(&["convert", clip.to_str().unwrap(), out.to_str().unwrap(), "--depth", depth.to_str().unwrap(), "--start", "1", "--duration", "00:00:01.000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = video_stream(&out);
    assert_eq!(v["nb_read_frames"], "25");
    let d: f64 = v["duration"].parse().unwrap();
    assert!((d - 1.0).abs() <= 0.041, "duration {d}");
}

#[test]
fn odd_size_ten_bit_input_is_handled() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("odd.mkv");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=162x98:rate=25", "-vf", "format=rgb24,crop=161:97:0:0,format=yuv444p10le", "-t", "0.4", "-c:v", "ffv1", clip.to_str().unwrap()]);
    let out = dir.path().join("out.mkv");
    let o = run(&["convert", clip.to_str().unwrap(), out.to_str().unwrap(), "--focus", "0.5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = video_stream(&out);
    assert_eq!((v["width"].as_str(), v["height"].as_str()), ("161", "97"));
    assert_eq!(v["nb_read_frames"], "10");
    assert!(v["pix_fmt"].contains("10"), "10-bit kept: {}", v["pix_fmt"]);
}

#[test]
fn rotation_is_carried_over() {
    let dir = tempfile::tempdir().unwrap();
    let plain = lavfi_clip(dir.path(), "plain.mp4", "160x96", "0.4", &["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    let rotated = dir.path().join("rot.mp4");
    ffmpeg(&["-i", plain.to_str().unwrap(), "-c", "copy", "-metadata:s:v:0", "rotate=90", rotated.to_str().unwrap()]);
    let out = dir.path().join("out.mp4");
    let o = run(&["convert", rotated.to_str().unwrap(), out.to_str().unwrap(), "--focus", "0.5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let side = |p: &Path| {
        let o = std::process::Command::new("ffprobe").args(["-v", "error", "-select_streams", "v", "-show_entries", "stream_side_data=rotation", "-of", "csv=p=0"]).arg(p).output().unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert!(!side(&rotated).is_empty(), "test input has a rotation");
    assert_eq!(side(&rotated), side(&out));
}

#[test]
fn stdout_output_streams_a_container() {
    let dir = tempfile::tempdir().unwrap();
    let clip = lavfi_clip(dir.path(), "clip.mp4", "160x120", "0.4", &["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    let o = bin().args(["convert", clip.to_str().unwrap(), "-", "--output-format", "nut", "--focus", "0.5"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let piped = dir.path().join("piped.nut");
    std::fs::write(&piped, &o.stdout).unwrap();
    assert_eq!(video_stream(&piped)["nb_read_frames"], "10");
}

#[test]
fn audio_the_container_cannot_hold_is_re_encoded_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let clip = lavfi_clip(dir.path(), "clip.mp4", "160x120", "1", &["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    let out = dir.path().join("out.webm");
    let o = run(&["convert", clip.to_str().unwrap(), out.to_str().unwrap(), "--focus", "0.5", "--encoder-option", "deadline=realtime", "--encoder-option", "cpu-used=8"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("re-encoding"), "a warning says the audio is re-encoded: {}", stderr(&o));
    let streams = probe(&out, "codec_type,codec_name");
    let audio = streams.iter().find(|s| s["codec_type"] == "audio").expect("audio kept");
    assert!(matches!(audio["codec_name"].as_str(), "opus" | "vorbis"), "{}", audio["codec_name"]);
    assert_eq!(video_stream(&out)["nb_read_frames"], "25");
}

#[test]
fn variable_frame_rate_timestamps_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let vfr = dir.path().join("vfr.mp4");
    // 20 frames with a gap of 12 frames after the 10th.
    ffmpeg(&[
        "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-vf", "select='not(between(n,10,21))'", "-frames:v", "20",
        "-fps_mode", "passthrough", "-c:v", "libx264", "-pix_fmt", "yuv420p", vfr.to_str().unwrap(),
    ]);
    let out = dir.path().join("out.mp4");
    let o = run(&["convert", vfr.to_str().unwrap(), out.to_str().unwrap(), "--focus", "0.5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let times = |p: &std::path::Path| {
        let o = std::process::Command::new("ffprobe").args(["-v", "error", "-select_streams", "v", "-show_entries", "frame=pts_time", "-of", "csv=p=0"]).arg(p).output().unwrap();
        String::from_utf8_lossy(&o.stdout).lines().filter_map(|l| l.split(',').next()?.trim().parse::<f64>().ok()).collect::<Vec<_>>()
    };
    let (a, b) = (times(&vfr), times(&out));
    assert_eq!(a.len(), 20);
    assert!((a[10] - a[9] - 0.52).abs() < 1e-3, "the test input has its gap: {a:?}");
    assert_eq!(a, b);
}

#[test]
fn colour_tags_are_carried_over() {
    let dir = tempfile::tempdir().unwrap();
    let clip = lavfi_clip(
        dir.path(), "tagged.mp4", "160x96", "0.4",
        &["-c:v", "libx264", "-pix_fmt", "yuv420p", "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv"],
    );
    let out = dir.path().join("out.mp4");
    let o = run(&["convert", clip.to_str().unwrap(), out.to_str().unwrap(), "--focus", "0.5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let tags = |p: &Path| {
        probe(p, "codec_type,color_primaries,color_transfer,color_space,color_range")
            .into_iter()
            .find(|s| s["codec_type"] == "video")
            .unwrap()
    };
    let (a, b) = (tags(&clip), tags(&out));
    assert_eq!(a["color_primaries"], "bt709", "test input is tagged");
    for k in ["color_primaries", "color_transfer", "color_space", "color_range"] {
        assert_eq!(a[k], b[k], "{k}");
    }
}

#[test]
fn the_encoder_gets_the_settings_a_plain_ffmpeg_transcode_gets() {
    // The speed comparison (`bench --vs-transcode`) and the users' expectations rest on
    // libx264 running as `ffmpeg -c:v libx264 -crf 18 -preset medium` runs it: x264 writes its
    // settings into the stream, and apart from nothing they must read the same (this once found
    // open GOPs where the CLI makes closed ones: the encoder's default flags were replaced).
    let dir = tempfile::tempdir().unwrap();
    let clip = lavfi_clip(dir.path(), "clip.mp4", "320x240", "1", &["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    let ours = dir.path().join("ours.mp4");
    let plain = dir.path().join("plain.mp4");
    let o = run(&["convert", clip.to_str().unwrap(), ours.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    ffmpeg(&["-i", clip.to_str().unwrap(), "-c:v", "libx264", "-crf", "18", "-preset", "medium", "-c:a", "copy", plain.to_str().unwrap()]);
    let settings = |p: &Path| {
        let bytes = std::fs::read(p).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let at = text.find("options: ").expect("x264's settings in the stream");
        text[at..].split('\0').next().unwrap().to_string()
    };
    assert_eq!(settings(&ours), settings(&plain));
}
